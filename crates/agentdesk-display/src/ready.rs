//! Readiness through an inherited pipe: the child writes one line when it is ready.
//!
//! Both Xvnc/Xvfb (`-displayfd N`) and dbus-daemon (`--print-address=N`) write to a descriptor
//! we hand them once they accept connections. That is race-free — no polling for sockets, no
//! guessing display numbers — and doubles as the answer (the display number, the bus address).

use std::os::fd::{OwnedFd, RawFd};
use std::time::Duration;

use tokio::io::unix::AsyncFd;

use crate::cmd::{Cmd, Launcher, KEPT_FD};
use crate::spawn::{async_fd, describe, Child};
use crate::{Error, Result};

/// The write end of a readiness pipe, to be named on the child's command line.
pub(crate) struct ReadyPipe {
    read: OwnedFd,
    write: OwnedFd,
}

impl ReadyPipe {
    pub(crate) fn new() -> Result<ReadyPipe> {
        let (read, write) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)
            .map_err(|e| Error::io("a readiness pipe", e.into()))?;
        Ok(ReadyPipe { read, write })
    }

    /// The descriptor number the child will see the write end as.
    pub(crate) fn child_fd(&self) -> RawFd {
        KEPT_FD
    }

    /// Spawns `cmd` with the write end inherited, then waits for one line on the pipe.
    ///
    /// Returns the child and the line (without the newline). Fails if the child exits first or
    /// nothing arrives within `timeout`.
    pub(crate) async fn spawn_and_wait(
        self,
        launcher: &Launcher,
        mut cmd: Cmd,
        name: &str,
        timeout: Duration,
    ) -> Result<(Child, String)> {
        // The command owns the write end until the child has it: then no copy of ours is left,
        // and EOF comes if the child dies silently.
        cmd.keep_fd(self.write);
        let mut child = launcher.spawn(cmd, name).await?;
        rustix::io::ioctl_fionbio(&self.read, true)
            .map_err(|e| Error::io("a readiness pipe", e.into()))?;
        let reader = async_fd(self.read).map_err(|e| Error::io("a readiness pipe", e))?;

        let line = tokio::select! {
            line = read_line(&reader) => line,
            status = child.wait() => {
                return Err(Error::EarlyExit {
                    program: name.to_string(),
                    status: describe(status),
                    stderr_tail: String::new(),
                });
            }
            () = tokio::time::sleep(timeout) => {
                return Err(Error::ReadyTimeout { program: name.to_string(), timeout });
            }
        };
        match line {
            Some(line) => Ok((child, line)),
            // EOF without a line: the child closed the pipe; it is exiting or has exited.
            None => {
                let status = tokio::time::timeout(Duration::from_secs(2), child.wait())
                    .await
                    .map(describe)
                    .unwrap_or_else(|_| "closed its readiness pipe".into());
                Err(Error::EarlyExit {
                    program: name.to_string(),
                    status,
                    stderr_tail: String::new(),
                })
            }
        }
    }
}

/// Reads until the first newline (or EOF). Lines longer than 4 KiB are cut: readiness lines are
/// display numbers and bus addresses, never long.
async fn read_line(fd: &AsyncFd<OwnedFd>) -> Option<String> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 512];
    loop {
        let mut guard = fd.readable().await.ok()?;
        match guard
            .try_io(|inner| rustix::io::read(inner.get_ref(), &mut chunk).map_err(Into::into))
        {
            Ok(Ok(0)) => {
                return (!buf.is_empty()).then(|| String::from_utf8_lossy(&buf).trim().to_string())
            }
            Ok(Ok(n)) => {
                buf.extend_from_slice(&chunk[..n]);
                if let Some(end) = buf.iter().position(|&b| b == b'\n') {
                    return Some(String::from_utf8_lossy(&buf[..end]).trim().to_string());
                }
                if buf.len() > 4096 {
                    return Some(String::from_utf8_lossy(&buf).trim().to_string());
                }
            }
            Ok(Err(_)) => return None,
            Err(_would_block) => continue,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_line_written_to_the_inherited_fd_comes_back() {
        let pipe = ReadyPipe::new().unwrap();
        // bash, not sh: dash cannot redirect to descriptors above 9.
        let mut cmd = Cmd::new("bash");
        cmd.args([
            "-c",
            &format!("sleep 0.05; echo ready-42 >&{}; sleep 30", pipe.child_fd()),
        ])
        .env("PATH", "/usr/bin:/bin");
        let (_child, line) = pipe
            .spawn_and_wait(&Launcher::Host, cmd, "sh", Duration::from_secs(5))
            .await
            .unwrap();
        assert_eq!(line, "ready-42");
    }

    #[tokio::test]
    async fn a_child_that_dies_first_is_an_early_exit() {
        let pipe = ReadyPipe::new().unwrap();
        let mut cmd = Cmd::new("sh");
        cmd.args(["-c", "exit 7"]).env("PATH", "/usr/bin:/bin");
        let err = pipe
            .spawn_and_wait(&Launcher::Host, cmd, "sh", Duration::from_secs(5))
            .await
            .unwrap_err();
        assert!(matches!(err, Error::EarlyExit { .. }), "{err}");
        assert!(err.to_string().contains("exit code 7"), "{err}");
    }

    #[tokio::test]
    async fn silence_is_a_timeout() {
        let pipe = ReadyPipe::new().unwrap();
        let mut cmd = Cmd::new("sleep");
        cmd.arg("30").env("PATH", "/usr/bin:/bin");
        let err = pipe
            .spawn_and_wait(&Launcher::Host, cmd, "sleep", Duration::from_millis(100))
            .await
            .unwrap_err();
        assert!(matches!(err, Error::ReadyTimeout { .. }), "{err}");
    }
}
