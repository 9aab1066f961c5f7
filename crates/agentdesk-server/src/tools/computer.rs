//! Tool profiles: a desktop's MCP endpoint with `?tools=anthropic|openai|gemini` lists a
//! vendor's computer-use actions as MCP tools, with the vendor's names and arguments, instead
//! of GhostDesk's (`?tools=ghostdesk`, the default). Each call is read by the dialect's own
//! reader in `agentdesk-computer` (its coordinate convention included: screenshot pixels, or
//! Gemini's 0–999 grid) and run like one action of the executor endpoints.

use std::sync::Arc;
use std::time::Instant;

use agentdesk_computer::{anthropic, gemini, openai, tools, Call as Step, Outcome as Ran, Space};
use agentdesk_desktop::{Format, TurnOptions};
use rmcp::model::{CallToolResult, ContentBlock, Tool, ToolAnnotations};
use serde_json::{Map, Value};

use super::Call;
use crate::audit;

/// Which tools an MCP endpoint offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum Profile {
    /// GhostDesk's tools, then agentdesk's.
    #[default]
    GhostDesk,
    /// Anthropic's computer toolset members.
    Anthropic,
    /// OpenAI's computer tool actions.
    OpenAi,
    /// Gemini's computer_use functions.
    Gemini,
}

/// The query parameter that picks a profile.
pub(crate) const PROFILE_QUERY: &str = "tools";

impl Profile {
    /// The profile a request's query asks for.
    pub(crate) fn of_query(query: &str) -> Result<Profile, String> {
        for pair in query.split('&') {
            if let Some(value) = pair
                .strip_prefix(PROFILE_QUERY)
                .and_then(|r| r.strip_prefix('='))
            {
                return match value {
                    "ghostdesk" | "" => Ok(Profile::GhostDesk),
                    "anthropic" => Ok(Profile::Anthropic),
                    "openai" => Ok(Profile::OpenAi),
                    "gemini" => Ok(Profile::Gemini),
                    other => Err(format!(
                        "tools={} is not a profile here; use ghostdesk (the default), \
                         anthropic, openai or gemini",
                        audit::cut(other)
                    )),
                };
            }
        }
        Ok(Profile::GhostDesk)
    }

    fn tools(self) -> Vec<tools::Tool> {
        match self {
            Profile::GhostDesk => Vec::new(),
            Profile::Anthropic => tools::anthropic(),
            Profile::OpenAi => tools::openai(),
            Profile::Gemini => tools::gemini(),
        }
    }
}

/// The profile's tools, as MCP lists them.
pub(crate) fn list(profile: Profile) -> Vec<Tool> {
    profile
        .tools()
        .into_iter()
        .map(|(name, description, schema)| {
            let schema = match schema {
                Value::Object(map) => map,
                _ => Map::new(),
            };
            let capture = matches!(
                name,
                "screenshot" | "zoom" | "cursor_position" | "take_screenshot"
            );
            let annotations = if capture {
                ToolAnnotations::new().read_only(true).open_world(false)
            } else {
                ToolAnnotations::new().read_only(false).destructive(true)
            };
            Tool::new(name, description, Arc::new(schema)).with_annotations(annotations)
        })
        .collect()
}

/// Runs `name` of `profile`; `None` if the profile has no such tool.
pub(crate) async fn call(
    profile: Profile,
    name: &str,
    args: Map<String, Value>,
    call: &Call,
) -> Option<(CallToolResult, audit::Outcome)> {
    if !profile.tools().iter().any(|(n, _, _)| *n == name) {
        return None;
    }
    let screen = call.desktop.screen_size();
    let args = Value::Object(args);
    let (space, action) = match profile {
        Profile::Anthropic => {
            let space = Space::within(screen, agentdesk_computer::ANTHROPIC_LIMIT);
            (space, anthropic::read(name, Some(&args), &space))
        }
        Profile::OpenAi => {
            let space = Space::pixels(screen);
            (space, openai::read(name, &args, &space))
        }
        Profile::Gemini => {
            let space = Space::grid(screen, gemini::GRID);
            (space, gemini::read(name, Some(&args), &space))
        }
        Profile::GhostDesk => return None,
    };
    let rejected = action.is_err();
    let step = Step {
        id: String::new(),
        name: name.to_owned(),
        action,
        input: Value::Null,
    };
    let options = TurnOptions {
        space,
        format: Format::Webp,
        deadline: Instant::now() + call.timeout,
        screenshot: false,
        // The call's own limit ends it; a server that stops cancels the call itself.
        cancel: Default::default(),
    };
    let turn = call
        .desktop
        .run_turn(std::slice::from_ref(&step), options)
        .await;
    Some(match turn.outcomes.into_iter().next() {
        Some(Ran::Done(done)) => {
            let mut content = Vec::new();
            if let Some(image) = done.image {
                content.push(ContentBlock::image(image.base64, image.mime_type));
            }
            if !done.text.is_empty() {
                content.push(ContentBlock::text(done.text));
            }
            (CallToolResult::success(content), audit::Outcome::Ok)
        }
        Some(failed) => {
            let outcome = if rejected {
                audit::Outcome::Rejected
            } else {
                audit::Outcome::Error
            };
            (super::error_text(failed.text().to_owned()), outcome)
        }
        None => (
            super::error_text("nothing ran".into()),
            audit::Outcome::Error,
        ),
    })
}
