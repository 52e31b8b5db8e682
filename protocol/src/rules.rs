//! The community's rules, one small pure function each. The reducer in [`crate::community`]
//! calls them in order; each returns the one reason it refuses, or what the entry waits for.

use crate::body::{PostKind, Rules};
use crate::entry::{CommunityId, Entry, EntryHash};
use crate::error::{EntryError, Wait};
use crate::gathering::Schedule;
use crate::identity::MemberId;
use crate::minutes::Minutes;

/// How far ahead of the receiver's clock an entry may be dated before it waits.
pub const MAX_CLOCK_AHEAD_MS: u64 = 10 * 60 * 1000;

/// An entry is refused for good (`Reject`) or kept aside until something arrives (`Wait`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    Reject(EntryError),
    Wait(Wait),
}

impl From<EntryError> for Refusal {
    fn from(error: EntryError) -> Self {
        Refusal::Reject(error)
    }
}

impl From<Wait> for Refusal {
    fn from(wait: Wait) -> Self {
        Refusal::Wait(wait)
    }
}

/// The latest applied entry of a log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Head {
    pub seq: u64,
    pub hash: EntryHash,
    pub timestamp_ms: u64,
}

/// Rule: the entry belongs to this community.
pub fn same_community(entry: &Entry, community: CommunityId) -> Result<(), EntryError> {
    let found = entry.community();
    if found != community {
        return Err(EntryError::WrongCommunity { expected: community, found });
    }
    Ok(())
}

/// Rule: an entry dated more than ten minutes ahead of our clock waits (validity must not
/// depend on whose clock looked, so it is never rejected for this).
pub fn not_from_future(entry: &Entry, now_ms: u64) -> Result<(), Wait> {
    if entry.timestamp_ms() > now_ms.saturating_add(MAX_CLOCK_AHEAD_MS) {
        return Err(Wait::Clock { timestamp_ms: entry.timestamp_ms() });
    }
    Ok(())
}

/// Rule: the entry is the next one of its author's log: seq follows the head, prev is the
/// head's hash, and the timestamp does not go back. (Entries at or below the head are
/// duplicates or forks, decided before this rule.)
pub fn follows_head(entry: &Entry, head: Option<Head>) -> Result<(), Refusal> {
    let header = entry.header();
    let head_seq = head.map_or(0, |h| h.seq);
    if header.seq > head_seq + 1 {
        return Err(Wait::PreviousEntry { author: header.author, seq: header.seq - 1 }.into());
    }
    if let Some(head) = head {
        if header.prev != Some(head.hash) {
            return Err(EntryError::PrevMismatch { seq: header.seq, prev_seq: head.seq }.into());
        }
        if header.timestamp_ms < head.timestamp_ms {
            return Err(EntryError::TimestampBeforePrev { seq: header.seq }.into());
        }
    }
    Ok(())
}

/// Rule: only members write anything but a join request; a newcomer's other entries wait.
pub fn author_admitted(author: MemberId, is_join_request: bool, admitted: bool) -> Result<(), Wait> {
    if !admitted && !is_join_request {
        return Err(Wait::Admission { member: author });
    }
    Ok(())
}

/// Rule: nobody vouches for themselves.
pub fn not_self_vouch(author: MemberId, member: MemberId) -> Result<(), EntryError> {
    if author == member {
        return Err(EntryError::SelfVouch);
    }
    Ok(())
}

/// Rule: one vouch per voucher and newcomer.
pub fn first_vouch(already_vouched: bool, voucher_name: &str) -> Result<(), EntryError> {
    if already_vouched {
        return Err(EntryError::DuplicateVouch { name: voucher_name.to_string() });
    }
    Ok(())
}

/// Rule: a newcomer is admitted once `vouches` members vouched, as the rules ask. (The
/// founder's vouch alone also admits — see the reducer — or a community asking for more than
/// one vouch could never admit its second member.)
pub fn enough_vouches(vouches: usize, rules: &Rules) -> bool {
    vouches >= usize::from(rules.vouches_needed)
}

/// Rule: a status change or reply refers to a post.
pub fn is_post(hash: EntryHash, kind: Option<PostKind>) -> Result<PostKind, EntryError> {
    kind.ok_or(EntryError::NotAPost(hash))
}

/// Rule: only a post's author sets its status.
pub fn own_post(author: MemberId, post_author: MemberId) -> Result<(), EntryError> {
    if author != post_author {
        return Err(EntryError::NotPostAuthor);
    }
    Ok(())
}

/// Rule: nobody pays themselves.
pub fn not_self_transfer(author: MemberId, to: MemberId) -> Result<(), EntryError> {
    if author == to {
        return Err(EntryError::SelfTransfer);
    }
    Ok(())
}

/// How the memo of a payment made for a helped member begins (the node writes it so).
pub const ON_BEHALF: &str = "on behalf of ";

/// Rule: a member is not their own helper.
pub fn not_self_help(author: MemberId, helper: MemberId) -> Result<(), EntryError> {
    if author == helper {
        return Err(EntryError::SelfHelp);
    }
    Ok(())
}

/// Rule: a payment from a helped member's account (`limit`: what they agreed to, from their
/// latest `Helped` entry) is at most that limit, and its memo says it was made on their behalf
/// (it starts with [`ON_BEHALF`]). Accounts not helped (`None`) pay as usual.
pub fn helped_payment(name: &str, limit: Option<Minutes>, minutes: Minutes, memo: &str) -> Result<(), EntryError> {
    let Some(limit) = limit else { return Ok(()) };
    if minutes > limit {
        return Err(EntryError::HelpedOverLimit { name: name.to_string(), minutes, limit });
    }
    if !memo.starts_with(ON_BEHALF) {
        return Err(EntryError::HelpedMemo { name: name.to_string() });
    }
    Ok(())
}

/// Rule: a transfer goes to a member; to anyone else it waits for their admission.
pub fn payee_admitted(to: MemberId, admitted: bool) -> Result<(), Wait> {
    if !admitted {
        return Err(Wait::Admission { member: to });
    }
    Ok(())
}

/// Rule: no transfer takes the payer below minus the credit limit. `balance` is the payer's
/// balance in minutes before this transfer, computed from their own log alone.
pub fn within_credit_limit(payer_name: &str, balance: i64, minutes: Minutes, rules: &Rules) -> Result<(), EntryError> {
    let would_be = balance - i64::from(minutes.0);
    if would_be < -i64::from(rules.credit_limit.0) {
        return Err(EntryError::OverCreditLimit {
            name: payer_name.to_string(),
            minutes,
            would_be,
            limit: rules.credit_limit,
        });
    }
    Ok(())
}

/// Rule: only the payee claims a transfer, and only once.
pub fn claimable(author: MemberId, payee: MemberId, already_claimed: bool) -> Result<(), EntryError> {
    if author != payee {
        return Err(EntryError::NotPayee);
    }
    if already_claimed {
        return Err(EntryError::AlreadyClaimed);
    }
    Ok(())
}

/// Rule: authors redact only their own posts, replies, profiles (a join request's name too) and
/// announcements.
pub fn redactable(author: MemberId, target_author: MemberId, target_kind: &'static str) -> Result<(), EntryError> {
    if author != target_author {
        return Err(EntryError::RedactNotOwn);
    }
    if !matches!(target_kind, "post" | "reply" | "profile" | "join request" | "announcement") {
        return Err(EntryError::NotRedactable(target_kind));
    }
    Ok(())
}

/// Rule: moderation (suspend, appoint) is for organisers. Organiser status only ever grows,
/// so an entry by someone not (yet) appointed waits rather than being rejected: another node
/// may already have seen the appointment.
pub fn organiser(author: MemberId, is_organiser: bool) -> Result<(), Wait> {
    if !is_organiser {
        return Err(Wait::Appointment { member: author });
    }
    Ok(())
}

/// Rule: a join request is the first entry of its log (so a key has at most one).
pub fn join_request_first(seq: u64) -> Result<(), EntryError> {
    if seq != 1 {
        return Err(EntryError::JoinRequestNotFirst);
    }
    Ok(())
}

/// Rule: a join request's invite is a valid capability for this community, not expired when
/// the request was written. Returns the capability (its issuer must be a member: that waits).
pub fn join_invite(
    invite: &[u8],
    community: CommunityId,
    written_at_ms: u64,
) -> Result<crate::invite::Capability, EntryError> {
    let capability = crate::invite::Capability::from_bytes(invite).map_err(|e| EntryError::BadInvite(e.to_string()))?;
    let terms = capability.terms();
    if terms.community != community {
        return Err(EntryError::BadInvite(crate::invite::InviteError::WrongCommunity.to_string()));
    }
    if written_at_ms >= terms.expires_at_ms {
        return Err(EntryError::BadInvite(crate::invite::InviteError::Expired.to_string()));
    }
    Ok(capability)
}

/// Rule: an invite with `uses` uses holds at most that many join requests, counting its
/// members admitted with it and the join requests kept open; a request ranked before the
/// last kept one takes its place (ranks are entry hashes, so the set decides, not the order).
pub fn invite_has_room(
    uses: u32,
    admitted_with: usize,
    kept: usize,
    ranks_before_last: bool,
) -> Result<(), EntryError> {
    let room = usize::try_from(uses).unwrap_or(usize::MAX).saturating_sub(admitted_with);
    if kept < room || (room > 0 && ranks_before_last) {
        return Ok(());
    }
    Err(EntryError::InviteUsedUp { uses })
}

/// Rule: only the founder removes an organiser's role, and not their own.
pub fn dismissable(author: MemberId, founder: MemberId, member: MemberId, author_name: &str) -> Result<(), EntryError> {
    if author != founder {
        return Err(EntryError::NotOrganiser {
            name: author_name.to_string(),
            action: "remove an organiser's role (only the founder may)",
        });
    }
    if member == founder {
        return Err(EntryError::DismissFounder);
    }
    Ok(())
}

/// Rule (for signing, not for validity): what a member suspended at the point of their next
/// entry may not sign — vouching, paying, moderating, posting and replying.
pub fn not_suspended(name: &str, body: &crate::body::Body, suspended: bool) -> Result<(), EntryError> {
    use crate::body::Body;
    let action = match body {
        Body::Vouch { .. } => "vouch for anyone",
        Body::Transfer { .. } => "pay anyone",
        Body::Appoint { .. } => "appoint anyone",
        Body::Suspend { .. } => "suspend anyone",
        Body::Reinstate { .. } => "reinstate anyone",
        Body::Dismiss { .. } => "remove a role",
        Body::Post { .. } => "post (their posts are hidden)",
        Body::Reply { .. } => "reply (their replies are hidden)",
        _ => return Ok(()),
    };
    if suspended {
        return Err(EntryError::Suspended { name: name.to_string(), action });
    }
    Ok(())
}

/// Rule: organisers do not suspend themselves.
pub fn not_self_suspend(author: MemberId, member: MemberId) -> Result<(), EntryError> {
    if author == member {
        return Err(EntryError::SelfSuspend);
    }
    Ok(())
}

// --- gatherings people come to, posts that end (issue 14) ---

/// Rule: "I'll come" answers a gathering, not an offer or a request.
pub fn is_gathering(hash: EntryHash, kind: PostKind) -> Result<(), EntryError> {
    if kind != PostKind::Gathering {
        return Err(EntryError::NotAGathering(hash));
    }
    Ok(())
}

/// Rule: an answer for one date names a date the gathering takes place on. (Whether it is
/// full is not a rule: answers cross the network in any order, so the count a node sees
/// first cannot decide who gets in; a full gathering says so and the page stops offering to
/// come.)
pub fn gathering_date(schedule: Option<&Schedule>, date: Option<u32>) -> Result<(), EntryError> {
    match (date, schedule) {
        (None, _) => Ok(()),
        (Some(day), Some(schedule)) if schedule.happens_on(day) => Ok(()),
        (Some(_), _) => Err(EntryError::NotAGatheringDate),
    }
}

/// Rule: a renewed post lives another `post_lifetime_days` from the renewal, and never less
/// than it already had.
pub fn renewed_expiry(expires_at_ms: u64, renewed_at_ms: u64, rules: &Rules) -> u64 {
    let lifetime_ms = u64::from(rules.post_lifetime_days) * 24 * 3600 * 1000;
    expires_at_ms.max(renewed_at_ms.saturating_add(lifetime_ms))
}

/// Rule: how many whole days a member who asked to be checked on after `days` days has been
/// quiet, when that is at least `days`, else `None`. Their quiet spell starts at their own
/// latest entry (`last_ms`, their clock) and ends at the latest moment this node has seen
/// *others* write (`others_latest_ms`), never later than its own clock (`now_ms`): a node
/// whose clock jumps ahead, or which has been offline, sees no time pass that its neighbours'
/// entries do not show, so a lying clock cannot raise alarms for everyone.
pub fn quiet_days(days: u16, last_ms: u64, others_latest_ms: u64, now_ms: u64) -> Option<u64> {
    const DAY_MS: u64 = 24 * 3600 * 1000;
    let quiet = now_ms.min(others_latest_ms).saturating_sub(last_ms) / DAY_MS;
    (quiet >= u64::from(days)).then_some(quiet)
}
