//! Power loss at every operation of a create + commits + destroys sequence, over many seeds.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};

use proptest::prelude::*;
use rapport_log::sim::{FaultRepeat, SimStorage};
use rapport_vault::{Access, Error, KeyId, MasterKeySource, Opened, Sealed, Vault};

use crate::common::*;

/// What the scenario was told before the crash.
#[derive(Default)]
struct Outcome {
    created: bool,
    /// (identity key, bucket key, sealed, plaintext) of every key whose commit returned Ok.
    acknowledged: Vec<(KeyId, KeyId, Sealed, Vec<u8>)>,
    /// Keys whose destroy returned Ok.
    destroyed: BTreeSet<KeyId>,
    /// Keys whose destroy was called but did not return Ok.
    maybe_destroyed: BTreeSet<KeyId>,
    /// The secret bytes (wrapped key, identity value) of every key a destroy was called on, as
    /// they were in the file before.
    secrets: Vec<(KeyId, (u64, Vec<u8>))>,
}

/// What the sweep met, to check it covers the recovery rules (torn tails, damaged records).
static TORN_TAILS: AtomicU64 = AtomicU64::new(0);
static DAMAGED: AtomicU64 = AtomicU64::new(0);
static NO_KEY_STORE: AtomicU64 = AtomicU64::new(0);

const ROUNDS: u8 = 4;
const KEYS_PER_ROUND: u8 = 3;

fn scenario(
    sim: &SimStorage,
    storage: &std::sync::Arc<dyn rapport_log::Storage>,
    in_store: bool,
    outcome: &mut Outcome,
) -> Result<(), Error> {
    let source = if in_store { MasterKeySource::InStore } else { MasterKeySource::External(master()) };
    let vault = Vault::create(storage.clone(), dir(), source, STORE, None)?;
    outcome.created = true;
    for round in 0..ROUNDS {
        let bucket = vault.bucket_key(1, u32::from(round)).unwrap_or(None).ok_or(Error::Locked)?;
        let mut sealed = Vec::new();
        for i in 0..KEYS_PER_ROUND {
            let pseudonym = [round * KEYS_PER_ROUND + i + 1; 16];
            let key = vault.identity_key(pseudonym, "value")?;
            let plaintext = vec![round, i, 0xaa];
            sealed.push((key, bucket, vault.seal(key, bucket, AAD, &plaintext)?, plaintext));
        }
        vault.commit()?;
        outcome.acknowledged.extend(sealed);
        if round > 0 {
            // Destroy the first key of the previous round, and (last round) a bucket and two keys at once.
            let mut victims = vec![outcome.acknowledged[usize::from(round - 1) * usize::from(KEYS_PER_ROUND)].0];
            if round == ROUNDS - 1 {
                victims.push(outcome.acknowledged.last().unwrap().0);
                victims.push(outcome.acknowledged[0].1);
            }
            outcome.maybe_destroyed.extend(&victims);
            let secrets = record_secrets(&sim.read_file(&keys_path()).unwrap());
            outcome.secrets.extend(victims.iter().map(|victim| (*victim, secrets[victim.0 as usize].clone())));
            vault.destroy(&victims)?;
            for victim in victims {
                outcome.maybe_destroyed.remove(&victim);
                outcome.destroyed.insert(victim);
            }
        }
    }
    Ok(())
}

/// How the crash comes.
#[derive(Debug, Clone, Copy)]
enum Cut {
    /// Every disk operation from the n-th on fails (a failed sync drops its writes: fsyncgate),
    /// then the power goes.
    Faults,
    /// The power goes just before the n-th operation: unsynced writes are torn.
    Power,
}

/// Runs the scenario until the `crash_at`-th operation, crashes, reopens and checks. Returns
/// whether the scenario ran to its end before the crash.
fn crash_and_check(seed: u64, crash_at: u64, cut: Cut, in_store: bool) -> bool {
    let sim = SimStorage::new(seed);
    let storage: std::sync::Arc<dyn rapport_log::Storage> = std::sync::Arc::new(sim.clone());
    let ops_left = std::sync::Arc::new(AtomicU64::new(u64::MAX));
    let scenario_storage: std::sync::Arc<dyn rapport_log::Storage> = match cut {
        Cut::Faults => {
            sim.fail_after(crash_at, FaultRepeat::Forever);
            storage.clone()
        }
        Cut::Power => {
            ops_left.store(crash_at - 1, Ordering::SeqCst);
            std::sync::Arc::new(PowerCut { inner: storage.clone(), ops_left: ops_left.clone() })
        }
    };
    let mut outcome = Outcome::default();
    let result = scenario(&sim, &scenario_storage, in_store, &mut outcome);
    let key = (!in_store).then(master);
    let completed = result.is_ok() && sim.faults_fired() == 0 && ops_left.load(Ordering::SeqCst) > 0;
    sim.crash();
    let context = format!("seed {seed}, {cut:?} at {crash_at}, in store {in_store}: {result:?}");

    let vault = match Vault::open(storage.clone(), dir(), key.clone(), Access::Write, STORE) {
        Ok(vault) => vault,
        Err(Error::NoKeyStore { .. }) if !outcome.created => {
            NO_KEY_STORE.fetch_add(1, Ordering::Relaxed);
            return completed;
        }
        Err(error) => panic!("{context}: reopen failed: {error}"),
    };
    if vault.torn_tail_bytes() > 0 {
        TORN_TAILS.fetch_add(1, Ordering::Relaxed);
    }
    if !vault.damaged().is_empty() {
        DAMAGED.fetch_add(1, Ordering::Relaxed);
    }
    check(&vault, &outcome, &context);
    // A second reopen sees the same (the first one's truncation was durable).
    drop(vault);
    let vault = Vault::open(storage.clone(), dir(), key.clone(), Access::ReadOnly, STORE).unwrap();
    assert_eq!(vault.torn_tail_bytes(), 0, "{context}");
    check(&vault, &outcome, &context);
    // And the vault goes on: a new key after every acknowledged one.
    drop(vault);
    let vault = Vault::open(storage.clone(), dir(), key, Access::Write, STORE).unwrap();
    // A destroy that did not return Ok is retried: then no byte of those keys is left.
    let retried: Vec<KeyId> = outcome.maybe_destroyed.iter().chain(&outcome.destroyed).copied().collect();
    vault.destroy(&retried).unwrap();
    let file = sim.read_file(&keys_path()).unwrap();
    for (key, secret) in &outcome.secrets {
        assert_eq!(secret.0, key.0, "{context}");
        assert!(!contains(&file, &secret.1), "{context}: secret bytes of key {key} survive its destroy");
        assert!(vault.is_destroyed(*key), "{context}");
    }
    let fresh = vault.identity_key([0xee; 16], "fresh").unwrap();
    vault.commit().unwrap();
    assert!(outcome.acknowledged.iter().all(|(key, bucket, ..)| *key < fresh && *bucket < fresh), "{context}");
    assert_eq!(vault.identity_value(fresh).unwrap(), Opened::Plain(b"fresh".to_vec()), "{context}");
    completed
}

fn check(vault: &Vault, outcome: &Outcome, context: &str) {
    let damaged: BTreeSet<KeyId> = vault.damaged().into_iter().collect();
    for (key, bucket, sealed, plaintext) in &outcome.acknowledged {
        let opened = vault
            .open_sealed(*key, *bucket, AAD, &sealed.nonce, &sealed.ciphertext)
            .unwrap_or_else(|error| panic!("{context}: key {key} bucket {bucket}: {error}"));
        let plain = Opened::Plain(plaintext.clone());
        let key_gone = outcome.destroyed.contains(key);
        let bucket_gone = outcome.destroyed.contains(bucket);
        let key_maybe = outcome.maybe_destroyed.contains(key) || damaged.contains(key);
        let bucket_maybe = outcome.maybe_destroyed.contains(bucket) || damaged.contains(bucket);
        let allowed: Vec<Opened> = if key_gone {
            vec![Opened::Erased]
        } else if bucket_gone {
            if key_maybe {
                vec![Opened::Erased, Opened::Expired]
            } else {
                vec![Opened::Expired]
            }
        } else {
            let mut allowed = vec![plain.clone()];
            if key_maybe {
                allowed.push(Opened::Erased);
            }
            if bucket_maybe {
                allowed.push(Opened::Expired);
            }
            allowed
        };
        assert!(allowed.contains(&opened), "{context}: key {key} bucket {bucket}: {opened:?}, allowed {allowed:?}");
        if !key_gone && !key_maybe {
            assert_eq!(vault.identity_value(*key).unwrap(), Opened::Plain(b"value".to_vec()), "{context}");
        }
    }
    for key in &outcome.destroyed {
        assert!(vault.is_destroyed(*key), "{context}: key {key} was destroyed");
    }
    // Only a key whose destroy was interrupted, or one never acknowledged, may be damaged.
    let acknowledged: BTreeSet<KeyId> = outcome.acknowledged.iter().flat_map(|(k, b, ..)| [*k, *b]).collect();
    for key in &damaged {
        assert!(
            outcome.maybe_destroyed.contains(key) || !acknowledged.contains(key),
            "{context}: acknowledged, not destroyed key {key} is damaged"
        );
    }
}

#[test]
fn crash_at_every_operation() {
    for seed in 1..=16 {
        for (cut, in_store) in [(Cut::Faults, false), (Cut::Power, false), (Cut::Faults, true), (Cut::Power, true)] {
            let mut crash_at = 1;
            while !crash_and_check(seed, crash_at, cut, in_store) {
                crash_at += 1;
                assert!(crash_at < 1000, "the scenario never completes");
            }
            assert!(crash_at > 10, "seed {seed}: the scenario has {crash_at} operations");
        }
    }
    let (torn, damaged, missing) =
        (TORN_TAILS.load(Ordering::Relaxed), DAMAGED.load(Ordering::Relaxed), NO_KEY_STORE.load(Ordering::Relaxed));
    eprintln!("crash sweep: {torn} torn tails, {damaged} opens with damaged records, {missing} without KEYS");
    assert!(torn > 0 && damaged > 0 && missing > 0, "the sweep covers every recovery rule");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn crash_at_a_random_operation(
        seed in any::<u64>(),
        crash_at in 1u64..80,
        power in any::<bool>(),
        in_store in any::<bool>(),
    ) {
        crash_and_check(seed, crash_at, if power { Cut::Power } else { Cut::Faults }, in_store);
    }
}
