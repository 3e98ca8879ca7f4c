//! A type map carried by requests and responses, for values passed from interceptors and
//! layers to handlers (an authenticated peer, call options, ...). Not sent on the wire.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::fmt;

type AnyMap = HashMap<TypeId, Box<dyn Any + Send + Sync>>;

/// A map holding at most one value of each type. Empty extensions do not allocate.
#[derive(Default)]
pub struct Extensions {
    map: Option<Box<AnyMap>>,
}

impl Extensions {
    /// Empty extensions.
    pub fn new() -> Extensions {
        Extensions { map: None }
    }

    /// Stores `value`, returning the previous value of the same type.
    pub fn insert<T: Send + Sync + 'static>(&mut self, value: T) -> Option<T> {
        self.map
            .get_or_insert_with(Box::default)
            .insert(TypeId::of::<T>(), Box::new(value))
            .and_then(|old| old.downcast::<T>().ok().map(|b| *b))
    }

    /// The value of type `T`, if any.
    pub fn get<T: Send + Sync + 'static>(&self) -> Option<&T> {
        self.map
            .as_ref()?
            .get(&TypeId::of::<T>())
            .and_then(|b| b.downcast_ref::<T>())
    }

    /// Mutable access to the value of type `T`, if any.
    pub fn get_mut<T: Send + Sync + 'static>(&mut self) -> Option<&mut T> {
        self.map
            .as_mut()?
            .get_mut(&TypeId::of::<T>())
            .and_then(|b| b.downcast_mut::<T>())
    }

    /// Removes and returns the value of type `T`, if any.
    pub fn remove<T: Send + Sync + 'static>(&mut self) -> Option<T> {
        self.map
            .as_mut()?
            .remove(&TypeId::of::<T>())
            .and_then(|b| b.downcast::<T>().ok().map(|b| *b))
    }

    /// Moves every value of `other` in, replacing values of the same type.
    pub fn extend(&mut self, other: Extensions) {
        let Some(other) = other.map else { return };
        match &mut self.map {
            Some(map) => map.extend(*other),
            None => self.map = Some(other),
        }
    }

    /// Is there no value?
    pub fn is_empty(&self) -> bool {
        self.map.as_ref().is_none_or(|m| m.is_empty())
    }

    /// Number of values.
    pub fn len(&self) -> usize {
        self.map.as_ref().map_or(0, |m| m.len())
    }

    /// Removes every value.
    pub fn clear(&mut self) {
        self.map = None;
    }
}

impl fmt::Debug for Extensions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Extensions")
            .field("len", &self.len())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_values() {
        let mut ext = Extensions::new();
        assert!(ext.is_empty());
        assert_eq!(ext.insert(5u32), None);
        assert_eq!(ext.insert(6u32), Some(5));
        assert_eq!(ext.insert("hello"), None);
        assert_eq!(ext.get::<u32>(), Some(&6));
        if let Some(v) = ext.get_mut::<u32>() {
            *v = 7;
        }
        assert_eq!(ext.remove::<u32>(), Some(7));
        assert_eq!(ext.get::<u32>(), None);
        assert_eq!(ext.len(), 1);

        let mut other = Extensions::new();
        other.insert(1u8);
        other.insert("world");
        ext.extend(other);
        assert_eq!(ext.get::<&str>(), Some(&"world"));
        assert_eq!(ext.get::<u8>(), Some(&1));
        assert!(format!("{ext:?}").contains("len: 2"));
        ext.clear();
        assert!(ext.is_empty());
    }
}
