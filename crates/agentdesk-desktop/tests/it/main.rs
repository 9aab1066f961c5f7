//! agentdesk-desktop against real X servers with a real window manager and real apps.

use std::process::Command;
use std::time::{Duration, Instant};

use agentdesk_desktop::{
    Button, ControlView, Desktop, DesktopConfig, DesktopError, DesktopId, Format, KeyCombo,
    PointerAction, Reaction, ScrollDirection, Size, Viewer, XServerKind,
};
use agentdesk_test_support::eventually;

const SCREEN: Size = Size {
    width: 1024,
    height: 768,
};

async fn desktop(dir: &tempfile::TempDir) -> Desktop {
    desktop_on(dir, XServerKind::Xvfb).await
}

async fn desktop_on(dir: &tempfile::TempDir, x_server: XServerKind) -> Desktop {
    let config = DesktopConfig {
        id: DesktopId::parse("test").unwrap(),
        x_server,
        size: SCREEN,
        glx: false,
        data_dir: dir.path().join("data"),
        runtime_dir: dir.path().join("run"),
        window_manager: true,
        session_bus: true,
        background: 0x203040,
        // Short, so the hung-server test finds out quickly.
        command_timeout: Duration::from_secs(5),
        app_policy: Default::default(),
        control_idle: Duration::from_secs(300),
        sandbox: None,
        network: true,
    };
    Desktop::start(config)
        .await
        .expect("desktop must start (run scripts/test.sh to install Xvfb and IceWM)")
}

/// Runs xdotool on the desktop's display and returns its trimmed stdout.
/// `program` as a local X client of the desktop: its display and its Xauthority cookie.
fn x_client(desktop: &Desktop, program: &str) -> Command {
    let mut cmd = Command::new(program);
    cmd.env("DISPLAY", desktop.display().expect("desktop is running"))
        .env(
            "XAUTHORITY",
            desktop.xauthority().expect("desktop is running"),
        );
    cmd
}

fn xdotool(desktop: &Desktop, args: &[&str]) -> String {
    let out = x_client(desktop, "xdotool")
        .args(args)
        .output()
        .expect("xdotool must run (scripts/test.sh installs it)");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Sends `signal` (e.g. "-9", "-STOP") to `pid`.
fn kill(signal: &str, pid: u32) {
    let status = Command::new("kill")
        .args([signal, &pid.to_string()])
        .status()
        .expect("kill must run (scripts/test.sh installs procps)");
    assert!(status.success(), "kill {signal} {pid} failed");
}

async fn click(desktop: &Desktop, x: u32, y: u32) -> Reaction {
    let click = PointerAction::Click {
        x,
        y,
        button: Button::Left,
        count: 1,
    };
    desktop.pointer(click).await.unwrap()
}

async fn press(desktop: &Desktop, keys: &str) {
    desktop
        .press_keys(KeyCombo::parse(keys).unwrap())
        .await
        .unwrap();
}

/// Waits until a visible window matches `xdotool search --onlyvisible <by> <pattern>`.
async fn window_appears(desktop: &Desktop, by: &str, pattern: &str, timeout: Duration) {
    let what = format!("a visible window with {by} {pattern}");
    eventually(timeout, Duration::from_millis(50), &what, || async {
        let found = xdotool(desktop, &["search", "--onlyvisible", by, pattern]);
        if found.is_empty() {
            Err("none".to_string())
        } else {
            Ok(())
        }
    })
    .await;
}

/// Launches an xterm with `title` at `geometry` and waits until its window is mapped.
async fn xterm(desktop: &Desktop, title: &str, geometry: &str) {
    desktop
        .app_launch(&format!("xterm -T {title} -geometry {geometry}"))
        .await
        .unwrap();
    window_appears(
        desktop,
        "--name",
        &format!("^{title}$"),
        Duration::from_secs(10),
    )
    .await;
    // Let the window manager finish placing and the terminal draw its prompt.
    tokio::time::sleep(Duration::from_millis(400)).await;
}

fn focused_window_name(desktop: &Desktop) -> String {
    xdotool(desktop, &["getwindowfocus", "getwindowname"])
}

/// Waits until the focused window's name contains `part`.
async fn focus_reaches(desktop: &Desktop, part: &str, timeout: Duration, every: Duration) {
    let what = format!("the focus on a window named like {part:?}");
    eventually(timeout, every, &what, || async {
        let name = focused_window_name(desktop);
        if name.contains(part) {
            Ok(())
        } else {
            Err(format!("the focus on {name:?}"))
        }
    })
    .await;
}

/// Selects everything in the focused text field, copies it with the keyboard, and waits until
/// our clipboard reads exactly `text` — the app received every character as typed.
async fn copied_text_is(desktop: &Desktop, text: &str) {
    press(desktop, "ctrl+a").await;
    press(desktop, "ctrl+c").await;
    let what = format!("the clipboard to hold {text:?}");
    eventually(
        Duration::from_secs(5),
        Duration::from_millis(100),
        &what,
        || async {
            let copied = desktop.clipboard_get().await.unwrap();
            if copied == text {
                Ok(())
            } else {
                Err(format!("{copied:?}"))
            }
        },
    )
    .await;
}

/// Waits until the supervisor has replaced the X server `old_pid` with a new one.
async fn x_server_replaced(desktop: &Desktop, old_pid: u32, timeout: Duration) {
    eventually(
        timeout,
        Duration::from_millis(50),
        "a new X server",
        || async {
            match desktop.x_server_pid() {
                Some(new) if new != old_pid => Ok(()),
                other => Err(format!("X server pid {other:?}")),
            }
        },
    )
    .await;
    desktop.wait_ready(Duration::from_secs(5)).await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_click_focuses_the_clicked_window() {
    let dir = tempfile::tempdir().unwrap();
    let desktop = desktop(&dir).await;
    xterm(&desktop, "left-term", "40x10+0+0").await;
    xterm(&desktop, "right-term", "40x10+500+300").await;
    // Inside the left terminal (IceWM adds a title bar above the geometry's origin).
    click(&desktop, 100, 100).await;
    let every = Duration::from_millis(50);
    focus_reaches(&desktop, "left-term", Duration::from_secs(5), every).await;
    click(&desktop, 650, 400).await;
    focus_reaches(&desktop, "right-term", Duration::from_secs(5), every).await;
    desktop.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn five_typed_characters_are_a_visible_change_and_nothing_is_not() {
    let dir = tempfile::tempdir().unwrap();
    let desktop = desktop(&dir).await;
    xterm(&desktop, "typing", "80x24+0+0").await;
    click(&desktop, 200, 150).await;
    let reaction = desktop.type_text("hello").await.unwrap();
    assert!(
        reaction.changed,
        "typing into a terminal must be seen: {reaction:?}"
    );
    // The empty desktop background: nothing reacts to a click there.
    click(&desktop, 900, 600).await;
    let started = Instant::now();
    let reaction = click(&desktop, 900, 600).await;
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
    assert_eq!(shot.size, SCREEN);
    let pid = desktop.x_server_pid().unwrap();
    kill("-9", pid);
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
    x_server_replaced(&desktop, pid, Duration::from_secs(15)).await;
    let shot = desktop.screenshot(None, Format::Webp, true).await.unwrap();
    assert_eq!(shot.size, SCREEN);
    desktop.stop().await;
    // Stopped means stopped: the X server is gone.
    assert!(!std::path::Path::new(&format!(
        "/proc/{}",
        desktop.x_server_pid().unwrap_or(u32::MAX)
    ))
    .exists());
}

/// GTK resolves keysyms lazily, which is where remapping races show (agentdesk-x11's input.rs): type mixed
/// scripts into Mousepad, copy it with the keyboard, read it back through our clipboard.
#[tokio::test(flavor = "multi_thread")]
async fn unicode_typed_into_gtk_comes_back_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let desktop = desktop(&dir).await;
    desktop.app_launch("mousepad").await.unwrap();
    window_appears(&desktop, "--class", "mousepad", Duration::from_secs(20)).await;
    // Mousepad may show an infobar first (e.g. about running as root); give it a moment, then
    // wait until its window has the focus. Its title ends in "Mousepad".
    tokio::time::sleep(Duration::from_millis(800)).await;
    focus_reaches(
        &desktop,
        "Mousepad",
        Duration::from_secs(10),
        Duration::from_millis(100),
    )
    .await;
    let text = "Grüße – 你好世界 こんにちは αβγδε ✓ №42 ½ € Ünïcödé done\nsecond line\twith tab";
    let reaction = desktop.type_text(text).await.unwrap();
    assert!(reaction.changed, "{reaction:?}");
    copied_text_is(&desktop, text).await;
    desktop.stop().await;
}

/// A hung X server (here: stopped with SIGSTOP) must give callers an error, not a hang, and
/// the supervisor must replace it.
#[tokio::test(flavor = "multi_thread")]
async fn a_hung_x_server_is_detected_and_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let desktop = desktop(&dir).await;
    let pid = desktop.x_server_pid().unwrap();
    kill("-STOP", pid);
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
    x_server_replaced(&desktop, pid, Duration::from_secs(20)).await;
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
    kill("-9", before[0]);
    eventually(
        Duration::from_secs(10),
        Duration::from_millis(100),
        "a new icewm",
        || async {
            let now = processes_on(&display, "icewm");
            if now.len() == 1 && now[0] != before[0] {
                Ok(())
            } else {
                Err(format!("icewm pids {now:?}"))
            }
        },
    )
    .await;
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
    focus_reaches(
        &desktop,
        "Firefox",
        Duration::from_secs(60),
        Duration::from_millis(200),
    )
    .await;
    let page = "data:text/html,<title>agentdesk-typing</title><textarea autofocus></textarea>";
    // The first-run page may still be loading; retry the address bar until our page is up.
    eventually(
        Duration::from_secs(30),
        Duration::from_millis(1500),
        "the page to load",
        || async {
            let name = focused_window_name(&desktop);
            if name.contains("agentdesk-typing") {
                return Ok(());
            }
            press(&desktop, "ctrl+l").await;
            desktop.type_text(&format!("{page}\n")).await.unwrap();
            Err(format!("the focus on {name:?}"))
        },
    )
    .await;
    let text = "Grüße – 你好世界 こんにちは αβγδε ✓ №42 ½ € done";
    desktop.type_text(text).await.unwrap();
    copied_text_is(&desktop, text).await;
    desktop.stop().await;
}

/// The X server admits only holders of the desktop's cookie: another local user (here, a
/// client without the Xauthority file) cannot read the screen or type, whatever tokens guard MCP.
#[tokio::test(flavor = "multi_thread")]
async fn only_holders_of_the_cookie_reach_the_display() {
    let dir = tempfile::tempdir().unwrap();
    let desktop = desktop(&dir).await;
    let with_cookie = x_client(&desktop, "xdpyinfo").output().unwrap();
    assert!(with_cookie.status.success(), "{with_cookie:?}");
    let without = x_client(&desktop, "xdpyinfo")
        .env("XAUTHORITY", dir.path().join("no-such-file"))
        .output()
        .unwrap();
    assert!(!without.status.success(), "{without:?}");
    assert!(
        String::from_utf8_lossy(&without.stderr).contains("unable to open display"),
        "{without:?}"
    );
    desktop.stop().await;
}

/// agentdesk authenticates to its own Xvnc (VncAuth with the password only it knows) and gets
/// the screen: what the browser live view is bridged through.
#[tokio::test(flavor = "multi_thread")]
async fn agentdesk_reaches_its_own_vnc_server() {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let dir = tempfile::tempdir().unwrap();
    let desktop = desktop_on(&dir, XServerKind::Xvnc).await;
    let mut rfb = desktop.connect_rfb().await.expect("authenticated to Xvnc");
    rfb.write_all(&[1]).await.unwrap(); // ClientInit, shared
    let width = rfb.read_u16().await.unwrap();
    let height = rfb.read_u16().await.unwrap();
    assert_eq!(
        (u32::from(width), u32::from(height)),
        (desktop.screen_size().width, desktop.screen_size().height)
    );
    desktop.stop().await;
    // Xvfb has no VNC server: the error says how to get one.
    let dir = tempfile::tempdir().unwrap();
    let desktop = desktop_on(&dir, XServerKind::Xvfb).await;
    let err = desktop.connect_rfb().await.unwrap_err().to_string();
    assert!(err.contains("--x-server xvnc"), "{err}");
    desktop.stop().await;
}

/// Something on the desktop resizing the screen (`xrandr`) must not break it: capture,
/// coordinates and feedback follow the new size. Xvnc, the product's X server, allows it.
#[tokio::test(flavor = "multi_thread")]
async fn a_screen_resized_from_inside_is_followed() {
    let dir = tempfile::tempdir().unwrap();
    let desktop = desktop_on(&dir, XServerKind::Xvnc).await;
    // xrandr resizes the screen, then complains that the output no longer fits it (and exits
    // 1); the resize is what matters here.
    x_client(&desktop, "xrandr")
        .args(["--fb", "800x600"])
        .output()
        .expect("xrandr must run (scripts/test.sh installs x11-xserver-utils)");
    let resized = Size {
        width: 800,
        height: 600,
    };
    eventually(
        Duration::from_secs(5),
        Duration::from_millis(50),
        "the new screen size",
        || async {
            match desktop.screen_size() {
                size if size == resized => Ok(()),
                size => Err(format!("size {size}")),
            }
        },
    )
    .await;
    let shot = desktop.screenshot(None, Format::Png, false).await.unwrap();
    assert_eq!(shot.size, resized);
    click(&desktop, 700, 500).await;
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
    let what = format!("the window to move from {before:?}");
    eventually(
        Duration::from_secs(5),
        Duration::from_millis(50),
        &what,
        || async {
            let after = position(&desktop);
            if after.0 - before.0 >= 250 && after.1 - before.1 >= 150 {
                Ok(())
            } else {
                Err(format!("it at {after:?}"))
            }
        },
    )
    .await;
    desktop.stop().await;
}

/// The wheel reaches the app: a terminal with scrollback scrolls up (a visible change); at the
/// bottom already, scrolling further down changes nothing.
#[tokio::test(flavor = "multi_thread")]
async fn scrolling_moves_a_terminal_through_its_scrollback() {
    let dir = tempfile::tempdir().unwrap();
    let desktop = desktop(&dir).await;
    xterm(&desktop, "scrolled", "80x24+0+0").await;
    click(&desktop, 200, 150).await;
    desktop.type_text("seq 1 300\n").await.unwrap();
    // Until the output has finished drawing (a fixed sleep was too short on a busy machine).
    desktop.screenshot(None, Format::Png, true).await.unwrap();
    let scroll = |direction| PointerAction::Scroll {
        x: 200,
        y: 150,
        direction,
        amount: 3,
    };
    let down = desktop
        .pointer(scroll(ScrollDirection::Down))
        .await
        .unwrap();
    assert!(!down.changed, "already at the bottom: {down:?}");
    let up = desktop.pointer(scroll(ScrollDirection::Up)).await.unwrap();
    assert!(
        up.changed,
        "scrolling up through 300 lines must show: {up:?}"
    );
    desktop.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_help_request_is_answered_once_and_a_waiting_agent_wakes_up() {
    let dir = tempfile::tempdir().unwrap();
    let desktop = desktop(&dir).await;
    assert_eq!(desktop.help_request(), None);
    assert!(matches!(
        desktop.ask_for_help(" \n "),
        Err(DesktopError::BadRequest(_))
    ));
    let first = desktop.ask_for_help("please solve the captcha").unwrap();
    let second = desktop.ask_for_help("  please log in  ").unwrap();
    assert_eq!(second.id, first.id + 1);
    assert_eq!(second.message, "please log in");
    // The page may show a stale request; answering it is refused and names the current one.
    let stale = desktop.answer_help(first.id, "v1", "done").unwrap_err();
    assert!(
        stale
            .to_string()
            .contains(&format!("request {}", second.id)),
        "{stale}"
    );

    // An agent waiting for the answer wakes up when it comes, not at the end of its wait.
    let waiter = {
        let desktop = desktop.clone();
        tokio::spawn(async move { desktop.help_status(Duration::from_secs(20)).await })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = Instant::now();
    desktop
        .answer_help(second.id, "v1", "logged in as demo")
        .unwrap();
    let seen = waiter.await.unwrap().expect("a request exists");
    assert!(started.elapsed() < Duration::from_secs(10));
    let answer = seen.answer.expect("answered");
    assert_eq!(
        (answer.viewer.as_str(), answer.reply.as_str()),
        ("v1", "logged in as demo")
    );
    // help_status showed the answer, so no note repeats it; a second answer is refused.
    assert_eq!(desktop.take_help_answer(), None);
    assert!(desktop.answer_help(second.id, "v2", "me too").is_err());

    // Unseen answers are noted once.
    let third = desktop.ask_for_help("click Allow").unwrap();
    desktop.answer_help(third.id, "v1", "").unwrap();
    assert_eq!(desktop.take_help_answer().map(|r| r.id), Some(third.id));
    assert_eq!(desktop.take_help_answer(), None);
    // Without an open request, help_status answers at once.
    let started = Instant::now();
    desktop.help_status(Duration::from_secs(20)).await;
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test(flavor = "multi_thread")]
async fn agent_input_is_refused_while_a_human_has_control() {
    let dir = tempfile::tempdir().unwrap();
    let desktop = desktop(&dir).await;
    let viewer = |id: &str, principal: &str| Viewer {
        id: id.into(),
        principal: principal.into(),
    };
    let human = viewer("page-1", "alice");
    desktop.take_control(&human).unwrap();
    assert!(desktop.take_control(&viewer("page-2", "alice")).is_err());
    // Knowing the page's id is not enough: the token must be the holder's too.
    let impostor = viewer("page-1", "bob");
    assert!(!desktop.human_input(&impostor) && !desktop.release_control(&impostor));
    assert!(matches!(
        desktop.control_view(Some(&impostor)),
        ControlView::Other { principal, .. } if principal == "alice"
    ));
    assert!(matches!(
        desktop.control_view(Some(&human)),
        ControlView::You { .. }
    ));
    let refused = desktop
        .pointer(PointerAction::Move { x: 10, y: 10 })
        .await
        .unwrap_err();
    assert!(
        matches!(refused, DesktopError::HumanControl { .. }),
        "{refused}"
    );
    // Looking is still allowed.
    desktop.screenshot(None, Format::Png, false).await.unwrap();
    assert!(desktop.human_input(&human));

    // The holder's page reconnected: closing the old connection keeps control; the last one
    // hands it back.
    desktop.viewer_connected(&human);
    desktop.viewer_connected(&human);
    assert!(!desktop.viewer_disconnected(&human));
    assert!(desktop.human_has_control());
    assert!(desktop.viewer_disconnected(&human));
    assert_eq!(desktop.control_view(None), ControlView::Agent);
    assert!(desktop.take_hand_back());
    assert!(!desktop.take_hand_back());
    desktop
        .pointer(PointerAction::Move { x: 10, y: 10 })
        .await
        .unwrap();

    desktop.take_control(&human).unwrap();
    assert!(desktop.release_control(&human));
    assert!(desktop.take_hand_back());
}
