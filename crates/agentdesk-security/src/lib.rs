//! Security decisions, without I/O, so each can be tested exhaustively.
//!
//! - [`posture`]: which combinations of listen address, TLS and tokens agentdesk agrees to
//!   start with (the server refuses the others, naming the fix).
//! - [`tokens`]: bearer tokens, from one secret or a file of named ones, compared in constant
//!   time; and the `Authorization` header's syntax.
//! - [`rate`]: token buckets for tool calls (per token) and logins (per address), bounded.
//! - [`sessions`]: the live view's browser sessions, opened with a token and ended with it.
//!
//! Reading token files, serving TLS and answering HTTP belong to `agentdesk-server`; this
//! crate only decides.

mod error;
pub mod posture;
pub mod rate;
pub mod sessions;
pub mod tokens;

pub use error::Error;
pub use posture::{Posture, PostureRequest};
pub use rate::{RateLimit, RateLimiter};
pub use sessions::{cookie_name, cookie_values, Sessions, SESSION_TTL};
pub use tokens::{bearer_token, TokenSet, MIN_TOKEN_LEN};
