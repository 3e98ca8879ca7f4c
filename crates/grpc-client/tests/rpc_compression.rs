//! Message compression (compression.md): sending compressed requests, reading compressed
//! responses, per-call overrides, per-message switches and flags both ways, and encodings the
//! client does not accept.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use bytes::Bytes;
use grpc_client::{CallOptions, Channel, Code, ReceivedCompressed, Request, Response, Status};
use grpc_core::Encodings;
use grpc_core::codec::BytesCodec;
use grpc_core::compression::compressor_for;
use grpc_core::framing::FrameDecoder;
use support::{ServerCall, TestServer, channel};
use tokio::sync::mpsc;

const ENCODINGS: [&str; 3] = ["gzip", "deflate", "zstd"];

/// What the server saw: `grpc-encoding`, the Compressed-Flag of the first message, and the
/// message after decompression.
#[derive(Debug)]
struct Received {
    encoding: Option<String>,
    compressed_flag: bool,
    message: Bytes,
}

/// Reads one raw request frame, decompresses it by hand, and echoes it uncompressed.
async fn inspecting_server() -> (TestServer, mpsc::UnboundedReceiver<Received>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let server = TestServer::start(move |mut call: ServerCall| {
        let tx = tx.clone();
        async move {
            let encoding = call.header("grpc-encoding").map(str::to_owned);
            let mut frames = FrameDecoder::new(usize::MAX);
            let frame = loop {
                if let Some(frame) = frames.next_frame().unwrap() {
                    break frame;
                }
                frames.push(call.body.data().await.unwrap().unwrap());
            };
            let message = if frame.compressed {
                let compressor = compressor_for(encoding.as_deref().unwrap()).unwrap();
                let mut out = bytes::BytesMut::new();
                compressor
                    .decompress(&frame.data, &mut out, usize::MAX)
                    .unwrap();
                out.freeze()
            } else {
                frame.data
            };
            call.reply(&message).await;
            tx.send(Received {
                encoding,
                compressed_flag: frame.compressed,
                message,
            })
            .unwrap();
        }
    })
    .await;
    (server, rx)
}

/// A request stream as the server saw it: `grpc-encoding`, and each message's
/// Compressed-Flag with its payload (decompressed by hand when the flag is set).
#[derive(Debug)]
struct ReceivedStream {
    encoding: Option<String>,
    messages: Vec<(bool, Bytes)>,
}

/// Reads every raw request frame to the end of the stream, reports them, and answers with
/// one message ("N messages").
async fn frame_recording_server() -> (TestServer, mpsc::UnboundedReceiver<ReceivedStream>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let server = TestServer::start(move |mut call: ServerCall| {
        let tx = tx.clone();
        async move {
            let encoding = call.header("grpc-encoding").map(str::to_owned);
            let mut frames = FrameDecoder::new(usize::MAX);
            let mut messages = Vec::new();
            loop {
                while let Some(frame) = frames.next_frame().unwrap() {
                    let payload = if frame.compressed {
                        let compressor = compressor_for(encoding.as_deref().unwrap()).unwrap();
                        let mut out = bytes::BytesMut::new();
                        compressor
                            .decompress(&frame.data, &mut out, usize::MAX)
                            .unwrap();
                        out.freeze()
                    } else {
                        frame.data
                    };
                    messages.push((frame.compressed, payload));
                }
                match call.body.data().await {
                    Some(chunk) => frames.push(chunk.unwrap()),
                    None => break,
                }
            }
            frames.finish().unwrap();
            call.reply(format!("{} messages", messages.len()).as_bytes())
                .await;
            tx.send(ReceivedStream { encoding, messages }).unwrap();
        }
    })
    .await;
    (server, rx)
}

fn compressible() -> Bytes {
    Bytes::from("all work and no play makes a dull message ".repeat(200))
}

/// One unary call to `/test.Zip/Unary`; the response message.
async fn unary(channel: &Channel, request: Request<Bytes>) -> Result<Bytes, Status> {
    let response = channel
        .unary(request, "/test.Zip/Unary", BytesCodec)
        .await?;
    Ok(response.into_inner())
}

/// A request whose call options ask for `compression`.
fn compressed_with(message: Bytes, compression: &'static str) -> Request<Bytes> {
    let mut request = Request::new(message);
    request
        .extensions_mut()
        .insert(CallOptions::new().compression(compression));
    request
}

#[tokio::test]
async fn requests_are_compressed_with_each_encoding() {
    let (server, mut received) = inspecting_server().await;
    for encoding in ENCODINGS {
        let channel = Channel::builder(&server.target())
            .send_compressed(encoding)
            .connect()
            .await
            .unwrap();
        let response = unary(&channel, Request::new(compressible())).await.unwrap();
        assert_eq!(response, compressible());
        let seen = received.recv().await.unwrap();
        assert_eq!(seen.encoding.as_deref(), Some(encoding));
        assert!(seen.compressed_flag, "{encoding}: flag not set");
        assert_eq!(seen.message, compressible());
    }
}

#[tokio::test]
async fn compression_is_chosen_per_call() {
    let (server, mut received) = inspecting_server().await;
    let plain = channel(&server).await;
    let request = compressed_with(compressible(), "gzip");
    unary(&plain, request).await.unwrap();
    let seen = received.recv().await.unwrap();
    assert_eq!(seen.encoding.as_deref(), Some("gzip"));
    assert!(seen.compressed_flag);

    let zipping = Channel::builder(&server.target())
        .send_compressed("zstd")
        .connect()
        .await
        .unwrap();
    let request = compressed_with(compressible(), "identity");
    unary(&zipping, request).await.unwrap();
    let seen = received.recv().await.unwrap();
    assert_eq!(seen.encoding, None);
    assert!(!seen.compressed_flag);
}

#[tokio::test]
async fn streamed_requests_are_compressed_too() {
    let server = TestServer::start(support::echo).await;
    let channel = Channel::builder(&server.target())
        .send_compressed("gzip")
        .connect()
        .await
        .unwrap();
    let mut call = channel
        .streaming(Request::new(()), "/test.Zip/Chat", BytesCodec)
        .await
        .unwrap();
    for _ in 0..3 {
        call.send(compressible()).await.unwrap();
        assert_eq!(call.message().await.unwrap().unwrap(), compressible());
    }
    call.close_send().await.unwrap();
    assert_eq!(call.message().await.unwrap(), None);
}

#[tokio::test]
async fn compressed_responses_are_read_with_each_encoding() {
    let server = TestServer::start(|mut call: ServerCall| async move {
        let encoding = String::from_utf8(call.message().await.unwrap().to_vec()).unwrap();
        assert!(
            call.header("grpc-accept-encoding")
                .unwrap()
                .contains(&encoding)
        );
        call.send_headers_with(&[("grpc-encoding", &encoding)]);
        let compressor = compressor_for(&encoding).unwrap();
        call.send_compressed_message(compressor.as_ref(), &compressible())
            .await;
        // Uncompressed messages may be mixed in (the flag is per message).
        call.send_message(b"plain").await;
        call.send_status(Code::Ok, "");
    })
    .await;
    let channel = channel(&server).await;
    for encoding in ENCODINGS {
        let mut stream = channel
            .server_streaming(
                Request::new(Bytes::from(encoding)),
                "/test.Zip/Stream",
                BytesCodec,
            )
            .await
            .unwrap()
            .into_inner();
        assert_eq!(
            stream.message().await.unwrap().unwrap(),
            compressible(),
            "{encoding}"
        );
        assert_eq!(stream.message().await.unwrap().unwrap(), "plain");
        assert_eq!(stream.message().await.unwrap(), None);
    }
}

#[tokio::test]
async fn an_unknown_response_encoding_is_internal() {
    let server = TestServer::start(|mut call: ServerCall| async move {
        call.message().await;
        call.send_headers_with(&[("grpc-encoding", "snappy")]);
        call.send_message(b"whatever").await;
        call.send_status(Code::Ok, "");
    })
    .await;
    let channel = channel(&server).await;
    let status = unary(&channel, Request::new(Bytes::new()))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Internal, "{status}");
    assert!(status.message().contains("snappy"), "{status}");
}

#[tokio::test]
async fn accepted_encodings_are_advertised_and_enforced() {
    let server = TestServer::start(|mut call: ServerCall| async move {
        call.message().await;
        let accept = call.header("grpc-accept-encoding").map(str::to_owned);
        call.send_headers_with(&[("grpc-encoding", "gzip")]);
        let gzip = compressor_for("gzip").unwrap();
        call.send_compressed_message(gzip.as_ref(), accept.unwrap_or_default().as_bytes())
            .await;
        call.send_status(Code::Ok, "");
    })
    .await;
    let channel = channel(&server).await;
    let response = unary(&channel, Request::new(Bytes::new())).await.unwrap();
    assert_eq!(response, "gzip,deflate,zstd");

    let identity_only = Channel::builder(&server.target())
        .accept_compressed(Encodings::none())
        .connect()
        .await
        .unwrap();
    let status = unary(&identity_only, Request::new(Bytes::new()))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Internal, "{status}");
}

#[tokio::test]
async fn unknown_request_encodings_are_refused_up_front() {
    let err = Channel::builder("http://127.0.0.1:1")
        .send_compressed("snappy")
        .connect_lazy()
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);

    let server = TestServer::start(support::echo).await;
    let channel = channel(&server).await;
    let request = compressed_with(Bytes::new(), "snappy");
    let status = unary(&channel, request).await.unwrap_err();
    assert_eq!(status.code(), Code::Internal);
    assert_eq!(server.request_count(), 0);
}

#[tokio::test]
async fn a_compressed_response_over_the_limit_is_resource_exhausted() {
    let server = TestServer::start(|mut call: ServerCall| async move {
        call.message().await;
        call.send_headers_with(&[("grpc-encoding", "gzip")]);
        // 5 MiB of zeros compress to a few KiB: the limit applies after decompression.
        let gzip = compressor_for("gzip").unwrap();
        call.send_compressed_message(gzip.as_ref(), &vec![0u8; 5 * support::MIB])
            .await;
        call.send_status(Code::Ok, "");
    })
    .await;
    let channel = channel(&server).await;
    let status = unary(&channel, Request::new(Bytes::new()))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted, "{status}");
}

#[tokio::test]
async fn compression_is_switched_per_message_on_a_client_stream() {
    let (server, mut received) = frame_recording_server().await;
    let channel = channel(&server).await;
    let mut request = Request::new(());
    request
        .extensions_mut()
        .insert(CallOptions::new().compression("gzip"));
    let mut call = channel
        .client_streaming(request, "/test.Zip/Upload", BytesCodec)
        .await
        .unwrap();
    let (a, b, c) = (
        compressible(),
        Bytes::from("secret ".repeat(50)),
        compressible(),
    );
    call.send(a.clone()).await.unwrap();
    call.set_compression(false);
    call.send(b.clone()).await.unwrap();
    call.set_compression(true);
    call.send(c.clone()).await.unwrap();
    let response = call.finish().await.unwrap();
    assert_eq!(response.get_ref(), "3 messages");

    let seen = received.recv().await.unwrap();
    // The call's encoding stays in the headers; only the flag changes per message.
    assert_eq!(seen.encoding.as_deref(), Some("gzip"));
    assert_eq!(seen.messages, [(true, a), (false, b), (true, c)]);
}

#[tokio::test]
async fn compression_is_switched_per_message_on_a_bidi_stream_and_its_sink() {
    let (server, mut received) = frame_recording_server().await;
    let channel = Channel::builder(&server.target())
        .send_compressed("zstd")
        .connect()
        .await
        .unwrap();
    let mut call = channel
        .streaming(Request::new(()), "/test.Zip/Chat", BytesCodec)
        .await
        .unwrap();
    call.set_compression(false);
    call.send(compressible()).await.unwrap();
    let (mut sink, mut responses) = call.split();
    sink.send(compressible()).await.unwrap();
    sink.set_compression(true);
    sink.send(compressible()).await.unwrap();
    sink.close_send().await.unwrap();
    assert_eq!(responses.message().await.unwrap().unwrap(), "3 messages");

    let seen = received.recv().await.unwrap();
    assert_eq!(seen.encoding.as_deref(), Some("zstd"));
    let flags: Vec<bool> = seen.messages.iter().map(|(flag, _)| *flag).collect();
    assert_eq!(flags, [false, false, true]);
    assert!(seen.messages.iter().all(|(_, m)| *m == compressible()));
}

#[tokio::test]
async fn enabling_compression_on_a_call_without_an_encoding_does_nothing() {
    let (server, mut received) = frame_recording_server().await;
    let channel = channel(&server).await;
    let mut call = channel
        .client_streaming(Request::new(()), "/test.Zip/Upload", BytesCodec)
        .await
        .unwrap();
    call.set_compression(true);
    call.send(compressible()).await.unwrap();
    call.finish().await.unwrap();

    let seen = received.recv().await.unwrap();
    assert_eq!(seen.encoding, None);
    assert_eq!(seen.messages, [(false, compressible())]);
}

/// Answers with one message per octet of the request messages (all of them, concatenated):
/// `1` compressed with gzip, `0` uncompressed, under `grpc-encoding: gzip`; `-` uncompressed
/// with no `grpc-encoding` (then every octet should be `-`). Message `i` is `m<i>`.
async fn flag_choosing_server() -> TestServer {
    TestServer::start(|mut call: ServerCall| async move {
        let spec: Vec<u8> = call.messages().await.concat();
        if spec.first() == Some(&b'-') {
            call.send_headers();
        } else {
            call.send_headers_with(&[("grpc-encoding", "gzip")]);
        }
        let gzip = compressor_for("gzip").unwrap();
        for (i, flag) in spec.iter().enumerate() {
            let message = format!("m{i}");
            match flag {
                b'1' => {
                    call.send_compressed_message(gzip.as_ref(), message.as_bytes())
                        .await
                }
                _ => call.send_message(message.as_bytes()).await,
            }
        }
        call.send_status(Code::Ok, "");
    })
    .await
}

/// The marker of a single response: `Some(flag)`, or `None` when there is none.
fn marker<T>(response: &Response<T>) -> Option<bool> {
    response
        .extensions()
        .get::<ReceivedCompressed>()
        .map(|marker| marker.0)
}

#[tokio::test]
async fn a_unary_response_tells_whether_it_arrived_compressed() {
    let server = flag_choosing_server().await;
    let channel = channel(&server).await;
    for (spec, expected) in [("1", Some(true)), ("0", Some(false)), ("-", None)] {
        let response = channel
            .unary(
                Request::new(Bytes::from(spec)),
                "/test.Zip/Unary",
                BytesCodec,
            )
            .await
            .unwrap();
        assert_eq!(response.get_ref(), "m0");
        assert_eq!(marker(&response), expected, "{spec}");
        assert_eq!(
            ReceivedCompressed::of(response.extensions()),
            expected == Some(true)
        );
    }
}

#[tokio::test]
async fn a_client_streaming_response_tells_whether_it_arrived_compressed() {
    let server = flag_choosing_server().await;
    let channel = channel(&server).await;
    for (spec, expected) in [("1", Some(true)), ("0", Some(false)), ("-", None)] {
        let mut call = channel
            .client_streaming(Request::new(()), "/test.Zip/Upload", BytesCodec)
            .await
            .unwrap();
        call.send(Bytes::from(spec)).await.unwrap();
        let response = call.finish().await.unwrap();
        assert_eq!(response.get_ref(), "m0");
        assert_eq!(marker(&response), expected, "{spec}");
    }
}

#[tokio::test]
async fn a_response_stream_tells_how_each_message_arrived() {
    let server = flag_choosing_server().await;
    let channel = channel(&server).await;
    let mut stream = channel
        .server_streaming(
            Request::new(Bytes::from("1001")),
            "/test.Zip/Stream",
            BytesCodec,
        )
        .await
        .unwrap()
        .into_inner();
    assert!(!stream.last_message_compressed(), "before any message");
    let mut flags = Vec::new();
    while let Some(message) = stream.message().await.unwrap() {
        assert_eq!(message, format!("m{}", flags.len()));
        flags.push(stream.last_message_compressed());
    }
    assert_eq!(flags, [true, false, false, true]);

    // A bidi call's responses, read through the call and after a split.
    let mut call = channel
        .streaming(Request::new(()), "/test.Zip/Chat", BytesCodec)
        .await
        .unwrap();
    call.send(Bytes::from("01")).await.unwrap();
    call.close_send().await.unwrap();
    assert_eq!(call.message().await.unwrap().unwrap(), "m0");
    assert!(!call.last_message_compressed());
    let (_sink, mut responses) = call.split();
    assert_eq!(responses.message().await.unwrap().unwrap(), "m1");
    assert!(responses.last_message_compressed());
    assert_eq!(responses.message().await.unwrap(), None);
}
