//! `rapport ticket ID` and `rapport tickets`: tickets as the store sees them, with their metrics.

use std::io::{BufWriter, Write};
use std::process::ExitCode;

use rapport::events::TicketId;
use rapport::log::Timestamp;
use rapport::metrics::{Minutes, TicketMetrics};
use rapport::ticket::Ticket;
use rapport::{CustomerKey, MetricsScope, Store, SurveyAnswer};
use serde_json::{json, Value};

use crate::util::{open_existing_store, parse_time, rfc3339, write_json_line, CliError};
use crate::StoreArg;

/// Arguments of `rapport ticket`.
#[derive(Debug, clap::Args)]
pub(crate) struct TicketArgs {
    /// The ticket id.
    id: String,
    #[command(flatten)]
    store: StoreArg,
    /// Print one JSON object (the ticket, its metrics and its events) instead of text.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    now: NowArg,
    /// Metrics and fields as known at this time: only events recorded (by the store clock) by
    /// then (RFC 3339 or YYYY-MM-DD).
    #[arg(long = "known-at")]
    known_at: Option<String>,
}

/// When unsolved tickets are measured.
#[derive(Debug, clap::Args)]
pub(crate) struct NowArg {
    /// Measure unsolved tickets at this time (RFC 3339 or YYYY-MM-DD); default: the latest event.
    /// An earlier time replays the events that occurred by then.
    #[arg(long)]
    now: Option<String>,
}

impl NowArg {
    fn parse(&self) -> Result<Option<Timestamp>, CliError> {
        self.now.as_deref().map(parse_time).transpose()
    }
}

/// Arguments of `rapport tickets`.
#[derive(Debug, clap::Args)]
pub(crate) struct TicketsArgs {
    #[command(flatten)]
    store: StoreArg,
    /// One JSON object per line (the only output format; the flag is accepted for clarity).
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    now: NowArg,
}

fn minutes(value: Option<Minutes>, business: bool) -> Value {
    match value {
        Some(m) if business => json!(m.business),
        Some(m) => json!(m.calendar),
        None => Value::Null,
    }
}

/// The `metrics` object of a ticket (docs/metrics.md).
pub(crate) fn metrics_json(metrics: Option<&TicketMetrics>) -> Value {
    let Some(m) = metrics else { return Value::Null };
    json!({
        "first_reply_minutes": minutes(m.first_reply, false),
        "first_reply_business_minutes": minutes(m.first_reply, true),
        "first_resolution_minutes": minutes(m.first_resolution, false),
        "first_resolution_business_minutes": minutes(m.first_resolution, true),
        "full_resolution_minutes": minutes(m.full_resolution, false),
        "full_resolution_business_minutes": minutes(m.full_resolution, true),
        "requester_wait_minutes": m.requester_wait.calendar,
        "requester_wait_business_minutes": m.requester_wait.business,
        "agent_wait_minutes": m.agent_wait.calendar,
        "agent_wait_business_minutes": m.agent_wait.business,
        "on_hold_minutes": m.on_hold.calendar,
        "on_hold_business_minutes": m.on_hold.business,
        "reopens": m.reopens,
        "replies": m.replies,
        "group_stations": m.group_stations,
        "assignee_stations": m.assignee_stations,
        "one_touch": m.one_touch,
        "channels": m.channels,
        "bot_messages": m.bot_messages,
        "bot_handoff_minutes": minutes(m.bot_handoff, false),
        "bot_handoff_business_minutes": minutes(m.bot_handoff, true),
    })
}

/// What the store knows of a ticket beyond its state: every channel (merged tickets' included)
/// and the metrics at `now`.
pub(crate) fn channels_and_metrics(
    store: &Store,
    ticket: &Ticket,
    now: Option<Timestamp>,
) -> Result<(Vec<String>, Option<TicketMetrics>), CliError> {
    let channels = store.ticket_channels(ticket.id())?.iter().map(|c| c.to_string()).collect();
    Ok((channels, store.ticket_metrics(ticket.id(), now)?))
}

/// The JSON object of a ticket (without its events).
pub(crate) fn ticket_json(ticket: &Ticket, channels: &[String], metrics: Option<&TicketMetrics>) -> Value {
    json!({
        "ticket_id": ticket.id().as_str(),
        "status": ticket.status().as_str(),
        "created_at": rfc3339(ticket.created_at().0),
        "updated_at": rfc3339(ticket.updated_at().0),
        "requester": ticket.requester().to_string(),
        "channel": ticket.created_channel().to_string(),
        "channels": channels,
        "subject": ticket.subject(),
        "priority": ticket.priority().map(|p| p.as_str()),
        "type": ticket.ticket_type().map(|t| t.as_str()),
        "topic": ticket.topic(),
        "group": ticket.group(),
        "assignee": ticket.assignee(),
        "tags": ticket.tags().iter().collect::<Vec<_>>(),
        "department": ticket.department(),
        "inquiry_type": ticket.inquiry_type(),
        "flags": ticket.flags().iter().map(|f| f.as_str()).collect::<Vec<_>>(),
        "follow_up_of": ticket.follow_up_of().map(TicketId::as_str),
        "merged_into": ticket.merged_into().map(TicketId::as_str),
        "merged_from": ticket.merged_from().iter().map(TicketId::as_str).collect::<Vec<_>>(),
        "customer_messages": ticket.customer_messages(),
        "public_replies": ticket.public_replies(),
        "internal_notes": ticket.internal_notes(),
        "events": ticket.events(),
        "metrics": metrics_json(metrics),
    })
}

pub(crate) fn run_tickets(args: &TicketsArgs) -> Result<ExitCode, CliError> {
    let store = open_existing_store(&args.store.store)?;
    let now = args.now.parse()?;
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    // One pass for every ticket's metrics (a `now` before the latest event replays once).
    let all_metrics = store.all_ticket_metrics_in(now, &MetricsScope::default())?;
    for ticket in store.tickets()? {
        let channels: Vec<String> = store.ticket_channels(ticket.id())?.iter().map(|c| c.to_string()).collect();
        let mut value = ticket_json(&ticket, &channels, all_metrics.get(ticket.id()));
        // The listing decrypts nothing (fast on any number of tickets): the requester is shown
        // as its customer id — the pseudonym the projection holds means nothing outside the
        // store, and an erased requester's resolves to nobody (`null`) — and the subject not at
        // all (`rapport ticket ID` reveals both).
        let customer = store.customer_id(&CustomerKey::Identity(ticket.requester().clone()))?;
        value["requester"] = json!(customer.map(|c| c.to_string()));
        value["subject"] = Value::Null;
        write_json_line(&mut out, &value)?;
    }
    out.flush().map_err(CliError::io("writing to stdout"))?;
    Ok(ExitCode::SUCCESS)
}

/// A survey answer about the ticket: score, reason (a label) and comment (personal, revealed).
pub(crate) fn rating_json(rating: &SurveyAnswer) -> Value {
    json!({
        "at": rfc3339(rating.at.0),
        "identity": rating.identity.to_string(),
        "survey": rating.survey.as_str(),
        "score": rating.score,
        "reason": rating.reason,
        "comment": rating.comment,
    })
}

fn text_minutes(m: Option<Minutes>) -> String {
    match m {
        Some(m) => format!("{:.0} min ({:.0} business)", m.calendar, m.business),
        None => "-".to_owned(),
    }
}

/// Why routing chose this ticket for a customer message (`rapport.routing`), so that a wrong
/// choice is explainable.
fn routing_reason(recorded: &rapport::log::RecordedEvent) -> Option<&str> {
    recorded.data.metadata.iter().find(|(key, _)| key == rapport::ROUTING_METADATA_KEY).map(|(_, value)| value.as_str())
}

pub(crate) fn run_ticket(args: &TicketArgs) -> Result<ExitCode, CliError> {
    let store = open_existing_store(&args.store.store)?;
    let now = args.now.parse()?;
    let id = TicketId::new(args.id.clone()).map_err(|e| CliError::Invalid(e.to_string()))?;
    let known_at = args.known_at.as_deref().map(parse_time).transpose()?;
    // A `now` or `known_at` shows the ticket as it stood (a replay of its stream).
    let Some(ticket) = store.ticket_at(&id, now, known_at)? else {
        return Err(CliError::NotFound(format!("no ticket {id} in {}", args.store.store.display())));
    };
    let mut history = store.ticket_history(&id)?;
    history.retain(|(recorded, _)| {
        known_at.is_none_or(|t| recorded.recorded_at <= t) && now.is_none_or(|t| recorded.data.occurred_at <= t)
    });
    let scope = MetricsScope { known_at, ..Default::default() };
    let channels: Vec<String> = store.ticket_channels(ticket.id())?.iter().map(|c| c.to_string()).collect();
    let metrics = store.ticket_metrics_in(ticket.id(), now, &scope)?;
    let fields = store.ticket_fields_in(ticket.id(), &scope)?.unwrap_or_default();
    let mut value = ticket_json(&ticket, &channels, metrics.as_ref());
    value["fields"] = json!(fields);
    let mut ratings = store.ticket_ratings(&id)?;
    ratings.retain(|rating| now.is_none_or(|t| rating.at <= t));
    value["ratings"] = Value::Array(ratings.iter().map(rating_json).collect());
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    if args.json {
        let events: Vec<Value> = history
            .iter()
            .map(|(recorded, event)| {
                json!({
                    "position": recorded.position.0,
                    "version": recorded.version.0,
                    "type": event.event_type(),
                    "at": rfc3339(recorded.data.occurred_at.0),
                    "derived": recorded.data.causation_id.is_some(),
                    "routing": routing_reason(recorded),
                    "fields": event.to_json(),
                })
            })
            .collect();
        value["history"] = Value::Array(events);
        write_json_line(&mut out, &value)?;
    } else {
        let w =
            |out: &mut BufWriter<_>, text: String| writeln!(out, "{text}").map_err(CliError::io("writing to stdout"));
        w(&mut out, format!("ticket {}  [{}]  {}", ticket.id(), ticket.status(), ticket.subject().unwrap_or("")))?;
        w(&mut out, format!("  requester  {}", ticket.requester()))?;
        w(&mut out, format!("  channels   {}", channels.join(", ")))?;
        w(
            &mut out,
            format!(
                "  priority   {}   group {}   assignee {}",
                ticket.priority().map_or("-", |p| p.as_str()),
                ticket.group().unwrap_or("-"),
                ticket.assignee().unwrap_or("-")
            ),
        )?;
        let tags: Vec<&str> = ticket.tags().iter().map(String::as_str).collect();
        w(&mut out, format!("  tags       {}", tags.join(" ")))?;
        for (name, field) in &fields {
            w(&mut out, format!("  field      {name} = {field}"))?;
        }
        w(
            &mut out,
            format!("  created    {}   updated {}", rfc3339(ticket.created_at().0), rfc3339(ticket.updated_at().0)),
        )?;
        if let Some(parent) = ticket.follow_up_of() {
            w(&mut out, format!("  follow-up of {parent}"))?;
        }
        if let Some(target) = ticket.merged_into() {
            w(&mut out, format!("  merged into {target}"))?;
        }
        if let Some(m) = metrics {
            w(&mut out, format!("  first reply       {}", text_minutes(m.first_reply)))?;
            w(&mut out, format!("  first resolution  {}", text_minutes(m.first_resolution)))?;
            w(&mut out, format!("  full resolution   {}", text_minutes(m.full_resolution)))?;
            w(
                &mut out,
                format!(
                    "  requester wait {}   agent wait {}   on hold {}",
                    text_minutes(Some(m.requester_wait)),
                    text_minutes(Some(m.agent_wait)),
                    text_minutes(Some(m.on_hold))
                ),
            )?;
            w(
                &mut out,
                format!(
                    "  reopens {}  replies {}  group stations {}  assignee stations {}  one-touch {}",
                    m.reopens,
                    m.replies,
                    m.group_stations,
                    m.assignee_stations,
                    m.one_touch.map_or("-".to_owned(), |b| b.to_string())
                ),
            )?;
        }
        for rating in &ratings {
            w(
                &mut out,
                format!(
                    "  rating     {}  {} {}  reason {}  comment {}",
                    rfc3339(rating.at.0),
                    rating.survey.as_str(),
                    rating.score,
                    rating.reason.as_deref().unwrap_or("-"),
                    rating.comment.as_deref().map_or("-".to_owned(), |c| format!("{c:?}"))
                ),
            )?;
        }
        w(&mut out, format!("  history ({} events):", history.len()))?;
        for (recorded, event) in &history {
            w(
                &mut out,
                format!(
                    "    {:>4}  {}  {:<24} {}{}",
                    recorded.version.0,
                    rfc3339(recorded.data.occurred_at.0),
                    event.event_type(),
                    event.to_json(),
                    routing_reason(recorded).map(|r| format!("  (routed: {r})")).unwrap_or_default()
                ),
            )?;
        }
    }
    out.flush().map_err(CliError::io("writing to stdout"))?;
    Ok(ExitCode::SUCCESS)
}
