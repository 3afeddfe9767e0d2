//! The one table of persisted event types, [`EVENT_TYPES`]: each type's persisted name, current
//! schema version, postcard decoder (with the upcasters of older versions), JSON parser, the
//! fields that hold identities, and whether it is an input (importable, submittable) or derived
//! by the store. The codec, the store's planner and the JSONL importer look types up here
//! instead of keeping lists of their own.

use serde::Deserialize;

use crate::codec::{CustomerRatedV1, MessageReceivedV1, MessageSentV1, OrderPlacedV1};
use crate::error::{Error, Result};
use crate::event::*;
use crate::privacy::{FieldClass, PersonalField};

/// The persisted type names, one constant each (never derived from Rust type names).
pub mod names {
    /// `customer.identified`
    pub const CUSTOMER_IDENTIFIED: &str = "customer.identified";
    /// `customer.order_placed`
    pub const ORDER_PLACED: &str = "customer.order_placed";
    /// `customer.rated`
    pub const CUSTOMER_RATED: &str = "customer.rated";
    /// `message.received`
    pub const MESSAGE_RECEIVED: &str = "message.received";
    /// `message.sent`
    pub const MESSAGE_SENT: &str = "message.sent";
    /// `ticket.opened`
    pub const TICKET_OPENED: &str = "ticket.opened";
    /// `ticket.status_changed`
    pub const TICKET_STATUS_CHANGED: &str = "ticket.status_changed";
    /// `ticket.assigned`
    pub const TICKET_ASSIGNED: &str = "ticket.assigned";
    /// `ticket.tagged`
    pub const TICKET_TAGGED: &str = "ticket.tagged";
    /// `ticket.priority_changed`
    pub const TICKET_PRIORITY_CHANGED: &str = "ticket.priority_changed";
    /// `ticket.merged`
    pub const TICKET_MERGED: &str = "ticket.merged";
    /// `ticket.channel_switched`
    pub const TICKET_CHANNEL_SWITCHED: &str = "ticket.channel_switched";
    /// `ticket.labeled`
    pub const TICKET_LABELED: &str = "ticket.labeled";
    /// `ticket.flagged`
    pub const TICKET_FLAGGED: &str = "ticket.flagged";
    /// `ticket.updated`
    pub const TICKET_UPDATED: &str = "ticket.updated";
    /// `customer.merged`
    pub const CUSTOMERS_MERGED: &str = "customer.merged";
    /// `customer.merge_conflict`
    pub const CUSTOMER_MERGE_CONFLICT: &str = "customer.merge_conflict";
    /// `customer.split`
    pub const CUSTOMERS_SPLIT: &str = "customer.split";
    /// `customer.erased`
    pub const CUSTOMER_ERASED: &str = "customer.erased";
    /// `ticket.message_moved`
    pub const MESSAGE_MOVED: &str = "ticket.message_moved";
    /// `ticket.split`
    pub const TICKET_SPLIT: &str = "ticket.split";
    /// `ticket.unmerged`
    pub const TICKET_UNMERGED: &str = "ticket.unmerged";
    /// `survey.offered`
    pub const SURVEY_OFFERED: &str = "survey.offered";
    /// `qa.reviewed`
    pub const QA_REVIEWED: &str = "qa.reviewed";
    /// `qa.scorecard_set`
    pub const QA_SCORECARD_SET: &str = "qa.scorecard_set";
    /// `customer.order_refunded`
    pub const ORDER_REFUNDED: &str = "customer.order_refunded";
    /// `customer.order_returned`
    pub const ORDER_RETURNED: &str = "customer.order_returned";
    /// `customer.order_cancelled`
    pub const ORDER_CANCELLED: &str = "customer.order_cancelled";
    /// `customer.event`
    pub const CUSTOMER_EVENT: &str = "customer.event";
    /// `organization.updated`
    pub const ORGANIZATION_UPDATED: &str = "organization.updated";
    /// `ticket.fields_set`
    pub const TICKET_FIELDS_SET: &str = "ticket.fields_set";
    /// `sla.policy_set`
    pub const SLA_POLICY_SET: &str = "sla.policy_set";
    /// `schedule.set`
    pub const SCHEDULE_SET: &str = "schedule.set";
    /// `source.checkpoint`
    pub const SOURCE_CHECKPOINT: &str = "source.checkpoint";
    /// `source.linked`
    pub const SOURCE_LINKED: &str = "source.linked";
}

/// Whether events of a type come from outside or are recorded by the store itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Origin {
    /// An input: submitted through the API and importable from JSONL (the store may also derive
    /// events of such a type; those carry a causation id).
    Input,
    /// Derived by the store only (channel switches, merge and conflict records); submitting or
    /// importing one is refused.
    Derived,
}

/// One persisted event type. See [`EVENT_TYPES`].
#[derive(Debug, Clone, Copy)]
pub struct EventTypeInfo {
    name: &'static str,
    schema_version: u16,
    origin: Origin,
    identity_fields: &'static [&'static str],
    identity_list_fields: &'static [&'static str],
    personal: &'static [PersonalField],
    decode: fn(u16, &[u8]) -> Result<CxEvent>,
    from_json: fn(serde_json::Value) -> std::result::Result<CxEvent, serde_json::Error>,
}

impl EventTypeInfo {
    /// The persisted name (`"ticket.opened"`).
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The schema version this build writes.
    pub fn schema_version(&self) -> u16 {
        self.schema_version
    }

    /// Input or derived.
    pub fn origin(&self) -> Origin {
        self.origin
    }

    /// Whether the type is an input (importable from JSONL, submittable).
    pub fn is_input(&self) -> bool {
        self.origin == Origin::Input
    }

    /// The JSON fields that hold one identity (normalized before parsing).
    pub fn identity_fields(&self) -> &'static [&'static str] {
        self.identity_fields
    }

    /// The JSON fields that hold a list of identities.
    pub fn identity_list_fields(&self) -> &'static [&'static str] {
        self.identity_list_fields
    }

    /// The personal fields and their classes (docs/events.md lists them per type); every other
    /// field is not personal. [`CxEvent::visit_personal`] walks exactly these.
    pub fn personal_fields(&self) -> &'static [PersonalField] {
        self.personal
    }

    /// Decodes a postcard payload written at `schema_version` (1..=current), upcasting older
    /// versions. The version range is checked by [`crate::codec::decode`].
    pub(crate) fn decode_payload(&self, schema_version: u16, payload: &[u8]) -> Result<CxEvent> {
        (self.decode)(schema_version, payload)
    }

    /// Parses the JSON fields of an event of this type (identities already normalized; not
    /// validated).
    pub(crate) fn parse_json(&self, fields: serde_json::Value) -> Result<CxEvent> {
        (self.from_json)(fields).map_err(|error| Error::Decode {
            event_type: self.name.to_owned(),
            version: 0,
            reason: error.to_string(),
        })
    }
}

/// postcard bytes of exactly one value of `T`.
fn parse<'a, T: Deserialize<'a>>(event_type: &str, version: u16, payload: &'a [u8]) -> Result<T> {
    let (value, rest) = postcard::take_from_bytes(payload).map_err(|error| Error::Decode {
        event_type: event_type.to_owned(),
        version,
        reason: error.to_string(),
    })?;
    if !rest.is_empty() {
        return Err(Error::Decode {
            event_type: event_type.to_owned(),
            version,
            reason: format!("{} trailing bytes", rest.len()),
        });
    }
    Ok(value)
}

/// One table entry. `upcast: { 1 => OldStruct }` decodes version 1 with the frozen `OldStruct`
/// and converts it with `From`; every other version is the current struct.
macro_rules! entry {
    ($name:expr, $version:literal, $origin:ident, $variant:ident($ty:ty),
     ids: [$($id:literal),*], lists: [$($list:literal),*], personal: [$($pfield:literal: $pclass:ident),*]
     $(, upcast: { $($old:literal => $old_ty:ty),+ })?) => {
        EventTypeInfo {
            name: $name,
            schema_version: $version,
            origin: Origin::$origin,
            identity_fields: &[$($id),*],
            identity_list_fields: &[$($list),*],
            personal: &[$(PersonalField { field: $pfield, class: FieldClass::$pclass }),*],
            decode: {
                fn decode(version: u16, payload: &[u8]) -> Result<CxEvent> {
                    $($(
                        if version == $old {
                            return Ok(CxEvent::$variant(<$ty>::from(parse::<$old_ty>($name, version, payload)?)));
                        }
                    )+)?
                    Ok(CxEvent::$variant(parse::<$ty>($name, version, payload)?))
                }
                decode
            },
            from_json: {
                fn from_json(fields: serde_json::Value) -> std::result::Result<CxEvent, serde_json::Error> {
                    serde_json::from_value::<$ty>(fields).map(CxEvent::$variant)
                }
                from_json
            },
        }
    };
}

/// Every persisted event type, once. To change a type's payload: freeze the old struct in
/// `codec` as `...V<n>`, bump `schema_version` here, add `upcast: { n => ...V<n> }`, and test it
/// with real bytes of the old version.
pub static EVENT_TYPES: &[EventTypeInfo] = &[
    entry!(names::CUSTOMER_IDENTIFIED, 1, Input, CustomerIdentified(CustomerIdentified), ids: [], lists: ["identities"],
        personal: ["identities": Identity, "traits": Trait]),
    // v1 held the amount in ten-thousandths of a unit; v2 in minor units of the currency.
    entry!(names::ORDER_PLACED, 2, Input, OrderPlaced(OrderPlaced), ids: ["identity"], lists: [],
        personal: ["identity": Identity],
        upcast: { 1 => OrderPlacedV1 }),
    // v1 had no `comment` and `reason`.
    entry!(names::CUSTOMER_RATED, 2, Input, CustomerRated(CustomerRated), ids: ["identity"], lists: [],
        personal: ["identity": Identity, "comment": Comment],
        upcast: { 1 => CustomerRatedV1 }),
    // v1 had no `topic`.
    entry!(names::MESSAGE_RECEIVED, 2, Input, MessageReceived(MessageReceived), ids: ["from"], lists: [],
        personal: ["from": Identity, "subject": Message, "body": Message],
        upcast: { 1 => MessageReceivedV1 }),
    // v1 had no `actor`.
    entry!(names::MESSAGE_SENT, 2, Input, MessageSent(MessageSent), ids: [], lists: [], personal: ["body": Message],
        upcast: { 1 => MessageSentV1 }),
    entry!(names::TICKET_OPENED, 1, Input, TicketOpened(TicketOpened), ids: ["requester"], lists: [],
        personal: ["requester": Identity, "subject": Message]),
    entry!(names::TICKET_STATUS_CHANGED, 1, Input, TicketStatusChanged(TicketStatusChanged), ids: [], lists: [],
        personal: []),
    entry!(names::TICKET_ASSIGNED, 1, Input, TicketAssigned(TicketAssigned), ids: [], lists: [], personal: []),
    entry!(names::TICKET_TAGGED, 1, Input, TicketTagged(TicketTagged), ids: [], lists: [], personal: []),
    entry!(names::TICKET_PRIORITY_CHANGED, 1, Input, TicketPriorityChanged(TicketPriorityChanged), ids: [], lists: [],
        personal: []),
    entry!(names::TICKET_MERGED, 1, Input, TicketMerged(TicketMerged), ids: [], lists: [], personal: []),
    entry!(names::TICKET_CHANNEL_SWITCHED, 1, Derived, TicketChannelSwitched(TicketChannelSwitched), ids: [], lists: [],
        personal: []),
    entry!(names::TICKET_LABELED, 1, Input, TicketLabeled(TicketLabeled), ids: [], lists: [], personal: []),
    entry!(names::TICKET_FLAGGED, 1, Input, TicketFlagged(TicketFlagged), ids: [], lists: [],
        personal: ["reason": Comment]),
    entry!(names::TICKET_UPDATED, 1, Input, TicketUpdated(TicketUpdated), ids: [], lists: [], personal: []),
    entry!(names::CUSTOMERS_MERGED, 1, Derived, CustomersMerged(CustomersMerged), ids: ["cause"], lists: [],
        personal: ["cause": Identity]),
    entry!(names::CUSTOMER_MERGE_CONFLICT, 1, Derived, CustomerMergeConflict(CustomerMergeConflict), ids: ["cause"],
        lists: [], personal: ["cause": Identity]),
    entry!(names::CUSTOMERS_SPLIT, 1, Input, CustomersSplit(CustomersSplit), ids: [], lists: ["identities"],
        personal: ["identities": Identity]),
    entry!(names::CUSTOMER_ERASED, 1, Derived, CustomerErased(CustomerErased), ids: [], lists: [], personal: []),
    entry!(names::MESSAGE_MOVED, 1, Input, MessageMoved(MessageMoved), ids: [], lists: [],
        personal: ["to_new": Message]),
    entry!(names::TICKET_SPLIT, 1, Input, TicketSplit(TicketSplit), ids: [], lists: [], personal: []),
    entry!(names::TICKET_UNMERGED, 1, Input, TicketUnmerged(TicketUnmerged), ids: [], lists: [], personal: []),
    entry!(names::SURVEY_OFFERED, 1, Input, SurveyOffered(SurveyOffered), ids: ["identity"], lists: [],
        personal: ["identity": Identity]),
    entry!(names::QA_REVIEWED, 1, Input, QaReviewed(QaReviewed), ids: [], lists: [], personal: []),
    entry!(names::QA_SCORECARD_SET, 1, Input, QaScorecardSet(QaScorecardSet), ids: [], lists: [], personal: []),
    entry!(names::ORDER_REFUNDED, 1, Input, OrderRefunded(OrderRefunded), ids: ["identity"], lists: [],
        personal: ["identity": Identity]),
    entry!(names::ORDER_RETURNED, 1, Input, OrderReturned(OrderReturned), ids: ["identity"], lists: [],
        personal: ["identity": Identity]),
    entry!(names::ORDER_CANCELLED, 1, Input, OrderCancelled(OrderCancelled), ids: ["identity"], lists: [],
        personal: ["identity": Identity]),
    entry!(names::CUSTOMER_EVENT, 1, Input, CustomerEvent(CustomerEvent), ids: ["identity"], lists: [],
        personal: ["identity": Identity, "properties": Trait]),
    entry!(names::ORGANIZATION_UPDATED, 1, Input, OrganizationUpdated(OrganizationUpdated), ids: [], lists: [],
        personal: []),
    entry!(names::TICKET_FIELDS_SET, 1, Input, TicketFieldsSet(TicketFieldsSet), ids: [], lists: [], personal: []),
    entry!(names::SLA_POLICY_SET, 1, Input, SlaPolicySet(SlaPolicySet), ids: [], lists: [], personal: []),
    entry!(names::SCHEDULE_SET, 1, Input, ScheduleSet(ScheduleSet), ids: [], lists: [], personal: []),
    entry!(names::SOURCE_CHECKPOINT, 1, Input, SourceCheckpoint(SourceCheckpoint), ids: [], lists: [], personal: []),
    entry!(names::SOURCE_LINKED, 1, Input, SourceLinked(SourceLinked), ids: [], lists: [], personal: []),
];

/// The table entry of a persisted type name, `None` for names this build does not know.
pub fn event_type_info(name: &str) -> Option<&'static EventTypeInfo> {
    EVENT_TYPES.iter().find(|info| info.name == name)
}

/// The input types' names, in table order (what a JSONL line may have as `type`).
pub fn input_type_names() -> impl Iterator<Item = &'static str> {
    EVENT_TYPES.iter().filter(|info| info.is_input()).map(|info| info.name)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    #[test]
    fn names_are_unique_and_versions_positive() {
        let names: BTreeSet<&str> = EVENT_TYPES.iter().map(|info| info.name()).collect();
        assert_eq!(names.len(), EVENT_TYPES.len(), "a name is listed twice: {names:?}");
        for info in EVENT_TYPES {
            assert!(info.schema_version() >= 1, "{} has version 0", info.name());
            assert!(std::ptr::eq(event_type_info(info.name()).unwrap(), info));
        }
        assert!(event_type_info("ticket.nope").is_none());
    }

    #[test]
    fn derived_types_are_exactly_the_four_records_of_the_store() {
        let derived: Vec<&str> = EVENT_TYPES.iter().filter(|info| !info.is_input()).map(|info| info.name()).collect();
        assert_eq!(
            derived,
            [
                names::TICKET_CHANNEL_SWITCHED,
                names::CUSTOMERS_MERGED,
                names::CUSTOMER_MERGE_CONFLICT,
                names::CUSTOMER_ERASED
            ]
        );
        assert_eq!(input_type_names().count(), 31);
    }
}
