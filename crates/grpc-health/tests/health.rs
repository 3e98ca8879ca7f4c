//! The Health service over real connections: a server on 127.0.0.1 and a grpc-client
//! channel calling Check, List and Watch with the prost codec.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::future::Future;
use std::time::Duration;

use grpc_client::{Channel, Streaming};
use grpc_core::codec::ProstCodec;
use grpc_core::{Code, Request, Status};
use grpc_health::{
    HealthCheckRequest, HealthCheckResponse, HealthListRequest, HealthListResponse, HealthReporter,
    MAX_LIST_SERVICES, ServingStatus,
};
use grpc_server::{Server, ServerHandle};

const CHECK: &str = "/grpc.health.v1.Health/Check";
const LIST: &str = "/grpc.health.v1.Health/List";
const WATCH: &str = "/grpc.health.v1.Health/Watch";

/// A hang guard, far above anything these tests need; never a measure of speed.
const PATIENCE: Duration = Duration::from_secs(30);

async fn patiently<F: Future>(future: F) -> F::Output {
    tokio::time::timeout(PATIENCE, future)
        .await
        .expect("timed out waiting")
}

/// A server with the health service (and its graceful-shutdown hook) and a channel to it.
async fn start() -> (HealthReporter, ServerHandle, Channel) {
    start_with(Channel::builder).await
}

async fn start_with(
    channel: impl FnOnce(&str) -> grpc_client::ChannelBuilder,
) -> (HealthReporter, ServerHandle, Channel) {
    let (reporter, health) = grpc_health::health_service();
    let server = Server::builder()
        .add_service(health)
        .on_graceful_shutdown(reporter.shutdown_hook())
        .bind("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let addr = server.local_addr();
    let handle = server.handle();
    tokio::spawn(server.serve());
    let channel = channel(&format!("http://{addr}")).connect().await.unwrap();
    (reporter, handle, channel)
}

fn request(service: &str) -> Request<HealthCheckRequest> {
    Request::new(HealthCheckRequest {
        service: service.to_owned(),
    })
}

async fn check(channel: &Channel, service: &str) -> Result<ServingStatus, Status> {
    let codec = ProstCodec::<HealthCheckRequest, HealthCheckResponse>::new();
    let response = patiently(channel.unary(request(service), CHECK, codec)).await?;
    Ok(response.into_inner().status())
}

async fn list(channel: &Channel) -> Result<HealthListResponse, Status> {
    let codec = ProstCodec::<HealthListRequest, HealthListResponse>::new();
    let response =
        patiently(channel.unary(Request::new(HealthListRequest {}), LIST, codec)).await?;
    Ok(response.into_inner())
}

async fn watch(channel: &Channel, service: &str) -> Streaming<HealthCheckResponse> {
    let codec = ProstCodec::<HealthCheckRequest, HealthCheckResponse>::new();
    patiently(channel.server_streaming(request(service), WATCH, codec))
        .await
        .unwrap()
        .into_inner()
}

/// The next status on a Watch stream (fails if the stream ends).
async fn next(stream: &mut Streaming<HealthCheckResponse>) -> ServingStatus {
    patiently(stream.message())
        .await
        .unwrap()
        .expect("the Watch stream ended")
        .status()
}

/// Waits until `service` has exactly `count` Watch calls.
async fn until_watchers(reporter: &HealthReporter, service: &str, count: usize) {
    patiently(async {
        while reporter.watchers(service) != count {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
}

#[tokio::test]
async fn check_answers_known_services_and_not_found() {
    let (reporter, _handle, channel) = start().await;
    // The server as a whole starts SERVING.
    assert_eq!(check(&channel, "").await.unwrap(), ServingStatus::Serving);
    let unknown = check(&channel, "greeter.v1.Greeter").await.unwrap_err();
    assert_eq!(unknown.code(), Code::NotFound, "{unknown}");

    reporter.set_not_serving("greeter.v1.Greeter");
    assert_eq!(
        check(&channel, "greeter.v1.Greeter").await.unwrap(),
        ServingStatus::NotServing
    );
    reporter.set_serving("greeter.v1.Greeter");
    assert_eq!(
        check(&channel, "greeter.v1.Greeter").await.unwrap(),
        ServingStatus::Serving
    );
    reporter.set_serving_status("greeter.v1.Greeter", ServingStatus::Unknown);
    assert_eq!(
        check(&channel, "greeter.v1.Greeter").await.unwrap(),
        ServingStatus::Unknown
    );
    reporter.clear_status("greeter.v1.Greeter");
    assert_eq!(
        check(&channel, "greeter.v1.Greeter")
            .await
            .unwrap_err()
            .code(),
        Code::NotFound
    );
    // The whole server can be forgotten too.
    reporter.clear_status("");
    assert_eq!(
        check(&channel, "").await.unwrap_err().code(),
        Code::NotFound
    );
}

/// Gives the server's handlers time to run (and send whatever they would send). Not a
/// measure of speed: a correct server sends nothing during it.
async fn settle() {
    tokio::time::sleep(Duration::from_millis(50)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_sends_the_current_status_then_each_change_once() {
    let (reporter, _handle, channel) = start().await;
    reporter.set_serving("svc");
    let mut stream = watch(&channel, "svc").await;
    assert_eq!(next(&mut stream).await, ServingStatus::Serving);

    // A repeated status sends nothing: had it, the next message would be SERVING.
    reporter.set_serving("svc");
    settle().await;
    reporter.set_not_serving("svc");
    assert_eq!(next(&mut stream).await, ServingStatus::NotServing);
    reporter.set_not_serving("svc");
    settle().await;
    reporter.set_serving("svc");
    assert_eq!(next(&mut stream).await, ServingStatus::Serving);
    // Other services' changes do not reach this stream.
    reporter.set_not_serving("other");
    reporter.set_not_serving("");
    reporter.clear_status("svc");
    assert_eq!(next(&mut stream).await, ServingStatus::ServiceUnknown);
    assert_eq!(reporter.watchers("svc"), 1);
}

#[tokio::test]
async fn watch_of_an_unknown_service_stays_open_until_it_is_known() {
    let (reporter, _handle, channel) = start().await;
    let mut stream = watch(&channel, "later.v1.Later").await;
    assert_eq!(next(&mut stream).await, ServingStatus::ServiceUnknown);
    // Watching does not make the service known.
    assert_eq!(reporter.status("later.v1.Later"), None);
    assert_eq!(
        check(&channel, "later.v1.Later").await.unwrap_err().code(),
        Code::NotFound
    );
    assert!(
        !list(&channel)
            .await
            .unwrap()
            .statuses
            .contains_key("later.v1.Later")
    );

    reporter.set_serving("later.v1.Later");
    assert_eq!(next(&mut stream).await, ServingStatus::Serving);
    reporter.clear_status("later.v1.Later");
    assert_eq!(next(&mut stream).await, ServingStatus::ServiceUnknown);
    reporter.set_not_serving("later.v1.Later");
    assert_eq!(next(&mut stream).await, ServingStatus::NotServing);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_watchers_all_follow_the_changes() {
    const WATCHERS: usize = 64;
    let (reporter, _handle, channel) = start().await;
    reporter.set_serving("svc");
    let mut streams = Vec::new();
    for _ in 0..WATCHERS {
        streams.push(watch(&channel, "svc").await);
    }
    for stream in &mut streams {
        assert_eq!(next(stream).await, ServingStatus::Serving);
    }
    assert_eq!(reporter.watchers("svc"), WATCHERS);
    reporter.set_not_serving("svc");
    for stream in &mut streams {
        assert_eq!(next(stream).await, ServingStatus::NotServing);
    }
    drop(streams);
    until_watchers(&reporter, "svc", 0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watcher_that_does_not_read_never_blocks_reporters() {
    const FLIPS: usize = 50_000;
    // Fixed 64 KiB windows: the server can get at most about (window + its 64 KiB send
    // buffer) / 7 bytes, some 19 000 messages, ahead of a client that does not read.
    let (reporter, _handle, channel) = start_with(|target| {
        Channel::builder(target)
            .initial_stream_window_size(65_535)
            .initial_connection_window_size(65_535)
    })
    .await;
    let mut stalled = watch(&channel, "svc").await;
    until_watchers(&reporter, "svc", 1).await;

    // Reporters are synchronous: if they waited for the watcher this would never finish.
    let flipper = reporter.clone();
    patiently(tokio::task::spawn_blocking(move || {
        for i in 0..FLIPS {
            if i % 2 == 0 {
                flipper.set_serving("svc");
            } else {
                flipper.set_not_serving("svc");
            }
        }
        // A status not used above, to recognise the end.
        flipper.set_serving_status("svc", ServingStatus::Unknown);
    }))
    .await
    .unwrap();

    // The watcher now reads: it skipped statuses (it could not have buffered them all)
    // and ends on the latest.
    let mut received = 0;
    let mut last = None;
    loop {
        let status = next(&mut stalled).await;
        received += 1;
        assert_ne!(Some(status), last, "the same status twice in a row");
        last = Some(status);
        if status == ServingStatus::Unknown {
            break;
        }
    }
    assert!(received < FLIPS, "received {received} of {FLIPS} statuses");
    // And it still follows changes.
    reporter.set_serving("svc");
    assert_eq!(next(&mut stalled).await, ServingStatus::Serving);
}

#[tokio::test]
async fn list_answers_every_known_service() {
    let (reporter, _handle, channel) = start().await;
    reporter.set_serving("a.v1.A");
    reporter.set_not_serving("b.v1.B");
    let _watching = watch(&channel, "watched.v1.Only").await;
    until_watchers(&reporter, "watched.v1.Only", 1).await;

    let statuses = list(&channel).await.unwrap().statuses;
    let mut statuses: Vec<(String, ServingStatus)> = statuses
        .into_iter()
        .map(|(name, response)| (name, response.status()))
        .collect();
    statuses.sort();
    assert_eq!(
        statuses,
        [
            (String::new(), ServingStatus::Serving),
            ("a.v1.A".to_owned(), ServingStatus::Serving),
            ("b.v1.B".to_owned(), ServingStatus::NotServing),
        ]
    );

    // gRFC A90: at most 100 services; more is RESOURCE_EXHAUSTED.
    for i in 3..MAX_LIST_SERVICES {
        reporter.set_serving(&format!("s{i}"));
    }
    assert_eq!(
        list(&channel).await.unwrap().statuses.len(),
        MAX_LIST_SERVICES
    );
    reporter.set_serving("one.too.Many");
    let error = list(&channel).await.unwrap_err();
    assert_eq!(error.code(), Code::ResourceExhausted, "{error}");
    reporter.clear_status("one.too.Many");
    assert_eq!(
        list(&channel).await.unwrap().statuses.len(),
        MAX_LIST_SERVICES
    );
}

#[tokio::test]
async fn shutdown_and_resume_reach_open_watches() {
    let (reporter, _handle, channel) = start().await;
    reporter.set_serving("svc");
    reporter.set_not_serving("down");
    let mut server = watch(&channel, "").await;
    let mut svc = watch(&channel, "svc").await;
    assert_eq!(next(&mut server).await, ServingStatus::Serving);
    assert_eq!(next(&mut svc).await, ServingStatus::Serving);

    reporter.shutdown();
    assert_eq!(next(&mut server).await, ServingStatus::NotServing);
    assert_eq!(next(&mut svc).await, ServingStatus::NotServing);
    // Sets are recorded but not shown while shut down.
    reporter.set_serving("down");
    reporter.set_serving("new");
    for service in ["", "svc", "down", "new"] {
        assert_eq!(
            check(&channel, service).await.unwrap(),
            ServingStatus::NotServing,
            "{service}"
        );
    }

    reporter.resume();
    assert_eq!(next(&mut server).await, ServingStatus::Serving);
    assert_eq!(next(&mut svc).await, ServingStatus::Serving);
    assert_eq!(
        check(&channel, "down").await.unwrap(),
        ServingStatus::Serving
    );
    assert_eq!(
        check(&channel, "new").await.unwrap(),
        ServingStatus::Serving
    );
    // A new Watch works as before.
    let mut again = watch(&channel, "svc").await;
    assert_eq!(next(&mut again).await, ServingStatus::Serving);
}

/// The end of a Watch stream closed by the server's graceful shutdown: UNAVAILABLE.
async fn assert_ended_by_shutdown(stream: &mut Streaming<HealthCheckResponse>) {
    let end = patiently(stream.message()).await;
    let status = end.expect_err("the stream ends with a status");
    assert_eq!(status.code(), Code::Unavailable, "{status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_flips_watches_to_not_serving_before_they_end() {
    let (reporter, handle, channel) = start().await;
    reporter.set_serving("svc");
    let mut server = watch(&channel, "").await;
    let mut svc = watch(&channel, "svc").await;
    assert_eq!(next(&mut server).await, ServingStatus::Serving);
    assert_eq!(next(&mut svc).await, ServingStatus::Serving);

    // A deadline far beyond the hang guard: the shutdown finishes in time only because the
    // Watch calls end by themselves.
    handle.shutdown_graceful(Duration::from_secs(3600));
    assert_eq!(next(&mut server).await, ServingStatus::NotServing);
    assert_eq!(next(&mut svc).await, ServingStatus::NotServing);
    assert_ended_by_shutdown(&mut server).await;
    assert_ended_by_shutdown(&mut svc).await;
    patiently(handle.wait()).await;
    assert!(reporter.is_shut_down());
    assert_eq!(reporter.watchers(""), 0);
    assert_eq!(reporter.watchers("svc"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_serve_signal_runs_the_hook_too() {
    let (reporter, health) = grpc_health::health_service();
    let server = Server::builder()
        .add_service(health)
        .on_graceful_shutdown(reporter.shutdown_hook())
        .bind("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let addr = server.local_addr();
    let handle = server.handle();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(server.serve_with_shutdown(async {
        let _ = stopped.await;
    }));
    let channel = Channel::builder(&format!("http://{addr}"))
        .connect()
        .await
        .unwrap();
    let mut stream = watch(&channel, "").await;
    assert_eq!(next(&mut stream).await, ServingStatus::Serving);

    stop.send(()).unwrap();
    assert_eq!(next(&mut stream).await, ServingStatus::NotServing);
    assert_ended_by_shutdown(&mut stream).await;
    // The signal's graceful shutdown has no deadline: it ends because the Watch did.
    patiently(handle.wait()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_a_watch_frees_it() {
    let (reporter, _handle, channel) = start().await;
    reporter.set_serving("svc");
    let mut known = watch(&channel, "svc").await;
    let mut unknown = watch(&channel, "ghost").await;
    assert_eq!(next(&mut known).await, ServingStatus::Serving);
    assert_eq!(next(&mut unknown).await, ServingStatus::ServiceUnknown);
    assert_eq!(reporter.watchers("svc"), 1);
    assert_eq!(reporter.watchers("ghost"), 1);

    // Dropping the response stream cancels the call (RST_STREAM); the server drops the
    // handler and its subscription.
    drop(known);
    drop(unknown);
    until_watchers(&reporter, "svc", 0).await;
    until_watchers(&reporter, "ghost", 0).await;
    assert_eq!(reporter.status("svc"), Some(ServingStatus::Serving));
    assert_eq!(reporter.status("ghost"), None);
    // Reporting goes on without them.
    reporter.set_not_serving("svc");
    assert_eq!(
        check(&channel, "svc").await.unwrap(),
        ServingStatus::NotServing
    );
}
