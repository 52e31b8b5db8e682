//! Swarm events, translated: connections, gossip and sync messages become the engine's inputs;
//! identify, Kademlia, mDNS, relay and AutoNAT events update what the adapter keeps itself.

use libp2p::swarm::SwarmEvent;
use libp2p::{Multiaddr, PeerId, autonat, dcutr, gossipsub, identify, kad, mdns, relay, request_response};

use super::reach::{connection_addr, is_relayed, is_unspecified};
use super::swarm::BehaviourEvent;
use super::{NetworkLoop, Reachability, member_of};
use crate::engine::{Input, Standing};

/// Most peers a node dials on its own after learning of them through Kademlia.
const MAX_DISCOVERED_PEERS: usize = 32;

impl NetworkLoop {
    fn next_handle(&mut self) -> u64 {
        self.next_handle += 1;
        self.next_handle
    }

    pub(super) fn on_swarm_event(&mut self, event: SwarmEvent<BehaviourEvent>) {
        match event {
            SwarmEvent::NewListenAddr { address, .. } => {
                if is_relayed(&address) {
                    tracing::info!(%address, "reachable through a hub's relay");
                } else {
                    tracing::info!(%address, "listening");
                }
                if self.config.hub && self.announces(&address) {
                    self.swarm.add_external_address(address.clone());
                }
                self.listen_addrs.push(address);
            }
            SwarmEvent::ExpiredListenAddr { address, .. } => self.listen_addrs.retain(|a| *a != address),
            SwarmEvent::ListenerClosed { listener_id, addresses, reason } => {
                self.listen_addrs.retain(|a| !addresses.contains(a));
                if let Some(hub) = self.relays.iter().find(|(_, l)| **l == listener_id).map(|(h, _)| *h) {
                    tracing::info!(%hub, ?reason, "the relay slot at a hub closed");
                    self.relays.remove(&hub);
                    self.relays_granted.remove(&hub);
                }
            }
            SwarmEvent::ExternalAddrConfirmed { address } if !is_relayed(&address) => {
                tracing::info!(%address, "reachable from outside at this address (AutoNAT)");
                self.confirmed.insert(address);
                self.reachability = Reachability::Public;
                self.ensure_relay_slots();
            }
            SwarmEvent::ExternalAddrExpired { address } => {
                self.confirmed.remove(&address);
                if self.confirmed.is_empty() && !self.config.hub {
                    self.reachability = Reachability::Unknown;
                    self.ensure_relay_slots();
                }
            }
            SwarmEvent::ConnectionEstablished { peer_id, endpoint, num_established, .. } => {
                let Some(member) = member_of(&peer_id) else {
                    tracing::debug!(peer = %peer_id, "not a member key: disconnecting");
                    let _ = self.swarm.disconnect_peer_id(peer_id);
                    return;
                };
                let addr = connection_addr(&endpoint, peer_id);
                if endpoint.is_dialer() && !is_relayed(&addr) {
                    self.dialed.insert(peer_id, addr.clone());
                    self.redials.reached(&peer_id, &addr);
                }
                let addrs = self.connected.entry(peer_id).or_default();
                if !addrs.contains(&addr) {
                    addrs.push(addr);
                }
                self.redials.connected(&peer_id);
                self.handle(Input::Connected { peer: member, first: num_established.get() == 1 });
            }
            SwarmEvent::ConnectionClosed { peer_id, num_established, endpoint, .. } => {
                if num_established == 0 {
                    self.connected.remove(&peer_id);
                    self.identified.remove(&peer_id);
                    self.dialed.remove(&peer_id);
                    if let Some(listener) = self.relays.remove(&peer_id) {
                        self.swarm.remove_listener(listener);
                    }
                    self.relays_granted.remove(&peer_id);
                    self.redials.closed(&peer_id);
                    if let Some(member) = member_of(&peer_id) {
                        self.handle(Input::Disconnected { peer: member });
                    }
                } else if let Some(addrs) = self.connected.get_mut(&peer_id) {
                    let closed = connection_addr(&endpoint, peer_id);
                    addrs.retain(|a| *a != closed);
                }
            }
            SwarmEvent::Behaviour(event) => self.on_behaviour_event(event),
            SwarmEvent::OutgoingConnectionError { peer_id, error, .. } => {
                tracing::debug!(peer = ?peer_id, %error, "could not connect");
            }
            SwarmEvent::IncomingConnectionError { error, .. } => {
                tracing::debug!(%error, "refused an incoming connection")
            }
            _ => {}
        }
    }

    fn on_behaviour_event(&mut self, event: BehaviourEvent) {
        match event {
            BehaviourEvent::Gossipsub(gossipsub::Event::Message { propagation_source, message_id, message }) => {
                let Some(peer) = member_of(&propagation_source) else { return };
                let handle = self.next_handle();
                self.messages.insert(handle, message_id);
                self.handle(Input::Gossip { peer, message: handle, data: message.data });
            }
            BehaviourEvent::Sync(request_response::Event::Message { peer, message, .. }) => match message {
                request_response::Message::Request { request, channel, .. } => {
                    let Some(peer) = member_of(&peer) else { return };
                    let id = self.next_handle();
                    self.channels.insert(id, channel);
                    self.handle(Input::Request { peer, id, request });
                }
                request_response::Message::Response { request_id, response } => {
                    if let Some(id) = self.outbound.remove(&request_id) {
                        self.handle(Input::Response { id, response });
                    }
                }
            },
            BehaviourEvent::Sync(request_response::Event::OutboundFailure { peer, request_id, error, .. }) => {
                tracing::debug!(%peer, %error, "sync request failed");
                if let Some(id) = self.outbound.remove(&request_id) {
                    self.handle(Input::RequestFailed { id });
                }
            }
            BehaviourEvent::Identify(identify::Event::Received { peer_id, info, .. }) => {
                self.identified.insert(peer_id);
                // A peer at the door is only remembered as identified, so a hub that turns out
                // to be one once its appointment arrives is still asked for a relay slot.
                if member_of(&peer_id).is_none_or(|m| self.engine.holds_at_door(&m)) {
                    return;
                }
                let addrs: Vec<Multiaddr> =
                    info.listen_addrs.into_iter().filter(|a| !is_unspecified(a)).take(16).collect();
                for addr in &addrs {
                    self.swarm.behaviour_mut().kad.inner_mut().add_address(&peer_id, addr.clone());
                }
                let texts: Vec<String> = addrs.iter().map(ToString::to_string).collect();
                if !texts.is_empty() {
                    self.store(super::work::StoreJob::Peer(peer_id.to_string(), texts));
                    self.redials.addresses(peer_id, addrs);
                }
                self.ensure_relay_slots();
            }
            BehaviourEvent::Kad(kad::Event::RoutingUpdated { peer, addresses, .. }) => {
                self.dial_discovered(peer, addresses.into_vec());
            }
            BehaviourEvent::Kad(kad::Event::OutboundQueryProgressed {
                result: kad::QueryResult::GetClosestPeers(Ok(found)),
                ..
            }) => {
                for info in found.peers {
                    self.dial_discovered(info.peer_id, info.addrs);
                }
            }
            BehaviourEvent::RelayClient(relay::client::Event::ReservationReqAccepted { relay_peer_id, .. })
                if self.relays_granted.insert(relay_peer_id) =>
            {
                tracing::info!(hub = %relay_peer_id, "a hub holds a relay slot for this node");
            }
            BehaviourEvent::RelayClient(event) => tracing::debug!(?event, "relay"),
            BehaviourEvent::RelayServer(event) => tracing::debug!(?event, "relay server"),
            BehaviourEvent::Dcutr(dcutr::Event { remote_peer_id, result }) => match result {
                Ok(_) => tracing::info!(peer = %remote_peer_id, "hole punched: a direct connection replaces the relay"),
                Err(error) => tracing::info!(peer = %remote_peer_id, %error, "hole punching failed; staying relayed"),
            },
            BehaviourEvent::AutonatClient(autonat::v2::client::Event { tested_addr, server, result, .. }) => {
                match result {
                    Ok(()) => tracing::debug!(%tested_addr, %server, "AutoNAT: dialled back"),
                    Err(error) => {
                        tracing::debug!(%tested_addr, %server, %error, "AutoNAT: not reachable at this address");
                        if self.confirmed.is_empty() && self.reachability != Reachability::Private {
                            tracing::info!("AutoNAT: this node cannot be dialled from outside; using hubs' relays");
                            self.reachability = Reachability::Private;
                            self.ensure_relay_slots();
                        }
                    }
                }
            }
            BehaviourEvent::Mdns(mdns::Event::Discovered(found)) => {
                for (peer, addr) in found {
                    if !self.connected.contains_key(&peer) && peer != self.local_peer_id() {
                        tracing::debug!(%peer, %addr, "found a neighbour on the local network");
                        let _ = self.swarm.dial(addr);
                    }
                }
            }
            _ => {}
        }
    }

    /// A member learnt of through Kademlia: connect to it, within a bound (the engine says
    /// whether it is one).
    fn dial_discovered(&mut self, peer: PeerId, addrs: Vec<Multiaddr>) {
        if peer == self.local_peer_id()
            || addrs.is_empty()
            || self.connected.contains_key(&peer)
            || self.connected.len() >= MAX_DISCOVERED_PEERS
            || member_of(&peer).is_none_or(|m| self.engine.standing(&m) != Standing::Authorised)
        {
            return;
        }
        tracing::debug!(%peer, ?addrs, "dialling a member found through Kademlia");
        let opts = libp2p::swarm::dial_opts::DialOpts::peer_id(peer)
            .condition(libp2p::swarm::dial_opts::PeerCondition::DisconnectedAndNotDialing)
            .addresses(addrs)
            .build();
        if let Err(error) = self.swarm.dial(opts) {
            tracing::debug!(%peer, %error, "cannot dial a discovered member");
        }
    }
}
