//! Where a node's start goes, by phase (issue 17 §4): `kith-startup HOME` opens a home's store
//! and replica as `Node::start` does and prints, after each phase, the time taken and the
//! process's resident memory (a clone of the reducer measures the reducer).
//! A home to measure: `kith-bench fill-home HOME --entries N`. Figures, never assertions.
//! `--sled-only`: sled alone opened on the home's database (its trees), to weigh its part.

use std::path::Path;
use std::time::Instant;

use anyhow::Context;
use kith_node::replica::Replica;
use kith_node::store::Store;

/// A `/proc/self/status` memory field (`VmRSS:`, `VmHWM:`), in MB.
fn status_mb(field: &str) -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kb = status
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0);
    kb as f64 / 1024.0
}

fn rss_mb() -> f64 {
    status_mb("VmRSS:")
}

fn phase(name: &str, started: Instant) {
    println!(
        "{name:<28} {:>7.2} s  rss {:>7.1} MB  peak {:>7.1} MB",
        started.elapsed().as_secs_f64(),
        rss_mb(),
        status_mb("VmHWM:")
    );
}

fn main() -> anyhow::Result<()> {
    let home = std::env::args().nth(1).context("usage: kith-startup HOME")?;
    let home = kith_node::home::Home::open(Path::new(&home))?;
    phase("nothing", Instant::now());
    if std::env::args().any(|a| a == "--sled-only") {
        // sled alone on the same folder, with the node's cache: its share of the store's open.
        let started = Instant::now();
        let db = sled::Config::new()
            .path(home.db_path())
            .cache_capacity(kith_node::store::DEFAULT_CACHE_BYTES)
            .mode(sled::Mode::LowSpace)
            .open()?;
        for name in ["community", "forks", "meta", "peers"] {
            db.open_tree(name)?;
        }
        phase("sled alone", started);
        return Ok(());
    }
    let started = Instant::now();
    let store = Store::open(&home.db_path(), kith_node::store::DEFAULT_CACHE_BYTES)?;
    phase("store open", started);
    let started = Instant::now();
    let keypair = home.key_or_create()?;
    let replica = Replica::open(store, keypair, home.community()?, kith_node::clock::now_ms())?;
    phase("replica open", started);
    let entries = replica.community().map_or(0, |c| c.entry_count());
    println!("entries applied: {entries}");
    // Listing through the reducer (the board and the hours pages walk these).
    if let Some(community) = replica.community() {
        let started = Instant::now();
        let posts = community.posts().count();
        let posts_ms = started.elapsed().as_secs_f64() * 1000.0;
        let started = Instant::now();
        let transfers = community.transfers().count();
        let transfers_ms = started.elapsed().as_secs_f64() * 1000.0;
        println!("listing {posts} posts {posts_ms:.1} ms, {transfers} transfers {transfers_ms:.1} ms");
    }
    // A clone of the reducer has the reducer's shape: what it adds to the resident memory is
    // about what the reducer holds.
    let before = rss_mb();
    let copy = replica.community().cloned();
    println!("a clone of the reducer adds {:.1} MB", rss_mb() - before);
    drop(copy);
    let started = Instant::now();
    drop(replica);
    phase("replica dropped", started);
    Ok(())
}
