//! First-contact resolution: a solved ticket is FCR when it is one-touch and the same customer
//! opened no other ticket, on any channel, from its creation to [`FCR_WINDOW_DAYS_DEFAULT`]
//! (configurable) days after its first solve. Definitions: docs/metrics.md, "First-contact
//! resolution".

use rapport_customer::FastMap;

use crate::surveys::Who;

/// The default window of first-contact resolution, in days after the first solve.
pub const FCR_WINDOW_DAYS_DEFAULT: u32 = 7;

/// The creation times of every customer's tickets, sorted, in one flat list: customers get dense
/// indices, and each ticket knows its customer's index, so that the report resolves every
/// ticket's customer once (the caller's resolution is a hash lookup in a large map).
pub(crate) struct CustomerTickets {
    /// `customer[ticket]`: the customer index of the `ticket`-th ticket given to `new`.
    customer: Vec<u32>,
    /// `times[starts[c]..starts[c + 1]]`: customer `c`'s creation times, ascending.
    starts: Vec<usize>,
    times: Vec<i64>,
}

/// What first-contact resolution reads of a ticket.
pub(crate) struct FcrTicket {
    /// Creation.
    pub(crate) created_at: i64,
    /// The first solve.
    pub(crate) first_solved_at: Option<i64>,
    /// Closed by a merge into another ticket.
    pub(crate) merged_away: bool,
    /// The ticket's [`crate::TicketMetrics::one_touch`].
    pub(crate) one_touch: Option<bool>,
}

impl CustomerTickets {
    /// Indexes the tickets (their customer and creation time) by customer. O(tickets + the
    /// largest customer id among them, if small, + each customer's tickets · log).
    pub(crate) fn new<'a>(tickets: impl IntoIterator<Item = (Who<'a>, i64)>) -> CustomerTickets {
        let tickets = tickets.into_iter();
        // Customer ids are small integers (a store numbers its customers from 1): the index of
        // each is in an array, grown up to a bound; other ids and identities in a map.
        let bound = tickets.size_hint().0.saturating_mul(4).saturating_add(1_024);
        let mut by_id: Vec<u32> = Vec::new();
        let mut index: FastMap<Who<'a>, u32> = FastMap::default();
        let mut count: u32 = 0;
        let (mut customer, mut created) = (Vec::new(), Vec::new());
        for (who, at) in tickets {
            let slot = match who {
                Who::Customer(id) => usize::try_from(id.0).ok().filter(|id| *id < bound),
                Who::Identity(_) => None,
            };
            let c = match slot {
                Some(slot) => {
                    if by_id.len() <= slot {
                        by_id.resize(slot + 1, u32::MAX);
                    }
                    match by_id.get_mut(slot) {
                        Some(c) if *c == u32::MAX => {
                            *c = count;
                            count = count.saturating_add(1);
                            *c
                        }
                        Some(c) => *c,
                        None => unreachable!("resized to hold the slot"),
                    }
                }
                None => *index.entry(who).or_insert_with(|| {
                    count = count.saturating_add(1);
                    count - 1
                }),
            };
            customer.push(c);
            created.push(at);
        }
        // A counting sort by customer, then each customer's (few) times sorted: each
        // customer's times are one ascending run.
        let customers = count as usize;
        let mut starts = vec![0usize; customers + 1];
        for c in &customer {
            if let Some(next) = starts.get_mut(*c as usize + 1) {
                *next += 1;
            }
        }
        for c in 0..customers {
            let before = starts.get(c).copied().unwrap_or(0);
            if let Some(next) = starts.get_mut(c + 1) {
                *next += before;
            }
        }
        let mut times = vec![0i64; customer.len()];
        let mut fill = starts.clone();
        for (c, at) in customer.iter().zip(created) {
            if let Some(position) = fill.get_mut(*c as usize) {
                if let Some(slot) = times.get_mut(*position) {
                    *slot = at;
                }
                *position += 1;
            }
        }
        for window in starts.windows(2) {
            if let (Some(start), Some(end)) = (window.first(), window.get(1)) {
                if let Some(run) = times.get_mut(*start..*end) {
                    run.sort_unstable();
                }
            }
        }
        CustomerTickets { customer, starts, times }
    }

    /// The creation times of the customer of the `ticket`-th ticket, ascending.
    fn times_of(&self, ticket: usize) -> &[i64] {
        let Some(c) = self.customer.get(ticket).map(|c| *c as usize) else { return &[] };
        match (self.starts.get(c), self.starts.get(c + 1)) {
            (Some(start), Some(end)) => self.times.get(*start..*end).unwrap_or(&[]),
            _ => &[],
        }
    }

    /// Whether `record`, the `ticket`-th ticket given to `new`, is FCR; `None` when it does not
    /// count: never solved, closed by a merge, or first solved less than `window` before `now`.
    /// O(log tickets of the customer).
    pub(crate) fn fcr(&self, ticket: usize, record: &FcrTicket, window: i64, now: i64) -> Option<bool> {
        let first_solved = record.first_solved_at?;
        let end = first_solved.saturating_add(window);
        if record.merged_away || end > now {
            return None;
        }
        if record.one_touch != Some(true) {
            return Some(false);
        }
        let start = record.created_at;
        let times = self.times_of(ticket);
        // Tickets of the customer created in [start, max(end, start)]; the ticket itself is one.
        let opened =
            times.partition_point(|at| *at <= end.max(start)).saturating_sub(times.partition_point(|at| *at < start));
        Some(opened <= 1)
    }
}
