//! The X protocol, in-process, through x11rb: capture, XTEST input, clipboard, change detection.
//!
//! Each X connection is owned by exactly one thread (the worker); everything else holds an
//! [`XHandle`] and sends it commands. The worker also answers the X server's events as they
//! arrive — DAMAGE notifications (what changed on screen, and when) and selection requests
//! (serving the clipboard) — so the clipboard keeps being served after a tool returns and
//! change timestamps are exact.
//!
//! Nothing here spawns processes or knows about MCP; types here are not `Serialize`.

mod capture;
mod clipboard;
mod error;
mod ewmh;
mod font;
mod input;
pub mod keys;
mod windows;
mod worker;

pub use error::{Error, Result};
pub use ewmh::{WindowAction, WindowInfo, MAX_TITLE};
pub use font::FontCells;
pub use input::{Button, PointerAction, ScrollDirection, MAX_PATH};
pub use keys::KeyCombo;
pub use worker::{connect, DamageStamp, X11Config, XHandle, COMMAND_TIMEOUT};
