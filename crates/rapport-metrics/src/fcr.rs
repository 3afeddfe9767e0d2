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
    /// Indexes the tickets (their customer and creation time) by customer. O(tickets · log).
    pub(crate) fn new<'a>(tickets: impl IntoIterator<Item = (Who<'a>, i64)>) -> CustomerTickets {
        let mut index: FastMap<Who<'a>, u32> = FastMap::default();
        let (mut customer, mut created) = (Vec::new(), Vec::new());
        for (who, at) in tickets {
            let next = u32::try_from(index.len()).unwrap_or(u32::MAX);
            customer.push(*index.entry(who).or_insert(next));
            created.push(at);
        }
        // Sorted by customer, then time: each customer's times are one ascending run.
        let mut by_customer: Vec<(u32, i64)> = customer.iter().copied().zip(created).collect();
        by_customer.sort_unstable();
        let mut starts = Vec::with_capacity(index.len() + 1);
        for (position, (c, _)) in by_customer.iter().enumerate() {
            while starts.len() <= *c as usize {
                starts.push(position);
            }
        }
        while starts.len() <= index.len() {
            starts.push(by_customer.len());
        }
        let times = by_customer.into_iter().map(|(_, at)| at).collect();
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
