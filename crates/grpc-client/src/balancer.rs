//! The channel's load-balancing machinery: the picker calls read (no lock), and the worker
//! task that runs the resolver and the policy.
//!
//! ```text
//!   resolver ──ResolverUpdate──┐
//!   subchannels ──state──────┐ │           one task, one callback at a time
//!   policy timers ──work───┐ │ │   ┌──────────────────────────────────────────┐
//!   calls ──exit idle────┐ │ │ │   │ Worker: service config, LbPolicy,        │
//!                        ▼ ▼ ▼ ▼   │ subchannels, idleness                     │
//!                  work queue ────▶│                                          │
//!                                  └───────────────┬──────────────────────────┘
//!                                                  │ update_picker
//!                                                  ▼
//!   every call ──load──▶ ArcSwap<PickerSlot> (state + picker) ──pick──▶ subchannel's connection
//! ```
//!
//! Callbacks into resolvers and policies are serialized by the queue (gRPC-Go's
//! callback serializer), so a policy never runs concurrently with itself. Calls never wait
//! on the worker: they load the current picker (one atomic load), pick, and load the
//! subchannel's connection (another). A call the picker cannot place waits for the next
//! picker (`Notify`), bounded by its deadline; wait-for-ready decides what a failing
//! picker means for it.
//!
//! Idleness (gRPC-Go's idleness manager, default 30 min): with no call started or running
//! for the idle timeout, the worker drops the resolver, the policy and every subchannel
//! (closing their connections) and publishes IDLE; the next call starts them again.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use arc_swap::{ArcSwap, ArcSwapOption};
use grpc_balancer_api::{
    CallOutcome, ChannelController, ConnectivityState, FailPicker, LbPolicy, LbPolicyBuilder,
    LbPolicyOptions, LbPolicyRegistry, OnComplete, PickInfo, PickResult, Picker, QueuePicker,
    Subchannel, SubchannelState, WorkScheduler,
};
use grpc_core::{Metadata, Status};
use grpc_resolver_api::{
    Address, Resolver, ResolverBuilder, ResolverOptions, ResolverRegistry, ResolverState,
    ResolverUpdate, ResolverUpdater, Target,
};
use grpc_transport::driver::Client;
use tokio::sync::{Notify, mpsc, watch};
use tokio::time::Instant;

use crate::retry_policy::RetryThrottle;
use crate::service_config::{self, ServiceConfig};
use crate::subchannel::{ConnectSettings, ConnectionLease, SubchannelCore};

/// The name of the policy used when the service config names none (gRPC's default).
pub(crate) const DEFAULT_POLICY: &str = "pick_first";

/// The current picker and the state it was published with.
struct PickerSlot {
    state: ConnectivityState,
    picker: Arc<dyn Picker>,
}

/// What calls and the worker share.
pub(crate) struct LbShared {
    slot: ArcSwap<PickerSlot>,
    /// Notified whenever a picker is published: queued calls pick again.
    picker_changed: Notify,
    state: watch::Sender<ConnectivityState>,
    /// A call asked the worker to leave IDLE since the last picker (asks once, not per call).
    exit_idle_requested: AtomicBool,
    /// The service config in force, if any (method configs for calls).
    config: ArcSwapOption<ServiceConfig>,
    /// The channel's retry throttle (gRFC A6), from the config's `retryThrottling`.
    throttle: ArcSwapOption<RetryThrottle>,
    /// Set once the resolver has answered (a state or an error) for the first time: calls
    /// wait for it so the service config's method settings apply to them.
    resolved: AtomicBool,
    resolved_notify: Notify,
    /// Calls holding a connection (idleness).
    active_calls: AtomicUsize,
    /// Tasks polling for readiness (tower's `poll_ready`), woken on every new picker.
    ready_wakers: Mutex<Vec<Waker>>,
    /// When a call last started or ended, in nanoseconds since `clock_base`.
    last_activity: AtomicU64,
    clock_base: Instant,
}

impl LbShared {
    fn touch(&self) {
        let now = Instant::now().saturating_duration_since(self.clock_base);
        self.last_activity.store(
            now.as_nanos().min(u64::MAX as u128) as u64,
            Ordering::Relaxed,
        );
    }

    fn last_activity(&self) -> Instant {
        self.clock_base + Duration::from_nanos(self.last_activity.load(Ordering::Relaxed))
    }

    fn publish(&self, state: ConnectivityState, picker: Arc<dyn Picker>) {
        self.slot.store(Arc::new(PickerSlot { state, picker }));
        self.exit_idle_requested.store(false, Ordering::Release);
        self.picker_changed.notify_waiters();
        let wakers = std::mem::take(
            &mut *self
                .ready_wakers
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        );
        for waker in wakers {
            waker.wake();
        }
        self.state.send_if_modified(|current| {
            let changed = *current != state;
            *current = state;
            changed
        });
    }

    fn mark_resolved(&self) {
        if !self.resolved.swap(true, Ordering::AcqRel) {
            self.resolved_notify.notify_waiters();
        }
    }
}

/// Counts a call as active while it lives (the channel does not go idle under it).
#[derive(Debug)]
pub(crate) struct ActiveCall {
    shared: Arc<LbShared>,
}

impl Drop for ActiveCall {
    fn drop(&mut self) {
        self.shared.active_calls.fetch_sub(1, Ordering::AcqRel);
        self.shared.touch();
    }
}

impl std::fmt::Debug for LbShared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LbShared")
            .field("state", &self.slot.load().state)
            .finish_non_exhaustive()
    }
}

/// A picked connection for one call.
pub(crate) struct Picked {
    /// Where the call goes.
    pub(crate) address: grpc_resolver_api::Addr,
    pub(crate) client: Client,
    pub(crate) lease: ConnectionLease,
    /// The picker's completion callback, to be called with the call's outcome.
    pub(crate) on_complete: Option<OnComplete>,
}

/// Work for the worker task.
pub(crate) enum Work {
    Resolver {
        epoch: u64,
        update: ResolverUpdate,
    },
    Subchannel {
        epoch: u64,
        subchannel: Weak<SubchannelCore>,
        state: SubchannelState,
    },
    Policy {
        epoch: u64,
    },
    ExitIdle,
    Shutdown,
}

/// A weak sender into the work queue, tagged with the epoch (resolver + policy
/// generation) of whoever sends: the queue's only strong sender is the channel's, so
/// resolvers, subchannels and timers never keep a dropped channel's worker alive.
#[derive(Clone)]
pub(crate) struct WorkSender {
    tx: mpsc::WeakUnboundedSender<Work>,
    epoch: u64,
}

impl WorkSender {
    fn send(&self, work: Work) -> bool {
        match self.tx.upgrade() {
            Some(tx) => tx.send(work).is_ok(),
            None => false,
        }
    }

    pub(crate) fn subchannel_state(
        &self,
        subchannel: Weak<SubchannelCore>,
        state: SubchannelState,
    ) {
        self.send(Work::Subchannel {
            epoch: self.epoch,
            subchannel,
            state,
        });
    }
}

/// Everything the worker needs to (re)build the resolver and policies.
pub(crate) struct LbSettings {
    pub(crate) target: Target,
    pub(crate) resolver: Arc<dyn ResolverBuilder>,
    pub(crate) policies: PolicyLookup,
    /// The config used when the resolver provides none (`ChannelBuilder::default_service_config`).
    pub(crate) default_config: Option<Arc<ServiceConfig>>,
    /// Whether configs from the resolver are used.
    pub(crate) resolver_config_enabled: bool,
    pub(crate) idle_timeout: Option<Duration>,
    pub(crate) connect: Arc<ConnectSettings>,
}

/// The channel's handle to its balancer: the pick path, and the worker (started on first
/// use, so building a channel needs no runtime and does no I/O).
pub(crate) struct Balancer {
    shared: Arc<LbShared>,
    work: mpsc::UnboundedSender<Work>,
    started: AtomicBool,
    worker: Mutex<Option<Worker>>,
}

impl std::fmt::Debug for Balancer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Balancer")
            .field("state", &self.state())
            .finish_non_exhaustive()
    }
}

impl Balancer {
    pub(crate) fn new(settings: LbSettings) -> Balancer {
        let (work, rx) = mpsc::unbounded_channel();
        let shared = Arc::new(LbShared {
            slot: ArcSwap::from_pointee(PickerSlot {
                state: ConnectivityState::Idle,
                picker: Arc::new(QueuePicker),
            }),
            picker_changed: Notify::new(),
            state: watch::Sender::new(ConnectivityState::Idle),
            exit_idle_requested: AtomicBool::new(false),
            config: ArcSwapOption::new(settings.default_config.clone()),
            throttle: ArcSwapOption::new(
                settings
                    .default_config
                    .as_ref()
                    .and_then(|c| c.retry_throttling)
                    .map(|t| Arc::new(RetryThrottle::new(t))),
            ),
            resolved: AtomicBool::new(false),
            resolved_notify: Notify::new(),
            active_calls: AtomicUsize::new(0),
            ready_wakers: Mutex::new(Vec::new()),
            last_activity: AtomicU64::new(0),
            clock_base: Instant::now(),
        });
        let worker = Worker {
            shared: shared.clone(),
            weak: work.downgrade(),
            rx,
            settings,
            epoch: 0,
            active: None,
            config: None,
            config_from_resolver: false,
        };
        Balancer {
            shared,
            work,
            started: AtomicBool::new(false),
            worker: Mutex::new(Some(worker)),
        }
    }

    /// Spawns the worker on first use.
    fn start(&self) {
        if self.started.load(Ordering::Acquire) {
            return;
        }
        let worker = self
            .worker
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(worker) = worker {
            tokio::spawn(worker.run());
        }
        self.started.store(true, Ordering::Release);
    }

    /// The channel's state.
    pub(crate) fn state(&self) -> ConnectivityState {
        self.shared.slot.load().state
    }

    /// Leaves IDLE (starting the resolver, or asking the policy to connect).
    pub(crate) fn connect(&self) {
        self.start();
        if self.state() == ConnectivityState::Idle {
            self.request_exit_idle();
        }
    }

    fn request_exit_idle(&self) {
        if !self.shared.exit_idle_requested.swap(true, Ordering::AcqRel) {
            let _ = self.work.send(Work::ExitIdle);
        }
    }

    /// Closes the channel: SHUTDOWN, every connection closed, calls fail with UNAVAILABLE.
    pub(crate) fn shutdown(&self) {
        self.start();
        let _ = self.work.send(Work::Shutdown);
    }

    /// Watches state changes.
    pub(crate) fn subscribe(&self) -> watch::Receiver<ConnectivityState> {
        self.shared.state.subscribe()
    }

    /// The JSON of the service config in force, if any.
    pub(crate) fn service_config_json(&self) -> Option<Arc<str>> {
        self.shared.config.load().as_ref().map(|c| c.raw.clone())
    }

    /// The service config in force (after the first resolution, which calls wait for).
    pub(crate) fn service_config(&self) -> Option<Arc<ServiceConfig>> {
        self.shared.config.load_full()
    }

    /// The channel's retry throttle, if the service config sets one.
    pub(crate) fn retry_throttle(&self) -> Option<Arc<RetryThrottle>> {
        self.shared.throttle.load_full()
    }

    /// Waits until the resolver answered once (so the service config is known), starting
    /// the channel if needed. The caller bounds the wait.
    pub(crate) async fn wait_resolved(&self) {
        if self.shared.resolved.load(Ordering::Acquire) {
            return;
        }
        self.connect();
        loop {
            let notified = self.shared.resolved_notify.notified();
            let mut notified = std::pin::pin!(notified);
            notified.as_mut().enable();
            if self.shared.resolved.load(Ordering::Acquire)
                || self.state() == ConnectivityState::Shutdown
            {
                return;
            }
            notified.await;
        }
    }

    /// Readiness for tower: ready when a call would be placed now, an error when it would
    /// fail fast (TRANSIENT_FAILURE, SHUTDOWN), pending otherwise (starting the channel).
    pub(crate) fn poll_ready(&self, cx: &mut Context<'_>) -> Poll<Result<(), Status>> {
        self.connect();
        let readiness = || {
            let slot = self.shared.slot.load();
            match slot.state {
                ConnectivityState::Ready => Some(Ok(())),
                ConnectivityState::Idle | ConnectivityState::Connecting => None,
                ConnectivityState::TransientFailure | ConnectivityState::Shutdown => {
                    let metadata = Metadata::new();
                    let extensions = grpc_core::Extensions::new();
                    let info = PickInfo {
                        path: "",
                        metadata: &metadata,
                        extensions: &extensions,
                    };
                    match slot.picker.pick(&info) {
                        PickResult::Fail(status) | PickResult::Drop(status) => Some(Err(status)),
                        PickResult::Pick(_) => Some(Ok(())),
                        PickResult::Queue => None,
                    }
                }
            }
        };
        if let Some(ready) = readiness() {
            return Poll::Ready(ready);
        }
        {
            let mut wakers = self
                .shared
                .ready_wakers
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if !wakers.iter().any(|w| w.will_wake(cx.waker())) {
                wakers.push(cx.waker().clone());
            }
        }
        // A picker published between the first look and the registration would be missed.
        match readiness() {
            Some(ready) => Poll::Ready(ready),
            None => Poll::Pending,
        }
    }

    /// Picks a connection for a call. Waits while the picker queues it (or fails it and
    /// the call is wait-for-ready); the caller bounds the wait with the call's deadline.
    pub(crate) async fn pick(
        &self,
        info: &PickInfo<'_>,
        wait_for_ready: bool,
    ) -> Result<Picked, Status> {
        self.start();
        // Fast path (a ready channel): one atomic load of the picker, no waiter registered.
        if let Some(picked) = self.try_pick(info, wait_for_ready) {
            return picked;
        }
        loop {
            let notified = self.shared.picker_changed.notified();
            let mut notified = std::pin::pin!(notified);
            notified.as_mut().enable();
            if let Some(picked) = self.try_pick(info, wait_for_ready) {
                return picked;
            }
            notified.await;
        }
    }

    /// The pick's answer if there is one now; `None` means wait for the next picker.
    fn try_pick(
        &self,
        info: &PickInfo<'_>,
        wait_for_ready: bool,
    ) -> Option<Result<Picked, Status>> {
        let slot = self.shared.slot.load();
        // SHUTDOWN's picker drops every call with the reason (closed, or a worker panic).
        if slot.state == ConnectivityState::Idle {
            self.request_exit_idle();
        }
        match slot.picker.pick(info) {
            PickResult::Pick(pick) => {
                let Some(core) = pick.subchannel.downcast_ref::<SubchannelCore>() else {
                    return Some(Err(Status::internal(
                        "the load-balancing policy picked a subchannel this channel did not create",
                    )));
                };
                match core.ready_client() {
                    Some((client, generation)) => {
                        self.shared.active_calls.fetch_add(1, Ordering::AcqRel);
                        self.shared.touch();
                        let active = Arc::new(ActiveCall {
                            shared: self.shared.clone(),
                        });
                        Some(Ok(Picked {
                            address: grpc_balancer_api::SubchannelHandle::address(core)
                                .addr
                                .clone(),
                            client,
                            lease: ConnectionLease::new(core, generation, active),
                            on_complete: pick.on_complete,
                        }))
                    }
                    None => {
                        // Picked a subchannel that just lost its connection: the policy
                        // hears of it and publishes a new picker; wait for that one.
                        if let Some(on_complete) = pick.on_complete {
                            let status = Status::unavailable("picked subchannel is not ready");
                            on_complete(&CallOutcome {
                                status: &status,
                                trailers: &Metadata::new(),
                            });
                        }
                        None
                    }
                }
            }
            PickResult::Queue => None,
            PickResult::Fail(status) if wait_for_ready => {
                tracing::trace!(%status, "wait-for-ready call waits for a new picker");
                None
            }
            PickResult::Fail(status) | PickResult::Drop(status) => Some(Err(status)),
        }
    }
}

/// A picker that fails every call, wait-for-ready or not (SHUTDOWN, an unusable target).
struct DropPicker(Status);

impl Picker for DropPicker {
    fn pick(&self, _: &PickInfo<'_>) -> PickResult {
        PickResult::Drop(self.0.clone())
    }
}

/// The resolver and policy of one active period (between two idle periods).
struct Active {
    resolver: Box<dyn Resolver>,
    policy: Option<(String, Box<dyn LbPolicy>)>,
}

/// The task that owns the resolver, the policy and the subchannels.
struct Worker {
    shared: Arc<LbShared>,
    weak: mpsc::WeakUnboundedSender<Work>,
    rx: mpsc::UnboundedReceiver<Work>,
    settings: LbSettings,
    /// Bumped when leaving IDLE: reports from an earlier resolver, policy or subchannel
    /// are ignored.
    epoch: u64,
    active: Option<Active>,
    /// The service config in force.
    config: Option<Arc<ServiceConfig>>,
    /// Whether `config` came from the resolver (not the default).
    config_from_resolver: bool,
}

/// The [`ChannelController`] a policy sees during one callback.
struct Controller<'a> {
    shared: &'a LbShared,
    connect: &'a Arc<ConnectSettings>,
    events: WorkSender,
    resolution_requested: bool,
}

impl ChannelController for Controller<'_> {
    fn new_subchannel(&mut self, address: &Address) -> Subchannel {
        // gRFC A17: the service config in force when the subchannel is made decides whether
        // its connections are health-checked.
        let health_service = if self.connect.health_checks {
            self.shared
                .config
                .load()
                .as_ref()
                .and_then(|config| config.health_check_service_name.clone())
        } else {
            None
        };
        Subchannel::new(SubchannelCore::new(
            address.clone(),
            self.connect.clone(),
            self.events.clone(),
            health_service,
        ))
    }

    fn update_picker(&mut self, state: ConnectivityState, picker: Arc<dyn Picker>) {
        // SHUTDOWN belongs to the channel: a policy cannot publish it.
        let state = match state {
            ConnectivityState::Shutdown => ConnectivityState::TransientFailure,
            other => other,
        };
        self.shared.publish(state, picker);
    }

    fn request_resolution(&mut self) {
        self.resolution_requested = true;
    }
}

/// Publishes a failing picker if the worker ends by panicking (a resolver or policy bug):
/// calls then fail instead of waiting for a picker that never comes.
struct PanicGuard(Arc<LbShared>);

impl Drop for PanicGuard {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.publish(
                ConnectivityState::Shutdown,
                Arc::new(DropPicker(Status::internal(
                    "the channel stopped: its resolver or load-balancing policy panicked",
                ))),
            );
            self.0.mark_resolved();
        }
    }
}

impl Worker {
    async fn run(mut self) {
        let _guard = PanicGuard(self.shared.clone());
        loop {
            let idle_at = self.idle_deadline();
            let work = tokio::select! {
                work = self.rx.recv() => work,
                () = sleep_until(idle_at) => {
                    self.idle_check();
                    continue;
                }
            };
            match work {
                None => break,
                Some(Work::Shutdown) => {
                    self.rx.close();
                    break;
                }
                Some(work) => self.handle(work),
            }
        }
        tracing::debug!(target = %self.settings.target, "channel shut down");
        self.active = None;
        self.shared.publish(
            ConnectivityState::Shutdown,
            Arc::new(DropPicker(Status::unavailable("the channel is shut down"))),
        );
        self.shared.mark_resolved();
    }

    fn handle(&mut self, work: Work) {
        match work {
            Work::ExitIdle => self.exit_idle(),
            Work::Resolver { epoch, update } if epoch == self.epoch => {
                self.shared.mark_resolved();
                match update {
                    ResolverUpdate::State(state) => self.resolver_state(state),
                    ResolverUpdate::Error(error) => self.resolver_error(error),
                }
            }
            Work::Subchannel {
                epoch,
                subchannel,
                state,
            } if epoch == self.epoch => {
                let Some(core) = subchannel.upgrade() else {
                    return;
                };
                let subchannel = Subchannel::new(core);
                self.with_policy(|policy, controller| {
                    policy.subchannel_update(&subchannel, &state, controller);
                });
            }
            Work::Policy { epoch } if epoch == self.epoch => {
                self.with_policy(|policy, controller| policy.work(controller));
            }
            // Reports from an earlier epoch, and Shutdown (handled by `run`).
            _ => {}
        }
    }

    /// A sender for reports tagged with the current epoch.
    fn events(&self) -> WorkSender {
        WorkSender {
            tx: self.weak.clone(),
            epoch: self.epoch,
        }
    }

    /// Runs `f` on the policy (if there is one) with a controller, then asks the resolver
    /// to resolve again if the policy requested it.
    fn with_policy(&mut self, f: impl FnOnce(&mut dyn LbPolicy, &mut dyn ChannelController)) {
        let mut controller = Controller {
            shared: &self.shared,
            connect: &self.settings.connect,
            events: self.events(),
            resolution_requested: false,
        };
        let Some(active) = &mut self.active else {
            return;
        };
        if let Some((_, policy)) = &mut active.policy {
            f(policy.as_mut(), &mut controller);
        }
        if controller.resolution_requested {
            active.resolver.resolve_now();
        }
    }

    /// A call (or `connect()`) arrived while IDLE.
    fn exit_idle(&mut self) {
        if self.active.is_some() {
            // The policy is IDLE (pick_first after losing its connection): reconnect.
            if self.shared.slot.load().state == ConnectivityState::Idle {
                self.with_policy(|policy, controller| policy.exit_idle(controller));
            }
            return;
        }
        self.epoch += 1;
        let events = self.events();
        let updater = ResolverUpdater::new(move |update| {
            events.send(Work::Resolver {
                epoch: events.epoch,
                update,
            })
        });
        let mut options = ResolverOptions::new(updater);
        options.service_config_enabled = self.settings.resolver_config_enabled;
        tracing::debug!(target = %self.settings.target, "channel leaving idle");
        // Leaving idle is activity: the idle timer counts from here.
        self.shared.touch();
        match self.settings.resolver.build(&self.settings.target, options) {
            Ok(resolver) => {
                self.active = Some(Active {
                    resolver,
                    policy: None,
                });
                self.shared
                    .publish(ConnectivityState::Connecting, Arc::new(QueuePicker));
            }
            Err(status) => {
                tracing::debug!(target = %self.settings.target, %status, "resolver failed to start");
                self.shared.publish(
                    ConnectivityState::TransientFailure,
                    Arc::new(DropPicker(status)),
                );
                self.shared.mark_resolved();
            }
        }
    }

    /// Picks the service config for a resolver state: the resolver's if it has a valid
    /// one, the previous good one if its config is invalid, the default otherwise.
    /// `Err` when the resolver's config is invalid and there is nothing to fall back to.
    fn choose_config(
        &mut self,
        state: &ResolverState,
    ) -> Result<Option<Arc<ServiceConfig>>, Status> {
        let from_resolver = match &state.service_config {
            Some(_) if !self.settings.resolver_config_enabled => None,
            None => None,
            Some(Ok(json)) => {
                let lookup = |name: &str| self.settings.policies.get(name);
                match service_config::parse(json, &lookup) {
                    Ok(config) => Some(Ok(config)),
                    Err(why) => Some(Err(why)),
                }
            }
            Some(Err(why)) => Some(Err(why.clone())),
        };
        match from_resolver {
            None => {
                self.config_from_resolver = false;
                Ok(self.settings.default_config.clone())
            }
            Some(Ok(config)) => {
                self.config_from_resolver = true;
                Ok(Some(Arc::new(config)))
            }
            Some(Err(why)) => {
                tracing::warn!(target = %self.settings.target, %why, "invalid service config from the resolver; keeping the previous one");
                if self.config_from_resolver {
                    return Ok(self.config.clone());
                }
                // gRFC A21: with no previous config from the resolver, an invalid one is a
                // resolution error (the default config applies only when there is none).
                Err(Status::unavailable(format!(
                    "invalid service config: {why}"
                )))
            }
        }
    }

    fn resolver_state(&mut self, state: ResolverState) {
        let config = match self.choose_config(&state) {
            Ok(config) => config,
            Err(error) => return self.resolver_error(error),
        };
        self.config = config.clone();
        let throttling = config.as_ref().and_then(|c| c.retry_throttling);
        let current = self.shared.throttle.load();
        if current.as_ref().map(|t| t.config()) != throttling {
            // A new throttling config starts a new (full) bucket; an unchanged one keeps
            // its tokens across resolver updates.
            self.shared
                .throttle
                .store(throttling.map(|t| Arc::new(RetryThrottle::new(t))));
        }
        drop(current);
        self.shared.config.store(config.clone());
        let (name, builder, lb_config) = match config.as_deref().and_then(|c| c.lb_choice.as_ref())
        {
            Some(choice) => (
                choice.name.clone(),
                choice.builder.clone(),
                choice.config.clone(),
            ),
            None => match self.settings.policies.get(DEFAULT_POLICY) {
                Some(builder) => (DEFAULT_POLICY.to_owned(), builder, None),
                None => {
                    return self.resolver_error(Status::internal(
                        "no pick_first policy registered (grpc-client's `balancers` feature is off)",
                    ));
                }
            },
        };
        self.ensure_policy(&name, builder.as_ref());
        let mut outcome = Ok(());
        self.with_policy(|policy, controller| {
            outcome = policy.resolver_update(&state, lb_config.as_ref(), controller);
        });
        if let Err(status) = outcome {
            tracing::debug!(target = %self.settings.target, %status, "policy rejected the resolver state");
            if let Some(active) = &mut self.active {
                active.resolver.resolve_now();
            }
        }
    }

    /// Builds the policy named `name` unless it is the one running (a switch replaces the
    /// old policy and its subchannels).
    fn ensure_policy(&mut self, name: &str, builder: &dyn LbPolicyBuilder) {
        let events = self.events();
        let Some(active) = &mut self.active else {
            return;
        };
        if active
            .policy
            .as_ref()
            .is_some_and(|(current, _)| current == name)
        {
            return;
        }
        tracing::debug!(target = %self.settings.target, policy = name, "load-balancing policy");
        let scheduler = WorkScheduler::new(move || {
            events.send(Work::Policy {
                epoch: events.epoch,
            });
        });
        active.policy = Some((
            name.to_owned(),
            builder.build(LbPolicyOptions::new(scheduler)),
        ));
    }

    fn resolver_error(&mut self, error: Status) {
        tracing::debug!(target = %self.settings.target, %error, "resolver error");
        let has_policy = self.active.as_ref().is_some_and(|a| a.policy.is_some());
        if has_policy {
            self.with_policy(|policy, controller| policy.resolver_error(&error, controller));
        } else if self.active.is_some() {
            self.shared.publish(
                ConnectivityState::TransientFailure,
                Arc::new(FailPicker(error)),
            );
        }
    }

    /// When to check for idleness, if the channel is active.
    fn idle_deadline(&self) -> Option<Instant> {
        let timeout = self.settings.idle_timeout?;
        self.active.as_ref()?;
        Some(self.shared.last_activity() + timeout)
    }

    /// The idle timer fired: go idle if no call started or ran for the whole timeout.
    fn idle_check(&mut self) {
        let Some(timeout) = self.settings.idle_timeout else {
            return;
        };
        if self.shared.active_calls.load(Ordering::Acquire) > 0 {
            // Calls are running: look again a full timeout after now.
            self.shared.touch();
            return;
        }
        if Instant::now() < self.shared.last_activity() + timeout {
            return;
        }
        tracing::debug!(target = %self.settings.target, ?timeout, "channel idle");
        self.active = None;
        self.epoch += 1;
        self.shared
            .publish(ConnectivityState::Idle, Arc::new(QueuePicker));
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

/// Finds resolver builders: the channel's own, then the process-wide registry, then the
/// built-ins (`grpc-resolver`, with the `resolvers` feature).
#[derive(Clone, Debug)]
pub(crate) struct ResolverLookup {
    local: ResolverRegistry,
}

impl ResolverLookup {
    pub(crate) fn new(local: ResolverRegistry) -> ResolverLookup {
        ResolverLookup { local }
    }

    pub(crate) fn get(&self, scheme: &str) -> Option<Arc<dyn ResolverBuilder>> {
        self.local
            .get(scheme)
            .or_else(|| grpc_resolver_api::registry::lookup(scheme))
            .or_else(|| builtin_resolvers().get(scheme))
    }
}

#[cfg(feature = "resolvers")]
fn builtin_resolvers() -> &'static ResolverRegistry {
    static BUILTINS: std::sync::LazyLock<ResolverRegistry> = std::sync::LazyLock::new(|| {
        let mut registry = ResolverRegistry::new();
        grpc_resolver::register_builtins(&mut registry);
        registry
    });
    &BUILTINS
}

#[cfg(not(feature = "resolvers"))]
fn builtin_resolvers() -> &'static ResolverRegistry {
    static EMPTY: std::sync::LazyLock<ResolverRegistry> =
        std::sync::LazyLock::new(ResolverRegistry::new);
    &EMPTY
}

/// Finds policy builders: the channel's own, then the process-wide registry, then the
/// built-ins (`grpc-balancer`, with the `balancers` feature).
#[derive(Clone, Debug)]
pub(crate) struct PolicyLookup {
    local: LbPolicyRegistry,
}

impl PolicyLookup {
    pub(crate) fn new(local: LbPolicyRegistry) -> PolicyLookup {
        PolicyLookup { local }
    }

    pub(crate) fn get(&self, name: &str) -> Option<Arc<dyn LbPolicyBuilder>> {
        self.local
            .get(name)
            .or_else(|| grpc_balancer_api::registry::lookup(name))
            .or_else(|| builtin_policies().get(name))
    }
}

#[cfg(feature = "balancers")]
fn builtin_policies() -> &'static LbPolicyRegistry {
    static BUILTINS: std::sync::LazyLock<LbPolicyRegistry> = std::sync::LazyLock::new(|| {
        let mut registry = LbPolicyRegistry::new();
        grpc_balancer::register_builtins(&mut registry);
        registry
    });
    &BUILTINS
}

#[cfg(not(feature = "balancers"))]
fn builtin_policies() -> &'static LbPolicyRegistry {
    static EMPTY: std::sync::LazyLock<LbPolicyRegistry> =
        std::sync::LazyLock::new(LbPolicyRegistry::new);
    &EMPTY
}
