//! Malformed gRPC input gets the right status (or HTTP status) and never breaks the server:
//! every test makes a good call on the same connection afterwards.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use grpc_core::Code;
use grpc_transport::hpack::HeaderField;
use support::*;

async fn still_works(client: &TestClient) {
    client.unary(UNARY, b"ok?").await.assert_ok();
}

fn without(mut headers: Vec<HeaderField>, name: &str) -> Vec<HeaderField> {
    headers.retain(|f| &f.name[..] != name.as_bytes());
    headers
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_or_foreign_content_type_is_http_415() {
    let (addr, _handle, _events) = start().await;
    let client = TestClient::connect(addr).await;
    for content_type in [
        None,
        Some("application/json"),
        Some("application/grpcx"),
        Some("text/plain"),
    ] {
        let mut headers = without(grpc_headers(UNARY), "content-type");
        if let Some(value) = content_type {
            headers = with(headers, "content-type", value);
        }
        let reply = client.unary_with(headers, b"x").await;
        assert_eq!(reply.http_status, "415", "{content_type:?}: {reply:?}");
        assert!(reply.trailers_only);
        assert_eq!(reply.code(), Code::Internal);
        assert!(reply.status.message().contains("content-type"));
    }
    still_works(&client).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_methods_than_post_are_http_405() {
    let (addr, _handle, _events) = start().await;
    let client = TestClient::connect(addr).await;
    let headers = with(without(grpc_headers(UNARY), ":method"), ":method", "PUT");
    // Pseudo-headers must come first: rebuild the list with :method in front.
    let mut ordered: Vec<HeaderField> = headers
        .iter()
        .filter(|f| f.name.starts_with(b":"))
        .cloned()
        .collect();
    ordered.extend(headers.into_iter().filter(|f| !f.name.starts_with(b":")));
    let reply = client.unary_with(ordered, b"x").await;
    assert_eq!(reply.http_status, "405", "{reply:?}");
    assert_eq!(reply.code(), Code::Internal);
    still_works(&client).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_grpc_timeout_is_internal_trailers_only() {
    let (addr, _handle, _events) = start().await;
    let client = TestClient::connect(addr).await;
    for value in ["abc", "123", "123456789S", "1x", "-1S", "1.5S", "S"] {
        let reply = client
            .unary_with(with(grpc_headers(UNARY), "grpc-timeout", value), b"x")
            .await;
        assert_eq!(reply.code(), Code::Internal, "{value}: {reply:?}");
        assert_eq!(reply.http_status, "200");
        assert!(reply.trailers_only);
        assert!(reply.status.message().contains("grpc-timeout"), "{reply:?}");
    }
    still_works(&client).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_encoding_is_unimplemented_with_accept_encoding() {
    let (addr, _handle, _events) = start().await;
    let client = TestClient::connect(addr).await;
    let reply = client
        .unary_with(with(grpc_headers(UNARY), "grpc-encoding", "snappy"), b"x")
        .await;
    assert_eq!(reply.code(), Code::Unimplemented, "{reply:?}");
    assert!(reply.trailers_only);
    // compression.md: the response lists what the server accepts, not the rejected one.
    let accepted = reply.header("grpc-accept-encoding").unwrap();
    assert_eq!(accepted, "gzip,deflate,zstd");
    assert!(reply.status.message().contains("snappy"));
    still_works(&client).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identity_encoding_is_fine() {
    let (addr, _handle, _events) = start().await;
    let client = TestClient::connect(addr).await;
    let reply = client
        .unary_with(with(grpc_headers(UNARY), "grpc-encoding", "identity"), b"x")
        .await;
    reply.assert_ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compressed_flag_without_encoding_is_internal() {
    let (addr, _handle, _events) = start().await;
    let client = TestClient::connect(addr).await;
    // Unary.
    let mut call = client.open(grpc_headers(UNARY));
    call.send_raw(&[1, 0, 0, 0, 3, b'a', b'b', b'c'], true)
        .await;
    let reply = patiently(call.finish()).await;
    assert_eq!(reply.code(), Code::Internal, "{reply:?}");
    assert!(
        reply.status.message().contains("Compressed-Flag"),
        "{reply:?}"
    );
    // Mid-stream on a bidi call, after good messages were echoed.
    let mut call = client.open(grpc_headers(BIDI));
    call.send(b"good").await;
    assert_eq!(&call.message().await.unwrap()[..], b"good");
    call.send_raw(&[1, 0, 0, 0, 1, b'z'], false).await;
    assert_eq!(call.message().await, None);
    let trailers = patiently(call.recv.trailers()).await.unwrap().unwrap();
    assert_eq!(find(&trailers, "grpc-status"), Some("13"), "{trailers:?}");
    still_works(&client).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_compressed_flag_value_is_internal() {
    let (addr, _handle, _events) = start().await;
    let client = TestClient::connect(addr).await;
    let mut call = client.open(grpc_headers(UNARY));
    call.send_raw(&[2, 0, 0, 0, 1, b'a'], true).await;
    let reply = patiently(call.finish()).await;
    assert_eq!(reply.code(), Code::Internal, "{reply:?}");
    still_works(&client).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn length_prefix_longer_than_the_data_is_internal() {
    let (addr, _handle, _events) = start().await;
    let client = TestClient::connect(addr).await;
    // Unary: the stream ends inside the message.
    let mut call = client.open(grpc_headers(UNARY));
    call.send_raw(&[0, 0, 0, 0, 10, 1, 2, 3], true).await;
    let reply = patiently(call.finish()).await;
    assert_eq!(reply.code(), Code::Internal, "{reply:?}");
    // A stream that ends inside the 5-octet prefix.
    let mut call = client.open(grpc_headers(CLIENT_STREAM));
    call.send(b"fine").await;
    call.send_raw(&[0, 0], true).await;
    let reply = patiently(call.finish()).await;
    assert_eq!(reply.code(), Code::Internal, "{reply:?}");
    // Even when the handler ignores the read error and returns OK.
    let mut call = client.open(grpc_headers(LENIENT));
    call.send(b"one").await;
    call.send_raw(&[0, 0, 0, 1, 0, 9], true).await;
    let reply = patiently(call.finish()).await;
    assert_eq!(reply.code(), Code::Internal, "{reply:?}");
    still_works(&client).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn truncated_protobuf_is_internal() {
    use prost::Message;
    let (addr, _handle, _events) = start().await;
    let client = TestClient::connect(addr).await;
    let note = Note {
        text: "a string long enough to cut".into(),
        number: 7,
    };
    let bytes = note.encode_to_vec();
    let reply = client.unary(PROTO, &bytes[..bytes.len() / 2]).await;
    assert_eq!(reply.code(), Code::Internal, "{reply:?}");
    assert!(reply.status.message().contains("decode"), "{reply:?}");
    still_works(&client).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unary_needs_exactly_one_message() {
    let (addr, _handle, _events) = start().await;
    let client = TestClient::connect(addr).await;
    // None.
    let mut call = client.open(grpc_headers(UNARY));
    call.close().await;
    let reply = patiently(call.finish()).await;
    assert_eq!(reply.code(), Code::Internal, "{reply:?}");
    // Two.
    let mut call = client.open(grpc_headers(UNARY));
    call.send(b"one").await;
    call.send_last(b"two").await;
    let reply = patiently(call.finish()).await;
    assert_eq!(reply.code(), Code::Internal, "{reply:?}");
    // Server streaming takes one too.
    let mut call = client.open(grpc_headers(SERVER_STREAM));
    call.send(b"1,1").await;
    call.send_last(b"1,1").await;
    let reply = patiently(call.finish()).await;
    assert_eq!(reply.code(), Code::Internal, "{reply:?}");
    still_works(&client).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_metadata_gets_http_431() {
    let (addr, _handle, _events) = start().await;
    let client = TestClient::connect(addr).await;
    let big = "v".repeat(20 * 1024);
    let mut call = client.open(with(grpc_headers(UNARY), "x-big", &big));
    // The transport answers before reading a body; sending may fail once it reset.
    let _ = call
        .send
        .send_data(bytes::Bytes::from_static(b"\0\0\0\0\0"), true)
        .await;
    let headers = call.response_headers().await;
    assert_eq!(find(&headers, ":status"), Some("431"), "{headers:?}");
    drop(call);
    // Just under the limit is fine.
    let fits = "v".repeat(12 * 1024);
    let reply = client
        .unary_with(with(grpc_headers(UNARY), "x-fits", &fits), b"x")
        .await;
    reply.assert_ok();
    assert_eq!(reply.header("x-fits").map(str::len), Some(12 * 1024));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_metadata_values_are_internal() {
    let (addr, _handle, _events) = start().await;
    let client = TestClient::connect(addr).await;
    // Not base64.
    let reply = client
        .unary_with(with(grpc_headers(UNARY), "x-bad-bin", "!!!"), b"x")
        .await;
    assert_eq!(reply.code(), Code::Internal, "{reply:?}");
    assert!(reply.trailers_only);
    // An octet outside printable ASCII (valid in HTTP/2, not in gRPC ASCII metadata).
    let mut headers = grpc_headers(UNARY);
    headers.push(HeaderField::new(
        "x-latin",
        bytes::Bytes::from_static(b"caf\xe9"),
    ));
    let reply = client.unary_with(headers, b"x").await;
    assert_eq!(reply.code(), Code::Internal, "{reply:?}");
    still_works(&client).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupt_compressed_data_is_internal() {
    let (addr, _handle, _events) = start().await;
    let client = TestClient::connect(addr).await;
    let mut call = client.open(with(grpc_headers(UNARY), "grpc-encoding", "gzip"));
    call.send_raw(&[1, 0, 0, 0, 4, 0xde, 0xad, 0xbe, 0xef], true)
        .await;
    let reply = patiently(call.finish()).await;
    assert_eq!(reply.code(), Code::Internal, "{reply:?}");
    still_works(&client).await;
}
