//! Files over the REST API, streamed both ways so that the server's memory does not grow with
//! a file's size (a few buffers in flight, whatever the file):
//!
//! - `GET /api/desktops/{id}/files/{path}` — a file's bytes (`application/octet-stream`, with
//!   `Content-Length`), or a directory's listing as JSON; `GET /api/desktops/{id}/files` lists
//!   the home
//! - `PUT /api/desktops/{id}/files/{path}?mode=644` — write the body to the file (missing
//!   directories made, an existing file replaced once the whole body arrived) → 201
//!
//! Paths are relative to the desktop's home and never leave it (`agentdesk_desktop::files`).
//! A token has a few transfers going at once ([`Transfer`]).

use std::sync::Arc;

use agentdesk_desktop::files::{self, Found};
use agentdesk_desktop::{DesktopId, FleetError};
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse as _, Response};
use axum::{Extension, Json};
use futures_util::StreamExt as _;
use http::StatusCode;
use serde_json::json;

use crate::audit;
use crate::guard::Principal;
use crate::rest::{error, status};
use crate::state::AppState;
use crate::tools::files::{blocking, entry_json};

/// The size of each read of a download, and roughly of each piece in flight.
const PIECE: usize = 256 * 1024;

/// How long a transfer may go without moving [`PROGRESS_BYTES`]: an upload that slow is given
/// up, a download that slow stops counting against its token.
const IDLE: std::time::Duration = std::time::Duration::from_secs(30);

/// Writes the audit line of a file request and answers.
fn audited(
    app: &AppState,
    principal: &Principal,
    tool: &str,
    id: &str,
    path: &str,
    started: std::time::Instant,
    result: Result<Response, FleetError>,
) -> Response {
    let message = result.as_ref().err().map(ToString::to_string);
    let mut arguments = serde_json::Map::new();
    arguments.insert("id".into(), id.into());
    arguments.insert("path".into(), path.into());
    crate::fleet::Audited {
        manager: &app.manager,
        token: &principal.name,
        tool,
        target: Some(id),
        arguments: audit::Recorded::of(&arguments),
        started,
    }
    .record(
        &app.audit,
        crate::fleet::outcome(&result),
        message.as_deref(),
    );
    result.unwrap_or_else(|e| error(status(&e), e.to_string()))
}

fn home(app: &AppState, principal: &Principal, id: &str) -> Result<std::path::PathBuf, FleetError> {
    app.manager
        .home_for_files(&DesktopId::parse(id)?, &principal.caller())
}

/// `GET /api/desktops/{id}/files`: the home's listing.
pub(crate) async fn get_home(
    State(app): State<Arc<AppState>>,
    Extension(principal): Extension<Principal>,
    Path(id): Path<String>,
) -> Response {
    get(State(app), Extension(principal), Path((id, String::new()))).await
}

/// `GET /api/desktops/{id}/files/{path}`.
pub(crate) async fn get(
    State(app): State<Arc<AppState>>,
    Extension(principal): Extension<Principal>,
    Path((id, path)): Path<(String, String)>,
) -> Response {
    let started = std::time::Instant::now();
    let result = download(&app, &principal, &id, &path).await;
    audited(
        &app,
        &principal,
        "api.file_download",
        &id,
        &path,
        started,
        result,
    )
}

async fn download(
    app: &AppState,
    principal: &Principal,
    id: &str,
    path: &str,
) -> Result<Response, FleetError> {
    let home = home(app, principal, id)?;
    let turn = Transfer::begin(app, principal)?;
    let found = {
        let path = path.to_string();
        blocking(move || files::open_any(&home, &path)).await?
    };
    let (file, size) = match found {
        Found::Dir(entries, truncated) => {
            return Ok(Json(json!({
                "path": if path.is_empty() { "." } else { path },
                "entries": entries.iter().map(entry_json).collect::<Vec<_>>(),
                "truncated": truncated,
            }))
            .into_response())
        }
        Found::File(file, size) => (file, size),
    };
    // A piece at a time, as the connection takes them: a client that reads slowly, or not at
    // all, holds an open file and no thread, and its turn lapses (see `Transfer`).
    let file = tokio::fs::File::from_std(file);
    let body = futures_util::stream::unfold(
        (file, size, turn),
        |(mut file, left, mut turn)| async move {
            use tokio::io::AsyncReadExt as _;
            if left == 0 {
                return None;
            }
            let mut piece = vec![0; PIECE.min(left as usize)];
            match file.read(&mut piece).await {
                // Shorter than it was when opened: end the response as broken, not short.
                Ok(0) => Some((
                    Err(std::io::Error::other("the file shrank while it was read")),
                    (file, 0, turn),
                )),
                Ok(n) => {
                    piece.truncate(n);
                    turn.moved(n);
                    Some((Ok(Bytes::from(piece)), (file, left - n as u64, turn)))
                }
                Err(e) => Some((Err(e), (file, 0, turn))),
            }
        },
    );
    Ok((
        [
            (
                http::header::CONTENT_TYPE,
                "application/octet-stream".to_string(),
            ),
            (http::header::CONTENT_LENGTH, size.to_string()),
        ],
        Body::from_stream(body),
    )
        .into_response())
}

/// Query of `PUT /api/desktops/{id}/files/{path}`.
#[derive(Debug, serde::Deserialize)]
pub(crate) struct PutQuery {
    #[serde(default)]
    mode: Option<String>,
}

/// `PUT /api/desktops/{id}/files/{path}`.
pub(crate) async fn put(
    State(app): State<Arc<AppState>>,
    Extension(principal): Extension<Principal>,
    Path((id, path)): Path<(String, String)>,
    Query(query): Query<PutQuery>,
    body: Body,
) -> Response {
    let started = std::time::Instant::now();
    let result = upload(&app, &principal, &id, &path, query, body).await;
    audited(
        &app,
        &principal,
        "api.file_upload",
        &id,
        &path,
        started,
        result,
    )
}

async fn upload(
    app: &AppState,
    principal: &Principal,
    id: &str,
    path: &str,
    query: PutQuery,
    body: Body,
) -> Result<Response, FleetError> {
    let mode = query
        .mode
        .as_deref()
        .map(agentdesk_proto::parse_mode)
        .transpose()
        .map_err(FleetError::BadRequest)?;
    let home = home(app, principal, id)?;
    let mut turn = Transfer::begin(app, principal)?;
    let mut upload = {
        let path = path.to_string();
        blocking(move || files::upload(&home, &path, mode)).await?
    };
    let failed = |e: std::io::Error| FleetError::BadRequest(format!("error writing {path:?}: {e}"));
    // Each piece is written as it arrives: a client that sends slowly holds a file, and no
    // thread; the server holds a piece or two of the body at a time. A body that moves less
    // than 64 KiB in 30 s is given up (a byte now and then does not keep it going).
    let mut file = tokio::fs::File::from_std(upload.file().try_clone().map_err(failed)?);
    let mut stream = body.into_data_stream();
    let mut deadline = tokio::time::Instant::now() + IDLE;
    loop {
        use tokio::io::AsyncWriteExt as _;
        // Dropping `upload` on an error removes what was written so far.
        match tokio::time::timeout_at(deadline, stream.next()).await {
            Ok(Some(Ok(piece))) => {
                file.write_all(&piece).await.map_err(failed)?;
                if turn.moved(piece.len()) {
                    deadline = tokio::time::Instant::now() + IDLE;
                }
            }
            Ok(None) => break file.flush().await.map_err(failed)?,
            Ok(Some(Err(_))) => {
                return Err(FleetError::BadRequest(
                    "the request body broke off; nothing was written, send it again".into(),
                ))
            }
            Err(_) => {
                return Err(FleetError::BadRequest(format!(
                    "the body arrived too slowly (less than 64 KiB in {} s); nothing was \
                     written, send it again",
                    IDLE.as_secs()
                )))
            }
        }
    }
    drop(file);
    let size = blocking(move || upload.commit()).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "desktop": id, "path": path, "size": size })),
    )
        .into_response())
}

/// File transfers one token may have going at once.
const TRANSFERS_PER_TOKEN: usize = 4;

/// File transfers going at once, server-wide.
const TRANSFERS: usize = 32;

/// What counts as a transfer going on: at least this many bytes moved in the last [`IDLE`].
const PROGRESS_BYTES: u64 = 64 * 1024;

/// The transfers going on, per token: each one's time of last progress, shared with it.
pub(crate) type Transfers =
    std::sync::Mutex<std::collections::HashMap<String, Vec<std::sync::Weak<Activity>>>>;

/// When a transfer last moved [`PROGRESS_BYTES`] (since `started`).
#[derive(Debug)]
pub(crate) struct Activity {
    started: std::time::Instant,
    last_ms: std::sync::atomic::AtomicU64,
}

impl Activity {
    fn moved(&self) {
        let now = self.started.elapsed().as_millis() as u64;
        self.last_ms
            .store(now, std::sync::atomic::Ordering::Relaxed);
    }

    fn idle(&self) -> bool {
        let last = self.last_ms.load(std::sync::atomic::Ordering::Relaxed);
        self.started.elapsed().as_millis() as u64 - last > IDLE.as_millis() as u64
    }
}

/// One file transfer's turn. It counts against its token and the server while it moves data:
/// one stalled longer than [`IDLE`] (a client that stopped reading, or sends a byte now and
/// then) no longer counts, so stalled connections cannot keep anyone from transferring.
pub(crate) struct Transfer {
    activity: Arc<Activity>,
    moved: u64,
}

impl Transfer {
    fn begin(app: &AppState, principal: &Principal) -> Result<Transfer, FleetError> {
        let mut open = crate::lock(&app.transfers);
        for list in open.values_mut() {
            list.retain(|a| a.upgrade().is_some_and(|a| !a.idle()));
        }
        open.retain(|_, list| !list.is_empty());
        let all: usize = open.values().map(Vec::len).sum();
        let mine = open.get(&*principal.name).map_or(0, Vec::len);
        if mine >= TRANSFERS_PER_TOKEN || all >= TRANSFERS {
            return Err(FleetError::Busy {
                what: format!(
                    "too many file transfers at once ({TRANSFERS_PER_TOKEN} per token, \
                     {TRANSFERS} in all); wait for one to end"
                ),
            });
        }
        let activity = Arc::new(Activity {
            started: std::time::Instant::now(),
            last_ms: 0.into(),
        });
        open.entry(principal.name.to_string())
            .or_default()
            .push(Arc::downgrade(&activity));
        Ok(Transfer { activity, moved: 0 })
    }

    /// Counts `bytes` moved; whether that made progress (see [`PROGRESS_BYTES`]).
    fn moved(&mut self, bytes: usize) -> bool {
        self.moved += bytes as u64;
        if self.moved >= PROGRESS_BYTES {
            self.moved = 0;
            self.activity.moved();
            return true;
        }
        false
    }
}
