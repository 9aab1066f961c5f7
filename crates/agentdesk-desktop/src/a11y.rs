//! The desktop's accessibility tree for agents: a connection to its accessibility bus made on
//! first use (and again after a restart), the tree read within the call's time, and actions
//! done through the apps' own interfaces, or as a pointer click at the node's centre when a
//! node offers none (change feedback either way).

use std::time::{Duration, Instant};

use agentdesk_a11y::{A11y, Action, Expected, Filter, Limits, NodeId, Outcome, Tree};
use agentdesk_x11::{Button, PointerAction, WindowInfo};

use crate::desktop::Desktop;
use crate::feedback::Reaction;
use crate::{DesktopError, Result};

impl From<agentdesk_a11y::Error> for DesktopError {
    fn from(e: agentdesk_a11y::Error) -> Self {
        use agentdesk_a11y::Error as A;
        match e {
            A::NoNode(_) | A::Unsupported(_) => DesktopError::BadRequest(e.to_string()),
            A::Unavailable(_) | A::Timeout | A::Bus(_) | A::Disconnected => {
                DesktopError::Failed(e.to_string())
            }
        }
    }
}

impl Desktop {
    /// The connection to the accessibility bus of the running session, made if need be.
    pub(crate) async fn a11y(&self) -> Result<A11y> {
        let session = self.session()?;
        let mut slot = self.inner.a11y.lock().await;
        if let Some((x_pid, a11y)) = slot.as_ref() {
            if *x_pid == session.x_pid {
                return Ok(a11y.clone());
            }
        }
        let Some(bus_pid) = session.bus_pid else {
            return Err(DesktopError::Failed(
                "this desktop runs without a session bus, so its apps have no accessibility \
                 tree; use screen_find_text instead"
                    .into(),
            ));
        };
        let expected = Expected {
            session_socket: self.inner.config.runtime_dir.join("bus"),
            session_pid: bus_pid,
            runtime_dir: self.inner.config.runtime_dir.clone(),
            desktop_pid: session.x_pid,
        };
        let a11y = agentdesk_a11y::connect(&expected).await?;
        *slot = Some((session.x_pid, a11y.clone()));
        Ok(a11y)
    }

    /// The showing part of the apps' accessibility trees, within `limits`, by `deadline`.
    pub async fn ui_tree(
        &self,
        limits: Limits,
        deadline: Instant,
        filter: &Filter,
    ) -> Result<Tree> {
        let _awake = self.awake().await;
        let a11y = self.a11y().await?;
        match a11y.tree(limits, deadline, filter).await {
            // The bus was restarted since: once more, on a new connection.
            Err(agentdesk_a11y::Error::Disconnected) => {
                self.forget_a11y().await;
                let a11y = self.a11y().await?;
                Ok(a11y.tree(limits, deadline, filter).await?)
            }
            other => Ok(other?),
        }
    }

    /// Forgets the connection to the accessibility bus (it broke): the next call reconnects.
    async fn forget_a11y(&self) {
        *self.inner.a11y.lock().await = None;
    }

    /// Does `action` on node `id`: through the app's accessibility interface where it offers
    /// one, else a pointer click at the node's centre. Says which, with the screen's reaction.
    pub async fn ui_action(
        &self,
        id: &str,
        action: Action,
        text: Option<String>,
    ) -> Result<(Reaction, String)> {
        let node = NodeId::parse(id).ok_or_else(|| {
            DesktopError::BadRequest(format!(
                "{id:?} is not a node id; ids look like \"1.42/135\", as ui_tree and ui_find show them"
            ))
        })?;
        let typed = match (action, &text) {
            (Action::SetText, Some(t)) => Some(t.clone()),
            _ => None,
        };
        // Checked before anything happens: a text that cannot be typed must not leave the
        // field focused with all its text selected.
        if let Some(t) = &typed {
            agentdesk_x11::keys::text_keysyms(t)?;
        }
        let a11y = self.a11y().await?;
        let (reaction, outcome) = self
            .act_with(|_| {
                let a11y = a11y.clone();
                let node = node.clone();
                async move { Ok::<_, DesktopError>(a11y.act(&node, action).await) }
            })
            .await?;
        let outcome = match outcome {
            Ok(outcome) => outcome,
            Err(agentdesk_a11y::Error::Disconnected) => {
                self.forget_a11y().await;
                return Err(agentdesk_a11y::Error::Disconnected.into());
            }
            Err(e) => return Err(e.into()),
        };
        let (reaction, how) = match outcome {
            Outcome::Done(how) => (reaction, how),
            Outcome::ClickAt(x, y) => {
                let size = self.screen_size();
                let (Ok(px), Ok(py)) = (u32::try_from(x), u32::try_from(y)) else {
                    return Err(DesktopError::BadRequest(format!(
                        "node {id} is off screen at ({x}, {y}): scroll it into view first"
                    )));
                };
                if px >= size.width || py >= size.height {
                    return Err(DesktopError::BadRequest(format!(
                        "node {id} is off screen at ({x}, {y}): scroll it into view first"
                    )));
                }
                let reaction = self
                    .pointer(PointerAction::Click {
                        x: px,
                        y: py,
                        button: Button::Left,
                        count: 1,
                    })
                    .await?;
                (
                    reaction,
                    format!("pointer click at ({px}, {py}), the node's centre"),
                )
            }
        };
        let Some(text) = typed else {
            return Ok((reaction, how));
        };
        // Keys go over X and focus over the accessibility bus: two channels the app reads
        // separately, so the keys wait until the focus has landed.
        let (bus, id_) = (&a11y, &node);
        wait_for(
            move || async move { bus.is_focused(id_).await.unwrap_or(true) },
            FOCUS_WAIT,
        )
        .await;
        // Replace what the field holds: select it all, then type (an empty text deletes).
        let select_all = agentdesk_x11::KeyCombo::parse("ctrl+a")?;
        self.press_keys(select_all).await?;
        let reaction = if text.is_empty() {
            self.press_keys(agentdesk_x11::KeyCombo::parse("BackSpace")?)
                .await?
        } else {
            self.type_text(&text).await?
        };
        // And the call returns only once the field holds what was typed: an agent's next
        // ui_action moves the focus at once over the bus, while keys still queued for the
        // app would follow it into the next field (Firefox under load: half a name went
        // into the next field, and was typed over there).
        let max = text.chars().count() + 16;
        let typed = text.as_str();
        let reads = wait_for(
            move || async move {
                match bus.field_text(id_, max).await {
                    Ok(now) => reads_back(&now, typed),
                    // No text to read back: nothing to wait for.
                    Err(_) => true,
                }
            },
            READ_BACK,
        )
        .await;
        let said = if reads {
            format!("{how}, then its text selected and typed over")
        } else {
            format!(
                "{how}, then its text selected and typed over; but the field did not read \
                 back the typed text within {} s: check it (ui_find, screen_find_text) \
                 before going on",
                READ_BACK.as_secs()
            )
        };
        Ok((reaction, said))
    }
}

/// How long typed text gets to show in the field it was typed into.
const READ_BACK: Duration = Duration::from_secs(3);

/// Asks `done` every 20 ms until it says yes or `within` has passed; says whether it did.
async fn wait_for<F, Fut>(mut done: F, within: Duration) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + within;
    loop {
        if done().await {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Whether a field showing `now` holds `typed`: the same text, or as many mask characters
/// (a password field reads back its bullets, never its text).
fn reads_back(now: &str, typed: &str) -> bool {
    now == typed
        || (now.chars().count() == typed.chars().count()
            && !now.is_empty()
            && now.chars().all(|c| matches!(c, '•' | '●' | '*' | '∗')))
}

/// Roles a page map lists: what an agent clicks, types into or reads as a landmark.
const PAGE_ROLES: [&str; 15] = [
    "link",
    "push button",
    "toggle button",
    "entry",
    "password text",
    "check box",
    "radio button",
    "combo box",
    "list box",
    "spin button",
    "slider",
    "heading",
    "menu item",
    "page tab",
    "text",
];

/// The most elements a page map lists.
pub const MAX_PAGE_ELEMENTS: usize = 500;

/// A browser's page as an agent needs it: where it is, and what on it can be used.
#[derive(Debug, Clone)]
pub struct PageMap {
    /// The page's address.
    pub url: String,
    /// Its title (the document's name).
    pub title: String,
    /// Its visible interactive elements and headings, in document order.
    pub elements: Vec<agentdesk_a11y::Node>,
    /// Whether elements were left out (more than [`MAX_PAGE_ELEMENTS`], or the tree was cut).
    pub truncated: bool,
    /// Whether the document says it is still loading (its tree may not be whole yet).
    pub loading: bool,
}

impl Desktop {
    /// The topmost browser window (Firefox or Chromium) that is not minimized, by the window
    /// manager's stacking order; with `title`, the topmost whose title contains it.
    pub async fn browser_window(&self, title: Option<&str>) -> Result<WindowInfo> {
        let windows = self.windows().await?;
        let browser = |app: &str| {
            let app = app.to_lowercase();
            app.contains("firefox") || app.contains("chromium") || app.contains("chrome")
        };
        windows
            .into_iter()
            .find(|w| {
                browser(&w.app)
                    && !w.minimized
                    && title.is_none_or(|t| w.title.to_lowercase().contains(&t.to_lowercase()))
            })
            .ok_or_else(|| {
                DesktopError::BadRequest(
                    "no browser window is showing; app_launch firefox-esr (or chromium) first, \
                     or window_action restore a minimized one"
                        .into(),
                )
            })
    }

    /// The page shown in the topmost browser window (or the one whose title contains
    /// `window`): its URL, title, and the elements visible in its viewport, with their places.
    pub async fn page_map(&self, window: Option<String>, deadline: Instant) -> Result<PageMap> {
        let top = self.browser_window(window.as_deref()).await?;
        let filter = Filter {
            app: None,
            window: Some(top.title.clone()),
            exact: true,
        };
        let limits = Limits {
            max_nodes: 5000,
            max_depth: 64,
            containers: false,
        };
        let tree = self.ui_tree(limits, deadline, &filter).await?;
        let nodes = &tree.nodes;
        let frame = frame_of(nodes, &top);
        let doc = frame.and_then(|f| {
            let depth = nodes[f].depth;
            nodes[f + 1..]
                .iter()
                .take_while(|n| n.depth > depth)
                .position(|n| is_page(&n.role))
                .map(|i| f + 1 + i)
        });
        let Some(doc) = doc else {
            return Err(DesktopError::Failed(format!(
                "the browser window {:?} shows no page its accessibility tree describes yet \
                 (still loading?); try again, or use screen_find_text",
                top.title
            )));
        };
        let a11y = self.a11y().await?;
        let url = a11y.document_url(&nodes[doc].id).await.unwrap_or_default();
        // The viewport: the document's own box, else the window's.
        let view = nodes[doc]
            .rect
            .unwrap_or((top.x, top.y, top.width as i32, top.height as i32));
        let inside = |r: (i32, i32, i32, i32)| {
            let (cx, cy) = (r.0 + r.2 / 2, r.1 + r.3 / 2);
            cx >= view.0 && cx < view.0 + view.2 && cy >= view.1 && cy < view.1 + view.3
        };
        let depth = nodes[doc].depth;
        let mut elements = Vec::new();
        let mut truncated = tree.truncated;
        for n in nodes[doc + 1..].iter().take_while(|n| n.depth > depth) {
            let listed = PAGE_ROLES.contains(&n.role.as_str())
                && n.rect.is_some_and(inside)
                // A plain text run is listed only when it is a field (editable).
                && (n.role != "text" || n.state.words().contains("editable"));
            if !listed {
                continue;
            }
            if elements.len() == MAX_PAGE_ELEMENTS {
                truncated = true;
                break;
            }
            elements.push(n.clone());
        }
        Ok(PageMap {
            url,
            title: if nodes[doc].name.is_empty() {
                top.title.clone()
            } else {
                nodes[doc].name.clone()
            },
            elements,
            truncated,
            loading: nodes[doc].state.busy(),
        })
    }
}

/// The index in `nodes` (an outline from the whole tree) of `window`'s frame: a window node
/// titled exactly as the window, and where the window is (each one's centre inside the
/// other: apps count their frame's border in or not); of several, the one nearest the
/// window's place. Titles are the apps' and pages' to choose, so a title merely containing
/// another's never counts, nor does a namesake elsewhere on screen.
pub(crate) fn frame_of(nodes: &[agentdesk_a11y::Node], window: &WindowInfo) -> Option<usize> {
    let w = (
        i64::from(window.x),
        i64::from(window.y),
        i64::from(window.width),
        i64::from(window.height),
    );
    let inside = |p: (i64, i64), r: (i64, i64, i64, i64)| {
        p.0 >= r.0 && p.0 < r.0 + r.2 && p.1 >= r.1 && p.1 < r.1 + r.3
    };
    let centre = |r: (i64, i64, i64, i64)| (r.0 + r.2 / 2, r.1 + r.3 / 2);
    nodes
        .iter()
        .enumerate()
        .filter(|(_, n)| n.depth == 1 && agentdesk_a11y::is_titled(&n.name, &window.title))
        .filter_map(|(i, n)| {
            let (x, y, width, height) = n.rect?;
            let r = (
                i64::from(x),
                i64::from(y),
                i64::from(width),
                i64::from(height),
            );
            let distance =
                (r.0 - w.0).abs() + (r.1 - w.1).abs() + (r.2 - w.2).abs() + (r.3 - w.3).abs();
            (inside(centre(r), w) && inside(centre(w), r)).then_some((i, distance))
        })
        .min_by_key(|&(_, d)| d)
        .map(|(i, _)| i)
}

/// How long a browser window gets to take the focus before its address bar is typed into,
/// and a field before keys are sent to it anyway.
const FOCUS_WAIT: Duration = Duration::from_secs(1);
/// How long a browser gets to put the focus in its address bar after ctrl+l.
const ADDRESS_BAR_WAIT: Duration = Duration::from_secs(3);

/// Whether a node of this role is a web page (its document).
fn is_page(role: &str) -> bool {
    role == "document web" || role == "document frame"
}

/// Roles whose insides are the page's, not the browser's own controls: the page itself, its
/// frames, and the dialogs a page opens (`prompt()`'s field sits in one, beside the page).
const PAGE_OWNED: [&str; 6] = [
    "document web",
    "document frame",
    "internal frame",
    "dialog",
    "alert",
    "file chooser",
];

/// Whether browser window `window`'s keyboard focus is in its own controls, on a field (the
/// address bar), rather than in the page or a dialog the page opened; `None` when no
/// accessibility tree shows the window (nothing can be said).
async fn address_bar_focused(a11y: &A11y, window: &WindowInfo, deadline: Instant) -> Option<bool> {
    let filter = Filter {
        app: None,
        window: Some(window.title.clone()),
        exact: true,
    };
    // The tree is read a level at a time: the toolbars come before the page's depths,
    // so a few hundred nodes hold them.
    let limits = Limits {
        max_nodes: 400,
        max_depth: 64,
        containers: false,
    };
    let tree = a11y.tree(limits, deadline, &filter).await.ok()?;
    let nodes = &tree.nodes;
    let frame = frame_of(nodes, window)?;
    let depth = nodes[frame].depth;
    let mut page: Option<u32> = None;
    for n in nodes[frame + 1..].iter().take_while(|n| n.depth > depth) {
        if page.is_some_and(|d| n.depth > d) {
            continue;
        }
        page = None;
        if PAGE_OWNED.contains(&n.role.as_str()) {
            page = Some(n.depth);
        } else if n.state.focused() && n.state.words().contains("editable") {
            return Some(true);
        }
    }
    Some(false)
}

impl Desktop {
    /// Opens `url` in browser window `window` through its address bar, as one input action:
    /// the window focused (and checked to have the focus), ctrl+l, the address, Return, with
    /// no other input in between (a human taking control, another call) and nothing typed if
    /// the window did not take the focus.
    pub async fn browser_go(&self, window: u32, url: &str) -> Result<Reaction> {
        let url = url.trim();
        if url.is_empty() || url.len() > 8192 || url.chars().any(char::is_control) {
            return Err(DesktopError::BadRequest(
                "url must be 1 to 8192 characters on one line".into(),
            ));
        }
        agentdesk_x11::keys::text_keysyms(url)?;
        let (focus, enter) = (
            agentdesk_x11::KeyCombo::parse("ctrl+l")?,
            agentdesk_x11::KeyCombo::parse("Return")?,
        );
        let url = url.to_owned();
        // Asked for before the input is taken (the tree is read while it is held).
        let a11y = self.a11y().await.ok();
        let (reaction, ()) = self
            .act_with(move |x| async move {
                let shown = x.window(window).await?;
                x.window_action(window, agentdesk_x11::WindowAction::Focus)
                    .await?;
                let deadline = Instant::now() + FOCUS_WAIT;
                loop {
                    match x.window(window).await? {
                        Some(w) if w.focused => break,
                        None => return Err(agentdesk_x11::Error::NoWindow(window).into()),
                        Some(_) if Instant::now() >= deadline => {
                            return Err(DesktopError::Failed(format!(
                                "the browser window {window} did not take the focus; nothing \
                                 was typed"
                            )))
                        }
                        Some(_) => tokio::time::sleep(Duration::from_millis(10)).await,
                    }
                }
                // Each step waits until the browser has drawn its reaction to the last (the
                // address bar takes the focus after ctrl+l is handled, not when it is sent).
                crate::feedback::settle(&x, Some(Instant::now())).await;
                x.press_keys(focus).await?;
                // The address must go to the address bar, never into the page (a field there,
                // then Return, would submit it): a browser busy starting or loading handles
                // ctrl+l late, so its tree is asked until its address bar has the focus.
                let deadline = Instant::now() + ADDRESS_BAR_WAIT;
                loop {
                    let focused = match (&a11y, &shown) {
                        (Some(a11y), Some(info)) => address_bar_focused(a11y, info, deadline).await,
                        _ => None,
                    };
                    match focused {
                        Some(true) => break,
                        // No tree shows this window (a browser without accessibility): only
                        // the screen's reaction is waited for.
                        None => {
                            crate::feedback::settle(&x, Some(Instant::now())).await;
                            break;
                        }
                        Some(false) if Instant::now() >= deadline => {
                            return Err(DesktopError::Failed(format!(
                                "the address bar of browser window {window} did not take the \
                                 focus (ctrl+l) within {} s; nothing was typed",
                                ADDRESS_BAR_WAIT.as_secs()
                            )))
                        }
                        Some(false) => tokio::time::sleep(Duration::from_millis(50)).await,
                    }
                }
                x.type_text(&url).await?;
                crate::feedback::settle(&x, Some(Instant::now())).await;
                // Asked again before Return: a page that took the focus back meanwhile (a
                // script focusing one of its fields) got the rest of the address, and Return
                // would submit it there.
                if let (Some(a11y), Some(info)) = (&a11y, &shown) {
                    let deadline = Instant::now() + ADDRESS_BAR_WAIT;
                    if address_bar_focused(a11y, info, deadline).await == Some(false) {
                        return Err(DesktopError::Failed(format!(
                            "the page in browser window {window} took the focus from the \
                             address bar while the address was typed; Return was not pressed"
                        )));
                    }
                }
                x.press_keys(enter).await?;
                Ok::<_, DesktopError>(())
            })
            .await?;
        Ok(reaction)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use agentdesk_a11y::{Node, State};

    fn frame(n: u32, name: &str, rect: (i32, i32, i32, i32)) -> Node {
        Node {
            id: NodeId::parse(&format!("1.{n}/1")).unwrap(),
            role: "frame".into(),
            name: name.into(),
            rect: Some(rect),
            state: State::default(),
            depth: 1,
            app: "app".into(),
        }
    }

    #[test]
    fn a_windows_frame_is_titled_as_it_and_where_it_is() {
        let window = WindowInfo {
            id: 7,
            title: "Bank — Mozilla Firefox".into(),
            app: "firefox-esr".into(),
            pid: None,
            x: 0,
            y: 20,
            width: 600,
            height: 400,
            focused: true,
            minimized: false,
            maximized: false,
            fullscreen: false,
        };
        let nodes = vec![
            // A namesake elsewhere (another app's window, or a page that took the title).
            frame(1, "Bank — Mozilla Firefox", (700, 20, 300, 200)),
            // A title that only contains the window's.
            frame(2, "Evil Bank — Mozilla Firefox", (0, 20, 600, 400)),
            // The window's own, its border counted in.
            frame(3, "Bank — Mozilla Firefox", (0, 0, 600, 420)),
        ];
        assert_eq!(frame_of(&nodes, &window), Some(2));
        assert_eq!(frame_of(&nodes[..2], &window), None);
    }

    #[test]
    fn a_field_reads_back_its_text_or_as_many_bullets() {
        assert!(reads_back("Ada Lovelace", "Ada Lovelace"));
        assert!(!reads_back("Ada", "Ada Lovelace"));
        assert!(reads_back("", ""));
        assert!(reads_back("•••", "abc"));
        assert!(!reads_back("••", "abc"));
        assert!(!reads_back("***", "ab"));
    }
}
