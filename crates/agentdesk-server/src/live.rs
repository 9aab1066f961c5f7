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

use agentdesk_desktop::{ControlView, Desktop, DesktopId, Viewer, RFB_VERSION};
use agentdesk_rfb::ClientFramer;
use anyhow::Context as _;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Extension, Path, State};
use axum::response::{IntoResponse as _, Response};
use futures_util::{SinkExt as _, StreamExt as _};
use http::StatusCode;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::guard::{Credential, Principal, Refusal};
use crate::state::AppState;

/// RFB security type None: the viewer is already authenticated by the gate.
const SECURITY_NONE: u8 = 1;
/// A viewer must finish its side of the handshake within this (it holds a connection to Xvnc).
const HANDSHAKE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// How often a live connection asks again whether the credential it was opened with still
/// holds (a revoked token or a closed session ends it within this).
const RECHECK: std::time::Duration = std::time::Duration::from_secs(2);

/// Viewers open at once, over all desktops: each holds a connection to an Xvnc, which sends it
/// every screen update.
pub(crate) const MAX_VIEWERS: usize = 64;
/// Viewers open at once per token (whatever the credential: a bearer token can also log in on
/// the page), so that one token cannot use up every viewer's place. Give people tokens of
/// their own (a token file names them) and an agent cannot keep them out.
pub(crate) const MAX_VIEWERS_PER_TOKEN: usize = 16;
/// Connections to Xvnc being set up at once: Xvnc queues only a few, and a burst of viewers
/// (a page reloaded by many people, or a script) should wait its turn here.
pub(crate) const MAX_CONNECTING: usize = 4;

/// Viewers open per token's name.
type TokenCounts = Arc<std::sync::Mutex<std::collections::HashMap<String, usize>>>;

/// The live view's bounds on viewers.
#[derive(Debug)]
pub(crate) struct ViewerLimits {
    open: Arc<tokio::sync::Semaphore>,
    per_token: TokenCounts,
    connecting: tokio::sync::Semaphore,
}

impl Default for ViewerLimits {
    fn default() -> ViewerLimits {
        ViewerLimits {
            open: Arc::new(tokio::sync::Semaphore::new(MAX_VIEWERS)),
            per_token: Arc::default(),
            connecting: tokio::sync::Semaphore::new(MAX_CONNECTING),
        }
    }
}

/// An open viewer's place in the [`ViewerLimits`], given back when dropped.
struct ViewerSlot {
    _open: tokio::sync::OwnedSemaphorePermit,
    /// The token's name, and where it is counted.
    token: (String, TokenCounts),
}

impl Drop for ViewerSlot {
    fn drop(&mut self) {
        let (name, counts) = &self.token;
        let mut counts = crate::lock(counts);
        if let Some(n) = counts.get_mut(name) {
            *n -= 1;
            if *n == 0 {
                counts.remove(name);
            }
        }
    }
}

impl ViewerLimits {
    /// A place for one more viewer of `principal`, or why there is none.
    fn admit(&self, principal: &str) -> Result<ViewerSlot, Refusal> {
        let full = |message: String| Refusal(StatusCode::SERVICE_UNAVAILABLE, message);
        let Ok(open) = self.open.clone().try_acquire_owned() else {
            return Err(full(format!(
                "{MAX_VIEWERS} viewers are open already; close one and reload"
            )));
        };
        let mut counts = crate::lock(&self.per_token);
        let n = counts.entry(principal.to_string()).or_default();
        if *n >= MAX_VIEWERS_PER_TOKEN {
            return Err(full(format!(
                "{MAX_VIEWERS_PER_TOKEN} viewers of this token are open already; close one (the \
                 operator can give each person a token of their own)"
            )));
        }
        *n += 1;
        Ok(ViewerSlot {
            _open: open,
            token: (principal.to_string(), self.per_token.clone()),
        })
    }
}

/// Query parameters of the live view's endpoints.
#[derive(Debug, serde::Deserialize)]
pub(crate) struct ViewerQuery {
    /// The viewer's own id (the page makes one up and keeps it to itself); with the caller's
    /// token name, it names who holds control.
    #[serde(default)]
    viewer: Option<String>,
    /// For `/control`: "take" or "release".
    #[serde(default)]
    action: Option<String>,
}

/// A viewer id the page made up: 1 to 64 letters, digits, '-' or '_'.
fn checked_viewer(v: &str) -> Result<String, Refusal> {
    if !v.is_empty()
        && v.len() <= 64
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_".contains(&b))
    {
        Ok(v.to_string())
    } else {
        Err(Refusal(
            StatusCode::BAD_REQUEST,
            "viewer must be 1 to 64 letters, digits, '-' or '_'".into(),
        ))
    }
}

/// The viewer behind a request: its page's id (a made-up one if absent) and the token name the
/// gate found.
fn viewer_of(id: Option<&str>, principal: &Principal) -> Result<Viewer, Refusal> {
    let id = match id {
        Some(id) => checked_viewer(id)?,
        None => format!("viewer-{:016x}", rand::random::<u64>()),
    };
    Ok(Viewer {
        id,
        principal: principal.name.to_string(),
    })
}

/// The desktop named in the path, after the Origin and Host checks (started if it was not
/// running since a restart). One the caller may not see is not found, as if it did not exist.
async fn desktop_for(
    app: &AppState,
    headers: &http::HeaderMap,
    id: &str,
    principal: &Principal,
) -> Result<Desktop, Refusal> {
    if let Some(refusal) = app.gate.foreign_page(headers) {
        return Err(refusal);
    }
    let not_found = || Refusal(StatusCode::NOT_FOUND, "no such desktop here".into());
    let id = DesktopId::parse(id).map_err(|_| not_found())?;
    match app.manager.desktop(&id, &principal.caller()).await {
        Ok(desktop) => Ok(desktop),
        Err(agentdesk_desktop::FleetError::NotFound { .. }) => Err(not_found()),
        Err(e) => Err(Refusal(StatusCode::SERVICE_UNAVAILABLE, e.to_string())),
    }
}

/// `POST /desktops/{id}/control?viewer=V&action=take|release`: a human takes control (that
/// viewer's input then reaches the desktop, and agent input is refused) or hands it back.
/// `GET` says who holds it, as viewer V sees it.
pub(crate) async fn control(
    State(app): State<Arc<AppState>>,
    Path(id): Path<String>,
    method: http::Method,
    headers: http::HeaderMap,
    Extension(principal): Extension<Principal>,
    Extension(credential): Extension<Credential>,
    axum::extract::Query(query): axum::extract::Query<ViewerQuery>,
) -> Result<Response, Refusal> {
    let desktop = desktop_for(&app, &headers, &id, &principal).await?;
    let viewer = query
        .viewer
        .as_deref()
        .map(|v| viewer_of(Some(v), &principal))
        .transpose()?;
    if method == http::Method::POST {
        let Some(viewer) = &viewer else {
            return Err(Refusal(
                StatusCode::BAD_REQUEST,
                "name the viewer: ?viewer=...".into(),
            ));
        };
        let (event, refused) = match query.action.as_deref() {
            Some("take") => ("take_control", desktop.take_control(viewer).err()),
            Some("release") => {
                let refused = (!desktop.release_control(viewer)).then(|| {
                    agentdesk_desktop::DesktopError::Refused(
                        "this viewer does not hold control".into(),
                    )
                });
                ("release_control", refused)
            }
            _ => {
                return Err(Refusal(
                    StatusCode::BAD_REQUEST,
                    "action must be take or release".into(),
                ))
            }
        };
        audit(
            &app,
            &desktop,
            &principal,
            event,
            serde_json::Map::new(),
            refused.as_ref(),
        );
        // Releasing what one does not hold changes nothing: the state answers it, as ever.
        if let Some(e) = refused.filter(|_| event == "take_control") {
            return Err(Refusal(StatusCode::CONFLICT, e.to_string()));
        }
    }
    Ok(state(&desktop, viewer.as_ref(), &credential))
}

/// What the page shows: who holds control (as this viewer sees it: never another viewer's id),
/// the latest help request, and whether the browser is logged in (so it offers to log out).
fn state(desktop: &Desktop, viewer: Option<&Viewer>, credential: &Credential) -> Response {
    let help = desktop.help_request().map(|r| {
        serde_json::json!({
            "id": r.id,
            "message": r.message,
            "age_secs": r.age_secs,
            // Not the reply: it may be a secret meant for the one who asked, and anyone who
            // watches the desktop reads this.
            "answered": r.answer.is_some(),
        })
    });
    let (control, holder, secs) = match desktop.control_view(viewer) {
        ControlView::Agent => ("agent", None, None),
        ControlView::You { secs } => ("you", None, Some(secs)),
        ControlView::Other { principal, secs } => ("another viewer", Some(principal), Some(secs)),
    };
    axum::Json(serde_json::json!({
        "control": control,
        "holder_token": holder,
        "held_secs": secs,
        "help": help,
        "signed_in": matches!(credential, Credential::Session(_)),
    }))
    .into_response()
}

/// Records what a human did in the live view in the desktop's audit log, beside the agent's
/// calls (as `live_view.<event>`). What was refused (control held by another viewer, an answer
/// to a request that is gone) changed nothing and is only counted, like refused tool calls.
fn audit(
    app: &AppState,
    desktop: &Desktop,
    principal: &Principal,
    event: &str,
    arguments: serde_json::Map<String, serde_json::Value>,
    refused: Option<&agentdesk_desktop::DesktopError>,
) {
    let outcome = if refused.is_some() {
        crate::audit::Outcome::Rejected
    } else {
        crate::audit::Outcome::Ok
    };
    app.audit.call(
        desktop,
        crate::audit::Call {
            token: &principal.name,
            tool: &format!("live_view.{event}"),
            arguments: crate::audit::Recorded::of(&arguments),
            outcome,
            elapsed: std::time::Duration::ZERO,
            error: refused.map(ToString::to_string).as_deref(),
            screen: None,
        },
    );
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
    State(app): State<Arc<AppState>>,
    Path(id): Path<String>,
    headers: http::HeaderMap,
    Extension(principal): Extension<Principal>,
    Extension(credential): Extension<Credential>,
    axum::extract::Query(query): axum::extract::Query<AnswerQuery>,
    axum::Json(answer): axum::Json<Answer>,
) -> Result<Response, Refusal> {
    let desktop = desktop_for(&app, &headers, &id, &principal).await?;
    let viewer = viewer_of(Some(&query.viewer), &principal)?;
    // A task's question is for its owner (or an admin) to answer, even on a shared desktop.
    if !app
        .tasks
        .may_answer(desktop.id(), query.request, &principal)
    {
        return Err(Refusal(
            StatusCode::FORBIDDEN,
            "this question is another token's task's; only its owner (or an admin) answers it"
                .into(),
        ));
    }
    let answered = desktop.answer_help(query.request, &viewer.principal, &answer.reply);
    let mut arguments = serde_json::Map::new();
    arguments.insert("request".into(), query.request.into());
    arguments.insert("reply".into(), answer.reply.into());
    let error = answered.as_ref().err();
    audit(&app, &desktop, &principal, "answer_help", arguments, error);
    match answered {
        Ok(_) => Ok(state(&desktop, Some(&viewer), &credential)),
        Err(e @ agentdesk_desktop::DesktopError::BadRequest(_)) => {
            Err(Refusal(StatusCode::BAD_REQUEST, e.to_string()))
        }
        Err(e) => Err(Refusal(StatusCode::CONFLICT, e.to_string())),
    }
}

/// The upgrade handler.
pub(crate) async fn rfb_socket(
    State(app): State<Arc<AppState>>,
    Path(id): Path<String>,
    axum::extract::Query(query): axum::extract::Query<ViewerQuery>,
    headers: http::HeaderMap,
    Extension(principal): Extension<Principal>,
    Extension(credential): Extension<Credential>,
    upgrade: WebSocketUpgrade,
) -> Result<Response, Refusal> {
    let viewer = viewer_of(query.viewer.as_deref(), &principal)?;
    let desktop = desktop_for(&app, &headers, &id, &principal).await?;
    let slot = app.viewers.admit(&principal.name)?;
    Ok(upgrade
        .protocols(["binary"])
        .on_upgrade(move |socket| async move {
            let _slot = slot;
            desktop.viewer_connected(&viewer);
            let revoked = async {
                while app.gate.still_valid(&credential) {
                    tokio::time::sleep(RECHECK).await;
                }
            };
            let result = tokio::select! {
                result = bridge(socket, &app.viewers, desktop.clone(), viewer.clone()) => result,
                () = revoked => Err(anyhow::anyhow!("its token was revoked or its session closed")),
            };
            // A human who closes the page has let go: the agent need not wait for the idle
            // time (unless the same page still has another connection open).
            if desktop.viewer_disconnected(&viewer) {
                tracing::info!(desktop = %id, "the viewer holding control left");
            }
            match result {
                Ok(dropped) => {
                    tracing::info!(desktop = %id, dropped_input = dropped, "viewer left")
                }
                Err(e) => tracing::info!(desktop = %id, "viewer bridge ended: {e:#}"),
            }
        }))
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
///
/// The viewer's handshake comes first, answered here: a viewer that never finishes it (or
/// sends garbage) costs the desktop's Xvnc nothing. Only then is Xvnc connected, a few viewers
/// at a time.
async fn bridge(
    socket: WebSocket,
    limits: &ViewerLimits,
    desktop: Desktop,
    viewer: Viewer,
) -> anyhow::Result<u64> {
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
    let mut xvnc = {
        let _turn = limits.connecting.acquire().await?;
        desktop.connect_rfb().await?
    };
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
