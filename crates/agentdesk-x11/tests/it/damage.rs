//! DAMAGE notices small drawing (the size of five typed characters) and stays quiet when
//! nothing is drawn.

use std::time::{Duration, Instant};

use agentdesk_image::{Point, Rect};
use agentdesk_test_support::TestDisplay;
use x11rb::connection::Connection;
use x11rb::protocol::xproto::{ConnectionExt as _, EventMask, Rectangle};

use crate::connect;

#[tokio::test(flavor = "multi_thread")]
async fn damage_reports_small_changes() {
    let display = TestDisplay::start(640, 480).await;
    let x11 = connect(&display);
    let client = display.connect();
    let window = client.window(50, 60, 200, 100, EventMask::NO_EVENT);
    let gc = client.gc(window, 0xff_80_20);
    let mut damage = x11.damage();

    // Let the window's own appearance settle: no notification for 100 ms, within 5 s.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        damage.borrow_and_update();
        match tokio::time::timeout(Duration::from_millis(100), damage.changed()).await {
            Err(_) => break,
            Ok(changed) => changed.expect("the worker must be running"),
        }
        assert!(Instant::now() < deadline, "the screen never went quiet");
    }
    let before = *damage.borrow_and_update();
    assert!(
        before.count >= 1,
        "mapping a window is a change: {before:?}"
    );

    // Xvfb with no client drawing is static: no notification at all for 300 ms.
    let idle = tokio::time::timeout(Duration::from_millis(300), damage.changed()).await;
    assert!(
        idle.is_err(),
        "damage on an idle screen: {before:?} -> {:?}",
        *damage.borrow()
    );
    assert_eq!(damage.borrow().count, before.count);

    // About the size of five typed characters.
    client
        .conn
        .poly_fill_rectangle(
            window,
            gc,
            &[Rectangle {
                x: 10,
                y: 20,
                width: 40,
                height: 16,
            }],
        )
        .unwrap();
    client.conn.flush().unwrap();
    tokio::time::timeout(Duration::from_secs(2), damage.changed())
        .await
        .expect("a 40x16 change must be reported within 2 s")
        .expect("the worker must be running");
    let after = *damage.borrow();
    assert!(after.count > before.count, "{before:?} -> {after:?}");
    assert!(after.at > before.at, "{before:?} -> {after:?}");

    // And it is the change we made.
    let frame = x11
        .capture(
            Some(Rect {
                x: 60,
                y: 80,
                width: 40,
                height: 16,
            }),
            Vec::new(),
        )
        .await
        .unwrap();
    assert_eq!(frame.pixel(Point { x: 0, y: 0 }), [0xff, 0x80, 0x20]);
    assert_eq!(frame.pixel(Point { x: 39, y: 15 }), [0xff, 0x80, 0x20]);
}
