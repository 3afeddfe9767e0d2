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
    /// KakaoTalk messenger (`kakaotalk`; `kakao` is accepted as an alias).
    KakaoTalk,
    /// WhatsApp.
    WhatsApp,
    /// LINE.
    Line,
    /// Telegram.
    Telegram,
    /// Instagram direct messages.
    Instagram,
    /// Facebook Messenger.
    Messenger,
    /// A website's messaging widget (Chatwoot's web widget, Intercom Messenger).
    WebWidget,
    /// X (formerly Twitter) direct messages and mentions (`twitter` is accepted as an alias).
    X,
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
            Channel::WhatsApp => Cow::Borrowed("whatsapp"),
            Channel::Line => Cow::Borrowed("line"),
            Channel::Telegram => Cow::Borrowed("telegram"),
            Channel::Instagram => Cow::Borrowed("instagram"),
            Channel::Messenger => Cow::Borrowed("messenger"),
            Channel::WebWidget => Cow::Borrowed("web_widget"),
            Channel::X => Cow::Borrowed("x"),
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
            "kakaotalk" | "kakao" => Channel::KakaoTalk,
            "whatsapp" => Channel::WhatsApp,
            "line" => Channel::Line,
            "telegram" => Channel::Telegram,
            "instagram" => Channel::Instagram,
            "messenger" => Channel::Messenger,
            "web_widget" => Channel::WebWidget,
            "x" | "twitter" => Channel::X,
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
        for name in [
            "phone",
            "email",
            "chat",
            "sms",
            "social",
            "kakaotalk",
            "whatsapp",
            "line",
            "telegram",
            "instagram",
            "messenger",
            "web_widget",
            "x",
            "web",
            "self_service",
            "other:servicedesk",
        ] {
            let channel: Channel = name.parse().unwrap();
            assert_eq!(channel.to_string(), name);
        }
        assert_eq!("KakaoTalk".parse::<Channel>().unwrap(), Channel::KakaoTalk);
        // The identity kind's first-release name and X's former name are aliases.
        assert_eq!("kakao".parse::<Channel>().unwrap(), Channel::KakaoTalk);
        assert_eq!("twitter".parse::<Channel>().unwrap(), Channel::X);
    }

    #[test]
    fn unknown_channels_are_errors() {
        for bad in ["", "fax", "other:", "other"] {
            assert!(matches!(bad.parse::<Channel>(), Err(Error::UnknownChannel(_))), "{bad:?} was accepted");
        }
    }
}
