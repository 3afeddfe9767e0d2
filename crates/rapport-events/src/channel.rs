//! Where a conversation happens. Persisted as lower-case names; `other:<name>` for the rest.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::Error;
use crate::NAME_BYTES_MAX;

/// A contact channel.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Channel {
    /// Voice call.
    Phone,
    /// E-mail.
    Email,
    /// Web chat.
    Chat,
    /// Text message.
    Sms,
    /// Social networks (Twitter/X, Facebook, Instagram, ...).
    Social,
    /// KakaoTalk messenger.
    KakaoTalk,
    /// Web form.
    Web,
    /// Self-service portal or help center.
    SelfService,
    /// Any other channel, by name (`other:<name>`).
    Other(String),
}

impl Channel {
    /// The persisted name.
    pub fn as_str(&self) -> std::borrow::Cow<'_, str> {
        use std::borrow::Cow;
        match self {
            Channel::Phone => Cow::Borrowed("phone"),
            Channel::Email => Cow::Borrowed("email"),
            Channel::Chat => Cow::Borrowed("chat"),
            Channel::Sms => Cow::Borrowed("sms"),
            Channel::Social => Cow::Borrowed("social"),
            Channel::KakaoTalk => Cow::Borrowed("kakaotalk"),
            Channel::Web => Cow::Borrowed("web"),
            Channel::SelfService => Cow::Borrowed("self_service"),
            Channel::Other(name) => Cow::Owned(format!("other:{name}")),
        }
    }
}

impl FromStr for Channel {
    type Err = Error;
    fn from_str(text: &str) -> Result<Channel, Error> {
        let lower = text.trim().to_ascii_lowercase();
        Ok(match lower.as_str() {
            "phone" => Channel::Phone,
            "email" => Channel::Email,
            "chat" => Channel::Chat,
            "sms" => Channel::Sms,
            "social" => Channel::Social,
            "kakaotalk" => Channel::KakaoTalk,
            "web" => Channel::Web,
            "self_service" => Channel::SelfService,
            other => match other.strip_prefix("other:") {
                Some(name) if !name.is_empty() && name.len() <= NAME_BYTES_MAX => Channel::Other(name.to_owned()),
                _ => return Err(Error::UnknownChannel(text.to_owned())),
            },
        })
    }
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.as_str())
    }
}

impl Serialize for Channel {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.as_str())
    }
}

impl<'de> Deserialize<'de> for Channel {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Channel, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for name in ["phone", "email", "chat", "sms", "social", "kakaotalk", "web", "self_service", "other:servicedesk"]
        {
            let channel: Channel = name.parse().unwrap();
            assert_eq!(channel.to_string(), name);
        }
        assert_eq!("KakaoTalk".parse::<Channel>().unwrap(), Channel::KakaoTalk);
    }

    #[test]
    fn unknown_channels_are_errors() {
        for bad in ["", "fax", "other:", "other"] {
            assert!(matches!(bad.parse::<Channel>(), Err(Error::UnknownChannel(_))), "{bad:?} was accepted");
        }
    }
}
