//! SLA policies: matched by a filter (priority, group, channel, tag; first match wins), with
//! targets per priority for first reply, next reply and resolution, each in calendar or business
//! time. Each target on each ticket is achieved (dated when it was met), breached (dated at the
//! moment the target ran out — never back-dated to the ticket's creation) or active.

use std::collections::BTreeMap;

use rapport_events::Priority;
// One definition of filters and targets: the events crate's, which `sla.policy_set` records.
pub use rapport_events::{SlaFilter, SlaTargets};
use serde::Deserialize;

use crate::error::MetricsError;
use crate::schedule::{Schedule, MINUTE_MICROS};
use crate::ticket::TicketMetricsState;

/// One SLA policy.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlaPolicy {
    /// Name.
    pub name: String,
    /// Which tickets.
    #[serde(default)]
    pub filter: SlaFilter,
    /// Targets per priority (`low`, `normal`, `high`, `urgent`); tickets without a priority use
    /// `normal`.
    pub targets: BTreeMap<Priority, SlaTargets>,
}

/// SLA policies per policy file, at most.
pub const SLA_POLICIES_MAX: usize = 1_000;

/// The outcome of one target on one ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlaStatus {
    /// Met in time.
    Achieved {
        /// When it was met (the reply or the solve; unix microseconds).
        at: i64,
    },
    /// Missed; the target ran out at this time (unix microseconds).
    Breached {
        /// When the target ran out.
        at: i64,
    },
    /// Still running; runs out at this time.
    Active {
        /// When the target runs out.
        due: i64,
    },
}

/// A ticket's SLA outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TicketSla {
    /// The matching policy.
    pub policy: String,
    /// First reply target.
    pub first_reply: Option<SlaStatus>,
    /// Next reply target over every reply cycle: breached (at the earliest breach) if any cycle
    /// breached, else active if a cycle is open, else achieved (at the latest answering reply).
    pub next_reply: Option<SlaStatus>,
    /// Resolution target.
    pub resolution: Option<SlaStatus>,
}

/// Parses a JSON list of policies (at most [`SLA_POLICIES_MAX`], each with a non-empty name).
pub fn policies_from_json(text: &str) -> Result<Vec<SlaPolicy>, MetricsError> {
    let policies: Vec<SlaPolicy> =
        serde_json::from_str(text).map_err(|e| MetricsError::InvalidSla { reason: e.to_string() })?;
    if policies.len() > SLA_POLICIES_MAX {
        return Err(MetricsError::InvalidSla {
            reason: format!("{} policies; at most {SLA_POLICIES_MAX}", policies.len()),
        });
    }
    if let Some(index) = policies.iter().position(|p| p.name.trim().is_empty()) {
        return Err(MetricsError::InvalidSla { reason: format!("policy {index} has an empty name") });
    }
    Ok(policies)
}

fn matches(filter: &SlaFilter, state: &TicketMetricsState) -> bool {
    filter.priority.is_none_or(|p| state.priority.unwrap_or(Priority::Normal) == p)
        && filter.group.as_ref().is_none_or(|g| state.group.as_ref() == Some(g))
        && filter.channel.as_ref().is_none_or(|c| state.channels.first() == Some(c))
        && filter.tag.as_ref().is_none_or(|t| state.tags.contains(t))
}

/// The deadline of a target that starts at `start`.
fn deadline(schedule: &Schedule, start: i64, minutes: u32, business: bool) -> i64 {
    let span = i64::from(minutes) * MINUTE_MICROS;
    if business {
        schedule.add_business(start, span).unwrap_or(i64::MAX)
    } else {
        start.saturating_add(span)
    }
}

fn judge(schedule: &Schedule, start: i64, end: Option<i64>, minutes: u32, business: bool, now: i64) -> SlaStatus {
    let due = deadline(schedule, start, minutes, business);
    match end {
        Some(end) if end <= due => SlaStatus::Achieved { at: end },
        Some(_) => SlaStatus::Breached { at: due },
        None if now >= due => SlaStatus::Breached { at: due },
        None => SlaStatus::Active { due },
    }
}

/// Evaluates the first matching policy on a ticket at `now`; `None` if no policy matches.
pub fn evaluate(
    policies: &[SlaPolicy],
    schedule: &Schedule,
    state: &TicketMetricsState,
    now: i64,
) -> Option<TicketSla> {
    evaluate_in(policies, schedule, state, now)
}

/// [`evaluate`] over policies in matching order.
pub(crate) fn evaluate_in<'a>(
    policies: impl IntoIterator<Item = &'a SlaPolicy>,
    schedule: &Schedule,
    state: &TicketMetricsState,
    now: i64,
) -> Option<TicketSla> {
    let policy = policies.into_iter().find(|p| matches(&p.filter, state))?;
    let targets = policy.targets.get(&state.priority.unwrap_or(Priority::Normal)).copied().unwrap_or_default();
    let business = targets.business_hours;
    let first_reply = targets
        .first_reply_minutes_max
        .map(|m| judge(schedule, state.created_at, state.first_reply_at(), m, business, now));
    let resolution = targets.resolution_minutes_max.map(|m| {
        let solved = if matches!(state.status, rapport_events::Status::Solved | rapport_events::Status::Closed) {
            state.last_solved_at
        } else {
            None
        };
        judge(schedule, state.created_at, solved, m, business, now)
    });
    let next_reply = targets.next_reply_minutes_max.and_then(|m| {
        let cycles = state.reply_cycles.iter().map(|(start, end)| (*start, Some(*end)));
        let open = state.unanswered_since.map(|start| (start, None));
        let (mut breached, mut active, mut achieved) = (None::<i64>, None::<i64>, None::<i64>);
        for (start, end) in cycles.chain(open) {
            match judge(schedule, start, end, m, business, now) {
                SlaStatus::Breached { at } => breached = Some(breached.map_or(at, |b| b.min(at))),
                SlaStatus::Active { due } => active = Some(due),
                SlaStatus::Achieved { at } => achieved = Some(achieved.map_or(at, |a| a.max(at))),
            }
        }
        breached
            .map(|at| SlaStatus::Breached { at })
            .or(active.map(|due| SlaStatus::Active { due }))
            .or(achieved.map(|at| SlaStatus::Achieved { at }))
    });
    Some(TicketSla { policy: policy.name.clone(), first_reply, next_reply, resolution })
}
