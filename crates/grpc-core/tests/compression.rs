//! Compression registry and grpc-accept-encoding (compression.md).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use grpc_core::compression::{Encodings, accepts, compressor_for};

#[test]
fn accepts_parses_lists() {
    assert!(accepts(b"gzip, identity", "gzip"));
    assert!(accepts(b"gzip, identity", "identity"));
    assert!(accepts(b"identity,gzip", "gzip"));
    assert!(accepts(b"  gzip  ,deflate", "deflate"));
    assert!(accepts(b"deflate , gzip", "gzip"));
    assert!(accepts(b"zstd;q=1", "zstd"));
    assert!(!accepts(b"gzip, identity", "deflate"));
    assert!(!accepts(b"gzip2", "gzip"));
    assert!(!accepts(b"", "gzip"));
    assert!(!accepts(b",,,", "gzip"));
    assert!(accepts(b"", "identity"), "identity is always acceptable");
}

#[test]
fn builtin_compressors() {
    #[cfg(feature = "gzip")]
    assert_eq!(compressor_for("gzip").unwrap().name(), "gzip");
    #[cfg(feature = "deflate")]
    assert_eq!(compressor_for("deflate").unwrap().name(), "deflate");
    #[cfg(feature = "zstd")]
    assert_eq!(compressor_for("zstd").unwrap().name(), "zstd");
    assert!(compressor_for("identity").is_none());
    assert!(compressor_for("snappy").is_none());
}

#[cfg(all(feature = "gzip", feature = "deflate", feature = "zstd"))]
#[test]
fn encodings_set() {
    let all = Encodings::all();
    assert_eq!(all.accept_encoding(), "gzip,deflate,zstd");
    assert_eq!(Encodings::default().accept_encoding(), "gzip,deflate,zstd");
    assert_eq!(all.get(b"gzip").unwrap().name(), "gzip");
    assert_eq!(all.get(b"zstd").unwrap().name(), "zstd");
    assert!(all.get(b"identity").is_none());
    assert!(all.get(b"br").is_none());
    assert_eq!(format!("{all:?}"), r#"["gzip", "deflate", "zstd"]"#);

    let none = Encodings::none();
    assert!(none.accept_encoding().is_empty());
    assert!(none.get(b"gzip").is_none());
    let one = none.with(compressor_for("zstd").unwrap());
    assert_eq!(one.accept_encoding(), "zstd");
    // Same name replaces, keeps order.
    let again = all.with(compressor_for("gzip").unwrap());
    assert_eq!(again.accept_encoding(), "gzip,deflate,zstd");
    assert_eq!(again.iter().count(), 3);
}

#[cfg(feature = "gzip")]
#[test]
fn gzip_is_gzip_and_deflate_is_zlib() {
    use bytes::BytesMut;
    let mut out = BytesMut::new();
    compressor_for("gzip")
        .unwrap()
        .compress(b"x", &mut out)
        .unwrap();
    assert_eq!(&out[..2], &[0x1f, 0x8b], "gzip magic");
    #[cfg(feature = "deflate")]
    {
        let mut out = BytesMut::new();
        compressor_for("deflate")
            .unwrap()
            .compress(b"x", &mut out)
            .unwrap();
        // zlib header: CM = 8, (CMF*256 + FLG) % 31 == 0 (RFC 1950).
        assert_eq!(out[0] & 0x0f, 8);
        assert_eq!((u16::from(out[0]) * 256 + u16::from(out[1])) % 31, 0);
    }
}

#[test]
fn custom_compressor_plugs_in() {
    use bytes::BytesMut;
    use grpc_core::compression::{Compressor, DecompressError};

    struct Reverse;
    impl Compressor for Reverse {
        fn name(&self) -> &'static str {
            "reverse"
        }
        fn compress(&self, input: &[u8], out: &mut BytesMut) -> std::io::Result<()> {
            out.extend(input.iter().rev());
            Ok(())
        }
        fn decompress(
            &self,
            input: &[u8],
            out: &mut BytesMut,
            limit: usize,
        ) -> Result<(), DecompressError> {
            if input.len() > limit {
                return Err(DecompressError::TooLarge);
            }
            out.extend(input.iter().rev());
            Ok(())
        }
    }
    let set = Encodings::none().with(Arc::new(Reverse));
    assert_eq!(set.accept_encoding(), "reverse");
    let c = set.get(b"reverse").unwrap().clone();
    let mut enc = grpc_core::message::MessageEncoder::new(Some(c.clone()), usize::MAX);
    let mut wire = BytesMut::new();
    enc.encode(
        &grpc_core::codec::BytesCodec,
        bytes::Bytes::from_static(b"abc"),
        &mut wire,
    )
    .unwrap();
    assert_eq!(&wire[..], b"\x01\0\0\0\x03cba");
    let mut dec = grpc_core::message::MessageDecoder::new(Some(c), 2);
    dec.push(wire.freeze());
    // Framed size 3 > 2: refused before decompression.
    assert!(dec.next_message().is_err());
}

/// Our output decodes with other implementations, and theirs with ours.
#[cfg(all(feature = "gzip", feature = "deflate", feature = "zstd"))]
mod interop {
    use std::io::{Read, Write};

    use bytes::BytesMut;
    use grpc_core::compression::{Compressor, DecompressError, compressor_for};

    fn data() -> Vec<u8> {
        (0..50_000u32).map(|i| (i * 7 % 251) as u8).collect()
    }

    fn ours(name: &str) -> std::sync::Arc<dyn Compressor> {
        compressor_for(name).unwrap()
    }

    /// `input` compressed by our `name` compressor.
    fn compress(name: &str, input: &[u8]) -> BytesMut {
        let mut out = BytesMut::new();
        ours(name).compress(input, &mut out).unwrap();
        out
    }

    /// `input` decompressed by our `name` compressor, at most `limit` octets of it.
    fn decompress(name: &str, input: &[u8], limit: usize) -> Result<BytesMut, DecompressError> {
        let mut out = BytesMut::new();
        ours(name).decompress(input, &mut out, limit)?;
        Ok(out)
    }

    #[test]
    fn gzip_both_ways() {
        let data = data();
        let packed = compress("gzip", &data);
        let mut back = Vec::new();
        flate2::read::GzDecoder::new(&packed[..])
            .read_to_end(&mut back)
            .unwrap();
        assert_eq!(back, data);

        // A header with every optional field (RFC 1952 §2.3), made by flate2.
        let mut theirs = Vec::new();
        let mut enc = flate2::GzBuilder::new()
            .filename("name.bin")
            .comment("a comment")
            .extra(vec![1, 2, 3, 4])
            .write(&mut theirs, flate2::Compression::best());
        enc.write_all(&data).unwrap();
        enc.finish().unwrap();
        let out = decompress("gzip", &theirs, data.len()).unwrap();
        assert_eq!(&out[..], &data[..]);

        // Two members make one message.
        let mut two = theirs.clone();
        two.extend_from_slice(&packed);
        let out = decompress("gzip", &two, 2 * data.len()).unwrap();
        assert_eq!(out.len(), 2 * data.len());
        assert!(matches!(
            decompress("gzip", &two, 2 * data.len() - 1),
            Err(DecompressError::TooLarge)
        ));
    }

    #[test]
    fn gzip_integrity_checks() {
        let data = data();
        let packed = compress("gzip", &data);
        let n = packed.len();
        let corrupt = |f: &dyn Fn(&mut Vec<u8>)| {
            let mut v = packed.to_vec();
            f(&mut v);
            let mut out = BytesMut::from(&b"keep"[..]);
            let r = ours("gzip").decompress(&v, &mut out, usize::MAX);
            assert_eq!(&out[..], b"keep", "output restored on error");
            r
        };
        assert!(
            matches!(corrupt(&|v| v[n - 8] ^= 1), Err(DecompressError::Io(_))),
            "crc"
        );
        assert!(
            matches!(corrupt(&|v| v[n - 1] ^= 1), Err(DecompressError::Io(_))),
            "isize"
        );
        assert!(
            matches!(corrupt(&|v| v[3] = 0x20), Err(DecompressError::Io(_))),
            "reserved flag"
        );
        assert!(
            matches!(corrupt(&|v| v[0] = 0), Err(DecompressError::Io(_))),
            "magic"
        );
        assert!(
            matches!(corrupt(&|v| v[2] = 7), Err(DecompressError::Io(_))),
            "method"
        );
        assert!(
            matches!(corrupt(&|v| v.truncate(n - 3)), Err(DecompressError::Io(_))),
            "cut trailer"
        );
        assert!(
            matches!(corrupt(&|v| v.push(0)), Err(DecompressError::Io(_))),
            "trailing junk"
        );
        assert!(
            matches!(corrupt(&|v| v.truncate(5)), Err(DecompressError::Io(_))),
            "cut header"
        );
    }

    #[test]
    fn zlib_both_ways() {
        let data = data();
        let packed = compress("deflate", &data);
        let mut back = Vec::new();
        flate2::read::ZlibDecoder::new(&packed[..])
            .read_to_end(&mut back)
            .unwrap();
        assert_eq!(back, data);

        let mut theirs = Vec::new();
        let mut enc = flate2::write::ZlibEncoder::new(&mut theirs, flate2::Compression::fast());
        enc.write_all(&data).unwrap();
        enc.finish().unwrap();
        let out = decompress("deflate", &theirs, data.len()).unwrap();
        assert_eq!(&out[..], &data[..]);
        // Raw deflate (no zlib header) is not "deflate" in gRPC.
        let mut raw = Vec::new();
        let mut enc = flate2::write::DeflateEncoder::new(&mut raw, flate2::Compression::fast());
        enc.write_all(&data).unwrap();
        enc.finish().unwrap();
        assert!(decompress("deflate", &raw, usize::MAX).is_err());
    }

    #[test]
    fn zstd_both_ways() {
        let data = data();
        let packed = compress("zstd", &data);
        assert_eq!(zstd::stream::decode_all(&packed[..]).unwrap(), data);

        let theirs = zstd::stream::encode_all(&data[..], 19).unwrap();
        let out = decompress("zstd", &theirs, data.len()).unwrap();
        assert_eq!(&out[..], &data[..]);
        // Two frames make one message.
        let mut two = theirs.clone();
        two.extend_from_slice(&packed);
        let out = decompress("zstd", &two, 2 * data.len()).unwrap();
        assert_eq!(out.len(), 2 * data.len());
        // Truncated and corrupt frames fail.
        let mut out = BytesMut::new();
        assert!(
            ours("zstd")
                .decompress(&theirs[..theirs.len() - 1], &mut out, usize::MAX)
                .is_err()
        );
        let mut bad = theirs.clone();
        bad[0] ^= 0xff;
        assert!(ours("zstd").decompress(&bad, &mut out, usize::MAX).is_err());
        assert!(out.is_empty());
    }

    #[test]
    fn state_is_reused_safely_after_errors() {
        // A failure leaves the per-thread state reusable: the next call starts clean.
        for name in ["gzip", "deflate", "zstd"] {
            let c = ours(name);
            let data = data();
            let mut packed = BytesMut::new();
            c.compress(&data, &mut packed).unwrap();
            let mut out = BytesMut::new();
            let _ = c.decompress(&packed[..packed.len() / 2], &mut out, usize::MAX);
            let _ = c.decompress(&packed, &mut out, 10);
            let mut out = BytesMut::new();
            c.decompress(&packed, &mut out, data.len()).unwrap();
            assert_eq!(&out[..], &data[..], "{name}");
            // And the compressor gives identical output every time.
            let mut again = BytesMut::new();
            c.compress(&data, &mut again).unwrap();
            assert_eq!(again, packed, "{name}");
        }
    }

    #[test]
    fn works_across_threads() {
        let handles: Vec<_> = (0..4)
            .map(|t| {
                std::thread::spawn(move || {
                    for name in ["gzip", "deflate", "zstd"] {
                        let c = ours(name);
                        let data: Vec<u8> = (0..10_000u32).map(|i| (i * t % 13) as u8).collect();
                        let mut packed = BytesMut::new();
                        c.compress(&data, &mut packed).unwrap();
                        let mut out = BytesMut::new();
                        c.decompress(&packed, &mut out, data.len()).unwrap();
                        assert_eq!(&out[..], &data[..]);
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
    }
}

/// Sizes at and around multiples of the decoders' 16 KiB output step: a message that fills
/// the output buffer exactly at its end must still decode (zstd once reported such messages
/// as truncated).
#[test]
fn every_compressor_round_trips_sizes_at_buffer_boundaries() {
    for name in ["gzip", "deflate", "zstd"] {
        let Some(compressor) = compressor_for(name) else {
            continue;
        };
        for size in [
            0,
            1,
            16 * 1024 - 1,
            16 * 1024,
            16 * 1024 + 1,
            64 * 1024,
            1 << 20,
        ] {
            for fill in [b'a', 0u8] {
                let input = vec![fill; size];
                let mut compressed = bytes::BytesMut::new();
                compressor.compress(&input, &mut compressed).unwrap();
                let mut out = bytes::BytesMut::new();
                compressor
                    .decompress(&compressed, &mut out, size.max(1))
                    .unwrap_or_else(|e| panic!("{name}, {size} octets: {e:?}"));
                assert!(out[..] == input[..], "{name}, {size} octets changed");
            }
        }
    }
}
