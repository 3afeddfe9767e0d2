//! `rapport clv fit` and `rapport clv predict`: BG/NBD and Gamma-Gamma on the store's customers.

use std::io::{BufWriter, Write};
use std::process::ExitCode;

use rapport::{ClvFit, ClvOptions, TimeUnit};
use serde_json::json;

use crate::customers::parse_key;
use crate::util::{open_existing_store, parse_time, write_json_line, CliError};
use crate::StoreArg;

/// CLV commands.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum ClvCommand {
    /// Fit BG/NBD (purchases) and Gamma-Gamma (spend) by maximum likelihood.
    Fit(FitArgs),
    /// Fit, then predict P(alive), expected purchases and CLV per customer.
    Predict(PredictArgs),
}

/// The calibration of a fit.
#[derive(Debug, clap::Args)]
pub(crate) struct Calibration {
    #[command(flatten)]
    store: StoreArg,
    /// Last day of the calibration period (YYYY-MM-DD, inclusive).
    #[arg(long)]
    calibration_end: String,
    /// Time unit of the models.
    #[arg(long, default_value = "weeks")]
    unit: String,
}

/// Arguments of `rapport clv fit`.
#[derive(Debug, clap::Args)]
pub(crate) struct FitArgs {
    #[command(flatten)]
    calibration: Calibration,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

/// Arguments of `rapport clv predict`.
#[derive(Debug, clap::Args)]
pub(crate) struct PredictArgs {
    #[command(flatten)]
    calibration: Calibration,
    /// Horizon of the expected purchases, in the model's time unit.
    #[arg(long, default_value_t = 52.0)]
    purchases_horizon: f64,
    /// CLV horizon in months (30 days).
    #[arg(long, default_value_t = 12)]
    horizon_months: u32,
    /// Monthly discount rate (0.01 = 1 %).
    #[arg(long, default_value_t = 0.01)]
    discount: f64,
    /// Only the N customers with the highest CLV.
    #[arg(long)]
    top: Option<usize>,
    /// Only this customer (`C12` or `kind:value`).
    #[arg(long)]
    customer: Option<String>,
    /// One JSON object per line instead of a table.
    #[arg(long)]
    json: bool,
}

/// The store and its fit at the calibration end: fitted now (`clv fit`, `refit`) or taken from
/// the store's cache (`clv predict`; fitted once if the cache has none).
fn fit(calibration: &Calibration, refit: bool) -> Result<(crate::util::ReadStore, ClvFit), CliError> {
    let store = open_existing_store(&calibration.store.store)?;
    let unit: TimeUnit = calibration.unit.parse()?;
    let end = parse_time(&calibration.calibration_end)?;
    let fit = if refit { store.fit_clv(end, unit)? } else { store.clv_fit(end, unit)? };
    Ok((store, fit))
}

pub(crate) fn run(command: &ClvCommand) -> Result<ExitCode, CliError> {
    match command {
        ClvCommand::Fit(args) => run_fit(args),
        ClvCommand::Predict(args) => run_predict(args),
    }
}

fn run_fit(args: &FitArgs) -> Result<ExitCode, CliError> {
    let started = std::time::Instant::now();
    let (_, fit) = fit(&args.calibration, true)?;
    let seconds = started.elapsed().as_secs_f64();
    let (b, g) = (&fit.bgnbd, &fit.gamma_gamma);
    if args.json {
        let value = json!({
            "r": b.r, "alpha": b.alpha, "a": b.a, "b": b.b, "log_likelihood": b.log_likelihood,
            "customers": b.customers, "unit": fit.unit.as_str(),
            "gamma_gamma": {"p": g.p, "q": g.q, "v": g.v, "log_likelihood": g.log_likelihood, "customers": g.customers},
            "seconds": seconds,
        });
        write_json_line(&mut std::io::stdout().lock(), &value)?;
    } else {
        println!(
            "BG/NBD on {} customers ({}): r = {:.4}, alpha = {:.4}, a = {:.4}, b = {:.4}; log-likelihood {:.2}",
            b.customers,
            fit.unit.as_str(),
            b.r,
            b.alpha,
            b.a,
            b.b,
            b.log_likelihood
        );
        println!(
            "Gamma-Gamma on {} repeat customers: p = {:.4}, q = {:.4}, v = {:.4}; log-likelihood {:.2}",
            g.customers, g.p, g.q, g.v, g.log_likelihood
        );
        println!("fitted in {seconds:.3} s");
    }
    Ok(ExitCode::SUCCESS)
}

fn run_predict(args: &PredictArgs) -> Result<ExitCode, CliError> {
    let (store, fit) = fit(&args.calibration, false)?;
    let options = ClvOptions {
        purchases_horizon: args.purchases_horizon,
        horizon_months: args.horizon_months,
        monthly_discount_rate: args.discount,
    };
    let mut predictions = match &args.customer {
        Some(text) => {
            let key = parse_key(&store, text)?;
            let Some(customer) = store.customer_id(&key)? else {
                return Err(CliError::NotFound(format!("no customer {text}")));
            };
            store.predict_customer_clv(&fit, &options, customer)?.into_iter().collect()
        }
        None => store.predict_clv(&fit, &options)?,
    };
    if let Some(n) = args.top {
        predictions.sort_by(|a, b| b.clv.total_cmp(&a.clv).then(a.customer.cmp(&b.customer)));
        predictions.truncate(n);
    }
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    if args.json {
        for p in &predictions {
            let value = json!({
                "customer_id": p.customer.to_string(),
                "frequency": p.history.frequency, "recency": p.history.recency, "t": p.history.t,
                "monetary": p.history.monetary,
                "p_alive": p.p_alive, "expected_purchases": p.expected_purchases,
                "expected_average_spend": p.expected_average_spend, "clv": p.clv,
            });
            write_json_line(&mut out, &value)?;
        }
    } else {
        let unit = fit.unit.as_str();
        writeln!(
            out,
            "{:<10} {:>5} {:>9} {:>9} {:>9} {:>8} {:>10} {:>10} {:>10}",
            "customer",
            "x",
            format!("t_x {unit}"),
            format!("T {unit}"),
            "m",
            "P(alive)",
            "E[purch]",
            "E[spend]",
            "CLV"
        )
        .map_err(CliError::io("writing to stdout"))?;
        for p in &predictions {
            writeln!(
                out,
                "{:<10} {:>5} {:>9.1} {:>9.1} {:>9.2} {:>8.3} {:>10.3} {:>10.2} {:>10.2}",
                p.customer.to_string(),
                p.history.frequency,
                p.history.recency,
                p.history.t,
                p.history.monetary,
                p.p_alive,
                p.expected_purchases,
                p.expected_average_spend,
                p.clv
            )
            .map_err(CliError::io("writing to stdout"))?;
        }
    }
    out.flush().map_err(CliError::io("writing to stdout"))?;
    Ok(ExitCode::SUCCESS)
}
