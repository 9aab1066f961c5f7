//! Anthropic's computer use: the toolset `computer_toolset_20260801` (a call per member,
//! `tool_use {name: <member>, toolset_name: "computer", input}`) and the older single tool
//! `computer_20251124` / `computer_20250124` (`tool_use {name: "computer", input: {action,
//! ...}}`). Both answer with `tool_result` blocks in a user message; a toolset's results echo
//! `toolset_name`. Coordinates are pixels of the screenshots the model was sent.

use serde_json::{json, Value};

use crate::json::{join_keys, Args};
use crate::{Action, Button, Call, Direction, Error, Outcome, Space};

/// The toolset's name in `tool_use.toolset_name`.
pub const TOOLSET: &str = "computer";

/// The toolset's 17 members, in the order Anthropic lists them.
pub const MEMBERS: [&str; 17] = [
    "screenshot",
    "cursor_position",
    "zoom",
    "left_click",
    "right_click",
    "middle_click",
    "double_click",
    "triple_click",
    "left_click_drag",
    "mouse_move",
    "left_mouse_down",
    "left_mouse_up",
    "scroll",
    "type",
    "key",
    "hold_key",
    "wait",
];

/// Most computer calls one turn may hold.
pub const MAX_CALLS: usize = 100;
/// Most wheel notches one scroll may turn, and most repeats of one key.
const MAX_NOTCHES: i64 = 100;
const MAX_REPEAT: i64 = 100;

/// One computer call of an assistant turn, as read from its `tool_use` block.
#[derive(Debug, Clone, PartialEq)]
pub struct Use {
    /// The call, its action read in `space`.
    pub call: Call,
    /// Whether it came as a toolset member (its result echoes `toolset_name`).
    pub toolset: bool,
}

/// Reads the computer calls of an assistant turn: a list of content blocks, an assistant
/// message (`{role, content}`) or a whole Messages API response. Blocks that are not computer
/// calls (text, thinking, other tools) are skipped: their results are the caller's.
pub fn parse(body: &Value, space: &Space) -> Result<Vec<Use>, Error> {
    let blocks = match body {
        Value::Array(blocks) => blocks,
        Value::Object(map) => match map.get("content") {
            Some(Value::Array(blocks)) => blocks,
            _ if map.get("type").and_then(Value::as_str) == Some("tool_use") => {
                std::slice::from_ref(body)
            }
            _ => return Err(not_blocks()),
        },
        _ => return Err(not_blocks()),
    };
    let mut uses = Vec::new();
    for block in blocks {
        if block.get("type").and_then(Value::as_str) != Some("tool_use") {
            continue;
        }
        let id = block
            .get("id")
            .and_then(Value::as_str)
            .ok_or_else(|| Error::Body("a tool_use block has no string `id`".into()))?;
        let name = block.get("name").and_then(Value::as_str).unwrap_or("");
        let input = block.get("input");
        let toolset = block.get("toolset_name").and_then(Value::as_str) == Some(TOOLSET);
        let (member, action) = if toolset {
            (name.to_owned(), read(name, input, space))
        } else if name == "computer" {
            match input.and_then(|i| i.get("action")).and_then(Value::as_str) {
                Some(action) => (action.to_owned(), read(action, input, space)),
                None => (
                    String::new(),
                    Err(Error::Call(
                        "computer: `action` is required (a string such as \"screenshot\")".into(),
                    )),
                ),
            }
        } else {
            continue;
        };
        if uses.len() == MAX_CALLS {
            return Err(Error::Body(format!(
                "the turn holds more than {MAX_CALLS} computer calls; send at most \
                 {MAX_CALLS} at once"
            )));
        }
        uses.push(Use {
            call: Call {
                id: id.to_owned(),
                name: member,
                action,
                input: input.cloned().unwrap_or(Value::Null),
            },
            toolset,
        });
    }
    Ok(uses)
}

fn not_blocks() -> Error {
    Error::Body(
        "expected the assistant turn's content blocks: a JSON array of blocks, or a message \
         with a `content` array"
            .into(),
    )
}

/// One member's input, as an action in screen pixels.
pub fn read(member: &str, input: Option<&Value>, space: &Space) -> Result<Action, Error> {
    let args = Args::new(member, input)?;
    let at = |key: &str| -> Result<Option<agentdesk_image::Point>, Error> {
        args.pair(key)?.map(|(x, y)| space.point(x, y)).transpose()
    };
    // Modifiers held: the docs say `text`; some clients send `key`.
    let hold = || -> Result<Option<String>, Error> {
        let held = match args.str("text")? {
            Some(t) => Some(t),
            None => args.str("key")?,
        };
        Ok(held.map(|h| join_keys(&[h])).filter(|h| !h.is_empty()))
    };
    let click = |button: Button, count: u8| -> Result<Action, Error> {
        Ok(Action::Click {
            at: at("coordinate")?,
            button,
            count,
            hold: hold()?,
        })
    };
    let key_text = || -> Result<String, Error> {
        let keys = match args.str("text")? {
            Some(t) => t,
            None => args.str("key")?.ok_or_else(|| {
                Error::Call(format!(
                    "{member}: `text` is required (a key or chord such as \"Return\" or \
                     \"ctrl+s\")"
                ))
            })?,
        };
        Ok(keys.to_owned())
    };
    match member {
        "screenshot" => Ok(Action::Screenshot),
        "cursor_position" => Ok(Action::CursorPosition),
        "zoom" => {
            let [x0, y0, x1, y1] = args.quad("region")?.ok_or_else(|| {
                Error::Call("zoom: `region` is required ([x0, y0, x1, y1])".into())
            })?;
            Ok(Action::Zoom {
                region: space.region(x0, y0, x1, y1)?,
            })
        }
        "left_click" => click(Button::Left, 1),
        "right_click" => click(Button::Right, 1),
        "middle_click" => click(Button::Middle, 1),
        "double_click" => click(Button::Left, 2),
        "triple_click" => click(Button::Left, 3),
        "left_click_drag" => {
            let to = at("coordinate")?.ok_or_else(|| {
                Error::Call("left_click_drag: `coordinate` is required ([x, y])".into())
            })?;
            // The older tool dragged from wherever the pointer was.
            let (path, from_pointer) = match at("start_coordinate")? {
                Some(from) => (vec![from, to], false),
                None => (vec![to], true),
            };
            Ok(Action::Drag {
                path,
                from_pointer,
                hold: hold()?,
            })
        }
        "mouse_move" => Ok(Action::Move {
            to: space.point_of(args.req_pair("coordinate")?)?,
            hold: hold()?,
        }),
        "left_mouse_down" => Ok(Action::Press {
            at: at("coordinate")?,
            button: Button::Left,
        }),
        "left_mouse_up" => Ok(Action::Release {
            at: at("coordinate")?,
            button: Button::Left,
        }),
        "scroll" => {
            let given = args.req_str("scroll_direction")?;
            let direction = Direction::from_name(given).ok_or_else(|| {
                Error::Call(format!(
                    "scroll: `scroll_direction` must be \"up\", \"down\", \"left\" or \
                     \"right\" (got {given:?})"
                ))
            })?;
            let amount = args.int("scroll_amount")?.unwrap_or(3);
            if !(0..=MAX_NOTCHES).contains(&amount) {
                return Err(Error::Call(format!(
                    "scroll: `scroll_amount` is a number of wheel notches from 0 to \
                     {MAX_NOTCHES} (got {amount})"
                )));
            }
            Ok(Action::Scroll {
                at: at("coordinate")?,
                direction,
                notches: amount as u32,
                hold: hold()?,
            })
        }
        "type" => Ok(Action::Type {
            text: args.req_str("text")?.to_owned(),
        }),
        "key" => {
            let repeat = args.int("repeat")?.unwrap_or(1);
            if !(1..=MAX_REPEAT).contains(&repeat) {
                return Err(Error::Call(format!(
                    "key: `repeat` is from 1 to {MAX_REPEAT} (got {repeat})"
                )));
            }
            Ok(Action::Key {
                keys: key_text()?,
                repeat: repeat as u32,
            })
        }
        "hold_key" => Ok(Action::HoldKey {
            keys: key_text()?,
            duration: args
                .seconds("duration")?
                .ok_or_else(|| Error::Call("hold_key: `duration` is required (seconds)".into()))?,
        }),
        "wait" => Ok(Action::Wait {
            duration: args
                .seconds("duration")?
                .unwrap_or(std::time::Duration::from_secs(1)),
        }),
        other => Err(Error::Call(format!(
            "unknown computer action {other:?}; the toolset's members are: {}",
            MEMBERS.join(", ")
        ))),
    }
}

/// The `tool_result` block answering `use_` with `outcome`. Text and images only, as the
/// toolset requires.
pub fn result(use_: &Use, outcome: &Outcome) -> Value {
    let mut content = Vec::new();
    if let Outcome::Done(done) = outcome {
        if let Some(image) = &done.image {
            content.push(json!({
                "type": "image",
                "source": {
                    "type": "base64",
                    "media_type": image.mime_type,
                    "data": image.base64,
                }
            }));
        }
    }
    let text = outcome.text();
    if !text.is_empty() {
        content.push(json!({"type": "text", "text": text}));
    }
    let mut block = json!({
        "type": "tool_result",
        "tool_use_id": use_.call.id,
        "content": content,
    });
    if outcome.is_error() {
        block["is_error"] = Value::Bool(true);
    }
    if use_.toolset {
        block["toolset_name"] = Value::String(TOOLSET.into());
    }
    block
}

/// The user message answering a turn: every computer call's result, in order.
pub fn message(results: Vec<Value>) -> Value {
    json!({"role": "user", "content": results})
}

#[cfg(test)]
mod tests {
    use agentdesk_image::{Point, Size};
    use serde_json::json;

    use super::*;
    use crate::Done;

    fn space() -> Space {
        Space::pixels(Size {
            width: 1280,
            height: 800,
        })
    }

    fn member(name: &str, input: Value) -> Value {
        json!({"type": "tool_use", "id": format!("toolu_{name}"), "name": name,
               "toolset_name": "computer", "input": input})
    }

    #[test]
    fn every_member_reads() {
        let cases = [
            ("screenshot", json!({})),
            ("cursor_position", json!({})),
            ("zoom", json!({"region": [0, 0, 100, 50]})),
            ("left_click", json!({"coordinate": [1, 2], "text": "shift"})),
            ("right_click", json!({})),
            ("middle_click", json!({"coordinate": [1, 2]})),
            ("double_click", json!({"coordinate": [1, 2]})),
            ("triple_click", json!({"coordinate": [1, 2]})),
            (
                "left_click_drag",
                json!({"start_coordinate": [1, 2], "coordinate": [3, 4]}),
            ),
            ("mouse_move", json!({"coordinate": [5, 6]})),
            ("left_mouse_down", json!({})),
            ("left_mouse_up", json!({})),
            (
                "scroll",
                json!({"scroll_direction": "down", "scroll_amount": 3}),
            ),
            ("type", json!({"text": "héllo"})),
            ("key", json!({"text": "ctrl+s", "repeat": 2})),
            ("hold_key", json!({"text": "shift", "duration": 1})),
            ("wait", json!({"duration": 0.5})),
        ];
        assert_eq!(cases.len(), MEMBERS.len());
        for (name, input) in cases {
            let action = read(name, Some(&input), &space());
            assert!(action.is_ok(), "{name}: {action:?}");
        }
        assert_eq!(
            read(
                "left_click",
                Some(&json!({"coordinate": [1, 2], "text": "shift"})),
                &space()
            ),
            Ok(Action::Click {
                at: Some(Point { x: 1, y: 2 }),
                button: Button::Left,
                count: 1,
                hold: Some("shift".into())
            })
        );
    }

    #[test]
    fn mistakes_are_the_models_to_fix() {
        let s = space();
        for (name, input, says) in [
            ("left_click", json!({"coordinate": [1]}), "[x, y]"),
            (
                "left_click",
                json!({"coordinate": [1, 2000]}),
                "y must be 0 to 799",
            ),
            (
                "scroll",
                json!({"scroll_direction": "diagonal"}),
                "scroll_direction",
            ),
            (
                "scroll",
                json!({"scroll_direction": "up", "scroll_amount": 1000}),
                "0 to 100",
            ),
            ("key", json!({"text": "a", "repeat": 0}), "1 to 100"),
            ("key", json!({}), "`text` is required"),
            ("wait", json!({"duration": 301}), "0 to 300"),
            ("wait", json!({"duration": -1}), "0 to 300"),
            ("zoom", json!({"region": [10, 10, 5, 20]}), "right > left"),
            ("type", json!({"text": 5}), "a string"),
            ("fly", json!({}), "unknown computer action"),
            ("screenshot", json!("no object"), "JSON object"),
        ] {
            let e = read(name, Some(&input), &s).unwrap_err().to_string();
            assert!(e.contains(says), "{name} {input}: {e}");
        }
    }

    #[test]
    fn turns_are_read_in_any_wrapping() {
        let blocks = json!([
            {"type": "text", "text": "I will click."},
            member("left_click", json!({"coordinate": [1, 2]})),
            {"type": "tool_use", "id": "other", "name": "bash", "input": {}},
            {"type": "tool_use", "id": "legacy", "name": "computer",
             "input": {"action": "left_click_drag", "coordinate": [9, 9]}},
        ]);
        for body in [
            blocks.clone(),
            json!({"role": "assistant", "content": blocks}),
        ] {
            let uses = parse(&body, &space()).unwrap();
            assert_eq!(uses.len(), 2);
            assert!(uses[0].toolset && !uses[1].toolset);
            // The older drag starts where the pointer is.
            assert!(matches!(
                uses[1].call.action,
                Ok(Action::Drag {
                    from_pointer: true,
                    ..
                })
            ));
        }
        assert!(parse(&json!("x"), &space()).is_err());
        let flood: Vec<Value> = (0..=MAX_CALLS)
            .map(|_| member("mouse_move", json!({"coordinate": [1, 1]})))
            .collect();
        assert!(parse(&Value::Array(flood), &space()).is_err());
        assert!(parse(
            &json!([{"type": "tool_use", "name": "screenshot"}]),
            &space()
        )
        .is_err());
        let no_action = json!([{"type": "tool_use", "id": "a", "name": "computer", "input": {}}]);
        let uses = parse(&no_action, &space()).unwrap();
        assert!(uses[0].call.action.is_err());
    }

    #[test]
    fn results_echo_the_toolset_and_never_come_empty() {
        let uses = parse(&json!([member("screenshot", json!({}))]), &space()).unwrap();
        let done = result(&uses[0], &Outcome::Done(Done::default()));
        assert_eq!(done["toolset_name"], "computer");
        assert!(done.get("is_error").is_none());
        let halted = result(&uses[0], &Outcome::NotExecuted);
        assert_eq!(halted["is_error"], true);
        assert_eq!(halted["content"][0]["text"], crate::NOT_EXECUTED);
    }
}
