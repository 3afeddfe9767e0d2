//! Orders after the sale (refunds, returns, cancellations), custom events from any source, and
//! organizations.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::{check_currency, check_name, check_opt_name, OrderPlaced};
use crate::error::Error;
use crate::identity::Identity;
use crate::money::Amount;
use crate::properties::Properties;

/// `customer.order_refunded`: money paid back on an order (partial or full). In JSON, `amount`
/// is a decimal of the currency (a number or a string), stored in minor units.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderRefunded {
    /// Who ordered.
    pub identity: Identity,
    /// The order.
    pub order_id: String,
    /// The amount refunded, in minor units of `currency`.
    pub amount: Amount,
    /// ISO 4217 code (the order's).
    pub currency: String,
}

/// `customer.order_returned`: goods of an order sent back, with the value returned (in JSON a
/// decimal of the currency, stored in minor units).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderReturned {
    /// Who ordered.
    pub identity: Identity,
    /// The order.
    pub order_id: String,
    /// The value returned, in minor units of `currency`.
    pub amount: Amount,
    /// ISO 4217 code (the order's).
    pub currency: String,
}

/// `customer.order_cancelled`: the order does not happen; it is not a purchase.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderCancelled {
    /// Who ordered.
    pub identity: Identity,
    /// The order.
    pub order_id: String,
}

pub(super) fn validate_money(order_id: &str, amount: &Amount, currency: &str) -> Result<(), Error> {
    check_name("order_id", order_id)?;
    check_currency(currency)?;
    amount.validate()?;
    if amount.minor() < 0 {
        return Err(Error::InvalidValue {
            field: "amount",
            value: amount.format(currency),
            expected: "a non-negative amount",
        });
    }
    Ok(())
}

/// The JSON form of an order event with money: `amount` as given (a number or a string).
#[derive(Deserialize)]
struct MoneyJson {
    identity: Identity,
    order_id: String,
    amount: serde_json::Value,
    currency: String,
}

/// The postcard form: the fields in order, `amount` in minor units.
#[derive(Deserialize)]
struct MoneyWire {
    identity: Identity,
    order_id: String,
    amount: Amount,
    currency: String,
}

/// Serde for the order events with money (`identity`, `order_id`, `amount`, `currency`): in
/// postcard the derived layout (amount as minor units); in JSON the amount as a decimal of the
/// currency, read with [`Amount::from_json`] (checked against the currency's exponent).
macro_rules! money_serde {
    ($ty:ident) => {
        impl Serialize for $ty {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                use serde::ser::SerializeStruct;
                let human = serializer.is_human_readable();
                let mut state = serializer.serialize_struct(stringify!($ty), 4)?;
                state.serialize_field("identity", &self.identity)?;
                state.serialize_field("order_id", &self.order_id)?;
                if human {
                    state.serialize_field("amount", &self.amount.to_json(&self.currency))?;
                } else {
                    state.serialize_field("amount", &self.amount)?;
                }
                state.serialize_field("currency", &self.currency)?;
                state.end()
            }
        }

        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<$ty, D::Error> {
                if deserializer.is_human_readable() {
                    let json = MoneyJson::deserialize(deserializer)?;
                    let amount = Amount::from_json(&json.amount, &json.currency).map_err(serde::de::Error::custom)?;
                    Ok($ty { identity: json.identity, order_id: json.order_id, amount, currency: json.currency })
                } else {
                    let wire = MoneyWire::deserialize(deserializer)?;
                    Ok($ty {
                        identity: wire.identity,
                        order_id: wire.order_id,
                        amount: wire.amount,
                        currency: wire.currency,
                    })
                }
            }
        }
    };
}

money_serde!(OrderPlaced);
money_serde!(OrderRefunded);
money_serde!(OrderReturned);

/// `customer.event`: anything a source tracks about a customer (Segment's `track`, Zendesk's
/// Events API): a name and bounded properties, shown on the timeline and usable in segments.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomerEvent {
    /// Who.
    pub identity: Identity,
    /// What happened (`checkout_started`, `app_opened`); a label, not personal.
    pub name: String,
    /// Details (personal: kept sealed like traits).
    #[serde(default)]
    pub properties: Properties,
}

impl CustomerEvent {
    pub(super) fn validate(&self) -> Result<(), Error> {
        check_name("name", &self.name)?;
        crate::check_no_control_chars("name", &self.name)?;
        self.properties.validate("properties")
    }
}

/// E-mail domains per organization, at most.
pub const ORGANIZATION_DOMAINS_MAX: usize = 100;

/// `organization.updated`: an organization (a B2B customer account) and the e-mail domains
/// whose addresses belong to it. Fields left out do not change; `domains` replaces the list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrganizationUpdated {
    /// Its id (what the `organization_id` trait of a customer names).
    pub organization_id: String,
    /// Its name.
    #[serde(default)]
    pub name: Option<String>,
    /// E-mail domains (`example.com`), lower case; none = unchanged.
    #[serde(default)]
    pub domains: Option<Vec<String>>,
}

impl OrganizationUpdated {
    pub(super) fn validate(&self) -> Result<(), Error> {
        check_name("organization_id", &self.organization_id)?;
        check_opt_name("name", &self.name)?;
        let Some(domains) = &self.domains else { return Ok(()) };
        if domains.len() > ORGANIZATION_DOMAINS_MAX {
            return Err(Error::TooLong { field: "domains", actual: domains.len(), limit: ORGANIZATION_DOMAINS_MAX });
        }
        for domain in domains {
            check_name("domain", domain)?;
            let valid = domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && domain.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-');
            if !valid {
                return Err(Error::InvalidValue {
                    field: "domain",
                    value: domain.clone(),
                    expected: "a lower-case DNS name such as example.com (IDNs in punycode)",
                });
            }
        }
        Ok(())
    }
}
