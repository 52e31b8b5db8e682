//! Time-bank hours on the page: thanking someone with hours (a transfer, with the duration read
//! the way people write it and refusals such as the credit limit explained beside the field),
//! and "my hours": the balance and a statement that prints cleanly.

use std::fmt::Write as _;

use axum::Extension;
use axum::extract::{Form, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use kith_protocol::body::limits::{self, MAX_TRANSFER_MINUTES};
use kith_protocol::minutes::{DurationError, format_signed_minutes};
use kith_protocol::{Body, EntryError, EntryHash, MemberId, Minutes};

use super::html::{self, Field, Nav, Problems, csrf_input, esc};
use super::{Session, WebState, date, frame, page, page_again, plain_refusal};
use crate::clock::now_ms;
use crate::read::wire::TransferOut;
use crate::replica::PublishError;

/// Reads a duration the way people type it: `1h30m`, `90m`, `1.5h`, and also `2` (hours),
/// `1 hour 30 minutes`, `45 mins`.
pub fn read_duration(text: &str) -> Result<Minutes, DurationError> {
    let mut compact = text.trim().to_ascii_lowercase();
    for (long, short) in [
        ("hours", "h"),
        ("hour", "h"),
        ("hrs", "h"),
        ("hr", "h"),
        ("minutes", "m"),
        ("minute", "m"),
        ("mins", "m"),
        ("min", "m"),
    ] {
        compact = compact.replace(long, short);
    }
    compact.retain(|c| !c.is_whitespace() && c != ',');
    if let Some(rest) = compact.strip_suffix("and") {
        compact = rest.to_string();
    }
    let compact = compact.replace("and", "");
    let bare_number = !compact.is_empty() && compact.bytes().all(|b| b.is_ascii_digit() || b == b'.');
    let normal = if bare_number { format!("{compact}h") } else { compact };
    match normal.parse::<Minutes>() {
        Err(DurationError::Malformed(_)) => Err(DurationError::Malformed(text.trim().to_string())),
        Err(DurationError::TooLong(_)) => Err(DurationError::TooLong(text.trim().to_string())),
        Err(DurationError::NotWholeMinutes(_)) => Err(DurationError::NotWholeMinutes(text.trim().to_string())),
        other => other,
    }
}

/// What went wrong with a duration, in plain words.
fn duration_problem(error: &DurationError) -> String {
    match error {
        DurationError::Empty => "Please say how much time, for example 1h or 30m.".to_string(),
        DurationError::Malformed(text) => {
            format!("Kith could not read “{text}” as an amount of time. Write it like 1h, 30m, 1h30m or 1.5h.")
        }
        DurationError::Zero => "The time must be more than nothing.".to_string(),
        DurationError::TooLong(_) => "That is more than Kith takes at once: at most 100 hours.".to_string(),
        DurationError::NotWholeMinutes(_) => "Please use whole minutes, for example 1h20m.".to_string(),
    }
}

/// People who can be thanked: members other than me, by name.
fn people(state: &WebState) -> (Vec<(String, String)>, MemberId) {
    let replica = state.node.replica();
    let me = replica.me();
    let mut out: Vec<(String, String)> = replica
        .community()
        .map(|c| {
            c.members()
                .filter(|(id, m)| **id != me && m.admitted && !m.hub && m.suspended.is_none())
                .map(|(id, m)| (id.to_string(), m.name()))
                .collect()
        })
        .unwrap_or_default();
    out.sort_by_key(|(_, name)| name.to_lowercase());
    (out, me)
}

/// My balance, what I have given and received, and the community's limit.
struct MyBalance {
    balance: i64,
    given: i64,
    received: i64,
    limit: u32,
}

fn my_balance(state: &WebState) -> MyBalance {
    let replica = state.node.replica();
    let me = replica.me();
    let community = replica.community();
    let member = community.and_then(|c| c.member(&me));
    MyBalance {
        balance: member.map_or(0, |m| m.balance_minutes),
        given: member.map_or(0, |m| m.given_minutes),
        received: member.map_or(0, |m| m.received_minutes),
        limit: community.map_or(0, |c| c.rules().credit_limit.0),
    }
}

fn hours(minutes: i64) -> String {
    format_signed_minutes(minutes)
}

// --- thanking someone ---

#[derive(Debug, Default, Deserialize)]
pub struct ThankForm {
    #[serde(default)]
    to: String,
    #[serde(default)]
    hours: String,
    #[serde(default)]
    memo: String,
    #[serde(default)]
    post: String,
}

fn thank_page(state: &WebState, form: &ThankForm, problems: &Problems, csrf: &str) -> String {
    let (people, _) = people(state);
    let balance = my_balance(state);
    let mut options = vec![(String::new(), "Choose a neighbour".to_string())];
    options.extend(people.iter().cloned());
    let post_title = form
        .post
        .parse::<EntryHash>()
        .ok()
        .and_then(|hash| {
            let replica = state.node.replica();
            replica.store().post(replica.community()?, &hash).ok().flatten()
        })
        .map(|view| view.title);
    let can_give = balance.balance + i64::from(balance.limit);
    let mut main = String::new();
    let _ = write!(
        main,
        "<h1>Thank someone with hours</h1>\
<p>When a neighbour has helped you, give them the time it took: an hour of help is an hour of thanks.</p>\
<p>Your balance is <strong>{}</strong>. You can give up to <strong>{}</strong> now.</p>{}",
        hours(balance.balance),
        hours(can_give.max(0)),
        problems.summary()
    );
    if people.is_empty() {
        main.push_str("<p class=\"notice\">There is nobody to thank yet: no other members are known here.</p>");
    }
    let _ = write!(main, "<form method=\"post\" action=\"/thank\" novalidate>{}", csrf_input(csrf));
    main.push_str(&html::select("to", "Who do you want to thank?", None, &options, &form.to, problems));
    main.push_str(
        &Field::line("hours", "How much time?", &form.hours, 20)
            .hint("For example: 1h, 30m, 1h30m, or 2 for two hours")
            .autocomplete("off")
            .render(problems),
    );
    main.push_str(
        &Field::line("memo", "What was it for?", &form.memo, limits::MEMO)
            .hint("For example: Tuesday's lift to the surgery")
            .optional()
            .render(problems),
    );
    if let Some(title) = post_title {
        let _ = write!(
            main,
            "<input type=\"hidden\" name=\"post\" value=\"{}\"><p class=\"meta\">For the post: {}</p>",
            esc(&form.post),
            esc(&title)
        );
    }
    main.push_str("<button type=\"submit\">Send my thanks</button></form><p><a href=\"/hours\">See my hours</a></p>");
    main
}

/// `GET /thank?to=…&post=…`.
pub async fn thank_form(
    State(state): State<WebState>,
    Extension(session): Extension<Session>,
    Query(query): Query<ThankForm>,
) -> Response {
    let form = query;
    let frame = frame(&state, &session).await;
    let main = thank_page(&state, &form, &Problems::default(), &session.csrf);
    page(&frame, "Thank someone with hours", Nav::Hours, &main)
}

/// `POST /thank`: sends the hours, or shows the form again saying what is wrong.
pub async fn thank(
    State(state): State<WebState>,
    Extension(session): Extension<Session>,
    Form(form): Form<ThankForm>,
) -> Response {
    let mut problems = Problems::default();
    let (people, me) = people(&state);
    let to = form.to.parse::<MemberId>().ok();
    let to_name = people.iter().find(|(id, _)| *id == form.to).map(|(_, name)| name.clone());
    if to.is_none() || to_name.is_none() {
        problems.add("to", "Please choose who to thank.");
    }
    let minutes = match read_duration(&form.hours) {
        Ok(minutes) if minutes.0 > MAX_TRANSFER_MINUTES => {
            problems.add("hours", "That is more than Kith takes at once: at most 100 hours.");
            None
        }
        Ok(minutes) => Some(minutes),
        Err(error) => {
            problems.add("hours", duration_problem(&error));
            None
        }
    };
    let for_post = form.post.parse::<EntryHash>().ok();
    if let (Some(to), Some(minutes), true) = (to, minutes, problems.is_empty()) {
        let body = Body::Transfer { to, minutes, memo: form.memo.trim().to_string(), for_post };
        let checked = body.check_fields();
        match checked {
            Err(error) => match super::field_problem(&error) {
                Some((field, message)) => problems.add(field, message),
                None => problems.add("", error.to_string()),
            },
            Ok(()) => match state.node.publish(body).await {
                Ok(entry) => return Redirect::to(&format!("/hours?sent={}", entry.hash())).into_response(),
                Err(PublishError::Rule(EntryError::OverCreditLimit { would_be, limit, .. })) => {
                    let can_give = my_balance(&state).balance + i64::from(limit.0);
                    problems.add(
                        "hours",
                        format!(
                            "That is more than you can give just now: it would take your balance to {}, and this \
                             community lets balances go down to {} at most. You can give up to {}.",
                            hours(would_be),
                            hours(-i64::from(limit.0)),
                            hours(can_give.max(0))
                        ),
                    );
                }
                Err(PublishError::Rule(EntryError::SelfTransfer)) => {
                    problems.add("to", "You cannot thank yourself with hours.");
                }
                Err(error) => problems.add("", plain_refusal(&state, error)),
            },
        }
    }
    let _ = me;
    let frame = frame(&state, &session).await;
    let main = thank_page(&state, &form, &problems, &session.csrf);
    page_again(&frame, "Thank someone with hours", Nav::Hours, &main)
}

// --- my hours ---

#[derive(Debug, Default, Deserialize)]
pub struct HoursQuery {
    #[serde(default)]
    sent: Option<String>,
}

fn statement(state: &WebState) -> Vec<TransferOut> {
    let replica = state.node.replica();
    let me = replica.me();
    let Some(community) = replica.community() else { return Vec::new() };
    let mut out = Vec::new();
    for view in replica.store().transfers_of(community, &me).unwrap_or_default() {
        if let Ok(Some(transfer)) = crate::read::transfer_out(&replica, community, &view.id) {
            out.push(transfer);
        }
    }
    out.sort_by_key(|t| std::cmp::Reverse(t.created_at_ms));
    out
}

/// `GET /hours`: my balance and statement.
pub async fn mine(
    State(state): State<WebState>,
    Extension(session): Extension<Session>,
    Query(query): Query<HoursQuery>,
) -> Response {
    let frame = frame(&state, &session).await;
    let me = state.node.replica().me().to_string();
    let balance = my_balance(&state);
    let transfers = statement(&state);
    let mut main = String::new();
    if let Some(sent) = &query.sent
        && let Some(transfer) = transfers.iter().find(|t| t.id == *sent)
    {
        let _ = write!(
            main,
            "<div class=\"flash\" role=\"status\"><p>You thanked {} with {}. Thank you for looking after each other!</p></div>",
            esc(&transfer.to_name),
            hours(i64::from(transfer.minutes))
        );
    }
    let explain = match balance.balance {
        0 => "You have been thanked with as many hours as you have given.".to_string(),
        b if b > 0 => {
            "Neighbours have thanked you with more hours than you have given. Thank you for helping!".to_string()
        }
        _ => "You have thanked others with more hours than you have been thanked with. That is fine: that is \
              what neighbours are for."
            .to_string(),
    };
    let _ = write!(
        main,
        "<h1>My hours</h1><p class=\"print-only\">{name}, printed on {today}</p>\
<div id=\"balance\" data-live=\"Your hours have changed.\">\
<p class=\"balance\">Your balance: <strong>{balance}</strong></p><p>{explain}</p>\
<dl class=\"facts-list\"><dt>Hours neighbours thanked you with</dt><dd>{received}</dd>\
<dt>Hours you thanked others with</dt><dd>{given}</dd>\
<dt>Lowest balance allowed</dt><dd>{limit}</dd></dl>",
        name = esc(&frame.my_name),
        today = date(now_ms()),
        balance = hours(balance.balance),
        received = hours(balance.received),
        given = hours(balance.given),
        limit = hours(-i64::from(balance.limit)),
    );
    main.push_str("<h2>Statement</h2>");
    if transfers.is_empty() {
        main.push_str("<p class=\"empty\">No hours given or received yet.</p>");
    } else {
        main.push_str(
            "<div class=\"table-wrap\"><table class=\"statement\"><caption class=\"visually-hidden\">Every time you \
             thanked someone or were thanked, newest first</caption><thead><tr><th scope=\"col\">Date</th>\
             <th scope=\"col\">Who</th><th scope=\"col\">What for</th><th scope=\"col\" class=\"num\">Time</th></tr></thead><tbody>",
        );
        for transfer in &transfers {
            let incoming = transfer.to == me;
            let who = if incoming {
                format!(
                    "From {}{}",
                    esc(&transfer.from_name),
                    super::helped::helped_by(transfer.helped_by_name.as_deref())
                )
            } else {
                format!("To {}", esc(&transfer.to_name))
            };
            let amount = i64::from(transfer.minutes);
            let signed = if incoming { format!("+{}", hours(amount)) } else { format!("−{}", hours(amount)) };
            let waiting = if transfer.claimed { "" } else { " <span class=\"meta\">(on its way)</span>" };
            let _ = write!(
                main,
                "<tr><td data-label=\"Date\">{}</td><td data-label=\"Who\">{who}</td><td data-label=\"What for\">{}</td>\
<td data-label=\"Time\" class=\"num\">{signed}{waiting}</td></tr>",
                date(transfer.created_at_ms),
                esc(&transfer.memo),
            );
        }
        main.push_str("</tbody></table></div>");
    }
    main.push_str("</div>");
    main.push_str(
        "<ul class=\"actions no-print\"><li><a class=\"button\" href=\"/thank\">Thank someone with hours</a></li>\
<li><button type=\"button\" class=\"button-secondary\" data-print hidden>Print this page</button></li></ul>\
<p class=\"no-print js-hide\">To print this page, use your browser's Print command (Ctrl and P together).</p>",
    );
    page(&frame, "My hours", Nav::Hours, &main)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_durations_as_people_type_them() {
        assert_eq!(read_duration("1h30m"), Ok(Minutes(90)));
        assert_eq!(read_duration("90m"), Ok(Minutes(90)));
        assert_eq!(read_duration("1.5h"), Ok(Minutes(90)));
        assert_eq!(read_duration("2"), Ok(Minutes(120)));
        assert_eq!(read_duration(" 1 hour 30 minutes "), Ok(Minutes(90)));
        assert_eq!(read_duration("1 hour and 15 mins"), Ok(Minutes(75)));
        assert_eq!(read_duration("45 min"), Ok(Minutes(45)));
        assert_eq!(read_duration("90x"), Err(DurationError::Malformed("90x".into())));
        assert_eq!(read_duration(""), Err(DurationError::Empty));
        assert_eq!(read_duration("0"), Err(DurationError::Zero));
    }
}
