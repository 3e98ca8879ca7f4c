//! weighted_round_robin (gRFC A58) end to end: backends report per-call ORCA metrics
//! (gRFC A51) in their trailers, and the less utilized one gets more calls.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod lb_support;

use std::time::Duration;

use grpc_resolver::ManualResolver;
use grpc_resolver_api::ResolverState;
use lb_support::*;

/// No blackout, weights republished every 100 ms (the smallest period A58 allows).
const WRR: &str = r#"{"weighted_round_robin":{"blackoutPeriod":"0s","weightUpdatePeriod":"0.1s"}}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_less_utilized_backend_gets_more_calls() {
    // Same qps, utilization 0.2 vs 0.8: weights qps/utilization are 4:1.
    let light = Backend::start_with(
        "light",
        Some(Orca {
            application_utilization: 0.2,
            qps: 100.0,
        }),
    )
    .await;
    let heavy = Backend::start_with(
        "heavy",
        Some(Orca {
            application_utilization: 0.8,
            qps: 100.0,
        }),
    )
    .await;
    let manual = ManualResolver::new("test");
    manual.update_state(ResolverState::from_addresses(addresses(&[&light, &heavy])));
    let channel = manual_channel(&manual, &service_config(WRR, 0));
    warm_up(&channel, &[&light, &heavy]).await;

    // Warm-up: both report, and a few weight update periods pass so the picker in force
    // uses the weights. Without weights the split would be 1:1.
    for _ in 0..3 {
        tally(&channel, 50, CallSpec::default()).await;
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let counts = tally(&channel, 500, CallSpec::default()).await;
    let (l, h) = (counts["light"], counts["heavy"]);
    assert!(l > 2 * h, "light {l} vs heavy {h}: weights not applied");
    // And the heavy one is not starved: it still gets its share (about a fifth).
    assert!(h > 500 / 20, "light {l} vs heavy {h}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_load_reports_it_is_plain_round_robin() {
    let (a, b) = (Backend::start("a").await, Backend::start("b").await);
    let manual = ManualResolver::new("test");
    manual.update_state(ResolverState::from_addresses(addresses(&[&a, &b])));
    let channel = manual_channel(&manual, &service_config(WRR, 0));
    warm_up(&channel, &[&a, &b]).await;
    tally(&channel, 50, CallSpec::default()).await;
    tokio::time::sleep(Duration::from_millis(250)).await;
    let counts = tally(&channel, 200, CallSpec::default()).await;
    for (name, n) in &counts {
        assert!(n.abs_diff(100) <= 10, "{name}: {counts:?}");
    }
}
