//! The HTTP listener: `/mcp` (Streamable HTTP, both protocol eras) and `/healthz`.
//!
//! rmcp settings that matter (reference/mcp.md §0, §2.3): no legacy sessions (a session idle for
//! 5 minutes expires and many clients do not recover) and JSON responses (the official Python
//! client rejects SSE events over 1 MiB, i.e. large screenshots). Origin validation is off in
//! rmcp by default; we turn it on with the listener's own origins.

use std::net::SocketAddr;
use std::sync::Arc;

use agentdesk_desktop::{DesktopManager, ModelSpace};
use anyhow::Context as _;
use axum::routing::get;
use axum::{Json, Router};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use tokio_util::sync::CancellationToken;

use crate::mcp::AgentDesk;

/// How to serve HTTP.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// Where to listen (default 127.0.0.1:3000).
    pub listen: SocketAddr,
    /// Extra browser origins allowed to call /mcp (the listener's own are always allowed).
    pub allowed_origins: Vec<String>,
    /// Extra Host names accepted (loopback names are always accepted).
    pub allowed_hosts: Vec<String>,
    /// The model space for requests that name none.
    pub default_space: ModelSpace,
}

/// Serves until `shutdown` is cancelled. `ready` receives the bound address (useful with port 0).
pub async fn serve_http(
    manager: Arc<DesktopManager>,
    config: HttpConfig,
    shutdown: CancellationToken,
    ready: impl FnOnce(SocketAddr),
) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("error listening on {}; is another agentdesk running? (--listen changes the address)", config.listen))?;
    let addr = listener.local_addr()?;
    let port = addr.port();
    let mut origins: Vec<String> = ["127.0.0.1", "localhost", "[::1]"]
        .iter()
        .map(|h| format!("http://{h}:{port}"))
        .collect();
    origins.extend(config.allowed_origins.iter().cloned());
    let mut hosts: Vec<String> = ["localhost", "127.0.0.1", "::1"]
        .iter()
        .map(|h| h.to_string())
        .collect();
    hosts.extend(config.allowed_hosts.iter().cloned());
    if !addr.ip().is_loopback() && !addr.ip().is_unspecified() {
        hosts.push(addr.ip().to_string());
    }
    let mcp_config = StreamableHttpServerConfig::default()
        .with_legacy_session_mode(false)
        .with_json_response(true)
        .with_allowed_origins(origins)
        .with_allowed_hosts(hosts)
        .with_cancellation_token(shutdown.child_token());
    let service_manager = manager.clone();
    let default_space = config.default_space;
    let mcp = StreamableHttpService::new(
        move || Ok(AgentDesk::new(service_manager.clone(), default_space)),
        Arc::new(LocalSessionManager::default()),
        mcp_config,
    );
    let health_manager = manager.clone();
    let app = Router::new().nest_service("/mcp", mcp).route(
        "/healthz",
        get(move || {
            let manager = health_manager.clone();
            async move {
                let desktop = manager.default_desktop();
                let display = desktop.as_ref().and_then(|d| d.display());
                // The display lets local tools (and `agentdesk bench`'s conventional
                // comparison) reach the same X server; it is only served on our listener.
                Json(serde_json::json!({
                    "status": "ok",
                    "desktop": if display.is_some() { "running" } else { "not ready" },
                    "display": display,
                }))
            }
        }),
    );
    tracing::info!("serving MCP at http://{addr}/mcp");
    ready(addr);
    axum::serve(listener, app)
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await
        .context("HTTP server failed")
}
