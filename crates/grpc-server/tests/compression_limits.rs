//! Compression (gzip, deflate, zstd; grpc-accept-encoding honoured; compression.md) and
//! message size limits on every kind of call, both directions.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use bytes::{Bytes, BytesMut};
use grpc_core::Code;
use grpc_core::compression::{Encodings, compressor_for};
use support::*;

/// The response body's raw octets (all DATA frames).
async fn raw_body(call: &mut Call) -> Bytes {
    let mut body = BytesMut::new();
    while let Some(chunk) = patiently(call.recv.data()).await {
        body.extend_from_slice(&chunk.unwrap());
    }
    body.freeze()
}

async fn server_sending(name: &'static str) -> std::net::SocketAddr {
    start_with(|builder| builder.send_compressed(name)).await.0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_compressor_both_ways() {
    for name in ["gzip", "deflate", "zstd"] {
        let addr = server_sending(name).await;
        let client = TestClient::connect(addr).await;
        // A multiple of the decoders' 16 KiB output step (zstd once failed on those).
        let payload = vec![b'a'; 64 * 1024];

        let headers = with(
            with(grpc_headers(UNARY), "grpc-encoding", name),
            "grpc-accept-encoding",
            name,
        );
        let mut call = client.open(headers);
        call.compress_with(name);
        call.send_last(&payload).await;
        let response_headers = call.response_headers().await;
        assert_eq!(
            find(&response_headers, "grpc-encoding"),
            Some(name),
            "{response_headers:?}"
        );
        let body = raw_body(&mut call).await;
        // One compressed message, much smaller than the payload.
        assert_eq!(body[0], 1, "{name}: compressed flag");
        let len = u32::from_be_bytes([body[1], body[2], body[3], body[4]]) as usize;
        assert_eq!(len + 5, body.len());
        assert!(len < payload.len() / 10, "{name}: {len} octets");
        let mut out = BytesMut::new();
        compressor_for(name)
            .unwrap()
            .decompress(&body[5..], &mut out, usize::MAX)
            .unwrap();
        assert_eq!(&out[..], &payload[..]);
        let trailers = patiently(call.recv.trailers()).await.unwrap().unwrap();
        assert_eq!(find(&trailers, "grpc-status"), Some("0"));

        // Streaming: compressed both ways, decoded by the test client.
        let headers = with(
            with(grpc_headers(BIDI), "grpc-encoding", name),
            "grpc-accept-encoding",
            &format!("identity, {name}"),
        );
        let mut call = client.open(headers);
        call.compress_with(name);
        for i in 0..5 {
            let message = expected_pattern(10_000, i);
            call.send(&message).await;
            assert_eq!(call.message().await.unwrap(), message);
        }
        call.close().await;
        patiently(call.finish()).await.assert_ok();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn responses_are_compressed_only_with_what_the_client_accepts() {
    let addr = server_sending("gzip").await;
    let client = TestClient::connect(addr).await;
    // The client accepts deflate only: the response goes uncompressed.
    let reply = client
        .unary_with(
            with(grpc_headers(UNARY), "grpc-accept-encoding", "deflate"),
            &[0u8; 4096],
        )
        .await;
    reply.assert_ok();
    assert_eq!(reply.header("grpc-encoding"), None);
    // No grpc-accept-encoding at all: uncompressed too.
    let mut call = client.open(grpc_headers(UNARY));
    call.send_last(&[0u8; 4096]).await;
    let headers = call.response_headers().await;
    assert_eq!(find(&headers, "grpc-encoding"), None);
    let body = raw_body(&mut call).await;
    assert_eq!(body[0], 0);
    assert_eq!(body.len(), 4096 + 5);
    // A compressed request is fine whatever the response does.
    let mut call = client.open(with(grpc_headers(UNARY), "grpc-encoding", "zstd"));
    call.compress_with("zstd");
    call.send_last(b"zstd request").await;
    let reply = patiently(call.finish()).await;
    reply.assert_ok();
    assert_eq!(reply.message(), &Bytes::from_static(b"zstd request"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_advertises_what_it_accepts() {
    let (addr, _handle, _events) = start().await;
    let client = TestClient::connect(addr).await;
    let reply = client.unary(UNARY, b"x").await;
    assert_eq!(
        reply.header("grpc-accept-encoding"),
        Some("gzip,deflate,zstd")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accepting_only_some_encodings() {
    let (builder, _events) = builder();
    let gzip_only = Encodings::none().with(compressor_for("gzip").unwrap());
    let bound = builder
        .accept_compressed(gzip_only)
        .bind(localhost())
        .await
        .unwrap();
    let (addr, _handle) = spawn(bound);
    let client = TestClient::connect(addr).await;
    let reply = client
        .unary_with(with(grpc_headers(UNARY), "grpc-encoding", "zstd"), b"x")
        .await;
    assert_eq!(reply.code(), Code::Unimplemented);
    assert_eq!(reply.header("grpc-accept-encoding"), Some("gzip"));
    let mut call = client.open(with(grpc_headers(UNARY), "grpc-encoding", "gzip"));
    call.compress_with("gzip");
    call.send_last(b"gz").await;
    patiently(call.finish()).await.assert_ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn default_receive_limit_is_4_mib_on_unary() {
    let (addr, _handle, _events) = start().await;
    let client = TestClient::connect(addr).await;
    let reply = client.unary(UNARY, &vec![1u8; 4 * MIB]).await;
    reply.assert_ok();
    let reply = client.unary(UNARY, &vec![1u8; 4 * MIB + 1]).await;
    assert_eq!(reply.code(), Code::ResourceExhausted, "{:?}", reply.status);
    assert!(reply.trailers_only);
    assert!(
        reply.status.message().contains("larger than max"),
        "{:?}",
        reply.status
    );
    client.unary(UNARY, b"fine").await.assert_ok();
}

async fn small_limit_server() -> std::net::SocketAddr {
    start_with(|builder| {
        builder
            .max_decoding_message_size(1024)
            .max_encoding_message_size(1024)
    })
    .await
    .0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receive_limit_on_streaming_calls() {
    let addr = small_limit_server().await;
    let client = TestClient::connect(addr).await;

    // Client streaming: good messages, then one over the limit.
    let mut call = client.open(grpc_headers(CLIENT_STREAM));
    for _ in 0..10 {
        call.send(&[0u8; 1024]).await;
    }
    call.send(&[0u8; 1025]).await;
    let reply = patiently(call.finish()).await;
    assert_eq!(reply.code(), Code::ResourceExhausted, "{:?}", reply.status);

    // A handler that ignores the error cannot turn it into OK.
    let mut call = client.open(grpc_headers(LENIENT));
    call.send(&[0u8; 10]).await;
    call.send(&[0u8; 5000]).await;
    call.close().await;
    let reply = patiently(call.finish()).await;
    assert_eq!(reply.code(), Code::ResourceExhausted, "{:?}", reply.status);

    // Bidi: echoes, then the oversized message ends the call.
    let mut call = client.open(grpc_headers(BIDI));
    call.send(b"small").await;
    assert_eq!(&call.message().await.unwrap()[..], b"small");
    call.send(&[0u8; 2048]).await;
    assert_eq!(call.message().await, None);
    let trailers = patiently(call.recv.trailers()).await.unwrap().unwrap();
    assert_eq!(find(&trailers, "grpc-status"), Some("8"), "{trailers:?}");

    // Server streaming's one request message too.
    let reply = client.unary(SERVER_STREAM, &[b'1'; 2000]).await;
    assert_eq!(reply.code(), Code::ResourceExhausted);

    client.unary(UNARY, b"fine").await.assert_ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receive_limit_applies_after_decompression() {
    let addr = small_limit_server().await;
    let client = TestClient::connect(addr).await;
    // 100 KiB of zeros compresses to a few hundred octets: under the limit on the wire,
    // over it once decompressed.
    let mut call = client.open(with(grpc_headers(UNARY), "grpc-encoding", "gzip"));
    call.compress_with("gzip");
    call.send_last(&vec![0u8; 100 * 1024]).await;
    let reply = patiently(call.finish()).await;
    assert_eq!(reply.code(), Code::ResourceExhausted, "{:?}", reply.status);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_limit_on_unary_and_streaming() {
    let addr = small_limit_server().await;
    let client = TestClient::connect(addr).await;

    let reply = client
        .unary_with(with(grpc_headers(UNARY), "x-response-size", "1024"), b"x")
        .await;
    reply.assert_ok();
    assert_eq!(reply.message().len(), 1024);
    let reply = client
        .unary_with(with(grpc_headers(UNARY), "x-response-size", "1025"), b"x")
        .await;
    assert_eq!(reply.code(), Code::ResourceExhausted, "{:?}", reply.status);
    assert!(reply.messages.is_empty());
    assert!(reply.status.message().contains("larger than max"));

    // Server streaming: two good messages then one too large.
    let reply = client.unary(SERVER_STREAM, b"2,100").await;
    reply.assert_ok();
    let reply = client.unary(SERVER_STREAM, b"3,2000").await;
    assert_eq!(reply.code(), Code::ResourceExhausted, "{:?}", reply.status);
    assert!(reply.messages.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_limit_on_bidi_echo() {
    // Requests may be large, responses may not: echoing a large message fails the call.
    let (addr, _handle, _events) =
        start_with(|builder| builder.max_encoding_message_size(1024)).await;
    let client = TestClient::connect(addr).await;
    let mut call = client.open(grpc_headers(BIDI));
    call.send(&[5u8; 1000]).await;
    assert_eq!(call.message().await.unwrap().len(), 1000);
    call.send(&[6u8; 2000]).await;
    assert_eq!(call.message().await, None);
    let trailers = patiently(call.recv.trailers()).await.unwrap().unwrap();
    assert_eq!(find(&trailers, "grpc-status"), Some("8"), "{trailers:?}");
}
