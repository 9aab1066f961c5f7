//! The text apps show, read from their accessibility tree rather than their pixels: line by
//! line, each line with its box on screen, exactly as the app holds it (no misread letters).
//!
//! A node holding text (AT-SPI's Text interface: a paragraph, a label, a field, a link) is
//! read a line at a time from the first line showing in its clip (`GetOffsetAtPoint`), each
//! line's box asked for (`GetRangeExtents`), until a line falls below the clip. A node
//! without text whose role shows its name as text (a button, a tab, a heading) gives one
//! line: its name. Browsers put a placeholder character (U+FFFC) in a paragraph's text where
//! a link or another object is; an object on the line (inline, as tall as the line at most)
//! has its text put in its place and gives no line of its own; a taller one (a block) gives
//! its own lines.

use std::collections::HashSet;
use std::time::Instant;

use futures_util::stream::{self, StreamExt};
use zbus::zvariant::OwnedObjectPath;

use crate::node::{cut, Node, NodeId};
use crate::tree::{A11y, ACCESSIBLE, TEXT};
use crate::Error;
const COMPONENT: &str = "org.a11y.atspi.Component";
/// Levels a hit test walks down at most (apps that answer only their direct child at a
/// point are asked again at each level).
const MAX_HIT_DEPTH: usize = 24;
const HYPERTEXT: &str = "org.a11y.atspi.Hypertext";
/// AT-SPI's `ATSPI_TEXT_GRANULARITY_LINE`.
const LINE: u32 = 3;
/// AT-SPI's `ATSPI_COORD_TYPE_SCREEN`.
const SCREEN: u32 = 0;
/// The placeholder for an embedded object in a hypertext's text.
const EMBEDDED: char = '\u{FFFC}';
/// Lines read from one node at most (a long document in a text view is read where it shows,
/// and no further than this).
const MAX_LINES: usize = 400;
/// A line's text is cut to this many bytes.
const MAX_LINE: usize = 2000;
/// Nodes read at once.
const IN_FLIGHT: usize = 32;

/// Roles whose name is what they show, for nodes that hold no text of their own.
const NAME_SHOWN: [&str; 17] = [
    "push button",
    "toggle button",
    "link",
    "heading",
    "label",
    "static",
    "menu item",
    "check menu item",
    "radio menu item",
    "page tab",
    "check box",
    "radio button",
    "list item",
    "table cell",
    "column header",
    "row header",
    "tool tip",
];

/// A box on screen: x, y, width, height.
pub type Place = (i32, i32, i32, i32);

/// One line of text on screen, as the app holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextLine {
    /// What it says, on one line, trimmed.
    pub text: String,
    /// Where, in screen pixels (as the app says: the whole line, even where clipped).
    pub rect: Place,
}

/// What one node gave: its lines, and the objects whose text went into them. The default
/// (nothing, not settled) is an answer not to be used.
#[derive(Default)]
struct NodeText {
    lines: Vec<TextLine>,
    inlined: Vec<NodeId>,
    /// False when the app answered a line that is several (Firefox does until it has laid
    /// out its text for assistive technologies, a moment after the first question): the
    /// lines are not to be used.
    settled: bool,
}

/// A line this much taller than its first letter is not one line: the app's answer is not
/// yet what it shows. Lines under [`CHECKED`] pixels are not asked about.
const CHECKED: i32 = 24;
/// How long an app gets to lay out its text once asked, before it is asked again.
const SETTLE: std::time::Duration = std::time::Duration::from_millis(120);
/// How many times at most.
const SETTLE_TRIES: usize = 3;

impl A11y {
    /// The lines of text `nodes` of the window whose frame is `frame` show, each node's lines
    /// only where its clip (the part of the screen it can show in: its window, its scrolled
    /// view) is, and only where the app's own hit test finds that node on top (not under a
    /// page's sticky header or pop-up); by `deadline`. The bool is whether every node was
    /// read in time.
    pub async fn text_lines(
        &self,
        frame: &NodeId,
        nodes: &[(Node, Place)],
        deadline: Instant,
    ) -> (Vec<TextLine>, bool) {
        let Some(mut given) = self.nodes_lines(frame, nodes.to_vec(), deadline).await else {
            return (Vec::new(), false);
        };
        // Nodes whose answer was not yet what they show are asked again, a moment later.
        for _ in 0..SETTLE_TRIES {
            let unsettled: Vec<usize> = (0..given.len())
                .filter(|&i| given[i].as_ref().is_ok_and(|g| !g.settled))
                .collect();
            if unsettled.is_empty() || Instant::now() + SETTLE * 2 >= deadline {
                break;
            }
            tokio::time::sleep(SETTLE).await;
            let again: Vec<(Node, Place)> = unsettled.iter().map(|&i| nodes[i].clone()).collect();
            let Some(answers) = self.nodes_lines(frame, again, deadline).await else {
                break;
            };
            for (i, answer) in unsettled.into_iter().zip(answers) {
                given[i] = answer;
            }
        }
        let mut complete = true;
        let mut inlined = HashSet::new();
        for g in given.iter().flatten() {
            inlined.extend(g.inlined.iter().cloned());
        }
        let mut lines = Vec::new();
        for ((node, _), g) in nodes.iter().zip(given) {
            match g {
                Ok(g) if !g.settled => {
                    tracing::debug!(node = %node.id, "lines not laid out in time");
                    complete = false;
                }
                Ok(g) if !inlined.contains(&node.id) => lines.extend(g.lines),
                Ok(_) => {}
                // Gone meanwhile: nothing of it shows any more.
                Err(Error::NoNode(_)) => {}
                Err(e) => {
                    tracing::debug!(node = %node.id, role = %node.role, "no lines: {e}");
                    complete = false;
                }
            }
        }
        (lines, complete)
    }

    /// Each node's lines, read several nodes at once; `None` if `deadline` came first.
    async fn nodes_lines(
        &self,
        frame: &NodeId,
        nodes: Vec<(Node, Place)>,
        deadline: Instant,
    ) -> Option<Vec<Result<NodeText, Error>>> {
        let this = self.clone();
        let frame = frame.clone();
        let asked = stream::iter(nodes.into_iter().map(move |(node, clip)| {
            let this = this.clone();
            let frame = frame.clone();
            async move { this.node_lines(&frame, &node, clip).await }
        }))
        .buffered(IN_FLIGHT)
        .collect::<Vec<_>>();
        tokio::time::timeout_at(deadline.into(), asked).await.ok()
    }

    async fn node_lines(
        &self,
        frame: &NodeId,
        node: &Node,
        clip: Place,
    ) -> Result<NodeText, Error> {
        let count: Option<i32> = self
            .property(&node.id, TEXT, "CharacterCount")
            .await
            .ok()
            .and_then(|v| i32::try_from(v).ok());
        let Some(count) = count.filter(|&c| c > 0) else {
            // No text of its own: its name, if that is what it shows.
            let shown = NAME_SHOWN.contains(&node.role.as_str()) && !node.name.is_empty();
            let on_top = match node.rect {
                Some(rect) if shown && centre_in(rect, clip) && legible(rect) => {
                    self.on_top(frame, &node.id, centre(rect)).await
                }
                _ => false,
            };
            return Ok(match node.rect {
                Some(rect) if on_top => NodeText {
                    lines: vec![TextLine {
                        text: node.name.clone(),
                        rect,
                    }],
                    inlined: Vec::new(),
                    settled: true,
                },
                _ => NodeText {
                    settled: true,
                    ..NodeText::default()
                },
            });
        };
        let mut out = NodeText {
            settled: true,
            ..NodeText::default()
        };
        let Some(rect) = node.rect else {
            return Ok(out);
        };
        // Start at the first line showing: the node's top left corner, inside its clip.
        let (x, y) = (rect.0.max(clip.0) + 1, rect.1.max(clip.1) + 1);
        let mut offset: i32 = self
            .call(&node.id, TEXT, "GetOffsetAtPoint", &(x, y, SCREEN))
            .await
            .unwrap_or(0)
            .clamp(0, count);
        let bottom = i64::from(clip.1) + i64::from(clip.3);
        for _ in 0..MAX_LINES {
            if offset >= count {
                break;
            }
            let (text, start, end): (String, i32, i32) = self
                .call(&node.id, TEXT, "GetStringAtOffset", &(offset, LINE))
                .await?;
            if end <= offset || start > offset {
                break; // no progress: an app's odd answer
            }
            offset = end;
            let r: Place = self
                .call(&node.id, TEXT, "GetRangeExtents", &(start, end, SCREEN))
                .await?;
            if r.2 <= 0 || r.3 <= 0 {
                continue;
            }
            // Its first letter of its own (not an embedded object, whose box is the object's).
            let letter = text
                .chars()
                .position(|c| c != EMBEDDED && !c.is_whitespace())
                .and_then(|i| i32::try_from(i).ok());
            if let (true, Some(letter)) = (r.3 > CHECKED, letter) {
                let first: Place = self
                    .call(
                        &node.id,
                        TEXT,
                        "GetCharacterExtents",
                        &(start.saturating_add(letter), SCREEN),
                    )
                    .await?;
                if first.3 > 0 && i64::from(r.3) * 2 > i64::from(first.3) * 3 {
                    tracing::debug!(node = %node.id, "a line that is several: not laid out yet");
                    return Ok(NodeText::default());
                }
            }
            if i64::from(r.1) >= bottom {
                break;
            }
            if !centre_in(r, clip) || !legible(r) || !self.on_top(frame, &node.id, centre(r)).await
            {
                continue;
            }
            let text = self.inline(node, &text, start, r, &mut out.inlined).await;
            let text = cut(&text, MAX_LINE);
            if !text.is_empty() {
                out.lines.push(TextLine { text, rect: r });
            }
        }
        Ok(out)
    }

    /// Whether the app's hit test at `point` (walked down from the window's frame to the
    /// deepest object there) lands on `node` or on an object right inside it (a link in a
    /// paragraph). Anything else there (a page's sticky header, a pop-up, a dialog drawn over
    /// the page) means the node's text is hidden there. An app that does not answer counts as
    /// hiding it: OCR reads that part of the screen instead.
    async fn on_top(&self, frame: &NodeId, node: &NodeId, point: (i32, i32)) -> bool {
        let mut at = frame.clone();
        for _ in 0..MAX_HIT_DEPTH {
            let hit: Result<(String, OwnedObjectPath), Error> = self
                .call(
                    &at,
                    COMPONENT,
                    "GetAccessibleAtPoint",
                    &(point.0, point.1, SCREEN),
                )
                .await;
            let Ok((bus, path)) = hit else {
                return false;
            };
            if bus.is_empty() || path.as_str().ends_with("/null") {
                break;
            }
            let hit = NodeId {
                bus,
                path: path.as_str().to_string(),
            };
            if hit == *node {
                return true;
            }
            if hit == at {
                break;
            }
            at = hit;
        }
        if at == *node {
            return true;
        }
        let parent: Option<(String, OwnedObjectPath)> = self
            .property(&at, ACCESSIBLE, "Parent")
            .await
            .ok()
            .and_then(|v| <(String, OwnedObjectPath)>::try_from(v).ok());
        parent.is_some_and(|(bus, path)| bus == node.bus && path.as_str() == node.path)
    }

    /// `text` (a line at `start` of `node`'s text, whose box is `line`) with each embedded
    /// object's text in its placeholder's place when the object sits on the line, else
    /// without it; the objects put in are added to `inlined`.
    async fn inline(
        &self,
        node: &Node,
        text: &str,
        start: i32,
        line: Place,
        inlined: &mut Vec<NodeId>,
    ) -> String {
        if !text.contains(EMBEDDED) {
            return text.to_string();
        }
        // Objects alone on their line are blocks (a paragraph in a page): they have lines
        // of their own.
        if text.chars().all(|c| c == EMBEDDED || c.is_whitespace()) {
            return String::new();
        }
        let mut out = String::with_capacity(text.len());
        for (i, c) in text.chars().enumerate() {
            if c != EMBEDDED {
                out.push(c);
                continue;
            }
            let at = start.saturating_add(i32::try_from(i).unwrap_or(i32::MAX));
            if let Some((id, words)) = self.embedded(node, at, line).await {
                out.push_str(&words);
                inlined.push(id);
            }
        }
        out
    }

    /// The object at character `at` of `node`'s text and its text, if it sits on the line
    /// whose box is `line`.
    async fn embedded(&self, node: &Node, at: i32, line: Place) -> Option<(NodeId, String)> {
        let index: i32 = self
            .call(&node.id, HYPERTEXT, "GetLinkIndex", &(at,))
            .await
            .ok()?;
        if index < 0 {
            return None;
        }
        // The link's own object: the node's child of that index (Hypertext.GetLink answers a
        // separate hyperlink object, which holds no text).
        let (bus, path): (String, OwnedObjectPath) = self
            .call(&node.id, ACCESSIBLE, "GetChildAtIndex", &(index,))
            .await
            .ok()?;
        let id = NodeId {
            bus,
            path: path.as_str().to_string(),
        };
        let rect = self.extents(&id).await?;
        // On the line: no taller than it, and inside it from left to right.
        let inside = i64::from(rect.0) >= i64::from(line.0) - 1
            && i64::from(rect.0) + i64::from(rect.2) <= i64::from(line.0) + i64::from(line.2) + 1;
        if !inside || i64::from(rect.3) * 2 > i64::from(line.3) * 3 {
            return None;
        }
        let words: String = self
            .text_of(&id, MAX_LINE)
            .await
            .ok()
            .filter(|t: &String| !t.trim().is_empty())
            .map(|t| t.replace(EMBEDDED, ""))?;
        Some((id, words))
    }
}

/// The centre of `r`.
fn centre(r: Place) -> (i32, i32) {
    (r.0.saturating_add(r.2 / 2), r.1.saturating_add(r.3 / 2))
}

/// Whether a box is big enough to hold legible text: text "visually hidden" for screen
/// readers is made a pixel or two in size.
fn legible(r: Place) -> bool {
    r.2 >= 2 && r.3 >= 5
}

/// Whether the centre of `r` is inside `clip`.
fn centre_in(r: Place, clip: Place) -> bool {
    let cx = i64::from(r.0) + i64::from(r.2) / 2;
    let cy = i64::from(r.1) + i64::from(r.3) / 2;
    cx >= i64::from(clip.0)
        && cx < i64::from(clip.0) + i64::from(clip.2)
        && cy >= i64::from(clip.1)
        && cy < i64::from(clip.1) + i64::from(clip.3)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_counts_where_its_centre_is() {
        let clip = (0, 100, 500, 300);
        assert!(centre_in((10, 110, 100, 20), clip));
        // Mostly above the view (scrolled under a toolbar): not shown.
        assert!(!centre_in((10, 80, 100, 30), clip));
        assert!(!centre_in((10, 395, 100, 20), clip));
        assert!(!centre_in((i32::MAX - 5, 110, 100, 20), clip));
    }
}
