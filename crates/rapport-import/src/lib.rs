//! Importers and exporters of Rapport stores: the JSONL interchange format of docs/events.md
//! ([`jsonl`]), the BPI Challenge 2013 incident log ([`bpi2013`]) and the CDNOW purchase logs
//! ([`cdnow`]). Data files are opened by [`open_data_file`] (gzip by the `.gz` name).
//!
//! It is not: part of the embedded store. The facade (`rapport`) compiles no gzip or CSV code;
//! programs that import files depend on this crate as well.
#![deny(missing_docs)]

pub mod bpi2013;
pub mod cdnow;
mod data_file;
mod error;
pub mod jsonl;
mod migrate;
mod source;

pub use crate::data_file::open_data_file;
pub use crate::error::{Error, LineError, Result};
pub use crate::migrate::{migrate, MigrationChange, MigrationReport, CHUNK_INPUTS as MIGRATION_CHUNK_INPUTS};
