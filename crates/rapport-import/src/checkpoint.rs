//! Import cursors kept in the store: `--since-last` starts where the last import of a source
//! stopped. A cursor is recorded as a `source.checkpoint` event on the stream `source-<source>`
//! (it replicates with the log); the newest one wins.

use rapport::events::{CxEvent, SourceCheckpoint};
use rapport::log::Timestamp;
use rapport::{Input, Meta, Store};

use crate::error::Result;

/// The newest cursor recorded for `source`, if any.
pub fn last_cursor(store: &Store, source: &str) -> Result<Option<String>> {
    Ok(store.source_checkpoint(source)?.map(|(checkpoint, _)| checkpoint.cursor))
}

/// Records `cursor` as the newest of `source`, unless it is already the newest. Returns
/// whether it recorded one. The event's id is derived from the source, the cursor and the
/// cursor before it, so recording the same step twice (a retry) records it once.
pub fn record_cursor(store: &Store, source: &str, cursor: &str) -> Result<bool> {
    let previous = last_cursor(store, source)?;
    if previous.as_deref() == Some(cursor) {
        return Ok(false);
    }
    let id = store.ids().import_id(
        "source.checkpoint",
        &[source.as_bytes(), cursor.as_bytes(), previous.as_deref().unwrap_or("").as_bytes()],
    );
    let event = CxEvent::SourceCheckpoint(SourceCheckpoint { source: source.to_owned(), cursor: cursor.to_owned() });
    store.submit(Input::Event(event), Meta::at(Timestamp::now()).with_id(id))?;
    store.sync()?;
    Ok(true)
}
