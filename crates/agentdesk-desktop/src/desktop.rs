//! [`Desktop`]: one supervised desktop, and the operations tools perform on it. Keeping it
//! alive is `supervisor.rs`'s job.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use agentdesk_display::XServerKind;
use agentdesk_image::{Format, Rect, Size};
use agentdesk_x11::{KeyCombo, PointerAction, XHandle};
use anyhow::Context as _;
use tokio::sync::{oneshot, watch};
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;

use agentdesk_apps::AppPolicy;

use crate::apps::Apps;
use crate::feedback::{self, Reaction};
use crate::supervisor;
use crate::{lock, DesktopError, DesktopId, Result};

/// Typing is paced for toolkits (a few ms per batch of new symbols); beyond this length the
/// clipboard is the better tool, and one call cannot occupy the desktop for minutes.
pub const MAX_TYPED_CHARS: usize = 10_000;

/// The most text clipboard_set takes, in bytes of UTF-8: far more than any paste an agent
/// needs, and small enough that a request cannot make the desktop hold gigabytes.
pub const MAX_CLIPBOARD_BYTES: usize = 2 * 1024 * 1024;

/// The most output lines app_status returns at once.
pub const MAX_STATUS_LINES: i64 = 1000;

/// When a desktop stops, apps get this long to close their windows and exit before they are
/// signalled (Firefox takes 2–4 s to quit and write its session).
pub(crate) const CLOSE_GRACE: Duration = Duration::from_secs(5);

/// How to build a desktop.
#[derive(Debug, Clone)]
pub struct DesktopConfig {
    /// Its name.
    pub id: DesktopId,
    /// Xvnc (default) or Xvfb.
    pub x_server: XServerKind,
    /// Screen size in pixels.
    pub size: Size,
    /// Keep GLX for OpenGL apps (costs ~55 MB).
    pub glx: bool,
    /// Persistent per-desktop files: the session's HOME, app logs. Mode 0700 (created so,
    /// with any missing parents, and made so if it exists).
    pub data_dir: PathBuf,
    /// Private per-desktop runtime files: sockets, the Xauthority cookie. Mode 0700.
    pub runtime_dir: PathBuf,
    /// Run a window manager (IceWM). Off only in tests that need a bare X server.
    pub window_manager: bool,
    /// Run a session D-Bus (apps such as Firefox and GTK's accessibility expect one).
    pub session_bus: bool,
    /// Root window colour, 0xRRGGBB.
    pub background: u32,
    /// How long one X command may take before the X server is presumed hung and restarted
    /// (normally [`agentdesk_x11::COMMAND_TIMEOUT`]).
    pub command_timeout: Duration,
    /// The operator's allow and deny lists for app_list and app_launch.
    pub app_policy: AppPolicy,
    /// A human in control who has sent no input for this long hands control back.
    pub control_idle: Duration,
    /// Run the desktop's processes in a sandbox (bubblewrap); `None`: as agentdesk's own
    /// children, with agentdesk's view of the file system (`--no-sandbox`).
    pub sandbox: Option<SandboxPolicy>,
    /// Whether its apps reach the network (off needs the sandbox).
    pub network: bool,
}

/// What every desktop's sandbox hides and limits (the per-desktop parts come from its config).
#[derive(Debug, Clone)]
pub struct SandboxPolicy {
    /// The agentdesk binary: the sandbox's init.
    pub init_exe: PathBuf,
    /// Directories hidden from the desktop's apps (the server's data directory ...).
    pub hide_dirs: Vec<PathBuf>,
    /// Files hidden from them (the token file, the TLS key).
    pub hide_files: Vec<PathBuf>,
    /// Memory and processes per desktop.
    pub limits: agentdesk_display::Limits,
    /// How limits and freezing are applied on this machine.
    pub cgroups: agentdesk_display::CgroupKind,
    /// This server's runtime directory's name (the desktops' cgroups' parent).
    pub server: String,
}

impl DesktopConfig {
    /// The session's HOME, inside the data directory.
    pub(crate) fn home(&self) -> PathBuf {
        self.data_dir.join("home")
    }

    /// What agentdesk writes for the desktop's processes to read: the X cookie, the bus's and
    /// the window manager's configuration, hidden desktop entries. Beside the runtime directory
    /// (`<runtime>.conf`), never in it: a sandbox can write its runtime directory, and sees
    /// this one read-only.
    pub(crate) fn conf_dir(&self) -> PathBuf {
        self.runtime_dir.with_extension("conf")
    }
}

/// One live session: what exists between an X server start and its exit.
#[derive(Debug, Clone)]
pub(crate) struct Session {
    pub(crate) x: XHandle,
    /// Environment for processes on this session (DISPLAY, bus address, HOME, PATH ...).
    pub(crate) env: Arc<Vec<(String, String)>>,
    /// The X server's process id.
    pub(crate) x_pid: u32,
    /// The session bus's process id, if it runs.
    pub(crate) bus_pid: Option<u32>,
    /// Xvnc's RFB socket (none with Xvfb).
    pub(crate) rfb_socket: Option<PathBuf>,
    /// Where the session's processes start (its sandbox, or agentdesk itself).
    pub(crate) launcher: agentdesk_display::Launcher,
}

#[derive(Debug, Clone)]
pub(crate) enum State {
    Starting,
    Running(Session),
    Restarting(String),
    Stopped,
}

/// Whether, and how, a desktop's processes are paused.
#[derive(Debug)]
pub(crate) enum Paused {
    No,
    /// Its sandbox's cgroup freezer holds them.
    Freezer(agentdesk_display::Sandbox),
    /// Each was sent SIGSTOP (no freezer here, or no sandbox).
    Signals,
}

/// A desktop: cheap to clone; all clones drive the same desktop.
#[derive(Debug, Clone)]
pub struct Desktop {
    pub(crate) inner: Arc<Inner>,
}

#[derive(Debug)]
pub(crate) struct Inner {
    pub(crate) config: DesktopConfig,
    pub(crate) state: watch::Sender<State>,
    /// Input is serialized per desktop: two agents clicking at once would interleave
    /// press/release pairs and each would see the other's screen change as its own.
    pub(crate) input: Arc<tokio::sync::Mutex<()>>,
    /// Held for a whole turn of computer-use actions, so that another caller's input does not
    /// land between them; taken before `input` by every input path (`Desktop::take_input`).
    pub(crate) turn: tokio::sync::Mutex<()>,
    /// When the latest input action ended; screenshot stabilization waits past it.
    pub(crate) last_input: Mutex<Option<Instant>>,
    pub(crate) apps: Apps,
    pub(crate) shutdown: CancellationToken,
    supervisor: Mutex<Option<tokio::task::JoinHandle<()>>>,
    /// Reused pixel buffers: a fresh 4 MB buffer per frame cost ~8 ms in measurements.
    buffers: Mutex<Vec<Vec<u8>>>,
    /// The X server's MIT-MAGIC-COOKIE-1: only agentdesk and the desktop's apps can connect.
    pub(crate) cookie: [u8; 16],
    /// Who drives: the agent, or a human in the live view.
    pub(crate) control: crate::control::Control,
    pub(crate) help: crate::help::Help,
    /// Whether the desktop's processes are stopped (SIGSTOP). Every operation that needs them
    /// holds a read guard ([`Desktop::awake`]), which continues them first; pausing takes the
    /// write guard, so it waits for operations in flight and none starts against a frozen
    /// X server (which would look hung and be replaced).
    freeze: tokio::sync::RwLock<Paused>,
    /// What the screen's text said at the last reading (one reading at a time).
    pub(crate) text: tokio::sync::Mutex<agentdesk_ocr::ScreenText>,
    /// The connection to the accessibility bus, with the X server it was made for (a new
    /// session needs a new one).
    pub(crate) a11y: tokio::sync::Mutex<Option<(u32, agentdesk_a11y::A11y)>>,
    /// When an operation last needed the desktop's processes.
    last_used: Mutex<Instant>,
    /// Its capture memory was given back since it was last used ([`Desktop::trim`]).
    trimmed: std::sync::atomic::AtomicBool,
}

/// An encoded screenshot.
#[derive(Debug, Clone)]
pub struct Shot {
    /// The encoded image.
    pub bytes: Vec<u8>,
    /// Its MIME type.
    pub mime_type: &'static str,
    /// Its size in pixels.
    pub size: Size,
}

impl Desktop {
    /// Starts a desktop and waits until a screenshot is possible.
    ///
    /// Fails if the first start fails (e.g. Xvnc is not installed); later failures are retried
    /// by the supervisor.
    pub async fn start(config: DesktopConfig) -> anyhow::Result<Desktop> {
        // Everything here is the desktop's user's alone: the home holds what the agent saved
        // and downloaded, the runtime directory the X cookie. Existing directories (from an
        // older agentdesk) are narrowed too.
        let home = config.home();
        for dir in [
            &config.data_dir,
            &home,
            &config.runtime_dir,
            &config.conf_dir(),
        ] {
            private_dir(dir)?;
        }
        let apps = Apps::new(config.data_dir.join("apps"), config.app_policy.clone())?;
        let (state, _) = watch::channel(State::Starting);
        let inner = Arc::new(Inner {
            control: crate::control::Control::new(config.control_idle),
            help: crate::help::Help::new(),
            config,
            state,
            input: Arc::new(tokio::sync::Mutex::new(())),
            turn: tokio::sync::Mutex::new(()),
            last_input: Mutex::new(None),
            apps,
            shutdown: CancellationToken::new(),
            supervisor: Mutex::new(None),
            buffers: Mutex::new(Vec::new()),
            cookie: rand::random(),
            freeze: tokio::sync::RwLock::new(Paused::No),
            text: tokio::sync::Mutex::new(agentdesk_ocr::ScreenText::default()),
            a11y: tokio::sync::Mutex::new(None),
            last_used: Mutex::new(Instant::now()),
            trimmed: std::sync::atomic::AtomicBool::new(false),
        });
        let (first_tx, first_rx) = oneshot::channel();
        let span = tracing::info_span!("desktop", id = %inner.config.id);
        let task = tokio::spawn(supervisor::supervise(inner.clone(), first_tx).instrument(span));
        *lock(&inner.supervisor) = Some(task);
        match first_rx.await {
            Ok(Ok(())) => Ok(Desktop { inner }),
            Ok(Err(e)) => Err(e),
            Err(_) => anyhow::bail!("the desktop supervisor stopped during startup"),
        }
    }

    /// This desktop's name.
    pub fn id(&self) -> &DesktopId {
        &self.inner.config.id
    }

    /// Its persistent directory (the session's HOME is `home/` inside; the audit log is here).
    pub fn data_dir(&self) -> &Path {
        &self.inner.config.data_dir
    }

    /// The screen size in pixels: as configured, unless something on the desktop resized the
    /// screen (RandR), in which case the live size.
    pub fn screen_size(&self) -> Size {
        self.session()
            .map_or(self.inner.config.size, |s| s.x.screen_size())
    }

    /// The Xauthority file that lets a local X client (xdotool, a VNC tool) onto the display,
    /// while the desktop runs.
    pub fn xauthority(&self) -> Option<String> {
        self.session_env("XAUTHORITY")
    }

    /// The X display, e.g. ":1", while the desktop runs. Local X clients also need
    /// [`Desktop::xauthority`].
    pub fn display(&self) -> Option<String> {
        self.session_env("DISPLAY")
    }

    fn session_env(&self, key: &str) -> Option<String> {
        self.session()
            .ok()
            .and_then(|s| s.env.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone()))
    }

    /// The X server's process id, if running (for operators and supervision tests).
    pub fn x_server_pid(&self) -> Option<u32> {
        self.session().ok().map(|s| s.x_pid)
    }

    pub(crate) fn session(&self) -> Result<Session> {
        match &*self.inner.state.borrow() {
            State::Running(session) if session.x.is_alive() => Ok(session.clone()),
            State::Running(_) => Err(DesktopError::NotReady {
                state: "restarting (its X server went away)".into(),
            }),
            State::Starting => Err(DesktopError::NotReady {
                state: "starting".into(),
            }),
            State::Restarting(why) => Err(DesktopError::NotReady { state: why.clone() }),
            State::Stopped => Err(DesktopError::Stopped),
        }
    }

    /// Waits until the desktop is running again (after a restart), up to `timeout`.
    pub async fn wait_ready(&self, timeout: Duration) -> Result<()> {
        let mut rx = self.inner.state.subscribe();
        let _ = tokio::time::timeout(
            timeout,
            rx.wait_for(|s| {
                matches!(s, State::Running(x) if x.x.is_alive()) || matches!(s, State::Stopped)
            }),
        )
        .await;
        // Whether it got there or not, the current state says what a caller may do now.
        self.session().map(|_| ())
    }

    pub(crate) fn buffer(&self) -> Vec<u8> {
        lock(&self.inner.buffers).pop().unwrap_or_default()
    }

    pub(crate) fn recycle(&self, buf: Vec<u8>) {
        let mut pool = lock(&self.inner.buffers);
        if pool.len() < 4 {
            pool.push(buf);
        }
    }

    /// Captures and encodes the screen (or `rect`), after it settles if `stabilize`. A WebP
    /// screenshot that would exceed 1 MiB of base64 comes back as JPEG (see
    /// [`agentdesk_image::encode_within_budget`]); [`Shot::mime_type`] says which.
    pub async fn screenshot(
        &self,
        rect: Option<Rect>,
        format: Format,
        stabilize: bool,
    ) -> Result<Shot> {
        let _awake = self.awake().await;
        let session = self.session()?;
        if stabilize {
            let last_input = *lock(&self.inner.last_input);
            feedback::settle(&session.x, last_input).await;
        }
        let frame = session.x.capture(rect, self.buffer()).await?;
        let size = frame.size;
        let (mut scratch, out) = (self.buffer(), Vec::with_capacity(256 * 1024));
        let (frame, scratch, result) = tokio::task::spawn_blocking(move || {
            let mut out = out;
            let result = agentdesk_image::encode_within_budget(
                &frame,
                Rect::full(frame.size),
                format,
                &mut scratch,
                &mut out,
            )
            .map(|used| (used, out));
            (frame, scratch, result)
        })
        .await
        .map_err(|e| DesktopError::Internal(format!("encoder task failed: {e}")))?;
        self.recycle(frame.data);
        self.recycle(scratch);
        let (used, bytes) = result?;
        Ok(Shot {
            bytes,
            mime_type: used.mime_type(),
            size,
        })
    }

    /// Runs one input action under the desktop's input lock and reports how the screen reacted.
    pub(crate) async fn act<F, Fut>(&self, action: F) -> Result<Reaction>
    where
        F: FnOnce(XHandle) -> Fut,
        Fut: std::future::Future<Output = agentdesk_x11::Result<()>>,
    {
        self.act_with(action).await.map(|(reaction, ())| reaction)
    }

    /// [`Desktop::act`] for an action that answers something (and fails in its own terms).
    pub(crate) async fn act_with<F, Fut, T, E>(&self, action: F) -> Result<(Reaction, T)>
    where
        F: FnOnce(XHandle) -> Fut,
        Fut: std::future::Future<Output = std::result::Result<T, E>>,
        E: Into<DesktopError>,
    {
        self.agent_may_act()?;
        let _awake = self.awake().await;
        let session = self.session()?;
        let _input = self.take_input().await?;
        let watcher = feedback::Watcher::arm(&session.x);
        let before = session.x.capture(None, self.buffer()).await?;
        let result = action(session.x.clone()).await;
        let ended = Instant::now();
        *lock(&self.inner.last_input) = Some(ended);
        let value = match result {
            Ok(value) => value,
            Err(e) => {
                self.recycle(before.data);
                return Err(e.into());
            }
        };
        let (reaction, buffers) = watcher
            .wait(&session.x, before, ended, self.buffer())
            .await?;
        for buf in buffers {
            self.recycle(buf);
        }
        Ok((reaction, value))
    }

    /// Moves, clicks, drags or scrolls.
    pub async fn pointer(&self, action: PointerAction) -> Result<Reaction> {
        self.act(|x| async move { x.pointer(action).await }).await
    }

    /// Types text at the keyboard focus.
    pub async fn type_text(&self, text: &str) -> Result<Reaction> {
        check_typing(text)?;
        let text = text.to_owned();
        self.act(|x| async move { x.type_text(&text).await }).await
    }

    /// Runs one input action under the desktop's input lock, without change feedback (for
    /// batches, which pace themselves and look at the screen once at the end). Only input
    /// apps react to (`provokes`: not a pointer move) makes the next capture wait for the
    /// screen to settle.
    pub(crate) async fn drive<F, Fut, T>(&self, provokes: bool, action: F) -> Result<T>
    where
        F: FnOnce(XHandle) -> Fut,
        Fut: std::future::Future<Output = Result<T>>,
    {
        self.agent_may_act()?;
        let _awake = self.awake().await;
        let session = self.session()?;
        let _input = self.take_input().await?;
        let result = action(session.x.clone()).await;
        if provokes {
            *lock(&self.inner.last_input) = Some(Instant::now());
        }
        result
    }

    /// Takes the desktop's input: the turn lock (unless this task runs the turn that holds
    /// it), then the input lock; then checks, holding both, that the agent may still act — a
    /// human may have taken control while it waited.
    pub(crate) async fn take_input(&self) -> Result<InputGuard<'_>> {
        let turn = if crate::computer::in_turn() {
            None
        } else {
            Some(self.inner.turn.lock().await)
        };
        let input = self.inner.input.lock().await;
        self.agent_may_act()?;
        Ok(InputGuard {
            _turn: turn,
            _input: input,
        })
    }

    /// When the last input action ended.
    pub(crate) fn last_input(&self) -> Option<Instant> {
        *lock(&self.inner.last_input)
    }

    /// Presses a key combination.
    pub async fn press_keys(&self, combo: KeyCombo) -> Result<Reaction> {
        self.act(|x| async move { x.press_keys(combo).await }).await
    }

    /// Puts text on the clipboard; it stays there until something else is copied.
    pub async fn clipboard_set(&self, text: String) -> Result<()> {
        self.agent_may_act()?;
        if text.len() > MAX_CLIPBOARD_BYTES {
            return Err(DesktopError::BadRequest(format!(
                "clipboard_set takes at most {MAX_CLIPBOARD_BYTES} bytes of text (got {}); \
                 split the text and paste it in parts",
                text.len()
            )));
        }
        let _awake = self.awake().await;
        Ok(self.session()?.x.clipboard_set(text).await?)
    }

    /// Reads the clipboard as text.
    pub async fn clipboard_get(&self) -> Result<String> {
        let _awake = self.awake().await;
        Ok(self.session()?.x.clipboard_get().await?)
    }

    /// The applications that can be launched: (name, executable).
    pub fn app_list(&self) -> Vec<(String, String)> {
        self.inner.apps.list(&self.home())
    }

    /// Launches an application from [`Desktop::app_list`]; returns (pid, log file).
    pub async fn app_launch(&self, command: &str) -> Result<(u32, PathBuf)> {
        self.agent_may_act()?;
        let _awake = self.awake().await;
        let session = self.session()?;
        self.inner
            .apps
            .launch(&session.launcher, command, &self.home(), &session.env)
            .await
    }

    /// Whether a launched app runs, and its newest output lines: (pid, running, log file, tail).
    pub fn app_status(&self, pid: i64, lines: i64) -> Result<(u32, bool, PathBuf, String)> {
        if !(0..=MAX_STATUS_LINES).contains(&lines) {
            return Err(DesktopError::BadRequest(format!(
                "app_status lines must be 0 to {MAX_STATUS_LINES} (got {lines}); the log file \
                 named in the result holds the rest"
            )));
        }
        self.inner.apps.status(pid, lines as usize)
    }

    fn home(&self) -> PathBuf {
        self.inner.config.home()
    }

    /// A guard under which the desktop's processes run: continues them first if the desktop
    /// is paused, and keeps [`Desktop::pause`] waiting until it is dropped. Marks the desktop
    /// used.
    pub(crate) async fn awake(&self) -> tokio::sync::RwLockReadGuard<'_, Paused> {
        *lock(&self.inner.last_used) = Instant::now();
        self.inner
            .trimmed
            .store(false, std::sync::atomic::Ordering::Relaxed);
        loop {
            let guard = self.inner.freeze.read().await;
            if matches!(*guard, Paused::No) {
                return guard;
            }
            drop(guard);
            let _ = self.resume().await;
        }
    }

    /// Stops every process of the desktop (X server, window manager, bus, apps and whatever
    /// they started: its sandbox's cgroup freezer, or SIGSTOP to each), after the operations in
    /// flight end. It then uses no CPU; the next operation (a tool call, a viewer connecting)
    /// continues it first, transparently. `Ok(false)` if it was already paused.
    pub async fn pause(&self) -> Result<bool> {
        let mut paused = self.inner.freeze.write().await;
        if !matches!(*paused, Paused::No) {
            return Ok(false);
        }
        *paused = self.freeze_processes().await?;
        Ok(true)
    }

    /// Stops every process of the running session: its sandbox's freezer, or SIGSTOP.
    /// The caller holds the write guard of `freeze`.
    async fn freeze_processes(&self) -> Result<Paused> {
        // Only a running session: one being started or replaced has processes coming and going.
        let sandbox = self.session()?.launcher.sandbox().cloned();
        let runtime_dir = self.inner.config.runtime_dir.clone();
        // Off the async threads: freezing waits for the kernel, and SIGSTOP scans /proc.
        tokio::task::spawn_blocking(move || match sandbox {
            Some(sandbox) if sandbox.freeze(true) => {
                tracing::info!("desktop paused (cgroup freezer)");
                Paused::Freezer(sandbox)
            }
            _ => {
                let stopped = agentdesk_display::freeze_desktop_processes(&runtime_dir, true);
                tracing::info!(processes = stopped, "desktop paused (SIGSTOP)");
                Paused::Signals
            }
        })
        .await
        .map_err(|e| DesktopError::Internal(format!("pausing failed: {e}")))
    }

    /// Continues what [`Desktop::freeze_processes`] stopped.
    async fn thaw_processes(&self, how: Paused) {
        let runtime_dir = self.inner.config.runtime_dir.clone();
        let _ = tokio::task::spawn_blocking(move || match how {
            Paused::No => {}
            Paused::Freezer(sandbox) => {
                sandbox.freeze(false);
                tracing::info!("desktop resumed");
            }
            Paused::Signals => {
                let continued = agentdesk_display::freeze_desktop_processes(&runtime_dir, false);
                tracing::info!(processes = continued, "desktop resumed");
            }
        })
        .await;
    }

    /// Runs `work` (on a blocking thread) while every process of the desktop is stopped, so
    /// that what they write holds still: a snapshot of the home. Operations wait meanwhile,
    /// as for a pause. A paused desktop stays paused; a running one runs again after, even if
    /// the caller stops waiting (the work then runs to its end in the background: give it a
    /// way to stop early).
    pub(crate) async fn frozen<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T> {
        let desktop = self.clone();
        tokio::spawn(async move {
            let paused = desktop.inner.freeze.write().await;
            let froze = match *paused {
                Paused::No => Some(desktop.freeze_processes().await?),
                _ => None,
            };
            let done = tokio::task::spawn_blocking(work).await;
            if let Some(how) = froze {
                desktop.thaw_processes(how).await;
            }
            drop(paused);
            done.map_err(|e| DesktopError::Internal(format!("the work failed: {e}")))
        })
        .await
        .map_err(|e| DesktopError::Internal(format!("the work failed: {e}")))?
    }

    /// Continues a paused desktop's processes. `Ok(false)` if it was not paused.
    pub async fn resume(&self) -> Result<bool> {
        let mut paused = self.inner.freeze.write().await;
        let how = std::mem::replace(&mut *paused, Paused::No);
        if matches!(how, Paused::No) {
            return Ok(false);
        }
        self.thaw_processes(how).await;
        *lock(&self.inner.last_used) = Instant::now();
        Ok(true)
    }

    /// Gives back what an idle desktop holds in agentdesk for its screenshots (pooled frame
    /// buffers, and the pages of the capture segment it shares with the X server: about three
    /// screens' worth). The next screenshot takes them again. Once per idle spell.
    pub async fn trim(&self) {
        if self
            .inner
            .trimmed
            .swap(true, std::sync::atomic::Ordering::Relaxed)
        {
            return;
        }
        lock(&self.inner.buffers).clear();
        if let Ok(session) = self.session() {
            let _ = session.x.trim().await;
        }
    }

    /// Whether the desktop is paused (without waiting for an operation in flight).
    pub fn is_paused(&self) -> bool {
        self.inner
            .freeze
            .try_read()
            .is_ok_and(|p| !matches!(*p, Paused::No))
    }

    /// How long since an operation last needed the desktop's processes.
    pub fn idle_for(&self) -> Duration {
        lock(&self.inner.last_used).elapsed()
    }

    /// A short word for the desktop's state: `running`, `paused`, `starting`, `restarting` or
    /// `stopped`.
    pub fn state_name(&self) -> &'static str {
        if self.is_paused() {
            return "paused";
        }
        match &*self.inner.state.borrow() {
            State::Running(s) if s.x.is_alive() => "running",
            State::Running(_) | State::Restarting(_) => "restarting",
            State::Starting => "starting",
            State::Stopped => "stopped",
        }
    }

    /// Stops the desktop: apps, window manager, bus and X server, in that order, and then
    /// whatever its apps started that left their process groups.
    ///
    /// Apps go first, while their X server still runs, and politely: each window is asked to
    /// close as its close button would, so apps save their state and end their sessions
    /// cleanly (a killed Mousepad greets the next start with "restore the previous
    /// session?"). What is still running after [`CLOSE_GRACE`] gets SIGTERM, then SIGKILL.
    pub async fn stop(&self) {
        self.stop_with(true).await;
    }

    /// Stops the desktop at once, without asking its windows to close first: for when what
    /// the apps would save is about to be replaced (a snapshot being restored).
    pub(crate) async fn stop_now(&self) {
        self.stop_with(false).await;
    }

    async fn stop_with(&self, politely: bool) {
        // Stopped processes would not act on SIGTERM; this also makes the windows answer.
        let _ = self.resume().await;
        if politely {
            self.close_windows().await;
        }
        self.inner.apps.stop_all().await;
        self.inner.shutdown.cancel();
        let task = lock(&self.inner.supervisor).take();
        if let Some(task) = task {
            let _ = task.await;
        }
        let stragglers = agentdesk_display::kill_desktop_processes(&self.inner.config.runtime_dir);
        if stragglers > 0 {
            tracing::info!(
                stragglers,
                "killed processes that had left their app's process group"
            );
        }
    }

    /// Asks the apps' windows to close and waits, at most [`CLOSE_GRACE`], until they have and
    /// the apps agentdesk launched have exited.
    async fn close_windows(&self) {
        let _awake = self.awake().await;
        let Ok(session) = self.session() else {
            return;
        };
        let asked = match session.x.close_windows().await {
            Ok(asked) if !asked.is_empty() => asked,
            _ => return,
        };
        tracing::debug!(windows = asked.len(), "asked the apps' windows to close");
        let deadline = Instant::now() + CLOSE_GRACE;
        while Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
            let windows_open = session
                .x
                .client_windows()
                .await
                .is_ok_and(|open| open.iter().any(|w| asked.contains(w)));
            if !windows_open && !self.inner.apps.any_running() {
                return;
            }
        }
        tracing::debug!("some windows were still open after {CLOSE_GRACE:?}");
    }
}

/// Creates `dir` (and missing parents) with mode 0700, or narrows an existing one to 0700.
pub(crate) fn private_dir(dir: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::{DirBuilderExt as _, PermissionsExt as _};
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("error creating {}", dir.display()))?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
        .with_context(|| format!("error restricting {}", dir.display()))
}

/// Checks text before typing any of it, so that a bad character types nothing at all.
pub(crate) fn check_typing(text: &str) -> Result<()> {
    let chars = text.chars().count();
    if chars > MAX_TYPED_CHARS {
        return Err(DesktopError::BadRequest(format!(
            "typing takes at most {MAX_TYPED_CHARS} characters at once (got {chars}); for \
             longer text use clipboard_set (or put it on the clipboard), then press ctrl+v"
        )));
    }
    agentdesk_x11::keys::text_keysyms(text)?;
    Ok(())
}

/// The desktop's input, held (`Desktop::take_input`).
pub(crate) struct InputGuard<'a> {
    _turn: Option<tokio::sync::MutexGuard<'a, ()>>,
    _input: tokio::sync::MutexGuard<'a, ()>,
}
