//! Membership gating on loopback: outsiders get nothing (no entry, no head, no gossip) and are
//! disconnected, and an entry a node would store from anyone let in (a member's, carried by an
//! outsider once connected) is not stored — the same entry carried by a peer let in is, within
//! the same wait; every "did not happen" wait has such a control; a newcomer with a valid invite gets in and its join request reaches the
//! members, and stays let in across a restart; expired, used-up (also after a restart) and
//! revoked invites are refused; a suspended member is cut off.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use anyhow::{Context, ensure};
use kith_node::Node;
use kith_node::clock::now_ms;
use kith_node::invite::Invite;
use kith_node::network::{AUTHORISE_WITHIN, NodeEvent};
use kith_protocol::{Body, MemberId};
use kith_tests::cluster::post;
use kith_tests::raw_peer::RawPeer;
use kith_tests::{Cluster, bounded, forge, wait_until, wait_until_async};
use libp2p::PeerId;
use tempfile::TempDir;
use tokio::sync::broadcast;

const WAIT: Duration = Duration::from_secs(30);
/// Long enough for a refused peer to have been disconnected, with margin.
const PAST_THE_DOOR: Duration = Duration::from_secs(7);

/// A node that tries to join node 0's community, with `invite` (a line) or none.
async fn newcomer(cluster: &Cluster, name: &str, invite: Option<String>) -> anyhow::Result<(TempDir, Node)> {
    cluster.start_newcomer(0, name, invite, false).await
}

/// Whether any member node knows `who` at all (its profile, i.e. its join request, arrived).
fn known_to_members(cluster: &Cluster, who: MemberId) -> bool {
    cluster.running().any(|(_, node)| node.replica().community().is_some_and(|c| c.member(&who).is_some()))
}

/// Whether `node` disconnected `peer` (a `PeerDisconnected` event for it is in `events`).
fn disconnected(events: &mut broadcast::Receiver<NodeEvent>, peer: PeerId) -> bool {
    let peer = peer.to_string();
    std::iter::from_fn(|| events.try_recv().ok())
        .any(|e| matches!(e, NodeEvent::PeerDisconnected { peer_id } if peer_id == peer))
}

/// Checks that a newcomer got nothing of the community and its join request reached no one.
async fn assert_refused(cluster: &Cluster, node: &Node, what: &str, publisher: usize) -> anyhow::Result<()> {
    assert_refused_at(cluster, 0, node, what, publisher).await
}

/// Checks that cluster node `door` refused a newcomer and it got nothing of the community.
async fn assert_refused_at(
    cluster: &Cluster,
    door: usize,
    node: &Node,
    what: &str,
    publisher: usize,
) -> anyhow::Result<()> {
    let mut events = cluster.node(door).events();
    cluster.publish(publisher, post(&format!("while {what} waits"))).await?;
    let peer = node.peer_id();
    wait_until(PAST_THE_DOOR + Duration::from_secs(3), "the node disconnects the refused newcomer", || {
        disconnected(&mut events, peer)
    })
    .await?;
    ensure!(node.replica().community().is_none(), "{what}: got the community's Genesis");
    ensure!(node.stats().gossip_received == 0, "{what}: received gossip");
    ensure!(!known_to_members(cluster, node.member_id()), "{what}: its join request reached the members");
    Ok(())
}

/// Publishes `bytes` from `raw` every 100 ms (a gossip publish needs the node's subscription,
/// which a node only shows to peers it lets in) until `until` holds or `within` has passed.
async fn keep_publishing(raw: &RawPeer, bytes: &[u8], within: Duration, mut until: impl FnMut() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + within;
    while tokio::time::Instant::now() < deadline {
        if until() {
            return true;
        }
        let _ = raw.publish(bytes.to_vec()).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    until()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outsider_gets_nothing_and_is_disconnected() {
    bounded("outsider", Duration::from_secs(90), async {
        let cluster = Cluster::start(2).await?;
        let mut events = cluster.node(0).events();
        // An entry node 0 would store from anyone who gossips it: its author is a member (the
        // founder vouched for them), its signature good. Only the gate stands in its way.
        let member = forge::random_keypair();
        let vouch = cluster.publish(0, Body::Vouch { member: member.member_id(), note: String::new() }).await?;
        cluster.wait_everywhere(vouch.hash(), WAIT).await?;
        let entry = forge::sign(&member, cluster.community_id(), 1, None, now_ms(), post("carried in"));
        let held = || cluster.node(0).replica().community().is_some_and(|c| c.holds(&entry.hash()));

        // A raw gossipsub peer with a fresh key (an outsider) carries it, once connected, until
        // it is cut off; and a full node with no invite knocks too.
        let raw = RawPeer::start(libp2p::identity::Keypair::generate_ed25519(), cluster.community_id()).await?;
        let node0 = raw.dial(cluster.addrs(0)[0].clone()).await?;
        wait_until(WAIT, "the raw peer is connected to node 0", || raw.is_connected(&node0)).await?;
        let (_dir, outsider) = newcomer(&cluster, "outsider", None).await?;
        for i in 0..5 {
            cluster.publish(1, post(&format!("private {i}"))).await?;
        }
        let ended = keep_publishing(&raw, entry.bytes(), PAST_THE_DOOR, || held() || !raw.is_connected(&node0)).await;
        ensure!(!held(), "node 0 stored the entry an outsider carried");
        ensure!(ended, "node 0 kept the outsider connected past the door");
        let raw_peer = raw.peer_id();
        wait_until(PAST_THE_DOOR, "node 0 disconnects the raw peer", || disconnected(&mut events, raw_peer)).await?;
        ensure!(raw.received().is_empty(), "the raw peer received {} gossip messages", raw.received().len());
        ensure!(!raw.saw_subscribed(&cluster.peer_id(0)), "the outsider learnt the community's topic");
        assert_refused(&cluster, &outsider, "the outsider", 1).await?;
        ensure!(!held(), "node 0 stored the entry an outsider carried");

        // The control: the same entry, carried the same way by a peer let in (the member's own
        // key), is stored within the same wait.
        let libp2p_key = kith_node::network::libp2p_keypair(member.secret_bytes()).map_err(anyhow::Error::msg)?;
        let insider = RawPeer::start(libp2p_key, cluster.community_id()).await?;
        insider.dial(cluster.addrs(0)[0].clone()).await?;
        ensure!(keep_publishing(&insider, entry.bytes(), PAST_THE_DOOR, held).await, "the control: not stored");
        outsider.shutdown().await?;
        raw.stop().await;
        insider.stop().await;
        cluster.shutdown().await;
        Ok(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn newcomer_with_invite_gets_in() {
    bounded("invite_ok", Duration::from_secs(60), async {
        let cluster = Cluster::start(2).await?;
        let invite = cluster.invite(0, Duration::from_secs(600), 1)?;
        let (_dir, alice) = newcomer(&cluster, "alice", Some(invite)).await?;
        let alice_id = alice.member_id();
        let took = wait_until(WAIT, "alice's join request reaches node 1", || {
            cluster.node(1).replica().community().is_some_and(|c| c.member(&alice_id).is_some())
        })
        .await?;
        eprintln!("[gating] a newcomer's join request reached another member in {took:?}");
        alice.shutdown().await?;
        cluster.shutdown().await;
        Ok(())
    })
    .await;
}

/// Uses are counted by each member node for itself: one member node here, so that the second
/// newcomer can only try node 0 (and Alice's node, which as a non-member lets no one in).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invite_s_uses_count_across_the_community() {
    bounded("invite_uses_community", Duration::from_secs(60), async {
        let cluster = Cluster::start(2).await?;
        let invite = cluster.invite(0, Duration::from_secs(600), 1)?;
        let id = Invite::decode(&invite)?.capability.id();
        let (_a_dir, alice) = cluster.start_newcomer(0, "alice", Some(invite.clone()), false).await?;
        let alice_id = alice.member_id();
        wait_until(WAIT, "node 1 learns from node 0's log that alice used the invite", || {
            cluster.node(1).replica().community().is_some_and(|c| c.invite_users(&id).any(|m| *m == alice_id))
        })
        .await?;
        // Bob brings the same one-use invite to node 1, which never let anyone in itself.
        let (_b_dir, bob) = cluster.start_newcomer(1, "bob", Some(invite), false).await?;
        assert_refused_at(&cluster, 1, &bob, "a one-use invite used at another node", 0).await?;
        bob.shutdown().await?;
        alice.shutdown().await?;
        cluster.shutdown().await;
        Ok(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn used_up_invite_is_refused_also_after_a_restart() {
    bounded("invite_used_up", Duration::from_secs(60), async {
        let mut cluster = Cluster::start(1).await?;
        let invite = cluster.invite(0, Duration::from_secs(600), 1)?;
        let (_a_dir, alice) = newcomer(&cluster, "alice", Some(invite.clone())).await?;
        let alice_id = alice.member_id();
        wait_until(WAIT, "alice's join request reaches node 0", || known_to_members(&cluster, alice_id)).await?;
        // Node 0 restarts: it still lets Alice in (no second use), and still counts her use.
        cluster.stop(0).await?;
        cluster.restart(0).await?;
        alice.dial(cluster.addrs(0)[0].clone()).await?;
        let (node0, alice_peer) = (cluster.peer_id(0), alice.peer_id());
        wait_until_async(WAIT, "alice reconnects to node 0", || lists(&alice, node0)).await?;
        // The control: an outsider connected at the same moment is let go within the same wait,
        // so the wait is long enough to see node 0 let alice go, had it not counted her in.
        let knocker = RawPeer::start(libp2p::identity::Keypair::generate_ed25519(), cluster.community_id()).await?;
        knocker.dial(cluster.addrs(0)[0].clone()).await?;
        tokio::time::sleep(AUTHORISE_WITHIN + Duration::from_secs(1)).await;
        ensure!(!lists(cluster.node(0), knocker.peer_id()).await, "the control: node 0 kept an outsider");
        knocker.stop().await;
        ensure!(lists(cluster.node(0), alice_peer).await, "node 0 let alice go after its restart");
        let (_b_dir, bob) = newcomer(&cluster, "bob", Some(invite)).await?;
        assert_refused(&cluster, &bob, "a used-up invite", 0).await?;
        bob.shutdown().await?;
        alice.shutdown().await?;
        cluster.shutdown().await;
        Ok(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_invite_is_refused() {
    bounded("invite_expired", Duration::from_secs(60), async {
        let cluster = Cluster::start(2).await?;
        let invite = cluster.invite(0, Duration::from_millis(1), 5)?;
        tokio::time::sleep(Duration::from_millis(5)).await;
        let (_dir, late) = newcomer(&cluster, "late", Some(invite)).await?;
        assert_refused(&cluster, &late, "an expired invite", 1).await?;
        late.shutdown().await?;
        cluster.shutdown().await;
        Ok(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoked_invite_is_refused() {
    bounded("invite_revoked", Duration::from_secs(60), async {
        let cluster = Cluster::start(2).await?;
        let invite = cluster.invite(0, Duration::from_secs(600), 5)?;
        let id = Invite::decode(&invite)?.capability.id();
        let revocation = cluster.publish(0, Body::RevokeInvite { invite: id }).await?;
        cluster.wait_everywhere(revocation.hash(), WAIT).await?;
        let (_dir, refused) = newcomer(&cluster, "refused", Some(invite)).await?;
        assert_refused(&cluster, &refused, "a revoked invite", 1).await?;
        refused.shutdown().await?;
        cluster.shutdown().await;
        Ok(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn suspended_member_is_cut_off() {
    bounded("suspended", Duration::from_secs(90), async {
        let cluster = Cluster::start(3).await?;
        let target = cluster.member(2);
        let (mut events0, mut events1) = (cluster.node(0).events(), cluster.node(1).events());
        let suspension =
            cluster.publish(0, Body::Suspend { member: target, reason: "test".into(), after_seq: 0 }).await?;
        let suspended_everywhere = |i: usize| {
            cluster.node(i).replica().community().unwrap().member(&target).is_some_and(|m| m.suspended.is_some())
        };
        wait_until(WAIT, "nodes 0 and 1 apply the suspension", || suspended_everywhere(0) && suspended_everywhere(1))
            .await?;
        // Each member node disconnects node 2 (after handing it its suspension: it may come back
        // and be told again, but never let in).
        let (mut cut0, mut cut1) = (false, false);
        wait_until(WAIT, "nodes 0 and 1 disconnect node 2", || {
            cut0 |= disconnected(&mut events0, cluster.peer_id(2));
            cut1 |= disconnected(&mut events1, cluster.peer_id(2));
            cut0 && cut1
        })
        .await
        .context(format!("suspension {}", suspension.hash().short()))?;
        let after = cluster.publish(1, post("after the suspension")).await?;
        // Several sync rounds (2 s each) and reconnect attempts: node 2 must still not have it,
        // while node 0 (the control, the same wait from the same publish) has it.
        tokio::time::sleep(AUTHORISE_WITHIN + Duration::from_secs(1)).await;
        let holds = |i: usize| cluster.node(i).replica().community().unwrap().holds(&after.hash());
        ensure!(holds(0), "the control: node 0 did not get the new post within the wait");
        ensure!(!holds(2), "node 2 got a new entry");
        cluster.shutdown().await;
        Ok(())
    })
    .await;
}

/// Whether `node` lists `peer` among its connected peers.
async fn lists(node: &Node, peer: PeerId) -> bool {
    let peer = peer.to_string();
    node.peers().await.iter().any(|p| p.peer_id == peer)
}
