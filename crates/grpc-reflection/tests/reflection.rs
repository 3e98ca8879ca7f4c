//! The reflection services over real connections: a server on 127.0.0.1 with the test
//! protos (`tests/protos`, compiled here with protox) registered, and a grpc-client channel
//! making `ServerReflectionInfo` calls with the raw bytes codec and prost messages.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::future::Future;
use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use grpc_client::codec::BytesCodec;
use grpc_client::{BidiStreamingCall, Channel, Code, Request};
use grpc_reflection::pb::v1::server_reflection_request::MessageRequest;
use grpc_reflection::pb::v1::server_reflection_response::MessageResponse;
use grpc_reflection::pb::v1::{
    ErrorResponse, ExtensionRequest, ServerReflectionRequest, ServerReflectionResponse,
};
use grpc_server::{GrpcService, Server, ServerHandle};
use prost::Message;
use prost_types::FileDescriptorProto;

const V1: &str = "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo";
const V1ALPHA: &str = "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo";

const STORE: &str = "reflect/test/v1/store.proto";
const COMMON: &str = "reflect/test/v1/common.proto";
const EXTENSIONS: &str = "reflect/test/v1/extensions.proto";
const TIMESTAMP: &str = "google/protobuf/timestamp.proto";
const DESCRIPTOR: &str = "google/protobuf/descriptor.proto";

/// A hang guard, far above anything these tests need; never a measure of speed.
const PATIENCE: Duration = Duration::from_secs(30);

async fn patiently<F: Future>(future: F) -> F::Output {
    tokio::time::timeout(PATIENCE, future)
        .await
        .expect("timed out waiting")
}

/// The encoded descriptor set of the test protos and their imports, with source info, as
/// grpc-codegen writes it.
fn test_descriptors() -> Vec<u8> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/protos");
    let mut compiler = protox::Compiler::new([&root]).unwrap();
    compiler.include_imports(true).include_source_info(true);
    compiler.open_file(root.join(STORE)).unwrap();
    compiler.open_file(root.join(EXTENSIONS)).unwrap();
    compiler.encode_file_descriptor_set()
}

/// Serves `service` on a free loopback port; returns a channel to it.
async fn start(service: impl GrpcService) -> (ServerHandle, Channel) {
    let server = Server::builder()
        .add_service(service)
        .bind("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let addr = server.local_addr();
    let handle = server.handle();
    tokio::spawn(server.serve());
    let channel = Channel::builder(&format!("http://{addr}"))
        .connect()
        .await
        .unwrap();
    (handle, channel)
}

/// Both versions over the test descriptors.
async fn start_both() -> (ServerHandle, Channel) {
    let reflection = grpc_reflection::Builder::new()
        .register_file_descriptor_set(test_descriptors())
        .build()
        .unwrap();
    start(reflection).await
}

/// One `ServerReflectionInfo` stream.
struct Stream {
    call: BidiStreamingCall<Bytes, Bytes>,
}

impl Stream {
    async fn open(channel: &Channel, path: &'static str) -> Stream {
        let call = patiently(channel.streaming(Request::new(()), path, BytesCodec))
            .await
            .unwrap();
        Stream { call }
    }

    /// Sends one request; returns its response, checked to echo the host and the request.
    async fn ask(&mut self, question: MessageRequest) -> MessageResponse {
        let request = ServerReflectionRequest {
            host: "reflection.test".to_owned(),
            message_request: Some(question),
        };
        self.call
            .send(Bytes::from(request.encode_to_vec()))
            .await
            .unwrap();
        let bytes = patiently(self.call.message())
            .await
            .unwrap()
            .expect("the stream ended before the response");
        let response = ServerReflectionResponse::decode(bytes).unwrap();
        assert_eq!(response.valid_host, "reflection.test");
        assert_eq!(response.original_request.as_ref(), Some(&request));
        response.message_response.expect("no message_response")
    }

    /// The files of a file descriptor response, decoded.
    async fn files(&mut self, question: MessageRequest) -> Vec<FileDescriptorProto> {
        match self.ask(question).await {
            MessageResponse::FileDescriptorResponse(files) => files
                .file_descriptor_proto
                .into_iter()
                .map(|file| FileDescriptorProto::decode(file).unwrap())
                .collect(),
            other => panic!("expected files, got {other:?}"),
        }
    }

    /// The names of the files of a file descriptor response.
    async fn file_names(&mut self, question: MessageRequest) -> Vec<String> {
        self.files(question)
            .await
            .into_iter()
            .map(|file| file.name().to_owned())
            .collect()
    }

    async fn error(&mut self, question: MessageRequest) -> ErrorResponse {
        match self.ask(question).await {
            MessageResponse::ErrorResponse(error) => error,
            other => panic!("expected an error response, got {other:?}"),
        }
    }

    async fn services(&mut self) -> Vec<String> {
        match self.ask(MessageRequest::ListServices(String::new())).await {
            MessageResponse::ListServicesResponse(list) => list
                .service
                .into_iter()
                .map(|service| service.name)
                .collect(),
            other => panic!("expected a service list, got {other:?}"),
        }
    }

    /// Half-closes and expects the call to end with OK.
    async fn close(mut self) {
        self.call.close_send().await.unwrap();
        assert_eq!(patiently(self.call.message()).await.unwrap(), None);
    }
}

fn symbol(name: &str) -> MessageRequest {
    MessageRequest::FileContainingSymbol(name.to_owned())
}

fn filename(name: &str) -> MessageRequest {
    MessageRequest::FileByFilename(name.to_owned())
}

fn extension(containing_type: &str, number: i32) -> MessageRequest {
    MessageRequest::FileContainingExtension(ExtensionRequest {
        containing_type: containing_type.to_owned(),
        extension_number: number,
    })
}

fn numbers_of(extendee: &str) -> MessageRequest {
    MessageRequest::AllExtensionNumbersOfType(extendee.to_owned())
}

#[tokio::test]
async fn list_services_on_both_versions() {
    let (handle, channel) = start_both().await;
    for path in [V1, V1ALPHA] {
        let mut stream = Stream::open(&channel, path).await;
        assert_eq!(
            stream.services().await,
            [
                "grpc.reflection.v1.ServerReflection",
                "grpc.reflection.v1alpha.ServerReflection",
                "reflect.test.v1.Store",
            ],
            "{path}"
        );
        stream.close().await;
    }
    handle.stop();
}

#[tokio::test]
async fn file_by_filename_sends_imports_once_per_stream() {
    let (handle, channel) = start_both().await;
    let mut stream = Stream::open(&channel, V1).await;
    // The file, then its imports (all registered: protox includes the well-known types).
    assert_eq!(
        stream.file_names(filename(STORE)).await,
        [STORE, DESCRIPTOR, TIMESTAMP, COMMON]
    );
    // Asked again, or asked for an import: the file alone, the rest went out already.
    assert_eq!(stream.file_names(filename(STORE)).await, [STORE]);
    assert_eq!(stream.file_names(filename(COMMON)).await, [COMMON]);
    stream.close().await;

    // Each stream keeps its own record.
    let mut other = Stream::open(&channel, V1ALPHA).await;
    assert_eq!(other.file_names(filename(COMMON)).await, [COMMON]);
    assert_eq!(
        other.file_names(filename(STORE)).await,
        [STORE, DESCRIPTOR, TIMESTAMP]
    );
    other.close().await;
    handle.stop();
}

#[tokio::test]
async fn file_containing_symbol_finds_every_kind_of_symbol() {
    let (handle, channel) = start_both().await;
    let mut stream = Stream::open(&channel, V1).await;
    for (name, file) in [
        ("reflect.test.v1.Store", STORE),
        ("reflect.test.v1.Store.Get", STORE),
        ("reflect.test.v1.Store.Watch", STORE),
        ("reflect.test.v1.Item", STORE),
        ("reflect.test.v1.Item.Tag", STORE),
        ("reflect.test.v1.Item.Tag.key", STORE),
        ("reflect.test.v1.Item.State", STORE),
        ("reflect.test.v1.Item.STATE_ACTIVE", STORE),
        ("reflect.test.v1.Item.updated", STORE),
        ("reflect.test.v1.Item.price", STORE),
        ("reflect.test.v1.audit", STORE),
        (".reflect.test.v1.GetRequest", STORE),
        ("reflect.test.v1.Owner", COMMON),
        ("reflect.test.v1.Color", COMMON),
        ("reflect.test.v1.COLOR_RED", COMMON),
        ("reflect.test.v1.Holder.nested", EXTENSIONS),
        ("google.protobuf.Timestamp", TIMESTAMP),
    ] {
        let files = stream.file_names(symbol(name)).await;
        assert_eq!(files.first().map(String::as_str), Some(file), "{name}");
    }
    stream.close().await;
    handle.stop();
}

#[tokio::test]
async fn the_service_descriptor_says_how_to_call_each_method() {
    let (handle, channel) = start_both().await;
    let mut stream = Stream::open(&channel, V1).await;
    let files = stream.files(symbol("reflect.test.v1.Store")).await;
    let store = &files[0];
    assert_eq!(store.package(), "reflect.test.v1");
    assert_eq!(
        store.dependency,
        [DESCRIPTOR, TIMESTAMP, COMMON],
        "imports as written"
    );
    let service = &store.service[0];
    assert_eq!(service.name(), "Store");
    let watch = &service.method[1];
    assert_eq!(watch.name(), "Watch");
    assert_eq!(watch.input_type(), ".reflect.test.v1.GetRequest");
    assert_eq!(watch.output_type(), ".reflect.test.v1.Item");
    assert!(watch.client_streaming() && watch.server_streaming());
    // Comments travel along (source info), for `grpcurl describe`.
    let comments = store
        .source_code_info
        .as_ref()
        .map(|info| {
            info.location
                .iter()
                .filter_map(|l| l.leading_comments.clone())
        })
        .into_iter()
        .flatten()
        .collect::<Vec<_>>();
    assert!(
        comments.iter().any(|c| c.contains("Keeps items.")),
        "{comments:?}"
    );

    // The reflection service describes itself too.
    let files = stream
        .files(symbol(
            "grpc.reflection.v1.ServerReflection.ServerReflectionInfo",
        ))
        .await;
    assert_eq!(files[0].name(), "grpc/reflection/v1/reflection.proto");
    let method = &files[0].service[0].method[0];
    assert!(method.client_streaming() && method.server_streaming());
    stream.close().await;
    handle.stop();
}

#[tokio::test]
async fn files_go_out_as_registered_custom_options_included() {
    let (handle, channel) = start_both().await;
    let mut stream = Stream::open(&channel, V1).await;
    let MessageResponse::FileDescriptorResponse(files) = stream.ask(filename(STORE)).await else {
        panic!("expected files");
    };
    // The option's value is an extension of MethodOptions: prost_types would drop it on a
    // round trip, so finding it shows the registered encoding went out unchanged.
    let store = &files.file_descriptor_proto[0];
    let needle = b"audit-me-please";
    assert!(store.windows(needle.len()).any(|window| window == needle));
    stream.close().await;
    handle.stop();
}

#[tokio::test]
async fn extensions_by_number_and_by_type() {
    let (handle, channel) = start_both().await;
    let mut stream = Stream::open(&channel, V1ALPHA).await;
    let ext = "reflect.test.v1.Extendable";
    assert_eq!(stream.file_names(extension(ext, 150)).await, [EXTENSIONS]);
    assert_eq!(stream.file_names(extension(ext, 120)).await, [EXTENSIONS]);
    // The custom option: store.proto extends google.protobuf.MethodOptions.
    let found = stream
        .file_names(extension("google.protobuf.MethodOptions", 50001))
        .await;
    assert_eq!(found.first().map(String::as_str), Some(STORE));

    for (extendee, numbers) in [
        (ext, vec![100, 120, 150]),
        ("google.protobuf.MethodOptions", vec![50001]),
        // A message nothing extends.
        ("reflect.test.v1.Item", vec![]),
    ] {
        match stream.ask(numbers_of(extendee)).await {
            MessageResponse::AllExtensionNumbersResponse(response) => {
                assert_eq!(response.base_type_name, extendee);
                assert_eq!(response.extension_number, numbers, "{extendee}");
            }
            other => panic!("expected extension numbers, got {other:?}"),
        }
    }
    stream.close().await;
    handle.stop();
}

#[tokio::test]
async fn unknown_names_get_not_found_and_the_stream_goes_on() {
    let (handle, channel) = start_both().await;
    let mut stream = Stream::open(&channel, V1).await;
    for question in [
        filename("nope.proto"),
        symbol("reflect.test.v1.Nope"),
        symbol("reflect.test.v1"),
        symbol(""),
        extension("reflect.test.v1.Extendable", 101),
        extension("reflect.test.v1.Nope", 100),
        numbers_of("reflect.test.v1.Nope"),
        // Not a message type.
        numbers_of("reflect.test.v1.Store"),
    ] {
        let error = stream.error(question.clone()).await;
        assert_eq!(error.error_code, Code::NotFound as i32, "{question:?}");
        assert!(!error.error_message.is_empty());
    }
    // Still answering.
    assert_eq!(stream.file_names(filename(COMMON)).await, [COMMON]);
    stream.close().await;
    handle.stop();
}

#[tokio::test]
async fn a_request_asking_nothing_ends_the_call_with_invalid_argument() {
    let (handle, channel) = start_both().await;
    let mut stream = Stream::open(&channel, V1).await;
    assert_eq!(stream.services().await.len(), 3);
    let empty = ServerReflectionRequest::default();
    stream
        .call
        .send(Bytes::from(empty.encode_to_vec()))
        .await
        .unwrap();
    let status = patiently(stream.call.message()).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    handle.stop();
}

#[tokio::test]
async fn one_version_alone() {
    let descriptors = test_descriptors();
    let v1 = grpc_reflection::Builder::new()
        .register_file_descriptor_set(descriptors.clone())
        .build_v1()
        .unwrap();
    let (handle, channel) = start(v1).await;
    let mut stream = Stream::open(&channel, V1).await;
    assert_eq!(
        stream.services().await,
        [
            "grpc.reflection.v1.ServerReflection",
            "reflect.test.v1.Store"
        ]
    );
    // The other version's file is not registered.
    let error = stream
        .error(filename("grpc/reflection/v1alpha/reflection.proto"))
        .await;
    assert_eq!(error.error_code, Code::NotFound as i32);
    stream.close().await;
    let mut other = Stream::open(&channel, V1ALPHA).await;
    let status = patiently(other.call.message()).await.unwrap_err();
    assert_eq!(status.code(), Code::Unimplemented);
    handle.stop();

    let v1alpha = grpc_reflection::Builder::new()
        .register_file_descriptor_set(descriptors)
        .build_v1alpha()
        .unwrap();
    assert_eq!(
        v1alpha.service_names().collect::<Vec<_>>(),
        [
            "grpc.reflection.v1alpha.ServerReflection",
            "reflect.test.v1.Store"
        ]
    );
    let (handle, channel) = start(v1alpha).await;
    let mut stream = Stream::open(&channel, V1ALPHA).await;
    assert_eq!(stream.services().await.len(), 2);
    stream.close().await;
    handle.stop();
}

#[test]
fn registration_errors_surface_at_build() {
    let garbage = grpc_reflection::Builder::new()
        .register_file_descriptor_set(&b"\xff\xff\xff"[..])
        .build();
    let err = garbage.unwrap_err();
    assert!(err.to_string().contains("FileDescriptorSet"), "{err}");

    // The same set twice is fine (same file names); both sets' services are listed once.
    let twice = grpc_reflection::Builder::new()
        .register_file_descriptor_set(test_descriptors())
        .register_file_descriptor_set(test_descriptors())
        .build()
        .unwrap();
    assert_eq!(twice.service_names().count(), 3);
}
