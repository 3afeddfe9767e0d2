//! CX metrics computed from the event log: customer lifetime value models (BG/NBD and
//! Gamma-Gamma), and (with the metrics issue) per-ticket metrics, SLA, satisfaction and trends.
//!
//! It is not: storage or I/O. Every metric is a pure fold over events; `now` is a parameter.
#![deny(missing_docs)]

pub mod clv;
mod error;
mod projection;
pub mod report;
mod schedule;
mod sla;
mod ticket;

pub use crate::error::MetricsError;
pub use crate::projection::{MetricsOptions, MetricsProjection, RatingRecord, TicketRecord};
pub use crate::schedule::{OpenInterval, Schedule, Schedules, MINUTE_MICROS};
pub use crate::sla::{
    evaluate as evaluate_sla, policies_from_json, SlaFilter, SlaPolicy, SlaStatus, SlaTargets, TicketSla,
};
pub use crate::ticket::{Minutes, TicketMetrics, TicketMetricsState};

#[cfg(test)]
mod tests;
