//! The private runtime directory of an agentdesk process, and what is left of those whose
//! process is gone.
//!
//! A server keeps its desktops' sockets, Xauthority cookies and window-manager configuration in
//! `<tmp>/agentdesk-XXXXXXXX` (mode 0700), removed when it stops. A server killed with SIGKILL
//! cannot remove it, and processes a desktop's apps detached from their process group (with
//! `setsid`) outlive it. So each directory holds a `lock` file that its server keeps locked
//! (`flock`) for as long as it runs: the kernel drops the lock when the process dies, however
//! it dies. At start, [`clean_stale`] removes every directory of ours whose lock is free, after
//! killing the processes still running from its desktops ([`kill_desktop_processes`]: every
//! desktop process carries its desktop's runtime directory in `XDG_RUNTIME_DIR`).
//!
//! A directory is created under a hidden name, locked, then renamed into place, so another
//! server starting at the same moment never sees it unlocked.

use std::fs::File;
use std::os::unix::fs::{DirBuilderExt as _, MetadataExt as _};
use std::path::{Path, PathBuf};

use rustix::fs::FlockOperation;

use crate::{Error, Result};

/// Runtime directories are `agentdesk-` followed by this many random characters.
const PREFIX: &str = "agentdesk-";
const LOCK: &str = "lock";

/// A server's runtime directory: locked while the value lives, removed when it drops.
#[derive(Debug)]
pub struct RuntimeDir {
    path: PathBuf,
    /// Holds the `flock` that says "this server is alive".
    _lock: File,
}

impl RuntimeDir {
    /// Creates a fresh runtime directory in `parent` (usually the system's temporary
    /// directory), mode 0700, and locks it.
    pub fn create(parent: &Path) -> Result<RuntimeDir> {
        let suffix: String = {
            use rand::Rng as _;
            rand::rng()
                .sample_iter(rand::distr::Alphanumeric)
                .take(10)
                .map(char::from)
                .collect()
        };
        let hidden = parent.join(format!(".{PREFIX}{suffix}"));
        let path = parent.join(format!("{PREFIX}{suffix}"));
        let context = |what: &str, p: &Path| format!("{what} {}", p.display());
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&hidden)
            .map_err(|e| Error::io(context("the runtime directory", &hidden), e))?;
        let lock = lock_file(&hidden.join(LOCK))
            .and_then(|f| {
                rustix::fs::flock(&f, FlockOperation::NonBlockingLockExclusive)?;
                Ok(f)
            })
            .map_err(|e| Error::io(context("the lock of", &hidden), e));
        let lock = match lock {
            Ok(lock) => lock,
            Err(e) => {
                let _ = std::fs::remove_dir_all(&hidden);
                return Err(e);
            }
        };
        if let Err(e) = std::fs::rename(&hidden, &path) {
            let _ = std::fs::remove_dir_all(&hidden);
            return Err(Error::io(context("the runtime directory", &path), e));
        }
        Ok(RuntimeDir { path, _lock: lock })
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for RuntimeDir {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_dir_all(&self.path) {
            tracing::warn!(path = %self.path.display(), %e, "error removing the runtime directory");
        }
    }
}

fn lock_file(path: &Path) -> std::io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt as _;
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(path)
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
/// running (their lock is free), after killing what still runs from their desktops. Only
/// directories owned by this user and holding a lock file are considered; a directory without
/// one is not known to be ours and is left alone.
pub fn clean_stale(parent: &Path) -> Cleaned {
    let mut cleaned = Cleaned::default();
    let Ok(entries) = std::fs::read_dir(parent) else {
        return cleaned;
    };
    let uid = rustix::process::geteuid().as_raw();
    for entry in entries.flatten() {
        let name = entry.file_name();
        if !name.to_str().is_some_and(|n| n.starts_with(PREFIX)) {
            continue;
        }
        let path = entry.path();
        // Not following links: a symlink named like ours is not ours.
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        if !meta.is_dir() || meta.uid() != uid {
            continue;
        }
        let Ok(lock) = std::fs::File::open(path.join(LOCK)) else {
            continue;
        };
        if rustix::fs::flock(&lock, FlockOperation::NonBlockingLockExclusive).is_err() {
            continue; // its server runs
        }
        cleaned.processes += kill_desktop_processes(&path);
        match std::fs::remove_dir_all(&path) {
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
        if rustix::process::kill_process(pid, rustix::process::Signal::KILL).is_ok() {
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
    fn a_live_directory_is_kept_and_a_dead_ones_removed_with_its_processes() {
        let parent = tempfile::tempdir().unwrap();
        let live = RuntimeDir::create(parent.path()).unwrap();
        let mode = std::fs::metadata(live.path()).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
        assert!(live
            .path()
            .file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with(PREFIX));

        // A server that died: its directory, an unlocked lock file, and a detached process
        // from one of its desktops (setsid: not in any group agentdesk knew).
        let dead = parent.path().join("agentdesk-deadbeef00");
        std::fs::create_dir_all(dead.join("default")).unwrap();
        std::fs::write(dead.join(LOCK), b"").unwrap();
        let mut orphan = Command::new("setsid")
            .args(["sleep", "60"])
            .env("XDG_RUNTIME_DIR", dead.join("default"))
            .spawn()
            .unwrap();
        // And a directory that is not known to be ours (no lock file).
        let unknown = parent.path().join("agentdesk-unknown000");
        std::fs::create_dir_all(&unknown).unwrap();

        // `setsid` execs `sleep` in place (it is no group leader here), environment and all.
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
        assert!(
            unknown.exists(),
            "a directory without a lock is not ours to remove"
        );
        use std::os::unix::process::ExitStatusExt as _;
        assert_eq!(orphan.wait().unwrap().signal(), Some(9));

        let path = live.path().to_path_buf();
        drop(live);
        assert!(!path.exists(), "removed when its server stops");
    }
}
