//! The loop of one task: screenshot → model → actions → screenshot, until the model says it
//! is done or a cap, a person or an error stops it.
//!
//! Each step: wait while a person holds the desktop (`paused`); check the caps (the step
//! cap, the task's dollars, the day's, reserving the step's estimated cost first so that tasks
//! running at once cannot pass the daily cap together); call the model; run its calls through
//! the executor's [`Context`] (paced, bounded by `--call-timeout`, audited as `agent.<provider>`);
//! answer its request for help, or OpenAI's safety checks, with a person's answer
//! (`input_required`); record the step in the transcript and the stream.

use std::io::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use agentdesk_agent::{Conversation, Provider, Reply, Usage};
use agentdesk_computer::{Image, Outcome};
use agentdesk_desktop::{Desktop, Format, TurnOptions, MAX_HELP_CHARS};
use serde_json::{json, Value};

use super::provider::Endpoint;
use super::task::{time, Status, Task};
use crate::computer::{Context, Executed, Refusal};
use crate::guard::{Credential, Principal};
use crate::state::AppState;

/// The transcript's image files: extension and type.
pub(super) const IMAGE_TYPES: [(&str, &str); 3] = [
    ("webp", "image/webp"),
    ("png", "image/png"),
    ("jpeg", "image/jpeg"),
];

/// A step's screenshot's file name.
pub(super) fn step_file(step: u32, ext: &str) -> String {
    format!("step-{step:04}.{ext}")
}

/// A first step's input, in tokens (the goal, a system prompt and one screenshot), until the
/// task's own last step says better.
const FIRST_INPUT_TOKENS: u64 = 4000;

/// Token counts above this in one reply are not believed (a provider's bug, or not a provider).
const MAX_PLAUSIBLE_TOKENS: u64 = 100_000_000;

/// How often a paused task looks whether the person handed the desktop back.
const PAUSE_POLL: Duration = Duration::from_millis(200);
/// How often the desktop and the token are looked at while the model works on a reply.
const STANDING_EVERY: Duration = Duration::from_secs(1);

/// The most of a model's narration a step's record keeps, in characters.
const MAX_NARRATION_CHARS: usize = 4000;

/// Told to the model after a person used the desktop.
const AFTER_PERSON: &str = "A person used the desktop meanwhile and has handed it back. Take \
    a screenshot before you act: the screen may have changed.";

/// Why a task ended.
enum End {
    Done { success: bool, text: String },
    Revoked,
    MaxSteps(u32),
    MaxUsd(f64, f64),
    DailyCap(String),
    Model(String),
    Desktop(String),
    Cancelled,
}

/// Runs `task` to its end.
pub(super) async fn run(
    app: Arc<AppState>,
    task: Arc<Task>,
    desktop: Desktop,
    principal: Principal,
    credential: Credential,
    endpoint: Endpoint,
) {
    let incarnation = app
        .manager
        .incarnation_of(&task.desktop, &principal.caller());
    let mut this = Loop {
        app: app.clone(),
        task: task.clone(),
        desktop,
        incarnation,
        principal,
        credential,
        endpoint,
        steps: 0,
        asked: None,
    };
    let end = match this.drive().await {
        Err(end) => end,
        Ok(never) => match never {},
    };
    let stopping = app.stopping.is_cancelled();
    let (status, reason, success, text) = match end {
        End::Done {
            success: true,
            text,
        } => (Status::Completed, "done", true, text),
        End::Done {
            success: false,
            text,
        } => (Status::Failed, "gave_up", false, text),
        End::MaxSteps(n) => (
            Status::Failed,
            "max_steps",
            false,
            format!("the task reached its step cap ({n}) before the model said it was done"),
        ),
        End::MaxUsd(spent, max) => (
            Status::Failed,
            "max_usd",
            false,
            format!("the task spent ${spent:.4} of its ${max:.2} cap; another step would pass it"),
        ),
        End::DailyCap(why) => (Status::Failed, "max_usd_per_day", false, why),
        End::Model(why) => (Status::Failed, "model_error", false, why),
        End::Desktop(why) => (Status::Failed, "desktop_error", false, why),
        End::Revoked => (
            Status::Cancelled,
            "token_revoked",
            false,
            "the token that started the task is no longer valid".into(),
        ),
        End::Cancelled if stopping => (
            Status::Cancelled,
            "server_stopping",
            false,
            "the server stopped".into(),
        ),
        End::Cancelled => (Status::Cancelled, "cancelled", false, "cancelled".into()),
    };
    // A question nobody waits for any more leaves the live view.
    if let Some(asked) = this.asked.take() {
        this.desktop.withdraw_help(asked);
    }
    let outcome = json!({"reason": reason, "success": success, "text": text});
    this.transcript_line(&json!({"end": outcome, "at": time(SystemTime::now())}));
    task.end(status, outcome);
    tracing::info!(task = %task.id, state = status.name(), reason, steps = this.steps, "a task ended");
}

struct Loop {
    app: Arc<AppState>,
    task: Arc<Task>,
    desktop: Desktop,
    /// Which desktop of its id the task started on: one created again under the id is not it.
    incarnation: Option<u64>,
    principal: Principal,
    /// What the task's creator was accepted on: the task stops when it no longer holds.
    credential: Credential,
    endpoint: Endpoint,
    steps: u32,
    /// The help request the task waits on.
    asked: Option<u64>,
}

impl Loop {
    /// Runs until an [`End`].
    async fn drive(&mut self) -> Result<std::convert::Infallible, End> {
        let task = self.task.clone();
        let mut conversation =
            Conversation::new(&task.model, &task.goal, self.desktop.screen_size());
        let space = conversation.space();
        // llama.cpp's image loader reads PNG and JPEG, not WebP.
        let format = match task.model.provider {
            Provider::Chat => Format::Png,
            _ => Format::Webp,
        };
        self.start_transcript();
        let options = self.options(space, format);
        let first = self
            .desktop
            .computer_shot(&options, None)
            .await
            .map_err(|e| End::Desktop(e.to_string()))?;
        self.save_image(0, &first);
        conversation.start(&first);
        let mut last_input = FIRST_INPUT_TOKENS;
        for step in 1..=task.max_steps {
            // Not a desktop created again under its id meanwhile (that is someone else's).
            self.check_standing()?;
            // The desktop as it is now: started again if it was paused meanwhile, gone if it
            // was destroyed.
            self.desktop = self.current_desktop().await?;
            if self.hold_while_a_person_drives().await? {
                conversation.note(AFTER_PERSON);
            }
            if task.cancel.is_cancelled() {
                return Err(End::Cancelled);
            }
            // The most a step is likely to cost: the last step's input and a bit (one more
            // screen), and the longest reply asked for. Reserved before the call, so tasks
            // running at once cannot each spend what is left of the day.
            let estimate = task.price.cost(Usage {
                input_tokens: last_input.saturating_add(last_input / 4),
                output_tokens: agentdesk_agent::MAX_OUTPUT_TOKENS,
            });
            if let Some(max) = task.max_usd {
                let spent = task.cost();
                if spent + estimate > max {
                    return Err(End::MaxUsd(spent, max));
                }
            }
            let reservation = self.app.tasks.reserve(estimate).map_err(End::DailyCap)?;
            let started = SystemTime::now();
            let clock = Instant::now();
            let request = conversation.request();
            // A model may think for minutes: the desktop and the token are watched meanwhile,
            // so that neither a destroyed desktop nor a revoked token waits for the reply.
            let called = tokio::select! {
                called = self.endpoint.call(&request, &task.cancel) => called,
                end = self.watch_standing() => {
                    task.charge(Usage::default(), estimate);
                    self.settle(reservation, step, Usage::default(), estimate)?;
                    return Err(end);
                }
            };
            let body = match called {
                Ok(body) => body,
                Err(failure) => {
                    // A refusal costs nothing; a call cut off while the model worked on it
                    // (cancelled, timed out) is charged its estimate: the provider may bill it,
                    // and starting and cancelling tasks must not spend past the caps.
                    let cost = if failure.billable { estimate } else { 0.0 };
                    task.charge(Usage::default(), cost);
                    self.settle(reservation, step, Usage::default(), cost)?;
                    return Err(if task.cancel.is_cancelled() {
                        End::Cancelled
                    } else {
                        End::Model(failure.message)
                    });
                }
            };
            let model_ms = clock.elapsed().as_millis() as u64;
            // And checked once more: a reply saying "done" does not complete a task whose
            // desktop went away (or whose token was revoked) in the last second of the call.
            let standing = self.check_standing();
            let reply = conversation.read(&body);
            let usage = reply.as_ref().map(|r| r.usage).unwrap_or_default();
            let implausible = usage.input_tokens > MAX_PLAUSIBLE_TOKENS
                || usage.output_tokens > MAX_PLAUSIBLE_TOKENS;
            // A reply that says nothing of its cost (or nonsense) is charged what was reserved.
            let cost = if implausible || usage == Usage::default() {
                estimate
            } else {
                task.price.cost(usage)
            };
            self.settle(reservation, step, usage, cost)?;
            if let Err(end) = standing {
                task.charge(usage, cost);
                return Err(end);
            }
            if implausible {
                task.charge(Usage::default(), cost);
                return Err(End::Model(format!(
                    "the provider reported {} tokens in and {} out for one reply; not believed",
                    usage.input_tokens, usage.output_tokens
                )));
            }
            if usage.input_tokens > 0 {
                last_input = usage.input_tokens;
            }
            let reply = match reply {
                Ok(reply) => reply,
                Err(e) => {
                    task.charge(usage, cost);
                    return Err(End::Model(format!("the model's reply: {e}")));
                }
            };
            self.steps = step;

            let clock = Instant::now();
            let mut record = json!({
                "step": step,
                "started_at": time(started),
                "narration": crate::audit::cut_at(&reply.text, MAX_NARRATION_CHARS),
                "actions": [],
                "results": [],
                "thumbnail": null,
                "usage": {"input_tokens": usage.input_tokens, "output_tokens": usage.output_tokens},
                "cost_usd": cost,
                "model_ms": model_ms,
            });
            let acted = if reply.computer {
                self.act(&mut conversation, &reply, &body, space, format, &mut record)
                    .await
            } else {
                Ok(())
            };
            let help = match (&acted, &reply.help) {
                (Ok(()), Some(help)) => match self.ask(&help.question).await {
                    Ok(answer) => {
                        record["help"] = json!({"question": help.question, "answer": answer});
                        conversation.help_answer(help, &answer);
                        Ok(())
                    }
                    Err(end) => Err(end),
                },
                _ => Ok(()),
            };
            if let Some(finish) = &reply.finish {
                record["finish"] = json!({"success": finish.success, "text": finish.text});
            }
            record["act_ms"] = json!(clock.elapsed().as_millis() as u64);
            record["finished_at"] = json!(time(SystemTime::now()));
            self.transcript_line(&record);
            task.add_step(record, usage, cost);
            acted?;
            help?;
            if let Some(finish) = reply.finish {
                return Err(End::Done {
                    success: finish.success,
                    text: finish.text,
                });
            }
        }
        Err(End::MaxSteps(task.max_steps))
    }

    /// Settles a step's reservation; a ledger that cannot be written ends the task when a
    /// daily cap counts on it (its spending would not survive a restart).
    fn settle(
        &self,
        reservation: agentdesk_agent::Reservation,
        step: u32,
        usage: Usage,
        cost: f64,
    ) -> Result<(), End> {
        let written = self
            .app
            .tasks
            .settle(reservation, &self.task, step as usize, usage, cost);
        match written {
            Err(e) if self.app.tasks.has_daily_cap() => Err(End::DailyCap(format!(
                "the ledger could not be written ({e}); with a daily cap, no step runs that \
                 would not be counted after a restart"
            ))),
            _ => Ok(()),
        }
    }

    /// Ends the task if its creator's token was revoked meanwhile.
    fn check_credential(&self) -> Result<(), End> {
        if self.app.gate.still_valid(&self.credential) {
            Ok(())
        } else {
            Err(End::Revoked)
        }
    }

    /// Ends the task if its creator's token was revoked or its desktop destroyed.
    fn check_standing(&self) -> Result<(), End> {
        self.check_credential()?;
        self.check_desktop()
    }

    /// Returns, with the end it means, once the creator's token is revoked or the desktop
    /// destroyed; checked every [`STANDING_EVERY`].
    async fn watch_standing(&self) -> End {
        loop {
            tokio::time::sleep(STANDING_EVERY).await;
            if let Err(end) = self.check_standing() {
                return end;
            }
        }
    }

    /// Ends the task if its desktop was destroyed (without starting a paused one).
    fn check_desktop(&self) -> Result<(), End> {
        let caller = self.principal.caller();
        let now = self.app.manager.incarnation_of(&self.task.desktop, &caller);
        if now.is_some() && now == self.incarnation {
            Ok(())
        } else {
            Err(End::Desktop(format!(
                "desktop {} was destroyed",
                self.task.desktop
            )))
        }
    }

    async fn current_desktop(&self) -> Result<Desktop, End> {
        let caller = self.principal.caller();
        let found = tokio::select! {
            _ = self.task.cancel.cancelled() => return Err(End::Cancelled),
            found = tokio::time::timeout(
                self.app.call_timeout,
                self.app.manager.desktop(&self.task.desktop, &caller),
            ) => found,
        };
        match found {
            Ok(Ok(desktop)) => Ok(desktop),
            Ok(Err(e)) => Err(End::Desktop(e.to_string())),
            Err(_) => Err(End::Desktop(
                "the desktop did not start again in time".into(),
            )),
        }
    }

    fn options(&self, space: agentdesk_computer::Space, format: Format) -> TurnOptions {
        TurnOptions {
            space,
            format,
            deadline: Instant::now() + self.app.call_timeout,
            screenshot: true,
            cancel: self.task.cancel.child_token(),
        }
    }

    /// Runs the reply's computer calls and gives the conversation their results.
    async fn act(
        &mut self,
        conversation: &mut Conversation,
        reply: &Reply,
        body: &Value,
        space: agentdesk_computer::Space,
        format: Format,
        record: &mut Value,
    ) -> Result<(), End> {
        let provider = self.task.model.provider;
        let context = Context {
            app: self.app.clone(),
            principal: self.principal.clone(),
            desktop: self.desktop.clone(),
            tool: match provider {
                Provider::Anthropic => "agent.anthropic",
                Provider::OpenAi => "agent.openai",
                Provider::Chat => "agent.chat",
            },
            options: self.options(space, format),
            ran: Default::default(),
        };
        let clock = Instant::now();
        let executed: Result<Executed, Refusal> = match provider {
            Provider::Anthropic => context.anthropic(body, true).await,
            Provider::OpenAi => {
                let mut acknowledged = Vec::new();
                if !reply.safety_checks.is_empty() {
                    let checks: Vec<&str> = reply
                        .safety_checks
                        .iter()
                        .filter_map(|c| c.get("message").and_then(Value::as_str))
                        .collect();
                    let question = format!(
                        "The model raised safety checks before acting: {}. Answer to let it go \
                         on; cancel the task to stop it.",
                        checks.join("; ")
                    );
                    let answer = self.ask(&question).await?;
                    record["help"] = json!({"question": question, "answer": answer});
                    acknowledged = reply.safety_checks.clone();
                }
                context
                    .openai(&json!({
                        "output": body.get("output").cloned().unwrap_or(Value::Null),
                        "acknowledged_safety_checks": acknowledged,
                    }))
                    .await
            }
            Provider::Chat => {
                let turn = context.run(&reply.calls, true).await;
                Ok(Executed {
                    answer: Value::Null,
                    outcomes: turn.outcomes,
                    screenshot: turn.screenshot,
                })
            }
        };
        // Bounded as the audit log bounds them: a model's hundred calls, or a megabyte typed,
        // do not make a record the stream and the transcript must carry at full size.
        let ran = Value::Array(crate::lock(&context.ran).clone());
        record["actions"] =
            crate::audit::redact(&serde_json::Map::from_iter([("actions".to_owned(), ran)]))
                ["actions"]
                .take();
        context.audit(&executed, clock.elapsed());
        match executed {
            Ok(executed) => {
                record["results"] = Value::Array(
                    executed
                        .outcomes
                        .iter()
                        .take(crate::audit::MAX_ACTIONS)
                        .map(|o| json!({"ok": !o.is_error(), "text": crate::audit::cut(o.text())}))
                        .collect(),
                );
                if let Some(shot) = &executed.screenshot {
                    if self.save_image(self.steps, shot) {
                        record["thumbnail"] = json!(format!(
                            "/desktops/{}/tasks/{}/steps/{}",
                            self.task.desktop, self.task.id, self.steps
                        ));
                    }
                }
                match provider {
                    Provider::Chat => {
                        conversation.chat_results(&executed.outcomes, executed.screenshot.as_ref())
                    }
                    _ => conversation.computer_results(executed.answer),
                }
                if executed
                    .outcomes
                    .iter()
                    .any(|o| matches!(o, Outcome::Failed(_)))
                    && self.task.cancel.is_cancelled()
                {
                    return Err(End::Cancelled);
                }
                Ok(())
            }
            Err((_, why, _)) => {
                record["results"] = json!([{"ok": false, "text": crate::audit::cut(&why)}]);
                conversation
                    .computer_refused(&why)
                    .map_err(|e| End::Model(e.to_string()))
            }
        }
    }

    /// While a person holds the desktop, the task waits (`paused`). Whether it did.
    async fn hold_while_a_person_drives(&self) -> Result<bool, End> {
        if !self.desktop.human_has_control() {
            return Ok(false);
        }
        self.task.set_status(Status::Paused, None);
        while self.desktop.human_has_control() {
            tokio::select! {
                _ = self.task.cancel.cancelled() => return Err(End::Cancelled),
                _ = tokio::time::sleep(PAUSE_POLL) => {}
            }
            self.check_standing()?;
        }
        self.task.set_status(Status::Running, None);
        Ok(true)
    }

    /// Asks a person through the desktop's help request (the live view shows it) and waits
    /// for the answer (`input_required`).
    async fn ask(&mut self, question: &str) -> Result<String, End> {
        // The desktop takes printable text of bounded length.
        let question: String = question
            .chars()
            .map(|c| {
                if c.is_control() && !matches!(c, '\n' | '\t') {
                    ' '
                } else {
                    c
                }
            })
            .take(MAX_HELP_CHARS)
            .collect();
        let asked = self
            .desktop
            .ask_for_help_as(&question, &self.task.owner)
            .map_err(|e| End::Desktop(e.to_string()))?;
        self.asked = Some(asked.id);
        self.task
            .set_status(Status::InputRequired, Some((question, asked.id)));
        let answer = loop {
            let latest = tokio::select! {
                _ = self.task.cancel.cancelled() => return Err(End::Cancelled),
                latest = self.desktop.help_status(Duration::from_secs(5)) => latest,
            };
            self.check_standing()?;
            match latest {
                Some(r) if r.id == asked.id => {
                    if let Some(answer) = r.answer {
                        break answer.reply;
                    }
                }
                _ => {
                    break "(No answer: another request for help replaced yours.)".to_owned();
                }
            }
        };
        self.asked = None;
        self.task.set_status(Status::Running, None);
        Ok(answer)
    }

    fn start_transcript(&self) {
        let task = &self.task;
        let result = (|| {
            use std::os::unix::fs::DirBuilderExt as _;
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(&task.transcript)?;
            let about = json!({
                "id": task.id,
                "desktop": task.desktop.as_str(),
                "model": task.model.spec(),
                "goal": task.goal,
                "token": &*task.owner,
                "created_at": time(task.created),
                "max_steps": task.max_steps,
                "max_usd": task.max_usd,
            });
            write_private(
                &task.transcript.join("task.json"),
                about.to_string().as_bytes(),
            )
        })();
        if let Err(e) = result {
            tracing::warn!(%e, dir = %task.transcript.display(), "error starting a task's transcript");
        }
    }

    /// Saves a step's screenshot; whether it was.
    fn save_image(&self, step: u32, image: &Image) -> bool {
        use base64::Engine as _;
        let ext = IMAGE_TYPES
            .iter()
            .find(|(_, mime)| *mime == image.mime_type)
            .map_or("bin", |(ext, _)| ext);
        let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(&image.base64) else {
            return false;
        };
        let path = self.task.transcript.join(step_file(step, ext));
        match write_private(&path, &bytes) {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!(%e, file = %path.display(), "error saving a step's screenshot");
                false
            }
        }
    }

    fn transcript_line(&self, line: &Value) {
        let path = self.task.transcript.join("steps.jsonl");
        let result = (|| {
            use std::os::unix::fs::OpenOptionsExt as _;
            let mut file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .mode(0o600)
                .open(&path)?;
            writeln!(file, "{line}")
        })();
        if let Err(e) = result {
            tracing::warn!(%e, file = %path.display(), "error writing a task's transcript");
        }
    }
}

fn write_private(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt as _;
    std::fs::OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .mode(0o600)
        .open(path)?
        .write_all(bytes)
}
