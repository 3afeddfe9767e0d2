//! The small file-system trait every byte of the log goes through, and its real implementation.
//!
//! Production uses [`StdStorage`]; tests use [`crate::sim::SimStorage`], which keeps files in
//! memory and can lose unsynced writes, tear them, reorder them and fail chosen operations.

use std::fmt::Debug;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// How to open a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenMode {
    /// Read only; the file must exist.
    Read,
    /// Read and write; the file must exist.
    ReadWrite,
    /// Read and write; created empty (truncated if it exists).
    CreateTruncate,
    /// Read and write; created empty and readable by its owner only (mode 0600), for secrets
    /// such as a key file. Fails with `ErrorKind::AlreadyExists` if the path exists: never
    /// overwrites.
    CreatePrivate,
}

/// One open file. Every method is positional, so one handle can serve the writer and many readers.
#[allow(clippy::len_without_is_empty, reason = "a file length, not a collection")]
pub trait StorageFile: Send + Sync + Debug {
    /// Reads up to `buf.len()` bytes at `offset`; returns how many were read (0 at end of file).
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize>;
    /// Writes all of `buf` at `offset`.
    fn write_all_at(&self, buf: &[u8], offset: u64) -> io::Result<()>;
    /// Makes every write to this file durable (`fdatasync`).
    fn sync_data(&self) -> io::Result<()>;
    /// Current length in bytes.
    fn len(&self) -> io::Result<u64>;
    /// Truncates or extends the file.
    fn set_len(&self, len: u64) -> io::Result<()>;
}

/// Reads a whole file with positional reads: its length, then until that many bytes are read
/// or a read returns none (a file that shrank while read gives what it still held). Callers
/// check what they read (lengths, checksums).
pub fn read_to_end(file: &dyn StorageFile) -> io::Result<Vec<u8>> {
    let len = usize::try_from(file.len()?)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "the file does not fit in this platform's memory"))?;
    let mut bytes = vec![0u8; len];
    let mut done = 0;
    while done < len {
        let Some(rest) = bytes.get_mut(done..) else { break };
        match file.read_at(rest, done as u64)? {
            0 => break,
            n => done += n,
        }
    }
    bytes.truncate(done);
    Ok(bytes)
}

/// Held while a store is open; dropping it releases the lock.
pub trait LockGuard: Send + Sync + Debug {
    /// Fails when the lock is no longer what keeps other processes out: the lock file was
    /// removed or replaced since the lock was taken. The default (a lock that cannot be stolen)
    /// always succeeds.
    fn check(&self) -> io::Result<()> {
        Ok(())
    }
}

/// What kind of file a path names (symbolic links followed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    /// A regular file.
    Regular,
    /// A directory.
    Directory,
    /// Anything else: a FIFO, a socket, a device.
    Other,
}

/// What [`Storage::metadata`] tells about a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileMetadata {
    /// The kind of file.
    pub kind: FileKind,
    /// Length in bytes (meaningful for regular files).
    pub len: u64,
}

/// A directory-and-files abstraction, just big enough for the log.
pub trait Storage: Send + Sync + Debug {
    /// Creates a directory and its parents.
    fn create_dir_all(&self, dir: &Path) -> io::Result<()>;
    /// Names (not paths) of the entries of `dir`.
    fn list(&self, dir: &Path) -> io::Result<Vec<String>>;
    /// Opens a file.
    fn open(&self, path: &Path, mode: OpenMode) -> io::Result<Arc<dyn StorageFile>>;
    /// Atomically renames `from` to `to` (same directory).
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    /// Removes a file.
    fn remove(&self, path: &Path) -> io::Result<()>;
    /// Makes the directory's entries (creations, renames, removals) durable.
    fn sync_dir(&self, dir: &Path) -> io::Result<()>;
    /// Takes an exclusive lock on `path` (created if missing). `ErrorKind::WouldBlock` if held.
    fn lock(&self, path: &Path) -> io::Result<Box<dyn LockGuard>>;
    /// Takes the lock that [`Storage::lock`] takes on `path`, without creating or writing
    /// anything (for `verify`). `ErrorKind::WouldBlock` if held.
    fn lock_existing(&self, path: &Path) -> io::Result<Box<dyn LockGuard>>;
    /// The kind and length of the file at `path`, without opening it (opening a FIFO blocks).
    /// `ErrorKind::NotFound` if nothing is there.
    fn metadata(&self, path: &Path) -> io::Result<FileMetadata>;
}

/// Permissions of a file created with [`OpenMode::CreatePrivate`]: read and write for its owner.
const PRIVATE_FILE_MODE: u32 = 0o600;

/// The real file system (Unix).
#[derive(Debug, Default, Clone, Copy)]
pub struct StdStorage;

#[derive(Debug)]
struct StdFile(File);

impl StorageFile for StdFile {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        loop {
            match self.0.read_at(buf, offset) {
                Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                other => return other,
            }
        }
    }
    fn write_all_at(&self, buf: &[u8], offset: u64) -> io::Result<()> {
        self.0.write_all_at(buf, offset)
    }
    fn sync_data(&self) -> io::Result<()> {
        self.0.sync_data()
    }
    fn len(&self) -> io::Result<u64> {
        Ok(self.0.metadata()?.len())
    }
    fn set_len(&self, len: u64) -> io::Result<()> {
        self.0.set_len(len)
    }
}

/// The lock of a store in the real file system: an exclusive `flock` on the store directory
/// itself, and one on the `LOCK` file in it.
///
/// The directory lock is what keeps a second process out: deleting `LOCK` while a writer runs
/// cannot remove it. The `LOCK` file stays for tools (and older builds) that look for it; its
/// identity (device and inode) is remembered, so the writer can notice that it was removed or
/// replaced ([`LockGuard::check`]), which means someone works on the store behind its back.
#[derive(Debug)]
struct StdLock {
    #[allow(dead_code, reason = "held for its Drop, which releases the lock")]
    dir: File,
    /// The `LOCK` file and its `(dev, ino)`; `None` for [`Storage::lock_existing`] without one.
    file: Option<(PathBuf, File, (u64, u64))>,
}

impl LockGuard for StdLock {
    fn check(&self) -> io::Result<()> {
        let Some((path, _, identity)) = &self.file else { return Ok(()) };
        let replaced = || io::Error::other(format!("lock file {} was removed or replaced", path.display()));
        match std::fs::symlink_metadata(path) {
            Ok(meta) if (meta.dev(), meta.ino()) == *identity => Ok(()),
            Ok(_) => Err(replaced()),
            Err(error) if error.kind() == io::ErrorKind::NotFound => Err(replaced()),
            Err(error) => Err(error),
        }
    }
}

/// How often [`StdStorage::lock`] retries when the `LOCK` file is replaced between its open and
/// its `flock` (each retry means another process just re-created it).
const LOCK_ATTEMPTS_MAX: u32 = 8;

fn try_flock(file: &File) -> io::Result<()> {
    match file.try_lock() {
        Ok(()) => Ok(()),
        Err(std::fs::TryLockError::WouldBlock) => Err(io::Error::new(io::ErrorKind::WouldBlock, "lock held")),
        Err(std::fs::TryLockError::Error(error)) => Err(error),
    }
}

fn lock_dir_of(path: &Path) -> io::Result<File> {
    let dir = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let file = File::open(dir)?;
    try_flock(&file)?;
    Ok(file)
}

impl Storage for StdStorage {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        std::fs::create_dir_all(dir)
    }
    fn list(&self, dir: &Path) -> io::Result<Vec<String>> {
        let mut names = Vec::new();
        for entry in std::fs::read_dir(dir)? {
            names.push(entry?.file_name().to_string_lossy().into_owned());
        }
        names.sort();
        Ok(names)
    }
    fn open(&self, path: &Path, mode: OpenMode) -> io::Result<Arc<dyn StorageFile>> {
        let mut options = OpenOptions::new();
        match mode {
            OpenMode::Read => options.read(true),
            OpenMode::ReadWrite => options.read(true).write(true),
            OpenMode::CreateTruncate => options.read(true).write(true).create(true).truncate(true),
            OpenMode::CreatePrivate => options.read(true).write(true).create_new(true).mode(PRIVATE_FILE_MODE),
        };
        Ok(Arc::new(StdFile(options.open(path)?)))
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        std::fs::rename(from, to)
    }
    fn remove(&self, path: &Path) -> io::Result<()> {
        std::fs::remove_file(path)
    }
    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        File::open(dir)?.sync_all()
    }
    fn lock(&self, path: &Path) -> io::Result<Box<dyn LockGuard>> {
        // The directory first: if another process holds the store, nothing is created.
        let dir = lock_dir_of(path)?;
        for _ in 0..LOCK_ATTEMPTS_MAX {
            let file = OpenOptions::new().read(true).write(true).create(true).truncate(false).open(path)?;
            try_flock(&file)?;
            // The file locked must still be the one at the path: if it was removed or replaced
            // between the open and the flock, the lock protects a file nobody else will find.
            let held = file.metadata()?;
            let identity = (held.dev(), held.ino());
            match std::fs::symlink_metadata(path) {
                Ok(now) if (now.dev(), now.ino()) == identity => {
                    return Ok(Box::new(StdLock { dir, file: Some((path.to_path_buf(), file, identity)) }));
                }
                Ok(_) => continue,
                Err(error) if error.kind() == io::ErrorKind::NotFound => continue,
                Err(error) => return Err(error),
            }
        }
        Err(io::Error::new(io::ErrorKind::WouldBlock, "lock file keeps being replaced"))
    }
    fn lock_existing(&self, path: &Path) -> io::Result<Box<dyn LockGuard>> {
        let dir = lock_dir_of(path)?;
        // `LOCK` too if it is there (older builds lock only it), opened read-only: no creation,
        // no write (an flock needs neither). Not a FIFO: opening one for reading blocks.
        if std::fs::metadata(path).is_ok_and(|meta| !meta.is_file()) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{} is not a regular file", path.display()),
            ));
        }
        match File::open(path) {
            Ok(file) => {
                try_flock(&file)?;
                let held = file.metadata()?;
                let identity = (held.dev(), held.ino());
                Ok(Box::new(StdLock { dir, file: Some((path.to_path_buf(), file, identity)) }))
            }
            Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(Box::new(StdLock { dir, file: None })),
            Err(error) => Err(error),
        }
    }
    fn metadata(&self, path: &Path) -> io::Result<FileMetadata> {
        let meta = std::fs::metadata(path)?;
        let kind = if meta.is_file() {
            FileKind::Regular
        } else if meta.is_dir() {
            FileKind::Directory
        } else {
            FileKind::Other
        };
        Ok(FileMetadata { kind, len: meta.len() })
    }
}
