//! A bare libp2p peer for adversarial tests: TCP + Noise + Yamux and gossipsub only (anonymous
//! messages, content-hash ids, like a Kith node), subscribed to one community's topic, with no
//! rules of its own. It publishes whatever bytes it is given, so tests can send a node forged,
//! oversized or rule-breaking entries the way a hostile peer would.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{anyhow, bail};
use futures::StreamExt;
use libp2p::gossipsub::{self, IdentTopic, MessageAuthenticity, MessageId};
use libp2p::swarm::SwarmEvent;
use libp2p::{Multiaddr, PeerId, Swarm, noise, tcp, yamux};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use kith_protocol::CommunityId;

use crate::cluster::wait_until;

enum RawCommand {
    Dial(Multiaddr, oneshot::Sender<Result<(), String>>),
    Publish(Vec<u8>, oneshot::Sender<Result<MessageId, String>>),
    Stop,
}

/// A running raw peer. Dropping it without [`RawPeer::stop`] leaves its task to the runtime.
#[derive(Debug)]
pub struct RawPeer {
    peer_id: PeerId,
    commands: mpsc::Sender<RawCommand>,
    subscribed: watch::Receiver<BTreeSet<PeerId>>,
    /// Every peer ever seen subscribed to the topic, even if it left since.
    ever_subscribed: Arc<Mutex<BTreeSet<PeerId>>>,
    connected: watch::Receiver<BTreeSet<PeerId>>,
    received: Arc<Mutex<Vec<Vec<u8>>>>,
    task: JoinHandle<()>,
}

impl std::fmt::Debug for RawCommand {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RawCommand::Dial(addr, _) => write!(f, "Dial({addr})"),
            RawCommand::Publish(bytes, _) => write!(f, "Publish({} bytes)", bytes.len()),
            RawCommand::Stop => f.write_str("Stop"),
        }
    }
}

/// Largest message the raw peer sends or accepts (well above a Kith node's limit).
pub const RAW_MAX_TRANSMIT: usize = 256 * 1024;

impl RawPeer {
    /// Starts a raw peer with `key` as its identity, subscribed to `community`'s topic. It
    /// listens nowhere: nodes cannot dial it, it dials them.
    pub async fn start(key: libp2p::identity::Keypair, community: CommunityId) -> anyhow::Result<RawPeer> {
        let config = gossipsub::ConfigBuilder::default()
            .heartbeat_interval(Duration::from_millis(200))
            .validation_mode(gossipsub::ValidationMode::Anonymous)
            .message_id_fn(|message: &gossipsub::Message| {
                MessageId::from(blake3::hash(&message.data).as_bytes().to_vec())
            })
            .max_transmit_size(RAW_MAX_TRANSMIT)
            .mesh_n(4)
            .mesh_n_low(2)
            .mesh_n_high(8)
            .mesh_outbound_min(1)
            .flood_publish(true)
            .build()
            .map_err(|e| anyhow!("gossipsub config: {e}"))?;
        let behaviour =
            gossipsub::Behaviour::new(MessageAuthenticity::Anonymous, config).map_err(|e| anyhow!("gossipsub: {e}"))?;
        let mut swarm: Swarm<gossipsub::Behaviour> = libp2p::SwarmBuilder::with_existing_identity(key)
            .with_tokio()
            .with_tcp(tcp::Config::default().nodelay(true), noise::Config::new, yamux::Config::default)?
            .with_behaviour(|_| behaviour)
            .map_err(|e| anyhow!("raw peer behaviour: {e}"))?
            .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(300)))
            .build();
        let topic = kith_node::network::topic_of(community);
        swarm.behaviour_mut().subscribe(&topic).map_err(|e| anyhow!("subscribe: {e}"))?;
        let peer_id = *swarm.local_peer_id();
        let (commands, rx) = mpsc::channel(64);
        let (subscribed_tx, subscribed) = watch::channel(BTreeSet::new());
        let (connected_tx, connected) = watch::channel(BTreeSet::new());
        let received = Arc::new(Mutex::new(Vec::new()));
        let ever_subscribed = Arc::new(Mutex::new(BTreeSet::new()));
        let seen =
            Seen { subscribed: subscribed_tx, ever_subscribed: ever_subscribed.clone(), connected: connected_tx };
        let task = tokio::spawn(run(swarm, topic, rx, seen, received.clone()));
        Ok(RawPeer { peer_id, commands, subscribed, ever_subscribed, connected, received, task })
    }

    pub fn peer_id(&self) -> PeerId {
        self.peer_id
    }

    /// Dials `addr` and waits until connected to the peer it names (`/p2p/..` required) and
    /// until that peer is known to be subscribed to the topic.
    pub async fn connect(&self, addr: Multiaddr) -> anyhow::Result<()> {
        let peer = self.dial(addr).await?;
        let subscribed = self.subscribed.clone();
        wait_until(Duration::from_secs(20), "the raw peer sees the node subscribed", || {
            subscribed.borrow().contains(&peer)
        })
        .await?;
        Ok(())
    }

    /// Dials `addr` (`/p2p/..` required) and waits until connected; returns the peer it names.
    pub async fn dial(&self, addr: Multiaddr) -> anyhow::Result<PeerId> {
        let Some(libp2p::multiaddr::Protocol::P2p(peer)) = addr.iter().last() else {
            bail!("{addr} names no peer");
        };
        let (tx, rx) = oneshot::channel();
        self.commands.send(RawCommand::Dial(addr, tx)).await.map_err(|_| anyhow!("raw peer stopped"))?;
        rx.await?.map_err(|e| anyhow!("dial: {e}"))?;
        Ok(peer)
    }

    /// Whether `peer` ever told the raw peer it is subscribed to the community's topic.
    pub fn saw_subscribed(&self, peer: &PeerId) -> bool {
        self.ever_subscribed.lock().unwrap().contains(peer)
    }

    /// Whether the raw peer has a connection to `peer`.
    pub fn is_connected(&self, peer: &PeerId) -> bool {
        self.connected.borrow().contains(peer)
    }

    /// Publishes `bytes` on the topic as one message.
    pub async fn publish(&self, bytes: Vec<u8>) -> anyhow::Result<MessageId> {
        let (tx, rx) = oneshot::channel();
        self.commands.send(RawCommand::Publish(bytes, tx)).await.map_err(|_| anyhow!("raw peer stopped"))?;
        rx.await?.map_err(|e| anyhow!("publish: {e}"))
    }

    /// Every message received on the topic so far.
    pub fn received(&self) -> Vec<Vec<u8>> {
        self.received.lock().unwrap().clone()
    }

    /// Stops the peer and waits for its task.
    pub async fn stop(self) {
        let _ = self.commands.send(RawCommand::Stop).await;
        let _ = self.task.await;
    }
}

/// What the raw peer's task reports about the peers it meets.
struct Seen {
    subscribed: watch::Sender<BTreeSet<PeerId>>,
    ever_subscribed: Arc<Mutex<BTreeSet<PeerId>>>,
    connected: watch::Sender<BTreeSet<PeerId>>,
}

async fn run(
    mut swarm: Swarm<gossipsub::Behaviour>,
    topic: IdentTopic,
    mut commands: mpsc::Receiver<RawCommand>,
    seen: Seen,
    received: Arc<Mutex<Vec<Vec<u8>>>>,
) {
    let Seen { subscribed, ever_subscribed, connected } = seen;
    loop {
        tokio::select! {
            command = commands.recv() => match command {
                Some(RawCommand::Dial(addr, reply)) => {
                    let _ = reply.send(swarm.dial(addr).map_err(|e| e.to_string()));
                }
                Some(RawCommand::Publish(bytes, reply)) => {
                    let _ = reply.send(swarm.behaviour_mut().publish(topic.clone(), bytes).map_err(|e| e.to_string()));
                }
                Some(RawCommand::Stop) | None => break,
            },
            event = swarm.select_next_some() => match event {
                SwarmEvent::ConnectionEstablished { peer_id, .. } => {
                    connected.send_modify(|c| { c.insert(peer_id); });
                }
                SwarmEvent::ConnectionClosed { peer_id, num_established: 0, .. } => {
                    connected.send_modify(|c| { c.remove(&peer_id); });
                    subscribed.send_modify(|s| { s.remove(&peer_id); });
                }
                SwarmEvent::Behaviour(gossipsub::Event::Subscribed { peer_id, topic: t }) if t == topic.hash() => {
                    subscribed.send_modify(|s| { s.insert(peer_id); });
                    ever_subscribed.lock().unwrap().insert(peer_id);
                }
                SwarmEvent::Behaviour(gossipsub::Event::Unsubscribed { peer_id, .. }) => {
                    subscribed.send_modify(|s| { s.remove(&peer_id); });
                }
                SwarmEvent::Behaviour(gossipsub::Event::Message { message, .. }) => {
                    received.lock().unwrap().push(message.data);
                }
                _ => {}
            },
        }
    }
}
