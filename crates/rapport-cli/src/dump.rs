//! `rapport dump`: every event (or one stream's) as JSON lines, in log order.

use std::io::{BufWriter, Write};
use std::process::ExitCode;

use base64::Engine;
use rapport::log::{Log, LogOptions, Position, RecordedEvent};
use rapport::Store;
use serde_json::json;

use crate::util::{rfc3339, write_json_line, CliError};
use crate::StoreArg;

/// Arguments of `rapport dump`.
#[derive(Debug, clap::Args)]
pub(crate) struct DumpArgs {
    #[command(flatten)]
    store: StoreArg,
    /// First position to print.
    #[arg(long, default_value_t = 0)]
    from: u64,
    /// Only this stream.
    #[arg(long)]
    stream: Option<String>,
}

/// The JSON form of one event: its payload revealed through the store (personal values, or
/// `[erased]`, `[expired]`, `[encrypted]`; never a pseudonym or a sealed blob as if it were the
/// value), and the raw bytes as `payload_base64`.
pub(crate) fn event_json(store: Option<&Store>, event: &RecordedEvent) -> serde_json::Value {
    let data = &event.data;
    let mut value = json!({
        "position": event.position.0,
        "stream": event.stream,
        "version": event.version.0,
        "event_id": data.id.to_string(),
        "type": data.event_type,
        "schema_version": data.schema_version,
        "recorded_at": rfc3339(event.recorded_at.0),
    });
    let Some(fields) = value.as_object_mut() else { return value };
    // The store's header holds its secret id key: shown as a note, never as bytes.
    if data.event_type == rapport::STORE_CREATED_TYPE {
        fields.insert(
            "payload".into(),
            json!({"note": "the store's header: format version and secret id key (not shown)"}),
        );
        return value;
    }
    let metadata: serde_json::Map<String, serde_json::Value> =
        data.metadata.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
    // A Rapport event is printed as its revealed JSON form; anything else only as base64.
    // A first-release store (no store for it: `None`) holds no sealed value: decoded as it is.
    let payload = match store {
        Some(store) => store.reveal(event).map(|(event, _)| event.to_json()).ok(),
        None => rapport::events::codec::decode(&data.event_type, data.schema_version, &data.payload)
            .map(|event| event.to_json())
            .ok(),
    };
    let payload = payload.unwrap_or(serde_json::Value::Null);
    fields.insert("occurred_at".into(), json!(rfc3339(data.occurred_at.0)));
    fields.insert("correlation_id".into(), json!(data.correlation_id.map(|id| id.to_string())));
    fields.insert("causation_id".into(), json!(data.causation_id.map(|id| id.to_string())));
    fields.insert("metadata".into(), serde_json::Value::Object(metadata));
    fields.insert("payload".into(), payload);
    fields.insert("payload_base64".into(), json!(base64::engine::general_purpose::STANDARD.encode(&data.payload)));
    value
}

/// Where `dump` reads: a store (which reveals the payloads), or the log of a first-release
/// store (format 1, before sealing: its payloads are shown as stored).
enum Source {
    Store(Box<Store>),
    FirstRelease(Box<Log>),
}

impl Source {
    fn store(&self) -> Option<&Store> {
        match self {
            Source::Store(store) => Some(store),
            Source::FirstRelease(_) => None,
        }
    }

    fn events(&self, from: Position, stream: Option<&str>) -> EventIter<'_> {
        match (self, stream) {
            (Source::Store(store), Some(stream)) => Box::new(store.log().read_stream(stream, 0)),
            (Source::Store(store), None) => Box::new(store.log().read_all(from)),
            (Source::FirstRelease(log), Some(stream)) => Box::new(log.read_stream(stream, 0)),
            (Source::FirstRelease(log), None) => Box::new(log.read_all(from)),
        }
    }
}

type EventIter<'a> = Box<dyn Iterator<Item = Result<RecordedEvent, rapport::log::Error>> + 'a>;

pub(crate) fn run(args: &DumpArgs) -> Result<ExitCode, CliError> {
    crate::util::require_store(&args.store.store)?;
    let source = match Store::open_read_only(&args.store.store, crate::util::store_options()?) {
        Ok(store) => {
            crate::util::report_recovery(store.log().recovery_report());
            Source::Store(Box::new(store))
        }
        Err(rapport::Error::StoreFormat { .. }) => {
            eprintln!("note: {} is a first-release store: payloads are shown as stored", args.store.store.display());
            let log = Log::open_read_only(&args.store.store, LogOptions::default())?;
            crate::util::report_recovery(log.recovery_report());
            Source::FirstRelease(Box::new(log))
        }
        Err(error) => return Err(error.into()),
    };
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let events = source
        .events(Position(args.from), args.stream.as_deref())
        .filter(|e| e.as_ref().map_or(true, |e| e.position.0 >= args.from));
    for event in events {
        write_json_line(&mut out, &event_json(source.store(), &event?))?;
    }
    out.flush().map_err(CliError::io("writing to stdout"))?;
    Ok(ExitCode::SUCCESS)
}
