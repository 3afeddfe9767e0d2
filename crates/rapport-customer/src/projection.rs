//! The customer-360 projection: resolution state plus one [`Profile`] per surviving customer,
//! folded event by event in log order. A split rebuilds the two profiles from the log, through
//! a reader the caller passes in (this crate does no I/O). [`CustomerTotals`] (the latest
//! time any customer was seen, orders per currency, buyers) is kept up to date by the fold, so
//! the default observation end and the reporting currency cost O(1), not a pass over every
//! profile.

use std::collections::BTreeMap;

use rapport_events::{CustomerId, CxEvent, Identity, TicketId};
use rapport_types::{Position, Timestamp};

use crate::profile::{CurrencyCode, MergeConflict, Profile};
use crate::resolution::{self, FastMap, ResolutionOptions, Resolver, ResolverView};

/// An event as the projection sees it.
#[derive(Debug, Clone)]
pub struct Touch {
    /// Log position.
    pub position: Position,
    /// The ticket whose stream holds the event, if any.
    pub ticket: Option<TicketId>,
    /// The event.
    pub event: CxEvent,
    /// Domain time (the event's occurred-at).
    pub at: Timestamp,
    /// Derived by the store from another event.
    pub derived: bool,
}

/// Reads an older event by position (for split rebuilds). `Ok(None)` means the event is
/// deliberately left out of this fold (a replay up to a point in time); a reader over the whole
/// log returns an error for a position it cannot read, and for one that is missing. Every
/// error stops the fold: [`CustomerProjection::apply`] returns it and changes nothing.
pub type ReadAt<'r, E> = dyn FnMut(Position) -> Result<Option<Touch>, E> + 'r;

/// Sums over every surviving profile, maintained by the fold (exactly what a pass over the
/// profiles would compute; a model test checks it after every event).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CustomerTotals {
    /// The latest `last_seen` of any profile (`None` without customers).
    pub latest_seen: Option<Timestamp>,
    /// Placed orders per currency ([`crate::CurrencyTotals::count`] summed over the profiles:
    /// cancelled and refunded ones included); currencies with no order are absent.
    pub orders_by_currency: BTreeMap<CurrencyCode, u64>,
    /// Profiles with at least one placed order (any currency).
    pub buyers: u64,
}

impl CustomerTotals {
    /// Placed orders over every currency.
    pub fn orders(&self) -> u64 {
        self.orders_by_currency.values().sum()
    }

    /// The currency of most orders (ties: the smaller code), `None` without orders.
    pub fn main_currency(&self) -> Option<CurrencyCode> {
        self.orders_by_currency.iter().max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0))).map(|(code, _)| *code)
    }

    /// Adds (`add`) or takes away the orders of one profile.
    fn count(&mut self, profile: &Profile, add: bool) {
        let mut any = false;
        for line in profile.orders.lines.iter().filter(|line| line.day.is_some()) {
            any = true;
            let count = self.orders_by_currency.entry(line.currency).or_default();
            *count = if add { count.saturating_add(1) } else { count.saturating_sub(1) };
            if *count == 0 {
                self.orders_by_currency.remove(&line.currency);
            }
        }
        if any {
            self.buyers = if add { self.buyers.saturating_add(1) } else { self.buyers.saturating_sub(1) };
        }
    }

    fn seen(&mut self, at: Option<Timestamp>) {
        self.latest_seen = self.latest_seen.max(at);
    }
}

/// Whether folding the event may change a profile's orders.
fn is_order_event(event: &CxEvent) -> bool {
    matches!(
        event,
        CxEvent::OrderPlaced(_) | CxEvent::OrderRefunded(_) | CxEvent::OrderReturned(_) | CxEvent::OrderCancelled(_)
    )
}

/// The profiles of the surviving customers, in a `Vec` with an index by customer id (ids are
/// dense from 1): no hashing per event. A profile that goes away (a merge) leaves its place to
/// the last one, in fold order, so a rebuild and a snapshot-loaded projection hold them in the
/// same order. Encoded as the profiles alone; the index is rebuilt when decoded.
#[derive(Debug, Clone, Default)]
struct ProfileTable {
    /// By customer id − 1: the profile's place in `profiles`, `NO_PROFILE` for none.
    index: Vec<u32>,
    profiles: Vec<Profile>,
}

const NO_PROFILE: u32 = u32::MAX;

impl ProfileTable {
    fn place(&self, customer: CustomerId) -> Option<usize> {
        let idx = usize::try_from(customer.0.checked_sub(1)?).ok()?;
        match self.index.get(idx) {
            Some(place) if *place != NO_PROFILE => Some(*place as usize),
            _ => None,
        }
    }

    fn set_place(&mut self, customer: CustomerId, place: u32) {
        let Some(idx) = customer.0.checked_sub(1).and_then(|idx| usize::try_from(idx).ok()) else { return };
        if self.index.len() <= idx {
            self.index.resize(idx + 1, NO_PROFILE);
        }
        if let Some(slot) = self.index.get_mut(idx) {
            *slot = place;
        }
    }

    fn get(&self, customer: CustomerId) -> Option<&Profile> {
        self.profiles.get(self.place(customer)?)
    }

    fn get_mut(&mut self, customer: CustomerId) -> Option<&mut Profile> {
        let place = self.place(customer)?;
        self.profiles.get_mut(place)
    }

    fn contains_key(&self, customer: CustomerId) -> bool {
        self.place(customer).is_some()
    }

    fn get_or_insert(&mut self, customer: CustomerId) -> &mut Profile {
        if self.place(customer).is_none() {
            self.insert(customer, Profile::new(customer));
        }
        let place = self.place(customer).unwrap_or(usize::MAX);
        let len = self.profiles.len();
        match self.profiles.get_mut(place) {
            Some(profile) => profile,
            None => unreachable!("customer {customer} was just given a profile ({len} profiles)"),
        }
    }

    fn insert(&mut self, customer: CustomerId, profile: Profile) {
        debug_assert_eq!(profile.id, customer, "a profile is filed under its own id");
        if let Some(current) = self.get_mut(customer) {
            *current = profile;
            return;
        }
        // Profiles are one per customer id: far below 2^32 in any store that fits in memory.
        let place = u32::try_from(self.profiles.len()).unwrap_or(NO_PROFILE);
        assert!(place != NO_PROFILE, "profile places exhausted at {} profiles", self.profiles.len());
        self.profiles.push(profile);
        self.set_place(customer, place);
    }

    fn remove(&mut self, customer: CustomerId) -> Option<Profile> {
        let place = self.place(customer)?;
        if place >= self.profiles.len() {
            return None;
        }
        let removed = self.profiles.swap_remove(place);
        self.set_place(customer, NO_PROFILE);
        if let Some(moved) = self.profiles.get(place).map(|p| p.id) {
            self.set_place(moved, place as u32);
        }
        Some(removed)
    }

    fn values(&self) -> std::slice::Iter<'_, Profile> {
        self.profiles.iter()
    }

    fn len(&self) -> usize {
        self.profiles.len()
    }

    fn is_empty(&self) -> bool {
        self.profiles.is_empty()
    }
}

impl serde::Serialize for ProfileTable {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serde::Serialize::serialize(&self.profiles, serializer)
    }
}

impl<'de> serde::Deserialize<'de> for ProfileTable {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<ProfileTable, D::Error> {
        let profiles: Vec<Profile> = serde::Deserialize::deserialize(deserializer)?;
        // Exactly as long as it needs (a `Vec` grown by pushes keeps up to half again).
        let mut table = ProfileTable { index: Vec::new(), profiles: Vec::with_capacity(profiles.len()) };
        for profile in profiles {
            if profile.id.0 == 0 || table.contains_key(profile.id) {
                return Err(serde::de::Error::custom(format!("profile {} is invalid or listed twice", profile.id)));
            }
            let id = profile.id;
            table.insert(id, profile);
        }
        Ok(table)
    }
}

/// Identity resolution plus profiles.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct CustomerProjection {
    /// The position after the latest event applied (0 before any). Invariant: every event
    /// folded is below it, and an event whose fold failed left it (and everything else) as it was.
    checkpoint: Position,
    options: ResolutionOptions,
    resolver: Resolver,
    profiles: ProfileTable,
    /// The requester of each ticket, as the resolver's handle of the identity.
    #[serde(serialize_with = "rapport_types::sorted::map")]
    ticket_requester: FastMap<TicketId, u32>,
    totals: CustomerTotals,
    /// Customers whose profile the event being folded touched (scratch, empty between events).
    touched: Vec<CustomerId>,
}

impl CustomerProjection {
    /// An empty projection.
    pub fn new(options: ResolutionOptions) -> CustomerProjection {
        CustomerProjection { options, ..CustomerProjection::default() }
    }

    /// The resolution options.
    pub fn options(&self) -> &ResolutionOptions {
        &self.options
    }

    /// The position after the latest event applied (0 before any).
    pub fn checkpoint(&self) -> Position {
        self.checkpoint
    }

    /// The resolution state (for planning on an overlay).
    pub fn resolver(&self) -> &Resolver {
        &self.resolver
    }

    /// The customer that holds `identity`.
    pub fn owner(&self, identity: &Identity) -> Option<CustomerId> {
        self.resolver.owner(identity)
    }

    /// The profile of a customer; merged ids resolve to the survivor.
    pub fn profile(&self, customer: CustomerId) -> Option<&Profile> {
        self.profiles.get(self.resolver.resolve(customer))
    }

    /// The profile of the customer holding `identity`.
    pub fn profile_of(&self, identity: &Identity) -> Option<&Profile> {
        self.owner(identity).and_then(|customer| self.profiles.get(customer))
    }

    /// The identities of a customer, sorted.
    pub fn identities(&self, customer: CustomerId) -> Vec<Identity> {
        let mut identities: Vec<Identity> = self.resolver.identities_of(customer).cloned().collect();
        identities.sort();
        identities
    }

    /// Sums over every profile (latest time seen, orders per currency, buyers), kept by the
    /// fold: O(1).
    pub fn totals(&self) -> &CustomerTotals {
        &self.totals
    }

    /// Every surviving customer's profile, in no particular order (no sort, no copy).
    pub fn profiles_unordered(&self) -> impl Iterator<Item = &Profile> {
        self.profiles.values()
    }

    /// Every surviving customer's profile, in id order.
    pub fn profiles(&self) -> Vec<&Profile> {
        let mut profiles: Vec<&Profile> = self.profiles.values().collect();
        profiles.sort_by_key(|p| p.id);
        profiles
    }

    /// Number of surviving customers.
    pub fn len(&self) -> usize {
        self.profiles.len()
    }

    /// Whether there is no customer.
    pub fn is_empty(&self) -> bool {
        self.profiles.is_empty()
    }

    /// The requester identity of a ticket.
    pub fn ticket_requester(&self, ticket: &TicketId) -> Option<&Identity> {
        self.ticket_requester.get(ticket).and_then(|handle| self.resolver.identity(*handle))
    }

    /// The customer a ticket's requester belongs to now.
    /// The customer who owns the requester identity of a ticket (`None`: no such ticket).
    pub fn requester_owner(&self, ticket: Option<&TicketId>) -> Option<CustomerId> {
        let handle = ticket.and_then(|t| self.ticket_requester.get(t))?;
        self.resolver.owner_of_handle(*handle)
    }

    fn profile_mut(&mut self, customer: CustomerId) -> &mut Profile {
        self.touched.push(customer);
        self.profiles.get_or_insert(customer)
    }

    /// Takes the orders of a profile out of the totals before it changes (or goes away).
    fn uncount(&mut self, customer: CustomerId) {
        if let Some(profile) = self.profiles.get(customer) {
            self.totals.count(profile, false);
        }
    }

    /// Puts the orders of a profile (back) into the totals.
    fn recount(&mut self, customer: CustomerId) {
        if let Some(profile) = self.profiles.get(customer) {
            self.totals.count(profile, true);
        }
    }

    /// Folds one event (positions in order, each once). A split reads the customer's older
    /// events through `read`; if that fails, the error is returned, nothing changes and the
    /// checkpoint stays before this event.
    pub fn apply<E>(&mut self, touch: &Touch, read: &mut ReadAt<'_, E>) -> Result<(), E> {
        self.touched.clear();
        let folded = self.fold(touch, read);
        // Only touched profiles moved their last seen; the others keep theirs, so the latest
        // over every profile is the latest of the old value and theirs.
        let touched = std::mem::take(&mut self.touched);
        for customer in &touched {
            let seen = self.profiles.get(*customer).and_then(|p| p.last_seen);
            self.totals.seen(seen);
        }
        self.touched = touched;
        self.touched.clear();
        folded?;
        self.checkpoint = self.checkpoint.max(Position(touch.position.0.saturating_add(1)));
        Ok(())
    }

    fn fold<E>(&mut self, touch: &Touch, read: &mut ReadAt<'_, E>) -> Result<(), E> {
        match &touch.event {
            CxEvent::CustomersSplit(split) => return self.split(touch, split.customer, &split.identities, read),
            CxEvent::CustomersMerged(merged) => {
                // Informational: the merge itself happens when the linking event is folded.
                let survivor = self.resolver.resolve(merged.survivor);
                if self.profiles.contains_key(survivor) {
                    self.profile_mut(survivor).touch(touch.position, touch.at);
                }
            }
            CxEvent::CustomerMergeConflict(conflict) => {
                for customer in &conflict.customers {
                    let customer = self.resolver.resolve(*customer);
                    if self.profiles.contains_key(customer) {
                        self.profile_mut(customer).touch(touch.position, touch.at);
                    }
                }
            }
            CxEvent::CustomerErased(erased) => {
                let customer = self.resolver.resolve(erased.customer);
                let Some(profile) = self.profiles.get_mut(customer) else { return Ok(()) };
                profile.mark_erased(touch.position, touch.at);
                // Later events of its tickets reach nobody; a new message from one of its
                // identities starts a new customer.
                for ticket in &profile.tickets {
                    self.ticket_requester.remove(ticket);
                }
                self.resolver.erase(customer);
            }
            event if !event.identity_slice().is_empty() => self.apply_identified(touch),
            _ => {
                // A ticket event without identities reaches the ticket's requester.
                if let Some(customer) = self.requester_owner(touch.ticket.as_ref()) {
                    let orders = is_order_event(&touch.event);
                    if orders {
                        self.uncount(customer);
                    }
                    let profile = self.profile_mut(customer);
                    profile.touch(touch.position, touch.at);
                    profile.fold(&touch.event, touch.position, touch.at, touch.derived);
                    if orders {
                        self.recount(customer);
                    }
                }
            }
        }
        Ok(())
    }

    fn apply_identified(&mut self, touch: &Touch) {
        let identities = touch.event.identity_slice();
        if let CxEvent::TicketOpened(opened) = &touch.event {
            let handle = self.resolver.intern(&opened.requester);
            self.ticket_requester.insert(opened.ticket_id.clone(), handle);
        }
        let Some(decision) = resolution::decide(&self.resolver, identities, &self.options) else { return };
        // Orders change on an order event and on a merge: the profiles involved leave the
        // totals first and the survivor comes back at the end.
        let recount = is_order_event(&touch.event) || !decision.merged.is_empty();
        if recount {
            for customer in decision.target.iter().chain(&decision.merged) {
                self.uncount(*customer);
            }
        }
        if let Some(target) = decision.target {
            for merged in &decision.merged {
                if let Some(profile) = self.profiles.remove(*merged) {
                    self.profile_mut(target).absorb(profile);
                }
            }
        }
        if let Some((customers, kind)) = &decision.conflict {
            for customer in customers {
                let conflict = MergeConflict { customers: customers.clone(), kind: kind.clone(), at: touch.at };
                self.profile_mut(*customer).conflicts.push(conflict);
            }
        }
        let target = resolution::apply(&mut self.resolver, &decision);
        for separate in &decision.separate {
            if let Some(customer) = self.resolver.owner(separate) {
                self.profile_mut(customer).touch(touch.position, touch.at);
            }
        }
        if recount && decision.target != Some(target) {
            // A new customer (or one `decide` did not name): it was not counted yet.
            self.uncount(target);
        }
        let profile = self.profile_mut(target);
        profile.touch(touch.position, touch.at);
        profile.fold(&touch.event, touch.position, touch.at, touch.derived);
        if recount {
            self.recount(target);
        }
    }

    /// The customers an older event belongs to now (after a split moved identities).
    fn owners_now(&self, touch: &Touch) -> Vec<CustomerId> {
        let identities = touch.event.identity_slice();
        let mut owners: Vec<CustomerId> = if identities.is_empty() {
            self.requester_owner(touch.ticket.as_ref()).into_iter().collect()
        } else {
            identities.iter().filter_map(|i| self.owner(i)).collect()
        };
        owners.dedup();
        owners
    }

    fn split<E>(
        &mut self,
        touch: &Touch,
        customer: CustomerId,
        identities: &[Identity],
        read: &mut ReadAt<'_, E>,
    ) -> Result<(), E> {
        let customer = self.resolver.resolve(customer);
        let Some(timeline) = self.profiles.get(customer).map(|p| p.timeline.clone()) else { return Ok(()) };
        // Read everything first: a failing read must leave the projection as it was.
        let mut older_events = Vec::with_capacity(timeline.len());
        for position in timeline {
            if let Some(older) = read(position)? {
                older_events.push((position, older));
            }
        }
        self.uncount(customer);
        let Some(old) = self.profiles.remove(customer) else { return Ok(()) };
        let moved = self.resolver.split(customer, identities);
        let mut kept = Profile::new(customer);
        kept.merged_from = old.merged_from;
        kept.split_from = old.split_from;
        kept.conflicts = old.conflicts;
        let mut split_off = Profile::new(moved);
        split_off.split_from = Some(customer);
        // Rebuild both from the log: every event goes where its identities are now.
        for (position, older) in older_events {
            let owners = self.owners_now(&older);
            let to_kept = owners.contains(&customer) || !owners.contains(&moved);
            let to_moved = owners.contains(&moved);
            if to_kept {
                kept.touch(position, older.at);
                kept.fold(&older.event, position, older.at, older.derived);
            }
            if to_moved {
                split_off.touch(position, older.at);
                split_off.fold(&older.event, position, older.at, older.derived);
            }
        }
        kept.touch(touch.position, touch.at);
        split_off.touch(touch.position, touch.at);
        self.profiles.insert(customer, kept);
        self.profiles.insert(moved, split_off);
        self.recount(customer);
        self.recount(moved);
        self.touched.extend([customer, moved]);
        Ok(())
    }
}

#[cfg(test)]
mod tests;
