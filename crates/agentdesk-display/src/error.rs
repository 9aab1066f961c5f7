//! The one error type of this crate.

use std::path::PathBuf;
use std::time::Duration;

/// An error from starting or supervising a desktop process.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The program could not be started at all (not installed, not executable, ...).
    #[error("error spawning {program:?}: {source}{hint}")]
    Spawn {
        /// The program we tried to run.
        program: PathBuf,
        /// Why `execve` or `fork` failed.
        #[source]
        source: std::io::Error,
        /// A hint naming the fix (e.g. which package to install), possibly empty.
        hint: String,
    },
    /// The process exited before it reported that it was ready.
    #[error("{program} exited during startup ({status})\n{stderr_tail}")]
    EarlyExit {
        /// What was starting.
        program: String,
        /// How it ended.
        status: String,
        /// The last lines it wrote to stderr, for the log.
        stderr_tail: String,
    },
    /// The process did not report readiness in time.
    #[error("{program} did not become ready within {timeout:?}")]
    ReadyTimeout {
        /// What was starting.
        program: String,
        /// How long we waited.
        timeout: Duration,
    },
    /// The process reported something we could not understand as readiness.
    #[error("{program} reported {got:?} instead of {expected}")]
    BadReadiness {
        /// What was starting.
        program: String,
        /// What it wrote.
        got: String,
        /// What we expected.
        expected: &'static str,
    },
    /// Preparing files or descriptors for a child failed.
    #[error("error preparing {what}")]
    Io {
        /// What we were preparing.
        what: String,
        /// The underlying failure.
        #[source]
        source: std::io::Error,
    },
}

/// This crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn io(what: impl Into<String>, source: std::io::Error) -> Error {
        Error::Io {
            what: what.into(),
            source,
        }
    }
}
