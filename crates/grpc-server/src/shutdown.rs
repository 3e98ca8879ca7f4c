//! [`ServerHandle`]: stop a running server, gracefully or at once, and wait for it.

use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Mutex, PoisonError};
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

/// Something to run when a graceful shutdown starts
/// ([`ServerBuilder::on_graceful_shutdown`](crate::ServerBuilder::on_graceful_shutdown)).
type Hook = Box<dyn FnOnce() + Send>;

struct Inner {
    control: watch::Sender<Control>,
    done: watch::Sender<bool>,
    /// Run once, in the order added, by the first graceful shutdown.
    graceful_hooks: Mutex<Vec<Hook>>,
}

impl fmt::Debug for Inner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hooks = self.graceful_hooks.lock().map_or(0, |hooks| hooks.len());
        f.debug_struct("Inner")
            .field("control", &self.control)
            .field("done", &self.done)
            .field("graceful_hooks", &hooks)
            .finish()
    }
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
                graceful_hooks: Mutex::new(Vec::new()),
            }),
        }
    }

    /// Starts a graceful shutdown (gRPC-Go's `GracefulStop` with a bound): the server stops
    /// accepting connections, sends GOAWAY on every connection (so clients open no new
    /// calls on it; calls they open anyway are refused and safe to retry), and lets calls in
    /// flight finish. Whatever still runs `deadline` from now is stopped as by
    /// [`stop`](ServerHandle::stop). Returns at once; [`wait`](ServerHandle::wait) for the
    /// end. A second call can only bring the deadline forward.
    ///
    /// The server's [graceful-shutdown hooks](crate::ServerBuilder::on_graceful_shutdown)
    /// run first, on the calling thread, before any connection gets its GOAWAY.
    pub fn shutdown_graceful(&self, deadline: Duration) {
        let at = Instant::now().checked_add(deadline);
        self.begin_graceful(at);
    }

    pub(crate) fn begin_graceful(&self, at: Option<Instant>) {
        if *self.inner.control.borrow() == Control::Running {
            self.run_graceful_hooks();
        }
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

    /// Adds a hook for the first graceful shutdown.
    pub(crate) fn on_graceful_shutdown(&self, hook: Hook) {
        self.inner
            .graceful_hooks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(hook);
    }

    /// Runs (and forgets) the graceful-shutdown hooks. They are taken out under the lock and
    /// run outside it, so a hook may use this handle; each runs at most once. A hook that
    /// panics is logged and the shutdown goes on.
    fn run_graceful_hooks(&self) {
        let hooks = std::mem::take(
            &mut *self
                .inner
                .graceful_hooks
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        );
        for hook in hooks {
            if catch_unwind(AssertUnwindSafe(hook)).is_err() {
                tracing::warn!("a graceful-shutdown hook panicked");
            }
        }
    }

    pub(crate) fn subscribe(&self) -> watch::Receiver<Control> {
        self.inner.control.subscribe()
    }

    pub(crate) fn set_done(&self) {
        self.inner.done.send_replace(true);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    /// Records, for each run of a hook, the control state the server was in at that moment.
    fn recording_hook(handle: &ServerHandle, seen: &Arc<Mutex<Vec<Control>>>) -> Hook {
        let control = handle.subscribe();
        let seen = seen.clone();
        Box::new(move || {
            seen.lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(*control.borrow())
        })
    }

    #[test]
    fn graceful_hooks_run_once_in_order_before_the_control_changes()
    -> Result<(), Box<dyn std::error::Error>> {
        let handle = ServerHandle::new();
        let seen = Arc::new(Mutex::new(Vec::new()));
        handle.on_graceful_shutdown(recording_hook(&handle, &seen));
        let order = Arc::new(AtomicUsize::new(0));
        let second = order.clone();
        handle.on_graceful_shutdown(Box::new(move || {
            // Runs after the first hook.
            second.store(1, Ordering::SeqCst);
        }));
        handle.shutdown_graceful(Duration::from_secs(10));
        // The hook saw the server still running: connections had no GOAWAY yet.
        assert_eq!(*seen.lock().map_err(|e| e.to_string())?, [Control::Running]);
        assert_eq!(order.load(Ordering::SeqCst), 1);
        assert!(matches!(
            *handle.subscribe().borrow(),
            Control::Graceful(Some(_))
        ));
        // Another graceful call (or the serve signal) does not run them again.
        handle.shutdown_graceful(Duration::from_secs(1));
        handle.begin_graceful(None);
        assert_eq!(seen.lock().map_err(|e| e.to_string())?.len(), 1);
        Ok(())
    }

    #[test]
    fn stop_does_not_run_graceful_hooks() -> Result<(), Box<dyn std::error::Error>> {
        let handle = ServerHandle::new();
        let seen = Arc::new(Mutex::new(Vec::new()));
        handle.on_graceful_shutdown(recording_hook(&handle, &seen));
        handle.stop();
        handle.shutdown_graceful(Duration::from_secs(1));
        assert!(seen.lock().map_err(|e| e.to_string())?.is_empty());
        assert_eq!(*handle.subscribe().borrow(), Control::Stop);
        Ok(())
    }

    #[test]
    fn a_panicking_hook_does_not_stop_the_shutdown() -> Result<(), Box<dyn std::error::Error>> {
        let handle = ServerHandle::new();
        let seen = Arc::new(Mutex::new(Vec::new()));
        handle.on_graceful_shutdown(Box::new(|| panic!("hook failed")));
        handle.on_graceful_shutdown(recording_hook(&handle, &seen));
        handle.begin_graceful(None);
        assert_eq!(*seen.lock().map_err(|e| e.to_string())?, [Control::Running]);
        assert_eq!(*handle.subscribe().borrow(), Control::Graceful(None));
        Ok(())
    }
}
