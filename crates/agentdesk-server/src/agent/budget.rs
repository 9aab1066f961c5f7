//! The ledger's file and `GET /api/budget`.
//!
//! Every model call is one line of `budget.jsonl` in the data directory: the UTC day, the
//! task, its desktop and token, the model, the tokens in and out and the dollars. At start the
//! server reads the file back, so a daily cap holds across restarts.

use std::io::Write as _;
use std::path::Path;
use std::sync::Arc;
use std::time::SystemTime;

use agentdesk_agent::{Ledger, Reservation, Usage};
use axum::extract::State;
use axum::{Extension, Json};
use serde_json::{json, Value};

use super::task::Task;
use super::Tasks;
use crate::guard::Principal;
use crate::state::AppState;

/// Today, UTC: "2026-12-06".
pub(super) fn today() -> String {
    humantime::format_rfc3339_seconds(SystemTime::now()).to_string()[..10].to_owned()
}

/// Counts every entry of the ledger file into `ledger`. An entry cut short (a full disk, a
/// crash) is skipped to the end of its line, with a warning; the others count.
pub(super) fn replay(file: &Path, ledger: &mut Ledger) {
    let text = match std::fs::read_to_string(file) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return,
        Err(e) => {
            tracing::warn!(%e, file = %file.display(), "error reading the ledger: today's spending so far is not counted");
            return;
        }
    };
    let (entries, mut unreadable) = entries(&text);
    let mut read = 0;
    for entry in entries {
        match (entry["day"].as_str(), entry["usd"].as_f64()) {
            (Some(day), Some(usd)) if usd.is_finite() => {
                ledger.record(day, usd);
                read += 1;
            }
            _ => unreadable += 1,
        }
    }
    if unreadable > 0 {
        tracing::warn!(unreadable, read, file = %file.display(), "ledger entries that could not be read were skipped");
    } else {
        tracing::debug!(read, file = %file.display(), "ledger read back");
    }
}

/// The JSON values of `text` in order, and how many stretches could not be read.
fn entries(text: &str) -> (Vec<Value>, usize) {
    let (mut found, mut unreadable, mut at) = (Vec::new(), 0, 0);
    loop {
        // From the start of the next entry, so that a bad one is skipped to its own line's end.
        at += text[at..].len() - text[at..].trim_start().len();
        if at >= text.len() {
            break;
        }
        let mut stream = serde_json::Deserializer::from_str(&text[at..]).into_iter::<Value>();
        match stream.next() {
            None => break,
            Some(Ok(value)) => {
                found.push(value);
                at += stream.byte_offset();
            }
            Some(Err(_)) => {
                unreadable += 1;
                match text[at..].find('\n') {
                    Some(newline) => at += newline + 1,
                    None => break,
                }
            }
        }
    }
    (found, unreadable)
}

/// Appends `line` to the ledger's file, after a newline if the file does not end with one (its
/// last line was cut short).
fn append(file: &Path, line: &str) -> std::io::Result<()> {
    use std::os::unix::fs::{FileExt as _, OpenOptionsExt as _};
    let mut out = std::fs::OpenOptions::new()
        .create(true)
        .read(true)
        .append(true)
        .mode(0o600)
        .open(file)?;
    let len = out.metadata()?.len();
    let mut last = [b'\n'];
    if len > 0 {
        out.read_exact_at(&mut last, len - 1)?;
    }
    let mut bytes = Vec::with_capacity(line.len() + 2);
    if last[0] != b'\n' {
        bytes.push(b'\n');
    }
    bytes.extend_from_slice(line.as_bytes());
    bytes.push(b'\n');
    out.write_all(&bytes)?;
    out.sync_data()
}

impl Tasks {
    /// Reserves a step's estimated cost against the daily cap.
    pub(super) fn reserve(&self, estimate: f64) -> Result<Reservation, String> {
        crate::lock(&self.ledger)
            .reserve(&today(), estimate)
            .map_err(|e| e.to_string())
    }

    /// Settles a step: its real cost counts, and is written to the ledger's file.
    pub(super) fn settle(
        &self,
        reservation: Reservation,
        task: &Task,
        step: usize,
        usage: Usage,
        usd: f64,
    ) -> std::io::Result<()> {
        let day = today();
        let line = json!({
            "day": day,
            "time": super::task::time(SystemTime::now()),
            "task": task.id,
            "desktop": task.desktop.as_str(),
            "token": &*task.owner,
            "model": task.model.spec(),
            "step": step,
            "input_tokens": usage.input_tokens,
            "output_tokens": usage.output_tokens,
            "usd": usd,
        });
        let mut ledger = crate::lock(&self.ledger);
        ledger.settle(reservation, usd);
        // Written under the ledger's lock: entries stay whole and in order.
        let written = append(&self.ledger_file, &line.to_string());
        if let Err(e) = &written {
            tracing::warn!(%e, file = %self.ledger_file.display(), "error writing the ledger");
        }
        written
    }

    /// Whether a daily cap is set.
    pub(super) fn has_daily_cap(&self) -> bool {
        self.config.max_usd_per_day.is_some()
    }

    /// Today's spending and the cap.
    fn day(&self) -> (String, f64, Option<f64>) {
        let day = today();
        let mut ledger = crate::lock(&self.ledger);
        let spent = ledger.spent(&day);
        (day, spent, ledger.cap())
    }

    /// Refuses a new task once the day's cap is spent.
    pub(super) fn check_day(&self) -> Result<(), String> {
        let (_, spent, cap) = self.day();
        match cap {
            Some(cap) if spent >= cap => Err(format!(
                "the daily cap of ${cap:.2} is spent (${spent:.4} today, UTC); new tasks start \
                 again at midnight UTC, or when the operator raises --max-usd-per-day"
            )),
            _ => Ok(()),
        }
    }
}

/// `GET /api/budget`: the day's spending against the cap (the whole server's), and the
/// caller's tasks (every task for an admin token).
pub(crate) async fn budget(
    State(app): State<Arc<AppState>>,
    Extension(principal): Extension<Principal>,
) -> Json<Value> {
    let (day, spent, cap) = app.tasks.day();
    let tasks: Vec<Value> = app
        .tasks
        .visible(&principal)
        .iter()
        .map(|t| t.spending())
        .collect();
    Json(json!({
        "day": day,
        "spent_usd": spent,
        "cap_usd": cap,
        "remaining_usd": cap.map(|c| (c - spent).max(0.0)),
        "ledger": "one line per model call in budget.jsonl, in the server's data directory",
        "tasks": tasks,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_cut_short_loses_only_itself() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("budget.jsonl");
        std::fs::write(
            &file,
            "{\"day\":\"2026-12-06\",\"usd\":1.5}\n{\"day\":\"2026-12-06\",\"us",
        )
        .unwrap();
        append(&file, "{\"day\":\"2026-12-06\",\"usd\":2.0}").unwrap();
        append(&file, "{\"day\":\"2026-12-06\",\"usd\":0.5}").unwrap();
        let mut ledger = Ledger::new(None);
        replay(&file, &mut ledger);
        assert_eq!(ledger.spent("2026-12-06"), 4.0);
        let (entries, unreadable) = entries(&std::fs::read_to_string(&file).unwrap());
        assert_eq!((entries.len(), unreadable), (3, 1));
    }
}
