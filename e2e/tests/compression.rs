//! Each compressor on requests and responses, and negotiation through grpc-accept-encoding.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use bytes::Bytes;
use grpc_e2e::pb::EchoRequest;
use grpc_e2e::{client_with, echo, start_server};

async fn round_trip(client_encoding: &'static str, server_encoding: &'static str) {
    let server = start_server(|builder| builder.send_compressed(server_encoding)).await;
    let client = client_with(&server, |b| b.send_compressed(client_encoding)).await;
    // Compressible payloads, large enough to span several frames.
    let payload = Bytes::from("compress me ".repeat(50_000));
    let response = client.unary(echo(payload.clone())).await.unwrap();
    assert_eq!(response.get_ref().payload, payload);

    let mut call = client.bidi(()).await.unwrap();
    for _ in 0..5 {
        call.send(EchoRequest {
            response_count: 2,
            ..echo(payload.clone())
        })
        .await
        .unwrap();
        for _ in 0..2 {
            assert_eq!(call.message().await.unwrap().unwrap().payload, payload);
        }
    }
    call.close_send().await.unwrap();
    assert!(call.message().await.unwrap().is_none());
}

#[tokio::test]
async fn gzip_both_ways() {
    round_trip("gzip", "gzip").await;
}

#[tokio::test]
async fn deflate_both_ways() {
    round_trip("deflate", "deflate").await;
}

#[tokio::test]
async fn zstd_both_ways() {
    round_trip("zstd", "zstd").await;
}

#[tokio::test]
async fn mixed_encodings_in_each_direction() {
    round_trip("zstd", "gzip").await;
    round_trip("identity", "deflate").await;
}

#[tokio::test]
async fn a_server_compresses_only_what_the_client_accepts() {
    let server = start_server(|builder| builder.send_compressed("zstd")).await;
    let client = client_with(&server, |b| {
        b.accept_compressed(grpc_core::compression::Encodings::none())
    })
    .await;
    let payload = Bytes::from("plain ".repeat(1000));
    let response = client.unary(echo(payload.clone())).await.unwrap();
    assert_eq!(response.get_ref().payload, payload);
}
