//! ring_hash_experimental (gRFC A42) end to end: a request hash (`RequestHash` in the
//! request's extensions) sticks to one backend, and removing a backend moves only the keys
//! that were on it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod lb_support;

use std::collections::BTreeMap;

use grpc_client::Channel;
use grpc_resolver::ManualResolver;
use grpc_resolver_api::ResolverState;
use lb_support::*;

/// A ring of exactly `entries_per_backend * backends` entries: with equal weights every
/// backend gets `entries_per_backend` (A42 "Ring Construction": the smallest size at or
/// above minRingSize giving each backend a whole number of entries, here exact).
fn ring(entries_per_backend: usize, backends: usize) -> String {
    let size = entries_per_backend * backends;
    format!(r#"{{"ring_hash_experimental":{{"minRingSize":{size},"maxRingSize":{size}}}}}"#)
}

/// Keys spread over the whole u64 range (splitmix64).
fn key(i: u64) -> u64 {
    let mut z = i.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Where each of `keys` goes (one call per key; every call must succeed).
async fn placement(channel: &Channel, keys: &[u64]) -> BTreeMap<u64, String> {
    let mut placement = BTreeMap::new();
    for &k in keys {
        let name = call(channel, WHO, CallSpec::hash(k))
            .await
            .unwrap_or_else(|status| panic!("call with hash {k:#x} failed: {status:?}"));
        placement.insert(k, name);
    }
    placement
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_hash_always_goes_to_the_same_backend() {
    let backends = [
        Backend::start("b0").await,
        Backend::start("b1").await,
        Backend::start("b2").await,
    ];
    let manual = ManualResolver::new("test");
    manual.update_state(ResolverState::from_addresses(addresses(
        &backends.iter().collect::<Vec<_>>(),
    )));
    let channel = manual_channel(&manual, &service_config(&ring(100, 3), 0));

    let mut homes = BTreeMap::new();
    for i in 0..10 {
        let k = key(i);
        let counts = tally(&channel, 50, CallSpec::hash(k)).await;
        assert_eq!(
            counts.len(),
            1,
            "hash {k:#x} went to several backends: {counts:?}"
        );
        let (home, _) = counts.into_iter().next().unwrap();
        homes.insert(k, home);
    }
    // The hash decides: ten keys over three backends do not all land on one.
    let used: std::collections::BTreeSet<_> = homes.values().collect();
    assert!(used.len() > 1, "every key on one backend: {homes:?}");
    // Connections are made where picks land (A42), plus at most one more: leaving IDLE
    // may connect one random subchannel (A117, `exit_idle`).
    let connected = backends.iter().filter(|b| b.accepted() > 0).count();
    assert!(connected <= used.len() + 1, "{backends:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removing_a_backend_moves_only_its_keys() {
    let backends: Vec<Backend> = start_all(["b0", "b1", "b2", "b3", "b4"]).await;
    let manual = ManualResolver::new("test");
    let all: Vec<&Backend> = backends.iter().collect();
    manual.update_state(ResolverState::from_addresses(addresses(&all)));
    // 200 entries per backend, before and after: the remaining backends keep exactly their
    // ring entries, so only the removed backend's keys can move.
    let channel = manual_channel(&manual, &service_config(&ring(200, 5), 0));
    let keys: Vec<u64> = (0..200).map(key).collect();
    let before = placement(&channel, &keys).await;
    let mut per_backend = BTreeMap::<&str, usize>::new();
    for name in before.values() {
        *per_backend.entry(name).or_default() += 1;
    }
    assert_eq!(
        per_backend.len(),
        5,
        "some backend got no key: {per_backend:?}"
    );

    // b2 leaves.
    let removed = &backends[2];
    let remaining: Vec<&Backend> = backends.iter().filter(|b| b.name != "b2").collect();
    let mut generation = 0;
    sync_update(
        &manual,
        &channel,
        addresses(&remaining),
        &ring(200, 4),
        &mut generation,
    )
    .await;
    let removed_calls = removed.calls();
    let after = placement(&channel, &keys).await;
    assert_eq!(
        removed.calls(),
        removed_calls,
        "the removed backend got calls"
    );
    let mut moved = 0;
    for k in &keys {
        if before[k] == removed.name {
            assert_ne!(after[k], removed.name);
            moved += 1;
        } else {
            assert_eq!(
                after[k], before[k],
                "key {k:#x} moved off a backend that stayed"
            );
        }
    }
    assert_eq!(moved, per_backend["b2"]);
    // Where the moved keys went is up to the ring; they are answered, by the others.
    assert!(after.values().all(|name| name != "b2"));
}

async fn start_all<const N: usize>(names: [&str; N]) -> Vec<Backend> {
    let mut backends = Vec::with_capacity(N);
    for name in names {
        backends.push(Backend::start(name).await);
    }
    backends
}
