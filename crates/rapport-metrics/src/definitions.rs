//! Definitions recorded as events (`sla.policy_set`, `schedule.set`), effective-dated: a ticket
//! is measured by the SLA policies and the schedule in force at its creation. For each policy
//! name (and each schedule name) the version in force at instant `t` is the one with the latest
//! `valid_from <= t`, ties going to the one recorded later; a policy version with empty
//! `targets` retires the policy. Policies match in the order their names were first set.
//!
//! The rule depends only on the set of definitions recorded, never on when a definition was
//! recorded relative to the tickets: a definition recorded after tickets it applies to
//! (backfilled, `valid_from` before their creation) applies to them too. History grows by one
//! entry per definition event (bounded by the log; [`DEFINITIONS_MAX`] names of each kind).

use std::collections::BTreeMap;
use std::sync::Arc;

use rapport_events::{ScheduleSet, SlaPolicySet, DEFINITIONS_MAX};

use crate::error::MetricsError;
use crate::schedule::{Schedule, Schedules};
use crate::sla::SlaPolicy;

/// The schedule name that applies to tickets without a schedule of their group.
pub const DEFAULT_SCHEDULE: &str = "default";

/// Which kinds of [`crate::MetricsOptions`] replace the stored definitions (a what-if): a kind
/// set here ignores every stored definition of that kind; a kind not set uses the stored ones,
/// and the options only where none is in force.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WhatIf {
    /// The options' schedules replace the stored `schedule.set` definitions.
    pub schedules: bool,
    /// The options' SLA policies replace the stored `sla.policy_set` definitions.
    pub sla: bool,
}

impl WhatIf {
    /// Both kinds replaced (what [`crate::MetricsOptions`] given as a whole means).
    pub fn all() -> WhatIf {
        WhatIf { schedules: true, sla: true }
    }
}

#[derive(Debug, Clone)]
struct Version<T> {
    valid_from: i64,
    value: T,
}

/// Inserts keeping versions sorted by `valid_from`, later-recorded last among equals.
fn insert<T>(versions: &mut Vec<Version<T>>, version: Version<T>) {
    let at = versions.partition_point(|v| v.valid_from <= version.valid_from);
    versions.insert(at, version);
}

fn in_force<T>(versions: &[Version<T>], at: i64) -> Option<&T> {
    let count = versions.partition_point(|v| v.valid_from <= at);
    count.checked_sub(1).and_then(|i| versions.get(i)).map(|v| &v.value)
}

/// The history of SLA policies and schedules recorded on the `definitions` stream.
#[derive(Debug, Clone, Default)]
pub struct Definitions {
    /// Policy names in the order first set, each with its versions (`None`: retired).
    policies: Vec<(String, Vec<Version<Option<SlaPolicy>>>)>,
    policy_index: BTreeMap<String, usize>,
    /// The earliest `valid_from` of any policy version.
    policies_from: Option<i64>,
    schedules: BTreeMap<String, Vec<Version<Arc<Schedule>>>>,
}

impl Definitions {
    /// No definitions.
    pub fn new() -> Definitions {
        Definitions::default()
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.policies.is_empty() && self.schedules.is_empty()
    }

    /// Checks a policy event against the limits: a new name beyond [`DEFINITIONS_MAX`] names.
    pub fn check_policy(&self, event: &SlaPolicySet) -> Result<(), MetricsError> {
        if !self.policy_index.contains_key(&event.name) && self.policies.len() >= DEFINITIONS_MAX {
            return Err(MetricsError::InvalidSla {
                reason: format!("policy {:?} would be policy {}; at most {DEFINITIONS_MAX}", event.name, DEFINITIONS_MAX + 1),
            });
        }
        Ok(())
    }

    /// Parses a schedule event and checks the limits (what the store does before recording it).
    pub fn check_schedule(&self, event: &ScheduleSet) -> Result<Schedule, MetricsError> {
        let schedule = Schedule::from_event(event)?;
        if !self.schedules.contains_key(&event.name) && self.schedules.len() >= DEFINITIONS_MAX {
            return Err(MetricsError::InvalidSchedule {
                schedule: event.name.clone(),
                reason: format!("would be schedule {}; at most {DEFINITIONS_MAX}", DEFINITIONS_MAX + 1),
            });
        }
        Ok(schedule)
    }

    /// Records a policy version.
    pub fn set_policy(&mut self, event: &SlaPolicySet) -> Result<(), MetricsError> {
        self.check_policy(event)?;
        let value = (!event.targets.is_empty()).then(|| SlaPolicy {
            name: event.name.clone(),
            filter: event.filter.clone(),
            targets: event.targets.clone(),
        });
        let index = match self.policy_index.get(&event.name) {
            Some(index) => *index,
            None => {
                self.policies.push((event.name.clone(), Vec::new()));
                self.policy_index.insert(event.name.clone(), self.policies.len() - 1);
                self.policies.len() - 1
            }
        };
        let valid_from = event.valid_from.0;
        if let Some((_, versions)) = self.policies.get_mut(index) {
            insert(versions, Version { valid_from, value });
        }
        self.policies_from = Some(self.policies_from.map_or(valid_from, |from| from.min(valid_from)));
        Ok(())
    }

    /// Records a schedule version.
    pub fn set_schedule(&mut self, event: &ScheduleSet) -> Result<(), MetricsError> {
        let schedule = Arc::new(self.check_schedule(event)?);
        let versions = self.schedules.entry(event.name.clone()).or_default();
        insert(versions, Version { valid_from: event.valid_from.0, value: schedule });
        Ok(())
    }

    /// Whether any policy version is valid at `at` (retired or not): then the stored policies
    /// decide, else the options' fallback policies do.
    pub fn has_policies_at(&self, at: i64) -> bool {
        self.policies_from.is_some_and(|from| from <= at)
    }

    /// The policies in force at `at`, in the order first set.
    pub fn policies_at(&self, at: i64) -> impl Iterator<Item = &SlaPolicy> {
        self.policies.iter().filter_map(move |(_, versions)| in_force(versions, at).and_then(Option::as_ref))
    }

    /// The stored schedule of a ticket created at `at` in `group`: the group's schedule in force
    /// then, else the `default` one in force then; `None` when neither is.
    pub fn schedule_at(&self, group: Option<&str>, at: i64) -> Option<&Schedule> {
        let of = |name: &str| self.schedules.get(name).and_then(|versions| in_force(versions, at));
        group.and_then(of).or_else(|| of(DEFAULT_SCHEDULE)).map(|schedule| schedule.as_ref())
    }
}

/// The schedule of a ticket created at `at` in `group`, under the projection's rules: the
/// options' schedules when they replace the stored ones, else the stored ones in force, else
/// the options' as the fallback.
pub(crate) fn schedule_for<'a>(
    definitions: &'a Definitions,
    fallback: &'a Schedules,
    what_if: WhatIf,
    group: Option<&str>,
    at: i64,
) -> &'a Schedule {
    if what_if.schedules {
        return fallback.for_group(group);
    }
    definitions.schedule_at(group, at).unwrap_or_else(|| fallback.for_group(group))
}

/// The policies of a ticket created at `at`, in matching order.
pub(crate) fn policies_for<'a>(
    definitions: &'a Definitions,
    fallback: &'a [SlaPolicy],
    what_if: WhatIf,
    at: i64,
) -> Box<dyn Iterator<Item = &'a SlaPolicy> + 'a> {
    if what_if.sla || !definitions.has_policies_at(at) {
        Box::new(fallback.iter())
    } else {
        Box::new(definitions.policies_at(at))
    }
}
