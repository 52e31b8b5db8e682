//! The libp2p adapter of a node: the one event loop that owns the [`Swarm`], turning swarm
//! events into [`Input`]s of the sync [`Engine`] and its [`Output`]s into swarm calls. Every
//! decision (who is let in, what to ask and answer, what to gossip, whom to strike) is the
//! engine's; this loop keeps only what names libp2p: addresses, redials ([`redial`]), the
//! verifier thread's channel, relay slots and AutoNAT ([`reach`]), swarm events
//! ([`events`]), Kith identities as peer ids and topics ([`ids`]), and the swarm's construction
//! ([`swarm`]). Everything else talks to the loop through [`Command`]s ([`command`]) and hears
//! from it through [`NodeEvent`]s.
//!
//! A hub (`NetworkConfig::hub`) announces its listen addresses as external, serves relay
//! reservations and AutoNAT probes, and runs Kademlia as a server. A home node asks AutoNAT
//! whether it can be dialled; until it is known to be, it reserves a relay slot at every
//! connected hub of its community, so other members reach it through the hub, and DCUtR then
//! tries to replace that relayed connection with a direct one.

mod command;
mod events;
mod ids;
mod reach;
mod redial;
mod swarm;
mod work;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use libp2p::core::transport::ListenerId;
use libp2p::gossipsub::{self, IdentTopic, MessageAcceptance};
use libp2p::request_response::{OutboundRequestId, ResponseChannel};
use libp2p::{Multiaddr, PeerId, Swarm};
use tokio::sync::{broadcast, mpsc};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use kith_protocol::Body;

use crate::clock::now_ms;
use crate::engine::{self, Engine, EngineConfig, Input, Output, Verdict};
use crate::gate::Gate;
use crate::replica::Replica;
use crate::sync::{SyncRequest, SyncResponse};
use crate::verify::{VerifiedPage, Verifier, verify_page};
use crate::worker::{Worker, off_the_runtime};
use ids::peer_name;
use redial::Redials;
use work::StoreJob;

pub use crate::engine::{INGEST_CHUNK, NetworkCounters, NetworkStats, NodeEvent};
pub use command::{Command, PeerInfo, ReachInfo};
pub use ids::{admits_of, libp2p_keypair, member_of, peer_of, topic_of};
pub use reach::{Reachability, is_loopback, is_relayed, is_unspecified};
pub use swarm::{Behaviour, ConnectionCaps, GOSSIP_MAX_TRANSMIT, NetworkConfig, build_swarm};

/// How long a connected peer has to show it belongs (a member, a hub, or an invite) before it
/// is disconnected.
pub const AUTHORISE_WITHIN: Duration = Duration::from_millis(engine::AUTHORISE_WITHIN_MS);
/// Gossipsub application score of a peer not let in: below the graylist threshold, so nothing
/// is published to it and nothing it sends is read.
const OUTSIDER_SCORE: f64 = -1000.0;

/// The network event loop: owns the swarm and drives the engine.
#[allow(missing_debug_implementations)]
pub struct NetworkLoop {
    swarm: Swarm<Behaviour>,
    engine: Engine,
    replica: Arc<Mutex<Replica>>,
    commands: mpsc::Receiver<Command>,
    events: broadcast::Sender<NodeEvent>,
    config: NetworkConfig,
    subscribed: Option<IdentTopic>,
    /// Gossip messages waiting for the engine's verdict, by the engine's handle.
    messages: HashMap<u64, gossipsub::MessageId>,
    /// Requests of peers waiting for the engine's answer, by the engine's handle.
    channels: HashMap<u64, ResponseChannel<SyncResponse>>,
    next_handle: u64,
    /// The engine's id of each request in flight.
    outbound: HashMap<OutboundRequestId, u64>,
    redials: Redials,
    connected: HashMap<PeerId, Vec<Multiaddr>>,
    listen_addrs: Vec<Multiaddr>,
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
    /// Checks the signatures of sync pages on a helper thread (`None` if it could not be
    /// started: pages are then checked on this thread).
    verifier: Option<Verifier<u64>>,
    /// Pages back from the verifier, for the engine in the order they came.
    verified: mpsc::UnboundedReceiver<VerifiedPage<u64>>,
    /// Applies and stores what the engine hands out (sync pages, gossip and fetched entries,
    /// this node's claims and join request) on a thread of its own (`None` if it could not be
    /// started: then on this task), so the loop goes on meanwhile.
    storer: Option<Worker<StoreJob>>,
    /// What the storer did, for the engine in the order it was done.
    stored: mpsc::UnboundedReceiver<Input>,
    /// Reads the answers to peers' range, by-hash and catch-up requests on a thread of its own
    /// (`None` if it could not be started: then on this task).
    reader: Option<Worker<(u64, SyncRequest)>>,
    /// Answers back from the reader, by the request's handle.
    read: mpsc::UnboundedReceiver<(u64, SyncResponse)>,
}

impl NetworkLoop {
    pub fn new(
        swarm: Swarm<Behaviour>,
        replica: Arc<Mutex<Replica>>,
        commands: mpsc::Receiver<Command>,
        events: broadcast::Sender<NodeEvent>,
        config: NetworkConfig,
        join_profile: Option<Body>,
        gate: Gate,
    ) -> Self {
        let (verified_sender, verified) = mpsc::unbounded_channel();
        let verifier = Verifier::start(move |page| verified_sender.send(page).is_ok())
            .map_err(
                |error| tracing::warn!(%error, "no helper thread for signature checks; checking on the network loop"),
            )
            .ok();
        let (stored_sender, stored) = mpsc::unbounded_channel();
        let storer = work::start_storer(replica.clone(), stored_sender);
        let (read_sender, read) = mpsc::unbounded_channel();
        let reader = work::start_reader(replica.clone(), read_sender);
        let mut seed = [0u8; 8];
        if getrandom::fill(&mut seed).is_err() {
            seed = now_ms().to_le_bytes();
        }
        let engine_config = EngineConfig {
            sync_interval_ms: u64::try_from(config.sync_interval.as_millis()).unwrap_or(u64::MAX),
            invite: config.invite.clone(),
            hub: config.hub,
            join_profile,
            name: peer_name,
            seed: u64::from_le_bytes(seed),
        };
        let engine = Engine::with_gate(replica.clone(), gate, engine_config, now_ms());
        let reachability = if config.hub { Reachability::Public } else { Reachability::Unknown };
        NetworkLoop {
            swarm,
            engine,
            replica,
            commands,
            events,
            config,
            subscribed: None,
            messages: HashMap::new(),
            channels: HashMap::new(),
            next_handle: 1,
            outbound: HashMap::new(),
            redials: Redials::default(),
            connected: HashMap::new(),
            listen_addrs: Vec::new(),
            identified: HashSet::new(),
            dialed: HashMap::new(),
            relays: HashMap::new(),
            relays_granted: HashSet::new(),
            confirmed: HashSet::new(),
            reachability,
            verifier,
            verified,
            storer,
            stored,
            reader,
            read,
        }
    }

    /// The loop's counters, to read while it runs.
    pub fn counters(&self) -> Arc<NetworkCounters> {
        self.engine.counters()
    }

    /// Starts listening and dialling, `known` among the rest: the peers and addresses the store
    /// remembers (`Store::known_peers`), read by the caller before the loop shares the replica,
    /// so the loop does not wait for the replica's lock to read them.
    pub fn start(&mut self, known: Vec<(String, Vec<String>)>) -> Result<(), String> {
        for addr in self.config.listen.clone() {
            self.swarm.listen_on(addr.clone()).map_err(|e| format!("cannot listen on {addr}: {e}"))?;
        }
        if self.config.hub
            && let Some(relay) = self.swarm.behaviour_mut().relay_server.as_mut()
        {
            relay.inner_mut().set_status(Some(libp2p::relay::Status::Enable));
        }
        self.engine.start();
        self.drain();
        for addr in self.config.bootstrap.clone() {
            self.dial(addr);
        }
        for (peer, addrs) in known {
            let Ok(peer) = peer.parse::<PeerId>() else { continue };
            let addrs: Vec<Multiaddr> = addrs.iter().filter_map(|a| a.parse().ok()).collect();
            if let Some(addr) = addrs.first() {
                for addr in &addrs {
                    self.swarm.add_peer_address(peer, addr.clone());
                }
                tracing::debug!(%peer, %addr, "will reconnect to a known peer");
                self.redials.known(peer, addrs);
            }
        }
        Ok(())
    }

    /// Waits for the first listen address (so callers can print it).
    pub async fn wait_listening(&mut self, timeout: Duration) -> Vec<Multiaddr> {
        let deadline = Instant::now() + timeout;
        while self.listen_addrs.is_empty() && !self.config.listen.is_empty() {
            match tokio::time::timeout_at(deadline, self.swarm.select_next_some()).await {
                Ok(event) => {
                    self.on_swarm_event(event);
                    self.drain();
                }
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
        let mut second = tokio::time::interval(Duration::from_secs(1));
        loop {
            let wait = Duration::from_millis(self.engine.next_deadline().saturating_sub(now_ms()));
            tokio::select! {
                () = shutdown.cancelled() => break,
                event = self.swarm.select_next_some() => self.on_swarm_event(event),
                command = self.commands.recv() => match command {
                    Some(command) => self.on_command(command),
                    None => break,
                },
                Some(page) = self.verified.recv() => self.on_verified(page),
                Some(input) = self.stored.recv() => self.handle(input),
                Some((id, response)) = self.read.recv() => self.respond(id, response),
                () = tokio::time::sleep(wait) => self.engine.handle(now_ms(), Input::Timer),
                _ = second.tick() => self.redial_due(),
            }
            self.drain();
        }
        // The storer and reader hold the replica: let them finish before the node closes the store.
        let (storer, reader) = (self.storer.take(), self.reader.take());
        let finished = tokio::task::spawn_blocking(move || {
            if let Some(storer) = storer {
                storer.finish();
            }
            if let Some(reader) = reader {
                reader.finish();
            }
        });
        if finished.await.is_err() {
            tracing::error!("the threads storing entries and reading answers did not finish");
        }
        tracing::info!("network loop stopped");
    }

    fn handle(&mut self, input: Input) {
        self.engine.handle(now_ms(), input);
    }

    fn on_verified(&mut self, page: VerifiedPage<u64>) {
        let VerifiedPage { context, entries, fault } = page;
        self.handle(Input::Verified { page: context, entries, fault });
    }

    fn dial(&mut self, addr: Multiaddr) {
        if let Err(error) = self.swarm.dial(addr.clone()) {
            tracing::warn!(%addr, %error, "cannot dial");
        }
        if let Some(libp2p::multiaddr::Protocol::P2p(peer)) = addr.iter().last() {
            self.redials.dialled(peer, addr);
        }
    }

    fn redial_due(&mut self) {
        let connected = &self.connected;
        for (peer, addrs) in self.redials.due(|peer| connected.contains_key(peer)) {
            let opts = libp2p::swarm::dial_opts::DialOpts::peer_id(peer).addresses(addrs).build();
            if let Err(error) = self.swarm.dial(opts) {
                tracing::debug!(%peer, %error, "redial failed");
            }
        }
    }

    fn on_command(&mut self, command: Command) {
        match command {
            Command::Gossip(entries) => self.handle(Input::Command(engine::Command::Gossip(entries))),
            Command::Dial(addr) => self.dial(addr),
            Command::Peers(reply) => {
                let peers = self
                    .connected
                    .iter()
                    .map(|(peer, addrs)| PeerInfo {
                        peer_id: peer.to_string(),
                        addrs: addrs.iter().map(ToString::to_string).collect(),
                        member_id: member_of(peer).map(|m| m.to_string()),
                        relayed: addrs.iter().any(is_relayed),
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
                self.redials.forget(&peer);
            }
            Command::Unblock(peer) => {
                self.swarm.behaviour_mut().blocked.unblock_peer(peer);
            }
            Command::SyncNow => self.handle(Input::Command(engine::Command::SyncNow)),
            Command::Reach(reply) => {
                let relays = self.relays_granted.iter().map(ToString::to_string).collect();
                let _ = reply.send(ReachInfo { reachability: self.reachability, relays });
            }
            Command::Allow(peer) => match member_of(&peer) {
                Some(member) => self.handle(Input::Command(engine::Command::Allow(member))),
                None => tracing::warn!(%peer, "not a member key: cannot let it in"),
            },
        }
    }

    /// Carries out everything the engine asked for.
    fn drain(&mut self) {
        while let Some(output) = self.engine.poll_output() {
            self.carry_out(output);
        }
    }

    fn carry_out(&mut self, output: Output) {
        match output {
            Output::Subscribe(community) => {
                let topic = topic_of(community);
                match gossip_of(&mut self.swarm).subscribe(&topic) {
                    Ok(_) => self.subscribed = Some(topic),
                    Err(error) => tracing::error!(%error, "cannot subscribe to the community's topic"),
                }
            }
            Output::Publish(entry) => {
                let Some(topic) = self.subscribed.clone() else { return };
                match gossip_of(&mut self.swarm).publish(topic, entry.bytes().to_vec()) {
                    Ok(_) | Err(gossipsub::PublishError::Duplicate) => {}
                    Err(gossipsub::PublishError::NoPeersSubscribedToTopic) => {
                        tracing::debug!("no peer to gossip to yet; sync will carry the entry")
                    }
                    Err(error) => tracing::warn!(%error, "could not gossip an entry"),
                }
            }
            Output::Validate { peer, message, verdict } => {
                let (Some(id), Some(peer)) = (self.messages.remove(&message), peer_of(&peer)) else { return };
                let acceptance = match verdict {
                    Verdict::Accept => MessageAcceptance::Accept,
                    Verdict::Reject => MessageAcceptance::Reject,
                    Verdict::Ignore => MessageAcceptance::Ignore,
                };
                gossip_of(&mut self.swarm).report_message_validation_result(&id, &peer, acceptance);
            }
            Output::Request { peer, id, request } => match peer_of(&peer) {
                Some(peer) => {
                    let request_id = self.swarm.behaviour_mut().sync.send_request(&peer, request);
                    self.outbound.insert(request_id, id);
                }
                None => self.handle(Input::RequestFailed { id }),
            },
            Output::Respond { id, response } => self.respond(id, response),
            Output::Read { id, request } => {
                let unsent = match &self.reader {
                    Some(reader) => reader.submit((id, request)).err(),
                    None => Some((id, request)),
                };
                if let Some((id, request)) = unsent {
                    let response = off_the_runtime(|| engine::read_answer(&self.replica, &request));
                    self.respond(id, response);
                }
            }
            Output::Verify { page, bytes } => {
                let unsent = match &self.verifier {
                    Some(verifier) => verifier.submit(page, bytes).err(),
                    None => Some((page, bytes)),
                };
                if let Some((page, bytes)) = unsent {
                    let (entries, fault) = off_the_runtime(|| verify_page(bytes));
                    self.handle(Input::Verified { page, entries, fault });
                }
            }
            Output::Store { page, entries } => self.store(StoreJob::Page(page, entries)),
            Output::StoreEntry(job) => self.store(StoreJob::Entry(Box::new(job))),
            Output::Sign { job, bodies, flush } => self.store(StoreJob::Sign { job, bodies, flush }),
            Output::StoreProofs(proofs) => self.store(StoreJob::Proofs(proofs)),
            Output::AdoptGenesis { peer, entry } => self.store(StoreJob::Genesis(peer, Box::new(entry))),
            Output::StoreGate(rows) => self.store(StoreJob::Gate(rows)),
            Output::Release => self.store(StoreJob::Release),
            Output::CompareHeads { peer, heads } => self.store(StoreJob::Compare(peer, heads)),
            Output::InviteUses { id, peer, invite } => self.store(StoreJob::Invite { id, peer, invite }),
            Output::CheckOwnLog { seq, hash } => self.store(StoreJob::OwnLog { seq, hash }),
            Output::Admit(peer) => {
                let Some(peer) = peer_of(&peer) else { return };
                gossip_of(&mut self.swarm).remove_blacklisted_peer(&peer);
                gossip_of(&mut self.swarm).set_application_score(&peer, 0.0);
            }
            Output::Hold(peer) => {
                let Some(peer) = peer_of(&peer) else { return };
                gossip_of(&mut self.swarm).blacklist_peer(&peer);
                gossip_of(&mut self.swarm).set_application_score(&peer, OUTSIDER_SCORE);
            }
            Output::Disconnect { peer, forget } => {
                let Some(peer) = peer_of(&peer) else { return };
                if forget {
                    self.redials.forget(&peer);
                }
                let _ = self.swarm.disconnect_peer_id(peer);
            }
            Output::Reconnect(peer) => {
                let Some(peer) = peer_of(&peer) else { return };
                self.redials.soon(&peer);
                let _ = self.swarm.disconnect_peer_id(peer);
            }
            Output::Block(peer) => {
                let Some(peer) = peer_of(&peer) else { return };
                self.swarm.behaviour_mut().blocked.block_peer(peer);
            }
            Output::Unblock(peer) => {
                let Some(peer) = peer_of(&peer) else { return };
                self.swarm.behaviour_mut().blocked.unblock_peer(peer);
            }
            Output::LookUp => {
                let me = self.local_peer_id();
                self.swarm.behaviour_mut().kad.inner_mut().get_closest_peers(me);
            }
            Output::MembershipChanged => self.ensure_relay_slots(),
            Output::Acknowledged { ticket, result } => tracing::debug!(ticket, ?result, "publish acknowledged"),
            Output::Event(event) => {
                let _ = self.events.send(event);
            }
        }
    }
}

impl NetworkLoop {
    /// Hands store work to `kith-store` (or, if that thread is gone, does it here, having
    /// handed the worker's other tasks to another thread: `off_the_runtime`).
    fn store(&mut self, job: StoreJob) {
        let unsent = match &self.storer {
            Some(storer) => storer.submit(job).err(),
            None => Some(job),
        };
        if let Some(job) = unsent {
            for input in off_the_runtime(|| work::store(&self.replica, vec![job])) {
                self.handle(input);
            }
        }
    }

    /// Sends the answer to a peer's request `id`.
    fn respond(&mut self, id: u64, response: SyncResponse) {
        let Some(channel) = self.channels.remove(&id) else { return };
        if self.swarm.behaviour_mut().sync.send_response(channel, response).is_err() {
            tracing::debug!("peer went away before the sync answer");
        }
    }
}

fn gossip_of(swarm: &mut Swarm<Behaviour>) -> &mut gossipsub::Behaviour {
    swarm.behaviour_mut().gossipsub.inner_mut()
}
