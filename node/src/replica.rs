//! The replica: this node's copy of one community. Joins the sled [`Store`] with the
//! protocol's [`Community`] reducer: every entry, local or remote, goes through here, is
//! judged by the protocol, and is stored with its views in one transaction.
//!
//! The reducer never runs ahead of the store: when storing what the reducer did fails, the
//! reducer is rebuilt from what the store holds, and the entry counts as not received
//! ([`Received::Dropped`]: not forwarded, not acknowledged, fetched again later). And the store
//! never holds as applied what the reducer does not apply: after a fork, or a record lost in the
//! middle of the entry file, the file and the views are brought back to the reducer's state
//! ([`Replica::open`] and every rebuild).

mod snapshot;
pub mod view;

use std::collections::{BTreeMap, BTreeSet};

use kith_protocol::community::Report;
use kith_protocol::{
    Body, Community, CommunityId, Draft, Entry, EntryError, EntryHash, ForkProof, Keypair, MemberId, Outcome, Wait,
};

use crate::storage::Storage;
use crate::store::{Store, StoreError};

pub use snapshot::SNAPSHOT_AFTER;

/// What became of an entry received from a peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Received {
    /// Applied, with every waiting entry it released (hashes, in order).
    Applied(Vec<Entry>),
    Duplicate,
    /// Kept aside until what it waits for arrives.
    Pending(Wait),
    Rejected(EntryError),
    /// Valid, but part of a frozen log: kept as evidence.
    Frozen,
    /// It forked its author's log; the proof is kept and the state rebuilt.
    Fork(ForkProof),
    /// Not for this node's community, or this node has no community yet.
    NotOurs,
    /// Not kept: the waiting area is full, or the store could not write it (the state is as
    /// if it never arrived). Fetch it again later.
    Dropped,
}

/// Why a local publish was refused. Nothing is signed or stored when it is.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("{0}")]
    Rule(#[from] EntryError),
    #[error("this home holds no key of member {} (only helped members added here can be acted for)", .0.short())]
    NotHeld(MemberId),
    #[error("{}: this node no longer records for them", match .helper {
        Some(helper) => format!("{name} is helped by {helper} now"),
        None => format!("{name} holds their own key now"),
    })]
    NoLongerHelped { name: String, helper: Option<String> },
    #[error(
        "{0}'s log here does not name you as their helper yet: waiting for that entry from a neighbour, \
         so their log is not forked"
    )]
    NotYetHelper(String),
    #[error("this entry cannot count yet: it {0}")]
    Waits(Wait),
    #[error("this node has not joined a community yet")]
    NoCommunity,
    #[error("your log is frozen: two different entries were signed at one place in it; ask an organiser")]
    Frozen,
    #[error("this node is read-only until it has fetched its own log from peers (a restored key)")]
    ReadOnly,
    #[error("the stored log and the last entry disagree; run `kith repair`")]
    HeadMismatch,
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[derive(Debug, thiserror::Error)]
pub enum ReplicaError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the stored community cannot be read: {0}")]
    BadGenesis(EntryError),
}

/// This node's copy of its community, on the node's sled [`Store`] or any other [`Storage`]
/// (the simulator's in-memory one).
#[derive(Debug)]
pub struct Replica<S = Store> {
    store: S,
    keypair: Keypair,
    community_id: Option<CommunityId>,
    community: Option<Community>,
    read_only: bool,
    /// When this member's join request is dated: fixed when the home joined, so that a node
    /// asking again (its request outranked, then a restart) signs the very same request. Two
    /// different join requests of one key are a fork once it is admitted.
    join_timestamp_ms: Option<u64>,
    /// A write to the store failed and the reducer could not be rebuilt from the store since:
    /// nothing is applied until it can be.
    behind_store: bool,
    /// When an entry from a peer was last applied (since this process started).
    last_received_ms: Option<u64>,
    /// The keys of helped members this home holds besides its own (issue 15 §2): each signs
    /// its own member's log, never this member's.
    helped: BTreeMap<MemberId, Keypair>,
    /// Those of them taken over from another helper (`kith member take`): written in only
    /// once their log names this member their helper.
    taken: BTreeSet<MemberId>,
    /// Logs this node writes (its own, helped members') with entries stored but not yet known
    /// durable: the first such seq. Not served to peers until a flush covering them returned
    /// ([`Replica::unserved_from`]): a crash could lose them, and this node would then sign
    /// those places again — a fork of its own log in the hands of whoever got the first.
    unflushed: BTreeMap<MemberId, u64>,
    /// How many applied entries the kept snapshot of the reducer's state covers (0: none).
    snapshot_covers: u64,
    /// What the network loop reads of this replica without its lock ([`Replica::publish_view`]).
    view: view::Published,
}

/// What a flush started now covers: the head of each log with entries not yet durable
/// ([`Replica::flush_mark`], [`Replica::flushed`]).
#[derive(Debug, Clone, Default)]
pub struct FlushMark(Vec<(MemberId, u64)>);

impl<S: Storage> Replica<S> {
    /// Loads the community from the store (if any) and replays its entries into the reducer.
    pub fn open(
        store: S,
        keypair: Keypair,
        community_id: Option<CommunityId>,
        now_ms: u64,
    ) -> Result<Replica<S>, ReplicaError> {
        let mut replica = Replica {
            store,
            keypair,
            community_id,
            community: None,
            read_only: false,
            join_timestamp_ms: None,
            behind_store: false,
            last_received_ms: None,
            helped: BTreeMap::new(),
            taken: BTreeSet::new(),
            unflushed: BTreeMap::new(),
            snapshot_covers: 0,
            view: view::Published::default(),
        };
        if let Some(genesis_hash) = replica.store.genesis()? {
            replica.community_id = Some(CommunityId(genesis_hash.0));
            replica.reload(now_ms)?;
            replica.save_snapshot(SNAPSHOT_AFTER);
        }
        replica.publish_view();
        Ok(replica)
    }

    /// Writes a snapshot of the reducer's state if it holds at least `after` applied entries
    /// more than the kept one covers (and the store holds what it applies); the next start
    /// begins there. Returns whether it wrote one.
    pub fn save_snapshot(&mut self, after: u64) -> bool {
        let Some(community) = self.community.as_ref() else { return false };
        let covers = self.store.entry_count() as u64;
        let applied: u64 = community.heads().map(|(_, head)| head.seq).sum();
        if self.behind_store || applied != covers || covers < self.snapshot_covers.saturating_add(after) {
            return false;
        }
        let saved = snapshot::save(&self.store, community, covers);
        if saved {
            self.snapshot_covers = covers;
        }
        saved
    }

    /// A replica over a store that already holds `community`'s entries, with the reducer state
    /// built elsewhere (the simulator builds one community and copies it to every node).
    pub fn from_parts(store: S, keypair: Keypair, community: Community) -> Replica<S> {
        let community_id = Some(community.id());
        let replica = Replica {
            store,
            keypair,
            community_id,
            community: Some(community),
            read_only: false,
            join_timestamp_ms: None,
            behind_store: false,
            last_received_ms: None,
            helped: BTreeMap::new(),
            taken: BTreeSet::new(),
            unflushed: BTreeMap::new(),
            snapshot_covers: 0,
            view: view::Published::default(),
        };
        replica.publish_view();
        replica
    }

    /// Rebuilds the in-memory state from every stored entry and fork proof. A fork that shows
    /// only in the rebuild (two stored entries at one place, neither applied on arrival) is
    /// kept like one met on arrival; its proofs are returned, to be handed on.
    fn reload(&mut self, now_ms: u64) -> Result<Vec<ForkProof>, ReplicaError> {
        let Some(genesis_hash) = self.store.genesis()? else { return Ok(Vec::new()) };
        let Some(genesis) = self.store.get(&genesis_hash)? else {
            return Err(ReplicaError::BadGenesis(EntryError::Malformed {
                part: "genesis",
                reason: "missing from the store".into(),
            }));
        };
        let forks = self.store.forks()?;
        if let Some((community, covers)) = snapshot::resume(&self.store, &genesis, &forks, now_ms)? {
            self.community = Some(community);
            self.snapshot_covers = covers;
            self.behind_store = false;
            self.store_what_the_reducer_holds(false)?;
            return Ok(Vec::new());
        }
        self.snapshot_covers = 0;
        // Stream the entries into the reducer rather than holding them all at once: a node
        // with 100,000 entries would otherwise double its memory at every start. A pass that
        // meets a fork runs again, so the stream is made once per pass.
        let failure = std::cell::RefCell::new(None);
        let store = &self.store;
        let keep_failure = |error: StoreError| {
            failure.borrow_mut().get_or_insert(error);
        };
        let entries = || {
            let applied = store.applied_entries().filter_map(|entry| entry.map_err(keep_failure).ok());
            let applied = applied.filter(|entry| entry.hash() != genesis_hash);
            let frozen = store.frozen_entries().map_err(keep_failure).unwrap_or_default();
            let waiting = store.pending().map_err(keep_failure).unwrap_or_default();
            applied.chain(frozen).chain(waiting)
        };
        let stored = |hash: &EntryHash| held_or_waiting(store, hash).map_err(keep_failure).ok().flatten();
        let rebuilt =
            Community::rebuild(&genesis, &forks, entries, stored, now_ms).map_err(ReplicaError::BadGenesis)?;
        if let Some(error) = failure.into_inner() {
            return Err(error.into());
        }
        for proof in &rebuilt.new_forks {
            let Ok(fork) = proof.verify() else { continue };
            tracing::warn!(author = %fork.author.short(), seq = fork.seq, "fork: two entries at one place in a log, found in a rebuild");
            self.store.put_fork(&fork.author, proof)?;
        }
        let mut community = rebuilt.community;
        community.shrink_to_fit();
        self.community = Some(community);
        self.behind_store = false;
        self.store_what_the_reducer_holds(false)?;
        Ok(rebuilt.new_forks)
    }

    /// Brings the store to what the rebuilt reducer holds: applied entries kept as waiting or
    /// frozen rows go into the entry file; entries of the file the reducer no longer applies
    /// (the frozen part of a forked log, entries waiting for one lost from the file) leave it —
    /// kept as frozen or waiting rows, or dropped if now invalid — so they are neither served
    /// to peers as valid nor shown. `rewrite`: even when the counts agree (an eviction, whose
    /// entry's place is taken by one stored after this).
    fn store_what_the_reducer_holds(&mut self, rewrite: bool) -> Result<(), StoreError> {
        let Some(community) = self.community.as_ref() else { return Ok(()) };
        let applied = |entry: &Entry| community.entry_at(&entry.author(), entry.seq()) == Some(entry.hash());
        let mut outside = Vec::new();
        for entry in self.store.frozen_entries()?.into_iter().chain(self.store.pending()?) {
            if applied(&entry) && self.store.entry_at(&entry.author(), entry.seq())?.is_none() {
                outside.push(entry);
            }
        }
        let applied_count: u64 = community.heads().map(|(_, head)| head.seq).sum();
        if !rewrite && applied_count == (self.store.entry_count() + outside.len()) as u64 {
            return self.store.store_applied(&outside);
        }
        let waiting: std::collections::HashSet<EntryHash> = community.pending().map(|(e, _)| e.hash()).collect();
        let (mut kept, mut frozen, mut parked, mut dropped) = (Vec::new(), 0usize, 0usize, 0usize);
        for entry in self.store.applied_entries() {
            let entry = entry?;
            if applied(&entry) {
                kept.push(entry);
            } else if waiting.contains(&entry.hash()) {
                self.store.put_pending(&entry)?;
                parked += 1;
            } else if community.holds(&entry.hash()) {
                self.store.store_frozen(&entry)?;
                frozen += 1;
            } else if community.refused_at(&entry.author()) == Some((entry.seq(), entry.hash())) {
                // Refused now, at its author's next place: kept as evidence of that place.
                self.store.put_pending(&entry)?;
                parked += 1;
            } else {
                dropped += 1;
            }
        }
        tracing::warn!(
            frozen,
            waiting = parked,
            invalid = dropped,
            "stored entries the community no longer applies leave the entry file and the views"
        );
        kept.extend(outside);
        self.store.replace_applied(&kept)
    }

    /// Where this replica's view for the network loop is published (read it with `get`).
    pub fn view(&self) -> view::Published {
        self.view.clone()
    }

    /// Publishes the view of the replica as it is now, for the network loop to read without the
    /// lock. Whoever changed it calls this before telling the loop (`engine::offload`'s
    /// functions, `NodeHandle::publish`). In memory: O(keys the community knows).
    pub fn publish_view(&self) {
        let view = view::View::of(self.me(), self.community_id, self.community.as_ref(), self.read_only);
        self.view.set(view);
    }

    pub fn keypair(&self) -> &Keypair {
        &self.keypair
    }
    pub fn me(&self) -> MemberId {
        self.keypair.member_id()
    }
    pub fn store(&self) -> &S {
        &self.store
    }
    pub fn community(&self) -> Option<&Community> {
        self.community.as_ref()
    }
    pub fn community_id(&self) -> Option<CommunityId> {
        self.community_id
    }
    /// When an entry from a peer was last applied, since the node started (for the report's
    /// "last one received 2 minutes ago").
    pub fn last_received_ms(&self) -> Option<u64> {
        self.last_received_ms
    }
    /// Dates this member's join request (see `join_timestamp_ms`).
    pub fn set_join_timestamp(&mut self, timestamp_ms: u64) {
        self.join_timestamp_ms = Some(timestamp_ms);
    }
    pub fn set_read_only(&mut self, read_only: bool) {
        self.read_only = read_only;
    }
    pub fn is_read_only(&self) -> bool {
        self.read_only
    }

    /// Why this node is read-only, in words for `kith status` (`None` when it may write).
    pub fn read_only_reason(&self) -> Option<&'static str> {
        if !self.read_only {
            return None;
        }
        Some(if self.community.is_none() {
            "restored key: waiting to reach the community, to fetch your posts before writing, so your log is not forked"
        } else {
            "restored key: waiting for a neighbour who holds your posts, so your log is not forked"
        })
    }

    /// After a key restore: lifts the read-only state on positive evidence that this member's
    /// latest entry is here — an admitted peer's head of this member's log (`seq`, the first
    /// bytes of its hash) names an entry this node holds. A head of 0 (a peer that holds none of
    /// the log) is no evidence. The engine passes the highest head admitted peers reported.
    /// Returns true when it was lifted by this call.
    pub fn own_log_caught_up(&mut self, seq: u64, hash_prefix: &[u8]) -> bool {
        if !self.read_only || seq == 0 || hash_prefix.is_empty() {
            return false;
        }
        let me = self.me();
        let Some(community) = self.community.as_ref() else { return false };
        let holds = community.entry_at(&me, seq).is_some_and(|ours| ours.0.starts_with(hash_prefix));
        if !holds || self.head_seq(&me) < seq {
            return false;
        }
        self.read_only = false;
        true
    }

    /// Founds a new community with this node's key: writes its Genesis.
    pub fn found(
        &mut self,
        name: &str,
        description: &str,
        rules: kith_protocol::Rules,
        now_ms: u64,
    ) -> Result<Entry, PublishError> {
        let body = Body::Genesis { name: name.to_string(), description: description.to_string(), rules };
        let genesis =
            Entry::sign(&self.keypair, Draft { community: None, seq: 1, prev: None, timestamp_ms: now_ms, body })?;
        self.adopt_genesis(&genesis)?;
        self.store.flush()?;
        Ok(genesis)
    }

    /// Takes a verified Genesis as this node's community (when founding, or when a joining
    /// node fetched it). Refuses a genesis of another community than the one expected.
    pub fn adopt_genesis(&mut self, genesis: &Entry) -> Result<(), PublishError> {
        if let Some(expected) = self.community_id
            && genesis.community() != expected
        {
            return Err(EntryError::WrongCommunity { expected, found: genesis.community() }.into());
        }
        let community = Community::new(genesis)?;
        self.store.store_applied(std::slice::from_ref(genesis))?;
        self.store.set_genesis(genesis.hash())?;
        self.community_id = Some(community.id());
        self.community = Some(community);
        Ok(())
    }

    /// Decodes, verifies and applies an entry from a peer.
    pub fn receive_bytes(&mut self, bytes: Vec<u8>, now_ms: u64) -> Received {
        match Entry::decode(bytes) {
            Ok(entry) => self.receive(entry, now_ms),
            Err(error) => Received::Rejected(error),
        }
    }

    /// Applies an entry whose signature has been verified. An entry the store could not keep
    /// is [`Received::Dropped`] (and the reducer rebuilt from the store).
    pub fn receive(&mut self, entry: Entry, now_ms: u64) -> Received {
        match self.receive_stored(entry, now_ms) {
            Ok(received) => received,
            Err(error) => {
                tracing::error!(%error, "could not store a received entry; it is dropped and fetched again");
                Received::Dropped
            }
        }
    }

    /// [`Replica::receive`], with the store's failure as an error. On failure the reducer is
    /// back to what the store holds.
    fn receive_stored(&mut self, entry: Entry, now_ms: u64) -> Result<Received, StoreError> {
        self.catch_up_with_store(now_ms)?;
        let Some(community) = self.community.as_mut() else { return Ok(Received::NotOurs) };
        let (outcome, report) = community.ingest(entry.clone(), now_ms);
        let stored = self.persist(&report).and_then(|()| match &outcome {
            Outcome::Pending(_) => self.store.put_pending(&entry),
            _ => Ok(()),
        });
        if let Err(error) = stored {
            self.back_to_store(now_ms);
            return Err(error);
        }
        if !report.applied.is_empty() {
            self.last_received_ms = Some(now_ms);
        }
        // Forks can surface in entries this one released, not only in this one.
        let proofs = if report.conflicts.is_empty() { Vec::new() } else { self.complete_forks(&report, now_ms) };
        Ok(match outcome {
            Outcome::Applied => Received::Applied(report.applied),
            Outcome::Duplicate => Received::Duplicate,
            Outcome::Pending(wait) => Received::Pending(wait),
            Outcome::Rejected(error) => Received::Rejected(error),
            Outcome::Frozen => Received::Frozen,
            Outcome::Dropped => Received::Dropped,
            Outcome::Conflict { .. } => match proofs.into_iter().next() {
                Some(proof) => Received::Fork(proof),
                None => Received::Duplicate,
            },
        })
    }

    /// After a failed write: rebuilds the reducer from the store, so that it holds nothing the
    /// store does not. If even that fails, nothing is applied until it works.
    fn back_to_store(&mut self, now_ms: u64) {
        self.behind_store = true;
        if let Err(error) = self.reload(now_ms) {
            tracing::error!(%error, "could not rebuild the state from the store; retrying with the next entry");
        }
    }

    /// Retries [`Replica::back_to_store`] if the last one failed.
    fn catch_up_with_store(&mut self, now_ms: u64) -> Result<(), StoreError> {
        if self.behind_store {
            self.reload(now_ms).map_err(|error| match error {
                ReplicaError::Store(error) => error,
                other => StoreError::Decode(other.to_string()),
            })?;
        }
        Ok(())
    }

    /// Applies a page of verified entries (catch-up sync) and stores everything the page
    /// applied in one transaction: far cheaper than one transaction per entry.
    /// Returns one outcome per entry and the fork proofs the page revealed. If the store fails,
    /// every entry the page applied or kept waiting is [`Received::Dropped`].
    pub fn receive_page(&mut self, entries: Vec<Entry>, now_ms: u64) -> (Vec<Received>, Vec<ForkProof>) {
        if let Err(error) = self.catch_up_with_store(now_ms) {
            tracing::error!(%error, "the store still fails; a sync page is dropped");
            return (entries.iter().map(|_| Received::Dropped).collect(), Vec::new());
        }
        let Some(community) = self.community.as_mut() else {
            return (entries.iter().map(|_| Received::NotOurs).collect(), Vec::new());
        };
        let mut total = Report::default();
        let mut outcomes = Vec::with_capacity(entries.len());
        // How many entries of `total.applied` each applied outcome brought (handed to it once
        // stored, rather than cloned).
        let mut applied_counts = Vec::new();
        // The entries kept aside, by hash: the reducer holds them (no copy of every entry of
        // the page is made in case one waits).
        let mut waiting = Vec::new();
        for entry in entries {
            let hash = entry.hash();
            let (outcome, report) = community.ingest(entry, now_ms);
            let received = match outcome {
                Outcome::Applied => {
                    applied_counts.push(report.applied.len());
                    Received::Applied(Vec::new())
                }
                Outcome::Duplicate => Received::Duplicate,
                Outcome::Pending(wait) => {
                    waiting.push(hash);
                    Received::Pending(wait)
                }
                Outcome::Rejected(error) => Received::Rejected(error),
                Outcome::Frozen => Received::Frozen,
                Outcome::Dropped => Received::Dropped,
                Outcome::Conflict { .. } => Received::Duplicate,
            };
            outcomes.push(received);
            total.applied.extend(report.applied);
            total.released_rejections.extend(report.released_rejections);
            total.frozen.extend(report.frozen);
            total.conflicts.extend(report.conflicts);
            total.evicted.extend(report.evicted);
            total.refused.extend(report.refused);
        }
        let stored = self.persist(&total).and_then(|()| {
            // Those still waiting once the whole page is in (a later entry may have released
            // one, or the waiting area's bounds let one go).
            let Some(community) = self.community.as_ref() else { return Ok(()) };
            waiting
                .iter()
                .filter_map(|hash| community.pending_entry(hash))
                .try_for_each(|entry| self.store.put_pending(entry))
        });
        if let Err(error) = stored {
            tracing::error!(%error, "could not store a sync page; it is dropped and fetched again");
            self.back_to_store(now_ms);
            for outcome in &mut outcomes {
                if matches!(outcome, Received::Applied(_) | Received::Pending(_)) {
                    *outcome = Received::Dropped;
                }
            }
            return (outcomes, Vec::new());
        }
        if !total.applied.is_empty() {
            self.last_received_ms = Some(now_ms);
        }
        let proofs = if total.conflicts.is_empty() { Vec::new() } else { self.complete_forks(&total, now_ms) };
        let mut stored_entries = total.applied.into_iter();
        let mut counts = applied_counts.into_iter();
        for outcome in &mut outcomes {
            if let Received::Applied(entries) = outcome {
                entries.extend(stored_entries.by_ref().take(counts.next().unwrap_or(0)));
            }
        }
        (outcomes, proofs)
    }

    /// Takes fork proofs learnt from a peer (a heads answer's), with one rebuild of the state
    /// for all the new ones. Returns those that were new and valid.
    ///
    /// Each proof's two entries are then taken as any entry from a peer: each is validly signed
    /// on the forker's log, and what others rely on in its frozen part (a transfer claimed, a
    /// vouch) counts from them. A node that learns of the fork before holding them — a fresh
    /// node catching up, served only applied entries — would otherwise keep the payee's claim,
    /// and every later entry of the payee, waiting for ever.
    pub fn receive_fork_proofs(&mut self, proofs: &[ForkProof], now_ms: u64) -> Vec<ForkProof> {
        let mut new = Vec::new();
        let mut valid = Vec::new();
        for proof in proofs {
            let Some(community) = self.community.as_mut() else { return Vec::new() };
            let Ok(fork) = proof.verify() else { continue };
            if community.add_fork_proof(proof) {
                match self.store.put_fork(&fork.author, proof) {
                    Ok(()) => new.push(proof.clone()),
                    Err(error) => tracing::error!(%error, "could not keep a fork proof"),
                }
            }
            valid.push((fork.author, proof));
        }
        if !new.is_empty()
            && let Err(error) = self.reload(now_ms)
        {
            tracing::error!(%error, "could not rebuild the state after fork proofs");
        }
        for (author, proof) in valid {
            if !self.community.as_ref().is_some_and(|c| c.is_member(&author)) {
                continue;
            }
            for bytes in [&proof.first, &proof.second] {
                let Ok(entry) = Entry::decode_unverified(bytes.clone()) else { continue };
                if !matches!(self.store.get(&entry.hash()), Ok(Some(_))) {
                    // Verified with the proof (`ForkProof::verify` checks both signatures).
                    self.receive(entry, now_ms);
                }
            }
        }
        new
    }

    /// Retries entries that waited for the clock.
    pub fn tick(&mut self, now_ms: u64) -> Vec<Entry> {
        if let Err(error) = self.catch_up_with_store(now_ms) {
            tracing::error!(%error, "the store still fails");
            return Vec::new();
        }
        let Some(community) = self.community.as_mut() else { return Vec::new() };
        let report = community.tick(now_ms);
        if let Err(error) = self.persist(&report) {
            tracing::error!(%error, "could not store released entries; they wait again");
            self.back_to_store(now_ms);
            return Vec::new();
        }
        report.applied
    }

    /// Stores what a reducer call did.
    fn persist(&mut self, report: &Report) -> Result<(), StoreError> {
        // Evictions first: a newcomer's join request takes the place of their other one.
        self.drop_evicted(report)?;
        if report.evicted.is_empty() {
            if !report.applied.is_empty() {
                self.store.store_applied(&report.applied)?;
            }
        } else {
            let evicted: std::collections::HashSet<&EntryHash> = report.evicted.iter().collect();
            let held: Vec<Entry> = report.applied.iter().filter(|e| !evicted.contains(&e.hash())).cloned().collect();
            self.store.store_applied(&held)?;
        }
        for entry in &report.frozen {
            self.store.store_frozen(entry)?;
        }
        for (hash, error) in &report.released_rejections {
            tracing::warn!(entry = %hash.short(), reason = %error, "a waiting entry turned out invalid");
            self.store.remove_pending(hash)?;
        }
        // Kept with the waiting entries (after the removals above: a released entry may be
        // one), so a rebuild meets it again and a sibling still makes a fork.
        for entry in &report.refused {
            tracing::warn!(author = %entry.author().short(), seq = entry.seq(), "an entry refused at the next place of its log is kept as evidence");
            self.store.put_pending(entry)?;
        }
        Ok(())
    }

    /// Join requests the reducer evicted (another request took their invite's last use, or
    /// their author's lower-ranked one arrived) leave the store too: the entry file and views
    /// are brought to what the reducer applies, so they are neither served nor counted. Rare
    /// (each eviction needs a request ranked before every one kept), so a rewrite is affordable.
    fn drop_evicted(&mut self, report: &Report) -> Result<(), StoreError> {
        if report.evicted.is_empty() {
            return Ok(());
        }
        tracing::info!(count = report.evicted.len(), "join requests outranked for their invite leave the store");
        for hash in &report.evicted {
            self.store.remove_pending(hash)?;
        }
        // Counts would not show it: the entries that take the evicted ones' places are
        // stored after this.
        self.store_what_the_reducer_holds(true)
    }

    /// Turns reported conflicts into kept fork proofs, then rebuilds the state without the
    /// frozen parts of logs.
    fn complete_forks(&mut self, report: &Report, now_ms: u64) -> Vec<ForkProof> {
        let mut proofs = Vec::new();
        for (incoming, existing) in &report.conflicts {
            let Ok(Some(stored)) = held_or_waiting(&self.store, existing) else { continue };
            let Some(community) = self.community.as_mut() else { break };
            if let Some(proof) = community.fork_with(&stored, incoming) {
                tracing::warn!(author = %incoming.author().short(), seq = incoming.seq(), "fork: two entries at one place in a log");
                if let Err(error) =
                    self.store.put_fork(&incoming.author(), &proof).and_then(|()| self.store.store_frozen(incoming))
                {
                    tracing::error!(%error, "could not keep a fork proof");
                }
                proofs.push(proof);
            }
        }
        if !proofs.is_empty() {
            match self.reload(now_ms) {
                Ok(more) => proofs.extend(more),
                Err(error) => tracing::error!(%error, "could not rebuild after a fork"),
            }
        }
        proofs
    }

    /// Signs the next entry of this member's log with `body`, checks it against the community's
    /// rules, stores it with its views and flushes before returning.
    pub fn publish(&mut self, body: Body, now_ms: u64) -> Result<Entry, PublishError> {
        self.publish_as(None, body, now_ms)
    }

    /// [`Replica::publish`] without the flush: the entry is stored but not yet durable. The
    /// caller flushes before it tells anyone (the sync engine acknowledges only after).
    pub fn publish_unflushed(&mut self, body: Body, now_ms: u64) -> Result<Entry, PublishError> {
        self.publish_unflushed_as(None, body, now_ms)
    }

    /// Holds a helped member's key: this node may publish in their log ([`Replica::publish_as`]).
    /// `taken`: handed over by their previous helper, so written in only once their log names
    /// this member their helper (an entry of the previous helper's, the last it writes there).
    pub fn add_helped(&mut self, keypair: Keypair, taken: bool) {
        let member = keypair.member_id();
        self.helped.insert(member, keypair);
        if taken {
            self.taken.insert(member);
        } else {
            self.taken.remove(&member);
        }
    }

    /// The helped members whose keys this node holds.
    pub fn helped(&self) -> impl Iterator<Item = MemberId> + '_ {
        self.helped.keys().copied()
    }

    /// Whether this node holds `member`'s key as their helper.
    pub fn holds(&self, member: &MemberId) -> bool {
        self.helped.contains_key(member)
    }

    /// [`Replica::publish`] in the log of `author` (this member when `None`, else a helped
    /// member whose key this node holds), flushed.
    pub fn publish_as(&mut self, author: Option<MemberId>, body: Body, now_ms: u64) -> Result<Entry, PublishError> {
        let entry = self.publish_unflushed_as(author, body, now_ms)?;
        let mark = self.flush_mark();
        self.store.flush()?;
        self.flushed(mark);
        Ok(entry)
    }

    /// What a flush started now covers (take it with the lock held, just before taking the
    /// flush out with [`Storage::flush_later`]).
    pub fn flush_mark(&self) -> FlushMark {
        FlushMark(self.unflushed.keys().map(|member| (*member, self.head_seq(member))).collect())
    }

    /// A flush started at `mark` returned: the entries it covered are durable, and served.
    pub fn flushed(&mut self, mark: FlushMark) {
        for (member, upto) in mark.0 {
            let Some(from) = self.unflushed.get(&member).copied() else { continue };
            let from = from.max(upto.saturating_add(1));
            // Past the head: all durable (or dropped since, when a write failed).
            if from > self.head_seq(&member) {
                self.unflushed.remove(&member);
            } else {
                self.unflushed.insert(member, from);
            }
        }
    }

    /// The first seq of `author`'s log not to serve to peers yet (written here, not yet
    /// durable), if any.
    pub fn unserved_from(&self, author: &MemberId) -> Option<u64> {
        self.unflushed.get(author).copied()
    }

    /// Whether every entry this node wrote is durable, so every stored entry may be served.
    pub fn serves_all(&self) -> bool {
        self.unflushed.is_empty()
    }

    /// [`Replica::publish_as`] without the flush: the entry is stored, not yet durable, and not
    /// served to peers until a flush covering it returned ([`Replica::flushed`]). The caller
    /// flushes, without this replica's lock if it likes ([`Storage::flush_later`]), before it
    /// tells anyone.
    pub fn publish_unflushed_as(
        &mut self,
        author: Option<MemberId>,
        body: Body,
        now_ms: u64,
    ) -> Result<Entry, PublishError> {
        if self.read_only {
            return Err(PublishError::ReadOnly);
        }
        let keypair = match author {
            None => self.keypair.clone(),
            Some(id) if id == self.me() => self.keypair.clone(),
            Some(id) => self.helped.get(&id).cloned().ok_or(PublishError::NotHeld(id))?,
        };
        self.catch_up_with_store(now_ms)?;
        let me = keypair.member_id();
        let community = self.community.as_ref().ok_or(PublishError::NoCommunity)?;
        let member = community.member(&me);
        // One writer per log: a helped member's key moved on (their own device, another
        // helper), this node stops writing in their log; a key handed to this node writes
        // once the previous helper's last entry there, naming this member, is here.
        if me != self.keypair.member_id() {
            helped_log_writable(member, self.keypair.member_id(), self.taken.contains(&me), |id| {
                community.member(id).map_or_else(|| id.short(), kith_protocol::Member::name)
            })?;
        }
        if member.and_then(|m| m.frozen_at).is_some() {
            return Err(PublishError::Frozen);
        }
        // What the community's rules let this member sign now (suspension, a forked payer, a
        // role removed): refused before anything is signed, with the reason.
        community.refusal_to_sign(&me, &body)?;
        let head = member.and_then(|m| m.head);
        if let Some(head) = head {
            let stored = self.store.entry_at(&me, head.seq)?;
            if stored.map(|e| e.hash()) != Some(head.hash) {
                return Err(PublishError::HeadMismatch);
            }
        }
        let draft = Draft {
            community: Some(community.id()),
            seq: head.map_or(1, |h| h.seq + 1),
            prev: head.map(|h| h.hash),
            timestamp_ms: match (&body, self.join_timestamp_ms) {
                (Body::JoinRequest { .. }, Some(fixed)) if me == self.keypair.member_id() => fixed,
                // Never date an entry before the one it follows, whatever this clock says.
                _ => now_ms.max(head.map_or(0, |h| h.timestamp_ms)),
            },
            body,
        };
        let entry = Entry::sign(&keypair, draft)?;
        match community.check(&entry, now_ms) {
            Outcome::Applied => {}
            Outcome::Rejected(error) => return Err(error.into()),
            Outcome::Pending(wait) => return Err(PublishError::Waits(wait)),
            Outcome::Frozen | Outcome::Conflict { .. } => return Err(PublishError::Frozen),
            Outcome::Duplicate | Outcome::Dropped => return Err(PublishError::HeadMismatch),
        }
        let received = self.receive_stored(entry.clone(), now_ms)?;
        if !matches!(received, Received::Applied(_)) {
            return Err(PublishError::HeadMismatch);
        }
        self.unflushed.entry(me).or_insert(entry.seq());
        Ok(entry)
    }

    /// Every log's head here: author and seq.
    pub fn heads(&self) -> Vec<(MemberId, u64)> {
        self.community.as_ref().map(|c| c.heads().map(|(id, h)| (id, h.seq)).collect()).unwrap_or_default()
    }

    /// Seq of the head of `author`'s log here (0 if none).
    pub fn head_seq(&self, author: &MemberId) -> u64 {
        self.community.as_ref().and_then(|c| c.member(author)).and_then(|m| m.head).map_or(0, |h| h.seq)
    }

    pub fn fork_proofs(&self) -> Vec<ForkProof> {
        self.community.as_ref().map(|c| c.forks().map(|(_, p)| p.clone()).collect()).unwrap_or_default()
    }

    /// Transfers to this member not yet claimed: the node claims them by itself.
    pub fn unclaimed_for_me(&self) -> Vec<EntryHash> {
        self.unclaimed_for(self.me())
    }

    /// Transfers to `member` not yet claimed.
    pub fn unclaimed_for(&self, member: MemberId) -> Vec<EntryHash> {
        let Some(community) = self.community.as_ref() else { return Vec::new() };
        community.transfers().filter(|(_, t)| t.to == member && t.claimed_by.is_none()).map(|(h, _)| h).collect()
    }
}

/// The stored entry at a fork's place, by its hash: held, or still a waiting row (a member's
/// entry waiting for an admission, say, meets its sibling as a fork too). Waiting rows are
/// scanned, which is fine for what only a fork looks up.
fn held_or_waiting<S: Storage>(store: &S, hash: &EntryHash) -> Result<Option<Entry>, StoreError> {
    match store.get(hash)? {
        Some(entry) => Ok(Some(entry)),
        None => Ok(store.pending()?.into_iter().find(|entry| entry.hash() == *hash)),
    }
}

/// Whether `helper`'s node may write in a helped member's log (`member`, as the reducer holds
/// it): while the `Helped` in force names `helper`, or, for a key added here (`taken` false),
/// before any `Helped` (the join request, the first link). Refused with who holds it now.
fn helped_log_writable(
    member: Option<&kith_protocol::Member>,
    helper: MemberId,
    taken: bool,
    name: impl Fn(&MemberId) -> String,
) -> Result<(), PublishError> {
    let Some(member) = member else {
        return if taken { Err(PublishError::NotYetHelper("this member".into())) } else { Ok(()) };
    };
    let in_force = member.helper.map(|h| h.member);
    if in_force == Some(helper) || (member.helpers.is_empty() && !taken) {
        return Ok(());
    }
    if taken && !member.helpers.iter().any(|(_, h)| *h == Some(helper)) {
        return Err(PublishError::NotYetHelper(member.name()));
    }
    Err(PublishError::NoLongerHelped { name: member.name(), helper: in_force.map(|h| name(&h)) })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
pub(crate) mod tests {
    use std::path::Path;

    use kith_protocol::{Minutes, PostKind, Rules};
    use tempfile::TempDir;

    use super::*;
    use crate::store::crash_sim;

    const CACHE: u64 = 1024 * 1024;
    const NOW: u64 = 1_800_000_000_000;

    fn keypair() -> Keypair {
        Keypair::from_secret_bytes([7; 32])
    }

    /// An offer titled `title` (the other modules' tests use it too).
    pub(crate) fn post(title: &str) -> Body {
        Body::Post {
            kind: PostKind::Offer,
            title: title.into(),
            details: String::new(),
            category: "lifts".into(),
            when: String::new(),
            place: String::new(),
            expires_at: None,
            schedule: None,
        }
    }

    fn open(dir: &Path) -> Replica {
        let store = Store::open_when_free(dir, CACHE).unwrap_or_else(|e| panic!("opening {dir:?}: {e}"));
        Replica::open(store, keypair(), None, NOW).unwrap()
    }

    /// A founder's replica of a new community, in `dir`.
    fn founded(dir: &Path) -> Replica {
        let mut replica = open(dir);
        replica.found("Elm Street", "", Rules::default(), NOW).unwrap();
        replica
    }

    /// The next entry of the founder's log, signed elsewhere (as a peer would hand it over).
    fn next_of(replica: &Replica, seq_offset: u64, prev: Option<EntryHash>, title: &str) -> Entry {
        let head = replica.community().unwrap().member(&replica.me()).unwrap().head.unwrap();
        let draft = Draft {
            community: replica.community_id(),
            seq: head.seq + seq_offset,
            prev: prev.or(Some(head.hash)),
            timestamp_ms: NOW + head.seq + seq_offset,
            body: post(title),
        };
        Entry::sign(&keypair(), draft).unwrap()
    }

    /// The next entries of this member's log after its head, one per title, not yet received.
    fn chain_of(replica: &Replica, titles: &[&str]) -> Vec<Entry> {
        let mut chain: Vec<Entry> = Vec::new();
        for (offset, title) in (1..).zip(titles) {
            chain.push(next_of(replica, offset, chain.last().map(Entry::hash), title));
        }
        chain
    }

    fn titles(replica: &Replica) -> Vec<String> {
        // A home cut before its Genesis reached the disk holds no community, and no post.
        let Some(community) = replica.community() else { return Vec::new() };
        replica.store().posts(community).unwrap().into_iter().map(|p| p.title).collect()
    }

    /// A newcomer's join request with `invite`, signed by a key from `seed`.
    fn join_request(replica: &Replica, seed: u8, invite: &kith_protocol::invite::Capability) -> Entry {
        let body = Body::JoinRequest { invite: invite.to_bytes(), name: format!("Newcomer {seed}") };
        let draft = Draft { community: replica.community_id(), seq: 1, prev: None, timestamp_ms: NOW, body };
        Entry::sign(&Keypair::from_secret_bytes([seed; 32]), draft).unwrap()
    }

    #[test]
    fn a_helped_log_has_one_writer_as_it_moves_from_helper_to_helper() {
        let dir = TempDir::new().unwrap();
        let mut ada = founded(&dir.path().join("ada"));
        let community = ada.community_id().unwrap();
        let invite = kith_protocol::invite::Capability::issue(&keypair(), community, [1; 16], NOW + 3_600_000, 2);
        let bob_key = Keypair::from_secret_bytes([8; 32]);
        let store = Store::open_when_free(&dir.path().join("bob"), CACHE).unwrap();
        let mut bob = Replica::open(store, bob_key.clone(), Some(community), NOW).unwrap();
        bob.adopt_genesis(&ada.store().entry_at(&ada.me(), 1).unwrap().unwrap()).unwrap();
        // What Ada writes reaches Bob's node (Bob's own join request goes the other way).
        let mut shared = Vec::new();
        let joined = join_request(&ada, 8, &invite);
        assert!(matches!(ada.receive(joined.clone(), NOW), Received::Applied(_)));
        shared.push(joined);
        shared.push(ada.publish(Body::Vouch { member: bob_key.member_id(), note: String::new() }, NOW).unwrap());

        let patel_key = Keypair::from_secret_bytes([9; 32]);
        let patel = patel_key.member_id();
        ada.add_helped(patel_key.clone(), false);
        let join = Body::JoinRequest { invite: invite.to_bytes(), name: "Mrs Patel".into() };
        shared.push(ada.publish_as(Some(patel), join, NOW).unwrap());
        shared.push(ada.publish(Body::Vouch { member: patel, note: String::new() }, NOW).unwrap());
        let deliver = |bob: &mut Replica, shared: &mut Vec<Entry>| {
            for entry in shared.drain(..) {
                assert!(matches!(bob.receive(entry, NOW), Received::Applied(_)));
            }
        };
        deliver(&mut bob, &mut shared);
        // Bob's home is handed her key too early: no link in her log yet, then Ada's.
        bob.add_helped(patel_key, true);
        let refused = |bob: &mut Replica| bob.publish_as(Some(patel), post("Shopping"), NOW);
        assert!(matches!(refused(&mut bob), Err(PublishError::NotYetHelper(name)) if name == "Mrs Patel"));
        let link = Body::Helped { helper: Some(ada.me()), limit: Minutes(120) };
        shared.push(ada.publish_as(Some(patel), link, NOW).unwrap());
        deliver(&mut bob, &mut shared);
        assert!(matches!(refused(&mut bob), Err(PublishError::NotYetHelper(_))));

        // Ada moves her to Bob: the last entry Ada's node writes in her log.
        let moved = Body::Helped { helper: Some(bob.me()), limit: Minutes(120) };
        shared.push(ada.publish_as(Some(patel), moved, NOW).unwrap());
        let after = ada.publish_as(Some(patel), post("More shopping"), NOW);
        assert!(
            matches!(&after, Err(PublishError::NoLongerHelped { name, helper: Some(helper) })
                if name == "Mrs Patel" && helper == "Newcomer 8"),
            "{after:?}"
        );
        deliver(&mut bob, &mut shared);
        let written = bob.publish_as(Some(patel), post("Garden"), NOW).unwrap();
        assert_eq!(written.author(), patel);
        assert!(matches!(ada.receive(written, NOW), Received::Applied(_)), "one log, no fork");
    }

    #[test]
    fn a_page_hands_each_applied_outcome_the_entries_it_applied() {
        let dir = TempDir::new().unwrap();
        let mut replica = founded(&dir.path().join("db"));
        let [first, second, third] = chain_of(&replica, &["first", "second", "third"]).try_into().unwrap();
        // The second comes before the first: it waits, then the first releases it.
        let (outcomes, _) = replica.receive_page(vec![second.clone(), first.clone(), third.clone()], NOW);
        let hashes = |received: &Received| match received {
            Received::Applied(entries) => entries.iter().map(Entry::hash).collect::<Vec<_>>(),
            other => panic!("not applied: {other:?}"),
        };
        assert!(matches!(outcomes[0], Received::Pending(_)), "{outcomes:?}");
        assert_eq!(hashes(&outcomes[1]), vec![first.hash(), second.hash()]);
        assert_eq!(hashes(&outcomes[2]), vec![third.hash()]);
    }

    #[test]
    fn a_page_keeps_what_waits_in_the_store_but_not_what_it_released() {
        let dir = TempDir::new().unwrap();
        let mut replica = founded(&dir.path().join("db"));
        let [first, second, third, fourth] =
            chain_of(&replica, &["first", "second", "third", "fourth"]).try_into().unwrap();
        let waiting =
            |replica: &Replica| replica.store().pending().unwrap().iter().map(Entry::hash).collect::<Vec<_>>();
        // The second waits for the first, which comes later in the page and releases it.
        let (outcomes, _) = replica.receive_page(vec![second.clone(), first.clone()], NOW);
        assert!(matches!(outcomes[0], Received::Pending(_)), "{outcomes:?}");
        assert_eq!(waiting(&replica), Vec::<EntryHash>::new());
        // The fourth waits for the third, which no page brought yet: kept with the waiting rows.
        let (outcomes, _) = replica.receive_page(vec![fourth.clone()], NOW);
        assert!(matches!(outcomes[0], Received::Pending(_)), "{outcomes:?}");
        assert_eq!(waiting(&replica), vec![fourth.hash()]);
        let (outcomes, _) = replica.receive_page(vec![third.clone()], NOW);
        assert_eq!(outcomes.len(), 1);
        assert_eq!(waiting(&replica), Vec::<EntryHash>::new());
        assert_eq!(titles(&replica).len(), 4);
    }

    /// A newcomer's node that asks again (its request outranked, then a restart) signs the
    /// very same join request: two different ones of one key are a fork once it is admitted.
    #[test]
    fn a_node_asking_again_signs_the_same_join_request() {
        let dir = TempDir::new().unwrap();
        let founder = founded(&dir.path().join("founder"));
        let community = founder.community_id().unwrap();
        let genesis = founder.store().entry_at(&founder.me(), 1).unwrap().unwrap();
        let invite = kith_protocol::invite::Capability::issue(&keypair(), community, [1; 16], NOW + 3_600_000, 1);
        let body = Body::JoinRequest { invite: invite.to_bytes(), name: "Cat".into() };
        let ask = |home: &str, now_ms: u64| {
            let store = Store::open_when_free(&dir.path().join(home), CACHE).unwrap();
            let mut cat = Replica::open(store, Keypair::from_secret_bytes([9; 32]), Some(community), now_ms).unwrap();
            cat.adopt_genesis(&genesis).unwrap();
            cat.set_join_timestamp(NOW);
            cat.publish(body.clone(), now_ms).unwrap()
        };
        assert_eq!(ask("first", NOW + 1_000), ask("again", NOW + 600_000));
    }

    #[test]
    fn an_evicted_join_request_leaves_the_store() {
        let dir = TempDir::new().unwrap();
        let mut replica = founded(dir.path());
        let community = replica.community_id().unwrap();
        let invite = kith_protocol::invite::Capability::issue(&keypair(), community, [1; 16], NOW + 3_600_000, 1);
        // Two newcomers on a one-use invite: the request ranked first (lower hash) keeps it.
        let (mut first, mut second) = (join_request(&replica, 40, &invite), join_request(&replica, 41, &invite));
        if first.hash() < second.hash() {
            std::mem::swap(&mut first, &mut second);
        }
        assert!(matches!(replica.receive(first.clone(), NOW), Received::Applied(_)));
        assert!(replica.store().get(&first.hash()).unwrap().is_some());
        assert!(matches!(replica.receive(second.clone(), NOW), Received::Applied(_)));
        assert!(!replica.community().unwrap().holds(&first.hash()), "the outranked request is evicted");
        // Not only from memory: the store neither holds nor serves it.
        assert!(replica.store().get(&first.hash()).unwrap().is_none(), "the evicted request is still stored");
        assert!(replica.store().range(&first.author(), 1, 10, 1 << 20).unwrap().is_empty(), "still served");
        assert_eq!(replica.store().entry_count(), 2, "the Genesis and the request kept");
        drop(replica);
        let reopened = open(dir.path());
        assert!(reopened.community().unwrap().holds(&second.hash()));
        assert!(reopened.store().get(&first.hash()).unwrap().is_none());
    }

    #[test]
    fn an_entry_the_store_cannot_keep_is_not_applied() {
        let dir = TempDir::new().unwrap();
        let mut replica = founded(dir.path());
        let entry = next_of(&replica, 1, None, "lifts");
        replica.store().fail_writes(true);

        assert_eq!(replica.receive(entry.clone(), NOW), Received::Dropped);
        assert_eq!(replica.head_seq(&replica.me()), 1, "the reducer did not run ahead of the store");
        assert!(!replica.community().unwrap().holds(&entry.hash()));
        let (outcomes, _) = replica.receive_page(vec![entry.clone()], NOW);
        assert_eq!(outcomes, [Received::Dropped]);
        assert_eq!(replica.head_seq(&replica.me()), 1);
        let published = replica.publish(post("shopping"), NOW);
        assert!(matches!(published, Err(PublishError::Store(_))), "{published:?}");
        assert_eq!(replica.head_seq(&replica.me()), 1);
        assert_eq!(replica.store().entry_count(), 1);

        // Once the disk works again, the same entry is taken.
        replica.store().fail_writes(false);
        assert!(matches!(replica.receive(entry.clone(), NOW), Received::Applied(_)));
        assert_eq!(replica.head_seq(&replica.me()), 2);
        assert_eq!(titles(&replica), ["lifts"]);
    }

    #[test]
    fn a_damaged_record_mid_file_keeps_the_later_entries_waiting_until_it_is_fetched_again() {
        let dir = TempDir::new().unwrap();
        let (first, second) = {
            let mut replica = founded(dir.path());
            let first = replica.publish(post("lifts"), NOW + 1).unwrap();
            let second = replica.publish(post("shopping"), NOW + 2).unwrap();
            (first, second)
        };
        // Damage the second record (the first post).
        drop(open(dir.path()));
        let file = dir.path().join("entries.kith");
        let mut bytes = std::fs::read(&file).unwrap();
        let genesis_len = u32::from_le_bytes(bytes[..4].try_into().unwrap()) as usize;
        bytes[12 + genesis_len + 12 + 40] ^= 0xFF;
        std::fs::write(&file, &bytes).unwrap();

        let mut replica = open(dir.path());
        assert_eq!(replica.head_seq(&replica.me()), 1);
        assert!(titles(&replica).is_empty(), "an entry the reducer keeps waiting is not shown");
        assert_eq!(replica.store().entry_count(), 1, "nor served as applied");
        let waiting: Vec<EntryHash> = replica.store().pending().unwrap().iter().map(Entry::hash).collect();
        assert_eq!(waiting, [second.hash()], "it waits, kept");

        match replica.receive(first.clone(), NOW) {
            Received::Applied(applied) => {
                assert_eq!(applied.iter().map(Entry::hash).collect::<Vec<_>>(), [first.hash(), second.hash()]);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(titles(&replica), ["shopping", "lifts"]);
        drop(replica);
        let replica = open(dir.path());
        assert_eq!(titles(&replica), ["shopping", "lifts"]);
        assert_eq!(replica.store().entry_count(), 3);
    }

    #[test]
    fn after_a_fork_the_store_holds_and_serves_what_the_reducer_applies() {
        let dir = TempDir::new().unwrap();
        let mut replica = founded(dir.path());
        let mine = replica.publish(post("lifts"), NOW + 1).unwrap();
        // The same key signed another entry at the same place elsewhere.
        let genesis = replica.store().genesis().unwrap();
        let other = next_of(&replica, 0, genesis, "not lifts");
        assert_eq!(other.seq(), mine.seq());
        assert!(matches!(replica.receive(other.clone(), NOW), Received::Fork(_)));

        let community = replica.community().unwrap();
        assert_eq!(community.entry_at(&replica.me(), 2), None, "the forked part is frozen");
        assert!(titles(&replica).is_empty(), "a frozen post is not shown");
        assert_eq!(replica.store().entry_count(), 1, "the file holds what the reducer applies");
        let (served, _) = replica.store().applied_since(0, 100, usize::MAX).unwrap();
        assert_eq!(served.len(), 1, "a frozen entry is not served as applied");
        assert_eq!(replica.store().range(&replica.me(), 2, 10, usize::MAX).unwrap().len(), 0);
        assert!(replica.store().get(&mine.hash()).unwrap().is_some(), "kept as evidence");
        drop(replica);
        let replica = open(dir.path());
        assert!(titles(&replica).is_empty());
        assert_eq!(replica.store().entry_count(), 1);
        assert_eq!(replica.fork_proofs().len(), 1);
        // Once level, a start leaves the entry file alone.
        let file = dir.path().join("entries.kith");
        let before = file_identity(&file);
        drop(replica);
        drop(open(dir.path()));
        assert_eq!(file_identity(&file), before, "the entry file was rewritten at a plain start");
    }

    /// An entry signed by the key from `seed`, after `prev` (its seq one more).
    fn signed(replica: &Replica, seed: u8, prev: &Entry, body: Body) -> Entry {
        let draft = Draft {
            community: replica.community_id(),
            seq: prev.seq() + 1,
            prev: Some(prev.hash()),
            timestamp_ms: prev.timestamp_ms() + 1,
            body,
        };
        Entry::sign(&Keypair::from_secret_bytes([seed; 32]), draft).unwrap()
    }

    fn pay(to: MemberId, minutes: u32) -> Body {
        Body::Transfer { to, minutes: kith_protocol::Minutes(minutes), memo: "thanks".into(), for_post: None }
    }

    #[test]
    fn a_fork_that_shows_only_in_a_rebuild_is_kept() {
        let dir = TempDir::new().unwrap();
        let mut replica = founded(dir.path());
        let community = replica.community_id().unwrap();
        let invite = kith_protocol::invite::Capability::issue(&keypair(), community, [1; 16], NOW + 3_600_000, 3);
        let joins = [41, 42, 43].map(|seed| join_request(&replica, seed, &invite));
        let [ann_join, bob_join, dan_join] = &joins;
        let (bob, dan) = (bob_join.author(), dan_join.author());
        for join in &joins {
            assert!(matches!(replica.receive(join.clone(), NOW), Received::Applied(_)));
        }
        for join in [ann_join, bob_join] {
            replica.publish(Body::Vouch { member: join.author(), note: String::new() }, NOW).unwrap();
        }
        // Ann pays Bob on one branch of her log and the founder on another. Bob claims the
        // first payment, then vouches for Dan, who has written twice at one place (his fork).
        let to_bob = signed(&replica, 41, ann_join, pay(bob, 30));
        let elsewhere = signed(&replica, 41, ann_join, pay(replica.me(), 20));
        let claim = signed(&replica, 42, bob_join, Body::Receive { transfer: to_bob.hash() });
        let welcome_dan = signed(&replica, 42, &claim, Body::Vouch { member: dan, note: String::new() });
        let dan_first = signed(&replica, 43, dan_join, post("one"));
        let dan_second = signed(&replica, 43, dan_join, post("two"));
        // Dan's two entries wait for his admission, which waits for Bob's vouch, which waits
        // for Bob's claim of a payment not yet held: his fork is not met on arrival. Ann's is,
        // and the rebuild it causes applies the claim and the vouch, admits Dan, and then meets
        // his two entries at one place.
        assert!(matches!(replica.receive(elsewhere, NOW), Received::Applied(_)));
        for waiting in [&claim, &welcome_dan, &dan_first, &dan_second] {
            assert!(matches!(replica.receive(waiting.clone(), NOW), Received::Pending(_)));
        }
        assert!(matches!(replica.receive(to_bob, NOW), Received::Fork(_)));

        let frozen = |replica: &Replica, who: &MemberId| replica.community().unwrap().member(who).unwrap().frozen_at;
        assert_eq!(frozen(&replica, &ann_join.author()), Some(2));
        assert!(replica.community().unwrap().is_member(&dan), "the claim and the vouch count");
        assert_eq!(frozen(&replica, &dan), Some(2), "Dan's fork, found in the rebuild, is not kept");
        assert_eq!(replica.fork_proofs().len(), 2);
        assert_eq!(replica.store().forks().unwrap().len(), 2, "the proof found in the rebuild is not stored");
        drop(replica);
        let replica = open(dir.path());
        assert_eq!(frozen(&replica, &dan), Some(2));
        assert_eq!(replica.fork_proofs().len(), 2);
    }

    /// A member's entry refused at the next place of their log keeps that place across a
    /// restart: the sibling that comes after makes a fork, as it would have had it come first.
    #[test]
    fn a_refused_entry_keeps_its_place_across_a_restart() {
        let dir = TempDir::new().unwrap();
        let mut replica = founded(dir.path());
        let community = replica.community_id().unwrap();
        let invite = kith_protocol::invite::Capability::issue(&keypair(), community, [1; 16], NOW + 3_600_000, 3);
        let ann_join = join_request(&replica, 41, &invite);
        assert!(matches!(replica.receive(ann_join.clone(), NOW), Received::Applied(_)));
        replica.publish(Body::Vouch { member: ann_join.author(), note: String::new() }, NOW).unwrap();
        let overspend = signed(&replica, 41, &ann_join, pay(replica.me(), 100 * 60));
        let lifts = signed(&replica, 41, &ann_join, post("Lifts"));
        assert!(matches!(replica.receive(overspend.clone(), NOW), Received::Rejected(_)));
        drop(replica);

        let mut replica = open(dir.path());
        let ann = ann_join.author();
        assert_eq!(replica.community().unwrap().refused_at(&ann), Some((2, overspend.hash())));
        assert!(matches!(replica.receive(lifts, NOW), Received::Fork(_)), "the refused entry was forgotten");
        assert_eq!(replica.community().unwrap().member(&ann).unwrap().frozen_at, Some(2));
    }

    /// A newcomer's two join requests, settled by rank while they wait: the one evicted from
    /// the store stays as evidence across a restart, and their admission makes the two a fork.
    #[test]
    fn a_newcomers_other_join_request_is_kept_until_their_admission_makes_a_fork() {
        let dir = TempDir::new().unwrap();
        let mut replica = founded(dir.path());
        let community = replica.community_id().unwrap();
        let invite = kith_protocol::invite::Capability::issue(&keypair(), community, [1; 16], NOW + 3_600_000, 3);
        let cat = Keypair::from_secret_bytes([42; 32]);
        let ask = |name: &str| {
            let body = Body::JoinRequest { invite: invite.to_bytes(), name: name.into() };
            let draft = Draft { community: Some(community), seq: 1, prev: None, timestamp_ms: NOW, body };
            Entry::sign(&cat, draft).unwrap()
        };
        let (mut low, mut high) = (ask("Cat"), ask("Cathy"));
        if low.hash() > high.hash() {
            std::mem::swap(&mut low, &mut high);
        }
        assert!(matches!(replica.receive(high.clone(), NOW), Received::Applied(_)));
        let received = replica.receive(low.clone(), NOW);
        assert!(matches!(received, Received::Applied(_)), "{received:?}");
        assert!(replica.store().get(&high.hash()).unwrap().is_none(), "the outranked request is still served");
        drop(replica);

        let mut replica = open(dir.path());
        assert_eq!(replica.community().unwrap().refused_at(&cat.member_id()), Some((1, high.hash())));
        replica.publish(Body::Vouch { member: cat.member_id(), note: String::new() }, NOW).unwrap();
        let member = replica.community().unwrap().member(&cat.member_id()).unwrap().clone();
        assert!(member.admitted);
        assert_eq!(member.frozen_at, Some(1), "the two join requests made no fork");
    }

    /// The entry file's inode (a rewrite replaces it).
    #[cfg(unix)]
    fn file_identity(path: &Path) -> u64 {
        std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(path).unwrap())
    }

    #[cfg(not(unix))]
    fn file_identity(path: &Path) -> u64 {
        std::fs::metadata(path).unwrap().len()
    }

    /// Copies a folder (and one level of subfolders).
    fn copy_dir(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).unwrap();
        for item in std::fs::read_dir(from).unwrap() {
            let item = item.unwrap();
            if item.path().is_dir() {
                copy_dir(&item.path(), &to.join(item.file_name()));
            } else {
                std::fs::copy(item.path(), to.join(item.file_name())).unwrap();
            }
        }
    }

    /// Opens the store a crash left in `point` (a copy of it, in `to`; its fsyncs recorded under
    /// `record` if given) and checks that every entry in `acked` is held and every post among
    /// them shown.
    fn check_after_cut(point: &Path, to: &Path, record: Option<&Path>, acked: &[(EntryHash, Option<&str>)]) {
        copy_dir(point, to);
        if let Some(work) = record {
            crash_sim::record(to, work);
        }
        let replica = open(to);
        let shown = titles(&replica);
        for (hash, title) in acked {
            let held = replica.community().is_some_and(|c| c.holds(hash));
            assert!(held, "an acknowledged entry is lost after a cut at {point:?}");
            if let Some(title) = title {
                assert!(shown.iter().any(|t| t == title), "{title} is not shown after a cut at {point:?}: {shown:?}");
            }
        }
    }

    #[test]
    fn every_acknowledged_entry_survives_a_power_cut_after_any_fsync_or_sled_write() {
        let work = TempDir::new().unwrap();
        let dir = work.path().join("db");
        // From the first moment of a new home.
        crash_sim::record(&dir, &work.path().join("run"));
        let mut replica = founded(&dir);
        let genesis = replica.store().genesis().unwrap().unwrap();
        let mut acked: Vec<(usize, EntryHash, Option<String>)> = vec![(crash_sim::points_so_far(), genesis, None)];
        for i in 0..4 {
            let title = format!("post {i}");
            let entry = replica.publish(post(&title), NOW + i).unwrap();
            acked.push((crash_sim::points_so_far(), entry.hash(), Some(title)));
            // An entry from a peer, stored but not synced (no one is told it is safe).
            let from_peer = next_of(&replica, 1, None, &format!("from a peer {i}"));
            let (outcomes, _) = replica.receive_page(vec![from_peer], NOW);
            assert!(matches!(outcomes[..], [Received::Applied(_)]), "{outcomes:?}");
        }
        drop(replica);
        let points = crash_sim::finish();
        assert!(points.len() >= 4, "the recorder saw the founding's fsyncs: {} crash points", points.len());
        let mut cuts = 0;

        for (k, point) in points.iter().enumerate() {
            // A cut after point k keeps what was acknowledged once k + 1 points were recorded.
            let due: Vec<(EntryHash, Option<&str>)> =
                acked.iter().filter(|(at, _, _)| *at <= k + 1).map(|(_, h, t)| (*h, t.as_deref())).collect();
            // And a second cut while the node starts again from there.
            let run = work.path().join(format!("run-{k}"));
            check_after_cut(point, &work.path().join(format!("cut-{k}")), Some(&run), &due);
            cuts += 1;
            for (j, again) in crash_sim::finish().iter().enumerate() {
                check_after_cut(again, &work.path().join(format!("cut-{k}-{j}")), None, &due);
                cuts += 1;
            }
        }
        eprintln!("{} crash points while publishing, {cuts} power cuts checked", points.len());
    }

    /// The reducer's state as a start rebuilds it, every field shown.
    fn state(replica: &Replica) -> String {
        format!("{:?}", replica.community().unwrap())
    }

    /// The state a start builds by replaying every entry (the snapshot moved away and back).
    fn replayed_state(dir: &Path) -> String {
        let file = dir.join("state.kith");
        let aside = dir.join("state.aside");
        std::fs::rename(&file, &aside).unwrap();
        let replica = open(dir);
        assert_eq!(replica.snapshot_covers, 0);
        let state = state(&replica);
        drop(replica);
        std::fs::rename(&aside, &file).unwrap();
        state
    }

    #[test]
    fn a_start_from_a_snapshot_holds_what_a_replay_builds() {
        let dir = TempDir::new().unwrap();
        let mut replica = founded(dir.path());
        for n in 0..5 {
            replica.publish(post(&format!("lift {n}")), NOW + 1).unwrap();
        }
        assert!(replica.save_snapshot(0), "no snapshot written");
        assert!(!replica.save_snapshot(1), "a snapshot written again with nothing new");
        // After the snapshot: more applied entries, and one kept waiting (its previous entry
        // is not here).
        for n in 5..8 {
            replica.publish(post(&format!("lift {n}")), NOW + 1).unwrap();
        }
        let gap = next_of(&replica, 2, Some(EntryHash([9; 32])), "later");
        assert!(matches!(replica.receive(gap, NOW), Received::Pending(_)));
        let live = state(&replica);
        drop(replica);

        let replica = open(dir.path());
        assert_eq!(replica.snapshot_covers, 6, "the start did not begin from the snapshot");
        assert_eq!(replica.community().unwrap().entry_count(), 9);
        assert_eq!(replica.community().unwrap().pending_count(), 1);
        let resumed = state(&replica);
        drop(replica);
        assert_eq!(resumed, replayed_state(dir.path()), "the snapshot and the replay disagree");
        assert_eq!(resumed, live);
    }

    #[test]
    fn a_damaged_or_stale_snapshot_is_ignored() {
        // Damaged: one byte of the last entry's hash changed where the logs hold it (no digest
        // covers it; the checksum does).
        let dir = TempDir::new().unwrap();
        let mut replica = founded(dir.path());
        let mut last = None;
        for n in 0..5 {
            last = Some(replica.publish(post(&format!("lift {n}")), NOW + 1).unwrap().hash());
        }
        assert!(replica.save_snapshot(0));
        drop(replica);
        let file = dir.path().join("state.kith");
        let mut bytes = std::fs::read(&file).unwrap();
        let last = last.unwrap().0;
        let at = bytes.windows(32).rposition(|w| w == last).unwrap();
        bytes[at] ^= 1;
        std::fs::write(&file, &bytes).unwrap();
        let replica = open(dir.path());
        assert_eq!(replica.snapshot_covers, 0, "a damaged snapshot was used");
        let started = state(&replica);
        drop(replica);
        std::fs::remove_file(&file).unwrap();
        assert_eq!(started, state(&open(dir.path())));

        // Stale: another store's snapshot, made from as many entries of the same sizes (same
        // count and length, another last entry).
        let (ours, theirs) = (TempDir::new().unwrap(), TempDir::new().unwrap());
        for (dir, prefix) in [(&ours, "a"), (&theirs, "b")] {
            let mut replica = founded(dir.path());
            for n in 0..3 {
                replica.publish(post(&format!("{prefix}{n}")), NOW + 1).unwrap();
            }
            assert!(replica.save_snapshot(0));
        }
        let replayed = replayed_state(ours.path());
        std::fs::copy(theirs.path().join("state.kith"), ours.path().join("state.kith")).unwrap();
        let replica = open(ours.path());
        assert_eq!(replica.snapshot_covers, 0, "a snapshot of other entries was used");
        assert_eq!(state(&replica), replayed);
    }
}
