//! Consistent copies of a store: [`Log::backup_to`] (online, from a live or read-only log) and
//! [`salvage`] (the valid prefix of a damaged store, which is never modified). Both write a new
//! directory that is a complete store on its own (docs/design/log-format.md, "Backup and salvage").

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::log::{Log, LogOptions};
use crate::recovery::{self, RecoveryMode, Truncation, TEMP_SUFFIX, WATERMARK_FILE};
use crate::storage::{OpenMode, Storage, StorageFile};
use crate::types::Position;

/// Bytes copied per read and write: bounded memory whatever the segment size.
const COPY_CHUNK_BYTES: usize = 1 << 20;

/// What [`Log::backup_to`] copied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupReport {
    /// The copy holds every position below this, and nothing else.
    pub position: Position,
    /// The segment files written, in order.
    pub segments: Vec<PathBuf>,
    /// Bytes of segment files written.
    pub bytes: u64,
}

/// What [`salvage`] copied and what it left behind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SalvageReport {
    /// The copy of the valid prefix.
    pub backup: BackupReport,
    /// Where the valid prefix ends in the source and why (`None`: the source is undamaged).
    pub damage: Option<Truncation>,
    /// Source segment files of which nothing was copied (they follow the damage).
    pub segments_left_behind: Vec<PathBuf>,
    /// Note about the source's durable-watermark file.
    pub watermark_note: Option<String>,
}

fn io_err(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
    let context = context.into();
    move |source| Error::io(context, source)
}

/// `path` made absolute, resolving symbolic links where the path exists (lexically otherwise).
/// This asks the real file system directly, not `Storage`: it resolves names and reads or writes
/// no file, and for a simulated disk (whose paths do not exist) it is the lexical path.
fn resolved(path: &Path) -> PathBuf {
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let mut existing = absolute.as_path();
    let mut rest = Vec::new();
    loop {
        if let Ok(real) = std::fs::canonicalize(existing) {
            return rest.iter().rev().fold(real, |path: PathBuf, part| path.join(part));
        }
        match (existing.parent(), existing.file_name()) {
            (Some(parent), Some(name)) => {
                rest.push(name.to_owned());
                existing = parent;
            }
            _ => return absolute,
        }
    }
}

/// One segment to copy: its bytes from 0 to `len`.
struct Source {
    first_position: u64,
    file: Arc<dyn StorageFile>,
    path: PathBuf,
    len: u64,
}

impl Log {
    /// Writes a consistent copy of the store to `dest`, online: appends go on meanwhile. The copy
    /// holds every event below the durable watermark as it is when the backup starts (for a
    /// read-only log: every event it has indexed), never a partial batch: the sealed segments
    /// whole, the last one up to that position, and a `DURABLE` naming it, all fsynced (files,
    /// then the directory and its parent). Events appended with `Durability::None` or
    /// `Buffered` are in it once synced (call [`Log::sync`] first to include them).
    ///
    /// `dest` must not exist or be an empty directory, and must not be the store directory or
    /// inside it ([`Error::InvalidTarget`]). The copy is written through the log's storage; it
    /// passes `verify` and opens with every copied event.
    pub fn backup_to(&self, dest: impl AsRef<Path>) -> Result<BackupReport> {
        let dest = dest.as_ref();
        let storage = self.storage().clone();
        let invalid = |reason: &str| Error::InvalidTarget { dest: dest.to_path_buf(), reason: reason.to_owned() };
        let (source_dir, target) = (resolved(self.dir()), resolved(dest));
        if target.starts_with(&source_dir) {
            return Err(invalid("it is the store directory or inside it"));
        }
        match storage.list(dest) {
            Ok(names) if !names.is_empty() => return Err(invalid("the directory is not empty")),
            Ok(_) => {}
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
            Err(error) => return Err(Error::io(format!("listing {}", dest.display()), error)),
        }
        // The consistent cut: positions below `position` are synced and never change again (the
        // writer only appends after them; recovery only cuts after the watermark).
        let (position, sources) = {
            let index = self.shared().index.read();
            let position = self.shared().durable_end.load(Ordering::Acquire).min(index.end);
            let mut sources = Vec::new();
            for segment in index.segments.iter().filter(|s| s.first_position < position) {
                let offset = position
                    .checked_sub(segment.first_position)
                    .filter(|_| position < segment.end_position())
                    .and_then(|slot| segment.offsets.get(slot as usize));
                let len = match offset {
                    Some(offset) => u64::from(*offset),
                    None => segment.end_offset,
                };
                sources.push(Source {
                    first_position: segment.first_position,
                    file: segment.file.clone(),
                    path: segment.path.clone(),
                    len,
                });
            }
            (position, sources)
        };
        copy_store(storage.as_ref(), dest, position, &sources)
    }
}

fn copy_store(storage: &dyn Storage, dest: &Path, position: u64, sources: &[Source]) -> Result<BackupReport> {
    storage.create_dir_all(dest).map_err(io_err(format!("creating {}", dest.display())))?;
    let mut report = BackupReport { position: Position(position), segments: Vec::new(), bytes: 0 };
    let mut chunk = Vec::new();
    for source in sources {
        let target = recovery::segment_path(dest, source.first_position);
        let temp = dest.join(format!("{:020}{TEMP_SUFFIX}", source.first_position));
        let out =
            storage.open(&temp, OpenMode::CreateTruncate).map_err(io_err(format!("creating {}", temp.display())))?;
        chunk.resize((source.len as usize).min(COPY_CHUNK_BYTES), 0);
        let mut at = 0u64;
        while at < source.len {
            let want = ((source.len - at) as usize).min(chunk.len());
            // Only the last piece of a source is shorter; the next source resizes `chunk` again.
            chunk.truncate(want);
            let mut done = 0;
            while let Some(rest) = chunk.get_mut(done..).filter(|rest| !rest.is_empty()) {
                let n = source
                    .file
                    .read_at(rest, at + done as u64)
                    .map_err(io_err(format!("reading {}", source.path.display())))?;
                if n == 0 {
                    return Err(Error::Corruption {
                        segment: source.path.clone(),
                        offset: at + done as u64,
                        reason: "segment ends before the records indexed in it".to_owned(),
                    });
                }
                done += n;
            }
            out.write_all_at(&chunk, at).map_err(io_err(format!("writing {}", temp.display())))?;
            at += want as u64;
        }
        out.sync_data().map_err(io_err(format!("syncing {}", temp.display())))?;
        storage.rename(&temp, &target).map_err(io_err(format!("renaming {}", temp.display())))?;
        report.bytes += source.len;
        report.segments.push(target);
    }
    let watermark_path = dest.join(WATERMARK_FILE);
    let watermark = storage
        .open(&watermark_path, OpenMode::CreateTruncate)
        .map_err(io_err(format!("creating {}", watermark_path.display())))?;
    watermark
        .write_all_at(&recovery::encode_watermark(position), 0)
        .and_then(|()| watermark.sync_data())
        .map_err(io_err(format!("writing {}", watermark_path.display())))?;
    storage.sync_dir(dest).map_err(io_err(format!("syncing directory {}", dest.display())))?;
    if let Some(parent) = dest.parent().filter(|p| !p.as_os_str().is_empty()) {
        // The copy's own directory entry.
        storage.sync_dir(parent).map_err(io_err(format!("syncing directory {}", parent.display())))?;
    }
    Ok(report)
}

/// Copies the longest valid prefix of the store in `src` into the new directory `dest`, without
/// changing anything in `src` (it is opened with [`Log::open_read_only`] and
/// [`RecoveryMode::SalvagePrefix`]: the scan stops at the first damage, and every complete,
/// valid batch before it is kept, also above the watermark). The copy is a store of its own that
/// passes `verify`; `dest` must not exist or be empty. Fails with [`Error::NoSuchStore`] or
/// [`Error::NotAStore`] when `src` is not a store.
pub fn salvage(src: impl AsRef<Path>, dest: impl AsRef<Path>, storage: Arc<dyn Storage>) -> Result<SalvageReport> {
    let src = src.as_ref();
    let options =
        LogOptions { recovery: RecoveryMode::SalvagePrefix, storage: storage.clone(), ..LogOptions::default() };
    let log = Log::open_read_only(src, options)?;
    let backup = log.backup_to(dest)?;
    let copied: Vec<_> = backup.segments.iter().filter_map(|p| p.file_name().map(|n| n.to_owned())).collect();
    let listing = recovery::list_store(storage.as_ref(), src)?.unwrap_or_default();
    let report = log.recovery_report();
    let segments_left_behind = match &report.tail_left {
        None => Vec::new(),
        Some(_) => listing
            .segments
            .into_iter()
            .map(|(_, path)| path)
            .filter(|path| path.file_name().is_none_or(|name| !copied.iter().any(|c| c == name)))
            .collect(),
    };
    Ok(SalvageReport {
        backup,
        damage: report.tail_left.clone(),
        segments_left_behind,
        watermark_note: report.watermark_note.clone(),
    })
}
