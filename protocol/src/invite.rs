//! Invite capabilities: a member's signed permission for a newcomer to connect and ask to
//! join, with an expiry and a number of uses. Admission itself is still by vouches.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::entry::CommunityId;
use crate::identity::{Keypair, MemberId};

/// Prefix of every invite signature (distinct from entries' and libp2p's).
pub const INVITE_DOMAIN: &[u8] = b"kith/invite/v1\0";
const INVITE_VERSION: u8 = 1;
/// Largest encoded capability accepted.
pub const MAX_INVITE_BYTES: usize = 256;

/// What an invite allows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InviteTerms {
    pub community: CommunityId,
    pub issuer: MemberId,
    /// Random bytes chosen by the issuer, so two invites with equal terms differ.
    pub nonce: [u8; 16],
    pub expires_at_ms: u64,
    /// How many newcomers may use it.
    pub uses: u32,
}

/// The id of an invite: BLAKE3 of its signed terms. Revocations name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct InviteId(pub [u8; 32]);

impl std::fmt::Display for InviteId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl std::str::FromStr for InviteId {
    type Err = crate::IdError;
    fn from_str(text: &str) -> Result<Self, crate::IdError> {
        crate::identity::parse_hex32(text).map(InviteId)
    }
}

/// Who withdrew an invite, as the community counts it ([`crate::Community::invite_withdrawals`]):
/// a withdrawal by an organiser counts for any invite, one by another member only for an
/// invite that member issued (which only the capability, not its id, says).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Withdrawal {
    /// An organiser withdrew it.
    pub by_organiser: bool,
    /// Every member who withdrew it.
    pub by: BTreeSet<MemberId>,
}

impl Withdrawal {
    /// Rule: whether this withdraws `capability` (an invite with this withdrawal's id).
    pub fn withdraws(&self, capability: &Capability) -> bool {
        self.by_organiser || self.by.contains(&capability.terms().issuer)
    }
}

/// A signed invite, as it travels (inside the invite line, and in a newcomer's hello).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Capability {
    terms: InviteTerms,
    terms_bytes: Vec<u8>,
    signature: [u8; 64],
}

#[derive(Serialize, Deserialize)]
struct WireCapability<'a> {
    #[serde(borrow, with = "serde_bytes")]
    terms: &'a [u8],
    #[serde(borrow, with = "serde_bytes")]
    signature: &'a [u8],
}

/// Why an invite does not let someone in.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InviteError {
    #[error("this invite cannot be read; ask for a new one")]
    Malformed,
    #[error("this invite's signature is not valid; ask for a new one")]
    BadSignature,
    #[error("this invite is for another community")]
    WrongCommunity,
    #[error("this invite was made by someone who is not a member")]
    IssuerNotMember,
    #[error("this invite expired; ask for a new one")]
    Expired,
    #[error("this invite has been used {uses} times already, as many as it allows; ask for a new one")]
    UsedUp { uses: u32 },
    #[error("this invite was withdrawn by the person who made it; ask for a new one")]
    Revoked,
    #[error("no member vouched for you within {days} days of letting you in with this invite; ask for a new one")]
    TimeUp { days: u64 },
}

/// How long a newcomer let in with an invite may stay in without being admitted.
pub const NEWCOMER_ACCESS_MS: u64 = 14 * 24 * 3_600_000;

fn message(terms_bytes: &[u8]) -> Vec<u8> {
    let mut message = INVITE_DOMAIN.to_vec();
    message.extend_from_slice(terms_bytes);
    message
}

impl Capability {
    /// Signs an invite. `nonce` comes from the caller (this crate reads no randomness).
    pub fn issue(keypair: &Keypair, community: CommunityId, nonce: [u8; 16], expires_at_ms: u64, uses: u32) -> Self {
        let terms = InviteTerms { community, issuer: keypair.member_id(), nonce, expires_at_ms, uses };
        let mut terms_bytes = vec![INVITE_VERSION];
        // Our own fixed-size struct always encodes.
        #[allow(clippy::expect_used)]
        terms_bytes.extend(postcard::to_stdvec(&terms).expect("invite terms encode"));
        let signature = keypair.sign(&message(&terms_bytes));
        Capability { terms, terms_bytes, signature }
    }

    /// The capability's bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let wire = WireCapability { terms: &self.terms_bytes, signature: &self.signature };
        let mut out = vec![INVITE_VERSION];
        #[allow(clippy::expect_used)]
        out.extend(postcard::to_stdvec(&wire).expect("invite encodes"));
        out
    }

    /// Reads a capability and checks its signature (`verify_strict`) and canonical form.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, InviteError> {
        let capability = Capability::from_bytes_verified_before(bytes)?;
        let key = capability.terms.issuer.verifying_key().map_err(|_| InviteError::BadSignature)?;
        let signature = ed25519_dalek::Signature::from_bytes(&capability.signature);
        key.verify_strict(&message(&capability.terms_bytes), &signature).map_err(|_| InviteError::BadSignature)?;
        Ok(capability)
    }

    /// Reads a capability whose signature was checked before (its canonical form is checked
    /// again): the reducer applying a join request `judge_join` has just verified.
    pub(crate) fn from_bytes_verified_before(bytes: &[u8]) -> Result<Self, InviteError> {
        if bytes.len() > MAX_INVITE_BYTES {
            return Err(InviteError::Malformed);
        }
        let (&version, rest) = bytes.split_first().ok_or(InviteError::Malformed)?;
        if version != INVITE_VERSION {
            return Err(InviteError::Malformed);
        }
        let wire: WireCapability<'_> = postcard::from_bytes(rest).map_err(|_| InviteError::Malformed)?;
        let (&terms_version, terms_rest) = wire.terms.split_first().ok_or(InviteError::Malformed)?;
        if terms_version != INVITE_VERSION {
            return Err(InviteError::Malformed);
        }
        let terms: InviteTerms = postcard::from_bytes(terms_rest).map_err(|_| InviteError::Malformed)?;
        let signature: [u8; 64] = wire.signature.try_into().map_err(|_| InviteError::Malformed)?;
        let capability = Capability { terms, terms_bytes: wire.terms.to_vec(), signature };
        if capability.to_bytes() != bytes {
            return Err(InviteError::Malformed);
        }
        Ok(capability)
    }

    pub fn terms(&self) -> &InviteTerms {
        &self.terms
    }

    pub fn id(&self) -> InviteId {
        InviteId(*blake3::hash(&self.terms_bytes).as_bytes())
    }
}

/// Rule: an invite lets a newcomer in when it is for this community, made by a member, not
/// expired, not withdrawn, and not used up. `used` counts the newcomers already let in with it.
pub fn invite_admits(
    capability: &Capability,
    community: CommunityId,
    issuer_is_member: bool,
    now_ms: u64,
    used: u32,
    revoked: bool,
) -> Result<(), InviteError> {
    let terms = capability.terms();
    if terms.community != community {
        return Err(InviteError::WrongCommunity);
    }
    if !issuer_is_member {
        return Err(InviteError::IssuerNotMember);
    }
    if revoked {
        return Err(InviteError::Revoked);
    }
    if now_ms >= terms.expires_at_ms {
        return Err(InviteError::Expired);
    }
    if used >= terms.uses {
        return Err(InviteError::UsedUp { uses: terms.uses });
    }
    Ok(())
}

/// Rule: a newcomer let in with `capability` at `let_in_at_ms` keeps its access (connections,
/// data) until it is admitted — and only while the invite has not expired or been withdrawn,
/// and for at most [`NEWCOMER_ACCESS_MS`] after it was let in. The caller asks only for a
/// newcomer not admitted yet: a member's access is its membership's.
pub fn newcomer_access_holds(
    capability: &Capability,
    let_in_at_ms: u64,
    now_ms: u64,
    revoked: bool,
) -> Result<(), InviteError> {
    if revoked {
        return Err(InviteError::Revoked);
    }
    if now_ms >= capability.terms().expires_at_ms {
        return Err(InviteError::Expired);
    }
    if now_ms.saturating_sub(let_in_at_ms) >= NEWCOMER_ACCESS_MS {
        return Err(InviteError::TimeUp { days: NEWCOMER_ACCESS_MS / (24 * 3_600_000) });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn sample() -> (Keypair, Capability) {
        let key = Keypair::from_secret_bytes([3; 32]);
        let cap = Capability::issue(&key, CommunityId([9; 32]), [1; 16], 1_000, 2);
        (key, cap)
    }

    #[test]
    fn a_newcomer_s_access_ends_with_its_invite_or_after_the_time_limit() {
        let key = Keypair::from_secret_bytes([3; 32]);
        let cap = Capability::issue(&key, CommunityId([9; 32]), [1; 16], 30 * 24 * 3_600_000, 2);
        assert_eq!(newcomer_access_holds(&cap, 1_000, 2_000, false), Ok(()));
        assert_eq!(newcomer_access_holds(&cap, 1_000, 2_000, true), Err(InviteError::Revoked));
        assert_eq!(newcomer_access_holds(&cap, 1_000, 30 * 24 * 3_600_000, false), Err(InviteError::Expired));
        let late = 1_000 + NEWCOMER_ACCESS_MS;
        assert_eq!(newcomer_access_holds(&cap, 1_000, late - 1, false), Ok(()));
        assert_eq!(newcomer_access_holds(&cap, 1_000, late, false), Err(InviteError::TimeUp { days: 14 }));
    }

    #[test]
    fn round_trips_and_verifies() {
        let (key, cap) = sample();
        let back = Capability::from_bytes(&cap.to_bytes()).unwrap();
        assert_eq!(back, cap);
        assert_eq!(back.terms().issuer, key.member_id());
    }

    #[test]
    fn any_flipped_bit_is_refused() {
        let (_, cap) = sample();
        let bytes = cap.to_bytes();
        for i in 0..bytes.len() * 8 {
            let mut bad = bytes.clone();
            bad[i / 8] ^= 1 << (i % 8);
            assert!(Capability::from_bytes(&bad).is_err(), "bit {i}");
        }
    }

    #[test]
    fn each_rule_has_its_reason() {
        let (_, cap) = sample();
        let ours = CommunityId([9; 32]);
        assert_eq!(invite_admits(&cap, ours, true, 10, 0, false), Ok(()));
        assert_eq!(invite_admits(&cap, CommunityId([8; 32]), true, 10, 0, false), Err(InviteError::WrongCommunity));
        assert_eq!(invite_admits(&cap, ours, false, 10, 0, false), Err(InviteError::IssuerNotMember));
        assert_eq!(invite_admits(&cap, ours, true, 10, 0, true), Err(InviteError::Revoked));
        assert_eq!(invite_admits(&cap, ours, true, 1_000, 0, false), Err(InviteError::Expired));
        assert_eq!(invite_admits(&cap, ours, true, 10, 2, false), Err(InviteError::UsedUp { uses: 2 }));
    }
}
