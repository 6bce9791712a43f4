// Money arrives from Rust as exact decimal strings of US dollars ("0.000112", "1234.5"). It is
// shown without ever becoming a float: the digits are scaled to integer nano-dollars in BigInt.

const NANOS_PER_DOLLAR = 1_000_000_000n;

/** Exact nano-dollars of a decimal string; throws on anything else. */
export function toNanos(decimal: string): bigint {
  const match = /^(-?)(\d+)(?:\.(\d{1,9}))?$/.exec(decimal.trim());
  if (!match) throw new Error(`not an amount of money: ${decimal}`);
  const [, sign, whole, fraction = ""] = match;
  const nanos = BigInt(whole) * NANOS_PER_DOLLAR + BigInt(fraction.padEnd(9, "0"));
  return sign === "-" ? -nanos : nanos;
}

function groupThousands(digits: string): string {
  return digits.replace(/\B(?=(\d{3})+(?!\d))/g, ",");
}

/**
 * "$1,234.57": rounded half away from zero to `places` decimals. Amounts too small to show at that
 * precision but not zero show with as many places as they need (up to 9), so a playground call of
 * $0.000112 never reads "$0.00".
 */
export function formatUsd(decimal: string | null | undefined, places = 2): string {
  if (decimal == null) return "—";
  let nanos = toNanos(decimal);
  const negative = nanos < 0n;
  if (negative) nanos = -nanos;
  const unit = 10n ** BigInt(9 - places);
  if (nanos !== 0n && nanos < unit) {
    const fraction = nanos.toString().padStart(9, "0").replace(/0+$/, "");
    return `${negative ? "-" : ""}$0.${fraction}`;
  }
  const rounded = (nanos + unit / 2n) / unit;
  const scale = 10n ** BigInt(places);
  const whole = groupThousands((rounded / scale).toString());
  let fraction = places > 0 ? "." + (rounded % scale).toString().padStart(places, "0") : "";
  // Beyond cents, trailing zeros say nothing: "$0.020000" reads "$0.02".
  if (places > 2) fraction = fraction.replace(/0+$/, "").padEnd(3, "0");
  return `${negative ? "-" : ""}$${whole}${fraction}`;
}

/** 1234 basis points → "12.3%". */
export function formatShare(basisPoints: number | null | undefined): string {
  if (basisPoints == null) return "—";
  const tenths = Math.round(basisPoints / 10);
  return `${Math.floor(tenths / 10)}.${tenths % 10}%`;
}

/** `part` as basis points of `total` (exact; null when the total is zero). */
export function shareOf(part: string, total: string): number | null {
  const whole = toNanos(total);
  if (whole === 0n) return null;
  return Number((toNanos(part) * 10_000n) / whole);
}

/** Thousands separators for counts. */
export function formatCount(value: number): string {
  return groupThousands(String(value));
}

/** A local date and time for millisecond timestamps, or "never". */
export function formatTime(ms: number | null | undefined): string {
  if (ms == null) return "never";
  const date = new Date(ms);
  const pad = (n: number) => String(n).padStart(2, "0");
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ${pad(date.getHours())}:${pad(date.getMinutes())}`;
}
