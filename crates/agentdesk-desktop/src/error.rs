//! The one error type of this crate: what a tool call on a desktop can run into.

/// Why an operation on a desktop failed. The `Display` text is written for an agent: it says
/// what happened and what to do.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DesktopError {
    /// The desktop is starting or restarting a component; calls succeed again shortly.
    #[error("the desktop is {state}; try again in a few seconds")]
    NotReady {
        /// "starting", or "restarting (the X server exited)" and the like.
        state: String,
    },
    /// A human has taken control in the live view; agent input is refused, not queued.
    #[error(
        "a human has taken control of this desktop in the live view ({secs} s ago); input is \
         refused until they hand it back. screen_shot and other read-only tools still work: \
         watch, or wait and try again"
    )]
    HumanControl {
        /// How long ago they took it.
        secs: u64,
    },
    /// The desktop was stopped.
    #[error("the desktop has been stopped")]
    Stopped,
    /// Coordinates or a region outside the screen, a bad key name, and similar agent mistakes.
    #[error("{0}")]
    BadRequest(String),
    /// The desktop does not do what was asked: an app outside app_list or the launch policy,
    /// arguments the policy does not pass, a pid it did not launch. Nothing was done.
    #[error("{0}")]
    Refused(String),
    /// The operation failed for a reason outside agentdesk: an app that would not start, a
    /// clipboard owner that does not answer.
    #[error("{0}")]
    Failed(String),
    /// Something failed inside agentdesk or the X server; logged with details.
    #[error("internal error: {0}")]
    Internal(String),
}

impl DesktopError {
    /// Whether the call was turned away before anything happened on the desktop (an agent's
    /// mistake or a refusal), as opposed to an action that was tried and failed.
    pub fn is_rejection(&self) -> bool {
        matches!(
            self,
            DesktopError::BadRequest(_)
                | DesktopError::Refused(_)
                | DesktopError::HumanControl { .. }
        )
    }
}

/// This crate's result type.
pub type Result<T, E = DesktopError> = std::result::Result<T, E>;

impl From<agentdesk_x11::Error> for DesktopError {
    fn from(e: agentdesk_x11::Error) -> Self {
        use agentdesk_x11::Error as X;
        match e {
            X::BadKey(m) | X::BadInput(m) => DesktopError::BadRequest(m),
            X::Clipboard(m) => DesktopError::Failed(m),
            X::NoWindow(id) => DesktopError::BadRequest(format!(
                "there is no window {id}: it has closed, or is not an app's window; \
                 window_list shows the windows there are now"
            )),
            X::Unresponsive(_) => DesktopError::NotReady {
                state: "restarting (its X server stopped answering)".into(),
            },
            X::Closed | X::Connection(_) => DesktopError::NotReady {
                state: "restarting (its X server went away)".into(),
            },
            other => DesktopError::Internal(other.to_string()),
        }
    }
}

impl From<agentdesk_image::Error> for DesktopError {
    fn from(e: agentdesk_image::Error) -> Self {
        use agentdesk_image::Error as I;
        match e {
            // Coordinates and regions come from the agent.
            I::OutOfScreen { .. } | I::RegionOutOfScreen { .. } | I::EmptyRegion { .. } => {
                DesktopError::BadRequest(e.to_string())
            }
            // Frames and encoders are ours.
            other => DesktopError::Internal(other.to_string()),
        }
    }
}
