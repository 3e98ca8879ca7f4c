//! TLS channels, and call credentials: a bearer token over TLS, refused over plaintext unless
//! allowed, per-call credentials, the credentials' view of the call.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use grpc_client::{CallOptions, Channel, ChannelBuilder, Code, Metadata, Request, Status};
use grpc_core::BoxFuture;
use grpc_core::codec::BytesCodec;
use grpc_core::credentials::{AuthContext, BearerToken, CallCredentials};
use support::{ServerCall, TestServer};

/// Answers every call with `scheme authority authorization(sensitive?)`.
async fn reporting(mut call: ServerCall) {
    call.messages().await;
    let authorization = call.header_field("authorization").map(|f| {
        format!(
            "{}{}",
            String::from_utf8_lossy(&f.value),
            if f.sensitive { " (sensitive)" } else { "" }
        )
    });
    let report = format!(
        "{} {} {}",
        call.header(":scheme").unwrap(),
        call.header(":authority").unwrap(),
        authorization.unwrap_or_else(|| "-".into())
    );
    call.reply(report.as_bytes()).await;
}

/// A channel builder for `target` that trusts the test CA.
fn trusting_test_ca(target: &str) -> ChannelBuilder {
    Channel::builder(target)
        .tls_ca_pem(&support::ca_pem())
        .unwrap()
}

async fn call(channel: &Channel) -> Result<String, Status> {
    let response = channel
        .unary(Request::new(Bytes::new()), "/test.Auth/Whoami", BytesCodec)
        .await?;
    Ok(String::from_utf8(response.into_inner().to_vec()).unwrap())
}

#[tokio::test]
async fn tls_channel_by_host_name_and_by_ip() {
    let server = TestServer::start_tls(reporting).await;
    let port = server.addr.port();
    let channel = trusting_test_ca(&format!("https://localhost:{port}"))
        .connect()
        .await
        .unwrap();
    assert_eq!(
        call(&channel).await.unwrap(),
        format!("https localhost:{port} -")
    );
    // The certificate also names 127.0.0.1; a bare host:port with a TLS config is TLS.
    let channel = trusting_test_ca(&format!("127.0.0.1:{port}"))
        .connect()
        .await
        .unwrap();
    assert_eq!(
        call(&channel).await.unwrap(),
        format!("https 127.0.0.1:{port} -")
    );
    // Streams work over TLS too.
    let mut stream = channel
        .server_streaming(Request::new(Bytes::new()), "/test.Auth/Whoami", BytesCodec)
        .await
        .unwrap()
        .into_inner();
    assert!(stream.message().await.unwrap().is_some());
    assert_eq!(stream.message().await.unwrap(), None);
}

#[tokio::test]
async fn server_name_override_sets_the_verified_name_and_the_authority() {
    let server = TestServer::start_tls(reporting).await;
    // 127.0.0.2 is not in the certificate, but the override names a host that is.
    let channel = trusting_test_ca(&format!("https://127.0.0.1:{}", server.addr.port()))
        .server_name_override("localhost")
        .connect()
        .await
        .unwrap();
    assert_eq!(channel.authority(), "localhost");
    assert_eq!(call(&channel).await.unwrap(), "https localhost -");
}

#[tokio::test]
async fn tls_fails_with_unavailable_on_an_untrusted_or_wrong_name() {
    let server = TestServer::start_tls(reporting).await;
    let err = trusting_test_ca(&format!("https://127.0.0.1:{}", server.addr.port()))
        .server_name_override("not-the-server.example")
        .connect()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unavailable, "{err}");

    // Plaintext against a TLS server fails too (the server expects a TLS handshake).
    let channel = Channel::builder(&server.target()).connect_lazy().unwrap();
    let err = channel
        .unary(
            {
                let mut r = Request::new(Bytes::new());
                r.set_timeout(std::time::Duration::from_secs(5));
                r
            },
            "/test.Auth/Whoami",
            BytesCodec,
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unavailable, "{err}");
}

#[tokio::test]
async fn a_bearer_token_goes_out_over_tls_never_indexed() {
    let server = TestServer::start_tls(reporting).await;
    let channel = trusting_test_ca(&format!("https://localhost:{}", server.addr.port()))
        .call_credentials(Arc::new(BearerToken::new("s3cret")))
        .connect()
        .await
        .unwrap();
    let report = call(&channel).await.unwrap();
    assert!(report.ends_with("Bearer s3cret (sensitive)"), "{report}");
}

#[tokio::test]
async fn a_bearer_token_is_refused_over_plaintext_before_anything_is_sent() {
    let server = TestServer::start(reporting).await;
    let channel = Channel::builder(&server.target())
        .call_credentials(Arc::new(BearerToken::new("s3cret")))
        .connect_lazy()
        .unwrap();
    let err = call(&channel).await.unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated, "{err}");
    let err = channel
        .streaming(Request::new(()), "/test.Auth/Chat", BytesCodec)
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated);
    assert_eq!(server.connection_count(), 0);

    // Per-call credentials are checked the same way.
    let plain = Channel::builder(&server.target()).connect_lazy().unwrap();
    let mut request = Request::new(Bytes::new());
    request
        .extensions_mut()
        .insert(CallOptions::new().credentials(Arc::new(BearerToken::new("s3cret"))));
    let err = plain
        .unary(request, "/test.Auth/Whoami", BytesCodec)
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated);
    assert_eq!(server.request_count(), 0);
}

#[tokio::test]
async fn allow_insecure_credentials_sends_the_token_over_plaintext() {
    let server = TestServer::start(reporting).await;
    let channel = Channel::builder(&server.target())
        .allow_insecure_credentials(true)
        .connect()
        .await
        .unwrap();
    let mut request = Request::new(Bytes::new());
    request
        .extensions_mut()
        .insert(CallOptions::new().credentials(Arc::new(BearerToken::new("per-call"))));
    let report = channel
        .unary(request, "/test.Auth/Whoami", BytesCodec)
        .await
        .unwrap()
        .into_inner();
    assert!(
        report.ends_with(b"Bearer per-call (sensitive)"),
        "{report:?}"
    );
}

/// Credentials that need no TLS and record what they were told.
struct ApiKey {
    seen: Mutex<Vec<AuthContext>>,
}

impl CallCredentials for ApiKey {
    fn metadata<'a>(&'a self, context: &'a AuthContext) -> BoxFuture<'a, Result<Metadata, Status>> {
        Box::pin(async move {
            self.seen.lock().unwrap().push(context.clone());
            if context.method.ends_with("/Forbidden") {
                return Err(Status::unauthenticated("no key for this method"));
            }
            let mut metadata = Metadata::new();
            metadata.insert("x-api-key", "k1").unwrap();
            Ok(metadata)
        })
    }

    fn requires_transport_security(&self) -> bool {
        false
    }
}

#[tokio::test]
async fn credentials_see_the_service_url_and_method_and_may_fail_the_call() {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let server = TestServer::start(move |mut call: ServerCall| {
        let tx = tx.clone();
        async move {
            tx.send(call.header_field("x-api-key").cloned()).unwrap();
            call.messages().await;
            call.reply(b"").await;
        }
    })
    .await;
    let key = Arc::new(ApiKey {
        seen: Mutex::new(Vec::new()),
    });
    let channel = Channel::builder(&server.target())
        .call_credentials(key.clone())
        .connect()
        .await
        .unwrap();
    channel
        .unary(Request::new(Bytes::new()), "/pkg.Svc/Get", BytesCodec)
        .await
        .unwrap();
    let field = rx.recv().await.unwrap().unwrap();
    assert_eq!(&field.value[..], b"k1");
    assert!(field.sensitive, "credentials' metadata is never indexed");
    let context = key.seen.lock().unwrap()[0].clone();
    assert_eq!(
        context.service_url,
        format!("http://{}/pkg.Svc", server.addr)
    );
    assert_eq!(context.method, "/pkg.Svc/Get");
    assert!(!context.secure);

    let err = channel
        .unary(Request::new(Bytes::new()), "/pkg.Svc/Forbidden", BytesCodec)
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated);
    assert_eq!(server.request_count(), 1);
}
