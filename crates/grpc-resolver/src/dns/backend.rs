//! Where the DNS resolver gets its answers: hickory-resolver in production, a script in
//! unit tests.

use std::future::Future;
use std::net::{IpAddr, SocketAddr};

use hickory_resolver::TokioResolver;
use hickory_resolver::config::{LookupIpStrategy, NameServerConfig, ResolverConfig, ResolverOpts};
use hickory_resolver::net::NetError;
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::rr::{Name, RData};

/// Why a lookup gave no answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum LookupError {
    /// The name or the record type does not exist (NXDOMAIN, NODATA).
    NotFound(String),
    /// Anything else: a timeout, a refused query, an unreadable configuration.
    Failed(String),
}

impl std::fmt::Display for LookupError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LookupError::NotFound(why) | LookupError::Failed(why) => f.write_str(why),
        }
    }
}

/// The two queries the DNS resolver makes.
pub(crate) trait DnsBackend: Send + Sync + 'static {
    /// Called before each resolution (refreshes whatever needs refreshing).
    fn begin(&mut self) {}

    /// The A and AAAA addresses of `host`.
    fn lookup_ip(
        &self,
        host: &str,
    ) -> impl Future<Output = Result<Vec<IpAddr>, LookupError>> + Send;

    /// The TXT records of `name`, each record's strings joined.
    fn lookup_txt(
        &self,
        name: &str,
    ) -> impl Future<Output = Result<Vec<String>, LookupError>> + Send;
}

/// Which DNS servers hickory asks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Servers {
    /// The system's (`/etc/resolv.conf` on Unix), including its search domains.
    System,
    /// These servers, over UDP and TCP, without search domains.
    Explicit(Vec<SocketAddr>),
}

/// hickory-resolver's tokio resolver, built by the resolution task before its first lookup
/// (reading `/etc/resolv.conf` and `/etc/hosts` is no work for the channel's `build` call). A
/// system configuration that cannot be read fails that resolution, which is reported and
/// retried with backoff, reading the configuration again.
pub(crate) struct Hickory {
    servers: Servers,
    resolver: Result<TokioResolver, String>,
}

impl Hickory {
    pub(crate) fn new(servers: Servers) -> Hickory {
        Hickory {
            servers,
            resolver: Err("the DNS resolver is not built yet".to_owned()),
        }
    }
}

fn options(options: &mut ResolverOpts) {
    // Both families, queried in parallel; IPv4 answers first. We do no RFC 6724 address
    // sorting, and a broken IPv6 route is more common than a broken IPv4 one.
    options.ip_strategy = LookupIpStrategy::Ipv4AndIpv6;
}

fn build_resolver(servers: &Servers) -> Result<TokioResolver, String> {
    match servers {
        Servers::System => {
            let mut builder = TokioResolver::builder_tokio()
                .map_err(|e| format!("cannot read the system DNS configuration: {e}"))?;
            options(builder.options_mut());
            builder
                .build()
                .map_err(|e| format!("cannot build the DNS resolver: {e}"))
        }
        Servers::Explicit(addresses) => {
            let name_servers = addresses
                .iter()
                .map(|address| {
                    let mut server = NameServerConfig::udp_and_tcp(address.ip());
                    for connection in &mut server.connections {
                        connection.port = address.port();
                    }
                    server
                })
                .collect();
            let config = ResolverConfig::from_name_servers(name_servers);
            let mut opts = ResolverOpts::default();
            options(&mut opts);
            TokioResolver::builder_with_config(config, TokioRuntimeProvider::default())
                .with_options(opts)
                .build()
                .map_err(|e| format!("cannot build the DNS resolver: {e}"))
        }
    }
}

fn lookup_error(error: NetError) -> LookupError {
    if error.is_no_records_found() {
        LookupError::NotFound(error.to_string())
    } else {
        LookupError::Failed(error.to_string())
    }
}

fn name(host: &str) -> Result<Name, LookupError> {
    Name::from_utf8(host).map_err(|e| LookupError::Failed(format!("invalid DNS name: {e}")))
}

impl DnsBackend for Hickory {
    fn begin(&mut self) {
        match &self.resolver {
            // Every resolution asks the servers again, like gRPC-Go (whose resolver does not
            // cache): the point of re-resolving is to see changes.
            Ok(resolver) => resolver.clear_cache(),
            Err(_) => self.resolver = build_resolver(&self.servers),
        }
    }

    async fn lookup_ip(&self, host: &str) -> Result<Vec<IpAddr>, LookupError> {
        let resolver = self
            .resolver
            .as_ref()
            .map_err(|e| LookupError::Failed(e.clone()))?;
        let answer = resolver
            .lookup_ip(name(host)?)
            .await
            .map_err(lookup_error)?;
        Ok(answer.iter().collect())
    }

    async fn lookup_txt(&self, txt_name: &str) -> Result<Vec<String>, LookupError> {
        let resolver = self
            .resolver
            .as_ref()
            .map_err(|e| LookupError::Failed(e.clone()))?;
        let answer = resolver
            .txt_lookup(name(txt_name)?)
            .await
            .map_err(lookup_error)?;
        let records = answer
            .answers()
            .iter()
            .filter_map(|record| match &record.data {
                RData::TXT(txt) => Some(
                    txt.txt_data
                        .iter()
                        .map(|part| String::from_utf8_lossy(part))
                        .collect::<String>(),
                ),
                _ => None,
            })
            .collect();
        Ok(records)
    }
}
