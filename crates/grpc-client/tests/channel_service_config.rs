//! Service config on a channel: the default one, the resolver's, an invalid one from the
//! resolver (the previous good one stays), policy selection by name, method settings, and a
//! policy that panics.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use grpc_client::grpc_balancer_api::{
    ChannelController, LbConfig, LbPolicy, LbPolicyBuilder, LbPolicyOptions, ResolverState,
    Subchannel, SubchannelState,
};
use grpc_client::grpc_resolver_api::Address;
use grpc_client::{Channel, Code, Request, Status};
use grpc_core::codec::BytesCodec;
use grpc_resolver::ManualResolver;
use support::{ServerCall, TestServer};

fn state(server: &TestServer, config: Option<Result<&str, &str>>) -> ResolverState {
    ResolverState {
        addresses: vec![Address::from(server.addr)],
        service_config: config.map(|c| c.map(str::to_owned).map_err(str::to_owned)),
        ..ResolverState::default()
    }
}

/// A server whose `/svc.Slow/Call` never answers and whose other methods echo.
async fn server() -> TestServer {
    TestServer::start(|mut call: ServerCall| async move {
        if call.path() == "/svc.Slow/Call" {
            std::future::pending::<()>().await;
        }
        let request = call.message().await.unwrap_or_default();
        call.reply(&request).await;
    })
    .await
}

async fn call(channel: &Channel, path: &'static str) -> Result<Bytes, Status> {
    tokio::time::timeout(
        Duration::from_secs(10),
        channel.unary(Request::new(Bytes::from_static(b"hi")), path, BytesCodec),
    )
    .await
    .expect("the call was bounded by its service-config timeout")
    .map(|response| response.into_inner())
}

const SLOW_TIMEOUT: &str =
    r#"{"methodConfig": [{"name": [{"service": "svc.Slow"}], "timeout": "0.2s"}]}"#;

#[tokio::test]
async fn the_default_config_applies_until_the_resolver_sends_one() {
    let server = server().await;
    let manual = ManualResolver::new("sc-default");
    manual.update_state(state(&server, None));
    let channel = Channel::builder("sc-default:///svc")
        .resolver(Arc::new(manual.clone()))
        .default_service_config(SLOW_TIMEOUT)
        .connect()
        .await
        .unwrap();
    assert_eq!(channel.service_config_json().as_deref(), Some(SLOW_TIMEOUT));
    let err = call(&channel, "/svc.Slow/Call").await.unwrap_err();
    assert_eq!(err.code(), Code::DeadlineExceeded, "{err}");

    // The resolver's config replaces it: no timeout any more for svc.Slow, one for svc.Echo.
    let from_resolver =
        r#"{"methodConfig": [{"name": [{"service": "svc.Echo"}], "timeout": "5s"}]}"#;
    manual.update_state(state(&server, Some(Ok(from_resolver))));
    wait_for_config(&channel, from_resolver).await;
    assert_eq!(&call(&channel, "/svc.Echo/Call").await.unwrap()[..], b"hi");
}

#[tokio::test]
async fn an_invalid_config_from_the_resolver_keeps_the_previous_one() {
    let server = server().await;
    let manual = ManualResolver::new("sc-invalid");
    manual.update_state(state(&server, Some(Ok(SLOW_TIMEOUT))));
    let channel = Channel::builder("sc-invalid:///svc")
        .resolver(Arc::new(manual.clone()))
        .connect()
        .await
        .unwrap();
    assert_eq!(channel.service_config_json().as_deref(), Some(SLOW_TIMEOUT));
    for bad in [
        Ok(r#"{"methodConfig": [{"name": [{"method": "NoService"}]}]}"#),
        Ok("not json"),
        Err("TXT record unreadable"),
    ] {
        manual.update_state(state(&server, Some(bad)));
        // Calls go on under the previous config.
        let err = call(&channel, "/svc.Slow/Call").await.unwrap_err();
        assert_eq!(err.code(), Code::DeadlineExceeded, "{bad:?}: {err}");
        assert_eq!(channel.service_config_json().as_deref(), Some(SLOW_TIMEOUT));
    }
}

#[tokio::test]
async fn an_invalid_first_config_fails_calls_until_a_good_one_arrives() {
    let server = server().await;
    let manual = ManualResolver::new("sc-first-invalid");
    manual.update_state(state(
        &server,
        Some(Ok(r#"{"loadBalancingConfig": [{"nope": {}}]}"#)),
    ));
    let channel = Channel::builder("sc-first-invalid:///svc")
        .resolver(Arc::new(manual.clone()))
        .connect_lazy()
        .unwrap();
    let err = call(&channel, "/svc.Echo/Call").await.unwrap_err();
    assert_eq!(err.code(), Code::Unavailable, "{err}");
    assert!(err.message().contains("invalid service config"), "{err}");
    manual.update_state(state(&server, None));
    for _ in 0..100 {
        if call(&channel, "/svc.Echo/Call").await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the channel never recovered");
}

#[tokio::test]
async fn resolver_configs_can_be_turned_off() {
    let server = server().await;
    let manual = ManualResolver::new("sc-off");
    manual.update_state(state(&server, Some(Ok(SLOW_TIMEOUT))));
    let channel = Channel::builder("sc-off:///svc")
        .resolver(Arc::new(manual.clone()))
        .resolver_service_config(false)
        .connect()
        .await
        .unwrap();
    assert_eq!(channel.service_config_json(), None);
}

#[tokio::test]
async fn an_invalid_default_config_fails_the_build() {
    for bad in [
        "[]",
        r#"{"methodConfig": [{"name": [{}], "timeout": "-1s"}]}"#,
    ] {
        let err = Channel::builder("127.0.0.1:1")
            .default_service_config(bad)
            .connect_lazy()
            .unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument, "{bad}: {err}");
    }
}

/// A policy that counts its builds and delegates to nothing: it connects the first
/// address and picks it (enough to see which policy a config selected).
struct Counting {
    name: &'static str,
    builds: Arc<AtomicUsize>,
    panic: bool,
}

impl LbPolicyBuilder for Counting {
    fn name(&self) -> &str {
        self.name
    }
    fn build(&self, _: LbPolicyOptions) -> Box<dyn LbPolicy> {
        self.builds.fetch_add(1, Ordering::SeqCst);
        Box::new(First {
            inner: None,
            panic: self.panic,
        })
    }
}

struct First {
    inner: Option<Subchannel>,
    panic: bool,
}

struct FirstPicker(Subchannel);

impl grpc_client::grpc_balancer_api::Picker for FirstPicker {
    fn pick(
        &self,
        _: &grpc_client::grpc_balancer_api::PickInfo<'_>,
    ) -> grpc_client::grpc_balancer_api::PickResult {
        grpc_client::grpc_balancer_api::PickResult::Pick(grpc_client::grpc_balancer_api::Pick::new(
            self.0.clone(),
        ))
    }
}

impl LbPolicy for First {
    fn resolver_update(
        &mut self,
        state: &ResolverState,
        _: Option<&LbConfig>,
        channel: &mut dyn ChannelController,
    ) -> Result<(), Status> {
        assert!(!self.panic, "a policy bug");
        let subchannel = channel.new_subchannel(&state.addresses[0]);
        subchannel.connect();
        self.inner = Some(subchannel);
        Ok(())
    }
    fn resolver_error(&mut self, _: &Status, _: &mut dyn ChannelController) {}
    fn subchannel_update(
        &mut self,
        subchannel: &Subchannel,
        state: &SubchannelState,
        channel: &mut dyn ChannelController,
    ) {
        if state.state == grpc_client::ConnectivityState::Ready {
            channel.update_picker(state.state, Arc::new(FirstPicker(subchannel.clone())));
        }
    }
    fn exit_idle(&mut self, _: &mut dyn ChannelController) {}
}

#[tokio::test]
async fn the_first_known_policy_in_load_balancing_config_is_used() {
    let server = server().await;
    let builds = Arc::new(AtomicUsize::new(0));
    let manual = ManualResolver::new("sc-policy");
    manual.update_state(state(&server, None));
    let channel = Channel::builder("sc-policy:///svc")
        .resolver(Arc::new(manual.clone()))
        .lb_policy(Arc::new(Counting {
            name: "counting",
            builds: builds.clone(),
            panic: false,
        }))
        .default_service_config(
            r#"{"loadBalancingConfig": [{"unknown_policy": {}}, {"counting": {}}, {"round_robin": {}}]}"#,
        )
        .connect()
        .await
        .unwrap();
    assert_eq!(&call(&channel, "/svc.Echo/Call").await.unwrap()[..], b"hi");
    assert_eq!(builds.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_panicking_policy_fails_calls_instead_of_hanging_them() {
    let server = server().await;
    let manual = ManualResolver::new("sc-panic");
    manual.update_state(state(&server, None));
    let channel = Channel::builder("sc-panic:///svc")
        .resolver(Arc::new(manual.clone()))
        .lb_policy(Arc::new(Counting {
            name: "panicking",
            builds: Arc::default(),
            panic: true,
        }))
        .default_service_config(r#"{"loadBalancingConfig": [{"panicking": {}}]}"#)
        .connect_lazy()
        .unwrap();
    let mut request = Request::new(Bytes::new());
    request
        .extensions_mut()
        .insert(grpc_client::CallOptions::new().wait_for_ready(true));
    let err = tokio::time::timeout(
        Duration::from_secs(10),
        channel.unary(request, "/svc.Echo/Call", BytesCodec),
    )
    .await
    .expect("failed, not hung")
    .unwrap_err();
    assert_eq!(err.code(), Code::Internal, "{err}");
    assert_eq!(
        channel.connectivity_state(),
        grpc_client::ConnectivityState::Shutdown
    );
}

async fn wait_for_config(channel: &Channel, json: &str) {
    for _ in 0..200 {
        if channel.service_config_json().as_deref() == Some(json) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("config never applied: {:?}", channel.service_config_json());
}
