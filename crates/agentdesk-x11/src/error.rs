//! The one error type of this crate. x11rb's four error types stop here: callers never match
//! on x11rb types.

/// An error from talking to the X server.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Could not connect to the display at all.
    #[error("error connecting to X display {display}: {source}")]
    Connect {
        /// The display we tried, e.g. ":1".
        display: String,
        /// What x11rb said.
        #[source]
        source: x11rb::errors::ConnectError,
    },
    /// The connection broke: the X server exited or crashed.
    #[error("the X connection was lost: {0}")]
    Connection(#[from] x11rb::errors::ConnectionError),
    /// The X server refused a request.
    #[error("X request {request} failed: {detail}")]
    Request {
        /// Which request.
        request: &'static str,
        /// What the server said.
        detail: String,
    },
    /// A required extension is missing from the server.
    #[error("the X server lacks the {0} extension")]
    MissingExtension(&'static str),
    /// The server's pixel layout is not the 32-bit little-endian BGRX we capture.
    #[error("unsupported X pixel format: {0}")]
    PixelFormat(String),
    /// A key name or character that cannot be sent.
    #[error("{0}")]
    BadKey(String),
    /// Input that cannot be sent as asked (a drag path too long).
    #[error("{0}")]
    BadInput(String),
    /// The clipboard could not be read.
    #[error("{0}")]
    Clipboard(String),
    /// A command went unanswered: the X server is hung (stopped, or frozen by a grab).
    #[error("the desktop's X server did not answer within {0:?}")]
    Unresponsive(std::time::Duration),
    /// No app window has this id (it closed, or never was one).
    #[error("no window {0}")]
    NoWindow(u32),
    /// The worker thread is gone (its X server stopped); the desktop is restarting or stopped.
    #[error("the desktop's X connection is closed")]
    Closed,
    /// Image layout problem while building a frame.
    #[error(transparent)]
    Image(#[from] agentdesk_image::Error),
}

/// This crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl From<x11rb::errors::ReplyError> for Error {
    fn from(e: x11rb::errors::ReplyError) -> Error {
        match e {
            x11rb::errors::ReplyError::ConnectionError(c) => Error::Connection(c),
            x11rb::errors::ReplyError::X11Error(x) => Error::Request {
                request: "(reply)",
                detail: format!(
                    "{:?} (major {}, minor {})",
                    x.error_kind, x.major_opcode, x.minor_opcode
                ),
            },
        }
    }
}

impl From<x11rb::errors::ReplyOrIdError> for Error {
    fn from(e: x11rb::errors::ReplyOrIdError) -> Error {
        match e {
            x11rb::errors::ReplyOrIdError::IdsExhausted => Error::Request {
                request: "(generate id)",
                detail: "X ids exhausted".into(),
            },
            x11rb::errors::ReplyOrIdError::ConnectionError(c) => Error::Connection(c),
            x11rb::errors::ReplyOrIdError::X11Error(x) => Error::Request {
                request: "(reply)",
                detail: format!("{:?}", x.error_kind),
            },
        }
    }
}
