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
use kith_node::reconcile::{HeadIndex, HeadItem};
use kith_node::replica::Replica;
use kith_node::storage::memory::MemStore;
use kith_node::sync::{HEAD_HASH_PREFIX, LogHead, PAGE_ENTRIES, SyncRequest, SyncResponse};
use kith_node::verify::verify_page;
use kith_protocol::{Entry, MemberId};
use kith_tests::history::{History, generate};

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

/// Stores the first page waiting to be stored, else verifies the first waiting to be verified,
/// as the network loop's threads would; says whether there was one.
fn store_or_verify_one(
    engine: &mut Engine<MemStore>,
    to_store: &mut Vec<(u64, Vec<Entry>)>,
    to_verify: &mut Vec<(u64, Vec<Vec<u8>>)>,
) -> bool {
    if !to_store.is_empty() {
        let (page, entries) = to_store.remove(0);
        let stored = engine.store_here(entries, NOW);
        engine.handle(NOW, Input::Stored { page, stored });
    } else if !to_verify.is_empty() {
        let (page, bytes) = to_verify.remove(0);
        let (entries, fault) = verify_page(bytes);
        engine.handle(NOW, Input::Verified { page, entries, fault });
    } else {
        return false;
    }
    true
}

/// A node joining the founder's: the founder's entries in the order it applied them (the
/// Genesis first), its heads, and the joining node's replica (holding the Genesis).
struct Joining<'h> {
    applied: Vec<&'h Entry>,
    heads: Vec<LogHead>,
    replica: Arc<Mutex<Replica<MemStore>>>,
}

impl<'h> Joining<'h> {
    /// The joining node, and its engine (started, not connected).
    fn new(history: &'h History) -> anyhow::Result<(Joining<'h>, Engine<MemStore>)> {
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
        let config =
            EngineConfig { sync_interval_ms: 30_000, invite: None, hub: false, join_profile: None, name, seed: 1 };
        let mut engine = Engine::new(replica.clone(), config, NOW);
        engine.start();
        Ok((Joining { applied, heads: heads.into_values().collect(), replica }, engine))
    }

    /// How many entries the joining node holds.
    fn held(&self) -> usize {
        self.replica.lock().map(|r| r.community().map_or(0, |c| c.entry_count())).unwrap_or(0)
    }

    /// The founder's answer to `Since { after }`.
    fn page_of(&self, after: u64) -> SyncResponse {
        let from = (after as usize).min(self.applied.len());
        let to = (from + PAGE_ENTRIES as usize).min(self.applied.len());
        let entries = self.applied[from..to].iter().map(|e| e.bytes().to_vec().into()).collect();
        SyncResponse::Ordered { entries, last: to as u64 }
    }
}

#[test]
fn the_catch_up_fetches_ahead_while_earlier_pages_are_verified_and_stored() -> anyhow::Result<()> {
    let history = generate(3_000, 20, 5)?;
    let (joining, mut engine) = Joining::new(&history)?;
    let (applied, held, page_of) = (&joining.applied, || joining.held(), |after| joining.page_of(after));
    let founder = history.founder.member_id();
    engine.handle(NOW, Input::Connected { peer: founder, first: true });
    let heads_asked = requests(&mut engine)
        .into_iter()
        .find(|(_, r)| matches!(r, SyncRequest::Heads { .. }))
        .map(|(id, _)| id)
        .ok_or_else(|| anyhow::anyhow!("no heads request on connecting"))?;
    let response = SyncResponse::Heads { heads: joining.heads.clone(), forks: Vec::new() };
    engine.handle(NOW, Input::Response { id: heads_asked, response });

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
        } else if !store_or_verify_one(&mut engine, &mut to_store, &mut to_verify) {
            break;
        }
        next = drain(&mut engine);
    }
    let expected: Vec<u64> =
        (0..=applied.len() as u64 / u64::from(PAGE_ENTRIES)).map(|n| n * u64::from(PAGE_ENTRIES)).collect();
    assert_eq!(asked, expected, "each page asked for once, in the founder's order");
    let missing = joining
        .replica
        .lock()
        .map(|r| applied.iter().filter(|e| !r.community().is_some_and(|c| c.holds(&e.hash()))).count())
        .unwrap_or(applied.len());
    assert_eq!(missing, 0, "every entry applied, none waiting");
    Ok(())
}

/// A catch-up cut in two by a lost connection goes on where it stopped when the same peer is
/// back: before, it began again at the peer's first entry (every page stored so far moved
/// twice) or, holding more than it missed, fell back to fetching log by log, whose entries
/// waited aside for one another (a join's peak memory went from 75 to 170 MB).
#[test]
fn a_catch_up_cut_by_a_lost_connection_goes_on_where_it_stopped() -> anyhow::Result<()> {
    let history = generate(3_000, 20, 5)?;
    let (joining, mut engine) = Joining::new(&history)?;
    let (applied, heads, held, page_of) =
        (&joining.applied, &joining.heads, || joining.held(), |after| joining.page_of(after));
    // The founder's heads as it answers a reconciliation (a node holding much reconciles).
    let founder_index = HeadIndex::new(
        heads
            .iter()
            .map(|LogHead(author, seq, prefix)| -> anyhow::Result<HeadItem> {
                Ok(HeadItem {
                    author: author.as_slice().try_into()?,
                    seq: *seq,
                    hash_prefix: prefix.as_slice().try_into()?,
                    frozen: false,
                })
            })
            .collect::<anyhow::Result<_>>()?,
    );
    let founder = history.founder.member_id();
    // Connects, answers the heads request, and runs the catch-up (requests answered at once,
    // pages verified and stored in order) until the node holds `until` entries (then the pages
    // received are verified and stored, and the requests sent left unanswered) or it ends.
    // Returns the `after` of every `Since` answered, and whether a log was fetched by range.
    let run_until = |engine: &mut Engine<MemStore>, until: usize| -> anyhow::Result<(Vec<u64>, bool)> {
        engine.handle(NOW, Input::Connected { peer: founder, first: true });
        let mut asked = Vec::new();
        let mut ranged = false;
        let mut to_verify = Vec::new();
        let mut to_store = Vec::new();
        let mut since = Vec::new();
        loop {
            while let Some(output) = engine.poll_output() {
                match output {
                    Output::Request { id, request: SyncRequest::Heads { .. }, .. } => {
                        engine.handle(
                            NOW,
                            Input::Response {
                                id,
                                response: SyncResponse::Heads { heads: heads.clone(), forks: Vec::new() },
                            },
                        );
                    }
                    Output::Request { id, request: SyncRequest::Reconcile { ranges, .. }, .. } => {
                        let answer = founder_index.answer(&ranges)?;
                        let heads = answer
                            .heads
                            .iter()
                            .map(|h| LogHead(h.author.to_vec(), h.seq, h.hash_prefix.to_vec()))
                            .collect();
                        let response = SyncResponse::Reconciled { heads, ranges: answer.ranges, forks: Vec::new() };
                        engine.handle(NOW, Input::Response { id, response });
                    }
                    Output::Request { id, request: SyncRequest::Since { after, .. }, .. } => since.push((id, after)),
                    Output::Request { request: SyncRequest::Range { .. }, .. } => ranged = true,
                    Output::Verify { page, bytes } => to_verify.push((page, bytes)),
                    Output::Store { page, entries } => to_store.push((page, entries)),
                    _ => {}
                }
            }
            // A page at a time: stored, else verified, else the next one answered.
            if store_or_verify_one(engine, &mut to_store, &mut to_verify) {
                continue;
            }
            if held() >= until || since.is_empty() {
                return Ok((asked, ranged));
            }
            let (id, after) = since.remove(0);
            asked.push(after);
            engine.handle(NOW, Input::Response { id, response: page_of(after) });
        }
    };

    // Half way (holding more than it misses), the connection is lost (the page asked for and
    // not yet answered is lost with it), then comes back.
    let (before, ranged) = run_until(&mut engine, 1_500)?;
    assert!(!ranged, "no range fetch beside the catch-up");
    let stopped_at = held() as u64;
    engine.handle(NOW, Input::Disconnected { peer: founder });
    let (after, ranged) = run_until(&mut engine, applied.len())?;
    assert!(!ranged, "after the reconnection, logs were fetched one by one beside or instead of the catch-up");
    let resumed = after.first().copied();
    assert!(
        resumed.is_some_and(|a| a > 0 && a <= stopped_at),
        "the catch-up began again at {resumed:?}, not where it stopped ({stopped_at} held; asked before {before:?})"
    );
    let twice = after.iter().filter(|a| before.contains(a) && **a < stopped_at).count();
    assert_eq!(twice, 0, "pages stored before the connection was lost were asked for again: {after:?}");
    assert_eq!(held(), applied.len(), "every entry applied in the end");
    Ok(())
}
