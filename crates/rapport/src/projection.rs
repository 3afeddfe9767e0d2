//! The store's projections: a fold over the whole log with a checkpoint. It holds every ticket's
//! state, each requester's tickets, the follow-up chains, the customer-360 projection and the
//! metrics projection.

use std::collections::HashMap;

use rapport_customer::{CustomerProjection, ReadAt, ResolutionOptions, Touch};
use rapport_events::{codec, CxEvent, Identity, TicketId};
use rapport_log::{RecordRef, RecordedEvent, Timestamp};
use rapport_metrics::{MetricsOptions, MetricsProjection};
use rapport_ticket::Ticket;

use crate::error::{Error, Result};

/// Prefix of ticket streams: the stream of ticket `T-1` is `ticket-T-1`.
pub const TICKET_STREAM_PREFIX: &str = "ticket-";
/// Prefix of identity-fact streams (orders, ratings, identifications):
/// `identity-email:kim@example.com`.
pub const IDENTITY_STREAM_PREFIX: &str = "identity-";
/// Prefix of customer streams (merges, merge conflicts, splits): `customer-C12`.
pub const CUSTOMER_STREAM_PREFIX: &str = "customer-";

/// The stream of a ticket.
pub fn ticket_stream(ticket_id: &TicketId) -> String {
    format!("{TICKET_STREAM_PREFIX}{ticket_id}")
}

/// The ticket whose stream is `stream`, if it is a ticket stream. The name was made from a
/// valid id by [`ticket_stream`]; one that is not is a decode error at `position`.
fn ticket_of_stream(stream: &str, position: u64) -> Result<Option<TicketId>> {
    stream
        .strip_prefix(TICKET_STREAM_PREFIX)
        .map(|id| TicketId::new(id).map_err(|source| Error::Decode { position, source }))
        .transpose()
}

/// Decodes a recorded event into what the customer projection folds.
pub(crate) fn touch_of(recorded: &RecordedEvent) -> Result<Touch> {
    let event = codec::decode(&recorded.data.event_type, recorded.data.schema_version, &recorded.data.payload)
        .map_err(|source| Error::Decode { position: recorded.position.0, source })?;
    Ok(Touch {
        position: recorded.position,
        ticket: ticket_of_stream(&recorded.stream, recorded.position.0)?,
        event,
        at: recorded.data.occurred_at,
        derived: recorded.data.causation_id.is_some(),
    })
}

/// The same, from a record borrowed from a sequential read (no copies of the envelope).
pub(crate) fn touch_of_ref(record: &RecordRef<'_>) -> Result<Touch> {
    let event = codec::decode(record.event_type, record.schema_version, record.payload)
        .map_err(|source| Error::Decode { position: record.position.0, source })?;
    Ok(Touch {
        position: record.position,
        ticket: ticket_of_stream(record.stream, record.position.0)?,
        event,
        at: record.occurred_at,
        derived: record.causation_id.is_some(),
    })
}

#[derive(Debug, Default, Clone)]
pub(crate) struct Projection {
    /// Invariant: every event below this position has been applied exactly once.
    pub(crate) checkpoint: u64,
    pub(crate) tickets: HashMap<TicketId, Ticket>,
    /// Tickets of each requester identity, in creation order.
    pub(crate) by_requester: HashMap<Identity, Vec<TicketId>>,
    /// Root ticket -> its follow-ups in creation order.
    pub(crate) follow_ups: HashMap<TicketId, Vec<TicketId>>,
    /// Follow-up -> root of its chain.
    pub(crate) root_of: HashMap<TicketId, TicketId>,
    /// Events applied.
    pub(crate) events_applied: u64,
    /// Identity resolution and customer profiles.
    pub(crate) customers: CustomerProjection,
    /// Per-ticket metric state, ratings and agent activity.
    pub(crate) metrics: MetricsProjection,
}

impl Projection {
    pub(crate) fn new(resolution: ResolutionOptions, metrics: MetricsOptions) -> Projection {
        Projection {
            customers: CustomerProjection::new(resolution),
            metrics: MetricsProjection::new(metrics),
            ..Projection::default()
        }
    }

    /// Folds one recorded event. Positions must arrive in order, each once. `read` fetches older
    /// events (a customer split rebuilds profiles from the log); if it fails, the error is
    /// returned and nothing changes: the checkpoint stays at this event.
    pub(crate) fn apply(&mut self, touch: &Touch, read: &mut ReadAt<'_, Error>) -> Result<()> {
        assert_eq!(touch.position.0, self.checkpoint, "projection must see every position once, in order");
        // The customer fold is the only one that can fail (it reads), so it goes first.
        self.customers.apply(touch, read)?;
        if let Some(ticket_id) = &touch.ticket {
            self.apply_ticket_event(ticket_id, &touch.event, touch.at);
        }
        self.metrics.apply(touch.ticket.as_ref(), &touch.event, touch.at);
        self.checkpoint += 1;
        self.events_applied += 1;
        Ok(())
    }

    /// Passes over a record that belongs to the store itself (its header): nothing folds it.
    pub(crate) fn skip(&mut self, position: u64) {
        assert_eq!(position, self.checkpoint, "projection must see every position once, in order");
        self.checkpoint += 1;
    }

    pub(crate) fn apply_ticket_event(&mut self, ticket_id: &TicketId, event: &CxEvent, at: Timestamp) {
        let state = self.tickets.remove(ticket_id);
        let existed = state.is_some();
        if let Some(ticket) = Ticket::evolve(state, event, at) {
            if !existed {
                self.index_new_ticket(&ticket);
            }
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
