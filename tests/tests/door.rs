//! A node's door on loopback: connection limits (per peer; incoming connections of peers not
//! let in) refuse what is over them while a member still connects and syncs, and identify
//! answers only peers let in (its answer names the node's listen addresses).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use anyhow::{Context, ensure};
use kith_node::home::Home;
use kith_node::network::{ConnectionCaps, libp2p_keypair};
use kith_tests::cluster::post;
use kith_tests::door_probe::{Crowd, identify_of};
use kith_tests::{Cluster, ClusterOptions, bounded};

const WAIT: Duration = Duration::from_secs(30);

/// The libp2p key of cluster node `i` (read from its home).
fn key_of(cluster: &Cluster, i: usize) -> anyhow::Result<libp2p::identity::Keypair> {
    let key = Home::open(cluster.home(i))?.key_or_create()?;
    libp2p_keypair(key.secret_bytes()).map_err(anyhow::Error::msg)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_over_the_limits_are_refused_while_a_member_still_connects_and_syncs() {
    bounded("connection_limits", Duration::from_secs(120), async {
        let options = ClusterOptions {
            limits: ConnectionCaps { per_peer: 3, outsiders: 2, ..ConnectionCaps::default() },
            ..ClusterOptions::default()
        };
        let mut cluster = Cluster::start_with(3, options).await?;
        let door = cluster.addrs(0).first().cloned().context("node 0 listens")?;

        // A member's key (its node stopped) opening 8 connections at once: 3 kept.
        cluster.stop(2).await?;
        let (_member_crowd, member) = Crowd::open(key_of(&cluster, 2)?, door.clone(), 8, WAIT).await?;
        eprintln!("one member's key, 8 connections: {member:?}");
        ensure!(member.kept == 3 && member.refused == 5, "per-peer limit of 3: {member:?}");

        // Eight outsiders at once, one connection each: at most 2 held at the door together.
        let mut crowds = Vec::new();
        let mut kept = 0;
        let knocks = (0..8).map(|_| Crowd::open(libp2p::identity::Keypair::generate_ed25519(), door.clone(), 1, WAIT));
        for outcome in futures::future::join_all(knocks).await {
            let (crowd, opened) = outcome?;
            kept += opened.kept;
            crowds.push(crowd);
        }
        eprintln!("eight outsiders: {kept} kept");
        ensure!((1..=2).contains(&kept), "outsiders' limit of 2: {kept} kept of 8");

        // Control: while the crowds hold what they got, a member's node comes back, connects
        // and syncs a post published while it was away.
        cluster.stop(1).await?;
        let missed = cluster.publish(0, post("published while node 1 was away")).await?;
        cluster.restart(1).await?;
        let synced = cluster.wait_everywhere(missed.hash(), WAIT).await?;
        eprintln!("node 1 reconnected and synced in {} ms", synced.as_millis());
        drop(crowds);
        cluster.shutdown().await;
        Ok(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identify_answers_a_member_and_not_an_outsider() {
    bounded("identify_gated", Duration::from_secs(90), async {
        let mut cluster = Cluster::start(2).await?;
        let door = cluster.addrs(0).first().cloned().context("node 0 listens")?;
        cluster.stop(1).await?;
        let member = identify_of(key_of(&cluster, 1)?, door.clone(), WAIT).await?;
        let member = member.context("a member gets node 0's identify answer")?;
        ensure!(!member.listen_addrs.is_empty(), "the answer names node 0's addresses: {member:?}");
        let outsider = identify_of(libp2p::identity::Keypair::generate_ed25519(), door, WAIT).await?;
        ensure!(outsider.is_none(), "an outsider got node 0's identify answer: {outsider:?}");
        cluster.shutdown().await;
        Ok(())
    })
    .await;
}
