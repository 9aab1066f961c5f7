//! A task's steps as Server-Sent Events, and what the live view reads of tasks.
//!
//! The stream opens with a comment, sends every event after the client's `Last-Event-ID`
//! (all of them on a first connection), then each new one as it happens, a `: ping` comment
//! every 15 s while nothing does, and closes after the `end` event. When the server stops, its
//! tasks end (`server_stopping`) and so do their streams, with that event; a client that stopped
//! reading is cut off by the listener's shutdown limit (`http_server.rs`). Each event's `data` is
//! one line of JSON.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse as _, Response};
use axum::{Extension, Json};
use http::{HeaderMap, StatusCode};
use hyper::body::Bytes;
use serde_json::{json, Value};

use super::task::{Event, Task};
use crate::guard::Principal;
use crate::rest::error;
use crate::state::AppState;

/// How often an idle stream says it is alive (proxies close silent connections).
const PING: Duration = Duration::from_secs(15);

/// `?last_event_id=` (for clients that cannot set the header).
#[derive(Debug, Default, serde::Deserialize)]
pub(crate) struct Resume {
    last_event_id: Option<u64>,
}

/// `GET /api/tasks/{id}/stream`.
pub(crate) async fn stream(
    State(app): State<Arc<AppState>>,
    Path(id): Path<String>,
    Extension(principal): Extension<Principal>,
    Query(resume): Query<Resume>,
    headers: HeaderMap,
) -> Response {
    match app.tasks.get(&id, &principal) {
        Some(task) => events(task, last_event_id(&headers, &resume)),
        None => super::no_task(&id),
    }
}

/// `GET /desktops/{desktop}/tasks/{id}/stream`: the same, for the live view.
pub(crate) async fn stream_of_desktop(
    State(app): State<Arc<AppState>>,
    Path((desktop, id)): Path<(String, String)>,
    Extension(principal): Extension<Principal>,
    Query(resume): Query<Resume>,
    headers: HeaderMap,
) -> Response {
    match task_on(&app, &desktop, &id, &principal) {
        Some(task) => events(task, last_event_id(&headers, &resume)),
        None => super::no_task(&id),
    }
}

/// The caller's task `id`, if it is on `desktop`.
fn task_on(app: &AppState, desktop: &str, id: &str, principal: &Principal) -> Option<Arc<Task>> {
    app.tasks
        .get(id, principal)
        .filter(|t| t.desktop.as_str() == desktop)
}

fn last_event_id(headers: &HeaderMap, resume: &Resume) -> u64 {
    headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
        .or(resume.last_event_id)
        .unwrap_or(0)
}

fn format(event: &Event) -> String {
    format!(
        "id: {}\nevent: {}\ndata: {}\n\n",
        event.id, event.kind, event.data
    )
}

fn events(task: Arc<Task>, last: u64) -> Response {
    struct Cursor {
        task: Arc<Task>,
        changes: tokio::sync::watch::Receiver<u64>,
        last: u64,
        opened: bool,
    }
    let cursor = Cursor {
        changes: task.subscribe(),
        task,
        last,
        opened: false,
    };
    let stream = futures_util::stream::unfold(cursor, |mut cursor| async move {
        if !cursor.opened {
            cursor.opened = true;
            return Some((
                Ok::<_, std::convert::Infallible>(Bytes::from(": stream open\n\n")),
                cursor,
            ));
        }
        loop {
            // Marks what is seen before reading, so nothing sent meanwhile is missed.
            cursor.changes.borrow_and_update();
            let (events, ended) = cursor.task.events_after(cursor.last);
            if let Some(last) = events.last() {
                cursor.last = last.id;
                let text: String = events.iter().map(format).collect();
                return Some((Ok(Bytes::from(text)), cursor));
            }
            if ended {
                return None;
            }
            tokio::select! {
                changed = cursor.changes.changed() => {
                    if changed.is_err() {
                        return None;
                    }
                }
                _ = tokio::time::sleep(PING) => {
                    return Some((Ok(Bytes::from(": ping\n\n")), cursor));
                }
            }
        }
    });
    let mut response = Body::from_stream(stream).into_response();
    let headers = response.headers_mut();
    headers.insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/event-stream"),
    );
    headers.insert(
        http::header::CACHE_CONTROL,
        http::HeaderValue::from_static("no-cache"),
    );
    // Proxies that buffer (nginx) would hold the events back.
    headers.insert("x-accel-buffering", http::HeaderValue::from_static("no"));
    response
}

/// `GET /desktops/{desktop}/tasks`: the caller's tasks on a desktop, newest first (the live
/// view follows the newest).
pub(crate) async fn desktop_tasks(
    State(app): State<Arc<AppState>>,
    Path(desktop): Path<String>,
    Extension(principal): Extension<Principal>,
) -> Json<Value> {
    let tasks: Vec<Value> = app
        .tasks
        .visible(&principal)
        .iter()
        .filter(|t| t.desktop.as_str() == desktop)
        .take(20)
        .map(|t| t.view(false))
        .collect();
    Json(json!({ "tasks": tasks }))
}

/// `GET /desktops/{desktop}/tasks/{id}/steps/{n}`: the screen after step `n`, as the model
/// saw it.
pub(crate) async fn step_image(
    State(app): State<Arc<AppState>>,
    Path((desktop, id, step)): Path<(String, String, String)>,
    Extension(principal): Extension<Principal>,
) -> Response {
    let Some(task) = task_on(&app, &desktop, &id, &principal) else {
        return super::no_task(&id);
    };
    let Ok(n) = step.parse::<u32>() else {
        return error(StatusCode::NOT_FOUND, "a step is a number".into());
    };
    for (ext, mime) in super::run::IMAGE_TYPES {
        let path = task.transcript.join(super::run::step_file(n, ext));
        if let Ok(bytes) = tokio::fs::read(&path).await {
            return (
                [
                    (http::header::CONTENT_TYPE, mime),
                    (http::header::CACHE_CONTROL, "private, max-age=3600"),
                ],
                bytes,
            )
                .into_response();
        }
    }
    error(
        StatusCode::NOT_FOUND,
        format!("task {} has no screenshot for step {n}", task.id),
    )
}
