//! `batch`: GhostDesk's input tools run in order in one call, paced like the executor
//! endpoints' batches (the screen settles between actions apps react to), stopping at the
//! first failure, with one screenshot at the end.

use std::time::{Duration, Instant};

use agentdesk_computer::{Action, Button, Call as Step, Direction as Dir, Outcome as Done, Space};
use agentdesk_desktop::{DesktopError, Format, TurnOptions};
use agentdesk_proto::{
    BatchArgs, ClickArgs, Direction, DragArgs, KeysArgs, MouseButton, PointArgs, ScrollArgs,
    TextArgs, WaitArgs,
};
use rmcp::model::{CallToolResult, ContentBlock};
use serde_json::{Map, Value};

use super::{parse, Call, Outcome};

pub(crate) const DESCRIPTION: &str = "\
Run several input actions in order in one call, then see the screen once: fewer round trips \
for a known sequence (click a field, type, press Return). Each action names its tool in \
\"action\" with that tool's arguments: mouse_move, mouse_click, mouse_double_click, \
mouse_drag, mouse_scroll, key_type, key_press, and wait {\"seconds\"}. Between actions that \
apps react to, the batch waits until the screen is quiet, so debounced inputs (a file name, \
then Return) land. The first failure stops the batch; the answer says which action failed and \
that the rest did not run.";

/// The most actions one batch runs.
pub(crate) const MAX_ACTIONS: usize = 50;
/// The longest wait inside a batch.
const MAX_WAIT: f64 = 30.0;

pub(crate) async fn batch(args: Result<BatchArgs, DesktopError>, call: &Call) -> Outcome {
    let args = args?;
    if args.actions.is_empty() || args.actions.len() > MAX_ACTIONS {
        return Err(DesktopError::BadRequest(format!(
            "batch takes 1 to {MAX_ACTIONS} actions (got {})",
            args.actions.len()
        )));
    }
    let screen = call.desktop.screen_size();
    let space = match call.space.size() {
        Some(n) => Space::grid(screen, n),
        None => Space::pixels(screen),
    };
    let steps: Vec<Step> = args
        .actions
        .into_iter()
        .enumerate()
        .map(|(i, raw)| {
            let name = raw
                .get("action")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned();
            Step {
                id: i.to_string(),
                action: read(&name, raw.clone(), call)
                    .map_err(|e| agentdesk_computer::Error::Call(format!("action {}: {e}", i + 1))),
                name,
                input: Value::Null,
            }
        })
        .collect();
    // Arguments are checked before anything runs: a mistake in the fifth action must not
    // leave the first four done.
    if let Some(Err(e)) = steps.iter().map(|s| s.action.as_ref()).find(|a| a.is_err()) {
        return Err(DesktopError::BadRequest(format!("{e}; nothing was run")));
    }
    let options = TurnOptions {
        space,
        format: Format::Webp,
        deadline: Instant::now() + call.timeout,
        screenshot: args.screenshot,
        // The call's own limit ends it; a server that stops cancels the call itself.
        cancel: Default::default(),
    };
    let turn = call.desktop.run_turn(&steps, options).await;
    let mut lines = Vec::new();
    let mut failed = false;
    for (i, outcome) in turn.outcomes.iter().enumerate() {
        match outcome {
            Done::Done(done) => lines.push(format!("{}. {}", i + 1, done.text)),
            Done::Failed(text) => {
                failed = true;
                lines.push(format!("{}. failed: {text}", i + 1));
            }
            Done::NotExecuted => {
                let rest = turn.outcomes.len() - i;
                lines.push(format!(
                    "{}. and the {rest} action(s) after it were not run: an earlier one failed",
                    i + 1
                ));
                break;
            }
        }
    }
    let mut content = vec![ContentBlock::text(lines.join("\n"))];
    if let Some(image) = turn.screenshot {
        content.push(ContentBlock::image(image.base64, image.mime_type));
    }
    Ok(if failed {
        CallToolResult::error(content)
    } else {
        CallToolResult::success(content)
    })
}

/// One action of a batch: its tool's arguments read exactly as the tool reads them.
fn read(name: &str, mut raw: Map<String, Value>, call: &Call) -> Result<Action, DesktopError> {
    raw.remove("action");
    let screen = call.desktop.screen_size();
    let point = |x: i64, y: i64| call.space.point(x, y, screen).map_err(DesktopError::from);
    let button = |b: MouseButton| match b {
        MouseButton::Left => Button::Left,
        MouseButton::Middle => Button::Middle,
        MouseButton::Right => Button::Right,
    };
    Ok(match name {
        "mouse_move" => {
            let a: PointArgs = parse(name, raw)?;
            Action::Move {
                to: point(a.x, a.y)?,
                hold: None,
            }
        }
        "mouse_click" | "mouse_double_click" => {
            let a: ClickArgs = parse(name, raw)?;
            Action::Click {
                at: Some(point(a.x, a.y)?),
                button: button(a.button),
                count: if name == "mouse_click" { 1 } else { 2 },
                hold: None,
            }
        }
        "mouse_drag" => {
            let a: DragArgs = parse(name, raw)?;
            if a.button != MouseButton::Left {
                return Err(DesktopError::BadRequest(
                    "a batch drags with the left button; use mouse_drag for another".into(),
                ));
            }
            Action::Drag {
                path: vec![point(a.from_x, a.from_y)?, point(a.to_x, a.to_y)?],
                from_pointer: false,
                hold: None,
            }
        }
        "mouse_scroll" => {
            let a: ScrollArgs = parse(name, raw)?;
            Action::Scroll {
                at: Some(point(a.x, a.y)?),
                direction: match a.direction {
                    Direction::Up => Dir::Up,
                    Direction::Down => Dir::Down,
                    Direction::Left => Dir::Left,
                    Direction::Right => Dir::Right,
                },
                // As mouse_scroll: clamped, not refused.
                notches: a.amount.clamp(1, 5) as u32,
                hold: None,
            }
        }
        "key_type" => {
            let a: TextArgs = parse(name, raw)?;
            Action::Type { text: a.text }
        }
        "key_press" => {
            let a: KeysArgs = parse(name, raw)?;
            Action::Key {
                keys: a.keys,
                repeat: 1,
            }
        }
        "wait" => {
            let a: WaitArgs = parse(name, raw)?;
            if !(0.0..=MAX_WAIT).contains(&a.seconds) {
                return Err(DesktopError::BadRequest(format!(
                    "wait takes 0 to {MAX_WAIT} seconds (got {})",
                    a.seconds
                )));
            }
            Action::Wait {
                duration: Duration::from_secs_f64(a.seconds),
            }
        }
        "" => {
            return Err(DesktopError::BadRequest(
                "each action names its tool in \"action\", e.g. {\"action\": \"key_press\", \
                 \"keys\": \"Return\"}"
                    .into(),
            ))
        }
        other => {
            return Err(DesktopError::BadRequest(format!(
                "{:?} cannot be batched; a batch runs mouse_move, mouse_click, \
                 mouse_double_click, mouse_drag, mouse_scroll, key_type, key_press and wait",
                crate::audit::cut(other)
            )))
        }
    })
}
