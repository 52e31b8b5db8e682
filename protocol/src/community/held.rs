//! Who wrote what: every person a record names as a small number (`u32`, their place in
//! `people`), each author's applied log, and the entries held by hash — compact, for a
//! community of a million entries (issue 17 §4).
//!
//! An applied entry is found by the first 8 bytes of its hash ([`Applied`]: its author's place
//! and its seq, 20 bytes in the map where the full hash took 40); the full hash is the one its
//! author's log holds at that seq, checked at every look-up. Frozen entries, and an applied entry
//! whose prefix another entry held took first (anyone can write two entries sharing 8 bytes of
//! hash with enough tries), are kept by full hash. So a look-up never takes one entry for another.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::packed::{self, SortedMap};
use crate::entry::{Entry, EntryHash};
use crate::identity::MemberId;

/// What the reducer keeps of an entry held, so small (6 bytes): its author as their place in
/// [`Held`]'s people, its kind as its variant index, whether it is part of a frozen log (kept as
/// evidence, never applied).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Place {
    pub author: u32,
    pub kind: u8,
    pub frozen: bool,
}

/// An applied entry found by its hash's prefix: its full hash is its author's log's at `seq`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct Applied {
    author: u32,
    seq: u32,
    kind: u8,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(super) struct Held {
    /// Everyone an entry held or a record names, in the order first met.
    people: Vec<MemberId>,
    /// Each one's place in `people`.
    places: BTreeMap<MemberId, u32>,
    /// Each person's applied log, by their place: the hash of entry `seq` at index `seq - 1`
    /// (applied entries always follow their log's head, so a log is a list without gaps).
    logs: Vec<Vec<EntryHash>>,
    /// Applied entries by the first 8 bytes of their hash.
    by_prefix: SortedMap<Prefix, Applied>,
    /// The other entries held (frozen ones, and applied ones whose prefix was taken), by hash.
    #[serde(deserialize_with = "packed::map")]
    others: BTreeMap<EntryHash, Place>,
}

/// The first 8 bytes of a hash, as two numbers in the hash's order: two `u32`s rather than a
/// `u64`, so that a key and its [`Applied`] take 20 bytes in the map's vector, not 24.
type Prefix = [u32; 2];

fn prefix(hash: &EntryHash) -> Prefix {
    let [a, b, c, d, e, f, g, h, ..] = hash.0;
    [u32::from_be_bytes([a, b, c, d]), u32::from_be_bytes([e, f, g, h])]
}

impl Held {
    /// `id`'s place among the people, given one if they had none.
    pub fn intern(&mut self, id: MemberId) -> u32 {
        if let Some(place) = self.places.get(&id) {
            return *place;
        }
        let place = u32::try_from(self.people.len()).unwrap_or(u32::MAX);
        self.people.push(id);
        self.logs.push(Vec::new());
        self.places.insert(id, place);
        place
    }

    /// The person at `place`.
    pub fn person(&self, place: u32) -> Option<MemberId> {
        self.people.get(place as usize).copied()
    }

    /// Whether every place the records name (`named`) is someone's, and every map agrees with
    /// `people` (what a snapshot read back must show before it is used).
    pub fn consistent(&self, mut named: impl Iterator<Item = u32>) -> bool {
        let count = self.people.len();
        let in_range = |place: u32| (place as usize) < count;
        self.logs.len() == count
            && self.places.len() == count
            && self.places.iter().all(|(id, place)| self.person(*place) == Some(*id))
            && self.by_prefix.values().all(|applied| in_range(applied.author))
            && self.others.values().all(|place| in_range(place.author))
            && named.all(in_range)
    }

    fn log_of(&self, author: u32) -> &[EntryHash] {
        self.logs.get(author as usize).map_or(&[], Vec::as_slice)
    }

    /// Whether `applied` is the entry `hash` (its log holds that hash at its seq).
    fn is(&self, applied: &Applied, hash: &EntryHash) -> bool {
        self.hash_at(applied) == Some(hash)
    }

    /// The hash of an entry found by its prefix: its author's log's at its seq.
    fn hash_at(&self, applied: &Applied) -> Option<&EntryHash> {
        self.log_of(applied.author).get((applied.seq as usize).wrapping_sub(1))
    }

    /// The entry held with this hash, applied or frozen.
    pub fn get(&self, hash: &EntryHash) -> Option<Place> {
        if let Some(applied) = self.by_prefix.get(&prefix(hash))
            && self.is(applied, hash)
        {
            return Some(Place { author: applied.author, kind: applied.kind, frozen: false });
        }
        self.others.get(hash).copied()
    }

    pub fn contains(&self, hash: &EntryHash) -> bool {
        self.get(hash).is_some()
    }

    /// Number of entries held.
    pub fn len(&self) -> usize {
        self.by_prefix.len() + self.others.len()
    }

    /// Holds `entry`; when not `frozen`, it is applied and follows its log's head.
    pub fn insert(&mut self, entry: &Entry, frozen: bool) {
        self.hold(entry.author(), entry.seq(), entry.hash(), entry.header().body_kind, frozen);
    }

    /// Holds the entry `hash` at `author`'s `seq` (applied unless `frozen`), of `kind`.
    fn hold(&mut self, author: MemberId, seq: u64, hash: EntryHash, kind: u8, frozen: bool) {
        let author = self.intern(author);
        if !frozen && let Some(log) = self.logs.get_mut(author as usize) {
            // The rules apply an entry only right after its log's head.
            debug_assert_eq!(log.len() as u64 + 1, seq, "an applied entry follows its log's head");
            if log.len() as u64 + 1 == seq {
                log.push(hash);
                if let Ok(seq) = u32::try_from(seq)
                    && !self.by_prefix.contains_key(&prefix(&hash))
                {
                    self.by_prefix.insert(prefix(&hash), Applied { author, seq, kind });
                    return;
                }
            }
        }
        self.others.insert(hash, Place { author, kind, frozen });
    }

    /// Whether `hash` is the applied entry found by its prefix (not one kept by full hash).
    fn by_its_prefix(&self, hash: &EntryHash) -> bool {
        self.by_prefix.get(&prefix(hash)).is_some_and(|applied| self.is(applied, hash))
    }

    /// The hash of the applied entry found by `prefix`.
    fn hash_of(&self, prefix: &Prefix) -> Option<EntryHash> {
        self.hash_at(self.by_prefix.get(prefix)?).copied()
    }

    /// Lets go of the entry `hash` by `author` (a join request evicted); when it begins its
    /// author's log, the log goes too (its later entries, if any, stay held, found by full hash
    /// from now on: those are given back, for records kept by entry to follow, [`ByEntry::rekey`]).
    #[must_use]
    pub fn remove(&mut self, author: &MemberId, hash: &EntryHash) -> Vec<EntryHash> {
        match self.by_prefix.get(&prefix(hash)) {
            Some(applied) if self.is(applied, hash) => {
                self.by_prefix.remove(&prefix(hash));
            }
            _ => {
                self.others.remove(hash);
            }
        }
        let Some(&place) = self.places.get(author) else { return Vec::new() };
        if self.log_of(place).first() != Some(hash) {
            return Vec::new();
        }
        let log = self.logs.get_mut(place as usize).map(std::mem::take).unwrap_or_default();
        // Entries found through the log are found by hash from now on.
        let mut moved = Vec::new();
        for (index, later) in log.iter().enumerate().skip(1) {
            let key = prefix(later);
            let Some(applied) = self.by_prefix.get(&key).copied() else { continue };
            if applied.author == place && applied.seq as usize == index + 1 {
                self.by_prefix.remove(&key);
                self.others.insert(*later, Place { author: place, kind: applied.kind, frozen: false });
                moved.push(*later);
            }
        }
        moved
    }

    /// Every applied entry held, with its hash, in the order of the hashes — without a list of
    /// them made first (at a million entries that list was a start's largest passing cost).
    /// Both maps are in hash order (the prefixes `by_prefix` holds are distinct, so its order is
    /// the hashes'), and are merged as they are read.
    pub fn applied_in_order(&self) -> impl Iterator<Item = (EntryHash, Place)> + '_ {
        let by_prefix = self.by_prefix.values().filter_map(|applied| {
            let hash = self.hash_at(applied)?;
            Some((*hash, Place { author: applied.author, kind: applied.kind, frozen: false }))
        });
        let others = self.others.iter().filter(|(_, place)| !place.frozen).map(|(hash, place)| (*hash, *place));
        packed::in_order(by_prefix, others, |(hash, _)| hash)
    }

    /// The hash of `author`'s applied entry at `seq`.
    pub fn entry_at(&self, author: &MemberId, seq: u64) -> Option<EntryHash> {
        self.entry_at_place(*self.places.get(author)?, seq)
    }

    /// The hash of the applied entry at `seq` of the log of the person at `place`.
    pub fn entry_at_place(&self, place: u32, seq: u64) -> Option<EntryHash> {
        let index = usize::try_from(seq.checked_sub(1)?).ok()?;
        self.log_of(place).get(index).copied()
    }

    /// Gives back the room the maps and vectors grew into.
    pub fn shrink_to_fit(&mut self) {
        self.by_prefix.pack();
        packed::pack(&mut self.others);
        for log in &mut self.logs {
            log.shrink_to_fit();
        }
        self.logs.shrink_to_fit();
        self.people.shrink_to_fit();
    }
}

/// Records the reducer keeps of applied entries (posts, transfers), found by hash as [`Held`]
/// finds the entries: by the hash's first 8 bytes when the entry is the one [`Held`] knows by
/// them (8 bytes of key where the hash took 32: 7 MB of a million entries' 300,000 posts),
/// by full hash otherwise. Each call is given the [`Held`] that holds the entries, and a record
/// is added after its entry is.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(bound(serialize = "V: Serialize + Clone", deserialize = "V: Deserialize<'de> + Clone"))]
pub(super) struct ByEntry<V> {
    /// The records of entries [`Held`] finds by prefix.
    by_prefix: SortedMap<Prefix, V>,
    /// The records of the others, by full hash.
    others: BTreeMap<EntryHash, V>,
}

impl<V> Default for ByEntry<V> {
    fn default() -> Self {
        ByEntry { by_prefix: SortedMap::default(), others: BTreeMap::new() }
    }
}

impl<V: Clone> ByEntry<V> {
    pub fn get(&self, held: &Held, hash: &EntryHash) -> Option<&V> {
        match held.by_its_prefix(hash) {
            true => self.by_prefix.get(&prefix(hash)),
            false => self.others.get(hash),
        }
    }

    pub fn get_mut(&mut self, held: &Held, hash: &EntryHash) -> Option<&mut V> {
        match held.by_its_prefix(hash) {
            true => self.by_prefix.get_mut(&prefix(hash)),
            false => self.others.get_mut(hash),
        }
    }

    /// Keeps `record` for the entry `hash`, which `held` holds already.
    pub fn insert(&mut self, held: &Held, hash: EntryHash, record: V) {
        match held.by_its_prefix(&hash) {
            true => self.by_prefix.insert(prefix(&hash), record),
            false => self.others.insert(hash, record),
        };
    }

    /// Follows [`Held::remove`]: the records of the entries it now finds by full hash.
    pub fn rekey(&mut self, moved: &[EntryHash]) {
        for hash in moved {
            if let Some(record) = self.by_prefix.remove(&prefix(hash)) {
                self.others.insert(*hash, record);
            }
        }
    }

    /// Every record with its entry's hash, in the order of the hashes.
    pub fn iter<'a>(&'a self, held: &'a Held) -> impl Iterator<Item = (EntryHash, &'a V)> + 'a {
        let by_prefix = self.by_prefix.iter().filter_map(|(prefix, record)| Some((held.hash_of(prefix)?, record)));
        packed::in_order(by_prefix, self.others.iter().map(|(hash, record)| (*hash, record)), |(hash, _)| hash)
    }

    pub fn values(&self) -> impl Iterator<Item = &V> {
        self.by_prefix.values().chain(self.others.values())
    }

    /// Whether every record of the prefix map has its entry in `held` (a snapshot read back).
    pub fn consistent(&self, held: &Held) -> bool {
        self.by_prefix.iter().all(|(prefix, _)| held.hash_of(prefix).is_some())
    }

    pub fn pack(&mut self) {
        self.by_prefix.pack();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// What the reducer kept before (every entry by full hash, each author's log by id): the
    /// model `Held` must answer as.
    #[derive(Default)]
    struct Model {
        entries: BTreeMap<EntryHash, (MemberId, u8, bool)>,
        logs: BTreeMap<MemberId, Vec<EntryHash>>,
    }

    #[derive(Debug, Clone)]
    enum Op {
        Apply { author: u8, hash: (u8, u8), kind: u8 },
        Freeze { author: u8, seq: u64, hash: (u8, u8) },
        Evict { hash: (u8, u8) },
    }

    /// Few prefixes, so that many hashes share their first 8 bytes.
    fn hash((prefix, rest): (u8, u8)) -> EntryHash {
        let mut bytes = [rest; 32];
        bytes[..8].copy_from_slice(&[prefix % 3; 8]);
        EntryHash(bytes)
    }

    fn op() -> impl Strategy<Value = Op> {
        let hash = (any::<u8>(), 0u8..12);
        prop_oneof![
            6 => (0u8..4, hash.clone(), any::<u8>()).prop_map(|(author, hash, kind)| Op::Apply { author, hash, kind }),
            1 => (0u8..4, 1u64..6, hash.clone()).prop_map(|(author, seq, hash)| Op::Freeze { author, seq, hash }),
            1 => hash.prop_map(|hash| Op::Evict { hash }),
        ]
    }

    proptest! {
        #[test]
        fn finds_what_a_map_by_full_hash_finds(ops in proptest::collection::vec(op(), 1..120)) {
            let (mut held, mut model) = (Held::default(), Model::default());
            // Records kept by entry for the applied entries of odd kinds (as posts are for
            // posts), beside what they must answer.
            let (mut records, mut kept) = (ByEntry::<u8>::default(), BTreeMap::<EntryHash, u8>::new());
            let person = |n: u8| MemberId([n; 32]);
            for op in ops {
                match op {
                    Op::Apply { author, hash: h, kind } => {
                        let (author, h) = (person(author), hash(h));
                        if model.entries.contains_key(&h) { continue }
                        let log = model.logs.entry(author).or_default();
                        log.push(h);
                        let seq = log.len() as u64;
                        model.entries.insert(h, (author, kind, false));
                        held.hold(author, seq, h, kind, false);
                        if kind % 2 == 1 {
                            records.insert(&held, h, kind);
                            kept.insert(h, kind);
                        }
                    }
                    Op::Freeze { author, seq, hash: h } => {
                        let (author, h) = (person(author), hash(h));
                        if model.entries.contains_key(&h) { continue }
                        model.entries.insert(h, (author, 0, true));
                        held.hold(author, seq, h, 0, true);
                    }
                    Op::Evict { hash: h } => {
                        let h = hash(h);
                        let Some(&(author, _, _)) = model.entries.get(&h) else { continue };
                        // The reducer lets go only of join requests, which have no record.
                        if kept.contains_key(&h) { continue }
                        model.entries.remove(&h);
                        if model.logs.get(&author).is_some_and(|log| log.first() == Some(&h)) {
                            model.logs.remove(&author);
                        }
                        let moved = held.remove(&author, &h);
                        records.rekey(&moved);
                    }
                }
                prop_assert_eq!(held.len(), model.entries.len());
                for prefix in 0..3u8 {
                    for rest in 0..12u8 {
                        let h = hash((prefix, rest));
                        let found = held.get(&h).and_then(|p| Some((held.person(p.author)?, p.kind, p.frozen)));
                        prop_assert_eq!(found, model.entries.get(&h).copied(), "entry {:?}", (prefix, rest));
                        prop_assert_eq!(records.get(&held, &h), kept.get(&h), "record {:?}", (prefix, rest));
                    }
                }
                for author in 0..4u8 {
                    let log = model.logs.get(&person(author)).cloned().unwrap_or_default();
                    for seq in 0..=log.len() as u64 + 1 {
                        let expected = seq.checked_sub(1).and_then(|i| log.get(i as usize)).copied();
                        prop_assert_eq!(held.entry_at(&person(author), seq), expected);
                    }
                }
                let applied: Vec<(EntryHash, u8)> = held.applied_in_order().map(|(h, p)| (h, p.kind)).collect();
                let expected: Vec<(EntryHash, u8)> =
                    model.entries.iter().filter(|(_, e)| !e.2).map(|(h, e)| (*h, e.1)).collect();
                prop_assert_eq!(applied, expected);
                prop_assert!(held.consistent(std::iter::empty()));
                prop_assert!(records.consistent(&held));
                let listed: Vec<(EntryHash, u8)> = records.iter(&held).map(|(h, kind)| (h, *kind)).collect();
                prop_assert_eq!(listed, kept.iter().map(|(h, kind)| (*h, *kind)).collect::<Vec<_>>());
            }
        }
    }
}
