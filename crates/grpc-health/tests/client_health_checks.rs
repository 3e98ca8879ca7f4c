//! Client-side health checking (gRFC A17) against real grpc-health servers on 127.0.0.1: a
//! backend whose reporter says NOT_SERVING stops receiving calls, under round_robin and
//! pick_first; SERVING again brings it back; a backend without the health service keeps
//! serving.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use grpc_client::Channel;
use grpc_core::bytes::Bytes;
use grpc_core::codec::BytesCodec;
use grpc_core::{Request, Response, Status};
use grpc_health::HealthReporter;
use grpc_server::Server;

/// The service the channel's health checks ask about.
const SERVICE: &str = "echo.Echo";

/// A backend answering `/echo.Echo/Who` with its name, with or without the health service.
async fn backend(name: &'static str, health: bool) -> (SocketAddr, Option<HealthReporter>) {
    let mut builder = Server::builder();
    let mut reporter = None;
    if health {
        let (health_reporter, service) = grpc_health::health_service();
        health_reporter.set_serving(SERVICE);
        builder = builder.add_service(service);
        reporter = Some(health_reporter);
    }
    let server = builder
        .add_routes(move |routes| {
            routes.unary(
                "/echo.Echo/Who",
                BytesCodec,
                move |_: Request<Bytes>| async move {
                    Ok::<_, Status>(Response::new(Bytes::from_static(name.as_bytes())))
                },
            );
        })
        .bind("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let addr = server.local_addr();
    tokio::spawn(server.serve());
    (addr, reporter)
}

fn channel(addrs: &[SocketAddr], policy: &str) -> Channel {
    let target = format!(
        "ipv4:{}",
        addrs
            .iter()
            .map(SocketAddr::to_string)
            .collect::<Vec<_>>()
            .join(",")
    );
    let config = format!(
        r#"{{"loadBalancingConfig": [{{"{policy}": {{}}}}],
            "healthCheckConfig": {{"serviceName": "{SERVICE}"}}}}"#
    );
    Channel::builder(&target)
        .default_service_config(&config)
        .connect_lazy()
        .unwrap()
}

async fn who(channel: &Channel) -> String {
    let mut request = Request::new(Bytes::new());
    request.set_timeout(Duration::from_secs(10));
    let reply = channel
        .unary(request, "/echo.Echo/Who", BytesCodec)
        .await
        .unwrap();
    String::from_utf8(reply.into_inner().to_vec()).unwrap()
}

async fn tally(channel: &Channel, calls: usize) -> HashMap<String, usize> {
    let mut seen = HashMap::new();
    for _ in 0..calls {
        *seen.entry(who(channel).await).or_default() += 1;
    }
    seen
}

/// Calls until only `names` answer (a status change takes one Watch message to arrive);
/// bounded, so a channel that never follows fails the test.
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

#[tokio::test]
async fn round_robin_follows_the_backends_health() {
    let (a, a_health) = backend("a", true).await;
    let (b, b_health) = backend("b", true).await;
    let (a_health, b_health) = (a_health.unwrap(), b_health.unwrap());
    let channel = channel(&[a, b], "round_robin");
    settle(&channel, &["a", "b"]).await;

    b_health.set_not_serving(SERVICE);
    settle(&channel, &["a"]).await;
    // Settled: every call now goes to a.
    assert_eq!(tally(&channel, 20).await.get("a"), Some(&20));

    b_health.set_serving(SERVICE);
    settle(&channel, &["a", "b"]).await;
    let seen = tally(&channel, 20).await;
    assert_eq!((seen["a"], seen["b"]), (10, 10), "{seen:?}");

    a_health.set_not_serving(SERVICE);
    settle(&channel, &["b"]).await;
}

#[tokio::test]
async fn pick_first_moves_to_the_next_backend_when_its_own_stops_serving() {
    let (a, a_health) = backend("a", true).await;
    let (b, _b_health) = backend("b", true).await;
    let a_health = a_health.unwrap();
    let channel = channel(&[a, b], "pick_first");
    assert_eq!(tally(&channel, 10).await.get("a"), Some(&10));
    a_health.set_not_serving(SERVICE);
    settle(&channel, &["b"]).await;
}

#[tokio::test]
async fn a_backend_without_the_health_service_keeps_serving() {
    let (a, _a_health) = backend("a", true).await;
    let (plain, none) = backend("plain", false).await;
    assert!(none.is_none());
    let channel = channel(&[a, plain], "round_robin");
    settle(&channel, &["a", "plain"]).await;
}
