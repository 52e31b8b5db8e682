//! [`Gated`]: wraps a libp2p behaviour so that it serves only connections of peers let in (a
//! member, a hub, or a newcomer whose invite was accepted) at the moment the connection is
//! established. Every other connection gets a handler that speaks no protocol, so an outsider
//! who reaches a node learns nothing through the wrapped behaviour — no gossip (not even the
//! community's topic), no Kademlia answer (the community's peers and their addresses), no relay
//! slot, no AutoNAT probe.
//!
//! A connection keeps the handler it got. The network loop therefore closes a connection that
//! was opened while its peer was still outside once that peer is let in, and the peers
//! reconnect with every protocol (see `NetworkLoop::gate`).
//!
//! [`OutsiderLimit`]: at most so many incoming connections of peers not let in.

use std::collections::HashMap;
use std::sync::Arc;
use std::task::{Context, Poll};

use either::Either;
use libp2p::core::Endpoint;
use libp2p::core::transport::PortUse;
use libp2p::swarm::behaviour::{ConnectionClosed, ConnectionEstablished};
use libp2p::swarm::{
    ConnectionDenied, ConnectionId, FromSwarm, NetworkBehaviour, NotifyHandler, THandler, THandlerInEvent,
    THandlerOutEvent, ToSwarm, dummy,
};
use libp2p::{Multiaddr, PeerId};

/// Whether a peer is let in, asked when one of its connections is established.
pub type Admits = Arc<dyn Fn(&PeerId) -> bool + Send + Sync>;

/// A behaviour that only serves connections of peers [`Admits`] lets in.
pub struct Gated<B> {
    inner: B,
    admits: Admits,
    /// Connections the inner behaviour serves, and their peers.
    served: HashMap<ConnectionId, PeerId>,
}

impl<B> std::fmt::Debug for Gated<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gated").field("served", &self.served.len()).finish_non_exhaustive()
    }
}

impl<B> Gated<B> {
    pub fn new(inner: B, admits: Admits) -> Self {
        Gated { inner, admits, served: HashMap::new() }
    }

    pub fn inner_mut(&mut self) -> &mut B {
        &mut self.inner
    }

    fn served_count(&self, peer: &PeerId) -> usize {
        self.served.values().filter(|p| *p == peer).count()
    }
}

impl<B: NetworkBehaviour> NetworkBehaviour for Gated<B> {
    type ConnectionHandler = Either<THandler<B>, dummy::ConnectionHandler>;
    type ToSwarm = B::ToSwarm;

    fn handle_pending_inbound_connection(
        &mut self,
        connection_id: ConnectionId,
        local_addr: &Multiaddr,
        remote_addr: &Multiaddr,
    ) -> Result<(), ConnectionDenied> {
        self.inner.handle_pending_inbound_connection(connection_id, local_addr, remote_addr)
    }

    fn handle_established_inbound_connection(
        &mut self,
        connection_id: ConnectionId,
        peer: PeerId,
        local_addr: &Multiaddr,
        remote_addr: &Multiaddr,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        if !(self.admits)(&peer) {
            return Ok(Either::Right(dummy::ConnectionHandler));
        }
        let handler = self.inner.handle_established_inbound_connection(connection_id, peer, local_addr, remote_addr)?;
        self.served.insert(connection_id, peer);
        Ok(Either::Left(handler))
    }

    fn handle_pending_outbound_connection(
        &mut self,
        connection_id: ConnectionId,
        maybe_peer: Option<PeerId>,
        addresses: &[Multiaddr],
        effective_role: Endpoint,
    ) -> Result<Vec<Multiaddr>, ConnectionDenied> {
        self.inner.handle_pending_outbound_connection(connection_id, maybe_peer, addresses, effective_role)
    }

    fn handle_established_outbound_connection(
        &mut self,
        connection_id: ConnectionId,
        peer: PeerId,
        addr: &Multiaddr,
        role_override: Endpoint,
        port_use: PortUse,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        if !(self.admits)(&peer) {
            return Ok(Either::Right(dummy::ConnectionHandler));
        }
        let handler =
            self.inner.handle_established_outbound_connection(connection_id, peer, addr, role_override, port_use)?;
        self.served.insert(connection_id, peer);
        Ok(Either::Left(handler))
    }

    /// The inner behaviour hears only of the connections it serves, with counts to match.
    fn on_swarm_event(&mut self, event: FromSwarm) {
        match event {
            FromSwarm::ConnectionEstablished(established) => {
                if self.served.contains_key(&established.connection_id) {
                    let other_established = self.served_count(&established.peer_id).saturating_sub(1);
                    self.inner.on_swarm_event(FromSwarm::ConnectionEstablished(ConnectionEstablished {
                        other_established,
                        ..established
                    }));
                }
            }
            FromSwarm::ConnectionClosed(closed) => {
                if self.served.remove(&closed.connection_id).is_some() {
                    let remaining_established = self.served_count(&closed.peer_id);
                    self.inner.on_swarm_event(FromSwarm::ConnectionClosed(ConnectionClosed {
                        remaining_established,
                        ..closed
                    }));
                }
            }
            FromSwarm::AddressChange(change) => {
                if self.served.contains_key(&change.connection_id) {
                    self.inner.on_swarm_event(FromSwarm::AddressChange(change));
                }
            }
            other => self.inner.on_swarm_event(other),
        }
    }

    fn on_connection_handler_event(
        &mut self,
        peer_id: PeerId,
        connection_id: ConnectionId,
        event: THandlerOutEvent<Self>,
    ) {
        match event {
            Either::Left(event) => self.inner.on_connection_handler_event(peer_id, connection_id, event),
            Either::Right(never) => match never {},
        }
    }

    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<ToSwarm<Self::ToSwarm, THandlerInEvent<Self>>> {
        loop {
            match self.inner.poll(cx) {
                Poll::Ready(ToSwarm::NotifyHandler { peer_id, handler, event }) => {
                    // Only a connection the inner behaviour serves can take its events.
                    let target = match handler {
                        NotifyHandler::One(id) => self.served.contains_key(&id).then_some(id),
                        NotifyHandler::Any => self.served.iter().find(|(_, p)| **p == peer_id).map(|(id, _)| *id),
                    };
                    if let Some(id) = target {
                        return Poll::Ready(ToSwarm::NotifyHandler {
                            peer_id,
                            handler: NotifyHandler::One(id),
                            event: Either::Left(event),
                        });
                    }
                    tracing::debug!(peer = %peer_id, "dropped an event for a connection not served");
                }
                Poll::Ready(other) => return Poll::Ready(other.map_in(Either::Left)),
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

/// Refuses an incoming connection of a peer not let in once `max` such connections are open:
/// outsiders are held at the door (5 s, then cut off), and without this bound a stream of them
/// with fresh keys could fill libp2p's `max_established_incoming` and keep the community out.
/// A connection is judged when it is established (the peer's key is known from then on); one
/// counted as an outsider's stays counted until it closes.
pub struct OutsiderLimit {
    max: usize,
    admits: Admits,
    outsiders: std::collections::HashSet<ConnectionId>,
}

impl std::fmt::Debug for OutsiderLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutsiderLimit").field("max", &self.max).field("open", &self.outsiders.len()).finish()
    }
}

/// The error an [`OutsiderLimit`] refuses a connection with.
#[derive(Debug)]
pub struct TooManyOutsiders(pub usize);

impl std::fmt::Display for TooManyOutsiders {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} connections of peers not let in are open already", self.0)
    }
}

impl std::error::Error for TooManyOutsiders {}

impl OutsiderLimit {
    pub fn new(max: usize, admits: Admits) -> Self {
        OutsiderLimit { max, admits, outsiders: std::collections::HashSet::new() }
    }
}

impl NetworkBehaviour for OutsiderLimit {
    type ConnectionHandler = dummy::ConnectionHandler;
    type ToSwarm = std::convert::Infallible;

    fn handle_established_inbound_connection(
        &mut self,
        connection_id: ConnectionId,
        peer: PeerId,
        _local_addr: &Multiaddr,
        _remote_addr: &Multiaddr,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        if !(self.admits)(&peer) {
            if self.outsiders.len() >= self.max {
                tracing::debug!(%peer, "refused: too many outsiders' connections");
                return Err(ConnectionDenied::new(TooManyOutsiders(self.outsiders.len())));
            }
            self.outsiders.insert(connection_id);
        }
        Ok(dummy::ConnectionHandler)
    }

    fn handle_established_outbound_connection(
        &mut self,
        _connection_id: ConnectionId,
        _peer: PeerId,
        _addr: &Multiaddr,
        _role_override: Endpoint,
        _port_use: PortUse,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        Ok(dummy::ConnectionHandler)
    }

    fn on_swarm_event(&mut self, event: FromSwarm) {
        match event {
            FromSwarm::ConnectionClosed(closed) => {
                self.outsiders.remove(&closed.connection_id);
            }
            // Refused by another behaviour after this one counted it: it never opened.
            FromSwarm::ListenFailure(failure) => {
                self.outsiders.remove(&failure.connection_id);
            }
            _ => {}
        }
    }

    fn on_connection_handler_event(&mut self, _peer: PeerId, _id: ConnectionId, event: THandlerOutEvent<Self>) {
        match event {}
    }

    fn poll(&mut self, _cx: &mut Context<'_>) -> Poll<ToSwarm<Self::ToSwarm, THandlerInEvent<Self>>> {
        Poll::Pending
    }
}
