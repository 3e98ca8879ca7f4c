//! Shared pieces of the resolvers whose answer never changes (passthrough, unix, ipv4/ipv6).

use grpc_resolver_api::{Address, Resolver, ResolverOptions, ResolverState, Status, Target};

/// A resolver that reported its one state at build time and has nothing more to say:
/// `resolve_now` has nothing to refresh.
pub(crate) struct FixedResolver;

impl Resolver for FixedResolver {
    fn resolve_now(&mut self) {}
}

/// Reports `addresses` once and returns the do-nothing resolver.
pub(crate) fn report_once(
    options: &ResolverOptions,
    addresses: Vec<Address>,
) -> Result<Box<dyn Resolver>, Status> {
    options
        .updater
        .update_state(ResolverState::from_addresses(addresses));
    Ok(Box::new(FixedResolver))
}

/// INVALID_ARGUMENT naming the target and saying what is wrong with it.
pub(crate) fn invalid_target(target: &Target, why: impl std::fmt::Display) -> Status {
    Status::invalid_argument(format!("invalid target {:?}: {why}", target.as_str()))
}

/// Rejects a target whose `//authority` part is present and non-empty (the schemes that
/// only name a local thing have no use for one).
pub(crate) fn require_empty_authority(target: &Target) -> Result<(), Status> {
    match target.authority() {
        Some(authority) if !authority.is_empty() => Err(invalid_target(
            target,
            format!(
                "the {} scheme takes no authority (found {authority:?})",
                target.scheme()
            ),
        )),
        _ => Ok(()),
    }
}
