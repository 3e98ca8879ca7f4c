//! [`LbPolicy`] and what it talks to: [`ChannelController`], [`WorkScheduler`],
//! [`LbPolicyBuilder`], [`LbConfig`].

use std::any::Any;
use std::fmt;
use std::sync::Arc;

use grpc_core::Status;
use grpc_resolver_api::{Address, ResolverState};

use crate::{ConnectivityState, Picker, Subchannel, SubchannelState};

/// The channel, as a policy sees it during a callback.
pub trait ChannelController {
    /// A new subchannel for `address`, IDLE until [`Subchannel::connect`]. A channel may
    /// hand back a subchannel sharing its connection with another policy's for the same
    /// address.
    fn new_subchannel(&mut self, address: &Address) -> Subchannel;

    /// Publishes the channel's aggregate state and the picker for new calls. Queued calls
    /// are picked again with it.
    fn update_picker(&mut self, state: ConnectivityState, picker: Arc<dyn Picker>);

    /// Asks the resolver to resolve again (a connection was lost, every backend fails).
    fn request_resolution(&mut self);
}

/// Lets a policy ask for a [`LbPolicy::work`] callback from outside a callback (a timer, a
/// picker noticing something). Cheap to clone; calls are coalesced.
#[derive(Clone)]
pub struct WorkScheduler {
    schedule: Arc<dyn Fn() + Send + Sync>,
}

impl WorkScheduler {
    /// A scheduler that runs `schedule` (the channel queues a `work` callback).
    pub fn new(schedule: impl Fn() + Send + Sync + 'static) -> WorkScheduler {
        WorkScheduler {
            schedule: Arc::new(schedule),
        }
    }

    /// Asks for [`LbPolicy::work`] to be called soon, serialized with other callbacks.
    pub fn schedule_work(&self) {
        (self.schedule)();
    }
}

impl fmt::Debug for WorkScheduler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WorkScheduler").finish_non_exhaustive()
    }
}

/// A load-balancing policy: turns resolver state into subchannels and a [`Picker`].
///
/// The channel calls these methods one at a time (never concurrently), from its own task,
/// so a policy needs no locks. They must not block; a policy that waits (a timer) does so
/// in a task of its own and calls back through its [`WorkScheduler`].
pub trait LbPolicy: Send + 'static {
    /// New addresses (and the policy's parsed config, if it has one). Returning an error
    /// tells the resolver this state is unusable (an empty address list, usually); the
    /// channel asks for re-resolution.
    fn resolver_update(
        &mut self,
        state: &ResolverState,
        config: Option<&LbConfig>,
        channel: &mut dyn ChannelController,
    ) -> Result<(), Status>;

    /// The resolver failed. A policy with working subchannels keeps them; one without
    /// should publish a failing picker with this error.
    fn resolver_error(&mut self, error: &Status, channel: &mut dyn ChannelController);

    /// One of this policy's subchannels changed state.
    fn subchannel_update(
        &mut self,
        subchannel: &Subchannel,
        state: &SubchannelState,
        channel: &mut dyn ChannelController,
    );

    /// A call arrived while the policy reported IDLE: start connecting.
    fn exit_idle(&mut self, channel: &mut dyn ChannelController);

    /// The callback [`WorkScheduler::schedule_work`] asked for.
    fn work(&mut self, channel: &mut dyn ChannelController) {
        let _ = channel;
    }
}

/// A policy's parsed configuration (from `loadBalancingConfig`), opaque to the channel.
#[derive(Clone)]
pub struct LbConfig {
    config: Arc<dyn Any + Send + Sync>,
}

impl LbConfig {
    /// Wraps a policy's config type.
    pub fn new<T: Send + Sync + 'static>(config: T) -> LbConfig {
        LbConfig {
            config: Arc::new(config),
        }
    }

    /// The config, if it is a `T`.
    pub fn downcast_ref<T: 'static>(&self) -> Option<&T> {
        self.config.downcast_ref::<T>()
    }
}

impl fmt::Debug for LbConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LbConfig").finish_non_exhaustive()
    }
}

/// What a [`LbPolicyBuilder`] gets to build a policy.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct LbPolicyOptions {
    /// Schedules [`LbPolicy::work`] callbacks.
    pub work_scheduler: WorkScheduler,
}

impl LbPolicyOptions {
    /// Options around a work scheduler.
    pub fn new(work_scheduler: WorkScheduler) -> LbPolicyOptions {
        LbPolicyOptions { work_scheduler }
    }
}

/// Makes policies of one kind; registered by [`name`](LbPolicyBuilder::name), which is how
/// a service config's `loadBalancingConfig` selects it.
pub trait LbPolicyBuilder: Send + Sync + 'static {
    /// The policy's name in service configs (`round_robin`).
    fn name(&self) -> &str;

    /// A new policy instance for one channel.
    fn build(&self, options: LbPolicyOptions) -> Box<dyn LbPolicy>;

    /// Parses this policy's JSON config object (the value under its name in
    /// `loadBalancingConfig`). An error makes the service config invalid. The default
    /// accepts anything and keeps nothing.
    fn parse_config(&self, config: &serde_json::Value) -> Result<Option<LbConfig>, String> {
        let _ = config;
        Ok(None)
    }
}
