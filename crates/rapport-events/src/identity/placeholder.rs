//! Placeholder values ("unknown", `test@test.com`, all-zero phones, ...) that forms and CRMs fill
//! in when there is no real address. They are kept on events and never link people.

/// Values that stand for "no value" in any kind, compared in block-key form (lower case).
const PLACEHOLDER_VALUES: &[&str] = &[
    "null",
    "none",
    "nil",
    "nan",
    "anonymous",
    "unknown",
    "undefined",
    "n/a",
    "na",
    "test",
    "noemail",
    "no-email",
    "no_email",
    "nobody",
    "noname",
];

/// E-mail local parts that stand for "no address", at any domain.
const PLACEHOLDER_LOCAL_PARTS: &[&str] = &[
    "null",
    "none",
    "nil",
    "anonymous",
    "unknown",
    "undefined",
    "n/a",
    "na",
    "noemail",
    "no-email",
    "no_email",
    "nomail",
    "no-mail",
    "nobody",
    "noname",
    "noreply",
    "no-reply",
    "donotreply",
    "do-not-reply",
    "invalid",
];

/// Whole e-mail addresses that stand for "no address".
const PLACEHOLDER_ADDRESSES: &[&str] = &["test@test.com", "email@email.com", "test@example.com", "a@a.com"];

/// Shortest run of one repeated character that makes an e-mail local part a placeholder
/// (`000@`, `xxx@`).
const REPEATED_LOCAL_CHARS_MIN: usize = 3;
/// Shortest national part (after a 1–3 digit country code) that counts as "one digit repeated".
const REPEATED_NATIONAL_DIGITS_MIN: usize = 6;
/// Shortest national part that counts as "a run of consecutive digits" (`234 567 8901`); shorter
/// runs are real numbers too often (`010-1234-5678` is a Korean mobile number).
const CONSECUTIVE_NATIONAL_DIGITS_MIN: usize = 10;
/// A phone number ending in this many copies of one digit is a placeholder (`+82 10 1111 1111`).
const REPEATED_TRAILING_DIGITS_MIN: usize = 8;

/// Whether `key` (a value in block-key form: format characters removed, NFKC, lower case) of an
/// identity of kind `kind` is a placeholder.
pub(crate) fn is_placeholder(kind: &super::IdentityKind, key: &str) -> bool {
    let key = key.trim();
    if key.is_empty() || key.chars().all(|c| c == '0' || c == '-') || PLACEHOLDER_VALUES.contains(&key) {
        return true;
    }
    match kind {
        super::IdentityKind::Email => is_placeholder_email(key),
        super::IdentityKind::Phone => is_placeholder_phone(key),
        _ => false,
    }
}

fn is_placeholder_email(key: &str) -> bool {
    if PLACEHOLDER_ADDRESSES.contains(&key) {
        return true;
    }
    let Some((local, _domain)) = key.split_once('@') else { return false };
    if PLACEHOLDER_LOCAL_PARTS.contains(&local) {
        return true;
    }
    let mut chars = local.chars();
    chars.next().is_some_and(|first| local.chars().count() >= REPEATED_LOCAL_CHARS_MIN && chars.all(|c| c == first))
}

/// `value`: the stored E.164 form (`+` and digits; digits alone in old logs).
fn is_placeholder_phone(value: &str) -> bool {
    let bytes = value.strip_prefix('+').unwrap_or(value).as_bytes();
    if bytes.is_empty() || !bytes.iter().all(u8::is_ascii_digit) {
        return false;
    }
    // An empty part counts as one repeated digit, as `all` on nothing is true.
    let same_digit = |part: &[u8]| part.first().is_none_or(|&first| part.iter().all(|&b| b == first));
    /// Neighbouring digits `(d[i], d[i + 1])`.
    fn pairs(part: &[u8]) -> impl Iterator<Item = (u8, u8)> + '_ {
        part.iter().copied().zip(part.iter().copied().skip(1))
    }
    // Consecutive digits, ascending or descending, wrapping 9 -> 0 (`1234567890`).
    let consecutive = |part: &[u8]| {
        pairs(part).all(|(a, b)| (a - b'0' + 1) % 10 == b - b'0')
            || pairs(part).all(|(a, b)| (b - b'0' + 1) % 10 == a - b'0')
    };
    if same_digit(bytes) {
        return true;
    }
    let trailing = bytes.len().checked_sub(REPEATED_TRAILING_DIGITS_MIN).and_then(|start| bytes.get(start..));
    if trailing.is_some_and(same_digit) {
        return true;
    }
    // The country code has 1 to 3 digits; without looking it up, try each split.
    (1..=3).any(|code_digits| {
        let national = bytes.get(code_digits..).unwrap_or_default();
        (national.len() >= REPEATED_NATIONAL_DIGITS_MIN && same_digit(national))
            || (national.len() >= CONSECUTIVE_NATIONAL_DIGITS_MIN && consecutive(national))
    })
}
