//! The `unix` and `unix-abstract` schemes (gRPC's naming doc): a local socket, no lookup.

use std::path::PathBuf;

use bytes::Bytes;
use grpc_resolver_api::{
    Addr, Address, Resolver, ResolverBuilder, ResolverOptions, Status, Target,
};

use crate::fixed::{invalid_target, report_once, require_empty_authority};

/// Builds resolvers for Unix domain socket paths: `unix:relative/path`, `unix:/abs/path` or
/// `unix:///abs/path`. A non-empty authority (`unix://host/path`) is an error. Calls carry
/// `:authority: localhost`, as in gRPC-Go.
///
/// ```
/// use grpc_resolver::UnixResolverBuilder;
/// use grpc_resolver_api::{ResolverBuilder, Target};
///
/// let target = Target::parse("unix:///run/app.sock").unwrap();
/// assert_eq!(UnixResolverBuilder.default_authority(&target), "localhost");
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct UnixResolverBuilder;

/// Builds resolvers for Linux abstract socket names: `unix-abstract:name`. The name is taken
/// as written (without the leading NUL byte, which the connector adds). Calls carry
/// `:authority: localhost`.
#[derive(Clone, Copy, Debug, Default)]
pub struct UnixAbstractResolverBuilder;

/// The path of a `unix:` target. The path is everything after the scheme (`unix:rel`,
/// `unix:/abs`), or after the empty authority (`unix:///abs` -> `/abs`).
pub(crate) fn parse_unix(target: &Target) -> Result<Addr, Status> {
    require_empty_authority(target)?;
    let path = target.path();
    if path.is_empty() {
        return Err(invalid_target(target, "missing socket path"));
    }
    Ok(Addr::Unix(PathBuf::from(path)))
}

/// The name of a `unix-abstract:` target, as written.
pub(crate) fn parse_unix_abstract(target: &Target) -> Result<Addr, Status> {
    require_empty_authority(target)?;
    let name = target.path();
    if name.is_empty() {
        return Err(invalid_target(target, "missing abstract socket name"));
    }
    Ok(Addr::UnixAbstract(Bytes::copy_from_slice(name.as_bytes())))
}

impl ResolverBuilder for UnixResolverBuilder {
    fn scheme(&self) -> &str {
        "unix"
    }

    fn build(
        &self,
        target: &Target,
        options: ResolverOptions,
    ) -> Result<Box<dyn Resolver>, Status> {
        let addr = parse_unix(target)?;
        report_once(&options, vec![Address::new(addr)])
    }

    fn default_authority(&self, _target: &Target) -> String {
        "localhost".to_owned()
    }
}

impl ResolverBuilder for UnixAbstractResolverBuilder {
    fn scheme(&self) -> &str {
        "unix-abstract"
    }

    fn build(
        &self,
        target: &Target,
        options: ResolverOptions,
    ) -> Result<Box<dyn Resolver>, Status> {
        let addr = parse_unix_abstract(target)?;
        report_once(&options, vec![Address::new(addr)])
    }

    fn default_authority(&self, _target: &Target) -> String {
        "localhost".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use grpc_core::Code;

    fn target(s: &str) -> Result<Target, Box<dyn std::error::Error>> {
        Ok(Target::parse(s).ok_or("a URI")?)
    }

    #[test]
    fn unix_paths() -> Result<(), Box<dyn std::error::Error>> {
        let cases = [
            ("unix:///tmp/a.sock", "/tmp/a.sock"),
            ("unix:/tmp/a.sock", "/tmp/a.sock"),
            ("unix:rel/a.sock", "rel/a.sock"),
            ("unix:a.sock", "a.sock"),
        ];
        for (input, path) in cases {
            assert_eq!(
                parse_unix(&target(input)?).ok(),
                Some(Addr::Unix(PathBuf::from(path))),
                "{input}"
            );
        }
        Ok(())
    }

    #[test]
    fn unix_rejects_authorities_and_empty_paths() -> Result<(), Box<dyn std::error::Error>> {
        for bad in ["unix://host/tmp/a.sock", "unix://", "unix:"] {
            let err = parse_unix(&target(bad)?).expect_err(bad);
            assert_eq!(err.code(), Code::InvalidArgument, "{bad}");
            assert!(err.message().contains(bad), "{}", err.message());
        }
        Ok(())
    }

    #[test]
    fn unix_abstract_names() -> Result<(), Box<dyn std::error::Error>> {
        assert_eq!(
            parse_unix_abstract(&target("unix-abstract:grpc-test")?).ok(),
            Some(Addr::UnixAbstract(Bytes::from_static(b"grpc-test")))
        );
        assert_eq!(
            parse_unix_abstract(&target("unix-abstract:///grpc-test")?).ok(),
            Some(Addr::UnixAbstract(Bytes::from_static(b"/grpc-test")))
        );
        for bad in [
            "unix-abstract:",
            "unix-abstract://host/name",
            "unix-abstract://",
        ] {
            let err = parse_unix_abstract(&target(bad)?).expect_err(bad);
            assert_eq!(err.code(), Code::InvalidArgument, "{bad}");
        }
        Ok(())
    }

    #[test]
    fn default_authority_is_localhost() -> Result<(), Box<dyn std::error::Error>> {
        let t = target("unix:/tmp/a.sock")?;
        assert_eq!(UnixResolverBuilder.default_authority(&t), "localhost");
        let t = target("unix-abstract:x")?;
        assert_eq!(
            UnixAbstractResolverBuilder.default_authority(&t),
            "localhost"
        );
        Ok(())
    }
}
