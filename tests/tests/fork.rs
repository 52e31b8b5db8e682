//! A member signs two different entries at one seq, and each reaches a different half of a
//! split cluster. Once the halves meet again, every node must hold the fork proof and treat
//! the member's log as frozen from that seq on, and the member's own node must refuse to write.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use anyhow::{Context, ensure};
use kith_node::clock::now_ms;
use kith_node::home::Home;
use kith_node::replica::PublishError;
use kith_tests::cluster::post;
use kith_tests::raw_peer::RawPeer;
use kith_tests::{Cluster, bounded, forge, wait_until};

const WAIT: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn double_signed_seq_is_proven_and_frozen_everywhere() {
    bounded("fork_proof_everywhere", Duration::from_secs(120), async {
        let mut cluster = Cluster::start(4).await?;
        let community = cluster.community_id();
        let forker = 3;
        let forker_id = cluster.member(forker);
        // The member's key, as a second copy of it would have it (a key restored elsewhere).
        let key = Home::open(cluster.home(forker))?.key()?.context("the member's key")?;
        let before = cluster.publish(forker, post("an honest post first")).await?;
        cluster.wait_everywhere(before.hash(), WAIT).await?;

        let (left, right) = ([0, 1], [2, 3]);
        cluster.partition(&left, &right).await?;
        let head = cluster.node(forker).replica().community().unwrap().member(&forker_id).unwrap().head.unwrap();
        let seq = head.seq + 1;
        let x = forge::sign(&key, community, seq, Some(head.hash), now_ms(), post("I give my hours to the left"));
        let y = forge::sign(&key, community, seq, Some(head.hash), now_ms() + 1, post("I give my hours to the right"));
        // The left copy of the key goes on writing after the fork.
        let x2 = forge::sign(&key, community, seq + 1, Some(x.hash()), now_ms() + 2, post("and more to the left"));
        ensure!(x.hash() != y.hash());
        // Each entry enters through a different node (a peer that only carries it).
        let left_carrier = RawPeer::start(libp2p::identity::Keypair::generate_ed25519(), community).await?;
        cluster.node(1).allow(left_carrier.peer_id()).await?;
        left_carrier.connect(cluster.addrs(1)[0].clone()).await?;
        let right_carrier = RawPeer::start(libp2p::identity::Keypair::generate_ed25519(), community).await?;
        cluster.node(2).allow(right_carrier.peer_id()).await?;
        right_carrier.connect(cluster.addrs(2)[0].clone()).await?;
        left_carrier.publish(x.bytes().to_vec()).await?;
        right_carrier.publish(y.bytes().to_vec()).await?;
        let holds = |i: usize, hash| cluster.node(i).replica().community().unwrap().holds(&hash);
        wait_until(WAIT, "each half holds its own branch", || {
            left.iter().all(|&i| holds(i, x.hash())) && right.iter().all(|&i| holds(i, y.hash()))
        })
        .await
        .map_err(|e| anyhow::anyhow!("{e}\n{}", cluster.describe()))?;
        left_carrier.publish(x2.bytes().to_vec()).await?;
        wait_until(WAIT, "the left half holds the branch's next entry", || left.iter().all(|&i| holds(i, x2.hash())))
            .await
            .map_err(|e| anyhow::anyhow!("{e}\n{}", cluster.describe()))?;
        ensure!(left.iter().all(|&i| !holds(i, y.hash())) && right.iter().all(|&i| !holds(i, x.hash())));
        left_carrier.stop().await;
        right_carrier.stop().await;

        let healed = std::time::Instant::now();
        cluster.heal_all().await?;
        wait_until(WAIT, "every node holds the fork proof and froze the log", || {
            cluster.running().all(|(_, node)| {
                let replica = node.replica();
                let c = replica.community().unwrap();
                c.forks().any(|(author, _)| *author == forker_id)
                    && c.member(&forker_id).and_then(|m| m.frozen_at) == Some(seq)
            })
        })
        .await
        .map_err(|e| anyhow::anyhow!("{e}\n{}", cluster.describe()))?;
        eprintln!("every node froze the log {:?} after healing", healed.elapsed());
        cluster.wait_converged(WAIT).await?;

        for (i, node) in cluster.running() {
            let replica = node.replica();
            let c = replica.community().unwrap();
            let (_, proof) = c.forks().find(|(author, _)| **author == forker_id).unwrap();
            let fork = proof.verify().map_err(|e| anyhow::anyhow!("node {i}'s proof does not hold: {e}"))?;
            ensure!(fork.author == forker_id && fork.seq == seq);
            let member = c.member(&forker_id).unwrap();
            ensure!(member.head.map(|h| h.hash) == Some(before.hash()), "node {i}: the log counts up to the fork only");
            ensure!(c.post(&x.hash()).is_none() && c.post(&y.hash()).is_none(), "node {i} shows a forked post");
            ensure!(c.post(&before.hash()).is_some(), "node {i} lost the honest post");
            ensure!(member.admitted, "a fork does not ban anyone: organisers decide");
        }
        // The member's own node refuses to write on a frozen log; the others carry on.
        let refused = cluster.publish(forker, post("more")).await;
        ensure!(
            matches!(
                refused.as_ref().map_err(|e| e.root_cause().downcast_ref::<PublishError>()),
                Err(Some(PublishError::Frozen))
            ),
            "the forker's node should refuse to write: {refused:?}"
        );
        let later = cluster.publish(0, post("life goes on")).await?;
        cluster.wait_everywhere(later.hash(), WAIT).await?;
        cluster.wait_converged(WAIT).await?;
        // The proof and the freeze survive a restart (node 1 had applied the left branch).
        cluster.stop(1).await?;
        cluster.restart(1).await?;
        {
            let replica = cluster.node(1).replica();
            let c = replica.community().unwrap();
            ensure!(c.member(&forker_id).and_then(|m| m.frozen_at) == Some(seq), "node 1 forgot the fork on restart");
            ensure!(c.post(&x.hash()).is_none() && c.post(&x2.hash()).is_none());
        }
        cluster.wait_converged(WAIT).await?;
        cluster.shutdown().await;
        Ok(())
    })
    .await;
}
