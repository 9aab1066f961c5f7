//! Everything that starts a process lives here, and nowhere else.
//!
//! The crate knows how to start, watch and stop the processes behind a desktop — the X server
//! (TigerVNC's `Xvnc`, or `Xvfb`), the window manager, the session bus, and the apps an agent
//! launches — but nothing of the X protocol: it talks to its children only through argv,
//! environment, file descriptors and exit status.
//!
//! Two invariants hold for every child, whatever started it:
//! - it is spawned by [`spawn`], from one long-lived thread, with `PR_SET_PDEATHSIG(SIGKILL)` and
//!   its own process group, so it dies if agentdesk dies, even by `SIGKILL`;
//! - its [`Child`] handle kills the whole process group when dropped, so no child outlives the
//!   value that owns it.

mod cgroup;
mod cmd;
mod error;
mod private_file;
mod ready;
mod runtime;
mod sandbox;
mod session;
mod spawn;
mod xauth;
mod xserver;

pub use cgroup::{clean_stale_cgroups, CgroupKind, Limits};
pub use cmd::{Cmd, Io, Launcher, KEPT_FD};
pub use error::{Error, Result};
pub use private_file::write_read_only_dir;
pub use runtime::{
    clean_stale, freeze_desktop_processes, fresh_dir, kill_desktop_processes, remove_tree, Cleaned,
    RuntimeDir,
};
pub use sandbox::{init_main as sandbox_init_main, probe as probe_sandbox, Sandbox, SandboxConfig};
pub use session::{start_bus, start_window_manager, Bus, MenuItem, WindowManagerConfig};
pub use spawn::{forward_to_log, spawn, Child, Output};
pub use xauth::{write_xauthority, COOKIE_NAME};
pub use xserver::{start_x_server, XServer, XServerConfig, XServerKind};
