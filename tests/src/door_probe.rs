//! Bare libp2p peers that knock at a node's door: one asks for its identify answer (which names
//! its listen addresses: peers let in only), others open many connections at once and count how
//! many the node keeps (its connection limits). Each decides from what the node does — an
//! answer, a refusal, a closed connection — never from a wait running out.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use anyhow::{anyhow, bail};
use futures::StreamExt;
use libp2p::multiaddr::Protocol;
use libp2p::swarm::dial_opts::{DialOpts, PeerCondition};
use libp2p::swarm::{ConnectionId, SwarmEvent};
use libp2p::{Multiaddr, PeerId, identify, noise, ping, tcp, yamux};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

fn peer_of(addr: &Multiaddr) -> anyhow::Result<PeerId> {
    match addr.iter().last() {
        Some(Protocol::P2p(peer)) => Ok(peer),
        _ => bail!("the address needs its /p2p/ peer id: {addr}"),
    }
}

/// Connects to `addr` as `key` and returns the node's identify answer, or `None` if the node
/// speaks no identify to this peer (the stream is refused, or the connection closed first).
pub async fn identify_of(
    key: libp2p::identity::Keypair,
    addr: Multiaddr,
    patience: Duration,
) -> anyhow::Result<Option<identify::Info>> {
    let node = peer_of(&addr)?;
    let mut swarm = libp2p::SwarmBuilder::with_existing_identity(key)
        .with_tokio()
        .with_tcp(tcp::Config::default(), noise::Config::new, yamux::Config::default)?
        .with_behaviour(|key| identify::Behaviour::new(identify::Config::new("/kith/1".into(), key.public())))
        .map_err(|e| anyhow!("identify probe: {e}"))?
        .build();
    swarm.dial(addr)?;
    let deadline = tokio::time::Instant::now() + patience;
    loop {
        let Ok(event) = tokio::time::timeout_at(deadline, swarm.select_next_some()).await else {
            bail!("the node neither answered nor refused identify within {patience:?}");
        };
        match event {
            SwarmEvent::Behaviour(identify::Event::Received { peer_id, info, .. }) if peer_id == node => {
                return Ok(Some(info));
            }
            SwarmEvent::Behaviour(identify::Event::Error { peer_id, error, .. }) if peer_id == node => {
                tracing::debug!(%error, "identify refused");
                return Ok(None);
            }
            SwarmEvent::ConnectionClosed { peer_id, num_established: 0, .. } if peer_id == node => return Ok(None),
            SwarmEvent::OutgoingConnectionError { error, .. } => bail!("cannot reach the node: {error}"),
            _ => {}
        }
    }
}

/// Connections a [`Crowd`] opened: kept (the node answered a ping on it) or refused (closed, or
/// never opened, before any ping).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Opened {
    pub kept: usize,
    pub refused: usize,
}

/// A peer holding connections to a node: they stay open (as far as the node allows) until the
/// crowd is dropped.
#[derive(Debug)]
pub struct Crowd {
    task: JoinHandle<()>,
}

impl Drop for Crowd {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Crowd {
    /// Opens `count` connections to `addr` as `key`, all at once, and returns once each is
    /// kept or refused.
    pub async fn open(
        key: libp2p::identity::Keypair,
        addr: Multiaddr,
        count: usize,
        patience: Duration,
    ) -> anyhow::Result<(Crowd, Opened)> {
        let node = peer_of(&addr)?;
        let mut swarm = libp2p::SwarmBuilder::with_existing_identity(key)
            .with_tokio()
            .with_tcp(tcp::Config::default(), noise::Config::new, yamux::Config::default)?
            .with_behaviour(|_| ping::Behaviour::new(ping::Config::new().with_interval(Duration::from_millis(200))))
            .map_err(|e| anyhow!("crowd: {e}"))?
            .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(300)))
            .build();
        let mut dialled = BTreeSet::new();
        for _ in 0..count {
            let opts = DialOpts::peer_id(node).condition(PeerCondition::Always).addresses(vec![addr.clone()]).build();
            dialled.insert(opts.connection_id());
            swarm.dial(opts)?;
        }
        let (tx, rx) = oneshot::channel();
        let task = tokio::spawn(async move {
            let mut decided: BTreeMap<ConnectionId, bool> = BTreeMap::new();
            let mut report = Some(tx);
            loop {
                let event = swarm.select_next_some().await;
                let verdict = match event {
                    SwarmEvent::Behaviour(ping::Event { connection, result: Ok(_), .. }) => Some((connection, true)),
                    SwarmEvent::ConnectionClosed { connection_id, .. } => Some((connection_id, false)),
                    SwarmEvent::OutgoingConnectionError { connection_id, .. } => Some((connection_id, false)),
                    _ => None,
                };
                if let Some((id, kept)) = verdict {
                    decided.entry(id).or_insert(kept);
                }
                if report.is_some() && dialled.iter().all(|id| decided.contains_key(id)) {
                    let kept = decided.values().filter(|k| **k).count();
                    let opened = Opened { kept, refused: decided.len() - kept };
                    if let Some(tx) = report.take() {
                        let _ = tx.send(opened);
                    }
                }
            }
        });
        let crowd = Crowd { task };
        match tokio::time::timeout(patience, rx).await {
            Ok(Ok(opened)) => Ok((crowd, opened)),
            Ok(Err(_)) => bail!("the crowd's task ended"),
            Err(_) => bail!("the connections were neither kept nor refused within {patience:?}"),
        }
    }
}

/// Says a newcomer's hello to the node at `addr` as `key`, carrying `invite` (capability
/// bytes), and returns the node's answer.
pub async fn hello(
    key: libp2p::identity::Keypair,
    addr: Multiaddr,
    community: kith_protocol::CommunityId,
    invite: Vec<u8>,
    patience: Duration,
) -> anyhow::Result<kith_node::sync::SyncResponse> {
    use kith_node::sync::{SYNC_PROTOCOL, SyncRequest, SyncResponse};
    use libp2p::request_response::{self, ProtocolSupport};
    let node = peer_of(&addr)?;
    let mut swarm = libp2p::SwarmBuilder::with_existing_identity(key)
        .with_tokio()
        .with_tcp(tcp::Config::default(), noise::Config::new, yamux::Config::default)?
        .with_behaviour(|_| {
            request_response::cbor::Behaviour::<SyncRequest, SyncResponse>::new(
                [(libp2p::StreamProtocol::new(SYNC_PROTOCOL), ProtocolSupport::Outbound)],
                request_response::Config::default(),
            )
        })
        .map_err(|e| anyhow!("hello probe: {e}"))?
        .build();
    swarm.dial(addr)?;
    let deadline = tokio::time::Instant::now() + patience;
    loop {
        let Ok(event) = tokio::time::timeout_at(deadline, swarm.select_next_some()).await else {
            bail!("no answer to the hello within {patience:?}");
        };
        match event {
            SwarmEvent::ConnectionEstablished { peer_id, .. } if peer_id == node => {
                let request = SyncRequest::Hello { community: community.0.to_vec(), invite: invite.clone() };
                swarm.behaviour_mut().send_request(&node, request);
            }
            SwarmEvent::Behaviour(request_response::Event::Message {
                message: request_response::Message::Response { response, .. },
                ..
            }) => return Ok(response),
            SwarmEvent::Behaviour(request_response::Event::OutboundFailure { error, .. }) => {
                bail!("the hello failed: {error}")
            }
            SwarmEvent::OutgoingConnectionError { error, .. } => bail!("cannot reach the node: {error}"),
            _ => {}
        }
    }
}
