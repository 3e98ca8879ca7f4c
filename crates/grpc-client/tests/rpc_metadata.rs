//! Request headers as the server sees them, custom metadata both ways (ASCII and binary),
//! response headers and trailers, and interceptors.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use grpc_client::{
    CallContext, CallOptions, Channel, Code, Interceptor, Metadata, Request, Status, interceptor_fn,
};
use grpc_core::BoxFuture;
use grpc_core::codec::BytesCodec;
use grpc_transport::hpack::HeaderField;
use support::{ServerCall, TestServer, channel};
use tokio::sync::mpsc;

/// Replies with nothing and hands the request headers to the test.
async fn header_capturing_server() -> (TestServer, mpsc::UnboundedReceiver<Vec<HeaderField>>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let server = TestServer::start(move |mut call: ServerCall| {
        let tx = tx.clone();
        async move {
            call.messages().await;
            tx.send(call.headers.clone()).unwrap();
            call.reply(b"").await;
        }
    })
    .await;
    (server, rx)
}

fn get<'a>(fields: &'a [HeaderField], name: &str) -> Option<&'a str> {
    fields
        .iter()
        .find(|f| &f.name[..] == name.as_bytes())
        .map(|f| std::str::from_utf8(&f.value).unwrap())
}

#[tokio::test]
async fn request_headers_follow_the_grpc_spec() {
    let (server, mut seen) = header_capturing_server().await;
    let channel = channel(&server).await;
    channel
        .unary(Request::new(Bytes::new()), "/pkg.Svc/Method", BytesCodec)
        .await
        .unwrap();
    let fields = seen.recv().await.unwrap();
    let pseudo: Vec<&[u8]> = fields.iter().take(4).map(|f| &f.name[..]).collect();
    assert_eq!(
        pseudo,
        [&b":method"[..], b":scheme", b":path", b":authority"]
    );
    assert_eq!(get(&fields, ":method"), Some("POST"));
    assert_eq!(get(&fields, ":scheme"), Some("http"));
    assert_eq!(get(&fields, ":path"), Some("/pkg.Svc/Method"));
    assert_eq!(
        get(&fields, ":authority"),
        Some(server.addr.to_string().as_str())
    );
    assert_eq!(get(&fields, "content-type"), Some("application/grpc"));
    assert_eq!(get(&fields, "te"), Some("trailers"));
    assert_eq!(
        get(&fields, "grpc-accept-encoding"),
        Some("gzip,deflate,zstd")
    );
    assert_eq!(
        get(&fields, "grpc-timeout"),
        None,
        "no deadline, no grpc-timeout"
    );
    assert_eq!(get(&fields, "grpc-encoding"), None);
    let user_agent = get(&fields, "user-agent").unwrap();
    assert_eq!(user_agent, concat!("grpc-rust/", env!("CARGO_PKG_VERSION")));
}

#[tokio::test]
async fn the_deadline_is_sent_as_grpc_timeout() {
    let (server, mut seen) = header_capturing_server().await;
    let channel = channel(&server).await;
    let mut request = Request::new(Bytes::new());
    request
        .extensions_mut()
        .insert(CallOptions::new().timeout(Duration::from_secs(30)));
    channel
        .unary(request, "/pkg.Svc/Method", BytesCodec)
        .await
        .unwrap();
    let fields = seen.recv().await.unwrap();
    let timeout =
        grpc_core::timeout::decode_timeout(get(&fields, "grpc-timeout").unwrap().as_bytes())
            .unwrap();
    assert!(
        timeout <= Duration::from_secs(30) && timeout > Duration::from_secs(20),
        "{timeout:?}"
    );
}

#[tokio::test]
async fn a_user_agent_prefix_comes_first() {
    let (server, mut seen) = header_capturing_server().await;
    let channel = Channel::builder(&server.target())
        .user_agent("my-app/1.2")
        .connect()
        .await
        .unwrap();
    channel
        .unary(Request::new(Bytes::new()), "/pkg.Svc/Method", BytesCodec)
        .await
        .unwrap();
    let fields = seen.recv().await.unwrap();
    let user_agent = get(&fields, "user-agent").unwrap();
    assert!(
        user_agent.starts_with("my-app/1.2 grpc-rust/"),
        "{user_agent}"
    );
    assert!(
        Channel::builder("h:1")
            .user_agent("bad\nagent")
            .connect_lazy()
            .is_err()
    );
}

#[tokio::test]
async fn custom_metadata_is_sent_ascii_and_binary() {
    let (server, mut seen) = header_capturing_server().await;
    let channel = channel(&server).await;
    let mut request = Request::new(Bytes::new());
    request.metadata_mut().insert("x-user", "alice").unwrap();
    request.metadata_mut().append("x-tag", "a").unwrap();
    request.metadata_mut().append("x-tag", "b").unwrap();
    request
        .metadata_mut()
        .insert_bin("x-blob-bin", Bytes::from_static(&[0, 1, 2, 255]))
        .unwrap();
    request
        .metadata_mut()
        .insert("authorization", "Bearer by-hand")
        .unwrap();
    channel
        .unary(request, "/pkg.Svc/Method", BytesCodec)
        .await
        .unwrap();
    let fields = seen.recv().await.unwrap();
    assert_eq!(get(&fields, "x-user"), Some("alice"));
    let tags: Vec<_> = fields
        .iter()
        .filter(|f| &f.name[..] == b"x-tag")
        .map(|f| &f.value[..])
        .collect();
    assert_eq!(tags, [&b"a"[..], b"b"]);
    // Unpadded base64 of 00 01 02 ff.
    assert_eq!(get(&fields, "x-blob-bin"), Some("AAEC/w"));
    let authorization = fields
        .iter()
        .find(|f| &f.name[..] == b"authorization")
        .unwrap();
    assert!(
        authorization.sensitive,
        "authorization is sent never-indexed"
    );
    let received =
        Metadata::from_header_fields(fields.iter().map(|f| (&f.name, &f.value))).unwrap();
    assert_eq!(received.get_bin("x-blob-bin").unwrap()[..], [0, 1, 2, 255]);
}

#[tokio::test]
async fn response_headers_and_trailers_are_exposed() {
    let server = TestServer::start(|mut call: ServerCall| async move {
        call.messages().await;
        // "hi" in unpadded base64; binary values may arrive padded or joined with commas too.
        call.send_headers_with(&[
            ("x-header", "h"),
            ("x-header-bin", "aGk"),
            ("x-multi-bin", "AQ==,Ag"),
        ]);
        call.send_message(b"body").await;
        call.send_status_with(
            Code::Ok,
            "",
            &[("x-trailer", "t"), ("x-trailer-bin", "AAE")],
        );
    })
    .await;
    let channel = channel(&server).await;
    let response = channel
        .unary(Request::new(Bytes::new()), "/pkg.Svc/Method", BytesCodec)
        .await
        .unwrap();
    assert_eq!(response.metadata().get("x-header"), Some("h"));
    assert_eq!(
        response.metadata().get_bin("x-header-bin").unwrap()[..],
        *b"hi"
    );
    let multi: Vec<_> = response
        .metadata()
        .get_all_bin("x-multi-bin")
        .map(|v| v.to_vec())
        .collect();
    assert_eq!(multi, [vec![1], vec![2]]);
    assert!(
        !response.metadata().contains_key("content-type"),
        "reserved headers are not metadata"
    );
    assert_eq!(response.trailers().get("x-trailer"), Some("t"));
    assert_eq!(
        response.trailers().get_bin("x-trailer-bin").unwrap()[..],
        [0, 1]
    );
    assert!(!response.trailers().contains_key("grpc-status"));

    // Streams: headers on the response, trailers at the end.
    let response = channel
        .server_streaming(Request::new(Bytes::new()), "/pkg.Svc/Stream", BytesCodec)
        .await
        .unwrap();
    assert_eq!(response.metadata().get("x-header"), Some("h"));
    let mut stream = response.into_inner();
    assert_eq!(stream.headers().get("x-header"), Some("h"));
    assert_eq!(stream.trailers().await.unwrap().get("x-trailer"), Some("t"));

    let mut call = channel
        .streaming(Request::new(()), "/pkg.Svc/Chat", BytesCodec)
        .await
        .unwrap();
    assert!(call.headers().is_empty(), "no headers before they arrive");
    call.close_send().await.unwrap();
    assert_eq!(
        call.wait_headers().await.unwrap().get("x-header"),
        Some("h")
    );
    assert_eq!(call.message().await.unwrap().unwrap(), "body");
    assert_eq!(call.trailers().await.unwrap().get("x-trailer"), Some("t"));

    let call = channel
        .client_streaming(Request::new(()), "/pkg.Svc/Collect", BytesCodec)
        .await
        .unwrap();
    let response = call.finish().await.unwrap();
    assert_eq!(response.metadata().get("x-header"), Some("h"));
    assert_eq!(response.trailers().get("x-trailer"), Some("t"));
}

/// Adds a header after an await point, counting its calls.
struct AsyncStamp {
    calls: Arc<AtomicUsize>,
}

impl Interceptor for AsyncStamp {
    fn intercept<'a>(&'a self, call: &'a mut CallContext) -> BoxFuture<'a, Result<(), Status>> {
        Box::pin(async move {
            tokio::task::yield_now().await;
            let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
            let stamp = format!("{}#{n}", call.method());
            call.metadata_mut().insert("x-stamp", &stamp).unwrap();
            Ok(())
        })
    }
}

#[tokio::test]
async fn interceptors_add_metadata_and_change_options_in_order() {
    let (server, mut seen) = header_capturing_server().await;
    let calls = Arc::new(AtomicUsize::new(0));
    let channel = Channel::builder(&server.target())
        .interceptor(AsyncStamp {
            calls: calls.clone(),
        })
        .interceptor(interceptor_fn(|call| {
            // Runs second: sees the first interceptor's metadata.
            let stamp = call.metadata().get("x-stamp").unwrap().to_owned();
            call.metadata_mut().insert("x-seen-stamp", &stamp).unwrap();
            assert_eq!(call.service(), "pkg.Svc");
            assert_eq!(call.path(), format!("/pkg.Svc/{}", call.method()));
            call.options_mut().timeout = Some(Duration::from_secs(60));
            Ok(())
        }))
        .connect()
        .await
        .unwrap();
    for _ in 0..2 {
        channel
            .unary(Request::new(Bytes::new()), "/pkg.Svc/Method", BytesCodec)
            .await
            .unwrap();
    }
    seen.recv().await.unwrap();
    let fields = seen.recv().await.unwrap();
    assert_eq!(get(&fields, "x-stamp"), Some("Method#2"));
    assert_eq!(get(&fields, "x-seen-stamp"), Some("Method#2"));
    assert!(
        get(&fields, "grpc-timeout").is_some(),
        "the interceptor's timeout is the deadline"
    );
    assert_eq!(calls.load(Ordering::SeqCst), 2);

    // Streaming calls are intercepted too.
    let call = channel
        .client_streaming(Request::new(()), "/pkg.Svc/Collect", BytesCodec)
        .await
        .unwrap();
    call.finish().await.unwrap();
    let fields = seen.recv().await.unwrap();
    assert_eq!(get(&fields, "x-stamp"), Some("Collect#3"));
}

#[tokio::test]
async fn an_interceptor_can_reject_a_call_before_anything_is_sent() {
    let server = TestServer::start(support::echo).await;
    let channel = Channel::builder(&server.target())
        .interceptor(interceptor_fn(|call| {
            if call.metadata().get("x-allowed").is_none() {
                return Err(Status::permission_denied("not allowed"));
            }
            Ok(())
        }))
        .connect_lazy()
        .unwrap();
    let status = channel
        .unary(Request::new(Bytes::new()), "/pkg.Svc/Method", BytesCodec)
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    let status = channel
        .streaming(Request::new(()), "/pkg.Svc/Chat", BytesCodec)
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    assert_eq!(
        server.connection_count(),
        0,
        "a rejected call does not even connect"
    );

    let mut request = Request::new(Bytes::from_static(b"ok"));
    request.metadata_mut().insert("x-allowed", "yes").unwrap();
    channel
        .unary(request, "/pkg.Svc/Method", BytesCodec)
        .await
        .unwrap();
    assert_eq!(server.request_count(), 1);
}

#[tokio::test]
async fn interceptors_can_read_request_extensions() {
    #[derive(Clone)]
    struct Tenant(&'static str);
    let (server, mut seen) = header_capturing_server().await;
    let channel = Channel::builder(&server.target())
        .interceptor(interceptor_fn(|call| {
            let tenant = call.extensions().get::<Tenant>().map_or("none", |t| t.0);
            call.metadata_mut().insert("x-tenant", tenant).unwrap();
            Ok(())
        }))
        .connect()
        .await
        .unwrap();
    let mut request = Request::new(Bytes::new());
    request.extensions_mut().insert(Tenant("acme"));
    channel
        .unary(request, "/pkg.Svc/Method", BytesCodec)
        .await
        .unwrap();
    assert_eq!(get(&seen.recv().await.unwrap(), "x-tenant"), Some("acme"));
}
