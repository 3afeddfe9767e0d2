//! In-memory [`Storage`] that simulates what real disks do to unsynced data, for tests.
//!
//! Model: every file has a *durable* image (what survives power loss) and a *current* image
//! (what the running process sees). Writes and truncations go to the current image and to a
//! list of pending operations; `sync_data` makes them durable. Directory entries work the same
//! way with `sync_dir`. [`SimStorage::crash`] simulates a power cut: each pending write survives
//! sector by sector (512 bytes) at random, so unsynced data may vanish, tear or land out of
//! order; a random prefix of pending directory operations survives. Handles opened before a
//! crash fail from then on, like the dead process they belong to.
//!
//! Faults: [`SimStorage::fail_after`] makes the N-th following operation fail once or forever;
//! a failing `sync_data` also drops that file's pending writes (Linux "fsyncgate": the page
//! cache marks them clean and they never reach the disk).

use std::collections::{BTreeMap, HashSet};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::Mutex;

use crate::storage::{FileKind, FileMetadata, LockGuard, OpenMode, Storage, StorageFile};

/// Granularity at which the simulated disk persists or loses data.
pub const SECTOR_BYTES: u64 = 512;

/// How an injected fault repeats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultRepeat {
    /// Only the chosen operation fails.
    Once,
    /// The chosen operation and every later one fail.
    Forever,
}

#[derive(Debug, Clone)]
enum PendingOp {
    Write { offset: u64, data: Vec<u8> },
    SetLen(u64),
}

#[derive(Debug, Default, Clone)]
struct SimFile {
    durable: Vec<u8>,
    current: Vec<u8>,
    pending: Vec<PendingOp>,
}

#[derive(Debug, Clone)]
enum DirOp {
    Link(PathBuf, u64),
    Unlink(PathBuf),
}

#[derive(Debug, Default)]
struct SimState {
    files: BTreeMap<u64, SimFile>,
    next_inode: u64,
    dirs_current: BTreeMap<PathBuf, u64>,
    dirs_durable: BTreeMap<PathBuf, u64>,
    pending_dir_ops: Vec<DirOp>,
    locks: HashSet<PathBuf>,
    epoch: u64,
    op_count: u64,
    fault_at_op: Option<(u64, FaultRepeat)>,
    faults_fired: u64,
    sync_faults_fired: u64,
    rng: u64,
}

impl SimState {
    fn next_random(&mut self) -> u64 {
        // xorshift64*: deterministic for a given seed.
        let mut x = self.rng;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Counts one operation and says whether it must fail.
    fn tick(&mut self) -> bool {
        self.op_count += 1;
        match self.fault_at_op {
            Some((at, repeat)) if self.op_count >= at => {
                if repeat == FaultRepeat::Once {
                    self.fault_at_op = None;
                }
                self.faults_fired += 1;
                true
            }
            _ => false,
        }
    }

    fn path_inode(&self, path: &Path) -> io::Result<u64> {
        self.dirs_current
            .get(path)
            .copied()
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, format!("{} not found", path.display())))
    }
}

fn injected() -> io::Error {
    io::Error::other("injected i/o fault")
}

fn dead() -> io::Error {
    io::Error::other("handle from before a simulated crash")
}

/// The simulated disk. Cloning shares the same disk.
#[derive(Debug, Clone, Default)]
pub struct SimStorage {
    state: Arc<Mutex<SimState>>,
}

impl SimStorage {
    /// An empty disk whose crashes are driven by `seed`.
    pub fn new(seed: u64) -> SimStorage {
        let state = SimState { rng: seed | 1, ..SimState::default() };
        SimStorage { state: Arc::new(Mutex::new(state)) }
    }

    /// The `n`-th operation from now (1 = the next one) fails, once or forever.
    pub fn fail_after(&self, n: u64, repeat: FaultRepeat) {
        let mut state = self.state.lock();
        let at = state.op_count + n.max(1);
        state.fault_at_op = Some((at, repeat));
    }

    /// Removes any injected fault.
    pub fn clear_faults(&self) {
        self.state.lock().fault_at_op = None;
    }

    /// How many injected faults have fired so far.
    pub fn faults_fired(&self) -> u64 {
        self.state.lock().faults_fired
    }

    /// How many injected faults hit a `sync_data` (each one dropped that file's pending writes).
    pub fn sync_faults_fired(&self) -> u64 {
        self.state.lock().sync_faults_fired
    }

    /// Operations performed so far.
    pub fn op_count(&self) -> u64 {
        self.state.lock().op_count
    }

    /// Simulates a power cut: keeps a random subset of unsynced sectors and a random prefix of
    /// unsynced directory operations; forgets locks; invalidates every open handle.
    pub fn crash(&self) {
        let mut state = self.state.lock();
        let inodes: Vec<u64> = state.files.keys().copied().collect();
        for inode in inodes {
            let Some(mut file) = state.files.remove(&inode) else { continue };
            let mut image = std::mem::take(&mut file.durable);
            for op in std::mem::take(&mut file.pending) {
                match op {
                    PendingOp::SetLen(len) => {
                        if state.next_random().is_multiple_of(2) {
                            image.resize(usize::try_from(len).unwrap_or(usize::MAX), 0);
                        }
                    }
                    PendingOp::Write { offset, data } => {
                        // Split at sector boundaries; each piece survives or not on its own.
                        let mut start = offset;
                        let end = offset + data.len() as u64;
                        while start < end {
                            let piece_end = ((start / SECTOR_BYTES) + 1) * SECTOR_BYTES;
                            let piece_end = piece_end.min(end);
                            if state.next_random().is_multiple_of(2) {
                                let lo = (start - offset) as usize;
                                let hi = (piece_end - offset) as usize;
                                // `offset <= start < piece_end <= end`: always inside `data`.
                                if let Some(piece) = data.get(lo..hi) {
                                    write_into(&mut image, start, piece);
                                }
                            }
                            start = piece_end;
                        }
                    }
                }
            }
            file.current = image.clone();
            file.durable = image;
            state.files.insert(inode, file);
        }
        let pending = std::mem::take(&mut state.pending_dir_ops);
        let keep = if pending.is_empty() { 0 } else { (state.next_random() % (pending.len() as u64 + 1)) as usize };
        let mut dirs = state.dirs_durable.clone();
        for op in pending.into_iter().take(keep) {
            apply_dir_op(&mut dirs, op);
        }
        state.dirs_durable = dirs.clone();
        state.dirs_current = dirs;
        let live: HashSet<u64> = state.dirs_current.values().copied().collect();
        state.files.retain(|inode, _| live.contains(inode));
        state.locks.clear();
        state.epoch += 1;
        state.fault_at_op = None;
    }

    /// The current bytes of a file (what a running process would read), for tests.
    pub fn read_file(&self, path: &Path) -> io::Result<Vec<u8>> {
        let state = self.state.lock();
        let inode = state.path_inode(path)?;
        Ok(state.files.get(&inode).map(|f| f.current.clone()).unwrap_or_default())
    }

    /// Overwrites a file durably (current and durable images), e.g. to inject corruption.
    pub fn write_file(&self, path: &Path, bytes: &[u8]) -> io::Result<()> {
        let mut state = self.state.lock();
        let inode = match state.dirs_current.get(path) {
            Some(inode) => *inode,
            None => {
                let inode = state.next_inode;
                state.next_inode += 1;
                state.dirs_current.insert(path.to_path_buf(), inode);
                state.dirs_durable.insert(path.to_path_buf(), inode);
                inode
            }
        };
        let file = state.files.entry(inode).or_default();
        file.current = bytes.to_vec();
        file.durable = bytes.to_vec();
        file.pending.clear();
        Ok(())
    }

    /// Paths of every file that currently exists, sorted.
    pub fn paths(&self) -> Vec<PathBuf> {
        self.state.lock().dirs_current.keys().cloned().collect()
    }
}

fn write_into(image: &mut Vec<u8>, offset: u64, data: &[u8]) {
    let offset = offset as usize;
    let end = offset + data.len();
    if image.len() < end {
        image.resize(end, 0);
    }
    // Always `Some`: `image` was just grown to `end`.
    if let Some(target) = image.get_mut(offset..end) {
        target.copy_from_slice(data);
    }
}

fn apply_dir_op(dirs: &mut BTreeMap<PathBuf, u64>, op: DirOp) {
    match op {
        DirOp::Link(path, inode) => {
            dirs.insert(path, inode);
        }
        DirOp::Unlink(path) => {
            dirs.remove(&path);
        }
    }
}

#[derive(Debug)]
struct SimHandle {
    state: Arc<Mutex<SimState>>,
    inode: u64,
    epoch: u64,
    writable: bool,
}

impl SimHandle {
    fn with_file<T>(&self, f: impl FnOnce(&mut SimState) -> io::Result<T>) -> io::Result<T> {
        let mut state = self.state.lock();
        if state.epoch != self.epoch {
            return Err(dead());
        }
        if state.tick() {
            return Err(injected());
        }
        f(&mut state)
    }
}

impl StorageFile for SimHandle {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        let inode = self.inode;
        self.with_file(|state| {
            let file = state.files.get(&inode).ok_or_else(dead)?;
            let Some(rest) = file.current.get(offset as usize..) else { return Ok(0) };
            let n = buf.len().min(rest.len());
            buf.iter_mut().zip(rest).for_each(|(to, from)| *to = *from);
            Ok(n)
        })
    }

    fn write_all_at(&self, buf: &[u8], offset: u64) -> io::Result<()> {
        if !self.writable {
            return Err(io::Error::new(io::ErrorKind::PermissionDenied, "read-only handle"));
        }
        let inode = self.inode;
        self.with_file(|state| {
            let file = state.files.get_mut(&inode).ok_or_else(dead)?;
            write_into(&mut file.current, offset, buf);
            file.pending.push(PendingOp::Write { offset, data: buf.to_vec() });
            Ok(())
        })
    }

    fn sync_data(&self) -> io::Result<()> {
        let inode = self.inode;
        let mut state = self.state.lock();
        if state.epoch != self.epoch {
            return Err(dead());
        }
        let fail = state.tick();
        let file = state.files.get_mut(&inode).ok_or_else(dead)?;
        if fail {
            // fsyncgate: the pending writes are dropped for good, although the process still
            // sees them in its page cache.
            file.pending.clear();
            state.sync_faults_fired += 1;
            return Err(injected());
        }
        for op in std::mem::take(&mut file.pending) {
            match op {
                PendingOp::Write { offset, data } => write_into(&mut file.durable, offset, &data),
                PendingOp::SetLen(len) => file.durable.resize(len as usize, 0),
            }
        }
        Ok(())
    }

    fn len(&self) -> io::Result<u64> {
        let inode = self.inode;
        self.with_file(|state| Ok(state.files.get(&inode).ok_or_else(dead)?.current.len() as u64))
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        if !self.writable {
            return Err(io::Error::new(io::ErrorKind::PermissionDenied, "read-only handle"));
        }
        let inode = self.inode;
        self.with_file(|state| {
            let file = state.files.get_mut(&inode).ok_or_else(dead)?;
            file.current.resize(len as usize, 0);
            file.pending.push(PendingOp::SetLen(len));
            Ok(())
        })
    }
}

#[derive(Debug)]
struct SimLock {
    state: Arc<Mutex<SimState>>,
    path: PathBuf,
    epoch: u64,
}

impl LockGuard for SimLock {}

impl Drop for SimLock {
    fn drop(&mut self) {
        let mut state = self.state.lock();
        if state.epoch == self.epoch {
            state.locks.remove(&self.path);
        }
    }
}

impl SimStorage {
    fn checked<T>(&self, f: impl FnOnce(&mut SimState) -> io::Result<T>) -> io::Result<T> {
        let mut state = self.state.lock();
        if state.tick() {
            return Err(injected());
        }
        f(&mut state)
    }
}

impl Storage for SimStorage {
    fn create_dir_all(&self, _dir: &Path) -> io::Result<()> {
        // Directories are implicit in the simulated name space.
        Ok(())
    }

    fn list(&self, dir: &Path) -> io::Result<Vec<String>> {
        self.checked(|state| {
            Ok(state
                .dirs_current
                .keys()
                .filter(|path| path.parent() == Some(dir))
                .filter_map(|path| path.file_name().map(|n| n.to_string_lossy().into_owned()))
                .collect())
        })
    }

    fn open(&self, path: &Path, mode: OpenMode) -> io::Result<Arc<dyn StorageFile>> {
        let state_arc = self.state.clone();
        self.checked(|state| {
            let inode = match (mode, state.dirs_current.get(path).copied()) {
                (OpenMode::CreatePrivate, Some(_)) => {
                    return Err(io::Error::new(
                        io::ErrorKind::AlreadyExists,
                        format!("{} already exists", path.display()),
                    ))
                }
                (OpenMode::CreateTruncate | OpenMode::CreatePrivate, existing) => {
                    let inode = state.next_inode;
                    state.next_inode += 1;
                    state.files.insert(inode, SimFile::default());
                    if existing.is_some() {
                        state.pending_dir_ops.push(DirOp::Unlink(path.to_path_buf()));
                    }
                    state.dirs_current.insert(path.to_path_buf(), inode);
                    state.pending_dir_ops.push(DirOp::Link(path.to_path_buf(), inode));
                    inode
                }
                (_, Some(inode)) => inode,
                (_, None) => {
                    return Err(io::Error::new(io::ErrorKind::NotFound, format!("{} not found", path.display())))
                }
            };
            Ok(Arc::new(SimHandle { state: state_arc, inode, epoch: state.epoch, writable: mode != OpenMode::Read })
                as Arc<dyn StorageFile>)
        })
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.checked(|state| {
            let inode = state.path_inode(from)?;
            state.dirs_current.remove(from);
            state.dirs_current.insert(to.to_path_buf(), inode);
            state.pending_dir_ops.push(DirOp::Unlink(from.to_path_buf()));
            state.pending_dir_ops.push(DirOp::Link(to.to_path_buf(), inode));
            Ok(())
        })
    }

    fn remove(&self, path: &Path) -> io::Result<()> {
        self.checked(|state| {
            state.path_inode(path)?;
            state.dirs_current.remove(path);
            state.pending_dir_ops.push(DirOp::Unlink(path.to_path_buf()));
            Ok(())
        })
    }

    fn sync_dir(&self, _dir: &Path) -> io::Result<()> {
        self.checked(|state| {
            for op in std::mem::take(&mut state.pending_dir_ops) {
                apply_dir_op(&mut state.dirs_durable, op);
            }
            Ok(())
        })
    }

    fn lock_existing(&self, path: &Path) -> io::Result<Box<dyn LockGuard>> {
        // The simulated lock is no file: taking it never creates one.
        self.lock(path)
    }

    fn metadata(&self, path: &Path) -> io::Result<FileMetadata> {
        // Not a fault-injection point: a `stat` changes nothing, and counting it would shift
        // the operation numbers the crash tests sweep.
        let state = self.state.lock();
        {
            if let Some(inode) = state.dirs_current.get(path) {
                let len = state.files.get(inode).map_or(0, |f| f.current.len() as u64);
                return Ok(FileMetadata { kind: FileKind::Regular, len });
            }
            if state.dirs_current.keys().any(|p| p.starts_with(path)) {
                return Ok(FileMetadata { kind: FileKind::Directory, len: 0 });
            }
            Err(io::Error::new(io::ErrorKind::NotFound, format!("{} not found", path.display())))
        }
    }

    fn lock(&self, path: &Path) -> io::Result<Box<dyn LockGuard>> {
        let mut state = self.state.lock();
        if !state.locks.insert(path.to_path_buf()) {
            return Err(io::Error::new(io::ErrorKind::WouldBlock, "lock held"));
        }
        Ok(Box::new(SimLock { state: self.state.clone(), path: path.to_path_buf(), epoch: state.epoch }))
    }
}
