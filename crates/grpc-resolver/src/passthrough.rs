//! The `passthrough` scheme: the endpoint is the address; nothing is looked up.

use std::net::{IpAddr, SocketAddr};

use grpc_resolver_api::{
    Addr, Address, Resolver, ResolverBuilder, ResolverOptions, Status, Target, split_host_port,
};

use crate::DEFAULT_PORT;
use crate::fixed::{invalid_target, report_once};

/// Builds resolvers for `passthrough:///host:port`: one address, no resolution.
///
/// An IP literal becomes [`Addr::Tcp`]; a host name becomes [`Addr::Name`], which the
/// connector resolves itself each time it connects (gRPC-Go's `passthrough` does the same).
/// Without a port, 443 is used. Like gRPC-Go, the target's authority is ignored.
///
/// ```
/// use grpc_resolver::PassthroughResolverBuilder;
/// use grpc_resolver_api::{Addr, ResolverBuilder, ResolverOptions, ResolverUpdate, ResolverUpdater, Target};
/// use std::sync::{Arc, Mutex};
///
/// let seen = Arc::new(Mutex::new(Vec::new()));
/// let sink = seen.clone();
/// let updater = ResolverUpdater::new(move |update| {
///     sink.lock().unwrap().push(update);
///     true
/// });
/// let target = Target::parse("passthrough:///example.com").unwrap();
/// let _resolver = PassthroughResolverBuilder.build(&target, ResolverOptions::new(updater)).unwrap();
/// let seen = seen.lock().unwrap();
/// let ResolverUpdate::State(state) = &seen[0] else { panic!("expected a state") };
/// assert_eq!(state.addresses[0].addr, Addr::Name { host: "example.com".into(), port: 443 });
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct PassthroughResolverBuilder;

/// Reads a passthrough endpoint (`host`, `host:port`, `[v6]:port`, `v6`).
pub(crate) fn parse_passthrough(target: &Target) -> Result<Addr, Status> {
    let endpoint = target.endpoint();
    if endpoint.is_empty() {
        return Err(invalid_target(target, "missing host"));
    }
    // A bare IPv6 literal (`passthrough:///::1`) has no port and no brackets.
    if let Ok(ip) = endpoint.parse::<IpAddr>() {
        return Ok(Addr::Tcp(SocketAddr::new(ip, DEFAULT_PORT)));
    }
    let (host, port) = split_host_port(endpoint).map_err(|why| invalid_target(target, why))?;
    let port = port.unwrap_or(DEFAULT_PORT);
    Ok(match host.parse::<IpAddr>() {
        Ok(ip) => Addr::Tcp(SocketAddr::new(ip, port)),
        Err(_) => Addr::Name {
            host: host.to_owned(),
            port,
        },
    })
}

impl ResolverBuilder for PassthroughResolverBuilder {
    fn scheme(&self) -> &str {
        "passthrough"
    }

    fn build(
        &self,
        target: &Target,
        options: ResolverOptions,
    ) -> Result<Box<dyn Resolver>, Status> {
        let addr = parse_passthrough(target)?;
        report_once(&options, vec![Address::new(addr)])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use grpc_core::Code;

    fn parse(target: &str) -> Result<Result<Addr, Status>, Box<dyn std::error::Error>> {
        Ok(parse_passthrough(&Target::parse(target).ok_or("a URI")?))
    }

    fn tcp(addr: &str) -> Result<Addr, Box<dyn std::error::Error>> {
        Ok(Addr::Tcp(addr.parse()?))
    }

    fn name(host: &str, port: u16) -> Addr {
        Addr::Name {
            host: host.into(),
            port,
        }
    }

    #[test]
    fn ip_literals_become_socket_addresses() -> Result<(), Box<dyn std::error::Error>> {
        assert_eq!(
            parse("passthrough:///10.0.0.1:50051")?.ok(),
            Some(tcp("10.0.0.1:50051")?)
        );
        assert_eq!(
            parse("passthrough:///10.0.0.1")?.ok(),
            Some(tcp("10.0.0.1:443")?)
        );
        assert_eq!(
            parse("passthrough:///[::1]:8080")?.ok(),
            Some(tcp("[::1]:8080")?)
        );
        assert_eq!(parse("passthrough:///[::1]")?.ok(), Some(tcp("[::1]:443")?));
        assert_eq!(parse("passthrough:///::1")?.ok(), Some(tcp("[::1]:443")?));
        assert_eq!(
            parse("passthrough:10.0.0.1:1")?.ok(),
            Some(tcp("10.0.0.1:1")?)
        );
        Ok(())
    }

    #[test]
    fn names_are_left_to_the_connector() -> Result<(), Box<dyn std::error::Error>> {
        assert_eq!(
            parse("passthrough:///example.com:80")?.ok(),
            Some(name("example.com", 80))
        );
        assert_eq!(
            parse("passthrough:///localhost")?.ok(),
            Some(name("localhost", 443))
        );
        // The authority is ignored, as in gRPC-Go.
        assert_eq!(
            parse("passthrough://ignored/svc:1")?.ok(),
            Some(name("svc", 1))
        );
        Ok(())
    }

    #[test]
    fn malformed_endpoints_are_invalid_arguments_naming_the_target()
    -> Result<(), Box<dyn std::error::Error>> {
        for bad in [
            "passthrough:///",
            "passthrough:",
            "passthrough:///host:",
            "passthrough:///host:port",
            "passthrough:///host:70000",
            "passthrough:///[::1",
            "passthrough:///[::1]x",
            "passthrough:///fe80::1:80:x",
            "passthrough:///a b:1",
        ] {
            let err = parse(bad)?.expect_err(bad);
            assert_eq!(err.code(), Code::InvalidArgument, "{bad}");
            assert!(err.message().contains(bad), "{bad}: {}", err.message());
        }
        Ok(())
    }
}
