//! The CX event vocabulary of Rapport: normalized customer [`Identity`]s, [`Channel`]s, the
//! typed [`CxEvent`]s that the store records, and the [`codec`] that turns them into log
//! payloads (postcard) and back, upcasting old schema versions.
//!
//! It is not: storage (that is `rapport-log`) or business rules (those live in the aggregates).
//! Persisted names are constants (`"ticket.opened"`), never derived from Rust type names.
//!
//! ```
//! use rapport_events::{codec, CxEvent, Identity, MessageReceived, Channel, NormalizeOptions};
//! let from = Identity::parse("email", " Kim@Example.com ", &NormalizeOptions::default())?;
//! assert_eq!(from.to_string(), "email:kim@example.com");
//! let event = CxEvent::MessageReceived(MessageReceived {
//!     channel: Channel::KakaoTalk, from, ticket_id: None, topic: Some("order-1".into()),
//!     subject: None, body: Some("where is my order?".into()),
//! });
//! let encoded = codec::encode(&event)?;
//! assert_eq!(encoded.event_type, "message.received");
//! assert_eq!(codec::decode(encoded.event_type, encoded.schema_version, &encoded.payload)?, event);
//! # Ok::<(), rapport_events::Error>(())
//! ```
#![deny(missing_docs)]
// Library code returns typed errors instead of panicking on input (clippy.toml allows these in tests).
#![warn(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod channel;
pub mod codec;
mod currency;
mod error;
mod event;
mod identity;
mod money;
pub mod privacy;
mod properties;
mod registry;

pub use crate::channel::Channel;
pub use crate::currency::{currencies, currency_exponent, exponent_or_default, CURRENCY_EXPONENT_MAX};
pub use crate::error::{Error, Result};
pub use crate::event::{
    Actor, CustomerErased, CustomerEvent, CustomerId, CustomerIdentified, CustomerMergeConflict, CustomerRated,
    CustomersMerged, CustomersSplit, CxEvent, MessageMoved, MessageReceived, MessageSent, NewTicket, OrderCancelled,
    OrderPlaced, OrderRefunded, OrderReturned, OrganizationUpdated, Priority, QaCategory, QaCategoryScore, QaReviewed,
    QaScorecardSet, ScheduleSet, SlaFilter, SlaPolicySet, SlaTargets, SourceCheckpoint, SourceLinked, Status, Survey,
    SurveyOffered, TicketAssigned, TicketChannelSwitched, TicketFieldsSet, TicketFlag, TicketFlagged, TicketId,
    TicketLabeled, TicketMerged, TicketOpened, TicketPriorityChanged, TicketSplit, TicketStatusChanged, TicketTagged,
    TicketType, TicketUnmerged, TicketUpdated, CURSOR_BYTES_MAX, DEFINITIONS_MAX, HOLIDAYS_MAX, INTERVALS_PER_DAY_MAX,
    ORGANIZATION_DOMAINS_MAX, QA_CATEGORIES_MAX, QA_PASS_MARK_DEFAULT, QA_SCORE_MAX, ROUTED_MESSAGES_MAX,
    SOURCE_KEY_BYTES_MAX, TICKET_ID_INLINE_BYTES,
};
pub use crate::identity::{
    check_no_control_chars, ConfusableReason, Identity, IdentityKind, NormalizeOptions, PhoneProblem, PSEUDONYM_BYTES,
};
pub use crate::money::{Amount, ExchangeRates, Total, AMOUNT_MINOR_MAX, EXCHANGE_RATES_MAX};
pub use crate::privacy::{FieldClass, PersonalField, PersonalMut, Seal, Sealing};
pub use crate::properties::{Properties, PROPERTIES_BYTES_MAX, PROPERTIES_MAX};
pub use crate::registry::{event_type_info, input_type_names, names, EventTypeInfo, Origin, EVENT_TYPES};

/// Longest identity value after normalization, in bytes.
pub const IDENTITY_VALUE_BYTES_MAX: usize = 320;
/// Longest free-text field (subject, body), in bytes.
pub const TEXT_BYTES_MAX: usize = 64 << 10;
/// Longest short name (ticket id, agent, group, tag, topic, channel name), in bytes.
pub const NAME_BYTES_MAX: usize = 200;
/// Most identities one `customer.identified` links.
pub const IDENTITIES_MAX: usize = 64;
/// Most traits one `customer.identified` sets.
pub const TRAITS_MAX: usize = 64;
/// Most bytes of trait keys and values together in one `customer.identified`: with the
/// identities, every such event stays far below the log's per-event limit of 1 MiB (the facade
/// asserts it at compile time), so a valid event is never refused as too large.
pub const TRAITS_BYTES_MAX: usize = 256 << 10;
/// Most tags on one ticket event (`tags` of `ticket.opened`; `add` plus `remove` of
/// `ticket.tagged`).
pub const TAGS_MAX: usize = 100;
/// Most key-store records one `customer.erased` names (the data keys of every identity of the
/// customer and of those merged into it: far above [`IDENTITIES_MAX`] identities of a real
/// person, and within the log's per-event limit at 9 bytes a key).
pub const ERASED_KEYS_MAX: usize = 16 << 10;
