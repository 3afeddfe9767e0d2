//! Criterion micro-benchmarks of business-time queries (`rapport_metrics::Schedule`): the
//! business minutes between two instants — within a day, over a week, over three months and over
//! two years — on office hours in New York (daylight saving changes inside the long ranges) with
//! two years of public holidays, and the due time of an 8-business-hour target
//! (`add_business`, what an SLA deadline needs); the always-open schedule for reference. Start
//! instants cycle through 1,024 times spread over 2026.
//!
//! Run: `cargo bench -p rapport-benches --bench schedule` (`-- --quick` for a rougher, faster
//! run). Figures are for comparison within one run on one machine.
#![allow(missing_docs, reason = "criterion_group! and criterion_main! generate undocumented items")]

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use rapport::metrics::{Schedule, Schedules, MINUTE_MICROS};

const HOUR: i64 = 60 * MINUTE_MICROS;
const DAY: i64 = 24 * HOUR;
/// 2026-01-05T00:00:00Z, a Monday.
const START: i64 = 1_767_571_200_000_000;
/// Start instants a benchmark cycles through.
const STARTS: usize = 1_024;

/// Office hours in New York with the US federal holidays of 2026 and 2027.
fn office() -> Schedules {
    Schedules::from_json(
        r#"{"default": {"time_zone": "America/New_York",
             "weekly": {"mon": "09:00-17:00", "tue": "09:00-17:00", "wed": ["09:00-12:00", "13:00-17:00"],
                        "thu": "09:00-17:00", "fri": "09:00-16:00", "sat": "10:00-14:00"},
             "holidays": ["2026-01-01", "2026-01-19", "2026-02-16", "2026-05-25", "2026-06-19", "2026-07-03",
                          "2026-09-07", "2026-10-12", "2026-11-11", "2026-11-26", "2026-12-25",
                          "2027-01-01", "2027-01-18", "2027-02-15", "2027-05-31", "2027-06-18", "2027-07-05",
                          "2027-09-06", "2027-10-11", "2027-11-11", "2027-11-25", "2027-12-24"]}}"#,
    )
    .expect("schedules")
}

fn business_minutes(schedule: &Schedule, from: i64, to: i64) -> i64 {
    schedule.business_micros(from, to) / MINUTE_MICROS
}

fn queries(c: &mut Criterion) {
    let schedules = office();
    let office = schedules.for_group(None);
    let always_open = Schedule::always_open();
    // Spread over the year, at odd minutes, inside and outside office hours.
    let starts: Vec<i64> = (0..STARTS as i64).map(|i| START + i * (DAY / 3 + 7 * MINUTE_MICROS + 11)).collect();
    let mut i = 0usize;
    let mut next = || {
        i = (i + 1) % STARTS;
        starts[i]
    };

    let mut group = c.benchmark_group("schedule");
    group.throughput(Throughput::Elements(1));
    for (name, span) in [("2_hours", 2 * HOUR), ("1_week", 7 * DAY), ("3_months", 91 * DAY), ("2_years", 730 * DAY)] {
        group.bench_function(format!("business_minutes/office/{name}"), |b| {
            b.iter(|| {
                let from = next();
                business_minutes(office, black_box(from), black_box(from + span))
            })
        });
    }
    group.bench_function("business_minutes/always_open/3_months", |b| {
        b.iter(|| {
            let from = next();
            business_minutes(&always_open, black_box(from), black_box(from + 91 * DAY))
        })
    });
    group.bench_function("add_business/office/8_hours", |b| {
        b.iter(|| office.add_business(black_box(next()), black_box(8 * HOUR)).expect("a due time"))
    });
    group.bench_function("add_business/office/40_hours", |b| {
        b.iter(|| office.add_business(black_box(next()), black_box(40 * HOUR)).expect("a due time"))
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(30);
    targets = queries
}
criterion_main!(benches);
