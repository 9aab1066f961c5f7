//! A desktop, composed: an X server and its session (window manager, session bus), the X
//! connection that drives it, and the apps an agent launched — kept alive by a supervisor that
//! restarts what dies. A [`DesktopManager`] owns the desktops of a process.
//!
//! This crate decides *when* things happen (serializing input per desktop, waiting for the
//! screen to react or settle); `agentdesk-x11` decides *how* on the wire and
//! `agentdesk-display` owns the processes. Nothing here knows MCP or HTTP.

mod apps;
mod desktop;
mod error;
mod feedback;
mod manager;

pub use desktop::{Desktop, DesktopConfig, DesktopId, Shot};
pub use error::{DesktopError, Result};
pub use feedback::Reaction;
pub use manager::DesktopManager;

pub use agentdesk_display::XServerKind;
pub use agentdesk_image::{Format, ModelSpace, Point, Rect, Size};
pub use agentdesk_x11::{Button, KeyCombo, PointerAction, ScrollDirection};
