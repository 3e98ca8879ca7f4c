//! The static resolvers through the public API: registered by `register_builtins`, built
//! from a target string, one update each.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::mpsc;

use grpc_core::Code;
use grpc_resolver::{ManualResolver, register_builtins};
use grpc_resolver_api::{
    Addr, ResolverOptions, ResolverRegistry, ResolverState, ResolverUpdate, ResolverUpdater,
    Status, Target,
};

fn registry() -> ResolverRegistry {
    let mut registry = ResolverRegistry::new();
    register_builtins(&mut registry);
    registry
}

fn resolve(target: &str) -> Result<(Vec<Addr>, String), Status> {
    let target = Target::parse(target).expect("a URI");
    let builder = registry()
        .get(target.scheme())
        .unwrap_or_else(|| panic!("{} is registered", target.scheme()));
    let (tx, rx) = mpsc::channel();
    let updater = ResolverUpdater::new(move |update| tx.send(update).is_ok());
    let mut resolver = builder.build(&target, ResolverOptions::new(updater))?;
    resolver.resolve_now(); // nothing to refresh; must not report again
    let updates: Vec<_> = rx.try_iter().collect();
    assert_eq!(updates.len(), 1, "{target}: one update");
    let ResolverUpdate::State(state) = &updates[0] else {
        panic!("{target}: expected a state");
    };
    let addrs = state.addresses.iter().map(|a| a.addr.clone()).collect();
    Ok((addrs, builder.default_authority(&target)))
}

fn tcp(addr: &str) -> Addr {
    Addr::Tcp(addr.parse().expect("a socket address"))
}

#[test]
fn each_static_scheme_reports_its_addresses_once() {
    let cases = [
        (
            "passthrough:///localhost:50051",
            vec![Addr::Name {
                host: "localhost".into(),
                port: 50051,
            }],
            "localhost:50051",
        ),
        (
            "passthrough:///127.0.0.1",
            vec![tcp("127.0.0.1:443")],
            "127.0.0.1",
        ),
        (
            "unix:///tmp/grpc.sock",
            vec![Addr::Unix("/tmp/grpc.sock".into())],
            "localhost",
        ),
        (
            "unix-abstract:grpc",
            vec![Addr::UnixAbstract(bytes::Bytes::from_static(b"grpc"))],
            "localhost",
        ),
        (
            "ipv4:127.0.0.1:1,127.0.0.2:2",
            vec![tcp("127.0.0.1:1"), tcp("127.0.0.2:2")],
            "127.0.0.1:1",
        ),
        (
            "ipv6:[::1]:80,[::1]",
            vec![tcp("[::1]:80"), tcp("[::1]:443")],
            "[::1]:80",
        ),
        (
            "dns:///127.0.0.1:9",
            vec![tcp("127.0.0.1:9")],
            "127.0.0.1:9",
        ),
    ];
    for (target, addrs, authority) in cases {
        assert_eq!(
            resolve(target).ok(),
            Some((addrs, authority.to_owned())),
            "{target}"
        );
    }
}

#[test]
fn bad_targets_fail_the_build_with_invalid_argument() {
    for target in [
        "passthrough:///host:port",
        "unix://host/sock",
        "unix-abstract:",
        "ipv4:::1",
        "ipv6:1.2.3.4",
        "dns:///",
        "dns://not-an-ip/host",
    ] {
        let err = resolve(target).expect_err(target);
        assert_eq!(err.code(), Code::InvalidArgument, "{target}");
        assert!(
            err.message().contains(target),
            "{target}: {}",
            err.message()
        );
    }
}

#[test]
fn the_manual_resolver_is_not_a_builtin_but_registers_like_one() {
    let mut registry = registry();
    assert!(registry.get("manual").is_none());
    let manual = ManualResolver::new("manual");
    registry.register(std::sync::Arc::new(manual.clone()));
    let builder = registry.get("manual").expect("registered");

    let (tx, rx) = mpsc::channel();
    let updater = ResolverUpdater::new(move |update| tx.send(update).is_ok());
    let target = Target::parse("manual:///svc").expect("a URI");
    let mut resolver = builder
        .build(&target, ResolverOptions::new(updater))
        .expect("builds");
    manual.update_state(ResolverState::default());
    assert!(matches!(rx.try_recv(), Ok(ResolverUpdate::State(_))));
    resolver.resolve_now();
    assert_eq!(manual.resolve_now_count(), 1);
}
