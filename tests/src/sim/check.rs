//! The simulator's invariants: what must never happen (safety) and what must happen after
//! everything heals (convergence), with the bounds they are checked against.

use kith_node::storage::Storage;
use kith_node::storage::memory::MemStore;
use kith_node::sync::SyncResponse;
use kith_protocol::EntryHash;

/// Most rows an engine may hold in its own tables (requests, fetch queues, pages, peers,
/// strikes, `received_to`): its stated memory bound besides the reducer's.
pub const MAX_ENGINE_ROWS: usize = 20_000;
/// Most entries the reducer's waiting area may hold (`kith_protocol`'s `MAX_PENDING`).
pub const MAX_PENDING: usize = 50_000;

/// A broken invariant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Violation {
    /// An entry the engine acknowledged as durable is gone (after a crash, or never arrived).
    AckedLost { node: usize, entry: String },
    /// A node outside the community received the community's data.
    OutsiderServed { node: usize, what: String },
    /// An honest member's log was frozen (made invalid) at an honest node.
    HonestFrozen { node: usize, member: String },
    /// Honest nodes did not reach the same digest within the settle time.
    NotConverged { detail: String },
    /// A node held more than its stated bound.
    Memory { node: usize, tables: usize, pending: usize },
    /// A node could not restart from its disk.
    Restart { node: usize, error: String },
    /// A member restored from its key was still read-only at the end, though members holding
    /// its log were reachable.
    StillReadOnly { node: usize },
    /// The member restored from its key forked its own log (seen frozen at an honest node).
    RestoredForked { node: usize, seen_at: usize },
    /// A newcomer's join request reached no honest node.
    NewcomerNotHeard { node: usize },
    /// An honest node's own log holds an entry it was never asked to write (the simulator's
    /// members only ever publish posts): something a peer sent made it write.
    OwnLogWritten { node: usize, what: String },
    /// A node's store serves an entry its reducer does not hold as applied (say, one of a
    /// forked log's frozen part).
    ServesUnapplied { node: usize, what: String },
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Violation::AckedLost { node, entry } => write!(f, "acknowledged entry lost: node {node}, entry {entry}"),
            Violation::OutsiderServed { node, what } => write!(f, "outsider node {node} received {what}"),
            Violation::ServesUnapplied { node, what } => {
                write!(f, "node {node} serves {what}, which its reducer does not hold as applied")
            }
            Violation::OwnLogWritten { node, what } => {
                write!(f, "node {node} wrote {what} to its own log without being asked")
            }
            Violation::HonestFrozen { node, member } => {
                write!(f, "honest member {member}'s log frozen at node {node}")
            }
            Violation::NotConverged { detail } => write!(f, "no convergence: {detail}"),
            Violation::Memory { node, tables, pending } => write!(
                f,
                "node {node} over its memory bound: {tables} engine rows (max {MAX_ENGINE_ROWS}), {pending} pending (max {MAX_PENDING})"
            ),
            Violation::Restart { node, error } => write!(f, "node {node} could not restart: {error}"),
            Violation::RestoredForked { node, seen_at } => {
                write!(f, "restored node {node} forked its own log (frozen at node {seen_at})")
            }
            Violation::StillReadOnly { node } => write!(f, "restored node {node} still read-only at the end"),
            Violation::NewcomerNotHeard { node } => {
                write!(f, "newcomer node {node}'s join request reached no honest node")
            }
        }
    }
}

/// The first acknowledged entry the disk does not hold.
pub fn acked_lost(disk: &MemStore, acked: &[EntryHash]) -> Option<EntryHash> {
    acked.iter().find(|hash| !matches!(disk.get(hash), Ok(Some(_)))).copied()
}

/// Whether an answer carries anything of the community (entries, heads or proofs).
pub fn carries_community(response: &SyncResponse) -> bool {
    match response {
        SyncResponse::Heads { heads, forks } => !heads.is_empty() || !forks.is_empty(),
        SyncResponse::Reconciled { heads, ranges, forks } => {
            !heads.is_empty() || !ranges.is_empty() || !forks.is_empty()
        }
        SyncResponse::Entries(entries) => !entries.is_empty(),
        SyncResponse::Ordered { entries, .. } => !entries.is_empty(),
        _ => false,
    }
}
