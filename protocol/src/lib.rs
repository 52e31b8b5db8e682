//! `kith-protocol`: the rules of a Kith community, pure.
//!
//! Identities and member ids ([`identity`]), signed entries and their one canonical encoding
//! ([`entry`]), what entries say ([`body`]), amounts of time ([`minutes`]), the rules as small
//! functions ([`rules`]), every reason for refusal ([`error`]), fork proofs ([`fork`]), the
//! state reducer ([`community`]) and the organisers' report ([`report`]) and posts'
//! short codes ([`shortcode`]). No I/O, no async, no clock, no logging: time comes in as an
//! argument, randomness as bytes.

pub mod body;
pub mod community;
pub mod entry;
pub mod error;
pub mod fork;
pub mod gathering;
pub mod identity;
pub mod invite;
pub mod matching;
pub mod minutes;
pub mod report;
pub mod rules;
pub mod shortcode;

pub use body::{Body, PostKind, Role, Rules, Status};
pub use community::{Community, Member, Outcome, Rebuilt, Report};
pub use entry::{AUTHOR_KEYS_KEPT, AuthorKeys, CommunityId, Draft, Entry, EntryHash, Header};
pub use error::{EntryError, Wait};
pub use fork::{Fork, ForkProof, ForkProofError};
pub use gathering::{Repeat, Schedule};
pub use identity::{IdError, Keypair, MemberId};
pub use minutes::{DurationError, Minutes};
pub use rules::{Head, Refusal};
