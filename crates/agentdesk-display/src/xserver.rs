//! Starting the X server: TigerVNC's `Xvnc` by default, `Xvfb` as a fallback.
//!
//! Xvnc is an X server with a built-in RFB (VNC) server, so a later live view needs no x11vnc.
//! GLX is off unless asked for: it is most of an idle X server's memory (measured: 71–74 MB RSS
//! with it, 17–21 MB without) and nothing we ship by default needs OpenGL.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use crate::ready::ReadyPipe;
use crate::spawn::{forward_to_log, Child, Output};
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
    /// Xvnc only: the loopback TCP port for RFB. `None` picks a free one.
    pub rfb_port: Option<u16>,
    /// Xvnc only: a VncAuth password file (see [`crate::write_vnc_password_file`]). Without it
    /// the RFB port would accept anyone on this machine, so Xvnc refuses to start without it.
    pub rfb_password_file: Option<PathBuf>,
    /// An Xauthority file (see [`crate::write_xauthority`]): only clients with its cookie may
    /// connect. `None` lets every local user in (tests on throwaway servers only).
    pub auth_file: Option<PathBuf>,
    /// How long to wait for the server to accept connections.
    pub ready_timeout: Duration,
}

/// A running X server.
#[derive(Debug)]
pub struct XServer {
    /// The process; dropping it stops the server.
    pub child: Child,
    /// The display number, as in `DISPLAY=:N`.
    pub display: u32,
    /// Xvnc's RFB port on 127.0.0.1, if any.
    pub rfb_port: Option<u16>,
}

/// Starts an X server and waits until it accepts connections.
pub async fn start_x_server(config: &XServerConfig) -> Result<XServer> {
    let program = config.kind.program();
    let pipe = ReadyPipe::new()?;
    let mut cmd = Command::new(program);
    if let Some(display) = config.display {
        cmd.arg(format!(":{display}"));
    }
    cmd.args(["-displayfd", &pipe.child_fd().to_string()]);
    let depth = 24;
    let mut rfb_port = None;
    match config.kind {
        XServerKind::Xvnc => {
            let port = match config.rfb_port {
                Some(port) => port,
                None => free_loopback_port()?,
            };
            let Some(password_file) = &config.rfb_password_file else {
                return Err(Error::io(
                    "Xvnc's RFB password",
                    std::io::Error::other("Xvnc needs an RFB password file"),
                ));
            };
            cmd.args(["-geometry", &format!("{}x{}", config.width, config.height)])
                .args(["-depth", &depth.to_string()])
                // RFB on loopback only; a later live view bridges to it from inside agentdesk.
                .args(["-localhost", "-rfbport", &port.to_string()])
                .args(["-SecurityTypes", "VncAuth", "-PasswordFile"])
                .arg(password_file)
                .args(["-AlwaysShared", "-nolisten", "tcp"])
                // No clipboard over RFB, either way: text an agent puts on the clipboard
                // (passwords with secret: true included) must not reach every viewer.
                .args(["-SendCutText=0", "-AcceptCutText=0", "-SendPrimary=0"])
                // A VNC viewer must not resize the screen under the agent: coordinates and
                // capture buffers are sized for the configured screen.
                .arg("-AcceptSetDesktopSize=0");
            rfb_port = Some(port);
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
    cmd.stdin(Output::null())
        .stdout(Output::null())
        .stderr(Output::piped());
    let (mut child, line) = pipe
        .spawn_and_wait(cmd, program, config.ready_timeout)
        .await?;
    if let Some(stderr) = child.take_stderr() {
        forward_to_log(stderr, program.to_string());
    }
    let number = line.parse::<u32>().map_err(|_| Error::BadReadiness {
        program: program.to_string(),
        got: line.clone(),
        expected: "a display number",
    })?;
    tracing::info!(display = number, ?rfb_port, "{program} ready");
    Ok(XServer {
        child,
        display: number,
        rfb_port,
    })
}

/// Asks the kernel for a free loopback port. Another process could take it before Xvnc binds
/// it; Xvnc would then fail to start and the caller retries, so the race costs a retry, not
/// correctness.
fn free_loopback_port() -> Result<u16> {
    let listener =
        std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| Error::io("a free RFB port", e))?;
    let port = listener
        .local_addr()
        .map_err(|e| Error::io("a free RFB port", e))?
        .port();
    Ok(port)
}
