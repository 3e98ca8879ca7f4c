//! Deterministic timing tests of the channel on tokio's paused clock: connection backoff,
//! the minimum connect timeout, idleness, retry backoff and hedging delays.
//!
//! Connections go through a test dialer instead of sockets: either failing ones (to count
//! attempts) or in-memory pipes to a real grpc-server, so no I/O happens outside the
//! runtime and the paused clock only moves when every task waits on a timer.

use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use grpc_core::codec::BytesCodec;
use grpc_core::{Request, Response, Status};
use grpc_transport::connection::Config;
use grpc_transport::driver::Client;
use tokio::io::{AsyncReadExt, DuplexStream};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::subchannel::Dialer;
use crate::{Channel, ConnectivityState};

type Log = Arc<Mutex<Vec<Instant>>>;

fn times(log: &Log) -> Vec<Instant> {
    log.lock().map(|l| l.clone()).unwrap_or_default()
}

/// Fails every attempt at once (after `hang_first` attempts that never finish).
fn failing_dialer(log: Log, hang_first: usize) -> Dialer {
    Arc::new(move |_addr| {
        let n = {
            let mut log = log
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            log.push(Instant::now());
            log.len()
        };
        Box::pin(async move {
            if n <= hang_first {
                std::future::pending::<()>().await;
            }
            Err(Status::unavailable("connection refused (test dialer)"))
        })
    })
}

/// Connects to a peer that completes the HTTP/2 handshake and then only reads: calls hang,
/// and the end of each connection (the client closed it) is logged.
fn sink_dialer(dials: Log, closed: Log) -> Dialer {
    Arc::new(move |_addr| {
        dials.lock().map(|mut l| l.push(Instant::now())).ok();
        let (client, mut server) = tokio::io::duplex(64 * 1024);
        let closed = closed.clone();
        tokio::spawn(async move {
            use tokio::io::AsyncWriteExt;
            // RFC 9113 §3.4: the server preface is a SETTINGS frame; then ACK the client's.
            let preface = [0, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 4, 1, 0, 0, 0, 0];
            if server.write_all(&preface).await.is_err() {
                return;
            }
            let mut buf = vec![0u8; 4096];
            while matches!(server.read(&mut buf).await, Ok(n) if n > 0) {}
            closed.lock().map(|mut l| l.push(Instant::now())).ok();
        });
        Box::pin(async move { Ok(Client::handshake(client, Config::client())) })
    })
}

/// A stream of in-memory connections for `serve_incoming`.
struct Incoming(mpsc::UnboundedReceiver<DuplexStream>);

impl futures_core::Stream for Incoming {
    type Item = std::io::Result<DuplexStream>;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.0.poll_recv(cx).map(|io| io.map(Ok))
    }
}

/// Connects to `server` (a grpc-server fed through in-memory pipes).
fn server_dialer(server: grpc_server::ServerBuilder) -> Dialer {
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(server.serve_incoming(Incoming(rx)));
    Arc::new(move |_addr| {
        let (client, server) = tokio::io::duplex(64 * 1024);
        let sent = tx.send(server);
        Box::pin(async move {
            sent.map_err(|_| Status::unavailable("test server gone"))?;
            Ok(Client::handshake(client, Config::client()))
        })
    })
}

async fn wait_for(channel: &Channel, state: ConnectivityState) {
    let mut current = channel.connectivity_state();
    while current != state {
        current = channel.wait_for_state_change(current).await;
    }
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

#[tokio::test(start_paused = true)]
async fn connection_attempts_follow_the_backoff_schedule() -> Result<(), Status> {
    let log = Log::default();
    let channel = Channel::builder("ipv4:127.0.0.1:1")
        .dialer(failing_dialer(log.clone(), 0))
        .connect_lazy()?;
    assert_eq!(channel.connectivity_state(), ConnectivityState::Idle);
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert!(times(&log).is_empty(), "a lazy channel does not connect");

    channel.connect();
    while times(&log).len() < 12 {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        channel.connectivity_state(),
        ConnectivityState::TransientFailure
    );
    let attempts = times(&log);
    let gaps: Vec<f64> = attempts.windows(2).map(|w| secs(w[1] - w[0])).collect();
    // connection-backoff.md: the first retry after INITIAL_BACKOFF (1 s) exactly, then
    // x1.6 per attempt with ±20 % jitter, capped at 120 s.
    assert_eq!(gaps[0], 1.0, "{gaps:?}");
    let mut base = 1.0f64;
    for (i, gap) in gaps.iter().enumerate().skip(1) {
        base = (base * 1.6).min(120.0);
        assert!(
            *gap >= base * 0.8 - 1e-6 && *gap <= base * 1.2 + 1e-6,
            "gap {i} = {gap}, expected {base} ± 20 %: {gaps:?}"
        );
    }
    assert!(gaps.iter().all(|g| *g <= 144.0 + 1e-6));
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn a_hung_attempt_is_given_the_minimum_connect_timeout() -> Result<(), Status> {
    let log = Log::default();
    let channel = Channel::builder("ipv4:127.0.0.1:1")
        .dialer(failing_dialer(log.clone(), 1))
        .connect_lazy()?;
    let started = Instant::now();
    channel.connect();
    while times(&log).len() < 3 {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let attempts = times(&log);
    // The first attempt hangs: it is abandoned after max(backoff, 20 s) = 20 s, and the
    // next one starts at once (its backoff deadline, 1 s, passed long ago).
    assert_eq!(secs(attempts[0] - started), 0.0);
    assert_eq!(secs(attempts[1] - started), 20.0);
    let third = secs(attempts[2] - attempts[1]);
    assert!((1.28..=1.92).contains(&third), "1.6 s ± 20 %, got {third}");
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn an_idle_channel_drops_its_connections_and_comes_back_on_demand() -> Result<(), Status> {
    let dials = Log::default();
    let closed = Log::default();
    let channel = Channel::builder("ipv4:127.0.0.1:1")
        .dialer(sink_dialer(dials.clone(), closed.clone()))
        .connect_lazy()?;
    channel.connect();
    wait_for(&channel, ConnectivityState::Ready).await;
    let ready_at = Instant::now();

    tokio::time::sleep(Duration::from_secs(29 * 60)).await;
    assert_eq!(channel.connectivity_state(), ConnectivityState::Ready);
    assert!(times(&closed).is_empty());
    tokio::time::sleep(Duration::from_secs(2 * 60)).await;
    // The default idle timeout, 30 minutes, after the last activity.
    assert_eq!(channel.connectivity_state(), ConnectivityState::Idle);
    let closed_at = times(&closed);
    assert_eq!(closed_at.len(), 1, "the connection was closed");
    assert_eq!(secs(closed_at[0] - ready_at).round(), 30.0 * 60.0);

    channel.connect();
    wait_for(&channel, ConnectivityState::Ready).await;
    assert_eq!(times(&dials).len(), 2, "leaving idle reconnects");
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn a_running_call_keeps_the_channel_out_of_idle() -> Result<(), Status> {
    let dials = Log::default();
    let closed = Log::default();
    let channel = Channel::builder("ipv4:127.0.0.1:1")
        .dialer(sink_dialer(dials.clone(), closed.clone()))
        .idle_timeout(Some(Duration::from_secs(60)))
        .connect()
        .await?;
    // The far end never answers: the call runs until it is dropped.
    let call = {
        let channel = channel.clone();
        tokio::spawn(async move {
            channel
                .unary(Request::new(Bytes::new()), "/test.Svc/Hang", BytesCodec)
                .await
        })
    };
    tokio::time::sleep(Duration::from_secs(10 * 60)).await;
    assert!(!call.is_finished(), "the call is still running");
    assert_eq!(channel.connectivity_state(), ConnectivityState::Ready);
    call.abort();
    let _ = call.await;
    let ended = Instant::now();
    tokio::time::sleep(Duration::from_secs(59)).await;
    assert_eq!(channel.connectivity_state(), ConnectivityState::Ready);
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(channel.connectivity_state(), ConnectivityState::Idle);
    let closed_at = times(&closed);
    assert_eq!(closed_at.len(), 1);
    assert_eq!(secs(closed_at[0] - ended).round(), 60.0);
    Ok(())
}

/// A server whose `/test.Svc/Flaky` fails the first `failures` attempts of every call
/// (counted per call by the message, which names the call) with UNAVAILABLE.
fn flaky_server(failures: usize, log: Log) -> grpc_server::ServerBuilder {
    let seen = Arc::new(Mutex::new(std::collections::HashMap::<Bytes, usize>::new()));
    grpc_server::Server::builder().add_routes(move |routes| {
        routes.unary(
            "/test.Svc/Flaky",
            BytesCodec,
            move |request: Request<Bytes>| {
                let log = log.clone();
                let seen = seen.clone();
                async move {
                    log.lock().map(|mut l| l.push(Instant::now())).ok();
                    let attempt = {
                        let mut seen = seen
                            .lock()
                            .unwrap_or_else(std::sync::PoisonError::into_inner);
                        let n = seen.entry(request.get_ref().clone()).or_default();
                        *n += 1;
                        *n
                    };
                    if attempt <= failures {
                        return Err(Status::unavailable("try again"));
                    }
                    Ok(Response::new(Bytes::from_static(b"ok")))
                }
            },
        );
    })
}

#[tokio::test(start_paused = true)]
async fn retry_delays_are_uniform_below_the_exponential_ceiling() -> Result<(), Status> {
    let log = Log::default();
    let channel = Channel::builder("ipv4:127.0.0.1:1")
        .dialer(server_dialer(flaky_server(3, log.clone())))
        .default_service_config(
            r#"{"methodConfig": [{"name": [{"service": "test.Svc"}],
                "retryPolicy": {"maxAttempts": 4, "initialBackoff": "1s", "maxBackoff": "3s",
                                "backoffMultiplier": 2, "retryableStatusCodes": ["UNAVAILABLE"]}}]}"#,
        )
        .connect()
        .await?;
    let calls = 100;
    let mut sums = [0.0f64; 3];
    for i in 0..calls {
        log.lock().map(|mut l| l.clear()).ok();
        let response = channel
            .unary(
                Request::new(Bytes::from(format!("call {i}"))),
                "/test.Svc/Flaky",
                BytesCodec,
            )
            .await?;
        assert_eq!(&response.get_ref()[..], b"ok");
        let attempts = times(&log);
        assert_eq!(attempts.len(), 4, "three failures, then success");
        for (k, gap) in attempts.windows(2).map(|w| secs(w[1] - w[0])).enumerate() {
            // gRFC A6: random(0, min(initialBackoff * multiplier^(n-1), maxBackoff)).
            let ceiling = [1.0, 2.0, 3.0][k];
            assert!(gap <= ceiling + 1e-6, "retry {k}: {gap} > {ceiling}");
            sums[k] += gap / ceiling;
        }
    }
    // Uniform on [0, ceiling]: the mean fraction is 0.5 (standard error 0.029 here).
    for (k, sum) in sums.iter().enumerate() {
        let mean = sum / calls as f64;
        assert!(
            (0.35..=0.65).contains(&mean),
            "retry {k}: mean fraction {mean}"
        );
    }
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn hedged_attempts_start_a_hedging_delay_apart_and_losers_are_cancelled() -> Result<(), Status>
{
    let starts = Log::default();
    let dropped = Arc::new(AtomicUsize::new(0));
    struct DropCount(Arc<AtomicUsize>);
    impl Drop for DropCount {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    let server = {
        let starts = starts.clone();
        let dropped = dropped.clone();
        let count = Arc::new(AtomicUsize::new(0));
        grpc_server::Server::builder().add_routes(move |routes| {
            routes.unary(
                "/test.Svc/Hedged",
                BytesCodec,
                move |_request: Request<Bytes>| {
                    let starts = starts.clone();
                    let guard = DropCount(dropped.clone());
                    let n = count.fetch_add(1, Ordering::SeqCst) + 1;
                    async move {
                        starts.lock().map(|mut l| l.push(Instant::now())).ok();
                        if n < 3 {
                            // The first two attempts never answer.
                            std::future::pending::<()>().await;
                        }
                        std::mem::forget(guard);
                        Ok(Response::new(Bytes::from_static(b"third")))
                    }
                },
            );
        })
    };
    let channel = Channel::builder("ipv4:127.0.0.1:1")
        .dialer(server_dialer(server))
        .default_service_config(
            r#"{"methodConfig": [{"name": [{"service": "test.Svc"}],
                "hedgingPolicy": {"maxAttempts": 3, "hedgingDelay": "1s"}}]}"#,
        )
        .connect()
        .await?;
    let started = Instant::now();
    let response = channel
        .unary(Request::new(Bytes::new()), "/test.Svc/Hedged", BytesCodec)
        .await?;
    assert_eq!(&response.get_ref()[..], b"third");
    let offsets: Vec<f64> = times(&starts).iter().map(|t| secs(*t - started)).collect();
    assert_eq!(
        offsets,
        [0.0, 1.0, 2.0],
        "attempts start hedgingDelay apart"
    );
    assert_eq!(
        secs(Instant::now() - started),
        2.0,
        "the third attempt won at once"
    );
    // The two losers were cancelled: the server dropped their handlers.
    for _ in 0..100 {
        if dropped.load(Ordering::SeqCst) == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(dropped.load(Ordering::SeqCst), 2);
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn a_non_fatal_failure_starts_the_next_hedge_at_once() -> Result<(), Status> {
    let log = Log::default();
    let channel = Channel::builder("ipv4:127.0.0.1:1")
        .dialer(server_dialer(flaky_server(1, log.clone())))
        .default_service_config(
            r#"{"methodConfig": [{"name": [{"service": "test.Svc"}],
                "hedgingPolicy": {"maxAttempts": 3, "hedgingDelay": "10s",
                                  "nonFatalStatusCodes": ["UNAVAILABLE"]}}]}"#,
        )
        .connect()
        .await?;
    let started = Instant::now();
    channel
        .unary(
            Request::new(Bytes::from_static(b"a")),
            "/test.Svc/Flaky",
            BytesCodec,
        )
        .await?;
    let offsets: Vec<f64> = times(&log).iter().map(|t| secs(*t - started)).collect();
    assert_eq!(
        offsets,
        [0.0, 0.0],
        "the second attempt did not wait the 10 s delay"
    );
    Ok(())
}
