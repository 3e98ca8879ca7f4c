//! The channel's connectivity state end to end (gRPC's connectivity-semantics-and-api.md):
//! IDLE without any connection until used, CONNECTING then READY, TRANSIENT_FAILURE when
//! every backend is down and back, SHUTDOWN after close, resolver errors, and the idle
//! timeout closing connections until the next call.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod lb_support;

use std::sync::Arc;
use std::time::Duration;

use grpc_client::{Channel, Code, ConnectivityState, Status};
use grpc_resolver::ManualResolver;
use grpc_resolver_api::ResolverState;
use lb_support::*;

use ConnectivityState::*;

/// The next state after `last` (bounded).
async fn next_state(channel: &Channel, last: ConnectivityState) -> ConnectivityState {
    bounded(
        &format!("a state change from {last:?}"),
        channel.wait_for_state_change(last),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lazy_channel_stays_idle_without_resolving_or_connecting() {
    let backend = Backend::start("a").await;
    let manual = ManualResolver::new("test");
    manual.update_state(ResolverState::from_addresses(addresses(&[&backend])));
    let channel = manual_channel(&manual, &service_config(ROUND_ROBIN, 0));
    assert_eq!(channel.connectivity_state(), Idle);
    // Reading the state does not start anything, even after a while.
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(channel.connectivity_state(), Idle);
    assert_eq!(manual.build_count(), 0, "the resolver was started");
    assert_eq!(backend.accepted(), 0, "the backend saw a connection");

    // The first call starts everything.
    assert_eq!(who(&channel).await.unwrap(), "a");
    assert_eq!(channel.connectivity_state(), Ready);
    assert_eq!((manual.build_count(), backend.accepted()), (1, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_moves_through_connecting_to_ready() {
    let backend = Backend::start("a").await;
    // No addresses yet: the channel has to stay CONNECTING until the resolver answers.
    let manual = ManualResolver::new("test");
    let channel = manual_channel(&manual, &service_config(ROUND_ROBIN, 0));
    // A watcher reports every state it sees; the test waits for it at each step, so the
    // watcher cannot miss a state however the tasks are scheduled.
    let states = channel.clone();
    let (seen_tx, mut seen_rx) = tokio::sync::mpsc::unbounded_channel();
    let mut state = states.connectivity_state();
    assert_eq!(state, Idle);
    let watcher = tokio::spawn(async move {
        while state != Ready {
            state = states.wait_for_state_change(state).await;
            let _ = seen_tx.send(state);
        }
    });

    channel.connect();
    assert_eq!(next_state(&channel, Idle).await, Connecting);
    assert_eq!(
        bounded("the watcher", seen_rx.recv()).await,
        Some(Connecting)
    );
    assert_eq!(manual.build_count(), 1);
    manual.update_state(ResolverState::from_addresses(addresses(&[&backend])));
    assert_eq!(next_state(&channel, Connecting).await, Ready);
    assert_eq!(bounded("the watcher", seen_rx.recv()).await, Some(Ready));
    bounded("the watcher", watcher).await.unwrap();
    // READY means connected; the server counts the connection when it accepts it.
    eventually("the backend to accept the connection", || async {
        backend.accepted() == 1
    })
    .await;
    // connect() on a READY channel changes nothing.
    channel.connect();
    assert_eq!(who(&channel).await.unwrap(), "a");
    assert_eq!(backend.accepted(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_backend_down_is_transient_failure_until_one_returns() {
    let (mut a, mut b) = (Backend::start("a").await, Backend::start("b").await);
    let manual = ManualResolver::new("test");
    manual.update_state(ResolverState::from_addresses(addresses(&[&a, &b])));
    let channel = manual_channel(&manual, &service_config(ROUND_ROBIN, 0));
    warm_up(&channel, &[&a, &b]).await;
    assert_eq!(channel.connectivity_state(), Ready);

    a.stop().await;
    b.stop().await;
    wait_for_state(&channel, TransientFailure).await;
    // Fail-fast calls fail at once; the error says why.
    let status = who(&channel).await.unwrap_err();
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    // A wait-for-ready call waits through it.
    let waiting = tokio::spawn({
        let channel = channel.clone();
        async move { who_wfr(&channel).await }
    });

    b.restart().await;
    wait_for_state(&channel, Ready).await;
    assert_eq!(
        bounded("the waiting call", waiting).await.unwrap().unwrap(),
        "b"
    );
    assert_eq!(who(&channel).await.unwrap(), "b");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_is_shutdown_and_calls_fail_unavailable() {
    let backend = Backend::start("a").await;
    let manual = ManualResolver::new("test");
    manual.update_state(ResolverState::from_addresses(addresses(&[&backend])));
    let channel = manual_channel(&manual, &service_config(ROUND_ROBIN, 0));
    assert_eq!(who(&channel).await.unwrap(), "a");
    let clone = channel.clone();

    channel.close();
    assert_eq!(next_state(&channel, Ready).await, Shutdown);
    assert_eq!(clone.connectivity_state(), Shutdown);
    for spec in [CallSpec::default(), CallSpec::wfr()] {
        let status = call(&clone, WHO, spec).await.unwrap_err();
        assert_eq!(status.code(), Code::Unavailable, "{spec:?}: {status:?}");
    }
    // SHUTDOWN is final: connect() does not revive it.
    clone.connect();
    assert_eq!(clone.connectivity_state(), Shutdown);
    eventually("the backend to see its connection closed", || async {
        backend.open_connections() == 0
    })
    .await;
    assert_eq!(backend.accepted(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_lets_calls_in_flight_finish() {
    let backend = Backend::start("a").await;
    let manual = ManualResolver::new("test");
    manual.update_state(ResolverState::from_addresses(addresses(&[&backend])));
    let channel = manual_channel(&manual, &service_config(ROUND_ROBIN, 0));
    let held = tokio::spawn({
        let channel = channel.clone();
        async move { call(&channel, HOLD, CallSpec::default()).await }
    });
    eventually("the call to be held", || async { backend.held() == 1 }).await;
    channel.close();
    wait_for_state(&channel, Shutdown).await;
    backend.release();
    assert_eq!(bounded("the held call", held).await.unwrap().unwrap(), "a");
    eventually("the backend to see its connection closed", || async {
        backend.open_connections() == 0
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resolver_error_without_addresses_fails_calls_with_it() {
    let backend = Backend::start("a").await;
    let manual = ManualResolver::new("test");
    let channel = manual_channel(&manual, &service_config(ROUND_ROBIN, 0));
    channel.connect();
    wait_for_state(&channel, Connecting).await;
    assert_eq!(manual.live_resolvers(), 1);

    manual.report_error(Status::unavailable("no such service: svc"));
    wait_for_state(&channel, TransientFailure).await;
    let status = who(&channel).await.unwrap_err();
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert!(
        status.message().contains("no such service: svc"),
        "the resolver's error is lost: {status:?}"
    );
    // A wait-for-ready call waits for addresses.
    let waiting = tokio::spawn({
        let channel = channel.clone();
        async move { who_wfr(&channel).await }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!waiting.is_finished(), "{:?}", waiting.await);

    manual.update_state(ResolverState::from_addresses(addresses(&[&backend])));
    assert_eq!(
        bounded("the waiting call", waiting).await.unwrap().unwrap(),
        "a"
    );
    assert_eq!(channel.connectivity_state(), Ready);

    // An error after a good state changes nothing: the channel keeps its addresses.
    manual.report_error(Status::unavailable("resolver hiccup"));
    assert_eq!(
        tally(&channel, 10, CallSpec::default()).await[&"a".to_owned()],
        10
    );
    assert_eq!(channel.connectivity_state(), Ready);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_address_list_is_transient_failure() {
    let backend = Backend::start("a").await;
    let manual = ManualResolver::new("test");
    manual.update_state(ResolverState::from_addresses(addresses(&[&backend])));
    let channel = manual_channel(&manual, &service_config(ROUND_ROBIN, 0));
    assert_eq!(who(&channel).await.unwrap(), "a");

    manual.update_state(ResolverState::from_addresses([]));
    wait_for_state(&channel, TransientFailure).await;
    let status = who(&channel).await.unwrap_err();
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    // The channel asks the resolver to try again (right after the policy published).
    eventually("a re-resolution request", || async {
        manual.resolve_now_count() > 0
    })
    .await;
    eventually("the backend to see its connection closed", || async {
        backend.open_connections() == 0
    })
    .await;

    manual.update_state(ResolverState::from_addresses(addresses(&[&backend])));
    assert_eq!(who_wfr(&channel).await.unwrap(), "a");
    wait_for_state(&channel, Ready).await;
}

/// A channel that goes idle after 200 ms without calls.
fn idling_channel(manual: &ManualResolver) -> Channel {
    Channel::builder("test:///svc")
        .resolver(Arc::new(manual.clone()))
        .default_service_config(&service_config(ROUND_ROBIN, 0))
        .connect_backoff(fast_backoff())
        .idle_timeout(Some(Duration::from_millis(200)))
        .connect_lazy()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_idle_timeout_closes_connections_until_the_next_call() {
    let backend = Backend::start("a").await;
    let manual = ManualResolver::new("test");
    manual.update_state(ResolverState::from_addresses(addresses(&[&backend])));
    let channel = idling_channel(&manual);
    assert_eq!(who(&channel).await.unwrap(), "a");
    assert_eq!(channel.connectivity_state(), Ready);

    assert_eq!(next_state(&channel, Ready).await, Idle);
    eventually("the backend to see its connection closed", || async {
        backend.open_connections() == 0
    })
    .await;
    // Idle means the resolver is gone too.
    assert_eq!(manual.live_resolvers(), 0);

    // The next call starts over: a new resolver, a new connection.
    assert_eq!(who(&channel).await.unwrap(), "a");
    assert_eq!(channel.connectivity_state(), Ready);
    assert_eq!(backend.accepted(), 2);
    assert_eq!(manual.build_count(), 2);
    assert_eq!(backend.open_connections(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_in_flight_keeps_the_channel_out_of_idle() {
    let backend = Backend::start("a").await;
    let manual = ManualResolver::new("test");
    manual.update_state(ResolverState::from_addresses(addresses(&[&backend])));
    let channel = idling_channel(&manual);
    let held = tokio::spawn({
        let channel = channel.clone();
        async move { call(&channel, HOLD, CallSpec::default()).await }
    });
    eventually("the call to be held", || async { backend.held() == 1 }).await;
    // Several idle timeouts pass with the call open: still READY, same connection.
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(channel.connectivity_state(), Ready);
    assert_eq!(backend.open_connections(), 1);

    backend.release();
    assert_eq!(bounded("the held call", held).await.unwrap().unwrap(), "a");
    // Once it ends, the channel goes idle.
    wait_for_state(&channel, Idle).await;
    assert_eq!(backend.accepted(), 1);
}
