//! Pointer and keyboard input through XTEST, and the keymap bookkeeping typing needs.
//!
//! Characters the keymap already has are typed with their keycode (plus Shift when needed).
//! Any other character gets a spare keycode (one with no symbols) remapped to its keysym — so
//! any Unicode text types whatever the layout. Remapping races with toolkits: GTK resolves a
//! keycode's symbol when it *processes* the event, so remapping a keycode too soon garbles
//! characters already sent. What was correct every time in our measurements: at most 9 new
//! symbols per batch, drawn alternately from two halves of the spare pool, ~5 ms after a
//! remap before typing, and ≥ 150 ms before a keycode is remapped again. (50 ms was enough on
//! an idle machine; Firefox on a loaded one, two cores busy compiling, took longer now and
//! then, and "Grüße" came out "Gr№½e": the symbols of a later batch.)

use std::collections::HashMap;
use std::time::{Duration, Instant};

use x11rb::connection::Connection;
use x11rb::protocol::xproto::{self, ConnectionExt as _};
use x11rb::protocol::xtest::ConnectionExt as _;
use x11rb::rust_connection::RustConnection;

use crate::keys::{sym, KeyCombo, Keysym};
use crate::worker::Worker;
use crate::{Error, Result};

/// A mouse button.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Button {
    /// Button 1.
    Left,
    /// Button 2.
    Middle,
    /// Button 3.
    Right,
    /// Button 8: "back" on a five-button mouse (browsers go back a page).
    Back,
    /// Button 9: "forward".
    Forward,
}

impl Button {
    fn detail(self) -> u8 {
        match self {
            Button::Left => 1,
            Button::Middle => 2,
            Button::Right => 3,
            Button::Back => 8,
            Button::Forward => 9,
        }
    }
}

/// A wheel direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScrollDirection {
    /// Wheel up (button 4).
    Up,
    /// Wheel down (button 5).
    Down,
    /// Horizontal wheel left (button 6).
    Left,
    /// Horizontal wheel right (button 7).
    Right,
}

/// What to do with the pointer. Coordinates are screen pixels, already validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PointerAction {
    /// Move without pressing.
    Move {
        /// Pixel column.
        x: u32,
        /// Pixel row.
        y: u32,
    },
    /// Move, then click `count` times.
    Click {
        /// Pixel column.
        x: u32,
        /// Pixel row.
        y: u32,
        /// Which button.
        button: Button,
        /// 1 for a click, 2 for a double click.
        count: u8,
    },
    /// Press at `from`, move through intermediate points, release at `to`.
    Drag {
        /// Start (x, y).
        from: (u32, u32),
        /// End (x, y).
        to: (u32, u32),
        /// Which button.
        button: Button,
    },
    /// Move, then turn the wheel `amount` notches.
    Scroll {
        /// Pixel column.
        x: u32,
        /// Pixel row.
        y: u32,
        /// Which way.
        direction: ScrollDirection,
        /// Notches.
        amount: u32,
    },
    /// Press `button` where the pointer is, and keep it down.
    Press {
        /// Which button.
        button: Button,
    },
    /// Release `button` where the pointer is (nothing if it is not down).
    Release {
        /// Which button.
        button: Button,
    },
}

/// The most points a dragged path may have; vendors' paths are a handful of points.
pub const MAX_PATH: usize = 64;

/// At most this many new symbols per remap batch (see the module docs).
const BATCH: usize = 9;
/// Pause after a remap before typing with it.
const AFTER_REMAP: Duration = Duration::from_millis(5);
/// Pause before a keycode that was just typed is remapped.
const BEFORE_REUSE: Duration = Duration::from_millis(150);

pub(crate) struct Keyboard {
    per_keycode: u8,
    /// The keymap as the server had it at connect time (spare keycodes excluded).
    base: HashMap<Keysym, (u8, u8)>,
    /// Keycodes with no symbols, split into two halves used alternately.
    halves: [Vec<u8>; 2],
    next_half: usize,
    /// What each spare keycode currently types.
    spare_sym: HashMap<u8, Keysym>,
    /// When each spare keycode was last pressed.
    spare_used: HashMap<u8, Instant>,
    shift: Option<u8>,
}

impl Keyboard {
    pub(crate) fn new(conn: &RustConnection) -> Result<Keyboard> {
        let setup = conn.setup();
        let (min, max) = (setup.min_keycode, setup.max_keycode);
        let map = conn.get_keyboard_mapping(min, max - min + 1)?.reply()?;
        let per = map.keysyms_per_keycode;
        let mut base = HashMap::new();
        let mut spare = Vec::new();
        for (i, syms) in map.keysyms.chunks(usize::from(per)).enumerate() {
            let keycode = min + i as u8;
            if syms.iter().all(|&s| s == 0) {
                spare.push(keycode);
                continue;
            }
            // Levels 0 and 1 only (plain and Shift); AltGr levels would need Mode_switch.
            for (level, &s) in syms.iter().take(2).enumerate() {
                if s != 0 {
                    base.entry(s).or_insert((keycode, level as u8));
                }
            }
        }
        let half = spare.len().div_ceil(2);
        let second = spare.split_off(half);
        tracing::debug!(spare = spare.len() + second.len(), "keymap read");
        let shift = base.get(&sym::SHIFT_L).map(|&(kc, _)| kc);
        Ok(Keyboard {
            per_keycode: per,
            base,
            halves: [spare, second],
            next_half: 0,
            spare_sym: HashMap::new(),
            spare_used: HashMap::new(),
            shift,
        })
    }
}

/// How to produce one keysym right now.
#[derive(Clone, Copy)]
struct Stroke {
    keycode: u8,
    shift: bool,
}

impl Worker {
    fn fake(&self, kind: u8, detail: u8, x: i16, y: i16) -> Result<()> {
        self.conn
            .xtest_fake_input(kind, detail, x11rb::CURRENT_TIME, self.root, x, y, 0)?;
        Ok(())
    }

    fn motion(&self, x: u32, y: u32) -> Result<()> {
        self.fake(xproto::MOTION_NOTIFY_EVENT, 0, x as i16, y as i16)
    }

    fn button(&self, detail: u8, press: bool) -> Result<()> {
        let kind = if press {
            xproto::BUTTON_PRESS_EVENT
        } else {
            xproto::BUTTON_RELEASE_EVENT
        };
        self.fake(kind, detail, 0, 0)
    }

    fn key(&self, keycode: u8, press: bool) -> Result<()> {
        let kind = if press {
            xproto::KEY_PRESS_EVENT
        } else {
            xproto::KEY_RELEASE_EVENT
        };
        self.fake(kind, keycode, 0, 0)
    }

    pub(crate) fn pointer(&mut self, action: PointerAction) -> Result<()> {
        match action {
            PointerAction::Move { x, y } => self.motion(x, y)?,
            PointerAction::Click {
                x,
                y,
                button,
                count,
            } => {
                self.motion(x, y)?;
                for _ in 0..count {
                    self.button(button.detail(), true)?;
                    self.button(button.detail(), false)?;
                }
            }
            PointerAction::Drag { from, to, button } => self.path(&[from, to], button)?,
            PointerAction::Scroll {
                x,
                y,
                direction,
                amount,
            } => {
                self.motion(x, y)?;
                let detail = match direction {
                    ScrollDirection::Up => 4,
                    ScrollDirection::Down => 5,
                    ScrollDirection::Left => 6,
                    ScrollDirection::Right => 7,
                };
                for _ in 0..amount {
                    self.button(detail, true)?;
                    self.button(detail, false)?;
                    // One notch at a time, so apps that coalesce wheel events still count each.
                    self.sync()?;
                }
            }
            PointerAction::Press { button } => {
                if !self.held_buttons.contains(&button) {
                    self.button(button.detail(), true)?;
                    self.held_buttons.push(button);
                }
            }
            PointerAction::Release { button } => {
                if let Some(i) = self.held_buttons.iter().position(|&b| b == button) {
                    self.held_buttons.remove(i);
                    self.button(button.detail(), false)?;
                }
            }
        }
        self.sync()
    }

    /// Presses `button` at the first point, moves through the others and releases at the last.
    pub(crate) fn path(&mut self, points: &[(u32, u32)], button: Button) -> Result<()> {
        let Some(&first) = points.first() else {
            return Ok(());
        };
        if points.len() > MAX_PATH {
            return Err(Error::BadInput(format!(
                "a drag path has at most {MAX_PATH} points (got {})",
                points.len()
            )));
        }
        // Toolkits (GTK drag-and-drop in particular) only arm a drag after seeing motion
        // *after* the press, spread over time; an atomic press-move-release is a click.
        self.motion(first.0, first.1)?;
        self.sync()?;
        self.button(button.detail(), true)?;
        self.sync()?;
        self.idle(Duration::from_millis(40))?;
        // 12 steps in all, shared out over the segments (at least one each).
        let segments = points.len().saturating_sub(1).max(1);
        let steps = (12 / segments).max(1);
        for pair in points.windows(2) {
            let (from, to) = (pair[0], pair[1]);
            for i in 1..=steps {
                let lerp = |a: u32, b: u32| {
                    (f64::from(a) + (f64::from(b) - f64::from(a)) * i as f64 / steps as f64).round()
                        as u32
                };
                self.motion(lerp(from.0, to.0), lerp(from.1, to.1))?;
                self.sync()?;
                self.idle(Duration::from_millis(12))?;
            }
        }
        self.idle(Duration::from_millis(40))?;
        self.button(button.detail(), false)
    }

    /// Where the pointer is, in screen pixels.
    pub(crate) fn cursor(&self) -> Result<(u32, u32)> {
        let reply = self.conn.query_pointer(self.root)?.reply()?;
        Ok((
            u32::try_from(reply.root_x).unwrap_or(0),
            u32::try_from(reply.root_y).unwrap_or(0),
        ))
    }

    /// Where `keysym` can be typed without remapping, if anywhere.
    fn stroke(&self, keysym: Keysym) -> Option<Stroke> {
        if let Some(&(keycode, level)) = self.keyboard.base.get(&keysym) {
            return Some(Stroke {
                keycode,
                shift: level == 1,
            });
        }
        self.keyboard
            .spare_sym
            .iter()
            .find(|(_, &s)| s == keysym)
            .map(|(&keycode, _)| Stroke {
                keycode,
                shift: false,
            })
    }

    fn tap(&mut self, stroke: Stroke) -> Result<()> {
        let Stroke { keycode, shift } = stroke;
        let shift = if shift { self.keyboard.shift } else { None };
        if let Some(s) = shift {
            self.key(s, true)?;
        }
        self.key(keycode, true)?;
        self.key(keycode, false)?;
        if let Some(s) = shift {
            self.key(s, false)?;
        }
        if self.keyboard.spare_sym.contains_key(&keycode) {
            self.keyboard.spare_used.insert(keycode, Instant::now());
        }
        Ok(())
    }

    /// Maps each of `keysyms` onto a keycode of the next spare half, pausing as the module docs
    /// say. The other half is left alone, so symbols living there stay typeable.
    fn remap(&mut self, keysyms: &[Keysym]) -> Result<()> {
        let half_index = self.keyboard.next_half;
        let half = self.keyboard.halves[half_index].clone();
        if half.is_empty() {
            return Err(Error::BadKey(format!(
                "no spare keycode is free to type U+{:04X}; paste long non-Latin text with \
                 clipboard_set and ctrl+v instead",
                keysyms[0] & 0x00ff_ffff
            )));
        }
        self.keyboard.next_half = 1 - half_index;
        // Wait until every keycode of this half has rested long enough since its last press.
        let last = half
            .iter()
            .filter_map(|kc| self.keyboard.spare_used.get(kc))
            .max()
            .copied();
        if let Some(last) = last {
            let rest = BEFORE_REUSE.saturating_sub(last.elapsed());
            if !rest.is_zero() {
                self.idle(rest)?;
            }
        }
        for (&keycode, &keysym) in half.iter().zip(keysyms) {
            let mut syms = vec![0u32; usize::from(self.keyboard.per_keycode)];
            // The same symbol with and without Shift, so a held Shift cannot change it.
            syms[0] = keysym;
            if syms.len() > 1 {
                syms[1] = keysym;
            }
            self.conn
                .change_keyboard_mapping(1, keycode, self.keyboard.per_keycode, &syms)?;
            self.keyboard.spare_sym.insert(keycode, keysym);
        }
        self.sync()?;
        self.idle(AFTER_REMAP)?;
        Ok(())
    }

    pub(crate) fn type_keysyms(&mut self, keysyms: &[Keysym]) -> Result<()> {
        let mut i = 0;
        while i < keysyms.len() {
            // Per batch: the halves differ in size when the spare count is odd, and a batch
            // sized for the larger one left its last symbol unmapped ("cannot type").
            let capacity = BATCH.min(self.keyboard.halves[self.keyboard.next_half].len().max(1));
            // Symbols of this segment that need the next half. A symbol currently living in that
            // half must be remapped too: the half is about to be overwritten.
            let next = &self.keyboard.halves[self.keyboard.next_half];
            let in_next_half = |w: &Worker, s: Keysym| {
                next.iter()
                    .any(|kc| w.keyboard.spare_sym.get(kc) == Some(&s))
            };
            let mut needed: Vec<Keysym> = Vec::new();
            let mut j = i;
            while j < keysyms.len() {
                let s = keysyms[j];
                let ready = self.stroke(s).is_some() && !in_next_half(self, s);
                if ready || needed.contains(&s) {
                    j += 1;
                } else if needed.len() < capacity {
                    needed.push(s);
                    j += 1;
                } else {
                    break;
                }
            }
            if !needed.is_empty() {
                self.remap(&needed)?;
            }
            for &s in &keysyms[i..j] {
                let stroke = self.stroke(s).ok_or_else(|| {
                    Error::BadKey(format!("cannot type U+{:04X}", s & 0x00ff_ffff))
                })?;
                self.tap(stroke)?;
            }
            self.conn.flush()?;
            i = j;
        }
        self.sync()
    }

    /// The keycodes that press `combo` (modifiers first), remapping spare keycodes for keys
    /// the layout lacks, with Shift added where a key needs it ("ctrl+!" is ctrl+shift+1 on
    /// a US layout).
    fn combo_keycodes(&mut self, combo: &KeyCombo) -> Result<Vec<(Keysym, u8)>> {
        let all: Vec<Keysym> = combo.modifiers.iter().chain(&combo.keys).copied().collect();
        let missing: Vec<Keysym> = all
            .iter()
            .copied()
            .filter(|&s| self.stroke(s).is_none())
            .collect();
        let spare = self.keyboard.halves[self.keyboard.next_half].len();
        if missing.len() > spare {
            return Err(Error::BadKey(format!(
                "{} keys of this combination are not on the keyboard layout and at most {spare} \
                 can be added at once; press fewer keys together",
                missing.len()
            )));
        }
        if !missing.is_empty() {
            self.remap(&missing)?;
        }
        let mut down = Vec::new();
        let mut needs_shift = false;
        for &s in &all {
            let Some(Stroke { keycode, shift }) = self.stroke(s) else {
                return Err(Error::BadKey(format!("no key produces keysym 0x{s:x}")));
            };
            needs_shift |= shift && combo.keys.contains(&s);
            down.push((s, keycode));
        }
        if needs_shift {
            if let Some(shift) = self.keyboard.shift {
                if !down.iter().any(|&(_, kc)| kc == shift) {
                    down.insert(0, (sym::SHIFT_L, shift));
                }
            }
        }
        let now = Instant::now();
        for (_, kc) in &down {
            if self.keyboard.spare_sym.contains_key(kc) {
                self.keyboard.spare_used.insert(*kc, now);
            }
        }
        Ok(down)
    }

    pub(crate) fn press_combo(&mut self, combo: &KeyCombo) -> Result<()> {
        let down = self.combo_keycodes(combo)?;
        for &(_, kc) in &down {
            self.key(kc, true)?;
        }
        for &(_, kc) in down.iter().rev() {
            self.key(kc, false)?;
        }
        self.sync()
    }

    /// Presses (and keeps down) or releases the keys of `combo`. Keys already down are not
    /// pressed again, and only keys this connection holds are released: a release of a key
    /// that is up sends nothing.
    pub(crate) fn hold_combo(&mut self, combo: &KeyCombo, down: bool) -> Result<()> {
        if down {
            for (keysym, kc) in self.combo_keycodes(combo)? {
                if !self.held_keys.iter().any(|&(s, _)| s == keysym) {
                    self.key(kc, true)?;
                    self.held_keys.push((keysym, kc));
                }
            }
        } else {
            let all: Vec<Keysym> = combo.modifiers.iter().chain(&combo.keys).copied().collect();
            // Shift, added for a key that needs it, goes with that key.
            for keysym in all.iter().rev().chain([&sym::SHIFT_L]) {
                if let Some(i) = self.held_keys.iter().position(|(s, _)| s == keysym) {
                    let (_, kc) = self.held_keys.remove(i);
                    self.key(kc, false)?;
                }
            }
        }
        self.sync()
    }

    /// Releases every key and button this connection holds down.
    pub(crate) fn release_all(&mut self) -> Result<()> {
        while let Some((_, kc)) = self.held_keys.pop() {
            self.key(kc, false)?;
        }
        while let Some(button) = self.held_buttons.pop() {
            self.button(button.detail(), false)?;
        }
        self.sync()
    }
}
