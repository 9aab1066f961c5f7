//! What is on a desktop beyond its pixels, for agents that would rather not guess: the apps'
//! windows (listed and acted on through the window manager), the text on screen and where it
//! is (OCR, kept per desktop between calls), and parts of the screen enlarged.

use std::sync::Arc;
use std::time::{Duration, Instant};

use agentdesk_image::{Format, Rect};
use agentdesk_ocr::{Readers, Reading};
use agentdesk_x11::{WindowAction, WindowInfo};

use crate::desktop::{Desktop, Shot};
use crate::feedback::{self, Reaction};
use crate::{lock, DesktopError, Result};

/// A zoomed image is at most this many pixels wide...
pub const MAX_ZOOM_WIDTH: u32 = 2560;
/// ...and this many tall.
pub const MAX_ZOOM_HEIGHT: u32 = 1600;
/// How long a window action waits for the window manager to show its effect.
const WINDOW_SETTLE: Duration = Duration::from_millis(1000);

impl From<agentdesk_ocr::Error> for DesktopError {
    fn from(e: agentdesk_ocr::Error) -> Self {
        use agentdesk_ocr::Error as O;
        match e {
            O::Unavailable(_) | O::Failed { .. } => DesktopError::Failed(e.to_string()),
            O::Cancelled => DesktopError::Failed(
                "reading the screen's text ran out of time; what was read is kept, so calling \
                 again goes on from there (or pass a smaller region)"
                    .into(),
            ),
            O::Closed => DesktopError::Internal(e.to_string()),
        }
    }
}

impl Desktop {
    /// The apps' windows, topmost first, with their processes' ids as agentdesk sees them.
    pub async fn windows(&self) -> Result<Vec<WindowInfo>> {
        let _awake = self.awake().await;
        let session = self.session()?;
        let mut windows = session.x.window_list().await?;
        let x_pid = session.x_pid;
        if windows.iter().any(|w| w.pid.is_some()) {
            windows = tokio::task::spawn_blocking(move || {
                host_pids(&mut windows, x_pid);
                windows
            })
            .await
            .map_err(|e| DesktopError::Internal(format!("window task failed: {e}")))?;
        }
        Ok(windows)
    }

    /// Acts on window `id` through the window manager, reports how the screen reacted, and
    /// the window's state once the action shows in it (or after a second, whatever it is
    /// then; `None` once it has closed).
    pub async fn window_action(
        &self,
        id: u32,
        action: WindowAction,
    ) -> Result<(Reaction, Option<WindowInfo>)> {
        let reaction = self
            .act(move |x| async move { x.window_action(id, action).await })
            .await?;
        let session = self.session()?;
        let x = session.x;
        let deadline = Instant::now() + WINDOW_SETTLE;
        loop {
            let now = x.window(id).await?;
            let done = match (&now, action) {
                (None, _) => true,
                (Some(w), WindowAction::Focus) => w.focused,
                (Some(_), WindowAction::Close) => false,
                (Some(w), WindowAction::Minimize) => w.minimized,
                (Some(w), WindowAction::Maximize) => w.maximized,
                (Some(w), WindowAction::Fullscreen) => w.fullscreen,
                (Some(w), WindowAction::Restore) => !w.minimized && !w.maximized && !w.fullscreen,
                (Some(w), WindowAction::Move { x, y }) => (w.x, w.y) == (x, y),
                (Some(w), WindowAction::Resize { width, height }) => {
                    (w.width, w.height) == (width, height)
                }
            };
            if done || Instant::now() >= deadline {
                let mut now: Vec<WindowInfo> = now.into_iter().collect();
                let x_pid = session.x_pid;
                let now = tokio::task::spawn_blocking(move || {
                    host_pids(&mut now, x_pid);
                    now.pop()
                })
                .await
                .map_err(|e| DesktopError::Internal(format!("window task failed: {e}")))?;
                return Ok((reaction, now));
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// The text in `region` (the whole screen by default), in reading order, once the screen
    /// has settled. Stops at `deadline` with what it has read (`Reading::complete` false).
    pub async fn read_text(&self, region: Option<Rect>, deadline: Instant) -> Result<Arc<Reading>> {
        let _awake = self.awake().await;
        let session = self.session()?;
        let last_input = *lock(&self.inner.last_input);
        feedback::settle(&session.x, last_input).await;
        let size = session.x.screen_size();
        let region = region.unwrap_or(Rect::full(size));
        if !region.is_within(size) {
            // The screen shrank since the region was checked.
            return Err(DesktopError::BadRequest(format!(
                "the region is outside the {size} screen; take a new screenshot"
            )));
        }
        let mut text = self.inner.text.lock().await;
        let damage = session.x.damage().borrow().count;
        if let Some(reading) = text.unchanged(region, size, damage) {
            return Ok(reading);
        }
        let frame = session.x.capture(None, self.buffer()).await?;
        let (reading, frame) = text
            .read(frame, region, damage, Readers::shared(), deadline)
            .await;
        self.recycle(frame.data);
        Ok(reading?)
    }

    /// `rect` of the screen enlarged `scale` times (1–8), encoded like a screenshot.
    pub async fn zoom(&self, rect: Rect, scale: u32, format: Format) -> Result<Shot> {
        let scale = scale.clamp(1, 8);
        if rect.width.saturating_mul(scale) > MAX_ZOOM_WIDTH
            || rect.height.saturating_mul(scale) > MAX_ZOOM_HEIGHT
        {
            return Err(DesktopError::BadRequest(format!(
                "a {}x{} region enlarged {scale} times would be {}x{} pixels; the most is \
                 {MAX_ZOOM_WIDTH}x{MAX_ZOOM_HEIGHT}: pass a smaller region (at most {}x{} at \
                 this scale) or a smaller scale",
                rect.width,
                rect.height,
                u64::from(rect.width) * u64::from(scale),
                u64::from(rect.height) * u64::from(scale),
                MAX_ZOOM_WIDTH / scale,
                MAX_ZOOM_HEIGHT / scale,
            )));
        }
        let _awake = self.awake().await;
        let session = self.session()?;
        let last_input = *lock(&self.inner.last_input);
        feedback::settle(&session.x, last_input).await;
        let frame = session.x.capture(Some(rect), self.buffer()).await?;
        let (frame, result) = tokio::task::spawn_blocking(move || {
            let result = frame
                .enlarged(Rect::full(frame.size), scale)
                .and_then(|big| {
                    let (mut scratch, mut out) = (Vec::new(), Vec::with_capacity(256 * 1024));
                    agentdesk_image::encode_within_budget(
                        &big,
                        Rect::full(big.size),
                        format,
                        &mut scratch,
                        &mut out,
                    )
                    .map(|used| (used, out, big.size))
                });
            (frame, result)
        })
        .await
        .map_err(|e| DesktopError::Internal(format!("zoom task failed: {e}")))?;
        self.recycle(frame.data);
        let (used, bytes, size) = result?;
        Ok(Shot {
            bytes,
            mime_type: used.mime_type(),
            size,
        })
    }
}

/// Rewrites the windows' process ids, which apps in a sandbox give in its own PID namespace
/// (where the first app is process 2 or so), as the ids agentdesk's other tools use
/// (app_launch's, app_status's): each process's `NSpid` line in `/proc` names it in every
/// namespace, the host's first. The sandbox's namespace is the X server's. An id that names
/// no process there is dropped rather than passed on wrong.
fn host_pids(windows: &mut [WindowInfo], x_pid: u32) {
    let ns = |pid: &str| std::fs::read_link(format!("/proc/{pid}/ns/pid")).ok();
    let Some(theirs) = ns(&x_pid.to_string()) else {
        return;
    };
    if ns("self").as_ref() == Some(&theirs) {
        return; // no sandbox: the ids are ours already
    }
    let mut map = std::collections::HashMap::new();
    if let Ok(dir) = std::fs::read_dir("/proc") {
        for entry in dir.flatten() {
            let name = entry.file_name();
            let Some(name) = name
                .to_str()
                .filter(|n| n.bytes().all(|b| b.is_ascii_digit()))
            else {
                continue;
            };
            if ns(name).as_ref() != Some(&theirs) {
                continue;
            }
            let Ok(status) = std::fs::read_to_string(format!("/proc/{name}/status")) else {
                continue;
            };
            let ids: Vec<u32> = status
                .lines()
                .find_map(|l| l.strip_prefix("NSpid:"))
                .map(|l| {
                    l.split_whitespace()
                        .filter_map(|v| v.parse().ok())
                        .collect()
                })
                .unwrap_or_default();
            if let (Some(&host), Some(&inner)) = (ids.first(), ids.last()) {
                map.insert(inner, host);
            }
        }
    }
    for w in windows {
        w.pid = w.pid.and_then(|p| map.get(&p).copied());
    }
}
