//! Inputs read twice, line by line, with every line capped: the first pass checks, the second
//! imports, and the second pass refuses any line the first did not check.
//!
//! A file is opened twice (decompressed twice when gzip). A caller's reader (standard input) is
//! spooled during the first pass to a temporary file in the system's temporary directory — never
//! in the store directory — and the second pass reads the spool. The first pass keeps, per
//! distinct line, a 64-bit hash and how often it occurs (a few bytes per distinct line, whatever
//! the file's size); the second pass takes every line it reads out of that multiset, so a line
//! that was not checked is never imported ([`Error::FileChanged`]). The file's size and
//! modification time are compared before the second pass, and a running hash of the lines in
//! order at its end.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::data_file::open_data_file;
use crate::error::{Error, Result};

/// Bytes read from the operating system at a time.
const READ_BUFFER_BYTES: usize = 1 << 16;

/// One line read: its bytes (line end removed) are in the caller's buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Read1 {
    End,
    /// A line; `newline` when it ended with `\n` (the last line may not).
    Line {
        newline: bool,
    },
    /// More than the cap without a line end; `cap + 1` bytes were read.
    TooLong,
}

/// Reads one line of at most `cap` bytes into `buf`, never buffering more than `cap + 1` bytes.
fn read_capped(reader: &mut dyn BufRead, buf: &mut Vec<u8>, cap: usize) -> std::io::Result<Read1> {
    buf.clear();
    let limit = u64::try_from(cap).unwrap_or(u64::MAX).saturating_add(1);
    let n = reader.take(limit).read_until(b'\n', buf)?;
    if n == 0 {
        return Ok(Read1::End);
    }
    if buf.last() == Some(&b'\n') {
        buf.pop();
        return Ok(Read1::Line { newline: true });
    }
    if buf.len() > cap {
        buf.clear();
        return Ok(Read1::TooLong);
    }
    Ok(Read1::Line { newline: false })
}

/// 64 bits of the BLAKE3 hash of a line.
fn line_hash(line: &[u8]) -> u64 {
    let hash = blake3::hash(line);
    let mut first = [0u8; 8];
    first.copy_from_slice(&hash.as_bytes()[..8]);
    u64::from_le_bytes(first)
}

/// Size and modification time of a file.
type Stamp = (u64, Option<SystemTime>);

fn stamp(path: &Path) -> Result<Stamp> {
    let metadata = std::fs::metadata(path).map_err(Error::io(Some(path), "reading the metadata of"))?;
    Ok((metadata.len(), metadata.modified().ok()))
}

/// What the first pass learnt about the input: what the second pass checks it against.
#[derive(Debug, Default)]
struct Checked {
    /// Per distinct line hash, how often it occurs.
    lines: HashMap<u64, u32>,
    n_lines: u64,
    running: Option<blake3::Hash>,
}

/// Where the second pass reads from.
#[derive(Debug)]
enum Again {
    /// The file itself (`gzip` by its name).
    File { path: PathBuf, stamp: Stamp },
    /// The spool of a reader (plain bytes).
    Spool(tempfile::TempPath),
}

/// A pass over an input: the first (checking) or the second (importing).
pub(crate) struct Pass<'r> {
    reader: Box<dyn BufRead + 'r>,
    /// The file named in errors (none for a reader).
    path: Option<PathBuf>,
    cap: usize,
    line_no: u64,
    running: blake3::Hasher,
    checked: Checked,
    /// Second pass: lines are taken out of `checked`; first pass: added to it.
    second: bool,
    again: Option<Again>,
    spool: Option<BufWriter<File>>,
}

impl<'r> Pass<'r> {
    /// The first pass over a file (gzip when the name ends in `.gz`), lines capped at `cap`.
    pub(crate) fn over_file(path: &Path, cap: usize) -> Result<Pass<'r>> {
        let stamp = stamp(path)?;
        let reader = open_data_file(path).map_err(Error::io(Some(path), "opening"))?;
        Ok(Pass::new(
            Box::new(BufReader::with_capacity(READ_BUFFER_BYTES, reader)),
            Some(path.to_path_buf()),
            cap,
            Some(Again::File { path: path.to_path_buf(), stamp }),
            None,
        ))
    }

    /// The first pass over a reader (standard input), spooled to a temporary file for the second.
    pub(crate) fn over_reader(reader: impl Read + 'r, cap: usize) -> Result<Pass<'r>> {
        let (file, temp_path) = tempfile::NamedTempFile::new()
            .map_err(Error::io(None, "creating a temporary file to spool the input"))?
            .into_parts();
        Ok(Pass::new(
            Box::new(BufReader::with_capacity(READ_BUFFER_BYTES, reader)),
            None,
            cap,
            Some(Again::Spool(temp_path)),
            Some(BufWriter::with_capacity(READ_BUFFER_BYTES, file)),
        ))
    }

    fn new(
        reader: Box<dyn BufRead + 'r>,
        path: Option<PathBuf>,
        cap: usize,
        again: Option<Again>,
        spool: Option<BufWriter<File>>,
    ) -> Pass<'r> {
        Pass {
            reader,
            path,
            cap,
            line_no: 0,
            running: blake3::Hasher::new(),
            checked: Checked::default(),
            second: false,
            again,
            spool,
        }
    }

    /// The file named in errors.
    pub(crate) fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// Reads the next line into `buf` (line end removed); its 1-based number, or `None` at the
    /// end. A line over the cap is [`Error::LineTooLong`] in the first pass; in the second, a
    /// line the first pass did not see is [`Error::FileChanged`].
    pub(crate) fn next_line(&mut self, buf: &mut Vec<u8>) -> Result<Option<u64>> {
        let read = read_capped(&mut self.reader, buf, self.cap).map_err(Error::io(self.path.as_deref(), "reading"))?;
        let newline = match read {
            Read1::End => return Ok(None),
            Read1::Line { newline } => newline,
            Read1::TooLong if self.second => {
                return Err(self.changed(Some(self.line_no + 1), "a line is longer than the limit now".into()))
            }
            Read1::TooLong => {
                return Err(Error::LineTooLong {
                    path: self.path.clone(),
                    line: self.line_no + 1,
                    limit_bytes: self.cap,
                })
            }
        };
        self.line_no += 1;
        let hash = line_hash(buf);
        self.running.update(&hash.to_le_bytes());
        if self.second {
            match self.checked.lines.get_mut(&hash) {
                Some(count) if *count > 1 => *count -= 1,
                Some(_) => {
                    self.checked.lines.remove(&hash);
                }
                None => {
                    let reason = "this line was not in the file when it was checked".to_owned();
                    return Err(self.changed(Some(self.line_no), reason));
                }
            }
        } else {
            *self.checked.lines.entry(hash).or_insert(0) += 1;
            self.checked.n_lines += 1;
            if let Some(spool) = &mut self.spool {
                let written = spool.write_all(buf).and_then(|()| if newline { spool.write_all(b"\n") } else { Ok(()) });
                written.map_err(Error::io(None, "spooling the input to a temporary file"))?;
            }
        }
        Ok(Some(self.line_no))
    }

    fn changed(&self, line: Option<u64>, reason: String) -> Error {
        Error::FileChanged { path: self.path.clone(), line, reason }
    }

    /// Ends the first pass and starts the second over the same input. Fails with
    /// [`Error::FileChanged`] when the file's size or modification time differ from when the
    /// first pass opened it.
    pub(crate) fn again(mut self) -> Result<Pass<'r>> {
        assert!(!self.second, "a second pass has no third");
        self.checked.running = Some(self.running.finalize());
        let (reader, again): (Box<dyn BufRead + 'r>, Again) = match self.again.take() {
            Some(Again::File { path, stamp: first }) => {
                let now = stamp(&path)?;
                if now != first {
                    let reason = format!(
                        "size or modification time differ from the first pass ({} bytes, now {})",
                        first.0, now.0
                    );
                    return Err(self.changed(None, reason));
                }
                let reader = open_data_file(&path).map_err(Error::io(Some(&path), "opening"))?;
                (Box::new(BufReader::with_capacity(READ_BUFFER_BYTES, reader)), Again::File { path, stamp: first })
            }
            Some(Again::Spool(temp_path)) => {
                if let Some(mut spool) = self.spool.take() {
                    spool.flush().map_err(Error::io(None, "spooling the input to a temporary file"))?;
                }
                let file = File::open(&temp_path).map_err(Error::io(Some(&temp_path), "opening the spool"))?;
                (Box::new(BufReader::with_capacity(READ_BUFFER_BYTES, file)), Again::Spool(temp_path))
            }
            None => unreachable!("a first pass knows where to read again"),
        };
        Ok(Pass {
            reader,
            path: self.path,
            cap: self.cap,
            line_no: 0,
            running: blake3::Hasher::new(),
            checked: self.checked,
            second: true,
            again: Some(again),
            spool: None,
        })
    }

    /// Ends the second pass: every checked line was read, in the same order, and the file's
    /// size and modification time are still those of the first pass.
    pub(crate) fn finish(self) -> Result<()> {
        assert!(self.second, "only a second pass finishes");
        if let Some(Again::File { path, stamp: first }) = &self.again {
            if stamp(path)? != *first {
                return Err(self.changed(None, "size or modification time changed during the second pass".into()));
            }
        }
        if self.line_no != self.checked.n_lines || !self.checked.lines.is_empty() {
            let reason = format!("{} lines were checked, {} read again", self.checked.n_lines, self.line_no);
            return Err(self.changed(None, reason));
        }
        if Some(self.running.finalize()) != self.checked.running {
            return Err(self.changed(None, "the lines are in another order than when they were checked".into()));
        }
        Ok(())
    }
}

impl std::fmt::Debug for Pass<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pass")
            .field("path", &self.path)
            .field("line_no", &self.line_no)
            .field("second", &self.second)
            .finish()
    }
}

#[cfg(test)]
mod tests;

/// What a submitted chunk of rows did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ChunkTally {
    /// Rows the store recorded now.
    pub(crate) imported: u64,
    /// Rows already in the store (or that changed nothing).
    pub(crate) already_recorded: u64,
}

/// Submits a chunk of rows (line number, input) of the file at `path`; `done` counts the rows
/// handled so far and drives `progress`. A row the store refuses stops the import with its line
/// (the chunks before it stay recorded; importing again records the rest, the ids being
/// stable).
pub(crate) fn submit_rows(
    store: &rapport::Store,
    path: Option<&Path>,
    rows: Vec<(u64, (rapport::Input, rapport::Meta))>,
    done: &mut u64,
    progress: &mut impl FnMut(u64),
) -> Result<ChunkTally> {
    let (lines, inputs): (Vec<u64>, Vec<(rapport::Input, rapport::Meta)>) = rows.into_iter().unzip();
    let before = *done;
    let results = store.submit_many_with_progress(inputs, false, |n| progress(before + n as u64))?;
    *done += lines.len() as u64;
    let mut tally = ChunkTally::default();
    for (line, result) in lines.into_iter().zip(results) {
        match result {
            Ok(submitted) if submitted.already_recorded => tally.already_recorded += 1,
            Ok(_) => tally.imported += 1,
            Err(error) if crate::error::is_refusal(&error) => {
                let reason = format!("refused by the store: {error}");
                return Err(Error::line(path, crate::LineError::new(line, reason)));
            }
            Err(error) => return Err(error.into()),
        }
    }
    Ok(tally)
}
