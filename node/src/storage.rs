//! What the replica needs from a store, as a trait: the sled [`Store`] is the node's
//! implementation, [`memory::MemStore`] (writes durable only once flushed) the simulator's.

pub mod memory;

use kith_protocol::{Entry, EntryHash, ForkProof, MemberId};

use crate::store::{SnapshotReader, Store, StoreError};

/// The storage a [`crate::replica::Replica`] and the sync engine write to and read from.
/// Every write is durable only after [`Storage::flush`] returned: a crash may drop any write
/// made since the last flush (never a part of one `store_applied` call).
/// A store's flush taken out of it ([`Storage::flush_later`]), to run on any thread.
pub type Flush = Box<dyn FnOnce() -> Result<(), StoreError> + Send>;

pub trait Storage {
    /// Makes every earlier write durable.
    fn flush(&self) -> Result<(), StoreError>;
    /// The flush, to run later without holding whatever guards the store (the replica's lock,
    /// so that others read and write meanwhile): every write made before it runs is durable once
    /// it returns `Ok`.
    fn flush_later(&self) -> Flush;
    /// The periodic sync of what was written since the last one, if one is due (at most once a
    /// second), to run without the replica's lock; a store that has none gives a no-op. Writes
    /// themselves never wait for a sync.
    fn sync_later(&self) -> Flush {
        Box::new(|| Ok(()))
    }
    fn genesis(&self) -> Result<Option<EntryHash>, StoreError>;
    fn set_genesis(&self, hash: EntryHash) -> Result<(), StoreError>;
    /// Stores applied entries in the order they were applied (see [`Store::store_applied`]).
    fn store_applied(&self, entries: &[Entry]) -> Result<(), StoreError>;
    fn store_frozen(&self, entry: &Entry) -> Result<(), StoreError>;
    fn put_pending(&self, entry: &Entry) -> Result<(), StoreError>;
    fn remove_pending(&self, hash: &EntryHash) -> Result<(), StoreError>;
    fn pending(&self) -> Result<Vec<Entry>, StoreError>;
    fn put_fork(&self, author: &MemberId, proof: &ForkProof) -> Result<(), StoreError>;
    fn forks(&self) -> Result<Vec<ForkProof>, StoreError>;
    /// Any stored entry (applied or frozen; not pending) by its hash.
    fn get(&self, hash: &EntryHash) -> Result<Option<Entry>, StoreError>;
    fn entry_at(&self, author: &MemberId, seq: u64) -> Result<Option<Entry>, StoreError>;
    /// Up to `limit` applied entries of `author` from `from_seq` on, as wire bytes, within
    /// about `max_bytes` (at least one if there is one).
    fn range(
        &self,
        author: &MemberId,
        from_seq: u64,
        limit: usize,
        max_bytes: usize,
    ) -> Result<Vec<Vec<u8>>, StoreError>;
    /// Applied entries after the first `after`, in applied order, and the count up to the last.
    fn applied_since(&self, after: u64, limit: usize, max_bytes: usize) -> Result<(Vec<Vec<u8>>, u64), StoreError>;
    /// How many entries are stored as applied.
    fn entry_count(&self) -> usize;
    /// Replaces the applied entries with `entries` (in that order), rebuilding the views: how a
    /// store is brought level with the reducer after a fork.
    fn replace_applied(&self, entries: &[Entry]) -> Result<(), StoreError>;
    /// Every applied entry in applied order.
    fn applied_entries(&self) -> Box<dyn Iterator<Item = Result<Entry, StoreError>> + '_>;
    fn frozen_entries(&self) -> Result<Vec<Entry>, StoreError>;
    /// The applied entries after the first `first`, in applied order.
    fn applied_entries_from(&self, first: u64) -> Box<dyn Iterator<Item = Result<Entry, StoreError>> + '_> {
        Box::new(self.applied_entries().skip(usize::try_from(first).unwrap_or(usize::MAX)))
    }
    /// Keeps a snapshot of the reducer's state made from the first `covers` applied entries
    /// (see [`Store::put_snapshot`]); a store may keep none.
    fn put_snapshot(
        &self,
        _covers: u64,
        _write: &mut dyn FnMut(&mut dyn std::io::Write) -> std::io::Result<()>,
    ) -> Result<(), StoreError> {
        Ok(())
    }
    /// The kept snapshot, if the applied entries still begin with those it was made from: how
    /// many it covers, and its state to read.
    fn snapshot(&self) -> Result<Option<(u64, SnapshotReader)>, StoreError> {
        Ok(None)
    }
    fn meta_get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError>;
    fn meta_put(&self, key: &str, value: &[u8]) -> Result<(), StoreError>;
    /// Every meta row whose key starts with `prefix`, in key order.
    fn meta_scan(&self, prefix: &str) -> Result<Vec<(String, Vec<u8>)>, StoreError>;
}

impl Storage for Store {
    fn flush(&self) -> Result<(), StoreError> {
        Store::flush(self)
    }
    fn flush_later(&self) -> Flush {
        Store::flush_later(self)
    }
    fn sync_later(&self) -> Flush {
        Store::sync_later(self)
    }
    fn genesis(&self) -> Result<Option<EntryHash>, StoreError> {
        Store::genesis(self)
    }
    fn set_genesis(&self, hash: EntryHash) -> Result<(), StoreError> {
        Store::set_genesis(self, hash)
    }
    fn store_applied(&self, entries: &[Entry]) -> Result<(), StoreError> {
        Store::store_applied(self, entries)
    }
    fn store_frozen(&self, entry: &Entry) -> Result<(), StoreError> {
        Store::store_frozen(self, entry)
    }
    fn entry_count(&self) -> usize {
        Store::entry_count(self)
    }
    fn replace_applied(&self, entries: &[Entry]) -> Result<(), StoreError> {
        Store::replace_applied(self, entries)
    }
    fn put_pending(&self, entry: &Entry) -> Result<(), StoreError> {
        Store::put_pending(self, entry)
    }
    fn remove_pending(&self, hash: &EntryHash) -> Result<(), StoreError> {
        Store::remove_pending(self, hash)
    }
    fn pending(&self) -> Result<Vec<Entry>, StoreError> {
        Store::pending(self)
    }
    fn put_fork(&self, author: &MemberId, proof: &ForkProof) -> Result<(), StoreError> {
        Store::put_fork(self, author, proof)
    }
    fn forks(&self) -> Result<Vec<ForkProof>, StoreError> {
        Store::forks(self)
    }
    fn get(&self, hash: &EntryHash) -> Result<Option<Entry>, StoreError> {
        Store::get(self, hash)
    }
    fn entry_at(&self, author: &MemberId, seq: u64) -> Result<Option<Entry>, StoreError> {
        Store::entry_at(self, author, seq)
    }
    fn range(
        &self,
        author: &MemberId,
        from_seq: u64,
        limit: usize,
        max_bytes: usize,
    ) -> Result<Vec<Vec<u8>>, StoreError> {
        Store::range(self, author, from_seq, limit, max_bytes)
    }
    fn applied_since(&self, after: u64, limit: usize, max_bytes: usize) -> Result<(Vec<Vec<u8>>, u64), StoreError> {
        Store::applied_since(self, after, limit, max_bytes)
    }
    fn applied_entries(&self) -> Box<dyn Iterator<Item = Result<Entry, StoreError>> + '_> {
        Box::new(Store::applied_entries(self))
    }
    fn frozen_entries(&self) -> Result<Vec<Entry>, StoreError> {
        Store::frozen_entries(self)
    }
    fn applied_entries_from(&self, first: u64) -> Box<dyn Iterator<Item = Result<Entry, StoreError>> + '_> {
        Box::new(Store::applied_entries_from(self, first))
    }
    fn put_snapshot(
        &self,
        covers: u64,
        write: &mut dyn FnMut(&mut dyn std::io::Write) -> std::io::Result<()>,
    ) -> Result<(), StoreError> {
        Store::put_snapshot(self, covers, write)
    }
    fn snapshot(&self) -> Result<Option<(u64, SnapshotReader)>, StoreError> {
        Store::snapshot(self)
    }
    fn meta_get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Store::meta_get(self, key)
    }
    fn meta_put(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        Store::meta_put(self, key, value)
    }
    fn meta_scan(&self, prefix: &str) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        Store::meta_scan(self, prefix)
    }
}
