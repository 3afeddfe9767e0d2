//! Turns inputs (facts from outside, ticket commands, merges) into the events to append, against
//! the projection plus an overlay of what the current batch already planned. This is where the
//! rules that need more than one ticket live: cross-channel routing, follow-ups of closed
//! tickets, repeat-inquiry detection. Planning never writes; the store appends the plan.

use std::collections::HashSet;

use rapport_customer::FastMap;

/// The hash set of `FastMap` (foldhash, seeded at random): planning hashes every id and
/// stream of a batch several times.
type FastSet<T> = HashSet<T, foldhash::fast::RandomState>;

use rapport_customer::{Overlay, ResolverView};
use rapport_events::{
    Channel, CustomerEvent, CustomerMergeConflict, CustomersMerged, CxEvent, Identity, MessageMoved, MessageReceived,
    MessageSent, OrderCancelled, OrderRefunded, OrderReturned, QaReviewed, Status, SurveyOffered, TicketAssigned,
    TicketFieldsSet, TicketFlag, TicketFlagged, TicketId, TicketLabeled, TicketMerged, TicketOpened,
    TicketPriorityChanged, TicketSplit, TicketStatusChanged, TicketTagged, TicketUnmerged, TicketUpdated,
};
use rapport_log::{EventData, EventId, ExpectedVersion, StreamWrite, Timestamp};
use rapport_ticket::{OpenTicket, Ticket, TicketCommand, TicketError};

use crate::error::{Error, Result};
use crate::ids::Ids;
use crate::privacy::{Privacy, Reveals};
use crate::projection::{
    source_link_stream, source_stream, ticket_stream, Projection, CUSTOMER_STREAM_PREFIX, DEFINITIONS_STREAM,
    IDENTITY_STREAM_PREFIX, ORGANIZATION_STREAM_PREFIX,
};
use crate::routing::{
    is_correction, MessageRef, PositionOf, RoutingError, ROUTED_HISTORY_EVENTS_MAX, ROUTING_METADATA_KEY,
};
use crate::store::{Input, StoreOptions, Submitted};

/// Metadata key recording the ticket id a fact was addressed to when the store routed it
/// elsewhere (empty: no ticket given). `rapport export` restores the original from it.
pub const ADDRESSED_METADATA_KEY: &str = "rapport.addressed";

/// Metadata key of the fingerprint of a command or merge input, on the input's own event: a
/// keyed hash of the command's canonical encoding and its time (32 hex digits). A re-submission
/// under the same id is a retry only if its fingerprint is the same.
pub const INPUT_METADATA_KEY: &str = "rapport.input";

/// Bytes the log adds to every event on top of stream name, type, metadata and payload. The
/// log's record header is 120 bytes (docs/design/log-format.md); the planner counts a little
/// more so that a batch it cuts is always under the log's limit.
pub(crate) const RECORD_OVERHEAD_BYTES: usize = 128;
/// The most bytes a merge or conflict record of identity resolution takes in a batch: a cause
/// identity, at most 64 customer ids and a kind, plus stream name and overhead.
const EXPLANATION_BYTES_MAX: usize = 4096;

/// One event to append, encoded as the log will store it.
#[derive(Debug, Clone)]
pub(crate) struct PlannedEvent {
    pub(crate) stream: String,
    pub(crate) event: CxEvent,
    pub(crate) data: EventData,
    /// Size of the record in the log's accounting (with [`RECORD_OVERHEAD_BYTES`]).
    pub(crate) bytes: usize,
}

impl PlannedEvent {
    pub(crate) fn id(&self) -> EventId {
        self.data.id
    }
}

/// An event as planned, before encoding.
#[derive(Debug, Clone)]
struct Draft {
    stream: String,
    event: CxEvent,
    id: EventId,
    /// The input's own event has none; events the store derived from it name it.
    causation: Option<EventId>,
    addressed: Option<String>,
    /// Why routing chose the ticket of a customer message ([`ROUTING_METADATA_KEY`]).
    routing: Option<&'static str>,
}

/// What one input produces.
#[derive(Debug, Clone, Default)]
pub(crate) struct ItemPlan {
    pub(crate) events: Vec<PlannedEvent>,
    pub(crate) summary: Submitted,
    /// The identity whose customer the input concerns (its first identity, or the requester of
    /// its ticket): `Submitted::customer_id` is this identity's owner once resolution ran.
    pub(crate) requester: Option<Identity>,
}

impl ItemPlan {
    /// Events that carry identities: each may add one merge or conflict record in `add`.
    pub(crate) fn identity_events(&self) -> usize {
        self.events.iter().filter(|e| !e.event.identities().is_empty()).count()
    }
    fn bytes(&self) -> usize {
        self.events.iter().map(|e| e.bytes).sum()
    }
}

/// The batch being planned: the projection, what earlier items added, and the writes so far.
pub(crate) struct Planner<'a> {
    base: &'a Projection,
    options: &'a StoreOptions,
    ids: &'a Ids,
    tickets: FastMap<TicketId, Ticket>,
    new_by_requester: FastMap<Identity, Vec<TicketId>>,
    new_follow_ups: FastMap<TicketId, Vec<TicketId>>,
    new_root_of: FastMap<TicketId, TicketId>,
    pub(crate) planned_ids: FastSet<EventId>,
    pub(crate) writes: Vec<StreamWrite>,
    write_idx: FastMap<String, usize>,
    pub(crate) n_events: usize,
    /// Encoded bytes of the batch in the log's accounting.
    pub(crate) n_bytes: usize,
    /// The most encoded bytes of this planner's batches: [`BATCH_BYTES`], or less when the
    /// engine takes smaller commits ([`rapport_log::LogEngine::commit_bytes_max`]).
    batch_bytes: usize,
    /// Identity resolution of the batch so far.
    pub(crate) customers: Overlay<'a>,
    /// A split was planned: the batch must be appended before anything else is decided.
    pub(crate) flush_after: bool,
    /// Seals personal values as events are encoded (`None`: a dry run, which writes no key).
    sealer: Option<(&'a Privacy, &'a Reveals)>,
    /// Where the log holds an event, by id: how a correction's messages are found among the
    /// base's.
    position_of: &'a PositionOf<'a>,
}

/// Customer streams hold merge and conflict records that only explain what the projection does;
/// they may be written out of item order inside a batch. Every other stream keeps item order.
fn is_explanation_stream(stream: &str) -> bool {
    stream.starts_with(CUSTOMER_STREAM_PREFIX)
}

/// The most events one batch holds before it is appended.
pub(crate) const BATCH_EVENTS: usize = 2048;
/// The most streams one batch writes.
pub(crate) const BATCH_STREAMS: usize = 48;
/// The most encoded bytes one batch holds (the log's limit; the planner's count is an upper
/// bound of the log's).
pub(crate) const BATCH_BYTES: usize = rapport_log::BATCH_BYTES_MAX;

// The store's limits must fit the log's, or a batch the planner cuts could be refused whole.
const _: () = assert!(BATCH_EVENTS <= rapport_log::BATCH_EVENTS_MAX, "batch events over the log's limit");
// needs_flush_before counts one possible explanation stream per identity-carrying event.
const _: () = assert!(BATCH_STREAMS <= rapport_log::BATCH_STREAMS_MAX, "batch streams over the log's limit");
const _: () = assert!(BATCH_BYTES <= rapport_log::BATCH_BYTES_MAX, "batch bytes over the log's limit");
const _: () = assert!(RECORD_OVERHEAD_BYTES >= 120, "the log's record header is 120 bytes");
/// The most encoded bytes one input's events can take (at most a follow-up open, a channel
/// switch, its own event and a flag, each under the per-event limit, plus its explanations):
/// an engine must take commits at least this large ([`crate::Store::open_with`] checks).
pub(crate) const INPUT_BYTES_MAX: usize = 8
    * (RECORD_OVERHEAD_BYTES
        + rapport_log::STREAM_NAME_BYTES_MAX
        + rapport_log::EVENT_TYPE_BYTES_MAX
        + rapport_log::EVENT_BYTES_MAX)
    + 64 * EXPLANATION_BYTES_MAX;
// One input always fits an empty batch.
const _: () = assert!(INPUT_BYTES_MAX <= BATCH_BYTES, "one input must fit a batch");
// Stream names: a ticket id is at most NAME_BYTES_MAX bytes; identity streams are hashed when long.
const _: () = assert!(
    super::projection::TICKET_STREAM_PREFIX.len() + rapport_events::NAME_BYTES_MAX
        <= rapport_log::STREAM_NAME_BYTES_MAX,
    "ticket stream names must fit the log's limit"
);
// Metadata: the addressed ticket id and the input fingerprint.
const _: () = assert!(
    4 + ADDRESSED_METADATA_KEY.len()
        + rapport_events::NAME_BYTES_MAX
        + 4
        + INPUT_METADATA_KEY.len()
        + 32
        + 4
        + ROUTING_METADATA_KEY.len()
        + 9
        <= rapport_log::METADATA_BYTES_MAX,
    "the store's metadata must fit the log's limit"
);
const _: () = assert!(3 <= rapport_log::METADATA_ENTRIES_MAX, "the store writes three metadata entries");
// Every valid event fits the per-event limit (so a limit error is never the fate of a valid
// input); `Planner::plan` still checks every encoded event against it. Messages and tickets: a
// few texts and names, and at most TAGS_MAX tags.
const _: () = assert!(
    3 * rapport_events::TEXT_BYTES_MAX + 16 * rapport_events::NAME_BYTES_MAX + rapport_events::IDENTITY_VALUE_BYTES_MAX
        <= rapport_log::EVENT_BYTES_MAX,
    "a message or ticket event must fit the log's per-event limit"
);
const _: () = assert!(
    3 * rapport_events::TEXT_BYTES_MAX + (16 + rapport_events::TAGS_MAX) * (rapport_events::NAME_BYTES_MAX + 8)
        <= rapport_log::EVENT_BYTES_MAX,
    "a ticket event with its tags must fit the log's per-event limit"
);
// `customer.identified`: its identities (kind and value, with their length prefixes) and traits.
const _: () = assert!(
    rapport_events::IDENTITIES_MAX * (rapport_events::NAME_BYTES_MAX + rapport_events::IDENTITY_VALUE_BYTES_MAX + 16)
        + rapport_events::TRAITS_BYTES_MAX
        + rapport_events::TRAITS_MAX * 16
        <= rapport_log::EVENT_BYTES_MAX,
    "a customer.identified event must fit the log's per-event limit"
);

impl<'a> Planner<'a> {
    pub(crate) fn new(
        base: &'a Projection,
        options: &'a StoreOptions,
        ids: &'a Ids,
        sealer: Option<(&'a Privacy, &'a Reveals)>,
        batch_bytes: usize,
        position_of: &'a PositionOf<'a>,
    ) -> Planner<'a> {
        Planner {
            batch_bytes: batch_bytes.min(BATCH_BYTES),
            base,
            options,
            ids,
            tickets: FastMap::default(),
            new_by_requester: FastMap::default(),
            new_follow_ups: FastMap::default(),
            new_root_of: FastMap::default(),
            planned_ids: FastSet::default(),
            writes: Vec::new(),
            write_idx: FastMap::default(),
            n_events: 0,
            n_bytes: 0,
            customers: Overlay::new(base.customers.resolver()),
            flush_after: false,
            sealer,
            position_of,
        }
    }

    /// Whether events can still be appended to the write at `idx` without reordering items:
    /// only explanation streams were written after it.
    fn can_append_to(&self, idx: usize) -> bool {
        self.writes.get(idx + 1..).is_some_and(|after| after.iter().all(|w| is_explanation_stream(&w.stream)))
    }

    fn ticket(&self, id: &TicketId) -> Option<&Ticket> {
        self.tickets.get(id).or_else(|| self.base.tickets.get(id))
    }

    /// Tickets of the customer who holds `identity` (on any of their identities); just the
    /// identity's own tickets when it belongs to no customer yet.
    fn requester_tickets(&self, identity: &Identity) -> Vec<&TicketId> {
        let Some(customer) = self.customers.owner(identity) else {
            let base = self.base.by_requester.get(identity).into_iter().flatten();
            let new = self.new_by_requester.get(identity).into_iter().flatten();
            return base.chain(new).collect();
        };
        let mut tickets: Vec<&TicketId> = Vec::new();
        for holder in self.customers.identities_of(customer) {
            tickets.extend(self.base.by_requester.get(holder).into_iter().flatten());
            tickets.extend(self.new_by_requester.get(holder).into_iter().flatten());
        }
        tickets
    }

    fn root_of(&self, id: &TicketId) -> TicketId {
        self.new_root_of.get(id).or_else(|| self.base.root_of.get(id)).cloned().unwrap_or_else(|| id.clone())
    }

    fn follow_ups_of(&self, root: &TicketId) -> Vec<&TicketId> {
        let base = self.base.follow_ups.get(root).into_iter().flatten();
        let new = self.new_follow_ups.get(root).into_iter().flatten();
        base.chain(new).collect()
    }

    /// Whether adding `plan` would make the batch break item order or its bounds.
    pub(crate) fn needs_flush_before(&self, plan: &ItemPlan) -> bool {
        if self.writes.is_empty() {
            return false;
        }
        // Room for the merge/conflict records resolution may add: one per identity-carrying event.
        let identity_events = plan.identity_events();
        if self.n_events + plan.events.len() + identity_events > BATCH_EVENTS {
            return true;
        }
        if self.n_bytes + plan.bytes() + identity_events * EXPLANATION_BYTES_MAX > self.batch_bytes {
            return true;
        }
        if plan.events.iter().any(|e| matches!(e.event, CxEvent::CustomersSplit(_)) || is_correction(&e.event)) {
            return true;
        }
        // Streams this item adds to the batch, in order: an earlier event of the item (a merge's
        // source) may open a write after the one a later event (the merge's target) needs.
        let mut added: Vec<&str> = Vec::new();
        for event in &plan.events {
            let explanation = is_explanation_stream(&event.stream);
            if let Some(pos) = added.iter().rposition(|stream| *stream == event.stream) {
                let only_explanations_after =
                    added.get(pos + 1..).is_some_and(|after| after.iter().all(|stream| is_explanation_stream(stream)));
                if !explanation && !only_explanations_after {
                    return true;
                }
                continue;
            }
            match self.write_idx.get(&event.stream) {
                Some(&idx) => {
                    // A stream written earlier in the batch, not last (counting what this item
                    // adds): appending to it would reorder this item before the items in between.
                    let last = self.can_append_to(idx) && added.iter().all(|stream| is_explanation_stream(stream));
                    if !explanation && !last {
                        return true;
                    }
                }
                None => added.push(&event.stream),
            }
        }
        self.writes.len() + added.len() + identity_events > BATCH_STREAMS
    }

    /// Adds a planned item to the batch and the overlays. Identity resolution runs here, in item
    /// order, and records `customer.merged` / `customer.merge_conflict` explanations.
    pub(crate) fn add(&mut self, events: Vec<PlannedEvent>, source_id: EventId) -> Result<()> {
        let mut explanations = 0u32;
        let base = self.base;
        let options = base.customers.options();
        for planned in events {
            // A routing correction, like a customer split, is decided on the folded log only.
            if matches!(planned.event, CxEvent::CustomersSplit(_)) || is_correction(&planned.event) {
                self.flush_after = true;
            }
            let owned: Vec<Identity> = planned.event.identities().into_iter().cloned().collect();
            let at = planned.data.occurred_at;
            // Moved, not copied: an event may be near the log's per-event limit.
            self.push(planned);
            let identities: Vec<&Identity> = owned.iter().collect();
            if identities.is_empty() {
                continue;
            }
            let Some(decision) = rapport_customer::decide(&self.customers, &identities, options) else {
                continue;
            };
            let explanation = match (&decision.conflict, decision.target, &decision.cause) {
                (Some((customers, kind)), _, Some(cause)) => {
                    Some(CxEvent::CustomerMergeConflict(CustomerMergeConflict {
                        customers: customers.clone(),
                        kind: kind.clone(),
                        cause: cause.clone(),
                    }))
                }
                (None, Some(survivor), Some(cause)) if !decision.merged.is_empty() => {
                    Some(CxEvent::CustomersMerged(CustomersMerged {
                        survivor,
                        merged: decision.merged.clone(),
                        cause: cause.clone(),
                    }))
                }
                _ => None,
            };
            rapport_customer::apply(&mut self.customers, &decision);
            let customer = match &explanation {
                Some(CxEvent::CustomersMerged(merged)) => Some(merged.survivor),
                Some(CxEvent::CustomerMergeConflict(conflict)) => conflict.customers.first().copied(),
                _ => None,
            };
            if let (Some(explanation), Some(customer)) = (explanation, customer) {
                let draft = Draft {
                    stream: format!("{CUSTOMER_STREAM_PREFIX}{customer}"),
                    event: explanation,
                    id: explanation_id(self.ids, source_id, explanations),
                    causation: Some(source_id),
                    addressed: None,
                    routing: None,
                };
                explanations += 1;
                let planned = self.encode(draft, at, None, None)?;
                self.push(planned);
            }
        }
        Ok(())
    }

    #[expect(clippy::indexing_slicing, reason = "idx is from write_idx, which only names writes pushed here")]
    fn push(&mut self, planned: PlannedEvent) {
        let idx = match self.write_idx.get(&planned.stream) {
            Some(idx) if is_explanation_stream(&planned.stream) || self.can_append_to(*idx) => *idx,
            _ => {
                let expected = self.expected_version(&planned.stream);
                self.writes.push(StreamWrite { stream: planned.stream.clone(), expected, events: Vec::new() });
                let idx = self.writes.len() - 1;
                self.write_idx.insert(planned.stream.clone(), idx);
                idx
            }
        };
        self.planned_ids.insert(planned.id());
        self.n_events += 1;
        self.n_bytes += planned.bytes;
        if let Some(ticket_id) = planned.stream.strip_prefix(crate::projection::TICKET_STREAM_PREFIX) {
            let ticket_id = stream_ticket_id(ticket_id);
            self.evolve_overlay(&ticket_id, &planned.event, planned.data.occurred_at);
        }
        self.writes[idx].events.push(planned.data);
    }

    fn evolve_overlay(&mut self, ticket_id: &TicketId, event: &CxEvent, at: Timestamp) {
        // A ticket of the batch is moved out and back (evolving a present ticket always gives
        // it back); only the first event of a ticket in the batch copies it from the base.
        let state = self.tickets.remove(ticket_id).or_else(|| self.base.tickets.get(ticket_id).cloned());
        let existed = state.is_some();
        if let Some(ticket) = Ticket::evolve(state, event, at) {
            if !existed {
                self.new_by_requester.entry(ticket.requester().clone()).or_default().push(ticket_id.clone());
                if let Some(parent) = ticket.follow_up_of() {
                    let root = self.root_of(parent);
                    self.new_follow_ups.entry(root.clone()).or_default().push(ticket_id.clone());
                    self.new_root_of.insert(ticket_id.clone(), root);
                }
            }
            self.tickets.insert(ticket_id.clone(), ticket);
        }
    }

    /// Ticket streams: exactly the version of the stream's last event as the projection read it
    /// from the log (optimistic concurrency). Customer-fact streams only ever grow, so any
    /// version will do.
    fn expected_version(&self, stream: &str) -> ExpectedVersion {
        match stream.strip_prefix(crate::projection::TICKET_STREAM_PREFIX) {
            Some(ticket_id) => match self.base.tickets.version(&stream_ticket_id(ticket_id)) {
                Some(version) => ExpectedVersion::Exact(version),
                None => ExpectedVersion::NoStream,
            },
            None => ExpectedVersion::Any,
        }
    }

    /// Plans one input. Reads only; the result is added with [`Planner::add`]. Every event it
    /// produces is encoded here and checked against the log's per-event limit, so that an input
    /// too large is refused alone ([`Error::TooLarge`]).
    pub(crate) fn plan(&self, input: &Input, source_id: EventId, at: Timestamp) -> Result<ItemPlan> {
        let mut scratch = Scratch {
            planner: self,
            local: FastMap::default(),
            drafts: Vec::new(),
            summary: Submitted::default(),
            source_id,
            at,
            derived: 0,
            routing: None,
        };
        scratch.plan_input(input)?;
        // Commands and merges carry their fingerprint; a fact only when its recorded event, as
        // submitted, is not the fact itself (the aggregate dropped fields that changed nothing:
        // an assignee the ticket already has, a tag it carries), so that a retry is recognized.
        let primary = scratch.drafts.iter().find(|d| d.causation.is_none());
        let needs_fingerprint = match (input, primary) {
            (Input::Event(event), Some(primary)) => {
                let recorded = match &primary.addressed {
                    Some(addressed) => as_submitted(primary.event.clone(), addressed)?,
                    None => primary.event.clone(),
                };
                recorded != *event
            }
            (Input::Event(_), None) => false,
            (Input::Command { .. } | Input::Merge { .. }, _) => true,
        };
        let fingerprint = if needs_fingerprint { Some(input_fingerprint(self.ids, input, at)?) } else { None };
        let first = scratch.drafts.iter().find_map(|d| d.event.identities().first().map(|i| (*i).clone()));
        let requester = first.or_else(|| {
            let ticket = scratch.summary.ticket_id.as_ref()?;
            scratch.ticket(ticket).map(|t| t.requester().clone())
        });
        let mut events = Vec::with_capacity(scratch.drafts.len());
        for draft in std::mem::take(&mut scratch.drafts) {
            let fingerprint = if draft.causation.is_none() { fingerprint.as_deref() } else { None };
            // Personal texts of a ticket event without identities belong to its requester.
            let owner = match draft.event.identities().first() {
                Some(_) => None,
                None => draft
                    .stream
                    .strip_prefix(crate::projection::TICKET_STREAM_PREFIX)
                    .and_then(|ticket| scratch.ticket(&stream_ticket_id(ticket)))
                    .map(|ticket| ticket.requester().clone()),
            };
            events.push(self.encode(draft, at, fingerprint, owner.as_ref())?);
        }
        Ok(ItemPlan { events, summary: scratch.summary, requester })
    }
}

/// The id of the `index`-th merge or conflict record identity resolution adds for an input:
/// apart from the planning-time derived ids, which count up from 0.
pub(crate) fn explanation_id(ids: &Ids, source_id: EventId, index: u32) -> EventId {
    ids.derived_id(source_id, 1_000_000 + index)
}

impl Planner<'_> {
    /// Encodes a drafted event as the log will store it — its personal values sealed (`owner`:
    /// whose key seals texts when the event names no identity) — and checks it against the
    /// log's limits.
    fn encode(
        &self,
        draft: Draft,
        at: Timestamp,
        fingerprint: Option<&str>,
        owner: Option<&Identity>,
    ) -> Result<PlannedEvent> {
        match self.sealer {
            Some((privacy, reveals)) => {
                // The batch plans on with the event as the log holds it (pseudonyms, empty
                // texts), like the projection it extends.
                let Draft { stream, event, id, causation, addressed, routing } = draft;
                let (public, sealing) = privacy.seal(event, id, at, owner, reveals)?;
                let encoded = rapport_events::codec::encode_sealed(&public, &sealing)?;
                let draft = Draft { stream, event: public, id, causation, addressed, routing };
                finish_encoding(draft, encoded, at, fingerprint)
            }
            None => {
                let encoded = rapport_events::codec::encode(&draft.event)?;
                finish_encoding(draft, encoded, at, fingerprint)
            }
        }
    }
}

fn finish_encoding(
    draft: Draft,
    encoded: rapport_events::codec::Encoded,
    at: Timestamp,
    fingerprint: Option<&str>,
) -> Result<PlannedEvent> {
    let mut data = EventData::new(draft.id, encoded.event_type, encoded.payload);
    data.schema_version = encoded.schema_version;
    data.occurred_at = at;
    data.causation_id = draft.causation;
    if let Some(addressed) = draft.addressed {
        data.metadata.push((ADDRESSED_METADATA_KEY.to_owned(), addressed));
    }
    if let Some(fingerprint) = fingerprint {
        data.metadata.push((INPUT_METADATA_KEY.to_owned(), fingerprint.to_owned()));
    }
    if let Some(routing) = draft.routing {
        data.metadata.push((ROUTING_METADATA_KEY.to_owned(), routing.to_owned()));
    }
    let metadata_bytes: usize = data.metadata.iter().map(|(k, v)| 4 + k.len() + v.len()).sum();
    let event_bytes = data.payload.len() + metadata_bytes;
    if event_bytes > rapport_log::EVENT_BYTES_MAX {
        return Err(Error::TooLarge {
            what: "an encoded event (payload + metadata; rapport_log::EVENT_BYTES_MAX)",
            bytes: event_bytes,
            limit: rapport_log::EVENT_BYTES_MAX,
        });
    }
    if draft.stream.len() > rapport_log::STREAM_NAME_BYTES_MAX {
        return Err(Error::TooLarge {
            what: "a stream name (rapport_log::STREAM_NAME_BYTES_MAX)",
            bytes: draft.stream.len(),
            limit: rapport_log::STREAM_NAME_BYTES_MAX,
        });
    }
    let bytes = RECORD_OVERHEAD_BYTES + draft.stream.len() + data.event_type.len() + event_bytes;
    Ok(PlannedEvent { stream: draft.stream, event: draft.event, data, bytes })
}

/// The event a ticket command names: its canonical form for fingerprints.
fn command_event(ticket_id: &TicketId, command: &TicketCommand) -> CxEvent {
    let ticket_id = ticket_id.clone();
    match command.clone() {
        TicketCommand::Open(open) => CxEvent::TicketOpened(TicketOpened {
            ticket_id: open.ticket_id,
            requester: open.requester,
            channel: open.channel,
            subject: open.subject,
            priority: open.priority,
            ticket_type: open.ticket_type,
            topic: open.topic,
            group: open.group,
            assignee: open.assignee,
            tags: open.tags,
            status: open.status,
            follow_up_of: open.follow_up_of,
        }),
        TicketCommand::ReceiveMessage { channel, from, topic, subject, body } => {
            CxEvent::MessageReceived(MessageReceived {
                channel,
                from,
                ticket_id: Some(ticket_id),
                topic,
                subject,
                body,
            })
        }
        TicketCommand::SendMessage { channel, agent, public, body, actor } => {
            CxEvent::MessageSent(MessageSent { ticket_id, channel, agent, public, body, actor })
        }
        TicketCommand::ChangeStatus { status } => {
            CxEvent::TicketStatusChanged(TicketStatusChanged { ticket_id, status })
        }
        TicketCommand::Assign { group, assignee } => {
            CxEvent::TicketAssigned(TicketAssigned { ticket_id, group, assignee })
        }
        TicketCommand::Tag { add, remove } => CxEvent::TicketTagged(TicketTagged { ticket_id, add, remove }),
        TicketCommand::ChangePriority { priority } => {
            CxEvent::TicketPriorityChanged(TicketPriorityChanged { ticket_id, priority })
        }
        TicketCommand::Label { department, inquiry_type } => {
            CxEvent::TicketLabeled(TicketLabeled { ticket_id, department, inquiry_type })
        }
        TicketCommand::Flag { flag, reason } => CxEvent::TicketFlagged(TicketFlagged { ticket_id, flag, reason }),
        TicketCommand::Update { status, group, assignee, priority, activity } => {
            CxEvent::TicketUpdated(TicketUpdated { ticket_id, status, group, assignee, priority, activity })
        }
        TicketCommand::MergeInto { target } => CxEvent::TicketMerged(TicketMerged { source: ticket_id, target }),
    }
}

/// The fingerprint of an input (32 hex digits), recorded under [`INPUT_METADATA_KEY`] on its
/// own event for every command and merge, and for a fact whose recorded event differs from it. A
/// keyed hash of a canonical encoding — the fact, or the command as the event it names, in the
/// events codec — and of the input's time.
pub(crate) fn input_fingerprint(ids: &Ids, input: &Input, at: Timestamp) -> Result<String> {
    let (kind, event): (&[u8], CxEvent) = match input {
        Input::Event(event) => (b"event", event.clone()),
        Input::Command { ticket_id, command } => (b"command", command_event(ticket_id, command)),
        Input::Merge { source, target } => {
            (b"merge", CxEvent::TicketMerged(TicketMerged { source: source.clone(), target: target.clone() }))
        }
    };
    let encoded = rapport_events::codec::encode(&event)?;
    let fingerprint = ids.input_fingerprint(&[
        kind,
        encoded.event_type.as_bytes(),
        &encoded.schema_version.to_le_bytes(),
        &encoded.payload,
        &at.0.to_le_bytes(),
    ]);
    Ok(fingerprint.to_string())
}

/// The event as it was submitted, given the ticket it was addressed to (the metadata value of
/// [`ADDRESSED_METADATA_KEY`]; empty: none). The planner records a routed message on the ticket
/// it chose, and a change to a closed ticket on its follow-up; the input named another ticket.
/// The JSONL export writes this; a re-submission under the same id is compared with it.
pub fn as_submitted(event: CxEvent, addressed: &str) -> Result<CxEvent> {
    let addressed = if addressed.is_empty() { None } else { Some(TicketId::new(addressed)?) };
    Ok(match (event, addressed) {
        (CxEvent::MessageReceived(mut message), addressed) => {
            message.ticket_id = addressed;
            CxEvent::MessageReceived(message)
        }
        (CxEvent::MessageSent(mut message), Some(addressed)) => {
            message.ticket_id = addressed;
            CxEvent::MessageSent(message)
        }
        (CxEvent::TicketStatusChanged(mut change), Some(addressed)) => {
            change.ticket_id = addressed;
            CxEvent::TicketStatusChanged(change)
        }
        (CxEvent::TicketUpdated(mut update), Some(addressed)) => {
            update.ticket_id = addressed;
            CxEvent::TicketUpdated(update)
        }
        // The planner addresses nothing else; an event it did not write is as stored.
        (event, _) => event,
    })
}

/// Planning state of one item: its own overlay on top of the batch's.
struct Scratch<'p, 'a> {
    planner: &'p Planner<'a>,
    local: FastMap<TicketId, Ticket>,
    drafts: Vec<Draft>,
    summary: Submitted,
    source_id: EventId,
    at: Timestamp,
    derived: u32,
    /// Why routing chose the ticket of the customer message being planned.
    routing: Option<&'static str>,
}

fn identity_stream(ids: &Ids, identity: &Identity) -> String {
    let name = format!("{IDENTITY_STREAM_PREFIX}{identity}");
    if name.len() <= rapport_log::STREAM_NAME_BYTES_MAX {
        name
    } else {
        format!("{IDENTITY_STREAM_PREFIX}h{}", ids.stream_name_hash(&name))
    }
}

/// The ticket of a stream the planner named with `ticket_stream` (from a valid id).
fn stream_ticket_id(name: &str) -> TicketId {
    match TicketId::new(name) {
        Ok(ticket_id) => ticket_id,
        Err(error) => unreachable!("planned ticket streams are named after valid ids: {error}"),
    }
}

/// The natural event type of a command: the event of that type is the input's own event.
fn primary_type(command: &TicketCommand) -> &'static str {
    command.event_type()
}

impl Scratch<'_, '_> {
    fn ticket(&self, id: &TicketId) -> Option<&Ticket> {
        self.local.get(id).or_else(|| self.planner.ticket(id))
    }

    /// Records an event on a stream; the first event of the input's own type takes the input's
    /// id, every other one a derived id.
    fn push(&mut self, stream: String, event: CxEvent, primary: bool, addressed: Option<String>) {
        let is_primary = primary && !self.drafts.iter().any(|e| e.causation.is_none());
        let (id, causation) = if is_primary {
            (self.source_id, None)
        } else {
            let id = self.planner.ids.derived_id(self.source_id, self.derived);
            self.derived += 1;
            (id, Some(self.source_id))
        };
        if let Some(ticket_id) = stream.strip_prefix(crate::projection::TICKET_STREAM_PREFIX) {
            let ticket_id = stream_ticket_id(ticket_id);
            // Moved out of the input's own overlay and back (no copy); copied from the batch's
            // or the base only on the input's first event on the ticket.
            let state = self.local.remove(&ticket_id).or_else(|| self.planner.ticket(&ticket_id).cloned());
            if let Some(ticket) = Ticket::evolve(state, &event, self.at) {
                self.local.insert(ticket_id, ticket);
            }
        }
        self.summary.events += 1;
        let routing = match &event {
            CxEvent::MessageReceived(_) if is_primary => Some(self.routing.unwrap_or("explicit")),
            _ => None,
        };
        self.drafts.push(Draft { stream, event, id, causation, addressed, routing });
    }

    /// Decides `command` on `ticket_id` and records the events.
    fn run(&mut self, ticket_id: &TicketId, command: &TicketCommand, addressed: Option<String>) -> Result<()> {
        let events = Ticket::decide(ticket_id, self.ticket(ticket_id), command)?;
        let primary = primary_type(command);
        for event in events {
            let is_primary = event.event_type() == primary;
            let addressed = if is_primary { addressed.clone() } else { None };
            self.push(ticket_stream(ticket_id), event, is_primary, addressed);
        }
        self.summary.ticket_id = Some(ticket_id.clone());
        Ok(())
    }

    fn plan_input(&mut self, input: &Input) -> Result<()> {
        match input {
            Input::Command { ticket_id, command } => self.plan_command(ticket_id, command, None),
            Input::Merge { source, target } => self.plan_merge(source, target),
            Input::Event(event) => self.plan_event(event),
        }
    }

    fn plan_merge(&mut self, source: &TicketId, target: &TicketId) -> Result<()> {
        let source_ticket = self.ticket(source).ok_or_else(|| TicketError::UnknownTicket(source.clone()))?;
        let event = Ticket::decide_merge(source_ticket, self.ticket(target), target)?;
        // One fact, recorded on both tickets: the source closes, the target lists it.
        self.push(ticket_stream(source), event.clone(), true, None);
        self.push(ticket_stream(target), event, false, None);
        self.summary.ticket_id = Some(target.clone());
        Ok(())
    }

    fn plan_command(&mut self, ticket_id: &TicketId, command: &TicketCommand, addressed: Option<String>) -> Result<()> {
        if let TicketCommand::MergeInto { target } = command {
            return self.plan_merge(ticket_id, target);
        }
        if let TicketCommand::Open(OpenTicket { follow_up_of: Some(parent), .. }) = command {
            // A follow-up continues a closed ticket (a historical import opens a ticket closed
            // at its source as closed); anything else is a dangling chain.
            let status = self.ticket(parent).map(Ticket::status);
            if status != Some(Status::Closed) {
                return Err(Error::InvalidFollowUp {
                    ticket_id: ticket_id.clone(),
                    follow_up_of: parent.clone(),
                    status,
                });
            }
        }
        let closed = self.ticket(ticket_id).is_some_and(|t| t.status() == Status::Closed);
        let goes_to_follow_up = closed
            && matches!(
                command,
                TicketCommand::ReceiveMessage { .. }
                    | TicketCommand::SendMessage { .. }
                    | TicketCommand::ChangeStatus { .. }
                    | TicketCommand::Update { .. }
            );
        if !goes_to_follow_up {
            let result = self.run(ticket_id, command, addressed);
            return result;
        }
        if matches!(command, TicketCommand::ChangeStatus { status: Status::Closed }) {
            // Closing a closed ticket changes nothing.
            self.summary.ticket_id = Some(ticket_id.clone());
            return Ok(());
        }
        // Closed is terminal: the message or change opens (or goes to) a follow-up ticket.
        self.routing = Some("follow_up");
        let follow_up = self.follow_up_for(ticket_id, command)?;
        self.run(&follow_up, command, Some(ticket_id.to_string()))
    }

    /// The open follow-up of a closed ticket's chain, opening `<root>-f<n>` if there is none.
    fn follow_up_for(&mut self, closed_id: &TicketId, command: &TicketCommand) -> Result<TicketId> {
        let root = self.planner.root_of(closed_id);
        let chain = self.planner.follow_ups_of(&root);
        if let Some(open) = chain.iter().rev().find(|id| self.ticket(id).is_some_and(|t| t.status() != Status::Closed))
        {
            return Ok((*open).clone());
        }
        let follow_up_id = TicketId::new(format!("{root}-f{}", chain.len() + 1))?;
        if self.ticket(&follow_up_id).is_some() {
            return Err(Error::TicketIdTaken(follow_up_id));
        }
        let Some(closed) = self.ticket(closed_id) else {
            return Err(TicketError::UnknownTicket(closed_id.clone()).into());
        };
        let channel = match command {
            TicketCommand::ReceiveMessage { channel, .. } | TicketCommand::SendMessage { channel, .. } => {
                channel.clone()
            }
            _ => closed.last_channel().clone(),
        };
        let open = OpenTicket {
            ticket_id: follow_up_id.clone(),
            requester: closed.requester().clone(),
            channel,
            subject: closed.subject().map(str::to_owned),
            priority: closed.priority(),
            ticket_type: closed.ticket_type(),
            topic: closed.topic().map(str::to_owned),
            group: closed.group().map(str::to_owned),
            assignee: closed.assignee().map(str::to_owned),
            tags: closed.tags().iter().cloned().collect(),
            status: None,
            follow_up_of: Some(closed_id.clone()),
        };
        let events = Ticket::decide(&follow_up_id, None, &TicketCommand::Open(open))?;
        for event in events {
            self.push(ticket_stream(&follow_up_id), event, false, None);
        }
        self.summary.follow_up_opened = Some(follow_up_id.clone());
        Ok(follow_up_id)
    }

    fn plan_event(&mut self, event: &CxEvent) -> Result<()> {
        event.validate()?;
        match event {
            CxEvent::CustomerIdentified(e) => {
                let Some(first) = e.identities.first() else {
                    return Err(rapport_events::Error::InvalidValue {
                        field: "identities",
                        value: "[]".into(),
                        expected: "at least one identity",
                    }
                    .into());
                };
                self.push(identity_stream(self.planner.ids, first), event.clone(), true, None);
                Ok(())
            }
            CxEvent::OrderPlaced(e) => {
                self.push(identity_stream(self.planner.ids, &e.identity), event.clone(), true, None);
                Ok(())
            }
            CxEvent::CustomerRated(e) => {
                // A rating names its ticket: a dangling reference would never join a metric.
                if let Some(ticket_id) = &e.ticket_id {
                    if self.ticket(ticket_id).is_none() {
                        return Err(Error::UnknownTicket(ticket_id.clone()));
                    }
                }
                self.push(identity_stream(self.planner.ids, &e.identity), event.clone(), true, None);
                Ok(())
            }
            CxEvent::MessageReceived(message) => self.plan_message(message),
            CxEvent::MessageSent(e) => self.plan_command(
                &e.ticket_id,
                &TicketCommand::SendMessage {
                    channel: e.channel.clone(),
                    agent: e.agent.clone(),
                    public: e.public,
                    body: e.body.clone(),
                    actor: e.actor,
                },
                None,
            ),
            CxEvent::TicketOpened(e) => self.plan_command(&e.ticket_id, &TicketCommand::Open(open_from(e)), None),
            CxEvent::TicketStatusChanged(e) => {
                self.plan_command(&e.ticket_id, &TicketCommand::ChangeStatus { status: e.status }, None)
            }
            CxEvent::TicketAssigned(e) => self.plan_command(
                &e.ticket_id,
                &TicketCommand::Assign { group: e.group.clone(), assignee: e.assignee.clone() },
                None,
            ),
            CxEvent::TicketTagged(e) => self.plan_command(
                &e.ticket_id,
                &TicketCommand::Tag { add: e.add.clone(), remove: e.remove.clone() },
                None,
            ),
            CxEvent::TicketPriorityChanged(e) => {
                self.plan_command(&e.ticket_id, &TicketCommand::ChangePriority { priority: e.priority }, None)
            }
            CxEvent::TicketLabeled(TicketLabeled { ticket_id, department, inquiry_type }) => self.plan_label(
                ticket_id,
                &TicketCommand::Label { department: department.clone(), inquiry_type: inquiry_type.clone() },
            ),
            CxEvent::TicketFlagged(e) => {
                self.plan_command(&e.ticket_id, &TicketCommand::Flag { flag: e.flag, reason: e.reason.clone() }, None)
            }
            CxEvent::TicketUpdated(TicketUpdated { ticket_id, status, group, assignee, priority, activity }) => self
                .plan_command(
                    ticket_id,
                    &TicketCommand::Update {
                        status: *status,
                        group: group.clone(),
                        assignee: assignee.clone(),
                        priority: *priority,
                        activity: activity.clone(),
                    },
                    None,
                ),
            CxEvent::TicketMerged(e) => self.plan_merge(&e.source, &e.target),
            // The derived types of the events crate's table (`Origin::Derived`).
            CxEvent::TicketChannelSwitched(_)
            | CxEvent::CustomersMerged(_)
            | CxEvent::CustomerMergeConflict(_)
            | CxEvent::CustomerErased(_) => Err(Error::DerivedEvent(event.event_type())),
            CxEvent::CustomersSplit(e) => {
                self.push(format!("{CUSTOMER_STREAM_PREFIX}{}", e.customer), event.clone(), true, None);
                Ok(())
            }
            // Facts about a customer: on the stream of the identity they name.
            CxEvent::SurveyOffered(SurveyOffered { identity, ticket_id, .. }) => {
                if let Some(ticket_id) = ticket_id {
                    if self.ticket(ticket_id).is_none() {
                        return Err(Error::UnknownTicket(ticket_id.clone()));
                    }
                }
                self.push(identity_stream(self.planner.ids, identity), event.clone(), true, None);
                Ok(())
            }
            CxEvent::OrderRefunded(OrderRefunded { identity, .. })
            | CxEvent::OrderReturned(OrderReturned { identity, .. })
            | CxEvent::OrderCancelled(OrderCancelled { identity, .. })
            | CxEvent::CustomerEvent(CustomerEvent { identity, .. }) => {
                self.push(identity_stream(self.planner.ids, identity), event.clone(), true, None);
                Ok(())
            }
            // Facts about a ticket that are not ticket commands: on the ticket's stream.
            CxEvent::QaReviewed(QaReviewed { ticket_id, .. })
            | CxEvent::TicketFieldsSet(TicketFieldsSet { ticket_id, .. }) => {
                if self.ticket(ticket_id).is_none() {
                    return Err(Error::UnknownTicket(ticket_id.clone()));
                }
                self.push(ticket_stream(ticket_id), event.clone(), true, None);
                Ok(())
            }
            CxEvent::OrganizationUpdated(e) => {
                self.push(format!("{ORGANIZATION_STREAM_PREFIX}{}", e.organization_id), event.clone(), true, None);
                Ok(())
            }
            // A definition is checked as the metrics will read it (time zone, intervals,
            // holidays, limits) before it is recorded: a bad one is refused here.
            CxEvent::SlaPolicySet(policy) => {
                self.planner.base.metrics.definitions().check_policy(policy)?;
                self.push(DEFINITIONS_STREAM.to_owned(), event.clone(), true, None);
                Ok(())
            }
            CxEvent::ScheduleSet(schedule) => {
                self.planner.base.metrics.definitions().check_schedule(schedule)?;
                self.push(DEFINITIONS_STREAM.to_owned(), event.clone(), true, None);
                Ok(())
            }
            CxEvent::QaScorecardSet(_) => {
                self.push(DEFINITIONS_STREAM.to_owned(), event.clone(), true, None);
                Ok(())
            }
            CxEvent::SourceCheckpoint(e) => {
                self.push(source_stream(&e.source), event.clone(), true, None);
                Ok(())
            }
            // On a stream of its own per key, not the ticket's: it is no fact about the ticket.
            CxEvent::SourceLinked(e) => {
                if self.ticket(&e.ticket_id).is_none() {
                    return Err(Error::UnknownTicket(e.ticket_id.clone()));
                }
                self.push(source_link_stream(&e.source, &e.key), event.clone(), true, None);
                Ok(())
            }
            // Routing corrections: the projection re-folds the tickets involved.
            CxEvent::MessageMoved(e) => self.plan_move(e),
            CxEvent::TicketSplit(e) => self.plan_split(e),
            CxEvent::TicketUnmerged(e) => self.plan_unmerge(e),
        }
    }

    /// Labels, then flags `repeat_inquiry` when the requester opened another ticket of the same
    /// inquiry type within the window before this one.
    fn plan_label(&mut self, ticket_id: &TicketId, command: &TicketCommand) -> Result<()> {
        self.plan_command(ticket_id, command, None)?;
        let TicketCommand::Label { inquiry_type: Some(inquiry_type), .. } = command else { return Ok(()) };
        let Some(ticket) = self.ticket(ticket_id) else { return Ok(()) };
        if ticket.flags().contains(&TicketFlag::RepeatInquiry) {
            return Ok(());
        }
        let window = i64::from(self.planner.options.repeat_inquiry_window_days) * 86_400_000_000;
        let created = ticket.created_at().0;
        let requester = ticket.requester().clone();
        let earlier = self.planner.requester_tickets(&requester).into_iter().any(|other| {
            other != ticket_id
                && self.ticket(other).is_some_and(|t| {
                    t.inquiry_type() == Some(inquiry_type.as_str())
                        && t.created_at().0 <= created
                        && created - t.created_at().0 <= window
                })
        });
        if earlier {
            let flag = TicketCommand::Flag {
                flag: TicketFlag::RepeatInquiry,
                reason: Some(format!(
                    "same inquiry type {inquiry_type:?} within {} days",
                    self.planner.options.repeat_inquiry_window_days
                )),
            };
            for event in Ticket::decide(ticket_id, self.ticket(ticket_id), &flag)? {
                self.push(ticket_stream(ticket_id), event, false, None);
            }
        }
        Ok(())
    }

    /// Cross-channel routing of an inbound message.
    fn plan_message(&mut self, message: &MessageReceived) -> Result<()> {
        let command = TicketCommand::ReceiveMessage {
            channel: message.channel.clone(),
            from: message.from.clone(),
            topic: message.topic.clone(),
            subject: message.subject.clone(),
            body: message.body.clone(),
        };
        if let Some(ticket_id) = &message.ticket_id {
            self.routing = Some("explicit");
            return self.plan_command(ticket_id, &command, None);
        }
        let window = i64::from(self.planner.options.routing_window_minutes) * 60_000_000;
        let at = self.at.0;
        let candidate = self
            .planner
            .requester_tickets(&message.from)
            .into_iter()
            .filter_map(|id| self.ticket(id))
            .filter(|t| t.is_unsolved() && at - t.updated_at().0 <= window)
            .filter(|t| match (t.topic(), message.topic.as_deref()) {
                (Some(ticket_topic), Some(message_topic)) => ticket_topic == message_topic,
                _ => true,
            })
            .max_by_key(|t| (t.updated_at(), t.created_at()))
            .map(|t| (t.id().clone(), t.topic().is_some() && message.topic.is_some()));
        self.summary.routed = true;
        match candidate {
            Some((ticket_id, same_topic)) => {
                self.routing = Some(if same_topic { "topic" } else { "window" });
                self.plan_command(&ticket_id, &command, Some(String::new()))?;
            }
            None => {
                self.routing = Some("new");
                let ticket_id = self.planner.ids.opened_ticket_id(self.source_id)?;
                if self.ticket(&ticket_id).is_some() {
                    return Err(Error::TicketIdTaken(ticket_id));
                }
                let open = OpenTicket {
                    ticket_id: ticket_id.clone(),
                    requester: message.from.clone(),
                    channel: message.channel.clone(),
                    subject: message.subject.clone(),
                    priority: None,
                    ticket_type: None,
                    topic: message.topic.clone(),
                    group: None,
                    assignee: None,
                    tags: Vec::new(),
                    status: None,
                    follow_up_of: None,
                };
                for event in Ticket::decide(&ticket_id, None, &TicketCommand::Open(open))? {
                    self.push(ticket_stream(&ticket_id), event, false, None);
                }
                self.summary.opened = Some(ticket_id.clone());
                self.run(&ticket_id, &command, Some(String::new()))?;
            }
        }
        Ok(())
    }
}

/// Routing corrections (docs/design/routing.md): checked against the folded log, recorded with
/// the messages' event ids (32 hex digits) and the ticket they leave, on the streams of the
/// tickets they involve; the copy on the destination's stream comes last.
impl Scratch<'_, '_> {
    /// The recorded message `text` names: an input id (through [`Ids::user_id`]) or 32 hex digits.
    fn message(&self, field: &'static str, text: &str) -> Result<(EventId, MessageRef)> {
        let by_input = self.planner.ids.user_id(text);
        let (base, position_of) = (self.planner.base, self.planner.position_of);
        let found = base.message(&by_input, position_of).map(|m| (by_input, m)).or_else(|| {
            let id = EventId::parse_hex(text)?;
            base.message(&id, position_of).map(|m| (id, m))
        });
        found.ok_or_else(|| RoutingError::UnknownMessage { field, message_id: text.to_owned() }.into())
    }

    /// Resolves `texts` (each once) on ticket `from`, of the kind asked (`Some(true)`: customer
    /// messages, `Some(false)`: agent messages, `None`: either).
    fn messages_on(
        &self,
        field: &'static str,
        texts: &[String],
        from: &TicketId,
        received: Option<bool>,
    ) -> Result<Vec<(EventId, MessageRef)>> {
        let mut found: Vec<(EventId, MessageRef)> = Vec::with_capacity(texts.len());
        for text in texts {
            let (id, message) = self.message(field, text)?;
            if found.iter().any(|(other, _)| *other == id) {
                return Err(RoutingError::Duplicate { field, message_id: text.clone() }.into());
            }
            let on = self.planner.base.tickets.id_of(message.ticket);
            if on != Some(from) {
                return Err(RoutingError::NotOnTicket {
                    field,
                    message_id: text.clone(),
                    expected: from.clone(),
                    actual: on.cloned().unwrap_or_else(|| from.clone()),
                }
                .into());
            }
            if let Some(expected) = received.filter(|expected| *expected != message.received) {
                let kind = |received: bool| if received { "a customer message" } else { "an agent message" };
                return Err(RoutingError::WrongKind {
                    field,
                    message_id: text.clone(),
                    actual: kind(message.received),
                    expected: kind(expected),
                }
                .into());
            }
            found.push((id, message));
        }
        Ok(found)
    }

    /// Refuses a correction whose tickets' histories are too long to re-fold.
    fn check_history(&self, ticket_ids: &[&TicketId]) -> Result<()> {
        for ticket_id in ticket_ids {
            let events = self.planner.base.tickets.history(ticket_id).len();
            if events > ROUTED_HISTORY_EVENTS_MAX {
                return Err(RoutingError::HistoryTooLong {
                    ticket_id: (*ticket_id).clone(),
                    events,
                    limit: ROUTED_HISTORY_EVENTS_MAX,
                }
                .into());
            }
        }
        Ok(())
    }

    /// An existing destination must be open for messages.
    fn check_destination(&self, ticket_id: &TicketId) -> Result<()> {
        let ticket = self.ticket(ticket_id).ok_or_else(|| Error::UnknownTicket(ticket_id.clone()))?;
        if ticket.status() == Status::Closed {
            let merged_into = ticket.merged_into().cloned();
            return Err(RoutingError::DestinationClosed { ticket_id: ticket_id.clone(), merged_into }.into());
        }
        Ok(())
    }

    /// Opens the ticket a correction creates, as routing would have opened it for its first
    /// message: the requester, subject and topic of the ticket the messages leave, the channel
    /// of the first message; no group, assignee or tags (a message opens a ticket without them).
    fn open_for(&mut self, new_id: &TicketId, from: &TicketId, channel: &Channel, subject: Option<&str>) -> Result<()> {
        if self.ticket(new_id).is_some() {
            return Err(Error::TicketIdTaken(new_id.clone()));
        }
        let source = self.ticket(from).ok_or_else(|| Error::UnknownTicket(from.clone()))?;
        let open = OpenTicket {
            ticket_id: new_id.clone(),
            requester: source.requester().clone(),
            channel: channel.clone(),
            subject: subject.or(source.subject()).map(str::to_owned),
            priority: None,
            ticket_type: None,
            topic: source.topic().map(str::to_owned),
            group: None,
            assignee: None,
            tags: Vec::new(),
            status: None,
            follow_up_of: None,
        };
        for event in Ticket::decide(new_id, None, &TicketCommand::Open(open))? {
            self.push(ticket_stream(new_id), event, false, None);
        }
        self.summary.opened = Some(new_id.clone());
        Ok(())
    }

    /// Records a correction: its own event on `from`, the opening of a new ticket, its copy on
    /// the destination (where the projection applies it).
    fn record_correction(
        &mut self,
        event: CxEvent,
        from: &TicketId,
        destination: &TicketId,
        open: Option<(&Channel, Option<&str>)>,
    ) -> Result<()> {
        self.push(ticket_stream(from), event.clone(), true, None);
        if let Some((channel, subject)) = open {
            self.open_for(destination, from, channel, subject)?;
        }
        self.push(ticket_stream(destination), event, false, None);
        self.summary.ticket_id = Some(destination.clone());
        Ok(())
    }

    fn plan_move(&mut self, moved: &MessageMoved) -> Result<()> {
        let (_, message) = self.message("message_id", &moved.message_id)?;
        // Every message's handle names a ticket stream of the projection.
        let Some(from) = self.planner.base.tickets.id_of(message.ticket).cloned() else {
            return Err(
                RoutingError::UnknownMessage { field: "message_id", message_id: moved.message_id.clone() }.into()
            );
        };
        if let Some(named) = &moved.from {
            if named != &from {
                return Err(RoutingError::NotOnTicket {
                    field: "message_id",
                    message_id: moved.message_id.clone(),
                    expected: named.clone(),
                    actual: from,
                }
                .into());
            }
        }
        let (message_id, message) = self
            .messages_on("message_id", std::slice::from_ref(&moved.message_id), &from, Some(true))?
            .pop()
            .ok_or_else(|| RoutingError::UnknownMessage {
                field: "message_id",
                message_id: moved.message_id.clone(),
            })?;
        let replies = self.messages_on("replies", &moved.replies, &from, Some(false))?;
        let Some(destination) = moved.destination().cloned() else {
            return Err(rapport_events::Error::InvalidValue {
                field: "to",
                value: String::new(),
                expected: "exactly one of `to` and `to_new`",
            }
            .into());
        };
        if destination == from {
            return Err(RoutingError::SameTicket { message_id: moved.message_id.clone(), ticket_id: from }.into());
        }
        if moved.to.is_some() {
            self.check_destination(&destination)?;
        }
        self.check_history(&[&from, &destination])?;
        let recorded = CxEvent::MessageMoved(MessageMoved {
            message_id: message_id.to_string(),
            from: Some(from.clone()),
            to: moved.to.clone(),
            to_new: moved.to_new.clone(),
            replies: replies.iter().map(|(id, _)| id.to_string()).collect(),
        });
        let subject = moved.to_new.as_ref().and_then(|new| new.subject.as_deref());
        let open = moved.to_new.as_ref().map(|_| (&message.channel, subject));
        self.record_correction(recorded, &from, &destination, open)
    }

    fn plan_split(&mut self, split: &TicketSplit) -> Result<()> {
        if self.ticket(&split.ticket_id).is_none() {
            return Err(Error::UnknownTicket(split.ticket_id.clone()));
        }
        let mut messages = self.messages_on("messages", &split.messages, &split.ticket_id, None)?;
        messages.sort_by_key(|(_, m)| m.position);
        self.check_history(&[&split.ticket_id])?;
        let Some((_, first)) = messages.first() else {
            return Err(rapport_events::Error::InvalidValue {
                field: "messages",
                value: "[]".into(),
                expected: "at least one message",
            }
            .into());
        };
        let channel = first.channel.clone();
        let recorded = CxEvent::TicketSplit(TicketSplit {
            ticket_id: split.ticket_id.clone(),
            messages: messages.iter().map(|(id, _)| id.to_string()).collect(),
            new_ticket_id: split.new_ticket_id.clone(),
        });
        self.record_correction(recorded, &split.ticket_id, &split.new_ticket_id, Some((&channel, None)))
    }

    fn plan_unmerge(&mut self, unmerged: &TicketUnmerged) -> Result<()> {
        let source = self.ticket(&unmerged.source).ok_or_else(|| Error::UnknownTicket(unmerged.source.clone()))?;
        if source.merged_into() != Some(&unmerged.target) {
            return Err(RoutingError::NotMerged {
                source_ticket: unmerged.source.clone(),
                target: unmerged.target.clone(),
                actual: source.merged_into().cloned(),
            }
            .into());
        }
        if self.ticket(&unmerged.target).is_none() {
            return Err(Error::UnknownTicket(unmerged.target.clone()));
        }
        self.check_history(&[&unmerged.source, &unmerged.target])?;
        let recorded = CxEvent::TicketUnmerged(unmerged.clone());
        self.record_correction(recorded, &unmerged.source, &unmerged.target, None)
    }
}

fn open_from(e: &TicketOpened) -> OpenTicket {
    OpenTicket {
        ticket_id: e.ticket_id.clone(),
        requester: e.requester.clone(),
        channel: e.channel.clone(),
        subject: e.subject.clone(),
        priority: e.priority,
        ticket_type: e.ticket_type,
        topic: e.topic.clone(),
        group: e.group.clone(),
        assignee: e.assignee.clone(),
        tags: e.tags.clone(),
        status: e.status,
        follow_up_of: e.follow_up_of.clone(),
    }
}

#[cfg(test)]
mod tests;
