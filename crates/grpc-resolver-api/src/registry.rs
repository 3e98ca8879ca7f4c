//! [`ResolverRegistry`]: resolver builders by scheme, per channel or process-wide.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, PoisonError, RwLock};

use crate::ResolverBuilder;

/// Resolver builders keyed by scheme. A channel looks a target's scheme up in its own
/// registry first, then in the process-wide one ([`register`]), then in its built-ins.
#[derive(Clone, Default)]
pub struct ResolverRegistry {
    builders: HashMap<String, Arc<dyn ResolverBuilder>>,
}

impl ResolverRegistry {
    /// An empty registry.
    pub fn new() -> ResolverRegistry {
        ResolverRegistry::default()
    }

    /// Adds `builder` under its scheme, replacing any builder for the same scheme.
    pub fn register(&mut self, builder: Arc<dyn ResolverBuilder>) {
        self.builders
            .insert(builder.scheme().to_ascii_lowercase(), builder);
    }

    /// The builder for `scheme` (case-insensitive), if registered.
    pub fn get(&self, scheme: &str) -> Option<Arc<dyn ResolverBuilder>> {
        self.builders.get(&scheme.to_ascii_lowercase()).cloned()
    }

    /// The registered schemes.
    pub fn schemes(&self) -> impl Iterator<Item = &str> {
        self.builders.keys().map(String::as_str)
    }
}

impl fmt::Debug for ResolverRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut schemes: Vec<_> = self.schemes().collect();
        schemes.sort_unstable();
        f.debug_struct("ResolverRegistry")
            .field("schemes", &schemes)
            .finish()
    }
}

static GLOBAL: RwLock<Option<ResolverRegistry>> = RwLock::new(None);

/// Registers `builder` process-wide: every channel built afterwards can use its scheme.
/// Call it at start-up, before building channels.
pub fn register(builder: Arc<dyn ResolverBuilder>) {
    let mut global = GLOBAL.write().unwrap_or_else(PoisonError::into_inner);
    global
        .get_or_insert_with(ResolverRegistry::new)
        .register(builder);
}

/// The process-wide builder for `scheme`, if one was [`register`]ed.
pub fn lookup(scheme: &str) -> Option<Arc<dyn ResolverBuilder>> {
    let global = GLOBAL.read().unwrap_or_else(PoisonError::into_inner);
    global.as_ref()?.get(scheme)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Resolver, ResolverOptions, Target};
    use grpc_core::Status;

    struct Named(&'static str);
    impl ResolverBuilder for Named {
        fn scheme(&self) -> &str {
            self.0
        }
        fn build(&self, _: &Target, _: ResolverOptions) -> Result<Box<dyn Resolver>, Status> {
            Err(Status::unimplemented("test builder"))
        }
    }

    #[test]
    fn lookups_are_case_insensitive_and_later_registrations_win() {
        let mut registry = ResolverRegistry::new();
        registry.register(Arc::new(Named("Test-Scheme")));
        assert!(registry.get("test-scheme").is_some());
        assert!(registry.get("TEST-SCHEME").is_some());
        assert!(registry.get("other").is_none());

        register(Arc::new(Named("global-test")));
        assert!(lookup("global-test").is_some());
        assert!(lookup("never-registered").is_none());
    }
}
