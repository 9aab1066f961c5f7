//! The CLIPBOARD selection, in-process: owning it (serving any client, large payloads by INCR)
//! and reading it from whoever owns it.
//!
//! Ownership lives in the worker thread, so the text keeps being served after the tool that
//! set it has returned — the way a real copy works, and without a forked helper like xclip.

use std::time::{Duration, Instant};

use x11rb::connection::RequestConnection;
use x11rb::protocol::xproto::{self, Atom, AtomEnum, ConnectionExt as _, PropMode};
use x11rb::protocol::Event;
use x11rb::rust_connection::RustConnection;
use x11rb::wrapper::ConnectionExt as _;

use crate::worker::Worker;
use crate::{Error, Result};

/// Above this size a reply goes by INCR, in chunks of this size.
const CHUNK: usize = 256 * 1024;
/// How long a selection owner gets to answer us.
const REPLY_TIMEOUT: Duration = Duration::from_secs(3);
/// Reading stops here: a clipboard is for text, and agent results have size limits anyway.
const MAX_READ: usize = 64 * 1024 * 1024;

pub(crate) struct Atoms {
    clipboard: Atom,
    utf8: Atom,
    targets: Atom,
    timestamp: Atom,
    text: Atom,
    mime_text: Atom,
    incr: Atom,
    /// Where selections we request are delivered, on our window.
    property: Atom,
    /// A property we touch to learn the server's current time.
    clock: Atom,
}

struct Outgoing {
    requestor: xproto::Window,
    property: Atom,
    kind: Atom,
    data: std::sync::Arc<[u8]>,
    offset: usize,
    /// When the requestor last asked for a chunk; transfers that stall are dropped.
    progressed: Instant,
}

/// An INCR transfer whose requestor has not asked for the next chunk for this long is
/// abandoned (the requestor died or gave up); its copy of the data is freed.
const STALE_TRANSFER: Duration = Duration::from_secs(10);
/// At most this many INCR transfers at once; the oldest is dropped beyond it.
const MAX_TRANSFERS: usize = 16;

pub(crate) struct Clipboard {
    atoms: Atoms,
    /// The text we serve, and the server time we took ownership at.
    owned: Option<(std::sync::Arc<[u8]>, u32)>,
    outgoing: Vec<Outgoing>,
}

impl Clipboard {
    pub(crate) fn new(conn: &RustConnection) -> Result<Clipboard> {
        let names: [&[u8]; 9] = [
            b"CLIPBOARD",
            b"UTF8_STRING",
            b"TARGETS",
            b"TIMESTAMP",
            b"TEXT",
            b"text/plain;charset=utf-8",
            b"INCR",
            b"AGENTDESK_SELECTION",
            b"AGENTDESK_CLOCK",
        ];
        let atoms = crate::worker::intern_atoms(conn, &names)?;
        Ok(Clipboard {
            atoms: Atoms {
                clipboard: atoms[0],
                utf8: atoms[1],
                targets: atoms[2],
                timestamp: atoms[3],
                text: atoms[4],
                mime_text: atoms[5],
                incr: atoms[6],
                property: atoms[7],
                clock: atoms[8],
            },
            owned: None,
            outgoing: Vec::new(),
        })
    }
}

impl Worker {
    /// The server's current time, from a zero-length property append (ICCCM: selection
    /// ownership must carry a real timestamp, not CurrentTime).
    fn server_time(&mut self) -> Result<u32> {
        let clock = self.clipboard.atoms.clock;
        self.conn
            .change_property8(PropMode::APPEND, self.window, clock, AtomEnum::STRING, &[])?;
        let window = self.window;
        let event = self.wait_for_event(
            Instant::now() + REPLY_TIMEOUT,
            |e| matches!(e, Event::PropertyNotify(p) if p.window == window && p.atom == clock),
        )?;
        match event {
            Some(Event::PropertyNotify(p)) => Ok(p.time),
            _ => Ok(x11rb::CURRENT_TIME),
        }
    }

    pub(crate) fn clipboard_set(&mut self, text: String) -> Result<()> {
        let time = self.server_time()?;
        let selection = self.clipboard.atoms.clipboard;
        self.conn
            .set_selection_owner(self.window, selection, time)?;
        let owner = self.conn.get_selection_owner(selection)?.reply()?.owner;
        if owner != self.window {
            return Err(Error::Clipboard(
                "another program kept the clipboard; try again".into(),
            ));
        }
        self.clipboard.owned = Some((text.into_bytes().into(), time));
        Ok(())
    }

    pub(crate) fn clipboard_get(&mut self) -> Result<String> {
        if let Some((data, _)) = &self.clipboard.owned {
            return Ok(String::from_utf8_lossy(data).into_owned());
        }
        let a = &self.clipboard.atoms;
        let (selection, utf8, property, incr) = (a.clipboard, a.utf8, a.property, a.incr);
        if self.conn.get_selection_owner(selection)?.reply()?.owner == x11rb::NONE {
            return Ok(String::new());
        }
        let window = self.window;
        self.conn.delete_property(window, property)?;
        self.conn
            .convert_selection(window, selection, utf8, property, x11rb::CURRENT_TIME)?;
        let notify = self.wait_for_event(
            Instant::now() + REPLY_TIMEOUT,
            |e| matches!(e, Event::SelectionNotify(n) if n.requestor == window),
        )?;
        let Some(Event::SelectionNotify(notify)) = notify else {
            return Err(Error::Clipboard(
                "the program that owns the clipboard did not answer within 3 s".into(),
            ));
        };
        if notify.property == x11rb::NONE {
            // The owner has no text form of what it holds (an image, say).
            return Ok(String::new());
        }
        let reply = self
            .conn
            .get_property(true, window, property, AtomEnum::ANY, 0, u32::MAX / 4)?
            .reply()?;
        if reply.type_ != incr {
            return Ok(String::from_utf8_lossy(&reply.value).into_owned());
        }
        // INCR: deleting the property (done above by get_property) asks for the first chunk;
        // each chunk arrives as a new value, and an empty one ends the transfer.
        let mut data = Vec::new();
        loop {
            let next = self.wait_for_event(Instant::now() + REPLY_TIMEOUT, |e| {
                matches!(e, Event::PropertyNotify(p) if p.window == window && p.atom == property
                    && p.state == xproto::Property::NEW_VALUE)
            })?;
            if next.is_none() {
                return Err(Error::Clipboard("the clipboard transfer stalled".into()));
            }
            let chunk = self
                .conn
                .get_property(true, window, property, AtomEnum::ANY, 0, u32::MAX / 4)?
                .reply()?;
            if chunk.value.is_empty() {
                break;
            }
            data.extend_from_slice(&chunk.value);
            if data.len() > MAX_READ {
                return Err(Error::Clipboard(format!(
                    "the clipboard holds more than {MAX_READ} bytes"
                )));
            }
        }
        Ok(String::from_utf8_lossy(&data).into_owned())
    }

    pub(crate) fn on_selection_clear(&mut self, ev: &xproto::SelectionClearEvent) {
        if ev.selection == self.clipboard.atoms.clipboard {
            self.clipboard.owned = None;
        }
    }

    pub(crate) fn on_selection_request(
        &mut self,
        ev: &xproto::SelectionRequestEvent,
    ) -> Result<()> {
        let a = &self.clipboard.atoms;
        // Obsolete clients pass no property; ICCCM says to use the target atom then.
        let property = if ev.property == x11rb::NONE {
            ev.target
        } else {
            ev.property
        };
        let mut answered = x11rb::NONE;
        if let (Some((data, time)), true) = (&self.clipboard.owned, ev.selection == a.clipboard) {
            let (data, time) = (data.clone(), *time);
            if ev.target == a.targets {
                let targets = [
                    a.targets,
                    a.timestamp,
                    a.utf8,
                    a.text,
                    a.mime_text,
                    u32::from(AtomEnum::STRING),
                ];
                self.conn.change_property32(
                    PropMode::REPLACE,
                    ev.requestor,
                    property,
                    AtomEnum::ATOM,
                    &targets,
                )?;
                answered = property;
            } else if ev.target == a.timestamp {
                self.conn.change_property32(
                    PropMode::REPLACE,
                    ev.requestor,
                    property,
                    AtomEnum::INTEGER,
                    &[time],
                )?;
                answered = property;
            } else if [a.utf8, a.text, a.mime_text, u32::from(AtomEnum::STRING)]
                .contains(&ev.target)
            {
                let (kind, bytes): (Atom, std::sync::Arc<[u8]>) =
                    if ev.target == u32::from(AtomEnum::STRING) {
                        // STRING is Latin-1 by definition.
                        let latin1: Vec<u8> = String::from_utf8_lossy(&data)
                            .chars()
                            .map(|c| u8::try_from(u32::from(c)).unwrap_or(b'?'))
                            .collect();
                        (AtomEnum::STRING.into(), latin1.into())
                    } else {
                        (
                            if ev.target == a.mime_text {
                                a.mime_text
                            } else {
                                a.utf8
                            },
                            data,
                        )
                    };
                self.serve(ev.requestor, property, kind, bytes)?;
                answered = property;
            }
        }
        let notify = xproto::SelectionNotifyEvent {
            response_type: xproto::SELECTION_NOTIFY_EVENT,
            sequence: 0,
            time: ev.time,
            requestor: ev.requestor,
            selection: ev.selection,
            target: ev.target,
            property: answered,
        };
        self.conn
            .send_event(false, ev.requestor, xproto::EventMask::NO_EVENT, notify)?;
        Ok(())
    }

    fn serve(
        &mut self,
        requestor: xproto::Window,
        property: Atom,
        kind: Atom,
        data: std::sync::Arc<[u8]>,
    ) -> Result<()> {
        let limit = self
            .conn
            .maximum_request_bytes()
            .saturating_sub(64)
            .min(CHUNK * 4);
        if data.len() <= limit {
            self.conn
                .change_property8(PropMode::REPLACE, requestor, property, kind, &data)?;
            return Ok(());
        }
        // INCR: announce the size, then send a chunk each time the requestor deletes the
        // property. We must see its PropertyNotify events for that.
        self.conn.change_window_attributes(
            requestor,
            &xproto::ChangeWindowAttributesAux::new()
                .event_mask(xproto::EventMask::PROPERTY_CHANGE),
        )?;
        let incr = self.clipboard.atoms.incr;
        let size = u32::try_from(data.len()).unwrap_or(u32::MAX);
        self.conn
            .change_property32(PropMode::REPLACE, requestor, property, incr, &[size])?;
        self.clipboard.outgoing.retain(|o| {
            !(o.requestor == requestor && o.property == property)
                && o.progressed.elapsed() < STALE_TRANSFER
        });
        if self.clipboard.outgoing.len() >= MAX_TRANSFERS {
            self.clipboard.outgoing.remove(0);
        }
        self.clipboard.outgoing.push(Outgoing {
            requestor,
            property,
            kind,
            data,
            offset: 0,
            progressed: Instant::now(),
        });
        Ok(())
    }

    pub(crate) fn on_property_notify(&mut self, ev: &xproto::PropertyNotifyEvent) -> Result<()> {
        if ev.state != xproto::Property::DELETE {
            return Ok(());
        }
        let Some(index) = self
            .clipboard
            .outgoing
            .iter()
            .position(|o| o.requestor == ev.window && o.property == ev.atom)
        else {
            return Ok(());
        };
        let out = &mut self.clipboard.outgoing[index];
        let end = (out.offset + CHUNK).min(out.data.len());
        let chunk = out.data[out.offset..end].to_vec();
        out.offset = end;
        out.progressed = Instant::now();
        let (requestor, property, kind) = (out.requestor, out.property, out.kind);
        // A zero-length chunk tells the requestor the transfer is complete.
        if chunk.is_empty() {
            self.clipboard.outgoing.remove(index);
        }
        self.conn
            .change_property8(PropMode::REPLACE, requestor, property, kind, &chunk)?;
        Ok(())
    }
}
