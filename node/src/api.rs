//! The node's local HTTP API (placeholder until the API lands): binds 127.0.0.1 only.

use std::net::SocketAddr;

use tokio_util::task::TaskTracker;

use crate::node::NodeHandle;

/// Serves the API on `addr` (loopback only). Returns the bound address.
pub async fn serve(_node: NodeHandle, addr: SocketAddr, _tasks: &TaskTracker) -> Result<SocketAddr, String> {
    if !addr.ip().is_loopback() {
        return Err(format!("the API only listens on loopback, not {addr}"));
    }
    Err("the local API is not built yet".into())
}
