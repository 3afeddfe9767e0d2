//! CX metrics of the [`Store`]: per-ticket metrics, the aggregate report, survey answers,
//! and changing the definitions (schedules, SLA policies), which recomputes the metrics from
//! the log.

use rapport_events::{CustomerRated, CxEvent, Identity, Survey, TicketId};
use rapport_log::{Position, Timestamp};
use rapport_metrics::report::{report_with_customers, Report, ReportQuery};
use rapport_metrics::{MetricsOptions, MetricsProjection, TicketMetrics, TicketSla};

use crate::customers::CustomerKey;
use crate::error::Result;
use crate::projection::touch_of_ref;
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

impl Store {
    /// Time of the latest event (`occurred_at`) in the store: the default `now` of metrics.
    pub fn latest_event_at(&self) -> Result<Timestamp> {
        self.catch_up()?;
        Ok(self.projection.read().metrics.latest_at())
    }

    /// The per-ticket metrics at `now` (default: the latest event's time).
    pub fn ticket_metrics(&self, ticket_id: &TicketId, now: Option<Timestamp>) -> Result<Option<TicketMetrics>> {
        self.catch_up()?;
        let projection = self.projection.read();
        let now = now.unwrap_or_else(|| projection.metrics.latest_at());
        Ok(projection.metrics.ticket_metrics(ticket_id, now))
    }

    /// The SLA outcome of a ticket at `now` under the first matching policy.
    pub fn ticket_sla(&self, ticket_id: &TicketId, now: Option<Timestamp>) -> Result<Option<TicketSla>> {
        self.catch_up()?;
        let projection = self.projection.read();
        let metrics = &projection.metrics;
        let now = now.map_or_else(|| metrics.latest_at().0, |t| t.0);
        Ok(metrics.ticket(ticket_id).and_then(|record| {
            rapport_metrics::evaluate_sla(
                &metrics.options().sla,
                metrics.schedule_of(&record.state),
                &record.state,
                now,
            )
        }))
    }

    /// Aggregates for a period, optionally grouped, with drill-down. "The same customer"
    /// (first-contact resolution, survey pairing) is customer-360 resolution's: identities
    /// merged into one customer are one customer; the identities of an erased customer stay
    /// that customer's, so an erasure changes no metric.
    pub fn metrics_report(&self, query: &ReportQuery) -> Result<Report> {
        self.catch_up()?;
        let projection = self.projection.read();
        let (customers, erased) = (&projection.customers, &projection.erased_owners);
        let customer_of = |identity: &Identity| {
            customers.owner(identity).or_else(|| erased.get(identity).map(|c| customers.resolver().resolve(*c)))
        };
        Ok(report_with_customers(&projection.metrics, query, &customer_of))
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
            let recorded = crate::store::read_recorded(&self.log, position)?;
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

    /// The metric definitions in force.
    pub fn metrics_options(&self) -> MetricsOptions {
        self.projection.read().metrics.options().clone()
    }

    /// Replaces the metric definitions (schedules, SLA policies) and recomputes every metric from
    /// the log.
    pub fn set_metrics_options(&self, options: MetricsOptions) -> Result<()> {
        self.catch_up()?;
        // Holding the catch-up lock keeps the checkpoint where it is while the log is replayed;
        // events appended meanwhile are folded by the next catch-up, into every projection.
        let _serial = self.catch_up_lock.lock();
        let end = self.projection.read().checkpoint;
        let mut rebuilt = MetricsProjection::new(options);
        let mut reader = self.log().read_all(Position(0));
        while let Some(record) = reader.next_ref() {
            let record = record?;
            if record.position.0 >= end {
                break;
            }
            if crate::format::is_system_type(record.event_type) {
                continue;
            }
            let touch = touch_of_ref(&record)?;
            rebuilt.apply(touch.ticket.as_ref(), &touch.event, touch.at);
        }
        self.projection.write().metrics = rebuilt;
        Ok(())
    }
}
