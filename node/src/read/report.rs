//! The organisers' report as the API, the CLI and the page show it: `GET /api/report` runs the
//! protocol's pure tally ([`kith_protocol::report`]) over every entry this node holds and
//! names the people and posts in it; also its CSV form and the sentence saying what it is from.

use serde::{Deserialize, Serialize};

use kith_protocol::report::{self, Figures, Period, Tally};
use kith_protocol::{Community, MemberId};

use super::wire::rfc3339;
use super::{ApiError, name_of};
use crate::replica::Replica;

/// How far back a report goes unless asked otherwise: 30 days.
pub const DEFAULT_DAYS: u64 = 30;

/// `GET /api/report?from=&to=` (ms since the epoch; `to` defaults to now, `from` to 30 days
/// before `to`).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ReportQuery {
    pub from: Option<u64>,
    pub to: Option<u64>,
    pub format: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Person {
    pub member_id: String,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MonthHours {
    pub month: String,
    pub minutes: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CategoryHours {
    pub category: String,
    pub minutes: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberCounts {
    pub total: usize,
    pub new: usize,
    pub active: usize,
    pub quiet: usize,
    pub pending: usize,
    pub suspended: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PostLine {
    pub id: String,
    pub title: String,
    pub author: String,
    pub author_name: String,
    pub created_at: String,
    pub created_at_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Requests {
    pub posted: usize,
    pub answered_1d: usize,
    pub answered_7d: usize,
    pub unanswered_7d: Vec<PostLine>,
    pub done: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Offers {
    pub posted: usize,
    pub taken_up: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Gatherings {
    pub posted: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Balance {
    pub member_id: String,
    pub name: String,
    pub balance_minutes: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ForkLine {
    pub member_id: String,
    pub name: String,
    pub frozen_from_seq: u64,
    /// In plain words.
    pub text: String,
}

/// `GET /api/report`: the organisers' report (keys of CLI.md plus what organisers asked for).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportOut {
    pub community_name: String,
    pub from: String,
    pub from_ms: u64,
    pub to: String,
    pub to_ms: u64,
    /// "from 12,345 entries held by this node, last one received 2 minutes ago".
    pub source: String,
    pub entries_held: usize,
    pub newest_entry_at: Option<String>,
    pub last_received_at: Option<String>,
    pub hours_by_month: Vec<MonthHours>,
    pub hours_by_category: Vec<CategoryHours>,
    pub exchanges: usize,
    pub minutes_exchanged: u64,
    pub givers: usize,
    pub receivers: usize,
    pub members: MemberCounts,
    pub requests: Requests,
    pub offers: Offers,
    pub gatherings: Gatherings,
    pub balances_near_limit: Vec<Balance>,
    pub balances_well_ahead: Vec<Balance>,
    pub forks: Vec<ForkLine>,
    pub new_connections: Vec<[Person; 2]>,
    pub never_exchanged: Vec<Person>,
}

/// The period asked for, with its defaults; refuses one that ends before it starts.
pub fn period(query: &ReportQuery, now: u64) -> Result<Period, ApiError> {
    let to_ms = query.to.unwrap_or(now);
    let from_ms = query.from.unwrap_or(to_ms.saturating_sub(DEFAULT_DAYS * report::DAY_MS));
    if from_ms >= to_ms {
        return Err(ApiError::BadRequest(format!(
            "the report's period must end after it starts ({} is not before {})",
            rfc3339(from_ms),
            rfc3339(to_ms)
        )));
    }
    Ok(Period { from_ms, to_ms })
}

/// Tallies every applied entry the store holds. Holds the replica's lock throughout: run it
/// off the async threads.
pub fn build(replica: &Replica, period: Period, now: u64) -> Result<ReportOut, ApiError> {
    let community = replica.community().ok_or_else(|| {
        ApiError::Refused("this node has not reached its community yet, so there is nothing to report".into())
    })?;
    // Months in this node's time zone (the computer's, or `TZ`), as its organisers read them.
    let mut tally = Tally::in_calendar(period, crate::when::month_of);
    for entry in replica.store().applied_entries() {
        tally.add(community, &entry?);
    }
    let figures = tally.finish(community);
    Ok(describe(community, &figures, period, replica.last_received_ms(), now))
}

/// Names the people and posts of the figures.
pub fn describe(
    community: &Community,
    figures: &Figures,
    period: Period,
    last_received_ms: Option<u64>,
    now: u64,
) -> ReportOut {
    let person = |id: &MemberId| Person { member_id: id.to_string(), name: name_of(community, id) };
    let balance = |(id, minutes): &(MemberId, i64)| Balance {
        member_id: id.to_string(),
        name: name_of(community, id),
        balance_minutes: *minutes,
    };
    ReportOut {
        community_name: community.name().to_string(),
        from: rfc3339(period.from_ms),
        from_ms: period.from_ms,
        to: rfc3339(period.to_ms),
        to_ms: period.to_ms,
        source: source(figures.entries_held, last_received_ms, figures.newest_entry_ms, now),
        entries_held: figures.entries_held,
        newest_entry_at: figures.newest_entry_ms.map(rfc3339),
        last_received_at: last_received_ms.map(rfc3339),
        hours_by_month: figures
            .hours_by_month
            .iter()
            .map(|(month, minutes)| MonthHours { month: month.clone(), minutes: *minutes })
            .collect(),
        hours_by_category: {
            let mut list: Vec<CategoryHours> = figures
                .hours_by_category
                .iter()
                .map(|(category, minutes)| CategoryHours { category: category.clone(), minutes: *minutes })
                .collect();
            list.sort_by(|a, b| b.minutes.cmp(&a.minutes).then_with(|| a.category.cmp(&b.category)));
            list
        },
        exchanges: figures.exchanges,
        minutes_exchanged: figures.minutes_exchanged,
        givers: figures.givers,
        receivers: figures.receivers,
        members: MemberCounts {
            total: figures.members.total,
            new: figures.members.new,
            active: figures.members.active,
            quiet: figures.members.quiet,
            pending: figures.members.pending,
            suspended: figures.members.suspended,
        },
        requests: Requests {
            posted: figures.requests.posted,
            answered_1d: figures.requests.answered_1d,
            answered_7d: figures.requests.answered_7d,
            unanswered_7d: figures
                .requests
                .unanswered_7d
                .iter()
                .map(|p| PostLine {
                    id: p.id.to_string(),
                    title: p.title.clone(),
                    author: p.author.to_string(),
                    author_name: name_of(community, &p.author),
                    created_at: rfc3339(p.created_at_ms),
                    created_at_ms: p.created_at_ms,
                })
                .collect(),
            done: figures.requests.done,
        },
        offers: Offers { posted: figures.offers.posted, taken_up: figures.offers.taken_up },
        gatherings: Gatherings { posted: figures.gatherings.posted },
        balances_near_limit: figures.near_limit.iter().map(balance).collect(),
        balances_well_ahead: figures.well_ahead.iter().map(balance).collect(),
        forks: figures
            .forks
            .iter()
            .map(|(id, seq)| {
                let name = name_of(community, id);
                ForkLine {
                    member_id: id.to_string(),
                    name: name.clone(),
                    frozen_from_seq: *seq,
                    text: format!(
                        "{name}'s account wrote two different things at the same place (entry {seq}), perhaps \
                         from an old backup: nothing from there on counts until they start again with a new key."
                    ),
                }
            })
            .collect(),
        new_connections: {
            // Each pair and the list in the order of names, as people look for them.
            let mut pairs: Vec<[Person; 2]> = figures
                .new_connections
                .iter()
                .map(|(a, b)| {
                    let (a, b) = (person(a), person(b));
                    if b.name.to_lowercase() < a.name.to_lowercase() { [b, a] } else { [a, b] }
                })
                .collect();
            pairs.sort_by_key(|[a, b]| (a.name.to_lowercase(), b.name.to_lowercase()));
            pairs
        },
        never_exchanged: {
            let mut list: Vec<Person> = figures.never_exchanged.iter().map(person).collect();
            list.sort_by_key(|p| p.name.to_lowercase());
            list
        },
    }
}

/// "from 12,345 entries held by this node, last one received 2 minutes ago".
pub fn source(entries: usize, last_received_ms: Option<u64>, newest_ms: Option<u64>, now: u64) -> String {
    let count = thousands(entries);
    let noun = if entries == 1 { "entry" } else { "entries" };
    match (last_received_ms, newest_ms) {
        (Some(at), _) => {
            format!("from {count} {noun} held by this node, last one received {}", crate::read::ago(at, now))
        }
        (None, Some(at)) => format!(
            "from {count} {noun} held by this node (none received since it started), the newest written {}",
            crate::read::ago(at, now)
        ),
        (None, None) => format!("from {count} {noun} held by this node"),
    }
}

/// `12345` → `12,345`.
pub fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The report as one CSV file: `section,item,value` rows (minutes as numbers), so a
/// spreadsheet can chart any of it.
pub fn csv(report: &ReportOut) -> String {
    let mut out = String::new();
    let mut row = |section: &str, item: &str, value: &str| {
        let cells: Vec<String> = [section, item, value].iter().map(|c| super::export::csv_cell(c)).collect();
        out.push_str(&cells.join(","));
        out.push_str("\r\n");
    };
    row("section", "item", "value");
    row("period", "from", &report.from);
    row("period", "to", &report.to);
    row("source", "entries_held", &report.entries_held.to_string());
    row("source", "text", &report.source);
    for m in &report.hours_by_month {
        row("minutes_by_month", &m.month, &m.minutes.to_string());
    }
    for c in &report.hours_by_category {
        row("minutes_by_category", &c.category, &c.minutes.to_string());
    }
    row("exchanges", "count", &report.exchanges.to_string());
    row("exchanges", "minutes", &report.minutes_exchanged.to_string());
    row("exchanges", "givers", &report.givers.to_string());
    row("exchanges", "receivers", &report.receivers.to_string());
    let m = &report.members;
    for (item, n) in [
        ("total", m.total),
        ("new", m.new),
        ("active", m.active),
        ("quiet", m.quiet),
        ("pending", m.pending),
        ("suspended", m.suspended),
    ] {
        row("members", item, &n.to_string());
    }
    let r = &report.requests;
    for (item, n) in
        [("posted", r.posted), ("answered_1d", r.answered_1d), ("answered_7d", r.answered_7d), ("done", r.done)]
    {
        row("requests", item, &n.to_string());
    }
    for p in &r.unanswered_7d {
        row("unanswered_7d", &p.title, &format!("{} ({}, {})", p.id, p.author_name, p.created_at));
    }
    row("offers", "posted", &report.offers.posted.to_string());
    row("offers", "taken_up", &report.offers.taken_up.to_string());
    row("gatherings", "posted", &report.gatherings.posted.to_string());
    for b in &report.balances_near_limit {
        row("balance_near_limit", &b.name, &b.balance_minutes.to_string());
    }
    for b in &report.balances_well_ahead {
        row("balance_well_ahead", &b.name, &b.balance_minutes.to_string());
    }
    for f in &report.forks {
        row("fork", &f.name, &f.text);
    }
    for [a, b] in &report.new_connections {
        row("new_connection", &a.name, &b.name);
    }
    for p in &report.never_exchanged {
        row("never_exchanged", &p.name, &p.member_id);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_read_with_separators() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(12_345), "12,345");
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(
            source(12_345, Some(1_000_000), None, 1_000_000 + 120_000),
            "from 12,345 entries held by this node, last one received 2 minutes ago"
        );
    }
}
