//! Membership gating's memory: which peers were let in with an invite (so they stay in across
//! restarts and reconnects), and how many newcomers each invite has let in. Kept in the store's
//! `meta` tree under `gate/peer/<peer id>` and `gate/invite/<invite id>`.
//!
//! A peer's row: `[1]` let in by this node's operator (no end); `[2] ‖ when (u64 LE, ms) ‖ the
//! invite's capability bytes` let in with an invite (its access ends by
//! `kith_protocol::invite::newcomer_access_holds`); `[0] ‖ invite id` its access with that
//! invite ended (the same invite does not let it in again).
//!
//! The engine reads it in memory ([`Gate`], read from the store once when the engine starts and
//! shared with the adapter's gated behaviours): the network loop never reads or writes the
//! store for it. Each change is made in memory at once and handed out as a [`GateRow`] for the
//! store thread to write and flush ([`write`]), in the order made.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use kith_protocol::invite::InviteId;

use crate::storage::Storage;
use crate::store::StoreError;

const PEER_PREFIX: &str = "gate/peer/";
const INVITE_PREFIX: &str = "gate/invite/";

fn peer_key(peer: &str) -> String {
    format!("{PEER_PREFIX}{peer}")
}

fn invite_key(invite: &InviteId) -> String {
    format!("{INVITE_PREFIX}{invite}")
}

/// What this node remembers of a peer at its door.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Access {
    /// Never let in.
    Never,
    /// Let in by this node's operator.
    Allowed,
    /// Let in with an invite (its capability bytes) at `at_ms`.
    Invite { at_ms: u64, capability: Vec<u8> },
    /// Let in with this invite once; that access ended.
    Ended(InviteId),
}

impl Access {
    fn from_row(row: &[u8]) -> Access {
        match row.split_first() {
            Some((1, _)) => Access::Allowed,
            Some((2, rest)) if rest.len() >= 8 => {
                let (at, capability) = rest.split_at(8);
                let at_ms = u64::from_le_bytes(at.try_into().unwrap_or([0; 8]));
                Access::Invite { at_ms, capability: capability.to_vec() }
            }
            Some((0, id)) => Access::Ended(InviteId(id.try_into().unwrap_or([0; 32]))),
            _ => Access::Never,
        }
    }

    fn to_row(&self) -> Vec<u8> {
        match self {
            Access::Never => Vec::new(),
            Access::Allowed => vec![1],
            Access::Invite { at_ms, capability } => {
                let mut row = vec![2];
                row.extend_from_slice(&at_ms.to_le_bytes());
                row.extend_from_slice(capability);
                row
            }
            Access::Ended(invite) => {
                let mut row = vec![0];
                row.extend_from_slice(&invite.0);
                row
            }
        }
    }
}

/// A change of the gate's memory, for the store ([`write`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GateRow {
    key: String,
    value: Vec<u8>,
}

/// The gate's memory, in memory. Clones share it; its lock is held for memory work only.
#[derive(Debug, Clone, Default)]
pub struct Gate {
    rows: Arc<Mutex<Rows>>,
}

#[derive(Debug, Default)]
struct Rows {
    peers: BTreeMap<String, Access>,
    /// The peers each invite has let in.
    invites: BTreeMap<String, Vec<String>>,
}

impl Gate {
    /// Reads the gate's rows from `store` (when the engine starts).
    pub fn load(store: &impl Storage) -> Gate {
        let mut rows = Rows::default();
        let read = |prefix: &str| {
            store.meta_scan(prefix).unwrap_or_else(|error| {
                tracing::error!(%error, "cannot read the gate's memory; peers let in before must show again");
                Vec::new()
            })
        };
        for (key, row) in read(PEER_PREFIX) {
            if let Some(peer) = key.strip_prefix(PEER_PREFIX) {
                rows.peers.insert(peer.to_string(), Access::from_row(&row));
            }
        }
        for (key, row) in read(INVITE_PREFIX) {
            if let Some(invite) = key.strip_prefix(INVITE_PREFIX) {
                let users = String::from_utf8_lossy(&row).lines().map(str::to_string).collect();
                rows.invites.insert(invite.to_string(), users);
            }
        }
        Gate { rows: Arc::new(Mutex::new(rows)) }
    }

    fn rows(&self) -> MutexGuard<'_, Rows> {
        self.rows.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// What this node remembers of `peer`.
    pub fn access(&self, peer: &str) -> Access {
        self.rows().peers.get(peer).cloned().unwrap_or(Access::Never)
    }

    /// Whether `peer` is let in (with an invite whose access has not been ended, or by the
    /// operator).
    pub fn is_let_in(&self, peer: &str) -> bool {
        matches!(self.access(peer), Access::Allowed | Access::Invite { .. })
    }

    /// The peers an invite has let in.
    pub fn invite_users(&self, invite: &InviteId) -> Vec<String> {
        self.rows().invites.get(&invite.to_string()).cloned().unwrap_or_default()
    }

    fn set(&self, peer: &str, access: Access) -> GateRow {
        let row = GateRow { key: peer_key(peer), value: access.to_row() };
        self.rows().peers.insert(peer.to_string(), access);
        row
    }

    /// Remembers that this node's operator let `peer` in.
    pub fn let_in(&self, peer: &str) -> GateRow {
        self.set(peer, Access::Allowed)
    }

    /// Remembers that `peer` was let in with `capability` (its bytes) at `now_ms`.
    pub fn let_in_with_invite(&self, peer: &str, capability: &[u8], now_ms: u64) -> GateRow {
        self.set(peer, Access::Invite { at_ms: now_ms, capability: capability.to_vec() })
    }

    /// Ends `peer`'s access with `invite`: it is no longer let in, and that invite does not let
    /// it in again.
    pub fn let_out(&self, peer: &str, invite: &InviteId) -> GateRow {
        self.set(peer, Access::Ended(*invite))
    }

    /// Counts `peer` as a user of `invite` (once): the row to write, if it is new.
    pub fn count_use(&self, invite: &InviteId, peer: &str) -> Option<GateRow> {
        let mut rows = self.rows();
        let users = rows.invites.entry(invite.to_string()).or_default();
        if users.iter().any(|u| u == peer) {
            return None;
        }
        users.push(peer.to_string());
        Some(GateRow { key: invite_key(invite), value: users.join("\n").into_bytes() })
    }
}

/// Writes the gate's changed rows to `store`, in order (the caller flushes).
pub fn write(store: &impl Storage, rows: &[GateRow]) -> Result<(), StoreError> {
    for row in rows {
        store.meta_put(&row.key, &row.value)?;
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::storage::memory::MemStore;

    #[test]
    fn the_gate_s_memory_reads_back_what_was_written() {
        let store = MemStore::new();
        let gate = Gate::load(&store);
        let invite = InviteId([4; 32]);
        let mut rows = vec![gate.let_in("ann"), gate.let_in_with_invite("bob", &[9, 9], 77)];
        rows.extend(gate.count_use(&invite, "bob"));
        rows.extend(gate.count_use(&invite, "cat"));
        assert_eq!(gate.count_use(&invite, "bob"), None, "a use counted twice");
        rows.push(gate.let_out("cat", &invite));
        write(&store, &rows).unwrap();
        let again = Gate::load(&store);
        for peer in ["ann", "bob", "cat", "dan"] {
            assert_eq!(again.access(peer), gate.access(peer), "{peer}");
        }
        assert_eq!(again.access("bob"), Access::Invite { at_ms: 77, capability: vec![9, 9] });
        assert_eq!(again.access("cat"), Access::Ended(invite));
        assert_eq!(again.invite_users(&invite), ["bob", "cat"]);
        assert!(again.is_let_in("ann") && again.is_let_in("bob") && !again.is_let_in("cat"));
    }
}
