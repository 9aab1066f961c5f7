//! `agentdesk bench`: starts its own desktop with realistic content and measures it end to end
//! through MCP over HTTP, beside the conventional way (a process per action) on the same
//! display. It prints a table, writes everything as JSON, and fails if any tool call failed.
//!
//! This module owns the order of the run and what each step measures; `client` speaks MCP,
//! `under_test` owns the server process, `content` the screen it shows, `conventional` the
//! per-action processes, `memory` the process tree's memory, `sampling` the samples and the
//! progress line, `report` the figures.
//!
//! Timings are wall-clock from before a request is written to after its JSON response is parsed,
//! as an agent's MCP client sees them. On a shared machine they are noisy; ratios from one run
//! are what to compare.

mod agent;
mod client;
mod computer;
mod content;
mod conventional;
mod fleet;
mod grounding;
mod memory;
mod report;
mod sampling;
mod snapshots;
mod under_test;

use std::io::{IsTerminal as _, Write as _};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use agentdesk_image::Size;
use anyhow::{bail, Context as _};
use serde_json::{json, Value};

use client::{Client, ToolResult};
use content::{Content, Layout};
use conventional::Runner;
use report::{Changed, Concurrency, Machine, OpStats, Report, Row, Stats};
use sampling::{argv, timed_file, ConvSampler, Progress, Sampler};
use under_test::{ms, UnderTest};

/// Iterations per operation in a full run.
pub const DEFAULT_ITERATIONS: usize = 30;
/// Iterations per operation with `--quick` (the test suite's run: proves the bench works).
pub const QUICK_ITERATIONS: usize = 5;

/// What to run.
#[derive(Debug, Clone)]
pub struct BenchConfig {
    /// The agentdesk binary whose `serve` is measured (normally the running one).
    pub exe: PathBuf,
    /// Few iterations and short phases, for the test suite.
    pub quick: bool,
    /// Iterations per operation.
    pub iterations: usize,
    /// Where to write the JSON report.
    pub json: PathBuf,
    /// The desktop's screen size.
    pub screen: Size,
}

/// `target/bench.json` inside a Cargo workspace (where `target/` exists), else `bench.json`.
pub fn default_json_path() -> PathBuf {
    if Path::new("target").is_dir() {
        PathBuf::from("target/bench.json")
    } else {
        PathBuf::from("bench.json")
    }
}

/// GhostDesk's p50 latencies on this machine class, two runs each, measured through MCP over
/// HTTP (N=30) when the project began (docs/performance.md).
mod ghostdesk {
    /// §3.1 `screen_shot()`: webp (lossy q80), stabilize.
    pub(super) const SHOT_DEFAULT: &str = "220–283";
    /// §3.1 `screen_shot(format="png")`, stabilize.
    pub(super) const SHOT_PNG_STABILIZE: &str = "131–148";
    /// §3.1 `screen_shot(stabilize=False)`, webp.
    pub(super) const SHOT_WEBP: &str = "169–178";
    /// §3.1 `screen_shot(format="png", stabilize=False)`.
    pub(super) const SHOT_PNG: &str = "83–95";
    /// §3.2 `mouse_click` with a visible effect (switching sway tabs).
    pub(super) const CLICK: &str = "283–356";
    /// §3.2 `key_type("hello")` in a terminal (screen_changed true only 2/30 times).
    pub(super) const TYPE_5: &str = "2137–2141";
    /// §3.2 `key_type` of 555 characters, one call.
    pub(super) const TYPE_LONG: &str = "289 (555 ch.)";
    /// §3.2 `key_press("Return")` in a terminal.
    pub(super) const KEY: &str = "277–365 (Return)";
    /// §3.3 clipboard_set then clipboard_get.
    pub(super) const CLIPBOARD: &str = "49–72";
    /// §3.3 `app_launch("foot")`.
    pub(super) const APP_LAUNCH: &str = "19–32";
    /// §3.4 from launching the stack to `initialize` succeeding (mean of 5).
    pub(super) const COLD_START: &str = "4220 (to init.)";
    /// §3.5 fresh stack, idle, no apps: Σ RSS and Σ PSS in MiB.
    pub(super) const IDLE_RSS_MIB: f64 = 227.6;
    pub(super) const IDLE_PSS_MIB: f64 = 163.4;
}

/// What the numbers mean; printed with the table and stored in the JSON.
const METHOD: &str = "Ours: each call through MCP over HTTP (JSON-RPC POST to /mcp, JSON \
response, base64 images, change feedback included), timed by the client. Conventional: the bare \
process per action (spawn to exit, plus reading the file it wrote) on the same display; a real \
peer server adds its own HTTP/JSON overhead on top, so the comparison favours it.";

/// 500 characters of what an agent types: ASCII prose and a command, ending in Enter.
const LONG_TEXT_UNIT: &str = "The quick brown fox jumps over the lazy dog; grep -rn 'TODO' src/ | \
sort -u > todo.txt && wc -l todo.txt # 0123456789 ";
const LONG_TEXT_LEN: usize = 500;

/// How long the apps may take to draw (Firefox's first start in a fresh profile is slowest).
const CONTENT_TIMEOUT: Duration = Duration::from_secs(120);

/// Runs the benchmark; fails if a tool call failed or the report is incomplete.
pub async fn run(config: BenchConfig) -> anyhow::Result<()> {
    let work = tempfile::Builder::new()
        .prefix("agentdesk-bench-")
        .tempdir()
        .context("error creating a scratch directory")?;
    let n = config.iterations.max(1);
    let cold_runs = if config.quick { 1 } else { 3 };
    // One step per cold start, 13 fixed ones, two per screenshot format (3 until tools/list
    // says otherwise).
    let mut progress = Progress::new(cold_runs + 17 + 2 * 3);
    let mut report = Report::new(
        env!("CARGO_PKG_VERSION"),
        config.quick,
        n,
        config.screen,
        machine(),
        METHOD,
    );
    report.cold_start.ghostdesk_ms = ghostdesk::COLD_START;
    report.memory_ghostdesk_idle = format!(
        "{} MiB RSS, {} MiB PSS (measured on this machine class)",
        ghostdesk::IDLE_RSS_MIB,
        ghostdesk::IDLE_PSS_MIB
    );

    let server =
        match cold_starts(&config, work.path(), cold_runs, &mut progress, &mut report).await {
            Ok(server) => server,
            Err(e) => {
                progress.finish();
                return Err(e);
            }
        };
    report.memory_idle = Some(memory::snapshot(server.pid()));

    let mut bench = Bench {
        n,
        quick: config.quick,
        client: Client::new(server.addr),
        layout: Layout::new(config.screen),
        work: work.path().to_path_buf(),
        home: work
            .path()
            .join(format!("data-{cold_runs}"))
            .join("desktops/default/home"),
        progress,
        report,
        runner: None,
        screen_png: None,
        addr: server.addr,
    };
    let measured = bench.measure_all().await;
    if let Err(e) = &measured {
        bench.report.failures.push(format!(
            "the run stopped early: {e:#}\nserver log:\n{}",
            server.log_tail()
        ));
    }
    bench.report.memory_after = Some(memory::snapshot(server.pid()));
    if measured.is_ok() {
        let plan = fleet::Plan::new(config.quick);
        bench.progress.step(&format!(
            "the fleet: {} new desktops, {} at once",
            plan.creates, plan.idle
        ));
        bench.report.fleet = Some(fleet::measure(server.addr, server.pid(), plan).await);
        bench.progress.step("snapshots and files");
        let data_dir = work.path().join(format!("data-{cold_runs}"));
        bench.report.snapshots =
            Some(snapshots::measure(server.addr, server.pid(), &data_dir, config.quick).await);
    }
    bench.progress.step("stop the server (SIGTERM)");
    let shutdown = server.stop().await;
    if !shutdown.leftover.is_empty() {
        bench.report.failures.push(format!(
            "still running after the server stopped: {}",
            shutdown.leftover.join(", ")
        ));
    }
    bench.report.shutdown = Some(shutdown);
    bench.progress.finish();

    let screen_png = bench.screen_png.take();
    let mut report = bench.report;
    report.failures.extend(report.problems());
    report.complete = report.failures.is_empty();
    print!("{}", report.render());
    if let Some(dir) = config.json.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("error creating {}", dir.display()))?;
    }
    std::fs::write(&config.json, serde_json::to_vec_pretty(&report)?)
        .with_context(|| format!("error writing {}", config.json.display()))?;
    println!("\nJSON: {}", config.json.display());
    if let Some(png) = &screen_png {
        let path = config.json.with_extension("png");
        std::fs::write(&path, png).with_context(|| format!("error writing {}", path.display()))?;
        println!("The screen measured: {}", path.display());
    }
    if !report.failures.is_empty() {
        bail!(
            "the benchmark found {} problem(s):\n- {}",
            report.failures.len(),
            report.failures.join("\n- ")
        );
    }
    Ok(())
}

/// Starts the server `runs` times, each a new process on a new data directory like a first
/// start, and keeps the last one running for the rest of the run.
async fn cold_starts(
    config: &BenchConfig,
    work: &Path,
    runs: usize,
    progress: &mut Progress,
    report: &mut Report,
) -> anyhow::Result<UnderTest> {
    for i in 1..=runs {
        progress.step(&format!("cold start {i}/{runs}"));
        let data = work.join(format!("data-{i}"));
        let (server, cold) = UnderTest::start(&config.exe, config.screen, &data).await?;
        report.cold_start.runs.push(cold);
        if i == runs {
            let samples: Vec<f64> = report
                .cold_start
                .runs
                .iter()
                .map(|c| c.first_result_ms)
                .collect();
            report.cold_start.first_result = Stats::of(&samples);
            return Ok(server);
        }
        let shutdown = server.stop().await;
        if !shutdown.leftover.is_empty() {
            report.failures.push(format!(
                "after cold start {i}: still running: {}",
                shutdown.leftover.join(", ")
            ));
        }
    }
    bail!("no cold start was run")
}

/// The run's state once the server is up.
struct Bench {
    n: usize,
    quick: bool,
    client: Client,
    layout: Layout,
    work: PathBuf,
    progress: Progress,
    report: Report,
    /// The desktop's home, where the content it shows is written.
    home: PathBuf,
    /// The conventional way's runner, once the display is known.
    runner: Option<Runner>,
    /// The screen as measured (PNG), saved beside the JSON so readers see what was measured.
    screen_png: Option<Vec<u8>>,
    addr: std::net::SocketAddr,
}

impl Bench {
    async fn measure_all(&mut self) -> anyhow::Result<()> {
        let tools = self.client.request("tools/list", json!({})).await?;
        let formats = screen_shot_formats(&tools);
        if formats.is_empty() {
            bail!("tools/list offers no screen_shot formats");
        }
        self.progress.total += 2 * formats.len();
        self.progress.total -= 2 * 3;
        self.report.formats.clone_from(&formats);

        let health = self.client.get_json("/healthz").await?;
        match health["display"].as_str() {
            Some(display) => {
                let dir = self.work.join("conventional");
                std::fs::create_dir_all(&dir)?;
                let xauthority = health["xauthority"].as_str().map(str::to_string);
                self.runner = Some(Runner::new(display.to_string(), xauthority, dir));
            }
            None => self.note(
                "/healthz names no display; the conventional comparison is skipped".to_string(),
            ),
        }

        self.progress
            .step("open Firefox ESR and xterm, wait until drawn");
        self.prepare_content().await?;

        self.screenshots(&formats).await;
        self.clicks().await?;
        self.typing().await?;
        self.clipboard().await;
        self.app_launch().await;
        self.concurrency().await?;
        self.grounding().await?;
        self.computer().await?;
        self.agent_loop().await?;
        Ok(())
    }

    fn note(&mut self, note: String) {
        self.progress.note(&note);
        self.report.notes.push(note);
    }

    /// One untimed call that must succeed (setting the scene between measurements).
    async fn call(&mut self, tool: &str, args: Value) -> anyhow::Result<ToolResult> {
        let result = self.client.call_tool(tool, args).await?;
        if result.is_error {
            bail!("{tool} failed: {}", result.error_text());
        }
        Ok(result)
    }

    async fn click_terminal(&mut self) -> anyhow::Result<()> {
        let (x, y) = self.layout.term_point();
        self.call("mouse_click", json!({"x": x, "y": y})).await?;
        Ok(())
    }

    async fn prepare_content(&mut self) -> anyhow::Result<()> {
        // In the desktop's home: its apps run in a sandbox whose /tmp is its own, and the home
        // is the one directory both see.
        let dir = self.home.join("agentdesk-bench");
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("error creating {}", dir.display()))?;
        let content = Content::write(&dir, &self.layout)?;
        // The terminal first: Firefox is then placed beside it, not under it.
        for command in [self.layout.terminal_command(), content.firefox_command()] {
            let launched = self.call("app_launch", json!({"command": command})).await?;
            if launched.text().is_some_and(|t| t.contains("\"error\"")) {
                bail!("app_launch {command:?}: {}", launched.error_text());
            }
        }
        // Drawn = both marker colours cover a good part of the screen, and two screenshots in a
        // row are identical.
        let screen = self.layout.screen;
        let enough = (screen.width * screen.height / 50) as usize;
        let started = Instant::now();
        let mut last: Option<Vec<u8>> = None;
        loop {
            let shot = self
                .call("screen_shot", json!({"format": "png", "stabilize": false}))
                .await?
                .image()?;
            let (page, term) = content::marker_pixels(&shot)?;
            if page >= enough && term >= enough {
                if last.as_ref() == Some(&shot) {
                    self.screen_png = Some(shot);
                    break;
                }
                last = Some(shot);
            } else {
                last = None;
            }
            if started.elapsed() > CONTENT_TIMEOUT {
                bail!(
                    "Firefox ESR and xterm did not finish drawing within {CONTENT_TIMEOUT:?} \
                     (page colour on {page} px, terminal colour on {term} px; {enough} each \
                     expected); are firefox-esr and xterm installed?"
                );
            }
            tokio::time::sleep(Duration::from_millis(400)).await;
        }
        self.report.notes.push(format!(
            "apps drawn {:.1} s after launch",
            started.elapsed().as_secs_f64()
        ));
        // Typing must land in the terminal: check once, so a wrong focus shows up as a note
        // and not only as low screen_changed counts.
        self.click_terminal().await?;
        let typed = self
            .call("key_type", json!({"text": "x"}))
            .await?
            .feedback()?;
        self.call("key_press", json!({"keys": "BackSpace"})).await?;
        if !typed.screen_changed {
            self.note("typing into the terminal did not change the screen".into());
        }
        Ok(())
    }

    /// Times `n` calls of one tool (`args(i)` gives the i-th call's arguments) and records them
    /// as one row of the report.
    async fn measure(
        &mut self,
        key: &str,
        operation: &str,
        tool: &str,
        warm_up: bool,
        mut args: impl FnMut(usize) -> Value,
        ghostdesk: Option<&'static str>,
    ) {
        let mut sampler = Sampler::default();
        if warm_up {
            // The first call of a kind sizes buffers; agents call the same tools again and again.
            let _ = self.client.call_tool(tool, args(0)).await;
        }
        for i in 0..self.n {
            let started = Instant::now();
            let outcome = self.client.call_tool(tool, args(i)).await;
            let elapsed = started.elapsed();
            if let Some(result) = sampler.tool(elapsed, outcome) {
                if tool == "screen_shot" {
                    sampler.image(&result);
                } else if matches!(tool, "mouse_click" | "key_type" | "key_press") {
                    sampler.feedback(&result);
                }
            }
        }
        let row = sampler.row(key, operation, tool, args(0), self.n, ghostdesk);
        self.report.operations.push(row);
    }

    async fn screenshots(&mut self, formats: &[String]) {
        self.progress.step("screen_shot with defaults");
        self.measure(
            "screen_shot.default",
            "screen_shot, defaults",
            "screen_shot",
            true,
            |_| json!({}),
            Some(ghostdesk::SHOT_DEFAULT),
        )
        .await;
        for format in formats {
            for stabilize in [true, false] {
                let label = if stabilize {
                    "stabilize"
                } else {
                    "no stabilize"
                };
                self.progress
                    .step(&format!("screen_shot {format}, {label}"));
                let reference = match (format.as_str(), stabilize) {
                    ("png", true) => Some(ghostdesk::SHOT_PNG_STABILIZE),
                    ("png", false) => Some(ghostdesk::SHOT_PNG),
                    ("webp", false) => Some(ghostdesk::SHOT_WEBP),
                    _ => None,
                };
                let key = format!(
                    "screen_shot.{format}.{}",
                    if stabilize {
                        "stabilize"
                    } else {
                        "no_stabilize"
                    }
                );
                let f = format.clone();
                self.measure(
                    &key,
                    &format!("screen_shot {format}, {label}"),
                    "screen_shot",
                    true,
                    move |_| json!({"format": f, "stabilize": stabilize}),
                    reference,
                )
                .await;
            }
        }
        self.progress.step("screen_shot region 640×400 png");
        let (x, y, width, height) = self.layout.region();
        self
            .measure(
                "screen_shot.region.png",
                &format!("screen_shot region {width}×{height} png"),
                "screen_shot",
                true,
                |_| json!({"region": {"x": x, "y": y, "width": width, "height": height}, "format": "png"}),
                None,
            )
            .await;

        self.progress.step("conventional screenshots: scrot, cwebp");
        self.conventional_screenshots().await;
    }

    async fn conventional_screenshots(&mut self) {
        let Some(runner) = &self.runner else { return };
        let png = runner.file("shot.png");
        let jpg = runner.file("shot.jpg");
        let webp = runner.file("shot.webp");
        let (png_s, jpg_s, webp_s) = (
            png.to_string_lossy().to_string(),
            jpg.to_string_lossy().to_string(),
            webp.to_string_lossy().to_string(),
        );
        let mut png_run = ConvSampler::new("scrot -o FILE.png", &["scrot"]);
        let mut jpg_run = ConvSampler::new("scrot -o FILE.jpg", &["scrot"]);
        let mut webp_run = ConvSampler::new(
            "scrot -o FILE.png; cwebp -q 80 FILE.png -o FILE.webp",
            &["scrot", "cwebp"],
        );
        for _ in 0..self.n {
            // The webp way is the png way plus an encoder run on the same file.
            let mut scrot_time = None;
            if png_run.skipped.is_none() {
                let scrot = timed_file(runner, &["scrot", "-o", &png_s], &png).await;
                scrot_time = scrot.as_ref().ok().map(|(t, _)| *t);
                png_run.record(scrot);
            }
            if jpg_run.skipped.is_none() {
                jpg_run.record(timed_file(runner, &["scrot", "-o", &jpg_s], &jpg).await);
            }
            if let (Some(scrot_time), None) = (scrot_time, &webp_run.skipped) {
                let encoded =
                    timed_file(runner, &["cwebp", "-q", "80", &png_s, "-o", &webp_s], &webp).await;
                webp_run.record(encoded.map(|(t, bytes)| (t + scrot_time, bytes)));
            }
        }
        for (key, sampler) in [
            ("screen_shot.png.no_stabilize", png_run),
            ("screen_shot.jpeg.no_stabilize", jpg_run),
            ("screen_shot.webp.no_stabilize", webp_run),
        ] {
            self.attach(key, Some(sampler.finish()));
        }
    }

    /// Puts a conventional measurement beside our row with `key`.
    fn attach(&mut self, key: &str, conventional: Option<report::Conventional>) {
        if let Some(row) = self.report.operations.iter_mut().find(|r| r.key == key) {
            *row = row.clone().with_conventional(conventional);
        }
    }

    /// Runs a conventional command `runs` times (the i-th run's argv from `argv(i)`), each
    /// timed from spawn to exit. `None` when no display is known.
    async fn conventional(
        &self,
        how: &str,
        runs: usize,
        argv: impl Fn(usize) -> Vec<String>,
    ) -> Option<report::Conventional> {
        let runner = self.runner.as_ref()?;
        let program = argv(0).first().cloned().unwrap_or_default();
        let mut sampler = ConvSampler::new(how, &[&program]);
        for i in 0..runs {
            if sampler.skipped.is_some() {
                break;
            }
            let argv = argv(i);
            let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
            let run = runner.run(&argv, None, false).await;
            sampler.record(run.map(|f| (f.elapsed, None)));
        }
        Some(sampler.finish())
    }

    async fn clicks(&mut self) -> anyhow::Result<()> {
        self.progress
            .step("mouse_click switching windows (+ xdotool)");
        let points = [self.layout.firefox_point(), self.layout.term_point()];
        self.measure(
            "mouse_click",
            "mouse_click, switching windows",
            "mouse_click",
            false,
            |i| json!({"x": points[i % 2].0, "y": points[i % 2].1}),
            Some(ghostdesk::CLICK),
        )
        .await;
        let conventional = self
            .conventional("xdotool mousemove X Y click 1", self.n, |i| {
                let (x, y) = points[i % 2];
                argv(&[
                    "xdotool",
                    "mousemove",
                    &x.to_string(),
                    &y.to_string(),
                    "click",
                    "1",
                ])
            })
            .await;
        self.attach("mouse_click", conventional);
        self.click_terminal().await
    }

    async fn typing(&mut self) -> anyhow::Result<()> {
        self.progress.step("key_type 5 chars (+ xdotool type)");
        self.measure(
            "key_type.5",
            "key_type 5 chars, terminal",
            "key_type",
            false,
            |_| json!({"text": "hello"}),
            Some(ghostdesk::TYPE_5),
        )
        .await;
        let conventional = self
            .conventional("xdotool type hello", self.n, |_| {
                argv(&["xdotool", "type", "hello"])
            })
            .await;
        self.attach("key_type.5", conventional);

        // BackSpace deletes what was just typed, so every press is visible.
        self.progress.step("key_press BackSpace (+ xdotool key)");
        self.measure(
            "key_press",
            "key_press BackSpace, terminal",
            "key_press",
            false,
            |_| json!({"keys": "BackSpace"}),
            Some(ghostdesk::KEY),
        )
        .await;
        let conventional = self
            .conventional("xdotool key BackSpace", self.n, |_| {
                argv(&["xdotool", "key", "BackSpace"])
            })
            .await;
        self.attach("key_press", conventional);
        // End the line, so the long texts start on a fresh one.
        self.call("key_press", json!({"keys": "Return"})).await?;

        self.progress.step("key_type 500 chars");
        self.measure(
            "key_type.500",
            "key_type 500 chars, terminal",
            "key_type",
            false,
            |i| json!({"text": long_text(i)}),
            Some(ghostdesk::TYPE_LONG),
        )
        .await;
        // xdotool waits between keystrokes (its --delay): ~3 s a run, so only a few runs, and
        // none in a quick run.
        let (runs, n) = (if self.quick { 0 } else { 3 }, self.n);
        let mut conventional = self
            .conventional("xdotool type TEXT (500 chars)", runs, |i| {
                argv(&["xdotool", "type", &long_text(n + i)])
            })
            .await;
        if let Some(c) = conventional.as_mut().filter(|_| runs == 0) {
            c.skipped
                .get_or_insert_with(|| "not run with --quick (~3 s a run)".into());
        }
        self.attach("key_type.500", conventional);
        Ok(())
    }

    async fn clipboard(&mut self) {
        self.progress
            .step("clipboard_set + clipboard_get (+ xclip)");
        let mut sampler = Sampler::default();
        let text_for = |i: usize| format!("agentdesk bench {i}: a clipboard round trip, é € 😀 ✓");
        for i in 0..self.n {
            let text = text_for(i);
            let started = Instant::now();
            let set = self
                .client
                .call_tool("clipboard_set", json!({"text": text}))
                .await;
            let outcome = match set {
                Ok(r) if !r.is_error => self.client.call_tool("clipboard_get", json!({})).await,
                other => other,
            };
            let elapsed = started.elapsed();
            if let Some(result) = sampler.tool(elapsed, outcome) {
                let got = result.result["structuredContent"]["result"]
                    .as_str()
                    .or(result.text())
                    .unwrap_or_default();
                if got != text {
                    sampler.ms.pop();
                    sampler
                        .errors
                        .push(format!("clipboard_get returned {got:?}, expected {text:?}"));
                }
            }
        }
        let row = sampler.row(
            "clipboard",
            "clipboard_set + clipboard_get",
            "clipboard_set",
            json!({"text": text_for(0)}),
            self.n,
            Some(ghostdesk::CLIPBOARD),
        );
        self.report.operations.push(row);

        let Some(runner) = &self.runner else { return };
        let mut conv = ConvSampler::new(
            "xclip -selection clipboard -i < FILE; xclip -selection clipboard -o",
            &["xclip"],
        );
        let file = runner.file("clipboard.txt");
        for i in 0..self.n {
            if conv.skipped.is_some() {
                break;
            }
            let text = text_for(i);
            if let Err(e) = std::fs::write(&file, &text) {
                conv.errors.push(e.to_string());
                continue;
            }
            let args = ["xclip", "-selection", "clipboard"];
            let set = runner
                .run(&[&args[..], &["-i"]].concat(), Some(&file), false)
                .await;
            // `xclip -i` leaves a process behind to serve the selection; it must live until
            // the `-o` has read it (dropping `owner` ends it).
            let owner = match set {
                Ok(f) => f,
                Err(e) => {
                    conv.errors.push(format!("{e:#}"));
                    continue;
                }
            };
            let get = runner.run(&[&args[..], &["-o"]].concat(), None, true).await;
            conv.record(get.and_then(|f| {
                if f.stdout != text.as_bytes() {
                    bail!(
                        "xclip -o returned {:?}, expected {text:?}",
                        String::from_utf8_lossy(&f.stdout)
                    );
                }
                Ok((owner.elapsed + f.elapsed, None))
            }));
            drop(owner);
        }
        self.attach("clipboard", Some(conv.finish()));
    }

    async fn app_launch(&mut self) {
        self.progress.step("app_launch xterm -e true");
        let mut sampler = Sampler::default();
        let mut pids = Vec::new();
        let args = json!({"command": "xterm -e true"});
        for _ in 0..self.n {
            let started = Instant::now();
            let outcome = self.client.call_tool("app_launch", args.clone()).await;
            if let Some(result) = sampler.tool(started.elapsed(), outcome) {
                let body: Value = result
                    .text()
                    .and_then(|t| serde_json::from_str(t).ok())
                    .unwrap_or_default();
                match body["pid"].as_u64() {
                    Some(pid) => pids.push(pid),
                    None => {
                        sampler.ms.pop();
                        sampler.errors.push(format!("app_launch answered {body}"));
                    }
                }
            }
        }
        let row = sampler.row(
            "app_launch",
            "app_launch (xterm -e true)",
            "app_launch",
            args,
            self.n,
            Some(ghostdesk::APP_LAUNCH),
        );
        self.report.operations.push(row);
        // Let the short-lived terminals go before measuring anything else.
        let deadline = Instant::now() + Duration::from_secs(20);
        while !pids.is_empty() && Instant::now() < deadline {
            let mut still = Vec::new();
            for pid in pids {
                let running = self
                    .client
                    .call_tool("app_status", json!({"pid": pid, "lines": 1}))
                    .await
                    .ok()
                    .and_then(|r| r.text().and_then(|t| serde_json::from_str::<Value>(t).ok()))
                    .is_some_and(|s| s["running"] == true);
                if running {
                    still.push(pid);
                }
            }
            pids = still;
            if !pids.is_empty() {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        if !pids.is_empty() {
            self.note(format!("{} launched xterms were still running", pids.len()));
        }
    }

    async fn concurrency(&mut self) -> anyhow::Result<()> {
        self.progress.step("4 clients in parallel");
        self.click_terminal().await?;
        let duration = Duration::from_secs(if self.quick { 2 } else { 6 });
        let (a, b) = self.layout.term_point();
        let mut tasks = Vec::new();
        for worker in 0..4 {
            let mut client = Client::new(self.addr);
            tasks.push(tokio::spawn(async move {
                let started = Instant::now();
                let mut calls: Vec<(&'static str, f64, Option<String>)> = Vec::new();
                let mut i = 0usize;
                while started.elapsed() < duration {
                    // Three clients read the screen; one types and moves the pointer, as an
                    // agent and a watcher (or several agents' screenshots) would together.
                    let (tool, args) = match (worker, i % 2) {
                        (0..=2, _) => ("screen_shot", json!({"stabilize": false})),
                        (_, 0) => ("key_press", json!({"keys": "Return"})),
                        _ => ("mouse_move", json!({"x": a, "y": b + (i % 4) as u32 * 20})),
                    };
                    let t = Instant::now();
                    let outcome = client.call_tool(tool, args).await;
                    let elapsed = ms(t.elapsed());
                    let error = match outcome {
                        Ok(r) if !r.is_error => None,
                        Ok(r) => Some(r.error_text()),
                        Err(e) => Some(format!("{e:#}")),
                    };
                    calls.push((tool, elapsed, error));
                    i += 1;
                }
                (calls, started.elapsed())
            }));
        }
        let mut all = Vec::new();
        let mut wall = Duration::ZERO;
        for task in tasks {
            let (calls, elapsed) = task.await.context("a concurrent client panicked")?;
            wall = wall.max(elapsed);
            all.extend(calls);
        }
        let mut per_op = Vec::new();
        for op in ["screen_shot", "key_press", "mouse_move"] {
            let samples: Vec<f64> = all
                .iter()
                .filter(|c| c.0 == op && c.2.is_none())
                .map(|c| c.1)
                .collect();
            per_op.push(OpStats {
                op: op.to_string(),
                calls: all.iter().filter(|c| c.0 == op).count(),
                stats: Stats::of(&samples),
            });
        }
        let errors: Vec<String> = all.iter().filter_map(|c| c.2.clone()).collect();
        self.report.concurrency = Some(Concurrency {
            clients: 4,
            screenshot_clients: 3,
            input_clients: 1,
            seconds: wall.as_secs_f64(),
            calls: all.len(),
            calls_per_second: all.len() as f64 / wall.as_secs_f64().max(1e-9),
            error_count: errors.len(),
            errors: errors.into_iter().take(10).collect(),
            per_op,
        });
        Ok(())
    }
}

/// CPU count and model, and the kernel: what a reader needs to compare runs.
fn machine() -> Machine {
    let cpu_model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_default();
    Machine {
        cpus: std::thread::available_parallelism().map_or(0, usize::from),
        cpu_model,
        kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .map(|k| k.trim().to_string())
            .unwrap_or_default(),
    }
}

/// The `format` values `screen_shot`'s input schema allows (an `enum`, or `oneOf`/`anyOf` of
/// `const`s), in the order it lists them.
fn screen_shot_formats(tools_list: &Value) -> Vec<String> {
    let Some(tool) = tools_list["tools"]
        .as_array()
        .and_then(|t| t.iter().find(|t| t["name"] == "screen_shot"))
    else {
        return Vec::new();
    };
    let format = &tool["inputSchema"]["properties"]["format"];
    if let Some(values) = format["enum"].as_array() {
        return values
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect();
    }
    ["oneOf", "anyOf"]
        .iter()
        .filter_map(|k| format[*k].as_array())
        .flatten()
        .filter_map(|v| v["const"].as_str().map(str::to_string))
        .collect()
}

/// [`LONG_TEXT_LEN`] characters ending in a newline (Enter), so a terminal's line never fills.
/// Each iteration's text is different: the same block typed again scrolls the terminal to the
/// very same picture once it fills the screen, and "no visible change" would be right.
fn long_text(iteration: usize) -> String {
    let mut text: String = format!("#{iteration} ")
        .chars()
        .chain(LONG_TEXT_UNIT.chars().cycle())
        .take(LONG_TEXT_LEN - 1)
        .collect();
    text.push('\n');
    text
}

/// Locks a mutex even if a panic poisoned it (the server's log lines behind it stay valid).
pub(crate) fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_come_from_the_schema_in_either_shape() {
        let one_of = json!({"tools": [{"name": "screen_shot", "inputSchema": {"properties": {
            "format": {"oneOf": [{"const": "webp"}, {"const": "png"}, {"const": "jpeg"}]}}}}]});
        assert_eq!(screen_shot_formats(&one_of), ["webp", "png", "jpeg"]);
        let enumerated = json!({"tools": [{"name": "mouse_move"}, {"name": "screen_shot",
            "inputSchema": {"properties": {"format": {"enum": ["png", "avif"]}}}}]});
        assert_eq!(screen_shot_formats(&enumerated), ["png", "avif"]);
        assert!(screen_shot_formats(&json!({"tools": []})).is_empty());
    }

    #[test]
    fn the_long_text_is_500_characters_ending_in_enter() {
        let text = long_text(7);
        assert_eq!(text.chars().count(), 500);
        assert!(text.ends_with('\n') && !text[..499].contains('\n'));
        assert!(text.starts_with("#7 The quick"));
        assert_ne!(long_text(8), text);
    }
}
