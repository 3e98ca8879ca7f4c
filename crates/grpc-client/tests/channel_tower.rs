//! tower integration: `UnaryService` with `ServiceExt` and layers, `Channel` as a
//! `Service<RawRequest>`, readiness.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use bytes::Bytes;
use grpc_client::{Channel, Code, RawRequest, Request, Status};
use grpc_core::codec::BytesCodec;
use support::{ServerCall, TestServer, channel};
use tower::{Service, ServiceBuilder, ServiceExt};

async fn replying_server() -> TestServer {
    TestServer::start(|mut call: ServerCall| async move {
        let request = call.message().await.unwrap();
        if call.path() == "/test.Tower/Hang" {
            std::future::pending::<()>().await;
        }
        let mut reply = call.path().as_bytes().to_vec();
        reply.push(b' ');
        reply.extend_from_slice(&request);
        call.reply(&reply).await;
    })
    .await
}

#[tokio::test]
async fn unary_service_works_with_service_ext() {
    let server = replying_server().await;
    let channel = Channel::builder(&server.target()).connect_lazy().unwrap();
    let service = channel.unary_service("/test.Tower/Echo", BytesCodec);
    assert_eq!(service.path(), "/test.Tower/Echo");
    let response = service
        .clone()
        .oneshot(Request::new(Bytes::from_static(b"hi")))
        .await
        .unwrap();
    assert_eq!(response.into_inner(), "/test.Tower/Echo hi");

    // ready + call, several times on one service.
    let mut service = service;
    for i in 0..3 {
        let ready = service.ready().await.unwrap();
        let response = ready
            .call(Request::new(Bytes::from(format!("{i}"))))
            .await
            .unwrap();
        assert_eq!(response.into_inner(), format!("/test.Tower/Echo {i}"));
    }
}

#[tokio::test]
async fn unary_service_under_a_timeout_layer() {
    let server = replying_server().await;
    let channel = channel(&server).await;
    let mut fast = ServiceBuilder::new()
        .timeout(Duration::from_secs(30))
        .service(channel.unary_service("/test.Tower/Echo", BytesCodec));
    let response = fast
        .ready()
        .await
        .unwrap()
        .call(Request::new(Bytes::from_static(b"ok")))
        .await
        .unwrap();
    assert_eq!(response.into_inner(), "/test.Tower/Echo ok");

    let hanging = ServiceBuilder::new()
        .timeout(Duration::from_millis(100))
        .service(channel.unary_service("/test.Tower/Hang", BytesCodec));
    let err = hanging
        .oneshot(Request::new(Bytes::new()))
        .await
        .unwrap_err();
    assert!(err.is::<tower::timeout::error::Elapsed>(), "{err}");

    // A status from the call comes through the layer as the boxed error.
    let failing = ServiceBuilder::new()
        .timeout(Duration::from_secs(30))
        .service(
            Channel::builder("http://127.0.0.1:1")
                .connect_lazy()
                .unwrap()
                .unary_service("/test.Tower/Echo", BytesCodec),
        );
    let err = failing
        .oneshot(Request::new(Bytes::new()))
        .await
        .unwrap_err();
    let status = err.downcast_ref::<Status>().expect("a Status");
    assert_eq!(status.code(), Code::Unavailable);
}

#[tokio::test]
async fn a_channel_is_a_service_of_raw_requests() {
    let server = replying_server().await;
    let channel = Channel::builder(&server.target()).connect_lazy().unwrap();
    let response = channel
        .clone()
        .oneshot(RawRequest::new(
            "/test.Tower/Raw",
            Request::new(Bytes::from_static(b"bytes")),
        ))
        .await
        .unwrap();
    assert_eq!(response.into_inner(), "/test.Tower/Raw bytes");

    let dynamic_path = format!("/test.Tower/{}", "Dynamic");
    let response = channel
        .clone()
        .oneshot(RawRequest::new(dynamic_path, Request::new(Bytes::new())))
        .await
        .unwrap();
    assert_eq!(response.into_inner(), "/test.Tower/Dynamic ");

    let err = channel
        .oneshot(RawRequest::new("no-slash", Request::new(Bytes::new())))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
}

#[tokio::test]
async fn readiness_follows_the_connection() {
    let server = replying_server().await;
    let mut channel = Channel::builder(&server.target()).connect_lazy().unwrap();
    // Idle: poll_ready starts connecting and resolves once connected.
    assert_eq!(
        channel.connectivity_state(),
        grpc_client::ConnectivityState::Idle
    );
    ServiceExt::<RawRequest>::ready(&mut channel).await.unwrap();
    assert_eq!(
        channel.connectivity_state(),
        grpc_client::ConnectivityState::Ready
    );

    // Nothing listening: not ready, but failed (calls would fail fast).
    let mut down = Channel::builder("http://127.0.0.1:1")
        .connect_lazy()
        .unwrap();
    let err = ServiceExt::<RawRequest>::ready(&mut down)
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unavailable);
}
