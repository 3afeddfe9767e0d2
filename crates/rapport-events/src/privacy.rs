//! Which payload fields are personal data, and the sealed form the log keeps them in.
//!
//! Every personal field is listed, with its [`FieldClass`], in the event-type table
//! ([`crate::EventTypeInfo::personal_fields`]); [`CxEvent::visit_personal`] walks the values of
//! exactly those fields (a test holds the two together). Everything else — timestamps,
//! statuses, channels, priorities, amounts, scores, ticket and order ids, agent names, groups,
//! tags, topics and labels — is not personal and stays readable: metrics are computed from it
//! alone, so erasing a person changes no metric.
//!
//! The store replaces identity values by pseudonyms ([`crate::Identity::pseudonym`]) and every
//! other personal value by an empty string, and keeps the values encrypted in a [`Sealing`]
//! after the payload (see [`crate::codec::encode_sealed`]).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::event::CxEvent;
use crate::identity::Identity;

/// What kind of personal data a field holds; retention is set per class, and each class of
/// each month is encrypted under its own bucket key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum FieldClass {
    /// An identity value (e-mail address, phone number, handle, external id). The log holds
    /// its keyed hash; the value itself is kept, encrypted, in the key store.
    Identity,
    /// Message text: subjects and bodies.
    Message,
    /// Free-text comments and reasons.
    Comment,
    /// Customer trait values (free text; the keys are not personal).
    Trait,
}

impl FieldClass {
    /// Every class, in persisted order.
    pub const ALL: [FieldClass; 4] =
        [FieldClass::Identity, FieldClass::Message, FieldClass::Comment, FieldClass::Trait];

    /// The persisted number (never reused).
    pub const fn as_u8(self) -> u8 {
        match self {
            FieldClass::Identity => 1,
            FieldClass::Message => 2,
            FieldClass::Comment => 3,
            FieldClass::Trait => 4,
        }
    }

    /// The class of a persisted number.
    pub fn from_u8(number: u8) -> Option<FieldClass> {
        FieldClass::ALL.into_iter().find(|class| class.as_u8() == number)
    }

    /// The name in options and documents (`message`).
    pub const fn as_str(self) -> &'static str {
        match self {
            FieldClass::Identity => "identity",
            FieldClass::Message => "message",
            FieldClass::Comment => "comment",
            FieldClass::Trait => "trait",
        }
    }
}

impl fmt::Display for FieldClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for FieldClass {
    type Err = Error;
    fn from_str(text: &str) -> Result<FieldClass, Error> {
        FieldClass::ALL.into_iter().find(|class| class.as_str() == text.trim()).ok_or_else(|| Error::InvalidValue {
            field: "field class",
            value: text.to_owned(),
            expected: "identity, message, comment or trait",
        })
    }
}

/// One personal field of an event type (a column of [`crate::EVENT_TYPES`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PersonalField {
    /// The JSON field name (`body`; `traits` for every trait value).
    pub field: &'static str,
    /// Its class.
    pub class: FieldClass,
}

/// One personal value of an event, borrowed for reading or replacing.
#[derive(Debug)]
pub enum PersonalMut<'a> {
    /// An identity (class [`FieldClass::Identity`]).
    Identity {
        /// The field (`from`, `identities`, ...).
        field: &'static str,
        /// The identity.
        identity: &'a mut Identity,
    },
    /// A text value.
    Text {
        /// The field (`body`, `traits`, ...).
        field: &'static str,
        /// For a map field (`traits`): the key, which is not personal.
        key: Option<&'a str>,
        /// Its class.
        class: FieldClass,
        /// The value.
        value: &'a mut String,
    },
}

impl CxEvent {
    /// Calls `visit` with every personal value the event holds, in a fixed order (field order,
    /// then list or map order); absent optional fields are skipped.
    pub fn visit_personal(&mut self, visit: &mut dyn FnMut(PersonalMut<'_>)) {
        use FieldClass::{Comment, Message, Trait};
        match self {
            CxEvent::CustomerIdentified(e) => {
                for id in &mut e.identities {
                    visit(PersonalMut::Identity { field: "identities", identity: id });
                }
                for (key, value) in &mut e.traits {
                    visit(PersonalMut::Text { field: "traits", key: Some(key), class: Trait, value });
                }
            }
            CxEvent::OrderPlaced(e) => visit(PersonalMut::Identity { field: "identity", identity: &mut e.identity }),
            CxEvent::CustomerRated(e) => {
                visit(PersonalMut::Identity { field: "identity", identity: &mut e.identity });
                text(visit, "comment", Comment, &mut e.comment);
            }
            CxEvent::SurveyOffered(e) => visit(PersonalMut::Identity { field: "identity", identity: &mut e.identity }),
            CxEvent::OrderRefunded(e) => visit(PersonalMut::Identity { field: "identity", identity: &mut e.identity }),
            CxEvent::OrderReturned(e) => visit(PersonalMut::Identity { field: "identity", identity: &mut e.identity }),
            CxEvent::OrderCancelled(e) => visit(PersonalMut::Identity { field: "identity", identity: &mut e.identity }),
            CxEvent::CustomerEvent(e) => {
                visit(PersonalMut::Identity { field: "identity", identity: &mut e.identity });
                for (key, value) in e.properties.iter_mut() {
                    visit(PersonalMut::Text { field: "properties", key: Some(key), class: Trait, value });
                }
            }
            CxEvent::MessageMoved(e) => {
                if let Some(new) = &mut e.to_new {
                    text(visit, "to_new", Message, &mut new.subject);
                }
            }
            CxEvent::MessageReceived(e) => {
                visit(PersonalMut::Identity { field: "from", identity: &mut e.from });
                text(visit, "subject", Message, &mut e.subject);
                text(visit, "body", Message, &mut e.body);
            }
            CxEvent::MessageSent(e) => text(visit, "body", Message, &mut e.body),
            CxEvent::TicketOpened(e) => {
                visit(PersonalMut::Identity { field: "requester", identity: &mut e.requester });
                text(visit, "subject", Message, &mut e.subject);
            }
            CxEvent::TicketFlagged(e) => text(visit, "reason", Comment, &mut e.reason),
            CxEvent::CustomersMerged(e) => visit(PersonalMut::Identity { field: "cause", identity: &mut e.cause }),
            CxEvent::CustomerMergeConflict(e) => {
                visit(PersonalMut::Identity { field: "cause", identity: &mut e.cause });
            }
            CxEvent::CustomersSplit(e) => {
                for id in &mut e.identities {
                    visit(PersonalMut::Identity { field: "identities", identity: id });
                }
            }
            CxEvent::TicketStatusChanged(_)
            | CxEvent::TicketAssigned(_)
            | CxEvent::TicketTagged(_)
            | CxEvent::TicketPriorityChanged(_)
            | CxEvent::TicketMerged(_)
            | CxEvent::TicketChannelSwitched(_)
            | CxEvent::TicketLabeled(_)
            | CxEvent::TicketUpdated(_)
            | CxEvent::CustomerErased(_)
            | CxEvent::TicketSplit(_)
            | CxEvent::TicketUnmerged(_)
            | CxEvent::QaReviewed(_)
            | CxEvent::QaScorecardSet(_)
            | CxEvent::OrganizationUpdated(_)
            | CxEvent::TicketFieldsSet(_)
            | CxEvent::SlaPolicySet(_)
            | CxEvent::ScheduleSet(_)
            | CxEvent::SourceCheckpoint(_)
            | CxEvent::SourceLinked(_) => {}
        }
    }
}

fn text(visit: &mut dyn FnMut(PersonalMut<'_>), field: &'static str, class: FieldClass, value: &mut Option<String>) {
    if let Some(value) = value {
        visit(PersonalMut::Text { field, key: None, class, value });
    }
}

/// One encrypted group of an event's personal text values: those of one class, under the
/// data key of one identity and the bucket key of the class and month. The plaintext is
/// postcard of `Vec<(label, value)>` in [`CxEvent::visit_personal`] order, where the label is
/// the field, or `field.key` for a map entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Seal {
    /// [`FieldClass::as_u8`] of the values.
    pub class: u8,
    /// The identity data key (a key-store record number).
    pub key: u64,
    /// The bucket key of (class, month).
    pub bucket: u64,
    /// The AEAD nonce (random).
    pub nonce: [u8; 24],
    /// The ciphertext with its tag.
    pub ciphertext: Vec<u8>,
    /// A digest of the plaintext under a key derived from the same keys: two submissions of one
    /// id are compared by it, since ciphertexts never repeat. Destroyed with the keys.
    pub digest: [u8; 16],
}

/// What the log keeps of an event's personal data, after the payload: the data key of each
/// identity (in [`CxEvent::visit_personal`] order) and the sealed text groups.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sealing {
    /// Per identity of the event, in visit order: the key-store record of its data key (which
    /// also holds its value).
    pub identity_keys: Vec<u64>,
    /// The encrypted text groups.
    pub seals: Vec<Seal>,
}

impl Sealing {
    /// Whether there is nothing sealed.
    pub fn is_empty(&self) -> bool {
        self.identity_keys.is_empty() && self.seals.is_empty()
    }
}
