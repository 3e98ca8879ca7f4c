//! Subchannels: one connection to one address each, with its connectivity state, lazy
//! connect and reconnection with backoff. The channel's load-balancing policy creates them
//! and decides when they connect (`grpc-balancer-api`'s [`Subchannel`] is the policy's
//! handle to a [`SubchannelCore`]).
//!
//! ```text
//!          connect()            succeeds
//!   Idle ───────────▶ Connecting ───────▶ Ready
//!    ▲                 │  ▲  fails         │
//!    │                 ▼  │ backoff over   │
//!    │         TransientFailure            │
//!    └─────────────────────────────────────┘
//!      the connection closed, or refused streams after GOAWAY
//! ```
//!
//! As in gRPC-Go's addrConn, a failed attempt reports TRANSIENT_FAILURE and the next one
//! starts by itself when the backoff ([`crate::ConnectBackoff`], gRPC's
//! `connection-backoff.md`) is over; each attempt is bounded by `max(backoff, connect
//! timeout)`. A success resets the backoff. A lost connection goes to IDLE and stays there
//! until the policy asks again: the policy decides whether to reconnect (round_robin) or to
//! wait for the next call (pick_first).
//!
//! Every state change is sent to the channel's work queue, which hands it to the policy.
//! Calls read the ready connection through an atomically swapped pointer: no lock.
//!
//! Ready means the transport is up (TCP connected, TLS handshake done, HTTP/2 preface and
//! SETTINGS sent). The transport does not report when the server's SETTINGS arrive, so a
//! peer that accepts connections but does not speak HTTP/2 shows up as failing calls
//! (UNAVAILABLE), not as a failed connection attempt.

use std::any::Any;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::Duration;

use arc_swap::ArcSwapOption;
use bytes::Bytes;
use grpc_balancer_api::{ConnectivityState, SubchannelHandle, SubchannelState};
use grpc_core::{BoxFuture, Status};
use grpc_resolver_api::{Addr, Address};
use grpc_transport::connection::Config;
use grpc_transport::driver::Client;
use grpc_transport::hpack::HeaderField;
use rustls::pki_types::ServerName;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::backoff::{BackoffState, ConnectBackoff};
use crate::balancer::{ActiveCall, WorkSender};

/// TLS settings of a channel's connections.
#[derive(Clone, Debug)]
pub(crate) struct TlsConnect {
    pub(crate) config: Arc<rustls::ClientConfig>,
    pub(crate) server_name: ServerName<'static>,
}

/// Makes one connection to an address (tests replace the real one to count attempts).
pub(crate) type Dialer =
    Arc<dyn Fn(Addr) -> BoxFuture<'static, Result<Client, Status>> + Send + Sync>;

/// How every subchannel of a channel connects.
pub(crate) struct ConnectSettings {
    pub(crate) tls: Option<TlsConnect>,
    pub(crate) transport: Config,
    /// gRPC's MIN_CONNECT_TIMEOUT: every attempt gets at least this long.
    pub(crate) connect_timeout: Duration,
    pub(crate) backoff: ConnectBackoff,
    /// Replaces the real connector (tests).
    pub(crate) dialer: Option<Dialer>,
    /// `:scheme`, `:authority` and `user-agent` of the channel's calls (for the health
    /// checks a subchannel makes itself).
    pub(crate) scheme: Bytes,
    pub(crate) authority: Bytes,
    pub(crate) user_agent: Bytes,
    /// Whether service configs may turn on client-side health checks (gRFC A17).
    pub(crate) health_checks: bool,
}

impl ConnectSettings {
    /// The headers of a health-check Watch call on one of this channel's connections.
    pub(crate) fn health_request_headers(&self) -> Vec<HeaderField> {
        crate::health_check::watch_headers(&self.scheme, &self.authority, &self.user_agent)
    }

    /// One attempt, without a timeout.
    async fn connect(&self, addr: &Addr) -> Result<Client, Status> {
        if let Some(dialer) = &self.dialer {
            return dialer(addr.clone()).await;
        }
        let config = self.transport.clone();
        let result = match (addr, &self.tls) {
            (Addr::Tcp(socket), None) => Client::connect_tcp(*socket, config).await,
            (Addr::Name { host, port }, None) => {
                Client::connect_tcp((host.as_str(), *port), config).await
            }
            (Addr::Tcp(socket), Some(tls)) => {
                Client::connect_tls(*socket, tls.server_name.clone(), tls.config.clone(), config)
                    .await
            }
            (Addr::Name { host, port }, Some(tls)) => {
                Client::connect_tls(
                    (host.as_str(), *port),
                    tls.server_name.clone(),
                    tls.config.clone(),
                    config,
                )
                .await
            }
            #[cfg(unix)]
            (Addr::Unix(path), None) => Client::connect_unix(path, config).await,
            #[cfg(target_os = "linux")]
            (Addr::UnixAbstract(name), None) => {
                // A leading NUL byte selects Linux's abstract socket namespace (unix(7)).
                use std::os::unix::ffi::OsStrExt;
                let mut path = Vec::with_capacity(name.len() + 1);
                path.push(0);
                path.extend_from_slice(name);
                Client::connect_unix(std::ffi::OsStr::from_bytes(&path), config).await
            }
            (Addr::Unix(_) | Addr::UnixAbstract(_), Some(_)) => {
                return Err(Status::unavailable(
                    "TLS over Unix sockets is not supported",
                ));
            }
            _ => {
                return Err(Status::unavailable(format!(
                    "cannot connect to {addr}: unsupported address type here"
                )));
            }
        };
        result.map_err(|e| Status::unavailable(format!("failed to connect to {addr}: {e}")))
    }
}

impl std::fmt::Debug for ConnectSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectSettings")
            .field("tls", &self.tls.is_some())
            .field("connect_timeout", &self.connect_timeout)
            .field("backoff", &self.backoff)
            .finish_non_exhaustive()
    }
}

/// The connection of a READY subchannel.
struct ReadyConnection {
    client: Client,
    generation: u64,
}

/// The mutable part of a subchannel, behind its lock (taken on state changes only).
struct Inner {
    /// The state reported to the policy.
    state: ConnectivityState,
    /// A connection is up (in `ready`); with health checks the state may still be
    /// CONNECTING or TRANSIENT_FAILURE while the backend is not SERVING.
    connected: bool,
    /// Bumped for every new connection, so a report about an old one is ignored.
    generation: u64,
    /// The connect loop, or the task watching the ready connection for its end.
    task: Option<JoinHandle<()>>,
}

/// A subchannel as the channel implements it. Lives while the policy (or a picker) holds a
/// handle; dropping the last one stops reconnecting and lets the connection close once its
/// calls finish.
pub(crate) struct SubchannelCore {
    me: Weak<SubchannelCore>,
    address: Address,
    settings: Arc<ConnectSettings>,
    /// The ready connection, read by every call without a lock.
    ready: ArcSwapOption<ReadyConnection>,
    inner: Mutex<Inner>,
    /// Where state changes go: the channel's work queue, tagged with the policy epoch.
    events: WorkSender,
    /// The service whose health gates READY (gRFC A17), if checks are on.
    health_service: Option<String>,
}

impl SubchannelCore {
    pub(crate) fn new(
        address: Address,
        settings: Arc<ConnectSettings>,
        events: WorkSender,
        health_service: Option<String>,
    ) -> Arc<SubchannelCore> {
        Arc::new_cyclic(|me| SubchannelCore {
            me: me.clone(),
            address,
            settings,
            ready: ArcSwapOption::empty(),
            inner: Mutex::new(Inner {
                state: ConnectivityState::Idle,
                connected: false,
                generation: 0,
                task: None,
            }),
            events,
            health_service,
        })
    }

    pub(crate) fn settings(&self) -> &Arc<ConnectSettings> {
        &self.settings
    }

    /// A health check's verdict on the connection of `generation` (see `health_check.rs`).
    pub(crate) fn health_update(&self, generation: u64, state: SubchannelState) {
        let mut inner = self.lock();
        if !inner.connected || inner.generation != generation {
            return;
        }
        if inner.state == state.state && state.state != ConnectivityState::TransientFailure {
            return;
        }
        self.set(&mut inner, state);
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Every update is a few assignments, so a poisoned lock still holds a consistent state.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Moves to `state` and reports it (under the lock, so reports keep their order).
    fn set(&self, inner: &mut Inner, state: SubchannelState) {
        inner.state = state.state;
        tracing::debug!(address = %self.address, state = %state.state, "subchannel state");
        self.events.subchannel_state(self.me.clone(), state);
    }

    /// The connection, if READY and still open. A connection found closed sends the
    /// subchannel to IDLE (the policy hears of it and publishes a new picker).
    pub(crate) fn ready_client(&self) -> Option<(Client, u64)> {
        let guard = self.ready.load();
        let ready = guard.as_ref()?;
        if ready.client.is_closed() {
            let generation = ready.generation;
            drop(guard);
            self.connection_lost(generation);
            return None;
        }
        Some((ready.client.clone(), ready.generation))
    }

    /// The connection of `generation` is gone or going away: back to IDLE.
    pub(crate) fn connection_lost(&self, generation: u64) {
        let mut inner = self.lock();
        if !inner.connected || inner.generation != generation {
            return;
        }
        inner.connected = false;
        self.ready.store(None);
        if let Some(task) = inner.task.take() {
            task.abort();
        }
        tracing::debug!(address = %self.address, "connection lost");
        self.set(&mut inner, SubchannelState::new(ConnectivityState::Idle));
    }

    /// Called by the connect loop with the outcome of an attempt. Returns whether to go on
    /// trying (after the backoff).
    fn attempt_done(&self, result: Result<Client, Status>) -> bool {
        let mut inner = self.lock();
        match result {
            Ok(client) => {
                inner.generation += 1;
                let generation = inner.generation;
                self.ready.store(Some(Arc::new(ReadyConnection {
                    client: client.clone(),
                    generation,
                })));
                tracing::debug!(address = %self.address, "connected");
                inner.connected = true;
                let me = self.me.clone();
                match &self.health_service {
                    // gRFC A17: READY only once the backend says SERVING; CONNECTING till then.
                    Some(service) => {
                        inner.task = Some(tokio::spawn(crate::health_check::run(
                            me,
                            client,
                            generation,
                            service.clone(),
                        )));
                    }
                    None => {
                        // Watch the connection so its end is noticed without waiting for a call.
                        inner.task = Some(tokio::spawn(async move {
                            client.closed().await;
                            if let Some(me) = me.upgrade() {
                                me.connection_lost(generation);
                            }
                        }));
                        self.set(&mut inner, SubchannelState::new(ConnectivityState::Ready));
                    }
                }
                false
            }
            Err(error) => {
                tracing::debug!(address = %self.address, %error, "connection attempt failed");
                self.set(&mut inner, SubchannelState::failure(error));
                true
            }
        }
    }

    /// The backoff is over: the next attempt starts.
    fn retrying(&self) {
        let mut inner = self.lock();
        if inner.state == ConnectivityState::TransientFailure {
            self.set(
                &mut inner,
                SubchannelState::new(ConnectivityState::Connecting),
            );
        }
    }
}

impl SubchannelHandle for SubchannelCore {
    fn address(&self) -> &Address {
        &self.address
    }

    fn connect(&self) {
        let mut inner = self.lock();
        if inner.state != ConnectivityState::Idle {
            return;
        }
        self.set(
            &mut inner,
            SubchannelState::new(ConnectivityState::Connecting),
        );
        inner.task = Some(tokio::spawn(connect_loop(self.me.clone())));
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

impl Drop for SubchannelCore {
    fn drop(&mut self) {
        let inner = self.inner.get_mut().unwrap_or_else(PoisonError::into_inner);
        if let Some(task) = inner.task.take() {
            task.abort();
        }
    }
}

impl std::fmt::Debug for SubchannelCore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SubchannelCore")
            .field("address", &self.address)
            .finish_non_exhaustive()
    }
}

/// Connects, retrying with backoff until an attempt succeeds or the subchannel is dropped.
async fn connect_loop(subchannel: Weak<SubchannelCore>) {
    let Some(settings) = subchannel.upgrade().map(|s| s.settings.clone()) else {
        return;
    };
    let Some(addr) = subchannel.upgrade().map(|s| s.address.addr.clone()) else {
        return;
    };
    let mut backoff = BackoffState::new(settings.backoff);
    let mut wait = backoff.first();
    loop {
        let next_attempt = Instant::now() + wait;
        let attempt_timeout = wait.max(settings.connect_timeout);
        let result = match tokio::time::timeout(attempt_timeout, settings.connect(&addr)).await {
            Ok(result) => result,
            Err(_) => Err(Status::unavailable(format!(
                "timed out connecting to {addr} after {attempt_timeout:?}"
            ))),
        };
        let Some(strong) = subchannel.upgrade() else {
            return;
        };
        if !strong.attempt_done(result) {
            return;
        }
        drop(strong);
        tokio::time::sleep_until(next_attempt).await;
        match subchannel.upgrade() {
            Some(strong) => strong.retrying(),
            None => return,
        }
        wait = backoff.next();
    }
}

/// What a call holds while it uses a connection: lets it report that the connection
/// refused new streams (GOAWAY), so the next call gets another, and counts it as active
/// for the channel's idleness. Cloned into a call's request sink and response reader.
#[derive(Clone, Debug, Default)]
pub(crate) struct ConnectionLease {
    subchannel: Weak<SubchannelCore>,
    generation: u64,
    _active: Option<Arc<ActiveCall>>,
}

impl ConnectionLease {
    pub(crate) fn new(
        subchannel: &SubchannelCore,
        generation: u64,
        active: Arc<ActiveCall>,
    ) -> ConnectionLease {
        ConnectionLease {
            subchannel: subchannel.me.clone(),
            generation,
            _active: Some(active),
        }
    }

    /// The connection is going away (or gone): forget it, so the next call reconnects.
    pub(crate) fn connection_unusable(&self) {
        if let Some(subchannel) = self.subchannel.upgrade() {
            subchannel.connection_lost(self.generation);
        }
    }
}
