//! Retries and hedging of calls configured by the service config (gRFC A6), against a raw
//! test server that sees every attempt's headers (`grpc-previous-rpc-attempts` included) and
//! answers each one as the test scripts it.
//!
//! Real time: backoffs are a few milliseconds, and time is asserted only as lower bounds
//! (a pushback or a hedging delay cannot be shortened), or as upper bounds of several seconds
//! that a working channel misses only if it waited for a timer it should not have.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use grpc_client::{Channel, Code, Request, Status};
use grpc_core::codec::BytesCodec;
use grpc_transport::ErrorCode;
use grpc_transport::hpack::HeaderField;
use serde_json::{Value, json};
use support::{ServerCall, TestServer};
use tokio::sync::mpsc;
use tokio::time::Instant;

/// The header each retried or hedged attempt carries (A6, "Exposed Retry Metadata").
const PREVIOUS_ATTEMPTS: &str = "grpc-previous-rpc-attempts";

/// How the scripted server answers one attempt.
#[derive(Clone, Copy, Debug)]
enum Reply {
    /// Response headers, the message `ok`, status OK.
    Ok,
    /// Response headers, these messages, status OK.
    Messages(&'static [&'static [u8]]),
    /// A Trailers-Only response with this code (message: `attempt <index>`).
    Fail(Code),
    /// A Trailers-Only response with this code and `grpc-retry-pushback-ms: <value>`.
    Pushback(Code, &'static str),
    /// Response headers, then this code in the trailers: the attempt is committed.
    FailAfterHeaders(Code),
    /// Never answers; reports the client's RST_STREAM code on the resets channel.
    Hold,
    /// RST_STREAM REFUSED_STREAM at once: the server never processed the stream.
    Refuse,
}

/// One attempt as the server saw it.
#[derive(Clone, Debug)]
struct Seen {
    /// Arrival order (0 for the first request the server got).
    index: usize,
    at: Instant,
    path: String,
    /// `grpc-previous-rpc-attempts`.
    previous: Option<String>,
    /// The request message (`None` for refused streams).
    message: Option<Bytes>,
}

/// A server that answers the `n`-th request it gets (from 0) with `script(n, path)`.
struct Scripted {
    server: TestServer,
    seen: Arc<Mutex<Vec<Seen>>>,
    /// `(index, RST_STREAM code)` of every `Hold` attempt once the client reset it (`None`:
    /// not reset within 10 s, or the stream ended some other way).
    resets: mpsc::UnboundedReceiver<(usize, Option<ErrorCode>)>,
}

impl Scripted {
    async fn start<S>(script: S) -> Scripted
    where
        S: Fn(usize, &str) -> Reply + Send + Sync + 'static,
    {
        let script = Arc::new(script);
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (reset_tx, resets) = mpsc::unbounded_channel();
        let next = Arc::new(AtomicUsize::new(0));
        let server = TestServer::start({
            let seen = seen.clone();
            move |call: ServerCall| {
                let script = script.clone();
                let seen = seen.clone();
                let reset_tx = reset_tx.clone();
                let index = next.fetch_add(1, Ordering::SeqCst);
                answer(call, index, script, seen, reset_tx)
            }
        })
        .await;
        Scripted {
            server,
            seen,
            resets,
        }
    }

    /// Every attempt so far, in arrival order.
    fn seen(&self) -> Vec<Seen> {
        let mut seen = self.seen.lock().unwrap().clone();
        seen.sort_by_key(|s| s.index);
        seen
    }

    /// `grpc-previous-rpc-attempts` of every attempt so far, in arrival order.
    fn previous(&self) -> Vec<Option<String>> {
        self.seen().into_iter().map(|s| s.previous).collect()
    }

    fn requests(&self) -> usize {
        self.server.request_count()
    }

    /// The next `Hold` attempt the client reset, with the reset code.
    async fn next_reset(&mut self) -> (usize, Option<ErrorCode>) {
        tokio::time::timeout(Duration::from_secs(10), self.resets.recv())
            .await
            .expect("no reset reported within 10 s")
            .expect("the server is gone")
    }

    async fn channel(&self, config: &Value) -> Channel {
        Channel::builder(&self.server.target())
            .default_service_config(&config.to_string())
            .connect()
            .await
            .unwrap()
    }
}

async fn answer<S>(
    mut call: ServerCall,
    index: usize,
    script: Arc<S>,
    seen: Arc<Mutex<Vec<Seen>>>,
    reset_tx: mpsc::UnboundedSender<(usize, Option<ErrorCode>)>,
) where
    S: Fn(usize, &str) -> Reply + Send + Sync + 'static,
{
    let at = Instant::now();
    let path = call.path().to_owned();
    let previous = call.header(PREVIOUS_ATTEMPTS).map(str::to_owned);
    let reply = script(index, &path);
    let message = if matches!(reply, Reply::Refuse) {
        None
    } else {
        call.message().await
    };
    seen.lock().unwrap().push(Seen {
        index,
        at,
        path,
        previous,
        message,
    });
    let status_message = format!("attempt {index}");
    match reply {
        Reply::Ok => call.reply(b"ok").await,
        Reply::Messages(messages) => {
            call.send_headers();
            for message in messages {
                call.send_message(message).await;
            }
            call.send_status(Code::Ok, "");
        }
        Reply::Fail(code) => call.send_trailers_only(code, &status_message),
        Reply::Pushback(code, value) => {
            let mut fields = support::ok_headers();
            fields.push(HeaderField::new("grpc-status", code.as_i32().to_string()));
            fields.push(HeaderField::new("grpc-message", status_message));
            fields.push(HeaderField::new("grpc-retry-pushback-ms", value));
            call.send_raw_headers(fields, true);
        }
        Reply::FailAfterHeaders(code) => {
            call.send_headers();
            // Flush the headers on their own, so the client surely commits on them
            // before the status arrives.
            tokio::time::sleep(Duration::from_millis(20)).await;
            call.send_status(code, &status_message);
        }
        Reply::Hold => {
            let code = tokio::time::timeout(Duration::from_secs(10), call.reset_code())
                .await
                .ok()
                .flatten();
            let _ = reset_tx.send((index, code));
        }
        Reply::Refuse => call.respond.reset(ErrorCode::REFUSED_STREAM),
    }
}

/// A script: the `n`-th request gets `first[n]`, later ones `then`.
fn script(first: &'static [Reply], then: Reply) -> impl Fn(usize, &str) -> Reply {
    move |index, _| first.get(index).copied().unwrap_or(then)
}

/// A service config with one retry policy for every method.
fn retry_config(max_attempts: u32, initial_backoff: &str, max_backoff: &str) -> Value {
    json!({
        "methodConfig": [{
            "name": [{}],
            "retryPolicy": {
                "maxAttempts": max_attempts,
                "initialBackoff": initial_backoff,
                "maxBackoff": max_backoff,
                "backoffMultiplier": 2,
                "retryableStatusCodes": ["UNAVAILABLE"],
            },
        }],
    })
}

/// The retry policy the tests use unless they need something else: 3 attempts, backoff
/// 10-50 ms, UNAVAILABLE retryable.
fn quick_retries() -> Value {
    retry_config(3, "0.01s", "0.05s")
}

/// A service config with one hedging policy for every method, UNAVAILABLE non-fatal.
fn hedging_config(max_attempts: u32, delay: &str) -> Value {
    json!({
        "methodConfig": [{
            "name": [{}],
            "hedgingPolicy": {
                "maxAttempts": max_attempts,
                "hedgingDelay": delay,
                "nonFatalStatusCodes": ["UNAVAILABLE"],
            },
        }],
    })
}

async fn unary(channel: &Channel, path: &'static str) -> Result<Bytes, Status> {
    channel
        .unary(Request::new(Bytes::from_static(b"ping")), path, BytesCodec)
        .await
        .map(|response| response.into_inner())
}

/// Runs a test body with an upper bound, so a hung retry loop fails instead of hanging.
async fn bounded<T>(body: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(30), body)
        .await
        .expect("test did not finish within 30 s")
}

fn previous(values: &[Option<&str>]) -> Vec<Option<String>> {
    values.iter().map(|v| v.map(str::to_owned)).collect()
}

#[tokio::test]
async fn unary_is_retried_on_unavailable_until_it_succeeds() {
    bounded(async {
        const FIRST: &[Reply] = &[
            Reply::Fail(Code::Unavailable),
            Reply::Fail(Code::Unavailable),
        ];
        let server = Scripted::start(script(FIRST, Reply::Ok)).await;
        let channel = server.channel(&quick_retries()).await;
        let response = unary(&channel, "/test.Retry/Unary").await.unwrap();
        assert_eq!(&response[..], b"ok");
        assert_eq!(server.requests(), 3);
        assert_eq!(server.previous(), previous(&[None, Some("1"), Some("2")]));
        for seen in server.seen() {
            // Every attempt carries the same request message, to the same method.
            assert_eq!(seen.message.as_deref(), Some(&b"ping"[..]), "{seen:?}");
            assert_eq!(seen.path, "/test.Retry/Unary");
        }
    })
    .await;
}

#[tokio::test]
async fn unary_gives_up_after_max_attempts_with_the_last_status() {
    bounded(async {
        let server = Scripted::start(script(&[], Reply::Fail(Code::Unavailable))).await;
        let channel = server.channel(&quick_retries()).await;
        let status = unary(&channel, "/test.Retry/Unary").await.unwrap_err();
        assert_eq!(status.code(), Code::Unavailable, "{status}");
        assert_eq!(status.message(), "attempt 2");
        assert_eq!(server.requests(), 3);
        assert_eq!(server.previous(), previous(&[None, Some("1"), Some("2")]));
    })
    .await;
}

#[tokio::test]
async fn max_attempts_above_five_is_treated_as_five() {
    bounded(async {
        let server = Scripted::start(script(&[], Reply::Fail(Code::Unavailable))).await;
        let channel = server.channel(&retry_config(10, "0.01s", "0.05s")).await;
        let status = unary(&channel, "/test.Retry/Unary").await.unwrap_err();
        assert_eq!(status.code(), Code::Unavailable, "{status}");
        assert_eq!(status.message(), "attempt 4");
        assert_eq!(server.requests(), 5);
        assert_eq!(
            server.previous(),
            previous(&[None, Some("1"), Some("2"), Some("3"), Some("4")])
        );
    })
    .await;
}

#[tokio::test]
async fn a_code_that_is_not_retryable_is_not_retried() {
    bounded(async {
        for code in [
            Code::InvalidArgument,
            Code::Internal,
            Code::DeadlineExceeded,
        ] {
            let server = Scripted::start(script(&[], Reply::Fail(code))).await;
            let channel = server.channel(&quick_retries()).await;
            let status = unary(&channel, "/test.Retry/Unary").await.unwrap_err();
            assert_eq!(status.code(), code, "{status}");
            assert_eq!(server.requests(), 1, "{code:?}");
            assert_eq!(server.previous(), previous(&[None]));
        }
    })
    .await;
}

#[tokio::test]
async fn an_attempt_is_committed_once_response_headers_arrive() {
    bounded(async {
        let server = Scripted::start(script(&[], Reply::FailAfterHeaders(Code::Unavailable))).await;
        let channel = server.channel(&quick_retries()).await;
        let status = unary(&channel, "/test.Retry/Unary").await.unwrap_err();
        assert_eq!(status.code(), Code::Unavailable, "{status}");
        assert_eq!(status.message(), "attempt 0");
        // Give a (wrong) retry time to show up.
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(server.requests(), 1);
    })
    .await;
}

#[tokio::test]
async fn server_pushback_sets_the_delay_of_the_next_attempt() {
    bounded(async {
        const FIRST: &[Reply] = &[Reply::Pushback(Code::Unavailable, "300")];
        let server = Scripted::start(script(FIRST, Reply::Ok)).await;
        // Without the pushback the retry would come within 10 ms.
        let channel = server.channel(&quick_retries()).await;
        let response = unary(&channel, "/test.Retry/Unary").await.unwrap();
        assert_eq!(&response[..], b"ok");
        let seen = server.seen();
        assert_eq!(seen.len(), 2);
        assert_eq!(seen[1].previous.as_deref(), Some("1"));
        let gap = seen[1].at - seen[0].at;
        assert!(gap >= Duration::from_millis(300), "retried after {gap:?}");
    })
    .await;
}

#[tokio::test]
async fn negative_or_unparsable_pushback_stops_retries() {
    bounded(async {
        for value in ["-1", "abc"] {
            let server =
                Scripted::start(script(&[], Reply::Pushback(Code::Unavailable, value))).await;
            let channel = server.channel(&quick_retries()).await;
            let status = unary(&channel, "/test.Retry/Unary").await.unwrap_err();
            assert_eq!(status.code(), Code::Unavailable, "{value}: {status}");
            tokio::time::sleep(Duration::from_millis(100)).await;
            assert_eq!(server.requests(), 1, "pushback {value:?}");
        }
    })
    .await;
}

#[tokio::test]
async fn pushback_does_not_make_a_non_retryable_code_retryable() {
    bounded(async {
        let server =
            Scripted::start(script(&[], Reply::Pushback(Code::InvalidArgument, "10"))).await;
        let channel = server.channel(&quick_retries()).await;
        let status = unary(&channel, "/test.Retry/Unary").await.unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{status}");
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(server.requests(), 1);
    })
    .await;
}

#[tokio::test]
async fn server_streaming_is_retried_before_response_headers() {
    bounded(async {
        const FIRST: &[Reply] = &[
            Reply::Fail(Code::Unavailable),
            Reply::Fail(Code::Unavailable),
        ];
        const MESSAGES: &[&[u8]] = &[b"one", b"two"];
        let server = Scripted::start(script(FIRST, Reply::Messages(MESSAGES))).await;
        let channel = server.channel(&quick_retries()).await;
        let mut stream = channel
            .server_streaming(
                Request::new(Bytes::from_static(b"ping")),
                "/test.Retry/Stream",
                BytesCodec,
            )
            .await
            .unwrap()
            .into_inner();
        let mut got = Vec::new();
        while let Some(message) = stream.message().await.unwrap() {
            got.push(message);
        }
        assert_eq!(
            got,
            vec![Bytes::from_static(b"one"), Bytes::from_static(b"two")]
        );
        assert_eq!(server.previous(), previous(&[None, Some("1"), Some("2")]));
        for seen in server.seen() {
            assert_eq!(seen.message.as_deref(), Some(&b"ping"[..]), "{seen:?}");
        }
    })
    .await;
}

#[tokio::test]
async fn server_streaming_is_committed_once_response_headers_arrive() {
    bounded(async {
        let server = Scripted::start(script(&[], Reply::FailAfterHeaders(Code::Unavailable))).await;
        let channel = server.channel(&quick_retries()).await;
        let mut stream = channel
            .server_streaming(
                Request::new(Bytes::from_static(b"ping")),
                "/test.Retry/Stream",
                BytesCodec,
            )
            .await
            .unwrap()
            .into_inner();
        let status = stream.message().await.unwrap_err();
        assert_eq!(status.code(), Code::Unavailable, "{status}");
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(server.requests(), 1);
    })
    .await;
}

#[tokio::test]
async fn client_streaming_calls_are_retried_up_to_max_attempts() {
    bounded(async {
        let server = Scripted::start(script(&[], Reply::Fail(Code::Unavailable))).await;
        let channel = server.channel(&quick_retries()).await;
        let mut call = channel
            .client_streaming(Request::new(()), "/test.Retry/Collect", BytesCodec)
            .await
            .unwrap();
        // Before the commit a failed attempt is not a send error: the message is replayed.
        call.send(Bytes::from_static(b"ping")).await.unwrap();
        let status = call.finish().await.unwrap_err();
        assert_eq!(status.code(), Code::Unavailable, "{status}");
        tokio::time::sleep(Duration::from_millis(100)).await;
        // rpc_streaming_retries.rs covers the replay; here: maxAttempts 3.
        assert_eq!(server.requests(), 3);
    })
    .await;
}

#[tokio::test]
async fn the_policy_applies_only_to_the_methods_it_names() {
    bounded(async {
        let server = Scripted::start(script(&[], Reply::Fail(Code::Unavailable))).await;
        let mut config = quick_retries();
        config["methodConfig"][0]["name"] = json!([{"service": "test.Retry"}]);
        let channel = server.channel(&config).await;
        let status = unary(&channel, "/other.Service/Unary").await.unwrap_err();
        assert_eq!(status.code(), Code::Unavailable, "{status}");
        assert_eq!(server.requests(), 1);
        let status = unary(&channel, "/test.Retry/Unary").await.unwrap_err();
        assert_eq!(status.code(), Code::Unavailable, "{status}");
        assert_eq!(server.requests(), 4);
    })
    .await;
}

/// A6, "Throttling Retry Attempts and Hedged RPCs", with maxTokens 10 and tokenRatio 0.1:
/// every failed attempt takes a token, every successful call gives back 0.1, and a retry is
/// made only if, after the failure was counted, more than 5 tokens are left.
#[tokio::test]
async fn retry_throttling_follows_the_token_bucket() {
    bounded(async {
        let server = Scripted::start(|_, path: &str| {
            if path.ends_with("/Ok") {
                Reply::Ok
            } else {
                Reply::Fail(Code::Unavailable)
            }
        })
        .await;
        let mut config = retry_config(5, "0.01s", "0.02s");
        config["retryThrottling"] = json!({"maxTokens": 10, "tokenRatio": 0.1});
        let channel = server.channel(&config).await;
        let attempts_of_failing_call = || failing_call_attempts(&server, &channel);
        // 10 -> 9 -> 8 -> 7 -> 6 -> 5 tokens: four retries, then maxAttempts (5) is reached.
        assert_eq!(attempts_of_failing_call().await, 5);
        // 5 -> 4: not above 5, no retry.
        assert_eq!(attempts_of_failing_call().await, 1);
        // 4 + 20 * 0.1 = 6 tokens.
        for _ in 0..20 {
            unary(&channel, "/test.Retry/Ok").await.unwrap();
        }
        // 6 -> 5: exactly half is not above it, no retry.
        assert_eq!(attempts_of_failing_call().await, 1);
        // 5 + 11 * 0.1 = 6.1 tokens.
        for _ in 0..11 {
            unary(&channel, "/test.Retry/Ok").await.unwrap();
        }
        // 6.1 -> 5.1: one retry; 5.1 -> 4.1: no more.
        assert_eq!(attempts_of_failing_call().await, 2);
        assert_eq!(attempts_of_failing_call().await, 1);
    })
    .await;
}

/// Makes one call that the server always fails with UNAVAILABLE; returns its attempts.
async fn failing_call_attempts(server: &Scripted, channel: &Channel) -> usize {
    let before = server.requests();
    let status = unary(channel, "/test.Retry/Fail").await.unwrap_err();
    assert_eq!(status.code(), Code::Unavailable, "{status}");
    server.requests() - before
}

#[tokio::test]
async fn hedging_sends_attempts_a_delay_apart_and_cancels_the_losers() {
    bounded(async {
        const FIRST: &[Reply] = &[Reply::Hold, Reply::Hold];
        let mut server = Scripted::start(script(FIRST, Reply::Ok)).await;
        let channel = server.channel(&hedging_config(3, "0.2s")).await;
        let started = Instant::now();
        let response = unary(&channel, "/test.Hedge/Unary").await.unwrap();
        assert_eq!(&response[..], b"ok");
        let seen = server.seen();
        assert_eq!(seen.len(), 3);
        assert_eq!(server.previous(), previous(&[None, Some("1"), Some("2")]));
        for s in &seen {
            assert_eq!(s.message.as_deref(), Some(&b"ping"[..]), "{s:?}");
        }
        let (second, third) = (seen[1].at - started, seen[2].at - started);
        assert!(
            second >= Duration::from_millis(200),
            "second attempt after {second:?}"
        );
        assert!(
            third >= Duration::from_millis(400),
            "third attempt after {third:?}"
        );
        let mut resets = vec![server.next_reset().await, server.next_reset().await];
        resets.sort_by_key(|(index, _)| *index);
        assert_eq!(
            resets,
            vec![(0, Some(ErrorCode::CANCEL)), (1, Some(ErrorCode::CANCEL))]
        );
    })
    .await;
}

#[tokio::test]
async fn hedging_a_non_fatal_failure_starts_the_next_attempt_at_once() {
    bounded(async {
        const FIRST: &[Reply] = &[Reply::Fail(Code::Unavailable)];
        let server = Scripted::start(script(FIRST, Reply::Ok)).await;
        // A hedging delay far longer than the test may take.
        let channel = server.channel(&hedging_config(3, "60s")).await;
        let started = Instant::now();
        let response = unary(&channel, "/test.Hedge/Unary").await.unwrap();
        assert_eq!(&response[..], b"ok");
        let seen = server.seen();
        assert_eq!(seen.len(), 2);
        assert_eq!(server.previous(), previous(&[None, Some("1")]));
        let second = seen[1].at - started;
        assert!(
            second < Duration::from_secs(10),
            "second attempt after {second:?}"
        );
    })
    .await;
}

#[tokio::test]
async fn hedging_returns_the_last_failure_when_every_attempt_fails_non_fatally() {
    bounded(async {
        let server = Scripted::start(script(&[], Reply::Fail(Code::Unavailable))).await;
        let channel = server.channel(&hedging_config(3, "60s")).await;
        let status = unary(&channel, "/test.Hedge/Unary").await.unwrap_err();
        assert_eq!(status.code(), Code::Unavailable, "{status}");
        assert_eq!(status.message(), "attempt 2");
        assert_eq!(server.previous(), previous(&[None, Some("1"), Some("2")]));
    })
    .await;
}

#[tokio::test]
async fn hedging_a_fatal_failure_commits_and_cancels_the_other_attempts() {
    bounded(async {
        const FIRST: &[Reply] = &[Reply::Hold, Reply::Fail(Code::InvalidArgument)];
        let mut server = Scripted::start(script(FIRST, Reply::Ok)).await;
        let channel = server.channel(&hedging_config(3, "0.2s")).await;
        let started = Instant::now();
        let status = unary(&channel, "/test.Hedge/Unary").await.unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{status}");
        assert_eq!(status.message(), "attempt 1");
        assert_eq!(server.next_reset().await, (0, Some(ErrorCode::CANCEL)));
        // The third attempt was due 400 ms after the start; it must never come.
        tokio::time::sleep_until(started + Duration::from_millis(700)).await;
        assert_eq!(server.requests(), 2);
        assert_eq!(server.previous(), previous(&[None, Some("1")]));
    })
    .await;
}

#[tokio::test]
async fn the_call_deadline_bounds_the_retry_backoff() {
    bounded(async {
        // The first attempt fails; any retry hangs. With a 1 s backoff bound and a 300 ms
        // deadline, the call ends with DEADLINE_EXCEEDED whether or not the random backoff
        // let a retry start in time.
        const FIRST: &[Reply] = &[Reply::Fail(Code::Unavailable)];
        let server = Scripted::start(script(FIRST, Reply::Hold)).await;
        let channel = server.channel(&retry_config(5, "1s", "1s")).await;
        let mut request = Request::new(Bytes::from_static(b"ping"));
        request.set_timeout(Duration::from_millis(300));
        let started = Instant::now();
        let status = channel
            .unary(request, "/test.Retry/Unary", BytesCodec)
            .await
            .unwrap_err();
        let elapsed = started.elapsed();
        assert_eq!(status.code(), Code::DeadlineExceeded, "{status}");
        assert!(elapsed >= Duration::from_millis(300), "{elapsed:?}");
        assert!(server.requests() <= 2, "{} attempts", server.requests());
    })
    .await;
}

#[tokio::test]
async fn the_call_deadline_cuts_a_pushback_wait_short() {
    bounded(async {
        let server =
            Scripted::start(script(&[], Reply::Pushback(Code::Unavailable, "20000"))).await;
        let channel = server.channel(&quick_retries()).await;
        let mut request = Request::new(Bytes::from_static(b"ping"));
        request.set_timeout(Duration::from_millis(300));
        let started = Instant::now();
        let status = channel
            .unary(request, "/test.Retry/Unary", BytesCodec)
            .await
            .unwrap_err();
        let elapsed = started.elapsed();
        assert_eq!(status.code(), Code::DeadlineExceeded, "{status}");
        assert!(elapsed >= Duration::from_millis(300), "{elapsed:?}");
        // The pushback asked for 20 s; the deadline ends the wait.
        assert!(elapsed < Duration::from_secs(10), "{elapsed:?}");
        assert_eq!(server.requests(), 1);
    })
    .await;
}

#[tokio::test]
async fn a_refused_stream_is_retried_transparently_without_a_policy() {
    bounded(async {
        const FIRST: &[Reply] = &[Reply::Refuse];
        let server = Scripted::start(script(FIRST, Reply::Ok)).await;
        let channel = support::channel(&server.server).await;
        let response = unary(&channel, "/test.Retry/Unary").await.unwrap();
        assert_eq!(&response[..], b"ok");
        assert_eq!(server.requests(), 2);
        // Not a retry attempt (A6, "Transparent Retries"): the header is not sent.
        assert_eq!(server.previous(), previous(&[None, None]));
        assert_eq!(server.seen()[1].message.as_deref(), Some(&b"ping"[..]));
    })
    .await;
}

#[tokio::test]
async fn a_stream_refused_twice_fails_without_a_policy() {
    bounded(async {
        // A6: a stream the server never processed is retried once transparently; if that
        // fails too, only a configured policy retries further.
        const FIRST: &[Reply] = &[Reply::Refuse, Reply::Refuse];
        let server = Scripted::start(script(FIRST, Reply::Ok)).await;
        let channel = support::channel(&server.server).await;
        let status = unary(&channel, "/test.Retry/Unary").await.unwrap_err();
        assert_eq!(status.code(), Code::Unavailable, "{status}");
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(server.requests(), 2);
    })
    .await;
}

#[tokio::test]
async fn a_transparent_retry_does_not_count_against_max_attempts() {
    bounded(async {
        // maxAttempts 2: the refused stream, then one failed attempt, then the retry.
        const FIRST: &[Reply] = &[Reply::Refuse, Reply::Fail(Code::Unavailable)];
        let server = Scripted::start(script(FIRST, Reply::Ok)).await;
        let channel = server.channel(&retry_config(2, "0.01s", "0.05s")).await;
        let response = unary(&channel, "/test.Retry/Unary").await.unwrap();
        assert_eq!(&response[..], b"ok");
        assert_eq!(server.requests(), 3);
        assert_eq!(server.previous(), previous(&[None, None, Some("1")]));
    })
    .await;
}

#[tokio::test]
async fn hedging_pushback_that_says_stop_sends_no_more_hedges() {
    bounded(async {
        const FIRST: &[Reply] = &[Reply::Pushback(Code::Unavailable, "-1")];
        let server = Scripted::start(script(FIRST, Reply::Ok)).await;
        let channel = server.channel(&hedging_config(3, "0.2s")).await;
        let started = Instant::now();
        let status = unary(&channel, "/test.Hedge/Unary").await.unwrap_err();
        assert_eq!(status.code(), Code::Unavailable, "{status}");
        assert_eq!(status.message(), "attempt 0");
        // The hedges were due 200 and 400 ms after the start.
        tokio::time::sleep_until(started + Duration::from_millis(700)).await;
        assert_eq!(server.requests(), 1);
    })
    .await;
}

/// A6, "Pushback": "If the pushback says to retry after a given delay, the next hedged
/// request (if any) will be issued after the given delay has elapsed" (and "Summary of Retry
/// and Hedging Logic", case 5: "Send next hedged request in n ms").
#[tokio::test]
async fn hedging_pushback_delays_the_next_hedge() {
    bounded(async {
        const FIRST: &[Reply] = &[Reply::Pushback(Code::Unavailable, "1000")];
        let server = Scripted::start(script(FIRST, Reply::Ok)).await;
        let channel = server.channel(&hedging_config(3, "0.2s")).await;
        let response = unary(&channel, "/test.Hedge/Unary").await.unwrap();
        assert_eq!(&response[..], b"ok");
        let seen = server.seen();
        assert_eq!(seen.len(), 2);
        assert_eq!(seen[1].previous.as_deref(), Some("1"));
        let gap = seen[1].at - seen[0].at;
        assert!(
            gap >= Duration::from_millis(1000),
            "the server asked for 1000 ms, the next hedge came after {gap:?}"
        );
    })
    .await;
}

/// A6, "Throttling Retry Attempts and Hedged RPCs": "The first outgoing RPC will always be
/// sent, but subsequent hedged RPCs will only be sent if token_count is greater than the
/// threshold."
#[tokio::test]
async fn a_throttled_hedged_call_still_sends_its_first_attempt() {
    bounded(async {
        let server = Scripted::start(|_, path: &str| {
            if path.ends_with("/Ok") {
                Reply::Ok
            } else {
                Reply::Fail(Code::Unavailable)
            }
        })
        .await;
        let mut config = hedging_config(3, "60s");
        config["retryThrottling"] = json!({"maxTokens": 2, "tokenRatio": 0.1});
        let channel = server.channel(&config).await;
        // 2 -> 1 token: at the threshold, so no hedge follows the failure.
        let status = unary(&channel, "/test.Hedge/Fail").await.unwrap_err();
        assert_eq!(status.code(), Code::Unavailable, "{status}");
        assert_eq!(status.message(), "attempt 0");
        assert_eq!(server.requests(), 1);
        // Throttled: no hedges, but the original attempt goes out and succeeds.
        let response = unary(&channel, "/test.Hedge/Ok").await;
        assert_eq!(
            server.requests(),
            2,
            "the first attempt was not sent: {response:?}"
        );
        assert_eq!(&response.unwrap()[..], b"ok");
    })
    .await;
}

/// A call that got response headers and then failed is not a successful RPC for the retry
/// throttle (A6: "Every successful RPC will increment the token_count by tokenRatio").
#[tokio::test]
async fn a_committed_call_that_fails_is_no_success_for_the_throttle() {
    bounded(async {
        let server = Scripted::start(|_, path: &str| {
            if path.ends_with("/Committed") {
                Reply::FailAfterHeaders(Code::Unavailable)
            } else {
                Reply::Fail(Code::Unavailable)
            }
        })
        .await;
        let mut config = retry_config(5, "0.01s", "0.02s");
        config["retryThrottling"] = json!({"maxTokens": 10, "tokenRatio": 0.1});
        let channel = server.channel(&config).await;
        // 10 -> 5 tokens, then 5 -> 4.
        assert_eq!(failing_call_attempts(&server, &channel).await, 5);
        assert_eq!(failing_call_attempts(&server, &channel).await, 1);
        for _ in 0..21 {
            let status = unary(&channel, "/test.Retry/Committed").await.unwrap_err();
            assert_eq!(status.code(), Code::Unavailable, "{status}");
        }
        // Had those 21 failures counted as successes, 4 + 2.1 = 6.1 tokens would allow one
        // retry now. Whether a committed failure costs a token (A6's "every failed RPC") or
        // leaves the count alone (gRPC-Go), at most 4 are left: no retry.
        assert_eq!(failing_call_attempts(&server, &channel).await, 1);
    })
    .await;
}
