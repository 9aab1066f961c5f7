//! The only crate that knows HTTP, JSON-RPC and MCP.
//!
//! It serves a [`DesktopManager`]'s desktops as GhostDesk-compatible MCP tools over Streamable
//! HTTP (`/mcp` for the default desktop and the fleet tools, `/desktops/{id}/mcp` for each
//! desktop; optionally TLS) and over stdio, using rmcp (pinned; see Cargo.toml), the fleet as a
//! REST API (`/api/desktops`, and [`ApiClient`] for the CLI), and the live view's pages. Every HTTP request passes the gate (`guard`: tokens, body size, rate limit);
//! every tool call is bounded in time and written to the desktop's audit log (`audit`). Tool
//! arguments and results are converted to and from `agentdesk-proto` types here and nowhere
//! else.

mod agent;
mod audit;
mod auth;
mod client;
mod computer;
mod envelope;
mod files;
mod fleet;
mod guard;
mod http_server;
mod instructions;
mod live;
mod login;
mod mcp;
mod resources;
mod rest;
mod state;
mod stdio;
mod tls;
mod tools;
mod web;

pub use agent::{AgentConfig, ProviderEnv, Secret, DEFAULT_MAX_STEPS};
pub use agentdesk_security::RateLimit;
pub use audit::{Audit, EvidenceConfig, DEFAULT_MAX_BYTES as DEFAULT_AUDIT_MAX_BYTES};
pub use auth::Tokens;
pub use client::{ApiAnswer, ApiClient};
pub use guard::Peer;
pub use http_server::{router, serve_http, HttpConfig, DEFAULT_MAX_BODY_BYTES};
pub use mcp::{AgentDesk, ServiceConfig, Transport};
pub use stdio::serve_stdio;
pub use tls::TlsFiles;
pub use web::{find_novnc, WebConfig};

pub use agentdesk_desktop::{DesktopManager, ModelSpace};

/// Locks a mutex even if a panic poisoned it: the state behind our locks (audit files, token
/// sets, rate buckets, handshake counts) stays valid, and one failed request must not wedge the
/// server.
pub(crate) fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
