//! The client side of [`grpc_core::stats`]: a call's [`CallStats`] reports to the
//! channel's stats handler (if any).
//!
//! Headers and messages are reported as they go out and come in (per attempt, for retried
//! calls); the end is reported once, with the call's final status: by the call future for
//! unary calls and for failures before a response stream exists, and by the response
//! stream ([`crate::Streaming`]) when it ends or is dropped.

use std::sync::Arc;

pub(crate) use grpc_core::stats::CallStats;
use grpc_core::stats::{CallKind, CallStart, Side, StatsHandler};

/// Starts a client call's statistics.
pub(crate) fn start(
    handler: Option<&Arc<dyn StatsHandler>>,
    path: &str,
    kind: CallKind,
) -> CallStats {
    if handler.is_none() {
        return CallStats::default();
    }
    CallStats::start(
        handler,
        &CallStart {
            side: Side::Client,
            path,
            kind,
            peer: None,
        },
    )
}
