//! Criterion micro-benchmarks of the folds: one event of each kind folded into a world of 1,000
//! open tickets and their customers (each known by an e-mail address and a KakaoTalk handle),
//! through each public fold the store's projection is made of — the customer-360 projection
//! (`CustomerProjection::apply`, identity resolution included), the ticket aggregate
//! (`Ticket::evolve`, for events on a ticket's stream) and the metrics projection
//! (`MetricsProjection::apply`, with a business-hours schedule) — and through all three in the
//! store's order (`all`). The store's own projection (`Projection::apply`) is crate-private; `all`
//! is the nearest public equivalent (it leaves out the store's indexes: message references,
//! ticket versions, follow-ups). Then the whole store: opening a store of the generated
//! omnichannel scenario (read + checksum + decode + fold every event), per event.
//!
//! Run: `cargo bench -p rapport-benches --bench fold` (`-- --quick` for a rougher, faster run;
//! a filter such as `-- fold/message.received` selects). Figures are for comparison within one
//! run on one machine.
#![allow(missing_docs, reason = "criterion_group! and criterion_main! generate undocumented items")]

use std::convert::Infallible;
use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion, Throughput};
use rapport::customer::{CustomerProjection, FastMap, ResolutionOptions, Touch};
use rapport::events::{
    Actor, Amount, Channel, CustomerIdentified, CustomerRated, CxEvent, Identity, MessageReceived, MessageSent,
    NormalizeOptions, OrderPlaced, Status, Survey, TicketAssigned, TicketId, TicketOpened, TicketStatusChanged,
};
use rapport::log::{Durability, LogOptions, Position, Timestamp};
use rapport::metrics::{MetricsOptions, MetricsProjection, Schedules};
use rapport::ticket::Ticket;
use rapport::{Store, StoreOptions};

/// Tickets (and customers) in the world every event is folded into.
const TICKETS: usize = 1_000;
/// Agents the tickets are assigned to.
const AGENTS: usize = 20;
/// People in the scenario store that the replay benchmark opens.
const REPLAY_PEOPLE: usize = 2_000;
const SECOND: i64 = 1_000_000;
/// 2026-01-05T00:00:00Z, a Monday.
const START: i64 = 1_767_571_200_000_000;

/// One event on its stream: a ticket's (`Some`) or an identity stream (`None`), before it has a
/// position.
struct Event {
    ticket: Option<TicketId>,
    event: CxEvent,
    at: i64,
}

/// Which fold a benchmark times.
#[derive(Clone, Copy)]
enum Fold {
    Customer,
    Ticket,
    Metrics,
    /// The three, in the store's order: customers, ticket, metrics.
    All,
}

impl Fold {
    fn name(self) -> &'static str {
        match self {
            Fold::Customer => "customer",
            Fold::Ticket => "ticket",
            Fold::Metrics => "metrics",
            Fold::All => "all",
        }
    }
}

fn identity(kind: &str, value: &str) -> Identity {
    Identity::parse(kind, value, &NormalizeOptions::default()).expect("identity")
}

fn email(person: usize) -> Identity {
    identity("email", &format!("person{person}@example.com"))
}

fn kakao(person: usize) -> Identity {
    identity("kakaotalk", &format!("kakao_user{person}"))
}

fn ticket_id(prefix: &str, n: usize) -> TicketId {
    TicketId::new(format!("{prefix}-{n}")).expect("ticket id")
}

/// Business hours in Berlin with the 2026 public holidays, as a store-wide schedule: status
/// changes then do the business-time arithmetic they do in production.
fn metrics_options() -> MetricsOptions {
    let schedules = Schedules::from_json(
        r#"{"default": {"time_zone": "Europe/Berlin",
             "weekly": {"mon": "09:00-17:00", "tue": "09:00-17:00", "wed": ["09:00-12:00", "13:00-17:00"],
                        "thu": "09:00-17:00", "fri": "09:00-16:00"},
             "holidays": ["2026-01-01", "2026-04-03", "2026-04-06", "2026-05-01", "2026-05-14", "2026-05-25",
                          "2026-10-03", "2026-12-25", "2026-12-26"]}}"#,
    )
    .expect("schedules");
    MetricsOptions { schedules, ..MetricsOptions::default() }
}

/// The state every benchmarked event is folded into.
struct World {
    /// The position the next event gets.
    position: u64,
    customers: CustomerProjection,
    tickets: FastMap<TicketId, Ticket>,
    metrics: MetricsProjection,
    /// Ticket `i` belongs to person `i`.
    ticket_ids: Vec<TicketId>,
    emails: Vec<Identity>,
    /// The time of the latest event folded.
    at: i64,
}

impl World {
    /// Person `i` is identified by e-mail and KakaoTalk, opens ticket `T-i` by e-mail and
    /// writes once; the ticket is assigned and open.
    fn new(options: &MetricsOptions) -> World {
        let mut world = World {
            position: 0,
            customers: CustomerProjection::new(ResolutionOptions::default()),
            tickets: FastMap::default(),
            metrics: MetricsProjection::new(options.clone()),
            ticket_ids: (0..TICKETS).map(|i| ticket_id("T", i)).collect(),
            emails: (0..TICKETS).map(email).collect(),
            at: START,
        };
        for person in 0..TICKETS {
            let at = START + person as i64 * SECOND;
            let ticket = world.ticket_ids[person].clone();
            let on_ticket = |event: CxEvent| Event { ticket: Some(ticket.clone()), event, at };
            let events = [
                Event {
                    ticket: None,
                    event: CxEvent::CustomerIdentified(CustomerIdentified {
                        identities: vec![email(person), kakao(person)],
                        traits: Default::default(),
                    }),
                    at,
                },
                on_ticket(opened(ticket.clone(), email(person))),
                on_ticket(received(ticket.clone(), email(person))),
                on_ticket(CxEvent::TicketAssigned(TicketAssigned {
                    ticket_id: ticket.clone(),
                    group: None,
                    assignee: Some(format!("agent-{}", person % AGENTS)),
                })),
                on_ticket(CxEvent::TicketStatusChanged(TicketStatusChanged {
                    ticket_id: ticket.clone(),
                    status: Status::Open,
                })),
            ];
            for event in events {
                world.fold_event(event);
            }
        }
        world
    }

    /// What the store folds for `event` (a decoded record), `offset` positions after the next.
    fn touch(&self, event: Event, offset: usize) -> Touch {
        let position = Position(self.position + offset as u64);
        Touch { position, ticket: event.ticket, event: event.event, at: Timestamp(event.at), derived: false }
    }

    fn fold_event(&mut self, event: Event) {
        let touch = self.touch(event, 0);
        self.fold(Fold::All, &touch);
    }

    fn fold(&mut self, fold: Fold, touch: &Touch) {
        debug_assert_eq!(touch.position.0, self.position, "every position once, in order");
        self.position += 1;
        self.at = self.at.max(touch.at.0);
        if matches!(fold, Fold::Customer | Fold::All) {
            let outcome = self.customers.apply(touch, &mut |_| Ok::<_, Infallible>(None));
            let Ok(()) = outcome;
        }
        if matches!(fold, Fold::Ticket | Fold::All) {
            if let Some(ticket_id) = &touch.ticket {
                let state = self.tickets.remove(ticket_id);
                if let Some(ticket) = Ticket::evolve(state, &touch.event, touch.at) {
                    self.tickets.insert(ticket_id.clone(), ticket);
                }
            }
        }
        if matches!(fold, Fold::Metrics | Fold::All) {
            self.metrics.apply(touch.ticket.as_ref(), &touch.event, touch.at);
        }
    }
}

fn opened(ticket_id: TicketId, requester: Identity) -> CxEvent {
    CxEvent::TicketOpened(TicketOpened {
        ticket_id,
        requester,
        channel: Channel::Email,
        subject: Some("Where is my order?".to_owned()),
        priority: None,
        ticket_type: None,
        topic: None,
        group: None,
        assignee: None,
        tags: Vec::new(),
        status: None,
        follow_up_of: None,
    })
}

fn received(ticket_id: TicketId, from: Identity) -> CxEvent {
    CxEvent::MessageReceived(MessageReceived {
        channel: Channel::Email,
        from,
        ticket_id: Some(ticket_id),
        topic: None,
        subject: Some("Where is my order?".to_owned()),
        body: Some("I ordered a week ago and the parcel has not arrived yet.".to_owned()),
    })
}

/// One kind of event to fold: `event(world, k)` is the `k`-th event of a run (valid after the
/// ones before it), `prepare(world, k)` what must be folded (untimed) before it, if anything.
struct Kind {
    name: &'static str,
    /// Whether the events are on a ticket's stream (so the ticket fold sees them).
    on_ticket: bool,
    prepare: fn(&World, usize) -> Vec<Event>,
    event: fn(&World, usize) -> Event,
}

fn nothing(_: &World, _: usize) -> Vec<Event> {
    Vec::new()
}

/// The `k`-th event goes to ticket `k mod TICKETS`, one second after the latest event.
fn on_ticket(world: &World, k: usize, event: impl FnOnce(TicketId) -> CxEvent) -> Event {
    let ticket = world.ticket_ids[k % TICKETS].clone();
    Event { ticket: Some(ticket.clone()), event: event(ticket), at: world.at + (k as i64 + 1) * SECOND }
}

fn off_ticket(world: &World, k: usize, event: CxEvent) -> Event {
    Event { ticket: None, event, at: world.at + (k as i64 + 1) * SECOND }
}

/// Two customers of their own, with e-mail addresses no one else has, that the merge event links.
fn merge_parties(world: &World, k: usize) -> Vec<Event> {
    [format!("left{k}@example.org"), format!("right{k}@example.org")]
        .iter()
        .map(|address| {
            off_ticket(
                world,
                k,
                CxEvent::CustomerIdentified(CustomerIdentified {
                    identities: vec![identity("email", address)],
                    traits: Default::default(),
                }),
            )
        })
        .collect()
}

fn kinds() -> Vec<Kind> {
    vec![
        Kind {
            name: "ticket.opened",
            on_ticket: true,
            prepare: nothing,
            event: |world, k| {
                let ticket = ticket_id("N", k);
                let requester = world.emails[k % TICKETS].clone();
                Event {
                    ticket: Some(ticket.clone()),
                    event: opened(ticket, requester),
                    at: world.at + (k as i64 + 1) * SECOND,
                }
            },
        },
        Kind {
            name: "message.received",
            on_ticket: true,
            prepare: nothing,
            event: |world, k| on_ticket(world, k, |ticket| received(ticket, world.emails[k % TICKETS].clone())),
        },
        Kind {
            name: "message.sent",
            on_ticket: true,
            prepare: nothing,
            event: |world, k| {
                on_ticket(world, k, |ticket_id| {
                    CxEvent::MessageSent(MessageSent {
                        ticket_id,
                        channel: Channel::Email,
                        agent: format!("agent-{}", k % AGENTS),
                        public: true,
                        body: Some("Your parcel left our warehouse this morning.".to_owned()),
                        actor: Actor::default(),
                    })
                })
            },
        },
        Kind {
            name: "ticket.status_changed",
            on_ticket: true,
            prepare: nothing,
            event: |world, k| {
                // Every ticket alternates pending, open, pending, ... (all are open at the start).
                let status = if (k / TICKETS).is_multiple_of(2) { Status::Pending } else { Status::Open };
                on_ticket(world, k, |ticket_id| CxEvent::TicketStatusChanged(TicketStatusChanged { ticket_id, status }))
            },
        },
        Kind {
            name: "ticket.assigned",
            on_ticket: true,
            prepare: nothing,
            event: |world, k| {
                on_ticket(world, k, |ticket_id| {
                    CxEvent::TicketAssigned(TicketAssigned {
                        ticket_id,
                        group: None,
                        assignee: Some(format!("agent-{}", (k + 1) % AGENTS)),
                    })
                })
            },
        },
        Kind {
            name: "customer.order_placed",
            on_ticket: false,
            prepare: nothing,
            event: |world, k| {
                off_ticket(
                    world,
                    k,
                    CxEvent::OrderPlaced(OrderPlaced {
                        identity: world.emails[k % TICKETS].clone(),
                        order_id: format!("O-{k}"),
                        amount: Amount::from_minor(4_990).expect("amount"),
                        currency: "EUR".to_owned(),
                    }),
                )
            },
        },
        Kind {
            name: "customer.rated",
            on_ticket: false,
            prepare: nothing,
            event: |world, k| {
                off_ticket(
                    world,
                    k,
                    CxEvent::CustomerRated(CustomerRated {
                        identity: world.emails[k % TICKETS].clone(),
                        survey: Survey::Csat,
                        score: 1 + (k % 5) as u8,
                        ticket_id: Some(world.ticket_ids[k % TICKETS].clone()),
                        comment: None,
                        reason: None,
                    }),
                )
            },
        },
        Kind {
            // Identity linking that changes nothing: both identities already belong to the customer.
            name: "customer.identified/known",
            on_ticket: false,
            prepare: nothing,
            event: |world, k| {
                let person = k % TICKETS;
                off_ticket(
                    world,
                    k,
                    CxEvent::CustomerIdentified(CustomerIdentified {
                        identities: vec![world.emails[person].clone(), kakao(person)],
                        traits: Default::default(),
                    }),
                )
            },
        },
        Kind {
            // Identity linking that merges two customers (prepared, untimed, for each event).
            name: "customer.identified/merge",
            on_ticket: false,
            prepare: merge_parties,
            event: |world, k| {
                off_ticket(
                    world,
                    k,
                    CxEvent::CustomerIdentified(CustomerIdentified {
                        identities: vec![
                            identity("email", &format!("left{k}@example.org")),
                            identity("email", &format!("right{k}@example.org")),
                        ],
                        traits: Default::default(),
                    }),
                )
            },
        },
    ]
}

/// Times `iters` events of `kind` through `fold`, in a fresh world (built untimed), so the state
/// they change grows only within one sample. The events are decoded and positioned beforehand,
/// untimed: what is timed is the fold alone.
fn run(options: &MetricsOptions, kind: &Kind, fold: Fold, iters: u64) -> Duration {
    let mut world = World::new(options);
    let n_events = usize::try_from(iters).expect("iterations fit in usize");
    for k in 0..n_events {
        for event in (kind.prepare)(&world, k) {
            world.fold_event(event);
        }
    }
    let touches: Vec<Touch> = (0..n_events).map(|k| world.touch((kind.event)(&world, k), k)).collect();
    let start = Instant::now();
    for touch in &touches {
        world.fold(fold, black_box(touch));
    }
    let elapsed = start.elapsed();
    black_box(&world);
    elapsed
}

fn fold_kinds(c: &mut Criterion) {
    let options = metrics_options();
    for kind in kinds() {
        let mut group: BenchmarkGroup<'_, _> = c.benchmark_group(format!("fold/{}", kind.name));
        group.throughput(Throughput::Elements(1));
        let folds: &[Fold] = if kind.on_ticket {
            &[Fold::Customer, Fold::Ticket, Fold::Metrics, Fold::All]
        } else {
            &[Fold::Customer, Fold::Metrics, Fold::All]
        };
        for fold in folds {
            group.bench_function(fold.name(), |b| b.iter_custom(|iters| run(&options, &kind, *fold, iters)));
        }
        group.finish();
    }
}

/// The whole store: open (read, verify, decode and fold every event) a store holding the
/// omnichannel scenario of `rapport-testkit`.
fn replay(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let options = || StoreOptions {
        log: LogOptions { durability: Durability::None, ..LogOptions::default() },
        ..StoreOptions::default()
    };
    let n_events = {
        let store = Store::open(dir.path(), options()).expect("create store");
        let inputs = rapport_testkit::scenario::omnichannel(store.ids(), 11, REPLAY_PEOPLE, START);
        let results = store.submit_many(inputs, false).expect("import scenario");
        assert!(results.iter().all(Result::is_ok), "the scenario is valid");
        store.log().sync().expect("sync");
        store.log().end_position().0
    };
    let mut group = c.benchmark_group("replay");
    group.throughput(Throughput::Elements(n_events));
    group.sample_size(10);
    group.bench_function(format!("store_open/{REPLAY_PEOPLE}_people_{n_events}_events"), |b| {
        b.iter(|| Store::open(dir.path(), options()).expect("open store"))
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_millis(800))
        .sample_size(20);
    targets = fold_kinds, replay
}
criterion_main!(benches);
