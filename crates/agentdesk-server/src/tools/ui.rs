//! The accessibility tools: ui_tree, ui_find and ui_action. Places are in the caller's
//! coordinate space, as everywhere.

use agentdesk_desktop::{DesktopError, ModelSpace, Size, UiAction, UiFilter, UiLimits, UiNode};
use agentdesk_proto::{
    UiActionArgs, UiActionName, UiActionResult, UiFindArgs, UiFindResult, UiNodeEntry, UiTreeArgs,
};
use rmcp::model::{CallToolResult, ContentBlock};

use super::grounding::{coordinates, deadline, on_screen};
use super::{json_text, Call, Outcome};

pub(crate) const TREE: &str = "\
The apps' accessibility tree: what their widgets say they are. One node a line, indented by \
depth: `[id] role \"name\" x,y,w,h states` (x,y,w,h in the same coordinates as clicks), only \
what is showing. Best for forms, dialogs, menus and toolbars: names and states are exact \
where a screenshot is ambiguous. Narrow it with `window` (title) or `app`. Ids are for \
ui_action and stay valid while the node lives. Apps without accessibility (xterm) show no \
nodes: use screen_find_text there.";
pub(crate) const FIND: &str = "\
Find accessibility nodes by `role` (\"push button\", \"entry\", \"link\", \"check box\", ...) \
and/or `name` (contains, case ignored): each with its id, place, centre and states. Then \
ui_action on the id, or click the centre.";
pub(crate) const ACTION: &str = "\
Act on an accessibility node by its id (from ui_tree or ui_find): click/press, focus, \
set_text (with `text`: replaces an entry's text), toggle, select, expand. Uses the app's own \
accessibility action when it offers one, else clicks the node's centre; the answer says \
which, and whether the screen changed.";

/// Nodes read at most for ui_find: enough for a long web page's form and links.
const FIND_NODES: usize = 5000;

fn limits(max_nodes: i64, max_depth: i64) -> Result<UiLimits, DesktopError> {
    if !(1..=2000).contains(&max_nodes) {
        return Err(DesktopError::BadRequest(format!(
            "max_nodes must be 1 to 2000 (got {max_nodes})"
        )));
    }
    if !(1..=64).contains(&max_depth) {
        return Err(DesktopError::BadRequest(format!(
            "max_depth must be 1 to 64 (got {max_depth})"
        )));
    }
    Ok(UiLimits {
        max_nodes: max_nodes as usize,
        max_depth: max_depth as u32,
        containers: false,
    })
}

fn place(space: ModelSpace, node: &UiNode, screen: Size) -> Option<agentdesk_proto::Spot> {
    let (x, y, w, h) = node.rect?;
    on_screen(
        space,
        (i64::from(x), i64::from(y), i64::from(w), i64::from(h)),
        screen,
    )
}

pub(crate) async fn ui_tree(args: Result<UiTreeArgs, DesktopError>, call: &Call) -> Outcome {
    let args = args?;
    let limits = limits(args.max_nodes, args.max_depth)?;
    let filter = UiFilter {
        app: args.app,
        window: args.window,
        exact: false,
    };
    let tree = call
        .desktop
        .ui_tree(limits, deadline(call), &filter)
        .await?;
    let screen = call.desktop.screen_size();
    let mut out = format!("coordinates: {}\n", coordinates(call.space, screen));
    for node in &tree.nodes {
        let place = place(call.space, node, screen).map(|s| (s.x, s.y, s.width, s.height));
        let line = node.line(place);
        out.push_str(&line);
        out.push('\n');
    }
    if tree.nodes.is_empty() {
        out.push_str(
            "(no accessible nodes showing: the app may not support accessibility, or has not \
             drawn yet; screen_find_text reads any text)\n",
        );
    }
    if tree.truncated {
        out.push_str(
            "(cut short by max_nodes, max_depth or the time: narrow it with window or app)\n",
        );
    }
    Ok(CallToolResult::success(vec![ContentBlock::text(out)]))
}

pub(crate) async fn ui_find(args: Result<UiFindArgs, DesktopError>, call: &Call) -> Outcome {
    let args = args?;
    if args.role.is_none() && args.name.is_none() {
        return Err(DesktopError::BadRequest(
            "give `role`, `name` or both (ui_tree lists everything)".into(),
        ));
    }
    if !(1..=100).contains(&args.limit) {
        return Err(DesktopError::BadRequest(format!(
            "limit must be 1 to 100 (got {})",
            args.limit
        )));
    }
    let filter = UiFilter {
        app: args.app,
        window: args.window,
        exact: false,
    };
    let limits = UiLimits {
        max_nodes: FIND_NODES,
        max_depth: 64,
        containers: false,
    };
    let tree = call
        .desktop
        .ui_tree(limits, deadline(call), &filter)
        .await?;
    let role = args.role.map(|r| r.to_lowercase());
    let name = args.name.map(|n| n.to_lowercase());
    let found: Vec<&UiNode> = tree
        .nodes
        .iter()
        .filter(|n| role.as_ref().is_none_or(|r| n.role.eq_ignore_ascii_case(r)))
        .filter(|n| {
            name.as_ref()
                .is_none_or(|w| n.name.to_lowercase().contains(w))
        })
        .collect();
    let screen = call.desktop.screen_size();
    Ok(json_text(&UiFindResult {
        total: found.len(),
        nodes: found
            .into_iter()
            .take(args.limit as usize)
            .map(|n| UiNodeEntry {
                id: n.id.to_string(),
                role: n.role.clone(),
                name: n.name.clone(),
                spot: place(call.space, n, screen),
                states: n.state.words(),
                app: n.app.clone(),
            })
            .collect(),
        truncated: tree.truncated,
        coordinates: coordinates(call.space, screen),
    }))
}

pub(crate) async fn ui_action(args: Result<UiActionArgs, DesktopError>, call: &Call) -> Outcome {
    let args = args?;
    let action = match args.action {
        UiActionName::Click => UiAction::Click,
        UiActionName::Press => UiAction::Press,
        UiActionName::Focus => UiAction::Focus,
        UiActionName::SetText => UiAction::SetText,
        UiActionName::Toggle => UiAction::Toggle,
        UiActionName::Select => UiAction::Select,
        UiActionName::Expand => UiAction::Expand,
    };
    if action == UiAction::SetText && args.text.is_none() {
        return Err(DesktopError::BadRequest("set_text needs `text`".into()));
    }
    if let Some(text) = &args.text {
        if text.chars().count() > agentdesk_desktop::MAX_TYPED_CHARS {
            return Err(DesktopError::BadRequest(format!(
                "text takes at most {} characters",
                agentdesk_desktop::MAX_TYPED_CHARS
            )));
        }
    }
    let verb = match args.action {
        UiActionName::Click => "click",
        UiActionName::Press => "press",
        UiActionName::Focus => "focus",
        UiActionName::SetText => "set_text",
        UiActionName::Toggle => "toggle",
        UiActionName::Select => "select",
        UiActionName::Expand => "expand",
    };
    let (reaction, how) = call.desktop.ui_action(&args.id, action, args.text).await?;
    Ok(json_text(&UiActionResult {
        action: format!("{verb} on node {}: {how}", args.id),
        screen_changed: reaction.changed,
        reaction_time_ms: reaction.reaction_ms,
    }))
}
