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
        // Node 0 holds node 1's log as node 1 has it (its payment included).
        wait_until(WAIT, "node 0 holds node 1's log", || {
            let theirs = cluster.node(1).replica().head_seq(&target);
            theirs >= 2 && cluster.node(0).replica().head_seq(&target) == theirs
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
        ensure!(cluster.node(1).replica().head_seq(&target) == before, "something was signed after the refusals");
        cluster.shutdown().await;
        Ok(())
    })
    .await;
}
