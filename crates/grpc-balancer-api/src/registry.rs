//! [`LbPolicyRegistry`]: policy builders by name, per channel or process-wide.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, PoisonError, RwLock};

use crate::LbPolicyBuilder;

/// Policy builders keyed by name. A channel looks a name up in its own registry first,
/// then in the process-wide one ([`register`]), then in its built-ins.
#[derive(Clone, Default)]
pub struct LbPolicyRegistry {
    builders: HashMap<String, Arc<dyn LbPolicyBuilder>>,
}

impl LbPolicyRegistry {
    /// An empty registry.
    pub fn new() -> LbPolicyRegistry {
        LbPolicyRegistry::default()
    }

    /// Adds `builder` under its name, replacing any builder of the same name.
    pub fn register(&mut self, builder: Arc<dyn LbPolicyBuilder>) {
        self.builders.insert(builder.name().to_owned(), builder);
    }

    /// The builder named `name`, if registered.
    pub fn get(&self, name: &str) -> Option<Arc<dyn LbPolicyBuilder>> {
        self.builders.get(name).cloned()
    }

    /// The registered names.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.builders.keys().map(String::as_str)
    }
}

impl fmt::Debug for LbPolicyRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut names: Vec<_> = self.names().collect();
        names.sort_unstable();
        f.debug_struct("LbPolicyRegistry")
            .field("names", &names)
            .finish()
    }
}

static GLOBAL: RwLock<Option<LbPolicyRegistry>> = RwLock::new(None);

/// Registers `builder` process-wide: every channel built afterwards can select it by name.
pub fn register(builder: Arc<dyn LbPolicyBuilder>) {
    let mut global = GLOBAL.write().unwrap_or_else(PoisonError::into_inner);
    global
        .get_or_insert_with(LbPolicyRegistry::new)
        .register(builder);
}

/// The process-wide builder named `name`, if one was [`register`]ed.
pub fn lookup(name: &str) -> Option<Arc<dyn LbPolicyBuilder>> {
    let global = GLOBAL.read().unwrap_or_else(PoisonError::into_inner);
    global.as_ref()?.get(name)
}
