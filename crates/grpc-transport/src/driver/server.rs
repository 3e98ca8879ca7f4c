//! The server side: serve one accepted transport, and take requests from [`Incoming`] (a
//! queue the caller reads) or hand them to a function as they arrive ([`ServerConnection`]).

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::mpsc;

use super::error::Error;
use super::task::{
    self, Acceptor, ConnectionHandle, ConnectionStats, ConnectionTask, IncomingRequest,
};
use crate::connection::{Config, Role};

/// The requests arriving on one server connection.
#[derive(Debug)]
pub struct Incoming {
    requests: mpsc::UnboundedReceiver<IncomingRequest>,
    connection: ConnectionHandle,
}

impl Incoming {
    /// Starts serving HTTP/2 on an accepted transport and returns the request queue and the
    /// task to run. [`Incoming::serve`] spawns the task for you.
    pub fn with_task<T>(io: T, mut config: Config) -> (Incoming, ConnectionTask<T>)
    where
        T: AsyncRead + AsyncWrite + Unpin,
    {
        config.role = Role::Server;
        let (accept_tx, requests) = mpsc::unbounded_channel();
        let (connection, task) =
            ConnectionTask::start(io, config, Some(Acceptor::Queue(accept_tx)));
        (
            Incoming {
                requests,
                connection,
            },
            task,
        )
    }

    /// Starts serving HTTP/2 on `io` (prior knowledge: the client sends the preface first)
    /// and spawns the connection task on the current tokio runtime.
    pub fn serve<T>(io: T, config: Config) -> Incoming
    where
        T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let (incoming, task) = Incoming::with_task(io, config);
        task::spawn(task);
        incoming
    }

    /// The next request, or `None` once the connection is closed.
    pub async fn accept(&mut self) -> Option<IncomingRequest> {
        self.requests.recv().await
    }

    /// A snapshot of the connection's state (windows, streams, peer settings).
    pub async fn stats(&self) -> Result<ConnectionStats, Error> {
        self.connection.stats().await
    }

    /// Starts a graceful shutdown (two GOAWAYs with a PING between them; open streams
    /// finish, then the connection closes).
    pub fn shutdown(&self) {
        self.connection.shutdown();
    }

    /// Whether the connection is closed.
    pub fn is_closed(&self) -> bool {
        self.connection.is_closed()
    }
}

/// A server connection that hands each request to a function the moment the connection task
/// decodes its headers, with no queue between them: a gRPC server spawns each call from
/// there. Compared with [`Incoming`], there is no request queue to allocate per connection
/// and no task to wake per request.
#[derive(Debug)]
pub struct ServerConnection {
    connection: ConnectionHandle,
}

impl ServerConnection {
    /// Starts serving HTTP/2 on an accepted transport (prior knowledge: the client sends the
    /// preface first). `on_request` runs inside the connection task for every request the
    /// peer opens, so it must return quickly: spawn the work, never block or wait in it.
    /// Run the returned task (spawn it, or await it where the connection is owned); dropping
    /// it closes the connection and fails every open stream.
    pub fn with_handler<T, F>(
        io: T,
        mut config: Config,
        on_request: F,
    ) -> (ServerConnection, ConnectionTask<T>)
    where
        T: AsyncRead + AsyncWrite + Unpin,
        F: FnMut(IncomingRequest) + Send + 'static,
    {
        config.role = Role::Server;
        let acceptor = Acceptor::Handler(Box::new(on_request));
        let (connection, task) = ConnectionTask::start(io, config, Some(acceptor));
        (ServerConnection { connection }, task)
    }

    /// A snapshot of the connection's state (windows, streams, peer settings).
    pub async fn stats(&self) -> Result<ConnectionStats, Error> {
        self.connection.stats().await
    }

    /// Starts a graceful shutdown (two GOAWAYs with a PING between them; open streams
    /// finish, then the connection closes).
    pub fn shutdown(&self) {
        self.connection.shutdown();
    }

    /// Whether the connection is closed.
    pub fn is_closed(&self) -> bool {
        self.connection.is_closed()
    }
}
