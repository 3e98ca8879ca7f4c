//! [`Picker`]: chooses a subchannel for each call.

use std::fmt;
use std::sync::Arc;

use grpc_core::{Extensions, Metadata, Status};

use crate::Subchannel;

/// What a picker knows about the call it picks for.
#[derive(Clone, Copy, Debug)]
pub struct PickInfo<'a> {
    /// The method, `/package.Service/Method`.
    pub path: &'a str,
    /// The request metadata (after interceptors).
    pub metadata: &'a Metadata,
    /// The request's extensions: [`CallOptions`](https://docs.rs/grpc-client), a
    /// [`RequestHash`], anything an interceptor put there.
    pub extensions: &'a Extensions,
}

/// A per-call hash key for hashing policies (`ring_hash`): calls with the same key go to
/// the same backend while the backend set is stable. Put it in the request's extensions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RequestHash(pub u64);

/// How a call ended, for a pick's [`Pick::on_complete`] callback (load reports, in-flight
/// counts).
#[derive(Clone, Copy, Debug)]
pub struct CallOutcome<'a> {
    /// The call's status (OK on success).
    pub status: &'a Status,
    /// The response trailers (empty if the call ended without them). Servers put ORCA
    /// load reports here (`endpoint-load-metrics-bin`).
    pub trailers: &'a Metadata,
}

/// Called once when a picked call ends, with its outcome.
pub type OnComplete = Box<dyn FnOnce(&CallOutcome<'_>) + Send>;

/// A successful pick.
pub struct Pick {
    /// Where the call goes. If it is not READY when the channel looks, the channel waits
    /// for the next picker instead.
    pub subchannel: Subchannel,
    /// Called when the call ends (or fails to start on this subchannel).
    pub on_complete: Option<OnComplete>,
}

impl Pick {
    /// A pick without a completion callback.
    pub fn new(subchannel: Subchannel) -> Pick {
        Pick {
            subchannel,
            on_complete: None,
        }
    }
}

impl fmt::Debug for Pick {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pick")
            .field("subchannel", &self.subchannel)
            .field("on_complete", &self.on_complete.is_some())
            .finish()
    }
}

/// A picker's answer.
#[derive(Debug)]
pub enum PickResult {
    /// Send the call on this subchannel.
    Pick(Pick),
    /// No subchannel yet: wait for the next picker (the policy is connecting).
    Queue,
    /// Fail the call with this status, unless it is wait-for-ready, in which case it waits
    /// for the next picker (what a TRANSIENT_FAILURE picker returns: UNAVAILABLE).
    Fail(Status),
    /// Fail the call with this status even if it is wait-for-ready (load shedding).
    Drop(Status),
}

/// Chooses a subchannel for each call. A policy publishes a new picker whenever its
/// choice changes; the channel swaps it in atomically and calls [`pick`](Picker::pick)
/// from many tasks at once without a lock, so a picker is immutable or uses atomics.
pub trait Picker: Send + Sync + 'static {
    /// Picks for one call. Must not block.
    fn pick(&self, info: &PickInfo<'_>) -> PickResult;
}

/// A picker that queues every call: for CONNECTING and IDLE.
#[derive(Clone, Copy, Debug, Default)]
pub struct QueuePicker;

impl Picker for QueuePicker {
    fn pick(&self, _: &PickInfo<'_>) -> PickResult {
        PickResult::Queue
    }
}

/// A picker that fails every call with one status: for TRANSIENT_FAILURE (wait-for-ready
/// calls keep waiting).
#[derive(Clone, Debug)]
pub struct FailPicker(pub Status);

impl Picker for FailPicker {
    fn pick(&self, _: &PickInfo<'_>) -> PickResult {
        PickResult::Fail(self.0.clone())
    }
}

/// A picker shared by the channel.
pub type SharedPicker = Arc<dyn Picker>;
