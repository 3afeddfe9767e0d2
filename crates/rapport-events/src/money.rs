//! Exact monetary amounts in the minor unit of their currency (ISO 4217 exponents: KRW 0, USD 2,
//! KWD 3; [`crate::currency_exponent`]), stored as integers so sums never drift. An [`Amount`]
//! is bounded by [`AMOUNT_MINOR_MAX`]; sums of amounts are [`Total`]s, kept in `i128`, so no
//! number of orders can overflow them. An amount alone does not know its currency: reading and
//! printing decimals takes the currency code (the events carry it next to the amount).

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::currency::{currency_exponent, exponent_or_default};
use crate::error::Error;

/// Largest absolute value of an [`Amount`], in minor units: 10^15 (10 000 000 000 000.00 USD,
/// 1 000 000 000 000 000 KRW). Every amount within it is carried exactly by a JSON number (a
/// double holds integers up to 2^53 > 10^15, and every decimal of at most 15 significant digits).
pub const AMOUNT_MINOR_MAX: i64 = 1_000_000_000_000_000;

/// Powers of ten up to the largest exponent, exact as doubles.
const POW10: [i64; 5] = [1, 10, 100, 1_000, 10_000];

fn pow10(exponent: u8) -> i64 {
    POW10.get(usize::from(exponent)).copied().unwrap_or(10_000)
}

/// An amount in minor units of its currency (cents for USD, won for KRW, fils for KWD); its
/// absolute value is at most [`AMOUNT_MINOR_MAX`] when built with [`Amount::from_minor`] or
/// [`Amount::parse`]. Decoding a stored payload does not check the bound (old history must
/// replay); [`crate::CxEvent::validate`] checks it before an event is recorded.
///
/// Serde: the postcard form (and the JSON form of an amount on its own) is the integer number
/// of minor units; the order events write their `amount` as a decimal of their currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Amount {
    minor: i64,
}

impl Amount {
    /// Zero.
    pub const ZERO: Amount = Amount { minor: 0 };

    /// An amount from minor units; refused beyond [`AMOUNT_MINOR_MAX`].
    pub fn from_minor(minor: i64) -> Result<Amount, Error> {
        let amount = Amount { minor };
        amount.validate()?;
        Ok(amount)
    }

    /// An amount from minor units, not bound-checked (as a decoded history may hold).
    #[cfg(test)]
    pub(crate) const fn from_minor_unchecked(minor: i64) -> Amount {
        Amount { minor }
    }

    /// The amount in minor units.
    pub const fn minor(&self) -> i64 {
        self.minor
    }

    /// The amount in whole units of `currency` as a float (for statistics).
    pub fn as_f64(&self, currency: &str) -> f64 {
        self.minor as f64 / pow10(exponent_or_default(currency)) as f64
    }

    /// Checks the bound: `|minor| <= AMOUNT_MINOR_MAX`.
    pub fn validate(&self) -> Result<(), Error> {
        if self.minor.unsigned_abs() > AMOUNT_MINOR_MAX.unsigned_abs() {
            return Err(Error::AmountOutOfRange { minor: i128::from(self.minor), limit: AMOUNT_MINOR_MAX });
        }
        Ok(())
    }

    /// Parses a decimal like `29.33` or `-4` in `currency`: at most as many fraction digits as
    /// the currency's ISO 4217 exponent (trailing zeros aside: `1.50` is fine for USD, `1.5` is
    /// not for KRW), absolute value at most [`AMOUNT_MINOR_MAX`] minor units. The currency must
    /// be in the table ([`crate::currency_exponent`]).
    pub fn parse(text: &str, currency: &str) -> Result<Amount, Error> {
        let exponent = currency_exponent(currency).ok_or_else(|| unknown_currency(currency))?;
        parse_decimal(text, exponent, currency)
    }

    /// Reads an amount written by the first release (ten-thousandths of a unit) in `currency`:
    /// exact when representable in the currency's minor unit, otherwise rounded half to even
    /// (`0.0050 USD` is 0 cents, `0.0150 USD` 2 cents; `1.5 KRW` is 2 won). Saturates at the
    /// `i64` range (unreachable for exponents of at most 4).
    pub fn from_ten_thousandths(ten_thousandths: i64, currency: &str) -> Amount {
        let divisor = i128::from(pow10(4u8.saturating_sub(exponent_or_default(currency))));
        let value = i128::from(ten_thousandths);
        let quotient = value.div_euclid(divisor);
        let remainder = value.rem_euclid(divisor);
        let rounded = match (2 * remainder).cmp(&divisor) {
            std::cmp::Ordering::Less => quotient,
            std::cmp::Ordering::Greater => quotient + 1,
            std::cmp::Ordering::Equal => quotient + (quotient & 1),
        };
        let minor = i64::try_from(rounded).unwrap_or(if rounded < 0 { i64::MIN } else { i64::MAX });
        Amount { minor }
    }

    /// The amount as a decimal with the currency's digits (`29.30` USD, `15000` KRW).
    pub fn format(&self, currency: &str) -> String {
        format_decimal(i128::from(self.minor), exponent_or_default(currency))
    }

    /// The JSON form in `currency`: a number (an integer when whole, `15000`, `29.3`) when it
    /// reads back exactly, i.e. within [`AMOUNT_MINOR_MAX`]; beyond (only a decoded history can
    /// hold such a value), the exact decimal as a string.
    pub fn to_json(&self, currency: &str) -> serde_json::Value {
        let exponent = exponent_or_default(currency);
        let scale = pow10(exponent);
        if self.minor.unsigned_abs() > AMOUNT_MINOR_MAX.unsigned_abs() {
            return serde_json::Value::from(self.format(currency));
        }
        if self.minor % scale == 0 {
            return serde_json::Value::from(self.minor / scale);
        }
        // Both operands are exact doubles and the division is correctly rounded: the nearest
        // double to the decimal, whose shortest text (what serde_json prints) is the decimal.
        serde_json::Value::from(self.minor as f64 / scale as f64)
    }

    /// Reads the JSON form in `currency`: a number or a decimal string, checked as
    /// [`Amount::parse`]. `field` names the field in errors.
    pub fn from_json(value: &serde_json::Value, currency: &str) -> Result<Amount, Error> {
        let exponent = currency_exponent(currency).ok_or_else(|| unknown_currency(currency))?;
        match value {
            serde_json::Value::Number(number) => {
                if let Some(whole) = number.as_i64() {
                    return scale_whole(i128::from(whole), exponent, currency);
                }
                if let Some(whole) = number.as_u64() {
                    return scale_whole(i128::from(whole), exponent, currency);
                }
                match number.as_f64() {
                    // Rust prints a double as its shortest round-trip decimal, never in exponent
                    // notation: `29.33`, `1e300` as 301 digits (then refused as too large).
                    Some(float) if float.is_finite() => parse_decimal(&float.to_string(), exponent, currency),
                    _ => Err(Error::InvalidAmount(number.to_string())),
                }
            }
            serde_json::Value::String(text) => parse_decimal(text, exponent, currency),
            other => Err(Error::InvalidAmount(truncated(&other.to_string()))),
        }
    }
}

fn unknown_currency(currency: &str) -> Error {
    Error::InvalidValue {
        field: "currency",
        value: truncated(currency),
        expected: "an ISO 4217 code (upper case) of the currency table",
    }
}

/// At most 64 characters of a value quoted in an error.
fn truncated(text: &str) -> String {
    match text.char_indices().nth(64) {
        Some((idx, _)) => format!("{}...", text.get(..idx).unwrap_or_default()),
        None => text.to_owned(),
    }
}

fn scale_whole(whole: i128, exponent: u8, currency: &str) -> Result<Amount, Error> {
    let minor = whole.saturating_mul(i128::from(pow10(exponent)));
    bounded(minor, currency)
}

fn bounded(minor: i128, _currency: &str) -> Result<Amount, Error> {
    if minor.unsigned_abs() > AMOUNT_MINOR_MAX.unsigned_abs() as u128 {
        return Err(Error::AmountOutOfRange { minor, limit: AMOUNT_MINOR_MAX });
    }
    // Within the bound, so within i64.
    Ok(Amount { minor: i64::try_from(minor).unwrap_or_default() })
}

fn parse_decimal(text: &str, exponent: u8, currency: &str) -> Result<Amount, Error> {
    let invalid = || Error::InvalidAmount(truncated(text));
    let trimmed = text.trim();
    let (negative, digits) = match trimmed.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, trimmed),
    };
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    if whole.is_empty() && fraction.is_empty() {
        return Err(invalid());
    }
    if !whole.bytes().all(|b| b.is_ascii_digit()) || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid());
    }
    let fraction = fraction.trim_end_matches('0');
    if fraction.len() > usize::from(exponent) {
        return Err(Error::AmountPrecision {
            field: "amount",
            value: truncated(text),
            currency: currency.to_owned(),
            exponent,
        });
    }
    // Leading zeros do not count; any other whole part longer than this is over the bound.
    let whole = whole.trim_start_matches('0');
    if whole.len() > 30 {
        return Err(Error::AmountOutOfRange { minor: i128::MAX, limit: AMOUNT_MINOR_MAX });
    }
    let whole: i128 = if whole.is_empty() { 0 } else { whole.parse().map_err(|_| invalid())? };
    let mut fraction_value: i128 = if fraction.is_empty() { 0 } else { fraction.parse().map_err(|_| invalid())? };
    for _ in fraction.len()..usize::from(exponent) {
        fraction_value *= 10;
    }
    // At most 30 digits times 10^4 plus a fraction fits an i128 (~1.7 * 10^38).
    let value = whole * i128::from(pow10(exponent)) + fraction_value;
    bounded(if negative { -value } else { value }, currency)
}

fn format_decimal(minor: i128, exponent: u8) -> String {
    let sign = if minor < 0 { "-" } else { "" };
    let abs = minor.unsigned_abs();
    if exponent == 0 {
        return format!("{sign}{abs}");
    }
    let scale = pow10(exponent) as u128;
    let width = usize::from(exponent);
    format!("{sign}{}.{:0width$}", abs / scale, abs % scale)
}

/// A sum of [`Amount`]s (of one currency), in minor units, an `i128`: even `u32::MAX` amounts
/// of `i64::MAX` each cannot overflow it, so adding never fails. Held as two 64-bit words (high
/// signed, low unsigned: the derived order is the numeric order), so that it is 8-byte aligned:
/// an `i128` field is 16-byte aligned and padded every profile and per-day entry that holds one
/// (23,570 CDNOW profiles: 90 bytes more each).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
pub struct Total {
    high: i64,
    low: u64,
}

impl Total {
    /// Zero.
    pub const ZERO: Total = Total { high: 0, low: 0 };

    /// A total from minor units.
    pub const fn from_minor(minor: i128) -> Total {
        Total { high: (minor >> 64) as i64, low: minor as u64 }
    }

    /// The total in minor units.
    pub const fn minor(&self) -> i128 {
        ((self.high as i128) << 64) | self.low as i128
    }

    /// The total in whole units of `currency` as a float (for statistics).
    pub fn as_f64(&self, currency: &str) -> f64 {
        self.minor() as f64 / pow10(exponent_or_default(currency)) as f64
    }

    /// The total as a decimal with the currency's digits (`29.30` USD, `15000` KRW).
    pub fn format(&self, currency: &str) -> String {
        format_decimal(self.minor(), exponent_or_default(currency))
    }

    /// Adds an amount. Saturates instead of wrapping, which an `i128` sum of `i64` amounts
    /// cannot reach in fewer than 2^64 additions.
    pub fn add(&mut self, amount: Amount) {
        *self = Total::from_minor(self.minor().saturating_add(i128::from(amount.minor)));
    }

    /// Subtracts an amount (saturating, as [`Total::add`]).
    pub fn sub(&mut self, amount: Amount) {
        *self = Total::from_minor(self.minor().saturating_sub(i128::from(amount.minor)));
    }

    /// Adds another total (saturating, as [`Total::add`]).
    pub fn add_total(&mut self, other: Total) {
        *self = Total::from_minor(self.minor().saturating_add(other.minor()));
    }

    /// Subtracts another total (saturating, as [`Total::add`]).
    pub fn sub_total(&mut self, other: Total) {
        *self = Total::from_minor(self.minor().saturating_sub(other.minor()));
    }
}

impl From<Amount> for Total {
    fn from(amount: Amount) -> Total {
        Total::from_minor(i128::from(amount.minor))
    }
}

impl PartialEq<Amount> for Total {
    fn eq(&self, other: &Amount) -> bool {
        self.minor() == i128::from(other.minor)
    }
}

/// Prints the minor units (`2933 minor units`): an amount alone has no currency to print a
/// decimal with; use [`Amount::format`].
impl fmt::Display for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} minor units", self.minor)
    }
}

impl Serialize for Amount {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_i64(self.minor)
    }
}

impl<'de> Deserialize<'de> for Amount {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Amount, D::Error> {
        // Stored payloads are not bound-checked here: old history must always replay.
        Ok(Amount { minor: i64::deserialize(deserializer)? })
    }
}

/// Most currencies in an [`ExchangeRates`] table.
pub const EXCHANGE_RATES_MAX: usize = 512;

/// A table of exchange rates against a base currency: `rate(code)` units of the base buy one
/// unit of `code` (the base itself is 1). Conversions are for statistics (RFM, CLV in a
/// reporting currency): the result is rounded half away from zero to the target's minor unit.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ExchangeRates {
    base: String,
    rates: std::collections::BTreeMap<String, f64>,
}

impl ExchangeRates {
    /// A table against `base` (an ISO 4217 code of the table); rates must be finite and
    /// positive, codes known, at most [`EXCHANGE_RATES_MAX`].
    pub fn new(base: &str, rates: impl IntoIterator<Item = (String, f64)>) -> Result<ExchangeRates, Error> {
        let known = |code: &str| -> Result<(), Error> {
            currency_exponent(code).map(|_| ()).ok_or_else(|| unknown_currency(code))
        };
        known(base)?;
        let mut table = ExchangeRates { base: base.to_owned(), rates: std::collections::BTreeMap::new() };
        for (code, rate) in rates {
            known(&code)?;
            if !(rate.is_finite() && rate > 0.0) {
                return Err(Error::InvalidValue {
                    field: "exchange rate",
                    value: format!("{code} {rate}"),
                    expected: "a finite positive number",
                });
            }
            if table.rates.len() >= EXCHANGE_RATES_MAX {
                return Err(Error::TooLong {
                    field: "exchange rates",
                    actual: table.rates.len() + 1,
                    limit: EXCHANGE_RATES_MAX,
                });
            }
            table.rates.insert(code, rate);
        }
        Ok(table)
    }

    /// Parses lines `CODE RATE` (or `CODE=RATE`; `#` starts a comment) against `base`.
    pub fn parse(base: &str, text: &str) -> Result<ExchangeRates, Error> {
        let mut rates = Vec::new();
        for line in text.lines() {
            let line = line.split('#').next().unwrap_or_default().trim();
            if line.is_empty() {
                continue;
            }
            let mut parts = line.split(|c: char| c == '=' || c.is_whitespace()).filter(|p| !p.is_empty());
            let (Some(code), Some(rate), None) = (parts.next(), parts.next(), parts.next()) else {
                return Err(Error::InvalidValue {
                    field: "exchange rate line",
                    value: truncated(line),
                    expected: "CODE RATE, such as EUR 1.08",
                });
            };
            let rate: f64 = rate.parse().map_err(|_| Error::InvalidValue {
                field: "exchange rate",
                value: truncated(line),
                expected: "a finite positive number",
            })?;
            rates.push((code.to_owned(), rate));
            if rates.len() > EXCHANGE_RATES_MAX {
                return Err(Error::TooLong { field: "exchange rates", actual: rates.len(), limit: EXCHANGE_RATES_MAX });
            }
        }
        ExchangeRates::new(base, rates)
    }

    /// The base currency.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// Units of the base per unit of `code` (1 for the base), `None` without a rate.
    pub fn rate(&self, code: &str) -> Option<f64> {
        if code == self.base {
            return Some(1.0);
        }
        self.rates.get(code).copied()
    }

    /// `total` (minor units of `from`) in minor units of `to`, `None` when either has no
    /// rate or the result is not finite.
    pub fn convert(&self, total: Total, from: &str, to: &str) -> Option<Total> {
        if from == to {
            return Some(total);
        }
        let units = total.as_f64(from) * self.rate(from)? / self.rate(to)?;
        let minor = (units * pow10(exponent_or_default(to)) as f64).round();
        // 2^126 is exact as a double and far inside i128.
        (minor.is_finite() && minor.abs() < 2f64.powi(126)).then(|| Total::from_minor(minor as i128))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_decimals_with_the_currency_digits() {
        for (text, currency, minor, printed) in [
            ("29.33", "USD", 2_933, "29.33"),
            ("29.3", "USD", 2_930, "29.30"),
            ("-4", "USD", -400, "-4.00"),
            (".5", "EUR", 50, "0.50"),
            ("15000", "KRW", 15_000, "15000"),
            ("15000.000", "KRW", 15_000, "15000"),
            ("1.234", "KWD", 1_234, "1.234"),
            ("0.5", "KWD", 500, "0.500"),
            ("0.0001", "CLF", 1, "0.0001"),
            ("-0", "USD", 0, "0.00"),
        ] {
            let amount = Amount::parse(text, currency).unwrap();
            assert_eq!(amount.minor(), minor, "{text} {currency}");
            assert_eq!(amount.format(currency), printed);
        }
        for bad in ["", "-", "12a", "1e5", ".", "--1", "+1", "1.2.3"] {
            assert!(matches!(Amount::parse(bad, "USD"), Err(Error::InvalidAmount(_))), "{bad:?} accepted");
        }
        assert!(matches!(Amount::parse("1", "ABC"), Err(Error::InvalidValue { field: "currency", .. })));
        assert!(matches!(Amount::parse("1", "usd"), Err(Error::InvalidValue { field: "currency", .. })));
    }

    #[test]
    fn more_fraction_digits_than_the_exponent_are_refused_naming_field_and_exponent() {
        for (text, currency, exponent) in [("12.345", "USD", 2), ("1.5", "KRW", 0), ("0.0001", "KWD", 3)] {
            let error = Amount::parse(text, currency).unwrap_err();
            assert_eq!(
                error,
                Error::AmountPrecision { field: "amount", value: text.into(), currency: currency.into(), exponent }
            );
            let message = error.to_string();
            assert!(message.contains("amount") && message.contains(&format!("exponent {exponent}")), "{message}");
        }
    }

    #[test]
    fn amounts_are_bounded_by_ten_to_the_fifteen_minor_units() {
        let max = AMOUNT_MINOR_MAX;
        assert_eq!(max, 10_i64.pow(15));
        for ok in [max, -max, 0] {
            assert_eq!(Amount::from_minor(ok).unwrap().minor(), ok);
        }
        for over in [max + 1, -max - 1, i64::MAX, i64::MIN] {
            let error = Amount::from_minor(over).unwrap_err();
            assert_eq!(error, Error::AmountOutOfRange { minor: i128::from(over), limit: max }, "{over}");
            assert!(error.to_string().contains(&over.to_string()), "the message names the value: {error}");
        }
        assert_eq!(Amount::parse("10000000000000", "USD").unwrap().minor(), max);
        assert_eq!(Amount::parse("1000000000000000", "KRW").unwrap().minor(), max);
        assert!(matches!(Amount::parse("10000000000000.01", "USD"), Err(Error::AmountOutOfRange { .. })));
        assert!(matches!(Amount::parse(&"9".repeat(100_000), "USD"), Err(Error::AmountOutOfRange { .. })));
        assert_eq!(Amount::parse("000000000000000000000000000000000001", "USD").unwrap().minor(), 100);
    }

    #[test]
    fn json_numbers_and_strings_read_and_write_exactly() {
        use serde_json::json;
        let read = |value: serde_json::Value, currency: &str| Amount::from_json(&value, currency);
        assert_eq!(read(json!(29.33), "USD").unwrap().minor(), 2_933);
        assert_eq!(read(json!("29.33"), "USD").unwrap().minor(), 2_933);
        assert_eq!(read(json!(15000), "KRW").unwrap().minor(), 15_000);
        assert_eq!(read(json!(1.234), "KWD").unwrap().minor(), 1_234);
        assert_eq!(read(json!(0.1), "USD").unwrap().minor(), 10);
        assert!(matches!(read(json!(1.5), "KRW"), Err(Error::AmountPrecision { exponent: 0, .. })));
        assert!(matches!(read(json!("1.5"), "KRW"), Err(Error::AmountPrecision { exponent: 0, .. })));
        assert!(matches!(read(json!(1e300), "USD"), Err(Error::AmountOutOfRange { .. })));
        assert!(matches!(read(json!(1e-300), "USD"), Err(Error::AmountPrecision { .. })));
        assert!(matches!(read(json!(u64::MAX), "USD"), Err(Error::AmountOutOfRange { .. })));
        assert!(matches!(read(json!(i64::MIN), "KRW"), Err(Error::AmountOutOfRange { .. })));
        assert!(matches!(read(json!(true), "USD"), Err(Error::InvalidAmount(_))));
        assert!(matches!(read(json!(null), "USD"), Err(Error::InvalidAmount(_))));
        assert!(serde_json::from_str::<serde_json::Value>("1e400").is_err(), "refused before us");
        assert_eq!(read(json!("-0"), "USD").unwrap().minor(), 0);

        let write = |minor: i64, currency: &str| Amount::from_minor_unchecked(minor).to_json(currency).to_string();
        assert_eq!(write(15_000, "KRW"), "15000");
        assert_eq!(write(2_933, "USD"), "29.33");
        assert_eq!(write(2_900, "USD"), "29");
        assert_eq!(write(1_234, "KWD"), "1.234");
        assert_eq!(write(AMOUNT_MINOR_MAX - 1, "USD"), "9999999999999.99");
        assert_eq!(write(AMOUNT_MINOR_MAX + 1, "USD"), "\"10000000000000.01\"");
        for (minor, currency) in [(1, "USD"), (-7, "KWD"), (AMOUNT_MINOR_MAX - 1, "CLF"), (123_456_789, "JPY")] {
            let back = Amount::from_json(&Amount::from_minor_unchecked(minor).to_json(currency), currency).unwrap();
            assert_eq!(back.minor(), minor, "{minor} {currency}");
        }
    }

    #[test]
    fn first_release_ten_thousandths_upcast_exactly_or_half_to_even() {
        let up = |tt: i64, currency: &str| Amount::from_ten_thousandths(tt, currency).minor();
        assert_eq!(up(293_300, "USD"), 2_933, "29.33 exact");
        assert_eq!(up(150_000_000, "KRW"), 15_000, "15000 exact");
        assert_eq!(up(12_340, "KWD"), 1_234, "1.234 exact");
        assert_eq!(up(12_345, "CLF"), 12_345, "exponent 4: always exact");
        assert_eq!(up(50, "USD"), 0, "0.0050: half, to even 0");
        assert_eq!(up(150, "USD"), 2, "0.0150: half, to even 2");
        assert_eq!(up(250, "USD"), 2, "0.0250: half, to even 2");
        assert_eq!(up(251, "USD"), 3);
        assert_eq!(up(-150, "USD"), -2, "-0.0150: to even -2");
        assert_eq!(up(-151, "USD"), -2);
        assert_eq!(up(15_000, "KRW"), 2, "1.5 won to even 2");
        assert_eq!(up(25_000, "KRW"), 2, "2.5 won to even 2");
        assert_eq!(up(12_345, "KWD"), 1_234, "1.2345: half, to even 1.234");
        assert_eq!(up(12_355, "KWD"), 1_236);
        assert_eq!(up(293_300, "ZZZ"), 2_933, "unknown code: 2 digits");
        assert_eq!(up(i64::MAX, "USD"), i64::MAX / 100, "...807: 0.0007 rounds down, no overflow");
        assert_eq!(up(i64::MIN, "CLF"), i64::MIN);
    }

    #[test]
    fn exchange_rates_convert_through_the_base_to_the_minor_unit() {
        let rates = ExchangeRates::parse("USD", "# rates of 2026-12-01\nEUR 1.25\nKRW=0.00075\n").unwrap();
        // 10.00 EUR = 12.50 USD = 1250 cents.
        assert_eq!(rates.convert(Total::from_minor(1_000), "EUR", "USD"), Some(Total::from_minor(1_250)));
        // 20000 KRW = 15.00 USD = 12.00 EUR.
        assert_eq!(rates.convert(Total::from_minor(20_000), "KRW", "EUR"), Some(Total::from_minor(1_200)));
        assert_eq!(rates.convert(Total::from_minor(5), "JPY", "USD"), None, "no rate");
        assert_eq!(rates.convert(Total::from_minor(5), "JPY", "JPY"), Some(Total::from_minor(5)));
        for bad in ["EUR", "EUR x", "EUR -1", "EUR 0", "EUR inf", "ZZZ 1", "EUR 1 2"] {
            assert!(ExchangeRates::parse("USD", bad).is_err(), "{bad:?} accepted");
        }
        assert!(ExchangeRates::parse("ZZZ", "").is_err());
    }

    #[test]
    fn totals_add_in_i128() {
        let max = Amount::from_minor(AMOUNT_MINOR_MAX).unwrap();
        let mut total = Total::ZERO;
        for _ in 0..10_000 {
            total.add(max);
        }
        assert_eq!(total.minor(), 10_000 * i128::from(AMOUNT_MINOR_MAX));
        assert!(total.minor() > i128::from(i64::MAX), "beyond what an i64 sum could hold");
        assert_eq!(total.format("KRW"), "10000000000000000000");
        assert_eq!(total.format("USD"), "100000000000000000.00");
        total.sub(max);
        assert_eq!(total.minor(), 9_999 * i128::from(AMOUNT_MINOR_MAX));
        assert_eq!(Total::from(Amount::parse("-4.5", "USD").unwrap()).format("USD"), "-4.50");
    }

    #[test]
    fn totals_round_trip_every_i128_and_order_like_it() {
        let values = [i128::MIN, i128::MIN + 1, -(1 << 64), -1, 0, 1, (1 << 64) - 1, 1 << 64, i128::MAX];
        for value in values {
            assert_eq!(Total::from_minor(value).minor(), value);
        }
        for pair in values.windows(2) {
            let (a, b) = (Total::from_minor(pair[0]), Total::from_minor(pair[1]));
            assert!(a < b, "{pair:?}");
        }
        assert_eq!(std::mem::align_of::<Total>(), 8, "a total must not force 16-byte alignment");
        assert_eq!(Total::from_minor(i128::MIN).format("KWD"), "-170141183460469231731687303715884105.728");
    }
}
