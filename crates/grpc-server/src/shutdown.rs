//! [`ServerHandle`]: stop a running server, gracefully or at once, and wait for it.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

/// What the server should be doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Control {
    Running,
    /// Stop accepting, send GOAWAY on every connection, let calls finish; force the rest to
    /// stop at the deadline (`None`: wait as long as it takes).
    Graceful(Option<Instant>),
    /// Close everything now.
    Stop,
}

#[derive(Debug)]
struct Inner {
    control: watch::Sender<Control>,
    done: watch::Sender<bool>,
}

/// Controls a server: [graceful shutdown](ServerHandle::shutdown_graceful),
/// [immediate stop](ServerHandle::stop), and [waiting](ServerHandle::wait) for either to
/// complete. Cheap to clone; get one from
/// [`ServerBuilder::handle`](crate::ServerBuilder::handle) or
/// [`BoundServer::handle`](crate::BoundServer::handle).
///
/// ```no_run
/// # async fn run(builder: grpc_server::ServerBuilder) -> std::io::Result<()> {
/// use std::time::Duration;
///
/// let server = builder.bind("127.0.0.1:50051".parse().unwrap()).await?;
/// let handle = server.handle();
/// tokio::spawn(server.serve());
/// // ... later: let calls in flight finish for up to 30 s, then close what is left.
/// handle.shutdown_graceful(Duration::from_secs(30));
/// handle.wait().await;
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct ServerHandle {
    inner: Arc<Inner>,
}

impl Default for ServerHandle {
    fn default() -> Self {
        ServerHandle::new()
    }
}

impl ServerHandle {
    pub(crate) fn new() -> ServerHandle {
        ServerHandle {
            inner: Arc::new(Inner {
                control: watch::Sender::new(Control::Running),
                done: watch::Sender::new(false),
            }),
        }
    }

    /// Starts a graceful shutdown (gRPC-Go's `GracefulStop` with a bound): the server stops
    /// accepting connections, sends GOAWAY on every connection (so clients open no new
    /// calls on it; calls they open anyway are refused and safe to retry), and lets calls in
    /// flight finish. Whatever still runs `deadline` from now is stopped as by
    /// [`stop`](ServerHandle::stop). Returns at once; [`wait`](ServerHandle::wait) for the
    /// end. A second call can only bring the deadline forward.
    pub fn shutdown_graceful(&self, deadline: Duration) {
        let at = Instant::now().checked_add(deadline);
        self.begin_graceful(at);
    }

    pub(crate) fn begin_graceful(&self, at: Option<Instant>) {
        self.inner
            .control
            .send_if_modified(|control| match *control {
                Control::Running => {
                    *control = Control::Graceful(at);
                    true
                }
                Control::Graceful(previous) => {
                    let earlier = match (previous, at) {
                        (Some(p), Some(a)) => Some(p.min(a)),
                        (p, a) => p.or(a),
                    };
                    let changed = earlier != previous;
                    *control = Control::Graceful(earlier);
                    changed
                }
                Control::Stop => false,
            });
    }

    /// Stops the server now (gRPC-Go's `Stop`): closes the listener and every connection
    /// and drops every call's handler. Clients see their calls fail (UNAVAILABLE).
    pub fn stop(&self) {
        self.inner.control.send_if_modified(|control| {
            let changed = *control != Control::Stop;
            *control = Control::Stop;
            changed
        });
    }

    /// Waits until the server has stopped: its serve future ended, every connection is
    /// closed and every call's task is gone. Never resolves for a server that was not started.
    pub async fn wait(&self) {
        let mut done = self.inner.done.subscribe();
        let _ = done.wait_for(|done| *done).await;
    }

    /// Whether the server has stopped (see [`wait`](ServerHandle::wait)).
    pub fn is_stopped(&self) -> bool {
        *self.inner.done.borrow()
    }

    pub(crate) fn subscribe(&self) -> watch::Receiver<Control> {
        self.inner.control.subscribe()
    }

    pub(crate) fn set_done(&self) {
        self.inner.done.send_replace(true);
    }
}
