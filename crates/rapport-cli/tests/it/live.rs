//! Goal: a live store can be read and copied from outside while another process writes it, and
//! a damaged one salvaged, without changing it. Method: a real `rapport import` writer process
//! and real reader, backup and salvage processes on the same directory; every answer is checked
//! against the finished store.

use std::path::Path;
use std::process::{Child, Command, Stdio};

use crate::commands::{json_lines, ok, rapport, scenario_store};

/// Starts `rapport import scenario` as a separate writer process.
fn spawn_writer(store: &str, people: &str) -> Child {
    Command::new(env!("CARGO_BIN_EXE_rapport"))
        .args(["import", "scenario", "--store", store, "--people", people, "--seed", "9"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the writer starts")
}

fn ticket_ids(store: &str) -> Vec<String> {
    json_lines(&ok(&["tickets", "--store", store, "--json"]))
        .iter()
        .map(|ticket| ticket["ticket_id"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn a_reader_process_follows_a_writer_process_and_backups_of_the_live_store_verify() {
    let dir = tempfile::tempdir().unwrap();
    let store = scenario_store(dir.path());
    let mut writer = spawn_writer(&store, "3000");
    let mut seen = ticket_ids(&store).len();
    let mut reads = 0;
    let mut backups = 0;
    while writer.try_wait().unwrap().is_none() && reads < 200 {
        // A read command runs beside the writer (no lock) and sees a growing, consistent store.
        let now = ticket_ids(&store).len();
        assert!(now >= seen, "tickets went from {seen} to {now}");
        seen = now;
        reads += 1;
        if backups < 2 {
            let copy = dir.path().join(format!("backup-{backups}")).display().to_string();
            ok(&["backup", "--store", &store, "--to", &copy]);
            ok(&["verify", "--store", &copy]);
            assert!(ticket_ids(&copy).len() >= 30, "the backup holds at least the first import");
            backups += 1;
        }
    }
    assert!(writer.wait().unwrap().success(), "the writer finished");
    assert!(reads > 0, "the reader ran while the writer wrote");
    let done = ticket_ids(&store);
    assert!(done.len() >= seen);
    let copy = dir.path().join("backup-final").display().to_string();
    ok(&["backup", "--store", &store, "--to", &copy, "--with-keys"]);
    assert_eq!(ticket_ids(&copy), done, "a backup of the quiet store answers the same");
    // The backup, made with its keys, is a store of its own: it can be written (one made
    // without keys cannot: tests/it/privacy.rs).
    ok(&["import", "scenario", "--store", &copy, "--people", "5", "--seed", "1"]);
    let refused = rapport(&["backup", "--store", &store, "--to", &format!("{store}/inside")]);
    assert_eq!(refused.status.code(), Some(2), "a backup inside the store is refused: {refused:?}");
}

#[test]
fn salvage_copies_the_valid_prefix_and_leaves_the_damaged_store_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let store = scenario_store(dir.path());
    let segment = Path::new(&store).join("00000000000000000000.seg");
    let mut bytes = std::fs::read(&segment).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x40;
    std::fs::write(&segment, &bytes).unwrap();
    let damaged = rapport(&["verify", "--store", &store]);
    assert_eq!(damaged.status.code(), Some(1), "a flipped bit is corruption: {damaged:?}");
    let copy = dir.path().join("salvaged").display().to_string();
    let said = ok(&["salvage", "--store", &store, "--to", &copy]);
    assert!(said.contains("left behind"), "{said}");
    ok(&["verify", "--store", &copy]);
    assert_eq!(std::fs::read(&segment).unwrap(), bytes, "the source is unchanged");
    let reading = rapport(&["tickets", "--store", &store]);
    assert_eq!(reading.status.code(), Some(1), "reading the damaged store reports corruption: {reading:?}");
}

#[test]
fn a_torn_tail_is_reported_on_stderr_and_cut_only_by_a_writer() {
    let dir = tempfile::tempdir().unwrap();
    let store = scenario_store(dir.path());
    let segment = Path::new(&store).join("00000000000000000000.seg");
    let mut bytes = std::fs::read(&segment).unwrap();
    // The start of a record that never finished: a length, then nothing.
    bytes.extend_from_slice(&[200, 0, 0, 0, 1, 2, 3]);
    std::fs::write(&segment, &bytes).unwrap();
    // A read command sees what is below the durable watermark and leaves the rest alone.
    let read = rapport(&["tickets", "--store", &store]);
    assert!(read.status.success(), "{}", String::from_utf8_lossy(&read.stderr));
    assert_eq!(std::fs::read(&segment).unwrap(), bytes, "a read command cuts nothing");
    // A writer cuts the torn tail and says so on stderr.
    let write = rapport(&["import", "scenario", "--store", &store, "--people", "1", "--seed", "4"]);
    let said = String::from_utf8_lossy(&write.stderr);
    assert!(write.status.success(), "{said}");
    assert!(said.contains("recovery truncated 7 bytes"), "{said}");
}

#[test]
fn migrate_turns_a_first_release_store_into_a_new_one_and_lists_the_changes() {
    use rapport::events::{codec, CxEvent, NormalizeOptions};
    use rapport::log::{EventData, EventId, ExpectedVersion, Log, LogOptions, Timestamp};
    let dir = tempfile::tempdir().unwrap();
    let old = dir.path().join("old");
    {
        // The first release's layout: input events from position 0, no header record, phones
        // stored as their digits alone.
        let log = Log::open(&old, LogOptions::default()).unwrap();
        let json = r#"{"identities":[{"kind":"email","value":"kim@x.io"},{"kind":"phone","value":"+821012345678"}]}"#;
        let identified = CxEvent::from_json(
            "customer.identified",
            serde_json::from_str(json).unwrap(),
            &NormalizeOptions::default(),
        )
        .unwrap();
        let json = r#"{"ticket_id":"T-1","requester":{"kind":"email","value":"kim@x.io"},"channel":"email"}"#;
        let opened =
            CxEvent::from_json("ticket.opened", serde_json::from_str(json).unwrap(), &NormalizeOptions::default())
                .unwrap();
        for (n, (stream, event)) in
            [("identity-email:kim@x.io", identified), ("ticket-T-1", opened)].into_iter().enumerate()
        {
            let encoded = codec::encode(&event).unwrap();
            let payload = if n == 0 {
                // "+821012345678" (13 bytes) as the old "821012345678" (12 bytes).
                let (from, to) = (b"\x0d+821012345678".as_slice(), b"\x0c821012345678".as_slice());
                let at = encoded.payload.windows(from.len()).position(|w| w == from).unwrap();
                [&encoded.payload[..at], to, &encoded.payload[at + from.len()..]].concat()
            } else {
                encoded.payload
            };
            let mut data = EventData::new(EventId([n as u8 + 1; 16]), encoded.event_type, payload);
            data.schema_version = encoded.schema_version;
            data.occurred_at = Timestamp(1_714_550_400_000_000 + n as i64 * 60_000_000);
            log.append(stream, ExpectedVersion::Any, vec![data]).unwrap();
        }
    }
    let old = old.display().to_string();
    let old_bytes = std::fs::read(Path::new(&old).join("00000000000000000000.seg")).unwrap();
    let refused = rapport(&["tickets", "--store", &old]);
    assert_eq!(refused.status.code(), Some(4), "{refused:?}");
    assert!(String::from_utf8_lossy(&refused.stderr).contains("rapport migrate"), "{refused:?}");
    // `dump` still reads a first-release store (it holds nothing sealed): its payloads as stored.
    let dumped = json_lines(&ok(&["dump", "--store", &old]));
    assert_eq!(dumped.len(), 2);
    assert_eq!(dumped[1]["payload"]["requester"]["value"], "kim@x.io", "{dumped:?}");
    let new = dir.path().join("new").display().to_string();
    let changes = json_lines(&ok(&["migrate", &old, &new, "--json"]));
    assert!(
        changes.iter().any(|c| c["change"] == "identity"
            && c["old"] == "phone:821012345678"
            && c["new"] == "phone:+821012345678"),
        "{changes:?}"
    );
    let tickets = json_lines(&ok(&["tickets", "--store", &new, "--json"]));
    assert_eq!(tickets.len(), 1);
    assert_eq!(tickets[0]["ticket_id"], "T-1");
    let again = rapport(&["migrate", &old, &new]);
    assert_eq!(again.status.code(), Some(2), "the target is a store now: {again:?}");
    assert_eq!(std::fs::read(Path::new(&old).join("00000000000000000000.seg")).unwrap(), old_bytes, "old is unchanged");
}
