//! The organisers' notice to everyone (`/announce`): title, text and the last day it shows. It
//! heads every member's board and "For you" until then. Only organisers are offered the form;
//! the protocol's rule decides (a member's notice would wait, unseen, for an appointment).

use std::fmt::Write as _;

use axum::Extension;
use axum::extract::{Form, State};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use kith_protocol::body::limits;

use super::html::{Field, Nav, Problems, csrf_input};
use super::{Session, WebState, frame, page, page_again, plain_refusal};
use crate::clock::now_ms;
use crate::read::announce::NewAnnouncement;

#[derive(Debug, Default, Deserialize)]
pub struct AnnounceForm {
    #[serde(default)]
    title: String,
    #[serde(default)]
    text: String,
    /// `YYYY-MM-DD`, the last day it shows; empty: the community's post lifetime.
    #[serde(default)]
    until: String,
}

fn form_page(form: &AnnounceForm, problems: &Problems, csrf: &str, organiser: bool) -> String {
    let mut main = String::from("<h1>A notice to everyone</h1>");
    main.push_str(&problems.summary());
    if !organiser {
        main.push_str("<p>Only organisers can post a notice to everyone. Ask one of them.</p>");
        return main;
    }
    let _ = write!(
        main,
        "<p>Your notice heads everyone's board and their “For you” page until the day you choose.</p>\
<form method=\"post\" action=\"/announce\" novalidate>{}{}{}{}\
<button type=\"submit\">Post the notice</button></form>",
        csrf_input(csrf),
        Field::line("title", "Title", &form.title, limits::TITLE)
            .hint("For example: Hall closed on Monday.")
            .render(problems),
        Field::text("text", "What people need to know", &form.text, limits::DETAILS).render(problems),
        Field::typed("until", "Show it until (the last day)", &form.until, "date")
            .hint("Leave it empty to show it as long as a post stays on the board.")
            .render(problems),
    );
    main
}

fn is_organiser(state: &WebState) -> bool {
    let replica = state.node.replica();
    replica.community().and_then(|c| c.member(&replica.me())).is_some_and(|m| m.organiser)
}

/// `GET /announce`.
pub async fn form(State(state): State<WebState>, Extension(session): Extension<Session>) -> Response {
    let frame = frame(&state, &session).await;
    let main = form_page(&AnnounceForm::default(), &Problems::default(), &session.csrf, is_organiser(&state));
    page(&frame, "A notice to everyone", Nav::Report, &main)
}

/// `POST /announce`: publishes the notice, then shows the board it heads.
pub async fn post(
    State(state): State<WebState>,
    Extension(session): Extension<Session>,
    Form(form): Form<AnnounceForm>,
) -> Response {
    let mut problems = Problems::default();
    let now = now_ms();
    let until_ms = match form.until.trim() {
        "" => None,
        day => match kith_protocol::report::parse_date(day, true) {
            Some(ms) if ms > now => Some(ms),
            Some(_) => {
                problems.add("until", "Please choose today or a day still to come.");
                None
            }
            None => {
                problems.add("until", "Please give a date, like 2026-12-24.");
                None
            }
        },
    };
    if form.title.trim().is_empty() {
        problems.add("title", "Please write a few words for the title.");
    }
    if problems.is_empty() {
        let new = NewAnnouncement { title: form.title.clone(), text: form.text.clone(), until_ms };
        match new.body(now) {
            Ok(body) => match state.node.publish(body).await {
                Ok(_) => return Redirect::to("/").into_response(),
                Err(error) => problems.add("", plain_refusal(&state, error)),
            },
            Err(error) => problems.add("", error.to_string()),
        }
    }
    let frame = frame(&state, &session).await;
    let main = form_page(&form, &problems, &session.csrf, is_organiser(&state));
    page_again(&frame, "A notice to everyone", Nav::Report, &main)
}
