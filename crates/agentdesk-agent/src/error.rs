//! This crate's one error type.

/// Why a model cannot be used, or its reply cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The model spec or its settings are wrong; nothing was sent.
    #[error("{0}")]
    Model(String),
    /// The provider's reply is not what its API returns.
    #[error("{0}")]
    Reply(String),
    /// Spending more would pass a cap.
    #[error("{0}")]
    Budget(String),
}
