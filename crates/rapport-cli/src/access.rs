//! `rapport export customer KEY`: one customer's access report (GDPR art. 15), one JSON
//! document of everything the store holds on them, personal values revealed (docs/events.md,
//! "Access report (GDPR art. 15)").

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use rapport::events::Identity;
use rapport::CustomerView;
use serde_json::{json, Map, Value};

use crate::util::{open_existing_store, rfc3339, CliError, OutputFile};
use crate::StoreArg;

/// Arguments of `rapport export customer`.
#[derive(Debug, clap::Args)]
pub(crate) struct AccessArgs {
    /// The customer: an id (`C12`) or one of their identities (`kind:value`).
    key: String,
    #[command(flatten)]
    store: StoreArg,
    /// Write to this file instead of standard output (never inside a store).
    #[arg(long)]
    out: Option<PathBuf>,
}

/// The orders of a profile: counts, first and last time, and totals per currency (amounts of
/// different currencies are never added).
fn orders_json(view: &CustomerView) -> Value {
    let orders = &view.profile.orders;
    let mut totals = Map::new();
    let mut others = 0u32;
    if let Some(currencies) = &orders.other_currencies {
        for (code, other) in currencies.iter() {
            others += other.count;
            totals.insert(code.to_string(), json!({"count": other.count, "total": other.total.as_f64(code)}));
        }
    }
    if let Some(code) = orders.currency {
        totals.insert(code.to_string(), json!({"count": orders.count - others, "total": orders.total.as_f64(&code)}));
    }
    json!({
        "count": orders.count,
        "first_at": orders.first_at.map(|t| rfc3339(t.0)),
        "last_at": orders.last_at.map(|t| rfc3339(t.0)),
        "totals": totals,
    })
}

/// The access report of `key`.
fn report(store: &rapport::Store, args: &AccessArgs) -> Result<Value, CliError> {
    let key = crate::customers::parse_key(store, &args.key)?;
    let Some(view) = store.customer(&key, None)? else {
        return Err(CliError::NotFound(format!("no customer {} in {}", args.key, args.store.store.display())));
    };
    let profile = &view.profile;
    let mut identities: Vec<String> = view.identities.iter().map(Identity::to_string).collect();
    identities.sort();
    let traits: Map<String, Value> = profile.traits.iter().map(|(k, t)| (k.clone(), json!(t.value))).collect();
    let mut tickets = Vec::with_capacity(profile.tickets.len());
    for id in &profile.tickets {
        if let Some(ticket) = store.ticket(id)? {
            let (channels, metrics) = crate::tickets::channels_and_metrics(store, &ticket, None)?;
            tickets.push(rapport_server::json::ticket_json(&ticket, &channels, metrics.as_ref()));
        }
    }
    let ratings: Vec<Value> = profile
        .ratings
        .iter()
        .map(|r| {
            json!({
                "survey": r.survey.as_str(),
                "score": r.score,
                "at": rfc3339(r.at.0),
                "ticket_id": r.ticket_id.as_ref().map(|t| t.as_str()),
            })
        })
        .collect();
    // The timeline of the customer id (the key resolved), so that an erased customer's, whose
    // identities resolve to nobody, is still listed.
    let timeline: Vec<Value> = store
        .timeline(&rapport::CustomerKey::Id(view.id()), 0, usize::MAX)?
        .iter()
        .map(|(recorded, event)| {
            json!({
                "position": recorded.position.0,
                "type": event.event_type(),
                "at": rfc3339(recorded.data.occurred_at.0),
                "id": recorded.data.id.to_string(),
                "stream": recorded.stream,
                "event": event.to_json(),
            })
        })
        .collect();
    Ok(json!({
        "customer": profile.id.to_string(),
        "erased_at": profile.erased_at.map(|t| rfc3339(t.0)),
        "identities": identities,
        "merged_from": profile.merged_from.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "traits": traits,
        "first_seen": profile.first_seen.map(|t| rfc3339(t.0)),
        "last_seen": profile.last_seen.map(|t| rfc3339(t.0)),
        "tickets": tickets,
        "orders": orders_json(&view),
        "ratings": ratings,
        "timeline": timeline,
    }))
}

/// `rapport export customer KEY`.
pub(crate) fn run(args: &AccessArgs) -> Result<ExitCode, CliError> {
    // As `export jsonl`: the output is checked (never inside a store) and created first, and
    // renamed over the target only when the report is complete.
    let out = args.out.as_deref().map(OutputFile::create).transpose()?;
    let store = open_existing_store(&args.store.store)?;
    if !store.is_unlocked() {
        eprintln!("note: the store is locked (no master key or key store): personal values read [encrypted]");
    }
    let value = report(&store, args)?;
    let mut text = serde_json::to_vec_pretty(&value).map_err(|e| CliError::Invalid(e.to_string()))?;
    text.push(b'\n');
    match (out, &args.out) {
        (Some(mut out), Some(path)) => {
            out.writer().write_all(&text).map_err(CliError::io(format!("writing {}", path.display())))?;
            out.commit()?;
            eprintln!("access report of {} written to {}", value["customer"].as_str().unwrap_or("?"), path.display());
        }
        _ => std::io::stdout().lock().write_all(&text).map_err(CliError::io("writing to stdout"))?,
    }
    Ok(ExitCode::SUCCESS)
}
