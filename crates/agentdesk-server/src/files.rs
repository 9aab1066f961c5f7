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

use std::io::{Read as _, Write as _};
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
    let found = {
        let path = path.to_string();
        blocking(move || files::open_any(&home, &path)).await?
    };
    let (mut file, size) = match found {
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
    // A reader on a blocking thread, a few pieces ahead of the connection at most.
    let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<Bytes>>(4);
    tokio::task::spawn_blocking(move || {
        let mut left = size;
        while left > 0 {
            let mut piece = vec![0; PIECE.min(left as usize)];
            let read = match file.read(&mut piece) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) => {
                    let _ = tx.blocking_send(Err(e));
                    return;
                }
            };
            piece.truncate(read);
            left -= read as u64;
            if tx.blocking_send(Ok(Bytes::from(piece))).is_err() {
                return;
            }
        }
        if left > 0 {
            // Shorter than it was when opened: end the response as broken, not short.
            let _ = tx.blocking_send(Err(std::io::Error::other("the file shrank while read")));
        }
    });
    let body = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|piece| (piece, rx))
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
    let mut upload = {
        let path = path.to_string();
        blocking(move || files::upload(&home, &path, mode)).await?
    };
    let file = upload
        .file()
        .try_clone()
        .map_err(|e| FleetError::BadRequest(format!("error writing {path:?}: {e}")))?;
    // A writer on a blocking thread, a few pieces behind the connection at most.
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Bytes>(8);
    let writer = tokio::task::spawn_blocking(move || {
        let mut file = file;
        while let Some(piece) = rx.blocking_recv() {
            file.write_all(&piece)?;
        }
        Ok::<_, std::io::Error>(())
    });
    let mut stream = body.into_data_stream();
    let received = loop {
        match tokio::time::timeout(IDLE, stream.next()).await {
            Ok(Some(Ok(piece))) => {
                if tx.send(piece).await.is_err() {
                    break Ok(());
                }
            }
            Ok(None) => break Ok(()),
            Ok(Some(Err(_))) => {
                break Err(FleetError::BadRequest(
                    "the request body broke off; nothing was written, send it again".into(),
                ))
            }
            Err(_) => {
                break Err(FleetError::BadRequest(format!(
                    "no data arrived for {} s; nothing was written, send it again",
                    IDLE.as_secs()
                )))
            }
        }
    };
    drop(tx);
    let written = writer
        .await
        .map_err(|e| FleetError::BadRequest(format!("the upload failed: {e}")))?;
    // Dropping `upload` on an error removes what was written so far.
    received?;
    written.map_err(|e| FleetError::BadRequest(format!("error writing {path:?}: {e}")))?;
    let size = blocking(move || upload.commit()).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "desktop": id, "path": path, "size": size })),
    )
        .into_response())
}
