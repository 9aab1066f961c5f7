//! An OpenAI-compatible chat endpoint serving an open model: `POST /chat/completions`.
//!
//! Qwen3-VL (and models built on it, such as Holo3) are offered the `computer_use` function
//! and answer with `tool_calls`, or with `<tool_call>` blocks in their text when the server
//! has no tool parser. UI-TARS (a model whose name says so) gets its own prompt and answers in
//! its action text. Coordinates are on a 0–1000 grid either way. After the calls run, each
//! native tool call gets a `tool` message with its outcome, and a user message brings the
//! screen (tool messages carry no images on most servers).

use agentdesk_computer::open::{self, Step};
use agentdesk_computer::{Call, Image, Outcome, Space};
use agentdesk_image::Size;
use serde_json::{json, Value};

use crate::{
    prompt, Error, Finish, Help, Model, Reply, Request, Usage, HELP_FUNCTION, KEEP_IMAGES,
};

/// The longest reply asked for.
const MAX_TOKENS: u32 = 2048;

#[derive(Debug, Clone)]
pub(crate) struct Conversation {
    model: String,
    tars: bool,
    pub(crate) space: Space,
    goal: String,
    messages: Vec<Value>,
    /// `tool` messages for the next request.
    pending_tool: Vec<Value>,
    /// Parts of the next user message.
    pending_user: Vec<Value>,
    /// The last reply's computer calls: id, name, and whether they came as native tool calls.
    last: Vec<(String, String, bool)>,
    /// The last reply's help call came as a native tool call.
    help_native: bool,
}

impl Conversation {
    pub(crate) fn new(model: &Model, goal: &str, screen: Size) -> Conversation {
        Conversation {
            model: model.name.clone(),
            tars: model.name.to_ascii_lowercase().contains("ui-tars"),
            space: Space::grid(screen, open::GRID),
            goal: goal.to_owned(),
            messages: Vec::new(),
            pending_tool: Vec::new(),
            pending_user: Vec::new(),
            last: Vec::new(),
            help_native: false,
        }
    }

    pub(crate) fn start(&mut self, screenshot: &Image) {
        let text = if self.tars {
            prompt::tars(&self.goal)
        } else {
            prompt::goal(&self.goal)
        };
        self.pending_user
            .push(json!({"type": "text", "text": text}));
        self.pending_user.push(image(screenshot));
    }

    pub(crate) fn request(&mut self) -> Request {
        self.messages.append(&mut self.pending_tool);
        if !self.pending_user.is_empty() {
            let content = std::mem::take(&mut self.pending_user);
            self.messages
                .push(json!({"role": "user", "content": content}));
        }
        prune(&mut self.messages);
        let mut messages = Vec::with_capacity(self.messages.len() + 1);
        if !self.tars {
            messages.push(json!({"role": "system", "content": prompt::system(&self.space)}));
        }
        messages.extend(self.messages.iter().cloned());
        let mut body = json!({
            "model": self.model,
            "messages": messages,
            "max_tokens": MAX_TOKENS,
            "temperature": 0,
        });
        if !self.tars {
            body["tools"] = json!([
                open::function(),
                {
                    "type": "function",
                    "function": {
                        "name": HELP_FUNCTION,
                        "description": prompt::HELP_DESCRIPTION,
                        "parameters": prompt::help_schema(),
                    }
                }
            ]);
        }
        Request {
            path: "/chat/completions",
            headers: Vec::new(),
            body,
        }
    }

    pub(crate) fn read(&mut self, body: &Value) -> Result<Reply, Error> {
        let message = body
            .pointer("/choices/0/message")
            .ok_or_else(|| Error::Reply("the reply has no `choices[0].message`".into()))?;
        let content = match message.get("content") {
            Some(Value::String(s)) => s.clone(),
            // Some servers answer with a list of parts.
            Some(Value::Array(parts)) => parts
                .iter()
                .filter_map(|p| p.get("text").and_then(Value::as_str))
                .collect::<Vec<_>>()
                .join("\n"),
            _ => String::new(),
        };
        let tool_calls = message
            .get("tool_calls")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        crate::check_size(tool_calls.len(), content.len(), "tool calls")?;
        if tool_calls.len() > open::MAX_CALLS {
            return Err(Error::Reply(format!(
                "the reply holds {} tool calls; at most {} are read",
                tool_calls.len(),
                open::MAX_CALLS
            )));
        }
        // Only a reply the model finished itself ("stop") can say the task is done.
        let finish_reason = body
            .pointer("/choices/0/finish_reason")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned();
        let cut_off = !matches!(finish_reason.as_str(), "stop" | "tool_calls");
        let n = |k: &str| body["usage"].get(k).and_then(Value::as_u64).unwrap_or(0);
        let mut reply = Reply {
            usage: Usage {
                input_tokens: n("prompt_tokens"),
                output_tokens: n("completion_tokens"),
            },
            ..Reply::default()
        };
        let mut assistant = json!({"role": "assistant", "content": content});
        if !tool_calls.is_empty() {
            assistant["tool_calls"] = Value::Array(tool_calls.clone());
        }
        self.messages.push(assistant);
        self.last.clear();
        self.help_native = false;

        // (id, name, arguments, native)
        let mut named: Vec<(String, String, Value, bool)> = tool_calls
            .iter()
            .take(open::MAX_CALLS)
            .enumerate()
            .map(|(i, tc)| {
                let id = tc
                    .get("id")
                    .and_then(Value::as_str)
                    .map_or_else(|| format!("call-{i}"), str::to_owned);
                let f = &tc["function"];
                let name = f
                    .get("name")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_owned();
                let args = f.get("arguments").cloned().unwrap_or(Value::Null);
                (id, name, args, true)
            })
            .collect();
        let mut steps = Vec::new();
        let mut unreadable = false;
        if named.is_empty() {
            named = open::tool_calls_in_text(&content)
                .into_iter()
                .enumerate()
                .map(|(i, (name, args))| (format!("call-{i}"), name, args, false))
                .collect();
            // A call the model meant but wrote wrong: it is told, and tries again.
            unreadable = named.is_empty() && content.contains("<tool_call>");
            if named.is_empty() && (self.tars || content.contains("Action:")) {
                steps = open::read_tars(&content, &self.space);
            }
        }
        for (id, name, args, native) in named {
            if name == HELP_FUNCTION && reply.help.is_none() {
                self.help_native = native;
                reply.help = Some(Help {
                    id,
                    question: crate::help_question(&args),
                });
            } else if name == open::FUNCTION {
                let step = open::read_call(&id, &args, &self.space);
                if let Step::Act(call) = &step {
                    self.last.push((call.id.clone(), call.name.clone(), native));
                }
                steps.push(step);
            } else {
                let text = format!(
                    "error: there is no function {name:?} here (or {HELP_FUNCTION} was called \
                     twice at once); use {} and {HELP_FUNCTION}",
                    open::FUNCTION
                );
                self.answer(&id, native, text);
            }
        }
        for step in steps {
            match step {
                Step::Act(call) => {
                    if !self.last.iter().any(|(id, ..)| *id == call.id) {
                        self.last.push((call.id.clone(), call.name.clone(), false));
                    }
                    reply.calls.push(call);
                }
                Step::Finish { success, text } if reply.finish.is_none() => {
                    reply.finish = Some(Finish { success, text });
                }
                Step::Finish { .. } => {}
                Step::CallUser { text } => {
                    if reply.help.is_none() {
                        reply.help = Some(Help {
                            id: "call_user".into(),
                            question: if text.is_empty() {
                                "The model asks for a person.".into()
                            } else {
                                text
                            },
                        });
                    }
                }
            }
        }
        reply.computer = !reply.calls.is_empty();
        reply.text = narration(&content);
        if let Some(finish) = &mut reply.finish {
            if finish.text.is_empty() {
                finish.text = reply.text.clone();
            }
            // The model's last word ends the task: calls beside it do not run.
            reply.calls.clear();
            reply.computer = false;
        } else if unreadable {
            self.pending_user.push(json!({
                "type": "text",
                "text": format!(
                    "error: your <tool_call> could not be read; write it as <tool_call>{{\"name\": \
                     \"{}\", \"arguments\": {{...}}}}</tool_call> with valid JSON",
                    open::FUNCTION
                ),
            }));
        } else if !reply.computer && reply.help.is_none() && self.pending_tool.is_empty() {
            // Prose and no call: the model considers the task done, unless its reply was cut
            // off or empty.
            let said = !reply.text.is_empty() && !cut_off;
            reply.finish = Some(Finish {
                success: said,
                text: if said {
                    reply.text.clone()
                } else if cut_off {
                    format!(
                        "The model's reply ended without finishing ({}).",
                        if finish_reason.is_empty() {
                            "no finish_reason"
                        } else {
                            &finish_reason
                        }
                    )
                } else {
                    "The model stopped without saying the goal was reached.".into()
                },
            });
        }
        Ok(reply)
    }

    fn answer(&mut self, id: &str, native: bool, text: String) {
        if native {
            self.pending_tool
                .push(json!({"role": "tool", "tool_call_id": id, "content": text}));
        } else {
            self.pending_user
                .push(json!({"type": "text", "text": text}));
        }
    }

    pub(crate) fn results(&mut self, outcomes: &[Outcome], screenshot: Option<&Image>) {
        let last = std::mem::take(&mut self.last);
        for ((id, name, native), outcome) in last.into_iter().zip(outcomes) {
            let call = Call {
                id: id.clone(),
                name,
                action: Ok(agentdesk_computer::Action::Screenshot),
                input: Value::Null,
            };
            self.answer(&id, native, crate::outcome_line(&call, outcome));
        }
        match screenshot {
            Some(shot) => {
                self.pending_user
                    .push(json!({"type": "text", "text": "The screen now:"}));
                self.pending_user.push(image(shot));
            }
            None => self.pending_user.push(json!({
                "type": "text",
                "text": "(No screenshot could be taken after these actions.)"
            })),
        }
    }

    pub(crate) fn computer_refused(&mut self, why: &str) {
        for (id, name, native) in std::mem::take(&mut self.last) {
            self.answer(&id, native, format!("{name}: error: {why}"));
        }
    }

    pub(crate) fn help_answer(&mut self, help: &Help, text: &str) {
        let native = std::mem::take(&mut self.help_native);
        self.answer(&help.id, native, text.to_owned());
    }

    pub(crate) fn note(&mut self, text: &str) {
        self.pending_user
            .push(json!({"type": "text", "text": text}));
    }
}

/// The model's words without its calls: `<tool_call>` blocks and UI-TARS's `Action:` lines
/// removed, its `Thought:` label dropped.
fn narration(content: &str) -> String {
    let mut text = String::new();
    let mut rest = content;
    while let Some(start) = rest.find("<tool_call>") {
        text.push_str(&rest[..start]);
        rest = match rest[start..].find("</tool_call>") {
            Some(end) => &rest[start + end + "</tool_call>".len()..],
            None => "",
        };
    }
    text.push_str(rest);
    let text = match text.find("Action:") {
        Some(i) => &text[..i],
        None => &text,
    };
    text.trim().trim_start_matches("Thought:").trim().to_owned()
}

fn image(image: &Image) -> Value {
    json!({"type": "image_url", "image_url": {"url": crate::data_url(image)}})
}

/// Replaces all but the newest [`KEEP_IMAGES`] images with a line of text.
fn prune(messages: &mut [Value]) {
    let mut seen = 0;
    for message in messages.iter_mut().rev() {
        let Some(parts) = message.get_mut("content").and_then(Value::as_array_mut) else {
            continue;
        };
        for part in parts.iter_mut().rev() {
            if part.get("type").and_then(Value::as_str) == Some("image_url") {
                seen += 1;
                if seen > KEEP_IMAGES {
                    *part = json!({"type": "text", "text": "(an earlier screenshot, left out)"});
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use agentdesk_computer::{Action, Button, Done};
    use agentdesk_image::Point;

    use super::*;
    use crate::Conversation as Any;

    fn shot() -> Image {
        Image {
            mime_type: "image/png",
            base64: "AAAA".into(),
        }
    }

    fn conversation(model: &str) -> Any {
        let mut c = Any::new(
            &Model::parse(&format!("chat:{model}")).unwrap(),
            "save a file",
            Size {
                width: 2000,
                height: 1000,
            },
        );
        c.start(&shot());
        c
    }

    #[test]
    fn qwen_tool_calls_and_their_answers() {
        let mut c = conversation("Qwen/Qwen3-VL-8B-Instruct");
        let first = c.request();
        assert_eq!(first.path, "/chat/completions");
        assert_eq!(first.body["messages"][0]["role"], "system");
        assert_eq!(first.body["tools"][0]["function"]["name"], "computer_use");
        let reply = c
            .read(&json!({"choices": [{"message": {
                "role": "assistant", "content": "Clicking File.",
                "tool_calls": [{"id": "tc1", "type": "function", "function": {
                    "name": "computer_use",
                    "arguments": "{\"action\": \"left_click\", \"coordinate\": [100, 50]}"}}]
            }}], "usage": {"prompt_tokens": 900, "completion_tokens": 30}}))
            .unwrap();
        assert!(reply.computer);
        assert_eq!(
            reply.calls[0].action,
            Ok(Action::Click {
                at: Some(Point { x: 200, y: 50 }),
                button: Button::Left,
                count: 1,
                hold: None
            })
        );
        assert_eq!(reply.text, "Clicking File.");
        assert_eq!(reply.usage.input_tokens, 900);
        c.chat_results(
            &[Outcome::Done(Done {
                text: "Clicked".into(),
                image: None,
            })],
            Some(&shot()),
        );
        let next = c.request();
        let messages = next.body["messages"].as_array().unwrap();
        let n = messages.len();
        assert_eq!(messages[n - 2]["role"], "tool");
        assert_eq!(messages[n - 2]["tool_call_id"], "tc1");
        assert_eq!(messages[n - 1]["content"][1]["type"], "image_url");
        let done = c
            .read(
                &json!({"choices": [{"message": {"content": "<tool_call>{\"name\": \
                \"computer_use\", \"arguments\": {\"action\": \"terminate\", \"status\": \
                \"success\"}}</tool_call>"}}]}),
            )
            .unwrap();
        assert!(done.finish.unwrap().success);
    }

    #[test]
    fn cut_off_replies_and_unreadable_calls() {
        let mut c = conversation("qwen");
        let cut = c
            .read(&json!({"choices": [{"message": {"content": "I will now"},
                                       "finish_reason": "length"}]}))
            .unwrap();
        assert!(!cut.finish.unwrap().success);
        let broken = c
            .read(&json!({"choices": [{"message": {"content": "<tool_call>{oops</tool_call>"}}]}))
            .unwrap();
        assert!(broken.finish.is_none() && !broken.computer);
        let next = c.request().body.to_string();
        assert!(next.contains("could not be read"), "{next}");
    }

    #[test]
    fn ui_tars_text() {
        let mut c = conversation("bytedance/UI-TARS-1.5-7B");
        let first = c.request();
        assert!(first.body.get("tools").is_none());
        assert!(first.body["messages"][0]["content"][0]["text"]
            .as_str()
            .unwrap()
            .contains("call_user"));
        let reply = c
            .read(&json!({"choices": [{"message": {"content":
                "Thought: Save with the keyboard.\nAction: hotkey(key='ctrl s')"}}]}))
            .unwrap();
        assert_eq!(reply.text, "Save with the keyboard.");
        assert_eq!(
            reply.calls[0].action,
            Ok(Action::Key {
                keys: "ctrl+s".into(),
                repeat: 1
            })
        );
        let help = c
            .read(&json!({"choices": [{"message": {"content":
                "Thought: A password.\nAction: call_user(content='the password?')"}}]}))
            .unwrap();
        assert_eq!(help.help.unwrap().question, "the password?");
        let prose = c
            .read(&json!({"choices": [{"message": {"content": "All done."},
                                       "finish_reason": "stop"}]}))
            .unwrap();
        assert_eq!(prose.finish.unwrap().text, "All done.");
        assert!(c.read(&json!({"error": "x"})).is_err());
    }
}
