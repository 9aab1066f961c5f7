//! Key names and characters to X keysyms. Pure: no connection, no keymap.
//!
//! `key_press` accepts GhostDesk's names and combos ("ctrl+shift+tab", "pageup", "f5") and also
//! X keysym names ("Page_Down", "XF86AudioMute", "KP_Enter"), so a prompt written for either
//! works. `key_type` turns each character into the keysym a real keyboard would produce.

use crate::Error;

/// An X keysym.
pub type Keysym = u32;

/// Keysyms used by name in code.
pub(crate) mod sym {
    use super::Keysym;
    pub(crate) const RETURN: Keysym = 0xff0d;
    pub(crate) const TAB: Keysym = 0xff09;
    pub(crate) const SHIFT_L: Keysym = 0xffe1;
    pub(crate) const CONTROL_L: Keysym = 0xffe3;
    pub(crate) const ALT_L: Keysym = 0xffe9;
    pub(crate) const SUPER_L: Keysym = 0xffeb;
}

/// A parsed key combination: modifiers held while the keys are tapped in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyCombo {
    /// Modifier keysyms, pressed in this order and released in reverse.
    pub modifiers: Vec<Keysym>,
    /// The other keys, pressed together after the modifiers.
    pub keys: Vec<Keysym>,
}

/// Longest combo text we parse; real combos are a few dozen bytes.
const MAX_COMBO_LEN: usize = 256;

impl KeyCombo {
    /// Parses "ctrl+shift+t", "Page_Down", "alt+Tab", "super", "ctrl+plus", "ctrl++".
    pub fn parse(text: &str) -> Result<KeyCombo, Error> {
        if let Some(c) = text.chars().find(|c| c.is_control()) {
            return Err(Error::BadKey(format!(
                "key combination contains the control character U+{:04X}; name keys instead, \
                 e.g. \"Tab\", \"Return\" or \"ctrl+shift+t\"",
                u32::from(c)
            )));
        }
        let unpadded = text.trim_end();
        if unpadded.len() != text.len() && unpadded.ends_with('+') {
            // "ctrl+ " names no key after the '+'; trimming would turn it into ctrl+plus.
            return Err(Error::BadKey(
                "no key after the last '+' (only spaces); name it, e.g. \"ctrl+space\" or \
                 \"ctrl+plus\""
                    .into(),
            ));
        }
        let text = text.trim();
        if text.len() > MAX_COMBO_LEN {
            return Err(Error::BadKey(format!(
                "key combination is {} bytes long; the limit is {MAX_COMBO_LEN}",
                text.len()
            )));
        }
        if text.is_empty() {
            return Err(Error::BadKey(
                "key_press needs a key, e.g. \"Return\" or \"ctrl+s\"".into(),
            ));
        }
        let mut tokens: Vec<&str> = text.split('+').collect();
        // "ctrl++" and "+" mean the plus key: the split leaves empty tokens at the end.
        if text.ends_with('+') {
            while tokens.last() == Some(&"") {
                tokens.pop();
            }
            tokens.push("plus");
        }
        let mut combo = KeyCombo {
            modifiers: Vec::new(),
            keys: Vec::new(),
        };
        for token in tokens {
            let token = token.trim();
            if token.is_empty() {
                return Err(Error::BadKey(format!(
                    "empty key name in {text:?}; separate keys with a single '+', e.g. \"ctrl+shift+t\""
                )));
            }
            match modifier(token) {
                Some(m) => combo.modifiers.push(m),
                None => combo.keys.push(key_name(token)?),
            }
        }
        // A lone modifier ("super", "shift") is a tap of that key.
        if combo.keys.is_empty() && combo.modifiers.len() == 1 {
            combo.keys = std::mem::take(&mut combo.modifiers);
        }
        if let Some(&k) = combo.keys.iter().find(|&&k| FORBIDDEN.contains(&k)) {
            return Err(Error::BadKey(format!(
                "keysym 0x{k:x} controls the X server itself (end it, switch terminals, break \
                 grabs), not an app; it is not sent"
            )));
        }
        Ok(combo)
    }

    /// Whether every key of the combination is a modifier (shift, ctrl, alt, super): what
    /// may stay held down between calls without the server repeating it.
    pub fn only_modifiers(&self) -> bool {
        self.modifiers
            .iter()
            .chain(&self.keys)
            .all(|k| MODIFIERS.contains(k))
    }
}

/// Keysyms the X server acts on itself rather than passing to a client: Terminate_Server
/// (kills the server where zapping is on), XF86_Switch_VT_1..12, XF86_Ungrab,
/// XF86_ClearGrab, XF86_Next_VMode, XF86_Prev_VMode, XF86LogWindowTree, XF86LogGrabInfo.
const FORBIDDEN: &[Keysym] = &[
    0xfed5,
    0x1008_fe01,
    0x1008_fe02,
    0x1008_fe03,
    0x1008_fe04,
    0x1008_fe05,
    0x1008_fe06,
    0x1008_fe07,
    0x1008_fe08,
    0x1008_fe09,
    0x1008_fe0a,
    0x1008_fe0b,
    0x1008_fe0c,
    0x1008_fe20,
    0x1008_fe21,
    0x1008_fe22,
    0x1008_fe23,
    0x1008_fe24,
    0x1008_fe25,
];

/// Shift, Control, Alt, Meta and Super, left and right, and AltGr.
const MODIFIERS: &[Keysym] = &[
    0xffe1, 0xffe2, 0xffe3, 0xffe4, 0xffe7, 0xffe8, 0xffe9, 0xffea, 0xffeb, 0xffec, 0xfe03,
];

fn modifier(token: &str) -> Option<Keysym> {
    Some(match token.to_ascii_lowercase().as_str() {
        "ctrl" | "control" | "control_l" => sym::CONTROL_L,
        "alt" | "alt_l" | "option" => sym::ALT_L,
        "shift" | "shift_l" => sym::SHIFT_L,
        "super" | "meta" | "win" | "cmd" | "command" | "super_l" | "windows" => sym::SUPER_L,
        _ => return None,
    })
}

/// GhostDesk's names (case-insensitive) and common synonyms, mapped to X keysym names.
const ALIASES: &[(&str, &str)] = &[
    ("return", "Return"),
    ("enter", "Return"),
    ("escape", "Escape"),
    ("esc", "Escape"),
    ("backspace", "BackSpace"),
    ("delete", "Delete"),
    ("del", "Delete"),
    ("tab", "Tab"),
    ("space", "space"),
    ("home", "Home"),
    ("end", "End"),
    ("pageup", "Prior"),
    ("page_up", "Prior"),
    ("pgup", "Prior"),
    ("pagedown", "Next"),
    ("page_down", "Next"),
    ("pgdn", "Next"),
    ("left", "Left"),
    ("right", "Right"),
    ("up", "Up"),
    ("down", "Down"),
    // The DOM's names, which OpenAI's computer tool uses ("ARROWDOWN").
    ("arrowleft", "Left"),
    ("arrowright", "Right"),
    ("arrowup", "Up"),
    ("arrowdown", "Down"),
    ("insert", "Insert"),
    ("ins", "Insert"),
    ("print", "Print"),
    ("printscreen", "Print"),
    ("prtsc", "Print"),
    ("capslock", "Caps_Lock"),
    ("caps_lock", "Caps_Lock"),
    ("numlock", "Num_Lock"),
    ("scrolllock", "Scroll_Lock"),
    ("pause", "Pause"),
    ("menu", "Menu"),
    ("plus", "plus"),
    ("minus", "minus"),
];

fn key_name(token: &str) -> Result<Keysym, Error> {
    // One character: the key that types it. GhostDesk lower-cases tokens, so "A" is 'a'.
    let mut chars = token.chars();
    if let (Some(c), None) = (chars.next(), chars.next()) {
        let c = if c.is_ascii_uppercase() {
            c.to_ascii_lowercase()
        } else {
            c
        };
        return char_keysym(c);
    }
    let lower = token.to_ascii_lowercase();
    if let Some((_, name)) = ALIASES.iter().find(|(alias, _)| *alias == lower) {
        return by_name(name).ok_or_else(|| Error::BadKey(format!("unknown key name {token:?}")));
    }
    // f1..f35
    if let Some(n) = lower.strip_prefix('f').and_then(|n| n.parse::<u32>().ok()) {
        if (1..=35).contains(&n) {
            return Ok(0xffbe + n - 1);
        }
    }
    // An X keysym name, exactly ("Page_Down", "XF86AudioMute", "KP_Enter", "eacute").
    if let Some(ks) = by_name(token) {
        return Ok(ks);
    }
    // ... or with its case ignored, for the common lowercase spelling of CamelCase names.
    if let Some(ks) = X_NAMES_CASELESS
        .iter()
        .find(|n| n.eq_ignore_ascii_case(token))
        .and_then(|n| by_name(n))
    {
        return Ok(ks);
    }
    Err(Error::BadKey(format!(
        "unknown key name {token:?}; use names like Return, Escape, Tab, BackSpace, Delete, \
         Home, End, Page_Up, Page_Down, Left, Right, Up, Down, F1..F12, space, a single \
         character, or any X keysym name, joined with '+' to modifiers ctrl, alt, shift, super"
    )))
}

/// Names matched case-insensitively (X keysym names are case-sensitive, agents often are not).
const X_NAMES_CASELESS: &[&str] = &[
    "BackSpace",
    "Page_Up",
    "Page_Down",
    "KP_Enter",
    "KP_Add",
    "KP_Subtract",
    "KP_Multiply",
    "KP_Divide",
    "KP_Decimal",
    "KP_0",
    "KP_1",
    "KP_2",
    "KP_3",
    "KP_4",
    "KP_5",
    "KP_6",
    "KP_7",
    "KP_8",
    "KP_9",
    "Caps_Lock",
    "Num_Lock",
    "Scroll_Lock",
    "Sys_Req",
    "XF86AudioMute",
    "XF86AudioRaiseVolume",
    "XF86AudioLowerVolume",
    "XF86AudioPlay",
    "XF86Back",
    "XF86Forward",
    "XF86Reload",
    "XF86Search",
    "XF86HomePage",
];

fn by_name(name: &str) -> Option<Keysym> {
    // The table knows Page_Up/Page_Down only by their canonical names Prior/Next.
    let name = match name {
        "Page_Up" => "Prior",
        "Page_Down" => "Next",
        other => other,
    };
    x11_keysymdef::lookup_by_name(name)
        .map(|r| r.keysym)
        .or_else(|| {
            XF86_NAMES
                .iter()
                .find(|(n, _)| *n == name)
                .map(|&(_, ks)| ks)
        })
}

/// x11-keysymdef's table is keysymdef.h only: it has none of XF86keysym.h's media and browser
/// keys, so "XF86AudioMute" was an unknown key. The common ones, from XF86keysym.h.
const XF86_NAMES: &[(&str, Keysym)] = &[
    ("XF86MonBrightnessUp", 0x1008_ff02),
    ("XF86MonBrightnessDown", 0x1008_ff03),
    ("XF86AudioLowerVolume", 0x1008_ff11),
    ("XF86AudioMute", 0x1008_ff12),
    ("XF86AudioRaiseVolume", 0x1008_ff13),
    ("XF86AudioPlay", 0x1008_ff14),
    ("XF86AudioStop", 0x1008_ff15),
    ("XF86AudioPrev", 0x1008_ff16),
    ("XF86AudioNext", 0x1008_ff17),
    ("XF86HomePage", 0x1008_ff18),
    ("XF86Mail", 0x1008_ff19),
    ("XF86Search", 0x1008_ff1b),
    ("XF86Calculator", 0x1008_ff1d),
    ("XF86Back", 0x1008_ff26),
    ("XF86Forward", 0x1008_ff27),
    ("XF86Refresh", 0x1008_ff29),
    ("XF86PowerOff", 0x1008_ff2a),
    ("XF86Eject", 0x1008_ff2c),
    ("XF86WWW", 0x1008_ff2e),
    ("XF86Sleep", 0x1008_ff2f),
    ("XF86Favorites", 0x1008_ff30),
    ("XF86AudioPause", 0x1008_ff31),
    ("XF86Copy", 0x1008_ff57),
    ("XF86Cut", 0x1008_ff58),
    ("XF86Explorer", 0x1008_ff5d),
    ("XF86Paste", 0x1008_ff6d),
    ("XF86Reload", 0x1008_ff73),
];

/// The keysym a keyboard would send to type `c`: Latin-1 keysyms are the code point; other
/// characters use X's Unicode keysyms (0x0100_0000 + code point), which every modern toolkit
/// understands. Newline and tab are the Return and Tab keys.
pub fn char_keysym(c: char) -> Result<Keysym, Error> {
    let cp = u32::from(c);
    Ok(match c {
        '\n' | '\r' => sym::RETURN,
        '\t' => sym::TAB,
        c if c.is_control() => {
            return Err(Error::BadKey(format!(
                "cannot type the control character U+{cp:04X}; use key_press for keys such as \
                 Escape or BackSpace"
            )))
        }
        _ if (0x20..=0x7e).contains(&cp) || (0xa0..=0xff).contains(&cp) => cp,
        _ => 0x0100_0000 | cp,
    })
}

/// Keysyms for `text`, in order. "\r\n" is one Return.
pub fn text_keysyms(text: &str) -> Result<Vec<Keysym>, Error> {
    let mut out = Vec::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\r' && chars.peek() == Some(&'\n') {
            continue;
        }
        out.push(char_keysym(c)?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_the_server_acts_on_are_refused() {
        for name in [
            "Terminate_Server",
            "ctrl+alt+Terminate_Server",
            "shift+Terminate_Server",
        ] {
            let e = KeyCombo::parse(name).unwrap_err().to_string();
            assert!(e.contains("X server itself"), "{name}: {e}");
        }
        assert!(FORBIDDEN.contains(&by_name("Terminate_Server").unwrap()));
        // The XF86 server keys are not in the names agentdesk knows: refused as unknown.
        for name in [
            "XF86_Switch_VT_1",
            "XF86_Ungrab",
            "XF86_ClearGrab",
            "XF86LogGrabInfo",
        ] {
            assert!(KeyCombo::parse(name).is_err(), "{name}");
        }
        assert!(KeyCombo::parse("ctrl+alt+BackSpace").is_ok());
    }

    #[test]
    fn modifiers_alone() {
        for ok in ["shift", "ctrl+alt", "super", "Shift_R", "ISO_Level3_Shift"] {
            assert!(KeyCombo::parse(ok).unwrap().only_modifiers(), "{ok}");
        }
        for not in ["a", "shift+a", "Return", "ctrl+Left"] {
            assert!(!KeyCombo::parse(not).unwrap().only_modifiers(), "{not}");
        }
    }

    fn combo(text: &str) -> (Vec<Keysym>, Vec<Keysym>) {
        let c = KeyCombo::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        (c.modifiers, c.keys)
    }

    #[test]
    fn whitespace_and_control_characters_never_become_keys() {
        for text in [
            "ctrl+\u{b}",
            "ctrl+\u{c}",
            "ctrl+\u{85}",
            "ctrl+\t",
            "shift+\n",
            "\0",
        ] {
            let err = KeyCombo::parse(text).unwrap_err().to_string();
            assert!(err.contains("control character"), "{text:?}: {err}");
        }
        let err = KeyCombo::parse("ctrl+ ").unwrap_err().to_string();
        assert!(err.contains("no key after the last '+'"), "{err}");
        // Padding around a whole combo is still fine, and "ctrl++" is still ctrl+plus.
        assert_eq!(combo(" ctrl+s "), combo("ctrl+s"));
        assert_eq!(combo("ctrl++"), combo("ctrl+plus"));
    }

    #[test]
    fn ghostdesk_combos_parse() {
        assert_eq!(
            combo("ctrl+shift+tab"),
            (vec![sym::CONTROL_L, sym::SHIFT_L], vec![sym::TAB])
        );
        assert_eq!(
            combo("ctrl+s"),
            (vec![sym::CONTROL_L], vec![u32::from('s')])
        );
        assert_eq!(combo("Return"), (vec![], vec![sym::RETURN]));
        assert_eq!(combo("enter"), (vec![], vec![sym::RETURN]));
        assert_eq!(combo("esc"), (vec![], vec![0xff1b]));
        assert_eq!(combo("pagedown"), (vec![], vec![0xff56]));
        assert_eq!(combo("f12"), (vec![], vec![0xffc9]));
        assert_eq!(combo("cmd+A"), (vec![sym::SUPER_L], vec![u32::from('a')]));
    }

    #[test]
    fn x_keysym_names_parse() {
        assert_eq!(combo("Page_Down"), (vec![], vec![0xff56]));
        assert_eq!(combo("page_up"), (vec![], vec![0xff55]));
        assert_eq!(combo("alt+Tab"), (vec![sym::ALT_L], vec![sym::TAB]));
        assert_eq!(combo("KP_Enter"), (vec![], vec![0xff8d]));
        assert_eq!(combo("XF86AudioMute"), (vec![], vec![0x1008ff12]));
        assert_eq!(combo("xf86audioraisevolume"), (vec![], vec![0x1008ff13]));
        assert_eq!(combo("eacute"), (vec![], vec![0xe9]));
    }

    #[test]
    fn lone_modifiers_and_plus_are_keys() {
        assert_eq!(combo("super"), (vec![], vec![sym::SUPER_L]));
        assert_eq!(
            combo("ctrl+plus"),
            (vec![sym::CONTROL_L], vec![u32::from('+')])
        );
        assert_eq!(
            combo("ctrl++"),
            (vec![sym::CONTROL_L], vec![u32::from('+')])
        );
        assert_eq!(combo("+"), (vec![], vec![u32::from('+')]));
    }

    #[test]
    fn bad_names_say_what_works() {
        for bad in ["", "  ", "foo", "ctrl+", "ctrl++s+", "ctrl+ +s"] {
            if bad == "ctrl+" {
                continue; // "ctrl+" is ctrl+plus by the trailing-plus rule
            }
            let err = KeyCombo::parse(bad);
            assert!(err.is_err(), "{bad:?} parsed as {err:?}");
        }
        let msg = KeyCombo::parse("foo").unwrap_err().to_string();
        assert!(
            msg.contains("unknown key name \"foo\"") && msg.contains("Page_Down"),
            "{msg}"
        );
        assert!(KeyCombo::parse(&"a+".repeat(200))
            .unwrap_err()
            .to_string()
            .contains("limit"));
    }

    #[test]
    fn characters_map_to_keysyms() {
        assert_eq!(char_keysym('a').unwrap(), 0x61);
        assert_eq!(char_keysym('é').unwrap(), 0xe9);
        assert_eq!(char_keysym('€').unwrap(), 0x0100_20ac);
        assert_eq!(char_keysym('😀').unwrap(), 0x0101_f600);
        assert_eq!(
            text_keysyms("a\r\nb\tc").unwrap(),
            vec![0x61, sym::RETURN, 0x62, sym::TAB, 0x63]
        );
        assert!(char_keysym('\u{7}')
            .unwrap_err()
            .to_string()
            .contains("U+0007"));
    }
}
