//! Message size limits on every path: unary and streaming, receiving and sending, client and
//! server. Over the limit is RESOURCE_EXHAUSTED.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use grpc_core::Code;
use grpc_e2e::pb::EchoRequest;
use grpc_e2e::{client, client_with, echo, start_default_server, start_server};

const MIB: usize = 1024 * 1024;

fn big(size: usize) -> EchoRequest {
    echo(vec![1u8; size])
}

#[tokio::test]
async fn the_server_rejects_a_unary_request_over_4_mib_by_default() {
    let server = start_default_server().await;
    let client = client_with(&server, |b| b).await;
    let status = client.unary(big(5 * MIB)).await.unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    // Just under the limit is fine.
    client.unary(big(4 * MIB - 64)).await.unwrap();
}

#[tokio::test]
async fn the_server_rejects_an_oversized_message_in_the_middle_of_a_stream() {
    let server = start_server(|builder| builder.max_decoding_message_size(64 * 1024)).await;
    let client = client(&server).await;
    let mut call = client.client_stream(()).await.unwrap();
    call.send(big(1000)).await.unwrap();
    // The server may stop the call while we are still sending; either way the outcome is
    // RESOURCE_EXHAUSTED.
    let status = match call.send(big(100 * 1024)).await {
        Err(status) => status,
        Ok(()) => call.finish().await.unwrap_err(),
    };
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
}

#[tokio::test]
async fn the_client_rejects_an_oversized_unary_response() {
    let server = start_default_server().await;
    let client = client(&server).await;
    let status = client
        .unary(EchoRequest {
            response_size: 5 * MIB as u32,
            ..EchoRequest::default()
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
}

#[tokio::test]
async fn the_client_rejects_an_oversized_message_in_a_response_stream() {
    let server = start_default_server().await;
    let client = client_with(&server, |b| b.max_decoding_message_size(1024)).await;
    let mut stream = client
        .server_stream(EchoRequest {
            response_count: 3,
            response_size: 2048,
            ..EchoRequest::default()
        })
        .await
        .unwrap()
        .into_inner();
    let status = stream.message().await.unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
}

#[tokio::test]
async fn the_client_refuses_to_send_over_its_send_limit() {
    let server = start_default_server().await;
    let client = client_with(&server, |b| b.max_encoding_message_size(1024)).await;
    let status = client.unary(big(4096)).await.unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    assert_eq!(
        server.probe.started(),
        0,
        "nothing should have reached the server"
    );
}

#[tokio::test]
async fn the_server_refuses_to_send_over_its_send_limit() {
    let server = start_server(|builder| builder.max_encoding_message_size(1024)).await;
    let client = client(&server).await;
    let status = client
        .unary(EchoRequest {
            response_size: 4096,
            ..EchoRequest::default()
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");

    // The first message is already too large, so nothing was sent before the status: a
    // trailers-only response, which fails the call itself.
    let status = client
        .server_stream(EchoRequest {
            response_count: 2,
            response_size: 4096,
            ..EchoRequest::default()
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");

    // With a message out first, the status arrives in the trailers of the stream.
    let mut call = client.bidi(()).await.unwrap();
    call.send(echo("small")).await.unwrap();
    assert_eq!(
        &call.message().await.unwrap().unwrap().payload[..],
        b"small"
    );
    call.send(EchoRequest {
        response_size: 4096,
        ..EchoRequest::default()
    })
    .await
    .unwrap();
    let status = call.message().await.unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
}
