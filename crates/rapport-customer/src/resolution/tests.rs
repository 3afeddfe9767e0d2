//! Every resolution rule, one short test each, and a proptest against a union-find model: the
//! partition of identities into customers is the connected components of the link facts, no
//! matter whether the events were decided one by one on the live state or as one batch on an
//! overlay (the store's planning path), and every identity has exactly one customer.

use std::collections::HashMap;

use proptest::prelude::*;
use rapport_events::{CustomerId, Identity, NormalizeOptions};

use super::*;

fn identity(pair: &str) -> Identity {
    Identity::parse_pair(pair, &NormalizeOptions::default()).unwrap()
}

fn ids(pairs: &[&str]) -> Vec<Identity> {
    pairs.iter().map(|p| identity(p)).collect()
}

/// Applies events one by one to a resolver; returns the customer of each event.
fn run(resolver: &mut Resolver, events: &[&[&str]]) -> Vec<Option<CustomerId>> {
    let options = ResolutionOptions::default();
    events
        .iter()
        .map(|event| {
            let owned = ids(event);
            let refs: Vec<&Identity> = owned.iter().collect();
            decide(resolver, &refs, &options).map(|decision| apply(resolver, &decision))
        })
        .collect()
}

fn owner(resolver: &Resolver, pair: &str) -> Option<CustomerId> {
    resolver.owner(&identity(pair))
}

#[test]
fn unknown_identities_create_one_customer() {
    let mut resolver = Resolver::default();
    let customers = run(&mut resolver, &[&["email:kim@example.com", "kakao:kim"]]);
    assert_eq!(customers, vec![Some(CustomerId(1))]);
    assert_eq!(owner(&resolver, "kakao:kim"), Some(CustomerId(1)));
    assert_eq!(resolver.customer_count(), 1);
}

#[test]
fn normalization_makes_one_identity() {
    let mut resolver = Resolver::default();
    run(&mut resolver, &[&["email:Kim@Example.com "], &["email:kim@example.com"]]);
    assert_eq!(resolver.customer_count(), 1);
    assert_eq!(resolver.identity_count(), 1);
}

#[test]
fn chains_of_links_end_in_one_customer() {
    let mut resolver = Resolver::default();
    run(&mut resolver, &[&["email:a@x.io"], &["kakao:a"], &["phone:+14155550100"]]);
    assert_eq!(resolver.customer_count(), 3);
    run(&mut resolver, &[&["email:a@x.io", "kakao:a"], &["kakao:a", "phone:+14155550100"]]);
    assert_eq!(resolver.customer_count(), 1);
    for pair in ["email:a@x.io", "kakao:a", "phone:+14155550100"] {
        assert_eq!(owner(&resolver, pair), Some(CustomerId(1)), "{pair} ends at the oldest customer");
    }
}

#[test]
fn three_customers_merge_into_the_oldest() {
    let mut resolver = Resolver::default();
    run(&mut resolver, &[&["kakao:c"], &["kakao:b"], &["kakao:a"]]);
    let options = ResolutionOptions::default();
    let owned = ids(&["kakao:a", "kakao:b", "kakao:c"]);
    let decision = decide(&resolver, &owned.iter().collect::<Vec<_>>(), &options).unwrap();
    assert_eq!(decision.target, Some(CustomerId(1)));
    assert_eq!(decision.merged, vec![CustomerId(2), CustomerId(3)]);
    assert_eq!(decision.cause, Some(identity("kakao:a")), "the first identity owned by a merged customer");
    apply(&mut resolver, &decision);
    assert_eq!(resolver.customer_count(), 1);
    assert_eq!(resolver.resolve(CustomerId(3)), CustomerId(1), "merged ids stay resolvable");
    assert_eq!(resolver.resolve(CustomerId(2)), CustomerId(1));
}

#[test]
fn unique_kinds_prevent_merges_and_record_a_conflict() {
    let mut resolver = Resolver::default();
    run(&mut resolver, &[&["external:shop:1", "email:a@x.io"], &["external:shop:2", "email:b@x.io"]]);
    let options = ResolutionOptions::default();
    let owned = ids(&["email:b@x.io", "email:a@x.io", "kakao:new"]);
    let decision = decide(&resolver, &owned.iter().collect::<Vec<_>>(), &options).unwrap();
    assert!(decision.merged.is_empty());
    assert_eq!(decision.conflict, Some((vec![CustomerId(1), CustomerId(2)], "external:shop".to_owned())));
    assert_eq!(decision.target, Some(CustomerId(2)), "unknown identities go to the first listed identity's customer");
    apply(&mut resolver, &decision);
    assert_eq!(owner(&resolver, "kakao:new"), Some(CustomerId(2)));
    assert_eq!(resolver.customer_count(), 2);
}

#[test]
fn a_second_unique_value_never_joins_a_customer() {
    let mut resolver = Resolver::default();
    run(&mut resolver, &[&["external:shop:1", "email:a@x.io"], &["email:a@x.io", "external:shop:2"]]);
    assert_ne!(owner(&resolver, "external:shop:2"), owner(&resolver, "external:shop:1"));
    assert_eq!(resolver.customer_count(), 2);
}

#[test]
fn blocked_values_never_link() {
    let mut resolver = Resolver::default();
    run(
        &mut resolver,
        &[&["email:test@test.com", "kakao:a"], &["email:test@test.com", "kakao:b"], &["chat:unknown", "kakao:c"]],
    );
    assert_eq!(resolver.customer_count(), 3);
    assert_eq!(owner(&resolver, "email:test@test.com"), None, "blocked values are not owned");
    let options = ResolutionOptions::default();
    let owned = ids(&["chat:0000", "chat:--"]);
    assert_eq!(decide(&resolver, &owned.iter().collect::<Vec<_>>(), &options), None, "all zeros and dashes");
}

#[test]
fn split_moves_identities_and_blocks_the_same_link() {
    let mut resolver = Resolver::default();
    run(&mut resolver, &[&["email:a@x.io", "phone:+14155550100"]]);
    let new = resolver.split(CustomerId(1), &ids(&["phone:+14155550100"]));
    assert_eq!(new, CustomerId(2));
    assert_eq!(owner(&resolver, "phone:+14155550100"), Some(CustomerId(2)));
    assert_eq!(owner(&resolver, "email:a@x.io"), Some(CustomerId(1)));
    run(&mut resolver, &[&["email:a@x.io", "phone:+14155550100"]]);
    assert_eq!(resolver.customer_count(), 2, "the same link fact does not merge them back");
    run(&mut resolver, &[&["phone:+14155550100", "kakao:z"]]);
    assert_eq!(owner(&resolver, "kakao:z"), Some(CustomerId(2)), "later events follow the split");
    run(&mut resolver, &[&["kakao:z", "email:a@x.io"]]);
    assert_eq!(resolver.customer_count(), 1, "a new link fact may merge them");
}

proptest! {
    #[test]
    fn partition_is_the_components_of_the_link_facts(
        events in prop::collection::vec(prop::collection::vec(0usize..12, 1..4), 1..30),
        flush_every in 1usize..6,
    ) {
        let pool: Vec<Identity> = (0..12).map(|n| identity(&format!("kakao:user{n}"))).collect();
        let options = ResolutionOptions::default();
        // Live path: one event at a time.
        let mut live = Resolver::default();
        for event in &events {
            let identities: Vec<&Identity> = event.iter().map(|n| &pool[*n]).collect();
            if let Some(decision) = decide(&live, &identities, &options) {
                apply(&mut live, &decision);
            }
        }
        // Planning path: decide on an overlay, flushing into the base every few events.
        let mut base = Resolver::default();
        for chunk in events.chunks(flush_every) {
            let decisions: Vec<Decision> = {
                let mut overlay = Overlay::new(&base);
                chunk
                    .iter()
                    .filter_map(|event| {
                        let identities: Vec<&Identity> = event.iter().map(|n| &pool[*n]).collect();
                        let decision = decide(&overlay, &identities, &options)?;
                        apply(&mut overlay, &decision);
                        Some(decision)
                    })
                    .collect()
            };
            for decision in &decisions {
                apply(&mut base, decision);
            }
        }
        // Model: union-find over the link facts.
        let mut parent: Vec<usize> = (0..12).collect();
        fn find(parent: &mut [usize], x: usize) -> usize {
            let mut root = x;
            while parent[root] != root { root = parent[root]; }
            parent[x] = root;
            root
        }
        let mut seen = [false; 12];
        for event in &events {
            for n in event { seen[*n] = true; }
            for pair in event.windows(2) {
                let (a, b) = (find(&mut parent, pair[0]), find(&mut parent, pair[1]));
                parent[a] = b;
            }
        }
        let mut model: HashMap<usize, Vec<usize>> = HashMap::new();
        for (n, seen_n) in seen.iter().enumerate() {
            if *seen_n {
                let root = find(&mut parent, n);
                model.entry(root).or_default().push(n);
            }
        }
        prop_assert_eq!(live.customer_count(), model.len(), "one customer per component");
        for members in model.values() {
            let owners: Vec<Option<CustomerId>> = members.iter().map(|n| live.owner(&pool[*n])).collect();
            prop_assert!(owners.iter().all(|o| o.is_some() && *o == owners[0]), "component {members:?} split: {owners:?}");
        }
        for (n, seen_n) in seen.iter().enumerate() {
            prop_assert_eq!(live.owner(&pool[n]), base.owner(&pool[n]), "live and planned paths differ for user{}", n);
            let holders = live.customers().into_iter().filter(|c| live.identities_of(*c).any(|i| *i == pool[n])).count();
            prop_assert_eq!(holders, usize::from(*seen_n), "user{} must be held by exactly one customer", n);
        }
    }
}
