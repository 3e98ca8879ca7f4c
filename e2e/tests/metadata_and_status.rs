//! Metadata (ASCII and binary) both ways, response headers and trailers, error statuses
//! (trailers-only and after messages), unknown services and methods.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use bytes::Bytes;
use grpc_core::codec::BytesCodec;
use grpc_core::{Code, Request};
use grpc_e2e::pb::EchoRequest;
use grpc_e2e::{client, echo, start_default_server};

#[tokio::test]
async fn ascii_and_binary_metadata_reach_the_handler_and_come_back() {
    let server = start_default_server().await;
    let client = client(&server).await;
    let binary = Bytes::from_static(&[0, 1, 2, 0xfe, 0xff, b',', b'=']);
    let mut request = Request::new(echo("m"));
    request
        .metadata_mut()
        .insert("x-echo-name", "value with spaces")
        .unwrap();
    request
        .metadata_mut()
        .append("x-echo-name", "second")
        .unwrap();
    request
        .metadata_mut()
        .insert_bin("x-echo-blob-bin", binary.clone())
        .unwrap();
    request.metadata_mut().insert("x-not-echoed", "1").unwrap();
    let response = client.unary(request).await.unwrap();

    let seen = server.probe.last_metadata().unwrap();
    assert_eq!(
        seen.get_all("x-echo-name").collect::<Vec<_>>(),
        ["value with spaces", "second"]
    );
    assert_eq!(seen.get_bin("x-echo-blob-bin"), Some(&binary));
    assert_eq!(seen.get("x-not-echoed"), Some("1"));
    // Reserved names never show up as user metadata.
    assert!(
        seen.iter()
            .all(|(key, _)| !key.starts_with("grpc-") && !key.starts_with(':'))
    );

    for metadata in [response.metadata(), response.trailers()] {
        assert_eq!(
            metadata.get_all("x-echo-name").collect::<Vec<_>>(),
            ["value with spaces", "second"]
        );
        assert_eq!(metadata.get_bin("x-echo-blob-bin"), Some(&binary));
        assert!(!metadata.contains_key("x-not-echoed"));
    }
}

#[tokio::test]
async fn streaming_calls_expose_headers_and_trailers() {
    let server = start_default_server().await;
    let client = client(&server).await;
    let mut request = Request::new(EchoRequest {
        response_count: 2,
        ..echo("s")
    });
    request
        .metadata_mut()
        .insert("x-echo-stream", "yes")
        .unwrap();
    let response = client.server_stream(request).await.unwrap();
    assert_eq!(response.metadata().get("x-echo-stream"), Some("yes"));
    let mut stream = response.into_inner();
    while stream.message().await.unwrap().is_some() {}
    let trailers = stream.trailers().await.unwrap();
    assert_eq!(trailers.get("x-echo-stream"), Some("yes"));
}

#[tokio::test]
async fn an_immediate_error_is_a_trailers_only_response_with_status_metadata() {
    let server = start_default_server().await;
    let client = client(&server).await;
    let mut request = Request::new(EchoRequest {
        status_code: Code::NotFound as i32,
        status_message: "no such thing: ✓ 100% \n done".into(),
        ..echo("e")
    });
    request
        .metadata_mut()
        .insert("x-echo-why", "testing")
        .unwrap();
    let status = client.unary(request).await.unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    // Percent-encoding of grpc-message keeps every character.
    assert_eq!(status.message(), "no such thing: ✓ 100% \n done");
    assert_eq!(status.metadata().get("x-echo-why"), Some("testing"));
}

#[tokio::test]
async fn every_status_code_makes_the_round_trip() {
    let server = start_default_server().await;
    let client = client(&server).await;
    for code in 1..=16 {
        let status = client
            .unary(EchoRequest {
                status_code: code,
                status_message: format!("code {code}"),
                ..echo("")
            })
            .await
            .unwrap_err();
        assert_eq!(status.code() as i32, code);
        assert_eq!(status.message(), format!("code {code}"));
    }
}

#[tokio::test]
async fn an_error_after_streamed_messages_arrives_in_the_trailers() {
    let server = start_default_server().await;
    let client = client(&server).await;
    let request = EchoRequest {
        response_count: 3,
        status_code: Code::DataLoss as i32,
        status_message: "lost the rest".into(),
        ..echo("x")
    };
    let mut stream = client.server_stream(request).await.unwrap().into_inner();
    for _ in 0..3 {
        stream.message().await.unwrap().unwrap();
    }
    let status = stream.message().await.unwrap_err();
    assert_eq!(status.code(), Code::DataLoss);
    assert_eq!(status.message(), "lost the rest");
}

#[tokio::test]
async fn unknown_methods_and_services_are_unimplemented() {
    let server = start_default_server().await;
    let channel = grpc_client::Channel::builder(&server.url())
        .connect()
        .await
        .unwrap();
    for path in ["/e2e.v1.Echo/NoSuchMethod", "/e2e.v1.NoSuchService/Unary"] {
        let status = channel
            .unary(Request::new(Bytes::new()), path, BytesCodec)
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::Unimplemented, "{path}: {status:?}");
    }
    // Raw bytes to a real method work too: an empty payload is a valid EchoRequest, and the
    // answer is an EchoResponse with only `sequence = 1` (field 2, varint: 0x10 0x01).
    let response = channel
        .unary(Request::new(Bytes::new()), "/e2e.v1.Echo/Unary", BytesCodec)
        .await
        .unwrap();
    assert_eq!(&response.get_ref()[..], [0x10, 0x01]);
}
