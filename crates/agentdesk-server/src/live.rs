//! The live view's WebSocket bridge: `GET /desktops/{id}/rfb` upgrades to a WebSocket that
//! carries RFB between a browser viewer (noVNC) and the desktop's Xvnc, inside agentdesk: no
//! websockify process, and Xvnc's port and password never leave the machine.
//!
//! The bridge authenticates to Xvnc itself ([`Desktop::connect_rfb`]) and offers the viewer
//! security type None (the viewer has already passed the gate: token or loopback posture, and
//! an allowed Origin). After the handshake, Xvnc's bytes go to the viewer unchanged; the
//! viewer's bytes are framed ([`ClientFramer`]) and its input messages (keys, pointer,
//! clipboard, resizes) are dropped: viewers are view-only, filtered here whatever the page does.

use std::sync::Arc;

use agentdesk_desktop::{Desktop, DesktopId, RFB_VERSION};
use agentdesk_rfb::ClientFramer;
use anyhow::Context as _;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, State};
use axum::response::{IntoResponse as _, Response};
use futures_util::{SinkExt as _, StreamExt as _};
use http::StatusCode;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::guard::Guard;

/// RFB security type None: the viewer is already authenticated by the gate.
const SECURITY_NONE: u8 = 1;
/// A viewer must finish its side of the handshake within this (it holds a connection to Xvnc).
const HANDSHAKE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Query parameters of the live view's endpoints.
#[derive(Debug, serde::Deserialize)]
pub(crate) struct ViewerQuery {
    /// The viewer's own id (the page makes one up); it names who holds control.
    #[serde(default)]
    viewer: Option<String>,
    /// For `/control`: "take" or "release".
    #[serde(default)]
    action: Option<String>,
}

/// The viewer's id from the query (a made-up one if absent), or why it is refused.
fn viewer_id(query: &ViewerQuery) -> Result<String, &'static str> {
    match &query.viewer {
        None => Ok(format!("viewer-{:016x}", rand::random::<u64>())),
        Some(v) => checked_viewer(v),
    }
}

/// A viewer id the page made up: 1 to 64 letters, digits, '-' or '_'.
fn checked_viewer(v: &str) -> Result<String, &'static str> {
    if !v.is_empty()
        && v.len() <= 64
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_".contains(&b))
    {
        Ok(v.to_string())
    } else {
        Err("viewer must be 1 to 64 letters, digits, '-' or '_'\n")
    }
}

/// `POST /desktops/{id}/control?viewer=V&action=take|release`: a human takes control (that
/// viewer's input then reaches the desktop, and agent input is refused) or hands it back.
/// `GET` says who holds it.
pub(crate) async fn control(
    State(guard): State<Arc<Guard>>,
    Path(id): Path<String>,
    method: http::Method,
    headers: http::HeaderMap,
    axum::extract::Query(query): axum::extract::Query<ViewerQuery>,
) -> Response {
    if let Some(refusal) = guard.foreign_page(&headers) {
        return refusal;
    }
    let Some(desktop) = guard.manager.get(&DesktopId(id.clone())) else {
        return (StatusCode::NOT_FOUND, format!("no desktop named {id:?}\n")).into_response();
    };
    if method == http::Method::POST {
        let viewer = match viewer_id(&query) {
            Ok(v) if query.viewer.is_some() => v,
            Ok(_) => {
                return (StatusCode::BAD_REQUEST, "name the viewer: ?viewer=...\n").into_response()
            }
            Err(why) => return (StatusCode::BAD_REQUEST, why).into_response(),
        };
        match query.action.as_deref() {
            Some("take") => {
                if let Err(e) = desktop.take_control(&viewer) {
                    return (StatusCode::CONFLICT, format!("{e}\n")).into_response();
                }
            }
            Some("release") => {
                desktop.release_control(&viewer);
            }
            _ => {
                return (StatusCode::BAD_REQUEST, "action must be take or release\n")
                    .into_response()
            }
        }
    }
    state(&guard, &desktop, &headers)
}

/// What the page shows: who holds control, the latest help request, whether the browser is
/// logged in (so it offers to log out).
fn state(guard: &Guard, desktop: &Desktop, headers: &http::HeaderMap) -> Response {
    let help = desktop.help_request().map(|r| {
        serde_json::json!({
            "id": r.id,
            "message": r.message,
            "age_secs": r.age_secs,
            "answered": r.answer.is_some(),
            "reply": r.answer.map(|a| a.reply),
        })
    });
    let signed_in = guard.tokens.configured() && headers.contains_key(http::header::COOKIE);
    axum::Json(serde_json::json!({
        "controller": desktop.controller(),
        "help": help,
        "signed_in": signed_in,
    }))
    .into_response()
}

/// The largest answer body accepted (a 2000-character reply, JSON-escaped).
pub(crate) const MAX_ANSWER_BYTES: usize = 16 * 1024;

/// Query of `/help`: who answers which request.
#[derive(Debug, serde::Deserialize)]
pub(crate) struct AnswerQuery {
    viewer: String,
    request: u64,
}

/// Body of `/help`.
#[derive(Debug, serde::Deserialize)]
pub(crate) struct Answer {
    #[serde(default)]
    reply: String,
}

/// `POST /desktops/{id}/help?viewer=V&request=N` with `{"reply": "..."}`: a human answers the
/// agent's help request.
pub(crate) async fn answer_help(
    State(guard): State<Arc<Guard>>,
    Path(id): Path<String>,
    headers: http::HeaderMap,
    axum::extract::Query(query): axum::extract::Query<AnswerQuery>,
    axum::Json(answer): axum::Json<Answer>,
) -> Response {
    if let Some(refusal) = guard.foreign_page(&headers) {
        return refusal;
    }
    let Some(desktop) = guard.manager.get(&DesktopId(id.clone())) else {
        return (StatusCode::NOT_FOUND, format!("no desktop named {id:?}\n")).into_response();
    };
    let viewer = match checked_viewer(&query.viewer) {
        Ok(v) => v,
        Err(why) => return (StatusCode::BAD_REQUEST, why).into_response(),
    };
    match desktop.answer_help(query.request, &viewer, &answer.reply) {
        Ok(_) => state(&guard, &desktop, &headers),
        Err(e @ agentdesk_desktop::DesktopError::BadRequest(_)) => {
            (StatusCode::BAD_REQUEST, format!("{e}\n")).into_response()
        }
        Err(e) => (StatusCode::CONFLICT, format!("{e}\n")).into_response(),
    }
}

/// The upgrade handler.
pub(crate) async fn rfb_socket(
    State(guard): State<Arc<Guard>>,
    Path(id): Path<String>,
    axum::extract::Query(query): axum::extract::Query<ViewerQuery>,
    headers: http::HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Response {
    let viewer = match viewer_id(&query) {
        Ok(v) => v,
        Err(why) => return (StatusCode::BAD_REQUEST, why).into_response(),
    };
    if let Some(refusal) = guard.foreign_page(&headers) {
        return refusal;
    }
    let Some(desktop) = guard.manager.get(&DesktopId(id.clone())) else {
        return (StatusCode::NOT_FOUND, format!("no desktop named {id:?}\n")).into_response();
    };
    upgrade
        .protocols(["binary"])
        .on_upgrade(move |socket| async move {
            let result = bridge(socket, desktop.clone(), viewer.clone()).await;
            // A human who closes the page has let go: the agent need not wait for the idle
            // time to pass.
            if desktop.release_control(&viewer) {
                tracing::info!(desktop = %id, "the viewer holding control left; control handed back");
            }
            match result {
                Ok(dropped) => {
                    tracing::info!(desktop = %id, dropped_input = dropped, "viewer left")
                }
                Err(e) => tracing::info!(desktop = %id, "viewer bridge ended: {e:#}"),
            }
        })
}

/// RFB bytes as one WebSocket message.
fn binary(bytes: &[u8]) -> Message {
    Message::Binary(bytes.to_vec().into())
}

/// Bytes from the viewer, whatever WebSocket messages they arrived in.
struct Inbox {
    socket: futures_util::stream::SplitStream<WebSocket>,
    buffer: Vec<u8>,
}

impl Inbox {
    /// The next binary payload; `None` when the viewer left.
    async fn next(&mut self) -> anyhow::Result<Option<Vec<u8>>> {
        while let Some(message) = self.socket.next().await {
            match message.context("the viewer's WebSocket failed")? {
                Message::Binary(bytes) => return Ok(Some(bytes.to_vec())),
                Message::Close(_) => return Ok(None),
                Message::Text(_) => anyhow::bail!("the viewer sent text; RFB is binary"),
                Message::Ping(_) | Message::Pong(_) => {}
            }
        }
        Ok(None)
    }

    async fn read_exact(&mut self, n: usize) -> anyhow::Result<Vec<u8>> {
        while self.buffer.len() < n {
            let bytes = self
                .next()
                .await?
                .context("the viewer left during the handshake")?;
            self.buffer.extend_from_slice(&bytes);
        }
        let rest = self.buffer.split_off(n);
        Ok(std::mem::replace(&mut self.buffer, rest))
    }
}

/// The viewer's side of the handshake: version, security None, ClientInit (always treated as
/// shared, whatever the viewer asked).
async fn viewer_handshake(
    to_viewer: &mut futures_util::stream::SplitSink<WebSocket, Message>,
    inbox: &mut Inbox,
) -> anyhow::Result<()> {
    to_viewer.send(binary(RFB_VERSION)).await?;
    let version = inbox.read_exact(12).await?;
    let legacy = match &version[..] {
        b"RFB 003.008\n" => false,
        b"RFB 003.007\n" => true,
        other => anyhow::bail!(
            "unsupported viewer version {:?}",
            String::from_utf8_lossy(other)
        ),
    };
    to_viewer.send(binary(&[1, SECURITY_NONE])).await?;
    if inbox.read_exact(1).await?[0] != SECURITY_NONE {
        anyhow::bail!("the viewer chose a security type that was not offered");
    }
    if !legacy {
        to_viewer.send(binary(&0u32.to_be_bytes())).await?;
    }
    inbox.read_exact(1).await?;
    Ok(())
}

/// Relays until either side leaves; returns how many input messages were dropped.
async fn bridge(socket: WebSocket, desktop: Desktop, viewer: String) -> anyhow::Result<u64> {
    let mut xvnc = desktop.connect_rfb().await?;
    let (mut to_viewer, from_viewer) = socket.split();
    let mut inbox = Inbox {
        socket: from_viewer,
        buffer: Vec::new(),
    };
    tokio::time::timeout(
        HANDSHAKE_TIMEOUT,
        viewer_handshake(&mut to_viewer, &mut inbox),
    )
    .await
    .context("the viewer did not finish the RFB handshake within 10 s")??;
    xvnc.write_all(&[1]).await?;
    let (mut xvnc_rx, mut xvnc_tx) = xvnc.into_split();
    let to_viewer = tokio::sync::Mutex::new(to_viewer);

    let downstream = async {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = xvnc_rx.read(&mut buf).await?;
            if n == 0 {
                return anyhow::Ok(());
            }
            to_viewer.lock().await.send(binary(&buf[..n])).await?;
        }
    };
    let upstream = async move {
        let mut framer = ClientFramer::new();
        framer.push(&std::mem::take(&mut inbox.buffer));
        let mut dropped = 0u64;
        loop {
            while let Some(message) = framer.next_message()? {
                // Input reaches the desktop only from the viewer holding control.
                if message.is_input() && !desktop.human_input(&viewer) {
                    dropped += 1;
                    continue;
                }
                xvnc_tx.write_all(&message.bytes).await?;
            }
            match inbox.next().await? {
                Some(bytes) => framer.push(&bytes),
                None => return anyhow::Ok(dropped),
            }
        }
    };
    let done = tokio::select! {
        done = downstream => done.map(|()| 0),
        done = upstream => done,
    };
    // Answer (or start) the closing handshake and flush it, so the viewer need not wait for a
    // timeout: a Close frame tungstenite queued in reply to the viewer's is only sent on flush.
    let mut sink = to_viewer.lock().await;
    let _ = sink.flush().await;
    let _ = sink.close().await;
    done
}
