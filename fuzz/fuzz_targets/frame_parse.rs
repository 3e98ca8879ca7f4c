//! Fuzzes the HTTP/2 frame parser (`grpc_transport::frame::parse_frame`).
//!
//! Input layout: 3 octets of maximum frame size, 1 octet of chunk size, then the bytes a
//! peer sends. Checks that:
//! - parsing never panics, whatever the bytes and the limit;
//! - feeding the bytes in chunks gives exactly the results of parsing them at once;
//! - every parsed frame encodes to bytes that parse back to an equal frame.
#![no_main]

use bytes::BytesMut;
use grpc_transport::frame::{Frame, FrameError, MAX_FRAME_SIZE_LIMIT, parse_frame};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let [m0, m1, m2, chunk, input @ ..] = data else {
        return;
    };
    // Any 24-bit limit, including ones below the protocol minimum, to reach FrameTooLarge.
    let max_frame_size = u32::from_be_bytes([0, *m0, *m1, *m2]);
    let chunk = usize::from(*chunk).max(1);

    let whole = parse_all(input, input.len().max(1), max_frame_size);
    let chunked = parse_all(input, chunk, max_frame_size);
    assert_eq!(whole, chunked, "chunked parsing must match parsing at once");

    for frame in whole.iter().filter_map(|result| result.as_ref().ok()) {
        round_trip(frame);
    }
});

/// Feeds `input` to the parser `chunk` octets at a time, collecting every result until the
/// input runs out or a connection error stops the connection.
fn parse_all(input: &[u8], chunk: usize, max_frame_size: u32) -> Vec<Result<Frame, FrameError>> {
    let mut results = Vec::new();
    let mut buf = BytesMut::new();
    for piece in input.chunks(chunk) {
        buf.extend_from_slice(piece);
        loop {
            match parse_frame(&mut buf, max_frame_size) {
                Ok(None) => break,
                Ok(Some(frame)) => results.push(Ok(frame)),
                Err(error) => {
                    results.push(Err(error));
                    if error.is_connection_error() {
                        return results;
                    }
                    // A stream error consumed the frame: keep reading.
                }
            }
        }
    }
    results
}

fn round_trip(frame: &Frame) {
    let mut encoded = BytesMut::new();
    frame.encode(&mut encoded);
    assert_eq!(encoded.len(), frame.encoded_len());
    let reparsed = parse_frame(&mut encoded, MAX_FRAME_SIZE_LIMIT);
    assert_eq!(
        reparsed,
        Ok(Some(frame.clone())),
        "re-encoded frame must parse back"
    );
    assert!(encoded.is_empty(), "exactly one frame encoded");
}
