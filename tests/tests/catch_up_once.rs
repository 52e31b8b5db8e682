//! A node far behind fetches each entry once: while an ordered catch-up runs, a second heads
//! answer (the periodic sync round, the invite handshake and the Genesis fetch each ask for
//! heads) must not start log-by-log range fetches of the same entries. Before this rule, 2 of
//! 11 joins of a 100,000-entry community moved twice the bytes and filled the waiting area.
//! Drives the sans-I/O engine directly, with the history's founder as the only peer.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use kith_node::engine::{Command, Engine, EngineConfig, Input, Output, Peer};
use kith_node::replica::Replica;
use kith_node::storage::memory::MemStore;
use kith_node::sync::{HEAD_HASH_PREFIX, LogHead, SyncRequest, SyncResponse};
use kith_protocol::MemberId;
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
