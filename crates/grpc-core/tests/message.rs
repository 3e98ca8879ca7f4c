//! The message pipeline: codec + compression + framing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use grpc_core::Code;
use grpc_core::codec::BytesCodec;
use grpc_core::compression::Compressor;
use grpc_core::message::{MessageDecoder, MessageEncoder};

const MIB: usize = 1024 * 1024;

fn compressors() -> Vec<Option<Arc<dyn Compressor>>> {
    let mut v: Vec<Option<Arc<dyn Compressor>>> = vec![None];
    for name in ["gzip", "deflate", "zstd"] {
        if let Some(c) = grpc_core::compression::compressor_for(name) {
            v.push(Some(c));
        }
    }
    v
}

fn name(c: &Option<Arc<dyn Compressor>>) -> &'static str {
    c.as_ref().map_or("identity", |c| c.name())
}

/// Deterministic, somewhat compressible test data.
fn payload(len: usize) -> Bytes {
    let mut x = 0x9e37_79b9u32;
    (0..len)
        .map(|i| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            if i % 3 == 0 { b'a' } else { (x % 16) as u8 }
        })
        .collect::<Vec<u8>>()
        .into()
}

#[test]
fn round_trip_with_each_compressor() {
    for c in compressors() {
        let mut enc = MessageEncoder::new(c.clone(), usize::MAX);
        let mut wire = BytesMut::new();
        let messages: Vec<Bytes> = [0, 1, 5, 1000, 100_000, 1_000_000]
            .into_iter()
            .map(payload)
            .collect();
        for m in &messages {
            enc.encode(&BytesCodec, m.clone(), &mut wire).unwrap();
        }
        let wire = wire.freeze();
        // Whole, and in 1000-octet DATA frames.
        for step in [wire.len(), 1000, 7] {
            let mut dec = MessageDecoder::new(c.clone(), 4 * MIB);
            let mut got = Vec::new();
            for start in (0..wire.len()).step_by(step) {
                dec.push(wire.slice(start..(start + step).min(wire.len())));
                while let Some(m) = dec.next_message().unwrap() {
                    got.push(m);
                }
            }
            dec.finish().unwrap();
            assert_eq!(got, messages, "{} step {step}", name(&c));
        }
    }
}

#[test]
fn compressed_flag_is_set_only_when_compressing() {
    for c in compressors() {
        let mut enc = MessageEncoder::new(c.clone(), usize::MAX);
        let mut wire = BytesMut::new();
        enc.encode(&BytesCodec, payload(100), &mut wire).unwrap();
        assert_eq!(wire[0], u8::from(c.is_some()), "{}", name(&c));
        // An empty message is sent uncompressed.
        let mut wire = BytesMut::new();
        enc.encode(&BytesCodec, Bytes::new(), &mut wire).unwrap();
        assert_eq!(&wire[..], &[0, 0, 0, 0, 0]);
    }
}

#[test]
fn compression_switches_per_message_and_the_decoder_tells_each_flag() {
    for c in compressors() {
        let mut enc = MessageEncoder::new(c.clone(), usize::MAX);
        assert_eq!(enc.compresses(), c.is_some());
        let mut wire = BytesMut::new();
        let mut expected = Vec::new();
        for (enabled, len) in [
            (true, 100),
            (false, 200),
            (false, 0),
            (true, 300),
            (true, 0),
        ] {
            enc.set_compression(enabled);
            // Without a compressor, enabling compresses nothing.
            assert_eq!(enc.compresses(), enabled && c.is_some());
            let start = wire.len();
            enc.encode(&BytesCodec, payload(len), &mut wire).unwrap();
            let flag = enabled && c.is_some() && len > 0;
            assert_eq!(wire[start], u8::from(flag), "{} {enabled} {len}", name(&c));
            expected.push((payload(len), flag));
        }
        // The stream's encoding stays what it was: the decoder needs it for the flagged
        // messages and takes the others as they are.
        let mut dec = MessageDecoder::new(c.clone(), MIB);
        assert_eq!(
            dec.encoding().map(|c| c.name()),
            c.as_ref().map(|c| c.name())
        );
        assert!(!dec.last_message_compressed(), "before any message");
        dec.push(wire.freeze());
        let mut got = Vec::new();
        while let Some(m) = dec.next_message().unwrap() {
            got.push((m, dec.last_message_compressed()));
        }
        assert_eq!(got, expected, "{}", name(&c));
    }
}

#[test]
fn an_empty_message_with_the_flag_set_reads_as_compressed() {
    for c in compressors().into_iter().flatten() {
        let mut dec = MessageDecoder::new(Some(c.clone()), MIB);
        dec.push(Bytes::from_static(&[0, 0, 0, 0, 1, b'x', 1, 0, 0, 0, 0]));
        assert_eq!(dec.next_message().unwrap().unwrap(), "x");
        assert!(!dec.last_message_compressed());
        assert_eq!(dec.next_message().unwrap().unwrap(), "");
        assert!(dec.last_message_compressed(), "{}", c.name());
        // An error does not change what the last message was.
        dec.push(Bytes::from_static(&[2, 0, 0, 0, 0]));
        assert!(dec.next_message().is_err());
        assert!(dec.last_message_compressed());
    }
}

#[test]
fn received_compressed_reads_a_missing_marker_as_uncompressed() {
    use grpc_core::Extensions;
    use grpc_core::message::ReceivedCompressed;

    let mut extensions = Extensions::new();
    assert!(!ReceivedCompressed::of(&extensions));
    extensions.insert(ReceivedCompressed(false));
    assert!(!ReceivedCompressed::of(&extensions));
    extensions.insert(ReceivedCompressed(true));
    assert!(ReceivedCompressed::of(&extensions));
}

#[test]
fn large_repetitive_message_shrinks() {
    for c in compressors().into_iter().flatten() {
        let mut enc = MessageEncoder::new(Some(c.clone()), usize::MAX);
        let mut wire = BytesMut::new();
        enc.encode(&BytesCodec, Bytes::from(vec![7u8; MIB]), &mut wire)
            .unwrap();
        assert!(wire.len() < 64 * 1024, "{}: {}", c.name(), wire.len());
    }
}

#[test]
fn send_limit_is_resource_exhausted() {
    for c in compressors() {
        let mut enc = MessageEncoder::new(c.clone(), 64);
        let mut wire = BytesMut::from(&b"earlier"[..]);
        let err = enc
            .encode(&BytesCodec, payload(10_000), &mut wire)
            .unwrap_err();
        assert_eq!(err.code(), Code::ResourceExhausted, "{}", name(&c));
        assert!(
            err.message()
                .starts_with("trying to send message larger than max ("),
            "{}",
            err.message()
        );
        assert!(err.message().ends_with(" vs. 64)"), "{}", err.message());
        assert_eq!(&wire[..], b"earlier", "output left as it was");
        // Small messages still go through afterwards.
        enc.encode(&BytesCodec, Bytes::from_static(b"ok"), &mut wire)
            .unwrap();
    }
    let mut enc = MessageEncoder::new(None, 3);
    let mut wire = BytesMut::new();
    enc.encode(&BytesCodec, Bytes::from_static(b"abc"), &mut wire)
        .unwrap();
    assert_eq!(&wire[..], b"\0\0\0\0\x03abc");
}

#[test]
fn compressed_flag_without_encoding_is_internal() {
    let mut dec = MessageDecoder::new(None, MIB);
    dec.push(Bytes::from_static(&[1, 0, 0, 0, 2, 1, 2]));
    let err = dec.next_message().unwrap_err();
    assert_eq!(err.code(), Code::Internal);
    assert!(err.message().contains("grpc-encoding"), "{}", err.message());
}

#[test]
fn empty_compressed_payload_is_an_empty_message() {
    for c in compressors().into_iter().flatten() {
        let mut dec = MessageDecoder::new(Some(c), MIB);
        dec.push(Bytes::from_static(&[1, 0, 0, 0, 0]));
        assert_eq!(dec.next_message().unwrap().unwrap(), "");
    }
}

fn compressed_frame(c: &Arc<dyn Compressor>, data: &[u8]) -> Bytes {
    let mut body = BytesMut::new();
    c.compress(data, &mut body).unwrap();
    let mut wire = BytesMut::new();
    grpc_core::framing::encode_header(true, u32::try_from(body.len()).unwrap(), &mut wire);
    wire.extend_from_slice(&body);
    wire.freeze()
}

#[test]
fn corrupt_compressed_payload_is_internal() {
    for c in compressors().into_iter().flatten() {
        let good = compressed_frame(&c, &payload(5000));
        let mut cases: Vec<Bytes> = Vec::new();
        // Garbage body.
        let mut garbage = good.to_vec();
        for b in &mut garbage[5..] {
            *b ^= 0x5a;
        }
        cases.push(garbage.into());
        // Truncated body (prefix adjusted so framing is valid).
        let body = &good[5..good.len() - 10];
        let mut truncated = BytesMut::new();
        grpc_core::framing::encode_header(true, u32::try_from(body.len()).unwrap(), &mut truncated);
        truncated.extend_from_slice(body);
        cases.push(truncated.freeze());
        // A single octet.
        cases.push(Bytes::from_static(&[1, 0, 0, 0, 1, 0x42]));
        for (i, wire) in cases.into_iter().enumerate() {
            let mut dec = MessageDecoder::new(Some(c.clone()), 4 * MIB);
            dec.push(wire);
            let err = dec.next_message().unwrap_err();
            assert_eq!(err.code(), Code::Internal, "{} case {i}: {err}", c.name());
        }
    }
}

#[test]
fn framed_limit_applies_before_decompression() {
    let mut dec = MessageDecoder::new(None, 4);
    dec.push(Bytes::from_static(&[0, 0, 0, 0, 5, 1, 2, 3, 4, 5]));
    assert_eq!(
        dec.next_message().unwrap_err().code(),
        Code::ResourceExhausted
    );
}

#[test]
fn truncated_stream_fails_finish() {
    let mut dec = MessageDecoder::new(None, MIB);
    dec.push(Bytes::from_static(&[0, 0, 0, 0, 5, 1, 2]));
    assert!(dec.next_message().unwrap().is_none());
    assert_eq!(dec.buffered(), 7);
    assert_eq!(dec.finish().unwrap_err().code(), Code::Internal);
}

#[cfg(feature = "prost")]
mod prost_codec {
    use super::*;
    use grpc_core::codec::{Codec, ProstCodec};

    #[derive(Clone, PartialEq, prost::Message)]
    struct Hello {
        #[prost(string, tag = "1")]
        name: String,
        #[prost(uint64, tag = "2")]
        count: u64,
        #[prost(bytes = "bytes", tag = "3")]
        blob: Bytes,
    }

    fn hello() -> Hello {
        Hello {
            name: "world \u{1F30D}".into(),
            count: 1 << 40,
            blob: payload(300),
        }
    }

    #[test]
    fn prost_round_trip_through_pipeline() {
        let codec = ProstCodec::<Hello, Hello>::default();
        for c in compressors() {
            let mut enc = MessageEncoder::new(c.clone(), usize::MAX);
            let mut wire = BytesMut::new();
            enc.encode(&codec, hello(), &mut wire).unwrap();
            enc.encode(&codec, Hello::default(), &mut wire).unwrap();
            let mut dec = MessageDecoder::new(c.clone(), MIB);
            dec.push(wire.freeze());
            let a = codec.decode(dec.next_message().unwrap().unwrap()).unwrap();
            let b = codec.decode(dec.next_message().unwrap().unwrap()).unwrap();
            assert_eq!(a, hello());
            assert_eq!(b, Hello::default());
        }
    }

    #[test]
    fn truncated_protobuf_is_internal() {
        let codec = ProstCodec::<Hello, Hello>::new();
        let mut buf = BytesMut::new();
        codec.encode(hello(), &mut buf).unwrap();
        let full = buf.freeze();
        for cut in [1, 2, 5, full.len() - 1] {
            let err = codec.decode(full.slice(..cut)).unwrap_err();
            assert_eq!(err.code(), Code::Internal, "cut at {cut}");
            assert!(err.message().contains("decode"), "{}", err.message());
        }
        // Wrong wire type for a field.
        let err = codec.decode(Bytes::from_static(&[0x0a, 0xff])).unwrap_err();
        assert_eq!(err.code(), Code::Internal);
    }

    #[test]
    fn codec_is_copy_and_debug() {
        let a = ProstCodec::<Hello, Hello>::default();
        let b = a;
        let _c = a;
        assert_eq!(format!("{b:?}"), "ProstCodec");
    }

    #[test]
    fn codec_appends() {
        let codec = ProstCodec::<Hello, Hello>::default();
        let mut buf = BytesMut::from(&b"xx"[..]);
        codec.encode(hello(), &mut buf).unwrap();
        assert_eq!(&buf[..2], b"xx");
        assert_eq!(codec.decode(buf.freeze().slice(2..)).unwrap(), hello());
    }
}

#[cfg(any(feature = "gzip", feature = "deflate", feature = "zstd"))]
mod bombs {
    use super::*;

    /// Writes bits least significant first, as deflate packs them (RFC 1951 §3.1.1).
    struct Bits {
        out: Vec<u8>,
        acc: u64,
        n: u32,
    }

    impl Bits {
        fn put(&mut self, value: u32, bits: u32) {
            self.acc |= u64::from(value) << self.n;
            self.n += bits;
            while self.n >= 8 {
                self.out.push(self.acc as u8);
                self.acc >>= 8;
                self.n -= 8;
            }
        }

        /// Huffman codes go most significant bit first.
        fn code(&mut self, code: u32, bits: u32) {
            self.put(code.reverse_bits() >> (32 - bits), bits);
        }

        fn finish(mut self) -> Vec<u8> {
            if self.n > 0 {
                self.out.push(self.acc as u8);
            }
            self.out
        }
    }

    /// A raw deflate stream of `total` zeros, written directly (compressing 100 MiB in a debug
    /// build takes seconds): one fixed-Huffman block (RFC 1951 §3.2.6) with a literal 0 and
    /// then length-258, distance-1 copies, 13 bits each.
    fn zeros_deflate(total: usize) -> Vec<u8> {
        let mut b = Bits {
            out: Vec::new(),
            acc: 0,
            n: 0,
        };
        b.put(1, 1); // BFINAL
        b.put(1, 2); // BTYPE = 01, fixed Huffman codes
        let literal_zero = |b: &mut Bits| b.code(0x30, 8); // literals 0..=143: 00110000 + lit
        literal_zero(&mut b);
        let rest = total - 1;
        for _ in 0..rest / 258 {
            b.code(0b1100_0101, 8); // length code 285 = 258, no extra bits
            b.code(0, 5); // distance code 0 = 1
        }
        for _ in 0..rest % 258 {
            literal_zero(&mut b);
        }
        b.code(0, 7); // end of block (256)
        b.finish()
    }

    /// A bomb: 100 MiB of zeros, compressed, framed. For gzip and zlib the trailer checksum is
    /// left zero: a decoder must give up at the size limit long before it gets there.
    fn bomb(c: &Arc<dyn Compressor>) -> Bytes {
        let total = 100 * MIB;
        let body = match c.name() {
            "gzip" => {
                let mut v = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];
                v.extend(zeros_deflate(total));
                v.extend([0u8; 8]);
                v
            }
            "deflate" => {
                let mut v = vec![0x78, 0x9c];
                v.extend(zeros_deflate(total));
                v.extend([0u8; 4]);
                v
            }
            _ => {
                // zstd is fast enough to compress the real thing.
                let mut out = BytesMut::new();
                c.compress(&vec![0u8; total], &mut out).unwrap();
                out.to_vec()
            }
        };
        let mut wire = BytesMut::new();
        grpc_core::framing::encode_header(true, u32::try_from(body.len()).unwrap(), &mut wire);
        wire.extend_from_slice(&body);
        wire.freeze()
    }

    #[cfg(any(feature = "gzip", feature = "deflate"))]
    #[test]
    fn handmade_deflate_is_valid() {
        // The writer above produces what a real inflater accepts.
        for c in compressors().into_iter().flatten() {
            if c.name() == "zstd" {
                continue;
            }
            let small = 10_000;
            let mut body = if c.name() == "gzip" {
                vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff]
            } else {
                vec![0x78, 0x9c]
            };
            body.extend(zeros_deflate(small));
            let zeros = vec![0u8; small];
            if c.name() == "gzip" {
                let mut crc = flate2::Crc::new();
                crc.update(&zeros);
                body.extend(crc.sum().to_le_bytes());
                body.extend(crc.amount().to_le_bytes());
            } else {
                // Adler-32 of n zeros: A = 1, B = n (RFC 1950 §8.2), big-endian.
                let adler = (u32::try_from(small).unwrap() << 16) | 1;
                body.extend(adler.to_be_bytes());
            }
            let mut out = BytesMut::new();
            c.decompress(&body, &mut out, small).unwrap();
            assert_eq!(&out[..], &zeros[..]);
            let mut probe = BytesMut::new();
            let too_small = c.decompress(&body, &mut probe, small - 1);
            assert!(matches!(
                too_small,
                Err(grpc_core::compression::DecompressError::TooLarge)
            ));
        }
    }

    #[test]
    fn decompression_bomb_is_resource_exhausted() {
        for c in compressors().into_iter().flatten() {
            let wire = bomb(&c);
            assert!(
                wire.len() < 4 * MIB,
                "{}: bomb is {} octets",
                c.name(),
                wire.len()
            );
            let mut dec = MessageDecoder::new(Some(c.clone()), 4 * MIB);
            dec.push(wire);
            let err = dec.next_message().unwrap_err();
            assert_eq!(err.code(), Code::ResourceExhausted, "{}", c.name());
            assert!(
                err.message().contains("larger than max"),
                "{}",
                err.message()
            );
        }
    }

    #[test]
    fn decompression_never_grows_past_the_limit() {
        for c in compressors().into_iter().flatten() {
            let wire = bomb(&c);
            let body = &wire[5..];
            let mut out = BytesMut::new();
            let limit = 4 * MIB;
            let err = c.decompress(body, &mut out, limit).unwrap_err();
            assert!(matches!(
                err,
                grpc_core::compression::DecompressError::TooLarge
            ));
            assert!(out.is_empty(), "nothing kept after TooLarge");
            // The buffer grew to at most twice the limit (doubling), never to 100 MiB.
            assert!(
                out.capacity() <= 2 * limit + 64 * 1024,
                "{}: {}",
                c.name(),
                out.capacity()
            );
            // Exactly at the limit is accepted.
            let data = payload(1000);
            let mut packed = BytesMut::new();
            c.compress(&data, &mut packed).unwrap();
            let mut out = BytesMut::from(&b"prefix"[..]);
            c.decompress(&packed, &mut out, 1000).unwrap();
            assert_eq!(&out[6..], &data[..]);
            let mut out = BytesMut::new();
            assert!(c.decompress(&packed, &mut out, 999).is_err());
        }
    }
}
