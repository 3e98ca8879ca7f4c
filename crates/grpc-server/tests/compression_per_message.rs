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
    CompressResponse, GrpcService, Metadata, Request, Response, ResponseSink, Routes, Streaming,
};
use support::*;

const ECHO: &str = "/test.Zip/Echo";
const UPLOAD: &str = "/test.Zip/Upload";
const DOWNLOAD: &str = "/test.Zip/Download";

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
        // Echoes the request message.
        routes.unary(ECHO, BytesCodec, |request: Request<Bytes>| async move {
            let response = Response::new(request.get_ref().clone());
            Ok(compress_as_asked(request.metadata(), response))
        });
        // Answers the number of request messages.
        routes.client_streaming(
            UPLOAD,
            BytesCodec,
            |request: Request<Streaming<Bytes>>| async move {
                let (metadata, _, mut messages) = request.into_parts();
                let mut count = 0;
                while messages.message().await?.is_some() {
                    count += 1;
                }
                let response = Response::new(Bytes::from(format!("{count} messages")));
                Ok(compress_as_asked(&metadata, response))
            },
        );
        // One response per octet of the request: compressed for `1`, not for `0`.
        routes.server_streaming(
            DOWNLOAD,
            BytesCodec,
            |request: Request<Bytes>, sink: &mut ResponseSink<Bytes>| {
                Box::pin(async move {
                    for &flag in request.get_ref().iter() {
                        sink.set_compression(flag == b'1');
                        sink.send(compressible()).await?;
                    }
                    Ok(())
                })
            },
        );
    }
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
            [(compressed, Bytes::from("2 messages"))],
            "{asked:?}"
        );
    }
}
