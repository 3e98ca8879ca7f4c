//! pick_first (gRFC A62) end to end, over real servers: every call goes to the first
//! address that connects; when it dies calls move to the next and stay there even after
//! the first comes back; a resolver update that still holds the selected address keeps
//! it, whatever its position, and one that drops it starts over from the new first.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod lb_support;

use std::time::Duration;

use grpc_client::{Code, ConnectivityState};
use grpc_resolver::ManualResolver;
use grpc_resolver_api::ResolverState;
use lb_support::*;

fn only(name: &str, n: usize) -> Tally {
    Tally::from([(name.to_owned(), n)])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_call_goes_to_the_first_address() {
    let (a, b, c) = (
        Backend::start("a").await,
        Backend::start("b").await,
        Backend::start("c").await,
    );
    let manual = ManualResolver::new("test");
    manual.update_state(ResolverState::from_addresses(addresses(&[&a, &b, &c])));
    // pick_first is the default: no service config.
    let channel = grpc_client::Channel::builder("test:///svc")
        .resolver(std::sync::Arc::new(manual.clone()))
        .connect_backoff(fast_backoff())
        .connect_lazy()
        .unwrap();
    assert_eq!(
        tally(&channel, 30, CallSpec::default()).await,
        only("a", 30)
    );
    assert_eq!(a.accepted(), 1);
    // The others were never even connected.
    assert_eq!((b.accepted(), c.accepted()), (0, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_first_address_is_skipped() {
    let dead = free_addr().await;
    let (b, c) = (Backend::start("b").await, Backend::start("c").await);
    let manual = ManualResolver::new("test");
    let mut list = vec![grpc_resolver_api::Address::new(dead)];
    list.extend(addresses(&[&b, &c]));
    manual.update_state(ResolverState::from_addresses(list));
    let channel = manual_channel(&manual, &service_config(PICK_FIRST, 0));
    // Not even a fail-fast call fails: during the first pass the channel is CONNECTING.
    assert_eq!(
        tally(&channel, 20, CallSpec::default()).await,
        only("b", 20)
    );
    assert_eq!(c.accepted(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_move_on_when_the_first_dies_and_stay_when_it_returns() {
    let (mut a, b, c) = (
        Backend::start("a").await,
        Backend::start("b").await,
        Backend::start("c").await,
    );
    let manual = ManualResolver::new("test");
    manual.update_state(ResolverState::from_addresses(addresses(&[&a, &b, &c])));
    let channel = manual_channel(&manual, &service_config(PICK_FIRST, 0));
    assert_eq!(
        tally(&channel, 10, CallSpec::default()).await,
        only("a", 10)
    );

    a.stop().await;
    // pick_first loses its only connection: the channel goes IDLE (A62) and the next call
    // starts a new pass from the first address.
    wait_for_state(&channel, ConnectivityState::Idle).await;
    assert_eq!(
        tally(&channel, 10, CallSpec::default()).await,
        only("b", 10)
    );
    assert_eq!(c.accepted(), 0);

    // a is back, but the selected connection is b's: calls stay there.
    a.restart().await;
    let a_accepted = a.accepted();
    assert_eq!(
        tally(&channel, 20, CallSpec::default()).await,
        only("b", 20)
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        tally(&channel, 20, CallSpec::default()).await,
        only("b", 20)
    );
    assert_eq!(a.accepted(), a_accepted, "pick_first reconnected to a");
    assert_eq!(b.accepted(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_update_that_keeps_the_selected_address_keeps_the_connection() {
    let (a, b, c) = (
        Backend::start("a").await,
        Backend::start("b").await,
        Backend::start("c").await,
    );
    let manual = ManualResolver::new("test");
    manual.update_state(ResolverState::from_addresses(addresses(&[&a, &b, &c])));
    let channel = manual_channel(&manual, &service_config(PICK_FIRST, 0));
    assert_eq!(
        tally(&channel, 10, CallSpec::default()).await,
        only("a", 10)
    );
    let mut generation = 0;

    // Reversed order: a is still there, so it stays selected (A62: no new pass).
    sync_update(
        &manual,
        &channel,
        addresses(&[&c, &b, &a]),
        PICK_FIRST,
        &mut generation,
    )
    .await;
    assert_eq!(
        tally(&channel, 20, CallSpec::default()).await,
        only("a", 20)
    );
    assert_eq!((a.accepted(), b.accepted(), c.accepted()), (1, 0, 0));

    // a is gone: a new pass from the new first address.
    sync_update(
        &manual,
        &channel,
        addresses(&[&c, &b]),
        PICK_FIRST,
        &mut generation,
    )
    .await;
    assert_eq!(
        tally(&channel, 20, CallSpec::default()).await,
        only("c", 20)
    );
    assert_eq!(b.accepted(), 0);
    eventually("the dropped backend's connection to close", || async {
        a.open_connections() == 0
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_address_down_fails_fast_and_recovers() {
    let (mut a, mut b) = (Backend::start("a").await, Backend::start("b").await);
    let manual = ManualResolver::new("test");
    manual.update_state(ResolverState::from_addresses(addresses(&[&a, &b])));
    let channel = manual_channel(&manual, &service_config(PICK_FIRST, 0));
    assert_eq!(tally(&channel, 5, CallSpec::default()).await, only("a", 5));

    a.stop().await;
    b.stop().await;
    wait_for_state(&channel, ConnectivityState::Idle).await;
    // The next call starts a pass; both fail: sticky TRANSIENT_FAILURE and UNAVAILABLE.
    let status = who(&channel).await.unwrap_err();
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert_eq!(
        channel.connectivity_state(),
        ConnectivityState::TransientFailure
    );
    // pick_first asked for re-resolution when it failed.
    eventually("a re-resolution request", || async {
        manual.resolve_now_count() > 0
    })
    .await;

    // The subchannels keep retrying; b coming back makes it the selected one.
    b.restart().await;
    assert_eq!(who_wfr(&channel).await.unwrap(), "b");
    wait_for_state(&channel, ConnectivityState::Ready).await;
}
