//! `clipboard_get` and `clipboard_set`: text plus `structuredContent {"result": ...}`, as
//! GhostDesk returns them.

use agentdesk_desktop::DesktopError;
use agentdesk_proto::{NoArgs, TextArgs};
use rmcp::model::{CallToolResult, ContentBlock};
use serde_json::{json, Map, Value};

use super::{Call, Outcome};

pub(crate) const GET: &str = "\
Read the clipboard as text (\"\" if it is empty or holds something that is not text).";
pub(crate) const SET: &str = "\
Put text on the clipboard. Then key_press(\"ctrl+v\") pastes it: the fastest way to enter long \
text. The text stays on the clipboard until something else is copied.";

pub(crate) fn output_schema() -> Map<String, Value> {
    super::object(json!({
        "type": "object",
        "properties": {"result": {"type": "string"}},
        "required": ["result"]
    }))
}

fn text_result(text: String) -> CallToolResult {
    let mut result = CallToolResult::success(vec![ContentBlock::text(text.clone())]);
    result.structured_content = Some(json!({ "result": text }));
    result
}

pub(crate) async fn get(args: Result<NoArgs, DesktopError>, call: &Call) -> Outcome {
    args?;
    Ok(text_result(call.desktop.clipboard_get().await?))
}

pub(crate) async fn set(args: Result<TextArgs, DesktopError>, call: &Call) -> Outcome {
    let text = args?.text;
    let n = text.chars().count();
    call.desktop.clipboard_set(text).await?;
    Ok(text_result(format!("Clipboard set ({n} characters)")))
}
