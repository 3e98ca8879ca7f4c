//! Per-call credentials: metadata (typically `authorization`) computed for each call and
//! added to its request headers, as in gRPC's "call credentials" (see the gRPC auth guide).

use std::fmt;

use crate::metadata::Metadata;
use crate::{BoxFuture, Status, headers};

/// What call credentials know about the call they authenticate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthContext {
    /// The service URL, `"https://host/pkg.Service"` (the JWT audience convention).
    pub service_url: String,
    /// The full method path, `"/pkg.Service/Method"`.
    pub method: String,
    /// Is the call on a secure (TLS) transport?
    pub secure: bool,
}

/// Credentials attached to calls, producing metadata for each.
pub trait CallCredentials: Send + Sync + 'static {
    /// The metadata to add to the call described by `context`. An error fails the call with
    /// that status (use UNAUTHENTICATED or UNAVAILABLE as appropriate).
    fn metadata<'a>(&'a self, context: &'a AuthContext) -> BoxFuture<'a, Result<Metadata, Status>>;

    /// Must the transport be secure? `true` (the default) makes a client fail the call with
    /// UNAUTHENTICATED instead of sending these credentials in plaintext.
    fn requires_transport_security(&self) -> bool {
        true
    }
}

/// A static bearer token: adds `authorization: Bearer <token>` to every call.
#[derive(Clone)]
pub struct BearerToken {
    /// The prepared metadata, or why the token cannot be sent.
    metadata: Result<Metadata, Status>,
}

impl BearerToken {
    /// Credentials sending `token`. A token that is not a valid header value (printable ASCII,
    /// no leading or trailing space) fails every call with UNAUTHENTICATED.
    pub fn new(token: impl Into<String>) -> Self {
        let token = token.into();
        let mut md = Metadata::new();
        let metadata = md
            .insert(headers::AUTHORIZATION, &format!("Bearer {token}"))
            .map(|()| md)
            .map_err(|_| Status::unauthenticated("bearer token is not a valid header value"));
        BearerToken { metadata }
    }
}

impl fmt::Debug for BearerToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BearerToken").finish_non_exhaustive()
    }
}

impl CallCredentials for BearerToken {
    fn metadata<'a>(
        &'a self,
        _context: &'a AuthContext,
    ) -> BoxFuture<'a, Result<Metadata, Status>> {
        let result = self.metadata.clone();
        Box::pin(async move { result })
    }
}
