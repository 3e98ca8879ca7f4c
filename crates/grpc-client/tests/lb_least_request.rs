//! least_request_experimental (gRFC A48) end to end: with one backend holding calls open,
//! new calls go to the idle one.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod lb_support;

use grpc_resolver::ManualResolver;
use grpc_resolver_api::ResolverState;
use lb_support::*;

/// choiceCount 10 (the maximum): with two backends each pick samples ten times with
/// replacement (A48), so it misses the idle backend only with probability 2^-10.
const LEAST_REQUEST: &str = r#"{"least_request_experimental":{"choiceCount":10}}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_calls_go_to_the_backend_with_fewer_calls_in_flight() {
    let (busy, idle) = (Backend::start("busy").await, Backend::start("idle").await);
    let manual = ManualResolver::new("test");
    // First only `busy`, so the slow calls all land there ...
    manual.update_state(ResolverState::from_addresses(addresses(&[&busy])));
    let channel = manual_channel(&manual, &service_config(LEAST_REQUEST, 0));
    const HELD: usize = 5;
    let held: Vec<_> = (0..HELD)
        .map(|_| {
            let channel = channel.clone();
            tokio::spawn(async move { call(&channel, HOLD, CallSpec::default()).await })
        })
        .collect();
    eventually("the slow calls to be held", || async {
        busy.held() == HELD
    })
    .await;

    // ... then both (the in-flight counts survive the update: the address stays).
    let mut generation = 0;
    sync_update(
        &manual,
        &channel,
        addresses(&[&busy, &idle]),
        LEAST_REQUEST,
        &mut generation,
    )
    .await;
    warm_up(&channel, &[&idle]).await;

    let counts = tally(&channel, 40, CallSpec::default()).await;
    let to_busy = counts.get("busy").copied().unwrap_or(0);
    // Each quick call ends before the next starts: `idle` has 0 in flight, `busy` has 5.
    // The chance of 3 or more of 40 picks missing `idle` is about 1e-5.
    assert!(to_busy <= 2, "{counts:?}");
    assert_eq!(busy.held(), HELD);

    // Once the slow calls end, both are equal again and both get calls.
    busy.release();
    for call in held {
        assert_eq!(bounded("a held call", call).await.unwrap().unwrap(), "busy");
    }
    eventually("the busy backend to be picked again", || async {
        matches!(who(&channel).await.as_deref(), Ok("busy"))
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn held_calls_spread_over_the_backends() {
    // Calls that stay open pile up evenly: each new one goes where fewer are in flight.
    let (a, b) = (Backend::start("a").await, Backend::start("b").await);
    let manual = ManualResolver::new("test");
    manual.update_state(ResolverState::from_addresses(addresses(&[&a, &b])));
    let channel = manual_channel(&manual, &service_config(LEAST_REQUEST, 0));
    warm_up(&channel, &[&a, &b]).await;

    let mut held = Vec::new();
    for n in 1..=10 {
        let channel = channel.clone();
        held.push(tokio::spawn(async move {
            call(&channel, HOLD, CallSpec::default()).await
        }));
        // One at a time, so each pick sees the previous ones in flight.
        eventually("the call to be held", || async { a.held() + b.held() == n }).await;
    }
    // The picks sample with replacement, so a tie can be broken either way and a pick
    // can miss the lighter backend (2^-10); 5/5 is by far the likeliest.
    assert!(
        a.held().abs_diff(b.held()) <= 2,
        "a {} b {}",
        a.held(),
        b.held()
    );
    a.release();
    b.release();
    for call in held {
        bounded("a held call", call).await.unwrap().unwrap();
    }
}
