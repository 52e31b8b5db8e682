//! The libp2p side of a node: the swarm (TCP + Noise + Yamux, gossipsub, sync, Kademlia,
//! identify, ping, mDNS, a block list, circuit relay v2, DCUtR and AutoNAT v2) and the one
//! event loop that owns it. Everything else talks to the loop through [`Command`]s and hears
//! from it through [`NodeEvent`]s.
//!
//! A hub (`NetworkConfig::hub`) announces its listen addresses as external, serves relay
//! reservations and AutoNAT probes, and runs Kademlia as a server. A home node asks AutoNAT
//! whether it can be dialled; until it is known to be, it reserves a relay slot at every
//! connected hub of its community, so other members reach it through the hub, and DCUtR then
//! tries to replace that relayed connection with a direct one.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use libp2p::core::transport::ListenerId;
use libp2p::gossipsub::{self, IdentTopic, MessageAcceptance};
use libp2p::multiaddr::Protocol;
use libp2p::request_response::{self, OutboundRequestId, ProtocolSupport};
use libp2p::swarm::behaviour::toggle::Toggle;
use libp2p::swarm::{NetworkBehaviour, SwarmEvent};
use libp2p::{
    Multiaddr, PeerId, StreamProtocol, Swarm, allow_block_list, autonat, dcutr, identify, kad, mdns, noise, ping,
    relay, tcp, yamux,
};
use serde::Serialize;
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use kith_protocol::invite::{Capability, invite_admits};
use kith_protocol::{Body, CommunityId, Entry, EntryError, EntryHash, MemberId, Wait};

use crate::clock::now_ms;
use crate::gate;
use crate::gated::{Admits, Gated};
use crate::replica::{Received, Replica};
use crate::sync::{self, LogHead, SyncRequest, SyncResponse};
use crate::verify::{PageFault, VerifiedPage, Verifier, verify_page};

/// Rejected messages a peer may send before it is cut off.
const MAX_STRIKES: u32 = 16;
/// How long a peer that sent too many bad messages stays blocked.
const STRIKE_BLOCK: Duration = Duration::from_secs(600);
/// Largest gossip frame (and read buffer) accepted: an entry is at most
/// `kith_protocol::entry::MAX_ENTRY_BYTES`; the rest is room for framing and bursts.
pub const GOSSIP_MAX_TRANSMIT: usize = 64 * 1024;
/// Range requests a node has in flight to one peer at once (libp2p caps streams per
/// connection; a fresh node catching up on 200 logs would otherwise ask for all at once).
const MAX_RANGES_IN_FLIGHT: usize = 8;
/// Longest wait between two attempts to reach a known peer.
const MAX_REDIAL_BACKOFF: Duration = Duration::from_secs(60);
/// How long a connected peer has to show it belongs (a member, a hub, or an invite) before it
/// is disconnected.
pub const AUTHORISE_WITHIN: Duration = Duration::from_secs(5);
/// Gossipsub application score of a peer not let in: below the graylist threshold, so nothing
/// is published to it and nothing it sends is read.
const OUTSIDER_SCORE: f64 = -1000.0;
/// How long after letting in a peer whose connection was opened while it was outside that
/// connection is closed (so the answer in flight, a `Welcome`, is delivered first).
const RECONNECT_WHEN_LET_IN: Duration = Duration::from_millis(500);
/// Entries this young that arrive by sync rather than gossip are gossiped on: one published
/// while its author had no gossip peer (a newcomer's join request, sent before it was let in)
/// then still travels in seconds instead of at the next sync round. Shorter than gossipsub's
/// duplicate cache, so such an entry cannot go round twice.
const GOSSIP_ON_FRESHER_THAN_MS: u64 = 60_000;
/// Missing entries from which a node catches up in a peer's applied order rather than log by
/// log (it must also be missing more than it holds).
const ORDERED_CATCH_UP_FROM: u64 = 1024;
/// Entries applied per hold of the replica's lock when storing a sync page (the benchmark
/// stores in the same chunks).
pub const INGEST_CHUNK: usize = 64;
/// Most peers a node dials on its own after learning of them through Kademlia.
const MAX_DISCOVERED_PEERS: usize = 32;

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

/// Where a connected peer stands with this node's community.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Standing {
    /// This node has no community yet: nothing to guard.
    Open,
    /// A member, a hub, or a newcomer let in with an invite.
    Authorised,
    Suspended,
    Outsider,
}

#[allow(missing_debug_implementations)]
#[derive(NetworkBehaviour)]
pub struct Behaviour {
    blocked: allow_block_list::Behaviour<allow_block_list::BlockedPeers>,
    /// Served to peers let in only: an outsider does not even learn the community's topic.
    gossipsub: Gated<gossipsub::Behaviour>,
    sync: request_response::cbor::Behaviour<SyncRequest, SyncResponse>,
    /// Served to peers let in only: its answers name the community's peers and addresses.
    kad: Gated<kad::Behaviour<kad::store::MemoryStore>>,
    mdns: Toggle<mdns::tokio::Behaviour>,
    identify: identify::Behaviour,
    ping: ping::Behaviour,
    relay_client: relay::client::Behaviour,
    /// Hubs only: relays connections for home nodes behind routers.
    relay_server: Toggle<Gated<relay::Behaviour>>,
    dcutr: dcutr::Behaviour,
    /// Home nodes: asks hubs to dial our addresses back.
    autonat_client: Toggle<autonat::v2::client::Behaviour>,
    /// Hubs only: dials back the addresses home nodes ask about.
    autonat_server: Toggle<Gated<autonat::v2::server::Behaviour>>,
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
        }
    }
}

/// Counters of the network loop, readable while it runs (benchmarks, status).
#[derive(Debug, Default)]
pub struct NetworkCounters {
    /// Gossip messages received.
    pub gossip_received: std::sync::atomic::AtomicU64,
    /// Gossip messages that carried an entry this node already held.
    pub gossip_duplicates: std::sync::atomic::AtomicU64,
    /// Pages received by an ordered catch-up (`SyncRequest::Since`).
    pub ordered_pages: std::sync::atomic::AtomicU64,
}

/// A snapshot of [`NetworkCounters`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct NetworkStats {
    pub gossip_received: u64,
    pub gossip_duplicates: u64,
    pub ordered_pages: u64,
}

impl NetworkCounters {
    pub fn snapshot(&self) -> NetworkStats {
        use std::sync::atomic::Ordering::Relaxed;
        NetworkStats {
            gossip_received: self.gossip_received.load(Relaxed),
            gossip_duplicates: self.gossip_duplicates.load(Relaxed),
            ordered_pages: self.ordered_pages.load(Relaxed),
        }
    }
}

/// What callers ask of the network loop.
#[derive(Debug)]
pub enum Command {
    /// Gossip entries this node just published (and stored).
    Gossip(Vec<Entry>),
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

/// What happened, for the API's event stream and for tests.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum NodeEvent {
    Entry { id: String, author: String, kind: String },
    PeerConnected { peer_id: String },
    PeerDisconnected { peer_id: String },
    Fork { author: String },
    Rejected { peer_id: String, reason: String },
}

/// The member key behind a peer id (a Kith peer id is an ed25519 member key).
pub fn member_of(peer: &PeerId) -> Option<MemberId> {
    let key = libp2p::identity::PublicKey::try_decode_protobuf(peer.as_ref().digest()).ok()?;
    let ed = key.try_into_ed25519().ok()?;
    Some(MemberId(ed.to_bytes()))
}

/// The peer id of a member key.
pub fn peer_of(member: &MemberId) -> Option<PeerId> {
    let key = libp2p::identity::ed25519::PublicKey::try_from_bytes(&member.0).ok()?;
    Some(libp2p::identity::PublicKey::from(key).to_peer_id())
}

/// The libp2p key pair of a member key.
pub fn libp2p_keypair(secret: [u8; 32]) -> Result<libp2p::identity::Keypair, String> {
    let mut bytes = secret;
    libp2p::identity::Keypair::ed25519_from_bytes(&mut bytes).map_err(|e| e.to_string())
}

/// The gossipsub topic of a community.
pub fn topic_of(community: CommunityId) -> IdentTopic {
    IdentTopic::new(format!("kith/{community}"))
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
            let identify = identify::Behaviour::new(
                identify::Config::new("/kith/1".into(), key.public())
                    .with_agent_version(format!("kith/{}{}", env!("CARGO_PKG_VERSION"), if hub { " hub" } else { "" }))
                    // A home node's relayed address appears after its reservation: tell peers.
                    .with_push_listen_addr_updates(true),
            );
            let relay_server =
                hub.then(|| Gated::new(relay::Behaviour::new(peer_id, community_relay_limits()), admits.clone()));
            // Probes every 5 s while it has untested address candidates (libp2p's default).
            let autonat_client = (!hub).then(autonat::v2::client::Behaviour::default);
            let autonat_server = hub.then(|| Gated::new(autonat::v2::server::Behaviour::default(), admits.clone()));
            Ok(Behaviour {
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
fn gate_score_params() -> gossipsub::PeerScoreParams {
    gossipsub::PeerScoreParams {
        app_specific_weight: 1.0,
        ip_colocation_factor_weight: 0.0,
        behaviour_penalty_weight: 0.0,
        slow_peer_weight: 0.0,
        ..gossipsub::PeerScoreParams::default()
    }
}

struct Redial {
    addrs: Vec<Multiaddr>,
    next: Instant,
    backoff: Duration,
}

/// The network event loop: owns the swarm.
#[allow(missing_debug_implementations)]
pub struct NetworkLoop {
    swarm: Swarm<Behaviour>,
    replica: Arc<Mutex<Replica>>,
    commands: mpsc::Receiver<Command>,
    events: broadcast::Sender<NodeEvent>,
    config: NetworkConfig,
    subscribed: Option<IdentTopic>,
    /// Name for the join request, sent once this node has its community's Genesis.
    join_profile: Option<Body>,
    requests: HashMap<OutboundRequestId, (PeerId, SyncRequest)>,
    /// Logs being fetched (queued or asked for) from each peer.
    fetching: HashSet<(PeerId, MemberId)>,
    /// Logs waiting for their turn to be asked for, per peer.
    fetch_queue: HashMap<PeerId, std::collections::VecDeque<MemberId>>,
    /// Range requests in flight, so no peer gets more than [`MAX_RANGES_IN_FLIGHT`] at once.
    ranges_in_flight: HashMap<OutboundRequestId, PeerId>,
    /// Peers some of whose entries were dropped because the waiting area was full: once their
    /// fetches are done, compare heads again (what waited may now apply).
    dropped_from: HashSet<PeerId>,
    /// Highest seq received per log (applied or kept aside), so the next range request starts
    /// after what is already here rather than after the applied head.
    received_to: HashMap<MemberId, u64>,
    strikes: HashMap<PeerId, u32>,
    blocked_until: HashMap<PeerId, Instant>,
    redial: HashMap<PeerId, Redial>,
    connected: HashMap<PeerId, Vec<Multiaddr>>,
    listen_addrs: Vec<Multiaddr>,
    counters: Arc<NetworkCounters>,
    /// Connected peers not let in yet, and since when.
    pending: HashMap<PeerId, Instant>,
    /// Peers whose identify answer arrived (a hub is asked for a relay slot only after it).
    identified: HashSet<PeerId>,
    /// The address we dialled each connected peer on (not relayed), to reserve a slot there.
    dialed: HashMap<PeerId, Multiaddr>,
    /// Hubs asked for a relay slot for this node, and the listener that holds it.
    relays: HashMap<PeerId, ListenerId>,
    /// Hubs that granted the slot.
    relays_granted: HashSet<PeerId>,
    /// Addresses of ours AutoNAT confirmed as reachable from outside.
    confirmed: HashSet<Multiaddr>,
    reachability: Reachability,
    /// Peers with a connection opened while they were outside: those connections serve no
    /// Kademlia, relay or AutoNAT ([`Gated`]).
    opened_outside: HashSet<PeerId>,
    /// Peers let in since, whose connections are closed at the given time so that both sides
    /// reconnect with every protocol.
    reconnect: HashMap<PeerId, Instant>,
    /// The peer an ordered catch-up (`SyncRequest::Since`) is under way with.
    catching_up: Option<PeerId>,
    /// Checks the signatures of sync pages on a helper thread (`None` if it could not be
    /// started: pages are then checked on this thread).
    verifier: Option<Verifier<(PeerId, PageOf)>>,
    /// Pages back from the verifier, to store in the order they came.
    verified: mpsc::UnboundedReceiver<VerifiedPage<(PeerId, PageOf)>>,
    /// Pages handed to the verifier and not stored yet.
    pages_verifying: usize,
    /// The next ordered page to ask for once fewer pages wait (so a fast peer cannot fill
    /// our memory with pages we have not stored yet).
    next_since: Option<(PeerId, u64)>,
}

/// What a page of entries answers, to carry on once its signatures are checked.
#[derive(Debug, Clone, Copy)]
enum PageOf {
    /// `SyncRequest::Range`: part of one author's log.
    Range { author: MemberId, full_page: bool },
    /// `SyncRequest::Since`: the peer's entries in the order it applied them, up to `last`.
    Ordered { full_page: bool, last: u64 },
}

impl NetworkLoop {
    pub fn new(
        swarm: Swarm<Behaviour>,
        replica: Arc<Mutex<Replica>>,
        commands: mpsc::Receiver<Command>,
        events: broadcast::Sender<NodeEvent>,
        config: NetworkConfig,
        join_profile: Option<Body>,
    ) -> Self {
        let (verified_sender, verified) = mpsc::unbounded_channel();
        let verifier = Verifier::start(move |page| verified_sender.send(page).is_ok())
            .map_err(
                |error| tracing::warn!(%error, "no helper thread for signature checks; checking on the network loop"),
            )
            .ok();
        NetworkLoop {
            swarm,
            replica,
            commands,
            events,
            config,
            subscribed: None,
            join_profile,
            requests: HashMap::new(),
            fetching: HashSet::new(),
            fetch_queue: HashMap::new(),
            ranges_in_flight: HashMap::new(),
            dropped_from: HashSet::new(),
            received_to: HashMap::new(),
            strikes: HashMap::new(),
            blocked_until: HashMap::new(),
            redial: HashMap::new(),
            connected: HashMap::new(),
            listen_addrs: Vec::new(),
            counters: Arc::default(),
            pending: HashMap::new(),
            identified: HashSet::new(),
            dialed: HashMap::new(),
            relays: HashMap::new(),
            relays_granted: HashSet::new(),
            confirmed: HashSet::new(),
            reachability: Reachability::Unknown,
            opened_outside: HashSet::new(),
            reconnect: HashMap::new(),
            catching_up: None,
            verifier,
            verified,
            pages_verifying: 0,
            next_since: None,
        }
    }

    /// The loop's counters, to read while it runs.
    pub fn counters(&self) -> Arc<NetworkCounters> {
        self.counters.clone()
    }

    fn replica(&self) -> std::sync::MutexGuard<'_, Replica> {
        // A poisoned lock means a panic elsewhere already; keep serving with the data as is.
        self.replica.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Starts listening and dialling. Returns the addresses actually bound once known.
    pub fn start(&mut self) -> Result<(), String> {
        for addr in self.config.listen.clone() {
            self.swarm.listen_on(addr.clone()).map_err(|e| format!("cannot listen on {addr}: {e}"))?;
        }
        if self.config.hub {
            if let Some(relay) = self.swarm.behaviour_mut().relay_server.as_mut() {
                relay.inner_mut().set_status(Some(relay::Status::Enable));
            }
            self.reachability = Reachability::Public;
        }
        self.ensure_subscribed();
        for addr in self.config.bootstrap.clone() {
            self.dial(addr);
        }
        let known = self.replica().store().known_peers().unwrap_or_default();
        for (peer, addrs) in known {
            let Ok(peer) = peer.parse::<PeerId>() else { continue };
            let addrs: Vec<Multiaddr> = addrs.iter().filter_map(|a| a.parse().ok()).collect();
            if let Some(addr) = addrs.first() {
                self.redial.insert(
                    peer,
                    Redial { addrs: addrs.clone(), next: Instant::now(), backoff: Duration::from_secs(1) },
                );
                for addr in &addrs {
                    self.swarm.add_peer_address(peer, addr.clone());
                }
                tracing::debug!(%peer, %addr, "will reconnect to a known peer");
            }
        }
        Ok(())
    }

    /// Waits for the first listen address (so callers can print it).
    pub async fn wait_listening(&mut self, timeout: Duration) -> Vec<Multiaddr> {
        let deadline = Instant::now() + timeout;
        while self.listen_addrs.is_empty() && !self.config.listen.is_empty() {
            match tokio::time::timeout_at(deadline, self.swarm.select_next_some()).await {
                Ok(event) => self.on_swarm_event(event),
                Err(_) => break,
            }
        }
        self.listen_addrs.clone()
    }

    pub fn local_peer_id(&self) -> PeerId {
        *self.swarm.local_peer_id()
    }

    /// Runs until `shutdown` is cancelled.
    pub async fn run(mut self, shutdown: CancellationToken) {
        let mut sync_timer = tokio::time::interval(self.config.sync_interval);
        sync_timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut second = tokio::time::interval(Duration::from_secs(1));
        loop {
            tokio::select! {
                () = shutdown.cancelled() => break,
                event = self.swarm.select_next_some() => self.on_swarm_event(event),
                command = self.commands.recv() => match command {
                    Some(command) => self.on_command(command),
                    None => break,
                },
                Some(page) = self.verified.recv() => self.on_verified(page),
                _ = sync_timer.tick() => self.sync_with_random_peer(),
                _ = second.tick() => self.every_second(),
            }
        }
        tracing::info!("network loop stopped");
    }

    fn ensure_subscribed(&mut self) {
        if self.subscribed.is_some() {
            return;
        }
        let Some(community) = self.replica().community_id() else { return };
        if self.replica().community().is_none() {
            return;
        }
        let topic = topic_of(community);
        match self.swarm.behaviour_mut().gossipsub.inner_mut().subscribe(&topic) {
            Ok(_) => self.subscribed = Some(topic),
            Err(error) => tracing::error!(%error, "cannot subscribe to the community's topic"),
        }
    }

    fn dial(&mut self, addr: Multiaddr) {
        if let Err(error) = self.swarm.dial(addr.clone()) {
            tracing::warn!(%addr, %error, "cannot dial");
        }
        if let Some(libp2p::multiaddr::Protocol::P2p(peer)) = addr.iter().last() {
            self.redial.entry(peer).or_insert(Redial {
                addrs: vec![addr],
                next: Instant::now() + Duration::from_secs(1),
                backoff: Duration::from_secs(1),
            });
        }
    }

    fn on_command(&mut self, command: Command) {
        match command {
            Command::Gossip(entries) => {
                for entry in &entries {
                    self.gossip(entry);
                }
                if entries.iter().any(changes_membership) {
                    self.regate_all();
                }
            }
            Command::Dial(addr) => self.dial(addr),
            Command::Peers(reply) => {
                let peers = self
                    .connected
                    .iter()
                    .map(|(peer, addrs)| PeerInfo {
                        peer_id: peer.to_string(),
                        addrs: addrs.iter().map(ToString::to_string).collect(),
                        member_id: member_of(peer).map(|m| m.to_string()),
                        relayed: addrs
                            .iter()
                            .any(|a| a.iter().any(|p| matches!(p, libp2p::multiaddr::Protocol::P2pCircuit))),
                    })
                    .collect();
                let _ = reply.send(peers);
            }
            Command::ListenAddrs(reply) => {
                let peer = self.local_peer_id();
                let addrs = self.listen_addrs.iter().map(|a| a.clone().with_p2p(peer).unwrap_or_else(|a| a)).collect();
                let _ = reply.send(addrs);
            }
            Command::Block(peer) => {
                self.swarm.behaviour_mut().blocked.block_peer(peer);
                self.redial.remove(&peer);
            }
            Command::Unblock(peer) => {
                self.swarm.behaviour_mut().blocked.unblock_peer(peer);
            }
            Command::SyncNow => {
                for peer in self.admitted_peers() {
                    self.request_heads(peer);
                }
            }
            Command::Reach(reply) => {
                let relays = self.relays_granted.iter().map(ToString::to_string).collect();
                let _ = reply.send(ReachInfo { reachability: self.reachability, relays });
            }
            Command::Allow(peer) => {
                if let Err(error) = gate::let_in(self.replica().store(), &peer.to_string()) {
                    tracing::warn!(%error, "cannot remember a peer let in");
                }
                if self.connected.contains_key(&peer) {
                    self.gate(peer);
                }
            }
        }
    }

    fn gossip(&mut self, entry: &Entry) {
        let Some(topic) = self.subscribed.clone() else { return };
        match self.swarm.behaviour_mut().gossipsub.inner_mut().publish(topic, entry.bytes().to_vec()) {
            Ok(_) => {}
            Err(gossipsub::PublishError::NoPeersSubscribedToTopic) => {
                tracing::debug!("no peer to gossip to yet; sync will carry the entry")
            }
            Err(gossipsub::PublishError::Duplicate) => {}
            Err(error) => tracing::warn!(%error, "could not gossip an entry"),
        }
    }

    fn every_second(&mut self) {
        let now = Instant::now();
        let released = self.replica().tick(now_ms());
        self.after_applied(&released);
        let due: Vec<PeerId> = self
            .redial
            .iter()
            .filter(|(peer, r)| r.next <= now && !self.connected.contains_key(peer))
            .map(|(peer, _)| *peer)
            .collect();
        for peer in due {
            if let Some(redial) = self.redial.get_mut(&peer) {
                redial.next = now + redial.backoff;
                redial.backoff = (redial.backoff * 2).min(MAX_REDIAL_BACKOFF);
                let opts = libp2p::swarm::dial_opts::DialOpts::peer_id(peer).addresses(redial.addrs.clone()).build();
                if let Err(error) = self.swarm.dial(opts) {
                    tracing::debug!(%peer, %error, "redial failed");
                }
            }
        }
        let expired: Vec<PeerId> =
            self.blocked_until.iter().filter(|(_, until)| **until <= now).map(|(p, _)| *p).collect();
        for peer in expired {
            self.blocked_until.remove(&peer);
            self.strikes.remove(&peer);
            self.swarm.behaviour_mut().blocked.unblock_peer(peer);
        }
        self.disconnect_late_peers(now);
        let due: Vec<PeerId> = self.reconnect.iter().filter(|(_, at)| **at <= now).map(|(p, _)| *p).collect();
        for peer in due {
            self.reconnect.remove(&peer);
            if let Some(redial) = self.redial.get_mut(&peer) {
                redial.next = now;
                redial.backoff = Duration::from_secs(1);
            }
            let _ = self.swarm.disconnect_peer_id(peer);
        }
    }

    fn sync_with_random_peer(&mut self) {
        let peers = self.admitted_peers();
        if peers.is_empty() {
            return;
        }
        let index = (now_ms() as usize) % peers.len();
        self.request_heads(peers[index]);
        // A slot may have been refused or lost without an event that retries it.
        self.ensure_relay_slots();
        // Look ourselves up: the answers name members we are not connected to yet (a home
        // behind a router is found at its relayed address through the hub).
        if self.replica().community().is_some() {
            let me = self.local_peer_id();
            self.swarm.behaviour_mut().kad.inner_mut().get_closest_peers(me);
        }
    }

    /// Whether `peer` is one of the community's hubs (appointed, not suspended).
    fn is_hub(&self, peer: &PeerId) -> bool {
        let replica = self.replica();
        let community = replica.community();
        member_of(peer)
            .and_then(|m| community.and_then(|c| c.member(&m)))
            .is_some_and(|m| m.hub && m.suspended.is_none())
    }

    /// A home node not known to be reachable holds a relay slot at every connected hub it has
    /// identified; a hub, or a node AutoNAT confirmed reachable, holds none.
    fn ensure_relay_slots(&mut self) {
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
            .filter(|p| self.identified.contains(p) && !self.pending.contains_key(p) && !self.relays.contains_key(p))
            .copied()
            .collect();
        for hub in hubs {
            if !self.is_hub(&hub) {
                continue;
            }
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

    fn relay_granted(&mut self, hub: PeerId) {
        if self.relays_granted.insert(hub) {
            tracing::info!(%hub, "a hub holds a relay slot for this node");
        }
    }

    /// `<hub address>/p2p/<hub>/p2p-circuit`: the address we dialled the hub on, or one it
    /// announced.
    fn relay_address(&self, hub: &PeerId) -> Option<Multiaddr> {
        let announced = self.redial.get(hub).map(|r| r.addrs.clone()).unwrap_or_default();
        let base = self.dialed.get(hub).cloned().or_else(|| {
            let usable = |a: &&Multiaddr| !is_relayed(a) && !is_unspecified(a);
            announced.iter().find(|a| usable(a) && !is_loopback(a)).or_else(|| announced.iter().find(usable)).cloned()
        })?;
        let base: Multiaddr = base.into_iter().filter(|p| !matches!(p, Protocol::P2p(_))).collect();
        Some(base.with(Protocol::P2p(*hub)).with(Protocol::P2pCircuit))
    }

    /// A member learnt of through Kademlia: connect to it, within a bound.
    fn dial_discovered(&mut self, peer: PeerId, addrs: Vec<Multiaddr>) {
        if peer == self.local_peer_id()
            || addrs.is_empty()
            || self.connected.contains_key(&peer)
            || self.connected.len() >= MAX_DISCOVERED_PEERS
            || self.standing(&peer) != Standing::Authorised
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

    fn community_bytes(&self) -> Option<Vec<u8>> {
        self.replica().community_id().map(|c| c.0.to_vec())
    }

    fn request_heads(&mut self, peer: PeerId) {
        let Some(community) = self.community_bytes() else { return };
        let has_genesis = self.replica().community().is_some();
        let request = if has_genesis {
            SyncRequest::Heads { community }
        } else {
            SyncRequest::Entry { hash: community.clone(), community }
        };
        self.send_request(peer, request);
    }

    fn send_request(&mut self, peer: PeerId, request: SyncRequest) {
        let id = self.swarm.behaviour_mut().sync.send_request(&peer, request.clone());
        self.requests.insert(id, (peer, request));
    }

    /// Queues a fetch of `author`'s log from `peer`, from our head on.
    fn fetch_range(&mut self, peer: PeerId, author: MemberId) {
        if !self.fetching.insert((peer, author)) {
            return;
        }
        self.fetch_queue.entry(peer).or_default().push_back(author);
        self.pump_fetches(peer);
    }

    /// Sends queued range requests to `peer` while fewer than the limit are in flight.
    fn pump_fetches(&mut self, peer: PeerId) {
        let Some(community) = self.community_bytes() else { return };
        loop {
            let in_flight = self.ranges_in_flight.values().filter(|p| **p == peer).count();
            if in_flight >= MAX_RANGES_IN_FLIGHT {
                return;
            }
            let Some(author) = self.fetch_queue.get_mut(&peer).and_then(std::collections::VecDeque::pop_front) else {
                if in_flight == 0 && self.dropped_from.remove(&peer) {
                    self.request_heads(peer);
                }
                return;
            };
            let head = self.replica().head_seq(&author);
            let from_seq = head.max(self.received_to.get(&author).copied().unwrap_or(0)) + 1;
            let request = SyncRequest::Range {
                community: community.clone(),
                author: author.0.to_vec(),
                from_seq,
                limit: sync::FETCH_ENTRIES,
            };
            let id = self.swarm.behaviour_mut().sync.send_request(&peer, request.clone());
            self.requests.insert(id, (peer, request));
            self.ranges_in_flight.insert(id, peer);
        }
    }

    /// Whether we applied another entry than `hash` at `seq` of `author`'s log.
    /// Remembers that `author`'s entry `seq` is here (kept aside, waiting).
    fn note_received(&mut self, author: MemberId, seq: u64) {
        if self.received_to.len() > 100_000 {
            self.received_to.clear(); // a bound; it only saves refetching
        }
        let to = self.received_to.entry(author).or_insert(0);
        *to = (*to).max(seq);
    }

    /// Whether our entry at `seq` of `author`'s log has another hash prefix than the peer's.
    fn differs_at(&self, author: &MemberId, seq: u64, hash_prefix: &[u8]) -> bool {
        let replica = self.replica();
        let ours = replica.community().and_then(|c| c.entry_at(author, seq));
        ours.is_some_and(|ours| &ours.0[..sync::HEAD_HASH_PREFIX] != hash_prefix)
    }

    /// Asks `peer` for its one entry at `seq` of `author`'s log (where our copies part ways).
    fn fetch_at(&mut self, peer: PeerId, author: MemberId, seq: u64) {
        let Some(community) = self.community_bytes() else { return };
        let request = SyncRequest::Range { community, author: author.0.to_vec(), from_seq: seq, limit: 1 };
        self.send_request(peer, request);
    }

    fn standing(&self, peer: &PeerId) -> Standing {
        standing_of(&self.replica(), peer)
    }

    /// Connected peers that are let in.
    fn admitted_peers(&self) -> Vec<PeerId> {
        self.connected.keys().filter(|p| !self.pending.contains_key(p)).copied().collect()
    }

    /// Lets a peer in, or holds it at the door, or cuts it off, by its standing. A peer let in
    /// after waiting is asked for its heads.
    fn gate(&mut self, peer: PeerId) {
        match self.standing(&peer) {
            Standing::Open | Standing::Authorised => {
                if self.admit(peer) {
                    if self.opened_outside.remove(&peer) {
                        // Its connection was opened while it was outside and serves only part
                        // of the protocols: start again (after the answer in flight is sent).
                        tracing::debug!(%peer, "let in: reconnecting to serve every protocol");
                        self.reconnect.insert(peer, Instant::now() + RECONNECT_WHEN_LET_IN);
                    } else {
                        self.request_heads(peer);
                    }
                }
            }
            Standing::Outsider => self.hold(peer),
            Standing::Suspended => {
                tracing::info!(%peer, "a suspended member: disconnecting it");
                self.hold(peer);
                self.redial.remove(&peer);
                let _ = self.swarm.disconnect_peer_id(peer);
            }
        }
    }

    /// Returns whether the peer was waiting.
    fn admit(&mut self, peer: PeerId) -> bool {
        let gossipsub = self.swarm.behaviour_mut().gossipsub.inner_mut();
        gossipsub.remove_blacklisted_peer(&peer);
        gossipsub.set_application_score(&peer, 0.0);
        self.pending.remove(&peer).is_some()
    }

    fn hold(&mut self, peer: PeerId) {
        let gossipsub = self.swarm.behaviour_mut().gossipsub.inner_mut();
        gossipsub.blacklist_peer(&peer);
        gossipsub.set_application_score(&peer, OUTSIDER_SCORE);
        self.pending.entry(peer).or_insert_with(Instant::now);
    }

    /// Membership changed: every connected peer's standing again.
    fn regate_all(&mut self) {
        let peers: Vec<PeerId> = self.connected.keys().copied().collect();
        for peer in peers {
            self.gate(peer);
        }
    }

    fn disconnect_late_peers(&mut self, now: Instant) {
        let late: Vec<PeerId> = self
            .pending
            .iter()
            .filter(|(_, since)| now.duration_since(**since) >= AUTHORISE_WITHIN)
            .map(|(p, _)| *p)
            .collect();
        for peer in late {
            tracing::info!(%peer, "not let in in time: disconnecting");
            self.redial.remove(&peer);
            let _ = self.swarm.disconnect_peer_id(peer);
        }
    }

    /// A new peer: gate it; then show our invite (a newcomer) or compare heads.
    fn on_first_connection(&mut self, peer: PeerId) {
        self.gate(peer);
        if self.pending.contains_key(&peer) {
            return;
        }
        let invite = self.config.invite.clone().filter(|_| !self.is_member());
        match (invite, self.community_bytes()) {
            (Some(invite), Some(community)) => self.send_request(peer, SyncRequest::Hello { community, invite }),
            _ => self.request_heads(peer),
        }
    }

    /// Whether a hub announces `address` as where others reach it: not a relayed one, and not
    /// loopback unless the hub was told to listen on loopback only (tests on one machine).
    fn announces(&self, address: &Multiaddr) -> bool {
        !is_relayed(address) && (!is_loopback(address) || self.config.listen.iter().all(is_loopback))
    }

    fn is_member(&self) -> bool {
        let replica = self.replica();
        replica.community().is_some_and(|c| c.is_member(&replica.me()))
    }

    /// A newcomer's hello: let it in if its invite admits it.
    fn hello(&mut self, peer: PeerId, community: &[u8], invite: &[u8]) -> SyncResponse {
        match self.check_invite(peer, community, invite) {
            Ok(()) => {
                // An invite's uses are counted from the join requests that carry it: nothing a
                // peer sends makes this node write to its own log.
                self.gate(peer);
                SyncResponse::Welcome
            }
            Err(reason) => {
                tracing::info!(%peer, %reason, "refused a newcomer's invite");
                SyncResponse::Refused(reason)
            }
        }
    }

    fn check_invite(&self, peer: PeerId, community: &[u8], invite: &[u8]) -> Result<(), String> {
        match self.standing(&peer) {
            Standing::Authorised => return Ok(()),
            Standing::Open => return Err("this node is not in a community yet".into()),
            Standing::Suspended => return Err("this member is suspended".into()),
            Standing::Outsider => {}
        }
        let capability = Capability::from_bytes(invite).map_err(|e| e.to_string())?;
        let replica = self.replica();
        let ours = replica.community().ok_or("this node is not in a community yet")?;
        if ours.id().0.as_slice() != community {
            return Err("not this node's community".into());
        }
        // Only members and hubs let newcomers in (a pending newcomer's node does not).
        if !ours.member(&replica.me()).is_some_and(|m| (m.admitted || m.hub) && m.suspended.is_none()) {
            return Err("this node is not a member: it lets no one in".into());
        }
        let issuer = capability.terms().issuer;
        let issuer_ok = ours.member(&issuer).is_some_and(|m| m.admitted && m.suspended.is_none());
        let id = capability.id();
        let name = peer.to_string();
        // Uses are the community's: the join requests naming this invite, and those this node
        // counted itself (newcomers let in whose join request has not arrived yet).
        let mut users: HashSet<String> = gate::invite_users(replica.store(), &id).into_iter().collect();
        users.extend(ours.invite_users(&id).filter_map(peer_of).map(|p| p.to_string()));
        let already_counted = users.contains(&name);
        let used = if already_counted { 0 } else { u32::try_from(users.len()).unwrap_or(u32::MAX) };
        let revoked = ours.invite_revoked(&capability);
        invite_admits(&capability, ours.id(), issuer_ok, now_ms(), used, revoked).map_err(|e| e.to_string())?;
        gate::count_use(replica.store(), &id, &name).map_err(|e| e.to_string())?;
        gate::let_in(replica.store(), &name).map_err(|e| e.to_string())?;
        tracing::info!(%peer, invite = %id, already_counted, "let a newcomer in with an invite");
        Ok(())
    }

    fn strike(&mut self, peer: PeerId, reason: &str) {
        tracing::warn!(%peer, %reason, "rejected a message from a peer");
        let _ = self.events.send(NodeEvent::Rejected { peer_id: peer.to_string(), reason: reason.to_string() });
        let strikes = self.strikes.entry(peer).or_insert(0);
        *strikes += 1;
        if *strikes >= MAX_STRIKES {
            tracing::warn!(%peer, "too many bad messages: blocking the peer for a while");
            self.swarm.behaviour_mut().blocked.block_peer(peer);
            self.blocked_until.insert(peer, Instant::now() + STRIKE_BLOCK);
        }
    }

    /// After entries were applied: tell listeners, claim transfers paid to us, and send our
    /// join request once we have our community.
    fn after_applied(&mut self, applied: &[Entry]) {
        let me = self.replica().me();
        let mut claims = Vec::new();
        for entry in applied {
            let _ = self.events.send(NodeEvent::Entry {
                id: entry.hash().to_string(),
                author: entry.author().to_string(),
                kind: entry.body().kind_name().to_string(),
            });
            if let Body::Transfer { to, .. } = entry.body()
                && *to == me
            {
                claims.push(entry.hash());
            }
        }
        if !claims.is_empty() {
            self.claim(claims);
        }
        if applied.iter().any(changes_membership) {
            self.regate_all();
            self.ensure_relay_slots();
        }
    }

    /// Publishes a Receive for each transfer paid to this member.
    pub(crate) fn claim(&mut self, transfers: Vec<EntryHash>) {
        let mut published = Vec::new();
        {
            let mut replica = self.replica();
            for transfer in transfers {
                match replica.publish(Body::Receive { transfer }, now_ms()) {
                    Ok(entry) => published.push(entry),
                    Err(error) => tracing::debug!(%error, transfer = %transfer.short(), "cannot claim a transfer yet"),
                }
            }
        }
        for entry in &published {
            self.gossip(entry);
        }
        self.after_applied(&published);
    }

    fn send_join_request_if_due(&mut self) {
        let Some(profile) = self.join_profile.clone() else { return };
        let result = {
            let mut replica = self.replica();
            let me = replica.me();
            if replica.community().is_none() || replica.head_seq(&me) > 0 {
                None
            } else {
                Some(replica.publish(profile, now_ms()))
            }
        };
        match result {
            Some(Ok(entry)) => {
                tracing::info!("sent the join request");
                self.join_profile = None;
                self.gossip(&entry);
                self.after_applied(std::slice::from_ref(&entry));
            }
            Some(Err(error)) => tracing::warn!(%error, "cannot send the join request yet"),
            None => {
                if self.replica().community().is_some() {
                    self.join_profile = None;
                }
            }
        }
    }

    fn on_gossip(&mut self, source: PeerId, id: gossipsub::MessageId, data: Vec<u8>) {
        self.counters.gossip_received.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if self.pending.contains_key(&source) {
            let acceptance = MessageAcceptance::Ignore;
            self.swarm.behaviour_mut().gossipsub.inner_mut().report_message_validation_result(&id, &source, acceptance);
            return;
        }
        let (author, received) = match Entry::decode(data) {
            Ok(entry) => (Some(entry.author()), self.replica().receive(entry, now_ms())),
            Err(error) => (None, Received::Rejected(error)),
        };
        let acceptance = match &received {
            Received::Applied(applied) => {
                let applied = applied.clone();
                self.after_applied(&applied);
                MessageAcceptance::Accept
            }
            Received::Fork(_) => {
                self.on_fork();
                MessageAcceptance::Accept
            }
            Received::Pending(wait) => {
                self.on_wait(source, *wait);
                MessageAcceptance::Ignore
            }
            Received::Rejected(EntryError::PrevMismatch { prev_seq, .. }) => {
                // Correctly signed, but it follows another entry than ours at `prev_seq`: its
                // author signed two versions of the log. Not the sender's fault; the sender's
                // entry at `prev_seq` proves the fork.
                if let Some(author) = author {
                    self.fetch_at(source, author, *prev_seq);
                }
                MessageAcceptance::Ignore
            }
            Received::Rejected(error) => {
                self.strike(source, &error.to_string());
                MessageAcceptance::Reject
            }
            Received::Duplicate => {
                self.counters.gossip_duplicates.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                MessageAcceptance::Ignore
            }
            Received::Frozen | Received::NotOurs | Received::Dropped => MessageAcceptance::Ignore,
        };
        self.swarm.behaviour_mut().gossipsub.inner_mut().report_message_validation_result(&id, &source, acceptance);
    }

    fn on_fork(&mut self) {
        let _ = self.events.send(NodeEvent::Fork { author: String::new() });
    }

    /// An entry waits for something: ask the peer that sent it.
    fn on_wait(&mut self, peer: PeerId, wait: Wait) {
        match wait {
            Wait::PreviousEntry { author, .. } => self.fetch_range(peer, author),
            Wait::Entry { .. } | Wait::Admission { .. } | Wait::Appointment { .. } => self.request_heads(peer),
            Wait::Clock { .. } => {}
        }
    }

    fn on_request(
        &mut self,
        peer: PeerId,
        request: SyncRequest,
        channel: request_response::ResponseChannel<SyncResponse>,
    ) {
        let response = match &request {
            SyncRequest::Hello { community, invite } => self.hello(peer, community, invite),
            _ if self.pending.contains_key(&peer) => {
                SyncResponse::Refused("not let in: a member, a hub, or a newcomer with an invite only".into())
            }
            _ => self.answer(&request),
        };
        if self.swarm.behaviour_mut().sync.send_response(channel, response).is_err() {
            tracing::debug!(%peer, "peer went away before the sync answer");
        }
    }

    fn answer(&self, request: &SyncRequest) -> SyncResponse {
        let replica = self.replica();
        let ours = replica.community_id().map(|c| c.0.to_vec());
        let community = match request {
            SyncRequest::Heads { community }
            | SyncRequest::Range { community, .. }
            | SyncRequest::Entry { community, .. }
            | SyncRequest::Since { community, .. }
            | SyncRequest::Hello { community, .. } => community,
        };
        if ours.as_ref() != Some(community) {
            return SyncResponse::Refused("not this node's community".into());
        }
        match request {
            SyncRequest::Heads { .. } => SyncResponse::Heads {
                heads: replica
                    .community()
                    .map(|c| {
                        c.heads()
                            .map(|(id, h)| LogHead(id.0.to_vec(), h.seq, h.hash.0[..sync::HEAD_HASH_PREFIX].to_vec()))
                            .collect()
                    })
                    .unwrap_or_default(),
                forks: replica.fork_proofs(),
            },
            SyncRequest::Range { author, from_seq, limit, .. } => {
                let Ok(author) = <[u8; 32]>::try_from(author.as_slice()) else {
                    return SyncResponse::Refused("an author is 32 bytes".into());
                };
                let limit = (*limit).min(sync::PAGE_ENTRIES) as usize;
                match replica.store().range(&MemberId(author), *from_seq, limit, sync::PAGE_BYTES) {
                    Ok(entries) => SyncResponse::Entries(entries.into_iter().map(serde_bytes::ByteBuf::from).collect()),
                    Err(error) => SyncResponse::Refused(error.to_string()),
                }
            }
            SyncRequest::Entry { hash, .. } => {
                let Ok(hash) = <[u8; 32]>::try_from(hash.as_slice()) else {
                    return SyncResponse::Refused("a hash is 32 bytes".into());
                };
                match replica.store().get(&EntryHash(hash)) {
                    Ok(Some(entry)) => SyncResponse::Entries(vec![serde_bytes::ByteBuf::from(entry.into_bytes())]),
                    Ok(None) => SyncResponse::Entries(Vec::new()),
                    Err(error) => SyncResponse::Refused(error.to_string()),
                }
            }
            SyncRequest::Since { after, limit, .. } => {
                let limit = (*limit).min(sync::PAGE_ENTRIES) as usize;
                match replica.store().applied_since(*after, limit, sync::PAGE_BYTES) {
                    Ok((entries, last)) => SyncResponse::Ordered {
                        entries: entries.into_iter().map(serde_bytes::ByteBuf::from).collect(),
                        last,
                    },
                    Err(error) => SyncResponse::Refused(error.to_string()),
                }
            }
            SyncRequest::Hello { .. } => SyncResponse::Welcome,
        }
    }

    fn on_response(&mut self, peer: PeerId, request_id: OutboundRequestId, response: SyncResponse) {
        let was_queued_range = self.ranges_in_flight.remove(&request_id).is_some();
        self.answer_response(peer, request_id, response);
        if was_queued_range {
            self.pump_fetches(peer);
        }
    }

    fn answer_response(&mut self, peer: PeerId, request_id: OutboundRequestId, response: SyncResponse) {
        let Some((_, request)) = self.requests.remove(&request_id) else { return };
        match (request, response) {
            (SyncRequest::Heads { .. }, SyncResponse::Heads { heads, forks }) => {
                for proof in &forks {
                    if self.replica().receive_fork_proof(proof, now_ms()) {
                        self.on_fork();
                    }
                }
                let me = self.replica().me();
                let mut peer_seq_of_me = 0;
                // The founder's log first: its vouches admit everyone else, so the other logs then
                // apply as they arrive instead of waiting aside.
                let founder = self.replica().community().map(|c| c.founder().0.to_vec());
                let ordered = self.start_ordered_catch_up(peer, &heads);
                let mut heads = heads;
                heads.sort_by_key(|LogHead(author, _, _)| Some(author) != founder.as_ref());
                for LogHead(author, seq, hash) in heads {
                    let (Ok(author), true) =
                        (<[u8; 32]>::try_from(author.as_slice()), hash.len() == sync::HEAD_HASH_PREFIX)
                    else {
                        self.strike(peer, "a head with a malformed author or hash");
                        return;
                    };
                    let author = MemberId(author);
                    if author == me {
                        peer_seq_of_me = seq;
                    }
                    if seq > self.replica().head_seq(&author) {
                        if !ordered {
                            self.fetch_range(peer, author);
                        }
                    } else if self.differs_at(&author, seq, &hash) {
                        // Same place in the log, another entry: the author forked it. Fetching
                        // the peer's entry there gives us the proof.
                        self.fetch_at(peer, author, seq);
                    }
                }
                self.note_own_log(peer_seq_of_me);
            }
            (SyncRequest::Range { author, limit, .. }, SyncResponse::Entries(entries)) => {
                let Ok(author) = <[u8; 32]>::try_from(author.as_slice()) else { return };
                let author = MemberId(author);
                let full_page = entries.len() >= limit as usize;
                self.submit_page(peer, PageOf::Range { author, full_page }, entries);
            }
            (SyncRequest::Since { limit, .. }, SyncResponse::Ordered { entries, last }) => {
                let full_page = entries.len() >= limit as usize;
                self.counters.ordered_pages.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                tracing::debug!(%peer, count = entries.len(), last, "ordered catch-up page");
                self.submit_page(peer, PageOf::Ordered { full_page, last }, entries);
                if full_page && self.catching_up == Some(peer) {
                    // Ask for the next page now, so that it travels while this one is checked
                    // and stored — unless pages are already waiting for that.
                    self.next_since = Some((peer, last));
                    self.ask_next_since();
                }
            }
            (SyncRequest::Entry { hash, .. }, SyncResponse::Entries(entries)) => {
                self.on_entry_fetched(peer, &hash, entries)
            }
            (SyncRequest::Hello { .. }, SyncResponse::Welcome) => {
                tracing::info!(%peer, "our invite was accepted");
                self.request_heads(peer);
            }
            (SyncRequest::Hello { .. }, SyncResponse::Refused(reason)) => {
                tracing::warn!(%peer, %reason, "our invite was refused");
            }
            (SyncRequest::Since { .. }, SyncResponse::Refused(reason)) => {
                tracing::debug!(%peer, %reason, "ordered catch-up refused; fetching log by log");
                self.catching_up = None;
                self.request_heads(peer);
            }
            (_, SyncResponse::Refused(reason)) => tracing::debug!(%peer, %reason, "sync request refused"),
            _ => self.strike(peer, "a sync answer that does not match the question"),
        }
    }

    /// A node missing many entries, more than it holds, fetches them in the order `peer`
    /// applied them (one page at a time) instead of log by log, where most would wait aside for
    /// entries of other logs. Returns whether it started.
    fn start_ordered_catch_up(&mut self, peer: PeerId, heads: &[LogHead]) -> bool {
        if self.catching_up.is_some() {
            return false;
        }
        let (missing, held) = {
            let replica = self.replica();
            let held = replica.community().map_or(0, |c| c.entry_count() as u64);
            let missing: u64 = heads
                .iter()
                .filter_map(|LogHead(author, seq, _)| {
                    let author = MemberId(<[u8; 32]>::try_from(author.as_slice()).ok()?);
                    Some(seq.saturating_sub(replica.head_seq(&author)))
                })
                .sum();
            (missing, held)
        };
        if missing < ORDERED_CATCH_UP_FROM || missing <= held {
            return false;
        }
        let Some(community) = self.community_bytes() else { return false };
        tracing::info!(%peer, missing, held, "far behind: catching up in the peer's order");
        self.catching_up = Some(peer);
        self.send_request(peer, SyncRequest::Since { community, after: 0, limit: sync::PAGE_ENTRIES });
        true
    }

    /// After a key restore: once a peer's copy of our own log (its head `peer_seq`) is no
    /// longer ahead of ours, our log is back and the member may publish again.
    fn note_own_log(&mut self, peer_seq: u64) {
        if self.replica().own_log_caught_up(peer_seq) {
            tracing::info!("fetched our own log after the key restore: publishing is allowed again");
            let unclaimed = self.replica().unclaimed_for_me();
            if !unclaimed.is_empty() {
                self.claim(unclaimed);
            }
        }
    }

    /// A joining node's Genesis, or an entry fetched by hash.
    fn on_entry_fetched(&mut self, peer: PeerId, hash: &[u8], entries: Vec<serde_bytes::ByteBuf>) {
        let Some(bytes) = entries.into_iter().next() else { return };
        let entry = match Entry::decode(bytes.into_vec()) {
            Ok(entry) => entry,
            Err(error) => return self.strike(peer, &error.to_string()),
        };
        if entry.hash().0.as_slice() != hash {
            return self.strike(peer, "sent another entry than the one asked for");
        }
        let adopted = {
            let mut replica = self.replica();
            if replica.community().is_none() { Some(replica.adopt_genesis(&entry)) } else { None }
        };
        match adopted {
            Some(Ok(())) => {
                tracing::info!(community = %entry.community().short(), "fetched the community's founding entry");
                self.ensure_subscribed();
                self.regate_all();
                self.send_join_request_if_due();
                self.request_heads(peer);
            }
            Some(Err(error)) => self.strike(peer, &error.to_string()),
            None => {
                let received = self.replica().receive(entry, now_ms());
                if let Received::Applied(applied) = received {
                    self.after_applied(&applied);
                }
            }
        }
    }

    /// Hands a sync page to the verifier thread; [`Self::on_verified`] stores it when it
    /// comes back.
    fn submit_page(&mut self, peer: PeerId, of: PageOf, page: Vec<serde_bytes::ByteBuf>) {
        let page: Vec<Vec<u8>> = page.into_iter().map(serde_bytes::ByteBuf::into_vec).collect();
        let unsent = match &self.verifier {
            Some(verifier) => verifier.submit((peer, of), page).err(),
            None => Some(((peer, of), page)),
        };
        self.pages_verifying += 1;
        if let Some((context, page)) = unsent {
            let (entries, fault) = verify_page(page);
            self.on_verified(VerifiedPage { context, entries, fault });
        }
    }

    /// Sends the ordered catch-up's next request, if one is due and at most one page waits
    /// for the verifier or the store.
    fn ask_next_since(&mut self) {
        if self.pages_verifying > 1 {
            return;
        }
        let Some((peer, after)) = self.next_since.take() else { return };
        if self.catching_up != Some(peer) {
            return;
        }
        let Some(community) = self.community_bytes() else { return };
        self.send_request(peer, SyncRequest::Since { community, after, limit: sync::PAGE_ENTRIES });
    }

    /// Stores a page whose signatures were checked, then carries on with what it answered.
    fn on_verified(&mut self, page: VerifiedPage<(PeerId, PageOf)>) {
        self.pages_verifying = self.pages_verifying.saturating_sub(1);
        let VerifiedPage { context: (peer, of), entries, fault } = page;
        let count = entries.len();
        let progressed = self.ingest_page(peer, entries, fault);
        self.ask_next_since();
        match of {
            PageOf::Range { author, full_page } => {
                self.fetching.remove(&(peer, author));
                tracing::debug!(%peer, author = %author.short(), count, full_page, progressed, "range page");
                if full_page && progressed {
                    self.fetch_range(peer, author);
                } else if author == self.replica().me() {
                    self.note_own_log(0);
                }
            }
            PageOf::Ordered { full_page, last } => {
                tracing::debug!(%peer, count, last, progressed, "ordered catch-up page stored");
                if !full_page && self.catching_up == Some(peer) {
                    // Caught up in the peer's order; compare heads for what that order left
                    // out (entries it holds aside, forks).
                    tracing::info!(%peer, "ordered catch-up done");
                    self.catching_up = None;
                    self.request_heads(peer);
                }
            }
        }
    }

    /// Applies and stores the verified entries of a page (reporting the peer for the entry
    /// that failed, if one did). Returns whether any entry was new.
    fn ingest_page(&mut self, peer: PeerId, entries: Vec<Entry>, fault: Option<PageFault>) -> bool {
        let (mut outcomes, mut forks) = (Vec::new(), Vec::new());
        // A chunk at a time, so the replica's lock is never held long (the API reads through it).
        for chunk in entries.chunks(INGEST_CHUNK) {
            let (chunk_outcomes, chunk_forks) = self.replica().receive_page(chunk.to_vec(), now_ms());
            outcomes.extend(chunk_outcomes);
            forks.extend(chunk_forks);
        }
        if let Some(PageFault { reason, .. }) = fault {
            self.strike(peer, &reason);
        }
        let authors: Vec<(MemberId, u64)> = entries.iter().map(|e| (e.author(), e.seq())).collect();
        let mut progressed = false;
        let mut applied_all = Vec::new();
        let mut parted = None;
        let mut bad = None;
        for (outcome, (author, seq)) in outcomes.into_iter().zip(authors) {
            match outcome {
                Received::Applied(applied) => {
                    progressed = true;
                    applied_all.extend(applied);
                }
                Received::Pending(_) => {
                    progressed = true;
                    self.note_received(author, seq);
                }
                Received::Dropped => {
                    // The waiting area is full: fetch again once what it waits for has arrived.
                    self.dropped_from.insert(peer);
                    self.received_to.remove(&author);
                }
                Received::Rejected(EntryError::PrevMismatch { prev_seq, .. }) => {
                    // The author forked the log before this entry: not the peer's fault.
                    parted.get_or_insert((author, prev_seq));
                }
                Received::Rejected(error) => {
                    bad.get_or_insert(error.to_string());
                }
                _ => {}
            }
        }
        if let Some(reason) = bad {
            self.strike(peer, &reason);
        }
        if let Some((author, seq)) = parted {
            self.fetch_at(peer, author, seq);
        }
        if !forks.is_empty() {
            self.on_fork();
        }
        self.gossip_fresh(&applied_all);
        self.after_applied(&applied_all);
        progressed
    }

    /// Gossips on the fresh entries among those just applied from a sync answer.
    fn gossip_fresh(&mut self, applied: &[Entry]) {
        let now = now_ms();
        for entry in applied {
            if now.saturating_sub(entry.timestamp_ms()) < GOSSIP_ON_FRESHER_THAN_MS {
                self.gossip(entry);
            }
        }
    }

    fn on_swarm_event(&mut self, event: SwarmEvent<BehaviourEvent>) {
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
                let addr = connection_addr(&endpoint, peer_id);
                if endpoint.is_dialer() && !is_relayed(&addr) {
                    self.dialed.insert(peer_id, addr.clone());
                }
                let addrs = self.connected.entry(peer_id).or_default();
                if !addrs.contains(&addr) {
                    addrs.push(addr);
                }
                if let Some(redial) = self.redial.get_mut(&peer_id) {
                    redial.backoff = Duration::from_secs(1);
                }
                if matches!(self.standing(&peer_id), Standing::Outsider | Standing::Suspended) {
                    self.opened_outside.insert(peer_id);
                }
                if num_established.get() == 1 {
                    tracing::info!(peer = %peer_id, "connected");
                    let _ = self.events.send(NodeEvent::PeerConnected { peer_id: peer_id.to_string() });
                    self.on_first_connection(peer_id);
                }
            }
            SwarmEvent::ConnectionClosed { peer_id, num_established, endpoint, .. } => {
                if num_established == 0 {
                    self.connected.remove(&peer_id);
                    self.pending.remove(&peer_id);
                    self.identified.remove(&peer_id);
                    self.dialed.remove(&peer_id);
                    self.opened_outside.remove(&peer_id);
                    self.reconnect.remove(&peer_id);
                    if self.catching_up == Some(peer_id) {
                        self.catching_up = None;
                    }
                    if let Some(listener) = self.relays.remove(&peer_id) {
                        self.swarm.remove_listener(listener);
                    }
                    self.relays_granted.remove(&peer_id);
                    self.fetching.retain(|(p, _)| *p != peer_id);
                    self.fetch_queue.remove(&peer_id);
                    self.ranges_in_flight.retain(|_, p| *p != peer_id);
                    tracing::info!(peer = %peer_id, "disconnected");
                    let _ = self.events.send(NodeEvent::PeerDisconnected { peer_id: peer_id.to_string() });
                    if let Some(redial) = self.redial.get_mut(&peer_id) {
                        redial.next = Instant::now() + redial.backoff;
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
                self.on_gossip(propagation_source, message_id, message.data);
            }
            BehaviourEvent::Sync(request_response::Event::Message { peer, message, .. }) => match message {
                request_response::Message::Request { request, channel, .. } => self.on_request(peer, request, channel),
                request_response::Message::Response { request_id, response } => {
                    self.on_response(peer, request_id, response)
                }
            },
            BehaviourEvent::Sync(request_response::Event::OutboundFailure { peer, request_id, error, .. }) => {
                if let Some((_, SyncRequest::Range { author, .. })) = self.requests.remove(&request_id)
                    && let Ok(author) = <[u8; 32]>::try_from(author.as_slice())
                {
                    self.fetching.remove(&(peer, MemberId(author)));
                }
                if self.ranges_in_flight.remove(&request_id).is_some() {
                    self.pump_fetches(peer);
                }
                if self.catching_up == Some(peer) {
                    self.catching_up = None;
                }
                tracing::debug!(%peer, %error, "sync request failed");
            }
            BehaviourEvent::Identify(identify::Event::Received { peer_id, .. })
                if self.pending.contains_key(&peer_id) =>
            {
                // Remembered so a hub that turns out to be one once its appointment arrives
                // is still asked for a relay slot.
                self.identified.insert(peer_id);
            }
            BehaviourEvent::Identify(identify::Event::Received { peer_id, info, .. }) => {
                self.identified.insert(peer_id);
                let addrs: Vec<Multiaddr> =
                    info.listen_addrs.into_iter().filter(|a| !is_unspecified(a)).take(16).collect();
                for addr in &addrs {
                    self.swarm.behaviour_mut().kad.inner_mut().add_address(&peer_id, addr.clone());
                }
                let texts: Vec<String> = addrs.iter().map(ToString::to_string).collect();
                if !texts.is_empty() {
                    if let Err(error) = self.replica().store().remember_peer(&peer_id.to_string(), &texts) {
                        tracing::debug!(%error, "could not remember a peer");
                    }
                    let redial = self.redial.entry(peer_id).or_insert(Redial {
                        addrs: Vec::new(),
                        next: Instant::now(),
                        backoff: Duration::from_secs(1),
                    });
                    redial.addrs = addrs;
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
            BehaviourEvent::RelayClient(relay::client::Event::ReservationReqAccepted { relay_peer_id, .. }) => {
                self.relay_granted(relay_peer_id)
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
}

/// Where `peer` stands: a member or hub not suspended, or let in with an invite before.
fn standing_of(replica: &Replica, peer: &PeerId) -> Standing {
    let Some(community) = replica.community() else { return Standing::Open };
    if let Some(member) = member_of(peer).and_then(|m| community.member(&m)) {
        if member.suspended.is_some() {
            return Standing::Suspended;
        }
        if member.admitted || member.hub {
            return Standing::Authorised;
        }
    }
    if gate::is_let_in(replica.store(), &peer.to_string()) { Standing::Authorised } else { Standing::Outsider }
}

/// The [`Admits`] of a node's replica: members, hubs and newcomers let in (and everyone while
/// the node has no community yet).
pub fn admits_of(replica: Arc<Mutex<Replica>>) -> Admits {
    Arc::new(move |peer| {
        let replica = replica.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        matches!(standing_of(&replica, peer), Standing::Open | Standing::Authorised)
    })
}

/// Whether applying `entry` may change who is let in (admissions, suspensions, hubs).
fn changes_membership(entry: &Entry) -> bool {
    matches!(entry.body(), Body::Vouch { .. } | Body::Suspend { .. } | Body::Appoint { .. })
}

/// The address a connection is shown with: the remote address, or for a relayed connection
/// the far side accepted (whose remote address is a bare `/p2p/<peer>`), `/p2p-circuit/p2p/<peer>`.
fn connection_addr(endpoint: &libp2p::core::ConnectedPoint, peer: PeerId) -> Multiaddr {
    let addr = endpoint.get_remote_address();
    if endpoint.is_relayed() && !is_relayed(addr) {
        Multiaddr::empty().with(Protocol::P2pCircuit).with(Protocol::P2p(peer))
    } else {
        addr.clone()
    }
}

pub(crate) fn is_relayed(addr: &Multiaddr) -> bool {
    addr.iter().any(|p| matches!(p, Protocol::P2pCircuit))
}

pub(crate) fn is_loopback(addr: &Multiaddr) -> bool {
    addr.iter().any(|p| match p {
        Protocol::Ip4(ip) => ip.is_loopback(),
        Protocol::Ip6(ip) => ip.is_loopback(),
        _ => false,
    })
}

pub(crate) fn is_unspecified(addr: &Multiaddr) -> bool {
    addr.iter().any(|p| match p {
        libp2p::multiaddr::Protocol::Ip4(ip) => ip.is_unspecified(),
        libp2p::multiaddr::Protocol::Ip6(ip) => ip.is_unspecified(),
        _ => false,
    })
}
