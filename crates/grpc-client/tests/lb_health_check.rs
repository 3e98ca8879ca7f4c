//! Client-side health checking (gRFC A17) against backends that report their health over
//! `grpc.health.v1.Health/Watch`, written by hand here (the server side of the protocol is
//! grpc-health's; this tests the channel alone).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use grpc_client::grpc_resolver_api::{Address, ResolverState};
use grpc_client::{Channel, Code, ConnectBackoff, Request, Status};
use grpc_core::codec::BytesCodec;
use grpc_resolver::ManualResolver;
use support::{ServerCall, TestServer};
use tokio::sync::watch;

/// SERVING, NOT_SERVING (grpc.health.v1 enum values).
const SERVING: u8 = 1;
const NOT_SERVING: u8 = 2;

/// A backend answering `/test.Who/Name` with its name and, if `health` is set, reporting
/// that status (changeable) on Watch; without it, Watch is UNIMPLEMENTED.
async fn backend(name: &'static str, health: Option<watch::Receiver<u8>>) -> TestServer {
    TestServer::start(move |mut call: ServerCall| {
        let health = health.clone();
        async move {
            if call.path() != "/grpc.health.v1.Health/Watch" {
                call.message().await;
                call.reply(name.as_bytes()).await;
                return;
            }
            let request = call.message().await.unwrap();
            assert_eq!(
                &request[..],
                b"\x0a\x04echo",
                "Watch asks for the configured service"
            );
            let Some(mut health) = health else {
                call.send_trailers_only(Code::Unimplemented, "no health service");
                return;
            };
            call.send_headers();
            loop {
                let status = *health.borrow_and_update();
                call.send_message(&[0x08, status]).await;
                if health.changed().await.is_err() {
                    return;
                }
            }
        }
    })
    .await
}

fn config(policy: &str) -> String {
    format!(
        r#"{{"loadBalancingConfig": [{{"{policy}": {{}}}}], "healthCheckConfig": {{"serviceName": "echo"}}}}"#
    )
}

fn channel(manual: &ManualResolver, policy: &str, checks: bool) -> Channel {
    Channel::builder("health:///svc")
        .resolver(Arc::new(manual.clone()))
        .default_service_config(&config(policy))
        .health_checks(checks)
        .connect_backoff(ConnectBackoff {
            base_delay: Duration::from_millis(20),
            max_delay: Duration::from_millis(100),
            ..ConnectBackoff::default()
        })
        .connect_lazy()
        .unwrap()
}

async fn who(channel: &Channel) -> Result<String, Status> {
    let mut request = Request::new(Bytes::new());
    request.set_timeout(Duration::from_secs(10));
    let reply = channel.unary(request, "/test.Who/Name", BytesCodec).await?;
    Ok(String::from_utf8(reply.into_inner().to_vec()).unwrap())
}

/// Who answered `n` calls.
async fn tally(channel: &Channel, n: usize) -> HashMap<String, usize> {
    let mut seen = HashMap::new();
    for _ in 0..n {
        *seen.entry(who(channel).await.unwrap()).or_default() += 1;
    }
    seen
}

/// Calls until only `names` answer (a new health status takes one Watch message to land).
async fn settle(channel: &Channel, names: &[&str]) {
    for _ in 0..500 {
        let seen = tally(channel, 6).await;
        if seen.len() == names.len() && names.iter().all(|n| seen.contains_key(*n)) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("calls never settled on {names:?}");
}

fn state(servers: &[&TestServer]) -> ResolverState {
    ResolverState::from_addresses(servers.iter().map(|s| Address::from(s.addr)))
}

#[tokio::test]
async fn round_robin_skips_a_backend_that_is_not_serving_and_comes_back_to_it() {
    let (a_health, a_rx) = watch::channel(SERVING);
    let (b_health, b_rx) = watch::channel(NOT_SERVING);
    let a = backend("a", Some(a_rx)).await;
    let b = backend("b", Some(b_rx)).await;
    let manual = ManualResolver::new("health");
    manual.update_state(state(&[&a, &b]));
    let channel = channel(&manual, "round_robin", true);

    // b is NOT_SERVING from the start: every call goes to a.
    let seen = tally(&channel, 30).await;
    assert_eq!(seen.get("a"), Some(&30), "{seen:?}");

    b_health.send(SERVING).unwrap();
    settle(&channel, &["a", "b"]).await;
    let seen = tally(&channel, 40).await;
    assert_eq!(
        (seen["a"], seen["b"]),
        (20, 20),
        "round robin over both: {seen:?}"
    );

    a_health.send(NOT_SERVING).unwrap();
    settle(&channel, &["b"]).await;
    let seen = tally(&channel, 20).await;
    assert_eq!(seen.get("b"), Some(&20), "{seen:?}");
}

#[tokio::test]
async fn pick_first_moves_off_a_backend_that_stops_serving() {
    let (a_health, a_rx) = watch::channel(SERVING);
    let (_b_health, b_rx) = watch::channel(SERVING);
    let a = backend("a", Some(a_rx)).await;
    let b = backend("b", Some(b_rx)).await;
    let manual = ManualResolver::new("health");
    manual.update_state(state(&[&a, &b]));
    let channel = channel(&manual, "pick_first", true);
    assert_eq!(who(&channel).await.unwrap(), "a");

    // pick_first sees its subchannel leave READY (TRANSIENT_FAILURE) and tries the next.
    a_health.send(NOT_SERVING).unwrap();
    settle(&channel, &["b"]).await;
}

#[tokio::test]
async fn a_backend_without_the_health_service_keeps_serving() {
    let (_a_health, a_rx) = watch::channel(SERVING);
    let a = backend("a", Some(a_rx)).await;
    let c = backend("c", None).await;
    let manual = ManualResolver::new("health");
    manual.update_state(state(&[&a, &c]));
    let channel = channel(&manual, "round_robin", true);
    settle(&channel, &["a", "c"]).await;
}

#[tokio::test]
async fn every_backend_unhealthy_fails_calls_with_the_health_status() {
    let (_a_health, a_rx) = watch::channel(NOT_SERVING);
    let a = backend("a", Some(a_rx)).await;
    let manual = ManualResolver::new("health");
    manual.update_state(state(&[&a]));
    let channel = channel(&manual, "round_robin", true);
    // The only backend is NOT_SERVING: a fail-fast call fails with the health verdict.
    let status = who(&channel).await.unwrap_err();
    assert_eq!(status.code(), Code::Unavailable, "{status}");
    assert!(status.message().contains("NOT_SERVING"), "{status}");
}

#[tokio::test]
async fn health_checks_can_be_switched_off_per_channel() {
    let (_b_health, b_rx) = watch::channel(NOT_SERVING);
    let (_a_health, a_rx) = watch::channel(SERVING);
    let a = backend("a", Some(a_rx)).await;
    let b = backend("b", Some(b_rx)).await;
    let manual = ManualResolver::new("health");
    manual.update_state(state(&[&a, &b]));
    let channel = channel(&manual, "round_robin", false);
    settle(&channel, &["a", "b"]).await;
}
