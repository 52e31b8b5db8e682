//! A raw libp2p peer, connected to node A only, publishes forged, oversized, wrong-community,
//! out-of-order and over-the-credit-limit entries on the community's topic. None may be stored
//! as valid on A, none may reach node B (A's only other peer), and both keep working.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use anyhow::{Context, ensure};
use kith_node::clock::now_ms;
use kith_node::network::NodeEvent;
use kith_protocol::{Body, CommunityId, EntryHash};
use kith_tests::cluster::{post, transfer};
use kith_tests::raw_peer::RawPeer;
use kith_tests::{Cluster, bounded, forge, wait_until};
use tokio::sync::broadcast;

const WAIT: Duration = Duration::from_secs(30);
const A: usize = 0;
const B: usize = 1;

/// Drains an event receiver: how many `Rejected` events it held.
fn rejections(events: &mut broadcast::Receiver<NodeEvent>) -> Vec<String> {
    let mut out = Vec::new();
    while let Ok(event) = events.try_recv() {
        if let NodeEvent::Rejected { reason, .. } = event {
            out.push(reason);
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_peer_cannot_store_or_spread_bad_entries() {
    bounded("hostile_peer", Duration::from_secs(120), async {
        let cluster = Cluster::start(2).await?;
        let community = cluster.community_id();
        let founder = cluster.member(A);
        let mut a_events = cluster.node(A).events();
        let mut b_events = cluster.node(B).events();

        // The raw peer's key is a member key (its peer id is that member), so its transfers are
        // judged by the credit rule, not left waiting for an admission.
        let raw_key = forge::random_keypair();
        let raw_libp2p = kith_node::network::libp2p_keypair(raw_key.secret_bytes()).map_err(anyhow::Error::msg)?;
        let raw = RawPeer::start(raw_libp2p.clone(), community).await?;
        // Let in as a newcomer with an invite would be: the gate is not what this test is about.
        cluster.node(A).allow(raw.peer_id()).await?;
        raw.connect(cluster.addrs(A)[0].clone()).await?;
        // Its join request carries an invite of the founder's, as a newcomer's does.
        let invite = kith_node::invite::Invite::decode(&cluster.invite(A, Duration::from_secs(3600), 1)?)
            .map_err(|e| anyhow::anyhow!("{e}"))?
            .capability
            .to_bytes();
        let profile =
            forge::sign(&raw_key, community, 1, None, now_ms(), Body::JoinRequest { invite, name: "Mallory".into() });
        raw.publish(profile.bytes().to_vec()).await?;
        cluster.wait_everywhere(profile.hash(), WAIT).await?;
        cluster.publish(A, Body::Vouch { member: raw_key.member_id(), note: "seems fine".into() }).await?;
        wait_until(WAIT, "the raw peer is a member on B", || {
            cluster.node(B).replica().community().unwrap().is_member(&raw_key.member_id())
        })
        .await?;

        // The raw peer's own valid post first: a member's entry refused at the next place of
        // their log keeps that place (a sibling there would be a fork), so the over-limit
        // payment below comes after it.
        let honest = forge::sign(&raw_key, community, 2, Some(profile.hash()), now_ms(), post("a real offer"));
        raw.publish(honest.bytes().to_vec()).await?;
        cluster.wait_everywhere(honest.hash(), WAIT).await?;

        // The bad entries.
        let (founder_head_seq, founder_head_hash) = {
            let replica = cluster.node(A).replica();
            let head = replica.community().unwrap().member(&founder).unwrap().head.unwrap();
            (head.seq, head.hash)
        };
        let fake_post = post("free money, ask the founder");
        let header =
            forge::header_for(founder, community, founder_head_seq + 1, Some(founder_head_hash), now_ms(), &fake_post);
        let (forged, forged_hash) = forge::impersonate(&raw_libp2p, &header, &fake_post);
        let (oversized, oversized_hash) = forge::oversized(&raw_key, community, 2, Some(profile.hash()), 4700);
        let elsewhere =
            forge::sign(&raw_key, CommunityId([7; 32]), 2, Some(profile.hash()), now_ms(), post("another street"));
        let out_of_order =
            forge::sign(&raw_key, community, 9, Some(EntryHash([5; 32])), now_ms(), post("from the future log"));
        let over_limit =
            forge::sign(&raw_key, community, 3, Some(honest.hash()), now_ms(), transfer(founder, 601, "all of it"));
        // Far past the gossip transport's limit: dropped before the node even decodes it.
        let (huge, huge_hash) = forge::oversized(&raw_key, community, 2, Some(profile.hash()), 100_000);
        let bad: Vec<(&str, Vec<u8>, EntryHash)> = vec![
            ("forged", forged, forged_hash),
            ("oversized", oversized, oversized_hash),
            ("wrong community", elsewhere.bytes().to_vec(), elsewhere.hash()),
            ("out of order", out_of_order.bytes().to_vec(), out_of_order.hash()),
            ("over the credit limit", over_limit.bytes().to_vec(), over_limit.hash()),
        ];
        for (what, bytes, _) in &bad {
            raw.publish(bytes.clone()).await.with_context(|| format!("publishing the {what} entry"))?;
        }
        // A judges each one: four rejections with a reason, the out-of-order entry kept aside.
        let mut a_rejections = Vec::new();
        wait_until(WAIT, "A rejected the four invalid entries and kept the out-of-order one aside", || {
            a_rejections.extend(rejections(&mut a_events));
            let pending =
                cluster.node(A).replica().community().unwrap().pending().any(|(e, _)| e.hash() == out_of_order.hash());
            a_rejections.len() >= 4 && pending
        })
        .await
        .with_context(|| format!("A's rejections so far: {a_rejections:?}"))?;
        eprintln!("A's reasons: {a_rejections:#?}");

        // Honest traffic afterwards: posts from A and B.
        let from_a = cluster.publish(A, post("A still works")).await?;
        let from_b = cluster.publish(B, post("B still works")).await?;
        for hash in [from_a.hash(), from_b.hash()] {
            cluster.wait_everywhere(hash, WAIT).await?;
        }
        wait_until(WAIT, "the raw peer hears B's post through A", || {
            raw.received().iter().any(|m| m.as_slice() == from_b.bytes())
        })
        .await?;
        // The huge message comes last and alone: A's gossip codec refuses the whole frame before
        // the node sees it, and drops the stream it came on (with whatever the raw peer had
        // queued behind it). A and B carry on.
        raw.publish(huge).await.context("publishing the huge entry")?;
        let after_huge = cluster.publish(A, post("A after the huge message")).await?;
        cluster.wait_everywhere(after_huge.hash(), WAIT).await?;
        cluster.wait_converged(WAIT).await?;

        let mut judged: Vec<(&str, EntryHash)> = bad.iter().map(|(what, _, hash)| (*what, *hash)).collect();
        judged.push(("huge", huge_hash));
        for (what, hash) in &judged {
            for node in [A, B] {
                let replica = cluster.node(node).replica();
                ensure!(replica.store().get(hash)?.is_none(), "the {what} entry is stored on node {node}");
                let community = replica.community().unwrap();
                ensure!(!community.holds(hash), "the {what} entry is held on node {node}");
                ensure!(replica.store().post(community, hash)?.is_none(), "the {what} entry has a view on node {node}");
            }
            let b = cluster.node(B).replica();
            ensure!(
                !b.community().unwrap().pending().any(|(e, _)| e.hash() == *hash),
                "the {what} entry reached B's pending area"
            );
            ensure!(
                b.store().pending()?.iter().all(|e| e.hash() != *hash),
                "the {what} entry is in B's stored pending area"
            );
        }
        let b_rejections = rejections(&mut b_events);
        ensure!(b_rejections.is_empty(), "B was sent bad entries: {b_rejections:?}");
        // The balances did not move, the raw member's log holds only what was valid.
        {
            let a = cluster.node(A).replica();
            let community_a = a.community().unwrap();
            ensure!(community_a.member(&raw_key.member_id()).unwrap().balance_minutes == 0);
            ensure!(community_a.member(&raw_key.member_id()).unwrap().head.map(|h| h.seq) == Some(2));
            ensure!(community_a.member(&founder).unwrap().head.map(|h| h.hash) == Some(after_huge.hash()));
        }
        ensure!(raw.is_connected(&cluster.peer_id(A)), "A cut the raw peer off for a handful of bad entries");
        raw.stop().await;
        cluster.shutdown().await;
        Ok(())
    })
    .await;
}
