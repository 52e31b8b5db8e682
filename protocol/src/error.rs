//! Every reason an entry is refused, one variant each, with a message a person understands.

use crate::entry::{CommunityId, EntryHash};
use crate::identity::MemberId;
use crate::minutes::{Minutes, format_signed_minutes};

/// Why an entry is not valid. Nothing refused with one of these is stored as valid or forwarded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EntryError {
    // --- the bytes ---
    #[error("entry is {len} bytes, more than the {max} allowed")]
    EntryTooLarge { len: usize, max: usize },
    #[error("the {part} could not be read: {reason}")]
    Malformed { part: &'static str, reason: String },
    #[error("the {part} has format version {version}, which this node does not know")]
    UnknownVersion { part: &'static str, version: u8 },
    #[error("the {part} is not written in its one canonical form")]
    NonCanonical { part: &'static str },
    #[error("the payload is {len} bytes, more than the {max} allowed")]
    PayloadTooLarge { len: usize, max: usize },
    #[error("the header says the payload is {claimed} bytes but it is {actual}")]
    PayloadLengthMismatch { claimed: u32, actual: usize },
    #[error("the payload does not match the hash its header was signed with")]
    PayloadHashMismatch,
    #[error("the header says body kind {header} but the payload holds a {payload}")]
    BodyKindMismatch { header: u8, payload: &'static str },
    #[error("the signature does not match the author's key")]
    BadSignature,
    #[error("the author's key is not usable: {0}")]
    BadAuthorKey(String),

    // --- the header's shape ---
    #[error("sequence numbers start at 1, this entry says 0")]
    SeqZero,
    #[error("the first entry of a log cannot point to a previous entry")]
    PrevOnFirstEntry,
    #[error("entry {seq} of a log must name the entry before it")]
    MissingPrev { seq: u64 },
    #[error("a community's founding entry must be the first of its founder's log and belong to no community")]
    MisplacedGenesis,
    #[error("this entry does not say which community it belongs to")]
    MissingCommunity,

    // --- the fields ---
    #[error("the {field} is {len} bytes long; at most {max} are allowed")]
    FieldTooLong { field: &'static str, len: usize, max: usize },
    #[error("there are {count} {field}; at most {max} are allowed")]
    TooManyItems { field: &'static str, count: usize, max: usize },
    #[error("the {0} contains control characters")]
    ControlCharacter(&'static str),
    #[error("the {0} must not be empty")]
    EmptyField(&'static str),
    #[error("the community's rules are not possible: {0}")]
    BadRules(String),
    #[error("a transfer must be of at least one minute")]
    ZeroTransfer,
    #[error("a single transfer may be at most 100h, not {minutes}")]
    TransferTooLarge { minutes: Minutes },

    // --- the entry in its community ---
    #[error("this entry belongs to community {found}, not to {expected}")]
    WrongCommunity { expected: CommunityId, found: CommunityId },
    #[error("entry {seq} does not follow the author's entry {prev_seq}: its previous hash differs")]
    PrevMismatch { seq: u64, prev_seq: u64 },
    #[error("entry {seq} is dated before the entry it follows")]
    TimestampBeforePrev { seq: u64 },
    #[error("{name}'s log is frozen at entry {at} because they wrote two different entries there")]
    LogFrozen { name: String, at: u64 },
    #[error("only organisers may {action}; {name} is not one")]
    NotOrganiser { name: String, action: &'static str },
    #[error("only the person who wrote a post may change its status")]
    NotPostAuthor,
    #[error("entry {0} is not a post")]
    NotAPost(EntryHash),
    #[error("you cannot vouch for yourself")]
    SelfVouch,
    #[error("{name} has already vouched for this person")]
    DuplicateVouch { name: String },
    #[error("you cannot pay yourself")]
    SelfTransfer,
    #[error("a member cannot be their own helper")]
    SelfHelp,
    #[error("{name} agreed to payments of at most {limit} made for them, not {minutes}")]
    HelpedOverLimit { name: String, minutes: Minutes, limit: Minutes },
    #[error("a payment made for {name} must say so: its memo starts with \"{prefix}\"", prefix = crate::rules::ON_BEHALF)]
    HelpedMemo { name: String },
    #[error(
        "transfer of {minutes} would take {name} to {}, below the community's limit of {}",
        format_signed_minutes(*would_be),
        format_signed_minutes(-i64::from(limit.0))
    )]
    OverCreditLimit { name: String, minutes: Minutes, would_be: i64, limit: Minutes },
    #[error("entry {0} is not a transfer")]
    NotATransfer(EntryHash),
    #[error("only the person paid may claim a transfer")]
    NotPayee,
    #[error("this transfer has already been claimed")]
    AlreadyClaimed,
    #[error("only the author of an entry may ask for it to be removed")]
    RedactNotOwn,
    #[error("only posts, replies and profiles can be removed, not a {0}")]
    NotRedactable(&'static str),
    #[error("organisers cannot suspend themselves")]
    SelfSuspend,
    #[error("{name} is suspended and cannot {action}")]
    Suspended { name: String, action: &'static str },
    #[error("the founder's role cannot be removed")]
    DismissFounder,
    #[error("entry {0} is not a suspension")]
    NotASuspension(EntryHash),
    #[error("a join request can only be the first entry of a log")]
    JoinRequestNotFirst,
    #[error("the join request's invite does not let anyone in: {0}")]
    BadInvite(String),
    #[error("this invite has been used by {uses} join requests already, as many as it allows; ask for a new one")]
    InviteUsedUp { uses: u32 },
    #[error("this newcomer already has another join request open")]
    DuplicateJoinRequest,

    // --- gatherings (issue 14) ---
    #[error("the gathering's time is not possible: {0}")]
    BadSchedule(String),
    #[error("entry {0} is not a gathering")]
    NotAGathering(EntryHash),
    #[error("the gathering does not take place on that date")]
    NotAGatheringDate,
    #[error("check-ins are not possible like this: {0}")]
    BadCheckIns(String),
}

/// Why an entry cannot be applied *yet*: what it waits for. A waiting entry is kept aside and
/// tried again when what it needs arrives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Wait {
    /// The author's entry `seq` has not been applied yet.
    PreviousEntry { author: MemberId, seq: u64 },
    /// The author is not (yet) a member; only their Profile counts until then.
    Admission { member: MemberId },
    /// The entry refers to another entry this node has not seen.
    Entry { hash: EntryHash },
    /// The author is not (yet) an organiser, and the entry needs one.
    Appointment { member: MemberId },
    /// Dated more than [`crate::rules::MAX_CLOCK_AHEAD_MS`] ahead of this node's clock.
    Clock { timestamp_ms: u64 },
}

impl std::fmt::Display for Wait {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Wait::PreviousEntry { author, seq } => write!(f, "waits for entry {seq} of {}'s log", author.short()),
            Wait::Admission { member } => write!(f, "waits until {} is admitted as a member", member.short()),
            Wait::Appointment { member } => write!(f, "waits until {} is made an organiser", member.short()),
            Wait::Entry { hash } => write!(f, "refers to entry {}, which this node has not seen", hash.short()),
            Wait::Clock { timestamp_ms } => {
                write!(f, "is dated {timestamp_ms} ms since 1970, too far ahead of this node's clock")
            }
        }
    }
}
