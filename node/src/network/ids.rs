//! Kith identities in libp2p's terms: a peer id is a member's ed25519 key, a community is a
//! gossipsub topic; and the gate's answer for a peer id ([`admits_of`]).

use std::sync::Arc;

use libp2p::PeerId;
use libp2p::gossipsub::IdentTopic;

use kith_protocol::{CommunityId, MemberId};

use crate::engine::{self, Standing};
use crate::gate::Gate;
use crate::gated::Admits;
use crate::replica::view::Published;

/// The member key behind a peer id (a Kith peer id is an ed25519 member key).
pub fn member_of(peer: &PeerId) -> Option<MemberId> {
    let key = libp2p::identity::PublicKey::try_decode_protobuf(peer.as_ref().digest()).ok()?;
    let ed = key.try_into_ed25519().ok()?;
    Some(MemberId(ed.to_bytes()))
}

/// The peer id of a member key.
pub fn peer_of(member: &MemberId) -> Option<PeerId> {
    let key = libp2p::identity::ed25519::PublicKey::try_from_bytes(&member.0).ok()?;
    Some(libp2p::identity::PublicKey::from(key).to_peer_id())
}

/// How the engine names a member's peer: its libp2p peer id (as the gate's memory keeps it).
pub(super) fn peer_name(member: &MemberId) -> String {
    peer_of(member).map_or_else(|| member.to_string(), |p| p.to_string())
}

/// The libp2p key pair of a member key.
pub fn libp2p_keypair(secret: [u8; 32]) -> Result<libp2p::identity::Keypair, String> {
    let mut bytes = secret;
    libp2p::identity::Keypair::ed25519_from_bytes(&mut bytes).map_err(|e| e.to_string())
}

/// The gossipsub topic of a community.
pub fn topic_of(community: CommunityId) -> IdentTopic {
    IdentTopic::new(format!("kith/{community}"))
}

/// The [`Admits`] of a node's replica: members, hubs and newcomers let in (and everyone while
/// the node has no community yet), as the engine judges them.
pub fn admits_of(view: Published, gate: Gate) -> Admits {
    Arc::new(move |peer| {
        let Some(member) = member_of(peer) else { return false };
        matches!(engine::standing_of(&view.get(), &gate, &member, peer_name), Standing::Open | Standing::Authorised)
    })
}
