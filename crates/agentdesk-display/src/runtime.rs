//! The private runtime directory of an agentdesk process, and what is left of those whose
//! process is gone.
//!
//! A server keeps its desktops' sockets, Xauthority cookies and window-manager configuration in
//! `<tmp>/agentdesk-XXXXXXXXXX` (mode 0700), removed when it stops. A server killed with SIGKILL
//! cannot remove it, and processes a desktop's apps detached from their process group (with
//! `setsid`) outlive it. So while a server runs it holds a beacon: an abstract Unix socket
//! named after its directory (`agentdesk-runtime-XXXXXXXXXX`), which the kernel closes when the
//! process dies, however it dies, and which no file in the directory can fake or remove (an app
//! of the desktop can save over any file there, being the same user). At start,
//! [`clean_stale`] removes every directory of ours whose beacon is gone, after killing the
//! processes still running from its desktops ([`kill_desktop_processes`]: every desktop
//! process carries its desktop's runtime directory in `XDG_RUNTIME_DIR`).
//!
//! The beacon is bound before the directory exists, so another server starting at the same
//! moment never sees the directory without it. Any user can bind an abstract name, so a beacon
//! counts only when a process of this user holds it: another user squatting the name of a dead
//! server's beacon cannot keep its directory and processes from being cleaned.

use std::io;
use std::os::linux::net::SocketAddrExt as _;
use std::os::unix::fs::{DirBuilderExt as _, MetadataExt as _};
use std::os::unix::net::{SocketAddr, UnixListener};
use std::path::{Path, PathBuf};

use crate::{Error, Result};

/// Runtime directories are `agentdesk-` followed by [`SUFFIX_LEN`] letters and digits. (Those
/// of agentdesk versions without a beacon had six or ten; they are left alone.)
const PREFIX: &str = "agentdesk-";
const SUFFIX_LEN: usize = 12;

/// A server's runtime directory: its beacon held while the value lives, removed when it drops.
#[derive(Debug)]
pub struct RuntimeDir {
    path: PathBuf,
    /// Says "this server is alive" to other servers' [`clean_stale`].
    _beacon: UnixListener,
}

/// The beacon's abstract socket name for a directory suffix.
fn beacon_name(suffix: &str) -> String {
    format!("agentdesk-runtime-{suffix}")
}

fn beacon_address(suffix: &str) -> io::Result<SocketAddr> {
    SocketAddr::from_abstract_name(beacon_name(suffix))
}

/// Whether a server of this user holds the beacon of `suffix`.
fn alive(suffix: &str) -> bool {
    match beacon_address(suffix).and_then(|a| UnixListener::bind_addr(&a)) {
        // Nobody held it; ours for an instant, released at once.
        Ok(_) => false,
        Err(e) if e.kind() == io::ErrorKind::AddrInUse => held_by_this_user(&beacon_name(suffix)),
        // Not knowing, keep the directory: removing a live server's would be worse.
        Err(_) => true,
    }
}

/// Whether a process of this user has the abstract socket `name` open: its inode, from
/// `/proc/net/unix`, among the descriptors of this user's processes.
fn held_by_this_user(name: &str) -> bool {
    let Ok(table) = std::fs::read_to_string("/proc/net/unix") else {
        return true;
    };
    let wanted = format!("@{name}");
    let inodes: Vec<String> = table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            (fields.get(7) == Some(&wanted.as_str())).then(|| format!("socket:[{}]", fields[6]))
        })
        .collect();
    if inodes.is_empty() {
        return false;
    }
    let uid = rustix::process::geteuid().as_raw();
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return true;
    };
    procs.flatten().any(|entry| {
        let is_pid = entry
            .file_name()
            .to_str()
            .is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit()));
        is_pid
            && std::fs::metadata(entry.path()).is_ok_and(|m| m.uid() == uid)
            && std::fs::read_dir(entry.path().join("fd")).is_ok_and(|fds| {
                fds.flatten().any(|fd| {
                    std::fs::read_link(fd.path())
                        .is_ok_and(|target| inodes.iter().any(|i| target.as_os_str() == i.as_str()))
                })
            })
    })
}

impl RuntimeDir {
    /// Creates a fresh runtime directory in `parent` (usually the system's temporary
    /// directory), mode 0700, and holds its beacon.
    pub fn create(parent: &Path) -> Result<RuntimeDir> {
        // A random name taken by someone else (or a beacon that exists) is simply skipped.
        let mut last_error = None;
        for _ in 0..16 {
            let suffix: String = {
                use rand::Rng as _;
                rand::rng()
                    .sample_iter(rand::distr::Alphanumeric)
                    .take(SUFFIX_LEN)
                    .map(char::from)
                    .collect()
            };
            let beacon = match beacon_address(&suffix).and_then(|a| UnixListener::bind_addr(&a)) {
                Ok(beacon) => beacon,
                Err(e) => {
                    last_error = Some(e);
                    continue;
                }
            };
            let path = parent.join(format!("{PREFIX}{suffix}"));
            match std::fs::DirBuilder::new().mode(0o700).create(&path) {
                Ok(()) => {
                    return Ok(RuntimeDir {
                        path,
                        _beacon: beacon,
                    })
                }
                Err(e) => last_error = Some(e),
            }
        }
        Err(Error::io(
            format!("a runtime directory in {}", parent.display()),
            last_error.unwrap_or_else(|| io::Error::other("no free name")),
        ))
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for RuntimeDir {
    fn drop(&mut self) {
        if let Err(e) = remove_tree(&self.path) {
            tracing::warn!(path = %self.path.display(), %e, "error removing the runtime directory");
        }
    }
}

/// Makes `path` a new, empty directory with mode 0700, removing whatever was there first
/// (symlinks removed, never followed). A desktop's runtime directory is made so at every
/// session start: its sandbox could write there while it ran, so nothing found in it is
/// trusted, used as a mount's source or written through.
pub fn fresh_dir(path: &Path) -> io::Result<()> {
    match remove_tree(path) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    std::fs::DirBuilder::new().mode(0o700).create(path)
}

/// Removes `path` and everything below it, making read-only directories (configuration the
/// desktop's apps must not change) writable first. Symlinks are removed, never followed.
///
/// A home is the apps' to shape, so the tree may be deeper than any path the kernel takes
/// (an app can nest directories without end): the walk never builds a path. It holds one
/// directory open at a time and the names leading to it, goes down with `openat(O_NOFOLLOW)`
/// and back up with `..`, so neither its descriptors nor its stack grow with the depth.
pub fn remove_tree(path: &Path) -> io::Result<()> {
    use rustix::fs::{AtFlags, FileType, Mode, OFlags};
    let meta = std::fs::symlink_metadata(path)?;
    if !meta.is_dir() {
        return std::fs::remove_file(path);
    }
    let open_dir = |at: &std::os::fd::OwnedFd, name: &std::ffi::CStr| {
        rustix::fs::openat(
            at,
            name,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )
    };
    // Made readable before it is opened: an app may have left a directory without read or
    // search permission, which stops its owner too (unless it is root).
    rustix::fs::chmod(path, Mode::from_raw_mode(0o700))?;
    let top = rustix::fs::open(
        path,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    // Removes what in `dir` is not a directory; the names of the directories.
    let empty_but_dirs = |dir: &std::os::fd::OwnedFd| -> io::Result<Vec<std::ffi::CString>> {
        let mut dirs = Vec::new();
        let mut reader = rustix::fs::Dir::read_from(dir)?;
        while let Some(entry) = reader.read() {
            let entry = entry?;
            let name = entry.file_name();
            if name == c"." || name == c".." {
                continue;
            }
            let is_dir = match entry.file_type() {
                FileType::Unknown => rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW)
                    .is_ok_and(|s| FileType::from_raw_mode(s.st_mode) == FileType::Directory),
                kind => kind == FileType::Directory,
            };
            if is_dir {
                dirs.push(name.to_owned());
            } else {
                rustix::fs::unlinkat(dir, name, AtFlags::empty())?;
            }
        }
        Ok(dirs)
    };
    let mut dir = top;
    let mut pending = empty_but_dirs(&dir)?;
    // For each level above `dir`: the name `dir`'s branch has there, and what is left to do.
    let mut above: Vec<(std::ffi::CString, Vec<std::ffi::CString>)> = Vec::new();
    loop {
        if let Some(name) = pending.pop() {
            // A directory (listed as one, not a link): chmodat follows no link here.
            rustix::fs::chmodat(&dir, &name, Mode::from_raw_mode(0o700), AtFlags::empty())?;
            let child = open_dir(&dir, &name)?;
            above.push((name, std::mem::take(&mut pending)));
            dir = child;
            pending = empty_but_dirs(&dir)?;
            continue;
        }
        // `dir` is empty: remove it from its parent and go on there.
        let Some((name, rest)) = above.pop() else {
            break;
        };
        let parent = open_dir(&dir, c"..")?;
        rustix::fs::unlinkat(&parent, name.as_c_str(), AtFlags::REMOVEDIR)?;
        dir = parent;
        pending = rest;
    }
    drop(dir);
    std::fs::remove_dir(path)
}

/// What [`clean_stale`] removed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Cleaned {
    /// Runtime directories of servers that are gone.
    pub directories: usize,
    /// Processes of their desktops that were still running, killed.
    pub processes: usize,
}

/// Removes the runtime directories in `parent` left by agentdesk servers that are no longer
/// running (their beacon is gone), after killing what still runs from their desktops. Only
/// directories (not symlinks) owned by this user and named as ours are considered.
pub fn clean_stale(parent: &Path) -> Cleaned {
    let mut cleaned = Cleaned::default();
    let Ok(entries) = std::fs::read_dir(parent) else {
        return cleaned;
    };
    let uid = rustix::process::geteuid().as_raw();
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(suffix) = name.to_str().and_then(|n| n.strip_prefix(PREFIX)) else {
            continue;
        };
        if suffix.len() != SUFFIX_LEN || !suffix.bytes().all(|b| b.is_ascii_alphanumeric()) {
            continue;
        }
        let path = entry.path();
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        if !meta.is_dir() || meta.uid() != uid || alive(suffix) {
            continue;
        }
        cleaned.processes += kill_desktop_processes(&path);
        match remove_tree(&path) {
            Ok(()) => cleaned.directories += 1,
            Err(e) => {
                tracing::warn!(path = %path.display(), %e, "error removing a stale runtime directory")
            }
        }
    }
    cleaned
}

/// Kills (SIGKILL) every process whose `XDG_RUNTIME_DIR` is `dir` or below it: the processes
/// of the desktops whose runtime directory that is, including those that left their process
/// group. Returns how many were killed. Processes whose environment cannot be read (other
/// users', unless agentdesk runs as root) are not considered.
pub fn kill_desktop_processes(dir: &Path) -> usize {
    signal_desktop_processes(dir, rustix::process::Signal::KILL)
}

/// Stops (SIGSTOP) or continues (SIGCONT) every process of the desktop whose runtime
/// directory is `dir`, as [`kill_desktop_processes`] finds them; `stop` says which. Stopping
/// looks twice, for a process forked while the first pass ran. Returns how many were signalled.
pub fn freeze_desktop_processes(dir: &Path, stop: bool) -> usize {
    use rustix::process::Signal;
    if stop {
        signal_desktop_processes(dir, Signal::STOP) + signal_desktop_processes(dir, Signal::STOP)
    } else {
        signal_desktop_processes(dir, Signal::CONT)
    }
}

/// Sends `signal` to every process tagged with `dir` (see [`kill_desktop_processes`]).
fn signal_desktop_processes(dir: &Path, signal: rustix::process::Signal) -> usize {
    let Some(dir) = dir.to_str() else {
        return 0;
    };
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return 0;
    };
    let me = std::process::id();
    let mut killed = 0;
    for entry in procs.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        if pid == me {
            continue;
        }
        let Ok(environ) = std::fs::read(entry.path().join("environ")) else {
            continue;
        };
        let ours = environ.split(|&b| b == 0).any(|var| {
            var.strip_prefix(b"XDG_RUNTIME_DIR=").is_some_and(|value| {
                value == dir.as_bytes()
                    || (value.starts_with(dir.as_bytes()) && value.get(dir.len()) == Some(&b'/'))
            })
        });
        if !ours {
            continue;
        }
        let Some(pid) = rustix::process::Pid::from_raw(pid as i32) else {
            continue;
        };
        if rustix::process::kill_process(pid, signal).is_ok() {
            killed += 1;
        }
    }
    killed
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;
    use std::process::Command;

    #[test]
    fn trees_deeper_than_any_path_read_only_dirs_and_links_out_are_removed() {
        let tmp = tempfile::tempdir().unwrap();
        let outside = tmp.path().join("outside");
        std::fs::create_dir(&outside).unwrap();
        std::fs::write(outside.join("keep"), b"x").unwrap();
        let root = tmp.path().join("tree");
        std::fs::create_dir(&root).unwrap();
        // 3000 levels: 15 000 bytes of path, past what any one call takes.
        let mut dir = std::fs::File::open(&root).unwrap();
        for i in 0..3000 {
            rustix::fs::mkdirat(&dir, "abcd", rustix::fs::Mode::from_raw_mode(0o700)).unwrap();
            let next = rustix::fs::openat(
                &dir,
                "abcd",
                rustix::fs::OFlags::DIRECTORY,
                rustix::fs::Mode::empty(),
            )
            .unwrap();
            if i % 1000 == 0 {
                rustix::fs::symlinkat(&outside, &next, "out").unwrap();
                std::fs::write(
                    format!("/proc/self/fd/{}/f", {
                        use std::os::fd::AsRawFd as _;
                        next.as_raw_fd()
                    }),
                    b"file",
                )
                .unwrap();
            }
            dir = std::fs::File::from(next);
        }
        for i in 0..50 {
            std::fs::create_dir(root.join(format!("wide{i}"))).unwrap();
        }
        std::fs::set_permissions(root.join("wide7"), std::fs::Permissions::from_mode(0o500))
            .unwrap();
        drop(dir);
        remove_tree(&root).unwrap();
        assert!(!root.exists());
        assert!(outside.join("keep").exists());
    }

    #[test]
    fn a_live_directory_is_kept_and_a_dead_ones_removed_with_its_processes() {
        let parent = tempfile::tempdir().unwrap();
        let live = RuntimeDir::create(parent.path()).unwrap();
        let mode = std::fs::metadata(live.path()).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
        // Whatever an app does to the files inside, the beacon says the server runs.
        std::fs::write(live.path().join("lock"), b"").unwrap();

        // A server that died: its directory, with a read-only part, and a detached process
        // from one of its desktops (setsid: not in any group agentdesk knew).
        let dead = parent.path().join("agentdesk-deadbeef0000");
        std::fs::create_dir_all(dead.join("default/icewm")).unwrap();
        std::fs::write(dead.join("default/icewm/menu"), b"").unwrap();
        std::fs::set_permissions(
            dead.join("default/icewm"),
            std::fs::Permissions::from_mode(0o500),
        )
        .unwrap();
        let mut orphan = Command::new("setsid")
            .args(["sleep", "60"])
            .env("XDG_RUNTIME_DIR", dead.join("default"))
            .spawn()
            .unwrap();
        // Names that are not ours: other versions', a symlink to elsewhere.
        let older = parent.path().join("agentdesk-abc123");
        std::fs::create_dir_all(&older).unwrap();
        let elsewhere = tempfile::tempdir().unwrap();
        let link = parent.path().join("agentdesk-linkedlink12");
        std::os::unix::fs::symlink(elsewhere.path(), &link).unwrap();

        // `setsid` execs `sleep` in place (it is no group leader here), environment and all;
        // wait until it has, so that its environment is readable.
        let cmdline = format!("/proc/{}/cmdline", orphan.id());
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while !std::fs::read(&cmdline).is_ok_and(|c| c.starts_with(b"sleep\0")) {
            assert!(std::time::Instant::now() < deadline, "sleep did not start");
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        let cleaned = clean_stale(parent.path());
        assert_eq!(
            cleaned,
            Cleaned {
                directories: 1,
                processes: 1
            }
        );
        assert!(!dead.exists());
        assert!(live.path().exists(), "a running server's directory stays");
        assert!(older.exists() && link.exists() && elsewhere.path().exists());
        use std::os::unix::process::ExitStatusExt as _;
        assert_eq!(orphan.wait().unwrap().signal(), Some(9));

        let path = live.path().to_path_buf();
        drop(live);
        assert!(!path.exists(), "removed when its server stops");
    }
}
