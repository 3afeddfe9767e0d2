//! The customer projection folded from hand-written histories: trait values on merges (latest
//! by occurred-at wins, ties by log position), order totals that no i64 could hold, and splits
//! whose reader fails (the error comes back and nothing moves).

use std::collections::BTreeMap;

use rapport_events::{
    Amount, CustomerIdentified, CustomersSplit, CxEvent, ExchangeRates, Identity, NormalizeOptions, OrderCancelled,
    OrderPlaced, OrderRefunded, OrderReturned, Total, AMOUNT_MINOR_MAX,
};

use rapport_types::{Position, Timestamp};

use super::{CustomerProjection, ReadAt, Touch};
use crate::resolution::ResolutionOptions;

fn identity(pair: &str) -> Identity {
    Identity::parse_pair(pair, &NormalizeOptions::default()).unwrap()
}

fn identified(pairs: &[&str], traits: &[(&str, &str)]) -> CxEvent {
    CxEvent::CustomerIdentified(CustomerIdentified {
        identities: pairs.iter().map(|p| identity(p)).collect(),
        traits: traits.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<BTreeMap<_, _>>(),
    })
}

fn order(pair: &str, minor: i64, currency: &str) -> CxEvent {
    placed(pair, "o", minor, currency)
}

fn placed(pair: &str, order_id: &str, minor: i64, currency: &str) -> CxEvent {
    CxEvent::OrderPlaced(OrderPlaced {
        identity: identity(pair),
        order_id: order_id.into(),
        amount: Amount::from_minor(minor).unwrap(),
        currency: currency.into(),
    })
}

fn refunded(pair: &str, order_id: &str, minor: i64, currency: &str) -> CxEvent {
    CxEvent::OrderRefunded(OrderRefunded {
        identity: identity(pair),
        order_id: order_id.into(),
        amount: Amount::from_minor(minor).unwrap(),
        currency: currency.into(),
    })
}

fn returned(pair: &str, order_id: &str, minor: i64, currency: &str) -> CxEvent {
    CxEvent::OrderReturned(OrderReturned {
        identity: identity(pair),
        order_id: order_id.into(),
        amount: Amount::from_minor(minor).unwrap(),
        currency: currency.into(),
    })
}

fn cancelled(pair: &str, order_id: &str) -> CxEvent {
    CxEvent::OrderCancelled(OrderCancelled { identity: identity(pair), order_id: order_id.into() })
}

const DAY: i64 = 86_400_000_000;

/// A reader over `history` (position = index) that never leaves anything out.
fn reader(history: &[(CxEvent, i64)]) -> impl FnMut(Position) -> Result<Option<Touch>, String> + '_ {
    move |position| {
        let (event, at) = history.get(position.0 as usize).ok_or(format!("no event at {position}"))?;
        Ok(Some(Touch { position, ticket: None, event: event.clone(), at: Timestamp(*at), derived: false }))
    }
}

/// Folds `history` (event, occurred-at) in log order.
fn fold(history: &[(CxEvent, i64)]) -> CustomerProjection {
    let mut projection = CustomerProjection::new(ResolutionOptions::default());
    let mut read = reader(history);
    for (position, (event, at)) in history.iter().enumerate() {
        let touch = Touch {
            position: Position(position as u64),
            ticket: None,
            event: event.clone(),
            at: Timestamp(*at),
            derived: false,
        };
        projection.apply(&touch, &mut read).unwrap();
    }
    projection
}

fn plan_of(projection: &CustomerProjection, pair: &str) -> Option<String> {
    projection.profile_of(&identity(pair))?.trait_value("plan").map(str::to_owned)
}

#[test]
fn on_a_merge_the_later_trait_value_wins_whoever_survives() {
    let (t1, t2) = (1_000, 2_000);
    // A (the survivor: created first) has the older value.
    let history = [
        (identified(&["email:a@x.io"], &[("plan", "basic")]), t1),
        (identified(&["email:b@x.io"], &[("plan", "pro")]), t2),
        (identified(&["email:a@x.io", "email:b@x.io"], &[]), t2 + 1),
    ];
    assert_eq!(plan_of(&fold(&history), "email:a@x.io").as_deref(), Some("pro"), "the survivor's older value won");
    // The reverse: the survivor has the newer value (recorded first, with a later time).
    let history = [
        (identified(&["email:a@x.io"], &[("plan", "pro")]), t2),
        (identified(&["email:b@x.io"], &[("plan", "basic")]), t1),
        (identified(&["email:a@x.io", "email:b@x.io"], &[]), t2 + 1),
    ];
    assert_eq!(plan_of(&fold(&history), "email:b@x.io").as_deref(), Some("pro"), "the merged older value won");
}

#[test]
fn trait_values_at_the_same_time_go_by_log_position() {
    let history = [
        (identified(&["email:a@x.io"], &[("plan", "first")]), 5),
        (identified(&["email:b@x.io"], &[("plan", "second")]), 5),
        (identified(&["email:a@x.io", "email:b@x.io"], &[]), 6),
    ];
    assert_eq!(plan_of(&fold(&history), "email:a@x.io").as_deref(), Some("second"));
    // Within one customer too, a value with an earlier time does not replace a later one.
    let history = [
        (identified(&["email:a@x.io"], &[("plan", "new")]), 9),
        (identified(&["email:a@x.io"], &[("plan", "imported-old")]), 3),
    ];
    let projection = fold(&history);
    let value = projection.profile_of(&identity("email:a@x.io")).unwrap().traits.get("plan").cloned().unwrap();
    assert_eq!((value.value.as_str(), value.at, value.position), ("new", Timestamp(9), Position(0)));
}

#[test]
fn many_max_orders_merged_into_one_profile_give_the_exact_i128_total() {
    let max = AMOUNT_MINOR_MAX;
    let (customers, orders_each) = (100, 100);
    let mut history = Vec::new();
    for c in 0..customers {
        let pair = format!("email:c{c}@x.io");
        for _ in 0..orders_each {
            history.push((order(&pair, max, "USD"), 0));
        }
    }
    for c in 1..customers {
        history.push((identified(&["email:c0@x.io", &format!("email:c{c}@x.io")], &[]), 1));
    }
    let projection = fold(&history);
    assert_eq!(projection.len(), 1, "everyone merged");
    let orders = &projection.profile_of(&identity("email:c0@x.io")).unwrap().orders;
    let expected = i128::from(max) * customers * orders_each;
    assert!(expected > i128::from(i64::MAX), "the test must overflow an i64: {expected}");
    assert_eq!(orders.count, (customers * orders_each) as u32);
    assert_eq!(orders.total.minor(), expected);
    assert_eq!(orders.days, vec![(0, rapport_events::Total::from_minor(expected))], "per-day spend is exact too");
    assert_eq!(orders.average(), Some(max as f64 / 100.0));
}

#[test]
fn currencies_are_never_added_together() {
    let history = [
        (order("email:a@x.io", 100, "USD"), 0),
        (order("email:a@x.io", 200, "EUR"), 0),
        (order("email:b@x.io", 400, "EUR"), 0),
        (order("email:b@x.io", 800, "USD"), 0),
        (identified(&["email:a@x.io", "email:b@x.io"], &[]), 1),
    ];
    let orders = fold(&history).profile_of(&identity("email:a@x.io")).unwrap().orders.clone();
    assert_eq!(orders.currency.as_deref(), Some("USD"), "the survivor's currency");
    assert_eq!(orders.count, 4);
    assert_eq!(orders.total.minor(), 900, "USD only: 1 + 8");
    assert_eq!(orders.average(), Some(4.5));
    let eur = &orders.other_currencies.as_ref().expect("a second currency")["EUR"];
    assert_eq!((eur.count, eur.total.minor()), (2, 600));
    assert_eq!(orders.days, vec![(0, rapport_events::Total::from_minor(900))]);
}

#[test]
fn a_failing_reader_fails_the_split_and_changes_nothing() {
    let history = [
        (identified(&["email:a@x.io"], &[("plan", "basic")]), 1),
        (order("email:a@x.io", 10_000, "USD"), 2),
        (identified(&["email:a@x.io", "kakao:a_1"], &[]), 3),
        (order("kakao:a_1", 20_000, "USD"), 4),
    ];
    let mut projection = fold(&history);
    let before = format!("{projection:?}");
    assert_eq!(projection.checkpoint(), Position(4));
    let split = Touch {
        position: Position(4),
        ticket: None,
        event: CxEvent::CustomersSplit(CustomersSplit {
            customer: projection.owner(&identity("email:a@x.io")).unwrap(),
            identities: vec![identity("kakao:a_1")],
        }),
        at: Timestamp(5),
        derived: false,
    };
    // An I/O or decode error on the third event of the timeline.
    let mut failing = |position: Position| -> Result<Option<Touch>, String> {
        if position == Position(2) {
            return Err(format!("disk error at {position}"));
        }
        reader(&history)(position)
    };
    let read: &mut ReadAt<'_, String> = &mut failing;
    assert_eq!(projection.apply(&split, read), Err("disk error at 2".to_owned()));
    assert_eq!(projection.checkpoint(), Position(4), "the checkpoint stays before the failed event");
    assert_eq!(format!("{projection:?}"), before, "nothing moved");
    // The same split with a working reader moves the kakao identity and its order.
    projection.apply(&split, &mut reader(&history)).unwrap();
    assert_eq!(projection.checkpoint(), Position(5));
    let moved = projection.profile_of(&identity("kakao:a_1")).unwrap();
    assert_eq!(moved.orders.total.minor(), 20_000);
    assert_eq!(projection.profile_of(&identity("email:a@x.io")).unwrap().orders.total.minor(), 10_000);
}

/// Hand-computed: KRW without decimals, KWD with three, gross vs net per currency, never summed
/// across currencies; a fully refunded and a cancelled order are no purchases.
#[test]
fn refunds_returns_and_cancellations_give_net_totals_per_currency() {
    let kim = "email:kim@x.io";
    let history = [
        (placed(kim, "k1", 15_000, "KRW"), DAY),      // day 1: 15000 KRW
        (placed(kim, "k2", 30_000, "KRW"), 3 * DAY),  // day 3: 30000 KRW
        (refunded(kim, "k2", 5_000, "KRW"), 4 * DAY), // partial: k2 is worth 25000
        (placed(kim, "k3", 8_000, "KRW"), 5 * DAY),   // day 5, then fully refunded and returned
        (refunded(kim, "k3", 3_000, "KRW"), 6 * DAY),
        (returned(kim, "k3", 5_000, "KRW"), 6 * DAY),
        (placed(kim, "k4", 9_000, "KRW"), 7 * DAY), // day 7, cancelled
        (cancelled(kim, "k4"), 7 * DAY),
        (placed(kim, "w1", 12_345, "KWD"), 2 * DAY),  // 12.345 KWD
        (returned(kim, "w1", 1_005, "KWD"), 3 * DAY), // 1.005 KWD back: 11.340 net
        (refunded(kim, "w1", 1, "USD"), 3 * DAY),     // another currency than the order's: not applied
    ];
    let projection = fold(&history);
    let profile = projection.profile_of(&identity(kim)).unwrap();
    let totals = profile.orders.totals();
    assert_eq!(totals.len(), 2, "one line per currency, never summed");
    let (krw, kwd) = (&totals[0], &totals[1]);
    assert_eq!((krw.currency.as_str(), krw.count, krw.cancelled, krw.fully_refunded), ("KRW", 4, 1, 1));
    // Gross: 15000 + 30000 + 8000 (the cancelled 9000 is no sale) = 53000.
    assert_eq!(krw.gross, Total::from_minor(53_000));
    // Refunded: 5000 on k2, 8000 on k3.
    assert_eq!(krw.refunded, Total::from_minor(13_000));
    assert_eq!(krw.net, Total::from_minor(40_000));
    assert_eq!(krw.net.format("KRW"), "40000");
    assert_eq!((kwd.currency.as_str(), kwd.count, kwd.gross.format("KWD")), ("KWD", 1, "12.345".to_owned()));
    assert_eq!((kwd.refunded.format("KWD"), kwd.net.format("KWD")), ("1.005".to_owned(), "11.340".to_owned()));

    // Purchases in KRW: day 1 (15000) and day 3 (25000 net); k3 fully refunded, k4 cancelled.
    let days = profile.orders.purchase_days("KRW", None);
    assert_eq!(days.days, vec![(1, Total::from_minor(15_000)), (3, Total::from_minor(25_000))]);
    assert_eq!((days.converted, days.excluded), (0, 1), "the KWD purchase has no rate: excluded, counted");
    let (rfm, _) = profile.rfm_in(rapport_types::Timestamp(10 * DAY), "KRW", None);
    let rfm = rfm.unwrap();
    // Frequency 1 (days 1 and 3), recency 2, T = 10 - 1 = 9, monetary = 25000 (the repeat day).
    assert_eq!((rfm.frequency, rfm.recency_days, rfm.t_days), (1, 2, 9));
    assert!((rfm.monetary - 25_000.0).abs() < 1e-9, "{}", rfm.monetary);

    // With a rate table (base KRW: 1 KWD = 4000 KRW), 11.340 KWD = 45360 KRW on day 2.
    let rates = ExchangeRates::parse("KRW", "KWD 4000").unwrap();
    let days = profile.orders.purchase_days("KRW", Some(&rates));
    assert_eq!(
        days.days,
        vec![(1, Total::from_minor(15_000)), (2, Total::from_minor(45_360)), (3, Total::from_minor(25_000))]
    );
    assert_eq!((days.converted, days.excluded), (1, 0));
    assert_eq!(profile.orders.main_currency().map(|c| c.to_string()), Some("KRW".to_owned()));
}

#[test]
fn a_refund_seen_before_its_order_applies_when_the_order_arrives() {
    let a = "email:a@x.io";
    let history = [(refunded(a, "o1", 1_000, "USD"), DAY), (placed(a, "o1", 2_933, "USD"), 0)];
    let projection = fold(&history);
    let orders = &projection.profile_of(&identity(a)).unwrap().orders;
    let totals = orders.totals();
    assert_eq!(totals.len(), 1);
    assert_eq!(
        (totals[0].count, totals[0].gross.format("USD"), totals[0].net.format("USD")),
        (1, "29.33".to_owned(), "19.33".to_owned())
    );
    assert_eq!(orders.count, 1);
}

/// The totals as a pass over every profile computes them (the model of the incremental ones).
fn totals_by_pass(projection: &CustomerProjection) -> super::CustomerTotals {
    let mut totals = super::CustomerTotals::default();
    for profile in projection.profiles() {
        totals.latest_seen = totals.latest_seen.max(profile.last_seen);
        let mut any = false;
        for currency in profile.orders.totals() {
            any = true;
            *totals.orders_by_currency.entry(currency.currency).or_default() += u64::from(currency.count);
        }
        totals.buyers += u64::from(any);
    }
    totals
}

/// One step of a random history: which identities, which order, which split.
#[derive(Debug, Clone)]
enum Step {
    Link(u8, u8),
    Place(u8, u8, bool),
    Cancel(u8, u8),
    Refund(u8, u8),
    Split(u8),
    Erase(u8),
}

fn step() -> impl proptest::strategy::Strategy<Value = (Step, i64)> {
    use proptest::prelude::*;
    let who = 0u8..6;
    let step = prop_oneof![
        (who.clone(), who.clone()).prop_map(|(a, b)| Step::Link(a, b)),
        (who.clone(), 0u8..4, any::<bool>()).prop_map(|(a, o, eur)| Step::Place(a, o, eur)),
        (who.clone(), 0u8..4).prop_map(|(a, o)| Step::Cancel(a, o)),
        (who.clone(), 0u8..4).prop_map(|(a, o)| Step::Refund(a, o)),
        who.clone().prop_map(Step::Split),
        who.prop_map(Step::Erase),
    ];
    (step, 0i64..1_000)
}

fn pair_of(who: u8) -> String {
    if who.is_multiple_of(2) {
        format!("email:p{who}@x.io")
    } else {
        format!("kakao:p_{who}")
    }
}

proptest::proptest! {
    /// After every event, the totals the fold keeps equal a pass over every profile (the old
    /// sort-based default observation end and main currency), through merges, splits and
    /// erasures.
    #[test]
    fn totals_kept_by_the_fold_equal_a_pass_over_the_profiles(steps in proptest::collection::vec(step(), 1..40)) {
        let mut projection = CustomerProjection::new(ResolutionOptions::default());
        let mut history: Vec<(CxEvent, i64)> = Vec::new();
        for (step, at) in steps {
            let event = match step {
                Step::Link(a, b) => identified(&[&pair_of(a), &pair_of(b)], &[]),
                Step::Place(a, o, eur) => placed(&pair_of(a), &format!("o{o}"), 1_000, if eur { "EUR" } else { "USD" }),
                Step::Cancel(a, o) => cancelled(&pair_of(a), &format!("o{o}")),
                Step::Refund(a, o) => refunded(&pair_of(a), &format!("o{o}"), 1_000, "USD"),
                Step::Split(a) => {
                    let Some(owner) = projection.owner(&identity(&pair_of(a))) else { continue };
                    if projection.identities(owner).len() < 2 {
                        continue;
                    }
                    CxEvent::CustomersSplit(CustomersSplit { customer: owner, identities: vec![identity(&pair_of(a))] })
                }
                Step::Erase(a) => {
                    let Some(owner) = projection.owner(&identity(&pair_of(a))) else { continue };
                    CxEvent::CustomerErased(rapport_events::CustomerErased { customer: owner, keys: Vec::new(), reason: "test".into() })
                }
            };
            history.push((event.clone(), at));
            let position = Position(history.len() as u64 - 1);
            let touch = Touch { position, ticket: None, event, at: Timestamp(at), derived: false };
            let snapshot = history.clone();
            projection.apply(&touch, &mut reader(&snapshot)).unwrap();
            proptest::prop_assert_eq!(projection.totals(), &totals_by_pass(&projection), "after {:?}", touch.event);
        }
    }
}
