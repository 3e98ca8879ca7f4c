//! One call as it travels through layers, interceptors and the handler: [`ServerCall`], and
//! the per-call slot that brings the stream halves back to the dispatcher.
//!
//! The dispatcher sends the final status itself, after the layer stack, the interceptors and
//! the handler are done (or were dropped by a deadline, a layer or a cancellation). To do
//! that it needs the response half of the stream back, wherever the call went. So the halves
//! are wrapped ([`Responder`], [`RequestBody`]): when a wrapper is dropped, it parks what it
//! holds in the call's [`CallShared`] slot, and the dispatcher takes it from there. The slot's
//! lock is taken a few times per call (park, take), never per message.
//!
//! The request half is parked too: dropping a receiving half while the client is still
//! sending makes the transport cancel the stream (RST_STREAM CANCEL) unless our response is
//! complete, in which case the reset is NO_ERROR and goes out right behind the trailers (RFC
//! 9113 §8.1). So the request half is dropped only once the final status is queued.

use std::borrow::Cow;
use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use grpc_core::compression::Compressor;
use grpc_core::stats::CallStats;
use grpc_core::{Extensions, Metadata, Status};
use grpc_transport::driver::{RecvStream, SendStream};
use tokio::time::Instant;

use crate::routes::Route;

/// The kind of an RPC: whether the client, the server, both or neither stream messages.
///
/// gRPC-Go tells unary from streaming calls by which interceptor runs
/// (`UnaryServerInterceptor` or `StreamServerInterceptor`); here one
/// [`Interceptor`](crate::Interceptor) sees every call and asks [`ServerCall::kind`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RpcKind {
    /// One request message, one response message.
    Unary,
    /// A stream of request messages, one response message.
    ClientStreaming,
    /// One request message, a stream of response messages.
    ServerStreaming,
    /// Both directions stream, independently.
    BidiStreaming,
}

impl RpcKind {
    /// Whether the client sends a stream of messages.
    pub fn is_client_streaming(self) -> bool {
        matches!(self, RpcKind::ClientStreaming | RpcKind::BidiStreaming)
    }

    /// Whether the server sends a stream of messages.
    pub fn is_server_streaming(self) -> bool {
        matches!(self, RpcKind::ServerStreaming | RpcKind::BidiStreaming)
    }
}

/// The address of the peer of a call over TCP (with or without TLS), put in every request's
/// [`Extensions`] so handlers can read it: `request.extensions().get::<RemoteAddr>()`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RemoteAddr(pub SocketAddr);

/// What a call's wrappers share with the dispatcher.
#[derive(Default)]
pub(crate) struct CallShared {
    slot: Mutex<Slot>,
    /// The call reached its handler (a layer or interceptor that returns success without
    /// passing the call on leaves it unanswered: INTERNAL).
    reached_handler: AtomicBool,
    /// The call's statistics (the server's stats handler).
    pub(crate) stats: CallStats,
}

#[derive(Default)]
struct Slot {
    response: Option<ParkedResponse>,
    request: Option<RecvStream>,
    /// A status that overrides whatever the handler returns: the request stream was
    /// malformed or over the size limit, or a response message was over the limit.
    fatal: Option<Status>,
    /// The dispatcher took the slot's contents; later parkers clean up for themselves.
    closed: bool,
}

/// What the dispatcher takes back once the call's futures are done.
pub(crate) struct Taken {
    pub(crate) response: Option<ParkedResponse>,
    pub(crate) request: Option<RecvStream>,
    pub(crate) fatal: Option<Status>,
}

impl CallShared {
    pub(crate) fn with_stats(stats: CallStats) -> CallShared {
        CallShared {
            stats,
            ..CallShared::default()
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Slot> {
        self.slot.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn set_reached_handler(&self) {
        self.reached_handler.store(true, Ordering::Relaxed);
    }

    pub(crate) fn reached_handler(&self) -> bool {
        self.reached_handler.load(Ordering::Relaxed)
    }

    /// Records a status that decides the call's outcome (the first one wins).
    pub(crate) fn set_fatal(&self, status: Status) {
        let mut slot = self.lock();
        if slot.fatal.is_none() {
            slot.fatal = Some(status);
        }
    }

    /// Takes everything parked and closes the slot.
    pub(crate) fn take(&self) -> Taken {
        let mut slot = self.lock();
        slot.closed = true;
        Taken {
            response: slot.response.take(),
            request: slot.request.take(),
            fatal: slot.fatal.take(),
        }
    }

    fn park_response(&self, response: ParkedResponse) {
        let leftover = {
            let mut slot = self.lock();
            if slot.closed {
                Some(response)
            } else {
                slot.response = Some(response);
                None
            }
        };
        // After the dispatcher finished, nobody answers the call any more: dropping the
        // sending half resets the stream (CANCEL), outside the lock.
        drop(leftover);
    }

    fn park_request(&self, recv: RecvStream) {
        let leftover = {
            let mut slot = self.lock();
            if slot.closed {
                Some(recv)
            } else {
                slot.request = Some(recv);
                None
            }
        };
        // The call is answered already: dropping the request half now resets the stream
        // with NO_ERROR behind the queued trailers.
        drop(leftover);
    }
}

/// The response half of a call, with everything needed to answer it.
pub(crate) struct ResponseState {
    pub(crate) send: SendStream,
    /// The request's content type, echoed in the response.
    pub(crate) content_type: Bytes,
    /// The compressor for response messages (negotiated with `grpc-accept-encoding`).
    pub(crate) encoding: Option<Arc<dyn Compressor>>,
    /// Our `grpc-accept-encoding` value (empty: send none).
    pub(crate) accept_encoding: Bytes,
    /// Largest response message, after compression.
    pub(crate) max_send: usize,
    pub(crate) headers_sent: bool,
    /// A unary response message, encoded, waiting for the final status.
    pub(crate) body: Option<Bytes>,
}

/// A response half parked for the dispatcher.
pub(crate) struct ParkedResponse {
    pub(crate) state: ResponseState,
    pub(crate) headers: Metadata,
    pub(crate) trailers: Metadata,
}

/// Owns the response half while the call runs; parks it on drop.
pub(crate) struct Responder {
    pub(crate) state: Option<ResponseState>,
    pub(crate) headers: Metadata,
    pub(crate) trailers: Metadata,
    pub(crate) shared: Arc<CallShared>,
}

impl Responder {
    pub(crate) fn new(state: ResponseState, shared: Arc<CallShared>) -> Responder {
        Responder {
            state: Some(state),
            headers: Metadata::new(),
            trailers: Metadata::new(),
            shared,
        }
    }

    /// The response state. It is only ever missing while the responder is being dropped.
    pub(crate) fn state(&mut self) -> Result<&mut ResponseState, Status> {
        self.state
            .as_mut()
            .ok_or_else(|| Status::internal("the response was already finished"))
    }
}

impl Drop for Responder {
    fn drop(&mut self) {
        if let Some(state) = self.state.take() {
            self.shared.park_response(ParkedResponse {
                state,
                headers: std::mem::take(&mut self.headers),
                trailers: std::mem::take(&mut self.trailers),
            });
        }
    }
}

/// Owns the request half while the call runs; parks it on drop if the client is still
/// sending.
pub(crate) struct RequestBody {
    pub(crate) recv: Option<RecvStream>,
    pub(crate) shared: Arc<CallShared>,
}

impl Drop for RequestBody {
    fn drop(&mut self) {
        if let Some(recv) = self.recv.take() {
            if !recv.is_end_stream() {
                self.shared.park_request(recv);
            }
        }
    }
}

/// A call on its way to its handler: what a [tower layer](crate::ServerBuilder::layer) and an
/// [interceptor](crate::Interceptor) see.
///
/// It carries the method, the request metadata, the deadline, extensions for the handler,
/// response metadata to add, and (privately) both halves of the stream. Reading and changing
/// metadata and extensions is free; the stream halves go to the handler when the call
/// reaches it. A layer or interceptor that drops the call instead of passing it on answers
/// it with the error it returns (or INTERNAL if it returns success without calling on).
pub struct ServerCall {
    pub(crate) path: Cow<'static, str>,
    pub(crate) route: Option<Arc<Route>>,
    pub(crate) metadata: Metadata,
    pub(crate) extensions: Extensions,
    pub(crate) timeout: Option<Duration>,
    pub(crate) deadline: Option<Instant>,
    pub(crate) remote_addr: Option<SocketAddr>,
    /// Whether handlers get the address in their request's extensions.
    pub(crate) expose_remote_addr: bool,
    pub(crate) request: RequestBody,
    /// The compressor named by the request's `grpc-encoding`.
    pub(crate) request_encoding: Option<Arc<dyn Compressor>>,
    pub(crate) max_recv: usize,
    pub(crate) responder: Responder,
}

impl ServerCall {
    /// The method's full path, `/package.Service/Method`.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The service part of the path (`package.Service`); empty if the path is malformed.
    pub fn service(&self) -> &str {
        split_path(&self.path).0
    }

    /// The method part of the path (`Method`); empty if the path is malformed.
    pub fn method(&self) -> &str {
        split_path(&self.path).1
    }

    /// The kind of RPC, or `None` when no method is registered at this path (the call will
    /// be answered UNIMPLEMENTED). Interceptors only see registered methods.
    pub fn kind(&self) -> Option<RpcKind> {
        self.route.as_ref().map(|route| route.kind)
    }

    /// The request metadata (custom headers; reserved `grpc-*` fields are not included).
    pub fn metadata(&self) -> &Metadata {
        &self.metadata
    }

    /// Mutable request metadata: changes reach the handler's `Request::metadata()`.
    pub fn metadata_mut(&mut self) -> &mut Metadata {
        &mut self.metadata
    }

    /// Extensions: values put here reach the handler's `Request::extensions()`.
    pub fn extensions(&self) -> &Extensions {
        &self.extensions
    }

    /// Mutable extensions.
    pub fn extensions_mut(&mut self) -> &mut Extensions {
        &mut self.extensions
    }

    /// The timeout the client sent in `grpc-timeout`, if any.
    pub fn timeout(&self) -> Option<Duration> {
        self.timeout
    }

    /// When the call's deadline expires (from `grpc-timeout`): the handler is dropped then
    /// and the client gets DEADLINE_EXCEEDED.
    pub fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    /// The peer's address for TCP and TLS connections; `None` for Unix sockets and
    /// connections from [`serve_incoming`](crate::ServerBuilder::serve_incoming).
    pub fn remote_addr(&self) -> Option<SocketAddr> {
        self.remote_addr
    }

    /// Response headers to send (merged with those the handler sets).
    pub fn response_headers_mut(&mut self) -> &mut Metadata {
        &mut self.responder.headers
    }

    /// Response trailers to send with the status (merged with those the handler sets).
    pub fn response_trailers_mut(&mut self) -> &mut Metadata {
        &mut self.responder.trailers
    }
}

impl fmt::Debug for ServerCall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerCall")
            .field("path", &self.path)
            .field("kind", &self.kind())
            .field("metadata", &self.metadata)
            .field("timeout", &self.timeout)
            .field("remote_addr", &self.remote_addr)
            .finish_non_exhaustive()
    }
}

/// The service and method of a `:path`; both empty when it is malformed (routing answers
/// such calls UNIMPLEMENTED).
pub(crate) fn split_path(path: &str) -> (&str, &str) {
    grpc_core::headers::split_path(path).unwrap_or(("", ""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_split() {
        assert_eq!(split_path("/a.B/C"), ("a.B", "C"));
        assert_eq!(split_path("a.B/C"), ("", ""));
        assert_eq!(split_path("/a.B"), ("", ""));
        assert_eq!(split_path("//C"), ("", ""));
        assert_eq!(split_path("/a.B/"), ("", ""));
        assert_eq!(split_path("/a/b/c"), ("", ""));
    }
}
