//! From checked Zendesk records to the store's inputs: the mapping of docs/connectors.md.
//! Every input gets an id from its source ids (never from a file name), so a re-import of
//! overlapping pages appends nothing.

use std::collections::{BTreeMap, BTreeSet};

use rapport::events::{
    Actor, Channel, CustomerIdentified, CustomerRated, CxEvent, Identity, IdentityKind, MessageReceived, MessageSent,
    NormalizeOptions, OrganizationUpdated, Priority, Properties, ScheduleSet, SlaFilter, SlaPolicySet, SlaTargets,
    Status, Survey, SurveyOffered, TicketAssigned, TicketFieldsSet, TicketId, TicketOpened, TicketPriorityChanged,
    TicketStatusChanged, TicketTagged, TicketType, TEXT_BYTES_MAX,
};
use rapport::log::{EventId, Timestamp};
use rapport::{Ids, Input, Store, ORGANIZATION_TRAIT};
use serde_json::Value;

use super::parse::{
    Audit, Change, Comment, Item, Origin, Parsed, Rating, Schedule, Score, SlaPolicy, Ticket, User, Via,
};
use super::{Cursor, ZendeskKind};
use crate::error::Result;

/// The import namespace of every id, and the system of the identities it writes.
pub(super) const SYSTEM: &str = "zendesk";

/// The identity system of a user's own `external_id` (the id in the customer's systems).
pub(super) const EXTERNAL_ID_SYSTEM: &str = "zendesk_external_id";

/// The agent name of comments Zendesk itself wrote (triggers, automations, merges).
const SYSTEM_AGENT: &str = "Zendesk";

/// Order of inputs of the same time: definitions and people, then ticket history, then
/// merges (after the comments of the merge), then ratings.
const PHASE_DEFINITIONS: u8 = 0;
const PHASE_TICKETS: u8 = 1;
const PHASE_MERGES: u8 = 2;
const PHASE_RATINGS: u8 = 3;

/// Order of the inputs of one audit: the open, then comments, then the changes, the status
/// last (a reply and the solve of the same update: the reply first).
const STEP_OPEN: u64 = 0;
const STEP_OPEN_FIELDS: u64 = 1;
const STEP_COMMENTS: u64 = 10;
const STEP_ASSIGN: u64 = 1 << 32;
const STEP_PRIORITY: u64 = STEP_ASSIGN + 1;
const STEP_TAGS: u64 = STEP_ASSIGN + 2;
const STEP_FIELDS: u64 = STEP_ASSIGN + 3;
const STEP_STATUS: u64 = STEP_ASSIGN + 4;

/// One input, with what orders it and where it came from.
#[derive(Debug, Clone)]
pub(super) struct Planned {
    pub(super) at: Timestamp,
    pub(super) phase: u8,
    /// Ties within a time and phase: entity id, audit id, step.
    pub(super) seq: (u64, u64, u64),
    pub(super) input: Input,
    pub(super) id: EventId,
    pub(super) origin: Origin,
}

impl Planned {
    pub(super) fn order_key(&self) -> (Timestamp, u8, (u64, u64, u64)) {
        (self.at, self.phase, self.seq)
    }
}

/// What planning decided besides the inputs.
#[derive(Debug, Default)]
pub(super) struct PlanTally {
    pub(super) refused: Vec<(Origin, String)>,
    pub(super) deleted_tickets: u64,
    pub(super) before_cursor: u64,
    pub(super) history_before_snapshot: u64,
    pub(super) unoffered_ratings: u64,
    pub(super) truncated_bodies: u64,
    pub(super) merges: u64,
    pub(super) follow_ups: u64,
    pub(super) opened_elsewhere: u64,
    /// Values and changes the mapping cannot record, by pattern (merged into `unknown_fields`).
    pub(super) unmapped: BTreeMap<String, u64>,
}

pub(super) struct Planner<'a> {
    store: &'a Store,
    ids: &'a Ids,
    normalize: &'a NormalizeOptions,
    parsed: &'a Parsed,
    since: &'a Cursor,
    pub(super) planned: Vec<Planned>,
    pub(super) tally: PlanTally,
    /// Tickets of another source with a Zendesk ticket's id: nothing of them is planned.
    foreign_tickets: BTreeSet<u64>,
}

fn ticket_id_of(id: u64) -> std::result::Result<TicketId, String> {
    TicketId::new(id.to_string()).map_err(|e| e.to_string())
}

/// The identity of a Zendesk user: `external:zendesk` and the user id.
pub(super) fn user_identity(id: u64) -> std::result::Result<Identity, String> {
    Identity::new(IdentityKind::External(SYSTEM.to_owned()), &id.to_string(), &NormalizeOptions::default())
        .map_err(|e| e.to_string())
}

/// The channel of a via type, when it is a channel a conversation happens on (`rule`,
/// `merge`, `closed_ticket`, ... are not: they say who acted, not where).
pub(super) fn channel_of(via_type: &str) -> Option<Channel> {
    Some(match via_type {
        "web" | "web_form" => Channel::Web,
        "email" | "mail" => Channel::Email,
        "chat" => Channel::Chat,
        "voice" | "phone" | "voicemail" => Channel::Phone,
        "api" | "web_service" => Channel::Other("api".to_owned()),
        "twitter" | "twitter_dm" | "twitter_favorite" => Channel::X,
        "facebook" | "facebook_message" | "facebook_post" => Channel::Messenger,
        "instagram" | "instagram_dm" => Channel::Instagram,
        "whatsapp" => Channel::WhatsApp,
        "line" => Channel::Line,
        "sms" | "text" => Channel::Sms,
        "telegram" => Channel::Telegram,
        "kakaotalk" => Channel::KakaoTalk,
        "native_messaging" | "messaging" | "web_widget" => Channel::WebWidget,
        "help_center" => Channel::SelfService,
        "mobile_sdk" => Channel::Other("mobile_sdk".to_owned()),
        "mobile" => Channel::Other("mobile".to_owned()),
        _ => return None,
    })
}

/// The channel a ticket was created on: its via type's channel, or `other:<via type>` (a
/// ticket created by a trigger or as a follow-up still has a channel of creation).
fn creation_channel(via: &Via) -> Channel {
    match via.channel.as_deref() {
        Some(via_type) => channel_of(via_type).unwrap_or_else(|| {
            let name: String = via_type.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
            Channel::Other(if name.is_empty() { SYSTEM.to_owned() } else { name })
        }),
        None => Channel::Other(SYSTEM.to_owned()),
    }
}

/// A CSAT reason label of a Zendesk reason code.
pub(super) fn reason_label(code: u64) -> Option<String> {
    Some(match code {
        0 => return None,
        5 => "slow_resolution".to_owned(),
        6 => "not_resolved".to_owned(),
        7 => "agent_knowledge".to_owned(),
        8 => "agent_attitude".to_owned(),
        100 => "other".to_owned(),
        other => format!("zendesk_reason_{other}"),
    })
}

/// The IANA zone of a Zendesk (Rails) time zone name; IANA names pass through.
pub(super) fn iana_zone(zone: &str) -> Option<&str> {
    const RAILS: [(&str, &str); 44] = [
        ("UTC", "UTC"),
        ("International Date Line West", "Etc/GMT+12"),
        ("Hawaii", "Pacific/Honolulu"),
        ("Alaska", "America/Juneau"),
        ("Pacific Time (US & Canada)", "America/Los_Angeles"),
        ("Arizona", "America/Phoenix"),
        ("Mountain Time (US & Canada)", "America/Denver"),
        ("Central Time (US & Canada)", "America/Chicago"),
        ("Eastern Time (US & Canada)", "America/New_York"),
        ("Atlantic Time (Canada)", "America/Halifax"),
        ("Brasilia", "America/Sao_Paulo"),
        ("Buenos Aires", "America/Argentina/Buenos_Aires"),
        ("Mexico City", "America/Mexico_City"),
        ("Bogota", "America/Bogota"),
        ("London", "Europe/London"),
        ("Edinburgh", "Europe/London"),
        ("Dublin", "Europe/Dublin"),
        ("Lisbon", "Europe/Lisbon"),
        ("Amsterdam", "Europe/Amsterdam"),
        ("Berlin", "Europe/Berlin"),
        ("Paris", "Europe/Paris"),
        ("Madrid", "Europe/Madrid"),
        ("Rome", "Europe/Rome"),
        ("Stockholm", "Europe/Stockholm"),
        ("Copenhagen", "Europe/Copenhagen"),
        ("Warsaw", "Europe/Warsaw"),
        ("Athens", "Europe/Athens"),
        ("Helsinki", "Europe/Helsinki"),
        ("Istanbul", "Europe/Istanbul"),
        ("Moscow", "Europe/Moscow"),
        ("Jerusalem", "Asia/Jerusalem"),
        ("Cairo", "Africa/Cairo"),
        ("Dubai", "Asia/Dubai"),
        ("Abu Dhabi", "Asia/Dubai"),
        ("Mumbai", "Asia/Kolkata"),
        ("New Delhi", "Asia/Kolkata"),
        ("Bangkok", "Asia/Bangkok"),
        ("Singapore", "Asia/Singapore"),
        ("Hong Kong", "Asia/Hong_Kong"),
        ("Beijing", "Asia/Shanghai"),
        ("Seoul", "Asia/Seoul"),
        ("Tokyo", "Asia/Tokyo"),
        ("Sydney", "Australia/Sydney"),
        ("Auckland", "Pacific/Auckland"),
    ];
    if let Some((_, iana)) = RAILS.iter().find(|(rails, _)| *rails == zone) {
        return Some(iana);
    }
    (zone.contains('/') && !zone.contains(' ')).then_some(zone)
}

/// `HH:MM` of minutes since midnight (1440 is `24:00`).
fn clock(minutes: u64) -> String {
    format!("{:02}:{:02}", minutes / 60, minutes % 60)
}

/// Weekly intervals (minutes since Sunday 00:00) as per-weekday `HH:MM-HH:MM` spans.
pub(super) fn weekly_spans(intervals: &[(u64, u64)]) -> BTreeMap<String, Vec<String>> {
    const DAYS: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];
    let mut spans: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for &(start, end) in intervals {
        let mut from = start;
        while from < end {
            let day = from / 1440;
            let day_end = (day + 1) * 1440;
            let to = end.min(day_end);
            let Some(name) = usize::try_from(day).ok().and_then(|d| DAYS.get(d)) else { break };
            spans.entry((*name).to_owned()).or_default().push(format!(
                "{}-{}",
                clock(from - day * 1440),
                clock(to - day * 1440)
            ));
            from = to;
        }
    }
    spans
}

/// Cuts a text to at most [`TEXT_BYTES_MAX`] bytes on a character boundary.
pub(super) fn bounded_text(text: &str) -> (String, bool) {
    if text.len() <= TEXT_BYTES_MAX {
        return (text.to_owned(), false);
    }
    let mut end = TEXT_BYTES_MAX;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    (text.get(..end).unwrap_or_default().to_owned(), true)
}

/// The bytes of a time, for ids.
fn time_bytes(at: Timestamp) -> [u8; 8] {
    at.0.to_le_bytes()
}

/// What the planner knows of one ticket while it plans its history.
#[derive(Debug, Clone)]
struct TicketPlan {
    ticket_id: TicketId,
    requester_id: Option<u64>,
    channel: Channel,
    /// The ticket's fields as the inputs planned so far leave them, when known: a change to
    /// what the ticket has already is not planned. The store would record nothing for it, so
    /// its id would not be in the log, and a re-import would decide it again against the
    /// ticket's later state (where it may change something).
    state: Option<Simulated>,
}

/// The changes of one update, before they are compared with the ticket's fields.
#[derive(Debug, Clone, Default)]
struct Changes {
    status: Option<Status>,
    priority: Option<Priority>,
    group: Option<String>,
    assignee: Option<String>,
    add: Vec<String>,
    remove: Vec<String>,
    fields: Vec<(u64, Value)>,
}

/// The fields of a ticket a change may repeat.
#[derive(Debug, Clone)]
struct Simulated {
    status: Status,
    group: Option<String>,
    assignee: Option<String>,
    priority: Option<Priority>,
    tags: BTreeSet<String>,
}

impl Simulated {
    fn of_opened(opened: &TicketOpened) -> Simulated {
        Simulated {
            status: opened.status.unwrap_or(Status::New),
            group: opened.group.clone(),
            assignee: opened.assignee.clone(),
            priority: opened.priority,
            tags: opened.tags.iter().cloned().collect(),
        }
    }

    fn of_ticket(ticket: &rapport::ticket::Ticket) -> Simulated {
        Simulated {
            status: ticket.status(),
            group: ticket.group().map(str::to_owned),
            assignee: ticket.assignee().map(str::to_owned),
            priority: ticket.priority(),
            tags: ticket.tags().clone(),
        }
    }
}

/// A merge of `source` into `target`, found in either ticket's history.
#[derive(Debug, Clone)]
struct MergeFound {
    at: Timestamp,
    origin: Origin,
}

impl<'a> Planner<'a> {
    pub(super) fn new(
        store: &'a Store,
        parsed: &'a Parsed,
        since: &'a Cursor,
        normalize: &'a NormalizeOptions,
    ) -> Planner<'a> {
        Planner {
            store,
            ids: store.ids(),
            normalize,
            parsed,
            since,
            planned: Vec::new(),
            tally: PlanTally::default(),
            foreign_tickets: BTreeSet::new(),
        }
    }

    fn id(&self, parts: &[&[u8]]) -> EventId {
        self.ids.import_id(SYSTEM, parts)
    }

    fn refuse(&mut self, origin: &Origin, reason: impl Into<String>) {
        self.tally.refused.push((origin.clone(), reason.into()));
    }

    fn unmapped(&mut self, key: String) {
        *self.tally.unmapped.entry(key).or_insert(0) += 1;
    }

    fn push(&mut self, at: Timestamp, phase: u8, seq: (u64, u64, u64), event: CxEvent, id: EventId, origin: &Origin) {
        if let Err(error) = event.validate() {
            self.refuse(origin, format!("{}: {error}", event.event_type()));
            return;
        }
        self.planned.push(Planned { at, phase, seq, input: Input::Event(event), id, origin: origin.clone() });
    }

    /// Whether a record of `kind` at `at` is older than the cursor (skipped).
    fn before_cursor(&mut self, kind: ZendeskKind, at: Timestamp) -> bool {
        let skip = self.since.get(kind).is_some_and(|since| at < since);
        if skip {
            self.tally.before_cursor += 1;
        }
        skip
    }

    fn is_agent(&self, user_id: i64, requester_id: Option<u64>) -> bool {
        match u64::try_from(user_id) {
            // Zendesk's own system user is -1.
            Err(_) => true,
            Ok(id) => match self.parsed.users.get(&id) {
                Some(user) => user.agent,
                // Without the user: whoever is not the requester answers for the company.
                None => Some(id) != requester_id,
            },
        }
    }

    fn agent_name(&self, user_id: Option<i64>) -> String {
        match user_id.and_then(|id| u64::try_from(id).ok()) {
            Some(id) => match self.parsed.users.get(&id).and_then(|user| user.name.clone()) {
                Some(name) => name,
                None => format!("zendesk-agent-{id}"),
            },
            None => SYSTEM_AGENT.to_owned(),
        }
    }

    fn group_name(&self, group_id: u64) -> String {
        self.parsed.groups.get(&group_id).cloned().unwrap_or_else(|| format!("zendesk-group-{group_id}"))
    }

    pub(super) fn plan_all(&mut self) -> Result<()> {
        let parsed = self.parsed;
        for organization in parsed.organizations.values() {
            self.plan_organization(organization.id, organization);
        }
        for user in parsed.users.values() {
            self.plan_user(user);
        }
        let default_schedule = parsed.schedules.keys().next().copied();
        for schedule in parsed.schedules.values() {
            self.plan_schedule(schedule, Some(schedule.id) == default_schedule);
        }
        for policy in parsed.sla_policies.values() {
            self.plan_sla_policy(policy);
        }
        self.plan_tickets()?;
        for rating in parsed.ratings.values() {
            self.plan_rating(rating);
        }
        Ok(())
    }

    fn plan_organization(&mut self, id: u64, organization: &super::parse::Organization) {
        if self.before_cursor(ZendeskKind::Organizations, organization.updated_at) {
            return;
        }
        let mut domains = Vec::new();
        for domain in &organization.domains {
            let domain = domain.trim().to_ascii_lowercase();
            if domain.contains('.') && domain.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-') {
                domains.push(domain);
            } else {
                self.unmapped(format!("{}[].domain_names (not a DNS name)", ZendeskKind::Organizations.key()));
            }
        }
        let event = CxEvent::OrganizationUpdated(OrganizationUpdated {
            organization_id: format!("{SYSTEM}:{id}"),
            name: organization.name.clone(),
            domains: Some(domains),
        });
        let event_id = self.id(&[b"organization", &id.to_le_bytes(), &time_bytes(organization.updated_at)]);
        self.push(organization.updated_at, PHASE_DEFINITIONS, (id, 0, 0), event, event_id, &organization.origin);
    }

    fn plan_user(&mut self, user: &User) {
        if user.agent || self.before_cursor(ZendeskKind::Users, user.updated_at) {
            return;
        }
        let mut identities = Vec::new();
        match user_identity(user.id) {
            Ok(identity) => identities.push(identity),
            Err(reason) => return self.refuse(&user.origin, reason),
        }
        let fields: [(&str, IdentityKind, &Option<String>); 3] = [
            ("email", IdentityKind::Email, &user.email),
            ("phone", IdentityKind::Phone, &user.phone),
            ("external_id", IdentityKind::External(EXTERNAL_ID_SYSTEM.to_owned()), &user.external_id),
        ];
        for (field, kind, value) in fields {
            let Some(value) = value else { continue };
            match Identity::new(kind, value, self.normalize) {
                Ok(identity) => identities.push(identity),
                Err(error) => {
                    let origin = Origin { file: user.origin.file, path: format!("{}.{field}", user.origin.path) };
                    self.refuse(&origin, format!("identity left out: {error}"));
                }
            }
        }
        let mut traits = BTreeMap::new();
        for (key, value) in [("name", &user.name), ("locale", &user.locale), ("time_zone", &user.time_zone)] {
            if let Some(value) = value {
                traits.insert(key.to_owned(), value.clone());
            }
        }
        if let Some(organization) = user.organization_id {
            traits.insert(ORGANIZATION_TRAIT.to_owned(), format!("{SYSTEM}:{organization}"));
        }
        let event = CxEvent::CustomerIdentified(CustomerIdentified { identities, traits });
        let event_id = self.id(&[b"user", &user.id.to_le_bytes(), &time_bytes(user.updated_at)]);
        self.push(user.updated_at, PHASE_DEFINITIONS, (user.id, 1, 0), event, event_id, &user.origin);
    }

    fn plan_schedule(&mut self, schedule: &Schedule, is_default: bool) {
        if self.before_cursor(ZendeskKind::Schedules, schedule.updated_at) {
            return;
        }
        let Some(timezone) = schedule.iana_time_zone.as_deref().or_else(|| iana_zone(&schedule.time_zone)) else {
            let reason = format!("time zone {:?} has no IANA name in the importer's table", schedule.time_zone);
            return self.refuse(&schedule.origin, reason);
        };
        let event = CxEvent::ScheduleSet(ScheduleSet {
            name: if is_default { "default".to_owned() } else { schedule.name.clone() },
            timezone: timezone.to_owned(),
            intervals: weekly_spans(&schedule.intervals),
            holidays: schedule.holidays.clone(),
            valid_from: schedule.created_at,
        });
        let event_id = match &schedule.content_key {
            Some(key) => self.id(&[b"schedule", &schedule.id.to_le_bytes(), b"content", key]),
            None => self.id(&[b"schedule", &schedule.id.to_le_bytes(), &time_bytes(schedule.updated_at)]),
        };
        self.push(schedule.updated_at, PHASE_DEFINITIONS, (schedule.id, 2, 0), event, event_id, &schedule.origin);
    }

    fn plan_sla_policy(&mut self, policy: &SlaPolicy) {
        if self.before_cursor(ZendeskKind::SlaPolicies, policy.updated_at) {
            return;
        }
        match self.sla_event(policy) {
            Ok(event) => {
                let event_id = self.id(&[b"sla_policy", &policy.id.to_le_bytes(), &time_bytes(policy.updated_at)]);
                self.push(policy.updated_at, PHASE_DEFINITIONS, (policy.id, 3, 0), event, event_id, &policy.origin);
            }
            Err(reason) => self.refuse(&policy.origin, reason),
        }
    }

    fn sla_event(&mut self, policy: &SlaPolicy) -> std::result::Result<CxEvent, String> {
        if !policy.any.is_empty() {
            return Err("filter.any conditions cannot be expressed (an SLA filter is all of its fields)".to_owned());
        }
        let mut filter = SlaFilter::default();
        for condition in &policy.all {
            let text = match &condition.value {
                Value::String(text) => text.clone(),
                Value::Number(number) => number.to_string(),
                other => return Err(format!("condition {:?} has a value of type {other}", condition.field)),
            };
            match (condition.field.as_str(), condition.operator.as_str()) {
                ("priority", "is") => {
                    filter.priority = Some(text.parse().map_err(|_| format!("unknown priority {text:?}"))?);
                }
                ("group_id", "is") => {
                    let group: u64 = text.parse().map_err(|_| format!("group_id {text:?} is not an id"))?;
                    filter.group = Some(self.group_name(group));
                }
                ("current_tags", "includes") if text.split_whitespace().count() == 1 => {
                    filter.tag = Some(text.trim().to_owned());
                }
                (field, operator) => {
                    return Err(format!("condition {field} {operator} cannot be expressed as an SLA filter"));
                }
            }
        }
        let mut targets: BTreeMap<Priority, SlaTargets> = BTreeMap::new();
        let mut business: BTreeMap<Priority, bool> = BTreeMap::new();
        for metric in &policy.metrics {
            let priority: Priority =
                metric.priority.parse().map_err(|_| format!("unknown priority {:?}", metric.priority))?;
            let minutes = u32::try_from(metric.target_minutes)
                .map_err(|_| format!("target {} minutes is over {}", metric.target_minutes, u32::MAX))?;
            let slot = targets.entry(priority).or_default();
            match metric.metric.as_str() {
                "first_reply_time" => slot.first_reply_minutes_max = Some(minutes),
                "next_reply_time" => slot.next_reply_minutes_max = Some(minutes),
                "total_resolution_time" => slot.resolution_minutes_max = Some(minutes),
                other => {
                    self.unmapped(format!("{}[].policy_metrics[].metric={other}", ZendeskKind::SlaPolicies.key()));
                    continue;
                }
            }
            if *business.entry(priority).or_insert(metric.business_hours) != metric.business_hours {
                return Err(format!(
                    "priority {priority} mixes business-hour and calendar targets (Rapport has one flag per priority)"
                ));
            }
            slot.business_hours = metric.business_hours;
        }
        targets.retain(|_, t| {
            t.first_reply_minutes_max.is_some()
                || t.next_reply_minutes_max.is_some()
                || t.resolution_minutes_max.is_some()
        });
        Ok(CxEvent::SlaPolicySet(SlaPolicySet {
            name: policy.title.clone(),
            filter,
            targets,
            valid_from: policy.created_at,
        }))
    }

    fn plan_rating(&mut self, rating: &Rating) {
        if self.before_cursor(ZendeskKind::SatisfactionRatings, rating.updated_at) {
            return;
        }
        if rating.score == Score::Unoffered {
            self.tally.unoffered_ratings += 1;
            return;
        }
        if let Some(ticket) = rating.ticket_id.and_then(|id| self.parsed.tickets.get(&id)) {
            if ticket.status.as_deref() == Some("deleted") {
                return;
            }
        }
        if let Some(ticket) = rating.ticket_id.filter(|t| self.foreign_tickets.contains(t)) {
            let reason = format!("ticket {ticket} in the store is another source's: its rating is not imported");
            return self.refuse(&rating.origin, reason);
        }
        let Some(requester) = rating.requester_id else {
            return self.refuse(&rating.origin, "no requester_id: a rating needs the customer who gave it");
        };
        let identity = match user_identity(requester) {
            Ok(identity) => identity,
            Err(reason) => return self.refuse(&rating.origin, reason),
        };
        let ticket_id = match rating.ticket_id.map(ticket_id_of).transpose() {
            Ok(ticket_id) => ticket_id,
            Err(reason) => return self.refuse(&rating.origin, reason),
        };
        let offered = CxEvent::SurveyOffered(SurveyOffered {
            identity: identity.clone(),
            survey: Survey::Csat,
            ticket_id: ticket_id.clone(),
        });
        let rating_id = rating.id.to_le_bytes();
        let offered_id = self.id(&[b"rating", &rating_id, b"offered"]);
        self.push(rating.created_at, PHASE_RATINGS, (rating.id, 0, 0), offered, offered_id, &rating.origin);
        let score = match rating.score {
            Score::Good => 5,
            Score::Bad => 1,
            Score::Offered | Score::Unoffered => return,
        };
        let (comment, truncated) = match &rating.comment {
            Some(comment) => {
                let (text, truncated) = bounded_text(comment);
                (Some(text), truncated)
            }
            None => (None, false),
        };
        self.tally.truncated_bodies += u64::from(truncated);
        let rated = CxEvent::CustomerRated(CustomerRated {
            identity,
            survey: Survey::Csat,
            score,
            ticket_id,
            comment,
            reason: rating.reason_code.and_then(reason_label),
        });
        let rated_id = self.id(&[b"rating", &rating_id, b"rated", &[score]]);
        self.push(rating.updated_at, PHASE_RATINGS, (rating.id, 1, 0), rated, rated_id, &rating.origin);
    }

    /// Every ticket of the tickets pages or the history, with its history.
    fn plan_tickets(&mut self) -> Result<()> {
        let parsed = self.parsed;
        let mut ticket_ids: BTreeSet<u64> = parsed.tickets.keys().copied().collect();
        ticket_ids.extend(parsed.audits.keys().map(|(ticket, _)| *ticket));
        let deleted: BTreeSet<u64> =
            parsed.tickets.values().filter(|t| t.status.as_deref() == Some("deleted")).map(|t| t.id).collect();
        // Merges, from either side, among the audits after the cursor.
        let mut merges: BTreeMap<(u64, u64), MergeFound> = BTreeMap::new();
        for audit in parsed.audits.values() {
            if self.since.get(audit_kind(audit)).is_some_and(|since| audit.at < since) {
                continue;
            }
            let mut pairs = Vec::new();
            if audit.via.is("merge") {
                if let Some(target) = audit.via.to_ticket {
                    pairs.push((audit.ticket_id, target));
                }
                pairs.extend(audit.via.from_tickets.iter().map(|source| (*source, audit.ticket_id)));
            }
            pairs.extend(audit.merged_ticket_ids.iter().map(|source| (*source, audit.ticket_id)));
            for pair in pairs {
                if pair.0 == pair.1 || deleted.contains(&pair.0) || deleted.contains(&pair.1) {
                    continue;
                }
                let found = MergeFound { at: audit.at, origin: audit.origin.clone() };
                match merges.get(&pair) {
                    Some(kept) if kept.at <= audit.at => {}
                    _ => {
                        merges.insert(pair, found);
                    }
                }
            }
        }
        let merged_sources: BTreeMap<u64, Timestamp> = merges.iter().map(|((source, _), m)| (*source, m.at)).collect();
        for id in ticket_ids {
            if deleted.contains(&id) {
                self.tally.deleted_tickets += 1;
                continue;
            }
            self.plan_ticket(id, merged_sources.get(&id).copied())?;
        }
        for ((source, target), found) in merges {
            let (Ok(source_id), Ok(target_id)) = (ticket_id_of(source), ticket_id_of(target)) else { continue };
            self.tally.merges += 1;
            let id = self.id(&[b"merge", &source.to_le_bytes(), &target.to_le_bytes()]);
            self.planned.push(Planned {
                at: found.at,
                phase: PHASE_MERGES,
                seq: (source, target, 0),
                input: Input::Merge { source: source_id, target: target_id },
                id,
                origin: found.origin,
            });
        }
        Ok(())
    }

    fn plan_ticket(&mut self, id: u64, merged_at: Option<Timestamp>) -> Result<()> {
        let parsed = self.parsed;
        let snapshot = parsed.tickets.get(&id);
        let ticket_id = match ticket_id_of(id) {
            Ok(ticket_id) => ticket_id,
            Err(reason) => {
                if let Some(snapshot) = snapshot {
                    self.refuse(&snapshot.origin, reason);
                }
                return Ok(());
            }
        };
        if let Some(stored) = self.store.ticket(&ticket_id)? {
            if stored.requester().kind() != &IdentityKind::External(SYSTEM.to_owned()) {
                // Another source's ticket with the same id: Zendesk history must not change it.
                let origin = snapshot.map(|s| s.origin.clone()).or_else(|| {
                    parsed.audits.range((id, 0)..=(id, u64::MAX)).next().map(|(_, audit)| audit.origin.clone())
                });
                if let Some(origin) = origin {
                    let reason = format!(
                        "ticket {ticket_id} exists in the store with a requester that is no Zendesk user \
                         (another source's ticket): its Zendesk records are not imported"
                    );
                    self.refuse(&origin, reason);
                }
                self.foreign_tickets.insert(id);
                return Ok(());
            }
        }
        let mut audits: Vec<&Audit> = Vec::new();
        for audit in parsed.audits.range((id, 0)..=(id, u64::MAX)).map(|(_, audit)| audit) {
            if !self.before_cursor(audit_kind(audit), audit.at) {
                audits.push(audit);
            }
        }
        audits.sort_by_key(|audit| (audit.at, audit.id));
        let create = audits.iter().position(|audit| audit.items.iter().any(|item| matches!(item, Item::Create(_))));
        let mut plan = TicketPlan {
            ticket_id: ticket_id.clone(),
            requester_id: snapshot.and_then(|t| t.requester_id),
            channel: match (snapshot, audits.first()) {
                (Some(snapshot), _) if snapshot.via.channel.is_some() => self.creation_channel_of(&snapshot.via),
                (_, Some(first)) => self.creation_channel_of(&first.via),
                _ => Channel::Other(SYSTEM.to_owned()),
            },
            state: None,
        };
        let mut history_from = Timestamp::MIN;
        // The `updated_at` of the ticket record this import opens the ticket from, if it does.
        let mut snapshot_time = Timestamp::MIN;
        let mut opened_now = create.is_some();
        match (create, snapshot) {
            (Some(idx), _) => {
                if let Some(audit) = audits.get(idx) {
                    self.plan_history_open(&mut plan, snapshot, audit)?;
                }
            }
            (None, Some(snapshot)) => {
                let open_id = self.snapshot_open_id(snapshot);
                let opened_by_snapshot = self.store.log().event_position(open_id).is_some();
                let in_store = self.store.contains_ticket(&ticket_id)?;
                if opened_by_snapshot || (!in_store && !self.before_cursor(ZendeskKind::Tickets, snapshot.updated_at)) {
                    // The snapshot is the ticket as of `updated_at`: history up to then is in it.
                    self.plan_snapshot_open(&mut plan, snapshot, open_id);
                    history_from = snapshot.updated_at;
                    snapshot_time = snapshot.updated_at;
                    opened_now = true;
                }
            }
            (None, None) => {}
        }
        if plan.state.is_none() {
            // History continuing a ticket the store holds (an import with a cursor): the stored
            // ticket is its state, and history up to the last event of its stream is in it
            // already (re-read audits at the cursor's time; older pages imported late). Not the
            // ticket's `updated_at`: a rating of the ticket moves that, and is no history.
            if let Some(stored) = self.store.ticket(&ticket_id)? {
                plan.state = Some(Simulated::of_ticket(&stored));
                let mut last = Timestamp::MIN;
                for recorded in self.store.log().read_stream(&rapport::ticket_stream(&ticket_id), 0) {
                    last = last.max(recorded.map_err(rapport::Error::from)?.data.occurred_at);
                }
                history_from = history_from.max(last);
            }
        }
        if let (false, true, Some(snapshot)) = (opened_now, audits.is_empty(), snapshot) {
            if !self.before_cursor(ZendeskKind::Tickets, snapshot.updated_at) {
                self.plan_snapshot_changes(&mut plan, snapshot);
            }
        }
        for audit in audits {
            // At the very time the history starts from, an audit is skipped only when it is
            // recorded: the snapshot open is at `created_at`, the time of the `Create` audit.
            // An update of the tables (no audit id: one per ticket and time) at that very time is
            // skipped too: the stored event there is of it (or of the same update from the API).
            let skip = audit.at < history_from
                || (audit.at == history_from
                    && (history_from == snapshot_time || audit.from_tables || self.is_recorded(audit)));
            if skip {
                self.tally.history_before_snapshot += 1;
                continue;
            }
            let closes_by_merge = merged_at.is_some_and(|at| audit.via.is("merge") || audit.at == at);
            self.plan_audit(&mut plan, audit, closes_by_merge);
        }
        Ok(())
    }

    /// Whether one of the inputs an audit plans is in the store already.
    fn is_recorded(&self, audit: &Audit) -> bool {
        let log = self.store.log();
        let fixed: [&[u8]; 7] = [b"opened", b"opened-fields", b"assigned", b"priority", b"tags", b"fields", b"status"];
        fixed.iter().any(|what| log.event_position(self.audit_id(audit, what, &[])).is_some())
            || audit.items.iter().any(|item| match item {
                Item::Comment(comment) => {
                    log.event_position(self.audit_id(audit, b"comment", &comment.id.to_le_bytes())).is_some()
                }
                Item::Create(_) | Item::Change(_) => false,
            })
    }

    /// The channel a ticket was created on; a follow-up (`via` `closed_ticket`) continues on
    /// the channel its closed ticket was created on, when that ticket is in the import.
    fn creation_channel_of(&self, via: &Via) -> Channel {
        if via.is("closed_ticket") {
            let parent = via.from_tickets.first().and_then(|parent| self.parsed.tickets.get(parent));
            if let Some(parent) = parent.filter(|parent| !parent.via.is("closed_ticket")) {
                return creation_channel(&parent.via);
            }
        }
        creation_channel(via)
    }

    fn snapshot_open_id(&self, snapshot: &Ticket) -> EventId {
        self.id(&[b"ticket", &snapshot.id.to_le_bytes(), b"snapshot", &time_bytes(snapshot.updated_at)])
    }

    fn follow_up_of(&mut self, via: &Via) -> Option<TicketId> {
        let parent = *via.from_tickets.first()?;
        if !(via.rel.as_deref() == Some("follow_up") || via.is("closed_ticket")) {
            return None;
        }
        let parent_id = ticket_id_of(parent).ok()?;
        let known = self.parsed.tickets.get(&parent).is_some_and(|t| t.status.as_deref() != Some("deleted"))
            || self.parsed.audits.range((parent, 0)..=(parent, u64::MAX)).next().is_some()
            || self.store.contains_ticket(&parent_id).unwrap_or(false);
        if known {
            self.tally.follow_ups += 1;
            Some(parent_id)
        } else {
            self.unmapped("tickets[].via.source.from.ticket_id (follow-up of a ticket not imported)".to_owned());
            None
        }
    }

    fn status_of(&mut self, value: &str, pattern: &str) -> Option<Status> {
        match value.parse() {
            Ok(status) => Some(status),
            Err(_) => {
                self.unmapped(format!("{pattern} (unknown status)"));
                None
            }
        }
    }

    fn priority_of(&mut self, value: Option<&str>, pattern: &str) -> Option<Priority> {
        let value = value?;
        match value.parse() {
            Ok(priority) => Some(priority),
            Err(_) => {
                self.unmapped(format!("{pattern} (unknown priority)"));
                None
            }
        }
    }

    fn type_of(&mut self, value: Option<&str>, pattern: &str) -> Option<TicketType> {
        let value = value?;
        match value.parse() {
            Ok(ticket_type) => Some(ticket_type),
            Err(_) => {
                self.unmapped(format!("{pattern} (unknown type)"));
                None
            }
        }
    }

    fn fields_event(ticket_id: &TicketId, fields: &[(u64, Value)]) -> Option<CxEvent> {
        if fields.is_empty() {
            return None;
        }
        let mut properties = Properties::new();
        for (field_id, value) in fields {
            properties.insert(format!("{SYSTEM}_field_{field_id}"), value);
        }
        Some(CxEvent::TicketFieldsSet(TicketFieldsSet { ticket_id: ticket_id.clone(), fields: properties }))
    }

    fn plan_snapshot_open(&mut self, plan: &mut TicketPlan, snapshot: &Ticket, open_id: EventId) {
        let Some(requester_id) = snapshot.requester_id else {
            return self.refuse(&snapshot.origin, "no requester_id: a ticket needs its requester");
        };
        let requester = match user_identity(requester_id) {
            Ok(identity) => identity,
            Err(reason) => return self.refuse(&snapshot.origin, reason),
        };
        let pattern = format!("{}[]", ZendeskKind::Tickets.key());
        let status = match snapshot.status.as_deref() {
            Some(status) => self.status_of(status, &format!("{pattern}.status")),
            None => None,
        };
        let opened = CxEvent::TicketOpened(TicketOpened {
            ticket_id: plan.ticket_id.clone(),
            requester,
            channel: plan.channel.clone(),
            subject: snapshot.subject.clone(),
            priority: self.priority_of(snapshot.priority.as_deref(), &format!("{pattern}.priority")),
            ticket_type: self.type_of(snapshot.ticket_type.as_deref(), &format!("{pattern}.type")),
            topic: None,
            group: snapshot.group_id.map(|g| self.group_name(g)),
            assignee: snapshot.assignee_id.map(|a| self.agent_name(i64::try_from(a).ok())),
            tags: snapshot.tags.clone(),
            status,
            follow_up_of: self.follow_up_of(&snapshot.via),
        });
        if let CxEvent::TicketOpened(opened) = &opened {
            plan.state = Some(Simulated::of_opened(opened));
        }
        self.push(snapshot.created_at, PHASE_TICKETS, (snapshot.id, 0, STEP_OPEN), opened, open_id, &snapshot.origin);
        if let Some(fields) = Planner::fields_event(&plan.ticket_id, &snapshot.custom_fields) {
            let fields_id =
                self.id(&[b"ticket", &snapshot.id.to_le_bytes(), b"snapshot-fields", &time_bytes(snapshot.updated_at)]);
            self.push(
                snapshot.created_at,
                PHASE_TICKETS,
                (snapshot.id, 0, STEP_OPEN_FIELDS),
                fields,
                fields_id,
                &snapshot.origin,
            );
        }
    }

    /// Opens the ticket from the `Create` events of its first audit; the rest of that audit
    /// (comments, changes) is planned with the other audits.
    fn plan_history_open(&mut self, plan: &mut TicketPlan, snapshot: Option<&Ticket>, audit: &Audit) -> Result<()> {
        let open_id = self.audit_id(audit, b"opened", &[]);
        if self.store.log().event_position(open_id).is_none() && self.store.contains_ticket(&plan.ticket_id)? {
            // Opened by another import (a snapshot, or another tool): its history continues.
            self.tally.opened_elsewhere += 1;
            return Ok(());
        }
        let pattern = events_pattern(audit);
        let (mut status, mut priority, mut ticket_type, mut subject) = (None, None, None, None);
        let (mut group, mut assignee, mut requester_id) = (None, None, None);
        let mut tags: Vec<String> = Vec::new();
        let mut fields = Vec::new();
        for item in &audit.items {
            let Item::Create(change) = item else { continue };
            match change {
                Change::Status(value) => status = self.status_of(value, &format!("{pattern}.status")),
                Change::Priority(value) => {
                    priority = self.priority_of(value.as_deref(), &format!("{pattern}.priority"))
                }
                Change::Type(value) => ticket_type = self.type_of(value.as_deref(), &format!("{pattern}.type")),
                Change::Subject(value) => subject = value.clone(),
                Change::Group(value) => group = *value,
                Change::Assignee(value) => assignee = *value,
                Change::Requester(value) => requester_id = *value,
                Change::Tags { add, .. } => tags.extend(add.iter().cloned()),
                Change::Field(field_id, value) if !value.is_null() => fields.push((*field_id, value.clone())),
                Change::Field(..) => {}
                Change::Other(name) => self.unmapped(format!("{pattern}.field_name={name}")),
            }
        }
        let requester_id =
            requester_id.or(plan.requester_id).or_else(|| audit.author_id.and_then(|a| u64::try_from(a).ok()));
        plan.requester_id = requester_id;
        let Some(requester_id) = requester_id else {
            self.refuse(&audit.origin, "no requester_id in the ticket's Create events or its ticket record");
            return Ok(());
        };
        let requester = match user_identity(requester_id) {
            Ok(identity) => identity,
            Err(reason) => {
                self.refuse(&audit.origin, reason);
                return Ok(());
            }
        };
        let via = snapshot.map_or(&audit.via, |s| if s.via.from_tickets.is_empty() { &audit.via } else { &s.via });
        let follow_up_of = self.follow_up_of(via);
        let opened = CxEvent::TicketOpened(TicketOpened {
            ticket_id: plan.ticket_id.clone(),
            requester,
            channel: plan.channel.clone(),
            subject: subject.or_else(|| snapshot.and_then(|s| s.subject.clone())),
            priority,
            ticket_type,
            topic: None,
            group: group.map(|g| self.group_name(g)),
            assignee: assignee.map(|a| self.agent_name(i64::try_from(a).ok())),
            tags,
            status,
            follow_up_of,
        });
        if let CxEvent::TicketOpened(opened) = &opened {
            plan.state = Some(Simulated::of_opened(opened));
        }
        self.push(audit.at, PHASE_TICKETS, (audit.ticket_id, audit.id, STEP_OPEN), opened, open_id, &audit.origin);
        if let Some(event) = Planner::fields_event(&plan.ticket_id, &fields) {
            let fields_id = self.audit_id(audit, b"opened-fields", &[]);
            self.push(
                audit.at,
                PHASE_TICKETS,
                (audit.ticket_id, audit.id, STEP_OPEN_FIELDS),
                event,
                fields_id,
                &audit.origin,
            );
        }
        Ok(())
    }

    fn audit_id(&self, audit: &Audit, what: &[u8], extra: &[u8]) -> EventId {
        self.id(&[b"ticket", &audit.ticket_id.to_le_bytes(), b"audit", &audit.id.to_le_bytes(), what, extra])
    }

    /// The comments and changes of one audit (its `Create` events made the open).
    fn plan_audit(&mut self, plan: &mut TicketPlan, audit: &Audit, closes_by_merge: bool) {
        let pattern = events_pattern(audit);
        let seq = |step: u64| (audit.ticket_id, audit.id, step);
        let (mut group, mut assignee) = (None, None);
        let (mut add, mut remove): (Vec<String>, Vec<String>) = (Vec::new(), Vec::new());
        let mut fields: Vec<(u64, Value)> = Vec::new();
        let mut status = None;
        let mut priority = None;
        for (idx, item) in audit.items.iter().enumerate() {
            let change = match item {
                Item::Create(_) => continue,
                Item::Comment(comment) => {
                    self.plan_comment(plan, audit, comment, seq(STEP_COMMENTS + idx as u64));
                    continue;
                }
                Item::Change(change) => change,
            };
            match change {
                Change::Status(value) => status = self.status_of(value, &format!("{pattern}.status")),
                Change::Priority(Some(value)) => {
                    priority = self.priority_of(Some(value), &format!("{pattern}.priority"));
                }
                Change::Priority(None) => self.unmapped(format!("{pattern}.priority (removed)")),
                Change::Group(Some(value)) => group = Some(self.group_name(*value)),
                Change::Group(None) => self.unmapped(format!("{pattern}.group_id (removed)")),
                Change::Assignee(Some(value)) => assignee = Some(self.agent_name(i64::try_from(*value).ok())),
                Change::Assignee(None) => self.unmapped(format!("{pattern}.assignee_id (removed)")),
                Change::Tags { add: a, remove: r } => {
                    add.extend(a.iter().cloned());
                    remove.extend(r.iter().cloned());
                }
                Change::Field(field_id, value) => fields.push((*field_id, value.clone())),
                Change::Type(_) => self.unmapped(format!("{pattern}.field_name=type")),
                Change::Subject(_) => self.unmapped(format!("{pattern}.field_name=subject")),
                Change::Requester(_) => self.unmapped(format!("{pattern}.field_name=requester_id")),
                Change::Other(name) => self.unmapped(format!("{pattern}.field_name={name}")),
            }
        }
        let changes = Changes { status, priority, group, assignee, add, remove, fields };
        let at = (audit.at, (audit.ticket_id, audit.id), &audit.origin);
        self.plan_changes(plan, at, changes, closes_by_merge, |planner, what| planner.audit_id(audit, what, &[]));
    }

    /// The changes of one update (an audit, or the difference between a ticket record and the
    /// stored ticket), each planned only when it changes something.
    fn plan_changes(
        &mut self,
        plan: &mut TicketPlan,
        (at, (ticket, update), origin): (Timestamp, (u64, u64), &Origin),
        changes: Changes,
        closes_by_merge: bool,
        id_of: impl Fn(&Planner<'a>, &[u8]) -> EventId,
    ) {
        let Changes { mut status, mut priority, mut group, mut assignee, mut add, mut remove, fields } = changes;
        let seq = |step: u64| (ticket, update, step);
        let ticket_id = plan.ticket_id.clone();
        if let Some(state) = &mut plan.state {
            if state.status == Status::Closed {
                // Zendesk changes nothing of a closed ticket; the store would open a follow-up.
                self.unmapped("ticket history: change of a closed ticket".to_owned());
                return;
            }
            group = group.filter(|g| state.group.as_ref() != Some(g));
            assignee = assignee.filter(|a| state.assignee.as_ref() != Some(a));
            priority = priority.filter(|p| state.priority != Some(*p));
            status = status.filter(|s| state.status != *s);
            add.retain(|t| !state.tags.contains(t));
            remove.retain(|t| state.tags.contains(t) && !add.contains(t));
            state.group = group.clone().or(state.group.take());
            state.assignee = assignee.clone().or(state.assignee.take());
            state.priority = priority.or(state.priority);
            state.tags.extend(add.iter().cloned());
            state.tags.retain(|t| !remove.contains(t));
            if let Some(status) = status {
                state.status = status;
            }
        }
        if group.is_some() || assignee.is_some() {
            let event = CxEvent::TicketAssigned(TicketAssigned { ticket_id: ticket_id.clone(), group, assignee });
            let event_id = id_of(self, b"assigned");
            self.push(at, PHASE_TICKETS, seq(STEP_ASSIGN), event, event_id, origin);
        }
        if let Some(priority) = priority {
            let event =
                CxEvent::TicketPriorityChanged(TicketPriorityChanged { ticket_id: ticket_id.clone(), priority });
            let event_id = id_of(self, b"priority");
            self.push(at, PHASE_TICKETS, seq(STEP_PRIORITY), event, event_id, origin);
        }
        if !add.is_empty() || !remove.is_empty() {
            let event = CxEvent::TicketTagged(TicketTagged { ticket_id: ticket_id.clone(), add, remove });
            let event_id = id_of(self, b"tags");
            self.push(at, PHASE_TICKETS, seq(STEP_TAGS), event, event_id, origin);
        }
        if let Some(event) = Planner::fields_event(&ticket_id, &fields) {
            let event_id = id_of(self, b"fields");
            self.push(at, PHASE_TICKETS, seq(STEP_FIELDS), event, event_id, origin);
        }
        match status {
            // The merge closes the source: recording the close first would refuse the merge.
            Some(Status::Closed) if closes_by_merge => {}
            Some(status) => {
                let event = CxEvent::TicketStatusChanged(TicketStatusChanged { ticket_id, status });
                let event_id = id_of(self, b"status");
                self.push(at, PHASE_TICKETS, seq(STEP_STATUS), event, event_id, origin);
            }
            None => {}
        }
    }

    /// A newer ticket record of a ticket the store holds, with no history in this import: its
    /// fields that differ from the stored ticket's, as one update at the record's `updated_at`.
    fn plan_snapshot_changes(&mut self, plan: &mut TicketPlan, snapshot: &Ticket) {
        let pattern = format!("{}[]", ZendeskKind::Tickets.key());
        let Some(state) = &plan.state else { return };
        let tags: BTreeSet<String> = snapshot.tags.iter().cloned().collect();
        let add = tags.difference(&state.tags).cloned().collect();
        let remove = state.tags.difference(&tags).cloned().collect();
        let status = match snapshot.status.as_deref() {
            Some(status) => self.status_of(status, &format!("{pattern}.status")),
            None => None,
        };
        let changes = Changes {
            status,
            priority: self.priority_of(snapshot.priority.as_deref(), &format!("{pattern}.priority")),
            group: snapshot.group_id.map(|g| self.group_name(g)),
            assignee: snapshot.assignee_id.map(|a| self.agent_name(i64::try_from(a).ok())),
            add,
            remove,
            // Custom fields are not compared (the store's values are not read back).
            fields: Vec::new(),
        };
        let updated_at = snapshot.updated_at;
        let at = (updated_at, (snapshot.id, u64::MAX), &snapshot.origin);
        self.plan_changes(plan, at, changes, false, |planner, what| {
            planner.id(&[b"ticket", &snapshot.id.to_le_bytes(), b"snapshot", &time_bytes(updated_at), what])
        });
    }

    fn plan_comment(&mut self, plan: &mut TicketPlan, audit: &Audit, comment: &Comment, seq: (u64, u64, u64)) {
        if plan.state.as_ref().is_some_and(|state| state.status == Status::Closed) {
            // Zendesk adds no comment to a closed ticket; the store would open a follow-up.
            return self.unmapped("ticket history: comment on a closed ticket".to_owned());
        }
        let via = comment.via.as_ref().unwrap_or(&audit.via);
        let channel = via
            .channel
            .as_deref()
            .and_then(channel_of)
            .or_else(|| audit.via.channel.as_deref().and_then(channel_of))
            .unwrap_or_else(|| plan.channel.clone());
        let body = comment.body.as_deref().map(|body| {
            let (text, truncated) = bounded_text(body);
            self.tally.truncated_bodies += u64::from(truncated);
            text
        });
        let author = comment.author_id.or(audit.author_id);
        let by_zendesk = via.is("rule") || via.is("merge") || audit.via.is("rule") || audit.via.is("merge");
        let event_id = self.audit_id(audit, b"comment", &comment.id.to_le_bytes());
        let agent = by_zendesk || author.is_none_or(|author| self.is_agent(author, plan.requester_id));
        let event = if agent {
            let actor = if by_zendesk || author.is_some_and(|a| a < 0) { Actor::System } else { Actor::Agent };
            CxEvent::MessageSent(MessageSent {
                ticket_id: plan.ticket_id.clone(),
                channel,
                agent: if actor == Actor::System && author.is_none_or(|a| a < 0) {
                    SYSTEM_AGENT.to_owned()
                } else {
                    self.agent_name(author)
                },
                public: comment.public,
                body,
                actor,
            })
        } else {
            let from = match author.and_then(|a| u64::try_from(a).ok()).map(user_identity) {
                Some(Ok(identity)) => identity,
                Some(Err(reason)) => return self.refuse(&audit.origin, reason),
                None => return self.refuse(&audit.origin, "a customer comment without an author"),
            };
            // A customer message reopens a pending, on-hold or solved ticket (the store decides so).
            if let Some(state) = &mut plan.state {
                if matches!(state.status, Status::Pending | Status::Hold | Status::Solved) {
                    state.status = Status::Open;
                }
            }
            CxEvent::MessageReceived(MessageReceived {
                channel,
                from,
                ticket_id: Some(plan.ticket_id.clone()),
                topic: None,
                subject: None,
                body,
            })
        };
        self.push(audit.at, PHASE_TICKETS, seq, event, event_id, &audit.origin);
    }
}

/// The pattern of an audit's events in `unknown_fields`.
fn events_pattern(audit: &Audit) -> String {
    if audit.from_tables {
        "ticket_field_history".to_owned()
    } else {
        format!("{}[].events[]", audit_kind(audit).key())
    }
}

/// The export kind an audit was read from (its cursor).
fn audit_kind(audit: &Audit) -> ZendeskKind {
    if audit.from_audits {
        ZendeskKind::Audits
    } else {
        ZendeskKind::TicketEvents
    }
}
