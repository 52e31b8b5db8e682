//! Builders of hostile entry bytes for tests: entries that claim another author (a forged
//! signature), entries larger than the limit, and the helpers to write the wire form by hand.
//! The protocol crate refuses to *sign* such things, so they are put together here from the
//! documented wire format (see `kith_protocol::entry`).

use kith_protocol::entry::{ENTRY_FORMAT_VERSION, HEADER_VERSION, PAYLOAD_VERSION, SIGNATURE_DOMAIN, body_kind_index};
use kith_protocol::{Body, CommunityId, Draft, Entry, EntryHash, Header, Keypair, MemberId};

/// Appends postcard's unsigned varint encoding of `n`.
fn varint(mut n: usize, out: &mut Vec<u8>) {
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

/// The wire bytes of an entry made of these three parts: `[version] ‖ postcard(WireEntry)`.
pub fn wire(header: &[u8], signature: &[u8], payload: &[u8]) -> Vec<u8> {
    let mut out = vec![ENTRY_FORMAT_VERSION];
    for part in [header, signature, payload] {
        varint(part.len(), &mut out);
        out.extend_from_slice(part);
    }
    out
}

/// The canonical payload bytes of a body.
pub fn payload_bytes(body: &Body) -> Vec<u8> {
    let mut out = vec![PAYLOAD_VERSION];
    out.extend(postcard::to_stdvec(body).expect("bodies encode"));
    out
}

/// The canonical header bytes.
pub fn header_bytes(header: &Header) -> Vec<u8> {
    let mut out = vec![HEADER_VERSION];
    out.extend(postcard::to_stdvec(header).expect("headers encode"));
    out
}

/// The header an honest author would sign for `body` at this place in `author`'s log.
pub fn header_for(
    author: MemberId,
    community: CommunityId,
    seq: u64,
    prev: Option<EntryHash>,
    timestamp_ms: u64,
    body: &Body,
) -> Header {
    let payload = payload_bytes(body);
    Header {
        community: Some(community),
        author,
        seq,
        prev,
        timestamp_ms,
        body_kind: body_kind_index(body),
        payload_hash: *blake3::hash(&payload).as_bytes(),
        payload_len: payload.len() as u32,
    }
}

/// An entry that claims `author` wrote `body` but is signed by `signer` (someone else): every
/// field well formed, only the signature is wrong. Returns the bytes and the entry hash it
/// would have.
pub fn impersonate(signer: &libp2p::identity::Keypair, header: &Header, body: &Body) -> (Vec<u8>, EntryHash) {
    let header = header_bytes(header);
    let mut message = SIGNATURE_DOMAIN.to_vec();
    message.extend_from_slice(&header);
    let signature = signer.sign(&message).expect("ed25519 signs");
    let hash = EntryHash(*blake3::hash(&header).as_bytes());
    (wire(&header, &signature, &payload_bytes(body)), hash)
}

/// A correctly signed header followed by a payload of `payload_len` bytes: larger than any
/// entry may be once `payload_len` passes the limit. Returns the bytes and the header's hash.
pub fn oversized(
    keypair: &Keypair,
    community: CommunityId,
    seq: u64,
    prev: Option<EntryHash>,
    payload_len: usize,
) -> (Vec<u8>, EntryHash) {
    let details = "x".repeat(payload_len);
    let body = Body::Post {
        kind: kith_protocol::PostKind::Offer,
        title: "a very long post".into(),
        details,
        category: String::new(),
        when: String::new(),
        place: String::new(),
        expires_at: None,
        schedule: None,
    };
    let header = header_for(keypair.member_id(), community, seq, prev, kith_node::clock::now_ms(), &body);
    let libp2p_key = kith_node::network::libp2p_keypair(keypair.secret_bytes()).expect("a valid key");
    let header_bytes = header_bytes(&header);
    let mut message = SIGNATURE_DOMAIN.to_vec();
    message.extend_from_slice(&header_bytes);
    let signature = libp2p_key.sign(&message).expect("ed25519 signs");
    let hash = EntryHash(*blake3::hash(&header_bytes).as_bytes());
    (wire(&header_bytes, &signature, &payload_bytes(&body)), hash)
}

/// Signs `body` as the entry at `seq` (after `prev`) of `keypair`'s log in `community`.
pub fn sign(
    keypair: &Keypair,
    community: CommunityId,
    seq: u64,
    prev: Option<EntryHash>,
    timestamp_ms: u64,
    body: Body,
) -> Entry {
    Entry::sign(keypair, Draft { community: Some(community), seq, prev, timestamp_ms, body }).expect("a signable body")
}

/// A fresh random kith key (from the OS's randomness via a throwaway libp2p key).
pub fn random_keypair() -> Keypair {
    let key = libp2p::identity::Keypair::generate_ed25519();
    let ed = key.try_into_ed25519().expect("an ed25519 key");
    let mut secret = [0u8; 32];
    secret.copy_from_slice(ed.secret().as_ref());
    Keypair::from_secret_bytes(secret)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_written_wire_matches_the_protocol() {
        let keypair = Keypair::from_secret_bytes([3; 32]);
        let community = CommunityId([9; 32]);
        let body = Body::Reply { post: EntryHash([1; 32]), text: "hello".into() };
        let entry = sign(&keypair, community, 2, Some(EntryHash([2; 32])), 1234, body.clone());
        let header = header_for(keypair.member_id(), community, 2, Some(EntryHash([2; 32])), 1234, &body);
        assert_eq!(header_bytes(&header), entry.header_bytes());
        assert_eq!(wire(entry.header_bytes(), entry.signature(), &payload_bytes(&body)), entry.bytes());
    }

    #[test]
    fn impersonation_is_well_formed_but_badly_signed() {
        let victim = Keypair::from_secret_bytes([4; 32]);
        let signer = kith_node::network::libp2p_keypair([5; 32]).unwrap();
        let body = Body::Reply { post: EntryHash([1; 32]), text: "hello".into() };
        let header = header_for(victim.member_id(), CommunityId([9; 32]), 1, None, 1, &body);
        let (bytes, hash) = impersonate(&signer, &header, &body);
        let unverified = Entry::decode_unverified(bytes.clone()).unwrap();
        assert_eq!(unverified.hash(), hash);
        assert_eq!(Entry::decode(bytes), Err(kith_protocol::EntryError::BadSignature));
    }

    #[test]
    fn oversized_entries_are_too_large() {
        let keypair = Keypair::from_secret_bytes([6; 32]);
        let (bytes, _) = oversized(&keypair, CommunityId([9; 32]), 2, Some(EntryHash([1; 32])), 4700);
        assert!(matches!(Entry::decode(bytes), Err(kith_protocol::EntryError::EntryTooLarge { .. })));
    }
}
