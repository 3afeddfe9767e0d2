//! API tokens: a tokens file of `NAME SCOPE HASH` lines, read again whenever its modification
//! time or length changes (rotation without restart).
//!
//! A token is `rpt_` and 43 characters of unpadded base64url (32 random bytes): guessing one
//! is hopeless, so the file stores the BLAKE3 hash of each token (never the token itself), and
//! a presented token is hashed and compared with every entry in constant time. Scopes are
//! ordered: `admin` may do what `write` may, `write` what `read` may.
//!
//! ```text
//! # rapport tokens: NAME SCOPE blake3:HEX (written by `rapport token add`)
//! dashboard read blake3:5b0e…
//! ingest write blake3:91c2…
//! ```

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use base64::Engine;
use parking_lot::RwLock;
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::{Error, Result};

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// Read views, metrics and the feed.
    Read,
    /// Also submit events and ticket commands.
    Write,
    /// Also split and erase customers.
    Admin,
}

impl Scope {
    /// The scope's name in the tokens file and in problems.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Write => "write",
            Scope::Admin => "admin",
        }
    }
}

impl std::str::FromStr for Scope {
    type Err = String;

    fn from_str(text: &str) -> std::result::Result<Scope, String> {
        match text {
            "read" => Ok(Scope::Read),
            "write" => Ok(Scope::Write),
            "admin" => Ok(Scope::Admin),
            other => Err(format!("unknown scope {other:?} (expected read, write or admin)")),
        }
    }
}

/// Longest token name, in bytes.
pub const TOKEN_NAME_BYTES_MAX: usize = 64;

/// Most tokens in one file: every request compares its token with each entry.
pub const TOKENS_MAX: usize = 1024;

/// Largest tokens file read, in bytes (well above [`TOKENS_MAX`] lines).
const TOKENS_FILE_BYTES_MAX: u64 = 1 << 20;

/// The prefix of every token: recognizable in a leaked config, and by secret scanners.
const TOKEN_PREFIX: &str = "rpt_";

/// One token of the file.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    name: String,
    scope: Scope,
    hash: blake3::Hash,
}

/// Who a request's token belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The token's name (logged; never the token).
    pub name: String,
    /// What it may do.
    pub scope: Scope,
}

/// Checks a token name: 1 to [`TOKEN_NAME_BYTES_MAX`] ASCII letters, digits, `-`, `_`, `.`.
pub fn check_name(name: &str) -> Result<()> {
    let valid = !name.is_empty()
        && name.len() <= TOKEN_NAME_BYTES_MAX
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
    if valid {
        Ok(())
    } else {
        Err(Error::InvalidToken(format!(
            "token name {name:?}: 1 to {TOKEN_NAME_BYTES_MAX} ASCII letters, digits, '-', '_' or '.'"
        )))
    }
}

fn hash_of(token: &str) -> blake3::Hash {
    blake3::hash(token.as_bytes())
}

/// Parses a tokens file.
fn parse(path: &Path, text: &str) -> Result<Vec<Entry>> {
    let bad = |line: usize, reason: String| Error::TokensFile { path: path.to_path_buf(), line, reason };
    let mut entries: Vec<Entry> = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let line_no = index + 1;
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = line.split_whitespace().collect();
        let [name, scope, hash] = fields[..] else {
            return Err(bad(line_no, format!("expected NAME SCOPE blake3:HEX, found {} fields", fields.len())));
        };
        check_name(name).map_err(|e| bad(line_no, e.to_string()))?;
        let scope: Scope = scope.parse().map_err(|e| bad(line_no, e))?;
        let hex =
            hash.strip_prefix("blake3:").ok_or_else(|| bad(line_no, "the hash must start with blake3:".into()))?;
        let hash = blake3::Hash::from_hex(hex).map_err(|e| bad(line_no, format!("hash: {e}")))?;
        if entries.iter().any(|e| e.name == name) {
            return Err(bad(line_no, format!("token name {name:?} appears twice")));
        }
        if entries.len() == TOKENS_MAX {
            return Err(bad(line_no, format!("more than {TOKENS_MAX} tokens")));
        }
        entries.push(Entry { name: name.to_owned(), scope, hash });
    }
    Ok(entries)
}

/// Reads a tokens file (bounded), with its modification time and length.
fn read(path: &Path) -> Result<(Vec<Entry>, Option<SystemTime>, u64)> {
    let metadata = std::fs::metadata(path).map_err(Error::io(format!("reading {}", path.display())))?;
    if metadata.len() > TOKENS_FILE_BYTES_MAX {
        return Err(Error::TokensFile {
            path: path.to_path_buf(),
            line: 0,
            reason: format!("{} bytes, over the limit of {TOKENS_FILE_BYTES_MAX}", metadata.len()),
        });
    }
    let text = std::fs::read_to_string(path).map_err(Error::io(format!("reading {}", path.display())))?;
    Ok((parse(path, &text)?, metadata.modified().ok(), metadata.len()))
}

/// The tokens of a file, reloaded when the file changes.
#[derive(Debug)]
pub struct Tokens {
    path: PathBuf,
    state: RwLock<Loaded>,
}

#[derive(Debug)]
struct Loaded {
    entries: Vec<Entry>,
    modified: Option<SystemTime>,
    len: u64,
    /// The last reload failed: the previous tokens stay in force (a half-written file never
    /// opens the server), and the error is reported once.
    reload_error: Option<String>,
}

impl Tokens {
    /// Reads the tokens file at `path`: a missing or invalid file is an error.
    pub fn load(path: &Path) -> Result<Tokens> {
        let (entries, modified, len) = read(path)?;
        Ok(Tokens {
            path: path.to_path_buf(),
            state: RwLock::new(Loaded { entries, modified, len, reload_error: None }),
        })
    }

    /// How many tokens are in force.
    pub fn len(&self) -> usize {
        self.state.read().entries.len()
    }

    /// Whether no token is in force (every request is refused).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Reads the file again if its modification time or length changed. A file that became
    /// invalid leaves the previous tokens in force and returns the error (once per change).
    pub fn reload_if_changed(&self) -> Option<Error> {
        let metadata = std::fs::metadata(&self.path).ok()?;
        let (modified, len) = (metadata.modified().ok(), metadata.len());
        {
            let state = self.state.read();
            if state.modified == modified && state.len == len {
                return None;
            }
        }
        let mut state = self.state.write();
        match read(&self.path) {
            Ok((entries, modified, len)) => {
                *state = Loaded { entries, modified, len, reload_error: None };
                None
            }
            Err(error) => {
                let text = error.to_string();
                // Remember the failed version so it is not re-read (and re-reported) on every
                // request; the entries stay.
                state.modified = modified;
                state.len = len;
                (state.reload_error.replace(text.clone()).as_deref() != Some(&text)).then_some(error)
            }
        }
    }

    /// Who `token` belongs to, if anyone: every entry is compared (in constant time), so the
    /// time taken says nothing about which one matched or how close a guess came.
    pub fn authenticate(&self, token: &str) -> Option<Caller> {
        let hash = hash_of(token);
        let state = self.state.read();
        let mut found = None;
        for entry in &state.entries {
            // blake3::Hash's equality is constant-time.
            if entry.hash == hash {
                found = Some(Caller { name: entry.name.clone(), scope: entry.scope });
            }
        }
        found
    }
}

/// A new random token.
fn new_token() -> Result<String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)
        .map_err(|e| Error::Io { context: "drawing a random token".into(), source: std::io::Error::other(e) })?;
    Ok(format!("{TOKEN_PREFIX}{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)))
}

/// Adds a token named `name` with `scope` to the tokens file at `path` (created if missing,
/// readable by its owner only) and returns the token: it is shown once and stored only as its
/// hash. The file is replaced atomically (a running server never reads half of it).
pub fn add_token(path: &Path, name: &str, scope: Scope) -> Result<String> {
    check_name(name)?;
    let mut text = match std::fs::read_to_string(path) {
        Ok(text) => {
            let entries = parse(path, &text)?;
            if entries.iter().any(|e| e.name == name) {
                return Err(Error::InvalidToken(format!("{} already has a token named {name:?}", path.display())));
            }
            if entries.len() >= TOKENS_MAX {
                return Err(Error::InvalidToken(format!("{} already holds {TOKENS_MAX} tokens", path.display())));
            }
            text
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            "# rapport tokens: NAME SCOPE blake3:HEX (written by `rapport token add`)\n".to_owned()
        }
        Err(e) => return Err(Error::Io { context: format!("reading {}", path.display()), source: e }),
    };
    let token = new_token()?;
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    text.push_str(&format!("{name} {} blake3:{}\n", scope.as_str(), hash_of(&token).to_hex()));
    write_atomically(path, text.as_bytes())?;
    Ok(token)
}

/// Writes `bytes` to a temporary file beside `path`, syncs it, renames it over `path` and
/// syncs the directory.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let file_name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let temp = dir.join(format!(".{file_name}.tmp"));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&temp).map_err(Error::io(format!("creating {}", temp.display())))?;
    file.write_all(bytes).map_err(Error::io(format!("writing {}", temp.display())))?;
    file.sync_all().map_err(Error::io(format!("syncing {}", temp.display())))?;
    drop(file);
    std::fs::rename(&temp, path).map_err(Error::io(format!("renaming {} to {}", temp.display(), path.display())))?;
    if let Ok(dir) = std::fs::File::open(&dir) {
        dir.sync_all().map_err(Error::io(format!("syncing {}", path.display())))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_added_authenticates_with_its_scope_and_only_its_hash_is_stored() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokens");
        let read_token = add_token(&path, "dash", Scope::Read).unwrap();
        let admin_token = add_token(&path, "ops", Scope::Admin).unwrap();
        assert!(read_token.starts_with(TOKEN_PREFIX) && read_token.len() == TOKEN_PREFIX.len() + 43);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(!text.contains(&read_token[TOKEN_PREFIX.len()..]), "the token itself is never stored");
        let tokens = Tokens::load(&path).unwrap();
        assert_eq!(tokens.authenticate(&read_token), Some(Caller { name: "dash".into(), scope: Scope::Read }));
        assert_eq!(tokens.authenticate(&admin_token).map(|c| c.scope), Some(Scope::Admin));
        assert_eq!(tokens.authenticate("rpt_guess"), None);
        assert!(matches!(add_token(&path, "dash", Scope::Write), Err(Error::InvalidToken(_))));
        assert!(matches!(add_token(&path, "no spaces", Scope::Write), Err(Error::InvalidToken(_))));
    }

    #[test]
    fn invalid_files_name_the_line_and_a_bad_reload_keeps_the_tokens_in_force() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokens");
        std::fs::write(&path, "a read blake3:00\n").unwrap();
        let Err(Error::TokensFile { line: 1, .. }) = Tokens::load(&path) else { panic!("a short hash is refused") };
        std::fs::write(&path, "# c\n\na root blake3:x\n").unwrap();
        let Err(Error::TokensFile { line: 3, reason, .. }) = Tokens::load(&path) else { panic!() };
        assert!(reason.contains("unknown scope"), "{reason}");
        std::fs::remove_file(&path).unwrap();
        let token = add_token(&path, "a", Scope::Write).unwrap();
        let tokens = Tokens::load(&path).unwrap();
        std::fs::write(&path, "garbage here\n").unwrap();
        assert!(tokens.reload_if_changed().is_some(), "the bad version is reported");
        assert!(tokens.reload_if_changed().is_none(), "once");
        assert!(tokens.authenticate(&token).is_some(), "the previous tokens stay in force");
    }
}
