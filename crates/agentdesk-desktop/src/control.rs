//! Who drives a desktop: its agent, or a human who took control in the live view.
//!
//! While a human holds control, agent input (pointer, keys, clipboard_set, app_launch) is
//! refused at once with an error saying so — never queued, since a queued click would land
//! after the human moved on — and read-only tools keep working. When the human hands back (or
//! has been idle for the configured time), the agent's next call is told that the screen may
//! have changed. One controller at a time; any number of viewers.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::{lock, Desktop, DesktopError, Result};

/// A viewer of the live view: the id its page made up (kept private to that page) and the
/// name of the token it came with. Control belongs to both: another caller who learned the id
/// still cannot act as the holder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Viewer {
    /// The page's own id.
    pub id: String,
    /// The token name the gate identified (`anonymous` on an open loopback listener).
    pub principal: String,
}

/// Who drives, as one viewer sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ControlView {
    /// The agent.
    Agent,
    /// This viewer.
    You {
        /// Seconds since it took control.
        secs: u64,
    },
    /// Another viewer, who came with this token name.
    Other {
        /// Its token name.
        principal: String,
        /// Seconds since it took control.
        secs: u64,
    },
}

#[derive(Debug)]
struct Holder {
    viewer: Viewer,
    since: Instant,
    last_active: Instant,
}

#[derive(Debug, Default)]
struct State {
    holder: Option<Holder>,
    /// Control came back to the agent since its last call.
    handed_back: bool,
    /// Open live-view connections per viewer id: control goes back when the holder's last one
    /// closes (a page that reconnected keeps it while its old connection times out).
    connections: HashMap<String, usize>,
}

impl State {
    fn release(&mut self, why: &str) {
        if let Some(holder) = self.holder.take() {
            tracing::info!(viewer = %holder.viewer.id, token = %holder.viewer.principal, "control handed back to the agent ({why})");
            self.handed_back = true;
        }
    }

    fn holds(&self, viewer: &Viewer) -> bool {
        self.holder.as_ref().is_some_and(|h| h.viewer == *viewer)
    }
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
        if state
            .holder
            .as_ref()
            .is_some_and(|h| h.last_active.elapsed() >= self.idle)
        {
            state.release(&format!("{:?} without input", self.idle));
        }
        state
    }
}

impl Desktop {
    fn control(&self) -> &Control {
        &self.inner.control
    }

    /// How many live-view connections are open.
    pub fn viewers(&self) -> usize {
        lock(&self.control().state).connections.values().sum()
    }

    /// Gives control to `viewer`; refused while another viewer holds it.
    pub fn take_control(&self, viewer: &Viewer) -> Result<()> {
        let mut state = self.control().current();
        match &state.holder {
            Some(holder) if holder.viewer != *viewer => Err(DesktopError::Failed(format!(
                "another viewer has had control for {} s; only one may hold it",
                holder.since.elapsed().as_secs()
            ))),
            Some(_) => Ok(()),
            None => {
                let now = Instant::now();
                tracing::info!(viewer = %viewer.id, token = %viewer.principal, "a human took control");
                state.holder = Some(Holder {
                    viewer: viewer.clone(),
                    since: now,
                    last_active: now,
                });
                drop(state);
                self.release_held_input();
                Ok(())
            }
        }
    }

    /// Lets go of every key and button an agent left held down (a key_down, a
    /// left_mouse_down), so that a human taking over does not inherit them.
    fn release_held_input(&self) {
        let (Ok(session), Ok(runtime)) = (self.session(), tokio::runtime::Handle::try_current())
        else {
            return;
        };
        runtime.spawn(async move {
            if let Err(e) = session.x.release_all().await {
                tracing::debug!(error = %e, "releasing held input failed");
            }
        });
    }

    /// Hands control back to the agent, if `viewer` holds it; says whether it did.
    pub fn release_control(&self, viewer: &Viewer) -> bool {
        let mut state = self.control().current();
        let holds = state.holds(viewer);
        if holds {
            state.release("handed back");
        }
        holds
    }

    /// A live-view connection of `viewer` opened.
    pub fn viewer_connected(&self, viewer: &Viewer) {
        *self
            .control()
            .current()
            .connections
            .entry(viewer.id.clone())
            .or_default() += 1;
    }

    /// A live-view connection of `viewer` closed; if it was the holder's last, control goes
    /// back to the agent (a human who closed the page has let go). Says whether it did.
    pub fn viewer_disconnected(&self, viewer: &Viewer) -> bool {
        let mut state = self.control().current();
        let left = match state.connections.get_mut(&viewer.id) {
            Some(n) if *n > 1 => {
                *n -= 1;
                false
            }
            _ => {
                state.connections.remove(&viewer.id);
                true
            }
        };
        let release = left && state.holds(viewer);
        if release {
            state.release("the holder's page closed");
        }
        release
    }

    /// Whether `viewer` holds control (and so may send input); counts as its activity.
    pub fn human_input(&self, viewer: &Viewer) -> bool {
        let mut state = self.control().current();
        match &mut state.holder {
            Some(holder) if holder.viewer == *viewer => {
                holder.last_active = Instant::now();
                true
            }
            _ => false,
        }
    }

    /// Who drives, as `viewer` sees it (`None`: a caller who is not a viewer).
    pub fn control_view(&self, viewer: Option<&Viewer>) -> ControlView {
        match &self.control().current().holder {
            None => ControlView::Agent,
            Some(h) if Some(&h.viewer) == viewer => ControlView::You {
                secs: h.since.elapsed().as_secs(),
            },
            Some(h) => ControlView::Other {
                principal: h.viewer.principal.clone(),
                secs: h.since.elapsed().as_secs(),
            },
        }
    }

    /// Whether a human holds control.
    pub fn human_has_control(&self) -> bool {
        self.control().current().holder.is_some()
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
