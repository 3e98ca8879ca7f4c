//! The four RPC kinds over real sockets, metadata, response headers and trailers, errors,
//! routing, large messages and many concurrent calls.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use bytes::Bytes;
use grpc_core::Code;
use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unary_echo_with_headers_and_trailers() {
    let (addr, _handle, _events) = start().await;
    let client = TestClient::connect(addr).await;
    let reply = client.unary(UNARY, b"hello").await;
    reply.assert_ok();
    assert_eq!(reply.http_status, "200");
    assert!(!reply.trailers_only);
    assert_eq!(reply.header("content-type"), Some("application/grpc"));
    assert_eq!(reply.message(), &Bytes::from_static(b"hello"));
    assert_eq!(reply.status.metadata().get("x-trailer"), Some("done"));
    assert_eq!(
        reply
            .status
            .metadata()
            .get_bin("x-trailer-bin")
            .map(|b| &b[..]),
        Some(&[0u8, 1, 2, 255][..])
    );
    assert_eq!(reply.header("x-has-remote-addr"), Some("1"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn empty_message_round_trips() {
    let (addr, _handle, _events) = start().await;
    let client = TestClient::connect(addr).await;
    let reply = client.unary(UNARY, b"").await;
    reply.assert_ok();
    assert_eq!(reply.message(), &Bytes::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metadata_and_binary_metadata_echo() {
    let (addr, _handle, _events) = start().await;
    let client = TestClient::connect(addr).await;
    let mut headers = grpc_headers(UNARY);
    headers = with(headers, "x-plain", "value 1");
    headers = with(headers, "x-plain", "value 2");
    // Binary metadata: base64 on the wire, padded or not, and comma-joined values.
    headers = with(headers, "x-data-bin", "AAEC/w"); // 00 01 02 ff, unpadded
    headers = with(headers, "x-more-bin", "AQ==,Ag"); // two values
    headers = with(headers, "user-agent", "test/1.0");
    let reply = client.unary_with(headers, b"md").await;
    reply.assert_ok();
    let values: Vec<&str> = reply
        .headers
        .iter()
        .filter(|f| &f.name[..] == b"x-plain")
        .map(|f| std::str::from_utf8(&f.value).unwrap())
        .collect();
    assert_eq!(values, ["value 1", "value 2"]);
    // Sent back unpadded.
    assert_eq!(reply.header("x-data-bin"), Some("AAEC/w"));
    let more: Vec<&str> = reply
        .headers
        .iter()
        .filter(|f| &f.name[..] == b"x-more-bin")
        .map(|f| std::str::from_utf8(&f.value).unwrap())
        .collect();
    assert_eq!(more, ["AQ", "Ag"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handler_error_is_trailers_only_with_message_and_details() {
    let (addr, _handle, _events) = start().await;
    let client = TestClient::connect(addr).await;
    let reply = client
        .unary_with(with(grpc_headers(UNARY), "x-fail-code", "9"), b"x")
        .await;
    assert!(reply.trailers_only, "{reply:?}");
    assert_eq!(reply.http_status, "200");
    assert_eq!(reply.header("content-type"), Some("application/grpc"));
    assert_eq!(reply.code(), Code::FailedPrecondition);
    assert_eq!(reply.status.message(), "requested failure: 100% ✓");
    // Percent-encoded on the wire.
    assert_eq!(
        reply.header("grpc-message"),
        Some("requested failure: 100%25 %E2%9C%93")
    );
    assert_eq!(&reply.status.details()[..], b"\x00\x01details");
    assert_eq!(reply.status.metadata().get("x-status-md"), Some("present"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_service_and_method_are_unimplemented() {
    let (addr, _handle, _events) = start().await;
    let client = TestClient::connect(addr).await;

    let reply = client.unary("/test.Nope/Unary", b"x").await;
    assert_eq!(reply.code(), Code::Unimplemented);
    assert!(reply.trailers_only);
    assert_eq!(reply.status.message(), "unknown service test.Nope");

    let reply = client.unary("/test.Echo/Nope", b"x").await;
    assert_eq!(reply.code(), Code::Unimplemented);
    assert_eq!(
        reply.status.message(),
        "unknown method Nope for service test.Echo"
    );

    let reply = client.unary("nonsense", b"x").await;
    assert_eq!(reply.code(), Code::Unimplemented);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_streaming_counts_messages() {
    let (addr, _handle, _events) = start().await;
    let client = TestClient::connect(addr).await;
    let mut call = client.open(grpc_headers(CLIENT_STREAM));
    for i in 0..50 {
        call.send(&vec![7u8; i]).await;
    }
    call.close().await;
    let reply = patiently(call.finish()).await;
    reply.assert_ok();
    assert_eq!(reply.message(), &Bytes::from("50,1225"));
    assert_eq!(reply.status.metadata().get("x-count"), Some("50"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_streaming_with_no_messages() {
    let (addr, _handle, _events) = start().await;
    let client = TestClient::connect(addr).await;
    let mut call = client.open(grpc_headers(CLIENT_STREAM));
    call.close().await;
    let reply = patiently(call.finish()).await;
    reply.assert_ok();
    assert_eq!(reply.message(), &Bytes::from("0,0"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_streaming_answer_before_the_client_finishes() {
    // The handler answers after 3 messages while the client is still sending: the client
    // gets the full response and OK (PROTOCOL-HTTP2 "Early Server Closure").
    let (addr, _handle, _events) = start().await;
    let client = TestClient::connect(addr).await;
    let mut call = client.open(with(grpc_headers(CLIENT_STREAM), "x-stop-after", "3"));
    for _ in 0..3 {
        call.send(b"abc").await;
    }
    let headers = call.response_headers().await;
    assert_eq!(find(&headers, ":status"), Some("200"));
    // The server resets the rest of the request with NO_ERROR right behind its trailers (RFC
    // 9113 §8.1), so a message sent now may or may not go out; either way the response stands.
    let late = call.frame(b"late");
    let _ = call.send.send_data(late, false).await;
    let message = call.message().await.unwrap();
    assert_eq!(message, Bytes::from("3,9"));
    assert_eq!(call.message().await, None);
    let trailers = patiently(call.recv.trailers()).await.unwrap().unwrap();
    assert_eq!(find(&trailers, "grpc-status"), Some("0"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_streaming_sends_every_message() {
    let (addr, _handle, _events) = start().await;
    let client = TestClient::connect(addr).await;
    let reply = client.unary(SERVER_STREAM, b"20,1000").await;
    reply.assert_ok();
    assert_eq!(reply.messages.len(), 20);
    for (i, message) in reply.messages.iter().enumerate() {
        assert_eq!(message, &expected_pattern(1000, i));
    }
    assert_eq!(reply.header("x-stream"), Some("yes"));
    assert_eq!(reply.status.metadata().get("x-sent"), Some("20"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_streaming_with_no_messages_is_trailers_only_unless_headers_were_set() {
    let (addr, _handle, _events) = start().await;
    let client = TestClient::connect(addr).await;
    // The handler set response metadata: headers, then trailers.
    let reply = client.unary(SERVER_STREAM, b"0,10").await;
    reply.assert_ok();
    assert!(!reply.trailers_only);
    assert!(reply.messages.is_empty());
    assert_eq!(reply.header("x-stream"), Some("yes"));

    // Headers flushed early, then an error after some messages.
    let headers = with(
        with(grpc_headers(SERVER_STREAM), "x-early-headers", "1"),
        "x-fail-code",
        "10",
    );
    let reply = client.unary_with(headers, b"2,5").await;
    assert_eq!(reply.code(), Code::Aborted);
    assert_eq!(reply.messages.len(), 2);
    assert_eq!(reply.status.metadata().get("x-sent"), Some("2"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_streaming_bad_request_is_an_error() {
    let (addr, _handle, _events) = start().await;
    let client = TestClient::connect(addr).await;
    let reply = client.unary(SERVER_STREAM, b"garbage").await;
    assert_eq!(reply.code(), Code::InvalidArgument);
    assert!(reply.trailers_only);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bidi_streaming_ping_pong() {
    let (addr, _handle, _events) = start().await;
    let client = TestClient::connect(addr).await;
    let mut call = client.open(grpc_headers(BIDI));
    for i in 0..100u32 {
        let payload = i.to_be_bytes();
        call.send(&payload).await;
        let echoed = call.message().await.unwrap();
        assert_eq!(&echoed[..], &payload);
    }
    call.close().await;
    let reply = patiently(call.finish()).await;
    reply.assert_ok();
    assert!(reply.messages.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_messages_with_raised_limits() {
    let (addr, _handle, _events) =
        start_with(|builder| builder.max_decoding_message_size(16 * MIB)).await;
    let client = TestClient::connect(addr).await;

    // 8 MiB each way on a unary call (many DATA frames, flow control, BDP growth).
    let big = expected_pattern(8 * MIB, 3);
    let reply = client.unary(UNARY, &big).await;
    reply.assert_ok();
    assert_eq!(reply.message(), &big);

    // Many large messages on a bidi stream.
    let mut call = client.open(grpc_headers(BIDI));
    for i in 0..4 {
        let message = expected_pattern(2 * MIB, i);
        call.send(&message).await;
        assert_eq!(call.message().await.unwrap(), message);
    }
    call.close().await;
    patiently(call.finish()).await.assert_ok();

    // A large server stream.
    let reply = client.unary(SERVER_STREAM, b"64,131072").await;
    reply.assert_ok();
    assert_eq!(reply.messages.len(), 64);
    assert_eq!(reply.messages[63], expected_pattern(131072, 63));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_concurrent_calls_on_one_connection() {
    let (addr, _handle, _events) = start().await;
    let client = TestClient::connect(addr).await;
    let mut tasks = Vec::new();
    for i in 0..100usize {
        let client = client.client.clone();
        tasks.push(tokio::spawn(async move {
            let client = TestClient { client };
            match i % 3 {
                0 => {
                    let payload = format!("call {i}");
                    let reply = client.unary(UNARY, payload.as_bytes()).await;
                    reply.assert_ok();
                    assert_eq!(reply.message(), &Bytes::from(payload));
                }
                1 => {
                    let reply = client.unary(SERVER_STREAM, b"10,100").await;
                    reply.assert_ok();
                    assert_eq!(reply.messages.len(), 10);
                }
                _ => {
                    let mut call = client.open(grpc_headers(BIDI));
                    for j in 0..5u8 {
                        call.send(&[j; 10]).await;
                        assert_eq!(call.message().await.unwrap(), Bytes::from(vec![j; 10]));
                    }
                    call.close().await;
                    patiently(call.finish()).await.assert_ok();
                }
            }
        }));
    }
    for task in tasks {
        patiently(task).await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protobuf_codec_round_trip() {
    use prost::Message;
    let (addr, _handle, _events) = start().await;
    let client = TestClient::connect(addr).await;
    let note = Note {
        text: "hi".into(),
        number: 41,
    };
    let reply = client.unary(PROTO, &note.encode_to_vec()).await;
    reply.assert_ok();
    let back = Note::decode(reply.message().clone()).unwrap();
    assert_eq!(back.number, 42);
    assert_eq!(back.text, "hi");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn content_subtype_is_echoed() {
    let (addr, _handle, _events) = start().await;
    let client = TestClient::connect(addr).await;
    let mut headers = grpc_headers(UNARY);
    headers.retain(|f| &f.name[..] != b"content-type");
    let headers = with(headers, "content-type", "application/grpc+proto");
    let reply = client.unary_with(headers, b"x").await;
    reply.assert_ok();
    assert_eq!(reply.header("content-type"), Some("application/grpc+proto"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_concurrent_streams_is_advertised() {
    let (addr, _handle, _events) = start_with(|builder| builder.max_concurrent_streams(7)).await;
    let client = TestClient::connect(addr).await;
    client.unary(UNARY, b"x").await.assert_ok();
    let stats = client.client.stats().await.unwrap();
    assert_eq!(stats.peer_settings.max_concurrent_streams, 7);
    assert_eq!(stats.peer_settings.max_header_list_size, Some(16 * 1024));
}
