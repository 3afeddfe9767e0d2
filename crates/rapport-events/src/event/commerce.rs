//! Orders after the sale (refunds, returns, cancellations), custom events from any source, and
//! organizations.

use serde::{Deserialize, Serialize};

use super::{check_currency, check_name, check_opt_name};
use crate::error::Error;
use crate::identity::Identity;
use crate::money::Amount;
use crate::properties::Properties;

/// `customer.order_refunded`: money paid back on an order (partial or full).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderRefunded {
    /// Who ordered.
    pub identity: Identity,
    /// The order.
    pub order_id: String,
    /// The amount refunded.
    pub amount: Amount,
    /// ISO 4217 code (the order's).
    pub currency: String,
}

/// `customer.order_returned`: goods of an order sent back, with the value returned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderReturned {
    /// Who ordered.
    pub identity: Identity,
    /// The order.
    pub order_id: String,
    /// The value returned.
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
    amount.validate()?;
    if amount.ten_thousandths() < 0 {
        return Err(Error::InvalidValue {
            field: "amount",
            value: amount.to_string(),
            expected: "a non-negative amount",
        });
    }
    check_currency(currency)
}

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
