//! The RFB (VNC) protocol without I/O, for the browser live view's bridge (issue 5): a viewer's
//! WebSocket is bridged to the desktop's loopback RFB port inside agentdesk, and the bridge
//! must (a) authenticate to Xvnc with VncAuth on the viewer's behalf, so the RFB password never
//! leaves agentdesk, and (b) drop a view-only viewer's input whatever its page does, which
//! needs each client message framed exactly (RFC 6143 §7.5 plus the extensions noVNC sends).
//!
//! - [`ClientFramer`]: splits the viewer's byte stream into whole messages and classifies them.
//! - [`vnc_auth_response`]: the answer to a VncAuth challenge.

mod auth;
mod client;

pub use auth::vnc_auth_response;
pub use client::{ClientFramer, ClientMessage, FrameError, MAX_CUT_TEXT};
