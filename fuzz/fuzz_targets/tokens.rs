//! Fuzz target: the token file parser (`TokenSet::parse`), the `Authorization` header parser
//! (`bearer_token`) and the live view's `Cookie` header and session lookup (`cookie_values`,
//! `Sessions`), fed by operators' files and by anyone who can reach the listener.
//!
//! Input: a token file, then U+001E, then an `Authorization` header value, which is also tried
//! as a `Cookie` header.
//!
//! Beyond "never panics": every token of an accepted file verifies as its own name (an `admin`
//! after it marks the name, and nothing else may follow), and a parsed bearer token is one
//! printable word; errors never quote a token; a cookie opens a session only if it is the value
//! that session was given.
#![no_main]

use agentdesk_security::{bearer_token, cookie_values, Sessions, TokenSet, MIN_TOKEN_LEN};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &str| {
    let (file, header) = input.split_once('\u{1e}').unwrap_or((input, ""));
    if let Some(token) = bearer_token(header) {
        assert!(!token.is_empty() && token.bytes().all(|b| b.is_ascii_graphic()));
    }
    match TokenSet::parse(file) {
        Ok(set) => {
            let names: Vec<&str> = set.names().collect();
            let mut unique = names.clone();
            unique.sort_unstable();
            unique.dedup();
            assert_eq!(unique.len(), names.len(), "names are unique");
            for line in file.lines().map(str::trim) {
                if line.is_empty() || line.starts_with('#') {
                    continue;
                }
                let (name, rest) = line.split_once(':').expect("accepted lines have a colon");
                let mut words = rest.split_whitespace();
                let token = words.next().expect("accepted lines have a token");
                let admin = words.next();
                assert!(admin.is_none() || admin == Some("admin"));
                assert!(words.next().is_none());
                assert_eq!(set.is_admin(name.trim()), admin.is_some());
                assert!(token.len() >= MIN_TOKEN_LEN);
                assert_eq!(set.verify(token), Some(name.trim()));
            }
            if let Some(token) = bearer_token(header) {
                if let Some(name) = set.verify(token) {
                    assert!(names.contains(&name));
                }
            }
            let now = std::time::Instant::now();
            let mut sessions = Sessions::new();
            let opened = file
                .lines()
                .find_map(|l| l.split_once(':'))
                .and_then(|(_, rest)| rest.split_whitespace().next())
                .and_then(|token| sessions.open(&set, token, [7; 32], now));
            for cookie in cookie_values(header, "agentdesk_session") {
                let name = sessions.check(&set, cookie, now);
                let issued = opened.as_ref().map(|(_, c)| c.as_str());
                assert!(name.is_none() || Some(cookie.to_ascii_lowercase().as_str()) == issued);
            }
        }
        Err(e) => {
            let message = e.to_string();
            let names: Vec<&str> = file
                .lines()
                .filter_map(|l| l.split_once(':').map(|(n, _)| n.trim()))
                .collect();
            for line in file.lines() {
                if let Some((_, rest)) = line.split_once(':') {
                    let token = rest.split_whitespace().next().unwrap_or("");
                    // A token that could be real (long enough, one printable word) never shows
                    // up in an error, unless the text is also a name, which errors may quote.
                    let plausible = token.len() >= MIN_TOKEN_LEN
                        && token.bytes().all(|b| b.is_ascii_graphic())
                        && !names.iter().any(|n| n.contains(token));
                    if plausible {
                        assert!(!message.contains(token), "{message}");
                    }
                }
            }
        }
    }
});
