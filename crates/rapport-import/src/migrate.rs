//! Migration of a first-release store (format 1: no header record, unkeyed ids, the identity
//! rules before NFKC, look-alikes and libphonenumber) into a new store: its *input* events are
//! replayed, as submitted, under the new rules; the new store derives everything else again.
//!
//! Per input (a record with no causation id that is not a system record, in log order): decode
//! it, restore it as it was submitted (the `rapport.addressed` metadata, as the export does),
//! keep its event id and time, and parse every identity again with `Identity::parse` under the
//! new store's normalization. A value that comes out different is reported as
//! [`MigrationChange::IdentityChanged`]; an input that no longer decodes, whose identity the new
//! rules refuse, or that the new store refuses is reported as [`MigrationChange::Refused`] and
//! skipped. Inputs go to the new store in chunks of [`CHUNK_INPUTS`]; a migration run again
//! into the same new store appends nothing (the ids are the old ones).
//!
//! Tickets the store opened itself (for a routed message) were named `t-` and 12 hex digits of
//! the input's id by the first release, and `t-` and 16 hex digits of a hash of it now: each
//! such ticket is reported as [`MigrationChange::TicketIdChanged`], and later inputs that name
//! the old id (an agent's reply, a status change, a merge) are sent to the new one.

use std::collections::{HashMap, HashSet};

use rapport::customer::{CustomerProjection, Touch};
use rapport::events::{codec, CxEvent, Identity, TicketId};
use rapport::log::{EventId, Log, Position, RecordedEvent};
use rapport::{Input, Meta, Store, ADDRESSED_METADATA_KEY, TICKET_STREAM_PREFIX};

use crate::durability::ImportDurability;
use crate::error::is_refusal;
use crate::error::Result;

/// Inputs submitted to the new store per call.
pub const CHUNK_INPUTS: usize = 8192;

/// Something the migration changed or could not carry over.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum MigrationChange {
    /// An identity of an input reads differently under the new rules (the input is recorded
    /// with the new value).
    IdentityChanged {
        /// The input.
        event_id: EventId,
        /// `kind:value` as stored in the old log.
        old: String,
        /// `kind:value` under the new rules.
        new: String,
    },
    /// A ticket the store opened for an input (a routed message, a follow-up) has another id in
    /// the new store; later inputs naming the old id are sent to the new one.
    TicketIdChanged {
        /// The input that opened it.
        event_id: EventId,
        /// The ticket id in the old log.
        old: TicketId,
        /// The ticket id in the new store.
        new: TicketId,
    },
    /// An input that is not carried over: it does not decode, an identity is refused by the new
    /// rules, or the new store refused it.
    Refused {
        /// The input.
        event_id: EventId,
        /// Its position in the old log.
        position: Position,
        /// Why.
        reason: String,
    },
}

/// What a migration did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MigrationReport {
    /// Input events read from the old log (derived events and system records are not inputs).
    pub inputs_read: u64,
    /// Inputs the new store recorded now.
    pub recorded: u64,
    /// Inputs already in the new store, or that changed nothing there.
    pub already_recorded: u64,
    /// Inputs not carried over (each is in `changes` as [`MigrationChange::Refused`]).
    pub refused: u64,
    /// Every changed identity, changed ticket id and refused input, in the old log's order.
    pub changes: Vec<MigrationChange>,
    /// Tickets in the old log (distinct ids of `ticket.opened` events, derived ones included).
    pub tickets_before: u64,
    /// Tickets in the new store afterwards.
    pub tickets_after: u64,
    /// Customers in the old log, by identity resolution over its decodable events.
    pub customers_before: u64,
    /// Customers in the new store afterwards.
    pub customers_after: u64,
    /// What the migration did to make what it recorded durable (chunks of [`CHUNK_INPUTS`]).
    pub durability: ImportDurability,
}

/// Whether the old payload stored this phone number as its digits alone (the first release's
/// form, which decoding already reads as `+` and digits). Postcard writes an identity as two
/// length-prefixed strings, kind then value, so the old bytes are `5 "phone" n <n digits>`.
fn stored_as_legacy_phone(payload: &[u8], identity: &Identity) -> bool {
    let Some(digits) = identity.value().strip_prefix('+') else { return false };
    let Ok(len) = u8::try_from(digits.len()) else { return false };
    if identity.kind().name() != "phone" || len >= 0x80 {
        return false;
    }
    let mut needle = b"\x05phone".to_vec();
    needle.push(len);
    needle.extend_from_slice(digits.as_bytes());
    payload.windows(needle.len()).any(|window| window == needle.as_slice())
}

/// The identities of an event, a split's included.
fn identities_of(event: &CxEvent) -> Vec<&Identity> {
    match event {
        CxEvent::CustomersSplit(split) => split.identities.iter().collect(),
        event => event.identities(),
    }
}

/// Keys of the event fields that name a ticket.
const TICKET_KEYS: [&str; 4] = ["ticket_id", "source", "target", "follow_up_of"];

/// Renames the tickets `fields` names; returns the ticket ids it names (after renaming).
fn rename_tickets(fields: &mut serde_json::Value, renames: &HashMap<String, String>) -> Vec<String> {
    let mut named = Vec::new();
    let Some(object) = fields.as_object_mut() else { return named };
    for key in TICKET_KEYS {
        if let Some(serde_json::Value::String(ticket)) = object.get_mut(key) {
            if let Some(renamed) = renames.get(ticket.as_str()) {
                ticket.clone_from(renamed);
            }
            named.push(ticket.clone());
        }
    }
    named
}

/// One input of the old log, ready for the new store (and the tickets it names), or why it is
/// not.
fn carry_over(
    new: &Store,
    record: &RecordedEvent,
    renames: &HashMap<String, String>,
    changes: &mut Vec<MigrationChange>,
) -> std::result::Result<(CxEvent, Vec<String>), String> {
    let data = &record.data;
    let event = codec::decode(&data.event_type, data.schema_version, &data.payload)
        .map_err(|e| format!("does not decode under the new rules: {e}"))?;
    let addressed = data.metadata.iter().find(|(key, _)| key == ADDRESSED_METADATA_KEY);
    let event = match addressed {
        Some((_, addressed)) => rapport::as_submitted(event, addressed).map_err(|e| e.to_string())?,
        None => event,
    };
    let mut fields = event.to_json();
    let tickets = rename_tickets(&mut fields, renames);
    let renewed = CxEvent::from_json(event.event_type(), fields, &new.options().normalize)
        .map_err(|e| format!("refused by the new identity rules: {e}"))?;
    let (old_ids, new_ids) = (identities_of(&event), identities_of(&renewed));
    debug_assert_eq!(old_ids.len(), new_ids.len(), "re-parsing keeps the identities");
    for (old, renewed) in old_ids.into_iter().zip(new_ids) {
        let stored = if stored_as_legacy_phone(&data.payload, old) {
            format!("{}:{}", old.kind(), old.value().trim_start_matches('+'))
        } else {
            old.to_string()
        };
        if stored != renewed.to_string() {
            changes.push(MigrationChange::IdentityChanged { event_id: data.id, old: stored, new: renewed.to_string() });
        }
    }
    Ok((renewed, tickets))
}

/// What the migration learns from a first read of the old log.
#[derive(Debug, Default)]
struct OldLog {
    /// Distinct ids of opened tickets.
    tickets: u64,
    /// Surviving customers by identity resolution.
    customers: u64,
    /// Tickets the store opened itself, by the input that caused them.
    derived_opens: HashMap<EventId, Vec<TicketId>>,
}

/// Counts of the old log: tickets (distinct opened ids) and customers (identity resolution), and
/// the tickets the store opened itself.
fn read_old(old: &Log, new: &Store) -> Result<OldLog> {
    let mut derived_opens: HashMap<EventId, Vec<TicketId>> = HashMap::new();
    let mut tickets: HashSet<TicketId> = HashSet::new();
    let mut customers = CustomerProjection::new(new.options().resolution.clone());
    let touch_of = |record: &RecordedEvent| -> Option<Touch> {
        let event = codec::decode(&record.data.event_type, record.data.schema_version, &record.data.payload).ok()?;
        Some(Touch {
            position: record.position,
            ticket: record.stream.strip_prefix(TICKET_STREAM_PREFIX).and_then(|id| TicketId::new(id).ok()),
            event,
            at: record.data.occurred_at,
            derived: record.data.causation_id.is_some(),
        })
    };
    // Old events that no longer decode are counted as refused by the replay; here (counts only)
    // they are left out. Read errors are errors.
    let mut read = |position: Position| -> std::result::Result<Option<Touch>, rapport::Error> {
        Ok(old.read_event(position)?.and_then(|r| touch_of(&r)))
    };
    for position in 0..old.end_position().0 {
        let Some(record) = old.read_event(Position(position)).map_err(rapport::Error::from)? else { continue };
        if rapport::is_system_type(&record.data.event_type) {
            continue;
        }
        let Some(touch) = touch_of(&record) else { continue };
        if let CxEvent::TicketOpened(opened) = &touch.event {
            tickets.insert(opened.ticket_id.clone());
            if let Some(cause) = record.data.causation_id {
                derived_opens.entry(cause).or_default().push(opened.ticket_id.clone());
            }
        }
        customers.apply(&touch, &mut read)?;
    }
    Ok(OldLog { tickets: tickets.len() as u64, customers: customers.len() as u64, derived_opens })
}

/// The migration's state between chunks.
#[derive(Debug, Default)]
struct Replay {
    report: MigrationReport,
    /// Inputs decided but not yet submitted: id, old position, input, meta.
    pending: Vec<(EventId, Position, Input, Meta)>,
    /// Old ids of tickets that pending inputs will open.
    pending_opens: HashSet<String>,
    /// Old ticket id -> new ticket id.
    renames: HashMap<String, String>,
    derived_opens: HashMap<EventId, Vec<TicketId>>,
}

/// Replays the input events of `old` (a first-release log, opened by the caller — read-only,
/// with `rapport::log::Log::open_read_only`, as `rapport migrate` does) into `new` under the new identity rules and id key, keeping every
/// input's event id. `progress` is called with the old log's inputs handled so far. The old log
/// is only read.
pub fn migrate(old: &Log, new: &Store, mut progress: impl FnMut(u64)) -> Result<MigrationReport> {
    let first = read_old(old, new)?;
    let mut replay = Replay {
        report: MigrationReport {
            tickets_before: first.tickets,
            customers_before: first.customers,
            ..MigrationReport::default()
        },
        derived_opens: first.derived_opens,
        ..Replay::default()
    };
    for position in 0..old.end_position().0 {
        let Some(record) = old.read_event(Position(position)).map_err(rapport::Error::from)? else { continue };
        if record.data.causation_id.is_some() || rapport::is_system_type(&record.data.event_type) {
            continue;
        }
        replay.report.inputs_read += 1;
        let id = record.data.id;
        let (event, tickets) = match carry_over(new, &record, &replay.renames, &mut replay.report.changes) {
            Ok(carried) => carried,
            Err(reason) => {
                replay.report.refused += 1;
                replay.report.changes.push(MigrationChange::Refused {
                    event_id: id,
                    position: record.position,
                    reason,
                });
                continue;
            }
        };
        let meta = Meta::at(record.data.occurred_at).with_id(id);
        if let CxEvent::CustomersSplit(split) = event {
            // A split is decided against the state the inputs before it made.
            replay.flush(new)?;
            let result = if new.log().event_position(id).is_some() {
                Ok(None)
            } else {
                // One append, under the log's own durability: a chunk of one.
                replay.report.durability.chunk_submitted(new, CHUNK_INPUTS);
                new.split(split.customer, split.identities, meta).map(|_| Some(rapport::Submitted::default()))
            };
            replay.tally(new, id, record.position, result.map(|s| s.map(|s| (s, true))))?;
            progress(replay.report.inputs_read);
            continue;
        }
        // An input naming a ticket that a pending input opens needs that ticket's new id.
        if tickets.iter().any(|ticket| replay.pending_opens.contains(ticket)) {
            replay.flush(new)?;
            match carry_over(new, &record, &replay.renames, &mut Vec::new()) {
                Ok((event, _)) => replay.push(id, record.position, event, meta),
                Err(reason) => {
                    replay.report.refused += 1;
                    let change = MigrationChange::Refused { event_id: id, position: record.position, reason };
                    replay.report.changes.push(change);
                }
            }
        } else {
            replay.push(id, record.position, event, meta);
        }
        if replay.pending.len() >= CHUNK_INPUTS {
            replay.flush(new)?;
            progress(replay.report.inputs_read);
        }
    }
    replay.flush(new)?;
    progress(replay.report.inputs_read);
    replay.report.durability.finish(new)?;
    let mut report = replay.report;
    report.tickets_after = new.ticket_count()? as u64;
    report.customers_after = new.customer_count()? as u64;
    Ok(report)
}

impl Replay {
    fn push(&mut self, id: EventId, position: Position, event: CxEvent, meta: Meta) {
        if let Some(opens) = self.derived_opens.get(&id) {
            self.pending_opens.extend(opens.iter().map(|ticket| ticket.as_str().to_owned()));
        }
        self.pending.push((id, position, Input::Event(event), meta));
    }

    /// Counts one result: `Ok(None)` already recorded, `Ok(Some((submitted, recorded)))`.
    fn tally(
        &mut self,
        new: &Store,
        event_id: EventId,
        position: Position,
        result: rapport::Result<Option<(rapport::Submitted, bool)>>,
    ) -> Result<()> {
        match result {
            Ok(Some((submitted, true))) => {
                self.report.recorded += 1;
                self.rename_opened(event_id, &submitted);
            }
            Ok(Some((_, false))) | Ok(None) => {
                self.report.already_recorded += 1;
                self.rename_recorded(new, event_id);
            }
            Err(error) if is_refusal(&error) => {
                self.report.refused += 1;
                let reason = format!("refused by the new store: {error}");
                self.report.changes.push(MigrationChange::Refused { event_id, position, reason });
            }
            Err(error) => return Err(error.into()),
        }
        Ok(())
    }

    /// Records the new ids of the tickets the store opened for `event_id`.
    fn rename_opened(&mut self, event_id: EventId, submitted: &rapport::Submitted) {
        let Some(opens) = self.derived_opens.remove(&event_id) else { return };
        for old in opens {
            // A follow-up is `<root>-f<n>`; a routed message's ticket is anything else.
            let is_follow_up = old.as_str().rsplit_once("-f").is_some_and(|(_, n)| n.parse::<u32>().is_ok());
            let new = if is_follow_up { &submitted.follow_up_opened } else { &submitted.opened };
            // The new store may decide otherwise (route the message to an existing ticket):
            // inputs naming the old ticket then go where the input went.
            let new = new
                .clone()
                .or_else(|| submitted.opened.clone())
                .or_else(|| submitted.follow_up_opened.clone())
                .or_else(|| submitted.ticket_id.clone());
            let Some(new) = new else { continue };
            if new != old {
                self.renames.insert(old.as_str().to_owned(), new.as_str().to_owned());
                self.report.changes.push(MigrationChange::TicketIdChanged { event_id, old, new });
            }
        }
    }

    /// The new ids of the tickets the store opened for `event_id` when it recorded it before
    /// (a migration run again): a routed message's ticket is `Ids::opened_ticket_id` of the
    /// input, a follow-up keeps its number after its root's new id.
    fn rename_recorded(&mut self, new: &Store, event_id: EventId) {
        let Some(opens) = self.derived_opens.remove(&event_id) else { return };
        for old in opens {
            let renamed = match old.as_str().rsplit_once("-f") {
                Some((root, n)) if n.parse::<u32>().is_ok() => {
                    let root = self.renames.get(root).map_or(root, String::as_str);
                    TicketId::new(format!("{root}-f{n}")).ok()
                }
                _ => new.ids().opened_ticket_id(event_id).ok(),
            };
            // Only a ticket the new store has (it may have routed the input elsewhere).
            let renamed = renamed.filter(|renamed| *renamed != old && matches!(new.contains_ticket(renamed), Ok(true)));
            if let Some(renamed) = renamed {
                self.renames.insert(old.as_str().to_owned(), renamed.as_str().to_owned());
                self.report.changes.push(MigrationChange::TicketIdChanged { event_id, old, new: renamed });
            }
        }
    }

    fn flush(&mut self, new: &Store) -> Result<()> {
        self.pending_opens.clear();
        if self.pending.is_empty() {
            return Ok(());
        }
        let mut keys = Vec::with_capacity(self.pending.len());
        let mut inputs = Vec::with_capacity(self.pending.len());
        for (id, position, input, meta) in self.pending.drain(..) {
            keys.push((id, position));
            inputs.push((input, meta));
        }
        let results = new.submit_many(inputs, false)?;
        self.report.durability.chunk_submitted(new, CHUNK_INPUTS);
        for ((id, position), result) in keys.into_iter().zip(results) {
            let result = result.map(|submitted| {
                let recorded = !submitted.already_recorded && submitted.events > 0;
                Some((submitted, recorded))
            });
            self.tally(new, id, position, result)?;
        }
        Ok(())
    }
}
