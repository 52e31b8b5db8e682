//! The API's JSON documents, in and out. The `kith` command reads the same types, and its
//! `--json` output is these documents as the API sent them: the keys are the contract of
//! CLI.md (ids are lowercase hex, amounts whole minutes, times RFC 3339 plus `*_ms` extras).

use serde::{Deserialize, Serialize};

/// `{ "error": "…" }`: every refusal, with a message for a person.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: String,
}

/// `GET /api/status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    pub member_id: String,
    pub name: String,
    pub peer_id: String,
    pub community_id: Option<String>,
    pub community_name: Option<String>,
    /// Multiaddrs with `/p2p/`.
    pub listen_addrs: Vec<String>,
    pub connected_peers: usize,
    /// Entries held (applied and kept as evidence).
    pub entries: usize,
    pub members: usize,
    pub pending_members: usize,
    pub balance_minutes: i64,
    /// `member`, `pending`, `suspended` or `hub`.
    pub role: String,
    /// Why an organiser suspended this member (with `role: "suspended"`), or null.
    #[serde(default)]
    pub suspended_reason: Option<String>,
    pub organiser: bool,
    /// Set after a key restore until the node has fetched its own log.
    pub read_only: bool,
    /// Why the node is read-only, in words (null when it may write).
    #[serde(default)]
    pub read_only_reason: Option<String>,
    /// A newcomer's node: why its invite was refused (used up, expired, withdrawn…), null
    /// unless refused and not welcomed by a member since.
    #[serde(default)]
    pub invite_refused: Option<String>,
    pub credit_limit_minutes: Option<u32>,
    pub vouches_needed: Option<u8>,
    /// Entries kept aside, waiting for something.
    pub waiting_entries: usize,
    /// `hub` only: whether an organiser's `kith appoint ID --hub` has made this node a hub of
    /// the community (until then only peers that accept its invite let it in).
    pub hub_appointed: bool,
    /// AutoNAT's verdict: `public` (dialled back by a hub), `private` (behind a router) or
    /// `unknown`.
    pub reachability: String,
    /// Peer ids of the hubs holding a relay slot for this node.
    pub relays: Vec<String>,
    /// The catch-up under way (`{"held": N, "expected": M}`), or null when level with peers.
    pub catch_up: Option<crate::progress::CatchUp>,
}

/// `GET /api/peers`: one connected peer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Peer {
    pub peer_id: String,
    pub addrs: Vec<String>,
    pub member_id: Option<String>,
    pub name: Option<String>,
    pub relayed: bool,
}

/// A post's fields, shared by the board (`replies` a count) and `show` (`replies` a list).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PostFields {
    pub id: String,
    /// `offer`, `request` or `gathering`.
    pub kind: String,
    pub title: String,
    pub details: String,
    pub category: String,
    pub when: String,
    pub place: String,
    pub author: String,
    pub author_name: String,
    /// Written for a helped member by this helper (id and name), or null.
    #[serde(default)]
    pub helped_by: Option<String>,
    #[serde(default)]
    pub helped_by_name: Option<String>,
    /// `open`, `done`, `withdrawn` or `expired`.
    pub status: String,
    pub created_at: String,
    pub created_at_ms: u64,
    pub expires_at: String,
    pub expires_at_ms: u64,
    /// A gathering's (next) start, RFC 3339; null for offers, requests and free-text gatherings.
    #[serde(default)]
    pub starts_at: Option<String>,
    #[serde(default)]
    pub starts_at_ms: Option<u64>,
    /// The start in words in the node's time zone: "Thursday 4 December, 2:00 pm".
    #[serde(default)]
    pub starts_in_words: Option<String>,
    #[serde(default)]
    pub ends_at: Option<String>,
    #[serde(default)]
    pub ends_at_ms: Option<u64>,
    /// `weekly`, `fortnightly`, `monthly` or null.
    #[serde(default)]
    pub repeat: Option<String>,
    /// The last date it repeats on, `YYYY-MM-DD`.
    #[serde(default)]
    pub until: Option<String>,
    #[serde(default)]
    pub capacity: Option<u32>,
    /// The date `coming` counts for (`YYYY-MM-DD`): the next one of a repeating gathering.
    #[serde(default)]
    pub next_date: Option<String>,
    /// Who is coming (to the next date), by name.
    #[serde(default)]
    pub coming: Vec<Coming>,
    /// As many are coming as it has room for.
    #[serde(default)]
    pub full: bool,
    /// A repeating gathering's coming dates (at most [`DATES_SHOWN`]), each with who is coming.
    #[serde(default)]
    pub dates: Vec<DateComing>,
}

/// How many coming dates of a repeating gathering are shown, each with who is coming.
pub const DATES_SHOWN: usize = 6;

/// One date of a repeating gathering and who is coming on it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DateComing {
    /// `YYYY-MM-DD`.
    pub date: String,
    /// "Thursday 10 January 2030".
    pub in_words: String,
    pub coming: Vec<Coming>,
    /// As many are coming on that date as the gathering has room for.
    pub full: bool,
}

/// One member coming to a gathering.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Coming {
    pub member_id: String,
    pub name: String,
    /// A helped member's helper now (id and name), or null.
    #[serde(default)]
    pub helped_by: Option<String>,
    #[serde(default)]
    pub helped_by_name: Option<String>,
}

/// `POST /api/posts/{post}/come`: "I'll come" (`coming`) or "can't come after all", to every
/// date or to one (`date`, `YYYY-MM-DD`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewCome {
    #[serde(default)]
    pub date: Option<String>,
    pub coming: bool,
}

/// `POST /api/checkins`: be checked on after `days` quiet days by `buddies` (names or ids),
/// or (`days` null) not any more.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewCheckIns {
    pub days: Option<u16>,
    #[serde(default)]
    pub buddies: Vec<String>,
}

/// `GET /api/calendar`: the secret address of this member's calendar feed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CalendarFeed {
    pub url: String,
}

/// A gathering's structured time in a new post (`POST /api/posts`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewSchedule {
    pub starts_at_ms: u64,
    #[serde(default)]
    pub ends_at_ms: Option<u64>,
    /// `weekly`, `fortnightly` or `monthly`.
    #[serde(default)]
    pub repeat: Option<String>,
    /// The last date, `YYYY-MM-DD`.
    #[serde(default)]
    pub until: Option<String>,
    #[serde(default)]
    pub capacity: Option<u32>,
}

/// `GET /api/inbox`: one thing for this node's member.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InboxItem {
    /// Stable: the entry it is about, or the kind and what it is about.
    pub id: String,
    /// `reply`, `coming`, `hours`, `vouch_needed`, `gathering_soon`, `expiring`, `match`,
    /// `checkin_alert`, `announcement`.
    pub kind: String,
    pub post: Option<String>,
    pub member_id: Option<String>,
    pub name: Option<String>,
    pub text: String,
    pub at: String,
    pub at_ms: u64,
    pub read: bool,
    /// For a match: why ("because you offer: shopping").
    #[serde(default)]
    pub reason: Option<String>,
}

/// `POST /api/inbox/read`: marks items read on this node (`all`: every item there is now).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewRead {
    #[serde(default)]
    pub ids: Vec<String>,
    #[serde(default)]
    pub all: bool,
}

/// `GET /api/posts`: one line of the board.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PostSummary {
    #[serde(flatten)]
    pub post: PostFields,
    pub replies: u32,
}

/// `GET /api/posts/{post}`: a post and its replies, oldest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PostDetail {
    #[serde(flatten)]
    pub post: PostFields,
    pub replies: Vec<ReplyOut>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplyOut {
    pub id: String,
    pub author: String,
    pub author_name: String,
    /// The author's helper now, if they are a helped member (id and name), or null.
    #[serde(default)]
    pub helped_by: Option<String>,
    #[serde(default)]
    pub helped_by_name: Option<String>,
    pub text: String,
    pub created_at: String,
    pub created_at_ms: u64,
}

/// `GET /api/balance`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Balance {
    pub member_id: String,
    pub name: String,
    pub balance_minutes: i64,
    pub given_minutes: i64,
    pub received_minutes: i64,
    pub credit_limit_minutes: u32,
    /// Paid to this member but not claimed yet (their node claims by itself).
    pub unclaimed_minutes: i64,
    /// A helped member: who holds their key and records for them now (id and name), or null.
    #[serde(default)]
    pub helped_by: Option<String>,
    #[serde(default)]
    pub helped_by_name: Option<String>,
}

/// `GET /api/statement`: one transfer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransferOut {
    pub id: String,
    pub from: String,
    pub from_name: String,
    pub to: String,
    pub to_name: String,
    pub minutes: u32,
    pub memo: String,
    pub for_post: Option<String>,
    pub created_at: String,
    pub created_at_ms: u64,
    pub claimed: bool,
    /// Paid from a helped member's account by this helper (id and name), or null.
    #[serde(default)]
    pub helped_by: Option<String>,
    #[serde(default)]
    pub helped_by_name: Option<String>,
}

/// `GET /api/members`: one person this node knows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberOut {
    pub member_id: String,
    pub name: String,
    pub area: String,
    /// `member`, `pending` or `suspended`.
    pub status: String,
    pub vouched_by: Vec<String>,
    pub balance_minutes: i64,
    pub organiser: bool,
    pub hub: bool,
    pub founder: bool,
    /// A helped member: who holds their key and records for them now (id and name), or null.
    #[serde(default)]
    pub helped_by: Option<String>,
    #[serde(default)]
    pub helped_by_name: Option<String>,
}

/// What a publishing call answers: the new entry's id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Created {
    pub id: String,
}

/// `POST /api/invites`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewInvite {
    /// Multiaddrs (with `/p2p/`) of hubs to put in the invite besides this node's addresses.
    #[serde(default)]
    pub hubs: Vec<String>,
    /// Minutes from now until it expires; default `api::DEFAULT_INVITE_MINUTES`.
    pub expires_in_minutes: Option<u32>,
    pub uses: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InviteOut {
    pub invite: String,
    /// The invite's id (what `kith invite revoke` names).
    pub id: String,
    pub community_id: String,
    pub addrs: Vec<String>,
    pub expires_at: String,
    pub expires_at_ms: u64,
    pub uses: Option<u32>,
    /// Whether the invite carries a signed capability (always, since format 2).
    pub signed: bool,
}

/// `POST /api/login-links`: a one-time link that signs a browser in to the web page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoginLink {
    /// `http://127.0.0.1:PORT/login?code=…`: works once, until `expires_at`.
    pub url: String,
    pub expires_at: String,
    pub expires_at_ms: u64,
}

/// `POST /api/pairings` (`kith pair`): a one-time code for a device on the home network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PairingOut {
    /// Eight letters and digits to type on the device, good once until `expires_at`.
    pub code: String,
    /// `http://192.168.1.20:7475/pair`: where the device types it.
    pub page: String,
    /// The page with the code in it: what the QR code holds.
    pub url: String,
    pub expires_at: String,
    pub expires_at_ms: u64,
}

/// `POST /api/posts`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewPost {
    /// `offer`, `request` or `gathering`.
    pub kind: String,
    pub title: String,
    #[serde(default)]
    pub details: String,
    #[serde(default)]
    pub category: String,
    #[serde(default)]
    pub when: String,
    #[serde(default)]
    pub place: String,
    /// Ms since the epoch; absent: the community's default lifetime.
    pub expires_at_ms: Option<u64>,
    /// A gathering's start, end, repetition and capacity.
    #[serde(default)]
    pub schedule: Option<NewSchedule>,
}

/// `POST /api/posts/{post}/replies`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewReply {
    pub text: String,
}

/// `POST /api/posts/{post}/status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewStatus {
    /// `open`, `done` or `withdrawn`.
    pub status: String,
}

/// `POST /api/transfers`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewTransfer {
    /// A member: full id, unique id prefix or unambiguous name.
    pub to: String,
    pub minutes: u32,
    #[serde(default)]
    pub memo: String,
    /// A post: full id or unique prefix.
    pub for_post: Option<String>,
}

/// `POST /api/vouches`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewVouch {
    pub member: String,
    #[serde(default)]
    pub note: String,
}

/// `POST /api/invites/revoke`: withdraws an invite, named by its id (hex) or its whole line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevokeInvite {
    pub invite: String,
}

/// `POST /api/suspensions`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewSuspension {
    pub member: String,
    pub reason: String,
}

/// `POST /api/reinstatements`: ends every suspension of the member in force.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewReinstatement {
    pub member: String,
}

/// `POST /api/dismissals`: removes an organiser's role (the founder only).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewDismissal {
    pub member: String,
}

/// `POST /api/appointments`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewAppointment {
    pub member: String,
    /// `organiser` or `hub`.
    pub role: String,
}

/// `POST /api/profile`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewProfile {
    /// Each field absent (null) keeps what the member's current profile says; a name is
    /// needed only for a first profile.
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub about: Option<String>,
    #[serde(default)]
    pub area: Option<String>,
    #[serde(default)]
    pub skills: Option<Vec<String>>,
    #[serde(default)]
    pub contact: Option<String>,
}

/// `GET /api/export?format=json`: everything this node knows of its community.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Export {
    pub community_id: String,
    pub community_name: String,
    pub description: String,
    pub founder: String,
    pub credit_limit_minutes: u32,
    pub vouches_needed: u8,
    pub post_lifetime_days: u16,
    pub exported_at: String,
    pub members: Vec<MemberOut>,
    pub posts: Vec<PostDetail>,
    pub transfers: Vec<TransferOut>,
}

/// Ms since the epoch as RFC 3339 in UTC, to the second: `2026-11-27T18:55:45Z`.
pub fn rfc3339(ms: u64) -> String {
    let secs = ms / 1000;
    let (days, rest) = (secs / 86_400, secs % 86_400);
    let (year, month, day) = civil_from_days(days as i64);
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z", rest / 3600, rest % 3600 / 60, rest % 60)
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_rfc3339() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400_000), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_795_805_745_123), "2026-11-27T18:55:45Z");
    }

    #[test]
    fn board_and_show_differ_only_in_replies() {
        let fields = PostFields {
            id: "ab".into(),
            kind: "offer".into(),
            title: "Lifts".into(),
            details: String::new(),
            category: String::new(),
            when: String::new(),
            place: String::new(),
            author: "cd".into(),
            author_name: "Alice".into(),
            status: "open".into(),
            created_at: rfc3339(0),
            created_at_ms: 0,
            expires_at: rfc3339(0),
            expires_at_ms: 0,
            ..PostFields::default()
        };
        let summary = serde_json::to_value(PostSummary { post: fields.clone(), replies: 2 }).unwrap_or_default();
        assert_eq!(summary["replies"], 2);
        assert_eq!(summary["title"], "Lifts");
        let detail = PostDetail { post: fields, replies: Vec::new() };
        let text = serde_json::to_string(&detail).unwrap_or_default();
        let back: PostDetail = serde_json::from_str(&text).unwrap_or_else(|_| detail.clone());
        assert_eq!(back, detail);
    }
}
