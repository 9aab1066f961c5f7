//! Per-desktop resource limits and freezing through control groups, where the machine lets
//! agentdesk make them: cgroup v2 (a unified hierarchy with the memory and pids controllers
//! enabled for us), else the v1 memory, pids and freezer hierarchies, else nothing (then
//! [`Limits::describe`] says so, and pausing falls back to SIGSTOP).
//!
//! A desktop's group is `agentdesk/<runtime dir name>/<desktop id>` in each hierarchy; the
//! sandbox's bwrap joins it before it execs, so every process of the desktop is in it.

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

/// Where cgroup file systems are mounted.
const ROOT: &str = "/sys/fs/cgroup";

/// What a desktop may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Memory, in bytes (RAM plus what the kernel counts with it).
    pub memory_bytes: u64,
    /// Processes and threads.
    pub pids: u64,
}

/// Which mechanism this machine offers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CgroupKind {
    /// One unified hierarchy, under this directory (our own group's parent's subtree).
    V2(PathBuf),
    /// The v1 hierarchies: memory, pids, freezer (each may be missing).
    V1 {
        /// The memory controller's mount, if writable.
        memory: Option<PathBuf>,
        /// The pids controller's mount, if writable.
        pids: Option<PathBuf>,
        /// The freezer's mount, if writable.
        freezer: Option<PathBuf>,
    },
    /// None usable.
    None,
}

impl CgroupKind {
    /// Finds what this machine offers (by trying to make a group under `agentdesk/`).
    pub fn detect() -> CgroupKind {
        let root = Path::new(ROOT);
        if root.join("cgroup.controllers").exists() {
            let controllers =
                std::fs::read_to_string(root.join("cgroup.subtree_control")).unwrap_or_default();
            let base = root.join("agentdesk");
            if controllers.contains("memory")
                && controllers.contains("pids")
                && std::fs::create_dir_all(&base).is_ok()
                && std::fs::write(base.join("cgroup.subtree_control"), "+memory +pids").is_ok()
            {
                return CgroupKind::V2(base);
            }
            return CgroupKind::None;
        }
        let usable = |name: &str| {
            let dir = root.join(name);
            let base = dir.join("agentdesk");
            (dir.join("cgroup.procs").exists() && std::fs::create_dir_all(&base).is_ok())
                .then_some(dir)
        };
        let (memory, pids, freezer) = (usable("memory"), usable("pids"), usable("freezer"));
        if memory.is_none() && pids.is_none() && freezer.is_none() {
            CgroupKind::None
        } else {
            CgroupKind::V1 {
                memory,
                pids,
                freezer,
            }
        }
    }

    /// One line for the start-up log: what limits and freezing apply.
    pub fn describe(&self, limits: &Limits) -> String {
        let mib = limits.memory_bytes / (1024 * 1024);
        match self {
            CgroupKind::V2(_) => format!(
                "cgroup v2: each desktop may use {mib} MiB and {} processes; paused with the \
                 cgroup freezer",
                limits.pids
            ),
            CgroupKind::V1 {
                memory,
                pids,
                freezer,
            } => format!(
                "cgroup v1: {}, {}; paused with {}",
                if memory.is_some() {
                    format!("{mib} MiB of memory per desktop")
                } else {
                    "no memory limit (no writable memory controller)".into()
                },
                if pids.is_some() {
                    format!("{} processes per desktop", limits.pids)
                } else {
                    "no process limit (no writable pids controller)".into()
                },
                if freezer.is_some() {
                    "the freezer"
                } else {
                    "SIGSTOP"
                }
            ),
            CgroupKind::None => format!(
                "no writable cgroup hierarchy: each process of a desktop is limited to {mib} MiB \
                 of data (RLIMIT_DATA), with no per-desktop total and no process limit; paused \
                 with SIGSTOP"
            ),
        }
    }
}

/// One desktop's groups. Removed (once empty) when dropped.
#[derive(Debug)]
pub(crate) struct Cgroup {
    /// The group directories, one per hierarchy.
    dirs: Vec<PathBuf>,
    /// The directory whose freezer pauses the desktop, and whether it is v2's.
    freezer: Option<(PathBuf, bool)>,
}

impl Cgroup {
    /// Makes the groups `agentdesk/<server>/<desktop>` with `limits`. `None` where nothing is
    /// usable.
    pub(crate) fn create(
        kind: &CgroupKind,
        server: &str,
        desktop: &str,
        limits: &Limits,
    ) -> Option<Cgroup> {
        let make = |base: &Path| -> Option<PathBuf> {
            let dir = base.join(server).join(desktop);
            std::fs::create_dir_all(&dir).ok()?;
            Some(dir)
        };
        match kind {
            CgroupKind::None => None,
            CgroupKind::V2(base) => {
                // Controllers must be enabled at every level down to the group's parent.
                let server_dir = base.join(server);
                std::fs::create_dir_all(&server_dir).ok()?;
                let _ = std::fs::write(server_dir.join("cgroup.subtree_control"), "+memory +pids");
                let dir = make(base)?;
                let _ = std::fs::write(dir.join("memory.max"), limits.memory_bytes.to_string());
                let _ = std::fs::write(dir.join("memory.swap.max"), "0");
                let _ = std::fs::write(dir.join("pids.max"), limits.pids.to_string());
                Some(Cgroup {
                    freezer: Some((dir.clone(), true)),
                    dirs: vec![dir],
                })
            }
            CgroupKind::V1 {
                memory,
                pids,
                freezer,
            } => {
                let mut dirs = Vec::new();
                if let Some(dir) = memory.as_deref().and_then(|m| make(&m.join("agentdesk"))) {
                    let _ = std::fs::write(
                        dir.join("memory.limit_in_bytes"),
                        limits.memory_bytes.to_string(),
                    );
                    dirs.push(dir);
                }
                if let Some(dir) = pids.as_deref().and_then(|p| make(&p.join("agentdesk"))) {
                    let _ = std::fs::write(dir.join("pids.max"), limits.pids.to_string());
                    dirs.push(dir);
                }
                let freezer = freezer
                    .as_deref()
                    .and_then(|f| make(&f.join("agentdesk")))
                    .map(|dir| {
                        dirs.push(dir.clone());
                        (dir, false)
                    });
                (!dirs.is_empty()).then_some(Cgroup { dirs, freezer })
            }
        }
    }

    /// Opens each group's `cgroup.procs` for writing, before a fork: the child writes `0` to
    /// each to join (`join_self`), so that it is in the groups before it execs anything.
    pub(crate) fn procs_files(&self) -> Vec<OwnedFd> {
        self.dirs
            .iter()
            .filter_map(|dir| {
                std::fs::OpenOptions::new()
                    .write(true)
                    .open(dir.join("cgroup.procs"))
                    .ok()
                    .map(OwnedFd::from)
            })
            .collect()
    }

    /// Freezes (`true`) or thaws the group. `false` if there is no freezer (use SIGSTOP).
    pub(crate) fn freeze(&self, frozen: bool) -> bool {
        let Some((dir, v2)) = &self.freezer else {
            return false;
        };
        let written = if *v2 {
            std::fs::write(dir.join("cgroup.freeze"), if frozen { "1" } else { "0" })
        } else {
            std::fs::write(
                dir.join("freezer.state"),
                if frozen { "FROZEN" } else { "THAWED" },
            )
        };
        if written.is_err() {
            return false;
        }
        if frozen {
            // Freezing completes asynchronously; wait (briefly) until every task is frozen.
            for _ in 0..200 {
                let done = if *v2 {
                    std::fs::read_to_string(dir.join("cgroup.events"))
                        .is_ok_and(|e| e.contains("frozen 1"))
                } else {
                    std::fs::read_to_string(dir.join("freezer.state"))
                        .is_ok_and(|s| s.trim() == "FROZEN")
                };
                if done {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
        }
        true
    }
}

impl Drop for Cgroup {
    fn drop(&mut self) {
        // A group can only be removed once empty; its processes die with the sandbox, a moment
        // after it is stopped. A thawed freezer first, or frozen tasks would never die.
        self.freeze(false);
        for dir in &self.dirs {
            for _ in 0..100 {
                if std::fs::remove_dir(dir).is_ok() {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            if let Some(server) = dir.parent() {
                // The server's directory goes with its last desktop (it fails while others live).
                let _ = std::fs::remove_dir(server);
            }
        }
    }
}

/// Removes the groups servers that did not stop cleanly left: `agentdesk/<name>` whose runtime
/// directory `<runtime_parent>/<name>` is gone (run after [`crate::clean_stale`]).
pub fn clean_stale_cgroups(kind: &CgroupKind, runtime_parent: &Path) {
    let alive = |name: &str| runtime_parent.join(name).exists();
    let bases: Vec<PathBuf> = match kind {
        CgroupKind::V2(base) => vec![base.clone()],
        CgroupKind::V1 {
            memory,
            pids,
            freezer,
        } => [memory, pids, freezer]
            .into_iter()
            .flatten()
            .map(|m| m.join("agentdesk"))
            .collect(),
        CgroupKind::None => Vec::new(),
    };
    for base in bases {
        let Ok(servers) = std::fs::read_dir(&base) else {
            continue;
        };
        for server in servers.flatten() {
            let name = server.file_name().to_string_lossy().into_owned();
            if !server.path().is_dir() || alive(&name) {
                continue;
            }
            if let Ok(desktops) = std::fs::read_dir(server.path()) {
                for desktop in desktops.flatten() {
                    if desktop.path().is_dir() {
                        let _ = std::fs::write(desktop.path().join("freezer.state"), "THAWED");
                        let _ = std::fs::remove_dir(desktop.path());
                    }
                }
            }
            let _ = std::fs::remove_dir(server.path());
        }
    }
}
