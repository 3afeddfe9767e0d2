//! Definitions recorded as events: SLA policies and business-hours schedules, each in force from
//! its `valid_from`. A ticket is measured by the definitions in force when it was created. The
//! events crate checks sizes and shapes; the metrics crate checks time zones and intervals
//! before the store records one (`rapport_metrics` parses them into its own types).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{check_len, check_name, check_opt_name, Channel, Priority};
use crate::error::Error;

/// SLA policies or schedules in force at once, at most (also the limit of a definitions file).
pub const DEFINITIONS_MAX: usize = 1_000;

/// Business-hour intervals per weekday, at most.
pub const INTERVALS_PER_DAY_MAX: usize = 48;

/// Holidays per schedule, at most (27 years of one a day would be 10 000).
pub const HOLIDAYS_MAX: usize = 10_000;

/// Which tickets an SLA policy applies to; every field that is set must match.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlaFilter {
    /// Ticket priority.
    #[serde(default)]
    pub priority: Option<Priority>,
    /// Ticket group.
    #[serde(default)]
    pub group: Option<String>,
    /// Channel of creation.
    #[serde(default)]
    pub channel: Option<Channel>,
    /// A tag the ticket has.
    #[serde(default)]
    pub tag: Option<String>,
}

/// SLA targets for one priority.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlaTargets {
    /// Creation -> first public agent reply.
    #[serde(default)]
    pub first_reply_minutes_max: Option<u32>,
    /// Oldest unanswered customer message -> next public agent reply.
    #[serde(default)]
    pub next_reply_minutes_max: Option<u32>,
    /// Creation -> solved.
    #[serde(default)]
    pub resolution_minutes_max: Option<u32>,
    /// Count the minutes in business hours (the ticket's schedule) instead of calendar time.
    #[serde(default)]
    pub business_hours: bool,
}

/// `sla.policy_set`: defines, redefines or (with empty `targets`) retires an SLA policy for
/// tickets created at or after `valid_from`. Policies match in the order they were first set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlaPolicySet {
    /// The policy's name.
    pub name: String,
    /// Which tickets.
    #[serde(default)]
    pub filter: SlaFilter,
    /// Targets per priority; tickets without a priority use `normal`.
    pub targets: BTreeMap<Priority, SlaTargets>,
    /// Tickets created at or after this instant are measured by it.
    #[serde(with = "crate::properties::timestamp")]
    pub valid_from: rapport_types::Timestamp,
}

impl SlaPolicySet {
    pub(super) fn validate(&self) -> Result<(), Error> {
        check_name("name", &self.name)?;
        check_opt_name("filter.group", &self.filter.group)?;
        check_opt_name("filter.tag", &self.filter.tag)
    }
}

/// `schedule.set`: business hours from `valid_from`. The schedule named `default` applies to
/// tickets without a group schedule; any other name is the group whose tickets it applies to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScheduleSet {
    /// `default` or a group.
    pub name: String,
    /// IANA time zone (`Asia/Seoul`).
    pub timezone: String,
    /// Open intervals per weekday: `{"mon": ["09:00-12:00", "13:00-18:00"], ...}`.
    pub intervals: BTreeMap<String, Vec<String>>,
    /// Closed dates, `YYYY-MM-DD`.
    #[serde(default)]
    pub holidays: Vec<String>,
    /// Tickets created at or after this instant are measured by it.
    #[serde(with = "crate::properties::timestamp")]
    pub valid_from: rapport_types::Timestamp,
}

impl ScheduleSet {
    pub(super) fn validate(&self) -> Result<(), Error> {
        check_name("name", &self.name)?;
        check_name("timezone", &self.timezone)?;
        if self.intervals.len() > 7 {
            return Err(Error::TooLong { field: "intervals (weekdays)", actual: self.intervals.len(), limit: 7 });
        }
        for (day, spans) in &self.intervals {
            check_name("weekday", day)?;
            if spans.len() > INTERVALS_PER_DAY_MAX {
                return Err(Error::TooLong { field: "intervals", actual: spans.len(), limit: INTERVALS_PER_DAY_MAX });
            }
            spans.iter().try_for_each(|span| check_len("interval", span, 16))?;
        }
        if self.holidays.len() > HOLIDAYS_MAX {
            return Err(Error::TooLong { field: "holidays", actual: self.holidays.len(), limit: HOLIDAYS_MAX });
        }
        self.holidays.iter().try_for_each(|day| check_len("holiday", day, 10))
    }
}

/// Longest cursor of a [`SourceCheckpoint`], in bytes (Zendesk's `after_cursor` is ~100).
pub const CURSOR_BYTES_MAX: usize = 1024;

/// `source.checkpoint`: how far an import from an external system (`zendesk`, `chatwoot`) has
/// read, as that system's own cursor (an export cursor, a last update time). Recorded by an
/// import at its end so that the next `--since-last` import starts there; it replicates with the
/// log like every event. The newest one per source wins. Not personal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceCheckpoint {
    /// The source system and account, e.g. `zendesk` or `chatwoot:3`.
    pub source: String,
    /// The source's cursor, opaque to the store.
    pub cursor: String,
}

impl SourceCheckpoint {
    pub(super) fn validate(&self) -> Result<(), Error> {
        check_source(&self.source)?;
        if self.cursor.is_empty() {
            return Err(Error::InvalidValue { field: "cursor", value: String::new(), expected: "a non-empty cursor" });
        }
        check_len("cursor", &self.cursor, CURSOR_BYTES_MAX)
    }
}

/// Longest key of a [`SourceLinked`], in bytes: the stream `source-<source>/<key>` fits the
/// log's 255-byte stream names (7 + 200 + 1 + 47).
pub const SOURCE_KEY_BYTES_MAX: usize = 47;

/// `source.linked`: an object of an external system (a Chatwoot conversation) is the ticket
/// `ticket_id` here — the ticket its first customer message was routed to, or the one opened for
/// it. Recorded by a connector on the stream `source-<source>/<key>`, so that later events about
/// the object find their ticket with one read. The newest one per key wins. Not personal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceLinked {
    /// The source system and account, e.g. `chatwoot:3`.
    pub source: String,
    /// The object's key in the source (`conversation/42`), at most [`SOURCE_KEY_BYTES_MAX`] bytes.
    pub key: String,
    /// The ticket.
    pub ticket_id: super::TicketId,
}

impl SourceLinked {
    pub(super) fn validate(&self) -> Result<(), Error> {
        check_source(&self.source)?;
        check_name("key", &self.key)?;
        check_len("key", &self.key, SOURCE_KEY_BYTES_MAX)?;
        self.ticket_id.validate()
    }
}

/// A source name: a name without `/` (which separates it from a key in stream names).
fn check_source(source: &str) -> Result<(), Error> {
    check_name("source", source)?;
    if source.contains('/') {
        return Err(Error::InvalidValue {
            field: "source",
            value: source.to_owned(),
            expected: "a source name without '/'",
        });
    }
    Ok(())
}
