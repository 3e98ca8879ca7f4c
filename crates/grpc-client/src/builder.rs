//! [`ChannelBuilder`]: target, TLS, timeouts, HTTP/2 settings, limits, compression,
//! interceptors and credentials of a [`Channel`].

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use grpc_core::credentials::CallCredentials;
use grpc_core::stats::StatsHandler;
use grpc_core::{Encodings, Status};
use grpc_transport::connection::Config;
use grpc_transport::driver::tls;
use rustls::pki_types::ServerName;

use grpc_balancer_api::{LbPolicyBuilder, LbPolicyRegistry};
use grpc_resolver_api::{ResolverBuilder, ResolverRegistry, split_host_port};

use crate::backoff::ConnectBackoff;
use crate::balancer::{Balancer, DEFAULT_POLICY, LbSettings, PolicyLookup, ResolverLookup};
use crate::call::USER_AGENT;
use crate::channel::{Channel, ChannelInner};
use crate::interceptor::Interceptor;
use crate::service_config;
use crate::subchannel::{ConnectSettings, Dialer, TlsConnect};
use crate::target::{Security, parse_target};

/// Default [`ChannelBuilder::connect_timeout`] (gRPC's MIN_CONNECT_TIMEOUT).
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(20);

/// Default [`ChannelBuilder::idle_timeout`]: 30 minutes (gRPC-Go's).
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(30 * 60);

/// Default [`ChannelBuilder::retry_buffer_size`]: 256 KiB (gRPC-Go's per-call retry buffer).
pub const DEFAULT_RETRY_BUFFER_SIZE: usize = 256 * 1024;

/// Default [`ChannelBuilder::max_decoding_message_size`]: 4 MiB.
pub const DEFAULT_MAX_DECODING_MESSAGE_SIZE: usize = 4 * 1024 * 1024;

/// Builds a [`Channel`]. Start with [`Channel::builder`].
///
/// ```no_run
/// use std::time::Duration;
/// use grpc_client::Channel;
///
/// # async fn example() -> Result<(), grpc_client::Status> {
/// let ca = std::fs::read("ca.pem").map_err(grpc_client::Status::from)?;
/// let channel = Channel::builder("https://api.example.com:443")
///     .tls_ca_pem(&ca)?
///     .timeout(Duration::from_secs(10))
///     .send_compressed("gzip")
///     .connect()
///     .await?;
/// # let _ = channel;
/// # Ok(())
/// # }
/// ```
pub struct ChannelBuilder {
    target: String,
    tls: Option<Arc<rustls::ClientConfig>>,
    server_name_override: Option<String>,
    connect_timeout: Duration,
    backoff: ConnectBackoff,
    timeout: Option<Duration>,
    transport: Config,
    max_decoding: usize,
    max_encoding: usize,
    send_compressed: Option<&'static str>,
    accept_compressed: Encodings,
    user_agent: Option<String>,
    interceptors: Vec<Box<dyn Interceptor>>,
    credentials: Option<Arc<dyn CallCredentials>>,
    allow_insecure_credentials: bool,
    resolvers: ResolverRegistry,
    policies: LbPolicyRegistry,
    default_service_config: Option<String>,
    resolver_service_config: bool,
    idle_timeout: Option<Duration>,
    retry_buffer_size: usize,
    health_checks: bool,
    stats: Option<Arc<dyn StatsHandler>>,
    dialer: Option<Dialer>,
}

impl ChannelBuilder {
    pub(crate) fn new(target: &str) -> ChannelBuilder {
        ChannelBuilder {
            target: target.to_owned(),
            tls: None,
            server_name_override: None,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            backoff: ConnectBackoff::default(),
            timeout: None,
            transport: Config::client(),
            max_decoding: DEFAULT_MAX_DECODING_MESSAGE_SIZE,
            max_encoding: usize::MAX,
            send_compressed: None,
            accept_compressed: Encodings::all(),
            user_agent: None,
            interceptors: Vec::new(),
            credentials: None,
            allow_insecure_credentials: false,
            resolvers: ResolverRegistry::new(),
            policies: LbPolicyRegistry::new(),
            default_service_config: None,
            resolver_service_config: true,
            idle_timeout: Some(DEFAULT_IDLE_TIMEOUT),
            retry_buffer_size: DEFAULT_RETRY_BUFFER_SIZE,
            health_checks: true,
            stats: None,
            dialer: None,
        }
    }

    /// Adds a resolver for this channel's target scheme (or any scheme): looked up before
    /// the process-wide registry ([`grpc_resolver_api::registry::register`]) and the
    /// built-in resolvers (`dns`, `passthrough`, `unix`, `unix-abstract`, `ipv4`, `ipv6`).
    pub fn resolver(mut self, builder: Arc<dyn ResolverBuilder>) -> ChannelBuilder {
        self.resolvers.register(builder);
        self
    }

    /// Adds a load-balancing policy that service configs can select by name: looked up
    /// before the process-wide registry ([`grpc_balancer_api::registry::register`]) and the
    /// built-in policies (`pick_first`, `round_robin`, `weighted_round_robin`,
    /// `least_request_experimental`, `ring_hash_experimental`).
    pub fn lb_policy(mut self, builder: Arc<dyn LbPolicyBuilder>) -> ChannelBuilder {
        self.policies.register(builder);
        self
    }

    /// The service config (JSON, gRPC's `service_config.md`) used while the resolver
    /// provides none: load-balancing policy, per-method timeouts, wait-for-ready, message
    /// limits, retry or hedging policies, retry throttling. An invalid config fails
    /// `connect`/`connect_lazy` with INVALID_ARGUMENT.
    ///
    /// ```no_run
    /// # fn example() -> Result<(), grpc_client::Status> {
    /// let channel = grpc_client::Channel::builder("dns:///api.example.com:50051")
    ///     .default_service_config(r#"{
    ///         "loadBalancingConfig": [{"round_robin": {}}],
    ///         "methodConfig": [{
    ///             "name": [{"service": "echo.Echo"}],
    ///             "timeout": "2s",
    ///             "retryPolicy": {
    ///                 "maxAttempts": 3, "initialBackoff": "0.1s", "maxBackoff": "1s",
    ///                 "backoffMultiplier": 2, "retryableStatusCodes": ["UNAVAILABLE"]
    ///             }
    ///         }]
    ///     }"#)
    ///     .connect_lazy()?;
    /// # let _ = channel; Ok(()) }
    /// ```
    pub fn default_service_config(mut self, json: &str) -> ChannelBuilder {
        self.default_service_config = Some(json.to_owned());
        self
    }

    /// Whether service configs from the resolver are used (default `true`); when `false`
    /// only the [`default_service_config`](ChannelBuilder::default_service_config) applies.
    pub fn resolver_service_config(mut self, enabled: bool) -> ChannelBuilder {
        self.resolver_service_config = enabled;
        self
    }

    /// After this long without calls the channel goes IDLE: it stops resolving and closes
    /// its connections; the next call starts them again. Default 30 minutes; `None` never.
    pub fn idle_timeout(mut self, timeout: Option<Duration>) -> ChannelBuilder {
        self.idle_timeout = timeout;
        self
    }

    /// How many bytes of a client-streaming or bidi call's request messages are kept so the
    /// call can be retried (gRFC A6); a call whose requests exceed it commits and is no
    /// longer retried. Default 256 KiB. Unary and server-streaming calls keep their one
    /// request message whatever its size.
    pub fn retry_buffer_size(mut self, bytes: usize) -> ChannelBuilder {
        self.retry_buffer_size = bytes;
        self
    }

    /// Whether a service config's `healthCheckConfig` turns on client-side health checks
    /// (gRFC A17: each connection watches `grpc.health.v1.Health/Watch` and is used only
    /// while the backend reports SERVING). Default `true`; `false` ignores it.
    pub fn health_checks(mut self, enabled: bool) -> ChannelBuilder {
        self.health_checks = enabled;
        self
    }

    /// Receives the events of every call on this channel (headers, messages with sizes,
    /// trailers, the end with status and duration): metrics, logs. Default: none (one
    /// branch per event).
    pub fn stats_handler(mut self, handler: Arc<dyn StatsHandler>) -> ChannelBuilder {
        self.stats = Some(handler);
        self
    }

    /// Replaces the connector (tests that count connection attempts on a fake clock).
    #[cfg(test)]
    pub(crate) fn dialer(mut self, dialer: Dialer) -> ChannelBuilder {
        self.dialer = Some(dialer);
        self
    }

    /// Connects with TLS using this rustls configuration (its ALPN list is replaced by
    /// `h2`). Required for `https://` targets; turns TLS on for `host:port` targets.
    pub fn tls_config(mut self, config: Arc<rustls::ClientConfig>) -> ChannelBuilder {
        self.tls = Some(config);
        self
    }

    /// Connects with TLS, trusting the CA certificates in `ca_pem` (PEM). Fails with
    /// INVALID_ARGUMENT if the PEM holds no usable certificate.
    pub fn tls_ca_pem(self, ca_pem: &[u8]) -> Result<ChannelBuilder, Status> {
        use rustls::pki_types::CertificateDer;
        use rustls::pki_types::pem::PemObject;
        if CertificateDer::pem_slice_iter(ca_pem).next().is_none() {
            return Err(Status::invalid_argument(
                "no CA certificate in the PEM data",
            ));
        }
        let config = tls::client_config(ca_pem)
            .map_err(|e| Status::invalid_argument(format!("invalid CA certificates: {e}")))?;
        Ok(self.tls_config(config))
    }

    /// The name to verify the server's certificate against (and to send as SNI and as
    /// `:authority`) instead of the target's host. For tests and for servers reached by IP.
    pub fn server_name_override(mut self, name: &str) -> ChannelBuilder {
        self.server_name_override = Some(name.to_owned());
        self
    }

    /// The least time a connection attempt gets (gRPC's MIN_CONNECT_TIMEOUT). Default 20 s.
    pub fn connect_timeout(mut self, timeout: Duration) -> ChannelBuilder {
        self.connect_timeout = timeout;
        self
    }

    /// The waits between connection attempts. Default: gRPC's (1 s, x1.6, ±20 %, 120 s).
    pub fn connect_backoff(mut self, backoff: ConnectBackoff) -> ChannelBuilder {
        self.backoff = backoff;
        self
    }

    /// The timeout of calls that set none themselves. Default: none.
    pub fn timeout(mut self, timeout: Duration) -> ChannelBuilder {
        self.timeout = Some(timeout);
        self
    }

    /// Sends HTTP/2 keepalive PINGs after this long without reading anything (floored at
    /// 10 s). Default: off.
    pub fn keepalive_time(mut self, time: Duration) -> ChannelBuilder {
        self.transport.keepalive.time = Some(time);
        self
    }

    /// Closes the connection when a keepalive PING is not answered this long. Default 20 s.
    pub fn keepalive_timeout(mut self, timeout: Duration) -> ChannelBuilder {
        self.transport.keepalive.timeout = timeout;
        self
    }

    /// Sends keepalive PINGs even while no call is in flight. Default `false`.
    pub fn keepalive_permit_without_calls(mut self, permit: bool) -> ChannelBuilder {
        self.transport.keepalive.permit_without_stream = permit;
        self
    }

    /// The HTTP/2 stream receive window. Setting it turns off BDP window growth.
    pub fn initial_stream_window_size(mut self, size: u32) -> ChannelBuilder {
        self.transport.initial_stream_window = Some(size);
        self
    }

    /// The HTTP/2 connection receive window. Setting it turns off BDP window growth.
    pub fn initial_connection_window_size(mut self, size: u32) -> ChannelBuilder {
        self.transport.initial_connection_window = Some(size);
        self
    }

    /// The largest response header list accepted (SETTINGS_MAX_HEADER_LIST_SIZE). Default
    /// 16 MiB.
    pub fn max_header_list_size(mut self, size: u32) -> ChannelBuilder {
        self.transport.max_header_list_size = size;
        self
    }

    /// The largest response message accepted, after decompression. Default 4 MiB.
    pub fn max_decoding_message_size(mut self, limit: usize) -> ChannelBuilder {
        self.max_decoding = limit;
        self
    }

    /// The largest request message sent, after compression. Default: unlimited.
    pub fn max_encoding_message_size(mut self, limit: usize) -> ChannelBuilder {
        self.max_encoding = limit;
        self
    }

    /// Compresses request messages with this encoding (`gzip`, `deflate`, `zstd`, or a
    /// compressor added with [`accept_compressed`](ChannelBuilder::accept_compressed)).
    /// Default: none. An unknown name fails `connect` with INVALID_ARGUMENT.
    pub fn send_compressed(mut self, encoding: &'static str) -> ChannelBuilder {
        self.send_compressed = Some(encoding);
        self
    }

    /// The encodings accepted in responses (advertised in `grpc-accept-encoding`). Default:
    /// every built-in one.
    pub fn accept_compressed(mut self, encodings: Encodings) -> ChannelBuilder {
        self.accept_compressed = encodings;
        self
    }

    /// A prefix for the `user-agent` header (`<prefix> grpc-rust/<version>`).
    pub fn user_agent(mut self, user_agent: &str) -> ChannelBuilder {
        self.user_agent = Some(user_agent.to_owned());
        self
    }

    /// Adds an interceptor; interceptors run in the order added.
    pub fn interceptor(mut self, interceptor: impl Interceptor) -> ChannelBuilder {
        self.interceptors.push(Box::new(interceptor));
        self
    }

    /// Credentials applied to every call (for example a
    /// [`BearerToken`](grpc_core::credentials::BearerToken)).
    pub fn call_credentials(mut self, credentials: Arc<dyn CallCredentials>) -> ChannelBuilder {
        self.credentials = Some(credentials);
        self
    }

    /// Lets credentials that require transport security go out over plaintext (for tests,
    /// or a trusted local network). Default `false`: such calls fail with UNAUTHENTICATED.
    pub fn allow_insecure_credentials(mut self, allow: bool) -> ChannelBuilder {
        self.allow_insecure_credentials = allow;
        self
    }

    /// Builds the channel and connects now. Fails with UNAVAILABLE if the first connection
    /// attempt fails (after at most the connect timeout).
    pub async fn connect(self) -> Result<Channel, Status> {
        let channel = self.connect_lazy()?;
        let balancer = &channel.inner.balancer;
        std::future::poll_fn(|cx| balancer.poll_ready(cx)).await?;
        Ok(channel)
    }

    /// Builds the channel without connecting: the first call connects. Fails only on bad
    /// settings (INVALID_ARGUMENT).
    pub fn connect_lazy(self) -> Result<Channel, Status> {
        let resolvers = ResolverLookup::new(self.resolvers.clone());
        let (target, security) =
            parse_target(&self.target, |scheme| resolvers.get(scheme).is_some())?;
        let invalid =
            |why: String| Status::invalid_argument(format!("target {:?}: {why}", self.target));
        let resolver = resolvers
            .get(target.scheme())
            .ok_or_else(|| invalid(format!("no resolver for the scheme {:?}", target.scheme())))?;
        let policies = PolicyLookup::new(self.policies.clone());
        let default_config = match &self.default_service_config {
            None => None,
            Some(json) => Some(Arc::new(
                service_config::parse(json, &|name: &str| policies.get(name))
                    .map_err(|why| invalid(format!("invalid default service config: {why}")))?,
            )),
        };
        if default_config.is_none() && policies.get(DEFAULT_POLICY).is_none() {
            return Err(invalid(
                "no pick_first policy (grpc-client's `balancers` feature is off): register one or set a default service config".into(),
            ));
        }
        let tls = match (security, self.tls.clone()) {
            (Security::Tls | Security::Unspecified, Some(config)) => Some(config),
            (Security::Tls, None) => {
                return Err(invalid(
                    "https needs a TLS configuration (tls_config or tls_ca_pem)".into(),
                ));
            }
            (Security::Plaintext, Some(_)) => {
                return Err(invalid(
                    "a TLS configuration was given for a plaintext target".into(),
                ));
            }
            (_, None) => None,
        };
        let authority = match &self.server_name_override {
            Some(name) => name.clone(),
            None => resolver.default_authority(&target),
        };
        if !is_header_value(&authority) {
            return Err(invalid(format!(
                "authority {authority:?} is not a valid header value"
            )));
        }
        let tls = match tls {
            None => None,
            Some(config) => {
                let name = match &self.server_name_override {
                    Some(name) => name.clone(),
                    None => split_host_port(&authority)
                        .map(|(host, _)| host.to_owned())
                        .map_err(|why| {
                            invalid(format!("no TLS server name in {authority:?}: {why}"))
                        })?,
                };
                let server_name = ServerName::try_from(name.clone())
                    .map_err(|e| invalid(format!("invalid TLS server name {name:?}: {e}")))?;
                Some(TlsConnect {
                    config,
                    server_name,
                })
            }
        };
        let user_agent = match &self.user_agent {
            None => Bytes::from_static(USER_AGENT.as_bytes()),
            Some(prefix) if is_header_value(prefix) => {
                Bytes::from(format!("{prefix} {USER_AGENT}"))
            }
            Some(prefix) => {
                return Err(Status::invalid_argument(format!(
                    "user agent {prefix:?} is not a valid header value"
                )));
            }
        };
        let secure = tls.is_some();
        let scheme = Bytes::from_static(if secure { b"https" } else { b"http" });
        let authority = Bytes::from(authority);
        let connect = Arc::new(ConnectSettings {
            tls,
            transport: self.transport,
            connect_timeout: self.connect_timeout,
            backoff: self.backoff,
            dialer: self.dialer,
            scheme: scheme.clone(),
            authority: authority.clone(),
            user_agent: user_agent.clone(),
            health_checks: self.health_checks,
        });
        let balancer = Balancer::new(LbSettings {
            target,
            resolver,
            policies,
            default_config,
            resolver_config_enabled: self.resolver_service_config,
            idle_timeout: self.idle_timeout.filter(|t| !t.is_zero()),
            connect,
        });
        let mut inner = ChannelInner {
            balancer,
            target: self.target,
            scheme,
            authority,
            secure,
            user_agent,
            default_timeout: self.timeout,
            max_decoding: self.max_decoding,
            max_encoding: self.max_encoding,
            retry_buffer_size: self.retry_buffer_size,
            send_compressed: None,
            accept_header: self.accept_compressed.accept_encoding(),
            accept: Arc::new(self.accept_compressed),
            interceptors: self.interceptors,
            credentials: self.credentials,
            allow_insecure_credentials: self.allow_insecure_credentials,
            stats: self.stats,
        };
        if let Some(name) = self.send_compressed {
            inner.send_compressed = inner.compressor(name).map_err(Status::invalid_argument)?;
        }
        Ok(Channel {
            inner: Arc::new(inner),
        })
    }
}

/// Printable ASCII without leading or trailing spaces (RFC 9110 §5.5 field values, as
/// gRPC restricts them).
fn is_header_value(value: &str) -> bool {
    value.bytes().all(|b| (0x20..=0x7e).contains(&b)) && value.trim() == value && !value.is_empty()
}

impl fmt::Debug for ChannelBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChannelBuilder")
            .field("target", &self.target)
            .field("tls", &self.tls.is_some())
            .field("server_name_override", &self.server_name_override)
            .field("connect_timeout", &self.connect_timeout)
            .field("timeout", &self.timeout)
            .field("max_decoding_message_size", &self.max_decoding)
            .field("max_encoding_message_size", &self.max_encoding)
            .field("send_compressed", &self.send_compressed)
            .field("accept_compressed", &self.accept_compressed)
            .field("interceptors", &self.interceptors.len())
            .field("call_credentials", &self.credentials.is_some())
            .field("resolvers", &self.resolvers)
            .field("lb_policies", &self.policies)
            .field(
                "default_service_config",
                &self.default_service_config.is_some(),
            )
            .field("idle_timeout", &self.idle_timeout)
            .field("retry_buffer_size", &self.retry_buffer_size)
            .field("health_checks", &self.health_checks)
            .field("stats_handler", &self.stats.is_some())
            .field(
                "allow_insecure_credentials",
                &self.allow_insecure_credentials,
            )
            .finish_non_exhaustive()
    }
}
