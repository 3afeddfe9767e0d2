//! Per-ticket metrics by Zendesk's definitions, folded event by event in O(1) per event (plus the
//! business-time arithmetic of [`Schedule::business_micros`], which does not depend on how long
//! the interval is), in calendar and business time. Definitions: docs/metrics.md.

use rapport_events::{Actor, Channel, CxEvent, Priority, Status};

use crate::schedule::{Schedule, MINUTE_MICROS};

/// A duration in calendar and business minutes.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Minutes {
    /// Wall-clock minutes.
    pub calendar: f64,
    /// Minutes inside the ticket's business hours.
    pub business: f64,
}

impl Minutes {
    /// Minutes from whole microseconds (`micros / 60e6`, one division each).
    pub fn from_micros(calendar_micros: i64, business_micros: i64) -> Minutes {
        Minutes {
            calendar: calendar_micros as f64 / MINUTE_MICROS as f64,
            business: business_micros as f64 / MINUTE_MICROS as f64,
        }
    }
}

/// A duration in whole microseconds: sums stay exact, and are turned into [`Minutes`] once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
struct Micros {
    calendar: i64,
    business: i64,
}

impl Micros {
    /// `[from, to)`; empty when `to <= from` (events may carry times out of order).
    fn between(schedule: &Schedule, from: i64, to: i64) -> Micros {
        if to <= from {
            return Micros::default();
        }
        Micros { calendar: to.saturating_sub(from), business: schedule.business_micros(from, to) }
    }

    fn add(&mut self, other: Micros) {
        self.calendar = self.calendar.saturating_add(other.calendar);
        self.business = self.business.saturating_add(other.business);
    }

    fn minutes(self) -> Minutes {
        Minutes::from_micros(self.calendar, self.business)
    }
}

/// Everything the per-ticket metrics need, updated per event.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TicketMetricsState {
    /// Creation time (unix microseconds).
    pub created_at: i64,
    /// Current status and since when.
    pub status: Status,
    status_since: i64,
    /// Whether an agent opened the ticket with a public message: decided by the ticket's first
    /// public message (customer message or public agent message); an agent's counts as the
    /// opening message only when it is recorded at the creation instant.
    opened_by_agent: Option<bool>,
    /// Public agent messages.
    pub replies: u32,
    first_reply_at: Option<i64>,
    /// The first time the status became solved (or closed from a non-solved status).
    pub first_solved_at: Option<i64>,
    /// The latest such time.
    pub last_solved_at: Option<i64>,
    /// How many times the status became solved (or closed from a non-solved status).
    pub solves: u32,
    requester_wait: Micros,
    agent_wait: Micros,
    on_hold: Micros,
    /// Transitions from solved to open, pending or hold.
    pub reopens: u32,
    /// Current group.
    pub group: Option<String>,
    /// Current assignee.
    pub assignee: Option<String>,
    /// Times the group was set to a different value (the first assignment counts).
    pub group_stations: u32,
    /// Times the assignee was set to a different value (the first assignment counts).
    pub assignee_stations: u32,
    /// Current priority.
    pub priority: Option<Priority>,
    /// Distinct channels, in order of first use (merged tickets' channels included).
    pub channels: Vec<Channel>,
    /// Current tags, each once, in order of first use.
    pub tags: Vec<String>,
    /// Inquiry-type label.
    pub inquiry_type: Option<String>,
    /// Flagged as a repeat inquiry.
    pub repeat_inquiry: bool,
    /// Oldest customer message not yet answered by a public agent reply.
    pub unanswered_since: Option<i64>,
    /// Completed next-reply cycles: (customer message, agent reply).
    pub reply_cycles: Vec<(i64, i64)>,
    /// The group the ticket was created in (it selects the business-hours schedule).
    pub schedule_group: Option<String>,
    /// Public messages by a bot (`actor: bot`); bot and system messages are never replies.
    pub bot_messages: u32,
    /// The first public bot message.
    pub first_bot_at: Option<i64>,
    /// The first public human (agent) message folded after the first public bot message: the
    /// handoff from the bot to a person.
    pub handoff_at: Option<i64>,
}

/// The metrics of one ticket at a moment `now`.
#[derive(Debug, Clone, PartialEq)]
pub struct TicketMetrics {
    /// Creation -> first public agent reply (the second when an agent created the ticket with a
    /// public message); `None` until it happens.
    pub first_reply: Option<Minutes>,
    /// Creation -> first time solved.
    pub first_resolution: Option<Minutes>,
    /// Creation -> latest time solved.
    pub full_resolution: Option<Minutes>,
    /// Time in new, open and hold.
    pub requester_wait: Minutes,
    /// Time in pending.
    pub agent_wait: Minutes,
    /// Time in hold.
    pub on_hold: Minutes,
    /// Reopens.
    pub reopens: u32,
    /// Public agent replies.
    pub replies: u32,
    /// Group stations.
    pub group_stations: u32,
    /// Assignee stations.
    pub assignee_stations: u32,
    /// Solved or closed with fewer than 2 agent replies (bots' and the system's do not count);
    /// `None` while unsolved.
    pub one_touch: Option<bool>,
    /// Distinct channels.
    pub channels: u32,
    /// First public bot message -> first public agent message after it (the handoff); `None`
    /// without a bot message or until a person writes.
    pub bot_handoff: Option<Minutes>,
    /// Public bot messages.
    pub bot_messages: u32,
}

impl TicketMetricsState {
    /// The state right after `ticket.opened`.
    pub fn opened(event: &rapport_events::TicketOpened, at: i64) -> TicketMetricsState {
        let mut state = TicketMetricsState {
            created_at: at,
            status: Status::New,
            status_since: at,
            opened_by_agent: None,
            replies: 0,
            first_reply_at: None,
            first_solved_at: None,
            last_solved_at: None,
            solves: 0,
            requester_wait: Micros::default(),
            agent_wait: Micros::default(),
            on_hold: Micros::default(),
            reopens: 0,
            group: None,
            assignee: None,
            group_stations: 0,
            assignee_stations: 0,
            priority: event.priority,
            channels: vec![event.channel.clone()],
            tags: Vec::new(),
            inquiry_type: None,
            repeat_inquiry: false,
            unanswered_since: None,
            reply_cycles: Vec::new(),
            schedule_group: event.group.clone(),
            bot_messages: 0,
            first_bot_at: None,
            handoff_at: None,
        };
        state.set_group(event.group.as_deref());
        state.set_assignee(event.assignee.as_deref());
        state.add_tags(&event.tags);
        state
    }

    fn set_group(&mut self, group: Option<&str>) {
        if let Some(group) = group {
            if self.group.as_deref() != Some(group) {
                self.group_stations += 1;
                self.group = Some(group.to_owned());
            }
        }
    }

    fn set_assignee(&mut self, assignee: Option<&str>) {
        if let Some(assignee) = assignee {
            if self.assignee.as_deref() != Some(assignee) {
                self.assignee_stations += 1;
                self.assignee = Some(assignee.to_owned());
            }
        }
    }

    /// Adds tags not yet present (each tag once, in order of first use).
    fn add_tags(&mut self, tags: &[String]) {
        for tag in tags {
            if !self.tags.contains(tag) {
                self.tags.push(tag.clone());
            }
        }
    }

    fn add_channel(&mut self, channel: &Channel) {
        if !self.channels.contains(channel) {
            self.channels.push(channel.clone());
        }
    }

    /// Adds channels of a ticket merged into this one.
    pub fn absorb_channels(&mut self, channels: &[Channel]) {
        for channel in channels {
            self.add_channel(channel);
        }
    }

    /// Closes the current status interval at `at` and accrues it.
    fn accrue(&mut self, schedule: &Schedule, at: i64) {
        let spent = Micros::between(schedule, self.status_since, at);
        match self.status {
            Status::New | Status::Open => self.requester_wait.add(spent),
            Status::Hold => {
                self.requester_wait.add(spent);
                self.on_hold.add(spent);
            }
            Status::Pending => self.agent_wait.add(spent),
            Status::Solved | Status::Closed => {}
        }
        self.status_since = at;
    }

    /// Applies a status change at `at`.
    pub fn change_status(&mut self, schedule: &Schedule, status: Status, at: i64) {
        if status == self.status {
            return;
        }
        self.accrue(schedule, at);
        let before = self.status;
        let solved_now = status == Status::Solved || (status == Status::Closed && before != Status::Solved);
        if solved_now {
            self.first_solved_at.get_or_insert(at);
            self.last_solved_at = Some(at);
            self.solves += 1;
        }
        if before.is_reopen_to(status) {
            self.reopens += 1;
        }
        self.status = status;
    }

    /// Folds one event of the ticket's stream.
    pub fn apply(&mut self, schedule: &Schedule, event: &CxEvent, at: i64) {
        match event {
            CxEvent::TicketOpened(opened) => {
                if let Some(status) = opened.status {
                    self.change_status(schedule, status, at);
                }
            }
            CxEvent::MessageReceived(message) => {
                self.opened_by_agent.get_or_insert(false);
                self.add_channel(&message.channel);
                self.unanswered_since.get_or_insert(at);
            }
            CxEvent::MessageSent(message) => {
                self.add_channel(&message.channel);
                // Bot and system messages are no replies (first, next or counted), decide
                // nothing about who opened the ticket, and answer no customer message.
                if message.public && message.actor == Actor::Bot {
                    self.bot_messages += 1;
                    self.first_bot_at.get_or_insert(at);
                }
                if message.public && message.actor.is_human() {
                    if self.first_bot_at.is_some() {
                        self.handoff_at.get_or_insert(at);
                    }
                    // An agent who opens a ticket with a public message has not replied yet
                    // (Zendesk: first reply time then ends at the agent's next public comment).
                    let opened_by_agent = *self.opened_by_agent.get_or_insert(at == self.created_at);
                    self.replies += 1;
                    let counted = if opened_by_agent { 2 } else { 1 };
                    if self.replies == counted {
                        self.first_reply_at = Some(at);
                    }
                    if let Some(since) = self.unanswered_since.take() {
                        self.reply_cycles.push((since, at));
                    }
                }
            }
            CxEvent::TicketChannelSwitched(switch) => self.add_channel(&switch.to),
            CxEvent::TicketStatusChanged(change) => self.change_status(schedule, change.status, at),
            CxEvent::TicketAssigned(assigned) => {
                self.set_group(assigned.group.as_deref());
                self.set_assignee(assigned.assignee.as_deref());
            }
            CxEvent::TicketUpdated(update) => {
                self.set_group(update.group.as_deref());
                self.set_assignee(update.assignee.as_deref());
                if let Some(priority) = update.priority {
                    self.priority = Some(priority);
                }
                if let Some(status) = update.status {
                    self.change_status(schedule, status, at);
                }
            }
            CxEvent::TicketPriorityChanged(change) => self.priority = Some(change.priority),
            CxEvent::TicketTagged(tagged) => {
                self.tags.retain(|t| !tagged.remove.contains(t));
                self.add_tags(&tagged.add);
            }
            CxEvent::TicketLabeled(label) => {
                if let Some(inquiry_type) = &label.inquiry_type {
                    self.inquiry_type = Some(inquiry_type.clone());
                }
            }
            CxEvent::TicketFlagged(flagged) if flagged.flag == rapport_events::TicketFlag::RepeatInquiry => {
                self.repeat_inquiry = true;
            }
            // The source of a merge closes (counts as solved if it was not); the target's
            // channels are extended by the projection, which sees both tickets.
            CxEvent::TicketMerged(_) => {}
            _ => {}
        }
    }

    /// Closes the ticket as the source of a merge.
    pub fn merged_away(&mut self, schedule: &Schedule, at: i64) {
        self.change_status(schedule, Status::Closed, at);
    }

    /// The metrics at `now` (unsolved tickets accrue waiting time up to `now`).
    pub fn metrics(&self, schedule: &Schedule, now: i64) -> TicketMetrics {
        let mut requester_wait = self.requester_wait;
        let mut agent_wait = self.agent_wait;
        let mut on_hold = self.on_hold;
        if self.status.is_unsolved() {
            let open = Micros::between(schedule, self.status_since, now);
            match self.status {
                Status::Pending => agent_wait.add(open),
                Status::Hold => {
                    requester_wait.add(open);
                    on_hold.add(open);
                }
                _ => requester_wait.add(open),
            }
        }
        let since_creation = |at: Option<i64>| at.map(|at| Micros::between(schedule, self.created_at, at).minutes());
        TicketMetrics {
            first_reply: since_creation(self.first_reply_at),
            first_resolution: since_creation(self.first_solved_at),
            full_resolution: if self.status.is_unsolved() { None } else { since_creation(self.last_solved_at) },
            requester_wait: requester_wait.minutes(),
            agent_wait: agent_wait.minutes(),
            on_hold: on_hold.minutes(),
            reopens: self.reopens,
            replies: self.replies,
            group_stations: self.group_stations,
            assignee_stations: self.assignee_stations,
            one_touch: (!self.status.is_unsolved()).then_some(self.replies < 2),
            channels: self.channels.len() as u32,
            bot_handoff: self
                .first_bot_at
                .zip(self.handoff_at)
                .map(|(bot, human)| Micros::between(schedule, bot, human).minutes()),
            bot_messages: self.bot_messages,
        }
    }

    /// Time of the first public agent reply, as counted by `first_reply`.
    pub fn first_reply_at(&self) -> Option<i64> {
        self.first_reply_at
    }

    /// Whether an agent opened the ticket with a public message (`None` while the ticket has
    /// no public message).
    pub fn opened_by_agent(&self) -> Option<bool> {
        self.opened_by_agent
    }

    /// Since when the ticket has its current status.
    pub fn status_since(&self) -> i64 {
        self.status_since
    }
}
