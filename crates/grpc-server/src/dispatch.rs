//! One request, from its header block to its final status.
//!
//! 1. Validate the request head (PROTOCOL-HTTP2 "Requests"): content type (else HTTP 415),
//!    `:method POST` (else HTTP 405), `grpc-timeout` (else INTERNAL), `grpc-encoding` (else
//!    UNIMPLEMENTED with our `grpc-accept-encoding`, compression.md), metadata (else
//!    INTERNAL). These rejections are answered at once, trailers-only.
//! 2. Route by `:path` and build the [`ServerCall`].
//! 3. Run it through the tower layers, the interceptors and the handler, racing the deadline
//!    and the client's RST_STREAM: on the deadline the call's futures are dropped and the
//!    client gets DEADLINE_EXCEEDED; on a reset they are dropped and nothing is sent.
//! 4. Send the final status: trailers-only when nothing was sent yet and there is no
//!    message or header metadata; otherwise headers (if not sent yet), the unary response
//!    message, and trailers, queued back to back so the connection writes them together.

use std::borrow::Cow;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use bytes::Bytes;
use grpc_core::compression::{Compressor, Encodings, accepts};
use grpc_core::headers::is_grpc_content_type;
use grpc_core::stats::{CallEvent, CallKind, CallStart, CallStats, Side, StatsHandler};
use grpc_core::timeout::decode_timeout;
use grpc_core::{BoxFuture, Code, Extensions, Metadata, Status};
use grpc_transport::driver::{IncomingRequest, RecvStream, SendStream, StopSignal};
use grpc_transport::hpack::HeaderField;
use tokio::time::Instant;
use tracing::Instrument;

use crate::call::{
    CallShared, ParkedResponse, RequestBody, Responder, ResponseState, RpcKind, ServerCall,
};
use crate::layer::CallService;
use crate::orca::CallMetricsRecorder;
use crate::routes::{Route, RouterInner};
use crate::sink::{field, response_headers};

/// Server-wide settings every call needs.
pub(crate) struct ServerShared {
    pub(crate) router: Arc<RouterInner>,
    pub(crate) max_recv: usize,
    pub(crate) max_send: usize,
    pub(crate) accept: Encodings,
    pub(crate) send_compressed: Option<Arc<dyn Compressor>>,
    /// Give every call a `CallMetricsRecorder` and send its ORCA report (gRFC A51).
    pub(crate) orca_reporting: bool,
    /// Receives every call's events (`ServerBuilder::stats_handler`).
    pub(crate) stats: Option<Arc<dyn StatsHandler>>,
}

/// Handles one request to the end.
pub(crate) async fn dispatch(
    server: Arc<ServerShared>,
    service: Option<Box<dyn CallService>>,
    request: IncomingRequest,
    remote_addr: Option<SocketAddr>,
    expose_remote_addr: bool,
) {
    let IncomingRequest {
        headers,
        body,
        respond,
        ..
    } = request;
    let head = match RequestHead::parse(&server, &headers) {
        Ok(head) => head,
        Err(reject) => return (*reject).send(respond, body).await,
    };
    drop(headers);
    let (service_name, method_name) = crate::call::split_path(&head.path);
    let span = tracing::info_span!(
        "grpc.request",
        otel.kind = "server",
        rpc.system = "grpc",
        rpc.service = service_name,
        rpc.method = method_name,
        network.peer.address = tracing::field::Empty,
        grpc.status_code = tracing::field::Empty,
        grpc.duration_ms = tracing::field::Empty,
    );
    if let Some(addr) = remote_addr {
        span.record("network.peer.address", tracing::field::display(addr));
    }
    run_call(
        server,
        service,
        head,
        body,
        respond,
        (remote_addr, expose_remote_addr),
        span.clone(),
    )
    .instrument(span)
    .await;
}

/// What the request head says.
struct RequestHead {
    path: Cow<'static, str>,
    route: Option<Arc<Route>>,
    content_type: Bytes,
    timeout: Option<Duration>,
    request_encoding: Option<Arc<dyn Compressor>>,
    response_encoding: Option<Arc<dyn Compressor>>,
    metadata: Metadata,
}

impl RequestHead {
    fn parse(server: &ServerShared, headers: &[HeaderField]) -> Result<RequestHead, Box<Reject>> {
        let mut method = None;
        let mut path = None;
        let mut content_type = None;
        let mut timeout = None;
        let mut encoding = None;
        let mut accept_encoding = None;
        for f in headers {
            match &f.name[..] {
                b":method" => method = Some(&f.value),
                b":path" => path = Some(&f.value),
                b"content-type" => content_type = Some(&f.value),
                b"grpc-timeout" => timeout = Some(&f.value),
                b"grpc-encoding" => encoding = Some(&f.value),
                b"grpc-accept-encoding" => accept_encoding = Some(&f.value),
                _ => {}
            }
        }

        // PROTOCOL-HTTP2 "Requests": "If Content-Type does not begin with
        // "application/grpc", gRPC servers SHOULD respond with HTTP status of 415", so that
        // other HTTP/2 clients do not take a gRPC error (status 200) for success.
        let content_type = match content_type {
            Some(value) if is_grpc_content_type(value) => value.clone(),
            other => {
                let shown = other.map_or(Cow::Borrowed("none"), |v| String::from_utf8_lossy(v));
                return Err(Box::new(Reject::http(
                    "415",
                    Status::internal(format!("invalid gRPC request content-type {shown:?}")),
                )));
            }
        };
        // PROTOCOL-HTTP2: Method → ":method POST".
        if method.is_none_or(|m| &m[..] != b"POST") {
            let shown = method.map_or(Cow::Borrowed(""), |v| String::from_utf8_lossy(v));
            return Err(Box::new(Reject::http(
                "405",
                Status::internal(format!("gRPC requires the POST method, not {shown:?}")),
            )));
        }

        let path_str = path
            .and_then(|p| std::str::from_utf8(p).ok())
            .unwrap_or_default();
        let route = server.router.routes.lookup(path_str).cloned();
        let path = match &route {
            Some(route) => Cow::Borrowed(route.path),
            None => Cow::Owned(path_str.to_owned()),
        };

        // PROTOCOL-HTTP2: Timeout → "grpc-timeout" TimeoutValue TimeoutUnit. gRPC-Go answers
        // a malformed one with INTERNAL.
        let timeout = match timeout {
            None => None,
            Some(value) => match decode_timeout(value) {
                Ok(timeout) => Some(timeout),
                Err(_) => {
                    return Err(Box::new(Reject::grpc(Status::internal(format!(
                        "malformed grpc-timeout {:?}",
                        String::from_utf8_lossy(value)
                    )))));
                }
            },
        };

        // compression.md: a message compressed with an algorithm the server does not support
        // is UNIMPLEMENTED, and the response lists the ones it accepts.
        let request_encoding = match encoding {
            None => None,
            Some(name) if &name[..] == b"identity" => None,
            Some(name) => match server.accept.get(name) {
                Some(compressor) => Some(compressor.clone()),
                None => {
                    let mut reject = Reject::grpc(Status::unimplemented(format!(
                        "grpc-encoding {:?} is not supported (supported: {:?})",
                        String::from_utf8_lossy(name),
                        String::from_utf8_lossy(&server.accept.accept_encoding()),
                    )));
                    reject.accept_encoding = Some(server.accept.accept_encoding());
                    return Err(Box::new(reject));
                }
            },
        };
        // compression.md: compress only with an algorithm the client listed.
        let response_encoding = server
            .send_compressed
            .as_ref()
            .filter(|c| accept_encoding.is_some_and(|list| accepts(list, c.name())))
            .cloned();

        let metadata = Metadata::from_header_fields(headers.iter().map(|f| (&f.name, &f.value)))
            .map_err(|status| Box::new(Reject::grpc(status)))?;

        Ok(RequestHead {
            path,
            route,
            content_type,
            timeout,
            request_encoding,
            response_encoding,
            metadata,
        })
    }
}

/// A request refused before it reached the routing stage.
struct Reject {
    /// `:status` of the response.
    http_status: &'static str,
    status: Status,
    accept_encoding: Option<Bytes>,
}

impl Reject {
    /// An HTTP error for a request that is not gRPC (no gRPC content type, not POST). The
    /// grpc-status fields ride along for gRPC clients.
    fn http(http_status: &'static str, status: Status) -> Reject {
        Reject {
            http_status,
            status,
            accept_encoding: None,
        }
    }

    /// A Trailers-Only gRPC error.
    fn grpc(status: Status) -> Reject {
        Reject {
            http_status: "200",
            status,
            accept_encoding: None,
        }
    }

    async fn send(self, mut respond: SendStream, body: RecvStream) {
        tracing::debug!(
            http_status = self.http_status,
            status = %self.status,
            "rejecting request"
        );
        let mut fields = Vec::with_capacity(6);
        fields.push(HeaderField::new(":status", self.http_status));
        if self.http_status == "200" {
            fields.push(HeaderField::new("content-type", "application/grpc"));
        }
        if let Some(accept) = self.accept_encoding.filter(|a| !a.is_empty()) {
            fields.push(HeaderField::new("grpc-accept-encoding", accept));
        }
        self.status
            .encode_header_fields(|name, value| fields.push(field(name, value)));
        let _ = respond.send_headers(fields, true);
        // Queued after the response: NO_ERROR reset behind it if the client is still sending.
        drop(body);
    }
}

/// How the race between a call and its deadline and cancellation ended.
enum Outcome {
    Done(Result<(), Status>),
    Deadline,
    Cancelled,
}

async fn run_call(
    server: Arc<ServerShared>,
    service: Option<Box<dyn CallService>>,
    head: RequestHead,
    body: RecvStream,
    respond: SendStream,
    (remote_addr, expose_remote_addr): (Option<SocketAddr>, bool),
    span: tracing::Span,
) {
    let started = std::time::Instant::now();
    let record_end = |code: Code| {
        span.record("grpc.status_code", code.as_i32());
        span.record("grpc.duration_ms", started.elapsed().as_secs_f64() * 1000.0);
    };
    let stats = match &server.stats {
        None => CallStats::default(),
        Some(_) => {
            let peer = remote_addr.map(|addr| addr.to_string());
            let kind = match head.route.as_ref().map(|route| route.kind) {
                Some(RpcKind::Unary) => CallKind::Unary,
                Some(RpcKind::ServerStreaming) => CallKind::ServerStreaming,
                Some(RpcKind::ClientStreaming) => CallKind::ClientStreaming,
                Some(RpcKind::BidiStreaming) => CallKind::BidiStreaming,
                None => CallKind::Unknown,
            };
            let stats = CallStats::start(
                server.stats.as_ref(),
                &CallStart {
                    side: Side::Server,
                    path: &head.path,
                    kind,
                    peer: peer.as_deref(),
                },
            );
            stats.event(&CallEvent::HeadersIn {
                metadata: &head.metadata,
            });
            stats
        }
    };
    let shared = Arc::new(CallShared::with_stats(stats.clone()));
    let stop = respond.stop_signal();
    let deadline = head
        .timeout
        .and_then(|timeout| Instant::now().checked_add(timeout));
    let state = ResponseState {
        send: respond,
        content_type: head.content_type,
        encoding: head.response_encoding,
        accept_encoding: server.accept.accept_encoding(),
        max_send: server.max_send,
        headers_sent: false,
        body: None,
    };
    let mut extensions = Extensions::new();
    let recorder = server.orca_reporting.then(|| {
        let recorder = CallMetricsRecorder::new();
        extensions.insert(recorder.clone());
        recorder
    });
    let call = ServerCall {
        path: head.path,
        route: head.route,
        metadata: head.metadata,
        extensions,
        timeout: head.timeout,
        deadline,
        remote_addr,
        expose_remote_addr,
        request: RequestBody {
            recv: Some(body),
            shared: shared.clone(),
        },
        request_encoding: head.request_encoding,
        max_recv: server.max_recv,
        responder: Responder::new(state, shared.clone()),
    };
    let future = match service {
        Some(service) => service.call(call),
        None => server.router.call(call),
    };
    // The call's futures are dropped inside `race`, so everything they held is parked
    // by the time the slot is taken.
    let outcome = race(future, deadline, &stop).await;
    let taken = shared.take();
    let status = match outcome {
        Outcome::Cancelled => {
            tracing::debug!("cancelled by the client");
            record_end(Code::Cancelled);
            stats.end(&Status::cancelled("cancelled by the client"));
            return;
        }
        Outcome::Deadline => {
            tracing::debug!("deadline exceeded");
            Err(Status::deadline_exceeded("deadline exceeded"))
        }
        Outcome::Done(result) => match taken.fatal {
            Some(fatal) => Err(fatal),
            None if result.is_ok() && !shared.reached_handler() => Err(Status::internal(
                "the call was dropped before it reached its handler",
            )),
            None => result,
        },
    };
    let code = status.as_ref().err().map_or(Code::Ok, Status::code);
    record_end(code);
    match taken.response {
        Some(mut response) => {
            // gRFC A51: the call's load report rides in the trailers, whatever the status.
            if let Some(report) = recorder.and_then(|recorder| recorder.report()) {
                report.to_trailer(&mut response.trailers);
            }
            finish(response, status, &stats).await
        }
        None => {
            tracing::debug!("the call's response half was kept elsewhere; not answered");
            stats.end(&Status::internal("the call was not answered"));
        }
    }
    // Dropped after the status is queued, so a client still sending gets RST_STREAM
    // NO_ERROR behind our trailers (RFC 9113 §8.1) rather than a CANCEL ahead of them.
    drop(taken.request);
}

/// Runs `future` until it completes, the deadline passes, or the stream fails (the client
/// reset it or the connection was lost). `future` is dropped before this returns.
async fn race(
    mut future: BoxFuture<'static, Result<(), Status>>,
    deadline: Option<Instant>,
    stop: &StopSignal,
) -> Outcome {
    let stopped = pin!(stop.stopped());
    let timer = pin!(async move {
        match deadline {
            Some(deadline) => tokio::time::sleep_until(deadline).await,
            None => std::future::pending().await,
        }
    });
    let mut stopped = stopped;
    let mut timer = timer;
    std::future::poll_fn(move |cx| {
        if let Poll::Ready(result) = future.as_mut().poll(cx) {
            return Poll::Ready(Outcome::Done(result));
        }
        if stopped.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Outcome::Cancelled);
        }
        if timer.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Outcome::Deadline);
        }
        Poll::Pending
    })
    .await
}

/// Sends the final status on a parked response half.
async fn finish(parked: ParkedResponse, status: Result<(), Status>, stats: &CallStats) {
    let ParkedResponse {
        mut state,
        headers,
        trailers,
    } = parked;
    let error = status.err();
    if stats.is_on() {
        if !state.headers_sent && !headers.is_empty() {
            stats.event(&CallEvent::HeadersOut { metadata: &headers });
        }
        stats.event(&CallEvent::Trailers {
            metadata: &trailers,
        });
        stats.end(error.as_ref().unwrap_or(&Status::ok()));
    }
    let body = match error {
        None => state.body.take(),
        Some(_) => None,
    };
    if !state.headers_sent && body.is_none() && headers.is_empty() {
        // PROTOCOL-HTTP2 "Responses": Trailers-Only → HTTP-Status Content-Type Trailers, in
        // one HEADERS block that ends the stream.
        let mut fields = Vec::with_capacity(5 + trailers.len());
        fields.push(HeaderField::new(":status", "200"));
        fields.push(HeaderField::new("content-type", state.content_type.clone()));
        if !state.accept_encoding.is_empty() {
            fields.push(HeaderField::new(
                "grpc-accept-encoding",
                state.accept_encoding.clone(),
            ));
        }
        push_status(&mut fields, error.as_ref(), &trailers);
        let _ = state.send.send_headers(fields, true);
        return;
    }
    if !state.headers_sent {
        let fields = response_headers(&state, &headers);
        state.headers_sent = true;
        if state.send.send_headers(fields, false).is_err() {
            return;
        }
    }
    if let Some(body) = body {
        if state.send.send_data(body, false).await.is_err() {
            return;
        }
    }
    let mut fields = Vec::with_capacity(3 + trailers.len());
    push_status(&mut fields, error.as_ref(), &trailers);
    let _ = state.send.send_trailers(fields);
}

/// Trailers (PROTOCOL-HTTP2): grpc-status, grpc-message, grpc-status-details-bin, the
/// status's own metadata, then the call's trailers.
fn push_status(fields: &mut Vec<HeaderField>, error: Option<&Status>, trailers: &Metadata) {
    match error {
        None => fields.push(HeaderField::new("grpc-status", "0")),
        Some(status) => status.encode_header_fields(|name, value| fields.push(field(name, value))),
    }
    trailers.encode_header_fields(|name, value| fields.push(field(name, value)));
}
