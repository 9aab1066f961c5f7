//! The REST API: the fleet operations as JSON over HTTP, behind the same gate as MCP (a bearer
//! token, never the live view's cookie), for scripts, operators and `agentdesk desktops`.
//!
//! - `GET /api/desktops` — the desktops the caller may use, and the server's limit
//! - `POST /api/desktops` — create (body: `{"id"?, "screen"?, "network"?, "apps"?}`) → 201
//! - `GET /api/desktops/{id}` — one desktop
//! - `DELETE /api/desktops/{id}?keep_home=true` — destroy
//! - `POST /api/desktops/{id}/pause|resume|release|heartbeat`
//! - `POST /api/desktops/acquire` (body: `{"id"?, "lease_seconds"?}`)
//! - `GET /api/snapshots?desktop=ID` — the caller's snapshots
//! - `POST /api/desktops/{id}/snapshots` (body: `{"label"?}`) — save one → 201
//! - `POST /api/desktops/{id}/restore` (body: `{"snapshot"}`) — restore one into the desktop
//! - `GET /api/snapshots/{snapshot}`, `POST /api/snapshots/{snapshot}/verify`,
//!   `DELETE /api/snapshots/{snapshot}?force=true`
//! - files: `files.rs` (`/api/desktops/{id}/files/{path}`)
//!
//! A save, restore, verify or create sent with `Accept: application/x-ndjson` is answered as
//! it runs: one JSON line per progress step (`{"progress": {"done", "total"}}`, bytes), then
//! `{"result": ...}` or `{"error": ..., "status": ...}`; the CLI shows these as a progress
//! line. Without that header, the answer is one JSON document when it is done.
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
pub(crate) fn status(e: &FleetError) -> StatusCode {
    match e {
        FleetError::NotFound { .. }
        | FleetError::SnapshotNotFound { .. }
        | FleetError::NoSuchFile { .. } => StatusCode::NOT_FOUND,
        FleetError::NeedsForce { .. } => StatusCode::CONFLICT,
        FleetError::Busy { .. } => StatusCode::TOO_MANY_REQUESTS,
        FleetError::Unfinished { .. } => StatusCode::GATEWAY_TIMEOUT,
        FleetError::Snapshot(agentdesk_desktop::SnapshotError::Cancelled) => {
            StatusCode::SERVICE_UNAVAILABLE
        }
        FleetError::Snapshot(
            agentdesk_desktop::SnapshotError::Damaged(_)
            | agentdesk_desktop::SnapshotError::BadManifest(_),
        ) => StatusCode::UNPROCESSABLE_ENTITY,
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

/// Runs `op` for `principal` to its end (bounded by [`AppState::long_limit`], stopped if the
/// client goes away) and audits it in the server's log.
async fn execute(
    app: &AppState,
    principal: &Principal,
    op: Op,
    job: agentdesk_desktop::Job,
    client_gone: impl std::future::Future<Output = ()>,
) -> Result<serde_json::Value, FleetError> {
    let started = std::time::Instant::now();
    let name = op.name();
    let target = op.target().map(str::to_owned);
    let mut arguments = serde_json::Map::new();
    if let Some(target) = &target {
        arguments.insert("id".into(), target.clone().into());
    }
    let result = fleet::run_to_an_end(
        app.manager.clone(),
        app.audit.clone(),
        op,
        principal.caller(),
        job,
        app.long_limit,
        client_gone,
    )
    .await
    .map_err(|stopped| stopped.into_error(name, "--call-timeout (ten times it, over REST)"));
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
    result
}

/// Runs `op`, audits it, and answers: one JSON document, or (a long operation, asked with
/// `Accept: application/x-ndjson`) progress lines and then the result.
async fn answer(
    app: &Arc<AppState>,
    principal: &Principal,
    headers: &http::HeaderMap,
    op: Op,
    created: bool,
) -> Response {
    if op.is_long() && wants_ndjson(headers) {
        return streamed(app.clone(), principal.clone(), op);
    }
    // A client that goes away drops this future, which stops the operation.
    let never = std::future::pending::<()>();
    match execute(app, principal, op, agentdesk_desktop::Job::quiet(), never).await {
        Ok(value) if created => (StatusCode::CREATED, Json(value)).into_response(),
        Ok(value) => Json(value).into_response(),
        Err(e) => error(status(&e), e.to_string()),
    }
}

fn wants_ndjson(headers: &http::HeaderMap) -> bool {
    headers
        .get_all(http::header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("application/x-ndjson"))
}

/// A long operation answered as it runs (see the module's documentation); a client that goes
/// away stops it, as a plain request's would.
fn streamed(app: Arc<AppState>, principal: Principal, op: Op) -> Response {
    let (tx, rx) = tokio::sync::mpsc::channel::<String>(4);
    let (progress_tx, mut progress_rx) = tokio::sync::watch::channel(None);
    let job = agentdesk_desktop::Job::new(move |p: agentdesk_desktop::Progress| {
        let _ = progress_tx.send(Some(p));
    });
    tokio::spawn(async move {
        let lines = tx.clone();
        let forward = tokio::spawn(async move {
            while progress_rx.changed().await.is_ok() {
                let Some(p) = *progress_rx.borrow_and_update() else {
                    continue;
                };
                let line = json!({"progress": {"done": p.done, "total": p.total}});
                let _ = lines.send(format!("{line}\n")).await;
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            }
        });
        let gone = tx.clone();
        let result = execute(
            &app,
            &principal,
            op,
            job,
            async move { gone.closed().await },
        )
        .await;
        forward.abort();
        let line = match result {
            Ok(value) => json!({ "result": value }),
            Err(e) => json!({ "error": e.to_string(), "status": status(&e).as_u16() }),
        };
        let _ = tx.send(format!("{line}\n")).await;
    });
    let body = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|line| (Ok::<_, std::convert::Infallible>(line), rx))
    });
    (
        [(http::header::CONTENT_TYPE, "application/x-ndjson")],
        axum::body::Body::from_stream(body),
    )
        .into_response()
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
    headers: http::HeaderMap,
) -> Response {
    answer(&app, &principal, &headers, Op::List, false).await
}

/// `POST /api/desktops`.
pub(crate) async fn create(
    State(app): State<Arc<AppState>>,
    Extension(principal): Extension<Principal>,
    headers: http::HeaderMap,
    bytes: axum::body::Bytes,
) -> Response {
    let args: DesktopCreateArgs = match body(&bytes) {
        Ok(args) => args,
        Err(why) => return error(StatusCode::BAD_REQUEST, why),
    };
    match fleet::create_request(args) {
        Ok(request) => answer(&app, &principal, &headers, Op::Create(request), true).await,
        Err(e) => error(status(&e), e.to_string()),
    }
}

/// `POST /api/desktops/acquire`.
pub(crate) async fn acquire(
    State(app): State<Arc<AppState>>,
    Extension(principal): Extension<Principal>,
    headers: http::HeaderMap,
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
            answer(&app, &principal, &headers, op, false).await
        }
        Err(e) => error(status(&e), e.to_string()),
    }
}

/// `GET /api/desktops/{id}`.
pub(crate) async fn status_of(
    State(app): State<Arc<AppState>>,
    Extension(principal): Extension<Principal>,
    headers: http::HeaderMap,
    Path(id): Path<String>,
) -> Response {
    answer(&app, &principal, &headers, Op::Status(id), false).await
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
    headers: http::HeaderMap,
    Path(id): Path<String>,
    Query(query): Query<DestroyQuery>,
) -> Response {
    let keep_home = match flag("keep_home", query.keep_home.as_deref()) {
        Ok(keep) => keep,
        Err(refusal) => return *refusal,
    };
    answer(
        &app,
        &principal,
        &headers,
        Op::Destroy { id, keep_home },
        false,
    )
    .await
}

/// A true/false query parameter.
fn flag(name: &str, value: Option<&str>) -> Result<bool, Box<Response>> {
    match value {
        None | Some("false" | "0" | "no") => Ok(false),
        Some("true" | "1" | "yes" | "") => Ok(true),
        Some(other) => Err(Box::new(error(
            StatusCode::BAD_REQUEST,
            format!("{name} must be true or false, got {other:?}"),
        ))),
    }
}

/// `POST /api/desktops/{id}/{action}`: pause, resume, release, heartbeat.
pub(crate) async fn action(
    State(app): State<Arc<AppState>>,
    Extension(principal): Extension<Principal>,
    headers: http::HeaderMap,
    Path((id, action)): Path<(String, String)>,
    bytes: axum::body::Bytes,
) -> Response {
    let op = match action.as_str() {
        "pause" => Op::Pause(id),
        "resume" => Op::Resume(id),
        "release" => Op::Release(id),
        "heartbeat" => Op::Heartbeat(id),
        "snapshots" => match body::<SaveBody>(&bytes) {
            Ok(args) => {
                let op = Op::SnapshotSave {
                    desktop: Some(id),
                    label: args.label,
                };
                return answer(&app, &principal, &headers, op, true).await;
            }
            Err(why) => return error(StatusCode::BAD_REQUEST, why),
        },
        "restore" => match body::<RestoreBody>(&bytes) {
            Ok(RestoreBody {
                snapshot: Some(snapshot),
            }) => Op::SnapshotRestore {
                desktop: Some(id),
                snapshot,
            },
            Ok(_) => {
                return error(
                    StatusCode::BAD_REQUEST,
                    "restore takes {\"snapshot\": id or label}".into(),
                )
            }
            Err(why) => return error(StatusCode::BAD_REQUEST, why),
        },
        _ => {
            return error(
                StatusCode::NOT_FOUND,
                "no such action; a desktop takes pause, resume, release, heartbeat, snapshots \
                 and restore"
                    .into(),
            )
        }
    };
    answer(&app, &principal, &headers, op, false).await
}

/// Body of `POST /api/desktops/{id}/snapshots`.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct SaveBody {
    #[serde(default)]
    label: Option<String>,
}

/// Body of `POST /api/desktops/{id}/restore`.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RestoreBody {
    #[serde(default)]
    snapshot: Option<String>,
}

/// Query of `GET /api/snapshots`.
#[derive(Debug, serde::Deserialize)]
pub(crate) struct SnapshotsQuery {
    #[serde(default)]
    desktop: Option<String>,
}

/// `GET /api/snapshots`.
pub(crate) async fn snapshots(
    State(app): State<Arc<AppState>>,
    Extension(principal): Extension<Principal>,
    headers: http::HeaderMap,
    Query(query): Query<SnapshotsQuery>,
) -> Response {
    let op = Op::SnapshotList {
        desktop: query.desktop,
    };
    answer(&app, &principal, &headers, op, false).await
}

/// `GET /api/snapshots/{snapshot}`.
pub(crate) async fn snapshot(
    State(app): State<Arc<AppState>>,
    Extension(principal): Extension<Principal>,
    headers: http::HeaderMap,
    Path(snapshot): Path<String>,
) -> Response {
    answer(
        &app,
        &principal,
        &headers,
        Op::SnapshotStatus(snapshot),
        false,
    )
    .await
}

/// Query of `DELETE /api/snapshots/{snapshot}`.
#[derive(Debug, serde::Deserialize)]
pub(crate) struct DeleteQuery {
    #[serde(default)]
    force: Option<String>,
}

/// `DELETE /api/snapshots/{snapshot}`.
pub(crate) async fn delete_snapshot(
    State(app): State<Arc<AppState>>,
    Extension(principal): Extension<Principal>,
    headers: http::HeaderMap,
    Path(snapshot): Path<String>,
    Query(query): Query<DeleteQuery>,
) -> Response {
    let force = match flag("force", query.force.as_deref()) {
        Ok(force) => force,
        Err(refusal) => return *refusal,
    };
    let op = Op::SnapshotDelete { snapshot, force };
    answer(&app, &principal, &headers, op, false).await
}

/// `POST /api/snapshots/{snapshot}/verify`.
pub(crate) async fn verify_snapshot(
    State(app): State<Arc<AppState>>,
    Extension(principal): Extension<Principal>,
    headers: http::HeaderMap,
    Path(snapshot): Path<String>,
) -> Response {
    answer(
        &app,
        &principal,
        &headers,
        Op::SnapshotVerify(snapshot),
        false,
    )
    .await
}

/// Anything else under `/api`.
pub(crate) async fn unknown() -> Response {
    error(
        StatusCode::NOT_FOUND,
        "no such API path; see GET /api/desktops (the README lists the API)".into(),
    )
}
