//! How far long work has come: the events long store work (a conversion, rebuilding the
//! views) sends for the binary's progress display, and the first catch-up's estimate — the
//! entries held against the entries connected peers' heads say they hold.

use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

use crate::sync::LogHead;

/// The `tracing` target of [`report`]'s events: a progress display listens to it alone.
pub const TARGET: &str = "kith_progress";

/// Says that `done` of `total` units of `what` ("entries converted") are done. A trace event
/// on [`TARGET`], with the fields `what`, `done` and `total`: free when nobody listens, and a
/// binary that shows progress turns it into a bar or a line.
pub fn report(what: &'static str, done: u64, total: u64) {
    tracing::trace!(target: "kith_progress", what, done, total);
}

/// How many entries a peer's heads say it holds: its logs' seqs added up (a log's seq is
/// how many entries it has).
pub fn entries_in_heads(heads: &[LogHead]) -> u64 {
    heads.iter().map(|LogHead(_, seq, _)| *seq).fold(0, u64::saturating_add)
}

/// Raises the expected count to what a peer's heads say, never lowers it: the best-informed
/// peer tells how far there is to go.
pub fn note_peer_heads(expected: &AtomicU64, heads: &[LogHead]) {
    expected.fetch_max(entries_in_heads(heads), Ordering::Relaxed);
}

/// A catch-up under way: `kith status`'s `catch_up`, the page's "Getting your community's
/// news… 45%" and `kith run`'s progress line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CatchUp {
    /// Entries this node holds.
    pub held: u64,
    /// Entries the best-informed connected peer said it holds (an estimate: "about").
    pub expected: u64,
}

impl CatchUp {
    /// A catch-up while fewer entries are held than expected; `None` once level (or while no
    /// peer has said how many there are).
    pub fn of(held: u64, expected: u64) -> Option<CatchUp> {
        (held < expected).then_some(CatchUp { held, expected })
    }

    /// How far, from 0 to 99 (100 is "no catch-up").
    pub fn percent(&self) -> u8 {
        if self.expected == 0 {
            return 0;
        }
        let percent = u128::from(self.held) * 100 / u128::from(self.expected);
        u8::try_from(percent.min(99)).unwrap_or(99)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(seq: u64) -> LogHead {
        LogHead(vec![seq as u8; 32], seq, vec![0; crate::sync::HEAD_HASH_PREFIX])
    }

    #[test]
    fn expected_is_the_largest_sum_of_a_peers_heads() {
        let expected = AtomicU64::new(0);
        note_peer_heads(&expected, &[head(10), head(5)]);
        assert_eq!(expected.load(Ordering::Relaxed), 15);
        note_peer_heads(&expected, &[head(3)]);
        assert_eq!(expected.load(Ordering::Relaxed), 15, "a peer holding less does not lower it");
        note_peer_heads(&expected, &[head(u64::MAX), head(2)]);
        assert_eq!(expected.load(Ordering::Relaxed), u64::MAX, "saturates, never wraps");
    }

    #[test]
    fn a_catch_up_lasts_while_fewer_are_held_than_expected() {
        assert_eq!(CatchUp::of(0, 0), None, "no peer has said anything yet");
        assert_eq!(CatchUp::of(100, 100), None);
        assert_eq!(CatchUp::of(120, 100), None);
        let catch_up = CatchUp::of(45_000, 100_000);
        assert_eq!(catch_up, Some(CatchUp { held: 45_000, expected: 100_000 }));
        assert_eq!(catch_up.map(|c| c.percent()), Some(45));
        assert_eq!(CatchUp { held: 999, expected: 1000 }.percent(), 99, "never 100 while under way");
        assert_eq!(CatchUp { held: 1, expected: u64::MAX }.percent(), 0);
    }
}
