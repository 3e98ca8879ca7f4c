//! [`Subchannel`]: a policy's handle to one connection the channel manages.

use std::any::Any;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use grpc_resolver_api::Address;

/// What a channel implements behind a [`Subchannel`]. Policies use [`Subchannel`]; only
/// channels (and tests of policies) implement this.
pub trait SubchannelHandle: Send + Sync + 'static {
    /// The address this subchannel connects to.
    fn address(&self) -> &Address;
    /// Starts connecting if idle; does nothing otherwise.
    fn connect(&self);
    /// The channel's concrete type, for the channel to get its connection back from a pick.
    fn as_any(&self) -> &dyn Any;
}

/// A handle to one subchannel: a connection (and its reconnection) to one address, owned by
/// the channel and shared by the policy and its pickers.
///
/// Cheap to clone; clones are equal and hash alike. The subchannel stays alive while a
/// handle does: a policy removes a subchannel by dropping its handles (keep none in a
/// picker you no longer publish). State changes arrive through
/// [`LbPolicy::subchannel_update`](crate::LbPolicy::subchannel_update).
#[derive(Clone)]
pub struct Subchannel {
    handle: Arc<dyn SubchannelHandle>,
}

impl Subchannel {
    /// Wraps a channel's subchannel.
    pub fn new(handle: Arc<dyn SubchannelHandle>) -> Subchannel {
        Subchannel { handle }
    }

    /// The address it connects to.
    pub fn address(&self) -> &Address {
        self.handle.address()
    }

    /// Starts connecting if idle (policies call this when a subchannel they want is IDLE).
    pub fn connect(&self) {
        self.handle.connect();
    }

    /// The handle's concrete type, if it is `T`.
    pub fn downcast_ref<T: 'static>(&self) -> Option<&T> {
        self.handle.as_any().downcast_ref::<T>()
    }

    /// An identity for this subchannel, stable while it lives (for maps and logs).
    pub fn id(&self) -> usize {
        Arc::as_ptr(&self.handle).cast::<()>() as usize
    }
}

impl PartialEq for Subchannel {
    fn eq(&self, other: &Subchannel) -> bool {
        self.id() == other.id()
    }
}

impl Eq for Subchannel {}

impl Hash for Subchannel {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.id().hash(state);
    }
}

impl fmt::Debug for Subchannel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Subchannel({:#x}, {})", self.id(), self.address())
    }
}
