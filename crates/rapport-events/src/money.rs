//! Exact monetary amounts: a decimal with four fraction digits, stored as an integer so sums
//! never drift. An [`Amount`] is bounded by [`AMOUNT_TEN_THOUSANDTHS_MAX`]; sums of amounts are
//! [`Total`]s, kept in `i128`, so no number of orders can overflow them.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::Error;

/// Largest absolute value of an [`Amount`], in ten-thousandths of the currency unit (the minor
/// unit amounts are stored in): 10^15, i.e. 100 000 000 000 currency units. Every amount within
/// it is carried exactly by a JSON number (a double holds integers up to 2^53 > 10^15).
pub const AMOUNT_TEN_THOUSANDTHS_MAX: i64 = 1_000_000_000_000_000;

/// A decimal amount in units of 1/10 000 of the currency unit; its absolute value is at most
/// [`AMOUNT_TEN_THOUSANDTHS_MAX`] when built with [`Amount::new`], [`Amount::parse`] or
/// [`Amount::from_f64`]. Decoding a stored payload does not check the bound (old history must
/// replay); [`crate::CxEvent::validate`] checks it before an event is recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Amount {
    ten_thousandths: i64,
}

const SCALE: i64 = 10_000;

impl Amount {
    /// An amount from ten-thousandths of a unit; refused beyond [`AMOUNT_TEN_THOUSANDTHS_MAX`].
    pub fn new(ten_thousandths: i64) -> Result<Amount, Error> {
        let amount = Amount { ten_thousandths };
        amount.validate()?;
        Ok(amount)
    }

    /// The amount in ten-thousandths of a unit.
    pub const fn ten_thousandths(&self) -> i64 {
        self.ten_thousandths
    }

    /// The amount as a float (for statistics).
    pub fn as_f64(&self) -> f64 {
        self.ten_thousandths as f64 / SCALE as f64
    }

    /// Checks the bound: `|ten_thousandths| <= AMOUNT_TEN_THOUSANDTHS_MAX`.
    pub fn validate(&self) -> Result<(), Error> {
        if self.ten_thousandths.unsigned_abs() > AMOUNT_TEN_THOUSANDTHS_MAX.unsigned_abs() {
            return Err(Error::AmountOutOfRange {
                ten_thousandths: i128::from(self.ten_thousandths),
                limit: AMOUNT_TEN_THOUSANDTHS_MAX,
            });
        }
        Ok(())
    }

    /// Parses a decimal like `29.33` or `-4`. At most four fraction digits, absolute value at
    /// most [`AMOUNT_TEN_THOUSANDTHS_MAX`] ten-thousandths.
    pub fn parse(text: &str) -> Result<Amount, Error> {
        let invalid = || Error::InvalidAmount(text.to_owned());
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
        if fraction.len() > 4 {
            return Err(invalid());
        }
        // Leading zeros do not count; any other whole part longer than this is over the bound.
        let whole = whole.trim_start_matches('0');
        if whole.len() > 30 {
            return Err(Error::AmountOutOfRange { ten_thousandths: i128::MAX, limit: AMOUNT_TEN_THOUSANDTHS_MAX });
        }
        let whole: i128 = if whole.is_empty() { 0 } else { whole.parse().map_err(|_| invalid())? };
        let mut fraction_value: i128 = if fraction.is_empty() { 0 } else { fraction.parse().map_err(|_| invalid())? };
        for _ in fraction.len()..4 {
            fraction_value *= 10;
        }
        // At most 30 digits times 10^4 plus a fraction fits an i128 (~1.7 * 10^38).
        let value = whole * i128::from(SCALE) + fraction_value;
        let value = if negative { -value } else { value };
        match i64::try_from(value) {
            Ok(ten_thousandths) => Amount::new(ten_thousandths),
            Err(_) => Err(Error::AmountOutOfRange { ten_thousandths: value, limit: AMOUNT_TEN_THOUSANDTHS_MAX }),
        }
    }

    /// From a float, rounded to four fraction digits; refused when not finite or beyond
    /// [`AMOUNT_TEN_THOUSANDTHS_MAX`].
    pub fn from_f64(value: f64) -> Result<Amount, Error> {
        let scaled = (value * SCALE as f64).round();
        if !scaled.is_finite() {
            return Err(Error::InvalidAmount(value.to_string()));
        }
        // Compared as floats first: `as` saturates, and 10^15 is exact in a double.
        if scaled.abs() > AMOUNT_TEN_THOUSANDTHS_MAX as f64 {
            return Err(Error::AmountOutOfRange { ten_thousandths: scaled as i128, limit: AMOUNT_TEN_THOUSANDTHS_MAX });
        }
        Amount::new(scaled as i64)
    }
}

/// A sum of [`Amount`]s (of one currency), in ten-thousandths, an `i128`: even `u32::MAX`
/// amounts of `i64::MAX` each cannot overflow it, so adding never fails. Held as two 64-bit
/// words (high signed, low unsigned: the derived order is the numeric order), so that it is
/// 8-byte aligned: an `i128` field is 16-byte aligned and padded every profile and per-day
/// entry that holds one (23,570 CDNOW profiles: 90 bytes more each).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Total {
    high: i64,
    low: u64,
}

impl Total {
    /// Zero.
    pub const ZERO: Total = Total { high: 0, low: 0 };

    /// A total from ten-thousandths of a unit.
    pub const fn from_ten_thousandths(ten_thousandths: i128) -> Total {
        Total { high: (ten_thousandths >> 64) as i64, low: ten_thousandths as u64 }
    }

    /// The total in ten-thousandths of a unit.
    pub const fn ten_thousandths(&self) -> i128 {
        ((self.high as i128) << 64) | self.low as i128
    }

    /// The total as a float (for statistics).
    pub fn as_f64(&self) -> f64 {
        self.ten_thousandths() as f64 / SCALE as f64
    }

    /// Adds an amount. Saturates instead of wrapping, which an `i128` sum of `i64` amounts
    /// cannot reach in fewer than 2^64 additions.
    pub fn add(&mut self, amount: Amount) {
        *self = Total::from_ten_thousandths(self.ten_thousandths().saturating_add(i128::from(amount.ten_thousandths)));
    }

    /// Adds another total (saturating, as [`Total::add`]).
    pub fn add_total(&mut self, other: Total) {
        *self = Total::from_ten_thousandths(self.ten_thousandths().saturating_add(other.ten_thousandths()));
    }
}

impl From<Amount> for Total {
    fn from(amount: Amount) -> Total {
        Total::from_ten_thousandths(i128::from(amount.ten_thousandths))
    }
}

impl PartialEq<Amount> for Total {
    fn eq(&self, other: &Amount) -> bool {
        self.ten_thousandths() == i128::from(other.ten_thousandths)
    }
}

fn write_decimal(f: &mut fmt::Formatter<'_>, negative: bool, abs: u128) -> fmt::Result {
    let sign = if negative { "-" } else { "" };
    let whole = abs / SCALE as u128;
    let fraction = abs % SCALE as u128;
    if fraction == 0 {
        return write!(f, "{sign}{whole}");
    }
    let text = format!("{fraction:04}");
    write!(f, "{sign}{whole}.{}", text.trim_end_matches('0'))
}

impl fmt::Display for Total {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let value = self.ten_thousandths();
        write_decimal(f, value < 0, value.unsigned_abs())
    }
}

impl fmt::Display for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_decimal(f, self.ten_thousandths < 0, u128::from(self.ten_thousandths.unsigned_abs()))
    }
}

impl Serialize for Amount {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            // JSON: a plain decimal number.
            serializer.serialize_f64(self.as_f64())
        } else {
            serializer.serialize_i64(self.ten_thousandths)
        }
    }
}

impl<'de> Deserialize<'de> for Amount {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Amount, D::Error> {
        if deserializer.is_human_readable() {
            #[derive(Deserialize)]
            #[serde(untagged)]
            enum Human {
                Number(f64),
                Text(String),
            }
            match Human::deserialize(deserializer)? {
                Human::Number(value) => Amount::from_f64(value).map_err(serde::de::Error::custom),
                Human::Text(text) => Amount::parse(&text).map_err(serde::de::Error::custom),
            }
        } else {
            // Stored payloads are not bound-checked here: old history must always replay.
            Ok(Amount { ten_thousandths: i64::deserialize(deserializer)? })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_decimals() {
        for (text, expected, printed) in
            [("29.33", 293_300, "29.33"), ("-4", -40_000, "-4"), ("0.0001", 1, "0.0001"), (".5", 5_000, "0.5")]
        {
            let amount = Amount::parse(text).unwrap();
            assert_eq!(amount.ten_thousandths(), expected, "{text}");
            assert_eq!(amount.to_string(), printed);
        }
        for bad in ["", "-", "1.23456", "12a", "1e5", "."] {
            assert!(Amount::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn amounts_are_bounded_by_ten_to_the_fifteen() {
        let max = AMOUNT_TEN_THOUSANDTHS_MAX;
        assert_eq!(max, 10_i64.pow(15));
        for ok in [max, -max, 0] {
            assert_eq!(Amount::new(ok).unwrap().ten_thousandths(), ok);
        }
        for over in [max + 1, -max - 1, i64::MAX, i64::MIN] {
            let error = Amount::new(over).unwrap_err();
            assert_eq!(error, Error::AmountOutOfRange { ten_thousandths: i128::from(over), limit: max }, "{over}");
            assert!(error.to_string().contains(&over.to_string()), "the message names the value: {error}");
        }
        assert_eq!(Amount::parse("100000000000").unwrap().ten_thousandths(), max);
        assert_eq!(Amount::parse("-100000000000.0000").unwrap().ten_thousandths(), -max);
        assert!(matches!(Amount::parse("100000000000.0001"), Err(Error::AmountOutOfRange { .. })));
        assert!(matches!(Amount::parse("99999999999999999999999999999999999"), Err(Error::AmountOutOfRange { .. })));
        assert_eq!(Amount::parse("000000000000000000000000000000000001").unwrap().ten_thousandths(), 10_000);
        assert_eq!(Amount::from_f64(1e11).unwrap().ten_thousandths(), max);
        assert!(matches!(Amount::from_f64(100_000_000_000.000_1), Err(Error::AmountOutOfRange { .. })));
        assert!(matches!(Amount::from_f64(1e300), Err(Error::AmountOutOfRange { .. })));
        assert!(matches!(Amount::from_f64(f64::NAN), Err(Error::InvalidAmount(_))));
        let json: Result<Amount, _> = serde_json::from_str("100000000000.0001");
        assert!(json.is_err(), "JSON is refused beyond the bound: {json:?}");
    }

    #[test]
    fn totals_add_in_i128_and_print_like_amounts() {
        let max = Amount::new(AMOUNT_TEN_THOUSANDTHS_MAX).unwrap();
        let mut total = Total::ZERO;
        for _ in 0..10_000 {
            total.add(max);
        }
        assert_eq!(total.ten_thousandths(), 10_000 * i128::from(AMOUNT_TEN_THOUSANDTHS_MAX));
        assert!(total.ten_thousandths() > i128::from(i64::MAX), "beyond what an i64 sum could hold");
        assert_eq!(total.to_string(), "1000000000000000");
        assert_eq!(Total::from(Amount::parse("-4.5").unwrap()).to_string(), "-4.5");
        assert_eq!(Total::from(Amount::parse("29.33").unwrap()), Amount::parse("29.33").unwrap());
    }

    #[test]
    fn json_number_round_trip() {
        let amount: Amount = serde_json::from_str("12.34").unwrap();
        assert_eq!(amount.ten_thousandths(), 123_400);
        assert_eq!(serde_json::to_string(&amount).unwrap(), "12.34");
    }

    #[test]
    fn totals_round_trip_every_i128_and_order_like_it() {
        let values = [i128::MIN, i128::MIN + 1, -(1 << 64), -1, 0, 1, (1 << 64) - 1, 1 << 64, i128::MAX];
        for value in values {
            assert_eq!(Total::from_ten_thousandths(value).ten_thousandths(), value);
        }
        for pair in values.windows(2) {
            let (a, b) = (Total::from_ten_thousandths(pair[0]), Total::from_ten_thousandths(pair[1]));
            assert!(a < b, "{pair:?}");
        }
        assert_eq!(std::mem::align_of::<Total>(), 8, "a total must not force 16-byte alignment");
    }
}
