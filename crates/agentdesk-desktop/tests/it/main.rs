//! agentdesk-desktop against real X servers with a real window manager and real apps.

use std::process::Command;
use std::time::{Duration, Instant};

use agentdesk_desktop::{
    Button, Desktop, DesktopConfig, DesktopError, DesktopId, Format, PointerAction, Size,
    XServerKind,
};

async fn desktop(dir: &tempfile::TempDir) -> Desktop {
    desktop_on(dir, XServerKind::Xvfb).await
}

async fn desktop_on(dir: &tempfile::TempDir, x_server: XServerKind) -> Desktop {
    let config = DesktopConfig {
        id: DesktopId("test".into()),
        x_server,
        size: Size {
            width: 1024,
            height: 768,
        },
        glx: false,
        data_dir: dir.path().join("data"),
        runtime_dir: dir.path().join("run"),
        window_manager: true,
        session_bus: true,
        background: 0x203040,
        // Short, so the hung-server test finds out quickly.
        command_timeout: Duration::from_secs(5),
    };
    Desktop::start(config)
        .await
        .expect("desktop must start (run scripts/test.sh to install Xvfb and IceWM)")
}

/// Runs xdotool on the desktop's display and returns its trimmed stdout.
fn xdotool(desktop: &Desktop, args: &[&str]) -> String {
    let out = Command::new("xdotool")
        .args(args)
        .env("DISPLAY", desktop.display().expect("desktop is running"))
        .output()
        .expect("xdotool must run (scripts/test.sh installs it)");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Launches an xterm with `title` at `geometry` and waits until its window is mapped.
async fn xterm(desktop: &Desktop, title: &str, geometry: &str) {
    desktop
        .app_launch(&format!("xterm -T {title} -geometry {geometry}"))
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while xdotool(
        desktop,
        &["search", "--onlyvisible", "--name", &format!("^{title}$")],
    )
    .is_empty()
    {
        assert!(Instant::now() < deadline, "xterm {title} never appeared");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Let the window manager finish placing and the terminal draw its prompt.
    tokio::time::sleep(Duration::from_millis(400)).await;
}

fn focused_window_name(desktop: &Desktop) -> String {
    xdotool(desktop, &["getwindowfocus", "getwindowname"])
}

#[tokio::test(flavor = "multi_thread")]
async fn a_click_focuses_the_clicked_window() {
    let dir = tempfile::tempdir().unwrap();
    let desktop = desktop(&dir).await;
    xterm(&desktop, "left-term", "40x10+0+0").await;
    xterm(&desktop, "right-term", "40x10+500+300").await;
    // Inside the left terminal (IceWM adds a title bar above the geometry's origin).
    desktop
        .pointer(PointerAction::Click {
            x: 100,
            y: 100,
            button: Button::Left,
            count: 1,
        })
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while focused_window_name(&desktop) != "left-term" {
        assert!(
            Instant::now() < deadline,
            "focus is on {:?}",
            focused_window_name(&desktop)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    desktop
        .pointer(PointerAction::Click {
            x: 650,
            y: 400,
            button: Button::Left,
            count: 1,
        })
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while focused_window_name(&desktop) != "right-term" {
        assert!(
            Instant::now() < deadline,
            "focus is on {:?}",
            focused_window_name(&desktop)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    desktop.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn five_typed_characters_are_a_visible_change_and_nothing_is_not() {
    let dir = tempfile::tempdir().unwrap();
    let desktop = desktop(&dir).await;
    xterm(&desktop, "typing", "80x24+0+0").await;
    desktop
        .pointer(PointerAction::Click {
            x: 200,
            y: 150,
            button: Button::Left,
            count: 1,
        })
        .await
        .unwrap();
    let reaction = desktop.type_text("hello").await.unwrap();
    assert!(
        reaction.changed,
        "typing into a terminal must be seen: {reaction:?}"
    );
    // The empty desktop background: nothing reacts to a click there.
    desktop
        .pointer(PointerAction::Click {
            x: 900,
            y: 600,
            button: Button::Left,
            count: 1,
        })
        .await
        .unwrap();
    let started = Instant::now();
    let reaction = desktop
        .pointer(PointerAction::Click {
            x: 900,
            y: 600,
            button: Button::Left,
            count: 1,
        })
        .await
        .unwrap();
    assert!(!reaction.changed, "{reaction:?}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "no-change answer took {:?}",
        started.elapsed()
    );
    desktop.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_crashed_x_server_is_restarted_and_calls_say_so_meanwhile() {
    let dir = tempfile::tempdir().unwrap();
    let desktop = desktop(&dir).await;
    let shot = desktop.screenshot(None, Format::Png, false).await.unwrap();
    assert_eq!(
        shot.size,
        Size {
            width: 1024,
            height: 768
        }
    );
    let pid = desktop.x_server_pid().unwrap();
    Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .unwrap();
    // Immediately after the crash: a clear "restarting" error (or, if the restart already
    // finished, a screenshot) — never a hang.
    let during = tokio::time::timeout(
        Duration::from_secs(5),
        desktop.screenshot(None, Format::Png, false),
    )
    .await
    .expect("a call during a restart must not hang");
    if let Err(e) = &during {
        assert!(matches!(e, DesktopError::NotReady { .. }), "{e:?}");
        assert!(e.to_string().contains("try again"), "{e}");
    }
    // The kill is noticed asynchronously; wait for a new X server, not just "running".
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        match desktop.x_server_pid() {
            Some(new) if new != pid => break,
            _ => assert!(Instant::now() < deadline, "the desktop never came back"),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    desktop.wait_ready(Duration::from_secs(5)).await.unwrap();
    let shot = desktop.screenshot(None, Format::Webp, true).await.unwrap();
    assert_eq!(
        shot.size,
        Size {
            width: 1024,
            height: 768
        }
    );
    desktop.stop().await;
    // Stopped means stopped: the X server is gone.
    assert!(!std::path::Path::new(&format!(
        "/proc/{}",
        desktop.x_server_pid().unwrap_or(u32::MAX)
    ))
    .exists());
}

/// GTK resolves keysyms lazily, which is where remapping races show (spike.md §4): type mixed
/// scripts into Mousepad, copy it with the keyboard, read it back through our clipboard.
#[tokio::test(flavor = "multi_thread")]
async fn unicode_typed_into_gtk_comes_back_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let desktop = desktop(&dir).await;
    desktop.app_launch("mousepad").await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while xdotool(
        &desktop,
        &["search", "--onlyvisible", "--class", "mousepad"],
    )
    .is_empty()
    {
        assert!(Instant::now() < deadline, "mousepad never appeared");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Mousepad may open a dialog or infobar first (e.g. about running as root); Escape closes
    // a dialog and is harmless in the editor. Then wait until its window has the focus.
    tokio::time::sleep(Duration::from_millis(800)).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while !focused_window_name(&desktop)
        .to_lowercase()
        .contains("mousepad")
    {
        assert!(
            Instant::now() < deadline,
            "mousepad never got the focus: {:?}",
            focused_window_name(&desktop)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let text = "Grüße – 你好世界 こんにちは αβγδε ✓ №42 ½ € Ünïcödé done\nsecond line\twith tab";
    let reaction = desktop.type_text(text).await.unwrap();
    assert!(reaction.changed, "{reaction:?}");
    desktop
        .press_keys(agentdesk_desktop::KeyCombo::parse("ctrl+a").unwrap())
        .await
        .unwrap();
    desktop
        .press_keys(agentdesk_desktop::KeyCombo::parse("ctrl+c").unwrap())
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let copied = desktop.clipboard_get().await.unwrap();
        if copied == text {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "mousepad holds {copied:?}, expected {text:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    desktop.stop().await;
}

/// A hung X server (here: stopped with SIGSTOP) must give callers an error, not a hang, and
/// the supervisor must replace it.
#[tokio::test(flavor = "multi_thread")]
async fn a_hung_x_server_is_detected_and_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let desktop = desktop(&dir).await;
    let pid = desktop.x_server_pid().unwrap();
    Command::new("kill")
        .args(["-STOP", &pid.to_string()])
        .status()
        .unwrap();
    let started = Instant::now();
    let result = tokio::time::timeout(
        Duration::from_secs(30),
        desktop.screenshot(None, Format::Png, false),
    )
    .await
    .expect("a call to a hung X server must not hang");
    let err = result.expect_err("a stopped X server cannot answer");
    assert!(matches!(err, DesktopError::NotReady { .. }), "{err:?}");
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "took {:?}",
        started.elapsed()
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match desktop.x_server_pid() {
            Some(new) if new != pid => break,
            _ => assert!(
                Instant::now() < deadline,
                "the hung X server was never replaced"
            ),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    desktop.wait_ready(Duration::from_secs(5)).await.unwrap();
    desktop.screenshot(None, Format::Png, false).await.unwrap();
    desktop.stop().await;
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}/stat")).exists(),
        "the old X server lives on"
    );
}

/// Processes whose environment says DISPLAY=`display` and whose command is `name`.
fn processes_on(display: &str, name: &str) -> Vec<u32> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        if comm.trim() != name {
            continue;
        }
        let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
        let want = format!("DISPLAY={display}");
        if environ.split(|&b| b == 0).any(|var| var == want.as_bytes()) {
            found.push(pid);
        }
    }
    found
}

#[tokio::test(flavor = "multi_thread")]
async fn a_killed_window_manager_is_restarted() {
    let dir = tempfile::tempdir().unwrap();
    let desktop = desktop(&dir).await;
    let display = desktop.display().unwrap();
    let before = processes_on(&display, "icewm");
    assert_eq!(before.len(), 1, "one icewm on {display}: {before:?}");
    Command::new("kill")
        .args(["-9", &before[0].to_string()])
        .status()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let now = processes_on(&display, "icewm");
        if now.len() == 1 && now[0] != before[0] {
            break;
        }
        assert!(Instant::now() < deadline, "icewm never came back: {now:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    desktop.stop().await;
    assert!(
        processes_on(&display, "icewm").is_empty(),
        "icewm outlived its desktop"
    );
}

/// Firefox maps keys itself; check it too: load a page with a text field through the address
/// bar, type mixed scripts, copy them with the keyboard, read them back.
#[tokio::test(flavor = "multi_thread")]
async fn unicode_typed_into_firefox_comes_back_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let desktop = desktop(&dir).await;
    desktop.app_launch("firefox-esr").await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !focused_window_name(&desktop).contains("Firefox") {
        assert!(
            Instant::now() < deadline,
            "Firefox never got the focus: {:?}",
            focused_window_name(&desktop)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let combo = |keys: &str| agentdesk_desktop::KeyCombo::parse(keys).unwrap();
    let page = "data:text/html,<title>agentdesk-typing</title><textarea autofocus></textarea>";
    // The first-run page may still be loading; retry the address bar until our page is up.
    let deadline = Instant::now() + Duration::from_secs(30);
    while !focused_window_name(&desktop).contains("agentdesk-typing") {
        assert!(
            Instant::now() < deadline,
            "the page never loaded: {:?}",
            focused_window_name(&desktop)
        );
        desktop.press_keys(combo("ctrl+l")).await.unwrap();
        desktop.type_text(&format!("{page}\n")).await.unwrap();
        tokio::time::sleep(Duration::from_millis(1500)).await;
    }
    let text = "Grüße – 你好世界 こんにちは αβγδε ✓ №42 ½ € done";
    desktop.type_text(text).await.unwrap();
    desktop.press_keys(combo("ctrl+a")).await.unwrap();
    desktop.press_keys(combo("ctrl+c")).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let copied = desktop.clipboard_get().await.unwrap();
        if copied == text {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "Firefox holds {copied:?}, expected {text:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    desktop.stop().await;
}

/// Something on the desktop resizing the screen (`xrandr`) must not break it: capture,
/// coordinates and feedback follow the new size. Xvnc, the product's X server, allows it.
#[tokio::test(flavor = "multi_thread")]
async fn a_screen_resized_from_inside_is_followed() {
    let dir = tempfile::tempdir().unwrap();
    let desktop = desktop_on(&dir, XServerKind::Xvnc).await;
    let display = desktop.display().unwrap();
    // xrandr resizes the screen, then complains that the output no longer fits it (and exits
    // 1); the resize is what matters here.
    Command::new("xrandr")
        .args(["--fb", "800x600"])
        .env("DISPLAY", &display)
        .output()
        .expect("xrandr must run (scripts/test.sh installs x11-xserver-utils)");
    let deadline = Instant::now() + Duration::from_secs(5);
    while desktop.screen_size()
        != (Size {
            width: 800,
            height: 600,
        })
    {
        assert!(
            Instant::now() < deadline,
            "size is still {}",
            desktop.screen_size()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let shot = desktop.screenshot(None, Format::Png, false).await.unwrap();
    assert_eq!(
        shot.size,
        Size {
            width: 800,
            height: 600
        }
    );
    desktop
        .pointer(PointerAction::Click {
            x: 700,
            y: 500,
            button: Button::Left,
            count: 1,
        })
        .await
        .unwrap();
    desktop.stop().await;
}

/// A drag is a real drag: pulling a window by its title bar moves it.
#[tokio::test(flavor = "multi_thread")]
async fn dragging_a_title_bar_moves_the_window() {
    let dir = tempfile::tempdir().unwrap();
    let desktop = desktop(&dir).await;
    xterm(&desktop, "dragged", "40x10+100+100").await;
    let position = |desktop: &Desktop| -> (i32, i32) {
        let id = xdotool(desktop, &["search", "--onlyvisible", "--name", "^dragged$"]);
        let geometry = xdotool(
            desktop,
            &["getwindowgeometry", "--shell", id.lines().next().unwrap()],
        );
        let field = |name: &str| -> i32 {
            geometry
                .lines()
                .find_map(|l| l.strip_prefix(&format!("{name}=")))
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("no {name} in {geometry:?}"))
        };
        (field("X"), field("Y"))
    };
    let before = position(&desktop);
    // IceWM's title bar sits just above the client area that starts at (100, 100).
    let (from_x, from_y) = ((before.0 + 60) as u32, (before.1 - 10).max(1) as u32);
    desktop
        .pointer(PointerAction::Drag {
            from: (from_x, from_y),
            to: (from_x + 300, from_y + 200),
            button: Button::Left,
        })
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let after = position(&desktop);
        if after.0 - before.0 >= 250 && after.1 - before.1 >= 150 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "window stayed near {before:?}: now {after:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    desktop.stop().await;
}

/// The wheel reaches the app: a terminal with scrollback scrolls up (a visible change); at the
/// bottom already, scrolling further down changes nothing.
#[tokio::test(flavor = "multi_thread")]
async fn scrolling_moves_a_terminal_through_its_scrollback() {
    let dir = tempfile::tempdir().unwrap();
    let desktop = desktop(&dir).await;
    xterm(&desktop, "scrolled", "80x24+0+0").await;
    desktop
        .pointer(PointerAction::Click {
            x: 200,
            y: 150,
            button: Button::Left,
            count: 1,
        })
        .await
        .unwrap();
    desktop.type_text("seq 1 300\n").await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let scroll = |direction| PointerAction::Scroll {
        x: 200,
        y: 150,
        direction,
        amount: 3,
    };
    let down = desktop
        .pointer(scroll(agentdesk_desktop::ScrollDirection::Down))
        .await
        .unwrap();
    assert!(!down.changed, "already at the bottom: {down:?}");
    let up = desktop
        .pointer(scroll(agentdesk_desktop::ScrollDirection::Up))
        .await
        .unwrap();
    assert!(
        up.changed,
        "scrolling up through 300 lines must show: {up:?}"
    );
    desktop.stop().await;
}
