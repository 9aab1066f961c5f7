//! Fuzz target: the three vendors' computer-use requests (`agentdesk-computer`), as a model's
//! (or anyone's) JSON reaches the executor endpoints, on a screen whose size is fuzzed too.
//!
//! Input: two bytes for the screen's width and height (1 to 65536, as u16 + 1), then the JSON.
//!
//! Beyond "never panics": every point an accepted action holds lies on the screen, every zoom
//! region within it, and a request is either refused whole or read call by call.
#![no_main]

use agentdesk_computer::{anthropic, gemini, openai, Action, Space, ANTHROPIC_LIMIT};
use agentdesk_image::{Point, Size};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    let [w, h, rest @ ..] = input else {
        return;
    };
    let screen = Size {
        width: u32::from(*w) * 8 + 1,
        height: u32::from(*h) * 8 + 1,
    };
    let Ok(body) = serde_json::from_slice::<serde_json::Value>(rest) else {
        return;
    };
    let on_screen = |p: &Point| p.x < screen.width && p.y < screen.height;
    let check = |action: &Action| match action {
        Action::Zoom { region } => {
            assert!(region.is_within(screen) && region.width > 0 && region.height > 0)
        }
        Action::Move { to, .. } => assert!(on_screen(to)),
        Action::TypeAt { at, .. } => assert!(on_screen(at)),
        Action::Click { at, .. }
        | Action::Press { at, .. }
        | Action::Release { at, .. }
        | Action::Scroll { at, .. } => assert!(at.as_ref().is_none_or(on_screen)),
        Action::Drag { path, .. } => assert!(path.iter().all(on_screen)),
        _ => {}
    };
    let anthropic_space = Space::within(screen, ANTHROPIC_LIMIT);
    if let Ok(uses) = anthropic::parse(&body, &anthropic_space) {
        for u in &uses {
            if let Ok(action) = &u.call.action {
                check(action);
            }
            let _ = anthropic::result(u, &agentdesk_computer::Outcome::NotExecuted);
        }
    }
    if let Ok(request) = openai::parse(&body, &Space::pixels(screen)) {
        for call in &request.calls {
            let _ = call.unacknowledged();
            for a in call.actions.iter().filter_map(|c| c.action.as_ref().ok()) {
                check(a);
            }
        }
    }
    if let Ok(request) = gemini::parse(&body, &Space::grid(screen, gemini::GRID)) {
        for call in &request.calls {
            if let Ok(action) = &call.call.action {
                check(action);
            }
        }
        let outcomes = vec![agentdesk_computer::Outcome::NotExecuted; request.calls.len()];
        let _ = gemini::responses(&request, &outcomes, None);
    }
});
