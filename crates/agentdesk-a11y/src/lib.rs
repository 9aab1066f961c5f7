//! The accessibility tree of a desktop's apps, over AT-SPI2: what GTK, Firefox and Chromium
//! tell assistive technologies about their widgets (role, name, state, place on screen, the
//! actions they offer), read within a budget and acted on.
//!
//! AT-SPI lives on its own D-Bus bus (the "accessibility bus"), whose address the desktop's
//! session bus gives (`org.a11y.Bus.GetAddress`). Both buses run inside the desktop's sandbox,
//! where its apps could put a server of their own in their place; so a bus is used only if
//! the process listening on its socket is the one expected (`connect.rs`). Whatever the apps
//! answer is bounded: nodes, depth, children per node, text lengths, and time (`tree.rs`).
//! The text they show is read line by line with each line's box (`text.rs`).

mod connect;
mod error;
mod node;
mod text;
mod tree;

pub use connect::{connect, Expected};
pub use error::Error;
pub use node::{is_titled, Node, NodeId, State};
pub use text::{Place, TextLine};
pub use tree::{A11y, Action, Filter, Limits, Outcome, Tree};
