//! The channel's one connection (a "subchannel" in gRPC terms): connectivity state, lazy
//! connect, reconnect with backoff.
//!
//! ```text
//!          a call, connect()          succeeds
//!   Idle ─────────────────▶ Connecting ───────▶ Ready
//!    ▲                          │ fails           ▲ │
//!    │                          ▼     succeeds    │ │
//!    │                  TransientFailure ─────────┘ │
//!    │                    │     ▲                   │
//!    │                    └─────┘ retry after       │
//!    │                      the backoff fails       │
//!    └──────────────────────────────────────────────┘
//!       the connection closed, or refused a stream after GOAWAY
//! ```
//!
//! The state follows gRPC-Go's addrConn and pick_first: a channel connects on its first call
//! and not before ([`crate::ChannelBuilder::connect_lazy`]); a lost connection sends it back
//! to Idle, so the next call reconnects at once; a failed attempt puts it in TransientFailure,
//! where a background task keeps retrying with [`crate::ConnectBackoff`] (each attempt
//! bounded by `max(backoff, connect_timeout)`) until it succeeds or the channel is dropped.
//! In TransientFailure, calls fail fast with UNAVAILABLE unless they are wait-for-ready.
//!
//! Ready means the transport is up (TCP connected, TLS handshake done, HTTP/2 preface and
//! SETTINGS sent). The transport does not report when the server's SETTINGS arrive, so a
//! peer that accepts connections but does not speak HTTP/2 shows up as failing calls
//! (UNAVAILABLE), not as a failed connection attempt.
//!
//! The current transport handle sits behind a short `std::sync::Mutex`, taken once per call
//! to clone it. The load-balancing issue replaces this with an atomically swapped picker.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use grpc_core::Status;
use grpc_transport::connection::Config;
use grpc_transport::driver::Client;
use rustls::pki_types::ServerName;
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::backoff::{BackoffState, ConnectBackoff};
use crate::target::Address;

/// The connectivity state of a channel (gRPC's `connectivity-semantics-and-api.md`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ConnectivityState {
    /// Not connected and not trying; the next call connects.
    Idle,
    /// The first connection attempt is in progress.
    Connecting,
    /// Connected: calls go out at once.
    Ready,
    /// The last attempt failed; another follows after the backoff. Calls that are not
    /// wait-for-ready fail with UNAVAILABLE.
    TransientFailure,
}

/// TLS settings of a connector.
#[derive(Clone, Debug)]
pub(crate) struct TlsConnect {
    pub(crate) config: Arc<rustls::ClientConfig>,
    pub(crate) server_name: ServerName<'static>,
}

/// Everything needed to make one connection attempt.
#[derive(Debug)]
pub(crate) struct Connector {
    pub(crate) address: Address,
    pub(crate) tls: Option<TlsConnect>,
    pub(crate) transport: Config,
    /// gRPC's MIN_CONNECT_TIMEOUT: every attempt gets at least this long.
    pub(crate) connect_timeout: Duration,
    pub(crate) backoff: ConnectBackoff,
}

impl Connector {
    /// One attempt, without a timeout.
    async fn connect(&self) -> Result<Client, Status> {
        let config = self.transport.clone();
        let result = match (&self.address, &self.tls) {
            (Address::Tcp { host, port }, None) => {
                Client::connect_tcp((host.as_str(), *port), config).await
            }
            (Address::Tcp { host, port }, Some(tls)) => {
                Client::connect_tls(
                    (host.as_str(), *port),
                    tls.server_name.clone(),
                    tls.config.clone(),
                    config,
                )
                .await
            }
            #[cfg(unix)]
            (Address::Unix(path), None) => Client::connect_unix(path, config).await,
            #[cfg(unix)]
            (Address::Unix(_), Some(_)) => {
                return Err(Status::unavailable(
                    "TLS over Unix sockets is not supported",
                ));
            }
            #[cfg(not(unix))]
            (Address::Unix(_), _) => {
                return Err(Status::unavailable("Unix sockets are not supported here"));
            }
        };
        result
            .map_err(|e| Status::unavailable(format!("failed to connect to {}: {e}", self.address)))
    }
}

/// The connection state, behind the mutex.
enum State {
    Idle,
    Connecting,
    Ready { client: Client, generation: u64 },
    TransientFailure { error: Status },
}

impl State {
    fn connectivity(&self) -> ConnectivityState {
        match self {
            State::Idle => ConnectivityState::Idle,
            State::Connecting => ConnectivityState::Connecting,
            State::Ready { .. } => ConnectivityState::Ready,
            State::TransientFailure { .. } => ConnectivityState::TransientFailure,
        }
    }
}

struct Guarded {
    state: State,
    /// Bumped for every new connection, so a report about an old one is ignored.
    generation: u64,
    /// Tasks polling for readiness (the tower `poll_ready`), woken on every state change.
    wakers: Vec<Waker>,
}

struct Shared {
    connector: Arc<Connector>,
    guarded: Mutex<Guarded>,
    /// Notified on every state change (waiters enable their `Notified` before looking).
    changed: Notify,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Guarded> {
        // The guarded data stays consistent even if a holder panicked (every update is one
        // assignment), so a poisoned lock is used as it is.
        self.guarded.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn set(&self, mut guarded: MutexGuard<'_, Guarded>, state: State) {
        guarded.state = state;
        let wakers = std::mem::take(&mut guarded.wakers);
        drop(guarded);
        self.changed.notify_waiters();
        for waker in wakers {
            waker.wake();
        }
    }
}

/// A transport picked for one call, and how to report that it is going away.
#[derive(Debug)]
pub(crate) struct Picked {
    pub(crate) client: Client,
    pub(crate) lease: ConnectionLease,
}

/// Lets a call report that its connection refused new streams (GOAWAY), so the next call
/// gets a new one. The transport reports a GOAWAY only to streams it refuses.
#[derive(Clone, Debug, Default)]
pub(crate) struct ConnectionLease {
    shared: Weak<Shared>,
    generation: u64,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subchannel")
            .field("address", &self.connector.address)
            .finish_non_exhaustive()
    }
}

impl ConnectionLease {
    /// The connection is going away (or gone): forget it, so the next call reconnects.
    pub(crate) fn connection_unusable(&self) {
        let Some(shared) = self.shared.upgrade() else {
            return;
        };
        let guarded = shared.lock();
        if matches!(guarded.state, State::Ready { .. }) && guarded.generation == self.generation {
            tracing::debug!(address = %shared.connector.address, "connection going away");
            shared.set(guarded, State::Idle);
        }
    }
}

/// The channel's connection manager. Cheap to clone.
#[derive(Clone, Debug)]
pub(crate) struct Subchannel {
    shared: Arc<Shared>,
}

impl Subchannel {
    pub(crate) fn new(connector: Connector) -> Subchannel {
        Subchannel {
            shared: Arc::new(Shared {
                connector: Arc::new(connector),
                guarded: Mutex::new(Guarded {
                    state: State::Idle,
                    generation: 0,
                    wakers: Vec::new(),
                }),
                changed: Notify::new(),
            }),
        }
    }

    /// The current state. Notices a connection that closed (back to Idle) but does not
    /// start connecting.
    pub(crate) fn state(&self) -> ConnectivityState {
        let guarded = self.shared.lock();
        if let State::Ready { client, .. } = &guarded.state {
            if client.is_closed() {
                self.shared.set(guarded, State::Idle);
                return ConnectivityState::Idle;
            }
        }
        guarded.state.connectivity()
    }

    /// Returns a usable transport, connecting if the channel is idle. In transient failure
    /// it fails with the last connection error (UNAVAILABLE) unless `wait_for_ready`, in which
    /// case it waits for the next successful attempt. The caller bounds the wait (deadline).
    pub(crate) async fn pick(&self, wait_for_ready: bool) -> Result<Picked, Status> {
        // Fast path (a connected channel): one short lock, no waiter registered.
        if let Some(picked) = self.try_pick(wait_for_ready) {
            return picked;
        }
        loop {
            let notified = self.shared.changed.notified();
            let mut notified = std::pin::pin!(notified);
            notified.as_mut().enable();
            if let Some(picked) = self.try_pick(wait_for_ready) {
                return picked;
            }
            notified.await;
        }
    }

    /// The pick's answer if there is one now; `None` means wait for a state change.
    fn try_pick(&self, wait_for_ready: bool) -> Option<Result<Picked, Status>> {
        let mut guarded = self.shared.lock();
        self.refresh(&mut guarded);
        match &guarded.state {
            State::Ready { client, generation } => Some(Ok(Picked {
                client: client.clone(),
                lease: ConnectionLease {
                    shared: Arc::downgrade(&self.shared),
                    generation: *generation,
                },
            })),
            State::TransientFailure { error } if !wait_for_ready => Some(Err(error.clone())),
            _ => None,
        }
    }

    /// Readiness for tower: ready when connected, an error in transient failure (calls would
    /// fail fast), pending while connecting (starting a connection if idle).
    pub(crate) fn poll_ready(&self, cx: &mut Context<'_>) -> Poll<Result<(), Status>> {
        let mut guarded = self.shared.lock();
        self.refresh(&mut guarded);
        match &guarded.state {
            State::Ready { .. } => Poll::Ready(Ok(())),
            State::TransientFailure { error } => Poll::Ready(Err(error.clone())),
            State::Idle | State::Connecting => {
                if !guarded.wakers.iter().any(|w| w.will_wake(cx.waker())) {
                    guarded.wakers.push(cx.waker().clone());
                }
                Poll::Pending
            }
        }
    }

    /// Notices a closed connection (back to Idle) and starts connecting when Idle.
    fn refresh(&self, guarded: &mut MutexGuard<'_, Guarded>) {
        if let State::Ready { client, .. } = &guarded.state {
            if !client.is_closed() {
                return;
            }
            tracing::debug!(address = %self.shared.connector.address, "connection closed");
            guarded.state = State::Idle;
        }
        if matches!(guarded.state, State::Idle) {
            guarded.state = State::Connecting;
            // Wake readiness waiters: Idle -> Connecting is a state change too.
            for waker in guarded.wakers.drain(..) {
                waker.wake();
            }
            self.shared.changed.notify_waiters();
            tokio::spawn(connect_loop(Arc::downgrade(&self.shared)));
        }
    }
}

/// Connects, retrying with backoff until an attempt succeeds or the channel is dropped.
async fn connect_loop(shared: Weak<Shared>) {
    let Some(connector) = shared.upgrade().map(|s| s.connector.clone()) else {
        return;
    };
    let mut backoff = BackoffState::new(connector.backoff);
    let mut wait = backoff.first();
    loop {
        let next_attempt = Instant::now() + wait;
        let attempt_timeout = wait.max(connector.connect_timeout);
        let result = match tokio::time::timeout(attempt_timeout, connector.connect()).await {
            Ok(result) => result,
            Err(_) => Err(Status::unavailable(format!(
                "timed out connecting to {} after {attempt_timeout:?}",
                connector.address
            ))),
        };
        // The channel is gone: drop the connection (if any) and stop.
        let Some(strong) = shared.upgrade() else {
            return;
        };
        let mut guarded = strong.lock();
        match result {
            Ok(client) => {
                guarded.generation += 1;
                let generation = guarded.generation;
                tracing::debug!(address = %connector.address, "connected");
                strong.set(guarded, State::Ready { client, generation });
                return;
            }
            Err(error) => {
                tracing::debug!(address = %connector.address, %error, "connection attempt failed");
                strong.set(guarded, State::TransientFailure { error });
            }
        }
        drop(strong);
        tokio::time::sleep_until(next_attempt).await;
        if shared.strong_count() == 0 {
            return;
        }
        wait = backoff.next();
    }
}
