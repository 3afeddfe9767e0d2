//! Aggregates over the metrics projection, computed on demand for a period `[from, to)` and
//! optionally grouped by a dimension. Every count carries the ticket ids behind it (drill-down).
//! Definitions and the period rules: docs/metrics.md.

use std::collections::BTreeMap;
use std::ops::Range;
use std::str::FromStr;
use std::sync::Arc;

use chrono::{DateTime, Datelike};
use rapport_events::{CustomerId, Identity, Survey, TicketId};
use rapport_types::Timestamp;

use crate::error::MetricsError;
use crate::fcr::{CustomerTickets, FcrTicket, FCR_WINDOW_DAYS_DEFAULT};
use crate::grouping::{dimensions, product, rating_dimension_keys, ticket_keys, RequesterKeys};
pub use crate::grouping::{field_text, parse_filter, FILTERS_MAX, GROUP_BY_MAX, GROUP_KEYS_PER_TICKET_MAX};
use crate::projection::{MetricsProjection, RatingRecord, TicketRecord};
use crate::qa::{qa_report, QaReport};
use crate::records::TicketRecords;
use crate::sla::{evaluate_in, SlaStatus, TicketSla};
use crate::surveys::Who;
use crate::surveys::{survey_report, SurveyReport};
use crate::ticket::{Minutes, TicketMetrics};

const DAY_MICROS: i64 = 86_400_000_000;
const HOUR_MICROS: i64 = 3_600_000_000;
/// Per-day rows (volume, backlog, satisfaction) of one report, at most: about ten years. A
/// longer period keeps its latest days and sets [`Report::rows_truncated`].
pub const REPORT_DAYS_MAX: usize = 3_660;

/// What to group aggregates by (and what `where` filters compare).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Dimension {
    /// Channel of creation.
    Channel,
    /// Current group (ratings: the group at rating time).
    Group,
    /// Current priority.
    Priority,
    /// Each tag (a ticket counts under every tag it has).
    Tag,
    /// Current assignee (ratings: the assignee at rating time).
    Agent,
    /// Inquiry type label.
    Type,
    /// A custom ticket field (`ticket.fields_set`), its value as text (`field:<name>`).
    Field(String),
    /// A trait of the requester's customer (`trait:<name>`; resolved by the store).
    Trait(String),
    /// The segments the requester's customer is in (a ticket counts under each; resolved by
    /// the store).
    Segment,
    /// The organization of the requester's customer (resolved by the store).
    Organization,
}

impl FromStr for Dimension {
    type Err = MetricsError;
    fn from_str(text: &str) -> Result<Dimension, MetricsError> {
        Ok(match text {
            "channel" => Dimension::Channel,
            "group" => Dimension::Group,
            "priority" => Dimension::Priority,
            "tag" => Dimension::Tag,
            "agent" => Dimension::Agent,
            "type" => Dimension::Type,
            "segment" => Dimension::Segment,
            "organization" => Dimension::Organization,
            other => {
                let named = |prefix: &str| other.strip_prefix(prefix).map(str::trim).filter(|n| !n.is_empty());
                if let Some(name) = named("field:") {
                    return Ok(Dimension::Field(name.to_owned()));
                }
                if let Some(name) = named("trait:") {
                    return Ok(Dimension::Trait(name.to_owned()));
                }
                return Err(MetricsError::UnknownDimension { value: other.to_owned() });
            }
        })
    }
}

/// What to aggregate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportQuery {
    /// Start of the period (inclusive); `None`: from the beginning.
    pub from: Option<Timestamp>,
    /// End of the period (exclusive); `None`: up to and including `now`.
    pub to: Option<Timestamp>,
    /// The moment unsolved tickets and running SLA targets are measured at; `None`: the latest
    /// event's time. It should not precede the latest event folded: the projection does not
    /// rewind (the store replays the log up to an earlier `now` into a fresh projection).
    pub now: Option<Timestamp>,
    /// Grouping.
    pub group_by: Option<Dimension>,
    /// Further grouping dimensions, nested inside `group_by` (each group's key is the tuple of
    /// its keys, [`GroupReport::keys`]); at most [`crate::report::GROUP_BY_MAX`] in all.
    pub then_by: Vec<Dimension>,
    /// `where` filters, combined with AND: a ticket (or rating) counts only if, for each
    /// `(dimension, value)`, one of its keys for the dimension is `value`.
    pub filters: Vec<(Dimension, String)>,
    /// The N of "response rate within N hours".
    pub response_hours: Vec<u32>,
    /// First-contact resolution: the days after the first solve in which another ticket of the
    /// same customer makes it no FCR (default [`FCR_WINDOW_DAYS_DEFAULT`]).
    pub fcr_window_days: u32,
}

impl Default for ReportQuery {
    fn default() -> ReportQuery {
        ReportQuery {
            from: None,
            to: None,
            now: None,
            group_by: None,
            then_by: Vec::new(),
            filters: Vec::new(),
            response_hours: vec![3, 6, 16, 24],
            fcr_window_days: FCR_WINDOW_DAYS_DEFAULT,
        }
    }
}

/// A count with the tickets behind it, sorted by id.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Drill {
    /// How many.
    pub count: usize,
    /// Which (ticket ids, sorted, each once).
    pub tickets: DrillTickets,
}

/// The tickets of a [`Drill`]: ticket ids sorted, each once. A report's drill-downs share one
/// list of every ticket of the report and each holds positions in it (integers), not copies of
/// ids: a report on a large store has millions of drill-down entries. Compares, and prints
/// with `{:?}`, as its list of ids.
#[derive(Clone)]
pub struct DrillTickets {
    /// The ids the positions index (ascending ids).
    ids: Arc<[TicketId]>,
    /// Positions in `ids`, ascending, each once.
    ranks: Vec<u32>,
}

impl DrillTickets {
    /// The ids, in order (ascending).
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &TicketId> + DoubleEndedIterator + Clone + '_ {
        self.ranks.iter().map(|rank| self.id_of(*rank))
    }

    /// How many ids.
    pub fn len(&self) -> usize {
        self.ranks.len()
    }

    /// No ids.
    pub fn is_empty(&self) -> bool {
        self.ranks.is_empty()
    }

    /// The `index`-th id.
    pub fn get(&self, index: usize) -> Option<&TicketId> {
        self.ranks.get(index).map(|rank| self.id_of(*rank))
    }

    /// Whether `id` is one of the ids. O(log n).
    pub fn contains(&self, id: &TicketId) -> bool {
        self.ranks.binary_search_by(|rank| self.id_of(*rank).cmp(id)).is_ok()
    }

    /// The ids copied into a list.
    pub fn to_vec(&self) -> Vec<TicketId> {
        self.iter().cloned().collect()
    }

    /// The id at position `rank` of the shared list.
    #[expect(clippy::indexing_slicing, reason = "the ranks are positions in ids: every constructor makes them so")]
    fn id_of(&self, rank: u32) -> &TicketId {
        &self.ids[rank as usize]
    }
}

impl Default for DrillTickets {
    fn default() -> DrillTickets {
        DrillTickets { ids: Arc::from(Vec::new()), ranks: Vec::new() }
    }
}

/// Ids given sorted, each once (as a drill-down's are).
impl From<Vec<TicketId>> for DrillTickets {
    fn from(ids: Vec<TicketId>) -> DrillTickets {
        let ranks = (0..ids.len()).map(to_rank).collect();
        DrillTickets { ids: ids.into(), ranks }
    }
}

impl PartialEq for DrillTickets {
    fn eq(&self, other: &DrillTickets) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl Eq for DrillTickets {}

impl PartialEq<[TicketId]> for DrillTickets {
    fn eq(&self, other: &[TicketId]) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl PartialEq<Vec<TicketId>> for DrillTickets {
    fn eq(&self, other: &Vec<TicketId>) -> bool {
        *self == **other
    }
}

impl std::fmt::Debug for DrillTickets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// Every ticket of the report by rank — the tickets of the projection and the tickets ratings
/// name that it does not hold — : rank `r` is the `r`-th id in id order, so sorting ranks sorts
/// ids (integers sort much faster than strings).
struct Ranked {
    /// The ids in rank order, shared by every drill-down of the report: a drill-down holds
    /// ranks into it, not copies of ids (a report's drill-downs hold millions).
    ids: Arc<[TicketId]>,
}

/// The bytes of an id an [`IdKey`] holds: every id kept inline
/// ([`rapport_events::TICKET_ID_INLINE_BYTES`]) fits.
const ID_KEY_BYTES: usize = 24;

/// A sort key of a ticket id: its first [`ID_KEY_BYTES`] bytes, big-endian, zero-padded, and
/// its length. Keys whose bytes differ order as their ids do (a shorter id is a prefix, and
/// sorts first, exactly when its padding compares lower). Equal bytes of two ids that both fit
/// are ids equal up to trailing NULs: the shorter sorts first, and equal lengths are equal ids.
/// Only longer ids fall back to their texts: comparing integers saves following every id's
/// pointer.
#[derive(Debug, Clone, Copy)]
pub(crate) struct IdKey {
    high: u128,
    low: u64,
    len: usize,
}

impl IdKey {
    fn of(id: &TicketId) -> IdKey {
        let text = id.as_str().as_bytes();
        let (mut high, mut low) = ([0u8; 16], [0u8; 8]);
        for (byte, source) in high.iter_mut().chain(low.iter_mut()).zip(text) {
            *byte = *source;
        }
        IdKey { high: u128::from_be_bytes(high), low: u64::from_be_bytes(low), len: text.len() }
    }

    /// How `id`, of this key, compares with `other_id`, of `other`, as the ids compare: the
    /// ids are read only when the keys cannot tell.
    fn cmp_ids(&self, id: &TicketId, other: &IdKey, other_id: &TicketId) -> std::cmp::Ordering {
        (self.high, self.low).cmp(&(other.high, other.low)).then_with(|| {
            if self.len.max(other.len) <= ID_KEY_BYTES {
                self.len.cmp(&other.len)
            } else {
                id.cmp(other_id)
            }
        })
    }
}

/// Items with the keys of their ids, sorted by id.
pub(crate) fn keyed_by_id<'a, T>(items: impl Iterator<Item = (&'a TicketId, T)>) -> Vec<(IdKey, &'a TicketId, T)> {
    let mut keyed: Vec<(IdKey, &TicketId, T)> = items.map(|(id, item)| (IdKey::of(id), id, item)).collect();
    keyed.sort_unstable_by(|(a, x, _), (b, y, _)| a.cmp_ids(x, b, y));
    keyed
}

/// Sorts `items` by the id `id_of` gives, as sorting by the ids would.
#[cfg(test)]
pub(crate) fn sort_by_id_for_tests(ids: &mut Vec<&TicketId>) {
    let keyed = keyed_by_id(ids.drain(..).map(|id| (id, ())));
    ids.extend(keyed.into_iter().map(|(_, id, ())| id));
}

/// A count as a rank: fewer than 2^32 tickets (a projection that large would not fit in
/// memory).
fn to_rank(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// The rank of a rated ticket the projection does not hold: a new one, unless it is the
/// `last` ranked (rated more than once).
fn rank_rated<'a>(
    ranked: &mut Vec<TicketId>,
    last: &mut Option<(IdKey, &'a TicketId)>,
    key: IdKey,
    id: &'a TicketId,
) -> u32 {
    if !last.is_some_and(|(last_key, last_id)| last_key.cmp_ids(last_id, &key, id).is_eq()) {
        ranked.push(id.clone());
        *last = Some((key, id));
    }
    to_rank(ranked.len()).saturating_sub(1)
}

/// What [`Ranked::new`] gives besides the ranking.
struct Ranks {
    /// The index of each ticket given and its rank, in rank order.
    order: Vec<(usize, u32)>,
    /// The rank of each rating's ticket, by rating index (`None` for a rating without one).
    of_rating: Vec<Option<u32>>,
}

impl Ranked {
    /// Ranks the tickets `ids` (distinct, in any order) and the tickets `rated` names (ratings
    /// about a ticket, `(ticket, rating index)`, of `ratings` ratings); a rated ticket among
    /// `ids` gets its rank. O((tickets + rated) · log), reading only `ids` and `rated`.
    fn new<'a>(ids: &'a [TicketId], rated: &[(&'a TicketId, usize)], ratings: usize) -> (Ranked, Ranks) {
        let records = keyed_by_id(ids.iter().zip(0..));
        let named = keyed_by_id(rated.iter().map(|(id, index)| (*id, *index)));
        let mut ranked: Vec<TicketId> = Vec::with_capacity(ids.len());
        let mut ranks = Ranks { order: Vec::with_capacity(ids.len()), of_rating: vec![None; ratings] };
        // The latest ticket ranked, to rank a ticket rated more than once once.
        let mut last: Option<(IdKey, &'a TicketId)> = None;
        let mut named = named.into_iter().peekable();
        // A merge of two sorted lists.
        for (key, id, index) in records {
            while let Some((rated_key, rated_id, rating)) =
                named.next_if(|(rated_key, rated_id, _)| rated_key.cmp_ids(rated_id, &key, id).is_le())
            {
                let rank = if rated_key.cmp_ids(rated_id, &key, id).is_eq() {
                    to_rank(ranked.len())
                } else {
                    rank_rated(&mut ranked, &mut last, rated_key, rated_id)
                };
                if let Some(slot) = ranks.of_rating.get_mut(rating) {
                    *slot = Some(rank);
                }
            }
            ranks.order.push((index, to_rank(ranked.len())));
            ranked.push(id.clone());
            last = Some((key, id));
        }
        for (rated_key, rated_id, rating) in named {
            let rank = rank_rated(&mut ranked, &mut last, rated_key, rated_id);
            if let Some(slot) = ranks.of_rating.get_mut(rating) {
                *slot = Some(rank);
            }
        }
        (Ranked { ids: ranked.into() }, ranks)
    }

    /// [`Ranked::new`] of the projection's tickets `records`, in their id order, for the
    /// `ratings` at `positions` in the projection's ratings, when every rated ticket is among
    /// the tickets (the ranking is then the order itself); `None` when one is not. Each
    /// rating's ticket is found once and remembered in `records` (checked before it is used).
    /// O(tickets + ratings).
    fn of_order(records: &TicketRecords, ratings: &[&RatingRecord], positions: &[usize]) -> Option<(Ranked, Ranks)> {
        let order = records.id_order();
        // Poisoned (a report panicked meanwhile): the general ranking instead.
        let mut remembered = records.rated().lock().ok()?;
        let mut of_rating = Vec::with_capacity(ratings.len());
        let rank_of = |index: u32| order.rank_of.get(index as usize).copied();
        for (rating, position) in ratings.iter().zip(positions) {
            let Some(id) = &rating.ticket_id else {
                of_rating.push(None);
                continue;
            };
            let known = remembered
                .get(*position)
                .and_then(|index| rank_of(*index))
                .filter(|rank| order.ids.get(*rank as usize) == Some(id));
            let rank = match known {
                Some(rank) => rank,
                None => {
                    let index = u32::try_from(records.index_of(id)?).ok()?;
                    if remembered.len() <= *position {
                        remembered.resize(position.saturating_add(1), u32::MAX);
                    }
                    if let Some(slot) = remembered.get_mut(*position) {
                        *slot = index;
                    }
                    rank_of(index)?
                }
            };
            of_rating.push(Some(rank));
        }
        let order_of = order.records.iter().zip(0u32..).map(|(index, rank)| (*index as usize, rank)).collect();
        Some((Ranked { ids: Arc::clone(&order.ids) }, Ranks { order: order_of, of_rating }))
    }

    /// The drill-down of ranks in any order, repeated or not: ranks taken in rank order (most
    /// are) are only checked.
    fn drill(&self, mut ranks: Vec<u32>) -> Drill {
        if !ranks.is_sorted_by(|a, b| a < b) {
            ranks.sort_unstable();
            ranks.dedup();
        }
        self.drill_sorted(ranks)
    }

    /// [`Ranked::drill`] of ranks already ascending, each once: the drill-down keeps them.
    fn drill_sorted(&self, ranks: Vec<u32>) -> Drill {
        debug_assert!(ranks.is_sorted_by(|a, b| a < b), "ranks must ascend strictly");
        debug_assert!(ranks.last().is_none_or(|last| (*last as usize) < self.ids.len()), "ranks are of the ids");
        Drill { count: ranks.len(), tickets: DrillTickets { ids: Arc::clone(&self.ids), ranks } }
    }
}

fn rate(part: usize, whole: usize) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

/// Median and 90th percentile of a duration metric (nearest rank), in minutes.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Quantiles {
    /// Tickets that have the metric.
    pub n: usize,
    /// Calendar median.
    pub calendar_median: Option<f64>,
    /// Calendar 90th percentile.
    pub calendar_p90: Option<f64>,
    /// Business median.
    pub business_median: Option<f64>,
    /// Business 90th percentile.
    pub business_p90: Option<f64>,
    /// The tickets the quantiles are taken over.
    pub tickets: Drill,
}

/// The index of rank ⌈p·n⌉ (at least 1) in an ascending list of `n` values.
fn nearest_rank_index(n: usize, p: f64) -> usize {
    ((p * n as f64).ceil() as usize).clamp(1, n) - 1
}

/// `value` as an integer that orders as `f64::total_cmp` orders values (what `total_cmp`
/// compares): flipping every bit but the sign of a negative value. Its own inverse.
fn total_order_key(value: i64) -> i64 {
    value ^ ((((value >> 63) as u64) >> 1) as i64)
}

/// The median and the 90th percentile (nearest rank) of `values`, in the order of
/// `f64::total_cmp`: two selections, O(n), instead of a sort (under a total order the value at
/// an index of the sorted list is the same whichever way it is found), over integer keys of the
/// values ([`total_order_key`]) rather than the values.
fn median_and_p90(values: impl Iterator<Item = f64>) -> (Option<f64>, Option<f64>) {
    let mut keys: Vec<i64> = values.map(|value| total_order_key(value.to_bits() as i64)).collect();
    if keys.is_empty() {
        return (None, None);
    }
    let (median, p90) = (nearest_rank_index(keys.len(), 0.5), nearest_rank_index(keys.len(), 0.9));
    let (_, median_key, above) = keys.select_nth_unstable(median);
    let median_key = *median_key;
    // Every value above the median's index is at or above it: the 90th is among them.
    let p90_key = match p90.checked_sub(median + 1) {
        Some(index) => *above.select_nth_unstable(index).1,
        None => median_key,
    };
    let value = |key: i64| f64::from_bits(total_order_key(key) as u64);
    (Some(value(median_key)), Some(value(p90_key)))
}

fn quantiles(values: &[(u32, Minutes)], ranked: &Ranked) -> Quantiles {
    let (calendar_median, calendar_p90) = median_and_p90(values.iter().map(|(_, m)| m.calendar));
    let (business_median, business_p90) = median_and_p90(values.iter().map(|(_, m)| m.business));
    Quantiles {
        n: values.len(),
        calendar_median,
        calendar_p90,
        business_median,
        business_p90,
        tickets: ranked.drill(values.iter().map(|(rank, _)| *rank).collect()),
    }
}

/// SLA attainment of one target.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SlaCounts {
    /// Targets met at a moment inside the period (the reply or the solve).
    pub achieved: Drill,
    /// Targets that ran out at a moment inside the period (whenever the ticket was created).
    pub breached: Drill,
    /// Targets still running at `now`.
    pub active: Drill,
    /// achieved / (achieved + breached), in percent.
    pub percent_achieved: Option<f64>,
}

/// Satisfaction scores.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Satisfaction {
    /// CSAT answers (1–5).
    pub csat_responses: usize,
    /// CSAT answers of 4 or 5.
    pub csat_satisfied: usize,
    /// Share of satisfied answers, in percent.
    pub csat_percent: Option<f64>,
    /// NPS answers (0–10).
    pub nps_responses: usize,
    /// 9–10.
    pub promoters: usize,
    /// 0–6.
    pub detractors: usize,
    /// % promoters − % detractors.
    pub nps: Option<f64>,
    /// CES answers (1–7).
    pub ces_responses: usize,
    /// Mean CES.
    pub ces_mean: Option<f64>,
    /// Tickets rated.
    pub tickets: Drill,
}

/// Satisfaction of the ratings given in one calendar period.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SatisfactionRow {
    /// `2012-05-14`, `2012-W20` or `2012-05` (UTC).
    pub period: String,
    /// The scores.
    pub satisfaction: Satisfaction,
}

/// Tickets created and solved in one calendar period.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PeriodRow {
    /// `2012-05-14`, `2012-W20` or `2012-05` (UTC).
    pub period: String,
    /// Created in the period.
    pub created: Drill,
    /// Solved or closed now, with the latest solve in the period.
    pub solved: Drill,
    /// Change of `created` against the previous calendar period (0.25 = +25 %); `None` for the
    /// first row or when the previous period had none.
    pub created_change: Option<f64>,
    /// Change of `solved` against the previous calendar period.
    pub solved_change: Option<f64>,
}

/// Tickets unsolved at the end of one day.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct BacklogRow {
    /// `2012-05-14` (UTC).
    pub day: String,
    /// The tickets unsolved at the day's end.
    pub unsolved: Drill,
}

/// Solves per agent.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct AgentThroughput {
    /// The agent.
    pub agent: String,
    /// Solves in the period while the agent was the assignee.
    pub solved: usize,
    /// The tickets of those solves.
    pub tickets: Drill,
    /// Days (UTC) overlapping the period on which the agent replied publicly or solved.
    pub active_days: usize,
    /// `solved / active_days`.
    pub per_active_day: Option<f64>,
}

/// Bots on the tickets created in the period (docs/metrics.md, "Actors").
#[derive(Debug, Clone, PartialEq, Default)]
pub struct BotCounts {
    /// Created in the period with a public bot message.
    pub tickets: Drill,
    /// Of those, a public agent message followed the first bot message.
    pub handoff: Drill,
    /// handoff / tickets.
    pub handoff_rate: Option<f64>,
    /// Of `tickets`, solved or closed now.
    pub solved: Drill,
    /// Of `solved`, without any public agent (human) message.
    pub bot_resolved: Drill,
    /// bot_resolved / solved.
    pub bot_resolved_rate: Option<f64>,
}

/// First-contact resolution (docs/metrics.md, "First-contact resolution").
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FcrCounts {
    /// Tickets first solved in the period and at least the window before `now` (tickets closed
    /// by a merge excluded).
    pub solved: Drill,
    /// Of those, one-touch now, and the same customer opened no other ticket (any channel) from
    /// the ticket's creation to the window's end after its first solve.
    pub fcr: Drill,
    /// fcr / solved.
    pub fcr_rate: Option<f64>,
}

/// Aggregates of one group (or of everything).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct GroupReport {
    /// The dimension value (`all` without grouping, `(none)` when unset); nested groupings
    /// join their keys with ` / `.
    pub key: String,
    /// The key of each grouping dimension, outermost first (`["all"]` without grouping).
    pub keys: Vec<String>,
    /// Tickets created in the period.
    pub created: Drill,
    /// Tickets solved or closed now whose latest solve is in the period.
    pub solved: Drill,
    /// Of the created: unsolved at `now`.
    pub unsolved: Drill,
    /// Of the created: reopened at least once.
    pub reopened: Drill,
    /// reopened / created.
    pub reopen_rate: Option<f64>,
    /// Of the created and now solved or closed: one-touch.
    pub one_touch: Drill,
    /// one-touch / (created and now solved or closed).
    pub one_touch_rate: Option<f64>,
    /// Of the created: flagged `repeat_inquiry`.
    pub repeat_inquiry: Drill,
    /// repeat inquiries / created.
    pub repeat_inquiry_rate: Option<f64>,
    /// Quantiles of each duration metric over the created tickets that have it.
    pub durations: BTreeMap<&'static str, Quantiles>,
    /// `(N, created tickets first resolved within N calendar hours of creation, share of created)`.
    pub response_rates: Vec<(u32, Drill, Option<f64>)>,
    /// SLA: first reply.
    pub sla_first_reply: SlaCounts,
    /// SLA: next reply.
    pub sla_next_reply: SlaCounts,
    /// SLA: resolution.
    pub sla_resolution: SlaCounts,
    /// Satisfaction of ratings given in the period.
    pub satisfaction: Satisfaction,
    /// Satisfaction per day.
    pub satisfaction_daily: Vec<SatisfactionRow>,
    /// Satisfaction per ISO week.
    pub satisfaction_weekly: Vec<SatisfactionRow>,
    /// Satisfaction per month.
    pub satisfaction_monthly: Vec<SatisfactionRow>,
    /// Per day.
    pub daily: Vec<PeriodRow>,
    /// Per ISO week.
    pub weekly: Vec<PeriodRow>,
    /// Per month.
    pub monthly: Vec<PeriodRow>,
    /// Tickets unsolved at the end of each day.
    pub backlog: Vec<BacklogRow>,
    /// Per agent, sorted by agent.
    pub throughput: Vec<AgentThroughput>,
    /// Bot handoffs and bot resolutions.
    pub bots: BotCounts,
    /// First-contact resolution.
    pub fcr: FcrCounts,
}

/// The full report.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Report {
    /// Period start.
    pub from: Option<Timestamp>,
    /// Period end (exclusive) as used: the query's, or `now` + 1 µs.
    pub to: Timestamp,
    /// Measurement time.
    pub now: Timestamp,
    /// The period had more than [`REPORT_DAYS_MAX`] days: the per-day, per-week and per-month
    /// rows start [`REPORT_DAYS_MAX`] days before its end (totals still cover all of it).
    pub rows_truncated: bool,
    /// One entry per group (a single `all` entry without grouping), sorted by key.
    pub groups: Vec<GroupReport>,
    /// Survey offers and answers in the period, per survey (not grouped).
    pub surveys: SurveyReport,
    /// QA reviews in the period (not grouped: it has its own breakdowns).
    pub qa: QaReport,
}

pub(crate) fn keys(record: &TicketRecord, dimension: Option<&Dimension>) -> Vec<String> {
    let none = || "(none)".to_owned();
    let state = &record.state;
    match dimension {
        None => vec!["all".to_owned()],
        Some(Dimension::Channel) => vec![state.channels.first().map_or_else(none, |c| c.to_string())],
        Some(Dimension::Group) => vec![state.group.clone().unwrap_or_else(none)],
        Some(Dimension::Priority) => vec![state.priority.map_or_else(none, |p| p.to_string())],
        Some(Dimension::Agent) => vec![state.assignee.clone().unwrap_or_else(none)],
        Some(Dimension::Type) => vec![state.inquiry_type.clone().unwrap_or_else(none)],
        Some(Dimension::Tag) if state.tags.is_empty() => vec![none()],
        Some(Dimension::Tag) => state.tags.clone(),
        // Resolved by `grouping` (they need more than the record).
        Some(Dimension::Field(_) | Dimension::Trait(_) | Dimension::Segment | Dimension::Organization) => vec![none()],
    }
}

pub(crate) fn rating_keys(
    rating: &RatingRecord,
    projection: &MetricsProjection,
    dimension: Option<&Dimension>,
) -> Vec<String> {
    let none = || "(none)".to_owned();
    match dimension {
        None => vec!["all".to_owned()],
        Some(Dimension::Agent) => vec![rating.agent.clone().unwrap_or_else(none)],
        Some(Dimension::Group) => vec![rating.group.clone().unwrap_or_else(none)],
        Some(Dimension::Channel) => vec![rating.channel.as_ref().map_or_else(none, |c| c.to_string())],
        Some(_) => match rating.ticket_id.as_ref().and_then(|t| projection.ticket(t)) {
            Some(record) => keys(record, dimension),
            None => vec![none()],
        },
    }
}

fn in_range(at: i64, from: Option<i64>, to: i64) -> bool {
    from.is_none_or(|from| at >= from) && at < to
}

fn day_of(at: i64) -> i64 {
    at.div_euclid(DAY_MICROS)
}

/// The UTC day, ISO week and month keys of day number `day`.
fn period_keys(day: i64) -> [String; 3] {
    let date = DateTime::from_timestamp_micros(day.saturating_mul(DAY_MICROS)).unwrap_or_default().date_naive();
    let week = date.iso_week();
    [
        date.format("%Y-%m-%d").to_string(),
        format!("{}-W{:02}", week.year(), week.week()),
        date.format("%Y-%m").to_string(),
    ]
}

/// The days the rows cover, and for each granularity (day, week, month) the row of each day.
struct Calendar {
    first_day: i64,
    /// `rows[kind][day - first_day]`: the row index of that day.
    row_of_day: [Vec<usize>; 3],
    /// `names[kind][row]`.
    names: [Vec<String>; 3],
}

impl Calendar {
    fn new(first_day: i64, last_day: i64) -> Calendar {
        let mut calendar = Calendar { first_day, row_of_day: Default::default(), names: Default::default() };
        let mut day = first_day;
        while day <= last_day {
            let keys = period_keys(day);
            for ((key, names), row_of_day) in keys.into_iter().zip(&mut calendar.names).zip(&mut calendar.row_of_day) {
                if names.last() != Some(&key) {
                    names.push(key);
                }
                row_of_day.push(names.len() - 1);
            }
            day += 1;
        }
        calendar
    }

    fn days(&self) -> usize {
        self.row_of_day[0].len()
    }

    /// The row of instant `at` for granularity `kind`, if its day is covered.
    fn row(&self, kind: usize, at: i64) -> Option<usize> {
        let index = usize::try_from(day_of(at) - self.first_day).ok()?;
        self.row_of_day.get(kind)?.get(index).copied()
    }

    /// The row names of granularity `kind`.
    #[expect(
        clippy::indexing_slicing,
        reason = "kind is one of the constants 0, 1, 2 the report passes, one per granularity"
    )]
    fn names(&self, kind: usize) -> &[String] {
        &self.names[kind]
    }
}

/// One ticket with what the report needs of it, computed once. The record's fields the groups
/// read are copied here: the rows are one array, the records are spread over a large map.
struct Row<'a> {
    record: &'a TicketRecord,
    /// Position in id order ([`Ranked`]).
    rank: u32,
    /// Creation.
    created_at: i64,
    /// Unsolved now.
    unsolved: bool,
    /// The latest solve, if the ticket is solved or closed now.
    solved_at: Option<i64>,
    /// The first solve.
    first_solved_at: Option<i64>,
    /// Closed by a merge into another ticket.
    merged_away: bool,
    repeat_inquiry: bool,
    /// The ticket's transitions in [`Flat::transitions`].
    transitions: Range<usize>,
    /// The ticket's solves in [`Flat::solves`].
    solves: Range<usize>,
    metrics: TicketMetrics,
    sla: Option<TicketSla>,
    /// `None`: not counted for FCR (not solved, merged away, or solved within the window
    /// before `now`); else whether it is FCR.
    fcr: Option<bool>,
}

/// The transitions and solves of every ticket, copied into two arrays (each [`Row`] knows its
/// ranges): the backlog and the throughput read them in rank order, no order of the records'
/// own lists in memory.
#[derive(Default)]
struct Flat<'a> {
    /// Each ticket's [`TicketRecord::transitions`] by time, ties in fold order (imports may
    /// record them out of order).
    transitions: Vec<(i64, bool)>,
    /// Each ticket's [`TicketRecord::solves`]: time and assignee.
    solves: Vec<(i64, Option<&'a str>)>,
}

impl<'a> Row<'a> {
    /// The row of `record` (rank 0 until ranked), its transitions and solves added to `flat`.
    fn new(record: &'a TicketRecord, metrics: TicketMetrics, flat: &mut Flat<'a>) -> Row<'a> {
        let state = &record.state;
        let unsolved = state.status.is_unsolved();
        let start = flat.transitions.len();
        flat.transitions.extend_from_slice(&record.transitions);
        if let Some(added) = flat.transitions.get_mut(start..) {
            if !added.is_sorted_by_key(|(at, _)| *at) {
                // A stable sort: ties stay in fold order.
                added.sort_by_key(|(at, _)| *at);
            }
        }
        let transitions = start..flat.transitions.len();
        let start = flat.solves.len();
        flat.solves.extend(record.solves.iter().map(|(at, agent)| (*at, agent.as_deref())));
        Row {
            record,
            rank: 0,
            created_at: state.created_at,
            unsolved,
            solved_at: if unsolved { None } else { state.last_solved_at },
            first_solved_at: state.first_solved_at,
            merged_away: record.merged_away,
            repeat_inquiry: state.repeat_inquiry,
            transitions,
            solves: start..flat.solves.len(),
            metrics,
            sla: None,
            fcr: None,
        }
    }

    /// What first-contact resolution reads of the ticket.
    fn fcr_ticket(&self) -> FcrTicket {
        FcrTicket {
            created_at: self.created_at,
            first_solved_at: self.first_solved_at,
            merged_away: self.merged_away,
            one_touch: self.metrics.one_touch,
        }
    }
}

/// How a duration metric is read from a ticket's metrics.
type Pick = fn(&TicketMetrics) -> Option<Minutes>;

/// The duration metrics of a report, by name.
const DURATIONS: [(&str, Pick); 7] = [
    ("agent_wait", |m| Some(m.agent_wait)),
    ("bot_handoff", |m| m.bot_handoff),
    ("first_reply", |m| m.first_reply),
    ("first_resolution", |m| m.first_resolution),
    ("full_resolution", |m| m.full_resolution),
    ("on_hold", |m| Some(m.on_hold)),
    ("requester_wait", |m| Some(m.requester_wait)),
];

/// The created and the solved of one row of a granularity.
type PeriodRanks = (Vec<u32>, Vec<u32>);

/// What one pass over a group's rows collects: the ranks behind each count, ascending (rows
/// come in rank order). Created, unless named otherwise, means created in the period.
struct Pass {
    created: Vec<u32>,
    /// Solved (latest solve) in the period, whenever created.
    solved: Vec<u32>,
    unsolved: Vec<u32>,
    reopened: Vec<u32>,
    /// Created tickets with a one-touch verdict (solved).
    solved_created: usize,
    one_touch: Vec<u32>,
    repeat_inquiry: Vec<u32>,
    /// For each of [`DURATIONS`], the created tickets that have it, with its value.
    durations: [Vec<(u32, Minutes)>; 7],
    /// For each of the query's response hours, the created tickets first solved within them.
    response_within: Vec<Vec<u32>>,
    /// Created tickets with bot messages.
    bot_tickets: Vec<u32>,
    bot_solved: Vec<u32>,
    bot_resolved: Vec<u32>,
    bot_handoff: Vec<u32>,
    /// Counted for FCR and first solved in the period, whenever created.
    fcr_solved: Vec<u32>,
    /// Those of `fcr_solved` that are FCR.
    fcr_true: Vec<u32>,
    /// For each granularity (day, week, month), the created and the solved of each of its
    /// rows.
    periods: [(usize, Vec<PeriodRanks>); 3],
}

impl Pass {
    /// For `rows` rows: the lists most rows enter are made that large at once (each grown
    /// one doubling at a time was a tenth of a report).
    fn new(response_hours: usize, calendar: &Calendar, rows: usize) -> Pass {
        let buckets = |kind: usize| (kind, vec![(Vec::new(), Vec::new()); calendar.names(kind).len()]);
        Pass {
            created: Vec::with_capacity(rows),
            solved: Vec::with_capacity(rows),
            unsolved: Vec::new(),
            reopened: Vec::new(),
            solved_created: 0,
            one_touch: Vec::new(),
            repeat_inquiry: Vec::new(),
            durations: std::array::from_fn(|_| Vec::with_capacity(rows)),
            response_within: vec![Vec::new(); response_hours],
            bot_tickets: Vec::new(),
            bot_solved: Vec::new(),
            bot_resolved: Vec::new(),
            bot_handoff: Vec::new(),
            fcr_solved: Vec::new(),
            fcr_true: Vec::new(),
            periods: [buckets(0), buckets(1), buckets(2)],
        }
    }

    /// Counts `row` (after every row of a lower rank), for a period `[from, to)` and response
    /// hours `hours` (the query's, in the order [`Pass::new`] was given their number).
    fn add(&mut self, row: &Row<'_>, calendar: &Calendar, (from, to): (Option<i64>, i64), hours: &[u32]) {
        let (rank, metrics) = (row.rank, &row.metrics);
        let created = in_range(row.created_at, from, to);
        let solved_at = row.solved_at.filter(|at| in_range(*at, from, to));
        if solved_at.is_some() {
            self.solved.push(rank);
        }
        if row.fcr.is_some() && row.first_solved_at.is_some_and(|at| in_range(at, from, to)) {
            self.fcr_solved.push(rank);
            if row.fcr == Some(true) {
                self.fcr_true.push(rank);
            }
        }
        for (kind, buckets) in &mut self.periods {
            // Rows of `kind` are indices of its names, so the bucket always exists.
            if created {
                if let Some((created, _)) = calendar.row(*kind, row.created_at).and_then(|i| buckets.get_mut(i)) {
                    created.push(rank);
                }
            }
            if let Some((_, solved)) = solved_at.and_then(|at| calendar.row(*kind, at)).and_then(|i| buckets.get_mut(i))
            {
                solved.push(rank);
            }
        }
        if !created {
            return;
        }
        self.created.push(rank);
        if row.unsolved {
            self.unsolved.push(rank);
        }
        if metrics.reopens > 0 {
            self.reopened.push(rank);
        }
        self.solved_created += usize::from(metrics.one_touch.is_some());
        if metrics.one_touch == Some(true) {
            self.one_touch.push(rank);
        }
        if row.repeat_inquiry {
            self.repeat_inquiry.push(rank);
        }
        for ((_, pick), values) in DURATIONS.iter().zip(&mut self.durations) {
            if let Some(value) = pick(metrics) {
                values.push((rank, value));
            }
        }
        for (hours, within) in hours.iter().zip(&mut self.response_within) {
            let limit = i64::from(*hours) * HOUR_MICROS;
            if row.first_solved_at.is_some_and(|at| at.saturating_sub(row.created_at) <= limit) {
                within.push(rank);
            }
        }
        if metrics.bot_messages > 0 {
            self.bot_tickets.push(rank);
            if metrics.one_touch.is_some() {
                self.bot_solved.push(rank);
                if metrics.replies == 0 {
                    self.bot_resolved.push(rank);
                }
            }
            if metrics.bot_handoff.is_some() {
                self.bot_handoff.push(rank);
            }
        }
    }
}

/// The rows of one granularity: each row's created and solved (ranks ascending), and the
/// change of each against the row before.
fn period_rows(buckets: Vec<PeriodRanks>, ranked: &Ranked, names: &[String]) -> Vec<PeriodRow> {
    let change = |now: usize, before: usize| (before > 0).then(|| (now as f64 - before as f64) / before as f64);
    let mut previous: Option<(usize, usize)> = None;
    buckets
        .into_iter()
        .zip(names)
        .map(|((created, solved), period)| {
            let (created, solved) = (ranked.drill(created), ranked.drill(solved));
            let row = PeriodRow {
                period: period.clone(),
                created_change: previous.and_then(|(c, _)| change(created.count, c)),
                solved_change: previous.and_then(|(_, s)| change(solved.count, s)),
                created,
                solved,
            };
            previous = Some((row.created.count, row.solved.count));
            row
        })
        .collect()
}

/// A ticket is unsolved at instant `x` when the latest of its transitions before `x` (by time,
/// ties in fold order) says so; a ticket without transitions before `x` does not exist yet. So
/// each transition decides the day ends from its own up to the next one's: every ticket adds
/// its rank to the days it is unsolved at, in rank order (rows are), and no day's list needs a
/// sort. O(transitions + the rows' tickets).
fn backlog(rows: &[&Row<'_>], ranked: &Ranked, calendar: &Calendar, flat: &Flat<'_>) -> Vec<BacklogRow> {
    let days = calendar.days();
    let mut open: Vec<Vec<u32>> = vec![Vec::new(); days];
    // The first day whose end is after `at` (a change at `at` counts from that day's end on).
    let counts_from = |at: i64| (day_of(at) - calendar.first_day).clamp(0, days as i64) as usize;
    for row in rows {
        // By time, ties in fold order ([`Flat::transitions`]).
        let transitions = flat.transitions.get(row.transitions.clone()).unwrap_or_default();
        for (index, (at, unsolved)) in transitions.iter().enumerate() {
            if !*unsolved {
                continue;
            }
            let until = transitions.get(index + 1).map_or(days, |(next, _)| counts_from(*next));
            for day in open.get_mut(counts_from(*at)..until).into_iter().flatten() {
                day.push(row.rank);
            }
        }
    }
    open.into_iter()
        .zip(calendar.names(0))
        .map(|(ranks, day)| BacklogRow { day: day.clone(), unsolved: ranked.drill_sorted(ranks) })
        .collect()
}

/// Where a target's outcome counts: achieved and breached in the period containing their
/// moment, active at `now`.
fn sla_counts(
    rows: &[&Row<'_>],
    ranked: &Ranked,
    pick: fn(&TicketSla) -> Option<SlaStatus>,
    (from, to): (Option<i64>, i64),
) -> SlaCounts {
    let (mut achieved, mut breached, mut active) = (Vec::new(), Vec::new(), Vec::new());
    for row in rows {
        match row.sla.as_ref().and_then(pick) {
            Some(SlaStatus::Achieved { at }) if in_range(at, from, to) => achieved.push(row.rank),
            Some(SlaStatus::Breached { at }) if in_range(at, from, to) => breached.push(row.rank),
            Some(SlaStatus::Active { .. }) => active.push(row.rank),
            Some(SlaStatus::Achieved { .. } | SlaStatus::Breached { .. }) | None => {}
        }
    }
    let (achieved, breached, active) = (ranked.drill(achieved), ranked.drill(breached), ranked.drill(active));
    let percent_achieved = rate(achieved.count, achieved.count + breached.count).map(|r| r * 100.0);
    SlaCounts { achieved, breached, active, percent_achieved }
}

/// A rating of the period, with the rank of the ticket it names. The fields the scores read
/// are copied here: the rows are in rank order, the records in time order.
struct RatingRow<'a> {
    rating: &'a RatingRecord,
    /// `None`: the rating names no ticket.
    rank: Option<u32>,
    /// [`RatingRecord::at`].
    at: i64,
    /// [`RatingRecord::survey`].
    survey: Survey,
    /// [`RatingRecord::score`].
    score: u8,
}

/// Scores of the ratings; answers outside their survey's range are ignored.
fn satisfaction<'a>(ratings: impl IntoIterator<Item = &'a RatingRow<'a>>, ranked: &Ranked) -> Satisfaction {
    let mut s = Satisfaction::default();
    let mut ces_sum = 0u64;
    let mut tickets = Vec::new();
    for rating in ratings {
        if !rating.survey.score_range().contains(&rating.score) {
            continue;
        }
        tickets.extend(rating.rank);
        match rating.survey {
            Survey::Csat => {
                s.csat_responses += 1;
                s.csat_satisfied += usize::from(rating.score >= 4);
            }
            Survey::Nps => {
                s.nps_responses += 1;
                s.promoters += usize::from(rating.score >= 9);
                s.detractors += usize::from(rating.score <= 6);
            }
            Survey::Ces => {
                s.ces_responses += 1;
                ces_sum += u64::from(rating.score);
            }
        }
    }
    s.csat_percent = rate(s.csat_satisfied, s.csat_responses).map(|r| r * 100.0);
    s.nps = rate(s.promoters, s.nps_responses)
        .zip(rate(s.detractors, s.nps_responses))
        .map(|(promoters, detractors)| (promoters - detractors) * 100.0);
    s.ces_mean = (s.ces_responses > 0).then(|| ces_sum as f64 / s.ces_responses as f64);
    // Ratings are in rank order: a ticket rated more than once is a run.
    tickets.dedup();
    s.tickets = ranked.drill(tickets);
    s
}

fn satisfaction_rows(
    ratings: &[&RatingRow<'_>],
    ranked: &Ranked,
    calendar: &Calendar,
    kind: usize,
) -> Vec<SatisfactionRow> {
    let mut buckets: Vec<Vec<&RatingRow<'_>>> = vec![Vec::new(); calendar.names(kind).len()];
    for rating in ratings {
        // Rows of `kind` are indices of its names, so the bucket always exists.
        if let Some(bucket) = calendar.row(kind, rating.at).and_then(|i| buckets.get_mut(i)) {
            bucket.push(rating);
        }
    }
    buckets
        .into_iter()
        .zip(calendar.names(kind))
        .map(|(ratings, period)| SatisfactionRow {
            period: period.clone(),
            satisfaction: satisfaction(ratings.iter().copied(), ranked),
        })
        .collect()
}

fn throughput<'a>(
    rows: &[&Row<'_>],
    ranked: &Ranked,
    projection: &MetricsProjection,
    flat: &Flat<'a>,
    (from, to): (Option<i64>, i64),
) -> Vec<AgentThroughput> {
    let mut solved: BTreeMap<&'a str, (usize, Vec<u32>)> = BTreeMap::new();
    for row in rows {
        for (at, agent) in flat.solves.get(row.solves.clone()).unwrap_or_default() {
            if let (Some(agent), true) = (agent, in_range(*at, from, to)) {
                let entry = solved.entry(*agent).or_default();
                entry.0 += 1;
                // Each ticket once (a ticket solved twice by the agent counts twice).
                if entry.1.last() != Some(&row.rank) {
                    entry.1.push(row.rank);
                }
            }
        }
    }
    // Days that overlap [from, to): day d covers [d, d + 1) days.
    let first_day = from.map(day_of);
    let last_day = day_of(to.saturating_sub(1));
    solved
        .into_iter()
        .map(|(agent, (solved, tickets))| {
            let active_days = projection.agent_days().get(agent).map_or(0, |days| {
                days.iter()
                    .filter(|d| first_day.is_none_or(|first| i64::from(**d) >= first) && i64::from(**d) <= last_day)
                    .count()
            });
            AgentThroughput {
                agent: agent.to_owned(),
                solved,
                tickets: ranked.drill(tickets),
                active_days,
                per_active_day: rate(solved, active_days),
            }
        })
        .collect()
}

/// What every group's aggregation shares.
struct Context<'a> {
    projection: &'a MetricsProjection,
    query: &'a ReportQuery,
    ranked: Ranked,
    flat: Flat<'a>,
    calendar: Calendar,
    from: Option<i64>,
    to: i64,
}

fn group_report(
    context: &Context<'_>,
    keys: Vec<String>,
    rows: &[&Row<'_>],
    ratings: &[&RatingRow<'_>],
) -> GroupReport {
    let Context { projection, query, ref ranked, ref calendar, ref flat, from, to } = *context;
    // One pass over the rows (in rank order, so every list of ranks ascends as it is made): a
    // row is read once, not once per aggregate.
    let mut made = Pass::new(query.response_hours.len(), calendar, rows.len());
    for row in rows {
        made.add(row, calendar, (from, to), &query.response_hours);
    }
    let Pass {
        created,
        solved,
        unsolved,
        reopened,
        solved_created,
        one_touch,
        repeat_inquiry,
        durations,
        response_within,
        bot_tickets,
        bot_solved,
        bot_resolved,
        bot_handoff,
        fcr_solved,
        fcr_true,
        periods,
    } = made;
    let created_drill = ranked.drill(created);
    let solved = ranked.drill(solved);
    let (unsolved, reopened) = (ranked.drill(unsolved), ranked.drill(reopened));
    let (one_touch, repeat_inquiry) = (ranked.drill(one_touch), ranked.drill(repeat_inquiry));
    let durations: BTreeMap<&'static str, Quantiles> =
        DURATIONS.iter().zip(durations).map(|((name, _), values)| (*name, quantiles(&values, ranked))).collect();
    let response_rates = query
        .response_hours
        .iter()
        .zip(response_within)
        .map(|(hours, ranks)| {
            let drill = ranked.drill(ranks);
            let share = rate(drill.count, created_drill.count);
            (*hours, drill, share)
        })
        .collect();
    let (bot_solved, bot_resolved) = (ranked.drill(bot_solved), ranked.drill(bot_resolved));
    let handoff = ranked.drill(bot_handoff);
    let bots = BotCounts {
        handoff_rate: rate(handoff.count, bot_tickets.len()),
        bot_resolved_rate: rate(bot_resolved.count, bot_solved.count),
        tickets: ranked.drill(bot_tickets),
        handoff,
        solved: bot_solved,
        bot_resolved,
    };
    let fcr_drill = ranked.drill(fcr_true);
    let fcr = FcrCounts {
        fcr_rate: rate(fcr_drill.count, fcr_solved.len()),
        solved: ranked.drill(fcr_solved),
        fcr: fcr_drill,
    };
    let [daily, weekly, monthly] = periods.map(|(kind, buckets)| period_rows(buckets, ranked, calendar.names(kind)));
    let backlog = backlog(rows, ranked, calendar, flat);
    let sla_first_reply = sla_counts(rows, ranked, |s| s.first_reply, (from, to));
    let sla_next_reply = sla_counts(rows, ranked, |s| s.next_reply, (from, to));
    let sla_resolution = sla_counts(rows, ranked, |s| s.resolution, (from, to));
    let satisfaction_all = satisfaction(ratings.iter().copied(), ranked);
    let satisfaction_daily = satisfaction_rows(ratings, ranked, calendar, 0);
    let satisfaction_weekly = satisfaction_rows(ratings, ranked, calendar, 1);
    let satisfaction_monthly = satisfaction_rows(ratings, ranked, calendar, 2);
    let throughput = throughput(rows, ranked, projection, flat, (from, to));
    GroupReport {
        daily,
        weekly,
        monthly,
        backlog,
        sla_first_reply,
        sla_next_reply,
        sla_resolution,
        satisfaction: satisfaction_all,
        satisfaction_daily,
        satisfaction_weekly,
        satisfaction_monthly,
        throughput,
        bots,
        fcr,
        reopen_rate: rate(reopened.count, created_drill.count),
        one_touch_rate: rate(one_touch.count, solved_created),
        repeat_inquiry_rate: rate(repeat_inquiry.count, created_drill.count),
        key: keys.join(" / "),
        keys,
        created: created_drill,
        solved,
        unsolved,
        reopened,
        one_touch,
        repeat_inquiry,
        durations,
        response_rates,
    }
}

/// Computes the report: every ticket's metrics and SLA at `now` once, then each group's
/// aggregates. O(tickets · log + days · backlog) time. Every identity is its own customer
/// (first-contact resolution and survey pairing) and requester dimensions (`trait:`,
/// `segment`, `organization`) read `(none)`: [`report_with`] resolves both.
pub fn report(projection: &MetricsProjection, query: &ReportQuery) -> Report {
    report_with(projection, query, &|_| None, &|_, _| Vec::new())
}

/// [`report`] with `customer_of` (see [`report_with`]); requester dimensions read `(none)`.
pub fn report_with_customers(
    projection: &MetricsProjection,
    query: &ReportQuery,
    customer_of: &dyn Fn(&Identity) -> Option<CustomerId>,
) -> Report {
    report_with(projection, query, customer_of, &|_, _| Vec::new())
}

/// [`report`], with `customer_of` saying which customer an identity (as recorded) belongs to —
/// identities of one customer are one customer for first-contact resolution and survey
/// pairing; `None` makes the identity its own customer — and the requester dimensions resolved
/// by `requester`. The store passes its customer-360 resolution.
pub fn report_with(
    projection: &MetricsProjection,
    query: &ReportQuery,
    customer_of: &dyn Fn(&Identity) -> Option<CustomerId>,
    requester: &RequesterKeys<'_>,
) -> Report {
    report_in(projection, query, customer_of, None, requester)
}

/// How a caller resolves requesters through handles of their identities: a handle, once given
/// for an identity, must stay that identity's (an interner that only appends). The report
/// remembers each ticket's requester handle in the projection, so that later reports skip the
/// identity lookup (a hash of the identity and a probe of a large map) per ticket.
pub struct HandleResolution<'a> {
    /// The handle of an identity, if it has one yet.
    pub handle_of: &'a dyn Fn(&Identity) -> Option<u32>,
    /// The customer of `identity`, whose handle is the one given: what `customer_of` answers
    /// for it.
    pub customer_of_handle: &'a dyn Fn(u32, &Identity) -> Option<CustomerId>,
}

/// [`report_with`], resolving each ticket's requester through `handles` (remembered per
/// ticket) instead of `customer_of` where it can: the same report, faster when warm.
pub fn report_with_handles(
    projection: &MetricsProjection,
    query: &ReportQuery,
    customer_of: &dyn Fn(&Identity) -> Option<CustomerId>,
    handles: &HandleResolution<'_>,
    requester: &RequesterKeys<'_>,
) -> Report {
    report_in(projection, query, customer_of, Some(handles), requester)
}

/// The customer (or the identity itself) of a ticket's requester, through its remembered
/// handle when there are `handles`.
fn requester_who<'a>(
    record: &'a TicketRecord,
    customer_of: &dyn Fn(&Identity) -> Option<CustomerId>,
    handles: Option<&HandleResolution<'_>>,
) -> Who<'a> {
    let Some(handles) = handles else { return Who::of(&record.requester, customer_of) };
    let cell = &record.requester_handle.0;
    let handle = match cell.get() {
        Some(handle) => Some(*handle),
        None => {
            let handle = (handles.handle_of)(&record.requester);
            if let Some(handle) = handle {
                // Another report may have set it meanwhile: to the same handle.
                let _ = cell.set(handle);
            }
            handle
        }
    };
    match handle {
        Some(handle) => (handles.customer_of_handle)(handle, &record.requester)
            .map_or(Who::Identity(&record.requester), Who::Customer),
        None => Who::of(&record.requester, customer_of),
    }
}

fn report_in(
    projection: &MetricsProjection,
    query: &ReportQuery,
    customer_of: &dyn Fn(&Identity) -> Option<CustomerId>,
    handles: Option<&HandleResolution<'_>>,
    requester: &RequesterKeys<'_>,
) -> Report {
    let now = query.now.map_or_else(|| projection.latest_at().0, |now| now.0);
    let to = query.to.map_or(now.saturating_add(1), |to| to.0);
    let from = query.from.map(|from| from.0);
    let fcr_window = i64::from(query.fcr_window_days).saturating_mul(DAY_MICROS);
    let records: Vec<&TicketRecord> = projection.tickets().collect();
    let (positions, ratings): (Vec<usize>, Vec<&RatingRecord>) =
        projection.ratings().iter().enumerate().filter(|(_, r)| in_range(r.at, from, to)).unzip();
    let ranking = Ranked::of_order(projection.ticket_records(), &ratings, &positions);
    let (ranked, ranks) = ranking.unwrap_or_else(|| {
        // The ids copied in the map's order (their order in memory) into one array: ranking
        // reads only it.
        let ids: Vec<TicketId> = records.iter().map(|r| r.ticket_id.clone()).collect();
        let rated: Vec<(&TicketId, usize)> =
            ratings.iter().enumerate().filter_map(|(index, r)| r.ticket_id.as_ref().map(|id| (id, index))).collect();
        Ranked::new(&ids, &rated, ratings.len())
    });
    let records: Vec<(&TicketRecord, u32)> =
        ranks.order.iter().filter_map(|(index, rank)| Some((*records.get(*index)?, *rank))).collect();
    // Each requester's customer once (the caller's resolution is a lookup in a large map).
    let customer_tickets =
        CustomerTickets::new(records.iter().map(|(r, _)| (requester_who(r, customer_of, handles), r.state.created_at)));
    // The rows in rank order: the groups' lists of ranks are then ascending as they are made.
    let mut flat = Flat::default();
    let mut rows: Vec<Row<'_>> = Vec::with_capacity(records.len());
    for (index, (record, rank)) in records.iter().enumerate() {
        let schedule = projection.schedule_of(&record.state);
        let metrics = record.state.metrics(schedule, now);
        let sla = evaluate_in(projection.policies_of(&record.state), schedule, &record.state, now);
        let mut row = Row { rank: *rank, sla, ..Row::new(record, metrics, &mut flat) };
        row.fcr = customer_tickets.fcr(index, &row.fcr_ticket(), fcr_window, now);
        rows.push(row);
    }
    let mut ratings: Vec<RatingRow<'_>> = ratings
        .into_iter()
        .zip(ranks.of_rating)
        .map(|(rating, rank)| RatingRow { rating, rank, at: rating.at, survey: rating.survey, score: rating.score })
        .collect();
    // In rank order too (those without a ticket last), ties in time order.
    ratings.sort_by_key(|r| r.rank.unwrap_or(u32::MAX));
    // The rows run from the period's first day (or the earliest creation, solve or rating in
    // it) to its last day.
    let earliest = rows
        .iter()
        .flat_map(|r| [Some(r.created_at), r.solved_at])
        .flatten()
        .chain(ratings.iter().map(|r| r.at))
        .filter(|at| in_range(*at, from, to))
        .min();
    let last_day = day_of(to.saturating_sub(1));
    let first_day = from.or(earliest).map(day_of);
    let (calendar, rows_truncated) = match first_day {
        Some(first_day) if first_day <= last_day => {
            let truncated = last_day - first_day >= REPORT_DAYS_MAX as i64;
            let first_day = first_day.max(last_day - (REPORT_DAYS_MAX as i64 - 1));
            (Calendar::new(first_day, last_day), truncated)
        }
        _ => (Calendar::new(0, -1), false),
    };
    let dimensions = dimensions(query);
    let passes = |keys_of: &dyn Fn(&Dimension) -> Vec<String>| {
        query.filters.iter().all(|(dimension, value)| keys_of(dimension).iter().any(|key| key == value))
    };
    let mut groups: BTreeMap<Vec<String>, (Vec<&Row<'_>>, Vec<&RatingRow<'_>>)> = BTreeMap::new();
    if dimensions.is_empty() && query.filters.is_empty() {
        // One group of everything (the `product` of no dimensions), if there is anything: no
        // keys to compute per item.
        if !rows.is_empty() || !ratings.is_empty() {
            groups.insert(vec!["all".to_owned()], (rows.iter().collect(), ratings.iter().collect()));
        }
    } else {
        for row in &rows {
            let keys_of = |d: &Dimension| ticket_keys(projection, row.record, d, requester);
            if !passes(&keys_of) {
                continue;
            }
            for tuple in product(dimensions.iter().map(|d| keys_of(d)).collect()) {
                groups.entry(tuple).or_default().0.push(row);
            }
        }
        for rating in &ratings {
            let keys_of = |d: &Dimension| rating_dimension_keys(projection, rating.rating, d, requester);
            if !passes(&keys_of) {
                continue;
            }
            for tuple in product(dimensions.iter().map(|d| keys_of(d)).collect()) {
                groups.entry(tuple).or_default().1.push(rating);
            }
        }
    }
    let context = Context { projection, query, ranked, flat, calendar, from, to };
    let groups: Vec<GroupReport> =
        groups.into_iter().map(|(key, (rows, ratings))| group_report(&context, key, &rows, &ratings)).collect();
    let surveys = survey_report(projection.offers(), projection.ratings(), customer_of, |at| in_range(at, from, to));
    let qa =
        qa_report(projection.reviews().iter().filter(|r| in_range(r.at, from, to)), projection.scorecards(), |at| {
            period_keys(day_of(at))[2].clone()
        });
    Report { from: from.map(Timestamp), to: Timestamp(to), now: Timestamp(now), rows_truncated, groups, surveys, qa }
}
