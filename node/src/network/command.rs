//! What callers ask of the network loop ([`Command`]) and what it answers about itself
//! ([`PeerInfo`], [`ReachInfo`]).

use libp2p::{Multiaddr, PeerId};
use serde::Serialize;
use tokio::sync::oneshot;

use super::Reachability;

/// What callers ask of the network loop.
#[derive(Debug)]
pub enum Command {
    /// Gossip entries this node just published (and stored).
    Gossip(Vec<kith_protocol::Entry>),
    Dial(Multiaddr),
    Peers(oneshot::Sender<Vec<PeerInfo>>),
    ListenAddrs(oneshot::Sender<Vec<Multiaddr>>),
    /// Cut a peer off and refuse it until unblocked (also used by tests to split a network).
    Block(PeerId),
    Unblock(PeerId),
    /// Compare heads with every connected peer now.
    SyncNow,
    /// Let a peer in as if it had shown a valid invite (remembered across restarts).
    Allow(PeerId),
    /// How this node is reached: AutoNAT's verdict and the hubs relaying for it.
    Reach(oneshot::Sender<ReachInfo>),
}

/// How a node is reached from outside, as `kith status` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct ReachInfo {
    pub reachability: Reachability,
    /// Hubs holding a relay slot for this node (peer ids).
    pub relays: Vec<String>,
}

/// A connected peer, as `kith peers` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct PeerInfo {
    pub peer_id: String,
    pub addrs: Vec<String>,
    pub member_id: Option<String>,
    pub relayed: bool,
}
