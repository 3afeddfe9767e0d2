//! The one error type of `rapport-events`.

/// Result alias for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can be wrong with an identity, a channel, an event or its encoding.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The identity kind is not one Rapport knows.
    #[error("unknown identity kind {0:?} (expected email, phone, kakaotalk, whatsapp, line, telegram, instagram, messenger, facebook, x, web_widget, chat or external:<system>)")]
    UnknownIdentityKind(String),
    /// The identity value is empty after normalization.
    #[error("empty {kind} identity")]
    EmptyIdentity {
        /// The kind.
        kind: String,
    },
    /// The value cannot be normalized for its kind.
    #[error("invalid {kind} identity {value:?}: {reason}")]
    InvalidIdentity {
        /// The kind.
        kind: String,
        /// The value as given.
        value: String,
        /// What is wrong.
        reason: String,
    },
    /// The channel name is not one Rapport knows.
    #[error("unknown channel {0:?} (expected phone, email, chat, sms, social, kakaotalk, whatsapp, line, telegram, instagram, messenger, web_widget, x, web, self_service or other:<name>)")]
    UnknownChannel(String),
    /// An enumerated field has a value outside its set.
    #[error("invalid {field} {value:?} (expected one of {expected})")]
    InvalidValue {
        /// The field.
        field: &'static str,
        /// The value given.
        value: String,
        /// The accepted values.
        expected: &'static str,
    },
    /// A field is over its size limit.
    #[error("{field} is {actual} bytes, over the limit of {limit}")]
    TooLong {
        /// The field.
        field: &'static str,
        /// Its size.
        actual: usize,
        /// The limit.
        limit: usize,
    },
    /// The event type stored in the log is not one this build knows.
    #[error("unknown event type {0:?}")]
    UnknownEventType(String),
    /// The schema version is newer than this build, or has no upcaster.
    #[error("event type {event_type:?} has schema version {version}; this build reads up to {current}")]
    UnsupportedSchemaVersion {
        /// The event type.
        event_type: String,
        /// The stored version.
        version: u16,
        /// The newest version this build knows.
        current: u16,
    },
    /// The payload bytes do not decode as the stored type and version.
    #[error("payload of {event_type:?} v{version} does not decode: {reason}")]
    Decode {
        /// The event type.
        event_type: String,
        /// The schema version.
        version: u16,
        /// The decoder's message.
        reason: String,
    },
    /// Encoding failed (should not happen for valid events).
    #[error("cannot encode {event_type:?}: {reason}")]
    Encode {
        /// The event type.
        event_type: &'static str,
        /// The encoder's message.
        reason: String,
    },
    /// A monetary amount is not a decimal (a JSON number or a string of digits with an optional
    /// sign and point).
    #[error("invalid amount {0:?}")]
    InvalidAmount(String),
    /// A monetary amount has more fraction digits than its currency's minor unit.
    #[error("{field} {value:?} has more fraction digits than {currency} allows (ISO 4217 exponent {exponent})")]
    AmountPrecision {
        /// The field (`"amount"`).
        field: &'static str,
        /// The value as given (at most 64 characters of it).
        value: String,
        /// The currency code.
        currency: String,
        /// The currency's exponent: the fraction digits allowed.
        exponent: u8,
    },
    /// A value holds a control character or a bidirectional override
    /// ([`check_no_control_chars`](crate::check_no_control_chars)).
    #[error("{field} {value:?} contains the control character {character:?} (U+{code:04X})", code = u32::from(*.character))]
    ControlCharacter {
        /// What the value is (`"email identity"`, `"ticket id"`).
        field: String,
        /// The value as given (printed escaped).
        value: String,
        /// The first offending character.
        character: char,
    },
    /// An e-mail address or handle that could pass for another one (docs/events.md, identities).
    #[error("{kind} identity {value:?} is refused as a possible look-alike: {reason}")]
    ConfusableIdentity {
        /// The kind.
        kind: String,
        /// The value as given (printed escaped).
        value: String,
        /// What makes it a look-alike.
        reason: crate::ConfusableReason,
    },
    /// A phone number that does not parse as a valid E.164 number.
    #[error("invalid phone number {value:?}: {reason}")]
    InvalidPhone {
        /// The value as given (printed escaped).
        value: String,
        /// What is wrong.
        reason: crate::PhoneProblem,
    },
    /// A monetary amount's absolute value is over the limit.
    #[error("amount of {minor} minor units is beyond the limit of ±{limit}")]
    AmountOutOfRange {
        /// The amount, in minor units of its currency (`i128::MAX` when even that cannot hold
        /// it).
        minor: i128,
        /// [`crate::AMOUNT_MINOR_MAX`].
        limit: i64,
    },
}
