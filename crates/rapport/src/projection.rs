//! The store's projections: a fold over the whole log with a checkpoint. It holds every ticket's
//! state, each requester's tickets, the follow-up chains, the customer-360 projection and the
//! metrics projection. Its maps are keyed by ids and identities from outside: they use the
//! seeded hasher of [`FastMap`].

use std::hash::BuildHasher;

use rapport_customer::{CustomerProjection, FastMap, ReadAt, ResolutionOptions, Touch};
use rapport_events::{codec, CxEvent, Identity, TicketId};
use rapport_log::{EventId, Position, RecordRef, RecordedEvent, Timestamp};
use rapport_metrics::{MetricsOptions, MetricsProjection};
use rapport_ticket::Ticket;

use crate::error::{Error, Result};
use crate::routing::{self, MessageAt, MessageRef, Messages, PositionOf};

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
/// Prefix of import-cursor streams (`source.checkpoint`): `source-zendesk`.
pub const SOURCE_STREAM_PREFIX: &str = "source-";

/// The stream of a source's import cursors (`source` is a valid name, at most
/// `rapport_events::NAME_BYTES_MAX` bytes: the name fits the log's limit).
pub fn source_stream(source: &str) -> String {
    format!("{SOURCE_STREAM_PREFIX}{source}")
}
/// The stream of the links of one object of a source (`source.linked`): `source-chatwoot:1/conversation/7`.
pub fn source_link_stream(source: &str, key: &str) -> String {
    format!("{SOURCE_STREAM_PREFIX}{source}/{key}")
}
const _: () = assert!(
    SOURCE_STREAM_PREFIX.len() + rapport_events::NAME_BYTES_MAX + 1 + rapport_events::SOURCE_KEY_BYTES_MAX
        <= rapport_log::STREAM_NAME_BYTES_MAX,
    "source stream names must fit the log's limit"
);

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

/// The fold state of one ticket stream.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct TicketSlot {
    /// The ticket id (the stream is `ticket-{id}`).
    pub(crate) id: TicketId,
    /// The ticket, once its `ticket.opened` is folded (a routing correction may remove it).
    pub(crate) ticket: Option<Ticket>,
    /// Version of the stream's last event, from the log's envelope (not from what the aggregate
    /// counted: an event `evolve` ignores still takes a version); `None` before any. The
    /// planner appends with exactly this version.
    pub(crate) version: Option<u64>,
    /// Positions of the events of the ticket's effective history, in log order: its stream's
    /// events (routing corrections left out), less what corrections moved away, plus what they
    /// moved in (docs/design/routing.md).
    pub(crate) history: Vec<u64>,
}

/// Ticket streams by handle (a `u32` assigned in fold order, so a snapshot-loaded store and a
/// rebuild agree byte for byte), and a table of the handles hashed by their ticket id (seeded
/// foldhash: ids come from outside), so each id is stored once. Encoded as the slots alone;
/// the table is rebuilt when decoded.
#[derive(Debug, Default, Clone)]
pub(crate) struct TicketTable {
    hasher: foldhash::fast::RandomState,
    handles: hashbrown::HashTable<u32>,
    slots: Vec<TicketSlot>,
    /// Slots holding a ticket.
    n_tickets: usize,
}

impl TicketTable {
    /// The handle of a ticket stream, assigned at its first sight (fold order only).
    pub(crate) fn intern(&mut self, id: &TicketId) -> u32 {
        let hash = self.hasher.hash_one(id);
        let slots = &self.slots;
        if let Some(handle) = self.handles.find(hash, |h| slots.get(*h as usize).is_some_and(|slot| &slot.id == id)) {
            return *handle;
        }
        // 2^32 ticket streams would take terabytes of memory before this is reached.
        let handle = u32::try_from(self.slots.len()).unwrap_or(u32::MAX);
        assert!(handle < u32::MAX, "ticket handles exhausted at {} tickets", self.slots.len());
        self.slots.push(TicketSlot { id: id.clone(), ticket: None, version: None, history: Vec::new() });
        let (hasher, slots) = (&self.hasher, &self.slots);
        self.handles
            .insert_unique(hash, handle, |h| slots.get(*h as usize).map_or(0, |slot| hasher.hash_one(&slot.id)));
        handle
    }

    fn slot_mut(&mut self, handle: u32) -> &mut TicketSlot {
        let len = self.slots.len();
        match self.slots.get_mut(handle as usize) {
            Some(slot) => slot,
            None => unreachable!("ticket handle {handle} was never assigned ({len} slots)"),
        }
    }

    fn slot(&self, id: &TicketId) -> Option<&TicketSlot> {
        let hash = self.hasher.hash_one(id);
        let handle = self.handles.find(hash, |h| self.slots.get(*h as usize).is_some_and(|slot| &slot.id == id))?;
        self.slots.get(*handle as usize)
    }

    fn set_ticket(&mut self, handle: u32, ticket: Option<Ticket>) {
        let slot = self.slot_mut(handle);
        match (slot.ticket.is_some(), ticket.is_some()) {
            (false, true) => self.n_tickets += 1,
            (true, false) => self.n_tickets = self.n_tickets.saturating_sub(1),
            _ => {}
        }
        self.slot_mut(handle).ticket = ticket;
    }

    /// The ticket with this id.
    pub(crate) fn get(&self, id: &TicketId) -> Option<&Ticket> {
        self.slot(id).and_then(|slot| slot.ticket.as_ref())
    }

    /// Whether the ticket exists.
    pub(crate) fn contains_key(&self, id: &TicketId) -> bool {
        self.get(id).is_some()
    }

    /// Number of tickets.
    pub(crate) fn len(&self) -> usize {
        self.n_tickets
    }

    /// Every ticket, in the order their streams first appeared.
    pub(crate) fn values(&self) -> impl Iterator<Item = &Ticket> {
        self.slots.iter().filter_map(|slot| slot.ticket.as_ref())
    }

    /// Every ticket with its id, in the order their streams first appeared.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&TicketId, &Ticket)> {
        self.slots.iter().filter_map(|slot| Some((&slot.id, slot.ticket.as_ref()?)))
    }

    /// The id of a ticket handle.
    pub(crate) fn id_of(&self, handle: u32) -> Option<&TicketId> {
        self.slots.get(handle as usize).map(|slot| &slot.id)
    }

    /// The version of the ticket stream's last event.
    pub(crate) fn version(&self, id: &TicketId) -> Option<u64> {
        self.slot(id).and_then(|slot| slot.version)
    }

    /// The positions of the ticket's effective history (empty for a stream never seen).
    pub(crate) fn history(&self, id: &TicketId) -> &[u64] {
        self.slot(id).map(|slot| slot.history.as_slice()).unwrap_or(&[])
    }
}

impl serde::Serialize for TicketTable {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        serde::Serialize::serialize(&self.slots, serializer)
    }
}

impl<'de> serde::Deserialize<'de> for TicketTable {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> std::result::Result<TicketTable, D::Error> {
        let slots: Vec<TicketSlot> = serde::Deserialize::deserialize(deserializer)?;
        let mut table = TicketTable { slots: Vec::with_capacity(slots.len()), ..TicketTable::default() };
        for slot in slots {
            let expected = table.slots.len();
            if table.intern(&slot.id) as usize != expected {
                return Err(serde::de::Error::custom(format!("ticket {} is listed twice", slot.id)));
            }
            table.n_tickets += usize::from(slot.ticket.is_some());
            *table.slot_mut(expected as u32) = slot;
        }
        Ok(table)
    }
}

impl<'a> IntoIterator for &'a TicketTable {
    type Item = (&'a TicketId, &'a Ticket);
    type IntoIter = Box<dyn Iterator<Item = (&'a TicketId, &'a Ticket)> + 'a>;
    fn into_iter(self) -> Self::IntoIter {
        Box::new(self.iter())
    }
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
    /// Every ticket stream's state (the ticket, its stream version, its effective history),
    /// by a handle assigned in fold order: one lookup per ticket event instead of one per map.
    pub(crate) tickets: TicketTable,
    /// Tickets of each requester identity, in creation order.
    #[serde(serialize_with = "rapport_types::sorted::map")]
    pub(crate) by_requester: FastMap<Identity, Vec<TicketId>>,
    /// Root ticket -> its follow-ups in creation order.
    #[serde(serialize_with = "rapport_types::sorted::map")]
    pub(crate) follow_ups: FastMap<TicketId, Vec<TicketId>>,
    /// Follow-up -> root of its chain.
    #[serde(serialize_with = "rapport_types::sorted::map")]
    pub(crate) root_of: FastMap<TicketId, TicketId>,
    /// Position of the event that created each customer id, and which of the customers that
    /// event created it was (`customer_created_at[n - 1]` for `Cn`; one event creates its
    /// customer and one per identity it had to keep apart). Ids are assigned in log order, so
    /// this names every customer exactly and is strictly increasing; as-of views translate the
    /// ids of a replay with it.
    #[serde(deserialize_with = "rapport_types::sorted::exact_vec")]
    pub(crate) customer_created_at: Vec<(u64, u32)>,
    /// Every recorded message (`message.received`, `message.sent`) by position: what a
    /// routing correction names (found through the log's event-id index).
    pub(crate) messages: Messages,
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
    /// in its stream (from the log's envelope). `position_of` finds an event's position by its
    /// id in the log (a correction names messages by id).
    pub(crate) fn apply(
        &mut self,
        touch: &Touch,
        version: u64,
        read: &mut ReadAt<'_, Error>,
        position_of: &PositionOf<'_>,
    ) -> Result<()> {
        assert_eq!(touch.position.0, self.checkpoint, "projection must see every position once, in order");
        // A correction takes effect at its copy on the destination's stream (the last event it
        // writes: a ticket it creates exists by then). Its reads go before any change.
        let refolds = match (&touch.ticket, routing::is_correction(&touch.event) && touch.derived) {
            (Some(_), true) => self.prepare_correction(&touch.event, read, position_of)?,
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
            let handle = self.tickets.intern(ticket_id);
            if !correction {
                self.apply_ticket_event(handle, &touch.event, touch.at);
                self.tickets.slot_mut(handle).history.push(touch.position.0);
                let message = match &touch.event {
                    CxEvent::MessageReceived(m) => Some((true, &m.channel)),
                    CxEvent::MessageSent(m) => Some((false, &m.channel)),
                    _ => None,
                };
                if let Some((received, channel)) = message {
                    let position = touch.position.0;
                    let reference = MessageAt { position, ticket: handle, received, channel };
                    // A channel beyond `CHANNELS_MAX` leaves the message unrecorded: no
                    // correction can name it.
                    let _recorded = self.messages.push(reference);
                }
            }
            self.tickets.slot_mut(handle).version = Some(version);
        }
        self.commit_correction(&touch.event, refolds, position_of);
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
    fn prepare_correction(
        &self,
        event: &CxEvent,
        read: &mut ReadAt<'_, Error>,
        position_of: &PositionOf<'_>,
    ) -> Result<Vec<Refold>> {
        let mut histories: Vec<(TicketId, Vec<u64>)> = Vec::new();
        let history_of = |ticket_id: &TicketId| self.tickets.history(ticket_id).to_vec();
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
                .filter_map(|id| self.message(id, position_of))
                .filter(|m| self.tickets.id_of(m.ticket) == Some(from))
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

    /// The recorded message of event `id`, if the projection folded one there.
    pub(crate) fn message(&self, id: &EventId, position_of: &PositionOf<'_>) -> Option<MessageRef> {
        self.messages.at(position_of(id)?)
    }

    /// Installs what [`Projection::prepare_correction`] re-folded, and moves the messages.
    fn commit_correction(&mut self, event: &CxEvent, refolds: Vec<Refold>, position_of: &PositionOf<'_>) {
        if refolds.is_empty() {
            return;
        }
        if let Some((ids, from, to)) = routing::moved_ids(event) {
            let (from, to) = (self.tickets.intern(from), self.tickets.intern(to));
            for id in &ids {
                if let Some(position) = position_of(id) {
                    self.messages.move_ticket(position, from, to);
                }
            }
        }
        for Refold { ticket_id, positions, ticket, folded } in refolds {
            let handle = self.tickets.intern(&ticket_id);
            self.tickets.slot_mut(handle).history = positions;
            self.tickets.set_ticket(handle, ticket);
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

    /// Folds one event into a ticket's state only (no history, no version: an as-of replay).
    pub(crate) fn apply_ticket_event_of(&mut self, ticket_id: &TicketId, event: &CxEvent, at: Timestamp) {
        let handle = self.tickets.intern(ticket_id);
        self.apply_ticket_event(handle, event, at);
    }

    fn apply_ticket_event(&mut self, handle: u32, event: &CxEvent, at: Timestamp) {
        // In place: an existing ticket is neither moved nor re-keyed.
        if let Some(ticket) = self.tickets.slot_mut(handle).ticket.as_mut() {
            ticket.evolve_in_place(event, at);
            return;
        }
        if let Some(ticket) = Ticket::evolve(None, event, at) {
            self.index_new_ticket(&ticket);
            self.tickets.set_ticket(handle, Some(ticket));
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
