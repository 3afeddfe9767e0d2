//! The store's projections: a fold over the whole log with a checkpoint. It holds every ticket's
//! state, each requester's tickets, the follow-up chains, the customer-360 projection and the
//! metrics projection. Its maps are keyed by ids and identities from outside: they use the
//! seeded hasher of [`FastMap`].

use rapport_customer::{CustomerProjection, FastMap, ReadAt, ResolutionOptions, Touch};
use rapport_events::{codec, CxEvent, Identity, TicketId};
use rapport_log::{EventId, Position, RecordRef, RecordedEvent, Timestamp};
use rapport_metrics::{MetricsOptions, MetricsProjection};
use rapport_ticket::Ticket;

use crate::error::{Error, Result};
use crate::routing::{self, MessageRef};

/// Prefix of ticket streams: the stream of ticket `T-1` is `ticket-T-1`.
pub const TICKET_STREAM_PREFIX: &str = "ticket-";
/// Prefix of identity-fact streams (orders, ratings, identifications):
/// `identity-email:kim@example.com`.
pub const IDENTITY_STREAM_PREFIX: &str = "identity-";
/// Prefix of customer streams (merges, merge conflicts, splits): `customer-C12`.
pub const CUSTOMER_STREAM_PREFIX: &str = "customer-";
/// Prefix of organization streams: `organization-acme`.
pub const ORGANIZATION_STREAM_PREFIX: &str = "organization-";
/// The stream of definitions in force from a date: SLA policies, schedules, QA scorecards.
pub const DEFINITIONS_STREAM: &str = "definitions";

/// The stream of a ticket.
pub fn ticket_stream(ticket_id: &TicketId) -> String {
    format!("{TICKET_STREAM_PREFIX}{ticket_id}")
}

/// The ticket whose stream is `stream`, if it is a ticket stream. The name was made from a
/// valid id by [`ticket_stream`]; one that is not is a decode error at `position`.
fn ticket_of_stream(stream: &str, position: Position) -> Result<Option<TicketId>> {
    stream
        .strip_prefix(TICKET_STREAM_PREFIX)
        .map(|id| TicketId::new(id).map_err(|source| Error::Decode { position, source }))
        .transpose()
}

/// Decodes a recorded event into what the customer projection folds.
pub(crate) fn touch_of(recorded: &RecordedEvent) -> Result<Touch> {
    let event = codec::decode(&recorded.data.event_type, recorded.data.schema_version, &recorded.data.payload)
        .map_err(|source| Error::Decode { position: recorded.position, source })?;
    Ok(Touch {
        position: recorded.position,
        ticket: ticket_of_stream(&recorded.stream, recorded.position)?,
        event,
        at: recorded.data.occurred_at,
        derived: recorded.data.causation_id.is_some(),
    })
}

/// The same, from a record borrowed from a sequential read (no copies of the envelope).
pub(crate) fn touch_of_ref(record: &RecordRef<'_>) -> Result<Touch> {
    let event = codec::decode(record.event_type, record.schema_version, record.payload)
        .map_err(|source| Error::Decode { position: record.position, source })?;
    Ok(Touch {
        position: record.position,
        ticket: ticket_of_stream(record.stream, record.position)?,
        event,
        at: record.occurred_at,
        derived: record.causation_id.is_some(),
    })
}

/// One ticket as a routing correction re-folded it.
struct Refold {
    ticket_id: TicketId,
    positions: Vec<u64>,
    ticket: Option<Ticket>,
    folded: Vec<(CxEvent, Timestamp)>,
}

#[derive(Debug, Default, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct Projection {
    /// Invariant: every event below this position has been applied exactly once.
    pub(crate) checkpoint: u64,
    #[serde(serialize_with = "rapport_types::sorted::map")]
    pub(crate) tickets: FastMap<TicketId, Ticket>,
    /// Tickets of each requester identity, in creation order.
    #[serde(serialize_with = "rapport_types::sorted::map")]
    pub(crate) by_requester: FastMap<Identity, Vec<TicketId>>,
    /// Root ticket -> its follow-ups in creation order.
    #[serde(serialize_with = "rapport_types::sorted::map")]
    pub(crate) follow_ups: FastMap<TicketId, Vec<TicketId>>,
    /// Follow-up -> root of its chain.
    #[serde(serialize_with = "rapport_types::sorted::map")]
    pub(crate) root_of: FastMap<TicketId, TicketId>,
    /// Version of each ticket stream's last event, from the log's envelope (not from what the
    /// aggregate counted: an event `evolve` ignores still takes a version). The planner appends
    /// with exactly this version.
    #[serde(serialize_with = "rapport_types::sorted::map")]
    pub(crate) ticket_versions: FastMap<TicketId, u64>,
    /// Position of the event that created each customer id, and which of the customers that
    /// event created it was (`customer_created_at[n - 1]` for `Cn`; one event creates its
    /// customer and one per identity it had to keep apart). Ids are assigned in log order, so
    /// this names every customer exactly and is strictly increasing; as-of views translate the
    /// ids of a replay with it.
    pub(crate) customer_created_at: Vec<(u64, u32)>,
    /// Positions of the events of each ticket's effective history, in log order: its stream's
    /// events (routing corrections left out), less what corrections moved away, plus what they
    /// moved in (docs/design/routing.md).
    #[serde(serialize_with = "rapport_types::sorted::map")]
    pub(crate) histories: FastMap<TicketId, Vec<u64>>,
    /// Every recorded message (`message.received`, `message.sent`) by event id: what a routing
    /// correction names.
    #[serde(serialize_with = "rapport_types::sorted::map")]
    pub(crate) messages: FastMap<EventId, MessageRef>,
    /// Events applied.
    pub(crate) events_applied: u64,
    /// Identity resolution and customer profiles.
    pub(crate) customers: CustomerProjection,
    /// Per-ticket metric state, ratings and agent activity.
    pub(crate) metrics: MetricsProjection,
    /// Key-store records that `customer.erased` events named: what was sealed under them reads
    /// as erased, even before the writer has destroyed them (it finishes that at open).
    #[serde(serialize_with = "rapport_types::sorted::set")]
    pub(crate) erased_keys: std::collections::HashSet<u64>,
    /// The customer each identity of an erased customer belonged to (pseudonyms only): the
    /// identities resolve to nobody after the erasure, but the metrics (first-contact
    /// resolution, survey pairing) still take them as one customer, so an erasure changes no
    /// metric. Grows with the identities of erased customers.
    #[serde(serialize_with = "rapport_types::sorted::map")]
    pub(crate) erased_owners: FastMap<Identity, rapport_events::CustomerId>,
    /// Organizations (`organization.updated`) and the domains they claim.
    pub(crate) organizations: crate::organizations::Organizations,
}

impl Projection {
    pub(crate) fn new(resolution: ResolutionOptions, metrics: MetricsOptions) -> Projection {
        Projection {
            customers: CustomerProjection::new(resolution),
            metrics: MetricsProjection::new(metrics),
            ..Projection::default()
        }
    }

    /// Folds one recorded event (`id` is its event id). Positions must arrive in order, each
    /// once. `read` fetches older events (a customer split rebuilds profiles from the log, a
    /// routing correction re-folds the tickets it involves); if it fails, the error is returned
    /// and nothing changes: the checkpoint stays at this event. `version` is the event's version
    /// in its stream (from the log's envelope).
    pub(crate) fn apply(
        &mut self,
        touch: &Touch,
        version: u64,
        id: EventId,
        read: &mut ReadAt<'_, Error>,
    ) -> Result<()> {
        assert_eq!(touch.position.0, self.checkpoint, "projection must see every position once, in order");
        // A correction takes effect at its copy on the destination's stream (the last event it
        // writes: a ticket it creates exists by then). Its reads go before any change.
        let refolds = match (&touch.ticket, routing::is_correction(&touch.event) && touch.derived) {
            (Some(_), true) => self.prepare_correction(&touch.event, read)?,
            _ => Vec::new(),
        };
        if let CxEvent::CustomerErased(erased) = &touch.event {
            // Its identities route nothing any more: forget them before resolution does.
            let customer = self.customers.resolver().resolve(erased.customer);
            for identity in self.customers.identities(customer) {
                self.by_requester.remove(&identity);
                self.erased_owners.insert(identity, customer);
            }
            self.erased_keys.extend(erased.keys.iter().copied());
        }
        // The customer fold can fail too (it reads), so it goes before every other change.
        self.apply_customers(touch, read)?;
        let correction = routing::is_correction(&touch.event);
        if let CxEvent::OrganizationUpdated(update) = &touch.event {
            self.organizations.apply(update);
        }
        if let Some(ticket_id) = &touch.ticket {
            if !correction {
                self.apply_ticket_event(ticket_id, &touch.event, touch.at);
                // Look up before inserting: only a ticket's first event clones its id.
                match self.histories.get_mut(ticket_id) {
                    Some(history) => history.push(touch.position.0),
                    None => {
                        self.histories.insert(ticket_id.clone(), vec![touch.position.0]);
                    }
                }
                let message = match &touch.event {
                    CxEvent::MessageReceived(m) => Some((true, &m.channel)),
                    CxEvent::MessageSent(m) => Some((false, &m.channel)),
                    _ => None,
                };
                if let Some((received, channel)) = message {
                    let position = touch.position.0;
                    let reference =
                        MessageRef { position, ticket: ticket_id.clone(), received, channel: channel.clone() };
                    self.messages.insert(id, reference);
                }
            }
            match self.ticket_versions.get_mut(ticket_id) {
                Some(known) => *known = version,
                None => {
                    self.ticket_versions.insert(ticket_id.clone(), version);
                }
            }
        }
        self.commit_correction(&touch.event, refolds);
        // An erasure is no interaction, nor is a correction: metrics never see them (nor do they
        // move their `now`).
        if !matches!(touch.event, CxEvent::CustomerErased(_)) && !correction {
            self.metrics.apply(touch.ticket.as_ref(), &touch.event, touch.at);
        }
        self.checkpoint += 1;
        self.events_applied += 1;
        Ok(())
    }

    /// Reads and re-folds the tickets a correction involves, changing nothing: their new
    /// history positions, ticket state and metrics events.
    fn prepare_correction(&self, event: &CxEvent, read: &mut ReadAt<'_, Error>) -> Result<Vec<Refold>> {
        let mut histories: Vec<(TicketId, Vec<u64>)> = Vec::new();
        let history_of = |ticket_id: &TicketId| self.histories.get(ticket_id).cloned().unwrap_or_default();
        let mut read_all = |positions: &[u64]| -> Result<Vec<Touch>> {
            let mut touches = Vec::with_capacity(positions.len());
            for position in positions {
                if let Some(touch) = read(Position(*position))? {
                    touches.push(touch);
                }
            }
            Ok(touches)
        };
        let mut read_histories: Vec<(TicketId, Vec<u64>, Vec<Touch>)> = Vec::new();
        if let Some((ids, from, to)) = routing::moved_ids(event) {
            // Messages the projection does not know, or that are not on `from`, are left where
            // they are (the planner refused such a correction; a rebuild skips it the same way).
            let moved: Vec<u64> = ids
                .iter()
                .filter_map(|id| self.messages.get(id))
                .filter(|m| &m.ticket == from)
                .map(|m| m.position)
                .collect();
            let mut source = history_of(from);
            source.retain(|p| !moved.contains(p));
            let mut destination = history_of(to);
            destination.extend(moved);
            destination.sort_unstable();
            destination.dedup();
            histories.push((from.clone(), source));
            histories.push((to.clone(), destination));
            for (ticket_id, positions) in histories {
                let touches = read_all(&positions)?;
                read_histories.push((ticket_id, positions, touches));
            }
        } else if let CxEvent::TicketUnmerged(unmerged) = event {
            for ticket_id in [&unmerged.source, &unmerged.target] {
                let positions = history_of(ticket_id);
                let touches = read_all(&positions)?;
                let is_the_merge = |t: &Touch| matches!(&t.event, CxEvent::TicketMerged(m) if m.source == unmerged.source && m.target == unmerged.target);
                let (positions, touches): (Vec<u64>, Vec<Touch>) =
                    positions.into_iter().zip(touches).filter(|(_, t)| !is_the_merge(t)).unzip();
                read_histories.push((ticket_id.clone(), positions, touches));
            }
        }
        Ok(read_histories
            .into_iter()
            .map(|(ticket_id, positions, touches)| {
                let (ticket, folded) = routing::refold(&ticket_id, &touches);
                Refold { ticket_id, positions, ticket, folded }
            })
            .collect())
    }

    /// Installs what [`Projection::prepare_correction`] re-folded, and moves the messages.
    fn commit_correction(&mut self, event: &CxEvent, refolds: Vec<Refold>) {
        if refolds.is_empty() {
            return;
        }
        if let Some((ids, from, to)) = routing::moved_ids(event) {
            for id in &ids {
                if let Some(message) = self.messages.get_mut(id).filter(|m| &m.ticket == from) {
                    message.ticket = to.clone();
                }
            }
        }
        for Refold { ticket_id, positions, ticket, folded } in refolds {
            self.histories.insert(ticket_id.clone(), positions);
            match ticket {
                Some(ticket) => {
                    self.tickets.insert(ticket_id.clone(), ticket);
                }
                None => {
                    self.tickets.remove(&ticket_id);
                }
            }
            self.metrics.refold_ticket(&ticket_id, &folded);
        }
    }

    /// Folds one event into identity resolution and the profiles, noting the position of every
    /// customer id it creates.
    pub(crate) fn apply_customers(&mut self, touch: &Touch, read: &mut ReadAt<'_, Error>) -> Result<()> {
        self.customers.apply(touch, read)?;
        let resolver = self.customers.resolver();
        let mut ordinal = 0u32;
        while resolver.exists(rapport_events::CustomerId(self.customer_created_at.len() as u64 + 1)) {
            self.customer_created_at.push((touch.position.0, ordinal));
            ordinal += 1;
        }
        Ok(())
    }

    /// The event that created `customer` (position and ordinal), if it was ever assigned.
    pub(crate) fn customer_created_at(&self, customer: rapport_events::CustomerId) -> Option<(u64, u32)> {
        let idx = usize::try_from(customer.0).ok()?.checked_sub(1)?;
        self.customer_created_at.get(idx).copied()
    }

    /// Passes over a record that belongs to the store itself (its header): nothing folds it.
    pub(crate) fn skip(&mut self, position: u64) {
        assert_eq!(position, self.checkpoint, "projection must see every position once, in order");
        self.checkpoint += 1;
    }

    pub(crate) fn apply_ticket_event(&mut self, ticket_id: &TicketId, event: &CxEvent, at: Timestamp) {
        // In place: an existing ticket is neither moved nor re-keyed.
        if let Some(ticket) = self.tickets.get_mut(ticket_id) {
            ticket.evolve_in_place(event, at);
            return;
        }
        if let Some(ticket) = Ticket::evolve(None, event, at) {
            self.index_new_ticket(&ticket);
            self.tickets.insert(ticket_id.clone(), ticket);
        }
    }

    fn index_new_ticket(&mut self, ticket: &Ticket) {
        self.by_requester.entry(ticket.requester().clone()).or_default().push(ticket.id().clone());
        if let Some(parent) = ticket.follow_up_of() {
            let root = self.root_of.get(parent).cloned().unwrap_or_else(|| parent.clone());
            self.follow_ups.entry(root.clone()).or_default().push(ticket.id().clone());
            self.root_of.insert(ticket.id().clone(), root);
        }
    }
}
