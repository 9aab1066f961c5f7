//! What is on a desktop beyond its pixels, for agents that would rather not guess: the apps'
//! windows (listed and acted on through the window manager), the text on screen and where it
//! is (read from the pixels and kept per desktop between calls, in the apps' own words where
//! their accessibility trees agree with the pixels), and parts of the screen enlarged.

use std::sync::Arc;
use std::time::{Duration, Instant};

use agentdesk_image::{Format, Rect};
use agentdesk_ocr::{Given, Line, Readers, Reading, Source};
use agentdesk_x11::{WindowAction, WindowInfo};

use agentdesk_a11y::{Filter, Limits, Node, Place};

use crate::desktop::{Desktop, Shot};
use crate::feedback::{self, Reaction};
use crate::{lock, DesktopError, Result};

/// A zoomed image is at most this many pixels wide...
pub const MAX_ZOOM_WIDTH: u32 = 2560;
/// ...and this many tall.
pub const MAX_ZOOM_HEIGHT: u32 = 1600;
/// The bitmap font whose text is read by matching its glyphs before OCR: xterm's and
/// uxterm's default ("fixed", 6×13 pixels).
const TERMINAL_FONT: &str = "fixed";
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
    /// has settled, from `source`. Stops at `deadline` with what it has read
    /// (`Reading::complete` false).
    pub async fn read_text(
        &self,
        region: Option<Rect>,
        source: TextSource,
        deadline: Instant,
    ) -> Result<Arc<Reading>> {
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
        if source == TextSource::Accessibility {
            let (lines, complete, described) = self.accessible_lines(deadline).await?;
            let lines = lines.into_iter().filter_map(|l| l.within(region)).collect();
            return Ok(Arc::new(Reading {
                lines: agentdesk_ocr::screen::reading_order(lines),
                complete: complete && described,
                boxes: 0,
                read: 0,
            }));
        }
        let given = source == TextSource::Auto;
        let mut text = self.inner.text.lock().await;
        let damage = session.x.damage().borrow().count;
        if let Some(reading) = text.unchanged(region, size, damage, given) {
            return Ok(reading);
        }
        let given = if given {
            // The trees get part of the time: what they do not answer by then, OCR reads.
            let left = deadline.saturating_duration_since(Instant::now());
            match self.accessible_lines(Instant::now() + left / 3).await {
                Ok((lines, complete, _)) => Some(Given { lines, complete }),
                Err(e) => {
                    tracing::debug!("no text from the accessibility trees, OCR alone: {e}");
                    Some(Given::default())
                }
            }
        } else {
            None
        };
        if !text.glyphs_set() {
            // The terminal's font (xterm's default), read by matching its cells.
            let cells = session.x.font_cells(TERMINAL_FONT).await?;
            text.set_glyphs(
                cells.and_then(|c| agentdesk_ocr::Glyphs::new(c.width, c.height, &c.glyphs)),
            );
        }
        let frame = session.x.capture(None, self.buffer()).await?;
        let (reading, frame) = text
            .read(frame, region, given, damage, Readers::shared(), deadline)
            .await;
        self.recycle(frame.data);
        Ok(reading?)
    }

    /// The lines of text the apps' accessibility trees say they show in the windows nothing
    /// covers (not even in part: a menu or tooltip over a window leaves it out), each line only
    /// where it would show (inside its window, and inside the page or list it scrolls in). The
    /// bools: whether every tree answered in time, and whether a tree described every such
    /// window.
    async fn accessible_lines(&self, deadline: Instant) -> Result<(Vec<Line>, bool, bool)> {
        let session = self.session()?;
        let windows: Vec<WindowInfo> = session
            .x
            .window_list()
            .await?
            .into_iter()
            .filter(|w| !w.minimized)
            .collect();
        let clear = session
            .x
            .unobstructed(windows.iter().map(|w| w.id).collect())
            .await?;
        let windows: Vec<WindowInfo> = windows
            .into_iter()
            .filter(|w| clear.contains(&w.id))
            .collect();
        if windows.is_empty() {
            return Ok((Vec::new(), true, true));
        }
        let limits = Limits {
            max_nodes: MAX_TEXT_NODES,
            max_depth: 64,
            containers: true,
        };
        let a11y = self.a11y().await?;
        let mut lines = Vec::new();
        let mut complete = true;
        let mut described = true;
        for w in &windows {
            // Only this window's part of the tree: a big app whose windows are all covered
            // costs nothing.
            let filter = Filter {
                app: None,
                window: Some(w.title.clone()),
                exact: true,
            };
            let tree = self.ui_tree(limits, deadline, &filter).await?;
            complete &= !tree.truncated;
            let Some(frame) = crate::a11y::frame_of(&tree.nodes, w) else {
                // No tree describes this window (xterm): its text is not all there is.
                described = false;
                continue;
            };
            let shown = clipped(&tree.nodes, frame, w);
            let (more, all) = a11y
                .text_lines(&tree.nodes[frame].id, &shown, deadline)
                .await;
            lines.extend(more);
            complete &= all;
        }
        let screen = session.x.screen_size();
        let lines = lines
            .into_iter()
            .filter_map(|l| {
                let (x, y, w, h) = l.rect;
                let rect = (i64::from(x), i64::from(y), i64::from(w), i64::from(h));
                Rect::clipped(rect, screen).map(|r| Line::given(&l.text, r, Source::Accessibility))
            })
            .collect();
        Ok((lines, complete, described))
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

/// The nodes of the window whose frame is `nodes[frame]`, each with its clip: the part of the
/// screen it can show in (the window, cut by every page, scroll pane or viewport it sits
/// in), for those that reach into their clip.
fn clipped(nodes: &[Node], frame: usize, window: &WindowInfo) -> Vec<(Node, Place)> {
    let depth = nodes[frame].depth;
    let own: Place = (
        window.x,
        window.y,
        i32::try_from(window.width).unwrap_or(i32::MAX),
        i32::try_from(window.height).unwrap_or(i32::MAX),
    );
    // (depth, clip for the nodes below it)
    let mut clips: Vec<(u32, Place)> = vec![(depth, own)];
    let mut out = Vec::new();
    for n in nodes[frame + 1..].iter().take_while(|n| n.depth > depth) {
        while clips.last().is_some_and(|(d, _)| *d >= n.depth) {
            clips.pop();
        }
        let Some(&(_, clip)) = clips.last() else {
            break;
        };
        let Some(rect) = n.rect else {
            continue;
        };
        let Some(inner) = meet(clip, rect) else {
            continue;
        };
        let clip = if CLIPPING.contains(&n.role.as_str()) {
            inner
        } else {
            clip
        };
        clips.push((n.depth, clip));
        out.push((n.clone(), clip));
    }
    out
}

/// Roles that show only part of what is in them, scrolled.
const CLIPPING: [&str; 5] = [
    "document web",
    "document frame",
    "scroll pane",
    "viewport",
    "embedded",
];

/// The most nodes read for the text on screen.
const MAX_TEXT_NODES: usize = 4000;

/// Where two boxes meet, if they do.
fn meet(a: Place, b: Place) -> Option<Place> {
    let x0 = i64::from(a.0).max(i64::from(b.0));
    let y0 = i64::from(a.1).max(i64::from(b.1));
    let x1 = (i64::from(a.0) + i64::from(a.2)).min(i64::from(b.0) + i64::from(b.2));
    let y1 = (i64::from(a.1) + i64::from(a.3)).min(i64::from(b.1) + i64::from(b.3));
    let fit = |v: i64| i32::try_from(v).ok();
    (x1 > x0 && y1 > y0).then_some(())?;
    Some((fit(x0)?, fit(y0)?, fit(x1 - x0)?, fit(y1 - y0)?))
}

/// Where text on screen is read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextSource {
    /// The pixels (xterm's font matched, OCR for the rest), each line OCR read put in the
    /// app's own words where its accessibility tree says nearly the same there.
    Auto,
    /// The pixels alone.
    Ocr,
    /// The accessibility trees alone: what the apps say they show, unchecked.
    Accessibility,
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

#[cfg(test)]
mod tests {
    use super::*;
    use agentdesk_a11y::{NodeId, State};

    fn node(n: u32, role: &str, depth: u32, rect: Option<Place>) -> Node {
        Node {
            id: NodeId::parse(&format!("1.5/{n}")).unwrap(),
            role: role.into(),
            name: String::new(),
            rect,
            state: State::default(),
            depth,
            app: "app".into(),
        }
    }

    fn window(x: i32, y: i32, width: u32, height: u32) -> WindowInfo {
        WindowInfo {
            id: 1,
            title: "t".into(),
            app: "app".into(),
            pid: None,
            x,
            y,
            width,
            height,
            focused: false,
            minimized: false,
            maximized: false,
            fullscreen: false,
        }
    }

    #[test]
    fn each_node_is_clipped_by_its_window_and_the_views_it_scrolls_in() {
        let nodes = vec![
            node(0, "application", 0, None),
            node(1, "frame", 1, Some((0, 0, 600, 400))),
            node(2, "push button", 2, Some((10, 10, 50, 20))),
            node(3, "document web", 2, Some((0, 100, 600, 300))),
            // Scrolled up under the toolbar: outside the page's view.
            node(4, "paragraph", 3, Some((10, 40, 500, 40))),
            // Half in the view.
            node(5, "paragraph", 3, Some((10, 380, 500, 60))),
            node(6, "link", 4, Some((20, 390, 40, 16))),
            // Back at the frame's level: the page's clip no longer applies.
            node(7, "label", 2, Some((10, 60, 50, 20))),
            // Off to the right of the window.
            node(8, "label", 2, Some((700, 10, 50, 20))),
            // Another app.
            node(9, "application", 0, None),
        ];
        let kept = clipped(&nodes, 1, &window(0, 0, 600, 400));
        let got: Vec<(String, Place)> = kept
            .iter()
            .map(|(n, clip)| (n.id.to_string(), *clip))
            .collect();
        assert_eq!(
            got,
            [
                ("1.5/2".to_string(), (0, 0, 600, 400)),
                ("1.5/3".to_string(), (0, 100, 600, 300)),
                ("1.5/5".to_string(), (0, 100, 600, 300)),
                ("1.5/6".to_string(), (0, 100, 600, 300)),
                ("1.5/7".to_string(), (0, 0, 600, 400)),
            ]
        );
    }

    #[test]
    fn boxes_meet_where_they_overlap_and_far_ones_do_not_overflow() {
        assert_eq!(meet((0, 0, 10, 10), (5, 5, 10, 10)), Some((5, 5, 5, 5)));
        assert_eq!(meet((0, 0, 10, 10), (10, 0, 10, 10)), None);
        assert_eq!(
            meet((i32::MAX - 1, 0, i32::MAX, 5), (0, 0, i32::MAX, 5)),
            Some((i32::MAX - 1, 0, 1, 5))
        );
        assert_eq!(meet((i32::MIN, 0, 10, 5), (0, 0, 10, 5)), None);
    }
}
