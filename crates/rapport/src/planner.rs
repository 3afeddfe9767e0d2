//! Turns inputs (facts from outside, ticket commands, merges) into the events to append, against
//! the projection plus an overlay of what the current batch already planned. This is where the
//! rules that need more than one ticket live: cross-channel routing, follow-ups of closed
//! tickets, repeat-inquiry detection. Planning never writes; the store appends the plan.

use std::collections::{HashMap, HashSet};

use rapport_customer::{Overlay, ResolverView};
use rapport_events::{
    CustomerMergeConflict, CustomersMerged, CxEvent, Identity, MessageReceived, Status, TicketFlag, TicketId,
    TicketLabeled, TicketOpened, TicketUpdated,
};
use rapport_log::{EventId, ExpectedVersion, StreamWrite, Timestamp};
use rapport_ticket::{OpenTicket, Ticket, TicketCommand, TicketError};

use crate::error::{Error, Result};
use crate::ids::Ids;
use crate::projection::{ticket_stream, Projection, CUSTOMER_STREAM_PREFIX, IDENTITY_STREAM_PREFIX};
use crate::store::{Input, StoreOptions, Submitted};

/// Metadata key recording the ticket id a fact was addressed to when the store routed it
/// elsewhere (empty: no ticket given). `rapport export` restores the original from it.
pub const ADDRESSED_METADATA_KEY: &str = "rapport.addressed";

/// One event to append.
#[derive(Debug, Clone)]
pub(crate) struct PlannedEvent {
    pub(crate) stream: String,
    pub(crate) event: CxEvent,
    pub(crate) id: EventId,
    /// The input's own event has none; events the store derived from it name it.
    pub(crate) causation: Option<EventId>,
    pub(crate) addressed: Option<String>,
    pub(crate) at: Timestamp,
}

/// What one input produces.
#[derive(Debug, Clone, Default)]
pub(crate) struct ItemPlan {
    pub(crate) events: Vec<PlannedEvent>,
    pub(crate) summary: Submitted,
}

/// The batch being planned: the projection, what earlier items added, and the writes so far.
pub(crate) struct Planner<'a> {
    base: &'a Projection,
    options: &'a StoreOptions,
    ids: &'a Ids,
    tickets: HashMap<TicketId, Ticket>,
    new_by_requester: HashMap<Identity, Vec<TicketId>>,
    new_follow_ups: HashMap<TicketId, Vec<TicketId>>,
    new_root_of: HashMap<TicketId, TicketId>,
    pub(crate) planned_ids: HashSet<EventId>,
    pub(crate) writes: Vec<StreamWrite>,
    write_idx: HashMap<String, usize>,
    pub(crate) n_events: usize,
    /// Identity resolution of the batch so far.
    customers: Overlay<'a>,
    /// A split was planned: the batch must be appended before anything else is decided.
    pub(crate) flush_after: bool,
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

impl<'a> Planner<'a> {
    pub(crate) fn new(base: &'a Projection, options: &'a StoreOptions, ids: &'a Ids) -> Planner<'a> {
        Planner {
            base,
            options,
            ids,
            tickets: HashMap::new(),
            new_by_requester: HashMap::new(),
            new_follow_ups: HashMap::new(),
            new_root_of: HashMap::new(),
            planned_ids: HashSet::new(),
            writes: Vec::new(),
            write_idx: HashMap::new(),
            n_events: 0,
            customers: Overlay::new(base.customers.resolver()),
            flush_after: false,
        }
    }

    /// Whether events can still be appended to the write at `idx` without reordering items:
    /// only explanation streams were written after it.
    fn can_append_to(&self, idx: usize) -> bool {
        self.writes[idx + 1..].iter().all(|w| is_explanation_stream(&w.stream))
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
        let identity_events = plan.events.iter().filter(|e| !e.event.identities().is_empty()).count();
        if self.n_events + plan.events.len() + identity_events > BATCH_EVENTS {
            return true;
        }
        if plan.events.iter().any(|e| matches!(e.event, CxEvent::CustomersSplit(_))) {
            return true;
        }
        // Streams this item adds to the batch, in order: an earlier event of the item (a merge's
        // source) may open a write after the one a later event (the merge's target) needs.
        let mut added: Vec<&str> = Vec::new();
        for event in &plan.events {
            let explanation = is_explanation_stream(&event.stream);
            if let Some(pos) = added.iter().rposition(|stream| *stream == event.stream) {
                if !explanation && !added[pos + 1..].iter().all(|stream| is_explanation_stream(stream)) {
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
    pub(crate) fn add(&mut self, plan: &ItemPlan, source_id: EventId) {
        let mut explanations = 0u32;
        let base = self.base;
        let options = base.customers.options();
        for planned in &plan.events {
            self.push(planned);
            if matches!(planned.event, CxEvent::CustomersSplit(_)) {
                self.flush_after = true;
            }
            let identities = planned.event.identities();
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
            if let Some(explanation) = explanation {
                let customer = match &explanation {
                    CxEvent::CustomersMerged(merged) => merged.survivor,
                    CxEvent::CustomerMergeConflict(conflict) => conflict.customers[0],
                    _ => unreachable!("only merge and conflict explanations"),
                };
                // Ids apart from the planning-time derived ones (which count up from 0).
                let id = self.ids.derived_id(source_id, 1_000_000 + explanations);
                explanations += 1;
                self.push(&PlannedEvent {
                    stream: format!("{CUSTOMER_STREAM_PREFIX}{customer}"),
                    event: explanation,
                    id,
                    causation: Some(source_id),
                    addressed: None,
                    at: planned.at,
                });
            }
        }
    }

    fn push(&mut self, planned: &PlannedEvent) {
        {
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
            let mut data = match rapport_events::codec::encode(&planned.event) {
                Ok(encoded) => {
                    let mut data = rapport_log::EventData::new(planned.id, encoded.event_type, encoded.payload);
                    data.schema_version = encoded.schema_version;
                    data
                }
                Err(error) => unreachable!("validated events always encode: {error}"),
            };
            data.occurred_at = planned.at;
            data.causation_id = planned.causation;
            if let Some(addressed) = &planned.addressed {
                data.metadata.push((ADDRESSED_METADATA_KEY.to_owned(), addressed.clone()));
            }
            self.writes[idx].events.push(data);
            self.planned_ids.insert(planned.id);
            self.n_events += 1;
            if let Some(ticket_id) = planned.stream.strip_prefix(crate::projection::TICKET_STREAM_PREFIX) {
                let ticket_id = stream_ticket_id(ticket_id);
                self.evolve_overlay(&ticket_id, &planned.event, planned.at);
            }
        }
    }

    fn evolve_overlay(&mut self, ticket_id: &TicketId, event: &CxEvent, at: Timestamp) {
        let state = self.ticket(ticket_id).cloned();
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

    /// Ticket streams: exactly the version the projection knows (optimistic concurrency).
    /// Customer-fact streams only ever grow, so any version will do.
    fn expected_version(&self, stream: &str) -> ExpectedVersion {
        match stream.strip_prefix(crate::projection::TICKET_STREAM_PREFIX) {
            Some(ticket_id) => match self.base.tickets.get(&stream_ticket_id(ticket_id)) {
                Some(ticket) => ExpectedVersion::Exact(ticket.events() - 1),
                None => ExpectedVersion::NoStream,
            },
            None => ExpectedVersion::Any,
        }
    }

    /// Plans one input. Reads only; the result is added with [`Planner::add`].
    pub(crate) fn plan(&self, input: &Input, source_id: EventId, at: Timestamp) -> Result<ItemPlan> {
        let mut scratch =
            Scratch { planner: self, local: HashMap::new(), plan: ItemPlan::default(), source_id, at, derived: 0 };
        scratch.plan_input(input)?;
        Ok(scratch.plan)
    }
}

/// Planning state of one item: its own overlay on top of the batch's.
struct Scratch<'p, 'a> {
    planner: &'p Planner<'a>,
    local: HashMap<TicketId, Ticket>,
    plan: ItemPlan,
    source_id: EventId,
    at: Timestamp,
    derived: u32,
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
        let is_primary = primary && !self.plan.events.iter().any(|e| e.causation.is_none());
        let (id, causation) = if is_primary {
            (self.source_id, None)
        } else {
            let id = self.planner.ids.derived_id(self.source_id, self.derived);
            self.derived += 1;
            (id, Some(self.source_id))
        };
        if let Some(ticket_id) = stream.strip_prefix(crate::projection::TICKET_STREAM_PREFIX) {
            let ticket_id = stream_ticket_id(ticket_id);
            let state = self.ticket(&ticket_id).cloned();
            if let Some(ticket) = Ticket::evolve(state, &event, self.at) {
                self.local.insert(ticket_id, ticket);
            }
        }
        self.plan.summary.events += 1;
        self.plan.events.push(PlannedEvent { stream, event, id, causation, addressed, at: self.at });
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
        self.plan.summary.ticket_id = Some(ticket_id.clone());
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
        self.plan.summary.ticket_id = Some(target.clone());
        Ok(())
    }

    fn plan_command(&mut self, ticket_id: &TicketId, command: &TicketCommand, addressed: Option<String>) -> Result<()> {
        if let TicketCommand::MergeInto { target } = command {
            return self.plan_merge(ticket_id, target);
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
            self.plan.summary.ticket_id = Some(ticket_id.clone());
            return Ok(());
        }
        // Closed is terminal: the message or change opens (or goes to) a follow-up ticket.
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
        self.plan.summary.follow_up_opened = Some(follow_up_id.clone());
        Ok(follow_up_id)
    }

    fn plan_event(&mut self, event: &CxEvent) -> Result<()> {
        event.validate()?;
        match event {
            CxEvent::CustomerIdentified(e) => {
                let Some(first) = e.identities.first() else { unreachable!("validated: at least one identity") };
                self.push(identity_stream(self.planner.ids, first), event.clone(), true, None);
                Ok(())
            }
            CxEvent::OrderPlaced(e) => {
                self.push(identity_stream(self.planner.ids, &e.identity), event.clone(), true, None);
                Ok(())
            }
            CxEvent::CustomerRated(e) => {
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
            CxEvent::TicketChannelSwitched(_) | CxEvent::CustomersMerged(_) | CxEvent::CustomerMergeConflict(_) => {
                Err(Error::DerivedEvent(event.event_type()))
            }
            CxEvent::CustomersSplit(e) => {
                self.push(format!("{CUSTOMER_STREAM_PREFIX}{}", e.customer), event.clone(), true, None);
                Ok(())
            }
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
            .map(|t| t.id().clone());
        self.plan.summary.routed = true;
        match candidate {
            Some(ticket_id) => {
                self.plan_command(&ticket_id, &command, Some(String::new()))?;
            }
            None => {
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
                self.plan.summary.opened = Some(ticket_id.clone());
                self.run(&ticket_id, &command, Some(String::new()))?;
            }
        }
        Ok(())
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
