//! What the text tools need from the X server: a bitmap font's glyphs drawn off screen, and
//! which windows nothing stacked above them hides.

use agentdesk_test_support::TestDisplay;
use x11rb::connection::Connection as _;
use x11rb::protocol::xproto::{ConnectionExt as _, EventMask};

use crate::connect;

#[tokio::test(flavor = "multi_thread")]
async fn the_fixed_font_is_drawn_glyph_by_glyph_and_a_missing_one_is_none() {
    let display = TestDisplay::start(320, 240).await;
    let x11 = connect(&display);
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let damage = x11.damage().borrow().count;
    let cells = x11
        .font_cells("fixed")
        .await
        .unwrap()
        .expect("Xvfb has \"fixed\"");
    // xterm's default font: 6×13 cells.
    assert_eq!((cells.width, cells.height), (6, 13));
    assert_eq!(cells.glyphs.len(), 94, "every printable ASCII character");
    let glyph = |c: char| &cells.glyphs.iter().find(|(g, _)| *g == c).unwrap().1;
    for (a, b) in [('l', '1'), ('O', '0'), ('I', 'l'), ('r', 'n'), ('w', 'u')] {
        assert_ne!(glyph(a), glyph(b), "{a} and {b} are drawn apart");
    }
    assert!(glyph('.').iter().filter(|&&b| b).count() < glyph('M').iter().filter(|&&b| b).count());
    // Drawn off screen: nothing on screen changed.
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    assert_eq!(x11.damage().borrow().count, damage);
    assert!(x11
        .font_cells("-no-such-foundry-font-*")
        .await
        .unwrap()
        .is_none());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_window_with_anything_stacked_over_it_is_not_clear() {
    let display = TestDisplay::start(320, 240).await;
    let x11 = connect(&display);
    let client = display.connect();
    let under = client.window(10, 10, 200, 100, EventMask::NO_EVENT);
    let over = client.window(150, 60, 100, 100, EventMask::NO_EVENT);
    let apart = client.window(10, 150, 50, 50, EventMask::NO_EVENT);
    let clear = x11.unobstructed(vec![under, over, apart]).await.unwrap();
    assert_eq!(clear, [over, apart]);
    // Gone from the screen, it hides nothing, and is not clear itself (not shown at all, as a
    // window on another workspace).
    client.conn.unmap_window(over).unwrap();
    client.sync();
    let clear = x11.unobstructed(vec![under, over, apart]).await.unwrap();
    assert_eq!(clear, [under, apart]);
    // A pop-up (override-redirect, as menus and tooltips are) counts like any window.
    let popup = client.conn.generate_id().unwrap();
    client
        .conn
        .create_window(
            24,
            popup,
            client.root,
            20,
            20,
            30,
            20,
            0,
            x11rb::protocol::xproto::WindowClass::INPUT_OUTPUT,
            x11rb::COPY_FROM_PARENT,
            &x11rb::protocol::xproto::CreateWindowAux::new().override_redirect(1),
        )
        .unwrap();
    client.conn.map_window(popup).unwrap();
    client.sync();
    let clear = x11.unobstructed(vec![under, apart]).await.unwrap();
    assert_eq!(clear, [apart]);
    // An id that is no window is not clear (and no error).
    let clear = x11.unobstructed(vec![0x7fff_fff0]).await.unwrap();
    assert!(clear.is_empty());
    client.conn.flush().unwrap();
}
