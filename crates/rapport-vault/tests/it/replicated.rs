//! Nodes of a replicated store sharing their key records through a [`RecordLog`]: here an
//! in-memory model of the list (expected-sequence appends, erasable entries), so that races can
//! be staged exactly. The JetStream implementation is tested against real servers in
//! `rapport-jetstream`.

use std::path::Path;
use std::sync::Arc;

use parking_lot::Mutex;
use rapport_log::sim::SimStorage;
use rapport_log::{RecordLog, RecordsRead};
use rapport_vault::{Error, MasterKey, MasterKeySource, Opened, SharedSecrets, Vault};

/// The model: entry `i + 1` is `entries[i]`, `None` once erased. `read_limit` bounds how many
/// entries one read covers (a real list bounds reads by bytes).
#[derive(Debug, Default)]
struct ModelList {
    entries: Mutex<Vec<Option<Vec<u8>>>>,
    read_limit: usize,
}

impl RecordLog for ModelList {
    fn append_at(&self, first: u64, records: &[Vec<u8>]) -> rapport_log::Result<Vec<bool>> {
        let mut entries = self.entries.lock();
        Ok(records
            .iter()
            .enumerate()
            .map(|(i, record)| {
                let landed = entries.len() as u64 == first + i as u64 - 1;
                if landed {
                    entries.push(Some(record.clone()));
                }
                landed
            })
            .collect())
    }

    fn read_after(&self, after: u64) -> rapport_log::Result<RecordsRead> {
        let entries = self.entries.lock();
        let end = entries.len() as u64;
        let limit = if self.read_limit == 0 { usize::MAX } else { self.read_limit } as u64;
        let through = end.min(after.saturating_add(limit));
        let records = (after + 1..=through)
            .filter_map(|sequence| entries[(sequence - 1) as usize].clone().map(|bytes| (sequence, bytes)))
            .collect();
        let erased = (1..=end).filter(|sequence| entries[(sequence - 1) as usize].is_none()).collect();
        Ok(RecordsRead { end, through, records, erased })
    }

    fn erase(&self, sequence: u64) -> rapport_log::Result<()> {
        if let Some(entry) = self.entries.lock().get_mut((sequence - 1) as usize) {
            *entry = None;
        }
        Ok(())
    }
}

struct Cluster {
    storage: Arc<SimStorage>,
    master: MasterKey,
    secrets: SharedSecrets,
    list: Arc<ModelList>,
}

impl Cluster {
    fn new(read_limit: usize) -> Cluster {
        Cluster {
            storage: Arc::new(SimStorage::new(7)),
            master: MasterKey::generate().unwrap(),
            secrets: SharedSecrets::generate().unwrap(),
            list: Arc::new(ModelList { read_limit, ..ModelList::default() }),
        }
    }

    /// A new node's vault in `dir`.
    fn node(&self, dir: &str) -> Vault {
        let source = MasterKeySource::External(self.master.clone());
        let vault = Vault::create_shared(self.storage.clone(), Path::new(dir), source, &self.secrets).unwrap();
        vault.attach_records(self.list.clone()).unwrap();
        vault
    }

    /// The node of `dir` reopened from its files.
    fn reopen(&self, dir: &str) -> Vault {
        let vault = Vault::open(
            self.storage.clone(),
            Path::new(dir),
            Some(self.master.clone()),
            rapport_vault::Access::Write,
            self.secrets.store_id,
        )
        .unwrap();
        vault.attach_records(self.list.clone()).unwrap();
        vault
    }
}

fn plain(opened: Opened) -> Vec<u8> {
    match opened {
        Opened::Plain(bytes) => bytes,
        other => panic!("expected a plaintext, got {other:?}"),
    }
}

/// Ada's key and a bucket, committed on `node`, and `hello` sealed under them for `event`.
fn ada_sealed_on(node: &Vault) -> (rapport_vault::KeyId, rapport_vault::KeyId, rapport_vault::Sealed) {
    let key = node.identity_key([1; 16], "ada@example.com").unwrap();
    let bucket = node.bucket_key(2, 100).unwrap().unwrap();
    node.commit().unwrap();
    let sealed = node.seal(key, bucket, b"event", b"hello").unwrap();
    (key, bucket, sealed)
}

#[test]
fn a_value_sealed_on_one_node_opens_on_another_under_the_same_ids() {
    let cluster = Cluster::new(0);
    let a = cluster.node("/a");
    let b = cluster.node("/b");
    let (key, bucket, sealed) = ada_sealed_on(&a);
    // B has not read the list: a key id beyond what it holds makes it read.
    assert_eq!(plain(b.open_sealed(key, bucket, b"event", &sealed.nonce, &sealed.ciphertext).unwrap()), b"hello");
    assert_eq!(plain(b.identity_value(key).unwrap()), b"ada@example.com");
    assert_eq!(b.live_identity_key(&[1; 16]), Some(key));
    assert_eq!(b.digest(key, bucket, b"hello"), Some(sealed.digest));
}

#[test]
fn a_node_that_lost_the_race_makes_its_keys_again_after_the_winners() {
    let cluster = Cluster::new(0);
    let a = cluster.node("/a");
    let b = cluster.node("/b");
    // Both decide on the same empty view: the same ids, and Ada on both.
    let a_key = a.identity_key([1; 16], "ada@example.com").unwrap();
    a.identity_key([3; 16], "carol@example.com").unwrap();
    let b_same = b.identity_key([1; 16], "ada@example.com").unwrap();
    let b_other = b.identity_key([2; 16], "bob@example.com").unwrap();
    assert_eq!(a_key, b_same, "both nodes proposed the same next id");
    a.commit().unwrap();
    b.commit().unwrap();
    // B took A's key for Ada and made Bob's again under the next id.
    assert_eq!(b.live_identity_key(&[1; 16]), Some(a_key));
    let bob = b.live_identity_key(&[2; 16]).unwrap();
    assert_eq!(bob.0, b_other.0 + 1, "Bob's key moved past A's two records");
    assert_eq!(cluster.list.entries.lock().len(), 3, "Ada once, Carol, Bob");
    // The moved key opens everywhere, under its new id, with its value.
    let bucket = b.bucket_key(2, 100).unwrap().unwrap();
    b.commit().unwrap();
    let sealed = b.seal(bob, bucket, b"e", b"text").unwrap();
    a.pull().unwrap();
    assert_eq!(plain(a.identity_value(bob).unwrap()), b"bob@example.com");
    assert_eq!(plain(a.open_sealed(bob, bucket, b"e", &sealed.nonce, &sealed.ciphertext).unwrap()), b"text");
    assert_eq!(plain(b.identity_value(a_key).unwrap()), b"ada@example.com");
}

#[test]
fn records_that_land_after_a_lost_one_keep_their_ids() {
    let cluster = Cluster::new(0);
    let a = cluster.node("/a");
    let b = cluster.node("/b");
    let a_key = a.identity_key([1; 16], "ada@example.com").unwrap();
    let lost = b.identity_key([2; 16], "bob@example.com").unwrap();
    let landed = b.identity_key([3; 16], "carol@example.com").unwrap();
    assert_eq!(lost, a_key);
    a.commit().unwrap();
    // B's first record finds A's in its place; its second finds exactly one entry and lands.
    b.commit().unwrap();
    assert_eq!(b.live_identity_key(&[3; 16]), Some(landed));
    let bob = b.live_identity_key(&[2; 16]).unwrap();
    assert_eq!(bob.0, landed.0 + 1);
    a.pull().unwrap();
    assert_eq!(plain(a.identity_value(landed).unwrap()), b"carol@example.com");
    assert_eq!(plain(a.identity_value(bob).unwrap()), b"bob@example.com");
    assert_eq!(plain(b.identity_value(a_key).unwrap()), b"ada@example.com");
}

#[test]
fn an_erasure_on_one_node_destroys_the_key_on_every_node_and_in_the_list() {
    let cluster = Cluster::new(0);
    let a = cluster.node("/a");
    let b = cluster.node("/b");
    let (key, bucket, sealed) = ada_sealed_on(&a);
    b.pull().unwrap();
    assert_eq!(plain(b.identity_value(key).unwrap()), b"ada@example.com");
    assert_eq!(a.destroy(&[key]).unwrap(), 1);
    let sequence = (key.0 - 2) as usize;
    assert_eq!(cluster.list.entries.lock()[sequence - 1], None, "the list's copy is erased");
    b.pull().unwrap();
    assert!(b.is_destroyed(key));
    assert_eq!(b.open_sealed(key, bucket, b"event", &sealed.nonce, &sealed.ciphertext).unwrap(), Opened::Erased);
    // A node that joins later holds a destroyed stand-in under the same id.
    let c = cluster.node("/c");
    assert!(c.is_destroyed(key));
    assert_eq!(c.identity_value(key).unwrap(), Opened::Erased);
    assert_eq!(c.live_identity_key(&[1; 16]), None);
    assert!(c.buckets().iter().all(|b| b.class == 2), "the stand-in lists as no bucket: {:?}", c.buckets());
    // A new key for the same identity is a new entry.
    let again = c.identity_key([1; 16], "ada@example.com").unwrap();
    c.commit().unwrap();
    assert!(again > key);
}

#[test]
fn a_reopened_node_keeps_its_ids_and_reads_only_the_tail() {
    let cluster = Cluster::new(3);
    let a = cluster.node("/a");
    let mut keys = Vec::new();
    for i in 0..10u8 {
        keys.push(a.identity_key([i; 16], &format!("user{i}@example.com")).unwrap());
    }
    a.commit().unwrap();
    let b = cluster.node("/b");
    for (i, key) in keys.iter().enumerate() {
        assert_eq!(b.live_identity_key(&[i as u8; 16]), Some(*key), "read in reads of 3 entries");
    }
    drop(b);
    let extra = a.identity_key([50; 16], "late@example.com").unwrap();
    a.commit().unwrap();
    let b = cluster.reopen("/b");
    assert_eq!(b.live_identity_key(&[3; 16]), Some(keys[3]));
    assert_eq!(b.live_identity_key(&[50; 16]), Some(extra));
    assert_eq!(plain(b.identity_value(extra).unwrap()), b"late@example.com");
}

#[test]
fn a_node_never_seals_under_a_key_the_list_does_not_hold() {
    let cluster = Cluster::new(0);
    let a = cluster.node("/a");
    let key = a.identity_key([1; 16], "ada@example.com").unwrap();
    let bucket = a.bucket_key(2, 100).unwrap().unwrap();
    assert!(matches!(a.seal(key, bucket, b"e", b"x"), Err(Error::NotShared { .. })));
    a.commit().unwrap();
    a.seal(key, bucket, b"e", b"x").unwrap();
}

#[test]
fn a_key_store_with_records_the_list_lacks_is_refused() {
    let cluster = Cluster::new(0);
    let source = MasterKeySource::External(cluster.master.clone());
    let own = Vault::create_shared(cluster.storage.clone(), Path::new("/own"), source, &cluster.secrets).unwrap();
    own.identity_key([9; 16], "own@example.com").unwrap();
    own.commit().unwrap();
    drop(own);
    let reopened = Vault::open(
        cluster.storage.clone(),
        Path::new("/own"),
        Some(cluster.master.clone()),
        rapport_vault::Access::Write,
        cluster.secrets.store_id,
    )
    .unwrap();
    let refused = reopened.attach_records(cluster.list.clone());
    assert!(matches!(refused, Err(Error::Corrupt { .. })), "{refused:?}");
}

#[test]
fn a_migrated_store_keeps_its_key_ids_on_the_nodes() {
    let cluster = Cluster::new(0);
    // The embedded store: its own key store with the secrets the nodes will agree on.
    let source = MasterKeySource::External(cluster.master.clone());
    let old = Vault::create_shared(cluster.storage.clone(), Path::new("/old"), source, &cluster.secrets).unwrap();
    let erased = old.identity_key([1; 16], "gone@example.com").unwrap();
    let kept = old.identity_key([2; 16], "kept@example.com").unwrap();
    let bucket = old.bucket_key(2, 100).unwrap().unwrap();
    old.commit().unwrap();
    let sealed = old.seal(kept, bucket, b"e", b"text").unwrap();
    old.destroy(&[erased]).unwrap();
    let records = old.records_for_replication().unwrap();
    assert_eq!(records.len(), 3);
    assert_eq!(cluster.list.append_at(1, &records).unwrap(), vec![true; 3]);
    let node = cluster.node("/node");
    assert!(node.is_destroyed(erased));
    assert_eq!(node.live_identity_key(&[2; 16]), Some(kept));
    assert_eq!(plain(node.open_sealed(kept, bucket, b"e", &sealed.nonce, &sealed.ciphertext).unwrap()), b"text");
}

#[test]
fn a_node_reads_again_what_a_crash_tore_in_its_file_instead_of_taking_it_for_destroyed() {
    let cluster = Cluster::new(0);
    let a = cluster.node("/a");
    let keys: Vec<_> = (0..3u8).map(|i| a.identity_key([i; 16], &format!("user{i}@example.com")).unwrap()).collect();
    a.commit().unwrap();
    drop(a);
    // Flip a byte inside the middle record of the node's file (a write a crash tore).
    let path = Path::new("/a").join(rapport_vault::KEYS_FILE);
    let mut bytes = cluster.storage.read_file(&path).unwrap();
    let middle = cluster.list.entries.lock()[1].clone().unwrap();
    let at = bytes.windows(middle.len()).position(|window| window == middle.as_slice()).unwrap();
    bytes[at + middle.len() / 2] ^= 0x01;
    cluster.storage.write_file(&path, &bytes).unwrap();
    let a = cluster.reopen("/a");
    assert!(a.damaged().is_empty(), "{:?}", a.damaged());
    for (i, key) in keys.iter().enumerate() {
        assert!(!a.is_destroyed(*key));
        assert_eq!(plain(a.identity_value(*key).unwrap()), format!("user{i}@example.com").as_bytes());
    }
}
