//! The web page for volunteers, served by the node on the API's loopback listener: every path
//! outside `/api`. Server-rendered HTML with ordinary forms (it works with JavaScript off), a
//! stylesheet and a small script embedded in the binary ([`STYLE`], [`SCRIPT`]) that follows
//! `/events` to refresh the parts of a page marked `data-live`.
//!
//! Who may see it is the [`Gate`]'s business: a one-time link from `kith open` opens a session
//! (HttpOnly, SameSite=Strict cookie); without one every page is the "open your link" page.
//! Every request must name this computer in `Host`; every POST must come from this page
//! (`Origin`) and carry the session's CSRF token. Pages: the board ([`posts`]), time-bank
//! hours ([`hours`]), neighbours, profiles, join requests and the connection ([`people`]),
//! the organisers' "How we're doing" ([`report`]) and their notice to everyone ([`announce`]).

mod announce;
mod devices;
mod directory;
mod foryou;
mod helped;
mod hours;
pub mod html;
mod people;
mod posts;
pub mod print;
mod report;

pub use crate::sessions::{Gate, LOGIN_CODE_MS, PAIRING_CODE_MS, Pairing, Session, new_pairing};

use std::convert::Infallible;
use std::sync::Arc;

use axum::Router;
use axum::body::Body as HttpBody;
use axum::extract::{DefaultBodyLimit, Form, FromRequest, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use futures::Stream;
use serde::Deserialize;
use tokio::sync::broadcast::error::RecvError;

use kith_protocol::{EntryError, MemberId, Wait};

use crate::clock::now_ms;
use crate::network::NodeEvent;
use crate::node::NodeHandle;
pub(crate) use crate::read::{ago, date};
use crate::replica::PublishError;
use html::{Frame, esc};

/// The stylesheet, embedded.
pub const STYLE: &str = include_str!("web/style.css");
/// The script that refreshes live parts of a page and focuses a form's problems.
pub const SCRIPT: &str = include_str!("web/live.js");
/// Largest form accepted.
pub const MAX_FORM_BYTES: usize = 64 * 1024;

/// What every page handler holds.
#[derive(Debug, Clone)]
pub struct WebState {
    pub node: NodeHandle,
    /// The door of the listener this page is served on.
    pub gate: Gate,
    /// The home network's door, when the page is served there too (`kith run --lan`): its
    /// paired devices are listed, and codes minted, from this computer's page.
    pub lan: Option<Gate>,
    /// The inbox as last worked out, shared with the API.
    pub inbox: Arc<crate::inbox::Cache>,
    /// Whom each session acts for (the "acting for" switch).
    pub acting: helped::Acting,
}

/// The web page's routes, behind the door `gate`, knowing the home network's door `lan` if
/// the page is served there too, with the inbox's cache it shares with the API.
/// `http` puts them beside the API's.
pub fn router(node: NodeHandle, gate: Gate, lan: Option<Gate>, inbox: Arc<crate::inbox::Cache>) -> Router {
    let state = WebState { node, gate, lan, inbox, acting: helped::Acting::default() };
    Router::new()
        .route("/", get(posts::board))
        .route("/new/{kind}", get(posts::new_form).post(posts::create))
        .route("/posts/{post}", get(posts::show))
        .route("/posts/{post}/reply", post(posts::reply))
        .route("/posts/{post}/status", post(posts::set_status))
        .route("/posts/{post}/come", post(posts::come))
        .route("/posts/{post}/renew", post(posts::renew))
        .route("/posts/{post}/calendar.ics", get(posts::calendar))
        .route("/calendar/{file}", get(calendar_feed))
        .route("/inbox", get(foryou::inbox))
        .route("/inbox/read", post(foryou::mark_read))
        .route("/checkins", get(foryou::checkins_form).post(foryou::set_checkins))
        .route("/checkin", post(foryou::checkin))
        .route("/hours", get(hours::mine))
        .route("/thank", get(hours::thank_form).post(hours::thank))
        .route("/neighbours", get(people::list))
        .route("/neighbours/{member}", get(people::show))
        .route("/neighbours/{member}/vouch", post(people::vouch))
        .route("/profile", get(people::edit_form).post(people::save))
        .route("/connection", get(people::connection))
        .route("/report", get(report::show))
        .route("/announce", get(announce::form).post(announce::post))
        .route("/acting-for", post(helped::switch))
        .route("/directory", get(directory::show))
        .route("/directory/listing", post(directory::set_listing))
        .route("/board/print", get(print::board))
        .route("/print.css", get(print::stylesheet))
        .route("/devices", get(devices::list))
        .route("/devices/pair", post(devices::make_code))
        .route("/devices/{key}/end", post(devices::end))
        .route("/pair", get(devices::pair_form).post(devices::pair))
        .route("/events", get(events))
        .route("/login", get(login))
        .route("/logout", post(logout))
        .route("/style.css", get(|| async { asset("text/css; charset=utf-8", STYLE) }))
        .route("/live.js", get(|| async { asset("text/javascript; charset=utf-8", SCRIPT) }))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(state.clone(), guard))
        .layer(DefaultBodyLimit::max(MAX_FORM_BYTES))
        .with_state(state)
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    let mut response = body.into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

/// Paths anyone on this computer may fetch without a session (the calendar feed is guarded by
/// the secret in its address instead: a calendar app has no cookie).
fn is_public(path: &str) -> bool {
    matches!(path, "/login" | "/style.css" | "/live.js" | "/favicon.ico") || path.starts_with("/calendar/")
}

/// `GET /calendar/{secret}.ics`: the gatherings this node's member is coming to, for a
/// calendar app on this computer.
async fn calendar_feed(
    State(state): State<WebState>,
    axum::extract::Path(file): axum::extract::Path<String>,
) -> Response {
    let given = file.strip_suffix(".ics").unwrap_or(&file);
    let replica = state.node.replica();
    let known = crate::read::calendar_secret(&replica).ok();
    let matches = known.as_deref().is_some_and(|secret| {
        secret.len() == given.len() && secret.bytes().zip(given.bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
    });
    if !matches {
        return (axum::http::StatusCode::NOT_FOUND, "no such calendar").into_response();
    }
    match crate::read::my_calendar(&replica) {
        Ok(text) => {
            let mut response = text.into_response();
            response
                .headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/calendar; charset=utf-8"));
            response
        }
        Err(error) => error.into_response(),
    }
}

#[derive(Debug, Default, Deserialize)]
struct CsrfOnly {
    #[serde(default)]
    csrf: String,
}

/// Checks `Host` on every request; lets public paths through; asks for a session everywhere
/// else; checks `Origin` and the CSRF token on every POST. Adds the security headers.
async fn guard(State(state): State<WebState>, request: Request, next: Next) -> Response {
    let mut response = check_then_run(&state, request, next).await;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; \
             form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    headers.entry(header::CACHE_CONTROL).or_insert(HeaderValue::from_static("no-store"));
    response
}

async fn check_then_run(state: &WebState, request: Request, next: Next) -> Response {
    let host = request.headers().get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or_default().to_string();
    if !state.gate.host_allowed(&host) {
        return refusal(
            StatusCode::MISDIRECTED_REQUEST,
            "This address is not Kith's",
            "Kith's page only opens at the address that <code>kith open</code> prints, starting with \
             <code>http://127.0.0.1</code>.",
        );
    }
    let path = request.uri().path().to_string();
    let lan = state.gate.is_lan();
    // On the home network only the pairing page is open; `/login` links are for this computer.
    let public = if lan {
        matches!(path.as_str(), "/pair" | "/style.css" | "/live.js" | "/favicon.ico")
    } else {
        is_public(&path)
    };
    if public {
        return next.run(request).await;
    }
    let peer_ip = request.extensions().get::<axum::extract::ConnectInfo<std::net::SocketAddr>>().map(|c| c.0.ip());
    let cookie = request.headers().get(header::COOKIE).and_then(|c| c.to_str().ok()).unwrap_or_default();
    let session =
        state.gate.session_id_from_cookies(cookie).and_then(|id| state.gate.session_from(&id, peer_ip, now_ms()));
    let Some(session) = session else {
        if lan && request.method() != Method::POST {
            return Redirect::to("/pair").into_response();
        }
        return signed_out(request.method() == Method::POST);
    };
    let mut request = request;
    if request.method() == Method::POST {
        let origin = request.headers().get(header::ORIGIN).and_then(|o| o.to_str().ok()).map(str::to_string);
        // The body is read before any refusal, so that the browser hears the answer rather
        // than a connection cut while it was still sending.
        let (parts, body) = request.into_parts();
        let bytes = match axum::body::to_bytes(body, MAX_FORM_BYTES).await {
            Ok(bytes) => bytes,
            Err(_) => {
                return refusal(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "That was too much text",
                    "Kith could not take a form that long. Please go back and shorten what you wrote.",
                );
            }
        };
        if !state.gate.origin_allowed(origin.as_deref(), &host) {
            return refusal(
                StatusCode::FORBIDDEN,
                "That came from another website",
                "For your safety, Kith only takes forms sent from its own page. Nothing was changed.",
            );
        }
        let probe = Request::from_parts(parts.clone(), HttpBody::from(bytes.clone()));
        let csrf = Form::<CsrfOnly>::from_request(probe, &()).await.map(|Form(f)| f.csrf).unwrap_or_default();
        if !Gate::csrf_ok(&session, &csrf) {
            return refusal(
                StatusCode::FORBIDDEN,
                "This form is out of date",
                "Please go back, reload the page, and send it again. Nothing was changed.",
            );
        }
        request = Request::from_parts(parts, HttpBody::from(bytes));
    }
    // The "acting for" switch: this session's writes go to that helped member's log.
    let acting = helped::acting_for(state, &session);
    request.extensions_mut().insert(session);
    crate::helped::scope(acting, next.run(request)).await
}

/// A short page explaining why something was refused (nothing of the community on it).
fn refusal(status: StatusCode, title: &str, text_html: &str) -> Response {
    let main = format!("<h1>{}</h1>\n<p>{text_html}</p>\n<p><a href=\"/\">Go to the board</a></p>", esc(title));
    (status, Html(html::bare(title, &main))).into_response()
}

/// What anyone without a session sees.
fn signed_out(after_post: bool) -> Response {
    let lost = if after_post {
        "<p>What you just sent could not be taken, because this browser is not signed in any more (it \
         signed out, or went unused for a long time). Please sign in again, then send it once more.</p>\n"
    } else {
        ""
    };
    let main = format!(
        "<h1>Please open Kith with your sign-in link</h1>\n{lost}\
<p>To keep your community's page private, it only opens from a sign-in link made on this computer.</p>\n\
<h2>How to get a link</h2>\n<ol class=\"steps\">\n\
<li>On this computer, open a terminal (the window where you type commands).</li>\n\
<li>Type <code>kith open</code> and press Enter.</li>\n\
<li>Open the link it shows, starting with <code>http://127.0.0.1</code>. It works once, within 10 minutes.</li>\n\
</ol>\n<p>If someone set Kith up for you, you can ask them to do this with you.</p>"
    );
    (StatusCode::UNAUTHORIZED, Html(html::bare("Please sign in", &main))).into_response()
}

async fn not_found(State(state): State<WebState>, request: Request) -> Response {
    let session = request.extensions().get::<Session>().cloned();
    let main = "<h1>There is no such page</h1>\n<p>The link may be old or mistyped.</p>\n\
<p><a href=\"/\">Go to the board</a></p>";
    match session {
        Some(session) => {
            let frame = frame(&state, &session).await;
            (StatusCode::NOT_FOUND, Html(html::layout(&frame, "No such page", html::Nav::None, main))).into_response()
        }
        None => (StatusCode::NOT_FOUND, Html(html::bare("No such page", main))).into_response(),
    }
}

#[derive(Debug, Default, Deserialize)]
struct LoginQuery {
    #[serde(default)]
    code: String,
}

/// `GET /login?code=…`: uses the code up, opens a session, and sends the browser to the board.
async fn login(State(state): State<WebState>, headers: HeaderMap, Query(query): Query<LoginQuery>) -> Response {
    let code = query.code;
    match state.gate.redeem(&code, now_ms()) {
        Ok(Some(session)) => {
            let mut response = Redirect::to("/").into_response();
            if let Ok(cookie) = HeaderValue::from_str(&state.gate.set_cookie(&session)) {
                response.headers_mut().insert(header::SET_COOKIE, cookie);
            }
            response
        }
        Ok(None) => {
            // Signed in already (the link was used by this browser): just go on.
            let cookie = headers.get(header::COOKIE).and_then(|c| c.to_str().ok()).unwrap_or_default();
            if state.gate.session_id_from_cookies(cookie).and_then(|id| state.gate.session(&id, now_ms())).is_some() {
                return Redirect::to("/").into_response();
            }
            let main = "<h1>This sign-in link has expired</h1>\n\
<p>Each link works only once, and only for 10 minutes. That keeps your community's page safe.</p>\n\
<h2>How to get a new link</h2>\n<ol class=\"steps\">\n\
<li>On this computer, open a terminal (the window where you type commands).</li>\n\
<li>Type <code>kith open</code> and press Enter.</li>\n<li>Open the new link it shows.</li>\n</ol>";
            (StatusCode::UNAUTHORIZED, Html(html::bare("Sign-in link expired", main))).into_response()
        }
        Err(error) => {
            tracing::error!(%error, "cannot open a web session");
            refusal(StatusCode::INTERNAL_SERVER_ERROR, "Kith could not sign you in", "Please try again.")
        }
    }
}

/// `POST /logout`: forgets the session and removes the cookie.
async fn logout(State(state): State<WebState>, axum::Extension(session): axum::Extension<Session>) -> Response {
    state.gate.end(&session.id);
    let main = "<h1>You have signed out</h1>\n<p>To come back, open a new link from <code>kith open</code>.</p>";
    let mut response = Html(html::bare("Signed out", main)).into_response();
    if let Ok(cookie) = HeaderValue::from_str(&state.gate.clear_cookie()) {
        response.headers_mut().insert(header::SET_COOKIE, cookie);
    }
    response
}

/// `GET /events`: what changed, as server-sent events named `entry` or `peer` (no data beyond
/// the name: the page fetches itself again to see what changed).
async fn events(State(state): State<WebState>) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let receiver = state.node.events.subscribe();
    let shutdown = state.node.shutdown.clone();
    let stream = futures::stream::unfold((receiver, shutdown), |(mut receiver, shutdown)| async move {
        loop {
            let next = tokio::select! {
                () = shutdown.cancelled() => return None,
                next = receiver.recv() => next,
            };
            let name = match next {
                Ok(NodeEvent::Entry { .. }) | Err(RecvError::Lagged(_)) => "entry",
                Ok(NodeEvent::PeerConnected { .. } | NodeEvent::PeerDisconnected { .. }) => "peer",
                Ok(_) => continue,
                Err(RecvError::Closed) => return None,
            };
            return Some((Ok(Event::default().event(name).data("changed")), (receiver, shutdown)));
        }
    });
    Sse::new(stream).keep_alive(KeepAlive::default())
}

// --- what every page shows ---

/// The frame of a signed-in page: community, name, connection, join requests.
pub(crate) async fn frame(state: &WebState, session: &Session) -> Frame {
    let peers = state.node.peers().await.len();
    let join_name = state.node.home.config().ok().and_then(|c| c.join_name);
    // Before the replica is locked here: these lock it themselves.
    let helped_here = helped::held_here(state);
    let acting_for = helped::acting_for(state, session);
    let replica = state.node.replica();
    let me = replica.me();
    let community = replica.community();
    let member = community.and_then(|c| c.member(&me));
    let my_name = member
        .and_then(|m| m.profile.as_ref())
        .filter(|p| !p.redacted)
        .map(|p| p.name.clone())
        .or(join_name)
        .unwrap_or_else(|| me.short());
    let waiting = community.map_or(0, |c| {
        c.members()
            .filter(|(id, m)| !m.admitted && m.profile.is_some() && !m.vouched_by.contains(&me) && **id != me)
            .count()
    });
    let connection = match (community.is_some(), peers) {
        (false, _) => "Not connected yet: this computer has not reached your community".to_string(),
        (true, 0) => "Not connected to your neighbours right now".to_string(),
        (true, 1) => "Connected to 1 neighbour".to_string(),
        (true, n) => format!("Connected to {n} neighbours"),
    };
    let my_name_shown = my_name.clone();
    Frame {
        community: community.map(|c| c.name().to_string()).unwrap_or_default(),
        my_name,
        csrf: session.csrf.clone(),
        connected: community.is_some() && peers > 0,
        connection,
        waiting,
        member: member.is_some_and(|m| m.admitted),
        organiser: member.is_some_and(|m| m.organiser),
        unread: crate::inbox::items(&replica, &state.inbox, now_ms())
            .map_or(0, |items| items.iter().filter(|i| !i.read).count()),
        suspended: member.and_then(|m| m.suspended.clone()),
        acting: helped::switch_html(&my_name_shown, &helped_here, acting_for, &session.csrf),
    }
}

/// A full page, 200.
pub(crate) fn page(frame: &Frame, title: &str, nav: html::Nav, main: &str) -> Response {
    Html(html::layout(frame, title, nav, main)).into_response()
}

/// A form shown again after it failed: 422, with the problems and everything typed.
pub(crate) fn page_again(frame: &Frame, title: &str, nav: html::Nav, main: &str) -> Response {
    (StatusCode::UNPROCESSABLE_ENTITY, Html(html::layout(frame, &format!("Problem: {title}"), nav, main)))
        .into_response()
}

/// The page for something the node does not know (a post or person not seen here).
pub(crate) fn missing(frame: &Frame, what: &str) -> Response {
    let main = format!(
        "<h1>{}</h1>\n<p>It may not have reached this computer yet, or it was removed.</p>\n\
<p><a href=\"/\">Go to the board</a></p>",
        esc(what)
    );
    (StatusCode::NOT_FOUND, Html(html::layout(frame, what, html::Nav::None, &main))).into_response()
}

/// A person's name as the community knows it.
pub(crate) fn name_of(state: &WebState, id: &MemberId) -> String {
    let replica = state.node.replica();
    replica.community().map_or_else(|| id.short(), |c| crate::read::name_of(c, id))
}

/// A field's problem in plain words, from the community's check of the fields.
pub(crate) fn field_problem(error: &EntryError) -> Option<(&'static str, String)> {
    let key = |field: &'static str| match field {
        "skill" => "skills",
        "reply" => "text",
        other => other,
    };
    match error {
        EntryError::FieldTooLong { field, len, max } => Some((
            key(field),
            format!("This is too long: please keep it to {max} characters or fewer (it has about {len})."),
        )),
        EntryError::EmptyField(field) => Some((key(field), "Please fill this in.".to_string())),
        EntryError::ControlCharacter(field) => {
            Some((key(field), "This has characters Kith cannot send. Please type it again.".to_string()))
        }
        EntryError::TooManyItems { field, max, .. } => {
            Some((key(field), format!("Please list at most {max} of these.")))
        }
        _ => None,
    }
}

/// Why the node would not publish, in plain words for the person at the page.
pub(crate) fn plain_refusal(state: &WebState, error: PublishError) -> String {
    let me = state.node.replica().me();
    match error {
        PublishError::Waits(Wait::Admission { member }) if member == me => {
            "You can do this once you are let in: a neighbour who is already a member needs to say they know \
             you. Ask the person who invited you."
                .to_string()
        }
        PublishError::Waits(Wait::Admission { member }) => {
            format!(
                "{} has not been let in yet. They can take part once a member says they know them.",
                name_of(state, &member)
            )
        }
        PublishError::NoCommunity => "This computer has not reached your community yet, so nothing can be sent. \
             Check it is connected to the internet; Kith keeps trying by itself."
            .to_string(),
        PublishError::ReadOnly => "Kith is still fetching your earlier posts and hours from your neighbours. \
             Please try again in a few minutes."
            .to_string(),
        PublishError::Frozen => "Kith has stopped sending from your account because two different things were \
             sent at the same moment (perhaps from an old backup). Please ask an organiser."
            .to_string(),
        PublishError::Rule(EntryError::Suspended { action, .. }) if my_suspension(state).is_some() => format!(
            "An organiser has suspended you ({}), so Kith will not {action} for you. Talk to an organiser: they can \
             lift it.",
            my_suspension(state).unwrap_or_default()
        ),
        other => crate::read::explain(&state.node, other).to_string(),
    }
}

/// Why this member is suspended, if they are.
fn my_suspension(state: &WebState) -> Option<String> {
    let replica = state.node.replica();
    let me = replica.me();
    replica.community()?.member(&me)?.suspended.clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_read_like_people_say_them() {
        let now = 10 * 86_400_000;
        assert_eq!(ago(now - 5_000, now), "just now");
        assert_eq!(ago(now - 5 * 60_000, now), "5 minutes ago");
        assert_eq!(ago(now - 3 * 3_600_000, now), "3 hours ago");
        assert_eq!(ago(now - 30 * 3_600_000, now), "yesterday");
        assert_eq!(date(1_795_805_745_123), "27 Nov 2026");
    }

    #[test]
    fn field_problems_name_their_field() {
        let problem = field_problem(&EntryError::FieldTooLong { field: "title", len: 130, max: 120 });
        assert_eq!(problem.map(|(f, _)| f), Some("title"));
        assert_eq!(field_problem(&EntryError::EmptyField("reply")).map(|(f, _)| f), Some("text"));
        assert_eq!(field_problem(&EntryError::SelfTransfer), None);
    }
}
