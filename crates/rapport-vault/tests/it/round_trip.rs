//! Create, seal, reopen, open: the plain paths and the refusals around them.

use std::sync::Arc;

use rapport_vault::{
    month_index, Access, Error, KeyId, MasterKey, MasterKeySource, Opened, Vault, IDENTITY_VALUE_BYTES_MAX, KEYS_FILE,
    MASTER_KEY_FILE,
};

use crate::common::*;

#[test]
fn seal_then_reopen_with_the_key_opens() {
    let (_sim, storage) = disk(1);
    let vault = create_external(&storage);
    assert!(vault.is_unlocked() && vault.is_external());
    assert_eq!(vault.store_id(), STORE);
    let key = vault.identity_key([1; 16], "ada@example.com").unwrap();
    let bucket = vault.bucket_key(1, month_index(2026, 3)).unwrap().unwrap();
    // Pending keys seal too.
    let sealed = vault.seal(key, bucket, AAD, b"Ada Lovelace").unwrap();
    assert_eq!(
        vault.open_sealed(key, bucket, AAD, &sealed.nonce, &sealed.ciphertext).unwrap(),
        Opened::Plain(b"Ada Lovelace".to_vec())
    );
    vault.commit().unwrap();
    let id_key = vault.id_key().unwrap();
    let hash = vault.identity_hash("email", "ada@example.com").unwrap();
    drop(vault);

    let vault = reopen(&storage, Access::Write);
    assert_eq!(
        vault.open_sealed(key, bucket, AAD, &sealed.nonce, &sealed.ciphertext).unwrap(),
        Opened::Plain(b"Ada Lovelace".to_vec())
    );
    assert_eq!(vault.id_key(), Some(id_key));
    assert_eq!(vault.identity_hash("email", "ada@example.com"), Some(hash));
    assert_ne!(vault.identity_hash("phone", "ada@example.com"), Some(hash));
    assert_eq!(vault.identity_value(key).unwrap(), Opened::Plain(b"ada@example.com".to_vec()));
    assert_eq!(vault.live_identity_key(&[1; 16]), Some(key));
    assert_eq!(vault.identity_key([1; 16], "ignored while live").unwrap(), key);
    assert_eq!(vault.bucket_key(1, month_index(2026, 3)).unwrap(), Some(bucket));
    assert_eq!(vault.identity_keys(&[1; 16]), vec![key]);
    assert_eq!(vault.damaged(), Vec::<KeyId>::new());
    assert_eq!(vault.torn_tail_bytes(), 0);
}

#[test]
fn in_store_master_key_round_trip() {
    let (sim, storage) = disk(2);
    let vault = Vault::create(storage.clone(), dir(), MasterKeySource::InStore, STORE, Some([5; 32])).unwrap();
    assert!(!vault.is_external());
    assert_eq!(vault.id_key(), Some([5; 32]));
    let key = vault.identity_key([2; 16], "+44 20 7946 0000").unwrap();
    let bucket = vault.bucket_key(2, 7).unwrap().unwrap();
    vault.commit().unwrap();
    let sealed = vault.seal(key, bucket, AAD, b"phone").unwrap();
    drop(vault);
    let text = sim.read_file(&dir().join(MASTER_KEY_FILE)).unwrap();
    let in_store = MasterKey::parse_file_text(&dir().join(MASTER_KEY_FILE), &text).unwrap();

    for given in [None, Some(in_store)] {
        let vault = Vault::open(storage.clone(), dir(), given, Access::Write, STORE).unwrap();
        assert_eq!(
            vault.open_sealed(key, bucket, AAD, &sealed.nonce, &sealed.ciphertext).unwrap(),
            Opened::Plain(b"phone".to_vec())
        );
    }
    let other = Vault::open(storage.clone(), dir(), Some(master()), Access::Write, STORE);
    assert!(matches!(other, Err(Error::WrongMasterKey { .. })), "{other:?}");
}

#[test]
fn wrong_master_key_is_refused() {
    let (_sim, storage) = disk(3);
    drop(create_external(&storage));
    for access in [Access::Write, Access::ReadOnly] {
        let opened = Vault::open(storage.clone(), dir(), Some(MasterKey::from_bytes([1; 32])), access, STORE);
        assert!(matches!(opened, Err(Error::WrongMasterKey { ref path }) if path.ends_with(KEYS_FILE)), "{opened:?}");
    }
}

#[test]
fn external_vault_without_key() {
    let (_sim, storage) = disk(4);
    let vault = create_external(&storage);
    let key = vault.identity_key([1; 16], "v").unwrap();
    let bucket = vault.bucket_key(1, 1).unwrap().unwrap();
    vault.commit().unwrap();
    let sealed = vault.seal(key, bucket, AAD, b"x").unwrap();
    drop(vault);

    let writable = Vault::open(storage.clone(), dir(), None, Access::Write, STORE);
    assert!(
        matches!(writable, Err(Error::MasterKeyRequired { ref dir }) if dir == crate::common::dir()),
        "{writable:?}"
    );

    let locked = Vault::open(storage.clone(), dir(), None, Access::ReadOnly, STORE).unwrap();
    assert!(!locked.is_unlocked());
    assert!(locked.is_external());
    assert_eq!(locked.open_sealed(key, bucket, AAD, &sealed.nonce, &sealed.ciphertext).unwrap(), Opened::Unavailable);
    assert_eq!(locked.identity_value(key).unwrap(), Opened::Unavailable);
    assert_eq!(locked.id_key(), None);
    assert_eq!(locked.identity_hash("email", "a"), None);
    assert_eq!(locked.digest(key, bucket, b"x"), None);
    assert!(matches!(locked.identity_key([3; 16], "v"), Err(Error::Locked)));
    assert!(matches!(locked.bucket_key(1, 2), Err(Error::Locked)));
    assert!(matches!(locked.seal(key, bucket, AAD, b"x"), Err(Error::Locked)));
    assert!(matches!(locked.destroy(&[key]), Err(Error::Locked)));
    // Public facts stay readable without the key.
    assert_eq!(locked.identity_keys(&[1; 16]), vec![key]);
    assert_eq!(locked.buckets().len(), 1);
}

#[test]
fn locked_empty_is_unavailable() {
    let vault = Vault::locked_empty(STORE);
    assert!(!vault.is_unlocked());
    assert_eq!(vault.store_id(), STORE);
    assert_eq!(vault.open_sealed(KeyId(3), KeyId(4), AAD, &[0; 24], &[0; 20]).unwrap(), Opened::Unavailable);
    assert_eq!(vault.identity_value(KeyId(3)).unwrap(), Opened::Unavailable);
    assert!(matches!(vault.identity_key([1; 16], "v"), Err(Error::Locked)));
    assert!(vault.buckets().is_empty());
    assert!(!vault.is_destroyed(KeyId(3)));
    vault.refresh().unwrap();
    let (_sim, storage) = disk(5);
    assert!(vault.copy_to(storage.as_ref(), dir()).is_err());
}

#[test]
fn tampered_ciphertext_nonce_or_aad_is_corrupt() {
    let (_sim, storage) = disk(6);
    let vault = create_external(&storage);
    let key = vault.identity_key([1; 16], "v").unwrap();
    let bucket = vault.bucket_key(1, 1).unwrap().unwrap();
    let other_bucket = vault.bucket_key(1, 2).unwrap().unwrap();
    let sealed = vault.seal(key, bucket, AAD, b"secret").unwrap();
    let mut flipped = sealed.ciphertext.clone();
    flipped[0] ^= 1;
    let mut nonce = sealed.nonce;
    nonce[3] ^= 0x80;
    let attempts = [
        vault.open_sealed(key, bucket, AAD, &sealed.nonce, &flipped),
        vault.open_sealed(key, bucket, b"event 43", &sealed.nonce, &sealed.ciphertext),
        vault.open_sealed(key, bucket, AAD, &nonce, &sealed.ciphertext),
        vault.open_sealed(key, other_bucket, AAD, &sealed.nonce, &sealed.ciphertext),
        vault.open_sealed(key, bucket, AAD, &sealed.nonce, &sealed.ciphertext[..4]),
    ];
    for attempt in attempts {
        assert!(matches!(attempt, Err(Error::Corrupt { .. })), "{attempt:?}");
    }
}

#[test]
fn digest_is_equal_for_equal_plaintexts_only() {
    let (_sim, storage) = disk(7);
    let vault = create_external(&storage);
    let key = vault.identity_key([1; 16], "v").unwrap();
    let other_key = vault.identity_key([2; 16], "w").unwrap();
    let bucket = vault.bucket_key(1, 1).unwrap().unwrap();
    let a = vault.seal(key, bucket, AAD, b"same").unwrap();
    let b = vault.seal(key, bucket, b"other aad", b"same").unwrap();
    let c = vault.seal(key, bucket, AAD, b"different").unwrap();
    assert_eq!(a.digest, b.digest);
    assert_ne!(a.nonce, b.nonce, "every seal has its own nonce");
    assert_ne!(a.ciphertext, b.ciphertext);
    assert_ne!(a.digest, c.digest);
    assert_eq!(vault.digest(key, bucket, b"same"), Some(a.digest));
    assert_ne!(vault.digest(other_key, bucket, b"same"), Some(a.digest));
    assert_eq!(vault.digest(KeyId(99), bucket, b"same"), None);
    vault.commit().unwrap();
    vault.destroy(&[key]).unwrap();
    assert_eq!(vault.digest(key, bucket, b"same"), None);
}

#[test]
fn refusals_name_the_key() {
    let (_sim, storage) = disk(8);
    let vault = create_external(&storage);
    let key = vault.identity_key([1; 16], "v").unwrap();
    let bucket = vault.bucket_key(1, 1).unwrap().unwrap();
    let long = "x".repeat(IDENTITY_VALUE_BYTES_MAX + 1);
    assert!(
        matches!(vault.identity_key([2; 16], &long), Err(Error::LimitExceeded { actual, .. }) if actual == long.len())
    );
    assert!(vault.identity_key([2; 16], &long[1..]).is_ok(), "the limit itself is accepted");
    assert!(matches!(vault.seal(bucket, key, AAD, b"x"), Err(Error::WrongKind { key: k, .. }) if k == bucket));
    assert!(matches!(vault.seal(key, KeyId(1), AAD, b"x"), Err(Error::WrongKind { .. })));
    assert!(matches!(vault.seal(key, KeyId(1000), AAD, b"x"), Err(Error::UnknownKey { key: KeyId(1000) })));
    assert_eq!(vault.open_sealed(KeyId(1000), bucket, AAD, &[0; 24], b"").unwrap(), Opened::Unavailable);
    assert!(matches!(vault.identity_value(bucket), Err(Error::WrongKind { .. })));
    for fixed in [KeyId(0), KeyId(1), KeyId(2)] {
        assert!(matches!(vault.destroy(&[fixed]), Err(Error::NotDestroyable { key, .. }) if key == fixed));
    }
    assert!(matches!(vault.destroy(&[KeyId(1000)]), Err(Error::UnknownKey { .. })));
    let message = Error::UnknownKey { key: KeyId(1000) }.to_string();
    assert!(message.contains("1000"), "{message}");
}

#[test]
fn create_refuses_an_existing_key_store() {
    let (_sim, storage) = disk(9);
    drop(create_external(&storage));
    let again = Vault::create(storage.clone(), dir(), MasterKeySource::InStore, STORE, None);
    assert!(matches!(again, Err(Error::KeyStoreExists { ref path }) if path.ends_with(KEYS_FILE)), "{again:?}");
}

#[test]
fn debug_shows_no_secrets() {
    let (_sim, storage) = disk(10);
    let vault =
        Vault::create(storage.clone(), dir(), MasterKeySource::External(master()), STORE, Some([0xab; 32])).unwrap();
    let text = format!("{vault:?} {:?}", master());
    assert!(!text.contains("171") && !text.contains("abab") && !text.contains("0909"), "{text}");
    let key = vault.identity_key([1; 16], "v").unwrap();
    let bucket = vault.bucket_key(1, 1).unwrap().unwrap();
    let sealed = vault.seal(key, bucket, AAD, b"personal").unwrap();
    let opened = vault.open_sealed(key, bucket, AAD, &sealed.nonce, &sealed.ciphertext).unwrap();
    assert_eq!(format!("{opened:?}"), "Plain(8 bytes)");
}

#[test]
fn copy_to_makes_a_copy_that_opens() {
    for source in [MasterKeySource::External(master()), MasterKeySource::InStore] {
        let (_sim, storage) = disk(11);
        let vault = Vault::create(storage.clone(), dir(), source, STORE, None).unwrap();
        let key = vault.identity_key([1; 16], "v").unwrap();
        let bucket = vault.bucket_key(1, 1).unwrap().unwrap();
        vault.commit().unwrap();
        let sealed = vault.seal(key, bucket, AAD, b"kept").unwrap();
        let backup = std::path::Path::new("/backup");
        let (_backup_sim, backup_storage) = disk(12);
        vault.copy_to(backup_storage.as_ref(), backup).unwrap();
        assert!(matches!(vault.copy_to(backup_storage.as_ref(), backup), Err(Error::KeyStoreExists { .. })));
        let master = vault.is_external().then(master);
        let copy = Vault::open(backup_storage.clone(), backup, master, Access::Write, STORE).unwrap();
        assert_eq!(
            copy.open_sealed(key, bucket, AAD, &sealed.nonce, &sealed.ciphertext).unwrap(),
            Opened::Plain(b"kept".to_vec())
        );
        assert_eq!(copy.id_key(), vault.id_key());
    }
}

#[test]
fn vault_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Vault>();
    let (_sim, storage) = disk(13);
    let vault = Arc::new(create_external(&storage));
    let threads: Vec<_> = (0..4u8)
        .map(|t| {
            let vault = vault.clone();
            std::thread::spawn(move || {
                let key = vault.identity_key([t; 16], "v").unwrap();
                let bucket = vault.bucket_key(1, 1).unwrap().unwrap();
                vault.commit().unwrap();
                (key, bucket)
            })
        })
        .collect();
    let mut keys: Vec<KeyId> = threads.into_iter().map(|t| t.join().unwrap().0).collect();
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), 4);
}

#[test]
fn month_index_counts_months() {
    assert_eq!(month_index(2026, 1), 2026 * 12);
    assert_eq!(month_index(2026, 12), 2026 * 12 + 11);
    assert_eq!(month_index(1, 1), 12);
    assert_eq!(month_index(9999, 12), 9999 * 12 + 11);
    assert_eq!(month_index(-5, 0), month_index(1, 1), "clamped, never a panic");
    assert_eq!(month_index(20000, 13), month_index(9999, 12));
}
