//! [`Channel`]: the client's handle to a server, and the four kinds of calls.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use grpc_core::codec::{DecodeMessage, EncodeMessage};
use grpc_core::compression::Compressor;
use grpc_core::credentials::CallCredentials;
use grpc_core::message::MessageEncoder;
use grpc_core::stats::{CallEvent, CallKind, StatsHandler};
use grpc_core::{Codec, Encodings, Extensions, Request, Response, Status};
use tokio::time::Instant;
use tracing::Instrument;

use crate::balancer::Balancer;
use crate::builder::ChannelBuilder;
use crate::call::{OpenedStream, PreparedCall, within};
use crate::cancel::{Canceller, SendSlot};
use crate::interceptor::{Interceptor, split_path};
use crate::response::{ReadSettings, ReaderParts, ResponseReader};
use crate::service::UnaryService;
use crate::stats::CallStats;
use crate::stream_retry::{RetryDriver, StreamRetry};
use crate::streaming::{
    BidiStreamingCall, ClientStreamingCall, RequestSink, SinkParts, Streaming,
    single_response_extensions,
};
use grpc_balancer_api::ConnectivityState;

/// A channel to a gRPC service, and the calls made on it (gRPC-Go's ClientConn).
///
/// The channel resolves its target into addresses, keeps a subchannel (an HTTP/2
/// connection) per address its load-balancing policy wants, and places each call on one of
/// them through the policy's picker. A `Channel` is cheap to clone and safe to share across
/// tasks: clones share the resolver, the policy and the connections. It connects lazily
/// (or at once, with [`ChannelBuilder::connect`]), reconnects with backoff, and goes idle
/// after its idle timeout without calls. Dropping the last clone (or [`close`](Channel::close))
/// closes the connections once their calls finish.
///
/// Generated clients call the four methods below; they can be used directly with any
/// [`Codec`] too:
///
/// ```no_run
/// use bytes::Bytes;
/// use grpc_client::{Channel, Request};
/// use grpc_core::codec::BytesCodec;
///
/// # async fn example() -> Result<(), grpc_client::Status> {
/// let channel = Channel::builder("http://127.0.0.1:50051").connect().await?;
/// let response = channel
///     .unary(Request::new(Bytes::from_static(b"\x0a\x05world")), "/helloworld.Greeter/SayHello", BytesCodec)
///     .await?;
/// println!("{:?}", response.get_ref());
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Channel {
    pub(crate) inner: Arc<ChannelInner>,
}

/// What every clone of a channel shares.
pub(crate) struct ChannelInner {
    pub(crate) balancer: Balancer,
    pub(crate) target: String,
    /// `:scheme`: `http` or `https`.
    pub(crate) scheme: Bytes,
    /// `:authority`.
    pub(crate) authority: Bytes,
    pub(crate) secure: bool,
    pub(crate) user_agent: Bytes,
    pub(crate) default_timeout: Option<Duration>,
    pub(crate) max_decoding: usize,
    pub(crate) max_encoding: usize,
    /// How much of a streaming call's requests is kept for retries before it commits.
    pub(crate) retry_buffer_size: usize,
    pub(crate) send_compressed: Option<Arc<dyn Compressor>>,
    pub(crate) accept: Arc<Encodings>,
    /// `grpc-accept-encoding` (empty: not sent).
    pub(crate) accept_header: Bytes,
    pub(crate) interceptors: Vec<Box<dyn Interceptor>>,
    pub(crate) credentials: Option<Arc<dyn CallCredentials>>,
    pub(crate) allow_insecure_credentials: bool,
    /// Receives every call's events (`ChannelBuilder::stats_handler`).
    pub(crate) stats: Option<Arc<dyn StatsHandler>>,
}

impl ChannelInner {
    pub(crate) fn authority_str(&self) -> &str {
        std::str::from_utf8(&self.authority).unwrap_or_default()
    }

    pub(crate) fn read_settings(
        &self,
        call: &PreparedCall,
        enforce_deadline: bool,
    ) -> ReadSettings {
        ReadSettings {
            accept: self.accept.clone(),
            max_decoding: call.max_decoding,
            deadline: if enforce_deadline {
                call.deadline
            } else {
                None
            },
            timeout: call.timeout(),
            started: call.started,
        }
    }

    /// Runs the interceptors on `request` and resolves the call's settings (see
    /// [`prepare`](ChannelInner::prepare); timeouts count from now). The request's message
    /// comes back as it is.
    async fn prepare_request<T>(
        &self,
        request: Request<T>,
        path: Cow<'static, str>,
        stats: CallStats,
    ) -> Result<(PreparedCall, T), Status> {
        let started = Instant::now();
        let timeout = request.timeout();
        let (metadata, extensions, message) = request.into_parts();
        let call = self
            .prepare(path, metadata, extensions, timeout, started, stats)
            .await?;
        Ok((call, message))
    }

    /// Encodes the single request message of a unary or server-streaming call.
    fn encode_one<C: Codec>(
        call: &PreparedCall,
        codec: &C,
        message: C::Encode,
    ) -> Result<Bytes, Status> {
        let mut encoder = MessageEncoder::new(call.compressor.clone(), call.max_encoding);
        let mut buf = BytesMut::new();
        encoder.encode(codec, message, &mut buf)?;
        call.stats.event(&CallEvent::MessageOut {
            size: encoder.last_message_size(),
            wire_size: buf.len(),
        });
        Ok(buf.freeze())
    }

    /// One attempt of a call with a single request message: sends HEADERS and the message
    /// (queued back to back, so the connection writes them in one batch) and waits for the
    /// response headers. A stream the server never processed (refused, or above a GOAWAY's
    /// last stream id) is retried once on a new pick: nothing was processed, so it is safe
    /// (gRFC A6, "Transparent retries").
    pub(crate) async fn attempt_single(
        &self,
        call: &PreparedCall,
        body: Bytes,
        enforce_deadline: bool,
        span: &tracing::Span,
        previous_attempts: u32,
    ) -> Result<ResponseReader, AttemptFailure> {
        let mut transparent_retries = 0;
        let mut local_retries = 0;
        loop {
            let opened = self
                .open_stream(call, previous_attempts)
                .await
                .map_err(AttemptFailure::from)?;
            opened.record_peer(span);
            let OpenedStream {
                mut send,
                recv,
                lease,
                completion,
                ..
            } = opened;
            // A failure here reaches the reader too, which reports it with more context.
            let _ = send.send_data(body.clone(), true).await;
            let mut reader = ResponseReader::new(ReaderParts {
                recv,
                canceller: Canceller::Owned(send),
                settings: self.read_settings(call, enforce_deadline),
                lease,
                completion,
                stats: call.stats.clone(),
                span: span.clone(),
            });
            match reader.read_headers().await {
                Ok(()) => return Ok(reader),
                // gRFC A6, "Transparent retries": a stream that never left the client is
                // retried as often as needed (bounded here against a pathological loop;
                // each failure sends its connection out of READY, so the next pick waits
                // for another); one the server refused unprocessed, once.
                Err(_) if reader.never_sent() && local_retries < MAX_LOCAL_RETRIES => {
                    local_retries += 1;
                }
                Err(_) if reader.never_processed() && transparent_retries < 1 => {
                    transparent_retries += 1;
                }
                Err(status) => {
                    return Err(AttemptFailure {
                        pushback: reader.retry_pushback().map(str::to_owned),
                        status,
                    });
                }
            }
        }
    }

    async fn unary<C: Codec>(
        &self,
        request: Request<C::Encode>,
        path: Cow<'static, str>,
        codec: &C,
        span: tracing::Span,
        stats: CallStats,
    ) -> Result<Response<C::Decode>, Status> {
        let (mut call, message) = self.prepare_request(request, path, stats).await?;
        within(call.deadline, call.timeout(), async {
            self.authorize(&mut call).await?;
            let body = Self::encode_one(&call, codec, message)?;
            let mut reader = self.send_single(&call, body, false, &span).await?;
            let mut message = None;
            while let Some(payload) = std::future::poll_fn(|cx| reader.poll_message(cx)).await? {
                if message.is_some() {
                    return Err(reader.fail_local(Status::internal(
                        "cardinality violation: more than one response message for a unary call",
                    )));
                }
                message = Some(codec.decode(payload).map_err(|s| reader.fail_local(s))?);
            }
            let Some(message) = message else {
                return Err(Status::internal(
                    "cardinality violation: no response message for a unary call",
                ));
            };
            Ok(Response::from_parts(
                reader.take_headers(),
                single_response_extensions(&reader),
                message,
                reader.take_trailers(),
            ))
        })
        .await
    }

    async fn server_streaming<C: Codec>(
        &self,
        request: Request<C::Encode>,
        path: Cow<'static, str>,
        codec: C,
        span: tracing::Span,
        stats: CallStats,
    ) -> Result<Response<Streaming<C::Decode>>, Status> {
        let (mut call, message) = self.prepare_request(request, path, stats).await?;
        within(call.deadline, call.timeout(), async {
            self.authorize(&mut call).await?;
            let body = Self::encode_one(&call, &codec, message)?;
            let reader = self.send_single(&call, body, true, &span).await?;
            let headers = reader.headers().clone();
            let codec: Arc<dyn DecodeMessage<C::Decode>> = Arc::new(codec);
            Ok(Response::from_parts(
                headers,
                Extensions::new(),
                Streaming::new(reader, codec),
                grpc_core::Metadata::new(),
            ))
        })
        .await
    }

    /// Opens a call whose requests are streamed: HEADERS now, messages through the sink.
    /// Under a retry policy the two halves share a [`StreamRetry`] that keeps the request
    /// messages until the call commits and replays them on a new attempt.
    async fn open_request_stream<C: Codec>(
        self: &Arc<Self>,
        request: Request<()>,
        path: Cow<'static, str>,
        codec: C,
        span: tracing::Span,
        stats: CallStats,
    ) -> Result<(RequestSink<C::Encode>, Streaming<C::Decode>), Status> {
        let (mut call, ()) = self.prepare_request(request, path, stats).await?;
        within(call.deadline, call.timeout(), async move {
            self.authorize(&mut call).await?;
            let opened = self.open_stream(&call, 0).await?;
            opened.record_peer(&span);
            let OpenedStream {
                send,
                recv,
                lease,
                completion,
                ..
            } = opened;
            let codec = Arc::new(codec);
            let encode: Arc<dyn EncodeMessage<C::Encode>> = codec.clone();
            let decode: Arc<dyn DecodeMessage<C::Decode>> = codec;
            let settings = self.read_settings(&call, true);
            let encoder = MessageEncoder::new(call.compressor.clone(), call.max_encoding);
            let (deadline, timeout) = (call.deadline, call.timeout());
            let retry_policy = call
                .method
                .as_ref()
                .and_then(|method| method.retry_policy.clone());
            if let Some(policy) = retry_policy {
                let call = Arc::new(call);
                let retry = StreamRetry::new(
                    self.clone(),
                    call.clone(),
                    span.clone(),
                    send,
                    lease.clone(),
                );
                let reader = ResponseReader::new(ReaderParts {
                    recv,
                    canceller: Canceller::Retry(retry.clone()),
                    settings,
                    lease: lease.clone(),
                    completion,
                    stats: call.stats.clone(),
                    span,
                });
                let sink = RequestSink::new(SinkParts {
                    send: None,
                    stats: call.stats.clone(),
                    slot: Arc::new(SendSlot::default()),
                    codec: encode,
                    encoder,
                    deadline,
                    timeout,
                    lease,
                    retry: Some(retry.clone()),
                });
                let driver = RetryDriver::new(retry, policy, self.balancer.retry_throttle());
                return Ok((sink, Streaming::with_retry(reader, decode, driver)));
            }
            let slot = Arc::new(SendSlot::default());
            let reader = ResponseReader::new(ReaderParts {
                recv,
                canceller: Canceller::Shared(slot.clone()),
                settings,
                lease: lease.clone(),
                completion,
                stats: call.stats.clone(),
                span,
            });
            let sink = RequestSink::new(SinkParts {
                send: Some(send),
                stats: call.stats.clone(),
                slot,
                codec: encode,
                encoder,
                deadline,
                timeout,
                lease,
                retry: None,
            });
            Ok((sink, Streaming::new(reader, decode)))
        })
        .await
    }
}

/// How many times one attempt is moved to another connection because its own was going
/// away before the stream left the client.
pub(crate) const MAX_LOCAL_RETRIES: u32 = 16;

/// Milliseconds since `started`, for a span's `grpc.duration_ms`.
pub(crate) fn elapsed_ms(started: Instant) -> f64 {
    started.elapsed().as_secs_f64() * 1000.0
}

/// Why an attempt failed before its response headers arrived.
pub(crate) struct AttemptFailure {
    pub(crate) status: Status,
    /// The server's `grpc-retry-pushback-ms`, if any.
    pub(crate) pushback: Option<String>,
}

impl From<Status> for AttemptFailure {
    fn from(status: Status) -> AttemptFailure {
        AttemptFailure {
            status,
            pushback: None,
        }
    }
}

/// The span of one call: `grpc.client` with the service and method, and the status code
/// recorded when the call ends.
fn call_span(path: &str) -> tracing::Span {
    let (service, method) = split_path(path);
    tracing::debug_span!(
        "grpc.client",
        rpc.system = "grpc",
        rpc.service = service,
        rpc.method = method,
        network.peer.address = tracing::field::Empty,
        grpc.status_code = tracing::field::Empty,
        grpc.duration_ms = tracing::field::Empty,
    )
}

/// Runs the call that `call` makes with `span` (its [`call_span`]) and `stats` inside that
/// span, and records the status code there if the call fails. The call's statistics end
/// here on failure, and on success when `ends_here` (a unary call; a streaming call's
/// response stream ends them later).
async fn traced<T, Fut>(
    span: tracing::Span,
    stats: CallStats,
    ends_here: bool,
    call: impl FnOnce(tracing::Span, CallStats) -> Fut,
) -> Result<T, Status>
where
    Fut: Future<Output = Result<T, Status>>,
{
    let started = Instant::now();
    let result = call(span.clone(), stats.clone())
        .instrument(span.clone())
        .await;
    match &result {
        Err(status) => {
            span.record("grpc.status_code", status.code().as_i32());
            span.record("grpc.duration_ms", elapsed_ms(started));
            stats.end(status);
        }
        Ok(_) if ends_here => stats.end(&Status::ok()),
        Ok(_) => {}
    }
    result
}

impl Channel {
    /// Starts building a channel to `target`, a URI naming its resolver (gRPC's naming
    /// doc): `dns:///host:port` (or just `host:port`), `dns://dns-server/host:port`,
    /// `unix:/path`, `unix:///abs/path`, `unix-abstract:name`, `passthrough:///host:port`,
    /// `ipv4:10.0.0.1:50051,10.0.0.2:50051`, `ipv6:[::1]:50051`, or a scheme registered
    /// with [`ChannelBuilder::resolver`]. `http://host:port` and `https://host:port` are dns
    /// targets that also say whether to use TLS; otherwise TLS is on when a TLS config is
    /// given. An invalid target is reported by `connect`/`connect_lazy`.
    pub fn builder(target: &str) -> ChannelBuilder {
        ChannelBuilder::new(target)
    }

    /// A unary call: one request message, one response message.
    ///
    /// The response's extensions hold a [`ReceivedCompressed`] marker when the response had
    /// a `grpc-encoding`: whether the server compressed its message. Read it with
    /// [`ReceivedCompressed::of`] (no marker: uncompressed).
    ///
    /// [`ReceivedCompressed`]: crate::ReceivedCompressed
    /// [`ReceivedCompressed::of`]: crate::ReceivedCompressed::of
    pub async fn unary<C: Codec>(
        &self,
        request: Request<C::Encode>,
        path: &'static str,
        codec: C,
    ) -> Result<Response<C::Decode>, Status> {
        self.unary_call(request, Cow::Borrowed(path), &codec).await
    }

    pub(crate) async fn unary_call<C: Codec>(
        &self,
        request: Request<C::Encode>,
        path: Cow<'static, str>,
        codec: &C,
    ) -> Result<Response<C::Decode>, Status> {
        let stats = crate::stats::start(self.inner.stats.as_ref(), &path, CallKind::Unary);
        traced(call_span(&path), stats, true, |span, stats| {
            self.inner.unary(request, path, codec, span, stats)
        })
        .await
    }

    /// A server-streaming call: one request message, a stream of response messages. Returns
    /// once the response headers arrived; a Trailers-Only error response fails here.
    pub async fn server_streaming<C: Codec>(
        &self,
        request: Request<C::Encode>,
        path: &'static str,
        codec: C,
    ) -> Result<Response<Streaming<C::Decode>>, Status> {
        let stats = crate::stats::start(self.inner.stats.as_ref(), path, CallKind::ServerStreaming);
        traced(call_span(path), stats, false, |span, stats| {
            self.inner
                .server_streaming(request, path.into(), codec, span, stats)
        })
        .await
    }

    /// A client-streaming call: the request's metadata goes out now; send messages with
    /// [`ClientStreamingCall::send`] and get the response with
    /// [`ClientStreamingCall::finish`]. Does not wait for the server.
    pub async fn client_streaming<C: Codec>(
        &self,
        request: Request<()>,
        path: &'static str,
        codec: C,
    ) -> Result<ClientStreamingCall<C::Encode, C::Decode>, Status> {
        let (sink, responses) = self
            .open_request_stream(request, path, codec, CallKind::ClientStreaming)
            .await?;
        Ok(ClientStreamingCall::new(sink, responses))
    }

    /// A bidirectional-streaming call: the request's metadata goes out now; messages flow
    /// both ways independently. Does not wait for the server.
    pub async fn streaming<C: Codec>(
        &self,
        request: Request<()>,
        path: &'static str,
        codec: C,
    ) -> Result<BidiStreamingCall<C::Encode, C::Decode>, Status> {
        let (sink, responses) = self
            .open_request_stream(request, path, codec, CallKind::BidiStreaming)
            .await?;
        Ok(BidiStreamingCall::new(sink, responses))
    }

    /// Opens a client-streaming or bidi call (see [`ChannelInner::open_request_stream`]).
    async fn open_request_stream<C: Codec>(
        &self,
        request: Request<()>,
        path: &'static str,
        codec: C,
        kind: CallKind,
    ) -> Result<(RequestSink<C::Encode>, Streaming<C::Decode>), Status> {
        let stats = crate::stats::start(self.inner.stats.as_ref(), path, kind);
        traced(call_span(path), stats, false, |span, stats| {
            self.inner
                .open_request_stream(request, path.into(), codec, span, stats)
        })
        .await
    }

    /// A tower [`Service`](tower_service::Service) making unary calls to `path` with
    /// `codec`, for use with tower middleware.
    pub fn unary_service<C: Codec>(&self, path: &'static str, codec: C) -> UnaryService<C> {
        UnaryService::new(self.clone(), path, codec)
    }

    /// The channel's connectivity state (gRPC's `connectivity-semantics-and-api.md`). Does
    /// not start connecting: an idle channel stays idle until its next call or
    /// [`connect`](Channel::connect).
    pub fn connectivity_state(&self) -> ConnectivityState {
        self.inner.balancer.state()
    }

    /// Leaves IDLE without making a call: starts resolving and connecting (gRPC-Go's
    /// `Connect`). Returns at once; watch progress with
    /// [`wait_for_state_change`](Channel::wait_for_state_change).
    pub fn connect(&self) {
        self.inner.balancer.connect();
    }

    /// Waits until the state differs from `last` and returns the new state. Returns at once
    /// if it already differs. Bound the wait with `tokio::time::timeout`.
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// use grpc_client::{Channel, ConnectivityState};
    ///
    /// # async fn example() -> Result<(), grpc_client::Status> {
    /// let channel = Channel::builder("dns:///api.example.com:50051").connect_lazy()?;
    /// channel.connect();
    /// let mut state = channel.connectivity_state();
    /// while state != ConnectivityState::Ready {
    ///     state = tokio::time::timeout(Duration::from_secs(5), channel.wait_for_state_change(state))
    ///         .await
    ///         .map_err(|_| grpc_client::Status::deadline_exceeded("not ready in 5 s"))?;
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub async fn wait_for_state_change(&self, last: ConnectivityState) -> ConnectivityState {
        let mut states = self.inner.balancer.subscribe();
        loop {
            let current = *states.borrow_and_update();
            if current != last {
                return current;
            }
            if states.changed().await.is_err() {
                return self.connectivity_state();
            }
        }
    }

    /// Closes the channel for every clone: the state becomes SHUTDOWN, connections close
    /// once their calls finish, and new calls fail with UNAVAILABLE.
    pub fn close(&self) {
        self.inner.balancer.shutdown();
    }

    /// The JSON of the service config in force (from the resolver, or the
    /// [default](ChannelBuilder::default_service_config)), if any: for logs and debugging.
    pub fn service_config_json(&self) -> Option<Arc<str>> {
        self.inner.balancer.service_config_json()
    }

    /// The `:authority` the channel's calls carry.
    pub fn authority(&self) -> &str {
        self.inner.authority_str()
    }
}

impl fmt::Debug for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Channel")
            .field("target", &self.inner.target)
            .field("authority", &self.inner.authority_str())
            .field("secure", &self.inner.secure)
            .field("state", &self.inner.balancer.state())
            .finish_non_exhaustive()
    }
}
