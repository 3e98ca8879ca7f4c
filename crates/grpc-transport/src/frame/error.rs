//! Frame-level errors: which rule was broken, and how RFC 9113 §5.4 says to react.

use std::fmt;

use super::StreamId;
use crate::ErrorCode;

/// How far an error reaches (RFC 9113 §5.4).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum ErrorScope {
    /// A connection error (§5.4.1): send GOAWAY with the error's code and close the
    /// connection. The read buffer is in an unspecified state afterwards.
    Connection,
    /// A stream error (§5.4.2): send RST_STREAM on this stream with the error's code and keep
    /// using the connection. The offending frame has been consumed from the read buffer.
    Stream(StreamId),
}

/// The specific rule a frame broke. Each variant names the RFC section that defines it.
///
/// The scope and error code that go with each reason are fixed by the RFC (and listed on
/// the variants); [`FrameError`] carries all three.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Reason {
    /// The frame is longer than the SETTINGS_MAX_FRAME_SIZE we advertised, or its payload
    /// would not fit in the 24-bit Length field (§4.2). Connection FRAME_SIZE_ERROR for
    /// every frame type: see [`parse_frame`](super::parse_frame) for why.
    FrameTooLarge,
    /// [`Frame::decode`](super::Frame::decode) was given a payload whose length differs
    /// from the header's Length field (§4.1). Connection FRAME_SIZE_ERROR.
    LengthMismatch,
    /// A frame type that belongs to a stream (DATA §6.1, HEADERS §6.2, PRIORITY §6.3,
    /// RST_STREAM §6.4, PUSH_PROMISE §6.6, CONTINUATION §6.10) arrived on stream 0.
    /// Connection PROTOCOL_ERROR.
    StreamIdZero,
    /// A frame type that belongs to the connection (SETTINGS §6.5, PING §6.7, GOAWAY §6.8)
    /// arrived on a stream other than 0. Connection PROTOCOL_ERROR.
    StreamIdNotZero,
    /// The PADDED flag is set but the payload is empty, so there is no Pad Length field:
    /// the frame "is too small to contain mandatory frame data" (§4.2; §6.1, §6.2, §6.6).
    /// Connection FRAME_SIZE_ERROR.
    MissingPadLength,
    /// The padding is at least as long as the rest of the payload (DATA §6.1, HEADERS §6.2,
    /// PUSH_PROMISE §6.6). Connection PROTOCOL_ERROR.
    PaddingTooLong,
    /// HEADERS has the PRIORITY flag but fewer than 5 octets for the priority fields
    /// (§4.2, §6.2). Connection FRAME_SIZE_ERROR (HEADERS carries a field block).
    MissingPriorityFields,
    /// PUSH_PROMISE is too short to hold the Promised Stream ID (§4.2, §6.6). Connection
    /// FRAME_SIZE_ERROR (PUSH_PROMISE carries a field block).
    MissingPromisedStreamId,
    /// A stream's priority names the stream itself as its dependency (§5.3.1). Stream
    /// PROTOCOL_ERROR. For PRIORITY frames this is returned by the parser; for HEADERS it is
    /// deferred, see [`Headers::stream_error`](super::Headers::stream_error).
    SelfDependency,
    /// PRIORITY payload length is not 5 (§6.3). Stream FRAME_SIZE_ERROR.
    PriorityLength,
    /// RST_STREAM payload length is not 4 (§6.4). Connection FRAME_SIZE_ERROR.
    ResetLength,
    /// SETTINGS with the ACK flag has a non-empty payload (§6.5). Connection
    /// FRAME_SIZE_ERROR.
    SettingsAckWithPayload,
    /// SETTINGS payload length is not a multiple of 6 (§6.5). Connection FRAME_SIZE_ERROR.
    SettingsLength,
    /// SETTINGS_ENABLE_PUSH is neither 0 nor 1 (§6.5.2). Connection PROTOCOL_ERROR.
    InvalidEnablePush,
    /// SETTINGS_INITIAL_WINDOW_SIZE is above 2^31-1 (§6.5.2). Connection
    /// FLOW_CONTROL_ERROR.
    InitialWindowSizeTooLarge,
    /// SETTINGS_MAX_FRAME_SIZE is outside 2^14..=2^24-1 (§6.5.2). Connection PROTOCOL_ERROR.
    InvalidMaxFrameSize,
    /// SETTINGS_ENABLE_CONNECT_PROTOCOL is neither 0 nor 1 (RFC 8441 §3). Connection
    /// PROTOCOL_ERROR.
    InvalidEnableConnectProtocol,
    /// SETTINGS_NO_RFC7540_PRIORITIES is neither 0 nor 1 (RFC 9218 §2.1). Connection
    /// PROTOCOL_ERROR.
    InvalidNoRfc7540Priorities,
    /// PING payload length is not 8 (§6.7). Connection FRAME_SIZE_ERROR.
    PingLength,
    /// GOAWAY payload is shorter than 8 octets (§4.2, §6.8). Connection FRAME_SIZE_ERROR.
    GoAwayTooShort,
    /// WINDOW_UPDATE payload length is not 4 (§6.9). Connection FRAME_SIZE_ERROR.
    WindowUpdateLength,
    /// WINDOW_UPDATE with an increment of 0 (§6.9). PROTOCOL_ERROR: a stream error on a
    /// stream, a connection error on stream 0.
    ZeroWindowIncrement,
    /// A window increment above 2^31-1 was passed to
    /// [`WindowUpdate::new`](super::WindowUpdate::new) (§6.9 allows 1..=2^31-1; on the wire
    /// the reserved bit makes larger values impossible). Connection FLOW_CONTROL_ERROR.
    WindowIncrementTooLarge,
}

impl Reason {
    /// A short description of the violated rule, for logs and GOAWAY debug data.
    pub const fn description(self) -> &'static str {
        match self {
            Reason::FrameTooLarge => "frame exceeds the maximum frame size (RFC 9113 §4.2)",
            Reason::LengthMismatch => {
                "payload length differs from the frame header's Length (RFC 9113 §4.1)"
            }
            Reason::StreamIdZero => "frame type requires a stream but was sent on stream 0",
            Reason::StreamIdNotZero => "connection-level frame sent on a stream other than 0",
            Reason::MissingPadLength => "PADDED flag set but no Pad Length field (RFC 9113 §4.2)",
            Reason::PaddingTooLong => "padding is as long as the payload or longer",
            Reason::MissingPriorityFields => {
                "HEADERS PRIORITY flag set but fewer than 5 octets of priority (RFC 9113 §6.2)"
            }
            Reason::MissingPromisedStreamId => {
                "PUSH_PROMISE too short for the promised stream id (RFC 9113 §6.6)"
            }
            Reason::SelfDependency => "stream depends on itself (RFC 9113 §5.3.1)",
            Reason::PriorityLength => "PRIORITY payload is not 5 octets (RFC 9113 §6.3)",
            Reason::ResetLength => "RST_STREAM payload is not 4 octets (RFC 9113 §6.4)",
            Reason::SettingsAckWithPayload => "SETTINGS ACK with a payload (RFC 9113 §6.5)",
            Reason::SettingsLength => "SETTINGS payload not a multiple of 6 (RFC 9113 §6.5)",
            Reason::InvalidEnablePush => "SETTINGS_ENABLE_PUSH not 0 or 1 (RFC 9113 §6.5.2)",
            Reason::InitialWindowSizeTooLarge => {
                "SETTINGS_INITIAL_WINDOW_SIZE above 2^31-1 (RFC 9113 §6.5.2)"
            }
            Reason::InvalidMaxFrameSize => {
                "SETTINGS_MAX_FRAME_SIZE outside 2^14..=2^24-1 (RFC 9113 §6.5.2)"
            }
            Reason::InvalidEnableConnectProtocol => {
                "SETTINGS_ENABLE_CONNECT_PROTOCOL not 0 or 1 (RFC 8441 §3)"
            }
            Reason::InvalidNoRfc7540Priorities => {
                "SETTINGS_NO_RFC7540_PRIORITIES not 0 or 1 (RFC 9218 §2.1)"
            }
            Reason::PingLength => "PING payload is not 8 octets (RFC 9113 §6.7)",
            Reason::GoAwayTooShort => "GOAWAY payload shorter than 8 octets (RFC 9113 §6.8)",
            Reason::WindowUpdateLength => "WINDOW_UPDATE payload is not 4 octets (RFC 9113 §6.9)",
            Reason::ZeroWindowIncrement => "WINDOW_UPDATE increment of 0 (RFC 9113 §6.9)",
            Reason::WindowIncrementTooLarge => "window increment above 2^31-1 (RFC 9113 §6.9)",
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.description())
    }
}

/// A frame that breaks RFC 9113: the rule it broke, the error code to send, and whether
/// the connection (GOAWAY) or only one stream (RST_STREAM) has to go (§5.4).
///
/// `Copy` and three words wide; constructing one never allocates.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct FrameError {
    scope: ErrorScope,
    code: ErrorCode,
    reason: Reason,
}

impl FrameError {
    /// A connection error (§5.4.1).
    pub const fn connection(code: ErrorCode, reason: Reason) -> FrameError {
        FrameError {
            scope: ErrorScope::Connection,
            code,
            reason,
        }
    }

    /// A stream error on `stream_id` (§5.4.2).
    pub const fn stream(stream_id: StreamId, code: ErrorCode, reason: Reason) -> FrameError {
        FrameError {
            scope: ErrorScope::Stream(stream_id),
            code,
            reason,
        }
    }

    /// Connection PROTOCOL_ERROR.
    pub(crate) const fn protocol(reason: Reason) -> FrameError {
        Self::connection(ErrorCode::PROTOCOL_ERROR, reason)
    }

    /// Connection FRAME_SIZE_ERROR.
    pub(crate) const fn frame_size(reason: Reason) -> FrameError {
        Self::connection(ErrorCode::FRAME_SIZE_ERROR, reason)
    }

    /// Whether the whole connection or one stream is affected.
    pub const fn scope(&self) -> ErrorScope {
        self.scope
    }

    /// The error code to put in the GOAWAY or RST_STREAM frame.
    pub const fn code(&self) -> ErrorCode {
        self.code
    }

    /// The rule that was broken.
    pub const fn reason(&self) -> Reason {
        self.reason
    }

    /// Whether this is a connection error (§5.4.1).
    pub const fn is_connection_error(&self) -> bool {
        matches!(self.scope, ErrorScope::Connection)
    }

    /// The stream to reset, for a stream error (§5.4.2); `None` for a connection error.
    pub const fn stream_id(&self) -> Option<StreamId> {
        match self.scope {
            ErrorScope::Stream(id) => Some(id),
            ErrorScope::Connection => None,
        }
    }
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.scope {
            ErrorScope::Connection => write!(f, "connection error {}: {}", self.code, self.reason),
            ErrorScope::Stream(id) => {
                write!(
                    f,
                    "stream error {} on stream {}: {}",
                    self.code, id, self.reason
                )
            }
        }
    }
}

impl std::error::Error for FrameError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_scope_code_and_rule() {
        let err = FrameError::frame_size(Reason::PingLength);
        assert_eq!(
            err.to_string(),
            "connection error FRAME_SIZE_ERROR: PING payload is not 8 octets (RFC 9113 §6.7)"
        );
        let err = FrameError::stream(
            StreamId::new(5).unwrap(),
            ErrorCode::PROTOCOL_ERROR,
            Reason::SelfDependency,
        );
        assert_eq!(
            err.to_string(),
            "stream error PROTOCOL_ERROR on stream 5: stream depends on itself (RFC 9113 §5.3.1)"
        );
    }

    #[test]
    fn accessors_report_scope() {
        let conn = FrameError::protocol(Reason::StreamIdZero);
        assert!(conn.is_connection_error());
        assert_eq!(conn.stream_id(), None);
        assert_eq!(conn.code(), ErrorCode::PROTOCOL_ERROR);
        let id = StreamId::new(3).unwrap();
        let stream = FrameError::stream(id, ErrorCode::FRAME_SIZE_ERROR, Reason::PriorityLength);
        assert!(!stream.is_connection_error());
        assert_eq!(stream.stream_id(), Some(id));
        assert_eq!(stream.scope(), ErrorScope::Stream(id));
        assert_eq!(stream.reason(), Reason::PriorityLength);
    }

    #[test]
    fn frame_error_stays_small() {
        // Returned by value on every parse: keep it to a few words.
        assert!(std::mem::size_of::<FrameError>() <= 16);
    }
}
