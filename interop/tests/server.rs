//! Server features the client cases do not reach: HalfDuplexCall, `interval_us`, metadata
//! echo on every kind and on errors, CacheableUnaryCall's headers, `fill_*` fields, request
//! validation, and the compression checks in both directions.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use bytes::Bytes;
use grpc_client::{CallOptions, Code, ReceivedCompressed, Request};
use grpc_interop::pb::test_service_client::TestServiceClient;
use grpc_interop::pb::{
    BoolValue, EchoStatus, Payload, ResponseParameters, SimpleRequest, SimpleResponse,
    StreamingInputCallRequest, StreamingOutputCallRequest,
};
use grpc_interop::server::{ECHO_INITIAL, ECHO_TRAILING, SERVER_ID};

use common::TestServer;

async fn client() -> (TestServer, TestServiceClient) {
    let server = TestServer::start(false).await;
    let client = TestServiceClient::new(server.channel().await);
    (server, client)
}

fn sizes(sizes: &[i32]) -> Vec<ResponseParameters> {
    sizes
        .iter()
        .map(|&size| ResponseParameters {
            size,
            ..ResponseParameters::default()
        })
        .collect()
}

fn with_echo<T>(message: T) -> Request<T> {
    let mut request = Request::new(message);
    request.metadata_mut().insert(ECHO_INITIAL, "i").unwrap();
    request
        .metadata_mut()
        .insert_bin(ECHO_TRAILING, Bytes::from_static(b"\x00\x01"))
        .unwrap();
    request
}

#[tokio::test]
async fn half_duplex_answers_after_the_client_half_closes() {
    let (_server, client) = client().await;
    let mut call = client.half_duplex_call(()).await.unwrap();
    for size in [3, 5] {
        call.send(StreamingOutputCallRequest {
            response_parameters: sizes(&[size, size + 1]),
            ..StreamingOutputCallRequest::default()
        })
        .await
        .unwrap();
    }
    // Nothing comes before the half-close.
    let early = tokio::time::timeout(Duration::from_millis(100), call.message()).await;
    assert!(early.is_err(), "a response arrived before the half-close");
    call.close_send().await.unwrap();
    let mut received = Vec::new();
    while let Some(response) = call.message().await.unwrap() {
        received.push(response.payload.unwrap().body.len());
    }
    assert_eq!(received, [3, 4, 5, 6]);
}

#[tokio::test]
async fn interval_us_delays_each_response() {
    let (_server, client) = client().await;
    let request = StreamingOutputCallRequest {
        response_parameters: (0..3)
            .map(|_| ResponseParameters {
                size: 1,
                interval_us: 30_000,
                ..ResponseParameters::default()
            })
            .collect(),
        ..StreamingOutputCallRequest::default()
    };
    let start = Instant::now();
    let mut stream = client
        .streaming_output_call(request)
        .await
        .unwrap()
        .into_inner();
    let mut count = 0;
    while stream.message().await.unwrap().is_some() {
        count += 1;
    }
    assert_eq!(count, 3);
    assert!(
        start.elapsed() >= Duration::from_millis(90),
        "{:?}",
        start.elapsed()
    );
}

#[tokio::test]
async fn metadata_is_echoed_on_every_kind_and_with_errors() {
    let (_server, client) = client().await;
    let check = |headers: &grpc_client::Metadata, trailers: &grpc_client::Metadata| {
        assert_eq!(headers.get(ECHO_INITIAL), Some("i"));
        assert_eq!(&trailers.get_bin(ECHO_TRAILING).unwrap()[..], b"\x00\x01");
    };

    let response = client
        .empty_call(with_echo(Default::default()))
        .await
        .unwrap();
    check(response.metadata(), response.trailers());

    let mut stream = client
        .streaming_output_call(with_echo(StreamingOutputCallRequest {
            response_parameters: sizes(&[1]),
            ..StreamingOutputCallRequest::default()
        }))
        .await
        .unwrap()
        .into_inner();
    let trailers = stream.trailers().await.unwrap();
    check(stream.headers(), &trailers);

    let mut call = client.streaming_input_call(with_echo(())).await.unwrap();
    call.send(StreamingInputCallRequest::default())
        .await
        .unwrap();
    let response = call.finish().await.unwrap();
    check(response.metadata(), response.trailers());

    // An error status still carries the echoed trailer, and the echoed header went out
    // before it.
    let mut call = client.full_duplex_call(with_echo(())).await.unwrap();
    call.send(StreamingOutputCallRequest {
        response_status: Some(EchoStatus {
            code: Code::NotFound.as_i32(),
            message: "gone".into(),
        }),
        ..StreamingOutputCallRequest::default()
    })
    .await
    .unwrap();
    let status = call.message().await.unwrap_err();
    assert_eq!((status.code(), status.message()), (Code::NotFound, "gone"));
    assert_eq!(call.headers().get(ECHO_INITIAL), Some("i"));
    assert_eq!(
        &status.metadata().get_bin(ECHO_TRAILING).unwrap()[..],
        b"\x00\x01"
    );
    let status = client
        .unary_call(with_echo(SimpleRequest {
            response_status: Some(EchoStatus {
                code: Code::NotFound.as_i32(),
                message: "gone".into(),
            }),
            ..SimpleRequest::default()
        }))
        .await
        .unwrap_err();
    assert_eq!((status.code(), status.message()), (Code::NotFound, "gone"));
    assert_eq!(
        &status.metadata().get_bin(ECHO_TRAILING).unwrap()[..],
        b"\x00\x01"
    );
}

#[tokio::test]
async fn cacheable_unary_sets_cache_control_and_fresh_payloads() {
    let (_server, client) = client().await;
    let first = client
        .cacheable_unary_call(SimpleRequest::default())
        .await
        .unwrap();
    assert_eq!(
        first.metadata().get("cache-control"),
        Some("max-age=60, public")
    );
    let second = client
        .cacheable_unary_call(SimpleRequest::default())
        .await
        .unwrap();
    let body =
        |r: &grpc_client::Response<SimpleResponse>| r.get_ref().payload.clone().unwrap().body;
    assert_ne!(body(&first), body(&second));
    assert!(
        std::str::from_utf8(&body(&first))
            .unwrap()
            .parse::<u128>()
            .is_ok()
    );
}

#[tokio::test]
async fn fill_fields_and_request_validation() {
    let (_server, client) = client().await;
    let response = client
        .unary_call(SimpleRequest {
            fill_server_id: true,
            fill_username: true,
            ..SimpleRequest::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(response.server_id, SERVER_ID);
    // No credentials, no user.
    assert_eq!(response.username, "");

    let bad = [
        SimpleRequest {
            response_size: -1,
            ..SimpleRequest::default()
        },
        SimpleRequest {
            response_type: 7,
            ..SimpleRequest::default()
        },
        SimpleRequest {
            response_size: i32::MAX,
            ..SimpleRequest::default()
        },
    ];
    for request in bad {
        let status = client.unary_call(request.clone()).await.unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{request:?}");
    }

    // A status asked for on FullDuplexCall ends it before any response it asked for too.
    let mut call = client.full_duplex_call(()).await.unwrap();
    call.send(StreamingOutputCallRequest {
        response_parameters: sizes(&[1]),
        response_status: Some(EchoStatus {
            code: Code::Aborted.as_i32(),
            message: "stop".into(),
        }),
        ..StreamingOutputCallRequest::default()
    })
    .await
    .unwrap();
    assert_eq!(call.message().await.unwrap_err().code(), Code::Aborted);
}

#[tokio::test]
async fn expect_compressed_is_checked_both_ways() {
    let (_server, client) = client().await;
    let unary = |expect: bool, encoding: &'static str| {
        let mut request = Request::new(SimpleRequest {
            expect_compressed: Some(BoolValue { value: expect }),
            payload: Some(Payload {
                r#type: 0,
                body: Bytes::from(vec![0; 1000]),
            }),
            ..SimpleRequest::default()
        });
        request
            .extensions_mut()
            .insert(CallOptions::new().compression(encoding));
        request
    };
    for (expect, encoding, ok) in [
        (true, "gzip", true),
        (true, "deflate", true),
        (true, "zstd", true),
        (false, "identity", true),
        (true, "identity", false),
        (false, "gzip", false),
    ] {
        let result = client.unary_call(unary(expect, encoding)).await;
        match ok {
            true => assert!(result.is_ok(), "{expect} {encoding}: {result:?}"),
            false => assert_eq!(
                result.unwrap_err().code(),
                Code::InvalidArgument,
                "{expect} {encoding}"
            ),
        }
    }

    // Per message on StreamingInputCall: a compressed message that says it is not.
    let mut request = Request::new(());
    request
        .extensions_mut()
        .insert(CallOptions::new().compression("gzip"));
    let mut call = client.streaming_input_call(request).await.unwrap();
    let message = |expect| StreamingInputCallRequest {
        payload: Some(Payload {
            r#type: 0,
            body: Bytes::from(vec![0; 100]),
        }),
        expect_compressed: Some(BoolValue { value: expect }),
    };
    call.send(message(true)).await.unwrap();
    let result = match call.send(message(false)).await {
        Ok(()) => call.finish().await.map(drop),
        Err(status) => Err(status),
    };
    assert_eq!(result.unwrap_err().code(), Code::InvalidArgument);

    // And one that is as it says, among compressed ones: the flag is per message.
    let mut request = Request::new(());
    request
        .extensions_mut()
        .insert(CallOptions::new().compression("gzip"));
    let mut call = client.streaming_input_call(request).await.unwrap();
    for expect in [true, false, true] {
        call.set_compression(expect);
        call.send(message(expect)).await.unwrap();
    }
    let response = call.finish().await.unwrap();
    assert_eq!(response.get_ref().aggregated_payload_size, 300);
}

#[tokio::test]
async fn responses_are_compressed_only_when_asked() {
    let (_server, client) = client().await;
    for (asked, expected) in [(None, false), (Some(false), false), (Some(true), true)] {
        let request = SimpleRequest {
            response_size: 1000,
            response_compressed: asked.map(|value| BoolValue { value }),
            ..SimpleRequest::default()
        };
        let response = client.unary_call(request).await.unwrap();
        // The client accepts gzip, so the call has an encoding and the marker is there.
        let marker = response.extensions().get::<ReceivedCompressed>().copied();
        assert_eq!(
            marker,
            Some(ReceivedCompressed(expected)),
            "response_compressed {asked:?}"
        );
        assert_eq!(response.into_inner().payload.unwrap().body.len(), 1000);
    }

    // StreamingInputCall answers uncompressed; StreamingOutputCall as each response asks.
    let mut call = client.streaming_input_call(()).await.unwrap();
    call.send(StreamingInputCallRequest::default())
        .await
        .unwrap();
    let response = call.finish().await.unwrap();
    assert_eq!(
        response.extensions().get::<ReceivedCompressed>(),
        Some(&ReceivedCompressed(false))
    );
    let compressed = |value| Some(BoolValue { value });
    let request = StreamingOutputCallRequest {
        response_parameters: [None, compressed(true), compressed(false)]
            .into_iter()
            .map(|compressed| ResponseParameters {
                size: 100,
                compressed,
                ..ResponseParameters::default()
            })
            .collect(),
        ..StreamingOutputCallRequest::default()
    };
    let mut stream = client
        .streaming_output_call(request)
        .await
        .unwrap()
        .into_inner();
    let mut flags = Vec::new();
    while stream.message().await.unwrap().is_some() {
        flags.push(stream.last_message_compressed());
    }
    assert_eq!(flags, [false, true, false]);
}
