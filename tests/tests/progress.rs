//! The catch-up's progress estimate on real nodes: a node that was offline while 300 entries
//! were written learns from its peer's heads how many entries there are to hold (`kith
//! status`'s `catch_up.expected`), and its catch-up ends level with them (`catch_up` null).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use anyhow::ensure;
use kith_tests::cluster::post;
use kith_tests::{Cluster, bounded, wait_until};

const LIMIT: Duration = Duration::from_secs(120);
const WAIT: Duration = Duration::from_secs(60);

fn held(cluster: &Cluster, i: usize) -> u64 {
    cluster.node(i).replica().community().map_or(0, |c| c.entry_count() as u64)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_behind_expects_its_peers_entries_and_ends_level() {
    bounded("catch_up_progress", LIMIT, async {
        let mut cluster = Cluster::start(2).await?;
        cluster.stop(1).await?;
        for i in 0..300 {
            cluster.publish(0, post(&format!("offer {i}"))).await?;
        }
        let total = held(&cluster, 0);
        cluster.restart(1).await?;
        wait_until(WAIT, "the restarted node holds every entry", || held(&cluster, 1) == total).await?;
        let node = cluster.node(1);
        wait_until(WAIT, "its peer's heads told it how many entries there are", || {
            node.stats().expected_entries == total
        })
        .await?;
        ensure!(node.handle().catch_up().is_none(), "level with its peer, yet still catching up");
        // Before the restart node 1 was level too: what it expects never exceeds what exists.
        ensure!(cluster.node(0).stats().expected_entries <= total);
        cluster.shutdown().await;
        Ok(())
    })
    .await;
}
