//! The one error type of this crate: why a configuration is refused. Every message is read by
//! an operator at start-up, so each names the fix.

use std::net::SocketAddr;

/// Why a security configuration was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A non-loopback listener with no token: anyone on the network could drive the desktop.
    #[error(
        "refusing to listen on {addr} without a token: anyone who can reach it could control \
         the desktop. Set AGENTDESK_AUTH_TOKEN (e.g. to the output of `openssl rand -hex 32`) \
         or pass --token-file, or listen on 127.0.0.1"
    )]
    TokenRequired {
        /// The listen address.
        addr: SocketAddr,
    },

    /// A non-loopback listener over plain HTTP, without the explicit opt-in.
    #[error(
        "refusing to serve plain HTTP on {addr}: tokens and screenshots would cross the network \
         unencrypted. Pass --tls-cert and --tls-key, or --insecure-http if a TLS-terminating \
         proxy sits in front of agentdesk"
    )]
    TlsRequired {
        /// The listen address.
        addr: SocketAddr,
    },

    /// A line of a token file is not `name: token`.
    #[error("token file line {line}: {reason}")]
    TokenFile {
        /// 1-based line number.
        line: usize,
        /// What is wrong with it (never the token itself).
        reason: String,
    },

    /// A token too short to resist guessing.
    #[error(
        "{source_name}: a token must be at least {min} characters (got {len}); generate one \
         with `openssl rand -hex 32`"
    )]
    WeakToken {
        /// Where the token came from (a variable name or "token file line N").
        source_name: String,
        /// Its length.
        len: usize,
        /// The minimum.
        min: usize,
    },

    /// A token with whitespace or non-printable characters (it could not travel in a header).
    #[error(
        "{source_name}: a token may contain only printable ASCII without spaces, as it travels \
         in an Authorization header"
    )]
    TokenCharacters {
        /// Where the token came from.
        source_name: String,
    },
}
