//! gRPC health checking for grpc-rust servers: the `grpc.health.v1.Health` service
//! (gRPC's `health-checking.md`) and a [`HealthReporter`] to set what it reports.
//!
//! - **Check** answers a service's status, or fails with NOT_FOUND for a service the server
//!   has no status for. The empty name `""` is the server as a whole, SERVING from the
//!   start.
//! - **Watch** sends the current status at once (SERVICE_UNKNOWN for an unknown service,
//!   without ending the call), then every change, never the same status twice in a row.
//!   Load balancers that do client-side health checking (gRFC A17) follow it. A client
//!   that reads slowly skips statuses but always gets the latest, and never holds up a
//!   reporter.
//! - **List** (gRFC A90) answers every known service with its status, at most
//!   [`MAX_LIST_SERVICES`] of them.
//!
//! A [`HealthReporter`] changes statuses from anywhere (it is `Clone + Send + Sync`, and
//! every method is synchronous and cheap): [`set_serving`](HealthReporter::set_serving),
//! [`set_not_serving`](HealthReporter::set_not_serving),
//! [`clear_status`](HealthReporter::clear_status), and
//! [`shutdown`](HealthReporter::shutdown) / [`resume`](HealthReporter::resume) for all
//! services at once. Give the server its
//! [`shutdown_hook`](HealthReporter::shutdown_hook) so that a graceful shutdown first
//! flips everything to NOT_SERVING, tells every `Watch` client, and then ends the `Watch`
//! calls, which would otherwise keep the shutdown waiting.
//!
//! # Example
//!
//! ```
//! use std::time::Duration;
//!
//! use grpc_client::Channel;
//! use grpc_core::codec::ProstCodec;
//! use grpc_core::{Code, Request};
//! use grpc_health::{HealthCheckRequest, HealthCheckResponse, ServingStatus};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let (reporter, health) = grpc_health::health_service();
//! let server = grpc_server::Server::builder()
//!     .add_service(health)
//!     // A graceful shutdown first reports NOT_SERVING to every Watch client.
//!     .on_graceful_shutdown(reporter.shutdown_hook())
//!     .bind("127.0.0.1:0".parse()?)
//!     .await?;
//! let addr = server.local_addr();
//! let handle = server.handle();
//! tokio::spawn(server.serve());
//!
//! // The application reports its services' health as it changes.
//! reporter.set_not_serving("greeter.v1.Greeter");
//!
//! let channel = Channel::builder(&format!("http://{addr}")).connect().await?;
//! let check = |service: &str| {
//!     let request = Request::new(HealthCheckRequest { service: service.into() });
//!     let codec = ProstCodec::<HealthCheckRequest, HealthCheckResponse>::new();
//!     let channel = channel.clone();
//!     async move { channel.unary(request, "/grpc.health.v1.Health/Check", codec).await }
//! };
//! let whole_server = check("").await?.into_inner();
//! assert_eq!(whole_server.status(), ServingStatus::Serving);
//! let greeter = check("greeter.v1.Greeter").await?.into_inner();
//! assert_eq!(greeter.status(), ServingStatus::NotServing);
//! assert_eq!(check("nope.v1.Nope").await.unwrap_err().code(), Code::NotFound);
//!
//! handle.shutdown_graceful(Duration::from_secs(5));
//! handle.wait().await;
//! assert_eq!(reporter.status(""), Some(ServingStatus::NotServing));
//! # Ok(())
//! # }
//! ```

mod reporter;
mod service;

/// The generated `grpc.health.v1` server (from `proto/grpc/health/v1/health.proto`): the
/// `Health` trait and the `HealthServer` adapter. The messages are grpc-core's.
mod proto {
    include!(concat!(env!("OUT_DIR"), "/grpc.health.v1.rs"));
}

pub use grpc_core::health::{
    HealthCheckRequest, HealthCheckResponse, HealthListRequest, HealthListResponse, ServingStatus,
};
pub use proto::health_server::{Health, HealthServer, SERVICE_NAME};
pub use reporter::HealthReporter;
pub use service::{HealthService, MAX_LIST_SERVICES};

/// A new health service and the reporter that sets its statuses: add the service to a
/// server with [`ServerBuilder::add_service`](grpc_server::ServerBuilder::add_service) and
/// keep the reporter. The server as a whole (`""`) starts SERVING; no other service has a
/// status until the reporter sets one.
///
/// ```
/// let (reporter, health) = grpc_health::health_service();
/// reporter.set_serving("greeter.v1.Greeter");
/// let builder = grpc_server::Server::builder()
///     .add_service(health)
///     .on_graceful_shutdown(reporter.shutdown_hook());
/// # drop(builder);
/// ```
pub fn health_service() -> (HealthReporter, HealthServer<HealthService>) {
    let reporter = HealthReporter::new();
    let service = reporter.service();
    (reporter, service)
}
