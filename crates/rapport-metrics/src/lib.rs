//! CX metrics computed from the event log: per-ticket metrics by Zendesk's definitions in
//! calendar and business minutes (bot and system messages are never replies), business-hours
//! [`Schedule`]s, SLA policies, and (in [`report`]) satisfaction, volume, trends and backlog with
//! drill-down, bot handoffs, first-contact resolution, survey response rates (offers paired with
//! ratings, [`SURVEY_OPEN_OFFERS_MAX`] open offers per customer and survey) and QA scores
//! ([`score_review`], IQS); plus customer lifetime value models ([`clv`]: BG/NBD and
//! Gamma-Gamma). A [`MetricsProjection`] folds events one by
//! one in O(1) expected time (plus O(log) business-time arithmetic) and answers per-ticket
//! metrics at any `now`; aggregates are computed on demand. Definitions: docs/metrics.md.
//!
//! It is not: storage or I/O, and it knows no ticket rules (follow-ups and merges arrive as
//! events). Every metric is a pure fold over events; `now` is a parameter and should not
//! precede the latest event folded.
//!
//! ```
//! use rapport_events::{Channel, CxEvent, Identity, NormalizeOptions, TicketId, TicketOpened, TicketStatusChanged, Status};
//! use rapport_metrics::{MetricsOptions, MetricsProjection};
//!
//! let ticket = TicketId::new("T-1").unwrap();
//! let opened = CxEvent::TicketOpened(TicketOpened {
//!     ticket_id: ticket.clone(),
//!     requester: Identity::parse("email", "kim@example.com", &NormalizeOptions::default()).unwrap(),
//!     channel: Channel::Email,
//!     subject: None, priority: None, ticket_type: None, topic: None,
//!     group: None, assignee: None, tags: vec![], status: None, follow_up_of: None,
//! });
//! let solved = CxEvent::TicketStatusChanged(TicketStatusChanged { ticket_id: ticket.clone(), status: Status::Solved });
//! let minute = |n: i64| rapport_types::Timestamp(n * 60_000_000);
//! let mut metrics = MetricsProjection::new(MetricsOptions::default());
//! metrics.apply(Some(&ticket), &opened, minute(0));
//! metrics.apply(Some(&ticket), &solved, minute(90));
//! let m = metrics.ticket_metrics(&ticket, minute(120)).unwrap();
//! assert_eq!(m.full_resolution.unwrap().calendar, 90.0);
//! assert_eq!(m.requester_wait.calendar, 90.0); // new 0..90, then solved
//! ```
#![deny(missing_docs)]
// Library code returns typed errors instead of panicking on input (clippy.toml allows these in tests).
#![warn(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

pub mod clv;
mod definitions;
mod error;
mod fcr;
mod grouping;
mod projection;
mod qa;
mod records;
pub mod report;
mod schedule;
mod sla;
mod surveys;
mod ticket;

pub use crate::definitions::{Definitions, WhatIf, DEFAULT_SCHEDULE};
pub use crate::error::MetricsError;
pub use crate::fcr::FCR_WINDOW_DAYS_DEFAULT;
pub use crate::grouping::{RequesterKeys, TicketFields, TICKET_FIELDS_MAX};
pub use crate::projection::{MetricsOptions, MetricsProjection, RatingRecord, TicketRecord};
pub use crate::qa::{
    default_scorecard, score_review, CategoryOutcome, CategoryPass, QaReport, QaReviewRecord, QaScores, ReviewScore,
    Scorecards, DEFAULT_SCORECARD, DEFAULT_SCORECARD_CATEGORIES,
};
pub use crate::schedule::{
    OpenInterval, Schedule, Schedules, ADD_BUSINESS_HORIZON_DAYS, HOLIDAYS_MAX, INTERVALS_PER_DAY_MAX, MINUTE_MICROS,
    SCHEDULES_MAX,
};
pub use crate::sla::{
    evaluate as evaluate_sla, policies_from_json, SlaFilter, SlaPolicy, SlaStatus, SlaTargets, TicketSla,
    SLA_POLICIES_MAX,
};
pub use crate::surveys::{OfferRecord, SurveyCounts, SurveyReport, SURVEY_ANSWER_DAYS, SURVEY_OPEN_OFFERS_MAX};
pub use crate::ticket::{Minutes, TicketMetrics, TicketMetricsState};

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_quality;
#[cfg(test)]
mod tests_report_reference;
