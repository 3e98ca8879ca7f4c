//! A small, non-cryptographic random source for backoff jitter and service-config canary
//! draws (no dependency for two numbers a minute).

use std::cell::Cell;
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::time::{SystemTime, UNIX_EPOCH};

thread_local! {
    static STATE: Cell<u64> = Cell::new(seed());
}

fn seed() -> u64 {
    // RandomState is seeded from the OS; mixing in the clock varies it per thread.
    let mut hasher = RandomState::new().build_hasher();
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    hasher.write_u128(nanos);
    // xorshift must not start at zero.
    hasher.finish() | 1
}

/// The next 64 random bits (xorshift64*).
pub(crate) fn next_u64() -> u64 {
    STATE.with(|state| {
        let mut x = state.get();
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        state.set(x);
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    })
}

/// A uniform draw from `[0, 1)`.
pub(crate) fn unit() -> f64 {
    // The top 53 bits fill an f64 mantissa exactly.
    (next_u64() >> 11) as f64 / (1u64 << 53) as f64
}

/// A uniform draw from `0..bound` (`bound` > 0; slight modulo bias is fine here).
pub(crate) fn below(bound: u32) -> u32 {
    (next_u64() % u64::from(bound.max(1))) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_stay_in_range_and_vary() {
        let mut seen = std::collections::HashSet::new();
        for _ in 0..1000 {
            let u = unit();
            assert!((0.0..1.0).contains(&u));
            let b = below(100);
            assert!(b < 100);
            seen.insert(b);
        }
        assert!(seen.len() > 50, "1000 draws hit only {} values", seen.len());
    }
}
