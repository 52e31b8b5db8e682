//! A bare libp2p peer that asks a hub for what an outsider must not get: a Kademlia answer
//! (which would name the community's peers and their addresses) and a relay slot. Tests run it
//! with an outsider's key and with a member's key, so the same probe shows both the refusal
//! and that the hub does serve the community.

use std::time::Duration;

use futures::StreamExt;
use libp2p::multiaddr::Protocol;
use libp2p::swarm::{NetworkBehaviour, SwarmEvent};
use libp2p::{Multiaddr, PeerId, StreamProtocol, identify, kad, noise, relay, tcp, yamux};

/// What a hub gave the probe.
#[derive(Debug)]
pub struct ProbeAnswers {
    /// Peers the hub's Kademlia named, or why it answered nothing.
    pub kad_peers: Result<Vec<PeerId>, String>,
    /// Whether the hub accepted a relay reservation, or why not.
    pub relay_slot: Result<(), String>,
}

#[derive(NetworkBehaviour)]
struct ProbeBehaviour {
    relay_client: relay::client::Behaviour,
    kad: kad::Behaviour<kad::store::MemoryStore>,
    identify: identify::Behaviour,
}

/// Connects to the hub at `hub_addr` (with `/p2p/`) as `key`, asks its Kademlia for the peers
/// closest to a random key and asks it for a relay slot; gives up on each after `patience`.
pub async fn probe_hub(
    key: libp2p::identity::Keypair,
    hub_addr: Multiaddr,
    patience: Duration,
) -> anyhow::Result<ProbeAnswers> {
    let hub = match hub_addr.iter().last() {
        Some(Protocol::P2p(peer)) => peer,
        _ => anyhow::bail!("the hub address needs its /p2p/ peer id: {hub_addr}"),
    };
    let mut swarm = libp2p::SwarmBuilder::with_existing_identity(key)
        .with_tokio()
        .with_tcp(tcp::Config::default(), noise::Config::new, yamux::Config::default)?
        .with_relay_client(noise::Config::new, yamux::Config::default)?
        .with_behaviour(|key, relay_client| {
            let peer_id = key.public().to_peer_id();
            let mut kad = kad::Behaviour::with_config(
                peer_id,
                kad::store::MemoryStore::new(peer_id),
                kad::Config::new(StreamProtocol::new("/kith/kad/1")),
            );
            kad.set_mode(Some(kad::Mode::Client));
            let identify = identify::Behaviour::new(identify::Config::new("/kith/1".into(), key.public()));
            Ok(ProbeBehaviour { relay_client, kad, identify })
        })?
        .build();
    swarm.behaviour_mut().kad.add_address(&hub, hub_addr.clone());
    swarm.dial(hub_addr.clone())?;

    let mut kad_peers = Err(format!("no Kademlia answer within {patience:?}"));
    let mut relay_slot = Err(format!("no relay answer within {patience:?}"));
    let mut asked = false;
    let mut kad_done = false;
    let mut relay_done = false;
    let deadline = tokio::time::Instant::now() + patience;
    while !(kad_done && relay_done) {
        let event = match tokio::time::timeout_at(deadline, swarm.select_next_some()).await {
            Ok(event) => event,
            Err(_) => break,
        };
        match event {
            SwarmEvent::Behaviour(ProbeBehaviourEvent::Identify(identify::Event::Received { peer_id, .. }))
                if peer_id == hub && !asked =>
            {
                asked = true;
                swarm.behaviour_mut().kad.get_closest_peers(PeerId::random());
                swarm.listen_on(hub_addr.clone().with(Protocol::P2pCircuit))?;
            }
            SwarmEvent::Behaviour(ProbeBehaviourEvent::Kad(kad::Event::OutboundQueryProgressed {
                result: kad::QueryResult::GetClosestPeers(result),
                step,
                ..
            })) if step.last => {
                kad_done = true;
                kad_peers = match result {
                    Ok(found) if found.peers.is_empty() => Err("the hub named no peer".into()),
                    Ok(found) => Ok(found.peers.into_iter().map(|p| p.peer_id).collect()),
                    Err(error) => Err(error.to_string()),
                };
            }
            SwarmEvent::Behaviour(ProbeBehaviourEvent::RelayClient(relay::client::Event::ReservationReqAccepted {
                ..
            })) => {
                relay_done = true;
                relay_slot = Ok(());
            }
            SwarmEvent::ListenerClosed { reason, .. } => {
                relay_done = true;
                relay_slot = Err(match reason {
                    Ok(()) => "the relay listener closed".into(),
                    Err(error) => error.to_string(),
                });
            }
            SwarmEvent::ConnectionClosed { peer_id, .. } if peer_id == hub && !asked => {
                kad_done = true;
                relay_done = true;
                kad_peers = Err("the hub closed the connection".into());
                relay_slot = Err("the hub closed the connection".into());
            }
            _ => {}
        }
    }
    Ok(ProbeAnswers { kad_peers, relay_slot })
}
