//! Failover under load with round_robin over real servers: a backend stopped while tasks
//! make calls continuously, and restarted on the same port; no backend reachable at all;
//! a retry policy covering the calls a killed backend takes down with it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod lb_support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use grpc_client::{Channel, Code, Status};
use grpc_resolver::ManualResolver;
use grpc_resolver_api::{Address, ResolverState};
use lb_support::*;
use tokio::sync::Mutex;

/// Tasks making `WHO` calls back to back until stopped, recording every outcome.
struct Load {
    stop: Arc<AtomicBool>,
    ok: Arc<AtomicUsize>,
    failures: Arc<Mutex<Vec<Status>>>,
    tasks: Vec<tokio::task::JoinHandle<Tally>>,
}

impl Load {
    fn start(channel: &Channel, tasks: usize, spec: CallSpec) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let ok = Arc::new(AtomicUsize::new(0));
        let failures = Arc::new(Mutex::new(Vec::new()));
        let tasks = (0..tasks)
            .map(|_| {
                let (channel, stop, ok, failures) =
                    (channel.clone(), stop.clone(), ok.clone(), failures.clone());
                tokio::spawn(async move {
                    let mut tally = Tally::new();
                    while !stop.load(Ordering::SeqCst) {
                        match call(&channel, WHO, spec).await {
                            Ok(name) => {
                                ok.fetch_add(1, Ordering::SeqCst);
                                *tally.entry(name).or_default() += 1;
                            }
                            Err(status) => failures.lock().await.push(status),
                        }
                    }
                    tally
                })
            })
            .collect();
        Load {
            stop,
            ok,
            failures,
            tasks,
        }
    }

    /// Waits until `n` more calls succeeded.
    async fn progress(&self, n: usize) {
        let target = self.ok.load(Ordering::SeqCst) + n;
        eventually(&format!("{n} more successful calls"), || async {
            self.ok.load(Ordering::SeqCst) >= target
        })
        .await;
    }

    async fn finish(self) -> (Tally, Vec<Status>) {
        self.stop.store(true, Ordering::SeqCst);
        let mut total = Tally::new();
        for task in self.tasks {
            for (name, n) in bounded("a load task", task).await.unwrap() {
                *total.entry(name).or_default() += n;
            }
        }
        let failures = std::mem::take(&mut *self.failures.lock().await);
        (total, failures)
    }
}

/// How a backend is taken down.
#[derive(Clone, Copy, Debug)]
enum Kill {
    /// GOAWAY, calls in flight finish, new streams refused (safe to retry elsewhere).
    Graceful,
    /// Listener and connections closed at once.
    Abrupt,
}

/// Three backends, 4 tasks of back-to-back calls, b killed under load and restarted on
/// its port. Returns what the callers saw.
async fn kill_under_load(kill: Kill, config: &str, spec: CallSpec) -> (Tally, Vec<Status>) {
    let (a, mut b, c) = (
        Backend::start("a").await,
        Backend::start("b").await,
        Backend::start("c").await,
    );
    let manual = ManualResolver::new("test");
    manual.update_state(ResolverState::from_addresses(addresses(&[&a, &b, &c])));
    let channel = manual_channel(&manual, config);
    warm_up(&channel, &[&a, &b, &c]).await;

    let load = Load::start(&channel, 4, spec);
    load.progress(200).await;
    match kill {
        Kill::Graceful => b.shutdown_graceful(Duration::from_secs(5)).await,
        Kill::Abrupt => b.stop().await,
    }
    load.progress(200).await;
    let b_before = b.calls();
    b.restart().await;
    // round_robin reconnects it by itself: b gets calls again.
    eventually("the restarted backend to get calls", || async {
        b.calls() > b_before
    })
    .await;
    load.progress(200).await;
    let (tally, failures) = load.finish().await;
    for backend in ["a", "b", "c"] {
        assert!(
            tally.contains_key(backend),
            "{backend} got no calls: {tally:?}"
        );
    }
    (tally, failures)
}

// Fails rarely (about one run in 150 of this pair of tests, on 2 cores). The failed call
// was never processed by any server, yet it fails with UNAVAILABLE "could not open stream:
// connection is going away": its stream was refused by our own transport (the connection
// had received GOAWAY) and never left the client, but the call had used its one
// transparent retry already.
// gRFC A6 ("Transparent Retries") retries RPCs that never left the client without limit
// (until the deadline); only those that reached the server unprocessed get a single
// transparent retry. channel.rs `attempt_single` gives every never-processed failure the
// same single retry (`transparent_retries < 1`). (Before grpc-transport's `close_out`
// started failing queued opens with GoingAway, the same race failed about one run in ten
// with "connection closed".)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_under_load_loses_no_wait_for_ready_call() {
    let (tally, failures) = kill_under_load(
        Kill::Graceful,
        &service_config(ROUND_ROBIN, 0),
        CallSpec::wfr(),
    )
    .await;
    assert!(
        failures.is_empty(),
        "failed calls: {failures:?} (served: {tally:?})"
    );
}

// Same bug as `graceful_shutdown_under_load_loses_no_wait_for_ready_call`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_under_load_loses_no_fail_fast_call_either() {
    // The other backends stay READY, so fail-fast calls are never failed by the picker;
    // streams refused by the GOAWAY were never processed and are retried transparently.
    let (tally, failures) = kill_under_load(
        Kill::Graceful,
        &service_config(ROUND_ROBIN, 0),
        CallSpec::default(),
    )
    .await;
    assert!(
        failures.is_empty(),
        "failed calls: {failures:?} (served: {tally:?})"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abrupt_stop_under_load_fails_only_calls_in_flight_on_it() {
    // Calls already sent on b's connection when it is cut were (maybe) processed: gRPC
    // does not retry them transparently (gRFC A6, "Transparent Retries": only streams the
    // server never saw), so they may fail with UNAVAILABLE: the call each task has in
    // flight, and at most one more per task started before the channel saw the
    // connection close. Every other wait-for-ready call succeeds.
    let (tally, failures) = kill_under_load(
        Kill::Abrupt,
        &service_config(ROUND_ROBIN, 0),
        CallSpec::wfr(),
    )
    .await;
    assert!(
        failures.len() <= 8,
        "failed calls: {failures:?} (served: {tally:?})"
    );
    for status in &failures {
        assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    }
}

/// A methodConfig retrying UNAVAILABLE for the test service.
const RETRY_UNAVAILABLE: &str = r#"{"name":[{"service":"lb.Test"}],"retryPolicy":{"maxAttempts":5,"initialBackoff":"0.01s","maxBackoff":"0.1s","backoffMultiplier":2,"retryableStatusCodes":["UNAVAILABLE"]}}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_policy_covers_fail_fast_calls_cut_by_an_abrupt_stop() {
    let (tally, failures) = kill_under_load(
        Kill::Abrupt,
        &service_config_with(ROUND_ROBIN, 0, RETRY_UNAVAILABLE),
        CallSpec::default(),
    )
    .await;
    assert!(
        failures.is_empty(),
        "failed calls: {failures:?} (served: {tally:?})"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_backend_reachable_fails_fast_and_wait_for_ready_waits() {
    let (dead1, dead2) = (free_addr().await, free_addr().await);
    let manual = ManualResolver::new("test");
    manual.update_state(ResolverState::from_addresses([
        Address::new(dead1),
        Address::new(dead2),
    ]));
    let channel = manual_channel(&manual, &service_config(ROUND_ROBIN, 0));

    // Fail-fast calls: UNAVAILABLE once every address failed (not a deadline).
    let status = who(&channel).await.unwrap_err();
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    let status = who(&channel).await.unwrap_err();
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");

    // A wait-for-ready call waits ...
    let waiting = tokio::spawn({
        let channel = channel.clone();
        async move { who_wfr(&channel).await }
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!waiting.is_finished(), "{:?}", waiting.await);
    // ... until a backend comes up on one of the addresses.
    let backend = Backend::start_on("late", dead2).await;
    assert_eq!(
        bounded("the waiting call", waiting).await.unwrap().unwrap(),
        "late"
    );
    assert_eq!(backend.calls(), 1);
    // Fail-fast calls work again.
    assert_eq!(who(&channel).await.unwrap(), "late");
}
