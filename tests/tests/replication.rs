//! Multi-node replication tests: five nodes converge on what each published; a node that was
//! offline while 500 entries were written catches up; a six-node cluster split in two halves
//! converges once healed.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use anyhow::ensure;
use kith_protocol::{Body, EntryHash, MemberId};
use kith_tests::cluster::{post, reply, transfer};
use kith_tests::{Cluster, bounded, wait_until};

const LIMIT: Duration = Duration::from_secs(120);
const WAIT: Duration = Duration::from_secs(60);

/// Every running node: the post is known, its views in the store, with `replies` replies.
fn assert_post_everywhere(cluster: &Cluster, post: EntryHash, replies: u32) {
    for (i, node) in cluster.running() {
        let replica = node.replica();
        let community = replica.community().unwrap();
        let state = community.post(&post).unwrap_or_else(|| panic!("node {i} lacks post {}", post.short()));
        assert_eq!(state.replies, replies, "replies to {} on node {i}", post.short());
        let view = replica.store().post(community, &post).unwrap();
        assert!(view.is_some(), "node {i} has no stored view of post {}", post.short());
        assert_eq!(replica.store().replies(&post).unwrap().len(), replies as usize, "stored replies on node {i}");
    }
}

/// Every running node: the transfer is claimed, and the payer's and payee's balances are these.
fn assert_claimed_everywhere(cluster: &Cluster, transfer: EntryHash) {
    for (i, node) in cluster.running() {
        let replica = node.replica();
        let community = replica.community().unwrap();
        let state =
            community.transfer(&transfer).unwrap_or_else(|| panic!("node {i} lacks transfer {}", transfer.short()));
        assert!(state.claimed_by.is_some(), "transfer {} unclaimed on node {i}", transfer.short());
        let view = replica.store().transfer(community, &transfer).unwrap().unwrap();
        assert!(view.claim.is_some(), "stored transfer view without its claim on node {i}");
    }
}

fn balance(cluster: &Cluster, on: usize, of: MemberId) -> i64 {
    cluster.node(on).replica().community().unwrap().member(&of).map_or(0, |m| m.balance_minutes)
}

fn all_claimed(cluster: &Cluster, transfers: &[EntryHash]) -> bool {
    cluster.running().all(|(_, node)| {
        let replica = node.replica();
        let Some(community) = replica.community() else { return false };
        transfers.iter().all(|t| community.transfer(t).is_some_and(|t| t.claimed_by.is_some()))
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_nodes_converge_on_posts_replies_vouches_and_transfers() {
    bounded("five_nodes_converge", LIMIT, async {
        let cluster = Cluster::start(5).await?;
        let lifts = cluster.publish(1, post("lifts to the surgery")).await?;
        let shopping = cluster.publish(3, post("help with shopping")).await?;
        let knitting = cluster.publish(0, post("knitting at the library")).await?;
        cluster.wait_everywhere(lifts.hash(), WAIT).await?;
        cluster.wait_everywhere(shopping.hash(), WAIT).await?;
        let replies = [
            cluster.publish(4, reply(lifts.hash(), "I can drive on Tuesday")).await?,
            cluster.publish(2, reply(lifts.hash(), "me too")).await?,
            cluster.publish(0, reply(shopping.hash(), "I'll come")).await?,
        ];
        // A second vouch for node 2 (node 0's already admitted it).
        cluster.publish(1, Body::Vouch { member: cluster.member(2), note: "my neighbour".into() }).await?;
        let transfers = [
            cluster.publish(2, transfer(cluster.member(1), 60, "lift to the surgery")).await?.hash(),
            cluster.publish(4, transfer(cluster.member(3), 60, "shopping")).await?.hash(),
            cluster.publish(0, transfer(cluster.member(4), 60, "thanks")).await?.hash(),
        ];
        wait_until(WAIT, "every transfer is claimed on every node", || all_claimed(&cluster, &transfers))
            .await
            .map_err(|e| anyhow::anyhow!("{e}\n{}", cluster.describe()))?;
        let took = cluster.wait_converged(WAIT).await?;
        eprintln!("converged {took:?} after the last claim was seen");
        for r in &replies {
            cluster.wait_everywhere(r.hash(), WAIT).await?;
        }
        assert_post_everywhere(&cluster, lifts.hash(), 2);
        assert_post_everywhere(&cluster, shopping.hash(), 1);
        assert_post_everywhere(&cluster, knitting.hash(), 0);
        for t in transfers {
            assert_claimed_everywhere(&cluster, t);
        }
        for i in 0..cluster.len() {
            assert_eq!(balance(&cluster, i, cluster.member(1)), 60);
            assert_eq!(balance(&cluster, i, cluster.member(2)), -60);
            assert_eq!(balance(&cluster, i, cluster.member(3)), 60);
            assert_eq!(balance(&cluster, i, cluster.member(4)), 0);
            assert_eq!(balance(&cluster, i, cluster.member(0)), -60);
            let community = cluster.node(i).replica().community().unwrap().clone();
            let vouchers = &community.member(&cluster.member(2)).unwrap().vouched_by;
            assert!(vouchers.contains(&cluster.member(0)) && vouchers.contains(&cluster.member(1)));
        }
        cluster.shutdown().await;
        Ok(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_far_behind_catches_up_in_its_peer_s_order() {
    bounded("far_behind_catches_up", LIMIT, async {
        let mut cluster = Cluster::start(3).await?;
        cluster.stop(2).await?;
        // Posts by node 0 and replies to them by node 1: log by log, replies would wait for
        // their posts; in the order node 0 applied them, nothing waits.
        let mut offers = Vec::new();
        for i in 0..700 {
            offers.push(cluster.publish(0, post(&format!("offer {i}"))).await?.hash());
        }
        cluster.wait_converged(WAIT).await?;
        let mut last = None;
        for (i, offer) in offers.into_iter().enumerate() {
            last = Some(cluster.publish(1, reply(offer, &format!("thanks for offer {i}"))).await?.hash());
        }
        cluster.wait_converged(WAIT).await?;
        cluster.restart(2).await?;
        let mut most_waiting = 0;
        wait_until(WAIT, "the restarted node holds everything", || {
            let replica = cluster.node(2).replica();
            let community = replica.community().unwrap();
            most_waiting = most_waiting.max(community.pending_count());
            community.holds(&last.unwrap()) && community.posts().count() == 700
        })
        .await?;
        cluster.wait_converged(WAIT).await?;
        let pages = cluster.node(2).stats().ordered_pages;
        eprintln!("caught up in {pages} ordered pages; at most {most_waiting} entries waited");
        ensure!(pages >= 2, "the node did not catch up in its peer's order ({pages} pages)");
        ensure!(most_waiting < 64, "{most_waiting} entries waited aside during an ordered catch-up");
        cluster.shutdown().await;
        Ok(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offline_node_catches_up_on_500_entries() {
    bounded("offline_node_catches_up", LIMIT, async {
        let mut cluster = Cluster::start(3).await?;
        cluster.stop(2).await?;
        let start = std::time::Instant::now();
        let mut last = None;
        for i in 0..500 {
            last = Some(cluster.publish(i % 2, post(&format!("post number {i}"))).await?.hash());
        }
        eprintln!("published 500 entries in {:?}", start.elapsed());
        cluster.wait_converged(WAIT).await?;
        let last = last.unwrap();
        let restarted = std::time::Instant::now();
        cluster.restart(2).await?;
        cluster.wait_converged(WAIT).await?;
        eprintln!("the restarted node caught up in {:?}", restarted.elapsed());
        {
            let replica = cluster.node(2).replica();
            let community = replica.community().unwrap();
            assert_eq!(community.posts().count(), 500);
            assert_eq!(replica.store().posts(community).unwrap().len(), 500);
            assert!(community.holds(&last));
        }
        cluster.shutdown().await;
        Ok(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partitioned_halves_converge_after_healing() {
    bounded("partitioned_halves_converge", LIMIT, async {
        let mut cluster = Cluster::start(6).await?;
        let (left, right) = ([0, 1, 2], [3, 4, 5]);
        cluster.partition(&left, &right).await?;
        // Left side: posts, a reply, a transfer inside the side and one across.
        let left_post = cluster.publish(0, post("left: garden work")).await?;
        let left_post2 = cluster.publish(1, post("left: dog walking")).await?;
        cluster.wait_converged_among(&left, WAIT).await?;
        let left_reply = cluster.publish(2, reply(left_post.hash(), "I'll dig")).await?;
        let left_inside = cluster.publish(1, transfer(cluster.member(2), 60, "dug")).await?.hash();
        let left_across = cluster.publish(2, transfer(cluster.member(4), 60, "across")).await?.hash();
        // Right side, at the same time.
        let right_post = cluster.publish(3, post("right: soup")).await?;
        cluster.wait_converged_among(&right, WAIT).await?;
        let right_reply = cluster.publish(5, reply(right_post.hash(), "leek please")).await?;
        let right_inside = cluster.publish(4, transfer(cluster.member(3), 60, "soup")).await?.hash();
        let right_across = cluster.publish(5, transfer(cluster.member(0), 60, "across")).await?.hash();
        cluster.wait_converged_among(&left, WAIT).await?;
        cluster.wait_converged_among(&right, WAIT).await?;
        // Nothing crossed the cut.
        for &i in &right {
            assert!(
                !cluster.node(i).replica().community().unwrap().holds(&left_post.hash()),
                "node {i} saw across the cut"
            );
        }
        for &i in &left {
            assert!(
                !cluster.node(i).replica().community().unwrap().holds(&right_post.hash()),
                "node {i} saw across the cut"
            );
        }
        assert!(!cluster.converged(), "the halves should differ while cut");
        let healed = std::time::Instant::now();
        cluster.heal_all().await?;
        let transfers = [left_inside, left_across, right_inside, right_across];
        wait_until(WAIT, "every transfer is claimed on every node", || all_claimed(&cluster, &transfers))
            .await
            .map_err(|e| anyhow::anyhow!("{e}\n{}", cluster.describe()))?;
        cluster.wait_converged(WAIT).await?;
        eprintln!("converged {:?} after healing", healed.elapsed());
        for entry in [&left_post2, &left_reply, &right_reply] {
            cluster.wait_everywhere(entry.hash(), WAIT).await?;
        }
        assert_post_everywhere(&cluster, left_post.hash(), 1);
        assert_post_everywhere(&cluster, right_post.hash(), 1);
        for t in transfers {
            assert_claimed_everywhere(&cluster, t);
        }
        for i in 0..cluster.len() {
            assert_eq!(balance(&cluster, i, cluster.member(4)), 0); // +60 across, -60 inside
            assert_eq!(balance(&cluster, i, cluster.member(0)), 60);
            assert_eq!(balance(&cluster, i, cluster.member(5)), -60);
        }
        cluster.shutdown().await;
        Ok(())
    })
    .await;
}
