//! Rapport: an embedded, event-sourced store of customer interactions. Every message, order,
//! rating and ticket change is an immutable event in one append-only log ([`rapport_log`]);
//! tickets (one per problem, whatever the channel) are a projection of it, kept current as the
//! log grows, and at open loaded from the newest snapshot with the tail of the log folded on
//! (or rebuilt from the whole log; docs/design/snapshots.md).
//!
//! It is not: a server, or a helpdesk UI. Limits are the log's (see `rapport_log`).
//!
//! # Quickstart
//! ```
//! use rapport::{Input, Meta, Store, StoreOptions};
//! use rapport::events::{Channel, CxEvent, Identity, MessageReceived, NormalizeOptions};
//!
//! let dir = tempfile::tempdir()?;
//! let store = Store::open(dir.path(), StoreOptions::default())?;
//! let kim = Identity::parse("email", "kim@example.com", &NormalizeOptions::default())?;
//! let message = |channel| Input::Event(CxEvent::MessageReceived(MessageReceived {
//!     channel, from: kim.clone(), ticket_id: None, topic: Some("order-7".into()),
//!     subject: None, body: Some("my order arrived broken".into()),
//! }));
//! // The same problem on two channels stays one ticket.
//! let first = store.submit(message(Channel::Email), Meta::now())?;
//! let second = store.submit(message(Channel::KakaoTalk), Meta::now())?;
//! assert_eq!(first.ticket_id, second.ticket_id);
//! let ticket = store.ticket(first.ticket_id.as_ref().unwrap())?.unwrap();
//! assert_eq!(ticket.channels(), &[Channel::Email, Channel::KakaoTalk]);
//! assert_eq!(ticket.customer_messages(), 2);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]
// Library code returns typed errors instead of panicking on input (clippy.toml allows these in tests).
#![warn(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod clv;
mod customers;
mod error;
mod feed;
mod format;
pub mod ids;
mod log_view;
mod organizations;
mod planner;
mod privacy;
mod projection;
mod routing;
mod snapshot;
mod store;
mod store_metrics;

pub use crate::clv::{CachedClvFit, ClvFit, ClvOptions, ClvPrediction, TimeUnit, CLV_CACHE_MAX, CLV_REFIT_CHANGE};
pub use crate::customers::{CustomerFlags, CustomerKey, CustomerView, Segment};
pub use crate::error::{Error, Result};
pub use crate::feed::{
    CheckpointStore, Feed, FeedItem, FileCheckpoints, RunOptions, RunReport, UserProjection, CHECKPOINT_SUFFIX,
    PROJECTIONS_DIR, PROJECTION_NAME_BYTES_MAX,
};
pub use crate::format::{is_system_type, STORE_CREATED_TYPE, STORE_FORMAT_VERSION, STORE_STREAM, SYSTEM_TYPE_PREFIX};
pub use crate::ids::{IdKey, Ids};
pub use crate::log_view::LogView;
pub use crate::organizations::{Organization, ORGANIZATION_TRAIT};
pub use crate::planner::{as_submitted, ADDRESSED_METADATA_KEY, INPUT_METADATA_KEY};
pub use crate::privacy::{Redactions, Retention, ENCRYPTED, ERASED, EXPIRED};
pub use crate::projection::{
    source_link_stream, source_stream, ticket_stream, CUSTOMER_STREAM_PREFIX, DEFINITIONS_STREAM,
    IDENTITY_STREAM_PREFIX, ORGANIZATION_STREAM_PREFIX, SOURCE_STREAM_PREFIX, TICKET_STREAM_PREFIX,
};
pub use crate::routing::{RoutingError, ROUTED_HISTORY_EVENTS_MAX, ROUTING_METADATA_KEY, ROUTING_REASONS};
pub use crate::snapshot::{
    LoadedSnapshot, SnapshotOptions, SnapshotRejection, SnapshotReport, SnapshotWritten, PROJECTION_VERSION,
    SNAPSHOTS_KEPT, SNAPSHOT_DIR, SNAPSHOT_FORMAT_VERSION, SNAPSHOT_SUFFIX,
};
pub use crate::store::{Input, Meta, Store, StoreOptions, Submitted, SHARED_SECRETS_NAME, SUBMIT_UNSYNCED_BYTES_MAX};
pub use crate::store_metrics::MetricsScope;
pub use crate::store_metrics::SurveyAnswer;

/// The customer-360 projection (re-exported).
#[doc(inline)]
pub use rapport_customer as customer;
/// The CX event vocabulary (re-exported).
#[doc(inline)]
pub use rapport_events as events;
/// The event log (re-exported).
#[doc(inline)]
pub use rapport_log as log;
/// CX metrics and CLV models (re-exported).
#[doc(inline)]
pub use rapport_metrics as metrics;
/// The ticket aggregate (re-exported).
#[doc(inline)]
pub use rapport_ticket as ticket;
/// The key store: master key, data keys, sealing (re-exported).
#[doc(inline)]
pub use rapport_vault as vault;
