//! Gemini's `computer_use` tool: the model's turn holds function calls with predefined names
//! (`click {x, y}`, `type {text, press_enter}`, `hotkey {keys}`, ..., and the older
//! `click_at`, `type_text_at`, `key_combination`, ...), on a 0–999 grid whatever the screen.
//! Each call is answered by a `function_response` with the same name; the last one carries the
//! screenshot of the screen after the turn as an inline image part. A call whose
//! `safety_decision` asks for confirmation runs only when the request says a person confirmed
//! it, and its response then says `safety_acknowledgement: "true"`.

use std::time::Duration;

use serde_json::{json, Map, Value};

use crate::json::{join_keys, Args};
use crate::{Action, Button, Call, Direction, Error, Image, Outcome, Space};

/// The grid Gemini's coordinates are on: `v` is pixel `v·W/1000`.
pub const GRID: u32 = 1000;
/// Most calls one turn may hold.
pub const MAX_CALLS: usize = 100;
/// Pixels of scrolling one wheel notch stands for.
const NOTCH_PIXELS: i64 = 100;
const MAX_NOTCHES: i64 = 100;

/// One function call, read.
#[derive(Debug, Clone, PartialEq)]
pub struct FunctionCall {
    /// The call (its id is the function call's `id`, or empty).
    pub call: Call,
    /// Whether the model asked a person to confirm it first.
    pub needs_confirmation: bool,
    /// Why, in the model's words.
    pub explanation: Option<String>,
}

/// The request: the calls, and whether a person confirmed those that need it.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    /// The calls, in order.
    pub calls: Vec<FunctionCall>,
    /// `safety_acknowledgement: true` was sent with the request.
    pub confirmed: bool,
}

/// Reads a request: a list of function calls (`{name, args, id?}`) or of parts holding them
/// (`{function_call: ...}` / `{functionCall: ...}`), a model `Content` (`{role, parts}`), a
/// candidate (`{content}`), or `{"function_calls": [...], "safety_acknowledgement": true}`.
/// Parts that are not function calls (text, thoughts) are skipped.
pub fn parse(body: &Value, space: &Space) -> Result<Request, Error> {
    let mut confirmed = false;
    let list: &[Value] = match body {
        Value::Array(list) => list,
        Value::Object(map) => {
            confirmed = matches!(map.get("safety_acknowledgement"), Some(Value::Bool(true)))
                || map.get("safety_acknowledgement").and_then(Value::as_str) == Some("true");
            let inner = map
                .get("function_calls")
                .or_else(|| map.get("parts"))
                .or_else(|| map.get("content").and_then(|c| c.get("parts")));
            match inner {
                Some(Value::Array(list)) => list,
                _ if map.contains_key("name") => std::slice::from_ref(body),
                _ => return Err(not_calls()),
            }
        }
        _ => return Err(not_calls()),
    };
    let mut calls = Vec::new();
    for item in list {
        let call = item
            .get("function_call")
            .or_else(|| item.get("functionCall"))
            .unwrap_or(item);
        let Some(name) = call.get("name").and_then(Value::as_str) else {
            continue; // text, a thought: not a call
        };
        let args = call.get("args");
        // Wherever it is put and however it is spelt, a safety decision that does not plainly
        // allow the action asks for a person first.
        let decision = [args, Some(call)]
            .into_iter()
            .flatten()
            .flat_map(|v| [v.get("safety_decision"), v.get("safetyDecision")])
            .flatten()
            .find(|d| !d.is_null());
        let needs_confirmation = decision.is_some_and(|d| {
            !matches!(
                d.get("decision").and_then(Value::as_str),
                Some("allowed" | "regular")
            )
        });
        let explanation = decision
            .and_then(|d| d.get("explanation"))
            .and_then(Value::as_str)
            .map(str::to_owned);
        calls.push(FunctionCall {
            call: Call {
                id: call
                    .get("id")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_owned(),
                name: name.to_owned(),
                action: read(name, args, space),
                input: args.cloned().unwrap_or(Value::Null),
            },
            needs_confirmation,
            explanation,
        });
    }
    if calls.len() > MAX_CALLS {
        return Err(Error::Body(format!(
            "the turn holds {} function calls; at most {MAX_CALLS} run at once",
            calls.len()
        )));
    }
    Ok(Request { calls, confirmed })
}

fn not_calls() -> Error {
    Error::Body(
        "expected the model's function calls: a list of {name, args} (or of parts holding \
         `function_call`), a Content with `parts`, or {\"function_calls\": [...]}"
            .into(),
    )
}

/// One predefined function's arguments, as an action in screen pixels.
pub fn read(name: &str, args: Option<&Value>, space: &Space) -> Result<Action, Error> {
    let args = Args::new(name, args)?;
    let xy = |kx: &str, ky: &str| space.point(args.req_int(kx)?, args.req_int(ky)?);
    let at = || xy("x", "y");
    let click = |button: Button, count: u8| -> Result<Action, Error> {
        Ok(Action::Click {
            at: Some(at()?),
            button,
            count,
            hold: None,
        })
    };
    let key = |k: &str| -> Result<String, Error> {
        let v = args.req_str(k)?;
        Ok(join_keys(&[v]))
    };
    match name {
        "click" | "click_at" => click(Button::Left, 1),
        "double_click" => click(Button::Left, 2),
        "triple_click" => click(Button::Left, 3),
        "middle_click" => click(Button::Middle, 1),
        "right_click" => click(Button::Right, 1),
        "mouse_down" => Ok(Action::Press {
            at: Some(at()?),
            button: Button::Left,
        }),
        "mouse_up" => Ok(Action::Release {
            at: Some(at()?),
            button: Button::Left,
        }),
        "move" | "hover_at" => Ok(Action::Move {
            to: at()?,
            hold: None,
        }),
        "type" => Ok(Action::Type {
            text: typed(
                args.req_str("text")?,
                args.bool("press_enter")?.unwrap_or(false),
            ),
        }),
        "type_text_at" => {
            let text = args.req_str("text")?;
            // The older form's defaults, as documented: Enter after, field cleared before.
            let press_enter = args.bool("press_enter")?.unwrap_or(true);
            Ok(Action::TypeAt {
                at: at()?,
                text: typed(text, press_enter),
                clear: args.bool("clear_before_typing")?.unwrap_or(true),
            })
        }
        "drag_and_drop" => {
            let from = if args.get("start_x").is_some() {
                xy("start_x", "start_y")?
            } else {
                at()?
            };
            let to = if args.get("end_x").is_some() {
                xy("end_x", "end_y")?
            } else {
                xy("destination_x", "destination_y")?
            };
            Ok(Action::Drag {
                path: vec![from, to],
                from_pointer: false,
                hold: None,
            })
        }
        "wait" => Ok(Action::Wait {
            duration: args.seconds("seconds")?.unwrap_or(Duration::from_secs(1)),
        }),
        "wait_5_seconds" => Ok(Action::Wait {
            duration: Duration::from_secs(5),
        }),
        "press_key" => Ok(Action::Key {
            keys: key("key")?,
            repeat: 1,
        }),
        "key_down" => Ok(Action::KeyDown { keys: key("key")? }),
        "key_up" => Ok(Action::KeyUp { keys: key("key")? }),
        "hotkey" | "key_combination" => {
            let keys = match args.get("keys") {
                Some(Value::String(s)) => join_keys(&[s.as_str()]),
                _ => args
                    .strings("keys")?
                    .map(|k| join_keys(&k))
                    .ok_or_else(|| {
                        Error::Call(format!(
                            "{name}: `keys` is required, e.g. [\"control\", \"c\"]"
                        ))
                    })?,
            };
            if keys.is_empty() {
                return Err(Error::Call(format!("{name}: `keys` names no key")));
            }
            Ok(Action::Key { keys, repeat: 1 })
        }
        "take_screenshot" | "open_web_browser" => Ok(Action::Screenshot),
        "scroll" | "scroll_at" => {
            let direction = direction(name, &args)?;
            // The magnitude's unit depends on who sent it: pixels (the docs, 300 by default),
            // wheel clicks (what desktop sessions send), or the older grid units.
            let notches = if let Some(clicks) = args.int("magnitude_in_wheel_clicks")? {
                clicks
            } else {
                let pixels = match args.int("magnitude_in_pixels")? {
                    Some(p) => p,
                    None => args.int("magnitude")?.unwrap_or(300),
                };
                pixels.saturating_add(NOTCH_PIXELS / 2) / NOTCH_PIXELS
            };
            if notches < 0 {
                return Err(Error::Call(format!(
                    "{name}: the magnitude cannot be negative"
                )));
            }
            Ok(Action::Scroll {
                at: Some(at()?),
                direction,
                notches: notches.clamp(1, MAX_NOTCHES) as u32,
                hold: None,
            })
        }
        "scroll_document" => {
            let direction = direction(name, &args)?;
            let centre = space.screen();
            Ok(Action::Scroll {
                at: Some(agentdesk_image::Point {
                    x: centre.width / 2,
                    y: centre.height / 2,
                }),
                direction,
                notches: 5,
                hold: None,
            })
        }
        "navigate" => Ok(Action::Navigate {
            url: args.req_str("url")?.to_owned(),
        }),
        "go_back" => Ok(Action::GoBack),
        "go_forward" => Ok(Action::GoForward),
        other => Err(Error::Call(format!(
            "unknown computer_use function {other:?}; this desktop runs click, double_click, \
             triple_click, middle_click, right_click, mouse_down, mouse_up, move, type, \
             drag_and_drop, wait, press_key, key_down, key_up, hotkey, take_screenshot, \
             scroll, navigate, go_back, go_forward and the older click_at, hover_at, \
             type_text_at, scroll_at, scroll_document, key_combination, wait_5_seconds"
        ))),
    }
}

fn typed(text: &str, press_enter: bool) -> String {
    let mut text = text.to_owned();
    if press_enter {
        text.push('\n');
    }
    text
}

fn direction(name: &str, args: &Args<'_>) -> Result<Direction, Error> {
    let given = args.req_str("direction")?;
    Direction::from_name(given).ok_or_else(|| {
        Error::Call(format!(
            "{name}: `direction` must be \"up\", \"down\", \"left\" or \"right\" (got {given:?})"
        ))
    })
}

/// The user `Content` answering the turn: one `function_response` per call, in order, the last
/// with `screenshot` as an inline image.
pub fn responses(request: &Request, outcomes: &[Outcome], screenshot: Option<&Image>) -> Value {
    let last = request.calls.len().saturating_sub(1);
    let parts: Vec<Value> = request
        .calls
        .iter()
        .zip(outcomes)
        .enumerate()
        .map(|(i, (call, outcome))| {
            let mut response = Map::new();
            let key = if outcome.is_error() {
                "error"
            } else {
                "output"
            };
            response.insert(key.into(), json!(outcome.text()));
            // Gemini's browser loop reports the page's URL with each response; on a desktop the
            // one known for sure is the one a `navigate` went to.
            if let (Ok(Action::Navigate { url }), false) = (&call.call.action, outcome.is_error()) {
                response.insert("url".into(), json!(url));
            }
            if call.needs_confirmation && request.confirmed && !outcome.is_error() {
                response.insert("safety_acknowledgement".into(), json!("true"));
            }
            let mut fr = Map::new();
            fr.insert("name".into(), json!(call.call.name));
            if !call.call.id.is_empty() {
                fr.insert("id".into(), json!(call.call.id));
            }
            fr.insert("response".into(), Value::Object(response));
            let image = match outcome {
                Outcome::Done(done) if done.image.is_some() => done.image.as_ref(),
                _ if i == last => screenshot,
                _ => None,
            };
            if let Some(image) = image {
                fr.insert(
                    "parts".into(),
                    json!([{"inline_data": {"mime_type": image.mime_type, "data": image.base64}}]),
                );
            }
            json!({ "function_response": Value::Object(fr) })
        })
        .collect();
    json!({"role": "user", "parts": parts})
}

#[cfg(test)]
mod tests {
    use agentdesk_image::{Point, Size};
    use serde_json::json;

    use super::*;

    fn space() -> Space {
        Space::grid(
            Size {
                width: 1280,
                height: 800,
            },
            GRID,
        )
    }

    #[test]
    fn calls_come_in_any_wrapping() {
        let call = json!({"name": "click", "args": {"x": 500, "y": 500, "intent": "x"}});
        for body in [
            json!([call.clone()]),
            json!([{"function_call": call.clone()}]),
            json!({"role": "model", "parts": [{"text": "hm"}, {"functionCall": call.clone()}]}),
            json!({"content": {"parts": [{"function_call": call.clone()}]}}),
            json!({"function_calls": [call.clone()]}),
        ] {
            let request = parse(&body, &space()).unwrap();
            assert_eq!(request.calls.len(), 1, "{body}");
            assert_eq!(
                request.calls[0].call.action,
                Ok(Action::Click {
                    at: Some(Point { x: 640, y: 400 }),
                    button: Button::Left,
                    count: 1,
                    hold: None
                })
            );
        }
    }

    #[test]
    fn both_scroll_units_and_both_drag_spellings() {
        let s = space();
        let notches = |args: Value| match read("scroll", Some(&args), &s) {
            Ok(Action::Scroll { notches, .. }) => notches,
            other => panic!("{other:?}"),
        };
        let at = json!({"x": 1, "y": 1, "direction": "down"});
        let with = |k: &str, v: i64| {
            let mut a = at.clone();
            a[k] = json!(v);
            a
        };
        assert_eq!(notches(at.clone()), 3);
        assert_eq!(notches(with("magnitude_in_pixels", 500)), 5);
        assert_eq!(notches(with("magnitude_in_wheel_clicks", 2)), 2);
        // Whatever the model's number, a bounded scroll (no overflow on the way).
        assert_eq!(notches(with("magnitude", i64::MAX)), 100);
        assert_eq!(notches(with("magnitude_in_pixels", i64::MAX)), 100);
        assert_eq!(notches(with("magnitude_in_wheel_clicks", i64::MAX)), 100);
        let new = json!({"start_x": 0, "start_y": 0, "end_x": 999, "end_y": 999});
        let old = json!({"x": 0, "y": 0, "destination_x": 999, "destination_y": 999});
        assert_eq!(
            read("drag_and_drop", Some(&new), &s),
            read("drag_and_drop", Some(&old), &s)
        );
    }

    #[test]
    fn confirmation_is_noticed() {
        let body = json!([{"name": "click", "args": {"x": 1, "y": 1,
            "safety_decision": {"decision": "require_confirmation", "explanation": "buys"}}}]);
        let request = parse(&body, &space()).unwrap();
        assert!(request.calls[0].needs_confirmation && !request.confirmed);
        let confirmed = json!({"function_calls": body, "safety_acknowledgement": true});
        assert!(parse(&confirmed, &space()).unwrap().confirmed);
        for odd in [
            json!([{"name": "click", "args": {"x": 1, "y": 1, "safety_decision": 5}}]),
            json!([{"name": "click", "args": {"x": 1, "y": 1, "safety_decision": "confirm"}}]),
            json!([{"name": "click", "args": {"x": 1, "y": 1,
                    "safetyDecision": {"decision": "require_confirmation"}}}]),
            json!([{"name": "click", "args": {"x": 1, "y": 1},
                    "safety_decision": {"decision": "require_confirmation"}}]),
        ] {
            assert!(
                parse(&odd, &space()).unwrap().calls[0].needs_confirmation,
                "{odd}"
            );
        }
        let allowed = json!([{"name": "click", "args": {"x": 1, "y": 1,
                             "safety_decision": {"decision": "allowed"}}}]);
        assert!(!parse(&allowed, &space()).unwrap().calls[0].needs_confirmation);
    }

    #[test]
    fn a_navigate_answers_with_its_url() {
        let body = json!([{"name": "navigate", "args": {"url": "https://example.com/a"}},
                          {"name": "click", "args": {"x": 1, "y": 1}}]);
        let request = parse(&body, &space()).unwrap();
        let done = Outcome::Done(crate::Done::default());
        let answer = responses(&request, &[done.clone(), done], None);
        let parts = answer["parts"].as_array().unwrap();
        assert_eq!(
            parts[0]["function_response"]["response"]["url"],
            "https://example.com/a"
        );
        assert!(parts[1]["function_response"]["response"]
            .get("url")
            .is_none());
        let failed = responses(
            &request,
            &[Outcome::Failed("no".into()), Outcome::NotExecuted],
            None,
        );
        assert!(failed["parts"][0]["function_response"]["response"]
            .get("url")
            .is_none());
    }

    #[test]
    fn every_listed_function_reads_its_own_schema() {
        let s = space();
        for (name, _, schema) in crate::tools::gemini() {
            let args = crate::tools::example(&schema);
            assert!(read(name, Some(&args), &s).is_ok(), "{name} {args}");
        }
    }
}
