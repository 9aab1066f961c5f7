//! Postures: the only listener configurations agentdesk starts with.
//!
//! - Loopback, no token: open to local processes (the first run on a laptop). Origin and Host
//!   checks still stop web pages from reaching it.
//! - Any token configured: required on every request, whatever the address.
//! - Not loopback: at least one token, and TLS unless the operator opts in to plain HTTP
//!   (for a TLS-terminating proxy), which is logged as a warning at every start.

use std::net::SocketAddr;

use crate::Error;

/// What the operator asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PostureRequest {
    /// The HTTP listen address.
    pub listen: SocketAddr,
    /// Whether at least one token is configured.
    pub has_tokens: bool,
    /// Whether a certificate and key are configured.
    pub tls: bool,
    /// `--insecure-http`: plain HTTP on a non-loopback address is intended.
    pub insecure_http: bool,
}

/// What agentdesk enforces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Posture {
    /// Every request must carry a valid bearer token.
    pub require_token: bool,
    /// A warning to log at start, if the posture is weaker than it could be.
    pub warning: Option<String>,
}

impl PostureRequest {
    /// Decides the posture, or refuses with the fix.
    pub fn decide(&self) -> Result<Posture, Error> {
        let loopback = self.listen.ip().is_loopback();
        if !loopback && !self.has_tokens {
            return Err(Error::TokenRequired { addr: self.listen });
        }
        if !loopback && !self.tls && !self.insecure_http {
            return Err(Error::TlsRequired { addr: self.listen });
        }
        let warning = if !loopback && !self.tls {
            Some(format!(
                "serving plain HTTP on {} (--insecure-http): tokens and screenshots are \
                 unencrypted unless a TLS-terminating proxy is in front",
                self.listen
            ))
        } else if self.insecure_http && self.tls {
            Some("--insecure-http has no effect: TLS is configured".to_string())
        } else {
            None
        };
        Ok(Posture {
            require_token: self.has_tokens,
            warning,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(listen: &str, has_tokens: bool, tls: bool, insecure_http: bool) -> PostureRequest {
        PostureRequest {
            listen: listen.parse().unwrap(),
            has_tokens,
            tls,
            insecure_http,
        }
    }

    #[test]
    fn loopback_without_a_token_is_open() {
        for addr in ["127.0.0.1:3000", "[::1]:3000", "127.0.0.2:1"] {
            let p = request(addr, false, false, false).decide().unwrap();
            assert!(!p.require_token, "{addr}");
            assert_eq!(p.warning, None);
        }
    }

    #[test]
    fn a_configured_token_is_required_even_on_loopback() {
        assert!(
            request("127.0.0.1:3000", true, false, false)
                .decide()
                .unwrap()
                .require_token
        );
    }

    #[test]
    fn the_network_needs_a_token() {
        for addr in ["0.0.0.0:3000", "[::]:3000", "192.168.1.5:3000"] {
            for tls in [false, true] {
                let err = request(addr, false, tls, true).decide().unwrap_err();
                assert!(matches!(err, Error::TokenRequired { .. }), "{addr}");
                let msg = err.to_string();
                assert!(msg.contains("AGENTDESK_AUTH_TOKEN") && msg.contains("--token-file"));
            }
        }
    }

    #[test]
    fn the_network_needs_tls_or_the_explicit_opt_in() {
        let err = request("0.0.0.0:3000", true, false, false)
            .decide()
            .unwrap_err();
        assert!(
            err.to_string().contains("--tls-cert") && err.to_string().contains("--insecure-http")
        );
        let p = request("0.0.0.0:3000", true, true, false).decide().unwrap();
        assert_eq!(p.warning, None);
        let p = request("0.0.0.0:3000", true, false, true).decide().unwrap();
        assert!(p.require_token);
        assert!(p.warning.unwrap().contains("plain HTTP"));
    }
}
