//! Each of the four RPC kinds end to end, large messages across many frames, and many
//! concurrent calls sharing one channel.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use bytes::Bytes;
use grpc_e2e::pb::EchoRequest;
use grpc_e2e::{client, client_with, echo, start_default_server, start_server};

const MIB: usize = 1024 * 1024;

#[tokio::test]
async fn unary_echoes_the_payload() {
    let server = start_default_server().await;
    let client = client(&server).await;
    let response = client.unary(echo("hello")).await.unwrap();
    assert_eq!(response.get_ref().payload, Bytes::from_static(b"hello"));
    assert_eq!(response.get_ref().sequence, 1);
    assert_eq!(server.probe.finished(), 1);
}

#[tokio::test]
async fn server_streaming_sends_every_response_in_order() {
    let server = start_default_server().await;
    let client = client(&server).await;
    let request = EchoRequest {
        response_count: 500,
        response_size: 100,
        ..EchoRequest::default()
    };
    let mut responses = client.server_stream(request).await.unwrap().into_inner();
    let mut expected = 1;
    while let Some(response) = responses.message().await.unwrap() {
        assert_eq!(response.sequence, expected);
        assert_eq!(response.payload.len(), 100);
        expected += 1;
    }
    assert_eq!(expected, 501);
}

#[tokio::test]
async fn client_streaming_counts_every_request() {
    let server = start_default_server().await;
    let client = client(&server).await;
    let mut call = client.client_stream(()).await.unwrap();
    for i in 0..1000u32 {
        call.send(echo(i.to_be_bytes().to_vec())).await.unwrap();
    }
    let response = call.finish().await.unwrap();
    assert_eq!(response.get_ref().requests_received, 1000);
    assert_eq!(response.get_ref().bytes_received, 4000);
}

#[tokio::test]
async fn bidi_streaming_answers_each_request_as_it_arrives() {
    let server = start_default_server().await;
    let client = client(&server).await;
    let mut call = client.bidi(()).await.unwrap();
    for i in 1..=50u64 {
        call.send(echo(vec![7u8; i as usize])).await.unwrap();
        let response = call.message().await.unwrap().unwrap();
        assert_eq!(response.requests_received, i);
        assert_eq!(response.payload.len(), i as usize);
    }
    call.close_send().await.unwrap();
    assert!(call.message().await.unwrap().is_none());
}

#[tokio::test]
async fn bidi_streams_can_be_split_into_a_sender_and_a_receiver() {
    let server = start_default_server().await;
    let client = client(&server).await;
    let call = client.bidi(()).await.unwrap();
    let (mut requests, mut responses) = call.split();
    let sender = tokio::spawn(async move {
        for _ in 0..200 {
            requests.send(echo("ping")).await.unwrap();
        }
        requests.close_send().await.unwrap();
    });
    let mut count = 0;
    while let Some(response) = responses.message().await.unwrap() {
        assert_eq!(response.payload, Bytes::from_static(b"ping"));
        count += 1;
    }
    sender.await.unwrap();
    assert_eq!(count, 200);
}

#[tokio::test]
async fn eight_mib_messages_cross_in_both_directions_with_raised_limits() {
    let server = start_server(|builder| builder.max_decoding_message_size(16 * MIB)).await;
    let client = client_with(&server, |b| b.max_decoding_message_size(16 * MIB)).await;
    let payload: Bytes = (0..8 * MIB)
        .map(|i| (i % 251) as u8)
        .collect::<Vec<u8>>()
        .into();
    let response = client.unary(echo(payload.clone())).await.unwrap();
    assert!(
        response.get_ref().payload == payload,
        "payload changed on the way"
    );

    // The same size streamed: several large messages each way.
    let mut call = client.bidi(()).await.unwrap();
    for _ in 0..3 {
        call.send(echo(payload.clone())).await.unwrap();
        let response = call.message().await.unwrap().unwrap();
        assert_eq!(response.payload.len(), payload.len());
    }
    call.close_send().await.unwrap();
    assert!(call.message().await.unwrap().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_concurrent_calls_share_one_channel_across_tasks() {
    let server = start_default_server().await;
    let client = client(&server).await;
    let mut tasks = Vec::new();
    for i in 0..200u32 {
        let client = client.clone();
        tasks.push(tokio::spawn(async move {
            let payload = i.to_string();
            let request = EchoRequest {
                payload: payload.clone().into(),
                delay_ms: 20,
                ..EchoRequest::default()
            };
            let response = client.unary(request).await.unwrap();
            assert_eq!(response.get_ref().payload, Bytes::from(payload));
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(server.probe.finished(), 200);
}
