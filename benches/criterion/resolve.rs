//! Criterion micro-benchmarks of identity resolution (`rapport_customer::resolution`) among
//! 100,000 customers, each known by an e-mail address and a KakaoTalk handle: the owner of a
//! known identity (hit) and of an unknown one (miss); the decision for an event with one known
//! or unknown identity, and for one carrying two identities of the same customer; a link that
//! merges two customers, planned on an `Overlay` (what the store does before it appends) and
//! applied to the live `Resolver` (what the projection does when it folds the event).
//!
//! Run: `cargo bench -p rapport-benches --bench resolve` (`-- --quick` for a rougher, faster
//! run). Figures are for comparison within one run on one machine.
#![allow(missing_docs, reason = "criterion_group! and criterion_main! generate undocumented items")]

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use rapport::customer::resolution::{apply, decide, Overlay, ResolutionOptions, Resolver, ResolverMut, ResolverView};
use rapport::events::{Identity, NormalizeOptions};

/// Customers in the resolver.
const CUSTOMERS: usize = 100_000;
/// Distinct identities a benchmark cycles through (so it is not one hot cache line).
const PROBES: usize = 4_096;

fn identity(kind: &str, value: &str) -> Identity {
    Identity::parse(kind, value, &NormalizeOptions::default()).expect("identity")
}

fn email(person: usize) -> Identity {
    identity("email", &format!("person{person}@example.com"))
}

fn kakao(person: usize) -> Identity {
    identity("kakaotalk", &format!("kakao_user{person}"))
}

/// Customer `i + 1` holds `email(i)` and `kakao(i)`.
fn resolver() -> Resolver {
    let mut resolver = Resolver::default();
    for person in 0..CUSTOMERS {
        resolver.create(vec![email(person), kakao(person)]);
    }
    resolver
}

/// Persons spread over the whole resolver.
fn probe_persons() -> impl Iterator<Item = usize> {
    (0..PROBES).map(|i| (i * 7_919 + 13) % CUSTOMERS)
}

/// Identities for merges: pairs of customers of their own, cloned from a pool that grows on
/// demand (parsing is not what is measured).
struct MergePool {
    pairs: Vec<(Identity, Identity)>,
}

impl MergePool {
    fn take(&mut self, n: usize) -> &[(Identity, Identity)] {
        while self.pairs.len() < n {
            let k = self.pairs.len();
            self.pairs.push((
                identity("email", &format!("left{k}@example.org")),
                identity("kakaotalk", &format!("right{k}")),
            ));
        }
        &self.pairs[..n]
    }
}

fn lookups(c: &mut Criterion) {
    let resolver = resolver();
    let options = ResolutionOptions::default();
    let known: Vec<Identity> = probe_persons().map(email).collect();
    let unknown: Vec<Identity> = (0..PROBES).map(|i| identity("email", &format!("stranger{i}@example.net"))).collect();
    let known_pairs: Vec<(Identity, Identity)> = probe_persons().map(|p| (email(p), kakao(p))).collect();

    let mut group = c.benchmark_group("resolve");
    group.throughput(Throughput::Elements(1));
    let mut i = 0usize;
    let mut next = || {
        i = (i + 1) % PROBES;
        i
    };
    group.bench_function("owner/hit", |b| b.iter(|| resolver.owner(black_box(&known[next()]))));
    group.bench_function("owner/miss", |b| b.iter(|| resolver.owner(black_box(&unknown[next()]))));
    group.bench_function("decide/hit", |b| b.iter(|| decide(&resolver, &[black_box(&known[next()])], &options)));
    group.bench_function("decide/miss", |b| b.iter(|| decide(&resolver, &[black_box(&unknown[next()])], &options)));
    group.bench_function("decide/two_known_same_customer", |b| {
        b.iter(|| {
            let (email, kakao) = &known_pairs[next()];
            decide(&resolver, &[black_box(email), black_box(kakao)], &options)
        })
    });
    // Two different customers: the decision is a merge into the older one.
    group.bench_function("merge/plan_on_overlay", |b| {
        b.iter(|| {
            let a = &known[next()];
            let b = &known_pairs[next()].1;
            let mut overlay = Overlay::new(&resolver);
            let decision = decide(&overlay, &[black_box(a), black_box(b)], &options).expect("a decision");
            assert!(!decision.merged.is_empty(), "two customers merge");
            apply(&mut overlay, &decision)
        })
    });
    group.finish();

    // The live resolver changes with every merge, so each sample gets a fresh copy (untimed) with
    // two new customers per merge it times.
    let mut pool = MergePool { pairs: Vec::new() };
    let mut group = c.benchmark_group("resolve");
    group.throughput(Throughput::Elements(1));
    group.bench_function("merge/apply_live", |b| {
        b.iter_custom(|iters| {
            let pairs = pool.take(usize::try_from(iters).expect("iterations fit in usize"));
            let mut live = resolver.clone();
            for (left, right) in pairs {
                live.create(vec![left.clone()]);
                live.create(vec![right.clone()]);
            }
            let start = Instant::now();
            for (left, right) in pairs {
                let decision = decide(&live, &[black_box(left), black_box(right)], &options).expect("a decision");
                apply(&mut live, &decision);
            }
            let elapsed = start.elapsed();
            assert_eq!(live.customer_count(), CUSTOMERS + pairs.len(), "every pair merged");
            elapsed
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(30);
    targets = lookups
}
criterion_main!(benches);
