//! Survey offers and their answers: each rating answers at most one open offer of the same
//! survey and customer made in the [`SURVEY_ANSWER_DAYS`] before it (the offer of the rated
//! ticket first, else the latest); offers per survey, answered offers, response rate,
//! unsolicited ratings and reasons. Definitions: docs/metrics.md, "Surveys".

use std::collections::{BTreeMap, HashMap};

use rapport_events::{CustomerId, Identity, Survey, TicketId};

use crate::projection::RatingRecord;

/// A rating answers an offer made at most this many days before it.
pub const SURVEY_ANSWER_DAYS: i64 = 30;

/// Open offers (unanswered, made in the [`SURVEY_ANSWER_DAYS`] before the latest offer or
/// rating seen) kept per customer and survey while pairing, at most: a further offer closes the
/// oldest one, which stays unanswered. It bounds the pairing state and the work per offer and
/// rating.
pub const SURVEY_OPEN_OFFERS_MAX: usize = 16;

const DAY_MICROS: i64 = 86_400_000_000;

/// One `survey.offered`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct OfferRecord {
    /// When (unix microseconds).
    pub at: i64,
    /// Which survey.
    pub survey: Survey,
    /// To whom (as recorded: the store's pseudonym).
    pub identity: Identity,
    /// The ticket it asks about.
    pub ticket_id: Option<TicketId>,
}

/// Offers and answers of one survey.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SurveyCounts {
    /// Offers made in the period.
    pub offered: usize,
    /// Of those, offers a rating answered (at any time up to the latest event).
    pub answered: usize,
    /// answered / offered.
    pub response_rate: Option<f64>,
    /// Ratings in the period (in the survey's range).
    pub responses: usize,
    /// Of those, ratings that answered no open offer.
    pub unsolicited: usize,
    /// Ratings in the period per reason label (ratings without a reason are not counted).
    pub reasons: BTreeMap<String, usize>,
}

/// Per survey (`csat`, `nps`, `ces`), surveys with neither offers nor ratings in the period
/// left out.
pub type SurveyReport = BTreeMap<String, SurveyCounts>;

/// Who a survey was sent to: the customer, or the identity itself when the caller knows no
/// customer for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Who<'a> {
    Customer(CustomerId),
    Identity(&'a Identity),
}

impl<'a> Who<'a> {
    pub(crate) fn of(identity: &'a Identity, customer_of: &dyn Fn(&Identity) -> Option<CustomerId>) -> Who<'a> {
        customer_of(identity).map_or(Who::Identity(identity), Who::Customer)
    }
}

/// Pairs every rating with the offer it answers: `answered[offer]` and `paired[rating]`.
/// Offers and ratings are taken in time order; at the same instant offers come first, then
/// each kind in fold order. O((offers + ratings) · log + ratings · [`SURVEY_OPEN_OFFERS_MAX`]).
pub(crate) fn pair(
    offers: &[OfferRecord],
    ratings: &[RatingRecord],
    customer_of: &dyn Fn(&Identity) -> Option<CustomerId>,
) -> (Vec<bool>, Vec<bool>) {
    // `(at, kind: 0 offer / 1 rating, index)`.
    let mut order: Vec<(i64, u8, usize)> = offers.iter().enumerate().map(|(i, o)| (o.at, 0, i)).collect();
    order.extend(
        ratings
            .iter()
            .enumerate()
            .filter(|(_, r)| r.survey.score_range().contains(&r.score))
            .map(|(i, r)| (r.at, 1, i)),
    );
    order.sort_unstable();
    let mut answered = vec![false; offers.len()];
    let mut paired = vec![false; ratings.len()];
    // Open offers per customer and survey, oldest first.
    let mut open: HashMap<(Who<'_>, Survey), Vec<usize>> = HashMap::new();
    for (at, kind, index) in order {
        if kind == 0 {
            let Some(offer) = offers.get(index) else { continue };
            let list = open.entry((Who::of(&offer.identity, customer_of), offer.survey)).or_default();
            // Offers too old for any later rating leave first, so the bound counts live offers.
            let oldest = at.saturating_sub(SURVEY_ANSWER_DAYS * DAY_MICROS);
            list.retain(|o| offers.get(*o).is_some_and(|offer| offer.at >= oldest));
            if list.len() >= SURVEY_OPEN_OFFERS_MAX {
                list.remove(0);
            }
            list.push(index);
            continue;
        }
        let Some(rating) = ratings.get(index) else { continue };
        if open.is_empty() {
            // No offer yet: nothing to answer, and no customer to resolve (a hash lookup each).
            continue;
        }
        let Some(list) = open.get_mut(&(Who::of(&rating.identity, customer_of), rating.survey)) else { continue };
        let oldest = at.saturating_sub(SURVEY_ANSWER_DAYS * DAY_MICROS);
        list.retain(|o| offers.get(*o).is_some_and(|offer| offer.at >= oldest));
        let same_ticket = rating.ticket_id.as_ref().and_then(|ticket| {
            list.iter().rposition(|o| offers.get(*o).is_some_and(|offer| offer.ticket_id.as_ref() == Some(ticket)))
        });
        let Some(chosen) = same_ticket.or(list.len().checked_sub(1)) else { continue };
        let offer = list.remove(chosen);
        if let (Some(answer), Some(pair)) = (answered.get_mut(offer), paired.get_mut(index)) {
            *answer = true;
            *pair = true;
        }
    }
    (answered, paired)
}

/// The survey counts of a period: offers by offer time, ratings by rating time.
pub(crate) fn survey_report(
    offers: &[OfferRecord],
    ratings: &[RatingRecord],
    customer_of: &dyn Fn(&Identity) -> Option<CustomerId>,
    in_period: impl Fn(i64) -> bool,
) -> SurveyReport {
    let (answered, paired) = pair(offers, ratings, customer_of);
    let mut report = SurveyReport::new();
    for (offer, answered) in offers.iter().zip(&answered) {
        if in_period(offer.at) {
            let counts = report.entry(offer.survey.as_str().to_owned()).or_default();
            counts.offered += 1;
            counts.answered += usize::from(*answered);
        }
    }
    for (rating, paired) in ratings.iter().zip(&paired) {
        if !in_period(rating.at) || !rating.survey.score_range().contains(&rating.score) {
            continue;
        }
        let counts = report.entry(rating.survey.as_str().to_owned()).or_default();
        counts.responses += 1;
        counts.unsolicited += usize::from(!*paired);
        if let Some(reason) = &rating.reason {
            *counts.reasons.entry(reason.clone()).or_default() += 1;
        }
    }
    for counts in report.values_mut() {
        counts.response_rate = (counts.offered > 0).then(|| counts.answered as f64 / counts.offered as f64);
    }
    report
}
