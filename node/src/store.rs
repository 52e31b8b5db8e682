//! The node's sled database — the only code that names sled: the community's entries (exact
//! bytes, by hash and by author and seq), pending and frozen entries, fork proofs, the indexes
//! the views are read through (posts, replies, profiles, transfers) and the node's bookkeeping
//! (meta, known peers).
//!
//! Trees (a fixed set, see [`Store::open`]):
//! - `community`: everything an entry writes, in key ranges told apart by their first byte, so
//!   that an entry, its place in its log and its view rows are written by one atomic
//!   [`sled::Batch`] on one tree (a multi-tree transaction reads every key it writes, and
//!   costs twice as much):
//!   - `a` ‖ applied id (u64 big-endian) → entry hash ‖ the entry's exact wire bytes, for
//!     applied entries, in the order they were applied (ids from [`sled::Db::generate_id`]:
//!     increasing, with gaps). Storing appends at the end of this range (keyed by hash, the
//!     bytes would land on random pages, and sled would read back and rewrite a page per entry
//!     once the store outgrows its cache), and the start-up replay reads it in an order where
//!     nothing waits for an entry not yet read;
//!   - `l` ‖ author (32 B) ‖ seq (u64 big-endian) → applied id: an author's log is one prefix
//!     scan in seq order, and its head is the prefix's last key;
//!   - no row by hash: an entry's hash is found through [`HashIndex`], kept in memory (a
//!     row keyed by hash lands on a random page of the tree; writing one per entry cost a
//!     quarter of the time sled spent storing, see BENCHMARKS.md);
//!   - `f` ‖ entry hash → wire bytes of entries of frozen logs (kept as fork evidence);
//!   - `w` ‖ entry hash → wire bytes of entries waiting for something;
//!   - the view indexes, which hold keys only (the texts are read from the entry they name, so
//!     nothing is stored twice) and can all be rebuilt from the entries
//!     ([`Store::rebuild_views`]): `t` ‖ created ms ‖ post hash (visible posts, by time),
//!     `r` ‖ post ‖ created ms ‖ reply hash (replies), `p` ‖ member → the hash of their latest
//!     `Profile`, `m` ‖ member ‖ created ms ‖ transfer hash (once for the payer and once for
//!     the payee) and `c` ‖ transfer hash → the hash of the `Receive` that claimed it;
//! - `forks`: author → postcard([`ForkProof`]);
//! - `meta`: text key → bytes (the genesis hash under `genesis`, the store's schema under
//!   `schema`, and whatever the node keeps there);
//! - `peers`: libp2p peer id (text) → postcard(when last seen, addresses).
//!
//! Statuses, reply counts, balances and membership live in the in-memory
//! [`kith_protocol::Community`]; the texts stay in the stored entries, out of memory.
//!
//! Durability: writes reach the disk through sled's flusher about once a second. Entries from
//! peers may be left to it (they can be fetched again), but **an entry the local user publishes
//! must be followed by [`Store::flush`] before the node answers or gossips it**.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock};

use kith_protocol::{Body, Entry, EntryHash, ForkProof, MemberId, PostKind};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// Version of the layout of the trees and values below. Stored under `meta/schema`; a store
/// written with another layout is refused rather than misread, except layout 1 (one tree per
/// index, views holding copies of the texts) and layout 2 (a `h` ‖ hash row per entry), which
/// [`Store::open`] converts.
pub const SCHEMA_VERSION: u8 = 3;
/// A home node's sled cache. sled's own default (1 GiB) is far too much for a Raspberry Pi;
/// real memory use is a multiple of this figure.
pub const DEFAULT_CACHE_BYTES: u64 = 8 * 1024 * 1024;
/// Most addresses remembered for one peer (the newest are kept).
pub const MAX_ADDRS_PER_PEER: usize = 16;
/// Most peers remembered (the one seen longest ago is forgotten first).
pub const MAX_PEERS: usize = 1000;
/// Longest peer id or address remembered, in bytes; longer ones are ignored.
pub const MAX_PEER_TEXT_BYTES: usize = 256;
/// Entries per batch when rebuilding the views.
const REBUILD_CHUNK: usize = 256;

const META_GENESIS: &str = "genesis";
const META_SCHEMA: &str = "schema";

/// The first byte of each key range of the `community` tree.
mod range {
    pub const APPLIED: u8 = b'a';
    /// Layout 2's hash → applied id rows, removed when such a store is opened.
    pub const LAYOUT_2_HASH: u8 = b'h';
    pub const LOG: u8 = b'l';
    pub const FROZEN: u8 = b'f';
    pub const PENDING: u8 = b'w';
    pub const POST_BY_TIME: u8 = b't';
    pub const REPLY: u8 = b'r';
    pub const PROFILE: u8 = b'p';
    pub const TRANSFER_BY_MEMBER: u8 = b'm';
    pub const CLAIM: u8 = b'c';
    /// Every view index: what [`super::Store::rebuild_views`] drops and writes again.
    pub const VIEWS: [u8; 5] = [POST_BY_TIME, REPLY, PROFILE, TRANSFER_BY_MEMBER, CLAIM];
}

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
    /// Applied entries by hash: filled from the `a` range at open, kept in step by every write.
    hashes: Arc<RwLock<HashIndex>>,
    community: sled::Tree,
    forks: sled::Tree,
    meta: sled::Tree,
    peers: sled::Tree,
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // sled's own Debug of a tree prints its contents.
        f.debug_struct("Store").field("path", &self.path).finish_non_exhaustive()
    }
}

impl Store {
    /// Opens (creating) the database in `dir`, with a cache of `cache_bytes` (see
    /// [`DEFAULT_CACHE_BYTES`]), `Mode::LowSpace` and a background flush every second. A store
    /// of layout 1 is converted to this layout first.
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
        let store = Store {
            community: tree("community")?,
            forks: tree("forks")?,
            meta: tree("meta")?,
            peers: tree("peers")?,
            db: db.clone(),
            path: path.clone(),
            hashes: Arc::default(),
        };
        match store.meta_get(META_SCHEMA).map_err(|e| corrupt(e.to_string()))? {
            None => store.meta_put(META_SCHEMA, &[SCHEMA_VERSION])?,
            Some(version) if version == [SCHEMA_VERSION] => {}
            Some(version) if version == [1] => {
                store.convert_from_layout_1().map_err(|e| corrupt(format!("converting from layout 1: {e}")))?;
            }
            Some(version) if version == [2] => {
                store.convert_from_layout_2().map_err(|e| corrupt(format!("converting from layout 2: {e}")))?;
            }
            Some(version) => {
                return Err(corrupt(format!(
                    "it was written in store layout {version:?}, and this kith reads layout {SCHEMA_VERSION}"
                )));
            }
        }
        store.index_hashes().map_err(|e| corrupt(format!("reading the applied entries: {e}")))?;
        Ok(store)
    }

    /// Fills the in-memory hash index from the `a` range (each row starts with its entry's
    /// hash). Reads every entry once; the replica's start-up replay reads them again, from
    /// sled's cache for the most part.
    fn index_hashes(&self) -> Result<(), StoreError> {
        let mut index = HashIndex::default();
        for item in self.community.scan_prefix([range::APPLIED]) {
            let (key, row) = item?;
            index.insert(log_row_hash(&row)?, applied_id_of(&key)?);
        }
        *self.hashes.write().unwrap_or_else(PoisonError::into_inner) = index;
        Ok(())
    }
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

    /// Stores applied entries, their places in their logs and their view rows in one atomic
    /// batch, and takes them out of `pending`. Give them in the order they were applied (each
    /// author's log in seq order), as [`kith_protocol::Report::applied`] lists them.
    /// Idempotent: an entry already stored at its place is skipped. A *different* entry already
    /// stored at the same author and seq fails the whole call with [`StoreError::Conflict`],
    /// and nothing of it is written. Signatures and rules are the caller's business: this
    /// stores what it is given.
    pub fn store_applied(&self, entries: &[Entry]) -> Result<(), StoreError> {
        if entries.is_empty() {
            return Ok(());
        }
        let in_call: HashMap<EntryHash, &Entry> = entries.iter().map(|e| (e.hash(), e)).collect();
        let mut plan = BatchPlan::default();
        let mut placed: HashMap<[u8; 41], EntryHash> = HashMap::new();
        // Removing a key costs a walk down the tree even when it is absent: skip it when
        // nothing waits (the replica is this store's only writer).
        let any_pending = self.community.scan_prefix([range::PENDING]).next().is_some();
        let mut indexed = Vec::with_capacity(entries.len());
        for entry in entries {
            let hash = entry.hash();
            let place = log_key(&entry.author(), entry.seq());
            let stored = match placed.get(&place) {
                Some(hash) => Some(*hash),
                None => match self.community.get(place)? {
                    Some(id) => Some(log_row_hash(&self.applied_row(&id)?)?),
                    None => None,
                },
            };
            match stored {
                Some(stored) if stored == hash => continue,
                Some(_) => return Err(StoreError::Conflict { author: entry.author(), seq: entry.seq() }),
                None => {}
            }
            placed.insert(place, hash);
            if any_pending {
                plan.writes.remove(&hash_key(range::PENDING, &hash)[..]);
            }
            let applied_id = self.db.generate_id()?;
            let id = applied_id.to_be_bytes();
            indexed.push((hash, applied_id));
            let mut row = Vec::with_capacity(32 + entry.bytes().len());
            row.extend_from_slice(&hash.0);
            row.extend_from_slice(entry.bytes());
            plan.writes.insert(&applied_key(&id)[..], row);
            plan.writes.insert(&place[..], &id[..]);
            self.plan_views(entry, &in_call, &mut plan)?;
        }
        self.community.apply_batch(plan.writes)?;
        let mut index = self.hashes.write().unwrap_or_else(PoisonError::into_inner);
        for (hash, id) in indexed {
            index.insert(hash, id);
        }
        Ok(())
    }

    /// Stores an entry of a frozen log (fork evidence): among the frozen entries, not in the
    /// log nor the views. Takes it out of `pending`.
    pub fn store_frozen(&self, entry: &Entry) -> Result<(), StoreError> {
        let hash = entry.hash();
        let mut writes = sled::Batch::default();
        writes.insert(&hash_key(range::FROZEN, &hash)[..], entry.bytes());
        writes.remove(&hash_key(range::PENDING, &hash)[..]);
        self.community.apply_batch(writes)?;
        Ok(())
    }

    /// Keeps an entry that waits for something (its signature already checked).
    pub fn put_pending(&self, entry: &Entry) -> Result<(), StoreError> {
        self.community.insert(hash_key(range::PENDING, &entry.hash()), entry.bytes())?;
        Ok(())
    }

    pub fn remove_pending(&self, hash: &EntryHash) -> Result<(), StoreError> {
        self.community.remove(hash_key(range::PENDING, hash))?;
        Ok(())
    }

    /// Every waiting entry, in hash order.
    pub fn pending(&self) -> Result<Vec<Entry>, StoreError> {
        self.community.scan_prefix([range::PENDING]).values().map(|bytes| decode_entry(&bytes?)).collect()
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
        match self.applied(hash)? {
            Some(entry) => Ok(Some(entry)),
            None => self.community.get(hash_key(range::FROZEN, hash))?.map(|bytes| decode_entry(&bytes)).transpose(),
        }
    }

    /// The applied entry at `seq` of `author`'s log.
    pub fn entry_at(&self, author: &MemberId, seq: u64) -> Result<Option<Entry>, StoreError> {
        match self.community.get(log_key(author, seq))? {
            Some(id) => decode_entry(log_row_bytes(&self.applied_row(&id)?)?).map(Some),
            None => Ok(None),
        }
    }

    /// The last applied entry of `author`'s log: its seq and hash.
    pub fn head(&self, author: &MemberId) -> Result<Option<(u64, EntryHash)>, StoreError> {
        match self.community.scan_prefix(member_key(range::LOG, author)).next_back() {
            Some(item) => {
                let (key, id) = item?;
                Ok(Some((seq_from_log_key(&key)?, log_row_hash(&self.applied_row(&id)?)?)))
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
        for item in self.community.range(log_key(author, from_seq)..=log_key(author, u64::MAX)) {
            if out.len() >= limit {
                break;
            }
            let (_, id) = item?;
            let row = self.applied_row(&id)?;
            let bytes = log_row_bytes(&row)?;
            if !out.is_empty() && total.saturating_add(bytes.len()) > max_bytes {
                break;
            }
            total = total.saturating_add(bytes.len());
            out.push(bytes.to_vec());
        }
        Ok(out)
    }

    /// Up to `limit` applied entries (and about `max_bytes`) after position `after`, in the order
    /// they were applied, with the position of the last one (`after` if none): a catch-up in
    /// this order never has an entry wait for another.
    pub fn applied_since(&self, after: u64, limit: usize, max_bytes: usize) -> Result<(Vec<Vec<u8>>, u64), StoreError> {
        let mut out = Vec::new();
        let mut total = 0usize;
        let mut last = after;
        let start = applied_key(&after.saturating_add(1).to_be_bytes());
        let end = applied_key(&u64::MAX.to_be_bytes());
        for item in self.community.range(start..=end) {
            if out.len() >= limit {
                break;
            }
            let (key, row) = item?;
            let bytes = log_row_bytes(&row)?;
            if !out.is_empty() && total.saturating_add(bytes.len()) > max_bytes {
                break;
            }
            last = applied_id_of(&key)?;
            total = total.saturating_add(bytes.len());
            out.push(bytes.to_vec());
        }
        Ok((out, last))
    }

    /// Every applied entry in the order they were applied — for rebuilding the in-memory state
    /// at start: read in this order, no entry waits for one not yet read.
    pub fn applied_entries(&self) -> impl Iterator<Item = Result<Entry, StoreError>> + '_ {
        self.community.scan_prefix([range::APPLIED]).values().map(|row| decode_entry(log_row_bytes(&row?)?))
    }

    /// Every entry kept as fork evidence, in hash order.
    pub fn frozen_entries(&self) -> Result<Vec<Entry>, StoreError> {
        self.community.scan_prefix([range::FROZEN]).values().map(|bytes| decode_entry(&bytes?)).collect()
    }

    /// How many applied entries are stored.
    pub fn entry_count(&self) -> usize {
        self.hashes.read().unwrap_or_else(PoisonError::into_inner).len()
    }

    /// Drops every view index and writes them again from the stored log (`kith repair`).
    /// Returns how many entries were replayed. Not atomic as a whole: if it is interrupted, run
    /// it again.
    pub fn rebuild_views(&self) -> Result<usize, StoreError> {
        self.clear_views()?;
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
        self.clear_views()?;
        let mut writes = sled::Batch::default();
        let mut dropped = 0;
        for item in self.community.scan_prefix([range::LOG]) {
            let (place, id) = item?;
            let hash = log_row_hash(&self.applied_row(&id)?)?;
            if genesis == Some(hash) {
                continue;
            }
            writes.remove(place);
            writes.remove(&applied_key(&id)[..]);
            dropped += 1;
        }
        self.community.apply_batch(writes)?;
        self.index_hashes()?;
        Ok(dropped)
    }

    // --- views: read through the indexes, texts decoded from the entries ---

    /// A visible post's texts (not redacted, not of a frozen log).
    pub fn post(&self, hash: &EntryHash) -> Result<Option<PostView>, StoreError> {
        let Some(entry) = self.applied(hash)? else { return Ok(None) };
        if !self.community.contains_key(time_key(range::POST_BY_TIME, None, entry.timestamp_ms(), hash))? {
            return Ok(None);
        }
        Ok(post_view(&entry))
    }

    /// Every post's texts, newest first (by the time its author gave it).
    pub fn posts(&self) -> Result<Vec<PostView>, StoreError> {
        let mut out = Vec::new();
        for key in self.community.scan_prefix([range::POST_BY_TIME]).keys().rev() {
            let key = key?;
            let hash = hash_from("post index key", key.get(9..).unwrap_or_default())?;
            match self.applied(&hash)?.as_ref().and_then(post_view) {
                Some(post) => out.push(post),
                None => tracing::warn!(post = %hash, "post index names a missing post; `kith repair` rebuilds it"),
            }
        }
        Ok(out)
    }

    /// The replies to a post, oldest first.
    pub fn replies(&self, post: &EntryHash) -> Result<Vec<ReplyView>, StoreError> {
        let mut out = Vec::new();
        for key in self.community.scan_prefix(hash_key(range::REPLY, post)).keys() {
            let key = key?;
            let hash = hash_from("reply index key", key.get(41..).unwrap_or_default())?;
            match self.applied(&hash)?.as_ref().and_then(reply_view) {
                Some(reply) => out.push(reply),
                None => tracing::warn!(reply = %hash, "reply index names a missing reply; `kith repair` rebuilds it"),
            }
        }
        Ok(out)
    }

    /// A member's latest profile, unless its author redacted it.
    pub fn profile(&self, member: &MemberId) -> Result<Option<ProfileView>, StoreError> {
        let Some(hash) = self.community.get(member_key(range::PROFILE, member))? else { return Ok(None) };
        let hash = hash_from("profile index value", &hash)?;
        Ok(self.applied(&hash)?.as_ref().and_then(profile_view))
    }

    /// An applied transfer, with its claim if the payee's `Receive` is stored.
    pub fn transfer(&self, hash: &EntryHash) -> Result<Option<TransferView>, StoreError> {
        let Some(entry) = self.applied(hash)? else { return Ok(None) };
        let claim = match self.community.get(hash_key(range::CLAIM, hash))? {
            Some(receive) => Some(hash_from("claim", &receive)?),
            None => None,
        };
        Ok(transfer_view(&entry, claim))
    }

    /// The transfers a member paid or received, newest first.
    pub fn transfers_of(&self, member: &MemberId) -> Result<Vec<TransferView>, StoreError> {
        let mut out = Vec::new();
        for key in self.community.scan_prefix(member_key(range::TRANSFER_BY_MEMBER, member)).keys().rev() {
            let key = key?;
            let hash = hash_from("transfer index key", key.get(41..).unwrap_or_default())?;
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

    /// An applied entry by its hash.
    fn applied(&self, hash: &EntryHash) -> Result<Option<Entry>, StoreError> {
        let candidate = self.hashes.read().unwrap_or_else(PoisonError::into_inner).candidate(hash);
        let Some(id) = candidate else { return Ok(None) };
        let row = self.applied_row(&id.to_be_bytes())?;
        // The index may name an entry whose hash only starts like this one.
        if log_row_hash(&row)? != *hash {
            return Ok(None);
        }
        decode_entry(log_row_bytes(&row)?).map(Some)
    }

    /// The `a` row (hash ‖ entry bytes) an applied id names.
    fn applied_row(&self, id: &[u8]) -> Result<sled::IVec, StoreError> {
        self.community
            .get(applied_key(id))?
            .ok_or_else(|| StoreError::Decode(format!("applied entry {} is indexed but not stored", hex::encode(id))))
    }

    /// Removes every view index row.
    fn clear_views(&self) -> Result<(), StoreError> {
        self.remove_ranges(&range::VIEWS)
    }

    /// Removes every row of the `community` key ranges starting with these bytes, in one batch.
    fn remove_ranges(&self, firsts: &[u8]) -> Result<(), StoreError> {
        let mut writes = sled::Batch::default();
        for first in firsts {
            for key in self.community.scan_prefix([*first]).keys() {
                writes.remove(key?);
            }
        }
        self.community.apply_batch(writes)?;
        Ok(())
    }

    /// Writes the view rows of entries already stored (for [`Store::rebuild_views`]).
    fn replay_views(&self, chunk: &[Entry]) -> Result<usize, StoreError> {
        if chunk.is_empty() {
            return Ok(0);
        }
        let in_call: HashMap<EntryHash, &Entry> = chunk.iter().map(|e| (e.hash(), e)).collect();
        let mut plan = BatchPlan::default();
        for entry in chunk {
            self.plan_views(entry, &in_call, &mut plan)?;
        }
        self.community.apply_batch(plan.writes)?;
        Ok(chunk.len())
    }

    /// Adds to `plan` what an entry changes in the view indexes. A `Redact`'s target is looked
    /// up in `in_call` first, then in the store (entries never change).
    fn plan_views(
        &self,
        entry: &Entry,
        in_call: &HashMap<EntryHash, &Entry>,
        plan: &mut BatchPlan,
    ) -> Result<(), StoreError> {
        let hash = entry.hash();
        let author = entry.author();
        let at = entry.timestamp_ms();
        let none: &[u8] = &[];
        match entry.body() {
            Body::Post { .. } => plan.writes.insert(time_key(range::POST_BY_TIME, None, at, &hash), none),
            Body::Reply { post, .. } => plan.writes.insert(time_key(range::REPLY, Some(&post.0), at, &hash), none),
            Body::Profile { .. } => {
                plan.writes.insert(&member_key(range::PROFILE, &author)[..], &hash.0[..]);
                plan.profiles.insert(author, Some(hash));
            }
            Body::Transfer { to, .. } => {
                plan.writes.insert(time_key(range::TRANSFER_BY_MEMBER, Some(&author.0), at, &hash), none);
                plan.writes.insert(time_key(range::TRANSFER_BY_MEMBER, Some(&to.0), at, &hash), none);
            }
            Body::Receive { transfer } => plan.writes.insert(&hash_key(range::CLAIM, transfer)[..], &hash.0[..]),
            Body::Redact { entry: target } => {
                let found = match in_call.get(target) {
                    Some(found) => Some((*found).clone()),
                    None => self.get(target)?,
                };
                match found {
                    // Only an author's own entries can be redacted (the reducer checked it).
                    Some(found) if found.author() == author => self.plan_redaction(&found, plan)?,
                    Some(_) => {}
                    None => tracing::warn!(entry = %target, "redacted entry is not stored; no view to remove"),
                }
            }
            Body::Genesis { .. }
            | Body::Vouch { .. }
            | Body::PostStatus { .. }
            | Body::Suspend { .. }
            | Body::Appoint { .. }
            | Body::RevokeInvite { .. }
            | Body::InviteUsed { .. } => {}
        }
        Ok(())
    }

    /// Adds to `plan` the removal of a redacted entry's view row. A profile row goes only if
    /// it still names this entry (a later profile replaced it otherwise).
    fn plan_redaction(&self, target: &Entry, plan: &mut BatchPlan) -> Result<(), StoreError> {
        let hash = target.hash();
        let at = target.timestamp_ms();
        match target.body() {
            Body::Post { .. } => plan.writes.remove(time_key(range::POST_BY_TIME, None, at, &hash)),
            Body::Reply { post, .. } => plan.writes.remove(time_key(range::REPLY, Some(&post.0), at, &hash)),
            Body::Profile { .. } => {
                let member = target.author();
                let current = match plan.profiles.get(&member) {
                    Some(current) => *current,
                    None => match self.community.get(member_key(range::PROFILE, &member))? {
                        Some(value) => Some(hash_from("profile index value", &value)?),
                        None => None,
                    },
                };
                if current == Some(hash) {
                    plan.writes.remove(&member_key(range::PROFILE, &member)[..]);
                    plan.profiles.insert(member, None);
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// Converts a store of layout 1 (a tree per index, views holding copies of the texts):
    /// moves the entries, log, frozen marks and pending entries into the `community` tree,
    /// writes the view indexes and drops the old trees. Run again if interrupted: the schema
    /// changes last.
    fn convert_from_layout_1(&self) -> Result<(), StoreError> {
        const OLD_TREES: [&str; 11] = [
            "entries",
            "log",
            "frozen",
            "pending",
            "posts",
            "posts_by_time",
            "replies",
            "profiles",
            "transfers",
            "transfers_by_member",
            "claims",
        ];
        let entries = self.db.open_tree("entries")?;
        let stored = |hash: &[u8]| -> Result<sled::IVec, StoreError> {
            entries.get(hash)?.ok_or_else(|| StoreError::Decode(format!("entry {} is missing", hex::encode(hash))))
        };
        // Layout 1 kept no order of application; time, then each log's order, comes close
        // (a log's timestamps never decrease), so the first replay keeps few entries waiting.
        let mut applied = Vec::new();
        for item in self.db.open_tree("log")?.iter() {
            let (_, hash) = item?;
            let entry = decode_entry(&stored(&hash)?)?;
            applied.push((entry.timestamp_ms(), entry.author(), entry.seq(), entry.hash()));
        }
        applied.sort_unstable();
        for chunk in applied.chunks(REBUILD_CHUNK) {
            let mut entries = Vec::with_capacity(chunk.len());
            for (_, _, _, hash) in chunk {
                entries.push(decode_entry(&stored(&hash.0)?)?);
            }
            self.store_applied(&entries)?;
        }
        for item in self.db.open_tree("frozen")?.iter() {
            let (hash, _) = item?;
            let hash = hash_from("frozen key", &hash)?;
            self.community.insert(hash_key(range::FROZEN, &hash), stored(&hash.0)?)?;
        }
        for item in self.db.open_tree("pending")?.iter() {
            let (hash, bytes) = item?;
            self.community.insert(hash_key(range::PENDING, &hash_from("pending key", &hash)?), bytes)?;
        }
        for name in OLD_TREES {
            self.db.drop_tree(name)?;
        }
        self.meta_put(META_SCHEMA, &[SCHEMA_VERSION])?;
        self.flush()
    }

    /// Converts a store of layout 2: drops its hash rows (the index is in memory now). Run
    /// again if interrupted: the schema changes last.
    fn convert_from_layout_2(&self) -> Result<(), StoreError> {
        self.remove_ranges(&[range::LAYOUT_2_HASH])?;
        self.meta_put(META_SCHEMA, &[SCHEMA_VERSION])?;
        self.flush()
    }
}

/// Applied entries by hash, in memory: the first 8 bytes of a hash → its applied id, and the
/// whole hash for the rare entry whose first 8 bytes another one already has. ~17 bytes an
/// entry (a whole-hash map would take ~41). A lookup reads the row and checks its hash.
#[derive(Debug, Default)]
struct HashIndex {
    by_prefix: HashMap<u64, u64>,
    collided: HashMap<EntryHash, u64>,
}

impl HashIndex {
    fn prefix(hash: &EntryHash) -> u64 {
        let mut first = [0u8; 8];
        first.copy_from_slice(&hash.0[..8]);
        u64::from_le_bytes(first)
    }

    /// Records an entry not yet in the index (the store never applies a hash twice).
    fn insert(&mut self, hash: EntryHash, id: u64) {
        match self.by_prefix.entry(Self::prefix(&hash)) {
            std::collections::hash_map::Entry::Vacant(slot) => {
                slot.insert(id);
            }
            std::collections::hash_map::Entry::Occupied(_) => {
                self.collided.insert(hash, id);
            }
        }
    }

    /// The applied id of the entry that may be `hash`.
    fn candidate(&self, hash: &EntryHash) -> Option<u64> {
        self.collided.get(hash).or_else(|| self.by_prefix.get(&Self::prefix(hash))).copied()
    }

    fn len(&self) -> usize {
        self.by_prefix.len() + self.collided.len()
    }
}

/// The writes of one batch, and the profile rows it has set or removed so far (so that a
/// redaction sees a profile stored earlier in the same batch).
#[derive(Default)]
struct BatchPlan {
    writes: sled::Batch,
    profiles: HashMap<MemberId, Option<EntryHash>>,
}

fn post_view(entry: &Entry) -> Option<PostView> {
    let Body::Post { kind, title, details, category, when, place, expires_at } = entry.body() else { return None };
    Some(PostView {
        id: entry.hash(),
        author: entry.author(),
        kind: *kind,
        title: title.clone(),
        details: details.clone(),
        category: category.clone(),
        when: when.clone(),
        place: place.clone(),
        created_at_ms: entry.timestamp_ms(),
        expires_at: *expires_at,
    })
}

fn reply_view(entry: &Entry) -> Option<ReplyView> {
    let Body::Reply { post, text } = entry.body() else { return None };
    Some(ReplyView {
        id: entry.hash(),
        post: *post,
        author: entry.author(),
        text: text.clone(),
        created_at_ms: entry.timestamp_ms(),
    })
}

fn profile_view(entry: &Entry) -> Option<ProfileView> {
    let Body::Profile { name, about, area, skills, contact } = entry.body() else { return None };
    Some(ProfileView {
        member: entry.author(),
        entry: entry.hash(),
        name: name.clone(),
        about: about.clone(),
        area: area.clone(),
        skills: skills.clone(),
        contact: contact.clone(),
        updated_at_ms: entry.timestamp_ms(),
    })
}

fn transfer_view(entry: &Entry, claim: Option<EntryHash>) -> Option<TransferView> {
    let Body::Transfer { to, minutes, memo, for_post } = entry.body() else { return None };
    Some(TransferView {
        id: entry.hash(),
        from: entry.author(),
        to: *to,
        minutes: minutes.0,
        memo: memo.clone(),
        for_post: *for_post,
        created_at_ms: entry.timestamp_ms(),
        claim,
    })
}

/// `first` ‖ hash (32 B).
fn hash_key(first: u8, hash: &EntryHash) -> [u8; 33] {
    member_or_hash_key(first, &hash.0)
}

/// `first` ‖ member id (32 B).
fn member_key(first: u8, member: &MemberId) -> [u8; 33] {
    member_or_hash_key(first, &member.0)
}

fn member_or_hash_key(first: u8, id: &[u8; 32]) -> [u8; 33] {
    let mut key = [0u8; 33];
    key[0] = first;
    key[1..].copy_from_slice(id);
    key
}

/// `a` ‖ applied id (8 B, big-endian).
fn applied_key(id: &[u8]) -> Vec<u8> {
    let mut key = Vec::with_capacity(9);
    key.push(range::APPLIED);
    key.extend_from_slice(id);
    key
}

/// The applied id in an `a` key.
fn applied_id_of(key: &[u8]) -> Result<u64, StoreError> {
    key.get(1..9)
        .and_then(|b| <[u8; 8]>::try_from(b).ok())
        .map(u64::from_be_bytes)
        .ok_or_else(|| StoreError::Decode(format!("an applied key of {} bytes", key.len())))
}

/// `l` ‖ author (32 B) ‖ seq (u64 big-endian): sorts each author's log in seq order.
fn log_key(author: &MemberId, seq: u64) -> [u8; 41] {
    let mut key = [0u8; 41];
    key[0] = range::LOG;
    key[1..33].copy_from_slice(&author.0);
    key[33..].copy_from_slice(&seq.to_be_bytes());
    key
}

fn seq_from_log_key(key: &[u8]) -> Result<u64, StoreError> {
    let bytes: [u8; 8] = key
        .get(33..)
        .and_then(|tail| tail.try_into().ok())
        .ok_or_else(|| StoreError::Decode(format!("a log key of {} bytes", key.len())))?;
    Ok(u64::from_be_bytes(bytes))
}

/// `first` ‖ [prefix (32 B)] ‖ ms (u64 big-endian) ‖ hash (32 B): sorts by time under the
/// prefix.
fn time_key(first: u8, prefix: Option<&[u8; 32]>, at_ms: u64, hash: &EntryHash) -> Vec<u8> {
    let mut key = Vec::with_capacity(73);
    key.push(first);
    if let Some(prefix) = prefix {
        key.extend_from_slice(prefix);
    }
    key.extend_from_slice(&at_ms.to_be_bytes());
    key.extend_from_slice(&hash.0);
    key
}

/// The hash at the start of an `a` row.
fn log_row_hash(row: &[u8]) -> Result<EntryHash, StoreError> {
    hash_from("log row", row.get(..32).unwrap_or_default())
}

/// The entry bytes after the hash in an `a` row.
fn log_row_bytes(row: &[u8]) -> Result<&[u8], StoreError> {
    row.get(32..)
        .filter(|bytes| !bytes.is_empty())
        .ok_or_else(|| StoreError::Decode("a log row without an entry".into()))
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
    fn applied_entries_come_back_in_the_order_they_were_applied() {
        let dir = TempDir::new().unwrap();
        let store = open(&dir);
        let (mut founder, genesis) = founder();
        let mut bea = Author::new(2, founder.community);
        let offer = bea.write(10, post("lifts"));
        let reply = founder.write(20, Body::Reply { post: offer.hash(), text: "yes please".into() });
        let thanks = bea.write(30, Body::Reply { post: offer.hash(), text: "see you then".into() });
        store.store_applied(&[genesis.clone(), offer.clone()]).unwrap();
        store.store_applied(&[reply.clone(), thanks.clone()]).unwrap();
        // Whichever author's key sorts first, a reply never comes back before its post.
        let order: Vec<EntryHash> = store.applied_entries().map(|e| e.unwrap().hash()).collect();
        assert_eq!(order, [genesis.hash(), offer.hash(), reply.hash(), thanks.hash()]);
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
    fn a_store_of_layout_1_is_converted() {
        let dir = TempDir::new().unwrap();
        let (mut founder, genesis) = founder();
        let offer = founder.write(10, post("lifts"));
        let mut bea = Author::new(2, founder.community);
        let frozen = bea.write(10, profile("Bea"));
        let waiting = bea.write(20, post("waiting"));
        {
            // Layout 1: a tree per index, keys without a range byte.
            let db = sled::Config::new().path(dir.path()).open().unwrap();
            let (entries, log) = (db.open_tree("entries").unwrap(), db.open_tree("log").unwrap());
            for entry in [&genesis, &offer, &frozen] {
                entries.insert(entry.hash().0, entry.bytes()).unwrap();
            }
            for entry in [&genesis, &offer] {
                log.insert(&log_key(&entry.author(), entry.seq())[1..], &entry.hash().0).unwrap();
            }
            db.open_tree("frozen").unwrap().insert(frozen.hash().0, &[][..]).unwrap();
            db.open_tree("pending").unwrap().insert(waiting.hash().0, waiting.bytes()).unwrap();
            db.open_tree("posts").unwrap().insert(offer.hash().0, &b"an old view"[..]).unwrap();
            let meta = db.open_tree("meta").unwrap();
            meta.insert(META_SCHEMA, &[1u8][..]).unwrap();
            meta.insert(META_GENESIS, &genesis.hash().0).unwrap();
            db.flush().unwrap();
        }
        let store = reopen(dir.path());
        assert_eq!(store.meta_get(META_SCHEMA).unwrap(), Some(vec![SCHEMA_VERSION]));
        assert_eq!(store.entry_count(), 2);
        assert_eq!(store.entry_at(&founder.id(), 2).unwrap().unwrap().bytes(), offer.bytes());
        assert_eq!(store.post(&offer.hash()).unwrap().unwrap().title, "lifts");
        assert_eq!(store.get(&frozen.hash()).unwrap().unwrap().bytes(), frozen.bytes());
        assert_eq!(store.frozen_entries().unwrap().len(), 1);
        assert_eq!(store.pending().unwrap().iter().map(Entry::hash).collect::<Vec<_>>(), [waiting.hash()]);
        assert!(!store.db.tree_names().iter().any(|name| name.as_ref() == b"posts"), "old trees are dropped");
    }

    #[test]
    fn a_store_of_layout_2_is_converted() {
        let dir = TempDir::new().unwrap();
        let (mut founder, genesis) = founder();
        let offer = founder.write(10, post("lifts"));
        {
            let store = open(&dir);
            store.store_applied(&[genesis.clone(), offer.clone()]).unwrap();
            // Layout 2 also kept a hash → applied id row per entry.
            for (key, row) in store.community.scan_prefix([range::APPLIED]).map(Result::unwrap) {
                let hash = log_row_hash(&row).unwrap();
                store.community.insert(hash_key(range::LAYOUT_2_HASH, &hash), &key[1..]).unwrap();
            }
            store.meta_put(META_SCHEMA, &[2]).unwrap();
            store.flush().unwrap();
        }
        let store = reopen(dir.path());
        assert_eq!(store.meta_get(META_SCHEMA).unwrap(), Some(vec![SCHEMA_VERSION]));
        assert_eq!(store.community.scan_prefix([range::LAYOUT_2_HASH]).count(), 0, "hash rows are dropped");
        assert_eq!(store.entry_count(), 2);
        assert_eq!(store.get(&offer.hash()).unwrap().unwrap().bytes(), offer.bytes());
        assert_eq!(store.post(&offer.hash()).unwrap().unwrap().title, "lifts");
    }

    #[test]
    fn a_hash_that_only_starts_like_a_stored_one_finds_nothing() {
        let dir = TempDir::new().unwrap();
        let (mut founder, genesis) = founder();
        let offer = founder.write(10, post("lifts"));
        let store = open(&dir);
        store.store_applied(&[genesis.clone(), offer.clone()]).unwrap();
        let mut lookalike = offer.hash();
        lookalike.0[31] ^= 1;
        assert_eq!(store.get(&lookalike).unwrap(), None);
        // An entry whose first 8 bytes collide is indexed by its whole hash, and both are found.
        let id = store.hashes.read().unwrap().candidate(&offer.hash()).unwrap();
        let genesis_id = store.hashes.read().unwrap().candidate(&genesis.hash()).unwrap();
        store.hashes.write().unwrap().insert(lookalike, genesis_id);
        assert_eq!(store.hashes.read().unwrap().candidate(&offer.hash()), Some(id));
        assert_eq!(store.hashes.read().unwrap().candidate(&lookalike), Some(genesis_id));
        assert_eq!(store.get(&offer.hash()).unwrap().unwrap().bytes(), offer.bytes());
        assert_eq!(store.get(&lookalike).unwrap(), None, "the row it names has another hash");
        assert_eq!(store.entry_count(), 3);
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
