//! Signed entries: the header, the wire form, canonical encoding, signing and verification.
//!
//! Wire form of an entry: `[ENTRY_FORMAT_VERSION] ‖ postcard(WireEntry)`, where `WireEntry`
//! holds the header bytes (`[HEADER_VERSION] ‖ postcard(Header)`), the 64-byte signature and
//! the payload bytes (`[PAYLOAD_VERSION] ‖ postcard(Body)`). The signature covers
//! `SIGNATURE_DOMAIN ‖ header bytes`; the entry hash is BLAKE3 of the header bytes. The bytes
//! received are the bytes stored and verified: decoding re-encodes each part (against the bytes
//! received, allocating nothing) and refuses any input that is not in canonical form, so one
//! entry has exactly one byte string.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

use ed25519_dalek::{Signature, VerifyingKey};
use serde::{Deserialize, Serialize};

use crate::body::{Body, MAX_PAYLOAD_BYTES};
use crate::error::EntryError;
use crate::identity::{IdError, Keypair, MemberId, parse_hex32};

/// First byte of an entry's wire bytes.
pub const ENTRY_FORMAT_VERSION: u8 = 1;
/// First byte of the header bytes.
pub const HEADER_VERSION: u8 = 1;
/// First byte of the payload bytes. Version 2: join requests carry their invite, suspensions
/// name a position in the suspended member's log, reinstatement and dismissal exist, and
/// bodies gained `Announcement`, `Come`, `Renew`, `CheckIns`, `CheckIn` and gatherings their
/// schedule (a payload of version 1 holds none of them).
pub const PAYLOAD_VERSION: u8 = 2;
/// Prefix of every entry signature, so that an entry signature can never stand for one of the
/// libp2p handshake or record signatures made with the same key, nor the reverse.
pub const SIGNATURE_DOMAIN: &[u8] = b"kith/entry/v1\0";
/// Largest wire size of one entry.
pub const MAX_ENTRY_BYTES: usize = MAX_PAYLOAD_BYTES + 512;

/// BLAKE3 hash of an entry's header bytes: the entry's id (and a post's id).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct EntryHash(pub [u8; 32]);

/// A community's id: the hash of its Genesis entry.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct CommunityId(pub [u8; 32]);

macro_rules! hex_id {
    ($name:ident) => {
        impl $name {
            pub fn as_bytes(&self) -> &[u8; 32] {
                &self.0
            }
            /// The first 8 hex digits, for logs and tables.
            pub fn short(&self) -> String {
                hex::encode(&self.0[..4])
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&hex::encode(self.0))
            }
        }
        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.short())
            }
        }
        impl FromStr for $name {
            type Err = IdError;
            fn from_str(text: &str) -> Result<Self, IdError> {
                parse_hex32(text).map($name)
            }
        }
    };
}
hex_id!(EntryHash);
hex_id!(CommunityId);

impl From<EntryHash> for CommunityId {
    fn from(hash: EntryHash) -> Self {
        CommunityId(hash.0)
    }
}

/// The signed part of an entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    /// `None` only in a Genesis, whose own hash becomes the community id.
    pub community: Option<CommunityId>,
    pub author: MemberId,
    /// Position in the author's log, from 1.
    pub seq: u64,
    /// Hash of the author's entry at `seq - 1`; `None` exactly when `seq == 1`.
    pub prev: Option<EntryHash>,
    /// When the author says it was written, ms since the epoch.
    pub timestamp_ms: u64,
    /// Which [`Body`] variant the payload holds (its postcard index), so a header alone says
    /// what kind of entry it is.
    pub body_kind: u8,
    pub payload_hash: [u8; 32],
    pub payload_len: u32,
}

#[derive(Serialize, Deserialize)]
struct WireEntry<'a> {
    #[serde(borrow, with = "serde_bytes")]
    header: &'a [u8],
    #[serde(borrow, with = "serde_bytes")]
    signature: &'a [u8],
    #[serde(borrow, with = "serde_bytes")]
    payload: &'a [u8],
}

/// A decoded entry whose structure, sizes and payload hash have been checked, holding the exact
/// bytes it was decoded from. Whether the signature has been checked is recorded too: only
/// [`Entry::decode`] and [`Entry::sign`] return entries with `signature_checked`.
#[derive(Clone, PartialEq, Eq)]
pub struct Entry {
    bytes: Vec<u8>,
    header: Header,
    header_len: usize,
    header_offset: usize,
    signature: [u8; 64],
    body: Body,
    hash: EntryHash,
}

impl fmt::Debug for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Entry({} {}#{} {})",
            self.hash.short(),
            self.header.author.short(),
            self.header.seq,
            self.body.kind_name()
        )
    }
}

/// What an author fills in to write the next entry of their log.
#[derive(Debug, Clone)]
pub struct Draft {
    pub community: Option<CommunityId>,
    pub seq: u64,
    pub prev: Option<EntryHash>,
    pub timestamp_ms: u64,
    pub body: Body,
}

/// The `body_kind` of a reply's header.
pub const REPLY_BODY_KIND: u8 = 5;

/// The postcard variant index of a body (what `Header::body_kind` holds).
pub fn body_kind_index(body: &Body) -> u8 {
    match body {
        Body::Genesis { .. } => 0,
        Body::Profile { .. } => 1,
        Body::Vouch { .. } => 2,
        Body::Post { .. } => 3,
        Body::PostStatus { .. } => 4,
        Body::Reply { .. } => REPLY_BODY_KIND,
        Body::Transfer { .. } => 6,
        Body::Receive { .. } => 7,
        Body::Redact { .. } => 8,
        Body::Suspend { .. } => 9,
        Body::Appoint { .. } => 10,
        Body::RevokeInvite { .. } => 11,
        Body::JoinRequest { .. } => 12,
        Body::Reinstate { .. } => 13,
        Body::Dismiss { .. } => 14,
        Body::Announcement { .. } => 15,
        Body::Come { .. } => 16,
        Body::Renew { .. } => 17,
        Body::CheckIns { .. } => 18,
        Body::CheckIn => 19,
        Body::Helped { .. } => 20,
        Body::Listing { .. } => 21,
    }
}

/// The envelope of stored entry bytes ([`Entry::locate`], [`Entry::stored_body`]): its size,
/// version and shape checked, nothing inside it decoded.
fn stored_envelope(bytes: &[u8]) -> Result<WireEntry<'_>, EntryError> {
    if bytes.len() > MAX_ENTRY_BYTES {
        return Err(EntryError::EntryTooLarge { len: bytes.len(), max: MAX_ENTRY_BYTES });
    }
    let malformed = |reason: String| EntryError::Malformed { part: "entry", reason };
    let (&version, rest) = bytes.split_first().ok_or_else(|| malformed("empty".into()))?;
    if version != ENTRY_FORMAT_VERSION {
        return Err(EntryError::UnknownVersion { part: "entry", version });
    }
    let (wire, after): (WireEntry<'_>, _) = postcard::take_from_bytes(rest).map_err(|e| malformed(e.to_string()))?;
    if !after.is_empty() || wire.signature.len() != 64 {
        return Err(malformed("bytes after the entry, or a signature not of 64 bytes".into()));
    }
    Ok(wire)
}

fn versioned<T: Serialize>(version: u8, value: &T) -> Vec<u8> {
    let mut out = vec![version];
    // Serializing our own types into a Vec cannot fail: they hold no maps or unsized sequences.
    #[allow(clippy::expect_used)]
    let encoded = postcard::to_stdvec(value).expect("postcard encodes owned values into a Vec");
    out.extend_from_slice(&encoded);
    out
}

/// Decodes `[version] ‖ postcard(T)` and insists the bytes are exactly T's canonical encoding.
fn decode_versioned<'a, T>(part: &'static str, version: u8, bytes: &'a [u8]) -> Result<T, EntryError>
where
    T: Serialize + Deserialize<'a>,
{
    let (&first, rest) = bytes.split_first().ok_or(EntryError::Malformed { part, reason: "empty".into() })?;
    if first != version {
        return Err(EntryError::UnknownVersion { part, version: first });
    }
    let value: T = postcard::from_bytes(rest).map_err(|e| EntryError::Malformed { part, reason: e.to_string() })?;
    if !encodes_as(&value, rest) {
        return Err(EntryError::NonCanonical { part });
    }
    Ok(value)
}

/// Whether `value`'s postcard encoding is exactly `expected`: encoded against the bytes
/// rather than into a new buffer, so the check allocates and copies nothing (it ran for each
/// of an entry's three parts on every entry received, and the buffers cost more than the
/// decoding itself).
fn encodes_as<T: Serialize>(value: &T, expected: &[u8]) -> bool {
    postcard::serialize_with_flavor(value, SameAs { rest: expected }).unwrap_or(false)
}

/// A postcard output that compares what is written with the bytes still `rest` and fails at
/// the first that differs, or when they run out; in the end, whether none were left.
struct SameAs<'a> {
    rest: &'a [u8],
}

impl postcard::ser_flavors::Flavor for SameAs<'_> {
    type Output = bool;

    fn try_extend(&mut self, data: &[u8]) -> postcard::Result<()> {
        match self.rest.strip_prefix(data) {
            Some(rest) => {
                self.rest = rest;
                Ok(())
            }
            None => Err(postcard::Error::SerializeBufferFull),
        }
    }

    fn try_push(&mut self, byte: u8) -> postcard::Result<()> {
        self.try_extend(&[byte])
    }

    fn finalize(self) -> postcard::Result<bool> {
        Ok(self.rest.is_empty())
    }
}

/// The message an entry signature covers.
fn signed_message(header_bytes: &[u8]) -> Vec<u8> {
    let mut message = Vec::with_capacity(SIGNATURE_DOMAIN.len() + header_bytes.len());
    message.extend_from_slice(SIGNATURE_DOMAIN);
    message.extend_from_slice(header_bytes);
    message
}

/// The decoded keys of the authors of some entries (each decoded once).
#[derive(Debug, Default)]
pub struct AuthorKeys(HashMap<MemberId, Result<VerifyingKey, EntryError>>);

/// How many authors' keys [`AuthorKeys::add`] keeps before it starts again: a verifier keeps
/// them from page to page, and memory stays bounded whoever writes.
pub const AUTHOR_KEYS_KEPT: usize = 4096;

impl AuthorKeys {
    /// Decodes the key of every author of `entries`.
    pub fn of(entries: &[Entry]) -> AuthorKeys {
        let mut keys = AuthorKeys::default();
        keys.add(entries);
        keys
    }

    /// Decodes the key of every author of `entries` not already held (a key decoded is the
    /// same for every entry of its author, on every page; decoding one costs about a tenth of
    /// a signature check, and a catch-up met each of 200 authors on each of its 196 pages).
    /// Past [`AUTHOR_KEYS_KEPT`] keys, the ones held are dropped first.
    pub fn add(&mut self, entries: &[Entry]) {
        if self.0.len() >= AUTHOR_KEYS_KEPT {
            self.0.clear();
        }
        for entry in entries {
            self.0.entry(entry.author()).or_insert_with(|| entry.author_key());
        }
    }

    /// Checks `entry`'s signature (`verify_strict`) with its author's key held here, or decoded
    /// for it if not held.
    pub fn verify(&self, entry: &Entry) -> Result<(), EntryError> {
        match self.0.get(&entry.author()) {
            Some(Ok(key)) => entry.verify_with(key),
            Some(Err(error)) => Err(error.clone()),
            None => entry.author_key().and_then(|key| entry.verify_with(&key)),
        }
    }

    /// How many authors' keys are held.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl Entry {
    /// Signs a draft with the author's key. Checks the body's fields first, so an oversized or
    /// malformed body is refused before anything is signed.
    pub fn sign(keypair: &Keypair, draft: Draft) -> Result<Entry, EntryError> {
        draft.body.check_fields()?;
        let payload = versioned(PAYLOAD_VERSION, &draft.body);
        if payload.len() > MAX_PAYLOAD_BYTES {
            return Err(EntryError::PayloadTooLarge { len: payload.len(), max: MAX_PAYLOAD_BYTES });
        }
        let header = Header {
            community: draft.community,
            author: keypair.member_id(),
            seq: draft.seq,
            prev: draft.prev,
            timestamp_ms: draft.timestamp_ms,
            body_kind: body_kind_index(&draft.body),
            payload_hash: *blake3::hash(&payload).as_bytes(),
            payload_len: payload.len() as u32,
        };
        check_header_shape(&header, &draft.body)?;
        let header_bytes = versioned(HEADER_VERSION, &header);
        let signature = keypair.sign(&signed_message(&header_bytes));
        let wire = WireEntry { header: &header_bytes, signature: &signature, payload: &payload };
        let bytes = versioned(ENTRY_FORMAT_VERSION, &wire);
        Entry::decode_unverified(bytes)
    }

    /// Decodes wire bytes and verifies the signature with `verify_strict`: the way every entry
    /// from outside the process comes in.
    pub fn decode(bytes: Vec<u8>) -> Result<Entry, EntryError> {
        let entry = Entry::decode_unverified(bytes)?;
        entry.verify_signature()?;
        Ok(entry)
    }

    /// Decodes and checks everything but the signature. For entries read back from our own
    /// store (verified before they were stored) and for batch verification.
    pub fn decode_unverified(bytes: Vec<u8>) -> Result<Entry, EntryError> {
        if bytes.len() > MAX_ENTRY_BYTES {
            return Err(EntryError::EntryTooLarge { len: bytes.len(), max: MAX_ENTRY_BYTES });
        }
        let wire: WireEntry<'_> = decode_versioned("entry", ENTRY_FORMAT_VERSION, &bytes)?;
        let signature: [u8; 64] = wire.signature.try_into().map_err(|_| EntryError::Malformed {
            part: "signature",
            reason: format!("{} bytes, not 64", wire.signature.len()),
        })?;
        if wire.payload.len() > MAX_PAYLOAD_BYTES {
            return Err(EntryError::PayloadTooLarge { len: wire.payload.len(), max: MAX_PAYLOAD_BYTES });
        }
        let header: Header = decode_versioned("header", HEADER_VERSION, wire.header)?;
        if header.payload_len as usize != wire.payload.len() {
            return Err(EntryError::PayloadLengthMismatch { claimed: header.payload_len, actual: wire.payload.len() });
        }
        if *blake3::hash(wire.payload).as_bytes() != header.payload_hash {
            return Err(EntryError::PayloadHashMismatch);
        }
        let body: Body = decode_versioned("payload", PAYLOAD_VERSION, wire.payload)?;
        if body_kind_index(&body) != header.body_kind {
            return Err(EntryError::BodyKindMismatch { header: header.body_kind, payload: body.kind_name() });
        }
        body.check_fields()?;
        check_header_shape(&header, &body)?;
        let hash = EntryHash(*blake3::hash(wire.header).as_bytes());
        let header_len = wire.header.len();
        // The header slice borrows from `bytes`; find where it sits so the entry can own both.
        let header_offset = wire.header.as_ptr() as usize - bytes.as_ptr() as usize;
        Ok(Entry { header, header_len, header_offset, signature, body, hash, bytes })
    }

    /// The hash and header of stored entry bytes, without decoding the body: what the node's
    /// entry file needs at open to index a record it wrote. Checks what shows damage — the
    /// envelope and the header decode, the payload has the length and hash the header names —
    /// but not the body's fields or the canonical encoding, checked when the entry was first
    /// taken in ([`Entry::decode_unverified`]). Allocates nothing.
    pub fn locate(bytes: &[u8]) -> Result<(EntryHash, Header), EntryError> {
        let malformed = |part: &'static str, reason: String| EntryError::Malformed { part, reason };
        let wire = stored_envelope(bytes)?;
        let (&version, rest) = wire.header.split_first().ok_or_else(|| malformed("header", "empty".into()))?;
        if version != HEADER_VERSION {
            return Err(EntryError::UnknownVersion { part: "header", version });
        }
        let (header, after): (Header, _) =
            postcard::take_from_bytes(rest).map_err(|e| malformed("header", e.to_string()))?;
        if !after.is_empty() {
            return Err(malformed("header", "bytes after the header".into()));
        }
        if header.payload_len as usize != wire.payload.len() {
            return Err(EntryError::PayloadLengthMismatch { claimed: header.payload_len, actual: wire.payload.len() });
        }
        if *blake3::hash(wire.payload).as_bytes() != header.payload_hash {
            return Err(EntryError::PayloadHashMismatch);
        }
        Ok((EntryHash(*blake3::hash(wire.header).as_bytes()), header))
    }

    /// The body of stored entry bytes that [`Entry::locate`] accepted, decoded with no more
    /// checks than decoding takes: for an index the node builds from its own entry file at
    /// open (the post each reply answers), where a full decode of each entry would cost more.
    pub fn stored_body(bytes: &[u8]) -> Result<Body, EntryError> {
        let malformed = |part: &'static str, reason: String| EntryError::Malformed { part, reason };
        let wire = stored_envelope(bytes)?;
        let (&version, payload) = wire.payload.split_first().ok_or_else(|| malformed("payload", "empty".into()))?;
        if version != PAYLOAD_VERSION {
            return Err(EntryError::UnknownVersion { part: "payload", version });
        }
        postcard::from_bytes(payload).map_err(|e| malformed("payload", e.to_string()))
    }

    /// Checks the signature with `verify_strict` against the author's key.
    pub fn verify_signature(&self) -> Result<(), EntryError> {
        self.verify_with(&self.author_key()?)
    }

    /// `verify_strict` with the author's key already decoded.
    fn verify_with(&self, key: &VerifyingKey) -> Result<(), EntryError> {
        let signature = Signature::from_bytes(&self.signature);
        key.verify_strict(&signed_message(self.header_bytes()), &signature).map_err(|_| EntryError::BadSignature)
    }

    fn author_key(&self) -> Result<VerifyingKey, EntryError> {
        self.header.author.verifying_key().map_err(|e| EntryError::BadAuthorKey(e.to_string()))
    }

    /// Verifies many entries' signatures; returns one result per entry, in order. Each is checked
    /// with `verify_strict`, exactly as [`Entry::decode`] does. (Not with ed25519's batch
    /// equation: it accepts signatures whose R or key carries a small-order component, which
    /// `verify_strict` refuses, so nodes checking sync pages in batches would keep entries that
    /// every other node rejects — and whose fork proofs would not verify.)
    ///
    /// Each author's key is decoded once (a point decompression, about a tenth of a check):
    /// a page of a log holds many entries by the same few authors.
    /// ([`AuthorKeys::verify`] checks one entry with keys decoded beforehand, as the node's
    /// verifying threads do.)
    pub fn verify_many(entries: &[Entry]) -> Vec<Result<(), EntryError>> {
        let keys = AuthorKeys::of(entries);
        entries.iter().map(|entry| keys.verify(entry)).collect()
    }

    /// The exact bytes this entry was decoded from (what is stored and sent).
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }

    /// The exact signed header bytes.
    pub fn header_bytes(&self) -> &[u8] {
        &self.bytes[self.header_offset..self.header_offset + self.header_len]
    }

    pub fn header(&self) -> &Header {
        &self.header
    }

    pub fn body(&self) -> &Body {
        &self.body
    }

    pub fn hash(&self) -> EntryHash {
        self.hash
    }

    pub fn author(&self) -> MemberId {
        self.header.author
    }

    pub fn seq(&self) -> u64 {
        self.header.seq
    }

    pub fn timestamp_ms(&self) -> u64 {
        self.header.timestamp_ms
    }

    pub fn signature(&self) -> &[u8; 64] {
        &self.signature
    }

    /// The community this entry belongs to (a Genesis belongs to the community it founds).
    pub fn community(&self) -> CommunityId {
        self.header.community.unwrap_or(CommunityId(self.hash.0))
    }
}

/// The header's own shape: seq from 1, `prev` exactly when seq > 1, Genesis exactly at seq 1
/// with no community.
fn check_header_shape(header: &Header, body: &Body) -> Result<(), EntryError> {
    if header.seq == 0 {
        return Err(EntryError::SeqZero);
    }
    match (header.seq, header.prev) {
        (1, Some(_)) => return Err(EntryError::PrevOnFirstEntry),
        (seq, None) if seq > 1 => return Err(EntryError::MissingPrev { seq }),
        _ => {}
    }
    let is_genesis = matches!(body, Body::Genesis { .. });
    match (is_genesis, header.community.is_some(), header.seq) {
        (true, false, 1) => Ok(()),
        (true, _, _) => Err(EntryError::MisplacedGenesis),
        (false, true, _) => Ok(()),
        (false, false, _) => Err(EntryError::MissingCommunity),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_authors_keys_kept_stay_bounded() {
        let entries: Vec<Entry> = (0..AUTHOR_KEYS_KEPT + 600)
            .map(|i| {
                let mut secret = [1u8; 32];
                secret[..8].copy_from_slice(&(i as u64).to_le_bytes());
                let draft = Draft {
                    community: Some(CommunityId([2; 32])),
                    seq: 2,
                    prev: Some(EntryHash([1; 32])),
                    timestamp_ms: 10,
                    body: Body::CheckIn,
                };
                Entry::sign(&Keypair::from_secret_bytes(secret), draft).unwrap()
            })
            .collect();
        let mut keys = AuthorKeys::default();
        let mut most = 0;
        for page in entries.chunks(512) {
            keys.add(page);
            most = most.max(keys.len());
            // Every author of the page is held once it is added.
            assert!(page.iter().all(|e| keys.0.contains_key(&e.author())));
        }
        assert!(most <= AUTHOR_KEYS_KEPT + 512, "{most} keys held");
        assert!(keys.len() < entries.len());
    }

    #[test]
    fn a_stored_body_decodes_as_the_whole_entry_does() {
        let keypair = Keypair::from_secret_bytes([3; 32]);
        let bodies = [
            Body::Reply { post: EntryHash([9; 32]), text: "I can help".into() },
            Body::Redact { entry: EntryHash([8; 32]) },
            Body::CheckIn,
        ];
        for body in bodies {
            let draft = Draft {
                community: Some(CommunityId([2; 32])),
                seq: 2,
                prev: Some(EntryHash([1; 32])),
                timestamp_ms: 10,
                body,
            };
            let entry = Entry::sign(&keypair, draft).unwrap();
            assert_eq!(Entry::locate(entry.bytes()).unwrap().1.body_kind, body_kind_index(entry.body()));
            assert_eq!(&Entry::stored_body(entry.bytes()).unwrap(), entry.body());
        }
        assert_eq!(body_kind_index(&Body::Reply { post: EntryHash([0; 32]), text: String::new() }), REPLY_BODY_KIND);
        // Bytes that are no entry are an error, not a panic.
        for bytes in [&[][..], &[ENTRY_FORMAT_VERSION][..], &[ENTRY_FORMAT_VERSION, 200, 1, 2][..], &[99, 0][..]] {
            assert!(Entry::stored_body(bytes).is_err());
        }
    }

    #[test]
    fn an_encoding_is_the_same_only_byte_for_byte_and_to_the_end() {
        let value = (300u32, "kith".to_string(), [7u8; 3]);
        let bytes = postcard::to_stdvec(&value).unwrap();
        assert!(encodes_as(&value, &bytes));
        // A byte more after it, a byte less, a byte changed, an overlong varint for 300.
        assert!(!encodes_as(&value, &[&bytes[..], &[0]].concat()));
        assert!(!encodes_as(&value, &bytes[..bytes.len() - 1]));
        let mut changed = bytes.clone();
        changed[3] ^= 1;
        assert!(!encodes_as(&value, &changed));
        let overlong = [&[0xAC, 0x82, 0x00][..], &bytes[2..]].concat();
        assert_eq!(postcard::from_bytes::<(u32, String, [u8; 3])>(&overlong).unwrap(), value);
        assert!(!encodes_as(&value, &overlong));
        assert!(encodes_as(&(), &[]));
        assert!(!encodes_as(&(), &[0]));
    }
}
