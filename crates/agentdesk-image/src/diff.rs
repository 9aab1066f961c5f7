//! Finding what changed between two captures of the screen.
//!
//! Owns [`diff`] and [`Change`]. Agents ask "wait until the screen changes" and "did my
//! click do anything"; both compare consecutive frames, often many times a second, so
//! the comparison must cost about a millisecond on a 4 MB frame and allocate nothing.

use crate::frame::Frame;
use crate::geom::Rect;

/// What differs between two frames of the same size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Change {
    /// Smallest rectangle containing every changed pixel.
    pub bbox: Rect,
    /// Number of changed pixels (at most `bbox.area()`).
    pub pixels: u64,
}

/// Bytes per BGRX pixel.
const BPP: usize = 4;

/// Whether two BGRX pixels differ in colour; the X (padding) byte is ignored because
/// the X server leaves it undefined, so it may change without anything visible changing.
/// Compared as one masked `u32` rather than three bytes so the counting loop vectorises.
fn differs(a: &[u8], b: &[u8]) -> bool {
    let word = |p: &[u8]| u32::from_le_bytes([p[0], p[1], p[2], p[3]]);
    // Little-endian: B, G, R in the low 24 bits, X in the top byte.
    (word(a) ^ word(b)) & 0x00FF_FFFF != 0
}

/// Number of differing pixels between two equally long BGRX spans.
///
/// Works on two pixels per `u64` with branch-free arithmetic so that the loop
/// vectorises: a fully changed 1280x800 frame is a million pixels to count.
fn count_differing(a: &[u8], b: &[u8]) -> u64 {
    const MASK: u64 = 0x00FF_FFFF_00FF_FFFF;
    let word = |p: &[u8]| u64::from_le_bytes([p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[7]]);
    let (pairs_a, pairs_b) = (a.chunks_exact(2 * BPP), b.chunks_exact(2 * BPP));
    // An odd pixel at the end, if any.
    let tail = match (pairs_a.remainder(), pairs_b.remainder()) {
        (p, q) if p.len() == BPP => u64::from(differs(p, q)),
        _ => 0,
    };
    let pairs: u64 = pairs_a
        .zip(pairs_b)
        .map(|(p, q)| {
            let x = (word(p) ^ word(q)) & MASK;
            u64::from(x & 0xFFFF_FFFF != 0) + u64::from(x >> 32 != 0)
        })
        .sum();
    pairs + tail
}

/// Compare two BGRX frames, ignoring the padding byte. `None` if identical. If the sizes
/// differ the screen was resized, which is a change: the result covers all of `b` (taken
/// to be the newer frame).
///
/// Identical rows are skipped with a slice comparison (a `memcmp`); only rows that
/// differ as bytes are walked pixel by pixel, and there only between the first and last
/// differing pixel.
pub fn diff(a: &Frame, b: &Frame) -> Option<Change> {
    if a.size != b.size {
        return Some(Change {
            bbox: Rect::full(b.size),
            pixels: b.size.area(),
        });
    }
    let width = a.size.width;
    // (left, right inclusive, top, bottom inclusive) of the changed pixels so far.
    let mut bounds: Option<(usize, usize, u32, u32)> = None;
    let mut pixels = 0u64;
    for y in 0..a.size.height {
        let (ra, rb) = (a.row_span(y, 0, width), b.row_span(y, 0, width));
        if ra == rb {
            continue;
        }
        let mut pairs = ra.chunks_exact(BPP).zip(rb.chunks_exact(BPP));
        // Bytes differ, but maybe only in padding: then this row has no change.
        let Some(first) = pairs.position(|(p, q)| differs(p, q)) else {
            continue;
        };
        let last = ra
            .chunks_exact(BPP)
            .zip(rb.chunks_exact(BPP))
            .rposition(|(p, q)| differs(p, q))
            .unwrap_or(first);
        pixels += count_differing(
            &ra[first * BPP..(last + 1) * BPP],
            &rb[first * BPP..(last + 1) * BPP],
        );
        bounds = Some(match bounds {
            None => (first, last, y, y),
            Some((l, r, top, _)) => (l.min(first), r.max(last), top, y),
        });
    }
    let (left, right, top, bottom) = bounds?;
    // Column indices come from rows of `width` pixels, so they fit in u32.
    let to_u32 = |v: usize| u32::try_from(v).unwrap_or(u32::MAX);
    Some(Change {
        bbox: Rect {
            x: to_u32(left),
            y: top,
            width: to_u32(right - left + 1),
            height: bottom - top + 1,
        },
        pixels,
    })
}

/// A change at least this many pixels counts as visible whatever its shape.
const VISIBLE_PIXELS: u64 = 64;
/// A change whose bounding box is at least this many pixels in both directions counts
/// as visible; anything thinner is a line, like a text caret (1–2 px in GTK and Firefox).
const VISIBLE_SIDE: u32 = 4;

impl Change {
    /// Whether this change is something an agent would call "the screen changed".
    ///
    /// A blinking text caret is a change confined to a line 1–3 pixels thin and must not
    /// count, or "wait for the screen to settle" would never return while a text field
    /// has focus. A change whose bounding box is at least 4 pixels in both dimensions
    /// counts, and so does any change of at least 64 pixels (e.g. a long underline or
    /// progress bar, which is thin but real).
    pub fn is_visible(&self) -> bool {
        (self.bbox.width >= VISIBLE_SIDE && self.bbox.height >= VISIBLE_SIDE)
            || self.pixels >= VISIBLE_PIXELS
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::frame::tests::pattern_frame;
    use crate::geom::Size;

    fn size(width: u32, height: u32) -> Size {
        Size { width, height }
    }

    /// Set the colour of pixel (x, y) to something no pattern pixel has.
    fn paint(f: &mut Frame, x: u32, y: u32) {
        let i = y as usize * f.stride + x as usize * 4;
        f.data[i..i + 3].copy_from_slice(&[0x12, 0x34, 0xFF]);
    }

    #[test]
    fn identical_frames_have_no_change() {
        let a = pattern_frame(size(40, 30), 4);
        assert_eq!(diff(&a, &a.clone()), None);
    }

    #[test]
    fn identical_pixels_with_different_strides_have_no_change() {
        let a = pattern_frame(size(40, 30), 0);
        let b = pattern_frame(size(40, 30), 12);
        assert_eq!(diff(&a, &b), None);
    }

    #[test]
    fn one_pixel() {
        let a = pattern_frame(size(40, 30), 4);
        let mut b = a.clone();
        paint(&mut b, 17, 9);
        let change = diff(&a, &b).unwrap();
        assert_eq!(
            change,
            Change {
                bbox: Rect {
                    x: 17,
                    y: 9,
                    width: 1,
                    height: 1
                },
                pixels: 1
            }
        );
        assert!(!change.is_visible());
    }

    #[test]
    fn padding_only_differences_are_ignored() {
        let a = pattern_frame(size(40, 30), 4);
        let mut b = a.clone();
        // The X byte of every pixel, and the row padding.
        for (i, byte) in b.data.iter_mut().enumerate() {
            if i % b.stride >= 160 || i % 4 == 3 {
                *byte ^= 0xFF;
            }
        }
        assert_eq!(diff(&a, &b), None);
    }

    #[test]
    fn bbox_and_count_span_rows() {
        let a = pattern_frame(size(40, 30), 0);
        let mut b = a.clone();
        paint(&mut b, 30, 2);
        paint(&mut b, 5, 7);
        paint(&mut b, 6, 7);
        // Padding noise on a row in between must not count.
        b.data[5 * 160 + 3] ^= 1;
        let change = diff(&a, &b).unwrap();
        assert_eq!(
            change.bbox,
            Rect {
                x: 5,
                y: 2,
                width: 26,
                height: 6
            }
        );
        assert_eq!(change.pixels, 3);
    }

    #[test]
    fn caret_is_not_visible_but_text_is() {
        let a = pattern_frame(size(100, 60), 0);
        let mut caret = a.clone();
        for y in 20..37 {
            paint(&mut caret, 50, y);
        }
        let change = diff(&a, &caret).unwrap();
        assert_eq!(
            change.bbox,
            Rect {
                x: 50,
                y: 20,
                width: 1,
                height: 17
            }
        );
        assert_eq!(change.pixels, 17);
        assert!(!change.is_visible());

        // Five 8x16 characters typed.
        let mut typed = a.clone();
        for y in 20..36 {
            for x in 10..50 {
                paint(&mut typed, x, y);
            }
        }
        let change = diff(&a, &typed).unwrap();
        assert_eq!(change.pixels, 640);
        assert!(change.is_visible());
    }

    #[test]
    fn visibility_thresholds() {
        let change = |width, height, pixels| Change {
            bbox: Rect {
                x: 0,
                y: 0,
                width,
                height,
            },
            pixels,
        };
        assert!(!change(3, 21, 63).is_visible());
        assert!(change(3, 22, 64).is_visible());
        assert!(change(4, 4, 2).is_visible());
        assert!(!change(4, 3, 12).is_visible());
    }

    #[test]
    fn size_change_is_a_full_change() {
        let a = pattern_frame(size(40, 30), 0);
        let b = pattern_frame(size(30, 40), 0);
        assert_eq!(
            diff(&a, &b),
            Some(Change {
                bbox: Rect::full(b.size),
                pixels: 1200
            })
        );
    }

    proptest! {
        /// `diff` agrees with a naive per-pixel comparison through `Frame::pixel`.
        #[test]
        fn diff_matches_naive(
            (width, height, pad_a, pad_b, edits) in (1u32..20, 1u32..8, 0usize..3, 0usize..3)
                .prop_flat_map(|(w, h, pa, pb)| {
                    // (x, y, byte within pixel 0..4, xor value); byte 3 is padding.
                    let edit = (0..w, 0..h, 0usize..4, 1u8..=255);
                    (Just(w), Just(h), Just(pa), Just(pb), prop::collection::vec(edit, 0..6))
                })
        ) {
            let a = pattern_frame(size(width, height), pad_a * 4);
            let mut b = pattern_frame(size(width, height), pad_b * 4);
            for &(x, y, byte, xor) in &edits {
                b.data[y as usize * b.stride + x as usize * 4 + byte] ^= xor;
            }
            let mut naive: Option<(u32, u32, u32, u32)> = None;
            let mut pixels = 0;
            for y in 0..height {
                for x in 0..width {
                    let p = crate::geom::Point { x, y };
                    if a.pixel(p) != b.pixel(p) {
                        pixels += 1;
                        naive = Some(match naive {
                            None => (x, y, x, y),
                            Some((l, t, r, bt)) => (l.min(x), t.min(y), r.max(x), bt.max(y)),
                        });
                    }
                }
            }
            let expected = naive.map(|(l, t, r, bt)| Change {
                bbox: Rect { x: l, y: t, width: r - l + 1, height: bt - t + 1 },
                pixels,
            });
            prop_assert_eq!(diff(&a, &b), expected);
        }
    }

    /// Timing report; run with
    /// `cargo test --release -p agentdesk-image diff_timings -- --ignored --nocapture`.
    #[test]
    #[ignore = "timing report, not a check"]
    fn diff_timings() {
        let a = pattern_frame(size(1280, 800), 0);
        let mut caret = a.clone();
        for y in 300..317 {
            paint(&mut caret, 640, y);
        }
        let mut everything = a.clone();
        for byte in &mut everything.data {
            *byte ^= 1;
        }
        for (name, b) in [
            ("identical", &a.clone()),
            ("caret", &caret),
            ("all changed", &everything),
        ] {
            let start = std::time::Instant::now();
            let mut result = None;
            for _ in 0..50 {
                result = std::hint::black_box(diff(&a, b));
            }
            println!(
                "diff {name}: {:?} per 1280x800 frame -> {result:?}",
                start.elapsed() / 50
            );
        }
    }
}
