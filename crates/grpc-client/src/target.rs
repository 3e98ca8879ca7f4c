//! Target strings: where a channel connects, and the `:scheme` and `:authority` its requests
//! carry.
//!
//! Accepted forms (a subset of gRPC's naming doc, `naming.md`, enough for one direct
//! connection; resolvers come later):
//!
//! | target | transport | `:authority` |
//! |---|---|---|
//! | `http://host:port` | TCP, plaintext (h2c) | `host:port` |
//! | `https://host:port` | TCP + TLS | `host:port` |
//! | `host:port` | TCP; TLS if the builder has a TLS config | `host:port` |
//! | `unix:/abs/path`, `unix:///abs/path`, `unix:rel/path` | Unix domain socket | `localhost` |
//!
//! `http://` and `https://` without a port use 80 and 443. IPv6 literals go in brackets
//! (`[::1]:50051`). A trailing `/` after the authority is allowed; any other path is not.

use std::fmt;
use std::path::PathBuf;

use grpc_core::Status;

/// Where to connect.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Address {
    /// A host name or IP literal (without brackets) and a port.
    Tcp { host: String, port: u16 },
    /// A Unix domain socket path.
    Unix(PathBuf),
}

/// Whether the target asked for TLS, refused it, or left it to the builder.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Security {
    /// `http://` or `unix:`: plaintext.
    Plaintext,
    /// `https://`: TLS required.
    Tls,
    /// `host:port`: TLS when the builder has a TLS config.
    Unspecified,
}

/// A parsed target string.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Target {
    pub(crate) address: Address,
    pub(crate) security: Security,
    /// The authority as written in the target (`host:port`), or `localhost` for Unix sockets.
    pub(crate) authority: String,
}

impl Target {
    /// Parses a target string; errors are INVALID_ARGUMENT statuses naming the target.
    pub(crate) fn parse(target: &str) -> Result<Target, Status> {
        let invalid =
            |why: &str| Status::invalid_argument(format!("invalid target {target:?}: {why}"));
        if let Some(path) = target.strip_prefix("unix:") {
            // "unix:///abs" (URI form, empty authority) and "unix:/abs" are absolute;
            // "unix:rel" is relative to the working directory, as gRPC allows.
            let path = match path.strip_prefix("//") {
                Some(rest) if rest.starts_with('/') => rest,
                Some(_) => return Err(invalid("unix:// needs an absolute path (unix:///path)")),
                None => path,
            };
            if path.is_empty() {
                return Err(invalid("empty Unix socket path"));
            }
            return Ok(Target {
                address: Address::Unix(PathBuf::from(path)),
                security: Security::Plaintext,
                authority: "localhost".to_owned(),
            });
        }
        let (security, rest, default_port) = if let Some(rest) = target.strip_prefix("http://") {
            (Security::Plaintext, rest, Some(80))
        } else if let Some(rest) = target.strip_prefix("https://") {
            (Security::Tls, rest, Some(443))
        } else if target.contains("://") {
            return Err(invalid(
                "unsupported scheme (use http://, https://, unix: or host:port)",
            ));
        } else {
            (Security::Unspecified, target, None)
        };
        let authority = rest.strip_suffix('/').unwrap_or(rest);
        if authority.is_empty() {
            return Err(invalid("missing host"));
        }
        if authority.contains(['/', '?', '#', '@']) || authority.chars().any(char::is_whitespace) {
            return Err(invalid("expected host:port"));
        }
        let (host, port) = split_host_port(authority).map_err(&invalid)?;
        let port = match (port, default_port) {
            (Some(port), _) => port,
            (None, Some(default)) => default,
            (None, None) => return Err(invalid("missing port (host:port)")),
        };
        Ok(Target {
            address: Address::Tcp {
                host: host.to_owned(),
                port,
            },
            security,
            authority: authority.to_owned(),
        })
    }
}

/// Splits `host`, `host:port`, `[v6]` or `[v6]:port`; the host comes back without brackets.
fn split_host_port(authority: &str) -> Result<(&str, Option<u16>), &'static str> {
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
    let port = match port {
        Some(port) => Some(port.parse::<u16>().map_err(|_| "invalid port")?),
        None => None,
    };
    Ok((host, port))
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Address::Tcp { host, port } if host.contains(':') => write!(f, "[{host}]:{port}"),
            Address::Tcp { host, port } => write!(f, "{host}:{port}"),
            Address::Unix(path) => write!(f, "unix:{}", path.display()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tcp(host: &str, port: u16) -> Address {
        Address::Tcp {
            host: host.to_owned(),
            port,
        }
    }

    #[test]
    fn http_and_https_urls_set_security_and_default_ports() -> Result<(), Status> {
        let t = Target::parse("http://example.com:8080")?;
        assert_eq!(t.address, tcp("example.com", 8080));
        assert_eq!(t.security, Security::Plaintext);
        assert_eq!(t.authority, "example.com:8080");

        let t = Target::parse("https://example.com/")?;
        assert_eq!(t.address, tcp("example.com", 443));
        assert_eq!(t.security, Security::Tls);
        assert_eq!(t.authority, "example.com");

        assert_eq!(Target::parse("http://h")?.address, tcp("h", 80));
        Ok(())
    }

    #[test]
    fn bare_host_port_leaves_security_to_the_builder() -> Result<(), Status> {
        let t = Target::parse("127.0.0.1:50051")?;
        assert_eq!(t.address, tcp("127.0.0.1", 50051));
        assert_eq!(t.security, Security::Unspecified);
        assert_eq!(t.authority, "127.0.0.1:50051");
        assert!(
            Target::parse("localhost").is_err(),
            "a bare host needs a port"
        );
        Ok(())
    }

    #[test]
    fn ipv6_literals_need_brackets() -> Result<(), Status> {
        let t = Target::parse("[::1]:50051")?;
        assert_eq!(t.address, tcp("::1", 50051));
        assert_eq!(t.authority, "[::1]:50051");
        assert_eq!(t.address.to_string(), "[::1]:50051");
        assert_eq!(Target::parse("https://[::1]")?.address, tcp("::1", 443));
        assert!(Target::parse("::1:50051").is_err());
        assert!(Target::parse("[::1:50051").is_err());
        assert!(Target::parse("[nothost]:1").is_err());
        Ok(())
    }

    #[test]
    fn unix_targets_in_all_three_forms() -> Result<(), Status> {
        for (target, path) in [
            ("unix:/tmp/a.sock", "/tmp/a.sock"),
            ("unix:///tmp/a.sock", "/tmp/a.sock"),
            ("unix:rel/a.sock", "rel/a.sock"),
        ] {
            let t = Target::parse(target)?;
            assert_eq!(t.address, Address::Unix(PathBuf::from(path)), "{target}");
            assert_eq!(t.security, Security::Plaintext);
            assert_eq!(t.authority, "localhost");
        }
        assert!(Target::parse("unix:").is_err());
        assert!(Target::parse("unix://host/path").is_err());
        Ok(())
    }

    #[test]
    fn malformed_targets_are_invalid_argument() {
        for target in [
            "",
            "http://",
            "ftp://h:1",
            "h:notaport",
            "h:99999",
            "http://h:1/path",
            "http://user@h:1",
            "h :1",
        ] {
            let err = Target::parse(target).unwrap_err();
            assert_eq!(err.code(), grpc_core::Code::InvalidArgument, "{target:?}");
        }
    }
}
