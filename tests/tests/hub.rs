//! Community hubs on loopback: a hub joins with an invite, an organiser appoints it, and it
//! stores and forwards — two homes that are never online at the same time, and never connected
//! to each other, exchange a post through it while the organiser is offline. The homes find
//! the hub again after a restart from what they remember. The hub answers Kademlia queries
//! and grants relay slots to members only.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use anyhow::{Context, ensure};
use kith_node::home::Home;
use kith_node::network::libp2p_keypair;
use kith_protocol::{Body, Role};
use kith_tests::cluster::post;
use kith_tests::hub_probe::probe_hub;
use kith_tests::{Cluster, bounded, wait_until, wait_until_async};

const WAIT: Duration = Duration::from_secs(30);
/// How long the probe waits for each answer from the hub.
const PROBE: Duration = Duration::from_secs(4);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hub_carries_posts_between_homes_that_are_never_online_together() {
    bounded("hub_store_and_forward", Duration::from_secs(120), async {
        // 0: the organiser (founder); 1: Ann's home; 2: Ben's home.
        let mut cluster = Cluster::start(3).await?;
        let invite = cluster.invite(0, Duration::from_secs(600), 1)?;
        let (_hub_dir, hub) = cluster.start_newcomer(0, "Library hub", Some(invite), true).await?;
        let hub_id = hub.member_id();
        wait_until(WAIT, "the organiser hears the hub's join request", || {
            cluster.node(0).replica().community().is_some_and(|c| c.member(&hub_id).is_some())
        })
        .await?;
        cluster.publish(0, Body::Appoint { member: hub_id, role: Role::Hub }).await?;
        wait_until(WAIT, "every node knows the hub as the community's hub", || {
            let is_hub = |node: &kith_node::Node| {
                node.replica().community().and_then(|c| c.member(&hub_id).map(|m| m.hub)).unwrap_or(false)
            };
            is_hub(&hub) && cluster.running().all(|(_, node)| is_hub(node))
        })
        .await?;

        // The homes only ever talk through the hub, and the organiser goes offline.
        cluster.isolate(1, 2).await?;
        for home in [1, 2] {
            for addr in hub.listen_addrs() {
                cluster.node(home).dial(addr).await?;
            }
        }
        let hub_peer = hub.peer_id().to_string();
        wait_until_async(WAIT, "both homes are connected to the hub", || async {
            let mut both = true;
            for home in [1, 2] {
                both &= cluster.node(home).peers().await.iter().any(|p| p.peer_id == hub_peer);
            }
            both
        })
        .await?;
        cluster.stop(0).await?;

        // Ben goes offline; Ann posts; the hub keeps it; Ann goes offline; Ben comes back.
        cluster.stop(2).await?;
        let offer = cluster.publish(1, post("Lift to the surgery on Tuesday")).await?;
        wait_until(WAIT, "the hub stores Ann's offer", || {
            hub.replica().store().get(&offer.hash()).ok().flatten().is_some()
        })
        .await?;
        cluster.stop(1).await?;
        cluster.restart(2).await?;
        let crossed = wait_until(WAIT, "Ben gets Ann's offer from the hub while Ann is offline", || {
            cluster.node(2).replica().store().get(&offer.hash()).ok().flatten().is_some()
        })
        .await?;
        eprintln!("store and forward: Ben had Ann's offer {} ms after coming back", crossed.as_millis());
        let ben_peers = cluster.node(2).peers().await;
        ensure!(
            ben_peers.iter().all(|p| p.peer_id != cluster.peer_id(1).to_string()),
            "Ben must not have reached Ann directly: {ben_peers:?}"
        );

        // What the hub serves: a member (Ann's key, her node stopped) gets Kademlia answers and
        // a relay slot; an outsider who knows the hub's address gets neither.
        let hub_addr = hub.listen_addrs().into_iter().next().context("the hub listens")?;
        let ann_key = Home::open(cluster.home(1))?.key_or_create()?;
        let ann_key = libp2p_keypair(ann_key.secret_bytes()).map_err(anyhow::Error::msg)?;
        let member = probe_hub(ann_key, hub_addr.clone(), PROBE).await?;
        ensure!(member.kad_peers.is_ok(), "a member gets Kademlia answers from the hub: {member:?}");
        ensure!(member.relay_slot.is_ok(), "a member gets a relay slot at the hub: {member:?}");
        let outsider = probe_hub(libp2p::identity::Keypair::generate_ed25519(), hub_addr, PROBE).await?;
        ensure!(outsider.kad_peers.is_err(), "an outsider must get no Kademlia answer: {outsider:?}");
        ensure!(outsider.relay_slot.is_err(), "an outsider must get no relay slot: {outsider:?}");
        eprintln!("hub refused the outsider: {outsider:?}");

        hub.shutdown().await?;
        cluster.shutdown().await;
        Ok(())
    })
    .await;
}
