//! Tool results, shaped as GhostDesk shapes them.

use serde::Serialize;

/// What every input tool returns (as pretty-printed JSON text).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Feedback {
    /// What was done, in pixels, e.g. "Clicked left at (320, 8)".
    pub action: String,
    /// Whether the screen visibly changed after the action.
    pub screen_changed: bool,
    /// Milliseconds from the action to the first visible change (or until we stopped looking).
    pub reaction_time_ms: u64,
}

/// One entry of `app_list`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct AppEntry {
    /// The application's name, as its menu shows it.
    pub name: String,
    /// The executable to pass to app_launch.
    pub exec: String,
}

/// `app_launch` success.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Launched {
    /// The process id, for app_status.
    pub pid: u32,
    /// Where its stdout and stderr go.
    pub log_file: String,
    /// "Launched: <command>".
    pub action: String,
}

/// `app_status` success.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AppStatus {
    /// The process id asked about.
    pub pid: u32,
    /// Whether it is still running.
    pub running: bool,
    /// Where its output goes.
    pub log_file: String,
    /// Its newest output lines.
    pub tail: String,
}

/// `help_request` and `help_status` success: the state of the latest help request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HelpStatus {
    /// The request's number; absent when the agent never asked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request: Option<u64>,
    /// "none", "open" or "answered".
    pub state: String,
    /// What the agent asked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Seconds since it was asked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub asked_secs_ago: Option<u64>,
    /// The human's answer (may be empty), once answered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reply: Option<String>,
    /// Whether a human holds control now (the agent's input tools are refused meanwhile).
    pub human_has_control: bool,
    /// What this means and what to do next.
    pub action: String,
}

/// The body of an app tool's error: `{"error": "..."}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ErrorBody {
    /// What went wrong and what to do instead.
    pub error: String,
}

/// GhostDesk's JSON text: `json.dumps(value, indent=2)`.
pub fn to_json_text<T: Serialize>(value: &T) -> String {
    serde_json::to_string_pretty(value).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
}
