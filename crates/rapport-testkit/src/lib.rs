//! Generated data for Rapport's demo, tests and benchmarks. [`scenario::omnichannel`] writes the
//! omnichannel journey of many people (KakaoTalk, then e-mail, then phone, with identity links,
//! replies, ratings and orders) as store inputs.
//!
//! It is not: real data (that is `../shared/data`, read by `rapport-import`).
#![deny(missing_docs)]

pub mod scenario;
