//! Invites: the one line of text that brings a newcomer to a community — the community id,
//! who invited, the addresses to reach it, an expiry and a number of uses — and its encoding,
//! `kith:` followed by base64url of `[INVITE_VERSION] ‖ postcard(Invite)`.
//!
//! Not signed yet: the invite capability the design asks for (signed by the inviter's key,
//! checked by the nodes that let a newcomer in) needs a signing helper in `kith-protocol`.
//! Until then an invite says where to go and is checked for expiry by `kith join` only.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

use kith_protocol::{CommunityId, MemberId};

/// What every invite starts with.
pub const INVITE_PREFIX: &str = "kith:";
/// First byte of an invite's encoded bytes.
pub const INVITE_VERSION: u8 = 1;
/// Largest invite accepted, in characters of text.
pub const MAX_INVITE_CHARS: usize = 4096;
/// Most addresses an invite carries.
pub const MAX_INVITE_ADDRS: usize = 16;
/// Longest address an invite carries, in bytes.
pub const MAX_ADDR_BYTES: usize = 256;

/// An invite to a community.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Invite {
    pub community: CommunityId,
    /// The member who made the invite.
    pub inviter: MemberId,
    /// Random bytes naming this invite (for revoking it later).
    pub id: [u8; 8],
    /// Multiaddrs with `/p2p/` of the inviter's node and of known hubs.
    pub addrs: Vec<String>,
    /// Ms since the epoch after which the invite is no longer good.
    pub expires_at_ms: u64,
    /// How many people may join with it; `None`: no limit.
    pub uses: Option<u32>,
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
}

impl Invite {
    /// The invite as one line of text.
    pub fn encode(&self) -> String {
        let mut bytes = vec![INVITE_VERSION];
        // Encoding owned plain data into a Vec does not fail.
        bytes.extend(postcard::to_stdvec(self).unwrap_or_default());
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
        let invite: Invite = postcard::from_bytes(rest).map_err(|e| InviteError::Malformed(e.to_string()))?;
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
        if now_ms > self.expires_at_ms {
            return Err(InviteError::Expired);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Invite {
        Invite {
            community: CommunityId([1; 32]),
            inviter: MemberId([2; 32]),
            id: [3; 8],
            addrs: vec!["/ip4/127.0.0.1/tcp/4001".into()],
            expires_at_ms: 1_000,
            uses: Some(2),
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
    fn expires() {
        assert_eq!(sample().check_expiry(1_000), Ok(()));
        assert_eq!(sample().check_expiry(1_001), Err(InviteError::Expired));
    }
}
