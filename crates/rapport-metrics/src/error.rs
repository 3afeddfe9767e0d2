//! The one error type of `rapport-metrics`.

/// What can be wrong with metric definitions and queries.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum MetricsError {
    /// A business-hours schedule is invalid.
    #[error("invalid schedule {schedule:?}: {reason}")]
    InvalidSchedule {
        /// The schedule's name (`(file)` when the file itself does not parse).
        schedule: String,
        /// What is wrong.
        reason: String,
    },
    /// An SLA policy file is invalid.
    #[error("invalid SLA policies: {reason}")]
    InvalidSla {
        /// What is wrong.
        reason: String,
    },
    /// A report dimension name is not one of the known ones.
    #[error(
        "unknown dimension {value:?} (expected channel, group, priority, tag, agent, type, field:<name>, trait:<name>, segment or organization)"
    )]
    UnknownDimension {
        /// The name given.
        value: String,
    },
    /// A `where` filter is not `dimension=value`.
    #[error("invalid filter {value:?} (expected dimension=value, e.g. channel=email)")]
    InvalidFilter {
        /// The filter given.
        value: String,
    },
    /// A query has more of something than its limit.
    #[error("{actual} {what}; at most {limit}")]
    TooMany {
        /// What.
        what: &'static str,
        /// How many were given.
        actual: usize,
        /// The limit.
        limit: usize,
    },
}
