//! A frozen copy of the report as it was before the report was made fast (`report_with` at
//! c0cb3cb, with the first-contact and survey-pairing helpers it used), and a test that the
//! report equals it on generated histories of a few hundred tickets (ratings, offers, merges,
//! reopens, out-of-order times, schedules and SLA policies) for several queries. The reference
//! is deliberately left as it was: it only changes if a metric definition changes.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use rapport_events::{CustomerId, Identity, Survey, TicketId};

use crate::grouping::{dimensions, product, rating_dimension_keys, ticket_keys, RequesterKeys};
use crate::projection::{MetricsProjection, RatingRecord, TicketRecord};
use crate::qa::qa_report;
use crate::report::{
    AgentThroughput, BacklogRow, BotCounts, Dimension, Drill, FcrCounts, GroupReport, PeriodRow, Quantiles, Report,
    ReportQuery, Satisfaction, SatisfactionRow, SlaCounts, REPORT_DAYS_MAX,
};
use crate::sla::{evaluate_in, SlaStatus, TicketSla};
use crate::surveys::{OfferRecord, SurveyReport, Who, SURVEY_ANSWER_DAYS, SURVEY_OPEN_OFFERS_MAX};
use crate::ticket::{Minutes, TicketMetrics};
use chrono::{DateTime, Datelike};
use rapport_types::Timestamp;

const DAY_MICROS: i64 = 86_400_000_000;
const HOUR_MICROS: i64 = 3_600_000_000;

fn drill_of(mut tickets: Vec<TicketId>) -> Drill {
    tickets.sort_unstable();
    tickets.dedup();
    Drill { count: tickets.len(), tickets: tickets.into() }
}

/// Every ticket of the report by rank: rank `r` is the `r`-th ticket in id order, so sorting
/// ranks sorts ids (integers sort much faster than strings).
struct Ranked<'a> {
    ids: Vec<&'a TicketId>,
}

impl Ranked<'_> {
    fn drill(&self, mut ranks: Vec<u32>) -> Drill {
        ranks.sort_unstable();
        ranks.dedup();
        let tickets: Vec<TicketId> = ranks.iter().map(|rank| self.id_of(*rank).clone()).collect();
        Drill { count: tickets.len(), tickets: tickets.into() }
    }

    /// The id of the ticket of rank `rank`.
    fn id_of(&self, rank: u32) -> &TicketId {
        self.ids[rank as usize]
    }
}

fn rate(part: usize, whole: usize) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

/// The value of rank ⌈p·n⌉ (at least 1) of an ascending list.
fn nearest_rank(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted.get(rank - 1).copied()
}

fn quantiles(values: &[(u32, Minutes)], ranked: &Ranked<'_>) -> Quantiles {
    let mut calendar: Vec<f64> = values.iter().map(|(_, m)| m.calendar).collect();
    let mut business: Vec<f64> = values.iter().map(|(_, m)| m.business).collect();
    calendar.sort_by(f64::total_cmp);
    business.sort_by(f64::total_cmp);
    Quantiles {
        n: values.len(),
        calendar_median: nearest_rank(&calendar, 0.5),
        calendar_p90: nearest_rank(&calendar, 0.9),
        business_median: nearest_rank(&business, 0.5),
        business_p90: nearest_rank(&business, 0.9),
        tickets: ranked.drill(values.iter().map(|(rank, _)| *rank).collect()),
    }
}

fn in_range(at: i64, from: Option<i64>, to: i64) -> bool {
    from.is_none_or(|from| at >= from) && at < to
}

fn day_of(at: i64) -> i64 {
    at.div_euclid(DAY_MICROS)
}

/// The UTC day, ISO week and month keys of day number `day`.
fn period_keys(day: i64) -> [String; 3] {
    let date = DateTime::from_timestamp_micros(day.saturating_mul(DAY_MICROS)).unwrap_or_default().date_naive();
    let week = date.iso_week();
    [
        date.format("%Y-%m-%d").to_string(),
        format!("{}-W{:02}", week.year(), week.week()),
        date.format("%Y-%m").to_string(),
    ]
}

/// The days the rows cover, and for each granularity (day, week, month) the row of each day.
struct Calendar {
    first_day: i64,
    /// `rows[kind][day - first_day]`: the row index of that day.
    row_of_day: [Vec<usize>; 3],
    /// `names[kind][row]`.
    names: [Vec<String>; 3],
}

impl Calendar {
    fn new(first_day: i64, last_day: i64) -> Calendar {
        let mut calendar = Calendar { first_day, row_of_day: Default::default(), names: Default::default() };
        let mut day = first_day;
        while day <= last_day {
            let keys = period_keys(day);
            for ((key, names), row_of_day) in keys.into_iter().zip(&mut calendar.names).zip(&mut calendar.row_of_day) {
                if names.last() != Some(&key) {
                    names.push(key);
                }
                row_of_day.push(names.len() - 1);
            }
            day += 1;
        }
        calendar
    }

    fn days(&self) -> usize {
        self.row_of_day[0].len()
    }

    /// The row of instant `at` for granularity `kind`, if its day is covered.
    fn row(&self, kind: usize, at: i64) -> Option<usize> {
        let index = usize::try_from(day_of(at) - self.first_day).ok()?;
        self.row_of_day.get(kind)?.get(index).copied()
    }

    /// The row names of granularity `kind`.
    fn names(&self, kind: usize) -> &[String] {
        &self.names[kind]
    }
}

/// One ticket with what the report needs of it, computed once.
struct Row<'a> {
    record: &'a TicketRecord,
    /// Position in id order ([`Ranked`]).
    rank: u32,
    metrics: TicketMetrics,
    sla: Option<TicketSla>,
    /// `None`: not counted for FCR (not solved, merged away, or solved within the window
    /// before `now`); else whether it is FCR.
    fcr: Option<bool>,
}

fn is_unsolved(record: &TicketRecord) -> bool {
    record.state.status.is_unsolved()
}

/// The latest solve of a ticket that is solved or closed now.
fn solved_at(record: &TicketRecord) -> Option<i64> {
    if is_unsolved(record) {
        None
    } else {
        record.state.last_solved_at
    }
}

fn periods(
    rows: &[&Row<'_>],
    ranked: &Ranked<'_>,
    calendar: &Calendar,
    (from, to): (Option<i64>, i64),
    kind: usize,
) -> Vec<PeriodRow> {
    let mut buckets: Vec<(Vec<u32>, Vec<u32>)> = vec![Default::default(); calendar.names(kind).len()];
    for row in rows {
        let record = row.record;
        if in_range(record.state.created_at, from, to) {
            // Rows of `kind` are indices of its names, so the bucket always exists.
            if let Some((created, _)) = calendar.row(kind, record.state.created_at).and_then(|i| buckets.get_mut(i)) {
                created.push(row.rank);
            }
        }
        if let Some(solved) = solved_at(record).filter(|at| in_range(*at, from, to)) {
            if let Some((_, solved)) = calendar.row(kind, solved).and_then(|i| buckets.get_mut(i)) {
                solved.push(row.rank);
            }
        }
    }
    let change = |now: usize, before: usize| (before > 0).then(|| (now as f64 - before as f64) / before as f64);
    let mut previous: Option<(usize, usize)> = None;
    buckets
        .into_iter()
        .zip(calendar.names(kind))
        .map(|((created, solved), period)| {
            let (created, solved) = (ranked.drill(created), ranked.drill(solved));
            let row = PeriodRow {
                period: period.clone(),
                created_change: previous.and_then(|(c, _)| change(created.count, c)),
                solved_change: previous.and_then(|(_, s)| change(solved.count, s)),
                created,
                solved,
            };
            previous = Some((row.created.count, row.solved.count));
            row
        })
        .collect()
}

/// A ticket is unsolved at instant `x` when the latest of its transitions before `x` (by time,
/// ties in fold order) says so; a ticket without transitions before `x` does not exist yet.
fn backlog(rows: &[&Row<'_>], ranked: &Ranked<'_>, calendar: &Calendar) -> Vec<BacklogRow> {
    // `(at, ticket index, order, unsolved, rank)`; sorted by the first three, which are unique.
    let mut changes: Vec<(i64, usize, usize, bool, u32)> = Vec::new();
    for (ticket_index, row) in rows.iter().enumerate() {
        for (order, (at, unsolved)) in row.record.transitions.iter().enumerate() {
            changes.push((*at, ticket_index, order, *unsolved, row.rank));
        }
    }
    changes.sort_unstable_by_key(|(at, ticket, order, _, _)| (*at, *ticket, *order));
    let mut open: BTreeSet<u32> = BTreeSet::new();
    let mut next = 0;
    let mut out = Vec::with_capacity(calendar.days());
    for (index, day_name) in calendar.names[0].iter().enumerate() {
        let day_end = (calendar.first_day + index as i64 + 1).saturating_mul(DAY_MICROS);
        while let Some((at, _, _, unsolved, rank)) = changes.get(next) {
            if *at >= day_end {
                break;
            }
            if *unsolved {
                open.insert(*rank);
            } else {
                open.remove(rank);
            }
            next += 1;
        }
        let tickets: Vec<TicketId> = open.iter().map(|rank| ranked.id_of(*rank).clone()).collect();
        out.push(BacklogRow {
            day: day_name.clone(),
            unsolved: Drill { count: tickets.len(), tickets: tickets.into() },
        });
    }
    out
}

/// Where a target's outcome counts: achieved and breached in the period containing their
/// moment, active at `now`.
fn sla_counts(
    rows: &[&Row<'_>],
    ranked: &Ranked<'_>,
    pick: fn(&TicketSla) -> Option<SlaStatus>,
    (from, to): (Option<i64>, i64),
) -> SlaCounts {
    let (mut achieved, mut breached, mut active) = (Vec::new(), Vec::new(), Vec::new());
    for row in rows {
        match row.sla.as_ref().and_then(pick) {
            Some(SlaStatus::Achieved { at }) if in_range(at, from, to) => achieved.push(row.rank),
            Some(SlaStatus::Breached { at }) if in_range(at, from, to) => breached.push(row.rank),
            Some(SlaStatus::Active { .. }) => active.push(row.rank),
            Some(SlaStatus::Achieved { .. } | SlaStatus::Breached { .. }) | None => {}
        }
    }
    let (achieved, breached, active) = (ranked.drill(achieved), ranked.drill(breached), ranked.drill(active));
    let percent_achieved = rate(achieved.count, achieved.count + breached.count).map(|r| r * 100.0);
    SlaCounts { achieved, breached, active, percent_achieved }
}

/// Scores of the ratings; answers outside their survey's range are ignored.
fn satisfaction<'a>(ratings: impl IntoIterator<Item = &'a RatingRecord>) -> Satisfaction {
    let mut s = Satisfaction::default();
    let mut ces_sum = 0u64;
    let mut tickets = Vec::new();
    for rating in ratings {
        if !rating.survey.score_range().contains(&rating.score) {
            continue;
        }
        if let Some(ticket) = &rating.ticket_id {
            tickets.push(ticket.clone());
        }
        match rating.survey {
            Survey::Csat => {
                s.csat_responses += 1;
                s.csat_satisfied += usize::from(rating.score >= 4);
            }
            Survey::Nps => {
                s.nps_responses += 1;
                s.promoters += usize::from(rating.score >= 9);
                s.detractors += usize::from(rating.score <= 6);
            }
            Survey::Ces => {
                s.ces_responses += 1;
                ces_sum += u64::from(rating.score);
            }
        }
    }
    s.csat_percent = rate(s.csat_satisfied, s.csat_responses).map(|r| r * 100.0);
    s.nps = rate(s.promoters, s.nps_responses)
        .zip(rate(s.detractors, s.nps_responses))
        .map(|(promoters, detractors)| (promoters - detractors) * 100.0);
    s.ces_mean = (s.ces_responses > 0).then(|| ces_sum as f64 / s.ces_responses as f64);
    s.tickets = drill_of(tickets);
    s
}

fn satisfaction_rows(ratings: &[&RatingRecord], calendar: &Calendar, kind: usize) -> Vec<SatisfactionRow> {
    let mut buckets: Vec<Vec<&RatingRecord>> = vec![Vec::new(); calendar.names(kind).len()];
    for rating in ratings {
        // Rows of `kind` are indices of its names, so the bucket always exists.
        if let Some(bucket) = calendar.row(kind, rating.at).and_then(|i| buckets.get_mut(i)) {
            bucket.push(rating);
        }
    }
    buckets
        .into_iter()
        .zip(calendar.names(kind))
        .map(|(ratings, period)| SatisfactionRow {
            period: period.clone(),
            satisfaction: satisfaction(ratings.iter().copied()),
        })
        .collect()
}

fn throughput(
    rows: &[&Row<'_>],
    ranked: &Ranked<'_>,
    projection: &MetricsProjection,
    (from, to): (Option<i64>, i64),
) -> Vec<AgentThroughput> {
    let mut solved: BTreeMap<&str, (usize, Vec<u32>)> = BTreeMap::new();
    for row in rows {
        for (at, agent) in &row.record.solves {
            if let (Some(agent), true) = (agent, in_range(*at, from, to)) {
                let entry = solved.entry(agent.as_str()).or_default();
                entry.0 += 1;
                entry.1.push(row.rank);
            }
        }
    }
    // Days that overlap [from, to): day d covers [d, d + 1) days.
    let first_day = from.map(day_of);
    let last_day = day_of(to.saturating_sub(1));
    solved
        .into_iter()
        .map(|(agent, (solved, tickets))| {
            let active_days = projection.agent_days().get(agent).map_or(0, |days| {
                days.iter()
                    .filter(|d| first_day.is_none_or(|first| i64::from(**d) >= first) && i64::from(**d) <= last_day)
                    .count()
            });
            AgentThroughput {
                agent: agent.to_owned(),
                solved,
                tickets: ranked.drill(tickets),
                active_days,
                per_active_day: rate(solved, active_days),
            }
        })
        .collect()
}

/// What every group's aggregation shares.
struct Context<'a> {
    projection: &'a MetricsProjection,
    query: &'a ReportQuery,
    ranked: Ranked<'a>,
    calendar: Calendar,
    from: Option<i64>,
    to: i64,
}

fn group_report(context: &Context<'_>, keys: Vec<String>, rows: &[&Row<'_>], ratings: &[&RatingRecord]) -> GroupReport {
    let Context { projection, query, ref ranked, ref calendar, from, to } = *context;
    let created: Vec<&Row<'_>> =
        rows.iter().copied().filter(|r| in_range(r.record.state.created_at, from, to)).collect();
    let ids = |filter: &dyn Fn(&Row<'_>) -> bool| {
        ranked.drill(created.iter().filter(|r| filter(r)).map(|r| r.rank).collect())
    };
    let created_drill = ids(&|_| true);
    let solved = ranked.drill(
        rows.iter().filter(|r| solved_at(r.record).is_some_and(|at| in_range(at, from, to))).map(|r| r.rank).collect(),
    );
    let unsolved = ids(&|r| is_unsolved(r.record));
    let reopened = ids(&|r| r.metrics.reopens > 0);
    let solved_created = created.iter().filter(|r| r.metrics.one_touch.is_some()).count();
    let one_touch = ids(&|r| r.metrics.one_touch == Some(true));
    let repeat_inquiry = ids(&|r| r.record.state.repeat_inquiry);
    let metric = |pick: &dyn Fn(&TicketMetrics) -> Option<Minutes>| {
        let values: Vec<(u32, Minutes)> =
            created.iter().filter_map(|r| pick(&r.metrics).map(|m| (r.rank, m))).collect();
        quantiles(&values, ranked)
    };
    let durations = BTreeMap::from([
        ("first_reply", metric(&|m| m.first_reply)),
        ("first_resolution", metric(&|m| m.first_resolution)),
        ("full_resolution", metric(&|m| m.full_resolution)),
        ("requester_wait", metric(&|m| Some(m.requester_wait))),
        ("agent_wait", metric(&|m| Some(m.agent_wait))),
        ("on_hold", metric(&|m| Some(m.on_hold))),
        ("bot_handoff", metric(&|m| m.bot_handoff)),
    ]);
    let response_rates = query
        .response_hours
        .iter()
        .map(|hours| {
            let within = i64::from(*hours) * HOUR_MICROS;
            let drill = ids(&|r| {
                r.record.state.first_solved_at.is_some_and(|at| at.saturating_sub(r.record.state.created_at) <= within)
            });
            let share = rate(drill.count, created_drill.count);
            (*hours, drill, share)
        })
        .collect();
    let bot_tickets: Vec<&Row<'_>> = created.iter().copied().filter(|r| r.metrics.bot_messages > 0).collect();
    let bot_ids = |filter: &dyn Fn(&Row<'_>) -> bool| {
        ranked.drill(bot_tickets.iter().filter(|r| filter(r)).map(|r| r.rank).collect())
    };
    let bot_solved = bot_ids(&|r| r.metrics.one_touch.is_some());
    let bot_resolved = bot_ids(&|r| r.metrics.one_touch.is_some() && r.metrics.replies == 0);
    let handoff = bot_ids(&|r| r.metrics.bot_handoff.is_some());
    let bots = BotCounts {
        handoff_rate: rate(handoff.count, bot_tickets.len()),
        bot_resolved_rate: rate(bot_resolved.count, bot_solved.count),
        tickets: bot_ids(&|_| true),
        handoff,
        solved: bot_solved,
        bot_resolved,
    };
    let fcr_solved: Vec<&Row<'_>> = rows
        .iter()
        .copied()
        .filter(|r| r.fcr.is_some() && r.record.state.first_solved_at.is_some_and(|at| in_range(at, from, to)))
        .collect();
    let fcr_drill = ranked.drill(fcr_solved.iter().filter(|r| r.fcr == Some(true)).map(|r| r.rank).collect());
    let fcr = FcrCounts {
        fcr_rate: rate(fcr_drill.count, fcr_solved.len()),
        solved: ranked.drill(fcr_solved.iter().map(|r| r.rank).collect()),
        fcr: fcr_drill,
    };
    GroupReport {
        bots,
        fcr,
        reopen_rate: rate(reopened.count, created_drill.count),
        one_touch_rate: rate(one_touch.count, solved_created),
        repeat_inquiry_rate: rate(repeat_inquiry.count, created_drill.count),
        daily: periods(rows, ranked, calendar, (from, to), 0),
        weekly: periods(rows, ranked, calendar, (from, to), 1),
        monthly: periods(rows, ranked, calendar, (from, to), 2),
        backlog: backlog(rows, ranked, calendar),
        sla_first_reply: sla_counts(rows, ranked, |s| s.first_reply, (from, to)),
        sla_next_reply: sla_counts(rows, ranked, |s| s.next_reply, (from, to)),
        sla_resolution: sla_counts(rows, ranked, |s| s.resolution, (from, to)),
        satisfaction: satisfaction(ratings.iter().copied()),
        satisfaction_daily: satisfaction_rows(ratings, calendar, 0),
        satisfaction_weekly: satisfaction_rows(ratings, calendar, 1),
        satisfaction_monthly: satisfaction_rows(ratings, calendar, 2),
        throughput: throughput(rows, ranked, projection, (from, to)),
        key: keys.join(" / "),
        keys,
        created: created_drill,
        solved,
        unsolved,
        reopened,
        one_touch,
        repeat_inquiry,
        durations,
        response_rates,
    }
}

/// `report_with` as it was.
pub(crate) fn report_with_reference(
    projection: &MetricsProjection,
    query: &ReportQuery,
    customer_of: &dyn Fn(&Identity) -> Option<CustomerId>,
    requester: &RequesterKeys<'_>,
) -> Report {
    let now = query.now.map_or_else(|| projection.latest_at().0, |now| now.0);
    let to = query.to.map_or(now.saturating_add(1), |to| to.0);
    let from = query.from.map(|from| from.0);
    let mut records: Vec<&TicketRecord> = projection.tickets().collect();
    records.sort_unstable_by(|a, b| a.ticket_id.cmp(&b.ticket_id));
    let ranked = Ranked { ids: records.iter().map(|r| &r.ticket_id).collect() };
    let customer_tickets = CustomerTickets::new(records.iter().copied(), customer_of);
    let fcr_window = i64::from(query.fcr_window_days).saturating_mul(DAY_MICROS);
    let rows: Vec<Row<'_>> = records
        .iter()
        .enumerate()
        .map(|(rank, record)| {
            let schedule = projection.schedule_of(&record.state);
            let metrics = record.state.metrics(schedule, now);
            Row {
                record,
                // Fewer than 2^32 tickets: a projection that large would not fit in memory.
                rank: u32::try_from(rank).unwrap_or(u32::MAX),
                fcr: customer_tickets.fcr(record, &metrics, fcr_window, now),
                metrics,
                sla: evaluate_in(projection.policies_of(&record.state), schedule, &record.state, now),
            }
        })
        .collect();
    let ratings: Vec<&RatingRecord> = projection.ratings().iter().filter(|r| in_range(r.at, from, to)).collect();
    // The rows run from the period's first day (or the earliest creation, solve or rating in
    // it) to its last day.
    let earliest = rows
        .iter()
        .flat_map(|r| [Some(r.record.state.created_at), solved_at(r.record)])
        .flatten()
        .chain(ratings.iter().map(|r| r.at))
        .filter(|at| in_range(*at, from, to))
        .min();
    let last_day = day_of(to.saturating_sub(1));
    let first_day = from.or(earliest).map(day_of);
    let (calendar, rows_truncated) = match first_day {
        Some(first_day) if first_day <= last_day => {
            let truncated = last_day - first_day >= REPORT_DAYS_MAX as i64;
            let first_day = first_day.max(last_day - (REPORT_DAYS_MAX as i64 - 1));
            (Calendar::new(first_day, last_day), truncated)
        }
        _ => (Calendar::new(0, -1), false),
    };
    let dimensions = dimensions(query);
    let passes = |keys_of: &dyn Fn(&Dimension) -> Vec<String>| {
        query.filters.iter().all(|(dimension, value)| keys_of(dimension).iter().any(|key| key == value))
    };
    let mut groups: BTreeMap<Vec<String>, (Vec<&Row<'_>>, Vec<&RatingRecord>)> = BTreeMap::new();
    for row in &rows {
        let keys_of = |d: &Dimension| ticket_keys(projection, row.record, d, requester);
        if !passes(&keys_of) {
            continue;
        }
        for tuple in product(dimensions.iter().map(|d| keys_of(d)).collect()) {
            groups.entry(tuple).or_default().0.push(row);
        }
    }
    for rating in &ratings {
        let keys_of = |d: &Dimension| rating_dimension_keys(projection, rating, d, requester);
        if !passes(&keys_of) {
            continue;
        }
        for tuple in product(dimensions.iter().map(|d| keys_of(d)).collect()) {
            groups.entry(tuple).or_default().1.push(rating);
        }
    }
    let context = Context { projection, query, ranked, calendar, from, to };
    let groups =
        groups.into_iter().map(|(key, (rows, ratings))| group_report(&context, key, &rows, &ratings)).collect();
    let surveys =
        survey_report_reference(projection.offers(), projection.ratings(), customer_of, |at| in_range(at, from, to));
    let qa =
        qa_report(projection.reviews().iter().filter(|r| in_range(r.at, from, to)), projection.scorecards(), |at| {
            period_keys(day_of(at))[2].clone()
        });
    Report { from: from.map(Timestamp), to: Timestamp(to), now: Timestamp(now), rows_truncated, groups, surveys, qa }
}

/// The creation times of every customer's tickets, sorted.
struct CustomerTickets<'a> {
    customer_of: &'a dyn Fn(&Identity) -> Option<CustomerId>,
    created: HashMap<Who<'a>, Vec<i64>>,
}

impl<'a> CustomerTickets<'a> {
    /// Indexes the tickets by customer. O(tickets · log).
    fn new(
        records: impl IntoIterator<Item = &'a TicketRecord>,
        customer_of: &'a dyn Fn(&Identity) -> Option<CustomerId>,
    ) -> CustomerTickets<'a> {
        let mut created: HashMap<Who<'a>, Vec<i64>> = HashMap::new();
        for record in records {
            created.entry(Who::of(&record.requester, customer_of)).or_default().push(record.state.created_at);
        }
        for times in created.values_mut() {
            times.sort_unstable();
        }
        CustomerTickets { customer_of, created }
    }

    /// Whether `record` is FCR; `None` when it does not count: never solved, closed by a merge,
    /// or first solved less than `window` before `now`. O(log tickets of the customer).
    fn fcr(&self, record: &TicketRecord, metrics: &TicketMetrics, window: i64, now: i64) -> Option<bool> {
        let first_solved = record.state.first_solved_at?;
        let end = first_solved.saturating_add(window);
        if record.merged_away || end > now {
            return None;
        }
        if metrics.one_touch != Some(true) {
            return Some(false);
        }
        let start = record.state.created_at;
        let times = self.created.get(&Who::of(&record.requester, self.customer_of)).map_or(&[][..], Vec::as_slice);
        // Tickets of the customer created in [start, max(end, start)]; the ticket itself is one.
        let opened =
            times.partition_point(|at| *at <= end.max(start)).saturating_sub(times.partition_point(|at| *at < start));
        Some(opened <= 1)
    }
}

/// Pairs every rating with the offer it answers: `answered[offer]` and `paired[rating]`.
/// Offers and ratings are taken in time order; at the same instant offers come first, then
/// each kind in fold order. O((offers + ratings) · log + ratings · [`SURVEY_OPEN_OFFERS_MAX`]).
fn pair(
    offers: &[OfferRecord],
    ratings: &[RatingRecord],
    customer_of: &dyn Fn(&Identity) -> Option<CustomerId>,
) -> (Vec<bool>, Vec<bool>) {
    // `(at, kind: 0 offer / 1 rating, index)`.
    let mut order: Vec<(i64, u8, usize)> = offers.iter().enumerate().map(|(i, o)| (o.at, 0, i)).collect();
    order.extend(
        ratings
            .iter()
            .enumerate()
            .filter(|(_, r)| r.survey.score_range().contains(&r.score))
            .map(|(i, r)| (r.at, 1, i)),
    );
    order.sort_unstable();
    let mut answered = vec![false; offers.len()];
    let mut paired = vec![false; ratings.len()];
    // Open offers per customer and survey, oldest first.
    let mut open: HashMap<(Who<'_>, Survey), Vec<usize>> = HashMap::new();
    for (at, kind, index) in order {
        if kind == 0 {
            let Some(offer) = offers.get(index) else { continue };
            let list = open.entry((Who::of(&offer.identity, customer_of), offer.survey)).or_default();
            // Offers too old for any later rating leave first, so the bound counts live offers.
            let oldest = at.saturating_sub(SURVEY_ANSWER_DAYS * DAY_MICROS);
            list.retain(|o| offers.get(*o).is_some_and(|offer| offer.at >= oldest));
            if list.len() >= SURVEY_OPEN_OFFERS_MAX {
                list.remove(0);
            }
            list.push(index);
            continue;
        }
        let Some(rating) = ratings.get(index) else { continue };
        let Some(list) = open.get_mut(&(Who::of(&rating.identity, customer_of), rating.survey)) else { continue };
        let oldest = at.saturating_sub(SURVEY_ANSWER_DAYS * DAY_MICROS);
        list.retain(|o| offers.get(*o).is_some_and(|offer| offer.at >= oldest));
        let same_ticket = rating.ticket_id.as_ref().and_then(|ticket| {
            list.iter().rposition(|o| offers.get(*o).is_some_and(|offer| offer.ticket_id.as_ref() == Some(ticket)))
        });
        let Some(chosen) = same_ticket.or(list.len().checked_sub(1)) else { continue };
        let offer = list.remove(chosen);
        if let (Some(answer), Some(pair)) = (answered.get_mut(offer), paired.get_mut(index)) {
            *answer = true;
            *pair = true;
        }
    }
    (answered, paired)
}

/// The survey counts of a period: offers by offer time, ratings by rating time.
fn survey_report_reference(
    offers: &[OfferRecord],
    ratings: &[RatingRecord],
    customer_of: &dyn Fn(&Identity) -> Option<CustomerId>,
    in_period: impl Fn(i64) -> bool,
) -> SurveyReport {
    let (answered, paired) = pair(offers, ratings, customer_of);
    let mut report = SurveyReport::new();
    for (offer, answered) in offers.iter().zip(&answered) {
        if in_period(offer.at) {
            let counts = report.entry(offer.survey.as_str().to_owned()).or_default();
            counts.offered += 1;
            counts.answered += usize::from(*answered);
        }
    }
    for (rating, paired) in ratings.iter().zip(&paired) {
        if !in_period(rating.at) || !rating.survey.score_range().contains(&rating.score) {
            continue;
        }
        let counts = report.entry(rating.survey.as_str().to_owned()).or_default();
        counts.responses += 1;
        counts.unsolicited += usize::from(!*paired);
        if let Some(reason) = &rating.reason {
            *counts.reasons.entry(reason.clone()).or_default() += 1;
        }
    }
    for counts in report.values_mut() {
        counts.response_rate = (counts.offered > 0).then(|| counts.answered as f64 / counts.offered as f64);
    }
    report
}

mod equal_to_the_reference {
    use rapport_events::{
        Actor, Channel, CustomerRated, CxEvent, MessageReceived, MessageSent, NormalizeOptions, Priority, Properties,
        Status, SurveyOffered, TicketAssigned, TicketFieldsSet, TicketFlag, TicketFlagged, TicketLabeled, TicketMerged,
        TicketOpened, TicketStatusChanged, TicketTagged,
    };

    use super::*;
    use crate::projection::MetricsOptions;
    use crate::report::{report_with, report_with_handles, HandleResolution};
    use crate::schedule::Schedules;
    use crate::sla::policies_from_json;

    const MINUTE: i64 = 60_000_000;
    /// 2026-03-05T00:00:00Z.
    const BASE: i64 = 1_772_668_800_000_000;

    /// xorshift64*: every seed gives the same history on every run.
    struct Random(u64);

    impl Random {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
        fn chance(&mut self, percent: usize) -> bool {
            self.below(100) < percent
        }
        fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
            &items[self.below(items.len())]
        }
    }

    fn person(index: usize) -> Identity {
        Identity::parse("email", &format!("p{index}@example.com"), &NormalizeOptions::default()).unwrap()
    }

    /// People 0..40; every third pair of people is one customer, multiples of 7 are nobody's.
    fn customer_of(identity: &Identity) -> Option<CustomerId> {
        let index: u64 = identity.value().trim_start_matches('p').split('@').next()?.parse().ok()?;
        (!index.is_multiple_of(7)).then_some(CustomerId(if index.is_multiple_of(3) {
            index / 2
        } else {
            1_000 + index
        }))
    }

    fn id(n: usize) -> TicketId {
        // Ids of different lengths and shared prefixes, so id order is not number order; some
        // longer than the 16 bytes the report's sort key holds (and than an inline id).
        TicketId::new(format!("{}-{n}", ["T", "T1", "A", "LONG-TICKET-PREFIX-0000"][n % 4])).unwrap()
    }

    /// `(ticket stream, event, at)` of a history of `tickets` tickets over about 40 days, some
    /// times out of order.
    fn history(seed: u64, tickets: usize) -> Vec<(Option<TicketId>, CxEvent, i64)> {
        let mut random = Random(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
        let channels = [Channel::Email, Channel::Chat, Channel::Phone, Channel::Web];
        let groups = ["G1", "G2", "G3"];
        let agents = ["lee", "kim", "park", "choi"];
        let tags = ["vip", "bug", "refund"];
        let statuses = [Status::Open, Status::Pending, Status::Hold, Status::Solved, Status::Closed];
        let surveys = [Survey::Csat, Survey::Nps, Survey::Ces];
        let mut out = Vec::new();
        for n in 0..tickets {
            let ticket = id(n);
            let requester = person(random.below(40));
            let mut at = BASE + (random.below(40 * 24 * 60) as i64) * MINUTE;
            let on = |event: CxEvent, at: i64| (Some(ticket.clone()), event, at);
            let opened_status = [None, None, None, None, Some(Status::Solved), Some(Status::Closed)];
            out.push(on(
                CxEvent::TicketOpened(TicketOpened {
                    ticket_id: ticket.clone(),
                    requester: requester.clone(),
                    channel: random.pick(&channels).clone(),
                    subject: None,
                    priority: random.chance(70).then(|| *random.pick(&[Priority::Low, Priority::High])),
                    ticket_type: None,
                    topic: None,
                    group: random.chance(70).then(|| (*random.pick(&groups)).to_owned()),
                    assignee: random.chance(50).then(|| (*random.pick(&agents)).to_owned()),
                    tags: if random.chance(40) { vec![(*random.pick(&tags)).to_owned()] } else { Vec::new() },
                    status: *random.pick(&opened_status),
                    follow_up_of: None,
                }),
                at,
            ));
            for _ in 0..random.below(12) {
                // Mostly forward in time; now and then backwards (imports).
                at += if random.chance(8) {
                    -(random.below(600) as i64) * MINUTE
                } else if random.chance(50) {
                    (random.below(120) as i64) * MINUTE
                } else {
                    (random.below(3 * 24 * 60) as i64) * MINUTE
                };
                let event = match random.below(13) {
                    0 | 1 => CxEvent::MessageReceived(MessageReceived {
                        channel: random.pick(&channels).clone(),
                        from: requester.clone(),
                        ticket_id: Some(ticket.clone()),
                        topic: None,
                        subject: None,
                        body: None,
                    }),
                    2..=4 => CxEvent::MessageSent(MessageSent {
                        ticket_id: ticket.clone(),
                        channel: random.pick(&channels).clone(),
                        agent: (*random.pick(&agents)).to_owned(),
                        public: random.chance(80),
                        body: None,
                        actor: *random.pick(&[Actor::Agent, Actor::Agent, Actor::Bot, Actor::System]),
                    }),
                    5..=7 => CxEvent::TicketStatusChanged(TicketStatusChanged {
                        ticket_id: ticket.clone(),
                        status: *random.pick(&statuses),
                    }),
                    8 => CxEvent::TicketAssigned(TicketAssigned {
                        ticket_id: ticket.clone(),
                        group: random.chance(50).then(|| (*random.pick(&groups)).to_owned()),
                        assignee: Some((*random.pick(&agents)).to_owned()),
                    }),
                    9 => CxEvent::TicketTagged(TicketTagged {
                        ticket_id: ticket.clone(),
                        add: vec![(*random.pick(&tags)).to_owned()],
                        remove: if random.chance(30) { vec![(*random.pick(&tags)).to_owned()] } else { Vec::new() },
                    }),
                    10 => {
                        let mut fields = Properties::new();
                        fields.insert("plan", &serde_json::json!(*random.pick(&["gold", "free"])));
                        CxEvent::TicketFieldsSet(TicketFieldsSet { ticket_id: ticket.clone(), fields })
                    }
                    11 if random.chance(50) => CxEvent::TicketFlagged(TicketFlagged {
                        ticket_id: ticket.clone(),
                        flag: TicketFlag::RepeatInquiry,
                        reason: None,
                    }),
                    11 => CxEvent::TicketLabeled(TicketLabeled {
                        ticket_id: ticket.clone(),
                        department: None,
                        inquiry_type: Some("delivery".to_owned()),
                    }),
                    _ if n > 0 => {
                        // Merged into an earlier ticket (recorded on both streams).
                        let target = id(random.below(n));
                        let merged = TicketMerged { source: ticket.clone(), target: target.clone() };
                        out.push((Some(target), CxEvent::TicketMerged(merged.clone()), at));
                        CxEvent::TicketMerged(merged)
                    }
                    _ => continue,
                };
                out.push(on(event, at));
            }
            // Survey offers and ratings about the ticket, by its requester or someone else; some
            // about a ticket that does not exist.
            for _ in 0..random.below(3) {
                let survey = *random.pick(&surveys);
                let who = if random.chance(70) { requester.clone() } else { person(random.below(40)) };
                let about = if random.chance(10) { Some(id(tickets + random.below(5))) } else { Some(ticket.clone()) };
                let about = if random.chance(15) { None } else { about };
                let when = at + (random.below(5 * 24 * 60) as i64 - 60) * MINUTE;
                if random.chance(60) {
                    let offer = SurveyOffered { identity: who.clone(), survey, ticket_id: about.clone() };
                    out.push((None, CxEvent::SurveyOffered(offer), when));
                }
                if random.chance(70) {
                    let score = random.below(12) as u8;
                    let rated = CustomerRated {
                        identity: who,
                        survey,
                        score,
                        ticket_id: about,
                        comment: None,
                        reason: random.chance(30).then(|| "slow_reply".to_owned()),
                    };
                    out.push((None, CxEvent::CustomerRated(rated), when + random.below(3 * 24 * 60) as i64 * MINUTE));
                }
            }
        }
        // Fold order: mostly by time, with some events out of order (as an import may append).
        out.sort_by_key(|(_, _, at)| *at);
        for i in 0..out.len() / 20 {
            let (a, b) = (random.below(out.len()), random.below(out.len()));
            if i % 2 == 0 {
                out.swap(a, b);
            }
        }
        out
    }

    fn options(seed: u64) -> MetricsOptions {
        if seed.is_multiple_of(2) {
            return MetricsOptions::default();
        }
        let schedules = Schedules::from_json(
            r#"{"default": {"time_zone": "Europe/Berlin", "weekly": {"mon": "08:00-17:00", "tue": "08:00-17:00",
                "wed": ["08:00-12:00", "13:00-17:00"], "thu": "08:00-17:00", "fri": "09:00-15:00"},
                "holidays": ["2026-03-20"]},
                "groups": {"G2": {"time_zone": "Asia/Seoul", "weekly": {"mon": "09:00-18:00", "sat": "10:00-14:00"}}}}"#,
        )
        .unwrap();
        let sla = policies_from_json(
            r#"[{"name": "vip", "filter": {"tag": "vip"},
                 "targets": {"high": {"first_reply_minutes_max": 60, "next_reply_minutes_max": 120,
                                      "resolution_minutes_max": 1440, "business_hours": true}}},
                {"name": "all", "targets": {"normal": {"first_reply_minutes_max": 240, "resolution_minutes_max": 2880},
                                            "low": {"next_reply_minutes_max": 600, "business_hours": true},
                                            "high": {"first_reply_minutes_max": 30}}}]"#,
        )
        .unwrap();
        MetricsOptions { schedules, sla }
    }

    fn queries() -> Vec<ReportQuery> {
        let day = 24 * 60 * MINUTE;
        let at = |days: i64| Some(Timestamp(BASE + days * day));
        vec![
            ReportQuery::default(),
            ReportQuery { now: at(60), ..ReportQuery::default() },
            ReportQuery { from: at(5), to: at(25), ..ReportQuery::default() },
            ReportQuery { from: at(-30), to: at(90), now: at(100), ..ReportQuery::default() },
            ReportQuery { group_by: Some(Dimension::Tag), then_by: vec![Dimension::Agent], ..ReportQuery::default() },
            ReportQuery {
                group_by: Some(Dimension::Group),
                filters: vec![(Dimension::Channel, "email".to_owned())],
                fcr_window_days: 2,
                response_hours: vec![1, 48],
                ..ReportQuery::default()
            },
            ReportQuery { group_by: Some(Dimension::Field("plan".to_owned())), ..ReportQuery::default() },
            ReportQuery {
                group_by: Some(Dimension::Trait("tier".to_owned())),
                then_by: vec![Dimension::Channel, Dimension::Priority],
                from: at(10),
                ..ReportQuery::default()
            },
        ]
    }

    /// A requester dimension as the store answers it: a function of the ticket.
    fn requester(ticket: &TicketId, _: &Dimension) -> Vec<String> {
        match ticket.as_str().len() % 3 {
            0 => Vec::new(),
            1 => vec!["gold".to_owned()],
            _ => vec!["gold".to_owned(), "silver".to_owned()],
        }
    }

    #[test]
    fn the_report_equals_the_reference_computation() {
        for seed in 0..12 {
            let tickets = [0, 1, 40, 300][seed as usize % 4];
            let mut projection = MetricsProjection::new(options(seed));
            for (ticket, event, at) in history(seed, tickets) {
                projection.apply(ticket.as_ref(), &event, Timestamp(at));
            }
            for (index, query) in queries().iter().enumerate() {
                let with_customers = report_with(&projection, query, &customer_of, &requester);
                let reference = report_with_reference(&projection, query, &customer_of, &requester);
                assert!(with_customers == reference, "seed {seed}, query {index} ({query:?}): the report differs");
                // Through handles (some identities without one), cold and then warm (the
                // handles remembered per ticket): the same report.
                let handle_of = |identity: &Identity| -> Option<u32> {
                    let index: u32 = identity.value().trim_start_matches('p').split('@').next()?.parse().ok()?;
                    (!index.is_multiple_of(5)).then_some(index)
                };
                let customer_of_handle = |_: u32, identity: &Identity| customer_of(identity);
                let handles = HandleResolution { handle_of: &handle_of, customer_of_handle: &customer_of_handle };
                for round in ["cold", "warm"] {
                    let through_handles = report_with_handles(&projection, query, &customer_of, &handles, &requester);
                    assert!(
                        through_handles == reference,
                        "seed {seed}, query {index}, {round} handles: the report differs"
                    );
                }
                let alone = report_with(&projection, query, &|_| None, &|_, _| Vec::new());
                let reference = report_with_reference(&projection, query, &|_| None, &|_, _| Vec::new());
                assert!(alone == reference, "seed {seed}, query {index} without customers: the report differs");
            }
        }
    }
}

#[test]
fn ids_sort_by_their_prefix_key_as_by_their_text() {
    let texts = [
        "T-1",
        "T-10",
        "T-1\u{0}",
        "T-1\u{0}\u{0}",
        "0123456789abcdefA",
        "0123456789abcdef",
        "0123456789abcdefB",
        "0123456789abcdeA",
        "티켓-1",
        "티켓",
        "~",
        "A",
        "a",
        "0123456789abcdef0123456789",
        "0123456789abcdef01234567",
        "0123456789abcdef0123456",
        "0123456789abcdef0123456\u{0}",
        "0123456789abcdef01234567\u{0}",
        "0123456789abcdef012345678",
        "0123456789abcdef012345670",
    ];
    let ids: Vec<TicketId> = texts.iter().map(|t| TicketId::new(*t).unwrap()).collect();
    for rotation in 0..ids.len() {
        let mut by_key: Vec<&TicketId> = ids.iter().collect();
        by_key.rotate_left(rotation);
        crate::report::sort_by_id_for_tests(&mut by_key);
        let mut by_text: Vec<&TicketId> = ids.iter().collect();
        by_text.sort_by(|a, b| a.as_str().cmp(b.as_str()));
        assert_eq!(by_key, by_text, "rotation {rotation}");
    }
}
