//! The built-in agent loop's conversations with models, without I/O.
//!
//! A task is a goal and a model. Each step sends the conversation so far to the model's
//! provider, reads the reply (the model's narration, its computer calls, a request for a
//! person, or the end of the task), has the calls run, and adds their results. This crate
//! knows each provider's wire format; the server (`agentdesk-server`) carries the requests,
//! runs the calls on a desktop through the executor (`agentdesk-computer`'s dialects), keeps
//! the ledger's file and streams the steps.
//!
//! - [`Provider::Anthropic`]: the Messages API with the computer toolset
//!   (`computer_toolset_20260801`), or the older `computer` tool for the Claude 4 models.
//! - [`Provider::OpenAi`]: the Responses API with the `computer` tool (and
//!   `computer_use_preview` for `computer-use-preview`), turns chained by
//!   `previous_response_id`.
//! - [`Provider::Chat`]: any OpenAI-compatible `/chat/completions` endpoint serving an open
//!   model (vLLM, llama.cpp): Qwen3-VL's `computer_use` function (also Holo3's), or UI-TARS's
//!   action text, on a 0–1000 grid.
//!
//! Every provider is also offered a `request_help` function: the task then waits for a
//! person's answer.

mod anthropic;
mod chat;
mod error;
mod ledger;
mod openai;
mod prices;
mod prompt;

use agentdesk_computer::{Call, Image, Outcome, Space};
use agentdesk_image::Size;
use serde_json::Value;

pub use error::Error;
pub use ledger::{Ledger, Reservation};
pub use prices::Price;

/// The name of the function every provider is offered for asking a person.
pub const HELP_FUNCTION: &str = "request_help";

/// The most content blocks, output items or tool calls one reply may hold: a model's turn
/// holds a few; a reply with thousands would only grow the conversation every later request
/// carries.
pub const MAX_REPLY_PARTS: usize = 200;

/// The most text one reply may hold, in bytes (a reply of 4096 tokens is about 16 KB).
pub const MAX_REPLY_TEXT: usize = 256 * 1024;

/// The most output tokens a step is assumed to cost when its cost is estimated in advance (the
/// replies asked for are at most 4096 tokens).
pub const MAX_OUTPUT_TOKENS: u64 = 4096;

/// How many of the latest screenshots a conversation keeps (older ones are replaced by a
/// line of text): each costs a model a thousand tokens or more per step.
pub const KEEP_IMAGES: usize = 3;

/// A model vendor's API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provider {
    /// Anthropic's Messages API.
    Anthropic,
    /// OpenAI's Responses API.
    OpenAi,
    /// An OpenAI-compatible chat completions endpoint serving an open model.
    Chat,
}

impl Provider {
    /// Every provider.
    pub const ALL: [Provider; 3] = [Provider::Anthropic, Provider::OpenAi, Provider::Chat];

    /// Its name in a model spec: "anthropic", "openai", "chat".
    pub fn name(self) -> &'static str {
        match self {
            Provider::Anthropic => "anthropic",
            Provider::OpenAi => "openai",
            Provider::Chat => "chat",
        }
    }

    /// The provider named `name` ("vllm" and "llamacpp" are names for "chat").
    pub fn parse(name: &str) -> Option<Provider> {
        match name {
            "anthropic" => Some(Provider::Anthropic),
            "openai" => Some(Provider::OpenAi),
            "chat" | "vllm" | "llamacpp" | "llama.cpp" => Some(Provider::Chat),
            _ => None,
        }
    }

    /// The environment variable the vendor's own SDK reads its key from.
    pub fn key_variable(self) -> &'static str {
        match self {
            Provider::Anthropic => "ANTHROPIC_API_KEY",
            Provider::OpenAi | Provider::Chat => "OPENAI_API_KEY",
        }
    }

    /// The environment variable the vendor's own SDK reads its base URL from.
    pub fn base_url_variable(self) -> &'static str {
        match self {
            Provider::Anthropic => "ANTHROPIC_BASE_URL",
            Provider::OpenAi | Provider::Chat => "OPENAI_BASE_URL",
        }
    }

    /// The vendor's own endpoint; a chat endpoint has none (it is the operator's server).
    pub fn default_base_url(self) -> Option<&'static str> {
        match self {
            Provider::Anthropic => Some("https://api.anthropic.com"),
            Provider::OpenAi => Some("https://api.openai.com/v1"),
            Provider::Chat => None,
        }
    }

    /// Whether a request needs a key (a local model server usually takes none).
    pub fn needs_key(self) -> bool {
        !matches!(self, Provider::Chat)
    }
}

/// A model: its provider and its name there ("anthropic:claude-opus-4-7").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Model {
    /// Whose API.
    pub provider: Provider,
    /// The model's name in that API.
    pub name: String,
}

impl Model {
    /// Reads `PROVIDER:MODEL`; the model's own name may hold colons and slashes
    /// ("chat:Qwen/Qwen3-VL-8B-Instruct").
    pub fn parse(spec: &str) -> Result<Model, Error> {
        let usage = || {
            let names: Vec<&str> = Provider::ALL.iter().map(|p| p.name()).collect();
            format!(
                "give the model as PROVIDER:MODEL, PROVIDER one of {} (e.g. \
                 anthropic:claude-opus-4-7, openai:computer-use-preview, \
                 chat:Qwen/Qwen3-VL-8B-Instruct)",
                names.join(", ")
            )
        };
        let (provider, name) = spec
            .split_once(':')
            .ok_or_else(|| Error::Model(format!("{spec:?}: {}", usage())))?;
        let provider = Provider::parse(provider.trim())
            .ok_or_else(|| Error::Model(format!("{provider:?} is not a provider; {}", usage())))?;
        let name = name.trim();
        if name.is_empty() || name.len() > 200 || name.chars().any(char::is_control) {
            return Err(Error::Model(format!(
                "the model's name must be 1 to 200 printable characters; {}",
                usage()
            )));
        }
        Ok(Model {
            provider,
            name: name.to_owned(),
        })
    }

    /// `provider:name`.
    pub fn spec(&self) -> String {
        format!("{}:{}", self.provider.name(), self.name)
    }
}

/// Tokens a reply cost.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// Tokens read (the prompt, cached or not).
    pub input_tokens: u64,
    /// Tokens written.
    pub output_tokens: u64,
}

/// The model asked for a person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Help {
    /// The call's id, which the answer names.
    pub id: String,
    /// What it asked.
    pub question: String,
}

/// The model ended the task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finish {
    /// It says it did what was asked.
    pub success: bool,
    /// Its last words: a summary, an answer, or why it gave up.
    pub text: String,
}

/// What one reply of the model asks for.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Reply {
    /// The model's narration (its text beside the calls).
    pub text: String,
    /// What it cost.
    pub usage: Usage,
    /// There are computer calls to run: the reply's body goes to the executor
    /// (Anthropic, OpenAI), or [`Reply::calls`] hold them (chat).
    pub computer: bool,
    /// A chat model's calls, read.
    pub calls: Vec<Call>,
    /// OpenAI's safety checks on the calls, each `{id, code, message}`: a person must
    /// acknowledge them before anything runs.
    pub safety_checks: Vec<Value>,
    /// The model asked for a person.
    pub help: Option<Help>,
    /// The model ended the task.
    pub finish: Option<Finish>,
}

/// An HTTP request to a provider: the path under its base URL, the headers other than its
/// key's, and the JSON body.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    /// "/v1/messages", "/responses", "/chat/completions".
    pub path: &'static str,
    /// e.g. `anthropic-version`.
    pub headers: Vec<(&'static str, String)>,
    /// The body.
    pub body: Value,
}

/// The header carrying a provider's key: `(name, value)`.
pub fn key_header(provider: Provider, key: &str) -> (&'static str, String) {
    match provider {
        Provider::Anthropic => ("x-api-key", key.to_owned()),
        Provider::OpenAi | Provider::Chat => ("authorization", format!("Bearer {key}")),
    }
}

/// The provider's own message in an error answer (`{"error": {"message": ...}}` for all
/// three), if it has one.
pub fn error_message(body: &Value) -> Option<&str> {
    match body.get("error") {
        Some(Value::String(s)) => Some(s),
        Some(e) => e.get("message").and_then(Value::as_str),
        None => body.get("message").and_then(Value::as_str),
    }
}

/// One task's conversation with its model.
#[derive(Debug, Clone)]
pub struct Conversation {
    inner: Inner,
}

#[derive(Debug, Clone)]
enum Inner {
    Anthropic(anthropic::Conversation),
    OpenAi(openai::Conversation),
    Chat(chat::Conversation),
}

impl Conversation {
    /// A conversation with `model` about `goal` on a screen of `screen`.
    pub fn new(model: &Model, goal: &str, screen: Size) -> Conversation {
        let inner = match model.provider {
            Provider::Anthropic => {
                Inner::Anthropic(anthropic::Conversation::new(model, goal, screen))
            }
            Provider::OpenAi => Inner::OpenAi(openai::Conversation::new(model, goal, screen)),
            Provider::Chat => Inner::Chat(chat::Conversation::new(model, goal, screen)),
        };
        Conversation { inner }
    }

    /// How this model's coordinates map to the screen, and the screenshots' size.
    pub fn space(&self) -> Space {
        match &self.inner {
            Inner::Anthropic(c) => c.space,
            Inner::OpenAi(c) => c.space,
            Inner::Chat(c) => c.space,
        }
    }

    /// The first message: the goal and the screen as it is.
    pub fn start(&mut self, screenshot: &Image) {
        match &mut self.inner {
            Inner::Anthropic(c) => c.start(screenshot),
            Inner::OpenAi(c) => c.start(screenshot),
            Inner::Chat(c) => c.start(screenshot),
        }
    }

    /// The next request: everything the model has not seen yet.
    pub fn request(&mut self) -> Request {
        match &mut self.inner {
            Inner::Anthropic(c) => c.request(),
            Inner::OpenAi(c) => c.request(),
            Inner::Chat(c) => c.request(),
        }
    }

    /// Reads the model's reply and keeps it in the conversation.
    pub fn read(&mut self, body: &Value) -> Result<Reply, Error> {
        match &mut self.inner {
            Inner::Anthropic(c) => c.read(body),
            Inner::OpenAi(c) => c.read(body),
            Inner::Chat(c) => c.read(body),
        }
    }

    /// The executor's answer to the reply's computer calls (Anthropic: the user message of
    /// `tool_result` blocks; OpenAI: the `computer_call_output` items).
    pub fn computer_results(&mut self, answer: Value) {
        match &mut self.inner {
            Inner::Anthropic(c) => c.computer_results(answer),
            Inner::OpenAi(c) => c.computer_results(answer),
            Inner::Chat(_) => {}
        }
    }

    /// The reply's computer calls could not be run at all (`why`, for the model). Fails if
    /// the provider's API has no way to say so (OpenAI's output is a screenshot).
    pub fn computer_refused(&mut self, why: &str) -> Result<(), Error> {
        match &mut self.inner {
            Inner::Anthropic(c) => {
                c.computer_refused(why);
                Ok(())
            }
            Inner::OpenAi(_) => Err(Error::Reply(format!(
                "the model's computer_call could not be run: {why}"
            ))),
            Inner::Chat(c) => {
                c.computer_refused(why);
                Ok(())
            }
        }
    }

    /// A chat model's calls ran: their outcomes, in order, and the screen after them.
    pub fn chat_results(&mut self, outcomes: &[Outcome], screenshot: Option<&Image>) {
        if let Inner::Chat(c) = &mut self.inner {
            c.results(outcomes, screenshot);
        }
    }

    /// A person answered the model's request for help.
    pub fn help_answer(&mut self, help: &Help, answer: &str) {
        let text = if answer.trim().is_empty() {
            "A person handled it and said nothing. Take a screenshot: the screen may have \
             changed."
                .to_owned()
        } else {
            format!(
                "A person answered: {answer}\nTake a screenshot before acting: the screen may \
                 have changed."
            )
        };
        match &mut self.inner {
            Inner::Anthropic(c) => c.help_answer(help, &text),
            Inner::OpenAi(c) => c.help_answer(help, &text),
            Inner::Chat(c) => c.help_answer(help, &text),
        }
    }

    /// A person took the desktop over meanwhile and handed it back: the model is told to look
    /// again before it acts.
    pub fn note(&mut self, text: &str) {
        match &mut self.inner {
            Inner::Anthropic(c) => c.note(text),
            Inner::OpenAi(c) => c.note(text),
            Inner::Chat(c) => c.note(text),
        }
    }
}

/// Refuses a reply of more than [`MAX_REPLY_PARTS`] parts or [`MAX_REPLY_TEXT`] bytes of text.
pub(crate) fn check_size(parts: usize, text_bytes: usize, what: &str) -> Result<(), Error> {
    if parts > MAX_REPLY_PARTS {
        return Err(Error::Reply(format!(
            "the reply holds {parts} {what}; at most {MAX_REPLY_PARTS} are read"
        )));
    }
    if text_bytes > MAX_REPLY_TEXT {
        return Err(Error::Reply(format!(
            "the reply holds {text_bytes} bytes of text; at most {MAX_REPLY_TEXT} are read"
        )));
    }
    Ok(())
}

/// `data:` URL of an image.
pub(crate) fn data_url(image: &Image) -> String {
    format!("data:{};base64,{}", image.mime_type, image.base64)
}

/// Reads a help call's arguments (an object or its JSON text): its question.
pub(crate) fn help_question(arguments: &Value) -> String {
    let parsed;
    let args = match arguments {
        Value::String(s) => {
            parsed = serde_json::from_str::<Value>(s).unwrap_or(Value::Null);
            &parsed
        }
        other => other,
    };
    let question = args
        .get("question")
        .or_else(|| args.get("message"))
        .and_then(Value::as_str)
        .unwrap_or("")
        .trim();
    if question.is_empty() {
        "The model asked for a person without saying why.".to_owned()
    } else {
        question.to_owned()
    }
}

/// Text for the model of calls that did not run.
pub(crate) fn outcome_line(call: &Call, outcome: &Outcome) -> String {
    let name = if call.name.is_empty() {
        "action"
    } else {
        &call.name
    };
    if outcome.is_error() {
        format!("{name}: error: {}", outcome.text())
    } else if outcome.text().is_empty() {
        format!("{name}: done")
    } else {
        format!("{name}: {}", outcome.text())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_specs() {
        let m = Model::parse("anthropic:claude-opus-4-7").unwrap();
        assert_eq!(m.provider, Provider::Anthropic);
        assert_eq!(m.name, "claude-opus-4-7");
        let m = Model::parse("vllm:Qwen/Qwen3-VL-8B-Instruct:q4").unwrap();
        assert_eq!(m.provider, Provider::Chat);
        assert_eq!(m.name, "Qwen/Qwen3-VL-8B-Instruct:q4");
        assert_eq!(m.spec(), "chat:Qwen/Qwen3-VL-8B-Instruct:q4");
        for bad in ["claude", "google:gemini", "openai:", "openai:a\nb"] {
            let e = Model::parse(bad).unwrap_err().to_string();
            assert!(e.contains("PROVIDER:MODEL"), "{e}");
        }
    }

    #[test]
    fn keys_go_in_the_vendors_headers() {
        assert_eq!(key_header(Provider::Anthropic, "k").0, "x-api-key");
        assert_eq!(
            key_header(Provider::Chat, "k"),
            ("authorization", "Bearer k".to_owned())
        );
        assert_eq!(
            error_message(&serde_json::json!({"error": {"message": "bad key"}})),
            Some("bad key")
        );
    }
}
