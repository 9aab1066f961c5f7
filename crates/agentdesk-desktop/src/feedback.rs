//! "Did the screen react?" and "has the screen settled?", answered from X DAMAGE.
//!
//! GhostDesk answers both by polling quarter-size screenshots and diffing bounding boxes,
//! which costs ~80 ms a poll, misses changes under 0.5 % of the screen (typing five characters
//! in a terminal) and takes 2 s to say "no change". Here the X server tells us the moment
//! anything is drawn (DAMAGE); only then do we capture (0.3 ms) and compare pixels, so a change
//! is reported as soon as it is drawn and "no change" takes [`REACTION_WINDOW`].

use std::time::{Duration, Instant};

use agentdesk_image::Frame;
use agentdesk_x11::{DamageStamp, XHandle};
use tokio::sync::watch;

use crate::Result;

/// How long after an action we keep looking for a visible change.
pub(crate) const REACTION_WINDOW: Duration = Duration::from_millis(300);
/// A screen is settled after this long without drawing. Below a caret's blink period
/// (~500 ms), so a blinking caret cannot keep a screenshot waiting.
pub(crate) const QUIET: Duration = Duration::from_millis(150);
/// Stabilization never waits longer than this (GhostDesk's figure).
pub(crate) const SETTLE_CAP: Duration = Duration::from_millis(2500);

/// How the screen reacted to an action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reaction {
    /// Whether something visibly changed (a caret blink does not count).
    pub changed: bool,
    /// Milliseconds from the start of the action to the first visible change, or to when we
    /// stopped looking.
    pub reaction_ms: u64,
}

/// Watches for the first visible change after an action.
pub(crate) struct Watcher {
    damage: watch::Receiver<DamageStamp>,
    start: Instant,
}

impl Watcher {
    /// Arms the watcher; call before capturing the "before" frame and starting the action.
    pub(crate) fn arm(x: &XHandle) -> Watcher {
        let mut damage = x.damage();
        damage.borrow_and_update();
        Watcher {
            damage,
            start: Instant::now(),
        }
    }

    /// Waits until the screen differs visibly from `before`, or [`REACTION_WINDOW`] after the
    /// action `ended`. Returns the pixel buffers for reuse.
    pub(crate) async fn wait(
        mut self,
        x: &XHandle,
        before: Frame,
        ended: Instant,
        mut buf: Vec<u8>,
    ) -> Result<(Reaction, [Vec<u8>; 2])> {
        let deadline = tokio::time::Instant::from_std(ended + REACTION_WINDOW);
        loop {
            match tokio::time::timeout_at(deadline, self.damage.changed()).await {
                Ok(Ok(())) => {}
                // Timed out, or the X connection closed: nothing (more) changed.
                Ok(Err(_)) | Err(_) => break,
            }
            let stamp = *self.damage.borrow_and_update();
            let after = x.capture(None, buf).await?;
            let visible = agentdesk_image::diff(&before, &after).is_some_and(|c| c.is_visible());
            if visible {
                let ms = stamp.at.saturating_duration_since(self.start).as_millis();
                let reaction = Reaction {
                    changed: true,
                    reaction_ms: ms as u64,
                };
                return Ok((reaction, [before.data, after.data]));
            }
            buf = after.data;
        }
        let reaction = Reaction {
            changed: false,
            reaction_ms: self.start.elapsed().as_millis() as u64,
        };
        Ok((reaction, [before.data, buf]))
    }
}

/// Waits until nothing has been drawn for [`QUIET`] (counting from the last input action too,
/// so an app gets a moment to start reacting), at most [`SETTLE_CAP`].
pub(crate) async fn settle(x: &XHandle, last_input: Option<Instant>) {
    let start = Instant::now();
    let cap = start + SETTLE_CAP;
    let mut damage = x.damage();
    loop {
        let last_draw = damage.borrow_and_update().at;
        let last = last_input.map_or(last_draw, |input| input.max(last_draw));
        let quiet_at = last + QUIET;
        let now = Instant::now();
        if now >= quiet_at || now >= cap {
            return;
        }
        let wake = tokio::time::Instant::from_std(quiet_at.min(cap));
        if let Ok(Err(_)) = tokio::time::timeout_at(wake, damage.changed()).await {
            return; // the connection closed; the capture that follows reports it
        }
    }
}
