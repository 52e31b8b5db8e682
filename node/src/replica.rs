//! The replica: this node's copy of one community. Joins the sled [`Store`] with the
//! protocol's [`Community`] reducer: every entry, local or remote, goes through here, is
//! judged by the protocol, and is stored with its views in one transaction.

use kith_protocol::community::Report;
use kith_protocol::{
    Body, Community, CommunityId, Draft, Entry, EntryError, EntryHash, ForkProof, Keypair, MemberId, Outcome, Wait,
};

use crate::store::{Store, StoreError};

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
    Dropped,
}

/// Why a local publish was refused. Nothing is signed or stored when it is.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("{0}")]
    Rule(#[from] EntryError),
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

/// This node's copy of its community.
#[derive(Debug)]
pub struct Replica {
    store: Store,
    keypair: Keypair,
    community_id: Option<CommunityId>,
    community: Option<Community>,
    read_only: bool,
}

impl Replica {
    /// Loads the community from the store (if any) and replays its entries into the reducer.
    pub fn open(
        store: Store,
        keypair: Keypair,
        community_id: Option<CommunityId>,
        now_ms: u64,
    ) -> Result<Replica, ReplicaError> {
        let mut replica = Replica { store, keypair, community_id, community: None, read_only: false };
        if let Some(genesis_hash) = replica.store.genesis()? {
            replica.community_id = Some(CommunityId(genesis_hash.0));
            replica.reload(now_ms)?;
        }
        Ok(replica)
    }

    /// Rebuilds the in-memory state from every stored entry and fork proof.
    fn reload(&mut self, now_ms: u64) -> Result<(), ReplicaError> {
        let Some(genesis_hash) = self.store.genesis()? else { return Ok(()) };
        let Some(genesis) = self.store.get(&genesis_hash)? else {
            return Err(ReplicaError::BadGenesis(EntryError::Malformed {
                part: "genesis",
                reason: "missing from the store".into(),
            }));
        };
        let forks = self.store.forks()?;
        // Stream the entries into the reducer rather than holding them all at once: a node
        // with 100,000 entries would otherwise double its memory at every start.
        let mut failure = None;
        let applied = self.store.applied_entries().filter_map(|entry| match entry {
            Ok(entry) => Some(entry),
            Err(error) => {
                failure.get_or_insert(error);
                None
            }
        });
        let applied = applied.filter(|entry| entry.hash() != genesis_hash);
        let rest = self.store.frozen_entries()?.into_iter().chain(self.store.pending()?);
        let (community, _report) =
            Community::rebuild(&genesis, &forks, applied.chain(rest), now_ms).map_err(ReplicaError::BadGenesis)?;
        if let Some(error) = failure {
            return Err(error.into());
        }
        self.community = Some(community);
        Ok(())
    }

    pub fn keypair(&self) -> &Keypair {
        &self.keypair
    }
    pub fn me(&self) -> MemberId {
        self.keypair.member_id()
    }
    pub fn store(&self) -> &Store {
        &self.store
    }
    pub fn community(&self) -> Option<&Community> {
        self.community.as_ref()
    }
    pub fn community_id(&self) -> Option<CommunityId> {
        self.community_id
    }
    pub fn set_read_only(&mut self, read_only: bool) {
        self.read_only = read_only;
    }
    pub fn is_read_only(&self) -> bool {
        self.read_only
    }

    /// After a key restore: lifts the read-only state once a peer's head of this member's log
    /// (`peer_seq`, 0 if the peer holds none) is no longer ahead of ours. Returns true when it
    /// was lifted by this call.
    pub fn own_log_caught_up(&mut self, peer_seq: u64) -> bool {
        if !self.read_only || self.community.is_none() || self.head_seq(&self.me()) < peer_seq {
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

    /// Applies an entry whose signature has been verified.
    pub fn receive(&mut self, entry: Entry, now_ms: u64) -> Received {
        let Some(community) = self.community.as_mut() else { return Received::NotOurs };
        let (outcome, report) = community.ingest(entry.clone(), now_ms);
        if let Err(error) = self.persist(&report) {
            tracing::error!(%error, "could not store received entries");
        }
        // Forks can surface in entries this one released, not only in this one.
        let proofs = if report.conflicts.is_empty() { Vec::new() } else { self.complete_forks(&report, now_ms) };
        match outcome {
            Outcome::Applied => Received::Applied(report.applied),
            Outcome::Duplicate => Received::Duplicate,
            Outcome::Pending(wait) => {
                if let Err(error) = self.store.put_pending(&entry) {
                    tracing::error!(%error, "could not keep a waiting entry");
                }
                Received::Pending(wait)
            }
            Outcome::Rejected(error) => Received::Rejected(error),
            Outcome::Frozen => Received::Frozen,
            Outcome::Dropped => Received::Dropped,
            Outcome::Conflict { .. } => match proofs.into_iter().next() {
                Some(proof) => Received::Fork(proof),
                None => Received::Duplicate,
            },
        }
    }

    /// Applies a page of verified entries (catch-up sync) and stores everything the page
    /// applied in one transaction: far cheaper than one transaction per entry.
    /// Returns one outcome per entry and the fork proofs the page revealed.
    pub fn receive_page(&mut self, entries: Vec<Entry>, now_ms: u64) -> (Vec<Received>, Vec<ForkProof>) {
        let Some(community) = self.community.as_mut() else {
            return (entries.iter().map(|_| Received::NotOurs).collect(), Vec::new());
        };
        let mut total = Report::default();
        let mut outcomes = Vec::with_capacity(entries.len());
        let mut waiting = Vec::new();
        for entry in entries {
            let (outcome, report) = community.ingest(entry.clone(), now_ms);
            let received = match outcome {
                Outcome::Applied => Received::Applied(report.applied.clone()),
                Outcome::Duplicate => Received::Duplicate,
                Outcome::Pending(wait) => {
                    waiting.push(entry);
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
        }
        if let Err(error) = self.persist(&total) {
            tracing::error!(%error, "could not store received entries");
        }
        let applied: std::collections::HashSet<EntryHash> = total.applied.iter().map(Entry::hash).collect();
        for entry in waiting.iter().filter(|e| !applied.contains(&e.hash())) {
            if let Err(error) = self.store.put_pending(entry) {
                tracing::error!(%error, "could not keep a waiting entry");
            }
        }
        let proofs = if total.conflicts.is_empty() { Vec::new() } else { self.complete_forks(&total, now_ms) };
        (outcomes, proofs)
    }

    /// Takes a fork proof learnt from a peer. Returns true if it was new and valid.
    pub fn receive_fork_proof(&mut self, proof: &ForkProof, now_ms: u64) -> bool {
        let Some(community) = self.community.as_mut() else { return false };
        let Ok(fork) = proof.verify() else { return false };
        if !community.add_fork_proof(proof) {
            return false;
        }
        if let Err(error) =
            self.store.put_fork(&fork.author, proof).map_err(ReplicaError::from).and_then(|()| self.reload(now_ms))
        {
            tracing::error!(%error, "could not keep a fork proof");
        }
        true
    }

    /// Retries entries that waited for the clock.
    pub fn tick(&mut self, now_ms: u64) -> Vec<Entry> {
        let Some(community) = self.community.as_mut() else { return Vec::new() };
        let report = community.tick(now_ms);
        if let Err(error) = self.persist(&report) {
            tracing::error!(%error, "could not store released entries");
        }
        report.applied
    }

    /// Stores what a reducer call did.
    fn persist(&mut self, report: &Report) -> Result<(), StoreError> {
        if !report.applied.is_empty() {
            self.store.store_applied(&report.applied)?;
        }
        for entry in &report.frozen {
            self.store.store_frozen(entry)?;
        }
        for (hash, error) in &report.released_rejections {
            tracing::warn!(entry = %hash.short(), reason = %error, "a waiting entry turned out invalid");
            self.store.remove_pending(hash)?;
        }
        Ok(())
    }

    /// Turns reported conflicts into kept fork proofs, then rebuilds the state without the
    /// frozen parts of logs.
    fn complete_forks(&mut self, report: &Report, now_ms: u64) -> Vec<ForkProof> {
        let mut proofs = Vec::new();
        for (incoming, existing) in &report.conflicts {
            let stored = match self.store.get(existing) {
                Ok(Some(stored)) => stored,
                _ => continue,
            };
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
        if !proofs.is_empty()
            && let Err(error) = self.reload(now_ms)
        {
            tracing::error!(%error, "could not rebuild after a fork");
        }
        proofs
    }

    /// Signs the next entry of this member's log with `body`, checks it against the community's
    /// rules, stores it with its views and flushes before returning.
    pub fn publish(&mut self, body: Body, now_ms: u64) -> Result<Entry, PublishError> {
        if self.read_only {
            return Err(PublishError::ReadOnly);
        }
        let me = self.me();
        let community = self.community.as_ref().ok_or(PublishError::NoCommunity)?;
        let member = community.member(&me);
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
            // Never date an entry before the one it follows, whatever this clock says.
            timestamp_ms: now_ms.max(head.map_or(0, |h| h.timestamp_ms)),
            body,
        };
        let entry = Entry::sign(&self.keypair, draft)?;
        match community.check(&entry, now_ms) {
            Outcome::Applied => {}
            Outcome::Rejected(error) => return Err(error.into()),
            Outcome::Pending(wait) => return Err(PublishError::Waits(wait)),
            Outcome::Frozen | Outcome::Conflict { .. } => return Err(PublishError::Frozen),
            Outcome::Duplicate | Outcome::Dropped => return Err(PublishError::HeadMismatch),
        }
        let received = self.receive(entry.clone(), now_ms);
        if !matches!(received, Received::Applied(_)) {
            return Err(PublishError::HeadMismatch);
        }
        self.store.flush()?;
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
        let me = self.me();
        let Some(community) = self.community.as_ref() else { return Vec::new() };
        community.transfers().filter(|(_, t)| t.to == me && t.claimed_by.is_none()).map(|(h, _)| *h).collect()
    }
}
