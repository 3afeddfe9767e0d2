//! Goal: no command writes where it must not. Method: run the real binary against paths inside
//! a store, typos and directories that are not stores, and compare every file's bytes before and
//! after; check the documented exit codes.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::commands::{ok, rapport, scenario_store};

/// Every file below `dir` with its bytes.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut files = BTreeMap::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else {
                files.insert(path.clone(), std::fs::read(&path).unwrap());
            }
        }
    }
    files
}

#[test]
fn export_never_writes_into_a_store() {
    let dir = tempfile::tempdir().unwrap();
    let store = scenario_store(dir.path());
    let before = snapshot(Path::new(&store));
    let segment = format!("{store}/00000000000000000000.seg");
    assert!(Path::new(&segment).exists(), "the store has its first segment");
    for out in [segment.clone(), format!("{store}/DURABLE"), format!("{store}/LOCK"), format!("{store}/new.jsonl")] {
        let output = rapport(&["export", "jsonl", "--store", &store, "--out", &out]);
        assert_eq!(output.status.code(), Some(2), "--out {out}: {output:?}");
        let said = String::from_utf8_lossy(&output.stderr);
        assert!(said.contains("inside the store directory"), "--out {out}: {said}");
    }
    // Also through another path to the same directory.
    let sneaky = format!("{store}/../store/00000000000000000000.seg");
    assert_eq!(rapport(&["export", "jsonl", "--store", &store, "--out", &sneaky]).status.code(), Some(2));
    assert_eq!(snapshot(Path::new(&store)), before, "the store's files are byte for byte unchanged");
}

#[test]
fn a_failed_export_leaves_no_partial_file() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("events.jsonl");
    std::fs::write(&out, "an older export\n").unwrap();
    let missing = dir.path().join("no-store").display().to_string();
    let output = rapport(&["export", "jsonl", "--store", &missing, "--out", out.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(3), "{output:?}");
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "an older export\n", "the target is untouched");
    let names: Vec<String> =
        std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    assert_eq!(names, vec!["events.jsonl".to_owned()], "no temporary file is left behind");
    // A successful export replaces the target whole.
    let store = scenario_store(dir.path());
    ok(&["export", "jsonl", "--store", &store, "--out", out.to_str().unwrap()]);
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(text.lines().all(|line| line.starts_with("{\"type\"")), "{text}");
}

#[test]
fn read_commands_create_and_change_nothing_outside_a_store() {
    let dir = tempfile::tempdir().unwrap();
    let typo = dir.path().join("typo/deep/path");
    let notes = dir.path().join("notes");
    std::fs::create_dir(&notes).unwrap();
    std::fs::write(notes.join("notes.txt"), "not a store").unwrap();
    let before = snapshot(dir.path());
    for store in [typo.display().to_string(), notes.display().to_string()] {
        for args in [
            vec!["verify", "--store", &store],
            vec!["dump", "--store", &store],
            vec!["export", "jsonl", "--store", &store],
            vec!["tickets", "--store", &store],
            vec!["ticket", "T-1", "--store", &store],
            vec!["customers", "--store", &store],
            vec!["customer", "email:kim@example.com", "--store", &store],
            vec!["metrics", "--store", &store],
            vec!["clv", "fit", "--store", &store, "--calibration-end", "1997-09-30"],
        ] {
            let output = rapport(&args);
            assert_eq!(output.status.code(), Some(3), "{args:?}: {output:?}");
            assert!(String::from_utf8_lossy(&output.stderr).contains("no store in"), "{args:?}: {output:?}");
        }
    }
    assert!(!dir.path().join("typo").exists(), "no directory was created");
    assert_eq!(snapshot(dir.path()), before, "nothing was written");
}

#[test]
fn help_documents_the_exit_codes() {
    let help = ok(&["--help"]);
    for line in ["0  success", "1  corruption found", "2  usage error", "3  no such store", "4  any other error"] {
        assert!(help.contains(line), "--help lacks {line:?}:\n{help}");
    }
}

#[test]
fn no_store_is_created_inside_another() {
    let dir = tempfile::tempdir().unwrap();
    let store = scenario_store(dir.path());
    let before = snapshot(Path::new(&store));
    for nested in [format!("{store}/nested"), format!("{store}/a/b")] {
        let output = rapport(&["import", "scenario", "--store", &nested, "--people", "1"]);
        assert_eq!(output.status.code(), Some(2), "{nested}: {output:?}");
        let old = format!("{store}/../old-missing");
        let migrate = rapport(&["migrate", &old, &nested]);
        assert_ne!(migrate.status.code(), Some(0), "{migrate:?}");
    }
    let inside = rapport(&["migrate", &store, &format!("{store}/copy")]);
    assert_eq!(inside.status.code(), Some(2), "migrate into the old store's directory: {inside:?}");
    assert_eq!(snapshot(Path::new(&store)), before, "the store is unchanged");
}
