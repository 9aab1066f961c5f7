//! Connecting to a desktop's accessibility bus, trusting only the expected listeners: the
//! session bus's socket must be served by the session bus agentdesk started, and the
//! accessibility bus it names must be a Unix socket in the desktop's runtime directory whose
//! listener runs in the desktop's sandbox (any other address, such as the host's system bus
//! or a TCP port, is refused: an app could have claimed `org.a11y.Bus` first and named one).

use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::net::UnixStream;

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

fn peer_pid(stream: &UnixStream) -> Result<u32, Error> {
    let cred = stream
        .peer_cred()
        .map_err(|e| Error::Unavailable(format!("cannot tell who serves the bus: {e}")))?;
    cred.pid()
        .and_then(|p| u32::try_from(p).ok())
        .ok_or_else(|| Error::Unavailable("cannot tell who serves the bus".into()))
}

fn pid_namespace(pid: u32) -> Option<PathBuf> {
    std::fs::read_link(format!("/proc/{pid}/ns/pid")).ok()
}

/// Connects to the socket at `rel` beneath `dir` without following any link on the way (the
/// sandbox can write `dir`, and a link there could name a socket of the host's): the socket is
/// opened as a path (`O_PATH`, `openat2` with `RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS`), checked
/// to be a socket, and connected through its descriptor's `/proc/self/fd` entry, which names
/// that very inode. Bounded by [`CALL_TIMEOUT`]; a listener that never accepts is an error.
async fn connect_beneath(dir: &Path, rel: &Path, what: &str) -> Result<UnixStream, Error> {
    use rustix::fs::{Mode, OFlags, ResolveFlags};
    let unavailable = |e: String| Error::Unavailable(format!("{what}: {e}"));
    let dirfd = rustix::fs::open(
        dir,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| unavailable(e.to_string()))?;
    let fd = rustix::fs::openat2(
        &dirfd,
        rel,
        OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
        ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS,
    )
    .map_err(|e| unavailable(format!("{} ({e})", rel.display())))?;
    let stat = rustix::fs::fstat(&fd).map_err(|e| unavailable(e.to_string()))?;
    if rustix::fs::FileType::from_raw_mode(stat.st_mode) != rustix::fs::FileType::Socket {
        return Err(unavailable(format!("{} is not a socket", rel.display())));
    }
    use std::os::fd::AsRawFd as _;
    let path = format!("/proc/self/fd/{}", fd.as_raw_fd());
    tokio::time::timeout(CALL_TIMEOUT, UnixStream::connect(&path))
        .await
        .map_err(|_| unavailable("its server does not accept connections".into()))?
        .map_err(|e| unavailable(e.to_string()))
}

async fn open(stream: UnixStream) -> Result<zbus::Connection, Error> {
    let conn = zbus::connection::Builder::unix_stream(stream)
        .method_timeout(CALL_TIMEOUT)
        .build();
    tokio::time::timeout(CALL_TIMEOUT, conn)
        .await
        .map_err(|_| Error::Unavailable("the bus did not answer".into()))?
        .map_err(|e| Error::Unavailable(e.to_string()))
}

/// The accessibility bus's socket, relative to `dir`, from a D-Bus address, if it is a plain
/// Unix path inside `dir` (`unix:path=...`, with optional `,guid=...`) with no `..` in it.
fn socket_in(address: &str, dir: &Path) -> Option<PathBuf> {
    let rest = address.strip_prefix("unix:")?;
    let path = rest.split(',').find_map(|kv| kv.strip_prefix("path="))?;
    let rel = Path::new(path).strip_prefix(dir).ok()?;
    let plain = rel
        .components()
        .all(|c| matches!(c, std::path::Component::Normal(_)));
    (plain && rel.components().next().is_some()).then(|| rel.to_path_buf())
}

/// Connects to the desktop's accessibility bus.
pub async fn connect(expected: &Expected) -> Result<A11y, Error> {
    let session =
        connect_beneath(&expected.runtime_dir, Path::new("bus"), "the session bus").await?;
    if peer_pid(&session)? != expected.session_pid {
        return Err(Error::Unavailable(
            "the session bus's socket is served by another process than the desktop's bus".into(),
        ));
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
    let Some(rel) = socket_in(&address, &expected.runtime_dir) else {
        return Err(Error::Unavailable(format!(
            "the accessibility bus's address is not a socket in the desktop's runtime \
             directory: {:.200}",
            address.escape_debug()
        )));
    };
    let stream = connect_beneath(&expected.runtime_dir, &rel, "the accessibility bus").await?;
    let theirs = pid_namespace(expected.desktop_pid);
    if theirs.is_none() || pid_namespace(peer_pid(&stream)?) != theirs {
        return Err(Error::Unavailable(
            "the accessibility bus is served by a process outside the desktop".into(),
        ));
    }
    Ok(A11y::new(open(stream).await?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_unix_paths_inside_the_runtime_directory_are_taken() {
        let dir = Path::new("/tmp/agentdesk-x/default");
        assert_eq!(
            socket_in(
                "unix:path=/tmp/agentdesk-x/default/at-spi/bus_0,guid=abc",
                dir
            ),
            Some(PathBuf::from("at-spi/bus_0"))
        );
        for bad in [
            "unix:path=/run/dbus/system_bus_socket",
            "tcp:host=10.0.0.1,port=5000",
            "unix:abstract=/tmp/dbus-x",
            "unix:path=/tmp/agentdesk-x/default/../escape",
            "unix:path=/tmp/agentdesk-x/default",
            "unix:path=/tmp/agentdesk-x/defaultx/bus",
        ] {
            assert_eq!(socket_in(bad, dir), None, "{bad}");
        }
    }

    #[tokio::test]
    async fn a_link_to_a_socket_elsewhere_is_not_followed() {
        let base = std::env::temp_dir().join(format!("agentdesk-a11y-link-{}", std::process::id()));
        let inside = base.join("runtime");
        std::fs::create_dir_all(&inside).unwrap();
        let outside = base.join("host.sock");
        let listener = std::os::unix::net::UnixListener::bind(&outside).unwrap();
        listener.set_nonblocking(true).unwrap();
        std::os::unix::fs::symlink(&outside, inside.join("bus")).unwrap();
        let refused = connect_beneath(&inside, Path::new("bus"), "the bus").await;
        assert!(refused.is_err());
        assert!(
            listener.accept().is_err(),
            "the host's socket was connected to"
        );
        // The socket itself, in the directory, is reached.
        let real = inside.join("real");
        let _l = std::os::unix::net::UnixListener::bind(&real).unwrap();
        assert!(connect_beneath(&inside, Path::new("real"), "the bus")
            .await
            .is_ok());
        std::fs::remove_dir_all(&base).unwrap();
    }
}
