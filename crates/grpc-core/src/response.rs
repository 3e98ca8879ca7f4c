//! A gRPC response as the application sees it: response headers (metadata), the message (or a
//! message stream), trailers and extensions.

use crate::extensions::Extensions;
use crate::metadata::Metadata;

/// A response: metadata (custom response headers), the message, trailers (custom metadata sent
/// after the message, with the status) and extensions.
#[derive(Debug)]
pub struct Response<T> {
    metadata: Metadata,
    message: T,
    trailers: Metadata,
    extensions: Extensions,
}

impl<T> Response<T> {
    /// A response with `message` and empty metadata and trailers.
    pub fn new(message: T) -> Self {
        Response {
            metadata: Metadata::new(),
            message,
            trailers: Metadata::new(),
            extensions: Extensions::new(),
        }
    }

    /// A response from its parts, in wire order: headers, extensions, message, trailers (the
    /// inverse of [`into_parts`](Self::into_parts)).
    pub fn from_parts(
        metadata: Metadata,
        extensions: Extensions,
        message: T,
        trailers: Metadata,
    ) -> Self {
        Response {
            metadata,
            message,
            trailers,
            extensions,
        }
    }

    /// The message.
    pub fn get_ref(&self) -> &T {
        &self.message
    }

    /// The message, mutably.
    pub fn get_mut(&mut self) -> &mut T {
        &mut self.message
    }

    /// The message, dropping the rest.
    pub fn into_inner(self) -> T {
        self.message
    }

    /// Headers metadata, extensions, message and trailers (same order as
    /// [`from_parts`](Self::from_parts), and as [`Request::into_parts`](crate::Request::into_parts)
    /// with the trailers last).
    pub fn into_parts(self) -> (Metadata, Extensions, T, Metadata) {
        (self.metadata, self.extensions, self.message, self.trailers)
    }

    /// The response headers' custom metadata.
    pub fn metadata(&self) -> &Metadata {
        &self.metadata
    }

    /// The response headers' custom metadata, mutably.
    pub fn metadata_mut(&mut self) -> &mut Metadata {
        &mut self.metadata
    }

    /// The trailers' custom metadata.
    pub fn trailers(&self) -> &Metadata {
        &self.trailers
    }

    /// The trailers' custom metadata, mutably.
    pub fn trailers_mut(&mut self) -> &mut Metadata {
        &mut self.trailers
    }

    /// The extensions.
    pub fn extensions(&self) -> &Extensions {
        &self.extensions
    }

    /// The extensions, mutably.
    pub fn extensions_mut(&mut self) -> &mut Extensions {
        &mut self.extensions
    }

    /// Replaces the message with `f(message)`, keeping the rest.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Response<U> {
        Response {
            metadata: self.metadata,
            message: f(self.message),
            trailers: self.trailers,
            extensions: self.extensions,
        }
    }
}
