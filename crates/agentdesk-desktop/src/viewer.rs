//! Human viewers' access to a desktop's screen: a connection to its Xvnc.
//!
//! Xvnc serves RFB on a Unix socket in the desktop's private runtime directory (no TCP port):
//! only agentdesk's user can reach it, so it asks for no password. The browser live view is
//! bridged through [`Desktop::connect_rfb`], which does the RFB version and security handshake
//! itself (RFC 6143 §7.1–7.2). What follows (ClientInit, ServerInit, messages) is the bridge's
//! to relay and filter.

use std::path::Path;
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::UnixStream;

use crate::{Desktop, DesktopError, Result};

/// The protocol version both sides speak.
pub const RFB_VERSION: &[u8; 12] = b"RFB 003.008\n";
/// The connection and handshake with Xvnc must finish within this.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);
/// RFB security type None.
const SECURITY_NONE: u8 = 1;

fn failed(what: impl std::fmt::Display) -> DesktopError {
    DesktopError::Failed(format!("the desktop's VNC server: {what}"))
}

impl Desktop {
    /// A connection to the desktop's Xvnc, past the security handshake, ready for the viewer's
    /// ClientInit.
    pub async fn connect_rfb(&self) -> Result<UnixStream> {
        // A viewer continues a paused desktop (it would show a frozen screen otherwise); while
        // it is open the desktop is not paused for idleness (`Desktop::viewers`).
        drop(self.awake().await);
        let session = self.session()?;
        let socket = session.rfb_socket.ok_or_else(|| {
            DesktopError::Failed(
                "this desktop has no VNC server (it runs Xvfb); start agentdesk with --x-server \
                 xvnc for the live view"
                    .into(),
            )
        })?;
        tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake(&socket, session.x_pid))
            .await
            .map_err(|_| failed("no handshake within 5 s"))?
    }
}

/// Connects, waiting while Xvnc's listen queue is full: it accepts five pending connections
/// at a time, and a Unix socket refuses the sixth at once (EAGAIN) rather than queueing it.
async fn connect(socket: &Path) -> std::io::Result<UnixStream> {
    loop {
        match UnixStream::connect(socket).await {
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            other => return other,
        }
    }
}

async fn handshake(socket: &Path, x_pid: u32) -> Result<UnixStream> {
    let io = |e: std::io::Error| failed(e);
    let mut stream = connect(socket).await.map_err(io)?;
    // The socket's directory is the sandbox's to write: an app can put a symbolic link there in
    // place of the socket, to another desktop's. The listening process must be this desktop's
    // own Xvnc.
    let peer = stream.peer_cred().map_err(io)?.pid();
    if peer != Some(x_pid as i32) {
        tracing::warn!(
            ?peer,
            x_pid,
            "the RFB socket is not this desktop's Xvnc; refused"
        );
        return Err(failed("its socket has been replaced"));
    }
    let mut version = [0u8; 12];
    stream.read_exact(&mut version).await.map_err(io)?;
    if !version.starts_with(b"RFB 003.") {
        return Err(failed("not an RFB server"));
    }
    stream.write_all(RFB_VERSION).await.map_err(io)?;
    let count = stream.read_u8().await.map_err(io)?;
    if count == 0 {
        let len = stream.read_u32().await.map_err(io)?.min(4096) as usize;
        let mut reason = vec![0u8; len];
        stream.read_exact(&mut reason).await.map_err(io)?;
        return Err(failed(String::from_utf8_lossy(&reason)));
    }
    let mut types = vec![0u8; usize::from(count)];
    stream.read_exact(&mut types).await.map_err(io)?;
    if !types.contains(&SECURITY_NONE) {
        return Err(failed(format!(
            "does not offer security None (offers {types:?})"
        )));
    }
    stream.write_all(&[SECURITY_NONE]).await.map_err(io)?;
    if stream.read_u32().await.map_err(io)? != 0 {
        return Err(failed("refused the connection"));
    }
    Ok(stream)
}
