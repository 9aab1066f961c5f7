//! A desktop, composed: an X server and its session (window manager, session bus), the X
//! connection that drives it, and the apps an agent launched — kept alive by a supervisor that
//! restarts what dies. A [`DesktopManager`] owns the desktops of a process: their ids, owners,
//! leases and records in the store (`fleet.rs` holds the rules, `manager.rs` applies them).
//!
//! This crate decides *when* things happen (serializing input per desktop, waiting for the
//! screen to react or settle); `agentdesk-x11` decides *how* on the wire and
//! `agentdesk-display` owns the processes. Nothing here knows MCP or HTTP.

mod a11y;
mod apps;
mod computer;
mod control;
mod desktop;
mod error;
mod feedback;
pub mod files;
mod fleet;
mod grounding;
mod help;
mod home;
mod manager;
mod snapshots;
mod supervisor;
mod viewer;

pub use agentdesk_apps::AppPolicy;
pub use agentdesk_snapshot::{Progress, SnapshotError, Verified};
pub use agentdesk_store::SnapshotRecord;
pub use computer::{Turn, TurnOptions};
pub use control::{ControlView, Viewer};
pub use desktop::{
    Desktop, DesktopConfig, SandboxPolicy, Shot, MAX_CLIPBOARD_BYTES, MAX_STATUS_LINES,
    MAX_TYPED_CHARS,
};
pub use error::{DesktopError, Result};
pub use feedback::Reaction;
pub use fleet::{
    Caller, CreateRequest, DesktopId, DesktopInfo, FleetError, Lease, Network, LEASE_SECONDS,
    MAX_ID_LEN,
};
pub use help::{HelpAnswer, HelpRequest, MAX_HELP_CHARS};
pub use manager::{DesktopManager, Destroyed, FleetConfig, MAX_CREATED_PIXELS};
pub use snapshots::{Job, MAX_LABEL_CHARS};
pub use viewer::RFB_VERSION;

pub use agentdesk_display::{
    clean_stale, clean_stale_cgroups, probe_sandbox, sandbox_init_main, CgroupKind, Cleaned,
    Limits, RuntimeDir, XServerKind,
};

/// Locks a mutex even if a panic poisoned it: the data behind our locks stays valid, and one
/// failed call must not wedge a desktop.
pub(crate) fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
pub use a11y::{PageMap, MAX_PAGE_ELEMENTS};
pub use agentdesk_a11y::{
    Action as UiAction, Filter as UiFilter, Limits as UiLimits, Node as UiNode, Tree as UiTree,
};
pub use agentdesk_image::{Format, ModelSpace, Point, Rect, Size};
pub use agentdesk_ocr::{find as find_text, Line, Match, Reading, Source, Word, MAX_PHRASE};
pub use agentdesk_x11::{
    Button, KeyCombo, PointerAction, ScrollDirection, WindowAction, WindowInfo, COMMAND_TIMEOUT,
};
pub use grounding::{TextSource, MAX_ZOOM_HEIGHT, MAX_ZOOM_WIDTH};
