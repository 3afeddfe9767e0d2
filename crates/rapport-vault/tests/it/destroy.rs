//! Destroying keys: erased and expired fields, secret bytes gone from the file, no reuse.

use rapport_vault::{Access, Bucket, Error, Opened};

use crate::common::*;

#[test]
fn destroyed_keys_open_as_erased_or_expired_also_after_reopen() {
    let (_sim, storage) = disk(20);
    let vault = create_external(&storage);
    let ada = vault.identity_key([1; 16], "ada").unwrap();
    let bob = vault.identity_key([2; 16], "bob").unwrap();
    let march = vault.bucket_key(1, 3).unwrap().unwrap();
    let april = vault.bucket_key(1, 4).unwrap().unwrap();
    vault.commit().unwrap();
    let ada_march = vault.seal(ada, march, AAD, b"a3").unwrap();
    let bob_march = vault.seal(bob, march, AAD, b"b3").unwrap();
    let bob_april = vault.seal(bob, april, AAD, b"b4").unwrap();

    assert_eq!(vault.destroy(&[ada, march, ada]).unwrap(), 2);
    assert_eq!(vault.destroy(&[ada, march]).unwrap(), 0, "idempotent");
    for vault in [vault, reopen(&storage, Access::Write), reopen(&storage, Access::ReadOnly)] {
        assert!(vault.is_destroyed(ada) && vault.is_destroyed(march));
        assert!(!vault.is_destroyed(bob) && !vault.is_destroyed(april));
        let open = |key, bucket, sealed: &rapport_vault::Sealed| {
            vault.open_sealed(key, bucket, AAD, &sealed.nonce, &sealed.ciphertext).unwrap()
        };
        assert_eq!(open(ada, march, &ada_march), Opened::Erased);
        assert_eq!(open(bob, march, &bob_march), Opened::Expired);
        assert_eq!(open(bob, april, &bob_april), Opened::Plain(b"b4".to_vec()));
        assert_eq!(vault.identity_value(ada).unwrap(), Opened::Erased);
        assert_eq!(vault.identity_value(bob).unwrap(), Opened::Plain(b"bob".to_vec()));
        assert_eq!(vault.live_identity_key(&[1; 16]), None);
        assert!(matches!(vault.seal(ada, april, AAD, b"x"), Err(Error::KeyDestroyed { key }) if key == ada));
        assert_eq!(
            vault.buckets(),
            vec![
                Bucket { class: 1, month: 3, key: march, destroyed: true },
                Bucket { class: 1, month: 4, key: april, destroyed: false }
            ]
        );
    }
}

#[test]
fn destroyed_secret_bytes_are_gone_from_the_file() {
    let (sim, storage) = disk(21);
    let vault = create_external(&storage);
    let key = vault.identity_key([1; 16], "ada@example.com").unwrap();
    let bucket = vault.bucket_key(1, 3).unwrap().unwrap();
    let keep = vault.identity_key([2; 16], "bob@example.com").unwrap();
    vault.commit().unwrap();
    let before = sim.read_file(&keys_path()).unwrap();
    // Wrapped key + value nonce + value ciphertext of the identity record, wrapped key of the
    // bucket record: the bytes between their public fields and their crc (see the crate docs).
    let secrets = record_secrets(&before);
    assert_eq!(secrets.len(), 6, "header, two secrets, three keys");
    vault.destroy(&[key, bucket]).unwrap();
    let after = sim.read_file(&keys_path()).unwrap();
    assert_eq!(before.len(), after.len(), "destroyed in place");
    for (id, secret) in &secrets {
        let gone = *id == key.0 || *id == bucket.0;
        assert_eq!(!contains(&after, secret), gone, "record {id}: secret bytes present = {}", !gone);
    }
    // Public fields stay: the pseudonym of the erased identity is still there.
    assert!(contains(&after, &[1; 16]));
    assert!(!vault.is_destroyed(keep));
}

#[test]
fn a_new_identity_key_after_destroy_is_a_new_key() {
    let (_sim, storage) = disk(22);
    let vault = create_external(&storage);
    let first = vault.identity_key([1; 16], "ada").unwrap();
    vault.commit().unwrap();
    vault.destroy(&[first]).unwrap();
    let second = vault.identity_key([1; 16], "ada again").unwrap();
    assert_ne!(first, second);
    assert!(second > first);
    vault.commit().unwrap();
    assert_eq!(vault.identity_value(second).unwrap(), Opened::Plain(b"ada again".to_vec()));
    let vault = reopen(&storage, Access::Write);
    assert_eq!(vault.identity_keys(&[1; 16]), vec![first, second]);
    assert_eq!(vault.live_identity_key(&[1; 16]), Some(second));
}

#[test]
fn a_destroyed_bucket_stays_expired() {
    let (_sim, storage) = disk(23);
    let vault = create_external(&storage);
    let bucket = vault.bucket_key(4, 100).unwrap().unwrap();
    vault.commit().unwrap();
    vault.destroy(&[bucket]).unwrap();
    assert_eq!(vault.bucket_key(4, 100).unwrap(), None);
    assert_eq!(reopen(&storage, Access::Write).bucket_key(4, 100).unwrap(), None);
    assert!(vault.bucket_key(4, 101).unwrap().is_some(), "other months are untouched");
}

#[test]
fn destroying_a_pending_key_commits_it_first() {
    let (_sim, storage) = disk(24);
    let vault = create_external(&storage);
    let key = vault.identity_key([1; 16], "ada").unwrap();
    assert_eq!(vault.destroy(&[key]).unwrap(), 1);
    let next = vault.identity_key([2; 16], "bob").unwrap();
    assert!(next > key, "the destroyed key keeps its id");
    vault.commit().unwrap();
    let vault = reopen(&storage, Access::Write);
    assert!(vault.is_destroyed(key));
    assert_eq!(vault.identity_value(next).unwrap(), Opened::Plain(b"bob".to_vec()));
}
