//! Tool arguments. Every struct rejects unknown fields: a misspelt argument is an error the
//! agent can fix, not something silently ignored.

use schemars::JsonSchema;
use serde::Deserialize;

use crate::lenient::{self, string_enum};

/// A rectangle in the agent's coordinate space. Deserialized only from an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Region {
    /// Left edge.
    pub x: i64,
    /// Top edge.
    pub y: i64,
    /// Width.
    pub width: i64,
    /// Height.
    pub height: i64,
}

/// [`Region`]'s fields, as serde's derive reads them (from a map, by [`lenient::only_map`]).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RegionFields {
    #[serde(deserialize_with = "lenient::int")]
    x: i64,
    #[serde(deserialize_with = "lenient::int")]
    y: i64,
    #[serde(deserialize_with = "lenient::int")]
    width: i64,
    #[serde(deserialize_with = "lenient::int")]
    height: i64,
}

impl<'de> Deserialize<'de> for Region {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Region, D::Error> {
        let f: RegionFields = lenient::only_map(d, "an object {x, y, width, height}")?;
        Ok(Region {
            x: f.x,
            y: f.y,
            width: f.width,
            height: f.height,
        })
    }
}

/// Screenshot encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ImageFormat {
    /// Lossless WebP: exact pixels, small for UI content.
    #[default]
    Webp,
    /// PNG: universally decodable (llama.cpp cannot decode WebP).
    Png,
    /// JPEG (quality 80): smallest for photos; not pixel-exact.
    Jpeg,
}

/// `screen_shot` arguments.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ScreenShotArgs {
    /// Crop to this rectangle (same coordinates as clicks). Omit for the whole screen, which is
    /// almost always right.
    #[serde(default)]
    pub region: Option<Region>,
    /// "webp" (default, lossless; JPEG instead when WebP would exceed 1 MiB of base64), "png",
    /// or "jpeg".
    #[serde(default)]
    pub format: ImageFormat,
    /// Wait (up to 2.5 s) until the screen has stopped changing before capturing.
    #[serde(default = "yes", deserialize_with = "lenient::boolean")]
    #[schemars(default = "yes")]
    pub stabilize: bool,
}

string_enum!(ImageFormat { "webp" => Webp, "png" => Png, "jpeg" => Jpeg });

fn yes() -> bool {
    true
}

/// A mouse button.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum MouseButton {
    /// The primary button.
    #[default]
    Left,
    /// The wheel button.
    Middle,
    /// The context-menu button.
    Right,
}

string_enum!(MouseButton { "left" => Left, "middle" => Middle, "right" => Right });

/// `mouse_move` arguments.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PointArgs {
    /// Horizontal position, from the latest screenshot.
    #[serde(deserialize_with = "lenient::int")]
    pub x: i64,
    /// Vertical position, from the latest screenshot.
    #[serde(deserialize_with = "lenient::int")]
    pub y: i64,
}

/// `mouse_click` and `mouse_double_click` arguments.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ClickArgs {
    /// Horizontal position, from the latest screenshot.
    #[serde(deserialize_with = "lenient::int")]
    pub x: i64,
    /// Vertical position, from the latest screenshot.
    #[serde(deserialize_with = "lenient::int")]
    pub y: i64,
    /// "left" (default), "middle" or "right".
    #[serde(default)]
    pub button: MouseButton,
}

/// `mouse_drag` arguments.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DragArgs {
    /// Where the drag starts (x).
    #[serde(deserialize_with = "lenient::int")]
    pub from_x: i64,
    /// Where the drag starts (y).
    #[serde(deserialize_with = "lenient::int")]
    pub from_y: i64,
    /// Where the drag ends (x).
    #[serde(deserialize_with = "lenient::int")]
    pub to_x: i64,
    /// Where the drag ends (y).
    #[serde(deserialize_with = "lenient::int")]
    pub to_y: i64,
    /// "left" (default), "middle" or "right".
    #[serde(default)]
    pub button: MouseButton,
}

/// A wheel direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// Towards the top.
    Up,
    /// Towards the bottom.
    #[default]
    Down,
    /// Towards the left.
    Left,
    /// Towards the right.
    Right,
}

/// `mouse_scroll` arguments.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ScrollArgs {
    /// Where to scroll (x): the pointer moves there first.
    #[serde(deserialize_with = "lenient::int")]
    pub x: i64,
    /// Where to scroll (y).
    #[serde(deserialize_with = "lenient::int")]
    pub y: i64,
    /// "up", "down" (default), "left" or "right".
    #[serde(default)]
    pub direction: Direction,
    /// Wheel notches, 1 to 5 (default 3); other values are clamped into that range.
    #[serde(default = "three", deserialize_with = "lenient::int")]
    #[schemars(default = "three")]
    pub amount: i64,
}

string_enum!(Direction { "up" => Up, "down" => Down, "left" => Left, "right" => Right });

fn three() -> i64 {
    3
}

/// `key_type` and `clipboard_set` arguments.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TextArgs {
    /// The text. Any Unicode; "\n" is Enter and "\t" is Tab.
    pub text: String,
    /// true for a password or other secret: the text is kept out of every log line, the audit
    /// log and the result.
    #[serde(default, deserialize_with = "lenient::boolean")]
    pub secret: bool,
}

/// `key_press` arguments.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct KeysArgs {
    /// A key or chord joined with '+', e.g. "Return", "ctrl+s", "ctrl+shift+tab", "alt+Tab",
    /// "Page_Down", "super".
    pub keys: String,
}

/// `app_launch` arguments.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LaunchArgs {
    /// An executable from app_list, optionally with arguments, e.g. "xterm" or
    /// "firefox-esr https://example.org". Run directly, never through a shell.
    pub command: String,
}

/// `app_status` arguments.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StatusArgs {
    /// A pid returned by app_launch.
    #[serde(deserialize_with = "lenient::int")]
    pub pid: i64,
    /// How many of the newest output lines to return, 0 to 1000 (default 50).
    #[serde(default = "fifty", deserialize_with = "lenient::int")]
    #[schemars(default = "fifty")]
    pub lines: i64,
}

fn fifty() -> i64 {
    50
}

/// `help_request` arguments.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HelpArgs {
    /// What a human should do, e.g. "please solve the captcha in Firefox, then hand back".
    /// At most 2000 characters.
    pub message: String,
}

/// `help_status` arguments.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HelpStatusArgs {
    /// Wait up to this many seconds (0 to 20, default 0) for a human to answer an open request.
    #[serde(default, deserialize_with = "lenient::int")]
    #[schemars(default)]
    pub wait_seconds: i64,
}

/// Arguments of tools that take none.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NoArgs {}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn enums_come_only_from_their_names() {
        let ok: ClickArgs =
            serde_json::from_value(json!({"x": 1, "y": 2, "button": "right"})).unwrap();
        assert_eq!(ok.button, MouseButton::Right);
        for button in [
            json!({"left": null}),
            json!(["left"]),
            json!(1),
            json!("Left"),
        ] {
            let err =
                serde_json::from_value::<ClickArgs>(json!({"x": 1, "y": 2, "button": button}))
                    .unwrap_err()
                    .to_string();
            assert!(err.contains("left") || err.contains("string"), "{err}");
        }
        let err =
            serde_json::from_value::<ScrollArgs>(json!({"x": 1, "y": 2, "direction": "sideways"}))
                .unwrap_err()
                .to_string();
        assert!(
            err.contains("expected one of `up`, `down`, `left`, `right`"),
            "{err}"
        );
    }

    #[test]
    fn a_region_is_an_object_never_an_array() {
        let ok: ScreenShotArgs = serde_json::from_value(
            json!({"region": {"x": "1", "y": 2, "width": 3.0, "height": 4}}),
        )
        .unwrap();
        assert_eq!(
            ok.region,
            Some(Region {
                x: 1,
                y: 2,
                width: 3,
                height: 4
            })
        );
        let err = serde_json::from_value::<ScreenShotArgs>(json!({"region": [0, 0, 8, 8]}))
            .unwrap_err()
            .to_string();
        assert!(err.contains("an object {x, y, width, height}"), "{err}");
        assert!(serde_json::from_value::<ScreenShotArgs>(
            json!({"region": {"x": 1, "y": 2, "width": 3, "height": 4, "z": 1}})
        )
        .is_err());
    }
}

/// `batch` arguments.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchArgs {
    /// The actions, in order, at most 50: each an object naming its tool in "action", with that
    /// tool's own arguments beside it, e.g. {"action": "mouse_click", "x": 10, "y": 20},
    /// {"action": "key_type", "text": "report.txt"}, {"action": "key_press", "keys": "Return"}.
    /// Tools: mouse_move, mouse_click, mouse_double_click, mouse_drag, mouse_scroll, key_type,
    /// key_press, and wait {"seconds": 1}.
    pub actions: Vec<serde_json::Map<String, serde_json::Value>>,
    /// Capture the screen after the last action that ran (default true).
    #[serde(default = "yes", deserialize_with = "lenient::boolean")]
    #[schemars(default = "yes")]
    pub screenshot: bool,
}

/// `wait` inside a batch.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WaitArgs {
    /// Seconds, up to 30 (fractions allowed).
    pub seconds: f64,
}
