//! The executor endpoints: a model vendor's computer-use calls, posted as the vendor's SDK
//! hands them over, run on a desktop and answered with the vendor's own result shapes, ready
//! to append to the conversation.
//!
//! - `POST /desktops/{id}/computer/anthropic` — the assistant turn's `tool_use` blocks (the
//!   toolset `computer_toolset_20260801`, or the older `computer` tool) → a user message of
//!   `tool_result` blocks.
//! - `POST /desktops/{id}/computer/openai` — a `computer_call` item → its
//!   `computer_call_output`.
//! - `POST /desktops/{id}/computer/gemini` — the model's function calls → a user `Content` of
//!   `function_response` parts.
//!
//! Query parameters: `format=webp|png|jpeg` (screenshots; WebP by default), `display=WxH`
//! (Anthropic: the display size declared to an older `computer` tool, if not the screen's),
//! `screenshot=false` (Anthropic: no screenshot after the turn's last action).
//!
//! Every answer says, in headers, how coordinates were read (`AgentDesk-Coordinates`), the
//! screen and the screenshot sizes (`AgentDesk-Screen`, `AgentDesk-Screenshot`: they differ
//! when screenshots were scaled to fit a vendor's image limit), how many calls ran
//! (`AgentDesk-Ran: n/m`) and, when one failed, why (`AgentDesk-Error`): OpenAI's output item
//! has no place for it.
//!
//! The calls run through `Desktop::run_turn` (`agentdesk-desktop`): in order, paced, stopping
//! at the first failure, in a task of their own (a client that hangs up does not cut a turn
//! short between a key's press and its release). Each request is one line of the desktop's
//! audit log, `computer.<dialect>`, with the calls that ran.

use std::sync::Arc;
use std::time::Instant;

use agentdesk_computer::{anthropic, gemini, openai, Call, Dialect, Outcome, Space};
use agentdesk_desktop::{Desktop, DesktopId, Format, Size, Turn, TurnOptions};
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse as _, Response};
use axum::{Extension, Json};
use http::{HeaderMap, HeaderValue, StatusCode};
use serde_json::{json, Value};

use crate::audit;
use crate::guard::Principal;
use crate::rest::error;
use crate::state::AppState;

/// How long a request's body may take to arrive (as for MCP).
const BODY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// `?format=&display=&screenshot=`.
#[derive(Debug, Default, serde::Deserialize)]
pub(crate) struct Options {
    format: Option<String>,
    display: Option<String>,
    screenshot: Option<String>,
}

/// `POST /desktops/{id}/computer/{dialect}`.
pub(crate) async fn execute(
    State(app): State<Arc<AppState>>,
    Path((id, dialect)): Path<(String, String)>,
    Extension(principal): Extension<Principal>,
    Query(options): Query<Options>,
    body: Body,
) -> Response {
    let Some(dialect) = Dialect::parse(&dialect) else {
        let names: Vec<&str> = Dialect::ALL.iter().map(|d| d.name()).collect();
        return error(
            StatusCode::NOT_FOUND,
            format!(
                "no computer-use dialect {:?} here; post to /desktops/{{id}}/computer/ and one \
                 of: {}",
                audit::cut(&dialect),
                names.join(", ")
            ),
        );
    };
    // Read within a time limit: a client that trickles its body holds nothing for long.
    let limit = app.gate.max_body_bytes;
    let bytes = match tokio::time::timeout(BODY_TIMEOUT, axum::body::to_bytes(body, limit)).await {
        Ok(Ok(bytes)) => bytes,
        Ok(Err(_)) => {
            return error(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("the body is over the {limit} byte limit, or was cut short"),
            )
        }
        Err(_) => {
            return error(
                StatusCode::REQUEST_TIMEOUT,
                format!(
                    "the body did not arrive within {} s",
                    BODY_TIMEOUT.as_secs()
                ),
            )
        }
    };
    let body: Value = match serde_json::from_slice(&bytes) {
        Ok(body) => body,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                format!("the body is not JSON: {e}"),
            )
        }
    };
    let format = match options.format.as_deref() {
        None | Some("webp") => Format::Webp,
        Some("png") => Format::Png,
        Some("jpeg") => Format::Jpeg { quality: 80 },
        Some(other) => {
            return error(
                StatusCode::BAD_REQUEST,
                format!(
                    "format must be webp, png or jpeg (got {:?})",
                    audit::cut(other)
                ),
            )
        }
    };
    let screenshot = match options.screenshot.as_deref() {
        None | Some("true") => true,
        Some("false") => false,
        Some(other) => {
            return error(
                StatusCode::BAD_REQUEST,
                format!(
                    "screenshot must be true or false (got {:?})",
                    audit::cut(other)
                ),
            )
        }
    };
    let desktop = match desktop(&app, &id, &principal).await {
        Ok(desktop) => desktop,
        Err(response) => return response,
    };
    let screen = desktop.screen_size();
    // An older Anthropic tool may have been declared with a display smaller than the screen.
    let space = match (dialect, options.display.as_deref()) {
        (Dialect::Anthropic, Some(display)) => {
            let declared = agentdesk_proto::parse_screen(display)
                .map_err(|e| format!("display: {e}"))
                .and_then(|(width, height)| {
                    Space::image(screen, Size { width, height }).map_err(|e| e.to_string())
                });
            match declared {
                Ok(space) => space,
                Err(message) => return error(StatusCode::BAD_REQUEST, message),
            }
        }
        _ => dialect.space(screen),
    };
    let started = Instant::now();
    let context = Context {
        app: app.clone(),
        principal,
        desktop,
        tool: audit_name(dialect),
        options: TurnOptions {
            space,
            format,
            deadline: started + app.call_timeout,
            screenshot: true,
            cancel: app.stopping.child_token(),
        },
        ran: std::sync::Mutex::new(Vec::new()),
    };
    // In a task of its own: a client that goes away must not cut a turn in the middle of an
    // action (a key held down, a button pressed); the turn ends by its deadline regardless.
    let task = tokio::spawn(async move {
        let executed = match dialect {
            Dialect::Anthropic => context.anthropic(&body, screenshot).await,
            Dialect::OpenAi => context.openai(&body).await,
            Dialect::Gemini => context.gemini(&body).await,
        };
        context.audit(&executed, started.elapsed());
        executed.map(|e| {
            let ran = e.count();
            let failure = e.first_failure();
            (Json(e.answer).into_response(), ran, failure)
        })
    });
    let answer = match task.await {
        Ok(answer) => answer,
        Err(e) => {
            tracing::error!(error = %e, "a computer turn's task failed");
            return error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal error: the turn's task failed".into(),
            );
        }
    };
    let (mut response, ran, failure) = match answer {
        Ok(answer) => answer,
        Err((status, message, extra)) => {
            let mut body = json!({ "error": message });
            if let Some((key, value)) = extra {
                body[key] = value;
            }
            return (status, Json(body)).into_response();
        }
    };
    let headers = response.headers_mut();
    let image = space.image_size();
    set(headers, "agentdesk-coordinates", &space.describe());
    set(
        headers,
        "agentdesk-screen",
        &format!("{}x{}", screen.width, screen.height),
    );
    set(
        headers,
        "agentdesk-screenshot",
        &format!("{}x{}", image.width, image.height),
    );
    set(headers, "agentdesk-ran", &format!("{}/{}", ran.0, ran.1));
    if let Some(failure) = failure {
        set(headers, "agentdesk-error", &failure);
    }
    response
}

/// A failed request: status, message, and one more field for the body.
pub(crate) type Refusal = (StatusCode, String, Option<(&'static str, Value)>);

/// What running a model's calls gave: the vendor's answer, and each call's outcome in order
/// with the screen after the last that ran.
pub(crate) struct Executed {
    /// The blocks or items to add to the conversation.
    pub(crate) answer: Value,
    /// One per call.
    pub(crate) outcomes: Vec<Outcome>,
    /// The screen after the calls.
    pub(crate) screenshot: Option<agentdesk_computer::Image>,
}

impl Executed {
    /// How many calls ran, of how many.
    pub(crate) fn count(&self) -> (usize, usize) {
        count(&self.outcomes)
    }

    /// Why the first call that failed failed.
    pub(crate) fn first_failure(&self) -> Option<String> {
        first_failure(&self.outcomes)
    }
}

/// A model's calls on a desktop, for one caller: the executor endpoints and the agent loop
/// both run their turns through it.
pub(crate) struct Context {
    pub(crate) app: Arc<AppState>,
    pub(crate) principal: Principal,
    pub(crate) desktop: Desktop,
    /// The audit log's name for the calls: `computer.anthropic`, `agent.chat`.
    pub(crate) tool: &'static str,
    pub(crate) options: TurnOptions,
    /// The calls run, each `{"call": name, ...its arguments}`, for the audit log.
    pub(crate) ran: std::sync::Mutex<Vec<Value>>,
}

impl Context {
    pub(crate) async fn anthropic(
        &self,
        body: &Value,
        screenshot: bool,
    ) -> Result<Executed, Refusal> {
        let uses = anthropic::parse(body, &self.options.space).map_err(bad_body)?;
        let calls: Vec<Call> = uses.iter().map(|u| u.call.clone()).collect();
        let turn = self.run(&calls, screenshot).await;
        let last_ran = turn
            .outcomes
            .iter()
            .rposition(|o| !matches!(o, Outcome::NotExecuted));
        let mut outcomes = turn.outcomes.clone();
        // The screen after the turn goes with the last call that ran, unless that one is a
        // capture already. A failed call's result stays text: the model is told to look again.
        if let (Some(i), Some(shot)) = (last_ran, turn.screenshot.clone()) {
            if let Outcome::Done(done) = &mut outcomes[i] {
                if done.image.is_none() {
                    done.image = Some(shot);
                }
            }
        }
        let blocks = uses
            .iter()
            .zip(&outcomes)
            .map(|(u, o)| anthropic::result(u, o))
            .collect();
        Ok(Executed {
            answer: anthropic::message(blocks),
            outcomes: turn.outcomes,
            screenshot: turn.screenshot,
        })
    }

    pub(crate) async fn openai(&self, body: &Value) -> Result<Executed, Refusal> {
        let request = openai::parse(body, &self.options.space).map_err(bad_body)?;
        if request.calls.is_empty() {
            return Err(bad_body(agentdesk_computer::Error::Body(
                "there is no computer_call to run".into(),
            )));
        }
        for call in &request.calls {
            let open = call.unacknowledged();
            if !open.is_empty() {
                return Err((
                    StatusCode::CONFLICT,
                    format!(
                        "computer_call {} has pending safety checks that no one acknowledged; \
                         nothing ran. Show them to a person; if they agree, post again as \
                         {{\"computer_call\": <the call>, \"acknowledged_safety_checks\": \
                         [<the checks>]}}",
                        call.call_id
                    ),
                    Some((
                        "pending_safety_checks",
                        Value::Array(open.into_iter().cloned().collect()),
                    )),
                ));
            }
        }
        let mut items = Vec::new();
        let mut outcomes = Vec::new();
        let mut failed = false;
        let mut last_shot = None;
        for call in &request.calls {
            let turn = if failed {
                // An earlier call failed: these actions do not run, but the API wants an
                // output for every call, so they get the screen as it is.
                let outcomes = vec![Outcome::NotExecuted; call.actions.len()];
                Turn {
                    outcomes,
                    screenshot: last_shot.clone(),
                    elapsed: std::time::Duration::ZERO,
                }
            } else {
                self.run(&call.actions, true).await
            };
            failed = failed || first_failure(&turn.outcomes).is_some();
            let shot = match turn.screenshot {
                Some(shot) => shot,
                None => self
                    .screenshot()
                    .await
                    .map_err(|message| (StatusCode::SERVICE_UNAVAILABLE, message, None))?,
            };
            items.push(openai::output(call, &shot));
            outcomes.extend(turn.outcomes);
            last_shot = Some(shot);
        }
        let answer = if request.single {
            items.remove(0)
        } else {
            Value::Array(items)
        };
        Ok(Executed {
            answer,
            outcomes,
            screenshot: last_shot,
        })
    }

    async fn gemini(&self, body: &Value) -> Result<Executed, Refusal> {
        let request = gemini::parse(body, &self.options.space).map_err(bad_body)?;
        if !request.confirmed {
            if let Some(call) = request.calls.iter().find(|c| c.needs_confirmation) {
                return Err((
                    StatusCode::CONFLICT,
                    format!(
                        "the model asked for a person's confirmation before {} ({}); nothing \
                         ran. Show it to a person; if they agree, post again as \
                         {{\"function_calls\": [...], \"safety_acknowledgement\": true}}",
                        call.call.name,
                        call.explanation.as_deref().unwrap_or("no reason given")
                    ),
                    None,
                ));
            }
        }
        let calls: Vec<Call> = request.calls.iter().map(|c| c.call.clone()).collect();
        let turn = self.run(&calls, true).await;
        let shot = match &turn.screenshot {
            Some(shot) => Some(shot.clone()),
            None if !calls.is_empty() => self.screenshot().await.ok(),
            None => None,
        };
        let answer = gemini::responses(&request, &turn.outcomes, shot.as_ref());
        Ok(Executed {
            answer,
            outcomes: turn.outcomes,
            screenshot: shot,
        })
    }

    /// Runs a turn.
    pub(crate) async fn run(&self, calls: &[Call], screenshot: bool) -> Turn {
        let options = TurnOptions {
            screenshot,
            ..self.options.clone()
        };
        let turn = self.desktop.run_turn(calls, options).await;
        let mut ran = crate::lock(&self.ran);
        for (call, outcome) in calls.iter().zip(&turn.outcomes) {
            if matches!(outcome, Outcome::NotExecuted) {
                break;
            }
            let mut record = serde_json::Map::new();
            record.insert("call".into(), Value::String(call.name.clone()));
            if let Value::Object(input) = &call.input {
                for (k, v) in input {
                    record.entry(k.clone()).or_insert_with(|| v.clone());
                }
            }
            ran.push(Value::Object(record));
        }
        drop(ran);
        tracing::debug!(
            tool = self.tool,
            calls = calls.len(),
            ms = turn.elapsed.as_millis() as u64,
            "computer turn"
        );
        turn
    }

    /// The calls run since the last call of this, each `{"call": name, ...its arguments}`.
    pub(crate) fn take_ran(&self) -> Vec<Value> {
        std::mem::take(&mut *crate::lock(&self.ran))
    }

    /// One line in the desktop's audit log for the request: the calls as sent, how it ended.
    /// One line, not one per call, so that a request of a hundred calls cannot push the
    /// record of what happened before it out of the log.
    pub(crate) fn audit(&self, executed: &Result<Executed, Refusal>, elapsed: std::time::Duration) {
        let (outcome, error) = match executed {
            Ok(e) => match e.first_failure() {
                None => (audit::Outcome::Ok, None),
                Some(failure) => (audit::Outcome::Error, Some(failure)),
            },
            Err((_, message, _)) => (audit::Outcome::Rejected, Some(message.clone())),
        };
        self.audit_ran(self.take_ran(), outcome, error.as_deref(), elapsed);
    }

    /// [`Context::audit`] of calls already taken.
    pub(crate) fn audit_ran(
        &self,
        ran: Vec<Value>,
        outcome: audit::Outcome,
        error: Option<&str>,
        elapsed: std::time::Duration,
    ) {
        let mut arguments = serde_json::Map::new();
        arguments.insert("actions".into(), Value::Array(ran));
        self.app.audit.call(
            &self.desktop,
            audit::Call {
                token: &self.principal.name,
                tool: self.tool,
                arguments: audit::Recorded::of(&arguments),
                outcome,
                elapsed,
                error,
                screen: None,
            },
        );
    }

    async fn screenshot(&self) -> Result<agentdesk_computer::Image, String> {
        self.desktop
            .computer_shot(&self.options, None)
            .await
            .map_err(|e| e.to_string())
    }
}

/// The audit log's name for a dialect's requests.
pub(crate) fn audit_name(dialect: Dialect) -> &'static str {
    match dialect {
        Dialect::Anthropic => "computer.anthropic",
        Dialect::OpenAi => "computer.openai",
        Dialect::Gemini => "computer.gemini",
    }
}

fn bad_body(e: agentdesk_computer::Error) -> Refusal {
    (StatusCode::BAD_REQUEST, e.to_string(), None)
}

fn count(outcomes: &[Outcome]) -> (usize, usize) {
    let ran = outcomes
        .iter()
        .filter(|o| !matches!(o, Outcome::NotExecuted))
        .count();
    (ran, outcomes.len())
}

fn first_failure(outcomes: &[Outcome]) -> Option<String> {
    outcomes.iter().find_map(|o| match o {
        Outcome::Failed(text) => Some(text.clone()),
        _ => None,
    })
}

/// The caller's desktop `id`, started if it was stopped, or the error response.
pub(crate) async fn desktop(
    app: &AppState,
    id: &str,
    principal: &Principal,
) -> Result<Desktop, Response> {
    let caller = principal.caller();
    let id = DesktopId::parse(id).map_err(|e| error(StatusCode::NOT_FOUND, e.to_string()))?;
    let found = tokio::time::timeout(app.call_timeout, app.manager.desktop(&id, &caller)).await;
    let desktop = match found {
        Ok(Ok(desktop)) => desktop,
        Ok(Err(e)) => return Err(error(crate::rest::status(&e), e.to_string())),
        Err(_) => {
            return Err(error(
                StatusCode::SERVICE_UNAVAILABLE,
                "the desktop did not start in time; try again".into(),
            ))
        }
    };
    app.manager
        .check_lease(&id, &caller)
        .map_err(|e| error(crate::rest::status(&e), e.to_string()))?;
    Ok(desktop)
}

fn set(headers: &mut HeaderMap, name: &'static str, value: &str) {
    // Header values are visible ASCII: anything else (an app's text in an error) is replaced.
    let clean: String = audit::cut(value)
        .chars()
        .map(|c| if (' '..='~').contains(&c) { c } else { '?' })
        .collect();
    if let Ok(value) = HeaderValue::from_str(&clean) {
        headers.insert(name, value);
    }
}
