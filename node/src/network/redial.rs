//! Redials: the peers this node dialled (bootstrap addresses, known peers, `kith` dials) are
//! dialled again while not connected, backing off from 1 s to a minute.

use std::collections::HashMap;
use std::time::Duration;

use libp2p::{Multiaddr, PeerId};
use tokio::time::Instant;

/// Longest wait between two attempts to reach a known peer.
const MAX_REDIAL_BACKOFF: Duration = Duration::from_secs(60);
/// First wait, and the wait again after a peer asked to be reconnected.
const FIRST_BACKOFF: Duration = Duration::from_secs(1);

struct Redial {
    addrs: Vec<Multiaddr>,
    next: Instant,
    backoff: Duration,
}

/// The peers to redial, and when.
#[derive(Default)]
pub(super) struct Redials {
    peers: HashMap<PeerId, Redial>,
}

impl Redials {
    /// A known peer, to dial now.
    pub(super) fn known(&mut self, peer: PeerId, addrs: Vec<Multiaddr>) {
        self.peers.insert(peer, Redial { addrs, next: Instant::now(), backoff: FIRST_BACKOFF });
    }

    /// A peer just dialled on `addr`: dial it again in a second if it is not there by then.
    /// Every address it was dialled on is kept (an invite names several, and the first may be
    /// one only the inviter's own computer reaches).
    pub(super) fn dialled(&mut self, peer: PeerId, addr: Multiaddr) {
        let redial = self.peers.entry(peer).or_insert(Redial {
            addrs: Vec::new(),
            next: Instant::now() + FIRST_BACKOFF,
            backoff: FIRST_BACKOFF,
        });
        if !redial.addrs.contains(&addr) {
            redial.addrs.push(addr);
        }
    }

    /// `peer` was reached by dialling `addr`: it is tried first from now on. Until the peer
    /// says its addresses (identify, which answers only peers let in), the address that worked
    /// is the one to come back on when the connection is renewed.
    pub(super) fn reached(&mut self, peer: &PeerId, addr: &Multiaddr) {
        if let Some(redial) = self.peers.get_mut(peer)
            && let Some(at) = redial.addrs.iter().position(|a| without_peer(a) == without_peer(addr))
        {
            redial.addrs[..=at].rotate_right(1);
        }
    }

    /// `peer`'s addresses as it says them (identify): redialled there from now on.
    pub(super) fn addresses(&mut self, peer: PeerId, addrs: Vec<Multiaddr>) {
        let redial = self.peers.entry(peer).or_insert(Redial {
            addrs: Vec::new(),
            next: Instant::now(),
            backoff: FIRST_BACKOFF,
        });
        redial.addrs = addrs;
    }

    /// `peer` is connected: a later loss starts again from the first backoff.
    pub(super) fn connected(&mut self, peer: &PeerId) {
        if let Some(redial) = self.peers.get_mut(peer) {
            redial.backoff = FIRST_BACKOFF;
        }
    }

    /// `peer`'s last connection closed: the next attempt after the current backoff.
    pub(super) fn closed(&mut self, peer: &PeerId) {
        if let Some(redial) = self.peers.get_mut(peer) {
            redial.next = Instant::now() + redial.backoff;
        }
    }

    /// The addresses `peer` is redialled on (none if unknown).
    pub(super) fn addresses_of(&self, peer: &PeerId) -> Vec<Multiaddr> {
        self.peers.get(peer).map(|r| r.addrs.clone()).unwrap_or_default()
    }

    /// Stop redialling `peer` (blocked, or cut off for good).
    pub(super) fn forget(&mut self, peer: &PeerId) {
        self.peers.remove(peer);
    }

    /// Redial `peer` at once and from the first backoff (its connection is being renewed).
    pub(super) fn soon(&mut self, peer: &PeerId) {
        if let Some(redial) = self.peers.get_mut(peer) {
            redial.next = Instant::now();
            redial.backoff = FIRST_BACKOFF;
        }
    }

    /// The peers due now that `connected` says are not there, with their addresses; each one's
    /// next attempt is pushed back (doubling up to a minute).
    pub(super) fn due(&mut self, connected: impl Fn(&PeerId) -> bool) -> Vec<(PeerId, Vec<Multiaddr>)> {
        let now = Instant::now();
        let mut due = Vec::new();
        for (peer, redial) in &mut self.peers {
            if redial.next <= now && !connected(peer) {
                redial.next = now + redial.backoff;
                redial.backoff = (redial.backoff * 2).min(MAX_REDIAL_BACKOFF);
                due.push((*peer, redial.addrs.clone()));
            }
        }
        due
    }
}

/// `addr` without its `/p2p/<peer>` part (a dialled address names the peer, a connection's
/// remote address does not).
fn without_peer(addr: &Multiaddr) -> Multiaddr {
    addr.iter().filter(|p| !matches!(p, libp2p::multiaddr::Protocol::P2p(_))).collect()
}
