//! The node's sled database — the only code that names sled: the community's entries (exact
//! bytes, by hash and by author and seq), pending and frozen entries, fork proofs, the text
//! views (posts, replies, profiles, transfers) and the node's bookkeeping (meta, known peers).
//!
//! Trees (a fixed set, see [`Store::open`]):
//! - `entries`: entry hash → the entry's exact wire bytes (applied and frozen entries);
//! - `log`: author (32 B) ‖ seq (u64 big-endian) → entry hash, for applied entries only, so an
//!   author's log is one prefix scan in seq order and its head is the prefix's last key;
//! - `frozen`: entry hash → () for entries of frozen logs (kept as fork evidence);
//! - `pending`: entry hash → wire bytes of entries waiting for something;
//! - `forks`: author → postcard([`ForkProof`]);
//! - `meta`: text key → bytes (the genesis hash under `genesis`, the store's schema under
//!   `schema`, and whatever the node keeps there);
//! - `peers`: libp2p peer id (text) → postcard(when last seen, addresses);
//! - the views, which can all be rebuilt from `entries` and `log` ([`Store::rebuild_views`]):
//!   `posts` (post hash → [`PostView`]), `posts_by_time` (created ms ‖ post hash → ()),
//!   `replies` (post ‖ created ms ‖ reply hash → [`ReplyView`]), `profiles` (member →
//!   [`ProfileView`]), `transfers` (transfer hash → [`TransferView`]), `transfers_by_member`
//!   (member ‖ created ms ‖ transfer hash → (), once for the payer and once for the payee) and
//!   `claims` (transfer hash → the hash of the `Receive` that claimed it).
//!
//! An applied entry, its place in `log` and its view updates are written in one multi-tree
//! transaction. Statuses, reply counts, balances and membership live in the in-memory
//! [`kith_protocol::Community`]; the views here hold the texts, so they stay out of memory.
//!
//! Durability: writes reach the disk through sled's flusher about once a second. Entries from
//! peers may be left to it (they can be fetched again), but **an entry the local user publishes
//! must be followed by [`Store::flush`] before the node answers or gossips it**.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

use kith_protocol::{Body, Entry, EntryHash, ForkProof, MemberId, PostKind};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sled::transaction::{ConflictableTransactionError, TransactionError, Transactional, TransactionalTree};

/// Version of the layout of the trees and values below. Stored under `meta/schema`; a store
/// written with another layout is refused rather than misread.
pub const SCHEMA_VERSION: u8 = 1;
/// A home node's sled cache. sled's own default (1 GiB) is far too much for a Raspberry Pi;
/// real memory use is a multiple of this figure.
pub const DEFAULT_CACHE_BYTES: u64 = 8 * 1024 * 1024;
/// Most addresses remembered for one peer (the newest are kept).
pub const MAX_ADDRS_PER_PEER: usize = 16;
/// Most peers remembered (the one seen longest ago is forgotten first).
pub const MAX_PEERS: usize = 1000;
/// Longest peer id or address remembered, in bytes; longer ones are ignored.
pub const MAX_PEER_TEXT_BYTES: usize = 256;
/// Entries per transaction when rebuilding the views.
const REBUILD_CHUNK: usize = 256;

const META_GENESIS: &str = "genesis";
const META_SCHEMA: &str = "schema";

/// Why the store could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the database in {path} is in use by another kith process (is `kith run` already running for this home?)")]
    InUse { path: PathBuf },
    #[error("the database in {path} cannot be read: {reason}")]
    Corrupt { path: PathBuf, reason: String },
    #[error("storage error: {0}")]
    Sled(#[from] sled::Error),
    #[error("a stored value could not be read: {0}")]
    Decode(String),
    #[error("a value could not be encoded for storage: {0}")]
    Encode(String),
    /// The caller tried to store, as applied, a second entry at a place in a log that already
    /// holds another one: a fork it should have turned into a proof first.
    #[error("entry {seq} of {author}'s log is already stored with a different hash")]
    Conflict { author: MemberId, seq: u64 },
}

/// A post's texts, as its author wrote them. Its status and reply count are in the `Community`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PostView {
    pub id: EntryHash,
    pub author: MemberId,
    pub kind: PostKind,
    pub title: String,
    pub details: String,
    pub category: String,
    pub when: String,
    pub place: String,
    pub created_at_ms: u64,
    pub expires_at: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplyView {
    pub id: EntryHash,
    pub post: EntryHash,
    pub author: MemberId,
    pub text: String,
    pub created_at_ms: u64,
}

/// A member's latest profile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProfileView {
    pub member: MemberId,
    /// The `Profile` entry these texts come from (a `Redact` of it removes the row).
    pub entry: EntryHash,
    pub name: String,
    pub about: String,
    pub area: String,
    pub skills: Vec<String>,
    pub contact: String,
    pub updated_at_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransferView {
    pub id: EntryHash,
    pub from: MemberId,
    pub to: MemberId,
    pub minutes: u32,
    pub memo: String,
    pub for_post: Option<EntryHash>,
    pub created_at_ms: u64,
    /// The payee's `Receive`, once stored.
    pub claim: Option<EntryHash>,
}

/// What is remembered of a peer.
#[derive(Debug, Serialize, Deserialize)]
struct PeerRecord {
    /// From `Db::generate_id`: larger is more recent.
    seen: u64,
    addrs: Vec<String>,
}

/// The node's database. Cheap to clone (sled's handles are reference counted); keep one open
/// for the life of the process.
#[derive(Clone)]
pub struct Store {
    path: PathBuf,
    db: sled::Db,
    entries: sled::Tree,
    log: sled::Tree,
    frozen: sled::Tree,
    pending: sled::Tree,
    forks: sled::Tree,
    meta: sled::Tree,
    peers: sled::Tree,
    views: Views,
}

/// The view trees: everything [`Store::rebuild_views`] may drop.
#[derive(Clone)]
struct Views {
    posts: sled::Tree,
    posts_by_time: sled::Tree,
    replies: sled::Tree,
    profiles: sled::Tree,
    transfers: sled::Tree,
    transfers_by_member: sled::Tree,
    claims: sled::Tree,
}

impl Views {
    fn all(&self) -> [&sled::Tree; 7] {
        [
            &self.posts,
            &self.posts_by_time,
            &self.replies,
            &self.profiles,
            &self.transfers,
            &self.transfers_by_member,
            &self.claims,
        ]
    }
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // sled's own Debug of a tree prints its contents.
        f.debug_struct("Store").field("path", &self.path).finish_non_exhaustive()
    }
}

impl Store {
    /// Opens (creating) the database in `dir`, with a cache of `cache_bytes` (see
    /// [`DEFAULT_CACHE_BYTES`]), `Mode::LowSpace` and a background flush every second.
    ///
    /// sled allows one open instance per folder: if another process (or another `Store` in
    /// this one) holds it, this fails with [`StoreError::InUse`]. Any other failure to open —
    /// unreadable files, a folder that is not one, a store of another schema — is
    /// [`StoreError::Corrupt`]. After dropping a `Store`, sled's threads may hold the lock for a
    /// moment longer.
    pub fn open(dir: &Path, cache_bytes: u64) -> Result<Store, StoreError> {
        let path = dir.to_path_buf();
        let corrupt = |reason: String| StoreError::Corrupt { path: path.clone(), reason };
        let config = sled::Config::new()
            .path(dir)
            .cache_capacity(cache_bytes)
            .mode(sled::Mode::LowSpace)
            .flush_every_ms(Some(1000));
        // sled reports most damage as errors, but some damaged files make it panic while
        // recovering: a node should say its database is damaged, not crash.
        let opened = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| config.open()));
        let db = match opened {
            Ok(Ok(db)) => db,
            Ok(Err(sled::Error::Io(error))) if error.to_string().contains("could not acquire lock") => {
                return Err(StoreError::InUse { path });
            }
            Ok(Err(error)) => return Err(corrupt(error.to_string())),
            Err(panic) => {
                let reason = panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_string()))
                    .unwrap_or_else(|| "sled panicked while opening it".to_string());
                return Err(corrupt(reason));
            }
        };
        let tree = |name: &str| db.open_tree(name).map_err(|e| corrupt(format!("tree {name}: {e}")));
        let views = Views {
            posts: tree("posts")?,
            posts_by_time: tree("posts_by_time")?,
            replies: tree("replies")?,
            profiles: tree("profiles")?,
            transfers: tree("transfers")?,
            transfers_by_member: tree("transfers_by_member")?,
            claims: tree("claims")?,
        };
        let store = Store {
            entries: tree("entries")?,
            log: tree("log")?,
            frozen: tree("frozen")?,
            pending: tree("pending")?,
            forks: tree("forks")?,
            meta: tree("meta")?,
            peers: tree("peers")?,
            views,
            db,
            path: path.clone(),
        };
        match store.meta_get(META_SCHEMA).map_err(|e| corrupt(e.to_string()))? {
            None => store.meta_put(META_SCHEMA, &[SCHEMA_VERSION])?,
            Some(version) if version == [SCHEMA_VERSION] => {}
            Some(version) => {
                return Err(corrupt(format!(
                    "it was written in store layout {version:?}, and this kith reads layout {SCHEMA_VERSION}"
                )));
            }
        }
        Ok(store)
    }

    /// The folder the database lives in.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes everything to disk and waits for the fsync. Call it after a local publish, before
    /// answering the user or gossiping the entry.
    pub fn flush(&self) -> Result<(), StoreError> {
        self.db.flush()?;
        Ok(())
    }

    /// The database's size on disk, in bytes.
    pub fn size_on_disk(&self) -> Result<u64, StoreError> {
        Ok(self.db.size_on_disk()?)
    }

    // --- the community's entries ---

    /// The hash of the community's Genesis, once set.
    pub fn genesis(&self) -> Result<Option<EntryHash>, StoreError> {
        self.meta.get(META_GENESIS)?.map(|bytes| hash_from("genesis hash", &bytes)).transpose()
    }

    pub fn set_genesis(&self, hash: EntryHash) -> Result<(), StoreError> {
        self.meta.insert(META_GENESIS, &hash.0[..])?;
        Ok(())
    }

    /// Stores applied entries, their places in their logs and their view updates in one
    /// transaction, and takes them out of `pending`. Give them in the order they were applied
    /// (each author's log in seq order), as [`kith_protocol::Report::applied`] lists them.
    /// Idempotent: an entry already stored at its place is skipped. A *different* entry already
    /// stored at the same author and seq fails the whole call with [`StoreError::Conflict`].
    /// Signatures and rules are the caller's business: this stores what it is given.
    pub fn store_applied(&self, entries: &[Entry]) -> Result<(), StoreError> {
        if entries.is_empty() {
            return Ok(());
        }
        let batch: HashMap<EntryHash, &Entry> = entries.iter().map(|e| (e.hash(), e)).collect();
        let plans = entries
            .iter()
            .map(|entry| {
                let ops = self.plan_views(entry, &batch)?;
                Ok(Planned { entry, log_key: log_key(&entry.author(), entry.seq()), ops })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        let v = &self.views;
        let trees = (
            &self.entries,
            &self.log,
            &self.pending,
            &v.posts,
            &v.posts_by_time,
            &v.replies,
            &v.profiles,
            &v.transfers,
            &v.transfers_by_member,
            &v.claims,
        );
        let result = trees.transaction(
            |(entries, log, pending, posts, posts_by_time, replies, profiles, transfers, by_member, claims)| {
                let views = ViewTx { posts, posts_by_time, replies, profiles, transfers, by_member, claims };
                for plan in &plans {
                    let hash = plan.entry.hash();
                    pending.remove(&hash.0[..])?;
                    match log.get(plan.log_key)? {
                        Some(stored) if stored.as_ref() == hash.0 => continue,
                        Some(_) => {
                            let (author, seq) = (plan.entry.author(), plan.entry.seq());
                            return Err(ConflictableTransactionError::Abort(StoreError::Conflict { author, seq }));
                        }
                        None => {}
                    }
                    entries.insert(&hash.0[..], plan.entry.bytes())?;
                    log.insert(&plan.log_key[..], &hash.0[..])?;
                    views.apply(&plan.ops)?;
                }
                Ok(())
            },
        );
        tx_result(result)
    }

    /// Stores an entry of a frozen log (fork evidence): in `entries` and `frozen`, not in `log`
    /// nor the views. Takes it out of `pending`.
    pub fn store_frozen(&self, entry: &Entry) -> Result<(), StoreError> {
        let hash = entry.hash();
        let result = (&self.entries, &self.frozen, &self.pending).transaction(|(entries, frozen, pending)| {
            entries.insert(&hash.0[..], entry.bytes())?;
            frozen.insert(&hash.0[..], &[][..])?;
            pending.remove(&hash.0[..])?;
            Ok(())
        });
        tx_result(result)
    }

    /// Keeps an entry that waits for something (its signature already checked).
    pub fn put_pending(&self, entry: &Entry) -> Result<(), StoreError> {
        self.pending.insert(&entry.hash().0[..], entry.bytes())?;
        Ok(())
    }

    pub fn remove_pending(&self, hash: &EntryHash) -> Result<(), StoreError> {
        self.pending.remove(&hash.0[..])?;
        Ok(())
    }

    /// Every waiting entry, in hash order.
    pub fn pending(&self) -> Result<Vec<Entry>, StoreError> {
        self.pending.iter().values().map(|bytes| decode_entry(&bytes?)).collect()
    }

    /// Keeps a fork proof against `author`, replacing an earlier one (the reducer only hands
    /// out a proof that freezes the log further).
    pub fn put_fork(&self, author: &MemberId, proof: &ForkProof) -> Result<(), StoreError> {
        self.forks.insert(&author.0[..], encode("fork proof", proof)?)?;
        Ok(())
    }

    pub fn forks(&self) -> Result<Vec<ForkProof>, StoreError> {
        self.forks.iter().values().map(|bytes| decode("fork proof", &bytes?)).collect()
    }

    /// Any stored entry (applied or frozen; not pending) by its hash.
    pub fn get(&self, hash: &EntryHash) -> Result<Option<Entry>, StoreError> {
        self.entries.get(hash.0)?.map(|bytes| decode_entry(&bytes)).transpose()
    }

    /// The applied entry at `seq` of `author`'s log.
    pub fn entry_at(&self, author: &MemberId, seq: u64) -> Result<Option<Entry>, StoreError> {
        match self.log.get(log_key(author, seq))? {
            Some(hash) => self.entry_bytes(&hash).and_then(|bytes| decode_entry(&bytes)).map(Some),
            None => Ok(None),
        }
    }

    /// The last applied entry of `author`'s log: its seq and hash.
    pub fn head(&self, author: &MemberId) -> Result<Option<(u64, EntryHash)>, StoreError> {
        match self.log.scan_prefix(author.0).next_back() {
            Some(item) => {
                let (key, hash) = item?;
                Ok(Some((seq_from_log_key(&key)?, hash_from("log value", &hash)?)))
            }
            None => Ok(None),
        }
    }

    /// Up to `limit` applied entries of `author` from `from_seq` on, in seq order, as their
    /// wire bytes. Stops before the entry that would take the total past `max_bytes`, but always
    /// returns at least one entry if there is one.
    pub fn range(
        &self,
        author: &MemberId,
        from_seq: u64,
        limit: usize,
        max_bytes: usize,
    ) -> Result<Vec<Vec<u8>>, StoreError> {
        let mut out = Vec::new();
        let mut total = 0usize;
        for item in self.log.range(log_key(author, from_seq)..=log_key(author, u64::MAX)) {
            if out.len() >= limit {
                break;
            }
            let (_, hash) = item?;
            let bytes = self.entry_bytes(&hash)?;
            if !out.is_empty() && total.saturating_add(bytes.len()) > max_bytes {
                break;
            }
            total = total.saturating_add(bytes.len());
            out.push(bytes.to_vec());
        }
        Ok(out)
    }

    /// Every applied entry in (author, seq) order — for rebuilding the in-memory state at start.
    pub fn applied_entries(&self) -> impl Iterator<Item = Result<Entry, StoreError>> + '_ {
        self.log.iter().values().map(move |hash| {
            let bytes = self.entry_bytes(&hash?)?;
            decode_entry(&bytes)
        })
    }

    /// Every entry kept as fork evidence, in hash order.
    pub fn frozen_entries(&self) -> Result<Vec<Entry>, StoreError> {
        self.frozen.iter().keys().map(|hash| self.entry_bytes(&hash?).and_then(|bytes| decode_entry(&bytes))).collect()
    }

    /// How many applied entries are stored. Counts by walking the `log` tree: not for hot paths.
    pub fn entry_count(&self) -> usize {
        self.log.len()
    }

    /// Drops every view and writes them again from the `entries` and `log` trees
    /// (`kith repair`). Returns how many entries were replayed. Not atomic as a whole: if it is
    /// interrupted, run it again.
    pub fn rebuild_views(&self) -> Result<usize, StoreError> {
        for tree in self.views.all() {
            tree.clear()?;
        }
        let mut count = 0;
        let mut chunk = Vec::with_capacity(REBUILD_CHUNK);
        for entry in self.applied_entries() {
            chunk.push(entry?);
            if chunk.len() == REBUILD_CHUNK {
                count += self.replay_views(&chunk)?;
                chunk.clear();
            }
        }
        count += self.replay_views(&chunk)?;
        Ok(count)
    }

    /// Drops every applied entry but the Genesis, with their log places and the views; keeps
    /// pending entries, fork proofs, frozen entries, meta and peers. For when a fork forces the
    /// state to be rebuilt: the caller then stores again, with [`Store::store_applied`] and
    /// [`Store::store_frozen`], what the rebuilt state applies and freezes. Returns how many
    /// entries were dropped. Not atomic: an interruption leaves fewer applied entries, which
    /// sync fetches again.
    pub fn clear_applied(&self) -> Result<usize, StoreError> {
        let genesis = self.genesis()?;
        for tree in self.views.all() {
            tree.clear()?;
        }
        let mut log_batch = sled::Batch::default();
        let mut entries_batch = sled::Batch::default();
        let mut dropped = 0;
        for item in self.log.iter() {
            let (key, hash) = item?;
            if genesis.is_some_and(|g| g.0 == hash.as_ref()) {
                continue;
            }
            log_batch.remove(key);
            if !self.frozen.contains_key(&hash)? {
                entries_batch.remove(hash);
            }
            dropped += 1;
        }
        self.log.apply_batch(log_batch)?;
        self.entries.apply_batch(entries_batch)?;
        Ok(dropped)
    }

    // --- views ---

    pub fn post(&self, hash: &EntryHash) -> Result<Option<PostView>, StoreError> {
        self.views.posts.get(hash.0)?.map(|bytes| decode("post view", &bytes)).transpose()
    }

    /// Every post's texts, newest first (by the time its author gave it).
    pub fn posts(&self) -> Result<Vec<PostView>, StoreError> {
        let mut out = Vec::new();
        for key in self.views.posts_by_time.iter().keys().rev() {
            let key = key?;
            let hash = hash_from("post index key", key.get(8..).unwrap_or_default())?;
            match self.post(&hash)? {
                Some(post) => out.push(post),
                None => tracing::warn!(post = %hash, "post index names a missing post; `kith repair` rebuilds it"),
            }
        }
        Ok(out)
    }

    /// The replies to a post, oldest first.
    pub fn replies(&self, post: &EntryHash) -> Result<Vec<ReplyView>, StoreError> {
        self.views.replies.scan_prefix(post.0).values().map(|bytes| decode("reply view", &bytes?)).collect()
    }

    /// A member's latest profile, unless its author redacted it.
    pub fn profile(&self, member: &MemberId) -> Result<Option<ProfileView>, StoreError> {
        self.views.profiles.get(member.0)?.map(|bytes| decode("profile view", &bytes)).transpose()
    }

    pub fn transfer(&self, hash: &EntryHash) -> Result<Option<TransferView>, StoreError> {
        self.views.transfers.get(hash.0)?.map(|bytes| decode("transfer view", &bytes)).transpose()
    }

    /// The transfers a member paid or received, newest first.
    pub fn transfers_of(&self, member: &MemberId) -> Result<Vec<TransferView>, StoreError> {
        let mut out = Vec::new();
        for key in self.views.transfers_by_member.scan_prefix(member.0).keys().rev() {
            let key = key?;
            let hash = hash_from("transfer index key", key.get(40..).unwrap_or_default())?;
            match self.transfer(&hash)? {
                Some(transfer) => out.push(transfer),
                None => {
                    tracing::warn!(transfer = %hash, "transfer index names a missing transfer; `kith repair` rebuilds it");
                }
            }
        }
        Ok(out)
    }

    // --- node bookkeeping ---

    pub fn meta_get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.meta.get(key)?.map(|value| value.to_vec()))
    }

    pub fn meta_put(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        self.meta.insert(key, value)?;
        Ok(())
    }

    /// Remembers addresses a peer was reached at, newest first, at most
    /// [`MAX_ADDRS_PER_PEER`] per peer and [`MAX_PEERS`] peers (the peer seen longest ago is
    /// forgotten). Ids and addresses longer than [`MAX_PEER_TEXT_BYTES`] are ignored.
    pub fn remember_peer(&self, peer_id: &str, addrs: &[String]) -> Result<(), StoreError> {
        if peer_id.is_empty() || peer_id.len() > MAX_PEER_TEXT_BYTES {
            return Ok(());
        }
        let existing = match self.peers.get(peer_id)? {
            Some(bytes) => decode::<PeerRecord>("peer record", &bytes).ok(),
            None => None,
        };
        let is_new = existing.is_none();
        let mut merged: Vec<String> = Vec::new();
        let old = existing.map(|record| record.addrs).unwrap_or_default();
        for addr in addrs.iter().chain(old.iter()) {
            if merged.len() >= MAX_ADDRS_PER_PEER {
                break;
            }
            if !addr.is_empty() && addr.len() <= MAX_PEER_TEXT_BYTES && !merged.contains(addr) {
                merged.push(addr.clone());
            }
        }
        if is_new && self.peers.len() >= MAX_PEERS {
            self.forget_stalest_peer()?;
        }
        let record = PeerRecord { seen: self.db.generate_id()?, addrs: merged };
        self.peers.insert(peer_id, encode("peer record", &record)?)?;
        Ok(())
    }

    /// Known peers and their addresses, most recently seen first. Unreadable records are
    /// skipped (they are only hints).
    pub fn known_peers(&self) -> Result<Vec<(String, Vec<String>)>, StoreError> {
        let mut peers = Vec::new();
        for item in self.peers.iter() {
            let (key, value) = item?;
            let peer_id = String::from_utf8_lossy(&key).into_owned();
            match decode::<PeerRecord>("peer record", &value) {
                Ok(record) => peers.push((record.seen, peer_id, record.addrs)),
                Err(error) => tracing::warn!(peer = %peer_id, %error, "skipping an unreadable peer record"),
            }
        }
        peers.sort_by_key(|(seen, _, _)| std::cmp::Reverse(*seen));
        Ok(peers.into_iter().map(|(_, id, addrs)| (id, addrs)).collect())
    }

    pub fn forget_peer(&self, peer_id: &str) -> Result<(), StoreError> {
        self.peers.remove(peer_id)?;
        Ok(())
    }

    // --- inside ---

    fn forget_stalest_peer(&self) -> Result<(), StoreError> {
        let mut stalest: Option<(u64, sled::IVec)> = None;
        for item in self.peers.iter() {
            let (key, value) = item?;
            // An unreadable record counts as the stalest of all.
            let seen = decode::<PeerRecord>("peer record", &value).map_or(0, |record| record.seen);
            if stalest.as_ref().is_none_or(|(oldest, _)| seen < *oldest) {
                stalest = Some((seen, key));
            }
        }
        if let Some((_, key)) = stalest {
            self.peers.remove(key)?;
        }
        Ok(())
    }

    /// The bytes of a stored entry a `log` or `frozen` row names.
    fn entry_bytes(&self, hash: &[u8]) -> Result<sled::IVec, StoreError> {
        self.entries
            .get(hash)?
            .ok_or_else(|| StoreError::Decode(format!("entry {} is indexed but not stored", hex::encode(hash))))
    }

    /// Writes the views of entries already stored (for [`Store::rebuild_views`]).
    fn replay_views(&self, chunk: &[Entry]) -> Result<usize, StoreError> {
        if chunk.is_empty() {
            return Ok(0);
        }
        let batch: HashMap<EntryHash, &Entry> = chunk.iter().map(|e| (e.hash(), e)).collect();
        let ops = chunk.iter().map(|entry| self.plan_views(entry, &batch)).collect::<Result<Vec<_>, _>>()?;
        let v = &self.views;
        let trees =
            (&v.posts, &v.posts_by_time, &v.replies, &v.profiles, &v.transfers, &v.transfers_by_member, &v.claims);
        let result = trees.transaction(|(posts, posts_by_time, replies, profiles, transfers, by_member, claims)| {
            let views = ViewTx { posts, posts_by_time, replies, profiles, transfers, by_member, claims };
            for entry_ops in &ops {
                views.apply(entry_ops)?;
            }
            Ok(())
        });
        tx_result(result)?;
        Ok(chunk.len())
    }

    /// Works out, outside any transaction, what an entry changes in the views. A `Redact`'s
    /// target is looked up in `batch` first, then in the store (entries never change, so
    /// reading them outside the transaction is safe).
    fn plan_views(&self, entry: &Entry, batch: &HashMap<EntryHash, &Entry>) -> Result<Vec<ViewOp>, StoreError> {
        let hash = entry.hash();
        let author = entry.author();
        let at = entry.timestamp_ms();
        let ops = match entry.body() {
            Body::Post { kind, title, details, category, when, place, expires_at } => {
                let view = PostView {
                    id: hash,
                    author,
                    kind: *kind,
                    title: title.clone(),
                    details: details.clone(),
                    category: category.clone(),
                    when: when.clone(),
                    place: place.clone(),
                    created_at_ms: at,
                    expires_at: *expires_at,
                };
                vec![
                    ViewOp::Insert(ViewTree::Posts, hash.0.to_vec(), encode("post view", &view)?),
                    ViewOp::Insert(ViewTree::PostsByTime, time_key(None, at, &hash), Vec::new()),
                ]
            }
            Body::Reply { post, text } => {
                let view = ReplyView { id: hash, post: *post, author, text: text.clone(), created_at_ms: at };
                vec![ViewOp::Insert(
                    ViewTree::Replies,
                    time_key(Some(&post.0), at, &hash),
                    encode("reply view", &view)?,
                )]
            }
            Body::Profile { name, about, area, skills, contact } => {
                let view = ProfileView {
                    member: author,
                    entry: hash,
                    name: name.clone(),
                    about: about.clone(),
                    area: area.clone(),
                    skills: skills.clone(),
                    contact: contact.clone(),
                    updated_at_ms: at,
                };
                vec![ViewOp::Insert(ViewTree::Profiles, author.0.to_vec(), encode("profile view", &view)?)]
            }
            Body::Transfer { to, minutes, memo, for_post } => {
                let view = TransferView {
                    id: hash,
                    from: author,
                    to: *to,
                    minutes: minutes.0,
                    memo: memo.clone(),
                    for_post: *for_post,
                    created_at_ms: at,
                    claim: None,
                };
                vec![
                    ViewOp::PutTransfer(Box::new(view)),
                    ViewOp::Insert(ViewTree::TransfersByMember, time_key(Some(&author.0), at, &hash), Vec::new()),
                    ViewOp::Insert(ViewTree::TransfersByMember, time_key(Some(&to.0), at, &hash), Vec::new()),
                ]
            }
            Body::Receive { transfer } => vec![ViewOp::Claim { transfer: *transfer, receive: hash }],
            Body::Redact { entry: target } => {
                let found = match batch.get(target) {
                    Some(found) => Some((*found).clone()),
                    None => self.get(target)?,
                };
                match found {
                    // Only an author's own entries can be redacted (the reducer checked it).
                    Some(found) if found.author() == author => redaction(&found),
                    Some(_) => Vec::new(),
                    None => {
                        tracing::warn!(entry = %target, "redacted entry is not stored; no view to remove");
                        Vec::new()
                    }
                }
            }
            Body::Genesis { .. }
            | Body::Vouch { .. }
            | Body::PostStatus { .. }
            | Body::Suspend { .. }
            | Body::Appoint { .. }
            | Body::RevokeInvite { .. }
            | Body::InviteUsed { .. } => Vec::new(),
        };
        Ok(ops)
    }
}

/// What removing a redacted entry's texts takes.
fn redaction(target: &Entry) -> Vec<ViewOp> {
    let hash = target.hash();
    let at = target.timestamp_ms();
    match target.body() {
        Body::Post { .. } => vec![
            ViewOp::Remove(ViewTree::Posts, hash.0.to_vec()),
            ViewOp::Remove(ViewTree::PostsByTime, time_key(None, at, &hash)),
        ],
        Body::Reply { post, .. } => vec![ViewOp::Remove(ViewTree::Replies, time_key(Some(&post.0), at, &hash))],
        Body::Profile { .. } => vec![ViewOp::RemoveProfileIf { member: target.author(), entry: hash }],
        _ => Vec::new(),
    }
}

/// An entry planned for [`Store::store_applied`].
struct Planned<'a> {
    entry: &'a Entry,
    log_key: [u8; 40],
    ops: Vec<ViewOp>,
}

#[derive(Debug, Clone, Copy)]
enum ViewTree {
    Posts,
    PostsByTime,
    Replies,
    Profiles,
    TransfersByMember,
}

/// One change to the views, with its keys worked out before the transaction.
#[derive(Debug)]
enum ViewOp {
    Insert(ViewTree, Vec<u8>, Vec<u8>),
    Remove(ViewTree, Vec<u8>),
    /// Writes a transfer, with the claim if its `Receive` came first.
    PutTransfer(Box<TransferView>),
    /// Records a claim, and marks the transfer if it is stored.
    Claim {
        transfer: EntryHash,
        receive: EntryHash,
    },
    /// Removes a member's profile if it still comes from `entry`.
    RemoveProfileIf {
        member: MemberId,
        entry: EntryHash,
    },
}

/// The view trees inside a transaction.
struct ViewTx<'a> {
    posts: &'a TransactionalTree,
    posts_by_time: &'a TransactionalTree,
    replies: &'a TransactionalTree,
    profiles: &'a TransactionalTree,
    transfers: &'a TransactionalTree,
    by_member: &'a TransactionalTree,
    claims: &'a TransactionalTree,
}

type TxResult = Result<(), ConflictableTransactionError<StoreError>>;

impl ViewTx<'_> {
    fn tree(&self, tree: ViewTree) -> &TransactionalTree {
        match tree {
            ViewTree::Posts => self.posts,
            ViewTree::PostsByTime => self.posts_by_time,
            ViewTree::Replies => self.replies,
            ViewTree::Profiles => self.profiles,
            ViewTree::TransfersByMember => self.by_member,
        }
    }

    fn apply(&self, ops: &[ViewOp]) -> TxResult {
        for op in ops {
            match op {
                ViewOp::Insert(tree, key, value) => {
                    self.tree(*tree).insert(key.as_slice(), value.as_slice())?;
                }
                ViewOp::Remove(tree, key) => {
                    self.tree(*tree).remove(key.as_slice())?;
                }
                ViewOp::PutTransfer(view) => {
                    let mut view = (**view).clone();
                    if let Some(claim) = self.claims.get(view.id.0)? {
                        view.claim = Some(hash_from("claim", &claim).map_err(ConflictableTransactionError::Abort)?);
                    }
                    let value = encode("transfer view", &view).map_err(ConflictableTransactionError::Abort)?;
                    self.transfers.insert(&view.id.0[..], value)?;
                }
                ViewOp::Claim { transfer, receive } => {
                    self.claims.insert(&transfer.0[..], &receive.0[..])?;
                    if let Some(bytes) = self.transfers.get(transfer.0)? {
                        let mut view: TransferView =
                            decode("transfer view", &bytes).map_err(ConflictableTransactionError::Abort)?;
                        view.claim = Some(*receive);
                        let value = encode("transfer view", &view).map_err(ConflictableTransactionError::Abort)?;
                        self.transfers.insert(&transfer.0[..], value)?;
                    }
                }
                ViewOp::RemoveProfileIf { member, entry } => {
                    if let Some(bytes) = self.profiles.get(member.0)? {
                        let view: ProfileView =
                            decode("profile view", &bytes).map_err(ConflictableTransactionError::Abort)?;
                        if view.entry == *entry {
                            self.profiles.remove(&member.0[..])?;
                        }
                    }
                }
            }
        }
        Ok(())
    }
}

fn tx_result<T>(result: Result<T, TransactionError<StoreError>>) -> Result<T, StoreError> {
    result.map_err(|error| match error {
        TransactionError::Abort(error) => error,
        TransactionError::Storage(error) => StoreError::Sled(error),
    })
}

/// author (32 B) ‖ seq (u64 big-endian): sorts each author's log in seq order.
fn log_key(author: &MemberId, seq: u64) -> [u8; 40] {
    let mut key = [0u8; 40];
    key[..32].copy_from_slice(&author.0);
    key[32..].copy_from_slice(&seq.to_be_bytes());
    key
}

fn seq_from_log_key(key: &[u8]) -> Result<u64, StoreError> {
    let bytes: [u8; 8] = key
        .get(32..)
        .and_then(|tail| tail.try_into().ok())
        .ok_or_else(|| StoreError::Decode(format!("a log key of {} bytes", key.len())))?;
    Ok(u64::from_be_bytes(bytes))
}

/// [prefix (32 B)] ‖ ms (u64 big-endian) ‖ hash (32 B): sorts by time under the prefix.
fn time_key(prefix: Option<&[u8; 32]>, at_ms: u64, hash: &EntryHash) -> Vec<u8> {
    let mut key = Vec::with_capacity(72);
    if let Some(prefix) = prefix {
        key.extend_from_slice(prefix);
    }
    key.extend_from_slice(&at_ms.to_be_bytes());
    key.extend_from_slice(&hash.0);
    key
}

fn hash_from(what: &str, bytes: &[u8]) -> Result<EntryHash, StoreError> {
    let array: [u8; 32] =
        bytes.try_into().map_err(|_| StoreError::Decode(format!("{what}: {} bytes, not 32", bytes.len())))?;
    Ok(EntryHash(array))
}

fn decode_entry(bytes: &[u8]) -> Result<Entry, StoreError> {
    Entry::decode_unverified(bytes.to_vec()).map_err(|e| StoreError::Decode(format!("stored entry: {e}")))
}

fn decode<T: DeserializeOwned>(what: &str, bytes: &[u8]) -> Result<T, StoreError> {
    postcard::from_bytes(bytes).map_err(|e| StoreError::Decode(format!("{what}: {e}")))
}

fn encode<T: Serialize>(what: &str, value: &T) -> Result<Vec<u8>, StoreError> {
    postcard::to_stdvec(value).map_err(|e| StoreError::Encode(format!("{what}: {e}")))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use std::time::{Duration, Instant};

    use kith_protocol::{CommunityId, Draft, Keypair, Minutes, PostKind, Rules};
    use tempfile::TempDir;

    use super::*;

    const CACHE: u64 = 1024 * 1024;

    /// One author's log, signed entry by entry.
    struct Author {
        keypair: Keypair,
        community: Option<CommunityId>,
        seq: u64,
        prev: Option<EntryHash>,
    }

    impl Author {
        fn new(secret: u8, community: Option<CommunityId>) -> Self {
            Author { keypair: Keypair::from_secret_bytes([secret; 32]), community, seq: 0, prev: None }
        }

        fn id(&self) -> MemberId {
            self.keypair.member_id()
        }

        fn write(&mut self, timestamp_ms: u64, body: Body) -> Entry {
            let draft = Draft { community: self.community, seq: self.seq + 1, prev: self.prev, timestamp_ms, body };
            let entry = Entry::sign(&self.keypair, draft).unwrap();
            self.seq += 1;
            self.prev = Some(entry.hash());
            entry
        }
    }

    /// A founder (with the Genesis written) and the community's id.
    fn founder() -> (Author, Entry) {
        let mut founder = Author::new(1, None);
        let genesis = founder
            .write(1, Body::Genesis { name: "Elm Street".into(), description: String::new(), rules: Rules::default() });
        founder.community = Some(genesis.community());
        (founder, genesis)
    }

    fn post(title: &str) -> Body {
        Body::Post {
            kind: PostKind::Offer,
            title: title.into(),
            details: format!("details of {title}"),
            category: "lifts".into(),
            when: "Tuesdays".into(),
            place: "the surgery".into(),
            expires_at: None,
        }
    }

    fn profile(name: &str) -> Body {
        Body::Profile {
            name: name.into(),
            about: "retired teacher".into(),
            area: "north".into(),
            skills: vec!["knitting".into()],
            contact: "ask at the library".into(),
        }
    }

    fn open(dir: &TempDir) -> Store {
        Store::open(dir.path(), CACHE).unwrap()
    }

    /// Opens again after a drop: sled's threads may hold the lock a moment longer.
    fn reopen(dir: &Path) -> Store {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match Store::open(dir, CACHE) {
                Ok(store) => return store,
                Err(StoreError::InUse { .. }) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20))
                }
                Err(error) => panic!("reopening failed: {error}"),
            }
        }
    }

    /// Every view, for comparing before and after a rebuild.
    fn all_views(store: &Store, members: &[MemberId]) -> String {
        let posts = store.posts().unwrap();
        let replies: Vec<_> = posts.iter().map(|p| store.replies(&p.id).unwrap()).collect();
        let profiles: Vec<_> = members.iter().map(|m| store.profile(m).unwrap()).collect();
        let transfers: Vec<_> = members.iter().map(|m| store.transfers_of(m).unwrap()).collect();
        format!("{posts:?}\n{replies:?}\n{profiles:?}\n{transfers:?}")
    }

    #[test]
    fn entries_are_read_back_with_their_exact_bytes() {
        let dir = TempDir::new().unwrap();
        let store = open(&dir);
        let (mut founder, genesis) = founder();
        let first = founder.write(10, post("lifts"));
        let second = founder.write(20, post("shopping"));
        store.set_genesis(genesis.hash()).unwrap();
        store.store_applied(&[genesis.clone(), first.clone(), second.clone()]).unwrap();

        assert_eq!(store.genesis().unwrap(), Some(genesis.hash()));
        for entry in [&genesis, &first, &second] {
            let read = store.get(&entry.hash()).unwrap().unwrap();
            assert_eq!(read.bytes(), entry.bytes());
            assert_eq!(store.entry_at(&founder.id(), entry.seq()).unwrap().unwrap().bytes(), entry.bytes());
        }
        assert_eq!(store.entry_at(&founder.id(), 4).unwrap(), None);
        assert_eq!(store.get(&EntryHash([9; 32])).unwrap(), None);
        assert_eq!(store.head(&founder.id()).unwrap(), Some((3, second.hash())));
        assert_eq!(store.head(&Author::new(2, None).id()).unwrap(), None);
        assert_eq!(store.entry_count(), 3);
        let all: Vec<Vec<u8>> = store.applied_entries().map(|e| e.unwrap().bytes().to_vec()).collect();
        assert_eq!(all, vec![genesis.bytes().to_vec(), first.bytes().to_vec(), second.bytes().to_vec()]);
    }

    #[test]
    fn storing_again_changes_nothing() {
        let dir = TempDir::new().unwrap();
        let store = open(&dir);
        let (mut founder, genesis) = founder();
        let offer = founder.write(10, post("lifts"));
        store.store_applied(&[genesis.clone(), offer.clone()]).unwrap();
        let before = all_views(&store, &[founder.id()]);
        store.store_applied(&[genesis.clone(), offer.clone(), offer.clone()]).unwrap();
        store.store_applied(std::slice::from_ref(&offer)).unwrap();
        assert_eq!(store.entry_count(), 2);
        assert_eq!(store.posts().unwrap().len(), 1);
        assert_eq!(all_views(&store, &[founder.id()]), before);
        store.store_applied(&[]).unwrap();
    }

    #[test]
    fn a_second_entry_at_a_stored_place_is_refused() {
        let dir = TempDir::new().unwrap();
        let store = open(&dir);
        let (founder, genesis) = founder();
        let mut other_branch = Author { seq: 1, prev: Some(genesis.hash()), ..Author::new(1, founder.community) };
        let mut branch = Author { seq: 1, prev: Some(genesis.hash()), ..Author::new(1, founder.community) };
        let one = branch.write(10, post("lifts"));
        let two = other_branch.write(11, post("not lifts"));
        store.store_applied(&[genesis, one]).unwrap();
        let error = store.store_applied(std::slice::from_ref(&two)).unwrap_err();
        assert!(matches!(error, StoreError::Conflict { author, seq: 2 } if author == founder.id()), "{error:?}");
        assert_eq!(store.get(&two.hash()).unwrap(), None, "nothing of the refused batch is stored");
    }

    #[test]
    fn range_pages_by_count_and_by_bytes() {
        let dir = TempDir::new().unwrap();
        let store = open(&dir);
        let (mut founder, genesis) = founder();
        let mut log = vec![genesis];
        for i in 0..9 {
            log.push(founder.write(10 + i, post(&format!("post {i}"))));
        }
        store.store_applied(&log).unwrap();
        let bytes =
            |range: std::ops::Range<usize>| -> Vec<Vec<u8>> { log[range].iter().map(|e| e.bytes().to_vec()).collect() };
        let id = founder.id();

        assert_eq!(store.range(&id, 1, 3, usize::MAX).unwrap(), bytes(0..3));
        assert_eq!(store.range(&id, 4, 3, usize::MAX).unwrap(), bytes(3..6));
        assert_eq!(store.range(&id, 8, 100, usize::MAX).unwrap(), bytes(7..10));
        assert!(store.range(&id, 11, 100, usize::MAX).unwrap().is_empty());
        assert!(store.range(&id, 1, 0, usize::MAX).unwrap().is_empty());
        // Byte budget: exactly two entries fit; a budget below one entry still yields one.
        let two = log[1].bytes().len() + log[2].bytes().len();
        assert_eq!(store.range(&id, 2, 100, two).unwrap(), bytes(1..3));
        assert_eq!(store.range(&id, 2, 100, two - 1).unwrap(), bytes(1..2));
        assert_eq!(store.range(&id, 2, 100, 1).unwrap(), bytes(1..2));
        // Another author's log is another range.
        assert!(store.range(&Author::new(2, None).id(), 1, 100, usize::MAX).unwrap().is_empty());
    }

    #[test]
    fn posts_and_replies_have_views() {
        let dir = TempDir::new().unwrap();
        let store = open(&dir);
        let (mut founder, genesis) = founder();
        let mut neighbour = Author::new(2, founder.community);
        let older = founder.write(10, post("lifts"));
        let newer = founder.write(20, post("shopping"));
        let early_reply = founder.write(30, Body::Reply { post: older.hash(), text: "thanks".into() });
        let status = founder.write(50, Body::PostStatus { post: older.hash(), status: kith_protocol::Status::Done });
        let late_reply = neighbour.write(40, Body::Reply { post: older.hash(), text: "I can help".into() });
        // The later reply is stored first: replies are listed by their time, not by arrival.
        store.store_applied(&[genesis, older.clone(), newer.clone(), late_reply.clone()]).unwrap();
        store.store_applied(&[early_reply.clone(), status]).unwrap();

        let view = store.post(&older.hash()).unwrap().unwrap();
        assert_eq!(
            view,
            PostView {
                id: older.hash(),
                author: founder.id(),
                kind: PostKind::Offer,
                title: "lifts".into(),
                details: "details of lifts".into(),
                category: "lifts".into(),
                when: "Tuesdays".into(),
                place: "the surgery".into(),
                created_at_ms: 10,
                expires_at: None,
            }
        );
        let titles: Vec<String> = store.posts().unwrap().into_iter().map(|p| p.title).collect();
        assert_eq!(titles, ["shopping", "lifts"], "newest first");

        let replies = store.replies(&older.hash()).unwrap();
        assert_eq!(
            replies,
            vec![
                ReplyView {
                    id: early_reply.hash(),
                    post: older.hash(),
                    author: founder.id(),
                    text: "thanks".into(),
                    created_at_ms: 30
                },
                ReplyView {
                    id: late_reply.hash(),
                    post: older.hash(),
                    author: neighbour.id(),
                    text: "I can help".into(),
                    created_at_ms: 40
                },
            ],
            "oldest first"
        );
        assert!(store.replies(&newer.hash()).unwrap().is_empty());
    }

    #[test]
    fn the_latest_profile_counts() {
        let dir = TempDir::new().unwrap();
        let store = open(&dir);
        let (_, genesis) = founder();
        let mut ada = Author::new(3, Some(genesis.community()));
        let first = ada.write(10, profile("Ada"));
        let second = ada.write(20, profile("Ada L."));
        store.store_applied(&[genesis, first.clone()]).unwrap();
        assert_eq!(store.profile(&ada.id()).unwrap().unwrap().name, "Ada");
        store.store_applied(std::slice::from_ref(&second)).unwrap();
        assert_eq!(
            store.profile(&ada.id()).unwrap(),
            Some(ProfileView {
                member: ada.id(),
                entry: second.hash(),
                name: "Ada L.".into(),
                about: "retired teacher".into(),
                area: "north".into(),
                skills: vec!["knitting".into()],
                contact: "ask at the library".into(),
                updated_at_ms: 20,
            })
        );
        assert_eq!(store.profile(&Author::new(4, None).id()).unwrap(), None);
    }

    #[test]
    fn transfers_are_listed_for_both_sides_and_claims_are_marked() {
        let dir = TempDir::new().unwrap();
        let store = open(&dir);
        let (mut founder, genesis) = founder();
        let mut bea = Author::new(2, founder.community);
        let cal = Author::new(3, founder.community);
        let lift = founder.write(5, post("lifts"));
        let to_bea = founder.write(
            10,
            Body::Transfer { to: bea.id(), minutes: Minutes(90), memo: "lift".into(), for_post: Some(lift.hash()) },
        );
        let to_cal =
            bea.write(20, Body::Transfer { to: cal.id(), minutes: Minutes(30), memo: String::new(), for_post: None });
        let claim = bea.write(30, Body::Receive { transfer: to_bea.hash() });
        store.store_applied(&[genesis, lift.clone(), to_bea.clone(), to_cal.clone()]).unwrap();
        assert_eq!(store.transfer(&to_bea.hash()).unwrap().unwrap().claim, None);
        store.store_applied(std::slice::from_ref(&claim)).unwrap();

        let founder_side = store.transfers_of(&founder.id()).unwrap();
        assert_eq!(
            founder_side,
            vec![TransferView {
                id: to_bea.hash(),
                from: founder.id(),
                to: bea.id(),
                minutes: 90,
                memo: "lift".into(),
                for_post: Some(lift.hash()),
                created_at_ms: 10,
                claim: Some(claim.hash()),
            }]
        );
        let bea_side: Vec<EntryHash> = store.transfers_of(&bea.id()).unwrap().iter().map(|t| t.id).collect();
        assert_eq!(bea_side, [to_cal.hash(), to_bea.hash()], "newest first, paid and received");
        let cal_side = store.transfers_of(&cal.id()).unwrap();
        assert_eq!(cal_side.len(), 1);
        assert_eq!(cal_side[0].claim, None);
    }

    #[test]
    fn a_claim_stored_before_its_transfer_still_marks_it() {
        let dir = TempDir::new().unwrap();
        let store = open(&dir);
        let (mut founder, genesis) = founder();
        let mut bea = Author::new(2, founder.community);
        let transfer = founder
            .write(10, Body::Transfer { to: bea.id(), minutes: Minutes(60), memo: String::new(), for_post: None });
        let claim = bea.write(20, Body::Receive { transfer: transfer.hash() });
        store.store_applied(&[genesis, claim.clone()]).unwrap();
        store.store_applied(std::slice::from_ref(&transfer)).unwrap();
        assert_eq!(store.transfer(&transfer.hash()).unwrap().unwrap().claim, Some(claim.hash()));
    }

    #[test]
    fn redact_removes_the_post_reply_and_profile_rows() {
        let dir = TempDir::new().unwrap();
        let store = open(&dir);
        let (mut founder, genesis) = founder();
        let mut bea = Author::new(2, founder.community);
        let kept = founder.write(10, post("kept"));
        let dropped = founder.write(20, post("dropped"));
        let reply = bea.write(30, Body::Reply { post: kept.hash(), text: "oops, wrong number".into() });
        let other_reply = bea.write(31, Body::Reply { post: kept.hash(), text: "I can help".into() });
        let old_profile = bea.write(32, profile("Bea"));
        let new_profile = bea.write(33, profile("Beatrice"));
        store
            .store_applied(&[
                genesis,
                kept.clone(),
                dropped.clone(),
                reply.clone(),
                other_reply.clone(),
                old_profile.clone(),
                new_profile.clone(),
            ])
            .unwrap();

        // Redacting an older profile leaves the latest one.
        let redact_old = bea.write(40, Body::Redact { entry: old_profile.hash() });
        store.store_applied(&[redact_old]).unwrap();
        assert_eq!(store.profile(&bea.id()).unwrap().unwrap().name, "Beatrice");

        let redact_post = founder.write(50, Body::Redact { entry: dropped.hash() });
        let redact_reply = bea.write(51, Body::Redact { entry: reply.hash() });
        let redact_profile = bea.write(52, Body::Redact { entry: new_profile.hash() });
        store.store_applied(&[redact_post, redact_reply, redact_profile]).unwrap();
        assert_eq!(store.post(&dropped.hash()).unwrap(), None);
        let titles: Vec<String> = store.posts().unwrap().into_iter().map(|p| p.title).collect();
        assert_eq!(titles, ["kept"]);
        let replies: Vec<EntryHash> = store.replies(&kept.hash()).unwrap().iter().map(|r| r.id).collect();
        assert_eq!(replies, [other_reply.hash()]);
        assert_eq!(store.profile(&bea.id()).unwrap(), None);
        // The entries themselves stay: the chain must remain verifiable.
        assert!(store.get(&dropped.hash()).unwrap().is_some());
    }

    #[test]
    fn a_redaction_in_the_same_batch_as_its_target_removes_it() {
        let dir = TempDir::new().unwrap();
        let store = open(&dir);
        let (mut founder, genesis) = founder();
        let offer = founder.write(10, post("lifts"));
        let redact = founder.write(20, Body::Redact { entry: offer.hash() });
        store.store_applied(&[genesis, offer.clone(), redact]).unwrap();
        assert_eq!(store.post(&offer.hash()).unwrap(), None);
        assert!(store.posts().unwrap().is_empty());
    }

    #[test]
    fn pending_entries_are_kept_until_applied_or_removed() {
        let dir = TempDir::new().unwrap();
        let store = open(&dir);
        let (mut founder, genesis) = founder();
        let mut bea = Author::new(2, founder.community);
        let waiting = founder.write(10, post("lifts"));
        let other = bea.write(10, profile("Bea"));
        store.put_pending(&waiting).unwrap();
        store.put_pending(&other).unwrap();
        let mut pending: Vec<EntryHash> = store.pending().unwrap().iter().map(Entry::hash).collect();
        pending.sort();
        let mut expected = vec![waiting.hash(), other.hash()];
        expected.sort();
        assert_eq!(pending, expected);
        assert_eq!(store.pending().unwrap().iter().find(|e| e.hash() == other.hash()).unwrap().bytes(), other.bytes());

        store.remove_pending(&other.hash()).unwrap();
        assert_eq!(store.pending().unwrap().iter().map(Entry::hash).collect::<Vec<_>>(), [waiting.hash()]);
        store.store_applied(&[genesis, waiting]).unwrap();
        assert!(store.pending().unwrap().is_empty(), "applying takes an entry out of pending");
    }

    #[test]
    fn forks_and_frozen_entries_round_trip() {
        let dir = TempDir::new().unwrap();
        let store = open(&dir);
        let (founder, genesis) = founder();
        let mut branch = Author { seq: 1, prev: Some(genesis.hash()), ..Author::new(1, founder.community) };
        let mut other_branch = Author { seq: 1, prev: Some(genesis.hash()), ..Author::new(1, founder.community) };
        let one = branch.write(10, post("lifts"));
        let two = other_branch.write(11, post("not lifts"));
        let proof = ForkProof::new(&one, &two);
        assert!(store.forks().unwrap().is_empty());
        store.put_fork(&founder.id(), &proof).unwrap();
        assert_eq!(store.forks().unwrap(), vec![proof.clone()]);
        assert_eq!(store.forks().unwrap()[0].verify().unwrap().seq, 2);

        store.store_applied(&[genesis]).unwrap();
        store.put_pending(&two).unwrap();
        store.store_frozen(&one).unwrap();
        store.store_frozen(&two).unwrap();
        let mut frozen: Vec<EntryHash> = store.frozen_entries().unwrap().iter().map(Entry::hash).collect();
        frozen.sort();
        let mut expected = vec![one.hash(), two.hash()];
        expected.sort();
        assert_eq!(frozen, expected);
        assert_eq!(store.get(&two.hash()).unwrap().unwrap().bytes(), two.bytes());
        assert_eq!(store.entry_at(&founder.id(), 2).unwrap(), None, "frozen entries are not in the log");
        assert!(store.posts().unwrap().is_empty(), "nor in the views");
        assert!(store.pending().unwrap().is_empty());
        assert_eq!(store.entry_count(), 1);
    }

    #[test]
    fn clearing_applied_entries_keeps_genesis_frozen_and_pending() {
        let dir = TempDir::new().unwrap();
        let store = open(&dir);
        let (mut founder, genesis) = founder();
        let mut bea = Author::new(2, founder.community);
        let offer = founder.write(10, post("lifts"));
        let frozen = bea.write(10, profile("Bea"));
        let waiting = bea.write(20, post("waiting"));
        store.set_genesis(genesis.hash()).unwrap();
        store.store_applied(&[genesis.clone(), offer.clone()]).unwrap();
        store.store_frozen(&frozen).unwrap();
        store.put_pending(&waiting).unwrap();

        assert_eq!(store.clear_applied().unwrap(), 1);
        assert_eq!(store.entry_count(), 1);
        assert!(store.get(&genesis.hash()).unwrap().is_some());
        assert_eq!(store.get(&offer.hash()).unwrap(), None);
        assert!(store.posts().unwrap().is_empty());
        assert_eq!(store.frozen_entries().unwrap().len(), 1);
        assert_eq!(store.pending().unwrap().len(), 1);
        store.store_applied(&[genesis, offer.clone()]).unwrap();
        assert_eq!(store.posts().unwrap().len(), 1);
    }

    #[test]
    fn rebuilding_the_views_reproduces_them() {
        let dir = TempDir::new().unwrap();
        let store = open(&dir);
        let (mut founder, genesis) = founder();
        // Bea's key sorts before or after the founder's: the claim must land either way.
        let mut bea = Author::new(2, founder.community);
        let mut log = vec![genesis];
        log.push(founder.write(5, profile("Founder")));
        let lift = founder.write(10, post("lifts"));
        log.push(lift.clone());
        let gone = founder.write(11, post("gone"));
        log.push(gone.clone());
        log.push(founder.write(12, Body::Redact { entry: gone.hash() }));
        let transfer = founder
            .write(20, Body::Transfer { to: bea.id(), minutes: Minutes(45), memo: "thanks".into(), for_post: None });
        log.push(transfer.clone());
        log.push(bea.write(21, profile("Bea")));
        log.push(bea.write(22, Body::Reply { post: lift.hash(), text: "I'll come".into() }));
        log.push(bea.write(23, Body::Receive { transfer: transfer.hash() }));
        for i in 0..REBUILD_CHUNK as u64 {
            log.push(bea.write(30 + i, post(&format!("bea {i}"))));
        }
        store.store_applied(&log).unwrap();
        let members = [founder.id(), bea.id()];
        let before = all_views(&store, &members);
        assert!(store.transfer(&transfer.hash()).unwrap().unwrap().claim.is_some());

        assert_eq!(store.rebuild_views().unwrap(), log.len());
        assert_eq!(all_views(&store, &members), before);
        assert_eq!(store.post(&gone.hash()).unwrap(), None);
    }

    #[test]
    fn a_second_open_of_the_same_folder_is_refused_as_in_use() {
        let dir = TempDir::new().unwrap();
        let _first = open(&dir);
        let error = Store::open(dir.path(), CACHE).unwrap_err();
        assert!(matches!(&error, StoreError::InUse { path } if path == dir.path()), "{error:?}");
        let message = error.to_string();
        assert!(message.contains(&dir.path().display().to_string()), "{message}");
        assert!(message.contains("kith run"), "{message}");
    }

    #[test]
    fn entries_survive_closing_and_reopening() {
        let dir = TempDir::new().unwrap();
        let (mut founder, genesis) = founder();
        let offer = founder.write(10, post("lifts"));
        {
            let store = open(&dir);
            store.set_genesis(genesis.hash()).unwrap();
            store.store_applied(&[genesis.clone(), offer.clone()]).unwrap();
            store.meta_put("listen", b"/ip4/0.0.0.0/tcp/4001").unwrap();
            store.remember_peer("12D3KooWpeer", &["/ip4/10.0.0.2/tcp/4001".to_string()]).unwrap();
            store.flush().unwrap();
        }
        let store = reopen(dir.path());
        assert_eq!(store.genesis().unwrap(), Some(genesis.hash()));
        assert_eq!(store.get(&offer.hash()).unwrap().unwrap().bytes(), offer.bytes());
        assert_eq!(store.post(&offer.hash()).unwrap().unwrap().title, "lifts");
        assert_eq!(store.meta_get("listen").unwrap().as_deref(), Some(&b"/ip4/0.0.0.0/tcp/4001"[..]));
        assert_eq!(store.known_peers().unwrap().len(), 1);
        assert_eq!(store.entry_count(), 2);
    }

    #[test]
    fn a_store_of_another_layout_is_refused() {
        let dir = TempDir::new().unwrap();
        {
            let store = open(&dir);
            store.meta_put(META_SCHEMA, &[SCHEMA_VERSION + 1]).unwrap();
            store.flush().unwrap();
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        let error = loop {
            match Store::open(dir.path(), CACHE) {
                Err(StoreError::InUse { .. }) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20))
                }
                other => break other.unwrap_err(),
            }
        };
        assert!(matches!(error, StoreError::Corrupt { .. }), "{error:?}");
        assert!(error.to_string().contains("layout"), "{error}");
    }

    #[test]
    fn a_file_where_the_folder_should_be_is_reported() {
        let dir = TempDir::new().unwrap();
        let path = dir.path().join("store");
        std::fs::write(&path, b"not a database").unwrap();
        let error = Store::open(&path, CACHE).unwrap_err();
        assert!(matches!(&error, StoreError::Corrupt { path: p, .. } if *p == path), "{error:?}");
        assert!(error.to_string().contains(&path.display().to_string()), "{error}");
    }

    #[test]
    fn garbage_database_files_are_reported_not_panicked_on() {
        let dir = TempDir::new().unwrap();
        let garbage: Vec<u8> = (0..64 * 1024u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
        std::fs::write(dir.path().join("db"), &garbage).unwrap();
        std::fs::write(dir.path().join("conf"), &garbage[..100]).unwrap();
        match Store::open(dir.path(), CACHE) {
            Err(error @ StoreError::Corrupt { .. }) => {
                assert!(error.to_string().contains(&dir.path().display().to_string()), "{error}")
            }
            other => panic!("expected Corrupt, got {other:?}"),
        }
    }

    #[test]
    fn a_damaged_data_file_is_reported_not_panicked_on() {
        let dir = TempDir::new().unwrap();
        {
            let store = open(&dir);
            let (mut founder, genesis) = founder();
            let offer = founder.write(10, post("lifts"));
            store.store_applied(&[genesis, offer]).unwrap();
            store.flush().unwrap();
        }
        // Wait until sled has let go of the folder, then damage its data file.
        drop(reopen(dir.path()));
        let data = dir.path().join("db");
        let mut bytes = std::fs::read(&data).unwrap();
        for (i, byte) in bytes.iter_mut().enumerate() {
            *byte ^= (i as u8).wrapping_mul(31) | 1;
        }
        std::fs::write(&data, &bytes).unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        let outcome = loop {
            match Store::open(dir.path(), CACHE) {
                Err(StoreError::InUse { .. }) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20))
                }
                other => break other,
            }
        };
        match outcome {
            Err(error @ StoreError::Corrupt { .. }) => {
                assert!(error.to_string().contains(&dir.path().display().to_string()), "{error}")
            }
            other => panic!("expected Corrupt, got {other:?}"),
        }
    }

    #[test]
    fn peers_are_remembered_with_bounded_addresses() {
        let dir = TempDir::new().unwrap();
        let store = open(&dir);
        let addrs: Vec<String> = (0..20).map(|i| format!("/ip4/10.0.0.{i}/tcp/4001")).collect();
        store.remember_peer("peer-a", &addrs[..2]).unwrap();
        store.remember_peer("peer-b", &addrs[..1]).unwrap();
        store.remember_peer("peer-a", &addrs[1..3]).unwrap();
        let peers = store.known_peers().unwrap();
        assert_eq!(peers[0], ("peer-a".to_string(), vec![addrs[1].clone(), addrs[2].clone(), addrs[0].clone()]));
        assert_eq!(peers[1], ("peer-b".to_string(), vec![addrs[0].clone()]));

        store.remember_peer("peer-a", &addrs).unwrap();
        assert_eq!(store.known_peers().unwrap()[0].1, addrs[..MAX_ADDRS_PER_PEER].to_vec());
        store.remember_peer("peer-c", &["x".repeat(MAX_PEER_TEXT_BYTES + 1)]).unwrap();
        assert_eq!(store.known_peers().unwrap()[0], ("peer-c".to_string(), vec![]));
        store.remember_peer(&"p".repeat(MAX_PEER_TEXT_BYTES + 1), &addrs[..1]).unwrap();
        assert_eq!(store.known_peers().unwrap().len(), 3);

        store.forget_peer("peer-b").unwrap();
        let ids: Vec<String> = store.known_peers().unwrap().into_iter().map(|(id, _)| id).collect();
        assert_eq!(ids, ["peer-c", "peer-a"]);
    }

    #[test]
    fn at_most_max_peers_are_remembered() {
        let dir = TempDir::new().unwrap();
        let store = open(&dir);
        for i in 0..=MAX_PEERS {
            store.remember_peer(&format!("peer-{i}"), &[]).unwrap();
        }
        let peers = store.known_peers().unwrap();
        assert_eq!(peers.len(), MAX_PEERS);
        assert_eq!(peers[0].0, format!("peer-{MAX_PEERS}"));
        assert!(!peers.iter().any(|(id, _)| id == "peer-0"), "the stalest is forgotten");
    }

    #[test]
    fn store_is_debug_without_its_contents() {
        let dir = TempDir::new().unwrap();
        let store = open(&dir);
        assert!(format!("{store:?}").starts_with("Store { path:"));
    }
}
