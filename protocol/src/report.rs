//! The organisers' report: how the community is doing over a period, computed from the entries
//! a node holds and the reducer's state, by one pure function ([`Tally`]: feed it entries,
//! then [`Tally::finish`]). Dates are arguments; calendar arithmetic (UTC) is here too.
//!
//! What each figure means (the definitions the tests check):
//! - an *exchange* is a transfer dated in the period (written: given, whether claimed yet or
//!   not); its hours count in the month of its date and in the category of the post it names
//!   (`for_post`), or "uncategorised";
//! - *new* members were admitted in the period (admitted by the founder's vouch or by the
//!   `vouches_needed`-th vouch, by date); *active* members wrote an entry in the period;
//!   *quiet* members (not suspended) wrote none in the 30 days before the period's end;
//!   *pending* and *suspended* are as of now;
//! - a request is *answered* within 1 / 7 days when someone other than its author replied
//!   within that time of its posting (7 includes 1); *unanswered after 7 days* are requests of
//!   the period still open, not expired at the period's end, posted at least 7 days before it,
//!   with no reply from anyone else dated before it; *done* are those marked done;
//! - an offer is *taken up* when a transfer dated before the period's end names it;
//! - a *new connection* is a pair of members whose first transfer between them (either way)
//!   is dated in the period; *never exchanged* are members (not suspended) with no transfer
//!   either way dated before the period's end;
//! - balances *near the limit* are at or below 80% of the credit limit below zero; *well
//!   ahead* at or above 80% of it above zero (as of now).
//!
//! Redacted posts and posts of suspended members are left out; entries of frozen logs are never
//! counted.

use std::collections::{BTreeMap, BTreeSet};

use crate::body::{Body, PostKind, Status};
use crate::community::Community;
use crate::entry::{Entry, EntryHash};
use crate::identity::MemberId;

pub const DAY_MS: u64 = 24 * 3600 * 1000;
/// Members with no entry in this long before the period's end are quiet.
pub const QUIET_MS: u64 = 30 * DAY_MS;
/// A balance this share (in percent) of the credit limit away from zero is "near the limit".
pub const NEAR_LIMIT_PERCENT: i64 = 80;
/// The category of hours given for no post, or for a post with no category.
pub const UNCATEGORISED: &str = "uncategorised";

/// The dates a report covers: entries dated at or after `from_ms` and before `to_ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    pub from_ms: u64,
    pub to_ms: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Figures {
    pub period: Option<Period>,
    /// Entries fed to the tally (applied, not of frozen logs).
    pub entries_held: usize,
    /// The newest date among them.
    pub newest_entry_ms: Option<u64>,
    /// `YYYY-MM` → minutes exchanged, oldest first.
    pub hours_by_month: BTreeMap<String, u64>,
    /// Category → minutes exchanged.
    pub hours_by_category: BTreeMap<String, u64>,
    pub exchanges: usize,
    pub minutes_exchanged: u64,
    pub givers: usize,
    pub receivers: usize,
    pub members: MemberFigures,
    /// Members at or below 80% of the credit limit, lowest first.
    pub near_limit: Vec<(MemberId, i64)>,
    /// Members at or above 80% of the credit limit above zero, highest first.
    pub well_ahead: Vec<(MemberId, i64)>,
    pub requests: RequestFigures,
    pub offers: OfferFigures,
    pub gatherings: GatheringFigures,
    /// Members whose log is frozen (two entries at one seq), and from which seq.
    pub forks: Vec<(MemberId, u64)>,
    /// Pairs who exchanged for the first time in the period (the smaller id first).
    pub new_connections: Vec<(MemberId, MemberId)>,
    /// Members who have not exchanged with anyone yet.
    pub never_exchanged: Vec<MemberId>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemberFigures {
    /// Members now (admitted, suspended ones included).
    pub total: usize,
    pub new: usize,
    pub active: usize,
    pub quiet: usize,
    pub pending: usize,
    pub suspended: usize,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestFigures {
    pub posted: usize,
    pub answered_1d: usize,
    pub answered_7d: usize,
    /// Oldest first.
    pub unanswered_7d: Vec<PostRef>,
    pub done: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostRef {
    pub id: EntryHash,
    pub author: MemberId,
    pub title: String,
    pub created_at_ms: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OfferFigures {
    pub posted: usize,
    pub taken_up: usize,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GatheringFigures {
    pub posted: usize,
}

struct PostSeen {
    kind: PostKind,
    author: MemberId,
    at_ms: u64,
    category: String,
    title: String,
}

struct TransferSeen {
    from: MemberId,
    to: MemberId,
    minutes: u64,
    at_ms: u64,
    for_post: Option<EntryHash>,
}

/// The report's working memory: what it needs of each entry, nothing more (no texts but post
/// titles and categories).
pub struct Tally {
    period: Period,
    /// The month (`YYYY-MM`) an instant falls in, in the calendar the report is read in.
    month: fn(u64) -> String,
    entries: usize,
    newest_ms: Option<u64>,
    /// Per author: whether an entry is dated in the period, and their newest date before its end.
    activity: BTreeMap<MemberId, (bool, Option<u64>)>,
    /// Per newcomer: (date, voucher) of each vouch.
    vouches: BTreeMap<MemberId, Vec<(u64, MemberId)>>,
    genesis_ms: Option<u64>,
    posts: BTreeMap<EntryHash, PostSeen>,
    replies: Vec<(EntryHash, MemberId, u64)>,
    transfers: Vec<TransferSeen>,
}

impl std::fmt::Debug for Tally {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Tally({} entries)", self.entries)
    }
}

impl Period {
    pub fn contains(&self, at_ms: u64) -> bool {
        at_ms >= self.from_ms && at_ms < self.to_ms
    }
}

impl Tally {
    pub fn new(period: Period) -> Tally {
        Tally::in_calendar(period, month_of)
    }

    /// A tally whose months are `month`'s (the node passes its local time zone's; [`Tally::new`]
    /// uses UTC's). Time zones are the caller's: this crate reads no clock and no `TZ`.
    pub fn in_calendar(period: Period, month: fn(u64) -> String) -> Tally {
        Tally {
            period,
            month,
            entries: 0,
            newest_ms: None,
            activity: BTreeMap::new(),
            vouches: BTreeMap::new(),
            genesis_ms: None,
            posts: BTreeMap::new(),
            replies: Vec::new(),
            transfers: Vec::new(),
        }
    }

    /// Takes one entry the node holds as applied, in any order. Entries of a frozen log (at or
    /// after the seq it is frozen from) are skipped.
    pub fn add(&mut self, community: &Community, entry: &Entry) {
        let author = entry.author();
        let frozen = community.member(&author).and_then(|m| m.frozen_at).is_some_and(|at| entry.seq() >= at);
        if frozen {
            return;
        }
        let at_ms = entry.timestamp_ms();
        self.entries += 1;
        self.newest_ms = Some(self.newest_ms.map_or(at_ms, |n| n.max(at_ms)));
        let seen = self.activity.entry(author).or_insert((false, None));
        seen.0 |= self.period.contains(at_ms);
        if at_ms < self.period.to_ms {
            seen.1 = Some(seen.1.map_or(at_ms, |n| n.max(at_ms)));
        }
        match entry.body() {
            Body::Genesis { .. } => self.genesis_ms = Some(at_ms),
            Body::Vouch { member, .. } => self.vouches.entry(*member).or_default().push((at_ms, author)),
            Body::Post { kind, title, category, .. } => {
                let seen = PostSeen { kind: *kind, author, at_ms, category: category.clone(), title: title.clone() };
                self.posts.insert(entry.hash(), seen);
            }
            Body::Reply { post, .. } => self.replies.push((*post, author, at_ms)),
            Body::Transfer { to, minutes, for_post, .. } => self.transfers.push(TransferSeen {
                from: author,
                to: *to,
                minutes: u64::from(minutes.0),
                at_ms,
                for_post: *for_post,
            }),
            _ => {}
        }
    }

    /// The figures, from what was added and the community's state now.
    pub fn finish(self, community: &Community) -> Figures {
        let period = self.period;
        let founder = community.founder();
        let needed = usize::from(community.rules().vouches_needed.max(1));
        let persons: Vec<(&MemberId, &crate::community::Member)> =
            community.members().filter(|(_, m)| m.admitted).collect();

        let mut figures = Figures {
            period: Some(period),
            entries_held: self.entries,
            newest_entry_ms: self.newest_ms,
            ..Figures::default()
        };

        // Members.
        let admitted_at = |id: &MemberId| -> Option<u64> {
            if *id == founder {
                return self.genesis_ms;
            }
            let vouches = self.vouches.get(id)?;
            let by_founder = vouches.iter().filter(|(_, by)| *by == founder).map(|(at, _)| *at).min();
            let mut dates: Vec<u64> = vouches.iter().map(|(at, _)| *at).collect();
            dates.sort_unstable();
            let enough = dates.get(needed - 1).copied();
            match (by_founder, enough) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            }
        };
        let quiet_since = period.to_ms.saturating_sub(QUIET_MS);
        for (id, member) in &persons {
            figures.members.total += 1;
            if admitted_at(id).is_some_and(|at| period.contains(at)) {
                figures.members.new += 1;
            }
            let (active, newest) = self.activity.get(id).copied().unwrap_or((false, None));
            if active {
                figures.members.active += 1;
            }
            if member.suspended.is_some() {
                figures.members.suspended += 1;
            } else if newest.is_none_or(|at| at < quiet_since) {
                figures.members.quiet += 1;
            }
        }
        figures.members.pending =
            community.members().filter(|(_, m)| !m.admitted && !m.hub && m.profile.is_some()).count();

        // Balances, as of now.
        let threshold = i64::from(community.rules().credit_limit.0) * NEAR_LIMIT_PERCENT / 100;
        for (id, member) in &persons {
            if member.balance_minutes < 0 && member.balance_minutes <= -threshold {
                figures.near_limit.push((**id, member.balance_minutes));
            }
            if member.balance_minutes > 0 && member.balance_minutes >= threshold {
                figures.well_ahead.push((**id, member.balance_minutes));
            }
        }
        figures.near_limit.sort_by_key(|(id, b)| (*b, *id));
        figures.well_ahead.sort_by_key(|(id, b)| (std::cmp::Reverse(*b), *id));

        // Exchanges and connections.
        let shown = |hash: &EntryHash| community.post(hash).is_some_and(|p| community.post_visible(&p));
        let mut givers = BTreeSet::new();
        let mut receivers = BTreeSet::new();
        let mut first_exchange: BTreeMap<(MemberId, MemberId), u64> = BTreeMap::new();
        let mut exchanged = BTreeSet::new();
        let mut taken_up = BTreeSet::new();
        for t in &self.transfers {
            if t.at_ms >= period.to_ms {
                continue;
            }
            let pair = if t.from < t.to { (t.from, t.to) } else { (t.to, t.from) };
            let first = first_exchange.entry(pair).or_insert(t.at_ms);
            *first = (*first).min(t.at_ms);
            exchanged.insert(t.from);
            exchanged.insert(t.to);
            if let Some(post) = t.for_post {
                taken_up.insert(post);
            }
            if !period.contains(t.at_ms) {
                continue;
            }
            figures.exchanges += 1;
            figures.minutes_exchanged += t.minutes;
            givers.insert(t.from);
            receivers.insert(t.to);
            *figures.hours_by_month.entry((self.month)(t.at_ms)).or_default() += t.minutes;
            let category = t
                .for_post
                .filter(|p| shown(p))
                .and_then(|p| self.posts.get(&p))
                .map(|p| p.category.trim().to_lowercase())
                .filter(|c| !c.is_empty())
                .unwrap_or_else(|| UNCATEGORISED.to_string());
            *figures.hours_by_category.entry(category).or_default() += t.minutes;
        }
        figures.givers = givers.len();
        figures.receivers = receivers.len();
        figures.new_connections =
            first_exchange.into_iter().filter(|(_, at)| period.contains(*at)).map(|(pair, _)| pair).collect();
        figures.never_exchanged = persons
            .iter()
            .filter(|(id, m)| m.suspended.is_none() && !exchanged.contains(*id))
            .map(|(id, _)| **id)
            .collect();

        // Posts.
        let mut first_answer: BTreeMap<EntryHash, u64> = BTreeMap::new();
        for (post, author, at_ms) in &self.replies {
            let by_other = self.posts.get(post).is_some_and(|p| p.author != *author);
            let reply_shown = community.member(author).is_none_or(|m| m.suspended.is_none());
            if by_other && reply_shown {
                let first = first_answer.entry(*post).or_insert(*at_ms);
                *first = (*first).min(*at_ms);
            }
        }
        for (hash, seen) in &self.posts {
            if !period.contains(seen.at_ms) || !shown(hash) {
                continue;
            }
            let Some(state) = community.post(hash) else { continue };
            match seen.kind {
                PostKind::Request => {
                    figures.requests.posted += 1;
                    let answer = first_answer.get(hash).copied();
                    let within = |days: u64| answer.is_some_and(|at| at.saturating_sub(seen.at_ms) <= days * DAY_MS);
                    if within(1) {
                        figures.requests.answered_1d += 1;
                    }
                    if within(7) {
                        figures.requests.answered_7d += 1;
                    }
                    if state.status == Status::Done {
                        figures.requests.done += 1;
                    }
                    let unanswered = answer.is_none_or(|at| at >= period.to_ms);
                    let old = period.to_ms.saturating_sub(seen.at_ms) >= 7 * DAY_MS;
                    if unanswered && old && state.status == Status::Open && state.expires_at_ms > period.to_ms {
                        figures.requests.unanswered_7d.push(PostRef {
                            id: *hash,
                            author: seen.author,
                            title: seen.title.clone(),
                            created_at_ms: seen.at_ms,
                        });
                    }
                }
                PostKind::Offer => {
                    figures.offers.posted += 1;
                    if taken_up.contains(hash) {
                        figures.offers.taken_up += 1;
                    }
                }
                PostKind::Gathering => figures.gatherings.posted += 1,
            }
        }
        figures.requests.unanswered_7d.sort_by_key(|p| (p.created_at_ms, p.id));

        figures.forks = community.members().filter_map(|(id, m)| m.frozen_at.map(|at| (*id, at))).collect();
        figures
    }
}

/// The report over `entries` (those the node holds as applied) and the community's state.
pub fn compute<'a>(community: &Community, entries: impl IntoIterator<Item = &'a Entry>, period: Period) -> Figures {
    let mut tally = Tally::new(period);
    for entry in entries {
        tally.add(community, entry);
    }
    tally.finish(community)
}

// --- the calendar (UTC) ---

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian (Howard Hinnant's
/// algorithm).
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// (year, month, day) to days since 1970-01-01.
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `YYYY-MM` of a date (UTC).
pub fn month_of(ms: u64) -> String {
    let (year, month, _) = civil_from_days((ms / DAY_MS) as i64);
    format!("{year:04}-{month:02}")
}

/// Reads a date as people and the CLI write it, in UTC: `2026-12-04`, `2026-12-04 14:00`,
/// `2026-12-04T14:00:00Z` (RFC 3339, with `Z` or an offset like `+01:00`). A date alone is
/// its midnight; `end_of_day` makes it the next midnight instead (for "to" dates, so that
/// `--to 2026-11-30` includes that day).
pub fn parse_date(text: &str, end_of_day: bool) -> Option<u64> {
    let text = text.trim();
    let number =
        |s: Option<&str>| s.filter(|s| s.bytes().all(|b| b.is_ascii_digit()) && !s.is_empty())?.parse::<u32>().ok();
    let (year, month, day) = (number(text.get(0..4))?, number(text.get(5..7))?, number(text.get(8..10))?);
    if text.get(4..5) != Some("-") || text.get(7..8) != Some("-") || !(1..=12).contains(&month) || day == 0 {
        return None;
    }
    let days = days_from_civil(i64::from(year), month, day);
    if civil_from_days(days) != (i64::from(year), month, day) {
        return None; // 31 February and the like
    }
    let rest = text.get(10..)?;
    let mut seconds: i64 = 0;
    if rest.is_empty() {
        if end_of_day {
            seconds = 86_400;
        }
    } else {
        let rest = rest.strip_prefix('T').or_else(|| rest.strip_prefix(' '))?;
        let (hour, minute) = (number(rest.get(0..2))?, number(rest.get(3..5))?);
        if rest.get(2..3) != Some(":") || hour > 23 || minute > 59 {
            return None;
        }
        let mut tail = rest.get(5..)?;
        let mut second = 0;
        if let Some(after) = tail.strip_prefix(':') {
            second = number(after.get(0..2))?;
            if second > 59 {
                return None;
            }
            tail = after.get(2..)?;
            if let Some(fraction) = tail.strip_prefix('.') {
                let digits = fraction.bytes().take_while(u8::is_ascii_digit).count();
                tail = fraction.get(digits..)?;
            }
        }
        let offset: i64 = match tail {
            "" | "Z" | "z" => 0,
            _ => {
                let sign = match tail.get(0..1)? {
                    "+" => 1,
                    "-" => -1,
                    _ => return None,
                };
                let (oh, om) = (number(tail.get(1..3))?, number(tail.get(4..6))?);
                if tail.get(3..4) != Some(":") || tail.len() != 6 || oh > 23 || om > 59 {
                    return None;
                }
                sign * i64::from(oh * 3600 + om * 60)
            }
        };
        seconds = i64::from(hour * 3600 + minute * 60 + second) - offset;
    }
    let total = days.checked_mul(86_400)?.checked_add(seconds)?;
    u64::try_from(total).ok()?.checked_mul(1000)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::body::Rules;
    use crate::entry::Draft;
    use crate::identity::Keypair;
    use crate::minutes::Minutes;

    #[test]
    fn dates_read_as_written() {
        assert_eq!(parse_date("1970-01-02", false), Some(DAY_MS));
        assert_eq!(parse_date("1970-01-01", true), Some(DAY_MS));
        assert_eq!(parse_date("2026-11-27 14:15", false), Some(1_795_788_900_000));
        assert_eq!(parse_date("2026-11-27T14:15:00Z", false), Some(1_795_788_900_000));
        assert_eq!(parse_date("2026-11-27T15:15:00+01:00", false), Some(1_795_788_900_000));
        assert_eq!(parse_date("2026-11-27T14:15:00.250Z", false), Some(1_795_788_900_000));
        assert_eq!(parse_date("2026-02-31", false), None);
        assert_eq!(parse_date("2026-13-01", false), None);
        assert_eq!(parse_date("27/11/2026", false), None);
        assert_eq!(parse_date("2026-11-27 25:00", false), None);
        assert_eq!(month_of(1_795_788_900_000), "2026-11");
        for days in [-1000, 0, 59, 365, 20_000, 40_000] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
    }

    struct Log {
        key: Keypair,
        seq: u64,
        prev: Option<EntryHash>,
    }

    impl Log {
        fn new(n: u8) -> Log {
            Log { key: Keypair::from_secret_bytes([n; 32]), seq: 0, prev: None }
        }
        fn id(&self) -> MemberId {
            self.key.member_id()
        }
        fn write(&mut self, community: &mut Community, at_ms: u64, body: Body) -> Entry {
            let draft = Draft {
                community: Some(community.id()),
                seq: self.seq + 1,
                prev: self.prev,
                timestamp_ms: at_ms,
                body,
            };
            let entry = Entry::sign(&self.key, draft).unwrap();
            self.seq += 1;
            self.prev = Some(entry.hash());
            // A newcomer's profile waits for their admission (it is applied by the vouch).
            let outcome = community.ingest(entry.clone(), u64::MAX / 2).0;
            assert!(matches!(outcome, crate::Outcome::Applied | crate::Outcome::Pending(_)), "{outcome:?}");
            entry
        }
    }

    fn post(kind: PostKind, title: &str, category: &str) -> Body {
        Body::Post {
            kind,
            title: title.into(),
            details: String::new(),
            category: category.into(),
            when: String::new(),
            place: String::new(),
            expires_at: Some(400 * DAY_MS),
            schedule: None,
        }
    }

    /// A small hand-made community whose figures are counted by hand.
    #[test]
    fn a_small_community_counts_as_by_hand() {
        let mut ada = Log::new(1);
        let mut bob = Log::new(2);
        let mut cy = Log::new(3);
        let mut dee = Log::new(4);
        let rules = Rules { credit_limit: Minutes::from_hours(2), vouches_needed: 1, post_lifetime_days: 30 };
        let genesis = Entry::sign(
            &ada.key,
            Draft {
                community: None,
                seq: 1,
                prev: None,
                timestamp_ms: DAY_MS,
                body: Body::Genesis { name: "Elm".into(), description: String::new(), rules },
            },
        )
        .unwrap();
        ada.seq = 1;
        ada.prev = Some(genesis.hash());
        let mut community = Community::new(&genesis).unwrap();
        let mut all = vec![genesis];
        let profile = |name: &str| Body::Profile {
            name: name.into(),
            about: String::new(),
            area: String::new(),
            skills: vec![],
            contact: String::new(),
        };
        let c = &mut community;
        all.push(bob.write(c, 2 * DAY_MS, profile("Bob")));
        all.push(ada.write(c, 2 * DAY_MS, Body::Vouch { member: bob.id(), note: String::new() }));
        all.push(cy.write(c, 3 * DAY_MS, profile("Cy")));
        // Before the period, Ada and Bob exchanged once.
        let t0 = ada.write(
            c,
            5 * DAY_MS,
            Body::Transfer { to: bob.id(), minutes: Minutes(30), memo: String::new(), for_post: None },
        );
        all.push(t0);
        // The period: days 10 to 40.
        all.push(ada.write(c, 11 * DAY_MS, Body::Vouch { member: cy.id(), note: String::new() }));
        let invite = crate::invite::Capability::issue(&ada.key, c.id(), [4; 16], 400 * DAY_MS, 1).to_bytes();
        all.push(dee.write(c, 12 * DAY_MS, Body::JoinRequest { invite, name: "Dee".into() })); // pending
        let garden = bob.write(c, 12 * DAY_MS, post(PostKind::Request, "Help in the garden", "Garden"));
        // Bob's request answered by Cy after 12 hours; Cy's by Cy only (not an answer).
        all.push(cy.write(c, 12 * DAY_MS + DAY_MS / 2, Body::Reply { post: garden.hash(), text: "me".into() }));
        let lift = cy.write(c, 13 * DAY_MS, post(PostKind::Request, "A lift", ""));
        let soup = ada.write(c, 14 * DAY_MS, post(PostKind::Offer, "Soup", "food"));
        let meet = ada.write(c, 15 * DAY_MS, post(PostKind::Gathering, "Meet", ""));
        all.extend([garden.clone(), lift.clone(), soup.clone(), meet]);
        all.push(cy.write(c, 14 * DAY_MS, Body::Reply { post: lift.hash(), text: "anyone?".into() }));
        all.push(bob.write(c, 16 * DAY_MS, Body::PostStatus { post: garden.hash(), status: Status::Done }));
        // In the period Bob and Ada exchange again, and Bob and Cy for the first time.
        let t1 = bob.write(
            c,
            17 * DAY_MS,
            Body::Transfer { to: ada.id(), minutes: Minutes(60), memo: String::new(), for_post: Some(soup.hash()) },
        );
        let t2 = bob.write(
            c,
            18 * DAY_MS,
            Body::Transfer { to: cy.id(), minutes: Minutes(45), memo: String::new(), for_post: Some(garden.hash()) },
        );
        all.extend([t1, t2]);
        // After the period: not counted.
        all.push(cy.write(
            c,
            50 * DAY_MS,
            Body::Transfer { to: ada.id(), minutes: Minutes(15), memo: String::new(), for_post: None },
        ));

        let period = Period { from_ms: 10 * DAY_MS, to_ms: 40 * DAY_MS };
        let figures = compute(&community, &all, period);
        assert_eq!(figures.entries_held, all.len());
        assert_eq!(figures.exchanges, 2);
        assert_eq!(figures.minutes_exchanged, 105);
        assert_eq!(figures.givers, 1);
        assert_eq!(figures.receivers, 2);
        assert_eq!(figures.hours_by_month, BTreeMap::from([("1970-01".to_string(), 105)]));
        assert_eq!(figures.hours_by_category, BTreeMap::from([("food".to_string(), 60), ("garden".to_string(), 45)]));
        assert_eq!(figures.members.total, 3);
        assert_eq!(figures.members.new, 1, "Cy, admitted on day 11");
        assert_eq!(figures.members.active, 3);
        assert_eq!(figures.members.quiet, 0);
        assert_eq!(figures.members.pending, 1);
        assert_eq!(figures.requests.posted, 2);
        assert_eq!(figures.requests.answered_1d, 1);
        assert_eq!(figures.requests.answered_7d, 1);
        assert_eq!(figures.requests.done, 1);
        assert_eq!(figures.requests.unanswered_7d.iter().map(|p| p.title.as_str()).collect::<Vec<_>>(), ["A lift"]);
        assert_eq!((figures.offers.posted, figures.offers.taken_up), (1, 1));
        assert_eq!(figures.gatherings.posted, 1);
        let bob_cy = if bob.id() < cy.id() { (bob.id(), cy.id()) } else { (cy.id(), bob.id()) };
        assert_eq!(figures.new_connections, vec![bob_cy], "Ada and Bob had exchanged before");
        assert!(figures.never_exchanged.is_empty());
        // A payer's balance falls when they give; a payee's rises when they claim (no claims
        // here): Bob gave 1h45m of a 2h limit, past 80% of it.
        assert_eq!(figures.near_limit, vec![(bob.id(), -105)]);
        assert!(figures.well_ahead.is_empty());
        assert!(figures.forks.is_empty());

        // A period with nothing in it: quiet everyone, no new connection.
        let later = compute(&community, &all, Period { from_ms: 100 * DAY_MS, to_ms: 200 * DAY_MS });
        assert_eq!((later.members.active, later.members.quiet, later.exchanges), (0, 3, 0));
        assert!(later.new_connections.is_empty());
        assert!(later.requests.unanswered_7d.is_empty(), "posts of another period are not named");
    }
}
