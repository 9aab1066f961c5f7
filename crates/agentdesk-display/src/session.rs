//! The rest of a session on an X server: the session D-Bus and the window manager.
//!
//! IceWM is the window manager: one small process that gives a taskbar with a clock, a start
//! menu built from the installed applications, click-to-focus and EWMH (which apps and tools
//! such as `xdotool` expect). jwm is lighter but its menu and tray need more configuration;
//! openbox needs tint2 for a taskbar, i.e. a second process to supervise.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::cmd::{Cmd, Io, Launcher};
use crate::ready::ReadyPipe;
use crate::spawn::{forward_to_log, Child};
use crate::{Error, Result};

/// A running session bus.
#[derive(Debug)]
pub struct Bus {
    /// The dbus-daemon process.
    pub child: Child,
    /// The value for `DBUS_SESSION_BUS_ADDRESS`.
    pub address: String,
}

/// The session bus's configuration: Debian's session bus, except where it looks for services
/// to start on demand. The standard session directories include the user's home
/// (`~/.local/share/dbus-1/services`) and `$XDG_RUNTIME_DIR/dbus-1/services`, which the
/// desktop's apps can write: a `.service` file saved there by an allowed editor names any
/// program, and the bus starts it as soon as something asks for that name (Firefox asks for
/// the desktop portal at every start). Only the system's directories are listed here.
const BUS_CONFIG: &str = r#"<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<!-- Written by agentdesk: a session bus that starts only the system's services. -->
<busconfig>
  <type>session</type>
  <keep_umask/>
  <listen>unix:path=SOCKET</listen>
  <auth>EXTERNAL</auth>
  <servicedir>/usr/local/share/dbus-1/services</servicedir>
  <servicedir>/usr/share/dbus-1/services</servicedir>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
  <limit name="max_incoming_bytes">1000000000</limit>
  <limit name="max_outgoing_bytes">1000000000</limit>
  <limit name="max_message_size">1000000000</limit>
  <limit name="service_start_timeout">120000</limit>
  <limit name="auth_timeout">240000</limit>
</busconfig>
"#;

/// Starts a session `dbus-daemon` listening on `socket` and waits until it accepts connections.
/// Its configuration ([`BUS_CONFIG`]) is written into a read-only directory beside the socket
/// (`<socket>.d`): the bus reloads its configuration when the file changes.
pub async fn start_bus(
    launcher: &Launcher,
    socket: &Path,
    config_dir: &Path,
    env: &[(String, String)],
) -> Result<Bus> {
    // The socket's path is ours (the runtime directory's); escaped all the same, for XML.
    let listen = socket
        .display()
        .to_string()
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;");
    let text = BUS_CONFIG.replace("SOCKET", &listen);
    crate::write_read_only_dir(
        config_dir,
        &[("session.conf", text.as_bytes())],
        "the bus configuration",
    )?;
    let config = config_dir.join("session.conf");
    let pipe = ReadyPipe::new()?;
    let mut cmd = Cmd::new("dbus-daemon");
    cmd.arg(format!("--config-file={}", config.display()))
        .args(["--nofork", "--nopidfile", "--nosyslog"])
        .arg(format!("--print-address={}", pipe.child_fd()))
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stderr(Io::Pipe);
    let (mut child, address) = pipe
        .spawn_and_wait(launcher, cmd, "dbus-daemon", Duration::from_secs(10))
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
    /// What the start menu offers, in order: the desktop's launchable apps. Nothing else in
    /// IceWM can start a program.
    pub menu: Vec<MenuItem>,
}

/// One start-menu entry: the name shown and the argv run (directly, no shell).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MenuItem {
    /// The label.
    pub name: String,
    /// The program and its arguments.
    pub argv: Vec<String>,
}

/// IceWM preferences. Two concerns:
///
/// - A quiet taskbar. The CPU, network, memory and mail monitors redraw every second, and so
///   would a clock with seconds; each redraw is X damage, which would make "did the screen
///   change?" answers and screenshot stabilization wait for nothing.
/// - No way to start a program but the start menu we write. IceWM can run commands from many
///   places (its built-in Terminal and browser entries, a menu generated from every `.desktop`
///   file, the Run dialog, the address bar with its shell, key bindings, a click on the clock,
///   the logout menu and Ctrl+Alt+Del dialog); each is switched off or emptied here, so the
///   operator's launch policy also governs what a click in the desktop can start. Menus are
///   read once (`AutoReloadMenus=0`), every file is written again at each start, read-only.
///   `Trace="prog"` logs each launch (at debug level).
const ICEWM_PREFERENCES: &str = "\
TaskBarShowClock=1
TimeFormat=\"%H:%M\"
TaskBarShowCPUStatus=0
TaskBarShowNetStatus=0
TaskBarShowMEMStatus=0
TaskBarShowMailboxStatus=0
TaskBarShowAPMStatus=0
TaskBarShowAPMAuto=0
TaskBarShowWorkspaces=0
TaskBarShowShowDesktopButton=0
TaskBarLaunchOnSingleClick=0
ClickToFocus=1
FocusOnAppRaise=1
RequestFocusOnAppRaise=1
ShowProgramsMenu=0
ShowRun=0
ShowWindowList=0
ShowHelp=0
ShowThemesMenu=0
ShowSettingsMenu=0
ShowFocusModeMenu=0
ShowLogoutMenu=0
ShowLogoutSubMenu=0
EnableAddressBar=0
ShowAddressBar=0
KeySysAddressBar=\"\"
AddressBarCommand=\"/bin/false\"
KeySysDialog=\"\"
RunCommand=\"\"
OpenCommand=\"\"
TerminalCommand=\"\"
ClockCommand=\"\"
MailCommand=\"\"
NewMailCommand=\"\"
CPUStatusCommand=\"\"
NetStatusCommand=\"\"
LockCommand=\"\"
LogoutCommand=\"\"
LogoutCancelCommand=\"\"
ShutdownCommand=\"\"
RebootCommand=\"\"
SuspendCommand=\"\"
KeyboardLayouts=\"\"
AutoReloadMenus=0
Trace=\"prog\"
";

/// Written to each of IceWM's other files: present but empty, it hides the system-wide one
/// (Debian's `keys` binds a terminal and a browser; its `toolbar` has both).
const EMPTY: &str = "# Written by agentdesk: nothing here.\n";

/// One token of IceWM's menu syntax: single-quoted, literal inside (a `'` is written `'\''`,
/// as in a shell). `None` for text IceWM cannot take safely: empty, or with control characters
/// (a carriage return outside quotes sends IceWM 3.3 into an endless loop).
fn menu_token(text: &str) -> Option<String> {
    if text.is_empty() || text.chars().any(|c| c.is_control()) {
        return None;
    }
    Some(format!("'{}'", text.replace('\'', "'\\''")))
}

/// The `menu` file: one `prog` line per item (`prog LABEL ICON PROGRAM ARGS...`). An item
/// whose label or argv IceWM could not take is left out, and logged.
fn menu_file(items: &[MenuItem]) -> String {
    let mut out =
        String::from("# Written by agentdesk: the desktop's apps, as app_list shows them.\n");
    for item in items {
        // A leading '_' keeps the label literal: IceWM takes the first '_' as the shortcut key.
        let label = menu_token(&item.name).and_then(|_| menu_token(&format!("_{}", item.name)));
        let argv: Option<Vec<String>> = item.argv.iter().map(|a| menu_token(a)).collect();
        match (label, argv) {
            (Some(label), Some(argv)) if !argv.is_empty() => {
                out.push_str(&format!("prog {label} '-' {}\n", argv.join(" ")));
            }
            _ => {
                tracing::debug!(name = %item.name.escape_debug(), "app left out of the start menu")
            }
        }
    }
    out
}

/// Starts IceWM on the display named in `env` (`DISPLAY=...`).
///
/// IceWM has no readiness signal; it is ready enough as soon as it runs, because windows
/// mapped before it manages them are adopted when it starts.
pub async fn start_window_manager(
    launcher: &Launcher,
    config: &WindowManagerConfig,
    env: &[(String, String)],
) -> Result<Child> {
    let menu = menu_file(&config.menu);
    // `prefoverride` too: it is read after the theme and would win over `preferences`. The
    // directory is read-only: IceWM reads its menu when it is first opened, not at start, and
    // an app saving over the file before that would add entries of its own.
    crate::write_read_only_dir(
        &config.config_dir,
        &[
            ("preferences", ICEWM_PREFERENCES.as_bytes()),
            ("prefoverride", ICEWM_PREFERENCES.as_bytes()),
            ("menu", menu.as_bytes()),
            ("keys", EMPTY.as_bytes()),
            ("toolbar", EMPTY.as_bytes()),
            ("programs", EMPTY.as_bytes()),
            ("winoptions", EMPTY.as_bytes()),
        ],
        "IceWM's configuration",
    )?;
    let mut cmd = Cmd::new("icewm");
    cmd.envs(env.iter().map(|(k, v)| (k, v)))
        .env("ICEWM_PRIVCFG", &config.config_dir)
        .stderr(Io::Pipe);
    let mut child = launcher.spawn(cmd, "icewm").await?;
    if let Some(stderr) = child.take_stderr() {
        forward_to_log(stderr, "icewm".into());
    }
    Ok(child)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(name: &str, argv: &[&str]) -> MenuItem {
        MenuItem {
            name: name.into(),
            argv: argv.iter().map(|a| (*a).to_owned()).collect(),
        }
    }

    #[test]
    fn the_menu_quotes_every_token_and_leaves_out_what_it_cannot_quote() {
        let menu = menu_file(&[
            item("Mousepad", &["env", "GDK_BACKEND=x11", "/usr/bin/mousepad"]),
            item(
                "It's $HOME `id` #1",
                &["/opt/it's/run", "--x=\"y\"", "a\\b"],
            ),
            item("Two\nLines", &["x"]),
            item("CR", &["x\r"]),
            item("", &["x"]),
            item("No argv", &[]),
        ]);
        let lines: Vec<&str> = menu.lines().collect();
        assert_eq!(
            lines[1..],
            [
                "prog '_Mousepad' '-' 'env' 'GDK_BACKEND=x11' '/usr/bin/mousepad'",
                r#"prog '_It'\''s $HOME `id` #1' '-' '/opt/it'\''s/run' '--x="y"' 'a\b'"#,
            ]
        );
    }
}
