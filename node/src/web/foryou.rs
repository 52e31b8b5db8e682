//! "For you": the inbox page (what needs the member, with "still needed" / "done" /
//! "withdraw" on posts about to leave the board, and "mark all as read"), and check-ins
//! (asking to be checked on, in plain words about what is shared with whom, and "I'm fine
//! today").

use std::fmt::Write as _;

use axum::Extension;
use axum::extract::{Form, State};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use kith_protocol::Body;
use kith_protocol::body::limits;

use super::html::{Field, Nav, Problems, csrf_input, esc, url_part};
use super::{Session, WebState, ago, frame, page, page_again, plain_refusal};
use crate::clock::now_ms;

/// Words for each kind of item, as a small heading.
fn kind_words(kind: &str) -> &'static str {
    match kind {
        "reply" => "A reply",
        "coming" => "Coming to your gathering",
        "hours" => "Hours for you",
        "vouch_needed" => "Waiting to join",
        "gathering_soon" => "Coming up",
        "expiring" => "Still needed?",
        "match" => "You might help",
        "checkin_alert" => "Someone has gone quiet",
        "announcement" => "A notice from the organisers",
        _ => "For you",
    }
}

/// `GET /inbox`: everything for this member, newest first, unread ones marked.
pub async fn inbox(State(state): State<WebState>, Extension(session): Extension<Session>) -> Response {
    let frame = frame(&state, &session).await;
    let now = now_ms();
    let items = {
        let replica = state.node.replica();
        crate::inbox::items(&replica, &state.inbox, now).unwrap_or_default()
    };
    let mut main = String::from("<h1>For you</h1>");
    let unread = items.iter().filter(|i| !i.read).count();
    let _ = write!(
        main,
        "<div id=\"inbox\" data-live=\"Something new for you.\"><p>{}</p>",
        match unread {
            0 => "Nothing new. Everything here you have seen before.".to_string(),
            1 => "1 new thing for you.".to_string(),
            n => format!("{n} new things for you."),
        }
    );
    if items.is_empty() {
        main.push_str("<p class=\"empty\">Nothing here yet. Replies to your posts, people coming to your gatherings and hours you are given will show here.</p>");
    } else {
        main.push_str("<ul class=\"cards inbox\">");
        for item in &items {
            let new = if item.read { "" } else { "<strong class=\"tag\">New</strong> " };
            let _ = write!(
                main,
                "<li class=\"card\"><p class=\"meta\">{new}{} · {}</p><p>{}</p>",
                kind_words(&item.kind),
                ago(item.at_ms, now),
                esc(&item.text)
            );
            if let Some(post) = &item.post {
                let post = url_part(post);
                if item.kind == "expiring" {
                    let _ = write!(
                        main,
                        "<div class=\"inline-buttons\">\
<form method=\"post\" action=\"/posts/{post}/renew\">{csrf}<button type=\"submit\">Still needed</button></form>\
<form method=\"post\" action=\"/posts/{post}/status\">{csrf}<button type=\"submit\" name=\"status\" value=\"done\" class=\"button-secondary\">Done</button> \
<button type=\"submit\" name=\"status\" value=\"withdrawn\" class=\"button-secondary\">Withdraw it</button></form></div>",
                        csrf = csrf_input(&session.csrf),
                    );
                } else {
                    let _ = write!(main, "<p><a href=\"/posts/{post}\">See the post</a></p>");
                }
            } else if let Some(member) = &item.member_id {
                let _ = write!(
                    main,
                    "<p><a href=\"/neighbours/{}\">See {}</a></p>",
                    url_part(member),
                    esc(item.name.as_deref().unwrap_or("them"))
                );
            }
            main.push_str("</li>");
        }
        main.push_str("</ul>");
    }
    main.push_str("</div>");
    if unread > 0 {
        let _ = write!(
            main,
            "<form method=\"post\" action=\"/inbox/read\">{}<button type=\"submit\" class=\"button-secondary\">Mark everything as seen</button></form>",
            csrf_input(&session.csrf)
        );
    }
    main.push_str(
        "<p><button type=\"button\" id=\"notify-toggle\" class=\"button-secondary\" hidden>\
Show a notification when something new arrives</button></p>",
    );
    main.push_str("<p><a href=\"/checkins\">Ask to be checked on</a></p>");
    let feed = crate::read::calendar_secret(&state.node.replica()).ok();
    if let Some(secret) = feed {
        let _ = write!(
            main,
            "<h2>Your calendar</h2><p>A calendar app on this computer can follow the gatherings you are coming to \
at this address. Keep it to yourself.</p><p class=\"feed\"><code>{}/calendar/{}.ics</code></p>",
            esc(&state.gate.base_url()),
            esc(&secret)
        );
    }
    page(&frame, "For you", Nav::ForYou, &main)
}

/// `POST /inbox/read`: everything there is now counts as seen, on this computer.
pub async fn mark_read(State(state): State<WebState>) -> Response {
    let replica = state.node.replica();
    let ids: Vec<String> =
        crate::inbox::items(&replica, &state.inbox, now_ms()).unwrap_or_default().into_iter().map(|i| i.id).collect();
    if let Err(error) = crate::inbox::mark_read(&replica, &ids) {
        tracing::warn!(%error, "could not remember the inbox as read");
    }
    Redirect::to("/inbox").into_response()
}

#[derive(Debug, Default, Deserialize)]
pub struct CheckInsForm {
    #[serde(default)]
    days: String,
    #[serde(default)]
    buddy: String,
    #[serde(default)]
    turn: String,
}

/// The member's current wish, buddies by name.
fn current(state: &WebState) -> Option<(u16, Vec<String>)> {
    let replica = state.node.replica();
    let community = replica.community()?;
    let wish = community.member(&replica.me())?.checkins.clone()?;
    Some((wish.days, wish.buddies.iter().map(|b| crate::read::name_of(community, b)).collect()))
}

fn checkins_page(
    state: &WebState,
    form: &CheckInsForm,
    problems: &Problems,
    csrf: &str,
    flash: Option<&str>,
) -> String {
    let mut main = String::new();
    if let Some(flash) = flash {
        let _ = write!(main, "<div class=\"flash\" role=\"status\"><p>{}</p></div>", esc(flash));
    }
    main.push_str("<h1>Ask to be checked on</h1>");
    main.push_str(&problems.summary());
    main.push_str(
        "<p>If you would like someone to notice when you go quiet, Kith can tell them. \
Anything you do in Kith counts as hearing from you: a post, a reply, saying you'll come, \
or the “I'm fine today” button below.</p>\
<h2>What is shared, and with whom</h2><ul>\
<li>Everyone in your community can see that you asked to be checked on, after how many days, and who your buddies are.</li>\
<li>If you are quiet for that many days, your buddies and the organisers see a note in their “For you” page, \
with the contact details on your profile, if you gave any.</li>\
<li>Nothing else is shared, and you can turn it off at any time.</li></ul>",
    );
    match current(state) {
        Some((days, buddies)) => {
            let _ = write!(
                main,
                "<div class=\"notice\"><p>It is on: if you are quiet for {days} days, {} and the organisers are told.</p></div>\
<form method=\"post\" action=\"/checkin\">{csrf}<button type=\"submit\">I'm fine today</button></form>\
<form method=\"post\" action=\"/checkins\">{csrf}<input type=\"hidden\" name=\"turn\" value=\"off\">\
<button type=\"submit\" class=\"button-secondary\">Turn it off</button></form>",
                esc(&buddies.join(", ")),
                csrf = csrf_input(csrf),
            );
        }
        None => {
            let _ = write!(
                main,
                "<form method=\"post\" action=\"/checkins\" novalidate>{csrf}<input type=\"hidden\" name=\"turn\" value=\"on\">{days}{buddy}\
<button type=\"submit\">Turn it on</button></form>",
                csrf = csrf_input(csrf),
                days = Field::typed("days", "After how many quiet days?", &form.days, "number")
                    .hint("For example 3.")
                    .render(problems),
                buddy = Field::line("buddy", "Who should be told?", &form.buddy, limits::PERSON_NAME)
                    .hint("A neighbour's name, as Kith shows it. The organisers are told too.")
                    .render(problems),
            );
        }
    }
    main
}

/// `GET /checkins`.
pub async fn checkins_form(State(state): State<WebState>, Extension(session): Extension<Session>) -> Response {
    let frame = frame(&state, &session).await;
    let main = checkins_page(&state, &CheckInsForm::default(), &Problems::default(), &session.csrf, None);
    page(&frame, "Ask to be checked on", Nav::ForYou, &main)
}

/// `POST /checkins`: turn it on (days and a buddy) or off.
pub async fn set_checkins(
    State(state): State<WebState>,
    Extension(session): Extension<Session>,
    Form(form): Form<CheckInsForm>,
) -> Response {
    let mut problems = Problems::default();
    let body = if form.turn == "off" {
        Some(Body::CheckIns { days: None, buddies: Vec::new() })
    } else {
        let days = match form.days.trim().parse::<u16>() {
            Ok(days) if (1..=limits::MAX_CHECKIN_DAYS).contains(&days) => Some(days),
            _ => {
                problems.add("days", format!("Please give a number of days from 1 to {}.", limits::MAX_CHECKIN_DAYS));
                None
            }
        };
        let buddy = match crate::read::resolve_member(&state.node, form.buddy.trim()) {
            Ok(id) if id == state.node.replica().me() => {
                problems.add("buddy", "Please name a neighbour, not yourself.");
                None
            }
            Ok(id) => Some(id),
            Err(_) => {
                problems.add("buddy", "Kith does not know a neighbour by that name. Check the Neighbours page.");
                None
            }
        };
        days.zip(buddy).map(|(days, buddy)| Body::CheckIns { days: Some(days), buddies: vec![buddy] })
    };
    if let Some(body) = body {
        match state.node.publish(body).await {
            Ok(_) => return Redirect::to("/checkins").into_response(),
            Err(error) => problems.add("", plain_refusal(&state, error)),
        }
    }
    let frame = frame(&state, &session).await;
    let main = checkins_page(&state, &form, &problems, &session.csrf, None);
    page_again(&frame, "Ask to be checked on", Nav::ForYou, &main)
}

/// `POST /checkin`: "I'm fine today".
pub async fn checkin(State(state): State<WebState>, Extension(session): Extension<Session>) -> Response {
    let mut problems = Problems::default();
    let flash = match state.node.publish(Body::CheckIn).await {
        Ok(_) => Some("Thank you. Your buddies will not be worried."),
        Err(error) => {
            problems.add("", plain_refusal(&state, error));
            None
        }
    };
    let frame = frame(&state, &session).await;
    let main = checkins_page(&state, &CheckInsForm::default(), &problems, &session.csrf, flash);
    page(&frame, "Ask to be checked on", Nav::ForYou, &main)
}
