//! The metrics projection: per-ticket metric state, status transitions (for backlog), solves
//! (for throughput), agent activity and ratings — each updated in O(1) per event. Aggregates are
//! computed from it on demand ([`crate::report`]). Stored definitions (`schedule.set`,
//! `sla.policy_set`) are folded into an effective-dated history ([`crate::Definitions`]); a
//! backfilled schedule sets [`MetricsProjection::needs_rebuild`], and the owner folds the log
//! again, definitions first. A what-if is a projection built with [`MetricsProjection::with_what_if`].

use std::collections::{BTreeMap, BTreeSet};

use crate::records::TicketRecords;
use rapport_customer::FastMap;
use rapport_events::{Channel, CxEvent, Identity, QaCategory, Survey, TicketId};
use rapport_types::Timestamp;

use crate::definitions::{policies_for, schedule_for, Definitions, WhatIf};
use crate::grouping::{set_fields, TicketFields};
use crate::qa::{QaReviewRecord, Scorecards};
use crate::schedule::{Schedule, Schedules};
use crate::sla::{evaluate_in, SlaPolicy, TicketSla};
use crate::surveys::OfferRecord;
use crate::ticket::{TicketMetrics, TicketMetricsState};

/// Definitions the metrics depend on, given by the caller: the fallback where no stored
/// definition (`schedule.set`, `sla.policy_set`) is in force, or, for the kinds a [`WhatIf`]
/// names, the replacement of every stored one.
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize, serde::Deserialize)]
pub struct MetricsOptions {
    /// Business hours.
    pub schedules: Schedules,
    /// SLA policies, first match wins.
    pub sla: Vec<SlaPolicy>,
}

/// One ticket in the metrics projection.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
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
    /// The requester (as recorded: the store's pseudonym); first-contact resolution asks the
    /// caller which customer it belongs to.
    pub requester: Identity,
    /// Closed by a merge into another ticket.
    pub merged_away: bool,
    /// The requester's handle as a report's caller gave it (see
    /// [`crate::report::HandleResolution`]): a lookup remembered, not state — never encoded,
    /// empty after a load, and ignored by `==`.
    #[serde(skip)]
    pub(crate) requester_handle: HandleCell,
}

/// A remembered handle (set once: a caller's handles never change). Not part of the state:
/// every two compare equal.
#[derive(Debug, Clone, Default)]
pub(crate) struct HandleCell(pub(crate) std::sync::OnceLock<u32>);

impl PartialEq for HandleCell {
    fn eq(&self, _: &HandleCell) -> bool {
        true
    }
}

/// One survey answer, with the ticket's context at rating time.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
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
    /// Who answered (as recorded: the store's pseudonym); survey pairing asks the caller which
    /// customer it belongs to.
    pub identity: Identity,
    /// The reason chosen (a label, not personal). The free-text comment is personal and is not
    /// kept here.
    pub reason: Option<String>,
}

/// The projection.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct MetricsProjection {
    options: MetricsOptions,
    tickets: TicketRecords,
    #[serde(deserialize_with = "rapport_types::sorted::exact_vec")]
    ratings: Vec<RatingRecord>,
    /// Days (days since the epoch, UTC) on which each agent replied or solved a ticket.
    agent_days: BTreeMap<String, BTreeSet<i32>>,
    /// Every `survey.offered`, in fold order.
    #[serde(deserialize_with = "rapport_types::sorted::exact_vec")]
    offers: Vec<OfferRecord>,
    /// Every `qa.reviewed`, in fold order.
    #[serde(deserialize_with = "rapport_types::sorted::exact_vec")]
    reviews: Vec<QaReviewRecord>,
    /// Every `qa.scorecard_set`, by name and `valid_from`.
    scorecards: Scorecards,
    latest_at: i64,
    /// Which kinds of `options` replace the stored definitions.
    what_if: WhatIf,
    /// Stored definitions, effective-dated.
    definitions: Definitions,
    /// Custom fields per ticket (`ticket.fields_set`). Each value is kept as its compact JSON
    /// text in a snapshot: postcard cannot carry an untyped JSON value.
    #[serde(with = "fields_as_text")]
    fields: FastMap<TicketId, TicketFields>,
    /// The latest creation time of any ticket folded.
    latest_created_at: Option<i64>,
    /// A schedule arrived that applies to tickets already folded (backfilled): their business
    /// time must be folded again ([`MetricsProjection::needs_rebuild`]).
    rebuild_needed: bool,
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

    /// An empty projection in which the kinds `what_if` names come from `options` and ignore
    /// the stored definitions (a what-if beside the store).
    pub fn with_what_if(options: MetricsOptions, what_if: WhatIf) -> MetricsProjection {
        MetricsProjection { options, what_if, ..MetricsProjection::default() }
    }

    /// The definitions given by the caller (fallback, or replacement for the what-if kinds).
    pub fn options(&self) -> &MetricsOptions {
        &self.options
    }

    /// Which kinds of [`MetricsProjection::options`] replace the stored definitions.
    pub fn what_if(&self) -> WhatIf {
        self.what_if
    }

    /// The stored definitions folded so far.
    pub fn definitions(&self) -> &Definitions {
        &self.definitions
    }

    /// Whether a `schedule.set` arrived whose `valid_from` is at or before the creation of a
    /// ticket already folded: the fold is then not what a rebuild would give, and the owner must
    /// fold the log again, definitions first (the store does, right after catching up).
    pub fn needs_rebuild(&self) -> bool {
        self.rebuild_needed
    }

    /// A ticket's custom fields (`ticket.fields_set`), if any were set.
    pub fn fields(&self, ticket_id: &TicketId) -> Option<&TicketFields> {
        self.fields.get(ticket_id)
    }

    /// The SLA policies a ticket is measured by, in matching order.
    pub fn policies_of<'a>(&'a self, state: &TicketMetricsState) -> Box<dyn Iterator<Item = &'a SlaPolicy> + 'a> {
        policies_for(&self.definitions, &self.options.sla, self.what_if, state.created_at)
    }

    /// A ticket's SLA outcome at `now` under the first matching policy in force at its creation.
    pub fn ticket_sla(&self, ticket_id: &TicketId, now: Timestamp) -> Option<TicketSla> {
        let record = self.tickets.get(ticket_id)?;
        evaluate_in(self.policies_of(&record.state), self.schedule_of(&record.state), &record.state, now.0)
    }

    /// Time of the latest event folded (the default `now` of reports).
    pub fn latest_at(&self) -> Timestamp {
        Timestamp(self.latest_at)
    }

    /// The schedule a ticket uses.
    pub fn schedule_of(&self, state: &TicketMetricsState) -> &Schedule {
        let group = state.schedule_group.as_deref();
        schedule_for(&self.definitions, &self.options.schedules, self.what_if, group, state.created_at)
    }

    /// A ticket's record.
    pub fn ticket(&self, ticket_id: &TicketId) -> Option<&TicketRecord> {
        self.tickets.get(ticket_id)
    }

    /// Every ticket record (any order).
    pub fn tickets(&self) -> impl Iterator<Item = &TicketRecord> {
        self.tickets.values()
    }

    /// The ticket records (what a report ranks).
    pub(crate) fn ticket_records(&self) -> &crate::records::TicketRecords {
        &self.tickets
    }

    /// Every rating.
    pub fn ratings(&self) -> &[RatingRecord] {
        &self.ratings
    }

    /// Every survey offer, in fold order.
    pub fn offers(&self) -> &[OfferRecord] {
        &self.offers
    }

    /// Every QA review, in fold order.
    pub fn reviews(&self) -> &[QaReviewRecord] {
        &self.reviews
    }

    /// The QA scorecards set so far.
    pub fn scorecards(&self) -> &Scorecards {
        &self.scorecards
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
        // Definitions are no interaction: they do not move `now`. One that does not parse (the
        // store refuses those before recording) is ignored.
        match event {
            CxEvent::SlaPolicySet(policy) => {
                let _ignored = self.definitions.set_policy(policy);
                return;
            }
            CxEvent::ScheduleSet(schedule) => {
                let set = self.definitions.set_schedule(schedule).is_ok();
                let backfilled = self.latest_created_at.is_some_and(|created| created >= schedule.valid_from.0);
                if set && backfilled && !self.what_if.schedules {
                    self.rebuild_needed = true;
                }
                return;
            }
            CxEvent::SourceCheckpoint(_) | CxEvent::SourceLinked(_) => return,
            _ => {}
        }
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
                identity: rating.identity.clone(),
                reason: rating.reason.clone(),
            });
            return;
        }
        match event {
            CxEvent::SurveyOffered(offer) => {
                self.offers.push(OfferRecord {
                    at,
                    survey: offer.survey,
                    identity: offer.identity.clone(),
                    ticket_id: offer.ticket_id.clone(),
                });
                return;
            }
            CxEvent::QaScorecardSet(set) => {
                let categories: Vec<QaCategory> = set.categories.clone();
                self.scorecards.insert(&set.name, set.valid_from.0, categories);
                return;
            }
            CxEvent::QaReviewed(review) => {
                let context = self.tickets.get(&review.ticket_id);
                self.reviews.push(QaReviewRecord {
                    at,
                    ticket_id: review.ticket_id.clone(),
                    agent: review.agent.clone(),
                    reviewer: review.reviewer.clone(),
                    scorecard: review.scorecard.clone(),
                    categories: review.categories.clone(),
                    group: context.and_then(|r| r.state.group.clone()),
                });
                return;
            }
            _ => {}
        }
        let Some(ticket_id) = ticket else { return };
        if let CxEvent::TicketOpened(opened) = event {
            // A second `ticket.opened` on a stream changes nothing (the first one created it).
            if self.tickets.contains_key(ticket_id) {
                return;
            }
            let state = TicketMetricsState::opened(opened, at);
            let record = TicketRecord {
                ticket_id: ticket_id.clone(),
                state,
                transitions: vec![(at, true)],
                solves: Vec::new(),
                requester: opened.requester.clone(),
                merged_away: false,
                requester_handle: HandleCell::default(),
            };
            self.tickets.insert(record);
            self.latest_created_at = Some(self.latest_created_at.map_or(at, |latest| latest.max(at)));
        }
        if let CxEvent::TicketFieldsSet(set) = event {
            if self.tickets.contains_key(ticket_id) {
                set_fields(self.fields.entry(ticket_id.clone()).or_default(), &set.fields);
            }
            return;
        }
        // The target of a merge takes over the source's channels (as they are at the merge).
        let merged_channels = match event {
            CxEvent::TicketMerged(merged) if &merged.target == ticket_id && &merged.source != ticket_id => {
                self.tickets.get(&merged.source).map(|r| r.state.channels.clone())
            }
            _ => None,
        };
        let Some(record) = self.tickets.get_mut(ticket_id) else { return };
        let group = record.state.schedule_group.as_deref();
        let schedule =
            schedule_for(&self.definitions, &self.options.schedules, self.what_if, group, record.state.created_at);
        let was_unsolved = unsolved(&record.state);
        let solves_before = record.state.solves;
        match event {
            CxEvent::TicketMerged(merged) if &merged.source == ticket_id => {
                record.merged_away |= &merged.target != ticket_id;
                record.state.merged_away(schedule, at);
            }
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
            // A bot's or the system's message is no agent activity.
            if message.public && message.actor.is_human() {
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

/// serde for the fields per ticket: `ticket -> field -> compact JSON text`, in key order.
mod fields_as_text {
    use std::collections::BTreeMap;

    use rapport_customer::FastMap;
    use rapport_events::TicketId;
    use serde::{de::Error as _, Deserialize, Deserializer, Serialize, Serializer};

    use crate::grouping::TicketFields;

    pub(super) fn serialize<S: Serializer>(
        fields: &FastMap<TicketId, TicketFields>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        let texts: BTreeMap<&TicketId, BTreeMap<&str, String>> = fields
            .iter()
            .map(|(ticket, fields)| {
                (ticket, fields.iter().map(|(name, value)| (name.as_str(), value.to_string())).collect())
            })
            .collect();
        texts.serialize(serializer)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<FastMap<TicketId, TicketFields>, D::Error> {
        let texts = BTreeMap::<TicketId, BTreeMap<String, String>>::deserialize(deserializer)?;
        let mut fields = FastMap::default();
        for (ticket, values) in texts {
            let mut parsed = TicketFields::new();
            for (name, text) in values {
                let value =
                    serde_json::from_str(&text).map_err(|e| D::Error::custom(format!("field {name:?}: {e}")))?;
                parsed.insert(name, value);
            }
            fields.insert(ticket, parsed);
        }
        Ok(fields)
    }
}
