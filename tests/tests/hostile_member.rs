//! A hostile member's script through the real gate (issue 12): a raw libp2p peer holding a real
//! member's key (Hal) — let in by the gate like that member's node — against a running community
//! of real nodes (in this process, on loopback). It says hellos replaying the founder's invite
//! and one it minted (item 7), sends join requests of fresh keys on invites it minted (item 4),
//! pays a member who then spends the hours over her own limit, and forks its log at the payment
//! (item 1), floods the waiting area with entries of many authors whose previous entry is unknown
//! and join requests on a used-up invite (items 5 and 4), and once suspended tries to vouch, pay
//! and suspend through a node it had not met (item 11).
//!
//! The community keeps working: no hello made an honest node write to its own log; the payee's
//! spending stands on every node after the fork (honest balances as the honest acts make them);
//! the suspended member is held at the door and cut off, none of its entries taken; a fresh node's
//! catch-up completes (this found that a node catching up after a fork never got the frozen
//! transfer its payee had claimed); every honest node's waiting area stays within its bound and
//! the process's memory within the bound stated below.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use anyhow::{Context, anyhow, ensure};
use kith_node::Node;
use kith_node::clock::now_ms;
use kith_node::home::Home;
use kith_node::network::libp2p_keypair;
use kith_protocol::community::MAX_PENDING_BYTES;
use kith_protocol::invite::Capability;
use kith_protocol::{Body, CommunityId, Draft, Entry, EntryHash, Keypair, MemberId, Minutes};
use kith_tests::cluster::{post, transfer};
use kith_tests::door_probe::hello;
use kith_tests::raw_peer::RawPeer;
use kith_tests::{Cluster, bounded, wait_until};

const WAIT: Duration = Duration::from_secs(30);
/// Hal's payment to Ann, and what Ann pays Ben with it: over Ann's credit limit (10 h) without
/// Hal's hours, within it with them.
const HAL_PAYS: u32 = 540;
const ANN_PAYS: u32 = 900;
/// Memory the process may grow by during the attack: each of the three honest nodes' waiting
/// area is bounded at `MAX_PENDING_BYTES` (48 MiB, entries and their overhead); 64 MiB more for
/// the late node, the join requests kept and the allocator's slack.
const GROWTH_BOUND: u64 = 3 * MAX_PENDING_BYTES as u64 + 64 * 1024 * 1024;

/// The process's memory from `/proc/self/status` (`VmRSS` or `VmHWM`), in bytes.
fn memory(field: &str) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    let line = status.lines().find(|l| l.starts_with(field)).with_context(|| format!("no {field}"))?;
    let kib: u64 = line.split_whitespace().nth(1).context("no figure")?.parse()?;
    Ok(kib * 1024)
}

fn signed(
    key: &Keypair,
    community: CommunityId,
    seq: u64,
    prev: Option<EntryHash>,
    body: Body,
) -> anyhow::Result<Entry> {
    let draft = Draft { community: Some(community), seq, prev, timestamp_ms: now_ms(), body };
    Entry::sign(key, draft).map_err(|e| anyhow!("cannot sign: {e}"))
}

/// `who`'s balance as node `i` sees it.
fn balance(cluster: &Cluster, i: usize, who: MemberId) -> Option<i64> {
    cluster.node(i).replica().community().and_then(|c| c.member(&who).map(|m| m.balance_minutes))
}

fn holds(node: &Node, hash: EntryHash) -> bool {
    node.replica().store().get(&hash).ok().flatten().is_some()
}

const HONEST: [usize; 3] = [0, 1, 2];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hostile_member_through_the_gate_cannot_stop_the_community() {
    bounded("hostile_member", Duration::from_secs(300), async {
        // 0: the founder (organiser); 1: Ann; 2: Ben; 3: Hal, whose key the raw peer holds.
        let mut cluster = Cluster::start(4).await?;
        let community = cluster.community_id();
        let (ann, ben, hal) = (cluster.member(1), cluster.member(2), cluster.member(3));
        cluster.stop(3).await?;
        let hal_key = Home::open(cluster.home(3))?.key_or_create()?;
        let hal_p2p = libp2p_keypair(hal_key.secret_bytes()).map_err(anyhow::Error::msg)?;
        let founder_key = Home::open(cluster.home(0))?.key_or_create()?;
        let baseline = memory("VmRSS:")?;

        let raw = RawPeer::start(hal_p2p.clone(), community).await?;
        for i in [0, 1] {
            let addr = cluster.addrs(i).first().cloned().context("listens")?;
            raw.connect(addr).await.with_context(|| format!("Hal's key is let in at node {i}"))?;
        }

        // Item 7: hellos replaying the founder's invite and one Hal minted write nothing.
        let own_heads: Vec<u64> =
            HONEST.iter().map(|&i| cluster.node(i).replica().head_seq(&cluster.member(i))).collect();
        let expires = now_ms() + 3_600_000;
        let founders = Capability::issue(&founder_key, community, [1; 16], expires, 5).to_bytes();
        let minted = Capability::issue(&hal_key, community, [2; 16], expires, 5).to_bytes();
        for invite in [founders, minted.clone()] {
            for i in [0, 1] {
                let addr = cluster.addrs(i).first().cloned().context("listens")?;
                let answer = hello(hal_p2p.clone(), addr, community, invite.clone(), WAIT).await?;
                eprintln!("hello to node {i}: {answer:?}");
            }
        }

        // A hello may cut the raw peer's gossip connection (the node re-gates a peer it lets
        // in): connect again, waiting for each node's subscription.
        for i in [0, 1] {
            let addr = cluster.addrs(i).first().cloned().context("listens")?;
            raw.connect(addr).await.with_context(|| format!("Hal's key is let in again at node {i}"))?;
        }

        // Item 4: join requests of 150 fresh keys, each with an invite Hal minted for it (the
        // used-up ones come last: they earn strikes).
        let mut newcomers = Vec::new();
        for n in 0..150u32 {
            let key = Keypair::from_secret_bytes(blake3::hash(&n.to_le_bytes()).into());
            let mut nonce = [3; 16];
            nonce[..4].copy_from_slice(&n.to_le_bytes());
            let invite = Capability::issue(&hal_key, community, nonce, expires, 1).to_bytes();
            let request = signed(&key, community, 1, None, Body::JoinRequest { invite, name: format!("flood {n}") })?;
            raw.publish(request.bytes().to_vec()).await?;
            newcomers.push(key.member_id());
        }

        let last = newcomers[newcomers.len() - 1];
        wait_until(WAIT, "nodes 0 and 1 hold the last join request", || {
            [0, 1].iter().all(|&i| cluster.node(i).replica().community().is_some_and(|c| c.member(&last).is_some()))
        })
        .await?;
        for (k, &i) in HONEST.iter().enumerate() {
            let own = cluster.node(i).replica().head_seq(&cluster.member(i));
            ensure!(own == own_heads[k], "node {i} wrote to its own log for a peer: {} → {own}", own_heads[k]);
        }

        // Item 1, first half: Hal pays Ann; Ann spends it (over her limit without it).
        let hal_head = cluster.node(0).replica().community().and_then(|c| c.member(&hal).and_then(|m| m.head));
        let hal_head = hal_head.context("Hal's log is held")?;
        let pay =
            Body::Transfer { to: ann, minutes: Minutes(HAL_PAYS), memo: "for the shelves".into(), for_post: None };
        let payment = signed(&hal_key, community, hal_head.seq + 1, Some(hal_head.hash), pay)?;
        raw.publish(payment.bytes().to_vec()).await?;
        wait_until(WAIT, "Ann has claimed Hal's hours", || balance(&cluster, 1, ann) == Some(i64::from(HAL_PAYS)))
            .await?;
        let spent = cluster.publish(1, transfer(ben, ANN_PAYS, "for the ladder")).await?;
        cluster.wait_everywhere(spent.hash(), WAIT).await?;

        // Item 1, second half: Hal forks its log at the payment.
        let other = signed(&hal_key, community, payment.seq(), Some(hal_head.hash), post("the other branch"))?;
        raw.publish(other.bytes().to_vec()).await?;
        wait_until(WAIT, "every honest node freezes Hal's log", || {
            HONEST.iter().all(|&i| {
                cluster
                    .node(i)
                    .replica()
                    .community()
                    .is_some_and(|c| c.member(&hal).is_some_and(|m| m.frozen_at.is_some()))
            })
        })
        .await?;
        let after = cluster.publish(1, post("Ann goes on after Hal's fork")).await?;
        cluster.wait_everywhere(after.hash(), WAIT).await?;

        // Item 5: the waiting area flooded with 48 authors' entries whose previous entry is
        // unknown; then item 4's rest: 150 join requests on one invite for 5 (each past the
        // fifth is refused and earns Hal a strike, then a block: publishing stops there).
        let filler = "x".repeat(2_000);
        let mut flood = Vec::new();
        for a in 0..48u32 {
            let key = Keypair::from_secret_bytes(blake3::hash(&(1_000 + a).to_le_bytes()).into());
            for seq in 2..22u64 {
                let prev = EntryHash(*blake3::hash(&seq.to_le_bytes()).as_bytes());
                let mut body = post(&format!("waiting {a}/{seq}"));
                if let Body::Post { details, .. } = &mut body {
                    details.clone_from(&filler);
                }
                flood.push(signed(&key, community, seq, Some(prev), body)?);
            }
        }
        for n in 150..300u32 {
            let key = Keypair::from_secret_bytes(blake3::hash(&n.to_le_bytes()).into());
            let body = Body::JoinRequest { invite: minted.clone(), name: format!("flood {n}") };
            flood.push(signed(&key, community, 1, None, body)?);
        }
        let mut sent = 0;
        for entry in &flood {
            if raw.publish(entry.bytes().to_vec()).await.is_err() {
                break; // cut off: no peer left to publish to
            }
            sent += 1;
        }
        eprintln!("flood: {sent} of {} published", flood.len());
        wait_until(WAIT, "node 0 kept some of the flood aside", || {
            cluster.node(0).replica().community().is_some_and(|c| c.pending_count() > 0)
        })
        .await?;

        // Item 11: the founder suspends Hal after its latest entry; Hal then tries to vouch
        // for a newcomer, pay Ben and suspend Ann through node 2 (which it had not met yet, so
        // no strike or block stands in the way): node 2 holds the suspended member at the door,
        // takes none of its gossip, and cuts it off.
        let hal_now = cluster.node(0).replica().community().and_then(|c| c.member(&hal).and_then(|m| m.head));
        let hal_now = hal_now.context("Hal's log is held")?;
        let suspend = Body::Suspend { member: hal, reason: "forking".into(), after_seq: hal_now.seq };
        let suspension = cluster.publish(0, suspend).await?;
        cluster.wait_everywhere(suspension.hash(), WAIT).await?;
        let vouch = signed(
            &hal_key,
            community,
            hal_now.seq + 1,
            Some(hal_now.hash),
            Body::Vouch { member: newcomers[0], note: "trust me".into() },
        )?;
        let pays = signed(
            &hal_key,
            community,
            vouch.seq() + 1,
            Some(vouch.hash()),
            Body::Transfer { to: ben, minutes: Minutes(60), memo: "while suspended".into(), for_post: None },
        )?;
        let ann_seq = cluster.node(1).replica().head_seq(&ann);
        let suspends = signed(
            &hal_key,
            community,
            pays.seq() + 1,
            Some(pays.hash()),
            Body::Suspend { member: ann, reason: "revenge".into(), after_seq: ann_seq },
        )?;
        let node2 = cluster.peer_id(2);
        raw.dial(cluster.addrs(2).first().cloned().context("listens")?).await?;
        wait_until(WAIT, "Hal's connection to node 2 opens", || raw.is_connected(&node2)).await?;
        while raw.is_connected(&node2) {
            for entry in [&vouch, &pays, &suspends] {
                let _ = raw.publish(entry.bytes().to_vec()).await;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        ensure!(!raw.saw_subscribed(&node2), "node 2 showed the suspended member its gossip topic");
        for &i in &HONEST {
            ensure!(
                cluster.node(i).replica().head_seq(&hal) == hal_now.seq,
                "node {i} took an entry Hal wrote while suspended"
            );
        }

        // What stands: balances as the honest acts make them, on every honest node.
        for &i in &HONEST {
            let node = cluster.node(i);
            ensure!(
                balance(&cluster, i, ann) == Some(i64::from(HAL_PAYS) - i64::from(ANN_PAYS)),
                "node {i}: Ann's balance {:?}",
                balance(&cluster, i, ann)
            );
            ensure!(
                balance(&cluster, i, ben) == Some(i64::from(ANN_PAYS)),
                "node {i}: Ben's balance {:?}",
                balance(&cluster, i, ben)
            );
            ensure!(holds(node, spent.hash()) && holds(node, after.hash()), "node {i} lost Ann's entries");
            let replica = node.replica();
            let state = replica.community().context("a community")?;
            ensure!(!state.is_member(&newcomers[0]), "node {i}: Hal's vouch while suspended admitted a newcomer");
            ensure!(state.member(&ann).is_some_and(|m| m.suspended.is_none()), "node {i}: Hal suspended Ann");
            ensure!(
                state.pending_bytes() <= MAX_PENDING_BYTES,
                "node {i}: waiting area {} bytes",
                state.pending_bytes()
            );
            eprintln!("node {i}: {} entries waiting ({} bytes)", state.pending_count(), state.pending_bytes());
        }
        raw.stop().await;

        // A fresh node's catch-up still completes.
        let invite = cluster.invite(0, Duration::from_secs(600), 1)?;
        let (_late_dir, late) = cluster.start_newcomer(0, "late", Some(invite), false).await?;
        let late_id = late.member_id();
        wait_until(WAIT, "the founder hears the late node's join request", || {
            cluster.node(0).replica().community().is_some_and(|c| c.member(&late_id).is_some())
        })
        .await?;
        cluster.publish(0, Body::Vouch { member: late_id, note: "welcome".into() }).await?;
        // Caught up: it holds every entry the founder applied (the digests may differ by the
        // entries waiting at the founder, which a catch-up does not carry).
        let caught_up = wait_until(Duration::from_secs(90), "the late node holds what the founder applied", || {
            late.replica().store().entry_count() == cluster.node(0).replica().store().entry_count()
        })
        .await;
        if let Err(error) = caught_up {
            let counts: Vec<usize> = HONEST.iter().map(|&i| cluster.node(i).replica().store().entry_count()).collect();
            let held: std::collections::BTreeSet<EntryHash> =
                late.replica().store().applied_entries().filter_map(Result::ok).map(|e| e.hash()).collect();
            let missing: Vec<String> = cluster
                .node(0)
                .replica()
                .store()
                .applied_entries()
                .filter_map(Result::ok)
                .filter(|e| !held.contains(&e.hash()))
                .map(|e| format!("{} #{} {:?}", e.author().short(), e.seq(), e.body()).chars().take(160).collect())
                .collect();
            let late_state = late.replica().community().map(|c| (c.pending_count(), c.member(&hal).map(|m| m.frozen_at)));
            anyhow::bail!(
                "{error}: honest nodes hold {counts:?}, the late node {} (waiting, Hal frozen at: {late_state:?}); it lacks {missing:#?}",
                late.replica().store().entry_count()
            );
        }
        ensure!(
            late.replica().community().and_then(|c| c.member(&ben).map(|m| m.balance_minutes))
                == Some(i64::from(ANN_PAYS))
        );

        let peak = memory("VmHWM:")?;
        eprintln!(
            "memory: {} MiB before the attack, peak {} MiB, bound +{} MiB",
            baseline >> 20,
            peak >> 20,
            GROWTH_BOUND >> 20
        );
        ensure!(peak <= baseline + GROWTH_BOUND, "memory grew by {} MiB", (peak - baseline) >> 20);
        late.shutdown().await?;
        cluster.shutdown().await;
        Ok(())
    })
    .await;
}
