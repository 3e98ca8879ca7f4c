//! The channel's stats handler: every call reports its headers, messages (with sizes),
//! trailers and exactly one end with its final status.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use grpc_client::{Channel, Code, Request};
use grpc_core::codec::BytesCodec;
use grpc_core::stats::{CallEvent, CallObserver, CallStart, Side, StatsHandler};
use support::{ServerCall, TestServer};

/// Every call's events, as short strings.
#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<Vec<Vec<String>>>>);

struct CallLog(Arc<Mutex<Vec<Vec<String>>>>, usize);

impl StatsHandler for Recorder {
    fn call_started(&self, call: &CallStart<'_>) -> Option<Box<dyn CallObserver>> {
        assert_eq!(call.side, Side::Client);
        let mut calls = self.0.lock().unwrap();
        calls.push(vec![format!("start {} {:?}", call.path, call.kind)]);
        Some(Box::new(CallLog(self.0.clone(), calls.len() - 1)))
    }
}

impl CallObserver for CallLog {
    fn event(&mut self, event: &CallEvent<'_>) {
        let line = match event {
            CallEvent::HeadersOut { .. } => "headers out".to_owned(),
            CallEvent::HeadersIn { .. } => "headers in".to_owned(),
            CallEvent::MessageOut { size, wire_size } => format!("out {size}/{wire_size}"),
            CallEvent::MessageIn { size } => format!("in {size}"),
            CallEvent::Trailers { .. } => "trailers".to_owned(),
            CallEvent::End { status, .. } => format!("end {:?}", status.code()),
            _ => "other".to_owned(),
        };
        self.0.lock().unwrap()[self.1].push(line);
    }
}

impl Recorder {
    fn calls(&self) -> Vec<Vec<String>> {
        self.0.lock().unwrap().clone()
    }

    /// Waits (bounded) until `n` calls have ended.
    async fn ended(&self, n: usize) -> Vec<Vec<String>> {
        for _ in 0..500 {
            let calls = self.calls();
            let done = calls
                .iter()
                .filter(|c| c.last().is_some_and(|l| l.starts_with("end")))
                .count();
            if done >= n {
                return calls;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("calls never ended: {:?}", self.calls());
    }
}

async fn setup(recorder: &Recorder) -> (TestServer, Channel) {
    let server = TestServer::start(|mut call: ServerCall| async move {
        match call.path() {
            "/t.S/Fail" => {
                call.message().await;
                call.send_trailers_only(Code::NotFound, "no such thing");
            }
            "/t.S/Many" => {
                call.message().await;
                call.send_headers();
                for _ in 0..3 {
                    call.send_message(b"abc").await;
                }
                call.send_status(Code::Ok, "");
            }
            "/t.S/Hang" => std::future::pending().await,
            _ => {
                let all = call.messages().await.concat();
                call.reply(&all).await;
            }
        }
    })
    .await;
    let channel = Channel::builder(&server.target())
        .stats_handler(Arc::new(recorder.clone()))
        .connect()
        .await
        .unwrap();
    (server, channel)
}

fn lines(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[tokio::test]
async fn unary_calls_report_every_event_and_one_end() {
    let recorder = Recorder::default();
    let (_server, channel) = setup(&recorder).await;
    channel
        .unary(
            Request::new(Bytes::from_static(b"hello")),
            "/t.S/Echo",
            BytesCodec,
        )
        .await
        .unwrap();
    let err = channel
        .unary(
            Request::new(Bytes::from_static(b"x")),
            "/t.S/Fail",
            BytesCodec,
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    let calls = recorder.ended(2).await;
    assert_eq!(
        calls[0],
        lines(&[
            "start /t.S/Echo Unary",
            "out 5/10",
            "headers out",
            "headers in",
            "in 5",
            "trailers",
            "end Ok"
        ])
    );
    assert_eq!(
        calls[1],
        lines(&[
            "start /t.S/Fail Unary",
            "out 1/6",
            "headers out",
            "trailers",
            "end NotFound"
        ])
    );
}

#[tokio::test]
async fn streaming_calls_end_when_their_response_stream_does() {
    let recorder = Recorder::default();
    let (_server, channel) = setup(&recorder).await;
    let mut stream = channel
        .server_streaming(Request::new(Bytes::new()), "/t.S/Many", BytesCodec)
        .await
        .unwrap()
        .into_inner();
    while stream.message().await.unwrap().is_some() {}
    let mut call = channel
        .client_streaming(Request::new(()), "/t.S/Collect", BytesCodec)
        .await
        .unwrap();
    call.send(Bytes::from_static(b"ab")).await.unwrap();
    call.send(Bytes::from_static(b"cd")).await.unwrap();
    call.finish().await.unwrap();
    let calls = recorder.ended(2).await;
    assert_eq!(calls[0][0], "start /t.S/Many ServerStreaming");
    assert_eq!(calls[0].iter().filter(|l| *l == "in 3").count(), 3);
    assert_eq!(calls[0].last().unwrap(), "end Ok");
    assert_eq!(calls[1][0], "start /t.S/Collect ClientStreaming");
    assert_eq!(
        calls[1].iter().filter(|l| l.starts_with("out 2/7")).count(),
        2
    );
    assert_eq!(calls[1].last().unwrap(), "end Ok");
    assert_eq!(calls[1].iter().filter(|l| l.starts_with("end")).count(), 1);
}

#[tokio::test]
async fn a_dropped_call_ends_cancelled_and_a_failed_setup_ends_too() {
    let recorder = Recorder::default();
    let (_server, channel) = setup(&recorder).await;
    let call = channel
        .streaming(Request::new(()), "/t.S/Hang", BytesCodec)
        .await
        .unwrap();
    drop(call);
    let mut request = Request::new(Bytes::new());
    request.set_timeout(Duration::from_millis(50));
    let err = channel
        .unary(request, "/t.S/Hang", BytesCodec)
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::DeadlineExceeded);
    let calls = recorder.ended(2).await;
    assert_eq!(calls[0].first().unwrap(), "start /t.S/Hang BidiStreaming");
    assert_eq!(calls[0].last().unwrap(), "end Cancelled");
    assert_eq!(calls[1].last().unwrap(), "end DeadlineExceeded");
    assert_eq!(calls[1].iter().filter(|l| l.starts_with("end")).count(), 1);
}
