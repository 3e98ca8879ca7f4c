//! Load-balancing policies for the grpc-rust stack, each registered by its service-config
//! name:
//!
//! | policy | module | spec |
//! |---|---|---|
//! | `pick_first` | `pick_first.rs` | gRFC A62 |
//! | `round_robin` | `round_robin.rs` | gRPC load-balancing doc |
//! | `weighted_round_robin` | `weighted_round_robin.rs` | gRFC A58 (ORCA per-call reports) |
//! | `least_request_experimental` | `least_request.rs` | gRFC A48 |
//! | `ring_hash_experimental` | `ring_hash.rs` | gRFC A42 / A76 |
//!
//! They implement `grpc-balancer-api`'s [`LbPolicy`](grpc_balancer_api::LbPolicy); a
//! channel (`grpc-client`) runs them. [`register_builtins`] adds them all to a registry.
//!
//! ```
//! use grpc_balancer_api::LbPolicyRegistry;
//!
//! let mut registry = LbPolicyRegistry::new();
//! grpc_balancer::register_builtins(&mut registry);
//! assert!(registry.get(grpc_balancer::ROUND_ROBIN).is_some());
//! assert!(registry.get("pick_first").is_some());
//! ```

use std::sync::Arc;

use grpc_balancer_api::LbPolicyRegistry;

mod least_request;
mod pick_first;
mod ring_hash;
mod round_robin;
mod subchannel_list;
mod weighted_round_robin;

#[cfg(test)]
mod test_util;

pub use least_request::{LeastRequestBuilder, LeastRequestConfig};
pub use pick_first::{PickFirstBuilder, PickFirstConfig};
pub use ring_hash::{RingHashBuilder, RingHashConfig, RingHashKey, RingHashWeight, xxh64};
pub use round_robin::RoundRobinBuilder;
pub use weighted_round_robin::{WeightedRoundRobinBuilder, WeightedRoundRobinConfig};

/// The name of the `pick_first` policy (gRFC A62), the default when a service config names
/// none.
pub const PICK_FIRST: &str = "pick_first";
/// The name of the `round_robin` policy.
pub const ROUND_ROBIN: &str = "round_robin";
/// The name of the least-request policy (gRFC A48); experimental, hence the suffix.
pub const LEAST_REQUEST: &str = "least_request_experimental";
/// The name of the ring-hash policy (gRFC A42); experimental, hence the suffix.
pub const RING_HASH: &str = "ring_hash_experimental";
/// The name of the weighted round-robin policy (gRFC A58).
pub const WEIGHTED_ROUND_ROBIN: &str = "weighted_round_robin";

/// Registers every built-in policy in `registry` (replacing builders of the same names):
/// [`PICK_FIRST`], [`ROUND_ROBIN`], [`LEAST_REQUEST`], [`RING_HASH`] and
/// [`WEIGHTED_ROUND_ROBIN`].
pub fn register_builtins(registry: &mut LbPolicyRegistry) {
    registry.register(Arc::new(PickFirstBuilder::new()));
    registry.register(Arc::new(RoundRobinBuilder::new()));
    registry.register(Arc::new(LeastRequestBuilder::new()));
    registry.register(Arc::new(RingHashBuilder::new()));
    registry.register(Arc::new(WeightedRoundRobinBuilder::new()));
}

/// A small, fast, per-thread pseudo-random generator (xorshift64*) for picking: random
/// start indexes, power-of-choices sampling, address shuffling. Not for anything that
/// needs unpredictability; it only needs to differ between threads and processes, so it
/// is seeded from the standard library's per-process random hash keys.
pub(crate) mod rng {
    use std::cell::Cell;
    use std::collections::hash_map::RandomState;
    use std::hash::{BuildHasher, Hasher};

    thread_local! {
        static STATE: Cell<u64> = Cell::new(seed());
    }

    fn seed() -> u64 {
        let mut hasher = RandomState::new().build_hasher();
        hasher.write_usize(&hasher as *const _ as usize);
        // xorshift has one bad state: zero.
        hasher.finish() | 1
    }

    /// The next pseudo-random number of this thread.
    pub(crate) fn next_u64() -> u64 {
        STATE.with(|state| {
            let mut x = state.get();
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            state.set(x);
            x.wrapping_mul(0x2545_f491_4f6c_dd1d)
        })
    }

    /// A number in `0..n` (0 when `n` is 0), without modulo bias worth mentioning
    /// (multiply-shift).
    pub(crate) fn below(n: usize) -> usize {
        ((u128::from(next_u64()) * n as u128) >> 64) as usize
    }

    /// Shuffles `items` uniformly (Fisher-Yates).
    pub(crate) fn shuffle<T>(items: &mut [T]) {
        for i in (1..items.len()).rev() {
            items.swap(i, below(i + 1));
        }
    }

    /// Makes this thread's sequence repeatable (tests only).
    #[cfg(test)]
    pub(crate) fn seed_for_test(seed: u64) {
        STATE.with(|state| state.set(seed | 1));
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn below_stays_in_range_and_covers_it() {
            seed_for_test(42);
            let mut seen = [0usize; 7];
            for _ in 0..7000 {
                let i = below(7);
                assert!(i < 7);
                seen[i] += 1;
            }
            assert!(seen.iter().all(|&n| n > 700), "{seen:?}");
            assert_eq!(below(0), 0);
        }

        #[test]
        fn shuffle_is_a_permutation_and_moves_things() {
            seed_for_test(7);
            let original: Vec<u32> = (0..10).collect();
            let mut moved = false;
            for _ in 0..10 {
                let mut items = original.clone();
                shuffle(&mut items);
                let mut sorted = items.clone();
                sorted.sort_unstable();
                assert_eq!(sorted, original);
                moved |= items != original;
            }
            assert!(moved);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtins_are_registered_under_their_names() {
        let mut registry = LbPolicyRegistry::new();
        register_builtins(&mut registry);
        let all = [
            LEAST_REQUEST,
            PICK_FIRST,
            RING_HASH,
            ROUND_ROBIN,
            WEIGHTED_ROUND_ROBIN,
        ];
        let mut names: Vec<&str> = registry.names().collect();
        names.sort_unstable();
        assert_eq!(names, all);
        for name in all {
            let builder = registry.get(name);
            assert_eq!(builder.map(|b| b.name().to_owned()), Some(name.to_owned()));
        }
    }
}
