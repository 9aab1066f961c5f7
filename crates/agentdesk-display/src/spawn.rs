//! The one place that spawns processes, and the [`Child`] handle that ends them.
//!
//! Why a dedicated thread: `PR_SET_PDEATHSIG` fires when the *thread* that forked the child
//! exits, not the process. tokio's blocking-pool threads come and go, so a child forked from one
//! of them would be killed when that worker retires. Every fork therefore happens on one thread
//! that lives as long as the process.

#![allow(unsafe_code)] // `pre_exec` is unsafe by signature; each use carries a SAFETY note.

use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Command, ExitStatus};
use std::sync::mpsc;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use rustix::process::{Pid, Signal};
use tokio::io::unix::AsyncFd;

use crate::{Error, Result};

/// Where a child's stdout or stderr goes. A re-export point so callers need not import
/// `std::process::Stdio` just to say "discard".
pub type Output = std::process::Stdio;

type Job = (Command, mpsc::SyncSender<io::Result<std::process::Child>>);

fn spawner() -> &'static Mutex<mpsc::Sender<Job>> {
    static SPAWNER: OnceLock<Mutex<mpsc::Sender<Job>>> = OnceLock::new();
    SPAWNER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("agentdesk-spawner".into())
            .spawn(move || {
                for (mut cmd, reply) in rx {
                    let _ = reply.send(cmd.spawn());
                }
            })
            .expect("the spawner thread must start: without it no desktop can run");
        Mutex::new(tx)
    })
}

/// Spawns `cmd` in its own process group, tied to agentdesk's life.
///
/// `name` is how logs and errors refer to the child ("Xvnc", "icewm", "app xterm").
/// The caller has already set argv, environment, working directory and stdio. The child runs
/// with umask 077: what a desktop's apps write (downloads, saved files, their logs) is the
/// user's alone, whatever agentdesk's own umask was.
pub fn spawn(mut cmd: Command, name: impl Into<String>) -> Result<Child> {
    let name = name.into();
    cmd.process_group(0);
    // SAFETY: the closure runs between fork and exec and only makes two raw syscalls (prctl,
    // umask), both async-signal-safe; it touches no memory shared with the parent.
    unsafe {
        cmd.pre_exec(|| {
            rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o077));
            rustix::process::set_parent_process_death_signal(Some(Signal::KILL))
                .map_err(io::Error::from)
        });
    }
    let program = cmd.get_program().into();
    let (reply_tx, reply_rx) = mpsc::sync_channel(1);
    let sent = spawner()
        .lock()
        .map_err(|_| io::Error::other("spawner lock poisoned"))
        .and_then(|tx| {
            tx.send((cmd, reply_tx))
                .map_err(|_| io::Error::other("spawner thread is gone"))
        });
    let spawned = sent.and_then(|()| {
        reply_rx
            .recv()
            .map_err(|_| io::Error::other("spawner thread is gone"))?
    });
    match spawned {
        Ok(inner) => {
            tracing::debug!(child = %name, pid = inner.id(), "spawned");
            Ok(Child {
                name,
                pid: inner.id(),
                kind: Kind::Host(inner),
                status: None,
                group_gone: false,
                stdout: None,
                stderr: None,
            })
        }
        Err(source) => {
            let hint = if source.kind() == io::ErrorKind::NotFound {
                " (is it installed? ./scripts/serve.sh installs what agentdesk needs)".to_string()
            } else {
                String::new()
            };
            Err(Error::Spawn {
                program,
                source,
                hint,
            })
        }
    }
}

/// A running (or exited) child process. Dropping it kills the child's whole process group.
///
/// Once the child has been reaped and its process group has no members left, the group's id
/// is free for the kernel to give to a new process: from then on the handle never signals it.
#[derive(Debug)]
pub struct Child {
    name: String,
    /// Its pid as agentdesk sees it (also its process group's id).
    pid: u32,
    kind: Kind,
    status: Option<ExitStatus>,
    /// The child was reaped and its group found empty: its id may name someone else's now.
    group_gone: bool,
    /// A sandboxed child's output pipes (a host child's are in its `std` handle).
    stdout: Option<OwnedFd>,
    stderr: Option<OwnedFd>,
}

/// Who reaps the child.
#[derive(Debug)]
enum Kind {
    /// agentdesk: it is our child.
    Host(std::process::Child),
    /// A sandbox's init, which reports the exit status.
    Sandboxed {
        status: tokio::sync::watch::Receiver<Option<ExitStatus>>,
    },
}

impl Child {
    /// A child a sandbox's init started: `pid` as agentdesk sees it, and where the init's
    /// report of its exit arrives.
    pub(crate) fn sandboxed(
        name: String,
        pid: u32,
        status: tokio::sync::watch::Receiver<Option<ExitStatus>>,
        stdout: Option<OwnedFd>,
        stderr: Option<OwnedFd>,
    ) -> Child {
        Child {
            name,
            pid,
            kind: Kind::Sandboxed { status },
            status: None,
            group_gone: false,
            stdout,
            stderr,
        }
    }

    /// The child's process id (also its process-group id), as agentdesk sees it.
    pub fn id(&self) -> u32 {
        self.pid
    }

    /// How logs refer to this child.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Takes the read end of the child's stdout pipe, if it was piped.
    pub fn take_stdout(&mut self) -> Option<OwnedFd> {
        match &mut self.kind {
            Kind::Host(inner) => inner.stdout.take().map(OwnedFd::from),
            Kind::Sandboxed { .. } => self.stdout.take(),
        }
    }

    /// Takes the read end of the child's stderr pipe, if it was piped.
    pub fn take_stderr(&mut self) -> Option<OwnedFd> {
        match &mut self.kind {
            Kind::Host(inner) => inner.stderr.take().map(OwnedFd::from),
            Kind::Sandboxed { .. } => self.stderr.take(),
        }
    }

    /// The exit status if the child has exited; reaps it without blocking.
    pub fn try_status(&mut self) -> Option<ExitStatus> {
        if self.status.is_none() {
            let status = match &mut self.kind {
                Kind::Host(inner) => inner.try_wait().ok().flatten(),
                Kind::Sandboxed { status, .. } => *status.borrow(),
            };
            if let Some(status) = status {
                self.status = Some(status);
                // The zombie held the group's id; if it was the last member, the id is free.
                self.group_gone = !self.group_alive();
            }
        }
        self.status
    }

    /// A future that resolves once the child has exited (it does not reap it: call
    /// [`Child::try_status`] then). It owns what it waits on, so a task can await it while
    /// the `Child` stays where it is kept.
    pub fn exited(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let sandboxed = match &self.kind {
            Kind::Host(_) => None,
            Kind::Sandboxed { status, .. } => Some(status.clone()),
        };
        let host = self.host_exited();
        async move {
            match sandboxed {
                // Its status is what a waiter wants next; it comes with the init's report.
                Some(mut status) => {
                    let _ = status.wait_for(Option::is_some).await;
                }
                None => host.await,
            }
        }
    }

    fn host_exited(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let pid = self.id();
        let pidfd = Pid::from_raw(pid as i32)
            .and_then(|pid| {
                rustix::process::pidfd_open(pid, rustix::process::PidfdFlags::empty()).ok()
            })
            .and_then(|fd| async_fd(fd).ok());
        async move {
            match pidfd {
                // A pidfd is readable once the process has exited, and stays so.
                Some(fd) => {
                    let _ = fd.readable().await;
                }
                // No pidfd (very old kernel): poll, slowly, until it is a zombie or gone.
                None => loop {
                    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"));
                    let state = stat.as_deref().ok().and_then(|s| {
                        s.rsplit_once(')')
                            .and_then(|(_, rest)| rest.split_whitespace().next())
                    });
                    if matches!(state, None | Some("Z" | "X")) {
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                },
            }
        }
    }

    /// Waits until the child exits, without blocking a thread (a pidfd drives the wake-up).
    pub async fn wait(&mut self) -> ExitStatus {
        loop {
            if let Some(status) = self.try_status() {
                return status;
            }
            self.exited().await;
        }
    }

    /// Sends `signal` to the child's whole process group (unless that group is gone).
    pub fn signal_group(&self, signal: Signal) {
        if self.group_gone {
            return;
        }
        if let Some(pgid) = Pid::from_raw(self.id() as i32) {
            let _ = rustix::process::kill_process_group(pgid, signal);
        }
    }

    /// Asks the process group to stop (`SIGTERM`), then kills it after `grace`.
    pub async fn stop(&mut self, grace: Duration) -> ExitStatus {
        if let Some(status) = self.try_status() {
            // The leader is gone but members of its group may remain: end them too.
            self.signal_group(Signal::KILL);
            return status;
        }
        self.signal_group(Signal::TERM);
        let status = match tokio::time::timeout(grace, self.wait()).await {
            Ok(status) => status,
            Err(_) => {
                tracing::debug!(child = %self.name, "did not stop on SIGTERM; killing");
                self.signal_group(Signal::KILL);
                self.wait().await
            }
        };
        self.signal_group(Signal::KILL);
        status
    }

    /// Whether any process of the child's process group still exists (the leader may have
    /// exited while processes it started live on, e.g. a launcher script's app).
    pub fn group_alive(&self) -> bool {
        !self.group_gone
            && Pid::from_raw(self.id() as i32)
                .is_some_and(|pgid| rustix::process::test_kill_process_group(pgid).is_ok())
    }
}

/// Describes an exit status the way people read it: "exit code 1" or "killed by signal 9".
pub(crate) fn describe(status: ExitStatus) -> String {
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit code {code}"),
        (None, Some(sig)) => format!("killed by signal {sig}"),
        _ => status.to_string(),
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        self.signal_group(Signal::KILL);
        if let (None, Kind::Host(inner)) = (self.status, &mut self.kind) {
            // SIGKILL cannot be ignored, so this wait is short; it keeps zombies from piling up.
            let _ = inner.wait();
        }
    }
}

/// Forwards a child's output, line by line, to the log at debug level under `agentdesk::child`.
///
/// X servers and window managers chat on stderr; their words matter when something breaks, and
/// never otherwise. Lines are cut at 1 KiB. Must be called inside a tokio runtime.
pub fn forward_to_log(fd: OwnedFd, name: String) {
    use tokio::io::AsyncBufReadExt;
    let Ok(receiver) = tokio::net::unix::pipe::Receiver::from_owned_fd(fd) else {
        return;
    };
    tokio::spawn(async move {
        let mut lines = tokio::io::BufReader::new(receiver).lines();
        while let Ok(Some(mut line)) = lines.next_line().await {
            if line.len() > 1024 {
                let mut cut = 1024;
                while !line.is_char_boundary(cut) {
                    cut -= 1;
                }
                line.truncate(cut);
            }
            tracing::debug!(target: "agentdesk::child", child = %name, "{line}");
        }
    });
}

/// Registers an owned descriptor with tokio's reactor.
pub(crate) fn async_fd(fd: OwnedFd) -> io::Result<AsyncFd<OwnedFd>> {
    // SAFETY: `register` requires that the descriptor stays the same open file for as long as it
    // is registered. An `OwnedFd` owns its descriptor exclusively and exposes no way to replace
    // or close it, so that holds until the `AsyncFd` (and with it the `OwnedFd`) is dropped.
    unsafe { AsyncFd::register(fd).map_err(io::Error::from) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn child_exit_is_noticed_and_reported() {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "exit 3"]);
        let mut child = spawn(cmd, "sh").unwrap();
        let status = child.wait().await;
        assert_eq!(status.code(), Some(3));
        assert_eq!(describe(status), "exit code 3");
    }

    #[tokio::test]
    async fn drop_kills_the_whole_process_group() {
        // The shell starts a grandchild in the same group, prints its pid, then waits.
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "sleep 60 & echo $!; wait"])
            .stdout(Output::piped());
        let mut child = spawn(cmd, "sh").unwrap();
        let out = child.take_stdout().unwrap();
        let mut line = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(std::fs::File::from(out)),
            &mut line,
        )
        .unwrap();
        let grandchild: i32 = line.trim().parse().unwrap();
        drop(child);
        // The grandchild is reaped by init eventually; until then it may be a zombie. Either way
        // it must not be running.
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        loop {
            let state =
                std::fs::read_to_string(format!("/proc/{grandchild}/stat")).unwrap_or_default();
            let running = state.split_whitespace().nth(2).is_some_and(|s| s != "Z");
            if !running {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "grandchild {grandchild} still running"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    #[test]
    fn missing_program_names_the_fix() {
        let err = spawn(
            Command::new("agentdesk-no-such-program"),
            "agentdesk-no-such-program",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("is it installed"), "{err}");
    }
}
