//! The catch-up sync protocol's messages: a newcomer's hello with its invite, heads exchange,
//! reconciliation of heads by ranges, range fetch, ordered catch-up and fetch by hash. The
//! reconciliation variants were added in the second round; a node that cannot read them fails
//! the request and the asker falls back to a heads exchange.
//! Sent as CBOR over libp2p request-response; signed entries travel as opaque bytes.

use serde::{Deserialize, Serialize};

use kith_protocol::ForkProof;

use crate::reconcile::RangeSum;

/// The protocol name on the wire.
pub const SYNC_PROTOCOL: &str = "/kith/sync/1";
/// Most entries in one range page.
pub const PAGE_ENTRIES: u32 = 512;
/// Entries a node asks for per log at a time. Small, so that a node catching up walks all
/// logs roughly in step (time order): what an entry refers to (a post, a transfer) has then
/// mostly arrived already, and few entries wait aside.
pub const FETCH_ENTRIES: u32 = 64;
/// Most bytes of entries in one page (below the codec's response limit).
pub const PAGE_BYTES: usize = 1024 * 1024;
/// Largest request accepted.
pub const MAX_REQUEST_BYTES: u64 = 16 * 1024;
/// Largest response accepted.
pub const MAX_RESPONSE_BYTES: u64 = 4 * 1024 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum SyncRequest {
    /// "What logs do you hold, up to which seq?"
    Heads {
        #[serde(with = "serde_bytes")]
        community: Vec<u8>,
    },
    /// "Send me `author`'s entries from `from_seq` on."
    Range {
        #[serde(with = "serde_bytes")]
        community: Vec<u8>,
        #[serde(with = "serde_bytes")]
        author: Vec<u8>,
        from_seq: u64,
        limit: u32,
    },
    /// "Send me the entry with this hash" (a joining node fetches the Genesis this way).
    Entry {
        #[serde(with = "serde_bytes")]
        community: Vec<u8>,
        #[serde(with = "serde_bytes")]
        hash: Vec<u8>,
    },
    /// "Send me the entries you applied after your position `after`, in the order you applied
    /// them" — how a node far behind catches up: in that order nothing waits for another log.
    Since {
        #[serde(with = "serde_bytes")]
        community: Vec<u8>,
        after: u64,
        limit: u32,
    },
    /// "Here are my fingerprints of these ranges of logs' heads; which differ?" — a round of
    /// range-based set reconciliation ([`crate::reconcile`]): a sync round that costs what
    /// differs, not the community's size.
    Reconcile {
        #[serde(with = "serde_bytes")]
        community: Vec<u8>,
        ranges: Vec<RangeSum>,
    },
    /// A newcomer's first word: "here is the invite a member gave me" (a signed capability).
    Hello {
        #[serde(with = "serde_bytes")]
        community: Vec<u8>,
        #[serde(with = "serde_bytes")]
        invite: Vec<u8>,
    },
}

/// Bytes of a head entry's hash sent in a heads exchange: enough to notice two different
/// entries at one seq (a fork) cheaply; the fetched entries then prove it strictly.
pub const HEAD_HASH_PREFIX: usize = 8;

/// One log's head: the author's key, the latest seq held, and the first
/// [`HEAD_HASH_PREFIX`] bytes of that entry's hash — so that two nodes holding different
/// entries at one seq (a fork) notice it, though their seqs agree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogHead(#[serde(with = "serde_bytes")] pub Vec<u8>, pub u64, #[serde(with = "serde_bytes")] pub Vec<u8>);

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum SyncResponse {
    Heads {
        heads: Vec<LogHead>,
        forks: Vec<ForkProof>,
    },
    Entries(Vec<serde_bytes::ByteBuf>),
    /// Entries in the order the peer applied them, and the peer's position after the last one.
    Ordered {
        entries: Vec<serde_bytes::ByteBuf>,
        last: u64,
    },
    /// The answer to a [`SyncRequest::Reconcile`]: the heads of the small differing ranges
    /// (with the fork proofs of the frozen ones), and the parts of the large ones.
    Reconciled {
        heads: Vec<LogHead>,
        ranges: Vec<RangeSum>,
        forks: Vec<ForkProof>,
    },
    /// The hello's invite was accepted: the newcomer may sync and gossip now.
    Welcome,
    /// The request was not answered, with a reason (wrong community, malformed, not a member).
    Refused(String),
}
