//! The metrics projection: per-ticket metric state, status transitions (for backlog), solves
//! (for throughput), agent activity and ratings — each updated in O(1) per event. Aggregates are
//! computed from it on demand ([`crate::report`]). Changing schedules or SLA policies means
//! rebuilding it from the log, which the store does.

use std::collections::{BTreeMap, BTreeSet};

use rapport_customer::FastMap;
use rapport_events::{Channel, CxEvent, Survey, TicketId};
use rapport_types::Timestamp;

use crate::schedule::{Schedule, Schedules};
use crate::sla::SlaPolicy;
use crate::ticket::{TicketMetrics, TicketMetricsState};

/// Definitions the metrics depend on.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MetricsOptions {
    /// Business hours.
    pub schedules: Schedules,
    /// SLA policies, first match wins.
    pub sla: Vec<SlaPolicy>,
}

/// One ticket in the metrics projection.
#[derive(Debug, Clone, PartialEq)]
pub struct TicketRecord {
    /// The id.
    pub ticket_id: TicketId,
    /// Metric state.
    pub state: TicketMetricsState,
    /// `(time, unsolved after)` whenever the ticket moved between unsolved and solved/closed;
    /// the first entry is the creation.
    pub transitions: Vec<(i64, bool)>,
    /// `(time, assignee)` of every solve.
    pub solves: Vec<(i64, Option<String>)>,
}

/// One survey answer, with the ticket's context at rating time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RatingRecord {
    /// When.
    pub at: i64,
    /// Survey.
    pub survey: Survey,
    /// Score.
    pub score: u8,
    /// Ticket rated, if any.
    pub ticket_id: Option<TicketId>,
    /// The ticket's assignee at rating time.
    pub agent: Option<String>,
    /// The ticket's group at rating time.
    pub group: Option<String>,
    /// The ticket's channel of creation.
    pub channel: Option<Channel>,
}

/// The projection.
#[derive(Debug, Clone, Default)]
pub struct MetricsProjection {
    options: MetricsOptions,
    tickets: FastMap<TicketId, TicketRecord>,
    ratings: Vec<RatingRecord>,
    /// Days (days since the epoch, UTC) on which each agent replied or solved a ticket.
    agent_days: BTreeMap<String, BTreeSet<i32>>,
    latest_at: i64,
}

fn unsolved(state: &TicketMetricsState) -> bool {
    state.status.is_unsolved()
}

fn day(at: i64) -> i32 {
    at.div_euclid(86_400_000_000) as i32
}

impl MetricsProjection {
    /// An empty projection with these definitions.
    pub fn new(options: MetricsOptions) -> MetricsProjection {
        MetricsProjection { options, ..MetricsProjection::default() }
    }

    /// The definitions.
    pub fn options(&self) -> &MetricsOptions {
        &self.options
    }

    /// Time of the latest event folded (the default `now` of reports).
    pub fn latest_at(&self) -> Timestamp {
        Timestamp(self.latest_at)
    }

    /// The schedule a ticket uses.
    pub fn schedule_of(&self, state: &TicketMetricsState) -> &Schedule {
        self.options.schedules.for_group(state.schedule_group.as_deref())
    }

    /// A ticket's record.
    pub fn ticket(&self, ticket_id: &TicketId) -> Option<&TicketRecord> {
        self.tickets.get(ticket_id)
    }

    /// Every ticket record (any order).
    pub fn tickets(&self) -> impl Iterator<Item = &TicketRecord> {
        self.tickets.values()
    }

    /// Every rating.
    pub fn ratings(&self) -> &[RatingRecord] {
        &self.ratings
    }

    /// Active days per agent.
    pub fn agent_days(&self) -> &BTreeMap<String, BTreeSet<i32>> {
        &self.agent_days
    }

    /// The per-ticket metrics at `now`.
    pub fn ticket_metrics(&self, ticket_id: &TicketId, now: Timestamp) -> Option<TicketMetrics> {
        let record = self.tickets.get(ticket_id)?;
        Some(record.state.metrics(self.schedule_of(&record.state), now.0))
    }

    /// Folds one event; `ticket` is the ticket whose stream holds it. O(1) expected time per
    /// event (hash lookups, amortized pushes), plus O(log) for agent activity days and the
    /// business-time arithmetic of a status change.
    pub fn apply(&mut self, ticket: Option<&TicketId>, event: &CxEvent, at: Timestamp) {
        // Records keep unix microseconds: their arithmetic (durations, days) is on integers.
        let at = at.0;
        self.latest_at = self.latest_at.max(at);
        if let CxEvent::CustomerRated(rating) = event {
            let context = rating.ticket_id.as_ref().and_then(|t| self.tickets.get(t));
            self.ratings.push(RatingRecord {
                at,
                survey: rating.survey,
                score: rating.score,
                ticket_id: rating.ticket_id.clone(),
                agent: context.and_then(|r| r.state.assignee.clone()),
                group: context.and_then(|r| r.state.group.clone()),
                channel: context.and_then(|r| r.state.channels.first().cloned()),
            });
            return;
        }
        let Some(ticket_id) = ticket else { return };
        if let CxEvent::TicketOpened(opened) = event {
            // A second `ticket.opened` on a stream changes nothing (the first one created it).
            if self.tickets.contains_key(ticket_id) {
                return;
            }
            let state = TicketMetricsState::opened(opened, at);
            let record =
                TicketRecord { ticket_id: ticket_id.clone(), state, transitions: vec![(at, true)], solves: Vec::new() };
            self.tickets.insert(ticket_id.clone(), record);
        }
        // The target of a merge takes over the source's channels (as they are at the merge).
        let merged_channels = match event {
            CxEvent::TicketMerged(merged) if &merged.target == ticket_id && &merged.source != ticket_id => {
                self.tickets.get(&merged.source).map(|r| r.state.channels.clone())
            }
            _ => None,
        };
        let Some(record) = self.tickets.get_mut(ticket_id) else { return };
        let schedule = self.options.schedules.for_group(record.state.schedule_group.as_deref());
        let was_unsolved = unsolved(&record.state);
        let solves_before = record.state.solves;
        match event {
            CxEvent::TicketMerged(merged) if &merged.source == ticket_id => record.state.merged_away(schedule, at),
            _ => record.state.apply(schedule, event, at),
        }
        if let Some(channels) = merged_channels {
            record.state.absorb_channels(&channels);
        }
        let is_unsolved = unsolved(&record.state);
        if was_unsolved != is_unsolved {
            record.transitions.push((at, is_unsolved));
        }
        if record.state.solves != solves_before {
            let assignee = record.state.assignee.clone();
            if let Some(agent) = &assignee {
                mark_active(&mut self.agent_days, agent, at);
            }
            record.solves.push((at, assignee));
        }
        if let CxEvent::MessageSent(message) = event {
            if message.public {
                mark_active(&mut self.agent_days, &message.agent, at);
            }
        }
    }
}

impl MetricsProjection {
    /// Re-folds one ticket's record from `events` (its effective history, as the store re-folds
    /// it after a routing correction): the record is dropped and every event folded as
    /// [`MetricsProjection::apply`] folds it. Ratings and the latest time stay as they are; agent
    /// days only grow (a day an agent was active stays active).
    pub fn refold_ticket(&mut self, ticket_id: &TicketId, events: &[(CxEvent, Timestamp)]) {
        let latest_at = self.latest_at;
        self.tickets.remove(ticket_id);
        for (event, at) in events {
            if !matches!(event, CxEvent::CustomerRated(_)) {
                self.apply(Some(ticket_id), event, *at);
            }
        }
        self.latest_at = latest_at;
    }
}

fn mark_active(agent_days: &mut BTreeMap<String, BTreeSet<i32>>, agent: &str, at: i64) {
    match agent_days.get_mut(agent) {
        Some(days) => {
            days.insert(day(at));
        }
        None => {
            agent_days.insert(agent.to_owned(), BTreeSet::from([day(at)]));
        }
    }
}
