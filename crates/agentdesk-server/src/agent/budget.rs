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

/// Counts every line of the ledger file into `ledger`.
pub(super) fn replay(file: &Path, ledger: &mut Ledger) {
    let Ok(text) = std::fs::read_to_string(file) else {
        return;
    };
    let mut lines = 0;
    for line in text.lines() {
        let Ok(entry) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        if let (Some(day), Some(usd)) = (entry["day"].as_str(), entry["usd"].as_f64()) {
            ledger.record(day, usd);
            lines += 1;
        }
    }
    tracing::debug!(lines, file = %file.display(), "ledger read back");
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
    ) {
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
        // Written under the ledger's lock: lines stay whole and in order.
        let written = (|| {
            use std::os::unix::fs::OpenOptionsExt as _;
            let mut file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .mode(0o600)
                .open(&self.ledger_file)?;
            writeln!(file, "{line}")
        })();
        if let Err(e) = written {
            tracing::warn!(%e, file = %self.ledger_file.display(), "error writing the ledger");
        }
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
