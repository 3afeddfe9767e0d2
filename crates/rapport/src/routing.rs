//! Undoing a wrong routing: how the projection folds `ticket.message_moved`, `ticket.split` and
//! `ticket.unmerged` so that every ticket involved equals a store where the messages were routed
//! right from the start. Design and limits: docs/design/routing.md.

use rapport_customer::Touch;
use rapport_events::{Channel, CxEvent, TicketId};
use rapport_log::{EventId, Timestamp};
use rapport_ticket::Ticket;

/// Metadata key on every routed customer message: why the store chose its ticket — one of
/// [`ROUTING_REASONS`].
pub const ROUTING_METADATA_KEY: &str = "rapport.routing";

/// The values of [`ROUTING_METADATA_KEY`]: `explicit` (the input named the ticket), `topic`
/// (an open ticket of the requester with the same topic, inside the routing window), `window`
/// (an open ticket of the requester inside the routing window, topics not both known),
/// `follow_up` (the ticket named or chosen was closed: the message went to its follow-up),
/// `new` (no candidate: a new ticket was opened).
pub const ROUTING_REASONS: [&str; 5] = ["explicit", "topic", "window", "follow_up", "new"];

/// The most events a ticket's effective history may hold for a routing correction to re-fold
/// it (the correction reads every one of them from the log).
pub const ROUTED_HISTORY_EVENTS_MAX: usize = 100_000;

/// Why a routing correction was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RoutingError {
    /// No message of the store has this id (neither as an input id nor as 32 hex digits).
    #[error("unknown message {message_id:?} in {field}: no recorded message has this input id or event id")]
    UnknownMessage {
        /// Where the id was given (`message_id`, `replies`, `messages`).
        field: &'static str,
        /// The id as given.
        message_id: String,
    },
    /// A message is not on the ticket the correction names.
    #[error("message {message_id:?} in {field} is on ticket {actual}, not on {expected}")]
    NotOnTicket {
        /// Where the id was given.
        field: &'static str,
        /// The id as given.
        message_id: String,
        /// The ticket named.
        expected: TicketId,
        /// The ticket it is on.
        actual: TicketId,
    },
    /// The message named is of the wrong kind (`message_id` must be a customer message,
    /// `replies` agent messages).
    #[error("message {message_id:?} in {field} is {actual}, expected {expected}")]
    WrongKind {
        /// Where the id was given.
        field: &'static str,
        /// The id as given.
        message_id: String,
        /// What it is.
        actual: &'static str,
        /// What the field takes.
        expected: &'static str,
    },
    /// A message is named twice.
    #[error("message {message_id:?} is named twice in {field}")]
    Duplicate {
        /// Where.
        field: &'static str,
        /// The id as given.
        message_id: String,
    },
    /// The destination is the ticket the message is on.
    #[error("message {message_id:?} is already on ticket {ticket_id}")]
    SameTicket {
        /// The id as given.
        message_id: String,
        /// Its ticket.
        ticket_id: TicketId,
    },
    /// Messages cannot move onto a closed ticket (merged tickets are closed).
    #[error("ticket {ticket_id} is closed{}: messages cannot move onto it", match merged_into {
        Some(target) => format!(" (merged into {target})"),
        None => String::new(),
    })]
    DestinationClosed {
        /// The destination.
        ticket_id: TicketId,
        /// The ticket it was merged into, if that is why it is closed.
        merged_into: Option<TicketId>,
    },
    /// `ticket.unmerged` names two tickets that are not merged that way.
    #[error("ticket {source_ticket} is not merged into {target} (it is merged into {})", match actual {
        Some(actual) => actual.to_string(),
        None => "nothing".to_owned(),
    })]
    NotMerged {
        /// The source named.
        source_ticket: TicketId,
        /// The target named.
        target: TicketId,
        /// What the source is merged into.
        actual: Option<TicketId>,
    },
    /// A ticket's effective history is too long to re-fold.
    #[error("ticket {ticket_id} has {events} events, over the {limit} a routing correction re-folds (ROUTED_HISTORY_EVENTS_MAX)")]
    HistoryTooLong {
        /// The ticket.
        ticket_id: TicketId,
        /// Its events.
        events: usize,
        /// [`ROUTED_HISTORY_EVENTS_MAX`].
        limit: usize,
    },
}

/// A recorded message the store can move: where it is and what it is.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct MessageRef {
    /// Its position in the log.
    pub(crate) position: u64,
    /// The ticket it currently belongs to (its stream's, until a correction moved it), as the
    /// projection's ticket handle (`Projection::message_ticket` names it).
    pub(crate) ticket: u32,
    /// A customer message (`message.received`); otherwise an agent message (`message.sent`).
    pub(crate) received: bool,
    /// Its channel.
    pub(crate) channel: Channel,
}

/// Every recorded message (`message.received`, `message.sent`), in log order: what a routing
/// correction names. A message is found by its position, which the log's event-id index gives
/// for the message's id: the log already holds that index, so the projection keeps no map of
/// its own (a map by id took 41 MB for the million messages of the 100k-people scenario; 16
/// bytes a message here).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Messages(Vec<MessageRef>);

/// Encoded as the list.
impl serde::Serialize for Messages {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

/// A list whose positions do not ascend strictly is refused: a message is found by a binary
/// search of its position.
impl<'de> serde::Deserialize<'de> for Messages {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> std::result::Result<Messages, D::Error> {
        let messages: Vec<MessageRef> = rapport_types::sorted::exact_vec(deserializer)?;
        if !messages.is_sorted_by(|a, b| a.position < b.position) {
            return Err(serde::de::Error::custom("recorded messages are not in log order"));
        }
        Ok(Messages(messages))
    }
}

impl Messages {
    /// Records a message folded at `message.position`. The fold meets positions in order, so
    /// this appends; a position at or below the last is ignored (it cannot be a new message).
    pub(crate) fn push(&mut self, message: MessageRef) {
        if self.0.last().is_none_or(|last| last.position < message.position) {
            self.0.push(message);
        }
    }

    /// The message at `position`, if one was folded there.
    pub(crate) fn at(&self, position: u64) -> Option<&MessageRef> {
        let index = self.0.binary_search_by_key(&position, |m| m.position).ok()?;
        self.0.get(index)
    }

    /// [`Messages::at`], to change its ticket.
    pub(crate) fn at_mut(&mut self, position: u64) -> Option<&mut MessageRef> {
        let index = self.0.binary_search_by_key(&position, |m| m.position).ok()?;
        self.0.get_mut(index)
    }
}

/// Where the log holds each event, by id ([`rapport_log::Log::event_position`]): how the
/// projection and the planner find a message by its id.
pub(crate) type PositionOf<'a> = dyn Fn(&EventId) -> Option<u64> + 'a;

/// Whether an event is a routing correction.
pub(crate) fn is_correction(event: &CxEvent) -> bool {
    matches!(event, CxEvent::MessageMoved(_) | CxEvent::TicketSplit(_) | CxEvent::TicketUnmerged(_))
}

/// The event ids a recorded correction names (the planner records them as 32 hex digits), with
/// the ticket they leave and the ticket they join; `None` for an unmerge.
pub(crate) fn moved_ids(event: &CxEvent) -> Option<(Vec<EventId>, &TicketId, &TicketId)> {
    let parse = |ids: &mut dyn Iterator<Item = &String>| ids.filter_map(|id| EventId::parse_hex(id)).collect();
    match event {
        CxEvent::MessageMoved(moved) => {
            let from = moved.from.as_ref()?;
            let ids = parse(&mut std::iter::once(&moved.message_id).chain(&moved.replies));
            Some((ids, from, moved.destination()?))
        }
        CxEvent::TicketSplit(split) => {
            Some((parse(&mut split.messages.iter()), &split.ticket_id, &split.new_ticket_id))
        }
        _ => None,
    }
}

/// Re-folds one ticket from its effective history (in log order): the ticket state and the
/// events, as folded, that the metrics projection re-folds too. Deterministic, so that a live
/// fold and a rebuild agree:
/// 1. `ticket.opened` folds first; when it is not the history's first event (a ticket a
///    correction created), at the earliest of its time and the first event's time — the ticket
///    exists from its first message on, as if that message had opened it.
/// 2. Routing corrections are skipped (they are no history).
/// 3. Derived `ticket.status_changed` and `ticket.channel_switched` are skipped: only a customer
///    message derives them, and they are derived again at each `message.received` by
///    [`Ticket::message_effects`], the rule `decide` used when the message was recorded.
/// 4. Messages are re-addressed to this ticket.
pub(crate) fn refold(ticket_id: &TicketId, history: &[Touch]) -> (Option<Ticket>, Vec<(CxEvent, Timestamp)>) {
    let mut state: Option<Ticket> = None;
    let mut folded: Vec<(CxEvent, Timestamp)> = Vec::with_capacity(history.len());
    let mut fold = |state: &mut Option<Ticket>, event: CxEvent, at: Timestamp| {
        *state = Ticket::evolve(state.take(), &event, at);
        folded.push((event, at));
    };
    let opened_idx = history.iter().position(|t| matches!(t.event, CxEvent::TicketOpened(_)));
    if let Some(opened) = opened_idx.and_then(|idx| history.get(idx)) {
        let first_at = history.first().map_or(opened.at, |first| first.at);
        let at = if opened_idx == Some(0) { opened.at } else { opened.at.min(first_at) };
        fold(&mut state, opened.event.clone(), at);
    }
    for (idx, touch) in history.iter().enumerate() {
        if Some(idx) == opened_idx || is_correction(&touch.event) {
            continue;
        }
        match &touch.event {
            CxEvent::TicketStatusChanged(_) | CxEvent::TicketChannelSwitched(_) if touch.derived => {}
            CxEvent::MessageReceived(message) => {
                let mut message = message.clone();
                message.ticket_id = Some(ticket_id.clone());
                let (switch, reopen) = match &state {
                    Some(ticket) => ticket.message_effects(&message.channel),
                    None => (None, None),
                };
                if let Some(switch) = switch {
                    fold(&mut state, CxEvent::TicketChannelSwitched(switch), touch.at);
                }
                fold(&mut state, CxEvent::MessageReceived(message), touch.at);
                if let Some(reopen) = reopen {
                    fold(&mut state, CxEvent::TicketStatusChanged(reopen), touch.at);
                }
            }
            CxEvent::MessageSent(message) => {
                let mut message = message.clone();
                message.ticket_id = ticket_id.clone();
                fold(&mut state, CxEvent::MessageSent(message), touch.at);
            }
            other => fold(&mut state, other.clone(), touch.at),
        }
    }
    (state, folded)
}
