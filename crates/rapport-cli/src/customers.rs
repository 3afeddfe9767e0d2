//! `rapport customer`, `rapport customers` and `rapport split`: the customer-360 view.

use std::io::{BufWriter, Write};
use std::process::ExitCode;

use rapport::events::Identity;
use rapport::log::Timestamp;
use rapport::{CustomerKey, Meta, Store};
use serde_json::Value;

use crate::util::{open_existing_store, parse_time, rfc3339, write_json_line, CliError};
use crate::StoreArg;
use rapport_server::json::{customer_document, customer_json, timeline_entry_json};

/// Arguments of `rapport customer`.
#[derive(Debug, clap::Args)]
pub(crate) struct CustomerArgs {
    /// `kind:value` (e.g. `email:kim@example.com`, `external:cdnow:00042`) or a customer id (`C12`).
    key: String,
    #[command(flatten)]
    store: StoreArg,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
    /// The profile as it was at this time (RFC 3339 or YYYY-MM-DD).
    #[arg(long)]
    as_of: Option<String>,
    /// Also list the customer's timeline (every event that touched them, in time order).
    #[arg(long)]
    timeline: bool,
    /// First timeline entry to print.
    #[arg(long, default_value_t = 0)]
    offset: usize,
    /// Timeline entries to print.
    #[arg(long, default_value_t = 50)]
    limit: usize,
    /// End of observation for RFM and CLV (YYYY-MM-DD); default: the latest customer event.
    #[arg(long)]
    observation_end: Option<String>,
    /// Skip the CLV prediction (its first use in a process fits the models on every customer).
    #[arg(long)]
    no_clv: bool,
}

/// Arguments of `rapport customers`.
#[derive(Debug, clap::Args)]
pub(crate) struct CustomersArgs {
    #[command(flatten)]
    store: StoreArg,
    /// One JSON object per line (the only output format; the flag is accepted for clarity).
    #[arg(long)]
    json: bool,
    /// End of observation for RFM (YYYY-MM-DD); default: the latest customer event.
    #[arg(long)]
    observation_end: Option<String>,
}

/// Arguments of `rapport split`.
#[derive(Debug, clap::Args)]
pub(crate) struct SplitArgs {
    /// The customer to split (`C12`, or one of their identities).
    customer: String,
    /// The identities (`kind:value`) that move to a new customer.
    #[arg(required = true)]
    identities: Vec<String>,
    #[command(flatten)]
    store: StoreArg,
}

fn observation_end(text: &Option<String>) -> Result<Option<Timestamp>, CliError> {
    text.as_deref().map(parse_time).transpose()
}

pub(crate) fn parse_key(store: &Store, text: &str) -> Result<CustomerKey, CliError> {
    CustomerKey::parse(text, &store.options().normalize).map_err(|e| CliError::Invalid(format!("{text:?}: {e}")))
}

pub(crate) fn run_customer(args: &CustomerArgs) -> Result<ExitCode, CliError> {
    let store = open_existing_store(&args.store.store)?;
    let key = parse_key(&store, &args.key)?;
    let end = observation_end(&args.observation_end)?;
    let view = match &args.as_of {
        Some(text) => store.customer_as_of(&key, parse_time(text)?)?,
        None => store.customer(&key, end)?,
    };
    let Some(view) = view else {
        return Err(CliError::NotFound(format!("no customer {} in {}", args.key, args.store.store.display())));
    };
    // `--as-of` shows the profile as it was: no CLV, no answers (they are today's).
    let current = args.as_of.is_none();
    let mut value = customer_document(&store, &view, current && !args.no_clv, end, current)?;
    let timeline = if args.timeline { store.timeline(&key, args.offset, args.limit)? } else { Vec::new() };
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    if args.json {
        if args.timeline {
            value["timeline"] =
                Value::Array(timeline.iter().map(|(recorded, event)| timeline_entry_json(recorded, event)).collect());
        }
        write_json_line(&mut out, &value)?;
    } else {
        print_customer(&mut out, &value)?;
        if args.timeline {
            let w = |out: &mut BufWriter<_>, text: String| {
                writeln!(out, "{text}").map_err(CliError::io("writing to stdout"))
            };
            w(&mut out, format!("  timeline (from {}, {} entries):", args.offset, timeline.len()))?;
            for (recorded, event) in &timeline {
                w(
                    &mut out,
                    format!(
                        "    {}  {:<24} {:<28} {}",
                        rfc3339(recorded.data.occurred_at.0),
                        event.event_type(),
                        recorded.stream,
                        event.to_json()
                    ),
                )?;
            }
        }
    }
    out.flush().map_err(CliError::io("writing to stdout"))?;
    Ok(ExitCode::SUCCESS)
}

/// Prints the text form of a customer's JSON object.
pub(crate) fn print_customer(out: &mut impl Write, value: &Value) -> Result<(), CliError> {
    let text = |v: &Value| match v {
        Value::String(s) => s.clone(),
        Value::Null => "-".to_owned(),
        other => other.to_string(),
    };
    let list = |v: &Value| v.as_array().map(|a| a.iter().map(text).collect::<Vec<_>>().join(", ")).unwrap_or_default();
    let mut lines = vec![format!("customer {}", text(&value["customer_id"]))];
    if !value["erased_at"].is_null() {
        lines.push(format!("  erased         {} (personal data erased)", text(&value["erased_at"])));
    }
    lines.extend([
        format!("  identities     {}", list(&value["identities"])),
        format!("  first/last     {} .. {}", text(&value["first_seen"]), text(&value["last_seen"])),
    ]);
    if value["merged_from"].as_array().is_some_and(|a| !a.is_empty()) {
        lines.push(format!("  merged from    {}", list(&value["merged_from"])));
    }
    if let Some(channels) = value["channels"].as_object() {
        let parts: Vec<String> = channels.iter().map(|(c, n)| format!("{c} ×{n}")).collect();
        lines.push(format!("  channels       {}", parts.join(", ")));
    }
    let tickets = &value["tickets"];
    lines.push(format!(
        "  tickets        {} open of {}: {}",
        text(&tickets["open"]),
        text(&tickets["total"]),
        list(&tickets["ids"])
    ));
    let orders = &value["orders"];
    lines.push(format!("  orders         {}", text(&orders["count"])));
    for totals in orders["totals"].as_array().into_iter().flatten() {
        lines.push(format!(
            "    {}          {} orders ({} cancelled, {} fully refunded)  gross {}  net {}",
            text(&totals["currency"]),
            text(&totals["count"]),
            text(&totals["cancelled"]),
            text(&totals["fully_refunded"]),
            text(&totals["gross"]),
            text(&totals["net"])
        ));
    }
    let rfm = &value["rfm"];
    if !rfm.is_null() {
        lines.push(format!(
            "  RFM            frequency {}  recency {} d  age {} d  monetary {:.2} {} (net; {} purchases in other currencies left out, {} converted)",
            text(&rfm["frequency"]),
            text(&rfm["recency_days"]),
            text(&rfm["t_days"]),
            rfm["monetary"].as_f64().unwrap_or(0.0),
            text(&value["reporting_currency"]),
            text(&value["rfm_purchases_excluded"]),
            text(&value["rfm_purchases_converted"])
        ));
    }
    let ratings = &value["ratings"];
    lines.push(format!(
        "  satisfaction   CSAT {}  NPS {}  CES {}",
        text(&ratings["csat"]["score"]),
        text(&ratings["nps"]["score"]),
        text(&ratings["ces"]["score"])
    ));
    for answer in ratings["answers"].as_array().into_iter().flatten() {
        if answer["comment"].is_string() || answer["reason"].is_string() {
            lines.push(format!(
                "    {} {} {}{}: {}",
                text(&answer["at"]),
                text(&answer["survey"]),
                text(&answer["score"]),
                answer["reason"].as_str().map(|r| format!(" ({r})")).unwrap_or_default(),
                answer["comment"].as_str().unwrap_or("-")
            ));
        }
    }
    let flags = &value["flags"];
    let set: Vec<&str> = ["repeat_inquiry", "open_urgent", "merge_conflict"]
        .into_iter()
        .filter(|f| flags[*f].as_bool() == Some(true))
        .collect();
    lines.push(format!("  flags          {}", if set.is_empty() { "-".to_owned() } else { set.join(", ") }));
    let clv = &value["clv"];
    if clv["clv"].is_number() {
        lines.push(format!(
            "  predicted      CLV {:.2} over 12 months; P(alive) {:.2}; {:.2} purchases in 52 weeks at {:.2} each",
            clv["clv"].as_f64().unwrap_or(0.0),
            clv["p_alive"].as_f64().unwrap_or(0.0),
            clv["expected_purchases"].as_f64().unwrap_or(0.0),
            clv["expected_average_spend"].as_f64().unwrap_or(0.0)
        ));
    } else if let Some(reason) = clv["error"].as_str() {
        lines.push(format!("  predicted      no CLV: {reason}"));
    }
    for line in lines {
        writeln!(out, "{line}").map_err(CliError::io("writing to stdout"))?;
    }
    Ok(())
}

/// Customers `rapport customers` builds and writes at a time.
const CUSTOMERS_PAGE: usize = 1024;

pub(crate) fn run_customers(args: &CustomersArgs) -> Result<ExitCode, CliError> {
    let store = open_existing_store(&args.store.store)?;
    let end = observation_end(&args.observation_end)?;
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    // A page at a time: memory stays bounded by the page, whatever the number of customers.
    for page in store.customer_ids()?.chunks(CUSTOMERS_PAGE) {
        for view in store.customers_of(page, end)? {
            write_json_line(&mut out, &customer_json(&view))?;
        }
    }
    out.flush().map_err(CliError::io("writing to stdout"))?;
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn run_split(args: &SplitArgs) -> Result<ExitCode, CliError> {
    let store = crate::util::open_existing_store_for_writing(&args.store.store, crate::util::store_options()?)?;
    let key = parse_key(&store, &args.customer)?;
    let Some(customer) = store.customer_id(&key)? else {
        return Err(CliError::NotFound(format!("no customer {} in {}", args.customer, args.store.store.display())));
    };
    let identities = args
        .identities
        .iter()
        .map(|text| {
            Identity::parse_pair(text, &store.options().normalize)
                .map_err(|e| CliError::Invalid(format!("{text:?}: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let new_customer = store.split(customer, identities, Meta::now())?;
    println!("split {customer}: {} moved to {new_customer}", args.identities.join(", "));
    Ok(ExitCode::SUCCESS)
}
