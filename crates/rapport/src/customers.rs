//! Customer-360 queries of the [`Store`]: the unified profile by identity or customer id, its
//! timeline, the profile as of a past time, segments, and splitting a wrong merge. The default
//! observation end and the reporting currency come from totals the fold keeps (O(1)); segments
//! walk the profiles in place and copy none.

use rapport_customer::{CustomerProjection, Profile, Rfm, Touch};
use rapport_events::{
    Channel, CustomerId, CustomersSplit, CxEvent, ExchangeRates, Identity, NormalizeOptions, TicketFlag, TicketId,
};
use rapport_log::{Position, RecordedEvent, Timestamp};
use rapport_metrics::MetricsOptions;

use crate::error::{Error, Result};
use crate::projection::{touch_of, Projection};
use crate::store::{Input, Meta, Store};

/// The most customers an as-of replay folds (the customer and those its conflicts name).
const AS_OF_CUSTOMERS_MAX: usize = 64;

/// How a caller names a customer: one of their identities or a customer id (`C12`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CustomerKey {
    /// An identity the customer holds.
    Identity(Identity),
    /// A customer id; merged ids resolve to the survivor.
    Id(CustomerId),
}

impl CustomerKey {
    /// Parses `C12` as an id and anything else as a `kind:value` identity.
    pub fn parse(text: &str, options: &NormalizeOptions) -> Result<CustomerKey> {
        if let Ok(id) = text.parse::<CustomerId>() {
            return Ok(CustomerKey::Id(id));
        }
        Ok(CustomerKey::Identity(Identity::parse_pair(text, options)?))
    }
}

/// Flags shown on a customer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CustomerFlags {
    /// One of the customer's tickets is a repeat inquiry.
    pub repeat_inquiry: bool,
    /// One of the customer's unsolved tickets is flagged urgent.
    pub open_urgent: bool,
    /// A merge involving the customer was refused.
    pub merge_conflict: bool,
}

/// The unified view of one customer.
#[derive(Debug, Clone, PartialEq)]
pub struct CustomerView {
    /// The profile (identities excluded; see `identities`).
    pub profile: Profile,
    /// Identities, sorted.
    pub identities: Vec<Identity>,
    /// Unsolved tickets (new, open, pending, hold).
    pub open_tickets: Vec<TicketId>,
    /// Flags.
    pub flags: CustomerFlags,
    /// RFM at the observation end, if the customer has purchases by then: net spend in
    /// `reporting_currency` (cancelled and fully refunded orders are no purchases).
    pub rfm: Option<Rfm>,
    /// The currency of RFM and CLV ([`crate::StoreOptions::reporting_currency`], default the
    /// currency of most orders in the store); `None` in a store without orders.
    pub reporting_currency: Option<String>,
    /// Purchases in other currencies converted into it with the store's rate table.
    pub rfm_converted: u32,
    /// Purchases in other currencies left out of RFM and CLV: no rate for them.
    pub rfm_excluded: u32,
}

impl CustomerView {
    /// The customer id.
    pub fn id(&self) -> CustomerId {
        self.profile.id
    }
    /// Every ticket, in creation order.
    pub fn tickets(&self) -> &[TicketId] {
        &self.profile.tickets
    }
}

/// A segment of customers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    /// Customers with an unsolved ticket flagged urgent.
    OpenUrgentTicket,
    /// Customers with a repeat-inquiry ticket.
    RepeatInquiry,
    /// Customers with a recorded merge conflict.
    MergeConflict,
    /// The `n` customers with the largest total spend (ties by id).
    TopSpend(usize),
    /// Customers who used the channel.
    Channel(Channel),
    /// Customers who did the custom event (`customer.event` name) in the last `days` days: at
    /// most `days * 24 h` before the latest event that reached any customer (the profile keeps
    /// the latest time of each event name).
    DidEvent {
        /// The event name.
        name: String,
        /// The window, in days.
        days: u32,
    },
}

/// The names of the segments without a parameter (the `segment` dimension of reports, and
/// [`Segment::from_str`]).
pub(crate) const SEGMENTS: [(&str, Segment); 3] = [
    ("open_urgent_ticket", Segment::OpenUrgentTicket),
    ("repeat_inquiry", Segment::RepeatInquiry),
    ("merge_conflict", Segment::MergeConflict),
];

impl std::str::FromStr for Segment {
    type Err = Error;

    /// `open_urgent_ticket`, `repeat_inquiry`, `merge_conflict`, `top_spend:N`, `channel:NAME`
    /// or `did_event:NAME:DAYS`.
    fn from_str(text: &str) -> Result<Segment> {
        let invalid = |why: &str| {
            Error::InvalidArgument(format!(
                "segment {text:?}: {why} (expected open_urgent_ticket, repeat_inquiry, merge_conflict, \
                 top_spend:N, channel:NAME or did_event:NAME:DAYS)"
            ))
        };
        if let Some((_, segment)) = SEGMENTS.iter().find(|(name, _)| *name == text) {
            return Ok(segment.clone());
        }
        let (kind, rest) = text.split_once(':').ok_or_else(|| invalid("unknown segment"))?;
        match kind {
            "top_spend" => rest.parse().map(Segment::TopSpend).map_err(|_| invalid("N is not a whole number")),
            "channel" => rest.parse().map(Segment::Channel).map_err(|e: rapport_events::Error| invalid(&e.to_string())),
            "did_event" => {
                let (name, days) = rest.rsplit_once(':').ok_or_else(|| invalid("no DAYS"))?;
                let days = days.parse().map_err(|_| invalid("DAYS is not a whole number"))?;
                if name.is_empty() {
                    return Err(invalid("no event name"));
                }
                Ok(Segment::DidEvent { name: name.to_owned(), days })
            }
            _ => Err(invalid("unknown segment")),
        }
    }
}

/// The latest time any customer was seen (0 without customers): the default observation end.
fn latest_seen(projection: &Projection) -> Timestamp {
    projection.customers.totals().latest_seen.unwrap_or_default()
}

/// The view of a profile as the projection holds it (pseudonyms, empty trait values); the
/// store reveals it with [`Store::reveal_view`].
fn view(
    projection: &Projection,
    customers: &CustomerProjection,
    profile: &Profile,
    end: i64,
    money: &Reporting,
) -> CustomerView {
    let mut open_tickets = Vec::new();
    let flags = flags_of(projection, profile, |ticket_id| open_tickets.push(ticket_id.clone()));
    let (rfm, purchases) = match &money.currency {
        Some(currency) => profile.rfm_in(Timestamp(end), currency, money.rates.as_ref()),
        None => (None, rapport_customer::PurchaseDays::default()),
    };
    CustomerView {
        profile: profile.clone(),
        identities: customers.identities(profile.id),
        open_tickets,
        flags,
        rfm,
        reporting_currency: money.currency.clone(),
        rfm_converted: purchases.converted,
        rfm_excluded: purchases.excluded,
    }
}

/// The flags of a profile from its tickets; `open` is called with each unsolved ticket.
fn flags_of(projection: &Projection, profile: &Profile, mut open: impl FnMut(&TicketId)) -> CustomerFlags {
    let mut flags = CustomerFlags { merge_conflict: !profile.conflicts.is_empty(), ..CustomerFlags::default() };
    for ticket_id in &profile.tickets {
        let Some(ticket) = projection.tickets.get(ticket_id) else { continue };
        flags.repeat_inquiry |= ticket.flags().contains(&TicketFlag::RepeatInquiry);
        if ticket.is_unsolved() {
            open(ticket_id);
            flags.open_urgent |= ticket.flags().contains(&TicketFlag::Urgent);
        }
    }
    flags
}

/// The reporting currency and rate table of a query.
#[derive(Debug, Clone, Default)]
pub(crate) struct Reporting {
    pub(crate) currency: Option<String>,
    pub(crate) rates: Option<ExchangeRates>,
}

/// The reporting currency (the configured one, else the currency of most orders over every
/// profile, ties: the smaller code — kept by the fold) and the rate table.
pub(crate) fn reporting_of(
    configured: Option<&String>,
    rates: Option<&ExchangeRates>,
    customers: &CustomerProjection,
) -> Reporting {
    let currency = configured.cloned().or_else(|| customers.totals().main_currency().map(|code| code.to_string()));
    Reporting { currency, rates: rates.cloned() }
}

impl Store {
    /// A view with its identities and trait values revealed (or `[erased]`, `[encrypted]`).
    fn reveal_view(&self, mut view: CustomerView, erased: &std::collections::HashSet<u64>) -> Result<CustomerView> {
        for identity in &mut view.identities {
            *identity = self.privacy.reveal_identity(identity, erased)?;
        }
        let mut revealed: std::collections::HashMap<Position, CxEvent> = std::collections::HashMap::new();
        for (key, value) in &mut view.profile.traits {
            let event = match revealed.entry(value.position) {
                std::collections::hash_map::Entry::Occupied(entry) => entry.into_mut(),
                std::collections::hash_map::Entry::Vacant(entry) => {
                    let recorded = self.read_recorded(value.position)?;
                    entry.insert(self.privacy.reveal_recorded(&recorded, erased)?.0)
                }
            };
            if let CxEvent::CustomerIdentified(identified) = event {
                if let Some(text) = identified.traits.get(key) {
                    value.value.clone_from(text);
                }
            }
        }
        Ok(view)
    }

    /// The key as the projection knows it: an identity becomes its pseudonym.
    fn pseudonymous_key(&self, key: &CustomerKey) -> Result<CustomerKey> {
        Ok(match key {
            CustomerKey::Identity(identity) => CustomerKey::Identity(self.pseudonym(identity)?),
            CustomerKey::Id(id) => CustomerKey::Id(*id),
        })
    }

    pub(crate) fn reporting(&self, customers: &CustomerProjection) -> Reporting {
        reporting_of(self.options().reporting_currency.as_ref(), self.options().exchange_rates.as_ref(), customers)
    }

    /// The reporting currency of RFM and CLV: [`crate::StoreOptions::reporting_currency`], or
    /// the currency of most orders (`None` without orders).
    pub fn reporting_currency(&self) -> Result<Option<String>> {
        self.catch_up()?;
        Ok(self.reporting(&self.projection.read().customers).currency)
    }

    fn observation_end(&self, projection: &Projection, observation_end: Option<Timestamp>) -> i64 {
        observation_end.map(|t| t.0).unwrap_or_else(|| latest_seen(projection).0)
    }

    /// The default observation end of RFM and CLV: the time of the latest event of any customer
    /// (0 in a store without customers). Kept by the fold: O(1).
    pub fn default_observation_end(&self) -> Result<Timestamp> {
        self.catch_up()?;
        Ok(Timestamp(self.observation_end(&self.projection.read(), None)))
    }

    /// The unified profile of a customer. RFM is computed at `observation_end` (default: the time
    /// of the latest event of any customer).
    pub fn customer(&self, key: &CustomerKey, observation_end: Option<Timestamp>) -> Result<Option<CustomerView>> {
        let key = self.pseudonymous_key(key)?;
        self.catch_up()?;
        let (found, erased) = {
            let projection = self.projection.read();
            let customers = &projection.customers;
            let profile = match &key {
                CustomerKey::Identity(identity) => customers.profile_of(identity),
                CustomerKey::Id(id) => customers.profile(*id),
            };
            let end = self.observation_end(&projection, observation_end);
            let money = self.reporting(customers);
            (profile.map(|profile| view(&projection, customers, profile, end, &money)), projection.erased_keys.clone())
        };
        found.map(|view| self.reveal_view(view, &erased)).transpose()
    }

    /// The customer id for a key (merged ids resolve to the survivor).
    pub fn customer_id(&self, key: &CustomerKey) -> Result<Option<CustomerId>> {
        let key = self.pseudonymous_key(key)?;
        self.catch_up()?;
        let projection = self.projection.read();
        Ok(match &key {
            CustomerKey::Identity(identity) => projection.customers.owner(identity),
            CustomerKey::Id(id) => projection.customers.profile(*id).map(|p| p.id),
        })
    }

    /// Every customer, in id order, revealed like [`Store::customer`]. This copies every
    /// profile at once: on a large store, list [`Store::customer_ids`] and take the views a
    /// page at a time with [`Store::customers_of`].
    pub fn customers(&self, observation_end: Option<Timestamp>) -> Result<Vec<CustomerView>> {
        let (views, erased) = self.customer_views(observation_end)?;
        views.into_iter().map(|view| self.reveal_view(view, &erased)).collect()
    }

    /// The id of every customer, in id order: the list to page through (nothing else is copied).
    pub fn customer_ids(&self) -> Result<Vec<CustomerId>> {
        self.catch_up()?;
        let projection = self.projection.read();
        let mut ids: Vec<CustomerId> = projection.customers.profiles_unordered().map(|p| p.id).collect();
        ids.sort_unstable();
        Ok(ids)
    }

    /// The views of `ids`, in their order, revealed like [`Store::customer`], from one state of
    /// the projection. An id that is no customer (now) is left out, a merged one included, so a
    /// listing paged through [`Store::customer_ids`] shows no customer twice. Only these
    /// profiles are copied.
    pub fn customers_of(&self, ids: &[CustomerId], observation_end: Option<Timestamp>) -> Result<Vec<CustomerView>> {
        self.catch_up()?;
        let (views, erased) = {
            let projection = self.projection.read();
            let customers = &projection.customers;
            let end = self.observation_end(&projection, observation_end);
            let money = self.reporting(customers);
            let views: Vec<CustomerView> = ids
                .iter()
                .filter_map(|id| customers.profile(*id).filter(|profile| profile.id == *id))
                .map(|profile| view(&projection, customers, profile, end, &money))
                .collect();
            (views, projection.erased_keys.clone())
        };
        views.into_iter().map(|view| self.reveal_view(view, &erased)).collect()
    }

    /// Every customer's view as the projection holds it (pseudonyms, no personal value).
    fn customer_views(
        &self,
        observation_end: Option<Timestamp>,
    ) -> Result<(Vec<CustomerView>, std::collections::HashSet<u64>)> {
        self.catch_up()?;
        let projection = self.projection.read();
        let end = self.observation_end(&projection, observation_end);
        let money = self.reporting(&projection.customers);
        let views = projection
            .customers
            .profiles()
            .into_iter()
            .map(|p| view(&projection, &projection.customers, p, end, &money))
            .collect();
        Ok((views, projection.erased_keys.clone()))
    }

    /// Number of customers.
    pub fn customer_count(&self) -> Result<usize> {
        self.catch_up()?;
        Ok(self.projection.read().customers.len())
    }

    /// Customer ids in a segment, in a stable order (id order; spend order for `TopSpend`). Walks
    /// the profiles in place: no profile is copied, nothing is revealed.
    pub fn segment(&self, segment: &Segment) -> Result<Vec<CustomerId>> {
        self.catch_up()?;
        let projection = self.projection.read();
        let customers = &projection.customers;
        let profiles = || customers.profiles_unordered();
        let flags = |profile: &Profile| flags_of(&projection, profile, |_| {});
        let mut ids: Vec<CustomerId> = match segment {
            Segment::OpenUrgentTicket => profiles().filter(|p| flags(p).open_urgent).map(|p| p.id).collect(),
            Segment::RepeatInquiry => profiles().filter(|p| flags(p).repeat_inquiry).map(|p| p.id).collect(),
            Segment::MergeConflict => profiles().filter(|p| !p.conflicts.is_empty()).map(|p| p.id).collect(),
            Segment::Channel(channel) => {
                profiles().filter(|p| p.channels.iter().any(|(c, _)| c == channel)).map(|p| p.id).collect()
            }
            Segment::DidEvent { name, days } => {
                let now = latest_seen(&projection);
                profiles().filter(|p| p.did_event_within(name, *days, now)).map(|p| p.id).collect()
            }
            Segment::TopSpend(n) => {
                // Net spend in the reporting currency (no sum across currencies).
                let currency = self.reporting(customers).currency.unwrap_or_default();
                let net = |p: &Profile| {
                    let totals = p.orders.totals();
                    totals.iter().find(|t| t.currency.as_str() == currency).map_or(0, |t| t.net.minor())
                };
                let mut ranked: Vec<(i128, CustomerId)> = profiles().map(|p| (net(p), p.id)).collect();
                ranked.sort_unstable_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
                return Ok(ranked.into_iter().take(*n).map(|(_, id)| id).collect());
            }
        };
        ids.sort_unstable();
        Ok(ids)
    }

    /// Every event that touched the customer (messages on any channel, ticket changes, orders,
    /// ratings, merges, splits), in time order (then log order): `limit` entries from `offset`.
    pub fn timeline(&self, key: &CustomerKey, offset: usize, limit: usize) -> Result<Vec<(RecordedEvent, CxEvent)>> {
        let positions = match self.customer(key, None)? {
            Some(view) => view.profile.timeline,
            None => return Ok(Vec::new()),
        };
        let erased = self.erased_keys();
        let mut events = Vec::with_capacity(positions.len());
        for position in positions {
            let recorded = self.read_recorded(position)?;
            let (event, _) = self.privacy.reveal_recorded(&recorded, &erased)?;
            events.push((recorded, event));
        }
        events.sort_by_key(|(recorded, _)| (recorded.data.occurred_at, recorded.position));
        Ok(events.into_iter().skip(offset).take(limit).collect())
    }

    /// The customer as they were at `at`: the customer's events up to then (and those of every
    /// customer a recorded merge conflict names, so that refused merges are refused again),
    /// replayed through a fresh projection (identity resolution included, so merges that
    /// happened later are not there yet).
    ///
    /// Ids are the live store's: the replay's customer ids are translated by the position of the
    /// event that created each customer, which names one live customer exactly (ids are assigned
    /// in log order, at most one per event). A customer id key names that customer as it was
    /// then (a customer merged later is shown on its own). `Ok(None)`: the customer (or the
    /// identity) did not exist yet at `at`, or does not exist at all.
    pub fn customer_as_of(&self, key: &CustomerKey, at: Timestamp) -> Result<Option<CustomerView>> {
        let key = &self.pseudonymous_key(key)?;
        self.catch_up()?;
        let live = self.projection.read();
        let survivor = match key {
            CustomerKey::Identity(identity) => live.customers.owner(identity),
            CustomerKey::Id(id) => live.customers.profile(*id).map(|p| p.id),
        };
        let Some(survivor) = survivor else { return Ok(None) };
        // The customer and, transitively, every customer a conflict of theirs names.
        let mut customers = vec![survivor];
        let mut idx = 0;
        while let Some(&current) = customers.get(idx).filter(|_| customers.len() < AS_OF_CUSTOMERS_MAX) {
            if let Some(profile) = live.customers.profile(current) {
                for conflict in &profile.conflicts {
                    for other in &conflict.customers {
                        let other = live.customers.resolver().resolve(*other);
                        if !customers.contains(&other) {
                            customers.push(other);
                        }
                    }
                }
            }
            idx += 1;
        }
        let mut positions: Vec<Position> = customers
            .iter()
            .filter_map(|c| live.customers.profile(*c))
            .flat_map(|p| p.timeline.iter().copied())
            .collect();
        positions.sort_unstable();
        positions.dedup();
        // The view needs tickets and profiles only; the replay's metrics stay empty.
        let mut replay = Projection::new(self.options().resolution.clone(), MetricsOptions::default());
        let mut touches: Vec<Touch> = Vec::new();
        for position in positions {
            let recorded = self.read_recorded(position)?;
            if recorded.data.occurred_at > at {
                continue;
            }
            touches.push(touch_of(&recorded)?);
        }
        let by_position: std::collections::HashMap<Position, Touch> =
            touches.iter().map(|touch| (touch.position, touch.clone())).collect();
        // Events after `at` are left out of this replay on purpose (`Ok(None)`).
        let mut read = |position: Position| -> Result<Option<Touch>> { Ok(by_position.get(&position).cloned()) };
        for touch in &touches {
            if let Some(ticket_id) = &touch.ticket {
                replay.apply_ticket_event_of(ticket_id, &touch.event, touch.at);
            }
            replay.apply_customers(touch, &mut read)?;
        }
        let replayed = match key {
            CustomerKey::Identity(identity) => replay.customers.owner(identity),
            CustomerKey::Id(id) => {
                // The replay's customer created by the same event as the live one.
                let created = live.customer_created_at(*id);
                let found = created.and_then(|p| replay.customer_created_at.binary_search(&p).ok());
                found.map(|idx| CustomerId(idx as u64 + 1))
            }
        };
        let Some(profile) = replayed.and_then(|r| replay.customers.profile(r)) else { return Ok(None) };
        let money = self.reporting(&live.customers);
        let mut view = view(&replay, &replay.customers, profile, at.0, &money);
        let translate = |replayed: CustomerId| -> Result<CustomerId> {
            let position = replay.customer_created_at(replayed);
            let live_idx = position.and_then(|p| live.customer_created_at.binary_search(&p).ok());
            match (position, live_idx) {
                (_, Some(idx)) => Ok(CustomerId(idx as u64 + 1)),
                (position, None) => Err(Error::AsOfReplay { customer: replayed, position: position.map(|p| p.0) }),
            }
        };
        view.profile.id = translate(view.profile.id)?;
        for merged in &mut view.profile.merged_from {
            *merged = translate(*merged)?;
        }
        if let Some(split_from) = &mut view.profile.split_from {
            *split_from = translate(*split_from)?;
        }
        for conflict in &mut view.profile.conflicts {
            for customer in &mut conflict.customers {
                *customer = translate(*customer)?;
            }
        }
        let erased = live.erased_keys.clone();
        drop(live);
        Ok(Some(self.reveal_view(view, &erased)?))
    }

    /// The event at a position the projection names (`store::read_recorded`).
    fn read_recorded(&self, position: Position) -> Result<RecordedEvent> {
        crate::store::read_recorded(self.local(), position)
    }

    /// Undoes a wrong merge: `identities` of `customer`, and every event that reached the
    /// customer through them, move to a new customer. Returns the new customer's id.
    pub fn split(&self, customer: CustomerId, identities: Vec<Identity>, meta: Meta) -> Result<CustomerId> {
        let Some(current) = self.customer(&CustomerKey::Id(customer), None)? else {
            return Err(Error::UnknownCustomer(customer));
        };
        if identities.is_empty() {
            return Err(Error::InvalidSplit("no identity to move".to_owned()));
        }
        if let Some(missing) = identities.iter().find(|i| !current.identities.contains(i)) {
            return Err(Error::InvalidSplit(format!("{missing} does not belong to {}", current.id())));
        }
        if identities.len() == current.identities.len() {
            return Err(Error::InvalidSplit("a split must leave at least one identity".to_owned()));
        }
        let Some(first) = identities.first().cloned() else {
            return Err(Error::InvalidSplit("no identity to move".to_owned()));
        };
        let event = CxEvent::CustomersSplit(CustomersSplit { customer: current.id(), identities });
        self.submit(Input::Event(event), meta)?;
        self.customer_id(&CustomerKey::Identity(first))?
            .ok_or_else(|| Error::InvalidSplit("the split did not take effect".to_owned()))
    }
}
