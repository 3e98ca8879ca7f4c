//! The server's stats handler: every call reports its headers, messages (with sizes),
//! trailers and exactly one end with its final status, for every kind.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use grpc_client::Channel;
use grpc_core::codec::BytesCodec;
use grpc_core::stats::{CallEvent, CallObserver, CallStart, Side, StatsHandler};
use grpc_server::{Request, Response, ResponseSink, Server, Status};

#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<Vec<Vec<String>>>>);

struct CallLog(Arc<Mutex<Vec<Vec<String>>>>, usize);

impl StatsHandler for Recorder {
    fn call_started(&self, call: &CallStart<'_>) -> Option<Box<dyn CallObserver>> {
        assert_eq!(call.side, Side::Server);
        assert!(
            call.peer.is_some_and(|p| p.starts_with("127.0.0.1:")),
            "{:?}",
            call.peer
        );
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
    async fn ended(&self, n: usize) -> Vec<Vec<String>> {
        for _ in 0..500 {
            let calls = self.0.lock().unwrap().clone();
            let done = calls
                .iter()
                .filter(|c| c.last().is_some_and(|l| l.starts_with("end")))
                .count();
            if done >= n {
                return calls;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("calls never ended: {:?}", self.0.lock().unwrap());
    }
}

#[tokio::test]
async fn every_call_reports_its_events_and_one_end() {
    let recorder = Recorder::default();
    let bound =
        Server::builder()
            .stats_handler(Arc::new(recorder.clone()))
            .add_routes(|routes| {
                routes.unary("/t.S/Echo", BytesCodec, |request: Request<Bytes>| async move {
                Ok(Response::new(request.into_inner()))
            });
                routes.unary("/t.S/Fail", BytesCodec, |_: Request<Bytes>| async move {
                    Err::<Response<Bytes>, _>(Status::not_found("nothing here"))
                });
                routes.server_streaming(
                    "/t.S/Many",
                    BytesCodec,
                    |_: Request<Bytes>, sink: &mut ResponseSink<Bytes>| {
                        Box::pin(async move {
                            for _ in 0..3 {
                                sink.send(Bytes::from_static(b"abc")).await?;
                            }
                            Ok(())
                        })
                    },
                );
            })
            .bind("127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
    let addr = bound.local_addr();
    tokio::spawn(bound.serve());
    let channel = Channel::builder(&format!("http://{addr}"))
        .connect()
        .await
        .unwrap();
    channel
        .unary(
            Request::new(Bytes::from_static(b"hello")),
            "/t.S/Echo",
            BytesCodec,
        )
        .await
        .unwrap();
    channel
        .unary(Request::new(Bytes::new()), "/t.S/Fail", BytesCodec)
        .await
        .unwrap_err();
    let mut stream = channel
        .server_streaming(Request::new(Bytes::new()), "/t.S/Many", BytesCodec)
        .await
        .unwrap()
        .into_inner();
    while stream.message().await.unwrap().is_some() {}
    channel
        .unary(Request::new(Bytes::new()), "/t.S/Missing", BytesCodec)
        .await
        .unwrap_err();
    let calls = recorder.ended(4).await;
    let find = |path: &str| {
        calls
            .iter()
            .find(|c| c[0].contains(path))
            .unwrap_or_else(|| panic!("no call to {path}: {calls:?}"))
            .clone()
    };
    let strs = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert_eq!(
        find("/t.S/Echo"),
        strs(&[
            "start /t.S/Echo Unary",
            "headers in",
            "in 5",
            "out 5/10",
            "trailers",
            "end Ok"
        ])
    );
    assert_eq!(
        find("/t.S/Fail"),
        strs(&[
            "start /t.S/Fail Unary",
            "headers in",
            "in 0",
            "trailers",
            "end NotFound"
        ])
    );
    let many = find("/t.S/Many");
    assert_eq!(many[0], "start /t.S/Many ServerStreaming");
    assert_eq!(many.iter().filter(|l| *l == "out 3/8").count(), 3);
    assert_eq!(many.iter().filter(|l| *l == "headers out").count(), 1);
    assert_eq!(many.last().unwrap(), "end Ok");
    let missing = find("/t.S/Missing");
    assert_eq!(missing[0], "start /t.S/Missing Unknown");
    assert_eq!(missing.last().unwrap(), "end Unimplemented");
}
