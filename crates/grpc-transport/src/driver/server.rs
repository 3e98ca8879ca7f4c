//! The server side: serve one accepted transport, and take requests from [`Incoming`].

use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::mpsc;

use super::error::Error;
use super::stream::Command;
use super::task::ConnectionStats;
use super::task::{ConnectionShared, ConnectionTask, IncomingRequest};
use crate::connection::{Config, Connection, Role};

/// The requests arriving on one server connection.
#[derive(Debug)]
pub struct Incoming {
    requests: mpsc::UnboundedReceiver<IncomingRequest>,
    commands: mpsc::UnboundedSender<Command>,
    shared: Arc<ConnectionShared>,
}

impl Incoming {
    /// Starts serving HTTP/2 on an accepted transport and returns the request queue and the
    /// task to run. [`Incoming::serve`] spawns the task for you.
    pub fn with_task<T>(io: T, mut config: Config) -> (Incoming, ConnectionTask<T>)
    where
        T: AsyncRead + AsyncWrite + Unpin,
    {
        config.role = Role::Server;
        let conn = Connection::new(config, tokio::time::Instant::now().into_std());
        let (tx, rx) = mpsc::unbounded_channel();
        let (accept_tx, accept_rx) = mpsc::unbounded_channel();
        let shared = Arc::new(ConnectionShared::default());
        let task = ConnectionTask::new(
            io,
            conn,
            rx,
            Some(tx.clone()),
            Some(accept_tx),
            shared.clone(),
        );
        (
            Incoming {
                requests: accept_rx,
                commands: tx,
                shared,
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
        tokio::spawn(async move {
            if let Err(error) = task.await {
                tracing::debug!(%error, "server connection ended with an error");
            }
        });
        incoming
    }

    /// The next request, or `None` once the connection is closed.
    pub async fn accept(&mut self) -> Option<IncomingRequest> {
        self.requests.recv().await
    }

    /// A snapshot of the connection's state (windows, streams, peer settings).
    pub async fn stats(&self) -> Result<ConnectionStats, Error> {
        let (reply, stats) = tokio::sync::oneshot::channel();
        self.commands
            .send(Command::Stats { reply })
            .map_err(|_| Error::ConnectionClosed)?;
        stats.await.map_err(|_| Error::ConnectionClosed)
    }

    /// Starts a graceful shutdown (two GOAWAYs with a PING between them; open streams
    /// finish, then the connection closes).
    pub fn shutdown(&self) {
        let _ = self.commands.send(Command::Shutdown);
    }

    /// Whether the connection is closed.
    pub fn is_closed(&self) -> bool {
        self.shared
            .closed
            .load(std::sync::atomic::Ordering::Acquire)
    }
}
