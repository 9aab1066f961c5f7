//! What `agentdesk bench` found, and how it is shown: latency statistics (p50/p95/max), the
//! report that is written as JSON, and the Markdown tables printed on stdout (so a run can be
//! pasted into docs/performance.md as it is). Pure: no I/O here.

use std::collections::BTreeMap;

use agentdesk_image::Size;
use serde::Serialize;

use super::memory::Snapshot;
use super::under_test::{ColdStart, Shutdown};

/// Latency of one operation over its successful samples, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub(crate) struct Stats {
    /// How many samples.
    pub(crate) n: usize,
    pub(crate) p50_ms: f64,
    pub(crate) p95_ms: f64,
    pub(crate) max_ms: f64,
    pub(crate) mean_ms: f64,
}

impl Stats {
    /// Statistics of `samples` (milliseconds, any order); `None` when there are none.
    pub(crate) fn of(samples: &[f64]) -> Option<Stats> {
        if samples.is_empty() {
            return None;
        }
        let mut sorted = samples.to_vec();
        sorted.sort_by(f64::total_cmp);
        Some(Stats {
            n: sorted.len(),
            p50_ms: percentile(&sorted, 0.50),
            p95_ms: percentile(&sorted, 0.95),
            max_ms: sorted[sorted.len() - 1],
            mean_ms: sorted.iter().sum::<f64>() / sorted.len() as f64,
        })
    }
}

/// The nearest-rank percentile of sorted, non-empty samples: the smallest sample with at least
/// `q` of all samples at or below it. Always a measured value (no interpolation), so a p95 of
/// 10 samples is the 10th, i.e. the maximum.
pub(crate) fn percentile(sorted: &[f64], q: f64) -> f64 {
    debug_assert!(!sorted.is_empty());
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// The median of integer samples (payload sizes), by the same nearest-rank rule.
pub(crate) fn median_u64(values: &[u64]) -> Option<u64> {
    if values.is_empty() {
        return None;
    }
    let mut sorted = values.to_vec();
    sorted.sort_unstable();
    let rank = (0.5 * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

/// ours / theirs, when both exist and theirs is not zero.
pub(crate) fn ratio(ours: Option<f64>, theirs: Option<f64>) -> Option<f64> {
    match (ours, theirs) {
        (Some(a), Some(b)) if b > 0.0 => Some(a / b),
        _ => None,
    }
}

/// How often an input tool answered `screen_changed: true`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub(crate) struct Changed {
    pub(crate) changed: usize,
    pub(crate) of: usize,
}

/// The same operation done the conventional way: one process per action.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Conventional {
    /// The command line(s) timed, e.g. "scrot -o FILE.png".
    pub(crate) how: String,
    pub(crate) stats: Option<Stats>,
    /// Every successful run's time, in order.
    pub(crate) samples_ms: Vec<f64>,
    /// Median size of the image file produced, for screenshots.
    pub(crate) payload_bytes: Option<u64>,
    /// Runs that failed (non-zero exit, wrong clipboard contents), with why.
    pub(crate) errors: Vec<String>,
    /// Why it was not measured (a tool is missing), if it was not.
    pub(crate) skipped: Option<String>,
}

/// One measured operation: a row of the table.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Row {
    /// A stable identifier, e.g. "screen_shot.png.no_stabilize".
    pub(crate) key: String,
    /// What was measured, e.g. "screen_shot png, no stabilize".
    pub(crate) operation: String,
    /// The tool and the arguments sent (the first iteration's, where they vary).
    pub(crate) tool: String,
    pub(crate) arguments: serde_json::Value,
    /// Iterations attempted.
    pub(crate) iterations: usize,
    pub(crate) stats: Option<Stats>,
    /// Every successful call's latency, in order, for other analyses.
    pub(crate) samples_ms: Vec<f64>,
    /// Median decoded image size, for screenshots.
    pub(crate) payload_bytes: Option<u64>,
    /// How many screenshots came back in each MIME type (a WebP over the size budget comes
    /// back as JPEG).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub(crate) mime_types: BTreeMap<String, usize>,
    pub(crate) screen_changed: Option<Changed>,
    /// Calls that failed: a JSON-RPC or transport error, `isError: true`, or a wrong answer.
    pub(crate) errors: Vec<String>,
    pub(crate) conventional: Option<Conventional>,
    /// ours p50 / conventional p50.
    pub(crate) ratio: Option<f64>,
    /// GhostDesk's p50 on this machine class, as measured when the project began.
    pub(crate) ghostdesk_p50_ms: Option<&'static str>,
}

impl Row {
    /// Fills in the ratio from the two p50s.
    pub(crate) fn with_conventional(mut self, conventional: Option<Conventional>) -> Row {
        self.ratio = ratio(
            self.stats.map(|s| s.p50_ms),
            conventional
                .as_ref()
                .and_then(|c| c.stats.map(|s| s.p50_ms)),
        );
        self.conventional = conventional;
        self
    }
}

/// A millisecond figure the way the table shows it: enough digits to compare, no more.
pub(crate) fn fmt_ms(ms: f64) -> String {
    if ms < 1.0 {
        format!("{ms:.2}")
    } else if ms < 10.0 {
        format!("{ms:.1}")
    } else {
        format!("{ms:.0}")
    }
}

/// A byte count in KiB (or MiB from 10 MiB up).
pub(crate) fn fmt_bytes(bytes: u64) -> String {
    let kib = bytes as f64 / 1024.0;
    if kib >= 10.0 * 1024.0 {
        format!("{:.1} MiB", kib / 1024.0)
    } else if kib >= 100.0 {
        format!("{kib:.0} KiB")
    } else {
        format!("{kib:.1} KiB")
    }
}

/// A ratio such as "0.12×"; two significant digits below 1, so small ratios stay readable.
pub(crate) fn fmt_ratio(r: f64) -> String {
    if r < 0.1 {
        format!("{r:.3}×")
    } else if r < 10.0 {
        format!("{r:.2}×")
    } else {
        format!("{r:.0}×")
    }
}

/// Renders a Markdown table with padded columns (readable as text, pastable as Markdown).
/// The first column is left-aligned, the others right-aligned.
pub(crate) fn markdown_table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let columns = headers.len();
    // At least three wide: a Markdown delimiter cell needs a dash besides its colon.
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count().max(3)).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate().take(columns) {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let line = |cells: &mut dyn Iterator<Item = &str>| {
        let mut out = String::from("|");
        for (i, cell) in cells.enumerate().take(columns) {
            let pad = widths[i].saturating_sub(cell.chars().count());
            if i == 0 {
                out.push_str(&format!(" {cell}{} |", " ".repeat(pad)));
            } else {
                out.push_str(&format!(" {}{cell} |", " ".repeat(pad)));
            }
        }
        out.push('\n');
        out
    };
    let mut out = line(&mut headers.iter().copied());
    out.push('|');
    for (i, w) in widths.iter().enumerate() {
        let dashes = "-".repeat((*w).max(1));
        if i == 0 {
            out.push_str(&format!(" {dashes} |"));
        } else {
            // Right alignment marker; the dashes still line up with the cells.
            out.push_str(&format!(" {}: |", &dashes[1..]));
        }
    }
    out.push('\n');
    for row in rows {
        let mut cells = row.iter().map(String::as_str).chain(std::iter::repeat(""));
        out.push_str(&line(&mut cells));
    }
    out
}

/// Says so when a screenshot row's images were not (all) in the format it asked for.
pub(crate) fn mime_note(row: &Row) -> Option<String> {
    let asked = row.arguments["format"].as_str();
    let unexpected = match asked {
        Some(format) => row
            .mime_types
            .keys()
            .any(|m| *m != format!("image/{format}")),
        None => row.mime_types.len() > 1,
    };
    unexpected.then(|| {
        let got: Vec<String> = row
            .mime_types
            .iter()
            .map(|(mime, count)| format!("{count}× {mime}"))
            .collect();
        format!(
            "{}: the images came back as {}",
            row.operation,
            got.join(", ")
        )
    })
}

/// The headers of the main table.
pub(crate) const HEADERS: [&str; 10] = [
    "operation",
    "N",
    "p50 ms",
    "p95 ms",
    "max ms",
    "payload",
    "changed",
    "conventional p50",
    "ours/conv.",
    "GhostDesk p50",
];

/// One table row's cells, in [`HEADERS`] order. Missing figures are "—".
pub(crate) fn row_cells(row: &Row) -> Vec<String> {
    let dash = || "—".to_string();
    let stat = |f: fn(&Stats) -> f64| row.stats.as_ref().map(|s| fmt_ms(f(s)));
    let n = match row.errors.len() {
        0 => row.iterations.to_string(),
        e => format!("{} ({e} failed)", row.iterations),
    };
    let conventional = match &row.conventional {
        None => dash(),
        Some(c) => match (&c.stats, &c.skipped) {
            (Some(s), _) => fmt_ms(s.p50_ms),
            (None, Some(_)) => "skipped".to_string(),
            (None, None) => "failed".to_string(),
        },
    };
    vec![
        row.operation.clone(),
        n,
        stat(|s| s.p50_ms).unwrap_or_else(dash),
        stat(|s| s.p95_ms).unwrap_or_else(dash),
        stat(|s| s.max_ms).unwrap_or_else(dash),
        row.payload_bytes.map(fmt_bytes).unwrap_or_else(dash),
        row.screen_changed
            .map(|c| format!("{}/{}", c.changed, c.of))
            .unwrap_or_else(dash),
        conventional,
        row.ratio.map(fmt_ratio).unwrap_or_else(dash),
        row.ghostdesk_p50_ms
            .map(str::to_string)
            .unwrap_or_else(dash),
    ]
}

/// The machine the run happened on.
#[derive(Debug, Clone, Default, Serialize)]
pub(crate) struct Machine {
    pub(crate) cpus: usize,
    pub(crate) cpu_model: String,
    pub(crate) kernel: String,
}

/// Cold starts: spawn to the first successful tool result.
#[derive(Debug, Clone, Default, Serialize)]
pub(crate) struct ColdStarts {
    pub(crate) runs: Vec<ColdStart>,
    /// Over `runs[].first_result_ms`.
    pub(crate) first_result: Option<Stats>,
    pub(crate) ghostdesk_ms: &'static str,
}

/// Several clients calling at once against one desktop.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Concurrency {
    pub(crate) clients: usize,
    pub(crate) screenshot_clients: usize,
    pub(crate) input_clients: usize,
    pub(crate) seconds: f64,
    pub(crate) calls: usize,
    pub(crate) calls_per_second: f64,
    pub(crate) error_count: usize,
    /// The first few errors.
    pub(crate) errors: Vec<String>,
    pub(crate) per_op: Vec<OpStats>,
}

/// One tool's calls during the concurrent phase.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct OpStats {
    pub(crate) op: String,
    pub(crate) calls: usize,
    pub(crate) stats: Option<Stats>,
}

/// Everything one run found; written as JSON.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Report {
    pub(crate) agentdesk_version: &'static str,
    /// "release" or "debug": a debug build's encoders are many times slower.
    pub(crate) build: &'static str,
    pub(crate) quick: bool,
    pub(crate) iterations: usize,
    pub(crate) screen: String,
    pub(crate) machine: Machine,
    pub(crate) method: &'static str,
    /// The screen_shot formats the server offers (from tools/list).
    pub(crate) formats: Vec<String>,
    pub(crate) cold_start: ColdStarts,
    pub(crate) operations: Vec<Row>,
    pub(crate) concurrency: Option<Concurrency>,
    /// Many desktops in the one server.
    pub(crate) fleet: Option<crate::fleet::FleetReport>,
    /// Snapshots and file transfers.
    pub(crate) snapshots: Option<crate::snapshots::SnapshotReport>,
    /// The first reading of the whole screen's text, in ms.
    pub(crate) grounding_cold_ms: Option<f64>,
    /// OCR on the 100-word page: (found, found where they are, words).
    pub(crate) grounding_accuracy: Option<(usize, usize, usize)>,
    /// Server and descendants right after the cold start, before any app.
    pub(crate) memory_idle: Option<Snapshot>,
    /// The same after the run (Firefox and xterm open).
    pub(crate) memory_after: Option<Snapshot>,
    pub(crate) memory_ghostdesk_idle: String,
    pub(crate) shutdown: Option<Shutdown>,
    pub(crate) notes: Vec<String>,
    /// Why the run failed, if it did: failed calls, missing parts, processes left behind.
    pub(crate) failures: Vec<String>,
    /// True when nothing failed and every part was measured.
    pub(crate) complete: bool,
}

impl Report {
    pub(crate) fn new(
        version: &'static str,
        quick: bool,
        iterations: usize,
        screen: Size,
        machine: Machine,
        method: &'static str,
    ) -> Report {
        Report {
            agentdesk_version: version,
            build: if cfg!(debug_assertions) {
                "debug"
            } else {
                "release"
            },
            quick,
            iterations,
            screen: format!("{}x{}", screen.width, screen.height),
            machine,
            method,
            formats: Vec::new(),
            cold_start: ColdStarts::default(),
            operations: Vec::new(),
            concurrency: None,
            fleet: None,
            snapshots: None,
            grounding_cold_ms: None,
            grounding_accuracy: None,
            memory_idle: None,
            memory_after: None,
            memory_ghostdesk_idle: String::new(),
            shutdown: None,
            notes: Vec::new(),
            failures: Vec::new(),
            complete: false,
        }
    }

    /// The rows a complete run has, by key.
    fn expected_keys(&self) -> Vec<String> {
        let mut keys = vec!["screen_shot.default".to_string()];
        for f in &self.formats {
            keys.push(format!("screen_shot.{f}.stabilize"));
            keys.push(format!("screen_shot.{f}.no_stabilize"));
        }
        keys.extend(
            [
                "screen_shot.region.png",
                "mouse_click",
                "key_type.5",
                "key_press",
                "key_type.500",
                "clipboard",
                "app_launch",
                "window_list",
                "window_action.focus",
                "screen_find_text.unchanged",
                "screen_find_text.redrawn",
                "ui_find.firefox",
                "browser_page_map",
                "ui_tree.galculator",
            ]
            .map(String::from),
        );
        keys
    }

    /// What makes this run a failure: failed tool calls and missing measurements. (The
    /// conventional tools' own failures are reported, but are not ours.)
    pub(crate) fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.formats.is_empty() {
            problems.push("no screen_shot formats were found".to_string());
        }
        for key in self.expected_keys() {
            if !self.operations.iter().any(|r| r.key == key) {
                problems.push(format!("{key}: not measured"));
            }
        }
        for row in &self.operations {
            if let Some(first) = row.errors.first() {
                problems.push(format!(
                    "{}: {} of {} calls failed, e.g. {first}",
                    row.operation,
                    row.errors.len(),
                    row.iterations
                ));
            } else if row.stats.map(|s| s.n) != Some(row.iterations) {
                problems.push(format!("{}: samples missing", row.operation));
            }
        }
        if self.cold_start.runs.is_empty() {
            problems.push("cold start: not measured".to_string());
        }
        match &self.concurrency {
            None => problems.push("concurrency: not measured".to_string()),
            Some(c) if c.error_count > 0 => problems.push(format!(
                "concurrency: {} of {} calls failed, e.g. {}",
                c.error_count,
                c.calls,
                c.errors.first().map_or("", String::as_str)
            )),
            Some(c) if c.calls == 0 => problems.push("concurrency: no calls".to_string()),
            Some(_) => {}
        }
        match &self.fleet {
            None => problems.push("the fleet: not measured".to_string()),
            Some(fleet) => problems.extend(fleet.problems()),
        }
        match &self.snapshots {
            None => problems.push("snapshots: not measured".to_string()),
            Some(snapshots) => problems.extend(snapshots.problems()),
        }
        if self.memory_idle.is_none() || self.memory_after.is_none() {
            problems.push("memory: not measured".to_string());
        }
        if self.shutdown.is_none() {
            problems.push("shutdown: not measured".to_string());
        }
        problems
    }

    /// The whole report as text: Markdown tables and notes.
    pub(crate) fn render(&self) -> String {
        let mut out = format!(
            "agentdesk bench: agentdesk {} ({} build), screen {}, N={}{}, {} CPU(s) {}, Linux {}\n\n{}\n\n",
            self.agentdesk_version,
            self.build,
            self.screen,
            self.iterations,
            if self.quick { " (--quick)" } else { "" },
            self.machine.cpus,
            self.machine.cpu_model,
            self.machine.kernel,
            self.method,
        );
        let mut rows = Vec::new();
        if let Some(cold) = self.cold_start.first_result {
            rows.push(vec![
                "cold start to first tool result".to_string(),
                cold.n.to_string(),
                fmt_ms(cold.p50_ms),
                fmt_ms(cold.p95_ms),
                fmt_ms(cold.max_ms),
                "—".into(),
                "—".into(),
                "—".into(),
                "—".into(),
                self.cold_start.ghostdesk_ms.to_string(),
            ]);
        }
        rows.extend(self.operations.iter().map(row_cells));
        out.push_str(&markdown_table(&HEADERS, &rows));

        if let Some(c) = &self.concurrency {
            out.push_str(&format!(
                "\n{} clients at once ({} screen_shot without stabilize, {} key_press Return / \
                 mouse_move) for {:.1} s: {} calls, {:.1} calls/s, {} errors.\n\n",
                c.clients,
                c.screenshot_clients,
                c.input_clients,
                c.seconds,
                c.calls,
                c.calls_per_second,
                c.error_count
            ));
            let rows: Vec<Vec<String>> = c
                .per_op
                .iter()
                .filter(|o| o.calls > 0)
                .map(|o| {
                    let stat = |f: fn(&Stats) -> f64| {
                        o.stats.as_ref().map_or("—".to_string(), |s| fmt_ms(f(s)))
                    };
                    vec![
                        o.op.clone(),
                        o.calls.to_string(),
                        stat(|s| s.p50_ms),
                        stat(|s| s.p95_ms),
                        stat(|s| s.max_ms),
                    ]
                })
                .collect();
            out.push_str(&markdown_table(
                &["concurrent op", "calls", "p50 ms", "p95 ms", "max ms"],
                &rows,
            ));
        }

        out.push_str(&self.render_memory());
        if let Some(fleet) = &self.fleet {
            out.push_str(&fleet.render());
        }
        if let Some(snapshots) = &self.snapshots {
            out.push_str(&snapshots.render());
        }

        if let Some(s) = &self.shutdown {
            out.push_str(&format!(
                "\nSIGTERM to exit: {} ms ({}); {}.\n",
                fmt_ms(s.stop_ms),
                s.exit,
                if s.leftover.is_empty() {
                    "no process left behind".to_string()
                } else {
                    format!("left behind: {}", s.leftover.join(", "))
                }
            ));
        }
        let mut notes = self.notes.clone();
        for row in &self.operations {
            if let Some(note) = mime_note(row) {
                notes.push(note);
            }
            if let Some(c) = &row.conventional {
                if let Some(why) = &c.skipped {
                    notes.push(format!("{} (conventional): skipped: {why}", row.operation));
                }
                if let Some(first) = c.errors.first() {
                    notes.push(format!(
                        "{} (conventional `{}`): {} runs failed, e.g. {first}",
                        row.operation,
                        c.how,
                        c.errors.len()
                    ));
                }
            }
        }
        if !notes.is_empty() {
            out.push_str("\nNotes:\n");
            for note in notes {
                out.push_str(&format!("- {note}\n"));
            }
        }
        if !self.failures.is_empty() {
            out.push_str("\nFAILED:\n");
            for failure in &self.failures {
                out.push_str(&format!("- {failure}\n"));
            }
        }
        out
    }

    fn render_memory(&self) -> String {
        let mib = |kib: u64| format!("{:.1}", kib as f64 / 1024.0);
        let mut out = String::from("\nMemory of the server and all its descendants (MiB):\n\n");
        let mut rows = Vec::new();
        for (state, snap) in [
            ("idle: after cold start, no apps", &self.memory_idle),
            ("after the run: Firefox, xterm open", &self.memory_after),
        ] {
            if let Some(s) = snap {
                rows.push(vec![
                    state.to_string(),
                    s.processes.to_string(),
                    mib(s.total.rss_kib),
                    mib(s.total.pss_kib),
                    mib(s.total.uss_kib),
                ]);
            }
        }
        out.push_str(&markdown_table(
            &["state", "processes", "RSS", "PSS", "USS"],
            &rows,
        ));
        out.push_str(&format!(
            "\nGhostDesk idle, same machine: {}.\n\n",
            self.memory_ghostdesk_idle
        ));
        let mut names: Vec<&str> = Vec::new();
        for snap in [&self.memory_idle, &self.memory_after]
            .into_iter()
            .flatten()
        {
            for n in &snap.by_name {
                if !names.contains(&n.name.as_str()) {
                    names.push(&n.name);
                }
            }
        }
        let cell = |snap: &Option<Snapshot>, name: &str| -> [String; 3] {
            match snap
                .as_ref()
                .and_then(|s| s.by_name.iter().find(|n| n.name == name))
            {
                Some(n) => [
                    n.count.to_string(),
                    mib(n.usage.rss_kib),
                    mib(n.usage.uss_kib),
                ],
                None => ["—".into(), "—".into(), "—".into()],
            }
        };
        let rows: Vec<Vec<String>> = names
            .iter()
            .map(|name| {
                let mut row = vec![name.to_string()];
                row.extend(cell(&self.memory_idle, name));
                row.extend(cell(&self.memory_after, name));
                row
            })
            .collect();
        out.push_str(&markdown_table(
            &[
                "process",
                "idle: count",
                "RSS",
                "USS",
                "after: count",
                "RSS",
                "USS",
            ],
            &rows,
        ));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let samples: Vec<f64> = (1..=20).map(f64::from).collect();
        let s = Stats::of(&samples).unwrap();
        assert_eq!(s.n, 20);
        assert_eq!(s.p50_ms, 10.0);
        assert_eq!(s.p95_ms, 19.0);
        assert_eq!(s.max_ms, 20.0);
        assert_eq!(s.mean_ms, 10.5);
        // Order does not matter, and small N gives the maximum as p95.
        let s = Stats::of(&[5.0, 1.0, 3.0]).unwrap();
        assert_eq!((s.p50_ms, s.p95_ms, s.max_ms), (3.0, 5.0, 5.0));
        let s = Stats::of(&[7.5]).unwrap();
        assert_eq!((s.p50_ms, s.p95_ms, s.max_ms), (7.5, 7.5, 7.5));
        assert!(Stats::of(&[]).is_none());
        assert_eq!(median_u64(&[30, 10, 20, 40]), Some(20));
        assert_eq!(median_u64(&[]), None);
    }

    #[test]
    fn ratio_needs_both_figures() {
        assert_eq!(ratio(Some(5.0), Some(50.0)), Some(0.1));
        assert_eq!(ratio(None, Some(50.0)), None);
        assert_eq!(ratio(Some(5.0), None), None);
        assert_eq!(ratio(Some(5.0), Some(0.0)), None);
        assert_eq!(fmt_ratio(0.0412), "0.041×");
        assert_eq!(fmt_ratio(0.5), "0.50×");
        assert_eq!(fmt_ratio(12.3), "12×");
    }

    #[test]
    fn numbers_are_formatted_for_reading() {
        assert_eq!(fmt_ms(0.304), "0.30");
        assert_eq!(fmt_ms(3.04), "3.0");
        assert_eq!(fmt_ms(304.2), "304");
        assert_eq!(fmt_bytes(43_520), "42.5 KiB");
        assert_eq!(fmt_bytes(400 * 1024), "400 KiB");
        assert_eq!(fmt_bytes(20 * 1024 * 1024), "20.0 MiB");
    }

    #[test]
    fn tables_are_aligned_markdown() {
        let table = markdown_table(
            &["op", "p50", "N"],
            &[
                vec!["screen_shot".into(), "3.1".into(), "5".into()],
                vec!["key".into(), "120".into()],
            ],
        );
        assert_eq!(
            table,
            "| op          | p50 |   N |\n\
             | ----------- | --: | --: |\n\
             | screen_shot | 3.1 |   5 |\n\
             | key         | 120 |     |\n"
        );
    }

    #[test]
    fn a_row_shows_what_is_missing_and_what_failed() {
        let row = Row {
            key: "mouse_click".into(),
            operation: "mouse_click".into(),
            tool: "mouse_click".into(),
            arguments: serde_json::json!({}),
            iterations: 4,
            stats: Stats::of(&[10.0, 20.0, 30.0]),
            samples_ms: vec![10.0, 20.0, 30.0],
            payload_bytes: None,
            mime_types: BTreeMap::new(),
            screen_changed: Some(Changed { changed: 3, of: 3 }),
            errors: vec!["boom".into()],
            conventional: None,
            ratio: None,
            ghostdesk_p50_ms: Some("283–356"),
        }
        .with_conventional(Some(Conventional {
            how: "xdotool mousemove X Y click 1".into(),
            stats: Stats::of(&[40.0]),
            samples_ms: vec![40.0],
            payload_bytes: None,
            errors: vec![],
            skipped: None,
        }));
        assert_eq!(row.ratio, Some(0.5));
        assert_eq!(
            row_cells(&row),
            [
                "mouse_click",
                "4 (1 failed)",
                "20",
                "30",
                "30",
                "—",
                "3/3",
                "40",
                "0.50×",
                "283–356"
            ]
        );
    }

    fn row(key: &str, samples: &[f64], errors: Vec<String>) -> Row {
        Row {
            key: key.into(),
            operation: key.into(),
            tool: "t".into(),
            arguments: serde_json::json!({}),
            iterations: 2,
            stats: Stats::of(samples),
            samples_ms: samples.to_vec(),
            payload_bytes: None,
            mime_types: BTreeMap::new(),
            screen_changed: None,
            errors,
            conventional: None,
            ratio: None,
            ghostdesk_p50_ms: None,
        }
    }

    #[test]
    fn screenshots_in_another_format_than_asked_are_noted() {
        let mut shot = row("screen_shot.webp.stabilize", &[1.0], vec![]);
        shot.arguments = serde_json::json!({"format": "webp"});
        shot.mime_types.insert("image/webp".into(), 2);
        assert_eq!(mime_note(&shot), None);
        shot.mime_types.insert("image/jpeg".into(), 1);
        assert_eq!(
            mime_note(&shot).unwrap(),
            "screen_shot.webp.stabilize: the images came back as 1× image/jpeg, 2× image/webp"
        );
        let mut default = row("screen_shot.default", &[1.0], vec![]);
        default.mime_types.insert("image/webp".into(), 2);
        assert_eq!(mime_note(&default), None);
    }

    #[test]
    fn a_run_is_complete_only_with_every_part_and_no_failed_call() {
        let size = Size {
            width: 1280,
            height: 800,
        };
        let mut report = Report::new("0", true, 2, size, Machine::default(), "m");
        report.formats = vec!["png".into()];
        for key in report.expected_keys() {
            report.operations.push(row(&key, &[1.0, 2.0], vec![]));
        }
        report.cold_start.runs.push(ColdStart {
            ready_line_ms: 40.0,
            first_result_ms: 45.0,
        });
        report.concurrency = Some(Concurrency {
            clients: 4,
            screenshot_clients: 3,
            input_clients: 1,
            seconds: 1.0,
            calls: 10,
            calls_per_second: 10.0,
            error_count: 0,
            errors: vec![],
            per_op: vec![],
        });
        report.memory_idle = Some(super::super::memory::summarize(&[]));
        report.memory_after = report.memory_idle.clone();
        report.shutdown = Some(Shutdown {
            stop_ms: 80.0,
            exit: "exit status: 0".into(),
            leftover: vec![],
        });
        report.fleet = Some(crate::fleet::FleetReport {
            idle_desktops: 5,
            idle_answered: 5,
            ..Default::default()
        });
        report.snapshots = Some(Default::default());
        assert_eq!(report.problems(), Vec::<String>::new());
        assert!(report.render().contains("create to first screenshot"));
        assert!(report.render().contains("| screen_shot.png.no_stabilize"));

        // A failed call, a missing row and a missing part are each a problem.
        report.operations[1] = row("screen_shot.png.stabilize", &[1.0], vec!["boom".into()]);
        report.operations.retain(|r| r.key != "clipboard");
        report.memory_after = None;
        let problems = report.problems();
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert!(problems[0].contains("clipboard: not measured"));
        assert!(problems[1].contains("1 of 2 calls failed, e.g. boom"));
        assert!(problems[2].contains("memory"));
    }
}
