//! `rapport snapshot`, and read commands that load it.

use crate::commands::{ok, rapport, scenario_store};

fn snapshot_files(store: &str) -> Vec<String> {
    let dir = std::path::Path::new(store).join(rapport::SNAPSHOT_DIR);
    let mut names: Vec<String> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    names
}

#[test]
fn snapshot_writes_one_at_the_end_and_read_commands_load_it_without_writing() {
    let dir = tempfile::tempdir().unwrap();
    let store = scenario_store(dir.path());
    let before = ok(&["tickets", "--store", &store, "--json"]);
    let said = ok(&["snapshot", "--store", &store]);
    assert!(said.starts_with("snapshot at position "), "{said}");
    let files = snapshot_files(&store);
    assert!(!files.is_empty() && files.len() <= rapport::SNAPSHOTS_KEPT, "{files:?}");
    assert!(said.contains(files.last().unwrap()), "{said} names {files:?}");
    // A read command loads it, answers the same and writes nothing.
    let after = ok(&["tickets", "--store", &store, "--json"]);
    assert_eq!(after, before);
    assert_eq!(snapshot_files(&store), files);
}

#[test]
fn a_damaged_snapshot_is_a_warning_and_the_answer_is_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let store = scenario_store(dir.path());
    let before = ok(&["tickets", "--store", &store, "--json"]);
    ok(&["snapshot", "--store", &store]);
    for name in snapshot_files(&store) {
        let path = std::path::Path::new(&store).join(rapport::SNAPSHOT_DIR).join(name);
        let mut bytes = std::fs::read(&path).unwrap();
        let middle = bytes.len() / 2;
        bytes[middle] ^= 1;
        std::fs::write(&path, bytes).unwrap();
    }
    let output = rapport(&["tickets", "--store", &store, "--json"]);
    assert!(output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("warning: snapshot") && stderr.contains("checksum mismatch"), "{stderr}");
    assert_eq!(String::from_utf8_lossy(&output.stdout), before);
}

#[test]
fn snapshot_of_a_store_another_process_holds_is_the_locked_error() {
    let dir = tempfile::tempdir().unwrap();
    let store = scenario_store(dir.path());
    let held = rapport::Store::open(&store, rapport::StoreOptions::default()).unwrap();
    let output = rapport(&["snapshot", "--store", &store]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("lock"), "{stderr}");
    drop(held);
}
