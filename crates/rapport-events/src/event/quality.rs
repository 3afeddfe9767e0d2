//! Surveys offered and quality reviews of agents' work.

use serde::{Deserialize, Serialize};

use super::{check_name, check_opt_name, Survey, TicketId};
use crate::error::Error;
use crate::identity::Identity;

/// `survey.offered`: a survey was sent to a customer (after a ticket, or on its own). A later
/// `customer.rated` of the same survey and customer answers it (docs/metrics.md).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SurveyOffered {
    /// To whom.
    pub identity: Identity,
    /// Which survey.
    pub survey: Survey,
    /// The ticket it asks about, if any.
    #[serde(default)]
    pub ticket_id: Option<TicketId>,
}

impl SurveyOffered {
    pub(super) fn validate(&self) -> Result<(), Error> {
        self.ticket_id.as_ref().map_or(Ok(()), TicketId::validate)
    }
}

/// Categories per scorecard or review, at most.
pub const QA_CATEGORIES_MAX: usize = 50;

/// The highest category score of a QA review (scores are 0..=100).
pub const QA_SCORE_MAX: u8 = 100;

/// The pass mark of a category when its scorecard sets none.
pub const QA_PASS_MARK_DEFAULT: u8 = 50;

/// One category's score in a [`QaReviewed`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QaCategoryScore {
    /// The category (`courtesy`, `delivery`, `accuracy`, ...).
    pub name: String,
    /// 0 to [`QA_SCORE_MAX`].
    pub score: u8,
    /// Its weight in the review score (none = the scorecard's weight, or 1).
    #[serde(default)]
    pub weight: Option<u32>,
    /// Whether failing it fails the review (none = as the scorecard says).
    #[serde(default)]
    pub critical: Option<bool>,
}

/// `qa.reviewed`: a reviewer scored an agent's handling of a ticket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QaReviewed {
    /// The ticket reviewed.
    pub ticket_id: TicketId,
    /// The agent reviewed.
    pub agent: String,
    /// Who reviewed.
    pub reviewer: String,
    /// The scorecard used (none = the default scorecard).
    #[serde(default)]
    pub scorecard: Option<String>,
    /// The scores.
    pub categories: Vec<QaCategoryScore>,
}

impl QaReviewed {
    pub(super) fn validate(&self) -> Result<(), Error> {
        self.ticket_id.validate()?;
        check_name("agent", &self.agent)?;
        check_name("reviewer", &self.reviewer)?;
        check_opt_name("scorecard", &self.scorecard)?;
        check_categories(self.categories.iter().map(|c| c.name.as_str()))?;
        for category in &self.categories {
            if category.score > QA_SCORE_MAX {
                return Err(Error::InvalidValue {
                    field: "score",
                    value: category.score.to_string(),
                    expected: "a category score from 0 to 100",
                });
            }
            if category.weight == Some(0) {
                return Err(Error::InvalidValue { field: "weight", value: "0".into(), expected: "a weight above 0" });
            }
        }
        Ok(())
    }
}

/// One category of a [`QaScorecardSet`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QaCategory {
    /// The category.
    pub name: String,
    /// Its weight (default 1).
    #[serde(default = "one")]
    pub weight: u32,
    /// Whether a score below the pass mark fails the whole review (score 0).
    #[serde(default)]
    pub critical: bool,
    /// The lowest passing score (default [`QA_PASS_MARK_DEFAULT`]).
    #[serde(default = "pass_mark_default")]
    pub pass_mark: u8,
}

fn one() -> u32 {
    1
}

fn pass_mark_default() -> u8 {
    QA_PASS_MARK_DEFAULT
}

/// `qa.scorecard_set`: defines (or redefines, from `valid_from`) a QA scorecard.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QaScorecardSet {
    /// The scorecard's name (`default` replaces the built-in one).
    pub name: String,
    /// Its categories.
    pub categories: Vec<QaCategory>,
    /// Reviews recorded at or after this instant use it.
    #[serde(with = "crate::properties::timestamp")]
    pub valid_from: rapport_types::Timestamp,
}

impl QaScorecardSet {
    pub(super) fn validate(&self) -> Result<(), Error> {
        check_name("name", &self.name)?;
        if self.categories.is_empty() {
            return Err(Error::InvalidValue { field: "categories", value: "[]".into(), expected: "at least one" });
        }
        check_categories(self.categories.iter().map(|c| c.name.as_str()))?;
        for category in &self.categories {
            if category.weight == 0 {
                return Err(Error::InvalidValue { field: "weight", value: "0".into(), expected: "a weight above 0" });
            }
            if category.pass_mark > QA_SCORE_MAX {
                return Err(Error::InvalidValue {
                    field: "pass_mark",
                    value: category.pass_mark.to_string(),
                    expected: "a pass mark from 0 to 100",
                });
            }
        }
        Ok(())
    }
}

fn check_categories<'a>(names: impl ExactSizeIterator<Item = &'a str>) -> Result<(), Error> {
    if names.len() > QA_CATEGORIES_MAX {
        return Err(Error::TooLong { field: "categories", actual: names.len(), limit: QA_CATEGORIES_MAX });
    }
    let mut seen = std::collections::BTreeSet::new();
    for name in names {
        check_name("category", name)?;
        if !seen.insert(name) {
            return Err(Error::InvalidValue {
                field: "categories",
                value: name.to_owned(),
                expected: "each category once",
            });
        }
    }
    Ok(())
}
