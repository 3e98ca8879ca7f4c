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
