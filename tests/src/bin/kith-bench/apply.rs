//! A join's CPU without the signature checks, for counting instructions (`valgrind --tool=callgrind`):
//! `dump-history FILE [--entries N]` writes the `join` scenario's history (the same seed) to a
//! file, so that signing it is not counted; `apply FILE` then has a fresh replica take it page
//! by page through the catch-up's own store path (`engine::store_page`: the reducer, the entry
//! file, sled's view rows), each page decoded as the verifier decodes it, and then answers the
//! same pages as a serving node does (`engine::engine::read_answer` on `Since`), encoded and
//! decoded as the wire's CBOR. The entries were signed by this program, so their signatures
//! are not checked again: that cost is fixed and measured elsewhere.
//!
//! ```text
//! kith-bench dump-history /tmp/h100k --entries 100000
//! valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.out kith-bench apply /tmp/h100k
//! callgrind_annotate --inclusive=yes /tmp/cg.out | grep -E 'apply_pages|serve_pages|store_page|read_answer'
//! ```

use std::io::{BufReader, BufWriter, Read, Write};
use std::path::Path;
use std::sync::Mutex;

use anyhow::{Context, bail};
use kith_node::engine;
use kith_node::replica::{Received, Replica};
use kith_node::store::Store;
use kith_node::sync::{PAGE_ENTRIES, SyncRequest, SyncResponse};
use kith_protocol::{CommunityId, Entry, Keypair};
use kith_tests::history::generate;

/// Far after every generated entry's timestamp, as `ingest` takes it.
const NOW: u64 = u64::MAX / 2;

/// Writes the Genesis and the entries of the `join` scenario's history, each as its length
/// (4 bytes, little-endian) and its wire bytes.
pub fn dump_history(path: &Path, total: usize) -> anyhow::Result<()> {
    let history = generate(total, 200, 7)?;
    let mut out = BufWriter::new(std::fs::File::create(path)?);
    for entry in std::iter::once(&history.genesis).chain(&history.entries) {
        out.write_all(&u32::try_from(entry.bytes().len())?.to_le_bytes())?;
        out.write_all(entry.bytes())?;
    }
    out.flush()?;
    Ok(())
}

fn read_history(path: &Path) -> anyhow::Result<Vec<Vec<u8>>> {
    let mut input = BufReader::new(std::fs::File::open(path)?);
    let mut wires = Vec::new();
    let mut len = [0u8; 4];
    loop {
        match input.read_exact(&mut len) {
            Ok(()) => {}
            Err(error) if error.kind() == std::io::ErrorKind::UnexpectedEof => break,
            Err(error) => return Err(error.into()),
        }
        let mut wire = vec![0u8; u32::from_le_bytes(len) as usize];
        input.read_exact(&mut wire)?;
        wires.push(wire);
    }
    Ok(wires)
}

/// Applies a dumped history to a fresh store, then serves it back; prints what it did.
pub fn apply(path: &Path) -> anyhow::Result<()> {
    let mut wires = read_history(path)?.into_iter();
    let genesis = Entry::decode(wires.next().context("an empty history")?)?;
    let wires: Vec<Vec<u8>> = wires.collect();
    let work = tempfile::tempdir()?;
    let store = Store::open(&work.path().join("db"), kith_node::store::DEFAULT_CACHE_BYTES)?;
    let community = genesis.community();
    let mut replica = Replica::open(store, Keypair::from_secret_bytes([0xAB; 32]), Some(community), NOW)?;
    replica.adopt_genesis(&genesis)?;
    let replica = Mutex::new(replica);
    let applied = apply_pages(&replica, wires)?;
    let served = serve_pages(&replica, community)?;
    eprintln!("applied {applied} entries, served {served}");
    if served != applied + 1 {
        bail!("served {served} entries, not the {} held", applied + 1);
    }
    Ok(())
}

/// Each page of `PAGE_ENTRIES` as the joining node takes it once verified: decoded, then
/// applied and stored by `engine::store_page`.
#[inline(never)]
fn apply_pages(replica: &Mutex<Replica<Store>>, wires: Vec<Vec<u8>>) -> anyhow::Result<usize> {
    let mut applied = 0;
    let mut wires = wires.into_iter().peekable();
    while wires.peek().is_some() {
        let page =
            wires.by_ref().take(PAGE_ENTRIES as usize).map(Entry::decode_unverified).collect::<Result<Vec<_>, _>>()?;
        let stored = engine::store_page(replica, page, NOW);
        if let Some((place, other)) = stored.outcomes.iter().find(|(_, o)| !matches!(o, Received::Applied(_))) {
            bail!("entry {place:?} not applied: {other:?}");
        }
        applied += stored.outcomes.len();
    }
    Ok(applied)
}

/// The serving node's side of the same catch-up: every `Since` page read from the store and
/// encoded for the wire, and decoded again as the joining node's codec does.
#[inline(never)]
fn serve_pages(replica: &Mutex<Replica<Store>>, community: CommunityId) -> anyhow::Result<usize> {
    let mut after = 0;
    let mut served = 0;
    loop {
        let request = SyncRequest::Since { community: community.0.to_vec(), after, limit: PAGE_ENTRIES };
        let answer = engine::read_answer(replica, &request);
        let wire = cbor4ii::serde::to_vec(Vec::new(), &answer)?;
        let SyncResponse::Ordered { entries, last } = cbor4ii::serde::from_slice::<SyncResponse>(&wire)? else {
            bail!("not a page: {answer:?}");
        };
        if entries.is_empty() {
            return Ok(served);
        }
        served += entries.len();
        after = last;
    }
}
