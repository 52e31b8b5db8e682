//! Fork proofs: two different entries signed by one author at one sequence number.

use serde::{Deserialize, Serialize};

use crate::entry::{CommunityId, Entry};
use crate::error::EntryError;
use crate::identity::MemberId;

/// Evidence that an author wrote two different entries at one seq. It travels as the two
/// entries' exact bytes, so any node can check it without trusting the sender.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ForkProof {
    #[serde(with = "serde_bytes")]
    pub first: Vec<u8>,
    #[serde(with = "serde_bytes")]
    pub second: Vec<u8>,
}

/// What a checked fork proof establishes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fork {
    pub author: MemberId,
    pub seq: u64,
    pub community: CommunityId,
}

/// Why a fork proof does not hold. A proof that does not hold frames nobody.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ForkProofError {
    #[error("one of the two entries is not valid: {0}")]
    InvalidEntry(crate::error::EntryError),
    #[error("the two entries are the same entry")]
    SameEntry,
    #[error("the two entries have different authors")]
    DifferentAuthors,
    #[error("the two entries are at different places in the log ({0} and {1})")]
    DifferentSeq(u64, u64),
    #[error("the two entries belong to different communities")]
    DifferentCommunities,
}

impl ForkProof {
    pub fn new(first: &Entry, second: &Entry) -> Self {
        ForkProof { first: first.bytes().to_vec(), second: second.bytes().to_vec() }
    }

    /// Checks the proof strictly: both entries decode and pass `verify_strict`, they are
    /// distinct, by one author, at one seq, in one community.
    pub fn verify(&self) -> Result<Fork, ForkProofError> {
        self.check(Entry::decode)
    }

    /// The same checks but the signatures, for a proof verified before: one this node accepted
    /// (kept in its store) or built from entries it verified on arrival. A rebuild meets every
    /// kept proof at each pass; checking their four signatures again each time was most of the
    /// reducer's work in a history with forks.
    pub(crate) fn read_verified_before(&self) -> Result<Fork, ForkProofError> {
        self.check(Entry::decode_unverified)
    }

    fn check(&self, decode: fn(Vec<u8>) -> Result<Entry, EntryError>) -> Result<Fork, ForkProofError> {
        let first = decode(self.first.clone()).map_err(ForkProofError::InvalidEntry)?;
        let second = decode(self.second.clone()).map_err(ForkProofError::InvalidEntry)?;
        if first.hash() == second.hash() {
            return Err(ForkProofError::SameEntry);
        }
        if first.author() != second.author() {
            return Err(ForkProofError::DifferentAuthors);
        }
        if first.seq() != second.seq() {
            return Err(ForkProofError::DifferentSeq(first.seq(), second.seq()));
        }
        if first.community() != second.community() {
            return Err(ForkProofError::DifferentCommunities);
        }
        Ok(Fork { author: first.author(), seq: first.seq(), community: first.community() })
    }
}
