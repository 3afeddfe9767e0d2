//! Business hours: a time zone (IANA, daylight saving included), weekly open intervals in local
//! time, and holidays (local dates). An instant is *open* when its local date (in the schedule's
//! zone) is not a holiday and its local time of day lies in an open interval of that weekday;
//! business time of an interval is the measure of its open instants. One store-wide schedule,
//! optionally one per group; a ticket uses the schedule of the group it was created in, else the
//! store-wide one (docs/metrics.md).
//!
//! Method: between two changes of the zone's UTC offset, local time is UTC plus a constant, so
//! the open time of a UTC range is the open time of the shifted range on the local (naive)
//! timeline, which is a weekly pattern minus holidays: a cumulative sum computed in O(log h)
//! (h = holidays). The offset changes are found once per schedule. A query costs
//! O(log t + k + log h) for t offset changes of which k fall inside the range — independent of how
//! many days the range spans.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Offset, TimeZone, Weekday};
use chrono_tz::Tz;
use serde::Deserialize;

use crate::error::MetricsError;

/// Microseconds per minute.
pub const MINUTE_MICROS: i64 = 60_000_000;
const SECOND_MICROS: i64 = 1_000_000;
const DAY_MICROS: i64 = 86_400_000_000;
const WEEK_MICROS: i64 = 7 * DAY_MICROS;
const DAY_MINUTES: u16 = 24 * 60;
/// Open intervals per weekday, at most.
pub const INTERVALS_PER_DAY_MAX: usize = 48;
/// Holidays per schedule, at most.
pub const HOLIDAYS_MAX: usize = 10_000;
/// Schedules per schedule file (store-wide plus per group), at most.
pub const SCHEDULES_MAX: usize = 1_000;
/// How far [`Schedule::add_business`] looks ahead before it gives up (about ten years).
pub const ADD_BUSINESS_HORIZON_DAYS: i64 = 3_660;
/// Instants are clamped to ±this many microseconds (about ±36 000 years) so that no arithmetic
/// on them can overflow.
const INSTANT_MICROS_MAX: i64 = 1 << 60;
/// The zone's offset changes are searched in [1900, 2101); chrono-tz's data is constant after
/// 2099, and before 1900 the offset in force on 1900-01-01 is used.
const OFFSET_SCAN_START_SECONDS: i64 = -2_208_988_800; // 1900-01-01T00:00:00Z
const OFFSET_SCAN_END_SECONDS: i64 = 4_133_980_800; // 2101-01-01T00:00:00Z
const DAY_SECONDS: i64 = 86_400;

/// One open interval on a weekday, in local minutes since midnight (`end` may be 1440).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct OpenInterval {
    /// The weekday.
    pub weekday: Weekday,
    /// Opening minute (0..1440).
    pub start_minute: u16,
    /// Closing minute (start < end <= 1440); the interval is `[start, end)`.
    pub end_minute: u16,
}

/// The zone's UTC offset over time: `first` before the first change, then `(at, offset)` from
/// `at` on (UTC microseconds, offset microseconds). Invariant: `changes` is sorted by `at`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct OffsetTable {
    first: i64,
    changes: Vec<(i64, i64)>,
}

fn offset_seconds(time_zone: Tz, utc_seconds: i64) -> i64 {
    DateTime::from_timestamp(utc_seconds, 0)
        .map_or(0, |utc| i64::from(time_zone.offset_from_utc_datetime(&utc.naive_utc()).fix().local_minus_utc()))
}

impl OffsetTable {
    fn new(time_zone: Tz) -> OffsetTable {
        let first = offset_seconds(time_zone, OFFSET_SCAN_START_SECONDS);
        let mut changes = Vec::new();
        if time_zone != Tz::UTC {
            let mut from = OFFSET_SCAN_START_SECONDS;
            let mut from_offset = first;
            while from < OFFSET_SCAN_END_SECONDS {
                let to = from + DAY_SECONDS;
                let to_offset = offset_seconds(time_zone, to);
                if to_offset != from_offset {
                    find_changes(time_zone, (from, from_offset), (to, to_offset), &mut changes);
                }
                (from, from_offset) = (to, to_offset);
            }
        }
        let changes = changes.into_iter().map(|(at, offset)| (at * SECOND_MICROS, offset * SECOND_MICROS)).collect();
        OffsetTable { first: first * SECOND_MICROS, changes }
    }

    /// The offset in force at `at`, and the index of the next change after `at`.
    fn at(&self, at: i64) -> (i64, usize) {
        let next = self.changes.partition_point(|(change, _)| *change <= at);
        let offset = match next.checked_sub(1).and_then(|last| self.changes.get(last)) {
            Some((_, offset)) => *offset,
            None => self.first,
        };
        (offset, next)
    }
}

/// Every offset change in `(from, to]` (seconds), given the offsets at both ends differ or the
/// range is split further. Tz offsets change on whole seconds.
fn find_changes(time_zone: Tz, from: (i64, i64), to: (i64, i64), out: &mut Vec<(i64, i64)>) {
    if from.1 == to.1 {
        return;
    }
    if to.0 - from.0 <= 1 {
        out.push(to);
        return;
    }
    let middle = from.0 + (to.0 - from.0) / 2;
    let middle = (middle, offset_seconds(time_zone, middle));
    find_changes(time_zone, from, middle, out);
    find_changes(time_zone, middle, to, out);
}

/// Business hours. Build one with [`Schedule::new`], [`Schedule::always_open`],
/// [`Schedule::weekdays`] or [`Schedules::from_json`].
#[derive(Clone, serde::Serialize, serde::Deserialize)]
pub struct Schedule {
    name: String,
    time_zone: Tz,
    /// Sorted by weekday, then start; no two intervals of a weekday overlap.
    open: Vec<OpenInterval>,
    holidays: BTreeSet<NaiveDate>,
    // Derived from the above (pure functions of them).
    /// Per weekday (Monday = 0): open `[start, end)` in microseconds since local midnight.
    day_intervals: [Vec<(i64, i64)>; 7],
    /// `week_prefix[w]`: open microseconds of the weekdays before `w` (Monday = 0); `[7]` is
    /// the whole week.
    week_prefix: [i64; 8],
    /// Holidays as local day numbers (days since 1970-01-01), sorted.
    holiday_days: Vec<i64>,
    /// `holiday_prefix[i]`: open microseconds the first `i` holidays close.
    holiday_prefix: Vec<i64>,
    offsets: Arc<OffsetTable>,
}

impl PartialEq for Schedule {
    fn eq(&self, other: &Schedule) -> bool {
        // Everything else is derived from these.
        self.name == other.name
            && self.time_zone == other.time_zone
            && self.open == other.open
            && self.holidays == other.holidays
    }
}

impl fmt::Debug for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Schedule")
            .field("name", &self.name)
            .field("time_zone", &self.time_zone)
            .field("open", &self.open)
            .field("holidays", &self.holidays)
            .finish()
    }
}

/// Monday = 0 of local day number `day` (1970-01-01 was a Thursday).
/// The entry of `weekday` in a per-weekday array (Monday first).
#[expect(clippy::indexing_slicing, reason = "num_days_from_monday is in 0..7, the array's length")]
fn weekday_slot<T>(days: &mut [T; 7], weekday: Weekday) -> &mut T {
    &mut days[weekday.num_days_from_monday() as usize]
}

fn weekday_index(day: i64) -> usize {
    (day + 3).rem_euclid(7) as usize
}

fn clamp_instant(at: i64) -> i64 {
    at.clamp(-INSTANT_MICROS_MAX, INSTANT_MICROS_MAX)
}

const WEEKDAYS: [Weekday; 7] =
    [Weekday::Mon, Weekday::Tue, Weekday::Wed, Weekday::Thu, Weekday::Fri, Weekday::Sat, Weekday::Sun];

impl Schedule {
    /// A schedule from its definition. Intervals must satisfy `start < end <= 1440`, must not
    /// overlap on a weekday, and there may be at most [`INTERVALS_PER_DAY_MAX`] per weekday and
    /// [`HOLIDAYS_MAX`] holidays.
    pub fn new(
        name: &str,
        time_zone: Tz,
        mut open: Vec<OpenInterval>,
        holidays: impl IntoIterator<Item = NaiveDate>,
    ) -> Result<Schedule, MetricsError> {
        let bad = |reason: String| MetricsError::InvalidSchedule { schedule: name.to_owned(), reason };
        for interval in &open {
            if interval.start_minute >= interval.end_minute || interval.end_minute > DAY_MINUTES {
                return Err(bad(format!(
                    "interval {}-{} on {} must satisfy start < end <= 1440 minutes",
                    interval.start_minute, interval.end_minute, interval.weekday
                )));
            }
        }
        open.sort_by_key(|i| (i.weekday.num_days_from_monday(), i.start_minute));
        for (first, second) in open.iter().zip(open.iter().skip(1)) {
            if first.weekday == second.weekday && second.start_minute < first.end_minute {
                return Err(bad(format!("overlapping intervals on {}", first.weekday)));
            }
        }
        let holidays: BTreeSet<NaiveDate> = holidays.into_iter().collect();
        if holidays.len() > HOLIDAYS_MAX {
            return Err(bad(format!("{} holidays; at most {HOLIDAYS_MAX}", holidays.len())));
        }
        let mut day_intervals: [Vec<(i64, i64)>; 7] = Default::default();
        for interval in &open {
            let day = weekday_slot(&mut day_intervals, interval.weekday);
            day.push((
                i64::from(interval.start_minute) * MINUTE_MICROS,
                i64::from(interval.end_minute) * MINUTE_MICROS,
            ));
            if day.len() > INTERVALS_PER_DAY_MAX {
                return Err(bad(format!("more than {INTERVALS_PER_DAY_MAX} intervals on {}", interval.weekday)));
            }
        }
        let mut week_prefix = [0i64; 8];
        let mut open_before = 0;
        for (prefix, day) in week_prefix.iter_mut().skip(1).zip(&day_intervals) {
            open_before += day.iter().map(|(start, end)| end - start).sum::<i64>();
            *prefix = open_before;
        }
        let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default();
        let holiday_days: Vec<i64> = holidays.iter().map(|date| (*date - epoch).num_days()).collect();
        let mut holiday_prefix = Vec::with_capacity(holiday_days.len() + 1);
        holiday_prefix.push(0);
        for day in &holiday_days {
            let closed: i64 = day_intervals
                .get(weekday_index(*day))
                .map_or(0, |day| day.iter().map(|(start, end)| end - start).sum());
            holiday_prefix.push(holiday_prefix.last().copied().unwrap_or(0) + closed);
        }
        Ok(Schedule {
            name: name.to_owned(),
            time_zone,
            open,
            holidays,
            day_intervals,
            week_prefix,
            holiday_days,
            holiday_prefix,
            offsets: Arc::new(OffsetTable::new(time_zone)),
        })
    }

    /// Open all the time (business time equals calendar time).
    pub fn always_open() -> Schedule {
        let open =
            WEEKDAYS.into_iter().map(|weekday| OpenInterval { weekday, start_minute: 0, end_minute: DAY_MINUTES });
        // Cannot fail: seven whole days, no overlap, no holidays.
        Schedule::new("24/7", Tz::UTC, open.collect(), []).unwrap_or_else(|_| Schedule::closed("24/7"))
    }

    /// Never open (business time is always zero).
    pub fn closed(name: &str) -> Schedule {
        Schedule {
            name: name.to_owned(),
            time_zone: Tz::UTC,
            open: Vec::new(),
            holidays: BTreeSet::new(),
            day_intervals: Default::default(),
            week_prefix: [0; 8],
            holiday_days: Vec::new(),
            holiday_prefix: vec![0],
            offsets: Arc::new(OffsetTable { first: 0, changes: Vec::new() }),
        }
    }

    /// Monday to Friday, `start_hour` to `end_hour` (`start_hour < end_hour <= 24`), in
    /// `time_zone`.
    pub fn weekdays(name: &str, time_zone: Tz, start_hour: u16, end_hour: u16) -> Result<Schedule, MetricsError> {
        if start_hour >= end_hour || end_hour > 24 {
            return Err(MetricsError::InvalidSchedule {
                schedule: name.to_owned(),
                reason: format!("hours {start_hour}-{end_hour} must satisfy start < end <= 24"),
            });
        }
        let open = WEEKDAYS[..5].iter().map(|&weekday| OpenInterval {
            weekday,
            start_minute: start_hour * 60,
            end_minute: end_hour * 60,
        });
        Schedule::new(name, time_zone, open.collect(), [])
    }

    /// The same schedule with these holidays added.
    pub fn with_holidays(self, holidays: impl IntoIterator<Item = NaiveDate>) -> Result<Schedule, MetricsError> {
        let all = self.holidays.iter().copied().chain(holidays);
        Schedule::new(&self.name, self.time_zone, self.open, all)
    }

    /// Name (for reports).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Time zone of the open intervals and holidays.
    pub fn time_zone(&self) -> Tz {
        self.time_zone
    }

    /// Weekly open intervals, sorted by weekday and start.
    pub fn open(&self) -> &[OpenInterval] {
        &self.open
    }

    /// Local dates that are closed all day.
    pub fn holidays(&self) -> &BTreeSet<NaiveDate> {
        &self.holidays
    }

    /// The open intervals of weekday `weekday` (0 = Monday).
    #[expect(
        clippy::indexing_slicing,
        reason = "weekdays come from rem_euclid(7), so they are below 7, the length of day_intervals"
    )]
    fn intervals_of(&self, weekday: usize) -> &[(i64, i64)] {
        &self.day_intervals[weekday]
    }

    /// Open microseconds of the weekdays before `weekday` (0 = Monday) in the week pattern.
    #[expect(
        clippy::indexing_slicing,
        reason = "weekdays come from rem_euclid(7), so they are below 7; week_prefix has 8"
    )]
    fn open_before_weekday(&self, weekday: usize) -> i64 {
        self.week_prefix[weekday]
    }

    /// Open microseconds that the first `count` holidays close.
    #[expect(
        clippy::indexing_slicing,
        reason = "count comes from partition_point on holiday_days, so it is at most holiday_days.len(), and holiday_prefix has one entry more (built in new)"
    )]
    fn closed_by_holidays(&self, count: usize) -> i64 {
        self.holiday_prefix[count]
    }

    fn is_always_open(&self) -> bool {
        self.week_prefix[7] == WEEK_MICROS && self.holiday_days.is_empty()
    }

    /// Open microseconds of weekday `weekday` before `micros` after local midnight.
    fn open_in_day(&self, weekday: usize, micros: i64) -> i64 {
        self.intervals_of(weekday).iter().map(|(start, end)| (micros.min(*end) - start).max(0)).sum()
    }

    /// Open microseconds on the local (naive) timeline from a fixed origin (a Monday midnight)
    /// to `local` (microseconds since 1970-01-01T00:00 local); nondecreasing, slope 0 or 1.
    fn cumulative(&self, local: i64) -> i64 {
        let day = local.div_euclid(DAY_MICROS);
        let in_day = local.rem_euclid(DAY_MICROS);
        let since_monday = day - 4; // 1970-01-05 was a Monday
        let weekday = since_monday.rem_euclid(7) as usize;
        let today = self.open_in_day(weekday, in_day);
        let raw = since_monday.div_euclid(7) * self.week_prefix[7] + self.open_before_weekday(weekday) + today;
        let before = self.holiday_days.partition_point(|holiday| *holiday < day);
        let closed =
            self.closed_by_holidays(before) + if self.holiday_days.get(before) == Some(&day) { today } else { 0 };
        raw - closed
    }

    /// The smallest local time `y >= local` with `need` open microseconds in `[local, y)`, on the
    /// local timeline. The caller has checked that the week pattern is open somewhere
    /// (`need <= available` in a segment), so this ends.
    fn advance(&self, local: i64, mut need: i64) -> i64 {
        let week_open = self.week_prefix[7];
        let mut day = local.div_euclid(DAY_MICROS);
        let mut in_day = local.rem_euclid(DAY_MICROS);
        loop {
            let weekday = weekday_index(day);
            if self.holiday_days.binary_search(&day).is_err() {
                for (start, end) in self.intervals_of(weekday) {
                    if *end <= in_day {
                        continue;
                    }
                    let from = (*start).max(in_day);
                    if end - from >= need {
                        return day * DAY_MICROS + from + need;
                    }
                    need -= end - from;
                }
            }
            day += 1;
            in_day = 0;
            // Skip whole weeks that cannot use up `need`: k weeks from a day's start hold
            // k·W open time minus the holidays among them, which is < need when k·W < need.
            if week_open > 0 && need > week_open {
                let weeks = (need - 1) / week_open;
                let first = self.holiday_days.partition_point(|h| *h < day);
                let last = self.holiday_days.partition_point(|h| *h < day + 7 * weeks);
                let closed = self.closed_by_holidays(last) - self.closed_by_holidays(first);
                need -= weeks * week_open - closed;
                day += 7 * weeks;
            }
        }
    }

    /// Business microseconds in `[from, to)` (unix microseconds).
    pub fn business_micros(&self, from: i64, to: i64) -> i64 {
        let (from, to) = (clamp_instant(from), clamp_instant(to));
        if to <= from {
            return 0;
        }
        if self.is_always_open() {
            return to - from;
        }
        let (mut offset, mut next) = self.offsets.at(from);
        let mut start = from;
        let mut total = 0;
        loop {
            let change = self.offsets.changes.get(next);
            let end = change.map_or(to, |(change, _)| (*change).min(to));
            total += self.cumulative(end + offset) - self.cumulative(start + offset);
            if end >= to {
                return total;
            }
            // `end < to` only happens before a next change.
            let Some((_, change_offset)) = change else { return total };
            offset = *change_offset;
            start = end;
            next += 1;
        }
    }

    /// The first instant at which `business` microseconds of open time have passed since `from`
    /// (`from` itself when `business <= 0`); `None` if that takes longer than
    /// [`ADD_BUSINESS_HORIZON_DAYS`].
    pub fn add_business(&self, from: i64, business: i64) -> Option<i64> {
        let from = clamp_instant(from);
        if business <= 0 {
            return Some(from);
        }
        let horizon = from + ADD_BUSINESS_HORIZON_DAYS * DAY_MICROS;
        if self.is_always_open() {
            return (business <= horizon - from).then(|| from + business);
        }
        let (mut offset, mut next) = self.offsets.at(from);
        let mut start = from;
        let mut left = business;
        loop {
            let change = self.offsets.changes.get(next);
            let end = change.map_or(horizon, |(change, _)| (*change).min(horizon));
            let available = self.cumulative(end + offset) - self.cumulative(start + offset);
            if available >= left {
                let local = self.advance(start + offset, left);
                debug_assert_eq!(self.cumulative(local) - self.cumulative(start + offset), left);
                return Some(local - offset);
            }
            left -= available;
            if end >= horizon {
                return None;
            }
            // `end < horizon` only happens before a next change.
            let (_, change_offset) = change?;
            offset = *change_offset;
            start = end;
            next += 1;
        }
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

/// `HH:MM` with `00:00 <= time <= 24:00`, as minutes since midnight.
fn parse_minute(text: &str) -> Option<u16> {
    let (hours, minutes) = text.trim().split_once(':')?;
    let (hours, minutes): (u16, u16) = (hours.parse().ok()?, minutes.parse().ok()?);
    (minutes < 60 && (hours < 24 || (hours == 24 && minutes == 0))).then(|| hours * 60 + minutes)
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
        let name = self.name.unwrap_or_else(|| fallback_name.to_owned());
        let bad = |reason: String| MetricsError::InvalidSchedule { schedule: name.clone(), reason };
        let time_zone: Tz =
            self.time_zone.parse().map_err(|_| bad(format!("unknown time zone {:?}", self.time_zone)))?;
        let mut open = Vec::new();
        for (day, spans) in self.weekly {
            let weekday = parse_weekday(&day).ok_or_else(|| bad(format!("unknown weekday {day:?}")))?;
            let spans = match spans {
                OneOrMany::One(span) => vec![span],
                OneOrMany::Many(spans) => spans,
            };
            if spans.len() > INTERVALS_PER_DAY_MAX {
                return Err(bad(format!("{} intervals on {day}; at most {INTERVALS_PER_DAY_MAX}", spans.len())));
            }
            for span in spans {
                let not_a_span = || bad(format!("interval {span:?} is not HH:MM-HH:MM within 00:00-24:00"));
                let (start, end) = span.split_once('-').ok_or_else(not_a_span)?;
                let (start_minute, end_minute) = parse_minute(start).zip(parse_minute(end)).ok_or_else(not_a_span)?;
                if start_minute >= end_minute {
                    return Err(bad(format!("interval {span:?} ends before it starts")));
                }
                open.push(OpenInterval { weekday, start_minute, end_minute });
            }
        }
        if self.holidays.len() > HOLIDAYS_MAX {
            return Err(bad(format!("{} holidays; at most {HOLIDAYS_MAX}", self.holidays.len())));
        }
        let mut holidays = BTreeSet::new();
        for holiday in &self.holidays {
            let date = NaiveDate::parse_from_str(holiday, "%Y-%m-%d")
                .map_err(|_| bad(format!("holiday {holiday:?} is not YYYY-MM-DD")))?;
            holidays.insert(date);
        }
        Schedule::new(&name, time_zone, open, holidays)
    }
}

impl Schedule {
    /// The schedule a `schedule.set` event defines: its time zone, weekly intervals
    /// (`"mon": ["09:00-12:00"]`) and holidays (`YYYY-MM-DD`), checked as a schedule file's are.
    /// The store parses every `schedule.set` with this before recording it.
    pub fn from_event(event: &rapport_events::ScheduleSet) -> Result<Schedule, MetricsError> {
        let weekly = event.intervals.iter().map(|(day, spans)| (day.clone(), OneOrMany::Many(spans.clone()))).collect();
        let file = ScheduleFile {
            name: Some(event.name.clone()),
            time_zone: event.timezone.clone(),
            weekly,
            holidays: event.holidays.clone(),
        };
        file.into_schedule(&event.name)
    }
}

/// The store-wide schedule and the per-group ones.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Schedules {
    /// Used by tickets created without a group or in a group without a schedule of its own.
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
        let file: SchedulesFile = serde_json::from_str(text)
            .map_err(|e| MetricsError::InvalidSchedule { schedule: "(file)".to_owned(), reason: e.to_string() })?;
        if file.groups.len() + 1 > SCHEDULES_MAX {
            return Err(MetricsError::InvalidSchedule {
                schedule: "(file)".to_owned(),
                reason: format!("{} schedules; at most {SCHEDULES_MAX}", file.groups.len() + 1),
            });
        }
        let default = file.default.into_schedule("default")?;
        let mut by_group = BTreeMap::new();
        for (group, schedule) in file.groups {
            let schedule = schedule.into_schedule(&group)?;
            by_group.insert(group, schedule);
        }
        Ok(Schedules { default, by_group })
    }
}

#[cfg(test)]
mod tests;
