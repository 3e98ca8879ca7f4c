//! Connectivity states (gRPC's `connectivity-semantics-and-api.md`).

use std::fmt;

use grpc_core::Status;

/// The connectivity state of a channel or a subchannel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ConnectivityState {
    /// Not connected and not trying; the next call (or `connect`) starts connecting.
    Idle,
    /// A connection attempt is in progress.
    Connecting,
    /// Connected: calls go out at once.
    Ready,
    /// The last attempt failed; another follows after the backoff. Calls that are not
    /// wait-for-ready fail with UNAVAILABLE.
    TransientFailure,
    /// Closed for good: calls fail with UNAVAILABLE (a channel only).
    Shutdown,
}

impl fmt::Display for ConnectivityState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ConnectivityState::Idle => "IDLE",
            ConnectivityState::Connecting => "CONNECTING",
            ConnectivityState::Ready => "READY",
            ConnectivityState::TransientFailure => "TRANSIENT_FAILURE",
            ConnectivityState::Shutdown => "SHUTDOWN",
        })
    }
}

/// A subchannel's state as reported to its policy.
#[derive(Clone, Debug)]
pub struct SubchannelState {
    /// The connectivity state.
    pub state: ConnectivityState,
    /// Why the last connection attempt failed (set in TRANSIENT_FAILURE).
    pub error: Option<Status>,
}

impl SubchannelState {
    /// A state without an error.
    pub fn new(state: ConnectivityState) -> SubchannelState {
        SubchannelState { state, error: None }
    }

    /// TRANSIENT_FAILURE with its error.
    pub fn failure(error: Status) -> SubchannelState {
        SubchannelState {
            state: ConnectivityState::TransientFailure,
            error: Some(error),
        }
    }
}
