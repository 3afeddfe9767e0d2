//! Goal: every subcommand works from the outside as documented. Method: build stores with
//! `rapport import` (the generated scenario, the CDNOW sample from ../shared/data), then run the
//! query commands and parse their output.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

pub(crate) fn rapport(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rapport")).args(args).output().expect("the rapport binary runs")
}

pub(crate) fn ok(args: &[&str]) -> String {
    let output = rapport(args);
    assert!(
        output.status.success(),
        "rapport {args:?} failed with {:?}: {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("utf-8 output")
}

/// A store in `dir/store` made by `rapport import jsonl` of `events`, every line recorded.
pub(crate) fn jsonl_store(dir: &Path, events: &str) -> String {
    let file = dir.join("events.jsonl");
    std::fs::write(&file, events).unwrap();
    let store = dir.join("store").display().to_string();
    let said = ok(&["import", "jsonl", file.to_str().unwrap(), "--store", &store]);
    assert!(said.contains("0 refused"), "{said}");
    store
}

pub(crate) fn json_lines(text: &str) -> Vec<Value> {
    text.lines().map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"))).collect()
}

fn data(file: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data").join(file).display().to_string()
}

pub(crate) fn scenario_store(dir: &Path) -> String {
    let store = dir.join("store").display().to_string();
    ok(&["import", "scenario", "--store", &store, "--people", "30", "--seed", "3"]);
    store
}

#[test]
fn tickets_json_has_every_documented_key_and_the_metrics_object() {
    let dir = tempfile::tempdir().unwrap();
    let store = scenario_store(dir.path());
    let tickets = json_lines(&ok(&["tickets", "--store", &store, "--json"]));
    assert_eq!(tickets.len(), 30, "one ticket per scenario person");
    for key in [
        "ticket_id",
        "status",
        "created_at",
        "requester",
        "channels",
        "priority",
        "group",
        "assignee",
        "tags",
        "follow_up_of",
        "merged_into",
        "events",
        "metrics",
    ] {
        assert!(tickets.iter().all(|t| t.get(key).is_some()), "key {key} missing: {}", tickets[0]);
    }
    let metric_keys = [
        "first_reply_minutes",
        "first_resolution_minutes",
        "full_resolution_minutes",
        "requester_wait_minutes",
        "agent_wait_minutes",
        "on_hold_minutes",
        "first_reply_business_minutes",
        "first_resolution_business_minutes",
        "full_resolution_business_minutes",
        "requester_wait_business_minutes",
        "agent_wait_business_minutes",
        "on_hold_business_minutes",
        "reopens",
        "replies",
        "group_stations",
        "assignee_stations",
        "one_touch",
        "channels",
    ];
    for ticket in &tickets {
        let metrics = &ticket["metrics"];
        for key in metric_keys {
            assert!(metrics.get(key).is_some(), "metrics.{key} missing: {metrics}");
        }
        // Every scenario ticket is written on three channels and answered.
        assert_eq!(ticket["channels"].as_array().map(Vec::len), Some(3), "{ticket}");
        assert_eq!(metrics["channels"], 3, "{metrics}");
        assert!(metrics["replies"].as_u64().is_some_and(|n| n >= 1), "{metrics}");
        // Without a schedule, business time is calendar time.
        assert_eq!(metrics["first_reply_minutes"], metrics["first_reply_business_minutes"], "{metrics}");
    }
    let id = tickets[0]["ticket_id"].as_str().unwrap();
    let one = json_lines(&ok(&["ticket", id, "--store", &store, "--json"]));
    assert_eq!(one[0]["ticket_id"], id);
    let history = one[0]["history"].as_array().expect("history");
    assert_eq!(history.len() as u64, one[0]["events"].as_u64().unwrap(), "history lists every event");
    assert!(ok(&["ticket", id, "--store", &store]).contains("history ("), "text form");
    let missing = rapport(&["ticket", "no-such-ticket", "--store", &store]);
    assert_eq!(missing.status.code(), Some(3), "no such ticket");
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no ticket no-such-ticket"), "{missing:?}");
}

#[test]
fn customers_customer_and_split() {
    let dir = tempfile::tempdir().unwrap();
    let store = scenario_store(dir.path());
    let customers = json_lines(&ok(&["customers", "--store", &store, "--json"]));
    assert_eq!(customers.len(), 30);
    for key in ["customer_id", "identities", "merged_from", "merge_conflicts", "channels", "tickets", "orders", "rfm"] {
        assert!(customers.iter().all(|c| c.get(key).is_some()), "key {key} missing: {}", customers[0]);
    }
    let kim = json_lines(&ok(&["customer", "kakao:kakao_user5", "--store", &store, "--json", "--timeline"]));
    let identities: Vec<&str> = kim[0]["identities"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    let mut sorted = identities.clone();
    sorted.sort_unstable();
    assert_eq!(identities, sorted, "identities are sorted");
    assert_eq!(identities.len(), 3, "{identities:?}");
    assert_eq!(kim[0]["tickets"]["total"], 1);
    assert!(kim[0]["timeline"].as_array().is_some_and(|t| !t.is_empty()));
    // The same person by another identity, and by customer id.
    let id = kim[0]["customer_id"].as_str().unwrap().to_owned();
    let by_email = json_lines(&ok(&["customer", "email:person5@example.com", "--store", &store, "--json"]));
    assert_eq!(by_email[0]["customer_id"].as_str(), Some(id.as_str()));
    let by_id = json_lines(&ok(&["customer", &id, "--store", &store, "--json", "--no-clv"]));
    assert_eq!(by_id[0]["identities"], kim[0]["identities"]);
    // Split the KakaoTalk id off again.
    let said = ok(&["split", &id, "kakao:kakao_user5", "--store", &store]);
    assert!(said.contains("moved to"), "{said}");
    let after = json_lines(&ok(&["customer", "kakao:kakao_user5", "--store", &store, "--json", "--no-clv"]));
    assert_ne!(after[0]["customer_id"].as_str(), Some(id.as_str()), "the kakao id has a customer of its own");
    assert_eq!(after[0]["identities"].as_array().map(Vec::len), Some(1));
    let refused = rapport(&["split", &id, "kakao:nobody", "--store", &store]);
    assert_eq!(refused.status.code(), Some(4), "a refused split: {refused:?}");
}

#[test]
fn metrics_report_json_and_table() {
    let dir = tempfile::tempdir().unwrap();
    let store = scenario_store(dir.path());
    let report = json_lines(&ok(&["metrics", "--store", &store, "--json", "--drill"]));
    let all = &report[0]["groups"][0];
    assert_eq!(all["key"], "all");
    assert_eq!(all["created"]["count"], 30);
    assert_eq!(all["created"]["tickets"].as_array().map(Vec::len), Some(30), "drill-down lists the tickets");
    let rates: Vec<u64> =
        all["response_rates"].as_array().unwrap().iter().filter_map(|r| r["within_hours"].as_u64()).collect();
    assert_eq!(rates, [3, 6, 16, 24]);
    let by_channel = json_lines(&ok(&["metrics", "--store", &store, "--json", "--group-by", "channel"]));
    let keys: Vec<&str> =
        by_channel[0]["groups"].as_array().unwrap().iter().filter_map(|g| g["key"].as_str()).collect();
    assert!(keys.contains(&"kakaotalk"), "{keys:?}");
    let table = ok(&["metrics", "--store", &store]);
    assert!(table.contains("satisfaction") && table.contains("first reply"), "{table}");
    let bad = rapport(&["metrics", "--store", &store, "--group-by", "colour"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("colour"), "{bad:?}");
    // An SLA file recomputes the metrics with targets.
    let sla = dir.path().join("sla.json");
    std::fs::write(&sla, r#"[{"name": "all", "targets": {"normal": {"first_reply_minutes_max": 60}}}]"#).unwrap();
    let with_sla = json_lines(&ok(&["metrics", "--store", &store, "--json", "--sla", sla.to_str().unwrap()]));
    let first_reply = &with_sla[0]["groups"][0]["sla"]["first_reply"];
    let judged = first_reply["achieved"].as_u64().unwrap() + first_reply["breached"].as_u64().unwrap();
    assert_eq!(judged, 30, "every replied ticket is judged: {first_reply}");
}

#[test]
fn cdnow_sample_import_and_clv_fit_reproduce_the_published_estimates() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store").display().to_string();
    let said = ok(&["import", "cdnow", &data("cdnow-sample.txt.gz"), "--store", &store]);
    assert!(said.contains("6919 lines"), "{said}");
    let again = ok(&["import", "cdnow", &data("cdnow-sample.txt.gz"), "--store", &store]);
    assert!(again.contains("0 orders imported"), "a re-import appends nothing: {again}");
    let fit = json_lines(&ok(&[
        "clv",
        "fit",
        "--store",
        &store,
        "--calibration-end",
        "1997-09-30",
        "--unit",
        "weeks",
        "--json",
    ]));
    let fit = &fit[0];
    // Fader, Hardie & Lee (2005), Table 1; Gamma-Gamma: Fader & Hardie (2013).
    for (key, published) in [("r", 0.243), ("alpha", 4.414), ("a", 0.793), ("b", 2.426)] {
        let value = fit[key].as_f64().unwrap();
        assert!((value / published - 1.0).abs() < 0.005, "{key} = {value}, published {published}");
    }
    assert!((fit["log_likelihood"].as_f64().unwrap() + 9582.4).abs() < 0.1, "{fit}");
    assert_eq!(fit["customers"], 2357);
    for (key, published) in [("p", 6.25), ("q", 3.74), ("v", 15.44)] {
        let value = fit["gamma_gamma"][key].as_f64().unwrap();
        assert!((value / published - 1.0).abs() < 0.005, "gamma-gamma {key} = {value}, published {published}");
    }
    let top = json_lines(&ok(&[
        "clv",
        "predict",
        "--store",
        &store,
        "--calibration-end",
        "1997-09-30",
        "--top",
        "3",
        "--json",
    ]));
    assert_eq!(top.len(), 3);
    assert!(top[0]["clv"].as_f64() >= top[1]["clv"].as_f64(), "sorted by CLV: {top:?}");
    assert!(top.iter().all(|p| (0.0..=1.0).contains(&p["p_alive"].as_f64().unwrap())));
    let bad = rapport(&["clv", "fit", "--store", &store, "--calibration-end", "1997-13-01"]);
    assert_eq!(bad.status.code(), Some(2), "{bad:?}");
}

#[test]
fn read_commands_refuse_a_missing_store() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nothing").display().to_string();
    for args in [
        vec!["tickets", "--store", missing.as_str(), "--json"],
        vec!["customers", "--store", missing.as_str()],
        vec!["metrics", "--store", missing.as_str()],
    ] {
        let output = rapport(&args);
        assert_eq!(output.status.code(), Some(3), "no such store: {args:?}");
        assert!(String::from_utf8_lossy(&output.stderr).contains("no store in"), "{args:?}: {output:?}");
        assert!(!Path::new(&missing).exists(), "{args:?} created a store");
    }
}

#[test]
fn jsonl_export_import_round_trip_and_bad_files() {
    let dir = tempfile::tempdir().unwrap();
    let store = scenario_store(dir.path());
    let exported = dir.path().join("events.jsonl");
    ok(&["export", "jsonl", "--store", &store, "--out", exported.to_str().unwrap()]);
    let copy = dir.path().join("copy").display().to_string();
    let said = ok(&["import", "jsonl", exported.to_str().unwrap(), "--store", &copy]);
    assert!(said.contains("0 refused"), "{said}");
    // The copy holds the same tickets and customers.
    assert_eq!(ok(&["tickets", "--store", &store, "--json"]), ok(&["tickets", "--store", &copy, "--json"]));
    assert_eq!(ok(&["customers", "--store", &store, "--json"]), ok(&["customers", "--store", &copy, "--json"]));
    // A file with a bad line imports nothing, and says which line.
    let bad = dir.path().join("bad.jsonl");
    std::fs::write(
        &bad,
        "{\"type\":\"customer.identified\",\"at\":\"2026-01-01T00:00:00Z\",\"identities\":[\"email:a@b.io\"]}\n\
         {\"type\":\"customer.rated\",\"at\":\"yesterday\"}\n",
    )
    .unwrap();
    let fresh = dir.path().join("fresh").display().to_string();
    let refused = rapport(&["import", "jsonl", bad.to_str().unwrap(), "--store", &fresh]);
    assert_eq!(refused.status.code(), Some(4), "refused input: {refused:?}");
    assert!(String::from_utf8_lossy(&refused.stderr).contains("line 2"), "{refused:?}");
    let nothing = json_lines(&ok(&["customers", "--store", &fresh, "--json"]));
    assert!(nothing.is_empty(), "nothing was imported: {nothing:?}");
    let skipped = ok(&["import", "jsonl", bad.to_str().unwrap(), "--store", &fresh, "--skip-invalid"]);
    assert!(skipped.contains("refused: line 2"), "{skipped}");
    assert_eq!(json_lines(&ok(&["customers", "--store", &fresh, "--json"])).len(), 1);
}

#[test]
fn bpi2013_import_counts() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store").display().to_string();
    let said = ok(&["import", "bpi2013", &data("bpi2013-incidents.csv.gz"), "--store", &store]);
    assert!(said.contains("65533 rows, 65533 events imported"), "{said}");
    let tickets = json_lines(&ok(&["tickets", "--store", &store, "--json"]));
    let follow_ups = tickets.iter().filter(|t| !t["follow_up_of"].is_null()).count();
    assert_eq!(tickets.len(), 7554 + follow_ups, "one ticket per SR number plus the follow-ups");
    assert!(tickets.iter().all(|t| t["channels"] == serde_json::json!(["other:servicedesk"])));
    let dump = ok(&["dump", "--store", &store]);
    assert_eq!(dump.lines().count(), 1 + 65_533, "the store's header, then one stored event per row");
    assert!(dump.lines().next().is_some_and(|line| line.contains("rapport.store_created")), "header first");
    let verified = ok(&["verify", "--store", &store]);
    assert!(verified.contains("65534 events"), "{verified}");
}

/// Every import says what made what it reports durable, and what it reported is in the store
/// when it is opened again by another process.
#[test]
fn imports_state_their_durability_and_their_events_are_there_after_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store").display().to_string();
    let said = ok(&["import", "scenario", "--store", &store, "--people", "40", "--seed", "5"]);
    assert!(said.contains("durability: synced per chunk of at most 65536 inputs (1 chunk(s)"), "{said}");
    let events: u64 = said
        .lines()
        .find_map(|line| line.strip_prefix("store: ")?.split(", ").nth(2)?.strip_suffix(" events")?.parse().ok())
        .unwrap_or_else(|| panic!("no event count: {said}"));
    let said = ok(&["import", "cdnow", &data("cdnow-sample.txt.gz"), "--store", &store]);
    assert!(said.contains("durability: synced per chunk of at most 8192 inputs (1 chunk(s)"), "{said}");
    let said = ok(&["import", "bpi2013", &data("bpi2013-incidents.csv.gz"), "--store", &store]);
    assert!(said.contains("durability: synced per chunk of at most 8192 inputs (8 chunk(s)"), "{said}");
    // The header, the scenario's events, one per CDNOW line and one per BPI row.
    let dumped = ok(&["dump", "--store", &store]);
    let positions = dumped.lines().filter(|line| line.starts_with('{')).count() as u64;
    assert_eq!(positions, events + 6919 + 65_533, "every reported event is in the store");
}
