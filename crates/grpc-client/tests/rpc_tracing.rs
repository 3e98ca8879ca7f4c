//! Every call gets a `grpc.client` span with `rpc.service`, `rpc.method` and, once the call
//! ends, `grpc.status_code`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::HashMap;
use std::fmt::Debug;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use grpc_client::{Code, Request};
use grpc_core::codec::BytesCodec;
use support::{ServerCall, TestServer, channel};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

/// Records the fields of every `grpc.client` span (shared, so the test can read them after
/// the subscriber is installed).
#[derive(Clone, Default)]
struct SpanRecorder {
    next_id: Arc<AtomicU64>,
    spans: Arc<Mutex<HashMap<u64, HashMap<String, String>>>>,
}

struct Fields<'a>(&'a mut HashMap<String, String>);

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
}

impl Subscriber for SpanRecorder {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }

    fn new_span(&self, span: &Attributes<'_>) -> Id {
        let id = self.next_id.fetch_add(1, Ordering::SeqCst) + 1;
        if span.metadata().name() == "grpc.client" {
            let mut fields = HashMap::new();
            span.record(&mut Fields(&mut fields));
            self.spans.lock().unwrap().insert(id, fields);
        }
        Id::from_u64(id)
    }

    fn record(&self, span: &Id, values: &Record<'_>) {
        if let Some(fields) = self.spans.lock().unwrap().get_mut(&span.into_u64()) {
            values.record(&mut Fields(fields));
        }
    }

    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, _: &Event<'_>) {}
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

#[tokio::test(flavor = "current_thread")]
async fn calls_are_traced_with_service_method_and_status_code() {
    let recorder = SpanRecorder::default();
    let _guard = tracing::subscriber::set_default(recorder.clone());
    let server = TestServer::start(|mut call: ServerCall| async move {
        call.message().await;
        if call.path().ends_with("/Fail") {
            call.send_trailers_only(Code::NotFound, "nope");
        } else {
            call.reply(b"ok").await;
        }
    })
    .await;
    let channel = channel(&server).await;
    channel
        .unary(Request::new(Bytes::new()), "/pkg.Svc/Ok", BytesCodec)
        .await
        .unwrap();
    channel
        .unary(Request::new(Bytes::new()), "/pkg.Svc/Fail", BytesCodec)
        .await
        .unwrap_err();
    let mut stream = channel
        .server_streaming(Request::new(Bytes::new()), "/pkg.Svc/Ok", BytesCodec)
        .await
        .unwrap()
        .into_inner();
    while stream.message().await.unwrap().is_some() {}

    let spans = recorder.spans.lock().unwrap();
    let mut seen: Vec<(String, String, String)> = spans
        .values()
        .map(|f| {
            (
                f.get("rpc.method").cloned().unwrap_or_default(),
                f.get("rpc.service").cloned().unwrap_or_default(),
                f.get("grpc.status_code").cloned().unwrap_or_default(),
            )
        })
        .collect();
    seen.sort();
    assert_eq!(
        seen,
        [
            ("Fail".into(), "pkg.Svc".into(), "5".into()),
            ("Ok".into(), "pkg.Svc".into(), "0".into()),
            ("Ok".into(), "pkg.Svc".into(), "0".into()),
        ]
    );
    assert!(
        spans
            .values()
            .all(|f| f.get("rpc.system").map(String::as_str) == Some("grpc"))
    );
    let peer = server.addr.to_string();
    for fields in spans.values() {
        assert_eq!(
            fields.get("network.peer.address"),
            Some(&peer),
            "{fields:?}"
        );
        let duration: f64 = fields
            .get("grpc.duration_ms")
            .and_then(|d| d.parse().ok())
            .expect("grpc.duration_ms recorded");
        assert!(duration >= 0.0, "{fields:?}");
    }
}
