//! What the network loop reads of the replica, without the replica's lock: a small view of the
//! reducer (this node's community and key, the count of entries, read-only, each known key's
//! head and standing facts, the fork proofs, the suspensions in force, the invites withdrawn)
//! that whoever changed the replica publishes when done (`kith-store` after each batch, before
//! it reports the batch; `NodeHandle::publish` before it hands the entry to the loop; inline in
//! the simulator). It is swapped in under a lock held only for the swap, so the loop never
//! waits for the replica's lock, which a rebuild after a fork can hold for seconds.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use kith_protocol::invite::{Capability, InviteId, Withdrawal};
use kith_protocol::{Community, CommunityId, EntryHash, ForkProof, MemberId};

use crate::sync::HEAD_HASH_PREFIX;

/// What the view says of one key the community knows (a member, a newcomer, a hub).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Facts {
    /// The head of its log: seq and the first bytes of its hash.
    pub head: Option<(u64, [u8; HEAD_HASH_PREFIX])>,
    pub admitted: bool,
    pub hub: bool,
    pub suspended: bool,
    /// Its log is frozen by a fork.
    pub frozen: bool,
}

/// A suspension in force against a member: the organiser, the place in their log, its hash.
pub type Suspension = (MemberId, u64, EntryHash);

/// The replica as the network loop sees it, as of the last publish.
#[derive(Debug, Clone, Default)]
pub struct View {
    /// This node's member key.
    pub me: Option<MemberId>,
    /// The community this node belongs to (known before its Genesis is, for a newcomer).
    pub community_id: Option<CommunityId>,
    /// Whether the community's Genesis is here.
    pub has_community: bool,
    pub founder: Option<MemberId>,
    /// Entries applied.
    pub entry_count: u64,
    /// A restored key waiting for its own log.
    pub read_only: bool,
    members: BTreeMap<MemberId, Facts>,
    forks: Vec<(MemberId, ForkProof)>,
    suspensions: BTreeMap<MemberId, Vec<Suspension>>,
    withdrawals: BTreeMap<InviteId, Withdrawal>,
}

impl View {
    /// The view of `community` (if its Genesis is here) for this node.
    pub fn of(me: MemberId, community_id: Option<CommunityId>, community: Option<&Community>, read_only: bool) -> View {
        let mut view = View { me: Some(me), community_id, read_only, ..View::default() };
        let Some(community) = community else { return view };
        view.has_community = true;
        view.founder = Some(community.founder());
        view.entry_count = community.entry_count() as u64;
        view.members = community
            .members()
            .map(|(id, m)| {
                let head = m.head.map(|h| {
                    let mut prefix = [0u8; HEAD_HASH_PREFIX];
                    prefix.copy_from_slice(&h.hash.0[..HEAD_HASH_PREFIX]);
                    (h.seq, prefix)
                });
                let facts = Facts {
                    head,
                    admitted: m.admitted,
                    hub: m.hub,
                    suspended: m.suspended.is_some(),
                    frozen: m.frozen_at.is_some(),
                };
                (*id, facts)
            })
            .collect();
        view.forks = community.forks().map(|(id, proof)| (*id, proof.clone())).collect();
        view.suspensions = view
            .members
            .iter()
            .filter(|(_, facts)| facts.suspended)
            .map(|(id, _)| (*id, community.suspensions_in_force(id).iter().map(|s| (s.by, s.seq, s.hash)).collect()))
            .collect();
        view.withdrawals = community.invite_withdrawals().collect();
        view
    }

    /// What the view says of `id`, if the community knows the key.
    pub fn member(&self, id: &MemberId) -> Option<&Facts> {
        self.members.get(id)
    }

    /// Seq of the head of `author`'s log (0 if none).
    pub fn head_seq(&self, author: &MemberId) -> u64 {
        self.members.get(author).and_then(|m| m.head).map_or(0, |(seq, _)| seq)
    }

    /// Every log's head: author, seq, first bytes of its hash, frozen.
    pub fn heads(&self) -> impl Iterator<Item = (MemberId, u64, [u8; HEAD_HASH_PREFIX], bool)> + '_ {
        self.members.iter().filter_map(|(id, m)| m.head.map(|(seq, prefix)| (*id, seq, prefix, m.frozen)))
    }

    /// Logs with a head.
    pub fn head_count(&self) -> usize {
        self.members.values().filter(|m| m.head.is_some()).count()
    }

    /// Every fork proof, with the author it froze.
    pub fn forks(&self) -> &[(MemberId, ForkProof)] {
        &self.forks
    }

    /// The suspensions in force against `member` (none unless it is suspended).
    pub fn suspensions_in_force(&self, member: &MemberId) -> &[Suspension] {
        self.suspensions.get(member).map_or(&[], Vec::as_slice)
    }

    /// Whether `capability` was withdrawn, as the community counts it
    /// ([`Community::invite_revoked`]).
    pub fn invite_revoked(&self, capability: &Capability) -> bool {
        self.withdrawals.get(&capability.id()).is_some_and(|w| w.withdraws(capability))
    }

    /// Whether this node is an admitted member itself.
    pub fn is_member(&self) -> bool {
        self.me.as_ref().and_then(|me| self.members.get(me)).is_some_and(|m| m.admitted)
    }
}

/// The latest published [`View`], shared by the replica (which publishes) and its readers.
#[derive(Debug, Clone, Default)]
pub struct Published(Arc<RwLock<Arc<View>>>);

impl Published {
    /// The latest view (the lock held only to clone an `Arc`).
    pub fn get(&self) -> Arc<View> {
        // A poisoned lock means a panic elsewhere already; the view in it is whole (a swap).
        self.0.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// Replaces the view (the lock held only for the swap).
    pub fn set(&self, view: View) {
        let view = Arc::new(view);
        let old = std::mem::replace(&mut *self.0.write().unwrap_or_else(std::sync::PoisonError::into_inner), view);
        // The old view is freed here, after the lock is let go.
        drop(old);
    }
}
