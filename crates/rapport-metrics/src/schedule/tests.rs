//! Schedule arithmetic against hand-computed answers: nights, weekends, holidays in the
//! schedule's own zone, intervals ending at 24:00, daylight-saving gaps and overlaps, deadlines
//! across weekends; and schedule files that must be refused (never a panic).

use super::*;

fn at(text: &str) -> i64 {
    DateTime::parse_from_rfc3339(text).unwrap().timestamp_micros()
}

fn minutes(schedule: &Schedule, from: &str, to: &str) -> i64 {
    let micros = schedule.business_micros(at(from), at(to));
    assert_eq!(micros % MINUTE_MICROS, 0, "whole minutes expected: {micros}");
    micros / MINUTE_MICROS
}

fn date(text: &str) -> NaiveDate {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap()
}

fn zone(name: &str) -> Tz {
    name.parse().unwrap()
}

/// One interval on one weekday.
fn on(weekday: Weekday, start: &str, end: &str) -> OpenInterval {
    OpenInterval { weekday, start_minute: parse_minute(start).unwrap(), end_minute: parse_minute(end).unwrap() }
}

#[test]
fn always_open_is_calendar_time() {
    let s = Schedule::always_open();
    assert_eq!(minutes(&s, "2026-03-02T10:00:00Z", "2026-03-04T10:30:00Z"), 2 * 1440 + 30);
    assert_eq!(minutes(&s, "2026-03-04T10:30:00Z", "2026-03-02T10:00:00Z"), 0, "reversed ranges are empty");
}

#[test]
fn nights_and_weekends_do_not_count() {
    let s = Schedule::weekdays("office", Tz::UTC, 9, 17).unwrap();
    // Friday 16:00 -> Monday 10:00: one hour on Friday, one on Monday.
    assert_eq!(minutes(&s, "2026-03-06T16:00:00Z", "2026-03-09T10:00:00Z"), 120);
    // Entirely at night.
    assert_eq!(minutes(&s, "2026-03-03T18:00:00Z", "2026-03-04T08:00:00Z"), 0);
    // A full week: 5 days x 8 h.
    assert_eq!(minutes(&s, "2026-03-02T00:00:00Z", "2026-03-09T00:00:00Z"), 5 * 8 * 60);
    // 52 weeks + 1 day (a Monday) from Monday 2026-03-02: 52 x 40 h + 8 h.
    assert_eq!(minutes(&s, "2026-03-02T00:00:00Z", "2027-03-02T00:00:00Z"), (52 * 40 + 8) * 60);
}

#[test]
fn holidays_are_closed() {
    let s = Schedule::weekdays("office", Tz::UTC, 9, 17).unwrap().with_holidays([date("2026-03-03")]).unwrap();
    // Monday 09:00 -> Thursday 09:00: Monday 8 h, Tuesday holiday, Wednesday 8 h.
    assert_eq!(minutes(&s, "2026-03-02T09:00:00Z", "2026-03-05T09:00:00Z"), 2 * 8 * 60);
    // Starting and ending inside the holiday.
    assert_eq!(minutes(&s, "2026-03-03T10:00:00Z", "2026-03-03T12:00:00Z"), 0);
}

#[test]
fn holidays_are_local_dates_of_the_schedules_zone() {
    // Open around the clock in Seoul (UTC+9, no daylight saving) except the holiday
    // 2026-03-04, which in UTC is 2026-03-03T15:00Z .. 2026-03-04T15:00Z.
    let all_day = WEEKDAYS.iter().map(|&d| on(d, "00:00", "24:00")).collect();
    let s = Schedule::new("seoul", zone("Asia/Seoul"), all_day, [date("2026-03-04")]).unwrap();
    // 2026-03-03T12:00Z .. 2026-03-04T18:00Z is 30 h, of which 24 h are the holiday: 6 h.
    assert_eq!(minutes(&s, "2026-03-03T12:00:00Z", "2026-03-04T18:00:00Z"), 6 * 60);
    // The UTC date 2026-03-04 from 15:00Z on is already 2026-03-05 in Seoul: open.
    assert_eq!(minutes(&s, "2026-03-04T15:00:00Z", "2026-03-04T16:00:00Z"), 60);
}

#[test]
fn time_zones_and_daylight_saving() {
    // 09:00-17:00 in Seoul is 00:00-08:00 UTC.
    let seoul = Schedule::weekdays("seoul", zone("Asia/Seoul"), 9, 17).unwrap();
    assert_eq!(minutes(&seoul, "2026-03-02T00:00:00Z", "2026-03-02T02:00:00Z"), 120);
    assert_eq!(minutes(&seoul, "2026-03-02T08:00:00Z", "2026-03-02T20:00:00Z"), 0);
    // New York: 09:00-17:00 EST (UTC-5) is 14:00-22:00 UTC; after the switch to EDT (UTC-4) on
    // Sunday 2026-03-08 it is 13:00-21:00 UTC.
    let ny = Schedule::weekdays("ny", zone("America/New_York"), 9, 17).unwrap();
    assert_eq!(minutes(&ny, "2026-03-06T13:00:00Z", "2026-03-06T15:00:00Z"), 60);
    assert_eq!(minutes(&ny, "2026-03-09T13:00:00Z", "2026-03-09T15:00:00Z"), 120);
    // Friday 16:00 EST (21:00Z) -> Monday 10:00 EDT (14:00Z): 1 h + 1 h, across the switch.
    assert_eq!(minutes(&ny, "2026-03-06T21:00:00Z", "2026-03-09T14:00:00Z"), 120);
}

#[test]
fn daylight_saving_gap() {
    // New York, Sunday 2026-03-08: at 07:00Z the clock jumps from 02:00 EST to 03:00 EDT, so
    // local 02:00-03:00 does not exist.
    let ny = zone("America/New_York");
    // 01:00-04:00 local: 01:00-02:00 EST (06:00Z-07:00Z) and 03:00-04:00 EDT (07:00Z-08:00Z) = 2 h.
    let s = Schedule::new("gap", ny, vec![on(Weekday::Sun, "01:00", "04:00")], []).unwrap();
    assert_eq!(minutes(&s, "2026-03-08T00:00:00Z", "2026-03-09T00:00:00Z"), 120);
    // Opening inside the gap: 02:30-05:00 opens at the first instant whose local time is past
    // 02:30, which is 03:00 EDT = 07:00Z, and closes at 05:00 EDT = 09:00Z: 2 h.
    let s = Schedule::new("gap", ny, vec![on(Weekday::Sun, "02:30", "05:00")], []).unwrap();
    assert_eq!(minutes(&s, "2026-03-08T00:00:00Z", "2026-03-09T00:00:00Z"), 120);
    assert_eq!(minutes(&s, "2026-03-08T06:59:00Z", "2026-03-08T07:01:00Z"), 1, "opens at 07:00Z");
    // Closing inside the gap: 00:00-02:30 runs from 00:00 EST (05:00Z) until the jump at 07:00Z.
    let s = Schedule::new("gap", ny, vec![on(Weekday::Sun, "00:00", "02:30")], []).unwrap();
    assert_eq!(minutes(&s, "2026-03-08T00:00:00Z", "2026-03-09T00:00:00Z"), 120);
}

#[test]
fn daylight_saving_overlap() {
    // Berlin, Sunday 2026-10-25: at 01:00Z the clock goes back from 03:00 CEST (UTC+2) to
    // 02:00 CET (UTC+1), so local 02:00-03:00 happens twice.
    let berlin = zone("Europe/Berlin");
    // 01:00-04:00 local: 01:00 CEST (23:00Z Saturday) to 04:00 CET (03:00Z) = 4 h.
    let s = Schedule::new("overlap", berlin, vec![on(Weekday::Sun, "01:00", "04:00")], []).unwrap();
    assert_eq!(minutes(&s, "2026-10-24T12:00:00Z", "2026-10-25T12:00:00Z"), 240);
    // 00:00-02:30 local: 00:00-02:30 CEST (22:00Z-00:30Z) = 2.5 h, then 02:00-02:30 CET
    // (01:00Z-01:30Z) = 0.5 h; from 00:30Z to 01:00Z the clock reads 02:30-03:00 CEST: closed.
    let s = Schedule::new("overlap", berlin, vec![on(Weekday::Sun, "00:00", "02:30")], []).unwrap();
    assert_eq!(minutes(&s, "2026-10-24T12:00:00Z", "2026-10-25T12:00:00Z"), 180);
    assert_eq!(minutes(&s, "2026-10-25T00:30:00Z", "2026-10-25T01:00:00Z"), 0);
    assert_eq!(minutes(&s, "2026-10-25T00:00:00Z", "2026-10-25T01:15:00Z"), 30 + 15);
}

#[test]
fn intervals_ending_at_midnight_join_the_next_day() {
    // Saturday 20:00-24:00 and Sunday 00:00-02:00 UTC: Saturday 22:00 -> Sunday 01:00 is 3 h.
    let open = vec![on(Weekday::Sat, "20:00", "24:00"), on(Weekday::Sun, "00:00", "02:00")];
    let s = Schedule::new("late", Tz::UTC, open, []).unwrap();
    assert_eq!(minutes(&s, "2026-03-07T22:00:00Z", "2026-03-08T01:00:00Z"), 180);
    // 1 business hour from Saturday 23:30 ends Sunday 00:30.
    assert_eq!(s.add_business(at("2026-03-07T23:30:00Z"), 60 * MINUTE_MICROS), Some(at("2026-03-08T00:30:00Z")));
}

#[test]
fn adding_business_time_skips_closed_hours() {
    let s = Schedule::weekdays("office", Tz::UTC, 9, 17).unwrap();
    let add = |from: &str, minutes: i64| s.add_business(at(from), minutes * MINUTE_MICROS);
    // 2 business hours from Friday 16:00: 1 h on Friday, the other on Monday: Monday 10:00.
    assert_eq!(add("2026-03-06T16:00:00Z", 120), Some(at("2026-03-09T10:00:00Z")));
    // Exactly reaching the close is on Friday (the first instant with 2 h passed), not Monday 09:00.
    assert_eq!(add("2026-03-06T15:00:00Z", 120), Some(at("2026-03-06T17:00:00Z")));
    // From Saturday noon: nothing until Monday 09:00, then 30 minutes.
    assert_eq!(add("2026-03-07T12:00:00Z", 30), Some(at("2026-03-09T09:30:00Z")));
    // Zero business time is the start itself.
    assert_eq!(add("2026-03-07T12:00:00Z", 0), Some(at("2026-03-07T12:00:00Z")));
    // With Monday a holiday, Friday 16:00 + 2 h runs to Tuesday 10:00.
    let s = s.with_holidays([date("2026-03-09")]).unwrap();
    assert_eq!(s.add_business(at("2026-03-06T16:00:00Z"), 120 * MINUTE_MICROS), Some(at("2026-03-10T10:00:00Z")));
    // New York across the switch to EDT: Friday 16:00 EST (21:00Z) + 2 h = Monday 10:00 EDT (14:00Z).
    let ny = Schedule::weekdays("ny", zone("America/New_York"), 9, 17).unwrap();
    assert_eq!(ny.add_business(at("2026-03-06T21:00:00Z"), 120 * MINUTE_MICROS), Some(at("2026-03-09T14:00:00Z")));
    // Never open: no deadline within the horizon.
    assert_eq!(Schedule::closed("never").add_business(0, MINUTE_MICROS), None);
    // Extreme instants are clamped, not overflowed.
    assert_eq!(Schedule::always_open().business_micros(i64::MIN, i64::MAX), 2 * INSTANT_MICROS_MAX);
    assert!(ny.add_business(i64::MAX, i64::MAX).is_none());
}

#[test]
fn schedule_files_parse_and_bad_ones_are_errors() {
    let text = r#"{"default": {"time_zone": "Europe/Stockholm", "weekly": {"mon": "08:00-17:00", "tue": ["08:00-12:00", "13:00-17:00"]}, "holidays": ["2012-12-25"]},
                   "groups": {"G97": {"time_zone": "UTC", "weekly": {"sat": "00:00-24:00"}}}}"#;
    let schedules = Schedules::from_json(text).unwrap();
    assert_eq!(schedules.default.open().len(), 3);
    assert_eq!(schedules.default.holidays().len(), 1);
    assert_eq!(schedules.for_group(Some("G97")).name(), "G97");
    assert_eq!(schedules.for_group(Some("other")).name(), "default");
    assert_eq!(schedules.for_group(None).name(), "default");
    let too_many: Vec<String> = (0..49)
        .map(|i| format!("\"{:02}:{:02}-{:02}:{:02}\"", i / 2, (i % 2) * 30, i / 2, (i % 2) * 30 + 10))
        .collect();
    let too_many = format!(r#"{{"default": {{"time_zone": "UTC", "weekly": {{"mon": [{}]}}}}}}"#, too_many.join(","));
    for bad in [
        "",
        "[]",
        r#"{"default": {"time_zone": "Mars/Base", "weekly": {}}}"#,
        r#"{"default": {"time_zone": "UTC", "weekly": {"funday": "09:00-10:00"}}}"#,
        r#"{"default": {"time_zone": "UTC", "weekly": {"mon": "10:00-09:00"}}}"#,
        r#"{"default": {"time_zone": "UTC", "weekly": {"mon": "09:00"}}}"#,
        r#"{"default": {"time_zone": "UTC", "weekly": {"mon": "09:00-24:30"}}}"#,
        r#"{"default": {"time_zone": "UTC", "weekly": {"mon": "2000:00-2001:00"}}}"#,
        r#"{"default": {"time_zone": "UTC", "weekly": {"mon": "99999:00-99999:30"}}}"#,
        r#"{"default": {"time_zone": "UTC", "weekly": {"mon": "-1:00-02:00"}}}"#,
        r#"{"default": {"time_zone": "UTC", "weekly": {"mon": 5}}}"#,
        r#"{"default": {"time_zone": "UTC", "weekly": {"mon": ["09:00-12:00", "11:00-13:00"]}}}"#,
        r#"{"default": {"time_zone": "UTC", "weekly": {}, "holidays": ["25/12/2012"]}}"#,
        r#"{"default": {"time_zone": "UTC", "weekly": {}}, "extra": 1}"#,
        too_many.as_str(),
    ] {
        let result = Schedules::from_json(bad);
        assert!(matches!(result, Err(MetricsError::InvalidSchedule { .. })), "{bad}: {result:?}");
    }
    let result = Schedule::weekdays("office", Tz::UTC, 17, 9);
    assert!(matches!(result, Err(MetricsError::InvalidSchedule { .. })), "{result:?}");
    let result = Schedule::new(
        "x",
        Tz::UTC,
        vec![OpenInterval { weekday: Weekday::Mon, start_minute: 0, end_minute: 1441 }],
        [],
    );
    assert!(matches!(result, Err(MetricsError::InvalidSchedule { .. })), "{result:?}");
}

#[test]
fn the_offset_table_finds_every_change_in_a_year() {
    // New York changes twice a year: 2026-03-08T07:00Z (to EDT) and 2026-11-01T06:00Z (to EST).
    let s = Schedule::weekdays("ny", zone("America/New_York"), 9, 17).unwrap();
    let in_2026: Vec<(i64, i64)> = s
        .offsets
        .changes
        .iter()
        .copied()
        .filter(|(change, _)| (at("2026-01-01T00:00:00Z")..at("2027-01-01T00:00:00Z")).contains(change))
        .collect();
    let hour = 3600 * SECOND_MICROS;
    assert_eq!(in_2026, vec![(at("2026-03-08T07:00:00Z"), -4 * hour), (at("2026-11-01T06:00:00Z"), -5 * hour)]);
    assert!(Schedule::always_open().offsets.changes.is_empty());
}
