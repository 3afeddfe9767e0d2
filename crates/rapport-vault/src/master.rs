//! The master key: the one key that wraps every other key, and its text file.

use std::fmt;
use std::io::{Read, Write};
use std::path::Path;

use zeroize::{Zeroize, Zeroizing};

use crate::crypto::random_bytes;
use crate::error::{Error, Result};

/// Bytes of a master key (and of every data key).
pub const KEY_BYTES: usize = 32;
/// First line of a master key file (its format name and version).
const MASTER_KEY_FILE_TITLE: &str = "rapport-master-key 1";
/// A master key file is two short lines: anything bigger is not one.
pub(crate) const MASTER_KEY_FILE_BYTES_MAX: u64 = 1024;
/// Permissions of a master key file: read and write for its owner only.
#[cfg(unix)]
const MASTER_KEY_FILE_MODE: u32 = 0o600;

/// The key that wraps every key of a key store. Zeroed on drop; `Debug` shows no bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct MasterKey(Zeroizing<[u8; KEY_BYTES]>);

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey(..)")
    }
}

impl MasterKey {
    /// A new random master key from the operating system's generator.
    pub fn generate() -> Result<MasterKey> {
        let mut bytes = Zeroizing::new([0u8; KEY_BYTES]);
        random_bytes(bytes.as_mut())?;
        Ok(MasterKey(bytes))
    }

    /// The master key with these bytes.
    pub fn from_bytes(mut bytes: [u8; KEY_BYTES]) -> MasterKey {
        let key = MasterKey(Zeroizing::new(bytes));
        bytes.zeroize();
        key
    }

    pub(crate) fn bytes(&self) -> &[u8; KEY_BYTES] {
        &self.0
    }

    /// The key's file text: `rapport-master-key 1`, a line of 64 lower-case hex digits, a newline.
    pub fn to_file_text(&self) -> String {
        let mut text = String::with_capacity(MASTER_KEY_FILE_TITLE.len() + 2 * KEY_BYTES + 2);
        text.push_str(MASTER_KEY_FILE_TITLE);
        text.push('\n');
        text.push_str(&hex(self.0.as_ref()));
        text.push('\n');
        text
    }

    /// Parses a master key file's text strictly; `path` names the file in errors.
    pub fn parse_file_text(path: &Path, text: &[u8]) -> Result<MasterKey> {
        let malformed = |reason: String| Error::MasterKeyFile { path: path.to_path_buf(), reason };
        let text = std::str::from_utf8(text).map_err(|_| malformed("not utf-8 text".to_string()))?;
        let Some(body) = text.strip_suffix('\n') else {
            return Err(malformed("does not end with a newline".to_string()));
        };
        let mut lines = body.split('\n');
        let title = lines.next().unwrap_or_default();
        if title != MASTER_KEY_FILE_TITLE {
            return Err(malformed(format!("first line is not {MASTER_KEY_FILE_TITLE:?}")));
        }
        let Some(digits) = lines.next() else {
            return Err(malformed("has no key line".to_string()));
        };
        if lines.next().is_some() {
            return Err(malformed("has more than two lines".to_string()));
        }
        if digits.len() != 2 * KEY_BYTES {
            return Err(malformed(format!(
                "key line has {} characters, not {} hex digits",
                digits.len(),
                2 * KEY_BYTES
            )));
        }
        let mut bytes = Zeroizing::new([0u8; KEY_BYTES]);
        for (byte, pair) in bytes.iter_mut().zip(digits.as_bytes().chunks_exact(2)) {
            let (Some(high), Some(low)) =
                (pair.first().and_then(|d| hex_digit(*d)), pair.get(1).and_then(|d| hex_digit(*d)))
            else {
                return Err(malformed("key line is not 64 lower-case hex digits".to_string()));
            };
            *byte = (high << 4) | low;
        }
        Ok(MasterKey(bytes))
    }

    /// Reads a master key file (refusing one larger than 1 KiB).
    pub fn read(path: &Path) -> Result<MasterKey> {
        let file = std::fs::File::open(path).map_err(Error::io("opening master key file", path))?;
        let mut text = Zeroizing::new(Vec::new());
        file.take(MASTER_KEY_FILE_BYTES_MAX + 1)
            .read_to_end(&mut text)
            .map_err(Error::io("reading master key file", path))?;
        if text.len() as u64 > MASTER_KEY_FILE_BYTES_MAX {
            return Err(Error::MasterKeyFile {
                path: path.to_path_buf(),
                reason: format!("larger than {MASTER_KEY_FILE_BYTES_MAX} bytes"),
            });
        }
        MasterKey::parse_file_text(path, &text)
    }

    /// Generates a master key and writes it to a new file (never overwriting one: the file must
    /// not exist), mode 0600 on Unix; the file and its directory are synced before it returns.
    pub fn write_new(path: &Path) -> Result<MasterKey> {
        let key = MasterKey::generate()?;
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(MASTER_KEY_FILE_MODE);
        }
        let mut file = options.open(path).map_err(|source| {
            if source.kind() == std::io::ErrorKind::AlreadyExists {
                Error::MasterKeyExists { path: path.to_path_buf() }
            } else {
                Error::Io { context: "creating master key file", path: path.to_path_buf(), source }
            }
        })?;
        let text = Zeroizing::new(key.to_file_text());
        file.write_all(text.as_bytes()).map_err(Error::io("writing master key file", path))?;
        file.sync_all().map_err(Error::io("syncing master key file", path))?;
        let dir = match path.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent,
            _ => Path::new("."),
        };
        std::fs::File::open(dir).and_then(|d| d.sync_all()).map_err(Error::io("syncing directory", dir))?;
        Ok(key)
    }
}

fn hex_digit(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        _ => None,
    }
}

/// Lower-case hex of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut text = String::with_capacity(2 * bytes.len());
    for byte in bytes {
        for nibble in [byte >> 4, byte & 0x0f] {
            text.push(char::from(DIGITS.get(usize::from(nibble)).copied().unwrap_or(b'0')));
        }
    }
    text
}
