//! The per-call tracing span. In a test binary of its own: tracing caches each callsite's
//! interest process-wide, and other tests running in parallel without a subscriber would
//! race with the thread-local subscriber set here.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::{Arc, Mutex};

use grpc_core::Code;
use support::*;

/// A span's id and its recorded fields.
type SpanFields = (u64, Vec<(String, String)>);

/// Records spans named `grpc.request` with their fields.
#[derive(Default)]
struct SpanRecorder {
    spans: Mutex<Vec<SpanFields>>,
    next_id: std::sync::atomic::AtomicU64,
}

struct Fields<'a>(&'a mut Vec<(String, String)>);

impl tracing::field::Visit for Fields<'_> {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        self.0.push((field.name().to_owned(), format!("{value:?}")));
    }

    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        self.0.push((field.name().to_owned(), value.to_owned()));
    }
}

impl tracing::Subscriber for SpanRecorder {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }

    fn new_span(&self, attrs: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        let id = self
            .next_id
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            + 1;
        if attrs.metadata().name() == "grpc.request" {
            let mut fields = Vec::new();
            attrs.record(&mut Fields(&mut fields));
            self.spans.lock().unwrap().push((id, fields));
        }
        tracing::span::Id::from_u64(id)
    }

    fn record(&self, span: &tracing::span::Id, values: &tracing::span::Record<'_>) {
        let mut spans = self.spans.lock().unwrap();
        if let Some((_, fields)) = spans.iter_mut().find(|(id, _)| *id == span.into_u64()) {
            values.record(&mut Fields(fields));
        }
    }

    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, _: &tracing::Event<'_>) {}
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

fn field<'a>(fields: &'a [(String, String)], name: &str) -> Option<&'a str> {
    fields
        .iter()
        .rev()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

// One thread, so the thread-local subscriber sees every task.
#[tokio::test(flavor = "current_thread")]
async fn a_span_per_call_with_its_status() {
    let recorder = Arc::new(SpanRecorder::default());
    let _guard = tracing::subscriber::set_default(recorder.clone());
    let (addr, _handle, _events) = start().await;
    let client = TestClient::connect(addr).await;
    client.unary(UNARY, b"x").await.assert_ok();
    let reply = client
        .unary_with(with(grpc_headers(UNARY), "x-fail-code", "5"), b"x")
        .await;
    assert_eq!(reply.code(), Code::NotFound);
    client.unary(SERVER_STREAM, b"1,1").await.assert_ok();

    let spans = recorder.spans.lock().unwrap().clone();
    assert_eq!(spans.len(), 3, "{spans:?}");
    let expect = [("Unary", "0"), ("Unary", "5"), ("ServerStream", "0")];
    for ((_, fields), (method, code)) in spans.iter().zip(expect) {
        assert_eq!(
            field(fields, "rpc.service"),
            Some("test.Echo"),
            "{fields:?}"
        );
        assert_eq!(field(fields, "rpc.method"), Some(method), "{fields:?}");
        assert_eq!(field(fields, "rpc.system"), Some("grpc"), "{fields:?}");
        assert_eq!(field(fields, "otel.kind"), Some("server"), "{fields:?}");
        assert_eq!(field(fields, "grpc.status_code"), Some(code), "{fields:?}");
        let peer = field(fields, "network.peer.address").unwrap_or_default();
        assert!(peer.starts_with("127.0.0.1:"), "{fields:?}");
        let duration: f64 = field(fields, "grpc.duration_ms")
            .and_then(|d| d.parse().ok())
            .expect("grpc.duration_ms recorded");
        assert!(duration >= 0.0, "{fields:?}");
    }
}
