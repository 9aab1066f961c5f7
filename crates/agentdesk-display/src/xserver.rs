//! Starting the X server: TigerVNC's `Xvnc` by default, `Xvfb` as a fallback.
//!
//! Xvnc is an X server with a built-in RFB (VNC) server, so the live view needs no x11vnc.
//! GLX is off unless asked for: it is most of an idle X server's memory (measured: 71–74 MB RSS
//! with it, 17–21 MB without) and nothing we ship by default needs OpenGL.
//!
//! Xvnc serves RFB on a Unix socket only, never on a TCP port: the socket lives in the
//! desktop's private (0700) runtime directory, so no other local user can reach it, and it
//! needs no VncAuth password (agentdesk's own viewer bridge is its only client). Xvnc's
//! blacklist is off: it counts every connection that has not finished authenticating against
//! the peer's address, and all Unix-socket peers share one address, so five unfinished
//! connections (viewers opening at once) would lock every viewer out for seconds.

use std::path::PathBuf;
use std::time::Duration;

use crate::cmd::{Cmd, Io, Launcher};
use crate::ready::ReadyPipe;
use crate::spawn::{forward_to_log, Child};
use crate::{Error, Result};

/// Which X server binary to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum XServerKind {
    /// TigerVNC's `Xvnc`: X server plus an RFB server on loopback.
    Xvnc,
    /// `Xvfb`: X server only. Used where no live view is needed (some tests).
    Xvfb,
}

impl XServerKind {
    fn program(self) -> &'static str {
        match self {
            XServerKind::Xvnc => "Xvnc",
            XServerKind::Xvfb => "Xvfb",
        }
    }
}

/// What X server to start, and how.
#[derive(Debug, Clone)]
pub struct XServerConfig {
    /// Xvnc or Xvfb.
    pub kind: XServerKind,
    /// Screen width in pixels.
    pub width: u32,
    /// Screen height in pixels.
    pub height: u32,
    /// Keep the GLX extension (costs ~55 MB per display).
    pub glx: bool,
    /// The display number to take, e.g. when restarting on the same one. `None` lets the
    /// server pick the lowest free one and report it (`-displayfd`), which cannot race.
    pub display: Option<u32>,
    /// Xvnc only: the Unix socket to serve RFB on, in a directory only agentdesk's user can
    /// enter (it admits whoever can connect). Xvnc refuses to start without it.
    pub rfb_socket: Option<PathBuf>,
    /// An Xauthority file (see [`crate::write_xauthority`]): only clients with its cookie may
    /// connect. `None` lets every local user in (tests on throwaway servers only).
    pub auth_file: Option<PathBuf>,
    /// How long to wait for the server to accept connections.
    pub ready_timeout: Duration,
    /// The desktop's runtime directory, given to the server as `XDG_RUNTIME_DIR`: it is how
    /// every process of a desktop is found to pause or sweep it ([`crate::kill_desktop_processes`]).
    pub runtime_dir: Option<PathBuf>,
}

/// A running X server.
#[derive(Debug)]
pub struct XServer {
    /// The process; dropping it stops the server.
    pub child: Child,
    /// The display number, as in `DISPLAY=:N`.
    pub display: u32,
    /// Xvnc's RFB socket, if any.
    pub rfb_socket: Option<PathBuf>,
}

/// Starts an X server and waits until it accepts connections.
pub async fn start_x_server(launcher: &Launcher, config: &XServerConfig) -> Result<XServer> {
    let program = config.kind.program();
    let pipe = ReadyPipe::new()?;
    let mut cmd = Cmd::new(program);
    if let Some(display) = config.display {
        cmd.arg(format!(":{display}"));
    }
    cmd.args(["-displayfd", &pipe.child_fd().to_string()]);
    let depth = 24;
    let mut rfb_socket = None;
    match config.kind {
        XServerKind::Xvnc => {
            let Some(socket) = &config.rfb_socket else {
                return Err(Error::io(
                    "Xvnc's RFB socket",
                    std::io::Error::other("Xvnc needs a Unix socket path for RFB"),
                ));
            };
            // A stale socket of an Xvnc that was killed is replaced by Xvnc itself.
            cmd.args(["-geometry", &format!("{}x{}", config.width, config.height)])
                .args(["-depth", &depth.to_string()])
                // RFB on the Unix socket only: -rfbport -1 opens no TCP port at all (0 would
                // mean 5900 + display).
                .arg("-rfbunixpath")
                .arg(socket)
                .args(["-rfbunixmode", "0600", "-rfbport", "-1"])
                .args(["-SecurityTypes", "None", "-UseBlacklist=0"])
                .args(["-AlwaysShared", "-nolisten", "tcp"])
                // No clipboard over RFB, either way: text an agent puts on the clipboard
                // (passwords with secret: true included) must not reach every viewer.
                .args(["-SendCutText=0", "-AcceptCutText=0", "-SendPrimary=0"])
                // A VNC viewer must not resize the screen under the agent: coordinates and
                // capture buffers are sized for the configured screen.
                .arg("-AcceptSetDesktopSize=0");
            rfb_socket = Some(socket.clone());
        }
        XServerKind::Xvfb => {
            cmd.args([
                "-screen",
                "0",
                &format!("{}x{}x{depth}", config.width, config.height),
            ])
            .args(["-nolisten", "tcp"]);
        }
    }
    if !config.glx {
        cmd.args(["-extension", "GLX"]);
    }
    if let Some(auth) = &config.auth_file {
        cmd.arg("-auth").arg(auth);
    }
    // The X server needs nothing of agentdesk's environment (which may hold a token): a PATH
    // for the helpers it runs (xkbcomp) and a locale; and its desktop's tag.
    cmd.env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .env("LANG", "C.UTF-8");
    if let Some(dir) = &config.runtime_dir {
        cmd.env("XDG_RUNTIME_DIR", dir);
    }
    cmd.stderr(Io::Pipe);
    let (mut child, line) = pipe
        .spawn_and_wait(launcher, cmd, program, config.ready_timeout)
        .await?;
    if let Some(stderr) = child.take_stderr() {
        forward_to_log(stderr, program.to_string());
    }
    let number = line.parse::<u32>().map_err(|_| Error::BadReadiness {
        program: program.to_string(),
        got: line.clone(),
        expected: "a display number",
    })?;
    tracing::info!(display = number, "{program} ready");
    Ok(XServer {
        child,
        display: number,
        rfb_socket,
    })
}
