//! The client side: connect, then open streams from a cloneable [`Client`] handle.

use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpStream, ToSocketAddrs};
use tokio::sync::{mpsc, oneshot};

use super::error::Error;
use super::stream::{Command, RecvStream, SendStream, StreamShared};
use super::task::{self, ConnectionHandle, ConnectionStats, ConnectionTask};
use super::tls;
use crate::connection::{Config, Role};
use crate::hpack::HeaderField;

/// A handle to a client connection. Cheap to clone and safe to share across tasks; the
/// connection stays open while any handle (or stream) is alive, then closes gracefully.
#[derive(Clone, Debug)]
pub struct Client {
    connection: ConnectionHandle,
    buffer_limit: usize,
}

impl Client {
    /// Starts a client connection over an established transport (TCP, TLS, a Unix socket,
    /// anything) and returns the handle and the task to run (for example with
    /// `tokio::spawn`). [`Client::handshake`] does both.
    pub fn with_task<T>(io: T, mut config: Config) -> (Client, ConnectionTask<T>)
    where
        T: AsyncRead + AsyncWrite + Unpin,
    {
        config.role = Role::Client;
        let buffer_limit = config.max_send_buffer_per_stream;
        let (connection, task) = ConnectionTask::start(io, config, None);
        (
            Client {
                connection,
                buffer_limit,
            },
            task,
        )
    }

    /// Starts a client connection over `io` and spawns its task on the current tokio
    /// runtime. Sends the preface and SETTINGS without waiting for the server's.
    pub fn handshake<T>(io: T, config: Config) -> Client
    where
        T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let (client, task) = Client::with_task(io, config);
        task::spawn(task);
        client
    }

    /// Connects over TCP (TCP_NODELAY on) with prior knowledge of HTTP/2 (h2c, RFC 9113
    /// §3.3).
    pub async fn connect_tcp(addr: impl ToSocketAddrs, config: Config) -> Result<Client, Error> {
        let tcp = TcpStream::connect(addr).await?;
        tcp.set_nodelay(true)?;
        Ok(Client::handshake(tcp, config))
    }

    /// Connects over a Unix domain socket.
    #[cfg(unix)]
    pub async fn connect_unix(
        path: impl AsRef<std::path::Path>,
        config: Config,
    ) -> Result<Client, Error> {
        let stream = tokio::net::UnixStream::connect(path).await?;
        Ok(Client::handshake(stream, config))
    }

    /// Connects over TLS, requiring ALPN "h2" (RFC 9113 §3.2). `tls` is used as given
    /// except that its ALPN list is set to "h2".
    pub async fn connect_tls(
        addr: impl ToSocketAddrs,
        server_name: rustls_pki_types::ServerName<'static>,
        tls: Arc<rustls::ClientConfig>,
        config: Config,
    ) -> Result<Client, Error> {
        let tcp = TcpStream::connect(addr).await?;
        tcp.set_nodelay(true)?;
        let stream = tls::connect(tcp, server_name, tls).await?;
        Ok(Client::handshake(stream, config))
    }

    /// Opens a stream with request headers (`:method`, `:scheme`, `:path` and usually
    /// `:authority` first). Returns at once: if the server's MAX_CONCURRENT_STREAMS is
    /// reached, the request waits inside the connection for a free slot. With
    /// `end_stream` the request has no body.
    pub fn send_request(
        &self,
        headers: Vec<HeaderField>,
        end_stream: bool,
    ) -> Result<(SendStream, RecvStream), Error> {
        if let Some(error) = self.closed_error() {
            return Err(error);
        }
        let shared = StreamShared::new();
        let (recv_tx, recv_rx) = mpsc::unbounded_channel();
        self.connection
            .commands
            .send(Command::Open {
                stream: shared.clone(),
                recv: recv_tx,
                fields: headers,
                end_stream,
            })
            .map_err(|_| self.closed_error().unwrap_or(Error::ConnectionClosed))?;
        let send = SendStream {
            shared: shared.clone(),
            commands: self.connection.commands.clone(),
            buffer_limit: self.buffer_limit,
            finished: end_stream,
        };
        let recv = RecvStream::new(shared, self.connection.commands.clone(), recv_rx);
        Ok((send, recv))
    }

    /// Sends a PING and waits for its acknowledgement.
    pub async fn ping(&self, payload: [u8; 8]) -> Result<(), Error> {
        let (reply, done) = oneshot::channel();
        self.connection
            .commands
            .send(Command::Ping { payload, reply })
            .map_err(|_| Error::ConnectionClosed)?;
        done.await
            .map_err(|_| self.closed_error().unwrap_or(Error::ConnectionClosed))
    }

    /// A snapshot of the connection's state (windows, streams, peer settings).
    pub async fn stats(&self) -> Result<ConnectionStats, Error> {
        self.connection.stats().await
    }

    /// Starts a graceful shutdown: GOAWAY, no new streams, close once open streams end.
    pub fn shutdown(&self) {
        self.connection.shutdown();
    }

    /// Whether the connection is closed.
    pub fn is_closed(&self) -> bool {
        self.connection.is_closed()
    }

    /// Waits until the connection is closed; returns its error, if it ended with one.
    pub async fn closed(&self) -> Option<Error> {
        loop {
            let notified = self.connection.shared.closed_notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.is_closed() {
                return self.connection.shared.error();
            }
            notified.await;
        }
    }

    fn closed_error(&self) -> Option<Error> {
        self.is_closed().then(|| {
            self.connection
                .shared
                .error()
                .unwrap_or(Error::ConnectionClosed)
        })
    }
}
