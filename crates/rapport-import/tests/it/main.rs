//! Integration tests of the importers, one binary; one module per format. The real data files
//! are read from `../shared/data` (relative to the project root).

mod bpi2013;
mod bpi2013_metrics;
mod cdnow;
mod chatwoot;
mod durability;
mod jsonl;
mod migrate;
mod privacy;
mod zendesk;
mod zendesk_check;
mod zendesk_tables;
