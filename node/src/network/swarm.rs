//! The swarm a node runs: its transports and behaviours (TCP + Noise + Yamux, connection limits,
//! gossipsub, sync, Kademlia, identify, ping, mDNS, a block list, circuit relay v2, DCUtR and
//! AutoNAT v2), and the settings of each.

use std::time::Duration;

use libp2p::gossipsub;
use libp2p::request_response::{self, ProtocolSupport};
use libp2p::swarm::NetworkBehaviour;
use libp2p::swarm::behaviour::toggle::Toggle;
use libp2p::{
    Multiaddr, StreamProtocol, Swarm, allow_block_list, autonat, connection_limits, dcutr, identify, kad, mdns, noise,
    ping, relay, tcp, yamux,
};

use crate::gated::{Admits, Gated, OutsiderLimit};
use crate::sync::{self, SyncRequest, SyncResponse};

/// Largest gossip frame (and read buffer) accepted: an entry is at most
/// `kith_protocol::entry::MAX_ENTRY_BYTES`; the rest is room for framing and bursts.
pub const GOSSIP_MAX_TRANSMIT: usize = 64 * 1024;

#[allow(missing_debug_implementations)]
#[derive(NetworkBehaviour)]
pub struct Behaviour {
    /// First, so a connection over a limit is refused before any other behaviour serves it.
    pub(super) limits: connection_limits::Behaviour,
    /// Of the incoming connections, at most `ConnectionCaps::outsiders` of peers not let in.
    pub(super) outsiders: OutsiderLimit,
    pub(super) blocked: allow_block_list::Behaviour<allow_block_list::BlockedPeers>,
    /// Served to peers let in only: an outsider does not even learn the community's topic.
    pub(super) gossipsub: Gated<gossipsub::Behaviour>,
    pub(super) sync: request_response::cbor::Behaviour<SyncRequest, SyncResponse>,
    /// Served to peers let in only: its answers name the community's peers and addresses.
    pub(super) kad: Gated<kad::Behaviour<kad::store::MemoryStore>>,
    pub(super) mdns: Toggle<mdns::tokio::Behaviour>,
    /// Served to peers let in only: its answer names our listen addresses.
    pub(super) identify: Gated<identify::Behaviour>,
    pub(super) ping: ping::Behaviour,
    pub(super) relay_client: relay::client::Behaviour,
    /// Hubs only: relays connections for home nodes behind routers.
    pub(super) relay_server: Toggle<Gated<relay::Behaviour>>,
    pub(super) dcutr: dcutr::Behaviour,
    /// Home nodes: asks hubs to dial our addresses back.
    pub(super) autonat_client: Toggle<autonat::v2::client::Behaviour>,
    /// Hubs only: dials back the addresses home nodes ask about.
    pub(super) autonat_server: Toggle<Gated<autonat::v2::server::Behaviour>>,
}

/// Network settings of a node.
#[derive(Debug, Clone)]
pub struct NetworkConfig {
    pub listen: Vec<Multiaddr>,
    pub bootstrap: Vec<Multiaddr>,
    pub mdns: bool,
    /// How often to compare heads with a random peer.
    pub sync_interval: Duration,
    /// Gossipsub heartbeat (shorter in tests).
    pub heartbeat: Duration,
    /// How long an idle connection stays open.
    pub idle_timeout: Duration,
    /// The invite capability (bytes) this node presents to the members it connects to.
    pub invite: Option<Vec<u8>>,
    /// Run as a community hub: relay server, AutoNAT server, listen addresses announced.
    pub hub: bool,
    /// How many connections the node takes.
    pub limits: ConnectionCaps,
}

/// How many connections a node takes, sized for a public hub (a few hundred homes, each with a
/// connection or two, plus relayed circuits), so that an outsider cannot exhaust its file
/// descriptors or memory. Beyond a limit a connection is refused as it opens (libp2p's
/// `connection_limits`, and [`OutsiderLimit`] for peers not let in).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionCaps {
    /// Incoming connections still in their handshake (TCP, Noise, Yamux).
    pub pending_incoming: u32,
    /// Established incoming connections.
    pub established_incoming: u32,
    /// Established connections, both ways.
    pub established_total: u32,
    /// Established connections with one peer (direct, relayed, a hole-punched one, a dial race).
    pub per_peer: u32,
    /// Established incoming connections of peers not let in (held at the door for 5 s, then cut
    /// off): the rest of `established_incoming` stays free for the community.
    pub outsiders: u32,
}

impl Default for ConnectionCaps {
    fn default() -> Self {
        ConnectionCaps {
            pending_incoming: 128,
            established_incoming: 1_024,
            established_total: 1_280,
            per_peer: 4,
            outsiders: 64,
        }
    }
}

impl Default for NetworkConfig {
    fn default() -> Self {
        NetworkConfig {
            listen: Vec::new(),
            bootstrap: Vec::new(),
            mdns: true,
            sync_interval: Duration::from_secs(30),
            heartbeat: Duration::from_secs(1),
            idle_timeout: Duration::from_secs(300),
            invite: None,
            hub: false,
            limits: ConnectionCaps::default(),
        }
    }
}

/// Builds the swarm for a key. `admits` says whether a peer is let in when one of its
/// connections opens (see [`Gated`]).
pub fn build_swarm(
    keypair: libp2p::identity::Keypair,
    config: &NetworkConfig,
    admits: Admits,
) -> Result<Swarm<Behaviour>, String> {
    let heartbeat = config.heartbeat;
    let use_mdns = config.mdns;
    let hub = config.hub;
    let caps = config.limits;
    let swarm = libp2p::SwarmBuilder::with_existing_identity(keypair)
        .with_tokio()
        .with_tcp(tcp::Config::default().nodelay(true), noise::Config::new, yamux::Config::default)
        .map_err(|e| format!("cannot set up TCP: {e}"))?
        .with_dns()
        .map_err(|e| format!("cannot set up DNS: {e}"))?
        .with_relay_client(noise::Config::new, yamux::Config::default)
        .map_err(|e| format!("cannot set up the relay client: {e}"))?
        .with_behaviour(|key, relay_client| {
            let peer_id = key.public().to_peer_id();
            let gossip_config = gossipsub::ConfigBuilder::default()
                .heartbeat_interval(heartbeat)
                .validation_mode(gossipsub::ValidationMode::Anonymous)
                .validate_messages()
                .message_id_fn(|message: &gossipsub::Message| {
                    gossipsub::MessageId::from(blake3::hash(&message.data).as_bytes().to_vec())
                })
                // Not the entry limit (the node checks MAX_ENTRY_BYTES itself and rejects with a
                // reason): libp2p-gossipsub 0.50 compares this figure with *everything buffered*
                // on the stream, several small frames together, and drops the stream when that
                // exceeds it. With MAX_ENTRY_BYTES + 1 KiB a burst of honest entries killed
                // gossip from that peer (tests/tests/gossip_burst.rs).
                .max_transmit_size(GOSSIP_MAX_TRANSMIT)
                .mesh_n(4)
                .mesh_n_low(2)
                .mesh_n_high(8)
                .mesh_outbound_min(1)
                .duplicate_cache_time(Duration::from_secs(120))
                .flood_publish(true)
                .build()
                .map_err(|e| format!("gossipsub config: {e}"))?;
            let mut gossipsub = gossipsub::Behaviour::new(gossipsub::MessageAuthenticity::Anonymous, gossip_config)?;
            gossipsub.with_peer_score(gate_score_params(), gossipsub::PeerScoreThresholds::default())?;
            let codec = request_response::cbor::codec::Codec::<SyncRequest, SyncResponse>::default()
                .set_request_size_maximum(sync::MAX_REQUEST_BYTES)
                .set_response_size_maximum(sync::MAX_RESPONSE_BYTES);
            let sync = request_response::Behaviour::with_codec(
                codec,
                [(StreamProtocol::new(sync::SYNC_PROTOCOL), ProtocolSupport::Full)],
                request_response::Config::default().with_request_timeout(Duration::from_secs(30)),
            );
            let mut kad_config = kad::Config::new(StreamProtocol::new("/kith/kad/1"));
            kad_config.set_periodic_bootstrap_interval(Some(Duration::from_secs(300)));
            let mut kad = kad::Behaviour::with_config(peer_id, kad::store::MemoryStore::new(peer_id), kad_config);
            kad.set_mode(Some(kad::Mode::Server));
            let mdns =
                if use_mdns { Some(mdns::tokio::Behaviour::new(mdns::Config::default(), peer_id)?) } else { None };
            let identify = Gated::new(
                identify::Behaviour::new(
                    identify::Config::new("/kith/1".into(), key.public())
                        .with_agent_version(format!(
                            "kith/{}{}",
                            env!("CARGO_PKG_VERSION"),
                            if hub { " hub" } else { "" }
                        ))
                        // A home node's relayed address appears after its reservation: tell peers.
                        .with_push_listen_addr_updates(true),
                ),
                admits.clone(),
            );
            let relay_server =
                hub.then(|| Gated::new(relay::Behaviour::new(peer_id, community_relay_limits()), admits.clone()));
            // Probes every 5 s while it has untested address candidates (libp2p's default).
            let autonat_client = (!hub).then(autonat::v2::client::Behaviour::default);
            let autonat_server = hub.then(|| Gated::new(autonat::v2::server::Behaviour::default(), admits.clone()));
            let limits = connection_limits::ConnectionLimits::default()
                .with_max_pending_incoming(Some(caps.pending_incoming))
                .with_max_established_incoming(Some(caps.established_incoming))
                .with_max_established(Some(caps.established_total))
                .with_max_established_per_peer(Some(caps.per_peer));
            Ok(Behaviour {
                limits: connection_limits::Behaviour::new(limits),
                outsiders: OutsiderLimit::new(caps.outsiders as usize, admits.clone()),
                blocked: allow_block_list::Behaviour::default(),
                gossipsub: Gated::new(gossipsub, admits.clone()),
                sync,
                kad: Gated::new(kad, admits.clone()),
                mdns: mdns.into(),
                identify,
                ping: ping::Behaviour::new(ping::Config::new().with_interval(Duration::from_secs(15))),
                relay_client,
                relay_server: relay_server.into(),
                dcutr: dcutr::Behaviour::new(peer_id),
                autonat_client: autonat_client.into(),
                autonat_server: autonat_server.into(),
            })
        })
        .map_err(|e| format!("cannot set up the network: {e}"))?
        .with_swarm_config(|c| c.with_idle_connection_timeout(config.idle_timeout))
        .build();
    Ok(swarm)
}

/// A hub's relay limits, sized for a neighbourhood rather than the open internet: a few
/// hundred homes, and circuits long and large enough to carry a catch-up sync when hole
/// punching fails (libp2p's defaults stop a circuit after 2 minutes or 128 KiB).
fn community_relay_limits() -> relay::Config {
    relay::Config {
        max_reservations: 512,
        max_reservations_per_peer: 4,
        reservation_duration: Duration::from_secs(60 * 60),
        max_circuits: 128,
        max_circuits_per_peer: 8,
        max_circuit_duration: Duration::from_secs(30 * 60),
        max_circuit_bytes: 64 * 1024 * 1024,
        ..relay::Config::default()
    }
}

/// Peer scoring used only for the gate: the application score marks outsiders; every other
/// component is off so members are treated as before.
pub(super) fn gate_score_params() -> gossipsub::PeerScoreParams {
    gossipsub::PeerScoreParams {
        app_specific_weight: 1.0,
        ip_colocation_factor_weight: 0.0,
        behaviour_penalty_weight: 0.0,
        slow_peer_weight: 0.0,
        ..gossipsub::PeerScoreParams::default()
    }
}
