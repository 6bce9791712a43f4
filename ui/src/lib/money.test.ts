import { describe, expect, it } from "vitest";
import { formatShare, formatUsd, shareOf, toNanos } from "./money";

describe("money from exact decimals", () => {
  it("parses to integer nano-dollars without floats", () => {
    expect(toNanos("0.000112")).toBe(112_000n);
    expect(toNanos("12345.678901234")).toBe(12_345_678_901_234n);
    expect(toNanos("-1.5")).toBe(-1_500_000_000n);
    // 0.1 + 0.2 in floats is not 0.3; in nanos it is.
    expect(toNanos("0.1") + toNanos("0.2")).toBe(toNanos("0.3"));
    expect(() => toNanos("1e3")).toThrow("not an amount of money");
  });

  it("formats rounded half away from zero, with separators", () => {
    expect(formatUsd("1234567.005")).toBe("$1,234,567.01");
    expect(formatUsd("0.004999999")).toBe("$0.004999999");
    expect(formatUsd("0.015")).toBe("$0.02");
    expect(formatUsd("0.005")).toBe("$0.005");
    expect(formatUsd("2.5", 0)).toBe("$3");
    expect(formatUsd("-3.333")).toBe("-$3.33");
    expect(formatUsd("0")).toBe("$0.00");
    expect(formatUsd(null)).toBe("—");
  });

  it("never shows a small non-zero cost as zero", () => {
    expect(formatUsd("0.000112")).toBe("$0.000112");
    expect(formatUsd("0.000112", 6)).toBe("$0.000112");
    expect(formatUsd("0.02", 6)).toBe("$0.02");
    expect(formatUsd("0", 6)).toBe("$0.00");
  });

  it("computes shares exactly", () => {
    expect(shareOf("1", "3")).toBe(3333);
    expect(formatShare(shareOf("1", "3"))).toBe("33.3%");
    expect(shareOf("5", "0")).toBeNull();
    expect(formatShare(null)).toBe("—");
  });
});
