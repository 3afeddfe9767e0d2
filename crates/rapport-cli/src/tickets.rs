//! `rapport ticket ID` and `rapport tickets`: tickets as the store sees them, with their metrics.

use std::io::{BufWriter, Write};
use std::process::ExitCode;

use rapport::events::TicketId;
use rapport::log::Timestamp;
use rapport::metrics::{Minutes, TicketMetrics};
use rapport::ticket::Ticket;
use rapport::{MetricsScope, Store};

use crate::util::{open_existing_store, parse_time, rfc3339, write_json_line, CliError};
use crate::StoreArg;
use rapport_server::json::{routing_reason, ticket_document, ticket_listing_json};

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

pub(crate) fn run_tickets(args: &TicketsArgs) -> Result<ExitCode, CliError> {
    let store = open_existing_store(&args.store.store)?;
    let now = args.now.parse()?;
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    // One pass for every ticket's metrics (a `now` before the latest event replays once).
    let all_metrics = store.all_ticket_metrics_in(now, &MetricsScope::default())?;
    for ticket in store.tickets()? {
        let value = ticket_listing_json(&store, &ticket, all_metrics.get(ticket.id()))?;
        write_json_line(&mut out, &value)?;
    }
    out.flush().map_err(CliError::io("writing to stdout"))?;
    Ok(ExitCode::SUCCESS)
}

fn text_minutes(m: Option<Minutes>) -> String {
    match m {
        Some(m) => format!("{:.0} min ({:.0} business)", m.calendar, m.business),
        None => "-".to_owned(),
    }
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
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    if args.json {
        write_json_line(&mut out, &ticket_document(&store, &ticket, now, known_at, true)?)?;
        out.flush().map_err(CliError::io("writing to stdout"))?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut history = store.ticket_history(&id)?;
    history.retain(|(recorded, _)| {
        known_at.is_none_or(|t| recorded.recorded_at <= t) && now.is_none_or(|t| recorded.data.occurred_at <= t)
    });
    let scope = MetricsScope { known_at, ..Default::default() };
    let channels: Vec<String> = store.ticket_channels(ticket.id())?.iter().map(|c| c.to_string()).collect();
    let metrics = store.ticket_metrics_in(ticket.id(), now, &scope)?;
    let fields = store.ticket_fields_in(ticket.id(), &scope)?.unwrap_or_default();
    let mut ratings = store.ticket_ratings(&id)?;
    ratings.retain(|rating| now.is_none_or(|t| rating.at <= t));
    {
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
