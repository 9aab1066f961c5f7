//! OpenAI's Responses API: `POST /responses` with the `computer` tool (or
//! `computer_use_preview`, with its declared display, for the `computer-use-preview` model).
//!
//! The API keeps the conversation: each request names the last response
//! (`previous_response_id`) and carries only what is new, the `computer_call_output` items
//! the executor made and the answers to function calls. Its `truncation: "auto"` drops the
//! oldest turns when the context fills.

use agentdesk_computer::{Image, Space};
use agentdesk_image::Size;
use serde_json::{json, Value};

use crate::{prompt, Error, Finish, Help, Model, Reply, Request, Usage, HELP_FUNCTION};

/// The model that takes the preview tool.
const PREVIEW: &str = "computer-use-preview";

#[derive(Debug, Clone)]
pub(crate) struct Conversation {
    model: String,
    pub(crate) space: Space,
    goal: String,
    previous: Option<String>,
    /// Input items of the next request.
    pending: Vec<Value>,
}

impl Conversation {
    pub(crate) fn new(model: &Model, goal: &str, screen: Size) -> Conversation {
        Conversation {
            model: model.name.clone(),
            space: Space::pixels(screen),
            goal: goal.to_owned(),
            previous: None,
            pending: Vec::new(),
        }
    }

    fn preview(&self) -> bool {
        self.model.starts_with(PREVIEW)
    }

    pub(crate) fn start(&mut self, screenshot: &Image) {
        self.pending.push(json!({
            "role": "user",
            "content": [
                {"type": "input_text", "text": prompt::goal(&self.goal)},
                {"type": "input_image", "image_url": crate::data_url(screenshot), "detail": "high"},
            ]
        }));
    }

    pub(crate) fn request(&mut self) -> Request {
        let screen = self.space.screen();
        let computer = if self.preview() {
            json!({
                "type": "computer_use_preview",
                "display_width": screen.width,
                "display_height": screen.height,
                "environment": "linux",
            })
        } else {
            json!({"type": "computer"})
        };
        let mut body = json!({
            "model": self.model,
            "instructions": prompt::system(&self.space),
            "tools": [
                computer,
                {
                    "type": "function",
                    "name": HELP_FUNCTION,
                    "description": prompt::HELP_DESCRIPTION,
                    "parameters": prompt::help_schema(),
                    "strict": false,
                }
            ],
            "input": std::mem::take(&mut self.pending),
            "truncation": "auto",
        });
        if let Some(previous) = &self.previous {
            body["previous_response_id"] = json!(previous);
        }
        Request {
            path: "/responses",
            headers: Vec::new(),
            body,
        }
    }

    pub(crate) fn read(&mut self, body: &Value) -> Result<Reply, Error> {
        let output = body
            .get("output")
            .and_then(Value::as_array)
            .ok_or_else(|| Error::Reply("the reply has no `output` list".into()))?;
        let id = body
            .get("id")
            .and_then(Value::as_str)
            .ok_or_else(|| Error::Reply("the reply has no `id`".into()))?;
        match body.get("status").and_then(Value::as_str) {
            Some("failed") => {
                let why = crate::error_message(body).unwrap_or("no reason given");
                return Err(Error::Reply(format!("the response failed: {why}")));
            }
            Some(status @ ("in_progress" | "queued" | "cancelled")) => {
                return Err(Error::Reply(format!(
                    "the response is {status}, not finished (a background response?)"
                )));
            }
            _ => {}
        }
        let text_bytes: usize = output
            .iter()
            .flat_map(|item| item["content"].as_array().into_iter().flatten())
            .filter_map(|part| part.get("text").and_then(Value::as_str))
            .map(str::len)
            .sum();
        crate::check_size(output.len(), text_bytes, "output items")?;
        self.previous = Some(id.to_owned());
        let n = |k: &str| body["usage"].get(k).and_then(Value::as_u64).unwrap_or(0);
        let mut reply = Reply {
            usage: Usage {
                input_tokens: n("input_tokens"),
                output_tokens: n("output_tokens"),
            },
            ..Reply::default()
        };
        let mut texts = Vec::new();
        let mut calls = 0;
        for item in output {
            match item.get("type").and_then(Value::as_str) {
                Some("message") => {
                    for part in item["content"].as_array().into_iter().flatten() {
                        let text = part
                            .get("text")
                            .or_else(|| part.get("refusal"))
                            .and_then(Value::as_str);
                        if let Some(text) = text {
                            texts.push(text.trim().to_owned());
                        }
                    }
                }
                Some("computer_call") => {
                    calls += 1;
                    reply.computer = true;
                    if let Some(checks) = item["pending_safety_checks"].as_array() {
                        reply.safety_checks.extend(checks.iter().cloned());
                    }
                }
                Some("function_call") => {
                    calls += 1;
                    let call_id = item.get("call_id").and_then(Value::as_str).unwrap_or("");
                    let name = item.get("name").and_then(Value::as_str).unwrap_or("");
                    if name == HELP_FUNCTION && reply.help.is_none() {
                        reply.help = Some(Help {
                            id: call_id.to_owned(),
                            question: crate::help_question(
                                item.get("arguments").unwrap_or(&Value::Null),
                            ),
                        });
                    } else {
                        self.pending.push(json!({
                            "type": "function_call_output",
                            "call_id": call_id,
                            "output": format!(
                                "error: there is no function {name:?} here (or {HELP_FUNCTION} \
                                 was called twice at once); use the computer tool and \
                                 {HELP_FUNCTION}"
                            ),
                        }));
                    }
                }
                _ => {}
            }
        }
        reply.text = texts.join("\n").trim().to_owned();
        if calls == 0 {
            let complete = body.get("status").and_then(Value::as_str) != Some("incomplete");
            reply.finish = Some(Finish {
                success: complete,
                text: if reply.text.is_empty() && !complete {
                    "The model's reply was cut off.".to_owned()
                } else {
                    reply.text.clone()
                },
            });
        }
        Ok(reply)
    }

    pub(crate) fn computer_results(&mut self, answer: Value) {
        match answer {
            Value::Array(items) => self.pending.extend(items),
            item => self.pending.push(item),
        }
    }

    pub(crate) fn help_answer(&mut self, help: &Help, text: &str) {
        self.pending.push(json!({
            "type": "function_call_output",
            "call_id": help.id,
            "output": text,
        }));
    }

    pub(crate) fn note(&mut self, text: &str) {
        self.pending.push(json!({
            "role": "user",
            "content": [{"type": "input_text", "text": text}],
        }));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Conversation as Any;

    fn conversation(model: &str) -> Any {
        Any::new(
            &Model::parse(&format!("openai:{model}")).unwrap(),
            "save a file",
            Size {
                width: 1280,
                height: 720,
            },
        )
    }

    #[test]
    fn turns_chain_by_response_id() {
        let mut c = conversation("gpt-5.5");
        c.start(&Image {
            mime_type: "image/png",
            base64: "AAAA".into(),
        });
        let first = c.request();
        assert_eq!(first.path, "/responses");
        assert_eq!(first.body["tools"][0], json!({"type": "computer"}));
        assert!(first.body.get("previous_response_id").is_none());
        assert_eq!(first.body["input"][0]["content"][1]["type"], "input_image");
        let reply = c
            .read(&json!({
                "id": "resp_1",
                "output": [
                    {"type": "reasoning", "id": "rs_1", "summary": []},
                    {"type": "message", "content": [{"type": "output_text", "text": "Saving."}]},
                    {"type": "computer_call", "call_id": "call_1", "actions": [],
                     "pending_safety_checks": [{"id": "sc1", "code": "x", "message": "m"}]},
                    {"type": "function_call", "call_id": "call_2", "name": "request_help",
                     "arguments": "{\"question\": \"Which name?\"}"},
                    {"type": "function_call", "call_id": "call_3", "name": "shell",
                     "arguments": "{}"}
                ],
                "usage": {"input_tokens": 10, "output_tokens": 2}
            }))
            .unwrap();
        assert!(reply.computer);
        assert_eq!(reply.safety_checks.len(), 1);
        assert_eq!(reply.help.as_ref().unwrap().question, "Which name?");
        assert_eq!(reply.text, "Saving.");
        c.computer_results(json!([{"type": "computer_call_output", "call_id": "call_1"}]));
        c.help_answer(reply.help.as_ref().unwrap(), "notes.txt");
        let next = c.request();
        assert_eq!(next.body["previous_response_id"], "resp_1");
        let kinds: Vec<&str> = next.body["input"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["call_id"].as_str().unwrap())
            .collect();
        assert_eq!(kinds, ["call_3", "call_1", "call_2"]);
        let done = c
            .read(&json!({"id": "resp_2", "status": "completed", "output": [
                {"type": "message", "content": [{"type": "output_text", "text": "Done."}]}]}))
            .unwrap();
        assert_eq!(done.finish.unwrap().text, "Done.");
        assert!(c
            .computer_refused("no")
            .unwrap_err()
            .to_string()
            .contains("could not be run"));
    }

    #[test]
    fn unfinished_and_failed_responses_are_errors() {
        let mut c = conversation("gpt-5.5");
        for status in ["failed", "in_progress", "queued"] {
            let e = c
                .read(&json!({"id": "r", "status": status, "output": [],
                               "error": {"message": "boom"}}))
                .unwrap_err()
                .to_string();
            assert!(
                e.contains(if status == "failed" { "boom" } else { status }),
                "{e}"
            );
        }
    }

    #[test]
    fn the_preview_model_declares_its_display() {
        let mut c = conversation("computer-use-preview");
        let r = c.request();
        assert_eq!(r.body["tools"][0]["type"], "computer_use_preview");
        assert_eq!(r.body["tools"][0]["display_width"], 1280);
        assert_eq!(r.body["truncation"], "auto");
    }
}
