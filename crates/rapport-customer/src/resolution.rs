//! Identity resolution: which customer an event's identities belong to, and when customers
//! merge. One pure decision function, [`decide`], reads a [`ResolverView`]; the live
//! [`Resolver`] and the store's planning [`Overlay`] both implement it, so what the store records
//! (merge and conflict events) is exactly what the projection does when it replays the log.
//!
//! Rules (docs/ARCHITECTURE.md, "Identity resolution"):
//! 1. Blocked values (empty, all zeros or dashes, `null`, `none`, `anonymous`, `unknown`,
//!    `test@test.com`, ...) are ignored.
//! 2. All identities unknown: one new customer holds them all.
//! 3. Identities of two or more customers: they merge into the oldest (smallest id), unless the
//!    merged customer would hold two values of a kind that is unique per person (default: every
//!    `external:<system>`): then nothing merges, a conflict is recorded on each, and the unknown
//!    identities go to the customer of the first listed identity.
//! 4. Two identities a split separated never link their customers again.

use std::collections::{BTreeSet, HashMap, HashSet};

use rapport_events::{CustomerId, Identity, IdentityKind};

/// Hash map for keys that come from outside (identities, ticket ids): foldhash, seeded at
/// random per map, so that nobody can choose values that all land in one bucket (hash
/// flooding) — the keys are customer input. As fast as the multiply-rotate hasher it replaces
/// on these short keys.
pub type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// What resolution treats specially.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ResolutionOptions {
    /// Kinds a person has at most one value of. `external:*` stands for every external kind.
    pub unique_kinds: BTreeSet<String>,
    /// Values that never link people, beyond the placeholders every store blocks
    /// (`Identity::is_placeholder`: `unknown`, `test@test.com`, all-zero phones, ...). Written
    /// lower-case; compared after normalization, without format characters.
    pub blocked_values: BTreeSet<String>,
}

impl Default for ResolutionOptions {
    fn default() -> ResolutionOptions {
        ResolutionOptions { unique_kinds: ["external:*".to_owned()].into(), blocked_values: BTreeSet::new() }
    }
}

impl ResolutionOptions {
    /// Whether a person has at most one value of `kind`.
    pub fn is_unique(&self, kind: &IdentityKind) -> bool {
        (kind.is_external() && self.unique_kinds.contains("external:*"))
            || self.unique_kinds.contains(kind.name().as_ref())
            // The first release's names of renamed kinds (`kakao`, `twitter`) still count.
            || (kind.hash_name() != kind.name() && self.unique_kinds.contains(kind.hash_name().as_ref()))
    }

    /// Whether the identity must never link people.
    pub fn is_blocked(&self, identity: &Identity) -> bool {
        // One rule for the workspace: rapport-events owns it (docs/events.md, identity rules).
        identity.is_blocked(&self.blocked_values)
    }
}

/// What to do with one event's identities.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Decision {
    /// Customers merged into `target` (which is then the survivor), with the identity that caused it.
    pub merged: Vec<CustomerId>,
    /// The identity that caused the merge or the conflict.
    pub cause: Option<Identity>,
    /// Customers kept apart by a unique kind, and that kind.
    pub conflict: Option<(Vec<CustomerId>, String)>,
    /// The customer the event belongs to; `None`: a new customer is created for `join`.
    pub target: Option<CustomerId>,
    /// Unknown identities that join `target` (or the new customer).
    pub join: Vec<Identity>,
    /// Unknown identities of a unique kind the target already holds another value of: each
    /// becomes a customer of its own.
    pub separate: Vec<Identity>,
}

/// Read access to resolution state.
pub trait ResolverView {
    /// The (surviving) customer that holds `identity`.
    fn owner(&self, identity: &Identity) -> Option<CustomerId>;
    /// The identities of a (surviving) customer.
    fn identities_of(&self, customer: CustomerId) -> &[Identity];
    /// Whether a split separated these two identities.
    fn separated(&self, a: &Identity, b: &Identity) -> bool;
}

/// Write access, for applying a decision.
pub trait ResolverMut: ResolverView {
    /// Creates a customer holding `identities`; returns its id (the next in sequence).
    fn create(&mut self, identities: Vec<Identity>) -> CustomerId;
    /// Adds identities to a customer.
    fn join(&mut self, customer: CustomerId, identities: Vec<Identity>);
    /// Merges `merged` into `survivor`.
    fn merge(&mut self, survivor: CustomerId, merged: &[CustomerId]);
}

fn unique_values<'a>(
    options: &ResolutionOptions,
    identities: impl IntoIterator<Item = &'a Identity>,
) -> HashMap<String, BTreeSet<&'a str>> {
    let mut values: HashMap<String, BTreeSet<&str>> = HashMap::new();
    for identity in identities {
        if options.is_unique(identity.kind()) {
            values.entry(identity.kind().name().into_owned()).or_default().insert(identity.value());
        }
    }
    values
}

/// Decides what an event with `identities` (in event order) does. `None` when no identity is
/// usable (all blocked).
pub fn decide(view: &impl ResolverView, identities: &[&Identity], options: &ResolutionOptions) -> Option<Decision> {
    if let [only] = identities {
        // Fast path: most events carry one identity (orders, ratings, messages).
        if options.is_blocked(only) {
            return None;
        }
        return Some(match view.owner(only) {
            Some(owner) => Decision { target: Some(owner), ..Decision::default() },
            None => Decision { join: vec![(*only).clone()], ..Decision::default() },
        });
    }
    let mut usable: Vec<&Identity> = Vec::new();
    for identity in identities.iter().copied() {
        if !options.is_blocked(identity) && !usable.contains(&identity) {
            usable.push(identity);
        }
    }
    if usable.is_empty() {
        return None;
    }
    let known: Vec<(&Identity, CustomerId)> = usable.iter().filter_map(|i| view.owner(i).map(|c| (*i, c))).collect();
    let unknown: Vec<&Identity> = usable.iter().copied().filter(|i| view.owner(i).is_none()).collect();
    let Some(&(_, first_owner)) = known.first() else {
        // Rule 2: all unknown. Unique kinds with two values on one event still split apart.
        let mut decision = Decision::default();
        let mut seen: HashMap<String, &str> = HashMap::new();
        for identity in unknown {
            let kind = identity.kind().name().into_owned();
            if options.is_unique(identity.kind()) && seen.get(&kind).is_some_and(|v| *v != identity.value()) {
                decision.separate.push(identity.clone());
            } else {
                seen.entry(kind).or_insert(identity.value());
                decision.join.push(identity.clone());
            }
        }
        return Some(decision);
    };
    // The owners linked to the first listed one by identity pairs no split separated.
    let mut group: Vec<CustomerId> = vec![first_owner];
    let mut changed = true;
    while changed {
        changed = false;
        for (a, owner_a) in &known {
            if group.contains(owner_a) {
                continue;
            }
            let linked = known.iter().any(|(b, owner_b)| group.contains(owner_b) && !view.separated(a, b));
            if linked {
                group.push(*owner_a);
                changed = true;
            }
        }
    }
    let survivor = *group.iter().min().unwrap_or(&first_owner);
    let mut decision = Decision { target: Some(first_owner), ..Decision::default() };
    if group.len() > 1 {
        let all = group.iter().flat_map(|c| view.identities_of(*c)).chain(unknown.iter().copied());
        let clash = unique_values(options, all).into_iter().find(|(_, values)| values.len() > 1).map(|(kind, _)| kind);
        let cause = known.iter().find(|(_, owner)| *owner != survivor).map(|(identity, _)| (*identity).clone());
        decision.cause = cause;
        match clash {
            Some(kind) => {
                let mut customers = group.clone();
                customers.sort();
                decision.conflict = Some((customers, kind));
            }
            None => {
                let mut merged: Vec<CustomerId> = group.iter().copied().filter(|c| *c != survivor).collect();
                merged.sort();
                decision.merged = merged;
                decision.target = Some(survivor);
            }
        }
    }
    // Unknown identities join the target unless they would give it a second unique value.
    let target = decision.target.unwrap_or(first_owner);
    let mut held: Vec<&Identity> = view.identities_of(target).iter().collect();
    if !decision.merged.is_empty() {
        for merged in &decision.merged {
            held.extend(view.identities_of(*merged));
        }
    }
    for identity in unknown {
        let clashes = options.is_unique(identity.kind())
            && held.iter().any(|h| h.kind() == identity.kind() && h.value() != identity.value());
        if clashes {
            decision.separate.push(identity.clone());
        } else {
            held.push(identity);
            decision.join.push(identity.clone());
        }
    }
    Some(decision)
}

/// Applies a decision; returns the customer the event belongs to.
pub fn apply(state: &mut impl ResolverMut, decision: &Decision) -> CustomerId {
    let target = match decision.target {
        Some(target) => {
            if !decision.merged.is_empty() {
                state.merge(target, &decision.merged);
            }
            if !decision.join.is_empty() {
                state.join(target, decision.join.clone());
            }
            target
        }
        None => state.create(decision.join.clone()),
    };
    for identity in &decision.separate {
        state.create(vec![identity.clone()]);
    }
    target
}

/// The live resolution state.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct Resolver {
    #[serde(serialize_with = "rapport_types::sorted::map")]
    owners: FastMap<Identity, CustomerId>,
    /// Merged customer -> the customer it was merged into (follow to the survivor).
    #[serde(serialize_with = "rapport_types::sorted::map")]
    redirects: FastMap<CustomerId, CustomerId>,
    #[serde(serialize_with = "rapport_types::sorted::map")]
    identities: FastMap<CustomerId, Vec<Identity>>,
    #[serde(serialize_with = "rapport_types::sorted::set")]
    separated: HashSet<(Identity, Identity)>,
    next_id: u64,
}

fn pair(a: &Identity, b: &Identity) -> (Identity, Identity) {
    if a <= b {
        (a.clone(), b.clone())
    } else {
        (b.clone(), a.clone())
    }
}

impl Resolver {
    /// The survivor a (possibly merged) customer id resolves to.
    pub fn resolve(&self, customer: CustomerId) -> CustomerId {
        let mut current = customer;
        // Chains are short (one hop per merge); bounded to stay safe on any state.
        for _ in 0..64 {
            match self.redirects.get(&current) {
                Some(next) => current = *next,
                None => return current,
            }
        }
        current
    }

    /// Whether the id was ever assigned.
    pub fn exists(&self, customer: CustomerId) -> bool {
        customer.0 >= 1 && customer.0 <= self.next_id
    }

    /// Number of surviving customers.
    pub fn customer_count(&self) -> usize {
        self.identities.len()
    }

    /// Ids of the surviving customers, sorted.
    pub fn customers(&self) -> Vec<CustomerId> {
        let mut ids: Vec<CustomerId> = self.identities.keys().copied().collect();
        ids.sort();
        ids
    }

    /// Number of identities known.
    pub fn identity_count(&self) -> usize {
        self.owners.len()
    }

    /// Moves `identities` of `customer` to a new customer and keeps them apart from the rest
    /// from now on. Returns the new customer's id.
    pub fn split(&mut self, customer: CustomerId, identities: &[Identity]) -> CustomerId {
        let customer = self.resolve(customer);
        let moving: Vec<Identity> = identities.iter().filter(|i| self.owner(i) == Some(customer)).cloned().collect();
        let staying: Vec<Identity> = self
            .identities
            .get(&customer)
            .map(|all| all.iter().filter(|i| !moving.contains(i)).cloned().collect())
            .unwrap_or_default();
        for a in &moving {
            for b in &staying {
                self.separated.insert(pair(a, b));
            }
        }
        if let Some(all) = self.identities.get_mut(&customer) {
            all.retain(|i| !moving.contains(i));
        }
        self.create(moving)
    }

    /// Forgets the identities of a (surviving) customer: they resolve to nobody from now on,
    /// and the customer keeps its id with no identity. Returns the identities forgotten.
    pub fn erase(&mut self, customer: CustomerId) -> Vec<Identity> {
        let customer = self.resolve(customer);
        let forgotten = self.identities.get_mut(&customer).map(std::mem::take).unwrap_or_default();
        for identity in &forgotten {
            if self.owners.get(identity).map(|owner| self.resolve(*owner)) == Some(customer) {
                self.owners.remove(identity);
            }
        }
        forgotten
    }

    /// Owners of every identity, for checks.
    pub fn owners(&self) -> impl Iterator<Item = (&Identity, CustomerId)> {
        self.owners.iter().map(|(identity, owner)| (identity, *owner))
    }
}

impl ResolverView for Resolver {
    fn owner(&self, identity: &Identity) -> Option<CustomerId> {
        self.owners.get(identity).map(|c| self.resolve(*c))
    }
    fn identities_of(&self, customer: CustomerId) -> &[Identity] {
        self.identities.get(&self.resolve(customer)).map(Vec::as_slice).unwrap_or(&[])
    }
    fn separated(&self, a: &Identity, b: &Identity) -> bool {
        !self.separated.is_empty() && self.separated.contains(&pair(a, b))
    }
}

impl ResolverMut for Resolver {
    fn create(&mut self, identities: Vec<Identity>) -> CustomerId {
        self.next_id += 1;
        let id = CustomerId(self.next_id);
        for identity in &identities {
            self.owners.insert(identity.clone(), id);
        }
        self.identities.insert(id, identities);
        id
    }
    fn join(&mut self, customer: CustomerId, identities: Vec<Identity>) {
        let customer = self.resolve(customer);
        for identity in &identities {
            self.owners.insert(identity.clone(), customer);
        }
        self.identities.entry(customer).or_default().extend(identities);
    }
    fn merge(&mut self, survivor: CustomerId, merged: &[CustomerId]) {
        let survivor = self.resolve(survivor);
        for customer in merged {
            let customer = self.resolve(*customer);
            if customer == survivor {
                continue;
            }
            let moved: Vec<Identity> = self.identities.remove(&customer).unwrap_or_default();
            for identity in &moved {
                self.owners.insert(identity.clone(), survivor);
            }
            self.identities.entry(survivor).or_default().extend(moved);
            self.redirects.insert(customer, survivor);
        }
    }
}

/// Planning state: a copy-on-write layer over a [`Resolver`], so the store can decide a whole
/// batch before any of it is in the log.
#[derive(Debug)]
pub struct Overlay<'a> {
    base: &'a Resolver,
    owners: HashMap<Identity, CustomerId>,
    redirects: HashMap<CustomerId, CustomerId>,
    identities: HashMap<CustomerId, Vec<Identity>>,
    next_id: u64,
}

impl<'a> Overlay<'a> {
    /// An empty layer over `base`.
    pub fn new(base: &'a Resolver) -> Overlay<'a> {
        Overlay {
            base,
            owners: HashMap::new(),
            redirects: HashMap::new(),
            identities: HashMap::new(),
            next_id: base.next_id,
        }
    }

    fn resolve(&self, customer: CustomerId) -> CustomerId {
        let mut current = customer;
        for _ in 0..64 {
            match self.redirects.get(&current).or_else(|| self.base.redirects.get(&current)) {
                Some(next) => current = *next,
                None => return current,
            }
        }
        current
    }

    fn identities_mut(&mut self, customer: CustomerId) -> &mut Vec<Identity> {
        if !self.identities.contains_key(&customer) {
            let copy = self.base.identities.get(&customer).cloned().unwrap_or_default();
            self.identities.insert(customer, copy);
        }
        self.identities.entry(customer).or_default()
    }
}

impl ResolverView for Overlay<'_> {
    fn owner(&self, identity: &Identity) -> Option<CustomerId> {
        self.owners.get(identity).or_else(|| self.base.owners.get(identity)).map(|c| self.resolve(*c))
    }
    fn identities_of(&self, customer: CustomerId) -> &[Identity] {
        let customer = self.resolve(customer);
        match self.identities.get(&customer) {
            Some(identities) => identities,
            None => self.base.identities.get(&customer).map(Vec::as_slice).unwrap_or(&[]),
        }
    }
    fn separated(&self, a: &Identity, b: &Identity) -> bool {
        self.base.separated(a, b)
    }
}

impl ResolverMut for Overlay<'_> {
    fn create(&mut self, identities: Vec<Identity>) -> CustomerId {
        self.next_id += 1;
        let id = CustomerId(self.next_id);
        for identity in &identities {
            self.owners.insert(identity.clone(), id);
        }
        self.identities.insert(id, identities);
        id
    }
    fn join(&mut self, customer: CustomerId, identities: Vec<Identity>) {
        let customer = self.resolve(customer);
        for identity in &identities {
            self.owners.insert(identity.clone(), customer);
        }
        self.identities_mut(customer).extend(identities);
    }
    fn merge(&mut self, survivor: CustomerId, merged: &[CustomerId]) {
        let survivor = self.resolve(survivor);
        for customer in merged {
            let customer = self.resolve(*customer);
            if customer == survivor {
                continue;
            }
            let moved = std::mem::take(self.identities_mut(customer));
            for identity in &moved {
                self.owners.insert(identity.clone(), survivor);
            }
            self.identities_mut(survivor).extend(moved);
            self.redirects.insert(customer, survivor);
        }
    }
}

#[cfg(test)]
mod tests;
