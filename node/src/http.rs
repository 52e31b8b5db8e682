//! The node's HTTP server, assembled from its two front doors: the JSON API ([`crate::api`],
//! token, loopback only) and the web page ([`crate::web`], cookie sessions). This module alone
//! names both; each door reads the community through [`crate::read`] and signs people in
//! through [`crate::sessions`], and neither names the other.
//!
//! Dependency direction: `http` → the doors (`api`, `web`) → what they share (`read`,
//! `sessions`, `inbox`) → `node` (`NodeHandle`), `replica`, `store`. The node does not serve
//! HTTP by itself: `kith run` asks [`serve_node`] to.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::Request;
use axum::http::StatusCode;
use tokio_util::task::TaskTracker;
use tower::ServiceExt as _;

use crate::clock::now_ms;
use crate::home::ApiInfo;
use crate::inbox::Cache;
use crate::node::{Node, NodeError, NodeHandle};
use crate::read::new_token;
use crate::sessions::Gate;

/// Serves the local API and the page of a started node on `api` (loopback only), and with
/// `lan` the page alone on the home network too; records where on the node.
pub async fn serve_node(node: &mut Node, api: SocketAddr, lan: Option<SocketAddr>) -> Result<SocketAddr, NodeError> {
    let bound = serve(node.handle(), api, lan, node.tasks()).await.map_err(NodeError::Api)?;
    node.served(bound, lan.is_some());
    Ok(bound)
}

/// Serves the API on `addr` (loopback only), writes `api.json` in the node's home, and stops
/// when the node's shutdown token is cancelled. Returns the bound address.
/// With `lan`, the web page (never the API) is also served there, behind pairing
/// ([`serve_lan`]).
pub async fn serve(
    node: NodeHandle,
    addr: SocketAddr,
    lan: Option<SocketAddr>,
    tasks: &TaskTracker,
) -> Result<SocketAddr, String> {
    if !addr.ip().is_loopback() {
        return Err(format!("the API only listens on loopback (127.0.0.1 or ::1), not {addr}"));
    }
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    let bound = listener.local_addr().map_err(|e| format!("cannot read the API's address: {e}"))?;
    let token = new_token()?;
    node.home
        .write_api_info(&ApiInfo { url: format!("http://{bound}"), token: token.clone() })
        .map_err(|e| e.to_string())?;
    let shutdown = node.shutdown.clone();
    let short_id = node.replica().me().short();
    let gate = Gate::remembering(bound, node.home.web_sessions_path(), now_ms()).for_node(&short_id);
    let inbox = Arc::new(Cache::default());
    let lan_gate = match lan {
        Some(lan) => Some(serve_lan(node.clone(), lan, inbox.clone(), tasks).await?),
        None => None,
    };
    let print = crate::web::print::standalone;
    let api = crate::api::router(node.clone(), token, gate.clone(), lan_gate.clone(), print, inbox.clone());
    let app = both(api, crate::web::router(node, gate, lan_gate, inbox));
    tasks.spawn(async move {
        let served = axum::serve(listener, app).with_graceful_shutdown(shutdown.cancelled_owned()).await;
        if let Err(error) = served {
            tracing::error!(%error, "the local API stopped");
        }
    });
    tracing::info!(url = %format!("http://{bound}"), "local API listening");
    Ok(bound)
}

/// Serves the web page alone on the home network's address `addr` (`kith run --lan`), behind
/// the LAN door: nothing but the pairing page until a device is paired, its session bound to
/// the device's address, and no `/api`. Paired devices are kept in `lan-sessions.json`.
pub async fn serve_lan(
    node: NodeHandle,
    addr: SocketAddr,
    inbox: Arc<Cache>,
    tasks: &TaskTracker,
) -> Result<Gate, String> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot serve the page on the home network at {addr}: {e}"))?;
    let bound = listener.local_addr().map_err(|e| format!("cannot read the home network page's address: {e}"))?;
    let gate = Gate::remembering(bound, node.home.dir().join("lan-sessions.json"), now_ms()).on_lan();
    // The same page behind the LAN door (pairing only until paired), and no API at all.
    let no_api = Router::new().fallback(|| async { StatusCode::NOT_FOUND });
    let app = both(no_api, crate::web::router(node.clone(), gate.clone(), Some(gate.clone()), inbox));
    let shutdown = node.shutdown.clone();
    tasks.spawn(async move {
        let service = app.into_make_service_with_connect_info::<SocketAddr>();
        let served = axum::serve(listener, service).with_graceful_shutdown(shutdown.cancelled_owned()).await;
        if let Err(error) = served {
            tracing::error!(%error, "the page on the home network stopped");
        }
    });
    tracing::info!(addr = %bound, "web page on the home network (pairing needed)");
    Ok(gate)
}

/// One router from the two doors: each request goes whole to the API (`/api` and below) or
/// to the page, so that neither sees the other's path captures or fallback.
fn both(api: Router, web: Router) -> Router {
    let dispatch = tower::service_fn(move |request: Request| {
        let path = request.uri().path();
        let router = if path == "/api" || path.starts_with("/api/") { api.clone() } else { web.clone() };
        router.oneshot(request)
    });
    Router::new().fallback_service(dispatch)
}
