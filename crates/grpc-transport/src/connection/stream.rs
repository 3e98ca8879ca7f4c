//! One stream's state (RFC 9113 §5.1).
//!
//! ```text
//!                              +--------+
//!                      send PP |        | recv PP
//!                     ,--------+  idle  +--------.
//!                    /         |        |         \
//!                   v          +--------+          v
//!            +----------+          |           +----------+
//!            |          |          | send H /  |          |
//!     ,------+ reserved |          | recv H    | reserved +------.
//!     |      | (local)  |          |           | (remote) |      |
//!     |      +---+------+          v           +------+---+      |
//!     |          |             +--------+             |          |
//!     |          |     recv ES |        | send ES     |          |
//!     |   send H |     ,-------+  open  +-------.     | recv H   |
//!     |          |    /        |        |        \    |          |
//!     |          v   v         +---+----+         v   v          |
//!     |      +----------+          |           +----------+      |
//!     |      |   half-  |          |           |   half-  |      |
//!     |      |  closed  |          | send R /  |  closed  |      |
//!     |      | (remote) |          | recv R    | (local)  |      |
//!     |      +----+-----+          |           +-----+----+      |
//!     |           |                |                 |           |
//!     |           | send ES /      |       recv ES / |           |
//!     |           | send R /       v        send R / |           |
//!     |           | recv R     +--------+   recv R   |           |
//!     | send R /  `----------->|        |<-----------'  send R / |
//!     | recv R                 | closed |               recv R   |
//!     `----------------------->|        |<-----------------------'
//!                              +--------+
//! ```
//!
//! We never push (SETTINGS_ENABLE_PUSH is 0 on clients and we send no PUSH_PROMISE), so the
//! reserved states never occur: a PUSH_PROMISE is a connection error. Idle streams have no
//! entry in the stream map, and neither have closed ones: the connection tells them apart by
//! id (ids below the highest used are closed, §5.1.1).

use std::collections::VecDeque;

use bytes::Bytes;

use super::flow_control::{RecvWindow, SendWindow};
use crate::frame::StreamId;
use crate::hpack::HeaderField;

/// The §5.1 state of a stream that has an entry in the stream map.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// Opened by us, HEADERS not yet written (waiting for a MAX_CONCURRENT_STREAMS slot).
    /// Still idle as far as the peer knows.
    Idle,
    /// Both sides may send.
    Open,
    /// We sent END_STREAM; the peer may still send.
    HalfClosedLocal,
    /// The peer sent END_STREAM; we may still send.
    HalfClosedRemote,
    /// Both sides are done (the entry is removed once its events are out).
    Closed,
}

/// Something the application queued for sending, in order.
#[derive(Debug)]
pub(crate) enum SendItem {
    Headers {
        fields: Vec<HeaderField>,
        end_stream: bool,
    },
    Data {
        data: Bytes,
        end_stream: bool,
    },
    Trailers {
        fields: Vec<HeaderField>,
    },
}

/// Which header blocks have arrived.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RecvHeaders {
    /// None yet (a client waiting for its response).
    None,
    /// Only 1xx informational responses.
    Informational,
    /// The request or the final response: the next block must be trailers.
    Final,
}

#[derive(Debug)]
pub(crate) struct Stream {
    pub(crate) id: StreamId,

    // Our side.
    /// HEADERS were written to the wire (the stream counts against the peer's limit).
    pub(crate) headers_written: bool,
    /// The application queued END_STREAM (data or trailers with the flag): no more sends.
    pub(crate) end_queued: bool,
    /// END_STREAM was written.
    pub(crate) end_written: bool,
    /// The application queued its initial headers.
    pub(crate) headers_queued: bool,
    pub(crate) queue: VecDeque<SendItem>,
    /// Data octets queued and not yet written.
    pub(crate) buffered: usize,
    /// Data octets written since the last `SendBufferReleased` event.
    pub(crate) released: usize,
    pub(crate) send_window: SendWindow,
    /// In the connection's round-robin list of streams with something to write.
    pub(crate) scheduled: bool,

    // The peer's side.
    pub(crate) recv_headers: RecvHeaders,
    pub(crate) recv_end: bool,
    pub(crate) recv_window: RecvWindow,
    /// Announced content-length and DATA octets received so far (§8.1.1).
    pub(crate) content_length: Option<u64>,
    pub(crate) received: u64,

    /// Counted in the concurrency limit of whoever opened it.
    pub(crate) counted: bool,
    /// We refused the peer's request before the application saw it (431): the rest of the
    /// request is dropped, and once our response is written the stream is reset with
    /// NO_ERROR if the peer has not finished sending (RFC 9113 §8.1).
    pub(crate) discard_recv: bool,
}

impl Stream {
    pub(crate) fn new(id: StreamId, send_window: u32, recv_window: u32) -> Stream {
        Stream {
            id,
            headers_written: false,
            end_queued: false,
            end_written: false,
            headers_queued: false,
            queue: VecDeque::new(),
            buffered: 0,
            released: 0,
            send_window: SendWindow::new(send_window),
            scheduled: false,
            recv_headers: RecvHeaders::None,
            recv_end: false,
            recv_window: RecvWindow::new(recv_window),
            content_length: None,
            received: 0,
            counted: false,
            discard_recv: false,
        }
    }

    /// The §5.1 state.
    pub(crate) fn state(&self) -> State {
        match (self.end_written, self.recv_end) {
            (true, true) => State::Closed,
            (true, false) => State::HalfClosedLocal,
            (false, true) => State::HalfClosedRemote,
            (false, false) if !self.headers_written && self.recv_headers == RecvHeaders::None => {
                State::Idle
            }
            (false, false) => State::Open,
        }
    }
}
