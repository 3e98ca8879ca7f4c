//! Error responses and misbehaving servers: Trailers-Only, HTTP errors without grpc-status,
//! missing grpc-status, malformed bodies, message size limits, cardinality, resets.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use bytes::{BufMut, Bytes, BytesMut};
use grpc_client::{CallOptions, Channel, Code, Request, Status};
use grpc_core::codec::BytesCodec;
use grpc_transport::ErrorCode;
use grpc_transport::hpack::HeaderField;
use support::{MIB, ServerCall, TestServer, channel};
use tokio::sync::mpsc;

async fn unary_status(channel: &Channel) -> Status {
    channel
        .unary(
            Request::new(Bytes::from_static(b"x")),
            "/test.Err/Unary",
            BytesCodec,
        )
        .await
        .unwrap_err()
}

/// A server whose every call gets `respond`'s treatment after the request was read.
async fn serve<F, Fut>(respond: F) -> TestServer
where
    F: Fn(ServerCall) -> Fut + Clone + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    TestServer::start(move |mut call: ServerCall| {
        let respond = respond.clone();
        async move {
            let _ = call.message().await;
            respond(call).await;
        }
    })
    .await
}

#[tokio::test]
async fn trailers_only_error_is_the_status_of_every_call_kind() {
    let server = serve(|mut call: ServerCall| async move {
        let mut fields = support::ok_headers();
        fields.push(HeaderField::new("grpc-status", "5"));
        fields.push(HeaderField::new("grpc-message", "no such caf%C3%A9"));
        fields.push(HeaderField::new("x-reason", "gone"));
        call.send_raw_headers(fields, true);
    })
    .await;
    let channel = channel(&server).await;
    let check = |status: Status| {
        assert_eq!(status.code(), Code::NotFound, "{status}");
        assert_eq!(status.message(), "no such café");
        assert_eq!(status.metadata().get("x-reason"), Some("gone"));
    };
    check(unary_status(&channel).await);
    check(
        channel
            .server_streaming(Request::new(Bytes::new()), "/test.Err/Stream", BytesCodec)
            .await
            .unwrap_err(),
    );
    let call = channel
        .client_streaming(Request::new(()), "/test.Err/Collect", BytesCodec)
        .await
        .unwrap();
    check(call.finish().await.unwrap_err());
    let mut call = channel
        .streaming(Request::new(()), "/test.Err/Chat", BytesCodec)
        .await
        .unwrap();
    call.close_send().await.unwrap();
    check(call.message().await.unwrap_err());
    check(call.message().await.unwrap_err());
}

#[tokio::test]
async fn error_status_in_trailers_after_messages() {
    let server = serve(|mut call: ServerCall| async move {
        call.send_headers();
        call.send_message(b"one").await;
        call.send_status_with(Code::ResourceExhausted, "quota", &[("x-retry", "later")]);
    })
    .await;
    let channel = channel(&server).await;
    let mut stream = channel
        .server_streaming(Request::new(Bytes::new()), "/test.Err/Stream", BytesCodec)
        .await
        .unwrap()
        .into_inner();
    assert_eq!(stream.message().await.unwrap().unwrap(), "one");
    let status = stream.message().await.unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted);
    assert_eq!(status.message(), "quota");
    assert_eq!(status.metadata().get("x-retry"), Some("later"));
    assert_eq!(
        stream.trailers().await.unwrap_err().code(),
        Code::ResourceExhausted
    );
    // A unary call that got its message and then an error reports the error.
    assert_eq!(unary_status(&channel).await.code(), Code::ResourceExhausted);
}

#[tokio::test]
async fn http_errors_without_grpc_status_map_to_grpc_codes() {
    for (http, code) in [
        ("503", Code::Unavailable),
        ("404", Code::Unimplemented),
        ("401", Code::Unauthenticated),
        ("429", Code::Unavailable),
        ("500", Code::Unknown),
    ] {
        for trailers_only in [true, false] {
            let server = serve(move |mut call: ServerCall| async move {
                let fields = vec![
                    HeaderField::new(":status", http),
                    HeaderField::new("content-type", "text/html"),
                ];
                call.send_raw_headers(fields, trailers_only);
                if !trailers_only {
                    call.send_raw_data(Bytes::from_static(b"<html>oops</html>"), true)
                        .await;
                }
            })
            .await;
            let status = unary_status(&channel(&server).await).await;
            assert_eq!(
                status.code(),
                code,
                "HTTP {http}, trailers-only {trailers_only}: {status}"
            );
            assert!(status.message().contains(http), "{status}");
        }
    }
}

#[tokio::test]
async fn grpc_status_wins_over_the_http_status() {
    let server = serve(|mut call: ServerCall| async move {
        let fields = vec![
            HeaderField::new(":status", "503"),
            HeaderField::new("content-type", "application/grpc"),
            HeaderField::new("grpc-status", "7"),
        ];
        call.send_raw_headers(fields, true);
    })
    .await;
    assert_eq!(
        unary_status(&channel(&server).await).await.code(),
        Code::PermissionDenied
    );
}

#[tokio::test]
async fn missing_grpc_status_is_unknown() {
    // In trailers after a message.
    let server = serve(|mut call: ServerCall| async move {
        call.send_headers();
        call.send_message(b"one").await;
        let _ = call
            .respond
            .send_trailers(vec![HeaderField::new("x-other", "1")]);
    })
    .await;
    let status = unary_status(&channel(&server).await).await;
    assert_eq!(status.code(), Code::Unknown, "{status}");
    // In a Trailers-Only response with :status 200.
    let server = serve(|mut call: ServerCall| async move {
        call.send_raw_headers(support::ok_headers(), true);
    })
    .await;
    assert_eq!(
        unary_status(&channel(&server).await).await.code(),
        Code::Unknown
    );
}

#[tokio::test]
async fn a_body_without_trailers_is_internal() {
    let server = serve(|mut call: ServerCall| async move {
        call.send_headers();
        call.send_raw_data(support::frame(false, b"one"), true)
            .await;
    })
    .await;
    let status = unary_status(&channel(&server).await).await;
    assert_eq!(status.code(), Code::Internal, "{status}");
}

#[tokio::test]
async fn a_length_prefix_longer_than_the_data_is_internal() {
    let server = serve(|mut call: ServerCall| async move {
        call.send_headers();
        let mut data = BytesMut::new();
        data.put_u8(0);
        data.put_u32(100);
        data.put_slice(b"only ten b");
        call.send_raw_data(data.freeze(), true).await;
    })
    .await;
    let status = unary_status(&channel(&server).await).await;
    assert_eq!(status.code(), Code::Internal, "{status}");
}

#[tokio::test]
async fn a_compressed_flag_without_grpc_encoding_is_internal() {
    let server = serve(|mut call: ServerCall| async move {
        call.send_headers();
        call.send_raw_data(support::frame(true, b"not really compressed"), false)
            .await;
        call.send_status(Code::Ok, "");
    })
    .await;
    let status = unary_status(&channel(&server).await).await;
    assert_eq!(status.code(), Code::Internal, "{status}");
}

#[tokio::test]
async fn an_invalid_compressed_flag_is_internal() {
    let server = serve(|mut call: ServerCall| async move {
        call.send_headers();
        let mut data = support::frame(false, b"x").to_vec();
        data[0] = 2;
        call.send_raw_data(data.into(), false).await;
        call.send_status(Code::Ok, "");
    })
    .await;
    assert_eq!(
        unary_status(&channel(&server).await).await.code(),
        Code::Internal
    );
}

#[tokio::test]
async fn a_truncated_protobuf_message_is_internal() {
    #[derive(Clone, PartialEq, prost::Message)]
    struct Greeting {
        #[prost(string, tag = "1")]
        name: String,
    }
    let server = serve(|mut call: ServerCall| async move {
        // Field 1, length 10, but only 3 octets follow.
        call.reply(&[0x0a, 10, b'a', b'b', b'c']).await;
    })
    .await;
    let channel = channel(&server).await;
    let codec = grpc_core::codec::ProstCodec::<Greeting, Greeting>::default();
    let status = channel
        .unary(Request::new(Greeting::default()), "/test.Err/Unary", codec)
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Internal, "{status}");
}

#[tokio::test]
async fn a_bad_content_type_is_unknown() {
    for content_type in [Some("text/html"), Some("application/grpcx"), None] {
        let server = serve(move |mut call: ServerCall| async move {
            let mut fields = vec![HeaderField::new(":status", "200")];
            if let Some(content_type) = content_type {
                fields.push(HeaderField::new("content-type", content_type));
            }
            call.send_raw_headers(fields, false);
            call.send_message(b"one").await;
            call.send_status(Code::Ok, "");
        })
        .await;
        let status = unary_status(&channel(&server).await).await;
        assert_eq!(status.code(), Code::Unknown, "{content_type:?}: {status}");
    }
}

#[tokio::test]
async fn content_type_with_a_subtype_is_accepted() {
    let server = serve(|mut call: ServerCall| async move {
        call.send_raw_headers(
            vec![
                HeaderField::new(":status", "200"),
                HeaderField::new("content-type", "application/grpc+proto"),
            ],
            false,
        );
        call.send_message(b"one").await;
        call.send_status(Code::Ok, "");
    })
    .await;
    let channel = channel(&server).await;
    let response = channel
        .unary(Request::new(Bytes::new()), "/test.Err/Unary", BytesCodec)
        .await
        .unwrap();
    assert_eq!(response.get_ref(), "one");
}

#[tokio::test]
async fn unary_cardinality_violations_are_internal() {
    let server = serve(|mut call: ServerCall| async move {
        call.send_headers();
        call.send_status(Code::Ok, "");
    })
    .await;
    let status = unary_status(&channel(&server).await).await;
    assert_eq!(status.code(), Code::Internal, "{status}");

    let server = serve(|mut call: ServerCall| async move {
        call.send_headers();
        call.send_message(b"one").await;
        call.send_message(b"two").await;
        call.send_status(Code::Ok, "");
    })
    .await;
    let status = unary_status(&channel(&server).await).await;
    assert_eq!(status.code(), Code::Internal, "{status}");
}

#[tokio::test]
async fn a_stream_reset_by_the_server_maps_its_code() {
    for (code, expected) in [
        (ErrorCode::CANCEL, Code::Cancelled),
        (ErrorCode::INTERNAL_ERROR, Code::Internal),
        (ErrorCode::ENHANCE_YOUR_CALM, Code::ResourceExhausted),
    ] {
        let server = serve(move |mut call: ServerCall| async move {
            call.send_headers();
            call.respond.reset(code);
        })
        .await;
        let status = unary_status(&channel(&server).await).await;
        assert_eq!(status.code(), expected, "{code:?}: {status}");
    }
}

/// A server sending one message of `size` octets to every call, reporting the client's reset.
async fn big_response_server(
    size: usize,
) -> (TestServer, mpsc::UnboundedReceiver<Option<ErrorCode>>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let server = serve(move |mut call: ServerCall| {
        let tx = tx.clone();
        async move {
            call.send_headers();
            call.send_message(&vec![7u8; size]).await;
            call.send_status(Code::Ok, "");
            let code = tokio::time::timeout(std::time::Duration::from_secs(5), call.reset_code())
                .await
                .ok()
                .flatten();
            tx.send(code).unwrap();
        }
    })
    .await;
    (server, rx)
}

#[tokio::test]
async fn a_response_over_the_default_receive_limit_is_resource_exhausted() {
    let (server, mut resets) = big_response_server(5 * MIB).await;
    let channel = channel(&server).await;
    let status = unary_status(&channel).await;
    assert_eq!(status.code(), Code::ResourceExhausted, "{status}");
    assert_eq!(resets.recv().await.unwrap(), Some(ErrorCode::CANCEL));

    let mut stream = channel
        .server_streaming(Request::new(Bytes::new()), "/test.Err/Stream", BytesCodec)
        .await
        .unwrap()
        .into_inner();
    let status = stream.message().await.unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted, "{status}");
    assert_eq!(resets.recv().await.unwrap(), Some(ErrorCode::CANCEL));

    let mut call = channel
        .streaming(Request::new(()), "/test.Err/Chat", BytesCodec)
        .await
        .unwrap();
    call.close_send().await.unwrap();
    assert_eq!(
        call.message().await.unwrap_err().code(),
        Code::ResourceExhausted
    );
    assert_eq!(resets.recv().await.unwrap(), Some(ErrorCode::CANCEL));
}

#[tokio::test]
async fn receive_limits_can_be_raised_or_lowered_per_channel_and_per_call() {
    let (server, _resets) = big_response_server(5 * MIB).await;
    let channel = Channel::builder(&server.target())
        .max_decoding_message_size(6 * MIB)
        .connect()
        .await
        .unwrap();
    let response = channel
        .unary(Request::new(Bytes::new()), "/test.Err/Unary", BytesCodec)
        .await
        .unwrap();
    assert_eq!(response.get_ref().len(), 5 * MIB);

    let mut request = Request::new(Bytes::new());
    request
        .extensions_mut()
        .insert(CallOptions::new().max_decoding_message_size(MIB));
    let status = channel
        .unary(request, "/test.Err/Unary", BytesCodec)
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted);
}

#[tokio::test]
async fn a_request_over_the_send_limit_is_refused_before_sending() {
    let server = TestServer::start(support::echo).await;
    let channel = Channel::builder(&server.target())
        .max_encoding_message_size(1024)
        .connect()
        .await
        .unwrap();
    let status = channel
        .unary(
            Request::new(Bytes::from(vec![0u8; 2048])),
            "/test.Echo/Unary",
            BytesCodec,
        )
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted, "{status}");
    assert_eq!(server.request_count(), 0, "nothing was sent");

    // On a stream the message is refused and the call goes on.
    let mut call = channel
        .streaming(Request::new(()), "/test.Echo/Chat", BytesCodec)
        .await
        .unwrap();
    let status = call.send(Bytes::from(vec![0u8; 2048])).await.unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted);
    call.send(Bytes::from_static(b"small")).await.unwrap();
    call.close_send().await.unwrap();
    assert_eq!(call.message().await.unwrap().unwrap(), "small");
    assert_eq!(call.message().await.unwrap(), None);

    // A per-call limit overrides the channel's.
    let mut request = Request::new(Bytes::from(vec![0u8; 2048]));
    request
        .extensions_mut()
        .insert(CallOptions::new().max_encoding_message_size(4096));
    channel
        .unary(request, "/test.Echo/Unary", BytesCodec)
        .await
        .unwrap();
}

#[tokio::test]
async fn client_streaming_send_after_the_server_failed_reports_the_server_status() {
    let server = serve(|mut call: ServerCall| async move {
        call.send_trailers_only(Code::InvalidArgument, "bad first message");
        // Wait for the next message, so the response was written before the reset: the
        // transport drops frames still queued when a stream is reset.
        let _ = call.message().await;
        call.respond.reset(ErrorCode::NO_ERROR);
    })
    .await;
    let channel = channel(&server).await;
    let mut call = channel
        .client_streaming(Request::new(()), "/test.Err/Collect", BytesCodec)
        .await
        .unwrap();
    let mut status = None;
    for _ in 0..1000 {
        if let Err(s) = call.send(Bytes::from_static(b"more")).await {
            status = Some(s);
            break;
        }
        tokio::task::yield_now().await;
    }
    let status = status.expect("sends fail once the server reset the stream");
    assert_eq!(status.code(), Code::InvalidArgument, "{status}");
    assert_eq!(status.message(), "bad first message");
}
