//! Fuzz target: a model provider's replies as the agent loop reads them (`agentdesk-agent`),
//! whatever a provider (or whoever answers at its address) sends: Anthropic's Messages,
//! OpenAI's Responses, an OpenAI-compatible chat completion, with open models' `<tool_call>`
//! and UI-TARS text inside.
//!
//! Input: one byte picks the provider, two bytes the screen's size, then the reply's JSON.
//!
//! Beyond "never panics": every point a chat model's call holds lies on the screen, and the
//! conversation goes on (results, the next request) after any reply it accepted or refused.
#![no_main]

use agentdesk_agent::{Conversation, Model};
use agentdesk_computer::{Action, Image, Outcome};
use agentdesk_image::Size;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    let [p, w, h, rest @ ..] = input else {
        return;
    };
    let screen = Size {
        width: u32::from(*w) * 8 + 1,
        height: u32::from(*h) * 8 + 1,
    };
    let spec = match p % 4 {
        0 => "anthropic:claude-opus-5",
        1 => "openai:gpt-test",
        2 => "chat:Qwen/Qwen3-VL",
        _ => "chat:UI-TARS-1.5",
    };
    let Ok(body) = serde_json::from_slice::<serde_json::Value>(rest) else {
        // Text a chat model wrote, as it is.
        if let Ok(text) = std::str::from_utf8(rest) {
            let space = agentdesk_computer::Space::grid(screen, 1000);
            let _ = agentdesk_computer::open::tool_calls_in_text(text);
            let _ = agentdesk_computer::open::read_tars(text, &space);
        }
        return;
    };
    let model = Model::parse(spec).expect("a valid spec");
    let mut conversation = Conversation::new(&model, "fuzz", screen);
    let shot = Image {
        mime_type: "image/png",
        base64: "AAAA".into(),
    };
    conversation.start(&shot);
    let _ = conversation.request();
    let on_screen = |p: &agentdesk_image::Point| p.x < screen.width && p.y < screen.height;
    match conversation.read(&body) {
        Ok(reply) => {
            for call in &reply.calls {
                match &call.action {
                    Ok(Action::Click { at, .. } | Action::Scroll { at, .. }) => {
                        assert!(at.as_ref().is_none_or(on_screen))
                    }
                    Ok(Action::Move { to, .. }) => assert!(on_screen(to)),
                    Ok(Action::Drag { path, .. }) => assert!(path.iter().all(on_screen)),
                    _ => {}
                }
            }
            let outcomes = vec![Outcome::NotExecuted; reply.calls.len()];
            conversation.chat_results(&outcomes, Some(&shot));
            conversation.computer_results(serde_json::json!({"content": []}));
            if let Some(help) = &reply.help {
                conversation.help_answer(help, "an answer");
            }
            let _ = conversation.computer_refused("refused");
        }
        Err(e) => assert!(!e.to_string().is_empty()),
    }
    let _ = conversation.request();
});
