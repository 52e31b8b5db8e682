//! Identities: a member's ed25519 key pair and the member id (its public key) with one textual form.

use std::fmt;
use std::str::FromStr;

use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};

/// A member's id: the 32 bytes of its ed25519 public key. Written as 64 lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct MemberId(pub [u8; 32]);

impl MemberId {
    /// The raw public key bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// A short form for logs and tables (the first 8 hex digits).
    pub fn short(&self) -> String {
        hex::encode(&self.0[..4])
    }

    /// The verifying key, if these bytes are a valid, non-weak ed25519 point.
    pub fn verifying_key(&self) -> Result<VerifyingKey, IdError> {
        let key = VerifyingKey::from_bytes(&self.0).map_err(|_| IdError::NotAKey)?;
        if key.is_weak() {
            return Err(IdError::WeakKey);
        }
        Ok(key)
    }
}

impl fmt::Display for MemberId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for MemberId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MemberId({})", self.short())
    }
}

impl FromStr for MemberId {
    type Err = IdError;

    fn from_str(text: &str) -> Result<Self, IdError> {
        parse_hex32(text).map(MemberId)
    }
}

/// Why a textual id or key could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("an id is 64 hex digits (0-9, a-f); this one has {0} characters")]
    WrongLength(usize),
    #[error("an id is written with the hex digits 0-9 and a-f only")]
    NotHex,
    #[error("these bytes are not an ed25519 public key")]
    NotAKey,
    #[error("this public key is a weak (small-order) key and is not accepted")]
    WeakKey,
}

/// Parses exactly 64 hex digits (either case) into 32 bytes.
pub(crate) fn parse_hex32(text: &str) -> Result<[u8; 32], IdError> {
    if text.len() != 64 {
        return Err(IdError::WrongLength(text.chars().count()));
    }
    let mut out = [0u8; 32];
    hex::decode_to_slice(text, &mut out).map_err(|_| IdError::NotHex)?;
    Ok(out)
}

/// A member's key pair. The same secret is the node's libp2p identity, so entry signatures
/// carry a domain-separation tag (see [`crate::entry`]).
#[derive(Clone)]
pub struct Keypair {
    signing: SigningKey,
}

impl Keypair {
    /// Builds a key pair from 32 secret bytes (the caller supplies randomness: this crate reads none).
    pub fn from_secret_bytes(secret: [u8; 32]) -> Self {
        Keypair { signing: SigningKey::from_bytes(&secret) }
    }

    /// The 32 secret bytes, for storing in the home folder, backing up as words, and building the
    /// libp2p identity (`libp2p::identity::Keypair::ed25519_from_bytes`).
    pub fn secret_bytes(&self) -> [u8; 32] {
        self.signing.to_bytes()
    }

    /// This key's member id.
    pub fn member_id(&self) -> MemberId {
        MemberId(self.signing.verifying_key().to_bytes())
    }

    pub(crate) fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.signing.sign(message).to_bytes()
    }
}

impl fmt::Debug for Keypair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Keypair({}, secret hidden)", self.member_id().short())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn member_id_text_round_trips() {
        let id = Keypair::from_secret_bytes([7; 32]).member_id();
        let text = id.to_string();
        assert_eq!(text.len(), 64);
        assert_eq!(text.parse::<MemberId>(), Ok(id));
        assert_eq!(text.to_uppercase().parse::<MemberId>(), Ok(id));
    }

    #[test]
    fn member_id_rejects_bad_text() {
        assert_eq!("abc".parse::<MemberId>(), Err(IdError::WrongLength(3)));
        assert_eq!("g".repeat(64).parse::<MemberId>(), Err(IdError::NotHex));
    }

    #[test]
    fn weak_keys_are_refused() {
        // The identity point (encoded as 1 followed by zeros) has small order.
        let mut bytes = [0u8; 32];
        bytes[0] = 1;
        assert_eq!(MemberId(bytes).verifying_key().err(), Some(IdError::WeakKey));
    }
}
