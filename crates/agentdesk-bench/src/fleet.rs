//! The fleet, measured in the server under test: how fast a new desktop answers its first
//! screenshot, what an idle desktop costs in memory, how calls fare when many desktops are
//! driven at once, what a paused desktop uses and how fast it comes back, and that destroying
//! them leaves nothing behind.
//!
//! Desktops are created and destroyed over the REST API and driven through their own MCP
//! endpoints (`/desktops/{id}/mcp`), as a fleet's operator and agents would.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::json;

use crate::client::Client;
use crate::memory::{all_processes, parse_smaps_rollup, tree};
use crate::report::{markdown_table, ratio, Stats};
use crate::under_test::ms;

/// How much of the fleet to measure.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Plan {
    /// Desktops whose creation is timed to their first screenshot.
    pub(crate) creates: usize,
    /// Desktops running at once for the memory figure (the server's default one included).
    pub(crate) idle: usize,
    /// Desktops driven at once, one client each.
    pub(crate) concurrent: usize,
    /// How long the concurrent clients (and the single one before them) run.
    pub(crate) seconds: u64,
}

impl Plan {
    pub(crate) fn new(quick: bool) -> Plan {
        if quick {
            Plan {
                creates: 3,
                idle: 5,
                concurrent: 3,
                seconds: 2,
            }
        } else {
            Plan {
                creates: 10,
                idle: 100,
                concurrent: 10,
                seconds: 5,
            }
        }
    }
}

/// Calls on many desktops at once against one desktop alone.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Together {
    pub(crate) desktops: usize,
    /// `screen_shot` (no stabilize) on one desktop, one client.
    pub(crate) alone: Option<Stats>,
    /// The same call, one client per desktop, all at once.
    pub(crate) together: Option<Stats>,
    /// together p50 / alone p50.
    pub(crate) ratio: Option<f64>,
    pub(crate) calls: usize,
    pub(crate) errors: usize,
    /// The same with each client pausing 100 ms after each call (an agent is far slower still:
    /// a model thinks between calls), so the clients do not only measure the CPUs' throughput.
    pub(crate) paced: Option<Stats>,
    pub(crate) paced_ratio: Option<f64>,
}

/// What the fleet measurement found.
#[derive(Debug, Clone, Default, Serialize)]
pub(crate) struct FleetReport {
    pub(crate) plan_idle: usize,
    /// `POST /api/desktops` until the new desktop's first screenshot arrived.
    pub(crate) create_to_first_screenshot: Option<Stats>,
    /// Desktops running at once, and how many of them answered a screenshot.
    pub(crate) idle_desktops: usize,
    pub(crate) idle_answered: usize,
    /// Median USS of one idle desktop's processes (bwrap, init, X server, window manager,
    /// bus), in MiB, and per process name.
    pub(crate) unique_per_desktop_mib: Option<f64>,
    pub(crate) unique_by_name_mib: BTreeMap<String, f64>,
    /// The server process alone, with all those desktops: RSS and USS in MiB.
    pub(crate) server_rss_mib: Option<f64>,
    pub(crate) server_uss_mib: Option<f64>,
    pub(crate) together: Option<Together>,
    /// CPU time (ticks) a paused desktop's processes used over one second.
    pub(crate) paused_cpu_ticks: Option<u64>,
    /// The first call after a pause (which resumes the desktop first), in ms.
    pub(crate) first_call_after_pause_ms: Option<f64>,
    /// `DELETE /api/desktops/{id}` until it answered.
    pub(crate) destroy: Option<Stats>,
    /// Desktop processes still running after every created desktop was destroyed.
    pub(crate) leftovers: Vec<String>,
    pub(crate) errors: Vec<String>,
}

/// Runs the fleet measurement against the server at `addr` (process `server`).
pub(crate) async fn measure(addr: SocketAddr, server: u32, plan: Plan) -> FleetReport {
    let mut report = FleetReport {
        plan_idle: plan.idle,
        ..FleetReport::default()
    };
    let mut api = Client::new(addr);
    let before: Vec<u32> = sandboxes(server);
    let mut ids = Vec::new();

    // New desktops, timed to their first screenshot.
    let mut samples = Vec::new();
    for i in 0..plan.creates {
        let id = format!("bench-{i}");
        let started = Instant::now();
        match create_and_shoot(&mut api, addr, &id).await {
            Ok(()) => {
                samples.push(ms(started.elapsed()));
                ids.push(id);
            }
            Err(e) => report.errors.push(format!("creating {id}: {e:#}")),
        }
    }
    report.create_to_first_screenshot = Stats::of(&samples);

    // Up to the idle count (the server's own desktop is one), each answering a screenshot.
    let mut total = list(&mut api).await.len();
    let mut i = plan.creates;
    let mut failures = 0;
    while total < plan.idle && failures < 3 {
        let id = format!("bench-{i}");
        i += 1;
        match api
            .rest("POST", "/api/desktops", Some(json!({ "id": id })))
            .await
        {
            Ok((201, _)) => {
                ids.push(id);
                total += 1;
            }
            Ok((status, body)) => {
                failures += 1;
                report
                    .errors
                    .push(format!("creating {id}: HTTP {status}: {body}"));
            }
            Err(e) => {
                failures += 1;
                report.errors.push(format!("creating {id}: {e:#}"));
            }
        }
    }
    let everyone = list(&mut api).await;
    report.idle_desktops = everyone.len();
    for id in &everyone {
        let mut client = Client::at(addr, &format!("/desktops/{id}/mcp"));
        match client
            .call_tool("screen_shot", json!({"stabilize": false}))
            .await
        {
            Ok(r) if !r.is_error => report.idle_answered += 1,
            Ok(r) => report
                .errors
                .push(format!("{id}'s screenshot: {}", r.error_text())),
            Err(e) => report.errors.push(format!("{id}'s screenshot: {e:#}")),
        }
    }
    // Idle, as the figure says: the window managers and buses settle, and the server gives
    // back each idle desktop's screenshot memory after a few seconds.
    tokio::time::sleep(Duration::from_secs(8)).await;
    memory(&mut report, server, &before);

    if ids.len() >= plan.concurrent.max(1) {
        report.together = Some(together(addr, &ids[..plan.concurrent], plan.seconds).await);
    }
    if let Some(id) = ids.first() {
        pause_and_resume(&mut report, &mut api, addr, server, id).await;
    }

    let mut destroys = Vec::new();
    for id in &ids {
        let started = Instant::now();
        match api
            .rest("DELETE", &format!("/api/desktops/{id}"), None)
            .await
        {
            Ok((200, _)) => destroys.push(ms(started.elapsed())),
            Ok((status, body)) => report
                .errors
                .push(format!("destroying {id}: HTTP {status}: {body}")),
            Err(e) => report.errors.push(format!("destroying {id}: {e:#}")),
        }
    }
    report.destroy = Stats::of(&destroys);
    let after = sandboxes(server);
    let all = all_processes();
    for pid in after.iter().filter(|p| !before.contains(p)) {
        for p in tree(&all, *pid) {
            report.leftovers.push(format!("{}[{}]", p.comm, p.pid));
        }
    }
    report
}

/// The ids of the server's desktops.
async fn list(api: &mut Client) -> Vec<String> {
    match api.rest("GET", "/api/desktops", None).await {
        Ok((200, body)) => body["desktops"]
            .as_array()
            .map(|d| {
                d.iter()
                    .filter_map(|d| d["id"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default(),
        _ => Vec::new(),
    }
}

async fn create_and_shoot(api: &mut Client, addr: SocketAddr, id: &str) -> anyhow::Result<()> {
    let (status, body) = api
        .rest("POST", "/api/desktops", Some(json!({ "id": id })))
        .await?;
    if status != 201 {
        anyhow::bail!("HTTP {status}: {body}");
    }
    let mut client = Client::at(addr, &format!("/desktops/{id}/mcp"));
    let shot = client
        .call_tool("screen_shot", json!({"stabilize": false}))
        .await?;
    if shot.is_error {
        anyhow::bail!("{}", shot.error_text());
    }
    Ok(())
}

/// The server's sandboxes: its `bwrap` children, one per running desktop.
fn sandboxes(server: u32) -> Vec<u32> {
    all_processes()
        .into_iter()
        .filter(|p| p.ppid == server && p.comm == "bwrap" && p.state != 'Z')
        .map(|p| p.pid)
        .collect()
}

fn uss_kib(pid: u32) -> Option<(u64, u64)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).ok()?;
    let usage = parse_smaps_rollup(&text);
    Some((usage.uss_kib, usage.rss_kib))
}

fn median(mut values: Vec<f64>) -> Option<f64> {
    values.sort_by(f64::total_cmp);
    values.get(values.len().checked_sub(1)? / 2).copied()
}

/// Unique memory per desktop (the median over the desktops created here: the server's own
/// desktop has run the benchmark's apps), and the server's own.
fn memory(report: &mut FleetReport, server: u32, before: &[u32]) {
    let all = all_processes();
    let mut per_desktop = Vec::new();
    let mut per_name: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for sandbox in sandboxes(server).iter().filter(|p| !before.contains(p)) {
        let mut total = 0;
        let mut names: BTreeMap<String, u64> = BTreeMap::new();
        for p in tree(&all, *sandbox) {
            if let Some((uss, _)) = uss_kib(p.pid) {
                total += uss;
                *names.entry(p.comm.clone()).or_default() += uss;
            }
        }
        per_desktop.push(total as f64 / 1024.0);
        for (name, kib) in names {
            per_name.entry(name).or_default().push(kib as f64 / 1024.0);
        }
    }
    report.unique_per_desktop_mib = median(per_desktop);
    report.unique_by_name_mib = per_name
        .into_iter()
        .filter_map(|(name, values)| Some((name, median(values)?)))
        .collect();
    if let Some((uss, rss)) = uss_kib(server) {
        report.server_uss_mib = Some(uss as f64 / 1024.0);
        report.server_rss_mib = Some(rss as f64 / 1024.0);
    }
}

/// One client on one desktop, then one client on each of `ids` at once, back to back and then
/// paced.
async fn together(addr: SocketAddr, ids: &[String], seconds: u64) -> Together {
    let duration = Duration::from_secs(seconds);
    let run = |id: String, pause: Duration| async move {
        let mut client = Client::at(addr, &format!("/desktops/{id}/mcp"));
        let started = Instant::now();
        let mut samples = Vec::new();
        let mut errors = 0;
        while started.elapsed() < duration {
            let t = Instant::now();
            match client
                .call_tool("screen_shot", json!({"stabilize": false}))
                .await
            {
                Ok(r) if !r.is_error => samples.push(ms(t.elapsed())),
                _ => errors += 1,
            }
            tokio::time::sleep(pause).await;
        }
        (samples, errors)
    };
    let all_at_once = |pause: Duration| async move {
        let tasks: Vec<_> = ids
            .iter()
            .map(|id| tokio::spawn(run(id.clone(), pause)))
            .collect();
        let (mut samples, mut errors) = (Vec::new(), 0);
        for task in tasks {
            match task.await {
                Ok((s, e)) => {
                    samples.extend(s);
                    errors += e;
                }
                Err(_) => errors += 1,
            }
        }
        (samples, errors)
    };
    let (alone, alone_errors) = run(ids[0].clone(), Duration::ZERO).await;
    let (samples, errors) = all_at_once(Duration::ZERO).await;
    let (paced, paced_errors) = all_at_once(Duration::from_millis(100)).await;
    let alone = Stats::of(&alone);
    let together = Stats::of(&samples);
    let paced = Stats::of(&paced);
    Together {
        desktops: ids.len(),
        ratio: ratio(together.map(|s| s.p50_ms), alone.map(|s| s.p50_ms)),
        paced_ratio: ratio(paced.map(|s| s.p50_ms), alone.map(|s| s.p50_ms)),
        alone,
        together,
        paced,
        calls: samples.len(),
        errors: errors + alone_errors + paced_errors,
    }
}

/// Pauses `id`, reads its CPU time over a second, then times the call that resumes it.
async fn pause_and_resume(
    report: &mut FleetReport,
    api: &mut Client,
    addr: SocketAddr,
    server: u32,
    id: &str,
) {
    let before: Vec<u32> = sandboxes(server);
    match api
        .rest("POST", &format!("/api/desktops/{id}/pause"), None)
        .await
    {
        Ok((200, body)) if body["state"] == "paused" => {}
        Ok((status, body)) => {
            report
                .errors
                .push(format!("pausing {id}: HTTP {status}: {body}"));
            return;
        }
        Err(e) => {
            report.errors.push(format!("pausing {id}: {e:#}"));
            return;
        }
    }
    // Its processes: the sandbox whose tree holds a process tagged with its runtime dir.
    let all = all_processes();
    let pids: Vec<u32> = before
        .iter()
        .map(|s| tree(&all, *s))
        .find(|t| t.iter().any(|p| tagged(p.pid, id)))
        .map(|t| t.iter().map(|p| p.pid).collect())
        .unwrap_or_default();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let start = cpu_ticks(&pids);
    tokio::time::sleep(Duration::from_secs(1)).await;
    report.paused_cpu_ticks = Some(cpu_ticks(&pids).saturating_sub(start));
    let mut client = Client::at(addr, &format!("/desktops/{id}/mcp"));
    let t = Instant::now();
    match client
        .call_tool("screen_shot", json!({"stabilize": false}))
        .await
    {
        Ok(r) if !r.is_error => report.first_call_after_pause_ms = Some(ms(t.elapsed())),
        Ok(r) => report
            .errors
            .push(format!("the call after the pause: {}", r.error_text())),
        Err(e) => report
            .errors
            .push(format!("the call after the pause: {e:#}")),
    }
}

/// Whether process `pid` carries desktop `id`'s runtime directory.
fn tagged(pid: u32, id: &str) -> bool {
    std::fs::read(format!("/proc/{pid}/environ")).is_ok_and(|env| {
        env.split(|&b| b == 0).any(|var| {
            var.starts_with(b"XDG_RUNTIME_DIR=") && var.ends_with(format!("/{id}").as_bytes())
        })
    })
}

fn cpu_ticks(pids: &[u32]) -> u64 {
    pids.iter()
        .filter_map(|pid| std::fs::read_to_string(format!("/proc/{pid}/stat")).ok())
        .filter_map(|stat| {
            let fields: Vec<u64> = stat
                .rsplit_once(')')?
                .1
                .split_whitespace()
                .skip(11)
                .take(2)
                .filter_map(|f| f.parse().ok())
                .collect();
            Some(fields.iter().sum::<u64>())
        })
        .sum()
}

impl FleetReport {
    /// What went wrong, for the run's failures.
    pub(crate) fn problems(&self) -> Vec<String> {
        let mut problems: Vec<String> = self
            .errors
            .iter()
            .take(5)
            .map(|e| format!("fleet: {e}"))
            .collect();
        if self.idle_answered < self.idle_desktops {
            problems.push(format!(
                "fleet: {} of {} desktops answered a screenshot",
                self.idle_answered, self.idle_desktops
            ));
        }
        if let Some(t) = &self.together {
            if t.errors > 0 {
                problems.push(format!(
                    "fleet: {} calls failed with desktops driven at once",
                    t.errors
                ));
            }
        }
        if !self.leftovers.is_empty() {
            problems.push(format!(
                "fleet: still running after every desktop was destroyed: {}",
                self.leftovers.join(", ")
            ));
        }
        problems
    }

    /// The Markdown section printed after the run.
    pub(crate) fn render(&self) -> String {
        let f = |v: Option<f64>| v.map_or("—".to_string(), |v| format!("{v:.1}"));
        let p50 = |s: &Option<Stats>| s.map(|s| s.p50_ms);
        let mut rows = vec![
            vec![
                "new desktop: create to first screenshot, p50 (ms)".to_string(),
                f(p50(&self.create_to_first_screenshot)),
                "≤ 300".into(),
            ],
            vec![
                format!(
                    "idle desktops running at once (answered a screenshot / asked {})",
                    self.plan_idle
                ),
                format!("{}/{}", self.idle_answered, self.idle_desktops),
                "all".into(),
            ],
            vec![
                "unique memory per idle desktop, median USS (MiB)".to_string(),
                f(self.unique_per_desktop_mib),
                "≤ 25".into(),
            ],
            vec![
                "the server process with them, RSS / USS (MiB)".to_string(),
                format!("{} / {}", f(self.server_rss_mib), f(self.server_uss_mib)),
                "≤ 60".into(),
            ],
        ];
        if let Some(t) = &self.together {
            rows.push(vec![
                format!(
                    "{} desktops driven at once, back to back: screen_shot p50, ms (alone: {})",
                    t.desktops,
                    f(p50(&t.alone))
                ),
                format!(
                    "{} ({}×, {} calls, {} errors)",
                    f(p50(&t.together)),
                    f(t.ratio),
                    t.calls,
                    t.errors
                ),
                "—".into(),
            ]);
            rows.push(vec![
                format!(
                    "{} desktops driven at once, 100 ms between a client's calls: p50, ms",
                    t.desktops
                ),
                format!("{} ({}×)", f(p50(&t.paced)), f(t.paced_ratio)),
                "≤ 2× alone, 0 errors".into(),
            ]);
        }
        rows.push(vec![
            "a paused desktop's CPU over 1 s (ticks)".to_string(),
            self.paused_cpu_ticks
                .map_or("—".to_string(), |t| t.to_string()),
            "0".into(),
        ]);
        rows.push(vec![
            "first call after a pause (resumes it), ms".to_string(),
            f(self.first_call_after_pause_ms),
            "≤ 100 + the call".into(),
        ]);
        rows.push(vec![
            "destroy, p50 (ms)".to_string(),
            f(p50(&self.destroy)),
            "—".into(),
        ]);
        let mut out = String::from(
            "\nThe fleet (desktops created over REST, driven through their own MCP endpoints):\n\n",
        );
        out.push_str(&markdown_table(&["measure", "value", "target"], &rows));
        if !self.unique_by_name_mib.is_empty() {
            let parts: Vec<String> = self
                .unique_by_name_mib
                .iter()
                .map(|(name, mib)| format!("{name} {mib:.1}"))
                .collect();
            out.push_str(&format!(
                "\nUnique memory of an idle desktop by process (median MiB): {}.\n",
                parts.join(", ")
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unanswered_desktops_failed_calls_and_leftovers_are_problems() {
        let fine = FleetReport {
            idle_desktops: 3,
            idle_answered: 3,
            ..FleetReport::default()
        };
        assert!(fine.problems().is_empty());
        let bad = FleetReport {
            idle_desktops: 3,
            idle_answered: 2,
            leftovers: vec!["Xvnc[12]".into()],
            errors: vec!["creating bench-0: HTTP 507".into()],
            ..FleetReport::default()
        };
        let problems = bad.problems().join("\n");
        assert!(problems.contains("2 of 3 desktops"), "{problems}");
        assert!(
            problems.contains("Xvnc[12]") && problems.contains("HTTP 507"),
            "{problems}"
        );
    }

    #[test]
    fn the_median_is_a_measured_value() {
        assert_eq!(median(vec![]), None);
        assert_eq!(median(vec![3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(vec![4.0, 1.0]), Some(1.0));
    }
}
