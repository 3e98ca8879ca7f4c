//! The four kinds of calls against a hand-written server over 127.0.0.1: unary,
//! server-streaming, client-streaming, bidi; large messages; many concurrent calls.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::pin::Pin;

use bytes::Bytes;
use grpc_client::{Channel, Code, Request};
use grpc_core::codec::BytesCodec;
use support::{MIB, ServerCall, TestServer, channel, echo};

#[tokio::test]
async fn unary_call_returns_the_response_message() {
    let server = TestServer::start(|mut call: ServerCall| async move {
        assert_eq!(call.path(), "/test.Echo/Unary");
        let request = call.message().await.unwrap();
        let mut reply = b"re: ".to_vec();
        reply.extend_from_slice(&request);
        call.reply(&reply).await;
    })
    .await;
    let channel = channel(&server).await;
    let response = channel
        .unary(
            Request::new(Bytes::from_static(b"hello")),
            "/test.Echo/Unary",
            BytesCodec,
        )
        .await
        .unwrap();
    assert_eq!(response.get_ref(), &Bytes::from_static(b"re: hello"));
}

#[tokio::test]
async fn unary_call_with_a_protobuf_codec() {
    #[derive(Clone, PartialEq, prost::Message)]
    struct Greeting {
        #[prost(string, tag = "1")]
        name: String,
    }
    let server = TestServer::start(|mut call: ServerCall| async move {
        let request = call.message().await.unwrap();
        call.reply(&request).await;
    })
    .await;
    let channel = channel(&server).await;
    let codec = grpc_core::codec::ProstCodec::<Greeting, Greeting>::default();
    let request = Greeting {
        name: "world".into(),
    };
    let response = channel
        .unary(Request::new(request.clone()), "/test.Echo/Unary", codec)
        .await
        .unwrap();
    assert_eq!(response.into_inner(), request);
}

#[tokio::test]
async fn server_streaming_call_yields_every_message_then_ends() {
    let server = TestServer::start(|mut call: ServerCall| async move {
        let count = call.message().await.unwrap()[0];
        call.send_headers();
        for i in 0..count {
            call.send_message(&[i]).await;
        }
        call.send_status_with(Code::Ok, "", &[("x-count", &count.to_string())]);
    })
    .await;
    let channel = channel(&server).await;
    let response = channel
        .server_streaming(
            Request::new(Bytes::from_static(&[5])),
            "/test.Echo/Stream",
            BytesCodec,
        )
        .await
        .unwrap();
    let mut stream = response.into_inner();
    let mut got = Vec::new();
    while let Some(message) = stream.message().await.unwrap() {
        got.push(message[0]);
    }
    assert_eq!(got, [0, 1, 2, 3, 4]);
    assert_eq!(stream.message().await.unwrap(), None, "the end is sticky");
    assert_eq!(stream.trailers().await.unwrap().get("x-count"), Some("5"));
}

#[tokio::test]
async fn streaming_responses_are_a_futures_stream() {
    use futures_core::Stream;
    let server = TestServer::start(|mut call: ServerCall| async move {
        call.message().await;
        call.send_headers();
        call.send_message(b"a").await;
        call.send_message(b"b").await;
        call.send_status(Code::Aborted, "stop");
    })
    .await;
    let channel = channel(&server).await;
    let mut stream = channel
        .server_streaming(Request::new(Bytes::new()), "/test.Echo/Stream", BytesCodec)
        .await
        .unwrap()
        .into_inner();
    let mut items = Vec::new();
    while let Some(item) = std::future::poll_fn(|cx| Pin::new(&mut stream).poll_next(cx)).await {
        items.push(item.map_err(|s| s.code()));
    }
    assert_eq!(
        items,
        [
            Ok(Bytes::from_static(b"a")),
            Ok(Bytes::from_static(b"b")),
            Err(Code::Aborted)
        ]
    );
}

#[tokio::test]
async fn client_streaming_call_sends_every_message_and_gets_one_response() {
    let server = TestServer::start(|mut call: ServerCall| async move {
        let messages = call.messages().await;
        let total: usize = messages.iter().map(|m| m.len()).sum();
        call.reply(format!("{} messages, {total} bytes", messages.len()).as_bytes())
            .await;
    })
    .await;
    let channel = channel(&server).await;
    let mut call = channel
        .client_streaming(Request::new(()), "/test.Echo/Collect", BytesCodec)
        .await
        .unwrap();
    for i in 0..10usize {
        call.send(Bytes::from(vec![0u8; i])).await.unwrap();
    }
    let response = call.finish().await.unwrap();
    assert_eq!(
        response.get_ref(),
        &Bytes::from_static(b"10 messages, 45 bytes")
    );
}

#[tokio::test]
async fn bidi_call_exchanges_messages_in_both_directions() {
    let server = TestServer::start(echo).await;
    let channel = channel(&server).await;
    let mut call = channel
        .streaming(Request::new(()), "/test.Echo/Chat", BytesCodec)
        .await
        .unwrap();
    for word in ["one", "two", "three"] {
        call.send(Bytes::from(word)).await.unwrap();
        assert_eq!(call.message().await.unwrap().unwrap(), word);
    }
    call.close_send().await.unwrap();
    assert_eq!(call.message().await.unwrap(), None);
    assert!(call.trailers().await.unwrap().is_empty());
}

#[tokio::test]
async fn bidi_call_split_into_halves_used_from_two_tasks() {
    let server = TestServer::start(echo).await;
    let channel = channel(&server).await;
    let call = channel
        .streaming(Request::new(()), "/test.Echo/Chat", BytesCodec)
        .await
        .unwrap();
    let (mut sink, mut responses) = call.split();
    let sender = tokio::spawn(async move {
        for i in 0..100u32 {
            sink.send(Bytes::from(i.to_be_bytes().to_vec()))
                .await
                .unwrap();
        }
        sink.close_send().await.unwrap();
    });
    let mut received = 0u32;
    while let Some(message) = responses.message().await.unwrap() {
        assert_eq!(message[..], received.to_be_bytes());
        received += 1;
    }
    sender.await.unwrap();
    assert_eq!(received, 100);
}

#[tokio::test]
async fn eight_mib_messages_each_way_with_raised_limits() {
    let server = TestServer::start(|mut call: ServerCall| async move {
        let request = call.message().await.unwrap();
        assert_eq!(request.len(), 8 * MIB);
        call.reply(&request).await;
    })
    .await;
    let channel = Channel::builder(&server.target())
        .max_decoding_message_size(16 * MIB)
        .connect()
        .await
        .unwrap();
    let payload: Bytes = (0..8 * MIB)
        .map(|i| (i % 251) as u8)
        .collect::<Vec<_>>()
        .into();
    let response = channel
        .unary(
            Request::new(payload.clone()),
            "/test.Echo/Unary",
            BytesCodec,
        )
        .await
        .unwrap();
    assert!(response.get_ref() == &payload, "the 8 MiB response differs");

    // The same through streams.
    let server = TestServer::start(echo).await;
    let channel = Channel::builder(&server.target())
        .max_decoding_message_size(16 * MIB)
        .connect()
        .await
        .unwrap();
    let mut call = channel
        .streaming(Request::new(()), "/test.Echo/Chat", BytesCodec)
        .await
        .unwrap();
    call.send(payload.clone()).await.unwrap();
    call.close_send().await.unwrap();
    assert!(call.message().await.unwrap().unwrap() == payload);
    assert_eq!(call.message().await.unwrap(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_concurrent_calls_on_clones_of_one_channel() {
    let server = TestServer::start(|mut call: ServerCall| async move {
        let request = call.message().await.unwrap();
        call.reply(&request).await;
    })
    .await;
    let channel = channel(&server).await;
    let mut tasks = Vec::new();
    for task in 0..16u32 {
        let channel = channel.clone();
        tasks.push(tokio::spawn(async move {
            let calls = (0..50u32).map(|i| {
                let channel = channel.clone();
                async move {
                    let body = Bytes::from(format!("{task}-{i}"));
                    let response = channel
                        .unary(Request::new(body.clone()), "/test.Echo/Unary", BytesCodec)
                        .await
                        .unwrap();
                    assert_eq!(response.into_inner(), body);
                }
            });
            let handles: Vec<_> = calls.map(tokio::spawn).collect();
            for handle in handles {
                handle.await.unwrap();
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(server.request_count(), 800);
}

#[test]
fn channel_and_call_handles_are_send_and_sync_where_it_matters() {
    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>() {}
    send_sync::<Channel>();
    send_sync::<grpc_client::ChannelBuilder>();
    send::<grpc_client::Streaming<Bytes>>();
    send::<grpc_client::ClientStreamingCall<Bytes, Bytes>>();
    send::<grpc_client::BidiStreamingCall<Bytes, Bytes>>();
    send::<grpc_client::RequestSink<Bytes>>();
}

#[tokio::test]
async fn a_client_streaming_server_may_answer_before_the_request_stream_ends() {
    let server = TestServer::start(|mut call: ServerCall| async move {
        let first = call.message().await.unwrap();
        call.reply(&first).await;
        // Once the response is surely written (another message arrived after it was
        // queued), stop the request stream the way gRPC servers do (RFC 9113 §8.1).
        let _ = call.message().await;
        call.respond.reset(grpc_transport::ErrorCode::NO_ERROR);
    })
    .await;
    let channel = channel(&server).await;
    let mut call = channel
        .client_streaming(Request::new(()), "/test.Echo/Collect", BytesCodec)
        .await
        .unwrap();
    let mut sent = 0;
    let err = loop {
        match call.send(Bytes::from(format!("m{sent}"))).await {
            Ok(()) => sent += 1,
            Err(status) => break status,
        }
        assert!(sent < 10_000, "sends never failed");
        tokio::task::yield_now().await;
    };
    assert!(err.message().contains("finish()"), "{err}");
    let response = call.finish().await.unwrap();
    assert_eq!(response.into_inner(), "m0");
}
