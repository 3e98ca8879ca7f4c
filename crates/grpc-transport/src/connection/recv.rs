//! The receive path: bytes in, frames parsed and applied (RFC 9113 §5, §6).

use std::time::Instant;

use bytes::{Bytes, BytesMut};

use super::message::{self, BlockKind};
use super::stream::{RecvHeaders, State, Stream};
use super::{
    Connection, ConnectionError, Event, PartialBlock, Role, SHUTDOWN_PING_PAYLOAD, Shutdown, bdp,
    keepalive,
};
use crate::ErrorCode;
use crate::frame::{
    self, Continuation, Data, ErrorScope, Frame, FrameError, GoAway, Headers, Ping, PrefaceCheck,
    Reset, Settings, StreamId, WindowUpdate,
};
use crate::hpack::{DecoderError, HeaderField};

impl Connection {
    /// Feeds bytes read from the transport. Complete frames are consumed from the front of
    /// `buf` and applied; a partial frame stays for the next call. Stops early (leaving bytes
    /// in `buf`) when [`Connection::wants_read`] turns false; call again after writing.
    pub fn recv(&mut self, buf: &mut BytesMut, now: Instant) {
        self.now = now;
        if self.closed {
            buf.clear();
            return;
        }
        if !self.preface_received {
            match frame::check_preface(buf) {
                PrefaceCheck::Incomplete => return,
                PrefaceCheck::Invalid(kind) => {
                    // §3.4: an invalid preface is a connection error PROTOCOL_ERROR.
                    self.fail_with(
                        ErrorCode::PROTOCOL_ERROR,
                        "invalid connection preface",
                        ConnectionError::InvalidPreface(kind),
                    );
                    buf.clear();
                    return;
                }
                PrefaceCheck::Valid => {
                    let _ = buf.split_to(frame::PREFACE.len());
                    self.preface_received = true;
                }
            }
        }
        while self.wants_read() {
            match frame::parse_frame(buf, self.config.max_frame_size) {
                Ok(None) => break,
                Ok(Some(frame)) => {
                    self.keepalive.on_read(now);
                    self.recv_frame(frame, now);
                }
                Err(error) => {
                    self.keepalive.on_read(now);
                    self.frame_error(error, now);
                }
            }
        }
        if self.closed {
            buf.clear();
        }
    }

    /// The transport's read side ended.
    pub fn recv_eof(&mut self) {
        if self.closed {
            return;
        }
        let error = if let Some((_, code, debug_data)) = self
            .goaway_received
            .as_ref()
            .filter(|(_, code, _)| *code != ErrorCode::NO_ERROR)
        {
            // §5.4.1: a peer closes right after a GOAWAY for an error; that error is why
            // the connection ended, not the transport.
            Some(ConnectionError::Remote {
                code: *code,
                debug_data: debug_data.clone(),
            })
        } else if self.streams.is_empty()
            && (self.goaway_received.is_some() || self.role == Role::Server)
        {
            // After a clean GOAWAY, or a client hanging up between calls: a clean close.
            None
        } else {
            Some(ConnectionError::TransportClosed)
        };
        self.abort(error, ErrorCode::CANCEL);
    }

    fn frame_error(&mut self, error: FrameError, now: Instant) {
        match error.scope() {
            ErrorScope::Connection => self.fail(error.code(), error.reason().description()),
            ErrorScope::Stream(stream) => self.stream_error(stream, error.code(), now),
        }
    }

    /// A stream error caused by the peer (§5.4.2): RST_STREAM, and the stream is gone.
    fn stream_error(&mut self, stream: StreamId, code: ErrorCode, now: Instant) {
        if !self.reset_budget.spend(now) {
            // Making us reset streams is as costly as resetting them (CVE-2023-44487).
            self.fail(ErrorCode::ENHANCE_YOUR_CALM, "too many stream errors");
            return;
        }
        self.push_reset(stream, code, true);
        if self.streams.contains_key(&stream.get()) {
            self.events.push_back(Event::StreamReset {
                stream,
                code,
                remote: false,
                never_processed: false,
            });
            self.remove_stream(stream);
        }
        self.remember_reset(stream);
    }

    fn recv_frame(&mut self, frame: Frame, now: Instant) {
        // §6.10: nothing may interleave with a header block.
        if let Some(partial) = &self.partial {
            match &frame {
                Frame::Continuation(c) if c.stream_id() == partial.stream => {}
                _ => {
                    self.fail(ErrorCode::PROTOCOL_ERROR, "header block interrupted");
                    return;
                }
            }
        }
        // §3.4: the first frame from the peer is SETTINGS.
        if !self.peer_settings_received && !matches!(&frame, Frame::Settings(s) if !s.is_ack()) {
            self.fail(ErrorCode::PROTOCOL_ERROR, "first frame is not SETTINGS");
            return;
        }
        match frame {
            Frame::Data(data) => self.recv_data(data, now),
            Frame::Headers(headers) => self.recv_headers(headers, now),
            Frame::Continuation(continuation) => self.recv_continuation(continuation, now),
            Frame::Priority(priority) => {
                // Priorities are advisory and we schedule round-robin (RFC 9113 §5.3.2
                // deprecates the scheme); only their volume is watched.
                let _ = priority;
                self.spend_empty_frame(now);
            }
            Frame::Reset(reset) => self.recv_reset(reset, now),
            Frame::Settings(settings) => self.recv_settings(settings, now),
            Frame::PushPromise(_) => {
                // §8.4: we advertise ENABLE_PUSH 0 (clients), and clients never push.
                self.fail(ErrorCode::PROTOCOL_ERROR, "PUSH_PROMISE received");
            }
            Frame::Ping(ping) => self.recv_ping(ping, now),
            Frame::GoAway(goaway) => self.recv_goaway(goaway),
            Frame::WindowUpdate(update) => self.recv_window_update(update),
            Frame::Unknown(_) => {
                // §5.5: unknown frame types are ignored.
                self.spend_empty_frame(now);
            }
        }
    }

    fn spend_empty_frame(&mut self, now: Instant) {
        if !self.empty_frame_budget.spend(now) {
            self.fail(
                ErrorCode::ENHANCE_YOUR_CALM,
                "too many frames without content",
            );
        }
    }

    /// Whether `stream` is idle from our point of view (§5.1: never opened by either side).
    fn is_idle(&self, stream: StreamId) -> bool {
        if self.is_local(stream) {
            stream.get() >= self.next_stream_id
                || self
                    .streams
                    .get(&stream.get())
                    .is_some_and(|s| s.state() == State::Idle)
        } else {
            stream.get() > self.last_peer_stream_id
        }
    }

    // ---- DATA (§6.1) ----------------------------------------------------------------

    fn recv_data(&mut self, data: Data, now: Instant) {
        let stream = data.stream_id();
        let flow_len = data.flow_controlled_len();
        // Connection-level flow control counts every DATA frame, whatever its stream
        // (§6.9), and the credit goes back on receipt, not when the application reads.
        if self.conn_recv.on_data(flow_len).is_err() {
            self.fail(
                ErrorCode::FLOW_CONTROL_ERROR,
                "connection flow-control window exceeded",
            );
            return;
        }
        let credit = self.conn_recv.consume(flow_len);
        if let Some(increment) = credit {
            self.push_window_update(StreamId::ZERO, increment);
        }
        if let Some(bdp) = &mut self.bdp {
            // The ping follows the WINDOW_UPDATE just queued, so the peer's excessive-ping
            // detection sees data flow around it (gRPC-Go flushes credit first, too).
            if bdp.on_data(flow_len, credit.is_some()) {
                self.control
                    .push_back(Ping::new(bdp::BDP_PING_PAYLOAD).into());
            }
        }
        if data.data().is_empty() && !data.is_end_stream() {
            self.spend_empty_frame(now);
            if self.closed {
                return;
            }
        }
        if self.is_idle(stream) {
            self.fail(ErrorCode::PROTOCOL_ERROR, "DATA on an idle stream");
            return;
        }
        let Some(s) = self.streams.get_mut(&stream.get()) else {
            // Closed. Late frames after our RST_STREAM are expected (§5.1).
            if !self.was_reset_recently(stream) {
                self.stream_error(stream, ErrorCode::STREAM_CLOSED, now);
            }
            return;
        };
        if s.recv_end {
            self.stream_error(stream, ErrorCode::STREAM_CLOSED, now);
            return;
        }
        if s.discard_recv {
            // The body of a request we refused: dropped (its stream credit does not matter,
            // the stream is reset as soon as our response is out).
            s.recv_end = data.is_end_stream();
            self.close_if_done(stream);
            return;
        }
        if s.recv_headers != RecvHeaders::Final {
            // A response body before the final response headers is malformed (§8.1).
            self.stream_error(stream, ErrorCode::PROTOCOL_ERROR, now);
            return;
        }
        if s.recv_window.on_data(flow_len).is_err() {
            self.stream_error(stream, ErrorCode::FLOW_CONTROL_ERROR, now);
            return;
        }
        let payload = data.data().len();
        // Padding is credited back at once: the application never sees it.
        let padding = flow_len - payload as u32;
        if padding > 0 {
            if let Some(increment) = s.recv_window.consume(padding) {
                self.push_window_update(stream, increment);
            }
        }
        let Some(s) = self.streams.get_mut(&stream.get()) else {
            return;
        };
        s.received += payload as u64;
        let end_stream = data.is_end_stream();
        // §8.1.1: content-length must match the DATA received.
        if let Some(expected) = s.content_length {
            if s.received > expected || (end_stream && s.received != expected) {
                self.stream_error(stream, ErrorCode::PROTOCOL_ERROR, now);
                return;
            }
        }
        if end_stream {
            s.recv_end = true;
        }
        self.events.push_back(Event::Data {
            stream,
            data: data.into_data(),
            end_stream,
        });
        if end_stream {
            self.close_if_done(stream);
        }
    }

    // ---- HEADERS and CONTINUATION (§6.2, §6.10) --------------------------------------

    fn recv_headers(&mut self, headers: Headers, now: Instant) {
        let stream = headers.stream_id();
        let stream_error = headers.stream_error();
        let end_stream = headers.is_end_stream();
        let end_headers = headers.is_end_headers();
        let fragment = headers.into_fragment();
        if end_headers {
            self.recv_header_block(stream, end_stream, fragment, stream_error, now);
        } else {
            if fragment.len() > self.max_block_len() {
                self.fail(ErrorCode::ENHANCE_YOUR_CALM, "header block too large");
                return;
            }
            let mut fragments = BytesMut::with_capacity(fragment.len() * 2);
            fragments.extend_from_slice(&fragment);
            self.partial = Some(PartialBlock {
                stream,
                end_stream,
                fragments,
                stream_error,
            });
        }
    }

    /// The most compressed header block octets we buffer. A block longer than the header
    /// list limit cannot decode within it (a literal costs at least its length, and
    /// Huffman coding only expands on decoding); the slack covers representation bytes.
    fn max_block_len(&self) -> usize {
        (self.config.max_header_list_size as usize).saturating_add(16 * 1024)
    }

    fn recv_continuation(&mut self, continuation: Continuation, now: Instant) {
        let Some(mut partial) = self.partial.take() else {
            self.fail(
                ErrorCode::PROTOCOL_ERROR,
                "CONTINUATION without a header block",
            );
            return;
        };
        if continuation.fragment().is_empty() && !continuation.is_end_headers() {
            // CONTINUATION flood: empty fragments cost us a frame each and make no progress.
            self.spend_empty_frame(now);
            if self.closed {
                return;
            }
        }
        if partial.fragments.len() + continuation.fragment().len() > self.max_block_len() {
            self.fail(ErrorCode::ENHANCE_YOUR_CALM, "header block too large");
            return;
        }
        partial.fragments.extend_from_slice(continuation.fragment());
        if continuation.is_end_headers() {
            let block = partial.fragments.freeze();
            self.recv_header_block(
                partial.stream,
                partial.end_stream,
                block,
                partial.stream_error,
                now,
            );
        } else {
            self.partial = Some(partial);
        }
    }

    /// A complete header block arrived on `stream`.
    fn recv_header_block(
        &mut self,
        stream: StreamId,
        end_stream: bool,
        block: Bytes,
        frame_error: Option<FrameError>,
        now: Instant,
    ) {
        // The block is always decoded, whatever happens to the stream, so the HPACK
        // context stays in sync (§4.3).
        let mut fields = Vec::new();
        let decoded = self.decoder.decode(&block, |field| fields.push(field));
        let too_large = match decoded {
            Ok(()) => false,
            Err(DecoderError::HeaderListTooLarge { .. }) => true,
            Err(error) => {
                tracing::debug!(%error, "HPACK decoding failed");
                self.fail(
                    ErrorCode::COMPRESSION_ERROR,
                    "header block could not be decoded",
                );
                return;
            }
        };
        if self.streams.contains_key(&stream.get()) {
            self.recv_block_on_open_stream(stream, end_stream, fields, too_large, frame_error, now);
            return;
        }
        if self.is_local(stream) {
            if self.is_idle(stream) {
                // A client got HEADERS on an even stream: servers cannot open streams
                // (no push), and we never opened this one.
                self.fail(
                    ErrorCode::PROTOCOL_ERROR,
                    "HEADERS on an idle stream we own",
                );
            } else if !self.was_reset_recently(stream) {
                self.fail(ErrorCode::STREAM_CLOSED, "HEADERS on a closed stream");
            }
            return;
        }
        // The peer opens a new stream (§5.1.1): ids increase strictly, and "an endpoint that
        // receives an unexpected stream identifier MUST respond with a connection error of
        // type PROTOCOL_ERROR". We keep no record of which lower ids were used, so a reused
        // id and a skipped one look alike: both are stream-id violations.
        if stream.get() <= self.last_peer_stream_id {
            if !self.was_reset_recently(stream) {
                self.fail(
                    ErrorCode::PROTOCOL_ERROR,
                    "HEADERS with a stream id not above the last one",
                );
            }
            return;
        }
        if self.role == Role::Client {
            self.fail(ErrorCode::PROTOCOL_ERROR, "server opened a stream");
            return;
        }
        self.last_peer_stream_id = stream.get();
        if let Some(error) = frame_error {
            self.stream_error(stream, error.code(), now);
            return;
        }
        if self.shutdown == Shutdown::Draining {
            // Above the last-stream-id of our final GOAWAY: not processed, and "the sender
            // will ignore frames sent on streams ... higher than the included last stream
            // identifier" (§6.8), so its DATA in flight is dropped without more resets.
            self.push_reset(stream, ErrorCode::REFUSED_STREAM, true);
            self.remember_reset(stream);
            return;
        }
        if too_large {
            self.refuse_large_headers(stream, end_stream, now);
            return;
        }
        if self
            .config
            .max_concurrent_streams
            .is_some_and(|max| self.active_peer >= max)
        {
            // §5.1.2: beyond the limit the stream is refused, and may be retried.
            self.stream_error(stream, ErrorCode::REFUSED_STREAM, now);
            return;
        }
        let head = match message::validate(&fields, BlockKind::Request) {
            Ok(head) => head,
            Err(reason) => {
                tracing::debug!(reason, %stream, "malformed request");
                self.stream_error(stream, ErrorCode::PROTOCOL_ERROR, now);
                return;
            }
        };
        if end_stream && head.content_length.is_some_and(|len| len != 0) {
            self.stream_error(stream, ErrorCode::PROTOCOL_ERROR, now);
            return;
        }
        let mut s = Stream::new(
            stream,
            self.peer.initial_window_size,
            self.recv_stream_window,
        );
        s.recv_headers = RecvHeaders::Final;
        s.recv_end = end_stream;
        s.content_length = head.content_length;
        s.counted = true;
        self.active_peer += 1;
        self.idle_since = None;
        self.streams.insert(stream.get(), s);
        self.events.push_back(Event::Headers {
            stream,
            fields,
            end_stream,
        });
    }

    /// A server answers a request whose header list exceeds our advertised limit with 431
    /// (RFC 6585 §5, RFC 9113 §10.5.1); a client resets the stream. The request's body, if
    /// any is still coming, is dropped (see [`Stream::discard_recv`]).
    fn refuse_large_headers(&mut self, stream: StreamId, end_stream: bool, now: Instant) {
        tracing::debug!(%stream, "header list larger than advertised");
        if self.role == Role::Server {
            let mut s = Stream::new(
                stream,
                self.peer.initial_window_size,
                self.recv_stream_window,
            );
            s.recv_headers = RecvHeaders::Final;
            s.recv_end = end_stream;
            s.discard_recv = true; // the application never sees this request
            s.counted = true;
            self.active_peer += 1;
            self.idle_since = None;
            s.headers_queued = true;
            s.end_queued = true;
            s.queue.push_back(super::stream::SendItem::Headers {
                fields: vec![HeaderField::new(":status", "431")],
                end_stream: true,
            });
            self.streams.insert(stream.get(), s);
            self.schedule(stream);
        } else {
            self.stream_error(stream, ErrorCode::PROTOCOL_ERROR, now);
        }
    }

    fn recv_block_on_open_stream(
        &mut self,
        stream: StreamId,
        end_stream: bool,
        fields: Vec<HeaderField>,
        too_large: bool,
        frame_error: Option<FrameError>,
        now: Instant,
    ) {
        let Some(s) = self.streams.get(&stream.get()) else {
            return;
        };
        if s.state() == State::Idle {
            // HEADERS on a stream whose HEADERS we have not even sent.
            self.fail(ErrorCode::PROTOCOL_ERROR, "HEADERS on an idle stream");
            return;
        }
        if s.recv_end {
            self.stream_error(stream, ErrorCode::STREAM_CLOSED, now);
            return;
        }
        if let Some(error) = frame_error {
            self.stream_error(stream, error.code(), now);
            return;
        }
        if s.discard_recv {
            // Trailers of a request we refused: dropped like its body.
            if let Some(s) = self.streams.get_mut(&stream.get()) {
                s.recv_end = end_stream;
            }
            self.close_if_done(stream);
            return;
        }
        if too_large {
            if self.role == Role::Client {
                self.stream_error(stream, ErrorCode::PROTOCOL_ERROR, now);
            } else {
                // Trailers too large: the request cannot be completed.
                self.stream_error(stream, ErrorCode::REFUSED_STREAM, now);
            }
            return;
        }
        let recv_headers = s.recv_headers;
        let received = s.received;
        let content_length = s.content_length;
        if recv_headers == RecvHeaders::Final {
            // Trailers (§8.1): must end the stream and carry no pseudo-header fields.
            let valid = end_stream && message::validate(&fields, BlockKind::Trailers).is_ok();
            let length_ok = content_length.is_none_or(|len| len == received);
            if !valid || !length_ok {
                self.stream_error(stream, ErrorCode::PROTOCOL_ERROR, now);
                return;
            }
            if let Some(s) = self.streams.get_mut(&stream.get()) {
                s.recv_end = true;
            }
            self.events.push_back(Event::Trailers { stream, fields });
            self.close_if_done(stream);
            return;
        }
        // A client's response headers (possibly after 1xx ones).
        let head = match message::validate(&fields, BlockKind::Response) {
            Ok(head) if !(head.informational && end_stream) => head,
            _ => {
                self.stream_error(stream, ErrorCode::PROTOCOL_ERROR, now);
                return;
            }
        };
        if end_stream && head.content_length.is_some_and(|len| len != 0) {
            self.stream_error(stream, ErrorCode::PROTOCOL_ERROR, now);
            return;
        }
        if let Some(s) = self.streams.get_mut(&stream.get()) {
            s.recv_headers = if head.informational {
                RecvHeaders::Informational
            } else {
                RecvHeaders::Final
            };
            s.content_length = head.content_length;
            s.recv_end = end_stream;
        }
        self.events.push_back(Event::Headers {
            stream,
            fields,
            end_stream,
        });
        if end_stream {
            self.close_if_done(stream);
        }
    }

    // ---- RST_STREAM (§6.4) ----------------------------------------------------------

    fn recv_reset(&mut self, reset: Reset, now: Instant) {
        let stream = reset.stream_id();
        if self.is_idle(stream) {
            self.fail(ErrorCode::PROTOCOL_ERROR, "RST_STREAM on an idle stream");
            return;
        }
        // Rapid reset (CVE-2023-44487): each reset frees a concurrency slot while the work
        // it started may go on, so resets are budgeted.
        if !self.reset_budget.spend(now) {
            self.fail(ErrorCode::ENHANCE_YOUR_CALM, "too many stream resets");
            return;
        }
        if !self.streams.contains_key(&stream.get()) {
            return; // already closed: nothing to do (§5.1)
        }
        let code = reset.error_code();
        self.events.push_back(Event::StreamReset {
            stream,
            code,
            remote: true,
            never_processed: code == ErrorCode::REFUSED_STREAM,
        });
        self.remove_stream(stream);
    }

    // ---- SETTINGS (§6.5) ------------------------------------------------------------

    fn recv_settings(&mut self, settings: Settings, now: Instant) {
        if settings.is_ack() {
            let Some((acked, _)) = self.settings_in_flight.pop_front() else {
                // An ACK for nothing: harmless, ignore it.
                return;
            };
            if let Some(size) = acked.header_table_size() {
                self.decoder.set_max_table_size_setting(size as usize);
            }
            if let Some(size) = acked.initial_window_size() {
                if size < self.recv_stream_window {
                    // §6.9.3: the peer now applies the smaller window, to open streams too
                    // (§6.9.2), so what it already sent counts against it.
                    let old = self.recv_stream_window;
                    for s in self.streams.values_mut() {
                        s.recv_window.grow_by_settings(old, size);
                    }
                    self.recv_stream_window = size;
                }
            }
            return;
        }
        if self.role == Role::Client && settings.enable_push() == Some(true) {
            // §6.5.2: a server must not enable push.
            self.fail(
                ErrorCode::PROTOCOL_ERROR,
                "server sent SETTINGS_ENABLE_PUSH 1",
            );
            return;
        }
        if let Some(size) = settings.header_table_size() {
            self.peer.header_table_size = size;
            self.encoder.set_max_table_size(size as usize);
        }
        if let Some(push) = settings.enable_push() {
            self.peer.enable_push = push;
        }
        if let Some(max) = settings.max_concurrent_streams() {
            self.peer.max_concurrent_streams = max;
        } else if !self.peer_settings_received {
            // §6.5.2: "Initially, there is no limit to this value." The 100 a client assumes
            // only stands in until the peer's first SETTINGS; without the setting there is
            // no limit (gRPC-Go does the same).
            self.peer.max_concurrent_streams = u32::MAX;
        }
        if let Some(size) = settings.initial_window_size() {
            // §6.9.2: the change applies to every stream's send window, even if that
            // makes it negative.
            let delta = i64::from(size) - i64::from(self.peer.initial_window_size);
            self.peer.initial_window_size = size;
            let mut overflow = false;
            let mut unblocked = Vec::new();
            for s in self.streams.values_mut() {
                let was_blocked = s.send_window.available() == 0;
                if s.send_window.adjust(delta).is_err() {
                    overflow = true;
                }
                if was_blocked && s.send_window.available() > 0 {
                    unblocked.push(s.id);
                }
            }
            if overflow {
                self.fail(
                    ErrorCode::FLOW_CONTROL_ERROR,
                    "SETTINGS_INITIAL_WINDOW_SIZE overflows a window",
                );
                return;
            }
            for stream in unblocked {
                self.schedule(stream);
            }
        }
        if let Some(size) = settings.max_frame_size() {
            self.peer.max_frame_size = size;
        }
        if let Some(size) = settings.max_header_list_size() {
            self.peer.max_header_list_size = Some(size);
        }
        self.control.push_back(Settings::ack().into());
        self.queued_responses += 1;
        if !self.peer_settings_received {
            self.peer_settings_received = true;
            self.events.push_back(Event::Connected);
        }
        let _ = now;
    }

    // ---- PING (§6.7) ----------------------------------------------------------------

    fn recv_ping(&mut self, ping: Ping, now: Instant) {
        let payload = ping.payload();
        if !ping.is_ack() {
            let has_streams = !self.streams.is_empty();
            if let Some(enforcer) = &mut self.enforcer {
                if !enforcer.on_ping(now, has_streams) {
                    // gRFC A8: too many pings.
                    self.fail(ErrorCode::ENHANCE_YOUR_CALM, "too_many_pings");
                    return;
                }
            }
            self.control.push_back(Ping::pong(payload).into());
            self.queued_responses += 1;
            return;
        }
        match payload {
            bdp::BDP_PING_PAYLOAD => {
                let grown = self.bdp.as_mut().and_then(|bdp| bdp.on_ping_ack(now));
                if let Some(window) = grown {
                    self.grow_windows(window, now);
                }
            }
            keepalive::KEEPALIVE_PING_PAYLOAD => {} // liveness was noted on read
            SHUTDOWN_PING_PAYLOAD if self.shutdown == Shutdown::AwaitingPingAck => {
                // Every stream the client opened before it saw the first GOAWAY has arrived
                // by now: the real last-stream-id can be sent (gRPC-Go's two phases).
                self.start_draining();
            }
            _ => self.events.push_back(Event::PingAck { payload }),
        }
    }

    /// The BDP estimator found a larger window: raise the connection window at once and the
    /// stream windows through SETTINGS_INITIAL_WINDOW_SIZE.
    fn grow_windows(&mut self, window: u32, now: Instant) {
        tracing::trace!(window, "BDP estimate grows the receive windows");
        if let Some(increment) = self.conn_recv.raise_target(window) {
            self.push_window_update(StreamId::ZERO, increment);
        }
        if window <= self.local_stream_window {
            return;
        }
        self.local_stream_window = window;
        // A larger window may be used at once: the peer can only send less than we allow.
        let old = self.recv_stream_window;
        if window > old {
            for s in self.streams.values_mut() {
                s.recv_window.grow_by_settings(old, window);
            }
            self.recv_stream_window = window;
        }
        if let Ok(settings) = Settings::new().with_initial_window_size(window) {
            self.settings_in_flight
                .push_back((settings, now + self.config.settings_ack_timeout));
            self.control.push_back(settings.into());
        }
    }

    // ---- GOAWAY (§6.8) --------------------------------------------------------------

    fn recv_goaway(&mut self, goaway: GoAway) {
        let last = goaway.last_stream_id();
        let code = goaway.error_code();
        // The peer may lower its last-stream-id in later GOAWAYs, never raise it.
        let last = match &self.goaway_received {
            Some((previous, _, _)) if previous.get() < last.get() => *previous,
            _ => last,
        };
        if code == ErrorCode::ENHANCE_YOUR_CALM && goaway.debug_data().as_ref() == b"too_many_pings"
        {
            // gRFC A8: the client doubles its keepalive time.
            self.keepalive.back_off();
            tracing::warn!(
                time = ?self.keepalive.time(),
                "server sent GOAWAY too_many_pings; keepalive time doubled"
            );
        }
        self.goaway_received = Some((last, code, goaway.debug_data().clone()));
        self.events.push_back(Event::GoAway {
            last_stream_id: last,
            code,
            debug_data: goaway.debug_data().clone(),
        });
        // Streams we opened above `last` were never processed: safe to retry (§6.8).
        let mut refused: Vec<u32> = self
            .streams
            .keys()
            .copied()
            .filter(|&id| self.is_local(StreamId::from_wire(id)) && id > last.get())
            .collect();
        refused.sort_unstable();
        for id in refused {
            let stream = StreamId::from_wire(id);
            self.events.push_back(Event::StreamReset {
                stream,
                code: ErrorCode::REFUSED_STREAM,
                remote: true,
                never_processed: true,
            });
            self.remove_stream(stream);
        }
        self.maybe_finish_going_away();
    }

    // ---- WINDOW_UPDATE (§6.9) -------------------------------------------------------

    fn recv_window_update(&mut self, update: WindowUpdate) {
        let stream = update.stream_id();
        let increment = update.increment();
        if stream.is_zero() {
            if self.conn_send.grow(increment).is_err() {
                self.fail(
                    ErrorCode::FLOW_CONTROL_ERROR,
                    "connection window above 2^31-1",
                );
                return;
            }
            // Streams waiting for connection credit kept their place in the send rotation
            // (send.rs), so the next transmit picks them up.
            return;
        }
        if self.is_idle(stream) {
            self.fail(ErrorCode::PROTOCOL_ERROR, "WINDOW_UPDATE on an idle stream");
            return;
        }
        let Some(s) = self.streams.get_mut(&stream.get()) else {
            return; // closed: may arrive late (§6.9)
        };
        if s.send_window.grow(increment).is_err() {
            let now = self.now;
            self.stream_error(stream, ErrorCode::FLOW_CONTROL_ERROR, now);
            return;
        }
        self.schedule(stream);
    }
}
