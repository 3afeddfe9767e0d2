//! The customer-360 projection: identity resolution (which events belong to which person, when
//! people merge, how a wrong merge is undone), one profile per person (identities, traits,
//! channels, tickets, orders, ratings, conflicts) and RFM.
//!
//! It is not: storage or batching (that is `rapport`); it folds the events it is given and
//! reads older ones only through a callback when a split needs a rebuild.
#![deny(missing_docs)]
// Library code returns typed errors instead of panicking on input (clippy.toml allows these in tests).
#![warn(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod profile;
mod projection;
pub mod resolution;

pub use crate::profile::{
    day_of, rfm, CurrencyCode, CurrencyOrders, CurrencyTotals, MergeConflict, OrderLine, Orders, Profile, PurchaseDays,
    Rating, Rfm, TraitValue, Traits, CUSTOM_EVENT_NAMES_MAX,
};
pub use crate::projection::{CustomerProjection, CustomerTotals, ReadAt, Touch};
pub use crate::resolution::{
    apply, decide, Decision, FastMap, IdentitiesOf, Overlay, ResolutionOptions, Resolver, ResolverMut, ResolverView,
};
