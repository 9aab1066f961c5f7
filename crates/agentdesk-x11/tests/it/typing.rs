//! Typing into a real xterm: ASCII with Shift, and Unicode through spare-keycode remapping,
//! including keycode reuse and a keymap with few spare keycodes.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use agentdesk_test_support::{poll_until, ChildGuard, TestClient, TestDisplay};
use agentdesk_x11::{KeyCombo, PointerAction, XHandle};
use x11rb::protocol::xproto::ConnectionExt as _;

use crate::connect;

const UNICODE_LINE: &str = "héllo – 你好 Ünïcödé ✓ №42 ½ € αβγδε done\n";
const ASCII_LINE: &str = "Hello, World! ~@#$%^&*()_+{}|:\"<>?\n";
/// More new symbols than both halves of the spare keycodes hold (19 spare keycodes in Xvfb's
/// keymap): typing it reuses keycodes, with the pause that protects symbols still in flight.
const CYRILLIC_LINE: &str = "АБВГДЕЖЗИЙКЛМНОПРСТУФХЦЧШЩЭЮЯ абв\n";

/// An xterm at +0+0 running `cat > outfile`, with the pointer (and so the keyboard focus: no
/// window manager runs) inside it.
struct Xterm {
    child: ChildGuard,
    outfile: PathBuf,
    _dir: tempfile::TempDir,
}

impl Xterm {
    async fn start(display: &TestDisplay, client: &TestClient, x11: &XHandle) -> Xterm {
        let dir = tempfile::tempdir().unwrap();
        let outfile = dir.path().join("typed.txt");
        let mut child = ChildGuard(
            display
                .client("xterm")
                .args([
                    "-u8",
                    "-geometry",
                    "80x24+0+0",
                    "-e",
                    "sh",
                    "-c",
                    "cat > \"$0\"",
                ])
                .arg(&outfile)
                .env("LANG", "C.UTF-8")
                .env_remove("LC_ALL")
                .env_remove("LC_CTYPE")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("xterm must start (run scripts/test.sh to install it)"),
        );
        let window: u32 = poll_until(
            Duration::from_secs(10),
            "xterm's window to be mapped",
            || {
                assert!(child.exited().is_none(), "xterm exited early");
                let out = display
                    .client("xdotool")
                    .args(["search", "--onlyvisible", "--class", "xterm"])
                    .output()
                    .ok()?;
                String::from_utf8_lossy(&out.stdout)
                    .lines()
                    .next()?
                    .trim()
                    .parse()
                    .ok()
            },
        );
        let geometry = client.conn.get_geometry(window).unwrap().reply().unwrap();
        assert!(
            geometry.width > 100 && geometry.height > 100,
            "xterm's size: {geometry:?}"
        );
        // cat holds the pty once the file exists (the shell's redirection creates it).
        poll_until(Duration::from_secs(10), "cat to start", || {
            outfile.exists().then_some(())
        });
        let (x, y) = (
            u32::from(geometry.width) / 2,
            u32::from(geometry.height) / 2,
        );
        x11.pointer(PointerAction::Move { x, y }).await.unwrap();
        Xterm {
            child,
            outfile,
            _dir: dir,
        }
    }

    /// Waits (up to 5 s) until cat has written at least `expected.len()` bytes; returns them all.
    fn output(&self, expected: &str) -> String {
        read_until(&self.outfile, expected.len())
    }

    /// Ends cat with ctrl+d (end of file at the start of a line); xterm must then exit cleanly.
    async fn end(mut self, x11: &XHandle) -> String {
        x11.press_keys(KeyCombo::parse("ctrl+d").unwrap())
            .await
            .unwrap();
        let status = poll_until(Duration::from_secs(5), "xterm to exit after ctrl+d", || {
            self.child.exited()
        });
        assert!(status.success(), "xterm exited with {status}");
        std::fs::read_to_string(&self.outfile).unwrap()
    }
}

fn read_until(path: &Path, len: usize) -> String {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let content = String::from_utf8_lossy(&std::fs::read(path).unwrap()).into_owned();
        if content.len() >= len || Instant::now() >= deadline {
            return content;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn typing_unicode_into_xterm() {
    let display = TestDisplay::start(800, 600).await;
    let x11 = connect(&display);
    let client = display.connect();
    let xterm = Xterm::start(&display, &client, &x11).await;

    let started = Instant::now();
    x11.type_text(UNICODE_LINE).await.unwrap();
    let unicode_took = started.elapsed();
    let started = Instant::now();
    x11.type_text(ASCII_LINE).await.unwrap();
    let ascii_took = started.elapsed();
    let expected = format!("{UNICODE_LINE}{ASCII_LINE}");
    assert_eq!(xterm.output(&expected), expected);

    let started = Instant::now();
    x11.type_text(CYRILLIC_LINE).await.unwrap();
    let cyrillic_took = started.elapsed();
    let expected = format!("{expected}{CYRILLIC_LINE}");
    assert_eq!(xterm.output(&expected), expected);
    eprintln!(
        "type_text: Unicode line ({} chars) {unicode_took:?}, ASCII line ({} chars) {ascii_took:?}, \
         Cyrillic line ({} chars) {cyrillic_took:?}",
        UNICODE_LINE.chars().count(),
        ASCII_LINE.chars().count(),
        CYRILLIC_LINE.chars().count()
    );

    assert_eq!(
        xterm.end(&x11).await,
        expected,
        "nothing more after end of file"
    );
}

/// With an odd, small number of spare keycodes the two halves differ in size and are reused
/// after every batch or two.
#[tokio::test(flavor = "multi_thread")]
async fn typing_with_few_spare_keycodes() {
    let display = TestDisplay::start(800, 600).await;
    let client = display.connect();
    // Give all but five of the empty keycodes a symbol nobody types, before connecting: the
    // keymap is read at connect time.
    let setup = x11rb::connection::Connection::setup(&client.conn);
    let (min, max) = (setup.min_keycode, setup.max_keycode);
    let map = client
        .conn
        .get_keyboard_mapping(min, max - min + 1)
        .unwrap()
        .reply()
        .unwrap();
    let per = map.keysyms_per_keycode;
    let empty: Vec<u8> = map
        .keysyms
        .chunks(usize::from(per))
        .enumerate()
        .filter(|(_, syms)| syms.iter().all(|&s| s == 0))
        .map(|(i, _)| min + i as u8)
        .collect();
    assert!(
        empty.len() > 5,
        "Xvfb's keymap has spare keycodes: {empty:?}"
    );
    for (i, &keycode) in empty[5..].iter().enumerate() {
        let mut syms = vec![0u32; usize::from(per)];
        syms[0] = 0x1008_ff01 + i as u32; // XF86 function keysyms
        client
            .conn
            .change_keyboard_mapping(1, keycode, per, &syms)
            .unwrap();
    }
    client.sync();

    let x11 = connect(&display);
    let xterm = Xterm::start(&display, &client, &x11).await;
    let text = "ĀāĂăĄą ŁłŃń Ā done\n";
    x11.type_text(text).await.unwrap();
    assert_eq!(xterm.output(text), text);
    assert_eq!(xterm.end(&x11).await, text);
}
