//! The server under test: `agentdesk serve` started as a separate process (the same binary),
//! exactly as an operator starts it, timed from spawn to its first tool result, and stopped
//! with SIGTERM at the end — after which none of its descendants may remain.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use agentdesk_display::{Child, Output};
use agentdesk_image::Size;
use anyhow::{bail, Context as _};
use serde::Serialize;
use serde_json::json;
use tokio::io::AsyncBufReadExt as _;

use super::client::Client;
use super::memory;

/// The line `agentdesk serve` prints on stderr once it accepts MCP requests.
const READY_PREFIX: &str = "agentdesk: serving MCP at http://";
/// Startup takes ~50 ms; this is for a machine under heavy load.
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// A graceful stop takes at most 15 s (README); after this it is killed.
const STOP_GRACE: Duration = Duration::from_secs(20);
/// How many of the server's log lines are kept for error messages.
const LOG_LINES: usize = 40;

/// One cold start, in milliseconds from spawning the process.
#[derive(Debug, Clone, Copy, Serialize)]
pub(crate) struct ColdStart {
    /// Until the "serving MCP at" line.
    pub(crate) ready_line_ms: f64,
    /// Until the first successful `screen_shot` result (no stabilize: it measures readiness,
    /// not the 150 ms quiet period stabilization waits for by design).
    pub(crate) first_result_ms: f64,
}

/// How the server stopped.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Shutdown {
    /// From SIGTERM to the server's exit.
    pub(crate) stop_ms: f64,
    pub(crate) exit: String,
    /// Descendants (name and pid) still running 5 s after the server exited.
    pub(crate) leftover: Vec<String>,
}

/// A running `agentdesk serve`.
pub(crate) struct UnderTest {
    child: Child,
    pub(crate) addr: SocketAddr,
    log: Arc<Mutex<VecDeque<String>>>,
}

impl UnderTest {
    /// Starts `exe serve` on a free loopback port and waits for its first tool result.
    pub(crate) async fn start(
        exe: &Path,
        screen: Size,
        data_dir: &Path,
    ) -> anyhow::Result<(UnderTest, ColdStart)> {
        let mut cmd = Command::new(exe);
        cmd.arg("serve")
            .args(["--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir)
            .args(["--screen", &format!("{}x{}", screen.width, screen.height)])
            .args(["--model-space", "0"])
            // The benchmark measures the server, not the limiter: 4 clients exceed any sane
            // per-token rate on purpose.
            .args(["--rate-limit", "0"])
            // The command line wins over the environment, except for a mode switch and the
            // operator's own security settings, which would lock the benchmark's client out.
            .env_remove("AGENTDESK_STDIO")
            .env_remove("AGENTDESK_AUTH_TOKEN")
            .env_remove("AGENTDESK_TOKEN_FILE")
            .env_remove("AGENTDESK_TLS_CERT")
            .env_remove("AGENTDESK_TLS_KEY")
            .env_remove("AGENTDESK_ALLOW_APPS")
            .env_remove("AGENTDESK_DENY_APPS")
            // Plain log lines, readable when quoted in an error.
            .env("NO_COLOR", "1")
            .stdin(Output::null())
            .stdout(Output::null())
            .stderr(Output::piped());
        let started = Instant::now();
        let mut child = agentdesk_display::spawn(cmd, "agentdesk serve")?;
        let stderr = child.take_stderr().context("no stderr pipe")?;
        let mut lines =
            tokio::io::BufReader::new(tokio::net::unix::pipe::Receiver::from_owned_fd(stderr)?)
                .lines();
        let log = Arc::new(Mutex::new(VecDeque::new()));
        let deadline = tokio::time::Instant::now() + START_TIMEOUT;
        let addr = loop {
            let line = match tokio::time::timeout_at(deadline, lines.next_line()).await {
                Ok(Ok(Some(line))) => line,
                Ok(Ok(None)) | Ok(Err(_)) => {
                    bail!("agentdesk serve exited before serving:\n{}", tail(&log))
                }
                Err(_) => bail!(
                    "agentdesk serve did not start within {START_TIMEOUT:?}:\n{}",
                    tail(&log)
                ),
            };
            let addr = parse_ready_line(&line);
            keep(&log, line);
            if let Some(addr) = addr {
                break addr;
            }
        };
        let ready_line_ms = ms(started.elapsed());
        // Keep reading: a server whose stderr pipe fills up blocks on its next log line.
        let drain = log.clone();
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                keep(&drain, line);
            }
        });
        let mut client = Client::new(addr);
        loop {
            match client
                .call_tool("screen_shot", json!({"stabilize": false}))
                .await
            {
                Ok(result) if !result.is_error => break,
                other => {
                    if tokio::time::Instant::now() >= deadline {
                        bail!(
                            "no successful screen_shot within {START_TIMEOUT:?} ({}):\n{}",
                            match other {
                                Ok(r) => r.error_text(),
                                Err(e) => format!("{e:#}"),
                            },
                            tail(&log)
                        );
                    }
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            }
        }
        let cold = ColdStart {
            ready_line_ms,
            first_result_ms: ms(started.elapsed()),
        };
        Ok((UnderTest { child, addr, log }, cold))
    }

    /// The server's process id (the root of the desktop's process tree).
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The server's last log lines, for error messages.
    pub(crate) fn log_tail(&self) -> String {
        tail(&self.log)
    }

    /// Stops the server with SIGTERM, as an operator would, and checks that everything it
    /// started went away with it.
    pub(crate) async fn stop(mut self) -> Shutdown {
        let before = memory::tree(&memory::all_processes(), self.pid());
        let started = Instant::now();
        let status = self.child.stop(STOP_GRACE).await;
        let stop_ms = ms(started.elapsed());
        let deadline = Instant::now() + Duration::from_secs(5);
        let leftover = loop {
            let left: Vec<String> = before
                .iter()
                .filter(|p| memory::still_running(p))
                .map(|p| format!("{} (pid {})", p.comm, p.pid))
                .collect();
            if left.is_empty() || Instant::now() >= deadline {
                break left;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        Shutdown {
            stop_ms,
            exit: status.to_string(),
            leftover,
        }
    }
}

/// The address in a "serving MCP at http://ADDR/mcp" line.
pub(crate) fn parse_ready_line(line: &str) -> Option<SocketAddr> {
    line.trim()
        .strip_prefix(READY_PREFIX)?
        .strip_suffix("/mcp")?
        .parse()
        .ok()
}

fn keep(log: &Mutex<VecDeque<String>>, line: String) {
    let mut log = crate::lock(log);
    if log.len() == LOG_LINES {
        log.pop_front();
    }
    log.push_back(line);
}

fn tail(log: &Mutex<VecDeque<String>>) -> String {
    let log = crate::lock(log);
    log.iter().cloned().collect::<Vec<_>>().join("\n")
}

/// A duration in milliseconds, rounded to the microsecond (finer is noise, and keeps the JSON
/// readable).
pub(crate) fn ms(d: Duration) -> f64 {
    d.as_micros() as f64 / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ready_line_gives_the_address() {
        assert_eq!(
            parse_ready_line("agentdesk: serving MCP at http://127.0.0.1:43485/mcp\n"),
            Some("127.0.0.1:43485".parse().unwrap())
        );
        assert_eq!(
            parse_ready_line("agentdesk: serving MCP at http://[::1]:3000/mcp"),
            Some("[::1]:3000".parse().unwrap())
        );
        assert_eq!(parse_ready_line("INFO serving MCP at http://x/mcp"), None);
    }
}
