//! Retries of client-streaming and bidi calls (gRFC A6): request messages are kept until
//! the call commits and replayed on a new attempt.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use grpc_client::{Channel, Code, Request};
use grpc_core::codec::BytesCodec;
use grpc_transport::ErrorCode;
use support::{ServerCall, TestServer};

const RETRY: &str = r#"{"methodConfig": [{"name": [{"service": "test.Stream"}],
    "retryPolicy": {"maxAttempts": 3, "initialBackoff": "0.01s", "maxBackoff": "0.05s",
                    "backoffMultiplier": 2, "retryableStatusCodes": ["UNAVAILABLE"]}}]}"#;

/// What each attempt saw: `grpc-previous-rpc-attempts` and the request messages.
type Seen = Arc<Mutex<Vec<(Option<String>, Vec<Bytes>)>>>;

async fn channel(server: &TestServer, config: &str) -> Channel {
    Channel::builder(&server.target())
        .default_service_config(config)
        .connect()
        .await
        .unwrap()
}

fn within<F: std::future::Future>(f: F) -> tokio::time::Timeout<F> {
    tokio::time::timeout(Duration::from_secs(20), f)
}

/// Attempts before `succeed_on` read every request and fail with UNAVAILABLE
/// (Trailers-Only); that attempt answers with the messages joined.
async fn flaky_collector(succeed_on: usize, seen: Seen) -> TestServer {
    let attempt = Arc::new(AtomicUsize::new(0));
    TestServer::start(move |mut call: ServerCall| {
        let seen = seen.clone();
        let n = attempt.fetch_add(1, Ordering::SeqCst) + 1;
        async move {
            let previous = call.header("grpc-previous-rpc-attempts").map(str::to_owned);
            let messages = call.messages().await;
            seen.lock().unwrap().push((previous, messages.clone()));
            if n < succeed_on {
                call.send_trailers_only(Code::Unavailable, "try again");
                return;
            }
            call.reply(&messages.concat()).await;
        }
    })
    .await
}

#[tokio::test]
async fn a_client_stream_is_replayed_on_a_new_attempt() {
    let seen = Seen::default();
    let server = flaky_collector(3, seen.clone()).await;
    let channel = channel(&server, RETRY).await;
    let mut call = channel
        .client_streaming(Request::new(()), "/test.Stream/Collect", BytesCodec)
        .await
        .unwrap();
    for part in ["a", "b", "c"] {
        call.send(Bytes::from(part)).await.unwrap();
    }
    let response = within(call.finish()).await.unwrap().unwrap();
    assert_eq!(&response.get_ref()[..], b"abc");
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 3, "two failed attempts, then success");
    for (i, (previous, messages)) in seen.iter().enumerate() {
        let expected = (i > 0).then(|| i.to_string());
        assert_eq!(previous, &expected, "attempt {i}");
        assert_eq!(
            messages,
            &["a", "b", "c"].map(Bytes::from),
            "attempt {i} got every message"
        );
    }
}

#[tokio::test]
async fn a_bidi_call_is_retried_before_headers_and_keeps_sending_after() {
    let attempt = Arc::new(AtomicUsize::new(0));
    let server = TestServer::start(move |mut call: ServerCall| {
        let n = attempt.fetch_add(1, Ordering::SeqCst) + 1;
        async move {
            if n == 1 {
                // Fails after the first message, before any response headers.
                call.message().await;
                call.send_trailers_only(Code::Unavailable, "restarting");
                return;
            }
            call.send_headers();
            while let Some(message) = call.message().await {
                call.send_message(&message).await;
            }
            call.send_status(Code::Ok, "");
        }
    })
    .await;
    let channel = channel(&server, RETRY).await;
    let mut call = channel
        .streaming(Request::new(()), "/test.Stream/Echo", BytesCodec)
        .await
        .unwrap();
    call.send(Bytes::from_static(b"one")).await.unwrap();
    // The first attempt fails; reading retries it and replays "one".
    let first = within(call.message()).await.unwrap().unwrap();
    assert_eq!(first.as_deref(), Some(&b"one"[..]));
    call.send(Bytes::from_static(b"two")).await.unwrap();
    assert_eq!(call.message().await.unwrap().as_deref(), Some(&b"two"[..]));
    call.close_send().await.unwrap();
    assert_eq!(call.message().await.unwrap(), None);
    assert_eq!(server.request_count(), 2);
}

#[tokio::test]
async fn a_call_whose_headers_arrived_is_committed() {
    let server = TestServer::start(|mut call: ServerCall| async move {
        call.send_headers();
        call.messages().await;
        call.send_status(Code::Unavailable, "after headers");
    })
    .await;
    let channel = channel(&server, RETRY).await;
    let mut call = channel
        .client_streaming(Request::new(()), "/test.Stream/Collect", BytesCodec)
        .await
        .unwrap();
    call.send(Bytes::from_static(b"x")).await.unwrap();
    let err = within(call.finish()).await.unwrap().unwrap_err();
    assert_eq!(err.code(), Code::Unavailable);
    assert_eq!(server.request_count(), 1, "no retry after response headers");
}

#[tokio::test]
async fn requests_larger_than_the_retry_buffer_commit_the_call() {
    let seen = Seen::default();
    let server = flaky_collector(2, seen.clone()).await;
    let channel = Channel::builder(&server.target())
        .default_service_config(RETRY)
        .retry_buffer_size(64)
        .connect()
        .await
        .unwrap();
    let mut call = channel
        .client_streaming(Request::new(()), "/test.Stream/Collect", BytesCodec)
        .await
        .unwrap();
    call.send(Bytes::from(vec![b'z'; 100])).await.unwrap();
    let err = within(call.finish()).await.unwrap().unwrap_err();
    assert_eq!(err.code(), Code::Unavailable, "{err}");
    assert_eq!(seen.lock().unwrap().len(), 1, "committed: not retried");
}

#[tokio::test]
async fn a_non_retryable_failure_is_the_calls_status() {
    let server = TestServer::start(|mut call: ServerCall| async move {
        call.messages().await;
        call.send_trailers_only(Code::InvalidArgument, "bad stream");
    })
    .await;
    let channel = channel(&server, RETRY).await;
    let mut call = channel
        .client_streaming(Request::new(()), "/test.Stream/Collect", BytesCodec)
        .await
        .unwrap();
    call.send(Bytes::from_static(b"x")).await.unwrap();
    let err = within(call.finish()).await.unwrap().unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert_eq!(server.request_count(), 1);
}

#[tokio::test]
async fn attempts_are_capped_by_max_attempts() {
    let seen = Seen::default();
    let server = flaky_collector(usize::MAX, seen.clone()).await;
    let channel = channel(&server, RETRY).await;
    let mut call = channel
        .client_streaming(Request::new(()), "/test.Stream/Collect", BytesCodec)
        .await
        .unwrap();
    call.send(Bytes::from_static(b"x")).await.unwrap();
    let err = within(call.finish()).await.unwrap().unwrap_err();
    assert_eq!(err.code(), Code::Unavailable);
    assert_eq!(seen.lock().unwrap().len(), 3);
}

#[tokio::test]
async fn dropping_the_sink_before_the_commit_cancels_a_retried_call() {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let (got_tx, mut got) = tokio::sync::mpsc::unbounded_channel();
    let server = TestServer::start(move |mut call: ServerCall| {
        let tx = tx.clone();
        let got_tx = got_tx.clone();
        async move {
            call.message().await;
            let _ = got_tx.send(());
            let rest = call.messages().await;
            let _ = tx.send((rest.len(), call.reset_code().await));
        }
    })
    .await;
    let channel = channel(&server, RETRY).await;
    let call = channel
        .streaming(Request::new(()), "/test.Stream/Echo", BytesCodec)
        .await
        .unwrap();
    let (mut sink, responses) = call.split();
    sink.send(Bytes::from_static(b"x")).await.unwrap();
    within(got.recv()).await.unwrap();
    drop(sink);
    let (rest, reset) = within(rx.recv()).await.unwrap().unwrap();
    assert_eq!((rest, reset), (0, Some(ErrorCode::CANCEL)));
    drop(responses);
}

#[tokio::test]
async fn dropping_the_sink_cancels_a_retried_call() {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let server = TestServer::start(move |mut call: ServerCall| {
        let tx = tx.clone();
        async move {
            call.send_headers();
            call.send_message(b"hello").await;
            call.message().await;
            let _ = tx.send(call.reset_code().await);
        }
    })
    .await;
    let channel = channel(&server, RETRY).await;
    let call = channel
        .streaming(Request::new(()), "/test.Stream/Echo", BytesCodec)
        .await
        .unwrap();
    let (mut sink, mut responses) = call.split();
    sink.send(Bytes::from_static(b"x")).await.unwrap();
    // Committed once the headers arrive; dropping the sink now cancels the call.
    assert_eq!(
        within(responses.message())
            .await
            .unwrap()
            .unwrap()
            .as_deref(),
        Some(&b"hello"[..])
    );
    drop(sink);
    let code = within(rx.recv()).await.unwrap().unwrap();
    assert_eq!(code, Some(ErrorCode::CANCEL));
    drop(responses);
}

#[tokio::test]
async fn dropping_the_responses_cancels_a_retried_call() {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let server = TestServer::start(move |mut call: ServerCall| {
        let tx = tx.clone();
        async move {
            call.send_headers();
            call.send_message(b"hello").await;
            let _ = tx.send(call.reset_code().await);
        }
    })
    .await;
    let channel = channel(&server, RETRY).await;
    let mut call = channel
        .streaming(Request::new(()), "/test.Stream/Echo", BytesCodec)
        .await
        .unwrap();
    call.close_send().await.unwrap();
    // Committed once the headers arrive; dropping the call now cancels it.
    assert_eq!(
        call.message().await.unwrap().as_deref(),
        Some(&b"hello"[..])
    );
    drop(call);
    let code = within(rx.recv()).await.unwrap().unwrap();
    assert_eq!(code, Some(ErrorCode::CANCEL));
}
