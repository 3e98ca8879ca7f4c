//! The dns resolver against a real DNS server: an in-process hickory-server on 127.0.0.1
//! (UDP and TCP on one ephemeral port) serving the zone `test.grpc.`, whose records the tests
//! change while the resolver runs.
//!
//! These run on the real clock (DNS packets cross real sockets, which tokio's paused clock
//! would race); every wait is bounded so a bug fails instead of hanging, and timing checks
//! are only ever lower bounds.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use grpc_core::Code;
use grpc_resolver::DnsResolverBuilder;
use grpc_resolver_api::{
    Resolver, ResolverBuilder, ResolverOptions, ResolverState, ResolverUpdate, ResolverUpdater,
    Status, Target,
};
use hickory_server::Server;
use hickory_server::net::runtime::TokioRuntimeProvider;
use hickory_server::proto::rr::rdata::{A, AAAA, SOA, TXT};
use hickory_server::proto::rr::{LowerName, Name, RData, Record, RecordType, RrKey};
use hickory_server::store::in_memory::InMemoryZoneHandler;
use hickory_server::zone_handler::{AxfrPolicy, Catalog, ZoneHandler, ZoneType};
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::mpsc;
use tokio::time::{Instant, timeout};

/// The bound on any single wait.
const WAIT: Duration = Duration::from_secs(10);

const HOST: &str = "svc.test.grpc";

/// An authoritative server for `test.grpc.` on 127.0.0.1.
struct TestDns {
    addr: SocketAddr,
    zone: Arc<InMemoryZoneHandler<TokioRuntimeProvider>>,
    _server: Server<Catalog>,
}

fn name(name: &str) -> Name {
    Name::from_ascii(name).expect("a valid DNS name")
}

impl TestDns {
    async fn start() -> TestDns {
        let origin = name("test.grpc.");
        let mut zone = InMemoryZoneHandler::<TokioRuntimeProvider>::empty(
            origin.clone(),
            ZoneType::Primary,
            AxfrPolicy::Deny,
        );
        let soa = SOA::new(
            name("ns.test.grpc."),
            name("admin.test.grpc."),
            1,
            3600,
            600,
            86_400,
            // Negative answers may be cached for an hour: the resolver must ask again anyway.
            3600,
        );
        assert!(zone.upsert_mut(Record::from_rdata(origin.clone(), 3600, RData::SOA(soa)), 1));
        let zone = Arc::new(zone);
        let mut catalog = Catalog::new();
        let handler: Arc<dyn ZoneHandler> = zone.clone();
        catalog.upsert(LowerName::new(&origin), vec![handler]);

        let (udp, tcp) = bind_udp_and_tcp().await;
        let addr = udp.local_addr().expect("bound");
        let mut server = Server::new(catalog);
        server.register_socket(udp);
        server.register_listener(tcp, WAIT, 64);
        TestDns {
            addr,
            zone,
            _server: server,
        }
    }

    /// Replaces the `rtype` records of `owner` (relative to `test.grpc.`) with `data`.
    async fn set(&self, owner: &str, rtype: RecordType, data: Vec<RData>) {
        let owner = name(&format!("{owner}."));
        self.zone
            .records_mut()
            .await
            .remove(&RrKey::new(LowerName::new(&owner), rtype));
        for rdata in data {
            // An hour's TTL: re-resolution must ask the server again regardless.
            let record = Record::from_rdata(owner.clone(), 3600, rdata);
            assert!(self.zone.upsert(record, 1).await);
        }
    }

    async fn set_ips(&self, owner: &str, ips: &[&str]) {
        let (mut v4, mut v6) = (Vec::new(), Vec::new());
        for ip in ips {
            match ip.parse::<IpAddr>().expect("an IP") {
                IpAddr::V4(ip) => v4.push(RData::A(A(ip))),
                IpAddr::V6(ip) => v6.push(RData::AAAA(AAAA(ip))),
            }
        }
        self.set(owner, RecordType::A, v4).await;
        self.set(owner, RecordType::AAAA, v6).await;
    }

    async fn set_txt(&self, owner: &str, strings: &[&str]) {
        let txt = TXT::new(strings.iter().map(|s| (*s).to_owned()).collect());
        self.set(owner, RecordType::TXT, vec![RData::TXT(txt)])
            .await;
    }

    /// A builder asking only this server.
    fn builder(&self) -> DnsResolverBuilder {
        DnsResolverBuilder::new().name_servers([self.addr])
    }
}

/// A UDP socket and a TCP listener on the same ephemeral port of 127.0.0.1.
async fn bind_udp_and_tcp() -> (UdpSocket, TcpListener) {
    for _ in 0..50 {
        let udp = UdpSocket::bind("127.0.0.1:0").await.expect("bind UDP");
        let port = udp.local_addr().expect("bound").port();
        if let Ok(tcp) = TcpListener::bind(("127.0.0.1", port)).await {
            return (udp, tcp);
        }
    }
    panic!("no port free for both UDP and TCP");
}

/// Updates, stamped when the resolver handed them over.
type Updates = mpsc::UnboundedReceiver<(Instant, ResolverUpdate)>;

fn updater() -> (ResolverUpdater, Updates) {
    let (tx, rx) = mpsc::unbounded_channel();
    let updater = ResolverUpdater::new(move |update| tx.send((Instant::now(), update)).is_ok());
    (updater, rx)
}

fn build(
    builder: &DnsResolverBuilder,
    target: &str,
    configure: impl FnOnce(&mut ResolverOptions),
) -> (Box<dyn Resolver>, Updates) {
    let (updater, updates) = updater();
    let mut options = ResolverOptions::new(updater);
    configure(&mut options);
    let target = Target::parse(target).expect("a URI");
    let resolver = builder
        .build(&target, options)
        .expect("the resolver builds");
    (resolver, updates)
}

fn start(builder: &DnsResolverBuilder, target: &str) -> (Box<dyn Resolver>, Updates) {
    build(builder, target, |_| {})
}

async fn next(updates: &mut Updates) -> (Instant, ResolverUpdate) {
    timeout(WAIT, updates.recv())
        .await
        .expect("an update in time")
        .expect("the resolver is running")
}

async fn next_state(updates: &mut Updates) -> (Instant, ResolverState) {
    match next(updates).await {
        (at, ResolverUpdate::State(state)) => (at, state),
        (_, ResolverUpdate::Error(status)) => panic!("unexpected error {status:?}"),
    }
}

async fn next_error(updates: &mut Updates) -> Status {
    match next(updates).await {
        (_, ResolverUpdate::Error(status)) => status,
        (_, ResolverUpdate::State(state)) => panic!("unexpected state {state:?}"),
    }
}

/// Skips updates until a state whose addresses are `want` (bounded by [`WAIT`] in all).
async fn state_with(updates: &mut Updates, want: &[&str]) -> ResolverState {
    let deadline = Instant::now() + WAIT;
    loop {
        let update = tokio::time::timeout_at(deadline, updates.recv())
            .await
            .unwrap_or_else(|_| panic!("no state with {want:?} in time"))
            .expect("the resolver is running");
        if let ResolverUpdate::State(state) = update.1 {
            if addresses(&state) == want {
                return state;
            }
        }
    }
}

fn addresses(state: &ResolverState) -> Vec<String> {
    state.addresses.iter().map(|a| a.to_string()).collect()
}

fn target(port: u16) -> String {
    format!("dns:///{HOST}:{port}")
}

#[tokio::test]
async fn a_and_aaaa_records() {
    let dns = TestDns::start().await;
    dns.set_ips("svc.test.grpc", &["127.0.0.10", "127.0.0.11", "fd00::10"])
        .await;
    let (_resolver, mut updates) = start(&dns.builder(), &target(50051));
    let (_, state) = next_state(&mut updates).await;
    // IPv4 answers first, then IPv6.
    let mut v4 = addresses(&state);
    let v6 = v4.split_off(2);
    v4.sort();
    assert_eq!(v4, ["127.0.0.10:50051", "127.0.0.11:50051"]);
    assert_eq!(v6, ["[fd00::10]:50051"]);
    assert_eq!(state.service_config, None);
}

#[tokio::test]
async fn the_default_port_is_443() {
    let dns = TestDns::start().await;
    dns.set_ips("svc.test.grpc", &["127.0.0.10"]).await;
    let (_resolver, mut updates) = start(&dns.builder(), &format!("dns:{HOST}"));
    let (_, state) = next_state(&mut updates).await;
    assert_eq!(addresses(&state), ["127.0.0.10:443"]);
}

#[tokio::test]
async fn resolve_now_picks_up_a_change() {
    let dns = TestDns::start().await;
    dns.set_ips("svc.test.grpc", &["127.0.0.10"]).await;
    let builder = dns
        .builder()
        .min_resolve_interval(Duration::from_millis(10))
        .refresh_interval(Duration::from_secs(3600));
    let (mut resolver, mut updates) = start(&builder, &target(1));
    let (_, state) = next_state(&mut updates).await;
    assert_eq!(addresses(&state), ["127.0.0.10:1"]);

    dns.set_ips("svc.test.grpc", &["127.0.0.20", "fd00::20"])
        .await;
    resolver.resolve_now();
    let (_, state) = next_state(&mut updates).await;
    assert_eq!(addresses(&state), ["127.0.0.20:1", "[fd00::20]:1"]);
}

#[tokio::test]
async fn periodic_refresh_picks_up_a_change() {
    let dns = TestDns::start().await;
    dns.set_ips("svc.test.grpc", &["127.0.0.10"]).await;
    let builder = dns.builder().refresh_interval(Duration::from_millis(100));
    let (_resolver, mut updates) = start(&builder, &target(1));
    let (_, state) = next_state(&mut updates).await;
    assert_eq!(addresses(&state), ["127.0.0.10:1"]);

    dns.set_ips("svc.test.grpc", &["127.0.0.30"]).await;
    // No resolve_now: the refresh finds the change.
    state_with(&mut updates, &["127.0.0.30:1"]).await;
}

#[tokio::test]
async fn resolve_now_is_rate_limited_and_coalesced() {
    let dns = TestDns::start().await;
    dns.set_ips("svc.test.grpc", &["127.0.0.10"]).await;
    let interval = Duration::from_secs(1);
    let builder = dns
        .builder()
        .min_resolve_interval(interval)
        .refresh_interval(Duration::from_secs(3600));
    let (mut resolver, mut updates) = start(&builder, &target(1));
    let (first, _) = next_state(&mut updates).await;

    dns.set_ips("svc.test.grpc", &["127.0.0.40"]).await;
    for _ in 0..20 {
        resolver.resolve_now();
    }
    // One resolution, no sooner than the interval after the first, with the new record...
    let (second, state) = next_state(&mut updates).await;
    assert_eq!(addresses(&state), ["127.0.0.40:1"]);
    assert!(
        second - first >= interval,
        "re-resolved after {:?}",
        second - first
    );
    // ...and no other: the twenty requests were one.
    let more = timeout(interval + interval / 2, updates.recv()).await;
    assert!(more.is_err(), "unexpected extra update {more:?}");
}

#[tokio::test]
async fn nxdomain_is_reported_then_retried_until_the_name_appears() {
    let dns = TestDns::start().await;
    // Retries back off from 1 s; the refresh interval caps them, keeping the test short.
    let builder = dns.builder().refresh_interval(Duration::from_millis(200));
    let (_resolver, mut updates) = start(&builder, &target(1));
    let status = next_error(&mut updates).await;
    assert_eq!(status.code(), Code::Unavailable);
    assert!(status.message().contains(HOST), "{}", status.message());

    dns.set_ips("svc.test.grpc", &["127.0.0.50"]).await;
    state_with(&mut updates, &["127.0.0.50:1"]).await;
}

const SERVICE_CONFIG_TXT: &str = "_grpc_config.svc.test.grpc";

/// Two choices; the second is ours. The value spans two strings of one TXT record, which A2
/// says are concatenated.
async fn publish_service_config(dns: &TestDns) {
    dns.set_txt(
        SERVICE_CONFIG_TXT,
        &[
            r#"grpc_config=[{"clientLanguage":["go"],"serviceConfig":{"loadBalancingPolicy":"pick_first"}},"#,
            r#"{"clientLanguage":["c++","Rust"],"serviceConfig":{"loadBalancingConfig":[{"round_robin":{}}]}}]"#,
        ],
    )
    .await;
}

#[tokio::test]
async fn txt_service_config_when_enabled() {
    let dns = TestDns::start().await;
    dns.set_ips("svc.test.grpc", &["127.0.0.10"]).await;
    publish_service_config(&dns).await;
    let builder = dns.builder().enable_service_config(true);
    let (_resolver, mut updates) = start(&builder, &target(1));
    let (_, state) = next_state(&mut updates).await;
    let Some(Ok(json)) = state.service_config else {
        panic!("expected a service config, got {:?}", state.service_config);
    };
    let config: serde_json::Value = serde_json::from_str(&json).expect("JSON");
    assert_eq!(
        config,
        serde_json::json!({ "loadBalancingConfig": [{ "round_robin": {} }] })
    );
}

#[tokio::test]
async fn txt_service_config_is_off_by_default_and_when_the_channel_says_so() {
    let dns = TestDns::start().await;
    dns.set_ips("svc.test.grpc", &["127.0.0.10"]).await;
    publish_service_config(&dns).await;

    let (_resolver, mut updates) = start(&dns.builder(), &target(1));
    assert_eq!(next_state(&mut updates).await.1.service_config, None);

    let builder = dns.builder().enable_service_config(true);
    let (_resolver, mut updates) = build(&builder, &target(1), |options| {
        options.service_config_enabled = false;
    });
    assert_eq!(next_state(&mut updates).await.1.service_config, None);
}

#[tokio::test]
async fn malformed_or_missing_txt_service_config() {
    let dns = TestDns::start().await;
    dns.set_ips("svc.test.grpc", &["127.0.0.10"]).await;
    let builder = dns
        .builder()
        .enable_service_config(true)
        .min_resolve_interval(Duration::from_millis(10));

    // No TXT record: no config, and the addresses still come.
    let (mut resolver, mut updates) = start(&builder, &target(1));
    let (_, state) = next_state(&mut updates).await;
    assert_eq!(state.service_config, None);
    assert_eq!(addresses(&state), ["127.0.0.10:1"]);

    dns.set_txt(SERVICE_CONFIG_TXT, &[r#"grpc_config=[{"serviceConfig":"#])
        .await;
    resolver.resolve_now();
    let (_, state) = next_state(&mut updates).await;
    assert!(
        matches!(state.service_config, Some(Err(_))),
        "{:?}",
        state.service_config
    );
    assert_eq!(addresses(&state), ["127.0.0.10:1"]);

    dns.set_txt(
        SERVICE_CONFIG_TXT,
        &[r#"grpc_config=[{"serviceConfig":{},"percentage":"all"}]"#],
    )
    .await;
    resolver.resolve_now();
    let (_, state) = next_state(&mut updates).await;
    assert!(matches!(state.service_config, Some(Err(_))));
}

#[tokio::test]
async fn ip_literals_resolve_without_any_query() {
    // The authority names a "DNS server" that records whatever reaches it.
    let silent = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    let port = silent.local_addr().expect("bound").port();
    for (literal, want) in [
        ("127.0.0.7:50051", "127.0.0.7:50051"),
        ("[::1]:50051", "[::1]:50051"),
        ("10.1.2.3", "10.1.2.3:443"),
    ] {
        let (mut resolver, mut updates) = start(
            &DnsResolverBuilder::new(),
            &format!("dns://127.0.0.1:{port}/{literal}"),
        );
        let (_, state) = next_state(&mut updates).await;
        assert_eq!(addresses(&state), [want]);
        resolver.resolve_now();
    }
    let mut buf = [0u8; 512];
    let query = timeout(Duration::from_millis(300), silent.recv_from(&mut buf)).await;
    assert!(query.is_err(), "a query was sent: {query:?}");
}

#[tokio::test]
async fn the_authority_names_the_dns_server() {
    let dns = TestDns::start().await;
    dns.set_ips("host.test.grpc", &["127.0.0.60"]).await;
    // The default builder (system configuration) defers to the target's authority.
    let target = format!("dns://127.0.0.1:{}/host.test.grpc:50051", dns.addr.port());
    let (_resolver, mut updates) = start(&DnsResolverBuilder::default(), &target);
    let (_, state) = next_state(&mut updates).await;
    assert_eq!(addresses(&state), ["127.0.0.60:50051"]);
}
