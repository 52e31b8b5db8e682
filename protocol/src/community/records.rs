//! Posts and transfers as the reducer keeps them: the people they name as their
//! places in [`Held`] (4 bytes where a member id takes 32), a gathering's schedule boxed (most
//! posts have none). Read out as [`Post`] and [`Transfer`], which name people by id. (A reply
//! needs no record: [`Held`] has its author and kind, and the community the redacted ones.)

use std::num::NonZeroU32;

use serde::{Deserialize, Serialize};

use super::held::Held;
use super::{Post, Transfer};
use crate::body::{PostKind, Status};
use crate::gathering::Schedule;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct PostRecord {
    pub created_at_ms: u64,
    pub expires_at_ms: u64,
    pub schedule: Option<Box<Schedule>>,
    pub replies: u32,
    pub author: u32,
    /// The helper's place plus one (so that the option takes 4 bytes, not 8).
    pub helped_by: Option<NonZeroU32>,
    pub kind: PostKind,
    pub status: Status,
    pub redacted: bool,
}

impl PostRecord {
    pub fn read(&self, held: &Held) -> Option<Post> {
        Some(Post {
            author: held.person(self.author)?,
            kind: self.kind,
            created_at_ms: self.created_at_ms,
            expires_at_ms: self.expires_at_ms,
            status: self.status,
            replies: self.replies,
            redacted: self.redacted,
            schedule: self.schedule.as_deref().copied(),
            helped_by: match self.helper() {
                Some(place) => Some(held.person(place)?),
                None => None,
            },
        })
    }

    /// The helper's place, when a helper wrote it.
    fn helper(&self) -> Option<u32> {
        self.helped_by.map(|plus_one| plus_one.get() - 1)
    }

    /// Keeps `helper` (a place) as the helper who wrote it.
    pub fn helped_by(helper: Option<u32>) -> Option<NonZeroU32> {
        helper.and_then(|place| NonZeroU32::new(place.checked_add(1)?))
    }

    /// The places it names.
    pub fn named(&self) -> impl Iterator<Item = u32> {
        std::iter::once(self.author).chain(self.helper())
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct TransferRecord {
    /// Its place in the payer's log.
    pub seq: u64,
    /// The place in the payee's log of the `Receive` that claimed it (only the payee can), 0
    /// while unclaimed: 8 bytes where the claim's hash took 33.
    pub claim_seq: u64,
    pub from: u32,
    pub to: u32,
    pub minutes: crate::Minutes,
}

impl TransferRecord {
    pub fn read(&self, held: &Held) -> Option<Transfer> {
        Some(Transfer {
            from: held.person(self.from)?,
            seq: self.seq,
            to: held.person(self.to)?,
            minutes: self.minutes,
            claimed_by: match self.claim_seq {
                0 => None,
                seq => held.entry_at_place(self.to, seq),
            },
        })
    }

    pub fn is_claimed(&self) -> bool {
        self.claim_seq != 0
    }
}
