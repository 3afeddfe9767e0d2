//! Exact monetary amounts: a decimal with four fraction digits, stored as an integer so sums
//! never drift.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::Error;

/// A decimal amount in units of 1/10 000 of the currency unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Amount {
    ten_thousandths: i64,
}

const SCALE: i64 = 10_000;

impl Amount {
    /// An amount from ten-thousandths of a unit.
    pub const fn from_ten_thousandths(ten_thousandths: i64) -> Amount {
        Amount { ten_thousandths }
    }

    /// The amount in ten-thousandths of a unit.
    pub const fn ten_thousandths(&self) -> i64 {
        self.ten_thousandths
    }

    /// The amount as a float (for statistics).
    pub fn as_f64(&self) -> f64 {
        self.ten_thousandths as f64 / SCALE as f64
    }

    /// Parses a decimal like `29.33` or `-4`. At most four fraction digits.
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
        let whole: i64 = if whole.is_empty() { 0 } else { whole.parse().map_err(|_| invalid())? };
        let mut fraction_value: i64 = if fraction.is_empty() { 0 } else { fraction.parse().map_err(|_| invalid())? };
        for _ in fraction.len()..4 {
            fraction_value *= 10;
        }
        let value = whole.checked_mul(SCALE).and_then(|w| w.checked_add(fraction_value)).ok_or_else(invalid)?;
        Ok(Amount { ten_thousandths: if negative { -value } else { value } })
    }

    /// From a float, rounded to four fraction digits.
    pub fn from_f64(value: f64) -> Result<Amount, Error> {
        let scaled = (value * SCALE as f64).round();
        if !scaled.is_finite() || scaled.abs() > 9.0e18 {
            return Err(Error::InvalidAmount(value.to_string()));
        }
        Ok(Amount { ten_thousandths: scaled as i64 })
    }
}

impl fmt::Display for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.ten_thousandths < 0 { "-" } else { "" };
        let abs = self.ten_thousandths.unsigned_abs();
        let whole = abs / SCALE as u64;
        let fraction = abs % SCALE as u64;
        if fraction == 0 {
            return write!(f, "{sign}{whole}");
        }
        let text = format!("{fraction:04}");
        write!(f, "{sign}{whole}.{}", text.trim_end_matches('0'))
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
    fn json_number_round_trip() {
        let amount: Amount = serde_json::from_str("12.34").unwrap();
        assert_eq!(amount.ten_thousandths(), 123_400);
        assert_eq!(serde_json::to_string(&amount).unwrap(), "12.34");
    }
}
