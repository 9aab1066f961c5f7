//! Who drives a desktop: its agent, or a human who took control in the live view.
//!
//! While a human holds control, agent input (pointer, keys, clipboard_set, app_launch) is
//! refused at once with an error saying so — never queued, since a queued click would land
//! after the human moved on — and read-only tools keep working. When the human hands back (or
//! has been idle for the configured time), the agent's next call is told that the screen may
//! have changed. One controller at a time; any number of viewers.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::{lock, Desktop, DesktopError, Result};

#[derive(Debug)]
struct Holder {
    viewer: String,
    since: Instant,
    last_active: Instant,
}

#[derive(Debug, Default)]
struct State {
    holder: Option<Holder>,
    /// Control came back to the agent since its last call.
    handed_back: bool,
}

/// A desktop's control state.
#[derive(Debug)]
pub(crate) struct Control {
    state: Mutex<State>,
    idle: Duration,
}

impl Control {
    pub(crate) fn new(idle: Duration) -> Control {
        Control {
            state: Mutex::new(State::default()),
            idle,
        }
    }

    /// The state, after giving control back if its holder has been idle too long.
    fn current(&self) -> std::sync::MutexGuard<'_, State> {
        let mut state = lock(&self.state);
        if let Some(holder) = &state.holder {
            if holder.last_active.elapsed() >= self.idle {
                tracing::info!(viewer = %holder.viewer, "control returned to the agent after {:?} idle", self.idle);
                state.holder = None;
                state.handed_back = true;
            }
        }
        state
    }
}

impl Desktop {
    fn control(&self) -> &Control {
        &self.inner.control
    }

    /// Gives control to `viewer`; refused while another viewer holds it.
    pub fn take_control(&self, viewer: &str) -> Result<()> {
        let mut state = self.control().current();
        match &state.holder {
            Some(holder) if holder.viewer != viewer => Err(DesktopError::Failed(format!(
                "another viewer has had control for {} s; only one may hold it",
                holder.since.elapsed().as_secs()
            ))),
            Some(_) => Ok(()),
            None => {
                let now = Instant::now();
                tracing::info!(%viewer, "a human took control");
                state.holder = Some(Holder {
                    viewer: viewer.to_string(),
                    since: now,
                    last_active: now,
                });
                Ok(())
            }
        }
    }

    /// Hands control back to the agent, if `viewer` holds it; says whether it did.
    pub fn release_control(&self, viewer: &str) -> bool {
        let mut state = self.control().current();
        if state.holder.as_ref().is_some_and(|h| h.viewer == viewer) {
            tracing::info!(%viewer, "control handed back to the agent");
            state.holder = None;
            state.handed_back = true;
            return true;
        }
        false
    }

    /// Whether `viewer` holds control (and so may send input); counts as its activity.
    pub fn human_input(&self, viewer: &str) -> bool {
        let mut state = self.control().current();
        match &mut state.holder {
            Some(holder) if holder.viewer == viewer => {
                holder.last_active = Instant::now();
                true
            }
            _ => false,
        }
    }

    /// The viewer holding control, if any.
    pub fn controller(&self) -> Option<String> {
        self.control()
            .current()
            .holder
            .as_ref()
            .map(|h| h.viewer.clone())
    }

    /// Whether control came back to the agent since its last call; clears the flag.
    pub fn take_hand_back(&self) -> bool {
        std::mem::take(&mut self.control().current().handed_back)
    }

    /// Refuses agent input while a human holds control.
    pub(crate) fn agent_may_act(&self) -> Result<()> {
        match &self.control().current().holder {
            Some(holder) => Err(DesktopError::HumanControl {
                secs: holder.since.elapsed().as_secs(),
            }),
            None => Ok(()),
        }
    }
}
