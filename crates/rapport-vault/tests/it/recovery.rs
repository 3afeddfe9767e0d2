//! The open and recovery rules of the crate documentation's table, one test per row.

use rapport_log::sim::SimStorage;
use rapport_vault::{Access, Error, KeyId, Opened, Sealed, Vault};

use crate::common::*;

/// A disk, its storage, a field sealed under each identity key, and the bucket key.
type Fixture = (SimStorage, std::sync::Arc<dyn rapport_log::Storage>, Vec<(KeyId, Sealed)>, KeyId);

/// A vault with three committed identity keys and one bucket, and a field sealed under each key.
fn three_keys(sim_seed: u64) -> Fixture {
    let (sim, storage) = disk(sim_seed);
    let vault = create_external(&storage);
    let bucket = vault.bucket_key(1, 1).unwrap().unwrap();
    let keys: Vec<KeyId> = (1..=3u8).map(|p| vault.identity_key([p; 16], "v").unwrap()).collect();
    vault.commit().unwrap();
    let sealed = keys.iter().map(|key| (*key, vault.seal(*key, bucket, AAD, b"plain").unwrap())).collect();
    (sim, storage, sealed, bucket)
}

fn open_all(vault: &Vault, sealed: &[(KeyId, Sealed)], bucket: KeyId) -> Vec<Opened> {
    sealed.iter().map(|(key, s)| vault.open_sealed(*key, bucket, AAD, &s.nonce, &s.ciphertext).unwrap()).collect()
}

#[test]
fn open_without_keys_file_is_no_key_store() {
    let (_sim, storage) = disk(30);
    for access in [Access::Write, Access::ReadOnly] {
        let opened = Vault::open(storage.clone(), dir(), Some(master()), access, STORE);
        assert!(matches!(opened, Err(Error::NoKeyStore { ref dir }) if dir == crate::common::dir()), "{opened:?}");
    }
}

#[test]
fn bad_header_is_corrupt() {
    let (sim, storage) = disk(31);
    drop(create_external(&storage));
    let good = sim.read_file(&keys_path()).unwrap();
    let header_len = record_spans(&good)[0].1;
    let mut cases: Vec<(&str, Vec<u8>)> = vec![("empty", Vec::new()), ("short", good[..10].to_vec())];
    for (name, at) in [("kind", 4), ("magic", 6), ("store id", 20), ("check", 60), ("crc", header_len - 1)] {
        let mut bytes = good.clone();
        bytes[at] ^= 0x40;
        cases.push((name, bytes));
    }
    // A record with a good crc but an unknown kind: not a crash's doing.
    let mut unknown_kind = good.clone();
    let (offset, len) = record_spans(&good)[1];
    unknown_kind[offset + 4] = 9;
    let crc = crc32c::crc32c(&unknown_kind[offset + 4..offset + len - 4]);
    unknown_kind[offset + len - 4..offset + len].copy_from_slice(&crc.to_le_bytes());
    cases.push(("unknown kind", unknown_kind));
    for (name, bytes) in cases {
        sim.write_file(&keys_path(), &bytes).unwrap();
        for access in [Access::Write, Access::ReadOnly] {
            let opened = Vault::open(storage.clone(), dir(), Some(master()), access, STORE);
            match opened {
                Err(error @ Error::Corrupt { .. }) => assert!(error.to_string().contains("KEYS"), "{name}: {error}"),
                other => panic!("{name} {access:?}: {other:?}"),
            }
        }
    }
}

#[test]
fn foreign_store_id_is_refused() {
    let (_sim, storage) = disk(32);
    drop(create_external(&storage));
    let opened = Vault::open(storage.clone(), dir(), Some(master()), Access::ReadOnly, [8; 16]);
    match opened {
        Err(error @ Error::ForeignKeyStore { .. }) => {
            let message = error.to_string();
            assert!(message.contains(&"07".repeat(16)) && message.contains(&"08".repeat(16)), "{message}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn torn_tail_is_truncated_or_ignored() {
    let (sim, storage, sealed, bucket) = three_keys(33);
    let good = sim.read_file(&keys_path()).unwrap();
    let (last_offset, last_len) = *record_spans(&good).last().unwrap();
    // Torn appends: a lone length, half a record, a length that cannot be.
    let tails: Vec<Vec<u8>> = vec![
        vec![0x20],
        good[last_offset..last_offset + last_len / 2].to_vec(),
        vec![0, 0, 0, 0, 1, 1, 1],
        vec![0xff; 40],
    ];
    for tail in tails {
        let mut bytes = good.clone();
        bytes.extend_from_slice(&tail);
        sim.write_file(&keys_path(), &bytes).unwrap();

        let reader = reopen(&storage, Access::ReadOnly);
        assert_eq!(reader.torn_tail_bytes(), tail.len() as u64);
        assert_eq!(sim.read_file(&keys_path()).unwrap(), bytes, "a read-only open writes nothing");
        assert!(open_all(&reader, &sealed, bucket).iter().all(|o| *o == Opened::Plain(b"plain".to_vec())));

        let writer = reopen(&storage, Access::Write);
        assert_eq!(writer.torn_tail_bytes(), tail.len() as u64);
        assert_eq!(sim.read_file(&keys_path()).unwrap(), good, "a writable open truncates");
        assert!(writer.damaged().is_empty());
        assert!(open_all(&writer, &sealed, bucket).iter().all(|o| *o == Opened::Plain(b"plain".to_vec())));
        drop(writer);
        sim.crash();
        assert_eq!(sim.read_file(&keys_path()).unwrap(), good, "the truncation was synced");
        assert_eq!(reopen(&storage, Access::Write).torn_tail_bytes(), 0);
    }
}

#[test]
fn bad_crc_in_the_middle_is_damaged() {
    let (sim, storage, sealed, bucket) = three_keys(34);
    let good = sim.read_file(&keys_path()).unwrap();
    let spans = record_spans(&good);
    // The first and the last identity key records (ids 4 and 6): one in the middle, one last.
    for (victim, last) in [(4usize, false), (6, true)] {
        let (offset, len) = spans[victim];
        let mut bytes = good.clone();
        bytes[offset + len / 2] ^= 0x01;
        sim.write_file(&keys_path(), &bytes).unwrap();
        let expected: Vec<Opened> = sealed
            .iter()
            .map(|(key, _)| if key.0 == victim as u64 { Opened::Erased } else { Opened::Plain(b"plain".to_vec()) })
            .collect();

        let reader = reopen(&storage, Access::ReadOnly);
        if last {
            // To a reader, a whole last record with a bad crc may be one still being written.
            assert!(reader.damaged().is_empty());
            assert_eq!(reader.torn_tail_bytes(), len as u64);
            assert_eq!(
                reader.open_sealed(KeyId(6), bucket, AAD, &sealed[2].1.nonce, &sealed[2].1.ciphertext).unwrap(),
                Opened::Unavailable
            );
        } else {
            assert_eq!(reader.damaged(), vec![KeyId(victim as u64)]);
            assert_eq!(open_all(&reader, &sealed, bucket), expected);
        }

        let writer = reopen(&storage, Access::Write);
        assert_eq!(writer.damaged(), vec![KeyId(victim as u64)]);
        assert_eq!(writer.torn_tail_bytes(), 0);
        assert_eq!(sim.read_file(&keys_path()).unwrap(), bytes, "a damaged record is kept: its id stays taken");
        assert_eq!(open_all(&writer, &sealed, bucket), expected);
        assert!(writer.is_destroyed(KeyId(victim as u64)));
        let next = writer.identity_key([9; 16], "new").unwrap();
        assert_eq!(next, KeyId(spans.len() as u64));
        // The damaged identity gets a new key: its old one is unusable.
        let victim_pseudonym = [(victim - 3) as u8; 16];
        assert_eq!(writer.live_identity_key(&victim_pseudonym), None);
        // Destroying it (a retried destroy, if it was a torn one) rewrites it as destroyed.
        let old_secret = record_secrets(&good)[victim].1.clone();
        assert_eq!(writer.destroy(&[KeyId(victim as u64)]).unwrap(), 0, "it was not live");
        assert!(writer.damaged().is_empty());
        assert!(contains(&bytes, &old_secret[..16]), "the part before the damage");
        assert!(!contains(&sim.read_file(&keys_path()).unwrap(), &old_secret[..16]));
        drop(writer);
        let writer = reopen(&storage, Access::Write);
        assert!(writer.damaged().is_empty() && writer.is_destroyed(KeyId(victim as u64)));
        assert_eq!(writer.identity_keys(&victim_pseudonym), vec![KeyId(victim as u64)]);
    }
}

#[test]
fn a_failed_commit_is_written_again_by_the_next() {
    for fault in 1..=2 {
        let (sim, storage) = disk(35);
        let vault = create_external(&storage);
        let key = vault.identity_key([1; 16], "ada").unwrap();
        sim.fail_after(fault, rapport_log::sim::FaultRepeat::Once);
        assert!(vault.commit().is_err(), "fault {fault}");
        vault.commit().unwrap();
        drop(vault);
        sim.crash();
        let vault = reopen(&storage, Access::Write);
        assert_eq!(vault.identity_value(key).unwrap(), Opened::Plain(b"ada".to_vec()), "fault {fault}");
        assert!(vault.damaged().is_empty() && vault.torn_tail_bytes() == 0);
    }
}

#[test]
fn in_store_vault_without_its_master_key_file() {
    let (_sim, storage) = disk(36);
    let vault = Vault::create(storage.clone(), dir(), rapport_vault::MasterKeySource::InStore, STORE, None).unwrap();
    let key = vault.identity_key([1; 16], "ada").unwrap();
    vault.commit().unwrap();
    drop(vault);
    storage.remove(&dir().join(rapport_vault::MASTER_KEY_FILE)).unwrap();
    let writable = Vault::open(storage.clone(), dir(), None, Access::Write, STORE);
    assert!(matches!(writable, Err(Error::MasterKeyRequired { .. })), "{writable:?}");
    let locked = Vault::open(storage.clone(), dir(), None, Access::ReadOnly, STORE).unwrap();
    assert!(!locked.is_unlocked());
    assert_eq!(locked.identity_value(key).unwrap(), Opened::Unavailable);
}

#[test]
fn an_in_store_create_never_overwrites_a_master_key() {
    // MASTER_KEY written, KEYS never (an interrupted create), or KEYS kept elsewhere: the key may
    // still matter, so it is never replaced.
    let (sim, storage) = disk(37);
    sim.write_file(&dir().join(rapport_vault::MASTER_KEY_FILE), b"left over").unwrap();
    let created = Vault::create(storage.clone(), dir(), rapport_vault::MasterKeySource::InStore, STORE, None);
    assert!(matches!(created, Err(Error::MasterKeyExists { .. })), "{created:?}");
    assert_eq!(sim.read_file(&dir().join(rapport_vault::MASTER_KEY_FILE)).unwrap(), b"left over");
}

mod any_bytes {
    use proptest::prelude::*;
    use rapport_vault::{Access, KeyId, Vault};

    use crate::common::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]
        /// Whatever the bytes of KEYS, an open returns (a vault or an error) and the vault's
        /// reads return: no panic on any input.
        #[test]
        fn any_keys_file_opens_or_fails_without_panic(
            flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 0..8),
            cut in any::<usize>(),
            tail in proptest::collection::vec(any::<u8>(), 0..300),
        ) {
            let (sim, storage) = disk(38);
            let vault = create_external(&storage);
            for p in 1..=4u8 {
                vault.identity_key([p; 16], "value").unwrap();
            }
            vault.bucket_key(1, 1).unwrap();
            vault.commit().unwrap();
            vault.destroy(&[KeyId(4)]).unwrap();
            drop(vault);
            let mut bytes = sim.read_file(&keys_path()).unwrap();
            for (at, xor) in flips {
                let len = bytes.len();
                bytes[at % len] ^= xor;
            }
            bytes.truncate(cut % (bytes.len() + 1));
            bytes.extend_from_slice(&tail);
            sim.write_file(&keys_path(), &bytes).unwrap();
            for (access, master) in [(Access::ReadOnly, None), (Access::ReadOnly, Some(master())), (Access::Write, Some(master()))] {
                if let Ok(vault) = Vault::open(storage.clone(), dir(), master, access, STORE) {
                    for id in 0..12 {
                        let _ = vault.identity_value(KeyId(id));
                        let _ = vault.open_sealed(KeyId(id), KeyId(id + 1), AAD, &[0; 24], &[0; 40]);
                        let _ = vault.is_destroyed(KeyId(id));
                    }
                    let _ = (vault.buckets(), vault.damaged(), vault.refresh());
                    if access == Access::Write {
                        let _ = vault.destroy(&[KeyId(5), KeyId(6)]);
                        let _ = vault.identity_key([9; 16], "new").and_then(|_| vault.commit());
                    }
                }
            }
        }
    }
}
