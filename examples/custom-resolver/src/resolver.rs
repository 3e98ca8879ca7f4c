//! The `backends:///NAME` resolver. It depends on `grpc-resolver-api` alone.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};

use grpc_resolver_api::{Address, Resolver, ResolverBuilder, ResolverOptions};
use grpc_resolver_api::{ResolverState, ResolverUpdater, Status, Target};

/// Service name -> backend addresses. The application edits it; resolvers read it.
#[derive(Clone, Default)]
pub(crate) struct Directory(Arc<Mutex<HashMap<String, Vec<SocketAddr>>>>);

impl Directory {
    pub(crate) fn set(&self, name: &str, backends: Vec<SocketAddr>) {
        let mut map = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        map.insert(name.to_owned(), backends);
    }
}

/// Makes a resolver per channel for targets `backends:///NAME`.
pub(crate) struct BackendsResolverBuilder(pub(crate) Directory);

impl ResolverBuilder for BackendsResolverBuilder {
    fn scheme(&self) -> &str {
        "backends"
    }

    fn build(&self, target: &Target, opts: ResolverOptions) -> Result<Box<dyn Resolver>, Status> {
        let name = target.endpoint().to_owned();
        if name.is_empty() {
            return Err(Status::invalid_argument("want backends:///NAME"));
        }
        let mut resolver = BackendsResolver(name, self.0.clone(), opts.updater);
        resolver.resolve_now(); // The first state, at once.
        Ok(Box::new(resolver))
    }
}

struct BackendsResolver(String, Directory, ResolverUpdater);

impl Resolver for BackendsResolver {
    /// The channel calls this when its policy asks for re-resolution (round_robin does when
    /// a connection is lost). A resolver with a live source (a file watch, a registry
    /// stream) would also push updates from a task of its own; this one reads when asked.
    fn resolve_now(&mut self) {
        let BackendsResolver(name, directory, updater) = self;
        let map = directory.0.lock().unwrap_or_else(PoisonError::into_inner);
        let backends = map.get(name.as_str()).cloned().unwrap_or_default();
        println!("   [resolver] {name} -> {backends:?}");
        if backends.is_empty() {
            updater.report_error(Status::unavailable(format!("no backends for {name}")));
        } else {
            let addresses = backends.into_iter().map(Address::from);
            updater.update_state(ResolverState::from_addresses(addresses));
        }
    }
}
