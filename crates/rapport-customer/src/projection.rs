//! The customer-360 projection: resolution state plus one [`Profile`] per surviving customer,
//! folded event by event in log order. A split rebuilds the two profiles from the log, through
//! a reader the caller passes in (this crate does no I/O).

use rapport_events::{CustomerId, CxEvent, Identity, TicketId};
use rapport_types::{Position, Timestamp};

use crate::profile::{MergeConflict, Profile};
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

/// Identity resolution plus profiles.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct CustomerProjection {
    /// The position after the latest event applied (0 before any). Invariant: every event
    /// folded is below it, and an event whose fold failed left it (and everything else) as it was.
    checkpoint: Position,
    options: ResolutionOptions,
    resolver: Resolver,
    #[serde(serialize_with = "rapport_types::sorted::map")]
    profiles: FastMap<CustomerId, Profile>,
    #[serde(serialize_with = "rapport_types::sorted::map")]
    ticket_requester: FastMap<TicketId, Identity>,
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
        self.profiles.get(&self.resolver.resolve(customer))
    }

    /// The profile of the customer holding `identity`.
    pub fn profile_of(&self, identity: &Identity) -> Option<&Profile> {
        self.owner(identity).and_then(|customer| self.profiles.get(&customer))
    }

    /// The identities of a customer, sorted.
    pub fn identities(&self, customer: CustomerId) -> Vec<Identity> {
        let mut identities = self.resolver.identities_of(customer).to_vec();
        identities.sort();
        identities
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
        self.ticket_requester.get(ticket)
    }

    fn profile_mut(&mut self, customer: CustomerId) -> &mut Profile {
        self.profiles.entry(customer).or_insert_with(|| Profile::new(customer))
    }

    /// Folds one event (positions in order, each once). A split reads the customer's older
    /// events through `read`; if that fails, the error is returned, nothing changes and the
    /// checkpoint stays before this event.
    pub fn apply<E>(&mut self, touch: &Touch, read: &mut ReadAt<'_, E>) -> Result<(), E> {
        self.fold(touch, read)?;
        self.checkpoint = self.checkpoint.max(Position(touch.position.0.saturating_add(1)));
        Ok(())
    }

    fn fold<E>(&mut self, touch: &Touch, read: &mut ReadAt<'_, E>) -> Result<(), E> {
        match &touch.event {
            CxEvent::CustomersSplit(split) => return self.split(touch, split.customer, &split.identities, read),
            CxEvent::CustomersMerged(merged) => {
                // Informational: the merge itself happens when the linking event is folded.
                let survivor = self.resolver.resolve(merged.survivor);
                if self.profiles.contains_key(&survivor) {
                    self.profile_mut(survivor).touch(touch.position, touch.at);
                }
            }
            CxEvent::CustomerMergeConflict(conflict) => {
                for customer in &conflict.customers {
                    let customer = self.resolver.resolve(*customer);
                    if self.profiles.contains_key(&customer) {
                        self.profile_mut(customer).touch(touch.position, touch.at);
                    }
                }
            }
            CxEvent::CustomerErased(erased) => {
                let customer = self.resolver.resolve(erased.customer);
                let Some(profile) = self.profiles.get_mut(&customer) else { return Ok(()) };
                profile.mark_erased(touch.position, touch.at);
                // Later events of its tickets reach nobody; a new message from one of its
                // identities starts a new customer.
                for ticket in &profile.tickets {
                    self.ticket_requester.remove(ticket);
                }
                self.resolver.erase(customer);
            }
            event if !event.identities().is_empty() => self.apply_identified(touch),
            _ => {
                // A ticket event without identities reaches the ticket's requester.
                let owner =
                    touch.ticket.as_ref().and_then(|t| self.ticket_requester.get(t)).and_then(|i| self.owner(i));
                if let Some(customer) = owner {
                    let profile = self.profile_mut(customer);
                    profile.touch(touch.position, touch.at);
                    profile.fold(&touch.event, touch.position, touch.at, touch.derived);
                }
            }
        }
        Ok(())
    }

    fn apply_identified(&mut self, touch: &Touch) {
        let identities = touch.event.identities();
        if let CxEvent::TicketOpened(opened) = &touch.event {
            self.ticket_requester.insert(opened.ticket_id.clone(), opened.requester.clone());
        }
        let Some(decision) = resolution::decide(&self.resolver, &identities, &self.options) else { return };
        if let Some(target) = decision.target {
            for merged in &decision.merged {
                if let Some(profile) = self.profiles.remove(merged) {
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
        let profile = self.profile_mut(target);
        profile.touch(touch.position, touch.at);
        profile.fold(&touch.event, touch.position, touch.at, touch.derived);
    }

    /// The customers an older event belongs to now (after a split moved identities).
    fn owners_now(&self, touch: &Touch) -> Vec<CustomerId> {
        let identities = touch.event.identities();
        let mut owners: Vec<CustomerId> = if identities.is_empty() {
            touch
                .ticket
                .as_ref()
                .and_then(|t| self.ticket_requester.get(t))
                .and_then(|i| self.owner(i))
                .into_iter()
                .collect()
        } else {
            identities.into_iter().filter_map(|i| self.owner(i)).collect()
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
        let Some(timeline) = self.profiles.get(&customer).map(|p| p.timeline.clone()) else { return Ok(()) };
        // Read everything first: a failing read must leave the projection as it was.
        let mut older_events = Vec::with_capacity(timeline.len());
        for position in timeline {
            if let Some(older) = read(position)? {
                older_events.push((position, older));
            }
        }
        let Some(old) = self.profiles.remove(&customer) else { return Ok(()) };
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
        Ok(())
    }
}

#[cfg(test)]
mod tests;
