//! The only crate that knows HTTP, JSON-RPC and MCP.
//!
//! It serves a [`DesktopManager`]'s desktops as GhostDesk-compatible MCP tools over Streamable
//! HTTP (`/mcp`, plus `/healthz`) and over stdio, using rmcp (pinned; see Cargo.toml). Tool
//! arguments and results are converted to and from `agentdesk-proto` types here and nowhere
//! else. [`bench`](mod@bench) is the other side: `agentdesk bench`, an MCP client that measures a served
//! desktop from outside.

pub mod bench;
mod http_server;
mod instructions;
mod mcp;
mod resources;
mod tools;

pub use http_server::{serve_http, HttpConfig};
pub use mcp::{serve_stdio, AgentDesk};

pub use agentdesk_desktop::{DesktopManager, ModelSpace};
