//! A node far behind fetches each entry once: while an ordered catch-up runs, a second heads
//! answer (the periodic sync round, the invite handshake and the Genesis fetch each ask for
//! heads) must not start log-by-log range fetches of the same entries. Before this rule, 2 of
//! 11 joins of a 100,000-entry community moved twice the bytes and filled the waiting area.
//! Drives the sans-I/O engine directly, with the history's founder as the only peer.
//!
//! The catch-up is also a pipeline: the next pages are asked for while earlier ones are still
//! being verified and stored, and storing is handed out (`Output::Store`) rather than done on
//! the engine's thread, each page in the peer's order.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use kith_node::engine::{Command, Engine, EngineConfig, Input, Output, Peer};
use kith_node::replica::Replica;
use kith_node::storage::memory::MemStore;
use kith_node::sync::{HEAD_HASH_PREFIX, LogHead, PAGE_ENTRIES, SyncRequest, SyncResponse};
use kith_node::verify::verify_page;
use kith_protocol::{Entry, MemberId};
use kith_tests::history::generate;

const NOW: u64 = 2_000_000_000_000;

fn name(peer: &Peer) -> String {
    peer.short()
}

/// Drains the engine's outputs: the requests it sent (id, request), in order.
fn requests(engine: &mut Engine<MemStore>) -> Vec<(u64, SyncRequest)> {
    std::iter::from_fn(|| engine.poll_output())
        .filter_map(|output| match output {
            Output::Request { id, request, .. } => Some((id, request)),
            _ => None,
        })
        .collect()
}

#[test]
fn a_second_heads_answer_during_an_ordered_catch_up_fetches_nothing_twice() -> anyhow::Result<()> {
    let history = generate(3_000, 20, 5)?;
    // Every log's head as the founder's node would send it.
    let mut heads: BTreeMap<MemberId, LogHead> = BTreeMap::new();
    for entry in std::iter::once(&history.genesis).chain(&history.entries) {
        let hash = entry.hash().0[..HEAD_HASH_PREFIX].to_vec();
        heads.insert(entry.author(), LogHead(entry.author().0.to_vec(), entry.seq(), hash));
    }
    let heads: Vec<LogHead> = heads.into_values().collect();
    let community = history.genesis.community();
    let me = history.keys[1].clone();
    let mut replica = Replica::open(MemStore::new(), me, Some(community), NOW)?;
    replica.adopt_genesis(&history.genesis)?;
    let config = EngineConfig { sync_interval_ms: 30_000, invite: None, hub: false, join_profile: None, name, seed: 1 };
    let mut engine = Engine::new(Arc::new(Mutex::new(replica)), config, NOW);
    engine.start();
    let founder = history.founder.member_id();
    engine.handle(NOW, Input::Connected { peer: founder, first: true });
    engine.handle(NOW, Input::Command(Command::SyncNow));
    let asked: Vec<u64> = requests(&mut engine)
        .into_iter()
        .filter(|(_, r)| matches!(r, SyncRequest::Heads { .. }))
        .map(|(id, _)| id)
        .collect();
    assert_eq!(asked.len(), 2, "two heads requests to the founder");
    let answer = || SyncResponse::Heads { heads: heads.clone(), forks: Vec::new() };

    engine.handle(NOW, Input::Response { id: asked[0], response: answer() });
    let first = requests(&mut engine);
    assert!(
        first.iter().any(|(_, r)| matches!(r, SyncRequest::Since { after: 0, .. })),
        "3,000 entries behind: an ordered catch-up starts ({first:?})"
    );
    assert!(!first.iter().any(|(_, r)| matches!(r, SyncRequest::Range { .. })), "and no range fetch beside it");

    engine.handle(NOW, Input::Response { id: asked[1], response: answer() });
    let second = requests(&mut engine);
    let ranges = second.iter().filter(|(_, r)| matches!(r, SyncRequest::Range { .. })).count();
    assert_eq!(ranges, 0, "a second heads answer during the catch-up fetched {ranges} logs again");
    Ok(())
}

/// Drains the engine's outputs: the `Since` requests (id, after), the pages handed out for
/// verification and those handed out for storing, in order.
#[derive(Default)]
struct Drained {
    since: Vec<(u64, u64)>,
    verify: Vec<(u64, Vec<Vec<u8>>)>,
    store: Vec<(u64, Vec<Entry>)>,
}

fn drain(engine: &mut Engine<MemStore>) -> Drained {
    let mut drained = Drained::default();
    while let Some(output) = engine.poll_output() {
        match output {
            Output::Request { id, request: SyncRequest::Since { after, .. }, .. } => drained.since.push((id, after)),
            Output::Verify { page, bytes } => drained.verify.push((page, bytes)),
            Output::Store { page, entries } => drained.store.push((page, entries)),
            _ => {}
        }
    }
    drained
}

#[test]
fn the_catch_up_fetches_ahead_while_earlier_pages_are_verified_and_stored() -> anyhow::Result<()> {
    let history = generate(3_000, 20, 5)?;
    // The founder's node: every entry in the order it applied them, the Genesis first.
    let applied: Vec<&Entry> = std::iter::once(&history.genesis).chain(&history.entries).collect();
    let mut heads: BTreeMap<MemberId, LogHead> = BTreeMap::new();
    for entry in &applied {
        let hash = entry.hash().0[..HEAD_HASH_PREFIX].to_vec();
        heads.insert(entry.author(), LogHead(entry.author().0.to_vec(), entry.seq(), hash));
    }
    let community = history.genesis.community();
    let mut replica = Replica::open(MemStore::new(), history.keys[1].clone(), Some(community), NOW)?;
    replica.adopt_genesis(&history.genesis)?;
    let replica = Arc::new(Mutex::new(replica));
    let held = || replica.lock().map(|r| r.community().map_or(0, |c| c.entry_count())).unwrap_or(0);
    let config = EngineConfig { sync_interval_ms: 30_000, invite: None, hub: false, join_profile: None, name, seed: 1 };
    let mut engine = Engine::new(replica.clone(), config, NOW);
    engine.start();
    let founder = history.founder.member_id();
    engine.handle(NOW, Input::Connected { peer: founder, first: true });
    let heads_asked = requests(&mut engine)
        .into_iter()
        .find(|(_, r)| matches!(r, SyncRequest::Heads { .. }))
        .map(|(id, _)| id)
        .ok_or_else(|| anyhow::anyhow!("no heads request on connecting"))?;
    let response = SyncResponse::Heads { heads: heads.into_values().collect(), forks: Vec::new() };
    engine.handle(NOW, Input::Response { id: heads_asked, response });
    let page_of = |after: u64| {
        let from = (after as usize).min(applied.len());
        let to = (from + PAGE_ENTRIES as usize).min(applied.len());
        let entries = applied[from..to].iter().map(|e| e.bytes().to_vec().into()).collect();
        SyncResponse::Ordered { entries, last: to as u64 }
    };

    // The founder answers each request at once; nothing is verified or stored yet.
    let mut asked = Vec::new();
    let mut to_verify = Vec::new();
    let mut next = drain(&mut engine);
    while let Some(&(id, after)) = next.since.first() {
        asked.push(after);
        to_verify.extend(next.verify);
        engine.handle(NOW, Input::Response { id, response: page_of(after) });
        next = drain(&mut engine);
    }
    to_verify.extend(next.verify);
    assert!(
        asked.len() >= 3,
        "with no page stored yet, the engine asked for the pages after {asked:?} only: it must ask ahead"
    );
    // The first page verified is handed out to be stored, not stored by the engine.
    let (page, bytes) = to_verify.remove(0);
    let (entries, fault) = verify_page(bytes);
    assert!(fault.is_none());
    engine.handle(NOW, Input::Verified { page, entries, fault });
    let mut next = drain(&mut engine);
    assert_eq!(next.store.len(), 1, "a verified page is handed out for storing");
    assert_eq!(held(), 1, "the engine stored a page itself, on its own thread");

    // Run the pipeline to its end: store and verify in order, answer each request.
    let mut to_store = std::mem::take(&mut next.store);
    loop {
        to_verify.extend(std::mem::take(&mut next.verify));
        to_store.extend(std::mem::take(&mut next.store));
        if let Some(&(id, after)) = next.since.first() {
            asked.push(after);
            engine.handle(NOW, Input::Response { id, response: page_of(after) });
        } else if !to_store.is_empty() {
            let (page, entries) = to_store.remove(0);
            let stored = engine.store_here(entries, NOW);
            engine.handle(NOW, Input::Stored { page, stored });
        } else if !to_verify.is_empty() {
            let (page, bytes) = to_verify.remove(0);
            let (entries, fault) = verify_page(bytes);
            engine.handle(NOW, Input::Verified { page, entries, fault });
        } else {
            break;
        }
        next = drain(&mut engine);
    }
    let expected: Vec<u64> =
        (0..=applied.len() as u64 / u64::from(PAGE_ENTRIES)).map(|n| n * u64::from(PAGE_ENTRIES)).collect();
    assert_eq!(asked, expected, "each page asked for once, in the founder's order");
    let missing = replica
        .lock()
        .map(|r| applied.iter().filter(|e| !r.community().is_some_and(|c| c.holds(&e.hash()))).count())
        .unwrap_or(applied.len());
    assert_eq!(missing, 0, "every entry applied, none waiting");
    Ok(())
}
