//! Goal: the report's QA section (review scores under the scorecard in force, IQS, category pass
//! rates) equals a from-scratch recomputation for random scorecard versions and reviews folded
//! in random order. Method: the model keeps the log as a `Vec`; for each review it scans every
//! `qa.scorecard_set` of the log for the version in force (the latest `valid_from` at or before
//! the review, ties to the one later in the log; the built-in default before any `default`
//! version) and scores the review by docs/metrics.md, "QA".

use std::collections::BTreeMap;

use proptest::prelude::*;
use rapport_events::{CxEvent, QaCategory, QaCategoryScore, QaReviewed, QaScorecardSet, TicketId};
use rapport_metrics::report::{report, ReportQuery};
use rapport_metrics::{MetricsOptions, MetricsProjection};
use rapport_types::Timestamp;

const HOUR: i64 = 3_600_000_000;
/// 2026-03-02T00:00:00Z.
const BASE: i64 = 1_772_409_600_000_000;
const CARDS: [&str; 2] = ["default", "chat"];
const CATEGORIES: [&str; 4] = ["courtesy", "delivery", "accuracy", "speed"];
const AGENTS: [&str; 3] = ["lee", "kim", "park"];

#[derive(Debug, Clone)]
enum Op {
    /// `(card, valid_from hour, [(category, weight, critical, pass_mark)])`.
    Set(usize, i64, Vec<(usize, u32, bool, u8)>),
    /// `(at hour, agent, card (None: no scorecard named), [(category, score, weight, critical)])`.
    Review(i64, usize, Option<usize>, Vec<(usize, u8, Option<u32>, Option<bool>)>),
}

fn op() -> impl Strategy<Value = Op> {
    let set_category = (0..4usize, 1..4u32, proptest::bool::weighted(0.3), 0..=100u8);
    let review_category = (
        0..4usize,
        prop_oneof![3 => 0..=100u8, 1 => Just(50u8), 1 => Just(70u8)],
        proptest::option::weighted(0.3, 1..4u32),
        proptest::option::weighted(0.2, proptest::bool::ANY),
    );
    prop_oneof![
        1 => (0..2usize, 0..100i64, proptest::collection::vec(set_category, 1..4))
            .prop_map(|(card, from, categories)| Op::Set(card, from, categories)),
        3 => (0..100i64, 0..3usize, proptest::option::of(0..2usize), proptest::collection::vec(review_category, 0..4))
            .prop_map(|(at, agent, card, categories)| Op::Review(at, agent, card, categories)),
    ]
}

/// Keeps the first of each category name (events allow each once).
fn dedup<T>(items: Vec<T>, name: impl Fn(&T) -> usize) -> Vec<T> {
    let mut seen = Vec::new();
    items
        .into_iter()
        .filter(|item| {
            let fresh = !seen.contains(&name(item));
            seen.push(name(item));
            fresh
        })
        .collect()
}

/// `(review score, failed critical, [(category, passed)])`, or `None` without categories.
type ModelScore = (f64, bool, Vec<(String, bool)>);

fn model_score(log: &[(i64, CxEvent)], at: i64, review: &QaReviewed) -> Option<ModelScore> {
    if review.categories.is_empty() {
        return None;
    }
    let name = review.scorecard.clone().unwrap_or_else(|| "default".to_owned());
    let mut in_force: Option<(i64, &Vec<QaCategory>)> = None;
    for (_, event) in log {
        if let CxEvent::QaScorecardSet(set) = event {
            if set.name == name && set.valid_from.0 <= at && in_force.is_none_or(|(from, _)| set.valid_from.0 >= from) {
                in_force = Some((set.valid_from.0, &set.categories));
            }
        }
    }
    let built_in: Vec<QaCategory> = ["courtesy", "delivery", "accuracy"]
        .iter()
        .map(|n| QaCategory { name: (*n).to_owned(), weight: 1, critical: false, pass_mark: 50 })
        .collect();
    let card: Option<&Vec<QaCategory>> = match in_force {
        Some((_, categories)) => Some(categories),
        None if name == "default" => Some(&built_in),
        None => None,
    };
    let (mut sum, mut weights, mut failed) = (0u64, 0u64, false);
    let mut passes = Vec::new();
    for category in &review.categories {
        let defined = card.and_then(|c| c.iter().find(|d| d.name == category.name));
        let weight = category.weight.unwrap_or_else(|| defined.map_or(1, |d| d.weight));
        let critical = category.critical.unwrap_or_else(|| defined.is_some_and(|d| d.critical));
        let pass_mark = defined.map_or(50, |d| d.pass_mark);
        let passed = category.score >= pass_mark;
        failed |= critical && !passed;
        sum += u64::from(weight) * u64::from(category.score);
        weights += u64::from(weight);
        passes.push((category.name.clone(), passed));
    }
    let score = if failed { 0.0 } else { sum as f64 / weights as f64 };
    Some((score, failed, passes))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn qa_equals_a_from_scratch_recomputation(ops in proptest::collection::vec(op(), 1..40)) {
        let ticket = TicketId::new("T-1").unwrap();
        let mut log: Vec<(i64, CxEvent)> = Vec::new();
        for (index, op) in ops.into_iter().enumerate() {
            match op {
                Op::Set(card, from, categories) => log.push((
                    BASE + index as i64,
                    CxEvent::QaScorecardSet(QaScorecardSet {
                        name: CARDS[card].to_owned(),
                        categories: dedup(categories, |c| c.0)
                            .into_iter()
                            .map(|(c, weight, critical, pass_mark)| QaCategory {
                                name: CATEGORIES[c].to_owned(), weight, critical, pass_mark,
                            })
                            .collect(),
                        valid_from: Timestamp(BASE + from * HOUR),
                    }),
                )),
                Op::Review(at, agent, card, categories) => log.push((
                    BASE + at * HOUR,
                    CxEvent::QaReviewed(QaReviewed {
                        ticket_id: ticket.clone(),
                        agent: AGENTS[agent].to_owned(),
                        reviewer: "reviewer".to_owned(),
                        scorecard: card.map(|c| CARDS[c].to_owned()),
                        categories: dedup(categories, |c| c.0)
                            .into_iter()
                            .map(|(c, score, weight, critical)| QaCategoryScore {
                                name: CATEGORIES[c].to_owned(), score, weight, critical,
                            })
                            .collect(),
                    }),
                )),
            }
        }
        let mut projection = MetricsProjection::new(MetricsOptions::default());
        for (at, event) in &log {
            let stream = matches!(event, CxEvent::QaReviewed(_)).then_some(&ticket);
            projection.apply(stream, event, Timestamp(*at));
        }
        let qa = report(&projection, &ReportQuery { now: Some(Timestamp(BASE + 200 * HOUR)), ..ReportQuery::default() }).qa;
        // The model, review by review in log order.
        let (mut n, mut sum, mut failed) = (0usize, 0.0f64, 0usize);
        let mut by_agent: BTreeMap<String, (usize, f64)> = BTreeMap::new();
        let mut categories: BTreeMap<String, (usize, usize)> = BTreeMap::new();
        for (at, event) in &log {
            let CxEvent::QaReviewed(review) = event else { continue };
            let Some((score, failed_critical, passes)) = model_score(&log, *at, review) else { continue };
            n += 1;
            sum += score;
            failed += usize::from(failed_critical);
            let agent = by_agent.entry(review.agent.clone()).or_default();
            agent.0 += 1;
            agent.1 += score;
            for (name, passed) in passes {
                let row = categories.entry(name).or_default();
                row.0 += 1;
                row.1 += usize::from(passed);
            }
        }
        prop_assert_eq!((qa.all.reviews, qa.all.failed_critical), (n, failed), "reviews and failed criticals");
        let close = |actual: Option<f64>, expected: Option<f64>| match (actual, expected) {
            (Some(a), Some(e)) => (a - e).abs() < 1e-9,
            (None, None) => true,
            _ => false,
        };
        prop_assert!(close(qa.all.iqs, (n > 0).then(|| sum / n as f64)), "IQS {:?}, model {}", qa.all.iqs, sum / n as f64);
        let actual_agents: BTreeMap<String, usize> = qa.by_agent.iter().map(|(a, s)| (a.clone(), s.reviews)).collect();
        let model_agents: BTreeMap<String, usize> = by_agent.iter().map(|(a, (n, _))| (a.clone(), *n)).collect();
        prop_assert_eq!(actual_agents, model_agents, "reviews per agent");
        for (agent, (n, sum)) in &by_agent {
            let actual = qa.by_agent[agent].iqs;
            prop_assert!(close(actual, Some(sum / *n as f64)), "IQS of {}: {:?}, model {}", agent, actual, sum / *n as f64);
        }
        let actual_categories: BTreeMap<String, (usize, usize)> =
            qa.categories.iter().map(|(name, c)| (name.clone(), (c.scored, c.passed))).collect();
        prop_assert_eq!(actual_categories, categories, "category (scored, passed)");
    }
}
