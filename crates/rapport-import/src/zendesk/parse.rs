//! The records of Zendesk API pages, checked and typed: the first phase of an import. Nothing
//! here knows the store; a page that is not what Zendesk returns is a [`Fault`] with its path.

use std::collections::BTreeMap;

use rapport::log::Timestamp;
use serde_json::Value;

use super::json::{type_name, Fault, Parse, Rec};
use super::{ZendeskKind, ZendeskMinutes, ZendeskTicketMetrics, PAGE_RECORDS_MAX};

/// Where a record came from: the page file (an index into the import's file list) and the
/// record's JSON path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Origin {
    pub(super) file: usize,
    pub(super) path: String,
}

/// `via` of a ticket, an audit or an event, reduced to what the mapping reads.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Via {
    /// The via type, lower case (`web`, `email`, `rule`, `merge`, ...); a via id is turned into
    /// its type where the table knows it.
    pub(super) channel: Option<String>,
    /// `source.rel` (`follow_up`, `merge`, ...).
    pub(super) rel: Option<String>,
    /// `source.from.ticket_id` (the closed ticket a follow-up continues), and
    /// `source.from.ticket_ids` (the tickets merged into this one).
    pub(super) from_tickets: Vec<u64>,
    /// `source.to.ticket_id` (the ticket this one was merged into).
    pub(super) to_ticket: Option<u64>,
}

impl Via {
    pub(super) fn is(&self, via_type: &str) -> bool {
        self.channel.as_deref() == Some(via_type) || self.rel.as_deref() == Some(via_type)
    }
}

/// A user: end-users are customers; agents and admins name assignees and comment authors.
#[derive(Debug, Clone)]
pub(super) struct User {
    pub(super) id: u64,
    pub(super) name: Option<String>,
    pub(super) email: Option<String>,
    pub(super) phone: Option<String>,
    pub(super) external_id: Option<String>,
    pub(super) agent: bool,
    pub(super) organization_id: Option<u64>,
    pub(super) locale: Option<String>,
    pub(super) time_zone: Option<String>,
    pub(super) updated_at: Timestamp,
    pub(super) origin: Origin,
}

#[derive(Debug, Clone)]
pub(super) struct Organization {
    pub(super) id: u64,
    pub(super) name: Option<String>,
    pub(super) domains: Vec<String>,
    pub(super) updated_at: Timestamp,
    pub(super) origin: Origin,
}

#[derive(Debug, Clone)]
pub(super) struct Ticket {
    pub(super) id: u64,
    pub(super) created_at: Timestamp,
    pub(super) updated_at: Timestamp,
    pub(super) status: Option<String>,
    pub(super) priority: Option<String>,
    pub(super) ticket_type: Option<String>,
    pub(super) subject: Option<String>,
    pub(super) requester_id: Option<u64>,
    pub(super) assignee_id: Option<u64>,
    pub(super) group_id: Option<u64>,
    pub(super) tags: Vec<String>,
    /// Custom field id and value (`null` values left out).
    pub(super) custom_fields: Vec<(u64, Value)>,
    pub(super) via: Via,
    pub(super) origin: Origin,
}

/// A ticket property set (`Create`) or changed (`Change`).
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Change {
    Status(String),
    /// `None`: the priority was removed (no event can say so).
    Priority(Option<String>),
    Type(Option<String>),
    Subject(Option<String>),
    Group(Option<u64>),
    Assignee(Option<u64>),
    Requester(Option<u64>),
    Tags {
        add: Vec<String>,
        remove: Vec<String>,
    },
    /// A custom field by id.
    Field(u64, Value),
    /// A field the mapping does not read, by name.
    Other(String),
}

#[derive(Debug, Clone, PartialEq)]
pub(super) struct Comment {
    pub(super) id: u64,
    pub(super) author_id: Option<i64>,
    pub(super) public: bool,
    pub(super) body: Option<String>,
    pub(super) via: Option<Via>,
}

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Item {
    Create(Change),
    Change(Change),
    Comment(Comment),
}

/// One update of a ticket: an audit (`audits`) or an audit of the incremental ticket event
/// export (`ticket_events`). Both carry the audit's id, and their child events the ids of the
/// audit's events.
#[derive(Debug, Clone)]
pub(super) struct Audit {
    pub(super) id: u64,
    pub(super) ticket_id: u64,
    pub(super) at: Timestamp,
    pub(super) author_id: Option<i64>,
    pub(super) via: Via,
    pub(super) items: Vec<Item>,
    /// `merged_ticket_ids` of a ticket event: tickets merged into this one.
    pub(super) merged_ticket_ids: Vec<u64>,
    /// From the audits API (preferred over the same audit from the ticket event export).
    pub(super) from_audits: bool,
    /// Made by the tables importer from the rows of one ticket at one time (`ticket_field_history`,
    /// `ticket_comment`): no audit id, `id` is the time in microseconds.
    pub(super) from_tables: bool,
    pub(super) origin: Origin,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Score {
    Good,
    Bad,
    Offered,
    Unoffered,
}

#[derive(Debug, Clone)]
pub(super) struct Rating {
    pub(super) id: u64,
    pub(super) ticket_id: Option<u64>,
    pub(super) requester_id: Option<u64>,
    pub(super) score: Score,
    pub(super) comment: Option<String>,
    pub(super) reason_code: Option<u64>,
    pub(super) created_at: Timestamp,
    pub(super) updated_at: Timestamp,
    pub(super) origin: Origin,
}

#[derive(Debug, Clone)]
pub(super) struct Condition {
    pub(super) field: String,
    pub(super) operator: String,
    pub(super) value: Value,
}

#[derive(Debug, Clone)]
pub(super) struct PolicyMetric {
    pub(super) priority: String,
    pub(super) metric: String,
    pub(super) target_minutes: u64,
    pub(super) business_hours: bool,
}

#[derive(Debug, Clone)]
pub(super) struct SlaPolicy {
    pub(super) id: u64,
    pub(super) title: String,
    pub(super) all: Vec<Condition>,
    pub(super) any: Vec<Condition>,
    pub(super) metrics: Vec<PolicyMetric>,
    pub(super) created_at: Timestamp,
    pub(super) updated_at: Timestamp,
    pub(super) origin: Origin,
}

#[derive(Debug, Clone)]
pub(super) struct Schedule {
    pub(super) id: u64,
    pub(super) name: String,
    pub(super) time_zone: String,
    /// Minutes since Sunday 00:00, `[start, end)`.
    pub(super) intervals: Vec<(u64, u64)>,
    /// Closed dates, `YYYY-MM-DD` (the tables' `schedule_holiday`; the REST import reads none).
    pub(super) holidays: Vec<String>,
    /// The IANA zone, when the reader resolved it already (else `time_zone` goes through the table).
    pub(super) iana_time_zone: Option<String>,
    /// A hash of the schedule's content, when its source has no `updated_at` (the tables): the
    /// event id is made of it instead of the time, so a changed schedule is a new event.
    pub(super) content_key: Option<[u8; 32]>,
    pub(super) created_at: Timestamp,
    pub(super) updated_at: Timestamp,
    pub(super) origin: Origin,
}

/// Every record of every page, deduplicated: per id the newest version (`updated_at`, then the
/// later page); per audit the audits API's version over the ticket event export's.
#[derive(Debug, Default)]
pub(super) struct Parsed {
    pub(super) users: BTreeMap<u64, User>,
    pub(super) organizations: BTreeMap<u64, Organization>,
    pub(super) groups: BTreeMap<u64, String>,
    pub(super) tickets: BTreeMap<u64, Ticket>,
    pub(super) audits: BTreeMap<(u64, u64), Audit>,
    pub(super) ratings: BTreeMap<u64, Rating>,
    pub(super) metrics: BTreeMap<u64, ZendeskTicketMetrics>,
    pub(super) sla_policies: BTreeMap<u64, SlaPolicy>,
    pub(super) schedules: BTreeMap<u64, Schedule>,
    /// Pages per kind (by the page's main key).
    pub(super) pages: BTreeMap<ZendeskKind, u64>,
    /// Records read, sideloads included.
    pub(super) records: u64,
    /// Kinds whose pages carry `end_of_stream`, and whether one of them said `true`.
    pub(super) end_of_stream: BTreeMap<ZendeskKind, bool>,
    pub(super) duplicate_audits: u64,
    pub(super) side_conversations: u64,
    pub(super) unknown_fields: BTreeMap<String, u64>,
}

/// Top-level keys of a page that are pagination, not records.
const PAGINATION_KEYS: [&str; 11] = [
    "after_cursor",
    "after_url",
    "before_cursor",
    "before_url",
    "end_of_stream",
    "end_time",
    "next_page",
    "previous_page",
    "count",
    "meta",
    "links",
];

/// The record keys a page may hold, main kind first (a `tickets` page may sideload `users`).
const KINDS_IN_PAGE_ORDER: [ZendeskKind; 10] = [
    ZendeskKind::Tickets,
    ZendeskKind::TicketEvents,
    ZendeskKind::Audits,
    ZendeskKind::SatisfactionRatings,
    ZendeskKind::TicketMetrics,
    ZendeskKind::SlaPolicies,
    ZendeskKind::Schedules,
    ZendeskKind::Organizations,
    ZendeskKind::Groups,
    ZendeskKind::Users,
];

/// Side conversations: a page of them is read and counted, not imported.
const SIDE_CONVERSATIONS_KEY: &str = "side_conversations";

impl Parsed {
    /// Reads one page (the file at index `file`).
    pub(super) fn page(&mut self, file: usize, page: &Value) -> Parse<()> {
        let Value::Object(map) = page else {
            return Err(Fault::new("$", format!("expected an object (a Zendesk API page), found {}", type_name(page))));
        };
        let kinds: Vec<ZendeskKind> = KINDS_IN_PAGE_ORDER.into_iter().filter(|k| map.contains_key(k.key())).collect();
        let main = match kinds.first() {
            Some(kind) => *kind,
            None if map.contains_key(SIDE_CONVERSATIONS_KEY) => {
                let n = map.get(SIDE_CONVERSATIONS_KEY).and_then(Value::as_array).map_or(0, Vec::len);
                self.side_conversations += n as u64;
                return Ok(());
            }
            None => {
                let expected: Vec<&str> = KINDS_IN_PAGE_ORDER.iter().map(|k| k.key()).collect();
                return Err(Fault::new(
                    "$",
                    format!("no record key of a Zendesk page (one of {})", expected.join(", ")),
                ));
            }
        };
        *self.pages.entry(main).or_insert(0) += 1;
        if let Some(end) = map.get("end_of_stream") {
            let end = end
                .as_bool()
                .ok_or_else(|| Fault::new("end_of_stream", format!("expected a boolean, found {}", type_name(end))))?;
            let seen = self.end_of_stream.entry(main).or_insert(false);
            *seen |= end;
        }
        if let Some(cursor) = map.get("after_cursor") {
            if !cursor.is_null() && !cursor.is_string() {
                return Err(Fault::new("after_cursor", format!("expected a string, found {}", type_name(cursor))));
            }
        }
        for key in map.keys() {
            let known = PAGINATION_KEYS.contains(&key.as_str())
                || kinds.iter().any(|k| k.key() == key)
                || key == SIDE_CONVERSATIONS_KEY;
            if !known {
                *self.unknown_fields.entry(format!("{}:$.{key}", main.key())).or_insert(0) += 1;
            }
        }
        for kind in kinds {
            let Some(records) = map.get(kind.key()) else { continue };
            let Value::Array(records) = records else {
                return Err(Fault::new(kind.key(), format!("expected an array, found {}", type_name(records))));
            };
            if records.len() > PAGE_RECORDS_MAX {
                return Err(Fault::new(
                    kind.key(),
                    format!("{} records, over the limit of {PAGE_RECORDS_MAX} per page", records.len()),
                ));
            }
            for (idx, record) in records.iter().enumerate() {
                let path = format!("{}[{idx}]", kind.key());
                let pattern = format!("{}[]", kind.key());
                let rec = Rec::new(record, path.clone(), pattern)?;
                let origin = Origin { file, path };
                self.records += 1;
                self.record(kind, rec, origin)?;
            }
        }
        Ok(())
    }

    fn record(&mut self, kind: ZendeskKind, rec: Rec<'_>, origin: Origin) -> Parse<()> {
        match kind {
            ZendeskKind::Tickets => {
                let ticket = ticket(rec, origin, &mut self.unknown_fields)?;
                keep_newest(&mut self.tickets, ticket.id, ticket, |t| t.updated_at);
            }
            ZendeskKind::Users => {
                let user = user(rec, origin, &mut self.unknown_fields)?;
                keep_newest(&mut self.users, user.id, user, |u| u.updated_at);
            }
            ZendeskKind::Organizations => {
                let organization = organization(rec, origin, &mut self.unknown_fields)?;
                keep_newest(&mut self.organizations, organization.id, organization, |o| o.updated_at);
            }
            ZendeskKind::Groups => {
                let mut rec = rec;
                let id = rec.req_u64("id")?;
                let name = rec.text("name")?;
                rec.finish(&mut self.unknown_fields);
                if let Some(name) = name {
                    self.groups.insert(id, name);
                }
            }
            ZendeskKind::Audits => {
                let Some(audit) = audit(rec, origin, &mut self.unknown_fields, &mut self.side_conversations)? else {
                    return Ok(());
                };
                self.add_audit(audit);
            }
            ZendeskKind::TicketEvents => {
                let Some(audit) = ticket_event(rec, origin, &mut self.unknown_fields, &mut self.side_conversations)?
                else {
                    return Ok(());
                };
                self.add_audit(audit);
            }
            ZendeskKind::SatisfactionRatings => {
                let rating = rating(rec, origin, &mut self.unknown_fields)?;
                keep_newest(&mut self.ratings, rating.id, rating, |r| r.updated_at);
            }
            ZendeskKind::TicketMetrics => {
                let metrics = ticket_metrics(rec, &mut self.unknown_fields)?;
                keep_newest(&mut self.metrics, metrics.ticket_id, metrics, |m| m.updated_at);
            }
            ZendeskKind::SlaPolicies => {
                let policy = sla_policy(rec, origin, &mut self.unknown_fields)?;
                keep_newest(&mut self.sla_policies, policy.id, policy, |p| p.updated_at);
            }
            ZendeskKind::Schedules => {
                let schedule = schedule(rec, origin, &mut self.unknown_fields)?;
                keep_newest(&mut self.schedules, schedule.id, schedule, |s| s.updated_at);
            }
        }
        Ok(())
    }

    /// Keeps one version of each audit: the audits API's when both sources hold it (it has
    /// the richer `via`), else the first read.
    fn add_audit(&mut self, audit: Audit) {
        let key = (audit.ticket_id, audit.id);
        match self.audits.get(&key) {
            None => {
                self.audits.insert(key, audit);
            }
            Some(kept) => {
                self.duplicate_audits += 1;
                if audit.from_audits && !kept.from_audits {
                    self.audits.insert(key, audit);
                }
            }
        }
    }
}

/// Keeps the newer of two versions of a record (a later page wins a tie: pages are read in
/// name order).
pub(super) fn keep_newest<T>(map: &mut BTreeMap<u64, T>, id: u64, record: T, updated_at: impl Fn(&T) -> Timestamp) {
    match map.get(&id) {
        Some(kept) if updated_at(kept) > updated_at(&record) => {}
        _ => {
            map.insert(id, record);
        }
    }
}

/// The via type of a via id (Zendesk's via types reference), for the ids whose type the
/// mapping reads.
pub(super) fn via_type_of_id(id: u64) -> String {
    match id {
        0 => "web".to_owned(),
        4 => "email".to_owned(),
        5 => "api".to_owned(),
        8 => "rule".to_owned(),
        19 => "merge".to_owned(),
        27 => "closed_ticket".to_owned(),
        29 => "chat".to_owned(),
        other => format!("via_{other}"),
    }
}

/// The via type of the ticket event export's `via` text (`Web form`, `Mail`, ...).
pub(super) fn via_type_of_text(text: &str) -> String {
    let lower = text.trim().to_ascii_lowercase();
    let known = match lower.as_str() {
        "web form" | "web" | "web widget" => "web",
        "mail" | "email" => "email",
        "chat" => "chat",
        "web service" | "api" => "api",
        "voice" | "voicemail" | "phone call (incoming)" | "phone call (outbound)" | "phone" => "voice",
        "twitter" | "twitter dm" | "twitter direct message" | "twitter favorite" => "twitter",
        "facebook" | "facebook post" | "facebook message" | "facebook private message" => "facebook",
        "instagram" | "instagram direct message" => "instagram",
        "whatsapp" => "whatsapp",
        "line" => "line",
        "sms" | "text" => "sms",
        "mobile sdk" => "mobile_sdk",
        "mobile" => "mobile",
        "trigger" | "automation" | "rule" => "rule",
        "merge" => "merge",
        "closed ticket" => "closed_ticket",
        "side conversation" => "side_conversation",
        "ticket sharing" => "ticket_sharing",
        "help center" => "help_center",
        "messaging" | "native messaging" => "native_messaging",
        _ => "",
    };
    if known.is_empty() {
        lower.replace(' ', "_")
    } else {
        known.to_owned()
    }
}

/// Reads a `via` object (its nested fields are read as a whole: `source.from` holds e-mail
/// addresses and names, which are not kept).
fn read_via(value: Option<&Value>, path: &str) -> Parse<Via> {
    let Some(value) = value else { return Ok(Via::default()) };
    let Value::Object(map) = value else {
        return Err(Fault::new(format!("{path}.via"), format!("expected an object, found {}", type_name(value))));
    };
    let channel = match map.get("channel") {
        None | Some(Value::Null) => None,
        Some(Value::String(text)) => Some(text.trim().to_ascii_lowercase()),
        Some(Value::Number(number)) => number.as_u64().map(via_type_of_id),
        Some(other) => {
            return Err(Fault::new(
                format!("{path}.via.channel"),
                format!("expected a string or a via id, found {}", type_name(other)),
            ))
        }
    };
    let source = map.get("source").and_then(Value::as_object);
    let rel = source.and_then(|s| s.get("rel")).and_then(Value::as_str).map(str::to_owned);
    let from = source.and_then(|s| s.get("from")).and_then(Value::as_object);
    let to = source.and_then(|s| s.get("to")).and_then(Value::as_object);
    let mut from_tickets: Vec<u64> = Vec::new();
    if let Some(id) = from.and_then(|f| f.get("ticket_id")).and_then(Value::as_u64) {
        from_tickets.push(id);
    }
    if let Some(ids) = from.and_then(|f| f.get("ticket_ids")).and_then(Value::as_array) {
        from_tickets.extend(ids.iter().filter_map(Value::as_u64));
    }
    let to_ticket = to.and_then(|t| t.get("ticket_id")).and_then(Value::as_u64);
    Ok(Via { channel, rel, from_tickets, to_ticket })
}

fn user(mut rec: Rec<'_>, origin: Origin, unknown: &mut BTreeMap<String, u64>) -> Parse<User> {
    let id = rec.req_u64("id")?;
    let role = rec.text("role")?;
    let agent = match role.as_deref() {
        None | Some("end-user") => false,
        Some("agent" | "admin") => true,
        Some(_) => return Err(Fault::new(format!("{}.role", rec.path), "expected end-user, agent or admin")),
    };
    let user = User {
        id,
        name: rec.text("name")?,
        email: rec.text("email")?,
        phone: rec.text("phone")?,
        external_id: rec.text("external_id")?,
        agent,
        organization_id: rec.u64("organization_id")?,
        locale: rec.text("locale")?,
        time_zone: match rec.text("iana_time_zone")? {
            Some(zone) => Some(zone),
            None => rec.text("time_zone")?,
        },
        updated_at: updated_or_created(&mut rec)?,
        origin,
    };
    rec.finish(unknown);
    Ok(user)
}

/// `updated_at`, or `created_at` when there is none; one of them is required.
fn updated_or_created(rec: &mut Rec<'_>) -> Parse<Timestamp> {
    let created = rec.time("created_at")?;
    match (rec.time("updated_at")?, created) {
        (Some(at), _) | (None, Some(at)) => Ok(at),
        (None, None) => Err(Fault::new(format!("{}.updated_at", rec.path), "missing (expected an RFC 3339 time)")),
    }
}

fn organization(mut rec: Rec<'_>, origin: Origin, unknown: &mut BTreeMap<String, u64>) -> Parse<Organization> {
    let organization = Organization {
        id: rec.req_u64("id")?,
        name: rec.text("name")?,
        domains: rec.strings("domain_names")?,
        updated_at: updated_or_created(&mut rec)?,
        origin,
    };
    rec.finish(unknown);
    Ok(organization)
}

fn ticket(mut rec: Rec<'_>, origin: Origin, unknown: &mut BTreeMap<String, u64>) -> Parse<Ticket> {
    let id = rec.req_u64("id")?;
    let created_at = rec.req_time("created_at")?;
    let updated_at = rec.time("updated_at")?.unwrap_or(created_at);
    let mut custom_fields = Vec::new();
    for (path, field) in rec.array("custom_fields")? {
        let mut field = Rec::new(field, path, String::new())?;
        let field_id = field.req_u64("id")?;
        if let Some(value) = field.take("value") {
            custom_fields.push((field_id, value.clone()));
        }
    }
    // `fields` repeats `custom_fields` (Zendesk returns both).
    rec.take("fields");
    let via = read_via(rec.take("via"), &rec.path)?;
    let ticket = Ticket {
        id,
        created_at,
        updated_at,
        status: rec.text("status")?,
        priority: rec.text("priority")?,
        ticket_type: rec.text("type")?,
        subject: rec.text("subject")?,
        requester_id: rec.u64("requester_id")?,
        assignee_id: rec.u64("assignee_id")?,
        group_id: rec.u64("group_id")?,
        tags: rec.strings("tags")?,
        custom_fields,
        via,
        origin,
    };
    rec.finish(unknown);
    Ok(ticket)
}

/// A change's field, by name, with its new value (and, for tags, the old one).
fn change_of(field: &str, value: Option<&Value>, previous: Option<&Value>, path: &str, create: bool) -> Parse<Change> {
    let text = |value: Option<&Value>| -> Parse<Option<String>> {
        match value {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(text)) => Ok(Some(text.trim().to_owned()).filter(|t| !t.is_empty())),
            Some(other) => {
                Err(Fault::new(format!("{path}.value"), format!("expected a string, found {}", type_name(other))))
            }
        }
    };
    // Zendesk writes ids in audit events as strings or numbers.
    let id = |value: Option<&Value>| -> Parse<Option<u64>> {
        match value {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(number)) => number
                .as_u64()
                .map(Some)
                .ok_or_else(|| Fault::new(format!("{path}.value"), "expected a non-negative id")),
            Some(Value::String(text)) if text.trim().is_empty() => Ok(None),
            Some(Value::String(text)) => {
                text.trim().parse().map(Some).map_err(|_| Fault::new(format!("{path}.value"), "expected an id"))
            }
            Some(other) => {
                Err(Fault::new(format!("{path}.value"), format!("expected an id, found {}", type_name(other))))
            }
        }
    };
    let tags = |value: Option<&Value>| -> Parse<Vec<String>> {
        match value {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::Array(items)) => items
                .iter()
                .map(|item| match item {
                    Value::String(tag) => Ok(tag.clone()),
                    other => {
                        Err(Fault::new(format!("{path}.value"), format!("expected tags, found {}", type_name(other))))
                    }
                })
                .collect(),
            // Older audits write the tags as one space-separated string.
            Some(Value::String(text)) => Ok(text.split_whitespace().map(str::to_owned).collect()),
            Some(other) => {
                Err(Fault::new(format!("{path}.value"), format!("expected tags, found {}", type_name(other))))
            }
        }
    };
    Ok(match field {
        "status" => match text(value)? {
            Some(status) => Change::Status(status),
            None => return Err(Fault::new(format!("{path}.value"), "missing status")),
        },
        "priority" => Change::Priority(text(value)?),
        "type" => Change::Type(text(value)?),
        "subject" => Change::Subject(text(value)?),
        "group_id" => Change::Group(id(value)?),
        "assignee_id" => Change::Assignee(id(value)?),
        "requester_id" => Change::Requester(id(value)?),
        "tags" => {
            let new = tags(value)?;
            let old = if create { Vec::new() } else { tags(previous)? };
            let add = new.iter().filter(|t| !old.contains(t)).cloned().collect();
            let remove = old.iter().filter(|t| !new.contains(t)).cloned().collect();
            Change::Tags { add, remove }
        }
        other => match other.parse::<u64>() {
            Ok(field_id) => Change::Field(field_id, value.cloned().unwrap_or(Value::Null)),
            Err(_) => Change::Other(other.to_owned()),
        },
    })
}

/// The fields a ticket event's child event may name by key (instead of `field_name`).
const CHILD_FIELD_KEYS: [&str; 8] =
    ["status", "priority", "type", "subject", "group_id", "assignee_id", "requester_id", "tags"];

fn audit(
    mut rec: Rec<'_>,
    origin: Origin,
    unknown: &mut BTreeMap<String, u64>,
    side_conversations: &mut u64,
) -> Parse<Option<Audit>> {
    let id = rec.req_u64("id")?;
    let ticket_id = rec.req_u64("ticket_id")?;
    let at = rec.req_time("created_at")?;
    let author_id = rec.i64("author_id")?;
    let via = read_via(rec.take("via"), &rec.path)?;
    rec.take("metadata"); // client IP and user agent: personal, not kept
    let mut items = Vec::new();
    let side = via.is("side_conversation");
    for (path, event) in rec.array("events")? {
        let mut event = Rec::new(event, path.clone(), format!("{}[].events[]", ZendeskKind::Audits.key()))?;
        let event_type = event.text("type")?.unwrap_or_default();
        event.u64("id")?;
        match event_type.as_str() {
            "Create" | "Change" => {
                let field = event
                    .text("field_name")?
                    .ok_or_else(|| Fault::new(format!("{path}.field_name"), "missing (expected a field name)"))?;
                let value = event.take("value");
                let previous = event.take("previous_value");
                let create = event_type == "Create";
                let change = change_of(&field, value, previous, &path, create)?;
                items.push(if create { Item::Create(change) } else { Item::Change(change) });
            }
            "Comment" | "VoiceComment" => {
                let comment_via = event.take("via").map(|v| read_via(Some(v), &path)).transpose()?;
                if comment_via.as_ref().is_some_and(|v| v.is("side_conversation")) {
                    *side_conversations += 1;
                    event.finish(&mut BTreeMap::new());
                    continue;
                }
                let comment = Comment {
                    id: event.req_u64("id")?,
                    author_id: event.i64("author_id")?,
                    public: event.bool("public")?.unwrap_or(true),
                    body: match event.str("plain_body")? {
                        Some(body) => Some(body.to_owned()),
                        None => event.str("body")?.map(str::to_owned),
                    },
                    via: comment_via,
                };
                event.take("html_body");
                items.push(Item::Comment(comment));
            }
            other => {
                // Notifications, CCs, macros, SLA and survey events: not ticket history Rapport
                // keeps (ratings come from `satisfaction_ratings`).
                let name = if other.is_empty() { "(no type)" } else { other };
                *unknown.entry(format!("{}[].events[].type={name}", ZendeskKind::Audits.key())).or_insert(0) += 1;
                continue;
            }
        }
        event.finish(unknown);
    }
    rec.finish(unknown);
    if side {
        *side_conversations += 1;
        return Ok(None);
    }
    Ok(Some(Audit {
        id,
        ticket_id,
        at,
        author_id,
        via,
        items,
        merged_ticket_ids: Vec::new(),
        from_audits: true,
        from_tables: false,
        origin,
    }))
}

fn ticket_event(
    mut rec: Rec<'_>,
    origin: Origin,
    unknown: &mut BTreeMap<String, u64>,
    side_conversations: &mut u64,
) -> Parse<Option<Audit>> {
    let id = rec.req_u64("id")?;
    let ticket_id = rec.req_u64("ticket_id")?;
    let at = match rec.time("created_at")? {
        Some(at) => at,
        None => {
            let seconds = rec
                .i64("timestamp")?
                .ok_or_else(|| Fault::new(format!("{}.created_at", rec.path), "missing (expected an RFC 3339 time)"))?;
            let at = Timestamp(seconds.saturating_mul(1_000_000));
            if !at.is_in_range() {
                return Err(Fault::new(format!("{}.timestamp", rec.path), "out of range"));
            }
            at
        }
    };
    rec.take("timestamp");
    let author_id = rec.i64("updater_id")?;
    let via_text = rec.str("via")?;
    let via = Via { channel: via_text.map(via_type_of_text), ..Via::default() };
    rec.take("via_reference_id");
    rec.take("event_type");
    let mut merged_ticket_ids = Vec::new();
    for (path, value) in rec.array("merged_ticket_ids")? {
        merged_ticket_ids.push(value.as_u64().ok_or_else(|| Fault::new(path, "expected a ticket id"))?);
    }
    let mut items = Vec::new();
    let pattern = format!("{}[].child_events[]", ZendeskKind::TicketEvents.key());
    for (path, child) in rec.array("child_events")? {
        let mut child = Rec::new(child, path.clone(), pattern.clone())?;
        let event_type = child.text("event_type")?.unwrap_or_default();
        child.u64("id")?;
        child.take("via");
        child.take("via_reference_id");
        match event_type.as_str() {
            "Create" | "Change" => {
                let create = event_type == "Create";
                let field = match child.text("field_name")? {
                    Some(field) => field,
                    None => match CHILD_FIELD_KEYS.iter().find(|key| child.has(key)) {
                        Some(key) => (*key).to_owned(),
                        None => {
                            // A change of a field the export names by a key the mapping does not
                            // read (`custom_ticket_fields`, `organization_id`, ...).
                            child.take("previous_value");
                            child.finish(unknown);
                            continue;
                        }
                    },
                };
                let key: &'static str = CHILD_FIELD_KEYS.iter().find(|k| **k == field).copied().unwrap_or("value");
                let value = child.take(key).or_else(|| child.take("value"));
                let previous = child.take("previous_value");
                let change = match (field.as_str(), child.has("added_tags") || child.has("removed_tags")) {
                    ("tags", true) => {
                        Change::Tags { add: child.strings("added_tags")?, remove: child.strings("removed_tags")? }
                    }
                    _ => change_of(&field, value, previous, &path, create)?,
                };
                items.push(if create { Item::Create(change) } else { Item::Change(change) });
            }
            "Comment" | "VoiceComment" => {
                let comment = Comment {
                    id: child.req_u64("id")?,
                    author_id: child.i64("author_id")?,
                    public: match child.bool("public")? {
                        Some(public) => public,
                        None => child.bool("comment_public")?.unwrap_or(true),
                    },
                    body: match child.str("plain_body")? {
                        Some(body) => Some(body.to_owned()),
                        None => child.str("body")?.map(str::to_owned),
                    },
                    via: None,
                };
                child.take("comment_present");
                child.take("comment_public");
                child.take("html_body");
                child.take("type");
                items.push(Item::Comment(comment));
            }
            other => {
                let name = if other.is_empty() { "(no event_type)" } else { other };
                let key = format!("{}[].child_events[].event_type={name}", ZendeskKind::TicketEvents.key());
                *unknown.entry(key).or_insert(0) += 1;
                continue;
            }
        }
        child.finish(unknown);
    }
    rec.finish(unknown);
    if via.is("side_conversation") {
        *side_conversations += 1;
        return Ok(None);
    }
    Ok(Some(Audit {
        id,
        ticket_id,
        at,
        author_id,
        via,
        items,
        merged_ticket_ids,
        from_audits: false,
        from_tables: false,
        origin,
    }))
}

fn rating(mut rec: Rec<'_>, origin: Origin, unknown: &mut BTreeMap<String, u64>) -> Parse<Rating> {
    let id = rec.req_u64("id")?;
    let score = match rec.text("score")?.as_deref() {
        Some("good" | "good_with_comment") => Score::Good,
        Some("bad" | "bad_with_comment") => Score::Bad,
        Some("offered") => Score::Offered,
        Some("unoffered") | None => Score::Unoffered,
        Some(_) => {
            return Err(Fault::new(format!("{}.score", rec.path), "expected good, bad, offered or unoffered"));
        }
    };
    let created_at = rec.req_time("created_at")?;
    let rating = Rating {
        id,
        ticket_id: rec.u64("ticket_id")?,
        requester_id: rec.u64("requester_id")?,
        score,
        comment: rec.text("comment")?,
        reason_code: rec.u64("reason_code")?,
        created_at,
        updated_at: rec.time("updated_at")?.unwrap_or(created_at),
        origin,
    };
    rec.u64("reason_id")?;
    // The text of `reason_code` in the account's language: the code is what is kept.
    rec.take("reason");
    rec.finish(unknown);
    Ok(rating)
}

fn minutes(rec: &mut Rec<'_>, key: &'static str) -> Parse<ZendeskMinutes> {
    let Some(mut object) = rec.object(key)? else { return Ok(ZendeskMinutes::default()) };
    let pair = ZendeskMinutes { calendar: object.u64("calendar")?, business: object.u64("business")? };
    object.finish(&mut BTreeMap::new());
    Ok(pair)
}

fn ticket_metrics(mut rec: Rec<'_>, unknown: &mut BTreeMap<String, u64>) -> Parse<ZendeskTicketMetrics> {
    let metrics = ZendeskTicketMetrics {
        ticket_id: rec.req_u64("ticket_id")?,
        reply_time_in_minutes: minutes(&mut rec, "reply_time_in_minutes")?,
        first_resolution_time_in_minutes: minutes(&mut rec, "first_resolution_time_in_minutes")?,
        full_resolution_time_in_minutes: minutes(&mut rec, "full_resolution_time_in_minutes")?,
        agent_wait_time_in_minutes: minutes(&mut rec, "agent_wait_time_in_minutes")?,
        requester_wait_time_in_minutes: minutes(&mut rec, "requester_wait_time_in_minutes")?,
        on_hold_time_in_minutes: minutes(&mut rec, "on_hold_time_in_minutes")?,
        reopens: rec.u64("reopens")?,
        replies: rec.u64("replies")?,
        assignee_stations: rec.u64("assignee_stations")?,
        group_stations: rec.u64("group_stations")?,
        updated_at: updated_or_created(&mut rec)?,
    };
    rec.u64("id")?;
    rec.finish(unknown);
    Ok(metrics)
}

fn conditions(rec: &mut Rec<'_>, key: &'static str) -> Parse<Vec<Condition>> {
    let mut out = Vec::new();
    for (path, condition) in rec.array(key)? {
        let mut condition = Rec::new(condition, path.clone(), String::new())?;
        let field = condition.text("field")?.ok_or_else(|| Fault::new(format!("{path}.field"), "missing"))?;
        let operator = condition.text("operator")?.unwrap_or_else(|| "is".to_owned());
        let value = condition.take("value").cloned().unwrap_or(Value::Null);
        out.push(Condition { field, operator, value });
    }
    Ok(out)
}

fn sla_policy(mut rec: Rec<'_>, origin: Origin, unknown: &mut BTreeMap<String, u64>) -> Parse<SlaPolicy> {
    let id = rec.req_u64("id")?;
    let title = rec.text("title")?.ok_or_else(|| Fault::new(format!("{}.title", rec.path), "missing"))?;
    let (all, any) = match rec.object("filter")? {
        Some(mut filter) => {
            let all = conditions(&mut filter, "all")?;
            let any = conditions(&mut filter, "any")?;
            filter.finish(unknown);
            (all, any)
        }
        None => (Vec::new(), Vec::new()),
    };
    let mut metrics = Vec::new();
    for (path, metric) in rec.array("policy_metrics")? {
        let mut metric =
            Rec::new(metric, path.clone(), format!("{}[].policy_metrics[]", ZendeskKind::SlaPolicies.key()))?;
        let priority = metric.text("priority")?.ok_or_else(|| Fault::new(format!("{path}.priority"), "missing"))?;
        let name = metric.text("metric")?.ok_or_else(|| Fault::new(format!("{path}.metric"), "missing"))?;
        let target_minutes = metric.req_u64("target")?;
        let business_hours = metric.bool("business_hours")?.unwrap_or(false);
        metric.take("target_in_seconds");
        metric.finish(unknown);
        metrics.push(PolicyMetric { priority, metric: name, target_minutes, business_hours });
    }
    let created_at = rec.req_time("created_at")?;
    let policy = SlaPolicy {
        id,
        title,
        all,
        any,
        metrics,
        created_at,
        updated_at: rec.time("updated_at")?.unwrap_or(created_at),
        origin,
    };
    rec.finish(unknown);
    Ok(policy)
}

fn schedule(mut rec: Rec<'_>, origin: Origin, unknown: &mut BTreeMap<String, u64>) -> Parse<Schedule> {
    let id = rec.req_u64("id")?;
    let name = rec.text("name")?.ok_or_else(|| Fault::new(format!("{}.name", rec.path), "missing"))?;
    let time_zone = rec.text("time_zone")?.ok_or_else(|| Fault::new(format!("{}.time_zone", rec.path), "missing"))?;
    let mut intervals = Vec::new();
    for (path, interval) in rec.array("intervals")? {
        let mut interval = Rec::new(interval, path.clone(), String::new())?;
        let start = interval.req_u64("start_time")?;
        let end = interval.req_u64("end_time")?;
        if end <= start || end > 7 * 1440 {
            return Err(Fault::new(path, "expected 0 <= start_time < end_time <= 10080 (minutes of a week)"));
        }
        intervals.push((start, end));
    }
    let created_at = rec.req_time("created_at")?;
    let schedule = Schedule {
        id,
        name,
        time_zone,
        intervals,
        holidays: Vec::new(),
        iana_time_zone: None,
        content_key: None,
        created_at,
        updated_at: rec.time("updated_at")?.unwrap_or(created_at),
        origin,
    };
    rec.finish(unknown);
    Ok(schedule)
}
