//! round_robin end to end, over real servers: calls spread exactly evenly over the READY
//! backends (one atomic counter per picker), a backend removed by the resolver stops
//! getting calls (and its connection closes), an added one starts getting them.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod lb_support;

use grpc_client::Channel;
use grpc_resolver::ManualResolver;
use grpc_resolver_api::ResolverState;
use lb_support::*;

/// Every count within one of `expected` (the picker starts at a random index, but over a
/// multiple of the backend count a stable picker is exact; the slack covers one picker
/// republished during the run).
fn assert_even(tally: &Tally, names: &[&str], expected: usize) {
    assert_eq!(
        tally.keys().map(String::as_str).collect::<Vec<_>>(),
        {
            let mut names = names.to_vec();
            names.sort_unstable();
            names
        },
        "backends that answered: {tally:?}"
    );
    for (name, count) in tally {
        assert!(
            count.abs_diff(expected) <= 1,
            "{name} got {count} calls, expected {expected}: {tally:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_backends_get_exactly_a_third_each() {
    let (a, b, c) = (
        Backend::start("a").await,
        Backend::start("b").await,
        Backend::start("c").await,
    );
    let manual = ManualResolver::new("test");
    manual.update_state(ResolverState::from_addresses(addresses(&[&a, &b, &c])));
    let channel = manual_channel(&manual, &service_config(ROUND_ROBIN, 0));
    warm_up(&channel, &[&a, &b, &c]).await;

    let before = [a.calls(), b.calls(), c.calls()];
    let counts = tally(&channel, 300, CallSpec::default()).await;
    assert_even(&counts, &["a", "b", "c"], 100);
    // The servers agree with what the client saw.
    let served = [a.calls(), b.calls(), c.calls()];
    for (i, name) in ["a", "b", "c"].into_iter().enumerate() {
        assert_eq!(served[i] - before[i], counts[name], "{name}");
    }
    // One connection per backend, reused by every call.
    for backend in [&a, &b, &c] {
        assert_eq!(backend.accepted(), 1, "{backend:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_callers_share_the_rotation() {
    let (a, b, c) = (
        Backend::start("a").await,
        Backend::start("b").await,
        Backend::start("c").await,
    );
    let manual = ManualResolver::new("test");
    manual.update_state(ResolverState::from_addresses(addresses(&[&a, &b, &c])));
    let channel = manual_channel(&manual, &service_config(ROUND_ROBIN, 0));
    warm_up(&channel, &[&a, &b, &c]).await;

    // 4 tasks x 75 calls: picks from many tasks advance the same counter.
    let tasks: Vec<_> = (0..4)
        .map(|_| {
            let channel = channel.clone();
            tokio::spawn(async move { tally(&channel, 75, CallSpec::default()).await })
        })
        .collect();
    let mut counts = Tally::new();
    for task in tasks {
        for (name, n) in bounded("a caller task", task).await.unwrap() {
            *counts.entry(name).or_default() += n;
        }
    }
    assert_even(&counts, &["a", "b", "c"], 100);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ipv4_target_balances_over_its_addresses() {
    let (a, b) = (Backend::start("a").await, Backend::start("b").await);
    let target = format!("ipv4:{},{}", a.addr(), b.addr());
    let channel = Channel::builder(&target)
        .default_service_config(&service_config(ROUND_ROBIN, 0))
        .connect_backoff(fast_backoff())
        .connect()
        .await
        .unwrap();
    warm_up(&channel, &[&a, &b]).await;
    let counts = tally(&channel, 100, CallSpec::default()).await;
    assert_even(&counts, &["a", "b"], 50);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removed_backend_stops_getting_calls_and_an_added_one_starts() {
    let (a, b, c, d) = (
        Backend::start("a").await,
        Backend::start("b").await,
        Backend::start("c").await,
        Backend::start("d").await,
    );
    let manual = ManualResolver::new("test");
    manual.update_state(ResolverState::from_addresses(addresses(&[&a, &b, &c])));
    let channel = manual_channel(&manual, &service_config(ROUND_ROBIN, 0));
    warm_up(&channel, &[&a, &b, &c]).await;
    let mut generation = 0;

    // c leaves.
    sync_update(
        &manual,
        &channel,
        addresses(&[&a, &b]),
        ROUND_ROBIN,
        &mut generation,
    )
    .await;
    let c_before = c.calls();
    let counts = tally(&channel, 100, CallSpec::default()).await;
    assert_even(&counts, &["a", "b"], 50);
    assert_eq!(c.calls(), c_before, "the removed backend got calls");
    // Its subchannel is gone, and with it the connection.
    eventually("the removed backend's connection to close", || async {
        c.open_connections() == 0
    })
    .await;

    // d joins.
    sync_update(
        &manual,
        &channel,
        addresses(&[&a, &b, &d]),
        ROUND_ROBIN,
        &mut generation,
    )
    .await;
    warm_up(&channel, &[&a, &b, &d]).await;
    let counts = tally(&channel, 150, CallSpec::default()).await;
    assert_even(&counts, &["a", "b", "d"], 50);
    assert_eq!(c.calls(), c_before, "the removed backend got calls");
    assert_eq!(c.accepted(), 1, "the removed backend was connected again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backend_that_goes_down_is_skipped_until_it_comes_back() {
    let (a, mut b, c) = (
        Backend::start("a").await,
        Backend::start("b").await,
        Backend::start("c").await,
    );
    let manual = ManualResolver::new("test");
    manual.update_state(ResolverState::from_addresses(addresses(&[&a, &b, &c])));
    let channel = manual_channel(&manual, &service_config(ROUND_ROBIN, 0));
    warm_up(&channel, &[&a, &b, &c]).await;

    b.stop().await;
    // The channel notices the closed connection by itself; until then a call may still
    // pick b (and fail: it was sent on a dead connection), so only count once calls
    // stop reaching it.
    eventually("calls to stop reaching the stopped backend", || async {
        let mut clean = true;
        for _ in 0..6 {
            clean &= matches!(who(&channel).await, Ok(name) if name != "b");
        }
        clean
    })
    .await;
    let counts = tally(&channel, 100, CallSpec::default()).await;
    assert_even(&counts, &["a", "c"], 50);

    // round_robin keeps reconnecting it (with backoff); once it serves again it is back
    // in the rotation.
    b.restart().await;
    warm_up(&channel, &[&a, &b, &c]).await;
    let counts = tally(&channel, 300, CallSpec::default()).await;
    assert_even(&counts, &["a", "b", "c"], 100);
}
