//! [`ManualResolver`]: a resolver the test (or the application) drives by hand.

use std::fmt;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use grpc_resolver_api::{
    Resolver, ResolverBuilder, ResolverOptions, ResolverState, ResolverUpdater, Status, Target,
};

/// A resolver whose updates come from whoever holds the handle: tests push states and errors
/// at any time with [`update_state`](ManualResolver::update_state) and
/// [`report_error`](ManualResolver::report_error).
///
/// The handle is cheap to clone and is itself the [`ResolverBuilder`] for its scheme: register
/// it with a channel, then keep a clone to drive it. Every resolver built from it (a channel
/// rebuilds its resolver when it leaves idle) receives the updates; the latest state is
/// replayed to resolvers built later. [`resolve_now_count`](ManualResolver::resolve_now_count)
/// says how often the channel asked for re-resolution. It is not registered by
/// [`register_builtins`](crate::register_builtins).
///
/// ```
/// use grpc_resolver::ManualResolver;
/// use grpc_resolver_api::{
///     Address, ResolverBuilder, ResolverOptions, ResolverState, ResolverUpdate, ResolverUpdater,
///     Target,
/// };
/// use std::sync::mpsc;
///
/// let manual = ManualResolver::new("test");
/// manual.update_state(ResolverState::from_addresses([Address::from(
///     "127.0.0.1:50051".parse::<std::net::SocketAddr>().unwrap(),
/// )]));
///
/// let (tx, rx) = mpsc::channel();
/// let updater = ResolverUpdater::new(move |update| tx.send(update).is_ok());
/// let target = Target::parse("test:///anything").unwrap();
/// let mut resolver = manual.build(&target, ResolverOptions::new(updater)).unwrap();
/// // The state pushed before the build is replayed.
/// assert!(matches!(rx.try_recv(), Ok(ResolverUpdate::State(_))));
/// resolver.resolve_now();
/// assert_eq!(manual.resolve_now_count(), 1);
/// ```
#[derive(Clone)]
pub struct ManualResolver {
    inner: Arc<Inner>,
}

struct Inner {
    scheme: String,
    resolve_now: AtomicUsize,
    builds: AtomicUsize,
    next_id: AtomicU64,
    shared: Mutex<Shared>,
}

#[derive(Default)]
struct Shared {
    /// The last state pushed, replayed to resolvers built later.
    last_state: Option<ResolverState>,
    /// The resolvers alive now, by id.
    updaters: Vec<(u64, ResolverUpdater)>,
}

impl ManualResolver {
    /// A manual resolver for `scheme` (lowercased), with no state yet.
    pub fn new(scheme: impl Into<String>) -> ManualResolver {
        ManualResolver {
            inner: Arc::new(Inner {
                scheme: scheme.into().to_ascii_lowercase(),
                resolve_now: AtomicUsize::new(0),
                builds: AtomicUsize::new(0),
                next_id: AtomicU64::new(0),
                shared: Mutex::new(Shared::default()),
            }),
        }
    }

    /// Sends `state` to every live resolver built from this handle and remembers it for those
    /// built later. Returns how many resolvers it reached.
    pub fn update_state(&self, state: ResolverState) -> usize {
        let updaters = {
            let mut shared = self.inner.lock();
            shared.last_state = Some(state.clone());
            shared.updaters.clone()
        };
        self.send_all(updaters, |updater| updater.update_state(state.clone()))
    }

    /// Sends `error` to every live resolver built from this handle (it is not replayed to
    /// resolvers built later). Returns how many resolvers it reached.
    pub fn report_error(&self, error: Status) -> usize {
        let updaters = self.inner.lock().updaters.clone();
        self.send_all(updaters, |updater| updater.report_error(error.clone()))
    }

    /// How many times a resolver built from this handle was asked to `resolve_now`.
    pub fn resolve_now_count(&self) -> usize {
        self.inner.resolve_now.load(Ordering::Relaxed)
    }

    /// How many resolvers were built from this handle so far.
    pub fn build_count(&self) -> usize {
        self.inner.builds.load(Ordering::Relaxed)
    }

    /// How many resolvers built from this handle are alive (built and not yet dropped, and
    /// whose channel has not gone away).
    pub fn live_resolvers(&self) -> usize {
        self.inner.lock().updaters.len()
    }

    /// Runs `send` for each updater outside the lock (an updater may call back into this
    /// handle), then forgets the updaters whose channel is gone.
    fn send_all(
        &self,
        updaters: Vec<(u64, ResolverUpdater)>,
        send: impl Fn(&ResolverUpdater) -> bool,
    ) -> usize {
        let gone: Vec<u64> = updaters
            .iter()
            .filter(|(_, updater)| !send(updater))
            .map(|(id, _)| *id)
            .collect();
        if !gone.is_empty() {
            self.inner
                .lock()
                .updaters
                .retain(|(id, _)| !gone.contains(id));
        }
        updaters.len() - gone.len()
    }
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, Shared> {
        self.shared.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl fmt::Debug for ManualResolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ManualResolver")
            .field("scheme", &self.inner.scheme)
            .field("resolve_now_count", &self.resolve_now_count())
            .field("live_resolvers", &self.live_resolvers())
            .finish()
    }
}

impl ResolverBuilder for ManualResolver {
    fn scheme(&self) -> &str {
        &self.inner.scheme
    }

    fn build(
        &self,
        _target: &Target,
        options: ResolverOptions,
    ) -> Result<Box<dyn Resolver>, Status> {
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        self.inner.builds.fetch_add(1, Ordering::Relaxed);
        let replay = {
            let mut shared = self.inner.lock();
            shared.updaters.push((id, options.updater.clone()));
            shared.last_state.clone()
        };
        if let Some(state) = replay {
            if !options.updater.update_state(state) {
                self.inner.lock().updaters.retain(|(other, _)| *other != id);
            }
        }
        Ok(Box::new(BuiltManualResolver {
            inner: self.inner.clone(),
            id,
        }))
    }
}

/// One resolver built from a [`ManualResolver`]; dropping it stops its updates.
struct BuiltManualResolver {
    inner: Arc<Inner>,
    id: u64,
}

impl Resolver for BuiltManualResolver {
    fn resolve_now(&mut self) {
        self.inner.resolve_now.fetch_add(1, Ordering::Relaxed);
    }
}

impl Drop for BuiltManualResolver {
    fn drop(&mut self) {
        let id = self.id;
        self.inner.lock().updaters.retain(|(other, _)| *other != id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use grpc_core::Code;
    use grpc_resolver_api::{Address, ResolverUpdate};
    use std::sync::atomic::AtomicBool;
    use std::sync::mpsc;

    fn state(port: u16) -> ResolverState {
        ResolverState::from_addresses([Address::from(std::net::SocketAddr::from((
            [127, 0, 0, 1],
            port,
        )))])
    }

    fn port_of(update: ResolverUpdate) -> Result<u16, Box<dyn std::error::Error>> {
        match update {
            ResolverUpdate::State(state) => match state.addresses[0].addr {
                grpc_resolver_api::Addr::Tcp(addr) => Ok(addr.port()),
                ref other => Err(format!("unexpected address {other}").into()),
            },
            ResolverUpdate::Error(status) => Err(format!("unexpected error {status:?}").into()),
        }
    }

    type Built = (Box<dyn Resolver>, mpsc::Receiver<ResolverUpdate>);

    fn build(manual: &ManualResolver) -> Result<Built, Box<dyn std::error::Error>> {
        let (tx, rx) = mpsc::channel();
        let updater = ResolverUpdater::new(move |update| tx.send(update).is_ok());
        let target = Target::parse("manual:///x").ok_or("a URI")?;
        let resolver = manual.build(&target, ResolverOptions::new(updater))?;
        Ok((resolver, rx))
    }

    #[test]
    fn updates_reach_every_live_resolver_and_state_is_replayed()
    -> Result<(), Box<dyn std::error::Error>> {
        let manual = ManualResolver::new("Manual");
        assert_eq!(manual.scheme(), "manual");
        let (_first, rx1) = build(&manual)?;
        assert!(rx1.try_recv().is_err(), "nothing to replay yet");

        assert_eq!(manual.update_state(state(1)), 1);
        assert_eq!(port_of(rx1.try_recv()?)?, 1);

        let (second, rx2) = build(&manual)?;
        assert_eq!(port_of(rx2.try_recv()?)?, 1);
        assert_eq!(manual.build_count(), 2);
        assert_eq!(manual.live_resolvers(), 2);

        assert_eq!(manual.report_error(Status::unavailable("down")), 2);
        for rx in [&rx1, &rx2] {
            match rx.try_recv() {
                Ok(ResolverUpdate::Error(status)) => assert_eq!(status.code(), Code::Unavailable),
                other => return Err(format!("expected an error, got {other:?}").into()),
            }
        }

        drop(second);
        assert_eq!(manual.live_resolvers(), 1);
        assert_eq!(manual.update_state(state(2)), 1);
        assert_eq!(port_of(rx1.try_recv()?)?, 2);
        assert!(rx2.try_recv().is_err(), "a dropped resolver gets nothing");

        // The replay is the latest state, not the error.
        let (_third, rx3) = build(&manual)?;
        assert_eq!(port_of(rx3.try_recv()?)?, 2);
        Ok(())
    }

    #[test]
    fn resolve_now_is_counted_across_resolvers() -> Result<(), Box<dyn std::error::Error>> {
        let manual = ManualResolver::new("manual");
        let (mut a, _rx_a) = build(&manual)?;
        let (mut b, _rx_b) = build(&manual)?;
        a.resolve_now();
        b.resolve_now();
        a.resolve_now();
        assert_eq!(manual.clone().resolve_now_count(), 3);
        Ok(())
    }

    #[test]
    fn resolvers_whose_channel_is_gone_are_forgotten() -> Result<(), Box<dyn std::error::Error>> {
        let manual = ManualResolver::new("manual");
        let open = Arc::new(AtomicBool::new(true));
        let flag = open.clone();
        let updater = ResolverUpdater::new(move |_| flag.load(Ordering::Relaxed));
        let target = Target::parse("manual:///x").ok_or("a URI")?;
        let _resolver = manual.build(&target, ResolverOptions::new(updater))?;
        assert_eq!(manual.update_state(state(1)), 1);
        open.store(false, Ordering::Relaxed);
        assert_eq!(manual.update_state(state(2)), 0);
        assert_eq!(manual.live_resolvers(), 0);
        Ok(())
    }

    #[test]
    fn an_updater_may_call_back_into_the_handle() -> Result<(), Box<dyn std::error::Error>> {
        let manual = ManualResolver::new("manual");
        let again = manual.clone();
        let calls = Arc::new(AtomicUsize::new(0));
        let seen = calls.clone();
        let updater = ResolverUpdater::new(move |_| {
            seen.fetch_add(1, Ordering::Relaxed);
            // Would deadlock if updates were sent under the handle's lock.
            let _ = again.live_resolvers();
            true
        });
        let target = Target::parse("manual:///x").ok_or("a URI")?;
        let _resolver = manual.build(&target, ResolverOptions::new(updater))?;
        manual.update_state(state(1));
        manual.report_error(Status::unavailable("x"));
        assert_eq!(calls.load(Ordering::Relaxed), 2);
        Ok(())
    }
}
