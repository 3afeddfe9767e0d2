//! Read-only vaults: never a write, and a reader beside a live writer.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use rapport_log::Storage;
use rapport_vault::{Access, Error, Opened, Vault};

use crate::common::*;

#[test]
fn a_read_only_vault_never_writes() {
    let (sim, storage) = disk(40);
    let writer = create_external(&storage);
    let key = writer.identity_key([1; 16], "ada").unwrap();
    let bucket = writer.bucket_key(1, 1).unwrap().unwrap();
    writer.commit().unwrap();
    let sealed = writer.seal(key, bucket, AAD, b"x").unwrap();
    drop(writer);
    // A torn tail too: a writable open would truncate it.
    let mut bytes = sim.read_file(&keys_path()).unwrap();
    bytes.extend_from_slice(&[0x30, 0, 0, 0, 3]);
    sim.write_file(&keys_path(), &bytes).unwrap();
    let before = snapshot(&sim);

    let writes = Arc::new(AtomicU64::new(0));
    let counted: Arc<dyn Storage> = Arc::new(WriteCounter { inner: storage.clone(), writes: writes.clone() });
    for master in [Some(master()), None] {
        let vault = Vault::open(counted.clone(), dir(), master.clone(), Access::ReadOnly, STORE).unwrap();
        assert_eq!(vault.is_unlocked(), master.is_some());
        let _ = vault.open_sealed(key, bucket, AAD, &sealed.nonce, &sealed.ciphertext).unwrap();
        let _ = vault.identity_value(key).unwrap();
        let refused =
            [vault.identity_key([2; 16], "bob").err(), vault.bucket_key(1, 2).err(), vault.destroy(&[key]).err()];
        for error in refused {
            let error = error.expect("a write is refused");
            let expected = if master.is_some() { "ReadOnly" } else { "Locked" };
            assert!(format!("{error:?}").starts_with(expected), "{error:?}");
        }
        vault.commit().unwrap();
        vault.refresh().unwrap();
        assert_eq!(vault.torn_tail_bytes(), 5);
    }
    assert_eq!(writes.load(Ordering::SeqCst), 0, "no mutating storage call");
    assert_eq!(snapshot(&sim), before);
    assert!(matches!(
        Vault::open(counted, dir(), Some(master()), Access::ReadOnly, STORE).unwrap().identity_key([3; 16], "c"),
        Err(Error::ReadOnly)
    ));
}

#[test]
fn refresh_sees_a_writers_new_keys_and_destroys() {
    let (sim, storage) = disk(41);
    let writer = create_external(&storage);
    let reader = reopen(&storage, Access::ReadOnly);
    let locked = Vault::open(storage.clone(), dir(), None, Access::ReadOnly, STORE).unwrap();

    let key = writer.identity_key([1; 16], "ada").unwrap();
    let bucket = writer.bucket_key(1, 1).unwrap().unwrap();
    writer.commit().unwrap();
    let sealed = writer.seal(key, bucket, AAD, b"hello").unwrap();
    let open = |vault: &Vault| vault.open_sealed(key, bucket, AAD, &sealed.nonce, &sealed.ciphertext).unwrap();
    assert_eq!(open(&reader), Opened::Unavailable, "not seen before a refresh");
    reader.refresh().unwrap();
    locked.refresh().unwrap();
    assert_eq!(open(&reader), Opened::Plain(b"hello".to_vec()));
    assert_eq!(reader.live_identity_key(&[1; 16]), Some(key));
    assert_eq!(locked.identity_keys(&[1; 16]), vec![key]);
    assert_eq!(open(&locked), Opened::Unavailable);

    // A record still being written: half of it is at the end of the file.
    let second = writer.identity_key([2; 16], "bob").unwrap();
    writer.commit().unwrap();
    let full = sim.read_file(&keys_path()).unwrap();
    let (offset, len) = *record_spans(&full).last().unwrap();
    let partial = full[..offset + len / 2].to_vec();
    let (half_sim, half_storage) = disk(42);
    half_sim.write_file(&keys_path(), &full[..offset]).unwrap();
    let half_reader = reopen(&half_storage, Access::ReadOnly);
    half_sim.write_file(&keys_path(), &partial).unwrap();
    half_reader.refresh().unwrap();
    assert_eq!(half_reader.live_identity_key(&[2; 16]), None, "an incomplete record is ignored");
    assert!(half_reader.torn_tail_bytes() > 0);
    half_sim.write_file(&keys_path(), &full).unwrap();
    half_reader.refresh().unwrap();
    assert_eq!(half_reader.live_identity_key(&[2; 16]), Some(second));
    assert_eq!(half_reader.torn_tail_bytes(), 0);

    writer.destroy(&[key]).unwrap();
    assert_eq!(open(&reader), Opened::Plain(b"hello".to_vec()), "not seen before a refresh");
    reader.refresh().unwrap();
    assert_eq!(open(&reader), Opened::Erased);
    assert!(reader.is_destroyed(key));
    assert_eq!(reader.identity_value(second).unwrap(), Opened::Plain(b"bob".to_vec()));
}

#[test]
fn on_the_real_file_system_a_reader_follows_a_writer() {
    use std::os::unix::fs::PermissionsExt;

    let dir = tempfile::tempdir().unwrap();
    let storage: Arc<dyn Storage> = Arc::new(rapport_log::StdStorage);
    let writer =
        Vault::create(storage.clone(), dir.path(), rapport_vault::MasterKeySource::InStore, STORE, None).unwrap();
    let mode = std::fs::metadata(dir.path().join(rapport_vault::MASTER_KEY_FILE)).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "MASTER_KEY is owner-only");
    assert!(!dir.path().join("KEYS.tmp").exists());
    let reader = Vault::open(storage.clone(), dir.path(), None, Access::ReadOnly, STORE).unwrap();
    assert!(reader.is_unlocked(), "an in-store vault unlocks itself");

    let key = writer.identity_key([1; 16], "ada").unwrap();
    let bucket = writer.bucket_key(1, 1).unwrap().unwrap();
    writer.commit().unwrap();
    let sealed = writer.seal(key, bucket, AAD, b"hello").unwrap();
    reader.refresh().unwrap();
    let open = |vault: &Vault| vault.open_sealed(key, bucket, AAD, &sealed.nonce, &sealed.ciphertext).unwrap();
    assert_eq!(open(&reader), Opened::Plain(b"hello".to_vec()));
    writer.destroy(&[bucket]).unwrap();
    reader.refresh().unwrap();
    assert_eq!(open(&reader), Opened::Expired);
    drop(writer);
    let writer = Vault::open(storage.clone(), dir.path(), None, Access::Write, STORE).unwrap();
    assert_eq!(open(&writer), Opened::Expired);
    assert_eq!(writer.identity_value(key).unwrap(), Opened::Plain(b"ada".to_vec()));
}

/// An identity record's body is read back from `KEYS` when needed (it is not held in memory):
/// a value reads the same after a commit, after a reopen and in a reader; a destroy by the
/// writer, whole or half written, reads as erased in a reader that has not refreshed, never as
/// an error or as the old value.
#[test]
fn identity_values_are_read_back_from_the_file_and_follow_a_destroy_at_once() {
    let (sim, storage) = disk(43);
    let writer = create_external(&storage);
    let ada = writer.identity_key([1; 16], "ada").unwrap();
    let bob = writer.identity_key([2; 16], "bob").unwrap();
    assert_eq!(writer.identity_value(ada).unwrap(), Opened::Plain(b"ada".to_vec()), "pending, held");
    writer.commit().unwrap();
    assert_eq!(writer.identity_value(ada).unwrap(), Opened::Plain(b"ada".to_vec()), "committed, from the file");
    let reader = reopen(&storage, Access::ReadOnly);
    assert_eq!(reader.identity_value(bob).unwrap(), Opened::Plain(b"bob".to_vec()));

    writer.destroy(&[ada]).unwrap();
    assert_eq!(reader.identity_value(ada).unwrap(), Opened::Erased, "seen without a refresh");
    assert_eq!(reader.identity_value(bob).unwrap(), Opened::Plain(b"bob".to_vec()));
    assert_eq!(writer.identity_value(ada).unwrap(), Opened::Erased);

    // A destroy of bob half written when the reader looks: the record's crc fails.
    let reader = reopen(&storage, Access::ReadOnly);
    let before = sim.read_file(&keys_path()).unwrap();
    let (offset, len) = record_spans(&before)[usize::try_from(bob.0).unwrap()];
    let mut torn = before.clone();
    for byte in &mut torn[offset + len / 2..offset + len] {
        *byte = 0;
    }
    sim.write_file(&keys_path(), &torn).unwrap();
    assert_eq!(reader.identity_value(bob).unwrap(), Opened::Erased);
    sim.write_file(&keys_path(), &before).unwrap();
    assert_eq!(reader.identity_value(bob).unwrap(), Opened::Plain(b"bob".to_vec()));

    // Another record where the reader expects bob's: corruption, typed.
    let mut moved = before.clone();
    moved.truncate(offset);
    moved.extend_from_slice(&before[record_spans(&before)[usize::try_from(ada.0).unwrap()].0..][..len]);
    sim.write_file(&keys_path(), &moved).unwrap();
    assert!(matches!(reader.identity_value(bob), Err(Error::Corrupt { .. })), "{:?}", reader.identity_value(bob));
    // Ended inside the record.
    sim.write_file(&keys_path(), &before[..offset + len / 2]).unwrap();
    assert!(matches!(reader.identity_value(bob), Err(Error::Corrupt { .. })));
}
