//! The tool table (names, descriptions, schemas, annotations) and dispatch to one module per
//! group of tools. Names, arguments and result shapes are GhostDesk's.

mod apps;
mod batch;
mod browser;
pub(crate) mod computer;

pub(crate) use apps::entries as app_entries;
mod clipboard;
pub(crate) mod files;
pub(crate) mod fleet;
mod grounding;
mod help;
mod input;
mod screen;
mod ui;

use std::sync::Arc;

use agentdesk_desktop::{Desktop, DesktopError, ModelSpace};

use crate::audit;
use agentdesk_proto::{input_schema, NoArgs};
use rmcp::model::{CallToolResult, ContentBlock, Tool, ToolAnnotations};
use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

/// What a tool call acts on.
pub(crate) struct Call {
    pub(crate) desktop: Desktop,
    pub(crate) space: ModelSpace,
    /// The per-call limit (`--call-timeout`); a tool that may wait stays inside it.
    pub(crate) timeout: std::time::Duration,
    /// Which tools the endpoint offers (`?tools=`).
    pub(crate) profile: computer::Profile,
}

/// A tool's outcome before it becomes an MCP result.
pub(crate) type Outcome = Result<CallToolResult, DesktopError>;

fn tool<A: JsonSchema>(
    name: &'static str,
    description: &'static str,
    annotations: ToolAnnotations,
) -> Tool {
    Tool::new(name, description, Arc::new(input_schema::<A>())).with_annotations(annotations)
}

fn read_only() -> ToolAnnotations {
    ToolAnnotations::new()
        .read_only(true)
        .idempotent(true)
        .open_world(false)
}

fn harmless() -> ToolAnnotations {
    ToolAnnotations::new().read_only(false).destructive(false)
}

fn acting() -> ToolAnnotations {
    ToolAnnotations::new()
        .read_only(false)
        .destructive(true)
        .idempotent(false)
}

/// Every tool, in a fixed order.
pub(crate) fn list() -> Vec<Tool> {
    use agentdesk_proto::*;
    vec![
        tool::<ScreenShotArgs>("screen_shot", screen::DESCRIPTION, read_only()),
        tool::<PointArgs>("mouse_move", input::MOVE, harmless().idempotent(true)),
        tool::<ClickArgs>("mouse_click", input::CLICK, acting()),
        tool::<ClickArgs>("mouse_double_click", input::DOUBLE_CLICK, acting()),
        tool::<DragArgs>("mouse_drag", input::DRAG, acting()),
        tool::<ScrollArgs>("mouse_scroll", input::SCROLL, harmless()),
        tool::<TextArgs>("key_type", input::TYPE, acting()),
        tool::<KeysArgs>("key_press", input::PRESS, acting()),
        tool::<NoArgs>("app_list", apps::LIST, read_only())
            .with_raw_output_schema(Arc::new(apps::list_output_schema())),
        tool::<LaunchArgs>("app_launch", apps::LAUNCH, harmless()),
        tool::<StatusArgs>(
            "app_status",
            apps::STATUS,
            ToolAnnotations::new().read_only(true).open_world(false),
        ),
        tool::<NoArgs>("clipboard_get", clipboard::GET, read_only())
            .with_raw_output_schema(Arc::new(clipboard::output_schema())),
        tool::<TextArgs>("clipboard_set", clipboard::SET, harmless().idempotent(true))
            .with_raw_output_schema(Arc::new(clipboard::output_schema())),
        // Ours, after GhostDesk's thirteen.
        tool::<HelpArgs>("help_request", help::REQUEST, harmless().open_world(true)),
        tool::<HelpStatusArgs>("help_status", help::STATUS, read_only()),
        // Grounding: where things are, beyond pixels.
        tool::<FindTextArgs>("screen_find_text", grounding::FIND_TEXT, read_only()),
        tool::<ReadTextArgs>("screen_read_text", grounding::READ_TEXT, read_only()),
        tool::<ZoomArgs>("screen_zoom", grounding::ZOOM, read_only()),
        tool::<WindowListArgs>("window_list", grounding::WINDOW_LIST, read_only()),
        tool::<WindowActionArgs>("window_action", grounding::WINDOW_ACTION, acting()),
        tool::<UiTreeArgs>("ui_tree", ui::TREE, read_only()),
        tool::<UiFindArgs>("ui_find", ui::FIND, read_only()),
        tool::<UiActionArgs>("ui_action", ui::ACTION, acting()),
        tool::<PageMapArgs>("browser_page_map", browser::PAGE_MAP, read_only()),
        tool::<NavigateArgs>(
            "browser_navigate",
            browser::NAVIGATE,
            acting().open_world(true),
        ),
        tool::<BatchArgs>("batch", batch::DESCRIPTION, acting()),
    ]
}

/// The tools of `/mcp`: the desktop tools, each also taking an optional `desktop` (which
/// desktop to act on; the default desktop without it), then the fleet tools. A desktop's own
/// endpoint serves [`list`] exactly: there, the desktop is the endpoint's.
pub(crate) fn list_main() -> Vec<Tool> {
    let mut tools = list();
    for tool in &mut tools {
        let mut schema = (*tool.input_schema).clone();
        if let Some(Value::Object(props)) = schema.get_mut("properties") {
            props.insert(
                DESKTOP_ARG.into(),
                serde_json::json!({
                    "type": "string",
                    "description": "The desktop to act on (desktop_list shows them); default: \
                                    the default desktop."
                }),
            );
        }
        tool.input_schema = Arc::new(schema);
    }
    tools.extend(fleet::list());
    tools.extend(files::list());
    tools
}

/// The argument that names a desktop on `/mcp`.
pub(crate) const DESKTOP_ARG: &str = "desktop";

/// Runs tool `name`, and says how it ended for the audit log: done (`Ok`), tried and failed
/// (`Error`: an app that would not start, a desktop restarting), or turned away before anything
/// happened (`Rejected`: invalid arguments, outside the launch policy, a human in control).
/// `None` if there is no such tool (a protocol error, not a tool error).
pub(crate) async fn call(
    name: &str,
    args: Map<String, Value>,
    call: Call,
) -> Option<(CallToolResult, audit::Outcome)> {
    if let Some(dialect) = call.profile {
        return computer::call(dialect, name, args, &call).await;
    }
    let outcome = match name {
        "batch" => batch::batch(parse(name, args), &call).await,
        "screen_shot" => screen::screen_shot(parse(name, args), &call).await,
        "mouse_move" => input::mouse_move(parse(name, args), &call).await,
        "mouse_click" => input::mouse_click(parse(name, args), &call, 1).await,
        "mouse_double_click" => input::mouse_click(parse(name, args), &call, 2).await,
        "mouse_drag" => input::mouse_drag(parse(name, args), &call).await,
        "mouse_scroll" => input::mouse_scroll(parse(name, args), &call).await,
        "key_type" => input::key_type(parse(name, args), &call).await,
        "key_press" => input::key_press(parse(name, args), &call).await,
        "app_list" => apps::app_list(parse::<NoArgs>(name, args), &call),
        "app_launch" => apps::app_launch(parse(name, args), &call).await,
        "app_status" => apps::app_status(parse(name, args), &call),
        "clipboard_get" => clipboard::get(parse::<NoArgs>(name, args), &call).await,
        "clipboard_set" => clipboard::set(parse(name, args), &call).await,
        "help_request" => help::help_request(parse(name, args), &call),
        "help_status" => help::help_status(parse(name, args), &call).await,
        "screen_find_text" => grounding::find_text(parse(name, args), &call).await,
        "screen_read_text" => grounding::read_text(parse(name, args), &call).await,
        "screen_zoom" => grounding::zoom(parse(name, args), &call).await,
        "window_list" => grounding::window_list(parse(name, args), &call).await,
        "window_action" => grounding::window_action(parse(name, args), &call).await,
        "ui_tree" => ui::ui_tree(parse(name, args), &call).await,
        "ui_find" => ui::ui_find(parse(name, args), &call).await,
        "ui_action" => ui::ui_action(parse(name, args), &call).await,
        "browser_page_map" => browser::page_map(parse(name, args), &call).await,
        "browser_navigate" => browser::navigate(parse(name, args), &call).await,
        _ => return None,
    };
    Some(match outcome {
        Ok(result) if result.is_error == Some(true) => (result, audit::Outcome::Error),
        Ok(result) => (result, audit::Outcome::Ok),
        Err(e) => {
            let outcome = if e.is_rejection() {
                audit::Outcome::Rejected
            } else {
                audit::Outcome::Error
            };
            (render_error(name, e), outcome)
        }
    })
}

/// A tool's failure as the agent sees it: the app tools answer GhostDesk's `{"error": ...}`
/// body for what the app catalog or process refused; everything else is plain text.
fn render_error(tool: &str, e: DesktopError) -> CallToolResult {
    match e {
        DesktopError::Failed(message) | DesktopError::Refused(message)
            if tool.starts_with("app_") =>
        {
            apps::error_body(message)
        }
        other => error_text(other.to_string()),
    }
}

/// Deserializes arguments; a mistake becomes an error naming the tool, the problem and the
/// expected arguments.
pub(crate) fn parse<A: DeserializeOwned + JsonSchema>(
    tool: &str,
    mut args: Map<String, Value>,
) -> Result<A, DesktopError> {
    coerce_pair(&mut args);
    serde_json::from_value(Value::Object(args)).map_err(|e| {
        DesktopError::BadRequest(format!(
            "invalid arguments for {tool}: {e}. Expected {}",
            describe_args(&input_schema::<A>())
        ))
    })
}

/// GhostDesk accepts `x: "383, 22"` (a pair in one string) when `y` is missing; so do we.
fn coerce_pair(args: &mut Map<String, Value>) {
    if args.contains_key("y") {
        return;
    }
    let Some(Value::String(x)) = args.get("x") else {
        return;
    };
    let Some((a, b)) = x.split_once(',') else {
        return;
    };
    let (a, b) = (a.trim().to_string(), b.trim().to_string());
    args.insert("x".into(), Value::String(a));
    args.insert("y".into(), Value::String(b));
}

/// "x (integer), y (integer), button (optional: left, middle, right)".
fn describe_args(schema: &Map<String, Value>) -> String {
    let required: Vec<&str> = schema
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let Some(Value::Object(props)) = schema.get("properties") else {
        return "no arguments".into();
    };
    if props.is_empty() {
        return "no arguments".into();
    }
    let parts: Vec<String> = props
        .iter()
        .map(|(name, prop)| {
            let kind = match prop.get("type") {
                Some(Value::String(t)) => t.clone(),
                Some(Value::Array(ts)) => ts
                    .iter()
                    .filter_map(Value::as_str)
                    .filter(|t| *t != "null")
                    .collect::<Vec<_>>()
                    .join("/"),
                _ => prop
                    .get("oneOf")
                    .and_then(Value::as_array)
                    .map(|v| {
                        v.iter()
                            .filter_map(|c| c.get("const").and_then(Value::as_str))
                            .collect::<Vec<_>>()
                            .join("|")
                    })
                    .unwrap_or_else(|| "value".into()),
            };
            let optional = if required.contains(&name.as_str()) {
                ""
            } else {
                ", optional"
            };
            format!("{name} ({kind}{optional})")
        })
        .collect();
    parts.join(", ")
}

/// A JSON object literal as a schema map (for hand-written output schemas).
pub(crate) fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

/// A tool error the agent can act on.
pub(crate) fn error_text(message: String) -> CallToolResult {
    CallToolResult::error(vec![ContentBlock::text(message)])
}

/// GhostDesk's JSON-in-text result.
pub(crate) fn json_text<T: serde::Serialize>(value: &T) -> CallToolResult {
    CallToolResult::success(vec![ContentBlock::text(agentdesk_proto::to_json_text(
        value,
    ))])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ghostdesks_thirteen_tools_in_order_then_ours() {
        let names: Vec<String> = list().iter().map(|t| t.name.to_string()).collect();
        assert_eq!(
            names,
            [
                "screen_shot",
                "mouse_move",
                "mouse_click",
                "mouse_double_click",
                "mouse_drag",
                "mouse_scroll",
                "key_type",
                "key_press",
                "app_list",
                "app_launch",
                "app_status",
                "clipboard_get",
                "clipboard_set",
                "help_request",
                "help_status",
                "screen_find_text",
                "screen_read_text",
                "screen_zoom",
                "window_list",
                "window_action",
                "ui_tree",
                "ui_find",
                "ui_action",
                "browser_page_map",
                "browser_navigate",
                "batch"
            ]
        );
    }

    #[test]
    fn argument_errors_say_what_was_expected() {
        let mut args = Map::new();
        args.insert("x".into(), Value::String("abc".into()));
        args.insert("y".into(), Value::from(1));
        let err = parse::<agentdesk_proto::ClickArgs>("mouse_click", args)
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.starts_with("invalid arguments for mouse_click: "),
            "{err}"
        );
        assert!(
            err.contains("x (integer)") && err.contains("button (") && err.contains("optional"),
            "{err}"
        );
    }

    #[test]
    fn a_pair_in_x_is_split_like_ghostdesk() {
        let mut args = Map::new();
        args.insert("x".into(), Value::String("383, 22".into()));
        let a: agentdesk_proto::PointArgs = parse("mouse_move", args).unwrap();
        assert_eq!((a.x, a.y), (383, 22));
    }
}
