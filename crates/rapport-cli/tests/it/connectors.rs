//! `rapport import chatwoot` and `rapport import zendesk [--since-last]` from the outside: the
//! fixtures of crates/rapport-import, a second run records nothing, `--since-last` starts at the
//! cursor the first run recorded, a malformed page is exit code 4 and writes nothing.

use std::path::Path;

use crate::commands::{json_lines, ok, rapport};

fn fixtures(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../rapport-import/tests/fixtures").join(name)
}

#[test]
fn chatwoot_file_imports_once() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store").display().to_string();
    let file = fixtures("chatwoot/three-channels.jsonl").display().to_string();
    let first = ok(&["import", "chatwoot", &file, "--store", &store]);
    assert!(first.contains("16 payloads") && first.contains("1 conversations opened a ticket"), "{first}");
    assert!(first.contains("loyalty_tier: 1"), "unmapped fields are listed: {first}");
    let again = ok(&["import", "chatwoot", &file, "--store", &store]);
    assert!(again.contains(" 0 inputs recorded"), "{again}");
    let tickets = json_lines(&ok(&["tickets", "--store", &store]));
    assert_eq!(tickets.len(), 1);
    assert_eq!(tickets[0]["channels"], serde_json::json!(["web_widget", "email", "whatsapp"]));
}

#[test]
fn zendesk_since_last_continues_from_the_recorded_cursor() {
    let dir = tempfile::tempdir().unwrap();
    let pages = dir.path().join("pages");
    std::fs::create_dir(&pages).unwrap();
    for entry in std::fs::read_dir(fixtures("zendesk")).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_owned();
        if !name.starts_with("malformed") {
            std::fs::copy(&path, pages.join(&name)).unwrap();
        }
    }
    let store = dir.path().join("store").display().to_string();
    let pages = pages.display().to_string();
    let first = ok(&["import", "zendesk", &pages, "--store", &store]);
    assert!(first.contains("cursor recorded for --since-last: zendesk-cursor-v1"), "{first}");
    let tickets = json_lines(&ok(&["tickets", "--store", &store])).len();
    assert!(tickets >= 3, "{tickets} tickets");
    let output = rapport(&["import", "zendesk", &pages, "--store", &store, "--since-last"]);
    assert!(output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("since the last import: zendesk-cursor-v1"), "{stderr}");
    let second = String::from_utf8_lossy(&output.stdout);
    assert!(second.contains(": 0 recorded"), "{second}");
    assert_eq!(json_lines(&ok(&["tickets", "--store", &store])).len(), tickets);

    // A malformed page: exit code 4, its file and path named, nothing written.
    let bad = dir.path().join("bad");
    std::fs::create_dir(&bad).unwrap();
    std::fs::copy(fixtures("zendesk/malformed-audits.json"), bad.join("a.json")).unwrap();
    let fresh = dir.path().join("fresh").display().to_string();
    let output = rapport(&["import", "zendesk", bad.to_str().unwrap(), "--store", &fresh]);
    assert_eq!(output.status.code(), Some(4));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("a.json") && stderr.contains("audits[3].events[0].public"), "{stderr}");
    assert!(json_lines(&ok(&["tickets", "--store", &fresh])).is_empty());
}
