//! Wire types of agentdesk's MCP tools: arguments, results and their JSON schemas. Pure.
//!
//! The names, argument names, types, defaults and result shapes are GhostDesk's, exactly, so a
//! prompt written for GhostDesk works unchanged (README.md's table of tools lists them).
//! Where agentdesk does more, it is an optional argument whose default keeps the shape.
//!
//! Integers are lenient the way GhostDesk's pydantic models are: `12`, `12.0` and `"12"` all
//! read as 12, because small models often quote numbers.

#![warn(missing_docs)]

mod args;
mod fleet;
mod grounding;
mod lenient;
mod results;
mod schema;
mod snapshots;

pub use args::*;
pub use fleet::*;
pub use grounding::*;
pub use results::*;
pub use schema::input_schema;
pub use snapshots::*;
