//! The client side of [`grpc_core::stats`]: one [`CallStats`] per call, shared by the call's
//! halves, reporting to the channel's [`StatsHandler`] (if any).
//!
//! Headers and messages are reported as they go out and come in (per attempt, for retried
//! calls); [`CallEvent::End`] is reported once, with the call's final status: by the call
//! future for unary calls and for failures before a response stream exists, and by the
//! response stream ([`crate::Streaming`]) when it ends or is dropped.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use grpc_core::Status;
use grpc_core::stats::{CallEvent, CallKind, CallObserver, CallStart, Side, StatsHandler};
use tokio::time::Instant;

/// The statistics of one call: nothing (no handler, or it ignores the call) or an observer.
#[derive(Clone, Default)]
pub(crate) struct CallStats(Option<Arc<Observed>>);

struct Observed {
    observer: Mutex<Box<dyn CallObserver>>,
    started: Instant,
    ended: AtomicBool,
}

impl CallStats {
    /// Starts observing a call if the channel has a handler that wants it.
    pub(crate) fn start(
        handler: Option<&Arc<dyn StatsHandler>>,
        path: &str,
        kind: CallKind,
    ) -> CallStats {
        let Some(handler) = handler else {
            return CallStats(None);
        };
        let start = CallStart {
            side: Side::Client,
            path,
            kind,
            peer: None,
        };
        CallStats(handler.call_started(&start).map(|observer| {
            Arc::new(Observed {
                observer: Mutex::new(observer),
                started: Instant::now(),
                ended: AtomicBool::new(false),
            })
        }))
    }

    /// Whether anything listens (skip computing an event's fields when not).
    pub(crate) fn is_on(&self) -> bool {
        self.0.is_some()
    }

    /// Reports one event (nothing after the end).
    pub(crate) fn event(&self, event: &CallEvent<'_>) {
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

    /// Reports the end of the call with `status`, once.
    pub(crate) fn end(&self, status: &Status) {
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
