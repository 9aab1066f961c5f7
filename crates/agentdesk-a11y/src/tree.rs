//! Reading the tree and acting on its nodes: [`A11y`], one connection to a desktop's
//! accessibility bus.
//!
//! The tree is read a level at a time, every node of a level asked at once (D-Bus calls are
//! pipelined on one connection), and only what is showing is followed: a minimized window or
//! a closed menu is not descended into. Apps answer what they like, so everything is bounded:
//! nodes, depth, children per node, name lengths, and the caller's deadline.

use std::collections::HashMap;
use std::time::Instant;

use futures_util::stream::{self, StreamExt};
use zbus::zvariant::{OwnedObjectPath, OwnedValue};

use crate::node::{cut, Node, NodeId, State, MAX_NAME};
use crate::Error;

pub(crate) const ACCESSIBLE: &str = "org.a11y.atspi.Accessible";
pub(crate) const TEXT: &str = "org.a11y.atspi.Text";
/// Calls in flight at once on the connection.
const IN_FLIGHT: usize = 64;
/// Children followed per node: a list or table with more is cut (the agent scrolls or
/// searches within it instead).
const MAX_CHILDREN: i32 = 500;

/// Containers with no name of their own add nothing to an outline: their children are shown
/// in their place.
const CONTAINERS: [&str; 9] = [
    "filler",
    "panel",
    "section",
    "unknown",
    "redundant object",
    "layered pane",
    "viewport",
    "scroll pane",
    "split pane",
];

/// Roles whose text is shown when they have no name.
const TEXTUAL: [&str; 6] = ["text", "entry", "label", "paragraph", "heading", "static"];

/// How much of the tree to read.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Nodes kept at most.
    pub max_nodes: usize,
    /// Levels below the apps followed at most.
    pub max_depth: u32,
    /// Keep unnamed containers (sections, panels, scroll panes) rather than showing their
    /// children in their place: they may hold text, and they clip what scrolls in them.
    pub containers: bool,
}

/// Which apps and windows to read.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Only apps whose name contains this (case ignored).
    pub app: Option<String>,
    /// Only windows whose title contains this (case ignored).
    pub window: Option<String>,
    /// `window` is the whole title, exactly (not a part of it, case and all).
    pub exact: bool,
}

/// A tree as read: nodes in outline order (each after its parent, siblings in order).
#[derive(Debug, Clone, Default)]
pub struct Tree {
    /// The nodes.
    pub nodes: Vec<Node>,
    /// Whether a limit (nodes, depth, children per node, time) cut it short.
    pub truncated: bool,
}

/// What to do to a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Activate it (a button, a link, a menu item).
    Click,
    /// The same, for apps that call it "press".
    Press,
    /// Give it the keyboard focus.
    Focus,
    /// Focus it, for the caller to replace its text by typing.
    SetText,
    /// Flip a check box or toggle button.
    Toggle,
    /// Select it (a list item, a tab, an option).
    Select,
    /// Expand it (a tree row, a combo box).
    Expand,
}

/// How an action was done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Through the app's own accessibility interface (which one is said).
    Done(String),
    /// The node offers no such action: a pointer click at this point (its centre) is the
    /// caller's to do.
    ClickAt(i32, i32),
}

/// One connection to a desktop's accessibility bus.
#[derive(Debug, Clone)]
pub struct A11y {
    conn: zbus::Connection,
}

/// What one node said, before filtering.
struct Info {
    role: String,
    name: String,
    state: State,
    rect: Option<(i32, i32, i32, i32)>,
    children: Vec<NodeId>,
    more_children: bool,
}

impl A11y {
    pub(crate) fn new(conn: zbus::Connection) -> A11y {
        A11y { conn }
    }

    pub(crate) async fn call<B, R>(
        &self,
        id: &NodeId,
        iface: &str,
        method: &str,
        body: &B,
    ) -> Result<R, Error>
    where
        B: serde::Serialize + zbus::zvariant::DynamicType,
        R: for<'d> serde::Deserialize<'d> + zbus::zvariant::Type,
    {
        let reply = self
            .conn
            .call_method(
                Some(id.bus.as_str()),
                id.path.as_str(),
                Some(iface),
                method,
                body,
            )
            .await
            .map_err(|e| match Error::from(e) {
                Error::NoNode(_) => Error::NoNode(id.to_string()),
                other => other,
            })?;
        reply
            .body()
            .deserialize()
            .map_err(|e| Error::Bus(e.to_string()))
    }

    pub(crate) async fn property(
        &self,
        id: &NodeId,
        iface: &str,
        name: &str,
    ) -> Result<OwnedValue, Error> {
        self.call(id, "org.freedesktop.DBus.Properties", "Get", &(iface, name))
            .await
    }

    async fn children(&self, id: &NodeId) -> Result<(Vec<NodeId>, bool), Error> {
        let count: i32 = self
            .property(id, ACCESSIBLE, "ChildCount")
            .await
            .ok()
            .and_then(|v| i32::try_from(v).ok())
            .unwrap_or(0);
        let refs: Vec<(String, OwnedObjectPath)> = if count <= MAX_CHILDREN {
            self.call(id, ACCESSIBLE, "GetChildren", &()).await?
        } else {
            let mut out = Vec::new();
            for i in 0..MAX_CHILDREN {
                if let Ok(r) = self.call(id, ACCESSIBLE, "GetChildAtIndex", &(i,)).await {
                    out.push(r);
                }
            }
            out
        };
        let more = refs.len() as i64 > i64::from(MAX_CHILDREN) || count > MAX_CHILDREN;
        let ids = refs
            .into_iter()
            .take(MAX_CHILDREN as usize)
            // A null reference ("" or "/org/a11y/atspi/null") is no child.
            .filter(|(bus, path)| !bus.is_empty() && !path.as_str().ends_with("/null"))
            .map(|(bus, path)| NodeId {
                bus,
                path: path.as_str().to_string(),
            })
            .collect();
        Ok((ids, more))
    }

    /// The first `max` characters of node `id`'s text (its Text interface), if it has one.
    /// Its length is asked first: Firefox answers an empty text when asked for more than
    /// there is, and a field's text could be megabytes.
    pub(crate) async fn text_of(&self, id: &NodeId, max: usize) -> Result<String, Error> {
        let count: i32 = self
            .property(id, TEXT, "CharacterCount")
            .await
            .ok()
            .and_then(|v| i32::try_from(v).ok())
            .unwrap_or(0);
        let end = count.clamp(0, i32::try_from(max).unwrap_or(i32::MAX));
        if end == 0 {
            return Ok(String::new());
        }
        self.call(id, TEXT, "GetText", &(0i32, end)).await
    }

    /// The first `max` characters of a field's (or any node's) text, for a caller checking
    /// what it typed arrived: errs when the node has no Text interface.
    pub async fn field_text(&self, id: &NodeId, max: usize) -> Result<String, Error> {
        // Asked first so that a node without text errs rather than reads as empty.
        self.property(id, TEXT, "CharacterCount").await?;
        self.text_of(id, max).await
    }

    /// Whether node `id` has the keyboard focus now.
    pub async fn is_focused(&self, id: &NodeId) -> Result<bool, Error> {
        let words: Vec<u32> = self.call(id, ACCESSIBLE, "GetState", &()).await?;
        Ok(State::from_words(&words).focused())
    }

    pub(crate) async fn extents(&self, id: &NodeId) -> Option<(i32, i32, i32, i32)> {
        let r: (i32, i32, i32, i32) = self
            .call(id, "org.a11y.atspi.Component", "GetExtents", &(0u32,))
            .await
            .ok()?;
        // Off-screen objects report i32::MIN and the like; empty ones mean nothing.
        (r.2 > 0 && r.3 > 0 && r.0 > -100_000 && r.1 > -100_000).then_some(r)
    }

    async fn info(&self, id: &NodeId, follow: bool) -> Result<Info, Error> {
        let (role, name, state, rect) = tokio::join!(
            self.call::<_, String>(id, ACCESSIBLE, "GetRoleName", &()),
            self.property(id, ACCESSIBLE, "Name"),
            self.call::<_, Vec<u32>>(id, ACCESSIBLE, "GetState", &()),
            self.extents(id),
        );
        let role = role?;
        let state = State::from_words(&state.unwrap_or_default());
        let mut name = name
            .ok()
            .and_then(|v| String::try_from(v).ok())
            .unwrap_or_default();
        // A text field's or label's words are its text, not its name: show them (never a
        // password field's).
        if name.is_empty() && TEXTUAL.contains(&role.as_str()) {
            name = self.text_of(id, MAX_NAME).await.unwrap_or_default();
        }
        let (children, more_children) = if follow && (state.showing() || role == "application") {
            self.children(id).await.unwrap_or_default()
        } else {
            (Vec::new(), false)
        };
        Ok(Info {
            role: cut(&role, 40),
            name: cut(&name, MAX_NAME),
            state,
            rect,
            children,
            more_children,
        })
    }

    /// The showing part of the tree: every app's windows and what is in them, pruned to what
    /// is on screen, at most `limits`, by `deadline`. `filter` keeps only some apps and
    /// windows.
    pub async fn tree(
        &self,
        limits: Limits,
        deadline: Instant,
        filter: &Filter,
    ) -> Result<Tree, Error> {
        let root = NodeId {
            bus: "org.a11y.atspi.Registry".into(),
            path: "/org/a11y/atspi/accessible/root".into(),
        };
        let (apps, _) = tokio::time::timeout_at(deadline.into(), self.children(&root))
            .await
            .map_err(|_| Error::Timeout)??;
        // (id, parent index in `kept`, depth as printed)
        let mut level: Vec<(NodeId, Option<usize>, u32)> =
            apps.into_iter().map(|id| (id, None, 0)).collect();
        let mut kept: Vec<(Node, Option<usize>)> = Vec::new();
        let mut truncated = false;
        let mut depth = 0u32;
        while !level.is_empty() {
            if kept.len() >= limits.max_nodes || depth > limits.max_depth + 1 {
                truncated = true;
                break;
            }
            let follow = depth <= limits.max_depth;
            // Owned ids and connection in each future: borrowed ones make the stream's
            // futures generic over lifetimes, which a spawned task cannot be.
            let ids: Vec<NodeId> = level.iter().map(|(id, _, _)| id.clone()).collect();
            let this = self.clone();
            let asked = stream::iter(ids.into_iter().map(move |id| {
                let this = this.clone();
                async move { this.info(&id, follow).await }
            }))
            .buffered(IN_FLIGHT)
            .collect::<Vec<_>>();
            let Ok(infos) = tokio::time::timeout_at(deadline.into(), asked).await else {
                truncated = true;
                break;
            };
            let mut next = Vec::new();
            for ((id, parent, shown_depth), info) in level.into_iter().zip(infos) {
                // A node that went away meanwhile, or answers nothing, is left out.
                let Ok(info) = info else { continue };
                let is_app = parent.is_none() && depth == 0;
                let contains = |want: &Option<String>| {
                    want.as_ref()
                        .is_none_or(|w| info.name.to_lowercase().contains(&w.to_lowercase()))
                };
                // Apps by their name; below them only what shows, windows by their title.
                let wanted = if is_app {
                    contains(&filter.app)
                } else {
                    let window_ok = match (&filter.window, filter.exact) {
                        (Some(title), true) => crate::node::is_titled(&info.name, title),
                        _ => contains(&filter.window),
                    };
                    info.state.showing() && (depth != 1 || window_ok)
                };
                if !wanted {
                    continue;
                }
                truncated |= info.more_children;
                let app_name = match parent {
                    Some(p) => kept[p].0.app.clone(),
                    None => info.name.clone(),
                };
                let quiet = !limits.containers
                    && !is_app
                    && info.name.is_empty()
                    && CONTAINERS.contains(&info.role.as_str());
                let (here, child_depth) = if quiet {
                    (parent, shown_depth)
                } else {
                    if kept.len() >= limits.max_nodes {
                        truncated = true;
                        continue;
                    }
                    kept.push((
                        Node {
                            id: id.clone(),
                            role: info.role,
                            name: info.name,
                            rect: info.rect,
                            state: info.state,
                            depth: shown_depth,
                            app: app_name,
                        },
                        parent,
                    ));
                    (Some(kept.len() - 1), shown_depth + 1)
                };
                if !follow && !info.children.is_empty() {
                    truncated = true;
                }
                for child in info.children {
                    next.push((child, here, child_depth));
                }
            }
            level = next;
            depth += 1;
        }
        Ok(Tree {
            nodes: outline(kept),
            truncated,
        })
    }

    /// A document's address (a web page's URL), if it says.
    pub async fn document_url(&self, id: &NodeId) -> Option<String> {
        let url: String = self
            .call(
                id,
                "org.a11y.atspi.Document",
                "GetAttributeValue",
                &("DocURL",),
            )
            .await
            .ok()?;
        Some(cut(&url, 2048))
    }

    /// Does `action` on node `id` through its accessibility interfaces, or says where to
    /// click instead.
    pub async fn act(&self, id: &NodeId, action: Action) -> Result<Outcome, Error> {
        // The node must be alive: a dead id is an error, not a no-op.
        let _: String = self.call(id, ACCESSIBLE, "GetRoleName", &()).await?;
        match action {
            // Text is typed by the caller into the focused node: typing is what apps
            // handle fully (Firefox takes EditableText.SetTextContents on an <input> and
            // still submits the field empty: measured).
            Action::Focus | Action::SetText => {
                let ok: bool = self
                    .call(id, "org.a11y.atspi.Component", "GrabFocus", &())
                    .await
                    .unwrap_or(false);
                if ok {
                    return Ok(Outcome::Done("accessibility: Component.GrabFocus".into()));
                }
            }
            _ => {}
        }
        let wanted: &[&str] = match action {
            Action::Click | Action::Press => &["click", "press", "activate", "jump", "open"],
            Action::Toggle => &["toggle", "click", "press", "activate"],
            Action::Select => &["select", "click", "activate", "press"],
            Action::Expand => &["expand or contract", "expand", "open", "click", "press"],
            Action::Focus | Action::SetText => &["click", "press", "activate"],
        };
        let actions: Vec<(String, String, String)> = self
            .call(id, "org.a11y.atspi.Action", "GetActions", &())
            .await
            .unwrap_or_default();
        for want in wanted {
            if let Some(i) = actions
                .iter()
                .position(|(name, _, _)| name.eq_ignore_ascii_case(want))
            {
                let ok: bool = self
                    .call(id, "org.a11y.atspi.Action", "DoAction", &(i as i32,))
                    .await?;
                if ok {
                    return Ok(Outcome::Done(format!(
                        "accessibility action {:?}",
                        actions[i].0
                    )));
                }
            }
        }
        match self.extents(id).await {
            Some((x, y, w, h)) => Ok(Outcome::ClickAt(x + w / 2, y + h / 2)),
            None => Err(Error::Unsupported(format!(
                "node {id} offers no such action and has no place on screen to click"
            ))),
        }
    }
}

/// Orders kept nodes as an outline: each node followed by its descendants, siblings in the
/// order they were found.
fn outline(kept: Vec<(Node, Option<usize>)>) -> Vec<Node> {
    let mut children: HashMap<Option<usize>, Vec<usize>> = HashMap::new();
    for (i, (_, parent)) in kept.iter().enumerate() {
        children.entry(*parent).or_default().push(i);
    }
    let mut order = Vec::with_capacity(kept.len());
    let mut stack: Vec<usize> = children.get(&None).cloned().unwrap_or_default();
    stack.reverse();
    while let Some(i) = stack.pop() {
        order.push(i);
        if let Some(kids) = children.get(&Some(i)) {
            stack.extend(kids.iter().rev());
        }
    }
    let mut slots: Vec<Option<Node>> = kept.into_iter().map(|(n, _)| Some(n)).collect();
    order.into_iter().filter_map(|i| slots[i].take()).collect()
}
