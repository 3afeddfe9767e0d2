//! The store's CLV cache and the O(1) totals behind views: a fit is reused until the data has
//! changed by `CLV_REFIT_CHANGE`, then refitted in the background; the default observation end
//! and segments equal what a pass over every customer view computes (the old computation).

use std::collections::BTreeMap;

use rapport::events::{
    Amount, Channel, CustomerEvent, CustomerId, CustomerIdentified, CxEvent, Identity, MessageReceived,
    NormalizeOptions, OrderPlaced, TicketFlag, TicketFlagged,
};
use rapport::log::Timestamp;
use rapport::{ClvOptions, CustomerKey, CustomerView, Input, Meta, Segment, Store, StoreOptions, TimeUnit};

const DAY: i64 = 86_400_000_000;

fn identity(pair: &str) -> Identity {
    Identity::parse_pair(pair, &NormalizeOptions::default()).unwrap()
}

fn order(who: &str, id: &str, minor: i64, currency: &str) -> Input {
    Input::Event(CxEvent::OrderPlaced(OrderPlaced {
        identity: identity(who),
        order_id: id.into(),
        amount: Amount::from_minor(minor).unwrap(),
        currency: currency.into(),
    }))
}

fn message(from: &str, channel: Channel) -> Input {
    Input::Event(CxEvent::MessageReceived(MessageReceived {
        channel,
        from: identity(from),
        ticket_id: None,
        topic: None,
        subject: None,
        body: Some("help".into()),
    }))
}

/// A small deterministic generator.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self.0.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n
    }
}

/// `people` buyers who buy every few weeks for a lifetime of their own, then stop (so both
/// models have dropouts and repeat spend to fit on), over 400 days.
fn buyers(store: &Store, people: usize, rng: &mut Rng) -> usize {
    let mut orders = 0;
    for person in 0..people {
        let who = format!("email:buyer{person}@example.com");
        let mut day = rng.below(60) as i64;
        let end = (day + rng.below(400) as i64).min(400);
        let gap = 5 + rng.below(40) as i64;
        for n in 0.. {
            let minor = 1_000 + rng.below(9_000) as i64;
            store.submit(order(&who, &format!("b{person}-{n}"), minor, "USD"), Meta::at(Timestamp(day * DAY))).unwrap();
            orders += 1;
            day += 1 + rng.below(2 * gap as u64) as i64;
            if day > end {
                break;
            }
        }
    }
    orders
}

fn view(store: &Store, person: usize) -> CustomerView {
    let key = CustomerKey::Identity(identity(&format!("email:buyer{person}@example.com")));
    store.customer(&key, None).unwrap().unwrap()
}

#[test]
fn the_fit_is_reused_and_refitted_in_the_background_only_after_a_change_of_five_percent() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), StoreOptions::default()).unwrap();
    let mut rng = Rng(7);
    let orders = buyers(&store, 80, &mut rng);
    assert_eq!(store.clv_fit_count(), 0, "nothing fits before it is asked for");
    assert!(store.latest_clv_fit(TimeUnit::Weeks).is_none());

    let options = ClvOptions::default();
    let first = store.customer_clv(&view(&store, 0), TimeUnit::Weeks, &options).unwrap().unwrap();
    assert_eq!(store.clv_fit_count(), 1, "the first view of a unit fits once");
    let cached = store.latest_clv_fit(TimeUnit::Weeks).unwrap();
    assert_eq!((cached.buyers, cached.orders), (80, orders as u64));
    assert_eq!(cached.calibration_end, store.default_observation_end().unwrap());
    for person in 0..20 {
        store.customer_clv(&view(&store, person), TimeUnit::Weeks, &options).unwrap();
    }
    assert_eq!(store.clv_fit(cached.calibration_end, TimeUnit::Weeks).unwrap(), cached.fit);
    assert_eq!(store.clv_fit_count(), 1, "later views and the same (end, unit) reuse the fit");
    // The view's prediction is the cached fit applied to the view.
    let again = store.predict_customer_clv(&cached.fit, &options, first.customer).unwrap().unwrap();
    assert_eq!(again, first);

    // Below the threshold (fewer than 5 % more orders, no new buyer): no refit.
    let below = (orders as f64 * rapport::CLV_REFIT_CHANGE) as usize - 1;
    for n in 0..below {
        let at = Meta::at(Timestamp((400 + n as i64) * DAY));
        store.submit(order("email:buyer1@example.com", &format!("more-{n}"), 2_500, "USD"), at).unwrap();
    }
    store.wait_for_clv_refits();
    assert_eq!(store.clv_fit_count(), 1, "{below} more orders on {orders} is below 5 %");
    assert_eq!(store.latest_clv_fit(TimeUnit::Weeks), Some(cached));

    // Above it (new buyers, more than 5 %, in one batch): one background refit, at the new
    // observation end.
    let late: Vec<(Input, Meta)> = (80..90)
        .map(|person| {
            let at = Meta::at(Timestamp((420 + person as i64) * DAY));
            (order(&format!("email:buyer{person}@example.com"), "late", 3_000, "USD"), at)
        })
        .collect();
    assert!(store.submit_many(late, false).unwrap().iter().all(Result::is_ok));
    store.wait_for_clv_refits();
    let refitted = store.latest_clv_fit(TimeUnit::Weeks).unwrap();
    assert_eq!(store.clv_fit_count(), 2, "a change above 5 % refits once");
    assert_eq!(refitted.buyers, 90);
    assert_eq!(refitted.calibration_end, store.default_observation_end().unwrap());
    assert_ne!(refitted.fit, cached.fit);
    // Views use the new parameters.
    let after = store.customer_clv(&view(&store, 0), TimeUnit::Weeks, &options).unwrap().unwrap();
    assert_eq!(after, store.predict_customer_clv(&refitted.fit, &options, after.customer).unwrap().unwrap());

    // An explicit fit always fits.
    let fits = store.clv_fit_count();
    store.fit_clv(refitted.calibration_end, TimeUnit::Weeks).unwrap();
    assert_eq!(store.clv_fit_count(), fits + 1);
}

#[test]
fn a_read_only_store_refits_in_memory_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = Store::open(dir.path(), StoreOptions::default()).unwrap();
        buyers(&store, 80, &mut Rng(7));
    }
    let listing = |dir: &std::path::Path| {
        let mut files: Vec<(String, u64)> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap())
            .map(|e| (e.file_name().to_string_lossy().into_owned(), e.metadata().unwrap().len()))
            .collect();
        files.sort();
        files
    };
    let before = listing(dir.path());
    let store = Store::open_read_only(dir.path(), StoreOptions::default()).unwrap();
    let view = store.customer(&CustomerKey::Id(CustomerId(1)), None).unwrap().unwrap();
    store.customer_clv(&view, TimeUnit::Weeks, &ClvOptions::default()).unwrap().unwrap();
    assert_eq!(store.clv_fit_count(), 1);
    drop(store);
    assert_eq!(listing(dir.path()), before);
}

/// A store with every kind of segment member: channels, urgent and repeat tickets, merge
/// conflicts, orders in two currencies, custom events, events out of time order.
fn varied_store(store: &Store, rng: &mut Rng) {
    let channels = [Channel::Email, Channel::Chat, Channel::Sms, Channel::KakaoTalk];
    for step in 0..150u64 {
        let person = rng.below(25);
        let who = format!("email:p{person}@example.com");
        let at = Meta::at(Timestamp(rng.below(200) as i64 * DAY + rng.below(DAY as u64) as i64));
        let input = match rng.below(6) {
            0 => order(
                &who,
                &format!("o{step}"),
                100 + rng.below(10_000) as i64,
                if rng.below(4) == 0 { "EUR" } else { "USD" },
            ),
            1 => message(&who, channels[rng.below(4) as usize].clone()),
            2 => Input::Event(CxEvent::CustomerIdentified(CustomerIdentified {
                identities: vec![identity(&who), identity(&format!("external:shop:{}", rng.below(30)))],
                traits: BTreeMap::new(),
            })),
            3 => Input::Event(CxEvent::CustomerEvent(CustomerEvent {
                identity: identity(&who),
                name: if rng.below(2) == 0 { "checkout".into() } else { "login".into() },
                properties: Default::default(),
            })),
            4 => {
                let Some(ticket) = store.submit(message(&who, Channel::Chat), at).unwrap().ticket_id else { continue };
                Input::Event(CxEvent::TicketFlagged(TicketFlagged {
                    ticket_id: ticket,
                    flag: TicketFlag::Urgent,
                    reason: None,
                }))
            }
            _ => message(&who, Channel::Email),
        };
        // Some inputs are refused (a merge conflict refuses nothing; a rule may): fine.
        let _ = store.submit(input, at);
        // The default observation end equals the old pass over every view.
        let views = store.customers(None).unwrap();
        let by_pass = views.iter().filter_map(|v| v.profile.last_seen).max().unwrap_or_default();
        assert_eq!(store.default_observation_end().unwrap(), by_pass);
    }
}

/// The segment as the store computed it before: from every view (profiles copied).
fn segment_by_views(views: &[CustomerView], segment: &Segment) -> Vec<CustomerId> {
    match segment {
        Segment::OpenUrgentTicket => views.iter().filter(|v| v.flags.open_urgent).map(CustomerView::id).collect(),
        Segment::RepeatInquiry => views.iter().filter(|v| v.flags.repeat_inquiry).map(CustomerView::id).collect(),
        Segment::MergeConflict => views.iter().filter(|v| v.flags.merge_conflict).map(CustomerView::id).collect(),
        Segment::Channel(channel) => views
            .iter()
            .filter(|v| v.profile.channels.iter().any(|(c, _)| c == channel))
            .map(CustomerView::id)
            .collect(),
        Segment::DidEvent { name, days } => {
            let now = views.iter().filter_map(|v| v.profile.last_seen).max().unwrap_or_default();
            views.iter().filter(|v| v.profile.did_event_within(name, *days, now)).map(CustomerView::id).collect()
        }
        Segment::TopSpend(n) => {
            let net = |v: &CustomerView| {
                let currency = v.reporting_currency.as_deref().unwrap_or_default();
                let totals = v.profile.orders.totals();
                totals.iter().find(|t| t.currency.as_str() == currency).map_or(0, |t| t.net.minor())
            };
            let mut ranked: Vec<(i128, CustomerId)> = views.iter().map(|v| (net(v), v.id())).collect();
            ranked.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
            ranked.into_iter().take(*n).map(|(_, id)| id).collect()
        }
    }
}

#[test]
fn segments_and_the_observation_end_equal_the_pass_over_every_view() {
    for seed in [1, 2, 3] {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), StoreOptions::default()).unwrap();
        varied_store(&store, &mut Rng(seed));
        let views = store.customers(None).unwrap();
        let segments = [
            Segment::OpenUrgentTicket,
            Segment::RepeatInquiry,
            Segment::MergeConflict,
            Segment::TopSpend(7),
            Segment::TopSpend(1000),
            Segment::Channel(Channel::Chat),
            Segment::Channel(Channel::Sms),
            Segment::DidEvent { name: "checkout".into(), days: 30 },
            Segment::DidEvent { name: "login".into(), days: 365 },
        ];
        for segment in &segments {
            assert_eq!(store.segment(segment).unwrap(), segment_by_views(&views, segment), "seed {seed}: {segment:?}");
        }
        assert!(!store.segment(&Segment::MergeConflict).unwrap().is_empty(), "seed {seed}: the data has conflicts");
        // The same after a rebuild from the log.
        drop(store);
        let store = Store::open(dir.path(), StoreOptions::default()).unwrap();
        for segment in &segments {
            assert_eq!(store.segment(segment).unwrap(), segment_by_views(&views, segment), "seed {seed} reopened");
        }
    }
}
