//! The built-in agent loop over REST: a goal and a model in, the model driving a desktop step
//! by step, each step streamed.
//!
//! - `POST /api/tasks` `{desktop?, goal, model, max_steps?, max_usd?, price?, api_key?,
//!   base_url?}` → 201 and the task
//! - `GET /api/tasks`, `GET /api/tasks/{id}` (with its steps)
//! - `POST /api/tasks/{id}/cancel`, `POST /api/tasks/{id}/answer` `{reply}` (to the model's
//!   request for help, or its safety checks)
//! - `GET /api/tasks/{id}/stream`: Server-Sent Events, one `step` event per step, `state`
//!   events (`input_required`, `paused`, `running`), and a final `end`; `Last-Event-ID`
//!   replays what a reconnecting client missed
//! - `GET /api/budget`: the day's spending and each task's
//! - for the live view (its cookie works there): `GET /desktops/{id}/tasks`,
//!   `/desktops/{id}/tasks/{task}/stream` and `/desktops/{id}/tasks/{task}/steps/{n}` (a step's
//!   screenshot, the "thumbnail" of its event)
//!
//! The loop (`run.rs`) talks to the model through `agentdesk-agent`'s conversations, over
//! [`Target`](crate::client::Target) (`provider.rs`), and runs the calls through the executor's
//! [`Context`](crate::computer::Context), so a task's turns are paced, bounded and audited as
//! an executor request's are. Keys come from the request or the server's environment; they
//! are held in memory for the task's life, never written or logged.

mod budget;
mod provider;
mod run;
mod stream;
mod task;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use agentdesk_agent::{Ledger, Model, Price, Provider};
use agentdesk_desktop::DesktopId;
use agentdesk_security::{RateLimit, RateLimiter};
use axum::extract::{Path, State};
use axum::response::{IntoResponse as _, Response};
use axum::{Extension, Json};
use http::StatusCode;
use serde_json::{json, Value};

use crate::guard::{Credential, Principal};
use crate::rest::error;
use crate::state::AppState;

pub(crate) use budget::budget;
pub(crate) use stream::{desktop_tasks, step_image, stream, stream_of_desktop};
use task::Task;

/// The default step cap of a task.
pub const DEFAULT_MAX_STEPS: u32 = 30;
/// The largest step cap a task may ask for.
pub(crate) const MAX_STEPS_LIMIT: u32 = 500;
/// The longest goal, in characters.
const MAX_GOAL_CHARS: usize = 4000;
/// Finished tasks kept in memory (their transcripts stay on disk).
const KEEP_FINISHED: usize = 200;

/// A key, which no `Debug` output shows.
#[derive(Clone)]
pub struct Secret(Arc<str>);

impl Secret {
    /// A key; `None` if empty.
    pub fn new(key: &str) -> Option<Secret> {
        let key = key.trim();
        (!key.is_empty()).then(|| Secret(Arc::from(key)))
    }

    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
    }
}

/// A provider's key and base URL from the server's environment.
#[derive(Debug, Clone, Default)]
pub struct ProviderEnv {
    /// `ANTHROPIC_API_KEY` / `OPENAI_API_KEY`.
    pub key: Option<Secret>,
    /// `ANTHROPIC_BASE_URL` / `OPENAI_BASE_URL`.
    pub base_url: Option<String>,
}

/// How the agent loop is served.
#[derive(Debug, Clone)]
pub struct AgentConfig {
    /// A cap on the whole server's model spending per UTC day, in dollars.
    pub max_usd_per_day: Option<f64>,
    /// Tasks one token may create per minute.
    pub tasks_per_minute: u32,
    /// Anthropic's key and base URL from the environment.
    pub anthropic: ProviderEnv,
    /// OpenAI's (and OpenAI-compatible endpoints') key and base URL from the environment.
    pub openai: ProviderEnv,
    /// Prices the operator set (`--model-price`): a model spec's prefix and its price, over
    /// the built-in list.
    pub prices: Vec<(String, Price)>,
}

impl Default for AgentConfig {
    fn default() -> Self {
        AgentConfig {
            max_usd_per_day: None,
            tasks_per_minute: 10,
            anthropic: ProviderEnv::default(),
            openai: ProviderEnv::default(),
            prices: Vec::new(),
        }
    }
}

impl AgentConfig {
    /// Reads the providers' keys and base URLs from the variables their SDKs read.
    pub fn with_environment(mut self) -> AgentConfig {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        for (env, provider) in [
            (&mut self.anthropic, Provider::Anthropic),
            (&mut self.openai, Provider::OpenAi),
        ] {
            env.key = var(provider.key_variable()).and_then(|k| Secret::new(&k));
            env.base_url = var(provider.base_url_variable());
        }
        self
    }

    /// Adds an operator's price: `PROVIDER:MODEL=INPUT,OUTPUT` in dollars per million tokens
    /// (`MODEL` a prefix of the names it covers).
    pub fn add_price(&mut self, text: &str) -> anyhow::Result<()> {
        let usage = "give a price as PROVIDER:MODEL=INPUT,OUTPUT in dollars per million tokens, \
                     e.g. anthropic:claude-opus-5=5,25";
        let (spec, numbers) = text
            .split_once('=')
            .ok_or_else(|| anyhow::anyhow!("{text:?}: {usage}"))?;
        let model = Model::parse(spec.trim()).map_err(|e| anyhow::anyhow!("{e}; {usage}"))?;
        let (input, output) = numbers
            .split_once(',')
            .ok_or_else(|| anyhow::anyhow!("{text:?}: {usage}"))?;
        let number = |v: &str| {
            v.trim()
                .parse::<f64>()
                .map_err(|_| anyhow::anyhow!("{v:?} is not a number; {usage}"))
        };
        let price = Price::new(number(input)?, number(output)?)?;
        self.prices.push((model.spec(), price));
        Ok(())
    }

    /// The price of `model`: the operator's, else the built-in list's.
    fn price(&self, model: &Model) -> Option<Price> {
        let spec = model.spec();
        self.prices
            .iter()
            .filter(|(prefix, _)| spec.starts_with(prefix.as_str()))
            .max_by_key(|(prefix, _)| prefix.len())
            .map(|(_, price)| *price)
            .or_else(|| Price::of(model))
    }

    fn env(&self, provider: Provider) -> &ProviderEnv {
        match provider {
            Provider::Anthropic => &self.anthropic,
            Provider::OpenAi | Provider::Chat => &self.openai,
        }
    }
}

/// Every task of a server, and the day's ledger.
#[derive(Debug)]
pub(crate) struct Tasks {
    config: AgentConfig,
    tasks: Mutex<BTreeMap<String, Arc<Task>>>,
    ledger: Mutex<Ledger>,
    ledger_file: PathBuf,
    limiter: Mutex<RateLimiter>,
}

impl Tasks {
    /// The tasks of a server keeping its ledger in `data_dir` (read back now: a day's spending
    /// counts across restarts).
    pub(crate) fn new(config: AgentConfig, data_dir: &std::path::Path) -> Tasks {
        let ledger_file = data_dir.join("budget.jsonl");
        let mut ledger = Ledger::new(config.max_usd_per_day);
        budget::replay(&ledger_file, &mut ledger);
        let per_minute = f64::from(config.tasks_per_minute.max(1));
        Tasks {
            limiter: Mutex::new(RateLimiter::new(RateLimit {
                per_second: per_minute / 60.0,
                burst: per_minute.min(5.0),
            })),
            config,
            tasks: Mutex::new(BTreeMap::new()),
            ledger: Mutex::new(ledger),
            ledger_file,
        }
    }

    /// The caller's task `id`.
    fn get(&self, id: &str, principal: &Principal) -> Option<Arc<Task>> {
        crate::lock(&self.tasks)
            .get(id)
            .filter(|t| t.visible_to(principal))
            .cloned()
    }

    fn visible(&self, principal: &Principal) -> Vec<Arc<Task>> {
        let mut tasks: Vec<Arc<Task>> = crate::lock(&self.tasks)
            .values()
            .filter(|t| t.visible_to(principal))
            .cloned()
            .collect();
        tasks.sort_by_key(|t| std::cmp::Reverse(t.created));
        tasks
    }

    /// Whether `principal` may answer the desktop's help request `request`: unless it is a
    /// running task's question, whose owner (or an admin) answers it.
    pub(crate) fn may_answer(
        &self,
        desktop: &DesktopId,
        request: u64,
        principal: &Principal,
    ) -> bool {
        crate::lock(&self.tasks).values().all(|t| {
            t.desktop != *desktop || t.help_request() != Some(request) || t.visible_to(principal)
        })
    }

    /// Adds `task` unless another runs on its desktop (returned).
    fn insert_if_idle(&self, task: Arc<Task>) -> Result<(), Arc<Task>> {
        let mut tasks = crate::lock(&self.tasks);
        if let Some(running) = tasks
            .values()
            .find(|t| t.desktop == task.desktop && !t.status().is_final())
        {
            return Err(running.clone());
        }
        tasks.insert(task.id.clone(), task);
        let mut finished: Vec<(std::time::SystemTime, String)> = tasks
            .values()
            .filter(|t| t.status().is_final())
            .map(|t| (t.created, t.id.clone()))
            .collect();
        if finished.len() > KEEP_FINISHED {
            finished.sort();
            for (_, id) in finished.iter().take(finished.len() - KEEP_FINISHED) {
                tasks.remove(id);
            }
        }
        Ok(())
    }
}

/// The answer for a task that is not the caller's, or not at all (the same: another token's
/// task is not confirmed to exist).
fn no_task(id: &str) -> Response {
    error(
        StatusCode::NOT_FOUND,
        format!(
            "no task {:?} of yours; GET /api/tasks lists them",
            crate::audit::cut(id)
        ),
    )
}

/// `POST /api/tasks`.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateTask {
    desktop: Option<String>,
    goal: String,
    model: String,
    max_steps: Option<u32>,
    max_usd: Option<f64>,
    price: Option<PriceArgs>,
    api_key: Option<String>,
    base_url: Option<String>,
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct PriceArgs {
    input_per_mtok: f64,
    output_per_mtok: f64,
}

/// `POST /api/tasks`.
pub(crate) async fn create(
    State(app): State<Arc<AppState>>,
    Extension(principal): Extension<Principal>,
    Extension(credential): Extension<Credential>,
    body: axum::body::Bytes,
) -> Response {
    let args: CreateTask = match serde_json::from_slice(&body) {
        Ok(args) => args,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                format!(
                    "the body must be {{\"goal\", \"model\", \"desktop\"?, \"max_steps\"?, \
                     \"max_usd\"?, \"price\"?, \"api_key\"?, \"base_url\"?}}: {e}"
                ),
            )
        }
    };
    let tasks = &app.tasks;
    if let Err(wait) = crate::lock(&tasks.limiter).check(&principal.name, Instant::now()) {
        let mut response = error(
            StatusCode::TOO_MANY_REQUESTS,
            format!(
                "too many tasks started; this token may start {} a minute. Try again in {} s",
                tasks.config.tasks_per_minute,
                wait.as_secs().max(1)
            ),
        );
        if let Ok(v) = http::HeaderValue::from_str(&wait.as_secs().max(1).to_string()) {
            response.headers_mut().insert(http::header::RETRY_AFTER, v);
        }
        return response;
    }
    if let Err(message) = tasks.check_day() {
        return error(StatusCode::TOO_MANY_REQUESTS, message);
    }
    let settings = match settings(&app, &principal, args) {
        Ok(settings) => settings,
        Err((status, message)) => return error(status, message),
    };
    let desktop = match crate::computer::desktop(&app, settings.desktop.as_str(), &principal).await
    {
        Ok(desktop) => desktop,
        Err(response) => return response,
    };
    let transcript = app
        .audit
        .evidence_dir(desktop.id().as_str())
        .unwrap_or_else(|| desktop.data_dir().to_path_buf());
    let task = Arc::new(Task::new(
        settings.model,
        settings.goal,
        desktop.id().clone(),
        principal.name.clone(),
        settings.max_steps,
        settings.max_usd,
        settings.price,
        app.stopping.child_token(),
        transcript,
    ));
    // One task per desktop: two models on one screen would undo each other's work.
    if let Err(running) = tasks.insert_if_idle(task.clone()) {
        // Another token's task is not named: its id would let nothing, but says too much.
        let message = if running.visible_to(&principal) {
            format!(
                "task {} is already running on desktop {}; wait for it, or POST \
                 /api/tasks/{}/cancel",
                running.id,
                desktop.id(),
                running.id
            )
        } else {
            format!(
                "another task is running on desktop {}; try again when it is over",
                desktop.id()
            )
        };
        return error(StatusCode::CONFLICT, message);
    }
    app.audit.call(
        &desktop,
        crate::audit::Call {
            token: &principal.name,
            tool: "task.create",
            arguments: crate::audit::Recorded::of(&serde_json::Map::from_iter([
                ("task".to_owned(), json!(task.id)),
                ("model".to_owned(), json!(task.model.spec())),
                ("max_steps".to_owned(), json!(task.max_steps)),
                ("max_usd".to_owned(), json!(task.max_usd)),
            ])),
            outcome: crate::audit::Outcome::Ok,
            elapsed: std::time::Duration::ZERO,
            error: None,
            screen: None,
        },
    );
    tracing::info!(task = %task.id, desktop = %desktop.id(), model = %task.model.spec(), "a task started");
    let view = task.view(false);
    let running = tokio::spawn(run::run(
        app.clone(),
        task.clone(),
        desktop,
        principal,
        credential,
        settings.endpoint,
    ));
    // Whatever happens in the loop, the task ends: a panic there is reported, not left
    // `running` with its desktop taken.
    tokio::spawn(async move {
        if let Err(e) = running.await {
            tracing::error!(task = %task.id, error = %e, "a task's loop failed");
            task.end(
                task::Status::Failed,
                json!({"reason": "internal_error", "success": false,
                       "text": "the task's loop failed (a bug: the server's log has it)"}),
            );
        }
    });
    (StatusCode::CREATED, Json(view)).into_response()
}

/// A create request, checked.
struct Settings {
    desktop: DesktopId,
    goal: String,
    model: Model,
    max_steps: u32,
    max_usd: Option<f64>,
    price: Price,
    endpoint: provider::Endpoint,
}

fn settings(
    app: &AppState,
    principal: &Principal,
    args: CreateTask,
) -> Result<Settings, (StatusCode, String)> {
    let bad = |m: String| (StatusCode::BAD_REQUEST, m);
    let goal = args.goal.trim().to_owned();
    let chars = goal.chars().count();
    if chars == 0 || chars > MAX_GOAL_CHARS {
        return Err(bad(format!(
            "the goal must be 1 to {MAX_GOAL_CHARS} characters (got {chars}); say what the \
             model should get done, e.g. \"open Mousepad, write a shopping list and save it as \
             list.txt\""
        )));
    }
    if let Some(c) = goal
        .chars()
        .find(|c| c.is_control() && !matches!(c, '\n' | '\t'))
    {
        return Err(bad(format!(
            "the goal contains the control character U+{:04X}",
            c as u32
        )));
    }
    let model = Model::parse(&args.model).map_err(|e| bad(e.to_string()))?;
    let max_steps = args.max_steps.unwrap_or(DEFAULT_MAX_STEPS);
    if !(1..=MAX_STEPS_LIMIT).contains(&max_steps) {
        return Err(bad(format!(
            "max_steps must be 1 to {MAX_STEPS_LIMIT} (got {max_steps})"
        )));
    }
    if let Some(usd) = args.max_usd {
        if !(usd.is_finite() && usd > 0.0) {
            return Err(bad(format!(
                "max_usd must be a positive number of dollars (got {usd})"
            )));
        }
    }
    let config = &app.tasks.config;
    let price = match args.price {
        // A price is what the caps count: a token that could set it could spend freely.
        Some(_) if !principal.admin => {
            return Err((
                StatusCode::FORBIDDEN,
                "only an admin token may set a model's price; the operator sets prices with \
                 --model-price"
                    .into(),
            ))
        }
        Some(p) => {
            Price::new(p.input_per_mtok, p.output_per_mtok).map_err(|e| bad(e.to_string()))?
        }
        None => match config.price(&model) {
            Some(price) => price,
            None if args.max_usd.is_some() || config.max_usd_per_day.is_some() => {
                return Err(bad(format!(
                    "no price is known for {}, and a dollar cap applies; the operator gives it \
                     with --model-price {}=INPUT,OUTPUT (dollars per million tokens, from the \
                     provider's price list), or an admin token with \"price\": \
                     {{\"input_per_mtok\": …, \"output_per_mtok\": …}}",
                    model.spec(),
                    model.spec()
                )))
            }
            None => Price::FREE,
        },
    };
    let desktop = match &args.desktop {
        None => DesktopId::default_id(),
        Some(id) => DesktopId::parse(id).map_err(|e| (StatusCode::NOT_FOUND, e.to_string()))?,
    };
    let env = config.env(model.provider);
    let key = match args.api_key.as_deref() {
        Some(k) => Secret::new(k),
        None => env.key.clone(),
    };
    if key.is_none() && model.provider.needs_key() {
        return Err(bad(format!(
            "no API key for {}: set {} where `agentdesk serve` runs, or send \"api_key\" \
             (`agentdesk run` sends its own ${})",
            model.provider.name(),
            model.provider.key_variable(),
            model.provider.key_variable()
        )));
    }
    // A URL from the request makes the server connect where the caller says: only a token
    // that manages every desktop may (the operator's own), others use the server's setting.
    let base_url = match args.base_url {
        // The server's own setting, sent back (a CLI and a server sharing an environment).
        Some(url) if env.base_url.as_deref() == Some(url.as_str()) => url,
        Some(url) if !principal.admin => {
            return Err((
                StatusCode::FORBIDDEN,
                format!(
                    "only an admin token may choose the model's endpoint (base_url {:?}); the \
                     operator sets {} where `agentdesk serve` runs",
                    crate::audit::cut(&url),
                    model.provider.base_url_variable()
                ),
            ))
        }
        Some(url) => url,
        None => match env
            .base_url
            .clone()
            .or_else(|| model.provider.default_base_url().map(str::to_owned))
        {
            Some(url) => url,
            None => {
                return Err(bad(format!(
                    "a chat model needs its server's address: send \"base_url\" (e.g. \
                     http://127.0.0.1:8000/v1 for vLLM, http://127.0.0.1:8080/v1 for \
                     llama.cpp) or set {} where `agentdesk serve` runs",
                    model.provider.base_url_variable()
                )))
            }
        },
    };
    let endpoint = provider::Endpoint::new(model.provider, &base_url, key)
        .map_err(|e| bad(format!("base_url: {e:#}")))?;
    Ok(Settings {
        desktop,
        goal,
        model,
        max_steps,
        max_usd: args.max_usd,
        price,
        endpoint,
    })
}

/// `GET /api/tasks`.
pub(crate) async fn list(
    State(app): State<Arc<AppState>>,
    Extension(principal): Extension<Principal>,
) -> Json<Value> {
    let tasks: Vec<Value> = app
        .tasks
        .visible(&principal)
        .iter()
        .map(|t| t.view(false))
        .collect();
    Json(json!({ "tasks": tasks }))
}

/// `GET /api/tasks/{id}`.
pub(crate) async fn get(
    State(app): State<Arc<AppState>>,
    Path(id): Path<String>,
    Extension(principal): Extension<Principal>,
) -> Response {
    match app.tasks.get(&id, &principal) {
        Some(task) => Json(task.view(true)).into_response(),
        None => no_task(&id),
    }
}

/// `POST /api/tasks/{id}/cancel` and `/answer`.
pub(crate) async fn action(
    State(app): State<Arc<AppState>>,
    Path((id, action)): Path<(String, String)>,
    Extension(principal): Extension<Principal>,
    body: axum::body::Bytes,
) -> Response {
    let Some(task) = app.tasks.get(&id, &principal) else {
        return no_task(&id);
    };
    match action.as_str() {
        "cancel" => {
            task.cancel.cancel();
            // The loop notices at once (its waits end on the token); the answer shows the end.
            let mut changes = task.subscribe();
            let _ = tokio::time::timeout(std::time::Duration::from_secs(10), async {
                while !task.status().is_final() {
                    if changes.changed().await.is_err() {
                        break;
                    }
                }
            })
            .await;
            Json(task.view(false)).into_response()
        }
        "answer" => {
            #[derive(serde::Deserialize)]
            #[serde(deny_unknown_fields)]
            struct Answer {
                reply: String,
            }
            let answer: Answer = match serde_json::from_slice(&body) {
                Ok(a) => a,
                Err(e) => {
                    return error(
                        StatusCode::BAD_REQUEST,
                        format!("the body must be {{\"reply\": \"...\"}}: {e}"),
                    )
                }
            };
            let Some(request) = task.help_request() else {
                return error(
                    StatusCode::CONFLICT,
                    format!(
                        "task {} is {}, not waiting for an answer",
                        task.id,
                        task.status().name()
                    ),
                );
            };
            let desktop =
                match crate::computer::desktop(&app, task.desktop.as_str(), &principal).await {
                    Ok(desktop) => desktop,
                    Err(response) => return response,
                };
            match desktop.answer_help(request, &principal.name, &answer.reply) {
                Ok(_) => Json(task.view(false)).into_response(),
                Err(e) => error(StatusCode::CONFLICT, e.to_string()),
            }
        }
        _ => error(
            StatusCode::NOT_FOUND,
            "a task takes POST /api/tasks/{id}/cancel or /answer".into(),
        ),
    }
}
