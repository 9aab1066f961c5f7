//! Help requests: the agent asks for a human ("please solve the captcha"), the live view shows
//! the request, a human answers it (usually after taking control), and the agent learns the
//! answer — from `help_status`, which can wait for it, or from a note on its next tool result.
//!
//! One request at a time per desktop: asking again replaces an open request (the agent's latest
//! words are what a human should read). Texts are bounded and free of control characters
//! other than newline and tab, since a page displays them and an operator may read them in
//! the audit log; they are never written to the tracing log.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::{lock, Desktop, DesktopError, Result};

/// The longest help message or reply, in characters.
pub const MAX_HELP_CHARS: usize = 2000;

/// A help request as the agent and the page see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HelpRequest {
    /// Counts up per desktop, so an answer names the request it answers.
    pub id: u64,
    /// What the agent asked.
    pub message: String,
    /// Seconds since it was asked.
    pub age_secs: u64,
    /// The human's answer, once there is one.
    pub answer: Option<HelpAnswer>,
    /// The token whose agent-loop task asked (`None`: an agent over MCP): its question is not
    /// replaced by another's, and its answer is for the task alone.
    pub owner: Option<String>,
}

/// A human's answer to a help request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HelpAnswer {
    /// The viewer who answered.
    pub viewer: String,
    /// What they wrote; may be empty ("done").
    pub reply: String,
    /// Seconds since they answered.
    pub age_secs: u64,
}

#[derive(Debug)]
struct Asked {
    id: u64,
    message: String,
    at: Instant,
    answer: Option<(String, String, Instant)>,
    owner: Option<String>,
}

impl Asked {
    fn snapshot(&self) -> HelpRequest {
        HelpRequest {
            id: self.id,
            message: self.message.clone(),
            age_secs: self.at.elapsed().as_secs(),
            answer: self.answer.as_ref().map(|(viewer, reply, at)| HelpAnswer {
                viewer: viewer.clone(),
                reply: reply.clone(),
                age_secs: at.elapsed().as_secs(),
            }),
            owner: self.owner.clone(),
        }
    }
}

#[derive(Debug, Default)]
struct State {
    latest: Option<Asked>,
    next_id: u64,
    /// An answer the agent has not seen yet.
    unseen_answer: bool,
}

/// A desktop's help-request state.
#[derive(Debug)]
pub(crate) struct Help {
    state: Mutex<State>,
    /// Bumped at every change, so `help_status` can wait for one.
    changed: tokio::sync::watch::Sender<u64>,
}

impl Help {
    pub(crate) fn new() -> Help {
        Help {
            state: Mutex::new(State {
                next_id: 1,
                ..State::default()
            }),
            changed: tokio::sync::watch::Sender::new(0),
        }
    }

    fn bump(&self) {
        self.changed.send_modify(|v| *v = v.wrapping_add(1));
    }
}

/// Refuses a text a page could not show as written: too long, or with control characters.
fn check_text(what: &str, text: &str, allow_empty: bool) -> Result<String> {
    let text = text.trim();
    if text.is_empty() && !allow_empty {
        return Err(DesktopError::BadRequest(format!(
            "the {what} is empty; say what a human should do, e.g. \"please solve the captcha \
             in Firefox\""
        )));
    }
    let chars = text.chars().count();
    if chars > MAX_HELP_CHARS {
        return Err(DesktopError::BadRequest(format!(
            "the {what} has {chars} characters; at most {MAX_HELP_CHARS} are accepted"
        )));
    }
    if let Some(c) = text
        .chars()
        .find(|c| c.is_control() && !matches!(c, '\n' | '\t'))
    {
        return Err(DesktopError::BadRequest(format!(
            "the {what} contains the control character U+{:04X}; only newlines and tabs are \
             accepted",
            c as u32
        )));
    }
    Ok(text.to_string())
}

impl Desktop {
    fn help(&self) -> &Help {
        &self.inner.help
    }

    /// Asks for a human; replaces an open request, unless a task's. Returns the new request.
    pub fn ask_for_help(&self, message: &str) -> Result<HelpRequest> {
        self.ask(message, None)
    }

    /// Asks for a human on behalf of an agent-loop task of token `owner`.
    pub fn ask_for_help_as(&self, message: &str, owner: &str) -> Result<HelpRequest> {
        self.ask(message, Some(owner))
    }

    fn ask(&self, message: &str, owner: Option<&str>) -> Result<HelpRequest> {
        let message = check_text("message", message, false)?;
        let snapshot = {
            let mut state = lock(&self.help().state);
            // A task's open question stays until answered or withdrawn: another caller's
            // request must not take its place on the page (and so its answer).
            if let Some(latest) = &state.latest {
                if latest.owner.is_some() && latest.answer.is_none() {
                    return Err(DesktopError::Failed(
                        "a task of the agent loop is waiting for a person's answer to its own \
                         question on this desktop; ask again once it is answered"
                            .into(),
                    ));
                }
            }
            let id = state.next_id;
            state.next_id += 1;
            state.unseen_answer = false;
            let asked = Asked {
                id,
                message,
                at: Instant::now(),
                answer: None,
                owner: owner.map(str::to_owned),
            };
            let snapshot = asked.snapshot();
            state.latest = Some(asked);
            snapshot
        };
        tracing::info!(request = snapshot.id, "the agent asked for help");
        self.help().bump();
        Ok(snapshot)
    }

    /// Withdraws request `id` if it is still the open one (whoever asked no longer waits: a
    /// task that ended): the live view stops showing it. Whether it was withdrawn.
    pub fn withdraw_help(&self, id: u64) -> bool {
        let withdrawn = {
            let mut state = lock(&self.help().state);
            let open = state
                .latest
                .as_ref()
                .is_some_and(|r| r.id == id && r.answer.is_none());
            if open {
                state.latest = None;
            }
            open
        };
        if withdrawn {
            tracing::info!(request = id, "a help request was withdrawn");
            self.help().bump();
        }
        withdrawn
    }

    /// The latest request, open or answered.
    pub fn help_request(&self) -> Option<HelpRequest> {
        lock(&self.help().state)
            .latest
            .as_ref()
            .map(Asked::snapshot)
    }

    /// A human answers request `id`. Refused if it is not the latest request or is already
    /// answered (the agent asked something else meanwhile, or another viewer was faster).
    pub fn answer_help(&self, id: u64, viewer: &str, reply: &str) -> Result<HelpRequest> {
        let reply = check_text("reply", reply, true)?;
        let snapshot = {
            let mut state = lock(&self.help().state);
            let latest = match &mut state.latest {
                Some(latest) if latest.id == id => latest,
                Some(latest) => {
                    return Err(DesktopError::Failed(format!(
                        "help request {id} was replaced by request {}; answer that one",
                        latest.id
                    )))
                }
                None => {
                    return Err(DesktopError::Failed(format!(
                        "there is no help request {id}"
                    )))
                }
            };
            if latest.answer.is_some() {
                return Err(DesktopError::Failed(format!(
                    "help request {id} is already answered"
                )));
            }
            latest.answer = Some((viewer.to_string(), reply, Instant::now()));
            let snapshot = latest.snapshot();
            state.unseen_answer = true;
            snapshot
        };
        tracing::info!(request = id, %viewer, "a human answered the help request");
        self.help().bump();
        Ok(snapshot)
    }

    /// The latest request once it is answered, or after `wait` at most, whichever is first
    /// (at once if there is no open request). Marks its answer seen.
    pub async fn help_status(&self, wait: Duration) -> Option<HelpRequest> {
        let mut changes = self.help().changed.subscribe();
        let open = |r: &Option<HelpRequest>| r.as_ref().is_some_and(|r| r.answer.is_none());
        if open(&self.help_request()) && !wait.is_zero() {
            let deadline = tokio::time::Instant::now() + wait;
            while open(&self.help_request()) {
                match tokio::time::timeout_at(deadline, changes.changed()).await {
                    Ok(Ok(())) => continue,
                    // Timed out, or the desktop is going away.
                    _ => break,
                }
            }
        }
        let mut state = lock(&self.help().state);
        state.unseen_answer = false;
        state.latest.as_ref().map(Asked::snapshot)
    }

    /// The answered request, if the agent has not seen its answer yet; marks it seen. For a
    /// note on the agent's next tool result.
    pub fn take_help_answer(&self) -> Option<HelpRequest> {
        let mut state = lock(&self.help().state);
        // A task's answer is the task's: no other agent is told it.
        if state.latest.as_ref().is_some_and(|r| r.owner.is_some()) {
            return None;
        }
        if !std::mem::take(&mut state.unseen_answer) {
            return None;
        }
        state.latest.as_ref().map(Asked::snapshot)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_are_bounded_and_printable() {
        assert!(check_text("message", "  ", false).is_err());
        assert_eq!(check_text("reply", "  ", true).unwrap(), "");
        assert_eq!(
            check_text("message", " solve\tthe\ncaptcha ", false).unwrap(),
            "solve\tthe\ncaptcha"
        );
        let long = "é".repeat(MAX_HELP_CHARS + 1);
        let e = check_text("message", &long, false).unwrap_err().to_string();
        assert!(e.contains("2001 characters"), "{e}");
        assert!(check_text("message", &"é".repeat(MAX_HELP_CHARS), false).is_ok());
        let e = check_text("message", "a\u{1b}[31mb", false)
            .unwrap_err()
            .to_string();
        assert!(e.contains("U+001B"), "{e}");
        assert!(check_text("message", "a\u{0}b", false).is_err());
    }
}
