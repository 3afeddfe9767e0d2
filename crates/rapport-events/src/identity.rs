//! Customer identities (`kind:value`), normalized so that one person's address written two ways
//! is one identity, and refused when it could pass for another person's: e-mail and handles in
//! NFKC, lower-cased and within TS #39's Moderately Restrictive script mixes; phone numbers
//! validated by libphonenumber's metadata and stored as E.164 digits. Invalid input is a typed
//! error, never a silently different identity. Rules: docs/events.md, "Identity rules".

mod characters;
mod phone_cache;
mod placeholder;
#[cfg(test)]
mod tests;

use std::collections::BTreeSet;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

pub use self::characters::{check_no_control_chars, ConfusableReason};
use crate::error::Error;
use crate::{IDENTITY_VALUE_BYTES_MAX, NAME_BYTES_MAX};

/// Options for normalization.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NormalizeOptions {
    /// Region (ISO 3166-1 alpha-2, e.g. `"KR"`, `"US"`) in whose numbering plan phone numbers
    /// written without an international prefix (`+` or `00`) are read (`010-1234-5678` in
    /// `"KR"` is `+82 10 1234 5678`). Without it such numbers are refused: a national number
    /// read as international would merge unrelated people.
    pub default_region: Option<String>,
}

/// Why a phone number is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PhoneProblem {
    /// A character other than digits, a leading `+` and the separators `space - . ( ) /`.
    UnexpectedCharacter(char),
    /// No `+` or `00` prefix and no [`NormalizeOptions::default_region`] to read a national
    /// number in.
    NoInternationalPrefix,
    /// More digits than the 15 of the longest E.164 number (after an international prefix).
    TooManyDigits(usize),
    /// The default region is not an ISO 3166-1 alpha-2 code libphonenumber knows.
    UnknownRegion(String),
    /// libphonenumber cannot read it as a number (its message: too short, too long, invalid
    /// country code, ...).
    Unreadable(String),
    /// It reads as a number, but not one the numbering plan of its country code assigns.
    NotValid {
        /// The country calling code it was read with.
        country_code: u16,
        /// The number in E.164 form as read.
        e164: String,
    },
}

impl fmt::Display for PhoneProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PhoneProblem::UnexpectedCharacter(c) => write!(f, "unexpected character {c:?} in a phone number"),
            PhoneProblem::NoInternationalPrefix => {
                f.write_str("no international prefix (+ or 00) and no default region to read a national number in")
            }
            PhoneProblem::TooManyDigits(n_digits) => {
                write!(f, "{n_digits} digits; an E.164 number has at most {E164_DIGITS_MAX}")
            }
            PhoneProblem::UnknownRegion(region) => {
                write!(f, "unknown default region {region:?} (expected an ISO 3166-1 alpha-2 code such as \"KR\")")
            }
            PhoneProblem::Unreadable(reason) => write!(f, "not readable as a phone number: {reason}"),
            PhoneProblem::NotValid { country_code, e164 } => {
                write!(f, "{e164} is not a valid number in the numbering plan of country code +{country_code}")
            }
        }
    }
}

/// The kind of an identity.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum IdentityKind {
    /// E-mail address.
    Email,
    /// Phone number (E.164 digits).
    Phone,
    /// KakaoTalk user id (`kakaotalk`; the first release called it `kakao`, still accepted).
    KakaoTalk,
    /// X handle (`x`; `twitter` is accepted as an alias).
    X,
    /// Facebook id (a profile or page-scoped user id).
    Facebook,
    /// Instagram handle.
    Instagram,
    /// LINE user id.
    Line,
    /// Web chat visitor id (a live-chat tool's own visitor id).
    Chat,
    /// WhatsApp id: the international phone number (`wa_id`), kept as `+` and digits.
    WhatsApp,
    /// Telegram user id or username.
    Telegram,
    /// Facebook Messenger page-scoped id (PSID).
    Messenger,
    /// Contact id of a website's messaging widget (Chatwoot's web widget, Intercom Messenger).
    WebWidget,
    /// An id in another system (`external:<system>`), e.g. a shop's customer number.
    External(String),
}

impl IdentityKind {
    /// Parses a kind name (`email`, `external:shopify`, ...).
    pub fn parse(text: &str) -> Result<IdentityKind, Error> {
        // Fast path for the stored (already lower-case) names: no allocation.
        match text {
            "email" => return Ok(IdentityKind::Email),
            "phone" => return Ok(IdentityKind::Phone),
            "kakaotalk" => return Ok(IdentityKind::KakaoTalk),
            "chat" => return Ok(IdentityKind::Chat),
            _ => {}
        }
        let lower = text.trim().to_ascii_lowercase();
        Ok(match lower.as_str() {
            "email" => IdentityKind::Email,
            "phone" => IdentityKind::Phone,
            // `kakao` and `twitter`: the first release's names, accepted for ever (stored
            // events hold them and upcast by this parse).
            "kakaotalk" | "kakao" => IdentityKind::KakaoTalk,
            "x" | "twitter" => IdentityKind::X,
            "facebook" => IdentityKind::Facebook,
            "instagram" => IdentityKind::Instagram,
            "line" => IdentityKind::Line,
            "chat" => IdentityKind::Chat,
            "whatsapp" => IdentityKind::WhatsApp,
            "telegram" => IdentityKind::Telegram,
            "messenger" => IdentityKind::Messenger,
            "web_widget" => IdentityKind::WebWidget,
            other => match other.strip_prefix("external:") {
                Some(system)
                    if !system.is_empty()
                        && system.len() <= NAME_BYTES_MAX
                        && system.bytes().all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b)) =>
                {
                    IdentityKind::External(system.to_owned())
                }
                _ => return Err(Error::UnknownIdentityKind(text.to_owned())),
            },
        })
    }

    /// The persisted name.
    pub fn name(&self) -> std::borrow::Cow<'_, str> {
        use std::borrow::Cow;
        match self {
            IdentityKind::Email => Cow::Borrowed("email"),
            IdentityKind::Phone => Cow::Borrowed("phone"),
            IdentityKind::KakaoTalk => Cow::Borrowed("kakaotalk"),
            IdentityKind::X => Cow::Borrowed("x"),
            IdentityKind::Facebook => Cow::Borrowed("facebook"),
            IdentityKind::Instagram => Cow::Borrowed("instagram"),
            IdentityKind::Line => Cow::Borrowed("line"),
            IdentityKind::Chat => Cow::Borrowed("chat"),
            IdentityKind::WhatsApp => Cow::Borrowed("whatsapp"),
            IdentityKind::Telegram => Cow::Borrowed("telegram"),
            IdentityKind::Messenger => Cow::Borrowed("messenger"),
            IdentityKind::WebWidget => Cow::Borrowed("web_widget"),
            IdentityKind::External(system) => Cow::Owned(format!("external:{system}")),
        }
    }

    /// The name the store's keyed identity hash (pseudonyms, key-store records) is computed
    /// over: the persisted name, except the two kinds the first release named differently
    /// (`kakao`, `twitter`), whose hashes must stay what the log and key store already hold.
    pub fn hash_name(&self) -> std::borrow::Cow<'_, str> {
        match self {
            IdentityKind::KakaoTalk => std::borrow::Cow::Borrowed("kakao"),
            IdentityKind::X => std::borrow::Cow::Borrowed("twitter"),
            other => other.name(),
        }
    }

    /// Whether `name` names this kind (its name or an alias of it; case-insensitive).
    pub fn is_named(&self, name: &str) -> bool {
        IdentityKind::parse(name).is_ok_and(|kind| &kind == self)
    }

    /// Whether the kind is an external system id.
    pub fn is_external(&self) -> bool {
        matches!(self, IdentityKind::External(_))
    }
}

impl fmt::Display for IdentityKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

/// A normalized identity. Construct with [`Identity::parse`]; two identities are the same
/// person's address exactly when they are equal.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Identity {
    kind: IdentityKind,
    value: String,
    form: Form,
}

/// What an identity's value is: the normalized address itself, the store's keyed hash of it
/// (what the log holds), or a marker a view shows in its place.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Form {
    Plain,
    Pseudonym { blocked: bool },
    Redacted,
}

/// Bytes of the keyed hash a pseudonym holds (128 bits: collisions stay below one in 10^18 up to
/// a billion identities).
pub const PSEUDONYM_BYTES: usize = 16;

/// The pseudonym's text: this prefix (`~`, or `!` for an identity resolution must ignore) and
/// the hash in lower-case hex.
const PSEUDONYM_PREFIX: char = '~';
const BLOCKED_PSEUDONYM_PREFIX: char = '!';

impl Identity {
    /// Normalizes `value` for `kind`.
    pub fn parse(kind: &str, value: &str, options: &NormalizeOptions) -> Result<Identity, Error> {
        let kind = IdentityKind::parse(kind)?;
        Identity::new(kind, value, options)
    }

    /// Normalizes `value` for an already parsed kind; refuses control characters in every
    /// kind, look-alikes in e-mail addresses and handles, and phone numbers that are not valid.
    pub fn new(kind: IdentityKind, value: &str, options: &NormalizeOptions) -> Result<Identity, Error> {
        let trimmed = value.trim();
        let invalid = |reason: &str| Error::InvalidIdentity {
            kind: kind.name().into_owned(),
            value: value.to_owned(),
            reason: reason.to_owned(),
        };
        let confusable = |reason: ConfusableReason| Error::ConfusableIdentity {
            kind: kind.name().into_owned(),
            value: value.to_owned(),
            reason,
        };
        if trimmed.is_empty() {
            return Err(Error::EmptyIdentity { kind: kind.name().into_owned() });
        }
        // Surrounding white space (a CSV line's `\r\n`, a tab) is trimmed, not refused.
        if let Some(character) = characters::first_control_char(trimmed) {
            return Err(Error::ControlCharacter {
                field: format!("{kind} identity"),
                value: value.to_owned(),
                character,
            });
        }
        let normalized = match &kind {
            IdentityKind::Email => {
                let lower = characters::fold_lookalike_free(trimmed).map_err(confusable)?;
                let Some((local, domain)) = lower.split_once('@') else {
                    return Err(invalid("no @"));
                };
                if local.is_empty() || domain.is_empty() || domain.contains('@') {
                    return Err(invalid("expected exactly one @ between a local part and a domain"));
                }
                if lower.chars().any(char::is_whitespace) {
                    return Err(invalid("contains white space"));
                }
                lower
            }
            IdentityKind::Phone => normalize_phone(trimmed, options)
                .map_err(|reason| Error::InvalidPhone { value: value.to_owned(), reason })?,
            IdentityKind::WhatsApp => {
                let digits: String =
                    trimmed.trim_start_matches('+').chars().filter(|c| !matches!(c, ' ' | '-' | '(' | ')')).collect();
                if !(7..=15).contains(&digits.len()) || !digits.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(invalid("expected an international number of 7 to 15 digits (the wa_id)"));
                }
                format!("+{digits}")
            }
            IdentityKind::X | IdentityKind::Instagram | IdentityKind::Telegram => {
                let handle = trimmed.trim_start_matches('@');
                if handle.is_empty() {
                    return Err(Error::EmptyIdentity { kind: kind.name().into_owned() });
                }
                let handle = characters::fold_lookalike_free(handle).map_err(confusable)?;
                if handle.chars().any(char::is_whitespace) {
                    return Err(invalid("contains white space"));
                }
                handle
            }
            // Ids of other systems are compared exactly as written: their system defines
            // equality. Only control characters are refused (above).
            IdentityKind::KakaoTalk
            | IdentityKind::Facebook
            | IdentityKind::Line
            | IdentityKind::Chat
            | IdentityKind::Messenger
            | IdentityKind::WebWidget
            | IdentityKind::External(_) => trimmed.to_owned(),
        };
        if normalized.len() > IDENTITY_VALUE_BYTES_MAX {
            return Err(Error::TooLong {
                field: "identity value",
                actual: normalized.len(),
                limit: IDENTITY_VALUE_BYTES_MAX,
            });
        }
        Ok(Identity { kind, value: normalized, form: Form::Plain })
    }

    /// Parses the `kind:value` form printed by `Display` (`external:<system>:<value>` for
    /// external ids).
    pub fn parse_pair(text: &str, options: &NormalizeOptions) -> Result<Identity, Error> {
        let text = text.trim();
        let (kind, value) = if let Some(rest) = text.strip_prefix("external:") {
            let (system, value) = rest.split_once(':').ok_or_else(|| Error::UnknownIdentityKind(text.to_owned()))?;
            (format!("external:{system}"), value)
        } else {
            let (kind, value) = text.split_once(':').ok_or_else(|| Error::UnknownIdentityKind(text.to_owned()))?;
            (kind.to_owned(), value)
        };
        Identity::parse(&kind, value, options)
    }

    /// The pseudonym of an identity: the store's keyed hash of its normalized value (what the
    /// log holds instead of the value). `blocked`: resolution must ignore it (a placeholder or a
    /// blocked value, judged on the value when it was recorded).
    pub fn pseudonym(kind: IdentityKind, hash: [u8; PSEUDONYM_BYTES], blocked: bool) -> Identity {
        let prefix = if blocked { BLOCKED_PSEUDONYM_PREFIX } else { PSEUDONYM_PREFIX };
        let mut value = String::with_capacity(1 + 2 * PSEUDONYM_BYTES);
        value.push(prefix);
        for byte in hash {
            // A nibble is below 16: `get` always finds it.
            for nibble in [byte >> 4, byte & 15] {
                value.extend(HEX.get(usize::from(nibble)).map(|digit| char::from(*digit)));
            }
        }
        Identity { kind, value, form: Form::Pseudonym { blocked } }
    }

    /// An identity of `kind` whose value a view shows as `marker` (`[erased]`, `[encrypted]`):
    /// never resolved, never recorded.
    pub fn redacted(kind: IdentityKind, marker: &str) -> Identity {
        Identity { kind, value: marker.to_owned(), form: Form::Redacted }
    }

    /// An identity whose value the store revealed from its key store: already normalized when
    /// it was recorded, so it is taken as it is. Views only; the store pseudonymizes every
    /// identity it is given.
    pub fn revealed(kind: IdentityKind, value: String) -> Identity {
        Identity { kind, value, form: Form::Plain }
    }

    /// Whether this is a pseudonym ([`Identity::pseudonym`]).
    pub fn is_pseudonym(&self) -> bool {
        matches!(self.form, Form::Pseudonym { .. })
    }

    /// Whether this is a view's marker ([`Identity::redacted`]).
    pub fn is_redacted(&self) -> bool {
        self.form == Form::Redacted
    }

    /// The hash of a pseudonym.
    pub fn pseudonym_bytes(&self) -> Option<[u8; PSEUDONYM_BYTES]> {
        match self.form {
            Form::Pseudonym { .. } => parse_pseudonym(&self.value).map(|(hash, _)| hash),
            Form::Plain | Form::Redacted => None,
        }
    }

    /// The kind.
    pub fn kind(&self) -> &IdentityKind {
        &self.kind
    }

    /// The normalized value.
    pub fn value(&self) -> &str {
        &self.value
    }

    /// Whether the value is a placeholder that forms and CRMs fill in when there is no real
    /// address: `unknown`, `n/a`, `none`, `test@test.com`, `noemail@...`, `0000@...`, all-zero or
    /// repeated-digit phone numbers, ... (docs/events.md, "Identity rules"). Compared after
    /// removing format characters (zero-width space, joiners, BOM, ...), NFKC and lower-casing.
    pub fn is_placeholder(&self) -> bool {
        match self.form {
            Form::Plain => placeholder::is_placeholder(&self.kind, &characters::block_key(&self.value)),
            Form::Pseudonym { blocked } => blocked,
            Form::Redacted => true,
        }
    }

    /// Whether resolution must ignore this identity: a placeholder, or a value of
    /// `blocked_values` (written lower-case; compared like [`Identity::is_placeholder`]). The
    /// one block-list rule of the workspace.
    /// A pseudonym carries the judgement made on its value when it was recorded.
    pub fn is_blocked(&self, blocked_values: &BTreeSet<String>) -> bool {
        match self.form {
            Form::Plain => {}
            Form::Pseudonym { blocked } => return blocked,
            Form::Redacted => return true,
        }
        let key = characters::block_key(&self.value);
        placeholder::is_placeholder(&self.kind, &key) || blocked_values.contains(key.trim())
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// The hash and blocked flag of a pseudonym's text, `None` if it is not one.
fn parse_pseudonym(text: &str) -> Option<([u8; PSEUDONYM_BYTES], bool)> {
    let blocked = match text.chars().next()? {
        PSEUDONYM_PREFIX => false,
        BLOCKED_PSEUDONYM_PREFIX => true,
        _ => return None,
    };
    let hex = text.get(1..)?.as_bytes();
    if hex.len() != 2 * PSEUDONYM_BYTES {
        return None;
    }
    let nibble = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    };
    let mut hash = [0u8; PSEUDONYM_BYTES];
    for (byte, pair) in hash.iter_mut().zip(hex.chunks_exact(2)) {
        let [high, low] = pair else { return None };
        *byte = (nibble(*high)? << 4) | nibble(*low)?;
    }
    Some((hash, blocked))
}

/// Most digits of an E.164 number (country code included).
const E164_DIGITS_MAX: usize = 15;

/// Digits, a leading `+` (or `00`) and separators, read by libphonenumber with the default
/// region when there is no international prefix; valid numbers only. The stored form is E.164
/// with its `+` (`+821012345678`), so that the printed form reads back as the same number
/// whatever the default region (before libphonenumber it was the digits alone).
fn normalize_phone(text: &str, options: &NormalizeOptions) -> Result<String, PhoneProblem> {
    phone_cache::cached(text, options.default_region.as_ref(), || parse_phone(text, options))
}

/// [`normalize_phone`] without the cache.
fn parse_phone(text: &str, options: &NormalizeOptions) -> Result<String, PhoneProblem> {
    let mut digits = String::with_capacity(text.len());
    let mut plus = false;
    for (idx, c) in text.chars().enumerate() {
        match c {
            '+' if idx == 0 => plus = true,
            '0'..='9' => digits.push(c),
            ' ' | '-' | '.' | '(' | ')' | '/' => {}
            other => return Err(PhoneProblem::UnexpectedCharacter(other)),
        }
    }
    let international = plus || digits.starts_with("00");
    let n_digits = if plus || !international { digits.len() } else { digits.len() - 2 };
    if n_digits > E164_DIGITS_MAX {
        // Also keeps libphonenumber's regular expressions off unbounded input.
        return Err(PhoneProblem::TooManyDigits(n_digits));
    }
    let number = if international {
        let international = if plus { digits.as_str() } else { &digits[2..] };
        phonenumber::parse(None, format!("+{international}"))
    } else {
        let Some(region) = &options.default_region else {
            return Err(PhoneProblem::NoInternationalPrefix);
        };
        let id = region
            .trim()
            .to_ascii_uppercase()
            .parse::<phonenumber::country::Id>()
            .map_err(|_| PhoneProblem::UnknownRegion(region.clone()))?;
        phonenumber::parse(Some(id), &digits)
    }
    .map_err(|error| PhoneProblem::Unreadable(error.to_string()))?;
    let e164 = number.format().mode(phonenumber::Mode::E164).to_string();
    if !number.is_valid() {
        return Err(PhoneProblem::NotValid { country_code: number.code().value(), e164 });
    }
    debug_assert!(is_e164(&e164), "libphonenumber's E.164 form {e164:?}");
    Ok(e164)
}

/// `+` and 1 to 15 digits, the first not 0: the stored form of a phone number.
fn is_e164(value: &str) -> bool {
    value.strip_prefix('+').is_some_and(|digits| {
        (1..=E164_DIGITS_MAX).contains(&digits.len())
            && !digits.starts_with('0')
            && digits.bytes().all(|b| b.is_ascii_digit())
    })
}

/// The stored form of a phone number before it kept its `+`: 8 to 15 digits, the first not 0.
fn is_legacy_phone(value: &str) -> bool {
    (8..=E164_DIGITS_MAX).contains(&value.len()) && !value.starts_with('0') && value.bytes().all(|b| b.is_ascii_digit())
}

impl fmt::Display for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.kind, self.value)
    }
}

#[derive(Serialize)]
struct IdentityRef<'a> {
    kind: std::borrow::Cow<'a, str>,
    value: &'a str,
}

#[derive(Deserialize)]
struct IdentityRepr<'a> {
    #[serde(borrow)]
    kind: std::borrow::Cow<'a, str>,
    value: String,
}

impl Serialize for Identity {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        IdentityRef { kind: self.kind.name(), value: &self.value }.serialize(serializer)
    }
}

impl Identity {
    /// Whether `value` is already in the normalized form of `kind` (then normalizing would
    /// return it unchanged; checked without allocating).
    fn is_normalized(kind: &IdentityKind, value: &str) -> bool {
        if value.is_empty() || value.trim() != value || value.len() > IDENTITY_VALUE_BYTES_MAX {
            return false;
        }
        match kind {
            IdentityKind::Phone => is_e164(value),
            IdentityKind::Email => {
                value.matches('@').count() == 1
                    && !value.starts_with('@')
                    && !value.ends_with('@')
                    && !value.chars().any(|c| c.is_uppercase() || c.is_whitespace())
            }
            IdentityKind::X | IdentityKind::Instagram | IdentityKind::Telegram => {
                !value.starts_with('@') && !value.chars().any(|c| c.is_uppercase() || c.is_whitespace())
            }
            IdentityKind::WhatsApp => value
                .strip_prefix('+')
                .is_some_and(|d| (7..=15).contains(&d.len()) && d.bytes().all(|b| b.is_ascii_digit())),
            IdentityKind::KakaoTalk
            | IdentityKind::Facebook
            | IdentityKind::Line
            | IdentityKind::Chat
            | IdentityKind::Messenger
            | IdentityKind::WebWidget
            | IdentityKind::External(_) => true,
        }
    }
}

impl<'de> Deserialize<'de> for Identity {
    /// Stored identities are already normalized: they are taken as they are when they have the
    /// normalized shape, and normalized again (without a default region) otherwise, so a value
    /// that never was valid is rejected. The look-alike, control-character and libphonenumber
    /// rules are not applied again to a value of normalized shape: they judge input, and a log
    /// written before them must stay readable.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Identity, D::Error> {
        // Only the log (postcard, not human-readable) holds pseudonyms: JSON input that looks
        // like one is an ordinary value, so no input can forge the store's hash.
        let from_log = !deserializer.is_human_readable();
        let repr = IdentityRepr::deserialize(deserializer)?;
        let kind = IdentityKind::parse(&repr.kind).map_err(serde::de::Error::custom)?;
        if from_log {
            if let Some((_, blocked)) = parse_pseudonym(&repr.value) {
                return Ok(Identity { kind, value: repr.value, form: Form::Pseudonym { blocked } });
            }
        }
        if kind == IdentityKind::Phone && is_legacy_phone(&repr.value) {
            // Stored before phones kept their `+` (8 to 15 digits, international by then).
            return Ok(Identity { kind, value: format!("+{}", repr.value), form: Form::Plain });
        }
        if Identity::is_normalized(&kind, &repr.value) {
            return Ok(Identity { kind, value: repr.value, form: Form::Plain });
        }
        Identity::new(kind, &repr.value, &NormalizeOptions::default()).map_err(serde::de::Error::custom)
    }
}
