//! Bearer tokens: one from `AGENTDESK_AUTH_TOKEN`, or several named ones from a token file
//! (one per agent, so one can be revoked without touching the others).
//!
//! Only SHA-256 digests are kept. A presented token is hashed and compared with every known
//! digest in constant time, without stopping at a match, so neither the comparison nor the
//! position of a token in the file shows in the response time. Hashing first also makes the
//! comparison independent of the token's length.
//!
//! A token file has one `name: token` per line, or `name: token admin` for a token that sees
//! and manages every desktop; blank lines and lines starting with `#` are ignored. Names are
//! what audit logs record and what owns desktops; tokens are never echoed in errors.

use sha2::{Digest, Sha256};
use subtle::{ConditionallySelectable, ConstantTimeEq};

use crate::Error;

/// Tokens shorter than this are refused: a short token can be guessed over the network.
pub const MIN_TOKEN_LEN: usize = 16;
/// The longest token name accepted.
const MAX_NAME_LEN: usize = 64;

/// A set of named tokens. Empty means "no token configured".
#[derive(Clone, Default)]
pub struct TokenSet {
    entries: Vec<(String, [u8; 32])>,
    /// The names marked `admin`.
    admins: Vec<String>,
}

impl std::fmt::Debug for TokenSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Names only: even digests stay out of logs.
        f.debug_struct("TokenSet")
            .field("names", &self.names().collect::<Vec<_>>())
            .finish()
    }
}

pub(crate) fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

fn check_token(token: &str, source_name: impl Fn() -> String) -> Result<(), Error> {
    if !token.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(Error::TokenCharacters {
            source_name: source_name(),
        });
    }
    if token.len() < MIN_TOKEN_LEN {
        return Err(Error::WeakToken {
            source_name: source_name(),
            len: token.len(),
            min: MIN_TOKEN_LEN,
        });
    }
    Ok(())
}

impl TokenSet {
    /// No tokens.
    pub fn empty() -> TokenSet {
        TokenSet::default()
    }

    /// One token named `name`, an admin (it is the only one); `source_name` says where it
    /// came from, for errors.
    pub fn single(name: &str, token: &str, source_name: &str) -> Result<TokenSet, Error> {
        check_token(token, || source_name.to_string())?;
        Ok(TokenSet {
            entries: vec![(name.to_string(), digest(token))],
            admins: vec![name.to_string()],
        })
    }

    /// Parses a token file (`name: token` per line).
    pub fn parse(text: &str) -> Result<TokenSet, Error> {
        let mut set = TokenSet::default();
        for (index, raw) in text.lines().enumerate() {
            let line = index + 1;
            let bad = |reason: &str| Error::TokenFile {
                line,
                reason: reason.to_string(),
            };
            let trimmed = raw.trim();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            let (name, rest) = trimmed
                .split_once(':')
                .ok_or_else(|| bad("expected `name: token` or `name: token admin`"))?;
            let mut words = rest.split_whitespace();
            let (name, token) = (name.trim(), words.next().unwrap_or(""));
            let admin = match (words.next(), words.next()) {
                (None, _) => false,
                (Some("admin"), None) => true,
                _ => return Err(bad("after the token, only the word `admin` may follow")),
            };
            if name.is_empty() || name.len() > MAX_NAME_LEN {
                return Err(bad("a name must be 1 to 64 characters"));
            }
            if !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.@".contains(&b))
            {
                return Err(bad(
                    "a name may contain only letters, digits, '-', '_', '.' and '@'",
                ));
            }
            check_token(token, || format!("token file line {line}"))?;
            if set.names().any(|n| n == name) {
                return Err(bad(&format!("the name {name:?} is used twice")));
            }
            let d = digest(token);
            if set.entries.iter().any(|(_, e)| bool::from(e.ct_eq(&d))) {
                return Err(bad("this token is also given to another name"));
            }
            set.entries.push((name.to_string(), d));
            if admin {
                set.admins.push(name.to_string());
            }
        }
        Ok(set)
    }

    /// Whether no token is configured.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// How many tokens there are.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the token named `name` is marked `admin`.
    pub fn is_admin(&self, name: &str) -> bool {
        self.admins.iter().any(|a| a == name)
    }

    /// The names, in file order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|(n, _)| n.as_str())
    }

    /// Whether the token with this digest is still ours under this name (a browser session
    /// checks that its token was not revoked).
    pub fn holds(&self, name: &str, token_digest: &[u8; 32]) -> bool {
        self.entries
            .iter()
            .any(|(n, d)| n == name && bool::from(d.ct_eq(token_digest)))
    }

    /// The name of the token `presented`, if it is one of ours.
    pub fn verify(&self, presented: &str) -> Option<&str> {
        let d = digest(presented);
        let mut found = subtle::Choice::from(0);
        let mut index = 0u64;
        for (i, (_, e)) in self.entries.iter().enumerate() {
            let matches = e.ct_eq(&d);
            index = u64::conditional_select(&index, &(i as u64), matches);
            found |= matches;
        }
        if bool::from(found) {
            self.entries.get(index as usize).map(|(n, _)| n.as_str())
        } else {
            None
        }
    }
}

/// The token of an `Authorization: Bearer <token>` header value (RFC 6750 §2.1; the scheme is
/// case-insensitive). `None` for any other scheme or shape.
pub fn bearer_token(header: &str) -> Option<&str> {
    let (scheme, rest) = header.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let token = rest.trim_start_matches(' ');
    if token.is_empty() || !token.bytes().all(|b| b.is_ascii_graphic()) {
        return None;
    }
    Some(token)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const A: &str = "aaaaaaaaaaaaaaaaaaaa";
    const B: &str = "bbbbbbbbbbbbbbbbbbbb";

    #[test]
    fn admin_tokens_are_marked_and_nothing_else_follows_a_token() {
        let set = TokenSet::parse(&format!("ops: {A} admin\nbob: {B}\n")).unwrap();
        assert!(set.is_admin("ops") && !set.is_admin("bob"));
        assert_eq!(set.verify(A), Some("ops"));
        let err = TokenSet::parse(&format!("ops: {A} root\n"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("admin") && !err.contains(A), "{err}");
        assert!(TokenSet::single("default", A, "x")
            .unwrap()
            .is_admin("default"));
    }

    #[test]
    fn a_token_file_names_its_tokens() {
        let set = TokenSet::parse(&format!("# agents\n\nalice: {A}\n  bob:{B}  \n")).unwrap();
        assert_eq!(set.names().collect::<Vec<_>>(), ["alice", "bob"]);
        assert_eq!(set.verify(A), Some("alice"));
        assert_eq!(set.verify(B), Some("bob"));
        assert_eq!(set.verify("cccccccccccccccccccc"), None);
        assert_eq!(set.verify(""), None);
        assert_eq!(set.verify(&A[1..]), None);
    }

    #[test]
    fn bad_token_files_say_which_line_and_never_echo_the_token() {
        let cases = [
            (format!("alice {A}"), "line 1: expected"),
            (format!("alice: {A}\nalice: {B}"), "used twice"),
            (format!("alice: {A}\nbob: {A}"), "another name"),
            ("alice: short".to_string(), "at least 16"),
            (format!("al ice: {A}"), "may contain only"),
            (format!(": {A}"), "1 to 64"),
        ];
        for (text, expected) in cases {
            let msg = TokenSet::parse(&text).unwrap_err().to_string();
            assert!(msg.contains(expected), "{text:?}: {msg}");
            assert!(!msg.contains(A) && !msg.contains("short"), "{msg}");
        }
    }

    #[test]
    fn single_tokens_are_checked_too() {
        let set = TokenSet::single("default", A, "AGENTDESK_AUTH_TOKEN").unwrap();
        assert_eq!(set.verify(A), Some("default"));
        let msg = TokenSet::single("default", "abc", "AGENTDESK_AUTH_TOKEN")
            .unwrap_err()
            .to_string();
        assert!(
            msg.starts_with("AGENTDESK_AUTH_TOKEN: ") && msg.contains("openssl rand"),
            "{msg}"
        );
        assert!(TokenSet::single("d", "has a space in it ok", "X").is_err());
        assert!(format!("{set:?}").contains("default"));
    }

    #[test]
    fn bearer_headers() {
        assert_eq!(bearer_token("Bearer abc"), Some("abc"));
        assert_eq!(bearer_token("bearer   abc"), Some("abc"));
        assert_eq!(bearer_token("Basic abc"), None);
        assert_eq!(bearer_token("Bearer"), None);
        assert_eq!(bearer_token("Bearer "), None);
        assert_eq!(bearer_token("Bearer a b"), None);
        assert_eq!(bearer_token("Bearerabc"), None);
    }

    proptest! {
        #[test]
        fn parsing_never_panics_and_only_known_tokens_verify(text in ".{0,300}", probe in ".{0,40}") {
            if let Ok(set) = TokenSet::parse(&text) {
                if let Some(name) = set.verify(&probe) {
                    prop_assert!(set.names().any(|n| n == name));
                }
            }
            let _ = bearer_token(&text);
        }
    }
}
