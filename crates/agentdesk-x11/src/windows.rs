//! The desktop's top-level windows, as the window manager lists them (EWMH `_NET_CLIENT_LIST`),
//! and asking them to close the way a click on their close button does (ICCCM
//! `WM_DELETE_WINDOW`): an app that is asked saves its state and ends its session cleanly,
//! where a signal would leave it to find a "crashed" session at its next start. Also whether a
//! window manager runs (EWMH `_NET_SUPPORTING_WM_CHECK`) and whether a popup of a given class
//! (a menu) is showing.

use x11rb::connection::Connection as _;
use x11rb::protocol::xproto::{self, ConnectionExt as _};
use x11rb::rust_connection::RustConnection;

use crate::worker::Worker;
use crate::Result;

/// The atoms this module needs.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Atoms {
    client_list: xproto::Atom,
    protocols: xproto::Atom,
    delete_window: xproto::Atom,
    wm_check: xproto::Atom,
}

impl Atoms {
    pub(crate) fn new(conn: &RustConnection) -> Result<Atoms> {
        let names: [&[u8]; 4] = [
            b"_NET_CLIENT_LIST",
            b"WM_PROTOCOLS",
            b"WM_DELETE_WINDOW",
            b"_NET_SUPPORTING_WM_CHECK",
        ];
        let atoms = crate::worker::intern_atoms(conn, &names)?;
        Ok(Atoms {
            client_list: atoms[0],
            protocols: atoms[1],
            delete_window: atoms[2],
            wm_check: atoms[3],
        })
    }
}

/// A window property of 32-bit items (window ids, atoms); empty if absent or malformed.
fn property32(
    conn: &RustConnection,
    window: xproto::Window,
    property: xproto::Atom,
    kind: xproto::AtomEnum,
) -> Result<Vec<u32>> {
    // 4096 items is far more than any desktop has windows or a window protocols.
    let reply = conn
        .get_property(false, window, property, kind, 0, 4096)?
        .reply();
    Ok(match reply {
        Ok(reply) => reply.value32().map(Iterator::collect).unwrap_or_default(),
        // The window went away between listing and asking: it has nothing to say.
        Err(x11rb::errors::ReplyError::X11Error(_)) => Vec::new(),
        Err(e) => return Err(e.into()),
    })
}

impl Worker {
    /// The top-level windows of apps, as the window manager lists them; without a window
    /// manager, the mapped children of the root window.
    pub(crate) fn client_windows(&mut self) -> Result<Vec<xproto::Window>> {
        let atoms = self.windows;
        let listed = property32(
            &self.conn,
            self.root,
            atoms.client_list,
            xproto::AtomEnum::WINDOW,
        )?;
        if !listed.is_empty() {
            return Ok(listed);
        }
        let tree = self.conn.query_tree(self.root)?.reply()?;
        let mut mapped = Vec::new();
        for window in tree.children {
            if window == self.window {
                continue;
            }
            let attributes = self.conn.get_window_attributes(window)?.reply();
            if attributes
                .is_ok_and(|a| a.map_state == xproto::MapState::VIEWABLE && !a.override_redirect)
            {
                mapped.push(window);
            }
        }
        Ok(mapped)
    }

    /// Whether a window manager runs: the root window names a check window that names itself
    /// (a window manager that died leaves the root's property naming a window that is gone).
    pub(crate) fn wm_ready(&mut self) -> Result<bool> {
        let check = self.windows.wm_check;
        let named = property32(&self.conn, self.root, check, xproto::AtomEnum::WINDOW)?;
        let Some(&window) = named.first() else {
            return Ok(false);
        };
        let itself = property32(&self.conn, window, check, xproto::AtomEnum::WINDOW)?;
        Ok(itself.first() == Some(&window))
    }

    /// Whether a popup (an override-redirect window, such as a menu) whose `WM_CLASS` instance
    /// is `instance` is showing.
    pub(crate) fn popup_showing(&mut self, instance: &str) -> Result<bool> {
        let tree = self.conn.query_tree(self.root)?.reply()?;
        for window in tree.children {
            let showing = self
                .conn
                .get_window_attributes(window)?
                .reply()
                .is_ok_and(|a| a.override_redirect && a.map_state == xproto::MapState::VIEWABLE);
            if !showing {
                continue;
            }
            let class = self
                .conn
                .get_property(
                    false,
                    window,
                    xproto::AtomEnum::WM_CLASS,
                    xproto::AtomEnum::STRING,
                    0,
                    256,
                )?
                .reply();
            if class.is_ok_and(|c| c.value.split(|&b| b == 0).next() == Some(instance.as_bytes())) {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Sends `WM_DELETE_WINDOW` to every app window that takes it; returns the windows asked.
    /// Windows that do not take it are left to the signals that follow.
    pub(crate) fn close_windows(&mut self) -> Result<Vec<xproto::Window>> {
        let atoms = self.windows;
        let mut asked = Vec::new();
        for window in self.client_windows()? {
            let protocols =
                property32(&self.conn, window, atoms.protocols, xproto::AtomEnum::ATOM)?;
            if !protocols.contains(&atoms.delete_window) {
                continue;
            }
            let event = xproto::ClientMessageEvent::new(
                32,
                window,
                atoms.protocols,
                [atoms.delete_window, x11rb::CURRENT_TIME, 0, 0, 0],
            );
            self.conn
                .send_event(false, window, xproto::EventMask::NO_EVENT, event)?;
            asked.push(window);
        }
        self.conn.flush()?;
        Ok(asked)
    }
}
