//! Each dialect's calls as MCP tools, for clients that speak only MCP: one tool per toolset
//! member (Anthropic), action type (OpenAI) or predefined function (Gemini), with the names
//! and arguments the vendor documents, so a model trained on its vendor's action set calls
//! them as it would natively.

use serde_json::{json, Map, Value};

/// A tool: name, description, JSON Schema of its arguments.
pub type Tool = (&'static str, &'static str, Value);

fn object(props: &[(&str, Value)], required: &[&str]) -> Value {
    let properties: Map<String, Value> = props
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect();
    json!({"type": "object", "properties": properties, "required": required})
}

fn int(description: &str) -> Value {
    json!({"type": "integer", "description": description})
}

fn string(description: &str) -> Value {
    json!({"type": "string", "description": description})
}

fn pair(description: &str) -> Value {
    json!({"type": "array", "items": {"type": "integer"}, "minItems": 2, "maxItems": 2,
           "description": description})
}

fn keys(description: &str) -> Value {
    json!({"type": "array", "items": {"type": "string"}, "description": description})
}

fn direction() -> Value {
    json!({"type": "string", "enum": ["up", "down", "left", "right"]})
}

/// Anthropic's toolset members (coordinates: pixels of the screenshots).
pub fn anthropic() -> Vec<Tool> {
    let at = || pair("[x, y] in screenshot pixels; the pointer's place if omitted");
    let held = || string("modifier keys held meanwhile, '+'-joined: \"shift\", \"ctrl+alt\"");
    let click = |name, description| {
        (
            name,
            description,
            object(&[("coordinate", at()), ("text", held())], &[]),
        )
    };
    vec![
        ("screenshot", "Capture the screen.", object(&[], &[])),
        (
            "cursor_position",
            "Say where the pointer is (\"X=..,Y=..\").",
            object(&[], &[]),
        ),
        (
            "zoom",
            "Capture a region [x0, y0, x1, y1] at full resolution.",
            object(
                &[(
                    "region",
                    json!({"type": "array", "items": {"type": "integer"}, "minItems": 4,
                           "maxItems": 4}),
                )],
                &["region"],
            ),
        ),
        click("left_click", "Click the left button."),
        click("right_click", "Click the right button."),
        click("middle_click", "Click the middle button."),
        click("double_click", "Double-click the left button."),
        click(
            "triple_click",
            "Triple-click the left button (select a line).",
        ),
        (
            "left_click_drag",
            "Press the left button at start_coordinate, move to coordinate, release.",
            object(
                &[
                    ("start_coordinate", pair("[x, y] where the drag starts")),
                    ("coordinate", pair("[x, y] where it ends")),
                    ("text", held()),
                ],
                &["start_coordinate", "coordinate"],
            ),
        ),
        (
            "mouse_move",
            "Move the pointer.",
            object(
                &[("coordinate", pair("[x, y] in screenshot pixels"))],
                &["coordinate"],
            ),
        ),
        (
            "left_mouse_down",
            "Press the left button and keep it down.",
            object(&[], &[]),
        ),
        (
            "left_mouse_up",
            "Release the left button.",
            object(&[], &[]),
        ),
        (
            "scroll",
            "Turn the mouse wheel.",
            object(
                &[
                    ("scroll_direction", direction()),
                    ("scroll_amount", int("wheel notches")),
                    ("coordinate", at()),
                    ("text", held()),
                ],
                &["scroll_direction", "scroll_amount"],
            ),
        ),
        (
            "type",
            "Type text at the keyboard focus.",
            object(&[("text", string("any Unicode"))], &["text"]),
        ),
        (
            "key",
            "Press a key or chord, \"Return\", \"ctrl+s\", repeat times.",
            object(
                &[
                    ("text", string("the key or chord")),
                    ("repeat", int("1 to 100")),
                ],
                &["text"],
            ),
        ),
        (
            "hold_key",
            "Hold a key down for duration seconds.",
            object(
                &[
                    ("text", string("the key")),
                    ("duration", int("seconds, at most 300")),
                ],
                &["text", "duration"],
            ),
        ),
        (
            "wait",
            "Wait duration seconds.",
            object(&[("duration", int("seconds, at most 300"))], &["duration"]),
        ),
    ]
}

/// OpenAI's action types (coordinates: pixels of the screenshots).
pub fn openai() -> Vec<Tool> {
    let xy = |extra: &[(&str, Value)], required: &[&str]| {
        let mut props = vec![("x", int("pixels")), ("y", int("pixels"))];
        props.extend(extra.iter().cloned());
        let mut req = vec!["x", "y"];
        req.extend(required);
        object(&props, &req)
    };
    let held = || keys("keys held meanwhile, e.g. [\"SHIFT\"]");
    vec![
        (
            "click",
            "Click a button at (x, y).",
            xy(
                &[
                    (
                        "button",
                        json!({"type": "string",
                               "enum": ["left", "right", "wheel", "back", "forward"]}),
                    ),
                    ("keys", held()),
                ],
                &["button"],
            ),
        ),
        (
            "double_click",
            "Double-click at (x, y).",
            xy(&[("keys", held())], &[]),
        ),
        (
            "drag",
            "Press at the path's first point, move through it, release at the last.",
            object(
                &[
                    (
                        "path",
                        json!({"type": "array", "items": {"type": "object",
                               "properties": {"x": {"type": "integer"}, "y": {"type": "integer"}},
                               "required": ["x", "y"]}}),
                    ),
                    ("keys", held()),
                ],
                &["path"],
            ),
        ),
        (
            "keypress",
            "Press keys together: [\"CTRL\", \"C\"], [\"ENTER\"].",
            object(&[("keys", keys("the keys"))], &["keys"]),
        ),
        (
            "move",
            "Move the pointer to (x, y).",
            xy(&[("keys", held())], &[]),
        ),
        ("screenshot", "Capture the screen.", object(&[], &[])),
        (
            "scroll",
            "Scroll at (x, y) by scroll_x, scroll_y pixels (positive: right, down).",
            xy(
                &[
                    ("scroll_x", int("pixels")),
                    ("scroll_y", int("pixels")),
                    ("keys", held()),
                ],
                &["scroll_x", "scroll_y"],
            ),
        ),
        (
            "type",
            "Type text at the keyboard focus.",
            object(&[("text", string("any Unicode"))], &["text"]),
        ),
        ("wait", "Wait a moment.", object(&[], &[])),
    ]
}

/// Gemini's predefined functions (coordinates: a 0-999 grid).
pub fn gemini() -> Vec<Tool> {
    let xy = || {
        object(
            &[
                ("x", int("0-999, left to right")),
                ("y", int("0-999, top to bottom")),
                ("intent", string("why")),
            ],
            &["x", "y"],
        )
    };
    let key = || {
        object(
            &[("key", string("the key")), ("intent", string("why"))],
            &["key"],
        )
    };
    vec![
        ("click", "Click at (x, y).", xy()),
        ("double_click", "Double-click at (x, y).", xy()),
        ("triple_click", "Triple-click at (x, y).", xy()),
        ("middle_click", "Middle-click at (x, y).", xy()),
        ("right_click", "Right-click at (x, y).", xy()),
        ("mouse_down", "Press the left button at (x, y).", xy()),
        ("mouse_up", "Release the left button at (x, y).", xy()),
        ("move", "Move the pointer to (x, y).", xy()),
        (
            "type",
            "Type text, then Enter if press_enter.",
            object(
                &[
                    ("text", string("any Unicode")),
                    ("press_enter", json!({"type": "boolean"})),
                    ("intent", string("why")),
                ],
                &["text"],
            ),
        ),
        (
            "drag_and_drop",
            "Drag from (start_x, start_y) to (end_x, end_y).",
            object(
                &[
                    ("start_x", int("0-999")),
                    ("start_y", int("0-999")),
                    ("end_x", int("0-999")),
                    ("end_y", int("0-999")),
                    ("intent", string("why")),
                ],
                &["start_x", "start_y", "end_x", "end_y"],
            ),
        ),
        (
            "wait",
            "Wait some seconds (1 by default).",
            object(
                &[("seconds", int("seconds")), ("intent", string("why"))],
                &[],
            ),
        ),
        ("press_key", "Press a key.", key()),
        ("key_down", "Press a key and keep it down.", key()),
        ("key_up", "Release a key.", key()),
        (
            "hotkey",
            "Press keys together: [\"control\", \"c\"].",
            object(
                &[("keys", keys("the keys")), ("intent", string("why"))],
                &["keys"],
            ),
        ),
        ("take_screenshot", "Capture the screen.", object(&[], &[])),
        (
            "scroll",
            "Scroll at (x, y).",
            object(
                &[
                    ("x", int("0-999")),
                    ("y", int("0-999")),
                    ("direction", direction()),
                    ("magnitude_in_pixels", int("pixels, 300 by default")),
                    ("intent", string("why")),
                ],
                &["x", "y", "direction"],
            ),
        ),
    ]
}

/// Arguments that fill every required field of `schema` with a plain valid value: for tests
/// that check each listed tool against its dialect's reader.
#[cfg(test)]
pub(crate) fn example(schema: &Value) -> Value {
    let mut args = Map::new();
    let props = &schema["properties"];
    for key in schema["required"].as_array().into_iter().flatten() {
        let key = key.as_str().unwrap_or_default();
        let prop = &props[key];
        let value = if let Some(first) = prop["enum"].as_array().and_then(|e| e.first()) {
            first.clone()
        } else {
            match prop["type"].as_str() {
                Some("integer") => json!(5),
                Some("boolean") => json!(false),
                Some("array") if prop["minItems"] == 4 => json!([1, 1, 20, 20]),
                Some("array") if prop["items"]["type"] == "integer" => json!([5, 5]),
                Some("array") if prop["items"]["type"] == "object" => json!([{"x": 1, "y": 1}]),
                Some("array") => json!(["Return"]),
                _ if key == "url" => json!("https://example.org"),
                _ => json!("Return"),
            }
        };
        args.insert(key.to_owned(), value);
    }
    Value::Object(args)
}

#[cfg(test)]
mod tests {
    use agentdesk_image::Size;

    use super::*;

    #[test]
    fn every_anthropic_member_is_listed_and_reads_its_schema() {
        let listed: Vec<&str> = anthropic().iter().map(|t| t.0).collect();
        assert_eq!(listed, crate::anthropic::MEMBERS);
        let space = crate::Space::pixels(Size {
            width: 100,
            height: 100,
        });
        for (name, _, schema) in anthropic() {
            let args = example(&schema);
            assert!(
                crate::anthropic::read(name, Some(&args), &space).is_ok(),
                "{name} {args}"
            );
        }
    }
}
