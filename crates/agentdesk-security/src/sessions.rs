//! Browser sessions for the live view: a human proves they hold a token once, on the login
//! page, and gets a random session id in an HttpOnly, SameSite=Strict cookie, so that no token
//! ever sits in a URL, in page script or in browser storage.
//!
//! Only the SHA-256 of a session id is kept. A session records which token opened it (its
//! name and digest) and dies with it: every check asks the current [`TokenSet`] whether that
//! token is still valid, so revoking a token in the token file also ends the browser sessions
//! opened with it. Sessions also expire ([`SESSION_TTL`]) and are bounded in number, the
//! oldest making room for a new one.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use sha2::{Digest as _, Sha256};

use crate::tokens::{digest, TokenSet};

/// How long a browser session lasts; the human logs in again after it.
pub const SESSION_TTL: Duration = Duration::from_secs(12 * 60 * 60);
/// The most sessions kept; a new one beyond it replaces the one closest to expiring.
pub const MAX_SESSIONS: usize = 1024;
/// The most sessions one token may have; beyond it, its own oldest makes room (so that one
/// token holder logging in again and again cannot push everyone else's sessions out).
pub const MAX_SESSIONS_PER_TOKEN: usize = 64;

/// The session cookie's name for a listener on `port`. Browsers send a host's cookies to every
/// port of it, so the port is in the name: two agentdesks on one host keep their sessions
/// apart. Over HTTPS the `__Host-` prefix makes the browser refuse the cookie unless it is
/// `Secure`, for the whole host (`Path=/`) and set by the host itself.
pub fn cookie_name(port: u16, secure: bool) -> String {
    let prefix = if secure { "__Host-" } else { "" };
    format!("{prefix}agentdesk_session_{port}")
}

#[derive(Debug)]
struct Session {
    name: String,
    token: [u8; 32],
    expires: Instant,
}

/// The open browser sessions.
#[derive(Debug, Default)]
pub struct Sessions {
    by_id: HashMap<[u8; 32], Session>,
}

/// A session id's hex text as bytes; `None` unless it is exactly 64 hex digits.
fn parse_id(text: &str) -> Option<[u8; 32]> {
    let bytes = text.as_bytes();
    if bytes.len() != 64 {
        return None;
    }
    let mut id = [0u8; 32];
    for (i, pair) in bytes.chunks_exact(2).enumerate() {
        let hex = |b: u8| (b as char).to_digit(16);
        id[i] = (hex(pair[0])? * 16 + hex(pair[1])?) as u8;
    }
    Some(id)
}

fn key(id: &[u8; 32]) -> [u8; 32] {
    Sha256::digest(id).into()
}

impl Sessions {
    /// No sessions.
    pub fn new() -> Sessions {
        Sessions::default()
    }

    /// How many sessions are open (expired ones included until they are next swept).
    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    /// Whether no session is open.
    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    /// Opens a session for the holder of `presented`, if it is a token of `set`. `secret` must
    /// be fresh random bytes (the caller owns the randomness, so this stays testable). Returns
    /// the token's name and the cookie value.
    pub fn open(
        &mut self,
        set: &TokenSet,
        presented: &str,
        secret: [u8; 32],
        now: Instant,
    ) -> Option<(String, String)> {
        let name = set.verify(presented)?.to_string();
        self.by_id.retain(|_, s| s.expires > now);
        let own = self.by_id.values().filter(|s| s.name == name).count();
        if own >= MAX_SESSIONS_PER_TOKEN {
            self.evict_soonest(|s| s.name == name);
        } else if self.by_id.len() >= MAX_SESSIONS {
            self.evict_soonest(|_| true);
        }
        self.by_id.insert(
            key(&secret),
            Session {
                name: name.clone(),
                token: digest(presented),
                expires: now + SESSION_TTL,
            },
        );
        let cookie = secret.iter().map(|b| format!("{b:02x}")).collect();
        Some((name, cookie))
    }

    fn evict_soonest(&mut self, among: impl Fn(&Session) -> bool) {
        let soonest = self
            .by_id
            .iter()
            .filter(|(_, s)| among(s))
            .min_by_key(|(_, s)| s.expires)
            .map(|(k, _)| *k);
        if let Some(k) = soonest {
            self.by_id.remove(&k);
        }
    }

    /// The name of the token behind a session cookie's value, if the session is open, not
    /// expired, and its token is still one of `set`'s.
    pub fn check(&mut self, set: &TokenSet, cookie: &str, now: Instant) -> Option<String> {
        let k = key(&parse_id(cookie)?);
        let session = self.by_id.get(&k)?;
        if session.expires <= now || !set.holds(&session.name, &session.token) {
            self.by_id.remove(&k);
            return None;
        }
        Some(session.name.clone())
    }

    /// Ends a session (logout); unknown values are ignored.
    pub fn close(&mut self, cookie: &str) {
        if let Some(id) = parse_id(cookie) {
            self.by_id.remove(&key(&id));
        }
    }
}

/// The values of the cookie `name` in a `Cookie` header value (RFC 6265 §5.4: `name=value`
/// pairs separated by `; `). There may be several (another port of the host, or a page there,
/// can set one with a longer path, which browsers send first): the caller tries each.
pub fn cookie_values<'a>(header: &'a str, name: &'a str) -> impl Iterator<Item = &'a str> {
    header.split(';').filter_map(move |pair| {
        let (n, value) = pair.split_once('=')?;
        (n.trim() == name).then(|| value.trim().trim_matches('"'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const TOKEN: &str = "0123456789abcdef-alice";

    fn set() -> TokenSet {
        TokenSet::parse(&format!("alice: {TOKEN}\nbob: 0123456789abcdef-bob")).unwrap()
    }

    #[test]
    fn a_session_names_its_token_until_it_expires() {
        let mut sessions = Sessions::new();
        let now = Instant::now();
        assert_eq!(
            sessions.open(&set(), "wrong-token-0123456", [1; 32], now),
            None
        );
        let (name, cookie) = sessions.open(&set(), TOKEN, [1; 32], now).unwrap();
        assert_eq!(name, "alice");
        assert_eq!(cookie, "01".repeat(32));
        assert_eq!(
            sessions.check(&set(), &cookie, now).as_deref(),
            Some("alice")
        );
        assert_eq!(
            sessions
                .check(&set(), &cookie.to_uppercase(), now)
                .as_deref(),
            Some("alice")
        );
        let later = now + SESSION_TTL;
        assert_eq!(sessions.check(&set(), &cookie, later), None);
        // Expired sessions are forgotten, not only refused.
        assert!(sessions.is_empty());
    }

    #[test]
    fn revoking_the_token_ends_its_sessions() {
        let mut sessions = Sessions::new();
        let now = Instant::now();
        let (_, cookie) = sessions.open(&set(), TOKEN, [2; 32], now).unwrap();
        let without_alice = TokenSet::parse("bob: 0123456789abcdef-bob").unwrap();
        assert_eq!(sessions.check(&without_alice, &cookie, now), None);
        // Even once alice's name comes back with another token.
        let new_alice = TokenSet::parse("alice: another-token-for-alice").unwrap();
        let (_, cookie) = sessions.open(&set(), TOKEN, [3; 32], now).unwrap();
        assert_eq!(sessions.check(&new_alice, &cookie, now), None);
    }

    #[test]
    fn logout_closes_only_that_session() {
        let mut sessions = Sessions::new();
        let now = Instant::now();
        let (_, a) = sessions.open(&set(), TOKEN, [4; 32], now).unwrap();
        let (_, b) = sessions.open(&set(), TOKEN, [5; 32], now).unwrap();
        sessions.close(&a);
        sessions.close("not-a-session");
        assert_eq!(sessions.check(&set(), &a, now), None);
        assert!(sessions.check(&set(), &b, now).is_some());
    }

    #[test]
    fn one_token_cannot_push_out_the_others() {
        let mut sessions = Sessions::new();
        let now = Instant::now();
        let bob = "0123456789abcdef-bob";
        let (_, bobs) = sessions.open(&set(), bob, [0xbb; 32], now).unwrap();
        for i in 0..=MAX_SESSIONS_PER_TOKEN as u8 {
            sessions.open(&set(), TOKEN, [i; 32], now).unwrap();
        }
        assert_eq!(sessions.len(), MAX_SESSIONS_PER_TOKEN + 1);
        assert_eq!(sessions.check(&set(), &bobs, now).as_deref(), Some("bob"));
    }

    #[test]
    fn sessions_are_bounded() {
        let mut sessions = Sessions::new();
        let now = Instant::now();
        let mut first = None;
        let mut names = String::new();
        for i in 0..=MAX_SESSIONS / MAX_SESSIONS_PER_TOKEN {
            names.push_str(&format!("agent{i}: 0123456789abcdef-agent{i}\n"));
        }
        let many = TokenSet::parse(&names).unwrap();
        for i in 0..=MAX_SESSIONS {
            let mut secret = [0u8; 32];
            secret[..8].copy_from_slice(&(i as u64).to_le_bytes());
            let at = now + Duration::from_secs(i as u64);
            let token = format!("0123456789abcdef-agent{}", i / MAX_SESSIONS_PER_TOKEN);
            let (_, cookie) = sessions.open(&many, &token, secret, at).unwrap();
            first.get_or_insert(cookie);
        }
        assert_eq!(sessions.len(), MAX_SESSIONS);
        // The one closest to expiring made room.
        assert_eq!(sessions.check(&many, &first.unwrap(), now), None);
    }

    #[test]
    fn every_value_of_the_cookie_is_found_among_others() {
        let name = cookie_name(3000, false);
        assert_eq!(name, "agentdesk_session_3000");
        assert_eq!(cookie_name(443, true), "__Host-agentdesk_session_443");
        let header = format!("theme=dark; {name}=junk; other=1; {name}=\"ab\"");
        assert_eq!(
            cookie_values(&header, &name).collect::<Vec<_>>(),
            ["junk", "ab"]
        );
        assert_eq!(
            cookie_values("x_agentdesk_session_3000=1", &name).count(),
            0
        );
        assert_eq!(cookie_values("agentdesk_session_30001=1", &name).count(), 0);
        assert_eq!(cookie_values("", &name).count(), 0);
    }

    proptest! {
        #[test]
        fn no_value_but_an_issued_one_opens_a_session(cookie in ".{0,80}", header in ".{0,200}") {
            let mut sessions = Sessions::new();
            let now = Instant::now();
            sessions.open(&set(), TOKEN, [9; 32], now).unwrap();
            prop_assume!(cookie.to_lowercase() != "09".repeat(32));
            prop_assert_eq!(sessions.check(&set(), &cookie, now), None);
            let _ = cookie_values(&header, "agentdesk_session_1").count();
        }
    }
}
