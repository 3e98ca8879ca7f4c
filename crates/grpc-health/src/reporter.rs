//! [`HealthReporter`]: the statuses the health service serves, and how they change.
//!
//! One `Shared` per health service: a map from service name to an `Entry` under a
//! `std::sync::Mutex` (held only for map work and non-blocking sends, never across an
//! `await`), and in each entry a `tokio::sync::watch` channel carrying the status clients
//! see. Reporters write to the channel, which never waits for its readers; each `Watch`
//! call reads it at its own pace (so a slow one skips statuses but always reads the latest).

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use grpc_core::health::ServingStatus;
use tokio::sync::watch;

use crate::HealthServer;
use crate::service::HealthService;

/// Sets and changes the statuses a health service reports; see the [crate docs](crate).
///
/// Cheap to clone (an `Arc`); clones, and the service from
/// [`service`](HealthReporter::service), share one set of statuses. Every method is
/// synchronous and quick: it never waits for `Watch` clients, however slowly they read.
///
/// Service names are free-form; by convention a service's fully qualified protobuf name
/// (`"greeter.v1.Greeter"`). The empty name `""` stands for the whole server, and starts
/// SERVING.
///
/// ```
/// use grpc_health::{HealthReporter, ServingStatus};
///
/// let reporter = HealthReporter::new();
/// assert_eq!(reporter.status(""), Some(ServingStatus::Serving));
/// assert_eq!(reporter.status("greeter.v1.Greeter"), None);
///
/// reporter.set_not_serving("greeter.v1.Greeter"); // warming up
/// reporter.set_serving("greeter.v1.Greeter"); // ready
/// assert_eq!(reporter.status("greeter.v1.Greeter"), Some(ServingStatus::Serving));
///
/// // Draining: everything reads NOT_SERVING until `resume`.
/// reporter.shutdown();
/// reporter.set_serving("greeter.v1.Greeter"); // recorded, not published
/// assert_eq!(reporter.status("greeter.v1.Greeter"), Some(ServingStatus::NotServing));
/// reporter.resume();
/// assert_eq!(reporter.status("greeter.v1.Greeter"), Some(ServingStatus::Serving));
///
/// reporter.clear_status("greeter.v1.Greeter");
/// assert_eq!(reporter.status("greeter.v1.Greeter"), None);
/// ```
#[derive(Clone)]
pub struct HealthReporter {
    pub(crate) shared: Arc<Shared>,
}

/// The state behind a reporter and its services.
pub(crate) struct Shared {
    state: Mutex<State>,
    /// `true` once the server's graceful shutdown began (the
    /// [`shutdown_hook`](HealthReporter::shutdown_hook) ran): `Watch` calls send their last
    /// status and end. Back to `false` on [`resume`](HealthReporter::resume).
    closing: watch::Sender<bool>,
}

struct State {
    services: HashMap<String, Entry>,
    /// Between [`shutdown`](HealthReporter::shutdown) and [`resume`](HealthReporter::resume).
    shut_down: bool,
}

/// One service name: known (it has a reported status) or watched (or both). An entry that
/// is neither is removed.
struct Entry {
    /// What the application last set; `None` for a name that is only watched (unknown to
    /// clients). Kept during a shutdown, and published again by `resume`.
    reported: Option<ServingStatus>,
    /// What clients see: [`effective`] of the above.
    status: watch::Sender<ServingStatus>,
    /// Open `Watch` calls for this name (each holds a [`Subscription`]).
    watchers: usize,
}

/// The status clients see for a service given what was reported and whether the server is
/// shut down.
fn effective(reported: Option<ServingStatus>, shut_down: bool) -> ServingStatus {
    match reported {
        // health-checking.md: Watch sends SERVICE_UNKNOWN for a service it does not know.
        None => ServingStatus::ServiceUnknown,
        Some(_) if shut_down => ServingStatus::NotServing,
        Some(status) => status,
    }
}

impl Entry {
    fn new() -> Entry {
        Entry {
            reported: None,
            status: watch::Sender::new(ServingStatus::ServiceUnknown),
            watchers: 0,
        }
    }

    /// Publishes the effective status; watchers wake only if it changed.
    fn publish(&self, service: &str, shut_down: bool) {
        let status = effective(self.reported, shut_down);
        let changed = self.status.send_if_modified(|current| {
            let changed = *current != status;
            *current = status;
            changed
        });
        if changed {
            tracing::debug!(
                service,
                status = status.as_str_name(),
                watchers = self.watchers,
                "health status changed"
            );
        }
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // Nothing panics while the lock is held; if something did, the map is still whole.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The status clients see for a known service.
    pub(crate) fn status(&self, service: &str) -> Option<ServingStatus> {
        let state = self.lock();
        let entry = state.services.get(service)?;
        entry.reported?;
        Some(*entry.status.borrow())
    }

    /// A `Watch` call's view of `service`, registering the name if it is unknown so that a
    /// status set later reaches the call.
    pub(crate) fn subscribe(self: &Arc<Self>, service: &str) -> Subscription {
        let mut state = self.lock();
        let entry = state
            .services
            .entry(service.to_owned())
            .or_insert_with(Entry::new);
        entry.watchers += 1;
        let status = entry.status.subscribe();
        Subscription {
            status,
            closing: self.closing.subscribe(),
            shared: self.clone(),
            service: service.to_owned(),
        }
    }

    /// Every known service and the status clients see, or `Err(count)` if there are more
    /// than `limit`.
    pub(crate) fn snapshot(&self, limit: usize) -> Result<Vec<(String, ServingStatus)>, usize> {
        let state = self.lock();
        let known = state
            .services
            .values()
            .filter(|entry| entry.reported.is_some())
            .count();
        if known > limit {
            return Err(known);
        }
        let mut statuses = Vec::with_capacity(known);
        for (name, entry) in &state.services {
            if entry.reported.is_some() {
                statuses.push((name.clone(), *entry.status.borrow()));
            }
        }
        Ok(statuses)
    }
}

/// What a `Watch` call holds: the service's status channel and the closing signal. Dropping
/// it (the call ended, or the client cancelled and the handler was dropped) unregisters the
/// call, and forgets the name if nothing else keeps it.
pub(crate) struct Subscription {
    pub(crate) status: watch::Receiver<ServingStatus>,
    pub(crate) closing: watch::Receiver<bool>,
    shared: Arc<Shared>,
    service: String,
}

impl Drop for Subscription {
    fn drop(&mut self) {
        let mut state = self.shared.lock();
        if let Some(entry) = state.services.get_mut(&self.service) {
            entry.watchers = entry.watchers.saturating_sub(1);
            if entry.watchers == 0 && entry.reported.is_none() {
                state.services.remove(&self.service);
            }
        }
    }
}

impl Default for HealthReporter {
    fn default() -> Self {
        HealthReporter::new()
    }
}

impl HealthReporter {
    /// A reporter with one known service: the whole server (`""`), SERVING.
    ///
    /// [`health_service`](crate::health_service) gives a reporter and its service in one
    /// call.
    pub fn new() -> HealthReporter {
        let mut services = HashMap::new();
        let mut server = Entry::new();
        server.reported = Some(ServingStatus::Serving);
        server.publish("", false);
        services.insert(String::new(), server);
        HealthReporter {
            shared: Arc::new(Shared {
                state: Mutex::new(State {
                    services,
                    shut_down: false,
                }),
                closing: watch::Sender::new(false),
            }),
        }
    }

    /// The `grpc.health.v1.Health` service serving this reporter's statuses, for
    /// [`ServerBuilder::add_service`](grpc_server::ServerBuilder::add_service). Services
    /// from one reporter share its statuses (one health state for a server listening on
    /// several addresses, say).
    pub fn service(&self) -> HealthServer<HealthService> {
        HealthServer::new(HealthService {
            shared: self.shared.clone(),
        })
    }

    /// Sets `service`'s status, making the service known if it was not. `Watch` calls
    /// following it get the new status if it differs from the one they saw last.
    ///
    /// [`ServingStatus::ServiceUnknown`] means "no status": it does what
    /// [`clear_status`](HealthReporter::clear_status) does. While the reporter is
    /// [shut down](HealthReporter::shutdown) the status is recorded but clients keep seeing
    /// NOT_SERVING until [`resume`](HealthReporter::resume).
    pub fn set_serving_status(&self, service: &str, status: ServingStatus) {
        if status == ServingStatus::ServiceUnknown {
            self.clear_status(service);
            return;
        }
        let mut state = self.shared.lock();
        let shut_down = state.shut_down;
        if shut_down {
            tracing::debug!(
                service,
                status = status.as_str_name(),
                "health service shut down; status recorded for resume"
            );
        }
        if !state.services.contains_key(service) {
            state.services.insert(service.to_owned(), Entry::new());
        }
        let Some(entry) = state.services.get_mut(service) else {
            return;
        };
        entry.reported = Some(status);
        entry.publish(service, shut_down);
    }

    /// Sets `service` SERVING (see [`set_serving_status`](HealthReporter::set_serving_status)).
    pub fn set_serving(&self, service: &str) {
        self.set_serving_status(service, ServingStatus::Serving);
    }

    /// Sets `service` NOT_SERVING (see
    /// [`set_serving_status`](HealthReporter::set_serving_status)).
    pub fn set_not_serving(&self, service: &str) {
        self.set_serving_status(service, ServingStatus::NotServing);
    }

    /// Forgets `service`: `Check` answers NOT_FOUND and `List` leaves it out, and `Watch`
    /// calls following it get SERVICE_UNKNOWN (and stay open, so a later status reaches
    /// them). Works the same while shut down. Clearing `""` makes the server as a whole
    /// unknown.
    pub fn clear_status(&self, service: &str) {
        let mut state = self.shared.lock();
        let shut_down = state.shut_down;
        let Some(entry) = state.services.get_mut(service) else {
            return;
        };
        entry.reported = None;
        if entry.watchers == 0 {
            tracing::debug!(service, "health status cleared");
            state.services.remove(service);
        } else {
            entry.publish(service, shut_down);
        }
    }

    /// Marks every known service NOT_SERVING, as a server about to stop should (gRPC-Go's
    /// `Shutdown`): load balancers following `Watch` move traffic away. Until
    /// [`resume`](HealthReporter::resume), statuses set are recorded but not shown (every
    /// known service reads NOT_SERVING, services set for the first time included).
    /// `Watch` calls stay open; to also end them when the server stops, use
    /// [`shutdown_hook`](HealthReporter::shutdown_hook).
    pub fn shutdown(&self) {
        let mut state = self.shared.lock();
        if state.shut_down {
            return;
        }
        state.shut_down = true;
        tracing::debug!("health service shut down: every service NOT_SERVING");
        for (name, entry) in &state.services {
            entry.publish(name, true);
        }
    }

    /// Undoes [`shutdown`](HealthReporter::shutdown): every service shows the status last
    /// set for it again (set before or during the shutdown), and `Watch` calls are no
    /// longer ended by a [`shutdown_hook`](HealthReporter::shutdown_hook) that ran.
    pub fn resume(&self) {
        let mut state = self.shared.lock();
        self.shared.closing.send_if_modified(|closing| {
            let was = *closing;
            *closing = false;
            was
        });
        if !state.shut_down {
            return;
        }
        state.shut_down = false;
        tracing::debug!("health service resumed");
        for (name, entry) in &state.services {
            entry.publish(name, false);
        }
    }

    /// Whether [`shutdown`](HealthReporter::shutdown) is in effect.
    pub fn is_shut_down(&self) -> bool {
        self.shared.lock().shut_down
    }

    /// The status clients see for `service` (NOT_SERVING for every service while shut
    /// down), or `None` if it is unknown (`Check` answers NOT_FOUND).
    pub fn status(&self, service: &str) -> Option<ServingStatus> {
        self.shared.status(service)
    }

    /// How many `Watch` calls follow `service` now. A call that ends, or that its client
    /// cancels, stops counting.
    pub fn watchers(&self, service: &str) -> usize {
        self.shared
            .lock()
            .services
            .get(service)
            .map_or(0, |entry| entry.watchers)
    }

    /// A hook for [`ServerBuilder::on_graceful_shutdown`]: when the server's graceful
    /// shutdown starts, before connections get GOAWAY, it calls
    /// [`shutdown`](HealthReporter::shutdown) (every service NOT_SERVING, which every
    /// `Watch` call sends), and then ends each `Watch` call, once it has sent that, with
    /// UNAVAILABLE. Ending them matters: a graceful shutdown waits for the calls in flight,
    /// and a `Watch` call otherwise lasts as long as its client wants. `Watch` calls that
    /// arrive later get their status and end the same way, until
    /// [`resume`](HealthReporter::resume).
    ///
    /// ```
    /// let (reporter, health) = grpc_health::health_service();
    /// let builder = grpc_server::Server::builder()
    ///     .add_service(health)
    ///     .on_graceful_shutdown(reporter.shutdown_hook());
    /// builder.handle().shutdown_graceful(std::time::Duration::from_secs(5));
    /// assert_eq!(reporter.status(""), Some(grpc_health::ServingStatus::NotServing));
    /// ```
    ///
    /// [`ServerBuilder::on_graceful_shutdown`]: grpc_server::ServerBuilder::on_graceful_shutdown
    pub fn shutdown_hook(&self) -> impl FnOnce() + Send + 'static {
        let reporter = self.clone();
        move || {
            reporter.shutdown();
            tracing::debug!("server shutting down: ending health Watch calls");
            reporter.shared.closing.send_replace(true);
        }
    }
}

impl fmt::Debug for HealthReporter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.shared.lock();
        let mut statuses: Vec<(&str, ServingStatus)> = state
            .services
            .iter()
            .filter(|(_, entry)| entry.reported.is_some())
            .map(|(name, entry)| (name.as_str(), *entry.status.borrow()))
            .collect();
        statuses.sort_unstable();
        f.debug_struct("HealthReporter")
            .field("statuses", &statuses)
            .field("shut_down", &state.shut_down)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(reporter: &HealthReporter) -> usize {
        reporter.shared.lock().services.len()
    }

    #[test]
    fn effective_statuses() {
        assert_eq!(effective(None, false), ServingStatus::ServiceUnknown);
        assert_eq!(effective(None, true), ServingStatus::ServiceUnknown);
        assert_eq!(
            effective(Some(ServingStatus::Serving), true),
            ServingStatus::NotServing
        );
        assert_eq!(
            effective(Some(ServingStatus::Unknown), false),
            ServingStatus::Unknown
        );
    }

    #[test]
    fn watching_an_unknown_name_keeps_it_only_while_watched() {
        let reporter = HealthReporter::new();
        assert_eq!(entries(&reporter), 1);
        let first = reporter.shared.subscribe("nobody");
        let second = reporter.shared.subscribe("nobody");
        assert_eq!(*first.status.borrow(), ServingStatus::ServiceUnknown);
        assert_eq!(reporter.watchers("nobody"), 2);
        assert_eq!(reporter.status("nobody"), None);
        assert_eq!(entries(&reporter), 2);
        drop(first);
        assert_eq!(entries(&reporter), 2);
        drop(second);
        assert_eq!(reporter.watchers("nobody"), 0);
        assert_eq!(
            entries(&reporter),
            1,
            "a name nobody watches or set is gone"
        );
    }

    #[test]
    fn clearing_a_watched_service_keeps_its_channel() {
        let reporter = HealthReporter::new();
        reporter.set_serving("svc");
        let mut watch = reporter.shared.subscribe("svc");
        assert_eq!(*watch.status.borrow_and_update(), ServingStatus::Serving);
        reporter.clear_status("svc");
        assert!(watch.status.has_changed().unwrap_or(false));
        assert_eq!(
            *watch.status.borrow_and_update(),
            ServingStatus::ServiceUnknown
        );
        assert_eq!(reporter.status("svc"), None);
        reporter.set_not_serving("svc");
        assert_eq!(*watch.status.borrow_and_update(), ServingStatus::NotServing);
        reporter.clear_status("svc");
        drop(watch);
        assert_eq!(entries(&reporter), 1);
    }

    #[test]
    fn setting_the_same_status_wakes_nobody() {
        let reporter = HealthReporter::new();
        reporter.set_serving("svc");
        let watch = reporter.shared.subscribe("svc");
        reporter.set_serving("svc");
        assert!(!watch.status.has_changed().unwrap_or(true));
        reporter.set_serving_status("svc", ServingStatus::ServiceUnknown);
        assert_eq!(reporter.status("svc"), None);
        assert!(watch.status.has_changed().unwrap_or(false));
    }

    #[test]
    fn shutdown_and_resume() {
        let reporter = HealthReporter::new();
        reporter.set_serving("a");
        reporter.set_not_serving("b");
        reporter.shutdown();
        assert!(reporter.is_shut_down());
        for name in ["", "a", "b"] {
            assert_eq!(reporter.status(name), Some(ServingStatus::NotServing));
        }
        reporter.set_serving("b");
        reporter.set_serving("c");
        assert_eq!(reporter.status("b"), Some(ServingStatus::NotServing));
        assert_eq!(reporter.status("c"), Some(ServingStatus::NotServing));
        reporter.clear_status("a");
        assert_eq!(reporter.status("a"), None);
        reporter.resume();
        assert!(!reporter.is_shut_down());
        assert_eq!(reporter.status(""), Some(ServingStatus::Serving));
        assert_eq!(reporter.status("a"), None);
        assert_eq!(reporter.status("b"), Some(ServingStatus::Serving));
        assert_eq!(reporter.status("c"), Some(ServingStatus::Serving));
    }

    #[test]
    fn the_hook_closes_watches_until_resume() {
        let reporter = HealthReporter::new();
        let watch = reporter.shared.subscribe("");
        assert!(!*watch.closing.borrow());
        (reporter.shutdown_hook())();
        assert!(*watch.closing.borrow());
        assert_eq!(*watch.status.borrow(), ServingStatus::NotServing);
        reporter.resume();
        assert!(!*watch.closing.borrow());
        assert_eq!(*watch.status.borrow(), ServingStatus::Serving);
    }

    #[test]
    fn snapshot_has_known_services_and_a_limit() {
        let reporter = HealthReporter::new();
        reporter.set_not_serving("a");
        let _watch = reporter.shared.subscribe("watched-only");
        let mut snapshot = reporter.shared.snapshot(100).unwrap_or_default();
        snapshot.sort();
        assert_eq!(
            snapshot,
            [
                (String::new(), ServingStatus::Serving),
                ("a".to_owned(), ServingStatus::NotServing)
            ]
        );
        assert_eq!(reporter.shared.snapshot(1), Err(2));
        let debug = format!("{reporter:?}");
        assert!(debug.contains("NotServing") && !debug.contains("watched-only"));
    }
}
