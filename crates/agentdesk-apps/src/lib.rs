//! The freedesktop application catalog of an agentdesk desktop (`app_list`) and the validation
//! of `app_launch` commands against it, plus the bounded log files of launched apps.
//!
//! GhostDesk's contract: `app_list` shows every application a menu would show (name and
//! executable), and `app_launch` accepts only those executables, run as argv without a shell.
//! This crate decides what may run and what argv that is; it never starts a process itself
//! (spawning is owned by the crate that supervises children).
//!
//! - [`parse_entry`]: pure parsing of one `.desktop` file;
//! - [`Catalog`]: discovery along the XDG data directories;
//! - [`Catalog::resolve_launch`]: the `app_launch` allow-list check;
//! - [`AppPolicy`] and [`Catalog::restrict`]: the operator's own allow and deny lists;
//! - [`BoundedLog`] and [`tail_lines`]: the size-capped stdout/stderr log of a launched app.

mod catalog;
mod entry;
mod error;
mod launch;
mod log;
mod policy;

pub use catalog::{App, Catalog};
pub use entry::{parse_entry, DesktopEntry, FieldCode, Params};
pub use error::Error;
pub use launch::{LaunchPlan, MAX_COMMAND_BYTES};
pub use log::{tail_lines, BoundedLog};
pub use policy::AppPolicy;
