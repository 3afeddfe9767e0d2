//! Shared fixtures: a simulated disk, a store directory, keys, and a storage that records writes.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use rapport_log::sim::SimStorage;
use rapport_log::{FileMetadata, LockGuard, OpenMode, Storage, StorageFile};
use rapport_vault::{Access, MasterKey, MasterKeySource, Vault, KEYS_FILE};

pub(crate) const STORE: [u8; 16] = [7; 16];
pub(crate) const AAD: &[u8] = b"event 42";

pub(crate) fn dir() -> &'static Path {
    Path::new("/store")
}

pub(crate) fn keys_path() -> PathBuf {
    dir().join(KEYS_FILE)
}

pub(crate) fn master() -> MasterKey {
    MasterKey::from_bytes([9; 32])
}

pub(crate) fn disk(seed: u64) -> (SimStorage, Arc<dyn Storage>) {
    let sim = SimStorage::new(seed);
    let storage: Arc<dyn Storage> = Arc::new(sim.clone());
    (sim, storage)
}

pub(crate) fn create_external(storage: &Arc<dyn Storage>) -> Vault {
    Vault::create(storage.clone(), dir(), MasterKeySource::External(master()), STORE, None).unwrap()
}

pub(crate) fn reopen(storage: &Arc<dyn Storage>, access: Access) -> Vault {
    Vault::open(storage.clone(), dir(), Some(master()), access, STORE).unwrap()
}

/// Every file's bytes, to compare before and after.
pub(crate) fn snapshot(sim: &SimStorage) -> Vec<(PathBuf, Vec<u8>)> {
    sim.paths().into_iter().map(|path| (path.clone(), sim.read_file(&path).unwrap())).collect()
}

/// Delegates to a storage and counts every call that could change a file or a directory.
#[derive(Debug)]
pub(crate) struct WriteCounter {
    pub(crate) inner: Arc<dyn Storage>,
    pub(crate) writes: Arc<AtomicU64>,
}

#[derive(Debug)]
struct CountedFile {
    inner: Arc<dyn StorageFile>,
    writes: Arc<AtomicU64>,
}

impl StorageFile for CountedFile {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        self.inner.read_at(buf, offset)
    }
    fn write_all_at(&self, buf: &[u8], offset: u64) -> io::Result<()> {
        self.writes.fetch_add(1, Ordering::SeqCst);
        self.inner.write_all_at(buf, offset)
    }
    fn sync_data(&self) -> io::Result<()> {
        self.writes.fetch_add(1, Ordering::SeqCst);
        self.inner.sync_data()
    }
    fn len(&self) -> io::Result<u64> {
        self.inner.len()
    }
    fn set_len(&self, len: u64) -> io::Result<()> {
        self.writes.fetch_add(1, Ordering::SeqCst);
        self.inner.set_len(len)
    }
}

impl Storage for WriteCounter {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        self.writes.fetch_add(1, Ordering::SeqCst);
        self.inner.create_dir_all(dir)
    }
    fn list(&self, dir: &Path) -> io::Result<Vec<String>> {
        self.inner.list(dir)
    }
    fn open(&self, path: &Path, mode: OpenMode) -> io::Result<Arc<dyn StorageFile>> {
        if mode != OpenMode::Read {
            self.writes.fetch_add(1, Ordering::SeqCst);
        }
        let inner = self.inner.open(path, mode)?;
        Ok(Arc::new(CountedFile { inner, writes: self.writes.clone() }))
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.writes.fetch_add(1, Ordering::SeqCst);
        self.inner.rename(from, to)
    }
    fn remove(&self, path: &Path) -> io::Result<()> {
        self.writes.fetch_add(1, Ordering::SeqCst);
        self.inner.remove(path)
    }
    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        self.writes.fetch_add(1, Ordering::SeqCst);
        self.inner.sync_dir(dir)
    }
    fn lock(&self, path: &Path) -> io::Result<Box<dyn LockGuard>> {
        self.writes.fetch_add(1, Ordering::SeqCst);
        self.inner.lock(path)
    }
    fn lock_existing(&self, path: &Path) -> io::Result<Box<dyn LockGuard>> {
        self.inner.lock_existing(path)
    }
    fn metadata(&self, path: &Path) -> io::Result<FileMetadata> {
        self.inner.metadata(path)
    }
}

/// Finds `needle` anywhere in `haystack`.
pub(crate) fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|window| window == needle)
}

/// (offset, total bytes) of every record of a KEYS file.
pub(crate) fn record_spans(bytes: &[u8]) -> Vec<(usize, usize)> {
    let mut spans = Vec::new();
    let mut pos = 0;
    while pos + 4 <= bytes.len() {
        let len = u32::from_le_bytes(bytes[pos..pos + 4].try_into().unwrap()) as usize;
        if pos + 4 + len > bytes.len() {
            break;
        }
        spans.push((pos, 4 + len));
        pos += 4 + len;
    }
    spans
}

/// Delegates to a storage until `ops_left` operations are used up; from then on every call fails
/// without reaching the storage, like a process at the instant of a power cut: what it wrote
/// and did not sync is still pending on the simulated disk, for `SimStorage::crash` to tear.
#[derive(Debug)]
pub(crate) struct PowerCut {
    pub(crate) inner: Arc<dyn Storage>,
    pub(crate) ops_left: Arc<AtomicU64>,
}

#[derive(Debug)]
struct PowerCutFile {
    inner: Arc<dyn StorageFile>,
    ops_left: Arc<AtomicU64>,
}

fn spend(ops_left: &AtomicU64) -> io::Result<()> {
    ops_left
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |left| left.checked_sub(1))
        .map(|_| ())
        .map_err(|_| io::Error::other("power cut"))
}

impl StorageFile for PowerCutFile {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        spend(&self.ops_left)?;
        self.inner.read_at(buf, offset)
    }
    fn write_all_at(&self, buf: &[u8], offset: u64) -> io::Result<()> {
        spend(&self.ops_left)?;
        self.inner.write_all_at(buf, offset)
    }
    fn sync_data(&self) -> io::Result<()> {
        spend(&self.ops_left)?;
        self.inner.sync_data()
    }
    fn len(&self) -> io::Result<u64> {
        spend(&self.ops_left)?;
        self.inner.len()
    }
    fn set_len(&self, len: u64) -> io::Result<()> {
        spend(&self.ops_left)?;
        self.inner.set_len(len)
    }
}

impl Storage for PowerCut {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        spend(&self.ops_left)?;
        self.inner.create_dir_all(dir)
    }
    fn list(&self, dir: &Path) -> io::Result<Vec<String>> {
        spend(&self.ops_left)?;
        self.inner.list(dir)
    }
    fn open(&self, path: &Path, mode: OpenMode) -> io::Result<Arc<dyn StorageFile>> {
        spend(&self.ops_left)?;
        let inner = self.inner.open(path, mode)?;
        Ok(Arc::new(PowerCutFile { inner, ops_left: self.ops_left.clone() }))
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        spend(&self.ops_left)?;
        self.inner.rename(from, to)
    }
    fn remove(&self, path: &Path) -> io::Result<()> {
        spend(&self.ops_left)?;
        self.inner.remove(path)
    }
    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        spend(&self.ops_left)?;
        self.inner.sync_dir(dir)
    }
    fn lock(&self, path: &Path) -> io::Result<Box<dyn LockGuard>> {
        spend(&self.ops_left)?;
        self.inner.lock(path)
    }
    fn lock_existing(&self, path: &Path) -> io::Result<Box<dyn LockGuard>> {
        spend(&self.ops_left)?;
        self.inner.lock_existing(path)
    }
    fn metadata(&self, path: &Path) -> io::Result<FileMetadata> {
        spend(&self.ops_left)?;
        self.inner.metadata(path)
    }
}

/// (record id, secret bytes) of every record of a KEYS file.
pub(crate) fn record_secrets(bytes: &[u8]) -> Vec<(u64, Vec<u8>)> {
    let mut out = Vec::new();
    let mut pos = 0;
    let mut id = 0;
    while pos + 4 <= bytes.len() {
        let len = u32::from_le_bytes(bytes[pos..pos + 4].try_into().unwrap()) as usize;
        let record = &bytes[pos + 4..pos + 4 + len];
        let (kind, body) = (record[0], &record[2..len - 4]);
        let secret = match kind {
            1 => body[27..].to_vec(),
            2 => body[1..].to_vec(),
            3 => body[16..].to_vec(),
            4 => body[5..].to_vec(),
            other => panic!("kind {other}"),
        };
        out.push((id, secret));
        pos += 4 + len;
        id += 1;
    }
    out
}
