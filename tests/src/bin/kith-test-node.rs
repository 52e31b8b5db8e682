//! The child process of the crash test: starts a node on a home (founding a community there if
//! it has none), publishes posts, prints each post's id on its own line, and aborts the process
//! right after the last publish returned — no clean shutdown, no destructors.
//!
//! Usage: `kith-test-node <home> <posts> [title prefix]`. Exit: aborts (SIGABRT) on success,
//! exits 2 with a message on error.
//!
//! `kith-test-node --ingest <store folder> <entries> <seed>` instead stores a generated history
//! ([`kith_tests::history::generate`], 20 members) the way a catch-up does — pages applied
//! and stored, nothing flushed — prints how many entries were stored, and aborts: the store's
//! last second of sled writes is lost, the entry file keeps what was written.

use std::io::Write;

use kith_node::replica::{Received, Replica};
use kith_node::store::Store;
use kith_node::{Node, NodeConfig};
use kith_protocol::{Body, Keypair, PostKind, Rules};

fn usage() -> ! {
    eprintln!("usage: kith-test-node <home> <posts> [title prefix]");
    eprintln!("       kith-test-node --ingest <store folder> <entries> <seed>");
    std::process::exit(2)
}

/// Stores a generated history page by page without flushing, prints the count, aborts.
fn ingest_and_abort(mut args: impl Iterator<Item = String>) -> ! {
    let Some(folder) = args.next() else { usage() };
    let Some(total) = args.next().and_then(|n| n.parse::<usize>().ok()) else { usage() };
    let Some(seed) = args.next().and_then(|n| n.parse::<u64>().ok()) else { usage() };
    let history = kith_tests::history::generate(total, 20, seed).unwrap_or_else(|e| fail("cannot generate", e));
    let store = Store::open(std::path::Path::new(&folder), kith_node::store::DEFAULT_CACHE_BYTES)
        .unwrap_or_else(|e| fail("cannot open the store", e));
    let now = u64::MAX / 2;
    let key = Keypair::from_secret_bytes([0x7E; 32]);
    let mut replica = Replica::open(store, key, Some(history.genesis.community()), now)
        .unwrap_or_else(|e| fail("cannot open the replica", e));
    replica.adopt_genesis(&history.genesis).unwrap_or_else(|e| fail("cannot adopt the genesis", e));
    for page in history.entries.chunks(kith_node::network::INGEST_CHUNK) {
        let (outcomes, _) = replica.receive_page(page.to_vec(), now);
        if let Some(other) = outcomes.iter().find(|o| !matches!(o, Received::Applied(_))) {
            fail("an entry was not applied", format!("{other:?}"));
        }
    }
    println!("stored {}", replica.store().entry_count());
    std::process::abort();
}

fn fail(what: &str, error: impl std::fmt::Display) -> ! {
    eprintln!("kith-test-node: {what}: {error}");
    std::process::exit(2)
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let mut args = std::env::args().skip(1);
    let Some(home) = args.next() else { usage() };
    if home == "--ingest" {
        ingest_and_abort(args);
    }
    let Some(posts) = args.next().and_then(|n| n.parse::<u32>().ok()) else { usage() };
    let prefix = args.next().unwrap_or_else(|| "crash".to_string());
    let mut config = NodeConfig::new(&home);
    config.network.mdns = false;
    config.found = Some(("Crash street".into(), "a community that crashes".into(), Rules::default()));
    let node = match Node::start(config).await {
        Ok(node) => node,
        Err(error) => fail("cannot start the node", error),
    };
    let mut stdout = std::io::stdout().lock();
    for i in 0..posts {
        let body = Body::Post {
            kind: PostKind::Request,
            title: format!("{prefix} {i}"),
            details: "published right before an abort".into(),
            category: "test".into(),
            when: String::new(),
            place: String::new(),
            expires_at: None,
            schedule: None,
        };
        match node.publish(body).await {
            Ok(entry) => {
                if writeln!(stdout, "{}", entry.hash()).and_then(|()| stdout.flush()).is_err() {
                    fail("cannot print", "stdout closed");
                }
            }
            Err(error) => fail("cannot publish", error),
        }
    }
    std::process::abort();
}
