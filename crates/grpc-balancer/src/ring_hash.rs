//! `ring_hash_experimental`: consistent hashing over a ring of subchannels (gRFC A42, with
//! gRFC A76's request hash header and endpoint hash keys, gRFC A61's simplified picker and
//! gRFC A117's exit-idle behaviour).
//!
//! # The ring
//!
//! Every unique address gets a number of entries on a ring of 64-bit hashes in proportion
//! to its weight ([`RingHashWeight`], default 1). An entry's position is XXH64 (seed 0) of
//! `"<key>_<n>"`, where the key is the address's [`RingHashKey`] if it has one (A76,
//! "Explicitly setting the endpoint hash key") or else the address as text (`127.0.0.1:80`),
//! and `n` counts that address's entries. Ring size follows A42 "Ring Construction": the
//! smallest size at or above `minRingSize` that gives the lightest address a whole number
//! of entries, clamped to `maxRingSize`, both capped by the builder's
//! [ring size cap](RingHashBuilder::with_ring_size_cap) (default 4096).
//!
//! # Picking
//!
//! A call's hash is, in order: a [`RequestHash`] in its extensions; else, when the config
//! names a `requestHashHeader`, XXH64 of that header's value (several values joined with
//! `,`); else a random hash (A76). The picker finds the first ring entry at or after the
//! hash and walks the ring from there (A61 "Ring Hash", A76): a READY subchannel is picked;
//! an IDLE one is asked to connect and the call queues (with a random hash the walk goes
//! on looking for a READY one, starting at most one connection); a CONNECTING one queues
//! the call; TRANSIENT_FAILURE ones are skipped. If the walk ends without a pick the call
//! fails with UNAVAILABLE.
//!
//! # Connections and state
//!
//! Subchannels are created IDLE and connected only when a pick lands on them (A42
//! "Subchannel State Handling"); TRANSIENT_FAILURE is sticky until READY, and a READY
//! subchannel that loses its connection counts as IDLE. The policy's state follows A42
//! "Aggregated Connectivity State" (see [`aggregate`]). While that state is
//! TRANSIENT_FAILURE or CONNECTING and nothing is connecting, the policy connects one IDLE
//! subchannel itself so it recovers without picks (A42, A61); `exit_idle` does the same
//! from a random position (A117).

use std::fmt;
use std::sync::Arc;

use grpc_balancer_api::{
    Address, ChannelController, ConnectivityState, FailPicker, LbConfig, LbPolicy, LbPolicyBuilder,
    LbPolicyOptions, Pick, PickInfo, PickResult, Picker, RequestHash, ResolverState, Status,
    Subchannel, SubchannelState,
};

use crate::rng;
use crate::subchannel_list::SubchannelList;

/// An address's weight on the ring (an [`Address`] attribute; default 1). An address with
/// weight 3 gets three times the entries, and so about three times the keys, of one with
/// weight 1. Zero counts as 1.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RingHashWeight(pub u32);

/// An address's endpoint hash key (an [`Address`] attribute, gRFC A76): when set and not
/// empty, the address's ring positions are hashed from this key instead of the address,
/// so a backend that comes back on a new IP keeps its place on the ring.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct RingHashKey(pub String);

/// Default `minRingSize` (gRFC A42).
const DEFAULT_MIN_RING_SIZE: u64 = 1024;
/// Default `maxRingSize` (gRFC A42).
const DEFAULT_MAX_RING_SIZE: u64 = 4096;
/// The largest `minRingSize` or `maxRingSize` a config may name (8M, as Envoy; gRFC A42).
const MAX_RING_SIZE_LIMIT: u64 = 8 * 1024 * 1024;
/// Default client-side cap on the ring size (gRFC A42: 4096).
const DEFAULT_RING_SIZE_CAP: u64 = 4096;

/// The parsed `ring_hash_experimental` config.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RingHashConfig {
    /// `minRingSize` (default 1024).
    pub min_ring_size: u64,
    /// `maxRingSize` (default 4096).
    pub max_ring_size: u64,
    /// `requestHashHeader` (gRFC A76), lowercased; `None` when unset or empty.
    pub request_hash_header: Option<String>,
}

impl Default for RingHashConfig {
    fn default() -> Self {
        RingHashConfig {
            min_ring_size: DEFAULT_MIN_RING_SIZE,
            max_ring_size: DEFAULT_MAX_RING_SIZE,
            request_hash_header: None,
        }
    }
}

impl RingHashConfig {
    /// Parses the JSON object under `ring_hash_experimental` in `loadBalancingConfig`.
    ///
    /// Sizes are protobuf-JSON uint64s (numbers or decimal strings); 0 means the default.
    /// Rejected: sizes above 8M, `minRingSize > maxRingSize`, a `requestHashHeader` that is
    /// not a valid header name or names a binary (`-bin`) header.
    pub fn from_json(json: &serde_json::Value) -> Result<RingHashConfig, String> {
        let object = json
            .as_object()
            .ok_or("ring_hash_experimental: config must be a JSON object")?;
        let mut config = RingHashConfig::default();
        if let Some(size) = ring_size(object.get("minRingSize"), "minRingSize")? {
            config.min_ring_size = size;
        }
        if let Some(size) = ring_size(object.get("maxRingSize"), "maxRingSize")? {
            config.max_ring_size = size;
        }
        if config.min_ring_size > config.max_ring_size {
            return Err(format!(
                "ring_hash_experimental: minRingSize ({}) is larger than maxRingSize ({})",
                config.min_ring_size, config.max_ring_size
            ));
        }
        match object.get("requestHashHeader") {
            None | Some(serde_json::Value::Null) => {}
            Some(serde_json::Value::String(name)) if name.is_empty() => {}
            Some(serde_json::Value::String(name)) => {
                let name = name.to_ascii_lowercase();
                check_header_name(&name)?;
                config.request_hash_header = Some(name);
            }
            Some(_) => {
                return Err("ring_hash_experimental: requestHashHeader must be a string".into());
            }
        }
        Ok(config)
    }
}

/// A ring size field: `None` when absent or 0 (the default applies).
fn ring_size(value: Option<&serde_json::Value>, field: &str) -> Result<Option<u64>, String> {
    let size = match value {
        None | Some(serde_json::Value::Null) => return Ok(None),
        Some(serde_json::Value::Number(n)) => n.as_u64(),
        Some(serde_json::Value::String(s)) => s.parse::<u64>().ok(),
        Some(_) => None,
    };
    match size {
        None => Err(format!(
            "ring_hash_experimental: {field} must be a non-negative integer"
        )),
        Some(0) => Ok(None),
        Some(size) if size > MAX_RING_SIZE_LIMIT => Err(format!(
            "ring_hash_experimental: {field} ({size}) is above the limit of {MAX_RING_SIZE_LIMIT}"
        )),
        Some(size) => Ok(Some(size)),
    }
}

/// gRFC A76: the header must be a valid (lowercase) header name and not binary.
fn check_header_name(name: &str) -> Result<(), String> {
    let valid = name
        .bytes()
        .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'z' | b'-' | b'_' | b'.'));
    if !valid {
        return Err(format!(
            "ring_hash_experimental: requestHashHeader {name:?} is not a valid header name"
        ));
    }
    if name.ends_with("-bin") {
        return Err(format!(
            "ring_hash_experimental: requestHashHeader {name:?} is a binary header"
        ));
    }
    Ok(())
}

/// Builds `ring_hash_experimental` policies.
#[derive(Clone, Debug)]
pub struct RingHashBuilder {
    ring_size_cap: u64,
}

impl Default for RingHashBuilder {
    fn default() -> Self {
        RingHashBuilder {
            ring_size_cap: DEFAULT_RING_SIZE_CAP,
        }
    }
}

impl RingHashBuilder {
    /// A builder with the default ring size cap (4096).
    pub fn new() -> RingHashBuilder {
        RingHashBuilder::default()
    }

    /// The client-side cap on ring sizes (gRFC A42: a config's `minRingSize` and
    /// `maxRingSize` above it are treated as the cap). At most 8M; default 4096.
    pub fn with_ring_size_cap(mut self, cap: u64) -> RingHashBuilder {
        self.ring_size_cap = cap.clamp(1, MAX_RING_SIZE_LIMIT);
        self
    }
}

impl RingHashBuilder {
    fn policy(&self) -> RingHash {
        RingHash {
            cap: self.ring_size_cap,
            config: RingHashConfig::default(),
            list: SubchannelList::new(),
            ring: Arc::from(Vec::new()),
        }
    }
}

impl LbPolicyBuilder for RingHashBuilder {
    fn name(&self) -> &str {
        crate::RING_HASH
    }

    fn build(&self, _options: LbPolicyOptions) -> Box<dyn LbPolicy> {
        Box::new(self.policy())
    }

    fn parse_config(&self, config: &serde_json::Value) -> Result<Option<LbConfig>, String> {
        RingHashConfig::from_json(config).map(|config| Some(LbConfig::new(config)))
    }
}

// ---------------------------------------------------------------------------------------
// XXH64.

const PRIME_1: u64 = 0x9E37_79B1_85EB_CA87;
const PRIME_2: u64 = 0xC2B2_AE3D_27D4_EB4F;
const PRIME_3: u64 = 0x1656_67B1_9E37_79F9;
const PRIME_4: u64 = 0x85EB_CA77_C2B2_AE63;
const PRIME_5: u64 = 0x27D4_EB2F_1656_67C5;

fn read_u64(bytes: &[u8]) -> u64 {
    let mut word = [0u8; 8];
    word.copy_from_slice(&bytes[..8]);
    u64::from_le_bytes(word)
}

fn read_u32(bytes: &[u8]) -> u32 {
    let mut word = [0u8; 4];
    word.copy_from_slice(&bytes[..4]);
    u32::from_le_bytes(word)
}

/// One accumulator step: mix an 8-byte lane into `acc`.
fn lane(acc: u64, input: u64) -> u64 {
    acc.wrapping_add(input.wrapping_mul(PRIME_2))
        .rotate_left(31)
        .wrapping_mul(PRIME_1)
}

/// Folds an accumulator into the running hash after the stripe loop.
fn fold(hash: u64, acc: u64) -> u64 {
    (hash ^ lane(0, acc))
        .wrapping_mul(PRIME_1)
        .wrapping_add(PRIME_4)
}

/// XXH64 of `data` with seed 0: the hash gRFC A42 specifies for ring positions and request
/// hashes (`XXH64()` of github.com/Cyan4973/xxHash). Use it to compute a [`RequestHash`]
/// that lands where a `requestHashHeader` with the same value would.
///
/// ```
/// assert_eq!(grpc_balancer::xxh64(b"abc"), 0x44BC_2CF5_AD77_0999);
/// ```
pub fn xxh64(data: &[u8]) -> u64 {
    xxh64_with_seed(data, 0)
}

fn xxh64_with_seed(data: &[u8], seed: u64) -> u64 {
    let mut rest = data;
    let mut hash = if data.len() >= 32 {
        let mut acc = [
            seed.wrapping_add(PRIME_1).wrapping_add(PRIME_2),
            seed.wrapping_add(PRIME_2),
            seed,
            seed.wrapping_sub(PRIME_1),
        ];
        while rest.len() >= 32 {
            for (i, acc) in acc.iter_mut().enumerate() {
                *acc = lane(*acc, read_u64(&rest[i * 8..]));
            }
            rest = &rest[32..];
        }
        let mut hash = acc[0]
            .rotate_left(1)
            .wrapping_add(acc[1].rotate_left(7))
            .wrapping_add(acc[2].rotate_left(12))
            .wrapping_add(acc[3].rotate_left(18));
        for acc in acc {
            hash = fold(hash, acc);
        }
        hash
    } else {
        seed.wrapping_add(PRIME_5)
    };
    hash = hash.wrapping_add(data.len() as u64);
    while rest.len() >= 8 {
        hash = (hash ^ lane(0, read_u64(rest)))
            .rotate_left(27)
            .wrapping_mul(PRIME_1)
            .wrapping_add(PRIME_4);
        rest = &rest[8..];
    }
    if rest.len() >= 4 {
        hash = (hash ^ u64::from(read_u32(rest)).wrapping_mul(PRIME_1))
            .rotate_left(23)
            .wrapping_mul(PRIME_2)
            .wrapping_add(PRIME_3);
        rest = &rest[4..];
    }
    for &byte in rest {
        hash = (hash ^ u64::from(byte).wrapping_mul(PRIME_5))
            .rotate_left(11)
            .wrapping_mul(PRIME_1);
    }
    // Avalanche.
    hash ^= hash >> 33;
    hash = hash.wrapping_mul(PRIME_2);
    hash ^= hash >> 29;
    hash = hash.wrapping_mul(PRIME_3);
    hash ^ (hash >> 32)
}

// ---------------------------------------------------------------------------------------
// Ring construction.

/// One point on the ring: its hash and the index of its subchannel in the policy's list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct RingEntry {
    hash: u64,
    index: u32,
}

/// Builds the ring for `endpoints` (hash key, weight) per gRFC A42 "Ring Construction"
/// (the algorithm Envoy uses): weights are normalized; the ring gets `scale` entries in
/// all, where `scale` is the smallest size >= `min_size` giving the lightest endpoint a
/// whole number of entries, clamped to `max_size`; endpoints then take entries in turn
/// until their cumulative share of `scale` is covered.
fn build_ring(endpoints: &[(String, u64)], min_size: u64, max_size: u64) -> Vec<RingEntry> {
    let total: u64 = endpoints.iter().map(|(_, weight)| weight).sum();
    let Some(lightest) = endpoints.iter().map(|(_, weight)| *weight).min() else {
        return Vec::new();
    };
    if total == 0 {
        return Vec::new();
    }
    // Exact integer arithmetic where it matters, so equal weights give exactly equal
    // counts: the lightest endpoint's entries are `ceil(min_size * lightest / total)`, and
    // `scale = that * total / lightest`.
    let lightest_entries =
        (u128::from(min_size) * u128::from(lightest)).div_ceil(u128::from(total));
    let scale = (lightest_entries as f64 * total as f64 / lightest as f64).min(max_size as f64);
    let mut ring = Vec::with_capacity(scale.ceil() as usize + endpoints.len());
    let mut key = String::new();
    let mut cumulative = 0u64;
    let mut placed = 0u64;
    for (index, (hash_key, weight)) in endpoints.iter().enumerate() {
        cumulative += weight;
        let target = scale * cumulative as f64 / total as f64;
        let mut n = 0u64;
        while (placed as f64) < target {
            key.clear();
            use std::fmt::Write as _;
            let _ = write!(key, "{hash_key}_{n}");
            ring.push(RingEntry {
                hash: xxh64(key.as_bytes()),
                index: index as u32,
            });
            n += 1;
            placed += 1;
        }
    }
    ring.sort_unstable_by_key(|entry| (entry.hash, entry.index));
    ring
}

/// The hash key and weight of an address.
fn hash_key_and_weight(address: &Address) -> (String, u64) {
    let key = match address.attributes.get::<RingHashKey>() {
        Some(RingHashKey(key)) if !key.is_empty() => key.clone(),
        _ => address.addr.to_string(),
    };
    let weight = address
        .attributes
        .get::<RingHashWeight>()
        .map_or(1, |w| u64::from(w.0.max(1)));
    (key, weight)
}

// ---------------------------------------------------------------------------------------
// The policy.

struct RingHash {
    cap: u64,
    config: RingHashConfig,
    list: SubchannelList<()>,
    /// Shared with every picker built on it; rebuilt on resolver updates.
    ring: Arc<[RingEntry]>,
}

/// gRFC A42 "Aggregated Connectivity State", over the effective (sticky-TF) states:
/// 1. any READY: READY; 2. two or more TRANSIENT_FAILURE: TRANSIENT_FAILURE;
/// 3. any CONNECTING: CONNECTING; 4. one TRANSIENT_FAILURE among several: CONNECTING;
/// 5. any IDLE: IDLE; 6. otherwise TRANSIENT_FAILURE.
fn aggregate(states: impl IntoIterator<Item = ConnectivityState>) -> ConnectivityState {
    let (mut total, mut ready, mut failed, mut connecting, mut idle) = (0, 0, 0, 0, 0);
    for state in states {
        total += 1;
        match state {
            ConnectivityState::Ready => ready += 1,
            ConnectivityState::TransientFailure | ConnectivityState::Shutdown => failed += 1,
            ConnectivityState::Connecting => connecting += 1,
            ConnectivityState::Idle => idle += 1,
        }
    }
    if ready > 0 {
        ConnectivityState::Ready
    } else if failed >= 2 {
        ConnectivityState::TransientFailure
    } else if connecting > 0 || (failed == 1 && total > 1) {
        ConnectivityState::Connecting
    } else if idle > 0 {
        ConnectivityState::Idle
    } else {
        ConnectivityState::TransientFailure
    }
}

impl RingHash {
    fn state(&self) -> ConnectivityState {
        aggregate(self.list.entries().iter().map(|entry| entry.state()))
    }

    fn publish(&self, channel: &mut dyn ChannelController) {
        let state = self.state();
        let error = self
            .list
            .last_error()
            .cloned()
            .unwrap_or_else(|| Status::unavailable("ring_hash: no subchannel is reachable"));
        let picker = RingHashPicker {
            ring: self.ring.clone(),
            endpoints: self
                .list
                .entries()
                .iter()
                .map(|entry| (entry.subchannel().clone(), entry.state()))
                .collect(),
            header: self.config.request_hash_header.as_deref().map(Arc::from),
            error: Status::unavailable(format!(
                "ring_hash: no reachable subchannel; last error: {}",
                error.message()
            )),
        };
        channel.update_picker(state, Arc::new(picker));
    }

    /// gRFC A42/A61: while the policy reports TRANSIENT_FAILURE or CONNECTING without
    /// picks to drive it, keep one connection attempt going: if no subchannel is
    /// CONNECTING, connect the first IDLE one at or after `start` (in list order).
    fn keep_one_connecting(&self, start: usize) {
        let entries = self.list.entries();
        if entries
            .iter()
            .any(|entry| entry.reported_state() == ConnectivityState::Connecting)
        {
            return;
        }
        let n = entries.len();
        if let Some(entry) = (0..n)
            .map(|i| &entries[(start + i) % n])
            .find(|entry| entry.reported_state() == ConnectivityState::Idle)
        {
            entry.subchannel().connect();
        }
    }
}

impl LbPolicy for RingHash {
    fn resolver_update(
        &mut self,
        state: &ResolverState,
        config: Option<&LbConfig>,
        channel: &mut dyn ChannelController,
    ) -> Result<(), Status> {
        let mut config = config
            .and_then(|c| c.downcast_ref::<RingHashConfig>())
            .cloned()
            .unwrap_or_default();
        config.min_ring_size = config.min_ring_size.min(self.cap);
        config.max_ring_size = config.max_ring_size.min(self.cap);
        self.config = config;

        // Subchannels of addresses that stay are kept (with their states); dropped ones go
        // when the old picker does.
        drop(self.list.update(&state.addresses, channel, |_| ()));
        if self.list.is_empty() {
            self.ring = Arc::from(Vec::new());
            let error = Status::unavailable("ring_hash: the resolver returned no addresses");
            channel.update_picker(
                ConnectivityState::TransientFailure,
                Arc::new(FailPicker(error.clone())),
            );
            return Err(error);
        }
        let endpoints: Vec<(String, u64)> = self
            .list
            .entries()
            .iter()
            .map(|entry| hash_key_and_weight(entry.address()))
            .collect();
        self.ring = Arc::from(build_ring(
            &endpoints,
            self.config.min_ring_size,
            self.config.max_ring_size,
        ));
        if matches!(
            self.state(),
            ConnectivityState::TransientFailure | ConnectivityState::Connecting
        ) {
            self.keep_one_connecting(0);
        }
        self.publish(channel);
        Ok(())
    }

    fn resolver_error(&mut self, error: &Status, channel: &mut dyn ChannelController) {
        if self.list.is_empty() {
            channel.update_picker(
                ConnectivityState::TransientFailure,
                Arc::new(FailPicker(error.clone())),
            );
        }
    }

    fn subchannel_update(
        &mut self,
        subchannel: &Subchannel,
        state: &SubchannelState,
        channel: &mut dyn ChannelController,
    ) {
        let Some(transition) = self.list.update_state(subchannel, state) else {
            return;
        };
        if transition.lost_ready() {
            channel.request_resolution();
        }
        let aggregate = self.state();
        if transition.failed() {
            if aggregate == ConnectivityState::TransientFailure {
                channel.request_resolution();
            }
            if matches!(
                aggregate,
                ConnectivityState::TransientFailure | ConnectivityState::Connecting
            ) {
                self.keep_one_connecting(transition.index + 1);
            }
        }
        // A42: the picker holds every subchannel's state, so every change publishes one.
        self.publish(channel);
    }

    fn exit_idle(&mut self, channel: &mut dyn ChannelController) {
        // gRFC A117: connect when asked to, starting from a random place so that many
        // clients told to connect at once spread over the backends.
        if self.list.is_empty() || self.state() == ConnectivityState::Ready {
            return;
        }
        self.keep_one_connecting(rng::below(self.list.len()));
        let _ = channel;
    }
}

impl fmt::Debug for RingHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RingHash")
            .field("config", &self.config)
            .field("subchannels", &self.list.len())
            .field("ring", &self.ring.len())
            .finish()
    }
}

// ---------------------------------------------------------------------------------------
// The picker.

struct RingHashPicker {
    ring: Arc<[RingEntry]>,
    /// Per list index: the subchannel and its effective state when the picker was built.
    endpoints: Box<[(Subchannel, ConnectivityState)]>,
    header: Option<Arc<str>>,
    /// What a pick fails with when no subchannel is usable.
    error: Status,
}

impl RingHashPicker {
    /// The call's hash, and whether it is random (A76).
    fn request_hash(&self, info: &PickInfo<'_>) -> (u64, bool) {
        if let Some(RequestHash(hash)) = info.extensions.get::<RequestHash>() {
            return (*hash, false);
        }
        if let Some(header) = &self.header {
            if let Some(hash) = header_hash(info, header) {
                return (hash, false);
            }
        }
        (rng::next_u64(), true)
    }
}

/// XXH64 of the header's values joined with `,` (gRFC A76); `None` when it has no value
/// or only an empty one.
fn header_hash(info: &PickInfo<'_>, header: &str) -> Option<u64> {
    let mut values = info.metadata.get_all(header);
    let first = values.next()?;
    match values.next() {
        // The common case, one value: hashed in place.
        None if first.is_empty() => None,
        None => Some(xxh64(first.as_bytes())),
        Some(second) => {
            let mut joined = String::with_capacity(first.len() + second.len() + 1);
            joined.push_str(first);
            joined.push(',');
            joined.push_str(second);
            for value in values {
                joined.push(',');
                joined.push_str(value);
            }
            Some(xxh64(joined.as_bytes()))
        }
    }
}

impl Picker for RingHashPicker {
    fn pick(&self, info: &PickInfo<'_>) -> PickResult {
        if self.ring.is_empty() {
            return PickResult::Fail(self.error.clone());
        }
        let (hash, random) = self.request_hash(info);
        // The first entry at or after the hash, wrapping around.
        let first = self.ring.partition_point(|entry| entry.hash < hash) % self.ring.len();
        let mut requested_connection = false;
        let (head, tail) = self.ring.split_at(first);
        for entry in tail.iter().chain(head) {
            let Some((subchannel, state)) = self.endpoints.get(entry.index as usize) else {
                continue;
            };
            match state {
                ConnectivityState::Ready => {
                    return PickResult::Pick(Pick::new(subchannel.clone()));
                }
                _ if requested_connection => {}
                ConnectivityState::Idle => {
                    subchannel.connect();
                    // A76: a random hash must not delay the call while another subchannel
                    // is READY, and starts at most one connection.
                    if !random {
                        return PickResult::Queue;
                    }
                    requested_connection = true;
                }
                ConnectivityState::Connecting => return PickResult::Queue,
                ConnectivityState::TransientFailure | ConnectivityState::Shutdown => {}
            }
        }
        if requested_connection {
            PickResult::Queue
        } else {
            PickResult::Fail(self.error.clone())
        }
    }
}

impl fmt::Debug for RingHashPicker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RingHashPicker")
            .field("ring", &self.ring.len())
            .field("subchannels", &self.endpoints.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{HashMap, HashSet};

    use grpc_balancer_api::{Extensions, Metadata};
    use serde_json::json;

    use super::*;
    use crate::test_util::TestResult;
    use crate::test_util::{FakeController, addresses, connects, pick, picked_address};
    use ConnectivityState::*;

    fn config(json: serde_json::Value) -> TestResult<LbConfig> {
        let parsed = RingHashBuilder::new().parse_config(&json);
        match parsed {
            Ok(Some(config)) => Ok(config),
            other => Err(format!("config {json} did not parse: {other:?}").into()),
        }
    }

    fn resolve(
        policy: &mut RingHash,
        channel: &mut FakeController,
        addresses: Vec<Address>,
        config: Option<&LbConfig>,
    ) {
        let state = ResolverState {
            addresses,
            ..ResolverState::default()
        };
        let result = policy.resolver_update(&state, config, channel);
        assert!(result.is_ok(), "{result:?}");
    }

    /// A policy over `ports` (with optional weights), every subchannel READY.
    fn ready_policy(
        ports: &[u16],
        weights: Option<&[u32]>,
    ) -> TestResult<(RingHash, FakeController)> {
        let mut policy = RingHashBuilder::new().policy();
        let mut channel = FakeController::default();
        let mut list = addresses(ports);
        if let Some(weights) = weights {
            for (address, weight) in list.iter_mut().zip(weights) {
                *address = address.clone().with_attribute(RingHashWeight(*weight));
            }
        }
        resolve(&mut policy, &mut channel, list, None);
        for port in ports {
            channel.set_state(&mut policy, &format!("127.0.0.1:{port}"), Ready)?;
        }
        assert_eq!(channel.state(), Some(Ready));
        Ok((policy, channel))
    }

    fn pick_with(picker: &dyn Picker, metadata: &Metadata, extensions: &Extensions) -> PickResult {
        picker.pick(&PickInfo {
            path: "/test.Service/Method",
            metadata,
            extensions,
        })
    }

    fn pick_hash(picker: &dyn Picker, hash: u64) -> TestResult<String> {
        let mut extensions = Extensions::new();
        extensions.insert(RequestHash(hash));
        picked_address(pick_with(picker, &Metadata::new(), &extensions))
    }

    /// Where each of `keys` goes.
    fn placements(picker: &dyn Picker, keys: usize) -> TestResult<Vec<String>> {
        (0..keys)
            .map(|key| pick_hash(picker, xxh64(format!("key-{key}").as_bytes())))
            .collect()
    }

    #[test]
    fn xxh64_matches_the_reference_vectors() -> TestResult {
        // Reference values from the xxHash library (XXH64, seed 0 unless noted). The inputs
        // cover every code path: empty, tail bytes only, 4-byte and 8-byte tails, and the
        // 32-byte stripe loop.
        let cases: [(&[u8], u64); 7] = [
            (b"", 0xEF46_DB37_51D8_E999),
            (b"a", 0xD24E_C4F1_A98C_6E5B),
            (b"abc", 0x44BC_2CF5_AD77_0999),
            (b"127.0.0.1:8080_0", 0xF673_A43B_9624_FA24),
            (
                b"Nobody inspects the spammish repetition",
                0xFBCE_A83C_8A37_8BF1,
            ),
            (
                b"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdefXYZ",
                0x5B15_F946_6433_95E4,
            ),
            (&[0u8; 0], 0xEF46_DB37_51D8_E999),
        ];
        for (input, expected) in cases {
            assert_eq!(
                xxh64(input),
                expected,
                "{:?}",
                String::from_utf8_lossy(input)
            );
        }
        let bytes: Vec<u8> = (0..103).collect();
        assert_eq!(xxh64(&bytes), 0xAB3E_7961_FD61_8891);
        assert_eq!(
            xxh64_with_seed(b"abc", 0x9E37_79B1_85EB_CA8D),
            0x7E49_C9D7_E85A_4AB6
        );
        Ok(())
    }

    #[test]
    fn config_defaults_and_values() -> TestResult {
        let parse = |json: serde_json::Value| RingHashConfig::from_json(&json);
        assert_eq!(parse(json!({})), Ok(RingHashConfig::default()));
        let config = parse(json!({
            "minRingSize": "10", "maxRingSize": 20, "requestHashHeader": "X-Session-Id"
        }));
        assert_eq!(
            config,
            Ok(RingHashConfig {
                min_ring_size: 10,
                max_ring_size: 20,
                request_hash_header: Some("x-session-id".into()),
            })
        );
        // Zero and empty mean "unset".
        let config = parse(json!({"minRingSize": 0, "maxRingSize": "0", "requestHashHeader": ""}));
        assert_eq!(config, Ok(RingHashConfig::default()));
        assert_eq!(
            parse(json!({"maxRingSize": 8_388_608})).map(|c| c.max_ring_size),
            Ok(MAX_RING_SIZE_LIMIT)
        );
        Ok(())
    }

    #[test]
    fn config_errors() -> TestResult {
        for bad in [
            json!([]),
            json!({"minRingSize": -1}),
            json!({"minRingSize": 1.5}),
            json!({"minRingSize": "ten"}),
            json!({"minRingSize": true}),
            json!({"maxRingSize": 8_388_609}),
            json!({"minRingSize": "8388609", "maxRingSize": 8_388_608}),
            json!({"minRingSize": 100, "maxRingSize": 10}),
            json!({"minRingSize": 5000}),
            json!({"requestHashHeader": "session id"}),
            json!({"requestHashHeader": "trace-bin"}),
            json!({"requestHashHeader": ":path"}),
            json!({"requestHashHeader": 7}),
        ] {
            assert!(
                RingHashConfig::from_json(&bad).is_err(),
                "{bad} was accepted"
            );
        }
        Ok(())
    }

    #[test]
    fn ring_follows_weights_exactly() -> TestResult {
        let endpoints = |weights: &[u64]| -> Vec<(String, u64)> {
            weights
                .iter()
                .enumerate()
                .map(|(i, w)| (format!("10.0.0.{i}:80"), *w))
                .collect()
        };
        let counts = |ring: &[RingEntry]| -> Vec<usize> {
            let mut counts = vec![0; 3];
            for entry in ring {
                counts[entry.index as usize] += 1;
            }
            counts
        };
        // Equal weights: ceil(1024 / 3) = 342 entries each.
        let ring = build_ring(&endpoints(&[1, 1, 1]), 1024, 4096);
        assert_eq!(counts(&ring), [342, 342, 342]);
        assert!(ring.windows(2).all(|w| w[0].hash <= w[1].hash), "sorted");
        // 1:2:3: the lightest gets ceil(1024 / 6) = 171, the others in proportion.
        let ring = build_ring(&endpoints(&[1, 2, 3]), 1024, 4096);
        assert_eq!(counts(&ring), [171, 342, 513]);
        // Clamped to the maximum: the shares stay proportional, rounded.
        let ring = build_ring(&endpoints(&[1, 2, 3]), 4096, 600);
        assert_eq!(counts(&ring), [100, 200, 300]);
        Ok(())
    }

    #[test]
    fn ring_size_stays_within_bounds() -> TestResult {
        for n in 1..=40u64 {
            for weights in [vec![1; n as usize], (1..=n).collect(), {
                let mut skewed = vec![1; n as usize];
                skewed[0] = 1_000_000;
                skewed
            }] {
                let endpoints: Vec<(String, u64)> = weights
                    .iter()
                    .enumerate()
                    .map(|(i, w)| (format!("host-{i}"), *w))
                    .collect();
                let ring = build_ring(&endpoints, 1024, 4096);
                assert!((1024..=4096).contains(&ring.len()), "{n}: {}", ring.len());
                let ring = build_ring(&endpoints, 1, 10);
                assert!(ring.len() <= 10, "{n}: {}", ring.len());
            }
        }
        // The client-side cap (4096 by default) bounds what a config asks for.
        let mut channel = FakeController::default();
        let mut policy = RingHashBuilder::new().policy();
        let big = config(json!({"minRingSize": 8_388_608, "maxRingSize": 8_388_608}))?;
        resolve(&mut policy, &mut channel, addresses(&[1, 2, 3]), Some(&big));
        assert_eq!(policy.ring.len(), 4096);
        let mut policy = RingHashBuilder::new().with_ring_size_cap(10_000).policy();
        resolve(&mut policy, &mut channel, addresses(&[1, 2, 3]), Some(&big));
        assert_eq!(policy.ring.len(), 10_000);
        // Defaults: 1024 <= size <= 4096.
        let mut policy = RingHashBuilder::new().policy();
        resolve(&mut policy, &mut channel, addresses(&[1, 2, 3]), None);
        assert_eq!(policy.ring.len(), 3 * 342);
        Ok(())
    }

    #[test]
    fn the_same_key_goes_to_the_same_backend() -> TestResult {
        let ports: Vec<u16> = (1..=5).collect();
        let (mut policy, mut channel) = ready_policy(&ports, None)?;
        let before = placements(&*channel.picker()?, 1000)?;
        assert_eq!(
            before,
            placements(&*channel.picker()?, 1000)?,
            "same picker"
        );
        // A new picker (after an unrelated state change and back) places keys the same.
        channel.set_state(&mut policy, "127.0.0.1:3", Idle)?;
        channel.set_state(&mut policy, "127.0.0.1:3", Ready)?;
        assert_eq!(before, placements(&*channel.picker()?, 1000)?);
        // A resolver update with the same addresses in another order builds the same ring.
        let mut shuffled = addresses(&ports);
        shuffled.reverse();
        resolve(&mut policy, &mut channel, shuffled, None);
        let after = placements(&*channel.picker()?, 1000)?;
        assert_eq!(before, after);
        let used: HashSet<&String> = before.iter().collect();
        assert_eq!(used.len(), 5, "every backend gets keys");
        Ok(())
    }

    #[test]
    fn removing_one_backend_moves_about_one_nth_of_the_keys() -> TestResult {
        const KEYS: usize = 10_000;
        let n = 10usize;
        let ports: Vec<u16> = (1..=n as u16).collect();
        let (_, channel) = ready_policy(&ports, None)?;
        let before = placements(&*channel.picker()?, KEYS)?;
        let (_, channel) = ready_policy(&ports[..n - 1], None)?;
        let after = placements(&*channel.picker()?, KEYS)?;
        let removed = format!("127.0.0.1:{n}");
        let moved = before.iter().zip(&after).filter(|(b, a)| b != a).count();
        let on_removed = before.iter().filter(|b| **b == removed).count();
        assert!(on_removed > 0);
        assert!(
            moved < 2 * KEYS / n,
            "{moved} of {KEYS} keys moved when 1 of {n} backends left"
        );
        // Every key of the removed backend moved; with A42's ring the others keep most of
        // theirs (their entries stay where they were, but each gets a few more now that
        // the ring is shared by fewer backends, and those take some keys).
        assert!(after.iter().all(|a| *a != removed));
        let stayed = before
            .iter()
            .zip(&after)
            .filter(|(b, a)| **b != removed && b == a)
            .count();
        assert!(stayed > (KEYS - on_removed) * 8 / 10, "{stayed}");
        Ok(())
    }

    #[test]
    fn removing_a_backend_keeps_the_others_keys_when_their_entries_do_not_change() -> TestResult {
        // With these weights the lightest backend (weight 1) gets ceil(1024 / total) = 2
        // entries before and after the removal, so every remaining backend keeps exactly
        // its entries: only the removed backend's keys move, and all of them do.
        const KEYS: usize = 10_000;
        let n = 10usize;
        let ports: Vec<u16> = (1..=n as u16).collect();
        let mut weights = vec![100u32; n];
        weights[0] = 1;
        let (policy, channel) = ready_policy(&ports, Some(&weights))?;
        let before = placements(&*channel.picker()?, KEYS)?;
        let ring_before = policy.ring.len();
        let (policy, channel) = ready_policy(&ports[..n - 1], Some(&weights[..n - 1]))?;
        let after = placements(&*channel.picker()?, KEYS)?;
        assert_eq!(
            ring_before - policy.ring.len(),
            200,
            "only the removed entries went"
        );
        let removed = format!("127.0.0.1:{n}");
        let mut moved = 0;
        for (b, a) in before.iter().zip(&after) {
            if *b == removed {
                assert_ne!(a, b);
                moved += 1;
            } else {
                assert_eq!(a, b, "a key of a remaining backend moved");
            }
        }
        assert!(moved > 0 && moved < 2 * KEYS / n, "{moved} moved");
        Ok(())
    }

    #[test]
    fn weights_skew_the_keys() -> TestResult {
        let (_, channel) = ready_policy(&[1, 2, 3], Some(&[1, 2, 3]))?;
        let mut counts: HashMap<String, usize> = HashMap::new();
        for placement in placements(&*channel.picker()?, 12_000)? {
            *counts.entry(placement).or_default() += 1;
        }
        let share = |port: u16| counts[&format!("127.0.0.1:{port}")] as f64 / 12_000.0;
        // Expected 1/6, 2/6, 3/6 (ring placement adds noise of a few percent).
        assert!((0.10..0.24).contains(&share(1)), "{counts:?}");
        assert!((0.25..0.42).contains(&share(2)), "{counts:?}");
        assert!((0.40..0.60).contains(&share(3)), "{counts:?}");
        assert!(share(1) < share(2) && share(2) < share(3), "{counts:?}");
        Ok(())
    }

    #[test]
    fn endpoint_hash_keys_place_backends_independently_of_their_address() -> TestResult {
        let keyed = |ports: &[u16]| -> Vec<Address> {
            addresses(ports)
                .into_iter()
                .enumerate()
                .map(|(i, a)| a.with_attribute(RingHashKey(format!("member-{i}"))))
                .collect()
        };
        let mut channel = FakeController::default();
        let mut policy = RingHashBuilder::new().policy();
        resolve(&mut policy, &mut channel, keyed(&[1, 2, 3]), None);
        let ring_a = policy.ring.clone();
        // Same keys, new addresses: the ring is the same.
        resolve(&mut policy, &mut channel, keyed(&[7, 8, 9]), None);
        assert_eq!(&*ring_a, &*policy.ring);
        Ok(())
    }

    #[test]
    fn header_hashing() -> TestResult {
        let mut channel = FakeController::default();
        let mut policy = RingHashBuilder::new().policy();
        let ports: Vec<u16> = (1..=8).collect();
        let with_header = config(json!({"requestHashHeader": "Session-Id"}))?;
        resolve(
            &mut policy,
            &mut channel,
            addresses(&ports),
            Some(&with_header),
        );
        for port in &ports {
            channel.set_state(&mut policy, &format!("127.0.0.1:{port}"), Ready)?;
        }
        let picker = channel.picker()?;
        let no_extensions = Extensions::new();
        for key in ["alice", "bob", "carol", "dave"] {
            let mut metadata = Metadata::new();
            metadata.insert("session-id", key)?;
            let by_header = picked_address(pick_with(&*picker, &metadata, &no_extensions))?;
            assert_eq!(by_header, pick_hash(&*picker, xxh64(key.as_bytes()))?);
            // A RequestHash in the extensions wins over the header.
            let mut extensions = Extensions::new();
            extensions.insert(RequestHash(xxh64(b"someone else")));
            assert_eq!(
                picked_address(pick_with(&*picker, &metadata, &extensions))?,
                pick_hash(&*picker, xxh64(b"someone else"))?
            );
        }
        // Several values are joined with ",".
        let mut metadata = Metadata::new();
        metadata.append("session-id", "a")?;
        metadata.append("session-id", "b")?;
        metadata.append("session-id", "c")?;
        assert_eq!(
            picked_address(pick_with(&*picker, &metadata, &no_extensions))?,
            pick_hash(&*picker, xxh64(b"a,b,c"))?
        );
        // No header (or an empty one): a random hash, so calls spread out.
        let mut empty = Metadata::new();
        empty.insert("session-id", "")?;
        let mut seen = HashSet::new();
        for i in 0..200 {
            let metadata = if i % 2 == 0 { &empty } else { &Metadata::new() };
            seen.insert(picked_address(pick_with(
                &*picker,
                metadata,
                &no_extensions,
            ))?);
        }
        assert!(seen.len() >= 4, "{seen:?}");
        Ok(())
    }

    #[test]
    fn picker_connects_lazily_and_walks_the_ring() -> TestResult {
        let mut channel = FakeController::default();
        let mut policy = RingHashBuilder::new().policy();
        resolve(&mut policy, &mut channel, addresses(&[1, 2, 3]), None);
        assert_eq!(channel.state(), Some(Idle), "A42: a new ring_hash is IDLE");
        assert!(
            channel
                .subchannels
                .iter()
                .map(connects)
                .collect::<TestResult<Vec<_>>>()?
                .iter()
                .all(|&n| n == 0),
            "no eager connects"
        );

        let key = xxh64(b"k");
        let mut extensions = Extensions::new();
        extensions.insert(RequestHash(key));
        let metadata = Metadata::new();
        let picker = channel.picker()?;
        // IDLE: connect that one subchannel and queue.
        assert!(matches!(
            pick_with(&*picker, &metadata, &extensions),
            PickResult::Queue
        ));
        let mut connected = Vec::new();
        for s in &channel.subchannels {
            if connects(s)? == 1 {
                connected.push(s);
            }
        }
        assert_eq!(connected.len(), 1);
        let first = connected[0].address().to_string();

        channel.set_state(&mut policy, &first, Connecting)?;
        assert_eq!(channel.state(), Some(Connecting));
        assert!(matches!(
            pick_with(&*channel.picker()?, &metadata, &extensions),
            PickResult::Queue
        ));

        // It fails: the next subchannel on the ring is asked to connect; the call queues.
        channel.set_state(&mut policy, &first, TransientFailure)?;
        assert_eq!(
            channel.state(),
            Some(Connecting),
            "rule 4: one TF among several"
        );
        let result = pick_with(&*channel.picker()?, &metadata, &extensions);
        assert!(matches!(result, PickResult::Queue));
        let mut second: Vec<String> = Vec::new();
        for s in &channel.subchannels {
            if s.address().to_string() != first && connects(s)? >= 1 {
                second.push(s.address().to_string());
            }
        }
        assert!(!second.is_empty());
        let second = second[0].clone();
        channel.set_state(&mut policy, &second, Ready)?;
        assert_eq!(channel.state(), Some(Ready));
        assert_eq!(
            picked_address(pick_with(&*channel.picker()?, &metadata, &extensions))?,
            second
        );

        // Sticky TF: the first one retrying (CONNECTING) is still skipped.
        channel.set_state(&mut policy, &first, Connecting)?;
        assert_eq!(
            picked_address(pick_with(&*channel.picker()?, &metadata, &extensions))?,
            second
        );
        // Once READY again it takes its keys back.
        channel.set_state(&mut policy, &first, Ready)?;
        assert_eq!(
            picked_address(pick_with(&*channel.picker()?, &metadata, &extensions))?,
            first
        );
        Ok(())
    }

    #[test]
    fn random_hash_prefers_any_ready_and_connects_at_most_one() -> TestResult {
        let mut channel = FakeController::default();
        let mut policy = RingHashBuilder::new().policy();
        let with_header = config(json!({"requestHashHeader": "session-id"}))?;
        resolve(
            &mut policy,
            &mut channel,
            addresses(&[1, 2, 3, 4]),
            Some(&with_header),
        );
        let picker = channel.picker()?;
        // Everything IDLE: one connection attempt per pick, and the call queues.
        assert!(matches!(pick(&*picker), PickResult::Queue));
        let total: usize = channel
            .subchannels
            .iter()
            .map(connects)
            .sum::<TestResult<usize>>()?;
        assert_eq!(total, 1);
        // One READY subchannel: calls without the header go there without queueing.
        channel.set_state(&mut policy, "127.0.0.1:3", Ready)?;
        for _ in 0..50 {
            assert_eq!(picked_address(pick(&*channel.picker()?))?, "127.0.0.1:3");
        }
        Ok(())
    }

    #[test]
    fn aggregation_follows_a42() -> TestResult {
        assert_eq!(
            aggregate([Ready, TransientFailure, TransientFailure]),
            Ready
        );
        assert_eq!(
            aggregate([TransientFailure, TransientFailure, Connecting]),
            TransientFailure
        );
        assert_eq!(aggregate([TransientFailure, Connecting, Idle]), Connecting);
        assert_eq!(aggregate([TransientFailure, Idle, Idle]), Connecting);
        assert_eq!(aggregate([Idle, Idle]), Idle);
        assert_eq!(aggregate([TransientFailure]), TransientFailure);
        assert_eq!(aggregate([]), TransientFailure);
        Ok(())
    }

    #[test]
    fn failures_keep_one_connection_attempt_going_and_all_failed_fails_picks() -> TestResult {
        let mut channel = FakeController::default();
        let mut policy = RingHashBuilder::new().policy();
        resolve(&mut policy, &mut channel, addresses(&[1, 2, 3]), None);
        let s = |port: u16| channel.subchannel(&format!("127.0.0.1:{port}"));
        let (one, two, three) = (s(1)?, s(2)?, s(3)?);
        channel.set_state(&mut policy, "127.0.0.1:1", Connecting)?;
        channel.set_state(&mut policy, "127.0.0.1:1", TransientFailure)?;
        // Nothing else was connecting, so the policy starts the next IDLE one itself.
        assert_eq!((connects(&two)?, connects(&three)?), (1, 0));
        channel.set_state(&mut policy, "127.0.0.1:2", Connecting)?;
        channel.set_state(&mut policy, "127.0.0.1:2", TransientFailure)?;
        assert_eq!(channel.state(), Some(TransientFailure), "rule 2: two TF");
        assert_eq!(connects(&three)?, 1);
        assert!(channel.resolution_requests >= 1);
        channel.set_state(&mut policy, "127.0.0.1:3", Connecting)?;
        channel.set_state(&mut policy, "127.0.0.1:3", TransientFailure)?;
        match pick(&*channel.picker()?) {
            PickResult::Fail(status) => {
                assert_eq!(
                    status.code(),
                    grpc_balancer_api::Status::unavailable("").code()
                );
                assert!(
                    status.message().contains("connection refused"),
                    "{status:?}"
                );
            }
            other => return Err(format!("expected a failure, got {other:?}").into()),
        }
        // A backend comes back: READY, and picks go there.
        channel.set_state(&mut policy, "127.0.0.1:2", Ready)?;
        assert_eq!(channel.state(), Some(Ready));
        assert_eq!(picked_address(pick(&*channel.picker()?))?, "127.0.0.1:2");
        drop(one);
        Ok(())
    }

    #[test]
    fn exit_idle_connects_one_subchannel() -> TestResult {
        let mut channel = FakeController::default();
        let mut policy = RingHashBuilder::new().policy();
        resolve(&mut policy, &mut channel, addresses(&[1, 2, 3, 4]), None);
        policy.exit_idle(&mut channel);
        let total: usize = channel
            .subchannels
            .iter()
            .map(connects)
            .sum::<TestResult<usize>>()?;
        assert_eq!(total, 1);
        let mut connecting = None;
        for s in &channel.subchannels {
            if connects(s)? == 1 {
                connecting = Some(s.address().to_string());
                break;
            }
        }
        let connecting = connecting.ok_or("no subchannel is connecting")?;
        channel.set_state(&mut policy, &connecting, Connecting)?;
        assert_eq!(channel.state(), Some(Connecting));
        // While something connects, another exit_idle starts nothing more.
        policy.exit_idle(&mut channel);
        let total: usize = channel
            .subchannels
            .iter()
            .map(connects)
            .sum::<TestResult<usize>>()?;
        assert_eq!(total, 1);
        Ok(())
    }

    #[test]
    fn no_addresses_is_an_error_and_resolver_errors_fail_only_an_empty_policy() -> TestResult {
        let mut channel = FakeController::default();
        let mut policy = RingHashBuilder::new().policy();
        let result = policy.resolver_update(&ResolverState::default(), None, &mut channel);
        assert!(result.is_err());
        assert_eq!(channel.state(), Some(TransientFailure));
        policy.resolver_error(&Status::unavailable("dns down"), &mut channel);
        assert!(
            matches!(pick(&*channel.picker()?), PickResult::Fail(s) if s.message() == "dns down")
        );

        resolve(&mut policy, &mut channel, addresses(&[1]), None);
        let published = channel.pickers.len();
        policy.resolver_error(&Status::unavailable("dns down"), &mut channel);
        assert_eq!(channel.pickers.len(), published, "keeps its working picker");
        Ok(())
    }
}
