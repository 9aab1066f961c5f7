//! Fuzz target: tool-argument JSON into every `agentdesk_proto` argument struct, as the server
//! does for each tool call.
//!
//! Beyond "never panics": reading from bytes and reading from a `serde_json::Value` (the
//! server's path) agree, and an accepted value written back in canonical JSON — or with its
//! integers quoted or as floats, which the lenient parsing accepts — reads back the same.
#![no_main]

use std::fmt::Debug;

use agentdesk_proto::{
    ClickArgs, DragArgs, HelpArgs, HelpStatusArgs, KeysArgs, LaunchArgs, NoArgs, PointArgs,
    Region, ScreenShotArgs, ScrollArgs, StatusArgs, TextArgs,
};
use libfuzzer_sys::fuzz_target;
use serde::de::DeserializeOwned;
use serde_json::{json, Value};

fuzz_target!(|data: &[u8]| {
    check::<NoArgs>(data, |_| None);
    check::<TextArgs>(data, |a| Some(json!({ "text": a.text, "secret": a.secret })));
    check::<HelpArgs>(data, |a| Some(json!({ "message": a.message })));
    check::<HelpStatusArgs>(data, |a| Some(json!({ "wait_seconds": int(a.wait_seconds) })));
    check::<KeysArgs>(data, |a| Some(json!({ "keys": a.keys })));
    check::<LaunchArgs>(data, |a| Some(json!({ "command": a.command })));
    check::<PointArgs>(data, |a| Some(json!({ "x": int(a.x), "y": int(a.y) })));
    check::<ClickArgs>(data, |a| {
        Some(json!({ "x": int(a.x), "y": a.y, "button": name(&a.button) }))
    });
    check::<DragArgs>(data, |a| {
        Some(json!({
            "from_x": int(a.from_x), "from_y": a.from_y, "to_x": int(a.to_x), "to_y": a.to_y,
            "button": name(&a.button),
        }))
    });
    check::<ScrollArgs>(data, |a| {
        Some(json!({
            "x": a.x, "y": int(a.y), "direction": name(&a.direction), "amount": int(a.amount),
        }))
    });
    check::<StatusArgs>(data, |a| {
        Some(json!({ "pid": int(a.pid), "lines": a.lines }))
    });
    check::<Region>(data, |r| Some(region(r)));
    check::<ScreenShotArgs>(data, |a| {
        Some(json!({
            "region": a.region.as_ref().map(region),
            "format": name(&a.format),
            "stabilize": a.stabilize,
        }))
    });
});

/// Parses `data` as `T` both ways, and checks that `canonical` of the result reads back equal.
fn check<T: DeserializeOwned + Debug>(data: &[u8], canonical: impl Fn(&T) -> Option<Value>) {
    let Ok(parsed) = serde_json::from_slice::<T>(data) else {
        return;
    };
    // The server deserializes from a Value. From bytes is stricter (duplicate keys), so only
    // this direction must hold.
    let value: Value = serde_json::from_slice(data).expect("accepted input is JSON");
    let via_value = serde_json::from_value::<T>(value).expect("bytes accepted, Value refused");
    assert_eq!(format!("{parsed:?}"), format!("{via_value:?}"));
    if let Some(canonical) = canonical(&parsed) {
        let text = serde_json::to_vec(&canonical).unwrap();
        let again = serde_json::from_slice::<T>(&text)
            .unwrap_or_else(|e| panic!("{parsed:?} written as {canonical} does not read: {e}"));
        assert_eq!(format!("{parsed:?}"), format!("{again:?}"), "{canonical}");
    }
}

/// An integer as agents may send it: quoted, or (half of them) as a float; the lenient parser
/// takes floats below 9e15 in magnitude, where every integer is exact.
fn int(v: i64) -> Value {
    if v.unsigned_abs() < 9_000_000_000_000_000 && v % 2 == 0 {
        json!(v as f64)
    } else {
        json!(v.to_string())
    }
}

/// An enum's wire name: its variant name in lower case (`rename_all = "lowercase"`).
fn name(v: &impl Debug) -> String {
    format!("{v:?}").to_lowercase()
}

fn region(r: &Region) -> Value {
    json!({ "x": int(r.x), "y": r.y, "width": int(r.width), "height": r.height })
}
