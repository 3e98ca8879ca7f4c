//! The load-balancing API of the grpc-rust stack.
//!
//! A channel runs one [`LbPolicy`]. The policy receives the resolver's addresses, asks the
//! channel for [`Subchannel`]s (one connection each, with reconnection and backoff handled
//! by the channel), watches their [`ConnectivityState`], and publishes a [`Picker`] with the
//! channel's aggregate state. Every call asks the current picker where to go; the channel
//! swaps pickers atomically, so picking takes no lock.
//!
//! ```text
//!  resolver ──ResolverState──▶ LbPolicy ──new_subchannel──▶ channel (connections)
//!                                 ▲  │                          │
//!            subchannel_update ───┘  └──update_picker──▶ Picker ◀── every call
//! ```
//!
//! This crate holds only the traits and types; a policy crate depends on it alone. The
//! built-in policies are in `grpc-balancer`; the channel is `grpc-client`'s.
//!
//! # Writing a policy
//!
//! ```
//! use std::sync::Arc;
//! use grpc_balancer_api::*;
//! use grpc_resolver_api::ResolverState;
//!
//! /// Sends every call to the first address.
//! struct First(Option<Subchannel>);
//!
//! struct FirstPicker(Subchannel);
//! impl Picker for FirstPicker {
//!     fn pick(&self, _: &PickInfo<'_>) -> PickResult {
//!         PickResult::Pick(Pick::new(self.0.clone()))
//!     }
//! }
//!
//! impl LbPolicy for First {
//!     fn resolver_update(&mut self, state: &ResolverState, _: Option<&LbConfig>,
//!                        channel: &mut dyn ChannelController) -> Result<(), Status> {
//!         let address = state.addresses.first().ok_or_else(|| Status::unavailable("no addresses"))?;
//!         let subchannel = channel.new_subchannel(address);
//!         subchannel.connect();
//!         channel.update_picker(ConnectivityState::Connecting, Arc::new(QueuePicker));
//!         self.0 = Some(subchannel);
//!         Ok(())
//!     }
//!     fn resolver_error(&mut self, error: &Status, channel: &mut dyn ChannelController) {
//!         if self.0.is_none() {
//!             channel.update_picker(ConnectivityState::TransientFailure, Arc::new(FailPicker(error.clone())));
//!         }
//!     }
//!     fn subchannel_update(&mut self, subchannel: &Subchannel, state: &SubchannelState,
//!                          channel: &mut dyn ChannelController) {
//!         match state.state {
//!             ConnectivityState::Ready => channel.update_picker(
//!                 ConnectivityState::Ready, Arc::new(FirstPicker(subchannel.clone()))),
//!             ConnectivityState::Idle => subchannel.connect(),
//!             other => channel.update_picker(other, Arc::new(QueuePicker)),
//!         }
//!     }
//!     fn exit_idle(&mut self, _: &mut dyn ChannelController) {
//!         if let Some(subchannel) = &self.0 { subchannel.connect(); }
//!     }
//! }
//! ```

mod picker;
mod policy;
pub mod registry;
mod state;
mod subchannel;

pub use picker::{
    CallOutcome, FailPicker, OnComplete, Pick, PickInfo, PickResult, Picker, QueuePicker,
    RequestHash, SharedPicker,
};
pub use policy::{
    ChannelController, LbConfig, LbPolicy, LbPolicyBuilder, LbPolicyOptions, WorkScheduler,
};
pub use registry::LbPolicyRegistry;
pub use state::{ConnectivityState, SubchannelState};
pub use subchannel::{Subchannel, SubchannelHandle};

/// Re-exported so a policy crate needs no direct dependency on grpc-core.
pub use grpc_core::{Extensions, Metadata, Status};
/// Re-exported: the resolver types a policy sees.
pub use grpc_resolver_api::{Addr, Address, Attributes, ResolverState};
/// Re-exported: [`LbPolicyBuilder::parse_config`] takes a `serde_json::Value`, so a policy
/// crate needs no direct dependency on serde_json.
pub use serde_json;
