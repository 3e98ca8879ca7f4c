//! Target strings: which resolver a channel uses, and whether it wants TLS.
//!
//! A target is a URI whose scheme names a resolver (gRPC's `naming.md`; see
//! [`grpc_resolver_api::Target`]), plus two URL forms kept for convenience:
//!
//! | target | resolver | TLS |
//! |---|---|---|
//! | `dns:///host:port`, `dns://server/host:port`, `host:port` | dns (port 443 if absent) | if the builder has a TLS config |
//! | `http://host[:port]` | dns (port 80 if absent) | no |
//! | `https://host[:port]` | dns (port 443 if absent) | required |
//! | `passthrough:///host:port`, `ipv4:..`, `ipv6:..` | as named | if the builder has a TLS config |
//! | `unix:path`, `unix:///abs/path`, `unix-abstract:name` | as named | no |
//! | `anything:...` with a registered resolver | that resolver | if the builder has a TLS config |
//!
//! A string whose scheme has no resolver (or that has none, like `127.0.0.1:50051` or
//! `[::1]:50051`) is a `dns` endpoint, as the naming doc says; it must then read as
//! `host[:port]`, or the channel fails to build with INVALID_ARGUMENT.

use grpc_core::Status;
use grpc_resolver_api::{Target, split_host_port};

/// Whether the target asked for TLS, refused it, or left it to the builder.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Security {
    /// `http://`, `unix:`, `unix-abstract:`: plaintext.
    Plaintext,
    /// `https://`: TLS required.
    Tls,
    /// Anything else: TLS when the builder has a TLS config.
    Unspecified,
}

/// Parses a channel target. `known_scheme` says which schemes have a resolver.
pub(crate) fn parse_target(
    target: &str,
    known_scheme: impl Fn(&str) -> bool,
) -> Result<(Target, Security), Status> {
    let invalid = |why: &str| Status::invalid_argument(format!("invalid target {target:?}: {why}"));
    for (prefix, security, default_port) in [
        ("http://", Security::Plaintext, 80),
        ("https://", Security::Tls, 443),
    ] {
        let Some(rest) = target.strip_prefix(prefix) else {
            continue;
        };
        let authority = rest.strip_suffix('/').unwrap_or(rest);
        let (host, port) = split_host_port(authority).map_err(invalid)?;
        let port = port.unwrap_or(default_port);
        let host = if host.contains(':') {
            format!("[{host}]")
        } else {
            host.to_owned()
        };
        // The dns resolver's endpoint, with the scheme's default port made explicit.
        let resolved = Target::parse(&format!("dns:///{host}:{port}"))
            .ok_or_else(|| invalid("expected host:port"))?;
        return Ok((resolved, security));
    }
    let parsed = Target::parse_or_default(target, "dns", &known_scheme);
    if parsed.scheme() == "dns" && !known_scheme("dns") {
        return Err(invalid(
            "no resolver for the dns scheme (grpc-client's `resolvers` feature is off)",
        ));
    }
    let explicit = Target::parse(target).is_some_and(|t| known_scheme(t.scheme()));
    if !explicit {
        // The default rule applied: the whole string must be host[:port].
        if target.contains("://") {
            return Err(invalid(
                "unknown scheme (use dns:, unix:, unix-abstract:, passthrough:, ipv4:, ipv6:, http://, https:// or host:port)",
            ));
        }
        split_host_port(target).map_err(invalid)?;
    } else if parsed.scheme() == "dns" {
        // Caught here rather than as a failing channel later.
        split_host_port(parsed.endpoint()).map_err(invalid)?;
    }
    let security = match parsed.scheme() {
        "unix" | "unix-abstract" => Security::Plaintext,
        _ => Security::Unspecified,
    };
    Ok((parsed, security))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn known(scheme: &str) -> bool {
        matches!(scheme, "dns" | "unix" | "unix-abstract" | "passthrough")
    }

    fn parse(target: &str) -> Result<(String, String, Security), Status> {
        let (t, security) = parse_target(target, known)?;
        Ok((t.scheme().to_owned(), t.endpoint().to_owned(), security))
    }

    #[test]
    fn http_and_https_urls_become_dns_targets_with_default_ports() -> Result<(), Status> {
        assert_eq!(
            parse("http://example.com:8080")?,
            ("dns".into(), "example.com:8080".into(), Security::Plaintext)
        );
        assert_eq!(
            parse("https://example.com/")?,
            ("dns".into(), "example.com:443".into(), Security::Tls)
        );
        assert_eq!(parse("http://h")?.1, "h:80");
        assert_eq!(parse("https://[::1]")?.1, "[::1]:443");
        Ok(())
    }

    #[test]
    fn bare_host_port_is_a_dns_endpoint() -> Result<(), Status> {
        assert_eq!(
            parse("127.0.0.1:50051")?,
            (
                "dns".into(),
                "127.0.0.1:50051".into(),
                Security::Unspecified
            )
        );
        // `localhost:50051` reads as scheme `localhost`, which has no resolver.
        assert_eq!(parse("localhost:50051")?.1, "localhost:50051");
        assert_eq!(parse("[::1]:50051")?.1, "[::1]:50051");
        assert_eq!(parse("localhost")?.1, "localhost");
        Ok(())
    }

    #[test]
    fn resolver_schemes_pass_through() -> Result<(), Status> {
        assert_eq!(
            parse("dns://8.8.8.8/example.com:443")?,
            (
                "dns".into(),
                "example.com:443".into(),
                Security::Unspecified
            )
        );
        let (t, security) = parse_target("unix:///tmp/a.sock", known)?;
        assert_eq!(
            (t.scheme(), t.path(), security),
            ("unix", "/tmp/a.sock", Security::Plaintext)
        );
        assert_eq!(parse("unix-abstract:name")?.2, Security::Plaintext);
        assert_eq!(parse("passthrough:///h:1")?.0, "passthrough");
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
            "::1:50051",
        ] {
            let err = parse_target(target, known).unwrap_err();
            assert_eq!(err.code(), grpc_core::Code::InvalidArgument, "{target:?}");
        }
    }
}
