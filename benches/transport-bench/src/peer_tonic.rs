//! The tonic column of the gRPC table: a tonic 0.14 client against a tonic server, with
//! the same `bench.Echo` service, messages and harness as `grpc.rs`.
//!
//! No protoc and no tonic-build: the codec ([`RawCodec`]) passes messages as raw bytes
//! like our `BytesCodec`, and the server ([`EchoServer`]) is written by hand the way
//! tonic's generated code is (a `tower::Service` over `http::Request<tonic::body::Body>`
//! that routes on the path and hands each method to `tonic::server::Grpc`). The client
//! calls `tonic::client::Grpc` as generated clients do.
//!
//! The server runs with `serve_with_incoming_shutdown` on the benchmark's accepted
//! connections (TCP_NODELAY, [`CountingIo`]), so its socket calls are counted like our
//! gRPC server's. The client connects through a tonic `Endpoint` with TCP_NODELAY; its
//! socket calls are not counted (as for grpc-client).

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Buf, BufMut, Bytes};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tonic::Status;
use tonic::body::Body;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder, Streaming};
use tonic::server::{NamedService, StreamingService, UnaryService};
use tonic::transport::server::Connected;
use tonic::transport::{Channel, Endpoint, Server};

use crate::counting::{CountingIo, IoCounters};
use crate::grpc::{MESSAGE_LEN, PATH_PINGPONG, PATH_UNARY, message};
use crate::scenario::{BoxError, Exchange, Sides};

/// Raw-bytes messages, as our `BytesCodec`: encoding copies the message into tonic's
/// buffer, decoding takes the message's bytes out of it.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct RawCodec;

impl Codec for RawCodec {
    type Encode = Bytes;
    type Decode = Bytes;
    type Encoder = RawCodec;
    type Decoder = RawCodec;

    fn encoder(&mut self) -> RawCodec {
        RawCodec
    }

    fn decoder(&mut self) -> RawCodec {
        RawCodec
    }
}

impl Encoder for RawCodec {
    type Item = Bytes;
    type Error = Status;

    fn encode(&mut self, item: Bytes, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put(item);
        Ok(())
    }
}

impl Decoder for RawCodec {
    type Item = Bytes;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Bytes>, Status> {
        Ok(Some(src.copy_to_bytes(src.remaining())))
    }
}

/// A boxed response future, as generated servers use.
type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// `bench.Echo` on tonic, written the way tonic's generated server code is.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct EchoServer;

impl NamedService for EchoServer {
    const NAME: &'static str = "bench.Echo";
}

/// `Unary`: returns the request message.
struct UnarySvc;

impl UnaryService<Bytes> for UnarySvc {
    type Response = Bytes;
    type Future = BoxFuture<Result<tonic::Response<Bytes>, Status>>;

    fn call(&mut self, request: tonic::Request<Bytes>) -> Self::Future {
        Box::pin(async move { Ok(tonic::Response::new(request.into_inner())) })
    }
}

/// `PingPong`: the response stream is the request stream, so each message is echoed as
/// soon as it is decoded.
struct PingPongSvc;

impl StreamingService<Bytes> for PingPongSvc {
    type Response = Bytes;
    type ResponseStream = Streaming<Bytes>;
    type Future = BoxFuture<Result<tonic::Response<Streaming<Bytes>>, Status>>;

    fn call(&mut self, request: tonic::Request<Streaming<Bytes>>) -> Self::Future {
        Box::pin(async move { Ok(tonic::Response::new(request.into_inner())) })
    }
}

impl tower_service::Service<http::Request<Body>> for EchoServer {
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = BoxFuture<Result<http::Response<Body>, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        match request.uri().path() {
            PATH_UNARY => Box::pin(async move {
                let mut grpc = tonic::server::Grpc::new(RawCodec);
                Ok(grpc.unary(UnarySvc, request).await)
            }),
            PATH_PINGPONG => Box::pin(async move {
                let mut grpc = tonic::server::Grpc::new(RawCodec);
                Ok(grpc.streaming(PingPongSvc, request).await)
            }),
            _ => Box::pin(async move {
                Ok(Status::unimplemented("no such method in bench.Echo").into_http())
            }),
        }
    }
}

impl Connected for CountingIo<TcpStream> {
    type ConnectInfo = ();

    fn connect_info(&self) {}
}

/// The benchmark's listener as tonic's incoming stream: TCP_NODELAY (tonic ignores its
/// own `tcp_nodelay` setting on `serve_with_incoming`) and a [`CountingIo`].
struct Accept {
    listener: TcpListener,
    counters: Arc<IoCounters>,
}

impl futures_core::Stream for Accept {
    type Item = io::Result<CountingIo<TcpStream>>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        this.listener.poll_accept(cx).map(|accepted| {
            Some(accepted.and_then(|(tcp, _)| {
                tcp.set_nodelay(true)?;
                Ok(CountingIo::new(tcp, this.counters.clone()))
            }))
        })
    }
}

/// A tonic server and a connected tonic channel to it over loopback TCP.
pub(crate) struct Conn {
    /// The client.
    channel: Channel,
    /// Socket counters; only the server's count.
    pub(crate) sides: Sides,
    shutdown: oneshot::Sender<()>,
    server: JoinHandle<Result<(), tonic::transport::Error>>,
}

impl Conn {
    /// Starts the server on 127.0.0.1 and connects a channel to it.
    pub(crate) async fn open() -> Result<Conn, BoxError> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let sides = Sides::new();
        let accept = Accept {
            listener,
            counters: sides.server.clone(),
        };
        let (shutdown, stop) = oneshot::channel::<()>();
        let server = tokio::spawn(
            Server::builder()
                .tcp_nodelay(true)
                .serve_with_incoming_shutdown(EchoServer, accept, async move {
                    let _ = stop.await;
                }),
        );
        let channel = Endpoint::from_shared(format!("http://{addr}"))?
            .tcp_nodelay(true)
            .connect()
            .await?;
        Ok(Conn {
            channel,
            sides,
            shutdown,
            server,
        })
    }

    /// A unary client on this channel.
    pub(crate) fn unary(&self) -> Unary {
        Unary {
            grpc: tonic::client::Grpc::new(self.channel.clone()),
            message: message(),
        }
    }

    /// Opens the bidi ping-pong call.
    pub(crate) async fn pingpong(&self) -> Result<PingPong, BoxError> {
        let mut grpc = tonic::client::Grpc::new(self.channel.clone());
        grpc.ready().await?;
        let (send, receive) = mpsc::channel(1);
        let path = http::uri::PathAndQuery::from_static(PATH_PINGPONG);
        let messages = grpc
            .streaming(tonic::Request::new(Outbound(receive)), path, RawCodec)
            .await?
            .into_inner();
        Ok(PingPong {
            send: Some(send),
            messages,
            message: message(),
        })
    }

    /// Drops the channel, shuts the server down gracefully and waits for it.
    pub(crate) async fn close(self) -> Result<(), BoxError> {
        drop(self.channel);
        let _ = self.shutdown.send(());
        match tokio::time::timeout(Duration::from_secs(5), self.server).await {
            Ok(joined) => Ok(joined??),
            Err(_) => Err("tonic: server did not stop within 5 s of the shutdown".into()),
        }
    }
}

/// One unary echo call, through `tonic::client::Grpc` as a generated client makes it.
#[derive(Clone)]
pub(crate) struct Unary {
    grpc: tonic::client::Grpc<Channel>,
    message: Bytes,
}

impl Exchange for Unary {
    async fn exchange(&mut self) -> Result<(), BoxError> {
        self.grpc.ready().await?;
        let path = http::uri::PathAndQuery::from_static(PATH_UNARY);
        let response = self
            .grpc
            .unary(tonic::Request::new(self.message.clone()), path, RawCodec)
            .await?;
        let len = response.get_ref().len();
        if len != MESSAGE_LEN {
            return Err(format!("tonic: unary response of {len} octets").into());
        }
        Ok(())
    }
}

/// The request side of the ping-pong call: the messages the client hands to an mpsc
/// channel, as a `Stream` (what `tokio_stream::wrappers::ReceiverStream` does).
struct Outbound(mpsc::Receiver<Bytes>);

impl futures_core::Stream for Outbound {
    type Item = Bytes;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Bytes>> {
        self.get_mut().0.poll_recv(cx)
    }
}

/// One bidi call; each exchange sends a message and waits for its echo.
pub(crate) struct PingPong {
    send: Option<mpsc::Sender<Bytes>>,
    messages: Streaming<Bytes>,
    message: Bytes,
}

impl Exchange for PingPong {
    async fn exchange(&mut self) -> Result<(), BoxError> {
        let send = self
            .send
            .as_ref()
            .ok_or("tonic: ping-pong already closed")?;
        send.send(self.message.clone())
            .await
            .map_err(|_| "tonic: ping-pong request stream gone")?;
        match self.messages.message().await? {
            Some(echo) if echo.len() == MESSAGE_LEN => Ok(()),
            Some(echo) => Err(format!("tonic: ping-pong echo of {} octets", echo.len()).into()),
            None => Err("tonic: ping-pong call ended early".into()),
        }
    }
}

impl PingPong {
    /// Half-closes the call and reads it to its OK status.
    pub(crate) async fn finish(mut self) -> Result<(), BoxError> {
        drop(self.send.take());
        while self.messages.message().await?.is_some() {}
        self.messages.trailers().await?;
        Ok(())
    }
}
