//! Human viewers' access to a desktop's screen: an authenticated connection to its Xvnc.
//!
//! Xvnc's RFB port listens on loopback behind a random VncAuth password that never leaves
//! agentdesk: the browser live view (issue 5) is bridged through [`Desktop::connect_rfb`],
//! which does the RFB version and security handshake itself (RFC 6143 §7.1–7.2). What follows
//! (ClientInit, ServerInit, messages) is the bridge's to relay and filter.

use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use crate::{Desktop, DesktopError, Result};

/// The protocol version both sides speak.
pub const RFB_VERSION: &[u8; 12] = b"RFB 003.008\n";
/// The handshake with Xvnc must finish within this.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);
/// RFB security type VncAuth.
const VNC_AUTH: u8 = 2;

fn failed(what: impl std::fmt::Display) -> DesktopError {
    DesktopError::Failed(format!("the desktop's VNC server: {what}"))
}

impl Desktop {
    /// A connection to the desktop's Xvnc, authenticated, ready for the viewer's ClientInit.
    pub async fn connect_rfb(&self) -> Result<TcpStream> {
        let session = self.session()?;
        let port = session.rfb_port.ok_or_else(|| {
            DesktopError::Failed(
                "this desktop has no VNC server (it runs Xvfb); start agentdesk with --x-server \
                 xvnc for the live view"
                    .into(),
            )
        })?;
        let password = self.inner.rfb_password.clone();
        tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake(port, &password))
            .await
            .map_err(|_| failed("no handshake within 5 s"))?
    }
}

async fn handshake(port: u16, password: &str) -> Result<TcpStream> {
    let io = |e: std::io::Error| failed(e);
    let mut stream = TcpStream::connect(("127.0.0.1", port)).await.map_err(io)?;
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
    if !types.contains(&VNC_AUTH) {
        return Err(failed(format!("does not offer VncAuth (offers {types:?})")));
    }
    stream.write_all(&[VNC_AUTH]).await.map_err(io)?;
    let mut challenge = [0u8; 16];
    stream.read_exact(&mut challenge).await.map_err(io)?;
    let response = agentdesk_rfb::vnc_auth_response(password.as_bytes(), &challenge);
    stream.write_all(&response).await.map_err(io)?;
    if stream.read_u32().await.map_err(io)? != 0 {
        return Err(failed("refused agentdesk's password"));
    }
    Ok(stream)
}
