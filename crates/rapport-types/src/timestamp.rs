//! [`Timestamp`]: microseconds since the Unix epoch (UTC), with RFC 3339 text and a documented
//! range, so that every layer agrees on which instants exist.

use std::fmt;
use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const MICROS_PER_SECOND: i64 = 1_000_000;
const SECONDS_PER_DAY: i64 = 86_400;

/// Microseconds since the Unix epoch, UTC.
///
/// Instants that the store accepts lie in [`Timestamp::MIN`]..=[`Timestamp::MAX`]
/// (0001-01-01T00:00:00Z to 9999-12-31T23:59:59.999999Z): every one of them has an RFC 3339
/// form with a four-digit year, so whatever is stored can be exported and read back. The
/// field stays public for arithmetic in folds; use [`Timestamp::try_from_micros`] or
/// [`Timestamp::is_in_range`] where a value comes from outside.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Timestamp(pub i64);

/// A text or number that is not a [`Timestamp`] in range.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TimestampError {
    /// Not of the form `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)`.
    Malformed {
        /// The text (shortened to 64 characters).
        text: String,
        /// What was wrong.
        reason: &'static str,
    },
    /// Outside 0001-01-01T00:00:00Z..=9999-12-31T23:59:59.999999Z.
    OutOfRange {
        /// Microseconds since the epoch (saturated).
        micros: i64,
    },
}

impl fmt::Display for TimestampError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TimestampError::Malformed { text, reason } => {
                write!(f, "{text:?} is not an RFC 3339 time ({reason})")
            }
            TimestampError::OutOfRange { micros } => write!(
                f,
                "time {micros} µs since the epoch is outside 0001-01-01T00:00:00Z..=9999-12-31T23:59:59.999999Z"
            ),
        }
    }
}

impl std::error::Error for TimestampError {}

impl Timestamp {
    /// The earliest accepted instant, 0001-01-01T00:00:00Z.
    pub const MIN: Timestamp = Timestamp(-62_135_596_800 * MICROS_PER_SECOND);
    /// The latest accepted instant, 9999-12-31T23:59:59.999999Z.
    pub const MAX: Timestamp = Timestamp(253_402_300_800 * MICROS_PER_SECOND - 1);

    /// The system clock now.
    pub fn now() -> Timestamp {
        Timestamp::from_system_time(SystemTime::now())
    }
    /// Microseconds since the epoch.
    pub fn as_micros(&self) -> i64 {
        self.0
    }
    /// The instant `micros` µs after the epoch, if it is in range.
    pub fn try_from_micros(micros: i64) -> Result<Timestamp, TimestampError> {
        let timestamp = Timestamp(micros);
        if timestamp.is_in_range() {
            Ok(timestamp)
        } else {
            Err(TimestampError::OutOfRange { micros })
        }
    }
    /// Whether this instant lies in [`Timestamp::MIN`]..=[`Timestamp::MAX`].
    pub fn is_in_range(&self) -> bool {
        (Timestamp::MIN..=Timestamp::MAX).contains(self)
    }
    /// The instant a `SystemTime` names, saturated to `i64` microseconds.
    pub fn from_system_time(time: SystemTime) -> Timestamp {
        let micros = match time.duration_since(UNIX_EPOCH) {
            Ok(since) => i64::try_from(since.as_micros()).unwrap_or(i64::MAX),
            Err(before) => i64::try_from(before.duration().as_micros()).map_or(i64::MIN, |micros| -micros),
        };
        Timestamp(micros)
    }
    /// This instant as a `SystemTime`.
    pub fn to_system_time(&self) -> SystemTime {
        let magnitude = Duration::from_micros(self.0.unsigned_abs());
        if self.0 >= 0 {
            UNIX_EPOCH + magnitude
        } else {
            UNIX_EPOCH - magnitude
        }
    }
    /// Parses an RFC 3339 time (`2026-01-19T09:30:00Z`, `2026-01-19T09:30:00.123456+09:00`;
    /// `t`, `z` and a space for `T` are accepted; digits past microseconds are dropped).
    pub fn parse_rfc3339(text: &str) -> Result<Timestamp, TimestampError> {
        parse(text)
    }
}

impl Timestamp {
    /// The UTC calendar month the instant falls in, counted from year 0 (`year * 12 + month -
    /// 1`; January 2024 is 24_288). Time-bucketed keys and retention count in it. Instants out of
    /// range are clamped to the range first.
    pub fn month_index(&self) -> u32 {
        let micros = self.0.clamp(Timestamp::MIN.0, Timestamp::MAX.0);
        let days = micros.div_euclid(MICROS_PER_SECOND).div_euclid(SECONDS_PER_DAY);
        let (year, month, _) = civil_from_days(days);
        // Years 1..=9999 in range: the index is positive and far below u32::MAX.
        u32::try_from(year * 12 + month - 1).unwrap_or(0)
    }
}

impl fmt::Display for Timestamp {
    /// RFC 3339 in UTC with `Z`; the fraction has 3 or 6 digits and is left out when zero.
    /// An instant out of range prints as its microsecond count with a `µs` suffix.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.is_in_range() {
            return write!(f, "{}µs", self.0);
        }
        let seconds = self.0.div_euclid(MICROS_PER_SECOND);
        let micros = self.0.rem_euclid(MICROS_PER_SECOND);
        let days = seconds.div_euclid(SECONDS_PER_DAY);
        let second_of_day = seconds.rem_euclid(SECONDS_PER_DAY);
        let (year, month, day) = civil_from_days(days);
        let (hour, minute, second) = (second_of_day / 3600, second_of_day / 60 % 60, second_of_day % 60);
        write!(f, "{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}")?;
        if micros % 1000 == 0 && micros != 0 {
            write!(f, ".{:03}", micros / 1000)?;
        } else if micros != 0 {
            write!(f, ".{micros:06}")?;
        }
        f.write_str("Z")
    }
}

impl FromStr for Timestamp {
    type Err = TimestampError;
    fn from_str(text: &str) -> Result<Timestamp, TimestampError> {
        parse(text)
    }
}

impl From<SystemTime> for Timestamp {
    fn from(time: SystemTime) -> Timestamp {
        Timestamp::from_system_time(time)
    }
}

impl From<Timestamp> for SystemTime {
    fn from(timestamp: Timestamp) -> SystemTime {
        timestamp.to_system_time()
    }
}

#[cfg(feature = "chrono")]
impl From<chrono::DateTime<chrono::Utc>> for Timestamp {
    fn from(time: chrono::DateTime<chrono::Utc>) -> Timestamp {
        Timestamp(time.timestamp_micros())
    }
}

#[cfg(feature = "chrono")]
impl TryFrom<Timestamp> for chrono::DateTime<chrono::Utc> {
    type Error = TimestampError;
    fn try_from(timestamp: Timestamp) -> Result<chrono::DateTime<chrono::Utc>, TimestampError> {
        chrono::DateTime::from_timestamp_micros(timestamp.0).ok_or(TimestampError::OutOfRange { micros: timestamp.0 })
    }
}

fn malformed(text: &str, reason: &'static str) -> TimestampError {
    TimestampError::Malformed { text: text.chars().take(64).collect(), reason }
}

/// Reads `count` ASCII digits at `at`.
fn digits(bytes: &[u8], at: usize, count: usize) -> Option<i64> {
    let slice = bytes.get(at..at + count)?;
    slice.iter().try_fold(0i64, |value, byte| byte.is_ascii_digit().then(|| value * 10 + i64::from(byte - b'0')))
}

fn parse(text: &str) -> Result<Timestamp, TimestampError> {
    let bytes = text.as_bytes();
    let field = |at, count, reason| digits(bytes, at, count).ok_or_else(|| malformed(text, reason));
    let expect = |at: usize, allowed: &[u8], reason| match bytes.get(at) {
        Some(byte) if allowed.contains(byte) => Ok(()),
        _ => Err(malformed(text, reason)),
    };
    let year = field(0, 4, "expected a four-digit year")?;
    expect(4, b"-", "expected '-' after the year")?;
    let month = field(5, 2, "expected a two-digit month")?;
    expect(7, b"-", "expected '-' after the month")?;
    let day = field(8, 2, "expected a two-digit day")?;
    expect(10, b"Tt ", "expected 'T' after the date")?;
    let hour = field(11, 2, "expected a two-digit hour")?;
    expect(13, b":", "expected ':' after the hour")?;
    let minute = field(14, 2, "expected two-digit minutes")?;
    expect(16, b":", "expected ':' after the minutes")?;
    let second = field(17, 2, "expected two-digit seconds")?;
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return Err(malformed(text, "no such date"));
    }
    if hour > 23 || minute > 59 || second > 59 {
        return Err(malformed(text, "no such time of day (leap seconds are not accepted)"));
    }
    let mut at = 19;
    let mut micros = 0i64;
    if bytes.get(at) == Some(&b'.') {
        at += 1;
        let start = at;
        while let Some(digit) = bytes.get(at).filter(|byte| byte.is_ascii_digit()) {
            if at - start < 6 {
                micros = micros * 10 + i64::from(digit - b'0');
            }
            at += 1;
        }
        if at == start {
            return Err(malformed(text, "expected digits after '.'"));
        }
        if at - start > 18 {
            return Err(malformed(text, "fraction longer than 18 digits"));
        }
        for _ in (at - start)..6 {
            micros *= 10;
        }
    }
    let offset_seconds = match bytes.get(at) {
        Some(b'Z' | b'z') if at + 1 == bytes.len() => 0,
        Some(sign @ (b'+' | b'-')) if at + 6 == bytes.len() => {
            let hours = field(at + 1, 2, "expected a two-digit offset hour")?;
            expect(at + 3, b":", "expected ':' in the offset")?;
            let minutes = field(at + 4, 2, "expected two-digit offset minutes")?;
            if hours > 23 || minutes > 59 {
                return Err(malformed(text, "offset out of range"));
            }
            let magnitude = hours * 3600 + minutes * 60;
            if *sign == b'-' {
                -magnitude
            } else {
                magnitude
            }
        }
        _ => return Err(malformed(text, "expected 'Z' or an offset ±HH:MM at the end")),
    };
    let seconds = days_from_civil(year, month, day) * SECONDS_PER_DAY + hour * 3600 + minute * 60 + second;
    Timestamp::try_from_micros((seconds - offset_seconds) * MICROS_PER_SECOND + micros)
}

fn is_leap_year(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap_year(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let day_of_year = (153 * (month + if month > 2 { -3 } else { 9 }) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The date of a day count since 1970-01-01 (inverse of [`days_from_civil`]).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let days = days + 719_468;
    let era = days.div_euclid(146_097);
    let day_of_era = days - era * 146_097;
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * shifted_month + 2) / 5 + 1;
    let month = if shifted_month < 10 { shifted_month + 3 } else { shifted_month - 9 };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn range_ends_print_and_parse() {
        assert_eq!(Timestamp::MIN.to_string(), "0001-01-01T00:00:00Z");
        assert_eq!(Timestamp::MAX.to_string(), "9999-12-31T23:59:59.999999Z");
        assert_eq!("0001-01-01T00:00:00Z".parse::<Timestamp>(), Ok(Timestamp::MIN));
        assert_eq!("9999-12-31T23:59:59.999999Z".parse::<Timestamp>(), Ok(Timestamp::MAX));
        assert!(Timestamp::try_from_micros(i64::MIN).is_err());
        assert!(Timestamp::try_from_micros(i64::MAX).is_err());
        assert_eq!(Timestamp(i64::MAX).to_string(), format!("{}µs", i64::MAX));
    }

    #[test]
    fn offsets_fractions_and_epoch() {
        assert_eq!("1970-01-01T00:00:00Z".parse::<Timestamp>(), Ok(Timestamp(0)));
        assert_eq!("1970-01-01T09:00:00+09:00".parse::<Timestamp>(), Ok(Timestamp(0)));
        assert_eq!("1969-12-31T23:59:59.999999Z".parse::<Timestamp>(), Ok(Timestamp(-1)));
        assert_eq!("1970-01-01t00:00:00.5z".parse::<Timestamp>(), Ok(Timestamp(500_000)));
        assert_eq!("1970-01-01 00:00:00.000000999Z".parse::<Timestamp>(), Ok(Timestamp(0)));
        assert_eq!(Timestamp(1_500).to_string(), "1970-01-01T00:00:00.001500Z");
    }

    #[test]
    fn malformed_times_are_refused() {
        for text in [
            "",
            "2026-02-29T00:00:00Z",
            "2026-01-19T24:00:00Z",
            "2026-01-19T23:59:60Z",
            "2026-01-19T10:00:00",
            "2026-01-19T10:00:00+0900",
            "2026-01-19T10:00:00.Z",
            "2026-01-19T10:00:00Zjunk",
            "+2026-01-19T10:00:00Z",
            "２０２６-01-19T10:00:00Z",
        ] {
            assert!(text.parse::<Timestamp>().is_err(), "{text:?} was accepted");
        }
        assert!("0000-12-31T23:59:59Z".parse::<Timestamp>().is_err(), "year 0 is before the range");
        assert!("0001-01-01T00:00:00+00:01".parse::<Timestamp>().is_err(), "before the range by one minute");
    }

    #[test]
    fn system_time_round_trips() {
        for micros in [0, 1, -1, 1_700_000_000_123_456, Timestamp::MIN.0, Timestamp::MAX.0] {
            let timestamp = Timestamp(micros);
            assert_eq!(Timestamp::from(SystemTime::from(timestamp)), timestamp);
        }
    }

    proptest! {
        #[test]
        fn display_then_parse_is_identity(micros in Timestamp::MIN.0..=Timestamp::MAX.0) {
            let timestamp = Timestamp(micros);
            let text = timestamp.to_string();
            prop_assert_eq!(text.parse::<Timestamp>(), Ok(timestamp), "printed as {}", text);
        }

        #[test]
        fn parse_never_panics(text in "\\PC{0,40}") {
            let _ = text.parse::<Timestamp>();
        }
    }
}
