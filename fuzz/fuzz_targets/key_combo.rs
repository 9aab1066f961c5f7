//! Fuzz target: `key_press` combos (`KeyCombo::parse`) and `key_type` text (`text_keysyms`),
//! both straight from an agent's tool call.
//!
//! Beyond "never panics": a combo always has something to press, its modifiers are the four
//! modifier keys, prefixing "ctrl+" adds exactly a ctrl, and the keysyms of typed text decode
//! back to the text.
#![no_main]

use agentdesk_x11::keys::{text_keysyms, Keysym};
use agentdesk_x11::KeyCombo;
use libfuzzer_sys::fuzz_target;

const CONTROL_L: Keysym = 0xffe3;
const MODIFIERS: [Keysym; 4] = [0xffe1, CONTROL_L, 0xffe9, 0xffeb];
const RETURN: Keysym = 0xff0d;
const TAB: Keysym = 0xff09;

fuzz_target!(|text: &str| {
    check_combo(text);
    check_text(text);
});

fn check_combo(text: &str) {
    let Ok(combo) = KeyCombo::parse(text) else {
        return;
    };
    // Surrounding spaces are ignored, so padding changes nothing; except after a final '+',
    // where a space would stand for a missing key and is refused (never read as ctrl+plus).
    let padded = KeyCombo::parse(&format!("  {text} ")).ok();
    if text.ends_with('+') {
        assert_eq!(padded, None, "{text:?}");
    } else {
        assert_eq!(padded, Some(combo.clone()), "{text:?}");
    }
    // Control characters never parse: they are not key names.
    assert!(!text.chars().any(char::is_control), "{text:?}");
    // Something is pressed: a key, or a chord of modifiers ("ctrl+shift").
    assert!(
        !combo.keys.is_empty() || combo.modifiers.len() >= 2,
        "{combo:?}"
    );
    assert!(
        combo.modifiers.iter().all(|m| MODIFIERS.contains(m)),
        "{combo:?}"
    );
    assert!(combo.keys.iter().all(|&k| k != 0), "{combo:?}");
    if text.contains('+') || text.trim().len() > 200 {
        return;
    }
    // One token is one key (a lone modifier is a tap of that key)...
    assert!(
        combo.modifiers.is_empty() && combo.keys.len() == 1,
        "{combo:?}"
    );
    // ... and "ctrl+" before it holds ctrl while tapping it, or chords ctrl with a modifier.
    let key = combo.keys[0];
    let with_ctrl = KeyCombo::parse(&format!("ctrl+{}", text.trim()))
        .unwrap_or_else(|e| panic!("{text:?} parsed, ctrl+ of it did not: {e}"));
    let tapped = with_ctrl.modifiers == [CONTROL_L] && with_ctrl.keys == [key];
    let chord = with_ctrl.modifiers == [CONTROL_L, key] && with_ctrl.keys.is_empty();
    assert!(tapped || chord, "{text:?}: {combo:?} vs {with_ctrl:?}");
}

fn check_text(text: &str) {
    let Ok(keysyms) = text_keysyms(text) else {
        // Only control characters other than newline and tab are refused.
        assert!(text
            .chars()
            .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t')));
        return;
    };
    // Decoding the keysyms gives the text back, with "\r\n" and a lone '\r' as one Return.
    let decoded: String = keysyms.iter().map(|&k| decode(k)).collect();
    let expected = text.replace("\r\n", "\n").replace('\r', "\n");
    assert_eq!(decoded, expected);
}

/// The character a keysym from `text_keysyms` types: Latin-1 keysyms are the code point,
/// Unicode keysyms are 0x0100_0000 plus it.
fn decode(k: Keysym) -> char {
    match k {
        RETURN => '\n',
        TAB => '\t',
        0x20..=0x7e | 0xa0..=0xff => char::from_u32(k).unwrap(),
        _ if k & 0xff00_0000 == 0x0100_0000 => {
            let c = char::from_u32(k & 0x00ff_ffff).expect("a Unicode keysym");
            // Latin-1 characters must use their Latin-1 keysym, not the Unicode one.
            assert!(u32::from(c) > 0xff, "{k:#x}");
            c
        }
        _ => panic!("unexpected keysym {k:#x}"),
    }
}
