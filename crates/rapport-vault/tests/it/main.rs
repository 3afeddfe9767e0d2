//! Integration tests of `rapport-vault`: one test binary, one module per concern.

mod common;
mod crash;
mod destroy;
mod master_key;
mod read_only;
mod recovery;
mod replicated;
mod round_trip;
