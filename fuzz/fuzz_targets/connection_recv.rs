//! Fuzzes the HTTP/2 connection state machine with arbitrary bytes from the peer.
//!
//! Input layout:
//! - byte 0: bit 0 picks the role under test (0 = server, 1 = client with one request
//!   open); bit 1 sets a small MAX_CONCURRENT_STREAMS (2); bit 2 a small header list
//!   limit (256); bit 3 fixed windows (BDP off).
//! - then chunks: a length octet, then that many octets of wire data. For a server the
//!   client preface is sent first so inputs need not rediscover it. Between chunks the fake
//!   clock moves 50 ms and timers run.
//!
//! The application side answers every request, releases every byte received and resets
//! every third stream it sees data on, so the send path, flow control and resets are
//! exercised too.
//!
//! Checks: no panic; everything the connection writes parses as valid frames; once closed,
//! the connection stays closed and reports nothing but what it already queued.

#![no_main]

use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use grpc_transport::ErrorCode;
use grpc_transport::connection::{Config, Connection, Event};
use grpc_transport::frame::{self, Frame};
use grpc_transport::hpack::HeaderField;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let [flags, rest @ ..] = data else {
        return;
    };
    let client = flags & 1 != 0;
    let mut config = if client { Config::client() } else { Config::server() };
    if flags & 2 != 0 {
        config.max_concurrent_streams = Some(2);
    }
    if flags & 4 != 0 {
        config.max_header_list_size = 256;
    }
    if flags & 8 != 0 {
        config.initial_stream_window = Some(1024);
        config.initial_connection_window = Some(1 << 20);
    }
    let mut now = Instant::now();
    let mut conn = Connection::new(config, now);
    if client {
        let request = vec![
            HeaderField::new(":method", "POST"),
            HeaderField::new(":scheme", "http"),
            HeaderField::new(":path", "/fuzz"),
        ];
        let stream = conn.open_stream(request, false).expect("a fresh client opens a stream");
        conn.send_data(stream, Bytes::from_static(&[7; 100]), true)
            .expect("data on an open stream");
    }
    let mut wire = BytesMut::new();
    if !client {
        wire.extend_from_slice(frame::PREFACE);
    }
    let mut out = BytesMut::new();
    let mut rest: &[u8] = rest;
    let mut data_events = 0u32;
    while let [length, tail @ ..] = rest {
        let length = usize::from(*length).min(tail.len());
        let (chunk, tail) = tail.split_at(length);
        rest = tail;
        wire.extend_from_slice(chunk);
        let was_closed = conn.is_closed();
        conn.recv(&mut wire, now);
        if was_closed {
            assert!(conn.is_closed());
        }
        while let Some(event) = conn.poll_event() {
            match event {
                Event::Headers { stream, end_stream, .. } if !client => {
                    let _ = conn.send_headers(stream, vec![HeaderField::new(":status", "200")], false);
                    let _ = conn.send_data(stream, Bytes::from_static(&[1; 300]), end_stream);
                }
                Event::Data { stream, data, .. } => {
                    data_events += 1;
                    conn.release_capacity(stream, data.len());
                    if data_events % 3 == 0 {
                        let _ = conn.reset_stream(stream, ErrorCode::CANCEL);
                    }
                }
                _ => {}
            }
        }
        now += Duration::from_millis(50);
        conn.handle_timeout(now);
        out.clear();
        while conn.poll_transmit(now, &mut out) {}
        if client && out.starts_with(frame::PREFACE) {
            let _ = out.split_to(frame::PREFACE.len());
        }
        check_frames(&mut out);
        // Input the connection declined to read (control-frame flood) is dropped here, as
        // a stalled peer's would be; the connection must cope with either.
        if !conn.wants_read() {
            wire.clear();
        }
    }
});

/// Everything we write must be well-formed HTTP/2.
fn check_frames(out: &mut BytesMut) {
    while !out.is_empty() {
        match frame::parse_frame(out, frame::MAX_FRAME_SIZE_LIMIT) {
            Ok(Some(Frame::Headers(_) | Frame::Continuation(_) | Frame::Data(_))) => {}
            Ok(Some(_)) => {}
            Ok(None) => panic!("truncated frame in our own output"),
            Err(error) => panic!("we wrote an invalid frame: {error:?}"),
        }
    }
}
