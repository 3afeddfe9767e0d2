//! Character rules for identity values: control characters, invisible characters, compatibility
//! look-alikes of ASCII, and Unicode TS #39 mixed-script restriction. Rules: docs/events.md.

use std::fmt;

use unicode_normalization::UnicodeNormalization;
use unicode_script::{Script, UnicodeScript};
use unicode_security::{GeneralSecurityProfile, RestrictionLevel, RestrictionLevelDetection};

use crate::error::Error;

/// Why an e-mail address or handle is refused as a possible look-alike of another one.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfusableReason {
    /// An invisible formatting character (Unicode general category Cf, such as U+200B ZERO
    /// WIDTH SPACE or U+200D ZERO WIDTH JOINER).
    InvisibleCharacter(char),
    /// A compatibility or singleton character that normalizes (NFKC) to ASCII, such as
    /// U+212A KELVIN SIGN for `K` or U+FF4B FULLWIDTH LATIN SMALL LETTER K for `k`.
    CompatibilityCharacter {
        /// The character given.
        character: char,
        /// The ASCII it stands for.
        ascii: String,
    },
    /// A character outside the identifier profile of Unicode TS #39 (General Security Profile).
    DisallowedCharacter(char),
    /// A mix of scripts beyond TS #39's Moderately Restrictive level.
    MixedScripts(String),
}

impl fmt::Display for ConfusableReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfusableReason::InvisibleCharacter(c) => {
                write!(f, "contains the invisible character {c:?} (U+{:04X})", u32::from(*c))
            }
            ConfusableReason::CompatibilityCharacter { character, ascii } => write!(
                f,
                "{character:?} (U+{:04X}) is a compatibility form of ASCII {ascii:?}; write {ascii:?}",
                u32::from(*character)
            ),
            ConfusableReason::DisallowedCharacter(c) => write!(
                f,
                "{c:?} (U+{:04X}) is not allowed in identifiers (Unicode TS #39 General Security Profile)",
                u32::from(*c)
            ),
            ConfusableReason::MixedScripts(scripts) => write!(
                f,
                "mixes the scripts {scripts} (allowed: one script; Latin with Han and Hiragana/Katakana, \
                 with Han and Bopomofo, or with Han and Hangul; Latin with one other script except \
                 Cyrillic and Greek)"
            ),
        }
    }
}

/// Whether `c` is refused everywhere: a C0/C1 control character (Unicode Cc) or a bidirectional
/// embedding, override or isolate (U+202A..U+202E, U+2066..U+2069), which reorder what a
/// terminal or a browser shows.
fn is_control(c: char) -> bool {
    c.is_control() || ('\u{202a}'..='\u{202e}').contains(&c) || ('\u{2066}'..='\u{2069}').contains(&c)
}

/// Refuses control characters (Unicode Cc) and bidirectional overrides and isolates
/// (U+202A..U+202E, U+2066..U+2069) in `value`, the `field` of something. The one rule for
/// identities, ids and other short strings; the error shows the value escaped.
pub fn check_no_control_chars(field: &str, value: &str) -> Result<(), Error> {
    match first_control_char(value) {
        None => Ok(()),
        Some(character) => Err(Error::ControlCharacter { field: field.to_owned(), value: value.to_owned(), character }),
    }
}

/// The first character [`check_no_control_chars`] refuses.
pub(crate) fn first_control_char(value: &str) -> Option<char> {
    // ASCII fast path: only C0 controls and DEL can be wrong.
    if value.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        return None;
    }
    value.chars().find(|c| is_control(*c))
}

/// Whether `c` is invisible formatting (general category Cf: zero-width space, joiners, word
/// joiner, byte-order mark, soft hyphen, bidi marks, ...). unicode-script has no general
/// category, so the Cf ranges are listed here (Unicode 15.1, DerivedGeneralCategory.txt).
pub(crate) fn is_format(c: char) -> bool {
    matches!(
        u32::from(c),
        0x00AD
            | 0x0600..=0x0605
            | 0x061C
            | 0x06DD
            | 0x070F
            | 0x0890..=0x0891
            | 0x08E2
            | 0x180E
            | 0x200B..=0x200F
            | 0x202A..=0x202E
            | 0x2060..=0x2064
            | 0x2066..=0x206F
            | 0xFEFF
            | 0xFFF9..=0xFFFB
            | 0x110BD
            | 0x110CD
            | 0x13430..=0x1343F
            | 0x1BCA0..=0x1BCA3
            | 0x1D173..=0x1D17A
            | 0xE0001
            | 0xE0020..=0xE007F
    )
}

/// The look-alike checks for e-mail addresses and handles, on the raw (trimmed) value; then the
/// value in NFKC, lower-cased. `Err` carries the reason.
pub(crate) fn fold_lookalike_free(value: &str) -> Result<String, ConfusableReason> {
    if value.is_ascii() {
        return Ok(value.to_ascii_lowercase());
    }
    for character in value.chars() {
        if is_format(character) {
            return Err(ConfusableReason::InvisibleCharacter(character));
        }
        if !character.is_ascii() {
            // A non-ASCII character whose compatibility form contains ASCII (U+212A KELVIN SIGN
            // -> `K`, full-width `ｋ` -> `k`, `①` -> `1`, U+00A0 -> ` `) is how a spoof passes
            // for an ASCII address: refused rather than folded into the address it imitates.
            let folded: String = std::iter::once(character).nfkc().collect();
            if folded.chars().any(|c| c.is_ascii()) {
                return Err(ConfusableReason::CompatibilityCharacter { character, ascii: folded });
            }
        }
    }
    // NFKC, lower-case, NFKC again: lower-casing can leave a string that is not in NFKC.
    let folded: String = value.nfkc().collect::<String>().to_lowercase().nfkc().collect();
    check_scripts(&folded)?;
    Ok(folded)
}

/// TS #39 restriction level of the letters (ASCII punctuation such as `@ . + - _` is script
/// Common and cannot change it; it is left out because the identifier profile does not list it).
fn check_scripts(folded: &str) -> Result<(), ConfusableReason> {
    let letters: String = folded.chars().filter(|c| !c.is_ascii_punctuation()).collect();
    let level = letters.as_str().detect_restriction_level();
    if level <= RestrictionLevel::ModeratelyRestrictive {
        return Ok(());
    }
    if let Some(c) = letters.chars().find(|c| !c.identifier_allowed()) {
        return Err(ConfusableReason::DisallowedCharacter(c));
    }
    let mut scripts: Vec<&'static str> = letters
        .chars()
        .map(|c| c.script())
        .filter(|s| !matches!(s, Script::Common | Script::Inherited | Script::Unknown))
        .map(|s| s.full_name())
        .collect();
    scripts.sort_unstable();
    scripts.dedup();
    Err(ConfusableReason::MixedScripts(scripts.join(" + ")))
}

/// The form the block list compares: format characters (Cf) removed, NFKC, lower-cased.
/// Borrowed when the value already is in that form (the common ASCII lower-case case).
pub(crate) fn block_key(value: &str) -> std::borrow::Cow<'_, str> {
    use std::borrow::Cow;
    if value.bytes().all(|b| b.is_ascii() && !b.is_ascii_uppercase()) {
        return Cow::Borrowed(value);
    }
    let visible: String = value.chars().filter(|c| !is_format(*c)).collect();
    Cow::Owned(visible.nfkc().collect::<String>().to_lowercase())
}
