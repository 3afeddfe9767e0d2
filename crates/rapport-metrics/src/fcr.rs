//! First-contact resolution: a solved ticket is FCR when it is one-touch and the same customer
//! opened no other ticket, on any channel, from its creation to [`FCR_WINDOW_DAYS_DEFAULT`]
//! (configurable) days after its first solve. Definitions: docs/metrics.md, "First-contact
//! resolution".

use std::collections::HashMap;

use rapport_events::{CustomerId, Identity};

use crate::projection::TicketRecord;
use crate::surveys::Who;
use crate::ticket::TicketMetrics;

/// The default window of first-contact resolution, in days after the first solve.
pub const FCR_WINDOW_DAYS_DEFAULT: u32 = 7;

/// The creation times of every customer's tickets, sorted.
pub(crate) struct CustomerTickets<'a> {
    customer_of: &'a dyn Fn(&Identity) -> Option<CustomerId>,
    created: HashMap<Who<'a>, Vec<i64>>,
}

impl<'a> CustomerTickets<'a> {
    /// Indexes the tickets by customer. O(tickets · log).
    pub(crate) fn new(
        records: impl IntoIterator<Item = &'a TicketRecord>,
        customer_of: &'a dyn Fn(&Identity) -> Option<CustomerId>,
    ) -> CustomerTickets<'a> {
        let mut created: HashMap<Who<'a>, Vec<i64>> = HashMap::new();
        for record in records {
            created.entry(Who::of(&record.requester, customer_of)).or_default().push(record.state.created_at);
        }
        for times in created.values_mut() {
            times.sort_unstable();
        }
        CustomerTickets { customer_of, created }
    }

    /// Whether `record` is FCR; `None` when it does not count: never solved, closed by a merge,
    /// or first solved less than `window` before `now`. O(log tickets of the customer).
    pub(crate) fn fcr(&self, record: &TicketRecord, metrics: &TicketMetrics, window: i64, now: i64) -> Option<bool> {
        let first_solved = record.state.first_solved_at?;
        let end = first_solved.saturating_add(window);
        if record.merged_away || end > now {
            return None;
        }
        if metrics.one_touch != Some(true) {
            return Some(false);
        }
        let start = record.state.created_at;
        let times = self.created.get(&Who::of(&record.requester, self.customer_of)).map_or(&[][..], Vec::as_slice);
        // Tickets of the customer created in [start, max(end, start)]; the ticket itself is one.
        let opened =
            times.partition_point(|at| *at <= end.max(start)).saturating_sub(times.partition_point(|at| *at < start));
        Some(opened <= 1)
    }
}
