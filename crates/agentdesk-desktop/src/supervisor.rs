//! Keeping a desktop's processes alive: starting a session (X server, connection, bus, window
//! manager), watching it, and starting over or restarting pieces when something dies or hangs.
//!
//! State changes are published on the desktop's `state` channel; tool calls read it and answer
//! "the desktop is restarting" instead of waiting while a session is being replaced.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use agentdesk_display::{
    start_bus, start_window_manager, start_x_server, Child, Launcher, Sandbox, SandboxConfig,
    WindowManagerConfig, XServerConfig,
};
use agentdesk_x11::{KeyCombo, X11Config, XHandle};
use anyhow::Context as _;
use tokio::sync::oneshot;

use crate::desktop::{DesktopConfig, Inner, Session, State};

/// The processes of one running session.
struct Running {
    session: Session,
    x: Child,
    bus: Option<Child>,
    wm: Option<Child>,
    display: u32,
    /// How the window manager was (and is, when restarted) configured.
    wm_config: WindowManagerConfig,
}

/// The session's sandbox (or agentdesk itself, `--no-sandbox`).
async fn launcher(config: &DesktopConfig) -> anyhow::Result<Launcher> {
    let Some(policy) = &config.sandbox else {
        if !config.network {
            anyhow::bail!("network off needs the desktop sandbox, which --no-sandbox turned off");
        }
        return Ok(Launcher::Host);
    };
    let sandbox = Sandbox::start(&SandboxConfig {
        id: config.id.to_string(),
        runtime_dir: config.runtime_dir.clone(),
        conf_dir: config.conf_dir(),
        home: config.home(),
        hide_dirs: policy.hide_dirs.clone(),
        hide_files: policy.hide_files.clone(),
        network: config.network,
        init_exe: policy.init_exe.clone(),
        limits: policy.limits,
        cgroups: policy.cgroups.clone(),
        server: policy.server.clone(),
    })
    .await?;
    Ok(Launcher::Sandbox(sandbox))
}

/// The PATH of processes on the desktop: ours, plus the games directories Debian's games (and
/// their .desktop files) use.
pub(crate) fn desktop_path() -> String {
    let path = std::env::var("PATH").unwrap_or_else(|_| "/usr/local/bin:/usr/bin:/bin".into());
    format!("{path}:/usr/games:/usr/local/games")
}

/// Environment every process on the desktop gets. Deliberately small: nothing of agentdesk's
/// own environment leaks into the desktop beyond what apps need to run. `data_home` is the
/// apps' `XDG_DATA_HOME` under a launch policy (see `Apps::launchers`).
fn base_env(
    config: &DesktopConfig,
    display: u32,
    data_home: Option<&Path>,
) -> Vec<(String, String)> {
    let mut env = vec![
        ("DISPLAY".to_string(), format!(":{display}")),
        (
            "XAUTHORITY".to_string(),
            xauthority_path(config).display().to_string(),
        ),
        ("HOME".to_string(), config.home().display().to_string()),
        ("PATH".to_string(), desktop_path()),
        (
            "XDG_RUNTIME_DIR".to_string(),
            config.runtime_dir.display().to_string(),
        ),
        (
            "LANG".to_string(),
            std::env::var("LANG").unwrap_or_else(|_| "C.UTF-8".into()),
        ),
        ("SHELL".to_string(), "/bin/bash".to_string()),
        // With `home.rs`: apps start clean. Firefox uses the profiles.ini default (not a
        // profile per installation) and shows no crash reporter; GSettings (Mousepad's
        // settings) live in a keyfile in the home, where agentdesk wrote what they need.
        ("MOZ_LEGACY_PROFILES".to_string(), "1".to_string()),
        ("MOZ_CRASHREPORTER_DISABLE".to_string(), "1".to_string()),
        ("GSETTINGS_BACKEND".to_string(), "keyfile".to_string()),
        // Accessibility on (ui_tree, ui_find, ui_action): GTK reports to the accessibility
        // bus whenever there is one; Firefox, Chromium and Qt only when asked.
        ("GNOME_ACCESSIBILITY".to_string(), "1".to_string()),
        ("ACCESSIBILITY_ENABLED".to_string(), "1".to_string()),
        (
            "QT_LINUX_ACCESSIBILITY_ALWAYS_ON".to_string(),
            "1".to_string(),
        ),
    ];
    for key in ["USER", "LOGNAME", "TZ"] {
        if let Ok(v) = std::env::var(key) {
            env.push((key.to_string(), v));
        }
    }
    if let Ok(data_dirs) = std::env::var("XDG_DATA_DIRS") {
        env.push(("XDG_DATA_DIRS".to_string(), data_dirs));
    }
    if let Some(data_home) = data_home {
        env.push(("XDG_DATA_HOME".to_string(), data_home.display().to_string()));
        // run-mailcap, xdg-open's last resort, reads /etc/mailcap, whose entries start
        // terminal programs (vim, less) in a terminal emulator: give it an empty list instead.
        env.push(("MAILCAPS".to_string(), "/dev/null".to_string()));
    }
    env
}

/// The desktop's Xauthority file, in its private runtime directory.
pub(crate) fn xauthority_path(config: &DesktopConfig) -> std::path::PathBuf {
    config.conf_dir().join("Xauthority")
}

async fn start_session(inner: &Inner, display_hint: Option<u32>) -> anyhow::Result<Running> {
    let config = &inner.config;
    // Made new at every start: the last session's sandbox could write there (a symlink in
    // place of a file agentdesk writes, or of a directory bwrap binds, would reach out of it).
    for dir in [config.runtime_dir.clone(), config.conf_dir()] {
        agentdesk_display::fresh_dir(&dir)
            .with_context(|| format!("error preparing {}", dir.display()))?;
    }
    // The apps' settings, and no stale locks from a session that was killed.
    crate::home::prepare(&config.home());
    // The cookie is the desktop's for its whole life; its file is written at every start.
    let auth_file = xauthority_path(config);
    agentdesk_display::write_xauthority(&auth_file, &inner.cookie)?;
    let launcher = launcher(config).await?;
    match start_processes(inner, display_hint, launcher.clone(), auth_file).await {
        Ok(running) => Ok(running),
        Err(e) => {
            if let Some(sandbox) = launcher.sandbox() {
                sandbox.stop().await;
            }
            Err(e)
        }
    }
}

async fn start_processes(
    inner: &Inner,
    display_hint: Option<u32>,
    launcher: Launcher,
    auth_file: std::path::PathBuf,
) -> anyhow::Result<Running> {
    let config = &inner.config;
    let mut x_config = XServerConfig {
        kind: config.x_server,
        width: config.size.width,
        height: config.size.height,
        glx: config.glx,
        display: display_hint,
        rfb_socket: Some(config.runtime_dir.join("rfb.sock")),
        auth_file: Some(auth_file),
        ready_timeout: Duration::from_secs(10),
        runtime_dir: Some(config.runtime_dir.clone()),
    };
    // Inside a sandbox the X server has a /tmp of its own: any display number is free there.
    let server = match start_x_server(&launcher, &x_config).await {
        Ok(server) => server,
        // The old display number may have been taken meanwhile; let the server pick one.
        Err(e) if display_hint.is_some() => {
            tracing::debug!("restart on the same display failed ({e}); picking a new one");
            x_config.display = None;
            start_x_server(&launcher, &x_config).await?
        }
        Err(e) => return Err(e.into()),
    };
    let display = server.display;
    let x_handle = {
        let x11 = X11Config {
            display: format!(":{display}"),
            background: Some(config.background),
            command_timeout: config.command_timeout,
            cookie: Some(inner.cookie),
            socket_dir: launcher
                .sandbox()
                .map(|_| SandboxConfig::x11_dir(&config.runtime_dir)),
            server_pid: Some(server.child.id()),
        };
        tokio::task::spawn_blocking(move || agentdesk_x11::connect(&x11))
            .await
            .context("the X connection task failed")??
    };
    let launchers = inner.apps.launchers(&config.home(), &config.conf_dir())?;
    let mut env = base_env(config, display, launchers.data_home.as_deref());
    let bus = if config.session_bus {
        let bus = start_bus(
            &launcher,
            &config.runtime_dir.join("bus"),
            &config.conf_dir().join("bus"),
            &env,
        )
        .await?;
        env.push(("DBUS_SESSION_BUS_ADDRESS".into(), bus.address.clone()));
        Some(bus.child)
    } else {
        None
    };
    let bus_pid = bus.as_ref().map(|b| b.id());
    let wm_config = WindowManagerConfig {
        config_dir: config.conf_dir().join("icewm"),
        menu: launchers.menu,
    };
    let wm = if config.window_manager {
        let wm = start_window_manager(&launcher, &wm_config, &env).await?;
        load_menu_soon(inner, &x_handle).await;
        Some(wm)
    } else {
        None
    };
    Ok(Running {
        session: Session {
            x: x_handle,
            env: Arc::new(env),
            x_pid: server.child.id(),
            bus_pid,
            rfb_socket: server.rfb_socket,
            launcher,
        },
        x: server.child,
        bus,
        wm,
        display,
        wm_config,
    })
}

/// Loads IceWM's menu ([`load_menu`]) in a task that holds the desktop's input lock, taken
/// before this returns: screenshots go on meanwhile (IceWM takes ~300 ms to start), and no
/// agent input can reach the menu while it is open.
async fn load_menu_soon(inner: &Inner, x: &XHandle) {
    let input = inner.input.clone().lock_owned().await;
    let x = x.clone();
    tokio::spawn(async move {
        load_menu(&x).await;
        drop(input);
    });
}

/// IceWM reads its menu file the first time its menu opens, not when it starts, and (with
/// `AutoReloadMenus=0`) never again. The desktop's apps run as agentdesk's user and could put a
/// file of their own in the menu's place before anyone opens it (the directory is read-only,
/// but a file chooser can rename it and make another); so the menu is opened here once, right
/// after IceWM starts, and closed: from then on nothing on disk changes what it offers.
async fn load_menu(x: &XHandle) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    let (Ok(open), Ok(close)) = (KeyCombo::parse("ctrl+Escape"), KeyCombo::parse("Escape")) else {
        return;
    };
    // Until IceWM runs and has grabbed its keys, Ctrl+Esc goes nowhere: press it again.
    let mut pressed_at = None;
    while tokio::time::Instant::now() < deadline {
        if x.popup_showing("icemenu").await.unwrap_or(false) {
            let _ = x.press_keys(close).await;
            // Not done until IceWM has closed it: while the menu shows, it holds the pointer
            // and keyboard, and the agent's first click would go to the menu.
            while tokio::time::Instant::now() < deadline {
                if !x.popup_showing("icemenu").await.unwrap_or(false) {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            break;
        }
        let due = pressed_at
            .is_none_or(|at: tokio::time::Instant| at.elapsed() > Duration::from_millis(300));
        if due && x.wm_ready().await.unwrap_or(false) {
            let _ = x.press_keys(open.clone()).await;
            pressed_at = Some(tokio::time::Instant::now());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tracing::warn!(
        "the window manager's menu did not open and close within 5 s; it is read on first use"
    );
}

/// A component that ran this long before it died was not crash-looping: its next restart is
/// quick again.
const HEALTHY: Duration = Duration::from_secs(30);

/// Restart delays: quick for a one-off crash, slower for a crash loop.
fn backoff(failures: u32) -> Duration {
    Duration::from_millis(250u64.saturating_mul(1 << failures.min(5)).min(8_000))
}

pub(crate) async fn supervise(inner: Arc<Inner>, first: oneshot::Sender<anyhow::Result<()>>) {
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
    // When each was last (re)started: one that ran a while before dying starts its backoff over.
    let mut wm_since = Instant::now();
    let mut bus_since = Instant::now();
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
                if wm_since.elapsed() > HEALTHY {
                    wm_failures = 0;
                }
                wm_failures += 1;
                wm_retry = Some(tokio::time::Instant::now() + backoff(wm_failures - 1));
            }
            status = wait_opt(&mut running.bus) => {
                running.bus = None;
                tracing::warn!("session bus exited ({status}); restarting it");
                if bus_since.elapsed() > HEALTHY {
                    bus_failures = 0;
                }
                bus_failures += 1;
                bus_retry = Some(tokio::time::Instant::now() + backoff(bus_failures - 1));
            }
            () = sleep_until_opt(wm_retry) => {
                wm_retry = None;
                match start_window_manager(
                    &running.session.launcher,
                    &running.wm_config,
                    &running.session.env,
                )
                .await
                {
                    Ok(wm) => {
                        wm_since = Instant::now();
                        running.wm = Some(wm);
                        load_menu_soon(inner, &running.session.x).await;
                    }
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
                let bus_conf = inner.config.conf_dir().join("bus");
                let _ = std::fs::remove_file(&socket);
                // Same socket path, so the address apps already hold stays valid.
                let started = tokio::select! {
                    started = start_bus(
                        &running.session.launcher,
                        &socket,
                        &bus_conf,
                        &running.session.env,
                    ) => started,
                    () = inner.shutdown.cancelled() => return std::ops::ControlFlow::Break(()),
                };
                match started {
                    Ok(bus) => {
                        bus_since = Instant::now();
                        // The accessibility tools check who serves the bus's socket.
                        running.session.bus_pid = Some(bus.child.id());
                        inner
                            .state
                            .send_replace(State::Running(running.session.clone()));
                        *inner.a11y.lock().await = None;
                        running.bus = Some(bus.child);
                    }
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
    if let Some(sandbox) = running.session.launcher.sandbox() {
        sandbox.stop().await;
    }
}
