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

/// How long an upload may go without a byte arriving.
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
    // all, holds an open file and its transfer's turn, and no thread.
    let file = tokio::fs::File::from_std(file);
    let body =
        futures_util::stream::unfold((file, size, turn), |(mut file, left, turn)| async move {
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
                    Some((Ok(Bytes::from(piece)), (file, left - n as u64, turn)))
                }
                Err(e) => Some((Err(e), (file, 0, turn))),
            }
        });
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
    let _turn = Transfer::begin(app, principal)?;
    let mut upload = {
        let path = path.to_string();
        blocking(move || files::upload(&home, &path, mode)).await?
    };
    let failed = |e: std::io::Error| FleetError::BadRequest(format!("error writing {path:?}: {e}"));
    // Each piece is written as it arrives: a client that sends slowly holds a file and its
    // transfer's turn, and no thread; the server holds a piece or two of the body at a time.
    let mut file = tokio::fs::File::from_std(upload.file().try_clone().map_err(failed)?);
    let mut stream = body.into_data_stream();
    loop {
        use tokio::io::AsyncWriteExt as _;
        // Dropping `upload` on an error removes what was written so far.
        match tokio::time::timeout(IDLE, stream.next()).await {
            Ok(Some(Ok(piece))) => file.write_all(&piece).await.map_err(failed)?,
            Ok(None) => break file.flush().await.map_err(failed)?,
            Ok(Some(Err(_))) => {
                return Err(FleetError::BadRequest(
                    "the request body broke off; nothing was written, send it again".into(),
                ))
            }
            Err(_) => {
                return Err(FleetError::BadRequest(format!(
                    "no data arrived for {} s; nothing was written, send it again",
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

/// File transfers one token may have open at once.
const TRANSFERS_PER_TOKEN: usize = 4;

/// File transfers open at once, server-wide.
const TRANSFERS: usize = 32;

/// One file transfer's turn, counted against its token and the server while it lives (for a
/// download: until its last byte is sent or the client goes away).
pub(crate) struct Transfer {
    app: Arc<std::sync::Mutex<std::collections::HashMap<String, usize>>>,
    token: String,
}

impl Transfer {
    fn begin(app: &AppState, principal: &Principal) -> Result<Transfer, FleetError> {
        let mut open = crate::lock(&app.transfers);
        let all: usize = open.values().sum();
        let mine = open.get(&*principal.name).copied().unwrap_or(0);
        if mine >= TRANSFERS_PER_TOKEN || all >= TRANSFERS {
            return Err(FleetError::Busy {
                what: format!(
                    "too many file transfers at once ({TRANSFERS_PER_TOKEN} per token, \
                     {TRANSFERS} in all); wait for one to end"
                ),
            });
        }
        *open.entry(principal.name.to_string()).or_default() += 1;
        drop(open);
        Ok(Transfer {
            app: app.transfers.clone(),
            token: principal.name.to_string(),
        })
    }
}

impl Drop for Transfer {
    fn drop(&mut self) {
        let mut open = crate::lock(&self.app);
        if let Some(n) = open.get_mut(&self.token) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.token);
            }
        }
    }
}
