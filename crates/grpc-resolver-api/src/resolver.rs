//! The resolver traits: [`ResolverBuilder`] makes a [`Resolver`] for a [`Target`]; the
//! resolver reports [`ResolverState`] through a [`ResolverUpdater`].

use std::fmt;
use std::sync::Arc;

use grpc_core::Status;

use crate::{Address, Attributes, Target};

/// What a resolver knows about a target: its addresses, and perhaps a service config.
#[derive(Clone, Debug, Default)]
pub struct ResolverState {
    /// The backends, in the resolver's order (pick_first tries them in this order).
    pub addresses: Vec<Address>,
    /// The service config the resolver found, as JSON text: `None` when it has none (the
    /// channel uses its default config), `Some(Err(why))` when it found one it could not
    /// read (the channel keeps the config it had).
    pub service_config: Option<Result<String, String>>,
    /// Facts about the whole update, for the balancer.
    pub attributes: Attributes,
}

impl ResolverState {
    /// A state with these addresses and nothing else.
    pub fn from_addresses(addresses: impl IntoIterator<Item = Address>) -> ResolverState {
        ResolverState {
            addresses: addresses.into_iter().collect(),
            ..ResolverState::default()
        }
    }
}

/// One report from a resolver.
#[derive(Clone, Debug)]
pub enum ResolverUpdate {
    /// A new state, replacing the previous one.
    State(ResolverState),
    /// Resolution failed (UNAVAILABLE, usually). The channel keeps using the previous state
    /// if it had one; otherwise calls fail with this error (unless they wait for ready).
    Error(Status),
}

/// The channel's side of a resolver: where it sends its updates. Cheap to clone; safe to
/// use from any task or thread. Updates are queued and applied in order, one at a time.
#[derive(Clone)]
pub struct ResolverUpdater {
    send: Arc<dyn Fn(ResolverUpdate) -> bool + Send + Sync>,
}

impl ResolverUpdater {
    /// An updater that hands each update to `send`, which returns `false` once the channel
    /// is gone. Channels make these; tests can too.
    pub fn new(send: impl Fn(ResolverUpdate) -> bool + Send + Sync + 'static) -> ResolverUpdater {
        ResolverUpdater {
            send: Arc::new(send),
        }
    }

    /// Reports a new state. Returns `false` when the channel is gone: the resolver should
    /// stop.
    pub fn update_state(&self, state: ResolverState) -> bool {
        (self.send)(ResolverUpdate::State(state))
    }

    /// Reports a failed resolution. Returns `false` when the channel is gone.
    pub fn report_error(&self, error: Status) -> bool {
        (self.send)(ResolverUpdate::Error(error))
    }
}

impl fmt::Debug for ResolverUpdater {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResolverUpdater").finish_non_exhaustive()
    }
}

/// What a [`ResolverBuilder`] gets besides the target.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ResolverOptions {
    /// Where to send updates.
    pub updater: ResolverUpdater,
    /// Whether the channel wants service configs from the resolver (the user may have
    /// turned them off). A resolver that fetches configs should skip the work when `false`.
    pub service_config_enabled: bool,
}

impl ResolverOptions {
    /// Options with service configs enabled.
    pub fn new(updater: ResolverUpdater) -> ResolverOptions {
        ResolverOptions {
            updater,
            service_config_enabled: true,
        }
    }
}

/// A running resolver for one target. It reports through the [`ResolverUpdater`] it was
/// built with, from its own task if it needs one. Dropping it stops it.
pub trait Resolver: Send + 'static {
    /// A hint to resolve again soon (the balancer lost a connection or found all backends
    /// failing). Resolvers may rate-limit this; static ones ignore it.
    fn resolve_now(&mut self);
}

/// Makes [`Resolver`]s for one URI scheme. Registered with a channel or in the
/// [`registry`](crate::registry); looked up by the target's scheme.
///
/// `build` runs inside the channel's tokio runtime, so a resolver may spawn tasks.
///
/// ```
/// use grpc_resolver_api::{
///     Address, Resolver, ResolverBuilder, ResolverOptions, ResolverState, Target,
/// };
/// use grpc_core::Status;
///
/// /// `fixed:` always resolves to one address.
/// struct Fixed;
/// struct FixedResolver;
///
/// impl Resolver for FixedResolver {
///     fn resolve_now(&mut self) {}
/// }
///
/// impl ResolverBuilder for Fixed {
///     fn scheme(&self) -> &str {
///         "fixed"
///     }
///     fn build(&self, _target: &Target, options: ResolverOptions) -> Result<Box<dyn Resolver>, Status> {
///         let address = Address::from("127.0.0.1:50051".parse::<std::net::SocketAddr>().unwrap());
///         options.updater.update_state(ResolverState::from_addresses([address]));
///         Ok(Box::new(FixedResolver))
///     }
/// }
/// ```
pub trait ResolverBuilder: Send + Sync + 'static {
    /// The URI scheme this builder handles (lowercase).
    fn scheme(&self) -> &str;

    /// Starts resolving `target`. Errors (an endpoint this scheme cannot read) fail the
    /// channel's calls with the returned status.
    fn build(&self, target: &Target, options: ResolverOptions)
    -> Result<Box<dyn Resolver>, Status>;

    /// The `:authority` calls on this target carry, unless the user sets one: by default
    /// the endpoint (`example.com:443` for `dns:///example.com:443`).
    fn default_authority(&self, target: &Target) -> String {
        target.endpoint().to_owned()
    }
}
