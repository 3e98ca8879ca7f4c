//! The send path: queued control frames and stream data out, in one batch.
//!
//! Order within a batch: the preface (client), then control frames (SETTINGS, ACKs,
//! WINDOW_UPDATE, RST_STREAM, PING, GOAWAY) in the order queued, then streams round-robin:
//! each turn writes a stream's queued header blocks and at most one DATA frame, then moves
//! it to the back of the line. A unary request therefore leaves as HEADERS + DATA in one
//! write, and a large transfer cannot starve the other streams.

use std::time::Instant;

use bytes::{Buf, BytesMut};

use super::stream::SendItem;
use super::{Connection, Event, Role, StreamState, bdp};
use crate::ErrorCode;
use crate::frame::{self, Flags, Frame, FrameHeader, FrameType, Headers, Reset, StreamId};

/// Stop filling a batch at about this many octets, so one call cannot buffer without
/// bound; the rest goes out in the next batch.
pub const TRANSMIT_BATCH_LIMIT: usize = 256 * 1024;

/// How a stream's turn in the round-robin ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Turn {
    /// It wrote a DATA frame and has more queued.
    More,
    /// Nothing left to write.
    Idle,
    /// Its own send window is exhausted.
    StreamBlocked,
    /// The connection send window is exhausted.
    ConnectionBlocked,
}

impl Connection {
    /// Appends the frames to write now to `dst`, up to about [`TRANSMIT_BATCH_LIMIT`]
    /// octets. Returns whether anything was appended. Call again after writing until it
    /// returns `false`.
    pub fn poll_transmit(&mut self, now: Instant, dst: &mut BytesMut) -> bool {
        self.now = now;
        let start = dst.len();
        if !self.preface_sent {
            self.preface_sent = true;
            if self.role == Role::Client {
                dst.extend_from_slice(frame::PREFACE);
            }
        }
        self.write_control(now, dst);
        if !self.closed {
            self.promote_pending_opens();
            self.write_streams(dst, start);
            self.report_released();
        }
        dst.len() > start
    }

    fn write_control(&mut self, now: Instant, dst: &mut BytesMut) {
        while let Some(frame) = self.control.pop_front() {
            if let Frame::Ping(ping) = &frame {
                if !ping.is_ack() && ping.payload() == bdp::BDP_PING_PAYLOAD {
                    if let Some(bdp) = &mut self.bdp {
                        bdp.on_ping_sent(now);
                    }
                }
            }
            frame.encode(dst);
        }
        // Every queued response is on its way to the peer now.
        self.queued_responses = 0;
    }

    /// Client: opens waiting streams while the peer's MAX_CONCURRENT_STREAMS allows.
    fn promote_pending_opens(&mut self) {
        while self.active_local < self.peer.max_concurrent_streams {
            let Some(id) = self.pending_open.pop_front() else {
                break;
            };
            let Some(s) = self.streams.get_mut(&id.get()) else {
                continue;
            };
            s.counted = true;
            self.active_local += 1;
            self.idle_since = None;
            // Not yet "written", but no longer idle for scheduling purposes.
            s.scheduled = true;
            self.ready.push_back(id);
        }
    }

    fn write_streams(&mut self, dst: &mut BytesMut, start: usize) {
        // Each productive turn earns the stream another; the loop ends when every stream
        // is done or blocked, or the batch is full.
        let mut turns = self.ready.len();
        while turns > 0 && dst.len() - start < TRANSMIT_BATCH_LIMIT {
            turns -= 1;
            let Some(id) = self.ready.pop_front() else {
                break;
            };
            let turn = self.write_stream_turn(id, dst);
            match (turn, self.streams.get_mut(&id.get())) {
                (_, None) => {}
                (Turn::More, Some(_)) => {
                    self.ready.push_back(id);
                    turns += 1;
                }
                // Waits in line for connection-level credit (§6.9.1); a WINDOW_UPDATE on
                // stream 0 lets the whole line move again.
                (Turn::ConnectionBlocked, Some(_)) => self.ready.push_back(id),
                // Leaves the line until its own WINDOW_UPDATE (or new data) reschedules it.
                (Turn::Idle | Turn::StreamBlocked, Some(s)) => s.scheduled = false,
            }
            self.reset_refused_if_answered(id, dst);
            self.close_if_done(id);
        }
    }

    /// §8.1: "a server MAY request that the client abort transmission of a request without
    /// error by sending a RST_STREAM with an error code of NO_ERROR after sending a complete
    /// response". Done for requests we refused, right behind the response.
    fn reset_refused_if_answered(&mut self, id: StreamId, dst: &mut BytesMut) {
        let answered = self
            .streams
            .get(&id.get())
            .is_some_and(|s| s.discard_recv && s.end_written && !s.recv_end && s.queue.is_empty());
        if answered {
            if let Ok(reset) = Reset::new(id, ErrorCode::NO_ERROR) {
                reset.encode(dst);
            }
            self.remember_reset(id);
            self.remove_stream(id);
        }
    }

    /// Writes the stream's header blocks and at most one DATA frame.
    fn write_stream_turn(&mut self, id: StreamId, dst: &mut BytesMut) -> Turn {
        let max_frame = self.peer.max_frame_size as usize;
        let conn_window = self.conn_send.available();
        let Some(s) = self.streams.get_mut(&id.get()) else {
            return Turn::Idle;
        };
        loop {
            match s.queue.front_mut() {
                None => return Turn::Idle,
                Some(SendItem::Headers { .. } | SendItem::Trailers { .. }) => {
                    let Some(item) = s.queue.pop_front() else {
                        return Turn::Idle;
                    };
                    let (fields, end_stream) = match item {
                        SendItem::Headers { fields, end_stream } => (fields, end_stream),
                        SendItem::Trailers { fields } => (fields, true),
                        SendItem::Data { .. } => return Turn::Idle,
                    };
                    self.block_buf.clear();
                    self.encoder.encode(&fields, &mut self.block_buf);
                    let block = self.block_buf.split().freeze();
                    match Headers::new(id, block) {
                        Ok(headers) => {
                            headers
                                .with_end_stream(end_stream)
                                .encode_split(max_frame as u32, dst);
                        }
                        Err(_) => {
                            // Larger than any frame can carry even with CONTINUATION
                            // splitting; cannot happen with encode_split's limits.
                            return Turn::Idle;
                        }
                    }
                    s.headers_written = true;
                    if end_stream {
                        s.end_written = true;
                    }
                    if let Some(enforcer) = &mut self.enforcer {
                        enforcer.on_send();
                    }
                }
                Some(SendItem::Data { data, end_stream }) => {
                    let end_stream = *end_stream;
                    if data.is_empty() {
                        if end_stream {
                            FrameHeader {
                                length: 0,
                                kind: FrameType::DATA,
                                flags: Flags::END_STREAM,
                                stream_id: id,
                            }
                            .encode(dst);
                            s.end_written = true;
                        }
                        s.queue.pop_front();
                        continue;
                    }
                    if s.send_window.available() == 0 {
                        return Turn::StreamBlocked;
                    }
                    if conn_window == 0 {
                        return Turn::ConnectionBlocked;
                    }
                    let window = (s.send_window.available() as usize).min(conn_window as usize);
                    let len = data.len().min(max_frame).min(window);
                    let last = len == data.len();
                    FrameHeader {
                        length: len as u32,
                        kind: FrameType::DATA,
                        flags: Flags::when(last && end_stream, Flags::END_STREAM),
                        stream_id: id,
                    }
                    .encode(dst);
                    dst.extend_from_slice(&data[..len]);
                    data.advance(len);
                    s.send_window.consume(len as u32);
                    s.buffered -= len;
                    if s.released == 0 {
                        self.released.push(id);
                    }
                    s.released += len;
                    self.conn_send.consume(len as u32);
                    if let Some(enforcer) = &mut self.enforcer {
                        enforcer.on_send();
                    }
                    if last {
                        s.queue.pop_front();
                        if end_stream {
                            s.end_written = true;
                        }
                    }
                    return if s.queue.is_empty() {
                        Turn::Idle
                    } else {
                        Turn::More
                    };
                }
            }
        }
    }

    fn report_released(&mut self) {
        for id in self.released.drain(..) {
            if let Some(s) = self.streams.get_mut(&id.get()) {
                let bytes = std::mem::take(&mut s.released);
                if bytes > 0 {
                    self.events
                        .push_back(Event::SendBufferReleased { stream: id, bytes });
                }
            }
        }
    }

    /// Whether anything is waiting to be written (control frames or stream data that flow
    /// control lets out).
    pub fn has_pending_transmit(&self) -> bool {
        !self.preface_sent
            || !self.control.is_empty()
            || (!self.closed
                && (!self.ready.is_empty()
                    || (!self.pending_open.is_empty()
                        && self.active_local < self.peer.max_concurrent_streams)))
    }

    /// The RFC 9113 §5.1 state of a stream that has not been released yet.
    pub fn stream_state(&self, id: StreamId) -> Option<StreamState> {
        self.streams.get(&id.get()).map(|s| s.state())
    }
}
