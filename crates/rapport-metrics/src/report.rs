//! Aggregates over the metrics projection, computed on demand for a period and optionally
//! grouped by a dimension. Every count carries the ticket ids behind it (drill-down).
//! Definitions: docs/metrics.md.

use std::collections::BTreeMap;
use std::str::FromStr;

use chrono::{DateTime, Datelike};
use rapport_events::{Survey, TicketId};

use crate::error::MetricsError;
use crate::projection::{MetricsProjection, RatingRecord, TicketRecord};
use crate::sla::{evaluate, SlaStatus, TicketSla};
use crate::ticket::TicketMetrics;

const DAY_MICROS: i64 = 86_400_000_000;
const HOUR_MICROS: i64 = 3_600_000_000;

/// What to group aggregates by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dimension {
    /// Channel of creation.
    Channel,
    /// Current group.
    Group,
    /// Current priority.
    Priority,
    /// Each tag (a ticket counts under every tag it has).
    Tag,
    /// Current assignee.
    Agent,
    /// Inquiry type label.
    Type,
}

impl FromStr for Dimension {
    type Err = MetricsError;
    fn from_str(text: &str) -> Result<Dimension, MetricsError> {
        Ok(match text {
            "channel" => Dimension::Channel,
            "group" => Dimension::Group,
            "priority" => Dimension::Priority,
            "tag" => Dimension::Tag,
            "agent" => Dimension::Agent,
            "type" => Dimension::Type,
            other => {
                return Err(MetricsError::InvalidSla(format!(
                    "unknown dimension {other:?} (expected channel, group, priority, tag, agent or type)"
                )))
            }
        })
    }
}

/// What to aggregate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportQuery {
    /// Start of the period (inclusive, unix microseconds); `None`: from the beginning.
    pub from: Option<i64>,
    /// End of the period (exclusive); `None`: to `now`.
    pub to: Option<i64>,
    /// The moment unsolved tickets are measured at; `None`: the latest event's time.
    pub now: Option<i64>,
    /// Grouping.
    pub group_by: Option<Dimension>,
    /// The N of "response rate within N hours".
    pub response_hours: Vec<u32>,
}

impl Default for ReportQuery {
    fn default() -> ReportQuery {
        ReportQuery { from: None, to: None, now: None, group_by: None, response_hours: vec![3, 6, 16, 24] }
    }
}

/// A count with the tickets behind it, sorted by id.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Drill {
    /// How many.
    pub count: usize,
    /// Which (ticket ids, sorted).
    pub tickets: Vec<TicketId>,
}

impl Drill {
    fn of(mut tickets: Vec<TicketId>) -> Drill {
        tickets.sort();
        tickets.dedup();
        Drill { count: tickets.len(), tickets }
    }
}

fn rate(part: usize, whole: usize) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

/// Median and 90th percentile of a duration metric (nearest rank), in minutes.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Quantiles {
    /// Tickets that have the metric.
    pub n: usize,
    /// Calendar median.
    pub calendar_median: Option<f64>,
    /// Calendar 90th percentile.
    pub calendar_p90: Option<f64>,
    /// Business median.
    pub business_median: Option<f64>,
    /// Business 90th percentile.
    pub business_p90: Option<f64>,
}

fn nearest_rank(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    Some(sorted[rank - 1])
}

fn quantiles(values: &[crate::ticket::Minutes]) -> Quantiles {
    let mut calendar: Vec<f64> = values.iter().map(|m| m.calendar).collect();
    let mut business: Vec<f64> = values.iter().map(|m| m.business).collect();
    calendar.sort_by(f64::total_cmp);
    business.sort_by(f64::total_cmp);
    Quantiles {
        n: values.len(),
        calendar_median: nearest_rank(&calendar, 0.5),
        calendar_p90: nearest_rank(&calendar, 0.9),
        business_median: nearest_rank(&business, 0.5),
        business_p90: nearest_rank(&business, 0.9),
    }
}

/// SLA attainment of one target.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SlaCounts {
    /// Met in time.
    pub achieved: Drill,
    /// Missed (counted in the period where the target ran out).
    pub breached: Drill,
    /// Still running.
    pub active: Drill,
    /// achieved / (achieved + breached).
    pub percent_achieved: Option<f64>,
}

/// Satisfaction scores.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Satisfaction {
    /// CSAT answers (1–5).
    pub csat_responses: usize,
    /// CSAT answers of 4 or 5.
    pub csat_satisfied: usize,
    /// Share of satisfied answers, in percent.
    pub csat_percent: Option<f64>,
    /// NPS answers (0–10).
    pub nps_responses: usize,
    /// 9–10.
    pub promoters: usize,
    /// 0–6.
    pub detractors: usize,
    /// % promoters − % detractors.
    pub nps: Option<f64>,
    /// CES answers (1–7).
    pub ces_responses: usize,
    /// Mean CES.
    pub ces_mean: Option<f64>,
    /// Tickets rated.
    pub tickets: Drill,
}

/// Tickets created and solved in one calendar period.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PeriodRow {
    /// `2012-05-14`, `2012-W20` or `2012-05` (UTC).
    pub period: String,
    /// Created in the period.
    pub created: Drill,
    /// Solved (latest solve) in the period.
    pub solved: Drill,
    /// Change of `created` against the previous period (0.25 = +25 %).
    pub created_change: Option<f64>,
    /// Change of `solved` against the previous period.
    pub solved_change: Option<f64>,
}

/// Solves per agent.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct AgentThroughput {
    /// The agent.
    pub agent: String,
    /// Solves while the agent was the assignee.
    pub solved: usize,
    /// Days on which the agent replied or solved.
    pub active_days: usize,
    /// `solved / active_days`.
    pub per_active_day: Option<f64>,
}

/// Aggregates of one group (or of everything).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct GroupReport {
    /// The dimension value (`all` without grouping, `(none)` when unset).
    pub key: String,
    /// Tickets created in the period.
    pub created: Drill,
    /// Tickets solved in the period (latest solve).
    pub solved: Drill,
    /// Of the created: unsolved at `now`.
    pub unsolved: Drill,
    /// Of the created: reopened at least once.
    pub reopened: Drill,
    /// reopened / created.
    pub reopen_rate: Option<f64>,
    /// Of the created and solved: one-touch.
    pub one_touch: Drill,
    /// one-touch / (created and solved).
    pub one_touch_rate: Option<f64>,
    /// Of the created: flagged `repeat_inquiry`.
    pub repeat_inquiry: Drill,
    /// repeat inquiries / created.
    pub repeat_inquiry_rate: Option<f64>,
    /// Quantiles of each duration metric over the created tickets that have it.
    pub durations: BTreeMap<&'static str, Quantiles>,
    /// `(N, tickets first resolved within N hours of creation, share of created)`.
    pub response_rates: Vec<(u32, Drill, Option<f64>)>,
    /// SLA: first reply.
    pub sla_first_reply: SlaCounts,
    /// SLA: next reply.
    pub sla_next_reply: SlaCounts,
    /// SLA: resolution.
    pub sla_resolution: SlaCounts,
    /// Satisfaction of ratings given in the period.
    pub satisfaction: Satisfaction,
    /// Per day.
    pub daily: Vec<PeriodRow>,
    /// Per ISO week.
    pub weekly: Vec<PeriodRow>,
    /// Per month.
    pub monthly: Vec<PeriodRow>,
    /// `(day, tickets unsolved at the end of the day)`.
    pub backlog: Vec<(String, usize)>,
    /// Per agent.
    pub throughput: Vec<AgentThroughput>,
}

/// The full report.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Report {
    /// Period start.
    pub from: Option<i64>,
    /// Period end.
    pub to: Option<i64>,
    /// Measurement time.
    pub now: i64,
    /// One entry per group (a single `all` entry without grouping), sorted by key.
    pub groups: Vec<GroupReport>,
}

fn keys(record: &TicketRecord, dimension: Option<Dimension>) -> Vec<String> {
    let none = || "(none)".to_owned();
    let state = &record.state;
    match dimension {
        None => vec!["all".to_owned()],
        Some(Dimension::Channel) => vec![state.channels.first().map_or_else(none, |c| c.to_string())],
        Some(Dimension::Group) => vec![state.group.clone().unwrap_or_else(none)],
        Some(Dimension::Priority) => vec![state.priority.map_or_else(none, |p| p.to_string())],
        Some(Dimension::Agent) => vec![state.assignee.clone().unwrap_or_else(none)],
        Some(Dimension::Type) => vec![state.inquiry_type.clone().unwrap_or_else(none)],
        Some(Dimension::Tag) if state.tags.is_empty() => vec![none()],
        Some(Dimension::Tag) => state.tags.clone(),
    }
}

fn rating_keys(rating: &RatingRecord, projection: &MetricsProjection, dimension: Option<Dimension>) -> Vec<String> {
    let none = || "(none)".to_owned();
    match dimension {
        Some(Dimension::Agent) => vec![rating.agent.clone().unwrap_or_else(none)],
        Some(Dimension::Group) => vec![rating.group.clone().unwrap_or_else(none)],
        Some(Dimension::Channel) => vec![rating.channel.as_ref().map_or_else(none, |c| c.to_string())],
        _ => match rating.ticket_id.as_ref().and_then(|t| projection.ticket(t)) {
            Some(record) => keys(record, dimension),
            None if dimension.is_none() => vec!["all".to_owned()],
            None => vec![none()],
        },
    }
}

fn in_range(at: i64, from: Option<i64>, to: i64) -> bool {
    from.is_none_or(|from| at >= from) && at < to
}

fn date_of(at: i64) -> chrono::NaiveDate {
    DateTime::from_timestamp_micros(at).unwrap_or_default().date_naive()
}

fn period_key(at: i64, kind: u8) -> String {
    let date = date_of(at);
    match kind {
        0 => date.format("%Y-%m-%d").to_string(),
        1 => {
            let week = date.iso_week();
            format!("{}-W{:02}", week.year(), week.week())
        }
        _ => date.format("%Y-%m").to_string(),
    }
}

fn periods(tickets: &[(&TicketRecord, TicketMetrics)], from: Option<i64>, to: i64, kind: u8) -> Vec<PeriodRow> {
    let mut rows: BTreeMap<String, (Vec<TicketId>, Vec<TicketId>)> = BTreeMap::new();
    for (record, _) in tickets {
        if in_range(record.state.created_at, from, to) {
            rows.entry(period_key(record.state.created_at, kind)).or_default().0.push(record.ticket_id.clone());
        }
        if let (Some(solved), false) = (record.state.last_solved_at, is_unsolved(record)) {
            if in_range(solved, from, to) {
                rows.entry(period_key(solved, kind)).or_default().1.push(record.ticket_id.clone());
            }
        }
    }
    let mut previous: Option<(usize, usize)> = None;
    rows.into_iter()
        .map(|(period, (created, solved))| {
            let (created, solved) = (Drill::of(created), Drill::of(solved));
            let change = |now: usize, before: usize| (before > 0).then(|| (now as f64 - before as f64) / before as f64);
            let row = PeriodRow {
                period,
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

fn is_unsolved(record: &TicketRecord) -> bool {
    record.transitions.last().is_some_and(|(_, unsolved)| *unsolved)
}

fn backlog(tickets: &[(&TicketRecord, TicketMetrics)], from: Option<i64>, to: i64) -> Vec<(String, usize)> {
    let mut changes: Vec<(i64, i64)> = Vec::new();
    for (record, _) in tickets {
        for (at, unsolved) in &record.transitions {
            changes.push((*at, if *unsolved { 1 } else { -1 }));
        }
    }
    changes.sort_unstable();
    let Some(first) = changes.first().map(|(at, _)| *at) else { return Vec::new() };
    let start_day = from.unwrap_or(first).div_euclid(DAY_MICROS);
    let end_day = (to - 1).div_euclid(DAY_MICROS);
    // Bounded: at most ten years of days.
    let end_day = end_day.min(start_day + 3660);
    let mut rows = Vec::new();
    let mut open = 0i64;
    let mut next = 0;
    for day in start_day..=end_day {
        let day_end = (day + 1) * DAY_MICROS;
        while next < changes.len() && changes[next].0 < day_end {
            open += changes[next].1;
            next += 1;
        }
        rows.push((period_key(day * DAY_MICROS, 0), open.max(0) as usize));
    }
    rows
}

fn sla_counts(outcomes: &[(TicketId, Option<SlaStatus>)], from: Option<i64>, to: i64) -> SlaCounts {
    let (mut achieved, mut breached, mut active) = (Vec::new(), Vec::new(), Vec::new());
    for (ticket, status) in outcomes {
        match status {
            Some(SlaStatus::Achieved) => achieved.push(ticket.clone()),
            // A breach belongs to the period in which it happened.
            Some(SlaStatus::Breached { at }) if in_range(*at, from, to) => breached.push(ticket.clone()),
            Some(SlaStatus::Breached { .. }) => {}
            Some(SlaStatus::Active { .. }) => active.push(ticket.clone()),
            None => {}
        }
    }
    let (achieved, breached, active) = (Drill::of(achieved), Drill::of(breached), Drill::of(active));
    let percent_achieved = rate(achieved.count, achieved.count + breached.count).map(|r| r * 100.0);
    SlaCounts { achieved, breached, active, percent_achieved }
}

fn satisfaction(ratings: &[&RatingRecord]) -> Satisfaction {
    let mut s = Satisfaction::default();
    let mut ces_sum = 0u64;
    let mut tickets = Vec::new();
    for rating in ratings {
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
    s.tickets = Drill::of(tickets);
    s
}

/// Computes the report.
pub fn report(projection: &MetricsProjection, query: &ReportQuery) -> Report {
    let now = query.now.unwrap_or_else(|| projection.latest_at());
    let to = query.to.unwrap_or(now.saturating_add(1));
    let from = query.from;
    let mut groups: BTreeMap<String, Vec<(&TicketRecord, TicketMetrics)>> = BTreeMap::new();
    for record in projection.tickets() {
        let metrics = record.state.metrics(projection.schedule_of(&record.state), now);
        for key in keys(record, query.group_by) {
            groups.entry(key).or_default().push((record, metrics.clone()));
        }
    }
    let mut rating_groups: BTreeMap<String, Vec<&RatingRecord>> = BTreeMap::new();
    for rating in projection.ratings().iter().filter(|r| in_range(r.at, from, to)) {
        for key in rating_keys(rating, projection, query.group_by) {
            rating_groups.entry(key).or_default().push(rating);
        }
    }
    for key in rating_groups.keys() {
        groups.entry(key.clone()).or_default();
    }
    let reports = groups
        .into_iter()
        .map(|(key, tickets)| {
            let created: Vec<&(&TicketRecord, TicketMetrics)> =
                tickets.iter().filter(|(r, _)| in_range(r.state.created_at, from, to)).collect();
            let ids = |filter: &dyn Fn(&TicketRecord, &TicketMetrics) -> bool| {
                Drill::of(created.iter().filter(|(r, m)| filter(r, m)).map(|(r, _)| r.ticket_id.clone()).collect())
            };
            let created_drill = ids(&|_, _| true);
            let solved = Drill::of(
                tickets
                    .iter()
                    .filter(|(r, _)| !is_unsolved(r) && r.state.last_solved_at.is_some_and(|at| in_range(at, from, to)))
                    .map(|(r, _)| r.ticket_id.clone())
                    .collect(),
            );
            let unsolved = ids(&|r, _| is_unsolved(r));
            let reopened = ids(&|_, m| m.reopens > 0);
            let solved_created = created.iter().filter(|(_, m)| m.one_touch.is_some()).count();
            let one_touch = ids(&|_, m| m.one_touch == Some(true));
            let repeat_inquiry = ids(&|r, _| r.state.repeat_inquiry);
            let mut durations = BTreeMap::new();
            let metric = |pick: &dyn Fn(&TicketMetrics) -> Option<crate::ticket::Minutes>| {
                let values: Vec<crate::ticket::Minutes> = created.iter().filter_map(|(_, m)| pick(m)).collect();
                quantiles(&values)
            };
            durations.insert("first_reply", metric(&|m| m.first_reply));
            durations.insert("first_resolution", metric(&|m| m.first_resolution));
            durations.insert("full_resolution", metric(&|m| m.full_resolution));
            durations.insert("requester_wait", metric(&|m| Some(m.requester_wait)));
            durations.insert("agent_wait", metric(&|m| Some(m.agent_wait)));
            durations.insert("on_hold", metric(&|m| Some(m.on_hold)));
            let response_rates = query
                .response_hours
                .iter()
                .map(|hours| {
                    let within = i64::from(*hours) * HOUR_MICROS;
                    let drill =
                        ids(&|r, _| r.state.first_solved_at.is_some_and(|at| at - r.state.created_at <= within));
                    let share = rate(drill.count, created_drill.count);
                    (*hours, drill, share)
                })
                .collect();
            let slas: Vec<(TicketId, Option<TicketSla>)> = created
                .iter()
                .map(|(r, _)| {
                    (
                        r.ticket_id.clone(),
                        evaluate(&projection.options().sla, projection.schedule_of(&r.state), &r.state, now),
                    )
                })
                .collect();
            let pick = |f: fn(&TicketSla) -> Option<SlaStatus>| -> Vec<(TicketId, Option<SlaStatus>)> {
                slas.iter().map(|(id, sla)| (id.clone(), sla.as_ref().and_then(f))).collect()
            };
            let ratings: &[&RatingRecord] = rating_groups.get(&key).map(Vec::as_slice).unwrap_or(&[]);
            let mut throughput: BTreeMap<String, usize> = BTreeMap::new();
            for (record, _) in &tickets {
                for (at, agent) in &record.solves {
                    if let (Some(agent), true) = (agent, in_range(*at, from, to)) {
                        *throughput.entry(agent.clone()).or_default() += 1;
                    }
                }
            }
            let throughput = throughput
                .into_iter()
                .map(|(agent, solved)| {
                    let active_days = projection
                        .agent_days()
                        .get(&agent)
                        .map(|days| {
                            days.iter()
                                .filter(|d| {
                                    in_range(
                                        i64::from(**d) * DAY_MICROS,
                                        from.map(|f| f.div_euclid(DAY_MICROS) * DAY_MICROS),
                                        to,
                                    )
                                })
                                .count()
                        })
                        .unwrap_or(0);
                    AgentThroughput { agent, solved, active_days, per_active_day: rate(solved, active_days) }
                })
                .collect();
            GroupReport {
                reopen_rate: rate(reopened.count, created_drill.count),
                one_touch_rate: rate(one_touch.count, solved_created),
                repeat_inquiry_rate: rate(repeat_inquiry.count, created_drill.count),
                daily: periods(&tickets, from, to, 0),
                weekly: periods(&tickets, from, to, 1),
                monthly: periods(&tickets, from, to, 2),
                backlog: backlog(&tickets, from, to),
                sla_first_reply: sla_counts(&pick(|s| s.first_reply), from, to),
                sla_next_reply: sla_counts(&pick(|s| s.next_reply), from, to),
                sla_resolution: sla_counts(&pick(|s| s.resolution), from, to),
                satisfaction: satisfaction(ratings),
                key,
                created: created_drill,
                solved,
                unsolved,
                reopened,
                one_touch,
                repeat_inquiry,
                durations,
                response_rates,
                throughput,
            }
        })
        .collect();
    Report { from, to: query.to, now, groups: reports }
}
