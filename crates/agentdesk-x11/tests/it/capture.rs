//! Capture is pixel-exact against a pattern drawn by another client, and rejects rectangles
//! off the screen without panicking.

use agentdesk_image::{Point, Rect};
use agentdesk_test_support::TestDisplay;
use x11rb::protocol::xproto::{ConnectionExt as _, EventMask, ImageFormat};

use crate::connect_with_background;

const W: u32 = 64;
const H: u32 = 32;

/// A distinct colour for every pixel of the pattern, with all three channels varying.
fn pattern(x: u32, y: u32) -> [u8; 3] {
    [(x * 4) as u8, (y * 8) as u8, (255 - x - y * 3) as u8]
}

#[tokio::test(flavor = "multi_thread")]
async fn capture_is_pixel_exact() {
    let display = TestDisplay::start(320, 240).await;
    let background = 0x33_66_99;
    let x11 = connect_with_background(&display, Some(background));
    let client = display.connect();
    let (wx, wy) = (100u32, 50u32);
    let window = client.window(
        wx as i16,
        wy as i16,
        W as u16,
        H as u16,
        EventMask::NO_EVENT,
    );
    let gc = client.gc(window, 0);
    // Depth 24 in 32-bit little-endian pixels: B, G, R, padding.
    let mut data = Vec::with_capacity((W * H * 4) as usize);
    for y in 0..H {
        for x in 0..W {
            let [r, g, b] = pattern(x, y);
            data.extend_from_slice(&[b, g, r, 0]);
        }
    }
    client
        .conn
        .put_image(
            ImageFormat::Z_PIXMAP,
            window,
            gc,
            W as u16,
            H as u16,
            0,
            0,
            0,
            24,
            &data,
        )
        .unwrap();
    client.sync();

    let rect = Rect {
        x: wx,
        y: wy,
        width: W,
        height: H,
    };
    let frame = x11.capture(Some(rect), Vec::new()).await.unwrap();
    assert_eq!((frame.size.width, frame.size.height), (W, H));
    for y in 0..H {
        for x in 0..W {
            assert_eq!(
                frame.pixel(Point { x, y }),
                pattern(x, y),
                "pixel ({x}, {y}) of the window capture"
            );
        }
    }

    let full = x11.capture(None, Vec::new()).await.unwrap();
    assert_eq!(full.size, x11.screen_size());
    assert_eq!((full.size.width, full.size.height), (320, 240));
    for y in 0..H {
        for x in 0..W {
            assert_eq!(
                full.pixel(Point {
                    x: wx + x,
                    y: wy + y
                }),
                pattern(x, y),
                "pixel ({x}, {y}) in the full capture"
            );
        }
    }
    // Around the window: the background colour X11Config asked for.
    let bg = [0x33, 0x66, 0x99];
    for p in [
        Point { x: 0, y: 0 },
        Point { x: wx - 1, y: wy },
        Point {
            x: wx + W,
            y: wy + H,
        },
        Point { x: 319, y: 239 },
    ] {
        assert_eq!(full.pixel(p), bg, "background at {p:?}");
    }

    // A rect reaching past the screen edge is an error, and the handle keeps working.
    for bad in [
        Rect {
            x: 300,
            y: 0,
            width: 64,
            height: 32,
        },
        Rect {
            x: 0,
            y: 230,
            width: 64,
            height: 32,
        },
        Rect {
            x: u32::MAX,
            y: 0,
            width: 2,
            height: 2,
        },
        Rect {
            x: 0,
            y: 0,
            width: 0,
            height: 10,
        },
    ] {
        let result = x11.capture(Some(bad), Vec::new()).await;
        assert!(
            result.is_err(),
            "capturing {bad:?} must fail, got {result:?}"
        );
    }
    // The buffer passed in is reused, and the capture still matches.
    let again = x11.capture(Some(rect), full.data).await.unwrap();
    assert_eq!(again.pixel(Point { x: 5, y: 7 }), pattern(5, 7));
}
