//! Organizations (B2B customer accounts): the fold of `organization.updated`, and which
//! organization a customer belongs to.
//!
//! Membership rule (docs/events.md, `organization.updated`): a customer belongs to the
//! organization its `organization_id` trait names (the latest value, as every trait); without
//! that trait, to the organization that claims the domain of one of its e-mail addresses (its
//! identities in order; exact, lower-case domain match). A domain claimed by two organizations
//! belongs to the one that claimed it last. Trait values and identities are sealed in the log,
//! so membership is read through the key store when asked, never stored.

use std::collections::{BTreeMap, HashMap, HashSet};

use rapport_events::{CustomerId, CxEvent, IdentityKind, OrganizationUpdated};
use rapport_log::Position;

use crate::error::Result;
use crate::projection::Projection;
use crate::store::Store;

/// The trait that names a customer's organization.
pub const ORGANIZATION_TRAIT: &str = "organization_id";

/// An organization as its `organization.updated` events left it.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct Organization {
    /// Its id.
    pub id: String,
    /// Its name, if one was given.
    pub name: Option<String>,
    /// The e-mail domains it claims (those it still holds: a later claim by another
    /// organization takes a domain away).
    pub domains: Vec<String>,
}

/// Every organization, and which one holds each domain.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub(crate) struct Organizations {
    by_id: BTreeMap<String, Organization>,
    #[serde(serialize_with = "rapport_types::sorted::map")]
    by_domain: HashMap<String, String>,
}

impl Organizations {
    /// Folds one `organization.updated`: the name if given, and the domain list if given
    /// (replacing the organization's list; each listed domain moves to it).
    pub(crate) fn apply(&mut self, update: &OrganizationUpdated) {
        let id = &update.organization_id;
        let organization =
            self.by_id.entry(id.clone()).or_insert_with(|| Organization { id: id.clone(), ..Organization::default() });
        if let Some(name) = &update.name {
            organization.name = Some(name.clone());
        }
        let Some(domains) = &update.domains else { return };
        for old in std::mem::take(&mut organization.domains) {
            if self.by_domain.get(&old) == Some(id) {
                self.by_domain.remove(&old);
            }
        }
        let mut listed: Vec<String> = domains.clone();
        listed.sort();
        listed.dedup();
        for domain in &listed {
            if let Some(previous) = self.by_domain.insert(domain.clone(), id.clone()) {
                if &previous != id {
                    if let Some(other) = self.by_id.get_mut(&previous) {
                        other.domains.retain(|d| d != domain);
                    }
                }
            }
        }
        if let Some(organization) = self.by_id.get_mut(id) {
            organization.domains = listed;
        }
    }

    /// The organization with this id.
    pub(crate) fn get(&self, id: &str) -> Option<&Organization> {
        self.by_id.get(id)
    }

    /// The organization holding an e-mail domain.
    pub(crate) fn by_domain(&self, domain: &str) -> Option<&Organization> {
        self.by_domain.get(domain).and_then(|id| self.by_id.get(id))
    }

    /// Every organization, by id.
    pub(crate) fn all(&self) -> impl Iterator<Item = &Organization> {
        self.by_id.values()
    }
}

/// Revealed trait-setting events, by position: one reveal per event for a whole query.
pub(crate) type RevealCache = HashMap<Position, CxEvent>;

impl Store {
    /// Every organization recorded, by id.
    pub fn organizations(&self) -> Result<Vec<Organization>> {
        self.catch_up()?;
        Ok(self.projection.read().organizations.all().cloned().collect())
    }

    /// The organization `customer` (any id it had: merged ids resolve) belongs to, by the rule
    /// of the module documentation; `None` when it belongs to none (or is unknown or erased).
    /// An `organization_id` trait naming an organization never described by an
    /// `organization.updated` still counts: the organization is returned with that id alone.
    pub fn organization_of(&self, customer: CustomerId) -> Result<Option<Organization>> {
        self.catch_up()?;
        let erased = self.erased_keys();
        let projection = self.projection.read();
        self.organization_in(&projection, customer, &erased, &mut RevealCache::new())
    }

    /// The current value of trait `name` of `profile`, revealed: trait values are sealed in the
    /// log, so the event that set it is read and revealed — once per event for all the lookups
    /// that share `revealed`.
    pub(crate) fn trait_text(
        &self,
        profile: &rapport_customer::Profile,
        name: &str,
        erased: &HashSet<u64>,
        revealed: &mut RevealCache,
    ) -> Result<Option<String>> {
        let Some(value) = profile.traits.get(name) else { return Ok(None) };
        if let std::collections::hash_map::Entry::Vacant(entry) = revealed.entry(value.position) {
            let recorded = crate::store::read_recorded(self.local(), value.position)?;
            entry.insert(self.privacy.reveal_recorded(&recorded, erased)?.0);
        }
        Ok(match revealed.get(&value.position) {
            Some(CxEvent::CustomerIdentified(identified)) => identified.traits.get(name).cloned(),
            _ => None,
        })
    }

    /// [`Store::organization_of`] on a projection the caller has locked.
    pub(crate) fn organization_in(
        &self,
        projection: &Projection,
        customer: CustomerId,
        erased: &HashSet<u64>,
        revealed: &mut RevealCache,
    ) -> Result<Option<Organization>> {
        let customer = projection.customers.resolver().resolve(customer);
        let Some(profile) = projection.customers.profile(customer) else { return Ok(None) };
        if profile.erased_at.is_some() {
            return Ok(None);
        }
        if let Some(id) = self.trait_text(profile, ORGANIZATION_TRAIT, erased, revealed)? {
            if !id.trim().is_empty() {
                let known = projection.organizations.get(&id).cloned();
                return Ok(Some(known.unwrap_or(Organization { id, ..Organization::default() })));
            }
        }
        for identity in projection.customers.identities(customer) {
            if identity.kind() != &IdentityKind::Email {
                continue;
            }
            let revealed = self.privacy.reveal_identity(&identity, erased)?;
            let Some((_, domain)) = revealed.value().rsplit_once('@') else { continue };
            if let Some(organization) = projection.organizations.by_domain(domain) {
                return Ok(Some(organization.clone()));
            }
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn update(id: &str, name: Option<&str>, domains: Option<&[&str]>) -> OrganizationUpdated {
        OrganizationUpdated {
            organization_id: id.into(),
            name: name.map(Into::into),
            domains: domains.map(|d| d.iter().map(|s| (*s).to_owned()).collect()),
        }
    }

    #[test]
    fn updates_replace_lists_keep_names_and_the_last_claim_of_a_domain_wins() {
        let mut orgs = Organizations::default();
        orgs.apply(&update("acme", Some("ACME"), Some(&["acme.example", "acme.test"])));
        orgs.apply(&update("acme", None, None));
        assert_eq!(orgs.get("acme").unwrap().name.as_deref(), Some("ACME"), "a name left out does not change");
        assert_eq!(orgs.by_domain("acme.test").unwrap().id, "acme");
        // Beta claims acme.test: it moves, and ACME's list no longer shows it.
        orgs.apply(&update("beta", Some("Beta"), Some(&["acme.test"])));
        assert_eq!(orgs.by_domain("acme.test").unwrap().id, "beta");
        assert_eq!(orgs.get("acme").unwrap().domains, ["acme.example"]);
        // ACME's new list replaces its old one; Beta's claim on acme.test stays.
        orgs.apply(&update("acme", None, Some(&["acme.io"])));
        assert!(orgs.by_domain("acme.example").is_none());
        assert_eq!(orgs.by_domain("acme.io").unwrap().id, "acme");
        assert_eq!(orgs.by_domain("acme.test").unwrap().id, "beta");
        assert_eq!(orgs.all().map(|o| o.id.as_str()).collect::<Vec<_>>(), ["acme", "beta"]);
    }
}
