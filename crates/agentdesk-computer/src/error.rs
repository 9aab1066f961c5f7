//! This crate's one error type.

/// Why a request (or one call in it) cannot be run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The request as a whole is not what the dialect's endpoint takes: nothing runs.
    #[error("{0}")]
    Body(String),
    /// One call's arguments are wrong; the message is written for the model.
    #[error("{0}")]
    Call(String),
}
