//! The node's local HTTP API: the `kith` command's only way in. Served on loopback only, with
//! `api.json` (url and a random token, mode 0600) in the home, by `http`; asks every request for
//! `Authorization: Bearer <token>`, speaks JSON ([`wire`]) and answers every refusal with
//! `{ "error": "…" }`: 400 malformed input, 401 no token, 404 unknown, 409 ambiguous, 422 a
//! rule of the community says no, 500 the node failed. Handlers are thin: they resolve names
//! ([`resolve`]), build a [`Body`] and let the replica judge it.
//!
//! Routes (all under `/api`): `GET status`, `POST invites`, `GET peers`, `GET|POST posts`,
//! `GET posts/{post}`, `POST posts/{post}/replies`, `POST posts/{post}/status`,
//! `POST transfers`, `GET balance?member=`, `GET statement?member=`, `GET members?pending=`,
//! `POST profile`, `POST vouches`, `POST suspensions`, `POST appointments`,
//! `GET export?format=json|csv`, `GET report?from=&to=&format=json|csv` (the organisers' report), `GET events` (server-sent events of [`NodeEvent`]s),
//! `POST login-links` (a one-time link that signs a browser in to the web page, `web`).
//!
//! The same listener serves the web page for volunteers: every path outside `/api` is
//! `web`'s, which signs browsers in with a cookie instead of the token.

// The read side's modules, where the CLI and the tests have always found them.
pub use crate::read::{ApiError, announce, export, helped, report, resolve, wire};

use std::convert::Infallible;
use std::sync::Arc;

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, FromRequest, FromRequestParts, Path, Query, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures::Stream;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use tokio::sync::broadcast::error::RecvError;

use kith_protocol::{Body, Community, EntryHash, Member, MemberId, Minutes, PostKind, Role, Status as PostStatus};

use crate::clock::now_ms;
use crate::invite::Invite;
use crate::network::NodeEvent;
use crate::node::NodeHandle;
use crate::read::{
    calendar_secret, community, explain, gathering_calendar, gathering_ends, member_list, name_of, post_detail,
    post_fields, post_status, resolve_member, resolve_post, schedule_of, transfer_out,
};
use crate::replica::Replica;
use crate::sessions::Gate;
use kith_protocol::invite::Capability;
use wire::*;

/// How long an invite is good for unless asked otherwise: a week.
pub const DEFAULT_INVITE_MINUTES: u32 = 7 * 24 * 60;
/// How many newcomers an invite admits unless asked otherwise.
pub const DEFAULT_INVITE_USES: u32 = 1;
/// Longest an invite may be good for: a year.
pub const MAX_INVITE_MINUTES: u32 = 366 * 24 * 60;
/// Largest request body accepted.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// Most posts one board listing returns.
pub const MAX_BOARD_POSTS: usize = 1000;
/// Most hub addresses one invite carries besides this node's own.
const MAX_HUB_ADDRS: usize = 8;

#[derive(Clone)]
struct ApiState {
    node: NodeHandle,
    token: Arc<str>,
    /// The web page's door, where `POST /api/login-links` mints one-time codes.
    gate: Gate,
    /// The home network's door (`kith run --lan`), where `POST /api/pairings` mints codes.
    lan: Option<Gate>,
    /// The printable board as a standalone HTML file (`GET /api/board/print`): the page's
    /// paper, handed in by whoever assembles the server (`http`), so that the API
    /// does not name the page.
    print_board: PrintBoard,
    /// The inbox as last worked out, shared with the page.
    inbox: Arc<crate::inbox::Cache>,
}

/// Draws the printable board of a community at a time, as a standalone HTML file.
pub type PrintBoard = fn(&Replica, &Community, u64) -> String;

/// The API's routes with token checking, for a node, its token, its web page's door `gate`
/// (login links), the home network's door `lan` when the page is served there too (pairing
/// codes), the printed board's drawing, and the inbox's cache (shared with the page).
pub fn router(
    node: NodeHandle,
    token: String,
    gate: Gate,
    lan: Option<Gate>,
    print_board: PrintBoard,
    inbox_cache: Arc<crate::inbox::Cache>,
) -> Router {
    let state = ApiState { node, token: token.into(), gate, lan, print_board, inbox: inbox_cache };
    Router::new()
        .route("/api/status", get(status))
        .route("/api/invites", post(create_invite))
        .route("/api/invites/revoke", post(revoke_invite))
        .route("/api/peers", get(peers))
        .route("/api/posts", get(board).post(create_post))
        .route("/api/posts/{post}", get(show_post))
        .route("/api/posts/{post}/replies", post(create_reply))
        .route("/api/posts/{post}/status", post(set_status))
        .route("/api/posts/{post}/come", post(come))
        .route("/api/posts/{post}/renew", post(renew))
        .route("/api/posts/{post}/calendar", get(post_calendar))
        .route("/api/calendar", get(calendar_feed))
        .route("/api/inbox", get(inbox))
        .route("/api/checkins", post(set_checkins))
        .route("/api/checkin", post(checkin))
        .route("/api/inbox/read", post(inbox_read))
        .route("/api/transfers", post(create_transfer))
        .route("/api/balance", get(balance))
        .route("/api/statement", get(statement))
        .route("/api/members", get(members))
        .route("/api/profile", post(set_profile))
        .route("/api/vouches", post(create_vouch))
        .route("/api/suspensions", post(create_suspension))
        .route("/api/appointments", post(create_appointment))
        .route("/api/reinstatements", post(create_reinstatement))
        .route("/api/dismissals", post(create_dismissal))
        .route("/api/export", get(export))
        .route("/api/report", get(organisers_report))
        .route("/api/announcements", get(announcements).post(create_announcement))
        .route("/api/board/print", get(printed_board))
        .route("/api/events", get(events))
        .route("/api/login-links", post(create_login_link))
        .route("/api/pairings", post(create_pairing))
        .route("/api/helped", get(list_helped).post(add_helped))
        .route("/api/helped/helper", post(move_helper))
        .route("/api/helped/take", post(take_helped))
        .fallback(|| async { ApiError::NotFound("there is no such API route".into()) })
        .method_not_allowed_fallback(|| async {
            ApiError::BadRequest("this API route does not take that method".into())
        })
        .layer(middleware::from_fn_with_state(state.clone(), require_token))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}

async fn require_token(State(state): State<ApiState>, request: Request, next: Next) -> Response {
    let given = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .unwrap_or_default();
    if !same_bytes(given.trim().as_bytes(), state.token.as_bytes()) {
        return ApiError::Unauthorized.into_response();
    }
    // `--as MEMBER`: every write of this request goes to that helped member's log.
    let named =
        request.headers().get(helped::ACTING_FOR_HEADER).map(|value| helped::decode_acting_for(value.as_bytes()));
    let acting = match named {
        None => None,
        Some(Err(error)) => return error.into_response(),
        Some(Ok(text)) => match helped::resolve(&state.node, &text) {
            Ok(member) => Some(member),
            Err(error) => return error.into_response(),
        },
    };
    crate::helped::scope(acting, next.run(request)).await
}

async fn list_helped(State(state): State<ApiState>) -> Result<Json<Vec<helped::HelpedOut>>, ApiError> {
    Ok(Json(helped::list(&state.node)?))
}

async fn add_helped(
    State(state): State<ApiState>,
    Input(new): Input<helped::NewHelped>,
) -> Result<Json<Created>, ApiError> {
    Ok(Json(helped::add(&state.node, &new).await?))
}

async fn move_helper(
    State(state): State<ApiState>,
    Input(new): Input<helped::NewHelper>,
) -> Result<Json<Created>, ApiError> {
    Ok(Json(helped::move_helper(&state.node, &new).await?))
}

async fn take_helped(
    State(state): State<ApiState>,
    Input(taken): Input<helped::TakeHelped>,
) -> Result<Json<Created>, ApiError> {
    Ok(Json(helped::take(&state.node, &taken)?))
}

/// Compares without stopping at the first difference.
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Ambiguous(_) => StatusCode::CONFLICT,
            ApiError::Refused(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let ApiError::Internal(reason) = &self {
            tracing::error!(%reason, "API request failed");
        }
        (self.status(), Json(ErrorBody { error: self.to_string() })).into_response()
    }
}

/// A JSON body, refused with a 400 `{ "error" }` when it does not parse.
struct Input<T>(T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Input<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        match Json::<T>::from_request(request, state).await {
            Ok(Json(value)) => Ok(Input(value)),
            Err(rejection) => Err(ApiError::BadRequest(json_rejection(&rejection))),
        }
    }
}

fn json_rejection(rejection: &JsonRejection) -> String {
    format!("the request's JSON is not right: {}", rejection.body_text())
}

/// Query parameters, refused with a 400 `{ "error" }` when they do not parse.
struct Params<T>(T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Params<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match Query::<T>::from_request_parts(parts, state).await {
            Ok(Query(value)) => Ok(Params(value)),
            Err(rejection) => Err(ApiError::BadRequest(query_rejection(&rejection))),
        }
    }
}

fn query_rejection(rejection: &QueryRejection) -> String {
    format!("the request's parameters are not right: {}", rejection.body_text())
}

// --- publishing ---

/// Checks a body's fields (400 when they break a bound), publishes it, and explains a refusal.
async fn publish(node: &NodeHandle, body: Body) -> Result<Created, ApiError> {
    body.check_fields().map_err(|e| ApiError::BadRequest(e.to_string()))?;
    match node.publish(body).await {
        Ok(entry) => Ok(Created { id: entry.hash().to_string() }),
        Err(error) => Err(explain(node, error)),
    }
}

fn parse_kind(text: &str) -> Result<PostKind, ApiError> {
    match text.to_ascii_lowercase().as_str() {
        "offer" => Ok(PostKind::Offer),
        "request" => Ok(PostKind::Request),
        "gathering" => Ok(PostKind::Gathering),
        _ => Err(ApiError::BadRequest(format!("`{text}` is not a kind of post: offer, request or gathering"))),
    }
}

// --- handlers ---

/// The `role` of `kith status`: `hub`, `suspended`, `member` or `pending`.
pub fn role_of(hub_node: bool, member: Option<&Member>) -> &'static str {
    match member {
        _ if hub_node => "hub",
        Some(m) if m.suspended.is_some() => "suspended",
        Some(m) if m.hub => "hub",
        Some(m) if m.admitted => "member",
        _ => "pending",
    }
}

async fn status(State(state): State<ApiState>) -> Result<Json<Status>, ApiError> {
    let node = &state.node;
    let connected_peers = node.peers().await.len();
    let listen_addrs: Vec<String> = node.listen_addrs().await.iter().map(ToString::to_string).collect();
    let reach = node.reach().await;
    let join_name = node.home.config().ok().and_then(|c| c.join_name);
    let catch_up = node.catch_up(); // before the replica's lock below: it takes it too
    let replica = node.replica();
    let me = replica.me();
    let community = replica.community();
    let member = community.and_then(|c| c.member(&me));
    let profile_name = member.and_then(|m| m.profile.as_ref()).filter(|p| !p.redacted).map(|p| p.name.clone());
    let role = role_of(node.hub, member);
    let (members, pending_members) = community.map_or((0, 0), |c| {
        let list = member_list(c, false);
        let members = list.iter().filter(|m| m.status == "member" || m.status == "suspended").count();
        (members, list.iter().filter(|m| m.status == "pending").count())
    });
    Ok(Json(Status {
        member_id: me.to_string(),
        name: profile_name.or(join_name).unwrap_or_else(|| me.short()),
        peer_id: node.peer_id.to_string(),
        community_id: replica.community_id().map(|c| c.to_string()),
        community_name: community.map(|c| c.name().to_string()),
        listen_addrs,
        connected_peers,
        entries: community.map_or(0, Community::entry_count),
        members,
        pending_members,
        balance_minutes: member.map_or(0, |m| m.balance_minutes),
        role: role.to_string(),
        suspended_reason: member.and_then(|m| m.suspended.clone()),
        organiser: member.is_some_and(|m| m.organiser),
        read_only: replica.is_read_only(),
        read_only_reason: replica.read_only_reason().map(str::to_string),
        invite_refused: node.counters.invite_refused(),
        credit_limit_minutes: community.map(|c| c.rules().credit_limit.0),
        vouches_needed: community.map(|c| c.rules().vouches_needed),
        waiting_entries: community.map_or(0, Community::pending_count),
        hub_appointed: member.is_some_and(|m| m.hub),
        reachability: reach.reachability.as_str().to_string(),
        relays: reach.relays,
        catch_up,
    }))
}

/// The remembered addresses (with `/p2p/`) of the community's appointed hubs, not relayed ones.
fn known_hub_addrs(node: &NodeHandle) -> Vec<String> {
    let replica = node.replica();
    let Some(community) = replica.community() else { return Vec::new() };
    let known = replica.store().known_peers().unwrap_or_default();
    let mut out = Vec::new();
    for (peer, addrs) in known {
        let Ok(peer_id) = peer.parse::<libp2p::PeerId>() else { continue };
        let is_hub = crate::network::member_of(&peer_id)
            .and_then(|m| community.member(&m))
            .is_some_and(|m| m.hub && m.suspended.is_none());
        if !is_hub {
            continue;
        }
        let usable: Vec<libp2p::Multiaddr> = addrs
            .iter()
            .filter_map(|a| a.parse::<libp2p::Multiaddr>().ok())
            .filter(|a| !crate::network::is_unspecified(a) && !crate::network::is_relayed(a))
            .collect();
        // Loopback only when the hub has nothing else (a community on one machine).
        let public: Vec<&libp2p::Multiaddr> = usable.iter().filter(|a| !crate::network::is_loopback(a)).collect();
        let chosen: Vec<&libp2p::Multiaddr> = if public.is_empty() { usable.iter().collect() } else { public };
        out.extend(chosen.into_iter().map(|a| a.clone().with_p2p(peer_id).unwrap_or_else(|a| a).to_string()));
    }
    out
}

/// Makes an invite to this node's community: its id, this member, this node's reachable
/// addresses (not the unspecified ones) and the hubs asked for. Used by `POST /api/invites`
/// and by `kith run` on a first start.
pub async fn make_invite(node: &NodeHandle, request: &NewInvite) -> Result<InviteOut, ApiError> {
    let minutes = request.expires_in_minutes.unwrap_or(DEFAULT_INVITE_MINUTES);
    if minutes == 0 || minutes > MAX_INVITE_MINUTES {
        return Err(ApiError::BadRequest(format!(
            "an invite may last from one minute to a year, not {}",
            Minutes(minutes)
        )));
    }
    if request.uses == Some(0) {
        return Err(ApiError::BadRequest("an invite must allow at least one use".into()));
    }
    if request.hubs.len() > MAX_HUB_ADDRS {
        return Err(ApiError::BadRequest(format!("at most {MAX_HUB_ADDRS} hub addresses fit in an invite")));
    }
    let mut addrs = Vec::new();
    for hub in &request.hubs {
        let addr: libp2p::Multiaddr =
            hub.parse().map_err(|e| ApiError::BadRequest(format!("`{hub}` is not a multiaddr: {e}")))?;
        if !addr.iter().any(|p| matches!(p, libp2p::multiaddr::Protocol::P2p(_))) {
            return Err(ApiError::BadRequest(format!("the hub address `{hub}` needs its /p2p/ peer id at the end")));
        }
        addrs.push(addr.to_string());
    }
    let own = node.listen_addrs().await;
    let reachable = own.iter().filter(|a| !crate::network::is_unspecified(a)).map(ToString::to_string);
    // Hubs first: they are always on, and a home's own addresses may not be dialable.
    let hubs = known_hub_addrs(node);
    let mut all: Vec<String> = addrs.into_iter().chain(hubs).chain(reachable).collect();
    let mut seen = std::collections::HashSet::new();
    all.retain(|a| seen.insert(a.clone()));
    all.truncate(crate::invite::MAX_INVITE_ADDRS);
    if all.is_empty() {
        return Err(ApiError::Refused("this node listens on no address another node could reach".into()));
    }
    let uses = request.uses.unwrap_or(DEFAULT_INVITE_USES);
    let mut nonce = [0u8; 16];
    getrandom::fill(&mut nonce).map_err(|e| ApiError::Internal(format!("cannot read random bytes: {e}")))?;
    let expires_at_ms = now_ms().saturating_add(u64::from(minutes) * 60_000);
    let capability = {
        let replica = node.replica();
        let community = community(&replica)?;
        if !community.is_member(&replica.me()) {
            return Err(ApiError::Refused("only members can invite, and you are not one yet".into()));
        }
        Capability::issue(replica.keypair(), community.id(), nonce, expires_at_ms, uses)
    };
    let community_id = capability.terms().community;
    let invite_id = capability.id();
    let invite = Invite { community: community_id, addrs: all.clone(), capability };
    Ok(InviteOut {
        invite: invite.encode(),
        id: invite_id.to_string(),
        community_id: community_id.to_string(),
        addrs: all,
        expires_at: rfc3339(expires_at_ms),
        expires_at_ms,
        uses: Some(uses),
        signed: true,
    })
}

async fn create_invite(
    State(state): State<ApiState>,
    Input(request): Input<NewInvite>,
) -> Result<Json<InviteOut>, ApiError> {
    Ok(Json(make_invite(&state.node, &request).await?))
}

/// A one-time link to sign a browser in to the web page (good once, for ten minutes).
async fn create_login_link(State(state): State<ApiState>) -> Result<Json<LoginLink>, ApiError> {
    let now = now_ms();
    let (code, expires_at_ms) = state.gate.mint(now).map_err(ApiError::Internal)?;
    Ok(Json(LoginLink {
        url: format!("{}/login?code={code}", state.gate.base_url()),
        expires_at: rfc3339(expires_at_ms),
        expires_at_ms,
    }))
}

/// A one-time pairing code for a device on the home network (`kith pair`).
async fn create_pairing(State(state): State<ApiState>) -> Result<Json<PairingOut>, ApiError> {
    let Some(lan) = &state.lan else {
        return Err(ApiError::Refused(
            "the page is not served on the home network: start the node with `kith run --lan`".to_string(),
        ));
    };
    let pairing = crate::sessions::new_pairing(&state.node, lan).await.map_err(ApiError::Internal)?;
    Ok(Json(PairingOut {
        code: pairing.code,
        page: pairing.base,
        url: pairing.url,
        expires_at: rfc3339(pairing.expires_at_ms),
        expires_at_ms: pairing.expires_at_ms,
    }))
}

async fn peers(State(state): State<ApiState>) -> Json<Vec<Peer>> {
    let connected = state.node.peers().await;
    let replica = state.node.replica();
    let community = replica.community();
    let mut out: Vec<Peer> = connected
        .into_iter()
        .map(|peer| {
            let name = peer
                .member_id
                .as_ref()
                .and_then(|id| id.parse::<MemberId>().ok())
                .and_then(|id| community.and_then(|c| c.member(&id)))
                .filter(|m| m.profile.is_some())
                .map(Member::name);
            Peer { peer_id: peer.peer_id, addrs: peer.addrs, member_id: peer.member_id, name, relayed: peer.relayed }
        })
        .collect();
    out.sort_by(|a, b| a.peer_id.cmp(&b.peer_id));
    Json(out)
}

#[derive(Debug, Default, Deserialize)]
struct BoardQuery {
    kind: Option<String>,
    category: Option<String>,
    search: Option<String>,
    #[serde(default)]
    all: bool,
    limit: Option<usize>,
}

async fn board(
    State(state): State<ApiState>,
    Params(query): Params<BoardQuery>,
) -> Result<Json<Vec<PostSummary>>, ApiError> {
    let kind = query.kind.as_deref().map(parse_kind).transpose()?;
    let category = query.category.as_deref().map(str::trim).filter(|c| !c.is_empty()).map(str::to_lowercase);
    let search = query.search.as_deref().map(str::trim).filter(|s| !s.is_empty()).map(str::to_lowercase);
    let limit = query.limit.unwrap_or(MAX_BOARD_POSTS).min(MAX_BOARD_POSTS);
    let now = now_ms();
    let replica = state.node.replica();
    let community = community(&replica)?;
    let mut out = Vec::new();
    for view in replica.store().posts(community)? {
        let Some(post) = community.post(&view.id) else { continue };
        if !community.post_visible(&post) || kind.is_some_and(|k| k != post.kind) {
            continue;
        }
        let status = post_status(post.status, post.expires_at_ms, now);
        if !query.all && status != "open" {
            continue;
        }
        if category.as_ref().is_some_and(|c| view.category.to_lowercase() != *c) {
            continue;
        }
        if let Some(words) = &search {
            let haystack =
                format!("{}\n{}\n{}\n{}", view.title, view.details, view.category, view.place).to_lowercase();
            if !haystack.contains(words.as_str()) {
                continue;
            }
        }
        out.push(PostSummary { post: post_fields(community, &view, &post, now), replies: post.replies });
        if out.len() >= limit {
            break;
        }
    }
    Ok(Json(out))
}

async fn create_post(State(state): State<ApiState>, Input(new): Input<NewPost>) -> Result<Json<Created>, ApiError> {
    let kind = parse_kind(&new.kind)?;
    let schedule = new.schedule.as_ref().map(schedule_of).transpose()?;
    let body = Body::Post {
        kind,
        title: new.title,
        details: new.details,
        category: new.category,
        when: new.when,
        place: new.place,
        expires_at: new.expires_at_ms.or_else(|| schedule.as_ref().and_then(gathering_ends)),
        schedule,
    };
    Ok(Json(publish(&state.node, body).await?))
}

/// "I'll come" or "can't come after all", to every date or one.
async fn come(
    State(state): State<ApiState>,
    Path(post): Path<String>,
    Input(new): Input<NewCome>,
) -> Result<Json<Created>, ApiError> {
    let post = resolve_post(&state.node, &post)?;
    let date = new
        .date
        .as_deref()
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .map(crate::when::parse_day)
        .transpose()
        .map_err(ApiError::BadRequest)?;
    Ok(Json(publish(&state.node, Body::Come { post, date, coming: new.coming }).await?))
}

/// Another lifetime for one's own post.
async fn renew(State(state): State<ApiState>, Path(post): Path<String>) -> Result<Json<Created>, ApiError> {
    let post = resolve_post(&state.node, &post)?;
    Ok(Json(publish(&state.node, Body::Renew { post }).await?))
}

fn ics_response(text: String) -> Response {
    let mut response = text.into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/calendar; charset=utf-8"));
    response
}

/// A gathering as iCalendar text.
async fn post_calendar(State(state): State<ApiState>, Path(post): Path<String>) -> Result<Response, ApiError> {
    let hash = resolve_post(&state.node, &post)?;
    let replica = state.node.replica();
    let community = community(&replica)?;
    Ok(ics_response(gathering_calendar(&replica, community, &[hash])?))
}

#[derive(Debug, Default, Deserialize)]
struct InboxQuery {
    #[serde(default)]
    all: bool,
}

/// `GET /api/inbox`: unread items (all with `all`), newest first.
async fn inbox(
    State(state): State<ApiState>,
    Params(query): Params<InboxQuery>,
) -> Result<Json<Vec<InboxItem>>, ApiError> {
    let replica = state.node.replica();
    community(&replica)?;
    let mut items = crate::inbox::items(&replica, &state.inbox, now_ms())?;
    if !query.all {
        items.retain(|i| !i.read);
    }
    Ok(Json(items))
}

/// `POST /api/inbox/read`: marks items read on this node.
async fn inbox_read(State(state): State<ApiState>, Input(new): Input<NewRead>) -> Result<Json<Created>, ApiError> {
    let replica = state.node.replica();
    let ids: Vec<String> = if new.all {
        crate::inbox::items(&replica, &state.inbox, now_ms())?.into_iter().map(|i| i.id).collect()
    } else {
        let known: std::collections::BTreeSet<String> =
            crate::inbox::items(&replica, &state.inbox, now_ms())?.into_iter().map(|i| i.id).collect();
        for id in &new.ids {
            if !known.contains(id) {
                return Err(ApiError::NotFound(format!("there is no item {id} in the inbox")));
            }
        }
        new.ids.clone()
    };
    crate::inbox::mark_read(&replica, &ids)?;
    Ok(Json(Created { id: String::new() }))
}

/// `POST /api/checkins`: opt in (or out) of being checked on.
async fn set_checkins(
    State(state): State<ApiState>,
    Input(new): Input<NewCheckIns>,
) -> Result<Json<Created>, ApiError> {
    let mut buddies = Vec::new();
    for text in &new.buddies {
        let id = resolve_member(&state.node, text)?;
        if id == state.node.replica().me() {
            return Err(ApiError::BadRequest("you cannot be your own buddy: name a neighbour".into()));
        }
        if !buddies.contains(&id) {
            buddies.push(id);
        }
    }
    if new.days.is_none() {
        buddies.clear();
    }
    Ok(Json(publish(&state.node, Body::CheckIns { days: new.days, buddies }).await?))
}

/// `POST /api/checkin`: "I'm fine today".
async fn checkin(State(state): State<ApiState>) -> Result<Json<Created>, ApiError> {
    Ok(Json(publish(&state.node, Body::CheckIn).await?))
}

/// `GET /api/calendar`: the secret address of this member's calendar feed.
async fn calendar_feed(State(state): State<ApiState>) -> Result<Json<CalendarFeed>, ApiError> {
    let replica = state.node.replica();
    let secret = calendar_secret(&replica)?;
    Ok(Json(CalendarFeed { url: format!("{}/calendar/{secret}.ics", state.gate.base_url()) }))
}

async fn show_post(State(state): State<ApiState>, Path(post): Path<String>) -> Result<Json<PostDetail>, ApiError> {
    let hash = resolve_post(&state.node, &post)?;
    let replica = state.node.replica();
    let community = community(&replica)?;
    Ok(Json(post_detail(&replica, community, &hash, now_ms())?))
}

async fn create_reply(
    State(state): State<ApiState>,
    Path(post): Path<String>,
    Input(new): Input<NewReply>,
) -> Result<Json<Created>, ApiError> {
    let post = resolve_post(&state.node, &post)?;
    Ok(Json(publish(&state.node, Body::Reply { post, text: new.text }).await?))
}

async fn set_status(
    State(state): State<ApiState>,
    Path(post): Path<String>,
    Input(new): Input<NewStatus>,
) -> Result<Json<Created>, ApiError> {
    let status = match new.status.to_ascii_lowercase().as_str() {
        "open" => PostStatus::Open,
        "done" => PostStatus::Done,
        "withdrawn" => PostStatus::Withdrawn,
        other => return Err(ApiError::BadRequest(format!("`{other}` is not a post status: open, done or withdrawn"))),
    };
    let post = resolve_post(&state.node, &post)?;
    Ok(Json(publish(&state.node, Body::PostStatus { post, status }).await?))
}

async fn create_transfer(
    State(state): State<ApiState>,
    Input(new): Input<NewTransfer>,
) -> Result<Json<Created>, ApiError> {
    let to = resolve_member(&state.node, &new.to)?;
    let for_post = new.for_post.as_deref().map(|p| resolve_post(&state.node, p)).transpose()?;
    let body = Body::Transfer { to, minutes: Minutes(new.minutes), memo: new.memo, for_post };
    Ok(Json(publish(&state.node, body).await?))
}

#[derive(Debug, Default, Deserialize)]
struct MemberQuery {
    member: Option<String>,
}

/// The member a query names, or this node's member.
fn member_or_me(node: &NodeHandle, query: &MemberQuery) -> Result<MemberId, ApiError> {
    match query.member.as_deref().map(str::trim).filter(|m| !m.is_empty()) {
        Some(text) => resolve_member(node, text),
        None => Ok(node.replica().me()),
    }
}

async fn balance(State(state): State<ApiState>, Params(query): Params<MemberQuery>) -> Result<Json<Balance>, ApiError> {
    let id = member_or_me(&state.node, &query)?;
    let replica = state.node.replica();
    let community = community(&replica)?;
    let member = community.member(&id);
    let unclaimed = community
        .transfers()
        .filter(|(_, t)| t.to == id && t.claimed_by.is_none())
        .map(|(_, t)| i64::from(t.minutes.0))
        .sum();
    let (helped_by, helped_by_name) = crate::read::helped_by(community, crate::read::helper_now(community, &id));
    Ok(Json(Balance {
        helped_by,
        helped_by_name,
        member_id: id.to_string(),
        name: name_of(community, &id),
        balance_minutes: member.map_or(0, |m| m.balance_minutes),
        given_minutes: member.map_or(0, |m| m.given_minutes),
        received_minutes: member.map_or(0, |m| m.received_minutes),
        credit_limit_minutes: community.rules().credit_limit.0,
        unclaimed_minutes: unclaimed,
    }))
}

async fn statement(
    State(state): State<ApiState>,
    Params(query): Params<MemberQuery>,
) -> Result<Json<Vec<TransferOut>>, ApiError> {
    let id = member_or_me(&state.node, &query)?;
    let replica = state.node.replica();
    let community = community(&replica)?;
    let mut out = Vec::new();
    for view in replica.store().transfers_of(community, &id)? {
        if let Some(transfer) = transfer_out(&replica, community, &view.id)? {
            out.push(transfer);
        }
    }
    Ok(Json(out))
}

#[derive(Debug, Default, Deserialize)]
struct MembersQuery {
    #[serde(default)]
    pending: bool,
}

async fn members(
    State(state): State<ApiState>,
    Params(query): Params<MembersQuery>,
) -> Result<Json<Vec<MemberOut>>, ApiError> {
    let replica = state.node.replica();
    Ok(Json(member_list(community(&replica)?, query.pending)))
}

/// Changes only the fields given; the others stay as the current profile has them.
async fn set_profile(State(state): State<ApiState>, Input(new): Input<NewProfile>) -> Result<Json<Created>, ApiError> {
    let (current, known_name) = {
        let replica = state.node.replica();
        let me = replica.me();
        // The name the community knows: the latest profile's, or the join request's.
        let community = community(&replica)?;
        let known_name =
            community.member(&me).and_then(|m| m.profile.as_ref()).filter(|p| !p.redacted).map(|p| p.name.clone());
        (replica.store().profile(community, &me)?, known_name)
    };
    let name = match (new.name, &current, known_name) {
        (Some(name), _, _) => name,
        (None, Some(current), _) => current.name.clone(),
        (None, None, Some(name)) => name,
        (None, None, None) => return Err(ApiError::BadRequest("a first profile needs a name".into())),
    };
    let body = Body::Profile {
        name,
        about: new.about.or_else(|| current.as_ref().map(|c| c.about.clone())).unwrap_or_default(),
        area: new.area.or_else(|| current.as_ref().map(|c| c.area.clone())).unwrap_or_default(),
        skills: new.skills.or_else(|| current.as_ref().map(|c| c.skills.clone())).unwrap_or_default(),
        contact: new.contact.or_else(|| current.as_ref().map(|c| c.contact.clone())).unwrap_or_default(),
    };
    Ok(Json(publish(&state.node, body).await?))
}

async fn create_vouch(State(state): State<ApiState>, Input(new): Input<NewVouch>) -> Result<Json<Created>, ApiError> {
    let member = resolve_member(&state.node, &new.member)?;
    Ok(Json(publish(&state.node, Body::Vouch { member, note: new.note }).await?))
}

/// The id of an invite named by its id (hex) or its whole line.
pub fn invite_id(text: &str) -> Result<kith_protocol::invite::InviteId, String> {
    let text = text.trim();
    if text.starts_with(crate::invite::INVITE_PREFIX) {
        return Invite::decode(text).map(|invite| invite.capability.id()).map_err(|e| e.to_string());
    }
    text.parse().map_err(|_| format!("`{text}` is neither an invite line (kith:…) nor an invite id (64 hex digits)"))
}

async fn revoke_invite(
    State(state): State<ApiState>,
    Input(request): Input<RevokeInvite>,
) -> Result<Json<Created>, ApiError> {
    let invite = invite_id(&request.invite).map_err(ApiError::BadRequest)?;
    Ok(Json(publish(&state.node, Body::RevokeInvite { invite }).await?))
}

async fn create_suspension(
    State(state): State<ApiState>,
    Input(new): Input<NewSuspension>,
) -> Result<Json<Created>, ApiError> {
    let member = resolve_member(&state.node, &new.member)?;
    // The suspension starts after the member's latest entry this node holds: what they wrote
    // before stays as it was, whatever arrives later.
    let after_seq = state.node.replica().head_seq(&member);
    Ok(Json(publish(&state.node, Body::Suspend { member, reason: new.reason, after_seq }).await?))
}

/// Ends every suspension of the member in force, each from the member's latest entry this
/// node holds on (what they write next counts again). Returns the last reinstatement's id.
async fn create_reinstatement(
    State(state): State<ApiState>,
    Input(new): Input<NewReinstatement>,
) -> Result<Json<Created>, ApiError> {
    let member = resolve_member(&state.node, &new.member)?;
    let (suspensions, after_seq, name) = {
        let replica = state.node.replica();
        let community = community(&replica)?;
        let found: Vec<EntryHash> = community.suspensions_in_force(&member).iter().map(|s| s.hash).collect();
        (found, replica.head_seq(&member), name_of(community, &member))
    };
    if suspensions.is_empty() {
        return Err(ApiError::Refused(format!("{name} is not suspended")));
    }
    let mut created = None;
    for suspension in suspensions {
        created = Some(publish(&state.node, Body::Reinstate { suspension, after_seq }).await?);
    }
    created.map(Json).ok_or_else(|| ApiError::Internal("no reinstatement written".into()))
}

/// Removes an organiser's role from the member's latest entry this node holds on.
async fn create_dismissal(
    State(state): State<ApiState>,
    Input(new): Input<NewDismissal>,
) -> Result<Json<Created>, ApiError> {
    let member = resolve_member(&state.node, &new.member)?;
    let (organiser, after_seq, name) = {
        let replica = state.node.replica();
        let community = community(&replica)?;
        let organiser = community.member(&member).is_some_and(|m| m.organiser);
        (organiser, replica.head_seq(&member), name_of(community, &member))
    };
    if !organiser {
        return Err(ApiError::Refused(format!("{name} is not an organiser")));
    }
    Ok(Json(publish(&state.node, Body::Dismiss { member, after_seq }).await?))
}

async fn create_appointment(
    State(state): State<ApiState>,
    Input(new): Input<NewAppointment>,
) -> Result<Json<Created>, ApiError> {
    let role = match new.role.to_ascii_lowercase().as_str() {
        "organiser" | "organizer" => Role::Organiser,
        "hub" => Role::Hub,
        other => return Err(ApiError::BadRequest(format!("`{other}` is not a role: organiser or hub"))),
    };
    let member = resolve_member(&state.node, &new.member)?;
    Ok(Json(publish(&state.node, Body::Appoint { member, role }).await?))
}

#[derive(Debug, Default, Deserialize)]
struct ExportQuery {
    format: Option<String>,
}

async fn export(State(state): State<ApiState>, Params(query): Params<ExportQuery>) -> Result<Response, ApiError> {
    let csv = match query.format.as_deref().unwrap_or("json") {
        "json" => false,
        "csv" => true,
        other => return Err(ApiError::BadRequest(format!("`{other}` is not an export format: json or csv"))),
    };
    // Off the runtime's workers: it reads every post's and transfer's entry.
    let document = state
        .node
        .read_blocking(export_document)
        .await
        .map_err(|e| ApiError::Internal(format!("the export could not be made: {e}")))??;
    if csv {
        let mut response = export::csv(&document).into_response();
        response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/csv; charset=utf-8"));
        return Ok(response);
    }
    Ok(Json(document).into_response())
}

/// `GET /api/board/print`: the printable board as a standalone HTML file, drawn off the
/// runtime's workers (it reads every open post's entry).
async fn printed_board(State(state): State<ApiState>) -> Result<Response, ApiError> {
    let print_board = state.print_board;
    let drawn =
        state.node.read_blocking(move |replica| Ok::<_, ApiError>(print_board(replica, community(replica)?, now_ms())));
    let html = drawn.await.map_err(|e| ApiError::Internal(format!("the board could not be printed: {e}")))??;
    let mut response = html.into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    Ok(response)
}

async fn announcements(State(state): State<ApiState>) -> Result<Json<Vec<announce::AnnouncementOut>>, ApiError> {
    let replica = state.node.replica();
    Ok(Json(announce::current(&replica, community(&replica)?, now_ms())))
}

async fn create_announcement(
    State(state): State<ApiState>,
    Input(new): Input<announce::NewAnnouncement>,
) -> Result<Json<Created>, ApiError> {
    Ok(Json(publish(&state.node, new.body(now_ms())?).await?))
}

/// `GET /api/report`: tallies every entry held, off the async threads (it reads them all).
async fn organisers_report(
    State(state): State<ApiState>,
    Params(query): Params<report::ReportQuery>,
) -> Result<Response, ApiError> {
    let csv = match query.format.as_deref().unwrap_or("json") {
        "json" => false,
        "csv" => true,
        other => return Err(ApiError::BadRequest(format!("`{other}` is not a report format: json or csv"))),
    };
    let now = now_ms();
    let period = report::period(&query, now)?;
    let built = state
        .node
        .read_blocking(move |replica| report::build(replica, period, now))
        .await
        .map_err(|e| ApiError::Internal(format!("the report could not be made: {e}")))??;
    if csv {
        let mut response = report::csv(&built).into_response();
        response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/csv; charset=utf-8"));
        return Ok(response);
    }
    Ok(Json(built).into_response())
}

fn export_document(replica: &Replica) -> Result<Export, ApiError> {
    let now = now_ms();
    let community = community(replica)?;
    let mut posts = Vec::new();
    for view in replica.store().posts(community)? {
        if community.post(&view.id).is_some_and(|p| community.post_visible(&p)) {
            posts.push(post_detail(replica, community, &view.id, now)?);
        }
    }
    let mut transfers = Vec::new();
    for (hash, _) in community.transfers() {
        if let Some(transfer) = transfer_out(replica, community, &hash)? {
            transfers.push(transfer);
        }
    }
    transfers.sort_by_key(|t| std::cmp::Reverse(t.created_at_ms));
    let rules = community.rules();
    Ok(Export {
        community_id: community.id().to_string(),
        community_name: community.name().to_string(),
        description: community.description().to_string(),
        founder: community.founder().to_string(),
        credit_limit_minutes: rules.credit_limit.0,
        vouches_needed: rules.vouches_needed,
        post_lifetime_days: rules.post_lifetime_days,
        exported_at: rfc3339(now),
        members: member_list(community, false),
        posts,
        transfers,
    })
}

async fn events(State(state): State<ApiState>) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let receiver = state.node.events.subscribe();
    let shutdown = state.node.shutdown.clone();
    let stream = futures::stream::unfold((receiver, shutdown), |(mut receiver, shutdown)| async move {
        let next = tokio::select! {
            () = shutdown.cancelled() => return None,
            next = receiver.recv() => next,
        };
        let event = match next {
            Ok(event) => sse_event(&event),
            Err(RecvError::Lagged(missed)) => Event::default().event("lagged").data(missed.to_string()),
            Err(RecvError::Closed) => return None,
        };
        Some((Ok(event), (receiver, shutdown)))
    });
    Sse::new(stream).keep_alive(KeepAlive::default())
}

/// A node event as SSE: the event name is its `type`, the data its JSON.
fn sse_event(event: &NodeEvent) -> Event {
    let json = serde_json::to_value(event).unwrap_or_default();
    let name = json.get("type").and_then(|t| t.as_str()).unwrap_or("event").to_string();
    Event::default().event(name).data(json.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_compare_whole() {
        assert!(same_bytes(b"abc", b"abc"));
        assert!(!same_bytes(b"abc", b"abd"));
        assert!(!same_bytes(b"abc", b"ab"));
    }

    #[test]
    fn statuses_read_like_the_contract() {
        assert_eq!(post_status(PostStatus::Open, 10, 5), "open");
        assert_eq!(post_status(PostStatus::Open, 10, 11), "expired");
        assert_eq!(post_status(PostStatus::Done, 10, 11), "done");
        assert_eq!(ApiError::Ambiguous(String::new()).status(), StatusCode::CONFLICT);
        assert_eq!(ApiError::Refused(String::new()).status(), StatusCode::UNPROCESSABLE_ENTITY);
    }
}
