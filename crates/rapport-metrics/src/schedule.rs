//! Business hours: a time zone (IANA, daylight saving included), weekly open intervals in local
//! time, and holidays (local dates). Business time of an interval is the part of it inside open
//! hours. One store-wide schedule, optionally one per group; a ticket uses the schedule of the
//! group it had when it was created, else the store-wide one (docs/metrics.md).

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Weekday};
use chrono_tz::Tz;
use serde::Deserialize;

use crate::error::MetricsError;

/// Microseconds per minute.
pub const MINUTE_MICROS: i64 = 60_000_000;
const DAY_MINUTES: u16 = 24 * 60;

/// One open interval on a weekday, in local minutes since midnight (`end` may be 1440).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenInterval {
    /// The weekday.
    pub weekday: Weekday,
    /// Opening minute (0..1440).
    pub start_minute: u16,
    /// Closing minute (start < end <= 1440).
    pub end_minute: u16,
}

/// Business hours.
#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    /// Name (for reports).
    pub name: String,
    /// Time zone of the open intervals and holidays.
    pub time_zone: Tz,
    /// Weekly open intervals, sorted.
    pub open: Vec<OpenInterval>,
    /// Local dates that are closed all day.
    pub holidays: BTreeSet<NaiveDate>,
}

impl Schedule {
    /// Open all the time (business time equals calendar time).
    pub fn always_open() -> Schedule {
        let open = [Weekday::Mon, Weekday::Tue, Weekday::Wed, Weekday::Thu, Weekday::Fri, Weekday::Sat, Weekday::Sun]
            .into_iter()
            .map(|weekday| OpenInterval { weekday, start_minute: 0, end_minute: DAY_MINUTES })
            .collect();
        Schedule { name: "24/7".to_owned(), time_zone: Tz::UTC, open, holidays: BTreeSet::new() }
    }

    /// Monday to Friday, `start_hour` to `end_hour`, in `time_zone`.
    pub fn weekdays(name: &str, time_zone: Tz, start_hour: u16, end_hour: u16) -> Schedule {
        let open = [Weekday::Mon, Weekday::Tue, Weekday::Wed, Weekday::Thu, Weekday::Fri]
            .into_iter()
            .map(|weekday| OpenInterval { weekday, start_minute: start_hour * 60, end_minute: end_hour * 60 })
            .collect();
        Schedule { name: name.to_owned(), time_zone, open, holidays: BTreeSet::new() }
    }

    fn to_utc_micros(&self, local: NaiveDateTime) -> i64 {
        // In a daylight-saving gap the local time does not exist: take the first instant after it.
        let resolved = self
            .time_zone
            .from_local_datetime(&local)
            .earliest()
            .or_else(|| self.time_zone.from_local_datetime(&(local + Duration::hours(1))).earliest());
        resolved.map_or(i64::MAX, |instant| instant.timestamp_micros())
    }

    fn local_date(&self, micros: i64) -> NaiveDate {
        let utc = DateTime::from_timestamp_micros(micros).unwrap_or_default();
        utc.with_timezone(&self.time_zone).date_naive()
    }

    /// The open intervals of one local date, as UTC microsecond ranges.
    fn open_ranges(&self, date: NaiveDate) -> impl Iterator<Item = (i64, i64)> + '_ {
        let holiday = self.holidays.contains(&date);
        self.open.iter().filter(move |interval| !holiday && interval.weekday == date.weekday()).map(move |interval| {
            let at = |minute: u16| {
                let day = date + Duration::days(i64::from(minute / DAY_MINUTES));
                let time = NaiveTime::from_hms_opt(u32::from((minute % DAY_MINUTES) / 60), u32::from(minute % 60), 0)
                    .unwrap_or_default();
                self.to_utc_micros(day.and_time(time))
            };
            (at(interval.start_minute), at(interval.end_minute))
        })
    }

    /// Business microseconds in `[from, to)`.
    pub fn business_micros(&self, from: i64, to: i64) -> i64 {
        if to <= from {
            return 0;
        }
        let mut total = 0;
        let mut date = self.local_date(from) - Duration::days(1);
        let last = self.local_date(to) + Duration::days(1);
        while date <= last {
            for (open, close) in self.open_ranges(date) {
                let overlap = close.min(to) - open.max(from);
                if overlap > 0 {
                    total += overlap;
                }
            }
            date += Duration::days(1);
        }
        total
    }

    /// The instant at which `business` microseconds of open time have passed since `from`
    /// (`None` if the schedule is never open within ten years).
    pub fn add_business(&self, from: i64, business: i64) -> Option<i64> {
        if business <= 0 {
            return Some(from);
        }
        let mut left = business;
        let mut date = self.local_date(from) - Duration::days(1);
        let stop = date + Duration::days(3660);
        while date <= stop {
            let mut ranges: Vec<(i64, i64)> = self.open_ranges(date).collect();
            ranges.sort_unstable();
            for (open, close) in ranges {
                let start = open.max(from);
                if close <= start {
                    continue;
                }
                if close - start >= left {
                    return Some(start + left);
                }
                left -= close - start;
            }
            date += Duration::days(1);
        }
        None
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ScheduleFile {
    #[serde(default)]
    name: Option<String>,
    time_zone: String,
    /// `"mon": ["09:00-12:00", "13:00-18:00"]` or `"mon": "09:00-18:00"`.
    weekly: BTreeMap<String, OneOrMany>,
    #[serde(default)]
    holidays: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SchedulesFile {
    default: ScheduleFile,
    #[serde(default)]
    groups: BTreeMap<String, ScheduleFile>,
}

fn parse_minute(text: &str) -> Option<u16> {
    let (hours, minutes) = text.trim().split_once(':')?;
    let (hours, minutes): (u16, u16) = (hours.parse().ok()?, minutes.parse().ok()?);
    (minutes < 60 && (hours < 24 || (hours == 24 && minutes == 0))).then_some(hours * 60 + minutes)
}

fn parse_weekday(text: &str) -> Option<Weekday> {
    Some(match text.trim().to_ascii_lowercase().as_str() {
        "mon" | "monday" => Weekday::Mon,
        "tue" | "tuesday" => Weekday::Tue,
        "wed" | "wednesday" => Weekday::Wed,
        "thu" | "thursday" => Weekday::Thu,
        "fri" | "friday" => Weekday::Fri,
        "sat" | "saturday" => Weekday::Sat,
        "sun" | "sunday" => Weekday::Sun,
        _ => return None,
    })
}

impl ScheduleFile {
    fn into_schedule(self, fallback_name: &str) -> Result<Schedule, MetricsError> {
        let bad = |what: String| MetricsError::InvalidSchedule(what);
        let time_zone: Tz =
            self.time_zone.parse().map_err(|_| bad(format!("unknown time zone {:?}", self.time_zone)))?;
        let mut open = Vec::new();
        for (day, spans) in self.weekly {
            let weekday = parse_weekday(&day).ok_or_else(|| bad(format!("unknown weekday {day:?}")))?;
            let spans = match spans {
                OneOrMany::One(span) => vec![span],
                OneOrMany::Many(spans) => spans,
            };
            for span in spans {
                let (start, end) =
                    span.split_once('-').ok_or_else(|| bad(format!("interval {span:?} is not HH:MM-HH:MM")))?;
                let (start_minute, end_minute) = parse_minute(start)
                    .zip(parse_minute(end))
                    .ok_or_else(|| bad(format!("interval {span:?} is not HH:MM-HH:MM")))?;
                if start_minute >= end_minute {
                    return Err(bad(format!("interval {span:?} ends before it starts")));
                }
                open.push(OpenInterval { weekday, start_minute, end_minute });
            }
        }
        open.sort_by_key(|i| (i.weekday.num_days_from_monday(), i.start_minute));
        for pair in open.windows(2) {
            if pair[0].weekday == pair[1].weekday && pair[1].start_minute < pair[0].end_minute {
                return Err(bad(format!("overlapping intervals on {}", pair[0].weekday)));
            }
        }
        let mut holidays = BTreeSet::new();
        for holiday in self.holidays {
            let date = NaiveDate::parse_from_str(&holiday, "%Y-%m-%d")
                .map_err(|_| bad(format!("holiday {holiday:?} is not YYYY-MM-DD")))?;
            holidays.insert(date);
        }
        Ok(Schedule { name: self.name.unwrap_or_else(|| fallback_name.to_owned()), time_zone, open, holidays })
    }
}

/// The store-wide schedule and the per-group ones.
#[derive(Debug, Clone, PartialEq)]
pub struct Schedules {
    /// Used by tickets whose group has no schedule of its own.
    pub default: Schedule,
    /// Per group.
    pub by_group: BTreeMap<String, Schedule>,
}

impl Default for Schedules {
    fn default() -> Schedules {
        Schedules { default: Schedule::always_open(), by_group: BTreeMap::new() }
    }
}

impl Schedules {
    /// The schedule of a ticket created in `group`.
    pub fn for_group(&self, group: Option<&str>) -> &Schedule {
        group.and_then(|g| self.by_group.get(g)).unwrap_or(&self.default)
    }

    /// Parses the JSON schedule file of docs/metrics.md:
    /// `{"default": {"time_zone": "Europe/Stockholm", "weekly": {"mon": "08:00-17:00", ...},
    /// "holidays": ["2012-12-25"]}, "groups": {"G97": {...}}}`.
    pub fn from_json(text: &str) -> Result<Schedules, MetricsError> {
        let file: SchedulesFile =
            serde_json::from_str(text).map_err(|e| MetricsError::InvalidSchedule(e.to_string()))?;
        let default = file.default.into_schedule("default")?;
        let mut by_group = BTreeMap::new();
        for (group, schedule) in file.groups {
            by_group.insert(group.clone(), schedule.into_schedule(&group)?);
        }
        Ok(Schedules { default, by_group })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> i64 {
        DateTime::parse_from_rfc3339(text).unwrap().timestamp_micros()
    }

    fn minutes(schedule: &Schedule, from: &str, to: &str) -> i64 {
        schedule.business_micros(at(from), at(to)) / MINUTE_MICROS
    }

    #[test]
    fn always_open_is_calendar_time() {
        let s = Schedule::always_open();
        assert_eq!(minutes(&s, "2026-03-02T10:00:00Z", "2026-03-04T10:30:00Z"), 2 * 1440 + 30);
    }

    #[test]
    fn nights_and_weekends_do_not_count() {
        let s = Schedule::weekdays("office", Tz::UTC, 9, 17);
        // Friday 16:00 -> Monday 10:00: one hour on Friday, one on Monday.
        assert_eq!(minutes(&s, "2026-03-06T16:00:00Z", "2026-03-09T10:00:00Z"), 120);
        // Entirely at night.
        assert_eq!(minutes(&s, "2026-03-03T18:00:00Z", "2026-03-04T08:00:00Z"), 0);
        // A full week.
        assert_eq!(minutes(&s, "2026-03-02T00:00:00Z", "2026-03-09T00:00:00Z"), 5 * 8 * 60);
    }

    #[test]
    fn holidays_are_closed() {
        let mut s = Schedule::weekdays("office", Tz::UTC, 9, 17);
        s.holidays.insert(NaiveDate::from_ymd_opt(2026, 3, 3).unwrap());
        assert_eq!(minutes(&s, "2026-03-02T09:00:00Z", "2026-03-05T09:00:00Z"), 2 * 8 * 60);
    }

    #[test]
    fn time_zones_and_daylight_saving() {
        // 09:00-17:00 in Seoul is 00:00-08:00 UTC.
        let seoul = Schedule::weekdays("seoul", "Asia/Seoul".parse().unwrap(), 9, 17);
        assert_eq!(minutes(&seoul, "2026-03-02T00:00:00Z", "2026-03-02T02:00:00Z"), 120);
        assert_eq!(minutes(&seoul, "2026-03-02T08:00:00Z", "2026-03-02T20:00:00Z"), 0);
        // New York: 09:00-17:00 EST is 14:00-22:00 UTC; after the switch to EDT on
        // 2026-03-08 it is 13:00-21:00 UTC.
        let ny = Schedule::weekdays("ny", "America/New_York".parse().unwrap(), 9, 17);
        assert_eq!(minutes(&ny, "2026-03-06T13:00:00Z", "2026-03-06T15:00:00Z"), 60);
        assert_eq!(minutes(&ny, "2026-03-09T13:00:00Z", "2026-03-09T15:00:00Z"), 120);
    }

    #[test]
    fn adding_business_time_skips_closed_hours() {
        let s = Schedule::weekdays("office", Tz::UTC, 9, 17);
        // 2 business hours from Friday 16:00 end on Monday 10:00.
        assert_eq!(s.add_business(at("2026-03-06T16:00:00Z"), 120 * MINUTE_MICROS), Some(at("2026-03-09T10:00:00Z")));
        let never = Schedule { open: Vec::new(), ..Schedule::always_open() };
        assert_eq!(never.add_business(0, MINUTE_MICROS), None);
    }

    #[test]
    fn schedule_files_parse_and_bad_ones_are_errors() {
        let text = r#"{"default": {"time_zone": "Europe/Stockholm", "weekly": {"mon": "08:00-17:00", "tue": ["08:00-12:00", "13:00-17:00"]}, "holidays": ["2012-12-25"]},
                       "groups": {"G97": {"time_zone": "UTC", "weekly": {"sat": "00:00-24:00"}}}}"#;
        let schedules = Schedules::from_json(text).unwrap();
        assert_eq!(schedules.default.open.len(), 3);
        assert_eq!(schedules.for_group(Some("G97")).name, "G97");
        assert_eq!(schedules.for_group(Some("other")).name, "default");
        for bad in [
            r#"{"default": {"time_zone": "Mars/Base", "weekly": {}}}"#,
            r#"{"default": {"time_zone": "UTC", "weekly": {"funday": "09:00-10:00"}}}"#,
            r#"{"default": {"time_zone": "UTC", "weekly": {"mon": "10:00-09:00"}}}"#,
            r#"{"default": {"time_zone": "UTC", "weekly": {"mon": ["09:00-12:00", "11:00-13:00"]}}}"#,
            r#"{"default": {"time_zone": "UTC", "weekly": {}, "holidays": ["25/12/2012"]}}"#,
        ] {
            assert!(matches!(Schedules::from_json(bad), Err(MetricsError::InvalidSchedule(_))), "{bad}");
        }
    }
}
