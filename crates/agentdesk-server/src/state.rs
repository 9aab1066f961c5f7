//! [`AppState`]: what every HTTP handler is served with — the desktops, the audit log, the
//! gate, the live view's settings — built once per listener by `http_server::router`.

use std::sync::{Arc, Mutex};

use agentdesk_desktop::DesktopManager;
use agentdesk_security::RateLimiter;

use crate::audit::Audit;
use crate::guard::Gate;
use crate::live::ViewerLimits;
use crate::web::WebConfig;

/// The state of one HTTP listener.
#[derive(Debug)]
pub(crate) struct AppState {
    /// Who may call, from where, how much.
    pub(crate) gate: Gate,
    /// The desktops.
    pub(crate) manager: Arc<DesktopManager>,
    /// Where calls are recorded.
    pub(crate) audit: Arc<Audit>,
    /// What the live view's pages need.
    pub(crate) web: WebConfig,
    /// How many live viewers may be open, and connecting, at once.
    pub(crate) viewers: ViewerLimits,
    /// Login attempts per client address.
    pub(crate) login_limiter: Mutex<RateLimiter>,
    /// The listener is HTTPS: session cookies get `Secure`.
    pub(crate) secure_cookies: bool,
    /// How long a fleet operation over REST may run (a snapshot of a large home): ten times
    /// `--call-timeout`, since no MCP client is waiting on it with a timeout of its own.
    pub(crate) long_limit: std::time::Duration,
    /// The per-call limit (`--call-timeout`): an executor request's turn stays inside it.
    pub(crate) call_timeout: std::time::Duration,
    /// Cancelled when the server stops: executor turns end at once rather than hold the
    /// graceful shutdown for as long as their waits.
    pub(crate) stopping: tokio_util::sync::CancellationToken,
    /// The agent loop's tasks and the day's ledger (`agent/`).
    pub(crate) tasks: crate::agent::Tasks,
    /// File transfers open per token (`files.rs`).
    pub(crate) transfers: crate::files::Transfers,
}
