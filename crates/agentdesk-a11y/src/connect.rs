//! Connecting to a desktop's accessibility bus, trusting only the expected listeners: the
//! session bus's socket must be served by the session bus agentdesk started, and the
//! accessibility bus it names must be a Unix socket in the desktop's runtime directory whose
//! listener runs in the desktop's sandbox (any other address, such as the host's system bus
//! or a TCP port, is refused: an app could have claimed `org.a11y.Bus` first and named one).

use std::os::unix::net::UnixStream as StdStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::tree::A11y;
use crate::Error;

/// What the caller knows of the desktop, to check the buses against.
#[derive(Debug, Clone)]
pub struct Expected {
    /// The session bus's socket.
    pub session_socket: PathBuf,
    /// The session bus's process id, as agentdesk sees it.
    pub session_pid: u32,
    /// The desktop's runtime directory: the accessibility bus's socket must be in it.
    pub runtime_dir: PathBuf,
    /// A process of the desktop (its X server): the accessibility bus must run in the same
    /// PID namespace.
    pub desktop_pid: u32,
}

/// How long one D-Bus call may take: an app that hangs must not hold a tool call.
pub(crate) const CALL_TIMEOUT: Duration = Duration::from_secs(2);

fn peer_pid(stream: &StdStream) -> Result<u32, Error> {
    let cred = rustix::net::sockopt::socket_peercred(stream)
        .map_err(|e| Error::Unavailable(format!("cannot tell who serves the bus: {e}")))?;
    Ok(cred.pid.as_raw_nonzero().get() as u32)
}

fn pid_namespace(pid: u32) -> Option<PathBuf> {
    std::fs::read_link(format!("/proc/{pid}/ns/pid")).ok()
}

async fn open(stream: StdStream) -> Result<zbus::Connection, Error> {
    stream
        .set_nonblocking(true)
        .map_err(|e| Error::Unavailable(e.to_string()))?;
    let stream =
        tokio::net::UnixStream::from_std(stream).map_err(|e| Error::Unavailable(e.to_string()))?;
    let conn = zbus::connection::Builder::unix_stream(stream)
        .method_timeout(CALL_TIMEOUT)
        .build();
    tokio::time::timeout(CALL_TIMEOUT, conn)
        .await
        .map_err(|_| Error::Unavailable("the bus did not answer".into()))?
        .map_err(|e| Error::Unavailable(e.to_string()))
}

/// The accessibility bus's socket path from a D-Bus address, if it is a plain Unix path
/// inside `dir` (`unix:path=...`, with optional `,guid=...`).
fn socket_in(address: &str, dir: &Path) -> Option<PathBuf> {
    let rest = address.strip_prefix("unix:")?;
    let path = rest.split(',').find_map(|kv| kv.strip_prefix("path="))?;
    let path = PathBuf::from(path);
    let canonical = |p: &Path| std::fs::canonicalize(p).ok();
    let parent = canonical(path.parent()?)?;
    let name = path.file_name()?;
    parent
        .starts_with(canonical(dir)?)
        .then(|| parent.join(name))
}

/// Connects to the desktop's accessibility bus.
pub async fn connect(expected: &Expected) -> Result<A11y, Error> {
    let session = StdStream::connect(&expected.session_socket)
        .map_err(|e| Error::Unavailable(format!("the session bus: {e}")))?;
    let pid = peer_pid(&session)?;
    if pid != expected.session_pid {
        return Err(Error::Unavailable(format!(
            "the session bus's socket is served by process {pid}, not the session bus"
        )));
    }
    let session = open(session).await?;
    let reply = session
        .call_method(
            Some("org.a11y.Bus"),
            "/org/a11y/bus",
            Some("org.a11y.Bus"),
            "GetAddress",
            &(),
        )
        .await
        .map_err(|e| Error::Unavailable(format!("org.a11y.Bus: {e}")))?;
    let address: String = reply
        .body()
        .deserialize()
        .map_err(|e| Error::Unavailable(e.to_string()))?;
    let Some(path) = socket_in(&address, &expected.runtime_dir) else {
        return Err(Error::Unavailable(format!(
            "the accessibility bus's address is not a socket in the desktop's runtime \
             directory: {address:.200}"
        )));
    };
    let stream = StdStream::connect(&path)
        .map_err(|e| Error::Unavailable(format!("the accessibility bus: {e}")))?;
    let peer = peer_pid(&stream)?;
    let theirs = pid_namespace(expected.desktop_pid);
    if theirs.is_none() || pid_namespace(peer) != theirs {
        return Err(Error::Unavailable(format!(
            "the accessibility bus is served by process {peer}, outside the desktop"
        )));
    }
    Ok(A11y::new(open(stream).await?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_unix_paths_inside_the_runtime_directory_are_taken() {
        let dir = tempfile_dir();
        std::fs::create_dir_all(dir.join("at-spi")).unwrap();
        let inside = format!("unix:path={}/at-spi/bus_0,guid=abc", dir.display());
        assert_eq!(
            socket_in(&inside, &dir),
            Some(std::fs::canonicalize(&dir).unwrap().join("at-spi/bus_0"))
        );
        for bad in [
            "unix:path=/run/dbus/system_bus_socket".to_string(),
            "tcp:host=10.0.0.1,port=5000".to_string(),
            "unix:abstract=/tmp/dbus-x".to_string(),
            format!("unix:path={}/../escape", dir.display()),
        ] {
            assert_eq!(socket_in(&bad, &dir), None, "{bad}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    fn tempfile_dir() -> PathBuf {
        let dir = std::env::temp_dir().join(format!("agentdesk-a11y-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }
}
