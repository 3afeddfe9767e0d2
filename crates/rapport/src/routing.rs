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
/// its own (a map by id took 41 MB for the million messages of the 100k-people scenario). Each
/// message is 16 bytes here: its channel is a number into the distinct channels seen.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Messages {
    /// Ascending by position.
    packed: Vec<PackedMessage>,
    /// The distinct channels, in the order first seen: what [`PackedMessage::code`] numbers.
    channels: Vec<Channel>,
    /// Each channel's number in `channels`.
    numbers: rapport_customer::FastMap<Channel, u32>,
}

/// A message to record, borrowing its channel (the fold allocates nothing per message).
#[derive(Debug, Clone, Copy)]
pub(crate) struct MessageAt<'a> {
    /// Its position in the log.
    pub(crate) position: u64,
    /// Its ticket's handle.
    pub(crate) ticket: u32,
    /// A customer message; otherwise an agent message.
    pub(crate) received: bool,
    /// Its channel.
    pub(crate) channel: &'a Channel,
}

impl MessageRef {
    fn borrowed(&self) -> MessageAt<'_> {
        MessageAt { position: self.position, ticket: self.ticket, received: self.received, channel: &self.channel }
    }
}

/// A [`MessageRef`] in 16 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct PackedMessage {
    position: u64,
    ticket: u32,
    /// The channel's number in [`Messages::channels`], shifted left by one; the low bit is
    /// [`MessageRef::received`].
    code: u32,
}

/// Channels numbered at most: a number shifted left by one must fit a `u32`. A message on a
/// channel beyond it (two billion distinct `other:` names) is not recorded, so no correction
/// can name it.
const CHANNELS_MAX: usize = 1 << 31;

/// Encoded as the list of [`MessageRef`]s.
impl serde::Serialize for Messages {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::SerializeSeq;
        let mut seq = serializer.serialize_seq(Some(self.packed.len()))?;
        for packed in &self.packed {
            seq.serialize_element(&self.unpack(packed))?;
        }
        seq.end()
    }
}

/// A list whose positions do not ascend strictly is refused: a message is found by a binary
/// search of its position.
impl<'de> serde::Deserialize<'de> for Messages {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> std::result::Result<Messages, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = Messages;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("recorded messages in log order")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<Messages, A::Error> {
                // The length a decoder announces is not trusted beyond what a small snapshot
                // could hold; the list grows as elements really arrive.
                let mut messages = Messages::default();
                messages.packed.reserve(seq.size_hint().unwrap_or(0).min(1 << 16));
                while let Some(message) = seq.next_element::<MessageRef>()? {
                    if messages.packed.last().is_some_and(|last| last.position >= message.position) {
                        return Err(serde::de::Error::custom("recorded messages are not in log order"));
                    }
                    if !messages.push(message.borrowed()) {
                        return Err(serde::de::Error::custom("too many distinct message channels"));
                    }
                }
                messages.packed.shrink_to_fit();
                Ok(messages)
            }
        }
        deserializer.deserialize_seq(Visitor)
    }
}

impl Messages {
    /// Records a message folded at `message.position`. The fold meets positions in order, so
    /// this appends; a position at or below the last is ignored (it cannot be a new message).
    /// False when the message is not recorded because its channel is one too many
    /// ([`CHANNELS_MAX`]).
    pub(crate) fn push(&mut self, message: MessageAt<'_>) -> bool {
        if self.packed.last().is_some_and(|last| last.position >= message.position) {
            return true;
        }
        let number = match self.numbers.get(message.channel) {
            Some(number) => *number,
            None => {
                let Some(number) = u32::try_from(self.channels.len()).ok().filter(|n| (*n as usize) < CHANNELS_MAX)
                else {
                    return false;
                };
                self.channels.push(message.channel.clone());
                self.numbers.insert(message.channel.clone(), number);
                number
            }
        };
        let code = number << 1 | u32::from(message.received);
        self.packed.push(PackedMessage { position: message.position, ticket: message.ticket, code });
        true
    }

    fn unpack(&self, packed: &PackedMessage) -> MessageRef {
        let channel = self.channels.get((packed.code >> 1) as usize);
        MessageRef {
            position: packed.position,
            ticket: packed.ticket,
            received: packed.code & 1 == 1,
            // Every number was given out by `push`, so the channel is there.
            channel: channel.cloned().unwrap_or_else(|| Channel::Other(String::new())),
        }
    }

    fn index_of(&self, position: u64) -> Option<usize> {
        self.packed.binary_search_by_key(&position, |m| m.position).ok()
    }

    /// The message at `position`, if one was folded there.
    pub(crate) fn at(&self, position: u64) -> Option<MessageRef> {
        self.packed.get(self.index_of(position)?).map(|packed| self.unpack(packed))
    }

    /// Moves the message at `position` to ticket `to` if it is on ticket `from`.
    pub(crate) fn move_ticket(&mut self, position: u64, from: u32, to: u32) {
        let index = self.index_of(position);
        if let Some(packed) = index.and_then(|index| self.packed.get_mut(index)).filter(|m| m.ticket == from) {
            packed.ticket = to;
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn message(position: u64, ticket: u32, received: bool, channel: Channel) -> MessageRef {
        MessageRef { position, ticket, received, channel }
    }

    fn sample() -> Vec<MessageRef> {
        vec![
            message(3, 0, true, Channel::Email),
            message(7, 1, false, Channel::Other("kakao".into())),
            message(8, 0, false, Channel::Email),
            message(12, 2, true, Channel::Chat),
            message(20, 1, true, Channel::Other("kakao".into())),
        ]
    }

    #[test]
    fn packed_messages_give_back_what_was_pushed_and_encode_as_the_plain_list() {
        let mut messages = Messages::default();
        for m in sample() {
            assert!(messages.push(m.borrowed()));
        }
        // Three distinct channels numbered, five messages kept.
        assert_eq!(messages.channels.len(), 3);
        for m in sample() {
            assert_eq!(messages.at(m.position), Some(m));
        }
        assert_eq!(messages.at(4), None);
        assert_eq!(messages.at(21), None);
        let packed = postcard::to_allocvec(&messages).unwrap();
        assert_eq!(packed, postcard::to_allocvec(&sample()).unwrap());
        let back: Messages = postcard::from_bytes(&packed).unwrap();
        assert_eq!(back.at(20), messages.at(20));
        assert_eq!(postcard::to_allocvec(&back).unwrap(), packed);
    }

    #[test]
    fn a_position_at_or_below_the_last_is_not_a_new_message() {
        let mut messages = Messages::default();
        assert!(messages.push(message(5, 0, true, Channel::Sms).borrowed()));
        assert!(messages.push(message(5, 9, false, Channel::Chat).borrowed()));
        assert!(messages.push(message(2, 9, false, Channel::Chat).borrowed()));
        assert_eq!(messages.packed.len(), 1);
        assert_eq!(messages.at(5), Some(message(5, 0, true, Channel::Sms)));
    }

    #[test]
    fn a_decoded_list_out_of_log_order_is_refused() {
        let mut list = sample();
        list.swap(1, 2);
        let bytes = postcard::to_allocvec(&list).unwrap();
        assert!(postcard::from_bytes::<Messages>(&bytes).is_err());
        let mut twice = sample();
        twice.push(twice[4].clone());
        let bytes = postcard::to_allocvec(&twice).unwrap();
        assert!(postcard::from_bytes::<Messages>(&bytes).is_err());
    }

    #[test]
    fn a_message_moves_only_from_the_ticket_it_is_on() {
        let mut messages = Messages::default();
        for m in sample() {
            messages.push(m.borrowed());
        }
        messages.move_ticket(7, 0, 5);
        assert_eq!(messages.at(7).map(|m| m.ticket), Some(1));
        messages.move_ticket(7, 1, 5);
        assert_eq!(messages.at(7).map(|m| m.ticket), Some(5));
        assert_eq!(messages.at(7).map(|m| m.channel), Some(Channel::Other("kakao".into())));
        messages.move_ticket(9, 0, 5);
        assert_eq!(messages.packed.iter().filter(|m| m.ticket == 5).count(), 1);
    }
}
