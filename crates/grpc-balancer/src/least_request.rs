//! `least_request_experimental` (gRFC A48, "Least Request LB Policy"): like round_robin it
//! keeps a subchannel per unique address connected, but each pick samples `choiceCount`
//! random READY subchannels and takes the one with the fewest outstanding requests (the
//! "power of d choices" algorithm).
//!
//! Outstanding requests are counted per subchannel in an `Arc<AtomicUsize>` that lives in
//! the policy's subchannel list, so a count survives picker updates (and resolver updates
//! that keep the address). A pick increments it; the pick's completion callback decrements
//! it (gRFC A48, "Outstanding request counting").

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use grpc_balancer_api::{
    Address, CallOutcome, LbConfig, LbPolicy, LbPolicyBuilder, LbPolicyOptions, Pick, PickInfo,
    PickResult, Picker, Subchannel,
};

use crate::LEAST_REQUEST;
use crate::rng;
use crate::round_robin::{ReadyListPolicy, ReadyPickers};
use crate::subchannel_list::SubchannelList;

/// The default `choiceCount` (gRFC A48, "LB Policy Config").
const DEFAULT_CHOICE_COUNT: u32 = 2;
/// Larger `choiceCount`s are lowered to this (gRFC A48, "LB Policy Config").
const MAX_CHOICE_COUNT: u32 = 10;

/// The parsed `least_request_experimental` config.
///
/// ```json
/// { "loadBalancingConfig": [ { "least_request_experimental": { "choiceCount": 3 } } ] }
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LeastRequestConfig {
    /// How many random READY subchannels each pick compares: 2 to 10 (default 2).
    pub choice_count: u32,
}

impl Default for LeastRequestConfig {
    fn default() -> Self {
        LeastRequestConfig {
            choice_count: DEFAULT_CHOICE_COUNT,
        }
    }
}

/// Builds `least_request_experimental` policies (gRFC A48).
///
/// Config: `{"choiceCount": n}`, default 2; values above 10 are lowered to 10, values
/// below 2 make the config invalid.
///
/// ```
/// use grpc_balancer_api::LbPolicyBuilder;
/// use grpc_balancer::{LeastRequestBuilder, LeastRequestConfig};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let builder = LeastRequestBuilder::new();
/// assert_eq!(builder.name(), "least_request_experimental");
/// let config = builder
///     .parse_config(&serde_json::json!({"choiceCount": 50}))?
///     .ok_or("a config")?;
/// let config = config.downcast_ref::<LeastRequestConfig>().ok_or("a LeastRequestConfig")?;
/// assert_eq!(config.choice_count, 10);
/// assert!(builder.parse_config(&serde_json::json!({"choiceCount": 1})).is_err());
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct LeastRequestBuilder;

impl LeastRequestBuilder {
    /// A builder.
    pub fn new() -> LeastRequestBuilder {
        LeastRequestBuilder
    }
}

impl LbPolicyBuilder for LeastRequestBuilder {
    fn name(&self) -> &str {
        LEAST_REQUEST
    }

    fn build(&self, _options: LbPolicyOptions) -> Box<dyn LbPolicy> {
        Box::new(ReadyListPolicy::new(LeastRequestPickers {
            choice_count: DEFAULT_CHOICE_COUNT,
        }))
    }

    fn parse_config(&self, config: &serde_json::Value) -> Result<Option<LbConfig>, String> {
        let object = config
            .as_object()
            .ok_or_else(|| format!("{LEAST_REQUEST} config must be a JSON object"))?;
        let choice_count = match object.get("choiceCount") {
            None | Some(serde_json::Value::Null) => DEFAULT_CHOICE_COUNT,
            Some(value) => {
                let n = value.as_u64().ok_or_else(|| {
                    format!(
                        "{LEAST_REQUEST}: choiceCount must be a non-negative integer, got {value}"
                    )
                })?;
                if n < 2 {
                    return Err(format!(
                        "{LEAST_REQUEST}: choiceCount must be at least 2, got {n}"
                    ));
                }
                // gRFC A48: values above the maximum are capped, not rejected.
                n.min(u64::from(MAX_CHOICE_COUNT)) as u32
            }
        };
        Ok(Some(LbConfig::new(LeastRequestConfig { choice_count })))
    }
}

/// Builds least-request pickers; per-subchannel data is the outstanding-request count.
struct LeastRequestPickers {
    choice_count: u32,
}

impl ReadyPickers for LeastRequestPickers {
    type Data = Arc<AtomicUsize>;

    fn name(&self) -> &'static str {
        LEAST_REQUEST
    }

    fn configure(&mut self, config: Option<&LbConfig>) {
        self.choice_count = config
            .and_then(|c| c.downcast_ref::<LeastRequestConfig>())
            .map_or(DEFAULT_CHOICE_COUNT, |c| {
                c.choice_count.clamp(2, MAX_CHOICE_COUNT)
            });
    }

    fn new_data(&mut self, _address: &Address) -> Arc<AtomicUsize> {
        Arc::new(AtomicUsize::new(0))
    }

    fn picker(&self, list: &SubchannelList<Arc<AtomicUsize>>) -> Arc<dyn Picker> {
        let ready = list
            .ready()
            .map(|entry| (entry.subchannel().clone(), entry.data.clone()))
            .collect();
        Arc::new(LeastRequestPicker {
            ready,
            choice_count: self.choice_count as usize,
        })
    }
}

/// Picks the least loaded of `choice_count` random READY subchannels.
struct LeastRequestPicker {
    ready: Box<[(Subchannel, Arc<AtomicUsize>)]>,
    choice_count: usize,
}

/// Samples `choice_count` indexes in `0..len` with `random(len)` (with replacement, as
/// gRFC A48 specifies) and returns the one whose `load` is lowest; the earliest sample
/// wins ties. `len` must be at least 1.
fn choose(
    len: usize,
    choice_count: usize,
    load: impl Fn(usize) -> usize,
    mut random: impl FnMut(usize) -> usize,
) -> usize {
    let mut best = random(len);
    let mut best_load = load(best);
    for _ in 1..choice_count {
        let candidate = random(len);
        let candidate_load = load(candidate);
        if candidate_load < best_load {
            best = candidate;
            best_load = candidate_load;
        }
    }
    best
}

/// Decrements an outstanding-request count when dropped: when the completion callback
/// runs, and also if the channel drops the pick without calling it, so a count can never
/// leak upward.
struct Outstanding(Arc<AtomicUsize>);

impl Drop for Outstanding {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Picker for LeastRequestPicker {
    fn pick(&self, _info: &PickInfo<'_>) -> PickResult {
        if self.ready.is_empty() {
            return PickResult::Queue;
        }
        let ready = &self.ready;
        let index = choose(
            ready.len(),
            self.choice_count,
            |i| {
                ready
                    .get(i)
                    .map_or(usize::MAX, |(_, n)| n.load(Ordering::Relaxed))
            },
            rng::below,
        );
        let Some((subchannel, outstanding)) = ready.get(index) else {
            return PickResult::Queue;
        };
        outstanding.fetch_add(1, Ordering::Relaxed);
        let guard = Outstanding(outstanding.clone());
        PickResult::Pick(Pick {
            subchannel: subchannel.clone(),
            on_complete: Some(Box::new(move |_: &CallOutcome<'_>| drop(guard))),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::TestResult;
    use crate::test_util::{FakeController, addr, addresses, connects, options, pick};
    use grpc_balancer_api::{ConnectivityState::*, Metadata, ResolverState, Status};
    use std::collections::HashMap;

    fn parse(json: serde_json::Value) -> Result<Option<LbConfig>, String> {
        LeastRequestBuilder::new().parse_config(&json)
    }

    fn choice(json: serde_json::Value) -> TestResult<u32> {
        match parse(json) {
            Ok(Some(config)) => Ok(config
                .downcast_ref::<LeastRequestConfig>()
                .map_or(0, |c| c.choice_count)),
            other => Err(format!("{other:?}").into()),
        }
    }

    #[test]
    fn config_defaults_caps_and_rejects() -> TestResult {
        use serde_json::json;
        assert_eq!(choice(json!({}))?, 2);
        assert_eq!(choice(json!({"choiceCount": 2}))?, 2);
        assert_eq!(choice(json!({"choiceCount": 7}))?, 7);
        assert_eq!(choice(json!({"choiceCount": 10}))?, 10);
        assert_eq!(choice(json!({"choiceCount": 11}))?, 10);
        assert_eq!(choice(json!({"choiceCount": 4000000000u64}))?, 10);
        for bad in [
            json!({"choiceCount": 1}),
            json!({"choiceCount": 0}),
            json!({"choiceCount": -3}),
            json!({"choiceCount": 2.5}),
            json!({"choiceCount": "3"}),
            json!([]),
            json!(3),
        ] {
            assert!(parse(bad.clone()).is_err(), "{bad}");
        }
        Ok(())
    }

    #[test]
    fn choose_takes_the_least_loaded_sample() -> TestResult {
        let loads = [5, 1, 3, 0];
        let load = |i: usize| loads[i];
        // Samples 0, 2, 1: index 1 has the fewest.
        let mut samples = [0, 2, 1].into_iter();
        assert_eq!(choose(4, 3, load, |_| samples.next().unwrap_or(0)), 1);
        // Only the sampled ones count: 3 (load 0) is never sampled.
        let mut samples = [2, 0].into_iter();
        assert_eq!(choose(4, 2, load, |_| samples.next().unwrap_or(0)), 2);
        // Ties keep the first sample.
        let mut samples = [0, 0].into_iter();
        assert_eq!(choose(4, 2, |_| 1, |_| samples.next().unwrap_or(0)), 0);
        // choice_count draws exactly that many samples.
        let mut draws = 0;
        choose(4, 10, load, |n| {
            draws += 1;
            n - 1
        });
        assert_eq!(draws, 10);
        Ok(())
    }

    type Policy = ReadyListPolicy<LeastRequestPickers>;

    fn ready_policy(
        channel: &mut FakeController,
        ports: &[u16],
        choice_count: u32,
    ) -> TestResult<Policy> {
        let mut policy = ReadyListPolicy::new(LeastRequestPickers { choice_count: 2 });
        let config = LbConfig::new(LeastRequestConfig { choice_count });
        policy.resolver_update(
            &ResolverState::from_addresses(addresses(ports)),
            Some(&config),
            channel,
        )?;
        for port in ports {
            channel.set_state(&mut policy, &addr(*port), Ready)?;
        }
        Ok(policy)
    }

    /// The outstanding-request counts, in address order.
    fn counts(policy: &Policy) -> Vec<usize> {
        policy
            .list()
            .entries()
            .iter()
            .map(|e| e.data.load(Ordering::Relaxed))
            .collect()
    }

    fn complete(pick: Pick) -> String {
        let address = pick.subchannel.address().to_string();
        if let Some(on_complete) = pick.on_complete {
            let status = Status::ok();
            let trailers = Metadata::new();
            on_complete(&CallOutcome {
                status: &status,
                trailers: &trailers,
            });
        }
        address
    }

    fn take(result: PickResult) -> TestResult<Pick> {
        match result {
            PickResult::Pick(pick) => Ok(pick),
            other => Err(format!("{other:?}").into()),
        }
    }

    #[test]
    fn prefers_the_least_loaded_subchannel() -> TestResult {
        crate::rng::seed_for_test(11);
        let mut channel = FakeController::default();
        let policy = ready_policy(&mut channel, &[1, 2, 3], 10)?;
        let picker = channel.picker()?;
        // Hold 30 calls open: with 10 choices out of 3 the counts stay level.
        let held: Vec<Pick> = (0..30)
            .map(|_| take(pick(picker.as_ref())))
            .collect::<TestResult<_>>()?;
        let mut per_address: HashMap<String, usize> = HashMap::new();
        for p in &held {
            *per_address
                .entry(p.subchannel.address().to_string())
                .or_default() += 1;
        }
        let (min, max) = (per_address.values().min(), per_address.values().max());
        assert!(
            max.zip(min).is_some_and(|(max, min)| max - min <= 2),
            "{per_address:?}"
        );
        assert_eq!(counts(&policy).iter().sum::<usize>(), 30);
        // Finish every call on 2: it is now the least loaded and gets the next picks
        // whenever one of the 10 samples hits it (all but (2/3)^10 = 1.7% of the time; a
        // load-blind picker would send it a third).
        let mut rest = Vec::new();
        for p in held {
            if p.subchannel.address().to_string() == addr(2) {
                complete(p);
            } else {
                rest.push(p);
            }
        }
        assert_eq!(counts(&policy)[1], 0);
        let next: Vec<String> = (0..20)
            .map(|_| take(pick(picker.as_ref())).map(complete))
            .collect::<TestResult<_>>()?;
        let to_two = next.iter().filter(|a| **a == addr(2)).count();
        assert!(to_two >= 17, "{next:?}");
        drop(rest);
        assert_eq!(counts(&policy), [0, 0, 0]);
        Ok(())
    }

    #[test]
    fn counters_decrement_on_completion_and_survive_picker_updates() -> TestResult {
        let mut channel = FakeController::default();
        let mut policy = ready_policy(&mut channel, &[1], 2)?;
        let first = channel.picker()?;
        let a = take(pick(first.as_ref()))?;
        let b = take(pick(first.as_ref()))?;
        assert_eq!(counts(&policy), [2]);
        // A new subchannel appears: a new picker, the old count carries over.
        policy.resolver_update(
            &ResolverState::from_addresses(addresses(&[1, 2])),
            None,
            &mut channel,
        )?;
        assert_eq!(connects(&channel.subchannel(&addr(1))?)?, 1, "kept");
        channel.set_state(&mut policy, &addr(2), Ready)?;
        assert_eq!(counts(&policy), [2, 0], "the count survives the update");
        let second = channel.picker()?;
        assert!(!Arc::ptr_eq(&first, &second));
        // 1 has two outstanding calls and 2 none: new calls even the counts out.
        crate::rng::seed_for_test(5);
        let mut to_two = 0;
        let mut held = Vec::new();
        for _ in 0..20 {
            let p = take(pick(second.as_ref()))?;
            if p.subchannel.address().to_string() == addr(2) {
                to_two += 1;
            }
            held.push(p);
        }
        let now = counts(&policy);
        assert_eq!(now.iter().sum::<usize>(), 22);
        assert!(
            now[0].abs_diff(now[1]) <= 2,
            "{now:?}, 2 picked {to_two} of 20"
        );
        // Completing (or dropping) the calls brings the counts back to zero.
        complete(a);
        drop(b);
        for p in held {
            complete(p);
        }
        assert_eq!(counts(&policy), [0, 0]);
        Ok(())
    }

    #[test]
    fn empty_list_and_queueing() -> TestResult {
        let mut channel = FakeController::default();
        let mut policy = LeastRequestBuilder::new().build(options());
        let err = policy.resolver_update(&ResolverState::default(), None, &mut channel);
        assert!(err.is_err());
        assert_eq!(channel.state(), Some(TransientFailure));
        policy.resolver_update(
            &ResolverState::from_addresses(addresses(&[1])),
            None,
            &mut channel,
        )?;
        assert_eq!(channel.state(), Some(Connecting));
        assert!(matches!(
            pick(channel.picker()?.as_ref()),
            PickResult::Queue
        ));
        Ok(())
    }
}
