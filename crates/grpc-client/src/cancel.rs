//! Cancelling a call: RST_STREAM CANCEL, sent whenever a call ends on our side before the
//! server finished it (PROTOCOL-HTTP2.md: a client cancels with RST_STREAM CANCEL, and so on
//! deadline expiry).
//!
//! The transport already resets with CANCEL when an unfinished `SendStream` is dropped. That
//! is not enough: once the request is complete (END_STREAM sent, as in every unary call), a
//! dropped `SendStream` does nothing and a dropped `RecvStream` resets with NO_ERROR ("stop
//! sending", RFC 9113 §8.1), which a server does not take as a cancellation. So whoever
//! holds the receiving half of a call also keeps a way to reset it:
//!
//! - [`Canceller::Owned`]: the receiving side owns the finished `SendStream` (unary and
//!   server-streaming calls) and resets through it.
//! - [`Canceller::Shared`]: the sending half lives elsewhere (a [`RequestSink`](
//!   crate::RequestSink) of a client-streaming or bidi call). The two halves meet in a
//!   [`SendSlot`]: once the sink has half-closed it parks its `SendStream` there, and the
//!   receiving side resets through it. While the sink is still open, dropping the
//!   `RecvStream` is enough (the transport resets an open stream with CANCEL); while the
//!   sink is in the middle of half-closing, the receiving side leaves its `RecvStream` in
//!   the slot for the sink to drop after resetting, so the reset always comes first.
//!
//! The reset is queued before the `RecvStream` is dropped, and commands reach the connection
//! in order, so the server always sees CANCEL.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use grpc_transport::ErrorCode;
use grpc_transport::driver::{RecvStream, SendStream};

use crate::stream_retry::StreamRetry;

/// How the receiving side of a call cancels it.
#[derive(Debug)]
pub(crate) enum Canceller {
    /// The call's finished sending half.
    Owned(SendStream),
    /// The sending half belongs to a request sink.
    Shared(Arc<SendSlot>),
    /// A retried streaming call: the current attempt's sending half is in the shared
    /// retry state (`stream_retry.rs`).
    Retry(Arc<StreamRetry>),
}

impl Canceller {
    /// Whether the request sink cancelled the call (its reset then reaches the receiving
    /// side as a transport error).
    pub(crate) fn cancelled_by_sender(&self) -> bool {
        match self {
            Canceller::Owned(_) => false,
            Canceller::Shared(slot) => slot.is_cancelled_by_either(),
            Canceller::Retry(retry) => retry.cancelled_by_sender(),
        }
    }

    /// Resets the stream with CANCEL (if it is still open), then drops `recv`.
    pub(crate) fn cancel(&mut self, recv: Option<RecvStream>) {
        match self {
            Canceller::Owned(send) => {
                send.reset(ErrorCode::CANCEL);
                drop(recv);
            }
            Canceller::Shared(slot) => slot.receiver_gone(recv),
            Canceller::Retry(retry) => {
                retry.receiver_gone();
                drop(recv);
            }
        }
    }
}

/// Where a request sink and the receiving side of its call meet (see the module docs).
#[derive(Debug, Default)]
pub(crate) struct SendSlot {
    state: Mutex<SlotState>,
}

#[derive(Debug, Default)]
struct SlotState {
    /// The sink's `SendStream` after it half-closed.
    parked: Option<SendStream>,
    /// The sink is sending END_STREAM right now.
    closing: bool,
    /// The receiving side cancelled the call (dropped early, deadline, local error).
    receiver_gone: bool,
    /// A `RecvStream` for the closing sink to drop after its reset.
    orphan: Option<RecvStream>,
    /// The sink was dropped before half-closing: it cancelled the call.
    sender_gone: bool,
}

impl SendSlot {
    fn lock(&self) -> MutexGuard<'_, SlotState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The receiving side gives up on the call: cancel it.
    pub(crate) fn receiver_gone(&self, recv: Option<RecvStream>) {
        let mut state = self.lock();
        state.receiver_gone = true;
        if let Some(mut send) = state.parked.take() {
            drop(state);
            send.reset(ErrorCode::CANCEL);
            drop(recv);
        } else if state.closing {
            state.orphan = recv;
        } else {
            // The sink is open (dropping `recv` resets the open stream with CANCEL) or
            // gone (its unfinished `SendStream` reset the stream when dropped).
            drop(state);
            drop(recv);
        }
    }

    /// The sink is about to send END_STREAM. False if the call was cancelled already.
    pub(crate) fn begin_close(&self) -> bool {
        let mut state = self.lock();
        if state.receiver_gone {
            return false;
        }
        state.closing = true;
        true
    }

    /// The sink sent END_STREAM (or tried to): park its `SendStream`, or reset it if the
    /// receiving side gave up meanwhile.
    pub(crate) fn end_close(&self, mut send: SendStream) {
        let mut state = self.lock();
        state.closing = false;
        if state.receiver_gone {
            let orphan = state.orphan.take();
            drop(state);
            send.reset(ErrorCode::CANCEL);
            drop(orphan);
        } else {
            state.parked = Some(send);
        }
    }

    /// The sink is dropped while closing (its future was dropped): its unfinished
    /// `SendStream` resets the stream; then the orphan may go.
    pub(crate) fn abandon_close(&self, send: SendStream) {
        let mut state = self.lock();
        state.closing = false;
        let orphan = state.orphan.take();
        drop(state);
        drop(send);
        drop(orphan);
    }

    /// Whether the receiving side cancelled the call.
    pub(crate) fn is_cancelled(&self) -> bool {
        self.lock().receiver_gone
    }

    /// The sink is dropped before half-closing (its `SendStream` resets the stream).
    pub(crate) fn sender_gone(&self) {
        self.lock().sender_gone = true;
    }

    /// Whether either side cancelled the call.
    pub(crate) fn is_cancelled_by_either(&self) -> bool {
        let state = self.lock();
        state.receiver_gone || state.sender_gone
    }
}
