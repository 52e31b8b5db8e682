//! An in-memory [`Storage`] for the simulator: every write is visible at once but durable only
//! once flushed; [`MemStore::crash`] drops what was written since the last flush, as a power
//! cut would.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

use kith_protocol::{Entry, EntryHash, ForkProof, MemberId};

use super::Storage;
use crate::store::{PageBudget, StoreError};

/// One write, kept until the next flush makes it durable.
#[derive(Debug, Clone)]
enum Write {
    Applied(Vec<Entry>),
    /// Every applied entry replaced by these (a store brought level with its reducer).
    Replaced(Vec<Entry>),
    Frozen(Entry),
    PutPending(Entry),
    RemovePending(EntryHash),
    Fork(MemberId, ForkProof),
    Meta(String, Vec<u8>),
    Genesis(EntryHash),
}

#[derive(Debug, Clone, Default)]
struct Data {
    applied: Vec<Entry>,
    by_hash: HashMap<EntryHash, usize>,
    at: BTreeMap<(MemberId, u64), usize>,
    frozen: BTreeMap<EntryHash, Entry>,
    pending: BTreeMap<EntryHash, Entry>,
    forks: BTreeMap<MemberId, ForkProof>,
    meta: BTreeMap<String, Vec<u8>>,
    genesis: Option<EntryHash>,
}

impl Data {
    /// Checks that `entries` can be stored as applied (no other entry at their places).
    fn check_applied(&self, entries: &[Entry]) -> Result<(), StoreError> {
        let mut placed: HashMap<(MemberId, u64), EntryHash> = HashMap::new();
        for entry in entries {
            let place = (entry.author(), entry.seq());
            let stored = placed.get(&place).copied().or_else(|| self.at.get(&place).map(|i| self.applied[*i].hash()));
            if stored.is_some_and(|h| h != entry.hash()) {
                return Err(StoreError::Conflict { author: entry.author(), seq: entry.seq() });
            }
            placed.insert(place, entry.hash());
        }
        Ok(())
    }

    fn apply(&mut self, write: &Write) {
        match write {
            Write::Applied(entries) => {
                for entry in entries {
                    let hash = entry.hash();
                    if self.by_hash.contains_key(&hash) {
                        continue;
                    }
                    self.pending.remove(&hash);
                    self.by_hash.insert(hash, self.applied.len());
                    self.at.insert((entry.author(), entry.seq()), self.applied.len());
                    self.applied.push(entry.clone());
                }
            }
            Write::Replaced(entries) => {
                self.applied.clear();
                self.by_hash.clear();
                self.at.clear();
                self.apply(&Write::Applied(entries.clone()));
            }
            Write::Frozen(entry) => {
                self.pending.remove(&entry.hash());
                self.frozen.insert(entry.hash(), entry.clone());
            }
            Write::PutPending(entry) => {
                self.pending.insert(entry.hash(), entry.clone());
            }
            Write::RemovePending(hash) => {
                self.pending.remove(hash);
            }
            Write::Fork(author, proof) => {
                self.forks.insert(*author, proof.clone());
            }
            Write::Meta(key, value) => {
                self.meta.insert(key.clone(), value.clone());
            }
            Write::Genesis(hash) => self.genesis = Some(*hash),
        }
    }
}

#[derive(Debug, Default)]
struct Inner {
    /// What reads see: everything written.
    live: Data,
    /// What survives a crash: everything flushed.
    durable: Data,
    unflushed: Vec<Write>,
    flushes: u64,
}

/// A store held in memory. Clones share the same data (the simulator keeps one as the
/// node's "disk" across crashes).
#[derive(Debug, Clone, Default)]
pub struct MemStore {
    inner: Arc<Mutex<Inner>>,
}

impl MemStore {
    pub fn new() -> MemStore {
        MemStore::default()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn write(&self, write: Write) {
        let mut inner = self.lock();
        inner.live.apply(&write);
        inner.unflushed.push(write);
    }

    /// An independent store holding what this one holds durably (a copied disk).
    pub fn copy_durable(&self) -> MemStore {
        let durable = self.lock().durable.clone();
        let inner = Inner { live: durable.clone(), durable, unflushed: Vec::new(), flushes: 0 };
        MemStore { inner: Arc::new(Mutex::new(inner)) }
    }

    /// A power cut: every write since the last flush is lost.
    pub fn crash(&self) {
        let mut inner = self.lock();
        inner.unflushed.clear();
        inner.live = inner.durable.clone();
    }

    /// Whether the entry is durable (flushed).
    pub fn durable_holds(&self, hash: &EntryHash) -> bool {
        self.lock().durable.by_hash.contains_key(hash)
    }

    /// Applied entries held (live).
    pub fn applied_count(&self) -> usize {
        self.lock().live.applied.len()
    }

    /// Pending entries held (live).
    pub fn pending_count(&self) -> usize {
        self.lock().live.pending.len()
    }

    /// Writes made durable so far (calls to flush that had something to write).
    pub fn flushes(&self) -> u64 {
        self.lock().flushes
    }
}

impl Storage for MemStore {
    fn flush(&self) -> Result<(), StoreError> {
        let mut inner = self.lock();
        let writes = std::mem::take(&mut inner.unflushed);
        if !writes.is_empty() {
            inner.flushes += 1;
        }
        for write in &writes {
            inner.durable.apply(write);
        }
        Ok(())
    }
    fn flush_later(&self) -> crate::storage::Flush {
        let store = self.clone();
        Box::new(move || store.flush())
    }
    fn genesis(&self) -> Result<Option<EntryHash>, StoreError> {
        Ok(self.lock().live.genesis)
    }
    fn set_genesis(&self, hash: EntryHash) -> Result<(), StoreError> {
        self.write(Write::Genesis(hash));
        Ok(())
    }
    fn store_applied(&self, entries: &[Entry]) -> Result<(), StoreError> {
        if entries.is_empty() {
            return Ok(());
        }
        self.lock().live.check_applied(entries)?;
        self.write(Write::Applied(entries.to_vec()));
        Ok(())
    }
    fn entry_count(&self) -> usize {
        self.lock().live.applied.len()
    }
    fn replace_applied(&self, entries: &[Entry]) -> Result<(), StoreError> {
        self.write(Write::Replaced(entries.to_vec()));
        Ok(())
    }
    fn store_frozen(&self, entry: &Entry) -> Result<(), StoreError> {
        self.write(Write::Frozen(entry.clone()));
        Ok(())
    }
    fn put_pending(&self, entry: &Entry) -> Result<(), StoreError> {
        self.write(Write::PutPending(entry.clone()));
        Ok(())
    }
    fn remove_pending(&self, hash: &EntryHash) -> Result<(), StoreError> {
        self.write(Write::RemovePending(*hash));
        Ok(())
    }
    fn pending(&self) -> Result<Vec<Entry>, StoreError> {
        Ok(self.lock().live.pending.values().cloned().collect())
    }
    fn put_fork(&self, author: &MemberId, proof: &ForkProof) -> Result<(), StoreError> {
        self.write(Write::Fork(*author, proof.clone()));
        Ok(())
    }
    fn forks(&self) -> Result<Vec<ForkProof>, StoreError> {
        Ok(self.lock().live.forks.values().cloned().collect())
    }
    fn get(&self, hash: &EntryHash) -> Result<Option<Entry>, StoreError> {
        let inner = self.lock();
        let live = &inner.live;
        Ok(live.by_hash.get(hash).map(|i| live.applied[*i].clone()).or_else(|| live.frozen.get(hash).cloned()))
    }
    fn entry_at(&self, author: &MemberId, seq: u64) -> Result<Option<Entry>, StoreError> {
        let inner = self.lock();
        Ok(inner.live.at.get(&(*author, seq)).map(|i| inner.live.applied[*i].clone()))
    }
    fn range(
        &self,
        author: &MemberId,
        from_seq: u64,
        limit: usize,
        max_bytes: usize,
    ) -> Result<Vec<Vec<u8>>, StoreError> {
        let inner = self.lock();
        let mut page = PageBudget::new(max_bytes);
        Ok(inner
            .live
            .at
            .range((*author, from_seq.max(1))..=(*author, u64::MAX))
            .take(limit)
            .map(|(_, index)| inner.live.applied[*index].bytes())
            .take_while(|bytes| page.takes(bytes.len()))
            .map(<[u8]>::to_vec)
            .collect())
    }
    fn applied_since(&self, after: u64, limit: usize, max_bytes: usize) -> Result<(Vec<Vec<u8>>, u64), StoreError> {
        let inner = self.lock();
        let mut page = PageBudget::new(max_bytes);
        let start = usize::try_from(after).unwrap_or(usize::MAX);
        let out: Vec<Vec<u8>> = inner
            .live
            .applied
            .iter()
            .skip(start)
            .take(limit)
            .map(Entry::bytes)
            .take_while(|bytes| page.takes(bytes.len()))
            .map(<[u8]>::to_vec)
            .collect();
        let last = after.saturating_add(out.len() as u64);
        Ok((out, last))
    }
    fn applied_entries(&self) -> Box<dyn Iterator<Item = Result<Entry, StoreError>> + '_> {
        let entries = self.lock().live.applied.clone();
        Box::new(entries.into_iter().map(Ok))
    }
    fn frozen_entries(&self) -> Result<Vec<Entry>, StoreError> {
        Ok(self.lock().live.frozen.values().cloned().collect())
    }
    fn meta_get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.lock().live.meta.get(key).cloned())
    }
    fn meta_put(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        self.write(Write::Meta(key.to_string(), value.to_vec()));
        Ok(())
    }
    fn meta_scan(&self, prefix: &str) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        let inner = self.lock();
        let rows = inner.live.meta.range(prefix.to_string()..).take_while(|(key, _)| key.starts_with(prefix));
        Ok(rows.map(|(key, value)| (key.clone(), value.clone())).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kith_protocol::{Body, Draft, Keypair, Rules};

    fn genesis() -> Entry {
        let key = Keypair::from_secret_bytes([7; 32]);
        let body = Body::Genesis { name: "t".into(), description: String::new(), rules: Rules::default() };
        match Entry::sign(&key, Draft { community: None, seq: 1, prev: None, timestamp_ms: 1, body }) {
            Ok(entry) => entry,
            Err(error) => panic!("cannot sign: {error}"),
        }
    }

    #[test]
    fn a_crash_drops_what_was_not_flushed() -> Result<(), StoreError> {
        let store = MemStore::new();
        let entry = genesis();
        store.store_applied(std::slice::from_ref(&entry))?;
        assert!(store.get(&entry.hash())?.is_some());
        store.crash();
        assert!(store.get(&entry.hash())?.is_none(), "an unflushed write survived a crash");
        store.store_applied(std::slice::from_ref(&entry))?;
        store.flush()?;
        store.crash();
        assert!(store.get(&entry.hash())?.is_some(), "a flushed write was lost");
        assert!(store.durable_holds(&entry.hash()));
        Ok(())
    }
}
