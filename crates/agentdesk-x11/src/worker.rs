//! The worker thread that owns one X connection, and the [`XHandle`] everyone else uses.
//!
//! The loop waits on two descriptors — the X socket and an eventfd that wakes it for commands
//! — so X events are handled the moment they arrive, also while a command waits for time to
//! pass (typing pauses, clipboard replies). Commands come from a closed enum and are answered
//! through oneshot channels.

use std::os::fd::{AsFd, OwnedFd};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use agentdesk_image::{Frame, Rect, Size};
use rustix::event::{eventfd, poll, EventfdFlags, PollFd, PollFlags};
use tokio::sync::{oneshot, watch};
use x11rb::connection::Connection;
use x11rb::protocol::damage::{self, ConnectionExt as _};
use x11rb::protocol::randr::{self, ConnectionExt as _};
use x11rb::protocol::xfixes::ConnectionExt as _;
use x11rb::protocol::xproto::{self, ConnectionExt as _};
use x11rb::protocol::Event;
use x11rb::rust_connection::RustConnection;

use crate::capture::Capturer;
use crate::clipboard::Clipboard;
use crate::input::{Button, Keyboard, PointerAction};
use crate::keys::{KeyCombo, Keysym};
use crate::{Error, Result};

/// How to connect.
#[derive(Debug, Clone)]
pub struct X11Config {
    /// The display, e.g. ":1".
    pub display: String,
    /// Paint the root window this colour (0xRRGGBB) at connect time: the desktop background.
    pub background: Option<u32>,
    /// The longest one command may take before the server is presumed hung
    /// ([`COMMAND_TIMEOUT`] unless a test wants to find out sooner).
    pub command_timeout: Duration,
    /// The server's MIT-MAGIC-COOKIE-1, when it was started with `-auth`. Passed directly
    /// rather than through `XAUTHORITY`, which is process-wide and would be a race between
    /// desktops.
    pub cookie: Option<[u8; 16]>,
    /// The directory holding the server's socket (`X<n>`), when it is not `/tmp/.X11-unix`:
    /// a sandboxed X server's is in its desktop's runtime directory.
    pub socket_dir: Option<std::path::PathBuf>,
    /// The X server's process id, when known: the socket's listener must be that process (a
    /// sandbox can write the socket's directory, and replace the socket with a link).
    pub server_pid: Option<u32>,
}

/// When the screen last changed, by the X server's DAMAGE extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DamageStamp {
    /// How many damage notifications have arrived since connect.
    pub count: u64,
    /// When the latest one arrived.
    pub at: Instant,
}

type Reply<T> = oneshot::Sender<Result<T>>;

pub(crate) enum Cmd {
    Capture {
        rect: Option<Rect>,
        buf: Vec<u8>,
        reply: Reply<Frame>,
    },
    Pointer {
        action: PointerAction,
        reply: Reply<()>,
    },
    Type {
        keysyms: Vec<Keysym>,
        reply: Reply<()>,
    },
    Keys {
        combo: KeyCombo,
        reply: Reply<()>,
    },
    ClipboardSet {
        text: String,
        reply: Reply<()>,
    },
    ClipboardGet {
        reply: Reply<String>,
    },
    ClientWindows {
        reply: Reply<Vec<u32>>,
    },
    CloseWindows {
        reply: Reply<Vec<u32>>,
    },
    WmReady {
        reply: Reply<bool>,
    },
    PopupShowing {
        instance: String,
        reply: Reply<bool>,
    },
    Trim {
        reply: Reply<()>,
    },
    WindowList {
        reply: Reply<Vec<crate::WindowInfo>>,
    },
    Window {
        id: u32,
        reply: Reply<Option<crate::WindowInfo>>,
    },
    WindowAction {
        id: u32,
        action: crate::WindowAction,
        reply: Reply<()>,
    },
    Unobstructed {
        ids: Vec<u32>,
        reply: Reply<Vec<u32>>,
    },
    FontCells {
        name: String,
        reply: Reply<Option<crate::FontCells>>,
    },
    Path {
        points: Vec<(u32, u32)>,
        button: Button,
        reply: Reply<()>,
    },
    Hold {
        combo: KeyCombo,
        down: bool,
        reply: Reply<()>,
    },
    ReleaseAll {
        reply: Reply<()>,
    },
    Cursor {
        reply: Reply<(u32, u32)>,
    },
}

/// A cheap, cloneable handle to one X connection's worker thread.
#[derive(Clone, Debug)]
pub struct XHandle {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    tx: Mutex<mpsc::Sender<Cmd>>,
    wake: OwnedFd,
    size: watch::Receiver<Size>,
    damage: watch::Receiver<DamageStamp>,
    alive: watch::Receiver<bool>,
    /// Set when a command went unanswered for `command_timeout`.
    stalled: watch::Sender<bool>,
    command_timeout: Duration,
}

/// The longest any one command may take. The slowest legitimate ones — a clipboard read that
/// waits 3 s for its owner and then streams a large INCR transfer, or a chunk of typing that
/// needs several keymap batches — take a few seconds; past this the X server is presumed hung
/// (stopped, or frozen by a client's grab) and callers get an error instead of waiting forever.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(20);

/// key_type is sent to the worker in chunks of this many keysyms, so queued commands
/// (screenshots, clipboard requests) are served in between and a cancelled call stops typing.
const TYPE_CHUNK: usize = 64;

impl Drop for Inner {
    fn drop(&mut self) {
        // Close the channel first: `drop` runs before the fields are dropped, so waking the
        // worker while `tx` still lived let it find the channel merely empty and go back to
        // sleep, keeping the thread and its X connection forever. Swapping in a sender whose
        // receiver is already gone drops the real one now.
        let tx = self
            .tx
            .get_mut()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        drop(std::mem::replace(tx, mpsc::channel().0));
        // The worker may be asleep in poll(); wake it so it notices the channel closed.
        let _ = rustix::io::write(&self.wake, &1u64.to_ne_bytes());
    }
}

/// Connects to `config.display` and starts the worker thread that owns the connection.
///
/// Blocks briefly (connection set-up and extension queries take a few milliseconds).
pub fn connect(config: &X11Config) -> Result<XHandle> {
    let (init_tx, init_rx) = mpsc::sync_channel(1);
    let config = config.clone();
    let display = config.display.clone();
    let command_timeout = config.command_timeout;
    std::thread::Builder::new()
        .name(format!("agentdesk-x11{display}"))
        .spawn(move || {
            let span = tracing::debug_span!("x11", display = %config.display);
            let _enter = span.enter();
            let (worker, handle_parts) = match Worker::new(&config) {
                Ok(ok) => ok,
                Err(e) => {
                    let _ = init_tx.send(Err(e));
                    return;
                }
            };
            let alive_tx = handle_parts.alive_tx.clone();
            let _ = init_tx.send(Ok(handle_parts));
            match worker.run() {
                Ok(()) => tracing::debug!("x11 worker finished"),
                Err(e) => tracing::info!("x11 worker stopped: {e}"),
            }
            let _ = alive_tx.send(false);
        })
        .map_err(|e| Error::Request {
            request: "(thread)",
            detail: e.to_string(),
        })?;
    let parts = init_rx.recv().map_err(|_| Error::Closed)??;
    Ok(XHandle {
        inner: Arc::new(Inner {
            tx: Mutex::new(parts.tx),
            wake: parts.wake,
            size: parts.size,
            damage: parts.damage,
            alive: parts.alive,
            stalled: watch::channel(false).0,
            command_timeout,
        }),
    })
}

struct HandleParts {
    tx: mpsc::Sender<Cmd>,
    wake: OwnedFd,
    size: watch::Receiver<Size>,
    damage: watch::Receiver<DamageStamp>,
    alive: watch::Receiver<bool>,
    alive_tx: Arc<watch::Sender<bool>>,
}

impl XHandle {
    /// The screen size in pixels, now. It changes if something on the desktop resizes the
    /// screen through RandR (e.g. `xrandr -s 1024x768` in a terminal).
    pub fn screen_size(&self) -> Size {
        *self.inner.size.borrow()
    }

    /// A receiver that sees every screen change (DAMAGE) as it happens.
    pub fn damage(&self) -> watch::Receiver<DamageStamp> {
        self.inner.damage.clone()
    }

    /// Whether the worker (and so the X connection) is still running.
    pub fn is_alive(&self) -> bool {
        *self.inner.alive.borrow()
    }

    /// Resolves when the X connection is closed (the X server died or was stopped).
    pub async fn closed(&self) {
        let mut alive = self.inner.alive.clone();
        let _ = alive.wait_for(|alive| !alive).await;
    }

    /// Resolves when a command went unanswered for its timeout: the X server is hung,
    /// and whoever supervises it should restart it.
    pub async fn stalled(&self) {
        let mut stalled = self.inner.stalled.subscribe();
        let _ = stalled.wait_for(|stalled| *stalled).await;
    }

    async fn call<T>(&self, make: impl FnOnce(Reply<T>) -> Cmd) -> Result<T> {
        let (reply, rx) = oneshot::channel();
        {
            let tx = self.inner.tx.lock().map_err(|_| Error::Closed)?;
            tx.send(make(reply)).map_err(|_| Error::Closed)?;
        }
        rustix::io::write(&self.inner.wake, &1u64.to_ne_bytes()).map_err(|_| Error::Closed)?;
        let limit = self.inner.command_timeout;
        match tokio::time::timeout(limit, rx).await {
            Ok(answer) => answer.map_err(|_| Error::Closed)?,
            Err(_) => {
                self.inner.stalled.send_replace(true);
                Err(Error::Unresponsive(limit))
            }
        }
    }

    /// Captures `rect` (or the whole screen) into `buf`'s allocation, as BGRX.
    pub async fn capture(&self, rect: Option<Rect>, buf: Vec<u8>) -> Result<Frame> {
        self.call(|reply| Cmd::Capture { rect, buf, reply }).await
    }

    /// Moves, clicks, drags or scrolls the pointer, through XTEST.
    pub async fn pointer(&self, action: PointerAction) -> Result<()> {
        self.call(|reply| Cmd::Pointer { action, reply }).await
    }

    /// Presses `button` at the first of `points`, moves through the rest, releases at the last.
    pub async fn drag_path(&self, points: Vec<(u32, u32)>, button: Button) -> Result<()> {
        self.call(|reply| Cmd::Path {
            points,
            button,
            reply,
        })
        .await
    }

    /// Presses and keeps down (`down`), or releases, the keys of `combo`.
    pub async fn hold_keys(&self, combo: KeyCombo, down: bool) -> Result<()> {
        self.call(|reply| Cmd::Hold { combo, down, reply }).await
    }

    /// Releases every key and button held down through [`XHandle::hold_keys`] and
    /// [`PointerAction::Press`].
    pub async fn release_all(&self) -> Result<()> {
        self.call(|reply| Cmd::ReleaseAll { reply }).await
    }

    /// Where the pointer is, in screen pixels.
    pub async fn cursor(&self) -> Result<(u32, u32)> {
        self.call(|reply| Cmd::Cursor { reply }).await
    }

    /// Types `text` at the keyboard focus, whatever the keyboard layout.
    pub async fn type_text(&self, text: &str) -> Result<()> {
        let keysyms = crate::keys::text_keysyms(text)?;
        for chunk in keysyms.chunks(TYPE_CHUNK) {
            let keysyms = chunk.to_vec();
            self.call(|reply| Cmd::Type { keysyms, reply }).await?;
        }
        Ok(())
    }

    /// Presses a key combination: modifiers down, keys tapped, everything released.
    pub async fn press_keys(&self, combo: KeyCombo) -> Result<()> {
        self.call(|reply| Cmd::Keys { combo, reply }).await
    }

    /// Owns the CLIPBOARD selection with `text` and serves it until someone else takes it.
    pub async fn clipboard_set(&self, text: String) -> Result<()> {
        self.call(|reply| Cmd::ClipboardSet { text, reply }).await
    }

    /// Reads the CLIPBOARD selection as UTF-8 text ("" when empty or not text).
    pub async fn clipboard_get(&self) -> Result<String> {
        self.call(|reply| Cmd::ClipboardGet { reply }).await
    }

    /// The ids of the apps' top-level windows (the window manager's client list).
    pub async fn client_windows(&self) -> Result<Vec<u32>> {
        self.call(|reply| Cmd::ClientWindows { reply }).await
    }

    /// Asks every app window to close, as its close button would (`WM_DELETE_WINDOW`);
    /// returns the windows asked.
    pub async fn close_windows(&self) -> Result<Vec<u32>> {
        self.call(|reply| Cmd::CloseWindows { reply }).await
    }

    /// Whether a window manager runs on the display (EWMH's check window).
    pub async fn wm_ready(&self) -> Result<bool> {
        self.call(|reply| Cmd::WmReady { reply }).await
    }

    /// Whether a popup (a menu) whose `WM_CLASS` instance is `instance` is showing.
    pub async fn popup_showing(&self, instance: &str) -> Result<bool> {
        let instance = instance.to_owned();
        self.call(|reply| Cmd::PopupShowing { instance, reply })
            .await
    }

    /// The apps' windows, topmost first.
    pub async fn window_list(&self) -> Result<Vec<crate::WindowInfo>> {
        self.call(|reply| Cmd::WindowList { reply }).await
    }

    /// One app window's state now; `None` if it is not (or no longer) an app window.
    pub async fn window(&self, id: u32) -> Result<Option<crate::WindowInfo>> {
        self.call(|reply| Cmd::Window { id, reply }).await
    }

    /// Of the app windows `ids`, those no window stacked above them overlaps (a menu or a
    /// tooltip included): what they show is all theirs.
    pub async fn unobstructed(&self, ids: Vec<u32>) -> Result<Vec<u32>> {
        self.call(|reply| Cmd::Unobstructed { ids, reply }).await
    }

    /// The glyphs of the server's monospaced bitmap font `name` (e.g. "fixed"), drawn off
    /// screen; `None` if it has no such font.
    pub async fn font_cells(&self, name: &str) -> Result<Option<crate::FontCells>> {
        let name = name.to_owned();
        self.call(|reply| Cmd::FontCells { name, reply }).await
    }

    /// Asks the window manager to act on window `id` ([`Error::NoWindow`] if it is not an
    /// app window).
    pub async fn window_action(&self, id: u32, action: crate::WindowAction) -> Result<()> {
        self.call(|reply| Cmd::WindowAction { id, action, reply })
            .await
    }

    /// Gives back the memory of the capture segment (a screen's worth, shared with the X
    /// server) while the desktop is idle; the next capture takes it again.
    pub async fn trim(&self) -> Result<()> {
        self.call(|reply| Cmd::Trim { reply }).await
    }
}

/// The state owned by the worker thread.
pub(crate) struct Worker {
    pub(crate) conn: RustConnection,
    pub(crate) root: xproto::Window,
    /// A hidden window: clipboard owner and requestor, and source of server timestamps.
    pub(crate) window: xproto::Window,
    pub(crate) size: Size,
    /// Publishes `size` to handles whenever RandR changes it.
    size_tx: watch::Sender<Size>,
    rx: mpsc::Receiver<Cmd>,
    wake: OwnedFd,
    damage: damage::Damage,
    damage_tx: watch::Sender<DamageStamp>,
    capturer: Capturer,
    pub(crate) keyboard: Keyboard,
    /// Keys held down by `Cmd::Hold` (keysym, keycode), in the order pressed.
    pub(crate) held_keys: Vec<(Keysym, u8)>,
    /// Buttons held down by `PointerAction::Press`.
    pub(crate) held_buttons: Vec<Button>,
    pub(crate) clipboard: Clipboard,
    pub(crate) windows: crate::windows::Atoms,
    pub(crate) ewmh: crate::ewmh::Atoms,
}

/// Connects to `config.display`, with its cookie if it has one (over the local socket:
/// agentdesk's X servers never listen on TCP).
fn open(config: &X11Config) -> Result<(RustConnection, usize), x11rb::errors::ConnectError> {
    use x11rb::errors::ConnectError;
    let Some(cookie) = config.cookie else {
        return RustConnection::connect(Some(&config.display));
    };
    let number = config
        .display
        .strip_prefix(':')
        .and_then(|rest| rest.split('.').next())
        .and_then(|n| n.parse::<u32>().ok())
        .ok_or(ConnectError::DisplayParsingError(
            x11rb::errors::DisplayParsingError::MalformedValue(config.display.clone().into()),
        ))?;
    let dir = config
        .socket_dir
        .as_deref()
        .unwrap_or(std::path::Path::new("/tmp/.X11-unix"));
    let socket = std::os::unix::net::UnixStream::connect(dir.join(format!("X{number}")))?;
    if let Some(expected) = config.server_pid {
        let peer = rustix::net::sockopt::socket_peercred(&socket)
            .map_err(std::io::Error::from)?
            .pid
            .as_raw_nonzero()
            .get();
        if peer != expected as i32 {
            return Err(ConnectError::IoError(std::io::Error::other(format!(
                "the X socket's listener is process {peer}, not the X server ({expected})"
            ))));
        }
    }
    let (stream, _) = x11rb::rust_connection::DefaultStream::from_unix_stream(socket)?;
    let conn = RustConnection::connect_to_stream_with_auth_info(
        stream,
        0,
        COOKIE_NAME.to_vec(),
        cookie.to_vec(),
    )?;
    Ok((conn, 0))
}

/// The atoms for `names`, in order: all requests sent first, then the replies read, so the
/// round trips overlap.
pub(crate) fn intern_atoms(conn: &RustConnection, names: &[&[u8]]) -> Result<Vec<xproto::Atom>> {
    let cookies = names
        .iter()
        .map(|n| conn.intern_atom(false, n))
        .collect::<Result<Vec<_>, _>>()?;
    let mut atoms = Vec::with_capacity(cookies.len());
    for c in cookies {
        atoms.push(c.reply()?.atom);
    }
    Ok(atoms)
}

/// The authorization protocol of [`X11Config::cookie`].
const COOKIE_NAME: &[u8] = b"MIT-MAGIC-COOKIE-1";

impl Worker {
    fn new(config: &X11Config) -> Result<(Worker, HandleParts)> {
        let (conn, screen_num) = open(config).map_err(|source| Error::Connect {
            display: config.display.clone(),
            source,
        })?;
        let screen = conn.setup().roots[screen_num].clone();
        let size = Size {
            width: u32::from(screen.width_in_pixels),
            height: u32::from(screen.height_in_pixels),
        };
        let root = screen.root;

        // DAMAGE needs XFIXES to have been negotiated first.
        conn.xfixes_query_version(5, 0)?
            .reply()
            .map_err(|_| Error::MissingExtension("XFIXES"))?;
        conn.damage_query_version(1, 1)?
            .reply()
            .map_err(|_| Error::MissingExtension("DAMAGE"))?;
        let damage = conn.generate_id()?;
        // NonEmpty + DamageSubtract: one notification at a time, re-armed after each. Reporting
        // every rectangle cost 27% of a core under heavy redraw; this costs ~1% (measured).
        conn.damage_create(damage, root, damage::ReportLevel::NON_EMPTY)?;
        // Screen resizes (RandR) must be followed, or capture breaks; a server without RandR
        // simply cannot be resized.
        if conn.randr_query_version(1, 2)?.reply().is_ok() {
            conn.randr_select_input(root, randr::NotifyMask::SCREEN_CHANGE)?;
        }

        let window = conn.generate_id()?;
        conn.create_window(
            x11rb::COPY_DEPTH_FROM_PARENT,
            window,
            root,
            -10,
            -10,
            1,
            1,
            0,
            xproto::WindowClass::INPUT_OUTPUT,
            x11rb::COPY_FROM_PARENT,
            &xproto::CreateWindowAux::new()
                .event_mask(xproto::EventMask::PROPERTY_CHANGE)
                .override_redirect(1),
        )?;
        if let Some(rgb) = config.background {
            conn.change_window_attributes(
                root,
                &xproto::ChangeWindowAttributesAux::new().background_pixel(rgb),
            )?;
            conn.clear_area(false, root, 0, 0, 0, 0)?;
        }

        let capturer = Capturer::new(&conn, &screen, size)?;
        let keyboard = Keyboard::new(&conn)?;
        let clipboard = Clipboard::new(&conn)?;
        let windows = crate::windows::Atoms::new(&conn)?;
        let ewmh = crate::ewmh::Atoms::new(&conn)?;
        conn.flush()?;

        let wake = eventfd(0, EventfdFlags::CLOEXEC | EventfdFlags::NONBLOCK).map_err(|e| {
            Error::Request {
                request: "(eventfd)",
                detail: e.to_string(),
            }
        })?;
        let wake_handle = wake.try_clone().map_err(|e| Error::Request {
            request: "(eventfd)",
            detail: e.to_string(),
        })?;
        let (tx, rx) = mpsc::channel();
        let (damage_tx, damage_rx) = watch::channel(DamageStamp {
            count: 0,
            at: Instant::now(),
        });
        let (alive_tx, alive_rx) = watch::channel(true);
        let (size_tx, size_rx) = watch::channel(size);
        let worker = Worker {
            conn,
            root,
            window,
            size,
            size_tx,
            rx,
            wake,
            damage,
            damage_tx,
            capturer,
            keyboard,
            held_keys: Vec::new(),
            held_buttons: Vec::new(),
            clipboard,
            windows,
            ewmh,
        };
        let parts = HandleParts {
            tx,
            wake: wake_handle,
            size: size_rx,
            damage: damage_rx,
            alive: alive_rx,
            alive_tx: Arc::new(alive_tx),
        };
        Ok((worker, parts))
    }

    fn run(mut self) -> Result<()> {
        loop {
            self.pump_events()?;
            loop {
                match self.rx.try_recv() {
                    Ok(cmd) => self.handle(cmd)?,
                    Err(mpsc::TryRecvError::Empty) => break,
                    Err(mpsc::TryRecvError::Disconnected) => return Ok(()),
                }
            }
            // pump_events has flushed, and found nothing queued, just before we sleep.
            self.pump_events()?;
            self.wait_readable()?;
            let mut counter = [0u8; 8];
            let _ = rustix::io::read(&self.wake, &mut counter);
        }
    }

    fn handle(&mut self, cmd: Cmd) -> Result<()> {
        // A failed request is the caller's error; a lost connection ends the worker.
        fn answer<T>(reply: Reply<T>, result: Result<T>) -> Result<()> {
            match result {
                Err(Error::Connection(e)) => {
                    let _ = reply.send(Err(Error::Closed));
                    Err(Error::Connection(e))
                }
                other => {
                    let _ = reply.send(other);
                    Ok(())
                }
            }
        }
        match cmd {
            Cmd::Capture { rect, buf, reply } => {
                let result = self
                    .capturer
                    .capture(&self.conn, self.root, self.size, rect, buf);
                answer(reply, result)
            }
            Cmd::Pointer { action, reply } => {
                let result = self.pointer(action);
                answer(reply, result)
            }
            Cmd::Path {
                points,
                button,
                reply,
            } => {
                let result = self.path(&points, button).and_then(|()| self.sync());
                answer(reply, result)
            }
            Cmd::Hold { combo, down, reply } => {
                let result = self.hold_combo(&combo, down);
                answer(reply, result)
            }
            Cmd::ReleaseAll { reply } => {
                let result = self.release_all();
                answer(reply, result)
            }
            Cmd::Cursor { reply } => {
                let result = self.cursor();
                answer(reply, result)
            }
            Cmd::Type { keysyms, reply } => {
                let result = self.type_keysyms(&keysyms);
                answer(reply, result)
            }
            Cmd::Keys { combo, reply } => {
                let result = self.press_combo(&combo);
                answer(reply, result)
            }
            Cmd::ClipboardSet { text, reply } => {
                let result = self.clipboard_set(text);
                answer(reply, result)
            }
            Cmd::ClipboardGet { reply } => {
                let result = self.clipboard_get();
                answer(reply, result)
            }
            Cmd::ClientWindows { reply } => {
                let result = self.client_windows();
                answer(reply, result)
            }
            Cmd::CloseWindows { reply } => {
                let result = self.close_windows();
                answer(reply, result)
            }
            Cmd::WmReady { reply } => {
                let result = self.wm_ready();
                answer(reply, result)
            }
            Cmd::PopupShowing { instance, reply } => {
                let result = self.popup_showing(&instance);
                answer(reply, result)
            }
            Cmd::WindowList { reply } => {
                let result = self.window_list();
                answer(reply, result)
            }
            Cmd::Window { id, reply } => {
                let result = self.window(id);
                answer(reply, result)
            }
            Cmd::WindowAction { id, action, reply } => {
                let result = self.window_action(id, action);
                answer(reply, result)
            }
            Cmd::Unobstructed { ids, reply } => {
                let result = self.unobstructed(&ids);
                answer(reply, result)
            }
            Cmd::FontCells { name, reply } => {
                let result = self.font_cells(&name);
                answer(reply, result)
            }
            Cmd::Trim { reply } => {
                self.capturer.trim();
                answer(reply, Ok(()))
            }
        }
    }

    /// Handles every event already received, without blocking, and flushes what that sent.
    pub(crate) fn pump_events(&mut self) -> Result<()> {
        while let Some(event) = self.next_queued_event()? {
            self.on_event(event)?;
        }
        Ok(())
    }

    /// Flushes, then takes the next event already received, if any. When it returns `None`,
    /// nothing is left to send and nothing is queued, so sleeping in poll() on the socket is
    /// safe. Flushing *before* looking matters: x11rb's flush reads whatever the server sent
    /// meanwhile into its own queue when the socket is full, and an event parked there does not
    /// make the socket readable, so flushing after the last look could leave an event (an INCR
    /// chunk request, a selection reply) waiting until the next unrelated one arrived.
    fn next_queued_event(&mut self) -> Result<Option<Event>> {
        self.conn.flush()?;
        Ok(self.conn.poll_for_event()?)
    }

    fn on_event(&mut self, event: Event) -> Result<()> {
        match event {
            Event::DamageNotify(_) => {
                // Re-arm first, then publish: a change that lands in between is not lost, it
                // just produces the next notification.
                self.conn
                    .damage_subtract(self.damage, x11rb::NONE, x11rb::NONE)?;
                self.damage_tx.send_modify(|stamp| {
                    stamp.count += 1;
                    stamp.at = Instant::now();
                });
            }
            Event::RandrScreenChangeNotify(_) => self.on_screen_change()?,
            Event::SelectionRequest(ev) => self.on_selection_request(&ev)?,
            Event::SelectionClear(ev) => self.on_selection_clear(&ev),
            Event::PropertyNotify(ev) => self.on_property_notify(&ev)?,
            Event::MappingNotify(_) => {}
            Event::Error(e) => tracing::debug!("X error: {:?}", e.error_kind),
            _ => {}
        }
        Ok(())
    }

    /// Blocks until the X socket or the command eventfd is readable.
    fn wait_readable(&self) -> Result<()> {
        let stream = self.conn.stream().as_fd();
        let mut fds = [
            PollFd::new(&stream, PollFlags::IN),
            PollFd::new(&self.wake, PollFlags::IN),
        ];
        match poll(&mut fds, None) {
            Ok(_) | Err(rustix::io::Errno::INTR) => Ok(()),
            Err(e) => Err(Error::Request {
                request: "(poll)",
                detail: e.to_string(),
            }),
        }
    }

    /// Lets `duration` pass while still answering X events (damage, clipboard requests).
    pub(crate) fn idle(&mut self, duration: Duration) -> Result<()> {
        self.wait_for_event(Instant::now() + duration, |_| false)
            .map(|_| ())
    }

    /// Waits until an event matching `want` arrives (returning it) or `deadline` passes
    /// (returning `None`); every other event is handled as usual meanwhile.
    pub(crate) fn wait_for_event(
        &mut self,
        deadline: Instant,
        mut want: impl FnMut(&Event) -> bool,
    ) -> Result<Option<Event>> {
        loop {
            while let Some(event) = self.next_queued_event()? {
                if want(&event) {
                    return Ok(Some(event));
                }
                self.on_event(event)?;
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(None);
            }
            let stream = self.conn.stream().as_fd();
            let mut fds = [PollFd::new(&stream, PollFlags::IN)];
            let left = deadline - now;
            let ts = rustix::event::Timespec {
                tv_sec: left.as_secs() as i64,
                tv_nsec: i64::from(left.subsec_nanos()),
            };
            let _ = poll(&mut fds, Some(&ts));
        }
    }

    /// Follows a screen resize: new size for coordinates and capture, a capture segment to
    /// match. Without this, every capture after `xrandr -s ...` fails with BadMatch.
    fn on_screen_change(&mut self) -> Result<()> {
        let geometry = self.conn.get_geometry(self.root)?.reply()?;
        let size = Size {
            width: u32::from(geometry.width),
            height: u32::from(geometry.height),
        };
        if size != self.size {
            tracing::info!("screen resized from {} to {size}", self.size);
            self.size = size;
            self.capturer.resize(&self.conn, size)?;
            self.size_tx.send_replace(size);
        }
        Ok(())
    }

    /// A round trip: when it returns, the server has processed everything sent before.
    pub(crate) fn sync(&self) -> Result<()> {
        self.conn.get_input_focus()?.reply()?;
        Ok(())
    }
}
