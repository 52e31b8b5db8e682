//! Invites: the one line of text that brings a newcomer to a community — the community id,
//! the addresses to reach it and the inviter's signed capability (who invited, expiry, uses) —
//! and its encoding, `kith:` followed by base64url of `[INVITE_VERSION] ‖ postcard(Invite)`.
//! The joining node presents the capability to the members it connects to (`SyncRequest::Hello`).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

use kith_protocol::invite::Capability;
use kith_protocol::{CommunityId, MemberId};

/// What every invite starts with.
pub const INVITE_PREFIX: &str = "kith:";
/// First byte of an invite's encoded bytes.
pub const INVITE_VERSION: u8 = 2;
/// Largest invite accepted, in characters of text.
pub const MAX_INVITE_CHARS: usize = 4096;
/// Most addresses an invite carries.
pub const MAX_INVITE_ADDRS: usize = 16;
/// Longest address an invite carries, in bytes.
pub const MAX_ADDR_BYTES: usize = 256;

/// An invite to a community, as it travels in the line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct WireInvite {
    community: CommunityId,
    /// Multiaddrs with `/p2p/` of the inviter's node and of known hubs.
    addrs: Vec<String>,
    /// The inviter's signed capability (`Capability::to_bytes`).
    #[serde(with = "serde_bytes")]
    capability: Vec<u8>,
}

/// An invite to a community: where to go, and the signed capability to show there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invite {
    pub community: CommunityId,
    /// Multiaddrs with `/p2p/` of the inviter's node and of known hubs.
    pub addrs: Vec<String>,
    pub capability: Capability,
}

/// Why a text is not a usable invite.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InviteError {
    #[error("an invite starts with `kith:`; this text does not")]
    NotAnInvite,
    #[error("the invite is {0} characters long, more than any invite")]
    TooLong(usize),
    #[error("the invite is damaged (was it copied whole?): {0}")]
    Malformed(String),
    #[error("the invite was made by a newer version of kith (format {0}); update kith")]
    UnknownVersion(u8),
    #[error("the invite holds no address to reach the community; ask for a new one")]
    NoAddress,
    #[error("the invite expired; ask for a new one")]
    Expired,
    #[error(transparent)]
    Capability(#[from] kith_protocol::invite::InviteError),
}

impl Invite {
    /// The member who made the invite.
    pub fn inviter(&self) -> MemberId {
        self.capability.terms().issuer
    }

    pub fn expires_at_ms(&self) -> u64 {
        self.capability.terms().expires_at_ms
    }

    pub fn uses(&self) -> u32 {
        self.capability.terms().uses
    }

    /// The invite as one line of text.
    pub fn encode(&self) -> String {
        let wire =
            WireInvite { community: self.community, addrs: self.addrs.clone(), capability: self.capability.to_bytes() };
        let mut bytes = vec![INVITE_VERSION];
        // Encoding owned plain data into a Vec does not fail.
        bytes.extend(postcard::to_stdvec(&wire).unwrap_or_default());
        format!("{INVITE_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes))
    }

    /// Reads an invite's text (surrounding spaces are ignored), checking its shape and bounds
    /// but not its expiry (see [`Invite::check_expiry`]).
    pub fn decode(text: &str) -> Result<Invite, InviteError> {
        let text = text.trim();
        if text.len() > MAX_INVITE_CHARS {
            return Err(InviteError::TooLong(text.len()));
        }
        let encoded = text.strip_prefix(INVITE_PREFIX).ok_or(InviteError::NotAnInvite)?;
        let bytes = URL_SAFE_NO_PAD.decode(encoded).map_err(|e| InviteError::Malformed(e.to_string()))?;
        let (&version, rest) = bytes.split_first().ok_or_else(|| InviteError::Malformed("it is empty".into()))?;
        if version != INVITE_VERSION {
            return Err(InviteError::UnknownVersion(version));
        }
        let wire: WireInvite = postcard::from_bytes(rest).map_err(|e| InviteError::Malformed(e.to_string()))?;
        let capability = Capability::from_bytes(&wire.capability)?;
        if capability.terms().community != wire.community {
            return Err(InviteError::Capability(kith_protocol::invite::InviteError::WrongCommunity));
        }
        let invite = Invite { community: wire.community, addrs: wire.addrs, capability };
        if invite.addrs.len() > MAX_INVITE_ADDRS || invite.addrs.iter().any(|a| a.len() > MAX_ADDR_BYTES) {
            return Err(InviteError::Malformed("too many or too long addresses".into()));
        }
        if invite.addrs.is_empty() {
            return Err(InviteError::NoAddress);
        }
        Ok(invite)
    }

    /// Refuses an invite past its expiry.
    pub fn check_expiry(&self, now_ms: u64) -> Result<(), InviteError> {
        if now_ms >= self.expires_at_ms() {
            return Err(InviteError::Expired);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Invite {
        let key = kith_protocol::Keypair::from_secret_bytes([2; 32]);
        Invite {
            community: CommunityId([1; 32]),
            addrs: vec!["/ip4/127.0.0.1/tcp/4001".into()],
            capability: Capability::issue(&key, CommunityId([1; 32]), [3; 16], 1_000, 2),
        }
    }

    #[test]
    fn round_trips_as_one_line() {
        let text = sample().encode();
        assert!(text.starts_with(INVITE_PREFIX));
        assert!(!text.contains(char::is_whitespace));
        assert_eq!(Invite::decode(&format!("  {text}\n")), Ok(sample()));
    }

    #[test]
    fn refuses_what_is_not_an_invite() {
        assert_eq!(Invite::decode("hello"), Err(InviteError::NotAnInvite));
        assert!(matches!(Invite::decode("kith:!!"), Err(InviteError::Malformed(_))));
        assert!(matches!(Invite::decode("kith:"), Err(InviteError::Malformed(_))));
        let mut no_addr = sample();
        no_addr.addrs.clear();
        assert_eq!(Invite::decode(&no_addr.encode()), Err(InviteError::NoAddress));
    }

    #[test]
    fn refuses_a_capability_for_another_community() {
        let mut other = sample();
        other.community = CommunityId([7; 32]);
        assert!(matches!(Invite::decode(&other.encode()), Err(InviteError::Capability(_))));
    }

    #[test]
    fn expires() {
        assert_eq!(sample().check_expiry(999), Ok(()));
        assert_eq!(sample().check_expiry(1_000), Err(InviteError::Expired));
    }
}
