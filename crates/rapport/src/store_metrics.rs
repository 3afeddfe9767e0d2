//! CX metrics of the [`Store`]: per-ticket metrics, the aggregate report, survey answers,
//! what-if definitions (schedules, SLA policies given beside the stored ones) and reports as
//! known at a date. Reads never change the store: a what-if, a `known_at` or a `now` before the
//! latest event is a read-only replay of the log into a fresh metrics projection; the live one
//! does not rewind.

use std::collections::HashMap;

use rapport_events::{CustomerId, CustomerRated, CxEvent, Identity, Survey, TicketId};
use rapport_log::{Position, Timestamp};
use rapport_metrics::report::{report_with_handles, Dimension, HandleResolution, Report, ReportQuery};
use rapport_metrics::{
    MetricsOptions, MetricsProjection, Schedules, SlaPolicy, TicketFields, TicketMetrics, TicketSla, WhatIf,
};
use rapport_ticket::Ticket;

use crate::customers::CustomerKey;
use crate::error::Result;
use crate::projection::{ticket_stream, touch_of, touch_of_ref, Projection, DEFINITIONS_STREAM};
use crate::store::Store;

/// One survey answer, revealed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SurveyAnswer {
    /// When.
    pub at: Timestamp,
    /// Who answered (revealed).
    pub identity: Identity,
    /// Which survey.
    pub survey: Survey,
    /// The score.
    pub score: u8,
    /// The ticket rated, if any.
    pub ticket_id: Option<TicketId>,
    /// The reason chosen (a label).
    pub reason: Option<String>,
    /// The customer's comment (personal: revealed, or the erased/expired marker).
    pub comment: Option<String>,
}

/// How a metrics query reads the store. The default reads the live projection (the stored
/// definitions, every event); anything set makes the query a read-only replay of the log.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MetricsScope {
    /// Schedules that replace every stored `schedule.set` for this query (a what-if).
    pub schedules: Option<Schedules>,
    /// SLA policies that replace every stored `sla.policy_set` for this query (a what-if).
    pub sla: Option<Vec<SlaPolicy>>,
    /// Only events recorded (envelope `recorded_at`, the store clock) at or before this instant:
    /// the numbers as they were known then, before later backfills.
    pub known_at: Option<Timestamp>,
}

impl MetricsScope {
    fn is_live(&self) -> bool {
        self.schedules.is_none() && self.sla.is_none() && self.known_at.is_none()
    }
}

use crate::customers::SEGMENTS;

impl Store {
    /// Time of the latest event (`occurred_at`) in the store: the default `now` of metrics.
    pub fn latest_event_at(&self) -> Result<Timestamp> {
        self.catch_up()?;
        Ok(self.projection.read().metrics.latest_at())
    }

    /// The per-ticket metrics at `now` (default: the latest event's time; an earlier `now`
    /// replays the events that occurred by then).
    pub fn ticket_metrics(&self, ticket_id: &TicketId, now: Option<Timestamp>) -> Result<Option<TicketMetrics>> {
        self.ticket_metrics_in(ticket_id, now, &MetricsScope::default())
    }

    /// [`Store::ticket_metrics`] in a scope (what-if definitions, known-at).
    pub fn ticket_metrics_in(
        &self,
        ticket_id: &TicketId,
        now: Option<Timestamp>,
        scope: &MetricsScope,
    ) -> Result<Option<TicketMetrics>> {
        self.with_metrics(scope, now, |metrics| {
            let now = now.unwrap_or_else(|| metrics.latest_at());
            Ok(metrics.ticket_metrics(ticket_id, now))
        })
    }

    /// The SLA outcome of a ticket at `now` under the first matching policy in force at its
    /// creation.
    pub fn ticket_sla(&self, ticket_id: &TicketId, now: Option<Timestamp>) -> Result<Option<TicketSla>> {
        self.ticket_sla_in(ticket_id, now, &MetricsScope::default())
    }

    /// The survey answers about a ticket, in time order (then log order): the ratings naming
    /// it among the events of its requester's customer (every identity merged into it); none
    /// once that customer is erased (the metrics still count the scores). O(events of that
    /// customer) when one of its ratings is about the ticket.
    pub fn ticket_ratings(&self, ticket_id: &TicketId) -> Result<Vec<SurveyAnswer>> {
        self.catch_up()?;
        let (positions, erased) = {
            let projection = self.projection.read();
            let Some(ticket) = projection.tickets.get(ticket_id) else { return Ok(Vec::new()) };
            let Some(profile) = projection.customers.profile_of(ticket.requester()) else { return Ok(Vec::new()) };
            // The profile knows its ratings (without texts): read the log only when one is about
            // this ticket.
            if !profile.ratings.iter().any(|r| r.ticket_id.as_ref() == Some(ticket_id)) {
                return Ok(Vec::new());
            }
            (profile.timeline.clone(), projection.erased_keys.clone())
        };
        self.answers_at(positions, &erased, |rated| rated.ticket_id.as_ref() == Some(ticket_id))
    }

    /// Every survey answer of a customer (any of its identities, any ticket or none), in time
    /// order (then log order), comments revealed: what a customer view shows. Empty for an
    /// unknown customer; an erased one (by id) keeps its scores and labels, its comments read
    /// [`crate::ERASED`]. O(events of the customer) when it has a rating.
    pub fn customer_ratings(&self, key: &CustomerKey) -> Result<Vec<SurveyAnswer>> {
        let key = match key {
            CustomerKey::Identity(identity) => CustomerKey::Identity(self.pseudonym(identity)?),
            CustomerKey::Id(id) => CustomerKey::Id(*id),
        };
        self.catch_up()?;
        let (positions, erased) = {
            let projection = self.projection.read();
            let profile = match &key {
                CustomerKey::Identity(identity) => projection.customers.profile_of(identity),
                CustomerKey::Id(id) => projection.customers.profile(*id),
            };
            match profile {
                Some(profile) if !profile.ratings.is_empty() => {
                    (profile.timeline.clone(), projection.erased_keys.clone())
                }
                _ => return Ok(Vec::new()),
            }
        };
        self.answers_at(positions, &erased, |_| true)
    }

    /// The `customer.rated` events among `positions` that `keep` accepts, revealed, in time
    /// order (then log order).
    fn answers_at(
        &self,
        positions: Vec<Position>,
        erased: &std::collections::HashSet<u64>,
        keep: impl Fn(&CustomerRated) -> bool,
    ) -> Result<Vec<SurveyAnswer>> {
        let mut answers = Vec::new();
        for position in positions {
            let recorded = crate::store::read_recorded(self.local(), position)?;
            if recorded.data.event_type != rapport_events::names::CUSTOMER_RATED {
                continue;
            }
            let (event, _) = self.privacy.reveal_recorded(&recorded, erased)?;
            if let CxEvent::CustomerRated(rated) = event {
                if keep(&rated) {
                    let answer = SurveyAnswer {
                        at: recorded.data.occurred_at,
                        identity: rated.identity,
                        survey: rated.survey,
                        score: rated.score,
                        ticket_id: rated.ticket_id,
                        reason: rated.reason,
                        comment: rated.comment,
                    };
                    answers.push((recorded.position, answer));
                }
            }
        }
        answers.sort_by_key(|(position, answer)| (answer.at, *position));
        Ok(answers.into_iter().map(|(_, answer)| answer).collect())
    }

    /// [`Store::ticket_sla`] in a scope.
    pub fn ticket_sla_in(
        &self,
        ticket_id: &TicketId,
        now: Option<Timestamp>,
        scope: &MetricsScope,
    ) -> Result<Option<TicketSla>> {
        self.with_metrics(scope, now, |metrics| {
            let now = now.unwrap_or_else(|| metrics.latest_at());
            Ok(metrics.ticket_sla(ticket_id, now))
        })
    }

    /// The metrics at `now` of every ticket, in one pass (one replay when `now` is before the
    /// latest event or the scope asks for one, not one per ticket).
    pub fn all_ticket_metrics_in(
        &self,
        now: Option<Timestamp>,
        scope: &MetricsScope,
    ) -> Result<HashMap<TicketId, TicketMetrics>> {
        self.with_metrics(scope, now, |metrics| {
            let now = now.unwrap_or_else(|| metrics.latest_at());
            Ok(metrics
                .tickets()
                .filter_map(|r| metrics.ticket_metrics(&r.ticket_id, now).map(|m| (r.ticket_id.clone(), m)))
                .collect())
        })
    }

    /// The ticket as it stood: the events of its stream that occurred by `now` and were
    /// recorded by `known_at` (each optional; neither: [`Store::ticket`]), folded afresh, with
    /// its requester and subject revealed. Reads only; `None` if it did not exist then.
    pub fn ticket_at(
        &self,
        ticket_id: &TicketId,
        now: Option<Timestamp>,
        known_at: Option<Timestamp>,
    ) -> Result<Option<Ticket>> {
        if now.is_none() && known_at.is_none() {
            return self.ticket(ticket_id);
        }
        let mut state = None;
        for recorded in self.local().read_stream(&ticket_stream(ticket_id), 0) {
            let recorded = recorded?;
            if known_at.is_some_and(|t| recorded.recorded_at > t) {
                // `recorded_at` never decreases along the log.
                break;
            }
            if now.is_some_and(|t| recorded.data.occurred_at > t) {
                continue;
            }
            let touch = touch_of(&recorded)?;
            state = Ticket::evolve(state, &touch.event, touch.at);
        }
        state.map(|ticket| self.reveal_ticket(ticket)).transpose()
    }

    /// A ticket's custom fields (`ticket.fields_set`), in a scope (`known_at` shows them as
    /// recorded by then); `None` when the ticket has none.
    pub fn ticket_fields_in(&self, ticket_id: &TicketId, scope: &MetricsScope) -> Result<Option<TicketFields>> {
        self.with_metrics(scope, None, |metrics| Ok(metrics.fields(ticket_id).cloned()))
    }

    /// Aggregates for a period, optionally grouped (nested) and filtered, with drill-down, on
    /// the live projection (see [`Store::metrics_report_in`]).
    pub fn metrics_report(&self, query: &ReportQuery) -> Result<Report> {
        self.metrics_report_in(query, &MetricsScope::default())
    }

    /// [`Store::metrics_report`] in a scope: `rapport metrics --what-if`, `--known-at`.
    /// Requester dimensions (`trait:`, `segment`, `organization`) use the customers as they
    /// are now.
    pub fn metrics_report_in(&self, query: &ReportQuery, scope: &MetricsScope) -> Result<Report> {
        query.validate()?;
        let requester = self.requester_keys(query)?;
        let resolve = |ticket: &TicketId, dimension: &Dimension| -> Vec<String> {
            requester.get(&(ticket.clone(), dimension.clone())).cloned().unwrap_or_default()
        };
        self.with_metrics(scope, query.now, |metrics| {
            // "The same customer" (first-contact resolution, survey pairing) is customer-360
            // resolution's: identities merged into one customer are one customer; the identities
            // of an erased customer stay that customer's, so an erasure changes no metric. A
            // recursive read: `with_metrics` may hold the lock already.
            let projection = self.projection.read_recursive();
            let (customers, erased) = (&projection.customers, &projection.erased_owners);
            let customer_of = |identity: &Identity| {
                customers.owner(identity).or_else(|| erased.get(identity).map(|c| customers.resolver().resolve(*c)))
            };
            // The same resolution through the resolver's identity handles (an interned identity
            // keeps its handle), which the report remembers per ticket.
            let resolver = customers.resolver();
            let handle_of = |identity: &Identity| resolver.handle(identity);
            let customer_of_handle = |handle: u32, identity: &Identity| {
                resolver.owner_of_handle(handle).or_else(|| erased.get(identity).map(|c| resolver.resolve(*c)))
            };
            let handles = HandleResolution { handle_of: &handle_of, customer_of_handle: &customer_of_handle };
            Ok(report_with_handles(metrics, query, &customer_of, &handles, &resolve))
        })
    }

    /// The metric definitions given to the store (fallback, or the what-if in force after
    /// [`Store::set_metrics_options`]).
    pub fn metrics_options(&self) -> MetricsOptions {
        self.projection.read().metrics.options().clone()
    }

    /// A what-if beside the store: from now on the live metrics use these schedules and SLA
    /// policies instead of the stored definitions (`schedule.set`, `sla.policy_set`), recomputed
    /// from the log. Nothing is written: the stored definitions stay as they are, and a store
    /// opened again uses them.
    pub fn set_metrics_options(&self, options: MetricsOptions) -> Result<()> {
        self.catch_up()?;
        // Holding the catch-up lock keeps the checkpoint where it is while the log is replayed;
        // events appended meanwhile are folded by the next catch-up, into every projection.
        let _serial = self.catch_up_lock.lock();
        let end = self.projection.read().checkpoint;
        let rebuilt = self.replay_metrics(MetricsProjection::with_what_if(options, WhatIf::all()), end, None, None)?;
        self.projection.write().metrics = rebuilt;
        Ok(())
    }

    /// Ends a [`Store::set_metrics_options`] what-if: the live metrics measure by the stored
    /// definitions again (with [`StoreOptions::metrics`](crate::StoreOptions::metrics) as the
    /// fallback), recomputed from the log.
    pub fn reset_metrics_options(&self) -> Result<()> {
        self.catch_up()?;
        let _serial = self.catch_up_lock.lock();
        let end = self.projection.read().checkpoint;
        let fresh = MetricsProjection::new(self.options().metrics.clone());
        let rebuilt = self.replay_metrics(fresh, end, None, None)?;
        self.projection.write().metrics = rebuilt;
        Ok(())
    }

    /// Runs `query` on the live metrics, or on a replay when the scope asks for one or `now` is
    /// before the latest event.
    fn with_metrics<T>(
        &self,
        scope: &MetricsScope,
        now: Option<Timestamp>,
        query: impl FnOnce(&MetricsProjection) -> Result<T>,
    ) -> Result<T> {
        self.catch_up()?;
        let (fresh, end, past_now) = {
            let projection = self.projection.read();
            let live = &projection.metrics;
            let past_now = now.filter(|now| *now < live.latest_at());
            if scope.is_live() && past_now.is_none() {
                return query(live);
            }
            let mut options = live.options().clone();
            let mut what_if = live.what_if();
            if let Some(schedules) = &scope.schedules {
                options.schedules = schedules.clone();
                what_if.schedules = true;
            }
            if let Some(sla) = &scope.sla {
                options.sla = sla.clone();
                what_if.sla = true;
            }
            (MetricsProjection::with_what_if(options, what_if), projection.checkpoint, past_now)
        };
        let replayed = self.replay_metrics(fresh, end, scope.known_at, past_now)?;
        query(&replayed)
    }

    /// Folds the log below position `end` into `metrics`, definitions first (so every ticket is
    /// measured by every definition recorded, whenever it was recorded — what the live
    /// projection converges to), skipping events recorded after `known_at` and events that
    /// occurred after `occurred_by`. Reads only.
    pub(crate) fn replay_metrics(
        &self,
        mut metrics: MetricsProjection,
        end: u64,
        known_at: Option<Timestamp>,
        occurred_by: Option<Timestamp>,
    ) -> Result<MetricsProjection> {
        let known = |recorded_at: Timestamp| known_at.is_none_or(|t| recorded_at <= t);
        for recorded in self.local().read_stream(DEFINITIONS_STREAM, 0) {
            let recorded = recorded?;
            if recorded.position.0 >= end || !known(recorded.recorded_at) {
                // The stream is in log order and `recorded_at` never decreases along the log.
                break;
            }
            let touch = touch_of(&recorded)?;
            metrics.apply(None, &touch.event, touch.at);
        }
        let mut reader = self.local().read_all(Position(0));
        while let Some(record) = reader.next_ref() {
            let record = record?;
            if record.position.0 >= end || !known(record.recorded_at) {
                break;
            }
            let skip = crate::format::is_system_type(record.event_type)
                || record.stream == DEFINITIONS_STREAM
                || occurred_by.is_some_and(|t| record.occurred_at > t);
            if skip {
                continue;
            }
            let touch = touch_of_ref(&record)?;
            // As in the live fold: an erasure is no interaction.
            if !matches!(touch.event, CxEvent::CustomerErased(_)) {
                metrics.apply(touch.ticket.as_ref(), &touch.event, touch.at);
            }
        }
        Ok(metrics)
    }

    /// After a catch-up folded a backfilled schedule (one in force for tickets already folded),
    /// refolds the metrics, definitions first, so the live projection equals a rebuild. Called
    /// with the catch-up lock held.
    pub(crate) fn rebuild_metrics_if_needed(&self, projection: &mut Projection) -> Result<()> {
        if !projection.metrics.needs_rebuild() {
            return Ok(());
        }
        let metrics = &projection.metrics;
        let fresh = MetricsProjection::with_what_if(metrics.options().clone(), metrics.what_if());
        projection.metrics = self.replay_metrics(fresh, projection.checkpoint, None, None)?;
        Ok(())
    }

    /// The keys of the requester dimensions the query uses, per ticket: the requester's
    /// customer traits (revealed), segments and organization, as the customers are now.
    fn requester_keys(&self, query: &ReportQuery) -> Result<HashMap<(TicketId, Dimension), Vec<String>>> {
        let used: Vec<&Dimension> = query
            .group_by
            .iter()
            .chain(&query.then_by)
            .chain(query.filters.iter().map(|(d, _)| d))
            .filter(|d| matches!(d, Dimension::Trait(_) | Dimension::Segment | Dimension::Organization))
            .collect();
        let mut out = HashMap::new();
        if used.is_empty() {
            return Ok(out);
        }
        let mut segments: HashMap<CustomerId, Vec<String>> = HashMap::new();
        if used.iter().any(|d| matches!(d, Dimension::Segment)) {
            for (name, segment) in SEGMENTS {
                for customer in self.segment(&segment)? {
                    segments.entry(customer).or_default().push(name.to_owned());
                }
            }
        }
        self.catch_up()?;
        let erased = self.erased_keys();
        let projection = self.projection.read();
        // Trait values are sealed in the log: each setting event is revealed once.
        let mut revealed = crate::organizations::RevealCache::new();
        // One membership lookup per customer (it may reveal a trait and e-mail identities).
        let mut organizations: HashMap<CustomerId, Option<String>> = HashMap::new();
        for (ticket_id, ticket) in &projection.tickets {
            let customer = projection.customers.owner(ticket.requester());
            let profile = customer.and_then(|c| projection.customers.profile(c));
            for dimension in &used {
                let keys = match (dimension, profile) {
                    (_, None) => Vec::new(),
                    (Dimension::Segment, Some(profile)) => segments.get(&profile.id).cloned().unwrap_or_default(),
                    (Dimension::Organization, Some(profile)) => {
                        if let std::collections::hash_map::Entry::Vacant(entry) = organizations.entry(profile.id) {
                            let organization = self.organization_in(&projection, profile.id, &erased, &mut revealed)?;
                            entry.insert(organization.map(|o| o.id));
                        }
                        organizations.get(&profile.id).cloned().flatten().into_iter().collect()
                    }
                    (Dimension::Trait(name), Some(profile)) => {
                        self.trait_text(profile, name, &erased, &mut revealed)?.into_iter().collect()
                    }
                    _ => Vec::new(),
                };
                out.insert((ticket_id.clone(), (*dimension).clone()), keys);
            }
        }
        Ok(out)
    }
}
