//! The HTTP listener: `/mcp` (Streamable HTTP, both protocol eras), the live view (its pages,
//! WebSocket and control endpoints, the login) and `/healthz`, over plain TCP or TLS, behind
//! the [gate](crate::guard) (tokens or session cookie, body size, rate limit).
//!
//! rmcp settings that matter: no legacy sessions (a session idle for
//! 5 minutes expires and many clients do not recover) and JSON responses (the official Python
//! client rejects SSE events over 1 MiB, i.e. large screenshots). Origin validation is off in
//! rmcp by default; we turn it on with the listener's own origins.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use agentdesk_desktop::DesktopManager;
use agentdesk_security::{Posture, PostureRequest, RateLimit, RateLimiter, Sessions};
use anyhow::Context as _;
use axum::extract::DefaultBodyLimit;
use axum::extract::State;
use axum::routing::{any, get, post};
use axum::{Json, Router};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use tokio_util::sync::CancellationToken;

use crate::agent::{self, AgentConfig};
use crate::auth::{Identity, Tokens};
use crate::guard::{self, Gate};
use crate::mcp::{AgentDesk, ServiceConfig, Transport};
use crate::state::AppState;
use crate::tls::{self, TlsFiles, TlsListener};
use crate::web::{self, WebConfig};
use crate::{computer, files, live, login, rest};

/// The largest request body accepted by default: a maximal clipboard_set (2 MiB of text) with
/// room for JSON escaping. A request costs the server a few times its body while it runs.
pub const DEFAULT_MAX_BODY_BYTES: usize = 4 * 1024 * 1024;

/// How to serve HTTP.
#[derive(Debug)]
pub struct HttpConfig {
    /// Where to listen (default 127.0.0.1:3000).
    pub listen: SocketAddr,
    /// Extra browser origins allowed to call /mcp (the listener's own are always allowed).
    pub allowed_origins: Vec<String>,
    /// Extra Host names accepted (loopback names are always accepted).
    pub allowed_hosts: Vec<String>,
    /// Certificate and key for HTTPS.
    pub tls: Option<TlsFiles>,
    /// Plain HTTP on a non-loopback address is intended (a TLS proxy is in front).
    pub insecure_http: bool,
    /// The bearer tokens; when any is configured, every request needs one.
    pub tokens: Tokens,
    /// Tool calls per token; `None` for no limit.
    pub rate_limit: Option<RateLimit>,
    /// The largest request body.
    pub max_body_bytes: usize,
    /// What every MCP request is served with.
    pub service: ServiceConfig,
    /// What the live view's pages need (noVNC's location).
    pub web: WebConfig,
    /// The agent loop's caps and the providers' keys.
    pub agent: AgentConfig,
}

impl HttpConfig {
    /// Refuses a posture agentdesk does not serve (a non-loopback listener without a token, or
    /// without TLS and the explicit opt-in) and reads the certificate, so that the binary can
    /// fail before it starts a desktop. Returns the posture and the TLS configuration.
    pub fn check(&self) -> anyhow::Result<(Posture, Option<Arc<rustls::ServerConfig>>)> {
        let posture = PostureRequest {
            listen: self.listen,
            has_tokens: self.tokens.configured(),
            tls: self.tls.is_some(),
            insecure_http: self.insecure_http,
        }
        .decide()?;
        let tls = self.tls.as_ref().map(tls::server_config).transpose()?;
        Ok((posture, tls))
    }
}

/// Checks the posture, then serves until `shutdown` is cancelled. `ready` receives the bound
/// address (useful with port 0) and the scheme (`http` or `https`).
pub async fn serve_http(
    manager: Arc<DesktopManager>,
    config: HttpConfig,
    shutdown: CancellationToken,
    ready: impl FnOnce(SocketAddr, &str),
) -> anyhow::Result<()> {
    let (posture, tls) = config.check()?;
    let _flusher = crate::audit::RefusalFlusher::start(config.service.audit.clone());
    if let Some(warning) = &posture.warning {
        tracing::warn!("{warning}");
    }
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("error listening on {}; is another agentdesk running? (--listen changes the address)", config.listen))?;
    let addr = listener.local_addr()?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    let app = router(manager, config, addr, shutdown.child_token());
    tracing::info!(
        tokens = posture.require_token,
        "serving MCP at {scheme}://{addr}/mcp"
    );
    ready(addr, scheme);
    let stopping = shutdown.clone();
    let shutdown = async move { shutdown.cancelled().await };
    let service = app.into_make_service_with_connect_info::<guard::Peer>();
    let serve = async move {
        match tls {
            Some(tls) => axum::serve(TlsListener::new(listener, tls)?, service)
                .with_graceful_shutdown(shutdown)
                .await
                .context("HTTPS server failed"),
            None => axum::serve(listener, service)
                .with_graceful_shutdown(shutdown)
                .await
                .context("HTTP server failed"),
        }
    };
    // Graceful, within a limit: a client that stopped reading (a stalled event stream) must
    // not keep the server from stopping.
    tokio::select! {
        served = serve => served,
        () = async {
            stopping.cancelled().await;
            tokio::time::sleep(SHUTDOWN_LIMIT).await;
        } => {
            tracing::warn!(
                "connections still open {} s after the stop was asked; closing them",
                SHUTDOWN_LIMIT.as_secs()
            );
            Ok(())
        }
    }
}

/// How long a stopping listener waits for its open connections to finish.
const SHUTDOWN_LIMIT: std::time::Duration = std::time::Duration::from_secs(10);

/// The whole HTTP surface for a listener at `addr`: every route, behind the gate. Served by
/// [`serve_http`]; tests drive it in-process (each request then needs a
/// `ConnectInfo<`[`Peer`](crate::Peer)`>` extension, which a listener adds).
pub fn router(
    manager: Arc<DesktopManager>,
    config: HttpConfig,
    addr: SocketAddr,
    cancel: CancellationToken,
) -> Router {
    let scheme = if config.tls.is_some() {
        "https"
    } else {
        "http"
    };
    let port = addr.port();
    let mut origins: Vec<String> = ["127.0.0.1", "localhost", "[::1]"]
        .iter()
        .map(|h| format!("{scheme}://{h}:{port}"))
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
        .with_allowed_origins(origins.clone())
        .with_allowed_hosts(hosts.clone())
        // The gate enforces our own limit first, with a JSON-RPC answer.
        .with_max_request_body_bytes(config.max_body_bytes)
        .with_cancellation_token(cancel.clone());
    let service_manager = manager.clone();
    let service = config.service.clone();
    // One service for /mcp and every desktop's endpoint: it reads which from the request's
    // path (`mcp.rs`).
    let mcp = StreamableHttpService::new(
        move || {
            Ok(AgentDesk::new(
                service_manager.clone(),
                service.clone(),
                Transport::Http,
            ))
        },
        Arc::new(LocalSessionManager::default()),
        mcp_config,
    );
    let tasks = agent::Tasks::new(config.agent, manager.data_dir());
    let app = Arc::new(AppState {
        gate: Gate {
            tokens: config.tokens,
            limit: config.rate_limit,
            limiter: Mutex::new(config.rate_limit.map(RateLimiter::new)),
            live_limiter: Mutex::new(config.rate_limit.map(RateLimiter::new)),
            max_body_bytes: config.max_body_bytes,
            allowed_origins: origins,
            allowed_hosts: hosts,
            sessions: Mutex::new(Sessions::new()),
            cookie_name: agentdesk_security::cookie_name(port, scheme == "https"),
        },
        audit: config.service.audit.clone(),
        manager,
        login_limiter: Mutex::new(RateLimiter::new(LOGIN_ATTEMPTS)),
        web: config.web,
        secure_cookies: scheme == "https",
        long_limit: config.service.call_timeout * 10,
        call_timeout: config.service.call_timeout,
        stopping: cancel,
        transfers: Default::default(),
        tasks,
        viewers: live::ViewerLimits::default(),
    });
    // Every surface but /healthz, the login page and the page's own files goes into
    // `guarded`, behind the gate; so does the fallback, so an unauthenticated caller learns
    // nothing, not even which paths exist.
    let api = Router::new()
        .route("/api/desktops", get(rest::list).post(rest::create))
        .route("/api/desktops/acquire", post(rest::acquire))
        .route(
            "/api/desktops/{id}",
            get(rest::status_of).delete(rest::destroy),
        )
        .route("/api/desktops/{id}/{action}", post(rest::action))
        .route("/api/snapshots", get(rest::snapshots))
        .route(
            "/api/snapshots/{snapshot}",
            get(rest::snapshot).delete(rest::delete_snapshot),
        )
        .route(
            "/api/snapshots/{snapshot}/verify",
            post(rest::verify_snapshot),
        )
        .route("/api/tasks", get(agent::list).post(agent::create))
        .route("/api/tasks/{id}", get(agent::get))
        .route("/api/tasks/{id}/stream", get(agent::stream))
        .route("/api/tasks/{id}/{action}", post(agent::action))
        .route("/api/budget", get(agent::budget))
        .route("/api/{*rest}", any(rest::unknown))
        .layer(DefaultBodyLimit::max(rest::MAX_BODY_BYTES))
        // Files are streamed, whatever their size (`files.rs`).
        .route("/api/desktops/{id}/files", get(files::get_home))
        .route(
            "/api/desktops/{id}/files/{*path}",
            get(files::get).put(files::put),
        );
    let guarded = Router::new()
        .nest_service("/mcp", mcp.clone())
        .route_service("/desktops/{id}/mcp", mcp)
        .route("/", get(web::index))
        .route("/desktops/{id}/view", get(web::view))
        .route("/desktops/{id}/rfb", get(live::rfb_socket))
        .route(
            "/desktops/{id}/control",
            get(live::control).post(live::control),
        )
        .route(
            "/desktops/{id}/help",
            post(live::answer_help).layer(DefaultBodyLimit::max(live::MAX_ANSWER_BYTES)),
        )
        .route(
            "/desktops/{id}/computer/{dialect}",
            post(computer::execute).layer(DefaultBodyLimit::max(config.max_body_bytes)),
        )
        .route("/desktops/{id}/tasks", get(agent::desktop_tasks))
        .route(
            "/desktops/{id}/tasks/{task}/stream",
            get(agent::stream_of_desktop),
        )
        .route(
            "/desktops/{id}/tasks/{task}/steps/{step}",
            get(agent::step_image),
        )
        .route("/novnc/{*path}", get(web::novnc))
        .merge(api)
        .with_state(app.clone())
        .layer(axum::middleware::from_fn_with_state(
            app.clone(),
            guard::gate,
        ));
    Router::new()
        .route("/healthz", get(health))
        .route("/login", get(login::form).post(login::login))
        .route("/logout", post(login::logout))
        .route("/assets/{name}", get(web::asset))
        .layer(DefaultBodyLimit::max(login::MAX_FORM_BYTES))
        .with_state(app)
        .merge(guarded)
}

/// Login attempts per client address: a burst of 10, then one a second (tokens are long and
/// random; this keeps a script from hammering the form).
const LOGIN_ATTEMPTS: RateLimit = RateLimit {
    per_second: 1.0,
    burst: 10.0,
};

/// Liveness, open to all (monitors carry no token); the display is shown only to callers who
/// could use the desktop anyway.
async fn health(
    State(app): State<Arc<AppState>>,
    headers: http::HeaderMap,
) -> Json<serde_json::Value> {
    let desktop = app.manager.default_desktop();
    let display = desktop.as_ref().and_then(|d| d.display());
    let xauthority = desktop.as_ref().and_then(|d| d.xauthority());
    let mut body = serde_json::json!({
        "status": "ok",
        "desktop": if display.is_some() { "running" } else { "not ready" },
    });
    if matches!(app.gate.identify(&headers), Identity::Known(..)) {
        // Lets local tools (and `agentdesk bench`'s conventional comparison) reach the
        // same X server. The Xauthority file itself is readable only by agentdesk's user.
        body["display"] = serde_json::json!(display);
        body["xauthority"] = serde_json::json!(xauthority);
    }
    Json(body)
}
