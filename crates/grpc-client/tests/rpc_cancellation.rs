//! Deadlines and cancellation: an expired deadline fails the call with DEADLINE_EXCEEDED and
//! the server sees RST_STREAM CANCEL; dropping any kind of call before it ends does the same.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use bytes::Bytes;
use grpc_client::{
    BidiStreamingCall, CallOptions, Channel, ClientStreamingCall, Code, Request, Status,
};
use grpc_core::codec::BytesCodec;
use grpc_transport::ErrorCode;
use support::{ServerCall, TestServer, channel};
use tokio::sync::mpsc;

/// What the server saw of one call.
#[derive(Debug, PartialEq)]
enum Seen {
    /// The first request message (or the end of the request stream).
    Request,
    /// The client reset the stream with this code.
    Reset(Option<ErrorCode>),
}

/// A server that reads one request message, optionally answers with headers and `messages`
/// messages, then never finishes: it reports the client's reset. With a channel to it.
async fn stalling_server(messages: usize) -> (TestServer, Channel, mpsc::UnboundedReceiver<Seen>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let server = TestServer::start(move |mut call: ServerCall| {
        let tx = tx.clone();
        async move {
            let _ = call.message().await;
            tx.send(Seen::Request).unwrap();
            if messages > 0 {
                call.send_headers();
                for _ in 0..messages {
                    call.send_message(b"partial").await;
                }
            }
            tx.send(Seen::Reset(call.reset_code().await)).unwrap();
        }
    })
    .await;
    let channel = channel(&server).await;
    (server, channel, rx)
}

/// The server read the request (or saw the request stream end).
async fn expect_request(seen: &mut mpsc::UnboundedReceiver<Seen>) {
    assert_eq!(seen.recv().await, Some(Seen::Request));
}

/// The client reset the stream with CANCEL.
async fn expect_cancel(seen: &mut mpsc::UnboundedReceiver<Seen>) {
    assert_eq!(
        seen.recv().await,
        Some(Seen::Reset(Some(ErrorCode::CANCEL)))
    );
}

/// The call failed with DEADLINE_EXCEEDED, after the server read the request, and the
/// client cancelled the stream.
async fn expect_deadline(err: Status, seen: &mut mpsc::UnboundedReceiver<Seen>) {
    assert_eq!(err.code(), Code::DeadlineExceeded, "{err}");
    expect_request(seen).await;
    expect_cancel(seen).await;
}

fn with_timeout<T>(message: T, timeout: Duration) -> Request<T> {
    let mut request = Request::new(message);
    request
        .extensions_mut()
        .insert(CallOptions::new().timeout(timeout));
    request
}

const SHORT: Duration = Duration::from_millis(200);

/// A client-streaming call to the stalling server, one request message sent.
async fn collect_one(channel: &Channel, request: Request<()>) -> ClientStreamingCall<Bytes, Bytes> {
    let mut call = channel
        .client_streaming(request, "/test.Slow/Collect", BytesCodec)
        .await
        .unwrap();
    call.send(Bytes::from_static(b"one")).await.unwrap();
    call
}

/// A bidi call to the stalling server, one request message sent.
async fn chat_one(channel: &Channel, request: Request<()>) -> BidiStreamingCall<Bytes, Bytes> {
    let mut call = channel
        .streaming(request, "/test.Slow/Chat", BytesCodec)
        .await
        .unwrap();
    call.send(Bytes::from_static(b"one")).await.unwrap();
    call
}

#[tokio::test]
async fn unary_deadline_fails_the_call_and_cancels_the_stream() {
    let (_server, channel, mut seen) = stalling_server(0).await;
    let err = channel
        .unary(
            with_timeout(Bytes::from_static(b"x"), SHORT),
            "/test.Slow/Unary",
            BytesCodec,
        )
        .await
        .unwrap_err();
    expect_deadline(err, &mut seen).await;
}

#[tokio::test]
async fn request_set_timeout_and_the_channel_default_are_deadlines_too() {
    let (server, channel, mut seen) = stalling_server(0).await;
    let mut request = Request::new(Bytes::new());
    request.set_timeout(SHORT);
    let err = channel
        .unary(request, "/test.Slow/Unary", BytesCodec)
        .await
        .unwrap_err();
    expect_deadline(err, &mut seen).await;

    let channel = Channel::builder(&server.target())
        .timeout(SHORT)
        .connect_lazy()
        .unwrap();
    let err = channel
        .unary(Request::new(Bytes::new()), "/test.Slow/Unary", BytesCodec)
        .await
        .unwrap_err();
    expect_deadline(err, &mut seen).await;
}

#[tokio::test]
async fn server_streaming_deadline_applies_while_reading() {
    let (_server, channel, mut seen) = stalling_server(1).await;
    let mut stream = channel
        .server_streaming(
            with_timeout(Bytes::new(), SHORT),
            "/test.Slow/Stream",
            BytesCodec,
        )
        .await
        .unwrap()
        .into_inner();
    assert_eq!(stream.message().await.unwrap().unwrap(), "partial");
    let err = stream.message().await.unwrap_err();
    expect_deadline(err, &mut seen).await;
}

#[tokio::test]
async fn client_streaming_deadline_applies_while_waiting_for_the_response() {
    let (_server, channel, mut seen) = stalling_server(0).await;
    let call = collect_one(&channel, with_timeout((), SHORT)).await;
    let err = call.finish().await.unwrap_err();
    expect_deadline(err, &mut seen).await;
}

#[tokio::test]
async fn bidi_deadline_applies_to_reads_and_later_writes() {
    let (_server, channel, mut seen) = stalling_server(0).await;
    let mut call = chat_one(&channel, with_timeout((), SHORT)).await;
    let err = call.message().await.unwrap_err();
    expect_deadline(err, &mut seen).await;
    let err = call.send(Bytes::from_static(b"two")).await.unwrap_err();
    assert_eq!(err.code(), Code::DeadlineExceeded, "{err}");
}

#[tokio::test]
async fn dropping_a_unary_call_future_cancels_it() {
    let (_server, channel, mut seen) = stalling_server(0).await;
    let call = tokio::spawn(async move {
        channel
            .unary(
                Request::new(Bytes::from_static(b"x")),
                "/test.Slow/Unary",
                BytesCodec,
            )
            .await
    });
    expect_request(&mut seen).await;
    call.abort();
    expect_cancel(&mut seen).await;
}

#[tokio::test]
async fn dropping_a_server_stream_cancels_the_call() {
    let (_server, channel, mut seen) = stalling_server(1).await;
    let mut stream = channel
        .server_streaming(Request::new(Bytes::new()), "/test.Slow/Stream", BytesCodec)
        .await
        .unwrap()
        .into_inner();
    assert_eq!(stream.message().await.unwrap().unwrap(), "partial");
    expect_request(&mut seen).await;
    drop(stream);
    expect_cancel(&mut seen).await;
}

#[tokio::test]
async fn dropping_a_server_streaming_call_future_before_headers_cancels_it() {
    let (_server, channel, mut seen) = stalling_server(0).await;
    let call = tokio::spawn(async move {
        channel
            .server_streaming(Request::new(Bytes::new()), "/test.Slow/Stream", BytesCodec)
            .await
    });
    expect_request(&mut seen).await;
    call.abort();
    expect_cancel(&mut seen).await;
}

#[tokio::test]
async fn dropping_a_client_streaming_call_cancels_it() {
    let (_server, channel, mut seen) = stalling_server(0).await;
    let call = collect_one(&channel, Request::new(())).await;
    expect_request(&mut seen).await;
    drop(call);
    expect_cancel(&mut seen).await;
}

#[tokio::test]
async fn dropping_a_client_streaming_finish_future_cancels_it() {
    let (_server, channel, mut seen) = stalling_server(0).await;
    let call = collect_one(&channel, Request::new(())).await;
    let finish = tokio::spawn(call.finish());
    expect_request(&mut seen).await;
    finish.abort();
    expect_cancel(&mut seen).await;
}

#[tokio::test]
async fn dropping_a_bidi_call_cancels_it_before_and_after_close_send() {
    for close_first in [false, true] {
        let (_server, channel, mut seen) = stalling_server(1).await;
        let mut call = chat_one(&channel, Request::new(())).await;
        assert_eq!(call.message().await.unwrap().unwrap(), "partial");
        if close_first {
            call.close_send().await.unwrap();
        }
        expect_request(&mut seen).await;
        drop(call);
        assert_eq!(
            seen.recv().await,
            Some(Seen::Reset(Some(ErrorCode::CANCEL))),
            "close_send first: {close_first}"
        );
    }
}

#[tokio::test]
async fn dropping_the_response_half_of_a_split_bidi_call_cancels_it() {
    for close_first in [false, true] {
        let (_server, channel, mut seen) = stalling_server(1).await;
        let (mut sink, mut responses) = chat_one(&channel, Request::new(())).await.split();
        assert_eq!(responses.message().await.unwrap().unwrap(), "partial");
        if close_first {
            sink.close_send().await.unwrap();
        }
        expect_request(&mut seen).await;
        drop(responses);
        assert_eq!(
            seen.recv().await,
            Some(Seen::Reset(Some(ErrorCode::CANCEL))),
            "close_send first: {close_first}"
        );
        if !close_first {
            let err = sink.send(Bytes::from_static(b"two")).await.unwrap_err();
            assert_eq!(err.code(), Code::Cancelled, "{err}");
        }
    }
}

#[tokio::test]
async fn dropping_the_sink_of_a_split_bidi_call_without_close_send_cancels_it() {
    let (_server, channel, mut seen) = stalling_server(1).await;
    let (sink, mut responses) = chat_one(&channel, Request::new(())).await.split();
    expect_request(&mut seen).await;
    drop(sink);
    expect_cancel(&mut seen).await;
    // The response side learns that the call is over.
    let _ = responses.message().await;
    assert_eq!(
        responses.message().await.unwrap_err().code(),
        Code::Cancelled
    );
}

#[tokio::test]
async fn a_completed_call_sends_no_reset() {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let server = TestServer::start(move |mut call: ServerCall| {
        let tx = tx.clone();
        async move {
            let request = call.message().await.unwrap();
            call.reply(&request).await;
            let stop = call.respond.stop_signal();
            // The stream completed: there is nothing left to fail.
            let outcome = tokio::time::timeout(Duration::from_millis(100), stop.stopped())
                .await
                .is_err();
            tx.send(outcome).unwrap();
        }
    })
    .await;
    let channel = channel(&server).await;
    let response = channel
        .unary(
            Request::new(Bytes::from_static(b"ok")),
            "/test.Echo/Unary",
            BytesCodec,
        )
        .await
        .unwrap();
    drop(response);
    assert_eq!(rx.recv().await, Some(true));
}
