//! Arguments and results of the grounding tools: text on screen (`screen_find_text`,
//! `screen_read_text`), windows (`window_list`, `window_action`) and `screen_zoom`.
//!
//! Every coordinate is in the caller's space (pixels, or the model space it declared), and
//! every result names that space in its `coordinates` field.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::args::{ImageFormat, Region};
use crate::lenient::{self, string_enum};

/// `screen_find_text` arguments.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FindTextArgs {
    /// The text to find: a word or a phrase (words of one line). Case and spaces do not
    /// matter unless `exact`.
    pub text: String,
    /// Look only here (same coordinates as clicks); default: the whole screen.
    #[serde(default)]
    pub region: Option<Region>,
    /// Match whole words exactly as written (case included), no misread letters forgiven.
    #[serde(default, deserialize_with = "lenient::boolean")]
    #[schemars(default)]
    pub exact: bool,
    /// The most matches to return (1 to 100, default 20); `total` says how many there were.
    #[serde(default = "twenty", deserialize_with = "lenient::int")]
    #[schemars(default = "twenty")]
    pub limit: i64,
    /// Where the text comes from: "auto" (default: the pixels, in the apps' own words where
    /// their accessibility trees agree), "ocr" (the pixels only) or "accessibility" (what the
    /// apps' trees say they show, unchecked against the pixels).
    #[serde(default)]
    pub source: TextSource,
}

/// Where text on screen is read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum TextSource {
    /// The pixels, each line in the app's own words where its accessibility tree says nearly
    /// the same there.
    #[default]
    Auto,
    /// The pixels only (xterm's font matched, OCR for the rest).
    Ocr,
    /// What the apps' accessibility trees say they show, unchecked against the pixels (fast;
    /// nothing from apps without one, such as xterm).
    Accessibility,
}

string_enum!(TextSource {
    "auto" => Auto, "ocr" => Ocr, "accessibility" => Accessibility,
});

fn twenty() -> i64 {
    20
}

/// `screen_read_text` arguments.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReadTextArgs {
    /// Read only here (same coordinates as clicks); default: the whole screen.
    #[serde(default)]
    pub region: Option<Region>,
    /// The most lines to return (1 to 1000, default 300), in reading order.
    #[serde(default = "three_hundred", deserialize_with = "lenient::int")]
    #[schemars(default = "three_hundred")]
    pub max_lines: i64,
    /// Where the text comes from: "auto" (default), "ocr" or "accessibility", as for
    /// screen_find_text.
    #[serde(default)]
    pub source: TextSource,
}

fn three_hundred() -> i64 {
    300
}

/// `screen_zoom` arguments.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ZoomArgs {
    /// The part of the screen to enlarge (same coordinates as clicks).
    pub region: Region,
    /// How many times larger, 1 to 8 (default 2).
    #[serde(default = "two", deserialize_with = "lenient::int")]
    #[schemars(default = "two")]
    pub scale: i64,
    /// "webp" (default), "png" or "jpeg", as for screen_shot.
    #[serde(default)]
    pub format: ImageFormat,
}

fn two() -> i64 {
    2
}

/// `window_list` arguments: optional filters.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WindowListArgs {
    /// Only windows whose title contains this (case does not matter).
    #[serde(default, deserialize_with = "lenient::some_string")]
    #[schemars(with = "String")]
    pub title: Option<String>,
    /// Only windows of this app (its class, e.g. "firefox-esr", "Mousepad"; case does not
    /// matter).
    #[serde(default, deserialize_with = "lenient::some_string")]
    #[schemars(with = "String")]
    pub app: Option<String>,
}

/// What `window_action` does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum WindowActionName {
    /// Bring to the front and give it the keyboard (restores a minimized window).
    Focus,
    /// Ask it to close, like its close button (the app may ask to save first).
    Close,
    /// Minimize.
    Minimize,
    /// Maximize.
    Maximize,
    /// Neither minimized, maximized nor fullscreen.
    Restore,
    /// Move its top-left corner to (x, y).
    Move,
    /// Make it width × height.
    Resize,
    /// Cover the whole screen.
    Fullscreen,
}

string_enum!(WindowActionName {
    "focus" => Focus, "close" => Close, "minimize" => Minimize, "maximize" => Maximize,
    "restore" => Restore, "move" => Move, "resize" => Resize, "fullscreen" => Fullscreen,
});

/// `window_action` arguments.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WindowActionArgs {
    /// What to do.
    pub action: WindowActionName,
    /// The window's id, from window_list. Or name it with `title` / `app` instead.
    #[serde(default, deserialize_with = "lenient::some_int")]
    #[schemars(with = "i64")]
    pub window: Option<i64>,
    /// The topmost window whose title contains this (case does not matter).
    #[serde(default, deserialize_with = "lenient::some_string")]
    #[schemars(with = "String")]
    pub title: Option<String>,
    /// The topmost window of this app (its class, as window_list shows it).
    #[serde(default, deserialize_with = "lenient::some_string")]
    #[schemars(with = "String")]
    pub app: Option<String>,
    /// For move: where the window's top-left corner goes.
    #[serde(default, deserialize_with = "lenient::some_int")]
    #[schemars(with = "i64")]
    pub x: Option<i64>,
    /// For move: see `x`.
    #[serde(default, deserialize_with = "lenient::some_int")]
    #[schemars(with = "i64")]
    pub y: Option<i64>,
    /// For resize: the new width.
    #[serde(default, deserialize_with = "lenient::some_int")]
    #[schemars(with = "i64")]
    pub width: Option<i64>,
    /// For resize: the new height.
    #[serde(default, deserialize_with = "lenient::some_int")]
    #[schemars(with = "i64")]
    pub height: Option<i64>,
}

/// A box on screen, in the caller's coordinates, with its centre (where to click).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Spot {
    /// Left edge.
    pub x: i64,
    /// Top edge.
    pub y: i64,
    /// Width.
    pub width: i64,
    /// Height.
    pub height: i64,
    /// Where to click it: the centre's column.
    pub center_x: i64,
    /// The centre's row.
    pub center_y: i64,
}

/// One place a text was found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TextMatch {
    /// The text there, as read.
    pub text: String,
    /// Where.
    #[serde(flatten)]
    pub spot: Spot,
    /// 0–100.
    pub confidence: u32,
    /// Where the text came from: "accessibility" (read from the pixels, in the app's own
    /// words), "font" (a terminal's bitmap font, matched) or "ocr".
    pub source: &'static str,
}

/// `screen_find_text`'s result.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FindTextResult {
    /// Matches, most confident first.
    pub matches: Vec<TextMatch>,
    /// How many matches there were in all.
    pub total: usize,
    /// The coordinate space of every number here.
    pub coordinates: String,
    /// False if the time ran out before all of the screen was read (calling again goes on).
    pub complete: bool,
    /// A hint when nothing matched.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

/// One line of text on screen.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TextLine {
    /// What it says.
    pub text: String,
    /// Where.
    #[serde(flatten)]
    pub spot: Spot,
    /// 0–100.
    pub confidence: u32,
    /// Where the text came from: "accessibility" (read from the pixels, in the app's own
    /// words), "font" (a terminal's bitmap font, matched) or "ocr".
    pub source: &'static str,
}

/// `screen_read_text`'s result.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReadTextResult {
    /// Lines, top to bottom; side by side left to right.
    pub lines: Vec<TextLine>,
    /// Lines left out past `max_lines`.
    pub more_lines: usize,
    /// The coordinate space of every number here.
    pub coordinates: String,
    /// False if the time ran out before all of the screen was read (calling again goes on).
    pub complete: bool,
}

/// One window in `window_list`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WindowEntry {
    /// Its id, for window_action; valid while the window lives.
    pub id: u32,
    /// Its title.
    pub title: String,
    /// Its app (window class).
    pub app: String,
    /// The process that owns it, when known.
    pub pid: Option<u32>,
    /// Where its contents are (the window manager's frame is around them).
    #[serde(flatten)]
    pub spot: Spot,
    /// Has the keyboard focus.
    pub focused: bool,
    /// Minimized.
    pub minimized: bool,
    /// Maximized.
    pub maximized: bool,
    /// Fullscreen.
    pub fullscreen: bool,
}

/// `window_list`'s result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WindowListResult {
    /// Windows, topmost first.
    pub windows: Vec<WindowEntry>,
    /// The coordinate space of every number here.
    pub coordinates: String,
}

/// `window_action`'s result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WindowActionResult {
    /// What was done.
    pub action: String,
    /// Whether the screen visibly changed.
    pub screen_changed: bool,
    /// Milliseconds to the first visible change (or until we stopped looking).
    pub reaction_time_ms: u64,
    /// The window afterwards; null once it has closed.
    pub window: Option<WindowEntry>,
    /// The coordinate space of every number here.
    pub coordinates: String,
}

/// `ui_tree` arguments.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UiTreeArgs {
    /// Only windows whose title contains this (case does not matter).
    #[serde(default, deserialize_with = "lenient::some_string")]
    #[schemars(with = "String")]
    pub window: Option<String>,
    /// Only this app's windows (its accessible name contains this, e.g. "galculator",
    /// "Firefox").
    #[serde(default, deserialize_with = "lenient::some_string")]
    #[schemars(with = "String")]
    pub app: Option<String>,
    /// The most nodes to list (1 to 2000, default 300).
    #[serde(default = "three_hundred", deserialize_with = "lenient::int")]
    #[schemars(default = "three_hundred")]
    pub max_nodes: i64,
    /// How deep to go below the apps (1 to 64, default 40).
    #[serde(default = "forty", deserialize_with = "lenient::int")]
    #[schemars(default = "forty")]
    pub max_depth: i64,
}

fn forty() -> i64 {
    40
}

/// `ui_find` arguments.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UiFindArgs {
    /// The role, as ui_tree shows it ("push button", "entry", "link", "check box", ...).
    #[serde(default, deserialize_with = "lenient::some_string")]
    #[schemars(with = "String")]
    pub role: Option<String>,
    /// Text the name contains (case does not matter).
    #[serde(default, deserialize_with = "lenient::some_string")]
    #[schemars(with = "String")]
    pub name: Option<String>,
    /// Only windows whose title contains this.
    #[serde(default, deserialize_with = "lenient::some_string")]
    #[schemars(with = "String")]
    pub window: Option<String>,
    /// Only this app's windows.
    #[serde(default, deserialize_with = "lenient::some_string")]
    #[schemars(with = "String")]
    pub app: Option<String>,
    /// The most nodes to return (1 to 100, default 20).
    #[serde(default = "twenty", deserialize_with = "lenient::int")]
    #[schemars(default = "twenty")]
    pub limit: i64,
}

/// What `ui_action` does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum UiActionName {
    /// Activate: a button, a link, a menu item.
    Click,
    /// The same, for widgets that call it "press".
    Press,
    /// Give it the keyboard focus.
    Focus,
    /// Replace its text with `text` (an entry, a text field).
    SetText,
    /// Flip a check box or toggle button.
    Toggle,
    /// Select it (a list row, a tab, an option).
    Select,
    /// Expand it (a tree row, a combo box).
    Expand,
}

string_enum!(UiActionName {
    "click" => Click, "press" => Press, "focus" => Focus, "set_text" => SetText,
    "toggle" => Toggle, "select" => Select, "expand" => Expand,
});

/// `ui_action` arguments.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UiActionArgs {
    /// The node's id, from ui_tree or ui_find (e.g. "1.42/135").
    pub id: String,
    /// What to do.
    pub action: UiActionName,
    /// For set_text: the text.
    #[serde(default, deserialize_with = "lenient::some_string")]
    #[schemars(with = "String")]
    pub text: Option<String>,
    /// true for a password or other secret: the text is kept out of the audit log.
    #[serde(default, deserialize_with = "lenient::boolean")]
    pub secret: bool,
}

/// A node in `ui_find`'s answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UiNodeEntry {
    /// Its id, for ui_action; valid while the node lives.
    pub id: String,
    /// Its role.
    pub role: String,
    /// Its name.
    pub name: String,
    /// Where it is, if it has a place on screen.
    #[serde(flatten)]
    pub spot: Option<Spot>,
    /// Its states ("focused checked ...").
    pub states: String,
    /// The app it belongs to.
    pub app: String,
}

/// `ui_find`'s result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UiFindResult {
    /// Matching nodes, in tree order.
    pub nodes: Vec<UiNodeEntry>,
    /// How many matched in all.
    pub total: usize,
    /// Whether a limit cut the tree short (a match may be beyond it: narrow with `window`).
    pub truncated: bool,
    /// The coordinate space of every number here.
    pub coordinates: String,
}

/// `ui_action`'s result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UiActionResult {
    /// What was done, and how: through the app's accessibility interface, or a pointer click.
    pub action: String,
    /// Whether the screen visibly changed.
    pub screen_changed: bool,
    /// Milliseconds to the first visible change (or until we stopped looking).
    pub reaction_time_ms: u64,
}

/// `browser_page_map` arguments.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PageMapArgs {
    /// The browser window whose title contains this; default: the topmost browser window.
    #[serde(default, deserialize_with = "lenient::some_string")]
    #[schemars(with = "String")]
    pub window: Option<String>,
}

/// `browser_navigate` arguments.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NavigateArgs {
    /// Where to go: an http(s) URL (or any address the browser's address bar takes).
    pub url: String,
    /// The browser window whose title contains this; default: the topmost browser window.
    #[serde(default, deserialize_with = "lenient::some_string")]
    #[schemars(with = "String")]
    pub window: Option<String>,
}

/// One element of a page map.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PageElement {
    /// Its number in this map (document order).
    pub i: usize,
    /// Its accessibility node id, for ui_action.
    pub id: String,
    /// "link", "push button", "entry", "check box", "combo box", "heading", ...
    pub role: String,
    /// What it says (a link's text, a field's label, a heading).
    pub label: String,
    /// Where it is on screen, in the caller's coordinates.
    #[serde(flatten)]
    pub spot: Spot,
    /// Its states ("checked", "focused", ...).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub states: String,
}

/// `browser_page_map`'s (and `browser_navigate`'s) result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PageMapResult {
    /// The page's address.
    pub url: String,
    /// Its title.
    pub title: String,
    /// Visible links, buttons, fields, selects and headings.
    pub elements: Vec<PageElement>,
    /// Whether elements were left out.
    pub truncated: bool,
    /// Whether the page was still loading (its elements may not all be there yet: ask again).
    pub loading: bool,
    /// The coordinate space of every number here.
    pub coordinates: String,
}
