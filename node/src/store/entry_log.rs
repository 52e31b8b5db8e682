//! The applied entries' exact bytes, in the order they were applied, in one append-only file
//! beside sled's (`entries.kith`) — and, in memory, where each record starts, which position
//! each hash and each (author, seq) holds, and which replies each post has.
//!
//! Why a file and not sled rows: an entry never changes once applied, and sled's
//! log-structured pages rewrite a leaf many times over while rows are added to it, keeping
//! the old copies until their segment is cleaned. Stored as rows, the entries took 7.6 times
//! their own bytes on disk; here they take their bytes and a 12-byte record header
//! (BENCHMARKS.md, "Disk"). sled keeps what is small and changes: views, pending entries,
//! fork proofs, meta.
//!
//! A record is: the entry's length (u32, little-endian) ‖ the first 8 bytes of its hash ‖ its
//! wire bytes. *Positions* count records from 0. At open every record is read and checked
//! without decoding its body ([`Entry::locate`]) — the length is at most [`MAX_ENTRY_BYTES`],
//! the envelope and header decode, the payload has the length and hash its header names, the
//! hash starts with the 8 bytes; the hash index is then built at once, sorted. A record whose
//! header says it is a reply has its body read for its post ([`Entry::stored_body`]), and the
//! reply index is built once the hash index can find the posts. A record that fails is
//! skipped if a whole record follows it somewhere after (damage in the middle of the file
//! loses that record only: its entry can be fetched again), and the
//! file is cut there if none does (a write torn by a power cut: only a torn tail is cut).
//! Skipped bytes stay where they are, outside every position, until the file is rewritten.
//! Whether sled's rows agree with what the file holds is [`super::Store`]'s business.
//!
//! Writes go through [`EntryLog::append`], one writer at a time ([`EntryLog::writing`]). The
//! file is synced by [`EntryLog::sync`] and, when the last sync is a second old, by
//! [`EntryLog::sync_if_due`] (real fsyncs, through [`super::durable`]), through a second handle
//! on the file: a sync holds no lock a reader or a writer takes, so neither waits for the disk.

use std::collections::{BTreeMap, HashMap};
use std::fs::{File, OpenOptions};
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant};

use kith_protocol::entry::{MAX_ENTRY_BYTES, REPLY_BODY_KIND};
use kith_protocol::{Body, Entry, EntryHash, MemberId};

use super::{StoreError, durable};

/// The file's name in the store's folder (sled only claims `conf`, `db`, `blobs/`, `snap.*`).
pub(super) const FILE_NAME: &str = "entries.kith";
/// Length (4 bytes) and hash prefix (8 bytes) before each entry's bytes.
const RECORD_HEADER: usize = 12;
/// [`EntryLog::sync_if_due`] syncs the file when the last sync is older than this (sled flushes
/// its own log about as often).
const SYNC_EVERY: Duration = Duration::from_secs(1);
/// Bytes read at a time when records are read in order.
const READ_CHUNK: usize = 256 * 1024;

/// The entry file and what is known of it in memory.
pub(super) struct EntryLog {
    path: PathBuf,
    state: RwLock<State>,
    writer: Mutex<()>,
    /// The file's handle for fsyncs, and when the last one started: taken by syncs alone.
    syncing: Mutex<Syncing>,
    /// Tests: the next sync says it started, then waits for a go (see [`EntryLog::hold_next_sync`]).
    #[cfg(test)]
    held: Mutex<Option<(std::sync::mpsc::Sender<()>, std::sync::mpsc::Receiver<()>)>>,
}

/// The handle syncs go through (a clone of [`State::file`]'s), apart from the state's lock.
struct Syncing {
    file: File,
    synced_at: Instant,
}

struct State {
    file: File,
    /// Where each record starts, by position.
    starts: Starts,
    /// Damaged bytes skipped at open: position → how many bytes lie just before its record.
    holes: BTreeMap<usize, u64>,
    /// Where the next record goes: the file's used length.
    end: u64,
    hashes: HashIndex,
    /// Each author's seqs → positions.
    logs: HashMap<MemberId, LogPlaces>,
    /// The replies to each post held here.
    replies: ReplyIndex,
}

/// How many records there were before an append, to take it back with [`EntryLog::forget`].
#[derive(Debug, Clone, Copy)]
pub(super) struct Mark {
    count: u64,
    end: u64,
}

impl EntryLog {
    /// Opens (creating) the file at `path`, reads every record into the in-memory indexes,
    /// skips a damaged record that a whole one follows, and cuts the file after the last whole,
    /// well-formed record. Returns the log and how many bytes were cut or skipped (0 unless a
    /// write was torn or the file damaged).
    pub(super) fn open(path: &Path) -> Result<(EntryLog, u64), StoreError> {
        let created = !path.exists();
        let file = OpenOptions::new().read(true).write(true).create(true).truncate(false).open(path)?;
        if created && let Some(folder) = path.parent() {
            // A new file's name reaches the disk with its folder.
            durable::sync_dir(folder)?;
        }
        let length = file.metadata()?.len();
        let mut state = State::new(file);
        let mut reader = BufReader::with_capacity(READ_CHUNK, state.file.try_clone()?);
        let mut lost = 0u64;
        // One buffer for every record; the hash index is built once all are read.
        let mut bytes = Vec::new();
        let mut slots = Vec::new();
        // Each reply's post by the first 8 bytes of its hash, found once the index is built.
        let mut answered = Vec::new();
        loop {
            if let Some((hash, header)) = read_located_record(&mut reader, &mut bytes)? {
                let start = state.end;
                state.end += (RECORD_HEADER + bytes.len()) as u64;
                let position = state.starts.len() as u64;
                let Ok(position) = u32::try_from(position).map(Position) else {
                    return Err(StoreError::Decode(format!("the entry file holds more than {position} entries")));
                };
                slots.push(Slot { prefix: HashIndex::prefix(&hash), position });
                if header.body_kind == REPLY_BODY_KIND
                    && let Ok(Body::Reply { post, .. }) = Entry::stored_body(&bytes)
                {
                    answered.push(Slot { prefix: HashIndex::prefix(&post), position });
                }
                state.place(header.author, header.seq, start);
                continue;
            }
            if state.end >= length {
                break;
            }
            // A record that does not check out: skip it if a whole record follows, else it is
            // a torn tail.
            let Some(next) = next_whole_record(&state.file, state.end + 1, length)? else { break };
            tracing::warn!(
                at = state.end,
                bytes = next - state.end,
                "a damaged record in the middle of the entry file is skipped; sync fetches its entry again"
            );
            lost += next - state.end;
            state.holes.insert(state.starts.len(), next - state.end);
            state.end = next;
            reader.seek(SeekFrom::Start(next))?;
        }
        state.hashes = HashIndex::build(slots, |position| {
            let bytes = state.record(u64::from(position.0))?;
            Ok(Entry::locate(&bytes).map_err(|e| StoreError::Decode(format!("stored entry: {e}")))?.0)
        })?;
        state.replies = state.answered_posts(answered)?;
        state.starts.shrink_to_fit();
        for log in state.logs.values_mut() {
            log.positions.shrink_to_fit();
        }
        let cut = length - state.end;
        if cut > 0 {
            state.file.set_len(state.end)?;
            durable::sync_file(&state.file, path)?;
        }
        let syncing = Syncing { file: state.file.try_clone()?, synced_at: Instant::now() };
        let log = EntryLog {
            path: path.to_path_buf(),
            state: RwLock::new(state),
            writer: Mutex::new(()),
            syncing: Mutex::new(syncing),
            #[cfg(test)]
            held: Mutex::new(None),
        };
        Ok((log, cut + lost))
    }

    /// The first whole record of the file at `path`, without opening it for writing: what a
    /// store whose sled files are damaged starts again from (its Genesis).
    pub(super) fn first_entry(path: &Path) -> Result<Option<Entry>, StoreError> {
        match File::open(path) {
            Ok(file) => read_checked_record(&mut BufReader::new(file)),
            Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(error) => Err(error.into()),
        }
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
            Some(start) => Some(start),
            None if position == state.starts.len() as u64 => Some(state.end),
            None => None,
        }
    }

    /// The entry at `position` (in the order the entries were applied).
    pub(super) fn at_position(&self, position: u64) -> Result<Option<Entry>, StoreError> {
        let state = self.read();
        if position >= state.starts.len() as u64 {
            return Ok(None);
        }
        decode(state.record(position)?).map(Some)
    }

    /// The applied entry with this hash.
    pub(super) fn get(&self, hash: &EntryHash) -> Result<Option<Entry>, StoreError> {
        let state = self.read();
        let Some(position) = state.hashes.candidate(hash) else { return Ok(None) };
        let entry = decode(state.record(position)?)?;
        // The index may name an entry whose hash only starts like this one.
        Ok((entry.hash() == *hash).then_some(entry))
    }

    /// The position of the applied entry with this hash (its record read to check the hash
    /// whole, as [`EntryLog::get`] does, without decoding its body).
    pub(super) fn position_of(&self, hash: &EntryHash) -> Result<Option<u64>, StoreError> {
        let state = self.read();
        let Some(position) = state.hashes.candidate(hash) else { return Ok(None) };
        let (found, _) = Entry::locate(&state.record(position)?)
            .map_err(|e| StoreError::Decode(format!("stored entry at position {position}: {e}")))?;
        Ok((found == *hash).then_some(position))
    }

    /// The positions of the replies to the post at `post`, in the order they were stored.
    pub(super) fn replies_to(&self, post: u64) -> Vec<u64> {
        match u32::try_from(post) {
            Ok(post) => self.read().replies.replies_to(post),
            Err(_) => Vec::new(),
        }
    }

    /// The entry at `author`'s `seq`.
    pub(super) fn entry_at(&self, author: &MemberId, seq: u64) -> Result<Option<Entry>, StoreError> {
        let state = self.read();
        match state.logs.get(author).and_then(|log| log.get(seq)) {
            Some(position) => decode(state.record(position)?).map(Some),
            None => Ok(None),
        }
    }

    /// The last entry of `author`'s log.
    pub(super) fn last_of(&self, author: &MemberId) -> Result<Option<Entry>, StoreError> {
        let state = self.read();
        match state.logs.get(author).and_then(LogPlaces::last) {
            Some(position) => decode(state.record(position)?).map(Some),
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
        for position in log.from(from_seq).take(limit) {
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
        let start = state.start(from)?;
        let mut stop = from;
        let mut page = PageBudget::new(max_bytes);
        while stop < to && page.takes((state.end_of(stop) - state.start(stop)?) as usize - RECORD_HEADER) {
            stop += 1;
        }
        if stop == from {
            return Ok(Vec::new());
        }
        let mut buf = vec![0u8; (state.end_of(stop - 1) - start) as usize];
        read_at(&state.file, &mut buf, start)?;
        let mut out = Vec::with_capacity(stop - from);
        for position in from..stop {
            // Records follow each other, but for bytes skipped as damaged at open.
            let from = state.start(position)?;
            let (at, len) = ((from - start) as usize, (state.end_of(position) - from) as usize);
            out.push(record_bytes(&buf[at..at + len], position as u64)?.to_vec());
        }
        Ok(out)
    }

    /// Every entry from `first` on, in position order, read a chunk at a time.
    pub(super) fn records_from(&self, first: u64) -> Records<'_> {
        let state = self.read();
        let position = usize::try_from(first).unwrap_or(usize::MAX).min(state.starts.len());
        Records { log: self, position, count: state.starts.len(), buf: Vec::new(), buf_start: 0 }
    }

    /// Appends `entries` after the last record and indexes them. The caller has checked that
    /// none is already here at its place. Syncs nothing ([`EntryLog::sync_if_due`] does, without
    /// the caller's locks). Returns a mark to take the append back with.
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
        Ok(mark)
    }

    /// Takes back an append (`entries` are what it appended): the next append writes over it.
    pub(super) fn forget(&self, mark: Mark, entries: &[&Entry]) {
        let mut state = self.write();
        for entry in entries {
            state.hashes.remove(&entry.hash());
            if let Some(log) = state.logs.get_mut(&entry.author()) {
                log.remove(entry.seq());
            }
        }
        state.starts.truncate(mark.count as usize);
        let kept = state.starts.len();
        state.replies.forget_from(kept);
        state.holes.retain(|position, _| *position < kept);
        state.end = mark.end;
    }

    /// Writes the file to the disk and waits for it (an fsync): every append made before it
    /// is durable once it returns. Readers and writers go on meanwhile (it can take a second
    /// on an SD card).
    pub(super) fn sync(&self) -> Result<(), StoreError> {
        let mut syncing = self.syncing.lock().unwrap_or_else(PoisonError::into_inner);
        self.fsync(&mut syncing)
    }

    /// [`EntryLog::sync`] if the last sync started [`SYNC_EVERY`] ago or more (entries from
    /// peers: what a power cut loses of them is fetched again).
    pub(super) fn sync_if_due(&self) -> Result<(), StoreError> {
        let mut syncing = self.syncing.lock().unwrap_or_else(PoisonError::into_inner);
        if syncing.synced_at.elapsed() < SYNC_EVERY {
            return Ok(());
        }
        self.fsync(&mut syncing)
    }

    fn fsync(&self, syncing: &mut Syncing) -> Result<(), StoreError> {
        syncing.synced_at = Instant::now();
        #[cfg(test)]
        self.wait_if_held()?;
        durable::sync_file(&syncing.file, &self.path)?;
        Ok(())
    }

    /// Tests: the next sync is due now, and once started it sends on `started` and waits for
    /// `go` (and fails after 5 s without it), to see who waits for it.
    #[cfg(test)]
    pub(super) fn hold_next_sync(&self, started: std::sync::mpsc::Sender<()>, go: std::sync::mpsc::Receiver<()>) {
        let mut syncing = self.syncing.lock().unwrap_or_else(PoisonError::into_inner);
        syncing.synced_at = Instant::now().checked_sub(SYNC_EVERY).unwrap_or(syncing.synced_at);
        *self.held.lock().unwrap_or_else(PoisonError::into_inner) = Some((started, go));
    }

    #[cfg(test)]
    fn wait_if_held(&self) -> Result<(), StoreError> {
        let held = self.held.lock().unwrap_or_else(PoisonError::into_inner).take();
        if let Some((started, go)) = held {
            let _ = started.send(());
            if go.recv_timeout(Duration::from_secs(5)).is_err() {
                return Err(StoreError::Injected);
            }
        }
        Ok(())
    }

    /// Replaces the whole file by one holding `entries` (written beside it, synced, then
    /// renamed over it, so an interruption leaves the old file or the new one).
    pub(super) fn replace(&self, entries: &[&Entry]) -> Result<(), StoreError> {
        // Syncs go through the new file's handle from the swap on (a sync under way finishes
        // first; it holds no lock a reader takes).
        let mut syncing = self.syncing.lock().unwrap_or_else(PoisonError::into_inner);
        let mut state = self.write();
        let fresh_path = self.path.with_extension("new");
        let _ = std::fs::remove_file(&fresh_path);
        let (fresh, _) = EntryLog::open(&fresh_path)?;
        fresh.append(entries)?;
        fresh.sync()?;
        let fresh_syncing = fresh.syncing.into_inner().unwrap_or_else(PoisonError::into_inner);
        let fresh = fresh.state.into_inner().unwrap_or_else(PoisonError::into_inner);
        std::fs::rename(&fresh_path, &self.path)?;
        // The rename itself reaches the disk with the folder.
        if let Some(folder) = self.path.parent() {
            durable::sync_dir(folder)?;
        }
        *state = fresh;
        *syncing = fresh_syncing;
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

    /// Tests: makes the reply index again as an open does (each reply's post found by the
    /// first 8 bytes of its hash), with the hash index as it is now.
    #[cfg(test)]
    pub(super) fn index_replies_again(&self) -> Result<(), StoreError> {
        let mut answered = Vec::new();
        for (position, entry) in self.records_from(0).enumerate() {
            if let Body::Reply { post, .. } = entry?.body() {
                answered.push(Slot { prefix: HashIndex::prefix(post), position: Position::of(position as u64) });
            }
        }
        let replies = self.read().answered_posts(answered)?;
        self.write().replies = replies;
        Ok(())
    }
}

impl State {
    fn new(file: File) -> State {
        State {
            file,
            starts: Starts::default(),
            holes: BTreeMap::new(),
            end: 0,
            hashes: HashIndex::default(),
            logs: HashMap::new(),
            replies: ReplyIndex::default(),
        }
    }

    fn index(&mut self, entry: &Entry, start: u64) {
        let position = self.starts.len() as u64;
        // A reply to a post not here (of a frozen log) is listed under none.
        if let Body::Reply { post, .. } = entry.body()
            && let Some(post) = self.hashes.candidate(post)
        {
            self.replies.insert(Position::of(post).0, Position::of(position).0);
        }
        self.hashes.insert(entry.hash(), position);
        self.place(entry.author(), entry.seq(), start);
    }

    /// The reply index of the replies read at open, each given with the first 8 bytes of its
    /// post's hash. A prefix that two entries here share is no proof of which post it is: the
    /// reply is read again for its post's whole hash.
    fn answered_posts(&self, answered: Vec<Slot>) -> Result<ReplyIndex, StoreError> {
        let shared: std::collections::HashSet<u64> = self.hashes.collided.keys().map(HashIndex::prefix).collect();
        let mut pairs = Vec::with_capacity(answered.len());
        for Slot { prefix, position: reply } in answered {
            let post = if shared.contains(&{ prefix }) {
                match decode(self.record(u64::from(reply.0))?)?.body() {
                    Body::Reply { post, .. } => self.hashes.candidate(post),
                    _ => None,
                }
            } else {
                self.hashes.by_prefix(prefix)
            };
            if let Some(post) = post {
                pairs.push((Position::of(post).0, reply.0));
            }
        }
        Ok(ReplyIndex::build(pairs))
    }

    /// Records where the next record starts and its (author, seq) place.
    fn place(&mut self, author: MemberId, seq: u64, start: u64) {
        let position = self.starts.len() as u64;
        self.starts.push(start);
        self.logs.entry(author).or_default().insert(seq, position);
    }

    /// Where the record at `position` ends (bytes skipped as damaged after it excluded).
    fn end_of(&self, position: usize) -> u64 {
        let next = self.starts.get(position + 1).unwrap_or(self.end);
        next - self.holes.get(&(position + 1)).copied().unwrap_or(0)
    }

    /// Where the record at `index` starts; an error if there is none (an index past the end).
    fn start(&self, index: usize) -> Result<u64, StoreError> {
        self.starts
            .get(index)
            .ok_or_else(|| StoreError::Decode(format!("entry position {index} is indexed but not stored")))
    }

    /// The wire bytes of the record at `position`.
    fn record(&self, position: u64) -> Result<Vec<u8>, StoreError> {
        let index = usize::try_from(position).unwrap_or(usize::MAX);
        let start = self.start(index)?;
        let mut buf = vec![0u8; (self.end_of(index) - start) as usize];
        read_at(&self.file, &mut buf, start)?;
        Ok(record_bytes(&buf, position)?.to_vec())
    }
}

/// The byte budget of a sync page: an entry is taken unless it would take the page past
/// `max_bytes`, and the first one always is (a page is never empty for want of room).
pub(crate) struct PageBudget {
    taken: usize,
    bytes: usize,
    max_bytes: usize,
}

impl PageBudget {
    pub(crate) fn new(max_bytes: usize) -> PageBudget {
        PageBudget { taken: 0, bytes: 0, max_bytes }
    }

    /// Whether an entry of `len` bytes fits; if so it is counted.
    pub(crate) fn takes(&mut self, len: usize) -> bool {
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
    /// The next record's position, and how many there were when reading began.
    position: usize,
    count: usize,
    buf: Vec<u8>,
    /// Where in the file `buf` starts.
    buf_start: u64,
}

impl Records<'_> {
    /// Makes `buf` hold the bytes from `from` to `to`, reading a chunk if needed.
    fn fill(&mut self, from: u64, to: u64) -> Result<(), StoreError> {
        if from >= self.buf_start && to <= self.buf_start + self.buf.len() as u64 {
            return Ok(());
        }
        let state = self.log.read();
        let want = (to - from).max(READ_CHUNK as u64).min(state.end.saturating_sub(from)) as usize;
        if (want as u64) < to - from {
            return Err(StoreError::Decode(format!("the entry file ends inside a record at byte {from}")));
        }
        self.buf.resize(want, 0);
        read_at(&state.file, &mut self.buf, from)?;
        self.buf_start = from;
        Ok(())
    }
}

impl Iterator for Records<'_> {
    type Item = Result<Entry, StoreError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.position >= self.count {
            return None;
        }
        let mut step = || -> Result<Entry, StoreError> {
            let (from, to) = {
                let state = self.log.read();
                match state.starts.get(self.position) {
                    Some(start) => (start, state.end_of(self.position)),
                    None => return Err(StoreError::Decode("the entry file was replaced while it was read".into())),
                }
            };
            self.fill(from, to)?;
            let at = (from - self.buf_start) as usize;
            let bytes = record_bytes(&self.buf[at..at + (to - from) as usize], from)?.to_vec();
            self.position += 1;
            decode(bytes)
        };
        let item = step();
        if item.is_err() {
            // Stop after an error rather than read garbage as records.
            self.position = self.count;
        }
        Some(item)
    }
}

/// One author's entries by seq: the position of entry `seq` at `positions[seq - first]`
/// ([`NO_ENTRY`] where the file holds none: a record skipped as damaged, an append taken back).
/// An applied log has no gaps, so this is 4 bytes an entry (a map from seq took ~32).
#[derive(Debug, Default)]
struct LogPlaces {
    first: u64,
    positions: Vec<Position>,
}

/// A record's position as the indexes keep it: 4 bytes (a file of more than 4 billion records
/// is refused at open; an append past that is not indexed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Position(u32);

/// A seq of a log whose entry the file does not hold.
const NO_ENTRY: Position = Position(u32::MAX);

impl Position {
    fn of(position: u64) -> Position {
        u32::try_from(position).map_or(NO_ENTRY, Position)
    }

    fn held(self) -> Option<u64> {
        (self != NO_ENTRY).then_some(u64::from(self.0))
    }
}

impl LogPlaces {
    fn get(&self, seq: u64) -> Option<u64> {
        let index = usize::try_from(seq.checked_sub(self.first)?).ok()?;
        self.positions.get(index).and_then(|position| position.held())
    }

    /// The position of the last entry held.
    fn last(&self) -> Option<u64> {
        self.positions.last().and_then(|position| position.held())
    }

    /// The positions of the entries held from `seq` on, in seq order.
    fn from(&self, seq: u64) -> impl Iterator<Item = u64> + '_ {
        let skip = usize::try_from(seq.saturating_sub(self.first)).unwrap_or(usize::MAX);
        self.positions.iter().skip(skip).filter_map(|position| position.held())
    }

    fn insert(&mut self, seq: u64, position: u64) {
        let position = Position::of(position);
        if self.positions.is_empty() {
            self.first = seq;
        }
        if seq < self.first {
            // An entry before the first held (one skipped as damaged, fetched again).
            let before = usize::try_from(self.first - seq).unwrap_or(usize::MAX);
            self.positions.splice(0..0, std::iter::repeat_n(NO_ENTRY, before));
            self.first = seq;
        }
        let index = usize::try_from(seq - self.first).unwrap_or(usize::MAX);
        if index >= self.positions.len() {
            self.positions.resize(index + 1, NO_ENTRY);
        }
        self.positions[index] = position;
    }

    fn remove(&mut self, seq: u64) {
        if let Some(slot) = seq
            .checked_sub(self.first)
            .and_then(|index| usize::try_from(index).ok())
            .and_then(|index| self.positions.get_mut(index))
        {
            *slot = NO_ENTRY;
        }
        while self.positions.last() == Some(&NO_ENTRY) {
            self.positions.pop();
        }
    }
}

/// Where each record starts, in 4 bytes a record rather than 8 (4 MB at a million entries,
/// issue 17 §4): the start of every [`STARTS_BLOCK`]th record in full, and each record's
/// distance from its block's first one. A block of records spans at most a few hundred
/// megabytes; a distance that does not fit a `u32` anyway (damaged bytes skipped at open can
/// make a block as long as they are) is kept in full in `far`.
#[derive(Debug, Default)]
struct Starts {
    /// The start of record `block * STARTS_BLOCK`, for each block begun.
    bases: Vec<u64>,
    /// Each record's start less its block's base, or [`FAR`] if it is in `far`.
    offsets: Vec<u32>,
    far: BTreeMap<usize, u64>,
}

/// Records per block of [`Starts`].
const STARTS_BLOCK: usize = 1024;
/// The distance [`Starts`] records for a start kept in full.
const FAR: u32 = u32::MAX;

impl Starts {
    fn len(&self) -> usize {
        self.offsets.len()
    }

    fn get(&self, index: usize) -> Option<u64> {
        let offset = *self.offsets.get(index)?;
        if offset == FAR {
            return self.far.get(&index).copied();
        }
        Some(self.bases.get(index / STARTS_BLOCK)? + u64::from(offset))
    }

    fn push(&mut self, start: u64) {
        let index = self.offsets.len();
        if index.is_multiple_of(STARTS_BLOCK) {
            self.bases.truncate(index / STARTS_BLOCK);
            self.bases.push(start);
        }
        let base = self.bases.last().copied().unwrap_or(start);
        match start.checked_sub(base).and_then(|offset| u32::try_from(offset).ok()).filter(|offset| *offset != FAR) {
            Some(offset) => self.offsets.push(offset),
            None => {
                self.far.insert(index, start);
                self.offsets.push(FAR);
            }
        }
    }

    /// Keeps the first `len` starts.
    fn truncate(&mut self, len: usize) {
        self.offsets.truncate(len);
        self.bases.truncate(len.div_ceil(STARTS_BLOCK));
        self.far.retain(|index, _| *index < len);
    }

    fn shrink_to_fit(&mut self) {
        self.offsets.shrink_to_fit();
        self.bases.shrink_to_fit();
    }
}

/// The replies to each post held, as (post, reply) positions: most in one sorted vector (8
/// bytes a reply), built at open, the latest in a small set merged into it as it grows, as
/// [`HashIndex`] keeps hashes. Nothing of it is stored: at open each reply's post is read from
/// its record (the records' headers say which are replies). A reply the file holds whose post
/// it does not (one of a frozen log) is in none. Redacted replies stay: the reducer knows them.
#[derive(Debug, Default)]
struct ReplyIndex {
    sorted: Vec<(u32, u32)>,
    recent: std::collections::BTreeSet<(u32, u32)>,
}

impl ReplyIndex {
    fn build(mut pairs: Vec<(u32, u32)>) -> ReplyIndex {
        pairs.sort_unstable();
        pairs.dedup();
        pairs.shrink_to_fit();
        ReplyIndex { sorted: pairs, recent: Default::default() }
    }

    fn insert(&mut self, post: u32, reply: u32) {
        self.recent.insert((post, reply));
        if self.recent.len() > RECENT_MERGED_AT.max(self.sorted.len() / 8) {
            self.sorted =
                merge_sorted(std::mem::take(&mut self.sorted), std::mem::take(&mut self.recent), |pair| *pair);
        }
    }

    /// Forgets the replies at positions `from` and after (an append taken back).
    fn forget_from(&mut self, from: usize) {
        let kept = |(_, reply): &(u32, u32)| (*reply as usize) < from;
        self.recent.retain(kept);
        self.sorted.retain(kept);
    }

    fn replies_to(&self, post: u32) -> Vec<u64> {
        let from = self.sorted.partition_point(|(p, _)| *p < post);
        let older = self.sorted[from..].iter().take_while(|(p, _)| *p == post);
        let mut replies: Vec<u64> =
            older.chain(self.recent.range((post, 0)..=(post, u32::MAX))).map(|(_, reply)| u64::from(*reply)).collect();
        replies.sort_unstable();
        replies
    }
}

/// `old` and `recent`, both in the order of `key`, in one vector in that order (an index's
/// sorted part and the entries added since, [`HashIndex`], [`ReplyIndex`]).
fn merge_sorted<T, K: Ord>(old: Vec<T>, recent: impl IntoIterator<Item = T>, key: impl Fn(&T) -> K) -> Vec<T> {
    let recent = recent.into_iter();
    let mut merged = Vec::with_capacity(old.len() + recent.size_hint().0);
    let (mut old, mut recent) = (old.into_iter().peekable(), recent.peekable());
    loop {
        let next = match (old.peek(), recent.peek()) {
            (Some(a), Some(b)) if key(a) <= key(b) => old.next(),
            (_, Some(_)) => recent.next(),
            (Some(_), None) => old.next(),
            (None, None) => break,
        };
        merged.extend(next);
    }
    merged
}

/// Applied entries by hash: the first 8 bytes of a hash → its position, and the whole hash for
/// the rare entry whose first 8 bytes another one already has. Most prefixes sit in one sorted
/// vector (12 bytes an entry; a hash map of them took ~35 at a million), built at open, the
/// latest in a small map merged into it as it grows. A lookup reads the record and checks its
/// hash.
#[derive(Debug, Default)]
struct HashIndex {
    sorted: Vec<Slot>,
    recent: HashMap<u64, Position>,
    collided: HashMap<EntryHash, Position>,
}

/// A prefix and its record's position, in 12 bytes (16 with the padding a `(u64, u32)` has).
#[derive(Debug, Clone, Copy)]
#[repr(C, packed(4))]
struct Slot {
    prefix: u64,
    position: Position,
}

/// `recent` is merged into `sorted` beyond this many entries, or an eighth of `sorted`.
const RECENT_MERGED_AT: usize = 1 << 16;

impl HashIndex {
    fn prefix(hash: &EntryHash) -> u64 {
        let mut first = [0u8; 8];
        first.copy_from_slice(&hash.0[..8]);
        u64::from_le_bytes(first)
    }

    fn by_prefix(&self, prefix: u64) -> Option<u64> {
        let position = match self.recent.get(&prefix) {
            Some(position) => *position,
            None => {
                let at = self.sorted.binary_search_by_key(&prefix, |slot| slot.prefix).ok()?;
                self.sorted[at].position
            }
        };
        position.held()
    }

    /// The index of the records whose prefixes and positions are `slots` (in any order), built
    /// at once: sorted, and the positions after the first of each prefix kept by their whole
    /// hash (`hash_at` reads it).
    fn build(
        mut slots: Vec<Slot>,
        mut hash_at: impl FnMut(Position) -> Result<EntryHash, StoreError>,
    ) -> Result<HashIndex, StoreError> {
        slots.sort_unstable_by_key(|slot| (slot.prefix, slot.position));
        let mut collided = HashMap::new();
        let mut kept = 0;
        for at in 0..slots.len() {
            let slot = slots[at];
            if kept > 0 && slots[kept - 1].prefix == slot.prefix {
                collided.insert(hash_at(slot.position)?, slot.position);
            } else {
                slots[kept] = slot;
                kept += 1;
            }
        }
        slots.truncate(kept);
        slots.shrink_to_fit();
        Ok(HashIndex { sorted: slots, recent: HashMap::new(), collided })
    }

    /// Records an entry not yet in the index (the store never applies a hash twice).
    fn insert(&mut self, hash: EntryHash, position: u64) {
        let position = Position::of(position);
        let prefix = Self::prefix(&hash);
        if self.by_prefix(prefix).is_some() {
            self.collided.insert(hash, position);
            return;
        }
        self.recent.insert(prefix, position);
        if self.recent.len() > RECENT_MERGED_AT.max(self.sorted.len() / 8) {
            self.merge();
        }
    }

    /// Moves `recent` into `sorted`.
    fn merge(&mut self) {
        let mut recent: Vec<Slot> = self.recent.drain().map(|(prefix, position)| Slot { prefix, position }).collect();
        recent.sort_unstable_by_key(|slot| slot.prefix);
        self.sorted = merge_sorted(std::mem::take(&mut self.sorted), recent, |slot| slot.prefix);
        self.recent.shrink_to_fit();
    }

    /// Forgets an entry (an append taken back). A prefix slot is freed only if no other
    /// entry shares it.
    fn remove(&mut self, hash: &EntryHash) {
        if self.collided.remove(hash).is_some() {
            return;
        }
        let prefix = Self::prefix(hash);
        if self.recent.remove(&prefix).is_none()
            && let Ok(at) = self.sorted.binary_search_by_key(&prefix, |slot| slot.prefix)
        {
            self.sorted.remove(at);
        }
    }

    /// The position of the entry that may be `hash`.
    fn candidate(&self, hash: &EntryHash) -> Option<u64> {
        match self.collided.get(hash) {
            Some(position) => position.held(),
            None => self.by_prefix(Self::prefix(hash)),
        }
    }
}

/// Reads the next record into `bytes` and checks it without decoding its body
/// ([`Entry::locate`]: the envelope and header decode, the payload matches the header, the hash
/// starts with the record's 8 bytes); its hash and header, or `None` at the end of the file or
/// at the first record that is torn or does not check out.
fn read_located_record(
    reader: &mut impl Read,
    bytes: &mut Vec<u8>,
) -> Result<Option<(EntryHash, kith_protocol::entry::Header)>, StoreError> {
    let mut header = [0u8; RECORD_HEADER];
    if !read_whole(reader, &mut header)? {
        return Ok(None);
    }
    let len = record_len(&header);
    if len == 0 || len > MAX_ENTRY_BYTES {
        return Ok(None);
    }
    bytes.resize(len, 0);
    if !read_whole(reader, bytes)? {
        return Ok(None);
    }
    match Entry::locate(bytes) {
        Ok((hash, located)) if hash.0[..8] == header[4..] => Ok(Some((hash, located))),
        _ => Ok(None),
    }
}

/// Reads the next record and checks it; `None` at the end of the file or at the first record
/// that is torn or does not check out.
fn read_checked_record(reader: &mut impl Read) -> Result<Option<Entry>, StoreError> {
    let mut bytes = Vec::new();
    if read_located_record(reader, &mut bytes)?.is_none() {
        return Ok(None);
    }
    Ok(Entry::decode_unverified(bytes).ok())
}

/// Where the first whole, well-formed record at or after `from` starts, if there is one
/// before `length`. Tries every byte: only used past damage, and a record checks out only if
/// its bytes decode and their hash starts with its 8 header bytes.
fn next_whole_record(file: &File, from: u64, length: u64) -> Result<Option<u64>, StoreError> {
    let mut header = [0u8; RECORD_HEADER];
    for at in from..length.saturating_sub(RECORD_HEADER as u64) {
        read_at(file, &mut header, at)?;
        let len = record_len(&header);
        if len == 0 || len > MAX_ENTRY_BYTES || at + (RECORD_HEADER + len) as u64 > length {
            continue;
        }
        let mut bytes = vec![0u8; len];
        read_at(file, &mut bytes, at + RECORD_HEADER as u64)?;
        if let Ok((hash, _)) = Entry::locate(&bytes)
            && hash.0[..8] == header[4..]
        {
            return Ok(Some(at));
        }
    }
    Ok(None)
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

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn hash(n: u64) -> EntryHash {
        EntryHash(*blake3::hash(&n.to_le_bytes()).as_bytes())
    }

    proptest::proptest! {
        /// Whatever the records' lengths (a damaged stretch skipped at open can be longer than
        /// a `u32` counts) and however many are taken back, the starts read back are the ones
        /// pushed.
        #[test]
        fn record_starts_read_back_as_pushed(
            steps in proptest::collection::vec((1u64..70_000, proptest::bool::weighted(0.01), 0usize..3000), 1..4000),
        ) {
            let (mut starts, mut plain) = (Starts::default(), Vec::<u64>::new());
            let mut end = 0u64;
            for (length, far, keep) in steps {
                // Now and then a record lies past a long damaged stretch, or some are taken back.
                end += if far { u64::from(u32::MAX) + length } else { length };
                starts.push(end);
                plain.push(end);
                if keep < 20 {
                    let kept = plain.len().saturating_sub(keep * 60);
                    starts.truncate(kept);
                    plain.truncate(kept);
                    end = plain.last().copied().unwrap_or(0);
                }
            }
            proptest::prop_assert_eq!(starts.len(), plain.len());
            for (index, start) in plain.iter().enumerate() {
                proptest::prop_assert_eq!(starts.get(index), Some(*start), "record {}", index);
            }
            proptest::prop_assert_eq!(starts.get(plain.len()), None);
        }
    }

    #[test]
    fn the_reply_index_lists_each_post_s_replies_across_its_merges_and_forgets_an_append() {
        let mut index = ReplyIndex::build(vec![(3, 9), (1, 4), (3, 5)]);
        let mut model: std::collections::BTreeSet<(u32, u32)> = [(3, 9), (1, 4), (3, 5)].into();
        let count = 3 * RECENT_MERGED_AT as u32;
        for reply in 10..count {
            // Replies to a few hundred posts, new and old, as a board gets them.
            let post = (reply.wrapping_mul(2_654_435_761) >> 7) % (reply / 50 + 1).min(400);
            index.insert(post, reply);
            model.insert((post, reply));
        }
        assert!(index.sorted.len() > RECENT_MERGED_AT, "no merge happened");
        let listed = |index: &ReplyIndex, model: &std::collections::BTreeSet<(u32, u32)>| {
            for post in 0..402 {
                let wanted: Vec<u64> = model.range((post, 0)..=(post, u32::MAX)).map(|(_, r)| u64::from(*r)).collect();
                assert_eq!(index.replies_to(post), wanted, "post {post}");
            }
        };
        listed(&index, &model);
        // Back past the last merge: some of them are in the sorted part.
        index.forget_from(count as usize - 100_000);
        model.retain(|(_, reply)| *reply < count - 100_000);
        listed(&index, &model);
    }

    #[test]
    fn the_hash_index_finds_every_entry_across_its_merges() {
        let mut index = HashIndex::default();
        let count = 3 * RECENT_MERGED_AT as u64;
        for n in 0..count {
            index.insert(hash(n), n);
        }
        assert!(index.sorted.len() > RECENT_MERGED_AT, "no merge happened");
        for n in 0..count {
            assert_eq!(index.candidate(&hash(n)), Some(n), "entry {n} lost");
        }
        // A hash sharing an indexed one's first 8 bytes is kept whole.
        let mut lookalike = hash(5);
        lookalike.0[31] ^= 1;
        index.insert(lookalike, count);
        assert_eq!(index.candidate(&lookalike), Some(count));
        assert_eq!(index.candidate(&hash(5)), Some(5));
        index.remove(&lookalike);
        index.remove(&hash(7));
        assert_eq!(index.candidate(&hash(5)), Some(5));
        assert_eq!(index.candidate(&hash(7)), None);
        assert_eq!(index.candidate(&hash(count + 1)), None);
    }

    #[test]
    fn the_hash_index_built_at_once_finds_what_one_built_entry_by_entry_finds() {
        let count = 1_000u64;
        let mut hashes: Vec<EntryHash> = (0..count).map(hash).collect();
        // Three sharing a prefix with earlier ones (kept whole), one of them sharing it twice.
        for (n, like) in [(0u8, 5usize), (1, 5), (2, 700)] {
            let mut lookalike = hashes[like];
            lookalike.0[31] ^= 1 << n;
            hashes.push(lookalike);
        }
        let mut one_by_one = HashIndex::default();
        let mut slots = Vec::new();
        for (position, hash) in hashes.iter().enumerate() {
            one_by_one.insert(*hash, position as u64);
            slots.push(Slot { prefix: HashIndex::prefix(hash), position: Position(position as u32) });
        }
        slots.reverse();
        let built = HashIndex::build(slots, |position| Ok(hashes[position.0 as usize])).unwrap();
        assert_eq!(built.collided.len(), 3);
        for hash in &hashes {
            assert_eq!(built.candidate(hash), one_by_one.candidate(hash));
        }
        assert_eq!(built.candidate(&hash(count + 1)), None);
    }

    #[test]
    fn a_log_s_places_hold_gaps_and_entries_before_the_first() {
        let mut log = LogPlaces::default();
        log.insert(3, 30);
        log.insert(5, 50);
        assert_eq!((log.get(3), log.get(4), log.get(5), log.get(2)), (Some(30), None, Some(50), None));
        log.insert(1, 10);
        assert_eq!(log.from(0).collect::<Vec<_>>(), [10, 30, 50]);
        assert_eq!(log.from(4).collect::<Vec<_>>(), [50]);
        assert_eq!(log.last(), Some(50));
        log.remove(5);
        assert_eq!(log.last(), Some(30));
        assert_eq!(log.get(5), None);
    }
}
