//! The input tools: mouse_move, mouse_click, mouse_double_click, mouse_drag, mouse_scroll,
//! key_type, key_press. Each returns GhostDesk's feedback JSON.

use agentdesk_desktop::{Button, DesktopError, KeyCombo, PointerAction, Reaction, ScrollDirection};
use agentdesk_proto::{
    ClickArgs, Direction, DragArgs, Feedback, KeysArgs, MouseButton, PointArgs, ScrollArgs,
    TextArgs,
};

use super::{json_text, Call, Outcome};

pub(crate) const MOVE: &str = "\
Move the pointer without pressing, to reveal hover effects (menus, tooltips). \
screen_changed is often false: nothing reacts to hover.";
pub(crate) const CLICK: &str = "\
Click once at (x, y), pixels of the latest screenshot. button: \"left\" (default), \"middle\" \
or \"right\". If screen_changed is false, take a screenshot before trying again: do not repeat \
the same coordinates blindly.";
pub(crate) const DOUBLE_CLICK: &str = "\
Double-click at (x, y): open a file or icon, select a word.";
pub(crate) const DRAG: &str = "\
Press at (from_x, from_y), move to (to_x, to_y), release: select a range, move a window or an \
item, resize, draw. To select text, a click and shift+End is often simpler.";
pub(crate) const SCROLL: &str = "\
Turn the mouse wheel at (x, y): direction \"up\", \"down\" (default), \"left\" or \"right\"; \
amount is the number of notches, 1 to 5 (default 3). screen_changed false usually means the \
view was already at its end.";
pub(crate) const TYPE: &str = "\
Type text at the keyboard focus: any Unicode, whatever the keyboard layout; \"\\n\" presses \
Enter and \"\\t\" Tab. Click the target field first. screen_changed false usually means \
nothing had the focus. For long text, clipboard_set then key_press(\"ctrl+v\") is faster. \
Pass secret: true for a password: the text is kept out of all logs.";
pub(crate) const PRESS: &str = "\
Press a key or a chord, joined with '+': \"Return\", \"Escape\", \"Tab\", \"BackSpace\", \
\"ctrl+s\", \"ctrl+shift+tab\", \"alt+F4\", \"Page_Down\", \"super\". Modifiers: ctrl, alt, \
shift, super (meta/win/cmd). Named keys: return/enter, escape/esc, backspace, delete, tab, \
space, home, end, pageup, pagedown, left, right, up, down, f1-f12, insert, print, menu, and \
any X keysym name.";

fn feedback(action: String, reaction: Reaction) -> Outcome {
    Ok(json_text(&Feedback {
        action,
        screen_changed: reaction.changed,
        reaction_time_ms: reaction.reaction_ms,
    }))
}

fn button(b: MouseButton) -> (Button, &'static str) {
    match b {
        MouseButton::Left => (Button::Left, "left"),
        MouseButton::Middle => (Button::Middle, "middle"),
        MouseButton::Right => (Button::Right, "right"),
    }
}

pub(crate) async fn mouse_move(args: Result<PointArgs, DesktopError>, call: &Call) -> Outcome {
    let args = args?;
    let p = call
        .space
        .point(args.x, args.y, call.desktop.screen_size())?;
    let reaction = call
        .desktop
        .pointer(PointerAction::Move { x: p.x, y: p.y })
        .await?;
    feedback(format!("Moved cursor to ({}, {})", p.x, p.y), reaction)
}

pub(crate) async fn mouse_click(
    args: Result<ClickArgs, DesktopError>,
    call: &Call,
    count: u8,
) -> Outcome {
    let args = args?;
    let p = call
        .space
        .point(args.x, args.y, call.desktop.screen_size())?;
    let (button, name) = button(args.button);
    let reaction = call
        .desktop
        .pointer(PointerAction::Click {
            x: p.x,
            y: p.y,
            button,
            count,
        })
        .await?;
    let verb = if count == 2 {
        "Double-clicked"
    } else {
        "Clicked"
    };
    feedback(format!("{verb} {name} at ({}, {})", p.x, p.y), reaction)
}

pub(crate) async fn mouse_drag(args: Result<DragArgs, DesktopError>, call: &Call) -> Outcome {
    let args = args?;
    let screen = call.desktop.screen_size();
    let from = call.space.point(args.from_x, args.from_y, screen)?;
    let to = call.space.point(args.to_x, args.to_y, screen)?;
    let (button, _) = button(args.button);
    let action = PointerAction::Drag {
        from: (from.x, from.y),
        to: (to.x, to.y),
        button,
    };
    let reaction = call.desktop.pointer(action).await?;
    feedback(
        format!(
            "Dragged from ({}, {}) to ({}, {})",
            from.x, from.y, to.x, to.y
        ),
        reaction,
    )
}

pub(crate) async fn mouse_scroll(args: Result<ScrollArgs, DesktopError>, call: &Call) -> Outcome {
    let args = args?;
    let p = call
        .space
        .point(args.x, args.y, call.desktop.screen_size())?;
    // GhostDesk clamps rather than rejects; a prompt that asks for 10 notches gets 5.
    let amount = args.amount.clamp(1, 5) as u32;
    let (direction, name) = match args.direction {
        Direction::Up => (ScrollDirection::Up, "up"),
        Direction::Down => (ScrollDirection::Down, "down"),
        Direction::Left => (ScrollDirection::Left, "left"),
        Direction::Right => (ScrollDirection::Right, "right"),
    };
    let reaction = call
        .desktop
        .pointer(PointerAction::Scroll {
            x: p.x,
            y: p.y,
            direction,
            amount,
        })
        .await?;
    feedback(
        format!("Scrolled {name} {amount} clicks at ({}, {})", p.x, p.y),
        reaction,
    )
}

pub(crate) async fn key_type(args: Result<TextArgs, DesktopError>, call: &Call) -> Outcome {
    let args = args?;
    let reaction = call.desktop.type_text(&args.text).await?;
    feedback(
        format!("Typed {} characters", args.text.chars().count()),
        reaction,
    )
}

pub(crate) async fn key_press(args: Result<KeysArgs, DesktopError>, call: &Call) -> Outcome {
    let args = args?;
    let combo = KeyCombo::parse(&args.keys).map_err(|e| DesktopError::BadRequest(e.to_string()))?;
    let reaction = call.desktop.press_keys(combo).await?;
    feedback(format!("Pressed {}", args.keys), reaction)
}
