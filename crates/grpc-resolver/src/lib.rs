//! Name resolvers for the grpc-rust stack, each a
//! [`ResolverBuilder`](grpc_resolver_api::ResolverBuilder) from `grpc-resolver-api`:
//!
//! | scheme | builder | what it does |
//! |---|---|---|
//! | `dns` | [`DnsResolverBuilder`] | A/AAAA lookups with hickory-resolver, re-resolution on request and periodically, optional TXT service configs (gRFC A2) |
//! | `passthrough` | [`PassthroughResolverBuilder`] | the endpoint is the address; the connector resolves host names |
//! | `unix` | [`UnixResolverBuilder`] | a Unix domain socket path |
//! | `unix-abstract` | [`UnixAbstractResolverBuilder`] | a Linux abstract socket name |
//! | `ipv4`, `ipv6` | [`Ipv4ResolverBuilder`], [`Ipv6ResolverBuilder`] | static address lists (`ipv4:10.0.0.1:80,10.0.0.2:81`) |
//! | any | [`ManualResolver`] | updates pushed by hand, for tests |
//!
//! Targets follow gRPC's naming doc (`naming.md`); a port left out is 443.
//! [`register_builtins`] adds all but the manual resolver to a registry:
//!
//! ```
//! use grpc_resolver_api::ResolverRegistry;
//!
//! let mut registry = ResolverRegistry::new();
//! grpc_resolver::register_builtins(&mut registry);
//! assert!(registry.get("dns").is_some());
//! assert!(registry.get("unix-abstract").is_some());
//! ```

use std::sync::Arc;

use grpc_resolver_api::ResolverRegistry;

mod dns;
mod fixed;
mod ip_list;
mod manual;
mod passthrough;
mod rand;
mod unix;

pub use dns::DnsResolverBuilder;
pub use ip_list::{Ipv4ResolverBuilder, Ipv6ResolverBuilder};
pub use manual::ManualResolver;
pub use passthrough::PassthroughResolverBuilder;
pub use unix::{UnixAbstractResolverBuilder, UnixResolverBuilder};

/// The port used when a target names none (gRPC's naming doc: 443).
pub const DEFAULT_PORT: u16 = 443;

/// Registers `passthrough`, `dns` (default options), `unix`, `unix-abstract`, `ipv4` and
/// `ipv6` in `registry`, replacing builders already registered for those schemes. The manual
/// resolver is not registered: make one with [`ManualResolver::new`] and register it.
pub fn register_builtins(registry: &mut ResolverRegistry) {
    registry.register(Arc::new(PassthroughResolverBuilder));
    registry.register(Arc::new(DnsResolverBuilder::default()));
    registry.register(Arc::new(UnixResolverBuilder));
    registry.register(Arc::new(UnixAbstractResolverBuilder));
    registry.register(Arc::new(Ipv4ResolverBuilder));
    registry.register(Arc::new(Ipv6ResolverBuilder));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtins_are_registered_but_not_manual() {
        let mut registry = ResolverRegistry::new();
        register_builtins(&mut registry);
        let mut schemes: Vec<_> = registry.schemes().collect();
        schemes.sort_unstable();
        assert_eq!(
            schemes,
            [
                "dns",
                "ipv4",
                "ipv6",
                "passthrough",
                "unix",
                "unix-abstract"
            ]
        );
    }
}
