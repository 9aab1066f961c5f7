//! The CLIPBOARD selection exchanged with xclip, both ways, small and large (INCR).

use std::io::Write;
use std::process::Stdio;
use std::time::Duration;

use agentdesk_test_support::{poll_until, ChildGuard, TestClient, TestDisplay};
use agentdesk_x11::XHandle;

use crate::connect;

const WAIT: Duration = Duration::from_secs(10);

/// About `bytes` of pseudo-random text mixing ASCII with 2-, 3- and 4-byte characters.
fn payload(bytes: usize, seed: u64) -> String {
    const PIECES: &[&str] = &[
        "a", "Z", "7", " ", "\n", "é", "ß", "–", "你", "好", "€", "✓", "😀", "{", "\"", "\t",
    ];
    let mut state = seed;
    let mut text = String::with_capacity(bytes + 4);
    while text.len() < bytes {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        text.push_str(PIECES[(state >> 59) as usize % PIECES.len()]);
    }
    text
}

fn xclip_out(display: &TestDisplay) -> String {
    display.run("xclip", &["-o", "-selection", "clipboard"])
}

/// Starts `xclip -i` serving `text` for one request, in the foreground (so we own the process),
/// and waits until it owns CLIPBOARD.
fn xclip_in(display: &TestDisplay, client: &TestClient, text: &str) -> ChildGuard {
    let clipboard = client.atom("CLIPBOARD");
    let previous = client.selection_owner(clipboard);
    let mut xclip = ChildGuard(
        display
            .client("xclip")
            .args(["-i", "-selection", "clipboard", "-quiet", "-loops", "1"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("xclip must start (run scripts/test.sh to install it)"),
    );
    let mut stdin = xclip.0.stdin.take().unwrap();
    stdin.write_all(text.as_bytes()).unwrap();
    drop(stdin);
    poll_until(WAIT, "xclip to own the clipboard", || {
        assert!(xclip.exited().is_none(), "xclip exited early");
        let owner = client.selection_owner(clipboard);
        (owner != x11rb::NONE && owner != previous).then_some(())
    });
    xclip
}

async fn read_from_xclip(display: &TestDisplay, client: &TestClient, x11: &XHandle, text: &str) {
    let mut xclip = xclip_in(display, client, text);
    let got = x11.clipboard_get().await.unwrap();
    assert!(
        got == text,
        "clipboard_get returned {} bytes, expected {} (first difference at byte {:?})",
        got.len(),
        text.len(),
        got.bytes().zip(text.bytes()).position(|(a, b)| a != b)
    );
    // -loops 1: xclip leaves after serving our one request.
    let status = poll_until(WAIT, "xclip to exit after one request", || xclip.exited());
    assert!(status.success(), "xclip exited with {status}");
}

#[tokio::test(flavor = "multi_thread")]
async fn clipboard_round_trips_with_xclip() {
    let display = TestDisplay::start(320, 240).await;
    let x11 = connect(&display);
    let client = display.connect();

    // Ours to xclip.
    let text = "héllo – 你好 clipboard";
    x11.clipboard_set(text.into()).await.unwrap();
    assert_eq!(xclip_out(&display), text);
    let targets = display.run("xclip", &["-o", "-selection", "clipboard", "-t", "TARGETS"]);
    assert!(
        targets.lines().any(|t| t == "UTF8_STRING"),
        "TARGETS: {targets:?}"
    );
    // Served from the worker thread, long after the call that set it returned.
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert_eq!(xclip_out(&display), text);
    assert_eq!(
        x11.clipboard_get().await.unwrap(),
        text,
        "reading our own clipboard"
    );

    // Large: INCR on the serving side.
    let big = payload(5 * 1024 * 1024, 1);
    x11.clipboard_set(big.clone()).await.unwrap();
    let got = xclip_out(&display);
    assert!(
        got == big,
        "xclip read {} bytes, expected {}",
        got.len(),
        big.len()
    );

    // xclip to ours.
    read_from_xclip(
        &display,
        &client,
        &x11,
        "from xclip: ünïcödé ✓ 你好\nsecond line",
    )
    .await;
    // Large: INCR on the reading side.
    read_from_xclip(&display, &client, &x11, &payload(4 * 1024 * 1024, 2)).await;

    // Taking the clipboard back after someone else had it.
    x11.clipboard_set("mine again".into()).await.unwrap();
    assert_eq!(xclip_out(&display), "mine again");
}
