//! Announcements across running nodes: a member who is no organiser signs one anyway (as a
//! modified node would) and it reaches every node; each keeps it aside unseen, waiting for an
//! appointment. Once the founder appoints that member (by gossip), every node shows it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use anyhow::Context;
use kith_node::clock::now_ms;
use kith_node::replica::Received;
use kith_protocol::{Body, Draft, Entry, Role, Wait};
use kith_tests::{Cluster, bounded, wait_until};

const WAIT: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_members_announcement_is_shown_by_no_node_until_they_are_appointed() {
    bounded("announcement", Duration::from_secs(120), async {
        let cluster = Cluster::start(3).await?;
        let bob = cluster.member(1);
        // Bob's node is no organiser's: its own check refuses to write the notice.
        let body = Body::Announcement { title: "Free cake".into(), text: "At mine".into(), until: None };
        let refused = cluster.publish(1, body.clone()).await;
        assert!(format!("{:#}", refused.err().context("the node must refuse")?).contains("organiser"));

        // Signed anyway with Bob's key, as the next entry of his log, and given to every node.
        let forged = {
            let replica = cluster.node(1).replica();
            let head = replica.store().head(&bob)?.context("Bob's log")?;
            let draft = Draft {
                community: Some(cluster.community_id()),
                seq: head.0 + 1,
                prev: Some(head.1),
                timestamp_ms: now_ms(),
                body,
            };
            Entry::sign(replica.keypair(), draft)?
        };
        for (i, node) in cluster.running() {
            let received = node.replica().receive(forged.clone(), now_ms());
            assert!(
                matches!(received, Received::Pending(Wait::Appointment { member }) if member == bob),
                "node {i} took it: {received:?}"
            );
            let replica = node.replica();
            let community = replica.community().context("a community")?;
            assert!(community.current_announcements(now_ms()).is_empty(), "node {i} shows it");
        }

        // The founder appoints Bob: the kept-aside notice counts everywhere.
        cluster.publish(0, Body::Appoint { member: bob, role: Role::Organiser }).await?;
        wait_until(WAIT, "every node shows Bob's notice once he is an organiser", || {
            cluster.running().all(|(_, node)| {
                node.replica()
                    .community()
                    .is_some_and(|c| c.current_announcements(now_ms()).iter().any(|(hash, _)| *hash == forged.hash()))
            })
        })
        .await?;
        Ok(())
    })
    .await;
}
