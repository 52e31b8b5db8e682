//! The inbox ("for you"): what needs this node's member, worked out on demand from what the
//! node holds — replies to their posts, answers to their gatherings, hours received,
//! newcomers waiting for a vouch, gatherings they are coming to soon, their posts about to
//! leave the board, requests they might help with, the organisers' current announcements
//! (first, until they end) — and which of those they have read
//! (local to this node, in the store's `meta` tree; never signed or sent).
//!
//! Every page load asks for the unread count, so the items are kept ([`Cache`]) and worked out
//! again only when what they are made of may have changed: another member, another applied
//! entry, fork proof or log head, or another minute (items about expiry, "tomorrow" and quiet
//! days follow the clock). Read marks are applied to the kept items at each call.

use std::collections::BTreeSet;
use std::sync::Mutex;

use kith_protocol::matching::{self, Need, Offer};
use kith_protocol::{Community, EntryHash, MemberId, PostKind, Status};

use crate::read::wire::InboxItem;
use crate::replica::Replica;
use crate::store::StoreError;

/// The store's key of the read items' ids (one per line).
const READ_KEY: &str = "inbox-read";
/// Most read ids remembered (the oldest are forgotten first).
const MAX_READ: usize = 5000;
/// How long before a post leaves the board its author is asked "still needed?".
pub const EXPIRY_WARNING_MS: u64 = 3 * 24 * 3600 * 1000;
/// How far ahead a gathering one is coming to shows as "soon": until the end of tomorrow.
const DAY_MS: u64 = 24 * 3600 * 1000;

/// Words in quotes, cut short.
fn quoted(text: &str) -> String {
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let cut: String = flat.chars().take(80).collect();
    if cut.len() < flat.len() { format!("“{cut}…”") } else { format!("“{cut}”") }
}

fn item(id: String, kind: &str, at_ms: u64, text: String) -> InboxItem {
    InboxItem {
        id,
        kind: kind.to_string(),
        post: None,
        member_id: None,
        name: None,
        text,
        at: crate::when::rfc3339(at_ms),
        at_ms,
        read: false,
        reason: None,
    }
}

/// The ids of the items read on this node.
pub fn read_ids(replica: &Replica) -> Result<Vec<String>, StoreError> {
    let raw = replica.store().meta_get(READ_KEY)?.unwrap_or_default();
    Ok(String::from_utf8_lossy(&raw).lines().filter(|l| !l.is_empty()).map(str::to_string).collect())
}

/// Marks items read (kept on this node only).
pub fn mark_read(replica: &Replica, ids: &[String]) -> Result<(), StoreError> {
    let mut read = read_ids(replica)?;
    let known: BTreeSet<String> = read.iter().cloned().collect();
    read.extend(ids.iter().filter(|id| !known.contains(*id)).cloned());
    if read.len() > MAX_READ {
        read.drain(..read.len() - MAX_READ);
    }
    replica.store().meta_put(READ_KEY, read.join("\n").as_bytes())
}

/// The inbox's items as last worked out, and what they were worked out from.
#[derive(Debug, Default)]
pub struct Cache(Mutex<Option<([u8; 32], Vec<InboxItem>)>>);

/// What the items are made of: the member, the minute, and the community's applied entries
/// (their count, the fork proofs and every log's head).
fn cache_key(replica: &Replica, community: &Community, now: u64) -> [u8; 32] {
    let mut hasher = blake3::Hasher::new();
    hasher.update(&replica.me().0);
    hasher.update(&(now / 60_000).to_le_bytes());
    hasher.update(&(community.entry_count() as u64).to_le_bytes());
    hasher.update(&(community.forks().count() as u64).to_le_bytes());
    for (member, head) in community.heads() {
        hasher.update(&member.0);
        hasher.update(&head.hash.0);
    }
    *hasher.finalize().as_bytes()
}

/// Everything for this node's member, newest first (the organisers' notices first), each
/// marked read or not; worked out again only when [`cache_key`] changed.
pub fn items(replica: &Replica, cache: &Cache, now: u64) -> Result<Vec<InboxItem>, StoreError> {
    let Some(community) = replica.community() else { return Ok(Vec::new()) };
    let key = cache_key(replica, community, now);
    let mut kept = cache.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let mut out = match kept.as_ref() {
        Some((k, items)) if *k == key => items.clone(),
        _ => {
            let items = compute(replica, community, now)?;
            *kept = Some((key, items.clone()));
            items
        }
    };
    drop(kept);
    let read: BTreeSet<String> = read_ids(replica)?.into_iter().collect();
    for entry in &mut out {
        entry.read = read.contains(&entry.id);
    }
    Ok(out)
}

/// The items, worked out from what the node holds (all unread).
fn compute(replica: &Replica, community: &Community, now: u64) -> Result<Vec<InboxItem>, StoreError> {
    let me = replica.me();
    let mut out = Vec::new();
    let name = |id: &MemberId| crate::read::name_of(community, id);
    // In the texts, a helped member is named with their helper: "Mrs Patel (helped by Ada)".
    let named = |id: &MemberId| crate::read::name_helped(community, id, crate::read::helper_now(community, id));
    let shown = |id: &MemberId| community.member(id).is_none_or(|m| m.suspended.is_none());
    let store = replica.store();

    let mine: Vec<(EntryHash, kith_protocol::community::Post)> =
        community.posts().filter(|(_, p)| p.author == me && community.post_visible(p)).collect();
    for (hash, post) in &mine {
        let Some(view) = store.post(community, hash)? else { continue };
        // Replies from others.
        for reply in store.replies(hash)? {
            let visible = community.reply(&reply.id).is_some_and(|r| !r.redacted) && shown(&reply.author);
            if reply.author == me || !visible {
                continue;
            }
            let mut entry = item(
                reply.id.to_string(),
                "reply",
                reply.created_at_ms,
                format!("{} replied to {}: {}", named(&reply.author), quoted(&view.title), quoted(&reply.text)),
            );
            entry.post = Some(hash.to_string());
            entry.member_id = Some(reply.author.to_string());
            entry.name = Some(name(&reply.author));
            out.push(entry);
        }
        // Answers to my gatherings.
        if let Some(attendance) = community.attendance(hash) {
            for (member, answers) in attendance {
                let Some((answer, at)) = answers.latest else { continue };
                if *member == me || !shown(member) {
                    continue;
                }
                let text = if answers.coming_on(None) {
                    format!("{} is coming to {}", named(member), quoted(&view.title))
                } else {
                    format!("{} can't come to {} after all", named(member), quoted(&view.title))
                };
                let mut entry = item(answer.to_string(), "coming", at, text);
                entry.post = Some(hash.to_string());
                entry.member_id = Some(member.to_string());
                entry.name = Some(name(member));
                out.push(entry);
            }
        }
        // My posts about to leave the board.
        let open = post.status == Status::Open;
        if open && post.expires_at_ms > now && post.expires_at_ms - now <= EXPIRY_WARNING_MS {
            let mut entry = item(
                format!("expiring-{hash}-{}", post.expires_at_ms),
                "expiring",
                post.expires_at_ms.saturating_sub(EXPIRY_WARNING_MS),
                format!(
                    "Your {} {} leaves the board on {}. Still needed?",
                    post.kind.as_str(),
                    quoted(&view.title),
                    crate::when::in_words(post.expires_at_ms, now)
                ),
            );
            entry.post = Some(hash.to_string());
            out.push(entry);
        }
    }

    // Hours received.
    for transfer in store.transfers_of(community, &me)? {
        if transfer.to != me || !shown(&transfer.from) {
            continue;
        }
        let minutes = kith_protocol::Minutes(transfer.minutes);
        // Named with the helper who recorded it (the one in force at that point of the log).
        let recorded_by = community
            .transfer(&transfer.id)
            .and_then(|t| community.member(&transfer.from).and_then(|m| m.helper_at(t.seq)));
        let from = crate::read::name_helped(community, &transfer.from, recorded_by);
        let memo =
            if transfer.memo.trim().is_empty() { String::new() } else { format!(": {}", quoted(&transfer.memo)) };
        let mut entry = item(
            transfer.id.to_string(),
            "hours",
            transfer.created_at_ms,
            format!("{from} thanked you with {minutes}{memo}"),
        );
        entry.post = transfer.for_post.map(|p| p.to_string());
        entry.member_id = Some(transfer.from.to_string());
        entry.name = Some(name(&transfer.from));
        out.push(entry);
    }

    // Newcomers waiting for a vouch (members only).
    if community.is_member(&me) {
        for (id, member) in community.members() {
            if member.admitted || member.hub || member.profile.is_none() || member.vouched_by.contains(&me) || *id == me
            {
                continue;
            }
            let at = store.profile(community, id)?.map_or(0, |p| p.updated_at_ms);
            let mut entry = item(
                format!("vouch-{id}"),
                "vouch_needed",
                at,
                format!("{} asked to join and waits for a neighbour who knows them to vouch", named(id)),
            );
            entry.member_id = Some(id.to_string());
            entry.name = Some(name(id));
            out.push(entry);
        }
    }

    out.extend(announcements(replica, community, me, now));
    out.extend(soon(replica, community, me, now)?);
    out.extend(quiet(replica, community, me, now)?);
    out.extend(matches(replica, community, me, now)?);
    // The organisers' notices head the inbox while they last, as they head the board.
    let notice = |i: &InboxItem| i.kind != ANNOUNCEMENT;
    out.sort_by(|a, b| notice(a).cmp(&notice(b)).then(b.at_ms.cmp(&a.at_ms)).then_with(|| a.id.cmp(&b.id)));
    Ok(out)
}

/// The kind of an organiser's notice.
const ANNOUNCEMENT: &str = "announcement";

/// The announcements shown now, as the board heads with them (not this member's own).
fn announcements(replica: &Replica, community: &Community, me: MemberId, now: u64) -> Vec<InboxItem> {
    let mine = me.to_string();
    let mut out = Vec::new();
    for notice in crate::read::announce::current(replica, community, now) {
        if notice.author == mine {
            continue;
        }
        let text = if notice.text.trim().is_empty() {
            format!("{} announced: {}", notice.author_name, notice.title)
        } else {
            format!("{} announced: {} — {}", notice.author_name, notice.title, notice.text)
        };
        let mut entry = item(notice.id, ANNOUNCEMENT, notice.created_at_ms, text);
        entry.member_id = Some(notice.author);
        entry.name = Some(notice.author_name);
        out.push(entry);
    }
    out
}

/// Members who asked to be checked on, named this member a buddy (or any, for an
/// organiser), and have been quiet for longer than they asked.
fn quiet(replica: &Replica, community: &Community, me: MemberId, now: u64) -> Result<Vec<InboxItem>, StoreError> {
    let mut out = Vec::new();
    for (id, days) in community.quiet_members(me, now) {
        let last = community.member(&id).and_then(|m| m.head).map_or(0, |h| h.timestamp_ms);
        let contact = replica.store().profile(community, &id)?.map(|p| p.contact).filter(|c| !c.trim().is_empty());
        let name = crate::read::name_of(community, &id);
        let ring = match contact {
            Some(contact) => format!(" — give them a ring? ({})", contact.trim()),
            None => " — give them a ring?".to_string(),
        };
        let mut entry = item(
            format!("checkin-{id}-{last}"),
            "checkin_alert",
            now.min(last.saturating_add(days * DAY_MS)),
            format!("{name} asked to be checked on and has been quiet for {days} days{ring}"),
        );
        entry.member_id = Some(id.to_string());
        entry.name = Some(name);
        out.push(entry);
    }
    Ok(out)
}

/// Gatherings this member is coming to that start before the end of tomorrow.
fn soon(replica: &Replica, community: &Community, me: MemberId, now: u64) -> Result<Vec<InboxItem>, StoreError> {
    let mut out = Vec::new();
    let tomorrow = crate::when::day_of_instant(now) + 1;
    for (hash, post) in community.posts() {
        let Some(schedule) = post.schedule else { continue };
        let Some(answers) = community.attendance(&hash).and_then(|a| a.get(&me)) else { continue };
        if !community.post_visible(&post) || post.status != Status::Open {
            continue;
        }
        for day in crate::when::coming_days(&schedule, now, 2) {
            let starts = crate::when::occurrence_start(&schedule, day);
            if day > tomorrow || starts <= now || !answers.coming_on(Some(day)) {
                continue;
            }
            let Some(view) = replica.store().post(community, &hash)? else { continue };
            let when = if day == tomorrow { "tomorrow" } else { "today" };
            let mut entry = item(
                format!("soon-{hash}-{day}"),
                "gathering_soon",
                starts.saturating_sub(DAY_MS),
                format!("{} is {when}: {}", quoted(&view.title), crate::when::in_words(starts, now)),
            );
            entry.post = Some(hash.to_string());
            out.push(entry);
        }
    }
    Ok(out)
}

/// Open requests of others this member might help with, and why.
pub fn matches(replica: &Replica, community: &Community, me: MemberId, now: u64) -> Result<Vec<InboxItem>, StoreError> {
    let store = replica.store();
    let skills = store.profile(community, &me)?.map(|p| p.skills).unwrap_or_default();
    let mut offer_views = Vec::new();
    for (hash, post) in community.posts() {
        if post.author == me
            && post.kind == PostKind::Offer
            && post.status == Status::Open
            && community.post_visible(&post)
            && let Some(view) = store.post(community, &hash)?
        {
            offer_views.push(view);
        }
    }
    let offers: Vec<Offer<'_>> =
        offer_views.iter().map(|v| Offer { post: v.id, title: &v.title, category: &v.category }).collect();
    if skills.is_empty() && offers.is_empty() {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    for (hash, post) in community.posts() {
        if post.kind != PostKind::Request
            || post.author == me
            || post.status != Status::Open
            || post.expires_at_ms < now
        {
            continue;
        }
        if !community.post_visible(&post) {
            continue;
        }
        let Some(view) = store.post(community, &hash)? else { continue };
        let need = Need { title: &view.title, details: &view.details, category: &view.category };
        let Some(reason) = matching::why_match(&need, &skills, &offers) else { continue };
        let asker = crate::read::name_of(community, &post.author);
        let mut entry = item(
            format!("match-{hash}"),
            "match",
            post.created_at_ms,
            format!("{asker} asked for help: {} — {}", quoted(&view.title), reason.words()),
        );
        entry.post = Some(hash.to_string());
        entry.member_id = Some(post.author.to_string());
        entry.name = Some(asker);
        entry.reason = Some(reason.words());
        out.push(entry);
    }
    Ok(out)
}

/// The neighbours (not the asker) whose skills or open offers match a request, with why:
/// "Neighbours who offer this" on the asker's request.
pub fn helpers_for(
    replica: &Replica,
    community: &Community,
    request: &EntryHash,
    now: u64,
) -> Result<Vec<(MemberId, String, String)>, StoreError> {
    let store = replica.store();
    let Some(post) = community.post(request) else { return Ok(Vec::new()) };
    let Some(view) = store.post(community, request)? else { return Ok(Vec::new()) };
    if post.kind != PostKind::Request {
        return Ok(Vec::new());
    }
    let need = Need { title: &view.title, details: &view.details, category: &view.category };
    let mut offers_of: std::collections::BTreeMap<MemberId, Vec<crate::store::PostView>> = Default::default();
    for (hash, offer) in community.posts() {
        let open = offer.status == Status::Open && offer.expires_at_ms >= now && community.post_visible(&offer);
        if offer.kind == PostKind::Offer
            && open
            && let Some(view) = store.post(community, &hash)?
        {
            offers_of.entry(offer.author).or_default().push(view);
        }
    }
    let mut out = Vec::new();
    for (id, member) in community.members() {
        if *id == post.author || !member.admitted || member.suspended.is_some() {
            continue;
        }
        let skills = store.profile(community, id)?.map(|p| p.skills).unwrap_or_default();
        let views = offers_of.get(id).map(Vec::as_slice).unwrap_or_default();
        let offers: Vec<Offer<'_>> =
            views.iter().map(|v| Offer { post: v.id, title: &v.title, category: &v.category }).collect();
        if let Some(reason) = matching::why_match(&need, &skills, &offers) {
            let why = match reason {
                matching::Reason::Skill(skill) => format!("offers: {skill}"),
                matching::Reason::Offer { title, .. } => format!("offers: {title}"),
            };
            out.push((*id, crate::read::name_of(community, id), why));
        }
    }
    out.sort_by_key(|(_, name, _)| name.to_lowercase());
    Ok(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use kith_protocol::{Body, Keypair, PostKind, Rules};

    use super::*;
    use crate::store::Store;

    const NOW: u64 = 1_800_000_000_000;

    /// The kept items are worked out again after a new entry, and as the clock moves on.
    #[test]
    fn the_kept_inbox_follows_new_entries_and_the_clock() {
        let dir = tempfile::TempDir::new().unwrap();
        let store = Store::open(dir.path(), 1024 * 1024).unwrap();
        let mut replica = Replica::open(store, Keypair::from_secret_bytes([5; 32]), None, NOW).unwrap();
        replica.found("Elm Street", "", Rules::default(), NOW).unwrap();
        let cache = Cache::default();
        assert_eq!(items(&replica, &cache, NOW).unwrap(), vec![]);
        let request = |title: &str, expires_at: u64| Body::Post {
            kind: PostKind::Request,
            title: title.into(),
            details: String::new(),
            category: String::new(),
            when: String::new(),
            place: String::new(),
            expires_at: Some(expires_at),
            schedule: None,
        };
        let kinds = |found: &[InboxItem]| found.iter().map(|i| i.kind.clone()).collect::<Vec<_>>();
        // Within the same minute: only the new entry can make the item appear.
        replica.publish(request("A lift", NOW + 2 * DAY_MS), NOW + 1).unwrap();
        assert_eq!(kinds(&items(&replica, &cache, NOW + 2).unwrap()), vec!["expiring"]);
        // No new entry: only the clock moving on makes the second one appear.
        let expires = NOW + 4 * DAY_MS;
        replica.publish(request("Soup", expires), NOW + 3).unwrap();
        assert_eq!(items(&replica, &cache, NOW + 4).unwrap().len(), 1, "four days left: not yet");
        let later = expires - EXPIRY_WARNING_MS + 1;
        let found = items(&replica, &cache, later).unwrap();
        assert_eq!(kinds(&found), vec!["expiring", "expiring"]);
        // Read marks apply to the kept items too.
        mark_read(&replica, &[found[0].id.clone()]).unwrap();
        assert!(items(&replica, &cache, later).unwrap()[0].read);
    }
}
