//! The crate's one error type.

/// What can go wrong reading text off the screen.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Tesseract's library or its English model could not be loaded.
    #[error(
        "text recognition is not available: {0}. Install Debian's tesseract-ocr and \
         tesseract-ocr-eng packages (scripts/setup.sh does)"
    )]
    Unavailable(String),
    /// Tesseract gave up on an image (it says no more than that).
    #[error("text recognition failed on a {width}x{height} image")]
    Failed {
        /// The image's width.
        width: u32,
        /// The image's height.
        height: u32,
    },
    /// The call's time ran out, or its caller went away.
    #[error("text recognition was stopped: it ran out of time")]
    Cancelled,
    /// The recognition threads are gone (the process is shutting down).
    #[error("text recognition has shut down")]
    Closed,
}
