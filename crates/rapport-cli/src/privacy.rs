//! `rapport keygen`, `rapport erase` and `rapport expire`: the master key, erasure (GDPR art.
//! 17) and retention periods (docs/design/privacy.md).

use std::path::PathBuf;
use std::process::ExitCode;

use rapport::events::CxEvent;
use serde_json::json;

use crate::util::{open_existing_store_for_writing, parse_retention, parse_time, store_options, CliError};
use crate::StoreArg;

/// Arguments of `rapport keygen`.
#[derive(Debug, clap::Args)]
pub(crate) struct KeygenArgs {
    /// The new master key file (must not exist).
    file: PathBuf,
}

/// Arguments of `rapport erase`.
#[derive(Debug, clap::Args)]
pub(crate) struct EraseArgs {
    /// The customer: an id (`C12`) or one of their identities (`kind:value`).
    key: String,
    #[command(flatten)]
    store: StoreArg,
    /// Why (a label such as `gdpr-art17` or a request number; recorded, so not personal data).
    #[arg(long, default_value = "erasure-request")]
    reason: String,
}

/// The `--retain CLASS=MONTHS` flags of `rapport expire` and `rapport import`.
#[derive(Debug, Clone, Default, clap::Args)]
pub(crate) struct RetainArgs {
    /// Keep personal values of CLASS (identity, message, comment, trait) for MONTHS whole months
    /// after the month they were recorded in (repeatable; default: forever). A writable open
    /// destroys the keys of every month past its period.
    #[arg(long = "retain", value_name = "CLASS=MONTHS")]
    pub(crate) retain: Vec<String>,
}

/// Arguments of `rapport expire`.
#[derive(Debug, clap::Args)]
pub(crate) struct ExpireArgs {
    #[command(flatten)]
    store: StoreArg,
    #[command(flatten)]
    retain: RetainArgs,
    /// Apply the periods as of this time (RFC 3339 or YYYY-MM-DD); default: now.
    #[arg(long)]
    now: Option<String>,
}

/// `rapport keygen FILE`.
pub(crate) fn run_keygen(args: &KeygenArgs) -> Result<ExitCode, CliError> {
    rapport::vault::MasterKey::write_new(&args.file).map_err(|error| match error {
        rapport::vault::Error::MasterKeyExists { .. } => CliError::Refused(error.to_string()),
        other => CliError::Store(rapport::Error::Vault(other)),
    })?;
    println!("{}", args.file.display());
    eprintln!(
        "warning: keep {} safe and backed up apart from the store: losing it makes the personal data of every store created with it unreadable",
        args.file.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// `rapport erase KEY`.
pub(crate) fn run_erase(args: &EraseArgs) -> Result<ExitCode, CliError> {
    let store = open_existing_store_for_writing(&args.store.store, store_options()?)?;
    let key = crate::customers::parse_key(&store, &args.key)?;
    let Some(customer) = store.customer_id(&key)? else {
        return Err(CliError::NotFound(format!("no customer {} in {}", args.key, args.store.store.display())));
    };
    let submitted = store.erase(customer, &args.reason).map_err(|error| match error {
        rapport::Error::AlreadyErased(id) => {
            CliError::Refused(format!("customer {id} was erased already: there is nothing left to erase"))
        }
        rapport::Error::UnknownCustomer(_) => {
            CliError::NotFound(format!("no customer {} in {}", args.key, args.store.store.display()))
        }
        other => CliError::Store(other),
    })?;
    let position =
        submitted.last_position.ok_or_else(|| CliError::Refused(format!("erasing {customer} recorded no event")))?;
    let recorded = store
        .log()
        .read_event(position)?
        .ok_or_else(|| CliError::Refused(format!("the erasure record at position {} is missing", position.0)))?;
    let data = &recorded.data;
    let keys = match rapport::events::codec::decode(&data.event_type, data.schema_version, &data.payload)
        .map_err(|source| rapport::Error::Decode { position, source })?
    {
        CxEvent::CustomerErased(erased) => erased.keys.len(),
        _ => return Err(CliError::Refused(format!("the event at position {} is not an erasure", position.0))),
    };
    let erased = submitted.customer_id.unwrap_or(customer);
    println!("{}", json!({"customer": erased.to_string(), "keys_destroyed": keys, "position": position.0}));
    Ok(ExitCode::SUCCESS)
}

/// `rapport expire`.
pub(crate) fn run_expire(args: &ExpireArgs) -> Result<ExitCode, CliError> {
    let retention = parse_retention(&args.retain.retain)?;
    if retention == rapport::Retention::default() {
        return Err(CliError::Invalid("expire needs at least one --retain CLASS=MONTHS".into()));
    }
    let now = match &args.now {
        Some(text) => parse_time(text)?,
        None => rapport::log::Timestamp::now(),
    };
    // Opened without retention (an open would apply the periods at the real time and not
    // count them), then the periods are applied at `now`: the count is all they destroy.
    let store = open_existing_store_for_writing(&args.store.store, store_options()?)?;
    let destroyed = store.enforce_retention_of(&retention, now)?;
    println!("{destroyed} bucket keys destroyed");
    Ok(ExitCode::SUCCESS)
}
