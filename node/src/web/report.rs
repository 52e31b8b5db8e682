//! The organisers' "How we're doing" page (`/report`): the report of [`crate::read::report`]
//! in plain words and tables, for a chosen period, laid out to print on A4 for a meeting, a
//! funder or the council.

use std::fmt::Write as _;

use axum::Extension;
use axum::extract::{Query, State};
use axum::response::Response;
use serde::Deserialize;

use kith_protocol::minutes::format_signed_minutes;
use kith_protocol::report::DAY_MS;

use super::html::{self, Nav, esc};
use super::{Session, WebState, frame, page};
use crate::clock::now_ms;
use crate::read::report::{self as figures, ReportOut};
// Dates in this node's time zone (the computer's, or `TZ`), as the report's months are.
use crate::when::short_date as date;

#[derive(Debug, Default, Deserialize)]
pub struct PeriodChoice {
    #[serde(default)]
    period: String,
}

/// The periods the page offers: (value, label, days back; 0 for everything).
const PERIODS: [(&str, &str, u64); 4] = [
    ("30d", "The last 30 days", 30),
    ("90d", "The last 3 months", 91),
    ("12m", "The last 12 months", 365),
    ("all", "Since the community began", 0),
];

fn hours(minutes: u64) -> String {
    format_signed_minutes(i64::try_from(minutes).unwrap_or(i64::MAX))
}

fn plural(n: usize, one: &str, many: &str) -> String {
    if n == 1 { format!("1 {one}") } else { format!("{n} {many}") }
}

/// `GET /report?period=30d|90d|12m|all`.
pub async fn show(
    State(state): State<WebState>,
    Extension(session): Extension<Session>,
    Query(choice): Query<PeriodChoice>,
) -> Response {
    let frame = frame(&state, &session).await;
    let now = now_ms();
    let chosen = PERIODS.iter().find(|(value, ..)| *value == choice.period).unwrap_or(&PERIODS[0]);
    let from = if chosen.2 == 0 { 0 } else { now.saturating_sub(chosen.2 * DAY_MS) };
    let query = figures::ReportQuery { from: Some(from), to: Some(now), format: None };
    let built = match figures::period(&query, now) {
        Ok(period) => state
            .node
            .read_blocking(move |replica| figures::build(replica, period, now))
            .await
            .map_err(|e| e.to_string())
            .and_then(|r| r.map_err(|e| e.to_string())),
        Err(error) => Err(error.to_string()),
    };
    let mut main = String::new();
    let options: Vec<(String, String)> = PERIODS.iter().map(|(v, l, _)| (v.to_string(), l.to_string())).collect();
    let _ = write!(
        main,
        "<h1>How we're doing</h1>\
<p class=\"no-print\"><a href=\"/announce\">Post a notice to everyone</a></p>\
<form method=\"get\" action=\"/report\" class=\"report-period\">{}<button type=\"submit\">Show</button></form>",
        html::select("period", "Which period", None, &options, chosen.0, &html::Problems::default())
    );
    match built {
        Ok(report) => render(&mut main, &report, chosen.1, now),
        Err(error) => {
            let _ = write!(main, "<p>The figures could not be made: {}</p>", esc(&error));
        }
    }
    page(&frame, "How we're doing", Nav::Report, &main)
}

fn render(main: &mut String, r: &ReportOut, label: &str, now: u64) {
    let span = if r.from_ms == 0 {
        format!("up to {}", date(r.to_ms))
    } else {
        format!("{} to {}", date(r.from_ms), date(r.to_ms))
    };
    let _ = write!(
        main,
        "<p class=\"lead\">{label} in {community}: {span}.</p>\
<p class=\"source\">Every figure here is counted {source}, printed on {today}. \
Use your browser's Print to put it on paper.</p>",
        community = esc(&r.community_name),
        source = esc(&r.source),
        today = date(now),
    );
    // Connections first: the point of it all.
    let _ = write!(
        main,
        "<section aria-labelledby=\"r-connections\"><h2 id=\"r-connections\">Neighbours who met</h2>\
<p class=\"big-figure\">{}</p>",
        esc(&plural(
            r.new_connections.len(),
            "pair of neighbours helped each other for the first time",
            "pairs of neighbours helped each other for the first time"
        ))
    );
    if !r.new_connections.is_empty() {
        main.push_str("<ul class=\"report-list\">");
        for [a, b] in &r.new_connections {
            let _ = write!(main, "<li>{} and {}</li>", esc(&a.name), esc(&b.name));
        }
        main.push_str("</ul>");
    }
    if r.never_exchanged.is_empty() {
        main.push_str("<p>Every member has helped or been helped by someone.</p>");
    } else {
        let names: Vec<String> = r.never_exchanged.iter().map(|p| esc(&p.name)).collect();
        let _ = write!(
            main,
            "<p>Not yet helped or been helped by anyone (perhaps invite them to something): {}.</p>",
            names.join(", ")
        );
    }
    main.push_str("</section>");

    // Hours.
    let _ = write!(
        main,
        "<section aria-labelledby=\"r-hours\"><h2 id=\"r-hours\">Hours given</h2>\
<p class=\"big-figure\">{} in {}</p><p>{} gave time credit; {} received it.</p>",
        hours(r.minutes_exchanged),
        esc(&plural(r.exchanges, "exchange", "exchanges")),
        esc(&plural(r.givers, "member", "members")),
        esc(&plural(r.receivers, "member", "members")),
    );
    table(
        main,
        "Hours by month",
        ("Month", "Hours"),
        r.hours_by_month.iter().map(|m| (m.month.clone(), hours(m.minutes))).collect(),
    );
    table(
        main,
        "Hours by kind of help",
        ("Kind of help", "Hours"),
        r.hours_by_category.iter().map(|c| (html::capitalise(&c.category), hours(c.minutes))).collect(),
    );
    main.push_str("</section>");

    // Members.
    let m = &r.members;
    let _ = write!(
        main,
        "<section aria-labelledby=\"r-members\"><h2 id=\"r-members\">Members</h2>\
<dl class=\"facts-list\"><dt>Members now</dt><dd>{}</dd><dt>New in this period</dt><dd>{}</dd>\
<dt>Took part in this period</dt><dd>{}</dd><dt>Quiet for 30 days</dt><dd>{}</dd>\
<dt>Waiting for vouches</dt><dd>{}</dd><dt>Suspended</dt><dd>{}</dd></dl>",
        m.total, m.new, m.active, m.quiet, m.pending, m.suspended
    );
    for (list, words) in [
        (&r.balances_near_limit, "Close to the most they may owe (they may need to be asked for help)"),
        (&r.balances_well_ahead, "Given far more than received (they may like to be helped in turn)"),
    ] {
        if !list.is_empty() {
            let names: Vec<String> = list
                .iter()
                .map(|b| format!("{} ({})", esc(&b.name), format_signed_minutes(b.balance_minutes)))
                .collect();
            let _ = write!(main, "<p>{words}: {}.</p>", names.join(", "));
        }
    }
    main.push_str("</section>");

    // Requests and offers.
    let q = &r.requests;
    let _ = write!(
        main,
        "<section aria-labelledby=\"r-requests\"><h2 id=\"r-requests\">Asking and offering</h2>\
<dl class=\"facts-list\"><dt>Requests for help</dt><dd>{}</dd><dt>Answered within a day</dt><dd>{}</dd>\
<dt>Answered within a week</dt><dd>{}</dd><dt>Marked done</dt><dd>{}</dd>\
<dt>Offers of help</dt><dd>{}</dd><dt>Offers taken up</dt><dd>{}</dd><dt>Gatherings</dt><dd>{}</dd></dl>",
        q.posted, q.answered_1d, q.answered_7d, q.done, r.offers.posted, r.offers.taken_up, r.gatherings.posted
    );
    if q.unanswered_7d.is_empty() {
        main.push_str("<p>No request has waited more than a week without an answer.</p>");
    } else {
        main.push_str("<h3>Still waiting for an answer after a week</h3><ul class=\"report-list\">");
        for p in &q.unanswered_7d {
            let _ = write!(
                main,
                "<li><a href=\"/posts/{}\">{}</a>, asked by {} on {}</li>",
                esc(&p.id),
                esc(&p.title),
                esc(&p.author_name),
                date(p.created_at_ms)
            );
        }
        main.push_str("</ul>");
    }
    main.push_str("</section>");

    if !r.forks.is_empty() {
        main.push_str(
            "<section aria-labelledby=\"r-forks\"><h2 id=\"r-forks\">Accounts stopped</h2><ul class=\"report-list\">",
        );
        for f in &r.forks {
            let _ = write!(main, "<li>{}</li>", esc(&f.text));
        }
        main.push_str("</ul></section>");
    }
}

fn table(main: &mut String, caption: &str, heads: (&str, &str), rows: Vec<(String, String)>) {
    if rows.is_empty() {
        return;
    }
    let _ = write!(
        main,
        "<div class=\"table-wrap\"><table class=\"statement report-table\"><caption>{}</caption><thead><tr>\
<th scope=\"col\">{}</th><th scope=\"col\" class=\"num\">{}</th></tr></thead><tbody>",
        esc(caption),
        esc(heads.0),
        esc(heads.1)
    );
    for (label, value) in rows {
        let _ = write!(
            main,
            "<tr><th scope=\"row\">{}</th><td class=\"num\" data-label=\"{}\">{}</td></tr>",
            esc(&label),
            esc(heads.1),
            esc(&value)
        );
    }
    main.push_str("</tbody></table></div>");
}
