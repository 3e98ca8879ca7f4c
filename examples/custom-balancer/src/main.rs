//! `cargo run -p custom-balancer`: a load-balancing policy of your own, plugged into a channel.
//!
//! The policy, `first_n`, needs only `grpc-balancer-api`: it connects to the first n addresses,
//! takes turns among the READY ones and counts each backend's calls in `Pick::on_complete`. The
//! service config selects it with `{"n": 2}` for three local backends: alpha and beta must get
//! the calls and gamma none, or the demo exits with an error (a non-zero status).

use bytes::Bytes;
use grpc_balancer_api::{ConnectivityState as State, serde_json::Value, *};
use grpc_client::{Channel, Request, Response, codec::BytesCodec};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::{collections::BTreeMap, error::Error};

/// Calls finished per backend address, counted by `Pick::on_complete`.
type Finished = Arc<Mutex<BTreeMap<String, Arc<AtomicU64>>>>;

struct FirstNBuilder(Finished);

impl LbPolicyBuilder for FirstNBuilder {
    fn name(&self) -> &str {
        "first_n"
    }
    fn build(&self, _: LbPolicyOptions) -> Box<dyn LbPolicy> {
        Box::new(FirstN(self.0.clone(), Vec::new()))
    }
    fn parse_config(&self, config: &Value) -> Result<Option<LbConfig>, String> {
        let n = config.get("n").and_then(Value::as_u64).filter(|n| *n > 0);
        let n = n.ok_or("first_n: \"n\" must be a positive integer")?;
        Ok(Some(LbConfig::new(n as usize)))
    }
}

/// One of the first n addresses: its subchannel, last state and finished calls.
type Backend = (Subchannel, State, Arc<AtomicU64>);

/// READY (picking among READY backends), else CONNECTING while one tries, else failing.
fn publish(backends: &[Backend], channel: &mut dyn ChannelController) {
    let ready: Vec<_> = backends.iter().filter(|b| b.1 == State::Ready).collect();
    if !ready.is_empty() {
        let picker = TakeTurns(ready.into_iter().cloned().collect(), AtomicUsize::new(0));
        channel.update_picker(State::Ready, Arc::new(picker));
    } else if backends.iter().any(|b| b.1 != State::TransientFailure) {
        channel.update_picker(State::Connecting, Arc::new(QueuePicker));
    } else {
        let error = Status::unavailable("first_n: no backend is reachable");
        channel.update_picker(State::TransientFailure, Arc::new(FailPicker(error)));
    }
}

struct FirstN(Finished, Vec<Backend>);

impl LbPolicy for FirstN {
    fn resolver_update(
        &mut self,
        state: &ResolverState,
        config: Option<&LbConfig>,
        channel: &mut dyn ChannelController,
    ) -> Result<(), Status> {
        // Kept short: each update replaces every subchannel (the ipv4: target never changes).
        let n = config.and_then(LbConfig::downcast_ref).unwrap_or(&1);
        let mut finished = self.0.lock().unwrap_or_else(|poison| poison.into_inner());
        self.1.clear();
        for address in state.addresses.iter().take(*n) {
            let count = finished.entry(address.to_string()).or_default().clone();
            let subchannel = channel.new_subchannel(address);
            subchannel.connect();
            self.1.push((subchannel, State::Idle, count));
        }
        publish(&self.1, channel); // TRANSIENT_FAILURE if there are no addresses.
        Ok(())
    }

    fn subchannel_update(
        &mut self,
        subchannel: &Subchannel,
        state: &SubchannelState,
        channel: &mut dyn ChannelController,
    ) {
        if let Some(backend) = self.1.iter_mut().find(|b| b.0 == *subchannel) {
            backend.1 = state.state;
            if state.state == State::Idle {
                subchannel.connect(); // It lost its connection: reconnect.
            }
            publish(&self.1, channel);
        } // Else it is one we have dropped.
    }

    fn resolver_error(&mut self, _: &Status, _: &mut dyn ChannelController) {} // Keep them.
    fn exit_idle(&mut self, _: &mut dyn ChannelController) {} // Never IDLE: it reconnects.
}

/// Takes turns among the READY backends; each pick counts its call when it ends.
struct TakeTurns(Vec<Backend>, AtomicUsize);

impl Picker for TakeTurns {
    fn pick(&self, _: &PickInfo<'_>) -> PickResult {
        let (subchannel, _, count) = self.0[self.1.fetch_add(1, Relaxed) % self.0.len()].clone();
        let mut pick = Pick::new(subchannel);
        pick.on_complete = Some(Box::new(move |_| _ = count.fetch_add(1, Relaxed)));
        PickResult::Pick(pick)
    }
}

const METHOD: &str = "/demo.Echo/WhoAreYou";
const NAMES: [&str; 3] = ["alpha", "beta", "gamma"];

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let mut addrs = Vec::new();
    for name in NAMES {
        let server = grpc_server::Server::builder().add_routes(|routes| {
            routes.unary(METHOD, BytesCodec, move |_: Request<Bytes>| async move {
                Ok(Response::new(Bytes::from(name)))
            })
        });
        let server = server.bind(([127, 0, 0, 1], 0).into()).await?;
        addrs.push(server.local_addr().to_string());
        tokio::spawn(server.serve());
    }
    let finished = Finished::default();
    let channel = Channel::builder(&format!("ipv4:{}", addrs.join(",")))
        .lb_policy(Arc::new(FirstNBuilder(finished.clone())))
        .default_service_config(r#"{"loadBalancingConfig": [{"first_n": {"n": 2}}]}"#)
        .connect()
        .await?;

    let mut answered: BTreeMap<String, u64> = NAMES.map(|name| (name.into(), 0)).into();
    for i in 1..=40 {
        let call = channel.unary(Request::new(Bytes::new()), METHOD, BytesCodec);
        let name = String::from_utf8_lossy(&call.await?.into_inner()).into_owned();
        println!("   call {i:>2}: answered by {name}");
        *answered.entry(name).or_default() += 1;
        if i >= 6 && answered["alpha"] > 0 && answered["beta"] > 0 {
            break; // connect() returned when one backend was READY; now both have answered.
        }
        tokio::time::sleep(tokio::time::Duration::from_millis(20)).await;
    }
    let finished = finished.lock().unwrap_or_else(|poison| poison.into_inner());
    for (name, addr) in NAMES.iter().zip(&addrs) {
        let counted = finished.get(addr).map_or(0, |count| count.load(Relaxed));
        let answers = answered[*name];
        println!("{name:>5} at {addr}: answered {answers} calls, on_complete counted {counted}");
        if counted != answers || (counted == 0) != (*name == "gamma") {
            return Err(format!("{name}: want calls to alpha and beta only, each counted").into());
        }
    }
    Ok(())
}
