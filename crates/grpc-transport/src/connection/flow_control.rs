//! Flow-control windows (RFC 9113 §5.2, §6.9).
//!
//! Two kinds, each used at both levels (connection and stream):
//!
//! - [`RecvWindow`]: what the peer may still send us. Data received shrinks it; credit we
//!   hand back (WINDOW_UPDATE) grows it. Credit is batched: a WINDOW_UPDATE goes out once a
//!   quarter of the window has been consumed, as gRPC-Go does, so a stream of small messages
//!   does not cost one WINDOW_UPDATE each.
//! - [`SendWindow`]: what we may still send. It can go negative when the peer lowers
//!   SETTINGS_INITIAL_WINDOW_SIZE (§6.9.2).

use crate::frame::MAX_WINDOW_SIZE;

/// The peer sent more than the window allowed, or a window grew past 2^31-1.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct FlowControlError;

/// Our receive window at one level.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RecvWindow {
    /// The window size we aim to keep open for the peer.
    target: u32,
    /// What the peer may still send: `target` minus data received and not yet credited
    /// back (and, briefly, more while a raised target is being announced).
    available: i64,
    /// Consumed bytes not yet credited back with a WINDOW_UPDATE.
    unannounced: u32,
}

impl RecvWindow {
    /// A window of `size`, all of it available to the peer.
    pub(crate) fn new(size: u32) -> RecvWindow {
        RecvWindow {
            target: size,
            available: i64::from(size),
            unannounced: 0,
        }
    }

    /// The peer sent `len` flow-controlled octets (§6.9.1: the whole DATA payload, padding
    /// included).
    pub(crate) fn on_data(&mut self, len: u32) -> Result<(), FlowControlError> {
        if i64::from(len) > self.available {
            return Err(FlowControlError);
        }
        self.available -= i64::from(len);
        Ok(())
    }

    /// `len` octets were consumed (read by the application, or dropped). Returns the
    /// increment to send now, if a quarter of the window is waiting to be credited.
    pub(crate) fn consume(&mut self, len: u32) -> Option<u32> {
        self.unannounced = self.unannounced.saturating_add(len);
        if self.unannounced >= (self.target / 4).max(1) {
            self.take_credit()
        } else {
            None
        }
    }

    /// Returns (and announces) all pending credit, however small.
    pub(crate) fn take_credit(&mut self) -> Option<u32> {
        let credit = self.unannounced;
        if credit == 0 {
            return None;
        }
        self.unannounced = 0;
        self.available += i64::from(credit);
        Some(credit)
    }

    /// Raises the target to `size`. Returns the increment that announces the difference
    /// (for the connection window; stream windows grow through SETTINGS instead, see
    /// [`RecvWindow::grow_by_settings`]).
    pub(crate) fn raise_target(&mut self, size: u32) -> Option<u32> {
        if size <= self.target {
            return None;
        }
        let delta = size - self.target;
        self.target = size;
        self.available += i64::from(delta);
        Some(delta)
    }

    /// Applies a change of SETTINGS_INITIAL_WINDOW_SIZE that we advertised (§6.9.2): the
    /// peer adjusts its view of every stream window by the difference.
    pub(crate) fn grow_by_settings(&mut self, old: u32, new: u32) {
        self.available += i64::from(new) - i64::from(old);
        self.target = new;
    }

    /// The window size we aim for.
    pub(crate) fn target(&self) -> u32 {
        self.target
    }

    /// What the peer may still send, as far as we know.
    pub(crate) fn available(&self) -> i64 {
        self.available
    }
}

/// What we may send at one level.
#[derive(Clone, Copy, Debug)]
pub(crate) struct SendWindow {
    window: i64,
}

impl SendWindow {
    /// A window of `size`.
    pub(crate) fn new(size: u32) -> SendWindow {
        SendWindow {
            window: i64::from(size),
        }
    }

    /// Octets we may send now (0 when the window is exhausted or negative).
    pub(crate) fn available(&self) -> u32 {
        u32::try_from(self.window.clamp(0, i64::from(MAX_WINDOW_SIZE))).unwrap_or(0)
    }

    /// The raw window, possibly negative.
    pub(crate) fn get(&self) -> i64 {
        self.window
    }

    /// We sent `len` flow-controlled octets.
    pub(crate) fn consume(&mut self, len: u32) {
        self.window -= i64::from(len);
    }

    /// A WINDOW_UPDATE arrived. A window above 2^31-1 is a FLOW_CONTROL_ERROR (§6.9.1).
    pub(crate) fn grow(&mut self, increment: u32) -> Result<(), FlowControlError> {
        let grown = self.window + i64::from(increment);
        if grown > i64::from(MAX_WINDOW_SIZE) {
            return Err(FlowControlError);
        }
        self.window = grown;
        Ok(())
    }

    /// SETTINGS_INITIAL_WINDOW_SIZE changed by `delta` (§6.9.2): may go negative; may not
    /// exceed 2^31-1.
    pub(crate) fn adjust(&mut self, delta: i64) -> Result<(), FlowControlError> {
        let adjusted = self.window + delta;
        if adjusted > i64::from(MAX_WINDOW_SIZE) {
            return Err(FlowControlError);
        }
        self.window = adjusted;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recv_window_credits_once_a_quarter_is_consumed() {
        let mut window = RecvWindow::new(65_535);
        window.on_data(16_000).unwrap();
        assert_eq!(window.consume(16_000), None, "below a quarter");
        window.on_data(1_000).unwrap();
        assert_eq!(window.consume(1_000), Some(17_000));
        assert_eq!(window.available(), 65_535);
    }

    #[test]
    fn recv_window_rejects_data_beyond_the_window() {
        let mut window = RecvWindow::new(100);
        window.on_data(60).unwrap();
        assert_eq!(window.on_data(41), Err(FlowControlError));
        assert_eq!(window.on_data(40), Ok(()));
    }

    #[test]
    fn raising_the_target_returns_the_difference() {
        let mut window = RecvWindow::new(65_535);
        assert_eq!(window.raise_target(1 << 20), Some((1 << 20) - 65_535));
        assert_eq!(window.raise_target(1000), None);
        assert_eq!(window.available(), 1 << 20);
    }

    #[test]
    fn send_window_overflow_is_an_error_and_negative_windows_allow_nothing() {
        let mut window = SendWindow::new(MAX_WINDOW_SIZE);
        assert_eq!(window.grow(1), Err(FlowControlError));
        let mut window = SendWindow::new(10);
        window.adjust(-20).unwrap();
        assert_eq!(window.available(), 0);
        window.grow(15).unwrap();
        assert_eq!(window.available(), 5);
    }
}
