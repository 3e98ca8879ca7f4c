//! Interceptors (reject, change metadata, pass extensions, wrap and observe or replace the
//! status, order, kinds) and tower layers (ConcurrencyLimit, Timeout, custom layers).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use grpc_core::{BoxFuture, Code, Status};
use grpc_server::{Next, RpcKind, ServerCall, interceptor_fn};
use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interceptor_rejects_calls() {
    let auth = interceptor_fn(|call: ServerCall, next: Next| async move {
        match call.metadata().get("authorization") {
            Some("Bearer good") => next.run(call).await,
            _ => Err(Status::unauthenticated("bad or missing token")),
        }
    });
    let (addr, _handle, _events) = start_with(|builder| builder.interceptor(auth)).await;
    let client = TestClient::connect(addr).await;

    let reply = client.unary(UNARY, b"x").await;
    assert_eq!(reply.code(), Code::Unauthenticated);
    assert!(reply.trailers_only);
    assert_eq!(reply.status.message(), "bad or missing token");

    let reply = client
        .unary_with(
            with(grpc_headers(UNARY), "authorization", "Bearer good"),
            b"x",
        )
        .await;
    reply.assert_ok();

    // Streaming calls go through it too.
    let reply = client.unary(SERVER_STREAM, b"1,1").await;
    assert_eq!(reply.code(), Code::Unauthenticated);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interceptors_change_metadata_and_pass_extensions_in_order() {
    let first = interceptor_fn(|mut call: ServerCall, next: Next| async move {
        call.metadata_mut().append("x-order", "first").unwrap();
        call.metadata_mut().remove("x-secret");
        call.extensions_mut()
            .insert(Tag("from the interceptor".into()));
        call.response_headers_mut()
            .insert("x-intercepted", "yes")
            .unwrap();
        call.response_trailers_mut()
            .insert("x-after", "trailer")
            .unwrap();
        next.run(call).await
    });
    let second = interceptor_fn(|mut call: ServerCall, next: Next| async move {
        call.metadata_mut().append("x-order", "second").unwrap();
        next.run(call).await
    });
    let (addr, _handle, _events) =
        start_with(|builder| builder.interceptor(first).interceptor(second)).await;
    let client = TestClient::connect(addr).await;
    let reply = client
        .unary_with(with(grpc_headers(UNARY), "x-secret", "hide me"), b"x")
        .await;
    reply.assert_ok();
    let order: Vec<&str> = reply
        .headers
        .iter()
        .filter(|f| &f.name[..] == b"x-order")
        .map(|f| std::str::from_utf8(&f.value).unwrap())
        .collect();
    assert_eq!(order, ["first", "second"]);
    assert_eq!(reply.header("x-secret"), None);
    assert_eq!(reply.header("x-tag"), Some("from the interceptor"));
    assert_eq!(reply.header("x-intercepted"), Some("yes"));
    assert_eq!(reply.status.metadata().get("x-after"), Some("trailer"));
    assert_eq!(reply.status.metadata().get("x-trailer"), Some("done"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrapping_interceptor_observes_kind_and_status() {
    type Log = Arc<Mutex<Vec<(String, Option<RpcKind>, Code)>>>;
    let log: Log = Arc::default();
    let recorder = {
        let log = log.clone();
        interceptor_fn(move |call: ServerCall, next: Next| {
            let log = log.clone();
            async move {
                let method = call.method().to_owned();
                let kind = call.kind();
                assert_eq!(call.service(), "test.Echo");
                let result = next.run(call).await;
                let code = result.as_ref().err().map_or(Code::Ok, Status::code);
                log.lock().unwrap().push((method, kind, code));
                result
            }
        })
    };
    let (addr, _handle, _events) = start_with(|builder| builder.interceptor(recorder)).await;
    let client = TestClient::connect(addr).await;

    client.unary(UNARY, b"x").await.assert_ok();
    let reply = client
        .unary_with(with(grpc_headers(UNARY), "x-fail-code", "5"), b"x")
        .await;
    assert_eq!(reply.code(), Code::NotFound);
    client.unary(SERVER_STREAM, b"2,2").await.assert_ok();
    let mut call = client.open(grpc_headers(CLIENT_STREAM));
    call.send(b"a").await;
    call.close().await;
    patiently(call.finish()).await.assert_ok();
    let mut call = client.open(grpc_headers(BIDI));
    call.close().await;
    patiently(call.finish()).await.assert_ok();
    // Unknown methods never reach interceptors.
    let reply = client.unary("/test.Echo/Missing", b"x").await;
    assert_eq!(reply.code(), Code::Unimplemented);

    let log = log.lock().unwrap().clone();
    assert_eq!(
        log,
        [
            ("Unary".to_owned(), Some(RpcKind::Unary), Code::Ok),
            ("Unary".to_owned(), Some(RpcKind::Unary), Code::NotFound),
            (
                "ServerStream".to_owned(),
                Some(RpcKind::ServerStreaming),
                Code::Ok
            ),
            (
                "ClientStream".to_owned(),
                Some(RpcKind::ClientStreaming),
                Code::Ok
            ),
            ("Bidi".to_owned(), Some(RpcKind::BidiStreaming), Code::Ok),
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interceptor_replaces_the_status() {
    let mapper = interceptor_fn(|call: ServerCall, next: Next| async move {
        let veto = call.metadata().contains_key("x-veto");
        match next.run(call).await {
            Err(status) if status.code() == Code::NotFound => {
                Err(Status::permission_denied("hidden"))
            }
            Ok(()) if veto => Err(Status::aborted("vetoed after the handler")),
            other => other,
        }
    });
    let (addr, _handle, _events) = start_with(|builder| builder.interceptor(mapper)).await;
    let client = TestClient::connect(addr).await;
    let reply = client
        .unary_with(with(grpc_headers(UNARY), "x-fail-code", "5"), b"x")
        .await;
    assert_eq!(reply.code(), Code::PermissionDenied);
    assert_eq!(reply.status.message(), "hidden");
    // Success turned into an error: the response message is not sent.
    let reply = client
        .unary_with(with(grpc_headers(UNARY), "x-veto", "1"), b"x")
        .await;
    assert_eq!(reply.code(), Code::Aborted);
    assert!(reply.messages.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interceptor_that_swallows_the_call_gives_internal() {
    let swallow = interceptor_fn(|call: ServerCall, _next: Next| async move {
        drop(call);
        Ok(())
    });
    let (addr, _handle, _events) = start_with(|builder| builder.interceptor(swallow)).await;
    let client = TestClient::connect(addr).await;
    let reply = client.unary(UNARY, b"x").await;
    assert_eq!(reply.code(), Code::Internal, "{reply:?}");
}

// --- tower layers ---------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrency_limit_layer_limits_calls_across_connections() {
    let (probes, mut events) = Probes::new();
    let entered = probes.clone();
    // Inside the layer: reports when a unary call got past the limit.
    let observer = interceptor_fn(move |call: ServerCall, next: Next| {
        if call.method() == "Unary" {
            entered.event("unary entered");
        }
        next.run(call)
    });
    let bound = grpc_server::Server::builder()
        .add_service(Echo { probes })
        .interceptor(observer)
        .layer(tower::limit::ConcurrencyLimitLayer::new(1))
        .bind(localhost())
        .await
        .unwrap();
    let (addr, _handle) = spawn(bound);

    // The one slot is taken by a call that never ends...
    let first = TestClient::connect(addr).await;
    let sleeper = first.sleeping_call(&mut events).await;

    // ...so a unary call on another connection waits for it.
    let second = TestClient::connect(addr).await;
    let waiting = tokio::spawn(async move { second.unary(UNARY, b"after").await });
    // Cancel the sleeper: its permit is released when its handler is dropped, and only then
    // does the unary call get in.
    drop(sleeper);
    let first_event = patiently(events.recv()).await.unwrap();
    assert_eq!(first_event, "sleep dropped");
    expect_event(&mut events, "unary entered").await;
    let reply = patiently(waiting).await.unwrap();
    reply.assert_ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeout_layer_drops_slow_calls() {
    let (addr, _handle, mut events) = start_with(|builder| {
        builder.layer(tower::timeout::TimeoutLayer::new(Duration::from_millis(50)))
    })
    .await;
    let client = TestClient::connect(addr).await;
    let reply = client.unary(SLEEP, b"z").await;
    // tower's Elapsed is not a Status: UNKNOWN with its message.
    assert_eq!(reply.code(), Code::Unknown, "{reply:?}");
    assert_eq!(reply.status.message(), "request timed out");
    assert!(reply.trailers_only);
    expect_event(&mut events, "sleep dropped").await;
    client.unary(UNARY, b"quick").await.assert_ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn layers_compose_with_map_err() {
    let (addr, _handle, _events) = start_with(|builder| {
        builder
            .layer(tower::util::MapErrLayer::new(|_: tower::BoxError| {
                Status::deadline_exceeded("server time budget exhausted")
            }))
            .layer(tower::timeout::TimeoutLayer::new(Duration::from_millis(20)))
    })
    .await;
    let client = TestClient::connect(addr).await;
    let reply = client.unary(SLEEP, b"z").await;
    assert_eq!(reply.code(), Code::DeadlineExceeded, "{reply:?}");
    assert_eq!(reply.status.message(), "server time budget exhausted");
}

/// A custom layer: counts every call (unknown methods included), records `kind()`, and
/// refuses calls carrying `x-deny`.
#[derive(Clone)]
struct Gate {
    seen: Arc<AtomicUsize>,
    unknown: Arc<AtomicUsize>,
}

impl<S> tower::Layer<S> for Gate {
    type Service = GateService<S>;
    fn layer(&self, inner: S) -> GateService<S> {
        GateService {
            gate: self.clone(),
            inner,
        }
    }
}

#[derive(Clone)]
struct GateService<S> {
    gate: Gate,
    inner: S,
}

impl<S> tower::Service<ServerCall> for GateService<S>
where
    S: tower::Service<ServerCall, Response = (), Error = Status> + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = ();
    type Error = Status;
    type Future = BoxFuture<'static, Result<(), Status>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Status>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, call: ServerCall) -> Self::Future {
        self.gate.seen.fetch_add(1, Ordering::Relaxed);
        if call.kind().is_none() {
            self.gate.unknown.fetch_add(1, Ordering::Relaxed);
        }
        if call.metadata().contains_key("x-deny") {
            return Box::pin(async { Err(Status::permission_denied("denied by the gate")) });
        }
        Box::pin(self.inner.call(call))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn custom_layer_sees_every_call_and_can_reject() {
    let gate = Gate {
        seen: Arc::default(),
        unknown: Arc::default(),
    };
    let (addr, _handle, _events) = start_with(|builder| builder.layer(gate.clone())).await;
    let client = TestClient::connect(addr).await;
    client.unary(UNARY, b"x").await.assert_ok();
    let reply = client.unary("/test.Echo/Missing", b"x").await;
    assert_eq!(reply.code(), Code::Unimplemented);
    let reply = client
        .unary_with(with(grpc_headers(UNARY), "x-deny", "1"), b"x")
        .await;
    assert_eq!(reply.code(), Code::PermissionDenied);
    assert!(reply.trailers_only);
    // A streaming call with the client still sending when the layer refuses it.
    let mut call = client.open(with(grpc_headers(BIDI), "x-deny", "1"));
    call.send(b"ignored").await;
    let headers = call.response_headers().await;
    assert_eq!(find(&headers, "grpc-status"), Some("7"));
    assert_eq!(gate.seen.load(Ordering::Relaxed), 4);
    assert_eq!(gate.unknown.load(Ordering::Relaxed), 1);
}
