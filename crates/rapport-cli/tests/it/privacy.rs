//! Goal: the privacy commands work from the outside as documented: a master key protects a
//! store at rest, an erasure removes a person's values from every output, the access report has
//! the documented shape, backups copy keys only when asked, and retention expires old values.
//! Method: two customers with unique values imported from JSONL, then real `rapport` processes.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

use crate::commands::{json_lines, ok, rapport};

/// Kim (erased in the tests) and Lee (kept): every personal value is unique, so its absence from
/// an output is meaningful.
const EVENTS: &str = r#"{"type":"customer.identified","at":"2024-05-01T09:00:00Z","id":"p-01","identities":["email:kim.erase@example.com","kakao:kim_secret"],"traits":{"tier":"kim-trait-value"}}
{"type":"ticket.opened","at":"2024-05-01T09:01:00Z","id":"p-02","ticket_id":"T-1","requester":"email:kim.erase@example.com","channel":"email","subject":"kim-subject-walrus"}
{"type":"message.received","at":"2024-05-01T09:02:00Z","id":"p-03","ticket_id":"T-1","channel":"email","from":"email:kim.erase@example.com","body":"kim-body-zebra"}
{"type":"customer.order_placed","at":"2024-05-01T09:03:00Z","id":"p-04","identity":"email:kim.erase@example.com","order_id":"O-1","amount":29.33,"currency":"USD"}
{"type":"customer.identified","at":"2024-05-02T09:00:00Z","id":"p-05","identities":["email:lee.keep@example.com"],"traits":{"tier":"lee-trait-value"}}
{"type":"ticket.opened","at":"2024-05-02T09:01:00Z","id":"p-06","ticket_id":"T-2","requester":"email:lee.keep@example.com","channel":"email","subject":"lee-subject-otter"}
{"type":"message.received","at":"2024-05-02T09:02:00Z","id":"p-07","ticket_id":"T-2","channel":"email","from":"email:lee.keep@example.com","body":"lee-body-giraffe"}
"#;

const KIM: [&str; 5] =
    ["kim.erase@example.com", "kim_secret", "kim-trait-value", "kim-subject-walrus", "kim-body-zebra"];
const LEE: [&str; 4] = ["lee.keep@example.com", "lee-trait-value", "lee-subject-otter", "lee-body-giraffe"];

fn events_file(dir: &Path) -> String {
    let path = dir.join("events.jsonl");
    std::fs::write(&path, EVENTS).unwrap();
    path.display().to_string()
}

/// A store of Kim and Lee (its own master key unless `master_key` names one).
fn people_store(dir: &Path, master_key: Option<&str>) -> String {
    let store = dir.join("store").display().to_string();
    let file = events_file(dir);
    let mut args = vec!["import", "jsonl", file.as_str(), "--store", store.as_str()];
    if let Some(key) = master_key {
        args.extend(["--master-key", key]);
    }
    let said = ok(&args);
    assert!(said.contains("0 refused"), "{said}");
    store
}

fn customer(store: &str, key: &str, extra: &[&str]) -> Value {
    let mut args = vec!["customer", key, "--store", store, "--json", "--no-clv"];
    args.extend(extra);
    json_lines(&ok(&args)).remove(0)
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn a_master_key_file_protects_the_store_and_is_required_to_write_it() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("master.key").display().to_string();
    let said = ok(&["keygen", &key]);
    assert!(said.contains(&key), "keygen prints the path: {said}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&key).unwrap().permissions().mode() & 0o777, 0o600);
    }
    let again = rapport(&["keygen", &key]);
    assert_eq!(again.status.code(), Some(4), "an existing key file is never overwritten: {again:?}");
    assert!(stderr(&again).contains("never overwritten"), "{again:?}");

    let store = people_store(dir.path(), Some(&key));
    // Without the key: exit 0, personal values `[encrypted]`.
    let locked = customer(&store, "C1", &[]);
    assert!(locked["identities"].as_array().unwrap().iter().all(|i| i.as_str().unwrap().ends_with(":[encrypted]")));
    assert!(!locked.to_string().contains("kim.erase"), "{locked}");
    // With it (flag anywhere, or the environment variable): the values.
    let unlocked = customer(&store, "C1", &["--master-key", &key]);
    assert!(unlocked["identities"].to_string().contains("email:kim.erase@example.com"), "{unlocked}");
    let output = Command::new(env!("CARGO_BIN_EXE_rapport"))
        .args(["customer", "email:kim.erase@example.com", "--store", &store, "--json", "--no-clv"])
        .env("RAPPORT_MASTER_KEY_FILE", &key)
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    assert!(String::from_utf8_lossy(&output.stdout).contains("kim_secret"), "{output:?}");
    // Writing without it fails, naming the master key.
    let file = events_file(dir.path());
    let refused = rapport(&["import", "jsonl", &file, "--store", &store]);
    assert_eq!(refused.status.code(), Some(4), "{refused:?}");
    assert!(stderr(&refused).contains("master key"), "{refused:?}");
    // A malformed key file: a usage error naming the file.
    let bad = dir.path().join("bad.key");
    std::fs::write(&bad, "not a key\n").unwrap();
    let bad = bad.display().to_string();
    let malformed = rapport(&["--master-key", &bad, "customer", "C1", "--store", &store]);
    assert_eq!(malformed.status.code(), Some(2), "{malformed:?}");
    assert!(stderr(&malformed).contains(&bad), "{malformed:?}");
}

#[test]
fn erase_removes_a_customer_from_every_output_and_keeps_the_others() {
    let dir = tempfile::tempdir().unwrap();
    let store = people_store(dir.path(), None);
    let before = ok(&["dump", "--store", &store]);
    for value in KIM {
        assert!(before.contains(value), "dump reveals {value:?} before the erasure");
    }
    let erased: Value = serde_json::from_str(ok(&["erase", "email:kim.erase@example.com", "--store", &store]).trim())
        .expect("erase prints one JSON object");
    assert_eq!(erased["customer"], "C1", "{erased}");
    assert!(erased["keys_destroyed"].as_u64().unwrap() >= 2, "both identities' keys: {erased}");
    assert!(erased["position"].as_u64().unwrap() > 0, "{erased}");

    let view = customer(&store, "C1", &[]);
    assert!(view["erased_at"].is_string(), "{view}");
    assert_eq!(view["identities"], serde_json::json!([]), "{view}");
    assert_eq!(view["traits"]["tier"], "[erased]", "{view}");
    assert_eq!(view["orders"]["count"], 1, "amounts stay: {view}");

    let dump = ok(&["dump", "--store", &store]);
    let export = ok(&["export", "jsonl", "--store", &store]);
    let ticket = ok(&["ticket", "T-1", "--store", &store, "--json"]);
    let report = ok(&["export", "customer", "C1", "--store", &store]);
    for (name, text) in [("dump", &dump), ("export jsonl", &export), ("ticket", &ticket), ("export customer", &report)]
    {
        for value in KIM {
            assert!(!text.contains(value), "{name} still shows {value:?}");
        }
        assert!(text.contains("[erased]"), "{name} marks what was erased");
    }
    for value in LEE {
        assert!(dump.contains(value), "dump keeps Lee's {value:?}");
        assert!(export.contains(value), "export keeps Lee's {value:?}");
    }

    // The listing names requesters by customer id (never by pseudonym); an erased one's
    // identities resolve to nobody.
    let tickets = json_lines(&ok(&["tickets", "--store", &store, "--json"]));
    let requesters: Vec<(&str, &Value)> =
        tickets.iter().map(|t| (t["ticket_id"].as_str().unwrap(), &t["requester"])).collect();
    assert_eq!(requesters, vec![("T-1", &Value::Null), ("T-2", &serde_json::json!("C2"))], "{tickets:?}");
    assert!(tickets.iter().all(|t| t["subject"].is_null()), "{tickets:?}");

    let again = rapport(&["erase", "C1", "--store", &store]);
    assert_eq!(again.status.code(), Some(4), "{again:?}");
    assert!(stderr(&again).contains("erased already"), "{again:?}");
    let unknown = rapport(&["erase", "C99", "--store", &store]);
    assert_eq!(unknown.status.code(), Some(3), "{unknown:?}");
    let nobody = rapport(&["erase", "email:nobody@example.com", "--store", &store]);
    assert_eq!(nobody.status.code(), Some(3), "{nobody:?}");
}

#[test]
fn export_customer_writes_the_documented_access_report() {
    let dir = tempfile::tempdir().unwrap();
    let store = people_store(dir.path(), None);
    let out = dir.path().join("kim.json");
    ok(&["export", "customer", "email:kim.erase@example.com", "--store", &store, "--out", out.to_str().unwrap()]);
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(report["customer"], "C1");
    assert!(report["erased_at"].is_null());
    assert_eq!(report["identities"], serde_json::json!(["email:kim.erase@example.com", "kakaotalk:kim_secret"]));
    assert_eq!(report["traits"], serde_json::json!({"tier": "kim-trait-value"}));
    let tickets = report["tickets"].as_array().unwrap();
    assert_eq!(tickets.len(), 1, "{report}");
    assert_eq!(tickets[0]["ticket_id"], "T-1");
    assert_eq!(tickets[0]["subject"], "kim-subject-walrus");
    assert_eq!(tickets[0]["requester"], "email:kim.erase@example.com");
    for key in ["status", "channels", "created_at", "metrics"] {
        assert!(tickets[0].get(key).is_some(), "ticket key {key}: {}", tickets[0]);
    }
    assert_eq!(report["orders"]["count"], 1);
    assert_eq!(report["orders"]["totals"]["USD"]["total"], 29.33);
    assert!(report["ratings"].is_array());
    let timeline = report["timeline"].as_array().unwrap();
    assert!(timeline.len() >= 4, "{report}");
    for entry in timeline {
        for key in ["position", "type", "at", "id", "stream", "event"] {
            assert!(entry.get(key).is_some(), "timeline key {key}: {entry}");
        }
    }
    assert!(timeline.iter().any(|e| e["event"]["body"] == "kim-body-zebra"), "{report}");
    assert!(!report.to_string().contains("lee"), "only Kim's data: {report}");
    // The same refusals as `export jsonl`: never inside a store; an unknown customer is exit 3.
    let inside = rapport(&["export", "customer", "C1", "--store", &store, "--out", &format!("{store}/kim.json")]);
    assert_eq!(inside.status.code(), Some(2), "{inside:?}");
    let unknown = rapport(&["export", "customer", "C42", "--store", &store]);
    assert_eq!(unknown.status.code(), Some(3), "{unknown:?}");
}

#[test]
fn a_backup_holds_the_key_store_only_with_with_keys() {
    let dir = tempfile::tempdir().unwrap();
    let store = people_store(dir.path(), None);
    let file = events_file(dir.path());
    let bare = dir.path().join("bare").display().to_string();
    let output = rapport(&["backup", "--store", &store, "--to", &bare]);
    assert!(output.status.success(), "{output:?}");
    assert!(stderr(&output).contains("KEYS"), "the note names the key store: {output:?}");
    assert!(!Path::new(&bare).join("KEYS").exists());
    let locked = customer(&bare, "C1", &[]);
    assert!(locked["identities"].to_string().contains("[encrypted]"), "{locked}");
    assert!(!locked.to_string().contains("kim.erase"), "{locked}");
    let refused = rapport(&["import", "jsonl", &file, "--store", &bare]);
    assert_eq!(refused.status.code(), Some(4), "a copy without keys cannot be written: {refused:?}");

    let keyed = dir.path().join("keyed").display().to_string();
    ok(&["backup", "--store", &store, "--to", &keyed, "--with-keys"]);
    ok(&["verify", "--store", &keyed]);
    let view = customer(&keyed, "C1", &[]);
    assert!(view["identities"].to_string().contains("email:kim.erase@example.com"), "{view}");
    assert!(ok(&["import", "jsonl", &file, "--store", &keyed]).contains("0 imported"), "the copy can be written");
}

#[test]
fn expire_turns_message_bodies_past_their_period_into_expired() {
    let dir = tempfile::tempdir().unwrap();
    let store = people_store(dir.path(), None);
    let bad = rapport(&["expire", "--store", &store, "--retain", "mood=3"]);
    assert_eq!(bad.status.code(), Some(2), "{bad:?}");
    let none = ok(&["expire", "--store", &store, "--retain", "message=36", "--now", "2024-06-01"]);
    assert!(none.starts_with("0 "), "nothing is past 36 months yet: {none}");
    let said = ok(&["expire", "--store", &store, "--retain", "message=36", "--now", "2100-01-01"]);
    let destroyed: u64 = said.split_whitespace().next().unwrap().parse().unwrap();
    assert!(destroyed >= 1, "{said}");
    let ticket = ok(&["ticket", "T-2", "--store", &store, "--json"]);
    assert!(ticket.contains("[expired]"), "{ticket}");
    assert!(!ticket.contains("lee-body-giraffe") && !ticket.contains("lee-subject-otter"), "{ticket}");
    // Identities are another class: kept.
    assert!(ticket.contains("lee.keep@example.com"), "{ticket}");
}

#[test]
fn retain_on_import_expires_old_values_when_the_store_opens() {
    let dir = tempfile::tempdir().unwrap();
    let store = people_store(dir.path(), None);
    // A writable open with `--retain` applies it: the 2024 messages are years past one month.
    let file = events_file(dir.path());
    ok(&["import", "jsonl", &file, "--store", &store, "--retain", "message=1"]);
    let ticket = ok(&["ticket", "T-1", "--store", &store]);
    assert!(ticket.contains("[expired]") && !ticket.contains("kim-body-zebra"), "{ticket}");
}
