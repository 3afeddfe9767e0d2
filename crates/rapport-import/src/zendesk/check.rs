//! `--check-metrics`: Zendesk's own `ticket_metrics` rows against Rapport's metrics of the same
//! tickets, one row per metric, with drill-down and the known definition differences.
//!
//! **Agreement.** A duration agrees when Rapport's exact value is less than one minute away from
//! Zendesk's whole minutes (`|rapport - zendesk| < 1`, [`MINUTES_TOLERANCE`]): Zendesk reports
//! whole minutes, and this accepts both truncation and rounding of the same instant. A count
//! (reopens, replies, stations) agrees when it is equal. A duration that has not happened on
//! either side (no reply yet: Zendesk `null`, Rapport none) agrees; one side only is *missing*
//! on the other. Waiting times and counts always have a value in Rapport (0 when nothing
//! accrued), so a Zendesk `null` there counts as 0. A ticket of the export the store does not
//! hold is missing in Rapport for every metric.
//!
//! Rapport is measured at the store's default `now` (the latest event), once, for every ticket
//! ([`Store::all_ticket_metrics_in`]); the history of a ticket is read only when a count differs
//! in a way a known difference could explain.

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use rapport::events::{CxEvent, Status, TicketId};
use rapport::log::Timestamp;
use rapport::metrics::TicketMetrics;
use rapport::{MetricsScope, Store};

use super::ZendeskTicketMetrics;
use crate::error::Result;

/// Largest distance, in minutes, between Rapport's exact duration and Zendesk's whole minutes
/// that still agrees (exclusive).
pub const MINUTES_TOLERANCE: f64 = 1.0;

/// Most tickets listed per drill-down (the smallest ids); the count is always complete.
pub const CHECK_TICKET_IDS_MAX: usize = 20;

/// Tickets shown per line of [`MetricsCheck::table`].
pub const TABLE_TICKET_IDS_MAX: usize = 5;

/// One metric of Zendesk's `ticket_metrics` rows (durations split into calendar and business
/// minutes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum ZendeskMetric {
    /// `reply_time_in_minutes.calendar` against Rapport's `first_reply`.
    ReplyTimeCalendar,
    /// `reply_time_in_minutes.business`.
    ReplyTimeBusiness,
    /// `first_resolution_time_in_minutes.calendar` against `first_resolution`.
    FirstResolutionCalendar,
    /// `first_resolution_time_in_minutes.business`.
    FirstResolutionBusiness,
    /// `full_resolution_time_in_minutes.calendar` against `full_resolution`.
    FullResolutionCalendar,
    /// `full_resolution_time_in_minutes.business`.
    FullResolutionBusiness,
    /// `agent_wait_time_in_minutes.calendar` against `agent_wait`.
    AgentWaitCalendar,
    /// `agent_wait_time_in_minutes.business`.
    AgentWaitBusiness,
    /// `requester_wait_time_in_minutes.calendar` against `requester_wait`.
    RequesterWaitCalendar,
    /// `requester_wait_time_in_minutes.business`.
    RequesterWaitBusiness,
    /// `on_hold_time_in_minutes.calendar` against `on_hold`.
    OnHoldCalendar,
    /// `on_hold_time_in_minutes.business`.
    OnHoldBusiness,
    /// `reopens` against `reopens`.
    Reopens,
    /// `replies` against `replies`.
    Replies,
    /// `assignee_stations` against `assignee_stations`.
    AssigneeStations,
    /// `group_stations` against `group_stations`.
    GroupStations,
}

impl ZendeskMetric {
    /// Every metric, in the order of the check's rows (a calendar duration before its business
    /// one).
    pub const ALL: [ZendeskMetric; 16] = [
        ZendeskMetric::ReplyTimeCalendar,
        ZendeskMetric::ReplyTimeBusiness,
        ZendeskMetric::FirstResolutionCalendar,
        ZendeskMetric::FirstResolutionBusiness,
        ZendeskMetric::FullResolutionCalendar,
        ZendeskMetric::FullResolutionBusiness,
        ZendeskMetric::AgentWaitCalendar,
        ZendeskMetric::AgentWaitBusiness,
        ZendeskMetric::RequesterWaitCalendar,
        ZendeskMetric::RequesterWaitBusiness,
        ZendeskMetric::OnHoldCalendar,
        ZendeskMetric::OnHoldBusiness,
        ZendeskMetric::Reopens,
        ZendeskMetric::Replies,
        ZendeskMetric::AssigneeStations,
        ZendeskMetric::GroupStations,
    ];

    /// Zendesk's name of the value (`reply_time_in_minutes.calendar`, `reopens`).
    pub fn name(&self) -> &'static str {
        match self {
            ZendeskMetric::ReplyTimeCalendar => "reply_time_in_minutes.calendar",
            ZendeskMetric::ReplyTimeBusiness => "reply_time_in_minutes.business",
            ZendeskMetric::FirstResolutionCalendar => "first_resolution_time_in_minutes.calendar",
            ZendeskMetric::FirstResolutionBusiness => "first_resolution_time_in_minutes.business",
            ZendeskMetric::FullResolutionCalendar => "full_resolution_time_in_minutes.calendar",
            ZendeskMetric::FullResolutionBusiness => "full_resolution_time_in_minutes.business",
            ZendeskMetric::AgentWaitCalendar => "agent_wait_time_in_minutes.calendar",
            ZendeskMetric::AgentWaitBusiness => "agent_wait_time_in_minutes.business",
            ZendeskMetric::RequesterWaitCalendar => "requester_wait_time_in_minutes.calendar",
            ZendeskMetric::RequesterWaitBusiness => "requester_wait_time_in_minutes.business",
            ZendeskMetric::OnHoldCalendar => "on_hold_time_in_minutes.calendar",
            ZendeskMetric::OnHoldBusiness => "on_hold_time_in_minutes.business",
            ZendeskMetric::Reopens => "reopens",
            ZendeskMetric::Replies => "replies",
            ZendeskMetric::AssigneeStations => "assignee_stations",
            ZendeskMetric::GroupStations => "group_stations",
        }
    }

    /// Whether the value is a duration in minutes (else a count).
    pub fn is_duration(&self) -> bool {
        !matches!(
            self,
            ZendeskMetric::Reopens
                | ZendeskMetric::Replies
                | ZendeskMetric::AssigneeStations
                | ZendeskMetric::GroupStations
        )
    }

    /// The calendar duration of the same metric, for a business one.
    pub fn calendar_of(&self) -> Option<ZendeskMetric> {
        match self {
            ZendeskMetric::ReplyTimeBusiness => Some(ZendeskMetric::ReplyTimeCalendar),
            ZendeskMetric::FirstResolutionBusiness => Some(ZendeskMetric::FirstResolutionCalendar),
            ZendeskMetric::FullResolutionBusiness => Some(ZendeskMetric::FullResolutionCalendar),
            ZendeskMetric::AgentWaitBusiness => Some(ZendeskMetric::AgentWaitCalendar),
            ZendeskMetric::RequesterWaitBusiness => Some(ZendeskMetric::RequesterWaitCalendar),
            ZendeskMetric::OnHoldBusiness => Some(ZendeskMetric::OnHoldCalendar),
            _ => None,
        }
    }

    /// Whether the value always exists in Rapport (waiting times and counts: 0 when nothing
    /// accrued), so that a Zendesk `null` means 0.
    fn always_valued(&self) -> bool {
        !matches!(
            self,
            ZendeskMetric::ReplyTimeCalendar
                | ZendeskMetric::ReplyTimeBusiness
                | ZendeskMetric::FirstResolutionCalendar
                | ZendeskMetric::FirstResolutionBusiness
                | ZendeskMetric::FullResolutionCalendar
                | ZendeskMetric::FullResolutionBusiness
        )
    }

    /// Zendesk's value in a row.
    fn zendesk(&self, row: &ZendeskTicketMetrics) -> Option<u64> {
        let value = match self {
            ZendeskMetric::ReplyTimeCalendar => row.reply_time_in_minutes.calendar,
            ZendeskMetric::ReplyTimeBusiness => row.reply_time_in_minutes.business,
            ZendeskMetric::FirstResolutionCalendar => row.first_resolution_time_in_minutes.calendar,
            ZendeskMetric::FirstResolutionBusiness => row.first_resolution_time_in_minutes.business,
            ZendeskMetric::FullResolutionCalendar => row.full_resolution_time_in_minutes.calendar,
            ZendeskMetric::FullResolutionBusiness => row.full_resolution_time_in_minutes.business,
            ZendeskMetric::AgentWaitCalendar => row.agent_wait_time_in_minutes.calendar,
            ZendeskMetric::AgentWaitBusiness => row.agent_wait_time_in_minutes.business,
            ZendeskMetric::RequesterWaitCalendar => row.requester_wait_time_in_minutes.calendar,
            ZendeskMetric::RequesterWaitBusiness => row.requester_wait_time_in_minutes.business,
            ZendeskMetric::OnHoldCalendar => row.on_hold_time_in_minutes.calendar,
            ZendeskMetric::OnHoldBusiness => row.on_hold_time_in_minutes.business,
            ZendeskMetric::Reopens => row.reopens,
            ZendeskMetric::Replies => row.replies,
            ZendeskMetric::AssigneeStations => row.assignee_stations,
            ZendeskMetric::GroupStations => row.group_stations,
        };
        if self.always_valued() {
            Some(value.unwrap_or(0))
        } else {
            value
        }
    }

    /// Rapport's value for the ticket.
    fn rapport(&self, metrics: &TicketMetrics) -> Option<f64> {
        match self {
            ZendeskMetric::ReplyTimeCalendar => metrics.first_reply.map(|m| m.calendar),
            ZendeskMetric::ReplyTimeBusiness => metrics.first_reply.map(|m| m.business),
            ZendeskMetric::FirstResolutionCalendar => metrics.first_resolution.map(|m| m.calendar),
            ZendeskMetric::FirstResolutionBusiness => metrics.first_resolution.map(|m| m.business),
            ZendeskMetric::FullResolutionCalendar => metrics.full_resolution.map(|m| m.calendar),
            ZendeskMetric::FullResolutionBusiness => metrics.full_resolution.map(|m| m.business),
            ZendeskMetric::AgentWaitCalendar => Some(metrics.agent_wait.calendar),
            ZendeskMetric::AgentWaitBusiness => Some(metrics.agent_wait.business),
            ZendeskMetric::RequesterWaitCalendar => Some(metrics.requester_wait.calendar),
            ZendeskMetric::RequesterWaitBusiness => Some(metrics.requester_wait.business),
            ZendeskMetric::OnHoldCalendar => Some(metrics.on_hold.calendar),
            ZendeskMetric::OnHoldBusiness => Some(metrics.on_hold.business),
            ZendeskMetric::Reopens => Some(f64::from(metrics.reopens)),
            ZendeskMetric::Replies => Some(f64::from(metrics.replies)),
            ZendeskMetric::AssigneeStations => Some(f64::from(metrics.assignee_stations)),
            ZendeskMetric::GroupStations => Some(f64::from(metrics.group_stations)),
        }
    }

    /// Whether a ticket's current (unsolved) status accrues into this waiting time.
    fn accrues_in(&self, status: Status) -> bool {
        match self {
            ZendeskMetric::RequesterWaitCalendar | ZendeskMetric::RequesterWaitBusiness => {
                matches!(status, Status::New | Status::Open | Status::Hold)
            }
            ZendeskMetric::AgentWaitCalendar | ZendeskMetric::AgentWaitBusiness => status == Status::Pending,
            ZendeskMetric::OnHoldCalendar | ZendeskMetric::OnHoldBusiness => status == Status::Hold,
            _ => false,
        }
    }
}

impl fmt::Display for ZendeskMetric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A definition difference between Zendesk and Rapport that explains a ticket's disagreement
/// (or a value missing on one side), recognized from the ticket's state and history.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum KnownDifference {
    /// `replies` is one more in Rapport on a ticket an agent opened with a public comment:
    /// Zendesk does not count the comment that creates the ticket as a reply, Rapport counts
    /// every public agent message (docs/metrics.md, `replies`).
    AgentCreationComment,
    /// A waiting time is larger in Rapport on a ticket unsolved now, in a status that accrues
    /// to it: Rapport counts the current status up to `now`, Zendesk adds a status interval
    /// only once it has ended (requester wait, for one, when the ticket goes pending, solved or
    /// closed).
    UnsolvedWaitRunsToNow,
    /// `full_resolution` is missing in Rapport on a reopened ticket unsolved now: Rapport has
    /// none until the ticket is solved again; Zendesk's row shows the earlier solve.
    UnsolvedAfterReopen,
    /// `reopens` is larger in Rapport by at most the ticket's changes from solved to pending or
    /// on-hold: Rapport counts solved -> open, pending or hold; Zendesk's reopen is solved -> open.
    ReopenToPendingOrHold,
    /// Business minutes differ while the calendar minutes of the same metric agree: the
    /// schedules differ. Rapport uses the schedule of the group the ticket was created in, else
    /// `default` (Zendesk's lowest-id schedule), without holidays (not imported); Zendesk uses
    /// the schedule applied to the ticket, holidays included.
    BusinessSchedule,
}

impl KnownDifference {
    /// Every known difference, in the order rows list them.
    pub const ALL: [KnownDifference; 5] = [
        KnownDifference::AgentCreationComment,
        KnownDifference::UnsolvedWaitRunsToNow,
        KnownDifference::UnsolvedAfterReopen,
        KnownDifference::ReopenToPendingOrHold,
        KnownDifference::BusinessSchedule,
    ];

    /// A short stable key (`agent_creation_comment`).
    pub fn key(&self) -> &'static str {
        match self {
            KnownDifference::AgentCreationComment => "agent_creation_comment",
            KnownDifference::UnsolvedWaitRunsToNow => "unsolved_wait_runs_to_now",
            KnownDifference::UnsolvedAfterReopen => "unsolved_after_reopen",
            KnownDifference::ReopenToPendingOrHold => "reopen_to_pending_or_hold",
            KnownDifference::BusinessSchedule => "business_schedule",
        }
    }

    /// The difference in one sentence, for the table and the release note.
    pub fn reason(&self) -> &'static str {
        match self {
            KnownDifference::AgentCreationComment => {
                "Zendesk does not count the agent's comment that created the ticket as a reply; Rapport counts every public agent message"
            }
            KnownDifference::UnsolvedWaitRunsToNow => {
                "the ticket is unsolved: Rapport counts its current status up to now, Zendesk adds a status interval only once it ends"
            }
            KnownDifference::UnsolvedAfterReopen => {
                "reopened and unsolved now: Rapport has no full resolution until the next solve, Zendesk shows the earlier one"
            }
            KnownDifference::ReopenToPendingOrHold => {
                "Rapport also counts solved -> pending and solved -> on-hold as reopens, Zendesk only solved -> open"
            }
            KnownDifference::BusinessSchedule => {
                "business minutes only: Rapport uses the ticket's group schedule at creation (else default), without holidays; Zendesk the ticket's own schedule"
            }
        }
    }
}

impl fmt::Display for KnownDifference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.key())
    }
}

/// One ticket behind a count: its id and both values.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckedTicket {
    /// The Zendesk ticket id.
    pub ticket_id: u64,
    /// Zendesk's value (whole minutes or a count); `None` is Zendesk's `null`.
    pub zendesk: Option<u64>,
    /// Rapport's value (exact minutes or a count); `None`: not happened, or the ticket is not in
    /// the store.
    pub rapport: Option<f64>,
}

/// A count with the tickets behind it (drill-down): the first [`CHECK_TICKET_IDS_MAX`] by id.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TicketSample {
    /// How many tickets (complete).
    pub count: u64,
    /// The tickets with the smallest ids, at most [`CHECK_TICKET_IDS_MAX`], ascending.
    pub tickets: Vec<CheckedTicket>,
}

impl TicketSample {
    /// The ids of the listed tickets.
    pub fn ticket_ids(&self) -> Vec<u64> {
        self.tickets.iter().map(|t| t.ticket_id).collect()
    }

    fn push(&mut self, ticket: CheckedTicket) {
        self.count += 1;
        if self.tickets.len() < CHECK_TICKET_IDS_MAX {
            self.tickets.push(ticket);
        }
    }
}

/// The tickets of one metric that a known difference explains.
#[derive(Debug, Clone, PartialEq)]
pub struct ExplainedTickets {
    /// Which difference.
    pub difference: KnownDifference,
    /// The tickets (disagreeing or missing on one side).
    pub tickets: TicketSample,
}

/// The comparison of one metric over every ticket of the export.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricCheck {
    /// Which metric.
    pub metric: ZendeskMetric,
    /// Tickets compared: every ticket of the export (`agree + disagree + missing_*`).
    pub compared: u64,
    /// Tickets where both agree (within [`MINUTES_TOLERANCE`] for durations; both unset counts).
    pub agree: u64,
    /// Tickets where both have a value and they differ (explained or not).
    pub disagree: TicketSample,
    /// Tickets where Zendesk has a value and Rapport none (the ticket is not in the store, or
    /// the event has not happened in Rapport).
    pub missing_in_rapport: TicketSample,
    /// Tickets where Rapport has a value and Zendesk `null`.
    pub missing_in_zendesk: TicketSample,
    /// The disagreeing or missing tickets a known difference explains, per difference (in the
    /// order of [`KnownDifference::ALL`]).
    pub explained: Vec<ExplainedTickets>,
    /// The disagreeing tickets no known difference explains.
    pub unexplained: TicketSample,
}

impl MetricCheck {
    fn new(metric: ZendeskMetric) -> MetricCheck {
        MetricCheck {
            metric,
            compared: 0,
            agree: 0,
            disagree: TicketSample::default(),
            missing_in_rapport: TicketSample::default(),
            missing_in_zendesk: TicketSample::default(),
            explained: Vec::new(),
            unexplained: TicketSample::default(),
        }
    }

    /// The tickets a known difference explains for this metric, if any.
    pub fn explained_by(&self, difference: KnownDifference) -> Option<&TicketSample> {
        self.explained.iter().find(|e| e.difference == difference).map(|e| &e.tickets)
    }
}

/// The whole comparison ([`check_metrics`]).
#[derive(Debug, Clone, PartialEq)]
pub struct MetricsCheck {
    /// The `now` Rapport's metrics were measured at (the store's latest event).
    pub now: Timestamp,
    /// Tickets of the export compared (one per ticket id).
    pub tickets: u64,
    /// Tickets of the export the store does not hold (missing in Rapport for every metric).
    pub not_in_store: TicketSample,
    /// One row per metric, in the order of [`ZendeskMetric::ALL`].
    pub rows: Vec<MetricCheck>,
}

/// How one ticket's value of one metric compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Agree,
    Disagree,
    MissingInRapport,
    MissingInZendesk,
}

/// Compares one value (see the module documentation for the rule).
fn compare(metric: ZendeskMetric, zendesk: Option<u64>, rapport: Option<f64>) -> Outcome {
    match (zendesk, rapport) {
        (None, None) => Outcome::Agree,
        (Some(_), None) => Outcome::MissingInRapport,
        (None, Some(_)) => Outcome::MissingInZendesk,
        (Some(zendesk), Some(rapport)) => {
            // Counts are whole numbers on both sides: half a unit tells equal from not.
            let tolerance = if metric.is_duration() { MINUTES_TOLERANCE } else { 0.5 };
            if (rapport - zendesk as f64).abs() < tolerance {
                Outcome::Agree
            } else {
                Outcome::Disagree
            }
        }
    }
}

/// What the history of a ticket says, for the differences that need it.
#[derive(Debug, Clone, Copy, Default)]
struct HistoryFacts {
    /// An agent opened the ticket with a public message (the rule of docs/metrics.md: the first
    /// public message is an agent's, at the creation instant).
    opened_by_agent: bool,
    /// Changes from solved to pending or on-hold.
    solved_to_pending_or_hold: u32,
}

fn history_facts(store: &Store, ticket_id: &TicketId) -> Result<HistoryFacts> {
    let mut facts = HistoryFacts::default();
    let mut created_at: Option<Timestamp> = None;
    let mut first_public_seen = false;
    let mut status = Status::New;
    let change = |status: &mut Status, to: Status, facts: &mut HistoryFacts| {
        if *status == Status::Solved && matches!(to, Status::Pending | Status::Hold) {
            facts.solved_to_pending_or_hold += 1;
        }
        *status = to;
    };
    for (recorded, event) in store.ticket_history(ticket_id)? {
        let at = recorded.data.occurred_at;
        match &event {
            CxEvent::TicketOpened(opened) if created_at.is_none() => {
                created_at = Some(at);
                if let Some(to) = opened.status {
                    change(&mut status, to, &mut facts);
                }
            }
            _ if created_at.is_none() => {}
            CxEvent::MessageReceived(_) => first_public_seen = true,
            CxEvent::MessageSent(message) if message.public && message.actor.is_human() => {
                if !first_public_seen {
                    facts.opened_by_agent = created_at == Some(at);
                }
                first_public_seen = true;
            }
            CxEvent::TicketStatusChanged(changed) if changed.status != status => {
                change(&mut status, changed.status, &mut facts);
            }
            CxEvent::TicketUpdated(updated) => {
                if let Some(to) = updated.status.filter(|to| *to != status) {
                    change(&mut status, to, &mut facts);
                }
            }
            _ => {}
        }
    }
    Ok(facts)
}

/// What is known of a ticket in the store.
struct TicketFacts<'a> {
    id: TicketId,
    status: Status,
    metrics: &'a TicketMetrics,
    history: Option<HistoryFacts>,
}

impl TicketFacts<'_> {
    fn history(&mut self, store: &Store) -> Result<HistoryFacts> {
        if let Some(history) = self.history {
            return Ok(history);
        }
        let history = history_facts(store, &self.id)?;
        self.history = Some(history);
        Ok(history)
    }
}

/// The known difference that explains a ticket's value that does not agree, if one does.
fn explain(
    store: &Store,
    metric: ZendeskMetric,
    outcome: Outcome,
    (zendesk, rapport): (Option<u64>, Option<f64>),
    calendar_agrees: bool,
    ticket: &mut TicketFacts<'_>,
) -> Result<Option<KnownDifference>> {
    let zendesk_value = zendesk.map(|z| z as f64);
    let excess = rapport.zip(zendesk_value).map(|(r, z)| r - z);
    let known = match metric {
        ZendeskMetric::Replies if excess.is_some_and(|d| (d - 1.0).abs() < 0.5) => {
            ticket.history(store)?.opened_by_agent.then_some(KnownDifference::AgentCreationComment)
        }
        ZendeskMetric::Reopens if excess.is_some_and(|d| d > 0.0) => {
            let transitions = f64::from(ticket.history(store)?.solved_to_pending_or_hold);
            excess.filter(|d| *d <= transitions + 0.5).map(|_| KnownDifference::ReopenToPendingOrHold)
        }
        ZendeskMetric::FullResolutionCalendar | ZendeskMetric::FullResolutionBusiness
            if outcome == Outcome::MissingInRapport && ticket.status.is_unsolved() && ticket.metrics.reopens > 0 =>
        {
            Some(KnownDifference::UnsolvedAfterReopen)
        }
        _ if ticket.status.is_unsolved()
            && metric.accrues_in(ticket.status)
            && excess.is_some_and(|d| d >= MINUTES_TOLERANCE) =>
        {
            Some(KnownDifference::UnsolvedWaitRunsToNow)
        }
        _ if outcome == Outcome::Disagree && metric.calendar_of().is_some() && calendar_agrees => {
            Some(KnownDifference::BusinessSchedule)
        }
        _ => None,
    };
    Ok(known)
}

/// Compares, for every ticket of the export's `ticket_metrics` (one row per ticket id: of rows
/// with the same id, the latest `updated_at` counts, the later one on a tie), each of Zendesk's
/// metrics with Rapport's value for the same ticket (the ticket id is the Zendesk ticket number)
/// at the store's latest event. Nothing is written. Fails only when the store does.
pub fn check_metrics(store: &Store, metrics: &[ZendeskTicketMetrics]) -> Result<MetricsCheck> {
    let mut rows_by_ticket: BTreeMap<u64, &ZendeskTicketMetrics> = BTreeMap::new();
    for row in metrics {
        let slot = rows_by_ticket.entry(row.ticket_id).or_insert(row);
        if row.updated_at >= slot.updated_at {
            *slot = row;
        }
    }
    let now = store.latest_event_at()?;
    let rapport: HashMap<TicketId, TicketMetrics> = store.all_ticket_metrics_in(None, &MetricsScope::default())?;
    let statuses: HashMap<TicketId, Status> =
        store.tickets()?.into_iter().map(|ticket| (ticket.id().clone(), ticket.status())).collect();

    let mut rows: Vec<MetricCheck> = ZendeskMetric::ALL.iter().map(|m| MetricCheck::new(*m)).collect();
    let mut explained: Vec<BTreeMap<KnownDifference, TicketSample>> = vec![BTreeMap::new(); rows.len()];
    let mut not_in_store = TicketSample::default();
    for (ticket_id, row) in &rows_by_ticket {
        let id = TicketId::new(ticket_id.to_string()).ok();
        let found = id.as_ref().and_then(|id| Some((id.clone(), rapport.get(id)?, *statuses.get(id)?)));
        let mut ticket = found.map(|(id, metrics, status)| TicketFacts { id, status, metrics, history: None });
        if ticket.is_none() {
            not_in_store.push(CheckedTicket { ticket_id: *ticket_id, zendesk: None, rapport: None });
        }
        let mut outcomes: HashMap<ZendeskMetric, Outcome> = HashMap::new();
        for ((check, explained), metric) in rows.iter_mut().zip(explained.iter_mut()).zip(ZendeskMetric::ALL) {
            let zendesk = metric.zendesk(row);
            let rapport = ticket.as_ref().and_then(|t| metric.rapport(t.metrics));
            let outcome = match ticket {
                Some(_) => compare(metric, zendesk, rapport),
                None => Outcome::MissingInRapport,
            };
            outcomes.insert(metric, outcome);
            let checked = CheckedTicket { ticket_id: *ticket_id, zendesk, rapport };
            check.compared += 1;
            match outcome {
                Outcome::Agree => {
                    check.agree += 1;
                    continue;
                }
                Outcome::Disagree => check.disagree.push(checked.clone()),
                Outcome::MissingInRapport => check.missing_in_rapport.push(checked.clone()),
                Outcome::MissingInZendesk => check.missing_in_zendesk.push(checked.clone()),
            }
            let Some(ticket) = ticket.as_mut() else { continue };
            let calendar_agrees = metric.calendar_of().and_then(|c| outcomes.get(&c)) == Some(&Outcome::Agree);
            match explain(store, metric, outcome, (zendesk, rapport), calendar_agrees, ticket)? {
                Some(known) => explained.entry(known).or_default().push(checked),
                None if outcome == Outcome::Disagree => check.unexplained.push(checked),
                None => {}
            }
        }
    }
    for (check, explained) in rows.iter_mut().zip(explained) {
        check.explained =
            explained.into_iter().map(|(difference, tickets)| ExplainedTickets { difference, tickets }).collect();
    }
    Ok(MetricsCheck { now, tickets: rows_by_ticket.len() as u64, not_in_store, rows })
}

impl MetricsCheck {
    /// The row of a metric.
    pub fn row(&self, metric: ZendeskMetric) -> Option<&MetricCheck> {
        self.rows.iter().find(|row| row.metric == metric)
    }

    /// Whether every metric of every ticket agrees or disagrees only by a known difference (no
    /// unexplained disagreement, nothing missing without a known reason).
    pub fn all_explained(&self) -> bool {
        self.rows.iter().all(|row| {
            let explained: u64 = row.explained.iter().map(|e| e.tickets.count).sum();
            row.unexplained.count == 0
                && row.disagree.count + row.missing_in_rapport.count + row.missing_in_zendesk.count == explained
        })
    }

    /// The table the CLI prints: a header line, then one line per metric,
    /// `metric | compared | agree | disagree | missing | tickets (first few) | known difference`.
    /// `missing` is `in Rapport/in Zendesk`; `tickets` lists the disagreeing then the missing
    /// tickets (at most [`TABLE_TICKET_IDS_MAX`], then `+N`); `known difference` names each
    /// known difference with its tickets, then the unexplained ones; the reasons follow the
    /// table, one line each.
    pub fn table(&self) -> String {
        let mut lines = vec![format!(
            "Zendesk ticket_metrics against Rapport: {} tickets, Rapport at {}; agree = durations within {} minute, counts equal",
            self.tickets,
            time_text(self.now),
            MINUTES_TOLERANCE
        )];
        if self.not_in_store.count > 0 {
            lines.push(format!(
                "not in the store (missing in Rapport for every metric): {}",
                ids_text(&self.not_in_store.ticket_ids(), self.not_in_store.count)
            ));
        }
        let header = ["metric", "compared", "agree", "disagree", "missing", "tickets (first few)", "known difference"];
        let mut cells: Vec<[String; 7]> = vec![header.map(str::to_owned)];
        for row in &self.rows {
            let mut mismatched: Vec<u64> = row.disagree.ticket_ids();
            mismatched.extend(row.missing_in_rapport.ticket_ids());
            mismatched.extend(row.missing_in_zendesk.ticket_ids());
            let total = row.disagree.count + row.missing_in_rapport.count + row.missing_in_zendesk.count;
            let mut known: Vec<String> = row
                .explained
                .iter()
                .map(|e| format!("{} ({})", e.difference.key(), ids_text(&e.tickets.ticket_ids(), e.tickets.count)))
                .collect();
            if row.unexplained.count > 0 {
                known.push(format!("unexplained ({})", ids_text(&row.unexplained.ticket_ids(), row.unexplained.count)));
            }
            cells.push([
                row.metric.name().to_owned(),
                row.compared.to_string(),
                row.agree.to_string(),
                row.disagree.count.to_string(),
                format!("{}/{}", row.missing_in_rapport.count, row.missing_in_zendesk.count),
                if total == 0 { "-".to_owned() } else { ids_text(&mismatched, total) },
                if known.is_empty() { "-".to_owned() } else { known.join("; ") },
            ]);
        }
        let mut widths = [0usize; 7];
        for row in &cells {
            for (width, cell) in widths.iter_mut().zip(row) {
                *width = (*width).max(cell.chars().count());
            }
        }
        for row in &cells {
            let line: Vec<String> = row.iter().zip(widths).map(|(cell, width)| format!("{cell:<width$}")).collect();
            lines.push(line.join(" | ").trim_end().to_owned());
        }
        let mut used: Vec<KnownDifference> =
            self.rows.iter().flat_map(|row| row.explained.iter().map(|e| e.difference)).collect();
        used.sort();
        used.dedup();
        for difference in used {
            lines.push(format!("{}: {}", difference.key(), difference.reason()));
        }
        let mut text = lines.join("\n");
        text.push('\n');
        text
    }

    /// The check as JSON: `{now, tickets, not_in_store, rows: [{metric, compared, agree,
    /// disagree, missing_in_rapport, missing_in_zendesk, unexplained, explained: [{difference,
    /// reason, count, tickets}]}]}`, each drill-down `{count, tickets: [{ticket_id, zendesk,
    /// rapport}]}`.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::json;
        let tickets = |s: &TicketSample| {
            s.tickets
                .iter()
                .map(|t| json!({"ticket_id": t.ticket_id, "zendesk": t.zendesk, "rapport": t.rapport}))
                .collect::<Vec<_>>()
        };
        let sample = |s: &TicketSample| json!({"count": s.count, "tickets": tickets(s)});
        json!({
            "now": time_text(self.now),
            "tickets": self.tickets,
            "not_in_store": sample(&self.not_in_store),
            "rows": self.rows.iter().map(|row| json!({
                "metric": row.metric.name(),
                "compared": row.compared,
                "agree": row.agree,
                "disagree": sample(&row.disagree),
                "missing_in_rapport": sample(&row.missing_in_rapport),
                "missing_in_zendesk": sample(&row.missing_in_zendesk),
                "unexplained": sample(&row.unexplained),
                "explained": row.explained.iter().map(|e| json!({
                    "difference": e.difference.key(),
                    "reason": e.difference.reason(),
                    "count": e.tickets.count,
                    "tickets": tickets(&e.tickets),
                })).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
        })
    }
}

impl fmt::Display for MetricsCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.table())
    }
}

/// `1, 2, 3` (the first [`TABLE_TICKET_IDS_MAX`]), then ` +N` for the rest of `total`.
fn ids_text(ids: &[u64], total: u64) -> String {
    let shown: Vec<String> = ids.iter().take(TABLE_TICKET_IDS_MAX).map(u64::to_string).collect();
    let rest = total.saturating_sub(shown.len() as u64);
    let mut text = shown.join(", ");
    if rest > 0 {
        text.push_str(&format!(" +{rest}"));
    }
    text
}

fn time_text(at: Timestamp) -> String {
    match chrono::DateTime::<chrono::Utc>::from_timestamp_micros(at.0) {
        Some(time) => time.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
        None => format!("{} us", at.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_agree_within_one_minute_exclusive() {
        let m = ZendeskMetric::ReplyTimeCalendar;
        // Zendesk 20 whole minutes; Rapport's exact 20.9 (truncated to 20) and 19.5 (rounded to
        // 20) agree; 21.0 and 19.0 are a full minute away and do not.
        assert_eq!(compare(m, Some(20), Some(20.9)), Outcome::Agree);
        assert_eq!(compare(m, Some(20), Some(19.5)), Outcome::Agree);
        assert_eq!(compare(m, Some(20), Some(21.0)), Outcome::Disagree);
        assert_eq!(compare(m, Some(20), Some(19.0)), Outcome::Disagree);
    }

    #[test]
    fn counts_agree_only_when_equal() {
        assert_eq!(compare(ZendeskMetric::Replies, Some(2), Some(2.0)), Outcome::Agree);
        assert_eq!(compare(ZendeskMetric::Replies, Some(2), Some(3.0)), Outcome::Disagree);
    }

    #[test]
    fn unset_on_one_side_is_missing_on_it() {
        let m = ZendeskMetric::FullResolutionCalendar;
        assert_eq!(compare(m, None, None), Outcome::Agree);
        assert_eq!(compare(m, Some(5), None), Outcome::MissingInRapport);
        assert_eq!(compare(m, None, Some(5.0)), Outcome::MissingInZendesk);
    }

    #[test]
    fn a_zendesk_null_wait_or_count_is_zero() {
        let row = ZendeskTicketMetrics { ticket_id: 1, ..ZendeskTicketMetrics::default() };
        assert_eq!(ZendeskMetric::AgentWaitCalendar.zendesk(&row), Some(0));
        assert_eq!(ZendeskMetric::Reopens.zendesk(&row), Some(0));
        assert_eq!(ZendeskMetric::ReplyTimeCalendar.zendesk(&row), None);
    }

    #[test]
    fn ids_text_shows_the_first_few_and_the_rest() {
        assert_eq!(ids_text(&[1, 2, 3, 4, 5, 6, 7], 30), "1, 2, 3, 4, 5 +25");
        assert_eq!(ids_text(&[9], 1), "9");
    }
}
