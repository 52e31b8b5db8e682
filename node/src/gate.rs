//! Membership gating's memory: which peers were let in with an invite (so they stay in across
//! restarts and reconnects), and how many newcomers each invite has let in. Kept in the store's
//! `meta` tree under `gate/peer/<peer id>` and `gate/invite/<invite id>`.

use kith_protocol::invite::InviteId;

use crate::storage::Storage;
use crate::store::StoreError;

fn peer_key(peer: &str) -> String {
    format!("gate/peer/{peer}")
}

fn invite_key(invite: &InviteId) -> String {
    format!("gate/invite/{invite}")
}

/// Whether `peer` was let in before (with an invite, or by the operator).
pub fn is_let_in(store: &impl Storage, peer: &str) -> bool {
    matches!(store.meta_get(&peer_key(peer)), Ok(Some(_)))
}

/// Remembers that `peer` is let in.
pub fn let_in(store: &impl Storage, peer: &str) -> Result<(), StoreError> {
    store.meta_put(&peer_key(peer), &[1])?;
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
