//! [`Cmd`]: what to run — argv, environment, working directory, descriptors — independent of
//! where: [`Launcher::Host`] starts it as agentdesk's own child, [`Launcher::Sandbox`] inside a
//! desktop's sandbox (the sandbox's init forks it there).

use std::ffi::{OsStr, OsString};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use crate::sandbox::Sandbox;
use crate::spawn::{spawn, Child};
use crate::Result;

/// Where one of a child's standard streams goes.
#[derive(Debug, Default)]
pub enum Io {
    /// `/dev/null`.
    #[default]
    Null,
    /// A pipe whose other end [`Child::take_stdout`] / [`Child::take_stderr`] returns.
    Pipe,
    /// This descriptor (a log file, a pipe's end).
    Fd(OwnedFd),
}

/// The descriptor number a [`Cmd::keep_fd`] descriptor gets in the child: the first after
/// stdin, stdout and stderr, so that it can be named on a command line before the child exists.
pub const KEPT_FD: i32 = 3;

/// A command to run: always with exactly the environment given (nothing of agentdesk's own).
#[derive(Debug)]
pub struct Cmd {
    pub(crate) program: OsString,
    pub(crate) args: Vec<OsString>,
    pub(crate) env: Vec<(OsString, OsString)>,
    pub(crate) cwd: Option<PathBuf>,
    pub(crate) stdin: Io,
    pub(crate) stdout: Io,
    pub(crate) stderr: Io,
    /// Passed to the child as descriptor [`KEPT_FD`].
    pub(crate) kept: Option<OwnedFd>,
}

impl Cmd {
    /// `program`, looked up in the `PATH` of the environment given.
    pub fn new(program: impl AsRef<OsStr>) -> Cmd {
        Cmd {
            program: program.as_ref().to_owned(),
            args: Vec::new(),
            env: Vec::new(),
            cwd: None,
            stdin: Io::Null,
            stdout: Io::Null,
            stderr: Io::Null,
            kept: None,
        }
    }

    /// Adds an argument.
    pub fn arg(&mut self, arg: impl AsRef<OsStr>) -> &mut Cmd {
        self.args.push(arg.as_ref().to_owned());
        self
    }

    /// Adds arguments.
    pub fn args<I: IntoIterator<Item = S>, S: AsRef<OsStr>>(&mut self, args: I) -> &mut Cmd {
        for arg in args {
            self.arg(arg);
        }
        self
    }

    /// Sets one environment variable (the environment starts empty).
    pub fn env(&mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> &mut Cmd {
        self.env
            .push((key.as_ref().to_owned(), value.as_ref().to_owned()));
        self
    }

    /// Sets environment variables.
    pub fn envs<I, K, V>(&mut self, vars: I) -> &mut Cmd
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<OsStr>,
        V: AsRef<OsStr>,
    {
        for (k, v) in vars {
            self.env(k, v);
        }
        self
    }

    /// The working directory.
    pub fn current_dir(&mut self, dir: impl AsRef<Path>) -> &mut Cmd {
        self.cwd = Some(dir.as_ref().to_owned());
        self
    }

    /// Where stdin comes from.
    pub fn stdin(&mut self, io: Io) -> &mut Cmd {
        self.stdin = io;
        self
    }

    /// Where stdout goes.
    pub fn stdout(&mut self, io: Io) -> &mut Cmd {
        self.stdout = io;
        self
    }

    /// Where stderr goes.
    pub fn stderr(&mut self, io: Io) -> &mut Cmd {
        self.stderr = io;
        self
    }

    /// Passes `fd` to the child as descriptor [`KEPT_FD`].
    pub fn keep_fd(&mut self, fd: OwnedFd) -> &mut Cmd {
        self.kept = Some(fd);
        self
    }

    /// The program, for messages.
    pub fn program(&self) -> &OsStr {
        &self.program
    }

    /// As a `std` command on this host.
    pub(crate) fn into_std(self) -> std::process::Command {
        use std::os::unix::process::CommandExt as _;
        let mut cmd = std::process::Command::new(&self.program);
        cmd.args(&self.args).env_clear().envs(self.env);
        if let Some(cwd) = &self.cwd {
            cmd.current_dir(cwd);
        }
        cmd.stdin(stdio(self.stdin))
            .stdout(stdio(self.stdout))
            .stderr(stdio(self.stderr));
        if let Some(fd) = self.kept {
            use std::os::fd::AsRawFd as _;
            let raw = fd.as_raw_fd();
            // SAFETY: runs between fork and exec; dup2 is async-signal-safe and touches no
            // memory shared with the parent. `fd` is moved into the closure, so the descriptor
            // stays open until the command is dropped, after the fork.
            #[allow(unsafe_code)]
            unsafe {
                cmd.pre_exec(move || {
                    let _keep = &fd;
                    place_fd(raw, KEPT_FD)
                });
            }
        }
        cmd
    }
}

/// Makes descriptor `from` available as `to` across exec (dup2, which leaves the copy without
/// close-on-exec; or, when it already is `to`, clearing that flag). For `pre_exec` closures.
///
/// # Safety
/// Between fork and exec only, in the child: `to` is overwritten whatever it held.
#[allow(unsafe_code)]
pub(crate) unsafe fn place_fd(from: i32, to: i32) -> std::io::Result<()> {
    use std::os::fd::{BorrowedFd, FromRawFd as _};
    // SAFETY: the caller runs between fork and exec, where these numbers are its to use; the
    // target is wrapped only to name it for dup2, and never closed here.
    unsafe {
        if from == to {
            return Ok(rustix::io::fcntl_setfd(
                BorrowedFd::borrow_raw(from),
                rustix::io::FdFlags::empty(),
            )?);
        }
        let mut target = std::mem::ManuallyDrop::new(OwnedFd::from_raw_fd(to));
        Ok(rustix::io::dup2(BorrowedFd::borrow_raw(from), &mut target)?)
    }
}

fn stdio(io: Io) -> std::process::Stdio {
    match io {
        Io::Null => std::process::Stdio::null(),
        Io::Pipe => std::process::Stdio::piped(),
        Io::Fd(fd) => std::process::Stdio::from(fd),
    }
}

/// Where a desktop's processes start.
#[derive(Debug, Clone)]
pub enum Launcher {
    /// As agentdesk's own children (`--no-sandbox`, and tests of bare X servers).
    Host,
    /// Inside the desktop's sandbox.
    Sandbox(Sandbox),
}

impl Launcher {
    /// Starts `cmd`; `name` is how logs and errors refer to it.
    pub async fn spawn(&self, cmd: Cmd, name: impl Into<String>) -> Result<Child> {
        match self {
            Launcher::Host => spawn(cmd.into_std(), name),
            Launcher::Sandbox(sandbox) => sandbox.spawn(cmd, name.into()).await,
        }
    }

    /// The sandbox, if any.
    pub fn sandbox(&self) -> Option<&Sandbox> {
        match self {
            Launcher::Host => None,
            Launcher::Sandbox(sandbox) => Some(sandbox),
        }
    }
}
