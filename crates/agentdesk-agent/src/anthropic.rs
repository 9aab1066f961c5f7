//! Anthropic's Messages API: `POST /v1/messages` with the computer toolset
//! (`computer_toolset_20260801`, no display size: coordinates are pixels of the screenshots
//! sent, scaled to the toolset's image limit), or the single `computer` tool for the Claude 4
//! models that predate it (`computer_20251124` or `computer_20250124`, with the display size
//! declared and the matching `anthropic-beta` header).
//!
//! The assistant's `tool_use` blocks go to the executor as they came; its `tool_result`
//! blocks, and the answers to `request_help` and to calls of tools that do not exist, make
//! the next user message (every `tool_use` must be answered there).

use agentdesk_computer::{Image, Space, ANTHROPIC_LEGACY_LIMIT, ANTHROPIC_LIMIT};
use agentdesk_image::Size;
use serde_json::{json, Value};

use crate::{
    prompt, Error, Finish, Help, Model, Reply, Request, Usage, HELP_FUNCTION, KEEP_IMAGES,
};

/// The API version every request names.
pub(crate) const VERSION: &str = "2023-06-01";
/// The longest reply asked for.
const MAX_TOKENS: u32 = 4096;
/// The toolset's name on its calls.
const TOOLSET: &str = "computer";

/// Which computer tool a model takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tool {
    Toolset,
    Computer20251124,
    Computer20250124,
}

impl Tool {
    /// The Claude 4 models take the single tool of their generation; later ones the toolset.
    fn for_model(name: &str) -> Tool {
        const NOV_2025: [&str; 4] = [
            "claude-opus-4-5",
            "claude-opus-4-6",
            "claude-opus-4-7",
            "claude-sonnet-4-6",
        ];
        if NOV_2025.iter().any(|p| name.starts_with(p)) {
            Tool::Computer20251124
        } else if name.starts_with("claude-3") || name.contains("-4-") || name.ends_with("-4") {
            Tool::Computer20250124
        } else {
            Tool::Toolset
        }
    }

    fn definition(self, image: Size) -> Value {
        match self {
            Tool::Toolset => json!({"type": "computer_toolset_20260801"}),
            Tool::Computer20251124 => json!({
                "type": "computer_20251124",
                "name": "computer",
                "display_width_px": image.width,
                "display_height_px": image.height,
                "enable_zoom": true,
            }),
            Tool::Computer20250124 => json!({
                "type": "computer_20250124",
                "name": "computer",
                "display_width_px": image.width,
                "display_height_px": image.height,
            }),
        }
    }

    fn beta(self) -> Option<&'static str> {
        match self {
            Tool::Toolset => None,
            Tool::Computer20251124 => Some("computer-use-2025-11-24"),
            Tool::Computer20250124 => Some("computer-use-2025-01-24"),
        }
    }

    fn space(self, screen: Size) -> Space {
        match self {
            Tool::Toolset => Space::within(screen, ANTHROPIC_LIMIT),
            _ => Space::within(screen, ANTHROPIC_LEGACY_LIMIT),
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Conversation {
    model: String,
    tool: Tool,
    pub(crate) space: Space,
    goal: String,
    messages: Vec<Value>,
    /// Blocks of the next user message.
    pending: Vec<Value>,
    /// The ids of the last reply's computer calls, to answer if they cannot run.
    open: Vec<(String, bool)>,
}

impl Conversation {
    pub(crate) fn new(model: &Model, goal: &str, screen: Size) -> Conversation {
        let tool = Tool::for_model(&model.name);
        Conversation {
            model: model.name.clone(),
            tool,
            space: tool.space(screen),
            goal: goal.to_owned(),
            messages: Vec::new(),
            pending: Vec::new(),
            open: Vec::new(),
        }
    }

    pub(crate) fn start(&mut self, screenshot: &Image) {
        self.pending
            .push(json!({"type": "text", "text": prompt::goal(&self.goal)}));
        self.pending.push(image(screenshot));
    }

    pub(crate) fn request(&mut self) -> Request {
        if !self.pending.is_empty() {
            let content = std::mem::take(&mut self.pending);
            self.messages
                .push(json!({"role": "user", "content": content}));
        }
        prune(&mut self.messages);
        let mut headers = vec![("anthropic-version", VERSION.to_owned())];
        if let Some(beta) = self.tool.beta() {
            headers.push(("anthropic-beta", beta.to_owned()));
        }
        Request {
            path: "/v1/messages",
            headers,
            body: json!({
                "model": self.model,
                "max_tokens": MAX_TOKENS,
                "system": prompt::system(&self.space),
                "tools": [
                    self.tool.definition(self.space.image_size()),
                    {
                        "name": HELP_FUNCTION,
                        "description": prompt::HELP_DESCRIPTION,
                        "input_schema": prompt::help_schema(),
                    }
                ],
                "messages": self.messages,
            }),
        }
    }

    pub(crate) fn read(&mut self, body: &Value) -> Result<Reply, Error> {
        let content = body
            .get("content")
            .and_then(Value::as_array)
            .ok_or_else(|| Error::Reply("the reply has no `content` list".into()))?;
        let text_bytes: usize = content
            .iter()
            .filter_map(|b| b.get("text").and_then(Value::as_str))
            .map(str::len)
            .sum();
        crate::check_size(content.len(), text_bytes, "content blocks")?;
        let mut reply = Reply {
            usage: usage(body),
            ..Reply::default()
        };
        let mut texts = Vec::new();
        self.open.clear();
        let mut uses = 0;
        for block in content {
            match block.get("type").and_then(Value::as_str) {
                Some("text") => {
                    if let Some(t) = block.get("text").and_then(Value::as_str) {
                        texts.push(t.trim().to_owned());
                    }
                }
                Some("tool_use") => {
                    uses += 1;
                    let id = block.get("id").and_then(Value::as_str).unwrap_or("");
                    let name = block.get("name").and_then(Value::as_str).unwrap_or("");
                    let toolset =
                        block.get("toolset_name").and_then(Value::as_str) == Some(TOOLSET);
                    if toolset || name == "computer" {
                        reply.computer = true;
                        self.open.push((id.to_owned(), toolset));
                    } else if name == HELP_FUNCTION && reply.help.is_none() {
                        reply.help = Some(Help {
                            id: id.to_owned(),
                            question: crate::help_question(
                                block.get("input").unwrap_or(&Value::Null),
                            ),
                        });
                    } else {
                        self.pending.push(json!({
                            "type": "tool_result",
                            "tool_use_id": id,
                            "is_error": true,
                            "content": [{"type": "text", "text": format!(
                                "there is no tool {name:?} here (or request_help was called \
                                 twice in one turn); use the computer tools and {HELP_FUNCTION}"
                            )}],
                        }));
                    }
                }
                _ => {}
            }
        }
        reply.text = texts.join("\n").trim().to_owned();
        self.messages
            .push(json!({"role": "assistant", "content": content}));
        let stop = body
            .get("stop_reason")
            .and_then(Value::as_str)
            .unwrap_or("");
        if uses == 0 {
            match stop {
                // The API paused a long turn: sending the conversation again continues it.
                "pause_turn" => {}
                "refusal" => {
                    reply.finish = Some(Finish {
                        success: false,
                        text: non_empty(&reply.text, "The model refused to go on."),
                    })
                }
                "max_tokens" => {
                    reply.finish = Some(Finish {
                        success: false,
                        text: non_empty(&reply.text, "The model's reply was cut off."),
                    })
                }
                // Only a turn the model ended itself says the task is done.
                "end_turn" => {}
                other => {
                    reply.finish = Some(Finish {
                        success: false,
                        text: format!(
                            "The model stopped ({}){}",
                            if other.is_empty() {
                                "no stop reason"
                            } else {
                                other
                            },
                            if reply.text.is_empty() {
                                String::new()
                            } else {
                                format!(": {}", reply.text)
                            }
                        ),
                    })
                }
            }
            if reply.finish.is_none() && stop == "end_turn" {
                // Ending the task without a word is not saying it is done.
                reply.finish = Some(if reply.text.is_empty() {
                    Finish {
                        success: false,
                        text: "The model stopped without saying the goal was reached.".into(),
                    }
                } else {
                    Finish {
                        success: true,
                        text: reply.text.clone(),
                    }
                });
            }
        }
        Ok(reply)
    }

    pub(crate) fn computer_results(&mut self, answer: Value) {
        if let Some(blocks) = answer.get("content").and_then(Value::as_array) {
            self.pending.extend(blocks.iter().cloned());
        }
        self.open.clear();
    }

    pub(crate) fn computer_refused(&mut self, why: &str) {
        for (id, toolset) in std::mem::take(&mut self.open) {
            let mut block = json!({
                "type": "tool_result",
                "tool_use_id": id,
                "is_error": true,
                "content": [{"type": "text", "text": why}],
            });
            if toolset {
                block["toolset_name"] = json!(TOOLSET);
            }
            self.pending.push(block);
        }
    }

    pub(crate) fn help_answer(&mut self, help: &Help, text: &str) {
        self.pending.push(json!({
            "type": "tool_result",
            "tool_use_id": help.id,
            "content": [{"type": "text", "text": text}],
        }));
    }

    pub(crate) fn note(&mut self, text: &str) {
        self.pending.push(json!({"type": "text", "text": text}));
    }
}

fn non_empty(text: &str, otherwise: &str) -> String {
    if text.is_empty() {
        otherwise.to_owned()
    } else {
        text.to_owned()
    }
}

fn image(image: &Image) -> Value {
    json!({
        "type": "image",
        "source": {"type": "base64", "media_type": image.mime_type, "data": image.base64},
    })
}

fn usage(body: &Value) -> Usage {
    let n = |k: &str| body["usage"].get(k).and_then(Value::as_u64).unwrap_or(0);
    Usage {
        input_tokens: n("input_tokens")
            .saturating_add(n("cache_creation_input_tokens"))
            .saturating_add(n("cache_read_input_tokens")),
        output_tokens: n("output_tokens"),
    }
}

/// Replaces all but the newest [`KEEP_IMAGES`] images of the user messages with a line of
/// text.
fn prune(messages: &mut [Value]) {
    let mut seen = 0;
    for message in messages.iter_mut().rev() {
        if message.get("role").and_then(Value::as_str) != Some("user") {
            continue;
        }
        let Some(blocks) = message.get_mut("content").and_then(Value::as_array_mut) else {
            continue;
        };
        for block in blocks.iter_mut().rev() {
            // An image, or a tool result's content holding images.
            if let Some(inner) = block.get_mut("content").and_then(Value::as_array_mut) {
                for b in inner.iter_mut().rev() {
                    prune_block(b, &mut seen);
                }
            } else {
                prune_block(block, &mut seen);
            }
        }
    }
}

fn prune_block(block: &mut Value, seen: &mut usize) {
    if block.get("type").and_then(Value::as_str) == Some("image") {
        *seen += 1;
        if *seen > KEEP_IMAGES {
            *block = json!({"type": "text", "text": "(an earlier screenshot, left out)"});
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Conversation as Any;

    fn shot() -> Image {
        Image {
            mime_type: "image/webp",
            base64: "AAAA".into(),
        }
    }

    fn conversation(model: &str) -> Any {
        let model = Model::parse(&format!("anthropic:{model}")).unwrap();
        Any::new(
            &model,
            "save a file",
            Size {
                width: 1920,
                height: 1080,
            },
        )
    }

    #[test]
    fn tools_by_model() {
        assert_eq!(Tool::for_model("claude-opus-4-7"), Tool::Computer20251124);
        assert_eq!(
            Tool::for_model("claude-sonnet-4-5-20250929"),
            Tool::Computer20250124
        );
        assert_eq!(Tool::for_model("claude-opus-5-5"), Tool::Toolset);
        let mut c = conversation("claude-opus-5-5");
        c.start(&shot());
        let r = c.request();
        assert_eq!(r.path, "/v1/messages");
        assert_eq!(
            r.body["tools"][0],
            json!({"type": "computer_toolset_20260801"})
        );
        assert_eq!(r.body["tools"][1]["name"], "request_help");
        assert!(r.headers.iter().all(|(k, _)| *k != "anthropic-beta"));
        // 1920x1080 fits the toolset's limit as it is; the older tool's is smaller.
        assert!(!c.space().is_scaled());
        let mut old = conversation("claude-sonnet-4-6");
        old.start(&shot());
        let r = old.request();
        let width = r.body["tools"][0]["display_width_px"].as_u64().unwrap();
        assert!(old.space().is_scaled() && width < 1568, "{width}");
        assert!(r
            .headers
            .contains(&("anthropic-beta", "computer-use-2025-11-24".into())));
    }

    #[test]
    fn a_turn_and_its_answers() {
        let mut c = conversation("claude-opus-5-5");
        c.start(&shot());
        let first = c.request();
        assert_eq!(first.body["messages"][0]["content"][1]["type"], "image");
        let reply = c
            .read(&json!({
                "content": [
                    {"type": "text", "text": "Saving."},
                    {"type": "tool_use", "id": "t1", "name": "key", "toolset_name": "computer",
                     "input": {"text": "ctrl+s"}},
                    {"type": "tool_use", "id": "t2", "name": "request_help",
                     "input": {"question": "Which name?"}},
                    {"type": "tool_use", "id": "t3", "name": "bash", "input": {}}
                ],
                "stop_reason": "tool_use",
                "usage": {"input_tokens": 100, "cache_read_input_tokens": 50, "output_tokens": 20}
            }))
            .unwrap();
        assert_eq!(reply.text, "Saving.");
        assert!(reply.computer);
        assert_eq!(reply.help.as_ref().unwrap().question, "Which name?");
        assert_eq!(reply.usage.input_tokens, 150);
        assert!(reply.finish.is_none());
        c.computer_refused("the desktop is stopping").unwrap();
        c.help_answer(reply.help.as_ref().unwrap(), "call it notes.txt");
        let next = c.request();
        let answers = next.body["messages"][2]["content"].as_array().unwrap();
        let ids: Vec<&str> = answers
            .iter()
            .map(|b| b["tool_use_id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, ["t3", "t1", "t2"], "every tool_use is answered");
        assert_eq!(answers[1]["toolset_name"], "computer");
        // The end of the task.
        let done = c
            .read(&json!({"content": [{"type": "text", "text": "Saved."}],
                           "stop_reason": "end_turn"}))
            .unwrap();
        assert_eq!(
            done.finish,
            Some(Finish {
                success: true,
                text: "Saved.".into()
            })
        );
        assert!(c.read(&json!({"type": "error"})).is_err());
    }

    #[test]
    fn hostile_replies_are_refused_or_read_safely() {
        let mut c = conversation("claude-opus-5-5");
        let many: Vec<Value> = (0..=crate::MAX_REPLY_PARTS)
            .map(|i| {
                json!({"type": "tool_use", "id": format!("t{i}"), "name": "screenshot",
                            "toolset_name": "computer", "input": {}})
            })
            .collect();
        assert!(c.read(&json!({"content": many})).is_err());
        let long = "x".repeat(crate::MAX_REPLY_TEXT + 1);
        assert!(c
            .read(&json!({"content": [{"type": "text", "text": long}]}))
            .is_err());
        let huge = c
            .read(&json!({"content": [{"type": "text", "text": "ok"}], "stop_reason": "end_turn",
                           "usage": {"input_tokens": u64::MAX, "cache_read_input_tokens": u64::MAX}}))
            .unwrap();
        assert_eq!(huge.usage.input_tokens, u64::MAX);
        // Ending without a word is not success.
        let silent = c
            .read(&json!({"content": [], "stop_reason": "end_turn"}))
            .unwrap();
        assert!(!silent.finish.unwrap().success);
    }

    #[test]
    fn old_screenshots_are_left_out() {
        let mut c = conversation("claude-opus-5-5");
        c.start(&shot());
        for i in 0..5 {
            c.request();
            c.read(
                &json!({"content": [{"type": "tool_use", "id": format!("t{i}"),
                            "name": "screenshot", "toolset_name": "computer", "input": {}}],
                            "stop_reason": "tool_use"}),
            )
            .unwrap();
            c.computer_results(json!({"role": "user", "content": [{
                "type": "tool_result", "tool_use_id": format!("t{i}"),
                "content": [{"type": "image", "source": {}}]}]}));
        }
        let body = c.request().body.to_string();
        assert_eq!(body.matches("\"type\":\"image\"").count(), KEEP_IMAGES);
        assert_eq!(
            body.matches("an earlier screenshot").count(),
            6 - KEEP_IMAGES
        );
    }
}
