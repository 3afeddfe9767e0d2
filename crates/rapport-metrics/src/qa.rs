//! Quality assurance: review scores under the scorecard in force at review time, and the
//! internal quality score (IQS, the mean review score) per agent, group, scorecard and month,
//! with category pass rates. Definitions: docs/metrics.md, "QA".

use std::collections::BTreeMap;

use rapport_events::{QaCategory, QaCategoryScore, TicketId, QA_PASS_MARK_DEFAULT};

/// The scorecard a review without one uses, and the name that replaces the built-in one.
pub const DEFAULT_SCORECARD: &str = "default";

/// The categories of the built-in default scorecard: weight 1 each, none critical, pass mark
/// [`QA_PASS_MARK_DEFAULT`].
pub const DEFAULT_SCORECARD_CATEGORIES: [&str; 3] = ["courtesy", "delivery", "accuracy"];

/// The built-in default scorecard.
pub fn default_scorecard() -> Vec<QaCategory> {
    DEFAULT_SCORECARD_CATEGORIES
        .iter()
        .map(|name| QaCategory {
            name: (*name).to_owned(),
            weight: 1,
            critical: false,
            pass_mark: QA_PASS_MARK_DEFAULT,
        })
        .collect()
}

/// One `qa.reviewed`, with the ticket's group at review time.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct QaReviewRecord {
    /// When (unix microseconds).
    pub at: i64,
    /// The ticket reviewed.
    pub ticket_id: TicketId,
    /// The agent reviewed.
    pub agent: String,
    /// Who reviewed.
    pub reviewer: String,
    /// The scorecard named (none: [`DEFAULT_SCORECARD`]).
    pub scorecard: Option<String>,
    /// The category scores.
    pub categories: Vec<QaCategoryScore>,
    /// The ticket's group at review time.
    pub group: Option<String>,
}

impl QaReviewRecord {
    /// The scorecard's name: the review's, or [`DEFAULT_SCORECARD`].
    pub fn scorecard_name(&self) -> &str {
        self.scorecard.as_deref().unwrap_or(DEFAULT_SCORECARD)
    }
}

/// Every version of every scorecard: `name -> [(valid_from, categories)]`, sorted by
/// `valid_from`; versions with the same `valid_from` stay in fold order (the later one wins).
/// One version per `qa.scorecard_set` event (each at most
/// [`rapport_events::QA_CATEGORIES_MAX`] categories): memory grows with those events, which are
/// definitions and few.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct Scorecards {
    versions: BTreeMap<String, Vec<(i64, Vec<QaCategory>)>>,
}

impl Scorecards {
    /// Adds a version of scorecard `name`, in force from `valid_from`.
    pub fn insert(&mut self, name: &str, valid_from: i64, categories: Vec<QaCategory>) {
        let versions = self.versions.entry(name.to_owned()).or_default();
        let index = versions.partition_point(|(from, _)| *from <= valid_from);
        versions.insert(index, (valid_from, categories));
    }

    /// The categories of scorecard `name` in force at `at`: the version with the latest
    /// `valid_from` at or before `at`; before any version, the built-in default for
    /// [`DEFAULT_SCORECARD`] and nothing for other names.
    pub fn in_force(&self, name: &str, at: i64) -> Option<Vec<QaCategory>> {
        let versions = self.versions.get(name);
        let index = versions.map_or(0, |v| v.partition_point(|(from, _)| *from <= at));
        match versions.and_then(|v| v.get(index.checked_sub(1)?)) {
            Some((_, categories)) => Some(categories.clone()),
            None if name == DEFAULT_SCORECARD => Some(default_scorecard()),
            None => None,
        }
    }
}

/// One category of a scored review.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CategoryOutcome {
    /// The category.
    pub name: String,
    /// Its score (0-100).
    pub score: u8,
    /// The weight used.
    pub weight: u32,
    /// Whether it was critical.
    pub critical: bool,
    /// The pass mark used.
    pub pass_mark: u8,
    /// `score >= pass_mark`.
    pub passed: bool,
}

/// A review's score.
#[derive(Debug, Clone, PartialEq)]
pub struct ReviewScore {
    /// 0-100: the weighted mean of the category scores, or 0 when a critical category failed.
    pub score: f64,
    /// A critical category scored below its pass mark.
    pub failed_critical: bool,
    /// Each category as scored.
    pub categories: Vec<CategoryOutcome>,
}

/// Scores a review against `scorecard` (the categories in force; `None`: an unknown scorecard,
/// so every category has weight 1, is not critical and has pass mark 50 unless the review says
/// otherwise). A category's weight and criticality come from the review when it sets them, else
/// from the scorecard, else 1 and not critical; its pass mark from the scorecard, else
/// [`QA_PASS_MARK_DEFAULT`]. Scorecard categories the review does not score do not count.
/// `None` for a review without categories (it has no score).
pub fn score_review(categories: &[QaCategoryScore], scorecard: Option<&[QaCategory]>) -> Option<ReviewScore> {
    if categories.is_empty() {
        return None;
    }
    let mut outcomes = Vec::with_capacity(categories.len());
    let (mut weighted, mut weights) = (0u64, 0u64);
    for category in categories {
        let defined = scorecard.and_then(|s| s.iter().find(|c| c.name == category.name));
        let weight = category.weight.or(defined.map(|c| c.weight)).unwrap_or(1);
        let critical = category.critical.or(defined.map(|c| c.critical)).unwrap_or(false);
        let pass_mark = defined.map_or(QA_PASS_MARK_DEFAULT, |c| c.pass_mark);
        weighted = weighted.saturating_add(u64::from(weight) * u64::from(category.score));
        weights = weights.saturating_add(u64::from(weight));
        outcomes.push(CategoryOutcome {
            name: category.name.clone(),
            score: category.score,
            weight,
            critical,
            pass_mark,
            passed: category.score >= pass_mark,
        });
    }
    let failed_critical = outcomes.iter().any(|c| c.critical && !c.passed);
    // Weights are validated above 0 by the events crate; an all-zero sum (never recorded) has no mean.
    let mean = if weights == 0 { 0.0 } else { weighted as f64 / weights as f64 };
    Some(ReviewScore { score: if failed_critical { 0.0 } else { mean }, failed_critical, categories: outcomes })
}

/// IQS of a set of reviews.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct QaScores {
    /// Reviews with a score.
    pub reviews: usize,
    /// Mean review score (0-100).
    pub iqs: Option<f64>,
    /// Reviews scored 0 by a failed critical category.
    pub failed_critical: usize,
    sum: f64,
}

impl QaScores {
    fn add(&mut self, score: &ReviewScore) {
        self.reviews += 1;
        self.sum += score.score;
        self.failed_critical += usize::from(score.failed_critical);
        self.iqs = Some(self.sum / self.reviews as f64);
    }
}

/// Pass counts of one category.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CategoryPass {
    /// Reviews that scored it.
    pub scored: usize,
    /// Of those, scores at or above the pass mark.
    pub passed: usize,
    /// passed / scored.
    pub pass_rate: Option<f64>,
    /// Mean score.
    pub mean_score: Option<f64>,
    sum: u64,
}

/// QA of the reviews given in a period.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct QaReport {
    /// Every review in the period.
    pub all: QaScores,
    /// Per reviewed agent.
    pub by_agent: BTreeMap<String, QaScores>,
    /// Per group of the ticket at review time (`(none)` when unset).
    pub by_group: BTreeMap<String, QaScores>,
    /// Per scorecard name.
    pub by_scorecard: BTreeMap<String, QaScores>,
    /// Per month of review (`2026-03`, UTC).
    pub by_month: BTreeMap<String, QaScores>,
    /// Per category name.
    pub categories: BTreeMap<String, CategoryPass>,
    /// Tickets reviewed, sorted, each once.
    pub tickets: Vec<TicketId>,
}

/// The QA report of the reviews `at` in `[from, to)`; `month` names a review time's month.
pub(crate) fn qa_report<'a>(
    reviews: impl IntoIterator<Item = &'a QaReviewRecord>,
    scorecards: &Scorecards,
    month: impl Fn(i64) -> String,
) -> QaReport {
    let mut report = QaReport::default();
    for review in reviews {
        let scorecard = scorecards.in_force(review.scorecard_name(), review.at);
        let Some(score) = score_review(&review.categories, scorecard.as_deref()) else { continue };
        report.all.add(&score);
        report.by_agent.entry(review.agent.clone()).or_default().add(&score);
        report.by_group.entry(review.group.clone().unwrap_or_else(|| "(none)".to_owned())).or_default().add(&score);
        report.by_scorecard.entry(review.scorecard_name().to_owned()).or_default().add(&score);
        report.by_month.entry(month(review.at)).or_default().add(&score);
        for outcome in &score.categories {
            let pass = report.categories.entry(outcome.name.clone()).or_default();
            pass.scored += 1;
            pass.passed += usize::from(outcome.passed);
            pass.sum += u64::from(outcome.score);
        }
        report.tickets.push(review.ticket_id.clone());
    }
    for pass in report.categories.values_mut() {
        pass.pass_rate = (pass.scored > 0).then(|| pass.passed as f64 / pass.scored as f64);
        pass.mean_score = (pass.scored > 0).then(|| pass.sum as f64 / pass.scored as f64);
    }
    report.tickets.sort_unstable();
    report.tickets.dedup();
    report
}
