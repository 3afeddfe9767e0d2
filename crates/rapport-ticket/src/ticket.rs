//! The ticket state, `decide` (rules) and `evolve` (fold).

use std::collections::BTreeSet;

use rapport_events::{
    Channel, CxEvent, Identity, MessageReceived, MessageSent, Priority, Status, TicketAssigned, TicketChannelSwitched,
    TicketFlag, TicketFlagged, TicketId, TicketLabeled, TicketMerged, TicketOpened, TicketPriorityChanged,
    TicketStatusChanged, TicketTagged, TicketType, TicketUpdated,
};

use rapport_types::Timestamp;

use crate::command::{OpenTicket, TicketCommand};
use crate::error::TicketError;

/// One ticket as its events made it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Ticket {
    id: TicketId,
    requester: Identity,
    created_channel: Channel,
    /// Distinct channels in order of first use.
    channels: Vec<Channel>,
    last_channel: Channel,
    subject: Option<String>,
    priority: Option<Priority>,
    ticket_type: Option<TicketType>,
    topic: Option<String>,
    group: Option<String>,
    assignee: Option<String>,
    tags: BTreeSet<String>,
    status: Status,
    follow_up_of: Option<TicketId>,
    merged_into: Option<TicketId>,
    merged_from: Vec<TicketId>,
    department: Option<String>,
    inquiry_type: Option<String>,
    flags: BTreeSet<TicketFlag>,
    customer_messages: u32,
    public_replies: u32,
    internal_notes: u32,
    reopens: u32,
    created_at: Timestamp,
    updated_at: Timestamp,
    /// Events folded into this state. Invariant: equals the length of the ticket's effective
    /// history (its stream, less routing corrections and what they moved away, plus what they
    /// moved in and the events re-derived for it; docs/design/routing.md).
    events: u64,
}

impl Ticket {
    /// Id.
    pub fn id(&self) -> &TicketId {
        &self.id
    }
    /// Requester identity.
    pub fn requester(&self) -> &Identity {
        &self.requester
    }
    /// Channel the ticket was created on.
    pub fn created_channel(&self) -> &Channel {
        &self.created_channel
    }
    /// Every channel used on the ticket, in order of first use.
    pub fn channels(&self) -> &[Channel] {
        &self.channels
    }
    /// The channel of the latest message.
    pub fn last_channel(&self) -> &Channel {
        &self.last_channel
    }
    /// The ticket as a view shows it, with the requester and subject the store revealed (the
    /// projection holds a pseudonym and an empty subject: personal data is sealed in the log).
    pub fn with_personal_data(mut self, requester: Identity, subject: Option<String>) -> Ticket {
        self.requester = requester;
        self.subject = subject;
        self
    }

    /// The subject.
    pub fn subject(&self) -> Option<&str> {
        self.subject.as_deref()
    }
    /// Priority.
    pub fn priority(&self) -> Option<Priority> {
        self.priority
    }
    /// Type.
    pub fn ticket_type(&self) -> Option<TicketType> {
        self.ticket_type
    }
    /// Topic.
    pub fn topic(&self) -> Option<&str> {
        self.topic.as_deref()
    }
    /// Group.
    pub fn group(&self) -> Option<&str> {
        self.group.as_deref()
    }
    /// Assignee.
    pub fn assignee(&self) -> Option<&str> {
        self.assignee.as_deref()
    }
    /// Tags, sorted.
    pub fn tags(&self) -> &BTreeSet<String> {
        &self.tags
    }
    /// Status.
    pub fn status(&self) -> Status {
        self.status
    }
    /// Whether the status is new, open, pending or hold ([`Status::is_unsolved`]).
    pub fn is_unsolved(&self) -> bool {
        self.status.is_unsolved()
    }
    /// The closed ticket this one follows up.
    pub fn follow_up_of(&self) -> Option<&TicketId> {
        self.follow_up_of.as_ref()
    }
    /// The ticket this one was merged into.
    pub fn merged_into(&self) -> Option<&TicketId> {
        self.merged_into.as_ref()
    }
    /// Tickets merged into this one.
    pub fn merged_from(&self) -> &[TicketId] {
        &self.merged_from
    }
    /// Department label.
    pub fn department(&self) -> Option<&str> {
        self.department.as_deref()
    }
    /// Inquiry-type label.
    pub fn inquiry_type(&self) -> Option<&str> {
        self.inquiry_type.as_deref()
    }
    /// Severity flags.
    pub fn flags(&self) -> &BTreeSet<TicketFlag> {
        &self.flags
    }
    /// Customer messages.
    pub fn customer_messages(&self) -> u32 {
        self.customer_messages
    }
    /// Public agent replies.
    pub fn public_replies(&self) -> u32 {
        self.public_replies
    }
    /// Internal notes.
    pub fn internal_notes(&self) -> u32 {
        self.internal_notes
    }
    /// Transitions from solved back to open, pending or hold.
    pub fn reopens(&self) -> u32 {
        self.reopens
    }
    /// Time of the opening event.
    pub fn created_at(&self) -> Timestamp {
        self.created_at
    }
    /// Time of the latest event.
    pub fn updated_at(&self) -> Timestamp {
        self.updated_at
    }
    /// Events folded into this state (= the stream's length while no routing correction
    /// involved the ticket).
    pub fn events(&self) -> u64 {
        self.events
    }

    /// Checks the rules and says what happened; never mutates. `ticket_id` is the ticket the
    /// command is for; `state` is its current state (`None` if it does not exist). An empty
    /// result means the command changes nothing (e.g. the status it asks for is the current one).
    pub fn decide(
        ticket_id: &TicketId,
        state: Option<&Ticket>,
        command: &TicketCommand,
    ) -> Result<Vec<CxEvent>, TicketError> {
        let events = match (state, command) {
            (Some(_), TicketCommand::Open(_)) => return Err(TicketError::AlreadyExists(ticket_id.clone())),
            (None, TicketCommand::Open(open)) => vec![Ticket::decide_open(ticket_id, open)?],
            (None, _) => return Err(TicketError::UnknownTicket(ticket_id.clone())),
            (Some(ticket), command) => {
                if &ticket.id != ticket_id {
                    return Err(TicketError::WrongTicket { command: ticket_id.clone(), state: ticket.id.clone() });
                }
                if ticket.status == Status::Closed {
                    return Err(TicketError::Closed(ticket_id.clone()));
                }
                ticket.decide_existing(command)?
            }
        };
        for event in &events {
            event.validate().map_err(|error| TicketError::InvalidEvent(error.to_string()))?;
        }
        Ok(events)
    }

    fn decide_open(ticket_id: &TicketId, open: &OpenTicket) -> Result<CxEvent, TicketError> {
        if &open.ticket_id != ticket_id {
            return Err(TicketError::WrongTicket { command: open.ticket_id.clone(), state: ticket_id.clone() });
        }
        // Any initial status is allowed, `solved` and `closed` included: a historical import
        // opens tickets as they are in the source (as Zendesk's ticket import API does).
        if open.follow_up_of.as_ref() == Some(ticket_id) {
            return Err(TicketError::InvalidEvent("a ticket cannot follow up itself".to_owned()));
        }
        Ok(CxEvent::TicketOpened(TicketOpened {
            ticket_id: open.ticket_id.clone(),
            requester: open.requester.clone(),
            channel: open.channel.clone(),
            subject: open.subject.clone(),
            priority: open.priority,
            ticket_type: open.ticket_type,
            topic: open.topic.clone(),
            group: open.group.clone(),
            assignee: open.assignee.clone(),
            tags: open.tags.clone(),
            status: open.status,
            follow_up_of: open.follow_up_of.clone(),
        }))
    }

    fn check_transition(&self, to: Status) -> Result<(), TicketError> {
        // `new` is only ever the initial status.
        if to == Status::New && self.status != Status::New {
            return Err(TicketError::InvalidTransition { ticket_id: self.id.clone(), from: self.status, to });
        }
        Ok(())
    }

    fn decide_existing(&self, command: &TicketCommand) -> Result<Vec<CxEvent>, TicketError> {
        let id = self.id.clone();
        Ok(match command {
            TicketCommand::Open(_) => return Err(TicketError::AlreadyExists(id)),
            TicketCommand::ReceiveMessage { channel, from, topic, subject, body } => {
                let (switch, reopen) = self.message_effects(channel);
                let mut events = Vec::new();
                events.extend(switch.map(CxEvent::TicketChannelSwitched));
                events.push(CxEvent::MessageReceived(MessageReceived {
                    channel: channel.clone(),
                    from: from.clone(),
                    ticket_id: Some(id.clone()),
                    topic: topic.clone(),
                    subject: subject.clone(),
                    body: body.clone(),
                }));
                events.extend(reopen.map(CxEvent::TicketStatusChanged));
                events
            }
            TicketCommand::SendMessage { channel, agent, public, body, actor } => {
                vec![CxEvent::MessageSent(MessageSent {
                    ticket_id: id,
                    channel: channel.clone(),
                    agent: agent.clone(),
                    public: *public,
                    body: body.clone(),
                    actor: *actor,
                })]
            }
            TicketCommand::ChangeStatus { status } => {
                self.check_transition(*status)?;
                if *status == self.status {
                    Vec::new()
                } else {
                    vec![CxEvent::TicketStatusChanged(TicketStatusChanged { ticket_id: id, status: *status })]
                }
            }
            TicketCommand::Assign { group, assignee } => {
                let group = group.clone().filter(|g| Some(g) != self.group.as_ref());
                let assignee = assignee.clone().filter(|a| Some(a) != self.assignee.as_ref());
                if group.is_none() && assignee.is_none() {
                    Vec::new()
                } else {
                    vec![CxEvent::TicketAssigned(TicketAssigned { ticket_id: id, group, assignee })]
                }
            }
            TicketCommand::Tag { add, remove } => {
                let add: Vec<String> = add
                    .iter()
                    .filter(|t| !self.tags.contains(*t))
                    .cloned()
                    .collect::<BTreeSet<_>>()
                    .into_iter()
                    .collect();
                let remove: Vec<String> = remove
                    .iter()
                    .filter(|t| self.tags.contains(*t) && !add.contains(t))
                    .cloned()
                    .collect::<BTreeSet<_>>()
                    .into_iter()
                    .collect();
                if add.is_empty() && remove.is_empty() {
                    Vec::new()
                } else {
                    vec![CxEvent::TicketTagged(TicketTagged { ticket_id: id, add, remove })]
                }
            }
            TicketCommand::ChangePriority { priority } => {
                if Some(*priority) == self.priority {
                    Vec::new()
                } else {
                    vec![CxEvent::TicketPriorityChanged(TicketPriorityChanged { ticket_id: id, priority: *priority })]
                }
            }
            TicketCommand::Label { department, inquiry_type } => {
                let department = department.clone().filter(|d| Some(d) != self.department.as_ref());
                let inquiry_type = inquiry_type.clone().filter(|t| Some(t) != self.inquiry_type.as_ref());
                if department.is_none() && inquiry_type.is_none() {
                    Vec::new()
                } else {
                    vec![CxEvent::TicketLabeled(TicketLabeled { ticket_id: id, department, inquiry_type })]
                }
            }
            TicketCommand::Flag { flag, reason } => {
                if self.flags.contains(flag) {
                    Vec::new()
                } else {
                    vec![CxEvent::TicketFlagged(TicketFlagged { ticket_id: id, flag: *flag, reason: reason.clone() })]
                }
            }
            TicketCommand::Update { status, group, assignee, priority, activity } => {
                if let Some(status) = status {
                    self.check_transition(*status)?;
                }
                // One source step is one event, even when it changes nothing (it is still history).
                vec![CxEvent::TicketUpdated(TicketUpdated {
                    ticket_id: id,
                    status: *status,
                    group: group.clone(),
                    assignee: assignee.clone(),
                    priority: *priority,
                    activity: activity.clone(),
                })]
            }
            TicketCommand::MergeInto { target } => {
                if target == &id {
                    return Err(TicketError::MergeIntoItself(id));
                }
                return Err(TicketError::InvalidMergeTarget {
                    target: target.clone(),
                    reason: "not given (use decide_merge)",
                });
            }
        })
    }

    /// What a customer message on `channel` causes on this ticket, by the one rule both
    /// `decide` and a routing correction's re-derivation use: a channel switch (before the
    /// message) when it is not the latest channel, and a reopen (after it) when the ticket is
    /// pending, on hold or solved (Zendesk: a requester update reopens it).
    pub fn message_effects(&self, channel: &Channel) -> (Option<TicketChannelSwitched>, Option<TicketStatusChanged>) {
        let switch = (channel != &self.last_channel).then(|| TicketChannelSwitched {
            ticket_id: self.id.clone(),
            from: self.last_channel.clone(),
            to: channel.clone(),
        });
        let reopen = matches!(self.status, Status::Pending | Status::Hold | Status::Solved)
            .then(|| TicketStatusChanged { ticket_id: self.id.clone(), status: Status::Open });
        (switch, reopen)
    }

    /// Decides merging `source` into `target`: both must exist and be open for change. The one
    /// resulting event is recorded on both tickets' streams.
    pub fn decide_merge(
        source: &Ticket,
        target: Option<&Ticket>,
        target_id: &TicketId,
    ) -> Result<CxEvent, TicketError> {
        if &source.id == target_id {
            return Err(TicketError::MergeIntoItself(source.id.clone()));
        }
        if source.status == Status::Closed {
            return Err(TicketError::Closed(source.id.clone()));
        }
        let target = target.ok_or(TicketError::InvalidMergeTarget { target: target_id.clone(), reason: "unknown" })?;
        if target.status == Status::Closed {
            return Err(TicketError::InvalidMergeTarget { target: target_id.clone(), reason: "closed" });
        }
        Ok(CxEvent::TicketMerged(TicketMerged { source: source.id.clone(), target: target_id.clone() }))
    }

    /// Folds one recorded event that occurred at `at`. No rules: events that do not concern
    /// this ticket leave it as it is.
    pub fn evolve(state: Option<Ticket>, event: &CxEvent, at: Timestamp) -> Option<Ticket> {
        let Some(mut ticket) = state else {
            return match event {
                CxEvent::TicketOpened(opened) => Some(Ticket::opened(opened, at)),
                _ => None,
            };
        };
        ticket.evolve_in_place(event, at);
        Some(ticket)
    }

    /// [`Ticket::evolve`] of an existing ticket, in place (a fold over many tickets moves none
    /// of them). No rules: events that do not concern this ticket leave it as it is.
    pub fn evolve_in_place(&mut self, event: &CxEvent, at: Timestamp) {
        let ticket = self;
        let mine = |id: &TicketId| id == &ticket.id;
        let concerns = match event {
            CxEvent::TicketMerged(merged) => mine(&merged.source) || mine(&merged.target),
            // A routing correction is no event of the ticket's history: the store re-folds the
            // tickets it involves (docs/design/routing.md).
            CxEvent::MessageMoved(_) | CxEvent::TicketSplit(_) | CxEvent::TicketUnmerged(_) => false,
            other => other.ticket_id().is_some_and(mine),
        };
        if !concerns || matches!(event, CxEvent::TicketOpened(_)) {
            return;
        }
        match event {
            CxEvent::MessageReceived(message) => {
                ticket.customer_messages += 1;
                ticket.use_channel(&message.channel);
            }
            CxEvent::MessageSent(message) => {
                if message.public {
                    ticket.public_replies += 1;
                } else {
                    ticket.internal_notes += 1;
                }
                ticket.add_channel(&message.channel);
            }
            CxEvent::TicketChannelSwitched(switch) => ticket.use_channel(&switch.to),
            CxEvent::TicketStatusChanged(change) => ticket.set_status(change.status),
            CxEvent::TicketAssigned(assigned) => {
                if let Some(group) = &assigned.group {
                    ticket.group = Some(group.clone());
                }
                if let Some(assignee) = &assigned.assignee {
                    ticket.assignee = Some(assignee.clone());
                }
            }
            CxEvent::TicketTagged(tagged) => {
                for tag in &tagged.remove {
                    ticket.tags.remove(tag);
                }
                ticket.tags.extend(tagged.add.iter().cloned());
            }
            CxEvent::TicketPriorityChanged(change) => ticket.priority = Some(change.priority),
            CxEvent::TicketLabeled(label) => {
                if let Some(department) = &label.department {
                    ticket.department = Some(department.clone());
                }
                if let Some(inquiry_type) = &label.inquiry_type {
                    ticket.inquiry_type = Some(inquiry_type.clone());
                }
            }
            CxEvent::TicketFlagged(flagged) => {
                ticket.flags.insert(flagged.flag);
            }
            CxEvent::TicketUpdated(update) => {
                if let Some(status) = update.status {
                    ticket.set_status(status);
                }
                if let Some(group) = &update.group {
                    ticket.group = Some(group.clone());
                }
                if let Some(assignee) = &update.assignee {
                    ticket.assignee = Some(assignee.clone());
                }
                if let Some(priority) = update.priority {
                    ticket.priority = Some(priority);
                }
            }
            CxEvent::TicketMerged(merged) => {
                if merged.source == ticket.id {
                    ticket.merged_into = Some(merged.target.clone());
                    ticket.status = Status::Closed;
                } else if !ticket.merged_from.contains(&merged.source) {
                    ticket.merged_from.push(merged.source.clone());
                }
            }
            CxEvent::CustomerRated(_)
            | CxEvent::CustomerIdentified(_)
            | CxEvent::OrderPlaced(_)
            | CxEvent::CustomersMerged(_)
            | CxEvent::CustomerMergeConflict(_)
            | CxEvent::CustomersSplit(_)
            | CxEvent::CustomerErased(_)
            | CxEvent::TicketOpened(_) => {}
            // The domain issue's types: routing corrections are planned by the store (which
            // re-derives the tickets involved); the others do not change the ticket view.
            CxEvent::MessageMoved(_)
            | CxEvent::TicketSplit(_)
            | CxEvent::TicketUnmerged(_)
            | CxEvent::SurveyOffered(_)
            | CxEvent::QaReviewed(_)
            | CxEvent::QaScorecardSet(_)
            | CxEvent::OrderRefunded(_)
            | CxEvent::OrderReturned(_)
            | CxEvent::OrderCancelled(_)
            | CxEvent::CustomerEvent(_)
            | CxEvent::OrganizationUpdated(_)
            | CxEvent::TicketFieldsSet(_)
            | CxEvent::SlaPolicySet(_)
            | CxEvent::ScheduleSet(_)
            | CxEvent::SourceCheckpoint(_)
            | CxEvent::SourceLinked(_) => {}
        }
        ticket.updated_at = ticket.updated_at.max(at);
        ticket.events += 1;
    }

    /// Folds a whole history (all events at time `at`; for tests and examples).
    pub fn replay(events: &[CxEvent], at: Timestamp) -> Option<Ticket> {
        events.iter().fold(None, |state, event| Ticket::evolve(state, event, at))
    }

    fn opened(opened: &TicketOpened, at: Timestamp) -> Ticket {
        Ticket {
            id: opened.ticket_id.clone(),
            requester: opened.requester.clone(),
            created_channel: opened.channel.clone(),
            channels: vec![opened.channel.clone()],
            last_channel: opened.channel.clone(),
            subject: opened.subject.clone(),
            priority: opened.priority,
            ticket_type: opened.ticket_type,
            topic: opened.topic.clone(),
            group: opened.group.clone(),
            assignee: opened.assignee.clone(),
            tags: opened.tags.iter().cloned().collect(),
            status: opened.status.unwrap_or(Status::New),
            follow_up_of: opened.follow_up_of.clone(),
            merged_into: None,
            merged_from: Vec::new(),
            department: None,
            inquiry_type: None,
            flags: BTreeSet::new(),
            customer_messages: 0,
            public_replies: 0,
            internal_notes: 0,
            reopens: 0,
            created_at: at,
            updated_at: at,
            events: 1,
        }
    }

    fn add_channel(&mut self, channel: &Channel) {
        if !self.channels.contains(channel) {
            self.channels.push(channel.clone());
        }
    }

    fn use_channel(&mut self, channel: &Channel) {
        self.add_channel(channel);
        self.last_channel = channel.clone();
    }

    fn set_status(&mut self, status: Status) {
        if self.status.is_reopen_to(status) {
            self.reopens += 1;
        }
        self.status = status;
    }
}

#[cfg(test)]
mod tests;
