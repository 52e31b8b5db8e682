//! Range-based set reconciliation of the logs' heads (the idea of Meyer's "Range-Based Set
//! Reconciliation", 2023, as negentropy does it), so that a sync round costs what differs
//! between two nodes, not the community's size.
//!
//! The set is every log's head held here: (author, seq, first bytes of the head's hash, whether
//! the log is frozen by a fork), ordered by author. The asking node sends ranges of authors with
//! its fingerprint of each (an order-free sum of the heads' hashes) and how many heads it holds
//! there; the answering node compares each range with its own: an equal range is done, a
//! differing range comes back whole when it holds few heads (the asker then fetches what it
//! lacks, as after a heads exchange), else split in [`SPLIT`] parts with the answerer's
//! fingerprints, which the asker compares with its own and asks again for those that differ.
//! Two nodes in sync exchange one range each way (~120 bytes); nodes that differ by `d` heads
//! exchange O(d log n). Only the asker learns: each node pulls in its own rounds.
//!
//! Pure: no I/O, no clock. The engine keeps a [`HeadIndex`] of its heads and drives the rounds.

use serde::{Deserialize, Serialize};

/// Parts a differing range is split into.
pub const SPLIT: usize = 16;
/// A differing range with at most this many heads (on the answering side) is sent whole.
pub const WHOLE_BELOW: usize = 32;
/// Most ranges in one question (keeps a question well under the request size limit).
pub const MAX_RANGES: usize = 64;
/// Most rounds of one reconciliation: the answerer's counts shrink [`SPLIT`]-fold a round, so
/// this covers 16^8 heads; a peer leading us on for longer is cut short.
pub const MAX_ROUNDS: u32 = 8;
/// Bytes of a fingerprint.
pub const FINGERPRINT_BYTES: usize = 16;

/// One log's head as reconciled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeadItem {
    pub author: [u8; 32],
    pub seq: u64,
    pub hash_prefix: [u8; 8],
    /// The log is frozen (a fork proof is known here).
    pub frozen: bool,
}

impl HeadItem {
    fn fingerprint(&self) -> u128 {
        let mut hasher = blake3::Hasher::new();
        hasher.update(&self.author);
        hasher.update(&self.seq.to_le_bytes());
        hasher.update(&self.hash_prefix);
        hasher.update(&[u8::from(self.frozen)]);
        let mut first = [0u8; 16];
        first.copy_from_slice(&hasher.finalize().as_bytes()[..16]);
        u128::from_le_bytes(first)
    }
}

/// A range of authors `[from, to)` (empty `from`: from the first; empty `to`: to the last) with
/// the sender's count of heads in it and their fingerprint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RangeSum {
    #[serde(with = "serde_bytes")]
    pub from: Vec<u8>,
    #[serde(with = "serde_bytes")]
    pub to: Vec<u8>,
    pub count: u32,
    #[serde(with = "serde_bytes")]
    pub fingerprint: Vec<u8>,
}

/// Why a peer's ranges cannot be reconciled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RangeError {
    #[error("more than {MAX_RANGES} ranges in one question")]
    TooMany,
    #[error("a range bound is neither empty nor an author's 32 bytes")]
    Bound,
    #[error("a fingerprint is not {FINGERPRINT_BYTES} bytes")]
    Fingerprint,
}

/// What the answering node says of the asker's ranges: its heads in the small differing
/// ranges, and the parts of the large differing ones.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Answer {
    pub heads: Vec<HeadItem>,
    pub ranges: Vec<RangeSum>,
}

/// The heads of one node, sorted by author, with prefix sums of their fingerprints so that any
/// range's fingerprint is two binary searches away.
#[derive(Debug, Clone)]
pub struct HeadIndex {
    items: Vec<HeadItem>,
    /// `sums[i]`: the wrapping sum of the first `i` items' fingerprints.
    sums: Vec<u128>,
}

impl Default for HeadIndex {
    /// No heads (a node without its community yet).
    fn default() -> HeadIndex {
        HeadIndex::new(Vec::new())
    }
}

impl HeadIndex {
    /// Indexes `items` (any order; an author appearing twice keeps its last item).
    pub fn new(mut items: Vec<HeadItem>) -> HeadIndex {
        items.sort_by_key(|item| item.author);
        items.dedup_by(|later, earlier| {
            let same = later.author == earlier.author;
            if same {
                *earlier = *later;
            }
            same
        });
        let mut sums = Vec::with_capacity(items.len() + 1);
        let mut sum = 0u128;
        sums.push(sum);
        for item in &items {
            sum = sum.wrapping_add(item.fingerprint());
            sums.push(sum);
        }
        HeadIndex { items, sums }
    }

    /// Positions `[start, end)` of the items in the range `[from, to)`.
    fn span(&self, from: &[u8], to: &[u8]) -> (usize, usize) {
        let start = if from.is_empty() { 0 } else { self.items.partition_point(|i| i.author.as_slice() < from) };
        let end =
            if to.is_empty() { self.items.len() } else { self.items.partition_point(|i| i.author.as_slice() < to) };
        (start, end.max(start))
    }

    fn sum_of(&self, start: usize, end: usize, from: &[u8], to: &[u8]) -> RangeSum {
        let fingerprint = self.sums[end].wrapping_sub(self.sums[start]);
        RangeSum {
            from: from.to_vec(),
            to: to.to_vec(),
            count: u32::try_from(end - start).unwrap_or(u32::MAX),
            fingerprint: fingerprint.to_le_bytes().to_vec(),
        }
    }

    /// This node's sum of the range `[from, to)`.
    pub fn sum(&self, from: &[u8], to: &[u8]) -> RangeSum {
        let (start, end) = self.span(from, to);
        self.sum_of(start, end, from, to)
    }

    /// The first question of a reconciliation: everything, in one range.
    pub fn whole(&self) -> RangeSum {
        self.sum(&[], &[])
    }

    /// Answers a peer's ranges (see the module's documentation).
    pub fn answer(&self, theirs: &[RangeSum]) -> Result<Answer, RangeError> {
        check(theirs)?;
        let mut answer = Answer::default();
        for range in theirs {
            let (start, end) = self.span(&range.from, &range.to);
            if self.sum_of(start, end, &range.from, &range.to) == *range {
                continue;
            }
            let n = end - start;
            if n <= WHOLE_BELOW {
                answer.heads.extend_from_slice(&self.items[start..end]);
                continue;
            }
            let part = n.div_ceil(SPLIT);
            let mut at = start;
            while at < end {
                let next = (at + part).min(end);
                let from = if at == start { range.from.clone() } else { self.items[at].author.to_vec() };
                let to = if next == end { range.to.clone() } else { self.items[next].author.to_vec() };
                answer.ranges.push(self.sum_of(at, next, &from, &to));
                at = next;
            }
        }
        Ok(answer)
    }

    /// Of the answerer's parts, those that differ from ours, with our sums: the next question.
    pub fn differing(&self, theirs: &[RangeSum]) -> Result<Vec<RangeSum>, RangeError> {
        for range in theirs {
            check_range(range)?;
        }
        Ok(theirs
            .iter()
            .map(|range| self.sum(&range.from, &range.to))
            .zip(theirs)
            .filter(|(ours, theirs)| ours != *theirs)
            .map(|(ours, _)| ours)
            .collect())
    }
}

fn check(ranges: &[RangeSum]) -> Result<(), RangeError> {
    if ranges.len() > MAX_RANGES {
        return Err(RangeError::TooMany);
    }
    ranges.iter().try_for_each(check_range)
}

fn check_range(range: &RangeSum) -> Result<(), RangeError> {
    let bound = |b: &[u8]| b.is_empty() || b.len() == 32;
    if !bound(&range.from) || !bound(&range.to) {
        return Err(RangeError::Bound);
    }
    if range.fingerprint.len() != FINGERPRINT_BYTES {
        return Err(RangeError::Fingerprint);
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;

    use super::*;

    fn item(author: u16, seq: u64) -> HeadItem {
        let mut key = [0u8; 32];
        key[..2].copy_from_slice(&author.to_be_bytes());
        key[31] = 7;
        HeadItem { author: key, seq, hash_prefix: seq.to_le_bytes(), frozen: false }
    }

    /// Runs a whole reconciliation with `asker` asking `answerer`: the heads the asker hears of,
    /// and the bytes both sent (in the adapter's CBOR, as the simulator counts them).
    fn reconcile(asker: &HeadIndex, answerer: &HeadIndex) -> (Vec<HeadItem>, usize) {
        let size = |ranges: &[RangeSum]| cbor4ii::serde::to_vec(Vec::new(), &ranges).unwrap().len();
        let mut question = vec![asker.whole()];
        let (mut heard, mut bytes) = (Vec::new(), 0);
        for _ in 0..MAX_ROUNDS {
            if question.is_empty() {
                break;
            }
            bytes += size(&question);
            let answer = answerer.answer(&question).unwrap();
            bytes += size(&answer.ranges) + answer.heads.len() * 56;
            heard.extend(answer.heads);
            question = asker.differing(&answer.ranges).unwrap();
        }
        assert!(question.is_empty(), "reconciliation did not end within {MAX_ROUNDS} rounds");
        (heard, bytes)
    }

    /// The asker's view after merging what it heard: for each author the later head.
    fn merged(asker: &[HeadItem], heard: &[HeadItem]) -> BTreeMap<[u8; 32], u64> {
        let mut view: BTreeMap<[u8; 32], u64> = asker.iter().map(|i| (i.author, i.seq)).collect();
        for h in heard {
            let seq = view.entry(h.author).or_insert(0);
            *seq = (*seq).max(h.seq);
        }
        view
    }

    fn sets() -> impl Strategy<Value = (Vec<HeadItem>, Vec<HeadItem>)> {
        // A shared base, then each side's own changes: new logs, and later heads of shared ones.
        (
            prop::collection::btree_map(any::<u16>(), 1..50u64, 0..400),
            prop::collection::vec((any::<u16>(), 1..60u64, any::<bool>()), 0..40),
        )
            .prop_map(|(base, changes)| {
                let mut a: BTreeMap<u16, u64> = base.clone();
                let mut b: BTreeMap<u16, u64> = base;
                for (author, seq, to_a) in changes {
                    let side = if to_a { &mut a } else { &mut b };
                    let head = side.entry(author).or_insert(0);
                    *head = (*head).max(seq);
                }
                let items = |m: BTreeMap<u16, u64>| m.into_iter().map(|(a, s)| item(a, s)).collect::<Vec<_>>();
                (items(a), items(b))
            })
    }

    proptest! {
        /// Any two sets: the asker ends knowing the union (for each log, the later head of the two).
        #[test]
        fn the_asker_learns_the_union((a, b) in sets()) {
            let (ia, ib) = (HeadIndex::new(a.clone()), HeadIndex::new(b.clone()));
            let (heard, _) = reconcile(&ia, &ib);
            let union = merged(&a, &b);
            prop_assert_eq!(merged(&a, &heard), union);
        }
    }

    #[test]
    fn nodes_in_sync_exchange_a_few_bytes_whatever_the_size() {
        for n in [50u16, 5_000, 50_000] {
            let items: Vec<HeadItem> = (0..n).map(|a| item(a, 3)).collect();
            let index = HeadIndex::new(items);
            let (heard, bytes) = reconcile(&index, &index);
            assert!(heard.is_empty());
            assert!(bytes < 200, "{n} heads in sync: {bytes} bytes");
        }
    }

    #[test]
    fn the_bytes_grow_with_the_difference_not_the_size() {
        let mut by_size = Vec::new();
        for n in [500u16, 50_000] {
            let a: Vec<HeadItem> = (0..n).map(|x| item(x, 3)).collect();
            let mut b = a.clone();
            for (i, x) in b.iter_mut().enumerate() {
                if i % (n as usize / 10) == 0 {
                    x.seq += 1; // ten logs moved on
                }
            }
            let (heard, bytes) = reconcile(&HeadIndex::new(a), &HeadIndex::new(b));
            assert_eq!(heard.iter().filter(|h| h.seq == 4).count(), 10);
            by_size.push(bytes);
        }
        // 100 times the community, same difference: not 100 times the bytes.
        assert!(by_size[1] < 4 * by_size[0], "{by_size:?}");
        // And far below sending every head (56 bytes each).
        assert!(by_size[1] < 50_000 * 56 / 20, "{by_size:?}");
    }

    #[test]
    fn a_fork_known_on_one_side_only_shows() {
        let a: Vec<HeadItem> = (0..300u16).map(|x| item(x, 3)).collect();
        let mut b = a.clone();
        b[123].frozen = true;
        let (heard, _) = reconcile(&HeadIndex::new(a), &HeadIndex::new(b));
        assert!(heard.iter().any(|h| h.frozen && h.author == item(123, 3).author));
    }

    #[test]
    fn an_empty_index_answers_and_asks() {
        let empty = HeadIndex::default();
        let full = HeadIndex::new((0..100u16).map(|x| item(x, 1)).collect());
        assert!(empty.answer(&[full.whole()]).unwrap().heads.is_empty());
        let (heard, _) = reconcile(&empty, &full);
        assert_eq!(heard.len(), 100);
        let (heard, _) = reconcile(&full, &empty);
        assert!(heard.is_empty());
    }

    #[test]
    fn malformed_ranges_are_refused() {
        let index = HeadIndex::new(vec![item(1, 1)]);
        let mut bad = index.whole();
        bad.from = vec![1, 2, 3];
        assert_eq!(index.answer(&[bad]), Err(RangeError::Bound));
        let mut bad = index.whole();
        bad.fingerprint.pop();
        assert_eq!(index.answer(&[bad]), Err(RangeError::Fingerprint));
        assert_eq!(index.answer(&vec![index.whole(); MAX_RANGES + 1]), Err(RangeError::TooMany));
    }
}
