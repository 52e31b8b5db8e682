//! Helped members on the page (issue 15 §2): the "acting for" switch a helper uses to record
//! for a neighbour without a computer (per signed-in session; every form then writes in the
//! helped member's log), and "helped by …" beside their name on posts and exchanges.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::Extension;
use axum::extract::{Form, State};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use kith_protocol::MemberId;

use super::html::{csrf_input, esc};
use super::{Session, WebState};

/// Which helped member each signed-in session acts for (by session id). Kept in memory: a
/// restart goes back to acting as oneself, the safe side.
pub type Acting = Arc<Mutex<BTreeMap<String, MemberId>>>;

/// The helped member `session` acts for, while this node still records for them.
pub fn acting_for(state: &WebState, session: &Session) -> Option<MemberId> {
    let chosen = *state.acting.lock().unwrap_or_else(std::sync::PoisonError::into_inner).get(&session.id)?;
    held_here(state).into_iter().any(|(id, _)| id == chosen).then_some(chosen)
}

/// The helped members this node records for: (id, name), by name.
pub fn held_here(state: &WebState) -> Vec<(MemberId, String)> {
    crate::read::helped::list(&state.node)
        .unwrap_or_default()
        .into_iter()
        .filter(|h| h.held)
        .filter_map(|h| Some((h.member_id.parse().ok()?, h.name)))
        .collect()
}

#[derive(Debug, Default, Deserialize)]
pub struct SwitchForm {
    /// A helped member's id; empty: oneself.
    #[serde(default)]
    member: String,
}

/// `POST /acting-for`: switches whom this session acts for, then back to the board.
pub async fn switch(
    State(state): State<WebState>,
    Extension(session): Extension<Session>,
    Form(form): Form<SwitchForm>,
) -> Response {
    let chosen = held_here(&state).into_iter().map(|(id, _)| id).find(|id| id.to_string() == form.member.trim());
    let mut acting = state.acting.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    match chosen {
        Some(member) => acting.insert(session.id.clone(), member),
        None => acting.remove(&session.id),
    };
    Redirect::to("/").into_response()
}

/// The switch at the top of every page, when this node holds helped members' keys: a labelled
/// list (keyboard and screen readers use it like any form) and a button; while acting for
/// someone, a notice says so in words.
pub fn switch_html(me: &str, helped: &[(MemberId, String)], acting: Option<MemberId>, csrf: &str) -> String {
    if helped.is_empty() {
        return String::new();
    }
    let mut options =
        format!("<option value=\"\"{}>Myself ({})</option>", if acting.is_none() { " selected" } else { "" }, esc(me));
    for (id, name) in helped {
        let selected = if acting == Some(*id) { " selected" } else { "" };
        options.push_str(&format!("<option value=\"{id}\"{selected}>{}</option>", esc(name)));
    }
    let notice = match acting.and_then(|a| helped.iter().find(|(id, _)| *id == a)) {
        Some((_, name)) => format!(
            "<p class=\"notice acting-notice wrap\" id=\"acting-notice\"><strong>You are acting for {name}.</strong> \
             What you post, reply or thank now is sent from {name}'s account, marked as helped by you.</p>",
            name = esc(name)
        ),
        None => String::new(),
    };
    format!(
        "<div class=\"acting-bar no-print\"><form method=\"post\" action=\"/acting-for\" class=\"acting wrap\">{csrf}\
<label for=\"acting-for\">Acting for:</label> <select id=\"acting-for\" name=\"member\">{options}</select> \
<button type=\"submit\">Switch</button></form>{notice}</div>",
        csrf = csrf_input(csrf)
    )
}

/// " (helped by Ada)" after a helped member's name; nothing for anyone else.
pub fn helped_by(name: Option<&str>) -> String {
    name.map(|n| format!(" <span class=\"helped-by\">(helped by {})</span>", esc(n))).unwrap_or_default()
}
