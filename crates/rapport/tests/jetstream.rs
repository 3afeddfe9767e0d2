//! The facade's suite on the JetStream engine: the same modules as `tests/it` (routing, merges,
//! splits, metrics, idempotency, customers, erasure and retention, channels, organizations), compiled here over a
//! node of a one-server JetStream cluster that this binary starts on 127.0.0.1
//! (`rapport_jetstream::testing::Cluster`, real `nats-server` processes; without nats-server
//! every test fails and says how to install it). Each store directory is one stream, so a test
//! that reopens a directory reopens the same node.

#[path = "it/channels.rs"]
mod channels;
#[path = "it/customers.rs"]
mod customers;
#[path = "it/erasure.rs"]
mod erasure;
#[path = "it/metrics.rs"]
mod metrics;
#[path = "it/metrics_definitions.rs"]
mod metrics_definitions;
#[path = "it/organizations.rs"]
mod organizations;
#[path = "it/routing.rs"]
mod routing;
#[path = "it/store.rs"]
mod store;

use std::hash::{Hash, Hasher};
use std::path::Path;
use std::sync::OnceLock;

use rapport::{Store, StoreOptions};
use rapport_jetstream::testing::Cluster;
use rapport_jetstream::{JetStreamLog, JetStreamOptions};

/// The cluster every test of this binary uses, with the directory that holds its servers.
fn cluster() -> &'static Cluster {
    static CLUSTER: OnceLock<(Cluster, tempfile::TempDir)> = OnceLock::new();
    &CLUSTER
        .get_or_init(|| {
            let dir = tempfile::tempdir().expect("a temporary directory for the servers");
            let cluster = Cluster::start(1, dir.path())
                .unwrap_or_else(|error| panic!("starting nats-server (scripts/test.sh installs it): {error}"));
            (cluster, dir)
        })
        .0
}

/// The stream of a store directory: the same for every open of one directory.
fn stream_of(dir: &Path) -> String {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    dir.hash(&mut hasher);
    format!("suite-{:016x}", hasher.finish())
}

/// Opens the node of `dir`'s stream. A node needs the master key its cluster shares; the suite's
/// options that have none get a fixed one.
pub(crate) fn open_store_with(dir: impl AsRef<Path>, mut options: StoreOptions) -> rapport::Result<Store> {
    let dir = dir.as_ref();
    if options.master_key.is_none() {
        options.master_key = Some(master_key());
    }
    let mut engine = JetStreamOptions::new(cluster().urls(), stream_of(dir), dir);
    engine.local = options.log.clone();
    let engine = JetStreamLog::open(engine).map_err(|error| {
        rapport::Error::Log(rapport::log::Error::Engine { engine: "jetstream", source: Box::new(error) })
    })?;
    Store::open_with(Box::new(engine), options)
}

/// A fresh node on `dir`'s stream (its own new directory, so nothing local is reused): the
/// projections it rebuilds from the stream.
pub(crate) fn rebuilt_beside(dir: &Path, options: StoreOptions) -> (Store, Box<dyn std::any::Any>) {
    let fresh = tempfile::tempdir().unwrap();
    let mut engine = JetStreamOptions::new(cluster().urls(), stream_of(dir), fresh.path());
    engine.local = options.log.clone();
    let engine = JetStreamLog::open(engine).unwrap();
    let options = StoreOptions { master_key: Some(master_key()), ..options };
    (Store::open_with(Box::new(engine), options).unwrap(), Box::new(fresh))
}

/// The master key the suite's nodes share.
fn master_key() -> rapport::vault::MasterKey {
    rapport::vault::MasterKey::from_bytes([0x5a; 32])
}

/// Two nodes of one store, each with its own directory, on one stream.
mod nodes {
    use std::time::Duration;

    use rapport::events::{Channel, Identity, NormalizeOptions, TicketId};
    use rapport::log::Timestamp;
    use rapport::ticket::{OpenTicket, TicketCommand};
    use rapport::{Input, Meta, StoreOptions};

    use super::{cluster, master_key};

    fn node(stream: &str, dir: &std::path::Path) -> rapport::Store {
        let engine = rapport_jetstream::JetStreamOptions::new(cluster().urls(), stream, dir);
        let engine = rapport_jetstream::JetStreamLog::open(engine).unwrap();
        let options = StoreOptions { master_key: Some(master_key()), ..StoreOptions::default() };
        rapport::Store::open_with(Box::new(engine), options).unwrap()
    }

    fn id(text: &str) -> TicketId {
        TicketId::new(text).unwrap()
    }

    /// An agent's public e-mail reply.
    fn reply(agent: &str, body: &str) -> TicketCommand {
        TicketCommand::SendMessage {
            channel: Channel::Email,
            agent: agent.into(),
            public: true,
            body: Some(body.into()),
            actor: Default::default(),
        }
    }

    /// A command that opens ticket `ticket` for `requester` by e-mail.
    fn open(ticket: &str, requester: &Identity) -> Input {
        Input::Command {
            ticket_id: id(ticket),
            command: TicketCommand::Open(OpenTicket::new(id(ticket), requester.clone(), Channel::Email)),
        }
    }

    /// The message bodies of a ticket's history as this node shows them.
    fn bodies(store: &rapport::Store, ticket: &str) -> Vec<String> {
        store
            .ticket_history(&id(ticket))
            .unwrap()
            .into_iter()
            .filter_map(|(_, event)| match event {
                rapport::events::CxEvent::MessageSent(sent) => sent.body,
                _ => None,
            })
            .collect()
    }

    /// A command without personal data (a tag), which any node can write on any ticket.
    fn tag(thread: usize, n: u32) -> TicketCommand {
        TicketCommand::Tag { add: vec![format!("node{thread}-{n}")], remove: Vec::new() }
    }

    #[test]
    fn two_nodes_write_one_ticket_concurrently_and_agree_with_a_fresh_node() {
        let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
        let stream = "two-nodes";
        let (one, two) = (node(stream, dirs[0].path()), node(stream, dirs[1].path()));
        let kim = Identity::parse_pair("email:kim@example.com", &NormalizeOptions::default()).unwrap();
        let opened = open("T-1", &kim);
        let submitted = one.submit(opened, Meta::at(Timestamp(0))).unwrap();
        // A read on the other node after a write on this one: wait for its position.
        let end = one.log().end_position();
        assert!(two.wait_for(end, Duration::from_secs(10)).unwrap());
        assert!(two.ticket(&id("T-1")).unwrap().is_some(), "{submitted:?}");

        // A reply seals its text under the requester's data key, which node one created: node
        // two finds it in the key records the nodes share, and node one opens what two sealed.
        two.execute(&id("T-1"), reply("agent-2", "hello from node two"), Meta::at(Timestamp(1))).unwrap();
        assert!(one.wait_for(two.log().end_position(), Duration::from_secs(10)).unwrap());
        assert_eq!(bodies(&one, "T-1"), ["hello from node two"]);

        // Both nodes tag the ticket at once: every command lands, once, in one order.
        let per_node: u32 = 12;
        std::thread::scope(|scope| {
            for (thread, store) in [&one, &two].into_iter().enumerate() {
                scope.spawn(move || {
                    for n in 0..per_node {
                        store.execute(&id("T-1"), tag(thread, n), Meta::at(Timestamp(2))).unwrap();
                    }
                });
            }
        });
        let end = one.log().end_position().max(two.log().end_position());
        for store in [&one, &two] {
            assert!(store.wait_for(end, Duration::from_secs(10)).unwrap());
            let ticket = store.ticket(&id("T-1")).unwrap().unwrap();
            assert_eq!(ticket.tags().len() as u32, 2 * per_node, "{:?}", ticket.tags());
            assert_eq!(ticket.public_replies(), 1);
            let versions: Vec<u64> =
                store.ticket_history(&id("T-1")).unwrap().iter().map(|(r, _)| r.version.0).collect();
            assert_eq!(versions, (0..versions.len() as u64).collect::<Vec<_>>(), "versions are contiguous");
        }
        // The same customer id for kim on both nodes (shared id and hash keys), and a fresh node
        // rebuilds the same tickets.
        let customer =
            |store: &rapport::Store| store.customer_id(&rapport::CustomerKey::Identity(kim.clone())).unwrap();
        assert!(customer(&one).is_some());
        assert_eq!(customer(&one), customer(&two));
        let fresh = node(stream, dirs[2].path());
        assert_eq!(fresh.log().end_position(), end);
        assert_eq!(fresh.tickets().unwrap(), one.tickets().unwrap());
        assert_eq!(two.tickets().unwrap(), one.tickets().unwrap());
        assert_eq!(customer(&fresh), customer(&one));
    }

    #[test]
    fn an_erasure_on_one_node_erases_on_every_node_and_a_fresh_one() {
        let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
        let stream = "erasure-nodes";
        let (one, two) = (node(stream, dirs[0].path()), node(stream, dirs[1].path()));
        let kim = Identity::parse_pair("email:kim@example.com", &NormalizeOptions::default()).unwrap();
        let opened = open("T-9", &kim);
        one.submit(opened, Meta::at(Timestamp(0))).unwrap();
        one.execute(&id("T-9"), reply("agent-1", "your order ships today"), Meta::at(Timestamp(1))).unwrap();
        assert!(two.wait_for(one.log().end_position(), Duration::from_secs(10)).unwrap());
        assert_eq!(bodies(&two, "T-9"), ["your order ships today"]);
        let key = rapport::CustomerKey::Identity(kim.clone());
        let customer = two.customer_id(&key).unwrap().unwrap();
        let view = two.customer(&key, None).unwrap().unwrap();
        assert_eq!(view.identities[0].value(), "kim@example.com");

        // Node two erases; node one reads the erasure and destroys its copies of the keys.
        two.erase(customer, "gdpr-art17").unwrap();
        assert!(one.wait_for(two.log().end_position(), Duration::from_secs(10)).unwrap());
        assert_eq!(bodies(&one, "T-9"), [rapport::ERASED]);
        assert_eq!(bodies(&two, "T-9"), [rapport::ERASED]);
        let fresh = node(stream, dirs[2].path());
        assert_eq!(bodies(&fresh, "T-9"), [rapport::ERASED], "the key is gone from the shared records");
        assert_eq!(fresh.customer_id(&key).unwrap(), None, "an erased identity resolves to nobody");
        // Kim writes again on node one: a new customer with a new key, readable on every node.
        let again = open("T-10", &kim);
        let submitted = one.submit(again, Meta::at(Timestamp(2))).unwrap();
        assert_ne!(submitted.customer_id, Some(customer));
        assert!(fresh.wait_for(one.log().end_position(), Duration::from_secs(10)).unwrap());
        let view = fresh.customer(&key, None).unwrap().unwrap();
        assert_eq!(view.identities[0].value(), "kim@example.com");
    }
}
