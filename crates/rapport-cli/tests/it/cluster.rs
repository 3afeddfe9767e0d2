//! `rapport migrate-to-jetstream`, `rapport verify --jetstream` and two `rapport serve
//! --jetstream` nodes, as processes against a real `nats-server` on 127.0.0.1 (without it this
//! test fails and says how to install it).

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::commands::{json_lines, ok, scenario_store};

/// A `rapport serve` node and its address.
struct Node {
    child: Child,
    address: String,
}

impl Node {
    fn start(args: &[&str]) -> Node {
        let mut child = Command::new(env!("CARGO_BIN_EXE_rapport"))
            .args(args)
            .args(["--listen", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        let Some(address) = line.trim().strip_prefix("listening on ").map(str::to_owned) else {
            let _ = child.kill();
            let mut stderr = String::new();
            child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
            panic!("the node did not start: {line} {stderr}");
        };
        Node { child, address }
    }

    fn stop(mut self) {
        let terminated = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status().unwrap();
        assert!(terminated.success());
        let status = self.child.wait().unwrap();
        let mut stderr = String::new();
        self.child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
        assert!(status.success(), "{status:?}: {stderr}");
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into()
}

fn get(address: &str, path: &str) -> (u16, serde_json::Value) {
    let mut response = agent().get(format!("{address}{path}")).call().unwrap();
    let status = response.status().as_u16();
    let body = response.body_mut().read_to_string().unwrap();
    (status, serde_json::from_str(&body).unwrap_or(serde_json::Value::String(body)))
}

fn ticket_ids(address: &str) -> Vec<String> {
    let (status, body) = get(address, "/v1/tickets?limit=1000");
    assert_eq!(status, 200, "{body}");
    let mut ids: Vec<String> =
        body["tickets"].as_array().unwrap().iter().map(|t| t["ticket_id"].as_str().unwrap().to_owned()).collect();
    ids.sort();
    ids
}

#[test]
fn an_embedded_store_migrates_into_a_stream_and_two_nodes_serve_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = scenario_store(dir.path());
    let master = format!("{store}/MASTER_KEY");
    let embedded_tickets: Vec<String> = {
        let mut ids: Vec<String> = json_lines(&ok(&["tickets", "--store", &store, "--json"]))
            .iter()
            .map(|t| t["ticket_id"].as_str().unwrap().to_owned())
            .collect();
        ids.sort();
        ids
    };
    let embedded_events = serde_json::from_str::<serde_json::Value>(&ok(&["verify", "--store", &store, "--json"]))
        .unwrap()["events"]
        .as_u64()
        .unwrap();
    let cluster = rapport_jetstream::testing::Cluster::start(1, &dir.path().join("cluster"))
        .unwrap_or_else(|error| panic!("cannot start nats-server (scripts/test.sh installs it): {error}"));
    let url = cluster.url(0);

    let copied =
        ok(&["migrate-to-jetstream", "--store", &store, "--jetstream", &url, "--stream", "support", "--replicas", "1"]);
    assert!(copied.contains(&format!(" key records and {embedded_events} events")), "{copied}");
    assert!(!copied.contains("copied 0 key records"), "{copied}");
    let verified: serde_json::Value =
        serde_json::from_str(&ok(&["verify", "--jetstream", &url, "--stream", "support", "--json"])).unwrap();
    assert_eq!(verified["events"], embedded_events, "{verified}");
    assert!(verified["problem"].is_null() && verified["config_problems"].as_array().unwrap().is_empty(), "{verified}");

    // The first node runs on the old directory (its replica and key store already); the second
    // joins with an empty one. Both serve the same tickets as the embedded store did.
    let node_dir = dir.path().join("node2").display().to_string();
    let cluster_args = ["--jetstream", url.as_str(), "--stream", "support", "--replicas", "1", "--master-key", &master];
    let one = Node::start(&[&["serve", "--store", &store][..], &cluster_args[..]].concat());
    let two = Node::start(&[&["serve", "--store", &node_dir][..], &cluster_args[..]].concat());
    assert_eq!(ticket_ids(&one.address), embedded_tickets);
    assert_eq!(ticket_ids(&two.address), embedded_tickets);
    // The migrated key records travel: the node that joined empty shows the personal values the
    // embedded store sealed, exactly as the first node does.
    let (_, customers_one) = get(&one.address, "/v1/customers?limit=1000");
    let (_, customers_two) = get(&two.address, "/v1/customers?limit=1000");
    assert_eq!(customers_one, customers_two);
    let shown = customers_two.to_string();
    assert!(shown.contains('@') && !shown.contains("[encrypted]"), "{shown}");

    // A message recorded on node two is a ticket node one serves soon after (its follower).
    let mut response = agent()
        .post(format!("{}/v1/events", two.address))
        .header("content-type", "application/json")
        .send(r#"{"type":"message.received","at":"2026-03-01T10:00:00Z","from":"email:new.person@example.com","channel":"email","body":"hello"}"#)
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let recorded: serde_json::Value = serde_json::from_str(&response.body_mut().read_to_string().unwrap()).unwrap();
    let ticket = recorded["results"][0]["ticket_id"].as_str().unwrap().to_owned();
    // A bound on the wait, not a speed target: a loaded machine gets a minute.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (status, body) = get(&one.address, &format!("/v1/tickets/{ticket}"));
        if status == 200 {
            assert_eq!(body["ticket_id"], ticket.as_str(), "{body}");
            break;
        }
        assert!(Instant::now() < deadline, "node one never saw ticket {ticket}: {status} {body}");
        std::thread::sleep(Duration::from_millis(100));
    }
    // The same customer on both nodes: they derive one customer id from one e-mail address.
    let (status_one, customer_one) = get(&one.address, "/v1/customers/email:new.person@example.com?clv=false");
    let (status_two, customer_two) = get(&two.address, "/v1/customers/email:new.person@example.com?clv=false");
    assert_eq!((status_one, status_two), (200, 200), "{customer_one} {customer_two}");
    assert!(customer_one["customer_id"].is_string(), "{customer_one}");
    assert_eq!(customer_one["customer_id"], customer_two["customer_id"]);
    // Sealed on node two under a key node one never made: node one shows the text.
    let (status, timeline) = get(&one.address, "/v1/customers/email:new.person@example.com/timeline");
    assert_eq!(status, 200, "{timeline}");
    assert!(timeline.to_string().contains("hello"), "{timeline}");
    one.stop();
    two.stop();
}
