//! `rapport dump`: every event (or one stream's) as JSON lines, in log order.

use std::io::{BufWriter, Write};
use std::process::ExitCode;

use rapport::log::{Log, LogOptions, Position, RecordedEvent};
use rapport::Store;

use crate::util::{write_json_line, CliError};
use crate::StoreArg;
use rapport_server::json::event_json;

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
