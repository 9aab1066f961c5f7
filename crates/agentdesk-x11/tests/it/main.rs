//! Integration tests of agentdesk-x11 against a real Xvfb, one server per test.

mod capture;
mod clipboard;
mod damage;
mod grounding;
mod input;
mod lifecycle;
mod typing;

use agentdesk_test_support::TestDisplay;
use agentdesk_x11::{X11Config, XHandle};

/// Connects the code under test to `display`.
fn connect(display: &TestDisplay) -> XHandle {
    connect_with_background(display, None)
}

fn connect_with_background(display: &TestDisplay, background: Option<u32>) -> XHandle {
    agentdesk_x11::connect(&X11Config {
        display: display.name(),
        background,
        command_timeout: agentdesk_x11::COMMAND_TIMEOUT,
        cookie: None,
        socket_dir: None,
        server_pid: None,
    })
    .unwrap_or_else(|e| panic!("connecting to {} must work: {e}", display.name()))
}
