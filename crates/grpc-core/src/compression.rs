//! Message compression (`compression.md`; `PROTOCOL-HTTP2.md`, "Message-Encoding",
//! "Compressed-Flag").
//!
//! A sender names its compression in `grpc-encoding` and sets the Compressed-Flag of each
//! message it compressed; it lists what it can decode in `grpc-accept-encoding`. `identity`
//! (no compression) is always supported and is never represented by a [`Compressor`].
//!
//! Built in, each behind its cargo feature: `gzip` (gzip format, RFC 1952), `deflate` (the zlib
//! format, RFC 1950, as gRPC C-core and gRPC-Go send it) and `zstd`. Decompression is bounded:
//! a compressor never appends more than the given limit, so a small "compression bomb" cannot
//! make the receiver allocate more than its message size limit.

use std::fmt;
use std::io;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};

/// A message compression algorithm.
pub trait Compressor: Send + Sync + 'static {
    /// The name used in `grpc-encoding` and `grpc-accept-encoding`, e.g. `"gzip"`.
    fn name(&self) -> &'static str;

    /// Appends the compressed form of `input` to `out`.
    fn compress(&self, input: &[u8], out: &mut BytesMut) -> io::Result<()>;

    /// Appends the decompressed form of `input` to `out`, at most `limit` octets of it; if the
    /// output would be longer, fails with [`DecompressError::TooLarge`] without appending more
    /// than `limit` octets. Corrupt or truncated input is [`DecompressError::Io`].
    fn decompress(
        &self,
        input: &[u8],
        out: &mut BytesMut,
        limit: usize,
    ) -> Result<(), DecompressError>;
}

/// Why decompression failed.
#[derive(Debug)]
pub enum DecompressError {
    /// The output would exceed the limit.
    TooLarge,
    /// The input is corrupt or truncated.
    Io(io::Error),
}

impl fmt::Display for DecompressError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecompressError::TooLarge => f.write_str("decompressed message exceeds the limit"),
            DecompressError::Io(e) => write!(f, "corrupt compressed message: {e}"),
        }
    }
}

impl std::error::Error for DecompressError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            DecompressError::TooLarge => None,
            DecompressError::Io(e) => Some(e),
        }
    }
}

impl From<io::Error> for DecompressError {
    fn from(e: io::Error) -> Self {
        DecompressError::Io(e)
    }
}

/// Size of the stack buffer decompressed output passes through.
#[cfg(any(feature = "gzip", feature = "deflate", feature = "zstd"))]
const STEP: usize = 16 * 1024;

/// Reads `reader` to its end into `out`, failing once more than `limit` octets come out.
/// Nothing beyond `limit` is ever appended, so memory stays bounded by the limit.
#[cfg(any(feature = "gzip", feature = "zstd"))]
fn read_bounded(
    mut reader: impl io::Read,
    out: &mut BytesMut,
    limit: usize,
) -> Result<(), DecompressError> {
    let start = out.len();
    let mut buf = [0u8; STEP];
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                out.truncate(start);
                return Err(DecompressError::Io(e));
            }
        };
        if out.len() - start + n > limit {
            out.truncate(start);
            return Err(DecompressError::TooLarge);
        }
        out.extend_from_slice(&buf[..n]);
    }
}

/// gzip (RFC 1952), the encoding every gRPC implementation supports. Concatenated gzip members
/// are decoded as one message.
#[cfg(feature = "gzip")]
#[derive(Clone, Copy, Debug, Default)]
pub struct Gzip;

#[cfg(feature = "gzip")]
impl Compressor for Gzip {
    fn name(&self) -> &'static str {
        "gzip"
    }

    fn compress(&self, input: &[u8], out: &mut BytesMut) -> io::Result<()> {
        use bytes::BufMut;
        use io::Write;
        let mut enc = flate2::write::GzEncoder::new(out.writer(), flate2::Compression::default());
        enc.write_all(input)?;
        enc.finish()?;
        Ok(())
    }

    fn decompress(
        &self,
        input: &[u8],
        out: &mut BytesMut,
        limit: usize,
    ) -> Result<(), DecompressError> {
        read_bounded(flate2::bufread::MultiGzDecoder::new(input), out, limit)
    }
}

/// "deflate": the zlib format (RFC 1950 wrapping RFC 1951), as gRPC C-core and gRPC-Go use
/// the name. A stream that ends before its final block is refused as truncated.
#[cfg(feature = "deflate")]
#[derive(Clone, Copy, Debug, Default)]
pub struct Deflate;

#[cfg(feature = "deflate")]
impl Compressor for Deflate {
    fn name(&self) -> &'static str {
        "deflate"
    }

    fn compress(&self, input: &[u8], out: &mut BytesMut) -> io::Result<()> {
        use bytes::BufMut;
        use io::Write;
        let mut enc = flate2::write::ZlibEncoder::new(out.writer(), flate2::Compression::default());
        enc.write_all(input)?;
        enc.finish()?;
        Ok(())
    }

    fn decompress(
        &self,
        input: &[u8],
        out: &mut BytesMut,
        limit: usize,
    ) -> Result<(), DecompressError> {
        use flate2::{Decompress, FlushDecompress, Status};
        // The low-level API, because flate2's readers treat a zlib stream cut short as a
        // normal end; here a missing end of stream is an error.
        let start = out.len();
        let mut state = Decompress::new(true);
        let mut buf = [0u8; STEP];
        let fail = |out: &mut BytesMut, e: DecompressError| {
            out.truncate(start);
            Err(e)
        };
        loop {
            let consumed = usize::try_from(state.total_in()).unwrap_or(usize::MAX);
            let rest = input.get(consumed..).unwrap_or_default();
            let out_before = state.total_out();
            let in_before = state.total_in();
            let status = match state.decompress(rest, &mut buf, FlushDecompress::None) {
                Ok(s) => s,
                Err(e) => {
                    return fail(
                        out,
                        DecompressError::Io(io::Error::new(io::ErrorKind::InvalidData, e)),
                    );
                }
            };
            let produced = usize::try_from(state.total_out() - out_before).unwrap_or(usize::MAX);
            if out.len() - start + produced > limit {
                return fail(out, DecompressError::TooLarge);
            }
            out.extend_from_slice(buf.get(..produced).unwrap_or_default());
            match status {
                Status::StreamEnd => return Ok(()),
                Status::Ok | Status::BufError => {
                    if produced == 0 && state.total_in() == in_before {
                        return fail(
                            out,
                            DecompressError::Io(io::Error::new(
                                io::ErrorKind::UnexpectedEof,
                                "deflate stream is truncated",
                            )),
                        );
                    }
                }
            }
        }
    }
}

/// zstd (RFC 8878). The decoder accepts back-reference windows up to the larger of 8 MiB (the
/// size RFC 8878 recommends every decoder support) and the limit, capped at zstd's default of
/// 128 MiB, so a frame cannot make the receiver reserve a huge window.
#[cfg(feature = "zstd")]
#[derive(Clone, Copy, Debug, Default)]
pub struct Zstd;

#[cfg(feature = "zstd")]
impl Compressor for Zstd {
    fn name(&self) -> &'static str {
        "zstd"
    }

    fn compress(&self, input: &[u8], out: &mut BytesMut) -> io::Result<()> {
        use bytes::BufMut;
        // Level 0 is zstd's default (3).
        zstd::stream::copy_encode(input, out.writer(), 0)
    }

    fn decompress(
        &self,
        input: &[u8],
        out: &mut BytesMut,
        limit: usize,
    ) -> Result<(), DecompressError> {
        let mut dec = zstd::stream::read::Decoder::with_buffer(input)?;
        let want = usize::BITS - limit.saturating_sub(1).leading_zeros();
        dec.window_log_max(want.clamp(23, 27))?;
        read_bounded(dec, out, limit)
    }
}

/// The set of compressors an endpoint accepts (`identity` is always implied).
#[derive(Clone)]
pub struct Encodings {
    compressors: Vec<Arc<dyn Compressor>>,
    /// The `grpc-accept-encoding` value, rebuilt when the set changes.
    accept: Bytes,
}

impl Encodings {
    /// Only `identity`.
    pub fn none() -> Self {
        Encodings {
            compressors: Vec::new(),
            accept: Bytes::new(),
        }
    }

    /// Every compressor compiled in (gzip, deflate, zstd, as the features allow).
    pub fn all() -> Self {
        let mut e = Encodings::none();
        for name in ["gzip", "deflate", "zstd"] {
            if let Some(c) = compressor_for(name) {
                e = e.with(c);
            }
        }
        e
    }

    /// Adds `c`, replacing a compressor of the same name.
    pub fn with(mut self, c: Arc<dyn Compressor>) -> Self {
        match self.compressors.iter_mut().find(|x| x.name() == c.name()) {
            Some(slot) => *slot = c,
            None => self.compressors.push(c),
        }
        let names: Vec<&str> = self.compressors.iter().map(|c| c.name()).collect();
        self.accept = Bytes::from(names.join(","));
        self
    }

    /// The compressor named `name` (a received `grpc-encoding`). `identity` and unknown names
    /// give `None`; the caller tells them apart (identity means no compression, an unknown
    /// name is UNIMPLEMENTED, `compression.md`).
    pub fn get(&self, name: &[u8]) -> Option<&Arc<dyn Compressor>> {
        self.compressors
            .iter()
            .find(|c| c.name().as_bytes() == name)
    }

    /// The value to send as `grpc-accept-encoding`, e.g. `gzip,deflate,zstd`; empty when only
    /// identity is accepted (then send no header). Built once, cloned cheaply.
    pub fn accept_encoding(&self) -> Bytes {
        self.accept.clone()
    }

    /// The compressors in the set, in order.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<dyn Compressor>> {
        self.compressors.iter()
    }
}

impl Default for Encodings {
    fn default() -> Self {
        Encodings::all()
    }
}

impl fmt::Debug for Encodings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.compressors.iter().map(|c| c.name()))
            .finish()
    }
}

/// Does a peer's `grpc-accept-encoding` value list `name`? The value is a comma-separated list;
/// spaces and tabs around names are ignored, as are `;` parameters, and names compare ignoring
/// ASCII case. `identity` is always accepted (`compression.md`), listed or not.
pub fn accepts(accept_encoding: &[u8], name: &str) -> bool {
    if name.eq_ignore_ascii_case("identity") {
        return true;
    }
    accept_encoding.split(|&b| b == b',').any(|item| {
        let item = item.split(|&b| b == b';').next().unwrap_or_default();
        item.trim_ascii().eq_ignore_ascii_case(name.as_bytes())
    })
}

/// The built-in compressor named `name` (`"gzip"`, `"deflate"`, `"zstd"`), if its feature is
/// compiled in.
pub fn compressor_for(name: &str) -> Option<Arc<dyn Compressor>> {
    match name {
        #[cfg(feature = "gzip")]
        "gzip" => Some(Arc::new(Gzip)),
        #[cfg(feature = "deflate")]
        "deflate" => Some(Arc::new(Deflate)),
        #[cfg(feature = "zstd")]
        "zstd" => Some(Arc::new(Zstd)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_lists() {
        assert!(accepts(b"gzip", "gzip"));
        assert!(accepts(b"gzip, identity", "gzip"));
        assert!(accepts(b"identity , gzip ", "gzip"));
        assert!(accepts(b"deflate,\tGZIP", "gzip"));
        assert!(!accepts(b"deflate, zstd", "gzip"));
        assert!(!accepts(b"", "gzip"));
        assert!(!accepts(b"gzipx", "gzip"));
        assert!(accepts(b"", "identity"));
    }
}
