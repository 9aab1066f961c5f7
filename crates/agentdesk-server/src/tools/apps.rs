//! `app_list`, `app_launch`, `app_status`.
//!
//! GhostDesk reports app failures as `{"error": ...}` bodies with isError false. We keep the
//! body (so prompts that look for "error" still work) and also set isError, so clients and
//! models see a failure as a failure.

use agentdesk_desktop::{Desktop, DesktopError};
use agentdesk_proto::{AppEntry, AppStatus, ErrorBody, LaunchArgs, Launched, NoArgs, StatusArgs};
use rmcp::model::{CallToolResult, ContentBlock};
use serde_json::{json, Map, Value};

use super::{json_text, Call, Outcome};

pub(crate) const LIST: &str = "\
List the applications installed on the desktop (from their .desktop files): name and the \
executable to pass to app_launch. This list is the only thing app_launch accepts.";
pub(crate) const LAUNCH: &str = "\
Start an application from app_list, optionally with arguments (\"firefox-esr \
https://example.org\"). It runs directly, not through a shell. Returns its pid and log file; \
take a screenshot afterwards (and before: it may already be open).";
pub(crate) const STATUS: &str = "\
Whether an app started with app_launch is still running, with the newest `lines` (default 50) \
of its output: useful when an app does not appear.";

pub(crate) fn list_output_schema() -> Map<String, Value> {
    super::object(json!({
        "type": "object",
        "properties": {"result": {"type": "array", "items": {
            "type": "object",
            "properties": {"name": {"type": "string"}, "exec": {"type": "string"}},
            "required": ["name", "exec"]
        }}},
        "required": ["result"]
    }))
}

/// GhostDesk's failure body for the app tools, as a tool error.
pub(super) fn error_body(message: String) -> CallToolResult {
    let body = agentdesk_proto::to_json_text(&ErrorBody { error: message });
    CallToolResult::error(vec![ContentBlock::text(body)])
}

/// The desktop's apps as GhostDesk's `{name, exec}` entries (app_list and ghostdesk://apps).
pub(crate) fn entries(desktop: &Desktop) -> Vec<AppEntry> {
    desktop
        .app_list()
        .into_iter()
        .map(|(name, exec)| AppEntry { name, exec })
        .collect()
}

pub(crate) fn app_list(args: Result<NoArgs, DesktopError>, call: &Call) -> Outcome {
    args?;
    let apps = entries(&call.desktop);
    // GhostDesk: one text block per app, plus the whole list as structured content.
    let content = apps
        .iter()
        .map(|a| ContentBlock::text(agentdesk_proto::to_json_text(a)))
        .collect();
    let mut result = CallToolResult::success(content);
    result.structured_content = Some(json!({ "result": apps }));
    Ok(result)
}

pub(crate) async fn app_launch(args: Result<LaunchArgs, DesktopError>, call: &Call) -> Outcome {
    let command = args?.command;
    let (pid, log) = call.desktop.app_launch(&command).await?;
    Ok(json_text(&Launched {
        pid,
        log_file: log.display().to_string(),
        action: format!("Launched: {command}"),
    }))
}

pub(crate) fn app_status(args: Result<StatusArgs, DesktopError>, call: &Call) -> Outcome {
    let args = args?;
    let (pid, running, log, tail) = call.desktop.app_status(args.pid, args.lines)?;
    Ok(json_text(&AppStatus {
        pid,
        running,
        log_file: log.display().to_string(),
        tail,
    }))
}
