//! The server side: serve one accepted transport, and take requests from [`Incoming`].

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::mpsc;

use super::error::Error;
use super::task::{self, ConnectionHandle, ConnectionStats, ConnectionTask, IncomingRequest};
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
        let (connection, task) = ConnectionTask::start(io, config, Some(accept_tx));
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
