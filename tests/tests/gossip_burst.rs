//! Gossip alone (no periodic sync) carries a burst of entries published back to back: many
//! small messages arriving together must not trip the gossip transport's size limit.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use kith_tests::cluster::post;
use kith_tests::{Cluster, ClusterOptions, bounded, wait_until};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_entries_travels_by_gossip_alone() {
    bounded("gossip_burst", Duration::from_secs(120), async {
        // Periodic sync far away: after the cluster forms, only gossip (and the gap fetch it
        // triggers) moves entries.
        let options = ClusterOptions { sync_interval: Duration::from_secs(3600), ..ClusterOptions::default() };
        let cluster = Cluster::start_with(3, options).await?;
        let mut last = None;
        for i in 0..300 {
            let details = "x".repeat(1500);
            let body = match post(&format!("burst {i}")) {
                kith_protocol::Body::Post { kind, title, category, when, place, expires_at, schedule, .. } => {
                    kith_protocol::Body::Post { kind, title, details, category, when, place, expires_at, schedule }
                }
                other => other,
            };
            last = Some(cluster.publish(i % 2, body).await?.hash());
        }
        let last = last.unwrap();
        let counted = || cluster.node(2).replica().community().unwrap().posts().count();
        wait_until(Duration::from_secs(30), "node 2 has every post of the burst", || counted() == 300)
            .await
            .map_err(|e| anyhow::anyhow!("{e} (it has {})\n{}", counted(), cluster.describe()))?;
        cluster.wait_everywhere(last, Duration::from_secs(10)).await?;
        cluster.shutdown().await;
        Ok(())
    })
    .await;
}
