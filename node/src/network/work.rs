//! The network loop's helper threads, so that the loop never waits on a disk:
//! `kith-store` applies and stores what the engine hands out (sync pages, gossip and fetched
//! entries, fork proofs with their rebuild, entries the clock released, this node's claims and
//! join request with their fsync, a fetched Genesis, the gate's memory, a restored key's
//! read-only lifted once its log is here) and the addresses peers listen on, in the order
//! handed out, taking what is queued in one batch; `kith-read` reads the answers to peers'
//! range, by-hash and catch-up requests from the store. Both take the replica's lock
//! themselves, a chunk at a time. If a thread cannot start, its work is done on the loop,
//! inside `worker::off_the_runtime` so that the runtime's other tasks go on meanwhile.

use std::sync::{Arc, Mutex};

use tokio::sync::mpsc;

use kith_protocol::{Body, Entry, ForkProof, MemberId};

use crate::clock::now_ms;
use crate::engine::{self, EntryJob, INGEST_CHUNK, Input, Peer};
use crate::gate::GateRow;
use crate::replica::Replica;
use crate::sync::{HEAD_HASH_PREFIX, SyncRequest, SyncResponse};
use crate::worker::Worker;

/// Work for the `kith-store` thread.
#[derive(Debug)]
pub(super) enum StoreJob {
    /// A verified sync page ([`engine::Output::Store`]).
    Page(u64, Vec<Entry>),
    /// An entry from gossip or fetched by hash ([`engine::Output::StoreEntry`]).
    Entry(Box<EntryJob>),
    /// A heads answer's fork proofs to keep ([`engine::Output::StoreProofs`]).
    Proofs(Vec<ForkProof>),
    /// Entries waiting for the clock to release ([`engine::Output::Release`]).
    Release,
    /// Entries of this node's log to sign, store and flush ([`engine::Output::Sign`]).
    Sign { job: u64, bodies: Vec<Body>, flush: bool },
    /// The community's Genesis fetched from a peer ([`engine::Output::AdoptGenesis`]).
    Genesis(Peer, Box<Entry>),
    /// A peer's heads behind ours, to compare with our entries ([`engine::Output::CompareHeads`]).
    Compare(Peer, Vec<(MemberId, u64, [u8; HEAD_HASH_PREFIX])>),
    /// A newcomer's invite, to read its uses ([`engine::Output::InviteUses`]).
    Invite { id: u64, peer: Peer, invite: Vec<u8> },
    /// A restored key's own log to check, to lift read-only ([`engine::Output::CheckOwnLog`]).
    OwnLog { seq: u64, hash: Vec<u8> },
    /// Rows of the gate's memory to write and flush ([`engine::Output::StoreGate`]).
    Gate(Vec<GateRow>),
    /// Addresses a peer told us it listens on, to dial it after a restart.
    Peer(String, Vec<String>),
}

/// Starts `kith-store`; what it did comes back to the loop as engine inputs on `done`.
pub(super) fn start_storer(
    replica: Arc<Mutex<Replica>>,
    done: mpsc::UnboundedSender<Input>,
) -> Option<Worker<StoreJob>> {
    Worker::start_batched("kith-store", move |batch| {
        store(&replica, batch).into_iter().all(|input| done.send(input).is_ok())
    })
    .map_err(|error| tracing::warn!(%error, "no thread for storing entries; storing on the network loop"))
    .ok()
}

/// Does a batch of store work in order: the entries among it that follow each other are stored
/// together ([`engine::store_entries`]: the lock taken once a chunk); then the entry file's
/// periodic fsync, if due, without the lock. A blocking call.
pub(super) fn store(replica: &Mutex<Replica>, batch: Vec<StoreJob>) -> Vec<Input> {
    let mut done = Vec::with_capacity(batch.len());
    let mut entries: Vec<EntryJob> = Vec::new();
    let store_entries = |entries: &mut Vec<EntryJob>, done: &mut Vec<Input>| {
        if !entries.is_empty() {
            let stored = engine::store_entries(replica, std::mem::take(entries), now_ms());
            done.extend(stored.into_iter().map(|(job, received)| Input::EntryStored { job, received }));
        }
    };
    for job in batch {
        match job {
            StoreJob::Entry(job) => {
                entries.push(*job);
                if entries.len() >= INGEST_CHUNK {
                    store_entries(&mut entries, &mut done);
                }
            }
            StoreJob::Page(page, page_entries) => {
                store_entries(&mut entries, &mut done);
                let stored = engine::store_page(replica, page_entries, now_ms());
                done.push(Input::Stored { page, stored });
            }
            StoreJob::Proofs(proofs) => {
                store_entries(&mut entries, &mut done);
                done.push(Input::ProofsStored(engine::store_proofs(replica, &proofs, now_ms())));
            }
            StoreJob::Release => {
                store_entries(&mut entries, &mut done);
                done.push(Input::Released(engine::release(replica, now_ms())));
            }
            StoreJob::Sign { job, bodies, flush } => {
                store_entries(&mut entries, &mut done);
                let signed = engine::sign(replica, bodies, flush, now_ms());
                done.push(Input::Signed { job, signed });
            }
            StoreJob::Genesis(peer, entry) => {
                store_entries(&mut entries, &mut done);
                let result = engine::adopt_genesis(replica, &entry);
                done.push(Input::GenesisAdopted { peer, community: entry.community(), result });
            }
            StoreJob::OwnLog { seq, hash } => {
                // After the entries handed out before it, which may be the log's latest.
                store_entries(&mut entries, &mut done);
                let (caught_up, unclaimed) = engine::check_own_log(replica, seq, &hash);
                done.push(Input::OwnLogChecked { caught_up, unclaimed });
            }
            StoreJob::Gate(rows) => engine::store_gate(replica, &rows),
            StoreJob::Invite { id, peer, invite } => {
                let uses = engine::invite_uses(replica, &invite);
                done.push(Input::InviteUses { id, peer, invite, uses });
            }
            StoreJob::Compare(peer, heads) => {
                done.push(Input::HeadsCompared { peer, parted: engine::compare_heads(replica, &heads) });
            }
            StoreJob::Peer(peer, addrs) => {
                let replica = replica.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                if let Err(error) = replica.store().remember_peer(&peer, &addrs) {
                    tracing::debug!(%error, "could not remember a peer");
                }
            }
        }
    }
    store_entries(&mut entries, &mut done);
    // The entry file's once-a-second fsync, with the replica's lock let go: the loop reads
    // through that lock and never waits for a disk; what was done is reported after it.
    let sync = replica.lock().unwrap_or_else(std::sync::PoisonError::into_inner).store().sync_later();
    if let Err(error) = sync() {
        tracing::error!(%error, "could not sync the entry file");
    }
    done
}

/// Starts `kith-read`; each answer comes back on `done` with the request's handle.
pub(super) fn start_reader(
    replica: Arc<Mutex<Replica>>,
    done: mpsc::UnboundedSender<(u64, SyncResponse)>,
) -> Option<Worker<(u64, SyncRequest)>> {
    Worker::start("kith-read", move |(id, request): (u64, SyncRequest)| {
        done.send((id, engine::read_answer(&replica, &request))).is_ok()
    })
    .map_err(|error| tracing::warn!(%error, "no thread for reading answers; reading on the network loop"))
    .ok()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::mpsc::channel;
    use std::time::Duration;

    use kith_protocol::{Keypair, Rules};
    use tempfile::TempDir;

    use super::*;
    use crate::replica::Received;
    use crate::store::Store;

    fn replica(dir: &std::path::Path, secret: u8, community: Option<kith_protocol::CommunityId>) -> Replica {
        let store = Store::open(dir, 1024 * 1024).unwrap();
        Replica::open(store, Keypair::from_secret_bytes([secret; 32]), community, now_ms()).unwrap()
    }

    /// The loop reads heads through the view the store thread publishes, and what reads under
    /// the replica's lock (the API, `kith-read`) must not wait for a disk either: the store
    /// thread's once-a-second fsync of the entry file runs with that lock let go, and the view
    /// showing the batch is published before it (before the batch is reported).
    #[test]
    fn the_entry_file_s_periodic_fsync_leaves_the_replica_s_lock_free() {
        let dir = TempDir::new().unwrap();
        // The store thread judges entries by the clock.
        let now = now_ms();
        let mut ada = replica(&dir.path().join("ada"), 1, None);
        ada.found("Elm Street", "", Rules::default(), now).unwrap();
        let genesis = ada.store().entry_at(&ada.me(), 1).unwrap().unwrap();
        let post = ada.publish(crate::replica::tests::post("Lifts"), now).unwrap();
        let mut bob = replica(&dir.path().join("bob"), 2, Some(genesis.community()));
        bob.adopt_genesis(&genesis).unwrap();
        let (started_tx, started) = channel();
        let (go, held) = channel();
        bob.store().hold_next_sync(started_tx, held);
        let view = bob.view();
        let bob = Arc::new(Mutex::new(bob));

        let storing = Arc::clone(&bob);
        let returned = Arc::new(AtomicBool::new(false));
        let storer_returned = Arc::clone(&returned);
        let storer = std::thread::spawn(move || {
            let job = EntryJob { job: 1, entry: post, may_wait: true };
            let done = store(&storing, vec![StoreJob::Entry(Box::new(job))]);
            storer_returned.store(true, Ordering::SeqCst);
            done
        });
        started.recv_timeout(Duration::from_secs(30)).expect("the store thread never synced");
        // What the loop does meanwhile: read the heads, in the view (published already) and
        // under the lock (free).
        let ada_id = Keypair::from_secret_bytes([1; 32]).member_id();
        assert_eq!(view.get().head_seq(&ada_id), 2, "the view was not published before the sync");
        let head = bob.lock().unwrap().head_seq(&ada_id);
        // The sync is still held (it lets go by itself after 5 s, and then `go` has no one to
        // hear it): the read did not wait for it.
        assert!(go.send(()).is_ok(), "the read of the heads waited for the entry file's fsync");
        assert_eq!(head, 2);
        let done = storer.join().unwrap();
        assert!(returned.load(Ordering::SeqCst));
        assert!(
            matches!(done.as_slice(), [Input::EntryStored { job: 1, received: Some(Received::Applied(_)) }]),
            "{done:?}"
        );
    }
}
