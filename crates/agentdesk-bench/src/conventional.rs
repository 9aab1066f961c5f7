//! The conventional way, for comparison: one process per action, as Anthropic's computer-use
//! demo, Screenbox and agent-desktop-harness do it — `scrot` (then `cwebp`) per screenshot,
//! `xdotool` per click, text and key, `xclip` per clipboard operation — on the same display.
//!
//! Each run is timed from spawn to exit (plus reading the file it wrote, for screenshots). That
//! is *less* work than a peer server does per call: no HTTP, JSON, base64 or change feedback;
//! a real peer adds its own overhead on top. Processes are started through
//! `agentdesk_display::spawn`, like every process agentdesk starts.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use agentdesk_display::{Child, Output};
use anyhow::{bail, Context as _};

/// No conventional step takes this long unless something is wrong.
const RUN_TIMEOUT: Duration = Duration::from_secs(30);

/// The Debian package that provides each program we run.
pub(crate) fn package_of(program: &str) -> &'static str {
    match program {
        "scrot" => "scrot",
        "cwebp" => "webp",
        "xdotool" => "xdotool",
        "xclip" => "xclip",
        _ => "(unknown)",
    }
}

/// Whether `program` is on `PATH`.
pub(crate) fn on_path(program: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|path| {
        std::env::split_paths(&path).any(|dir| {
            std::fs::metadata(dir.join(program)).is_ok_and(|m| {
                m.is_file()
                    && std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o111 != 0
            })
        })
    })
}

/// Why a comparison cannot run, if one of its programs is missing.
pub(crate) fn missing(programs: &[&str]) -> Option<String> {
    let missing: Vec<&str> = programs.iter().copied().filter(|p| !on_path(p)).collect();
    if missing.is_empty() {
        return None;
    }
    let packages: Vec<&str> = missing.iter().map(|p| package_of(p)).collect();
    Some(format!(
        "{} not found; install it with `apt-get install {}` (scripts/bench.sh does)",
        missing.join(", "),
        packages.join(" ")
    ))
}

/// Runs programs against one X display, in a scratch directory.
#[derive(Debug)]
pub(crate) struct Runner {
    display: String,
    /// The display's Xauthority file: agentdesk's X servers admit only cookie holders.
    xauthority: Option<String>,
    dir: PathBuf,
}

/// A finished run: how long it took and what it printed.
pub(crate) struct Finished {
    pub(crate) elapsed: Duration,
    pub(crate) stdout: Vec<u8>,
    /// Held for its `Drop`: dropping the run kills its process group, including anything the
    /// program left running in the background (`xclip -i` serving the selection).
    _group: Child,
}

impl Runner {
    pub(crate) fn new(display: String, xauthority: Option<String>, dir: PathBuf) -> Runner {
        Runner {
            display,
            xauthority,
            dir,
        }
    }

    /// A path in the scratch directory.
    pub(crate) fn file(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Runs `argv` to completion: spawn, read its stdout to the end if `capture`, wait for its
    /// exit. `stdin` is a file to read from (default: nothing). A non-zero exit is an error.
    pub(crate) async fn run(
        &self,
        argv: &[&str],
        stdin: Option<&Path>,
        capture: bool,
    ) -> anyhow::Result<Finished> {
        let (program, args) = argv.split_first().context("empty command")?;
        let mut cmd = Command::new(program);
        cmd.args(args).env("DISPLAY", &self.display);
        if let Some(xauthority) = &self.xauthority {
            cmd.env("XAUTHORITY", xauthority);
        }
        cmd.current_dir(&self.dir)
            .stdout(if capture {
                Output::piped()
            } else {
                Output::null()
            })
            .stderr(Output::null());
        match stdin {
            Some(path) => {
                let file = std::fs::File::open(path)
                    .with_context(|| format!("error opening {}", path.display()))?;
                cmd.stdin(file);
            }
            None => {
                cmd.stdin(Output::null());
            }
        }
        let started = Instant::now();
        let mut child = agentdesk_display::spawn(cmd, *program)?;
        let stdout = match child.take_stdout() {
            Some(fd) => {
                use tokio::io::AsyncReadExt as _;
                let mut pipe = tokio::net::unix::pipe::Receiver::from_owned_fd(fd)?;
                let mut out = Vec::new();
                tokio::time::timeout(RUN_TIMEOUT, pipe.read_to_end(&mut out))
                    .await
                    .with_context(|| format!("{program} did not finish"))??;
                out
            }
            None => Vec::new(),
        };
        let status = tokio::time::timeout(RUN_TIMEOUT, child.wait())
            .await
            .with_context(|| format!("{program} did not exit"))?;
        let elapsed = started.elapsed();
        if !status.success() {
            bail!("`{}` failed: {status}", argv.join(" "));
        }
        Ok(Finished {
            elapsed,
            stdout,
            _group: child,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_programs_name_their_package() {
        assert_eq!(missing(&["sh"]), None);
        let why = missing(&["sh", "agentdesk-no-such-tool"]).unwrap();
        assert!(why.starts_with("agentdesk-no-such-tool not found"), "{why}");
        assert_eq!(package_of("cwebp"), "webp");
    }

    #[tokio::test]
    async fn runs_are_timed_and_their_output_read() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("in.txt");
        std::fs::write(&input, "héllo").unwrap();
        let runner = Runner::new(":99".into(), None, dir.path().to_path_buf());
        let done = runner.run(&["cat"], Some(&input), true).await.unwrap();
        assert_eq!(done.stdout, "héllo".as_bytes());
        assert!(done.elapsed > Duration::ZERO);
        let err = runner.run(&["sh", "-c", "exit 2"], None, false).await;
        assert!(err.is_err());
    }
}
