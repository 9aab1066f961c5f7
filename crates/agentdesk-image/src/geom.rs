//! Screen geometry and the mapping from an agent's coordinates to screen pixels.
//!
//! Owns [`Size`], [`Point`], [`Rect`] (all in screen pixels) and [`ModelSpace`], which
//! turns the numbers an agent sends into pixels. Vision models often do not speak
//! pixels: Qwen-VL, for example, emits coordinates on a 0..=1000 grid regardless of the
//! screenshot size. GhostDesk solved this with the `GhostDesk-Model-Space: N` header;
//! we follow its semantics exactly (including Python's round-half-to-even) so agents
//! tuned against GhostDesk click the same pixels here.

use std::fmt;

use crate::error::Error;

/// A size in pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Size {
    /// Pixels per row.
    pub width: u32,
    /// Number of rows.
    pub height: u32,
}

impl Size {
    /// Whether `p` is a pixel of a screen of this size.
    pub fn contains(&self, p: Point) -> bool {
        p.x < self.width && p.y < self.height
    }

    /// Number of pixels; `u64` because `u32 * u32` can overflow `u32`.
    pub fn area(&self) -> u64 {
        u64::from(self.width) * u64::from(self.height)
    }

    /// The number of pixels along `axis` (width for X, height for Y).
    pub fn extent(&self, axis: Axis) -> u32 {
        match axis {
            Axis::X => self.width,
            Axis::Y => self.height,
        }
    }
}

/// Formats as `WIDTHxHEIGHT`, the form used in every message an agent reads.
impl fmt::Display for Size {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}x{}", self.width, self.height)
    }
}

/// A pixel on screen, counted from the top-left corner.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Point {
    /// Column, 0 = leftmost.
    pub x: u32,
    /// Row, 0 = topmost.
    pub y: u32,
}

/// A rectangle of pixels: columns `x..x+width`, rows `y..y+height`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Rect {
    /// Leftmost column.
    pub x: u32,
    /// Topmost row.
    pub y: u32,
    /// Number of columns.
    pub width: u32,
    /// Number of rows.
    pub height: u32,
}

impl Rect {
    /// One past the rightmost column (`x + width`). Saturates instead of overflowing,
    /// since the fields are public and a nonsense rect must not panic here; bounds checks
    /// that matter use [`Rect::is_within`], which computes exactly.
    pub fn right(&self) -> u32 {
        self.x.saturating_add(self.width)
    }

    /// One past the bottom row (`y + height`), saturating like [`Rect::right`].
    pub fn bottom(&self) -> u32 {
        self.y.saturating_add(self.height)
    }

    /// Number of pixels.
    pub fn area(&self) -> u64 {
        u64::from(self.width) * u64::from(self.height)
    }

    /// The rectangle covering a whole screen of `size`.
    pub fn full(size: Size) -> Rect {
        Rect {
            x: 0,
            y: 0,
            width: size.width,
            height: size.height,
        }
    }

    /// Whether every pixel of this rect lies on a screen of `size`. Computed in `u64`
    /// so `x + width` cannot wrap around and sneak past the check.
    pub fn is_within(&self, size: Size) -> bool {
        u64::from(self.x) + u64::from(self.width) <= u64::from(size.width)
            && u64::from(self.y) + u64::from(self.height) <= u64::from(size.height)
    }

    /// The part of a rectangle given as signed numbers (an app's idea of where something is,
    /// which may start left of the screen or run past it) that lies on a screen of `size`, if
    /// any: each edge clamped to the screen, in `i64` with saturation, so no number wraps.
    pub fn clipped((x, y, width, height): (i64, i64, i64, i64), size: Size) -> Option<Rect> {
        let clamp = |v: i64, extent: u32| v.clamp(0, i64::from(extent)) as u32;
        let (x0, y0) = (clamp(x, size.width), clamp(y, size.height));
        let x1 = clamp(x.saturating_add(width), size.width);
        let y1 = clamp(y.saturating_add(height), size.height);
        (x1 > x0 && y1 > y0).then(|| Rect {
            x: x0,
            y: y0,
            width: x1 - x0,
            height: y1 - y0,
        })
    }

    /// The pixels both rectangles cover, if any.
    pub fn intersection(&self, other: Rect) -> Option<Rect> {
        let (x, y) = (self.x.max(other.x), self.y.max(other.y));
        let (r, b) = (
            self.right().min(other.right()),
            self.bottom().min(other.bottom()),
        );
        (r > x && b > y).then(|| Rect {
            x,
            y,
            width: r - x,
            height: b - y,
        })
    }

    /// The smallest rectangle covering both.
    pub fn union(&self, other: Rect) -> Rect {
        let (x, y) = (self.x.min(other.x), self.y.min(other.y));
        Rect {
            x,
            y,
            width: self.right().max(other.right()) - x,
            height: self.bottom().max(other.bottom()) - y,
        }
    }

    /// The pixel at the centre (rounded towards the top-left).
    pub fn center(&self) -> Point {
        Point {
            x: self.x.saturating_add(self.width / 2),
            y: self.y.saturating_add(self.height / 2),
        }
    }

    /// Whether pixel `p` is in this rectangle.
    pub fn contains(&self, p: Point) -> bool {
        p.x >= self.x && p.x < self.right() && p.y >= self.y && p.y < self.bottom()
    }

    /// This rectangle grown by `by` pixels on every side, within a screen of `size`.
    pub fn grown(&self, by: u32, size: Size) -> Rect {
        let (x, y) = (self.x.saturating_sub(by), self.y.saturating_sub(by));
        Rect {
            x,
            y,
            width: self
                .right()
                .saturating_add(by)
                .min(size.width)
                .saturating_sub(x),
            height: self
                .bottom()
                .saturating_add(by)
                .min(size.height)
                .saturating_sub(y),
        }
    }
}

/// A screen axis; used to name the offending coordinate in errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Axis {
    /// Horizontal: columns, width.
    X,
    /// Vertical: rows, height.
    Y,
}

/// Formats as `x` or `y`, as the agent names the argument.
impl fmt::Display for Axis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Axis::X => "x",
            Axis::Y => "y",
        })
    }
}

/// How an agent's coordinates map to screen pixels (GhostDesk's `GhostDesk-Model-Space: N`
/// semantics): `None` = pass-through (pixels), `Some(n)` = the agent speaks `0..=n` on
/// each axis. `Some(0)` cannot come out of [`ModelSpace::parse`]; if constructed directly
/// it behaves as pass-through rather than dividing by zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ModelSpace(pub Option<u32>);

/// Largest model space [`ModelSpace::parse`] accepts. Real models use 1000 or so; a
/// larger value is far more likely a mistake (e.g. a pixel count pasted in) than intent.
const MAX_MODEL_SPACE: u64 = 1_000_000;

impl ModelSpace {
    /// Parse a header or query value: a positive integer gives `Some(n)`; `"0"`, empty,
    /// negative, garbage, or anything above 1 000 000 gives pass-through. Surrounding
    /// whitespace is ignored. GhostDesk treats malformed values as pass-through rather
    /// than failing the request, and so do we: the agent still gets a working session
    /// and will see pixel-sized screenshots.
    pub fn parse(value: &str) -> ModelSpace {
        match value.trim().parse::<u64>() {
            Ok(n) if (1..=MAX_MODEL_SPACE).contains(&n) => ModelSpace(u32::try_from(n).ok()),
            _ => ModelSpace(None),
        }
    }

    /// The model-space size, with the degenerate `Some(0)` treated as pass-through.
    fn n(&self) -> Option<u32> {
        self.0.filter(|&n| n > 0)
    }

    /// Map one agent coordinate on an axis of `extent` pixels to a pixel index.
    ///
    /// Pass-through: `v` must satisfy `0 <= v < extent`.
    /// Model space `n`: `v` must satisfy `0 <= v <= n`; the pixel is
    /// `round_half_even(v * extent / n)`, computed exactly in integers (GhostDesk uses
    /// Python's `round()`, which rounds halves to even, and floating point could land
    /// on the other side of a half), then clamped to `extent - 1` so that `v == n` —
    /// which Qwen emits, as it speaks 0..=1000 inclusive — hits the last pixel.
    pub fn to_pixel(&self, v: i64, extent: u32, axis: Axis) -> Result<u32, Error> {
        self.map_axis(v, extent, axis, None)
    }

    /// [`ModelSpace::to_pixel`] with the full screen size for the error message.
    fn map_axis(
        &self,
        v: i64,
        extent: u32,
        axis: Axis,
        screen: Option<Size>,
    ) -> Result<u32, Error> {
        let err = || Error::OutOfScreen {
            axis,
            value: v,
            extent,
            screen,
            model_space: self.n(),
        };
        match self.n() {
            None => u32::try_from(v)
                .ok()
                .filter(|&px| px < extent)
                .ok_or_else(err),
            Some(n) => {
                let v = u32::try_from(v).ok().filter(|&v| v <= n).ok_or_else(err)?;
                // A zero-pixel screen has no pixel to land on, whatever the model space.
                let last = extent.checked_sub(1).ok_or_else(err)?;
                Ok(scale(v, extent, n).min(last))
            }
        }
    }

    /// The agent's coordinate of pixel `px` on an axis of `extent` pixels: the pixel itself
    /// in pass-through, else `round_half_even(px * n / extent)`, the inverse of
    /// [`ModelSpace::to_pixel`] (a value sent back in lands on the same pixel, or within one
    /// when the model space is coarser than the screen).
    pub fn from_pixel(&self, px: u32, extent: u32) -> u32 {
        match self.n() {
            Some(n) if extent > 0 => scale(px.min(extent), n, extent),
            _ => px,
        }
    }

    /// A pixel rectangle in the agent's space: each edge mapped with
    /// [`ModelSpace::from_pixel`], so adjacent rectangles stay adjacent.
    pub fn rect_from_pixels(&self, rect: Rect, screen: Size) -> (u32, u32, u32, u32) {
        let x0 = self.from_pixel(rect.x, screen.width);
        let y0 = self.from_pixel(rect.y, screen.height);
        let x1 = self.from_pixel(rect.right(), screen.width);
        let y1 = self.from_pixel(rect.bottom(), screen.height);
        (x0, y0, x1.saturating_sub(x0), y1.saturating_sub(y0))
    }

    /// A pixel point in the agent's space.
    pub fn point_from_pixel(&self, p: Point, screen: Size) -> (u32, u32) {
        (
            self.from_pixel(p.x, screen.width),
            self.from_pixel(p.y, screen.height),
        )
    }

    /// The model space's side, if the agent does not speak pixels.
    pub fn size(&self) -> Option<u32> {
        self.n()
    }

    /// Map an agent point to a screen pixel; see [`ModelSpace::to_pixel`].
    pub fn point(&self, x: i64, y: i64, screen: Size) -> Result<Point, Error> {
        Ok(Point {
            x: self.map_axis(x, screen.width, Axis::X, Some(screen))?,
            y: self.map_axis(y, screen.height, Axis::Y, Some(screen))?,
        })
    }

    /// Map a region (`x`, `y`, `width`, `height` in agent space) to a pixel [`Rect`].
    ///
    /// Pass-through: `width, height >= 1` and the region must lie within the screen
    /// (`x + width <= W`, `y + height <= H`).
    /// Model space `n`: `width, height >= 1`, `x + width <= n`, `y + height <= n`. The two
    /// edges on each axis are mapped separately with round-half-even (no "last pixel"
    /// clamp: the far edge is exclusive, so `n` maps to `extent` itself) and the pixel
    /// size is their difference, which must be at least one pixel. Mapping edges rather
    /// than scaling the width keeps adjacent regions adjacent, with no gap or overlap.
    pub fn region(
        &self,
        x: i64,
        y: i64,
        width: i64,
        height: i64,
        screen: Size,
    ) -> Result<Rect, Error> {
        let model_space = self.n();
        let empty = || Error::EmptyRegion {
            width,
            height,
            screen,
            model_space,
        };
        let outside = || Error::RegionOutOfScreen {
            x,
            y,
            width,
            height,
            screen,
            model_space,
        };
        if width < 1 || height < 1 {
            return Err(empty());
        }
        // i128 so that `x + width` cannot overflow whatever the agent sends.
        let fits = |start: i64, len: i64, limit: u32| {
            start >= 0 && i128::from(start) + i128::from(len) <= i128::from(limit)
        };
        let limit = |extent: u32| model_space.unwrap_or(extent);
        if !fits(x, width, limit(screen.width)) || !fits(y, height, limit(screen.height)) {
            return Err(outside());
        }
        // All four values are now within 0..=u32::MAX (bounded by a u32 limit).
        let narrow = |v: i64| u32::try_from(v).map_err(|_| outside());
        let (x, y, width, height) = (narrow(x)?, narrow(y)?, narrow(width)?, narrow(height)?);
        let Some(n) = model_space else {
            return Ok(Rect {
                x,
                y,
                width,
                height,
            });
        };
        // Edges are at most n here, so scaled edges are at most the extent.
        let span = |start: u32, len: u32, extent: u32| {
            let lo = scale(start, extent, n).min(extent);
            let hi = scale(start + len, extent, n).min(extent);
            (lo, hi - lo)
        };
        let (px, pw) = span(x, width, screen.width);
        let (py, ph) = span(y, height, screen.height);
        if pw == 0 || ph == 0 {
            return Err(empty());
        }
        Ok(Rect {
            x: px,
            y: py,
            width: pw,
            height: ph,
        })
    }
}

/// `round_half_even(v * extent / n)` in exact integer arithmetic; `n > 0`.
fn scale(v: u32, extent: u32, n: u32) -> u32 {
    let num = u64::from(v) * u64::from(extent);
    let n = u64::from(n);
    let (q, r) = (num / n, num % n);
    // Compare the remainder with half of n without dividing (which would truncate).
    let round_up = match (2 * r).cmp(&n) {
        std::cmp::Ordering::Greater => true,
        std::cmp::Ordering::Equal => q % 2 == 1,
        std::cmp::Ordering::Less => false,
    };
    let q = q + u64::from(round_up);
    // Callers pass v <= n, so q <= extent fits in u32; saturate rather than trust that.
    u32::try_from(q).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCREEN: Size = Size {
        width: 1280,
        height: 800,
    };

    #[test]
    fn clipping_signed_rectangles_to_the_screen() {
        let screen = Size {
            width: 100,
            height: 50,
        };
        let r = |x, y, width, height| Rect {
            x,
            y,
            width,
            height,
        };
        assert_eq!(
            Rect::clipped((10, 5, 20, 10), screen),
            Some(r(10, 5, 20, 10))
        );
        assert_eq!(
            Rect::clipped((-10, -5, 20, 10), screen),
            Some(r(0, 0, 10, 5))
        );
        assert_eq!(
            Rect::clipped((90, 45, 20, 10), screen),
            Some(r(90, 45, 10, 5))
        );
        assert_eq!(Rect::clipped((100, 0, 5, 5), screen), None);
        assert_eq!(Rect::clipped((-30, 0, 20, 5), screen), None);
        assert_eq!(Rect::clipped((0, 0, 0, 5), screen), None);
        assert_eq!(Rect::clipped((0, 0, -5, 5), screen), None);
        assert_eq!(
            Rect::clipped((i64::MAX, i64::MIN, i64::MAX, i64::MAX), screen),
            None
        );
        assert_eq!(
            Rect::clipped((i64::MIN, 0, i64::MAX, 50), screen),
            None,
            "ends at -1"
        );
    }

    #[test]
    fn parse_accepts_positive_integers_only() {
        assert_eq!(ModelSpace::parse("1000"), ModelSpace(Some(1000)));
        assert_eq!(ModelSpace::parse(" 1000 "), ModelSpace(Some(1000)));
        assert_eq!(ModelSpace::parse("\t1\n"), ModelSpace(Some(1)));
        assert_eq!(ModelSpace::parse("1000000"), ModelSpace(Some(1_000_000)));
        for bad in [
            "0",
            "-5",
            "abc",
            "",
            "  ",
            "10.5",
            "1000001",
            "99999999999999999999",
        ] {
            assert_eq!(ModelSpace::parse(bad), ModelSpace(None), "{bad:?}");
        }
    }

    #[test]
    fn pass_through_accepts_exactly_the_screen() {
        let ms = ModelSpace(None);
        assert_eq!(ms.to_pixel(0, 1280, Axis::X), Ok(0));
        assert_eq!(ms.to_pixel(1279, 1280, Axis::X), Ok(1279));
        assert_eq!(ms.point(1279, 799, SCREEN), Ok(Point { x: 1279, y: 799 }));

        let err = ms.point(1280, 0, SCREEN).unwrap_err();
        assert_eq!(
            err.to_string(),
            "x=1280 is outside the screen (1280x800 pixels; x must be 0..=1279)"
        );
        let err = ms.point(0, -1, SCREEN).unwrap_err();
        assert_eq!(
            err.to_string(),
            "y=-1 is outside the screen (1280x800 pixels; y must be 0..=799)"
        );
        let err = ms.point(1500, 0, SCREEN).unwrap_err();
        assert_eq!(
            err.to_string(),
            "x=1500 is outside the screen (1280x800 pixels; x must be 0..=1279)"
        );
        // Without the full screen only the one axis can be named.
        let err = ms.to_pixel(-1, 1280, Axis::X).unwrap_err();
        assert_eq!(
            err.to_string(),
            "x=-1 is outside the screen (1280 pixels wide; x must be 0..=1279)"
        );
        assert!(matches!(
            err,
            Error::OutOfScreen {
                axis: Axis::X,
                value: -1,
                extent: 1280,
                screen: None,
                model_space: None
            }
        ));
    }

    #[test]
    fn model_space_scales_and_clamps_the_far_edge() {
        let ms = ModelSpace(Some(1000));
        assert_eq!(ms.point(500, 500, SCREEN), Ok(Point { x: 640, y: 400 }));
        assert_eq!(ms.point(0, 0, SCREEN), Ok(Point { x: 0, y: 0 }));
        // 1000 * 1280 / 1000 = 1280 is one past the last pixel; clamped.
        assert_eq!(ms.point(1000, 1000, SCREEN), Ok(Point { x: 1279, y: 799 }));

        let err = ms.point(1200, 0, SCREEN).unwrap_err();
        assert_eq!(
            err.to_string(),
            "x=1200 is outside the model space 0..=1000 set by GhostDesk-Model-Space"
        );
        let err = ms.point(0, -3, SCREEN).unwrap_err();
        assert_eq!(
            err.to_string(),
            "y=-3 is outside the model space 0..=1000 set by GhostDesk-Model-Space"
        );
        // In model space, values between extent and n are fine even on a tiny axis.
        assert_eq!(ms.to_pixel(999, 10, Axis::X), Ok(9));
    }

    #[test]
    fn model_space_rounds_half_to_even() {
        // 1 * 3 / 2 = 1.5 -> 2 (even); clamp to 2 is not involved.
        assert_eq!(ModelSpace(Some(2)).to_pixel(1, 3, Axis::X), Ok(2));
        // 5 * 5 / 10 = 2.5 -> 2 (even), not 3.
        assert_eq!(ModelSpace(Some(10)).to_pixel(5, 5, Axis::X), Ok(2));
        // 7 * 5 / 10 = 3.5 -> 4 (even).
        assert_eq!(ModelSpace(Some(10)).to_pixel(7, 5, Axis::Y), Ok(4));
        // 1 * 1 / 2 = 0.5 -> 0 (even).
        assert_eq!(ModelSpace(Some(2)).to_pixel(1, 1, Axis::X), Ok(0));
        // Non-halves round to nearest: 1 * 1280 / 3 = 426.67 -> 427; 2*1280/3 = 853.33 -> 853.
        assert_eq!(ModelSpace(Some(3)).to_pixel(1, 1280, Axis::X), Ok(427));
        assert_eq!(ModelSpace(Some(3)).to_pixel(2, 1280, Axis::X), Ok(853));
    }

    #[test]
    fn degenerate_model_space_zero_is_pass_through() {
        assert_eq!(ModelSpace(Some(0)).to_pixel(5, 10, Axis::X), Ok(5));
        assert!(ModelSpace(Some(0)).to_pixel(10, 10, Axis::X).is_err());
    }

    #[test]
    fn empty_screen_has_no_pixels() {
        let err = ModelSpace(Some(1000)).to_pixel(0, 0, Axis::X).unwrap_err();
        assert!(matches!(err, Error::OutOfScreen { extent: 0, .. }));
        let err = ModelSpace(None).to_pixel(0, 0, Axis::Y).unwrap_err();
        assert_eq!(
            err.to_string(),
            "y=0 is outside the screen (0 pixels high; the screen has no pixels)"
        );
    }

    #[test]
    fn pass_through_region() {
        let ms = ModelSpace(None);
        assert_eq!(
            ms.region(10, 20, 100, 50, SCREEN),
            Ok(Rect {
                x: 10,
                y: 20,
                width: 100,
                height: 50
            })
        );
        assert_eq!(ms.region(0, 0, 1280, 800, SCREEN), Ok(Rect::full(SCREEN)));

        let err = ms.region(1000, 0, 400, 100, SCREEN).unwrap_err();
        assert_eq!(
            err.to_string(),
            "region x=1000 y=0 width=400 height=100 does not fit the screen (1280x800 pixels); \
             x and y must be 0 or more, x+width <= 1280 and y+height <= 800"
        );
        assert!(ms.region(-1, 0, 10, 10, SCREEN).is_err());
        assert!(ms.region(0, 1, 10, 800, SCREEN).is_err());
        assert!(ms.region(i64::MAX, 0, i64::MAX, 1, SCREEN).is_err());

        let err = ms.region(0, 0, 0, 10, SCREEN).unwrap_err();
        assert_eq!(
            err.to_string(),
            "region width=0 height=10 is empty; width and height must be at least 1"
        );
        assert!(matches!(
            ms.region(0, 0, 10, -2, SCREEN),
            Err(Error::EmptyRegion { .. })
        ));
    }

    #[test]
    fn model_space_region() {
        let ms = ModelSpace(Some(1000));
        let screen = Size {
            width: 1280,
            height: 1024,
        };
        // GhostDesk's documented example: 500x500 at n=1000 on 1280x1024 is 640x512.
        assert_eq!(
            ms.region(0, 0, 500, 500, screen),
            Ok(Rect {
                x: 0,
                y: 0,
                width: 640,
                height: 512
            })
        );
        assert_eq!(
            ms.region(500, 500, 500, 500, screen),
            Ok(Rect {
                x: 640,
                y: 512,
                width: 640,
                height: 512
            })
        );
        assert_eq!(ms.region(0, 0, 1000, 1000, screen), Ok(Rect::full(screen)));

        let err = ms.region(900, 0, 200, 100, screen).unwrap_err();
        assert_eq!(
            err.to_string(),
            "region x=900 y=0 width=200 height=100 extends past the model space 0..=1000 set by \
             GhostDesk-Model-Space; x and y must be 0 or more, x+width <= 1000 and y+height <= 1000"
        );
        assert!(ms.region(-1, 0, 10, 10, screen).is_err());

        // 1/1000 of 10 pixels rounds to no pixel at all.
        let tiny = Size {
            width: 10,
            height: 10,
        };
        let err = ms.region(0, 0, 1, 1, tiny).unwrap_err();
        assert_eq!(
            err.to_string(),
            "region width=1 height=1 in the model space 0..=1000 covers no whole pixel of the \
             10x10 pixel screen; make it larger"
        );
    }

    #[test]
    fn model_space_regions_tile_without_gaps() {
        // Adjacent agent regions must map to adjacent pixel rects.
        let ms = ModelSpace(Some(7));
        let screen = Size {
            width: 100,
            height: 100,
        };
        let mut next = 0;
        for x in 0..7 {
            let r = ms.region(x, 0, 1, 7, screen).unwrap();
            assert_eq!(r.x, next);
            next = r.right();
        }
        assert_eq!(next, 100);
    }

    #[test]
    fn rect_helpers() {
        let r = Rect {
            x: 2,
            y: 3,
            width: 4,
            height: 5,
        };
        assert_eq!((r.right(), r.bottom(), r.area()), (6, 8, 20));
        assert!(r.is_within(Size {
            width: 6,
            height: 8
        }));
        assert!(!r.is_within(Size {
            width: 5,
            height: 8
        }));
        let huge = Rect {
            x: u32::MAX,
            y: 0,
            width: 2,
            height: 1,
        };
        assert_eq!(huge.right(), u32::MAX);
        assert!(!huge.is_within(Size {
            width: u32::MAX,
            height: 1
        }));
        assert!(SCREEN.contains(Point { x: 1279, y: 799 }));
        assert!(!SCREEN.contains(Point { x: 1280, y: 0 }));
        assert_eq!(SCREEN.area(), 1_024_000);
        assert_eq!(SCREEN.to_string(), "1280x800");
    }
}
