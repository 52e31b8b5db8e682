//! The organisers' report over a generated history, stored by a real node store: every figure
//! is computed a second time here, straight from the history's entries with plain loops (no
//! reducer, no tally), and the two must agree.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use anyhow::{Context, ensure};
use kith_node::api::report::{ReportOut, build};
use kith_node::replica::Replica;
use kith_node::store::Store;
use kith_node::when::month_of;
use kith_protocol::report::{DAY_MS, Period};
use kith_protocol::{Body, Entry, EntryHash, MemberId, PostKind};

const HOUR_MS: u64 = 3_600_000;

/// What the report should say, counted independently.
#[derive(Debug, Default, PartialEq)]
struct Expected {
    entries: usize,
    exchanges: usize,
    minutes: u64,
    givers: usize,
    receivers: usize,
    by_month: BTreeMap<String, u64>,
    by_category: BTreeMap<String, u64>,
    active: usize,
    quiet: usize,
    new: usize,
    requests: usize,
    answered_1d: usize,
    answered_7d: usize,
    unanswered: Vec<String>,
    offers: usize,
    taken_up: usize,
    gatherings: usize,
    connections: BTreeSet<(String, String)>,
    never: BTreeSet<String>,
    near_limit: Vec<(String, i64)>,
}

fn expected(genesis: &Entry, entries: &[Entry], period: Period, limit_minutes: i64, members: &[MemberId]) -> Expected {
    let inside = |at: u64| at >= period.from_ms && at < period.to_ms;
    let all: Vec<&Entry> = std::iter::once(genesis).chain(entries).collect();
    let mut out = Expected { entries: all.len(), ..Expected::default() };
    let posts: HashMap<EntryHash, &Entry> =
        all.iter().filter(|e| matches!(e.body(), Body::Post { .. })).map(|e| (e.hash(), *e)).collect();
    let mut givers = BTreeSet::new();
    let mut receivers = BTreeSet::new();
    let mut pairs_before: BTreeSet<(MemberId, MemberId)> = BTreeSet::new();
    let mut pairs_in: BTreeSet<(MemberId, MemberId)> = BTreeSet::new();
    let mut traded: BTreeSet<MemberId> = BTreeSet::new();
    let mut paid_for: BTreeSet<EntryHash> = BTreeSet::new();
    let mut balance: HashMap<MemberId, i64> = HashMap::new();
    let mut transfers: HashMap<EntryHash, (MemberId, i64)> = HashMap::new();
    for e in &all {
        match e.body() {
            Body::Transfer { to, minutes, for_post, .. } => {
                *balance.entry(e.author()).or_default() -= i64::from(minutes.0);
                transfers.insert(e.hash(), (*to, i64::from(minutes.0)));
                if e.timestamp_ms() >= period.to_ms {
                    continue;
                }
                let pair = (e.author().min(*to), e.author().max(*to));
                if e.timestamp_ms() < period.from_ms {
                    pairs_before.insert(pair);
                } else {
                    pairs_in.insert(pair);
                }
                traded.extend([e.author(), *to]);
                paid_for.extend(*for_post);
                if inside(e.timestamp_ms()) {
                    out.exchanges += 1;
                    out.minutes += u64::from(minutes.0);
                    givers.insert(e.author());
                    receivers.insert(*to);
                    // The node reports months in its own time zone.
                    *out.by_month.entry(month_of(e.timestamp_ms())).or_default() += u64::from(minutes.0);
                    let category = match for_post.and_then(|p| posts.get(&p)).map(|p| p.body()) {
                        Some(Body::Post { category, .. }) if !category.is_empty() => category.to_lowercase(),
                        _ => "uncategorised".to_string(),
                    };
                    *out.by_category.entry(category).or_default() += u64::from(minutes.0);
                }
            }
            Body::Receive { transfer } => {
                let (to, minutes) = transfers[transfer];
                assert_eq!(to, e.author());
                *balance.entry(to).or_default() += minutes;
            }
            _ => {}
        }
    }
    out.givers = givers.len();
    out.receivers = receivers.len();
    let name = |id: &MemberId| id.to_string();
    out.connections =
        pairs_in.difference(&pairs_before).map(|(a, b)| unordered(name(a), name(b))).collect::<BTreeSet<_>>();
    out.never = members.iter().filter(|m| !traded.contains(m)).map(name).collect();
    for member in members {
        let mine: Vec<u64> = all.iter().filter(|e| e.author() == *member).map(|e| e.timestamp_ms()).collect();
        if mine.iter().any(|at| inside(*at)) {
            out.active += 1;
        }
        if !mine.iter().any(|at| *at < period.to_ms && *at >= period.to_ms - 30 * DAY_MS) {
            out.quiet += 1;
        }
        let b = balance.get(member).copied().unwrap_or(0);
        if b <= -(limit_minutes * 8 / 10) && b < 0 {
            out.near_limit.push((name(member), b));
        }
    }
    out.near_limit.sort_by_key(|(id, b)| (*b, id.clone()));
    // Admissions: the founder's vouches, each dated.
    for e in &all {
        if let Body::Vouch { .. } = e.body()
            && inside(e.timestamp_ms())
        {
            out.new += 1;
        }
    }
    if inside(genesis.timestamp_ms()) {
        out.new += 1;
    }
    for (hash, post) in &posts {
        let Body::Post { kind, title, .. } = post.body() else { continue };
        if !inside(post.timestamp_ms()) {
            continue;
        }
        match kind {
            PostKind::Request => {
                out.requests += 1;
                let answer = all
                    .iter()
                    .filter(|e| matches!(e.body(), Body::Reply { post: p, .. } if p == hash))
                    .filter(|e| e.author() != post.author())
                    .map(|e| e.timestamp_ms())
                    .min();
                let wait = answer.map(|at| at - post.timestamp_ms());
                if wait.is_some_and(|w| w <= DAY_MS) {
                    out.answered_1d += 1;
                }
                if wait.is_some_and(|w| w <= 7 * DAY_MS) {
                    out.answered_7d += 1;
                }
                let expires = post.timestamp_ms() + 30 * DAY_MS;
                if answer.is_none_or(|at| at >= period.to_ms)
                    && period.to_ms - post.timestamp_ms() >= 7 * DAY_MS
                    && expires > period.to_ms
                {
                    out.unanswered.push(format!("{}:{title}", hash));
                }
            }
            PostKind::Offer => {
                out.offers += 1;
                if paid_for.contains(hash) {
                    out.taken_up += 1;
                }
            }
            PostKind::Gathering => out.gatherings += 1,
        }
    }
    out.unanswered.sort();
    out
}

fn reported(report: &ReportOut) -> Expected {
    let mut unanswered: Vec<String> =
        report.requests.unanswered_7d.iter().map(|p| format!("{}:{}", p.id, p.title)).collect();
    unanswered.sort();
    Expected {
        entries: report.entries_held,
        exchanges: report.exchanges,
        minutes: report.minutes_exchanged,
        givers: report.givers,
        receivers: report.receivers,
        by_month: report.hours_by_month.iter().map(|m| (m.month.clone(), m.minutes)).collect(),
        by_category: report.hours_by_category.iter().map(|c| (c.category.clone(), c.minutes)).collect(),
        active: report.members.active,
        quiet: report.members.quiet,
        new: report.members.new,
        requests: report.requests.posted,
        answered_1d: report.requests.answered_1d,
        answered_7d: report.requests.answered_7d,
        unanswered,
        offers: report.offers.posted,
        taken_up: report.offers.taken_up,
        gatherings: report.gatherings.posted,
        connections: report
            .new_connections
            .iter()
            .map(|[a, b]| unordered(a.member_id.clone(), b.member_id.clone()))
            .collect(),
        never: report.never_exchanged.iter().map(|p| p.member_id.clone()).collect(),
        near_limit: report.balances_near_limit.iter().map(|b| (b.member_id.clone(), b.balance_minutes)).collect(),
    }
}

#[test]
fn the_report_over_a_generated_history_matches_an_independent_count() -> anyhow::Result<()> {
    const MEMBERS: usize = 40;
    // About 125 days of community life, an entry an hour.
    let history = kith_tests::history::generate_every(3_000, MEMBERS, 7, HOUR_MS)?;
    let home = tempfile::Builder::new().prefix("kith-report-").tempdir()?;
    let store = Store::open(&home.path().join("db"), kith_node::store::DEFAULT_CACHE_BYTES)?;
    let now = u64::MAX / 2;
    let mut replica = Replica::open(store, history.founder.clone(), Some(history.genesis.community()), now)?;
    replica.adopt_genesis(&history.genesis)?;
    for page in history.entries.chunks(512) {
        replica.receive_page(page.to_vec(), now);
    }
    let community = replica.community().context("the community")?;
    ensure!(community.entry_count() == history.entries.len() + 1, "every entry applied");
    let members: Vec<MemberId> = community.members().filter(|(_, m)| m.admitted).map(|(id, _)| *id).collect();
    ensure!(members.len() == MEMBERS);
    let limit = i64::from(community.rules().credit_limit.0);

    let stamps: Vec<u64> = history.entries.iter().map(Entry::timestamp_ms).collect();
    let periods = [
        // The middle third: posts before it, answers after it, pairs that met before it.
        Period { from_ms: stamps[1000], to_ms: stamps[2000] },
        // Everything: admissions included.
        Period { from_ms: 0, to_ms: stamps[2999] + 1 },
        // A week at the end.
        Period { from_ms: stamps[2999] - 7 * DAY_MS, to_ms: stamps[2999] + 1 },
    ];
    for period in periods {
        let report = build(&replica, period, now).map_err(|e| anyhow::anyhow!("{e}"))?;
        let want = expected(&history.genesis, &history.entries, period, limit, &members);
        let got = reported(&report);
        // Make sure the comparison is not of empty things.
        ensure!(want.exchanges > 0 && want.requests > 0 && want.offers > 0, "an empty period: {want:?}");
        assert_eq!(got, want, "period {period:?}");
    }
    // The middle third has the cases that matter: named unanswered requests, new and old pairs.
    let middle = expected(&history.genesis, &history.entries, periods[0], limit, &members);
    ensure!(!middle.unanswered.is_empty(), "some requests go unanswered");
    ensure!(middle.answered_1d > 0 && middle.answered_7d > middle.answered_1d, "{middle:?}");
    ensure!(!middle.connections.is_empty(), "new pairs meet");
    ensure!(middle.taken_up > 0 && middle.taken_up < middle.offers, "{middle:?}");
    Ok(())
}

/// A pair of neighbours as one value whichever way round it is named: a connection is between
/// two people, and the report may list them in either order.
fn unordered(a: String, b: String) -> (String, String) {
    if a <= b { (a, b) } else { (b, a) }
}
