//! The apps' windows as an agent sees them (EWMH and ICCCM, through the window manager):
//! listing them with their titles, classes, processes, places and states, and acting on
//! them — focus, close, minimize, maximize, restore, fullscreen, move, resize — with the
//! client messages a pager or taskbar sends, so the window manager does what it would for a
//! human.

use x11rb::connection::Connection as _;
use x11rb::protocol::xproto::{self, ConnectionExt as _};
use x11rb::rust_connection::RustConnection;

use crate::worker::Worker;
use crate::{Error, Result};

/// A top-level window of an app.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WindowInfo {
    /// The X window id: stays the same while the window lives.
    pub id: u32,
    /// Its title (`_NET_WM_NAME`, else `WM_NAME`), at most [`MAX_TITLE`] bytes.
    pub title: String,
    /// Its application class (`WM_CLASS`'s class part, e.g. "firefox-esr", "Mousepad").
    pub app: String,
    /// The process that says it owns it (`_NET_WM_PID`), if it says.
    pub pid: Option<u32>,
    /// Where its contents are on screen (the frame the window manager draws is around it).
    pub x: i32,
    /// See `x`.
    pub y: i32,
    /// Its contents' size.
    pub width: u32,
    /// See `width`.
    pub height: u32,
    /// Whether it has the keyboard focus (`_NET_ACTIVE_WINDOW`).
    pub focused: bool,
    /// Iconified.
    pub minimized: bool,
    /// Maximized both ways.
    pub maximized: bool,
    /// Covering the whole screen.
    pub fullscreen: bool,
}

/// Titles are cut to this many bytes (at a character boundary).
pub const MAX_TITLE: usize = 512;

/// What to do to a window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowAction {
    /// Raise it and give it the keyboard (restoring it if minimized).
    Focus,
    /// Ask it to close, as its close button does.
    Close,
    /// Iconify it.
    Minimize,
    /// Maximize it.
    Maximize,
    /// Neither minimized, maximized nor fullscreen.
    Restore,
    /// Cover the whole screen.
    Fullscreen,
    /// Put its contents' top-left corner at (x, y).
    Move {
        /// Column.
        x: i32,
        /// Row.
        y: i32,
    },
    /// Make its contents this size.
    Resize {
        /// Pixels.
        width: u32,
        /// Pixels.
        height: u32,
    },
}

/// The atoms this module needs.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Atoms {
    stacking: xproto::Atom,
    client_list: xproto::Atom,
    net_wm_name: xproto::Atom,
    utf8: xproto::Atom,
    pid: xproto::Atom,
    active: xproto::Atom,
    state: xproto::Atom,
    hidden: xproto::Atom,
    max_vert: xproto::Atom,
    max_horz: xproto::Atom,
    fullscreen: xproto::Atom,
    wm_state: xproto::Atom,
    change_state: xproto::Atom,
    close: xproto::Atom,
    moveresize: xproto::Atom,
    protocols: xproto::Atom,
    delete_window: xproto::Atom,
}

impl Atoms {
    pub(crate) fn new(conn: &RustConnection) -> Result<Atoms> {
        let names: [&[u8]; 17] = [
            b"_NET_CLIENT_LIST_STACKING",
            b"_NET_CLIENT_LIST",
            b"_NET_WM_NAME",
            b"UTF8_STRING",
            b"_NET_WM_PID",
            b"_NET_ACTIVE_WINDOW",
            b"_NET_WM_STATE",
            b"_NET_WM_STATE_HIDDEN",
            b"_NET_WM_STATE_MAXIMIZED_VERT",
            b"_NET_WM_STATE_MAXIMIZED_HORZ",
            b"_NET_WM_STATE_FULLSCREEN",
            b"WM_STATE",
            b"WM_CHANGE_STATE",
            b"_NET_CLOSE_WINDOW",
            b"_NET_MOVERESIZE_WINDOW",
            b"WM_PROTOCOLS",
            b"WM_DELETE_WINDOW",
        ];
        let a = crate::worker::intern_atoms(conn, &names)?;
        Ok(Atoms {
            stacking: a[0],
            client_list: a[1],
            net_wm_name: a[2],
            utf8: a[3],
            pid: a[4],
            active: a[5],
            state: a[6],
            hidden: a[7],
            max_vert: a[8],
            max_horz: a[9],
            fullscreen: a[10],
            wm_state: a[11],
            change_state: a[12],
            close: a[13],
            moveresize: a[14],
            protocols: a[15],
            delete_window: a[16],
        })
    }
}

/// `_NET_WM_STATE` client message actions.
const STATE_REMOVE: u32 = 0;
const STATE_ADD: u32 = 1;
/// Source indication 2: a pager or taskbar, which window managers obey without the
/// focus-stealing checks they apply to apps.
const SOURCE_PAGER: u32 = 2;
/// ICCCM `IconicState`.
const ICONIC: u32 = 3;
/// `StaticGravity`: coordinates are the client window's own, not its frame's.
const STATIC_GRAVITY: u32 = 10;

/// A property's bytes (at most `max` of them), or `None` if absent or the window is gone.
fn property_bytes(
    conn: &RustConnection,
    window: xproto::Window,
    property: xproto::Atom,
    kind: xproto::Atom,
    max: u32,
) -> Result<Option<Vec<u8>>> {
    match conn
        .get_property(false, window, property, kind, 0, max.div_ceil(4))?
        .reply()
    {
        Ok(r) if r.format == 8 && r.type_ != x11rb::NONE => Ok(Some(r.value)),
        Ok(_) => Ok(None),
        Err(x11rb::errors::ReplyError::X11Error(_)) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// A property of 32-bit items; empty if absent, malformed or the window is gone.
fn property32(
    conn: &RustConnection,
    window: xproto::Window,
    property: xproto::Atom,
    kind: impl Into<xproto::Atom>,
) -> Result<Vec<u32>> {
    match conn
        .get_property(false, window, property, kind.into(), 0, 4096)?
        .reply()
    {
        Ok(r) => Ok(r.value32().map(Iterator::collect).unwrap_or_default()),
        Err(x11rb::errors::ReplyError::X11Error(_)) => Ok(Vec::new()),
        Err(e) => Err(e.into()),
    }
}

/// Text cut to `max` bytes at a character boundary.
/// Whether two rectangles (x, y, width, height) share a pixel.
fn overlap(a: (i32, i32, i32, i32), b: (i32, i32, i32, i32)) -> bool {
    let (ax1, ay1) = (
        i64::from(a.0) + i64::from(a.2),
        i64::from(a.1) + i64::from(a.3),
    );
    let (bx1, by1) = (
        i64::from(b.0) + i64::from(b.2),
        i64::from(b.1) + i64::from(b.3),
    );
    i64::from(a.0) < bx1 && i64::from(b.0) < ax1 && i64::from(a.1) < by1 && i64::from(b.1) < ay1
}

fn cut(mut s: String, max: usize) -> String {
    if s.len() > max {
        let mut at = max;
        while !s.is_char_boundary(at) {
            at -= 1;
        }
        s.truncate(at);
    }
    s
}

impl Worker {
    /// The apps' windows, topmost first (`_NET_CLIENT_LIST_STACKING`, else the client list).
    pub(crate) fn window_list(&mut self) -> Result<Vec<WindowInfo>> {
        let a = self.ewmh;
        let mut ids = property32(&self.conn, self.root, a.stacking, xproto::AtomEnum::WINDOW)?;
        if ids.is_empty() {
            ids = self.client_windows()?;
        }
        ids.reverse();
        let active = property32(&self.conn, self.root, a.active, xproto::AtomEnum::WINDOW)?
            .first()
            .copied();
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            // A window that closed since the list was read is simply not there.
            if let Some(info) = self.window_info(id, active)? {
                out.push(info);
            }
        }
        Ok(out)
    }

    fn window_info(&self, id: u32, active: Option<u32>) -> Result<Option<WindowInfo>> {
        let a = self.ewmh;
        let conn = &self.conn;
        let Ok(geometry) = conn.get_geometry(id)?.reply() else {
            return Ok(None);
        };
        let Ok(place) = conn.translate_coordinates(id, self.root, 0, 0)?.reply() else {
            return Ok(None);
        };
        let title = match property_bytes(conn, id, a.net_wm_name, a.utf8, MAX_TITLE as u32)? {
            Some(t) => String::from_utf8_lossy(&t).into_owned(),
            None => property_bytes(
                conn,
                id,
                xproto::AtomEnum::WM_NAME.into(),
                xproto::AtomEnum::STRING.into(),
                MAX_TITLE as u32,
            )?
            // WM_NAME is Latin-1.
            .map(|t| t.iter().map(|&b| char::from(b)).collect())
            .unwrap_or_default(),
        };
        let class = property_bytes(
            conn,
            id,
            xproto::AtomEnum::WM_CLASS.into(),
            xproto::AtomEnum::STRING.into(),
            256,
        )?
        .unwrap_or_default();
        // "instance\0class\0": the class names the app.
        let app = class
            .split(|&b| b == 0)
            .nth(1)
            .map(|c| String::from_utf8_lossy(c).into_owned())
            .unwrap_or_default();
        let pid = property32(conn, id, a.pid, xproto::AtomEnum::CARDINAL)?
            .first()
            .copied();
        let states = property32(conn, id, a.state, xproto::AtomEnum::ATOM)?;
        let iconic = property32(conn, id, a.wm_state, a.wm_state)?.first() == Some(&ICONIC);
        Ok(Some(WindowInfo {
            id,
            title: cut(title, MAX_TITLE),
            app: cut(app, 256),
            pid,
            x: i32::from(place.dst_x),
            y: i32::from(place.dst_y),
            width: u32::from(geometry.width),
            height: u32::from(geometry.height),
            focused: active == Some(id),
            minimized: iconic || states.contains(&a.hidden),
            maximized: states.contains(&a.max_vert) && states.contains(&a.max_horz),
            fullscreen: states.contains(&a.fullscreen),
        }))
    }

    /// One window's state now, if it is still an app window.
    pub(crate) fn window(&mut self, id: u32) -> Result<Option<WindowInfo>> {
        let a = self.ewmh;
        let listed = property32(
            &self.conn,
            self.root,
            a.client_list,
            xproto::AtomEnum::WINDOW,
        )?;
        let listed = if listed.is_empty() {
            self.client_windows()?
        } else {
            listed
        };
        if !listed.contains(&id) {
            return Ok(None);
        }
        let active = property32(&self.conn, self.root, a.active, xproto::AtomEnum::WINDOW)?
            .first()
            .copied();
        self.window_info(id, active)
    }

    /// Of the app windows `ids`, those that nothing hides, even in part: no viewable window
    /// stacked above them overlaps their contents. Read from the X server's own stacking of
    /// the root's children, so what no window manager lists counts too: menus, tooltips and
    /// pop-ups (override-redirect windows), panels, other apps' frames.
    pub(crate) fn unobstructed(&mut self, ids: &[u32]) -> Result<Vec<u32>> {
        let conn = &self.conn;
        let tops = conn.query_tree(self.root)?.reply()?.children;
        // Every request first, then every reply: one round trip's wait, not one per window.
        let asked: Vec<_> = tops
            .iter()
            .map(|&w| (conn.get_window_attributes(w), conn.get_geometry(w)))
            .collect();
        let mut drawn = Vec::with_capacity(tops.len());
        for (attributes, geometry) in asked {
            let shown = attributes?.reply().ok().is_some_and(|a| {
                a.map_state == xproto::MapState::VIEWABLE
                    && a.class == xproto::WindowClass::INPUT_OUTPUT
            });
            let rect = geometry?.reply().ok().map(|g| {
                let border = i32::from(g.border_width) * 2;
                (
                    i32::from(g.x),
                    i32::from(g.y),
                    i32::from(g.width) + border,
                    i32::from(g.height) + border,
                )
            });
            drawn.push(rect.filter(|_| shown));
        }
        let mut clear = Vec::new();
        for &id in ids {
            // The window's ancestor among the root's children (the frame the window manager
            // put it in), a few levels up at most.
            let mut top = id;
            for _ in 0..16 {
                let Ok(tree) = conn.query_tree(top)?.reply() else {
                    break;
                };
                if tree.parent == self.root || tree.parent == x11rb::NONE {
                    break;
                }
                top = tree.parent;
            }
            let Some(at) = tops.iter().position(|&w| w == top) else {
                continue;
            };
            // Its frame must be drawn at all (a window on another workspace is not).
            if drawn[at].is_none() {
                continue;
            }
            let (Ok(geometry), Ok(place)) = (
                conn.get_geometry(id)?.reply(),
                conn.translate_coordinates(id, self.root, 0, 0)?.reply(),
            ) else {
                continue;
            };
            let own = (
                i32::from(place.dst_x),
                i32::from(place.dst_y),
                i32::from(geometry.width),
                i32::from(geometry.height),
            );
            let hidden = drawn[at + 1..]
                .iter()
                .flatten()
                .any(|&other| overlap(own, other));
            if !hidden {
                clear.push(id);
            }
        }
        Ok(clear)
    }

    /// Sends a client message about `window` to the root, as pagers do.
    fn tell_wm(&self, window: u32, kind: xproto::Atom, data: [u32; 5]) -> Result<()> {
        let event = xproto::ClientMessageEvent::new(32, window, kind, data);
        self.conn.send_event(
            false,
            self.root,
            xproto::EventMask::SUBSTRUCTURE_REDIRECT | xproto::EventMask::SUBSTRUCTURE_NOTIFY,
            event,
        )?;
        Ok(())
    }

    fn set_state(&self, window: u32, action: u32, first: u32, second: u32) -> Result<()> {
        let a = self.ewmh;
        self.tell_wm(window, a.state, [action, first, second, SOURCE_PAGER, 0])
    }

    /// Acts on `window`; `Err(Error::NoWindow)` if it is not (or no longer) an app window.
    pub(crate) fn window_action(&mut self, window: u32, action: WindowAction) -> Result<()> {
        let a = self.ewmh;
        let Some(info) = self.window(window)? else {
            return Err(Error::NoWindow(window));
        };
        let time = x11rb::CURRENT_TIME;
        match action {
            WindowAction::Focus => {
                self.tell_wm(window, a.active, [SOURCE_PAGER, time, 0, 0, 0])?;
                // Some window managers (IceWM) focus an activated window without raising
                // it; ask for that too, as a client would (ICCCM: a ConfigureRequest the
                // window manager applies to the frame).
                self.conn.configure_window(
                    window,
                    &xproto::ConfigureWindowAux::new().stack_mode(xproto::StackMode::ABOVE),
                )?;
            }
            WindowAction::Close => {
                let protocols =
                    property32(&self.conn, window, a.protocols, xproto::AtomEnum::ATOM)?;
                if protocols.contains(&a.delete_window) {
                    let event = xproto::ClientMessageEvent::new(
                        32,
                        window,
                        a.protocols,
                        [a.delete_window, time, 0, 0, 0],
                    );
                    self.conn
                        .send_event(false, window, xproto::EventMask::NO_EVENT, event)?;
                } else {
                    self.tell_wm(window, a.close, [time, SOURCE_PAGER, 0, 0, 0])?;
                }
            }
            WindowAction::Minimize => {
                self.tell_wm(window, a.change_state, [ICONIC, 0, 0, 0, 0])?;
            }
            WindowAction::Maximize => {
                if info.minimized {
                    self.tell_wm(window, a.active, [SOURCE_PAGER, time, 0, 0, 0])?;
                }
                self.set_state(window, STATE_ADD, a.max_vert, a.max_horz)?;
            }
            WindowAction::Restore => {
                if info.fullscreen {
                    self.set_state(window, STATE_REMOVE, a.fullscreen, 0)?;
                }
                if info.maximized {
                    self.set_state(window, STATE_REMOVE, a.max_vert, a.max_horz)?;
                }
                if info.minimized {
                    self.tell_wm(window, a.active, [SOURCE_PAGER, time, 0, 0, 0])?;
                }
            }
            WindowAction::Fullscreen => {
                if info.minimized {
                    self.tell_wm(window, a.active, [SOURCE_PAGER, time, 0, 0, 0])?;
                }
                self.set_state(window, STATE_ADD, a.fullscreen, 0)?;
            }
            WindowAction::Move { x, y } => {
                // Two's complement: a position left of or above the screen is negative.
                self.move_resize(window, &info, 0x3, [x as u32, y as u32, 0, 0])?;
            }
            WindowAction::Resize { width, height } => {
                self.move_resize(window, &info, 0xc, [0, 0, width, height])?;
            }
        }
        self.conn.flush()?;
        Ok(())
    }

    /// `_NET_MOVERESIZE_WINDOW` with `which` of x, y, width, height (bits 0–3) given, in the
    /// client's own coordinates; a maximized or fullscreen window is restored first, since
    /// it keeps its place otherwise.
    fn move_resize(
        &self,
        window: u32,
        info: &WindowInfo,
        which: u32,
        values: [u32; 4],
    ) -> Result<()> {
        let a = self.ewmh;
        if info.fullscreen {
            self.set_state(window, STATE_REMOVE, a.fullscreen, 0)?;
        }
        if info.maximized {
            self.set_state(window, STATE_REMOVE, a.max_vert, a.max_horz)?;
        }
        let data0 = STATIC_GRAVITY | (which << 8) | (SOURCE_PAGER << 12);
        self.tell_wm(
            window,
            a.moveresize,
            [data0, values[0], values[1], values[2], values[3]],
        )
    }
}
