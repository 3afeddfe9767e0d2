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

use std::collections::HashSet;

use rapport::customer::{CustomerProjection, Touch};
use rapport::events::{codec, CxEvent, Identity, TicketId};
use rapport::log::{EventId, Log, Position, RecordedEvent};
use rapport::{Input, Meta, Store, ADDRESSED_METADATA_KEY, TICKET_STREAM_PREFIX};

use crate::error::Result;
use crate::jsonl::{as_submitted, is_refusal};

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
    /// Every changed identity and every refused input, in the old log's order.
    pub changes: Vec<MigrationChange>,
    /// Tickets in the old log (distinct ids of `ticket.opened` events, derived ones included).
    pub tickets_before: u64,
    /// Tickets in the new store afterwards.
    pub tickets_after: u64,
    /// Customers in the old log, by identity resolution over its decodable events.
    pub customers_before: u64,
    /// Customers in the new store afterwards.
    pub customers_after: u64,
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

/// One input of the old log, ready for the new store, or why it is not.
fn carry_over(
    new: &Store,
    record: &RecordedEvent,
    changes: &mut Vec<MigrationChange>,
) -> std::result::Result<CxEvent, String> {
    let data = &record.data;
    let event = codec::decode(&data.event_type, data.schema_version, &data.payload)
        .map_err(|e| format!("does not decode under the new rules: {e}"))?;
    let addressed = data.metadata.iter().find(|(key, _)| key == ADDRESSED_METADATA_KEY);
    let event = match addressed {
        Some((_, addressed)) => as_submitted(event, addressed).map_err(|e| e.to_string())?,
        None => event,
    };
    let renewed = CxEvent::from_json(event.event_type(), event.to_json(), &new.options().normalize)
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
    Ok(renewed)
}

/// Counts of the old log: tickets (distinct opened ids) and customers (identity resolution).
fn count_old(old: &Log, new: &Store) -> Result<(u64, u64)> {
    let mut tickets: HashSet<TicketId> = HashSet::new();
    let mut customers = CustomerProjection::new(new.options().resolution.clone());
    let touch_of = |record: &RecordedEvent| -> Option<Touch> {
        let event = codec::decode(&record.data.event_type, record.data.schema_version, &record.data.payload).ok()?;
        Some(Touch {
            position: record.position.0,
            ticket: record.stream.strip_prefix(TICKET_STREAM_PREFIX).and_then(|id| TicketId::new(id).ok()),
            event,
            at: record.data.occurred_at.0,
            derived: record.data.causation_id.is_some(),
        })
    };
    let mut read = |position: u64| old.read_event(Position(position)).ok().flatten().and_then(|r| touch_of(&r));
    for position in 0..old.end_position().0 {
        let Some(record) = old.read_event(Position(position)).map_err(rapport::Error::from)? else { continue };
        if rapport::is_system_type(&record.data.event_type) {
            continue;
        }
        let Some(touch) = touch_of(&record) else { continue };
        if let CxEvent::TicketOpened(opened) = &touch.event {
            tickets.insert(opened.ticket_id.clone());
        }
        customers.apply(&touch, &mut read);
    }
    Ok((tickets.len() as u64, customers.len() as u64))
}

/// Replays the input events of `old` (a first-release log, opened by the caller with
/// `rapport::log::Log::open`) into `new` under the new identity rules and id key, keeping every
/// input's event id. `progress` is called with the old log's inputs handled so far. The old log
/// is only read.
pub fn migrate(old: &Log, new: &Store, mut progress: impl FnMut(u64)) -> Result<MigrationReport> {
    let (tickets_before, customers_before) = count_old(old, new)?;
    let mut report = MigrationReport { tickets_before, customers_before, ..MigrationReport::default() };
    let mut pending: Vec<(EventId, Position, Input, Meta)> = Vec::with_capacity(CHUNK_INPUTS);
    for position in 0..old.end_position().0 {
        let Some(record) = old.read_event(Position(position)).map_err(rapport::Error::from)? else { continue };
        if record.data.causation_id.is_some() || rapport::is_system_type(&record.data.event_type) {
            continue;
        }
        report.inputs_read += 1;
        let id = record.data.id;
        let event = match carry_over(new, &record, &mut report.changes) {
            Ok(event) => event,
            Err(reason) => {
                report.refused += 1;
                report.changes.push(MigrationChange::Refused { event_id: id, position: record.position, reason });
                continue;
            }
        };
        let meta = Meta::at(record.data.occurred_at).with_id(id);
        if let CxEvent::CustomersSplit(split) = event {
            // A split is decided against the state the inputs before it made.
            flush(new, &mut pending, &mut report)?;
            let result = if new.log().event_position(id).is_some() {
                Ok(false)
            } else {
                new.split(split.customer, split.identities, meta).map(|_| true)
            };
            tally(&mut report, id, record.position, result)?;
            progress(report.inputs_read);
            continue;
        }
        pending.push((id, record.position, Input::Event(event), meta));
        if pending.len() >= CHUNK_INPUTS {
            flush(new, &mut pending, &mut report)?;
            progress(report.inputs_read);
        }
    }
    flush(new, &mut pending, &mut report)?;
    progress(report.inputs_read);
    report.tickets_after = new.ticket_count()? as u64;
    report.customers_after = new.customer_count()? as u64;
    Ok(report)
}

fn tally(
    report: &mut MigrationReport,
    event_id: EventId,
    position: Position,
    result: rapport::Result<bool>,
) -> Result<()> {
    match result {
        Ok(true) => report.recorded += 1,
        Ok(false) => report.already_recorded += 1,
        Err(error) if is_refusal(&error) => {
            report.refused += 1;
            let reason = format!("refused by the new store: {error}");
            report.changes.push(MigrationChange::Refused { event_id, position, reason });
        }
        Err(error) => return Err(error.into()),
    }
    Ok(())
}

fn flush(new: &Store, pending: &mut Vec<(EventId, Position, Input, Meta)>, report: &mut MigrationReport) -> Result<()> {
    if pending.is_empty() {
        return Ok(());
    }
    let mut keys = Vec::with_capacity(pending.len());
    let mut inputs = Vec::with_capacity(pending.len());
    for (id, position, input, meta) in pending.drain(..) {
        keys.push((id, position));
        inputs.push((input, meta));
    }
    let results = new.submit_many(inputs, false)?;
    for ((id, position), result) in keys.into_iter().zip(results) {
        tally(report, id, position, result.map(|submitted| !submitted.already_recorded && submitted.events > 0))?;
    }
    Ok(())
}
