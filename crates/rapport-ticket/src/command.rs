//! Commands: what a caller asks of one ticket. Imperative names; the events they produce are
//! past tense.

use rapport_events::{names, Actor, Channel, Identity, Priority, Status, TicketFlag, TicketId, TicketType};

/// Everything needed to open a ticket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenTicket {
    /// The new id.
    pub ticket_id: TicketId,
    /// Who asks.
    pub requester: Identity,
    /// Channel of creation.
    pub channel: Channel,
    /// Subject.
    pub subject: Option<String>,
    /// Priority.
    pub priority: Option<Priority>,
    /// Type.
    pub ticket_type: Option<TicketType>,
    /// Topic, used by cross-channel routing.
    pub topic: Option<String>,
    /// Group.
    pub group: Option<String>,
    /// Assignee.
    pub assignee: Option<String>,
    /// Tags.
    pub tags: Vec<String>,
    /// Initial status (`None` = `new`). Any status: a historical import may open a ticket
    /// `solved` or `closed` (a ticket opened `closed` takes no further changes).
    pub status: Option<Status>,
    /// The closed ticket this one follows up.
    pub follow_up_of: Option<TicketId>,
}

impl OpenTicket {
    /// A ticket with only the required fields.
    pub fn new(ticket_id: TicketId, requester: Identity, channel: Channel) -> OpenTicket {
        OpenTicket {
            ticket_id,
            requester,
            channel,
            subject: None,
            priority: None,
            ticket_type: None,
            topic: None,
            group: None,
            assignee: None,
            tags: Vec::new(),
            status: None,
            follow_up_of: None,
        }
    }
}

/// A command to one ticket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TicketCommand {
    /// Open a new ticket.
    Open(OpenTicket),
    /// Record a customer message on this ticket.
    ReceiveMessage {
        /// Where.
        channel: Channel,
        /// Who.
        from: Identity,
        /// Topic.
        topic: Option<String>,
        /// Subject.
        subject: Option<String>,
        /// Text.
        body: Option<String>,
    },
    /// Record an agent's public reply or internal note.
    SendMessage {
        /// Where.
        channel: Channel,
        /// The agent.
        agent: String,
        /// Public reply or internal note.
        public: bool,
        /// Text.
        body: Option<String>,
        /// Who wrote it: an agent, a bot or the system.
        actor: Actor,
    },
    /// Change the status.
    ChangeStatus {
        /// The new status.
        status: Status,
    },
    /// Change group and/or assignee.
    Assign {
        /// New group.
        group: Option<String>,
        /// New assignee.
        assignee: Option<String>,
    },
    /// Add and remove tags.
    Tag {
        /// To add.
        add: Vec<String>,
        /// To remove.
        remove: Vec<String>,
    },
    /// Change the priority.
    ChangePriority {
        /// The new priority.
        priority: Priority,
    },
    /// Set voice-of-customer labels.
    Label {
        /// Department.
        department: Option<String>,
        /// Inquiry type.
        inquiry_type: Option<String>,
    },
    /// Set a severity flag.
    Flag {
        /// The flag.
        flag: TicketFlag,
        /// Why.
        reason: Option<String>,
    },
    /// Several fields at once, as one step of an external system (imports).
    Update {
        /// New status.
        status: Option<Status>,
        /// New group.
        group: Option<String>,
        /// New assignee.
        assignee: Option<String>,
        /// New priority.
        priority: Option<Priority>,
        /// The source system's name for the step.
        activity: Option<String>,
    },
    /// Merge this ticket into `target` (this one closes). Decided with
    /// [`crate::Ticket::decide_merge`], which sees both tickets.
    MergeInto {
        /// The surviving ticket.
        target: TicketId,
    },
}

impl TicketCommand {
    /// The persisted type of the event the command is about (its "own" event; deciding may add
    /// others, e.g. a channel switch before a message): `Open` -> `ticket.opened`, ...
    pub fn event_type(&self) -> &'static str {
        match self {
            TicketCommand::Open(_) => names::TICKET_OPENED,
            TicketCommand::ReceiveMessage { .. } => names::MESSAGE_RECEIVED,
            TicketCommand::SendMessage { .. } => names::MESSAGE_SENT,
            TicketCommand::ChangeStatus { .. } => names::TICKET_STATUS_CHANGED,
            TicketCommand::Assign { .. } => names::TICKET_ASSIGNED,
            TicketCommand::Tag { .. } => names::TICKET_TAGGED,
            TicketCommand::ChangePriority { .. } => names::TICKET_PRIORITY_CHANGED,
            TicketCommand::Label { .. } => names::TICKET_LABELED,
            TicketCommand::Flag { .. } => names::TICKET_FLAGGED,
            TicketCommand::Update { .. } => names::TICKET_UPDATED,
            TicketCommand::MergeInto { .. } => names::TICKET_MERGED,
        }
    }

    /// The customer identity the command carries (the requester of `Open`, the sender of
    /// `ReceiveMessage`), for the store to replace by its pseudonym.
    pub fn identity_mut(&mut self) -> Option<&mut Identity> {
        match self {
            TicketCommand::Open(open) => Some(&mut open.requester),
            TicketCommand::ReceiveMessage { from, .. } => Some(from),
            _ => None,
        }
    }
}
