//! Collecting samples: one operation's timings, payloads and change feedback from MCP calls
//! (`Sampler`), the same for the conventional per-action processes (`ConvSampler`), and the
//! progress line shown while the bench runs.

use super::*;

/// Collects one operation's samples.
#[derive(Default)]
pub(super) struct Sampler {
    pub(super) ms: Vec<f64>,
    pub(super) payloads: Vec<u64>,
    pub(super) mime_types: std::collections::BTreeMap<String, usize>,
    pub(super) changed: usize,
    pub(super) feedbacks: usize,
    pub(super) errors: Vec<String>,
}

impl Sampler {
    /// Records a call; returns its result if it succeeded.
    pub(super) fn tool(
        &mut self,
        elapsed: Duration,
        outcome: anyhow::Result<ToolResult>,
    ) -> Option<ToolResult> {
        match outcome {
            Ok(result) if !result.is_error => {
                self.ms.push(ms(elapsed));
                Some(result)
            }
            Ok(result) => {
                self.errors.push(result.error_text());
                None
            }
            Err(e) => {
                self.errors.push(format!("{e:#}"));
                None
            }
        }
    }

    pub(super) fn image(&mut self, result: &ToolResult) {
        match result.image() {
            Ok(bytes) => self.payloads.push(bytes.len() as u64),
            Err(e) => self.errors.push(format!("{e:#}")),
        }
        let mime = result.mime_type().unwrap_or("(none)").to_string();
        *self.mime_types.entry(mime).or_default() += 1;
    }

    pub(super) fn feedback(&mut self, result: &ToolResult) {
        match result.feedback() {
            Ok(f) => {
                self.feedbacks += 1;
                self.changed += usize::from(f.screen_changed);
            }
            Err(e) => self.errors.push(format!("{e:#}")),
        }
    }

    pub(super) fn row(
        self,
        key: &str,
        operation: &str,
        tool: &str,
        arguments: Value,
        iterations: usize,
        ghostdesk: Option<&'static str>,
    ) -> Row {
        Row {
            key: key.to_string(),
            operation: operation.to_string(),
            tool: tool.to_string(),
            arguments,
            iterations,
            stats: Stats::of(&self.ms),
            samples_ms: self.ms,
            payload_bytes: report::median_u64(&self.payloads),
            mime_types: self.mime_types,
            screen_changed: (self.feedbacks > 0).then_some(Changed {
                changed: self.changed,
                of: self.feedbacks,
            }),
            errors: self.errors,
            conventional: None,
            ratio: None,
            ghostdesk_p50_ms: ghostdesk,
        }
    }
}

/// Collects one conventional operation's runs.
pub(super) struct ConvSampler {
    pub(super) how: String,
    pub(super) ms: Vec<f64>,
    pub(super) payloads: Vec<u64>,
    pub(super) errors: Vec<String>,
    pub(super) skipped: Option<String>,
}

impl ConvSampler {
    pub(super) fn new(how: &str, programs: &[&str]) -> ConvSampler {
        ConvSampler {
            how: how.to_string(),
            ms: Vec::new(),
            payloads: Vec::new(),
            errors: Vec::new(),
            skipped: conventional::missing(programs),
        }
    }

    pub(super) fn record(&mut self, run: anyhow::Result<(Duration, Option<u64>)>) {
        match run {
            Ok((elapsed, payload)) => {
                self.ms.push(ms(elapsed));
                self.payloads.extend(payload);
            }
            Err(e) => self.errors.push(format!("{e:#}")),
        }
    }

    pub(super) fn finish(self) -> report::Conventional {
        report::Conventional {
            how: self.how,
            stats: Stats::of(&self.ms),
            samples_ms: self.ms,
            payload_bytes: report::median_u64(&self.payloads),
            errors: self.errors,
            skipped: self.skipped,
        }
    }
}

/// An argv of owned strings.
pub(super) fn argv(words: &[&str]) -> Vec<String> {
    words.iter().map(|w| w.to_string()).collect()
}

/// Runs a program that writes an image file, then reads the file (an agent needs its bytes).
pub(super) async fn timed_file(
    runner: &Runner,
    argv: &[&str],
    file: &Path,
) -> anyhow::Result<(Duration, Option<u64>)> {
    let started = Instant::now();
    runner.run(argv, None, false).await?;
    let bytes = std::fs::read(file).with_context(|| format!("{} wrote no file", argv[0]))?;
    Ok((started.elapsed(), Some(bytes.len() as u64)))
}

/// The progress line on stderr: rewritten in place on a terminal, one line per step otherwise
/// (logs of a test run stay readable).
pub(super) struct Progress {
    pub(super) step: usize,
    pub(super) total: usize,
    pub(super) tty: bool,
}

impl Progress {
    pub(super) fn new(total: usize) -> Progress {
        Progress {
            step: 0,
            total,
            tty: std::io::stderr().is_terminal(),
        }
    }

    pub(super) fn step(&mut self, label: &str) {
        self.step += 1;
        self.total = self.total.max(self.step);
        let mut err = std::io::stderr().lock();
        if self.tty {
            let _ = write!(err, "\r\x1b[K[{}/{}] {label} ...", self.step, self.total);
        } else {
            let _ = writeln!(err, "[{}/{}] {label}", self.step, self.total);
        }
        let _ = err.flush();
    }

    pub(super) fn note(&self, note: &str) {
        let mut err = std::io::stderr().lock();
        if self.tty {
            let _ = write!(err, "\r\x1b[K");
        }
        let _ = writeln!(err, "bench: {note}");
    }

    pub(super) fn finish(&self) {
        if self.tty {
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\r\x1b[K");
            let _ = err.flush();
        }
    }
}
