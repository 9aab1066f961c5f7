//! One task: what it was asked, where it stands, its steps and the events its stream sends.
//!
//! Events are numbered from 1 and all kept (a task has at most a few hundred steps, each a
//! few hundred bytes: images stay in the transcript), so a client that reconnects with
//! `Last-Event-ID` gets exactly what it missed.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use agentdesk_agent::{Model, Price, Usage};
use agentdesk_desktop::DesktopId;
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

use crate::guard::Principal;

/// Where a task stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Status {
    /// The model is working.
    Running,
    /// The model asked a person and waits for the answer.
    InputRequired,
    /// A person holds the desktop; the task waits until they hand it back.
    Paused,
    /// The model said the goal is reached.
    Completed,
    /// It ended otherwise: a cap, an error, the model gave up.
    Failed,
    /// Someone cancelled it, or the server stopped.
    Cancelled,
}

impl Status {
    /// Whether the task is over.
    pub(crate) fn is_final(self) -> bool {
        matches!(self, Status::Completed | Status::Failed | Status::Cancelled)
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Status::Running => "running",
            Status::InputRequired => "input_required",
            Status::Paused => "paused",
            Status::Completed => "completed",
            Status::Failed => "failed",
            Status::Cancelled => "cancelled",
        }
    }
}

/// One event of the stream.
#[derive(Debug, Clone)]
pub(crate) struct Event {
    /// From 1, in order.
    pub(crate) id: u64,
    /// `step`, `state`, `end`.
    pub(crate) kind: &'static str,
    /// Its JSON.
    pub(crate) data: Value,
}

#[derive(Debug)]
struct State {
    status: Status,
    steps: Vec<Value>,
    events: Vec<Event>,
    usage: Usage,
    cost: f64,
    /// While `input_required`: the question and the desktop's help request it is.
    question: Option<(String, u64)>,
    outcome: Option<Value>,
    finished: Option<SystemTime>,
}

/// A task.
#[derive(Debug)]
pub(crate) struct Task {
    pub(crate) id: String,
    pub(crate) desktop: DesktopId,
    pub(crate) owner: Arc<str>,
    pub(crate) model: Model,
    pub(crate) goal: String,
    pub(crate) created: SystemTime,
    pub(crate) max_steps: u32,
    pub(crate) max_usd: Option<f64>,
    pub(crate) price: Price,
    /// Cancelled by `cancel` or when the server stops.
    pub(crate) cancel: CancellationToken,
    /// Its transcript's directory.
    pub(crate) transcript: PathBuf,
    state: Mutex<State>,
    /// The number of events, bumped at each.
    changed: tokio::sync::watch::Sender<u64>,
}

impl Task {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        model: Model,
        goal: String,
        desktop: DesktopId,
        owner: Arc<str>,
        max_steps: u32,
        max_usd: Option<f64>,
        price: Price,
        cancel: CancellationToken,
        transcript_base: PathBuf,
    ) -> Task {
        let id = format!("task-{:012x}", rand::random::<u64>() & 0xffff_ffff_ffff);
        Task {
            transcript: transcript_base.join("tasks").join(&id),
            id,
            desktop,
            owner,
            model,
            goal,
            created: SystemTime::now(),
            max_steps,
            max_usd,
            price,
            cancel,
            state: Mutex::new(State {
                status: Status::Running,
                steps: Vec::new(),
                events: Vec::new(),
                usage: Usage::default(),
                cost: 0.0,
                question: None,
                outcome: None,
                finished: None,
            }),
            changed: tokio::sync::watch::Sender::new(0),
        }
    }

    pub(crate) fn visible_to(&self, principal: &Principal) -> bool {
        principal.admin || *self.owner == *principal.name
    }

    pub(crate) fn status(&self) -> Status {
        crate::lock(&self.state).status
    }

    /// What it has cost so far.
    pub(crate) fn cost(&self) -> f64 {
        crate::lock(&self.state).cost
    }

    /// The desktop's help request it waits on, while `input_required`.
    pub(crate) fn help_request(&self) -> Option<u64> {
        let state = crate::lock(&self.state);
        match state.status {
            Status::InputRequired => state.question.as_ref().map(|(_, id)| *id),
            _ => None,
        }
    }

    pub(crate) fn subscribe(&self) -> tokio::sync::watch::Receiver<u64> {
        self.changed.subscribe()
    }

    fn emit(&self, state: &mut State, kind: &'static str, data: Value) {
        let id = state.events.len() as u64 + 1;
        state.events.push(Event { id, kind, data });
        self.changed.send_replace(id);
    }

    /// Enters `status` (not a final one), with what a watcher needs to know of it.
    pub(crate) fn set_status(&self, status: Status, question: Option<(String, u64)>) {
        let mut state = crate::lock(&self.state);
        if state.status == status || state.status.is_final() {
            return;
        }
        state.status = status;
        state.question = question;
        let mut data = json!({"state": status.name()});
        if let Some((q, _)) = &state.question {
            data["question"] = json!(q);
            data["answer_at"] = json!(format!("/api/tasks/{}/answer", self.id));
            data["view"] = json!(format!("/desktops/{}/view", self.desktop));
        }
        if status == Status::Paused {
            data["reason"] = json!("a person has taken control of the desktop");
        }
        self.emit(&mut state, "state", data);
    }

    /// Counts what a model call cost that left no step (it failed, or was not believed).
    pub(crate) fn charge(&self, usage: Usage, cost: f64) {
        let mut state = crate::lock(&self.state);
        Self::count(&mut state, usage, cost);
    }

    fn count(state: &mut State, usage: Usage, cost: f64) {
        // Saturating: a provider's numbers are not ours to trust.
        state.usage.input_tokens = state.usage.input_tokens.saturating_add(usage.input_tokens);
        state.usage.output_tokens = state
            .usage
            .output_tokens
            .saturating_add(usage.output_tokens);
        state.cost += cost;
    }

    /// Records a step and what it cost.
    pub(crate) fn add_step(&self, record: Value, usage: Usage, cost: f64) {
        let mut state = crate::lock(&self.state);
        Self::count(&mut state, usage, cost);
        state.steps.push(record.clone());
        self.emit(&mut state, "step", record);
    }

    /// Ends the task.
    pub(crate) fn end(&self, status: Status, outcome: Value) {
        let mut state = crate::lock(&self.state);
        if state.status.is_final() {
            return;
        }
        state.status = status;
        state.question = None;
        state.finished = Some(SystemTime::now());
        state.outcome = Some(outcome.clone());
        let data = json!({
            "state": status.name(),
            "outcome": outcome,
            "steps": state.steps.len(),
            "cost_usd": state.cost,
        });
        self.emit(&mut state, "end", data);
    }

    /// The events after `last`, and whether the task has ended (no more will come).
    pub(crate) fn events_after(&self, last: u64) -> (Vec<Event>, bool) {
        let state = crate::lock(&self.state);
        let from = usize::try_from(last)
            .unwrap_or(usize::MAX)
            .min(state.events.len());
        (state.events[from..].to_vec(), state.status.is_final())
    }

    /// Its JSON: a summary, or with `steps` every step's record.
    pub(crate) fn view(&self, steps: bool) -> Value {
        let state = crate::lock(&self.state);
        let mut v = json!({
            "id": self.id,
            "desktop": self.desktop.as_str(),
            "model": self.model.spec(),
            "goal": self.goal,
            "state": state.status.name(),
            "created_at": time(self.created),
            "finished_at": state.finished.map(time),
            "steps": state.steps.len(),
            "max_steps": self.max_steps,
            "max_usd": self.max_usd,
            "usage": {
                "input_tokens": state.usage.input_tokens,
                "output_tokens": state.usage.output_tokens,
            },
            "cost_usd": state.cost,
            "outcome": state.outcome,
            "stream": format!("/api/tasks/{}/stream", self.id),
            "view": format!("/desktops/{}/view", self.desktop),
        });
        if let Some((q, _)) = &state.question {
            v["question"] = json!(q);
        }
        if steps {
            v["step_list"] = Value::Array(state.steps.clone());
        }
        v
    }

    /// Its ledger summary.
    pub(crate) fn spending(&self) -> Value {
        let state = crate::lock(&self.state);
        json!({
            "id": self.id,
            "model": self.model.spec(),
            "state": state.status.name(),
            "steps": state.steps.len(),
            "input_tokens": state.usage.input_tokens,
            "output_tokens": state.usage.output_tokens,
            "cost_usd": state.cost,
        })
    }
}

/// RFC 3339, UTC, milliseconds.
pub(crate) fn time(t: SystemTime) -> String {
    humantime::format_rfc3339_millis(t).to_string()
}
