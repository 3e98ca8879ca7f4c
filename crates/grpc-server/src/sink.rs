//! [`ResponseSink`]: where a streaming handler sends its response messages.

use std::fmt;
use std::sync::Arc;

use bytes::BytesMut;
use grpc_core::codec::EncodeMessage;
use grpc_core::message::MessageEncoder;
use grpc_core::stats::CallEvent;
use grpc_core::{Metadata, Status};
use grpc_transport::hpack::HeaderField;

use crate::call::{Responder, ResponseState};
use crate::streaming::transport_status;

/// The response side of a server-streaming or bidirectional-streaming call.
///
/// Response headers go out with the first message (or with [`send_headers`]), so
/// [`metadata_mut`] can add to them until then. [`send`] waits while the stream's send buffer
/// is full (64 KiB beyond what flow control lets out), so a slow client slows the handler
/// down (backpressure). The final status goes out after the handler returns: `Ok(())` sends
/// OK, `Err(status)` sends that status, with the [`trailers_mut`] entries.
///
/// Messages are encoded into one buffer that is reused from message to message.
///
/// [`send_headers`]: ResponseSink::send_headers
/// [`metadata_mut`]: ResponseSink::metadata_mut
/// [`send`]: ResponseSink::send
/// [`trailers_mut`]: ResponseSink::trailers_mut
pub struct ResponseSink<T> {
    responder: Responder,
    codec: Arc<dyn EncodeMessage<T>>,
    encoder: MessageEncoder,
    buf: BytesMut,
    error: Option<Status>,
}

impl<T> ResponseSink<T> {
    pub(crate) fn new(mut responder: Responder, codec: Arc<dyn EncodeMessage<T>>) -> Self {
        let encoder = match responder.state() {
            Ok(state) => MessageEncoder::new(state.encoding.clone(), state.max_send),
            Err(_) => MessageEncoder::new(None, 0),
        };
        ResponseSink {
            responder,
            codec,
            encoder,
            buf: BytesMut::new(),
            error: None,
        }
    }

    /// Response headers (custom metadata). Changes after the headers went out (with the
    /// first message or [`send_headers`](ResponseSink::send_headers)) are ignored.
    pub fn metadata_mut(&mut self) -> &mut Metadata {
        &mut self.responder.headers
    }

    /// Trailers (custom metadata) sent with the final status.
    pub fn trailers_mut(&mut self) -> &mut Metadata {
        &mut self.responder.trailers
    }

    /// Whether the response headers went out.
    pub fn headers_sent(&self) -> bool {
        self.responder
            .state
            .as_ref()
            .is_some_and(|state| state.headers_sent)
    }

    /// Compresses the following messages (`true`, the default, when the call negotiated a
    /// compressor) or sends them uncompressed (`compression.md`, "Specific Disabling of
    /// Compression": against CRIME/BEAST-style attacks on secrets next to attacker data).
    /// Uncompressed messages go out with Compressed-Flag 0; the response's `grpc-encoding`
    /// stays. On a call without a compressor this does nothing.
    pub fn set_compression(&mut self, enabled: bool) {
        self.encoder.set_compression(enabled);
    }

    /// Sends the response headers now instead of with the first message.
    pub async fn send_headers(&mut self) -> Result<(), Status> {
        if let Some(error) = &self.error {
            return Err(error.clone());
        }
        self.ensure_headers_sent()?;
        Ok(())
    }

    /// Sends one message; waits while the stream's send buffer is full.
    ///
    /// A message over the server's
    /// [`max_encoding_message_size`](crate::ServerBuilder::max_encoding_message_size) gives
    /// RESOURCE_EXHAUSTED, and the call then ends with that status. A client that went away
    /// gives CANCELLED.
    pub async fn send(&mut self, message: T) -> Result<(), Status> {
        if let Some(error) = &self.error {
            return Err(error.clone());
        }
        let encoded = self
            .codec
            .encode_message(&mut self.encoder, message, &mut self.buf);
        if let Err(status) = encoded {
            tracing::debug!(%status, "response message not sent");
            self.responder.shared.set_fatal(status.clone());
            self.error = Some(status.clone());
            return Err(status);
        }
        let data = self.buf.split().freeze();
        self.responder.shared.stats.event(&CallEvent::MessageOut {
            size: self.encoder.last_message_size(),
            wire_size: data.len(),
        });
        let state = self.ensure_headers_sent()?;
        state
            .send
            .send_data(data, false)
            .await
            .map_err(|e| transport_status(&e))
    }

    /// The response state, once the response headers went out: sends them first if they
    /// have not yet.
    fn ensure_headers_sent(&mut self) -> Result<&mut ResponseState, Status> {
        let headers = &self.responder.headers;
        let state = self
            .responder
            .state
            .as_mut()
            .ok_or_else(|| Status::internal("the response was already finished"))?;
        if !state.headers_sent {
            let fields = response_headers(state, headers);
            state.headers_sent = true;
            self.responder
                .shared
                .stats
                .event(&CallEvent::HeadersOut { metadata: headers });
            state
                .send
                .send_headers(fields, false)
                .map_err(|e| transport_status(&e))?;
        }
        Ok(state)
    }
}

impl<T> fmt::Debug for ResponseSink<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseSink")
            .field("headers_sent", &self.headers_sent())
            .field("encoder", &self.encoder)
            .finish_non_exhaustive()
    }
}

/// The Response-Headers block (PROTOCOL-HTTP2 "Responses"): `:status 200`, the content type,
/// `grpc-encoding` when messages are compressed, our `grpc-accept-encoding`, then custom
/// metadata.
pub(crate) fn response_headers(state: &ResponseState, metadata: &Metadata) -> Vec<HeaderField> {
    let mut fields = Vec::with_capacity(4 + metadata.len());
    push_head(&mut fields, state);
    metadata.encode_header_fields(|name, value| fields.push(field(name, value)));
    fields
}

/// `:status 200`, content-type, and the encoding fields.
pub(crate) fn push_head(fields: &mut Vec<HeaderField>, state: &ResponseState) {
    fields.push(HeaderField::new(":status", "200"));
    fields.push(HeaderField::new("content-type", state.content_type.clone()));
    if let Some(encoding) = &state.encoding {
        fields.push(HeaderField::new("grpc-encoding", encoding.name()));
    }
    if !state.accept_encoding.is_empty() {
        fields.push(HeaderField::new(
            "grpc-accept-encoding",
            state.accept_encoding.clone(),
        ));
    }
}

pub(crate) fn field(name: bytes::Bytes, value: bytes::Bytes) -> HeaderField {
    HeaderField {
        name,
        value,
        sensitive: false,
    }
}
