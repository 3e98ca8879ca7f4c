//! The messages of gRPC's health-checking protocol (`grpc.health.v1`, gRPC's
//! `health-checking.md`), shared by the server side (`grpc-health`) and the client's
//! health checks (gRFC A17).
//!
//! Written by hand with prost's derive; they match `grpc/health/v1/health.proto` field for
//! field (names, numbers, types, enum values), so `grpc-health`'s generated service uses
//! them directly (prost-build's `extern_path`).
//!
//! ```
//! use grpc_core::health::{HealthCheckResponse, ServingStatus};
//! use grpc_core::prost::Message;
//!
//! # fn main() -> Result<(), grpc_core::prost::DecodeError> {
//! let response = HealthCheckResponse { status: ServingStatus::Serving as i32 };
//! let bytes = response.encode_to_vec();
//! assert_eq!(bytes, [0x08, 0x01]);
//! assert_eq!(HealthCheckResponse::decode(&bytes[..])?.status(), ServingStatus::Serving);
//! # Ok(())
//! # }
//! ```

use std::collections::HashMap;

/// The method a client calls to follow a service's health.
pub const WATCH_PATH: &str = "/grpc.health.v1.Health/Watch";

/// `grpc.health.v1.HealthCheckRequest`.
#[derive(Clone, PartialEq, Eq, Hash, prost::Message)]
pub struct HealthCheckRequest {
    /// The service to check; empty for the server as a whole (field 1).
    #[prost(string, tag = "1")]
    pub service: String,
}

/// `grpc.health.v1.HealthCheckResponse`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, prost::Message)]
pub struct HealthCheckResponse {
    /// The service's status, a [`ServingStatus`] (field 1).
    #[prost(enumeration = "ServingStatus", tag = "1")]
    pub status: i32,
}

/// `grpc.health.v1.HealthCheckResponse.ServingStatus`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum ServingStatus {
    /// The status is not known (0).
    Unknown = 0,
    /// The service is serving (1).
    Serving = 1,
    /// The service is not serving (2).
    NotServing = 2,
    /// The server does not know the service; only `Watch` sends this (3).
    ServiceUnknown = 3,
}

impl ServingStatus {
    /// The name used in the proto (`SERVING`).
    pub fn as_str_name(self) -> &'static str {
        match self {
            ServingStatus::Unknown => "UNKNOWN",
            ServingStatus::Serving => "SERVING",
            ServingStatus::NotServing => "NOT_SERVING",
            ServingStatus::ServiceUnknown => "SERVICE_UNKNOWN",
        }
    }
}

/// `grpc.health.v1.HealthListRequest` (gRFC A90): no fields.
#[derive(Clone, Copy, PartialEq, Eq, Hash, prost::Message)]
pub struct HealthListRequest {}

/// `grpc.health.v1.HealthListResponse` (gRFC A90).
#[derive(Clone, PartialEq, prost::Message)]
pub struct HealthListResponse {
    /// Every service the server knows, with its status (field 1).
    #[prost(map = "string, message", tag = "1")]
    pub statuses: HashMap<String, HealthCheckResponse>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    #[test]
    fn wire_forms() -> Result<(), Box<dyn std::error::Error>> {
        let request = HealthCheckRequest {
            service: "echo.Echo".into(),
        };
        let bytes = request.encode_to_vec();
        assert_eq!(bytes[..2], [0x0a, 9]);
        assert_eq!(HealthCheckRequest::decode(&bytes[..]).ok(), Some(request));
        // An unknown enum value decodes (proto3 open enums) and reads as UNKNOWN.
        let odd = HealthCheckResponse::decode(&[0x08, 0x2a][..]).unwrap_or_default();
        assert_eq!(odd.status, 42);
        assert_eq!(odd.status(), ServingStatus::Unknown);
        let mut list = HealthListResponse::default();
        list.statuses.insert(
            String::new(),
            HealthCheckResponse {
                status: ServingStatus::NotServing as i32,
            },
        );
        let decoded = HealthListResponse::decode(&list.encode_to_vec()[..]).ok();
        assert_eq!(decoded, Some(list));
        assert_eq!(
            ServingStatus::ServiceUnknown.as_str_name(),
            "SERVICE_UNKNOWN"
        );
        Ok(())
    }
}
