//! The method table: [`GrpcService`], [`Routes`] and the adapters that turn each kind of
//! handler into one erased form, plus [`Router`], the innermost service of the tower stack.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::BytesMut;
use grpc_core::codec::{Codec, DecodeMessage};
use grpc_core::message::MessageEncoder;
use grpc_core::stats::CallEvent;
use grpc_core::{BoxFuture, Request, Response, Status};

use crate::call::{RemoteAddr, Responder, RpcKind, ServerCall, split_path};
use crate::interceptor::{Interceptor, Next};
use crate::sink::ResponseSink;
use crate::streaming::{MessageReader, Streaming};

/// A service that can be added to a server: generated code implements it for each service of
/// a `.proto` file (`GreeterServer<T>`); a hand-written one registers its methods itself.
pub trait GrpcService: Send + 'static {
    /// The fully qualified service name, `package.Service` (e.g. `helloworld.Greeter`).
    const NAME: &'static str;

    /// Registers every method of the service.
    fn register(self, routes: &mut Routes);
}

/// Whether the response message of a unary or client-streaming handler is compressed: put
/// it in the extensions of the [`Response`] the handler returns.
///
/// A call's response is compressed when the server has a
/// [`send_compressed`](crate::ServerBuilder::send_compressed) encoding that the client
/// accepts. `CompressResponse(false)` sends the one response message of such a call
/// uncompressed (Compressed-Flag 0; the `grpc-encoding` response header stays, as
/// `compression.md` allows per message, "Specific Disabling of Compression"). The default,
/// and `CompressResponse(true)`, compresses; it cannot compress a call that negotiated no
/// encoding. Streaming handlers switch per message with
/// [`ResponseSink::set_compression`] instead.
///
/// ```
/// use bytes::Bytes;
/// use grpc_server::{CompressResponse, Request, Response, Status};
///
/// async fn token(request: Request<Bytes>) -> Result<Response<Bytes>, Status> {
///     // A secret next to data the client controls: never compressed together.
///     let mut response = Response::new(Bytes::from_static(b"secret"));
///     response.extensions_mut().insert(CompressResponse(false));
///     Ok(response)
/// }
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CompressResponse(pub bool);

impl Default for CompressResponse {
    /// Compress (when the call has an encoding).
    fn default() -> Self {
        CompressResponse(true)
    }
}

/// One registered method.
pub(crate) struct Route {
    pub(crate) path: &'static str,
    pub(crate) kind: RpcKind,
    pub(crate) handler: Arc<dyn Handler>,
}

/// The erased form of every handler: takes the call, returns its final status. The
/// dispatcher sends that status (and a unary response message the handler left parked).
pub(crate) trait Handler: Send + Sync + 'static {
    fn call(self: Arc<Self>, call: ServerCall) -> BoxFuture<'static, Result<(), Status>>;
}

/// The methods a server answers, by path. Services fill it in through
/// [`GrpcService::register`]; [`ServerBuilder::add_service`](crate::ServerBuilder::add_service)
/// does that for you.
///
/// Each registration names the method's full path, the codec (`Encode` = response type,
/// `Decode` = request type on a server) and the handler.
#[derive(Default)]
pub struct Routes {
    map: HashMap<&'static str, Arc<Route>>,
    services: HashSet<&'static str>,
}

impl Routes {
    /// An empty table.
    pub fn new() -> Routes {
        Routes::default()
    }

    /// Adds every method of `service` (its [`GrpcService::NAME`] is remembered, so calls to
    /// an unknown method of a known service say so).
    pub fn add_service<S: GrpcService>(&mut self, service: S) {
        self.services.insert(S::NAME);
        service.register(self);
    }

    /// The number of registered methods.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether no method is registered.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Registers a unary method: one request, one response.
    ///
    /// Compression: the request's extensions hold a [`ReceivedCompressed`] marker when the
    /// request had a `grpc-encoding` (read it with [`ReceivedCompressed::of`]: no marker
    /// means uncompressed); a [`CompressResponse`] in the response's extensions decides
    /// whether the response message is compressed.
    ///
    /// [`ReceivedCompressed`]: crate::ReceivedCompressed
    /// [`ReceivedCompressed::of`]: crate::ReceivedCompressed::of
    ///
    /// # Panics
    ///
    /// If `path` is not of the form `/package.Service/Method` or is registered already (a
    /// programming error, found when the server is built).
    pub fn unary<C, F, Fut>(&mut self, path: &'static str, codec: C, handler: F)
    where
        C: Codec,
        F: Fn(Request<C::Decode>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Response<C::Encode>, Status>> + Send + 'static,
    {
        let handler = UnaryHandler {
            codec: Arc::new(codec),
            handler,
        };
        self.insert(path, RpcKind::Unary, Arc::new(handler));
    }

    /// Registers a client-streaming method: a stream of requests, one response.
    ///
    /// Compression: [`Streaming::last_message_compressed`] tells how each request message
    /// arrived; a [`CompressResponse`] in the response's extensions decides whether the
    /// response message is compressed.
    ///
    /// # Panics
    ///
    /// As [`unary`](Routes::unary).
    pub fn client_streaming<C, F, Fut>(&mut self, path: &'static str, codec: C, handler: F)
    where
        C: Codec,
        F: Fn(Request<Streaming<C::Decode>>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Response<C::Encode>, Status>> + Send + 'static,
    {
        let handler = ClientStreamingHandler {
            codec: Arc::new(codec),
            handler,
        };
        self.insert(path, RpcKind::ClientStreaming, Arc::new(handler));
    }

    /// Registers a server-streaming method: one request, responses sent through a
    /// [`ResponseSink`].
    ///
    /// Compression: as for [`unary`](Routes::unary), the request may carry a
    /// [`ReceivedCompressed`](crate::ReceivedCompressed) marker;
    /// [`ResponseSink::set_compression`] switches compression per response message.
    ///
    /// # Panics
    ///
    /// As [`unary`](Routes::unary).
    pub fn server_streaming<C, F>(&mut self, path: &'static str, codec: C, handler: F)
    where
        C: Codec,
        F: for<'a> Fn(
                Request<C::Decode>,
                &'a mut ResponseSink<C::Encode>,
            ) -> BoxFuture<'a, Result<(), Status>>
            + Send
            + Sync
            + 'static,
    {
        let handler = ServerStreamingHandler {
            codec: Arc::new(codec),
            handler,
        };
        self.insert(path, RpcKind::ServerStreaming, Arc::new(handler));
    }

    /// Registers a bidirectional-streaming method: requests arrive as a [`Streaming`] while
    /// responses go out through a [`ResponseSink`], independently.
    ///
    /// Compression: [`Streaming::last_message_compressed`] and
    /// [`ResponseSink::set_compression`], per message.
    ///
    /// # Panics
    ///
    /// As [`unary`](Routes::unary).
    pub fn streaming<C, F>(&mut self, path: &'static str, codec: C, handler: F)
    where
        C: Codec,
        F: for<'a> Fn(
                Request<Streaming<C::Decode>>,
                &'a mut ResponseSink<C::Encode>,
            ) -> BoxFuture<'a, Result<(), Status>>
            + Send
            + Sync
            + 'static,
    {
        let handler = BidiStreamingHandler {
            codec: Arc::new(codec),
            handler,
        };
        self.insert(path, RpcKind::BidiStreaming, Arc::new(handler));
    }

    fn insert(&mut self, path: &'static str, kind: RpcKind, handler: Arc<dyn Handler>) {
        assert!(
            !split_path(path).0.is_empty(),
            "gRPC method path {path:?} is not of the form /package.Service/Method"
        );
        let route = Arc::new(Route {
            path,
            kind,
            handler,
        });
        let previous = self.map.insert(path, route);
        assert!(previous.is_none(), "gRPC method {path} is registered twice");
    }

    /// The route for a request's `:path`.
    pub(crate) fn lookup(&self, path: &str) -> Option<&Arc<Route>> {
        self.map.get(path)
    }

    /// The UNIMPLEMENTED status for a path with no route (gRPC-Go's wording).
    pub(crate) fn unimplemented(&self, path: &str) -> Status {
        match split_path(path) {
            ("", _) => Status::unimplemented(format!("malformed method name: {path:?}")),
            (service, method) if self.services.contains(service) => {
                Status::unimplemented(format!("unknown method {method} for service {service}"))
            }
            (service, _) => Status::unimplemented(format!("unknown service {service}")),
        }
    }
}

impl fmt::Debug for Routes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut paths: Vec<_> = self.map.values().map(|r| (r.path, r.kind)).collect();
        paths.sort_unstable_by_key(|(path, _)| *path);
        f.debug_struct("Routes").field("methods", &paths).finish()
    }
}

/// What every adapter takes apart a [`ServerCall`] into: the request body, read as messages;
/// the response half; and the rest, from which the handler's [`Request`] is built.
struct CallParts {
    reader: MessageReader,
    responder: Responder,
    head: RequestHead,
}

/// The parts of the handler's [`Request`] besides its message.
struct RequestHead {
    metadata: grpc_core::Metadata,
    extensions: grpc_core::Extensions,
    timeout: Option<std::time::Duration>,
    /// The peer's address, if handlers may see it.
    remote_addr: Option<std::net::SocketAddr>,
}

impl CallParts {
    fn new(call: ServerCall) -> CallParts {
        let ServerCall {
            metadata,
            extensions,
            timeout,
            remote_addr,
            expose_remote_addr,
            request,
            request_encoding,
            max_recv,
            responder,
            ..
        } = call;
        CallParts {
            reader: MessageReader::new(request, request_encoding, max_recv),
            responder,
            head: RequestHead {
                metadata,
                extensions,
                timeout,
                remote_addr: remote_addr.filter(|_| expose_remote_addr),
            },
        }
    }

    /// The request of a unary or server-streaming handler: the one request message (and the
    /// end of the stream after it), decoded, with a `ReceivedCompressed` marker in its
    /// extensions when the request had a `grpc-encoding`. The request body is dropped before
    /// the handler runs.
    async fn single_request<C: Codec>(
        self,
        codec: &C,
    ) -> Result<(Request<C::Decode>, Responder), Status> {
        let CallParts {
            mut reader,
            responder,
            head,
        } = self;
        let payload = reader.single().await?;
        let message = codec.decode(payload)?;
        // Only calls with an encoding get the marker: one small allocation for them, none
        // for the rest (see `ReceivedCompressed`).
        let received = reader.received_compressed();
        drop(reader);
        let mut request = head.into_request(message);
        if let Some(received) = received {
            request.extensions_mut().insert(received);
        }
        Ok((request, responder))
    }

    /// The request of a client-streaming or bidi handler: the request messages as a
    /// [`Streaming`].
    fn streaming_request<T: 'static>(
        self,
        codec: Arc<dyn DecodeMessage<T>>,
    ) -> (Request<Streaming<T>>, Responder) {
        let stream = Streaming::new(self.reader, codec);
        (self.head.into_request(stream), self.responder)
    }
}

impl RequestHead {
    /// Builds the handler's request around `message`.
    fn into_request<T>(self, message: T) -> Request<T> {
        let RequestHead {
            metadata,
            mut extensions,
            timeout,
            remote_addr,
        } = self;
        if let Some(addr) = remote_addr {
            extensions.insert(RemoteAddr(addr));
        }
        let mut request = Request::from_parts(metadata, extensions, message);
        if let Some(timeout) = timeout {
            request.set_timeout(timeout);
        }
        request
    }
}

/// Keeps a unary response for the dispatcher: its metadata, and its message encoded (the
/// size limit applies here: RESOURCE_EXHAUSTED), compressed unless the handler put
/// [`CompressResponse(false)`](CompressResponse) in its extensions. Headers, message and
/// trailers then go out back to back when the final status is known.
fn set_unary_response<C: Codec>(
    mut responder: Responder,
    codec: &C,
    response: Response<C::Encode>,
) -> Result<(), Status> {
    let (headers, extensions, message, trailers) = response.into_parts();
    // A lookup in empty extensions is a null check: no cost for handlers that set nothing.
    let compress = extensions
        .get::<CompressResponse>()
        .is_none_or(|compress| compress.0);
    responder.headers.extend(headers);
    responder.trailers.extend(trailers);
    let state = responder.state()?;
    let mut encoder = MessageEncoder::new(state.encoding.clone(), state.max_send);
    encoder.set_compression(compress);
    let mut body = BytesMut::with_capacity(256);
    encoder.encode(codec, message, &mut body)?;
    responder.shared.stats.event(&CallEvent::MessageOut {
        size: encoder.last_message_size(),
        wire_size: body.len(),
    });
    let state = responder.state()?;
    state.body = Some(body.freeze());
    Ok(())
}

struct UnaryHandler<C, F> {
    codec: Arc<C>,
    handler: F,
}

impl<C, F, Fut> Handler for UnaryHandler<C, F>
where
    C: Codec,
    F: Fn(Request<C::Decode>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Response<C::Encode>, Status>> + Send + 'static,
{
    fn call(self: Arc<Self>, call: ServerCall) -> BoxFuture<'static, Result<(), Status>> {
        Box::pin(async move {
            let parts = CallParts::new(call);
            let (request, responder) = parts.single_request(&*self.codec).await?;
            let response = (self.handler)(request).await?;
            set_unary_response(responder, &*self.codec, response)
        })
    }
}

struct ClientStreamingHandler<C, F> {
    codec: Arc<C>,
    handler: F,
}

impl<C, F, Fut> Handler for ClientStreamingHandler<C, F>
where
    C: Codec,
    F: Fn(Request<Streaming<C::Decode>>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Response<C::Encode>, Status>> + Send + 'static,
{
    fn call(self: Arc<Self>, call: ServerCall) -> BoxFuture<'static, Result<(), Status>> {
        Box::pin(async move {
            let parts = CallParts::new(call);
            let (request, responder) = parts.streaming_request(self.codec.clone());
            let response = (self.handler)(request).await?;
            set_unary_response(responder, &*self.codec, response)
        })
    }
}

struct ServerStreamingHandler<C, F> {
    codec: Arc<C>,
    handler: F,
}

impl<C, F> Handler for ServerStreamingHandler<C, F>
where
    C: Codec,
    F: for<'a> Fn(
            Request<C::Decode>,
            &'a mut ResponseSink<C::Encode>,
        ) -> BoxFuture<'a, Result<(), Status>>
        + Send
        + Sync
        + 'static,
{
    fn call(self: Arc<Self>, call: ServerCall) -> BoxFuture<'static, Result<(), Status>> {
        Box::pin(async move {
            let parts = CallParts::new(call);
            let (request, responder) = parts.single_request(&*self.codec).await?;
            let mut sink = ResponseSink::new(responder, self.codec.clone());
            (self.handler)(request, &mut sink).await
        })
    }
}

struct BidiStreamingHandler<C, F> {
    codec: Arc<C>,
    handler: F,
}

impl<C, F> Handler for BidiStreamingHandler<C, F>
where
    C: Codec,
    F: for<'a> Fn(
            Request<Streaming<C::Decode>>,
            &'a mut ResponseSink<C::Encode>,
        ) -> BoxFuture<'a, Result<(), Status>>
        + Send
        + Sync
        + 'static,
{
    fn call(self: Arc<Self>, call: ServerCall) -> BoxFuture<'static, Result<(), Status>> {
        Box::pin(async move {
            let parts = CallParts::new(call);
            let (request, responder) = parts.streaming_request(self.codec.clone());
            let mut sink = ResponseSink::new(responder, self.codec.clone());
            (self.handler)(request, &mut sink).await
        })
    }
}

/// The method table and the interceptor chain.
pub(crate) struct RouterInner {
    pub(crate) routes: Routes,
    pub(crate) interceptors: Arc<[Arc<dyn Interceptor>]>,
}

impl RouterInner {
    /// Runs a routed call through the interceptors and its handler.
    pub(crate) fn call(&self, call: ServerCall) -> BoxFuture<'static, Result<(), Status>> {
        match call.route.clone() {
            Some(route) => Next::new(self.interceptors.clone(), route.handler.clone()).run(call),
            None => {
                let status = self.routes.unimplemented(call.path());
                Box::pin(async move {
                    drop(call);
                    Err(status)
                })
            }
        }
    }
}

/// The innermost service of the server's tower stack: runs a [`ServerCall`] through the
/// interceptors and its handler and resolves to the call's final status (`Ok(())` for OK).
///
/// [`ServerBuilder::layer`](crate::ServerBuilder::layer) wraps layers around it. It is
/// always ready and cheap to clone (one `Arc`).
#[derive(Clone)]
pub struct Router {
    pub(crate) inner: Arc<RouterInner>,
}

impl fmt::Debug for Router {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Router")
            .field("routes", &self.inner.routes)
            .field("interceptors", &self.inner.interceptors.len())
            .finish()
    }
}

impl tower_service::Service<ServerCall> for Router {
    type Response = ();
    type Error = Status;
    type Future = BoxFuture<'static, Result<(), Status>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Status>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, call: ServerCall) -> Self::Future {
        self.inner.call(call)
    }
}
