//! Open models' computer use, as served by an OpenAI-compatible chat endpoint (vLLM,
//! llama.cpp): coordinates on a 0–1000 grid of the screenshot.
//!
//! - The `computer_use` function of the Qwen-VL cookbooks (Qwen3-VL, and the models built on
//!   it such as Holo3): `{"action": "left_click", "coordinate": [x, y], ...}`, arriving as a
//!   chat `tool_calls` entry or, when the server has no tool parser, as
//!   `<tool_call>{"name": "computer_use", "arguments": {...}}</tool_call>` in the text.
//! - UI-TARS's action text: `Action: click(start_box='(x,y)')`, one action per line.
//!
//! Both also say when the task is over (`terminate`/`answer`; `finished()`) or a person is
//! needed (`call_user()`): see [`Step`].

use serde_json::{json, Value};

use crate::json::{join_keys, Args};
use crate::{Action, Button, Call, Direction, Error, Space};

/// The grid both conventions use: `x·W/1000`.
pub const GRID: u32 = 1000;

/// The name of the Qwen-style function.
pub const FUNCTION: &str = "computer_use";

/// Pixels of a wheel notch, for `scroll.pixels`.
const NOTCH_PIXELS: i64 = 100;
/// What UI-TARS's `wait()` waits (its prompt says 5 s).
const TARS_WAIT: std::time::Duration = std::time::Duration::from_secs(5);
/// Most calls read from one reply.
pub const MAX_CALLS: usize = 50;

/// What one call of a reply asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// An action on the desktop.
    Act(Call),
    /// The model says the task is over, with its answer or summary, and whether it succeeded.
    Finish {
        /// It says it succeeded.
        success: bool,
        /// Its words.
        text: String,
    },
    /// The model wants a person (UI-TARS `call_user()`).
    CallUser {
        /// What it said, if anything.
        text: String,
    },
}

/// The `computer_use` function's schema, for a chat request's `tools`.
pub fn function() -> Value {
    json!({
        "type": "function",
        "function": {
            "name": FUNCTION,
            "description": "Use a mouse and keyboard to interact with a computer, and take \
                screenshots. The screen's coordinates are on a 0-1000 grid: (0, 0) is the \
                top-left corner, (1000, 1000) the bottom-right, whatever the screenshot's \
                size. After each action you are shown the screen again.",
            "parameters": {
                "type": "object",
                "properties": {
                    "action": {
                        "type": "string",
                        "enum": ["key", "type", "mouse_move", "left_click", "left_click_drag",
                                 "right_click", "middle_click", "double_click", "triple_click",
                                 "scroll", "hscroll", "wait", "terminate", "answer"],
                        "description": "key: press keys (keys, in order, released in \
                            reverse). type: type text. mouse_move / *_click: at coordinate. \
                            left_click_drag: drag from the pointer to coordinate. scroll / \
                            hscroll: pixels (positive scrolls up / right). wait: time \
                            seconds. terminate: the task is over (status). answer: the answer \
                            to the task (text)."
                    },
                    "keys": {"type": "array", "items": {"type": "string"}},
                    "text": {"type": "string"},
                    "coordinate": {"type": "array", "items": {"type": "number"},
                                   "minItems": 2, "maxItems": 2},
                    "pixels": {"type": "number"},
                    "time": {"type": "number"},
                    "status": {"type": "string", "enum": ["success", "failure"]}
                },
                "required": ["action"]
            }
        }
    })
}

/// One `computer_use` call: its `id` (a chat tool call's), and its arguments (an object, or
/// the JSON text of one, as chat endpoints send them).
pub fn read_call(id: &str, arguments: &Value, space: &Space) -> Step {
    let parsed;
    let args = match arguments {
        Value::String(text) => match serde_json::from_str::<Value>(text) {
            Ok(v) => {
                parsed = v;
                &parsed
            }
            Err(e) => {
                return Step::Act(Call {
                    id: id.to_owned(),
                    name: FUNCTION.into(),
                    action: Err(Error::Call(format!(
                        "{FUNCTION}: the arguments are not JSON ({e})"
                    ))),
                    input: arguments.clone(),
                })
            }
        },
        other => other,
    };
    let action = args
        .get("action")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    match action.as_str() {
        "terminate" => {
            return Step::Finish {
                success: args.get("status").and_then(Value::as_str) != Some("failure"),
                text: String::new(),
            }
        }
        "answer" => {
            return Step::Finish {
                success: true,
                text: args
                    .get("text")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_owned(),
            }
        }
        _ => {}
    }
    Step::Act(Call {
        id: id.to_owned(),
        action: read(&action, args, space),
        name: action,
        input: args.clone(),
    })
}

/// One `computer_use` action, in screen pixels.
pub fn read(action: &str, args: &Value, space: &Space) -> Result<Action, Error> {
    let name = if action.is_empty() { FUNCTION } else { action };
    let args = Args::new(name, Some(args))?;
    let at = || -> Result<Option<agentdesk_image::Point>, Error> {
        args.pair("coordinate")?
            .map(|p| point(space, p))
            .transpose()
    };
    let click = |button: Button, count: u8| -> Result<Action, Error> {
        Ok(Action::Click {
            at: at()?,
            button,
            count,
            hold: None,
        })
    };
    let scroll = |up: Direction, down: Direction| -> Result<Action, Error> {
        let pixels = args.req_int("pixels")?;
        let notches = (pixels.unsigned_abs() + (NOTCH_PIXELS as u64) / 2) / NOTCH_PIXELS as u64;
        Ok(Action::Scroll {
            at: at()?,
            direction: if pixels >= 0 { up } else { down },
            notches: notches.clamp(1, 100) as u32,
            hold: None,
        })
    };
    match action {
        "key" => {
            let keys = match args.strings("keys")? {
                Some(keys) => keys,
                None => vec![args.req_str("text")?],
            };
            let keys = join_keys(&keys);
            if keys.is_empty() {
                return Err(Error::Call("key: `keys` names no key".into()));
            }
            Ok(Action::Key { keys, repeat: 1 })
        }
        "type" => Ok(Action::Type {
            text: args.req_str("text")?.to_owned(),
        }),
        "mouse_move" => Ok(Action::Move {
            to: point(space, args.req_pair("coordinate")?)?,
            hold: None,
        }),
        "left_click" => click(Button::Left, 1),
        "right_click" => click(Button::Right, 1),
        "middle_click" => click(Button::Middle, 1),
        "double_click" => click(Button::Left, 2),
        "triple_click" => click(Button::Left, 3),
        "left_click_drag" => Ok(Action::Drag {
            path: vec![point(space, args.req_pair("coordinate")?)?],
            from_pointer: true,
            hold: None,
        }),
        "scroll" => scroll(Direction::Up, Direction::Down),
        "hscroll" => scroll(Direction::Right, Direction::Left),
        "wait" => Ok(Action::Wait {
            duration: args
                .seconds("time")?
                .unwrap_or(std::time::Duration::from_secs(1)),
        }),
        "" => Err(Error::Call(format!(
            "{FUNCTION}: `action` is required (left_click, type, key, scroll, ...)"
        ))),
        other => Err(Error::Call(format!(
            "{FUNCTION}: there is no action {other:?}; use key, type, mouse_move, left_click, \
             left_click_drag, right_click, middle_click, double_click, triple_click, scroll, \
             hscroll, wait, terminate or answer"
        ))),
    }
}

/// The screen pixel of a grid point. Both conventions say "0 to 1000": the far edge, 1000,
/// is the last pixel rather than outside the screen.
fn point(space: &Space, (x, y): (i64, i64)) -> Result<agentdesk_image::Point, Error> {
    let edge = |v: i64| if v == i64::from(GRID) { v - 1 } else { v };
    space.point(edge(x), edge(y))
}

/// The `<tool_call>{...}</tool_call>` calls written in a reply's text (a server without a
/// tool parser passes them through), as `(name, arguments)`; at most [`MAX_CALLS`].
pub fn tool_calls_in_text(text: &str) -> Vec<(String, Value)> {
    let mut calls = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("<tool_call>") {
        rest = &rest[start + "<tool_call>".len()..];
        let end = rest.find("</tool_call>").unwrap_or(rest.len());
        let body = rest[..end].trim();
        rest = &rest[end..];
        if let Ok(Value::Object(call)) = serde_json::from_str::<Value>(body) {
            let name = call.get("name").and_then(Value::as_str).unwrap_or("");
            let arguments = call.get("arguments").cloned().unwrap_or(Value::Null);
            calls.push((name.to_owned(), arguments));
        }
        if calls.len() == MAX_CALLS {
            break;
        }
    }
    calls
}

/// The actions of a UI-TARS reply: each `Action: name(key='value', ...)` line after its
/// `Thought:`. `id` numbers them.
pub fn read_tars(text: &str, space: &Space) -> Vec<Step> {
    let mut steps = Vec::new();
    let Some(start) = text.find("Action:") else {
        return steps;
    };
    for (i, line) in text[start + "Action:".len()..]
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .take(MAX_CALLS)
        .enumerate()
    {
        let line = line.strip_prefix("Action:").map_or(line, str::trim);
        steps.push(tars_step(&format!("tars-{i}"), line, space));
    }
    steps
}

fn tars_step(id: &str, line: &str, space: &Space) -> Step {
    let (name, args) = match line.split_once('(') {
        Some((name, rest)) => (name.trim(), rest.strip_suffix(')').unwrap_or(rest)),
        None => (line.trim(), ""),
    };
    let args = tars_args(args);
    let get = |k: &str| {
        args.iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.as_str())
    };
    match name {
        "finished" => {
            return Step::Finish {
                success: true,
                text: get("content").unwrap_or("").to_owned(),
            }
        }
        "call_user" => {
            return Step::CallUser {
                text: get("content").unwrap_or("").to_owned(),
            }
        }
        _ => {}
    }
    let point = |key: &str| -> Result<agentdesk_image::Point, Error> {
        let v = get(key)
            .or_else(|| {
                get(if key == "start_box" {
                    "point"
                } else {
                    "end_point"
                })
            })
            .ok_or_else(|| Error::Call(format!("{name}: `{key}` is required ('(x,y)')")))?;
        let (x, y) = tars_point(v).ok_or_else(|| {
            Error::Call(format!(
                "{name}: `{key}` must be a point such as '(500,300)' (got {v:?})"
            ))
        })?;
        self::point(space, (x, y))
    };
    let click = |button: Button, count: u8| -> Result<Action, Error> {
        Ok(Action::Click {
            at: Some(point("start_box")?),
            button,
            count,
            hold: None,
        })
    };
    let action = match name {
        "click" | "left_single" => click(Button::Left, 1),
        "left_double" => click(Button::Left, 2),
        "right_single" => click(Button::Right, 1),
        "drag" | "select" => (|| {
            Ok(Action::Drag {
                path: vec![point("start_box")?, point("end_box")?],
                from_pointer: false,
                hold: None,
            })
        })(),
        "hotkey" => match get("key").or_else(|| get("hotkey")) {
            // UI-TARS separates a chord's keys with spaces: 'ctrl c'.
            Some(keys) if !keys.trim().is_empty() => Ok(Action::Key {
                keys: keys.split_whitespace().collect::<Vec<_>>().join("+"),
                repeat: 1,
            }),
            _ => Err(Error::Call("hotkey: `key` is required ('ctrl c')".into())),
        },
        "type" => match get("content") {
            // Its prompt: end the content with "\n" to submit.
            Some(text) => Ok(Action::Type {
                text: text.replace("\\n", "\n").replace("\\'", "'"),
            }),
            None => Err(Error::Call("type: `content` is required".into())),
        },
        "scroll" => (|| {
            let given = get("direction").unwrap_or("down");
            let direction = Direction::from_name(given).ok_or_else(|| {
                Error::Call(format!(
                    "scroll: `direction` must be up, down, left or right (got {given:?})"
                ))
            })?;
            let at = match get("start_box").or_else(|| get("point")) {
                Some(_) => Some(point("start_box")?),
                None => None,
            };
            Ok(Action::Scroll {
                at,
                direction,
                notches: 5,
                hold: None,
            })
        })(),
        "wait" => Ok(Action::Wait {
            duration: TARS_WAIT,
        }),
        other => Err(Error::Call(format!(
            "there is no action {other:?}; use click, left_double, right_single, drag, hotkey, \
             type, scroll, wait, finished or call_user"
        ))),
    };
    Step::Act(Call {
        id: id.to_owned(),
        name: name.to_owned(),
        action,
        input: Value::Object(
            args.iter()
                .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                .collect(),
        ),
    })
}

/// `key='value', key2="value"` → pairs (values unquoted; a quote inside may be escaped).
fn tars_args(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = text.trim();
    while let Some(eq) = rest.find('=') {
        let key = rest[..eq].trim().trim_start_matches(',').trim().to_owned();
        let after = rest[eq + 1..].trim_start();
        let Some(quote) = after.chars().next().filter(|c| *c == '\'' || *c == '"') else {
            break;
        };
        let body = &after[1..];
        let mut end = None;
        let mut escaped = false;
        for (i, c) in body.char_indices() {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == quote {
                end = Some(i);
                break;
            }
        }
        let end = end.unwrap_or(body.len());
        out.push((key, body[..end].to_owned()));
        rest = body.get(end + 1..).unwrap_or("");
    }
    out
}

/// The first two integers in `(x,y)`, `<|box_start|>(x,y)<|box_end|>`, `<point>x y</point>`
/// or a box `(x1,y1,x2,y2)` (its centre).
fn tars_point(text: &str) -> Option<(i64, i64)> {
    let numbers: Vec<i64> = text
        .split(|c: char| !(c.is_ascii_digit() || c == '.'))
        .filter(|s| !s.is_empty())
        .filter_map(|s| s.parse::<f64>().ok())
        .filter(|f| f.is_finite() && *f < 1e9)
        .map(|f| f.round() as i64)
        .collect();
    match numbers.as_slice() {
        [x, y] => Some((*x, *y)),
        [x1, y1, x2, y2] => Some(((x1 + x2) / 2, (y1 + y2) / 2)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use agentdesk_image::{Point, Size};

    use super::*;

    fn space() -> Space {
        Space::grid(
            Size {
                width: 2000,
                height: 1000,
            },
            GRID,
        )
    }

    fn act(step: Step) -> Action {
        match step {
            Step::Act(call) => call.action.unwrap(),
            other => panic!("not an action: {other:?}"),
        }
    }

    #[test]
    fn qwen_calls_on_the_grid() {
        let s = space();
        let click = read_call(
            "c1",
            &json!({"action": "left_click", "coordinate": [500, 250]}),
            &s,
        );
        assert_eq!(
            act(click),
            Action::Click {
                at: Some(Point { x: 1000, y: 250 }),
                button: Button::Left,
                count: 1,
                hold: None
            }
        );
        // Arguments as JSON text, as chat endpoints send them.
        let keys = read_call("c2", &json!(r#"{"action":"key","keys":["ctrl","s"]}"#), &s);
        assert_eq!(
            act(keys),
            Action::Key {
                keys: "ctrl+s".into(),
                repeat: 1
            }
        );
        assert_eq!(
            act(read_call(
                "c3",
                &json!({"action": "scroll", "pixels": -300}),
                &s
            )),
            Action::Scroll {
                at: None,
                direction: Direction::Down,
                notches: 3,
                hold: None
            }
        );
        assert_eq!(
            read_call(
                "c4",
                &json!({"action": "terminate", "status": "failure"}),
                &s
            ),
            Step::Finish {
                success: false,
                text: String::new()
            }
        );
        for bad in [
            json!({"action": "left_click", "coordinate": [1001, 5]}),
            json!({"action": "fly"}),
            json!({}),
            json!("{not json"),
            json!({"action": "key", "keys": []}),
        ] {
            match read_call("x", &bad, &s) {
                Step::Act(call) => assert!(call.action.is_err(), "{bad}"),
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn tool_calls_written_in_text() {
        let text = "I will save.\n<tool_call>\n{\"name\": \"computer_use\", \"arguments\": \
                    {\"action\": \"key\", \"keys\": [\"ctrl\", \"s\"]}}\n</tool_call>\
                    <tool_call>{broken</tool_call>";
        let calls = tool_calls_in_text(text);
        assert_eq!(calls.len(), 1);
        assert_eq!(calls[0].0, "computer_use");
        assert_eq!(calls[0].1["keys"], json!(["ctrl", "s"]));
        assert!(tool_calls_in_text("no calls").is_empty());
    }

    #[test]
    fn ui_tars_actions() {
        let s = space();
        let text = "Thought: the Save button.\nAction: click(start_box='<|box_start|>(100,200)<|box_end|>')";
        assert_eq!(
            read_tars(text, &s).into_iter().map(act).collect::<Vec<_>>(),
            vec![Action::Click {
                at: Some(Point { x: 200, y: 200 }),
                button: Button::Left,
                count: 1,
                hold: None
            }]
        );
        let typed = read_tars(r"Action: type(content='it\'s done\n')", &s);
        assert_eq!(
            act(typed[0].clone()),
            Action::Type {
                text: "it's done\n".into()
            }
        );
        let keys = read_tars("Action: hotkey(key='ctrl s')", &s);
        assert_eq!(
            act(keys[0].clone()),
            Action::Key {
                keys: "ctrl+s".into(),
                repeat: 1
            }
        );
        let drag = read_tars(
            "Action: drag(start_box='(0,0)', end_box='<point>500 500</point>')",
            &s,
        );
        assert!(matches!(act(drag[0].clone()), Action::Drag { path, .. } if path.len() == 2));
        assert_eq!(
            read_tars("Action: finished(content='saved')", &s),
            vec![Step::Finish {
                success: true,
                text: "saved".into()
            }]
        );
        assert!(matches!(
            read_tars("Action: call_user()", &s)[0],
            Step::CallUser { .. }
        ));
        assert!(read_tars("no action here", &s).is_empty());
        match &read_tars("Action: click(start_box='(5000,1)')", &s)[0] {
            Step::Act(call) => assert!(call.action.is_err()),
            other => panic!("{other:?}"),
        }
    }
}
