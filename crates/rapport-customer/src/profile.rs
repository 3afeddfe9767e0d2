//! The unified profile of one customer: a fold of the events that reached the customer, plus RFM
//! computed on demand. Kept small (no payload copies): the timeline is positions only.

use std::collections::BTreeMap;

use rapport_events::{Amount, Channel, CustomerId, CxEvent, ExchangeRates, Survey, TicketId, Total};
use rapport_types::{Position, Timestamp};

/// Distinct custom-event names a profile remembers the latest time of (segments ask "did X in
/// the last N days"); a source that invents a name per event cannot grow a profile past it.
pub const CUSTOM_EVENT_NAMES_MAX: usize = 256;

/// Microseconds per day.
const DAY_MICROS: i64 = 86_400_000_000;

/// The day number (days since 1970-01-01, UTC) of an instant. Saturates beyond the `i32` range
/// (which no instant in `Timestamp::MIN..=Timestamp::MAX` reaches).
pub fn day_of(at: Timestamp) -> i32 {
    let day = at.0.div_euclid(DAY_MICROS);
    i32::try_from(day).unwrap_or(if day < 0 { i32::MIN } else { i32::MAX })
}

/// One survey answer.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Rating {
    /// When.
    pub at: Timestamp,
    /// Which survey.
    pub survey: Survey,
    /// The score.
    pub score: u8,
    /// The ticket rated.
    pub ticket_id: Option<TicketId>,
}

/// One trait value and when it was set: the latest value per key wins, by occurred-at time, and
/// between values set at the same time, the later log position (a total, deterministic order:
/// no two events share a position), in the fold and on a merge alike.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TraitValue {
    /// The value.
    pub value: String,
    /// Occurred-at time of the event that set it.
    pub at: Timestamp,
    /// Log position of that event.
    pub position: Position,
}

impl TraitValue {
    /// Whether this value replaces `other` (it is later by `(at, position)`).
    fn supersedes(&self, other: &TraitValue) -> bool {
        (self.at, self.position) > (other.at, other.position)
    }
}

fn set_trait(traits: &mut Traits, key: String, value: TraitValue) {
    match traits.0.binary_search_by(|(k, _)| k.as_str().cmp(&key)) {
        Ok(index) => {
            if let Some((_, current)) = traits.0.get_mut(index) {
                if value.supersedes(current) {
                    *current = value;
                }
            }
        }
        Err(index) => traits.0.insert(index, (key, value)),
    }
}

/// A profile's traits: the latest value per key, in key order. A sorted `Vec`, not a
/// `BTreeMap`: a profile holds a handful of traits, and a `BTreeMap`'s first node takes room
/// for eleven (720 bytes per profile, 72 MB of the 100,000-people store's heap); this takes
/// 64 bytes per trait. Encoded as a map in key order, byte for byte what the `BTreeMap` was.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Traits(Vec<(String, TraitValue)>);

impl Traits {
    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&TraitValue> {
        let index = self.0.binary_search_by(|(k, _)| k.as_str().cmp(key)).ok()?;
        self.0.get(index).map(|(_, value)| value)
    }

    /// The traits in key order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&String, &TraitValue)> {
        self.0.iter().map(|(key, value)| (key, value))
    }

    /// The traits in key order, values mutable (keys are not: they keep the order).
    pub fn iter_mut(&mut self) -> impl ExactSizeIterator<Item = (&String, &mut TraitValue)> {
        self.0.iter_mut().map(|(key, value)| (&*key, value))
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<'a> IntoIterator for &'a Traits {
    type Item = (&'a String, &'a TraitValue);
    type IntoIter = std::iter::Map<
        std::slice::Iter<'a, (String, TraitValue)>,
        fn(&'a (String, TraitValue)) -> (&'a String, &'a TraitValue),
    >;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter().map(|(key, value)| (key, value))
    }
}

impl<'a> IntoIterator for &'a mut Traits {
    type Item = (&'a String, &'a mut TraitValue);
    type IntoIter = std::iter::Map<
        std::slice::IterMut<'a, (String, TraitValue)>,
        fn(&'a mut (String, TraitValue)) -> (&'a String, &'a mut TraitValue),
    >;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter_mut().map(|(key, value)| (&*key, value))
    }
}

impl IntoIterator for Traits {
    type Item = (String, TraitValue);
    type IntoIter = std::vec::IntoIter<(String, TraitValue)>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl serde::Serialize for Traits {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.iter())
    }
}

impl<'de> serde::Deserialize<'de> for Traits {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Traits, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = Traits;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a map of trait values")
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Traits, A::Error> {
                // What a `BTreeMap` decode gave: any order in, key order kept, a repeated
                // key's last value wins.
                let mut traits = Vec::with_capacity(map.size_hint().unwrap_or(0).min(rapport_events::TRAITS_MAX));
                while let Some((key, value)) = map.next_entry::<String, TraitValue>()? {
                    traits.push((key, value));
                }
                traits.sort_by(|(a, _), (b, _)| a.cmp(b));
                let mut deduped: Vec<(String, TraitValue)> = Vec::with_capacity(traits.len());
                for (key, value) in traits {
                    match deduped.last_mut() {
                        Some((last, current)) if *last == key => *current = value,
                        _ => deduped.push((key, value)),
                    }
                }
                Ok(Traits(deduped))
            }
        }
        deserializer.deserialize_map(Visitor)
    }
}

/// A refused merge, as recorded on each customer involved.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MergeConflict {
    /// The customers kept apart.
    pub customers: Vec<CustomerId>,
    /// The unique kind with two values.
    pub kind: String,
    /// When.
    pub at: Timestamp,
}

/// An ISO 4217 currency code, held inline (three ASCII letters, no heap: every profile with
/// orders has one). Every recorded order's currency is three upper-case letters (validated at
/// submit since the first release); anything else found in a log reads as `XXX`, ISO 4217's
/// "no currency", so it is never counted as a real one.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
pub struct CurrencyCode([u8; 3]);

impl CurrencyCode {
    /// The code of `text`, or `XXX` when it is not three upper-case ASCII letters.
    pub fn new(text: &str) -> CurrencyCode {
        match text.as_bytes() {
            &[a, b, c] if [a, b, c].iter().all(u8::is_ascii_uppercase) => CurrencyCode([a, b, c]),
            _ => CurrencyCode(*b"XXX"),
        }
    }

    /// The code as text.
    pub fn as_str(&self) -> &str {
        // Only ASCII letters are ever stored.
        std::str::from_utf8(&self.0).unwrap_or("XXX")
    }
}

impl std::ops::Deref for CurrencyCode {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl std::borrow::Borrow<str> for CurrencyCode {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl std::fmt::Debug for CurrencyCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", self.as_str())
    }
}

impl std::fmt::Display for CurrencyCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Orders of a customer in one currency (other than the profile's).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CurrencyOrders {
    /// Number of orders.
    pub count: u32,
    /// Sum of their amounts.
    pub total: Total,
    /// Gross spend per order day, sorted by day: `(day number, minor units)`.
    pub days: Vec<(i32, Total)>,
}

/// Orders of a customer.
///
/// Amounts of different currencies are never added: `total`, [`Orders::average`] and the
/// per-day spend of `days` (RFM, CLV) are in the profile's `currency`, that of its first order
/// (of the survivor's, after a merge; a profile without orders in it takes the merged one's).
/// Orders in any other currency are counted and summed per currency in `other_currencies`, and
/// are not purchases for RFM. Sums are `i128` ([`Total`]), so no merge can overflow them.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Orders {
    /// Number of orders, every currency.
    pub count: u32,
    /// The currency of `total` and `days` (ISO 4217), `None` before the first order.
    pub currency: Option<CurrencyCode>,
    /// Sum of the amounts of the orders in `currency`.
    pub total: Total,
    /// Time of the first order (every currency).
    pub first_at: Option<Timestamp>,
    /// Time of the last order (every currency).
    pub last_at: Option<Timestamp>,
    /// Gross spend per order day of the orders in `currency`, sorted by day:
    /// `(day number, minor units)`. RFM uses the net purchase days of [`Orders::purchase_days`].
    pub days: Vec<(i32, Total)>,
    /// Orders in other currencies, by ISO 4217 code.
    /// Boxed and `None` until a second currency appears: almost every customer buys in one,
    /// and an empty map held inline costs 24 bytes in every profile.
    pub other_currencies: Option<Box<BTreeMap<CurrencyCode, CurrencyOrders>>>,
    /// Every order, refund, return and cancellation by order id, in the order they reached the
    /// customer: what net spend, cancellations and RFM purchases are computed from.
    pub lines: Vec<OrderLine>,
}

/// One order of a customer and what happened to it after the sale.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct OrderLine {
    /// The order id.
    pub order_id: Box<str>,
    /// Its currency (that of the order, or of the first refund, return or cancellation seen
    /// before the order).
    pub currency: CurrencyCode,
    /// The day it was placed, `None` while only refunds, returns or a cancellation of it have
    /// been seen (an import out of order).
    pub day: Option<i32>,
    /// The amount placed (gross).
    pub amount: Amount,
    /// Refunds and returns on it (`customer.order_refunded`, `customer.order_returned`), in its
    /// currency; those in another currency are not applied (a source error).
    pub reduced: Total,
    /// Whether it was cancelled (`customer.order_cancelled`).
    pub cancelled: bool,
}

impl OrderLine {
    /// Net value: the amount less refunds and returns, never below zero; zero when cancelled.
    pub fn net(&self) -> Total {
        if self.cancelled {
            return Total::ZERO;
        }
        let mut net = Total::from(self.amount);
        net.sub_total(self.reduced);
        if net < Total::ZERO {
            Total::ZERO
        } else {
            net
        }
    }

    /// Whether it is fully refunded: refunds or returns were recorded and leave nothing (an
    /// order of amount zero without refunds is not: CDNOW has such purchases).
    pub fn is_fully_refunded(&self) -> bool {
        !self.cancelled && self.reduced > Total::ZERO && self.net() == Total::ZERO
    }

    /// Whether it is a purchase (for RFM and BG/NBD): placed, not cancelled, not fully refunded.
    pub fn is_purchase(&self) -> bool {
        self.day.is_some() && !self.cancelled && !self.is_fully_refunded()
    }
}

/// The totals of a customer's orders in one currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CurrencyTotals {
    /// The currency.
    pub currency: CurrencyCode,
    /// Orders placed in it (cancelled ones included).
    pub count: u32,
    /// Of which cancelled.
    pub cancelled: u32,
    /// Of which fully refunded or returned (and not cancelled).
    pub fully_refunded: u32,
    /// Sum of the amounts placed, cancelled orders excluded.
    pub gross: Total,
    /// Sum of the refunds and returns applied to those orders (at most each order's amount).
    pub refunded: Total,
    /// `gross - refunded`.
    pub net: Total,
}

/// Net purchase days in one currency, and what was left out for want of an exchange rate.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PurchaseDays {
    /// Net spend per purchase day, sorted: `(day number, minor units of the currency)`.
    pub days: Vec<(i32, Total)>,
    /// Purchases in other currencies converted with the rate table.
    pub converted: u32,
    /// Purchases in other currencies left out: no rate for them.
    pub excluded: u32,
}

fn add_day(days: &mut Vec<(i32, Total)>, day: i32, spend: Total) {
    match days.binary_search_by_key(&day, |(d, _)| *d) {
        Ok(idx) => {
            // `Ok` from the search is an index of `days`, so the entry is always there.
            if let Some((_, total)) = days.get_mut(idx) {
                total.add_total(spend);
            }
        }
        Err(idx) => days.insert(idx, (day, spend)),
    }
}

impl Orders {
    /// The latest line of `order_id`, a pending one (not yet placed) added when there is none.
    fn line_mut(&mut self, order_id: &str, currency: &str) -> Option<&mut OrderLine> {
        if !self.lines.iter().any(|line| &*line.order_id == order_id) {
            self.lines.push(OrderLine {
                order_id: order_id.into(),
                currency: CurrencyCode::new(currency),
                day: None,
                amount: Amount::ZERO,
                reduced: Total::ZERO,
                cancelled: false,
            });
        }
        self.lines.iter_mut().rev().find(|line| &*line.order_id == order_id)
    }

    fn place(&mut self, at: Timestamp, order_id: &str, amount: Amount, currency: &str) {
        let pending = self.lines.iter().rposition(|line| &*line.order_id == order_id && line.day.is_none());
        match pending.and_then(|idx| self.lines.get_mut(idx)) {
            Some(line) => {
                line.day = Some(day_of(at));
                line.amount = amount;
                line.currency = CurrencyCode::new(currency);
            }
            None => self.lines.push(OrderLine {
                order_id: order_id.into(),
                currency: CurrencyCode::new(currency),
                day: Some(day_of(at)),
                amount,
                reduced: Total::ZERO,
                cancelled: false,
            }),
        }
        self.add(at, amount, currency);
    }

    fn reduce(&mut self, order_id: &str, amount: Amount, currency: &str) {
        if let Some(line) = self.line_mut(order_id, currency) {
            if line.currency.as_str() == currency {
                line.reduced.add(amount);
            }
        }
    }

    fn cancel(&mut self, order_id: &str) {
        if let Some(line) = self.line_mut(order_id, "XXX") {
            line.cancelled = true;
        }
    }

    /// Totals per currency (gross, refunded, net), sorted by currency code: never added
    /// across currencies.
    pub fn totals(&self) -> Vec<CurrencyTotals> {
        let mut totals: BTreeMap<CurrencyCode, CurrencyTotals> = BTreeMap::new();
        for line in self.lines.iter().filter(|line| line.day.is_some()) {
            let entry = totals.entry(line.currency).or_insert(CurrencyTotals {
                currency: line.currency,
                count: 0,
                cancelled: 0,
                fully_refunded: 0,
                gross: Total::ZERO,
                refunded: Total::ZERO,
                net: Total::ZERO,
            });
            entry.count = entry.count.saturating_add(1);
            if line.cancelled {
                entry.cancelled = entry.cancelled.saturating_add(1);
                continue;
            }
            let net = line.net();
            if line.is_fully_refunded() {
                entry.fully_refunded = entry.fully_refunded.saturating_add(1);
            }
            entry.gross.add(line.amount);
            let mut refunded = Total::from(line.amount);
            refunded.sub_total(net);
            entry.refunded.add_total(refunded);
            entry.net.add_total(net);
        }
        totals.into_values().collect()
    }

    /// Net spend per purchase day in `currency` (cancelled and fully refunded orders are no
    /// purchases; partial refunds reduce the order's value). Purchases in other currencies are
    /// converted with `rates` when it has their rate (rounded half away from zero to the
    /// minor unit), otherwise left out and counted in [`PurchaseDays::excluded`].
    pub fn purchase_days(&self, currency: &str, rates: Option<&ExchangeRates>) -> PurchaseDays {
        let mut result = PurchaseDays::default();
        for line in self.lines.iter().filter(|line| line.is_purchase()) {
            let Some(day) = line.day else { continue };
            let net = line.net();
            let value = if line.currency.as_str() == currency {
                net
            } else {
                match rates.and_then(|rates| rates.convert(net, line.currency.as_str(), currency)) {
                    Some(converted) => {
                        result.converted = result.converted.saturating_add(1);
                        converted
                    }
                    None => {
                        result.excluded = result.excluded.saturating_add(1);
                        continue;
                    }
                }
            };
            add_day(&mut result.days, day, value);
        }
        result
    }

    /// The currency most orders are in (ties: the smaller code), `None` without orders.
    pub fn main_currency(&self) -> Option<CurrencyCode> {
        let totals = self.totals();
        totals.iter().max_by(|a, b| a.count.cmp(&b.count).then(b.currency.cmp(&a.currency))).map(|t| t.currency)
    }

    /// Average value of the orders in `currency`.
    pub fn average(&self) -> Option<f64> {
        let others: u32 = self.other_currencies.iter().flat_map(|map| map.values()).map(|o| o.count).sum();
        let in_currency = self.count.saturating_sub(others);
        (in_currency > 0).then(|| self.total.as_f64(self.currency.as_deref().unwrap_or("XXX")) / f64::from(in_currency))
    }

    fn add(&mut self, at: Timestamp, amount: Amount, currency: &str) {
        self.count = self.count.saturating_add(1);
        self.first_at = Some(self.first_at.map_or(at, |first| first.min(at)));
        self.last_at = Some(self.last_at.map_or(at, |last| last.max(at)));
        let currency = CurrencyCode::new(currency);
        let currency_now = *self.currency.get_or_insert(currency);
        if currency_now != currency {
            let other = self.other_currencies.get_or_insert_with(Box::default).entry(currency).or_default();
            other.count = other.count.saturating_add(1);
            other.total.add(amount);
            add_day(&mut other.days, day_of(at), Total::from(amount));
            return;
        }
        self.total.add(amount);
        add_day(&mut self.days, day_of(at), Total::from(amount));
    }

    fn absorb(&mut self, mut other: Orders) {
        self.lines.append(&mut other.lines);
        let other_in_currency = other
            .count
            .saturating_sub(other.other_currencies.iter().flat_map(|map| map.values()).map(|o| o.count).sum::<u32>());
        self.count = self.count.saturating_add(other.count);
        self.first_at = match (self.first_at, other.first_at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.last_at = match (self.last_at, other.last_at) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        for (currency, orders) in other.other_currencies.map(|map| *map).unwrap_or_default() {
            self.add_other(currency, orders);
        }
        let Some(other_currency) = other.currency else { return };
        match &self.currency {
            // No order of our own yet: the merged customer's currency becomes ours.
            None => {
                self.currency = Some(other_currency);
                self.total = other.total;
                self.days = other.days;
            }
            Some(mine) if *mine == other_currency => {
                self.total.add_total(other.total);
                for (day, spend) in other.days {
                    add_day(&mut self.days, day, spend);
                }
            }
            Some(_) => self.add_other(
                other_currency,
                CurrencyOrders { count: other_in_currency, total: other.total, days: other.days },
            ),
        }
    }

    fn add_other(&mut self, currency: CurrencyCode, orders: CurrencyOrders) {
        // A merged customer's other currency may be ours: then its orders join ours.
        let (total, days) = if self.currency.as_ref() == Some(&currency) {
            (&mut self.total, &mut self.days)
        } else {
            let mine = self.other_currencies.get_or_insert_with(Box::default).entry(currency).or_default();
            mine.count = mine.count.saturating_add(orders.count);
            (&mut mine.total, &mut mine.days)
        };
        total.add_total(orders.total);
        for (day, spend) in orders.days {
            add_day(days, day, spend);
        }
    }
}

/// Recency, frequency, monetary value and age, by the convention of the `lifetimes` package:
/// calendar days, distinct purchase days.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Rfm {
    /// Distinct purchase days − 1 (repeat purchase days).
    pub frequency: u32,
    /// Last purchase day − first purchase day.
    pub recency_days: i64,
    /// Observation end − first purchase day.
    pub t_days: i64,
    /// Mean spend of the purchase days after the first (0 when `frequency` is 0).
    pub monetary: f64,
}

/// RFM of `days` (sorted `(day, spend in minor units of `currency`)`) as of the observation end
/// day `end_day`; purchase days after it are not counted; `monetary` is in whole units of
/// `currency`. `None` without purchases up to then.
pub fn rfm(days: &[(i32, Total)], end_day: i32, currency: &str) -> Option<Rfm> {
    let observed: Vec<&(i32, Total)> = days.iter().take_while(|(day, _)| *day <= end_day).collect();
    let (first, _) = **observed.first()?;
    let (last, _) = **observed.last()?;
    let frequency = (observed.len() - 1) as u32;
    let monetary = if frequency == 0 {
        0.0
    } else {
        observed.iter().skip(1).map(|(_, spend)| spend.as_f64(currency)).sum::<f64>() / f64::from(frequency)
    };
    Some(Rfm { frequency, recency_days: i64::from(last - first), t_days: i64::from(end_day - first), monetary })
}

/// One customer's profile.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Profile {
    /// The id.
    pub id: CustomerId,
    /// Customers merged into this one.
    pub merged_from: Vec<CustomerId>,
    /// The customer this one was split from, if any.
    pub split_from: Option<CustomerId>,
    /// Traits, the latest value per key (see [`TraitValue`]).
    pub traits: Traits,
    /// Time of the first event that reached the customer.
    pub first_seen: Option<Timestamp>,
    /// Time of the latest.
    pub last_seen: Option<Timestamp>,
    /// Inbound interactions per channel (customer messages, tickets opened on a channel).
    pub channels: Vec<(Channel, u32)>,
    /// Tickets the customer requested, on any identity, in order of creation.
    pub tickets: Vec<TicketId>,
    /// Orders.
    pub orders: Orders,
    /// Survey answers in time order.
    pub ratings: Vec<Rating>,
    /// Refused merges.
    pub conflicts: Vec<MergeConflict>,
    /// Custom events (`customer.event`): the latest time of each event name, at most
    /// [`CUSTOM_EVENT_NAMES_MAX`] names (beyond it, the name seen longest ago is dropped).
    pub custom_events: BTreeMap<String, Timestamp>,
    /// Positions of every event that touched the customer, ascending.
    pub timeline: Vec<Position>,
    /// When the customer's personal data was erased (`customer.erased`): the profile keeps
    /// ids, tickets, orders and ratings; its identities are gone from resolution and every
    /// personal value reads as erased.
    pub erased_at: Option<Timestamp>,
}

impl Profile {
    /// An empty profile.
    pub fn new(id: CustomerId) -> Profile {
        Profile {
            id,
            merged_from: Vec::new(),
            split_from: None,
            traits: Traits::default(),
            first_seen: None,
            last_seen: None,
            channels: Vec::new(),
            tickets: Vec::new(),
            orders: Orders::default(),
            ratings: Vec::new(),
            conflicts: Vec::new(),
            custom_events: BTreeMap::new(),
            timeline: Vec::new(),
            erased_at: None,
        }
    }

    /// Latest answer of a survey.
    pub fn latest(&self, survey: Survey) -> Option<&Rating> {
        self.ratings.iter().rev().find(|r| r.survey == survey)
    }

    /// RFM as of the observation end, on the net purchases in the profile's currency
    /// ([`Orders::currency`]; purchases in others are left out).
    pub fn rfm(&self, observation_end: Timestamp) -> Option<Rfm> {
        let currency = self.orders.currency?;
        self.rfm_in(observation_end, currency.as_str(), None).0
    }

    /// RFM as of the observation end on the net purchases in `currency` (converted from others
    /// with `rates` when given), and the purchases days computed from (with the counts of
    /// converted and excluded purchases).
    pub fn rfm_in(
        &self,
        observation_end: Timestamp,
        currency: &str,
        rates: Option<&ExchangeRates>,
    ) -> (Option<Rfm>, PurchaseDays) {
        let days = self.orders.purchase_days(currency, rates);
        (rfm(&days.days, day_of(observation_end), currency), days)
    }

    /// Records that the event at `position` (time `at`) touched the customer.
    /// Marks the profile erased by the event at `position`, which joins the timeline without
    /// moving first or last seen (an erasure is no interaction, and must change no metric).
    pub(crate) fn mark_erased(&mut self, position: Position, at: Timestamp) {
        if let Err(idx) = self.timeline.binary_search(&position) {
            self.timeline.insert(idx, position);
        }
        self.erased_at = Some(at);
    }

    pub(crate) fn touch(&mut self, position: Position, at: Timestamp) {
        if self.timeline.last().is_none_or(|last| *last < position) {
            self.timeline.push(position);
        } else if let Err(idx) = self.timeline.binary_search(&position) {
            self.timeline.insert(idx, position);
        }
        self.first_seen = Some(self.first_seen.map_or(at, |first| first.min(at)));
        self.last_seen = Some(self.last_seen.map_or(at, |last| last.max(at)));
    }

    fn count_channel(&mut self, channel: &Channel) {
        match self.channels.iter_mut().find(|(c, _)| c == channel) {
            Some((_, count)) => *count += 1,
            None => self.channels.push((channel.clone(), 1)),
        }
    }

    /// The current value of a trait.
    pub fn trait_value(&self, key: &str) -> Option<&str> {
        self.traits.get(key).map(|t| t.value.as_str())
    }

    /// Folds what the event at `position` (time `at`) says about the customer (not the
    /// timeline: see [`Profile::touch`]). `derived`: the store derived the event (a ticket it
    /// opened for a message is not a second interaction).
    pub(crate) fn fold(&mut self, event: &CxEvent, position: Position, at: Timestamp, derived: bool) {
        match event {
            CxEvent::CustomerIdentified(e) => {
                for (key, value) in &e.traits {
                    set_trait(&mut self.traits, key.clone(), TraitValue { value: value.clone(), at, position });
                }
            }
            CxEvent::OrderPlaced(e) => self.orders.place(at, &e.order_id, e.amount, &e.currency),
            CxEvent::OrderRefunded(e) => self.orders.reduce(&e.order_id, e.amount, &e.currency),
            CxEvent::OrderReturned(e) => self.orders.reduce(&e.order_id, e.amount, &e.currency),
            CxEvent::OrderCancelled(e) => self.orders.cancel(&e.order_id),
            CxEvent::CustomerRated(e) => {
                let rating = Rating { at, survey: e.survey, score: e.score, ticket_id: e.ticket_id.clone() };
                let idx = self.ratings.partition_point(|r| r.at <= at);
                self.ratings.insert(idx, rating);
            }
            CxEvent::MessageReceived(e) => self.count_channel(&e.channel),
            CxEvent::CustomerEvent(e) => self.note_custom_event(&e.name, at),
            CxEvent::TicketOpened(e) => {
                if !self.tickets.contains(&e.ticket_id) {
                    self.tickets.push(e.ticket_id.clone());
                }
                if !derived {
                    self.count_channel(&e.channel);
                }
            }
            _ => {}
        }
    }

    /// Notes that the customer did the custom event `name` at `at` (the latest time per name).
    fn note_custom_event(&mut self, name: &str, at: Timestamp) {
        let latest = self.custom_events.entry(name.to_owned()).or_insert(at);
        *latest = (*latest).max(at);
        if self.custom_events.len() > CUSTOM_EVENT_NAMES_MAX {
            let oldest =
                self.custom_events.iter().min_by_key(|(name, at)| (**at, (*name).clone())).map(|(n, _)| n.clone());
            if let Some(oldest) = oldest {
                self.custom_events.remove(&oldest);
            }
        }
    }

    /// Whether the customer did the custom event `name` in the `days` days up to `now`
    /// (`now - days * 24 h <= at <= now`).
    pub fn did_event_within(&self, name: &str, days: u32, now: Timestamp) -> bool {
        let since = now.0.saturating_sub(i64::from(days).saturating_mul(86_400_000_000));
        self.custom_events.get(name).is_some_and(|at| at.0 >= since && at.0 <= now.0)
    }

    /// Takes over everything of a merged customer.
    pub(crate) fn absorb(&mut self, other: Profile) {
        self.merged_from.push(other.id);
        self.merged_from.extend(other.merged_from);
        for (key, value) in other.traits {
            set_trait(&mut self.traits, key, value);
        }
        self.first_seen = match (self.first_seen, other.first_seen) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.last_seen = match (self.last_seen, other.last_seen) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        for (channel, count) in other.channels {
            match self.channels.iter_mut().find(|(c, _)| *c == channel) {
                Some((_, mine)) => *mine += count,
                None => self.channels.push((channel, count)),
            }
        }
        for ticket in other.tickets {
            if !self.tickets.contains(&ticket) {
                self.tickets.push(ticket);
            }
        }
        self.orders.absorb(other.orders);
        for rating in other.ratings {
            let idx = self.ratings.partition_point(|r| r.at <= rating.at);
            self.ratings.insert(idx, rating);
        }
        self.conflicts.extend(other.conflicts);
        for (name, at) in other.custom_events {
            self.note_custom_event(&name, at);
        }
        let mut timeline = Vec::with_capacity(self.timeline.len() + other.timeline.len());
        let (mut a, mut b) = (self.timeline.iter().peekable(), other.timeline.iter().peekable());
        loop {
            let next = match (a.peek(), b.peek()) {
                (Some(x), Some(y)) if x <= y => a.next(),
                (Some(_), Some(_)) => b.next(),
                (Some(_), None) => a.next(),
                (None, Some(_)) => b.next(),
                (None, None) => break,
            };
            if let Some(position) = next {
                if timeline.last() != Some(position) {
                    timeline.push(*position);
                }
            }
        }
        self.timeline = timeline;
    }

    /// Heap bytes held, excluding the timeline (for the memory benchmark).
    pub fn heap_bytes_without_timeline(&self) -> usize {
        self.merged_from.capacity() * std::mem::size_of::<CustomerId>()
            + self.traits.iter().map(|(k, v)| k.capacity() + v.value.capacity() + 64).sum::<usize>()
            + self.channels.capacity() * std::mem::size_of::<(Channel, u32)>()
            + self.tickets.iter().map(|t| t.as_str().len() + 24).sum::<usize>()
            + self.orders.days.capacity() * std::mem::size_of::<(i32, Total)>()
            + self.orders.lines.iter().map(|l| l.order_id.len() + std::mem::size_of::<OrderLine>()).sum::<usize>()
            + self.ratings.capacity() * std::mem::size_of::<Rating>()
            + self.conflicts.capacity() * std::mem::size_of::<MergeConflict>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// `Traits` against a `BTreeMap` model: the same latest value per key after any sets,
        /// the same iteration order, the same encoded bytes, and a decode of any map (unsorted,
        /// repeated keys) gives what a `BTreeMap` decode gives.
        #[test]
        fn traits_behave_and_encode_as_the_btreemap_they_replace(
            sets in proptest::collection::vec(("[a-d]{1,2}", 0i64..4, 0u64..4, "[x-z]{0,3}"), 0..24),
        ) {
            let mut traits = Traits::default();
            let mut model: BTreeMap<String, TraitValue> = BTreeMap::new();
            for (key, at, position, value) in &sets {
                let value = TraitValue { value: value.clone(), at: Timestamp(*at), position: Position(*position) };
                set_trait(&mut traits, key.clone(), value.clone());
                match model.get(key) {
                    Some(current) if !value.supersedes(current) => {}
                    _ => {
                        model.insert(key.clone(), value);
                    }
                }
            }
            let listed: Vec<(String, TraitValue)> = traits.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
            let expected: Vec<(String, TraitValue)> = model.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
            prop_assert_eq!(&listed, &expected);
            for key in ["a", "b", "ab", "zz"] {
                prop_assert_eq!(traits.get(key), model.get(key));
            }
            let bytes = postcard::to_allocvec(&traits).unwrap();
            prop_assert_eq!(&bytes, &postcard::to_allocvec(&model).unwrap());
            prop_assert_eq!(postcard::from_bytes::<Traits>(&bytes).unwrap(), traits);
            // An unsorted map with repeated keys, as a hostile file could hold it.
            let pairs: Vec<(String, TraitValue)> = sets
                .iter()
                .map(|(key, at, position, value)| {
                    (key.clone(), TraitValue { value: value.clone(), at: Timestamp(*at), position: Position(*position) })
                })
                .collect();
            // A map's length is a varint; these hold fewer than 128 pairs: one byte.
            let mut raw = vec![pairs.len() as u8];
            for pair in &pairs {
                raw.extend(postcard::to_allocvec(pair).unwrap());
            }
            let decoded: Traits = postcard::from_bytes(&raw).unwrap();
            let decoded_model: BTreeMap<String, TraitValue> = postcard::from_bytes(&raw).unwrap();
            let decoded: Vec<(String, TraitValue)> = decoded.into_iter().collect();
            prop_assert_eq!(decoded, decoded_model.into_iter().collect::<Vec<_>>());
        }
    }

    #[test]
    fn rfm_follows_the_lifetimes_convention() {
        // Purchases on days 10 (twice: one purchase day), 15, 30; observation end day 40.
        let t = Total::from_minor;
        let days = vec![(10, t(1_000)), (15, t(2_000)), (30, t(4_000))];
        let rfm = rfm(&days, 40, "USD").unwrap();
        assert_eq!(rfm.frequency, 2);
        assert_eq!(rfm.recency_days, 20);
        assert_eq!(rfm.t_days, 30);
        assert!((rfm.monetary - 30.0).abs() < 1e-9, "mean of 20 and 40: {}", rfm.monetary);
        let single = super::rfm(&[(10, t(1_000))], 12, "USD").unwrap();
        assert_eq!((single.frequency, single.recency_days, single.t_days, single.monetary), (0, 0, 2, 0.0));
        let cut = super::rfm(&days, 20, "USD").unwrap();
        assert_eq!(cut.frequency, 1, "purchases after the observation end do not count");
        assert_eq!(super::rfm(&days, 5, "USD"), None);
    }

    #[test]
    fn day_numbers_are_utc_days() {
        assert_eq!(day_of(Timestamp(0)), 0);
        assert_eq!(day_of(Timestamp(DAY_MICROS - 1)), 0);
        assert_eq!(day_of(Timestamp(-1)), -1);
        assert_eq!(day_of(Timestamp(i64::MIN)), -106_751_992, "no overflow at the extremes");
    }
}
