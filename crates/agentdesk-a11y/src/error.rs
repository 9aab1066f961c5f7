//! The crate's one error type.

/// What can go wrong with the accessibility tree.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The desktop has no accessibility bus (no session bus, or it did not answer).
    #[error("the desktop's accessibility bus is not available: {0}")]
    Unavailable(String),
    /// A node id that does not name a live node.
    #[error("there is no node {0}: it is gone (the app changed its window) or the id is wrong; call ui_tree or ui_find again")]
    NoNode(String),
    /// The node does not do what was asked, and a pointer click would not either.
    #[error("{0}")]
    Unsupported(String),
    /// The time given ran out.
    #[error(
        "the accessibility tree did not answer in time; try a smaller `max_nodes`, or `window`"
    )]
    Timeout,
    /// The connection to the accessibility bus broke (its bus stopped or was restarted).
    #[error("the desktop's accessibility bus went away; try again")]
    Disconnected,
    /// A D-Bus failure.
    #[error("accessibility call failed: {0}")]
    Bus(String),
}

impl From<zbus::Error> for Error {
    fn from(e: zbus::Error) -> Self {
        match &e {
            zbus::Error::MethodError(name, _, _)
                if name.as_str().ends_with("UnknownObject")
                    || name.as_str().ends_with("UnknownMethod")
                    || name.as_str().ends_with("ServiceUnknown") =>
            {
                Error::NoNode(String::new())
            }
            zbus::Error::InputOutput(_) => Error::Disconnected,
            _ => Error::Bus(e.to_string()),
        }
    }
}
