//! The one error type of `rapport-metrics`.

/// What can be wrong with metric definitions.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum MetricsError {
    /// A business-hours schedule is invalid.
    #[error("invalid schedule: {0}")]
    InvalidSchedule(String),
    /// An SLA policy is invalid.
    #[error("invalid SLA policy: {0}")]
    InvalidSla(String),
}
