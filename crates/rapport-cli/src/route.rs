//! `rapport route move|split|unmerge`: undo a wrong routing (docs/design/routing.md).

use std::process::ExitCode;

use rapport::events::{CxEvent, MessageMoved, NewTicket, TicketId, TicketSplit, TicketUnmerged};
use rapport::{Input, Meta};

use crate::util::CliError;
use crate::StoreArg;

/// `rapport route`: move messages between tickets, split a ticket, reverse a merge.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum RouteCommand {
    /// Move one customer message (and the replies listed) to another ticket, or to a new one.
    Move(MoveArgs),
    /// Move messages (customer messages and replies) of a ticket to a new ticket.
    Split(SplitArgs),
    /// Reverse `ticket.merged {source, target}`: the source reopens with the messages it had.
    Unmerge(UnmergeArgs),
}

/// Arguments of `rapport route move`.
#[derive(Debug, clap::Args)]
pub(crate) struct MoveArgs {
    /// The id of the message's input (the JSONL `id`) or its 32-hex event id.
    message_id: String,
    /// An existing ticket to move it to.
    #[arg(long, conflicts_with = "to_new", required_unless_present = "to_new")]
    to: Option<String>,
    /// A ticket to create for it.
    #[arg(long)]
    to_new: Option<String>,
    /// The subject of the ticket created (`--to-new`; default: the subject of the ticket it leaves).
    #[arg(long, requires = "to_new")]
    subject: Option<String>,
    /// A reply (`message.sent` input id) that moves with it; repeat for several.
    #[arg(long = "reply")]
    replies: Vec<String>,
    #[command(flatten)]
    store: StoreArg,
}

/// Arguments of `rapport route split`.
#[derive(Debug, clap::Args)]
pub(crate) struct SplitArgs {
    /// The ticket to split.
    ticket: String,
    /// Ids of the messages that move, comma-separated.
    #[arg(long, value_delimiter = ',', required = true)]
    messages: Vec<String>,
    /// The new ticket's id.
    #[arg(long)]
    new_ticket: String,
    #[command(flatten)]
    store: StoreArg,
}

/// Arguments of `rapport route unmerge`.
#[derive(Debug, clap::Args)]
pub(crate) struct UnmergeArgs {
    /// The ticket that was merged away.
    source: String,
    /// The ticket it was merged into.
    target: String,
    #[command(flatten)]
    store: StoreArg,
}

fn ticket_id(text: &str) -> Result<TicketId, CliError> {
    TicketId::new(text).map_err(|e| CliError::Invalid(format!("ticket id {text:?}: {e}")))
}

/// Runs a `rapport route` command: one correction submitted now.
pub(crate) fn run(command: &RouteCommand) -> Result<ExitCode, CliError> {
    let (dir, event, what) = match command {
        RouteCommand::Move(args) => {
            let to_new = match &args.to_new {
                Some(new) => Some(NewTicket { ticket_id: ticket_id(new)?, subject: args.subject.clone() }),
                None => None,
            };
            let event = CxEvent::MessageMoved(MessageMoved {
                message_id: args.message_id.clone(),
                from: None,
                to: args.to.as_deref().map(ticket_id).transpose()?,
                to_new,
                replies: args.replies.clone(),
            });
            (&args.store.store, event, format!("moved message {}", args.message_id))
        }
        RouteCommand::Split(args) => {
            let event = CxEvent::TicketSplit(TicketSplit {
                ticket_id: ticket_id(&args.ticket)?,
                messages: args.messages.clone(),
                new_ticket_id: ticket_id(&args.new_ticket)?,
            });
            (&args.store.store, event, format!("split {}: {} moved", args.ticket, args.messages.join(", ")))
        }
        RouteCommand::Unmerge(args) => {
            let event = CxEvent::TicketUnmerged(TicketUnmerged {
                source: ticket_id(&args.source)?,
                target: ticket_id(&args.target)?,
            });
            (&args.store.store, event, format!("unmerged {} from {}", args.source, args.target))
        }
    };
    let store = crate::util::open_existing_store_for_writing(dir, crate::util::store_options()?)?;
    let submitted = store.submit(Input::Event(event), Meta::now())?;
    let destination = submitted.ticket_id.map(|t| t.to_string()).unwrap_or_default();
    println!("{what} to {destination}");
    Ok(ExitCode::SUCCESS)
}
