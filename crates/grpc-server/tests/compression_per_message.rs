//! Compression per message (compression.md, "Specific Disabling of Compression"): handlers
//! switch compression of their response messages on and off, on every kind of call, and see
//! how each request message arrived. The raw client reads every Compressed-Flag off the wire.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use bytes::{Bytes, BytesMut};
use grpc_core::codec::BytesCodec;
use grpc_core::compression::compressor_for;
use grpc_core::framing::FrameDecoder;
use grpc_server::{
    CompressResponse, GrpcService, Metadata, ReceivedCompressed, Request, Response, ResponseSink,
    Routes, Streaming,
};
use support::*;

const ECHO: &str = "/test.Zip/Echo";
const UPLOAD: &str = "/test.Zip/Upload";
const DOWNLOAD: &str = "/test.Zip/Download";
const CHAT: &str = "/test.Zip/Chat";

/// How a single request message arrived, as the handler's request extensions tell it:
/// `1`, `0`, or `-` for no marker at all.
fn received_marker<T>(request: &Request<T>) -> &'static str {
    match request.extensions().get::<ReceivedCompressed>() {
        Some(ReceivedCompressed(true)) => "1",
        Some(ReceivedCompressed(false)) => "0",
        None => "-",
    }
}

/// Request metadata `x-compress: 0|1` → a [`CompressResponse`] with that value.
fn compress_as_asked(metadata: &Metadata, mut response: Response<Bytes>) -> Response<Bytes> {
    if let Some(value) = metadata.get("x-compress") {
        response
            .extensions_mut()
            .insert(CompressResponse(value == "1"));
    }
    response
}

/// `test.Zip`: messages are raw bytes; flags are written as `1` (compressed) and `0`.
struct Zip;

impl GrpcService for Zip {
    const NAME: &'static str = "test.Zip";

    fn register(self, routes: &mut Routes) {
        // Echoes the request message; response header `x-received` tells how it arrived.
        routes.unary(ECHO, BytesCodec, |request: Request<Bytes>| async move {
            let mut response = Response::new(request.get_ref().clone());
            let received = received_marker(&request);
            response
                .metadata_mut()
                .insert("x-received", received)
                .unwrap();
            Ok(compress_as_asked(request.metadata(), response))
        });
        // Answers how each request message arrived, in order ("101").
        routes.client_streaming(
            UPLOAD,
            BytesCodec,
            |request: Request<Streaming<Bytes>>| async move {
                let (metadata, _, mut messages) = request.into_parts();
                let mut flags = String::new();
                while messages.message().await?.is_some() {
                    flags.push(flag_char(messages.last_message_compressed()));
                }
                let response = Response::new(Bytes::from(flags));
                Ok(compress_as_asked(&metadata, response))
            },
        );
        // One response per octet of the request: compressed for `1`, not for `0`. Response
        // header `x-received` tells how the request arrived.
        routes.server_streaming(
            DOWNLOAD,
            BytesCodec,
            |request: Request<Bytes>, sink: &mut ResponseSink<Bytes>| {
                Box::pin(async move {
                    let received = received_marker(&request);
                    sink.metadata_mut().insert("x-received", received).unwrap();
                    for &flag in request.get_ref().iter() {
                        sink.set_compression(flag == b'1');
                        sink.send(compressible()).await?;
                    }
                    Ok(())
                })
            },
        );
        // Answers each message with how it arrived (`1` or `0`), uncompressed.
        routes.streaming(
            CHAT,
            BytesCodec,
            |request: Request<Streaming<Bytes>>, sink| {
                Box::pin(async move {
                    sink.set_compression(false);
                    let mut messages = request.into_inner();
                    while messages.message().await?.is_some() {
                        let flag = flag_char(messages.last_message_compressed());
                        sink.send(Bytes::from(flag.to_string())).await?;
                    }
                    Ok(())
                })
            },
        );
    }
}

fn flag_char(compressed: bool) -> char {
    if compressed { '1' } else { '0' }
}

fn compressible() -> Bytes {
    Bytes::from("all work and no play makes a dull message ".repeat(100))
}

/// A server with the test services that compresses responses with gzip.
async fn gzip_server() -> std::net::SocketAddr {
    start_with(|builder| builder.send_compressed("gzip").add_service(Zip))
        .await
        .0
}

/// Request headers for `path` that accept gzip responses (and, with `encoding`, say the
/// request messages may be compressed with it).
fn headers(path: &str, encoding: Option<&str>) -> Vec<grpc_transport::hpack::HeaderField> {
    let headers = with(grpc_headers(path), "grpc-accept-encoding", "gzip");
    match encoding {
        Some(name) => with(headers, "grpc-encoding", name),
        None => headers,
    }
}

/// The response as sent: its `grpc-encoding`, each message's Compressed-Flag and payload
/// (decompressed by hand when the flag is set), and the status code.
struct RawResponse {
    encoding: Option<String>,
    messages: Vec<(bool, Bytes)>,
    code: grpc_core::Code,
}

impl RawResponse {
    fn flags(&self) -> Vec<bool> {
        self.messages.iter().map(|(flag, _)| *flag).collect()
    }
}

async fn raw_response(call: &mut Call) -> RawResponse {
    let headers = call.response_headers().await;
    let encoding = find(&headers, "grpc-encoding").map(str::to_owned);
    let mut frames = FrameDecoder::new(usize::MAX);
    while let Some(chunk) = patiently(call.recv.data()).await {
        frames.push(chunk.unwrap());
    }
    let mut messages = Vec::new();
    while let Some(frame) = frames.next_frame().unwrap() {
        let payload = if frame.compressed {
            let mut out = BytesMut::new();
            compressor_for(encoding.as_deref().unwrap())
                .unwrap()
                .decompress(&frame.data, &mut out, usize::MAX)
                .unwrap();
            out.freeze()
        } else {
            frame.data
        };
        messages.push((frame.compressed, payload));
    }
    frames.finish().unwrap();
    let trailers = patiently(call.recv.trailers()).await.unwrap().unwrap();
    let status =
        grpc_core::Status::from_header_field_bytes(trailers.iter().map(|f| (&f.name, &f.value)))
            .unwrap();
    RawResponse {
        encoding,
        messages,
        code: status.code(),
    }
}

#[tokio::test]
async fn a_response_sink_switches_compression_per_message() {
    let client = TestClient::connect(gzip_server().await).await;
    let mut call = client.open(headers(DOWNLOAD, None));
    call.send_last(b"10011").await;
    let response = raw_response(&mut call).await;
    assert_eq!(response.code, grpc_core::Code::Ok);
    assert_eq!(response.encoding.as_deref(), Some("gzip"));
    assert_eq!(response.flags(), [true, false, false, true, true]);
    assert!(response.messages.iter().all(|(_, m)| *m == compressible()));

    // A client that accepts no compression gets none, whatever the handler asks.
    let mut call = client.open(grpc_headers(DOWNLOAD));
    call.send_last(b"11").await;
    let response = raw_response(&mut call).await;
    assert_eq!(response.encoding, None);
    assert_eq!(response.flags(), [false, false]);
}

#[tokio::test]
async fn a_unary_handler_chooses_whether_its_response_is_compressed() {
    let client = TestClient::connect(gzip_server().await).await;
    for (asked, compressed) in [(None, true), (Some("1"), true), (Some("0"), false)] {
        let headers = match asked {
            Some(value) => with(headers(ECHO, None), "x-compress", value),
            None => headers(ECHO, None),
        };
        let mut call = client.open(headers);
        call.send_last(&compressible()).await;
        let response = raw_response(&mut call).await;
        assert_eq!(response.code, grpc_core::Code::Ok);
        // The encoding is the call's; the flag is the message's.
        assert_eq!(response.encoding.as_deref(), Some("gzip"), "{asked:?}");
        assert_eq!(
            response.messages,
            [(compressed, compressible())],
            "{asked:?}"
        );
    }

    // CompressResponse(true) cannot compress a call that negotiated no encoding.
    let mut call = client.open(with(grpc_headers(ECHO), "x-compress", "1"));
    call.send_last(&compressible()).await;
    let response = raw_response(&mut call).await;
    assert_eq!(response.encoding, None);
    assert_eq!(response.messages, [(false, compressible())]);
}

#[tokio::test]
async fn a_client_streaming_handler_chooses_whether_its_response_is_compressed() {
    let client = TestClient::connect(gzip_server().await).await;
    for (asked, compressed) in [(None, true), (Some("0"), false)] {
        let headers = match asked {
            Some(value) => with(headers(UPLOAD, None), "x-compress", value),
            None => headers(UPLOAD, None),
        };
        let mut call = client.open(headers);
        call.send(b"a").await;
        call.send_last(b"b").await;
        let response = raw_response(&mut call).await;
        assert_eq!(response.encoding.as_deref(), Some("gzip"));
        assert_eq!(
            response.messages,
            [(compressed, Bytes::from("00"))],
            "{asked:?}"
        );
    }
}

#[tokio::test]
async fn a_single_request_tells_the_handler_how_it_arrived() {
    let client = TestClient::connect(gzip_server().await).await;
    for path in [ECHO, DOWNLOAD] {
        // The request's encoding, and whether its message is compressed → the marker.
        for (encoding, compressed, marker) in [
            (Some("gzip"), true, "1"),
            (Some("zstd"), true, "1"),
            (Some("gzip"), false, "0"),
            (None, false, "-"),
        ] {
            let mut call = client.open(headers(path, encoding));
            if let Some(name) = encoding {
                call.compress_with(name);
            }
            call.set_compression(compressed);
            call.send_last(b"1").await;
            let response = call.finish().await;
            response.assert_ok();
            assert_eq!(
                response.header("x-received"),
                Some(marker),
                "{path} {encoding:?} compressed={compressed}"
            );
        }
        // An empty message with the flag set counts as compressed.
        let mut call = client.open(headers(path, Some("gzip")));
        call.send_raw(&[1, 0, 0, 0, 0], true).await;
        let response = call.finish().await;
        response.assert_ok();
        assert_eq!(response.header("x-received"), Some("1"), "{path}, empty");
    }
}

#[tokio::test]
async fn a_request_stream_tells_how_each_message_arrived() {
    let client = TestClient::connect(gzip_server().await).await;
    // Client streaming: compressed, plain, compressed, and an empty flagged message.
    let mut call = client.open(headers(UPLOAD, Some("deflate")));
    call.compress_with("deflate");
    call.send(&compressible()).await;
    call.set_compression(false);
    call.send(&compressible()).await;
    call.set_compression(true);
    call.send(b"x").await;
    call.send_raw(&[1, 0, 0, 0, 0], true).await;
    let response = call.finish().await;
    response.assert_ok();
    assert_eq!(response.message(), "1011");

    // Bidi: the handler answers each message as it comes.
    let mut call = client.open(headers(CHAT, Some("gzip")));
    call.compress_with("gzip");
    for compressed in [false, true, true, false] {
        call.set_compression(compressed);
        call.send(&compressible()).await;
        let answer = call.message().await.unwrap();
        assert_eq!(answer, if compressed { "1" } else { "0" });
    }
    call.close().await;
    assert!(call.message().await.is_none());

    // Without an encoding nothing arrives compressed.
    let mut call = client.open(grpc_headers(UPLOAD));
    call.send_last(b"plain").await;
    assert_eq!(call.finish().await.message(), "0");
}
