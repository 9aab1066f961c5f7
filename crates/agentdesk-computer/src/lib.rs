//! The computer-use dialects of the model vendors, without I/O.
//!
//! Models act best in the action set they were trained on: Anthropic's computer toolset
//! (and its older single `computer` tool), OpenAI's `computer` tool, Gemini's
//! `computer_use`. Each dialect module reads a model's calls into [`Call`]s holding one
//! [`Action`] each, in screen pixels, and shapes what the executor did back into the
//! vendor's own result blocks. Open models served by an OpenAI-compatible chat endpoint
//! (Qwen3-VL's `computer_use` function, UI-TARS's action text) are read in [`open`].
//! Coordinates are converted in one place, [`Space`]: each dialect's convention (screenshot
//! pixels, a scaled screenshot's pixels, a grid) to the screen's pixels and back.
//!
//! What runs the actions (the desktop) and what carries them (HTTP, MCP) live elsewhere;
//! this crate is tested without either.

mod action;
pub mod anthropic;
mod error;
pub mod gemini;
mod json;
pub mod open;
pub mod openai;
mod space;
pub mod tools;

pub use action::{Action, Button, Call, Direction, Done, Image, Outcome};
pub use error::Error;
pub use space::{Limit, Space, ANTHROPIC_LEGACY_LIMIT, ANTHROPIC_LIMIT};

/// Text of a result for a call that did not run because an earlier one in the same turn
/// failed (Anthropic's wording, which its toolset requires verbatim; used for every dialect).
pub const NOT_EXECUTED: &str = "Not executed: an earlier computer action in this turn failed.";

/// A vendor's dialect: what the executor endpoints and the MCP tool profiles need to know of
/// it, in one place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// Anthropic's computer toolset (and its older single tool).
    Anthropic,
    /// OpenAI's `computer` tool.
    OpenAi,
    /// Gemini's `computer_use`.
    Gemini,
}

impl Dialect {
    /// Every dialect.
    pub const ALL: [Dialect; 3] = [Dialect::Anthropic, Dialect::OpenAi, Dialect::Gemini];

    /// Its name in URLs: "anthropic", "openai", "gemini".
    pub fn name(self) -> &'static str {
        match self {
            Dialect::Anthropic => "anthropic",
            Dialect::OpenAi => "openai",
            Dialect::Gemini => "gemini",
        }
    }

    /// The dialect named `name`, if any.
    pub fn parse(name: &str) -> Option<Dialect> {
        Dialect::ALL.into_iter().find(|d| d.name() == name)
    }

    /// How its models' coordinates map to a screen of `screen`: the screenshot's pixels
    /// (scaled to Anthropic's image limit where the screen exceeds it), or Gemini's grid.
    pub fn space(self, screen: agentdesk_image::Size) -> Space {
        match self {
            Dialect::Anthropic => Space::within(screen, ANTHROPIC_LIMIT),
            Dialect::OpenAi => Space::pixels(screen),
            Dialect::Gemini => Space::grid(screen, gemini::GRID),
        }
    }

    /// One call named `name` (a member, an action type, a function) with `args`.
    pub fn read(
        self,
        name: &str,
        args: &serde_json::Value,
        space: &Space,
    ) -> Result<Action, Error> {
        match self {
            Dialect::Anthropic => anthropic::read(name, Some(args), space),
            Dialect::OpenAi => openai::read(name, args, space),
            Dialect::Gemini => gemini::read(name, Some(args), space),
        }
    }

    /// Its calls as MCP tools.
    pub fn tools(self) -> Vec<tools::Tool> {
        match self {
            Dialect::Anthropic => tools::anthropic(),
            Dialect::OpenAi => tools::openai(),
            Dialect::Gemini => tools::gemini(),
        }
    }
}

#[cfg(test)]
mod tests {
    use agentdesk_image::Size;

    use super::*;

    #[test]
    fn dialects_by_name_and_their_spaces() {
        for d in Dialect::ALL {
            assert_eq!(Dialect::parse(d.name()), Some(d));
        }
        assert_eq!(Dialect::parse("Anthropic"), None);
        let big = Size {
            width: 3840,
            height: 2160,
        };
        assert!(Dialect::Anthropic.space(big).is_scaled());
        assert!(!Dialect::OpenAi.space(big).is_scaled());
        assert_eq!(
            Dialect::Gemini.space(big).describe(),
            "a 0-999 grid on each axis"
        );
        for d in Dialect::ALL {
            assert!(!d.tools().is_empty());
        }
    }
}
