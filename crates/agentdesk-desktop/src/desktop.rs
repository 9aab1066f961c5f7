//! [`Desktop`]: one supervised desktop, and the operations tools perform on it.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use agentdesk_display::{
    start_bus, start_window_manager, start_x_server, Child, WindowManagerConfig, XServerConfig,
    XServerKind,
};
use agentdesk_image::{Format, Rect, Size};
use agentdesk_x11::{KeyCombo, PointerAction, X11Config, XHandle};
use anyhow::Context as _;
use tokio::sync::{oneshot, watch};
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;

use crate::apps::Apps;
use crate::feedback::{self, Reaction};
use crate::{lock, DesktopError, Result};

/// Typing is paced for toolkits (a few ms per batch of new symbols); beyond this length the
/// clipboard is the better tool, and one call cannot occupy the desktop for minutes.
pub const MAX_TYPED_CHARS: usize = 10_000;

/// A desktop's name, unique within a manager ("default" for the first one).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DesktopId(pub String);

impl std::fmt::Display for DesktopId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

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
    /// Persistent per-desktop files: the session's HOME, app logs.
    pub data_dir: PathBuf,
    /// Private per-desktop runtime files: sockets, the RFB password. Mode 0700.
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
}

/// One live session: what exists between an X server start and its exit.
#[derive(Debug, Clone)]
pub(crate) struct Session {
    pub(crate) x: XHandle,
    /// Environment for processes on this session (DISPLAY, bus address, HOME, PATH ...).
    pub(crate) env: Arc<Vec<(String, String)>>,
    /// The X server's process id.
    pub(crate) x_pid: u32,
}

#[derive(Debug, Clone)]
enum State {
    Starting,
    Running(Session),
    Restarting(String),
    Stopped,
}

/// A desktop: cheap to clone; all clones drive the same desktop.
#[derive(Debug, Clone)]
pub struct Desktop {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    config: DesktopConfig,
    state: watch::Sender<State>,
    /// Input is serialized per desktop: two agents clicking at once would interleave
    /// press/release pairs and each would see the other's screen change as its own.
    input: tokio::sync::Mutex<()>,
    /// When the latest input action ended; screenshot stabilization waits past it.
    last_input: Mutex<Option<Instant>>,
    apps: Apps,
    shutdown: CancellationToken,
    supervisor: Mutex<Option<tokio::task::JoinHandle<()>>>,
    /// Reused pixel buffers: a fresh 4 MB buffer per frame cost ~8 ms in measurements.
    buffers: Mutex<Vec<Vec<u8>>>,
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
        for dir in [&config.data_dir, &config.runtime_dir] {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("error creating {}", dir.display()))?;
        }
        restrict(&config.runtime_dir)?;
        std::fs::create_dir_all(config.data_dir.join("home"))
            .context("error creating the desktop's home")?;
        let apps = Apps::new(config.data_dir.join("apps"))?;
        let (state, _) = watch::channel(State::Starting);
        let inner = Arc::new(Inner {
            config,
            state,
            input: tokio::sync::Mutex::new(()),
            last_input: Mutex::new(None),
            apps,
            shutdown: CancellationToken::new(),
            supervisor: Mutex::new(None),
            buffers: Mutex::new(Vec::new()),
        });
        let (first_tx, first_rx) = oneshot::channel();
        let span = tracing::info_span!("desktop", id = %inner.config.id);
        let task = tokio::spawn(supervise(inner.clone(), first_tx).instrument(span));
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

    /// The screen size in pixels.
    pub fn screen_size(&self) -> Size {
        self.inner.config.size
    }

    /// The X display number currently serving this desktop, if running.
    pub fn display(&self) -> Option<String> {
        self.session().ok().and_then(|s| {
            s.env
                .iter()
                .find(|(k, _)| k == "DISPLAY")
                .map(|(_, v)| v.clone())
        })
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

    fn buffer(&self) -> Vec<u8> {
        lock(&self.inner.buffers).pop().unwrap_or_default()
    }

    fn recycle(&self, buf: Vec<u8>) {
        let mut pool = lock(&self.inner.buffers);
        if pool.len() < 4 {
            pool.push(buf);
        }
    }

    /// Captures and encodes the screen (or `rect`), after it settles if `stabilize`.
    pub async fn screenshot(
        &self,
        rect: Option<Rect>,
        format: Format,
        stabilize: bool,
    ) -> Result<Shot> {
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
            let result = agentdesk_image::encode(
                &frame,
                Rect::full(frame.size),
                format,
                &mut scratch,
                &mut out,
            )
            .map(|()| out);
            (frame, scratch, result)
        })
        .await
        .map_err(|e| DesktopError::Internal(format!("encoder task failed: {e}")))?;
        self.recycle(frame.data);
        self.recycle(scratch);
        Ok(Shot {
            bytes: result?,
            mime_type: format.mime_type(),
            size,
        })
    }

    /// Runs one input action under the desktop's input lock and reports how the screen reacted.
    async fn act<F, Fut>(&self, action: F) -> Result<Reaction>
    where
        F: FnOnce(XHandle) -> Fut,
        Fut: std::future::Future<Output = agentdesk_x11::Result<()>>,
    {
        let session = self.session()?;
        let _input = self.inner.input.lock().await;
        let watcher = feedback::Watcher::arm(&session.x);
        let before = session.x.capture(None, self.buffer()).await?;
        let result = action(session.x.clone()).await;
        let ended = Instant::now();
        *lock(&self.inner.last_input) = Some(ended);
        if let Err(e) = result {
            self.recycle(before.data);
            return Err(e.into());
        }
        let (reaction, buffers) = watcher
            .wait(&session.x, before, ended, self.buffer())
            .await?;
        for buf in buffers {
            self.recycle(buf);
        }
        Ok(reaction)
    }

    /// Moves, clicks, drags or scrolls.
    pub async fn pointer(&self, action: PointerAction) -> Result<Reaction> {
        self.act(|x| async move { x.pointer(action).await }).await
    }

    /// Types text at the keyboard focus.
    pub async fn type_text(&self, text: &str) -> Result<Reaction> {
        let chars = text.chars().count();
        if chars > MAX_TYPED_CHARS {
            return Err(DesktopError::BadRequest(format!(
                "key_type takes at most {MAX_TYPED_CHARS} characters (got {chars}); for longer \
                 text use clipboard_set, then key_press(\"ctrl+v\")"
            )));
        }
        // Validate before touching anything, so a bad character types nothing at all.
        agentdesk_x11::keys::text_keysyms(text)?;
        let text = text.to_owned();
        self.act(|x| async move { x.type_text(&text).await }).await
    }

    /// Presses a key combination.
    pub async fn press_keys(&self, combo: KeyCombo) -> Result<Reaction> {
        self.act(|x| async move { x.press_keys(combo).await }).await
    }

    /// Puts text on the clipboard; it stays there until something else is copied.
    pub async fn clipboard_set(&self, text: String) -> Result<()> {
        Ok(self.session()?.x.clipboard_set(text).await?)
    }

    /// Reads the clipboard as text.
    pub async fn clipboard_get(&self) -> Result<String> {
        Ok(self.session()?.x.clipboard_get().await?)
    }

    /// The applications that can be launched: (name, executable).
    pub fn app_list(&self) -> Vec<(String, String)> {
        self.inner.apps.list(&self.home())
    }

    /// Launches an application from [`Desktop::app_list`]; returns (pid, log file).
    pub async fn app_launch(&self, command: &str) -> Result<(u32, PathBuf)> {
        let session = self.session()?;
        self.inner.apps.launch(command, &self.home(), &session.env)
    }

    /// Whether a launched app runs, and its newest output lines: (pid, running, log file, tail).
    pub fn app_status(&self, pid: i64, lines: usize) -> Result<(u32, bool, PathBuf, String)> {
        self.inner.apps.status(pid, lines)
    }

    fn home(&self) -> PathBuf {
        self.inner.config.data_dir.join("home")
    }

    /// Stops the desktop: apps, window manager, bus and X server, in that order.
    pub async fn stop(&self) {
        // Apps first, while their X server still runs: they get to exit cleanly.
        self.inner.apps.stop_all().await;
        self.inner.shutdown.cancel();
        let task = lock(&self.inner.supervisor).take();
        if let Some(task) = task {
            let _ = task.await;
        }
    }
}

fn restrict(dir: &std::path::Path) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
        .with_context(|| format!("error restricting {}", dir.display()))
}

/// The processes of one running session.
struct Running {
    session: Session,
    x: Child,
    bus: Option<Child>,
    wm: Option<Child>,
    display: u32,
}

/// Environment every process on the desktop gets. Deliberately small: nothing of agentdesk's
/// own environment leaks into the desktop beyond what apps need to run.
fn base_env(config: &DesktopConfig, display: u32) -> Vec<(String, String)> {
    let path = std::env::var("PATH").unwrap_or_else(|_| "/usr/local/bin:/usr/bin:/bin".into());
    let mut env = vec![
        ("DISPLAY".to_string(), format!(":{display}")),
        (
            "HOME".to_string(),
            config.data_dir.join("home").display().to_string(),
        ),
        (
            "PATH".to_string(),
            format!("{path}:/usr/games:/usr/local/games"),
        ),
        (
            "XDG_RUNTIME_DIR".to_string(),
            config.runtime_dir.display().to_string(),
        ),
        (
            "LANG".to_string(),
            std::env::var("LANG").unwrap_or_else(|_| "C.UTF-8".into()),
        ),
        ("SHELL".to_string(), "/bin/bash".to_string()),
    ];
    for key in ["USER", "LOGNAME", "XDG_DATA_DIRS", "TZ"] {
        if let Ok(v) = std::env::var(key) {
            env.push((key.to_string(), v));
        }
    }
    env
}

async fn start_session(inner: &Inner, display_hint: Option<u32>) -> anyhow::Result<Running> {
    let config = &inner.config;
    let password_file = config.runtime_dir.join("rfb.passwd");
    if config.x_server == XServerKind::Xvnc && !password_file.exists() {
        let password: String = {
            use rand::Rng;
            rand::rng()
                .sample_iter(rand::distr::Alphanumeric)
                .take(8)
                .map(char::from)
                .collect()
        };
        agentdesk_display::write_vnc_password_file(&password_file, &password)?;
    }
    let mut x_config = XServerConfig {
        kind: config.x_server,
        width: config.size.width,
        height: config.size.height,
        glx: config.glx,
        display: display_hint,
        rfb_port: None,
        rfb_password_file: Some(password_file),
        ready_timeout: Duration::from_secs(10),
    };
    let server = match start_x_server(&x_config).await {
        Ok(server) => server,
        // The old display number may have been taken meanwhile; let the server pick one.
        Err(e) if display_hint.is_some() => {
            tracing::debug!("restart on the same display failed ({e}); picking a new one");
            x_config.display = None;
            start_x_server(&x_config).await?
        }
        Err(e) => return Err(e.into()),
    };
    let display = server.display;
    let x_handle = {
        let x11 = X11Config {
            display: format!(":{display}"),
            background: Some(config.background),
            command_timeout: config.command_timeout,
        };
        tokio::task::spawn_blocking(move || agentdesk_x11::connect(&x11))
            .await
            .context("the X connection task failed")??
    };
    let mut env = base_env(config, display);
    let bus = if config.session_bus {
        let bus = start_bus(&config.runtime_dir.join("bus"), &env).await?;
        env.push(("DBUS_SESSION_BUS_ADDRESS".into(), bus.address.clone()));
        Some(bus.child)
    } else {
        None
    };
    let wm = if config.window_manager {
        Some(start_window_manager(&wm_config(config), &env)?)
    } else {
        None
    };
    Ok(Running {
        session: Session {
            x: x_handle,
            env: Arc::new(env),
            x_pid: server.child.id(),
        },
        x: server.child,
        bus,
        wm,
        display,
    })
}

fn wm_config(config: &DesktopConfig) -> WindowManagerConfig {
    WindowManagerConfig {
        config_dir: config.runtime_dir.join("icewm"),
    }
}

/// Restart delays: quick for a one-off crash, slower for a crash loop.
fn backoff(failures: u32) -> Duration {
    Duration::from_millis(250u64.saturating_mul(1 << failures.min(5)).min(8_000))
}

async fn supervise(inner: Arc<Inner>, first: oneshot::Sender<anyhow::Result<()>>) {
    let mut first = Some(first);
    let mut display = None;
    let mut failures = 0u32;
    while !inner.shutdown.is_cancelled() {
        let started = tokio::select! {
            started = start_session(&inner, display) => started,
            () = inner.shutdown.cancelled() => break,
        };
        let mut running = match started {
            Ok(running) => running,
            Err(e) => {
                if let Some(first) = first.take() {
                    let _ = first.send(Err(e));
                    inner.state.send_replace(State::Stopped);
                    return;
                }
                failures += 1;
                tracing::warn!("error restarting the desktop (attempt {failures}): {e:#}");
                tokio::select! {
                    () = tokio::time::sleep(backoff(failures)) => continue,
                    () = inner.shutdown.cancelled() => break,
                }
            }
        };
        display = Some(running.display);
        tracing::info!(display = running.display, "desktop running");
        inner
            .state
            .send_replace(State::Running(running.session.clone()));
        if let Some(first) = first.take() {
            let _ = first.send(Ok(()));
        }
        if watch_session(&inner, &mut running, &mut failures)
            .await
            .is_break()
        {
            stop_running(running).await;
            break;
        }
        // The X server is gone; everything on it goes too, then it all starts again.
        stop_running(running).await;
        failures += 1;
        tokio::select! {
            () = tokio::time::sleep(backoff(failures.saturating_sub(1))) => {}
            () = inner.shutdown.cancelled() => break,
        }
    }
    inner.state.send_replace(State::Stopped);
}

/// Watches a running session until it must start over (`Continue`: the X server exited, the
/// connection to it closed, or it stopped answering) or the desktop is stopped (`Break`).
/// A window manager or bus that dies is restarted in place, with backoff, and retried until it
/// starts again.
async fn watch_session(
    inner: &Inner,
    running: &mut Running,
    failures: &mut u32,
) -> std::ops::ControlFlow<()> {
    let healthy_after = Instant::now() + Duration::from_secs(30);
    let x = running.session.x.clone();
    let mut wm_failures = 0u32;
    let mut bus_failures = 0u32;
    // When a component is down, the time to try starting it again.
    let mut wm_retry: Option<tokio::time::Instant> = None;
    let mut bus_retry: Option<tokio::time::Instant> = None;
    let why = loop {
        tokio::select! {
            // X first: when it dies, everything else dies with it and must not be restarted
            // against a dead display.
            biased;
            () = inner.shutdown.cancelled() => return std::ops::ControlFlow::Break(()),
            status = running.x.wait() => break format!("its X server exited ({status})"),
            () = x.closed() => break "its X connection closed".to_string(),
            () = x.stalled() => break "its X server stopped answering".to_string(),
            status = wait_opt(&mut running.wm) => {
                // Take the exited child out, or waiting on it would fire again at once.
                running.wm = None;
                tracing::warn!("window manager exited ({status}); restarting it");
                wm_failures += 1;
                wm_retry = Some(tokio::time::Instant::now() + backoff(wm_failures - 1));
            }
            status = wait_opt(&mut running.bus) => {
                running.bus = None;
                tracing::warn!("session bus exited ({status}); restarting it");
                bus_failures += 1;
                bus_retry = Some(tokio::time::Instant::now() + backoff(bus_failures - 1));
            }
            () = sleep_until_opt(wm_retry) => {
                wm_retry = None;
                match start_window_manager(&wm_config(&inner.config), &running.session.env) {
                    Ok(wm) => running.wm = Some(wm),
                    Err(e) => {
                        wm_failures += 1;
                        tracing::warn!("error restarting the window manager (attempt {wm_failures}): {e}");
                        wm_retry = Some(tokio::time::Instant::now() + backoff(wm_failures));
                    }
                }
            }
            () = sleep_until_opt(bus_retry) => {
                bus_retry = None;
                let socket = inner.config.runtime_dir.join("bus");
                let _ = std::fs::remove_file(&socket);
                // Same socket path, so the address apps already hold stays valid.
                let started = tokio::select! {
                    started = start_bus(&socket, &running.session.env) => started,
                    () = inner.shutdown.cancelled() => return std::ops::ControlFlow::Break(()),
                };
                match started {
                    Ok(bus) => running.bus = Some(bus.child),
                    Err(e) => {
                        bus_failures += 1;
                        tracing::warn!("error restarting the session bus (attempt {bus_failures}): {e}");
                        bus_retry = Some(tokio::time::Instant::now() + backoff(bus_failures));
                    }
                }
            }
        }
    };
    tracing::warn!("restarting the desktop: {why}");
    inner
        .state
        .send_replace(State::Restarting(format!("restarting ({why})")));
    if Instant::now() > healthy_after {
        *failures = 0;
    }
    std::ops::ControlFlow::Continue(())
}

async fn sleep_until_opt(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

async fn wait_opt(child: &mut Option<Child>) -> std::process::ExitStatus {
    match child {
        Some(child) => child.wait().await,
        None => std::future::pending().await,
    }
}

async fn stop_running(mut running: Running) {
    let grace = Duration::from_secs(2);
    if let Some(wm) = running.wm.as_mut() {
        wm.stop(grace).await;
    }
    if let Some(bus) = running.bus.as_mut() {
        bus.stop(grace).await;
    }
    running.x.stop(grace).await;
}
