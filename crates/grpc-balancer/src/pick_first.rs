//! `pick_first` (gRFC A62): connect to the addresses one at a time, in order, and send
//! every call to the first one that becomes READY.
//!
//! The policy moves through these modes:
//!
//! - **First pass** (publishes CONNECTING, unless it is already in TRANSIENT_FAILURE): it
//!   connects the first address; when that fails it moves to the next, and so on. A
//!   subchannel that failed keeps retrying on its own backoff meanwhile, so whichever
//!   subchannel becomes READY first wins, even an earlier one.
//! - **Sticky TRANSIENT_FAILURE**: once every address has failed, the policy reports
//!   TRANSIENT_FAILURE (calls fail with UNAVAILABLE naming the last error) and asks for
//!   re-resolution. It stays there while the subchannels retry on their own, asking for
//!   re-resolution again after as many failures as there are addresses, until one is READY
//!   (gRFC A62, "Use sticky-TF by default"; the failure counting follows gRFC A61's
//!   pick_first).
//! - **Selected**: the first READY subchannel is published with a picker that always
//!   returns it; every other subchannel is dropped. A resolver update that still contains
//!   the selected address keeps it without reconnecting; one that does not starts a new
//!   first pass.
//! - **Idle**: when the selected connection is lost (READY -> IDLE) the policy publishes
//!   IDLE and asks for re-resolution; the channel calls `exit_idle` on the next call, and
//!   a new first pass starts from the first address.
//!
//! Config: `{"shuffleAddressList": bool}` (gRFC A62, "Enable random shuffling of address
//! list"): when true, each resolver update's addresses are shuffled before use.

use std::sync::Arc;

use grpc_balancer_api::{
    Address, ChannelController, ConnectivityState, FailPicker, LbConfig, LbPolicy, LbPolicyBuilder,
    LbPolicyOptions, Pick, PickInfo, PickResult, Picker, QueuePicker, ResolverState, Status,
    Subchannel, SubchannelState,
};

use crate::PICK_FIRST;
use crate::rng;
use crate::subchannel_list::SubchannelList;

/// The parsed `pick_first` config (gRFC A62).
///
/// ```json
/// { "loadBalancingConfig": [ { "pick_first": { "shuffleAddressList": true } } ] }
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PickFirstConfig {
    /// Shuffle each resolver update's addresses (uniformly at random) before trying them.
    pub shuffle_address_list: bool,
}

/// Builds `pick_first` policies (gRFC A62): one connection, to the first address that
/// works, with sticky TRANSIENT_FAILURE when none does.
///
/// Config: `{"shuffleAddressList": bool}` (optional, default false). Other fields are
/// ignored; a `shuffleAddressList` that is not a boolean makes the config invalid.
///
/// ```
/// use grpc_balancer_api::LbPolicyBuilder;
/// use grpc_balancer::{PickFirstBuilder, PickFirstConfig};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let builder = PickFirstBuilder::new();
/// assert_eq!(builder.name(), "pick_first");
/// let config = builder
///     .parse_config(&serde_json::json!({"shuffleAddressList": true}))?
///     .ok_or("a config")?;
/// let config = config.downcast_ref::<PickFirstConfig>().ok_or("a PickFirstConfig")?;
/// assert!(config.shuffle_address_list);
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct PickFirstBuilder;

impl PickFirstBuilder {
    /// A builder.
    pub fn new() -> PickFirstBuilder {
        PickFirstBuilder
    }
}

impl LbPolicyBuilder for PickFirstBuilder {
    fn name(&self) -> &str {
        PICK_FIRST
    }

    fn build(&self, _options: LbPolicyOptions) -> Box<dyn LbPolicy> {
        Box::new(PickFirst::new())
    }

    fn parse_config(&self, config: &serde_json::Value) -> Result<Option<LbConfig>, String> {
        let object = config
            .as_object()
            .ok_or_else(|| format!("{PICK_FIRST} config must be a JSON object"))?;
        let shuffle_address_list = match object.get("shuffleAddressList") {
            None | Some(serde_json::Value::Null) => false,
            Some(serde_json::Value::Bool(shuffle)) => *shuffle,
            Some(other) => {
                return Err(format!(
                    "{PICK_FIRST}: shuffleAddressList must be a boolean, got {other}"
                ));
            }
        };
        Ok(Some(LbConfig::new(PickFirstConfig {
            shuffle_address_list,
        })))
    }
}

/// Where the policy is (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// Not connecting: before the first addresses, after an empty list, or after the
    /// selected connection was lost (then IDLE is published and `exit_idle` restarts).
    Idle,
    /// Trying the entry at this index of the list.
    FirstPass(usize),
    /// Every address failed; waiting for any to become READY. Counts failures since the
    /// last re-resolution request.
    StickyFailure(usize),
    /// The list holds only the selected, READY subchannel.
    Selected,
}

struct PickFirst {
    /// The latest resolver addresses (shuffled if configured), for restarts.
    addresses: Vec<Address>,
    list: SubchannelList<()>,
    mode: Mode,
    /// The last state published, `None` before the first.
    published: Option<ConnectivityState>,
    /// The message of the last TRANSIENT_FAILURE picker, to skip identical republishing.
    failure_message: String,
}

impl PickFirst {
    fn new() -> PickFirst {
        PickFirst {
            addresses: Vec::new(),
            list: SubchannelList::new(),
            mode: Mode::Idle,
            published: None,
            failure_message: String::new(),
        }
    }

    fn publish(
        &mut self,
        channel: &mut dyn ChannelController,
        state: ConnectivityState,
        picker: Arc<dyn Picker>,
    ) {
        tracing::debug!(policy = PICK_FIRST, %state, "publishing picker");
        self.published = Some(state);
        channel.update_picker(state, picker);
    }

    fn publish_failure(&mut self, channel: &mut dyn ChannelController, status: Status) {
        self.failure_message = status.message().to_owned();
        self.publish(
            channel,
            ConnectivityState::TransientFailure,
            Arc::new(FailPicker(status)),
        );
    }

    /// The status calls fail with once every address failed: UNAVAILABLE, naming the last
    /// connection error.
    fn failure_status(&self) -> Status {
        match self.list.last_error() {
            Some(error) => Status::unavailable(format!(
                "{PICK_FIRST}: failed to connect to all {} addresses; last error: {error}",
                self.list.len()
            )),
            None => Status::unavailable(format!(
                "{PICK_FIRST}: failed to connect to all {} addresses",
                self.list.len()
            )),
        }
    }

    /// Starts a first pass over `self.addresses`, reusing subchannels of addresses that
    /// stay.
    fn start_over(&mut self, channel: &mut dyn ChannelController) {
        let removed = self.list.update(&self.addresses, channel, |_| ());
        drop(removed);
        // Sticky TRANSIENT_FAILURE (gRFC A62): a new pass does not leave TF; only READY
        // does.
        if !matches!(
            self.published,
            Some(ConnectivityState::TransientFailure | ConnectivityState::Connecting)
        ) {
            self.publish(
                channel,
                ConnectivityState::Connecting,
                Arc::new(QueuePicker),
            );
        }
        self.try_from(0, false, channel);
    }

    /// Continues the first pass at `index`: connects the first entry that can still be
    /// tried, skipping those that already failed; when none is left, enters sticky
    /// TRANSIENT_FAILURE.
    ///
    /// `after_failure` says a connection attempt just failed. Only then does the end of the
    /// pass ask for re-resolution: a pass that ends at once because a resolver update
    /// brought only addresses that already failed must not ask again, or a resolver that
    /// answers every request with the same addresses would loop with us.
    fn try_from(&mut self, index: usize, after_failure: bool, channel: &mut dyn ChannelController) {
        let next =
            self.list
                .entries()
                .iter()
                .enumerate()
                .skip(index)
                .find_map(|(i, entry)| match (entry.reported_state(), entry.state()) {
                    (ConnectivityState::Ready, _) => Some((i, ConnectivityState::Ready)),
                    (ConnectivityState::Idle, _) => Some((i, ConnectivityState::Idle)),
                    // Connecting for the first time (not a retry after a failure): wait.
                    (ConnectivityState::Connecting, ConnectivityState::Connecting) => {
                        Some((i, ConnectivityState::Connecting))
                    }
                    // Failed (possibly retrying already) or shut down: next.
                    _ => None,
                });
        match next {
            Some((i, ConnectivityState::Ready)) => return self.select(i, channel),
            Some((i, state)) => {
                if state == ConnectivityState::Idle {
                    if let Some(entry) = self.list.get(i) {
                        entry.subchannel().connect();
                    }
                }
                self.mode = Mode::FirstPass(i);
                return;
            }
            None => {}
        }
        tracing::debug!(
            policy = PICK_FIRST,
            addresses = self.list.len(),
            "all addresses failed"
        );
        self.mode = Mode::StickyFailure(0);
        let status = self.failure_status();
        if self.published != Some(ConnectivityState::TransientFailure)
            || status.message() != self.failure_message
        {
            self.publish_failure(channel, status);
        }
        if after_failure {
            channel.request_resolution();
        }
    }

    /// Selects the entry at `index`: READY picker, every other subchannel dropped.
    fn select(&mut self, index: usize, channel: &mut dyn ChannelController) {
        let Some(subchannel) = self.list.get(index).map(|e| e.subchannel().clone()) else {
            return;
        };
        self.list.retain(|entry| *entry.subchannel() == subchannel);
        self.mode = Mode::Selected;
        self.publish(
            channel,
            ConnectivityState::Ready,
            Arc::new(PickFirstPicker(subchannel)),
        );
    }
}

impl LbPolicy for PickFirst {
    fn resolver_update(
        &mut self,
        state: &ResolverState,
        config: Option<&LbConfig>,
        channel: &mut dyn ChannelController,
    ) -> Result<(), Status> {
        let shuffle = config
            .and_then(|c| c.downcast_ref::<PickFirstConfig>())
            .is_some_and(|c| c.shuffle_address_list);
        let mut addresses = state.addresses.clone();
        if shuffle {
            // gRFC A62, "Enable random shuffling of address list".
            rng::shuffle(&mut addresses);
        }
        if addresses.is_empty() {
            self.addresses.clear();
            self.list.clear();
            self.mode = Mode::Idle;
            let status =
                Status::unavailable(format!("{PICK_FIRST}: resolver returned no addresses"));
            self.publish_failure(channel, status.clone());
            return Err(status);
        }
        self.addresses = addresses;
        match self.mode {
            Mode::Selected => {
                let kept = self.list.entries().first().is_some_and(|selected| {
                    self.addresses
                        .iter()
                        .any(|a| a.addr == selected.address().addr)
                });
                if kept {
                    // Keep the connection; the new list is used if it is ever lost.
                    return Ok(());
                }
                self.start_over(channel);
            }
            Mode::Idle if self.published == Some(ConnectivityState::Idle) => {
                // Stay IDLE until a call arrives; forget subchannels of removed addresses.
                let addresses = &self.addresses;
                self.list
                    .retain(|entry| addresses.iter().any(|a| a.addr == entry.address().addr));
            }
            Mode::Idle | Mode::FirstPass(_) | Mode::StickyFailure(_) => self.start_over(channel),
        }
        Ok(())
    }

    fn resolver_error(&mut self, error: &Status, channel: &mut dyn ChannelController) {
        // Without addresses, or with none working, calls fail with the resolver's error;
        // otherwise keep what we have.
        if self.addresses.is_empty() || self.published == Some(ConnectivityState::TransientFailure)
        {
            let status = Status::new(
                error.code(),
                format!("{PICK_FIRST}: name resolver error: {}", error.message()),
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
        match self.mode {
            Mode::Selected => {
                if transition.current != ConnectivityState::Ready {
                    // The connection is lost: go IDLE and reconnect on the next call.
                    tracing::debug!(policy = PICK_FIRST, address = %subchannel.address(), "selected connection lost");
                    self.mode = Mode::Idle;
                    self.publish(channel, ConnectivityState::Idle, Arc::new(QueuePicker));
                    channel.request_resolution();
                }
            }
            Mode::FirstPass(current) => match transition.current {
                // The first READY wins, whichever it is.
                ConnectivityState::Ready => self.select(transition.index, channel),
                ConnectivityState::TransientFailure if transition.index == current => {
                    self.try_from(current + 1, true, channel);
                }
                ConnectivityState::Idle if transition.index == current => subchannel.connect(),
                _ => {}
            },
            Mode::StickyFailure(failures) => match transition.current {
                ConnectivityState::Ready => self.select(transition.index, channel),
                ConnectivityState::TransientFailure => {
                    let failures = failures + 1;
                    if failures >= self.list.len() {
                        channel.request_resolution();
                        self.mode = Mode::StickyFailure(0);
                    } else {
                        self.mode = Mode::StickyFailure(failures);
                    }
                    let status = self.failure_status();
                    if status.message() != self.failure_message {
                        self.publish_failure(channel, status);
                    }
                }
                // Keep trying every address until one connects (gRFC A62).
                ConnectivityState::Idle => subchannel.connect(),
                _ => {}
            },
            Mode::Idle => {
                if transition.current == ConnectivityState::Ready && self.published.is_some() {
                    self.select(transition.index, channel);
                }
            }
        }
    }

    fn exit_idle(&mut self, channel: &mut dyn ChannelController) {
        if self.mode == Mode::Idle && !self.addresses.is_empty() {
            self.start_over(channel);
        }
    }
}

/// Sends every call to the selected subchannel.
struct PickFirstPicker(Subchannel);

impl Picker for PickFirstPicker {
    fn pick(&self, _info: &PickInfo<'_>) -> PickResult {
        PickResult::Pick(Pick::new(self.0.clone()))
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
    use serde_json::json;

    fn policy() -> Box<dyn LbPolicy> {
        PickFirstBuilder::new().build(options())
    }

    fn connects_to(channel: &FakeController, port: u16) -> TestResult<usize> {
        connects(&channel.subchannel(&addr(port))?)
    }

    #[test]
    fn connects_in_order_and_first_ready_wins() -> TestResult {
        let mut channel = FakeController::default();
        let mut policy = policy();
        update(policy.as_mut(), &mut channel, &[1, 2, 3])?;
        assert_eq!(channel.state(), Some(Connecting));
        assert!(matches!(
            pick(channel.picker()?.as_ref()),
            PickResult::Queue
        ));
        assert_eq!(connects_to(&channel, 1)?, 1);
        assert_eq!(
            (connects_to(&channel, 2)?, connects_to(&channel, 3)?),
            (0, 0)
        );
        channel.set_state(policy.as_mut(), &addr(1), Connecting)?;
        channel.set_state(policy.as_mut(), &addr(1), TransientFailure)?;
        assert_eq!(connects_to(&channel, 2)?, 1, "moves to the next address");
        assert_eq!(
            channel.state(),
            Some(Connecting),
            "not TF before all failed"
        );
        channel.set_state(policy.as_mut(), &addr(2), Connecting)?;
        channel.set_state(policy.as_mut(), &addr(2), Ready)?;
        assert_eq!(channel.state(), Some(Ready));
        assert_eq!(connects_to(&channel, 3)?, 0);
        let picker = channel.picker()?;
        for _ in 0..3 {
            assert_eq!(picked_address(pick(picker.as_ref()))?, addr(2));
        }
        assert_eq!(channel.resolution_requests, 0);
        // The others are dropped.
        drop(picker);
        channel.forget_handles();
        assert!(channel.released(&addr(1)) && channel.released(&addr(3)));
        assert!(!channel.released(&addr(2)));
        Ok(())
    }

    #[test]
    fn an_earlier_subchannel_retrying_can_win() -> TestResult {
        let mut channel = FakeController::default();
        let mut policy = policy();
        update(policy.as_mut(), &mut channel, &[1, 2])?;
        channel.set_state(policy.as_mut(), &addr(1), TransientFailure)?;
        channel.set_state(policy.as_mut(), &addr(2), Connecting)?;
        // 1 retries on its own backoff and connects first.
        channel.set_state(policy.as_mut(), &addr(1), Connecting)?;
        channel.set_state(policy.as_mut(), &addr(1), Ready)?;
        assert_eq!(channel.state(), Some(Ready));
        assert_eq!(picked_address(pick(channel.picker()?.as_ref()))?, addr(1));
        // 2's late report is ignored: it is no longer ours.
        let before = channel.pickers.len();
        channel.set_state(policy.as_mut(), &addr(2), Ready)?;
        assert_eq!(channel.pickers.len(), before);
        Ok(())
    }

    #[test]
    fn all_failed_is_sticky_transient_failure_until_ready() -> TestResult {
        let mut channel = FakeController::default();
        let mut policy = policy();
        update(policy.as_mut(), &mut channel, &[1, 2])?;
        channel.set_state(policy.as_mut(), &addr(1), TransientFailure)?;
        channel.set_state(policy.as_mut(), &addr(2), TransientFailure)?;
        assert_eq!(channel.state(), Some(TransientFailure));
        assert_eq!(channel.resolution_requests, 1);
        let status = failed_status(pick(channel.picker()?.as_ref()))?;
        assert_eq!(status.code(), grpc_core::Code::Unavailable);
        assert!(status.message().contains("connection refused"), "{status}");
        assert!(status.message().contains("all 2 addresses"), "{status}");
        // Retrying: still TF, nothing new published.
        let published = channel.pickers.len();
        channel.set_state(policy.as_mut(), &addr(1), Connecting)?;
        channel.set_state(policy.as_mut(), &addr(2), Connecting)?;
        assert_eq!(channel.pickers.len(), published);
        // One failure per address asks for re-resolution again.
        channel.set_state(policy.as_mut(), &addr(1), TransientFailure)?;
        assert_eq!(channel.resolution_requests, 1);
        channel.set_state(policy.as_mut(), &addr(2), TransientFailure)?;
        assert_eq!(channel.resolution_requests, 2);
        assert_eq!(channel.state(), Some(TransientFailure));
        channel.set_state(policy.as_mut(), &addr(2), Connecting)?;
        channel.set_state(policy.as_mut(), &addr(2), Ready)?;
        assert_eq!(channel.state(), Some(Ready));
        assert_eq!(picked_address(pick(channel.picker()?.as_ref()))?, addr(2));
        assert!(!channel.states().contains(&Idle));
        Ok(())
    }

    #[test]
    fn failure_picker_follows_the_latest_error() -> TestResult {
        let mut channel = FakeController::default();
        let mut policy = policy();
        update(policy.as_mut(), &mut channel, &[1])?;
        channel.set_state(policy.as_mut(), &addr(1), TransientFailure)?;
        let one = channel.subchannel(&addr(1))?;
        policy.subchannel_update(
            &one,
            &SubchannelState::failure(Status::unavailable("handshake timed out")),
            &mut channel,
        );
        let status = failed_status(pick(channel.picker()?.as_ref()))?;
        assert!(status.message().contains("handshake timed out"), "{status}");
        Ok(())
    }

    #[test]
    fn update_keeps_the_selected_subchannel_if_present() -> TestResult {
        let mut channel = FakeController::default();
        let mut policy = policy();
        update(policy.as_mut(), &mut channel, &[1, 2])?;
        channel.set_state(policy.as_mut(), &addr(1), Ready)?;
        let published = channel.pickers.len();
        update(policy.as_mut(), &mut channel, &[3, 1])?;
        assert_eq!(channel.pickers.len(), published, "nothing changes");
        assert_eq!(connects_to(&channel, 1)?, 1, "no reconnect");
        assert_eq!(
            channel.created(&addr(3)),
            0,
            "no new subchannels while selected"
        );
        assert_eq!(picked_address(pick(channel.picker()?.as_ref()))?, addr(1));
        Ok(())
    }

    #[test]
    fn update_without_the_selected_address_starts_over() -> TestResult {
        let mut channel = FakeController::default();
        let mut policy = policy();
        update(policy.as_mut(), &mut channel, &[1])?;
        channel.set_state(policy.as_mut(), &addr(1), Ready)?;
        update(policy.as_mut(), &mut channel, &[2, 3])?;
        assert_eq!(channel.state(), Some(Connecting));
        assert_eq!(connects_to(&channel, 2)?, 1);
        assert_eq!(connects_to(&channel, 3)?, 0);
        channel.set_state(policy.as_mut(), &addr(2), Ready)?;
        assert_eq!(picked_address(pick(channel.picker()?.as_ref()))?, addr(2));
        channel.forget_handles();
        assert!(channel.released(&addr(1)));
        Ok(())
    }

    #[test]
    fn update_during_a_pass_reuses_subchannels_and_restarts() -> TestResult {
        let mut channel = FakeController::default();
        let mut policy = policy();
        update(policy.as_mut(), &mut channel, &[1, 2])?;
        channel.set_state(policy.as_mut(), &addr(1), TransientFailure)?;
        channel.set_state(policy.as_mut(), &addr(2), Connecting)?;
        // A new list puts 3 first.
        update(policy.as_mut(), &mut channel, &[3, 2, 1])?;
        assert_eq!(channel.created(&addr(2)), 1, "reused");
        assert_eq!(connects_to(&channel, 3)?, 1);
        channel.set_state(policy.as_mut(), &addr(3), TransientFailure)?;
        // 2 is still in its first attempt: wait for it, do not connect again.
        assert_eq!(connects_to(&channel, 2)?, 1);
        channel.set_state(policy.as_mut(), &addr(2), TransientFailure)?;
        // 1 already failed: the pass is over.
        assert_eq!(channel.state(), Some(TransientFailure));
        assert_eq!(connects_to(&channel, 1)?, 1);
        // A new update while TF stays TF (sticky) and tries again.
        let before = channel.pickers.len();
        update(policy.as_mut(), &mut channel, &[4, 1])?;
        assert_eq!(
            channel.pickers.len(),
            before,
            "no CONNECTING while sticky TF"
        );
        assert_eq!(connects_to(&channel, 4)?, 1);
        channel.set_state(policy.as_mut(), &addr(4), Ready)?;
        assert_eq!(channel.state(), Some(Ready));
        Ok(())
    }

    #[test]
    fn update_with_only_failed_addresses_does_not_loop() -> TestResult {
        let mut channel = FakeController::default();
        let mut policy = policy();
        update(policy.as_mut(), &mut channel, &[1, 2])?;
        channel.set_state(policy.as_mut(), &addr(1), TransientFailure)?;
        channel.set_state(policy.as_mut(), &addr(2), TransientFailure)?;
        channel.set_state(policy.as_mut(), &addr(1), Connecting)?;
        assert_eq!(channel.resolution_requests, 1);
        let published = channel.pickers.len();
        // The resolver answers the request with the same addresses.
        update(policy.as_mut(), &mut channel, &[2, 1])?;
        assert_eq!(channel.resolution_requests, 1, "no new request");
        assert_eq!(channel.pickers.len(), published, "still the same TF picker");
        assert_eq!(channel.created(&addr(1)), 1, "subchannels reused");
        // Subchannels keep retrying; the first READY wins.
        channel.set_state(policy.as_mut(), &addr(1), Ready)?;
        assert_eq!(channel.state(), Some(Ready));
        Ok(())
    }

    #[test]
    fn lost_connection_goes_idle_and_reconnects_on_exit_idle() -> TestResult {
        let mut channel = FakeController::default();
        let mut policy = policy();
        update(policy.as_mut(), &mut channel, &[1, 2])?;
        channel.set_state(policy.as_mut(), &addr(1), TransientFailure)?;
        channel.set_state(policy.as_mut(), &addr(2), Ready)?;
        channel.set_state(policy.as_mut(), &addr(2), Idle)?;
        assert_eq!(channel.state(), Some(Idle));
        assert!(matches!(
            pick(channel.picker()?.as_ref()),
            PickResult::Queue
        ));
        assert_eq!(channel.resolution_requests, 1);
        assert_eq!(
            connects_to(&channel, 2)?,
            1,
            "no reconnect until a call arrives"
        );
        policy.exit_idle(&mut channel);
        assert_eq!(channel.state(), Some(Connecting));
        // Starts from the first address again, with a new subchannel for 1.
        assert_eq!(channel.created(&addr(1)), 2);
        assert_eq!(connects_to(&channel, 1)?, 1);
        channel.set_state(policy.as_mut(), &addr(1), TransientFailure)?;
        assert_eq!(
            connects_to(&channel, 2)?,
            2,
            "the old subchannel of 2 is reused"
        );
        assert_eq!(channel.created(&addr(2)), 1);
        channel.set_state(policy.as_mut(), &addr(2), Ready)?;
        assert_eq!(channel.state(), Some(Ready));
        Ok(())
    }

    #[test]
    fn update_while_idle_stays_idle() -> TestResult {
        let mut channel = FakeController::default();
        let mut policy = policy();
        update(policy.as_mut(), &mut channel, &[1])?;
        channel.set_state(policy.as_mut(), &addr(1), Ready)?;
        channel.set_state(policy.as_mut(), &addr(1), Idle)?;
        update(policy.as_mut(), &mut channel, &[2])?;
        assert_eq!(channel.state(), Some(Idle));
        assert_eq!(channel.created(&addr(2)), 0);
        channel.forget_handles();
        assert!(channel.released(&addr(1)));
        policy.exit_idle(&mut channel);
        assert_eq!(connects_to(&channel, 2)?, 1);
        Ok(())
    }

    #[test]
    fn empty_address_list_is_an_error() -> TestResult {
        let mut channel = FakeController::default();
        let mut policy = policy();
        update(policy.as_mut(), &mut channel, &[1])?;
        channel.set_state(policy.as_mut(), &addr(1), Ready)?;
        let err = update(policy.as_mut(), &mut channel, &[])
            .err()
            .ok_or("an empty address list was accepted")?;
        assert!(err.message().contains("no addresses"));
        assert_eq!(channel.state(), Some(TransientFailure));
        let status = failed_status(pick(channel.picker()?.as_ref()))?;
        assert!(status.message().contains("no addresses"));
        channel.forget_handles();
        assert!(channel.released(&addr(1)));
        // Addresses come back: still TF (sticky) until READY.
        update(policy.as_mut(), &mut channel, &[1])?;
        assert_eq!(channel.state(), Some(TransientFailure));
        channel.set_state(policy.as_mut(), &addr(1), Ready)?;
        assert_eq!(channel.state(), Some(Ready));
        Ok(())
    }

    #[test]
    fn resolver_errors() -> TestResult {
        let mut channel = FakeController::default();
        let mut policy = policy();
        policy.resolver_error(&Status::unavailable("no such host"), &mut channel);
        assert_eq!(channel.state(), Some(TransientFailure));
        let status = failed_status(pick(channel.picker()?.as_ref()))?;
        assert_eq!(status.code(), grpc_core::Code::Unavailable);
        assert!(status.message().contains("no such host"));
        // With a connection, resolver errors change nothing.
        update(policy.as_mut(), &mut channel, &[1])?;
        channel.set_state(policy.as_mut(), &addr(1), Ready)?;
        let before = channel.pickers.len();
        policy.resolver_error(&Status::unavailable("no such host"), &mut channel);
        assert_eq!(channel.pickers.len(), before);
        // Connecting: no change either.
        update(policy.as_mut(), &mut channel, &[2])?;
        let before = channel.pickers.len();
        policy.resolver_error(&Status::unavailable("no such host"), &mut channel);
        assert_eq!(channel.pickers.len(), before);
        // In TF, the resolver's error replaces the connection error.
        channel.set_state(policy.as_mut(), &addr(2), TransientFailure)?;
        policy.resolver_error(&Status::unavailable("dns timeout"), &mut channel);
        let status = failed_status(pick(channel.picker()?.as_ref()))?;
        assert!(status.message().contains("dns timeout"));
        Ok(())
    }

    #[test]
    fn shuffle_config() -> TestResult {
        use crate::rng::seed_for_test;
        let builder = PickFirstBuilder::new();
        let config = builder
            .parse_config(&json!({"shuffleAddressList": true}))?
            .ok_or("no config")?;
        let ports: Vec<u16> = (1..=8).collect();
        seed_for_test(3);
        let mut firsts = std::collections::HashSet::new();
        for _ in 0..20 {
            let mut channel = FakeController::default();
            let mut policy = policy();
            policy.resolver_update(
                &ResolverState::from_addresses(addresses(&ports)),
                Some(&config),
                &mut channel,
            )?;
            assert_eq!(channel.subchannels.len(), 8, "every address is used");
            let mut connected = Vec::new();
            for s in &channel.subchannels {
                if connects(s)? == 1 {
                    connected.push(s);
                }
            }
            assert_eq!(connected.len(), 1);
            firsts.insert(connected[0].address().to_string());
        }
        assert!(firsts.len() > 1, "shuffled: {firsts:?}");
        // Without shuffling, always the first.
        let off = builder.parse_config(&json!({"shuffleAddressList": false}))?;
        for _ in 0..5 {
            let mut channel = FakeController::default();
            let mut policy = policy();
            policy.resolver_update(
                &ResolverState::from_addresses(addresses(&ports)),
                off.as_ref(),
                &mut channel,
            )?;
            assert_eq!(connects_to(&channel, 1)?, 1);
        }
        Ok(())
    }

    #[test]
    fn config_parsing() -> TestResult {
        let builder = PickFirstBuilder::new();
        let parse = |v: serde_json::Value| {
            builder
                .parse_config(&v)
                .map(|c| c.and_then(|c| c.downcast_ref::<PickFirstConfig>().copied()))
        };
        assert_eq!(parse(json!({})), Ok(Some(PickFirstConfig::default())));
        assert_eq!(
            parse(json!({"shuffleAddressList": true, "other": 1})),
            Ok(Some(PickFirstConfig {
                shuffle_address_list: true
            }))
        );
        assert!(parse(json!({"shuffleAddressList": "yes"})).is_err());
        assert!(parse(json!({"shuffleAddressList": 1})).is_err());
        assert!(parse(json!([true])).is_err());
        assert!(parse(json!(null)).is_err());
        Ok(())
    }

    #[test]
    fn duplicate_addresses_are_tried_once() -> TestResult {
        let mut channel = FakeController::default();
        let mut policy = policy();
        update(policy.as_mut(), &mut channel, &[1, 1, 2])?;
        assert_eq!(channel.subchannels.len(), 2);
        channel.set_state(policy.as_mut(), &addr(1), TransientFailure)?;
        channel.set_state(policy.as_mut(), &addr(2), TransientFailure)?;
        assert_eq!(channel.state(), Some(TransientFailure));
        Ok(())
    }
}
