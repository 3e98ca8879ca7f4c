//! Client-side health checking (gRFC A17): a subchannel whose connection is up watches the
//! backend's `grpc.health.v1.Health/Watch` stream on that connection, and is READY for its
//! load-balancing policy only while the backend reports SERVING.
//!
//! Enabled by the service config's `healthCheckConfig.serviceName` (the service to watch;
//! `""` is the whole server) unless [`ChannelBuilder::health_checks`](crate::ChannelBuilder::health_checks)
//! turned it off. Per attempt (gRPC-Go's health client behaves the same way):
//!
//! | what happens | the policy sees |
//! |---|---|
//! | the Watch starts (connection up, no answer yet) | CONNECTING |
//! | SERVING | READY |
//! | NOT_SERVING, UNKNOWN, SERVICE_UNKNOWN | TRANSIENT_FAILURE |
//! | the call fails with UNIMPLEMENTED (no health service) | READY, checking off for this connection (logged once) |
//! | the call fails otherwise, or ends | TRANSIENT_FAILURE, then a new Watch after the connection backoff (at once if the last one delivered a status) |
//! | the connection closes | IDLE (as without health checking) |
//!
//! The Watch is a plain server-streaming call written directly on the connection (it must
//! go to this subchannel, not through the picker), with no deadline.

use std::sync::Weak;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::{Bytes, BytesMut};
use grpc_balancer_api::{ConnectivityState, SubchannelState};
use grpc_core::health::{HealthCheckRequest, HealthCheckResponse, ServingStatus, WATCH_PATH};
use grpc_core::message::MessageDecoder;
use grpc_core::prost::Message;
use grpc_core::{Code, Status, framing, headers};
use grpc_transport::driver::{Client, RecvStream};
use grpc_transport::hpack::HeaderField;

use crate::backoff::BackoffState;
use crate::call::status_from_transport;
use crate::subchannel::SubchannelCore;

/// The largest health response accepted (a response is two octets; this only bounds a
/// misbehaving server).
const MAX_RESPONSE: usize = 16 * 1024;

/// Logged once per process: a backend without the health service while checks are on.
static UNIMPLEMENTED_LOGGED: AtomicBool = AtomicBool::new(false);

/// How one Watch call ended.
enum WatchEnd {
    /// The server has no health service: treat the backend as healthy.
    Unimplemented,
    /// The call failed or ended; `got_status` says whether it delivered a status first.
    Failed { status: Status, got_status: bool },
}

/// Runs health checks on `client` (the connection of `generation`) until the connection
/// closes, then reports it lost.
pub(crate) async fn run(
    subchannel: Weak<SubchannelCore>,
    client: Client,
    generation: u64,
    service: String,
) {
    let watching = async {
        watch_loop(&subchannel, &client, generation, &service).await;
        // Checking is off for this connection (UNIMPLEMENTED): only its end matters now.
        std::future::pending::<()>().await;
    };
    tokio::select! {
        _ = client.closed() => {}
        () = watching => {}
    }
    if let Some(subchannel) = subchannel.upgrade() {
        subchannel.connection_lost(generation);
    }
}

fn report(subchannel: &Weak<SubchannelCore>, generation: u64, state: SubchannelState) -> bool {
    match subchannel.upgrade() {
        Some(subchannel) => {
            subchannel.health_update(generation, state);
            true
        }
        None => false,
    }
}

async fn watch_loop(
    subchannel: &Weak<SubchannelCore>,
    client: &Client,
    generation: u64,
    service: &str,
) {
    let Some(core) = subchannel.upgrade() else {
        return;
    };
    let settings = core.settings().clone();
    drop(core);
    let mut backoff = BackoffState::new(settings.backoff);
    // Consecutive Watch calls that ended without delivering a status.
    let mut fruitless = 0u32;
    loop {
        if fruitless > 0 {
            let wait = if fruitless == 1 {
                backoff.first()
            } else {
                backoff.next()
            };
            tokio::time::sleep(wait).await;
        }
        if !report(
            subchannel,
            generation,
            SubchannelState::new(ConnectivityState::Connecting),
        ) {
            return;
        }
        let mut on_status = |status: ServingStatus| {
            let state = match status {
                ServingStatus::Serving => SubchannelState::new(ConnectivityState::Ready),
                other => SubchannelState::failure(Status::unavailable(format!(
                    "health check of {service:?}: the backend reports {}",
                    other.as_str_name()
                ))),
            };
            report(subchannel, generation, state);
        };
        let headers = settings.health_request_headers();
        match watch_once(client, headers, service, &mut on_status).await {
            WatchEnd::Unimplemented => {
                if !UNIMPLEMENTED_LOGGED.swap(true, Ordering::Relaxed) {
                    tracing::error!(
                        service,
                        "health checking is on but the backend has no grpc.health.v1.Health \
                         service (UNIMPLEMENTED); treating it as healthy"
                    );
                }
                report(
                    subchannel,
                    generation,
                    SubchannelState::new(ConnectivityState::Ready),
                );
                return;
            }
            WatchEnd::Failed { status, got_status } => {
                tracing::debug!(service, %status, "health-check stream ended");
                if got_status {
                    fruitless = 0;
                    backoff = BackoffState::new(settings.backoff);
                }
                fruitless += 1;
                let error =
                    Status::unavailable(format!("health check of {service:?} failed: {status}"));
                if !report(subchannel, generation, SubchannelState::failure(error)) {
                    return;
                }
            }
        }
    }
}

/// One Watch call: sends the request, reports every status received, returns how it ended.
async fn watch_once(
    client: &Client,
    headers: Vec<HeaderField>,
    service: &str,
    on_status: &mut impl FnMut(ServingStatus),
) -> WatchEnd {
    let failed = |status: Status, got_status: bool| WatchEnd::Failed { status, got_status };
    let (mut send, mut recv) = match client.send_request(headers, false) {
        Ok(streams) => streams,
        Err(error) => return failed(status_from_transport(&error), false),
    };
    let request = HealthCheckRequest {
        service: service.to_owned(),
    };
    let mut body = BytesMut::with_capacity(5 + request.encoded_len());
    framing::encode_header(false, request.encoded_len() as u32, &mut body);
    if let Err(error) = request.encode(&mut body) {
        return failed(
            Status::internal(format!("encoding the health request: {error}")),
            false,
        );
    }
    if let Err(error) = send.send_data(body.freeze(), true).await {
        return failed(status_from_transport(&error), false);
    }
    let fields = match recv.headers().await {
        Ok(fields) => fields,
        Err(error) => return failed(status_from_transport(&error), false),
    };
    if recv.is_end_stream() {
        // Trailers-Only: how a server without the service answers.
        return ended(status_of(&fields), false);
    }
    let mut got_status = false;
    let mut decoder = MessageDecoder::new(None, MAX_RESPONSE);
    loop {
        match read_message(&mut recv, &mut decoder).await {
            Ok(Some(message)) => match HealthCheckResponse::decode(message) {
                Ok(response) => {
                    got_status = true;
                    on_status(response.status());
                }
                Err(error) => {
                    let status = Status::internal(format!("malformed health response: {error}"));
                    return failed(status, got_status);
                }
            },
            Ok(None) => break,
            Err(status) => return failed(status, got_status),
        }
    }
    match recv.trailers().await {
        Ok(Some(fields)) => ended(status_of(&fields), got_status),
        Ok(None) => failed(
            Status::internal("health stream ended without trailers"),
            got_status,
        ),
        Err(error) => failed(status_from_transport(&error), got_status),
    }
    // `send` is dropped here: the stream is over on both sides.
}

/// The next message, `None` at the end of the body.
async fn read_message(
    recv: &mut RecvStream,
    decoder: &mut MessageDecoder,
) -> Result<Option<Bytes>, Status> {
    loop {
        if let Some(message) = decoder.next_message()? {
            return Ok(Some(message));
        }
        match recv.data().await {
            Some(Ok(chunk)) => decoder.push(chunk),
            Some(Err(error)) => return Err(status_from_transport(&error)),
            None => return Ok(None),
        }
    }
}

fn status_of(fields: &[HeaderField]) -> Status {
    Status::from_header_field_bytes(fields.iter().map(|f| (&f.name, &f.value)))
        .unwrap_or_else(|| Status::unknown("health response without grpc-status"))
}

fn ended(status: Status, got_status: bool) -> WatchEnd {
    if status.code() == Code::Unimplemented {
        WatchEnd::Unimplemented
    } else if status.is_ok() {
        WatchEnd::Failed {
            status: Status::unavailable("the health stream ended"),
            got_status,
        }
    } else {
        WatchEnd::Failed { status, got_status }
    }
}

/// The request headers of the Watch call (PROTOCOL-HTTP2.md, "Requests").
pub(crate) fn watch_headers(
    scheme: &Bytes,
    authority: &Bytes,
    user_agent: &Bytes,
) -> Vec<HeaderField> {
    let field = |name: &'static str, value: Bytes| {
        HeaderField::new(Bytes::from_static(name.as_bytes()), value)
    };
    vec![
        field(":method", Bytes::from_static(b"POST")),
        field(":scheme", scheme.clone()),
        field(":path", Bytes::from_static(WATCH_PATH.as_bytes())),
        field(":authority", authority.clone()),
        field(
            headers::CONTENT_TYPE,
            Bytes::from_static(headers::APPLICATION_GRPC.as_bytes()),
        ),
        field(
            headers::TE,
            Bytes::from_static(headers::TRAILERS.as_bytes()),
        ),
        field(headers::USER_AGENT, user_agent.clone()),
    ]
}
