//! The customer projection folded from hand-written histories: trait values on merges (latest
//! by occurred-at wins, ties by log position), order totals that no i64 could hold, and splits
//! whose reader fails (the error comes back and nothing moves).

use std::collections::BTreeMap;

use rapport_events::{
    Amount, CustomerIdentified, CustomersSplit, CxEvent, Identity, NormalizeOptions, OrderPlaced,
    AMOUNT_TEN_THOUSANDTHS_MAX,
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

fn order(pair: &str, ten_thousandths: i64, currency: &str) -> CxEvent {
    CxEvent::OrderPlaced(OrderPlaced {
        identity: identity(pair),
        order_id: "o".into(),
        amount: Amount::new(ten_thousandths).unwrap(),
        currency: currency.into(),
    })
}

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
    let max = AMOUNT_TEN_THOUSANDTHS_MAX;
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
    assert_eq!(orders.total.ten_thousandths(), expected);
    assert_eq!(
        orders.days,
        vec![(0, rapport_events::Total::from_ten_thousandths(expected))],
        "per-day spend is exact too"
    );
    assert_eq!(orders.average(), Some(max as f64 / 10_000.0));
}

#[test]
fn currencies_are_never_added_together() {
    let history = [
        (order("email:a@x.io", 10_000, "USD"), 0),
        (order("email:a@x.io", 20_000, "EUR"), 0),
        (order("email:b@x.io", 40_000, "EUR"), 0),
        (order("email:b@x.io", 80_000, "USD"), 0),
        (identified(&["email:a@x.io", "email:b@x.io"], &[]), 1),
    ];
    let orders = fold(&history).profile_of(&identity("email:a@x.io")).unwrap().orders.clone();
    assert_eq!(orders.currency.as_deref(), Some("USD"), "the survivor's currency");
    assert_eq!(orders.count, 4);
    assert_eq!(orders.total.ten_thousandths(), 90_000, "USD only: 1 + 8");
    assert_eq!(orders.average(), Some(4.5));
    let eur = &orders.other_currencies.as_ref().expect("a second currency")["EUR"];
    assert_eq!((eur.count, eur.total.ten_thousandths()), (2, 60_000));
    assert_eq!(orders.days, vec![(0, rapport_events::Total::from_ten_thousandths(90_000))]);
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
    assert_eq!(moved.orders.total.ten_thousandths(), 20_000);
    assert_eq!(projection.profile_of(&identity("email:a@x.io")).unwrap().orders.total.ten_thousandths(), 10_000);
}
