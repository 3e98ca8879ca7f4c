//! Per-call statistics: the [`StatsHandler`] a client channel or a server calls with every
//! event of every call (gRPC-Go's `stats.Handler`), for metrics, logs and tracing glue.
//!
//! A handler sees a call start ([`StatsHandler::call_started`]) and may return a
//! [`CallObserver`] for it, which then gets the call's [`CallEvent`]s in order, ending with
//! [`CallEvent::End`]. Without a handler the call paths pay one branch per event; with one,
//! one allocation per observed call plus what the observer does.
//!
//! ```
//! use std::sync::atomic::{AtomicU64, Ordering};
//! use grpc_core::stats::{CallEvent, CallObserver, CallStart, StatsHandler};
//!
//! /// Counts the octets of every request message the server receives.
//! #[derive(Default)]
//! struct BytesIn(std::sync::Arc<AtomicU64>);
//!
//! struct Count(std::sync::Arc<AtomicU64>);
//!
//! impl StatsHandler for BytesIn {
//!     fn call_started(&self, _call: &CallStart<'_>) -> Option<Box<dyn CallObserver>> {
//!         Some(Box::new(Count(self.0.clone())))
//!     }
//! }
//!
//! impl CallObserver for Count {
//!     fn event(&mut self, event: &CallEvent<'_>) {
//!         if let CallEvent::MessageIn { size, .. } = event {
//!             self.0.fetch_add(*size as u64, Ordering::Relaxed);
//!         }
//!     }
//! }
//! ```

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::{Metadata, Status};

/// Which end of a call a handler observes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Side {
    /// A client channel's call.
    Client,
    /// A server's call.
    Server,
}

/// The kind of a call, as far as the side observing it knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CallKind {
    /// One request, one response.
    Unary,
    /// One request, a stream of responses.
    ServerStreaming,
    /// A stream of requests, one response.
    ClientStreaming,
    /// Streams both ways.
    BidiStreaming,
    /// Not known (a server call for a method it does not have).
    Unknown,
}

/// What is known when a call starts.
#[derive(Clone, Copy, Debug)]
pub struct CallStart<'a> {
    /// Client or server.
    pub side: Side,
    /// The method, `/package.Service/Method`.
    pub path: &'a str,
    /// The kind of call.
    pub kind: CallKind,
    /// The peer's address, when known (servers: the client's socket address).
    pub peer: Option<&'a str>,
}

impl CallStart<'_> {
    /// The service part of the path (`package.Service`), or `""` if malformed.
    pub fn service(&self) -> &str {
        crate::headers::split_path(self.path).map_or("", |(service, _)| service)
    }

    /// The method part of the path (`Method`), or `""` if malformed.
    pub fn method(&self) -> &str {
        crate::headers::split_path(self.path).map_or("", |(_, method)| method)
    }
}

/// One event of an observed call.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub enum CallEvent<'a> {
    /// This side sent its headers (client: the request headers; server: the response
    /// headers), with their custom metadata.
    HeadersOut {
        /// Custom metadata sent.
        metadata: &'a Metadata,
    },
    /// This side received the peer's headers.
    HeadersIn {
        /// Custom metadata received.
        metadata: &'a Metadata,
    },
    /// This side sent a message.
    MessageOut {
        /// The serialized message, before compression.
        size: usize,
        /// On the wire: after compression, with the 5-octet prefix.
        wire_size: usize,
    },
    /// This side received a message.
    MessageIn {
        /// The serialized message, after decompression.
        size: usize,
    },
    /// Trailers went out (server) or came in (client), with their custom metadata.
    Trailers {
        /// Custom metadata of the trailers.
        metadata: &'a Metadata,
    },
    /// The call is over: its status and how long it took from the start.
    End {
        /// The final status (OK included; CANCELLED for a call dropped early).
        status: &'a Status,
        /// From the call's start to its end.
        duration: Duration,
    },
}

/// Receives the events of every call of a channel or server (set with
/// `ChannelBuilder::stats_handler` / `ServerBuilder::stats_handler`).
pub trait StatsHandler: Send + Sync + 'static {
    /// A call started. Return an observer to receive its events, or `None` to ignore it.
    /// Runs on the call's path: keep it quick.
    fn call_started(&self, call: &CallStart<'_>) -> Option<Box<dyn CallObserver>>;
}

/// The events of one call, in order, ending with [`CallEvent::End`] (exactly once).
pub trait CallObserver: Send + 'static {
    /// One event. Runs on the call's path: keep it quick and never block.
    fn event(&mut self, event: &CallEvent<'_>);
}

/// One call's statistics as a client or server reports them: nothing (no handler, or the
/// handler ignores the call) or the handler's observer. Cheap to clone (the halves of a
/// streaming call share it); [`end`](CallStats::end) reports once, later events are
/// dropped. For implementations of call paths; handlers never see it.
#[derive(Clone, Default)]
pub struct CallStats(Option<Arc<Observed>>);

struct Observed {
    observer: Mutex<Box<dyn CallObserver>>,
    started: Instant,
    ended: AtomicBool,
}

impl CallStats {
    /// Starts observing a call, if there is a handler and it wants the call.
    pub fn start(handler: Option<&Arc<dyn StatsHandler>>, call: &CallStart<'_>) -> CallStats {
        let Some(handler) = handler else {
            return CallStats(None);
        };
        CallStats(handler.call_started(call).map(|observer| {
            Arc::new(Observed {
                observer: Mutex::new(observer),
                started: Instant::now(),
                ended: AtomicBool::new(false),
            })
        }))
    }

    /// Whether anything listens.
    pub fn is_on(&self) -> bool {
        self.0.is_some()
    }

    /// Reports one event (nothing after the end).
    pub fn event(&self, event: &CallEvent<'_>) {
        if let Some(observed) = &self.0 {
            if !observed.ended.load(Ordering::Acquire) {
                observed
                    .observer
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .event(event);
            }
        }
    }

    /// Reports the end of the call with `status`, once; later calls do nothing.
    pub fn end(&self, status: &Status) {
        if let Some(observed) = &self.0 {
            if !observed.ended.swap(true, Ordering::AcqRel) {
                let duration = observed.started.elapsed();
                observed
                    .observer
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .event(&CallEvent::End { status, duration });
            }
        }
    }
}

impl std::fmt::Debug for CallStats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("CallStats").field(&self.is_on()).finish()
    }
}
