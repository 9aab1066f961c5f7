//! Snapshots and files, measured in the server under test: a desktop whose home holds a used
//! Firefox profile and 100 MB of files (half already compressed, half text) is saved, saved
//! again after one 1 MB file changed (what that adds to the store), restored, and cloned into a
//! new desktop timed to its first screenshot; then 50 MB goes in and out over REST, with the
//! server's memory watched meanwhile (it must not grow with the file: bodies are streamed).
//!
//! Everything goes through the REST API and MCP, as an operator and an agent would.

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::json;

use crate::client::Client;
use crate::report::markdown_table;
use crate::under_test::ms;

/// The desktop measured, and its clone.
const DESKTOP: &str = "bench-snap";
const CLONE: &str = "bench-clone";

/// What the measurement found.
#[derive(Debug, Clone, Default, Serialize)]
pub(crate) struct SnapshotReport {
    /// The home's files and bytes when saved.
    pub(crate) files: u64,
    pub(crate) home_mb: f64,
    /// Whether Firefox had run on it (its profile is part of the home).
    pub(crate) firefox_profile: bool,
    pub(crate) save_ms: Option<f64>,
    /// A second save after one 1 MB file changed, and what it added to the store.
    pub(crate) second_save_ms: Option<f64>,
    pub(crate) second_added_mb: Option<f64>,
    pub(crate) restore_ms: Option<f64>,
    /// `POST /api/desktops {from_snapshot}` until the clone's first screenshot.
    pub(crate) clone_to_first_screenshot_ms: Option<f64>,
    pub(crate) upload_mb_s: Option<f64>,
    pub(crate) download_mb_s: Option<f64>,
    /// The server's resident memory before the transfers and at most during them.
    pub(crate) server_rss_before_mib: Option<f64>,
    pub(crate) server_rss_peak_mib: Option<f64>,
    pub(crate) errors: Vec<String>,
}

/// Runs the measurement against the server at `addr` (process `server`, data in `data_dir`);
/// `quick` uses 10 MB of files and no browser.
pub(crate) async fn measure(
    addr: SocketAddr,
    server: u32,
    data_dir: &Path,
    quick: bool,
) -> SnapshotReport {
    let mut report = SnapshotReport::default();
    if let Err(e) = run(&mut report, addr, server, data_dir, quick).await {
        report.errors.push(format!("{e:#}"));
    }
    let mut api = Client::new(addr);
    for id in [DESKTOP, CLONE] {
        let _ = api
            .rest("DELETE", &format!("/api/desktops/{id}"), None)
            .await;
    }
    report
}

async fn run(
    report: &mut SnapshotReport,
    addr: SocketAddr,
    server: u32,
    data_dir: &Path,
    quick: bool,
) -> anyhow::Result<()> {
    let mut api = Client::new(addr);
    expect(
        api.rest("POST", "/api/desktops", Some(json!({"id": DESKTOP})))
            .await?,
        201,
    )?;
    let home = data_dir.join("desktops").join(DESKTOP).join("home");
    if !quick {
        report.firefox_profile = use_firefox(addr, &home).await?;
    }
    let files: u64 = if quick { 10 } else { 100 };
    let dir = home.join("Downloads");
    std::fs::create_dir_all(&dir)?;
    for i in 0..files {
        // Half as a download would be (incompressible), half text.
        let data = if i % 2 == 0 {
            noise(1_000_000, i)
        } else {
            format!("line {i} of a report that compresses well\n")
                .repeat(25_000)
                .into_bytes()[..1_000_000]
                .to_vec()
        };
        std::fs::write(dir.join(format!("file-{i:03}")), data)?;
    }

    let started = Instant::now();
    let (status, saved) = api
        .rest(
            "POST",
            &format!("/api/desktops/{DESKTOP}/snapshots"),
            Some(json!({"label": "bench"})),
        )
        .await?;
    expect((status, saved.clone()), 201)?;
    report.save_ms = Some(ms(started.elapsed()));
    report.files = saved["files"].as_u64().unwrap_or(0);
    report.home_mb = saved["bytes"].as_f64().unwrap_or(0.0) / 1e6;

    std::fs::write(dir.join("file-000"), noise(1_000_000, 999))?;
    let started = Instant::now();
    let (status, second) = api
        .rest("POST", &format!("/api/desktops/{DESKTOP}/snapshots"), None)
        .await?;
    expect((status, second.clone()), 201)?;
    report.second_save_ms = Some(ms(started.elapsed()));
    report.second_added_mb = second["added_bytes"].as_f64().map(|b| b / 1e6);

    let started = Instant::now();
    let restore = json!({"snapshot": saved["id"]});
    expect(
        api.rest(
            "POST",
            &format!("/api/desktops/{DESKTOP}/restore"),
            Some(restore),
        )
        .await?,
        200,
    )?;
    report.restore_ms = Some(ms(started.elapsed()));

    let started = Instant::now();
    let clone = json!({"id": CLONE, "from_snapshot": saved["id"]});
    expect(api.rest("POST", "/api/desktops", Some(clone)).await?, 201)?;
    let mut client = Client::at(addr, &format!("/desktops/{CLONE}/mcp"));
    let shot = client
        .call_tool("screen_shot", json!({"stabilize": false}))
        .await?;
    if shot.is_error {
        anyhow::bail!("the clone's screenshot: {}", shot.error_text());
    }
    report.clone_to_first_screenshot_ms = Some(ms(started.elapsed()));

    transfers(report, &mut api, server).await
}

/// Starts Firefox on the desktop, lets it make and use its profile, and closes it; whether its
/// profile is there.
async fn use_firefox(addr: SocketAddr, home: &Path) -> anyhow::Result<bool> {
    let mut client = Client::at(addr, &format!("/desktops/{DESKTOP}/mcp"));
    let launched = client
        .call_tool(
            "app_launch",
            json!({"command": "firefox-esr about:support"}),
        )
        .await?;
    if launched.is_error {
        return Ok(false);
    }
    let profile = home.join(".mozilla/firefox/agentdesk");
    let deadline = Instant::now() + Duration::from_secs(60);
    while !profile.join("places.sqlite").exists() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Its first minutes' writes: caches, session, databases.
    tokio::time::sleep(Duration::from_secs(5)).await;
    Ok(profile.join("places.sqlite").exists())
}

/// 50 MB (5 with --quick) up and down over REST, with the server's memory sampled meanwhile.
async fn transfers(
    report: &mut SnapshotReport,
    api: &mut Client,
    server: u32,
) -> anyhow::Result<()> {
    let size = 50_000_000;
    let data = noise(size, 7);
    report.server_rss_before_mib = rss_mib(server);
    let watching = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let watcher = {
        let watching = watching.clone();
        tokio::spawn(async move {
            let mut peak: f64 = 0.0;
            while watching.load(std::sync::atomic::Ordering::Relaxed) {
                peak = peak.max(rss_mib(server).unwrap_or(0.0));
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            peak
        })
    };
    let path = format!("/api/desktops/{DESKTOP}/files/Downloads/transfer.bin");
    let started = Instant::now();
    let (status, answer) = api.raw("PUT", &path, &data).await?;
    let up = started.elapsed();
    let started = Instant::now();
    let (down_status, back) = api.raw("GET", &path, &[]).await?;
    let down = started.elapsed();
    watching.store(false, std::sync::atomic::Ordering::Relaxed);
    report.server_rss_peak_mib = watcher.await.ok();
    if status != 201 {
        anyhow::bail!(
            "upload: HTTP {status}: {}",
            String::from_utf8_lossy(&answer)
        );
    }
    if down_status != 200 || back != data {
        anyhow::bail!(
            "download: HTTP {down_status}, {} bytes, not what was sent",
            back.len()
        );
    }
    report.upload_mb_s = Some(size as f64 / 1e6 / up.as_secs_f64());
    report.download_mb_s = Some(size as f64 / 1e6 / down.as_secs_f64());
    Ok(())
}

fn expect((status, body): (u16, serde_json::Value), want: u16) -> anyhow::Result<()> {
    if status != want {
        anyhow::bail!("HTTP {status}: {body}");
    }
    Ok(())
}

/// Bytes that do not compress (a seeded xorshift), as downloads are.
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

fn rss_mib(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib / 1024.0)
}

impl SnapshotReport {
    /// What went wrong, for the run's failures.
    pub(crate) fn problems(&self) -> Vec<String> {
        self.errors
            .iter()
            .map(|e| format!("snapshots: {e}"))
            .collect()
    }

    /// The Markdown section printed after the run.
    pub(crate) fn render(&self) -> String {
        let f = |v: Option<f64>| v.map_or("—".to_string(), |v| format!("{v:.1}"));
        let rows = vec![
            vec![
                format!(
                    "save a home of {} files, {:.0} MB{} (ms)",
                    self.files,
                    self.home_mb,
                    if self.firefox_profile {
                        ", a used Firefox profile among them"
                    } else {
                        ""
                    }
                ),
                f(self.save_ms),
                "≤ 2000".into(),
            ],
            vec![
                "save again after one 1 MB file changed: ms / MB added to the store".into(),
                format!("{} / {}", f(self.second_save_ms), f(self.second_added_mb)),
                "≤ 2 MB".into(),
            ],
            vec![
                "restore it (ms)".into(),
                f(self.restore_ms),
                "≤ 2000".into(),
            ],
            vec![
                "clone: create from the snapshot to first screenshot (ms)".into(),
                f(self.clone_to_first_screenshot_ms),
                "≤ 1000".into(),
            ],
            vec![
                "50 MB over REST: upload / download (MB/s)".into(),
                format!("{} / {}", f(self.upload_mb_s), f(self.download_mb_s)),
                "≥ 200".into(),
            ],
            vec![
                "the server's RSS before / at most during them (MiB)".into(),
                format!(
                    "{} / {}",
                    f(self.server_rss_before_mib),
                    f(self.server_rss_peak_mib)
                ),
                "no growth with the file".into(),
            ],
        ];
        let mut out = String::from("\nSnapshots and files (over REST):\n\n");
        out.push_str(&markdown_table(&["measure", "value", "target"], &rows));
        out
    }
}
