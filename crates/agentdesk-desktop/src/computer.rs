//! Runs a model's turn of computer-use actions (any vendor's dialect, read by
//! `agentdesk-computer`) on a desktop: in order, paced so apps can follow, stopping at the
//! first failure, with one screenshot at the end in the size the dialect expects.
//!
//! Pacing: after an action apps react to (a click, a key, typing, a scroll), the next one
//! waits until the screen has been quiet for a moment (the rule screenshots settle by,
//! bounded), because some apps act on debounced input: GTK's file chooser ignores a Return
//! that comes within ~0.2 s of the typed name, and galculator drops keys that come too close
//! together. Pointer moves, captures and waits need no pause, so a batch of them runs at the
//! speed of the X server.

use std::time::{Duration, Instant};

use agentdesk_computer::{Action, Button as CButton, Call, Direction, Done, Image, Outcome, Space};
use agentdesk_image::{Format, Point, Rect};
use agentdesk_x11::{Button, KeyCombo, PointerAction, ScrollDirection, XHandle};
use base64::Engine as _;

use crate::desktop::{check_typing, Desktop};
use crate::{feedback, DesktopError, Result};

tokio::task_local! {
    /// Set while a task runs a turn, which holds the desktop's turn lock for all its actions.
    static IN_TURN: ();
}

/// Whether this task is running a turn (and so already holds the turn lock).
pub(crate) fn in_turn() -> bool {
    IN_TURN.try_with(|_| ()).is_ok()
}

/// Time a wait or a held key leaves before the turn's deadline.
const DEADLINE_MARGIN: Duration = Duration::from_millis(500);

/// Characters typed between two looks at the deadline.
const TYPE_CHUNK: usize = 64;

/// How a turn is run.
#[derive(Debug, Clone)]
pub struct TurnOptions {
    /// The dialect's coordinates and screenshot size.
    pub space: Space,
    /// The screenshots' encoding.
    pub format: Format,
    /// When the turn must be over: an action that cannot finish by then is not started.
    pub deadline: Instant,
    /// Take a screenshot after the last action that ran.
    pub screenshot: bool,
    /// Cancelled when the turn must end early (the server is stopping): its waits end at once
    /// and no further action starts.
    pub cancel: tokio_util::sync::CancellationToken,
}

/// What a turn did.
#[derive(Debug, Clone)]
pub struct Turn {
    /// One per call, in order.
    pub outcomes: Vec<Outcome>,
    /// The screen after the last action that ran, if asked for.
    pub screenshot: Option<Image>,
    /// When the screenshot was taken relative to the turn's start, and how long the actions
    /// took, for the caller's logs and benchmarks.
    pub elapsed: Duration,
}

impl Desktop {
    /// Runs `calls` in order. A call that cannot be read, or fails, ends the turn: it is
    /// answered with its error and every later call with [`Outcome::NotExecuted`].
    /// The turn holds the desktop's input for its whole length: another caller's input waits
    /// until it is over rather than landing between its actions.
    pub async fn run_turn(&self, calls: &[Call], options: TurnOptions) -> Turn {
        let _turn = self.inner.turn.lock().await;
        IN_TURN.scope((), self.turn(calls, options)).await
    }

    async fn turn(&self, calls: &[Call], options: TurnOptions) -> Turn {
        let start = Instant::now();
        let mut outcomes = Vec::with_capacity(calls.len());
        let mut failed = false;
        let mut previous: Option<&Action> = None;
        // When the last input apps react to ended: captures wait for the screen to be quiet
        // since then. Input before this turn counts (a click in the previous request may still
        // be drawing); pointer moves in it do not.
        let mut provoked = self.last_input();
        for call in calls {
            if failed {
                outcomes.push(Outcome::NotExecuted);
                continue;
            }
            let outcome = match &call.action {
                Err(e) => Outcome::Failed(e.to_string()),
                Ok(action) => {
                    // A human took control, or the desktop is stopping: the turn ends here.
                    if let Some(e) = self.interrupted(&options) {
                        failed = true;
                        outcomes.push(Outcome::Failed(e.to_string()));
                        continue;
                    }
                    if let Some(prev) = previous {
                        if prev.provokes() {
                            self.pace().await;
                        }
                    }
                    previous = Some(action);
                    let result = self.perform(action, &options, provoked).await;
                    if action.provokes() {
                        provoked = self.last_input();
                    }
                    match result {
                        Ok(done) => Outcome::Done(done),
                        Err(e) => Outcome::Failed(e.to_string()),
                    }
                }
            };
            failed = outcome.is_error();
            outcomes.push(outcome);
        }
        let screenshot = if options.screenshot && previous.is_some() {
            match self.computer_shot(&options, provoked).await {
                Ok(image) => Some(image),
                Err(e) => {
                    tracing::debug!(error = %e, "the turn's closing screenshot failed");
                    None
                }
            }
        } else {
            None
        };
        Turn {
            outcomes,
            screenshot,
            elapsed: start.elapsed(),
        }
    }

    /// Waits until the screen has been quiet since the last input, bounded.
    async fn pace(&self) {
        let Ok(session) = self.session() else {
            return;
        };
        feedback::settle(&session.x, self.last_input()).await;
    }

    /// A screenshot in the dialect's size, once the screen is quiet (counting from `since`,
    /// the end of the last input apps react to, too).
    pub async fn computer_shot(
        &self,
        options: &TurnOptions,
        since: Option<Instant>,
    ) -> Result<Image> {
        let _awake = self.awake().await;
        let session = self.session()?;
        feedback::settle(&session.x, since).await;
        let frame = session.x.capture(None, self.buffer()).await?;
        let target = options.space.image_size();
        let format = options.format;
        let (frame, result) = tokio::task::spawn_blocking(move || {
            let result = (|| {
                let scaled;
                let source = if frame.size == target {
                    &frame
                } else {
                    scaled = frame.shrunk(target)?;
                    &scaled
                };
                let (mut scratch, mut out) = (Vec::new(), Vec::with_capacity(256 * 1024));
                let used = agentdesk_image::encode_within_budget(
                    source,
                    Rect::full(source.size),
                    format,
                    &mut scratch,
                    &mut out,
                )?;
                Ok::<_, agentdesk_image::Error>((used, out))
            })();
            (frame, result)
        })
        .await
        .map_err(|e| DesktopError::Internal(format!("encoder task failed: {e}")))?;
        self.recycle(frame.data);
        let (used, bytes) = result?;
        Ok(Image {
            mime_type: used.mime_type(),
            base64: base64::engine::general_purpose::STANDARD.encode(bytes),
        })
    }

    /// Runs one action.
    async fn perform(
        &self,
        action: &Action,
        options: &TurnOptions,
        provoked: Option<Instant>,
    ) -> Result<Done> {
        let space = &options.space;
        let left = options.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(DesktopError::Failed(
                "the request's time limit ran out before this action".into(),
            ));
        }
        // With a margin: a caller whose own clock started a little earlier (an MCP call's
        // timeout) must not give up while a key is still held.
        let usable = left.saturating_sub(DEADLINE_MARGIN);
        if action.duration() >= usable {
            return Err(DesktopError::BadRequest(format!(
                "this action lasts {:.1} s, more than the {:.1} s left of the request's time \
                 limit; ask for less",
                action.duration().as_secs_f64(),
                usable.as_secs_f64()
            )));
        }
        let model = |p: Point| {
            let (x, y) = space.to_model(p);
            format!("({x}, {y})")
        };
        let text = |t: String| {
            Ok(Done {
                text: t,
                image: None,
            })
        };
        match action {
            Action::Screenshot => {
                let image = self.computer_shot(options, provoked).await?;
                Ok(Done {
                    text: String::new(),
                    image: Some(image),
                })
            }
            Action::Zoom { region } => {
                let shot = self.zoom(*region, 1, options.format).await?;
                Ok(Done {
                    text: String::new(),
                    image: Some(Image {
                        mime_type: shot.mime_type,
                        base64: base64::engine::general_purpose::STANDARD.encode(&shot.bytes),
                    }),
                })
            }
            Action::CursorPosition => {
                let session = self.session()?;
                let (x, y) = session.x.cursor().await?;
                let (mx, my) = space.to_model(Point { x, y });
                text(format!("X={mx},Y={my}"))
            }
            Action::Move { to, hold } => {
                let to = *to;
                self.held(false, hold, move |x| async move {
                    Ok(x.pointer(PointerAction::Move { x: to.x, y: to.y }).await?)
                })
                .await?;
                text(format!("Moved the pointer to {}", model(to)))
            }
            Action::Click {
                at,
                button,
                count,
                hold,
            } => {
                let (at, button, count) = (*at, button_of(*button), *count);
                let p = self
                    .held(true, hold, move |x| async move {
                        let (px, py) = match at {
                            Some(p) => (p.x, p.y),
                            None => x.cursor().await?,
                        };
                        x.pointer(PointerAction::Click {
                            x: px,
                            y: py,
                            button,
                            count,
                        })
                        .await?;
                        Ok(Point { x: px, y: py })
                    })
                    .await?;
                let verb = match count {
                    1 => "Clicked",
                    2 => "Double-clicked",
                    _ => "Triple-clicked",
                };
                text(format!("{verb} {} at {}", name(action), model(p)))
            }
            Action::Press { at, button } | Action::Release { at, button } => {
                let (at, b) = (*at, button_of(*button));
                let press = matches!(action, Action::Press { .. });
                self.drive(true, move |x| async move {
                    if let Some(p) = at {
                        x.pointer(PointerAction::Move { x: p.x, y: p.y }).await?;
                    }
                    let action = if press {
                        PointerAction::Press { button: b }
                    } else {
                        PointerAction::Release { button: b }
                    };
                    Ok(x.pointer(action).await?)
                })
                .await?;
                let verb = if press { "pressed" } else { "released" };
                text(format!("The {} button is {verb}", button.name()))
            }
            Action::Drag {
                path,
                from_pointer,
                hold,
            } => {
                let (mut points, from_pointer) = (path.clone(), *from_pointer);
                let last = points.last().copied().unwrap_or(Point { x: 0, y: 0 });
                self.held(true, hold, move |x| async move {
                    if from_pointer {
                        let (cx, cy) = x.cursor().await?;
                        points.insert(0, Point { x: cx, y: cy });
                    }
                    let points = points.iter().map(|p| (p.x, p.y)).collect();
                    Ok(x.drag_path(points, Button::Left).await?)
                })
                .await?;
                text(format!("Dragged to {}", model(last)))
            }
            Action::Scroll {
                at,
                direction,
                notches,
                hold,
            } => {
                let (at, amount) = (*at, *notches);
                let dir = match direction {
                    Direction::Up => ScrollDirection::Up,
                    Direction::Down => ScrollDirection::Down,
                    Direction::Left => ScrollDirection::Left,
                    Direction::Right => ScrollDirection::Right,
                };
                self.held(true, hold, move |x| async move {
                    let (px, py) = match at {
                        Some(p) => (p.x, p.y),
                        None => x.cursor().await?,
                    };
                    Ok(x.pointer(PointerAction::Scroll {
                        x: px,
                        y: py,
                        direction: dir,
                        amount,
                    })
                    .await?)
                })
                .await?;
                text(format!("Scrolled {} {amount} notches", direction.name()))
            }
            Action::Type { text: typed } => {
                check_typing(typed)?;
                let n = self.type_by_deadline(typed, options).await?;
                text(format!("Typed {n} characters"))
            }
            Action::TypeAt {
                at,
                text: typed,
                clear,
            } => {
                check_typing(typed)?;
                let (at, typed, clear) = (*at, typed.clone(), *clear);
                let n = typed.chars().count();
                let (select, erase) = (KeyCombo::parse("ctrl+a")?, KeyCombo::parse("BackSpace")?);
                self.drive(true, move |x| async move {
                    x.pointer(PointerAction::Click {
                        x: at.x,
                        y: at.y,
                        button: Button::Left,
                        count: 1,
                    })
                    .await?;
                    // The field takes the focus when the click is handled, not when sent.
                    feedback::settle(&x, Some(Instant::now())).await;
                    if clear {
                        x.press_keys(select).await?;
                        x.press_keys(erase).await?;
                    }
                    Ok(())
                })
                .await?;
                self.type_by_deadline(&typed, options).await?;
                text(format!("Typed {n} characters at {}", model(at)))
            }
            Action::Key { keys, repeat } => {
                let combo = KeyCombo::parse(keys)?;
                let (repeat, deadline) = (*repeat, options.deadline);
                self.drive(true, move |x| async move {
                    for done in 0..repeat {
                        if Instant::now() >= deadline {
                            return Err(DesktopError::Failed(format!(
                                "the request's time limit ran out after {done} of {repeat} \
                                 presses"
                            )));
                        }
                        x.press_keys(combo.clone()).await?;
                    }
                    Ok(())
                })
                .await?;
                let times = if repeat > 1 {
                    format!(" {repeat} times")
                } else {
                    String::new()
                };
                text(format!("Pressed {keys}{times}"))
            }
            Action::KeyDown { keys } | Action::KeyUp { keys } => {
                let combo = KeyCombo::parse(keys)?;
                let down = matches!(action, Action::KeyDown { .. });
                // Held between calls, any other key would repeat (the X server's autorepeat)
                // with nothing to bound it.
                if down && !combo.only_modifiers() {
                    return Err(DesktopError::BadRequest(format!(
                        "{keys:?}: only modifier keys (shift, ctrl, alt, super) are held down \
                         between calls; press other keys with press_key or hotkey"
                    )));
                }
                self.drive(
                    true,
                    move |x| async move { Ok(x.hold_keys(combo, down).await?) },
                )
                .await?;
                let verb = if down { "held down" } else { "released" };
                text(format!("{keys} {verb}"))
            }
            Action::HoldKey { keys, duration } => {
                let combo = KeyCombo::parse(keys)?;
                let duration = *duration;
                self.drive(true, move |x| async move {
                    x.hold_keys(combo.clone(), true).await?;
                    let held = self.idle_for_turn(duration, options).await;
                    x.hold_keys(combo, false).await?;
                    held
                })
                .await?;
                text(format!("Held {keys} for {:.1} s", duration.as_secs_f64()))
            }
            Action::Wait { duration } => {
                self.idle_for_turn(*duration, options).await?;
                text(format!("Waited {:.1} s", duration.as_secs_f64()))
            }
            Action::Navigate { url } => {
                let window = self.browser_window(None).await?;
                self.browser_go(window.id, url).await?;
                text(format!("Opened {url}"))
            }
            Action::GoBack | Action::GoForward => {
                let keys = if matches!(action, Action::GoBack) {
                    "alt+Left"
                } else {
                    "alt+Right"
                };
                let combo = KeyCombo::parse(keys)?;
                self.drive(true, move |x| async move { Ok(x.press_keys(combo).await?) })
                    .await?;
                text(format!("Pressed {keys}"))
            }
        }
    }

    /// Why the turn must stop now, if it must: a human took control, or the desktop is
    /// stopping (a server asked to exit does not wait for a turn's waits).
    fn interrupted(&self, options: &TurnOptions) -> Option<DesktopError> {
        if self.inner.shutdown.is_cancelled() || options.cancel.is_cancelled() {
            return Some(DesktopError::Stopped);
        }
        self.agent_may_act().err()
    }

    /// Waits `duration`, or less if the turn is interrupted meanwhile (looking every 50 ms).
    async fn idle_for_turn(&self, duration: Duration, options: &TurnOptions) -> Result<()> {
        let until = Instant::now() + duration;
        loop {
            if let Some(e) = self.interrupted(options) {
                return Err(e);
            }
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(());
            }
            tokio::select! {
                () = tokio::time::sleep(left.min(Duration::from_millis(50))) => {}
                () = self.inner.shutdown.cancelled() => {}
                () = options.cancel.cancelled() => {}
            }
        }
    }

    /// Types `text` a chunk at a time, stopping when `deadline` passes (typing is slow where
    /// every character needs a keymap change: ~5 ms each). The number typed, or an error
    /// saying how far it got.
    async fn type_by_deadline(&self, text: &str, options: &TurnOptions) -> Result<usize> {
        let deadline = options.deadline;
        // "\r\n" is one Return: never split it between chunks.
        let chars: Vec<char> = text.replace("\r\n", "\n").chars().collect();
        let total = chars.len();
        let chunks: Vec<String> = chars
            .chunks(TYPE_CHUNK)
            .map(|c| c.iter().collect())
            .collect();
        self.drive(true, move |x| async move {
            let mut done = 0;
            for chunk in chunks {
                if let Some(e) = self.interrupted(options) {
                    return Err(e);
                }
                if Instant::now() >= deadline {
                    return Err(DesktopError::Failed(format!(
                        "the request's time limit ran out after {done} of {total} characters \
                         were typed; type the rest in another call"
                    )));
                }
                x.type_text(&chunk).await?;
                done += chunk.chars().count();
            }
            Ok(done)
        })
        .await
    }

    /// Runs a pointer action with `hold` (a key combination) held down around it.
    async fn held<F, Fut, T>(&self, provokes: bool, hold: &Option<String>, action: F) -> Result<T>
    where
        F: FnOnce(XHandle) -> Fut,
        Fut: std::future::Future<Output = Result<T>>,
    {
        let Some(keys) = hold else {
            return self.drive(provokes, action).await;
        };
        let combo = KeyCombo::parse(keys)?;
        self.drive(true, move |x| async move {
            x.hold_keys(combo.clone(), true).await?;
            let result = action(x.clone()).await;
            // Released whatever happened, so a failed click leaves no key stuck down.
            let released = x.hold_keys(combo, false).await;
            let value = result?;
            released?;
            Ok(value)
        })
        .await
    }
}

fn button_of(b: CButton) -> Button {
    match b {
        CButton::Left => Button::Left,
        CButton::Middle => Button::Middle,
        CButton::Right => Button::Right,
        CButton::Back => Button::Back,
        CButton::Forward => Button::Forward,
    }
}

fn name(action: &Action) -> &'static str {
    match action {
        Action::Click { button, .. } => button.name(),
        _ => "",
    }
}
