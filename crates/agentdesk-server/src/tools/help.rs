//! `help_request` and `help_status` (ours, not GhostDesk's): the agent asks for a human, and
//! learns whether one answered. The live view shows the request and takes the answer.

use std::time::Duration;

use agentdesk_desktop::{Desktop, DesktopError, HelpRequest};
use agentdesk_proto::{HelpArgs, HelpStatus, HelpStatusArgs};

use super::{json_text, Call, Outcome};

/// The longest `help_status` wait, well inside the default per-call limit (30 s).
const MAX_WAIT_SECS: i64 = 20;

pub(crate) const REQUEST: &str = "\
Ask a human for help, with a message saying what to do, e.g. \"please solve the captcha in \
Firefox\" or \"please log in to the bank\". Whoever watches this desktop's live view sees the \
message; they may take control (your input tools are then refused until they hand back) and \
answer. Use it for what you must not or cannot do yourself: captchas, logins with secrets you \
lack, confirmations. Asking again replaces the open request. Then call help_status with \
wait_seconds to wait for the answer.";
pub(crate) const STATUS: &str = "\
The state of your latest help request (none, open or answered, with the human's reply) and \
whether a human holds control. wait_seconds (up to 20) waits for an answer to an open request; \
call it again to keep waiting. After an answer, take a screenshot: the screen may have changed.";

pub(crate) fn help_request(args: Result<HelpArgs, DesktopError>, call: &Call) -> Outcome {
    let asked = call.desktop.ask_for_help(&args?.message)?;
    Ok(json_text(&status(&call.desktop, Some(asked))))
}

pub(crate) async fn help_status(
    args: Result<HelpStatusArgs, DesktopError>,
    call: &Call,
) -> Outcome {
    let wait = args?.wait_seconds;
    // Inside the per-call limit, with time to answer.
    let limit = call.timeout.as_secs().saturating_sub(2);
    let max = MAX_WAIT_SECS.min(i64::try_from(limit).unwrap_or(i64::MAX));
    if !(0..=max).contains(&wait) {
        return Err(DesktopError::BadRequest(format!(
            "wait_seconds must be 0 to {max} (got {wait}; at most {MAX_WAIT_SECS}, and under \
             this server's per-call limit of {} s); call help_status again to wait longer",
            call.timeout.as_secs()
        )));
    }
    let latest = call
        .desktop
        .help_status(Duration::from_secs(wait.unsigned_abs()))
        .await;
    Ok(json_text(&status(&call.desktop, latest)))
}

/// The agent's view of a request, with what to do next.
pub(crate) fn status(desktop: &Desktop, request: Option<HelpRequest>) -> HelpStatus {
    let human_has_control = desktop.human_has_control();
    let view = format!("/desktops/{}/view", desktop.id());
    let Some(request) = request else {
        return HelpStatus {
            request: None,
            state: "none".into(),
            message: None,
            asked_secs_ago: None,
            reply: None,
            human_has_control,
            action: "No help request. Call help_request with a message when you need a human."
                .into(),
        };
    };
    let (state, action) = match (&request.answer, human_has_control) {
        (Some(answer), _) => (
            "answered",
            format!(
                "A human answered{}. Take a screenshot before acting: the screen may have \
                 changed.",
                if answer.reply.is_empty() || request.owner.is_some() {
                    String::new()
                } else {
                    format!(": {:?}", answer.reply)
                }
            ),
        ),
        (None, true) => (
            "open",
            "A human has taken control and is on it; your input tools are refused until they \
             hand back. Wait with help_status (wait_seconds), then take a screenshot."
                .to_string(),
        ),
        (None, false) => (
            "open",
            format!(
                "Waiting for a human: the live view ({view}) shows your message to whoever \
                 watches. Wait with help_status (wait_seconds), or go on with other work."
            ),
        ),
    };
    HelpStatus {
        request: Some(request.id),
        state: state.into(),
        message: Some(request.message),
        asked_secs_ago: Some(request.age_secs),
        // A task's answer is for the task: an agent over MCP sees that it was answered.
        reply: request
            .answer
            .filter(|_| request.owner.is_none())
            .map(|a| a.reply),
        human_has_control,
        action,
    }
}
