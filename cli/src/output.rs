//! Everything `kith` prints on stdout: one [`Answer`] per command, as text for people (plain
//! tables, relative times, durations like `1h30m`) or, with `--json`, as exactly one JSON
//! document whose keys are CLI.md's.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Result;
use serde::Serialize;

use kith_node::api::announce::AnnouncementOut;
use kith_node::api::report::ReportOut;
use kith_node::api::wire::{
    Balance, Created, InviteOut, LoginLink, MemberOut, PairingOut, Peer, PostDetail, PostSummary, Status, TransferOut,
};
use kith_node::clock::now_ms;
use kith_protocol::minutes::format_signed_minutes;

/// Appends one formatted line to the output buffer.
macro_rules! say {
    ($out:expr) => {
        $out.push('\n')
    };
    ($out:expr, $($arg:tt)*) => {{
        $out.push_str(&format!($($arg)*));
        $out.push('\n');
    }};
}

/// What a command has to show.
#[derive(Debug)]
pub enum Answer {
    Status(Box<Status>),
    /// `kith open`: the web page's one-time sign-in link.
    LoginLink(LoginLink),
    /// `kith pair`: a one-time pairing code for a device on the home network.
    Pairing(PairingOut),
    Invite {
        invite: InviteOut,
        qr: bool,
    },
    Peers(Vec<Peer>),
    /// A new entry's id, printed alone so scripts can take it.
    Id(Created),
    /// A change whose id is shown only with `--json`.
    Quiet(Created),
    Board(Vec<PostSummary>),
    Post(Box<PostDetail>),
    Balance(Balance),
    Statement(Vec<TransferOut>),
    Members(Vec<MemberOut>),
    /// The organisers' current notices.
    Announcements(Vec<AnnouncementOut>),
    /// The organisers' report.
    Report(Box<ReportOut>),
    /// Printed as is (an export, a calendar).
    Text(String),
    /// What needs this member.
    Inbox(Vec<kith_node::api::wire::InboxItem>),
    /// The address of the calendar feed.
    Feed(kith_node::api::wire::CalendarFeed),
    Written(PathBuf),
    Local(Local),
}

/// What the commands that work on the home folder report.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum Local {
    Key { member_id: String, name: Option<String> },
    Community { community_id: String, community_name: String, member_id: String },
    Joined { member_id: String, community_id: String, name: Option<String>, addrs: Vec<String> },
    Words { member_id: String, words: Vec<String> },
    Restored { member_id: String, home: String },
    Repaired { entries: usize },
}

/// Prints an answer on stdout. A closed stdout (`kith board | head`) is not an error.
pub fn print(answer: &Answer, json: bool) -> Result<()> {
    let text = render(answer, json)?;
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(text.as_bytes()).and_then(|()| stdout.flush()) {
        Err(error) if error.kind() != std::io::ErrorKind::BrokenPipe => Err(error.into()),
        _ => Ok(()),
    }
}

/// The text of an answer.
pub fn render(answer: &Answer, json: bool) -> Result<String> {
    let mut out = String::new();
    if json {
        let text = match answer {
            Answer::Status(v) => to_json(v)?,
            Answer::LoginLink(v) => to_json(v)?,
            Answer::Pairing(v) => to_json(v)?,
            Answer::Invite { invite, .. } => to_json(invite)?,
            Answer::Peers(v) => to_json(v)?,
            Answer::Id(v) | Answer::Quiet(v) => to_json(v)?,
            Answer::Board(v) => to_json(v)?,
            Answer::Post(v) => to_json(v)?,
            Answer::Balance(v) => to_json(v)?,
            Answer::Statement(v) => to_json(v)?,
            Answer::Members(v) => to_json(v)?,
            Answer::Report(v) => to_json(v)?,
            Answer::Announcements(v) => to_json(v)?,
            Answer::Text(text) => text.trim_end().to_string(),
            Answer::Feed(v) => to_json(v)?,
            Answer::Inbox(v) => to_json(v)?,
            Answer::Written(path) => to_json(&serde_json::json!({ "written": path }))?,
            Answer::Local(v) => to_json(v)?,
        };
        say!(out, "{text}");
        return Ok(out);
    }
    let now = now_ms();
    let out_ref = &mut out;
    match answer {
        Answer::Status(status) => print_status(out_ref, status),
        Answer::LoginLink(link) => {
            say!(out_ref, "{}", link.url);
            say!(out_ref, "Open this link in your web browser to see your community's page.");
            say!(out_ref, "It works once, within 10 minutes; `kith open` makes a new one.");
        }
        Answer::Pairing(pairing) => {
            say!(out_ref, "Pairing code: {}", pairing.code);
            say!(out_ref, "On the tablet or phone, scan this QR code, or open {} and type the code:", pairing.page);
            say!(out_ref, "{}", qr_code(&pairing.url));
            say!(out_ref, "{}", pairing.url);
            say!(out_ref, "It works once, within 10 minutes; `kith pair` makes a new one.");
        }
        Answer::Invite { invite, qr } => {
            say!(out_ref, "{}", invite.invite);
            if *qr {
                say!(out_ref, "{}", qr_code(&invite.invite));
            }
        }
        Answer::Peers(peers) => print_peers(out_ref, peers),
        Answer::Id(created) => say!(out_ref, "{}", created.id),
        Answer::Quiet(_) => {}
        Answer::Board(posts) => print_board(out_ref, posts, now),
        Answer::Post(post) => print_post(out_ref, post, now),
        Answer::Balance(balance) => print_balance(out_ref, balance),
        Answer::Statement(transfers) => print_statement(out_ref, transfers, now),
        Answer::Members(members) => print_members(out_ref, members),
        Answer::Report(report) => print_report(out_ref, report),
        Answer::Announcements(notices) => {
            if notices.is_empty() {
                say!(out_ref, "No notices from the organisers.");
            }
            for n in notices {
                say!(out_ref, "{}  (from {}, until {})", n.title, n.author_name, n.until);
                if !n.text.is_empty() {
                    say!(out_ref, "  {}", n.text.replace('\n', "\n  "));
                }
            }
        }
        Answer::Text(text) => out_ref.push_str(text),
        Answer::Inbox(items) => {
            if items.is_empty() {
                say!(out_ref, "Nothing new for you.");
            }
            for item in items {
                let new = if item.read { " " } else { "*" };
                say!(out_ref, "{new} {} ({})  [{}]", item.text, relative(item.at_ms, now), item.id);
            }
        }
        Answer::Feed(feed) => {
            say!(out_ref, "{}", feed.url);
            say!(
                out_ref,
                "Add this address to a calendar app on this computer: it lists the gatherings you are coming to."
            );
            say!(out_ref, "Keep it to yourself: anyone with it can read that list.");
        }
        Answer::Written(path) => say!(out_ref, "wrote {}", path.display()),
        Answer::Local(local) => print_local(out_ref, local),
    }
    Ok(out)
}

fn to_json<T: Serialize + ?Sized>(value: &T) -> Result<String> {
    Ok(serde_json::to_string_pretty(value)?)
}

/// A duration or balance as people read it: `1h30m`, `-2h`, `0h`.
pub fn hours(minutes: i64) -> String {
    format_signed_minutes(minutes)
}

/// How long ago (or how far ahead) a moment is: `just now`, `3 min ago`, `2 h ago`,
/// `yesterday`, `5 days ago`, `in 10 min`; past a month, the date.
pub fn relative(ms: u64, now_ms: u64) -> String {
    let (ahead, delta_s) = if ms > now_ms { (true, (ms - now_ms) / 1000) } else { (false, (now_ms - ms) / 1000) };
    let amount = match delta_s {
        0..60 => return "just now".to_string(),
        60..3600 => format!("{} min", delta_s / 60),
        3600..86_400 => format!("{} h", delta_s / 3600),
        86_400..172_800 => return if ahead { "tomorrow".into() } else { "yesterday".into() },
        172_800..2_592_000 => format!("{} days", delta_s / 86_400),
        _ => return kith_node::api::wire::rfc3339(ms).chars().take(10).collect(),
    };
    if ahead { format!("in {amount}") } else { format!("{amount} ago") }
}

/// Text cut to `max` characters, with `…` when cut.
fn cut(text: &str, max: usize) -> String {
    let one_line = text.replace(['\n', '\r', '\t'], " ");
    if one_line.chars().count() <= max {
        return one_line;
    }
    let mut out: String = one_line.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

fn short(id: &str) -> String {
    id.chars().take(8).collect()
}

/// Prints rows as columns separated by two spaces, the first row a header.
fn table(out: &mut String, rows: &[Vec<String>]) {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|c| rows.iter().filter_map(|r| r.get(c)).map(|s| s.chars().count()).max().unwrap_or(0))
        .collect();
    for row in rows {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i + 1 == row.len() {
                line.push_str(cell);
            } else {
                line.push_str(cell);
                line.push_str(&" ".repeat(widths[i] - cell.chars().count() + 2));
            }
        }
        say!(out, "{}", line.trim_end());
    }
}

fn header(cells: &[&str]) -> Vec<String> {
    cells.iter().map(|c| c.to_string()).collect()
}

fn print_status(out: &mut String, s: &Status) {
    let mut rows = vec![vec!["member".to_string(), format!("{} ({})", s.name, s.member_id)]];
    match (&s.community_name, &s.community_id) {
        (Some(name), Some(id)) => rows.push(vec!["community".into(), format!("{name} ({id})")]),
        (None, Some(id)) => match &s.invite_refused {
            Some(reason) => rows.push(vec!["community".into(), format!("{id} (invite refused: {reason})")]),
            None => rows.push(vec!["community".into(), format!("{id} (not reached yet)")]),
        },
        _ => rows.push(vec!["community".into(), "none yet".into()]),
    }
    let mut role = s.role.clone();
    if s.organiser {
        role.push_str(", organiser");
    }
    if s.read_only {
        role.push_str(" (read-only until its own log is fetched from peers)");
    }
    if let Some(reason) = &s.suspended_reason {
        role.push_str(&format!(" by the organisers: {reason} (you cannot post, reply, pay, vouch or moderate)"));
    }
    rows.push(vec!["role".into(), role]);
    if let Some(reason) = &s.read_only_reason {
        rows.push(vec!["read-only".into(), reason.clone()]);
    }
    if let (Some(reason), Some(_)) = (&s.invite_refused, &s.community_name) {
        rows.push(vec!["invite refused".into(), reason.clone()]);
    }
    let limit = s.credit_limit_minutes.map(|l| format!(" (credit limit {})", hours(i64::from(l)))).unwrap_or_default();
    rows.push(vec!["balance".into(), format!("{}{limit}", hours(s.balance_minutes))]);
    rows.push(vec!["members".into(), format!("{} ({} waiting for vouches)", s.members, s.pending_members)]);
    rows.push(vec!["peers".into(), format!("{} connected", s.connected_peers)]);
    rows.push(vec!["entries".into(), format!("{} held, {} waiting", s.entries, s.waiting_entries)]);
    if let Some(catch_up) = s.catch_up {
        rows.push(vec![
            "catching up".into(),
            format!(
                "{} of about {} entries ({}%)",
                crate::progress::grouped(catch_up.held),
                crate::progress::grouped(catch_up.expected),
                catch_up.percent()
            ),
        ]);
    }
    rows.push(vec!["peer id".into(), s.peer_id.clone()]);
    for (i, addr) in s.listen_addrs.iter().enumerate() {
        rows.push(vec![if i == 0 { "listening".into() } else { String::new() }, addr.clone()]);
    }
    table(out, &rows);
}

fn print_peers(out: &mut String, peers: &[Peer]) {
    if peers.is_empty() {
        say!(out, "No peers connected.");
        return;
    }
    let mut rows = vec![header(&["NAME", "MEMBER", "RELAYED", "ADDRESS", "PEER"])];
    for p in peers {
        rows.push(vec![
            p.name.clone().unwrap_or_else(|| "-".into()),
            p.member_id.as_deref().map_or_else(|| "-".into(), short),
            if p.relayed { "yes".into() } else { "no".into() },
            p.addrs.first().cloned().unwrap_or_default(),
            p.peer_id.clone(),
        ]);
    }
    table(out, &rows);
}

fn print_board(out: &mut String, posts: &[PostSummary], now: u64) {
    if posts.is_empty() {
        say!(out, "No posts here yet.");
        return;
    }
    let mut rows = vec![header(&["ID", "KIND", "TITLE", "BY", "POSTED", "REPLIES", "STATUS"])];
    for p in posts {
        let f = &p.post;
        let mut title = f.title.clone();
        if let Some(starts) = &f.starts_in_words {
            title.push_str(&format!(" ({starts})"));
        }
        if !f.when.is_empty() {
            title.push_str(&format!(" ({})", f.when));
        }
        if !f.category.is_empty() {
            title.push_str(&format!(" [{}]", f.category));
        }
        rows.push(vec![
            short(&f.id),
            f.kind.clone(),
            cut(&title, 60),
            helped(&cut(&f.author_name, 20), f.helped_by_name.as_deref()),
            relative(f.created_at_ms, now),
            p.replies.to_string(),
            f.status.clone(),
        ]);
    }
    table(out, &rows);
}

fn print_post(out: &mut String, p: &PostDetail, now: u64) {
    let f = &p.post;
    let mut kind = f.kind.clone();
    if let Some(first) = kind.get_mut(..1) {
        first.make_ascii_uppercase();
    }
    say!(out, "{kind}: {}  [{}]", f.title, f.status);
    let by = helped(&f.author_name, f.helped_by_name.as_deref());
    say!(out, "by {by} ({}), {}", short(&f.author), relative(f.created_at_ms, now));
    for (label, value) in [("category", &f.category), ("when", &f.when), ("place", &f.place)] {
        if !value.is_empty() {
            say!(out, "{label}: {value}");
        }
    }
    if let Some(starts) = &f.starts_in_words {
        let mut when = starts.clone();
        if let (Some(repeat), Some(until)) = (&f.repeat, &f.until) {
            when.push_str(&format!(", {repeat} until {until}"));
        } else if let Some(repeat) = &f.repeat {
            when.push_str(&format!(", {repeat}"));
        }
        say!(out, "starts: {when}");
        let names: Vec<String> = f.coming.iter().map(coming_name).collect();
        let room =
            f.capacity.map(|c| format!(" of {c} places{}", if f.full { ", full" } else { "" })).unwrap_or_default();
        let on = f.next_date.as_deref().map(|d| format!(" on {d}")).unwrap_or_default();
        if names.is_empty() {
            say!(out, "coming{on}: nobody yet{room}");
        } else {
            say!(out, "coming{on}: {} ({}{room})", names.join(", "), names.len());
        }
        for date in f.dates.iter().skip(1) {
            let names: Vec<String> = date.coming.iter().map(coming_name).collect();
            let full = if date.full { ", full" } else { "" };
            if names.is_empty() {
                say!(out, "  then on {}: nobody yet", date.date);
            } else {
                say!(out, "  then on {}: {} ({}{full})", date.date, names.join(", "), names.len());
            }
        }
    }
    say!(out, "id: {}", f.id);
    if !f.details.is_empty() {
        say!(out);
        say!(out, "{}", f.details);
    }
    say!(out);
    if p.replies.is_empty() {
        say!(out, "No replies yet.");
    }
    for r in &p.replies {
        let by = helped(&r.author_name, r.helped_by_name.as_deref());
        say!(out, "{by} ({}): {}", relative(r.created_at_ms, now), r.text);
    }
}

/// A name as the plain text shows it: "Mrs Patel (helped by Ada)" for a helped member's
/// account, the name alone otherwise.
fn helped(name: &str, helped_by_name: Option<&str>) -> String {
    match helped_by_name {
        Some(helper) => format!("{name} (helped by {helper})"),
        None => name.to_string(),
    }
}

fn coming_name(coming: &kith_node::api::wire::Coming) -> String {
    helped(&coming.name, coming.helped_by_name.as_deref())
}

fn print_balance(out: &mut String, b: &Balance) {
    let mut rows = vec![
        vec![
            "member".to_string(),
            format!("{} ({})", helped(&b.name, b.helped_by_name.as_deref()), short(&b.member_id)),
        ],
        vec!["balance".into(), hours(b.balance_minutes)],
        vec!["given".into(), hours(b.given_minutes)],
        vec!["received".into(), hours(b.received_minutes)],
        vec![
            "credit limit".into(),
            format!("{} (the balance may go down to -{0})", hours(i64::from(b.credit_limit_minutes))),
        ],
    ];
    if b.unclaimed_minutes > 0 {
        rows.push(vec!["on its way".into(), format!("{} (paid, not claimed yet)", hours(b.unclaimed_minutes))]);
    }
    table(out, &rows);
}

fn print_statement(out: &mut String, transfers: &[TransferOut], now: u64) {
    if transfers.is_empty() {
        say!(out, "No transfers yet.");
        return;
    }
    let mut rows = vec![header(&["WHEN", "FROM", "TO", "AMOUNT", "FOR", "MEMO", "CLAIMED"])];
    for t in transfers {
        rows.push(vec![
            relative(t.created_at_ms, now),
            helped(&cut(&t.from_name, 20), t.helped_by_name.as_deref()),
            cut(&t.to_name, 20),
            hours(i64::from(t.minutes)),
            t.for_post.as_deref().map_or_else(|| "-".into(), short),
            cut(&t.memo, 30),
            if t.claimed { "yes".into() } else { "not yet".into() },
        ]);
    }
    table(out, &rows);
}

fn print_members(out: &mut String, members: &[MemberOut]) {
    if members.is_empty() {
        say!(out, "Nobody here.");
        return;
    }
    let name_of = |id: &str| members.iter().find(|m| m.member_id == id).map_or_else(|| short(id), |m| cut(&m.name, 20));
    let mut rows = vec![header(&["NAME", "ID", "STATUS", "AREA", "BALANCE", "VOUCHED BY"])];
    for m in members {
        let mut status = m.status.clone();
        if m.founder {
            status.push_str(", founder");
        } else if m.organiser {
            status.push_str(", organiser");
        }
        if m.hub && m.status != "hub" {
            status.push_str(", hub");
        }
        let vouchers: Vec<String> = m.vouched_by.iter().map(|id| name_of(id)).collect();
        rows.push(vec![
            helped(&cut(&m.name, 30), m.helped_by_name.as_deref()),
            short(&m.member_id),
            status,
            cut(&m.area, 20),
            hours(m.balance_minutes),
            if vouchers.is_empty() { "-".into() } else { vouchers.join(", ") },
        ]);
    }
    table(out, &rows);
}

fn print_local(out: &mut String, local: &Local) {
    match local {
        Local::Key { member_id, .. } => say!(out, "{member_id}"),
        Local::Community { community_id, .. } => say!(out, "{community_id}"),
        Local::Joined { community_id, name: Some(name), .. } => {
            say!(out, "This home will join community {} as {name}.", short(community_id));
            say!(out, "Next: start the node with `kith run`. It asks to join; a member admits you with `kith vouch`.");
        }
        Local::Joined { community_id, name: None, .. } => {
            say!(out, "This home will go back to community {} with its restored key.", short(community_id));
            say!(out, "Next: start the node with `kith run`. It fetches your log from peers before you can write.");
        }
        Local::Words { words, .. } => {
            for (row, chunk) in words.chunks(6).enumerate() {
                let cells: Vec<String> =
                    chunk.iter().enumerate().map(|(i, w)| format!("{:>2}. {w:<9}", row * 6 + i + 1)).collect();
                say!(out, "{}", cells.join(" ").trim_end());
            }
        }
        Local::Restored { member_id, .. } => {
            say!(out, "{member_id}");
        }
        Local::Repaired { .. } => {}
    }
}

/// The text as a QR code drawn with block characters.
fn qr_code(text: &str) -> String {
    match qrcode::QrCode::new(text.as_bytes()) {
        Ok(code) => code
            .render::<qrcode::render::unicode::Dense1x2>()
            .dark_color(qrcode::render::unicode::Dense1x2::Light)
            .light_color(qrcode::render::unicode::Dense1x2::Dark)
            .build(),
        Err(error) => format!("(no QR code: {error})"),
    }
}

/// The organisers' report as plain lines, sections first, names last.
fn print_report(out: &mut String, r: &ReportOut) {
    let hours = |minutes: u64| format_signed_minutes(i64::try_from(minutes).unwrap_or(i64::MAX));
    say!(out, "How {} is doing, {} to {}", r.community_name, r.from, r.to);
    say!(out, "({})", r.source);
    say!(out);
    say!(
        out,
        "Exchanges:  {} ({} given by {} people to {})",
        r.exchanges,
        hours(r.minutes_exchanged),
        r.givers,
        r.receivers
    );
    for m in &r.hours_by_month {
        say!(out, "  {}  {}", m.month, hours(m.minutes));
    }
    for c in &r.hours_by_category {
        say!(out, "  {:<20} {}", c.category, hours(c.minutes));
    }
    let m = &r.members;
    say!(
        out,
        "Members:    {} ({} new, {} active, {} quiet for 30 days, {} waiting for vouches, {} suspended)",
        m.total,
        m.new,
        m.active,
        m.quiet,
        m.pending,
        m.suspended
    );
    let q = &r.requests;
    say!(
        out,
        "Requests:   {} posted, {} answered within a day, {} within a week, {} done",
        q.posted,
        q.answered_1d,
        q.answered_7d,
        q.done
    );
    say!(out, "Offers:     {} posted, {} taken up", r.offers.posted, r.offers.taken_up);
    say!(out, "Gatherings: {} posted", r.gatherings.posted);
    say!(out, "New connections (helped each other for the first time): {}", r.new_connections.len());
    for [a, b] in &r.new_connections {
        say!(out, "  {} and {}", a.name, b.name);
    }
    if !q.unanswered_7d.is_empty() {
        say!(out, "Still unanswered after a week:");
        for p in &q.unanswered_7d {
            say!(out, "  {}  {} ({}, {})", &p.id[..8.min(p.id.len())], p.title, p.author_name, p.created_at);
        }
    }
    if !r.never_exchanged.is_empty() {
        let names: Vec<&str> = r.never_exchanged.iter().map(|p| p.name.as_str()).collect();
        say!(out, "Not yet exchanged with anyone: {}", names.join(", "));
    }
    for b in &r.balances_near_limit {
        say!(out, "Near the credit limit: {} ({})", b.name, format_signed_minutes(b.balance_minutes));
    }
    for b in &r.balances_well_ahead {
        say!(out, "Well ahead: {} ({})", b.name, format_signed_minutes(b.balance_minutes));
    }
    for f in &r.forks {
        say!(out, "{}", f.text);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_read_relative() {
        let now = 1_000_000_000_000;
        assert_eq!(relative(now - 5_000, now), "just now");
        assert_eq!(relative(now - 3 * 60_000, now), "3 min ago");
        assert_eq!(relative(now - 2 * 3_600_000, now), "2 h ago");
        assert_eq!(relative(now - 30 * 3_600_000, now), "yesterday");
        assert_eq!(relative(now - 5 * 86_400_000, now), "5 days ago");
        assert_eq!(relative(now + 10 * 60_000, now), "in 10 min");
        assert_eq!(relative(0, now), "1970-01-01");
    }

    #[test]
    fn durations_and_cuts() {
        assert_eq!(hours(90), "1h30m");
        assert_eq!(hours(-60), "-1h");
        assert_eq!(cut("abcdef", 4), "abc…");
        assert_eq!(cut("a\nb", 4), "a b");
    }
}
