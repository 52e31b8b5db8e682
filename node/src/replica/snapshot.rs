//! A snapshot of the reducer's state, so that a start does not replay every entry (issue 17
//! §4): written at start after a long replay and when the node stops, once the reducer holds
//! [`SNAPSHOT_AFTER`] applied entries more than the snapshot kept; read back at every rebuild.
//!
//! The entry file stays the truth. A snapshot counts only if it is whole (the store checks its
//! checksum), names the entries it was made from as the first ones of the entry file (their
//! count, where the next starts, the last one's hash: the store checks), was written by this
//! kith in this format, its state has the digest written with it, and it holds the store's fork
//! proofs exactly. Then the entries the file holds after those, the frozen and the waiting
//! entries are fed to it as a rebuild feeds them; if one of them shows a fork, or anything
//! else fails, every entry is replayed as before. The state is a function of the set of
//! entries, so the two ways give the same state (tested in `replica.rs`).

use kith_protocol::{Community, Entry, ForkProof, Outcome};
use serde::{Deserialize, Serialize};

use super::ReplicaError;
use crate::storage::Storage;

/// The snapshot's layout: raise it when [`Community`]'s fields change (a snapshot of another
/// layout that still reads is also caught by its digest). 3: people named by their place,
/// applied entries by the prefix of their hash, replies without records. 4: the open join
/// requests' bytes (`open_joins`). 5: the hash prefixes as two `u32`s.
const FORMAT: u32 = 5;
/// A new snapshot is written once the reducer holds this many applied entries more than the
/// kept one covers.
pub const SNAPSHOT_AFTER: u64 = 10_000;

#[derive(Serialize)]
struct Written<'a> {
    version: &'a str,
    format: u32,
    digest: [u8; 32],
    community: &'a Community,
}

#[derive(Deserialize)]
struct Read {
    version: String,
    format: u32,
    digest: [u8; 32],
    community: Community,
}

/// Writes a snapshot of `community`, which holds what the store holds as applied (its first
/// `covers` entries: all of them). Returns false when it could not be written (the next start
/// replays).
pub(super) fn save<S: Storage>(store: &S, community: &Community, covers: u64) -> bool {
    let written = Written { version: env!("CARGO_PKG_VERSION"), format: FORMAT, digest: community.digest(), community };
    // Streamed to the file: at a million entries the encoding is ~150 MB.
    let mut encode =
        |to: &mut dyn std::io::Write| postcard::to_io(&written, to).map(drop).map_err(std::io::Error::other);
    match store.put_snapshot(covers, &mut encode) {
        Ok(()) => {
            tracing::info!(entries = covers, "wrote a snapshot of the community's state");
            true
        }
        Err(error) => {
            tracing::warn!(%error, "could not write a snapshot of the community's state");
            false
        }
    }
}

/// The state the kept snapshot and the entries stored since make, and how many applied entries
/// the snapshot covered; `None` when there is no snapshot that counts, or a fork shows (the
/// caller replays every entry).
pub(super) fn resume<S: Storage>(
    store: &S,
    genesis: &Entry,
    forks: &[ForkProof],
    now_ms: u64,
) -> Result<Option<(Community, u64)>, ReplicaError> {
    let Some((covers, state)) = store.snapshot()? else { return Ok(None) };
    let ignored = |why: &str| {
        tracing::info!(why, "the snapshot of the community's state is not used; every entry is replayed");
        Ok(None)
    };
    // Read from the file as it is decoded; the scratch holds one string or byte field at a
    // time (at most an entry's size).
    let mut scratch = vec![0u8; kith_protocol::entry::MAX_ENTRY_BYTES + 1024];
    let Ok((read, _)) = postcard::from_io::<Read, _>((state, &mut scratch)) else {
        return ignored("it does not read");
    };
    drop(scratch);
    if read.version != env!("CARGO_PKG_VERSION") || read.format != FORMAT {
        return ignored("written by another version of kith");
    }
    let mut community = read.community;
    if !community.consistent() || community.id() != genesis.community() || community.digest() != read.digest {
        return ignored("its state is not the one it was written with");
    }
    let kept: Vec<&ForkProof> = community.forks().map(|(_, proof)| proof).collect();
    if kept.len() != forks.len() || !forks.iter().all(|proof| kept.contains(&proof)) {
        return ignored("fork proofs were kept since");
    }
    let frozen = store.frozen_entries()?;
    let waiting = store.pending()?;
    let mut fed = 0u64;
    for entry in store.applied_entries_from(covers) {
        if !feed(&mut community, entry?, now_ms) {
            return ignored("a fork shows in the entries stored since");
        }
        fed += 1;
    }
    for entry in frozen.into_iter().chain(waiting) {
        if !feed(&mut community, entry, now_ms) {
            return ignored("a fork shows in the entries stored since");
        }
    }
    tracing::info!(covered = covers, since = fed, "started from a snapshot of the community's state");
    Ok(Some((community, covers)))
}

/// Feeds one stored entry; false if it shows a fork.
fn feed(community: &mut Community, entry: Entry, now_ms: u64) -> bool {
    let (outcome, report) = community.ingest(entry, now_ms);
    !matches!(outcome, Outcome::Conflict { .. }) && report.conflicts.is_empty()
}
