//! [`Address`]: one place a subchannel can connect to, with attributes.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;

use bytes::Bytes;

use crate::Attributes;

/// Where to connect, without the attributes. Two addresses name the same backend exactly
/// when their `Addr`s are equal; channels reuse a connection on that basis.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Addr {
    /// A resolved IP address and port.
    Tcp(SocketAddr),
    /// A host name and port the connector resolves itself when it connects (what the
    /// `passthrough` resolver produces).
    Name {
        /// The host name, or an IP literal without brackets.
        host: String,
        /// The port.
        port: u16,
    },
    /// A Unix domain socket path.
    Unix(PathBuf),
    /// A Linux abstract Unix socket name (without the leading NUL byte).
    UnixAbstract(Bytes),
}

impl fmt::Display for Addr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Addr::Tcp(addr) => write!(f, "{addr}"),
            Addr::Name { host, port } if host.contains(':') => write!(f, "[{host}]:{port}"),
            Addr::Name { host, port } => write!(f, "{host}:{port}"),
            Addr::Unix(path) => write!(f, "unix:{}", path.display()),
            Addr::UnixAbstract(name) => {
                write!(f, "unix-abstract:{}", String::from_utf8_lossy(name))
            }
        }
    }
}

impl From<SocketAddr> for Addr {
    fn from(addr: SocketAddr) -> Addr {
        Addr::Tcp(addr)
    }
}

/// An address produced by a resolver: where to connect, plus [`Attributes`] for the load
/// balancer (a weight, a locality).
///
/// ```
/// use grpc_resolver_api::{Addr, Address};
///
/// let address = Address::from("127.0.0.1:50051".parse::<std::net::SocketAddr>().unwrap());
/// assert_eq!(address.to_string(), "127.0.0.1:50051");
/// assert!(matches!(address.addr, Addr::Tcp(_)));
/// ```
#[derive(Clone, Debug)]
pub struct Address {
    /// Where to connect.
    pub addr: Addr,
    /// Facts about this address for the balancer.
    pub attributes: Attributes,
}

impl Address {
    /// An address without attributes.
    pub fn new(addr: impl Into<Addr>) -> Address {
        Address {
            addr: addr.into(),
            attributes: Attributes::new(),
        }
    }

    /// Returns the address with `value` added to its attributes.
    pub fn with_attribute<T: Send + Sync + 'static>(mut self, value: T) -> Address {
        self.attributes.insert(value);
        self
    }
}

impl From<SocketAddr> for Address {
    fn from(addr: SocketAddr) -> Address {
        Address::new(addr)
    }
}

impl From<Addr> for Address {
    fn from(addr: Addr) -> Address {
        Address::new(addr)
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.addr.fmt(f)
    }
}

/// Splits `host:port`, `[v6]:port`, `host` or `[v6]` (the form of gRPC's naming doc); the
/// host comes back without brackets, the port as written. Errors say what is wrong.
///
/// ```
/// use grpc_resolver_api::split_host_port;
///
/// assert_eq!(split_host_port("[::1]:443"), Ok(("::1", Some(443))));
/// assert_eq!(split_host_port("example.com"), Ok(("example.com", None)));
/// assert!(split_host_port("::1:443").is_err());
/// ```
pub fn split_host_port(authority: &str) -> Result<(&str, Option<u16>), &'static str> {
    let (host, port) = if let Some(rest) = authority.strip_prefix('[') {
        let (host, after) = rest.split_once(']').ok_or("unclosed '[' in IPv6 address")?;
        if host.parse::<std::net::Ipv6Addr>().is_err() {
            return Err("invalid IPv6 address");
        }
        match after {
            "" => (host, None),
            _ => (
                host,
                Some(after.strip_prefix(':').ok_or("expected ':' after ']'")?),
            ),
        }
    } else {
        match authority.rsplit_once(':') {
            Some((host, _)) if host.contains(':') => {
                return Err("IPv6 addresses need brackets: [addr]:port");
            }
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    if host.is_empty() {
        return Err("missing host");
    }
    if host.contains(['/', '?', '#', '@']) || host.chars().any(char::is_whitespace) {
        return Err("invalid character in host");
    }
    let port = match port {
        Some(port) => Some(port.parse::<u16>().map_err(|_| "invalid port")?),
        None => None,
    };
    Ok((host, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_port_forms() -> Result<(), Box<dyn std::error::Error>> {
        assert_eq!(split_host_port("a:1"), Ok(("a", Some(1))));
        assert_eq!(split_host_port("[::1]"), Ok(("::1", None)));
        assert_eq!(split_host_port("10.0.0.1"), Ok(("10.0.0.1", None)));
        for bad in [
            "", ":1", "a:", "a:x", "a:70000", "[::1", "[x]:1", "[::1]x", "a b:1", "a/b:1",
        ] {
            assert!(split_host_port(bad).is_err(), "{bad:?}");
        }
        Ok(())
    }

    #[test]
    fn display_brackets_ipv6_names() -> Result<(), Box<dyn std::error::Error>> {
        let name = Addr::Name {
            host: "::1".into(),
            port: 5,
        };
        assert_eq!(name.to_string(), "[::1]:5");
        assert_eq!(Addr::Unix("/tmp/s".into()).to_string(), "unix:/tmp/s");
        assert_eq!(
            Addr::UnixAbstract(Bytes::from_static(b"grpc")).to_string(),
            "unix-abstract:grpc"
        );
        Ok(())
    }
}
