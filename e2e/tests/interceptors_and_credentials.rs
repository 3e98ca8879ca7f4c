//! Interceptors on both sides (read and change metadata, reject, wrap and observe the
//! outcome), tower layers on the server, and bearer-token call credentials.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use grpc_core::credentials::BearerToken;
use grpc_core::{BoxFuture, Code, Status};
use grpc_e2e::pb::EchoRequest;
use grpc_e2e::pb::echo_client::EchoClient;
use grpc_e2e::{certs, client_with, echo, slow, start_server};
use grpc_server::{Next, ServerCall};

/// Server side: rejects calls without `x-token: secret`, and marks the ones it lets through
/// with `x-echo-checked` (which the Echo service copies back).
struct RequireToken;

impl grpc_server::Interceptor for RequireToken {
    fn intercept(
        &self,
        mut call: ServerCall,
        next: Next,
    ) -> BoxFuture<'static, Result<(), Status>> {
        Box::pin(async move {
            if call.metadata().get("x-token") != Some("secret") {
                return Err(Status::unauthenticated("missing x-token"));
            }
            call.metadata_mut().insert("x-echo-checked", "yes").unwrap();
            next.run(call).await
        })
    }
}

/// Server side: wraps the handler and records how each call ended.
#[derive(Clone, Default)]
struct RecordOutcome(Arc<Mutex<Vec<(String, Code)>>>);

impl grpc_server::Interceptor for RecordOutcome {
    fn intercept(&self, call: ServerCall, next: Next) -> BoxFuture<'static, Result<(), Status>> {
        let outcomes = self.0.clone();
        Box::pin(async move {
            let method = call.path().to_owned();
            let result = next.run(call).await;
            let code = result.as_ref().map_or_else(Status::code, |()| Code::Ok);
            outcomes.lock().unwrap().push((method, code));
            result
        })
    }
}

/// Client side: adds the token to every call.
struct AddToken;

impl grpc_client::Interceptor for AddToken {
    fn intercept<'a>(
        &'a self,
        call: &'a mut grpc_client::CallContext,
    ) -> BoxFuture<'a, Result<(), Status>> {
        Box::pin(async move {
            call.metadata_mut()
                .insert("x-token", "secret")
                .map_err(|e| Status::internal(e.to_string()))
        })
    }
}

/// Client side: refuses calls that ask for a status, before anything is sent.
struct RefuseStatusRequests;

impl grpc_client::Interceptor for RefuseStatusRequests {
    fn intercept<'a>(
        &'a self,
        call: &'a mut grpc_client::CallContext,
    ) -> BoxFuture<'a, Result<(), Status>> {
        Box::pin(async move {
            if call.path() == "/e2e.v1.Echo/Unary" && call.metadata().contains_key("x-refuse") {
                return Err(Status::failed_precondition("refused by the client"));
            }
            Ok(())
        })
    }
}

#[tokio::test]
async fn interceptors_check_change_and_observe_calls() {
    let outcomes = RecordOutcome::default();
    let server = start_server({
        let outcomes = outcomes.clone();
        move |builder| builder.interceptor(outcomes).interceptor(RequireToken)
    })
    .await;

    // Without the token: rejected by the server interceptor, the handler never runs.
    let plain = EchoClient::connect(&server.url()).await.unwrap();
    let status = plain.unary(echo("no token")).await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    assert_eq!(status.message(), "missing x-token");
    assert_eq!(server.probe.started(), 0);

    // With the client interceptor adding it: through, and the server's mark comes back.
    let client = client_with(&server, |b| {
        b.interceptor(AddToken).interceptor(RefuseStatusRequests)
    })
    .await;
    let response = client.unary(echo("token")).await.unwrap();
    assert_eq!(response.metadata().get("x-echo-checked"), Some("yes"));
    assert_eq!(
        server.probe.last_metadata().unwrap().get("x-token"),
        Some("secret")
    );

    // Streaming calls pass the same interceptors.
    let mut stream = client
        .server_stream(EchoRequest {
            response_count: 2,
            ..echo("s")
        })
        .await
        .unwrap();
    assert_eq!(stream.metadata().get("x-echo-checked"), Some("yes"));
    while stream.get_mut().message().await.unwrap().is_some() {}

    // A client interceptor can refuse a call.
    let mut request = grpc_core::Request::new(echo("refuse"));
    request.metadata_mut().insert("x-refuse", "1").unwrap();
    let status = client.unary(request).await.unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition);

    let outcomes = outcomes.0.lock().unwrap().clone();
    assert_eq!(
        outcomes,
        vec![
            ("/e2e.v1.Echo/Unary".to_owned(), Code::Unauthenticated),
            ("/e2e.v1.Echo/Unary".to_owned(), Code::Ok),
            ("/e2e.v1.Echo/ServerStream".to_owned(), Code::Ok),
        ]
    );
}

#[tokio::test]
async fn tower_layers_wrap_the_server() {
    // One call at a time, and a 100 ms budget per call.
    let server = start_server(|builder| {
        builder
            .layer(tower::limit::ConcurrencyLimitLayer::new(1))
            .layer(tower::timeout::TimeoutLayer::new(Duration::from_millis(
                100,
            )))
    })
    .await;
    let client = EchoClient::connect(&server.url()).await.unwrap();
    client.unary(echo("quick")).await.unwrap();
    let status = client.unary(slow(30_000)).await.unwrap_err();
    assert_ne!(status.code(), Code::Ok);
    server.probe.wait_cancelled(1).await;
    // The concurrency slot came back.
    client.unary(echo("again")).await.unwrap();
}

/// A server that requires `authorization: Bearer t0ken`.
struct RequireBearer;

impl grpc_server::Interceptor for RequireBearer {
    fn intercept(&self, call: ServerCall, next: Next) -> BoxFuture<'static, Result<(), Status>> {
        Box::pin(async move {
            if call.metadata().get("authorization") != Some("Bearer t0ken") {
                return Err(Status::unauthenticated("bad token"));
            }
            next.run(call).await
        })
    }
}

#[tokio::test]
async fn bearer_tokens_go_over_tls() {
    let server = start_server(|builder| {
        builder
            .tls_pem(certs::SERVER_CERT, certs::SERVER_KEY)
            .unwrap()
            .interceptor(RequireBearer)
    })
    .await;
    let channel = grpc_client::Channel::builder(&server.tls_url())
        .tls_ca_pem(certs::CA)
        .unwrap()
        .call_credentials(Arc::new(BearerToken::new("t0ken")))
        .connect()
        .await
        .unwrap();
    EchoClient::new(channel)
        .unary(echo("secure"))
        .await
        .unwrap();
}

#[tokio::test]
async fn bearer_tokens_are_not_sent_over_plaintext_unless_allowed() {
    let server = start_server(|builder| builder.interceptor(RequireBearer)).await;
    let client = client_with(&server, |b| {
        b.call_credentials(Arc::new(BearerToken::new("t0ken")))
    })
    .await;
    let status = client.unary(echo("plain")).await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    assert_eq!(server.probe.started(), 0);

    let client = client_with(&server, |b| {
        b.call_credentials(Arc::new(BearerToken::new("t0ken")))
            .allow_insecure_credentials(true)
    })
    .await;
    client.unary(echo("allowed")).await.unwrap();
}
