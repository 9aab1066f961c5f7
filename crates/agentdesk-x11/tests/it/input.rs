//! Pointer input over XTEST reaches a real window at the right coordinates, with the right
//! buttons: clicks, double clicks, scrolling, dragging.

use std::time::Duration;

use agentdesk_test_support::{TestClient, TestDisplay};
use agentdesk_x11::{Button, PointerAction, ScrollDirection};
use x11rb::protocol::xproto::{ButtonPressEvent, EventMask, KeyButMask};
use x11rb::protocol::Event;

use crate::connect;

const WAIT: Duration = Duration::from_secs(5);

fn presses(events: &[Event]) -> Vec<&ButtonPressEvent> {
    events
        .iter()
        .filter_map(|e| {
            if let Event::ButtonPress(b) = e {
                Some(b)
            } else {
                None
            }
        })
        .collect()
}

fn releases(events: &[Event]) -> Vec<&ButtonPressEvent> {
    events
        .iter()
        .filter_map(|e| {
            if let Event::ButtonRelease(b) = e {
                Some(b)
            } else {
                None
            }
        })
        .collect()
}

/// Events until `n` button releases have arrived (or the deadline), plus anything already queued.
fn until_releases(client: &TestClient, n: usize) -> Vec<Event> {
    client.events_until(WAIT, |events| releases(events).len() >= n)
}

#[tokio::test(flavor = "multi_thread")]
async fn click_reaches_window_at_coordinates() {
    let display = TestDisplay::start(640, 480).await;
    let x11 = connect(&display);
    let client = display.connect();
    let (wx, wy) = (100i16, 80i16);
    let window = client.window(
        wx,
        wy,
        300,
        200,
        EventMask::BUTTON_PRESS | EventMask::BUTTON_RELEASE | EventMask::POINTER_MOTION,
    );
    client.drain();

    // A right click.
    x11.pointer(PointerAction::Click {
        x: 150,
        y: 120,
        button: Button::Right,
        count: 1,
    })
    .await
    .unwrap();
    let events = until_releases(&client, 1);
    let p = presses(&events);
    assert_eq!(p.len(), 1, "one press: {events:?}");
    assert_eq!(p[0].detail, 3, "right button");
    assert_eq!(p[0].event, window);
    assert_eq!((p[0].root_x, p[0].root_y), (150, 120));
    assert_eq!((p[0].event_x, p[0].event_y), (150 - wx, 120 - wy));
    let r = releases(&events);
    assert_eq!(
        (r.len(), r[0].detail, r[0].root_x, r[0].root_y),
        (1, 3, 150, 120)
    );

    // A double click: two presses and two releases of button 1, all at the same point.
    x11.pointer(PointerAction::Click {
        x: 200,
        y: 150,
        button: Button::Left,
        count: 2,
    })
    .await
    .unwrap();
    let events = until_releases(&client, 2);
    let (p, r) = (presses(&events), releases(&events));
    assert_eq!((p.len(), r.len()), (2, 2), "double click: {events:?}");
    for b in p.iter().chain(&r) {
        assert_eq!((b.detail, b.root_x, b.root_y), (1, 200, 150));
    }

    // Three notches down: three presses of button 5.
    x11.pointer(PointerAction::Scroll {
        x: 220,
        y: 160,
        direction: ScrollDirection::Down,
        amount: 3,
    })
    .await
    .unwrap();
    let events = until_releases(&client, 3);
    let p = presses(&events);
    assert_eq!(p.len(), 3, "three notches: {events:?}");
    for b in p {
        assert_eq!((b.detail, b.root_x, b.root_y), (5, 220, 160));
    }

    // A drag: press at `from`, motion with the button held, release at `to`.
    let (from, to) = ((120u32, 100u32), (350u32, 250u32));
    x11.pointer(PointerAction::Drag {
        from,
        to,
        button: Button::Left,
    })
    .await
    .unwrap();
    let events = until_releases(&client, 1);
    let press_at = events
        .iter()
        .position(|e| matches!(e, Event::ButtonPress(_)))
        .expect("a press");
    let release_at = events
        .iter()
        .position(|e| matches!(e, Event::ButtonRelease(_)))
        .expect("a release");
    assert!(press_at < release_at, "press before release: {events:?}");
    let Event::ButtonPress(press) = &events[press_at] else {
        unreachable!()
    };
    let Event::ButtonRelease(release) = &events[release_at] else {
        unreachable!()
    };
    assert_eq!(
        (press.detail, press.root_x as u32, press.root_y as u32),
        (1, from.0, from.1)
    );
    assert_eq!(
        (release.detail, release.root_x as u32, release.root_y as u32),
        (1, to.0, to.1)
    );
    let dragging: Vec<_> = events[press_at..release_at]
        .iter()
        .filter_map(|e| {
            if let Event::MotionNotify(m) = e {
                Some(m)
            } else {
                None
            }
        })
        .collect();
    assert!(
        dragging.len() >= 2,
        "motion between press and release: {events:?}"
    );
    for m in &dragging {
        assert!(
            m.state.contains(KeyButMask::BUTTON1),
            "button 1 held during the drag: {m:?}"
        );
    }
    let last = dragging.last().unwrap();
    assert_eq!(
        (last.root_x as u32, last.root_y as u32),
        to,
        "the drag ends at `to`"
    );
    assert_eq!(presses(&events).len(), 1, "a drag is one press: {events:?}");

    // A plain move: motion only, no buttons.
    x11.pointer(PointerAction::Move { x: 130, y: 90 })
        .await
        .unwrap();
    let events = client.events_until(WAIT, |events| !events.is_empty());
    assert!(
        presses(&events).is_empty() && releases(&events).is_empty(),
        "{events:?}"
    );
    match events.last() {
        Some(Event::MotionNotify(m)) => assert_eq!(
            (m.root_x, m.root_y, m.state),
            (130, 90, KeyButMask::default())
        ),
        other => panic!("expected motion, got {other:?}"),
    }
}

/// What the computer-use dialects need beyond clicks: a button held across calls, a key held
/// while clicking, a drag through several points, buttons 8 and 9, and where the pointer is.
#[tokio::test(flavor = "multi_thread")]
async fn held_buttons_keys_paths_and_the_cursor() {
    let display = TestDisplay::start(640, 480).await;
    let x11 = connect(&display);
    let client = display.connect();
    let window = client.window(
        0,
        0,
        640,
        480,
        EventMask::BUTTON_PRESS | EventMask::BUTTON_RELEASE | EventMask::POINTER_MOTION,
    );
    client.drain();

    // Down in one call, moved, up in another; a second press of a held button sends nothing.
    x11.pointer(PointerAction::Move { x: 10, y: 20 })
        .await
        .unwrap();
    x11.pointer(PointerAction::Press {
        button: Button::Left,
    })
    .await
    .unwrap();
    x11.pointer(PointerAction::Press {
        button: Button::Left,
    })
    .await
    .unwrap();
    x11.pointer(PointerAction::Move { x: 30, y: 40 })
        .await
        .unwrap();
    assert_eq!(x11.cursor().await.unwrap(), (30, 40));
    x11.pointer(PointerAction::Release {
        button: Button::Left,
    })
    .await
    .unwrap();
    // Releasing what is not held sends nothing either.
    x11.pointer(PointerAction::Release {
        button: Button::Left,
    })
    .await
    .unwrap();
    let events = until_releases(&client, 1);
    assert_eq!(presses(&events).len(), 1, "{events:?}");
    let r = releases(&events);
    assert_eq!((r.len(), r[0].root_x, r[0].root_y), (1, 30, 40));

    // Shift held around a click: the press carries it; released after.
    let shift = agentdesk_x11::KeyCombo::parse("shift").unwrap();
    x11.hold_keys(shift.clone(), true).await.unwrap();
    x11.pointer(PointerAction::Click {
        x: 50,
        y: 60,
        button: Button::Back,
        count: 1,
    })
    .await
    .unwrap();
    x11.hold_keys(shift, false).await.unwrap();
    x11.pointer(PointerAction::Click {
        x: 50,
        y: 60,
        button: Button::Forward,
        count: 1,
    })
    .await
    .unwrap();
    let events = until_releases(&client, 2);
    let p = presses(&events);
    assert_eq!((p[0].detail, p[1].detail), (8, 9), "{events:?}");
    assert!(p[0].state.contains(KeyButMask::SHIFT), "{:?}", p[0]);
    assert!(!p[1].state.contains(KeyButMask::SHIFT), "{:?}", p[1]);

    // A path through three points: one press at the first, one release at the last, and the
    // middle point passed through with the button down.
    x11.drag_path(vec![(100, 100), (300, 100), (300, 300)], Button::Left)
        .await
        .unwrap();
    let events = until_releases(&client, 1);
    let (p, r) = (presses(&events), releases(&events));
    assert_eq!((p.len(), r.len()), (1, 1), "{events:?}");
    assert_eq!((p[0].root_x, p[0].root_y), (100, 100));
    assert_eq!((r[0].root_x, r[0].root_y), (300, 300));
    assert!(events.iter().any(|e| matches!(e,
        Event::MotionNotify(m) if (m.root_x, m.root_y) == (300, 100)
            && m.state.contains(KeyButMask::BUTTON1))));
    let _ = window;

    // Whatever is still held is released at once.
    x11.pointer(PointerAction::Press {
        button: Button::Right,
    })
    .await
    .unwrap();
    x11.release_all().await.unwrap();
    let events = until_releases(&client, 1);
    assert_eq!(releases(&events)[0].detail, 3, "{events:?}");
}
