//! [`HealthService`]: the `grpc.health.v1.Health` handlers over a reporter's statuses.

use std::fmt;
use std::sync::Arc;

use grpc_core::health::{
    HealthCheckRequest, HealthCheckResponse, HealthListRequest, HealthListResponse, ServingStatus,
};
use grpc_server::{Request, Response, ResponseSink, Status};

use crate::Health;
use crate::reporter::Shared;

/// The most services `List` returns; a server with more answers RESOURCE_EXHAUSTED
/// (gRFC A90, and the `List` comment in `health.proto`).
pub const MAX_LIST_SERVICES: usize = 100;

/// The `grpc.health.v1.Health` implementation: answers from the statuses of the
/// [`HealthReporter`](crate::HealthReporter) it came from. Get it, already wrapped for
/// `add_service`, from [`health_service`](crate::health_service) or
/// [`HealthReporter::service`](crate::HealthReporter::service).
pub struct HealthService {
    pub(crate) shared: Arc<Shared>,
}

impl fmt::Debug for HealthService {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HealthService").finish_non_exhaustive()
    }
}

fn response(status: ServingStatus) -> HealthCheckResponse {
    HealthCheckResponse {
        status: status as i32,
    }
}

impl Health for HealthService {
    /// health-checking.md: the service's status, or NOT_FOUND for a service the server does
    /// not know.
    async fn check(
        &self,
        request: Request<HealthCheckRequest>,
    ) -> Result<Response<HealthCheckResponse>, Status> {
        let service = &request.get_ref().service;
        match self.shared.status(service) {
            Some(status) => Ok(Response::new(response(status))),
            None => Err(Status::not_found(format!("unknown service {service:?}"))),
        }
    }

    /// gRFC A90: every known service with its status; more than [`MAX_LIST_SERVICES`] is
    /// RESOURCE_EXHAUSTED.
    async fn list(
        &self,
        _request: Request<HealthListRequest>,
    ) -> Result<Response<HealthListResponse>, Status> {
        let statuses = self
            .shared
            .snapshot(MAX_LIST_SERVICES)
            .map_err(|count| {
                Status::resource_exhausted(format!(
                    "{count} services have a health status; List returns at most {MAX_LIST_SERVICES}"
                ))
            })?
            .into_iter()
            .map(|(name, status)| (name, response(status)))
            .collect();
        Ok(Response::new(HealthListResponse { statuses }))
    }

    /// health-checking.md: the current status at once (SERVICE_UNKNOWN for an unknown
    /// service, and the call stays open), then each change. A status equal to the last one
    /// sent is not sent again; statuses that change faster than the client reads are
    /// skipped, the latest always arrives. The call lasts until the client cancels it (the
    /// server then drops this future, and with it the subscription) or the server's
    /// graceful shutdown ends it (see `HealthReporter::shutdown_hook`).
    async fn watch(
        &self,
        request: Request<HealthCheckRequest>,
        responses: &mut ResponseSink<HealthCheckResponse>,
    ) -> Result<(), Status> {
        let service = request.into_inner().service;
        let mut subscription = self.shared.subscribe(&service);
        let mut last_sent = None;
        loop {
            let status = *subscription.status.borrow_and_update();
            if last_sent != Some(status) {
                responses.send(response(status)).await?;
                last_sent = Some(status);
            }
            // Checked after sending, so the NOT_SERVING of a shutdown goes out first.
            if *subscription.closing.borrow_and_update() {
                return Err(Status::unavailable("the server is shutting down"));
            }
            tokio::select! {
                changed = subscription.status.changed() => {
                    // The sender lives as long as the entry, which this subscription keeps.
                    if changed.is_err() {
                        return Err(Status::unavailable("health status no longer available"));
                    }
                }
                changed = subscription.closing.changed() => {
                    if changed.is_err() {
                        return Err(Status::unavailable("the server is shutting down"));
                    }
                }
            }
        }
    }
}
