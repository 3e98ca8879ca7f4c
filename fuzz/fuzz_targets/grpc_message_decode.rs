//! Fuzzes what grpc-core reads off the network: the message pipeline (`MessageDecoder`:
//! Length-Prefixed-Message framing plus decompression), `Metadata::from_header_fields`,
//! `Status::from_header_fields`, `decode_timeout` and `decode_grpc_message`.
//!
//! Input layout: one mode octet, one chunk-size octet, two octets of maximum message size,
//! then the body. Mode bits 0-1 pick the stream's encoding (identity, gzip, deflate, zstd);
//! bit 2 turns the body into valid traffic (the body split on 0xFF into messages, each
//! compressed and framed) instead of raw DATA bytes. Checks that:
//! - nothing panics;
//! - no message longer than the limit is ever returned (framed or decompressed);
//! - feeding the body in chunks gives exactly the results of feeding it at once;
//! - valid traffic decodes back to the messages sent, or fails with RESOURCE_EXHAUSTED when a
//!   message is over the limit;
//! - metadata read from fields holds only valid entries and survives a re-encode;
//! - a decoded grpc-timeout re-encodes to a value at least as long.
#![no_main]

use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use grpc_core::codec::BytesCodec;
use grpc_core::compression::{Compressor, compressor_for};
use grpc_core::message::{MessageDecoder, MessageEncoder};
use grpc_core::metadata::MetadataValue;
use grpc_core::percent::decode_grpc_message;
use grpc_core::timeout::{decode_timeout, encode_timeout};
use grpc_core::{Code, Metadata, Status};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let [mode, chunk, m0, m1, body @ ..] = data else {
        return;
    };
    let encoding: Option<Arc<dyn Compressor>> = match mode & 3 {
        0 => None,
        1 => compressor_for("gzip"),
        2 => compressor_for("deflate"),
        _ => compressor_for("zstd"),
    };
    let max = usize::from(u16::from_be_bytes([*m0, *m1]));
    let chunk = usize::from(*chunk).max(1);

    if mode & 4 != 0 {
        valid_traffic(body, encoding, max, chunk);
    } else {
        let body = Bytes::copy_from_slice(body);
        let whole = decode(&[body.clone()], encoding.clone(), max);
        let pieces: Vec<Bytes> = (0..body.len())
            .step_by(chunk)
            .map(|s| body.slice(s..(s + chunk).min(body.len())))
            .collect();
        let chunked = decode(&pieces, encoding, max);
        assert_eq!(
            whole, chunked,
            "chunked decoding must match decoding at once"
        );
    }

    header_fields(body);
    timeout_and_message(body);
});

/// Messages (or the first error) and the final `finish()` result.
type Outcome = (Vec<Result<Bytes, (Code, String)>>, Result<(), Code>);

fn decode(chunks: &[Bytes], encoding: Option<Arc<dyn Compressor>>, max: usize) -> Outcome {
    let mut dec = MessageDecoder::new(encoding, max);
    let mut out = Vec::new();
    for c in chunks {
        dec.push(c.clone());
        loop {
            match dec.next_message() {
                Ok(Some(m)) => {
                    assert!(m.len() <= max, "message of {} over limit {max}", m.len());
                    out.push(Ok(m));
                }
                Ok(None) => break,
                Err(e) => {
                    assert!(matches!(e.code(), Code::Internal | Code::ResourceExhausted));
                    out.push(Err((e.code(), e.message().to_owned())));
                    return (out, Err(e.code()));
                }
            }
        }
    }
    let finish = dec.finish().map_err(|e| e.code());
    (out, finish)
}

fn valid_traffic(body: &[u8], encoding: Option<Arc<dyn Compressor>>, max: usize, chunk: usize) {
    let messages: Vec<&[u8]> = body.split(|&b| b == 0xff).collect();
    let mut enc = MessageEncoder::new(encoding.clone(), usize::MAX);
    let mut wire = BytesMut::new();
    for m in &messages {
        enc.encode(&BytesCodec, Bytes::copy_from_slice(m), &mut wire)
            .expect("unlimited encoder");
    }
    let wire = wire.freeze();
    let pieces: Vec<Bytes> = (0..wire.len())
        .step_by(chunk)
        .map(|s| wire.slice(s..(s + chunk).min(wire.len())))
        .collect();
    let (got, finish) = decode(&pieces, encoding, max);
    for (i, result) in got.iter().enumerate() {
        match result {
            Ok(m) => assert_eq!(&m[..], messages[i]),
            Err((code, _)) => {
                assert_eq!(*code, Code::ResourceExhausted);
                return;
            }
        }
    }
    assert_eq!(got.len(), messages.len());
    assert_eq!(finish, Ok(()));
}

/// Splits `body` on NUL into alternating names and values.
fn header_fields(body: &[u8]) {
    let parts: Vec<Bytes> = body
        .split(|&b| b == 0)
        .map(Bytes::copy_from_slice)
        .collect();
    let fields: Vec<(&Bytes, &Bytes)> = parts.chunks_exact(2).map(|p| (&p[0], &p[1])).collect();

    if let Ok(md) = Metadata::from_header_fields(fields.iter().copied()) {
        for (key, value) in md.iter() {
            assert!(!key.is_empty());
            assert!(!key.starts_with("grpc-") && !key.starts_with(':'));
            assert!(
                key.bytes()
                    .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'z' | b'_' | b'-' | b'.'))
            );
            if let MetadataValue::Ascii(v) = value {
                assert!(v.bytes().all(|b| (0x20..=0x7e).contains(&b)));
            }
        }
        let mut again = Vec::new();
        md.encode_header_fields(|n, v| again.push((n, v)));
        let back = Metadata::from_header_fields(again.iter().map(|(n, v)| (n, v)))
            .expect("re-encoded metadata decodes");
        assert_eq!(back, md);
    }

    let status = Status::from_header_fields(fields.iter().map(|(n, v)| (&n[..], &v[..])));
    let has_status = fields.iter().any(|(n, _)| &n[..] == b"grpc-status");
    assert_eq!(status.is_some(), has_status);
    if let Some(status) = status {
        let mut again = Vec::new();
        status.encode_header_fields(|n, v| again.push((n, v)));
        let back = Status::from_header_fields(again.iter().map(|(n, v)| (&n[..], &v[..])))
            .expect("grpc-status present");
        assert_eq!(back.code(), status.code());
        assert_eq!(back.message(), status.message());
        assert_eq!(back.details(), status.details());
        assert_eq!(back.metadata(), status.metadata());
    }
}

fn timeout_and_message(body: &[u8]) {
    let head = &body[..body.len().min(12)];
    if let Ok(d) = decode_timeout(head) {
        let again = decode_timeout(&encode_timeout(d)).expect("encoded timeout decodes");
        assert!(again >= d);
    }
    let message = decode_grpc_message(body);
    let encoded = grpc_core::percent::encode_grpc_message(&message);
    assert_eq!(decode_grpc_message(encoded.as_bytes()), message);
}
