//! The blocking work the engine hands out instead of doing it on its own thread (in a node, the
//! network task): applying and storing entries from gossip or fetched by hash
//! ([`Output::StoreEntry`], [`store_entries`]), reading sync answers from the store
//! ([`Output::Read`], [`read_answer`]), signing this node's entries with their fsync
//! ([`Output::Sign`], [`sign`]), taking a fetched Genesis as the community
//! ([`Output::AdoptGenesis`], [`adopt_genesis`]) and writing the gate's memory with its fsync
//! ([`Output::StoreGate`], [`store_gate`]), and lifting a restored key's read-only once its log
//! is here ([`Output::CheckOwnLog`], [`check_own_log`]). Sync pages are stored by
//! [`super::store_page`].
//!
//! Each function takes the replica's lock itself, so the runtime calls it on a thread of its
//! own (the node's `kith-store` and `kith-read` threads); the simulator and the engine's tests
//! call them inline through [`Engine::run_here`].

use std::sync::Mutex;

use kith_protocol::{Body, Entry, EntryHash, ForkProof, MemberId, Outcome};

use super::{Engine, INGEST_CHUNK, Input, Output};
use crate::gate::{self, GateRow};
use crate::replica::{Received, Replica};
use crate::storage::Storage;
use crate::sync::{self, SyncRequest, SyncResponse};

/// An entry from a peer's gossip or fetched by hash, to be applied and stored
/// ([`Output::StoreEntry`]); answered by [`Input::EntryStored`] with the same `job`.
#[derive(Debug, Clone)]
pub struct EntryJob {
    pub job: u64,
    pub entry: Entry,
    /// Whether it may be kept waiting: false once its sender's quota of waiting entries is
    /// used, so an entry that would wait is held back (not kept) instead.
    pub may_wait: bool,
}

/// Applies and stores entries from gossip or fetched by hash, in their order, the replica's lock
/// held once for a chunk of [`INGEST_CHUNK`] of them. For each job: what became of its entry, or
/// `None` when it would wait and may not ([`EntryJob::may_wait`]), judged against the state the
/// entries before it left. A blocking call (the reducer, the entry file, sled).
pub fn store_entries<S: Storage>(
    replica: &Mutex<Replica<S>>,
    jobs: Vec<EntryJob>,
    now_ms: u64,
) -> Vec<(u64, Option<Received>)> {
    let mut done = Vec::with_capacity(jobs.len());
    let mut jobs = jobs.into_iter().peekable();
    while jobs.peek().is_some() {
        // A poisoned lock means a panic elsewhere already; keep storing with the data as is.
        let mut replica = replica.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        for EntryJob { job, entry, may_wait } in jobs.by_ref().take(INGEST_CHUNK) {
            let waits = || replica.community().is_some_and(|c| matches!(c.check(&entry, now_ms), Outcome::Pending(_)));
            if !may_wait && waits() {
                done.push((job, None));
            } else {
                done.push((job, Some(replica.receive(entry, now_ms))));
            }
        }
        if jobs.peek().is_none() {
            // Before the outcomes reach the engine, which reads the view.
            replica.publish_view();
        }
    }
    done
}

/// The answer to a request the engine let through and that reads the store (a range of one
/// log, an entry by hash, the applied order since a position), within the answer bounds
/// ([`sync::PAGE_ENTRIES`], [`sync::PAGE_BYTES`]). A blocking call (the entry file, sled).
pub fn read_answer<S: Storage>(replica: &Mutex<Replica<S>>, request: &SyncRequest) -> SyncResponse {
    let replica = replica.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let store = replica.store();
    match request {
        SyncRequest::Range { author, from_seq, limit, .. } => {
            let Ok(author) = <[u8; 32]>::try_from(author.as_slice()) else {
                return SyncResponse::Refused("an author is 32 bytes".into());
            };
            let limit = (*limit).min(sync::PAGE_ENTRIES) as usize;
            match store.range(&MemberId(author), *from_seq, limit, sync::PAGE_BYTES) {
                Ok(mut entries) => {
                    // A log's range is consecutive: cut where this node's entries not yet
                    // durable start.
                    if let Some(from) = replica.unserved_from(&MemberId(author)) {
                        entries.truncate(usize::try_from(from.saturating_sub(*from_seq)).unwrap_or(usize::MAX));
                    }
                    SyncResponse::Entries(entries.into_iter().map(serde_bytes::ByteBuf::from).collect())
                }
                Err(error) => SyncResponse::Refused(error.to_string()),
            }
        }
        SyncRequest::Entry { hash, .. } => {
            let Ok(hash) = <[u8; 32]>::try_from(hash.as_slice()) else {
                return SyncResponse::Refused("a hash is 32 bytes".into());
            };
            match store.get(&EntryHash(hash)) {
                Ok(Some(entry)) if unserved(&replica, &entry) => SyncResponse::Entries(Vec::new()),
                Ok(Some(entry)) => SyncResponse::Entries(vec![serde_bytes::ByteBuf::from(entry.into_bytes())]),
                Ok(None) => SyncResponse::Entries(Vec::new()),
                Err(error) => SyncResponse::Refused(error.to_string()),
            }
        }
        SyncRequest::Since { after, limit, .. } => {
            let limit = (*limit).min(sync::PAGE_ENTRIES) as usize;
            match store.applied_since(*after, limit, sync::PAGE_BYTES) {
                Ok((mut entries, mut last)) => {
                    // The page ends before the first entry of this node's not yet durable
                    // (`last` counts what is sent, so the next page starts there).
                    if !replica.serves_all()
                        && let Some(cut) = entries.iter().position(|bytes| {
                            Entry::decode_unverified(bytes.clone()).is_ok_and(|entry| unserved(&replica, &entry))
                        })
                    {
                        entries.truncate(cut);
                        last = after.saturating_add(cut as u64);
                    }
                    SyncResponse::Ordered {
                        entries: entries.into_iter().map(serde_bytes::ByteBuf::from).collect(),
                        last,
                    }
                }
                Err(error) => SyncResponse::Refused(error.to_string()),
            }
        }
        SyncRequest::Heads { .. } | SyncRequest::Reconcile { .. } | SyncRequest::Hello { .. } => {
            SyncResponse::Refused("not a question the store answers".into())
        }
    }
}

/// Of a peer's heads behind ours (author, seq, first bytes of the hash), those where our entry
/// at that seq is another ([`Output::CompareHeads`]). Reads the reducer in memory, under the
/// replica's lock: on the store thread, since a rebuild may hold that lock for seconds.
pub fn compare_heads<S: Storage>(
    replica: &Mutex<Replica<S>>,
    heads: &[(MemberId, u64, [u8; sync::HEAD_HASH_PREFIX])],
) -> Vec<(MemberId, u64)> {
    let replica = replica.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let Some(community) = replica.community() else { return Vec::new() };
    heads
        .iter()
        .filter(|(author, seq, prefix)| {
            community.entry_at(author, *seq).is_some_and(|ours| ours.0[..sync::HEAD_HASH_PREFIX] != prefix[..])
        })
        .map(|(author, seq, _)| (*author, *seq))
        .collect()
}

/// What the reducer says of an invite a newcomer showed: the newcomers whose join request
/// named it, and whether it was withdrawn.
#[derive(Debug, Clone, Default)]
pub struct InviteUses {
    pub users: Vec<MemberId>,
    pub revoked: bool,
}

/// Reads [`InviteUses`] of `invite` (`None` if it cannot be read or there is no community yet)
/// under the replica's lock ([`Output::InviteUses`]): on the store thread, since a rebuild may
/// hold that lock for seconds.
pub fn invite_uses<S: Storage>(replica: &Mutex<Replica<S>>, invite: &[u8]) -> Option<InviteUses> {
    let capability = kith_protocol::invite::Capability::from_bytes(invite).ok()?;
    let replica = replica.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let community = replica.community()?;
    Some(InviteUses {
        users: community.invite_users(&capability.id()).copied().collect(),
        revoked: community.invite_revoked(&capability),
    })
}

/// After a key restore: lifts read-only if this member's entry `seq` starting with `hash` is here
/// ([`Replica::own_log_caught_up`]), publishing the view, and returns whether it did and then the
/// transfers to this member not yet claimed ([`Output::CheckOwnLog`]). Under the replica's lock:
/// on the store thread, since a rebuild may hold that lock for seconds.
pub fn check_own_log<S: Storage>(replica: &Mutex<Replica<S>>, seq: u64, hash: &[u8]) -> (bool, Vec<EntryHash>) {
    let mut replica = replica.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if !replica.own_log_caught_up(seq, hash) {
        return (false, Vec::new());
    }
    // Before the engine hears of it: it reads read-only in the view.
    replica.publish_view();
    (true, replica.unclaimed_for_me())
}

/// Keeps a heads answer's fork proofs, the state rebuilt once for the new ones
/// ([`Replica::receive_fork_proofs`]); returns those. A blocking call (sled, a full rebuild).
pub fn store_proofs<S: Storage>(replica: &Mutex<Replica<S>>, proofs: &[ForkProof], now_ms: u64) -> Vec<ForkProof> {
    let mut replica = replica.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let new = replica.receive_fork_proofs(proofs, now_ms);
    replica.publish_view();
    new
}

/// Releases and stores the entries that waited for the clock ([`Replica::tick`]). A blocking
/// call (the entry file, sled).
pub fn release<S: Storage>(replica: &Mutex<Replica<S>>, now_ms: u64) -> Vec<Entry> {
    let mut replica = replica.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let released = replica.tick(now_ms);
    replica.publish_view();
    released
}

/// Takes `genesis`, fetched from a peer, as this node's community ([`Replica::adopt_genesis`]),
/// unless the community is here already (`None`: fetched from another peer meanwhile). A
/// blocking call (the entry file, sled).
pub fn adopt_genesis<S: Storage>(replica: &Mutex<Replica<S>>, genesis: &Entry) -> Option<Result<(), String>> {
    let mut replica = replica.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let adopted = replica.community().is_none().then(|| replica.adopt_genesis(genesis).map_err(|e| e.to_string()));
    replica.publish_view();
    adopted
}

/// Writes rows of the gate's memory, then flushes the store without the replica's lock (a
/// newcomer let in stays let in across a power cut). A blocking call (sled, fsyncs).
pub fn store_gate<S: Storage>(replica: &Mutex<Replica<S>>, rows: &[GateRow]) {
    let written = {
        let replica = replica.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        gate::write(replica.store(), rows).map(|()| replica.store().flush_later())
    };
    if let Err(error) = written.and_then(|flush| flush()) {
        tracing::warn!(%error, "cannot remember who is let in at the door");
    }
}

/// Whether `entry` is one this node wrote and has not made durable yet: not served.
fn unserved<S: Storage>(replica: &Replica<S>, entry: &Entry) -> bool {
    replica.unserved_from(&entry.author()).is_some_and(|from| entry.seq() >= from)
}

/// Signs and stores each of `bodies` in this member's log, in order, then (if `flush`: always,
/// but for the simulator's planted defect) flushes the store once before returning: an entry is
/// `Ok` only once durable. The flush runs without the replica's lock, so the network loop and
/// the reader go on meanwhile; until it returns, no answer to a peer serves these entries
/// ([`Replica::unserved_from`]). A blocking call (the fsync can take a second on an SD card).
pub fn sign<S: Storage>(
    replica: &Mutex<Replica<S>>,
    bodies: Vec<Body>,
    flush: bool,
    now_ms: u64,
) -> Vec<Result<Entry, String>> {
    let lock = || replica.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let (mut signed, flushing) = {
        let mut replica = lock();
        let signed: Vec<Result<Entry, String>> =
            bodies.into_iter().map(|body| replica.publish_unflushed(body, now_ms).map_err(|e| e.to_string())).collect();
        replica.publish_view();
        let flushing =
            (flush && signed.iter().any(Result::is_ok)).then(|| (replica.flush_mark(), replica.store().flush_later()));
        (signed, flushing)
    };
    let Some((mark, flush)) = flushing else { return signed };
    match flush() {
        Ok(()) => lock().flushed(mark),
        Err(error) => {
            tracing::error!(%error, "could not flush entries this node signed");
            for result in &mut signed {
                if result.is_ok() {
                    *result = Err(error.to_string());
                }
            }
        }
    }
    signed
}

impl<S: Storage> Engine<S> {
    /// Carries out on the caller's thread the work `output` hands out (verify, store, read,
    /// sign, adopt the Genesis, write the gate), feeding the engine what it answers; a read comes back as the
    /// [`Output::Respond`] to send. Any other output is given back untouched. For the
    /// simulator and tests: the node does this work on threads of its own.
    pub fn run_here(&mut self, now_ms: u64, output: Output) -> Option<Output> {
        match output {
            Output::Verify { page, bytes } => {
                let (entries, fault) = crate::verify::verify_page(bytes);
                self.handle(now_ms, Input::Verified { page, entries, fault });
            }
            Output::Store { page, entries } => {
                let stored = self.store_here(entries, now_ms);
                self.handle(now_ms, Input::Stored { page, stored });
            }
            Output::StoreEntry(job) => {
                for (job, received) in store_entries(&self.replica, vec![job], now_ms) {
                    self.handle(now_ms, Input::EntryStored { job, received });
                }
            }
            Output::StoreProofs(proofs) => {
                let new = store_proofs(&self.replica, &proofs, now_ms);
                self.handle(now_ms, Input::ProofsStored(new));
            }
            Output::Release => {
                let released = release(&self.replica, now_ms);
                self.handle(now_ms, Input::Released(released));
            }
            Output::Sign { job, bodies, flush } => {
                let signed = sign(&self.replica, bodies, flush, now_ms);
                self.handle(now_ms, Input::Signed { job, signed });
            }
            Output::AdoptGenesis { peer, entry } => {
                let result = adopt_genesis(&self.replica, &entry);
                self.handle(now_ms, Input::GenesisAdopted { peer, community: entry.community(), result });
            }
            Output::StoreGate(rows) => store_gate(&self.replica, &rows),
            Output::InviteUses { id, peer, invite } => {
                let uses = invite_uses(&self.replica, &invite);
                self.handle(now_ms, Input::InviteUses { id, peer, invite, uses });
            }
            Output::CompareHeads { peer, heads } => {
                let parted = compare_heads(&self.replica, &heads);
                self.handle(now_ms, Input::HeadsCompared { peer, parted });
            }
            Output::CheckOwnLog { seq, hash } => {
                let (caught_up, unclaimed) = check_own_log(&self.replica, seq, &hash);
                self.handle(now_ms, Input::OwnLogChecked { caught_up, unclaimed });
            }
            Output::Read { id, request } => {
                return Some(Output::Respond { id, response: read_answer(&self.replica, &request) });
            }
            other => return Some(other),
        }
        None
    }
}
