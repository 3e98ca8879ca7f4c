//! The name-resolver API of the grpc-rust stack.
//!
//! A channel's target names a service (`dns:///api.example.com:443`); a resolver turns it
//! into [`Address`]es and, optionally, a service config, and keeps them current. This crate
//! holds only the types and traits that join the two sides, so a resolver crate depends on
//! it alone, not on the client:
//!
//! | type | role |
//! |---|---|
//! | [`Target`] | the parsed target URI (`scheme:[//authority/]endpoint`) |
//! | [`Address`], [`Addr`], [`Attributes`] | one backend, and facts about it for the balancer |
//! | [`ResolverState`], [`ResolverUpdate`] | what a resolver reports |
//! | [`ResolverUpdater`] | where it reports it (the channel's side) |
//! | [`ResolverBuilder`], [`Resolver`] | the traits a resolver implements |
//! | [`ResolverRegistry`], [`registry::register`] | builders by scheme, per channel or process-wide |
//!
//! The implementations (`dns`, `passthrough`, `unix`, `unix-abstract`, `manual`) live in
//! `grpc-resolver`; a channel is `grpc-client`'s.

mod address;
mod attributes;
pub mod registry;
mod resolver;
mod target;

pub use address::{Addr, Address, split_host_port};
pub use attributes::Attributes;
pub use registry::ResolverRegistry;
pub use resolver::{
    Resolver, ResolverBuilder, ResolverOptions, ResolverState, ResolverUpdate, ResolverUpdater,
};
pub use target::Target;

/// Re-exported so a resolver crate needs no direct dependency on grpc-core.
pub use grpc_core::Status;
