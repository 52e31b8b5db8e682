//! The printable directory of members (issue 15 §3): only those who agreed to be listed (their
//! own signed `Listing` entry; nobody is listed by default), with name, area, skills and contact
//! from their profile. The page prints on paper with the page's print stylesheet (navigation
//! and forms left off); each member says yes or no on it for themselves (or their helper, acting
//! for them).

use std::fmt::Write as _;

use axum::Extension;
use axum::extract::{Form, State};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use kith_protocol::{Body, Community, MemberId};

use super::html::{Nav, csrf_input, esc};
use super::{Session, WebState, frame, page, plain_refusal};
use crate::replica::Replica;

/// One listed member, as printed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    pub id: MemberId,
    pub name: String,
    pub area: String,
    pub skills: Vec<String>,
    pub contact: String,
}

/// Admitted members, not suspended, whose latest word is "list me", by name; their details from
/// their latest profile.
pub fn listed(replica: &Replica, community: &Community) -> Vec<Listed> {
    let mut out: Vec<Listed> = community
        .members()
        .filter(|(_, m)| m.listed && m.admitted && m.suspended.is_none())
        .map(|(id, m)| {
            let profile = m.profile.as_ref().filter(|p| !p.redacted);
            let body = profile.and_then(|p| replica.store().get(&p.entry).ok().flatten()).map(|e| e.body().clone());
            let (skills, contact) = match body {
                Some(Body::Profile { skills, contact, .. }) => (skills, contact),
                _ => (Vec::new(), String::new()),
            };
            Listed {
                id: *id,
                name: m.name(),
                area: profile.map(|p| p.area.clone()).unwrap_or_default(),
                skills,
                contact,
            }
        })
        .collect();
    out.sort_by_key(|l| l.name.to_lowercase());
    out
}

/// `GET /directory`.
pub async fn show(State(state): State<WebState>, Extension(session): Extension<Session>) -> Response {
    let frame = frame(&state, &session).await;
    let acting = super::helped::acting_for(&state, &session);
    let (rows, me_listed, community_name) = {
        let replica = state.node.replica();
        let me = acting.unwrap_or_else(|| replica.me());
        match replica.community() {
            Some(community) => (
                listed(&replica, community),
                community.member(&me).is_some_and(|m| m.listed),
                community.name().to_string(),
            ),
            None => (Vec::new(), false, String::new()),
        }
    };
    let mut main = format!(
        "<h1>Who's who in {}</h1>\n<p class=\"lead\">Neighbours who agreed to be listed here, to print and put \
         by the phone. Nobody is listed unless they said yes.</p>\n",
        esc(&community_name)
    );
    let (state_words, value, button) = if me_listed {
        ("You are listed.", "no", "Take me off the directory")
    } else {
        ("You are not listed.", "yes", "List me in the directory")
    };
    let _ = write!(
        main,
        "<section class=\"no-print\" aria-labelledby=\"h-consent\"><h2 id=\"h-consent\">Your entry</h2>\
<p>{state_words} Your name, area, skills and contact (from <a href=\"/profile\">your profile</a>) are shown \
to every member and on paper.</p>\
<form method=\"post\" action=\"/directory/listing\">{csrf}<input type=\"hidden\" name=\"listed\" value=\"{value}\">\
<button type=\"submit\">{button}</button></form>\
<p>To print it, use your browser's Print.</p></section>",
        csrf = csrf_input(&session.csrf)
    );
    if rows.is_empty() {
        main.push_str("<p>No one is listed yet.</p>");
    } else {
        main.push_str(
            "<table class=\"directory\"><caption>Members who agreed to be listed</caption><thead><tr>\
<th scope=\"col\">Name</th><th scope=\"col\">Area</th><th scope=\"col\">Can help with</th>\
<th scope=\"col\">Contact</th></tr></thead><tbody>",
        );
        for row in &rows {
            let _ = write!(
                main,
                "<tr><th scope=\"row\">{}</th><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&row.name),
                esc(&row.area),
                esc(&row.skills.join(", ")),
                esc(&row.contact)
            );
        }
        main.push_str("</tbody></table>");
    }
    page(&frame, "Directory", Nav::Neighbours, &main)
}

#[derive(Debug, Default, Deserialize)]
pub struct ListingForm {
    #[serde(default)]
    listed: String,
}

/// `POST /directory/listing`: this member's (or, acting for one, the helped member's) yes or no.
pub async fn set_listing(
    State(state): State<WebState>,
    Extension(session): Extension<Session>,
    Form(form): Form<ListingForm>,
) -> Response {
    let listed = form.listed == "yes";
    match state.node.publish(Body::Listing { listed }).await {
        Ok(_) => Redirect::to("/directory").into_response(),
        Err(error) => {
            let frame = frame(&state, &session).await;
            let main = format!(
                "<h1>Your entry was not changed</h1>\n<p>{}</p>\n<p><a href=\"/directory\">Back to the directory</a></p>",
                esc(&plain_refusal(&state, error))
            );
            page(&frame, "Directory", Nav::Neighbours, &main)
        }
    }
}
