//! The `dns` scheme: A/AAAA lookups (and optionally TXT service configs) with
//! hickory-resolver, re-resolved on request and periodically.

mod backend;
mod schedule;
mod service_config;

use std::collections::HashSet;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use grpc_resolver_api::{
    Address, Resolver, ResolverBuilder, ResolverOptions, ResolverState, ResolverUpdater, Status,
    Target, split_host_port,
};
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::DEFAULT_PORT;
use crate::fixed::{FixedResolver, invalid_target};
use backend::{DnsBackend, Hickory, LookupError, Servers};
use schedule::Schedule;

/// The port of a DNS server named in the target's authority without one.
const DNS_PORT: u16 = 53;

/// Builds `dns` resolvers: `dns:[//authority/]host[:port]` (gRPC's naming doc; port 443 when
/// absent).
///
/// The resolver looks up the host's A and AAAA records with hickory-resolver (on the
/// system's DNS configuration, `/etc/resolv.conf` on Unix, or on the server named by a
/// non-empty authority: `dns://10.0.0.53:5353/api.internal:50051`, port 53 by default). An IP
/// literal host resolves to itself without any query. It behaves like gRPC-Go's dns
/// resolver, plus a periodic refresh:
/// - it resolves at build time (in a spawned tokio task), and reports failures (UNAVAILABLE,
///   naming the host) with `report_error`, then retries with exponential backoff (1 s, x1.6,
///   ±20 % jitter, capped at the refresh interval);
/// - `resolve_now` re-resolves, but no sooner than
///   [`min_resolve_interval`](Self::min_resolve_interval) (default 30 s) after the previous
///   resolution: requests inside the interval are coalesced into one resolution when it
///   elapses;
/// - it re-resolves every [`refresh_interval`](Self::refresh_interval) (default 5 min);
/// - with [`enable_service_config`](Self::enable_service_config) (off by default), it also
///   reads a service config from the TXT records at `_grpc_config.<host>` (gRFC A2), unless
///   the channel turned service configs off ([`ResolverOptions::service_config_enabled`]);
/// - it stops when dropped, or when the channel is gone (the updater returns `false`).
///
/// ```
/// use std::time::Duration;
/// use grpc_resolver::DnsResolverBuilder;
///
/// let dns = DnsResolverBuilder::new()
///     .min_resolve_interval(Duration::from_secs(10))
///     .refresh_interval(Duration::from_secs(60))
///     .enable_service_config(true);
/// # let _ = dns;
/// ```
#[derive(Clone, Debug)]
pub struct DnsResolverBuilder {
    min_resolve_interval: Duration,
    refresh_interval: Duration,
    service_config: bool,
    name_servers: Option<Vec<SocketAddr>>,
}

impl DnsResolverBuilder {
    /// The default [`min_resolve_interval`](Self::min_resolve_interval): 30 s, as gRPC-Go.
    pub const DEFAULT_MIN_RESOLVE_INTERVAL: Duration = Duration::from_secs(30);
    /// The default [`refresh_interval`](Self::refresh_interval): 5 min.
    pub const DEFAULT_REFRESH_INTERVAL: Duration = Duration::from_secs(300);

    /// A builder with the defaults: system DNS configuration, 30 s minimum interval between
    /// resolutions, 5 min refresh, no TXT service configs.
    pub fn new() -> DnsResolverBuilder {
        DnsResolverBuilder {
            min_resolve_interval: Self::DEFAULT_MIN_RESOLVE_INTERVAL,
            refresh_interval: Self::DEFAULT_REFRESH_INTERVAL,
            service_config: false,
            name_servers: None,
        }
    }

    /// The shortest time between the end of one resolution and the start of one asked for
    /// by `resolve_now`.
    pub fn min_resolve_interval(mut self, interval: Duration) -> DnsResolverBuilder {
        self.min_resolve_interval = interval;
        self
    }

    /// How long after a successful resolution the resolver resolves again on its own; also
    /// the longest retry delay after failures. At least 1 ms (smaller values are raised).
    pub fn refresh_interval(mut self, interval: Duration) -> DnsResolverBuilder {
        self.refresh_interval = interval.max(Duration::from_millis(1));
        self
    }

    /// Whether to look up service configs in TXT records at `_grpc_config.<host>` (gRFC
    /// A2). Off by default, as in gRPC-Go's recent releases: every resolution then costs one
    /// more query.
    pub fn enable_service_config(mut self, enabled: bool) -> DnsResolverBuilder {
        self.service_config = enabled;
        self
    }

    /// Asks these DNS servers (over UDP and TCP) instead of the system's configuration,
    /// without search domains. A target's non-empty authority still takes precedence. For
    /// tests, and for hosts whose `/etc/resolv.conf` is not the right source.
    pub fn name_servers(
        mut self,
        servers: impl IntoIterator<Item = SocketAddr>,
    ) -> DnsResolverBuilder {
        self.name_servers = Some(servers.into_iter().collect());
        self
    }
}

impl Default for DnsResolverBuilder {
    fn default() -> DnsResolverBuilder {
        DnsResolverBuilder::new()
    }
}

/// A parsed `dns` target.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct DnsTarget {
    /// The host to resolve, without brackets.
    pub(crate) host: String,
    pub(crate) port: u16,
    /// The DNS server named by the authority, if any.
    pub(crate) server: Option<SocketAddr>,
}

/// Reads `dns:[//authority/]host[:port]`.
pub(crate) fn parse_dns_target(target: &Target) -> Result<DnsTarget, Status> {
    let server = match target.authority() {
        None | Some("") => None,
        Some(authority) => Some(parse_authority(authority).map_err(|why| {
            invalid_target(target, format!("DNS server authority {authority:?}: {why}"))
        })?),
    };
    let endpoint = target.endpoint();
    if endpoint.is_empty() {
        return Err(invalid_target(target, "missing host"));
    }
    // A bare IPv6 literal (`dns:///::1`) has no brackets and so no port (as in gRPC-Go).
    if let Ok(ip) = endpoint.parse::<IpAddr>() {
        return Ok(DnsTarget {
            host: ip.to_string(),
            port: DEFAULT_PORT,
            server,
        });
    }
    let (host, port) = split_host_port(endpoint).map_err(|why| invalid_target(target, why))?;
    Ok(DnsTarget {
        host: host.to_owned(),
        port: port.unwrap_or(DEFAULT_PORT),
        server,
    })
}

/// `ip[:port]` or `[v6][:port]`: the DNS server to ask, port 53 by default.
fn parse_authority(authority: &str) -> Result<SocketAddr, &'static str> {
    if let Ok(ip) = authority.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, DNS_PORT));
    }
    let (host, port) = split_host_port(authority)?;
    let ip = host
        .parse::<IpAddr>()
        .map_err(|_| "the DNS server must be an IP address")?;
    Ok(SocketAddr::new(ip, port.unwrap_or(DNS_PORT)))
}

impl ResolverBuilder for DnsResolverBuilder {
    fn scheme(&self) -> &str {
        "dns"
    }

    fn build(
        &self,
        target: &Target,
        options: ResolverOptions,
    ) -> Result<Box<dyn Resolver>, Status> {
        let parsed = parse_dns_target(target)?;
        // gRPC-Go: an IP literal is its own answer, reported once; nothing to refresh.
        if let Ok(ip) = parsed.host.parse::<IpAddr>() {
            let address = Address::from(SocketAddr::new(ip, parsed.port));
            options
                .updater
                .update_state(ResolverState::from_addresses([address]));
            return Ok(Box::new(FixedResolver));
        }
        // Reject names DNS cannot carry now rather than failing every resolution.
        if let Err(e) = hickory_resolver::proto::rr::Name::from_utf8(&parsed.host) {
            return Err(invalid_target(target, format!("invalid host name: {e}")));
        }
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| {
            Status::internal("the dns resolver must be built inside a tokio runtime")
        })?;
        let servers = match (parsed.server, &self.name_servers) {
            (Some(server), _) => Servers::Explicit(vec![server]),
            (None, Some(servers)) => Servers::Explicit(servers.clone()),
            (None, None) => Servers::System,
        };
        let config = WorkerConfig {
            host: parsed.host,
            port: parsed.port,
            service_config: self.service_config && options.service_config_enabled,
            min_resolve_interval: self.min_resolve_interval,
            refresh_interval: self.refresh_interval,
        };
        Ok(Box::new(DnsResolver::spawn(
            &runtime,
            Hickory::new(servers),
            config,
            options.updater,
        )))
    }
}

/// What the resolution task needs to know.
#[derive(Clone, Debug)]
struct WorkerConfig {
    host: String,
    port: u16,
    service_config: bool,
    min_resolve_interval: Duration,
    refresh_interval: Duration,
}

/// A running DNS resolver: a handle on its task.
struct DnsResolver {
    wake: Arc<Notify>,
    task: JoinHandle<()>,
}

impl DnsResolver {
    fn spawn<B: DnsBackend>(
        runtime: &tokio::runtime::Handle,
        backend: B,
        config: WorkerConfig,
        updater: ResolverUpdater,
    ) -> DnsResolver {
        let wake = Arc::new(Notify::new());
        let worker = Worker {
            backend,
            schedule: Schedule::new(
                Instant::now(),
                config.min_resolve_interval,
                config.refresh_interval,
            ),
            txt_name: config
                .service_config
                .then(|| format!("_grpc_config.{}", config.host)),
            config,
            updater,
            wake: wake.clone(),
        };
        let task = runtime.spawn(worker.run());
        DnsResolver { wake, task }
    }
}

impl Resolver for DnsResolver {
    fn resolve_now(&mut self) {
        // A stored permit: requests made while the task is busy are not lost, and several
        // collapse into one.
        self.wake.notify_one();
    }
}

impl Drop for DnsResolver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The resolution task.
struct Worker<B> {
    backend: B,
    config: WorkerConfig,
    txt_name: Option<String>,
    schedule: Schedule,
    updater: ResolverUpdater,
    wake: Arc<Notify>,
}

impl<B: DnsBackend> Worker<B> {
    async fn run(mut self) {
        loop {
            let due = self.schedule.next_due();
            tokio::select! {
                biased;
                () = self.wake.notified() => {
                    self.schedule.resolve_now();
                    continue;
                }
                () = tokio::time::sleep_until(due) => {}
            }
            self.schedule.started();
            self.backend.begin();
            let result = self.resolve().await;
            let succeeded = result.is_ok();
            let channel_open = match result {
                Ok(state) => self.updater.update_state(state),
                Err(status) => {
                    tracing::debug!(host = %self.config.host, error = %status.message(), "dns resolution failed");
                    self.updater.report_error(status)
                }
            };
            if !channel_open {
                tracing::debug!(host = %self.config.host, "dns resolver: channel gone, stopping");
                return;
            }
            // Taken after the report, so the next resolution starts no sooner than the
            // interval after the channel heard of this one.
            let now = Instant::now();
            if succeeded {
                self.schedule.succeeded(now);
            } else {
                let delay = self.schedule.failed(now, crate::rand::unit());
                tracing::debug!(host = %self.config.host, ?delay, "dns resolver: retrying after backoff");
            }
        }
    }

    /// One resolution: the addresses, and the service config when asked for.
    async fn resolve(&self) -> Result<ResolverState, Status> {
        let host = self.config.host.as_str();
        let txt = async {
            match &self.txt_name {
                Some(name) => Some((name, self.backend.lookup_txt(name).await)),
                None => None,
            }
        };
        let (ips, txt) = tokio::join!(self.backend.lookup_ip(host), txt);
        let ips = ips
            .map_err(|e| Status::unavailable(format!("DNS resolution of {host:?} failed: {e}")))?;
        // A hosts file and DNS may both answer; keep the first of duplicates, in order.
        let mut seen = HashSet::with_capacity(ips.len());
        let addresses: Vec<Address> = ips
            .into_iter()
            .map(|ip| SocketAddr::new(ip, self.config.port))
            .filter(|address| seen.insert(*address))
            .map(Address::from)
            .collect();
        if addresses.is_empty() {
            return Err(Status::unavailable(format!(
                "DNS resolution of {host:?} returned no addresses"
            )));
        }
        let service_config = match txt {
            None => None,
            Some((_, Ok(records))) => service_config::from_txt_records(
                &records,
                service_config::Client {
                    hostname: service_config::system_hostname(),
                    percentile: crate::rand::below(100),
                },
            ),
            // No TXT record: no service config (the channel uses its default).
            Some((_, Err(LookupError::NotFound(_)))) => None,
            // gRPC-Go reports failed TXT lookups (timeouts and the like) as a config error:
            // the channel keeps the config it had.
            Some((name, Err(LookupError::Failed(why)))) => {
                Some(Err(format!("TXT lookup of {name:?} failed: {why}")))
            }
        };
        Ok(ResolverState {
            addresses,
            service_config,
            ..ResolverState::default()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use grpc_core::Code;
    use grpc_resolver_api::{Addr, ResolverUpdate};
    use std::sync::Mutex;
    use tokio::sync::mpsc;

    // ---- target parsing ----

    fn parse(target: &str) -> Result<Result<DnsTarget, Status>, Box<dyn std::error::Error>> {
        Ok(parse_dns_target(&Target::parse(target).ok_or("a URI")?))
    }

    fn dns(
        host: &str,
        port: u16,
        server: Option<&str>,
    ) -> Result<DnsTarget, Box<dyn std::error::Error>> {
        Ok(DnsTarget {
            host: host.to_owned(),
            port,
            server: server.map(str::parse).transpose()?,
        })
    }

    #[test]
    fn targets_of_the_naming_doc() -> Result<(), Box<dyn std::error::Error>> {
        let cases = [
            ("dns:///foo.com:8080", dns("foo.com", 8080, None)?),
            ("dns:///foo.com", dns("foo.com", 443, None)?),
            ("dns:foo.com:1", dns("foo.com", 1, None)?),
            ("dns:foo.com", dns("foo.com", 443, None)?),
            ("dns:///[::1]:80", dns("::1", 80, None)?),
            ("dns:///::1", dns("::1", 443, None)?),
            ("dns:///10.0.0.1", dns("10.0.0.1", 443, None)?),
            (
                "dns://8.8.8.8/foo.com",
                dns("foo.com", 443, Some("8.8.8.8:53"))?,
            ),
            (
                "dns://127.0.0.1:5353/foo:9",
                dns("foo", 9, Some("127.0.0.1:5353"))?,
            ),
            ("dns://[::1]:5353/foo", dns("foo", 443, Some("[::1]:5353"))?),
            ("dns://[::1]/foo", dns("foo", 443, Some("[::1]:53"))?),
        ];
        for (input, expected) in cases {
            assert_eq!(parse(input)?.ok(), Some(expected), "{input}");
        }
        Ok(())
    }

    #[test]
    fn malformed_targets_are_invalid_arguments_naming_the_target()
    -> Result<(), Box<dyn std::error::Error>> {
        for bad in [
            "dns:///",
            "dns:",
            "dns:///foo:",
            "dns:///foo:bar",
            "dns:///foo:65536",
            "dns:///[::1",
            "dns:///[::1]:x",
            "dns:///a b",
            "dns://dns.example/foo",
            "dns://8.8.8.8:x/foo",
            "dns://8.8.8.8:99999/foo",
        ] {
            let err = parse(bad)?.expect_err(bad);
            assert_eq!(err.code(), Code::InvalidArgument, "{bad}");
            assert!(err.message().contains(bad), "{bad}: {}", err.message());
        }
        Ok(())
    }

    #[tokio::test]
    async fn names_dns_cannot_carry_fail_the_build() -> Result<(), Box<dyn std::error::Error>> {
        let long_label = format!("dns:///{}.example", "a".repeat(64));
        let target = Target::parse(&long_label).ok_or("a URI")?;
        let updater = ResolverUpdater::new(|_| true);
        let err = DnsResolverBuilder::new()
            .build(&target, ResolverOptions::new(updater))
            .err()
            .ok_or("the build fails")?;
        assert_eq!(err.code(), Code::InvalidArgument);
        Ok(())
    }

    #[test]
    fn ip_literals_need_no_runtime_and_no_query() -> Result<(), Box<dyn std::error::Error>> {
        let (tx, rx) = std::sync::mpsc::channel();
        let updater = ResolverUpdater::new(move |update| tx.send(update).is_ok());
        let target = Target::parse("dns:///[::1]:50051").ok_or("a URI")?;
        let mut resolver =
            DnsResolverBuilder::new().build(&target, ResolverOptions::new(updater))?;
        resolver.resolve_now();
        match rx.try_recv() {
            Ok(ResolverUpdate::State(state)) => {
                assert_eq!(state.addresses.len(), 1);
                assert_eq!(state.addresses[0].addr, Addr::Tcp("[::1]:50051".parse()?));
            }
            other => return Err(format!("expected a state, got {other:?}").into()),
        }
        assert!(rx.try_recv().is_err(), "one update only");
        Ok(())
    }

    #[test]
    fn host_names_need_a_runtime() -> Result<(), Box<dyn std::error::Error>> {
        let target = Target::parse("dns:///example.com").ok_or("a URI")?;
        let updater = ResolverUpdater::new(|_| true);
        let err = DnsResolverBuilder::new()
            .build(&target, ResolverOptions::new(updater))
            .err()
            .ok_or("no runtime")?;
        assert_eq!(err.code(), Code::Internal);
        Ok(())
    }

    // ---- the resolution task, on a scripted backend and tokio's paused clock ----

    #[derive(Default)]
    struct ScriptState {
        ip: Option<Result<Vec<IpAddr>, LookupError>>,
        txt: Option<Result<Vec<String>, LookupError>>,
        ip_calls: usize,
        txt_calls: usize,
        begins: usize,
    }

    #[derive(Clone, Default)]
    struct Script(Arc<Mutex<ScriptState>>);

    impl Script {
        fn answering(ips: &[&str]) -> Result<Script, Box<dyn std::error::Error>> {
            let script = Script::default();
            script.set_ips(ips)?;
            Ok(script)
        }

        fn state(&self) -> std::sync::MutexGuard<'_, ScriptState> {
            self.0
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
        }

        fn set_ips(&self, ips: &[&str]) -> Result<(), Box<dyn std::error::Error>> {
            let ips = ips
                .iter()
                .map(|ip| ip.parse())
                .collect::<Result<Vec<IpAddr>, _>>()?;
            self.state().ip = Some(Ok(ips));
            Ok(())
        }

        fn set_ip_error(&self, error: LookupError) {
            self.state().ip = Some(Err(error));
        }

        fn set_txt(&self, txt: Result<Vec<String>, LookupError>) {
            self.state().txt = Some(txt);
        }

        fn ip_calls(&self) -> usize {
            self.state().ip_calls
        }
    }

    impl DnsBackend for Script {
        fn begin(&mut self) {
            self.state().begins += 1;
        }

        async fn lookup_ip(&self, _host: &str) -> Result<Vec<IpAddr>, LookupError> {
            let mut state = self.state();
            state.ip_calls += 1;
            state
                .ip
                .clone()
                .unwrap_or_else(|| Err(LookupError::Failed("no script".into())))
        }

        async fn lookup_txt(&self, _name: &str) -> Result<Vec<String>, LookupError> {
            let mut state = self.state();
            state.txt_calls += 1;
            state
                .txt
                .clone()
                .unwrap_or_else(|| Err(LookupError::NotFound("no TXT".into())))
        }
    }

    type Updates = mpsc::UnboundedReceiver<(Instant, ResolverUpdate)>;

    fn config(min: u64, refresh: u64) -> WorkerConfig {
        WorkerConfig {
            host: "svc.example".to_owned(),
            port: 50051,
            service_config: false,
            min_resolve_interval: Duration::from_secs(min),
            refresh_interval: Duration::from_secs(refresh),
        }
    }

    fn start(script: &Script, config: WorkerConfig) -> (DnsResolver, Updates) {
        let (tx, rx) = mpsc::unbounded_channel();
        let updater = ResolverUpdater::new(move |update| tx.send((Instant::now(), update)).is_ok());
        let runtime = tokio::runtime::Handle::current();
        let resolver = DnsResolver::spawn(&runtime, script.clone(), config, updater);
        (resolver, rx)
    }

    async fn next(
        updates: &mut Updates,
    ) -> Result<(Instant, ResolverUpdate), Box<dyn std::error::Error>> {
        Ok(
            tokio::time::timeout(Duration::from_secs(3600), updates.recv())
                .await?
                .ok_or("the resolver is running")?,
        )
    }

    async fn next_state(
        updates: &mut Updates,
    ) -> Result<(Instant, ResolverState), Box<dyn std::error::Error>> {
        match next(updates).await? {
            (at, ResolverUpdate::State(state)) => Ok((at, state)),
            (_, ResolverUpdate::Error(status)) => {
                Err(format!("unexpected error {status:?}").into())
            }
        }
    }

    async fn next_error(
        updates: &mut Updates,
    ) -> Result<(Instant, Status), Box<dyn std::error::Error>> {
        match next(updates).await? {
            (at, ResolverUpdate::Error(status)) => Ok((at, status)),
            (_, ResolverUpdate::State(state)) => Err(format!("unexpected state {state:?}").into()),
        }
    }

    /// `at` is `want` to within the timer wheel's millisecond rounding.
    fn about(at: Instant, want: Instant) -> bool {
        at >= want && at - want <= Duration::from_millis(5)
    }

    fn tcp(addresses: &[Address]) -> Vec<String> {
        addresses.iter().map(|a| a.to_string()).collect()
    }

    #[tokio::test(start_paused = true)]
    async fn resolves_at_once_then_every_refresh_interval() -> Result<(), Box<dyn std::error::Error>>
    {
        let script = Script::answering(&["10.0.0.1", "::1"])?;
        let t0 = Instant::now();
        let (_resolver, mut updates) = start(&script, config(30, 300));
        let (at, state) = next_state(&mut updates).await?;
        assert_eq!(at, t0);
        assert_eq!(tcp(&state.addresses), ["10.0.0.1:50051", "[::1]:50051"]);
        assert!(state.service_config.is_none());

        script.set_ips(&["10.0.0.2"])?;
        let (at, state) = next_state(&mut updates).await?;
        assert!(about(at, t0 + Duration::from_secs(300)), "{:?}", at - t0);
        assert_eq!(tcp(&state.addresses), ["10.0.0.2:50051"]);
        let (at2, _) = next_state(&mut updates).await?;
        assert!(about(at2, at + Duration::from_secs(300)), "{:?}", at2 - at);
        assert_eq!(
            script.state().begins,
            3,
            "the backend is refreshed per resolution"
        );
        Ok(())
    }

    #[tokio::test(start_paused = true)]
    async fn resolve_now_is_rate_limited_and_coalesced() -> Result<(), Box<dyn std::error::Error>> {
        let script = Script::answering(&["10.0.0.1"])?;
        let (mut resolver, mut updates) = start(&script, config(30, 300));
        let (t1, _) = next_state(&mut updates).await?;

        tokio::time::sleep(Duration::from_secs(5)).await;
        for _ in 0..10 {
            resolver.resolve_now();
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        let (t2, _) = next_state(&mut updates).await?;
        assert!(about(t2, t1 + Duration::from_secs(30)), "{:?}", t2 - t1);
        assert_eq!(script.ip_calls(), 2, "ten requests, one resolution");

        // Nothing more until the refresh.
        let (t3, _) = next_state(&mut updates).await?;
        assert!(about(t3, t2 + Duration::from_secs(300)), "{:?}", t3 - t2);
        assert_eq!(script.ip_calls(), 3);
        Ok(())
    }

    #[tokio::test(start_paused = true)]
    async fn resolve_now_after_the_interval_resolves_at_once()
    -> Result<(), Box<dyn std::error::Error>> {
        let script = Script::answering(&["10.0.0.1"])?;
        let (mut resolver, mut updates) = start(&script, config(30, 300));
        let (t1, _) = next_state(&mut updates).await?;
        tokio::time::sleep(Duration::from_secs(40)).await;
        script.set_ips(&["10.0.0.9"])?;
        resolver.resolve_now();
        let (t2, state) = next_state(&mut updates).await?;
        assert!(about(t2, t1 + Duration::from_secs(40)), "{:?}", t2 - t1);
        assert_eq!(tcp(&state.addresses), ["10.0.0.9:50051"]);
        Ok(())
    }

    #[tokio::test(start_paused = true)]
    async fn failures_are_reported_and_retried_with_backoff()
    -> Result<(), Box<dyn std::error::Error>> {
        let script = Script::default();
        script.set_ip_error(LookupError::NotFound("no such name".into()));
        let (_resolver, mut updates) = start(&script, config(30, 300));

        let (mut previous, status) = next_error(&mut updates).await?;
        assert_eq!(status.code(), Code::Unavailable);
        assert!(
            status.message().contains("svc.example"),
            "{}",
            status.message()
        );
        assert!(
            status.message().contains("no such name"),
            "{}",
            status.message()
        );
        for nominal in [1.0, 1.6, 2.56, 4.096] {
            let (at, _) = next_error(&mut updates).await?;
            let waited = (at - previous).as_secs_f64();
            assert!(
                waited >= nominal * 0.8 - 0.001 && waited <= nominal * 1.2 + 0.01,
                "retry after {waited} s, nominal {nominal} s"
            );
            previous = at;
        }
        script.set_ips(&["10.0.0.1"])?;
        let (at, state) = next_state(&mut updates).await?;
        assert_eq!(tcp(&state.addresses), ["10.0.0.1:50051"]);
        // Backoff restarts: the next one is the refresh, 300 s later.
        script.set_ip_error(LookupError::Failed("timed out".into()));
        let (at2, _) = next_error(&mut updates).await?;
        assert!(about(at2, at + Duration::from_secs(300)));
        let (at3, _) = next_error(&mut updates).await?;
        assert!((at3 - at2).as_secs_f64() <= 1.2 + 0.01, "first retry again");
        Ok(())
    }

    #[tokio::test(start_paused = true)]
    async fn backoff_is_capped_at_the_refresh_interval() -> Result<(), Box<dyn std::error::Error>> {
        let script = Script::default();
        script.set_ip_error(LookupError::Failed("down".into()));
        let (_resolver, mut updates) = start(&script, config(30, 2));
        let (mut previous, _) = next_error(&mut updates).await?;
        for _ in 0..8 {
            let (at, _) = next_error(&mut updates).await?;
            assert!(at - previous <= Duration::from_secs(2) + Duration::from_millis(5));
            previous = at;
        }
        Ok(())
    }

    #[tokio::test(start_paused = true)]
    async fn an_empty_answer_is_an_error_and_duplicates_are_dropped()
    -> Result<(), Box<dyn std::error::Error>> {
        let script = Script::answering(&[])?;
        let (_resolver, mut updates) = start(&script, config(30, 1));
        let (_, status) = next_error(&mut updates).await?;
        assert!(
            status.message().contains("no addresses"),
            "{}",
            status.message()
        );
        script.set_ips(&["10.0.0.1", "10.0.0.2", "10.0.0.1"])?;
        let (_, state) = next_state(&mut updates).await?;
        assert_eq!(tcp(&state.addresses), ["10.0.0.1:50051", "10.0.0.2:50051"]);
        Ok(())
    }

    #[tokio::test(start_paused = true)]
    async fn stops_when_dropped() -> Result<(), Box<dyn std::error::Error>> {
        let script = Script::answering(&["10.0.0.1"])?;
        let (resolver, mut updates) = start(&script, config(1, 1));
        next_state(&mut updates).await?;
        drop(resolver);
        tokio::time::sleep(Duration::from_secs(60)).await;
        assert_eq!(script.ip_calls(), 1);
        assert!(
            updates.recv().await.is_none(),
            "the task and its updater are gone"
        );
        Ok(())
    }

    #[tokio::test(start_paused = true)]
    async fn stops_when_the_channel_is_gone() -> Result<(), Box<dyn std::error::Error>> {
        let script = Script::answering(&["10.0.0.1"])?;
        let calls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let seen = calls.clone();
        let updater = ResolverUpdater::new(move |_| {
            seen.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            false
        });
        let runtime = tokio::runtime::Handle::current();
        let resolver = DnsResolver::spawn(&runtime, script.clone(), config(1, 1), updater);
        tokio::time::sleep(Duration::from_secs(60)).await;
        assert_eq!(script.ip_calls(), 1);
        assert_eq!(calls.load(std::sync::atomic::Ordering::Relaxed), 1);
        assert!(resolver.task.is_finished());
        Ok(())
    }

    fn with_txt(enabled: bool) -> WorkerConfig {
        WorkerConfig {
            service_config: enabled,
            ..config(30, 300)
        }
    }

    #[tokio::test(start_paused = true)]
    async fn service_config_from_txt_records() -> Result<(), Box<dyn std::error::Error>> {
        let script = Script::answering(&["10.0.0.1"])?;
        script.set_txt(Ok(vec![
            "unrelated".into(),
            r#"grpc_config=[{"clientLanguage":["go"],"serviceConfig":{"a":1}},{"serviceConfig":{"b":2}}]"#
                .into(),
        ]));
        let (_r, mut updates) = start(&script, with_txt(true));
        let (_, state) = next_state(&mut updates).await?;
        assert_eq!(state.service_config, Some(Ok(r#"{"b":2}"#.to_owned())));

        let (_r, mut updates) = start(&script, with_txt(false));
        let (_, state) = next_state(&mut updates).await?;
        assert_eq!(state.service_config, None);
        assert_eq!(script.state().txt_calls, 1, "no TXT query when disabled");
        Ok(())
    }

    #[tokio::test(start_paused = true)]
    async fn txt_failures() -> Result<(), Box<dyn std::error::Error>> {
        let script = Script::answering(&["10.0.0.1"])?;
        script.set_txt(Err(LookupError::NotFound("nxdomain".into())));
        let (_r, mut updates) = start(&script, with_txt(true));
        assert_eq!(next_state(&mut updates).await?.1.service_config, None);

        script.set_txt(Err(LookupError::Failed("timed out".into())));
        let (_r, mut updates) = start(&script, with_txt(true));
        match next_state(&mut updates).await?.1.service_config {
            Some(Err(why)) => assert!(why.contains("_grpc_config.svc.example"), "{why}"),
            other => return Err(format!("expected a config error, got {other:?}").into()),
        }

        script.set_txt(Ok(vec!["grpc_config={not json".into()]));
        let (_r, mut updates) = start(&script, with_txt(true));
        assert!(matches!(
            next_state(&mut updates).await?.1.service_config,
            Some(Err(_))
        ));
        Ok(())
    }
}
