//! How a node is reached: AutoNAT's verdict, relay slots at the community's hubs (which peers
//! are hubs is the engine's word), and the address helpers they use.

use libp2p::Multiaddr;
use libp2p::PeerId;
use libp2p::multiaddr::Protocol;
use serde::Serialize;

use super::{NetworkLoop, member_of};

/// What AutoNAT has told a node about being dialled from outside.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reachability {
    /// No probe has answered yet.
    Unknown,
    /// A hub dialled one of this node's addresses back.
    Public,
    /// Probes failed: this node sits behind a router that does not let dials in.
    Private,
}

impl Reachability {
    pub fn as_str(self) -> &'static str {
        match self {
            Reachability::Unknown => "unknown",
            Reachability::Public => "public",
            Reachability::Private => "private",
        }
    }
}

impl NetworkLoop {
    /// A home node not known to be reachable holds a relay slot at every connected hub it has
    /// identified; a hub, or a node AutoNAT confirmed reachable, holds none.
    pub(super) fn ensure_relay_slots(&mut self) {
        if self.config.hub || self.reachability == Reachability::Public {
            self.relays_granted.clear();
            for (hub, listener) in std::mem::take(&mut self.relays) {
                tracing::info!(%hub, "reachable directly: giving up the relay slot");
                self.swarm.remove_listener(listener);
            }
            return;
        }
        let hubs: Vec<PeerId> = self
            .connected
            .keys()
            .filter(|p| self.identified.contains(p) && !self.relays.contains_key(p))
            .filter(|p| member_of(p).is_some_and(|m| self.engine.lets_in(&m) && self.engine.is_hub(&m)))
            .copied()
            .collect();
        for hub in hubs {
            let Some(addr) = self.relay_address(&hub) else {
                tracing::debug!(%hub, "no address of the hub to reserve a relay slot on");
                continue;
            };
            match self.swarm.listen_on(addr.clone()) {
                Ok(listener) => {
                    tracing::info!(%hub, %addr, "asking the hub for a relay slot");
                    self.relays.insert(hub, listener);
                }
                Err(error) => tracing::warn!(%hub, %error, "cannot ask the hub for a relay slot"),
            }
        }
    }

    /// `<hub address>/p2p/<hub>/p2p-circuit`: the address we dialled the hub on, or one it
    /// announced.
    fn relay_address(&self, hub: &PeerId) -> Option<Multiaddr> {
        let announced = self.redials.addresses_of(hub);
        let base = self.dialed.get(hub).cloned().or_else(|| {
            let usable = |a: &&Multiaddr| !is_relayed(a) && !is_unspecified(a);
            announced.iter().find(|a| usable(a) && !is_loopback(a)).or_else(|| announced.iter().find(usable)).cloned()
        })?;
        let base: Multiaddr = base.into_iter().filter(|p| !matches!(p, Protocol::P2p(_))).collect();
        Some(base.with(Protocol::P2p(*hub)).with(Protocol::P2pCircuit))
    }

    /// Whether a hub announces `address` as where others reach it: not a relayed one, and not
    /// loopback unless the hub was told to listen on loopback only (tests on one machine).
    pub(super) fn announces(&self, address: &Multiaddr) -> bool {
        !is_relayed(address) && (!is_loopback(address) || self.config.listen.iter().all(is_loopback))
    }
}

/// The address a connection is shown with: the remote address, or for a relayed connection
/// the far side accepted (whose remote address is a bare `/p2p/<peer>`), `/p2p-circuit/p2p/<peer>`.
pub(super) fn connection_addr(endpoint: &libp2p::core::ConnectedPoint, peer: PeerId) -> Multiaddr {
    let addr = endpoint.get_remote_address();
    if endpoint.is_relayed() && !is_relayed(addr) {
        Multiaddr::empty().with(Protocol::P2pCircuit).with(Protocol::P2p(peer))
    } else {
        addr.clone()
    }
}

pub fn is_relayed(addr: &Multiaddr) -> bool {
    addr.iter().any(|p| matches!(p, Protocol::P2pCircuit))
}

pub fn is_loopback(addr: &Multiaddr) -> bool {
    addr.iter().any(|p| match p {
        Protocol::Ip4(ip) => ip.is_loopback(),
        Protocol::Ip6(ip) => ip.is_loopback(),
        _ => false,
    })
}

pub fn is_unspecified(addr: &Multiaddr) -> bool {
    addr.iter().any(|p| match p {
        Protocol::Ip4(ip) => ip.is_unspecified(),
        Protocol::Ip6(ip) => ip.is_unspecified(),
        _ => false,
    })
}
