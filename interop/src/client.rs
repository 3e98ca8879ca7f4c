//! The interop client: the test cases of `doc/interop-test-descriptions.md` that need no
//! cloud credentials, plus `concurrent_large_unary` and `bearer_token`.
//!
//! Each case returns an [`Outcome`]: it passed, it does not apply here (SKIP, with why), or
//! it failed (with what was wrong). [`Case::ALL`] is the order `--test_case all` runs them
//! in.
//!
//! Notes on particular cases:
//!
//! - `cacheable_unary` makes both calls as the description says (same payload, `x-user-ip:
//!   1.2.3.4`), but a cacheable request is sent with GET only by a client that marks it so,
//!   and only a caching proxy in front of the server can make the two answers equal:
//!   gRPC over HTTP/2 requires POST, and grpc-client always sends POST. With both calls
//!   successful and different answers (no cache in the way) the case is a SKIP; with equal
//!   answers it passes.
//! - `server_compressed_unary` and `server_compressed_streaming` check each response's
//!   Compressed-Flag: [`ReceivedCompressed`] in a unary response's extensions,
//!   `Streaming::last_message_compressed` per streamed message.
//! - `client_compressed_streaming` sends its first message compressed and switches
//!   compression off for the second (`ClientStreamingCall::set_compression`), on one stream.
//! - `cancel_after_begin` and `cancel_after_first_response` cancel by dropping the sending
//!   half of the call before it half-closed (grpc-client resets the stream with CANCEL) and
//!   check that the receiving half then reports CANCELLED.
//! - `concurrent_large_unary` runs [`ClientOptions::concurrent_calls`] (default 1000, the
//!   description's number) `large_unary` calls at once on the one channel.
//! - `bearer_token` (ours): a `large_unary` request with `fill_username`, sent with
//!   per-call [`BearerToken`] credentials; the server must report the token as the user name
//!   (our server does). Over plaintext it is a SKIP, since credentials go only over TLS.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::flags::{FlagError, Flags, Kind};
use crate::pb::test_service_client::TestServiceClient;
use crate::pb::unimplemented_service_client::UnimplementedServiceClient;
use crate::pb::{
    BoolValue, EchoStatus, Empty, Payload, PayloadType, ResponseParameters, SimpleRequest,
    SimpleResponse, StreamingInputCallRequest, StreamingInputCallResponse,
    StreamingOutputCallRequest,
};
use crate::server::{ECHO_INITIAL, ECHO_TRAILING, paths};
use bytes::Bytes;
use grpc_client::{CallOptions, Channel, Code, ReceivedCompressed, Request, Status};
use grpc_core::codec::ProstCodec;
use grpc_core::credentials::BearerToken;

/// How long one case may take before it fails.
pub const CASE_TIMEOUT: Duration = Duration::from_secs(120);

/// The bearer token the `bearer_token` case sends unless `--bearer_token` says otherwise.
pub const DEFAULT_BEARER_TOKEN: &str = "interop-token";

/// The test cases.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Case {
    /// EmptyCall with an empty message.
    EmptyUnary,
    /// Two CacheableUnaryCall calls whose answers a caching proxy should make equal.
    CacheableUnary,
    /// UnaryCall: 271828 octets out, 314159 back.
    LargeUnary,
    /// UnaryCall with compressed and uncompressed requests, after a probe.
    ClientCompressedUnary,
    /// UnaryCall asking for a compressed and an uncompressed response.
    ServerCompressedUnary,
    /// StreamingInputCall with four messages.
    ClientStreaming,
    /// StreamingInputCall with a compressed then an uncompressed message, after a probe.
    ClientCompressedStreaming,
    /// StreamingOutputCall with four responses.
    ServerStreaming,
    /// StreamingOutputCall with a compressed and an uncompressed response.
    ServerCompressedStreaming,
    /// FullDuplexCall, one request and one response at a time.
    PingPong,
    /// FullDuplexCall with no messages either way.
    EmptyStream,
    /// Echoed metadata on UnaryCall and FullDuplexCall.
    CustomMetadata,
    /// A requested status on UnaryCall and FullDuplexCall.
    StatusCodeAndMessage,
    /// A status message with whitespace and non-ASCII characters.
    SpecialStatusMessage,
    /// TestService/UnimplementedCall.
    UnimplementedMethod,
    /// UnimplementedService/UnimplementedCall.
    UnimplementedService,
    /// StreamingInputCall cancelled before any message.
    CancelAfterBegin,
    /// FullDuplexCall cancelled after the first response.
    CancelAfterFirstResponse,
    /// FullDuplexCall with a 1 ms deadline.
    TimeoutOnSleepingServer,
    /// Many `large_unary` calls at once on one channel.
    ConcurrentLargeUnary,
    /// UnaryCall with a bearer token that the server reports back as the user name.
    BearerToken,
}

impl Case {
    /// Every case, in the order `--test_case all` runs them.
    pub const ALL: [Case; 21] = [
        Case::EmptyUnary,
        Case::CacheableUnary,
        Case::LargeUnary,
        Case::ClientCompressedUnary,
        Case::ServerCompressedUnary,
        Case::ClientStreaming,
        Case::ClientCompressedStreaming,
        Case::ServerStreaming,
        Case::ServerCompressedStreaming,
        Case::PingPong,
        Case::EmptyStream,
        Case::CustomMetadata,
        Case::StatusCodeAndMessage,
        Case::SpecialStatusMessage,
        Case::UnimplementedMethod,
        Case::UnimplementedService,
        Case::CancelAfterBegin,
        Case::CancelAfterFirstResponse,
        Case::TimeoutOnSleepingServer,
        Case::ConcurrentLargeUnary,
        Case::BearerToken,
    ];

    /// The name `--test_case` takes.
    pub fn name(self) -> &'static str {
        match self {
            Case::EmptyUnary => "empty_unary",
            Case::CacheableUnary => "cacheable_unary",
            Case::LargeUnary => "large_unary",
            Case::ClientCompressedUnary => "client_compressed_unary",
            Case::ServerCompressedUnary => "server_compressed_unary",
            Case::ClientStreaming => "client_streaming",
            Case::ClientCompressedStreaming => "client_compressed_streaming",
            Case::ServerStreaming => "server_streaming",
            Case::ServerCompressedStreaming => "server_compressed_streaming",
            Case::PingPong => "ping_pong",
            Case::EmptyStream => "empty_stream",
            Case::CustomMetadata => "custom_metadata",
            Case::StatusCodeAndMessage => "status_code_and_message",
            Case::SpecialStatusMessage => "special_status_message",
            Case::UnimplementedMethod => "unimplemented_method",
            Case::UnimplementedService => "unimplemented_service",
            Case::CancelAfterBegin => "cancel_after_begin",
            Case::CancelAfterFirstResponse => "cancel_after_first_response",
            Case::TimeoutOnSleepingServer => "timeout_on_sleeping_server",
            Case::ConcurrentLargeUnary => "concurrent_large_unary",
            Case::BearerToken => "bearer_token",
        }
    }

    /// The case called `name`.
    pub fn from_name(name: &str) -> Option<Case> {
        Case::ALL.into_iter().find(|case| case.name() == name)
    }
}

impl fmt::Display for Case {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How a case ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Everything the case checks held.
    Pass,
    /// The case does not apply to this setup (why).
    Skip(String),
    /// Something the case checks did not hold (what).
    Fail(String),
}

impl Outcome {
    /// The line the client prints: `PASS case`, `SKIP case: why` or `FAIL case: what`.
    pub fn line(&self, case: &str) -> String {
        match self {
            Outcome::Pass => format!("PASS {case}"),
            Outcome::Skip(why) => format!("SKIP {case}: {why}"),
            Outcome::Fail(what) => format!("FAIL {case}: {what}"),
        }
    }

    /// Whether the case failed.
    pub fn is_fail(&self) -> bool {
        matches!(self, Outcome::Fail(_))
    }
}

/// Where and how to connect, and what the cases send.
#[derive(Clone, Debug)]
pub struct ClientOptions {
    /// The server's host name or address (default `127.0.0.1`).
    pub server_host: String,
    /// The server's port (default 10000).
    pub server_port: u16,
    /// The name to verify the server's certificate against and to send as `:authority`.
    pub server_host_override: Option<String>,
    /// Connect with TLS, trusting these CA certificates (PEM); `None` is plaintext.
    pub tls_ca: Option<Vec<u8>>,
    /// The token `bearer_token` sends.
    pub bearer_token: String,
    /// How many calls `concurrent_large_unary` makes at once.
    pub concurrent_calls: usize,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            server_host: "127.0.0.1".to_owned(),
            server_port: crate::server::DEFAULT_PORT,
            server_host_override: None,
            tls_ca: None,
            bearer_token: DEFAULT_BEARER_TOKEN.to_owned(),
            concurrent_calls: 1000,
        }
    }
}

/// The flags `interop-client` takes.
pub const FLAGS: &[(&str, Kind)] = &[
    ("server_host", Kind::Value),
    ("server_port", Kind::Value),
    ("server_host_override", Kind::Value),
    ("test_case", Kind::Value),
    ("use_tls", Kind::Bool),
    ("use_test_ca", Kind::Bool),
    ("ca_file", Kind::Value),
    ("bearer_token", Kind::Value),
    ("concurrent_calls", Kind::Value),
    // Flags of the reference clients for the cloud-credential cases, which this client does
    // not run: accepted so that a runner can pass them, and ignored.
    ("default_service_account", Kind::Ignored),
    ("oauth_scope", Kind::Ignored),
    ("service_account_key_file", Kind::Ignored),
];

/// Usage text of `interop-client`.
pub const USAGE: &str = "usage: interop-client [--server_host=H] [--server_port=N] \
[--server_host_override=NAME] [--test_case=CASE|all] [--use_tls[=true|false]] \
[--use_test_ca[=true|false]] [--ca_file=PEM] [--bearer_token=TOKEN] [--concurrent_calls=N]
  --server_host           server host name or address (default 127.0.0.1)
  --server_port           server port (default 10000)
  --server_host_override  name for TLS verification and :authority (default: server_host)
  --test_case             a case name, or all (default large_unary)
  --use_tls               connect with TLS
  --use_test_ca           trust the repository's test CA
                          (crates/grpc-transport/tests/data/ca.pem)
  --ca_file               trust the CA certificates in this PEM file instead
  --bearer_token          token the bearer_token case sends (default interop-token)
  --concurrent_calls      calls concurrent_large_unary makes at once (default 1000)";

/// What the command line asks for: the options and the case (or `all`).
#[derive(Clone, Debug)]
pub struct Invocation {
    /// Connection and case options.
    pub options: ClientOptions,
    /// The `--test_case` value: a case name or `all`.
    pub test_case: String,
}

impl Invocation {
    /// Parses the command line (without the program name).
    pub fn from_args(args: impl IntoIterator<Item = String>) -> Result<Invocation, FlagError> {
        let flags = Flags::parse(args, FLAGS)?;
        let defaults = ClientOptions::default();
        let test_case = flags.value("test_case").unwrap_or("large_unary").to_owned();
        if test_case != "all" && Case::from_name(&test_case).is_none() {
            let names: Vec<_> = Case::ALL.iter().map(|case| case.name()).collect();
            return Err(FlagError(format!(
                "unknown test case {test_case:?}; known: all, {}",
                names.join(", ")
            )));
        }
        let tls_ca = match (flags.bool("use_tls"), flags.value("ca_file")) {
            (false, _) => None,
            (true, Some(path)) => Some(crate::server::read_file("ca_file", path)?),
            (true, None) if flags.bool("use_test_ca") => Some(crate::certs::CA.to_vec()),
            (true, None) => {
                return Err(FlagError(
                    "--use_tls needs --use_test_ca or --ca_file (grpc-client has no system \
                     root certificates)"
                        .into(),
                ));
            }
        };
        let options = ClientOptions {
            server_host: flags
                .value("server_host")
                .unwrap_or(&defaults.server_host)
                .to_owned(),
            server_port: flags.parsed("server_port", defaults.server_port)?,
            server_host_override: flags
                .value("server_host_override")
                .filter(|name| !name.is_empty())
                .map(str::to_owned),
            tls_ca,
            bearer_token: flags
                .value("bearer_token")
                .unwrap_or(&defaults.bearer_token)
                .to_owned(),
            concurrent_calls: flags.parsed("concurrent_calls", defaults.concurrent_calls)?,
        };
        for name in flags.ignored() {
            eprintln!("note: --{name} is ignored (no cloud-credential cases here)");
        }
        Ok(Invocation { options, test_case })
    }

    /// The cases to run.
    pub fn cases(&self) -> Vec<Case> {
        match Case::from_name(&self.test_case) {
            Some(case) => vec![case],
            None => Case::ALL.to_vec(),
        }
    }
}

/// A connected interop client: one channel, shared by every case.
#[derive(Clone, Debug)]
pub struct Client {
    channel: Channel,
    test: TestServiceClient,
    unimplemented: UnimplementedServiceClient,
    secure: bool,
    bearer_token: String,
    concurrent_calls: usize,
}

impl Client {
    /// Connects as `options` say. The channel accepts every built-in compressor.
    pub async fn connect(options: &ClientOptions) -> Result<Client, Status> {
        let host = match options.server_host.contains(':') && !options.server_host.starts_with('[')
        {
            true => format!("[{}]", options.server_host),
            false => options.server_host.clone(),
        };
        let scheme = if options.tls_ca.is_some() {
            "https"
        } else {
            "http"
        };
        let mut builder = Channel::builder(&format!("{scheme}://{host}:{}", options.server_port));
        if let Some(name) = &options.server_host_override {
            builder = builder.server_name_override(name);
        }
        if let Some(ca) = &options.tls_ca {
            builder = builder.tls_ca_pem(ca)?;
        }
        let channel = builder.connect().await?;
        Ok(Client {
            test: TestServiceClient::new(channel.clone()),
            unimplemented: UnimplementedServiceClient::new(channel.clone()),
            channel,
            secure: options.tls_ca.is_some(),
            bearer_token: options.bearer_token.clone(),
            concurrent_calls: options.concurrent_calls,
        })
    }

    /// Runs one case (at most [`CASE_TIMEOUT`]).
    pub async fn run(&self, case: Case) -> Outcome {
        match tokio::time::timeout(CASE_TIMEOUT, self.run_case(case)).await {
            Ok(Ok(outcome)) => outcome,
            Ok(Err(what)) => Outcome::Fail(what),
            Err(_) => Outcome::Fail(format!(
                "did not finish within {} s",
                CASE_TIMEOUT.as_secs()
            )),
        }
    }

    async fn run_case(&self, case: Case) -> CaseResult {
        match case {
            Case::EmptyUnary => self.empty_unary().await,
            Case::CacheableUnary => self.cacheable_unary().await,
            Case::LargeUnary => self.large_unary().await,
            Case::ClientCompressedUnary => self.client_compressed_unary().await,
            Case::ServerCompressedUnary => self.server_compressed_unary().await,
            Case::ClientStreaming => self.client_streaming().await,
            Case::ClientCompressedStreaming => self.client_compressed_streaming().await,
            Case::ServerStreaming => self.server_streaming().await,
            Case::ServerCompressedStreaming => self.server_compressed_streaming().await,
            Case::PingPong => self.ping_pong().await,
            Case::EmptyStream => self.empty_stream().await,
            Case::CustomMetadata => self.custom_metadata().await,
            Case::StatusCodeAndMessage => self.status_code_and_message().await,
            Case::SpecialStatusMessage => self.special_status_message().await,
            Case::UnimplementedMethod => self.unimplemented_method().await,
            Case::UnimplementedService => self.unimplemented_service().await,
            Case::CancelAfterBegin => self.cancel_after_begin().await,
            Case::CancelAfterFirstResponse => self.cancel_after_first_response().await,
            Case::TimeoutOnSleepingServer => self.timeout_on_sleeping_server().await,
            Case::ConcurrentLargeUnary => self.concurrent_large_unary().await,
            Case::BearerToken => self.bearer_token().await,
        }
    }

    async fn empty_unary(&self) -> CaseResult {
        // The generated client returns the decoded message: a response arrived.
        let _response: Empty = self
            .test
            .empty_call(Empty {})
            .await
            .map_err(failed("EmptyCall"))?
            .into_inner();
        PASS
    }

    async fn cacheable_unary(&self) -> CaseResult {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos();
        let request = || -> Result<Request<SimpleRequest>, String> {
            let mut request = Request::new(SimpleRequest {
                payload: Some(payload_of(Bytes::from(nanos.to_string()))),
                ..SimpleRequest::default()
            });
            request
                .metadata_mut()
                .insert("x-user-ip", "1.2.3.4")
                .map_err(|e| e.to_string())?;
            Ok(request)
        };
        let first = self.test.cacheable_unary_call(request()?).await;
        let first = first.map_err(failed("the first CacheableUnaryCall"))?;
        let second = self.test.cacheable_unary_call(request()?).await;
        let second = second.map_err(failed("the second CacheableUnaryCall"))?;
        let body = |response: &SimpleResponse| response.payload.as_ref().map(|p| p.body.clone());
        if body(first.get_ref()) == body(second.get_ref()) {
            return PASS;
        }
        Ok(Outcome::Skip(
            "needs a caching proxy (both calls succeeded; their answers differ, as they must \
             without a cache: grpc-client sends POST, never the GET of a cacheable request)"
                .into(),
        ))
    }

    async fn large_unary(&self) -> CaseResult {
        let response = self.test.unary_call(large_request()).await;
        let response = response.map_err(failed("UnaryCall"))?.into_inner();
        check_payload(response.payload.as_ref(), 314_159, "the response")?;
        PASS
    }

    async fn client_compressed_unary(&self) -> CaseResult {
        let request = |expect: bool, encoding: &'static str| {
            with_options(
                SimpleRequest {
                    expect_compressed: Some(BoolValue { value: expect }),
                    ..large_request()
                },
                CallOptions::new().compression(encoding),
            )
        };
        let probe = self.test.unary_call(request(true, "identity")).await;
        expect_status(
            probe,
            Code::InvalidArgument,
            "the probe (expect_compressed=true, sent uncompressed)",
        )?;
        for (expect, encoding) in [(true, "gzip"), (false, "identity")] {
            let what = format!("UnaryCall with expect_compressed={expect}, sent as {encoding}");
            let response = self.test.unary_call(request(expect, encoding)).await;
            let response = response.map_err(failed(&what))?.into_inner();
            check_payload(response.payload.as_ref(), 314_159, &what)?;
        }
        PASS
    }

    async fn server_compressed_unary(&self) -> CaseResult {
        for compressed in [true, false] {
            let request = SimpleRequest {
                response_compressed: Some(BoolValue { value: compressed }),
                ..large_request()
            };
            let what = format!("UnaryCall with response_compressed={compressed}");
            let response = self.test.unary_call(request).await.map_err(failed(&what))?;
            let flag = ReceivedCompressed::of(response.extensions());
            ensure(
                flag == compressed,
                format!("{what}: the response's Compressed-Flag was {flag}"),
            )?;
            check_payload(response.get_ref().payload.as_ref(), 314_159, &what)?;
        }
        PASS
    }

    async fn client_streaming(&self) -> CaseResult {
        let mut call = self
            .test
            .streaming_input_call(())
            .await
            .map_err(failed("starting StreamingInputCall"))?;
        for size in [27_182, 8, 1_828, 45_904] {
            call.send(input_request(size, None))
                .await
                .map_err(failed(&format!("sending {size} octets")))?;
        }
        let response = call.finish().await.map_err(failed("StreamingInputCall"))?;
        let total = response.get_ref().aggregated_payload_size;
        ensure(
            total == 74_922,
            format!("aggregated_payload_size {total}, expected 74922"),
        )?;
        PASS
    }

    async fn client_compressed_streaming(&self) -> CaseResult {
        // The probe: an uncompressed message that claims to be compressed.
        let mut probe = self
            .test
            .streaming_input_call(with_options((), CallOptions::new().compression("identity")))
            .await
            .map_err(failed("starting the probe"))?;
        let result = match probe.send(input_request(27_182, Some(true))).await {
            Ok(()) => probe.finish().await.map(drop),
            Err(status) => Err(status),
        };
        expect_status(
            result,
            Code::InvalidArgument,
            "the probe (expect_compressed=true, sent uncompressed)",
        )?;

        let mut call = self
            .test
            .streaming_input_call(with_options((), CallOptions::new().compression("gzip")))
            .await
            .map_err(failed("starting StreamingInputCall"))?;
        call.send(input_request(27_182, Some(true)))
            .await
            .map_err(failed("sending the compressed message"))?;
        // The second message goes uncompressed on the same stream.
        call.set_compression(false);
        call.send(input_request(45_904, Some(false)))
            .await
            .map_err(failed("sending the uncompressed message"))?;
        let response = call.finish().await.map_err(failed("StreamingInputCall"))?;
        let total = response.get_ref().aggregated_payload_size;
        ensure(
            total == 73_086,
            format!("aggregated_payload_size {total}, expected 73086"),
        )?;
        PASS
    }

    async fn server_streaming(&self) -> CaseResult {
        let sizes = [31_415, 9, 2_653, 58_979];
        let request = StreamingOutputCallRequest {
            response_parameters: sizes.iter().map(|&size| parameters(size, None)).collect(),
            ..StreamingOutputCallRequest::default()
        };
        let mut responses = self
            .test
            .streaming_output_call(request)
            .await
            .map_err(failed("StreamingOutputCall"))?
            .into_inner();
        let mut received = Vec::new();
        while let Some(response) = responses
            .message()
            .await
            .map_err(failed("reading the responses"))?
        {
            let what = format!("response {}", received.len() + 1);
            let body = response.payload.as_ref().map_or(0, |p| p.body.len());
            check_payload(response.payload.as_ref(), body, &what)?;
            received.push(body);
        }
        ensure(
            received == sizes.map(|size| size as usize),
            format!("response sizes {received:?}, expected {sizes:?}"),
        )?;
        PASS
    }

    async fn server_compressed_streaming(&self) -> CaseResult {
        let wanted = [(true, 31_415), (false, 92_653)];
        let request = StreamingOutputCallRequest {
            response_parameters: wanted
                .iter()
                .map(|&(compressed, size)| parameters(size, Some(compressed)))
                .collect(),
            ..StreamingOutputCallRequest::default()
        };
        let mut responses = self
            .test
            .streaming_output_call(request)
            .await
            .map_err(failed("StreamingOutputCall"))?
            .into_inner();
        for (index, (compressed, size)) in wanted.into_iter().enumerate() {
            let what = format!("response {} (compressed={compressed})", index + 1);
            let message = responses
                .message()
                .await
                .map_err(failed(&what))?
                .ok_or_else(|| format!("the stream ended before {what}"))?;
            let flag = responses.last_message_compressed();
            ensure(
                flag == compressed,
                format!("{what}: the Compressed-Flag was {flag}"),
            )?;
            check_payload(message.payload.as_ref(), size as usize, &what)?;
        }
        let extra = responses.message().await.map_err(failed("the end"))?;
        ensure(extra.is_none(), "more than two responses".into())?;
        PASS
    }

    async fn ping_pong(&self) -> CaseResult {
        let mut call = self
            .test
            .full_duplex_call(())
            .await
            .map_err(failed("starting FullDuplexCall"))?;
        for (response_size, request_size) in
            [(31_415, 27_182), (9, 8), (2_653, 1_828), (58_979, 45_904)]
        {
            let what = format!("the response of {response_size} octets");
            call.send(output_request(&[response_size], request_size))
                .await
                .map_err(failed(&format!("sending for {what}")))?;
            let response = call
                .message()
                .await
                .map_err(failed(&what))?
                .ok_or_else(|| format!("the stream ended before {what}"))?;
            check_payload(response.payload.as_ref(), response_size as usize, &what)?;
        }
        call.close_send().await.map_err(failed("half-closing"))?;
        let extra = call
            .message()
            .await
            .map_err(failed("the end of the call"))?;
        ensure(extra.is_none(), "more than four responses".into())?;
        PASS
    }

    async fn empty_stream(&self) -> CaseResult {
        let mut call = self
            .test
            .full_duplex_call(())
            .await
            .map_err(failed("starting FullDuplexCall"))?;
        call.close_send().await.map_err(failed("half-closing"))?;
        let response = call.message().await.map_err(failed("FullDuplexCall"))?;
        ensure(response.is_none(), "a response arrived".into())?;
        PASS
    }

    async fn custom_metadata(&self) -> CaseResult {
        const INITIAL_VALUE: &str = "test_initial_metadata_value";
        const TRAILING_VALUE: &[u8] = b"\xab\xab\xab";
        fn with_echo_metadata<T>(message: T) -> Result<Request<T>, String> {
            let mut request = Request::new(message);
            let metadata = request.metadata_mut();
            metadata
                .insert(ECHO_INITIAL, INITIAL_VALUE)
                .and_then(|()| {
                    metadata.insert_bin(ECHO_TRAILING, Bytes::from_static(TRAILING_VALUE))
                })
                .map_err(|e| e.to_string())?;
            Ok(request)
        }
        fn check(
            headers: &grpc_client::Metadata,
            trailers: &grpc_client::Metadata,
            what: &str,
        ) -> Result<(), String> {
            let initial = headers.get(ECHO_INITIAL);
            ensure(
                initial == Some(INITIAL_VALUE),
                format!("{what}: response header {ECHO_INITIAL} was {initial:?}"),
            )?;
            let trailing = trailers.get_bin(ECHO_TRAILING).map(|value| &value[..]);
            ensure(
                trailing == Some(TRAILING_VALUE),
                format!("{what}: trailer {ECHO_TRAILING} was {trailing:?}"),
            )
        }

        let response = self
            .test
            .unary_call(with_echo_metadata(large_request())?)
            .await
            .map_err(failed("UnaryCall"))?;
        check(response.metadata(), response.trailers(), "UnaryCall")?;
        check_payload(response.get_ref().payload.as_ref(), 314_159, "UnaryCall")?;

        let mut call = self
            .test
            .full_duplex_call(with_echo_metadata(())?)
            .await
            .map_err(failed("starting FullDuplexCall"))?;
        call.send(output_request(&[314_159], 271_828))
            .await
            .map_err(failed("sending on FullDuplexCall"))?;
        call.close_send().await.map_err(failed("half-closing"))?;
        let mut sizes = Vec::new();
        while let Some(response) = call.message().await.map_err(failed("FullDuplexCall"))? {
            sizes.push(response.payload.map_or(0, |p| p.body.len()));
        }
        ensure(
            sizes == [314_159],
            format!("FullDuplexCall response sizes {sizes:?}, expected [314159]"),
        )?;
        let trailers = call.trailers().await.map_err(failed("FullDuplexCall"))?;
        check(call.headers(), &trailers, "FullDuplexCall")?;
        PASS
    }

    async fn status_code_and_message(&self) -> CaseResult {
        self.echo_status("test status message", true).await
    }

    async fn special_status_message(&self) -> CaseResult {
        self.echo_status(
            "\t\ntest with whitespace\r\nand Unicode BMP \u{263a} and non-BMP \u{1f608}\t\n",
            false,
        )
        .await
    }

    /// Asks for status UNKNOWN (2) with `message` on UnaryCall and, with `duplex`, on
    /// FullDuplexCall, and checks both come back as sent.
    async fn echo_status(&self, message: &str, duplex: bool) -> CaseResult {
        let status = EchoStatus {
            code: 2,
            message: message.to_owned(),
        };
        let check = |result: Result<(), Status>, what: &str| -> Result<(), String> {
            let got = expect_status(result, Code::Unknown, what)?;
            ensure(
                got.message() == message,
                format!(
                    "{what}: status message {:?}, expected {message:?}",
                    got.message()
                ),
            )
        };
        let unary = self
            .test
            .unary_call(SimpleRequest {
                response_status: Some(status.clone()),
                ..SimpleRequest::default()
            })
            .await;
        check(unary.map(drop), "UnaryCall")?;
        if duplex {
            let mut call = self
                .test
                .full_duplex_call(())
                .await
                .map_err(failed("starting FullDuplexCall"))?;
            // The server ends the call as soon as it reads the request, so sending and
            // half-closing may already fail; the status comes from the response side.
            let request = StreamingOutputCallRequest {
                response_status: Some(status),
                ..StreamingOutputCallRequest::default()
            };
            if call.send(request).await.is_ok() {
                let _ = call.close_send().await;
            }
            let result = call.message().await.map(drop);
            check(result, "FullDuplexCall")?;
        }
        PASS
    }

    async fn unimplemented_method(&self) -> CaseResult {
        let result = self.test.unimplemented_call(Empty {}).await;
        expect_status(
            result.map(drop),
            Code::Unimplemented,
            "TestService/UnimplementedCall",
        )?;
        PASS
    }

    async fn unimplemented_service(&self) -> CaseResult {
        let result = self.unimplemented.unimplemented_call(Empty {}).await;
        expect_status(
            result.map(drop),
            Code::Unimplemented,
            "UnimplementedService/UnimplementedCall",
        )?;
        PASS
    }

    async fn cancel_after_begin(&self) -> CaseResult {
        // A client-streaming call opened as a streaming call, so that its halves can be
        // split: the generated client's ClientStreamingCall can only be dropped whole, which
        // leaves no status to look at.
        let call = self
            .channel
            .streaming(
                Request::new(()),
                paths::STREAMING_INPUT_CALL,
                ProstCodec::<StreamingInputCallRequest, StreamingInputCallResponse>::new(),
            )
            .await
            .map_err(failed("starting StreamingInputCall"))?;
        let (sink, mut responses) = call.split();
        // Cancel: the request side goes away before half-closing (RST_STREAM CANCEL).
        drop(sink);
        let result = responses.message().await.map(drop);
        expect_status(result, Code::Cancelled, "the cancelled StreamingInputCall")?;
        PASS
    }

    async fn cancel_after_first_response(&self) -> CaseResult {
        let mut call = self
            .test
            .full_duplex_call(())
            .await
            .map_err(failed("starting FullDuplexCall"))?;
        call.send(output_request(&[31_415], 27_182))
            .await
            .map_err(failed("sending on FullDuplexCall"))?;
        let response = call
            .message()
            .await
            .map_err(failed("the first response"))?
            .ok_or("the stream ended before the first response")?;
        check_payload(response.payload.as_ref(), 31_415, "the first response")?;
        let (sink, mut responses) = call.split();
        drop(sink);
        let result = responses.message().await.map(drop);
        expect_status(result, Code::Cancelled, "the cancelled FullDuplexCall")?;
        PASS
    }

    async fn timeout_on_sleeping_server(&self) -> CaseResult {
        let mut request = Request::new(());
        request.set_timeout(Duration::from_millis(1));
        let mut call = match self.test.full_duplex_call(request).await {
            Ok(call) => call,
            Err(status) if status.code() == Code::DeadlineExceeded => return PASS,
            Err(status) => return Err(describe("starting FullDuplexCall", &status)),
        };
        if let Err(status) = call.send(output_request(&[], 27_182)).await {
            if status.code() != Code::DeadlineExceeded {
                return Err(describe("sending on FullDuplexCall", &status));
            }
        }
        let result = call.message().await.map(drop);
        expect_status(result, Code::DeadlineExceeded, "FullDuplexCall with 1 ms")?;
        PASS
    }

    async fn concurrent_large_unary(&self) -> CaseResult {
        let mut calls = tokio::task::JoinSet::new();
        for _ in 0..self.concurrent_calls {
            let client = self.clone();
            calls.spawn(async move { client.large_unary().await });
        }
        let mut failures = Vec::new();
        while let Some(joined) = calls.join_next().await {
            match joined {
                Ok(Ok(_)) => {}
                Ok(Err(what)) => failures.push(what),
                Err(error) => failures.push(format!("task failed: {error}")),
            }
        }
        match failures.first() {
            None => PASS,
            Some(first) => Err(format!(
                "{} of {} calls failed; the first: {first}",
                failures.len(),
                self.concurrent_calls
            )),
        }
    }

    async fn bearer_token(&self) -> CaseResult {
        if !self.secure {
            return Ok(Outcome::Skip(
                "needs --use_tls (grpc-client sends call credentials only over TLS)".into(),
            ));
        }
        let credentials = Arc::new(BearerToken::new(self.bearer_token.clone()));
        let request = with_options(
            SimpleRequest {
                fill_username: true,
                ..large_request()
            },
            CallOptions::new().credentials(credentials),
        );
        let response = self.test.unary_call(request).await;
        let response = response.map_err(failed("UnaryCall"))?.into_inner();
        ensure(
            response.username == self.bearer_token,
            format!(
                "username {:?}, expected the bearer token {:?}",
                response.username, self.bearer_token
            ),
        )?;
        check_payload(response.payload.as_ref(), 314_159, "the response")?;
        PASS
    }
}

/// What a case returns: an outcome, or what failed.
type CaseResult = Result<Outcome, String>;

const PASS: CaseResult = Ok(Outcome::Pass);

/// Connects as `options` say and runs `cases` in order, calling `report` with each outcome.
/// A failure to connect fails every case.
pub async fn run_cases(
    options: &ClientOptions,
    cases: &[Case],
    mut report: impl FnMut(Case, &Outcome),
) -> Vec<(Case, Outcome)> {
    let client = Client::connect(options).await;
    let mut outcomes = Vec::with_capacity(cases.len());
    for &case in cases {
        let outcome = match &client {
            Ok(client) => client.run(case).await,
            Err(status) => Outcome::Fail(describe("connecting", status)),
        };
        report(case, &outcome);
        outcomes.push((case, outcome));
    }
    outcomes
}

/// Connects as `options` say and runs one case.
pub async fn run_case(options: &ClientOptions, case: Case) -> Outcome {
    let mut outcomes = run_cases(options, &[case], |_, _| {}).await;
    outcomes
        .pop()
        .map_or_else(|| Outcome::Fail("not run".into()), |(_, outcome)| outcome)
}

/// `message` with `options` attached.
fn with_options<T>(message: T, options: CallOptions) -> Request<T> {
    let mut request = Request::new(message);
    request.extensions_mut().insert(options);
    request
}

/// The large_unary request: 271828 zeros out, 314159 back.
fn large_request() -> SimpleRequest {
    SimpleRequest {
        response_type: PayloadType::Compressable.into(),
        response_size: 314_159,
        payload: Some(zeros(271_828)),
        ..SimpleRequest::default()
    }
}

fn input_request(size: usize, expect_compressed: Option<bool>) -> StreamingInputCallRequest {
    StreamingInputCallRequest {
        payload: Some(zeros(size)),
        expect_compressed: expect_compressed.map(|value| BoolValue { value }),
    }
}

fn output_request(response_sizes: &[i32], request_size: usize) -> StreamingOutputCallRequest {
    StreamingOutputCallRequest {
        response_parameters: response_sizes
            .iter()
            .map(|&size| parameters(size, None))
            .collect(),
        payload: Some(zeros(request_size)),
        ..StreamingOutputCallRequest::default()
    }
}

fn parameters(size: i32, compressed: Option<bool>) -> ResponseParameters {
    ResponseParameters {
        size,
        interval_us: 0,
        compressed: compressed.map(|value| BoolValue { value }),
    }
}

fn zeros(size: usize) -> Payload {
    payload_of(Bytes::from(vec![0u8; size]))
}

fn payload_of(body: Bytes) -> Payload {
    Payload {
        r#type: PayloadType::Compressable.into(),
        body,
    }
}

/// Checks that `payload` is COMPRESSABLE and holds `size` zeros.
fn check_payload(payload: Option<&Payload>, size: usize, what: &str) -> Result<(), String> {
    let Some(payload) = payload else {
        return match size {
            0 => Ok(()),
            _ => Err(format!("{what}: no payload, expected {size} octets")),
        };
    };
    ensure(
        payload.r#type == i32::from(PayloadType::Compressable),
        format!("{what}: payload type {}", payload.r#type),
    )?;
    ensure(
        payload.body.len() == size,
        format!(
            "{what}: payload of {} octets, expected {size}",
            payload.body.len()
        ),
    )?;
    ensure(
        payload.body.iter().all(|&b| b == 0),
        format!("{what}: the payload is not all zeros"),
    )
}

fn ensure(condition: bool, what: String) -> Result<(), String> {
    if condition { Ok(()) } else { Err(what) }
}

/// Checks that `result` failed with `code`; returns the status.
fn expect_status<T>(result: Result<T, Status>, code: Code, what: &str) -> Result<Status, String> {
    match result {
        Ok(_) => Err(format!("{what}: succeeded, expected {code:?}")),
        Err(status) if status.code() == code => Ok(status),
        Err(status) => Err(format!(
            "{what}: {}, expected {code:?}",
            describe_status(&status)
        )),
    }
}

fn describe_status(status: &Status) -> String {
    format!("status {:?} ({:?})", status.code(), status.message())
}

fn describe(what: &str, status: &Status) -> String {
    format!("{what}: {}", describe_status(status))
}

/// `map_err` helper: a failed call as a case failure.
fn failed(what: &str) -> impl Fn(Status) -> String + '_ {
    move |status| describe(what, &status)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn case_names_round_trip() {
        for case in Case::ALL {
            assert_eq!(Case::from_name(case.name()), Some(case));
        }
        assert_eq!(Case::from_name("all"), None);
    }

    #[test]
    fn flags() {
        let invocation = Invocation::from_args(args(&[])).unwrap();
        assert_eq!(invocation.test_case, "large_unary");
        assert_eq!(invocation.cases(), [Case::LargeUnary]);
        assert_eq!(invocation.options.server_host, "127.0.0.1");
        assert_eq!(invocation.options.server_port, 10000);
        assert!(invocation.options.tls_ca.is_none());

        let invocation = Invocation::from_args(args(&[
            "--server_host=localhost",
            "--server_port",
            "1234",
            "--server_host_override=foo.test",
            "--test_case=all",
            "--use_tls",
            "--use_test_ca=true",
            "--oauth_scope=x",
        ]))
        .unwrap();
        assert_eq!(invocation.cases(), Case::ALL);
        let options = invocation.options;
        assert_eq!(options.server_host, "localhost");
        assert_eq!(options.server_port, 1234);
        assert_eq!(options.server_host_override.as_deref(), Some("foo.test"));
        assert_eq!(options.tls_ca.as_deref(), Some(crate::certs::CA));

        // TLS needs a CA to trust; a CA without TLS is unused.
        assert!(Invocation::from_args(args(&["--use_tls"])).is_err());
        let plain = Invocation::from_args(args(&["--use_test_ca"])).unwrap();
        assert!(plain.options.tls_ca.is_none());
        assert!(Invocation::from_args(args(&["--test_case=nope"])).is_err());
        assert!(Invocation::from_args(args(&["--use_tls", "--ca_file=/nonexistent"])).is_err());
    }

    #[test]
    fn outcome_lines() {
        assert_eq!(Outcome::Pass.line("x"), "PASS x");
        assert_eq!(Outcome::Skip("why".into()).line("x"), "SKIP x: why");
        assert_eq!(Outcome::Fail("what".into()).line("x"), "FAIL x: what");
    }

    #[test]
    fn payload_checks() {
        assert!(check_payload(Some(&zeros(3)), 3, "p").is_ok());
        assert!(check_payload(Some(&zeros(3)), 4, "p").is_err());
        assert!(check_payload(None, 0, "p").is_ok());
        assert!(check_payload(None, 1, "p").is_err());
        assert!(check_payload(Some(&payload_of(Bytes::from_static(b"x"))), 1, "p").is_err());
    }
}
