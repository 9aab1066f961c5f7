//! The rest of a session on an X server: the session D-Bus and the window manager.
//!
//! IceWM is the window manager: one small process that gives a taskbar with a clock, a start
//! menu built from the installed applications, click-to-focus and EWMH (which apps and tools
//! such as `xdotool` expect). jwm is lighter but its menu and tray need more configuration;
//! openbox needs tint2 for a taskbar, i.e. a second process to supervise.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::ready::ReadyPipe;
use crate::spawn::{forward_to_log, spawn, Child, Output};
use crate::{Error, Result};

/// A running session bus.
#[derive(Debug)]
pub struct Bus {
    /// The dbus-daemon process.
    pub child: Child,
    /// The value for `DBUS_SESSION_BUS_ADDRESS`.
    pub address: String,
}

/// Starts a session `dbus-daemon` listening on `socket` and waits until it accepts connections.
pub async fn start_bus(socket: &Path, env: &[(String, String)]) -> Result<Bus> {
    let pipe = ReadyPipe::new()?;
    let mut cmd = Command::new("dbus-daemon");
    cmd.args(["--session", "--nofork", "--nopidfile", "--nosyslog"])
        .arg(format!("--address=unix:path={}", socket.display()))
        .arg(format!("--print-address={}", pipe.child_fd()))
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Output::null())
        .stdout(Output::null())
        .stderr(Output::piped());
    let (mut child, address) = pipe
        .spawn_and_wait(cmd, "dbus-daemon", Duration::from_secs(10))
        .await?;
    if let Some(stderr) = child.take_stderr() {
        forward_to_log(stderr, "dbus-daemon".into());
    }
    if !address.starts_with("unix:") {
        return Err(Error::BadReadiness {
            program: "dbus-daemon".into(),
            got: address,
            expected: "a unix: bus address",
        });
    }
    Ok(Bus { child, address })
}

/// How to start the window manager.
#[derive(Debug, Clone)]
pub struct WindowManagerConfig {
    /// A private directory for IceWM's configuration (its `ICEWM_PRIVCFG`).
    pub config_dir: PathBuf,
}

/// IceWM preferences: a quiet taskbar. The CPU, network, memory and mail monitors redraw
/// every second, and so would a clock with seconds; each redraw is X damage, which would make
/// "did the screen change?" answers and screenshot stabilization wait for nothing.
const ICEWM_PREFERENCES: &str = "\
TaskBarShowClock=1
TimeFormat=\"%H:%M\"
TaskBarShowCPUStatus=0
TaskBarShowNetStatus=0
TaskBarShowMEMStatus=0
TaskBarShowMailboxStatus=0
TaskBarShowAPMStatus=0
TaskBarShowWorkspaces=0
TaskBarShowShowDesktopButton=0
ShowThemesMenu=0
ShowSettingsMenu=0
ShowHelp=0
ShowLogoutMenu=0
ClickToFocus=1
FocusOnAppRaise=1
RequestFocusOnAppRaise=1
";

/// Starts IceWM on the display named in `env` (`DISPLAY=...`).
///
/// IceWM has no readiness signal; it is ready enough as soon as it runs, because windows
/// mapped before it manages them are adopted when it starts.
pub fn start_window_manager(
    config: &WindowManagerConfig,
    env: &[(String, String)],
) -> Result<Child> {
    std::fs::create_dir_all(&config.config_dir)
        .map_err(|e| Error::io(format!("{}", config.config_dir.display()), e))?;
    let prefs = config.config_dir.join("preferences");
    std::fs::write(&prefs, ICEWM_PREFERENCES)
        .map_err(|e| Error::io(format!("{}", prefs.display()), e))?;
    // An empty toolbar: the default one points at x-terminal-emulator / x-www-browser, which
    // may not exist; the start menu lists what is really installed.
    let toolbar = config.config_dir.join("toolbar");
    std::fs::write(&toolbar, "").map_err(|e| Error::io(format!("{}", toolbar.display()), e))?;
    let mut cmd = Command::new("icewm");
    cmd.env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .env("ICEWM_PRIVCFG", &config.config_dir)
        .stdin(Output::null())
        .stdout(Output::null())
        .stderr(Output::piped());
    let mut child = spawn(cmd, "icewm")?;
    if let Some(stderr) = child.take_stderr() {
        forward_to_log(stderr, "icewm".into());
    }
    Ok(child)
}
