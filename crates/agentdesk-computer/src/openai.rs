//! OpenAI's `computer` tool (Responses API): a `computer_call` item carries a batch of
//! `actions` (or, from the preview tool, one `action`), run in order and answered by one
//! `computer_call_output` item holding a screenshot. Coordinates are pixels of the
//! screenshots the model was sent. Scrolls are in pixels; X scrolls by wheel notches, and one
//! notch is taken as [`NOTCH_PIXELS`].
//!
//! A call with `pending_safety_checks` runs only once a person has acknowledged every check
//! (the request then says so in `acknowledged_safety_checks`, which the output echoes, as the
//! API requires).

use serde_json::{json, Map, Value};

use crate::json::{join_keys, Args};
use crate::{Action, Button, Call, Direction, Error, Image, Space};

/// Pixels of scrolling one wheel notch stands for (Chromium's wheel delta).
pub const NOTCH_PIXELS: i64 = 100;
/// Most notches one scroll turns on an axis.
const MAX_NOTCHES: i64 = 100;
/// Most points a drag follows.
pub const MAX_PATH: usize = 64;
/// Most actions one request may batch, over all its calls.
pub const MAX_ACTIONS: usize = 100;
/// Most `computer_call` items one request may hold.
pub const MAX_CALLS: usize = 8;
/// What `wait` waits (the API's samples wait 1 to 2 s).
const WAIT: std::time::Duration = std::time::Duration::from_secs(1);

/// One `computer_call`, read.
#[derive(Debug, Clone, PartialEq)]
pub struct ComputerCall {
    /// Its `call_id`, which the output names.
    pub call_id: String,
    /// Its actions in order; `Call::id` is the call's id with the action's index.
    pub actions: Vec<Call>,
    /// Safety checks the model raised, each `{id, code, message}`.
    pub pending: Vec<Value>,
    /// The checks the request acknowledged (echoed in the output).
    pub acknowledged: Vec<Value>,
}

impl ComputerCall {
    /// The pending checks no acknowledgement covers: while any is left, nothing may run. A
    /// check without a string id can be acknowledged by nothing.
    pub fn unacknowledged(&self) -> Vec<&Value> {
        let acked: Vec<&str> = self
            .acknowledged
            .iter()
            .filter_map(|c| c.get("id").and_then(Value::as_str))
            .filter(|id| !id.is_empty())
            .collect();
        self.pending
            .iter()
            .filter(|c| match c.get("id").and_then(Value::as_str) {
                Some(id) if !id.is_empty() => !acked.contains(&id),
                _ => true,
            })
            .collect()
    }
}

/// The request: the `computer_call` items to run, and whether it was one item (answered with
/// one item) or a list (answered with a list).
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    /// The calls, in order.
    pub calls: Vec<ComputerCall>,
    /// The request was a single item.
    pub single: bool,
}

/// Reads a request: a `computer_call` item; `{"computer_call": item,
/// "acknowledged_safety_checks": [...]}`; a list of output items, or a whole response with
/// an `output` list (its `computer_call` items run, the rest are skipped).
pub fn parse(body: &Value, space: &Space) -> Result<Request, Error> {
    let (items, acknowledged, single): (Vec<&Value>, &[Value], bool) = match body {
        Value::Array(items) => (items.iter().collect(), &[], false),
        Value::Object(map) => {
            let acked = match map.get("acknowledged_safety_checks") {
                None | Some(Value::Null) => &[][..],
                Some(Value::Array(a)) => a.as_slice(),
                Some(_) => {
                    return Err(Error::Body(
                        "`acknowledged_safety_checks` must be a list of {id, code, message}".into(),
                    ))
                }
            };
            if let Some(call) = map.get("computer_call") {
                (vec![call], acked, true)
            } else if let Some(Value::Array(output)) = map.get("output") {
                (output.iter().collect(), acked, false)
            } else {
                (vec![body], acked, true)
            }
        }
        _ => return Err(not_a_call()),
    };
    let mut calls = Vec::new();
    for item in items {
        if item.get("type").and_then(Value::as_str) != Some("computer_call") {
            if single {
                return Err(not_a_call());
            }
            continue;
        }
        if calls.len() == MAX_CALLS {
            return Err(Error::Body(format!(
                "more than {MAX_CALLS} computer_call items; send at most {MAX_CALLS} at once"
            )));
        }
        calls.push(read_call(item, acknowledged, space)?);
    }
    let actions: usize = calls.iter().map(|c| c.actions.len()).sum();
    if actions > MAX_ACTIONS {
        return Err(Error::Body(format!(
            "the calls batch {actions} actions; at most {MAX_ACTIONS} run at once"
        )));
    }
    Ok(Request { calls, single })
}

fn not_a_call() -> Error {
    Error::Body(
        "expected a `computer_call` item (type \"computer_call\", with `call_id` and \
         `actions`), a list of output items, or a response with an `output` list"
            .into(),
    )
}

fn read_call(item: &Value, acknowledged: &[Value], space: &Space) -> Result<ComputerCall, Error> {
    let call_id = item
        .get("call_id")
        .and_then(Value::as_str)
        .ok_or_else(|| Error::Body("a computer_call has no string `call_id`".into()))?;
    let actions: Vec<&Value> = match (item.get("actions"), item.get("action")) {
        (Some(Value::Array(list)), _) => list.iter().collect(),
        (_, Some(action)) if !action.is_null() => vec![action],
        _ => {
            return Err(Error::Body(format!(
                "computer_call {call_id} has neither an `actions` list nor an `action`"
            )))
        }
    };
    if actions.len() > MAX_ACTIONS {
        return Err(Error::Body(format!(
            "computer_call {call_id} batches {} actions; at most {MAX_ACTIONS} run at once",
            actions.len()
        )));
    }
    let pending = match item.get("pending_safety_checks") {
        Some(Value::Array(checks)) => checks.clone(),
        None | Some(Value::Null) => Vec::new(),
        // Checks that cannot be read cannot be acknowledged: nothing runs.
        Some(_) => {
            return Err(Error::Body(format!(
                "computer_call {call_id}: `pending_safety_checks` must be a list of {{id, code, \
                 message}}"
            )))
        }
    };
    let actions = actions
        .into_iter()
        .enumerate()
        .map(|(i, action)| {
            let name = action
                .get("type")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned();
            Call {
                id: format!("{call_id}#{i}"),
                action: read(&name, action, space),
                name,
                input: action.clone(),
            }
        })
        .collect();
    Ok(ComputerCall {
        call_id: call_id.to_owned(),
        actions,
        pending,
        acknowledged: acknowledged.to_vec(),
    })
}

/// One action of a batch, in screen pixels.
pub fn read(kind: &str, action: &Value, space: &Space) -> Result<Action, Error> {
    let args = Args::new(kind, Some(action))?;
    let xy = || space.point(args.req_int("x")?, args.req_int("y")?);
    let hold = || -> Result<Option<String>, Error> {
        Ok(args
            .strings("keys")?
            .map(|k| join_keys(&k))
            .filter(|k| !k.is_empty()))
    };
    match kind {
        "click" => {
            let button = match args.str("button")?.unwrap_or("left") {
                "left" => Button::Left,
                "right" => Button::Right,
                "wheel" | "middle" => Button::Middle,
                "back" => Button::Back,
                "forward" => Button::Forward,
                other => {
                    return Err(Error::Call(format!(
                        "click: `button` must be \"left\", \"right\", \"wheel\", \"back\" or \
                         \"forward\" (got {other:?})"
                    )))
                }
            };
            Ok(Action::Click {
                at: Some(xy()?),
                button,
                count: 1,
                hold: hold()?,
            })
        }
        "double_click" => Ok(Action::Click {
            at: Some(xy()?),
            button: Button::Left,
            count: 2,
            hold: hold()?,
        }),
        "drag" => {
            let path = args
                .get("path")
                .and_then(Value::as_array)
                .filter(|p| !p.is_empty())
                .ok_or_else(|| {
                    Error::Call("drag: `path` is required: a list of {x, y} points".into())
                })?;
            if path.len() > MAX_PATH {
                return Err(Error::Call(format!(
                    "drag: `path` has {} points; at most {} are followed",
                    path.len(),
                    MAX_PATH
                )));
            }
            let path = path
                .iter()
                .map(|p| {
                    let p = Args::new("drag path point", Some(p))?;
                    space.point(p.req_int("x")?, p.req_int("y")?)
                })
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Action::Drag {
                path,
                from_pointer: false,
                hold: hold()?,
            })
        }
        "move" => Ok(Action::Move {
            to: xy()?,
            hold: hold()?,
        }),
        "scroll" => {
            let at = xy()?;
            let (sx, sy) = (
                args.int("scroll_x")?.unwrap_or(0),
                args.int("scroll_y")?.unwrap_or(0),
            );
            // One axis per action here: the larger; a model scrolls one way at a time.
            let (pixels, direction) = if sy.unsigned_abs() >= sx.unsigned_abs() {
                (
                    sy,
                    if sy < 0 {
                        Direction::Up
                    } else {
                        Direction::Down
                    },
                )
            } else {
                (
                    sx,
                    if sx < 0 {
                        Direction::Left
                    } else {
                        Direction::Right
                    },
                )
            };
            let notches = notches(pixels);
            Ok(Action::Scroll {
                at: Some(at),
                direction,
                notches,
                hold: hold()?,
            })
        }
        "keypress" => {
            let keys = args
                .strings("keys")?
                .filter(|k| !k.is_empty())
                .ok_or_else(|| {
                    Error::Call(
                        "keypress: `keys` is required: a list such as [\"CTRL\", \"C\"]".into(),
                    )
                })?;
            Ok(Action::Key {
                keys: join_keys(&keys),
                repeat: 1,
            })
        }
        "type" => Ok(Action::Type {
            text: args.req_str("text")?.to_owned(),
        }),
        "wait" => Ok(Action::Wait { duration: WAIT }),
        "screenshot" => Ok(Action::Screenshot),
        other => Err(Error::Call(format!(
            "unknown action type {other:?}; the computer tool's actions are click, \
             double_click, drag, keypress, move, screenshot, scroll, type and wait"
        ))),
    }
}

/// Wheel notches for a scroll of `pixels` (at least one for any scroll at all).
fn notches(pixels: i64) -> u32 {
    if pixels == 0 {
        return 0;
    }
    let n = (pixels.unsigned_abs() + (NOTCH_PIXELS as u64) / 2) / NOTCH_PIXELS as u64;
    n.clamp(1, MAX_NOTCHES as u64) as u32
}

/// The `computer_call_output` answering `call` with the screen after it.
pub fn output(call: &ComputerCall, screenshot: &Image) -> Value {
    let mut item = Map::new();
    item.insert("type".into(), json!("computer_call_output"));
    item.insert("call_id".into(), json!(call.call_id));
    item.insert(
        "output".into(),
        json!({
            "type": "computer_screenshot",
            "image_url": format!("data:{};base64,{}", screenshot.mime_type, screenshot.base64),
        }),
    );
    if !call.acknowledged.is_empty() {
        item.insert(
            "acknowledged_safety_checks".into(),
            Value::Array(call.acknowledged.clone()),
        );
    }
    Value::Object(item)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scroll_pixels_become_notches() {
        assert_eq!(notches(0), 0);
        assert_eq!(notches(1), 1);
        assert_eq!(notches(100), 1);
        assert_eq!(notches(-349), 3);
        assert_eq!(notches(i64::MIN), MAX_NOTCHES as u32);
    }
}

#[cfg(test)]
mod reading {
    use agentdesk_image::{Point, Size};
    use serde_json::json;

    use super::*;

    fn space() -> Space {
        Space::pixels(Size {
            width: 1280,
            height: 800,
        })
    }

    #[test]
    fn a_batch_and_its_checks() {
        let item = json!({"type": "computer_call", "call_id": "c1", "actions": [
            {"type": "click", "button": "wheel", "x": 1, "y": 2, "keys": ["CTRL"]},
            {"type": "keypress", "keys": ["CTRL", "SHIFT", "T"]},
            {"type": "scroll", "x": 1, "y": 1, "scroll_x": -300, "scroll_y": 0},
        ], "pending_safety_checks": [{"id": "s1", "code": "x", "message": "m"}]});
        let request = parse(&item, &space()).unwrap();
        assert!(request.single);
        let call = &request.calls[0];
        assert_eq!(call.unacknowledged().len(), 1);
        assert_eq!(
            call.actions[0].action,
            Ok(Action::Click {
                at: Some(Point { x: 1, y: 2 }),
                button: Button::Middle,
                count: 1,
                hold: Some("CTRL".into())
            })
        );
        assert_eq!(
            call.actions[1].action,
            Ok(Action::Key {
                keys: "CTRL+SHIFT+T".into(),
                repeat: 1
            })
        );
        assert!(matches!(
            call.actions[2].action,
            Ok(Action::Scroll {
                direction: Direction::Left,
                notches: 3,
                ..
            })
        ));
        let acked = json!({"computer_call": item,
                           "acknowledged_safety_checks": [{"id": "s1"}]});
        assert!(parse(&acked, &space()).unwrap().calls[0]
            .unacknowledged()
            .is_empty());
        let wrong = json!({"computer_call": item,
                           "acknowledged_safety_checks": [{"id": "s2"}]});
        assert_eq!(
            parse(&wrong, &space()).unwrap().calls[0]
                .unacknowledged()
                .len(),
            1
        );
    }

    #[test]
    fn the_preview_single_action_and_a_response() {
        let single = json!({"type": "computer_call", "call_id": "c", "action": {"type": "wait"}});
        assert_eq!(parse(&single, &space()).unwrap().calls[0].actions.len(), 1);
        let response = json!({"output": [{"type": "reasoning"}, single.clone()]});
        let request = parse(&response, &space()).unwrap();
        assert!(!request.single && request.calls.len() == 1);
        assert!(parse(&json!({"type": "message"}), &space()).is_err());
        let many: Vec<Value> = (0..=MAX_ACTIONS).map(|_| json!({"type": "wait"})).collect();
        let long = json!({"type": "computer_call", "call_id": "c", "actions": many});
        assert!(parse(&long, &space()).is_err());
        let calls: Vec<Value> = (0..=MAX_CALLS)
            .map(|_| json!({"type": "computer_call", "call_id": "c", "actions": []}))
            .collect();
        assert!(parse(&Value::Array(calls), &space()).is_err());
    }

    #[test]
    fn every_listed_action_reads_its_own_schema() {
        let s = space();
        for (name, _, schema) in crate::tools::openai() {
            let mut args = crate::tools::example(&schema);
            args["type"] = json!(name);
            assert!(read(name, &args, &s).is_ok(), "{name} {args}");
        }
    }
}
