//! The interop server: grpc.testing.TestService as the interop test descriptions
//! (`doc/interop-test-descriptions.md`, "Server") define it.
//!
//! | method | what it does |
//! |---|---|
//! | EmptyCall | answers an empty message |
//! | UnaryCall | a payload of `response_size` zeros; `response_status` ends the call with that status; `expect_compressed` is checked against how the request came; `response_compressed` compresses (or not) the response; `fill_username` puts the bearer token of `authorization: Bearer <token>` in `username` |
//! | CacheableUnaryCall | the current time in nanoseconds as the payload, and `cache-control: max-age=60, public` |
//! | StreamingOutputCall | one response per `ResponseParameters` (size, `interval_us` wait before it, `compressed`) |
//! | StreamingInputCall | the total payload size of the requests; `expect_compressed` checked per message |
//! | FullDuplexCall | each request answered at once, as StreamingOutputCall |
//! | HalfDuplexCall | every request read first, then all the responses |
//! | UnimplementedCall | UNIMPLEMENTED |
//!
//! Every method echoes `x-grpc-test-echo-initial` into the response headers and
//! `x-grpc-test-echo-trailing-bin` into the trailers ("Echo Metadata"), whatever status the
//! call ends with ([`bind`] installs [`echo_interceptor`], which does it for every call). A
//! request whose `expect_compressed` is set and does not match how the message arrived fails
//! with INVALID_ARGUMENT (both ways, as gRPC C++'s server). `grpc.testing.UnimplementedService`
//! is not served, so calls to it get UNIMPLEMENTED from the router.
//!
//! # Compression
//!
//! The server accepts every built-in encoding on requests and compresses responses with gzip
//! when the client accepts it. Each handler sees how its request messages arrived
//! ([`ReceivedCompressed`] in a unary request's extensions,
//! [`Streaming::last_message_compressed`] per streamed message) and chooses per response
//! message: [`CompressResponse`] in a unary or client-streaming response's extensions,
//! [`ResponseSink::set_compression`] per streamed message. Responses go uncompressed unless
//! the request asks for compression.
//!
//! The routes are registered by hand, each with the adapter of its kind, as generated server
//! code would.

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use grpc_core::codec::ProstCodec;
use grpc_server::{
    BoundServer, Code, CompressResponse, GrpcService, Interceptor, Metadata, Next,
    ReceivedCompressed, Request, Response, ResponseSink, Routes, Server, ServerCall, Status,
    Streaming, interceptor_fn,
};

use crate::flags::{FlagError, Flags, Kind};
use crate::pb::{
    BoolValue, EchoStatus, Empty, Payload, PayloadType, SimpleRequest, SimpleResponse,
    StreamingInputCallRequest, StreamingInputCallResponse, StreamingOutputCallRequest,
    StreamingOutputCallResponse,
};

/// The port the reference interop servers listen on by default.
pub const DEFAULT_PORT: u16 = 10000;

/// The largest payload a request may ask for (32 MiB), so that one request cannot make the
/// server allocate gigabytes; larger sizes fail with INVALID_ARGUMENT.
pub const MAX_PAYLOAD_SIZE: usize = 32 * 1024 * 1024;

/// Request header that asks for a response header of the same name and value.
pub const ECHO_INITIAL: &str = "x-grpc-test-echo-initial";
/// Binary request header that asks for a trailer of the same name and value.
pub const ECHO_TRAILING: &str = "x-grpc-test-echo-trailing-bin";
/// What a server fills `SimpleResponse.server_id` with when asked (`fill_server_id`).
pub const SERVER_ID: &str = "grpc-rust-interop";

/// The server's certificate and private key, PEM.
#[derive(Clone)]
pub struct TlsIdentity {
    /// The certificate chain.
    pub cert_pem: Vec<u8>,
    /// The private key.
    pub key_pem: Vec<u8>,
}

impl TlsIdentity {
    /// The repository's test certificate for `localhost` and `127.0.0.1` (see
    /// [`crate::certs`]).
    pub fn test_server() -> TlsIdentity {
        TlsIdentity {
            cert_pem: crate::certs::SERVER_CERT.to_vec(),
            key_pem: crate::certs::SERVER_KEY.to_vec(),
        }
    }
}

impl std::fmt::Debug for TlsIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsIdentity").finish_non_exhaustive()
    }
}

/// How to run the server.
#[derive(Clone, Debug)]
pub struct ServerOptions {
    /// Where to listen (default `127.0.0.1:10000`; port 0 picks a free one).
    pub addr: SocketAddr,
    /// Serve over TLS with this identity; `None` is plaintext.
    pub tls: Option<TlsIdentity>,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            addr: SocketAddr::from((Ipv4Addr::LOCALHOST, DEFAULT_PORT)),
            tls: None,
        }
    }
}

/// The flags `interop-server` takes.
pub const FLAGS: &[(&str, Kind)] = &[
    ("port", Kind::Value),
    ("use_tls", Kind::Bool),
    ("tls_cert_file", Kind::Value),
    ("tls_key_file", Kind::Value),
];

/// Usage text of `interop-server`.
pub const USAGE: &str = "usage: interop-server [--port=N] [--use_tls[=true|false]] \
[--tls_cert_file=PEM --tls_key_file=PEM]
  --port           port to listen on, on 127.0.0.1 (default 10000; 0 picks a free port)
  --use_tls        serve over TLS (default: the repository's test certificate for localhost
                   and 127.0.0.1, crates/grpc-transport/tests/data/server.pem)
  --tls_cert_file  certificate chain to serve with --use_tls (PEM)
  --tls_key_file   its private key (PEM)";

impl ServerOptions {
    /// Options from the command line (without the program name).
    pub fn from_args(args: impl IntoIterator<Item = String>) -> Result<ServerOptions, FlagError> {
        let flags = Flags::parse(args, FLAGS)?;
        let port = flags.parsed("port", DEFAULT_PORT)?;
        let tls = if flags.bool("use_tls") {
            let mut identity = TlsIdentity::test_server();
            match (flags.value("tls_cert_file"), flags.value("tls_key_file")) {
                (None, None) => {}
                (Some(cert), Some(key)) => {
                    identity.cert_pem = read_file("tls_cert_file", cert)?;
                    identity.key_pem = read_file("tls_key_file", key)?;
                }
                _ => {
                    return Err(FlagError(
                        "--tls_cert_file and --tls_key_file go together".into(),
                    ));
                }
            }
            Some(identity)
        } else {
            if flags.value("tls_cert_file").is_some() || flags.value("tls_key_file").is_some() {
                return Err(FlagError(
                    "--tls_cert_file and --tls_key_file need --use_tls".into(),
                ));
            }
            None
        };
        Ok(ServerOptions {
            addr: SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
            tls,
        })
    }
}

pub(crate) fn read_file(flag: &str, path: &str) -> Result<Vec<u8>, FlagError> {
    std::fs::read(path).map_err(|e| FlagError(format!("--{flag}={path}: {e}")))
}

/// Binds the interop server (TestService, compression, TLS as `options` say) without serving
/// yet: the bound address and a shutdown handle are known before it runs.
pub async fn bind(options: &ServerOptions) -> io::Result<BoundServer> {
    let mut builder = Server::builder()
        .send_compressed("gzip")
        .interceptor(echo_interceptor())
        .add_service(TestService);
    if let Some(tls) = &options.tls {
        builder = builder.tls_pem(&tls.cert_pem, &tls.key_pem)?;
    }
    builder.bind(options.addr).await
}

/// Binds, prints `listening on ADDR` once ready, and serves until Ctrl-C or SIGTERM (then
/// in-flight calls get a second to finish).
pub async fn serve(options: &ServerOptions) -> io::Result<()> {
    let server = bind(options).await?;
    println!("listening on {}", server.local_addr());
    let handle = server.handle();
    tokio::spawn(async move {
        stop_signal().await;
        handle.shutdown_graceful(Duration::from_secs(1));
    });
    server.serve().await
}

/// Resolves on Ctrl-C, or on SIGTERM where there is one.
async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// `grpc.testing.TestService` (see the module docs).
#[derive(Clone, Copy, Debug, Default)]
pub struct TestService;

/// Full method paths of `grpc.testing.TestService`.
pub mod paths {
    /// EmptyCall.
    pub const EMPTY_CALL: &str = "/grpc.testing.TestService/EmptyCall";
    /// UnaryCall.
    pub const UNARY_CALL: &str = "/grpc.testing.TestService/UnaryCall";
    /// CacheableUnaryCall.
    pub const CACHEABLE_UNARY_CALL: &str = "/grpc.testing.TestService/CacheableUnaryCall";
    /// StreamingOutputCall.
    pub const STREAMING_OUTPUT_CALL: &str = "/grpc.testing.TestService/StreamingOutputCall";
    /// StreamingInputCall.
    pub const STREAMING_INPUT_CALL: &str = "/grpc.testing.TestService/StreamingInputCall";
    /// FullDuplexCall.
    pub const FULL_DUPLEX_CALL: &str = "/grpc.testing.TestService/FullDuplexCall";
    /// HalfDuplexCall.
    pub const HALF_DUPLEX_CALL: &str = "/grpc.testing.TestService/HalfDuplexCall";
    /// UnimplementedCall.
    pub const UNIMPLEMENTED_CALL: &str = "/grpc.testing.TestService/UnimplementedCall";
}

impl GrpcService for TestService {
    const NAME: &'static str = "grpc.testing.TestService";

    fn register(self, routes: &mut Routes) {
        routes.unary(
            paths::EMPTY_CALL,
            ProstCodec::<Empty, Empty>::new(),
            |_request: Request<Empty>| async move { Ok(Response::new(Empty {})) },
        );
        routes.unary(
            paths::UNARY_CALL,
            ProstCodec::<SimpleResponse, SimpleRequest>::new(),
            unary_call,
        );
        routes.unary(
            paths::CACHEABLE_UNARY_CALL,
            ProstCodec::<SimpleResponse, SimpleRequest>::new(),
            cacheable_unary_call,
        );
        routes.server_streaming(
            paths::STREAMING_OUTPUT_CALL,
            ProstCodec::<StreamingOutputCallResponse, StreamingOutputCallRequest>::new(),
            |request, sink| Box::pin(streaming_output_call(request, sink)),
        );
        routes.client_streaming(
            paths::STREAMING_INPUT_CALL,
            ProstCodec::<StreamingInputCallResponse, StreamingInputCallRequest>::new(),
            streaming_input_call,
        );
        routes.streaming(
            paths::FULL_DUPLEX_CALL,
            ProstCodec::<StreamingOutputCallResponse, StreamingOutputCallRequest>::new(),
            |request, sink| Box::pin(full_duplex_call(request, sink)),
        );
        routes.streaming(
            paths::HALF_DUPLEX_CALL,
            ProstCodec::<StreamingOutputCallResponse, StreamingOutputCallRequest>::new(),
            |request, sink| Box::pin(half_duplex_call(request, sink)),
        );
        routes.unary(
            paths::UNIMPLEMENTED_CALL,
            ProstCodec::<Empty, Empty>::new(),
            |_request: Request<Empty>| async move {
                Err::<Response<Empty>, _>(Status::unimplemented(
                    "grpc.testing.TestService/UnimplementedCall is not implemented, on purpose",
                ))
            },
        );
    }
}

async fn unary_call(request: Request<SimpleRequest>) -> Result<Response<SimpleResponse>, Status> {
    let message = request.get_ref();
    let compressed = ReceivedCompressed::of(request.extensions());
    check_compression(message.expect_compressed.as_ref(), compressed)?;
    if let Some(status) = requested_status(message.response_status.as_ref()) {
        return Err(status);
    }
    check_payload_type(message.response_type)?;
    let response = SimpleResponse {
        payload: Some(zeros(message.response_size)?),
        username: match message.fill_username {
            true => bearer_token(request.metadata()).unwrap_or_default(),
            false => String::new(),
        },
        server_id: match message.fill_server_id {
            true => SERVER_ID.to_owned(),
            false => String::new(),
        },
        ..SimpleResponse::default()
    };
    let compress = is_true(message.response_compressed.as_ref());
    Ok(compressed_if(compress, Response::new(response)))
}

async fn cacheable_unary_call(
    request: Request<SimpleRequest>,
) -> Result<Response<SimpleResponse>, Status> {
    // Any value that differs from call to call will do: a cache in front is what makes two
    // answers equal.
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    let mut response = Response::new(SimpleResponse {
        payload: Some(Payload {
            r#type: PayloadType::Compressable.into(),
            body: Bytes::from(nanos.to_string()),
        }),
        ..SimpleResponse::default()
    });
    response
        .metadata_mut()
        .insert("cache-control", "max-age=60, public")
        .map_err(|e| Status::internal(e.to_string()))?;
    let compress = is_true(request.get_ref().response_compressed.as_ref());
    Ok(compressed_if(compress, response))
}

/// `response`, its message compressed only if `compress` (and the client accepts gzip).
fn compressed_if<T>(compress: bool, mut response: Response<T>) -> Response<T> {
    response.extensions_mut().insert(CompressResponse(compress));
    response
}

async fn streaming_output_call(
    request: Request<StreamingOutputCallRequest>,
    sink: &mut ResponseSink<StreamingOutputCallResponse>,
) -> Result<(), Status> {
    respond(request.get_ref(), sink).await
}

async fn streaming_input_call(
    request: Request<Streaming<StreamingInputCallRequest>>,
) -> Result<Response<StreamingInputCallResponse>, Status> {
    let mut requests = request.into_inner();
    let mut total = 0usize;
    while let Some(message) = requests.message().await? {
        let compressed = requests.last_message_compressed();
        check_compression(message.expect_compressed.as_ref(), compressed)?;
        total += message.payload.map_or(0, |payload| payload.body.len());
    }
    let aggregated_payload_size = i32::try_from(total)
        .map_err(|_| Status::out_of_range(format!("{total} payload octets do not fit an int32")))?;
    let response = Response::new(StreamingInputCallResponse {
        aggregated_payload_size,
    });
    Ok(compressed_if(false, response))
}

async fn full_duplex_call(
    request: Request<Streaming<StreamingOutputCallRequest>>,
    sink: &mut ResponseSink<StreamingOutputCallResponse>,
) -> Result<(), Status> {
    let mut requests = request.into_inner();
    while let Some(message) = requests.message().await? {
        respond(&message, sink).await?;
    }
    Ok(())
}

async fn half_duplex_call(
    request: Request<Streaming<StreamingOutputCallRequest>>,
    sink: &mut ResponseSink<StreamingOutputCallResponse>,
) -> Result<(), Status> {
    let mut requests = request.into_inner();
    let mut buffered = Vec::new();
    while let Some(message) = requests.message().await? {
        buffered.push(message);
    }
    for message in &buffered {
        respond(message, sink).await?;
    }
    Ok(())
}

/// Answers one StreamingOutputCallRequest: its status if it asks for one (nothing else is
/// processed then), else one response per ResponseParameters, each after its interval.
async fn respond(
    request: &StreamingOutputCallRequest,
    sink: &mut ResponseSink<StreamingOutputCallResponse>,
) -> Result<(), Status> {
    if let Some(status) = requested_status(request.response_status.as_ref()) {
        return Err(status);
    }
    check_payload_type(request.response_type)?;
    for parameters in &request.response_parameters {
        if let Ok(micros @ 1..) = u64::try_from(parameters.interval_us) {
            tokio::time::sleep(Duration::from_micros(micros)).await;
        }
        let payload = zeros(parameters.size)?;
        sink.set_compression(is_true(parameters.compressed.as_ref()));
        sink.send(StreamingOutputCallResponse {
            payload: Some(payload),
        })
        .await?;
    }
    Ok(())
}

/// The interceptor that answers "Echo Metadata" on every call (see [`echo_metadata`]). The
/// response headers and trailers an interceptor adds go out whatever status the call ends
/// with, even one the handler returns before sending anything.
pub fn echo_interceptor() -> impl Interceptor {
    interceptor_fn(|mut call: ServerCall, next: Next| {
        let (mut headers, mut trailers) = (Metadata::new(), Metadata::new());
        echo_metadata(call.metadata(), &mut headers, &mut trailers);
        call.response_headers_mut().extend(headers);
        call.response_trailers_mut().extend(trailers);
        next.run(call)
    })
}

/// "Echo Metadata": `x-grpc-test-echo-initial` goes back as a response header and
/// `x-grpc-test-echo-trailing-bin` as a trailer, with the values received.
pub fn echo_metadata(request: &Metadata, headers: &mut Metadata, trailers: &mut Metadata) {
    for value in request.get_all(ECHO_INITIAL) {
        // The value came in as a valid header value, so it goes back out as one.
        let _ = headers.append(ECHO_INITIAL, value);
    }
    for value in request.get_all_bin(ECHO_TRAILING) {
        let _ = trailers.append_bin(ECHO_TRAILING, value.clone());
    }
}

/// The status an `EchoStatus` asks for; code 0 asks for none.
fn requested_status(status: Option<&EchoStatus>) -> Option<Status> {
    let status = status.filter(|status| status.code != 0)?;
    Some(Status::new(Code::from_i32(status.code), &status.message))
}

/// "CompressedRequest": a message whose `expect_compressed` is set must have arrived that
/// way.
fn check_compression(expect: Option<&BoolValue>, compressed: bool) -> Result<(), Status> {
    match expect.map(|expect| expect.value) {
        Some(true) if !compressed => Err(Status::invalid_argument(
            "expected a compressed request message, got an uncompressed one",
        )),
        Some(false) if compressed => Err(Status::invalid_argument(
            "expected an uncompressed request message, got a compressed one",
        )),
        _ => Ok(()),
    }
}

/// Only COMPRESSABLE payloads exist; anything else is INVALID_ARGUMENT ("UnaryCall").
fn check_payload_type(response_type: i32) -> Result<(), Status> {
    match PayloadType::try_from(response_type) {
        Ok(PayloadType::Compressable) => Ok(()),
        _ => Err(Status::invalid_argument(format!(
            "unsupported response_type {response_type}"
        ))),
    }
}

/// A COMPRESSABLE payload of `size` zeros.
fn zeros(size: i32) -> Result<Payload, Status> {
    let size = usize::try_from(size)
        .ok()
        .filter(|&size| size <= MAX_PAYLOAD_SIZE)
        .ok_or_else(|| {
            Status::invalid_argument(format!(
                "payload size {size} is outside 0..={MAX_PAYLOAD_SIZE}"
            ))
        })?;
    Ok(Payload {
        r#type: PayloadType::Compressable.into(),
        body: Bytes::from(vec![0u8; size]),
    })
}

fn is_true(value: Option<&BoolValue>) -> bool {
    value.is_some_and(|value| value.value)
}

/// The token of an `authorization: Bearer <token>` request header.
pub fn bearer_token(metadata: &Metadata) -> Option<String> {
    let value = metadata.get("authorization")?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn flags() {
        let options = ServerOptions::from_args(args(&[])).unwrap();
        assert_eq!(options.addr, "127.0.0.1:10000".parse().unwrap());
        assert!(options.tls.is_none());
        let options = ServerOptions::from_args(args(&["--port", "0", "--use_tls"])).unwrap();
        assert_eq!(options.addr.port(), 0);
        assert_eq!(
            options.tls.unwrap().cert_pem,
            crate::certs::SERVER_CERT.to_vec()
        );
        let options = ServerOptions::from_args(args(&["--port=5", "--use_tls=false"])).unwrap();
        assert!(options.tls.is_none());
        assert!(ServerOptions::from_args(args(&["--tls_cert_file=x"])).is_err());
        assert!(ServerOptions::from_args(args(&["--use_tls", "--tls_cert_file=x"])).is_err());
        assert!(
            ServerOptions::from_args(args(&[
                "--use_tls",
                "--tls_cert_file=/nonexistent",
                "--tls_key_file=/nonexistent"
            ]))
            .is_err()
        );
    }

    #[test]
    fn compression_checks() {
        let yes = BoolValue { value: true };
        let no = BoolValue { value: false };
        assert!(check_compression(None, true).is_ok());
        assert!(check_compression(None, false).is_ok());
        assert!(check_compression(Some(&yes), true).is_ok());
        assert!(check_compression(Some(&no), false).is_ok());
        let code = |r: Result<(), Status>| r.unwrap_err().code();
        assert_eq!(
            code(check_compression(Some(&yes), false)),
            Code::InvalidArgument
        );
        assert_eq!(
            code(check_compression(Some(&no), true)),
            Code::InvalidArgument
        );
    }

    #[test]
    fn payloads_and_statuses() {
        assert_eq!(zeros(3).unwrap().body, Bytes::from_static(&[0, 0, 0]));
        assert_eq!(zeros(-1).unwrap_err().code(), Code::InvalidArgument);
        assert!(zeros(i32::MAX).is_err());
        assert!(check_payload_type(0).is_ok());
        assert!(check_payload_type(1).is_err());
        assert!(requested_status(None).is_none());
        let ok = EchoStatus {
            code: 0,
            message: "fine".into(),
        };
        assert!(requested_status(Some(&ok)).is_none());
        let failed = EchoStatus {
            code: 2,
            message: "no".into(),
        };
        let status = requested_status(Some(&failed)).unwrap();
        assert_eq!((status.code(), status.message()), (Code::Unknown, "no"));
    }

    #[test]
    fn metadata_echo_and_tokens() {
        let mut request = Metadata::new();
        request.insert(ECHO_INITIAL, "hello").unwrap();
        request
            .insert_bin(ECHO_TRAILING, Bytes::from_static(b"\xab\xab\xab"))
            .unwrap();
        request.insert("authorization", "Bearer abc").unwrap();
        let (mut headers, mut trailers) = (Metadata::new(), Metadata::new());
        echo_metadata(&request, &mut headers, &mut trailers);
        assert_eq!(headers.get(ECHO_INITIAL), Some("hello"));
        assert_eq!(headers.len(), 1);
        assert_eq!(
            trailers.get_bin(ECHO_TRAILING).map(|v| &v[..]),
            Some(&b"\xab\xab\xab"[..])
        );
        assert_eq!(bearer_token(&request).as_deref(), Some("abc"));
        request.insert("authorization", "Basic abc").unwrap();
        assert_eq!(bearer_token(&request), None);
    }
}
