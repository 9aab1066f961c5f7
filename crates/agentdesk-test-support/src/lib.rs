//! Shared test fixtures. Tests that need an X server get a real one from here, one per test,
//! started through the same code the product uses and stopped when the fixture drops.
//!
//! [`TestClient`] is a plain x11rb connection for the test's own side of a conversation: it
//! creates windows, draws into them and reads the events the code under test causes.

use std::process::Command;
use std::time::{Duration, Instant};

use agentdesk_display::{start_x_server, XServer, XServerConfig, XServerKind};
use x11rb::connection::Connection;
use x11rb::protocol::xproto::{self, ConnectionExt as _};
use x11rb::protocol::Event;
use x11rb::rust_connection::RustConnection;

/// A real X server (Xvfb) for one test; stopped on drop.
#[derive(Debug)]
pub struct TestDisplay {
    server: XServer,
}

impl TestDisplay {
    /// Starts Xvfb at `width`×`height`. Panics with the fix if Xvfb is missing: the test suite
    /// is run through scripts/test.sh, which installs it.
    pub async fn start(width: u32, height: u32) -> TestDisplay {
        let config = XServerConfig {
            kind: XServerKind::Xvfb,
            width,
            height,
            glx: false,
            display: None,
            rfb_socket: None,
            auth_file: None,
            ready_timeout: Duration::from_secs(10),
            runtime_dir: None,
        };
        let server = start_x_server(&agentdesk_display::Launcher::Host, &config)
            .await
            .expect("Xvfb must start; run scripts/test.sh, which installs the xvfb package");
        TestDisplay { server }
    }

    /// The display name, e.g. ":3".
    pub fn name(&self) -> String {
        format!(":{}", self.server.display)
    }

    /// A command for an X client (xdotool, xclip, xterm ...) aimed at this display.
    pub fn client(&self, program: &str) -> Command {
        let mut cmd = Command::new(program);
        cmd.env("DISPLAY", self.name());
        cmd
    }

    /// Runs an X client to completion and returns its stdout; panics on failure.
    pub fn run(&self, program: &str, args: &[&str]) -> String {
        let out = self
            .client(program)
            .args(args)
            .output()
            .unwrap_or_else(|e| {
                panic!("{program} must run (run scripts/test.sh to install it): {e}")
            });
        assert!(
            out.status.success(),
            "{program} {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Opens a test-side X connection to this display.
    pub fn connect(&self) -> TestClient {
        let (conn, screen) = RustConnection::connect(Some(&self.name()))
            .unwrap_or_else(|e| panic!("connecting to {} must work: {e}", self.name()));
        let root = conn.setup().roots[screen].root;
        TestClient { conn, root }
    }
}

/// A test-side X client: the "application" the code under test looks at and types into.
#[derive(Debug)]
pub struct TestClient {
    /// The connection; use it directly for anything the helpers do not cover.
    pub conn: RustConnection,
    /// The root window of the default screen.
    pub root: xproto::Window,
}

impl TestClient {
    /// Creates a depth-24 window at (`x`, `y`) (root coordinates, no border) of `width`×`height`
    /// with a black background, selecting `events`, maps it and returns once it is viewable.
    /// No window manager runs, so the window lands exactly where asked.
    pub fn window(
        &self,
        x: i16,
        y: i16,
        width: u16,
        height: u16,
        events: xproto::EventMask,
    ) -> xproto::Window {
        let window = self.conn.generate_id().expect("an X id");
        self.conn
            .create_window(
                24,
                window,
                self.root,
                x,
                y,
                width,
                height,
                0,
                xproto::WindowClass::INPUT_OUTPUT,
                x11rb::COPY_FROM_PARENT,
                &xproto::CreateWindowAux::new()
                    .background_pixel(0)
                    .event_mask(events),
            )
            .expect("CreateWindow must be sent");
        self.conn
            .map_window(window)
            .expect("MapWindow must be sent");
        // A round trip: with no window manager, MapWindow has taken effect once it returns.
        let attrs = self
            .conn
            .get_window_attributes(window)
            .expect("GetWindowAttributes must be sent")
            .reply()
            .expect("the new window must exist");
        assert_eq!(
            attrs.map_state,
            xproto::MapState::VIEWABLE,
            "the test window must be viewable"
        );
        window
    }

    /// A graphics context for drawing into `window` with `foreground` (0xRRGGBB).
    pub fn gc(&self, window: xproto::Window, foreground: u32) -> xproto::Gcontext {
        let gc = self.conn.generate_id().expect("an X id");
        self.conn
            .create_gc(
                gc,
                window,
                &xproto::CreateGCAux::new()
                    .foreground(foreground)
                    .graphics_exposures(0),
            )
            .expect("CreateGC must be sent");
        gc
    }

    /// A round trip: every request sent before has been processed by the server when it returns.
    pub fn sync(&self) {
        self.conn
            .get_input_focus()
            .expect("GetInputFocus must be sent")
            .reply()
            .expect("the X server must answer");
    }

    /// The next event, waiting until `deadline` at most.
    pub fn next_event(&self, deadline: Instant) -> Option<Event> {
        self.conn.flush().expect("flush");
        loop {
            if let Some(event) = self
                .conn
                .poll_for_event()
                .expect("the X connection must stay up")
            {
                return Some(event);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// Collects events until `done` says the list is complete or `timeout` passes, then adds
    /// whatever the server had already queued for us (after a round trip), so that a test can
    /// also assert there is nothing extra.
    pub fn events_until(
        &self,
        timeout: Duration,
        mut done: impl FnMut(&[Event]) -> bool,
    ) -> Vec<Event> {
        let deadline = Instant::now() + timeout;
        let mut events = Vec::new();
        while !done(&events) {
            match self.next_event(deadline) {
                Some(event) => events.push(event),
                None => break,
            }
        }
        self.sync();
        while let Some(event) = self
            .conn
            .poll_for_event()
            .expect("the X connection must stay up")
        {
            events.push(event);
        }
        events
    }

    /// Discards every event received so far.
    pub fn drain(&self) {
        self.sync();
        while self
            .conn
            .poll_for_event()
            .expect("the X connection must stay up")
            .is_some()
        {}
    }

    /// Interns `name`.
    pub fn atom(&self, name: &str) -> xproto::Atom {
        self.conn
            .intern_atom(false, name.as_bytes())
            .expect("InternAtom must be sent")
            .reply()
            .expect("the X server must answer")
            .atom
    }

    /// The current owner of `selection` (`x11rb::NONE` when nobody owns it).
    pub fn selection_owner(&self, selection: xproto::Atom) -> xproto::Window {
        self.conn
            .get_selection_owner(selection)
            .expect("GetSelectionOwner must be sent")
            .reply()
            .expect("the X server must answer")
            .owner
    }
}

/// Polls `check` every 10 ms until it returns `Some`, or panics with `what` after `timeout`.
pub fn poll_until<T>(timeout: Duration, what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The async sibling of [`poll_until`]: calls `check` every `every` until it gives `Ok`; after
/// `timeout`, panics naming `what` and the last `Err`, i.e. what was seen instead.
pub async fn eventually<T, Fut>(
    timeout: Duration,
    every: Duration,
    what: &str,
    mut check: impl FnMut() -> Fut,
) -> T
where
    Fut: std::future::Future<Output = Result<T, String>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        match check().await {
            Ok(value) => return value,
            Err(seen) => assert!(
                Instant::now() < deadline,
                "timed out after {timeout:?} waiting for {what}; saw {seen}"
            ),
        }
        tokio::time::sleep(every).await;
    }
}

/// A child process (an X client a test started) killed and reaped when dropped, so a failing
/// test leaves nothing running.
#[derive(Debug)]
pub struct ChildGuard(pub std::process::Child);

impl ChildGuard {
    /// Whether the child has exited (reaping it if so).
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.0.try_wait().expect("try_wait on our own child")
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if self.exited().is_none() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}
