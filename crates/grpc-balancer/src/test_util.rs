//! Fakes for testing policies without a channel: subchannels whose state the test sets,
//! and a controller that records what the policy did.

use std::any::Any;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use grpc_balancer_api::{
    Address, ChannelController, ConnectivityState, Extensions, LbPolicy, LbPolicyOptions, Metadata,
    PickInfo, PickResult, Picker, Status, Subchannel, SubchannelHandle, SubchannelState,
    WorkScheduler,
};

/// What a test (or a test helper) returns: `Err` on a broken setup or an unexpected result.
pub(crate) type TestResult<T = ()> = Result<T, Box<dyn std::error::Error>>;

/// A subchannel that only counts `connect` calls, and flags its drop.
pub(crate) struct FakeSubchannel {
    pub(crate) address: Address,
    pub(crate) connects: AtomicUsize,
    /// Set when the last handle is dropped.
    pub(crate) dropped: Arc<AtomicBool>,
}

impl FakeSubchannel {
    /// A fake for `address`, never connected.
    pub(crate) fn new(address: Address) -> FakeSubchannel {
        FakeSubchannel {
            address,
            connects: AtomicUsize::new(0),
            dropped: Arc::new(AtomicBool::new(false)),
        }
    }
}

impl Drop for FakeSubchannel {
    fn drop(&mut self) {
        self.dropped.store(true, Ordering::Relaxed);
    }
}

impl SubchannelHandle for FakeSubchannel {
    fn address(&self) -> &Address {
        &self.address
    }
    fn connect(&self) {
        self.connects.fetch_add(1, Ordering::Relaxed);
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// Records subchannels created, pickers published and resolution requests.
#[derive(Default)]
pub(crate) struct FakeController {
    pub(crate) subchannels: Vec<Subchannel>,
    pub(crate) pickers: Vec<(ConnectivityState, Arc<dyn Picker>)>,
    pub(crate) resolution_requests: usize,
    /// Address and drop flag of every subchannel created, in order.
    pub(crate) drop_flags: Vec<(String, Arc<AtomicBool>)>,
}

impl ChannelController for FakeController {
    fn new_subchannel(&mut self, address: &Address) -> Subchannel {
        let fake = FakeSubchannel::new(address.clone());
        self.drop_flags
            .push((address.to_string(), fake.dropped.clone()));
        let subchannel = Subchannel::new(Arc::new(fake));
        self.subchannels.push(subchannel.clone());
        subchannel
    }
    fn update_picker(&mut self, state: ConnectivityState, picker: Arc<dyn Picker>) {
        self.pickers.push((state, picker));
    }
    fn request_resolution(&mut self) {
        self.resolution_requests += 1;
    }
}

impl FakeController {
    /// The state of the last published picker.
    pub(crate) fn state(&self) -> Option<ConnectivityState> {
        self.pickers.last().map(|(state, _)| *state)
    }

    /// The last published picker.
    pub(crate) fn picker(&self) -> TestResult<Arc<dyn Picker>> {
        match self.pickers.last() {
            Some((_, picker)) => Ok(picker.clone()),
            None => Err("no picker published".into()),
        }
    }

    /// The subchannel created for `address` (the latest, if several).
    pub(crate) fn subchannel(&self, address: &str) -> TestResult<Subchannel> {
        match self
            .subchannels
            .iter()
            .rev()
            .find(|s| s.address().to_string() == address)
        {
            Some(s) => Ok(s.clone()),
            None => Err(format!("no subchannel for {address}").into()),
        }
    }

    /// The states of all published pickers, in order.
    pub(crate) fn states(&self) -> Vec<ConnectivityState> {
        self.pickers.iter().map(|(state, _)| *state).collect()
    }

    /// Forgets the controller's own handles (subchannel records and old pickers, keeping
    /// the last picker), so that [`released`](Self::released) shows what the policy and
    /// its current picker still hold.
    pub(crate) fn forget_handles(&mut self) {
        self.subchannels.clear();
        let last = self.pickers.pop();
        self.pickers.clear();
        self.pickers.extend(last);
    }

    /// Whether every subchannel created for `address` has been dropped.
    pub(crate) fn released(&self, address: &str) -> bool {
        self.drop_flags
            .iter()
            .filter(|(a, _)| a == address)
            .all(|(_, dropped)| dropped.load(Ordering::Relaxed))
    }

    /// How many subchannels were created for `address`.
    pub(crate) fn created(&self, address: &str) -> usize {
        self.drop_flags.iter().filter(|(a, _)| a == address).count()
    }

    /// Sends `state` for `address`'s subchannel to `policy`.
    pub(crate) fn set_state(
        &mut self,
        policy: &mut dyn LbPolicy,
        address: &str,
        state: ConnectivityState,
    ) -> TestResult {
        let subchannel = self.subchannel(address)?;
        let state = match state {
            ConnectivityState::TransientFailure => {
                SubchannelState::failure(grpc_core::Status::unavailable("connection refused"))
            }
            other => SubchannelState::new(other),
        };
        policy.subchannel_update(&subchannel, &state, self);
        Ok(())
    }
}

/// How many `connect` calls `subchannel` got.
pub(crate) fn connects(subchannel: &Subchannel) -> TestResult<usize> {
    match subchannel.downcast_ref::<FakeSubchannel>() {
        Some(fake) => Ok(fake.connects.load(Ordering::Relaxed)),
        None => Err("not a fake subchannel".into()),
    }
}

/// Policy options with a scheduler that does nothing.
pub(crate) fn options() -> LbPolicyOptions {
    LbPolicyOptions::new(WorkScheduler::new(|| {}))
}

/// `127.0.0.1:{port}`.
pub(crate) fn addr(port: u16) -> String {
    format!("127.0.0.1:{port}")
}

/// The status of a `Fail` result; an error on anything else.
pub(crate) fn failed_status(result: PickResult) -> TestResult<Status> {
    match result {
        PickResult::Fail(status) => Ok(status),
        other => Err(format!("expected a failure, got {other:?}").into()),
    }
}

/// Addresses `127.0.0.1:{port}` for each port.
pub(crate) fn addresses(ports: &[u16]) -> Vec<Address> {
    ports
        .iter()
        .map(|port| Address::from(std::net::SocketAddr::from(([127, 0, 0, 1], *port))))
        .collect()
}

/// Picks once with empty metadata and extensions; the picked address, or the result.
pub(crate) fn pick(picker: &dyn Picker) -> PickResult {
    let metadata = Metadata::new();
    let extensions = Extensions::new();
    picker.pick(&PickInfo {
        path: "/test.Service/Method",
        metadata: &metadata,
        extensions: &extensions,
    })
}

/// The address a pick chose; an error on queue or failure.
pub(crate) fn picked_address(result: PickResult) -> TestResult<String> {
    match result {
        PickResult::Pick(pick) => Ok(pick.subchannel.address().to_string()),
        other => Err(format!("expected a pick, got {other:?}").into()),
    }
}

/// A place for completion callbacks to record into.
#[allow(dead_code)]
pub(crate) type Log = Arc<Mutex<Vec<String>>>;

/// Sends `policy` a resolver update with `127.0.0.1:{port}` for each of `ports`, no config.
pub(crate) fn update(
    policy: &mut dyn LbPolicy,
    channel: &mut FakeController,
    ports: &[u16],
) -> Result<(), grpc_balancer_api::Status> {
    policy.resolver_update(
        &grpc_balancer_api::ResolverState::from_addresses(addresses(ports)),
        None,
        channel,
    )
}
