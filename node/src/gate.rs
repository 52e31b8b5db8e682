//! Membership gating's memory: which peers were let in with an invite (so they stay in across
//! restarts and reconnects), and how many newcomers each invite has let in. Kept in the store's
//! `meta` tree under `gate/peer/<peer id>` and `gate/invite/<invite id>`.
//!
//! A peer's row: `[1]` let in by this node's operator (no end); `[2] ‖ when (u64 LE, ms) ‖ the
//! invite's capability bytes` let in with an invite (its access ends by
//! `kith_protocol::invite::newcomer_access_holds`); `[0] ‖ invite id` its access with that
//! invite ended (the same invite does not let it in again).

use kith_protocol::invite::InviteId;

use crate::storage::Storage;
use crate::store::StoreError;

fn peer_key(peer: &str) -> String {
    format!("gate/peer/{peer}")
}

fn invite_key(invite: &InviteId) -> String {
    format!("gate/invite/{invite}")
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

/// What this node remembers of `peer`.
pub fn access(store: &impl Storage, peer: &str) -> Access {
    let Ok(Some(row)) = store.meta_get(&peer_key(peer)) else { return Access::Never };
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

/// Whether `peer` is let in (with an invite whose access has not been ended, or by the
/// operator).
pub fn is_let_in(store: &impl Storage, peer: &str) -> bool {
    matches!(access(store, peer), Access::Allowed | Access::Invite { .. })
}

/// Remembers that this node's operator let `peer` in.
pub fn let_in(store: &impl Storage, peer: &str) -> Result<(), StoreError> {
    store.meta_put(&peer_key(peer), &[1])?;
    store.flush()
}

/// Remembers that `peer` was let in with `capability` (its bytes) at `now_ms`.
pub fn let_in_with_invite(store: &impl Storage, peer: &str, capability: &[u8], now_ms: u64) -> Result<(), StoreError> {
    let mut row = vec![2];
    row.extend_from_slice(&now_ms.to_le_bytes());
    row.extend_from_slice(capability);
    store.meta_put(&peer_key(peer), &row)?;
    store.flush()
}

/// Ends `peer`'s access with `invite`: it is no longer let in, and that invite does not let it
/// in again.
pub fn let_out(store: &impl Storage, peer: &str, invite: &InviteId) -> Result<(), StoreError> {
    let mut row = vec![0];
    row.extend_from_slice(&invite.0);
    store.meta_put(&peer_key(peer), &row)?;
    store.flush()
}

/// The peers an invite has let in.
pub fn invite_users(store: &impl Storage, invite: &InviteId) -> Vec<String> {
    let Ok(Some(bytes)) = store.meta_get(&invite_key(invite)) else { return Vec::new() };
    String::from_utf8_lossy(&bytes).lines().map(str::to_string).collect()
}

/// Counts `peer` as a user of `invite` (once).
pub fn count_use(store: &impl Storage, invite: &InviteId, peer: &str) -> Result<(), StoreError> {
    let mut users = invite_users(store, invite);
    if !users.iter().any(|u| u == peer) {
        users.push(peer.to_string());
        store.meta_put(&invite_key(invite), users.join("\n").as_bytes())?;
    }
    Ok(())
}
