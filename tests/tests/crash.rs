//! Crash test with real child processes: a node that aborts right after publishing reopens with
//! every published entry and its views intact (an in-process abort would prove nothing).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, bail, ensure};
use kith_node::{Node, NodeConfig};
use kith_protocol::EntryHash;
use kith_tests::bounded;

/// Runs the child on `home`: it publishes `posts` posts, prints their ids and aborts.
async fn run_child(home: &Path, posts: u32, prefix: &str) -> anyhow::Result<Vec<EntryHash>> {
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_kith-test-node"))
        .arg(home)
        .arg(posts.to_string())
        .arg(prefix)
        .env("RUST_LOG", "warn")
        .kill_on_drop(true)
        .output()
        .await
        .context("running kith-test-node")?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    // SIGABRT: the child did not exit cleanly, it was killed by its own abort.
    if output.status.signal() != Some(6) {
        bail!("the child should abort, it ended with {:?}; stderr:\n{stderr}", output.status);
    }
    let ids: Vec<EntryHash> = String::from_utf8(output.stdout)?.lines().map(|l| l.parse()).collect::<Result<_, _>>()?;
    ensure!(ids.len() == posts as usize, "the child printed {} ids, not {posts}; stderr:\n{stderr}", ids.len());
    Ok(ids)
}

/// Opens the home in this process and checks every post is stored, applied and in the views.
async fn check_home(home: &Path, posts: &[(EntryHash, String)]) -> anyhow::Result<()> {
    let mut config = NodeConfig::new(home);
    config.network.mdns = false;
    let node = Node::start(config).await.context("reopening the crashed home")?;
    {
        let replica = node.replica();
        let community = replica.community().context("the community survives")?;
        let me = replica.me();
        for (i, (id, title)) in posts.iter().enumerate() {
            ensure!(replica.store().get(id)?.is_some(), "post {i} ({}) is not in the store", id.short());
            ensure!(community.post(id).is_some(), "post {i} is not in the community state");
            let view = replica.store().post(id)?.with_context(|| format!("post {i} has no view"))?;
            ensure!(&view.title == title, "post {i}'s view says {:?}, not {title:?}", view.title);
            ensure!(view.author == me);
        }
        // The head is the last post, and the store's log agrees with the state.
        let head = community.member(&me).and_then(|m| m.head).context("a head")?;
        ensure!(head.seq == posts.len() as u64 + 1, "head at {}, expected {}", head.seq, posts.len() + 1);
        ensure!(replica.store().head(&me)?.map(|(seq, _)| seq) == Some(head.seq));
        ensure!(replica.store().posts()?.len() == posts.len());
    }
    // The reopened node can still write: its head and stored log agree.
    node.publish(kith_tests::cluster::post("after the crash")).await.context("publishing after a crash")?;
    node.shutdown().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aborted_node_reopens_with_its_entries_and_views() {
    bounded("aborted_node_reopens", Duration::from_secs(120), async {
        let home = tempfile::Builder::new().prefix("kith-crash-").tempdir()?;
        // First life: found the community, publish one post, abort.
        let first = run_child(home.path(), 1, "first").await?;
        let mut expected: Vec<(EntryHash, String)> = vec![(first[0], "first 0".into())];
        check_home(home.path(), &expected).await?;
        // Second life on the same home (after a clean reopen): a burst of posts, abort after
        // the last one returned.
        let burst = run_child(home.path(), 20, "burst").await?;
        // The post written by check_home counts too: it is seq 3.
        let mut config = NodeConfig::new(home.path());
        config.network.mdns = false;
        let reopened = Node::start(config).await?;
        let after = reopened
            .replica()
            .store()
            .posts()?
            .into_iter()
            .find(|p| p.title == "after the crash")
            .context("the post after the first crash")?;
        reopened.shutdown().await?;
        expected.push((after.id, after.title));
        expected.extend(burst.into_iter().enumerate().map(|(i, id)| (id, format!("burst {i}"))));
        // A third child aborts straight after one more post, on top of an aborted store.
        let last = run_child(home.path(), 1, "last").await?;
        expected.push((last[0], "last 0".into()));
        check_home(home.path(), &expected).await?;
        Ok(())
    })
    .await;
}
