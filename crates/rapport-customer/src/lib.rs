//! The customer-360 projection: identity resolution (which events belong to which person),
//! and the resolution state the store's planner decides on.
//!
//! It is not: storage or the store's batching (that is `rapport`).
#![deny(missing_docs)]

pub mod resolution;

pub use crate::resolution::{apply, decide, Decision, Overlay, ResolutionOptions, Resolver, ResolverMut, ResolverView};
