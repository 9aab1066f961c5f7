//! The one error type of this crate: why an agent's `app_launch` command was refused.
//!
//! Every message is read by an AI agent, so each one says what was wrong and what to send
//! instead. Catalog loading never fails (unreadable files are skipped) and the log helpers
//! return plain [`std::io::Error`]s, so only launch validation produces these.

/// Why [`Catalog::resolve_launch`](crate::Catalog::resolve_launch) refused a command.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The command was empty, whitespace or only a `#` comment.
    #[error(
        "app_launch command is empty; pass the name of an application from app_list, e.g. \"xterm\""
    )]
    EmptyCommand,

    /// The command is longer than [`MAX_COMMAND_BYTES`](crate::MAX_COMMAND_BYTES).
    #[error("app_launch command is {len} bytes, over the {max}-byte limit; shorten the arguments")]
    CommandTooLong {
        /// Length of the command, in bytes.
        len: usize,
        /// The limit it exceeded.
        max: usize,
    },

    /// The command contains NUL or another control character (only tab is allowed).
    #[error(
        "app_launch command contains control character U+{code:04X} at byte {offset}; \
         remove it (newlines and other control characters are not allowed, tab is) and pass plain text"
    )]
    ControlCharacter {
        /// The offending character's code point.
        code: u32,
        /// Its byte offset in the command.
        offset: usize,
    },

    /// The command ends inside a quoted string or right after a backslash.
    #[error(
        "app_launch command has an unclosed quote or a trailing backslash; \
         balance the quotes (POSIX shell rules, no shell is run) or remove them"
    )]
    UnbalancedQuotes,

    /// The program was given as a path that climbs out of a directory with `..`.
    #[error(
        "{program:?} contains a \"..\" path component; pass the bare program name from app_list instead"
    )]
    ParentDirInPath {
        /// The program as the agent wrote it.
        program: String,
    },

    /// The program is not the executable of any application in the catalog.
    #[error("{program:?} is not an application from app_list; launch one of: {allowed}")]
    NotAnApplication {
        /// The program as the agent wrote it.
        program: String,
        /// The accepted executables, comma-separated, possibly truncated with a count.
        allowed: String,
    },

    /// The operator's launch policy withholds this application.
    #[error(
        "{program:?} is installed but the operator's launch policy does not allow it on this \
         desktop (--allow-app/--deny-app); launch another application from app_list"
    )]
    Withheld {
        /// The executable the agent asked for.
        program: String,
    },

    /// Under a launch policy, arguments the app's `Exec` field code does not accept.
    #[error(
        "{program:?} on this desktop takes {accepts}: {problem}. Under the operator's \
         launch policy, app_launch passes an app only what its .desktop Exec line accepts \
         (URLs or files as values, never options); launch it with {accepts_short}, or ask the \
         operator to allow other arguments with --allow-app-args {program}",
        accepts_short = if accepts == "no arguments" { "no arguments".to_string() } else { format!("{accepts} only") }
    )]
    Arguments {
        /// The executable the agent asked for.
        program: String,
        /// What it takes, e.g. "one URL or file", "no arguments".
        accepts: String,
        /// What was wrong with the arguments given.
        problem: String,
    },

    /// The catalog is empty, so nothing can be launched.
    #[error(
        "{program:?} is not an application from app_list, and app_list is empty: \
         no launchable applications are installed on this desktop; ask the operator to install one"
    )]
    NoApplications {
        /// The program as the agent wrote it.
        program: String,
    },
}
