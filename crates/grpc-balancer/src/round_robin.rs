//! `round_robin`: one subchannel per unique address, all kept connected; calls rotate over
//! the READY ones (gRPC's `load-balancing.md`, "Load-balancing policies"; aggregate state
//! per gRFC A61's endpoint rules, with sticky TRANSIENT_FAILURE per subchannel as in A62).
//!
//! The connection management is shared with `least_request` through [`ReadyListPolicy`]:
//! both keep a subchannel per address, reconnect IDLE ones at once, and differ only in the
//! picker they build over the READY set ([`ReadyPickers`]).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use grpc_balancer_api::{
    Address, ChannelController, ConnectivityState, FailPicker, LbConfig, LbPolicy, LbPolicyBuilder,
    LbPolicyOptions, Pick, PickInfo, PickResult, Picker, QueuePicker, ResolverState, Status,
    Subchannel, SubchannelState,
};

use crate::ROUND_ROBIN;
use crate::rng;
use crate::subchannel_list::SubchannelList;

/// Builds `round_robin` policies: a subchannel per unique address, all connected, calls
/// spread evenly over the READY ones. It takes no configuration.
///
/// ```
/// use grpc_balancer_api::LbPolicyBuilder;
///
/// assert_eq!(grpc_balancer::RoundRobinBuilder::new().name(), "round_robin");
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct RoundRobinBuilder;

impl RoundRobinBuilder {
    /// A builder.
    pub fn new() -> RoundRobinBuilder {
        RoundRobinBuilder
    }
}

impl LbPolicyBuilder for RoundRobinBuilder {
    fn name(&self) -> &str {
        ROUND_ROBIN
    }

    fn build(&self, _options: LbPolicyOptions) -> Box<dyn LbPolicy> {
        Box::new(ReadyListPolicy::new(RoundRobinPickers))
    }
}

/// The part of a [`ReadyListPolicy`] that differs between policies: per-subchannel data
/// and the picker over the READY subchannels.
pub(crate) trait ReadyPickers: Send + 'static {
    /// Per-subchannel data, created when an address first appears and kept while it stays.
    type Data: Send + 'static;

    /// The policy name, for logs and error messages.
    fn name(&self) -> &'static str;

    /// Takes the config of a resolver update (called before the list is updated).
    fn configure(&mut self, config: Option<&LbConfig>) {
        let _ = config;
    }

    /// Data for a new address.
    fn new_data(&mut self, address: &Address) -> Self::Data;

    /// A picker over the READY entries of `list` (there is at least one).
    fn picker(&self, list: &SubchannelList<Self::Data>) -> Arc<dyn Picker>;
}

/// What was last published, to skip republishing identical pickers.
#[derive(PartialEq, Eq)]
struct Published {
    state: ConnectivityState,
    /// Ids of the READY subchannels the picker uses (empty unless READY).
    ready: Vec<usize>,
    /// The failing picker's message (TRANSIENT_FAILURE only).
    error: Option<String>,
}

/// A policy that keeps every address connected and picks among the READY subchannels
/// with `P`'s picker: `round_robin` and `least_request`.
pub(crate) struct ReadyListPolicy<P: ReadyPickers> {
    pickers: P,
    list: SubchannelList<P::Data>,
    published: Option<Published>,
}

impl<P: ReadyPickers> ReadyListPolicy<P> {
    /// A policy with no addresses yet.
    pub(crate) fn new(pickers: P) -> Self {
        ReadyListPolicy {
            pickers,
            list: SubchannelList::new(),
            published: None,
        }
    }

    /// The subchannel list (tests look at per-subchannel data).
    #[cfg(test)]
    pub(crate) fn list(&self) -> &SubchannelList<P::Data> {
        &self.list
    }

    /// The status a TRANSIENT_FAILURE picker fails calls with.
    fn failure_status(&self) -> Status {
        let name = self.pickers.name();
        match self.list.last_error() {
            Some(error) => Status::unavailable(format!(
                "{name}: no ready subchannel among {} addresses; last connection error: {error}",
                self.list.len()
            )),
            None => Status::unavailable(format!("{name}: no ready subchannel")),
        }
    }

    /// Publishes the picker for the list's current state, unless it would equal the last
    /// one published (and `force` is false).
    fn publish(&mut self, channel: &mut dyn ChannelController, force: bool) {
        let state = self.list.aggregate_state();
        let (ready, error) = match state {
            ConnectivityState::Ready => (
                self.list.ready().map(|e| e.subchannel().id()).collect(),
                None,
            ),
            ConnectivityState::TransientFailure => (Vec::new(), Some(self.failure_status())),
            _ => (Vec::new(), None),
        };
        let published = Published {
            state,
            ready,
            error: error.as_ref().map(|e| e.message().to_owned()),
        };
        if !force && self.published.as_ref() == Some(&published) {
            return;
        }
        let picker: Arc<dyn Picker> = match (state, error) {
            (ConnectivityState::Ready, _) => self.pickers.picker(&self.list),
            (_, Some(error)) => Arc::new(FailPicker(error)),
            _ => Arc::new(QueuePicker),
        };
        tracing::debug!(policy = self.pickers.name(), %state, ready = published.ready.len(), "publishing picker");
        channel.update_picker(state, picker);
        self.published = Some(published);
    }

    fn publish_failure(&mut self, channel: &mut dyn ChannelController, status: Status) {
        self.published = Some(Published {
            state: ConnectivityState::TransientFailure,
            ready: Vec::new(),
            error: Some(status.message().to_owned()),
        });
        channel.update_picker(
            ConnectivityState::TransientFailure,
            Arc::new(FailPicker(status)),
        );
    }
}

impl<P: ReadyPickers> LbPolicy for ReadyListPolicy<P> {
    fn resolver_update(
        &mut self,
        state: &ResolverState,
        config: Option<&LbConfig>,
        channel: &mut dyn ChannelController,
    ) -> Result<(), Status> {
        self.pickers.configure(config);
        if state.addresses.is_empty() {
            // Nothing to balance over: drop every subchannel and fail calls; the error
            // makes the channel ask the resolver again.
            self.list.clear();
            let status = Status::unavailable(format!(
                "{}: resolver returned no addresses",
                self.pickers.name()
            ));
            self.publish_failure(channel, status.clone());
            return Err(status);
        }
        let pickers = &mut self.pickers;
        let removed = self.list.update(&state.addresses, channel, |address| {
            pickers.new_data(address)
        });
        drop(removed);
        self.list.connect_idle();
        // Always republish: the old picker may hold removed subchannels (or old config).
        self.publish(channel, true);
        Ok(())
    }

    fn resolver_error(&mut self, error: &Status, channel: &mut dyn ChannelController) {
        // Keep using working subchannels; only a policy with nothing that works reports
        // the resolver's error to calls.
        if self.list.is_empty()
            || self.list.aggregate_state() == ConnectivityState::TransientFailure
        {
            let status = Status::new(
                error.code(),
                format!(
                    "{}: name resolver error: {}",
                    self.pickers.name(),
                    error.message()
                ),
            );
            self.publish_failure(channel, status);
        }
    }

    fn subchannel_update(
        &mut self,
        subchannel: &Subchannel,
        state: &SubchannelState,
        channel: &mut dyn ChannelController,
    ) {
        let Some(transition) = self.list.update_state(subchannel, state) else {
            return;
        };
        if transition.current == ConnectivityState::Idle {
            // Keep every address connected: reconnect at once.
            subchannel.connect();
        }
        if transition.failed() || transition.lost_ready() {
            channel.request_resolution();
        }
        self.publish(channel, false);
    }

    fn exit_idle(&mut self, _channel: &mut dyn ChannelController) {
        self.list.connect_idle();
    }
}

/// `round_robin`'s pickers: no per-subchannel data.
struct RoundRobinPickers;

impl ReadyPickers for RoundRobinPickers {
    type Data = ();

    fn name(&self) -> &'static str {
        ROUND_ROBIN
    }

    fn new_data(&mut self, _address: &Address) {}

    fn picker(&self, list: &SubchannelList<()>) -> Arc<dyn Picker> {
        Arc::new(RoundRobinPicker::new(list.ready_subchannels()))
    }
}

/// Rotates over a fixed set of subchannels with one atomic counter: exactly even over any
/// multiple of the set's size. Each picker starts at a random index so that many clients
/// (or picker updates) do not all hit the first backend first.
pub(crate) struct RoundRobinPicker {
    subchannels: Box<[Subchannel]>,
    next: AtomicUsize,
}

impl RoundRobinPicker {
    /// A picker over `subchannels` (queues calls if it is empty).
    pub(crate) fn new(subchannels: Vec<Subchannel>) -> RoundRobinPicker {
        let start = rng::below(subchannels.len());
        RoundRobinPicker {
            subchannels: subchannels.into_boxed_slice(),
            next: AtomicUsize::new(start),
        }
    }
}

impl Picker for RoundRobinPicker {
    fn pick(&self, _info: &PickInfo<'_>) -> PickResult {
        let len = self.subchannels.len();
        if len == 0 {
            return PickResult::Queue;
        }
        let index = self.next.fetch_add(1, Ordering::Relaxed) % len;
        match self.subchannels.get(index) {
            Some(subchannel) => PickResult::Pick(Pick::new(subchannel.clone())),
            None => PickResult::Queue,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::TestResult;
    use crate::test_util::{
        FakeController, addr, addresses, connects, failed_status, options, pick, picked_address,
        update,
    };
    use ConnectivityState::*;
    use std::collections::HashMap;

    fn policy() -> Box<dyn LbPolicy> {
        RoundRobinBuilder::new().build(options())
    }

    #[test]
    fn connects_every_unique_address_and_queues_until_ready() -> TestResult {
        let mut channel = FakeController::default();
        let mut policy = policy();
        update(policy.as_mut(), &mut channel, &[1, 2, 2, 3])?;
        assert_eq!(channel.subchannels.len(), 3);
        for s in &channel.subchannels {
            assert_eq!(connects(s)?, 1);
        }
        assert_eq!(channel.state(), Some(Connecting));
        assert!(matches!(
            pick(channel.picker()?.as_ref()),
            PickResult::Queue
        ));
        channel.set_state(policy.as_mut(), &addr(1), Connecting)?;
        channel.set_state(policy.as_mut(), &addr(2), Ready)?;
        assert_eq!(channel.state(), Some(Ready));
        assert_eq!(picked_address(pick(channel.picker()?.as_ref()))?, addr(2));
        Ok(())
    }

    #[test]
    fn spreads_picks_exactly_evenly() -> TestResult {
        let mut channel = FakeController::default();
        let mut policy = policy();
        update(policy.as_mut(), &mut channel, &[1, 2, 3, 4, 5])?;
        for port in 1..=5 {
            channel.set_state(policy.as_mut(), &addr(port), Ready)?;
        }
        let picker = channel.picker()?;
        let mut counts: HashMap<String, usize> = HashMap::new();
        for _ in 0..5 * 1000 {
            *counts
                .entry(picked_address(pick(picker.as_ref()))?)
                .or_default() += 1;
        }
        assert_eq!(counts.len(), 5);
        assert!(counts.values().all(|&n| n == 1000), "{counts:?}");
        Ok(())
    }

    #[test]
    fn consecutive_picks_rotate() -> TestResult {
        let picker = RoundRobinPicker::new({
            let mut channel = FakeController::default();
            addresses(&[1, 2, 3])
                .iter()
                .map(|a| channel.new_subchannel(a))
                .collect()
        });
        let picks: Vec<String> = (0..6)
            .map(|_| picked_address(pick(&picker)))
            .collect::<TestResult<_>>()?;
        assert_eq!(picks[0..3], picks[3..6]);
        let mut first: Vec<_> = picks[0..3].to_vec();
        first.sort();
        assert_eq!(first, [addr(1), addr(2), addr(3)]);
        Ok(())
    }

    #[test]
    fn only_ready_subchannels_are_picked() -> TestResult {
        let mut channel = FakeController::default();
        let mut policy = policy();
        update(policy.as_mut(), &mut channel, &[1, 2, 3])?;
        channel.set_state(policy.as_mut(), &addr(1), Ready)?;
        channel.set_state(policy.as_mut(), &addr(3), Ready)?;
        channel.set_state(policy.as_mut(), &addr(2), TransientFailure)?;
        let picker = channel.picker()?;
        for _ in 0..10 {
            assert_ne!(picked_address(pick(picker.as_ref()))?, addr(2));
        }
        Ok(())
    }

    #[test]
    fn lost_connection_reconnects_and_re_resolves() -> TestResult {
        let mut channel = FakeController::default();
        let mut policy = policy();
        update(policy.as_mut(), &mut channel, &[1, 2])?;
        channel.set_state(policy.as_mut(), &addr(1), Ready)?;
        channel.set_state(policy.as_mut(), &addr(2), Ready)?;
        assert_eq!(channel.resolution_requests, 0);
        channel.set_state(policy.as_mut(), &addr(1), Idle)?;
        assert_eq!(
            connects(&channel.subchannel(&addr(1))?)?,
            2,
            "IDLE reconnects at once"
        );
        assert_eq!(channel.resolution_requests, 1);
        assert_eq!(channel.state(), Some(Ready));
        let picker = channel.picker()?;
        for _ in 0..4 {
            assert_eq!(picked_address(pick(picker.as_ref()))?, addr(2));
        }
        channel.set_state(policy.as_mut(), &addr(2), Idle)?;
        assert_eq!(channel.state(), Some(Connecting));
        assert!(matches!(
            pick(channel.picker()?.as_ref()),
            PickResult::Queue
        ));
        Ok(())
    }

    #[test]
    fn all_failing_is_sticky_transient_failure() -> TestResult {
        let mut channel = FakeController::default();
        let mut policy = policy();
        update(policy.as_mut(), &mut channel, &[1, 2])?;
        channel.set_state(policy.as_mut(), &addr(1), TransientFailure)?;
        assert_eq!(channel.state(), Some(Connecting));
        channel.set_state(policy.as_mut(), &addr(2), TransientFailure)?;
        assert_eq!(channel.state(), Some(TransientFailure));
        assert_eq!(channel.resolution_requests, 2);
        let status = failed_status(pick(channel.picker()?.as_ref()))?;
        assert_eq!(status.code(), grpc_core::Code::Unavailable);
        assert!(status.message().contains("connection refused"), "{status}");
        let published = channel.pickers.len();
        // Retrying on their own backoff does not leave TRANSIENT_FAILURE...
        channel.set_state(policy.as_mut(), &addr(1), Connecting)?;
        channel.set_state(policy.as_mut(), &addr(2), Connecting)?;
        assert_eq!(channel.state(), Some(TransientFailure));
        assert_eq!(
            channel.pickers.len(),
            published,
            "nothing changed, nothing published"
        );
        // ...until one is READY.
        channel.set_state(policy.as_mut(), &addr(2), Ready)?;
        assert_eq!(channel.state(), Some(Ready));
        assert_eq!(picked_address(pick(channel.picker()?.as_ref()))?, addr(2));
        Ok(())
    }

    #[test]
    fn address_updates_keep_present_subchannels_and_drop_removed() -> TestResult {
        let mut channel = FakeController::default();
        let mut policy = policy();
        update(policy.as_mut(), &mut channel, &[1, 2])?;
        channel.set_state(policy.as_mut(), &addr(1), Ready)?;
        channel.set_state(policy.as_mut(), &addr(2), Ready)?;
        let one = channel.subchannel(&addr(1))?;
        let two = channel.subchannel(&addr(2))?;
        update(policy.as_mut(), &mut channel, &[2, 3])?;
        assert_eq!(channel.subchannels.len(), 3, "only 3 is new");
        assert_eq!(connects(&two)?, 1, "kept without reconnecting");
        assert_eq!(channel.state(), Some(Ready));
        let picker = channel.picker()?;
        for _ in 0..4 {
            assert_eq!(picked_address(pick(picker.as_ref()))?, addr(2));
        }
        drop(picker);
        // A late report from the removed subchannel is ignored.
        let before = channel.pickers.len();
        policy.subchannel_update(&one, &SubchannelState::new(Idle), &mut channel);
        assert_eq!(channel.pickers.len(), before);
        assert_eq!(connects(&one)?, 1, "not reconnected");
        drop((one, two));
        // Neither the policy nor its current picker holds the removed subchannel.
        channel.forget_handles();
        assert!(channel.released(&addr(1)));
        assert!(!channel.released(&addr(2)));
        assert!(!channel.released(&addr(3)));
        Ok(())
    }

    #[test]
    fn empty_address_list_fails_and_errors() -> TestResult {
        let mut channel = FakeController::default();
        let mut policy = policy();
        update(policy.as_mut(), &mut channel, &[1])?;
        channel.set_state(policy.as_mut(), &addr(1), Ready)?;
        let err = update(policy.as_mut(), &mut channel, &[])
            .err()
            .ok_or("an empty address list was accepted")?;
        assert_eq!(err.code(), grpc_core::Code::Unavailable);
        assert_eq!(channel.state(), Some(TransientFailure));
        let status = failed_status(pick(channel.picker()?.as_ref()))?;
        assert!(status.message().contains("no addresses"));
        Ok(())
    }

    #[test]
    fn resolver_error_only_matters_without_working_subchannels() -> TestResult {
        let mut channel = FakeController::default();
        let mut policy = policy();
        policy.resolver_error(&Status::unavailable("dns down"), &mut channel);
        assert_eq!(channel.state(), Some(TransientFailure));
        let status = failed_status(pick(channel.picker()?.as_ref()))?;
        assert!(status.message().contains("dns down"));
        update(policy.as_mut(), &mut channel, &[1])?;
        channel.set_state(policy.as_mut(), &addr(1), Ready)?;
        let before = channel.pickers.len();
        policy.resolver_error(&Status::unavailable("dns down"), &mut channel);
        assert_eq!(
            channel.pickers.len(),
            before,
            "READY subchannels keep working"
        );
        channel.set_state(policy.as_mut(), &addr(1), TransientFailure)?;
        policy.resolver_error(&Status::unavailable("dns down again"), &mut channel);
        let status = failed_status(pick(channel.picker()?.as_ref()))?;
        assert!(status.message().contains("dns down again"));
        Ok(())
    }

    #[test]
    fn exit_idle_connects_idle_subchannels() -> TestResult {
        let mut channel = FakeController::default();
        let mut policy = policy();
        update(policy.as_mut(), &mut channel, &[1])?;
        policy.exit_idle(&mut channel);
        assert_eq!(connects(&channel.subchannel(&addr(1))?)?, 2);
        channel.set_state(policy.as_mut(), &addr(1), Connecting)?;
        policy.exit_idle(&mut channel);
        assert_eq!(connects(&channel.subchannel(&addr(1))?)?, 2);
        Ok(())
    }
}
