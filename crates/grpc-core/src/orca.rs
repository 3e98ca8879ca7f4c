//! ORCA backend metrics: the [`OrcaLoadReport`] message and its per-call trailer.
//!
//! gRFC A51 ("Custom Backend Metrics Support") lets a server tell its clients how loaded it
//! is. Per-call reports travel as a serialized `xds.data.orca.v3.OrcaLoadReport` in the
//! binary trailer [`ORCA_TRAILER`] (`endpoint-load-metrics-bin`); client-side balancers such
//! as `weighted_round_robin` (gRFC A58) read them when a call ends.
//!
//! The message is written by hand with prost's derive (no `.proto` file or code generation)
//! and matches `xds/data/orca/v3/orca_load_report.proto` field for field: numbers, types and
//! map types.
//!
//! ```
//! use grpc_core::Metadata;
//! use grpc_core::orca::{ORCA_TRAILER, OrcaLoadReport};
//!
//! let mut report = OrcaLoadReport::default();
//! report.cpu_utilization = 0.5;
//! report.rps_fractional = 120.0;
//! report.named_metrics.insert("queue_depth".to_owned(), 7.0);
//!
//! let mut trailers = Metadata::new();
//! report.to_trailer(&mut trailers);
//! assert!(trailers.get_bin(ORCA_TRAILER).is_some());
//! assert_eq!(OrcaLoadReport::from_trailers(&trailers), Some(report));
//! ```

use std::collections::HashMap;

use prost::Message as _;

use crate::Metadata;

/// The binary trailer that carries a per-call ORCA load report (gRFC A51, "Per-Call Metrics":
/// `endpoint-load-metrics-bin`, a serialized [`OrcaLoadReport`]).
pub const ORCA_TRAILER: &str = "endpoint-load-metrics-bin";

/// A backend's load report: `xds.data.orca.v3.OrcaLoadReport`.
///
/// Utilizations are fractions of the available resource (1.0 = fully used; CPU and
/// application utilization may exceed 1.0 past the server's soft limit). Rates are per
/// second and cover everything the endpoint serves.
#[derive(Clone, PartialEq, prost::Message)]
pub struct OrcaLoadReport {
    /// CPU utilization, a fraction of the available CPU (field 1).
    #[prost(double, tag = "1")]
    pub cpu_utilization: f64,
    /// Memory utilization, a fraction of the available memory, in `[0, 1]` (field 2).
    #[prost(double, tag = "2")]
    pub mem_utilization: f64,
    /// Requests per second as an integer (field 3). Deprecated in the proto in favour of
    /// [`rps_fractional`](OrcaLoadReport::rps_fractional); kept for wire compatibility.
    #[prost(uint64, tag = "3")]
    pub rps: u64,
    /// Application-specific costs of this request, absolute values (field 4).
    #[prost(map = "string, double", tag = "4")]
    pub request_cost: HashMap<String, f64>,
    /// Named resource utilizations, fractions in `[0, 1]` (field 5).
    #[prost(map = "string, double", tag = "5")]
    pub utilization: HashMap<String, f64>,
    /// Queries per second served by the endpoint (field 6).
    #[prost(double, tag = "6")]
    pub rps_fractional: f64,
    /// Errors per second served by the endpoint (field 7).
    #[prost(double, tag = "7")]
    pub eps: f64,
    /// Application-specific opaque metrics (field 8).
    #[prost(map = "string, double", tag = "8")]
    pub named_metrics: HashMap<String, f64>,
    /// Application-defined utilization, a fraction of the available resources (field 9);
    /// balancers prefer it to `cpu_utilization` when it is set (gRFC A58).
    #[prost(double, tag = "9")]
    pub application_utilization: f64,
}

impl OrcaLoadReport {
    /// The report in `trailers`' [`ORCA_TRAILER`], if there is one and it decodes. A
    /// malformed report is `None`, never a panic.
    pub fn from_trailers(trailers: &Metadata) -> Option<OrcaLoadReport> {
        let bytes = trailers.get_bin(ORCA_TRAILER)?;
        OrcaLoadReport::decode(bytes.as_ref()).ok()
    }

    /// Stores the report in `trailers` as [`ORCA_TRAILER`], replacing any report there.
    pub fn to_trailer(&self, trailers: &mut Metadata) {
        // The key is a valid binary key, so this cannot fail; if it ever did, no report is
        // sent, which clients treat as "no load information".
        let _ = trailers.insert_bin(ORCA_TRAILER, self.encode_to_vec());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn full_report() -> OrcaLoadReport {
        let mut report = OrcaLoadReport {
            cpu_utilization: 0.25,
            mem_utilization: 0.5,
            rps: 10,
            rps_fractional: 10.5,
            eps: 1.5,
            application_utilization: 0.75,
            ..OrcaLoadReport::default()
        };
        report.request_cost.insert("db".into(), 3.0);
        report.utilization.insert("disk".into(), 0.125);
        report.named_metrics.insert("queue".into(), 42.0);
        report
    }

    #[test]
    fn round_trips_through_trailers() -> Result<(), Box<dyn std::error::Error>> {
        let report = full_report();
        let mut trailers = Metadata::new();
        report.to_trailer(&mut trailers);
        assert_eq!(
            OrcaLoadReport::from_trailers(&trailers),
            Some(report.clone())
        );

        // A second report replaces the first.
        let other = OrcaLoadReport {
            eps: 9.0,
            ..OrcaLoadReport::default()
        };
        other.to_trailer(&mut trailers);
        assert_eq!(trailers.get_all_bin(ORCA_TRAILER).count(), 1);
        assert_eq!(OrcaLoadReport::from_trailers(&trailers), Some(other));
        Ok(())
    }

    #[test]
    fn field_numbers_and_wire_types_match_the_proto() -> Result<(), Box<dyn std::error::Error>> {
        // Hand-encoded: (tag << 3 | wire type) then the value. Doubles are wire type 1
        // (fixed64), uint64 is 0 (varint), maps are 2 (length-delimited entries whose key is
        // field 1, a string, and value field 2, a double).
        let mut expected = Vec::new();
        let double = |out: &mut Vec<u8>, field: u8, v: f64| {
            out.push(field << 3 | 1);
            out.extend_from_slice(&v.to_le_bytes());
        };
        double(&mut expected, 1, 0.25);
        double(&mut expected, 2, 0.5);
        expected.extend_from_slice(&[3 << 3, 10]);
        for (field, key, value) in [(4u8, "db", 3.0f64), (5, "disk", 0.125)] {
            expected.push(field << 3 | 2);
            expected.push((2 + key.len() + 9) as u8);
            expected.push(1 << 3 | 2);
            expected.push(key.len() as u8);
            expected.extend_from_slice(key.as_bytes());
            double(&mut expected, 2, value);
        }
        double(&mut expected, 6, 10.5);
        double(&mut expected, 7, 1.5);
        expected.push(8 << 3 | 2);
        expected.push(2 + 5 + 9);
        expected.extend_from_slice(&[1 << 3 | 2, 5]);
        expected.extend_from_slice(b"queue");
        double(&mut expected, 2, 42.0);
        double(&mut expected, 9, 0.75);

        assert_eq!(full_report().encode_to_vec(), expected);
        assert_eq!(
            OrcaLoadReport::decode(expected.as_slice()).ok(),
            Some(full_report())
        );
        Ok(())
    }

    #[test]
    fn missing_or_malformed_reports_are_none() -> Result<(), Box<dyn std::error::Error>> {
        let mut trailers = Metadata::new();
        assert_eq!(OrcaLoadReport::from_trailers(&trailers), None);
        // A length-delimited field whose length runs past the end.
        trailers.insert_bin(ORCA_TRAILER, Bytes::from_static(&[4 << 3 | 2, 50, 1]))?;
        assert_eq!(OrcaLoadReport::from_trailers(&trailers), None);
        // A double cut short.
        trailers.insert_bin(ORCA_TRAILER, Bytes::from_static(&[1 << 3 | 1, 0, 0]))?;
        assert_eq!(OrcaLoadReport::from_trailers(&trailers), None);
        // An empty value is a valid, empty report.
        trailers.insert_bin(ORCA_TRAILER, Bytes::new())?;
        assert_eq!(
            OrcaLoadReport::from_trailers(&trailers),
            Some(OrcaLoadReport::default())
        );
        Ok(())
    }
}
