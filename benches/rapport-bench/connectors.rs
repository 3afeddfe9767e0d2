//! `rapport-bench connectors`: import speed of the Zendesk REST export and of Chatwoot payloads.
//!
//! Zendesk: a generated export of `--tickets` tickets (each: its ticket record, two
//! incremental ticket events — the creation with the customer's comment, an agent's public
//! reply that solves it — and a satisfaction rating; one end user per two tickets) written as
//! API pages of 1000 records, imported by `import_zendesk_dir` into a fresh store (the store's
//! default durability), then imported again (everything already recorded). The reference of
//! the same run is reading and parsing the same pages into JSON values: what any importer of
//! JSON pages pays before it maps anything. Goal: >= 100k source records/s.
//!
//! Chatwoot: `--tickets` payloads (a customer message of one conversation per person, then an
//! agent reply), imported from one JSONL file.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use rapport::{Store, StoreOptions};
use serde_json::{json, Value};

use crate::CliError;

/// Arguments of `rapport-bench connectors`.
#[derive(Debug, clap::Args)]
pub(crate) struct ConnectorsArgs {
    /// Zendesk tickets generated (and Chatwoot conversations).
    #[arg(long, default_value_t = 20_000)]
    tickets: usize,
    /// Directory for the pages and stores (default: a temporary directory).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    json: bool,
}

/// Records per generated page (Zendesk's own page size).
const PAGE_RECORDS: usize = 1000;

/// 2025-01-06T08:00:00Z, unix seconds.
const START: i64 = 1_736_150_400;

fn iso(seconds: i64) -> String {
    rapport::log::Timestamp(seconds * 1_000_000).to_string()
}

fn write_pages(dir: &Path, key: &str, records: Vec<Value>) -> Result<usize, CliError> {
    let mut files = 0;
    for (n, chunk) in records.chunks(PAGE_RECORDS).enumerate() {
        let page = json!({ key: chunk, "end_of_stream": (n + 1) * PAGE_RECORDS >= records.len(), "after_cursor": format!("c{n}") });
        let path = dir.join(format!("{key}-{n:05}.json"));
        std::fs::write(&path, serde_json::to_vec(&page).unwrap_or_default())
            .map_err(CliError::io(format!("writing {}", path.display())))?;
        files += 1;
    }
    Ok(files)
}

/// Writes the generated export; returns the number of source records.
fn generate_zendesk(dir: &Path, tickets: usize) -> Result<u64, CliError> {
    let people = tickets.div_ceil(2).max(1);
    let mut users = vec![json!({"id": 1, "name": "Ada Agent", "email": "ada@support.example", "role": "agent",
        "created_at": iso(START - 86_400), "updated_at": iso(START - 86_400)})];
    for p in 0..people {
        users.push(json!({"id": 1000 + p, "name": format!("Person {p}"), "email": format!("person{p}@example.com"),
            "role": "end-user", "created_at": iso(START - 3600), "updated_at": iso(START - 3600)}));
    }
    let groups =
        vec![json!({"id": 7, "name": "support", "created_at": iso(START - 86_400), "updated_at": iso(START - 86_400)})];
    let (mut records, mut events, mut ratings) = (Vec::new(), Vec::new(), Vec::new());
    for t in 0..tickets {
        let id = 1 + t as i64;
        let requester = 1000 + (t % people) as i64;
        let created = START + t as i64 * 30;
        let solved = created + 1800;
        records.push(json!({"id": id, "created_at": iso(created), "updated_at": iso(solved), "type": "question",
            "subject": format!("Order {t} is late"), "priority": "normal", "status": "solved", "requester_id": requester,
            "assignee_id": 1, "group_id": 7, "tags": ["delivery"], "custom_fields": [],
            "via": {"channel": "email", "source": {"rel": null}}}));
        events.push(json!({"id": id * 10, "ticket_id": id, "timestamp": created, "created_at": iso(created),
            "updater_id": requester, "via": "Mail", "event_type": "Audit", "child_events": [
                {"id": id * 100, "via": "Mail", "event_type": "Comment", "author_id": requester,
                 "body": format!("Where is order {t}?"), "public": true},
                {"id": id * 100 + 1, "via": "Mail", "event_type": "Create", "requester_id": requester},
                {"id": id * 100 + 2, "via": "Mail", "event_type": "Create", "status": "new"},
                {"id": id * 100 + 3, "via": "Mail", "event_type": "Create", "priority": "normal"},
                {"id": id * 100 + 4, "via": "Mail", "event_type": "Create", "group_id": 7}]}));
        events.push(json!({"id": id * 10 + 1, "ticket_id": id, "timestamp": solved, "created_at": iso(solved),
            "updater_id": 1, "via": "Web form", "event_type": "Audit", "child_events": [
                {"id": id * 100 + 5, "via": "Web form", "event_type": "Comment", "author_id": 1,
                 "body": "It ships today.", "public": true},
                {"id": id * 100 + 6, "via": "Web form", "event_type": "Change", "status": "solved", "previous_value": "new"}]}));
        ratings.push(json!({"id": id, "ticket_id": id, "requester_id": requester, "score": if t % 5 == 0 { "bad" } else { "good" },
            "created_at": iso(solved + 600), "updated_at": iso(solved + 600)}));
    }
    let n = (users.len() + groups.len() + records.len() + events.len() + ratings.len()) as u64;
    write_pages(dir, "users", users)?;
    write_pages(dir, "groups", groups)?;
    write_pages(dir, "tickets", records)?;
    write_pages(dir, "ticket_events", events)?;
    write_pages(dir, "satisfaction_ratings", ratings)?;
    Ok(n)
}

fn generate_chatwoot(path: &Path, conversations: usize) -> Result<u64, CliError> {
    let mut text = String::new();
    for c in 0..conversations {
        let contact = json!({"id": 10 + c, "name": format!("Person {c}"), "email": format!("person{c}@example.com"), "type": "contact"});
        let conversation = json!({"id": 1 + c, "channel": "Channel::Whatsapp", "status": "open",
            "contact_inbox": {"source_id": format!("8210{:08}", c)}, "meta": {"sender": contact}});
        let at = START + c as i64 * 30;
        for (n, (kind, sender, body)) in [
            ("incoming", json!({"id": 10 + c, "type": "contact"}), "Where is my order?"),
            ("outgoing", json!({"id": 1, "name": "Ada", "type": "user"}), "It ships today."),
        ]
        .into_iter()
        .enumerate()
        {
            let payload = json!({"event": "message_created", "id": c * 2 + n, "content": body, "created_at": at + n as i64 * 600,
                "message_type": kind, "private": false, "sender": sender, "conversation": conversation, "account": {"id": 1}});
            text.push_str(&payload.to_string());
            text.push('\n');
        }
    }
    std::fs::write(path, text).map_err(CliError::io(format!("writing {}", path.display())))?;
    Ok(conversations as u64 * 2)
}

/// Reads and parses every page: the reference.
fn parse_pages(dir: &Path) -> Result<u64, CliError> {
    let mut values = 0u64;
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(CliError::io(format!("listing {}", dir.display())))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    files.sort();
    for path in files {
        let bytes = std::fs::read(&path).map_err(CliError::io(format!("reading {}", path.display())))?;
        let value: Value = serde_json::from_slice(&bytes).map_err(|e| CliError::Invalid(e.to_string()))?;
        values += value.as_object().map_or(0, |o| o.len() as u64);
    }
    Ok(values)
}

pub(crate) fn run(args: &ConnectorsArgs) -> Result<ExitCode, CliError> {
    let (dir, _temp) = crate::bench::work_dir(&args.dir)?;
    let pages = dir.join("zendesk-pages");
    std::fs::create_dir_all(&pages).map_err(CliError::io(format!("creating {}", pages.display())))?;
    let records = generate_zendesk(&pages, args.tickets)?;

    let started = Instant::now();
    parse_pages(&pages)?;
    let parse_seconds = started.elapsed().as_secs_f64();

    let store = Store::open(dir.join("zendesk-store"), StoreOptions::default())?;
    let options = rapport_import::zendesk::ZendeskImportOptions::default();
    let started = Instant::now();
    let report = rapport_import::zendesk::import_zendesk_dir(&store, &pages, &options, |_| {})
        .map_err(|e| CliError::Invalid(e.to_string()))?;
    let import_seconds = started.elapsed().as_secs_f64();
    let started = Instant::now();
    let again = rapport_import::zendesk::import_zendesk_dir(&store, &pages, &options, |_| {})
        .map_err(|e| CliError::Invalid(e.to_string()))?;
    let again_seconds = started.elapsed().as_secs_f64();
    if report.records != records || again.imported != 0 || !report.refused.is_empty() {
        return Err(CliError::Invalid(format!(
            "the generated export did not import cleanly: {} of {records} records, {} refused (first: {:?}), {} recorded again",
            report.records,
            report.refused.len(),
            report.refused.first(),
            again.imported
        )));
    }
    let events = store.log().end_position().0;
    drop(store);

    let jsonl = dir.join("chatwoot.jsonl");
    let payloads = generate_chatwoot(&jsonl, args.tickets)?;
    let chatwoot_store = Store::open(dir.join("chatwoot-store"), StoreOptions::default())?;
    let started = Instant::now();
    let chatwoot = rapport_import::chatwoot::import_chatwoot_file(&chatwoot_store, &jsonl, |_| {})
        .map_err(|e| CliError::Invalid(e.to_string()))?;
    let chatwoot_seconds = started.elapsed().as_secs_f64();
    if !chatwoot.refused.is_empty() {
        return Err(CliError::Invalid(format!("chatwoot payloads refused: {:?}", chatwoot.refused.first())));
    }

    let rate = |n: u64, s: f64| n as f64 / s.max(1e-9);
    let zendesk_rate = rate(records, import_seconds);
    let parse_rate = rate(records, parse_seconds);
    if args.json {
        let out = json!({
            "tickets": args.tickets,
            "zendesk": {
                "records": records, "inputs": report.inputs, "events": events,
                "records_per_sec": zendesk_rate, "reimport_records_per_sec": rate(records, again_seconds),
                "json_parse_records_per_sec": parse_rate, "ratio_to_json_parse": zendesk_rate / parse_rate.max(1e-9),
                "durability": report.durability.to_string(),
            },
            "chatwoot": {"payloads": payloads, "payloads_per_sec": rate(payloads, chatwoot_seconds), "recorded": chatwoot.recorded},
        });
        println!("{out}");
    } else {
        println!("connectors: {} tickets", args.tickets);
        println!("  zendesk pages parsed to JSON only: {parse_rate:>10.0} records/s (the reference)");
        println!(
            "  zendesk import:                    {zendesk_rate:>10.0} records/s ({records} records -> {} inputs -> {events} events; {:.1} % of parsing alone; {})",
            report.inputs,
            100.0 * zendesk_rate / parse_rate.max(1e-9),
            report.durability
        );
        println!("  zendesk re-import (all recorded):  {:>10.0} records/s", rate(records, again_seconds));
        println!(
            "  chatwoot payloads:                 {:>10.0} payloads/s ({} inputs)",
            rate(payloads, chatwoot_seconds),
            chatwoot.recorded
        );
    }
    Ok(ExitCode::SUCCESS)
}
