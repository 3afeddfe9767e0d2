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

use std::borrow::Borrow;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::hash::BuildHasher;

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
    fn identities_of(&self, customer: CustomerId) -> IdentitiesOf<'_>;
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
/// usable (all blocked). `identities` may be owned (`&[Identity]`, an event's own slice) or
/// borrowed (`&[&Identity]`).
pub fn decide<I: Borrow<Identity>>(
    view: &impl ResolverView,
    identities: &[I],
    options: &ResolutionOptions,
) -> Option<Decision> {
    if let [only] = identities {
        // Fast path: most events carry one identity (orders, ratings, messages).
        let only = only.borrow();
        if options.is_blocked(only) {
            return None;
        }
        return Some(match view.owner(only) {
            Some(owner) => Decision { target: Some(owner), ..Decision::default() },
            None => Decision { join: vec![only.clone()], ..Decision::default() },
        });
    }
    let mut usable: Vec<&Identity> = Vec::with_capacity(identities.len());
    for identity in identities.iter().map(Borrow::borrow) {
        if !options.is_blocked(identity) && !usable.contains(&identity) {
            usable.push(identity);
        }
    }
    if usable.is_empty() {
        return None;
    }
    let mut known: Vec<(&Identity, CustomerId)> = Vec::with_capacity(usable.len());
    let mut unknown: Vec<&Identity> = Vec::new();
    for identity in usable {
        match view.owner(identity) {
            Some(owner) => known.push((identity, owner)),
            None => unknown.push(identity),
        }
    }
    let Some(&(_, first_owner)) = known.first() else {
        // Rule 2: all unknown. Unique kinds with two values on one event still split apart.
        let mut decision = Decision::default();
        // Few identities per event: a list beats a map (and allocates no key).
        let mut seen: Vec<(std::borrow::Cow<'_, str>, &str)> = Vec::new();
        for identity in unknown {
            let kind = identity.kind().name();
            let first_value = seen.iter().find(|(k, _)| *k == kind).map(|(_, v)| *v);
            if options.is_unique(identity.kind()) && first_value.is_some_and(|v| v != identity.value()) {
                decision.separate.push(identity.clone());
            } else {
                if first_value.is_none() {
                    seen.push((kind, identity.value()));
                }
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
    let mut held: Vec<&Identity> = view.identities_of(target).collect();
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

/// A customer's slot in the resolver, by id − 1 (ids are dense from 1).
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
struct Slot {
    /// The customer it was merged into, 0 for a survivor (follow to the survivor).
    redirect: u64,
    /// Handles of the identities of a survivor, in the order they joined it (empty once merged
    /// away or erased).
    identities: Vec<u32>,
}

/// Identities by handle (a `u32` assigned in fold order, so a rebuild and a snapshot-loaded
/// store agree byte for byte), and a table of the handles hashed by their identity (seeded
/// foldhash: the keys are customer input), so each identity is stored once. Encoded as the
/// identities alone; the table is rebuilt when decoded.
#[derive(Debug, Clone, Default)]
struct Interner {
    hasher: foldhash::fast::RandomState,
    handles: hashbrown::HashTable<u32>,
    identities: Vec<Identity>,
}

impl Interner {
    fn get(&self, identity: &Identity) -> Option<u32> {
        let hash = self.hasher.hash_one(identity);
        self.handles.find(hash, |handle| self.identities.get(*handle as usize) == Some(identity)).copied()
    }

    fn identity(&self, handle: u32) -> Option<&Identity> {
        self.identities.get(handle as usize)
    }

    fn intern(&mut self, identity: Identity) -> u32 {
        let hash = self.hasher.hash_one(&identity);
        let identities = &self.identities;
        if let Some(handle) = self.handles.find(hash, |h| identities.get(*h as usize) == Some(&identity)) {
            return *handle;
        }
        // A handle per distinct identity: 2^32 of them would take hundreds of gigabytes of
        // memory before this is reached.
        let handle = u32::try_from(self.identities.len()).unwrap_or(u32::MAX);
        assert!(handle < u32::MAX, "identity handles exhausted at {} identities", self.identities.len());
        self.identities.push(identity);
        let (hasher, identities) = (&self.hasher, &self.identities);
        self.handles.insert_unique(hash, handle, |h| identities.get(*h as usize).map_or(0, |i| hasher.hash_one(i)));
        handle
    }
}

impl serde::Serialize for Interner {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.identities.serialize(serializer)
    }
}

impl<'de> serde::Deserialize<'de> for Interner {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Interner, D::Error> {
        let identities: Vec<Identity> = Vec::deserialize(deserializer)?;
        let mut interner = Interner { identities: Vec::with_capacity(identities.len()), ..Interner::default() };
        for identity in identities {
            let expected = interner.identities.len();
            if interner.intern(identity) as usize != expected {
                return Err(serde::de::Error::custom("an identity is interned twice"));
            }
        }
        Ok(interner)
    }
}

/// The identities of a customer, in the order they joined it (what
/// [`ResolverView::identities_of`] returns: the live resolver keeps handles, the overlay copies).
#[derive(Debug, Clone)]
pub struct IdentitiesOf<'a> {
    inner: IdentitiesInner<'a>,
}

#[derive(Debug, Clone)]
enum IdentitiesInner<'a> {
    Owned(std::slice::Iter<'a, Identity>),
    Interned { handles: std::slice::Iter<'a, u32>, interner: &'a Interner },
}

impl<'a> IdentitiesOf<'a> {
    fn owned(identities: &'a [Identity]) -> IdentitiesOf<'a> {
        IdentitiesOf { inner: IdentitiesInner::Owned(identities.iter()) }
    }

    fn interned(handles: &'a [u32], interner: &'a Interner) -> IdentitiesOf<'a> {
        IdentitiesOf { inner: IdentitiesInner::Interned { handles: handles.iter(), interner } }
    }
}

impl<'a> Iterator for IdentitiesOf<'a> {
    type Item = &'a Identity;

    fn next(&mut self) -> Option<&'a Identity> {
        match &mut self.inner {
            IdentitiesInner::Owned(identities) => identities.next(),
            // Every stored handle names an interned identity (handles are never removed).
            IdentitiesInner::Interned { handles, interner } => handles.find_map(|h| interner.identity(*h)),
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        match &self.inner {
            IdentitiesInner::Owned(identities) => identities.size_hint(),
            IdentitiesInner::Interned { handles, .. } => (0, Some(handles.len())),
        }
    }
}

/// The live resolution state. Identities are interned: each distinct identity is stored once,
/// with a `u32` handle assigned in fold order, and everything else (owners, each customer's
/// identities, kept-apart pairs) holds handles; customers are dense from 1, so their state is
/// a `Vec` indexed by id − 1.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct Resolver {
    interner: Interner,
    /// Owner of each identity by handle, as a customer id (follow redirects to the survivor);
    /// 0: nobody (an erased customer's identity, or one interned as a ticket requester only).
    #[serde(deserialize_with = "rapport_types::sorted::exact_vec")]
    owners: Vec<u64>,
    /// Customers by id − 1.
    #[serde(deserialize_with = "rapport_types::sorted::exact_vec")]
    customers: Vec<Slot>,
    /// Pairs of handles a split separated, smaller handle first.
    #[serde(serialize_with = "rapport_types::sorted::set")]
    separated: HashSet<(u32, u32), foldhash::fast::RandomState>,
    /// Customers merged into another (their slots redirect).
    merged_count: u64,
    /// Identities with an owner.
    owned_count: u64,
}

fn pair(a: u32, b: u32) -> (u32, u32) {
    (a.min(b), a.max(b))
}

impl Resolver {
    fn slot(&self, customer: CustomerId) -> Option<&Slot> {
        let idx = usize::try_from(customer.0.checked_sub(1)?).ok()?;
        self.customers.get(idx)
    }

    fn slot_mut(&mut self, customer: CustomerId) -> Option<&mut Slot> {
        let idx = usize::try_from(customer.0.checked_sub(1)?).ok()?;
        self.customers.get_mut(idx)
    }

    /// The survivor a (possibly merged) customer id resolves to.
    pub fn resolve(&self, customer: CustomerId) -> CustomerId {
        let mut current = customer;
        // Chains are short (one hop per merge); bounded to stay safe on any state.
        for _ in 0..64 {
            match self.slot(current).map(|slot| slot.redirect) {
                Some(next) if next != 0 => current = CustomerId(next),
                _ => return current,
            }
        }
        current
    }

    /// Whether the id was ever assigned.
    pub fn exists(&self, customer: CustomerId) -> bool {
        self.slot(customer).is_some()
    }

    /// Number of surviving customers.
    pub fn customer_count(&self) -> usize {
        usize::try_from((self.customers.len() as u64).saturating_sub(self.merged_count)).unwrap_or(usize::MAX)
    }

    /// Ids of the surviving customers, sorted.
    pub fn customers(&self) -> Vec<CustomerId> {
        (1..=self.customers.len() as u64)
            .map(CustomerId)
            .filter(|c| self.slot(*c).is_some_and(|slot| slot.redirect == 0))
            .collect()
    }

    /// Number of identities known (with an owner).
    pub fn identity_count(&self) -> usize {
        usize::try_from(self.owned_count).unwrap_or(usize::MAX)
    }

    /// The handle of an interned identity: its index in the resolver's table, assigned in fold
    /// order (`None`: never interned).
    pub fn handle(&self, identity: &Identity) -> Option<u32> {
        self.interner.get(identity)
    }

    /// The identity of a handle.
    pub fn identity(&self, handle: u32) -> Option<&Identity> {
        self.interner.identity(handle)
    }

    /// Interns an identity without giving it an owner (ticket requesters); returns its handle.
    /// Fold state only: call it in fold order, so handles are the same on every replay.
    pub fn intern(&mut self, identity: &Identity) -> u32 {
        match self.interner.get(identity) {
            Some(handle) => handle,
            // Cloned only when new.
            None => self.interner.intern(identity.clone()),
        }
    }

    /// The (surviving) owner of an interned identity.
    pub fn owner_of_handle(&self, handle: u32) -> Option<CustomerId> {
        self.raw_owner_of_handle(handle).map(|c| self.resolve(c))
    }

    fn raw_owner_of_handle(&self, handle: u32) -> Option<CustomerId> {
        match self.owners.get(handle as usize) {
            Some(owner) if *owner != 0 => Some(CustomerId(*owner)),
            _ => None,
        }
    }

    /// The owner recorded for an identity, not followed to the survivor.
    fn raw_owner(&self, identity: &Identity) -> Option<CustomerId> {
        self.interner.get(identity).and_then(|h| self.raw_owner_of_handle(h))
    }

    /// The handles of a customer's slot (no redirect followed).
    fn handles_of(&self, customer: CustomerId) -> &[u32] {
        self.slot(customer).map(|slot| slot.identities.as_slice()).unwrap_or(&[])
    }

    fn set_owner(&mut self, handle: u32, customer: CustomerId) {
        let idx = handle as usize;
        if self.owners.len() <= idx {
            self.owners.resize(idx + 1, 0);
        }
        if let Some(owner) = self.owners.get_mut(idx) {
            if *owner == 0 {
                self.owned_count += 1;
            }
            *owner = customer.0;
        }
    }

    fn clear_owner(&mut self, handle: u32) {
        if let Some(owner) = self.owners.get_mut(handle as usize) {
            if *owner != 0 {
                self.owned_count = self.owned_count.saturating_sub(1);
            }
            *owner = 0;
        }
    }

    fn create_handles(&mut self, handles: Vec<u32>) -> CustomerId {
        let id = CustomerId(self.customers.len() as u64 + 1);
        for handle in &handles {
            self.set_owner(*handle, id);
        }
        self.customers.push(Slot { redirect: 0, identities: handles });
        id
    }

    /// Moves `identities` of `customer` to a new customer and keeps them apart from the rest
    /// from now on. Returns the new customer's id.
    pub fn split(&mut self, customer: CustomerId, identities: &[Identity]) -> CustomerId {
        let customer = self.resolve(customer);
        let mut moving: Vec<u32> = Vec::new();
        for identity in identities {
            if let Some(handle) = self.interner.get(identity) {
                if self.owner_of_handle(handle) == Some(customer) {
                    moving.push(handle);
                }
            }
        }
        let staying: Vec<u32> = self.handles_of(customer).iter().copied().filter(|h| !moving.contains(h)).collect();
        for a in &moving {
            for b in &staying {
                self.separated.insert(pair(*a, *b));
            }
        }
        if let Some(slot) = self.slot_mut(customer) {
            slot.identities.retain(|h| !moving.contains(h));
        }
        self.create_handles(moving)
    }

    /// Forgets the identities of a (surviving) customer: they resolve to nobody from now on,
    /// and the customer keeps its id with no identity. Returns the identities forgotten.
    pub fn erase(&mut self, customer: CustomerId) -> Vec<Identity> {
        let customer = self.resolve(customer);
        let forgotten = self.slot_mut(customer).map(|slot| std::mem::take(&mut slot.identities)).unwrap_or_default();
        for handle in &forgotten {
            if self.owner_of_handle(*handle) == Some(customer) {
                self.clear_owner(*handle);
            }
        }
        forgotten.iter().filter_map(|h| self.interner.identity(*h)).cloned().collect()
    }

    /// Owners of every identity, for checks.
    pub fn owners(&self) -> impl Iterator<Item = (&Identity, CustomerId)> {
        self.owners
            .iter()
            .enumerate()
            .filter(|(_, owner)| **owner != 0)
            .filter_map(|(idx, owner)| Some((self.interner.identities.get(idx)?, CustomerId(*owner))))
    }
}

impl ResolverView for Resolver {
    fn owner(&self, identity: &Identity) -> Option<CustomerId> {
        self.raw_owner(identity).map(|c| self.resolve(c))
    }
    fn identities_of(&self, customer: CustomerId) -> IdentitiesOf<'_> {
        IdentitiesOf::interned(self.handles_of(self.resolve(customer)), &self.interner)
    }
    fn separated(&self, a: &Identity, b: &Identity) -> bool {
        if self.separated.is_empty() {
            return false;
        }
        match (self.interner.get(a), self.interner.get(b)) {
            (Some(a), Some(b)) => self.separated.contains(&pair(a, b)),
            _ => false,
        }
    }
}

impl ResolverMut for Resolver {
    fn create(&mut self, identities: Vec<Identity>) -> CustomerId {
        let handles: Vec<u32> = identities.into_iter().map(|identity| self.interner.intern(identity)).collect();
        self.create_handles(handles)
    }
    fn join(&mut self, customer: CustomerId, identities: Vec<Identity>) {
        let customer = self.resolve(customer);
        let mut handles: Vec<u32> = Vec::with_capacity(identities.len());
        for identity in identities {
            let handle = self.interner.intern(identity);
            self.set_owner(handle, customer);
            handles.push(handle);
        }
        if let Some(slot) = self.slot_mut(customer) {
            slot.identities.extend(handles);
        }
    }
    fn merge(&mut self, survivor: CustomerId, merged: &[CustomerId]) {
        let survivor = self.resolve(survivor);
        for customer in merged {
            let customer = self.resolve(*customer);
            if customer == survivor || self.slot(customer).is_none() || self.slot(survivor).is_none() {
                continue;
            }
            let moved = self.slot_mut(customer).map(|slot| std::mem::take(&mut slot.identities)).unwrap_or_default();
            for handle in &moved {
                self.set_owner(*handle, survivor);
            }
            if let Some(slot) = self.slot_mut(survivor) {
                slot.identities.extend(moved);
            }
            if let Some(slot) = self.slot_mut(customer) {
                slot.redirect = survivor.0;
            }
            self.merged_count += 1;
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
            next_id: base.customers.len() as u64,
        }
    }

    fn resolve(&self, customer: CustomerId) -> CustomerId {
        let mut current = customer;
        for _ in 0..64 {
            let base = || self.base.slot(current).map(|slot| slot.redirect).filter(|r| *r != 0).map(CustomerId);
            match self.redirects.get(&current).copied().or_else(base) {
                Some(next) => current = next,
                None => return current,
            }
        }
        current
    }

    fn identities_mut(&mut self, customer: CustomerId) -> &mut Vec<Identity> {
        if !self.identities.contains_key(&customer) {
            let copy: Vec<Identity> =
                IdentitiesOf::interned(self.base.handles_of(customer), &self.base.interner).cloned().collect();
            self.identities.insert(customer, copy);
        }
        self.identities.entry(customer).or_default()
    }
}

impl ResolverView for Overlay<'_> {
    fn owner(&self, identity: &Identity) -> Option<CustomerId> {
        self.owners.get(identity).copied().or_else(|| self.base.raw_owner(identity)).map(|c| self.resolve(c))
    }
    fn identities_of(&self, customer: CustomerId) -> IdentitiesOf<'_> {
        let customer = self.resolve(customer);
        match self.identities.get(&customer) {
            Some(identities) => IdentitiesOf::owned(identities),
            None => IdentitiesOf::interned(self.base.handles_of(customer), &self.base.interner),
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
