//! Who is calling: bearer tokens from `AGENTDESK_AUTH_TOKEN` or a token file, checked on every
//! request of every surface except `/healthz`.
//!
//! A token file is read on every request and parsed again whenever its contents differ (by
//! SHA-256) from the last version, so an operator revokes one agent by deleting its line,
//! without a restart and without touching the other agents. Comparing contents rather than
//! timestamps matters: a file rewritten in place within one timestamp tick, with the same
//! length, would otherwise keep a revoked token valid. Reading a small file costs microseconds. If the file becomes unreadable or invalid, every request is refused until it
//! is fixed: failing open would let a revoked token back in.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use agentdesk_security::{Sessions, TokenSet};
use anyhow::Context as _;

/// The name recorded for callers on an open loopback listener (no token configured).
pub(crate) const ANONYMOUS: &str = "anonymous";
/// The name of the single token from `AGENTDESK_AUTH_TOKEN`.
pub(crate) const ENV_TOKEN_NAME: &str = "default";

/// Where tokens come from.
#[derive(Debug)]
pub enum Tokens {
    /// No token configured.
    None,
    /// Fixed for the life of the process (`AGENTDESK_AUTH_TOKEN`).
    Fixed(Arc<TokenSet>),
    /// A token file, followed as it changes.
    File(TokenFile),
}

/// The outcome of authenticating one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Identity {
    /// The caller presented a valid token with this name, or none was needed ([`ANONYMOUS`]);
    /// and whether that token sees and manages every desktop (an open listener's callers and
    /// the single `AGENTDESK_AUTH_TOKEN` do; in a token file, the lines marked `admin`). Both
    /// from the one version of the token file the request was checked against.
    Known(Arc<str>, bool),
    /// No `Authorization: Bearer` header.
    Missing,
    /// A token that is not (or no longer) valid.
    Invalid,
    /// The token file is broken; nobody gets in until the operator fixes it.
    Unavailable,
}

impl Tokens {
    /// Tokens from the environment variable's value or the file; not both.
    pub fn configure(env_token: Option<String>, file: Option<PathBuf>) -> anyhow::Result<Tokens> {
        let env_token = env_token.filter(|t| !t.is_empty());
        match (env_token, file) {
            (Some(_), Some(_)) => anyhow::bail!(
                "both AGENTDESK_AUTH_TOKEN and --token-file are set; use one (the token file \
                 can hold several named tokens)"
            ),
            (Some(token), None) => Ok(Tokens::Fixed(Arc::new(TokenSet::single(
                ENV_TOKEN_NAME,
                &token,
                "AGENTDESK_AUTH_TOKEN",
            )?))),
            (None, Some(path)) => Ok(Tokens::File(TokenFile::load(path)?)),
            (None, None) => Ok(Tokens::None),
        }
    }

    /// Whether any token is configured (then every request needs one).
    pub fn configured(&self) -> bool {
        !matches!(self, Tokens::None)
    }

    /// The tokens in force now.
    pub(crate) fn current(&self) -> Current {
        match self {
            Tokens::None => Current::Open,
            Tokens::Fixed(set) => Current::Set(set.clone()),
            Tokens::File(file) => match file.current() {
                Some(set) => Current::Set(set),
                None => Current::Unavailable,
            },
        }
    }

    /// Names the caller of a request with this `Authorization` header value.
    pub(crate) fn identify(&self, authorization: Option<&str>) -> Identity {
        let set = match self.current() {
            Current::Open => return Identity::Known(Arc::from(ANONYMOUS), true),
            Current::Set(set) => set,
            Current::Unavailable => return Identity::Unavailable,
        };
        let Some(header) = authorization else {
            return Identity::Missing;
        };
        match agentdesk_security::bearer_token(header).and_then(|t| set.verify(t)) {
            Some(name) => Identity::Known(Arc::from(name), set.is_admin(name)),
            None => Identity::Invalid,
        }
    }

    /// Names the caller of a request carrying a live-view session cookie.
    pub(crate) fn identify_session(&self, sessions: &Mutex<Sessions>, cookie: &str) -> Identity {
        match self.current() {
            Current::Open => Identity::Known(Arc::from(ANONYMOUS), true),
            Current::Unavailable => Identity::Unavailable,
            Current::Set(set) => {
                match crate::lock(sessions).check(&set, cookie, std::time::Instant::now()) {
                    Some(name) => {
                        let admin = set.is_admin(&name);
                        Identity::Known(Arc::from(name), admin)
                    }
                    None => Identity::Invalid,
                }
            }
        }
    }
}

/// The tokens in force at one moment.
#[derive(Debug)]
pub(crate) enum Current {
    /// None configured: loopback, open.
    Open,
    /// These.
    Set(Arc<TokenSet>),
    /// The token file is broken.
    Unavailable,
}

/// A token file and the tokens of its latest version.
#[derive(Debug)]
pub struct TokenFile {
    path: PathBuf,
    /// The SHA-256 of the contents last parsed (not the contents: no plaintext tokens kept),
    /// and their tokens; `None` while the file is unusable.
    state: Mutex<([u8; 32], Option<Arc<TokenSet>>)>,
}

fn digest(bytes: &[u8]) -> [u8; 32] {
    use sha2::Digest as _;
    sha2::Sha256::digest(bytes).into()
}

impl TokenFile {
    /// Reads the file; at start-up a problem is an error naming the line.
    fn load(path: PathBuf) -> anyhow::Result<TokenFile> {
        let bytes =
            std::fs::read(&path).with_context(|| format!("error reading {}", path.display()))?;
        let set = parse(&bytes).with_context(|| format!("token file {}", path.display()))?;
        warn_if_readable_by_others(&path);
        if set.is_empty() {
            anyhow::bail!(
                "token file {} has no tokens; add a line `name: token` per agent",
                path.display()
            );
        }
        Ok(TokenFile {
            path,
            state: Mutex::new((digest(&bytes), Some(Arc::new(set)))),
        })
    }

    /// The current tokens, parsed again if the file changed; `None` while it is broken.
    fn current(&self) -> Option<Arc<TokenSet>> {
        let bytes = match std::fs::read(&self.path) {
            Ok(bytes) => bytes,
            Err(e) => {
                tracing::warn!(path = %self.path.display(), %e, "token file unreadable, refusing every request until it is back");
                return None;
            }
        };
        let now = digest(&bytes);
        let mut state = crate::lock(&self.state);
        if state.0 == now {
            return state.1.clone();
        }
        let tokens = match parse(&bytes) {
            Ok(set) => {
                tracing::info!(path = %self.path.display(), tokens = set.len(), "token file reloaded");
                Some(Arc::new(set))
            }
            Err(e) => {
                tracing::warn!(path = %self.path.display(), "token file unusable, refusing every request until it is fixed: {e:#}");
                None
            }
        };
        *state = (now, tokens.clone());
        tokens
    }
}

fn parse(bytes: &[u8]) -> anyhow::Result<TokenSet> {
    let text = std::str::from_utf8(bytes).context("the token file is not UTF-8")?;
    Ok(TokenSet::parse(text)?)
}

fn warn_if_readable_by_others(path: &Path) {
    use std::os::unix::fs::PermissionsExt as _;
    if let Ok(m) = std::fs::metadata(path) {
        if m.permissions().mode() & 0o077 != 0 {
            tracing::warn!(path = %path.display(), "token file is readable by other users; chmod 600 it");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "aaaaaaaaaaaaaaaaaaaaaaaa";
    const B: &str = "bbbbbbbbbbbbbbbbbbbbbbbb";

    fn bearer(t: &str) -> String {
        format!("Bearer {t}")
    }

    #[test]
    fn no_tokens_means_anonymous() {
        let tokens = Tokens::configure(None, None).unwrap();
        assert!(!tokens.configured());
        assert_eq!(
            tokens.identify(None),
            Identity::Known(ANONYMOUS.into(), true)
        );
    }

    #[test]
    fn the_env_token_is_required() {
        let tokens = Tokens::configure(Some(A.into()), None).unwrap();
        assert_eq!(
            tokens.identify(Some(&bearer(A))),
            Identity::Known(ENV_TOKEN_NAME.into(), true)
        );
        assert_eq!(tokens.identify(None), Identity::Missing);
        assert_eq!(tokens.identify(Some(&bearer(B))), Identity::Invalid);
        assert_eq!(tokens.identify(Some(A)), Identity::Invalid);
        assert!(Tokens::configure(Some("short".into()), None).is_err());
    }

    #[test]
    fn a_token_file_follows_revocation_and_fails_closed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokens");
        std::fs::write(&path, format!("alice: {A}\nbob: {B}\n")).unwrap();
        assert!(Tokens::configure(Some(A.into()), Some(path.clone())).is_err());
        let tokens = Tokens::configure(None, Some(path.clone())).unwrap();
        assert_eq!(
            tokens.identify(Some(&bearer(B))),
            Identity::Known("bob".into(), false)
        );
        // Rotate bob's token in place, same length, same instant: the contents tell.
        std::fs::write(&path, format!("alice: {A}\nbob: {}\n", "c".repeat(B.len()))).unwrap();
        assert_eq!(tokens.identify(Some(&bearer(B))), Identity::Invalid);
        // Revoke bob.
        std::fs::write(&path, format!("alice: {A}\n")).unwrap();
        assert_eq!(tokens.identify(Some(&bearer(B))), Identity::Invalid);
        assert_eq!(
            tokens.identify(Some(&bearer(A))),
            Identity::Known("alice".into(), false)
        );
        // A broken file lets nobody in, then recovers.
        std::fs::write(&path, "alice no colon\n").unwrap();
        assert_eq!(tokens.identify(Some(&bearer(A))), Identity::Unavailable);
        std::fs::remove_file(&path).unwrap();
        assert_eq!(tokens.identify(Some(&bearer(A))), Identity::Unavailable);
        std::fs::write(&path, format!("alice: {A}\n")).unwrap();
        assert_eq!(
            tokens.identify(Some(&bearer(A))),
            Identity::Known("alice".into(), false)
        );
    }

    #[test]
    fn start_up_problems_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokens");
        let missing = Tokens::configure(None, Some(path.clone())).unwrap_err();
        assert!(
            format!("{missing:#}").contains("error reading"),
            "{missing:#}"
        );
        std::fs::write(&path, "# nobody yet\n").unwrap();
        let empty = Tokens::configure(None, Some(path.clone())).unwrap_err();
        assert!(format!("{empty:#}").contains("has no tokens"), "{empty:#}");
        std::fs::write(&path, "x: short\n").unwrap();
        let weak = Tokens::configure(None, Some(path)).unwrap_err();
        assert!(format!("{weak:#}").contains("line 1"), "{weak:#}");
    }
}
