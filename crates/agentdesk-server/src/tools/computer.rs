//! Tool profiles: an MCP endpoint with `?tools=anthropic|openai|gemini` lists a
//! vendor's computer-use actions as MCP tools, with the vendor's names and arguments, instead
//! of GhostDesk's (`?tools=ghostdesk`, the default). Each call is read by the dialect's own
//! reader in `agentdesk-computer` (its coordinate convention included: screenshot pixels, or
//! Gemini's 0–999 grid) and run like one action of the executor endpoints.

use std::sync::Arc;
use std::time::Instant;

use agentdesk_computer::{Call as Step, Dialect, Outcome as Ran};
use agentdesk_desktop::{Format, TurnOptions};
use rmcp::model::{CallToolResult, ContentBlock, Tool, ToolAnnotations};
use serde_json::{Map, Value};

use super::Call;
use crate::audit;

/// Which tools an MCP endpoint offers: GhostDesk's and agentdesk's (`None`, the default), or
/// a vendor's dialect.
pub(crate) type Profile = Option<Dialect>;

/// The query parameter that picks a profile.
pub(crate) const PROFILE_QUERY: &str = "tools";

/// The profile a request's query asks for.
pub(crate) fn profile_of_query(query: &str) -> Result<Profile, String> {
    for pair in query.split('&') {
        if let Some(value) = pair
            .strip_prefix(PROFILE_QUERY)
            .and_then(|r| r.strip_prefix('='))
        {
            return match value {
                "ghostdesk" | "" => Ok(None),
                other => Dialect::parse(other).map(Some).ok_or_else(|| {
                    format!(
                        "tools={} is not a profile here; use ghostdesk (the default), \
                         anthropic, openai or gemini",
                        audit::cut(other)
                    )
                }),
            };
        }
    }
    Ok(None)
}

/// The profile's tools, as MCP lists them.
pub(crate) fn list(dialect: Dialect) -> Vec<Tool> {
    dialect
        .tools()
        .into_iter()
        .map(|(name, description, schema)| {
            let schema = match schema {
                Value::Object(map) => map,
                _ => Map::new(),
            };
            let capture = matches!(
                name,
                "screenshot" | "zoom" | "cursor_position" | "take_screenshot"
            );
            let annotations = if capture {
                ToolAnnotations::new().read_only(true).open_world(false)
            } else {
                ToolAnnotations::new().read_only(false).destructive(true)
            };
            Tool::new(name, description, Arc::new(schema)).with_annotations(annotations)
        })
        .collect()
}

/// Runs `name` of `dialect`; `None` if the dialect has no such tool.
pub(crate) async fn call(
    dialect: Dialect,
    name: &str,
    args: Map<String, Value>,
    call: &Call,
) -> Option<(CallToolResult, audit::Outcome)> {
    if !dialect.tools().iter().any(|(n, _, _)| *n == name) {
        return None;
    }
    let space = dialect.space(call.desktop.screen_size());
    let action = dialect.read(name, &Value::Object(args), &space);
    let rejected = action.is_err();
    let step = Step {
        id: String::new(),
        name: name.to_owned(),
        action,
        input: Value::Null,
    };
    let options = TurnOptions {
        space,
        format: Format::Webp,
        deadline: Instant::now() + call.timeout,
        screenshot: false,
        // The call's own limit ends it; a server that stops cancels the call itself.
        cancel: Default::default(),
    };
    let turn = call
        .desktop
        .run_turn(std::slice::from_ref(&step), options)
        .await;
    Some(match turn.outcomes.into_iter().next() {
        Some(Ran::Done(done)) => {
            let mut content = Vec::new();
            if let Some(image) = done.image {
                content.push(ContentBlock::image(image.base64, image.mime_type));
            }
            if !done.text.is_empty() {
                content.push(ContentBlock::text(done.text));
            }
            (CallToolResult::success(content), audit::Outcome::Ok)
        }
        Some(failed) => {
            let outcome = if rejected {
                audit::Outcome::Rejected
            } else {
                audit::Outcome::Error
            };
            (super::error_text(failed.text().to_owned()), outcome)
        }
        None => (
            super::error_text("nothing ran".into()),
            audit::Outcome::Error,
        ),
    })
}
