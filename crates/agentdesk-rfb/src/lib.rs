//! The RFB (VNC) protocol without I/O, for the browser live view's bridge: a viewer's WebSocket
//! is bridged to the desktop's RFB socket inside agentdesk, and the bridge must drop a
//! view-only viewer's input whatever its page does, which needs each client message framed
//! exactly (RFC 6143 §7.5 plus the extensions noVNC sends).
//!
//! - [`ClientFramer`]: splits the viewer's byte stream into whole messages and classifies them.

mod client;

pub use client::{ClientFramer, ClientMessage, FrameError, MAX_CUT_TEXT};
