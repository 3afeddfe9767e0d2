//! Importers and exporters of Rapport stores: the JSONL interchange format of docs/events.md
//! ([`jsonl`]), the BPI Challenge 2013 incident log ([`bpi2013`]), the CDNOW purchase logs
//! ([`cdnow`]), and the [`migrate`]ion of a first-release store into a new one. Data files are
//! opened by [`open_data_file`] (gzip by the `.gz` name). Every call returns one
//! `Result<Report, `[`Error`]`>`.
//!
//! Every import reads its input twice: the first pass checks every line (nothing is written if
//! one is bad) and keeps a few bytes per distinct line; the second parses again and submits in
//! bounded chunks, refusing any line the first pass did not check ([`Error::FileChanged`]).
//! Every line is capped ([`jsonl::LINE_BYTES_MAX`], [`bpi2013::LINE_BYTES_MAX`],
//! [`cdnow::LINE_BYTES_MAX`]; [`Error::LineTooLong`]). Ids of imported rows come from their
//! content, never from the file's name.
//!
//! It is not: part of the embedded store. The facade (`rapport`) compiles no gzip or CSV code;
//! programs that import files depend on this crate as well.
#![deny(missing_docs)]
// Library code returns typed errors instead of panicking on input (clippy.toml allows these in tests).
#![warn(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

pub mod bpi2013;
pub mod cdnow;
pub mod chatwoot;
pub mod checkpoint;
mod data_file;
mod durability;
mod error;
pub mod jsonl;
mod migrate;
mod source;
pub mod zendesk;
pub mod zendesk_webhook;

pub use crate::data_file::open_data_file;
pub use crate::durability::ImportDurability;
pub use crate::error::{Error, LineError, Result};
pub use crate::migrate::{migrate, MigrationChange, MigrationReport, CHUNK_INPUTS as MIGRATION_CHUNK_INPUTS};
