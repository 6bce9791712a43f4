//! Money as integer nano-dollars (1 USD = 10^9 nanos). Never a float: prices are parsed from their
//! decimal text, sums are integer additions, and display formatting works on the digits.
//!
//! ```
//! use tollgate_core::Nanos;
//!
//! // 2,448 input tokens at $0.008 per 1,000.
//! let price = Nanos::parse_exact("0.008").unwrap();
//! let cost = Nanos::per_thousand(price, 2_448);
//! assert_eq!(cost.to_decimal_string(), "0.019584");
//! assert_eq!((cost + cost).format_usd(), "$0.04");
//! assert!(Nanos::parse_exact("0.0000000001").is_err(), "finer than a nano-dollar");
//! ```

use std::fmt;
use std::iter::Sum;
use std::ops::{Add, AddAssign, Neg, Sub, SubAssign};
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Nano-dollars per dollar.
pub const NANOS_PER_USD: i64 = 1_000_000_000;
const FRACTION_DIGITS: usize = 9;

/// An amount of US dollars in integer nano-dollars.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Nanos(pub i64);

/// Why a decimal amount could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error(
        "'{0}' is not a decimal amount (expected digits with an optional '.' part, e.g. 0.0025)"
    )]
    NotADecimal(String),
    #[error("'{0}' has more than 9 decimal places, finer than a nano-dollar")]
    TooPrecise(String),
    #[error("'{0}' is too large for the ledger")]
    Overflow(String),
    #[error("'{0}' is negative; prices and costs cannot be")]
    Negative(String),
}

/// How to treat digits beyond the ninth decimal place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ExtraDigits {
    Reject,
    RoundHalfEven,
}

impl Nanos {
    pub const ZERO: Nanos = Nanos(0);

    pub const fn from_usd(dollars: i64) -> Nanos {
        Nanos(dollars * NANOS_PER_USD)
    }

    /// Parses a decimal string exactly ("0.00125", "12", "-3.5"); more than nine decimal places is an
    /// error rather than a silent rounding, because a price that cannot be represented is a typo.
    pub fn parse_exact(text: &str) -> Result<Nanos, MoneyError> {
        parse_decimal(text, ExtraDigits::Reject)
    }

    /// Parses a decimal string, rounding half-to-even at the ninth place. For amounts written by other
    /// tools from floats (`0.0026980000000000003`), never for prices we store as given. Accepts an
    /// exponent (`2e-05`) for the same reason.
    pub fn parse_rounded(text: &str) -> Result<Nanos, MoneyError> {
        parse_decimal(text, ExtraDigits::RoundHalfEven)
    }

    /// Parses an exact, non-negative price.
    pub fn parse_price(text: &str) -> Result<Nanos, MoneyError> {
        let value = Nanos::parse_exact(text)?;
        if value.0 < 0 {
            return Err(MoneyError::Negative(text.to_owned()));
        }
        Ok(value)
    }

    pub fn checked_add(self, other: Nanos) -> Option<Nanos> {
        self.0.checked_add(other.0).map(Nanos)
    }

    /// `quantity` units priced at `per_thousand` for every 1,000 units, rounded half-to-even to a
    /// nano-dollar. Computed in 128 bits so no realistic count overflows before the rounding.
    pub fn per_thousand(per_thousand: Nanos, quantity: u64) -> Nanos {
        Nanos::scaled(per_thousand, i128::from(quantity), 1000)
    }

    /// `price * numerator / denominator`, rounded half-to-even; saturates at the i64 range.
    pub fn scaled(price: Nanos, numerator: i128, denominator: i128) -> Nanos {
        debug_assert!(denominator > 0);
        let product = i128::from(price.0) * numerator;
        let quotient = product.div_euclid(denominator);
        let remainder = product.rem_euclid(denominator);
        let twice = remainder * 2;
        let rounded = if twice > denominator || (twice == denominator && quotient % 2 != 0) {
            quotient + 1
        } else {
            quotient
        };
        Nanos(i64::try_from(rounded).unwrap_or(if rounded < 0 { i64::MIN } else { i64::MAX }))
    }

    /// The full-precision decimal text, trailing zeros trimmed but at least two decimals:
    /// `0.00002`, `12.50`, `-3.10`. Round-trips through [`Nanos::parse_exact`].
    pub fn to_decimal_string(self) -> String {
        self.decimal(&mut [0; DECIMAL_BYTES]).to_owned()
    }

    /// The text of [`Nanos::to_decimal_string`] written into `buffer`, from the back. `Display`
    /// and `Serialize` use it without allocating: every priced call serialises a cost.
    fn decimal(self, buffer: &mut [u8; DECIMAL_BYTES]) -> &str {
        let (sign, mut whole, mut fraction) = self.parts();
        let mut start = buffer.len();
        // Nine decimals, trailing zeros dropped down to two.
        let mut places = 9;
        while places > 2 && fraction % 10 == 0 {
            fraction /= 10;
            places -= 1;
        }
        for _ in 0..places {
            start -= 1;
            buffer[start] = b'0' + (fraction % 10) as u8;
            fraction /= 10;
        }
        start -= 1;
        buffer[start] = b'.';
        loop {
            start -= 1;
            buffer[start] = b'0' + (whole % 10) as u8;
            whole /= 10;
            if whole == 0 {
                break;
            }
        }
        if !sign.is_empty() {
            start -= 1;
            buffer[start] = b'-';
        }
        // Only ASCII digits, '.' and '-' were written.
        std::str::from_utf8(&buffer[start..]).unwrap_or_default()
    }

    /// Dollars for people: `$1,234.57` (half-to-even at the cent); amounts under a cent keep their
    /// significant digits (`$0.000021`) so a single cheap call does not show as `$0.00`.
    pub fn format_usd(self) -> String {
        let (sign, whole, fraction) = self.parts();
        if whole == 0 && fraction != 0 && fraction < 10_000_000 {
            let digits = self.to_decimal_string();
            return format!("{sign}${}", digits.trim_start_matches('-'));
        }
        let cents = Nanos::scaled(Nanos(self.0.abs()), 1, 10_000_000).0;
        let (whole, cents) = (cents / 100, cents % 100);
        format!("{sign}${}.{cents:02}", group_thousands(whole))
    }

    /// Dollars with a fixed number of decimals (0-9), half-to-even: `$1,234.5678` for places = 4.
    /// For columns of amounts, where one precision for every row reads best.
    pub fn format_usd_places(self, places: u32) -> String {
        let places = places.min(9);
        let unit = 10_i128.pow(9 - places);
        let scaled = Nanos::scaled(Nanos(self.0.abs()), 1, unit).0;
        let divisor = 10_i64.pow(places);
        let sign = if self.0 < 0 && scaled != 0 { "-" } else { "" };
        let whole = group_thousands(scaled / divisor);
        if places == 0 {
            return format!("{sign}${whole}");
        }
        format!(
            "{sign}${whole}.{:0width$}",
            scaled % divisor,
            width = places as usize
        )
    }

    fn parts(self) -> (&'static str, u64, u64) {
        let sign = if self.0 < 0 { "-" } else { "" };
        let magnitude = self.0.unsigned_abs();
        let per = NANOS_PER_USD as u64;
        (sign, magnitude / per, magnitude % per)
    }
}

/// The longest decimal text: a sign, ten whole digits, the point and nine decimals.
const DECIMAL_BYTES: usize = 21;

fn group_thousands(value: i64) -> String {
    let digits = value.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

fn parse_decimal(text: &str, extra: ExtraDigits) -> Result<Nanos, MoneyError> {
    let not_decimal = || MoneyError::NotADecimal(text.to_owned());
    let trimmed = text.trim();
    let (mantissa, exponent) = match trimmed.find(['e', 'E']) {
        Some(at) if extra == ExtraDigits::RoundHalfEven => {
            let exponent: i32 = trimmed[at + 1..].parse().map_err(|_| not_decimal())?;
            (&trimmed[..at], exponent)
        }
        _ => (trimmed, 0),
    };
    let (negative, unsigned) = match mantissa.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, mantissa.strip_prefix('+').unwrap_or(mantissa)),
    };
    let (whole, fraction) = unsigned.split_once('.').unwrap_or((unsigned, ""));
    let all_digits = |part: &str| part.bytes().all(|byte| byte.is_ascii_digit());
    if (whole.is_empty() && fraction.is_empty()) || !all_digits(whole) || !all_digits(fraction) {
        return Err(not_decimal());
    }
    // Shift the decimal point by the exponent over the digit string, then split at nine places.
    let digits: String = format!("{whole}{fraction}");
    let point = whole.len() as i64 + i64::from(exponent);
    if point > 40 {
        return Err(MoneyError::Overflow(text.to_owned()));
    }
    let nanos_end = point + FRACTION_DIGITS as i64;
    let digit_at = |index: i64| -> u32 {
        if index < 0 || index >= digits.len() as i64 {
            0
        } else {
            u32::from(digits.as_bytes()[index as usize] - b'0')
        }
    };
    let mut value: i128 = 0;
    for index in 0..nanos_end.max(0) {
        value = value * 10 + i128::from(digit_at(index));
        if value > i128::from(i64::MAX) {
            return Err(MoneyError::Overflow(text.to_owned()));
        }
    }
    let rest: Vec<u32> = (nanos_end.max(0)..digits.len() as i64)
        .map(digit_at)
        .collect();
    if rest.iter().any(|&digit| digit != 0) {
        if extra == ExtraDigits::Reject {
            return Err(MoneyError::TooPrecise(text.to_owned()));
        }
        let first = rest[0];
        let beyond_half = rest[1..].iter().any(|&digit| digit != 0);
        if first > 5 || (first == 5 && (beyond_half || value % 2 == 1)) {
            value += 1;
        }
    }
    let value = i64::try_from(value).map_err(|_| MoneyError::Overflow(text.to_owned()))?;
    Ok(Nanos(if negative { -value } else { value }))
}

impl fmt::Display for Nanos {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.decimal(&mut [0; DECIMAL_BYTES]))
    }
}

impl FromStr for Nanos {
    type Err = MoneyError;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Nanos::parse_exact(text)
    }
}

impl Add for Nanos {
    type Output = Nanos;
    fn add(self, other: Nanos) -> Nanos {
        Nanos(self.0.saturating_add(other.0))
    }
}

impl AddAssign for Nanos {
    fn add_assign(&mut self, other: Nanos) {
        *self = *self + other;
    }
}

impl Sub for Nanos {
    type Output = Nanos;
    fn sub(self, other: Nanos) -> Nanos {
        Nanos(self.0.saturating_sub(other.0))
    }
}

impl SubAssign for Nanos {
    fn sub_assign(&mut self, other: Nanos) {
        *self = *self - other;
    }
}

impl Neg for Nanos {
    type Output = Nanos;
    fn neg(self) -> Nanos {
        Nanos(self.0.saturating_neg())
    }
}

impl Sum for Nanos {
    fn sum<I: Iterator<Item = Nanos>>(iter: I) -> Nanos {
        iter.fold(Nanos::ZERO, Add::add)
    }
}

/// Serialised as the exact decimal string (`"0.000125"`), so JSON consumers never see a float.
impl Serialize for Nanos {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.decimal(&mut [0; DECIMAL_BYTES]))
    }
}

impl<'de> Deserialize<'de> for Nanos {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Nanos::parse_exact(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_exact_decimals() {
        assert_eq!(Nanos::parse_exact("0.00002"), Ok(Nanos(20_000)));
        assert_eq!(Nanos::parse_exact("12"), Ok(Nanos(12_000_000_000)));
        assert_eq!(Nanos::parse_exact("-3.5"), Ok(Nanos(-3_500_000_000)));
        assert_eq!(Nanos::parse_exact(".5"), Ok(Nanos(500_000_000)));
        assert_eq!(Nanos::parse_exact("0.000000001"), Ok(Nanos(1)));
        assert_eq!(Nanos::parse_exact("0.1000000000"), Ok(Nanos(100_000_000)));
    }

    #[test]
    fn rejects_what_is_not_exact() {
        assert!(matches!(
            Nanos::parse_exact("0.0000000001"),
            Err(MoneyError::TooPrecise(_))
        ));
        assert!(matches!(
            Nanos::parse_exact("1e-3"),
            Err(MoneyError::NotADecimal(_))
        ));
        assert!(matches!(
            Nanos::parse_exact("abc"),
            Err(MoneyError::NotADecimal(_))
        ));
        assert!(matches!(
            Nanos::parse_exact("."),
            Err(MoneyError::NotADecimal(_))
        ));
        assert!(matches!(
            Nanos::parse_exact(""),
            Err(MoneyError::NotADecimal(_))
        ));
        assert!(matches!(
            Nanos::parse_exact("1.2.3"),
            Err(MoneyError::NotADecimal(_))
        ));
        assert!(matches!(
            Nanos::parse_exact("99999999999"),
            Err(MoneyError::Overflow(_))
        ));
        assert!(matches!(
            Nanos::parse_price("-1"),
            Err(MoneyError::Negative(_))
        ));
    }

    #[test]
    fn rounds_float_noise_half_to_even() {
        assert_eq!(
            Nanos::parse_rounded("0.0026980000000000003"),
            Ok(Nanos(2_698_000))
        );
        assert_eq!(Nanos::parse_rounded("2e-05"), Ok(Nanos(20_000)));
        assert_eq!(Nanos::parse_rounded("1.5E-9"), Ok(Nanos(2)));
        assert_eq!(Nanos::parse_rounded("0.0000000025"), Ok(Nanos(2)));
        assert_eq!(Nanos::parse_rounded("0.00000000250001"), Ok(Nanos(3)));
        assert_eq!(Nanos::parse_rounded("-0.0000000035"), Ok(Nanos(-4)));
    }

    #[test]
    fn per_thousand_rounds_half_to_even() {
        // 0.00000002 USD (20 nanos) per 1k tokens: 1 token costs 0.02 nanos -> 0, 25 tokens
        // 0.5 -> 0 (to even), 75 tokens 1.5 -> 2.
        let price = Nanos::parse_exact("0.00000002").unwrap();
        assert_eq!(Nanos::per_thousand(price, 1), Nanos(0));
        assert_eq!(Nanos::per_thousand(price, 25), Nanos(0));
        assert_eq!(Nanos::per_thousand(price, 75), Nanos(2));
        assert_eq!(Nanos::per_thousand(price, 1000), price);
        assert_eq!(
            Nanos::per_thousand(Nanos::parse_exact("0.00002").unwrap(), 1),
            Nanos(20)
        );
        let claude = Nanos::parse_exact("0.008").unwrap();
        assert_eq!(Nanos::per_thousand(claude, 2448), Nanos(19_584_000));
    }

    #[test]
    fn the_decimal_text_is_the_exact_amount_with_two_to_nine_decimals() {
        // Against the plain formatting-machinery version of the same rule.
        fn reference(amount: Nanos) -> String {
            let (sign, whole, fraction) = amount.parts();
            let mut fraction = format!("{fraction:09}");
            while fraction.len() > 2 && fraction.ends_with('0') {
                fraction.pop();
            }
            format!("{sign}{whole}.{fraction}")
        }
        let mut amounts = vec![i64::MIN, i64::MAX, 0, 1, -1, 10, 999_999_999, 1_000_000_000];
        let mut state = 0x9E37_79B9_7F4A_7C15_u64;
        for _ in 0..10_000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            // Every magnitude, from nano-dollars to the whole range.
            amounts.push((state as i64) >> (state % 63));
        }
        for nanos in amounts {
            let amount = Nanos(nanos);
            assert_eq!(amount.to_decimal_string(), reference(amount), "{nanos}");
            assert_eq!(amount.to_string(), reference(amount), "{nanos}");
            // The parser builds the magnitude first, and i64::MIN's has no positive i64.
            if nanos != i64::MIN {
                assert_eq!(
                    amount.to_decimal_string().parse::<Nanos>().ok(),
                    Some(amount),
                    "{nanos}"
                );
            }
        }
    }

    #[test]
    fn formats_for_people_and_machines() {
        assert_eq!(Nanos(20_000).to_decimal_string(), "0.00002");
        assert_eq!(Nanos::from_usd(12).to_decimal_string(), "12.00");
        assert_eq!(Nanos(-3_100_000_000).to_decimal_string(), "-3.10");
        assert_eq!(Nanos(1_234_567_000_000).format_usd(), "$1,234.57");
        assert_eq!(Nanos(5_000_000).format_usd(), "$0.005");
        assert_eq!(Nanos(21_000).format_usd(), "$0.000021");
        assert_eq!(Nanos(0).format_usd(), "$0.00");
        assert_eq!(Nanos(-1_000_000_000_000).format_usd(), "-$1,000.00");
        assert_eq!(Nanos(8_189_200).format_usd_places(4), "$0.0082");
        assert_eq!(Nanos(1_234_567_850_000).format_usd_places(4), "$1,234.5678");
        assert_eq!(Nanos(1_234_567_850_000).format_usd_places(0), "$1,235");
        assert_eq!(Nanos(-20).format_usd_places(4), "$0.0000");
        for value in [0, 1, 20_000, 999_999_999, 1_000_000_000, -42, i64::MAX] {
            let text = Nanos(value).to_decimal_string();
            assert_eq!(Nanos::parse_exact(&text), Ok(Nanos(value)), "{text}");
        }
    }

    #[test]
    fn serde_uses_decimal_strings() {
        let json = serde_json::to_string(&Nanos(1_500_000)).unwrap();
        assert_eq!(json, "\"0.0015\"");
        let back: Nanos = serde_json::from_str(&json).unwrap();
        assert_eq!(back, Nanos(1_500_000));
    }
}
