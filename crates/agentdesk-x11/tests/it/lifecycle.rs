//! What happens when the X server dies or the last handle is dropped: no hang, no leak.

use std::time::Duration;

use agentdesk_image::Rect;
use agentdesk_test_support::{poll_until, TestDisplay};
use agentdesk_x11::{Error, KeyCombo, PointerAction};

use crate::connect;

#[tokio::test(flavor = "multi_thread")]
async fn x_server_death_is_noticed() {
    let display = TestDisplay::start(320, 240).await;
    let x11 = connect(&display);
    assert!(x11.is_alive());
    x11.capture(None, Vec::new())
        .await
        .expect("a capture while the server runs");

    drop(display); // SIGKILLs Xvfb
    tokio::time::timeout(Duration::from_secs(5), x11.closed())
        .await
        .expect("the dead X server must be noticed within 5 s");
    assert!(!x11.is_alive());

    let all = tokio::time::timeout(Duration::from_secs(5), async {
        let capture = x11
            .capture(
                Some(Rect {
                    x: 0,
                    y: 0,
                    width: 10,
                    height: 10,
                }),
                Vec::new(),
            )
            .await
            .map(|_| ());
        let pointer = x11.pointer(PointerAction::Move { x: 1, y: 1 }).await;
        let typed = x11.type_text("x").await;
        let keys = x11.press_keys(KeyCombo::parse("ctrl+c").unwrap()).await;
        let set = x11.clipboard_set("x".into()).await;
        let get = x11.clipboard_get().await.map(|_| ());
        [capture, pointer, typed, keys, set, get]
    })
    .await
    .expect("calls on a closed handle must not hang");
    for result in all {
        assert!(
            matches!(result, Err(Error::Closed)),
            "expected Error::Closed, got {result:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn dropping_the_handle_closes_the_connection() {
    let display = TestDisplay::start(320, 240).await;
    let client = display.connect();
    let clipboard = client.atom("CLIPBOARD");
    let x11 = connect(&display);
    x11.clipboard_set("held by the handle".into())
        .await
        .unwrap();
    assert_ne!(client.selection_owner(clipboard), x11rb::NONE);

    // The last handle gone, the worker must close its connection, and with it the X server
    // drops the selection ownership.
    let watcher = x11.clone();
    drop(x11);
    assert!(watcher.is_alive(), "a clone keeps the worker running");
    drop(watcher);
    poll_until(
        Duration::from_secs(5),
        "the worker to close its X connection",
        || (client.selection_owner(clipboard) == x11rb::NONE).then_some(()),
    );
}
