//! The computer-use dialects of the model vendors, without I/O.
//!
//! Models act best in the action set they were trained on: Anthropic's computer toolset
//! (and its older single `computer` tool), OpenAI's `computer` tool, Gemini's
//! `computer_use`. Each dialect module reads a model's calls into [`Call`]s holding one
//! [`Action`] each, in screen pixels, and shapes what the executor did back into the
//! vendor's own result blocks. Coordinates are converted in one place, [`Space`]: each
//! dialect's convention (screenshot pixels, a scaled screenshot's pixels, a 0–999 grid)
//! to the screen's pixels and back.
//!
//! What runs the actions (the desktop) and what carries them (HTTP, MCP) live elsewhere;
//! this crate is tested without either.

mod action;
pub mod anthropic;
mod error;
pub mod gemini;
mod json;
pub mod openai;
mod space;
pub mod tools;

pub use action::{Action, Button, Call, Direction, Done, Image, Outcome};
pub use error::Error;
pub use space::{Space, ANTHROPIC_LIMIT};

/// Text of a result for a call that did not run because an earlier one in the same turn
/// failed (Anthropic's wording, which its toolset requires verbatim; used for every dialect).
pub const NOT_EXECUTED: &str = "Not executed: an earlier computer action in this turn failed.";
