//! A desktop's sandbox: bubblewrap (`bwrap`) namespaces that every process of the desktop runs
//! in — X server, bus, window manager and apps — with a filesystem where the desktop's home is
//! the only writable persistent directory.
//!
//! bwrap starts agentdesk's own binary as the sandbox's init (`agentdesk sandbox-init`,
//! [`init_main`]); agentdesk asks it to start each process ([`Sandbox::spawn`]) over a socket
//! pair and gets back the process's pidfd, so the [`Child`] handles work as for any other
//! child: agentdesk signals process groups by their pids as it sees them, from outside.
//!
//! What the sandbox is: private PID, IPC, UTS and mount namespaces (and network, with the
//! network off); no capabilities; a new session (no terminal to inject keystrokes into); the
//! root file system read-only; fresh `/tmp`, `/var/tmp`, `/dev` and `/proc`; the server's data
//! directory, `/home`, `/root`, `/run/user` and the files the server names (token file, TLS
//! key) hidden; then the desktop's home and runtime directory bound back, at their own paths.
//! When agentdesk's end of the socket closes, or bwrap's parent dies (`--die-with-parent`),
//! the init ends and with it the PID namespace: nothing of the desktop survives, not even a
//! process that left its session.

mod init;
mod wire;

pub use init::init_main;

use std::collections::HashMap;
use std::os::fd::{AsFd as _, AsRawFd as _, OwnedFd};
use std::os::unix::ffi::OsStrExt as _;
use std::os::unix::process::{CommandExt as _, ExitStatusExt as _};
use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::unix::AsyncFd;
use tokio::sync::{oneshot, watch};

use crate::cgroup::{Cgroup, CgroupKind, Limits};
use crate::cmd::{Cmd, Io};
use crate::spawn::{async_fd, spawn, Child};
use crate::{Error, Result};

/// The descriptor bwrap reads its arguments from (`--args`).
const ARGS_FD: i32 = 4;

/// Where the init binary appears inside the sandbox.
const INIT_PATH: &str = "/tmp/.agentdesk-init";

/// How long a spawn request may wait for the init's answer.
const SPAWN_TIMEOUT: Duration = Duration::from_secs(10);

/// How to build one desktop's sandbox.
#[derive(Debug, Clone)]
pub struct SandboxConfig {
    /// The desktop's id (the sandbox's host name).
    pub id: String,
    /// The desktop's runtime directory (its sockets, and the apps' own runtime files): bound
    /// read-write at its own path.
    pub runtime_dir: PathBuf,
    /// What agentdesk writes for the desktop's processes (the X cookie, the bus's and the
    /// window manager's configuration, hidden desktop entries): bound read-only at its own path,
    /// so that nothing agentdesk writes there, at any time, can be redirected from inside.
    pub conf_dir: PathBuf,
    /// The desktop's home: bound read-write at its own path; the only persistent place apps
    /// can write.
    pub home: PathBuf,
    /// Directories hidden behind an empty tmpfs (the server's data directory, the operator's
    /// home ...), in addition to `/home`, `/root` and `/run/user`.
    pub hide_dirs: Vec<PathBuf>,
    /// Files hidden behind `/dev/null` (the token file, the TLS key).
    pub hide_files: Vec<PathBuf>,
    /// Whether apps reach the network (`false`: a network namespace with loopback only).
    pub network: bool,
    /// The agentdesk binary, run as the init.
    pub init_exe: PathBuf,
    /// Resource limits, and the mechanism for them.
    pub limits: Limits,
    /// What the machine offers for limits and freezing.
    pub cgroups: CgroupKind,
    /// This server's name among others (its runtime directory's name): the cgroup's parent.
    pub server: String,
}

impl SandboxConfig {
    /// The host directory that is the sandbox's `/tmp/.X11-unix`: the X server's socket is
    /// there for agentdesk to connect to.
    pub fn x11_dir(runtime_dir: &Path) -> PathBuf {
        runtime_dir.join(".X11-unix")
    }
}

/// Checks that bwrap is installed and can make the namespaces a sandbox needs. `Err` says what
/// is missing and how to fix it.
pub async fn probe() -> std::result::Result<(), String> {
    let mut cmd = std::process::Command::new("bwrap");
    cmd.args([
        "--die-with-parent",
        "--new-session",
        "--cap-drop",
        "ALL",
        "--unshare-pid",
        "--unshare-ipc",
        "--unshare-uts",
        "--unshare-net",
        "--ro-bind",
        "/",
        "/",
        "--proc",
        "/proc",
        "--dev",
        "/dev",
        "--",
        "true",
    ])
    .env_clear()
    .env("PATH", "/usr/local/bin:/usr/bin:/bin")
    .stdin(std::process::Stdio::null())
    .stdout(std::process::Stdio::null())
    .stderr(std::process::Stdio::piped());
    let mut child = match spawn(cmd, "bwrap (probe)") {
        Ok(child) => child,
        Err(e) => {
            return Err(format!(
                "bubblewrap (bwrap) cannot be started: {e}. Install it (scripts/setup.sh does; \
                 or `apt install bubblewrap`)"
            ))
        }
    };
    let stderr = child.take_stderr();
    let status = tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .map_err(|_| "bwrap did not finish a trivial sandbox within 10 s".to_string())?;
    if status.success() {
        return Ok(());
    }
    let said = stderr
        .map(|fd| {
            let mut text = String::new();
            let _ = std::io::Read::read_to_string(&mut std::fs::File::from(fd), &mut text);
            text.trim().to_string()
        })
        .unwrap_or_default();
    Err(format!(
        "bubblewrap cannot create namespaces here ({said}); unprivileged users need user \
         namespaces (sysctl kernel.unprivileged_userns_clone=1, user.max_user_namespaces > 0)"
    ))
}

/// One desktop's sandbox: cheap to clone; the last clone dropped ends it.
#[derive(Debug, Clone)]
pub struct Sandbox {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    id: String,
    /// The last lines bwrap and the init wrote to stderr (why a sandbox that ended did).
    said: Arc<Mutex<String>>,
    bwrap: Mutex<Option<Child>>,
    socket: Arc<AsyncFd<OwnedFd>>,
    shared: Arc<Shared>,
    /// One spawn at a time: each waits for its own answer.
    spawning: tokio::sync::Mutex<()>,
    cgroup: Mutex<Option<Cgroup>>,
}

/// What the socket's reader fills in.
#[derive(Debug, Default)]
struct Shared {
    pending: Mutex<Option<oneshot::Sender<std::result::Result<Spawned, String>>>>,
    exits: Mutex<HashMap<u32, watch::Sender<Option<ExitStatus>>>>,
    /// Set when the init is gone: later exits are reported at once.
    closed: Mutex<bool>,
}

#[derive(Debug)]
struct Spawned {
    /// Its pid inside the sandbox (the init's name for it).
    ns_pid: u32,
    pidfd: OwnedFd,
    status: watch::Receiver<Option<ExitStatus>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The status reported for children of a sandbox that ended (they were killed with it).
fn killed() -> ExitStatus {
    ExitStatus::from_raw(9)
}

impl Sandbox {
    /// Starts the sandbox (bwrap and the init); processes start in it with [`Sandbox::spawn`].
    pub async fn start(config: &SandboxConfig) -> Result<Sandbox> {
        let fail = |what: &str, e: std::io::Error| Error::io(format!("the sandbox's {what}"), e);
        let x11 = SandboxConfig::x11_dir(&config.runtime_dir);
        std::fs::create_dir_all(&x11).map_err(|e| fail("X socket directory", e))?;
        let (ours, theirs) = wire::pair().map_err(|e| fail("socket", e))?;
        let cgroup = Cgroup::create(&config.cgroups, &config.server, &config.id, &config.limits);
        let join: Vec<OwnedFd> = cgroup.as_ref().map(Cgroup::procs_files).unwrap_or_default();
        let data_limit = cgroup.is_none().then_some(config.limits.memory_bytes);
        let mut cmd = std::process::Command::new("bwrap");
        // The arguments go through a pipe (bwrap --args), not the command line: the sandbox's
        // own /proc/1/cmdline would show them (the server's paths, what it hides).
        let (args_read, args_write) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)
            .map_err(|e| fail("arguments", e.into()))?;
        // (Options only: bwrap takes the command from its command line.)
        let mut options = bwrap_args(config);
        let command = options.split_off(
            options
                .iter()
                .position(|a| a == "--")
                .unwrap_or(options.len()),
        );
        let mut listed = Vec::new();
        for arg in options {
            listed.extend_from_slice(arg.as_bytes());
            listed.push(0);
        }
        if listed.len() > 60 * 1024 {
            return Err(fail(
                "arguments",
                std::io::Error::other("too long for a pipe"),
            ));
        }
        rustix::io::write(&args_write, &listed).map_err(|e| fail("arguments", e.into()))?;
        drop(args_write);
        cmd.args(["--args", &ARGS_FD.to_string()])
            .args(command)
            .env_clear()
            .env("PATH", "/usr/local/bin:/usr/bin:/bin")
            // The desktop's tag (see kill_desktop_processes): bwrap changes its credentials,
            // which clears the parent-death signal agentdesk gave it, and a bwrap whose child
            // died during set-up waits forever; tagged, the next start's sweep finds it.
            .env("XDG_RUNTIME_DIR", &config.runtime_dir)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped());
        let theirs_raw = theirs.as_raw_fd();
        let args_raw = args_read.as_raw_fd();
        // Moved into the closure: open until the command is dropped, after the fork.
        let theirs_child = theirs;
        // SAFETY: runs between fork and exec; write, dup2, fcntl and setrlimit are
        // async-signal-safe system calls on descriptors this closure owns (moved in), touching
        // no memory shared with the parent.
        #[allow(unsafe_code)]
        unsafe {
            cmd.pre_exec(move || {
                // Into the desktop's groups before bwrap makes anything: all it starts is in.
                for fd in &join {
                    rustix::io::write(fd, b"0")?;
                }
                if let Some(bytes) = data_limit {
                    rustix::process::setrlimit(
                        rustix::process::Resource::Data,
                        rustix::process::Rlimit {
                            current: Some(bytes),
                            maximum: Some(bytes),
                        },
                    )?;
                }
                // Both descriptors up high first, so that placing one cannot overwrite the other.
                let _keep = (&theirs_child, &args_read);
                let high = |raw: i32| {
                    rustix::io::fcntl_dupfd_cloexec(std::os::fd::BorrowedFd::borrow_raw(raw), 64)
                };
                let (socket, args) = (high(theirs_raw)?, high(args_raw)?);
                for (from, to) in [(socket, crate::cmd::KEPT_FD), (args, ARGS_FD)] {
                    crate::cmd::place_fd(from.as_raw_fd(), to)?;
                }
                Ok(())
            });
        }
        let mut bwrap = spawn(cmd, format!("sandbox {}", config.id))?;
        let said = Arc::new(Mutex::new(String::new()));
        if let Some(stderr) = bwrap.take_stderr() {
            keep_last_words(stderr, format!("sandbox {}", config.id), said.clone());
        }
        rustix::io::ioctl_fionbio(&ours, true).map_err(|e| fail("socket", e.into()))?;
        let socket = Arc::new(async_fd(ours).map_err(|e| fail("socket", e))?);
        let shared = Arc::new(Shared::default());
        tokio::spawn(read_answers(socket.clone(), shared.clone()));
        Ok(Sandbox {
            inner: Arc::new(Inner {
                id: config.id.clone(),
                said,
                bwrap: Mutex::new(Some(bwrap)),
                socket,
                shared,
                spawning: tokio::sync::Mutex::new(()),
                cgroup: Mutex::new(cgroup),
            }),
        })
    }

    /// Starts `cmd` inside the sandbox.
    pub(crate) async fn spawn(&self, cmd: Cmd, name: String) -> Result<Child> {
        let fail = |e: std::io::Error| Error::Spawn {
            program: PathBuf::from(&cmd.program),
            source: e,
            hint: String::new(),
        };
        let mut ours = (None, None);
        let stream = |io: &Io, read_end: &mut Option<OwnedFd>| -> std::io::Result<OwnedFd> {
            match io {
                Io::Null => Ok(std::fs::OpenOptions::new()
                    .read(true)
                    .write(true)
                    .open("/dev/null")?
                    .into()),
                Io::Pipe => {
                    let (read, write) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)?;
                    *read_end = Some(read);
                    Ok(write)
                }
                Io::Fd(fd) => fd.try_clone(),
            }
        };
        let stdin = stream(&cmd.stdin, &mut None).map_err(fail)?;
        let stdout = stream(&cmd.stdout, &mut ours.0).map_err(fail)?;
        let stderr = stream(&cmd.stderr, &mut ours.1).map_err(fail)?;
        let mut fields: Vec<Vec<u8>> = vec![
            b"spawn".to_vec(),
            cmd.program.as_bytes().to_vec(),
            cmd.cwd
                .as_ref()
                .map(|c| c.as_os_str().as_bytes().to_vec())
                .unwrap_or_default(),
            cmd.args.len().to_string().into_bytes(),
        ];
        fields.extend(cmd.args.iter().map(|a| a.as_bytes().to_vec()));
        fields.extend(cmd.env.iter().map(|(k, v)| {
            let mut var = k.as_bytes().to_vec();
            var.push(b'=');
            var.extend_from_slice(v.as_bytes());
            var
        }));
        let refs: Vec<&[u8]> = fields.iter().map(Vec::as_slice).collect();
        let message = wire::encode(&refs);
        if message.len() > wire::MAX_MESSAGE {
            return Err(fail(std::io::Error::other(
                "the command line and environment are too long",
            )));
        }
        let mut fds = vec![stdin.as_fd(), stdout.as_fd(), stderr.as_fd()];
        if let Some(kept) = &cmd.kept {
            fds.push(kept.as_fd());
        }
        let _one_at_a_time = self.inner.spawning.lock().await;
        let (tx, rx) = oneshot::channel();
        if *lock(&self.inner.shared.closed) {
            return Err(self.ended(&cmd));
        }
        *lock(&self.inner.shared.pending) = Some(tx);
        self.send(&message, &fds)
            .await
            .map_err(|_| self.ended(&cmd))?;
        drop((stdin, stdout, stderr));
        let spawned = match tokio::time::timeout(SPAWN_TIMEOUT, rx).await {
            Ok(Ok(Ok(spawned))) => spawned,
            Ok(Ok(Err(message))) => {
                let hint = if message.contains("No such file") {
                    " (is it installed? ./scripts/serve.sh installs what agentdesk needs)"
                } else {
                    ""
                };
                return Err(Error::Spawn {
                    program: PathBuf::from(&cmd.program),
                    source: std::io::Error::other(message),
                    hint: hint.into(),
                });
            }
            Ok(Err(_)) => return Err(self.ended(&cmd)),
            Err(_) => {
                return Err(fail(std::io::Error::other(
                    "the sandbox did not answer within 10 s",
                )))
            }
        };
        // The init keeps the child unreaped until this acknowledgement, so the pid read from
        // the pidfd is the child's even if it has already exited.
        let pid = host_pid(&spawned.pidfd);
        let ack = wire::encode(&[b"ack", spawned.ns_pid.to_string().as_bytes()]);
        self.send(&ack, &[]).await.map_err(|_| self.ended(&cmd))?;
        let pid = pid.ok_or_else(|| {
            fail(std::io::Error::other(
                "the child's pid is not visible from agentdesk",
            ))
        })?;
        tracing::debug!(child = %name, pid, sandbox = %self.inner.id, "spawned in the sandbox");
        // The pidfd was only to learn the pid without a race: the init holds the child (and
        // its pid) until it has reported the exit.
        drop(spawned.pidfd);
        Ok(Child::sandboxed(name, pid, spawned.status, ours.0, ours.1))
    }

    /// Sends one message to the init, waiting while the socket's buffer is full.
    async fn send(
        &self,
        message: &[u8],
        fds: &[std::os::fd::BorrowedFd<'_>],
    ) -> std::io::Result<()> {
        loop {
            let mut guard = self.inner.socket.writable().await?;
            match guard.try_io(|s| wire::send(s.get_ref().as_fd(), message, fds)) {
                Ok(result) => return result,
                Err(_would_block) => continue,
            }
        }
    }

    fn ended(&self, cmd: &Cmd) -> Error {
        let said = lock(&self.inner.said).trim().to_string();
        Error::Spawn {
            program: PathBuf::from(&cmd.program),
            source: std::io::Error::other(if said.is_empty() {
                "the desktop's sandbox has ended (bwrap failed or was killed)".to_string()
            } else {
                format!("the desktop's sandbox has ended; bwrap said: {said}")
            }),
            hint: String::new(),
        }
    }

    /// Freezes (`true`) or thaws every process of the sandbox with the cgroup freezer. `false`
    /// if there is none (the caller then uses SIGSTOP).
    pub fn freeze(&self, frozen: bool) -> bool {
        lock(&self.inner.cgroup)
            .as_ref()
            .is_some_and(|c| c.freeze(frozen))
    }

    /// Ends the sandbox and everything in it, and removes its groups.
    pub async fn stop(&self) {
        let bwrap = lock(&self.inner.bwrap).take();
        if let Some(mut bwrap) = bwrap {
            // The outer bwrap's death ends the init (--die-with-parent), which ends the PID
            // namespace: the kernel kills everything in it.
            self.freeze(false);
            bwrap.signal_group(rustix::process::Signal::KILL);
            let _ = tokio::time::timeout(Duration::from_secs(2), bwrap.wait()).await;
        }
        let cgroup = lock(&self.inner.cgroup).take();
        if let Some(cgroup) = cgroup {
            // Removing a group waits (briefly) until its processes are gone.
            let _ = tokio::task::spawn_blocking(move || drop(cgroup)).await;
        }
    }
}

/// Logs what bwrap (and the init) write to stderr, at debug level, and keeps the last few
/// lines (at most 1 KiB) for the error that says why a sandbox ended.
fn keep_last_words(fd: OwnedFd, name: String, said: Arc<Mutex<String>>) {
    use tokio::io::AsyncBufReadExt as _;
    let Ok(receiver) = tokio::net::unix::pipe::Receiver::from_owned_fd(fd) else {
        return;
    };
    tokio::spawn(async move {
        let mut lines = tokio::io::BufReader::new(receiver).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            // The sandbox's apps can write to this pipe too (/proc/1/fd/2): printable text only.
            let line: String = line.chars().filter(|c| !c.is_control()).take(512).collect();
            tracing::debug!(target: "agentdesk::child", child = %name, "{line}");
            let mut kept = lock(&said);
            if kept.len() + line.len() > 1024 {
                kept.clear();
            }
            kept.push_str(&line);
            kept.push(' ');
        }
    });
}

/// Reads the init's answers and exit reports until the socket closes.
async fn read_answers(socket: Arc<AsyncFd<OwnedFd>>, shared: Arc<Shared>) {
    loop {
        let Ok(mut guard) = socket.readable().await else {
            break;
        };
        let received = match guard.try_io(|s| wire::receive(s.get_ref().as_fd())) {
            Ok(received) => received,
            Err(_would_block) => continue,
        };
        let Ok(Some((message, mut fds))) = received else {
            break;
        };
        let Some(fields) = wire::decode(&message) else {
            continue;
        };
        match fields.first().map(Vec::as_slice) {
            Some(b"ok") => {
                let pid = fields.get(1).and_then(|p| parse::<u32>(p));
                let pending = lock(&shared.pending).take();
                match (pid, fds.pop(), pending) {
                    (Some(pid), Some(pidfd), Some(pending)) => {
                        let (tx, rx) = watch::channel(None);
                        lock(&shared.exits).insert(pid, tx);
                        let _ = pending.send(Ok(Spawned {
                            ns_pid: pid,
                            pidfd,
                            status: rx,
                        }));
                    }
                    (_, _, Some(pending)) => {
                        let _ = pending.send(Err("a malformed answer".into()));
                    }
                    _ => {}
                }
            }
            Some(b"err") => {
                let why = fields
                    .get(1)
                    .map(|m| String::from_utf8_lossy(m).into_owned())
                    .unwrap_or_default();
                if let Some(pending) = lock(&shared.pending).take() {
                    let _ = pending.send(Err(why));
                }
            }
            Some(b"exit") => {
                let pid = fields.get(1).and_then(|p| parse::<u32>(p));
                let raw = fields.get(2).and_then(|p| parse::<i32>(p));
                if let (Some(pid), Some(raw)) = (pid, raw) {
                    if let Some(tx) = lock(&shared.exits).remove(&pid) {
                        tx.send_replace(Some(ExitStatus::from_raw(raw)));
                    }
                }
            }
            _ => {}
        }
    }
    // The init is gone, and everything it started with it.
    *lock(&shared.closed) = true;
    drop(lock(&shared.pending).take());
    for (_, tx) in lock(&shared.exits).drain() {
        tx.send_replace(Some(killed()));
    }
}

fn parse<T: std::str::FromStr>(bytes: &[u8]) -> Option<T> {
    std::str::from_utf8(bytes).ok()?.parse().ok()
}

/// The pid of the process `pidfd` refers to, as agentdesk sees it (its own PID namespace).
fn host_pid(pidfd: &OwnedFd) -> Option<u32> {
    let info = std::fs::read_to_string(format!("/proc/self/fdinfo/{}", pidfd.as_raw_fd())).ok()?;
    info.lines()
        .find_map(|l| l.strip_prefix("Pid:"))
        .and_then(|p| p.trim().parse::<i64>().ok())
        .filter(|p| *p > 0)
        .map(|p| p as u32)
}

/// bwrap's arguments for `config`.
fn bwrap_args(config: &SandboxConfig) -> Vec<std::ffi::OsString> {
    let mut args: Vec<std::ffi::OsString> = Vec::new();
    let mut add = |parts: &[&std::ffi::OsStr]| args.extend(parts.iter().map(|p| p.to_os_string()));
    let s = |t: &'static str| std::ffi::OsStr::new(t);
    add(&[
        s("--die-with-parent"),
        s("--new-session"),
        s("--cap-drop"),
        s("ALL"),
    ]);
    if rustix::process::geteuid().is_root() {
        // Terminals run by root (xterm) give their pty to the tty group and reset their groups
        // (initgroups), and exit when they cannot; browsers sandbox their content processes in
        // user namespaces of their own, whose uid map names root, which takes CAP_SETFCAP
        // (Linux 5.12 on). A root desktop keeps those four capabilities; its writes stay where
        // its mounts allow (home, runtime directory, /tmp), and no_new_privs keeps file
        // capabilities from raising anything. SECURITY.md says what else root inside a
        // sandbox can do.
        add(&[
            s("--cap-add"),
            s("CAP_CHOWN"),
            s("--cap-add"),
            s("CAP_SETUID"),
            s("--cap-add"),
            s("CAP_SETGID"),
            s("--cap-add"),
            s("CAP_SETFCAP"),
        ]);
    }
    add(&[
        s("--unshare-pid"),
        s("--unshare-ipc"),
        s("--unshare-uts"),
        s("--unshare-cgroup-try"),
    ]);
    if !config.network {
        add(&[s("--unshare-net")]);
    }
    add(&[
        s("--hostname"),
        std::ffi::OsStr::new(&config.id),
        s("--ro-bind"),
        s("/"),
        s("/"),
        s("--dev"),
        s("/dev"),
        s("--proc"),
        s("/proc"),
    ]);
    // The new /proc is the PID namespace's, but its kernel knobs are the host's: read-only
    // (bwrap 0.8 leaves /proc/sys writable for root), and what only root may read, empty.
    for dir in [
        "/proc/sys",
        "/proc/sysrq-trigger",
        "/proc/irq",
        "/proc/bus",
        "/proc/fs",
    ] {
        add(&[s("--ro-bind-try"), s(dir), s(dir)]);
    }
    for file in [
        "/proc/kcore",
        "/proc/keys",
        "/proc/timer_list",
        "/proc/sched_debug",
    ] {
        // Only what this kernel has: bwrap cannot make a file in /proc to mount over.
        if Path::new(file).exists() {
            add(&[s("--ro-bind"), s("/dev/null"), s(file)]);
        }
    }
    add(&[s("--tmpfs"), s("/tmp"), s("--tmpfs"), s("/var/tmp")]);
    // /run holds the host's service sockets (the system bus, systemd's, a container engine's):
    // a read-only mount does not stop connect(), and as root a desktop would be root there. It
    // gets an empty /run; only the resolver configuration comes back, if /etc/resolv.conf
    // points into /run (systemd-resolved), so that the network still has names.
    add(&[s("--tmpfs"), s("/run")]);
    if let Ok(target) = std::fs::canonicalize("/etc/resolv.conf") {
        if target.starts_with("/run") && target.is_file() {
            args.extend([
                "--ro-bind".into(),
                target.clone().into_os_string(),
                target.into_os_string(),
            ]);
        }
    }
    let mut add = |parts: &[&std::ffi::OsStr]| args.extend(parts.iter().map(|p| p.to_os_string()));
    let mut hide: Vec<PathBuf> = ["/home", "/root", "/var/run"]
        .iter()
        .map(PathBuf::from)
        .collect();
    hide.extend(config.hide_dirs.iter().cloned());
    hide.sort();
    hide.dedup();
    for dir in &hide {
        // Under /tmp there is nothing to hide: it is new. A directory that does not exist has
        // nothing to hide either (and bwrap could not mount over it).
        // (Nor a link: /var/run is /run on Debian, already empty.)
        let real_dir = std::fs::symlink_metadata(dir).is_ok_and(|m| m.is_dir());
        if dir.starts_with("/tmp") || !real_dir {
            continue;
        }
        add(&[s("--tmpfs"), dir.as_os_str()]);
    }
    for file in &config.hide_files {
        if file.starts_with("/tmp") || !file.exists() {
            continue;
        }
        add(&[s("--ro-bind"), s("/dev/null"), file.as_os_str()]);
    }
    let x11 = SandboxConfig::x11_dir(&config.runtime_dir);
    add(&[
        s("--ro-bind"),
        config.conf_dir.as_os_str(),
        config.conf_dir.as_os_str(),
        s("--bind"),
        config.runtime_dir.as_os_str(),
        config.runtime_dir.as_os_str(),
        s("--bind"),
        x11.as_os_str(),
        s("/tmp/.X11-unix"),
        s("--bind"),
        config.home.as_os_str(),
        config.home.as_os_str(),
        s("--ro-bind"),
        config.init_exe.as_os_str(),
        s(INIT_PATH),
        s("--chdir"),
        config.home.as_os_str(),
        s("--"),
        s(INIT_PATH),
        s("sandbox-init"),
    ]);
    args.push(crate::cmd::KEPT_FD.to_string().into());
    args
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> SandboxConfig {
        SandboxConfig {
            id: "d1".into(),
            runtime_dir: "/tmp/agentdesk-x/d1".into(),
            conf_dir: "/tmp/agentdesk-x/d1.conf".into(),
            home: "/srv/data/desktops/d1/home".into(),
            hide_dirs: vec!["/srv/data".into()],
            hide_files: vec![],
            network: true,
            init_exe: "/usr/bin/agentdesk".into(),
            limits: Limits {
                memory_bytes: 1 << 30,
                pids: 512,
            },
            cgroups: CgroupKind::None,
            server: "agentdesk-x".into(),
        }
    }

    fn joined(config: &SandboxConfig) -> String {
        bwrap_args(config)
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join(" ")
    }

    #[test]
    fn the_home_is_bound_after_what_hides_it_and_the_network_follows_the_setting() {
        let on = joined(&config());
        assert!(on.contains("--cap-drop ALL") && on.contains("--die-with-parent"));
        assert!(!on.contains("--unshare-net"), "{on}");
        assert!(on.find("--ro-bind / /") < on.find("--tmpfs /tmp"));
        if let (Some(hide), Some(home)) = (
            on.find("--tmpfs /srv/data"),
            on.find("--bind /srv/data/desktops/d1/home"),
        ) {
            assert!(hide < home, "{on}");
        }
        assert!(
            on.ends_with("-- /tmp/.agentdesk-init sandbox-init 3"),
            "{on}"
        );
        let mut off = config();
        off.network = false;
        assert!(joined(&off).contains("--unshare-net"));
    }
}
