//! The one action set every dialect is read into, in screen pixels, and what running an
//! action gives back.

use std::time::Duration;

use agentdesk_image::{Point, Rect};

use crate::Error;

/// A mouse button.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Button {
    /// The primary button.
    Left,
    /// The wheel button.
    Middle,
    /// The secondary button.
    Right,
    /// Button 8 ("back" in browsers).
    Back,
    /// Button 9 ("forward").
    Forward,
}

impl Button {
    /// Its name in result texts.
    pub fn name(self) -> &'static str {
        match self {
            Button::Left => "left",
            Button::Middle => "middle",
            Button::Right => "right",
            Button::Back => "back",
            Button::Forward => "forward",
        }
    }
}

/// A wheel direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Towards the top.
    Up,
    /// Towards the bottom.
    Down,
    /// Towards the left.
    Left,
    /// Towards the right.
    Right,
}

impl Direction {
    /// The direction named "up", "down", "left" or "right" (every vendor's spelling).
    pub fn from_name(name: &str) -> Option<Direction> {
        [
            Direction::Up,
            Direction::Down,
            Direction::Left,
            Direction::Right,
        ]
        .into_iter()
        .find(|d| d.name() == name)
    }

    /// Its name in result texts.
    pub fn name(self) -> &'static str {
        match self {
            Direction::Up => "up",
            Direction::Down => "down",
            Direction::Left => "left",
            Direction::Right => "right",
        }
    }
}

/// One thing a model asked the computer to do. Points are screen pixels, already checked
/// against the screen; `hold` is a key combination held down meanwhile ("shift",
/// "ctrl+alt").
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Capture the screen.
    Screenshot,
    /// Capture `region` of the screen at full resolution.
    Zoom {
        /// Screen pixels.
        region: Rect,
    },
    /// Say where the pointer is.
    CursorPosition,
    /// Move the pointer.
    Move {
        /// Where to.
        to: Point,
        /// Keys held while moving.
        hold: Option<String>,
    },
    /// Click `count` times (at the pointer if `at` is `None`).
    Click {
        /// Where, or where the pointer is.
        at: Option<Point>,
        /// Which button.
        button: Button,
        /// 1, 2 or 3.
        count: u8,
        /// Keys held while clicking.
        hold: Option<String>,
    },
    /// Press a button and keep it down.
    Press {
        /// Where, or where the pointer is.
        at: Option<Point>,
        /// Which button.
        button: Button,
    },
    /// Release a button held down.
    Release {
        /// Where, or where the pointer is.
        at: Option<Point>,
        /// Which button.
        button: Button,
    },
    /// Press the left button at the path's first point (or where the pointer is, if
    /// `from_pointer`), move through the points, release at the last.
    Drag {
        /// The points, at least one.
        path: Vec<Point>,
        /// The drag starts where the pointer is, before `path`.
        from_pointer: bool,
        /// Keys held while dragging.
        hold: Option<String>,
    },
    /// Turn the wheel.
    Scroll {
        /// Where, or where the pointer is.
        at: Option<Point>,
        /// Which way.
        direction: Direction,
        /// Wheel notches.
        notches: u32,
        /// Keys held while scrolling.
        hold: Option<String>,
    },
    /// Type text at the keyboard focus.
    Type {
        /// Any Unicode.
        text: String,
    },
    /// Click a field, select all that is in it (if `clear`) and type over it.
    TypeAt {
        /// The field.
        at: Point,
        /// Any Unicode.
        text: String,
        /// Select everything first, so the text replaces it.
        clear: bool,
    },
    /// Press a key combination `repeat` times.
    Key {
        /// "ctrl+s", "Return".
        keys: String,
        /// 1 or more.
        repeat: u32,
    },
    /// Press keys and keep them down.
    KeyDown {
        /// The keys.
        keys: String,
    },
    /// Release keys held down.
    KeyUp {
        /// The keys.
        keys: String,
    },
    /// Hold keys down for a while.
    HoldKey {
        /// The keys.
        keys: String,
        /// How long.
        duration: Duration,
    },
    /// Do nothing for a while.
    Wait {
        /// How long.
        duration: Duration,
    },
    /// Open a URL in the browser on top, as typing it into the address bar would (any URL
    /// the browser takes; the sandbox, not the scheme, bounds what it can reach).
    Navigate {
        /// One line, checked where it runs.
        url: String,
    },
    /// The browser's back.
    GoBack,
    /// The browser's forward.
    GoForward,
}

impl Action {
    /// Whether apps react to it, so that the next action of a batch should wait until the
    /// screen is quiet (apps that debounce input drop what comes too soon after it: GTK's
    /// file chooser ignores a Return right after a typed name). Pointer moves, captures and
    /// waits need no pause.
    pub fn provokes(&self) -> bool {
        !matches!(
            self,
            Action::Screenshot
                | Action::Zoom { .. }
                | Action::CursorPosition
                | Action::Move { .. }
                | Action::Wait { .. }
        )
    }

    /// The longest it may take by itself (waits and held keys), so a caller can refuse what
    /// would outlast its time limit before starting.
    pub fn duration(&self) -> Duration {
        match self {
            Action::Wait { duration } | Action::HoldKey { duration, .. } => *duration,
            _ => Duration::ZERO,
        }
    }
}

/// One call of a model's turn, read: the vendor's id and name, and the action or why it
/// cannot run.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    /// The vendor's id of the call (`tool_use.id`, `call_id`, a function call's id).
    pub id: String,
    /// The member, action or function name.
    pub name: String,
    /// What to do, or the message for the model.
    pub action: Result<Action, Error>,
    /// The call's arguments as sent, for the audit log.
    pub input: serde_json::Value,
}

/// An image to put in a result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image {
    /// "image/webp", "image/png", "image/jpeg".
    pub mime_type: &'static str,
    /// Base64 of the encoded image.
    pub base64: String,
}

/// What running one action gave.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Done {
    /// A sentence for the model ("Clicked left at (10, 20)"), in the dialect's coordinates.
    pub text: String,
    /// A screenshot or zoom, when the action calls for one.
    pub image: Option<Image>,
}

/// How one call ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// It ran.
    Done(Done),
    /// It failed; the text is for the model.
    Failed(String),
    /// An earlier call of the turn failed, so it did not run.
    NotExecuted,
}

impl Outcome {
    /// Whether the model should be told this call failed.
    pub fn is_error(&self) -> bool {
        !matches!(self, Outcome::Done(_))
    }

    /// The text for the model.
    pub fn text(&self) -> &str {
        match self {
            Outcome::Done(done) => &done.text,
            Outcome::Failed(text) => text,
            Outcome::NotExecuted => crate::NOT_EXECUTED,
        }
    }
}
