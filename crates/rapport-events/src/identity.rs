//! Customer identities (`kind:value`), normalized so that one person's address written two ways
//! is one identity: e-mail trimmed and lower-cased, phone numbers as E.164 digits, handles
//! without `@`. Invalid input is a typed error, never a silently different identity.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::Error;
use crate::{IDENTITY_VALUE_BYTES_MAX, NAME_BYTES_MAX};

/// Options for normalization.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NormalizeOptions {
    /// Country calling code (digits, e.g. `"82"`) prefixed to phone numbers written without an
    /// international prefix (`+` or `00`); a leading trunk `0` is dropped first. Without it such
    /// numbers are taken as already international.
    pub default_country_code: Option<String>,
}

/// The kind of an identity.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum IdentityKind {
    /// E-mail address.
    Email,
    /// Phone number (E.164 digits).
    Phone,
    /// KakaoTalk user id.
    Kakao,
    /// Twitter/X handle.
    Twitter,
    /// Facebook id.
    Facebook,
    /// Instagram handle.
    Instagram,
    /// LINE user id.
    Line,
    /// Web chat visitor id.
    Chat,
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
            "kakao" => return Ok(IdentityKind::Kakao),
            "chat" => return Ok(IdentityKind::Chat),
            _ => {}
        }
        let lower = text.trim().to_ascii_lowercase();
        Ok(match lower.as_str() {
            "email" => IdentityKind::Email,
            "phone" => IdentityKind::Phone,
            "kakao" => IdentityKind::Kakao,
            "twitter" => IdentityKind::Twitter,
            "facebook" => IdentityKind::Facebook,
            "instagram" => IdentityKind::Instagram,
            "line" => IdentityKind::Line,
            "chat" => IdentityKind::Chat,
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
            IdentityKind::Kakao => Cow::Borrowed("kakao"),
            IdentityKind::Twitter => Cow::Borrowed("twitter"),
            IdentityKind::Facebook => Cow::Borrowed("facebook"),
            IdentityKind::Instagram => Cow::Borrowed("instagram"),
            IdentityKind::Line => Cow::Borrowed("line"),
            IdentityKind::Chat => Cow::Borrowed("chat"),
            IdentityKind::External(system) => Cow::Owned(format!("external:{system}")),
        }
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
}

impl Identity {
    /// Normalizes `value` for `kind`.
    pub fn parse(kind: &str, value: &str, options: &NormalizeOptions) -> Result<Identity, Error> {
        let kind = IdentityKind::parse(kind)?;
        Identity::new(kind, value, options)
    }

    /// Normalizes `value` for an already parsed kind.
    pub fn new(kind: IdentityKind, value: &str, options: &NormalizeOptions) -> Result<Identity, Error> {
        let trimmed = value.trim();
        let invalid = |reason: &str| Error::InvalidIdentity {
            kind: kind.name().into_owned(),
            value: value.to_owned(),
            reason: reason.to_owned(),
        };
        if trimmed.is_empty() {
            return Err(Error::EmptyIdentity { kind: kind.name().into_owned() });
        }
        let normalized = match &kind {
            IdentityKind::Email => {
                let lower = trimmed.to_lowercase();
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
            IdentityKind::Phone => normalize_phone(trimmed, options).map_err(|reason| invalid(&reason))?,
            IdentityKind::Twitter | IdentityKind::Instagram => {
                let handle = trimmed.trim_start_matches('@').to_lowercase();
                if handle.is_empty() {
                    return Err(Error::EmptyIdentity { kind: kind.name().into_owned() });
                }
                if handle.chars().any(char::is_whitespace) {
                    return Err(invalid("contains white space"));
                }
                handle
            }
            IdentityKind::Kakao
            | IdentityKind::Facebook
            | IdentityKind::Line
            | IdentityKind::Chat
            | IdentityKind::External(_) => trimmed.to_owned(),
        };
        if normalized.len() > IDENTITY_VALUE_BYTES_MAX {
            return Err(Error::TooLong {
                field: "identity value",
                actual: normalized.len(),
                limit: IDENTITY_VALUE_BYTES_MAX,
            });
        }
        Ok(Identity { kind, value: normalized })
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

    /// The kind.
    pub fn kind(&self) -> &IdentityKind {
        &self.kind
    }

    /// The normalized value.
    pub fn value(&self) -> &str {
        &self.value
    }
}

/// E.164 digits (no `+`): 8 to 15 digits after removing separators and international prefixes.
fn normalize_phone(text: &str, options: &NormalizeOptions) -> Result<String, String> {
    let mut digits = String::with_capacity(text.len());
    let mut international = false;
    for (idx, c) in text.chars().enumerate() {
        match c {
            '+' if idx == 0 => international = true,
            '0'..='9' => digits.push(c),
            ' ' | '-' | '.' | '(' | ')' | '/' => {}
            other => return Err(format!("unexpected character {other:?} in a phone number")),
        }
    }
    if !international {
        if let Some(rest) = digits.strip_prefix("00") {
            digits = rest.to_owned();
        } else if let Some(code) = &options.default_country_code {
            let national = digits.strip_prefix('0').unwrap_or(&digits);
            digits = format!("{code}{national}");
        }
    }
    if digits.starts_with('0') {
        return Err("country code cannot start with 0".to_owned());
    }
    if !(8..=15).contains(&digits.len()) {
        return Err(format!("{} digits; an E.164 number has 8 to 15", digits.len()));
    }
    Ok(digits)
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
            IdentityKind::Phone => value.len() >= 8 && value.len() <= 15 && value.bytes().all(|b| b.is_ascii_digit()),
            IdentityKind::Email => {
                value.matches('@').count() == 1
                    && !value.starts_with('@')
                    && !value.ends_with('@')
                    && !value.chars().any(|c| c.is_uppercase() || c.is_whitespace())
            }
            IdentityKind::Twitter | IdentityKind::Instagram => {
                !value.starts_with('@') && !value.chars().any(|c| c.is_uppercase() || c.is_whitespace())
            }
            IdentityKind::Kakao
            | IdentityKind::Facebook
            | IdentityKind::Line
            | IdentityKind::Chat
            | IdentityKind::External(_) => true,
        }
    }
}

impl<'de> Deserialize<'de> for Identity {
    /// Stored identities are already normalized: they are taken as they are when they are in
    /// normalized form, and normalized again (without a default country code) otherwise, so a
    /// value that never was valid is rejected.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Identity, D::Error> {
        let repr = IdentityRepr::deserialize(deserializer)?;
        let kind = IdentityKind::parse(&repr.kind).map_err(serde::de::Error::custom)?;
        if Identity::is_normalized(&kind, &repr.value) {
            return Ok(Identity { kind, value: repr.value });
        }
        Identity::new(kind, &repr.value, &NormalizeOptions::default()).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(kind: &str, value: &str) -> Result<Identity, Error> {
        Identity::parse(kind, value, &NormalizeOptions::default())
    }

    #[test]
    fn email_is_trimmed_and_lower_cased() {
        assert_eq!(parse("email", "Kim@Example.com ").unwrap(), parse("email", "kim@example.com").unwrap());
        assert_eq!(parse("email", " KIM@EXAMPLE.COM").unwrap().value(), "kim@example.com");
        for bad in ["kim", "@example.com", "kim@", "a@b@c", "k im@example.com"] {
            assert!(matches!(parse("email", bad), Err(Error::InvalidIdentity { .. })), "{bad:?} accepted");
        }
    }

    #[test]
    fn phones_become_e164_digits() {
        let korea = NormalizeOptions { default_country_code: Some("82".into()) };
        let national = Identity::parse("phone", "010-1234-5678", &korea).unwrap();
        let international = Identity::parse("phone", "+82 10 1234 5678", &korea).unwrap();
        let double_zero = Identity::parse("phone", "0082 (10) 1234.5678", &korea).unwrap();
        assert_eq!(national.value(), "821012345678");
        assert_eq!(national, international);
        assert_eq!(national, double_zero);
        assert_eq!(parse("phone", "+1 (415) 555-0100").unwrap().value(), "14155550100");
        for bad in ["12ab34", "+1 555", "0123456789", "+1234567890123456", "ext. 12"] {
            assert!(matches!(parse("phone", bad), Err(Error::InvalidIdentity { .. })), "{bad:?} accepted");
        }
    }

    #[test]
    fn handles_and_external_ids() {
        assert_eq!(parse("twitter", "@KimSupport").unwrap().value(), "kimsupport");
        assert_eq!(parse("external:cdnow", "00012").unwrap().to_string(), "external:cdnow:00012");
        assert_eq!(parse("kakao", " kim_1 ").unwrap().value(), "kim_1");
        assert!(parse("external:cdnow", "00012").unwrap().kind().is_external());
    }

    #[test]
    fn empty_and_unknown_are_errors() {
        assert!(matches!(parse("email", "   "), Err(Error::EmptyIdentity { .. })));
        assert!(matches!(parse("twitter", "@"), Err(Error::EmptyIdentity { .. })));
        assert!(matches!(parse("fax", "123"), Err(Error::UnknownIdentityKind(_))));
        assert!(matches!(parse("external:", "1"), Err(Error::UnknownIdentityKind(_))));
        assert!(matches!(parse("external:a b", "1"), Err(Error::UnknownIdentityKind(_))));
    }

    #[test]
    fn pair_form_round_trips() {
        let options = NormalizeOptions::default();
        for text in ["email:kim@example.com", "phone:14155550100", "external:cdnow:00012", "kakao:kim_1"] {
            assert_eq!(Identity::parse_pair(text, &options).unwrap().to_string(), text);
        }
        assert!(Identity::parse_pair("nokind", &options).is_err());
    }

    #[test]
    fn serde_round_trip() {
        let identity = parse("phone", "+82 10 1234 5678").unwrap();
        let json = serde_json::to_string(&identity).unwrap();
        assert_eq!(json, r#"{"kind":"phone","value":"821012345678"}"#);
        assert_eq!(serde_json::from_str::<Identity>(&json).unwrap(), identity);
    }
}
