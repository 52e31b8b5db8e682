//! The applied entries' exact bytes, in the order they were applied, in one append-only file
//! beside sled's (`entries.kith`) — and, in memory, where each record starts, which position
//! each hash and each (author, seq) holds.
//!
//! Why a file and not sled rows: an entry never changes once applied, and sled's
//! log-structured pages rewrite a leaf many times over while rows are added to it, keeping
//! the old copies until their segment is cleaned. Stored as rows, the entries took 7.6 times
//! their own bytes on disk; here they take their bytes and a 12-byte record header
//! (BENCHMARKS.md, "Disk"). sled keeps what is small and changes: views, pending entries,
//! fork proofs, meta.
//!
//! A record is: the entry's length (u32, little-endian) ‖ the first 8 bytes of its hash ‖ its
//! wire bytes. *Positions* count records from 0. At open every record is read and checked —
//! the length is at most [`MAX_ENTRY_BYTES`], the bytes decode, the hash starts with the 8
//! bytes — and the file is cut at the first one that fails (a write torn by a power cut).
//! Whether sled's rows agree with what the file holds is [`super::Store`]'s business.
//!
//! Writes go through [`EntryLog::append`], one writer at a time ([`EntryLog::writing`]); the
//! file is synced at most once a second by appends, and on [`EntryLog::sync`].

use std::collections::{BTreeMap, HashMap};
use std::fs::{File, OpenOptions};
use std::io::{self, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant};

use kith_protocol::entry::MAX_ENTRY_BYTES;
use kith_protocol::{Entry, EntryHash, MemberId};

use super::StoreError;

/// The file's name in the store's folder (sled only claims `conf`, `db`, `blobs/`, `snap.*`).
pub(super) const FILE_NAME: &str = "entries.kith";
/// Length (4 bytes) and hash prefix (8 bytes) before each entry's bytes.
const RECORD_HEADER: usize = 12;
/// Appends sync the file when the last sync is older than this (sled flushes its own log
/// about as often).
const SYNC_EVERY: Duration = Duration::from_secs(1);
/// Bytes read at a time when records are read in order.
const READ_CHUNK: usize = 256 * 1024;

/// The entry file and what is known of it in memory.
pub(super) struct EntryLog {
    path: PathBuf,
    state: RwLock<State>,
    writer: Mutex<()>,
}

struct State {
    file: File,
    /// Where each record starts, by position.
    starts: Vec<u64>,
    /// Where the next record goes: the file's used length.
    end: u64,
    hashes: HashIndex,
    /// Each author's seqs → positions.
    logs: HashMap<MemberId, BTreeMap<u64, u64>>,
    synced_at: Instant,
}

/// How many records there were before an append, to take it back with [`EntryLog::forget`].
#[derive(Debug, Clone, Copy)]
pub(super) struct Mark {
    count: u64,
    end: u64,
}

impl EntryLog {
    /// Opens (creating) the file at `path`, reads every record into the in-memory indexes and
    /// cuts the file after the last whole, well-formed record. Returns the log and how many
    /// bytes were cut (0 unless a write was torn or the file damaged).
    pub(super) fn open(path: &Path) -> Result<(EntryLog, u64), StoreError> {
        let file = OpenOptions::new().read(true).write(true).create(true).truncate(false).open(path)?;
        let length = file.metadata()?.len();
        let mut state = State::new(file);
        let mut reader = BufReader::with_capacity(READ_CHUNK, state.file.try_clone()?);
        while let Some(entry) = read_checked_record(&mut reader)? {
            let start = state.end;
            state.end += (RECORD_HEADER + entry.bytes().len()) as u64;
            state.index(&entry, start);
        }
        let cut = length - state.end;
        if cut > 0 {
            state.file.set_len(state.end)?;
            state.file.sync_all()?;
        }
        Ok((EntryLog { path: path.to_path_buf(), state: RwLock::new(state), writer: Mutex::new(()) }, cut))
    }

    /// Held by the one who writes (the store's writing calls), so that what it checked before
    /// appending is still true when it appends.
    pub(super) fn writing(&self) -> MutexGuard<'_, ()> {
        self.writer.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// How many entries the file holds.
    pub(super) fn count(&self) -> u64 {
        self.read().starts.len() as u64
    }

    /// The file's used length, in bytes.
    pub(super) fn end(&self) -> u64 {
        self.read().end
    }

    /// Where the record at `position` starts (the file's end for the position after the last).
    pub(super) fn start_of(&self, position: u64) -> Option<u64> {
        let state = self.read();
        match usize::try_from(position).ok().and_then(|p| state.starts.get(p)) {
            Some(start) => Some(*start),
            None if position == state.starts.len() as u64 => Some(state.end),
            None => None,
        }
    }

    /// The applied entry with this hash.
    pub(super) fn get(&self, hash: &EntryHash) -> Result<Option<Entry>, StoreError> {
        let state = self.read();
        let Some(position) = state.hashes.candidate(hash) else { return Ok(None) };
        let entry = decode(state.record(position)?)?;
        // The index may name an entry whose hash only starts like this one.
        Ok((entry.hash() == *hash).then_some(entry))
    }

    /// The entry at `author`'s `seq`.
    pub(super) fn entry_at(&self, author: &MemberId, seq: u64) -> Result<Option<Entry>, StoreError> {
        let state = self.read();
        match state.logs.get(author).and_then(|log| log.get(&seq)) {
            Some(position) => decode(state.record(*position)?).map(Some),
            None => Ok(None),
        }
    }

    /// The last entry of `author`'s log.
    pub(super) fn last_of(&self, author: &MemberId) -> Result<Option<Entry>, StoreError> {
        let state = self.read();
        match state.logs.get(author).and_then(|log| log.values().next_back()) {
            Some(position) => decode(state.record(*position)?).map(Some),
            None => Ok(None),
        }
    }

    /// Up to `limit` entries of `author` from `from_seq` on, in seq order, as wire bytes; stops
    /// before the entry that would take the total past `max_bytes` (but returns at least one).
    pub(super) fn range(
        &self,
        author: &MemberId,
        from_seq: u64,
        limit: usize,
        max_bytes: usize,
    ) -> Result<Vec<Vec<u8>>, StoreError> {
        let state = self.read();
        let mut out = Vec::new();
        let mut page = PageBudget::new(max_bytes);
        let Some(log) = state.logs.get(author) else { return Ok(out) };
        for position in log.range(from_seq..).map(|(_, position)| *position).take(limit) {
            let bytes = state.record(position)?;
            if !page.takes(bytes.len()) {
                break;
            }
            out.push(bytes);
        }
        Ok(out)
    }

    /// Up to `limit` entries from `first` on, in position order, as wire bytes; stops before the
    /// entry that would take the total past `max_bytes` (but returns at least one).
    pub(super) fn since(&self, first: u64, limit: usize, max_bytes: usize) -> Result<Vec<Vec<u8>>, StoreError> {
        let state = self.read();
        let Some(from) = usize::try_from(first).ok().filter(|from| *from < state.starts.len()) else {
            return Ok(Vec::new());
        };
        let to = state.starts.len().min(from.saturating_add(limit));
        // One read for the whole page: the records are next to each other.
        let start = state.starts[from];
        let mut stop = from;
        let mut page = PageBudget::new(max_bytes);
        while stop < to && page.takes((state.end_of(stop) - state.starts[stop]) as usize - RECORD_HEADER) {
            stop += 1;
        }
        if stop == from {
            return Ok(Vec::new());
        }
        let mut buf = vec![0u8; (state.end_of(stop - 1) - start) as usize];
        read_at(&state.file, &mut buf, start)?;
        let mut out = Vec::with_capacity(stop - from);
        let mut at = 0usize;
        for position in from..stop {
            let len = (state.end_of(position) - state.starts[position]) as usize;
            out.push(record_bytes(&buf[at..at + len], position as u64)?.to_vec());
            at += len;
        }
        Ok(out)
    }

    /// Every entry from `first` on, in position order, read a chunk at a time.
    pub(super) fn records_from(&self, first: u64) -> Records<'_> {
        let state = self.read();
        let next = usize::try_from(first).ok().and_then(|p| state.starts.get(p).copied()).unwrap_or(state.end);
        Records { log: self, next, end: state.end, buf: Vec::new(), buf_start: 0 }
    }

    /// Appends `entries` after the last record and indexes them. The caller has checked that
    /// none is already here at its place. Syncs the file if the last sync is over a second old.
    /// Returns a mark to take the append back with.
    pub(super) fn append(&self, entries: &[&Entry]) -> Result<Mark, StoreError> {
        let mut state = self.write();
        let mark = Mark { count: state.starts.len() as u64, end: state.end };
        let mut buf = Vec::with_capacity(entries.iter().map(|e| RECORD_HEADER + e.bytes().len()).sum());
        for entry in entries {
            let len = u32::try_from(entry.bytes().len())
                .map_err(|_| StoreError::Encode(format!("an entry of {} bytes", entry.bytes().len())))?;
            buf.extend_from_slice(&len.to_le_bytes());
            buf.extend_from_slice(&entry.hash().0[..8]);
            buf.extend_from_slice(entry.bytes());
        }
        write_at(&state.file, &buf, state.end)?;
        for entry in entries {
            let start = state.end;
            state.end += (RECORD_HEADER + entry.bytes().len()) as u64;
            state.index(entry, start);
        }
        let sync_due = state.synced_at.elapsed() >= SYNC_EVERY;
        if sync_due {
            state.synced_at = Instant::now();
        }
        // Readers wait for no fsync (it can take long on an SD card).
        drop(state);
        if sync_due {
            self.read().file.sync_data()?;
        }
        Ok(mark)
    }

    /// Takes back an append (`entries` are what it appended): the next append writes over it.
    pub(super) fn forget(&self, mark: Mark, entries: &[&Entry]) {
        let mut state = self.write();
        for entry in entries {
            state.hashes.remove(&entry.hash());
            if let Some(log) = state.logs.get_mut(&entry.author()) {
                log.remove(&entry.seq());
            }
        }
        state.starts.truncate(mark.count as usize);
        state.end = mark.end;
    }

    /// Writes the file to the disk and waits for it.
    pub(super) fn sync(&self) -> Result<(), StoreError> {
        self.write().synced_at = Instant::now();
        self.read().file.sync_data()?;
        Ok(())
    }

    /// Replaces the whole file by one holding `entries` (written beside it, synced, then
    /// renamed over it, so an interruption leaves the old file or the new one).
    pub(super) fn replace(&self, entries: &[&Entry]) -> Result<(), StoreError> {
        let mut state = self.write();
        let fresh_path = self.path.with_extension("new");
        let _ = std::fs::remove_file(&fresh_path);
        let (fresh, _) = EntryLog::open(&fresh_path)?;
        fresh.append(entries)?;
        fresh.sync()?;
        let fresh = fresh.state.into_inner().unwrap_or_else(PoisonError::into_inner);
        std::fs::rename(&fresh_path, &self.path)?;
        // The rename itself reaches the disk with the folder.
        #[cfg(unix)]
        if let Some(folder) = self.path.parent() {
            File::open(folder)?.sync_all()?;
        }
        *state = fresh;
        Ok(())
    }

    fn read(&self) -> RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(PoisonError::into_inner)
    }

    /// Test access to the hash index, to make two hashes collide on purpose.
    #[cfg(test)]
    pub(super) fn index_as(&self, hash: EntryHash, position: u64) {
        self.write().hashes.insert(hash, position);
    }

    #[cfg(test)]
    pub(super) fn candidate(&self, hash: &EntryHash) -> Option<u64> {
        self.read().hashes.candidate(hash)
    }
}

impl State {
    fn new(file: File) -> State {
        State {
            file,
            starts: Vec::new(),
            end: 0,
            hashes: HashIndex::default(),
            logs: HashMap::new(),
            synced_at: Instant::now(),
        }
    }

    fn index(&mut self, entry: &Entry, start: u64) {
        let position = self.starts.len() as u64;
        self.starts.push(start);
        self.hashes.insert(entry.hash(), position);
        self.logs.entry(entry.author()).or_default().insert(entry.seq(), position);
    }

    /// Where the record at `position` ends.
    fn end_of(&self, position: usize) -> u64 {
        self.starts.get(position + 1).copied().unwrap_or(self.end)
    }

    /// The wire bytes of the record at `position`.
    fn record(&self, position: u64) -> Result<Vec<u8>, StoreError> {
        let index = usize::try_from(position)
            .ok()
            .filter(|index| *index < self.starts.len())
            .ok_or_else(|| StoreError::Decode(format!("entry position {position} is indexed but not stored")))?;
        let start = self.starts[index];
        let mut buf = vec![0u8; (self.end_of(index) - start) as usize];
        read_at(&self.file, &mut buf, start)?;
        Ok(record_bytes(&buf, position)?.to_vec())
    }
}

/// The byte budget of a sync page: an entry is taken unless it would take the page past
/// `max_bytes`, and the first one always is (a page is never empty for want of room).
struct PageBudget {
    taken: usize,
    bytes: usize,
    max_bytes: usize,
}

impl PageBudget {
    fn new(max_bytes: usize) -> PageBudget {
        PageBudget { taken: 0, bytes: 0, max_bytes }
    }

    /// Whether an entry of `len` bytes fits; if so it is counted.
    fn takes(&mut self, len: usize) -> bool {
        if self.taken > 0 && self.bytes.saturating_add(len) > self.max_bytes {
            return false;
        }
        self.taken += 1;
        self.bytes = self.bytes.saturating_add(len);
        true
    }
}

/// Reads the entries of the file in order, a chunk at a time ([`EntryLog::records_from`]).
pub(super) struct Records<'a> {
    log: &'a EntryLog,
    next: u64,
    end: u64,
    buf: Vec<u8>,
    /// Where in the file `buf` starts.
    buf_start: u64,
}

impl Records<'_> {
    /// Makes `buf` hold `len` bytes from `self.next` on, reading a chunk if needed.
    fn fill(&mut self, len: usize) -> Result<(), StoreError> {
        let have = (self.buf_start + self.buf.len() as u64).saturating_sub(self.next);
        if self.next >= self.buf_start && have >= len as u64 {
            return Ok(());
        }
        let want = (len.max(READ_CHUNK) as u64).min(self.end - self.next) as usize;
        if want < len {
            return Err(StoreError::Decode(format!("the entry file ends inside a record at byte {}", self.next)));
        }
        self.buf.resize(want, 0);
        read_at(&self.log.read().file, &mut self.buf, self.next)?;
        self.buf_start = self.next;
        Ok(())
    }
}

impl Iterator for Records<'_> {
    type Item = Result<Entry, StoreError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.next >= self.end {
            return None;
        }
        let mut step = || -> Result<Entry, StoreError> {
            self.fill(RECORD_HEADER)?;
            let at = (self.next - self.buf_start) as usize;
            let len = RECORD_HEADER + record_len(&self.buf[at..at + RECORD_HEADER]);
            self.fill(len)?;
            let at = (self.next - self.buf_start) as usize;
            let bytes = record_bytes(&self.buf[at..at + len], self.next)?.to_vec();
            self.next += len as u64;
            decode(bytes)
        };
        let item = step();
        if item.is_err() {
            // Stop after an error rather than read garbage as records.
            self.next = self.end;
        }
        Some(item)
    }
}

/// Applied entries by hash: the first 8 bytes of a hash → its position, and the whole hash for
/// the rare entry whose first 8 bytes another one already has. ~17 bytes an entry (a
/// whole-hash map would take ~41). A lookup reads the record and checks its hash.
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
    fn insert(&mut self, hash: EntryHash, position: u64) {
        match self.by_prefix.entry(Self::prefix(&hash)) {
            std::collections::hash_map::Entry::Vacant(slot) => {
                slot.insert(position);
            }
            std::collections::hash_map::Entry::Occupied(_) => {
                self.collided.insert(hash, position);
            }
        }
    }

    /// Forgets an entry (an append taken back). A prefix slot is freed only if no other
    /// entry shares it.
    fn remove(&mut self, hash: &EntryHash) {
        if self.collided.remove(hash).is_none() {
            self.by_prefix.remove(&Self::prefix(hash));
        }
    }

    /// The position of the entry that may be `hash`.
    fn candidate(&self, hash: &EntryHash) -> Option<u64> {
        self.collided.get(hash).or_else(|| self.by_prefix.get(&Self::prefix(hash))).copied()
    }
}

/// Reads the next record and checks it; `None` at the end of the file or at the first record
/// that is torn or does not check out.
fn read_checked_record(reader: &mut impl Read) -> Result<Option<Entry>, StoreError> {
    let mut header = [0u8; RECORD_HEADER];
    if !read_whole(reader, &mut header)? {
        return Ok(None);
    }
    let len = record_len(&header);
    if len == 0 || len > MAX_ENTRY_BYTES {
        return Ok(None);
    }
    let mut bytes = vec![0u8; len];
    if !read_whole(reader, &mut bytes)? {
        return Ok(None);
    }
    match Entry::decode_unverified(bytes) {
        Ok(entry) if entry.hash().0[..8] == header[4..] => Ok(Some(entry)),
        _ => Ok(None),
    }
}

/// Fills `buf`; false if the reader ends first.
fn read_whole(reader: &mut impl Read, buf: &mut [u8]) -> Result<bool, StoreError> {
    match reader.read_exact(buf) {
        Ok(()) => Ok(true),
        Err(error) if error.kind() == io::ErrorKind::UnexpectedEof => Ok(false),
        Err(error) => Err(error.into()),
    }
}

/// The entry length in a record header.
fn record_len(header: &[u8]) -> usize {
    let mut len = [0u8; 4];
    len.copy_from_slice(&header[..4]);
    u32::from_le_bytes(len) as usize
}

/// The wire bytes of a whole record, checking its length field.
fn record_bytes(record: &[u8], at: u64) -> Result<&[u8], StoreError> {
    match record.get(..RECORD_HEADER).map(record_len) {
        Some(len) if RECORD_HEADER + len == record.len() => Ok(&record[RECORD_HEADER..]),
        _ => Err(StoreError::Decode(format!("the record at {at} in the entry file has a wrong length"))),
    }
}

fn decode(bytes: Vec<u8>) -> Result<Entry, StoreError> {
    Entry::decode_unverified(bytes).map_err(|e| StoreError::Decode(format!("stored entry: {e}")))
}

#[cfg(unix)]
fn read_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<()> {
    std::os::unix::fs::FileExt::read_exact_at(file, buf, offset)
}

#[cfg(unix)]
fn write_at(file: &File, buf: &[u8], offset: u64) -> io::Result<()> {
    std::os::unix::fs::FileExt::write_all_at(file, buf, offset)
}

#[cfg(windows)]
fn read_at(file: &File, mut buf: &mut [u8], mut offset: u64) -> io::Result<()> {
    while !buf.is_empty() {
        match std::os::windows::fs::FileExt::seek_read(file, buf, offset)? {
            0 => return Err(io::ErrorKind::UnexpectedEof.into()),
            n => {
                buf = &mut buf[n..];
                offset += n as u64;
            }
        }
    }
    Ok(())
}

#[cfg(windows)]
fn write_at(file: &File, mut buf: &[u8], mut offset: u64) -> io::Result<()> {
    while !buf.is_empty() {
        let n = std::os::windows::fs::FileExt::seek_write(file, buf, offset)?;
        buf = &buf[n..];
        offset += n as u64;
    }
    Ok(())
}
