//! The REST API: the fleet operations as JSON over HTTP, behind the same gate as MCP (a bearer
//! token, never the live view's cookie), for scripts, operators and `agentdesk desktops`.
//!
//! - `GET /api/desktops` — the desktops the caller may use, and the server's limit
//! - `POST /api/desktops` — create (body: `{"id"?, "screen"?, "network"?, "apps"?}`) → 201
//! - `GET /api/desktops/{id}` — one desktop
//! - `DELETE /api/desktops/{id}?keep_home=true` — destroy
//! - `POST /api/desktops/{id}/pause|resume|release|heartbeat`
//! - `POST /api/desktops/acquire` (body: `{"id"?, "lease_seconds"?}`)
//!
//! Answers are the same JSON as the MCP tools'; failures are `{"error": "..."}` with a status
//! saying which kind (404 also for a desktop another token owns: its existence is not
//! confirmed).

use std::sync::Arc;

use agentdesk_desktop::FleetError;
use agentdesk_proto::{DesktopAcquireArgs, DesktopCreateArgs};
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse as _, Response};
use axum::{Extension, Json};
use http::StatusCode;
use serde_json::json;

use crate::audit;
use crate::fleet::{self, Op};
use crate::guard::Principal;
use crate::state::AppState;

/// The largest request body the API reads (a create request is a few hundred bytes).
pub(crate) const MAX_BODY_BYTES: usize = 16 * 1024;

/// The status a failure is answered with.
fn status(e: &FleetError) -> StatusCode {
    match e {
        FleetError::NotFound { .. } => StatusCode::NOT_FOUND,
        FleetError::InvalidId { .. } | FleetError::BadRequest(_) => StatusCode::BAD_REQUEST,
        FleetError::Taken { .. } | FleetError::Leased { .. } | FleetError::NotLeased { .. } => {
            StatusCode::CONFLICT
        }
        FleetError::Forbidden { .. } => StatusCode::FORBIDDEN,
        FleetError::Full { .. } => StatusCode::INSUFFICIENT_STORAGE,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// A JSON error body, `{"error": message}`.
pub(crate) fn error(status: StatusCode, message: String) -> Response {
    (status, Json(json!({ "error": message }))).into_response()
}

/// Runs `op`, audits it in the server's log, and answers.
async fn answer(app: &AppState, principal: &Principal, op: Op, created: bool) -> Response {
    let started = std::time::Instant::now();
    let name = op.name();
    let target = op.target().map(str::to_owned);
    let mut arguments = serde_json::Map::new();
    if let Some(target) = &target {
        arguments.insert("id".into(), target.clone().into());
    }
    let result = fleet::run(op, &app.manager, &app.audit, &principal.caller()).await;
    let message = result.as_ref().err().map(ToString::to_string);
    fleet::Audited {
        manager: &app.manager,
        token: &principal.name,
        tool: &format!("api.{name}"),
        target: target.as_deref(),
        arguments: audit::Recorded::of(&arguments),
        started,
    }
    .record(&app.audit, fleet::outcome(&result), message.as_deref());
    match result {
        Ok(value) if created => (StatusCode::CREATED, Json(value)).into_response(),
        Ok(value) => Json(value).into_response(),
        Err(e) => error(status(&e), e.to_string()),
    }
}

/// A JSON body (none is `{}`), or what was wrong with it.
fn body<T: serde::de::DeserializeOwned + Default>(bytes: &[u8]) -> Result<T, String> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(bytes)
        .map_err(|e| format!("the request body is not what this call takes: {e}"))
}

/// `GET /api/desktops`.
pub(crate) async fn list(
    State(app): State<Arc<AppState>>,
    Extension(principal): Extension<Principal>,
) -> Response {
    answer(&app, &principal, Op::List, false).await
}

/// `POST /api/desktops`.
pub(crate) async fn create(
    State(app): State<Arc<AppState>>,
    Extension(principal): Extension<Principal>,
    bytes: axum::body::Bytes,
) -> Response {
    let args: DesktopCreateArgs = match body(&bytes) {
        Ok(args) => args,
        Err(why) => return error(StatusCode::BAD_REQUEST, why),
    };
    match fleet::create_request(args) {
        Ok(request) => answer(&app, &principal, Op::Create(request), true).await,
        Err(e) => error(status(&e), e.to_string()),
    }
}

/// `POST /api/desktops/acquire`.
pub(crate) async fn acquire(
    State(app): State<Arc<AppState>>,
    Extension(principal): Extension<Principal>,
    bytes: axum::body::Bytes,
) -> Response {
    let args: DesktopAcquireArgs = match body(&bytes) {
        Ok(args) => args,
        Err(why) => return error(StatusCode::BAD_REQUEST, why),
    };
    match fleet::lease_seconds(args.lease_seconds) {
        Ok(seconds) => {
            let op = Op::Acquire {
                id: args.id,
                seconds,
            };
            answer(&app, &principal, op, false).await
        }
        Err(e) => error(status(&e), e.to_string()),
    }
}

/// `GET /api/desktops/{id}`.
pub(crate) async fn status_of(
    State(app): State<Arc<AppState>>,
    Extension(principal): Extension<Principal>,
    Path(id): Path<String>,
) -> Response {
    answer(&app, &principal, Op::Status(id), false).await
}

/// Query of `DELETE /api/desktops/{id}`.
#[derive(Debug, serde::Deserialize)]
pub(crate) struct DestroyQuery {
    #[serde(default)]
    keep_home: Option<String>,
}

/// `DELETE /api/desktops/{id}`.
pub(crate) async fn destroy(
    State(app): State<Arc<AppState>>,
    Extension(principal): Extension<Principal>,
    Path(id): Path<String>,
    Query(query): Query<DestroyQuery>,
) -> Response {
    let keep_home = match query.keep_home.as_deref() {
        None | Some("false" | "0" | "no") => false,
        Some("true" | "1" | "yes" | "") => true,
        Some(other) => {
            return error(
                StatusCode::BAD_REQUEST,
                format!("keep_home must be true or false, got {other:?}"),
            )
        }
    };
    answer(&app, &principal, Op::Destroy { id, keep_home }, false).await
}

/// `POST /api/desktops/{id}/{action}`: pause, resume, release, heartbeat.
pub(crate) async fn action(
    State(app): State<Arc<AppState>>,
    Extension(principal): Extension<Principal>,
    Path((id, action)): Path<(String, String)>,
) -> Response {
    let op = match action.as_str() {
        "pause" => Op::Pause(id),
        "resume" => Op::Resume(id),
        "release" => Op::Release(id),
        "heartbeat" => Op::Heartbeat(id),
        _ => {
            return error(
                StatusCode::NOT_FOUND,
                "no such action; a desktop takes pause, resume, release and heartbeat".into(),
            )
        }
    };
    answer(&app, &principal, op, false).await
}

/// Anything else under `/api`.
pub(crate) async fn unknown() -> Response {
    error(
        StatusCode::NOT_FOUND,
        "no such API path; see GET /api/desktops (the README lists the API)".into(),
    )
}
