//! The read side both front doors share: what the API (`api`) and the web page
//! (`web`) show of the community — posts, members, transfers, gatherings and their
//! calendars, announcements ([`announce`]), the organisers' report ([`report`]) — in the JSON
//! shapes of [`wire`], names and prefixes read back ([`resolve`]), a publish refusal in words
//! ([`explain`]), and the refusal type both doors answer with ([`ApiError`]). It names neither
//! door: `api` and `web` depend on it, never it on them.

pub mod announce;
pub mod export;
pub mod helped;
pub mod report;
pub mod resolve;
pub mod wire;

use kith_protocol::{Community, EntryHash, Member, MemberId, Status as PostStatus, Wait};

use crate::clock::now_ms;
use crate::node::NodeHandle;
use crate::replica::{PublishError, Replica};
use crate::store::{PostView, StoreError};
use resolve::ResolveError;
use wire::*;

// --- errors ---

/// A refusal, as the API answers it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("this request needs the node's API token (`Authorization: Bearer <token>`, from api.json in the home)")]
    Unauthorized,
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Ambiguous(String),
    /// A rule of the community, or the node's state, says no.
    #[error("{0}")]
    Refused(String),
    #[error("the node failed: {0}")]
    Internal(String),
}

impl From<ResolveError> for ApiError {
    fn from(error: ResolveError) -> Self {
        match error {
            ResolveError::Malformed(text) => ApiError::BadRequest(text),
            ResolveError::Unknown(text) => ApiError::NotFound(text),
            ResolveError::Ambiguous(text) => ApiError::Ambiguous(text),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        ApiError::Internal(error.to_string())
    }
}

// --- reading the state ---

/// The community, or why there is none yet.
pub(crate) fn community(replica: &Replica) -> Result<&Community, ApiError> {
    replica.community().ok_or_else(|| {
        ApiError::Refused(
            "this node has not reached its community yet: it needs a connection to a member's node (see `kith peers`)"
                .into(),
        )
    })
}

pub(crate) fn name_of(community: &Community, id: &MemberId) -> String {
    community.member(id).map_or_else(|| id.short(), Member::name)
}

/// The `helped_by` and `helped_by_name` of the JSON: a helper's id and name, or nulls.
pub(crate) fn helped_by(community: &Community, helper: Option<MemberId>) -> (Option<String>, Option<String>) {
    (helper.map(|h| h.to_string()), helper.map(|h| name_of(community, &h)))
}

/// Who holds a helped member's key and records for them now, if anyone.
pub(crate) fn helper_now(community: &Community, id: &MemberId) -> Option<MemberId> {
    community.member(id).and_then(|m| m.helper).map(|h| h.member)
}

/// A member's name as texts say it: "Mrs Patel (helped by Ada)" for a member `helper` records
/// for, the name alone otherwise.
pub(crate) fn name_helped(community: &Community, id: &MemberId, helper: Option<MemberId>) -> String {
    match helper {
        Some(helper) => format!("{} (helped by {})", name_of(community, id), name_of(community, &helper)),
        None => name_of(community, id),
    }
}

pub(crate) fn post_status(status: PostStatus, expires_at_ms: u64, now: u64) -> &'static str {
    match status {
        PostStatus::Open if now > expires_at_ms => "expired",
        other => other.as_str(),
    }
}

pub(crate) fn post_fields(
    community: &Community,
    view: &PostView,
    post: &kith_protocol::community::Post,
    now: u64,
) -> PostFields {
    PostFields {
        id: view.id.to_string(),
        kind: post.kind.as_str().to_string(),
        title: view.title.clone(),
        details: view.details.clone(),
        category: view.category.clone(),
        when: view.when.clone(),
        place: view.place.clone(),
        author: post.author.to_string(),
        author_name: name_of(community, &post.author),
        helped_by: post.helped_by.map(|h| h.to_string()),
        helped_by_name: post.helped_by.map(|h| name_of(community, &h)),
        status: post_status(post.status, post.expires_at_ms, now).to_string(),
        created_at: rfc3339(post.created_at_ms),
        created_at_ms: post.created_at_ms,
        expires_at: rfc3339(post.expires_at_ms),
        expires_at_ms: post.expires_at_ms,
        ..gathering_fields(community, &view.id, post, now)
    }
}

/// A gathering's time and who is coming, as [`PostFields`] carries them (everything else
/// empty, for `..` in [`post_fields`]). For a repeating gathering the start and the list of
/// who is coming are those of its next date.
fn gathering_fields(
    community: &Community,
    hash: &EntryHash,
    post: &kith_protocol::community::Post,
    now: u64,
) -> PostFields {
    let mut fields = PostFields::default();
    let Some(schedule) = post.schedule else { return fields };
    let next_day = crate::when::coming_days(&schedule, now, 1).first().copied();
    let day = next_day.unwrap_or_else(|| schedule.days_from(0, usize::MAX).last().copied().unwrap_or(0));
    let starts = crate::when::occurrence_start(&schedule, day);
    let length = schedule.ends_at.map(|end| end.saturating_sub(schedule.starts_at));
    fields.starts_at = Some(rfc3339(starts));
    fields.starts_at_ms = Some(starts);
    fields.starts_in_words = Some(crate::when::in_words(starts, now));
    fields.ends_at_ms = length.map(|l| starts + l);
    fields.ends_at = fields.ends_at_ms.map(rfc3339);
    fields.repeat = schedule.repeat.map(|r| r.as_str().to_string());
    fields.until = schedule.until.map(crate::when::day_text);
    fields.capacity = schedule.capacity;
    fields.next_date = schedule.repeat.map(|_| crate::when::day_text(day));
    fields.coming = coming_on(community, hash, schedule.repeat.map(|_| day));
    let full = |coming: &[Coming]| schedule.capacity.is_some_and(|c| coming.len() >= c as usize);
    fields.full = full(&fields.coming);
    if schedule.repeat.is_some() {
        for day in crate::when::coming_days(&schedule, now, wire::DATES_SHOWN) {
            let coming = coming_on(community, hash, Some(day));
            fields.dates.push(wire::DateComing {
                date: crate::when::day_text(day),
                in_words: crate::when::day_in_words(day),
                full: full(&coming),
                coming,
            });
        }
    }
    fields
}

/// Who (not suspended) is coming to a gathering on a date, or to it at all (`None`), by name.
fn coming_on(community: &Community, hash: &EntryHash, date: Option<u32>) -> Vec<Coming> {
    let mut out = Vec::new();
    for (member, answers) in community.attendance(hash).into_iter().flatten() {
        let shown = community.member(member).is_none_or(|m| m.suspended.is_none());
        if shown && answers.coming_on(date) {
            let (helped_by, helped_by_name) = helped_by(community, helper_now(community, member));
            out.push(Coming {
                member_id: member.to_string(),
                name: name_of(community, member),
                helped_by,
                helped_by_name,
            });
        }
    }
    out.sort_by_key(|c| c.name.to_lowercase());
    out
}

pub(crate) fn post_detail(
    replica: &Replica,
    community: &Community,
    hash: &EntryHash,
    now: u64,
) -> Result<PostDetail, ApiError> {
    let not_found = || ApiError::NotFound(format!("post {} is not known here", hash.short()));
    let post = community.post(hash).filter(|p| community.post_visible(p)).ok_or_else(not_found)?;
    let view = replica.store().post(community, hash)?.ok_or_else(not_found)?;
    let mut replies = Vec::new();
    for reply in replica.store().replies(hash)? {
        let shown = community.reply(&reply.id).is_some_and(|r| !r.redacted)
            && community.member(&reply.author).is_none_or(|m| m.suspended.is_none());
        if shown {
            let (helped_by, helped_by_name) = helped_by(community, helper_now(community, &reply.author));
            replies.push(ReplyOut {
                id: reply.id.to_string(),
                author: reply.author.to_string(),
                author_name: name_of(community, &reply.author),
                helped_by,
                helped_by_name,
                text: reply.text,
                created_at: rfc3339(reply.created_at_ms),
                created_at_ms: reply.created_at_ms,
            });
        }
    }
    Ok(PostDetail { post: post_fields(community, &view, &post, now), replies })
}

fn member_out(community: &Community, id: &MemberId, member: &Member) -> MemberOut {
    let status = if member.suspended.is_some() {
        "suspended"
    } else if member.admitted {
        "member"
    } else if member.hub {
        // A hub node appointed by an organiser: not a person waiting for vouches.
        "hub"
    } else {
        "pending"
    };
    let (helped_by, helped_by_name) = helped_by(community, member.helper.map(|h| h.member));
    MemberOut {
        helped_by,
        helped_by_name,
        member_id: id.to_string(),
        name: member.name(),
        area: member.profile.as_ref().filter(|p| !p.redacted).map(|p| p.area.clone()).unwrap_or_default(),
        status: status.to_string(),
        vouched_by: member.vouched_by.iter().map(ToString::to_string).collect(),
        balance_minutes: member.balance_minutes,
        organiser: member.organiser,
        hub: member.hub,
        founder: *id == community.founder(),
    }
}

/// Everyone worth listing: members, hubs, and newcomers who asked to join. Members first,
/// then by name.
pub(crate) fn member_list(community: &Community, pending_only: bool) -> Vec<MemberOut> {
    let mut out: Vec<MemberOut> = community
        .members()
        .filter(|(_, m)| m.admitted || m.hub || m.profile.is_some())
        .filter(|(_, m)| !pending_only || (!m.admitted && !m.hub))
        .map(|(id, m)| member_out(community, id, m))
        .collect();
    out.sort_by_key(|m| (m.status != "member", m.name.to_lowercase()));
    out
}

pub(crate) fn transfer_out(
    replica: &Replica,
    community: &Community,
    hash: &EntryHash,
) -> Result<Option<TransferOut>, ApiError> {
    // What the reducer applies, not what the views name: a transfer on the frozen part of a
    // forked log, or a claim the reducer does not count, is not shown as valid.
    let Some(applied) = community.transfer(hash) else { return Ok(None) };
    let Some(view) = replica.store().transfer(community, hash)? else { return Ok(None) };
    let claimed = applied.claimed_by.is_some();
    let (helped_by, helped_by_name) =
        helped_by(community, community.member(&applied.from).and_then(|m| m.helper_at(applied.seq)));
    Ok(Some(TransferOut {
        helped_by,
        helped_by_name,
        id: view.id.to_string(),
        from: view.from.to_string(),
        from_name: name_of(community, &view.from),
        to: view.to.to_string(),
        to_name: name_of(community, &view.to),
        minutes: view.minutes,
        memo: view.memo,
        for_post: view.for_post.map(|p| p.to_string()),
        created_at: rfc3339(view.created_at_ms),
        created_at_ms: view.created_at_ms,
        claimed,
    }))
}

/// A publish refusal in words for the person who asked.
pub(crate) fn explain(node: &NodeHandle, error: PublishError) -> ApiError {
    let replica = node.replica();
    let me = replica.me();
    match error {
        PublishError::Waits(Wait::Admission { member }) if member == me => ApiError::Refused(
            "you are not a member yet: a member has to vouch for you first (`kith vouch` on their node)".into(),
        ),
        PublishError::Waits(Wait::Admission { member }) => {
            let name = replica.community().map_or_else(|| member.short(), |c| name_of(c, &member));
            ApiError::Refused(format!("{name} is not a member yet: they can take part once a member vouches for them"))
        }
        PublishError::Waits(Wait::Appointment { .. }) => {
            ApiError::Refused("only organisers may do this, and you are not one".into())
        }
        PublishError::HeadMismatch | PublishError::Store(_) => ApiError::Internal(error.to_string()),
        PublishError::Rule(_)
        | PublishError::Waits(_)
        | PublishError::NoCommunity
        | PublishError::Frozen
        | PublishError::ReadOnly
        | PublishError::NotHeld(_)
        | PublishError::NoLongerHelped { .. }
        | PublishError::NotYetHelper(_) => ApiError::Refused(error.to_string()),
    }
}

pub(crate) fn resolve_member(node: &NodeHandle, text: &str) -> Result<MemberId, ApiError> {
    let replica = node.replica();
    Ok(resolve::member(community(&replica)?, text)?)
}

pub(crate) fn resolve_post(node: &NodeHandle, text: &str) -> Result<EntryHash, ApiError> {
    let replica = node.replica();
    Ok(resolve::post(community(&replica)?, text)?)
}

/// A gathering's schedule from the API's form of it, in this node's time zone.
pub(crate) fn schedule_of(new: &NewSchedule) -> Result<kith_protocol::Schedule, ApiError> {
    let repeat = match new.repeat.as_deref().map(str::trim).filter(|r| !r.is_empty()) {
        None => None,
        Some(text) => Some(kith_protocol::Repeat::parse(text).ok_or_else(|| {
            ApiError::BadRequest(format!("`{text}` is not a repetition: weekly, fortnightly or monthly"))
        })?),
    };
    let until = new
        .until
        .as_deref()
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .map(crate::when::parse_day)
        .transpose()
        .map_err(ApiError::BadRequest)?;
    let schedule = kith_protocol::Schedule {
        starts_at: new.starts_at_ms,
        ends_at: new.ends_at_ms,
        offset_minutes: crate::when::offset_minutes(new.starts_at_ms),
        repeat,
        until,
        capacity: new.capacity,
    };
    schedule.check().map_err(|e| ApiError::BadRequest(e.to_string()))?;
    Ok(schedule)
}

/// When a gathering leaves the board by itself: after its last date (a one-off one three hours
/// after it starts unless it says when it ends); `None` for one that repeats with no last date
/// (the community's lifetime, renewed by its author).
pub(crate) fn gathering_ends(schedule: &kith_protocol::Schedule) -> Option<u64> {
    let length = schedule.ends_at.map_or(3 * 3_600_000, |end| end.saturating_sub(schedule.starts_at));
    let last_day = match (schedule.repeat, schedule.until) {
        (None, _) => schedule.first_day(),
        (Some(_), Some(until)) => schedule.days_from(until.saturating_sub(62), usize::MAX).last().copied()?,
        (Some(_), None) => return None,
    };
    Some(crate::when::occurrence_start(schedule, last_day).saturating_add(length))
}

/// Gatherings (those with a start time, visible) as one iCalendar document.
pub(crate) fn gathering_calendar(
    replica: &Replica,
    community: &Community,
    posts: &[EntryHash],
) -> Result<String, ApiError> {
    let mut views = Vec::new();
    for hash in posts {
        let Some(post) = community.post(hash).filter(|p| community.post_visible(p)) else { continue };
        let Some(schedule) = post.schedule else {
            if posts.len() == 1 {
                return Err(ApiError::Refused("this post has no start time to put in a calendar".into()));
            }
            continue;
        };
        if let Some(view) = replica.store().post(community, hash)? {
            views.push((view, schedule, name_of(community, &post.author), post.created_at_ms));
        }
    }
    if posts.len() == 1 && views.is_empty() {
        return Err(ApiError::NotFound("this gathering is not known here".into()));
    }
    let ids: Vec<String> = views.iter().map(|(view, ..)| view.id.to_string()).collect();
    let entries: Vec<crate::when::CalendarEntry<'_>> = views
        .iter()
        .zip(&ids)
        .map(|((view, schedule, author, created), id)| crate::when::CalendarEntry {
            id,
            title: &view.title,
            details: &view.details,
            place: &view.place,
            author_name: author,
            schedule,
            created_at_ms: *created,
        })
        .collect();
    Ok(crate::when::calendar(community.name(), &entries, now_ms()))
}

/// The store's key of the calendar feed's secret.
const CALENDAR_SECRET: &str = "calendar-feed-secret";

/// This node's calendar feed secret, made on first use (32 random bytes as hex).
pub(crate) fn calendar_secret(replica: &Replica) -> Result<String, ApiError> {
    if let Some(secret) = replica.store().meta_get(CALENDAR_SECRET)? {
        return String::from_utf8(secret).map_err(|e| ApiError::Internal(e.to_string()));
    }
    let secret = new_token().map_err(ApiError::Internal)?;
    replica.store().meta_put(CALENDAR_SECRET, secret.as_bytes())?;
    Ok(secret)
}

/// The gatherings this node's member is coming to, as one iCalendar document (the feed).
pub(crate) fn my_calendar(replica: &Replica) -> Result<String, ApiError> {
    let community = community(replica)?;
    let me = replica.me();
    let mine: Vec<EntryHash> = community
        .posts()
        .filter(|(hash, post)| {
            post.schedule.is_some()
                && community.attendance(hash).and_then(|a| a.get(&me)).is_some_and(|a| a.coming_on(None))
        })
        .map(|(hash, _)| hash)
        .collect();
    gathering_calendar(replica, community, &mine)
}

/// 32 random bytes as hex.
pub(crate) fn new_token() -> Result<String, String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| format!("cannot read random bytes for the API token: {e}"))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// "just now", "5 minutes ago", "3 hours ago", "yesterday", "4 days ago", or a date.
pub(crate) fn ago(ms: u64, now: u64) -> String {
    let secs = now.saturating_sub(ms) / 1000;
    match secs {
        0..=59 => "just now".to_string(),
        60..=119 => "a minute ago".to_string(),
        120..=3599 => format!("{} minutes ago", secs / 60),
        3600..=7199 => "an hour ago".to_string(),
        7200..=86_399 => format!("{} hours ago", secs / 3600),
        86_400..=172_799 => "yesterday".to_string(),
        172_800..=604_799 => format!("{} days ago", secs / 86_400),
        _ => date(ms),
    }
}

/// A date people read: `27 Nov 2026` (in UTC: the node does not know the reader's time zone).
pub(crate) fn date(ms: u64) -> String {
    let text = rfc3339(ms);
    let (year, month, day) =
        (text.get(0..4).unwrap_or(""), text.get(5..7).unwrap_or(""), text.get(8..10).unwrap_or(""));
    let month = match month {
        "01" => "Jan",
        "02" => "Feb",
        "03" => "Mar",
        "04" => "Apr",
        "05" => "May",
        "06" => "Jun",
        "07" => "Jul",
        "08" => "Aug",
        "09" => "Sep",
        "10" => "Oct",
        "11" => "Nov",
        _ => "Dec",
    };
    format!("{} {month} {year}", day.trim_start_matches('0'))
}
