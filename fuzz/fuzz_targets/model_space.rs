//! Fuzz target: the `GhostDesk-Model-Space` header (`ModelSpace::parse`) and the mapping of an
//! agent's coordinates to screen pixels (`ModelSpace::point`, `region`, `to_pixel`).
//!
//! Input: the header value up to the first newline, then bytes that choose the screen size and
//! the agent's numbers (mostly near the interesting range, sometimes any i64).
//!
//! Beyond "never panics": a clicked pixel is on the screen, a region lies within it, a region's
//! corner is the pixel a click there hits, adjacent regions share an edge, and scaling is
//! monotonic and reaches both screen edges.
#![no_main]

use agentdesk_image::{Axis, ModelSpace, Point, Size};
use arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let split = data.iter().position(|&b| b == b'\n').unwrap_or(data.len());
    let header = String::from_utf8_lossy(&data[..split]);
    let parsed = check_parse(&header);
    let mut u = Unstructured::new(data.get(split + 1..).unwrap_or_default());
    let _ = check_mapping(parsed, &mut u);
});

fn check_parse(header: &str) -> ModelSpace {
    let ms = ModelSpace::parse(header);
    if let Some(n) = ms.0 {
        assert!((1..=1_000_000).contains(&n), "{header:?} gave {n}");
        assert_eq!(header.trim().parse::<u64>().ok(), Some(u64::from(n)));
        assert_eq!(ModelSpace::parse(&n.to_string()), ms);
    }
    ms
}

fn check_mapping(parsed: ModelSpace, u: &mut Unstructured<'_>) -> Result<()> {
    // Also model spaces parse never yields (0, above the limit): the field is public.
    let ms = if u.arbitrary()? {
        parsed
    } else {
        ModelSpace(u.arbitrary()?)
    };
    let n = ms.0.filter(|&n| n > 0);
    let screen = Size {
        width: extent(u)?,
        height: extent(u)?,
    };
    let limit = |extent: u32| i64::from(n.unwrap_or(extent));
    let (x, y) = (
        coord(u, limit(screen.width))?,
        coord(u, limit(screen.height))?,
    );

    let point = ms.point(x, y, screen);
    let in_range = |v: i64, extent: u32| match n {
        None => (0..i64::from(extent)).contains(&v),
        Some(n) => (0..=i64::from(n)).contains(&v) && extent > 0,
    };
    assert_eq!(
        point.is_ok(),
        in_range(x, screen.width) && in_range(y, screen.height)
    );
    match point {
        Ok(p) => {
            assert!(screen.contains(p), "{p:?} off {screen:?}");
            if n.is_none() {
                assert_eq!((i64::from(p.x), i64::from(p.y)), (x, y));
            }
        }
        Err(e) => assert!(!e.to_string().is_empty()),
    }
    if let (Some(n), true) = (n, screen.width > 0) {
        check_scaling(ms, n, screen.width, x)?;
    }

    let (w, h) = (
        coord(u, limit(screen.width))?,
        coord(u, limit(screen.height))?,
    );
    let region = match ms.region(x, y, w, h, screen) {
        Ok(r) => r,
        Err(e) => {
            assert!(!e.to_string().is_empty());
            return Ok(());
        }
    };
    assert!(region.width >= 1 && region.height >= 1, "{region:?}");
    assert!(region.is_within(screen), "{region:?} off {screen:?}");
    if n.is_none() {
        let exact = [region.x, region.y, region.width, region.height].map(i64::from);
        assert_eq!(exact, [x, y, w, h]);
    }
    // The region's top-left pixel is the one a click at its top-left corner hits.
    assert_eq!(
        ms.point(x, y, screen),
        Ok(Point {
            x: region.x,
            y: region.y
        })
    );
    // Splitting a region in two gives two regions that meet exactly (no gap, no overlap).
    if w >= 2 {
        let left = u.int_in_range(1..=w - 1)?;
        if let (Ok(a), Ok(b)) = (
            ms.region(x, y, left, h, screen),
            ms.region(x + left, y, w - left, h, screen),
        ) {
            assert_eq!((a.x, a.right(), b.right()), (region.x, b.x, region.right()));
        }
    }
    Ok(())
}

/// Scaling along one axis is monotonic and maps 0 and `n` to the first and last pixel.
fn check_scaling(ms: ModelSpace, n: u32, extent: u32, v: i64) -> Result<()> {
    assert_eq!(ms.to_pixel(0, extent, Axis::X), Ok(0));
    assert_eq!(ms.to_pixel(n.into(), extent, Axis::X), Ok(extent - 1));
    if (0..i64::from(n)).contains(&v) {
        let (a, b) = (
            ms.to_pixel(v, extent, Axis::X),
            ms.to_pixel(v + 1, extent, Axis::X),
        );
        assert!(a.unwrap() <= b.unwrap(), "{v} of {n} on {extent}");
    }
    Ok(())
}

/// A screen dimension: usually a plausible one (including 0), sometimes anything.
fn extent(u: &mut Unstructured<'_>) -> Result<u32> {
    if u.arbitrary()? {
        u.int_in_range(0..=8192)
    } else {
        u.arbitrary()
    }
}

/// An agent's number: usually near `0..=limit`, sometimes anything an i64 holds.
fn coord(u: &mut Unstructured<'_>, limit: i64) -> Result<i64> {
    if u.arbitrary()? {
        u.int_in_range(-2..=limit + 2)
    } else {
        u.arbitrary()
    }
}
