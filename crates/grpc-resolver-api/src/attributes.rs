//! [`Attributes`]: a cloneable type map that travels with addresses and resolver state.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

/// A map holding at most one value of each type, cheap to clone (values are shared).
///
/// Resolvers attach facts to addresses (a weight, a locality, a server name) and balancers
/// read them; neither needs to know the other's types beyond the value type itself.
///
/// ```
/// use grpc_resolver_api::Attributes;
///
/// #[derive(Debug, PartialEq)]
/// struct Zone(&'static str);
///
/// let mut attributes = Attributes::new();
/// attributes.insert(Zone("eu-west-1a"));
/// assert_eq!(attributes.get::<Zone>(), Some(&Zone("eu-west-1a")));
/// ```
#[derive(Clone, Default)]
pub struct Attributes {
    map: Option<Arc<HashMap<TypeId, Arc<dyn Any + Send + Sync>>>>,
}

impl Attributes {
    /// Empty attributes; they do not allocate.
    pub fn new() -> Attributes {
        Attributes::default()
    }

    /// Stores `value`, replacing any value of the same type.
    pub fn insert<T: Send + Sync + 'static>(&mut self, value: T) {
        let map = self.map.get_or_insert_with(Default::default);
        Arc::make_mut(map).insert(TypeId::of::<T>(), Arc::new(value));
    }

    /// Returns a copy with `value` stored (builder style).
    pub fn with<T: Send + Sync + 'static>(mut self, value: T) -> Attributes {
        self.insert(value);
        self
    }

    /// The value of type `T`, if any.
    pub fn get<T: Send + Sync + 'static>(&self) -> Option<&T> {
        self.map
            .as_ref()?
            .get(&TypeId::of::<T>())
            .and_then(|value| value.downcast_ref::<T>())
    }

    /// Whether no value is stored.
    pub fn is_empty(&self) -> bool {
        self.map.as_ref().is_none_or(|map| map.is_empty())
    }
}

impl fmt::Debug for Attributes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let len = self.map.as_ref().map_or(0, |map| map.len());
        f.debug_struct("Attributes").field("len", &len).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clones_share_values_and_inserts_do_not_leak_into_clones() {
        let mut a = Attributes::new();
        assert!(a.is_empty());
        a.insert(7u32);
        let b = a.clone().with("weight");
        assert_eq!(a.get::<u32>(), Some(&7));
        assert_eq!(
            a.get::<&str>(),
            None,
            "the clone's insert stays in the clone"
        );
        assert_eq!(b.get::<&str>(), Some(&"weight"));
        assert_eq!(b.get::<u32>(), Some(&7));
    }
}
