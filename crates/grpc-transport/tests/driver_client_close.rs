//! A client connection that ends with requests still queued for it: those requests never
//! reached the wire, and their handles say so (never processed), so a gRPC client can retry
//! them on another connection instead of reporting the call lost.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use grpc_transport::connection::Config;
use grpc_transport::driver::Client;
use grpc_transport::hpack::HeaderField;

fn request() -> Vec<HeaderField> {
    [
        (":method", "POST"),
        (":scheme", "http"),
        (":path", "/test.Svc/Method"),
        (":authority", "localhost"),
    ]
    .into_iter()
    .map(|(name, value)| HeaderField::new(name.to_owned(), value.to_owned()))
    .collect()
}

#[tokio::test]
async fn requests_queued_when_the_connection_ends_are_never_processed() {
    let (io, _peer) = tokio::io::duplex(1024);
    // The task is never polled: the request stays in the command queue.
    let (client, task) = Client::with_task(io, Config::client());
    let (_send, mut recv) = client.send_request(request(), true).unwrap();
    drop(task);
    let error = recv.headers().await.unwrap_err();
    assert!(error.is_never_processed(), "{error:?}");
    assert!(client.is_closed());
}
