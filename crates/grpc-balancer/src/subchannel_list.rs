//! [`SubchannelList`]: the per-address subchannel bookkeeping that list-based policies
//! (`pick_first`, `round_robin`, `least_request`, `weighted_round_robin`, `ring_hash`)
//! share.
//!
//! A list holds one [`SubchannelEntry`] per unique address ([`Addr`]), in the resolver's
//! order. It knows nothing about picking; a policy drives it:
//!
//! 1. On every resolver update, [`SubchannelList::update`] reconciles the list with the
//!    new addresses: duplicates are dropped (first occurrence wins), subchannels of
//!    addresses still present are **kept** (with their state and per-entry data, so a
//!    re-resolution does not reconnect anything), new addresses get a new IDLE subchannel,
//!    and removed addresses' entries are handed back to the caller (dropping them drops
//!    the subchannels).
//! 2. On every `subchannel_update`, [`SubchannelList::update_state`] records the new state
//!    and reports the [`Transition`]; updates for subchannels no longer in the list
//!    (late reports from removed ones) return `None` and must be ignored.
//! 3. The policy reads the result: [`aggregate_state`](SubchannelList::aggregate_state),
//!    [`ready`](SubchannelList::ready), [`last_error`](SubchannelList::last_error), and
//!    starts connections with [`connect_idle`](SubchannelList::connect_idle) (or per
//!    entry, for policies that connect lazily, like `ring_hash`).
//!
//! # Sticky TRANSIENT_FAILURE
//!
//! Each entry has two states: the one the subchannel last *reported*
//! ([`SubchannelEntry::reported_state`]) and the *effective* one
//! ([`SubchannelEntry::state`]) that applies gRPC's sticky-TF rule (gRFC A62, "Use
//! sticky-TF by default"; the same rule round_robin applies per endpoint): once a
//! subchannel reports TRANSIENT_FAILURE it counts as TRANSIENT_FAILURE until it reports
//! READY, even while it is CONNECTING again on its own backoff or IDLE. Without this a
//! dead backend would flap TF -> CONNECTING -> TF and keep the aggregate state CONNECTING,
//! so calls would queue instead of failing fast.
//!
//! # Per-entry data
//!
//! The type parameter `T` is the policy's own per-subchannel state (an outstanding-request
//! counter, a weight). It is created once, when an address first appears, and survives
//! resolver updates that keep the address; use `()` when there is none.

use std::collections::{HashMap, HashSet};

use grpc_balancer_api::{
    Addr, Address, ChannelController, ConnectivityState, Status, Subchannel, SubchannelState,
};

/// One subchannel of a [`SubchannelList`]: its address, states, last error and the
/// policy's data `T`.
#[derive(Debug)]
pub(crate) struct SubchannelEntry<T> {
    subchannel: Subchannel,
    address: Address,
    reported: ConnectivityState,
    effective: ConnectivityState,
    last_error: Option<Status>,
    /// The policy's per-subchannel data, kept across resolver updates.
    pub(crate) data: T,
}

// A shared toolkit for every list-based policy: not each policy uses each method.
#[allow(dead_code)]
impl<T> SubchannelEntry<T> {
    /// The subchannel.
    pub(crate) fn subchannel(&self) -> &Subchannel {
        &self.subchannel
    }

    /// The address, as in the latest resolver update that contained it (so its attributes
    /// are current).
    pub(crate) fn address(&self) -> &Address {
        &self.address
    }

    /// The state the subchannel last reported (IDLE before its first report).
    pub(crate) fn reported_state(&self) -> ConnectivityState {
        self.reported
    }

    /// The effective state: the reported one, except that TRANSIENT_FAILURE sticks through
    /// CONNECTING and IDLE until READY (see the module docs).
    pub(crate) fn state(&self) -> ConnectivityState {
        self.effective
    }

    /// Whether the subchannel is READY.
    pub(crate) fn is_ready(&self) -> bool {
        self.effective == ConnectivityState::Ready
    }

    /// The error of the subchannel's last TRANSIENT_FAILURE report, if it ever had one.
    pub(crate) fn last_error(&self) -> Option<&Status> {
        self.last_error.as_ref()
    }
}

/// What [`SubchannelList::update_state`] changed for one subchannel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Transition {
    /// The entry's index in the list.
    pub(crate) index: usize,
    /// The state the subchannel reported before this update.
    pub(crate) previous: ConnectivityState,
    /// The state it reports now.
    pub(crate) current: ConnectivityState,
    /// The effective (sticky-TF) state before this update.
    pub(crate) previous_effective: ConnectivityState,
    /// The effective (sticky-TF) state now.
    pub(crate) effective: ConnectivityState,
}

// A shared toolkit for every list-based policy: not each policy uses each method.
#[allow(dead_code)]
impl Transition {
    /// Whether a READY subchannel just lost its connection (READY -> anything else): the
    /// moment policies ask for re-resolution.
    pub(crate) fn lost_ready(&self) -> bool {
        self.previous == ConnectivityState::Ready && self.current != ConnectivityState::Ready
    }

    /// Whether the subchannel reported a failed connection attempt.
    pub(crate) fn failed(&self) -> bool {
        self.current == ConnectivityState::TransientFailure
    }
}

/// Subchannels by unique address, with sticky-TF state tracking. See the module docs.
#[derive(Debug)]
pub(crate) struct SubchannelList<T> {
    entries: Vec<SubchannelEntry<T>>,
    /// `Subchannel` -> index into `entries`; rebuilt when the list changes shape.
    positions: HashMap<Subchannel, usize>,
    /// The most recent TRANSIENT_FAILURE error of any subchannel in the list.
    last_error: Option<Status>,
}

impl<T> Default for SubchannelList<T> {
    fn default() -> Self {
        SubchannelList {
            entries: Vec::new(),
            positions: HashMap::new(),
            last_error: None,
        }
    }
}

// A shared toolkit for every list-based policy: not each policy uses each method.
#[allow(dead_code)]
impl<T> SubchannelList<T> {
    /// An empty list.
    pub(crate) fn new() -> Self {
        SubchannelList::default()
    }

    /// Reconciles the list with a resolver update's `addresses`, in their order.
    ///
    /// - Duplicate addresses (equal [`Addr`]) collapse into the first occurrence.
    /// - An address already in the list keeps its subchannel, states and data; its
    ///   [`Address`] (attributes) is replaced by the new one.
    /// - A new address gets `channel.new_subchannel` (IDLE, not connected: call
    ///   [`connect_idle`](Self::connect_idle) or connect entries yourself) and
    ///   `new_data(&address)`.
    /// - Entries whose address is gone are removed and returned; dropping them drops their
    ///   subchannels (unless a picker still holds a clone, so publish a new picker).
    pub(crate) fn update(
        &mut self,
        addresses: &[Address],
        channel: &mut dyn ChannelController,
        mut new_data: impl FnMut(&Address) -> T,
    ) -> Vec<SubchannelEntry<T>> {
        let mut old: HashMap<Addr, SubchannelEntry<T>> = self
            .entries
            .drain(..)
            .map(|entry| (entry.address.addr.clone(), entry))
            .collect();
        let mut seen: HashSet<&Addr> = HashSet::with_capacity(addresses.len());
        for address in addresses {
            if !seen.insert(&address.addr) {
                continue;
            }
            let entry = match old.remove(&address.addr) {
                Some(mut entry) => {
                    entry.address = address.clone();
                    entry
                }
                None => SubchannelEntry {
                    subchannel: channel.new_subchannel(address),
                    address: address.clone(),
                    reported: ConnectivityState::Idle,
                    effective: ConnectivityState::Idle,
                    last_error: None,
                    data: new_data(address),
                },
            };
            self.entries.push(entry);
        }
        self.reindex();
        if self.entries.is_empty() {
            self.last_error = None;
        }
        old.into_values().collect()
    }

    /// Keeps only the entries for which `keep` returns true (in order); the others are
    /// dropped with their subchannels. `pick_first` uses this to drop everything but the
    /// subchannel it selected.
    pub(crate) fn retain(&mut self, mut keep: impl FnMut(&SubchannelEntry<T>) -> bool) {
        self.entries.retain(|entry| keep(entry));
        self.reindex();
    }

    /// Removes every entry (dropping the subchannels) and forgets the last error.
    pub(crate) fn clear(&mut self) {
        self.entries.clear();
        self.positions.clear();
        self.last_error = None;
    }

    fn reindex(&mut self) {
        self.positions.clear();
        for (index, entry) in self.entries.iter().enumerate() {
            self.positions.insert(entry.subchannel.clone(), index);
        }
    }

    /// Records a state report for `subchannel`. Returns `None` when the subchannel is not
    /// in the list (a late report from a removed one: ignore it).
    ///
    /// A TRANSIENT_FAILURE report without an error gets a generic UNAVAILABLE one naming
    /// the address, so [`last_error`](Self::last_error) always has something to say.
    pub(crate) fn update_state(
        &mut self,
        subchannel: &Subchannel,
        state: &SubchannelState,
    ) -> Option<Transition> {
        let index = *self.positions.get(subchannel)?;
        let entry = self.entries.get_mut(index)?;
        let previous = entry.reported;
        let previous_effective = entry.effective;
        entry.reported = state.state;
        // Sticky TRANSIENT_FAILURE (gRFC A62): only READY clears it.
        entry.effective = match (previous_effective, state.state) {
            (
                ConnectivityState::TransientFailure,
                ConnectivityState::Connecting | ConnectivityState::Idle,
            ) => ConnectivityState::TransientFailure,
            (_, current) => current,
        };
        if state.state == ConnectivityState::TransientFailure {
            let error = state.error.clone().unwrap_or_else(|| {
                Status::unavailable(format!("connection to {} failed", entry.address.addr))
            });
            entry.last_error = Some(error.clone());
            self.last_error = Some(error);
        }
        Some(Transition {
            index,
            previous,
            current: state.state,
            previous_effective,
            effective: entry.effective,
        })
    }

    /// Calls [`Subchannel::connect`] on every entry whose reported state is IDLE (new
    /// subchannels, and READY ones that lost their connection). Returns how many.
    pub(crate) fn connect_idle(&self) -> usize {
        let mut connected = 0;
        for entry in &self.entries {
            if entry.reported == ConnectivityState::Idle {
                entry.subchannel.connect();
                connected += 1;
            }
        }
        connected
    }

    /// The aggregate state of the list, by the effective (sticky) states: READY if any
    /// entry is READY; else CONNECTING if any is CONNECTING or IDLE; else
    /// TRANSIENT_FAILURE (also for an empty list).
    ///
    /// This is round_robin's rule from gRPC's load-balancing doc (and gRFC A61's
    /// endpoint aggregation); policies with other rules (ring_hash, gRFC A42) can compute
    /// their own from [`entries`](Self::entries) or [`count`](Self::count).
    pub(crate) fn aggregate_state(&self) -> ConnectivityState {
        let mut connecting = false;
        for entry in &self.entries {
            match entry.effective {
                ConnectivityState::Ready => return ConnectivityState::Ready,
                ConnectivityState::Connecting | ConnectivityState::Idle => connecting = true,
                ConnectivityState::TransientFailure | ConnectivityState::Shutdown => {}
            }
        }
        if connecting {
            ConnectivityState::Connecting
        } else {
            ConnectivityState::TransientFailure
        }
    }

    /// How many entries are in effective state `state`.
    pub(crate) fn count(&self, state: ConnectivityState) -> usize {
        self.entries.iter().filter(|e| e.effective == state).count()
    }

    /// The READY entries, in list order.
    pub(crate) fn ready(&self) -> impl Iterator<Item = &SubchannelEntry<T>> {
        self.entries.iter().filter(|entry| entry.is_ready())
    }

    /// The READY subchannels, in list order.
    pub(crate) fn ready_subchannels(&self) -> Vec<Subchannel> {
        self.ready().map(|entry| entry.subchannel.clone()).collect()
    }

    /// The most recent TRANSIENT_FAILURE error reported by any subchannel of the list
    /// (cleared only by [`clear`](Self::clear) or an update to an empty list).
    pub(crate) fn last_error(&self) -> Option<&Status> {
        self.last_error.as_ref()
    }

    /// All entries, in list order.
    pub(crate) fn entries(&self) -> &[SubchannelEntry<T>] {
        &self.entries
    }

    /// All entries, mutably (for their `data`).
    pub(crate) fn entries_mut(&mut self) -> &mut [SubchannelEntry<T>] {
        &mut self.entries
    }

    /// The entry at `index`.
    pub(crate) fn get(&self, index: usize) -> Option<&SubchannelEntry<T>> {
        self.entries.get(index)
    }

    /// The entry at `index`, mutably.
    pub(crate) fn get_mut(&mut self, index: usize) -> Option<&mut SubchannelEntry<T>> {
        self.entries.get_mut(index)
    }

    /// The index of `subchannel`'s entry, if it is in the list.
    pub(crate) fn position(&self, subchannel: &Subchannel) -> Option<usize> {
        self.positions.get(subchannel).copied()
    }

    /// The entry for `subchannel`, if it is in the list.
    pub(crate) fn find(&self, subchannel: &Subchannel) -> Option<&SubchannelEntry<T>> {
        self.entries.get(self.position(subchannel)?)
    }

    /// The entry for `subchannel`, mutably.
    pub(crate) fn find_mut(&mut self, subchannel: &Subchannel) -> Option<&mut SubchannelEntry<T>> {
        let index = self.position(subchannel)?;
        self.entries.get_mut(index)
    }

    /// The entry whose address is `addr`, if any.
    pub(crate) fn find_addr(&self, addr: &Addr) -> Option<&SubchannelEntry<T>> {
        self.entries
            .iter()
            .find(|entry| &entry.address.addr == addr)
    }

    /// The number of entries (unique addresses).
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the list has no entries.
    pub(crate) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::TestResult;
    use crate::test_util::{FakeController, addresses, connects};
    use ConnectivityState::*;

    fn report(list: &mut SubchannelList<u32>, subchannel: &Subchannel, state: ConnectivityState) {
        let state = match state {
            TransientFailure => SubchannelState::failure(Status::unavailable("refused")),
            other => SubchannelState::new(other),
        };
        list.update_state(subchannel, &state);
    }

    #[test]
    fn dedupes_and_keeps_order() -> TestResult {
        let mut channel = FakeController::default();
        let mut list = SubchannelList::new();
        let mut a = addresses(&[3, 1, 3, 2, 1]);
        a[2] = a[2].clone().with_attribute(7u32);
        let removed = list.update(&a, &mut channel, |_| 0u32);
        assert!(removed.is_empty());
        assert_eq!(channel.subchannels.len(), 3);
        let order: Vec<String> = list
            .entries()
            .iter()
            .map(|e| e.address().to_string())
            .collect();
        assert_eq!(order, ["127.0.0.1:3", "127.0.0.1:1", "127.0.0.1:2"]);
        // The first occurrence wins: the attribute on the duplicate is ignored.
        assert!(
            list.entries()[0]
                .address()
                .attributes
                .get::<u32>()
                .is_none()
        );
        assert_eq!(list.connect_idle(), 3);
        for s in &channel.subchannels {
            assert_eq!(connects(s)?, 1);
        }
        Ok(())
    }

    #[test]
    fn update_reuses_present_and_drops_removed() -> TestResult {
        let mut channel = FakeController::default();
        let mut list = SubchannelList::new();
        list.update(&addresses(&[1, 2]), &mut channel, |_| 10u32);
        let one = channel.subchannel("127.0.0.1:1")?;
        let two = channel.subchannel("127.0.0.1:2")?;
        report(&mut list, &one, Ready);
        if let Some(entry) = list.find_mut(&one) {
            entry.data = 11;
        }

        let updated = addresses(&[2, 3, 1])
            .into_iter()
            .map(|a| a.with_attribute("new"))
            .collect::<Vec<_>>();
        let removed = list.update(&updated, &mut channel, |_| 20u32);
        assert!(removed.is_empty());
        assert_eq!(channel.subchannels.len(), 3, "only port 3 is new");
        assert_eq!(list.position(&two), Some(0));
        assert_eq!(list.position(&one), Some(2));
        let kept = list.find(&one).map(|e| (e.state(), e.data));
        assert_eq!(kept, Some((Ready, 11)), "state and data survive");
        assert_eq!(list.get(1).map(|e| e.data), Some(20));
        assert_eq!(
            list.entries()[2].address().attributes.get::<&str>(),
            Some(&"new")
        );

        let removed = list.update(&addresses(&[3]), &mut channel, |_| 0);
        let mut gone: Vec<_> = removed.iter().map(|e| e.address().to_string()).collect();
        gone.sort();
        assert_eq!(gone, ["127.0.0.1:1", "127.0.0.1:2"]);
        assert_eq!(list.position(&one), None);
        assert!(
            list.update_state(&one, &SubchannelState::new(Idle))
                .is_none()
        );
        Ok(())
    }

    #[test]
    fn transient_failure_is_sticky_until_ready() -> TestResult {
        let mut channel = FakeController::default();
        let mut list = SubchannelList::new();
        list.update(&addresses(&[1]), &mut channel, |_| 0u32);
        let one = channel.subchannel("127.0.0.1:1")?;
        assert_eq!(
            list.aggregate_state(),
            Connecting,
            "IDLE counts as connecting"
        );
        report(&mut list, &one, Connecting);
        assert_eq!(list.aggregate_state(), Connecting);
        let t = list.update_state(&one, &SubchannelState::failure(Status::unavailable("x")));
        let t = t.ok_or("in list")?;
        assert!(t.failed());
        assert_eq!(
            (t.previous_effective, t.effective),
            (Connecting, TransientFailure)
        );
        assert_eq!(list.aggregate_state(), TransientFailure);
        assert_eq!(list.last_error().map(|e| e.message()), Some("x"));

        report(&mut list, &one, Connecting);
        assert_eq!(list.entries()[0].reported_state(), Connecting);
        assert_eq!(list.entries()[0].state(), TransientFailure);
        assert_eq!(list.aggregate_state(), TransientFailure);
        report(&mut list, &one, Idle);
        assert_eq!(list.aggregate_state(), TransientFailure);
        report(&mut list, &one, Ready);
        assert_eq!(list.aggregate_state(), Ready);
        assert_eq!(list.ready_subchannels(), vec![one.clone()]);
        let t = list.update_state(&one, &SubchannelState::new(Idle));
        assert!(t.is_some_and(|t| t.lost_ready()));
        assert_eq!(
            list.aggregate_state(),
            Connecting,
            "IDLE after READY is not sticky"
        );
        Ok(())
    }

    #[test]
    fn aggregate_prefers_ready_then_connecting() -> TestResult {
        let mut channel = FakeController::default();
        let mut list = SubchannelList::new();
        list.update(&addresses(&[1, 2, 3]), &mut channel, |_| 0u32);
        let s: Vec<Subchannel> = channel.subchannels.clone();
        for sc in &s {
            report(&mut list, sc, TransientFailure);
        }
        assert_eq!(list.aggregate_state(), TransientFailure);
        assert_eq!(list.count(TransientFailure), 3);
        report(&mut list, &s[1], Ready);
        assert_eq!(list.aggregate_state(), Ready);
        assert_eq!(list.ready().count(), 1);
        report(&mut list, &s[1], Idle);
        assert_eq!(list.aggregate_state(), Connecting);
        assert_eq!(list.connect_idle(), 1, "only the IDLE one is connected");
        Ok(())
    }

    #[test]
    fn tf_without_error_gets_one_and_empty_update_clears() -> TestResult {
        let mut channel = FakeController::default();
        let mut list = SubchannelList::new();
        list.update(&addresses(&[1]), &mut channel, |_| 0u32);
        let one = channel.subchannel("127.0.0.1:1")?;
        list.update_state(&one, &SubchannelState::new(TransientFailure));
        let message = list.last_error().map(|e| e.message().to_owned());
        assert!(message.is_some_and(|m| m.contains("127.0.0.1:1")));
        let removed = list.update(&[], &mut channel, |_| 0);
        assert_eq!(removed.len(), 1);
        assert!(list.is_empty() && list.last_error().is_none());
        assert_eq!(list.aggregate_state(), TransientFailure);
        Ok(())
    }
}
