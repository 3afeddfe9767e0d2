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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
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

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
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
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
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
                reason: format!(
                    "policy {:?} would be policy {}; at most {DEFINITIONS_MAX}",
                    event.name,
                    DEFINITIONS_MAX + 1
                ),
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

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use rapport_events::{Priority, SlaPolicySet, SlaTargets};
    use rapport_types::Timestamp;

    use super::*;

    fn policy(name: &str, minutes: Option<u32>, valid_from: i64) -> SlaPolicySet {
        let targets = minutes
            .map(|m| {
                BTreeMap::from([(
                    Priority::Normal,
                    SlaTargets { first_reply_minutes_max: Some(m), ..SlaTargets::default() },
                )])
            })
            .unwrap_or_default();
        SlaPolicySet { name: name.into(), filter: Default::default(), targets, valid_from: Timestamp(valid_from) }
    }

    fn in_force(definitions: &Definitions, at: i64) -> Vec<(String, Option<u32>)> {
        definitions
            .policies_at(at)
            .map(|p| (p.name.clone(), p.targets.get(&Priority::Normal).and_then(|t| t.first_reply_minutes_max)))
            .collect()
    }

    #[test]
    fn latest_valid_from_wins_ties_go_to_the_later_record_and_order_is_first_set() {
        let mut definitions = Definitions::new();
        // Recorded out of valid_from order: "b" first, then "a"; "b" gets a backfilled version.
        definitions.set_policy(&policy("b", Some(10), 100)).unwrap();
        definitions.set_policy(&policy("a", Some(20), 0)).unwrap();
        definitions.set_policy(&policy("b", Some(30), 50)).unwrap();
        // Two versions of "a" at the same valid_from: the later recorded (40) wins.
        definitions.set_policy(&policy("a", Some(35), 200)).unwrap();
        definitions.set_policy(&policy("a", Some(40), 200)).unwrap();
        definitions.set_policy(&policy("b", None, 300)).unwrap();
        assert_eq!(in_force(&definitions, -1), vec![]);
        assert!(!definitions.has_policies_at(-1));
        assert_eq!(in_force(&definitions, 0), vec![("a".to_owned(), Some(20))]);
        // 50..100: b's backfilled 30; b matches first (its name was set first).
        assert_eq!(in_force(&definitions, 60), vec![("b".to_owned(), Some(30)), ("a".to_owned(), Some(20))]);
        assert_eq!(in_force(&definitions, 100), vec![("b".to_owned(), Some(10)), ("a".to_owned(), Some(20))]);
        assert_eq!(in_force(&definitions, 200), vec![("b".to_owned(), Some(10)), ("a".to_owned(), Some(40))]);
        // b retired at 300.
        assert_eq!(in_force(&definitions, 300), vec![("a".to_owned(), Some(40))]);
    }

    #[test]
    fn a_group_schedule_falls_back_to_the_default_in_force() {
        let set = |name: &str, span: &str, valid_from: i64| ScheduleSet {
            name: name.into(),
            timezone: "UTC".into(),
            intervals: BTreeMap::from([("mon".to_owned(), vec![span.to_owned()])]),
            holidays: vec![],
            valid_from: Timestamp(valid_from),
        };
        let mut definitions = Definitions::new();
        definitions.set_schedule(&set("default", "09:00-17:00", 0)).unwrap();
        definitions.set_schedule(&set("L2", "10:00-11:00", 100)).unwrap();
        let open_minutes = |s: &Schedule| s.open().iter().map(|i| i.end_minute - i.start_minute).sum::<u16>();
        assert_eq!(definitions.schedule_at(Some("L2"), 50).map(open_minutes), Some(480), "L2 not yet in force");
        assert_eq!(definitions.schedule_at(Some("L2"), 100).map(open_minutes), Some(60));
        assert_eq!(definitions.schedule_at(None, 100).map(open_minutes), Some(480));
        assert_eq!(definitions.schedule_at(None, -1).map(open_minutes), None);
        let bad = set("default", "24:00-25:00", 0);
        assert!(matches!(definitions.set_schedule(&bad), Err(MetricsError::InvalidSchedule { .. })));
    }
}
