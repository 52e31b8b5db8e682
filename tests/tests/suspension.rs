//! Suspension on real nodes: what it stops is refused before anything is signed, with the
//! reason — paying a suspended member on an organiser's node, and paying, vouching or posting
//! on the suspended member's own node once it holds the suspension — and `kith status` says
//! `suspended`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use anyhow::ensure;
use kith_node::api::role_of;
use kith_node::replica::PublishError;
use kith_protocol::{Body, EntryError, Minutes};
use kith_tests::{Cluster, bounded, wait_until};

const WAIT: Duration = Duration::from_secs(30);

fn pay(to: kith_protocol::MemberId) -> Body {
    Body::Transfer { to, minutes: Minutes(30), memo: "thanks".into(), for_post: None }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_suspended_member_cannot_pay_nor_be_paid() {
    bounded("suspension refusals", Duration::from_secs(90), async {
        let cluster = Cluster::start(2).await?;
        let (founder, target) = (cluster.member(0), cluster.member(1));
        // The control: before the suspension both payments are signed.
        cluster.publish(0, pay(target)).await?;
        cluster.publish(1, pay(founder)).await?;
        // Each node holds the other's log as it has it: node 1 its payment, node 0's payment
        // to it and its claim of it (signed by its node on its own, so the claim cannot come
        // after the refusals below and be taken for something they signed; and the suspension
        // applies on node 1, which must hold the founder's log before it).
        wait_until(WAIT, "each node holds the other's log, the payment to node 1 claimed", || {
            let (zero, one) = (cluster.node(0).replica(), cluster.node(1).replica());
            let theirs = one.head_seq(&target);
            theirs >= 2
                && zero.head_seq(&target) == theirs
                && one.head_seq(&founder) == zero.head_seq(&founder)
                && one.unclaimed_for(target).is_empty()
        })
        .await?;
        let head = cluster.node(1).replica().head_seq(&target);
        let suspension = cluster
            .publish(0, Body::Suspend { member: target, reason: "kept no appointment".into(), after_seq: head })
            .await?;
        let refused = cluster.node(0).publish(pay(target)).await.expect_err("paying a suspended member is refused");
        ensure!(
            matches!(&refused, PublishError::Rule(EntryError::Suspended { action: "be paid", .. })),
            "unexpected: {refused}"
        );
        // The suspended member's node holds the suspension (handed over here directly: the
        // network cuts a suspended member off, see the report), then refuses to pay.
        cluster.node(1).replica().receive(suspension.clone(), kith_node::clock::now_ms());
        let community_role = {
            let replica = cluster.node(1).replica();
            role_of(false, replica.community().and_then(|c| c.member(&target)))
        };
        ensure!(community_role == "suspended", "role is {community_role}");
        let before = cluster.node(1).replica().head_seq(&target);
        let refused = cluster.node(1).publish(pay(founder)).await.expect_err("a suspended member's payment is refused");
        ensure!(refused.to_string().contains("is suspended and cannot pay anyone"), "unexpected: {refused}");
        let refused = cluster
            .node(1)
            .publish(Body::Vouch {
                member: kith_protocol::Keypair::from_secret_bytes([9; 32]).member_id(),
                note: String::new(),
            })
            .await
            .expect_err("a suspended member's vouch is refused");
        ensure!(
            matches!(refused, PublishError::Rule(EntryError::Suspended { action: "vouch for anyone", .. })),
            "unexpected: {refused}"
        );
        let signed: Vec<String> = {
            let replica = cluster.node(1).replica();
            (before + 1..=replica.head_seq(&target))
                .map(|seq| match replica.store().entry_at(&target, seq) {
                    Ok(Some(entry)) => format!("{seq}: {:?}", entry.body()),
                    other => format!("{seq}: {other:?}"),
                })
                .collect()
        };
        ensure!(signed.is_empty(), "something was signed after the refusals: {signed:?}");
        cluster.shutdown().await;
        Ok(())
    })
    .await;
}
