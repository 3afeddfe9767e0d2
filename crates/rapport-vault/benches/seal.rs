//! Vault benchmarks that print a table: sealing and opening a short field (cached field key),
//! sealing under many (identity, bucket) pairs (field key derived on every cache miss), creating
//! and committing identity keys in groups, and destroying keys. On the simulated disk, so the
//! figures are CPU cost, not fsync latency. Run: `cargo bench -p rapport-vault --bench seal`
//! (release build). Figures are for comparison within one run on one machine.
#![allow(missing_docs)]

use std::hint::black_box;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use rapport_log::sim::SimStorage;
use rapport_log::Storage;
use rapport_vault::{KeyId, MasterKey, MasterKeySource, Vault, FIELD_KEY_CACHE_ENTRIES_MAX};

const FIELD: &[u8] = b"ada.lovelace@example.com";
const AAD: &[u8] = b"event 0123456789abcdef";

fn vault() -> Vault {
    let storage: Arc<dyn Storage> = Arc::new(SimStorage::new(1));
    Vault::create(
        storage,
        Path::new("/bench"),
        MasterKeySource::External(MasterKey::from_bytes([3; 32])),
        [1; 16],
        None,
    )
    .unwrap()
}

fn row(name: &str, ops: usize, start: Instant) {
    let elapsed = start.elapsed();
    let per_op = elapsed.as_nanos() as f64 / ops as f64;
    println!("{name:<44} {ops:>9} {per_op:>12.0} ns/op {:>12.0} ops/s", 1e9 / per_op);
}

fn main() {
    println!("{:<44} {:>9} {:>18} {:>16}", "operation", "ops", "time", "rate");
    let vault = vault();
    let key = vault.identity_key([1; 16], "ada").unwrap();
    let bucket = vault.bucket_key(1, 24_000).unwrap().unwrap();
    vault.commit().unwrap();

    let n = 200_000;
    let start = Instant::now();
    let mut sealed = None;
    for _ in 0..n {
        sealed = Some(black_box(vault.seal(key, bucket, AAD, FIELD).unwrap()));
    }
    row("seal (cached field key)", n, start);
    let sealed = sealed.unwrap();
    let start = Instant::now();
    for _ in 0..n {
        black_box(vault.open_sealed(key, bucket, AAD, &sealed.nonce, &sealed.ciphertext).unwrap());
    }
    row("open_sealed (cached field key)", n, start);

    let identities = 2 * FIELD_KEY_CACHE_ENTRIES_MAX;
    let keys: Vec<KeyId> =
        (0..identities).map(|i| vault.identity_key((i as u128).to_le_bytes(), "someone").unwrap()).collect();
    vault.commit().unwrap();
    let start = Instant::now();
    for key in &keys {
        black_box(vault.seal(*key, bucket, AAD, FIELD).unwrap());
    }
    row("seal (field key derived: cache miss)", identities, start);

    let groups = 200;
    let per_group = 50;
    let start = Instant::now();
    for g in 0..groups {
        for i in 0..per_group {
            let pseudonym = (1_000_000 + (g * per_group + i) as u128).to_le_bytes();
            black_box(vault.identity_key(pseudonym, "new customer").unwrap());
        }
        vault.commit().unwrap();
    }
    row("identity_key + commit (groups of 50)", groups * per_group, start);

    let start = Instant::now();
    for chunk in keys.chunks(64) {
        black_box(vault.destroy(chunk).unwrap());
    }
    row("destroy (64 keys per call)", keys.len(), start);
}
