//! Crash tests with real child processes (an in-process abort would prove nothing): a node that
//! aborts right after publishing reopens with every published entry and its views intact; a
//! store killed in the middle of a catch-up, before sled flushed its last writes, reopens with
//! every entry its file kept and the views of each.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, bail, ensure};
use kith_node::replica::Replica;
use kith_node::store::Store;
use kith_node::{Node, NodeConfig};
use kith_protocol::{Body, EntryHash};
use kith_tests::bounded;

/// Runs the child on `home`: it publishes `posts` posts, prints their ids and aborts.
async fn run_child(home: &Path, posts: u32, prefix: &str) -> anyhow::Result<Vec<EntryHash>> {
    let output = run_to_abort(&[home.as_os_str(), posts.to_string().as_ref(), prefix.as_ref()]).await?;
    let ids: Vec<EntryHash> = String::from_utf8(output.stdout)?.lines().map(|l| l.parse()).collect::<Result<_, _>>()?;
    ensure!(ids.len() == posts as usize, "the child printed {} ids, not {posts}", ids.len());
    Ok(ids)
}

/// Runs `kith-test-node` with `args` and checks that it ended by its own abort (SIGABRT), not
/// by a clean exit.
async fn run_to_abort(args: &[&std::ffi::OsStr]) -> anyhow::Result<std::process::Output> {
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_kith-test-node"))
        .args(args)
        .env("RUST_LOG", "warn")
        .kill_on_drop(true)
        .output()
        .await
        .context("running kith-test-node")?;
    if output.status.signal() != Some(6) {
        let stderr = String::from_utf8_lossy(&output.stderr);
        bail!("the child should abort, it ended with {:?}; stderr:\n{stderr}", output.status);
    }
    Ok(output)
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
            let view = replica.store().post(community, id)?.with_context(|| format!("post {i} has no view"))?;
            ensure!(&view.title == title, "post {i}'s view says {:?}, not {title:?}", view.title);
            ensure!(view.author == me);
        }
        // The head is the last post, and the store's log agrees with the state.
        let head = community.member(&me).and_then(|m| m.head).context("a head")?;
        ensure!(head.seq == posts.len() as u64 + 1, "head at {}, expected {}", head.seq, posts.len() + 1);
        ensure!(replica.store().head(&me)?.map(|(seq, _)| seq) == Some(head.seq));
        ensure!(replica.store().posts(community)?.len() == posts.len());
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
        let after = {
            let replica = reopened.replica();
            let posts = replica.store().posts(replica.community().context("the community")?)?;
            posts.into_iter().find(|p| p.title == "after the crash").context("the post after the first crash")?
        };
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_killed_mid_catch_up_reopens_with_entries_and_views_level() {
    bounded("killed_mid_catch_up", Duration::from_secs(120), async {
        const ENTRIES: usize = 3_000;
        const SEED: u64 = 99;
        let home = tempfile::Builder::new().prefix("kith-crash-ingest-").tempdir()?;
        let folder = home.path().join("db");
        let (entries, seed) = (ENTRIES.to_string(), SEED.to_string());
        let output = run_to_abort(&["--ingest".as_ref(), folder.as_os_str(), entries.as_ref(), seed.as_ref()]).await?;
        let stored: usize =
            String::from_utf8(output.stdout)?.trim().strip_prefix("stored ").context("the child's count")?.parse()?;
        ensure!(stored == ENTRIES + 1, "the child stored {stored} entries, not {}", ENTRIES + 1);

        let history = kith_tests::history::generate(ENTRIES, 20, SEED)?;
        // Once the aborted child's lock is gone.
        let store = Store::open_when_free(&folder, kith_node::store::DEFAULT_CACHE_BYTES)?;
        let now = u64::MAX / 2;
        let key = kith_protocol::Keypair::from_secret_bytes([0x7E; 32]);
        let replica = Replica::open(store, key, Some(history.genesis.community()), now)?;
        let store = replica.store();
        let community = replica.community().context("the community survives")?;
        // A killed process loses no written page of the entry file, so everything is there.
        ensure!(store.entry_count() == stored, "{} of {stored} entries after the crash", store.entry_count());
        ensure!(community.entry_count() == stored, "the reducer holds {} of {stored}", community.entry_count());
        ensure!(store.pending()?.is_empty(), "no stored entry still waits");
        // And every view names what the entries say, though sled lost its last writes.
        let mut posts = 0;
        for entry in &history.entries {
            match entry.body() {
                Body::Post { title, .. } => {
                    posts += 1;
                    let view = store
                        .post(community, &entry.hash())?
                        .with_context(|| format!("post {} has no view", entry.hash()))?;
                    ensure!(&view.title == title);
                }
                Body::Transfer { .. } => {
                    ensure!(
                        store.transfer(community, &entry.hash())?.is_some(),
                        "transfer {} has no view",
                        entry.hash()
                    );
                }
                Body::Receive { transfer } => {
                    let view = store.transfer(community, transfer)?.context("a claimed transfer")?;
                    ensure!(view.claim == Some(entry.hash()), "the claim of {transfer} is not marked");
                }
                _ => {}
            }
        }
        ensure!(
            store.posts(community)?.len() == posts,
            "{} post rows for {posts} posts",
            store.posts(community)?.len()
        );
        let replies: usize =
            store.posts(community)?.iter().map(|p| store.replies(&p.id).map(|r| r.len())).sum::<Result<_, _>>()?;
        let written = history.entries.iter().filter(|e| matches!(e.body(), Body::Reply { .. })).count();
        ensure!(replies == written, "{replies} reply rows for {written} replies");
        Ok(())
    })
    .await;
}
