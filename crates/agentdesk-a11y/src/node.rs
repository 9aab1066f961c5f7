//! A node of the tree as agentdesk keeps it: an id an agent can send back, and what the app
//! said of it. Pure: no D-Bus here.

use std::fmt;

/// A node's address: the app's bus name and the object's path. Written for agents as
/// `"<bus>/<object>"` with the bus's leading `:` and the standard path prefix left out
/// (`"1.42/135"`): short, and valid exactly as long as the object lives.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NodeId {
    /// A unique bus name, e.g. ":1.42".
    pub bus: String,
    /// An object path, e.g. "/org/a11y/atspi/accessible/135".
    pub path: String,
}

/// Where AT-SPI objects live.
const PREFIX: &str = "/org/a11y/atspi/accessible/";

impl NodeId {
    /// Reads an id an agent sent: `None` unless it is one [`NodeId`] could have written.
    pub fn parse(id: &str) -> Option<NodeId> {
        let (bus, object) = id.split_once('/')?;
        let bus_ok = !bus.is_empty()
            && bus.len() <= 32
            && bus.bytes().all(|b| b.is_ascii_digit() || b == b'.');
        let object_ok = !object.is_empty()
            && object.len() <= 64
            && object
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_');
        (bus_ok && object_ok).then(|| NodeId {
            bus: format!(":{bus}"),
            path: format!("{PREFIX}{object}"),
        })
    }

    /// Whether this id can be written for an agent (a unique bus name, a standard path).
    pub fn writable(&self) -> bool {
        NodeId::parse(&self.to_string()).as_ref() == Some(self)
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let bus = self.bus.strip_prefix(':').unwrap_or(&self.bus);
        let object = self.path.strip_prefix(PREFIX).unwrap_or(&self.path);
        write!(f, "{bus}/{object}")
    }
}

/// The states agentdesk reports (AT-SPI's `AtspiStateType`, by bit number).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct State(pub u64);

/// (bit, name) of the states worth telling an agent, in the order they are printed.
const SHOWN: [(u32, &str); 14] = [
    (12, "focused"),
    (4, "checked"),
    (20, "pressed"),
    (23, "selected"),
    (10, "expanded"),
    (5, "collapsed"),
    (7, "editable"),
    (43, "read-only"),
    (36, "invalid"),
    (33, "required"),
    (16, "modal"),
    (41, "checkable"),
    (42, "has-popup"),
    (40, "visited"),
];

impl State {
    /// From AT-SPI's two 32-bit words.
    pub fn from_words(words: &[u32]) -> State {
        let lo = u64::from(words.first().copied().unwrap_or(0));
        let hi = u64::from(words.get(1).copied().unwrap_or(0));
        State(lo | (hi << 32))
    }

    fn has(self, bit: u32) -> bool {
        self.0 & (1 << bit) != 0
    }

    /// On screen (SHOWING).
    pub fn showing(self) -> bool {
        self.has(25)
    }

    /// Takes input now (SENSITIVE or ENABLED).
    pub fn enabled(self) -> bool {
        self.has(24) || self.has(8)
    }

    /// Has the keyboard focus.
    pub fn focused(self) -> bool {
        self.has(12)
    }

    /// Still being loaded or changed (BUSY: a document while its page loads).
    pub fn busy(self) -> bool {
        self.has(3)
    }

    /// The states worth printing, space separated; "disabled" if it takes no input.
    pub fn words(self) -> String {
        let mut out: Vec<&str> = SHOWN
            .iter()
            .filter(|(bit, _)| self.has(*bit))
            .map(|(_, n)| *n)
            .collect();
        if !self.enabled() {
            out.push("disabled");
        }
        out.join(" ")
    }
}

/// A node as read.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// Its id.
    pub id: NodeId,
    /// Its role, as AT-SPI names it ("push button", "entry", "link", ...).
    pub role: String,
    /// Its name (a button's label, a link's text), at most [`MAX_NAME`] bytes.
    pub name: String,
    /// Its place on screen (x, y, width, height), if it has one.
    pub rect: Option<(i32, i32, i32, i32)>,
    /// Its states.
    pub state: State,
    /// How deep it is (the app is 0).
    pub depth: u32,
    /// The app it belongs to (its name).
    pub app: String,
}

/// Names and roles are cut to this many bytes.
pub(crate) const MAX_NAME: usize = 200;

/// Whether a node's name is `title` (a window's title), as names are kept: cut to
/// [`MAX_NAME`] bytes, on one line.
pub fn is_titled(name: &str, title: &str) -> bool {
    name == cut(title, MAX_NAME)
}

/// `s` cut to `max` bytes at a character boundary, one line.
pub(crate) fn cut(s: &str, max: usize) -> String {
    let s: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let mut at = s.len().min(max);
    while !s.is_char_boundary(at) {
        at -= 1;
    }
    s[..at].trim().to_string()
}

impl Node {
    /// One line of the outline: `[id] role "name" x,y,w,h states`, indented by depth, with
    /// `place` (the node's box in the reader's coordinates, if it has one on screen).
    pub fn line(&self, place: Option<(i64, i64, i64, i64)>) -> String {
        let mut line = format!(
            "{}[{}] {}",
            "  ".repeat(self.depth as usize),
            self.id,
            self.role
        );
        if !self.name.is_empty() {
            line.push_str(&format!(" {:?}", self.name));
        }
        if let Some((x, y, w, h)) = place {
            line.push_str(&format!(" {x},{y},{w},{h}"));
        }
        // An application is never "enabled": its states say nothing.
        let states = if self.role == "application" {
            String::new()
        } else {
            self.state.words()
        };
        if !states.is_empty() {
            line.push(' ');
            line.push_str(&states);
        }
        line
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_odd_ones_are_refused() {
        let id = NodeId {
            bus: ":1.42".into(),
            path: "/org/a11y/atspi/accessible/135".into(),
        };
        assert_eq!(id.to_string(), "1.42/135");
        assert_eq!(NodeId::parse("1.42/135"), Some(id.clone()));
        assert!(id.writable());
        for bad in [
            "",
            "1.42",
            "/135",
            "1.42/",
            "org.a11y/1",
            "1.42/../x",
            "1.42/a/b",
            "x/1",
        ] {
            assert_eq!(NodeId::parse(bad), None, "{bad}");
        }
        let odd = NodeId {
            bus: "org.a11y.atspi.Registry".into(),
            path: "/org/a11y/atspi/accessible/root".into(),
        };
        assert!(!odd.writable());
    }

    #[test]
    fn a_line_says_role_name_place_and_states() {
        let node = Node {
            id: NodeId::parse("1.2/7").unwrap(),
            role: "push button".into(),
            name: "7".into(),
            rect: Some((10, 20, 30, 40)),
            state: State((1 << 25) | (1 << 24) | (1 << 12)),
            depth: 2,
            app: "galculator".into(),
        };
        assert_eq!(
            node.line(
                node.rect
                    .map(|(x, y, w, h)| (x.into(), y.into(), w.into(), h.into()))
            ),
            r#"    [1.2/7] push button "7" 10,20,30,40 focused"#
        );
        let off = Node {
            state: State(1 << 25),
            ..node
        };
        assert!(off.line(None).ends_with("disabled"));
    }

    #[test]
    fn names_are_cut_to_one_short_line() {
        assert_eq!(cut("a\nb", 10), "a b");
        assert_eq!(cut("ééé", 3), "é");
    }
}
