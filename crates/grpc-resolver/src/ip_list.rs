//! The `ipv4:` and `ipv6:` schemes (gRPC C-core's static address lists).

use std::net::{IpAddr, Ipv6Addr, SocketAddr};

use grpc_resolver_api::{
    Addr, Address, Resolver, ResolverBuilder, ResolverOptions, Status, Target, split_host_port,
};

use crate::DEFAULT_PORT;
use crate::fixed::{invalid_target, report_once, require_empty_authority};

/// Builds resolvers for static IPv4 lists: `ipv4:10.0.0.1:80,10.0.0.2:81` (port 443 when
/// absent). Handy for tests and fixed deployments; nothing is looked up.
///
/// ```
/// use grpc_resolver::Ipv4ResolverBuilder;
/// use grpc_resolver_api::{ResolverBuilder, Target};
///
/// let target = Target::parse("ipv4:10.0.0.1:80,10.0.0.2").unwrap();
/// assert_eq!(Ipv4ResolverBuilder.default_authority(&target), "10.0.0.1:80");
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct Ipv4ResolverBuilder;

/// Builds resolvers for static IPv6 lists: `ipv6:[::1]:80,[::2]` (brackets are needed with a
/// port; a bare `ipv6:::1` is port 443).
#[derive(Clone, Copy, Debug, Default)]
pub struct Ipv6ResolverBuilder;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Family {
    V4,
    V6,
}

/// Parses the comma-separated list of a `ipv4:`/`ipv6:` target. `ipv4:///list` (empty
/// authority) is accepted too; a non-empty authority is not.
pub(crate) fn parse_ip_list(target: &Target, family: Family) -> Result<Vec<SocketAddr>, Status> {
    require_empty_authority(target)?;
    let list = target.endpoint();
    if list.is_empty() {
        return Err(invalid_target(target, "empty address list"));
    }
    list.split(',')
        .map(|entry| parse_entry(entry, family).map_err(|why| invalid_target(target, why)))
        .collect()
}

fn parse_entry(entry: &str, family: Family) -> Result<SocketAddr, String> {
    let (ip, port) = match (family, entry.parse::<Ipv6Addr>()) {
        // A bare IPv6 address has no brackets and so no port.
        (Family::V6, Ok(ip)) => (IpAddr::V6(ip), None),
        _ => {
            let (host, port) =
                split_host_port(entry).map_err(|why| format!("entry {entry:?}: {why}"))?;
            let ip = host
                .parse::<IpAddr>()
                .map_err(|_| format!("entry {entry:?} is not an IP address"))?;
            (ip, port)
        }
    };
    match (family, ip) {
        (Family::V4, IpAddr::V4(_)) | (Family::V6, IpAddr::V6(_)) => {}
        (Family::V4, IpAddr::V6(_)) => {
            return Err(format!("entry {entry:?} is not an IPv4 address"));
        }
        (Family::V6, IpAddr::V4(_)) => {
            return Err(format!("entry {entry:?} is not an IPv6 address"));
        }
    }
    Ok(SocketAddr::new(ip, port.unwrap_or(DEFAULT_PORT)))
}

fn build(
    target: &Target,
    options: ResolverOptions,
    family: Family,
) -> Result<Box<dyn Resolver>, Status> {
    let addresses = parse_ip_list(target, family)?
        .into_iter()
        .map(Address::from)
        .collect();
    report_once(&options, addresses)
}

/// The first address of the list (`10.0.0.1:80`, `[::1]:443`): a list is no valid
/// `:authority`. Falls back to the endpoint as written when the list does not parse.
fn first_address(target: &Target, family: Family) -> String {
    match parse_ip_list(target, family) {
        Ok(list) => list
            .first()
            .map(|addr| Addr::Tcp(*addr).to_string())
            .unwrap_or_default(),
        Err(_) => target.endpoint().to_owned(),
    }
}

impl ResolverBuilder for Ipv4ResolverBuilder {
    fn scheme(&self) -> &str {
        "ipv4"
    }

    fn build(
        &self,
        target: &Target,
        options: ResolverOptions,
    ) -> Result<Box<dyn Resolver>, Status> {
        build(target, options, Family::V4)
    }

    fn default_authority(&self, target: &Target) -> String {
        first_address(target, Family::V4)
    }
}

impl ResolverBuilder for Ipv6ResolverBuilder {
    fn scheme(&self) -> &str {
        "ipv6"
    }

    fn build(
        &self,
        target: &Target,
        options: ResolverOptions,
    ) -> Result<Box<dyn Resolver>, Status> {
        build(target, options, Family::V6)
    }

    fn default_authority(&self, target: &Target) -> String {
        first_address(target, Family::V6)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use grpc_core::Code;

    fn parse(
        target: &str,
        family: Family,
    ) -> Result<Result<Vec<SocketAddr>, Status>, Box<dyn std::error::Error>> {
        Ok(parse_ip_list(
            &Target::parse(target).ok_or("a URI")?,
            family,
        ))
    }

    fn addrs(list: &[&str]) -> Result<Vec<SocketAddr>, Box<dyn std::error::Error>> {
        Ok(list.iter().map(|a| a.parse()).collect::<Result<_, _>>()?)
    }

    #[test]
    fn ipv4_lists() -> Result<(), Box<dyn std::error::Error>> {
        assert_eq!(
            parse("ipv4:10.0.0.1:80,10.0.0.2:81", Family::V4)?.ok(),
            Some(addrs(&["10.0.0.1:80", "10.0.0.2:81"])?)
        );
        assert_eq!(
            parse("ipv4:127.0.0.1", Family::V4)?.ok(),
            Some(addrs(&["127.0.0.1:443"])?)
        );
        assert_eq!(
            parse("ipv4:///127.0.0.1:5", Family::V4)?.ok(),
            Some(addrs(&["127.0.0.1:5"])?)
        );
        Ok(())
    }

    #[test]
    fn ipv6_lists() -> Result<(), Box<dyn std::error::Error>> {
        assert_eq!(
            parse("ipv6:[::1]:80,[::2]", Family::V6)?.ok(),
            Some(addrs(&["[::1]:80", "[::2]:443"])?)
        );
        assert_eq!(
            parse("ipv6:::1", Family::V6)?.ok(),
            Some(addrs(&["[::1]:443"])?)
        );
        assert_eq!(
            parse("ipv6:fe80::1,[2001:db8::1]:9", Family::V6)?.ok(),
            Some(addrs(&["[fe80::1]:443", "[2001:db8::1]:9"])?)
        );
        Ok(())
    }

    #[test]
    fn malformed_lists() -> Result<(), Box<dyn std::error::Error>> {
        let cases = [
            ("ipv4:", Family::V4),
            ("ipv4:10.0.0.1,", Family::V4),
            ("ipv4:,10.0.0.1", Family::V4),
            ("ipv4:10.0.0.1:x", Family::V4),
            ("ipv4:10.0.0.1:70000", Family::V4),
            ("ipv4:example.com:80", Family::V4),
            ("ipv4:[::1]:80", Family::V4),
            ("ipv4://auth/10.0.0.1", Family::V4),
            ("ipv6:127.0.0.1:80", Family::V6),
            ("ipv6:::1:80x", Family::V6),
            ("ipv6:[::1", Family::V6),
            ("ipv6:[::1]:", Family::V6),
            ("ipv6:", Family::V6),
        ];
        for (bad, family) in cases {
            let err = parse(bad, family)?.expect_err(bad);
            assert_eq!(err.code(), Code::InvalidArgument, "{bad}");
            assert!(err.message().contains(bad), "{}", err.message());
        }
        Ok(())
    }

    #[test]
    fn default_authority_is_the_first_address() -> Result<(), Box<dyn std::error::Error>> {
        let t = Target::parse("ipv6:[::1]:80,[::2]").ok_or("a URI")?;
        assert_eq!(Ipv6ResolverBuilder.default_authority(&t), "[::1]:80");
        let t = Target::parse("ipv4:10.0.0.1").ok_or("a URI")?;
        assert_eq!(Ipv4ResolverBuilder.default_authority(&t), "10.0.0.1:443");
        Ok(())
    }
}
