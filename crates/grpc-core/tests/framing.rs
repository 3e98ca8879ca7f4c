//! Length-Prefixed-Message decoding (PROTOCOL-HTTP2.md).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use bytes::{Bytes, BytesMut};
use grpc_core::Code;
use grpc_core::framing::{FrameDecoder, HEADER_LEN, RawFrame, encode_header};

fn frame(compressed: bool, payload: &[u8]) -> Vec<u8> {
    let mut out = BytesMut::new();
    encode_header(compressed, u32::try_from(payload.len()).unwrap(), &mut out);
    out.extend_from_slice(payload);
    out.to_vec()
}

fn drain(d: &mut FrameDecoder) -> Vec<RawFrame> {
    let mut out = Vec::new();
    while let Some(f) = d.next_frame().unwrap() {
        out.push(f);
    }
    out
}

#[test]
fn many_messages_in_one_chunk() {
    let mut wire = Vec::new();
    for i in 0..100u8 {
        wire.extend(frame(i % 2 == 1, &vec![i; usize::from(i)]));
    }
    let mut d = FrameDecoder::new(1024);
    d.push(Bytes::from(wire));
    let frames = drain(&mut d);
    assert_eq!(frames.len(), 100);
    for (i, f) in frames.iter().enumerate() {
        assert_eq!(f.data.len(), i);
        assert_eq!(f.compressed, i % 2 == 1);
        assert!(f.data.iter().all(|&b| usize::from(b) == i));
    }
    assert_eq!(d.buffered(), 0);
    d.finish().unwrap();
}

#[test]
fn one_message_byte_by_byte() {
    let payload: Vec<u8> = (0..=255).collect();
    let wire = frame(false, &payload);
    let mut d = FrameDecoder::new(1024);
    for (i, b) in wire.iter().enumerate() {
        assert!(d.next_frame().unwrap().is_none());
        assert_eq!(d.buffered(), i);
        d.push(Bytes::copy_from_slice(&[*b]));
    }
    let f = d.next_frame().unwrap().unwrap();
    assert_eq!(&f.data[..], &payload[..]);
    assert!(d.next_frame().unwrap().is_none());
    d.finish().unwrap();
}

#[test]
fn zero_length_messages() {
    let mut wire = frame(false, b"");
    wire.extend(frame(true, b""));
    let mut d = FrameDecoder::new(0);
    d.push(Bytes::from(wire.clone()));
    let frames = drain(&mut d);
    assert_eq!(frames.len(), 2);
    assert!(frames.iter().all(|f| f.data.is_empty()));
    // And spanning chunks.
    let mut d = FrameDecoder::new(0);
    for b in wire {
        d.push(Bytes::copy_from_slice(&[b]));
    }
    assert_eq!(drain(&mut d).len(), 2);
    d.finish().unwrap();
}

#[test]
fn truncated_message_fails_finish() {
    // Length prefix longer than the data.
    let mut wire = frame(false, b"0123456789");
    wire.truncate(HEADER_LEN + 4);
    let mut d = FrameDecoder::new(1024);
    d.push(Bytes::from(wire));
    assert!(d.next_frame().unwrap().is_none());
    let err = d.finish().unwrap_err();
    assert_eq!(err.code(), Code::Internal);
    assert!(err.message().contains("truncated"), "{}", err.message());

    // Partial prefix.
    let mut d = FrameDecoder::new(1024);
    d.push(Bytes::from_static(&[0, 0]));
    assert!(d.next_frame().unwrap().is_none());
    assert_eq!(d.finish().unwrap_err().code(), Code::Internal);

    // Empty stream is fine.
    FrameDecoder::new(1).finish().unwrap();
}

#[test]
fn oversize_is_resource_exhausted_before_body() {
    // Only the prefix has arrived: the error comes now, nothing of the body is needed.
    let mut d = FrameDecoder::new(100);
    d.push(Bytes::from_static(&[0, 0, 0, 0, 101]));
    let err = d.next_frame().unwrap_err();
    assert_eq!(err.code(), Code::ResourceExhausted);
    assert_eq!(
        err.message(),
        "received message larger than max (101 vs. 100)"
    );
    // The error is sticky.
    assert_eq!(d.next_frame().unwrap_err().code(), Code::ResourceExhausted);

    // Prefix split across chunks: same, and the 4 GiB body is never reserved.
    let mut d = FrameDecoder::new(4 * 1024 * 1024);
    d.push(Bytes::from_static(&[0, 0xff, 0xff]));
    assert!(d.next_frame().unwrap().is_none());
    d.push(Bytes::from_static(&[0xff, 0xff, 1, 2, 3]));
    let err = d.next_frame().unwrap_err();
    assert_eq!(err.code(), Code::ResourceExhausted);
    assert!(err.message().contains("4294967295 vs. 4194304"));
    assert!(d.buffered() < 16);

    // Exactly the limit is fine.
    let mut d = FrameDecoder::new(3);
    d.push(Bytes::from(frame(false, b"abc")));
    assert_eq!(&d.next_frame().unwrap().unwrap().data[..], b"abc");
}

#[test]
fn bad_flag_is_internal() {
    for flag in [2u8, 3, 0x80, 0xff] {
        let mut d = FrameDecoder::new(100);
        d.push(Bytes::from(vec![flag, 0, 0, 0, 1, b'x']));
        let err = d.next_frame().unwrap_err();
        assert_eq!(err.code(), Code::Internal, "{flag}");
        // And when the prefix spans chunks.
        let mut d = FrameDecoder::new(100);
        d.push(Bytes::from(vec![flag, 0]));
        assert!(d.next_frame().unwrap().is_none());
        d.push(Bytes::from(vec![0, 0, 1, b'x']));
        assert_eq!(d.next_frame().unwrap_err().code(), Code::Internal);
    }
}

#[test]
fn frames_inside_a_chunk_are_not_copied() {
    let mut wire = frame(false, b"first message");
    wire.extend(frame(false, b"second"));
    wire.extend(frame(false, b"third, split")[..8].iter());
    let chunk = Bytes::from(wire);
    let base = chunk.as_ptr() as usize;
    let mut d = FrameDecoder::new(1024);
    d.push(chunk.clone());
    let a = d.next_frame().unwrap().unwrap();
    assert_eq!(a.data.as_ptr() as usize, base + HEADER_LEN);
    let b = d.next_frame().unwrap().unwrap();
    assert_eq!(b.data.as_ptr() as usize, base + 2 * HEADER_LEN + 13);
    assert!(d.next_frame().unwrap().is_none());
    d.push(Bytes::from_static(b"rd, split"));
    let c = d.next_frame().unwrap().unwrap();
    assert_eq!(&c.data[..], b"third, split");
    d.finish().unwrap();
}

#[test]
fn empty_chunks_are_ignored() {
    let mut d = FrameDecoder::new(10);
    d.push(Bytes::new());
    assert!(d.next_frame().unwrap().is_none());
    d.finish().unwrap();
}
