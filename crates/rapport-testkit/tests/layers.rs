//! The layers stay as docs/ARCHITECTURE.md draws them. Method: read every Cargo.toml of the
//! workspace and check the rules the document states — the facade and the domain crates compile
//! no gzip, CSV or SQLite, the shipped binary no SQLite, the domain crates know no storage, and
//! every crate has its section in the document — plus the files a release needs.

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The names in the `[dependencies]` table of a manifest.
fn dependencies(manifest: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(manifest).unwrap();
    let mut inside = false;
    let mut names = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            inside = line == "[dependencies]";
            continue;
        }
        if inside && !line.is_empty() && !line.starts_with('#') {
            if let Some((name, _)) = line.split_once(['=', '.']) {
                names.push(name.trim().to_owned());
            }
        }
    }
    names
}

fn crate_dependencies(name: &str) -> Vec<String> {
    dependencies(&root().join("crates").join(name).join("Cargo.toml"))
}

#[test]
fn embeddable_crates_compile_no_gzip_csv_sqlite_or_tokio() {
    for name in ["rapport", "rapport-log", "rapport-events", "rapport-ticket", "rapport-customer", "rapport-metrics"] {
        let dependencies = crate_dependencies(name);
        for heavy in ["flate2", "csv", "rusqlite", "tokio", "axum", "async-nats"] {
            assert!(!dependencies.iter().any(|d| d == heavy), "{name} depends on {heavy}: {dependencies:?}");
        }
    }
    let cli = crate_dependencies("rapport-cli");
    assert!(!cli.iter().any(|d| d == "rusqlite"), "the shipped binary compiles SQLite: {cli:?}");
}

#[test]
fn domain_crates_know_no_storage() {
    for name in ["rapport-events", "rapport-ticket", "rapport-customer", "rapport-metrics", "rapport-types"] {
        let dependencies = crate_dependencies(name);
        assert!(!dependencies.iter().any(|d| d == "rapport-log" || d == "rapport"), "{name}: {dependencies:?}");
    }
    assert_eq!(crate_dependencies("rapport-types").iter().filter(|d| d.starts_with("rapport")).count(), 0);
    let log: Vec<String> = crate_dependencies("rapport-log").into_iter().filter(|d| d.starts_with("rapport")).collect();
    assert_eq!(log, vec!["rapport-types".to_owned()], "the log knows only the shared newtypes");
}

#[test]
fn every_crate_has_its_section_in_the_architecture_document() {
    let document = std::fs::read_to_string(root().join("docs/ARCHITECTURE.md")).unwrap();
    for entry in std::fs::read_dir(root().join("crates")).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        assert!(document.contains(&format!("### crates/{name}")), "docs/ARCHITECTURE.md has no section for {name}");
    }
}

#[test]
fn the_release_files_exist() {
    for file in ["LICENSE-MIT", "LICENSE-APACHE", "CHANGELOG.md", "README.md", "docs/ARCHITECTURE.md"] {
        assert!(root().join(file).is_file(), "{file} is missing");
    }
}
