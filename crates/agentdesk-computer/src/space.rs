//! Where each dialect's numbers land on the screen: the one place coordinates are converted.
//!
//! A dialect speaks one of three conventions. Pixels of the screenshots it is sent, which are
//! the screen's own pixels when the screen fits the vendor's image limits (OpenAI, Anthropic
//! on most screens); pixels of a screenshot scaled down to fit the limits (Anthropic on a large
//! screen, or an older Anthropic tool declared at a smaller display size); or a grid of `n`
//! steps per axis whatever the screen (Gemini's 0–999, open models' 0–1000).

use agentdesk_image::{Axis, ModelSpace, Point, Rect, Size};

use crate::Error;

/// A vendor's limit on the images a model is sent: the long edge, and a count of
/// `patch`×`patch` tiles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    /// Longest side, pixels.
    pub long_edge: u32,
    /// Most tiles, counting partial tiles whole.
    pub tiles: u32,
    /// A tile's side, pixels.
    pub patch: u32,
}

impl Limit {
    /// Whether an image of `size` is within the limit.
    pub fn admits(&self, size: Size) -> bool {
        let tiles = u64::from(size.width.div_ceil(self.patch))
            * u64::from(size.height.div_ceil(self.patch));
        size.width.max(size.height) <= self.long_edge && tiles <= u64::from(self.tiles)
    }
}

/// Anthropic's computer toolset rejects (does not shrink) larger images: 2576 px on the long
/// edge and 4784 tiles of 28 px.
pub const ANTHROPIC_LIMIT: Limit = Limit {
    long_edge: 2576,
    tiles: 4784,
    patch: 28,
};

/// The models before Anthropic's toolset (the single `computer` tool) are sent images shrunk
/// by the API above 1568 px on the long edge or about 1.15 megapixels (about 1 467 tiles of
/// 28 px): screenshots are scaled to fit first, so that coordinates stay those of the image the
/// model saw.
pub const ANTHROPIC_LEGACY_LIMIT: Limit = Limit {
    long_edge: 1568,
    tiles: 1467,
    patch: 28,
};

/// A dialect's coordinate convention on one screen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Space {
    screen: Size,
    kind: Kind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Pixels,
    Image(Size),
    Grid(u32),
}

impl Space {
    /// The screen's own pixels.
    pub fn pixels(screen: Size) -> Space {
        Space {
            screen,
            kind: Kind::Pixels,
        }
    }

    /// `n` steps per axis, whatever the screen: a coordinate `v` is pixel `v·W/n`.
    pub fn grid(screen: Size, n: u32) -> Space {
        Space {
            screen,
            kind: Kind::Grid(n.max(1)),
        }
    }

    /// Pixels of screenshots scaled to `image` (the screen itself if the sizes are equal).
    pub fn image(screen: Size, image: Size) -> Result<Space, Error> {
        if image.width == 0 || image.height == 0 {
            return Err(Error::Body(format!(
                "a display of {}x{} has no pixels",
                image.width, image.height
            )));
        }
        if image.width > screen.width || image.height > screen.height {
            return Err(Error::Body(format!(
                "the declared display {}x{} is larger than the screen ({}x{}); declare the \
                 screen's size or smaller",
                image.width, image.height, screen.width, screen.height
            )));
        }
        let kind = if image == screen {
            Kind::Pixels
        } else {
            Kind::Image(image)
        };
        Ok(Space { screen, kind })
    }

    /// The screen's pixels if the screen's image fits `limit`, else the largest image of the
    /// screen's proportions that does.
    pub fn within(screen: Size, limit: Limit) -> Space {
        if limit.admits(screen) {
            return Space::pixels(screen);
        }
        // Shrink by whole thousandths until it fits: a few hundred tries at most.
        let mut permille = 1000u64;
        let image = loop {
            permille -= 1;
            let size = Size {
                width: (u64::from(screen.width) * permille / 1000).max(1) as u32,
                height: (u64::from(screen.height) * permille / 1000).max(1) as u32,
            };
            if limit.admits(size) || permille == 1 {
                break size;
            }
        };
        Space {
            screen,
            kind: Kind::Image(image),
        }
    }

    /// The screen, in pixels.
    pub fn screen(&self) -> Size {
        self.screen
    }

    /// The size screenshots must have for this convention.
    pub fn image_size(&self) -> Size {
        match self.kind {
            Kind::Image(size) => size,
            Kind::Pixels | Kind::Grid(_) => self.screen,
        }
    }

    /// Whether screenshots are scaled (and so must be shrunk before they are sent).
    pub fn is_scaled(&self) -> bool {
        matches!(self.kind, Kind::Image(_))
    }

    /// How the model's numbers are to be read, for messages.
    pub fn describe(&self) -> String {
        match self.kind {
            Kind::Pixels => format!(
                "pixels of the {}x{} screenshot",
                self.screen.width, self.screen.height
            ),
            Kind::Image(s) => format!(
                "pixels of the {}x{} screenshot (the {}x{} screen, scaled)",
                s.width, s.height, self.screen.width, self.screen.height
            ),
            Kind::Grid(n) => format!("a 0-{} grid on each axis", n - 1),
        }
    }

    /// The screen pixel the model means by (`x`, `y`).
    pub fn point(&self, x: i64, y: i64) -> Result<Point, Error> {
        let axis = |v: i64, extent: u32, image: u32, axis: Axis| -> Result<u32, Error> {
            let bad = || {
                Error::Call(format!(
                    "coordinate ({x}, {y}) is outside the screen: coordinates are {}; {} \
                     must be 0 to {}",
                    self.describe(),
                    axis,
                    self.max_on(axis)
                ))
            };
            match self.kind {
                Kind::Pixels => u32::try_from(v)
                    .ok()
                    .filter(|&v| v < extent)
                    .ok_or_else(bad),
                Kind::Image(_) => {
                    let v = u32::try_from(v)
                        .ok()
                        .filter(|&v| v < image)
                        .ok_or_else(bad)?;
                    ModelSpace(Some(image))
                        .to_pixel(i64::from(v), extent, axis)
                        .map_err(|_| bad())
                }
                Kind::Grid(n) => ModelSpace(Some(n))
                    .to_pixel(v, extent, axis)
                    .map_err(|_| bad()),
            }
        };
        let image = self.image_size();
        Ok(Point {
            x: axis(x, self.screen.width, image.width, Axis::X)?,
            y: axis(y, self.screen.height, image.height, Axis::Y)?,
        })
    }

    /// [`Space::point`] of a pair.
    pub fn point_of(&self, (x, y): (i64, i64)) -> Result<Point, Error> {
        self.point(x, y)
    }

    fn max_on(&self, axis: Axis) -> u32 {
        match self.kind {
            Kind::Grid(n) => n - 1,
            _ => self.image_size().extent(axis).saturating_sub(1),
        }
    }

    /// The screen rectangle the model means by the corners (`x0`, `y0`) and (`x1`, `y1`), the
    /// second exclusive.
    pub fn region(&self, x0: i64, y0: i64, x1: i64, y1: i64) -> Result<Rect, Error> {
        let image = self.image_size();
        let (w, h) = match self.kind {
            Kind::Grid(n) => (n, n),
            _ => (image.width, image.height),
        };
        let bad = || {
            Error::Call(format!(
                "region [{x0}, {y0}, {x1}, {y1}] is not a rectangle within the screen: it is \
                 [left, top, right, bottom] in {}, with right > left and bottom > top (right \
                 at most {w}, bottom at most {h})",
                self.describe()
            ))
        };
        let edge = |v: i64, model: u32, extent: u32| -> Option<u32> {
            let v = u64::try_from(v).ok().filter(|&v| v <= u64::from(model))?;
            // Round half up: v·extent/model.
            Some(((2 * v * u64::from(extent) + u64::from(model)) / (2 * u64::from(model))) as u32)
        };
        let (sw, sh) = (self.screen.width, self.screen.height);
        let left = edge(x0, w, sw).ok_or_else(bad)?;
        let top = edge(y0, h, sh).ok_or_else(bad)?;
        let right = edge(x1, w, sw).ok_or_else(bad)?;
        let bottom = edge(y1, h, sh).ok_or_else(bad)?;
        if right <= left || bottom <= top {
            return Err(bad());
        }
        Ok(Rect {
            x: left,
            y: top,
            width: right - left,
            height: bottom - top,
        })
    }

    /// The model's numbers for screen pixel `p` (for the pointer's position).
    pub fn to_model(&self, p: Point) -> (u32, u32) {
        let back = |px: u32, extent: u32, model: u32| -> u32 {
            let v = (2 * u64::from(px.min(extent)) * u64::from(model) + u64::from(extent))
                / (2 * u64::from(extent.max(1)));
            (v as u32).min(model.saturating_sub(1))
        };
        match self.kind {
            Kind::Pixels => (p.x, p.y),
            Kind::Image(s) => (
                back(p.x, self.screen.width, s.width),
                back(p.y, self.screen.height, s.height),
            ),
            Kind::Grid(n) => (
                back(p.x, self.screen.width, n),
                back(p.y, self.screen.height, n),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCREEN: Size = Size {
        width: 1280,
        height: 800,
    };

    #[test]
    fn pixels_are_the_screen() {
        let s = Space::pixels(SCREEN);
        assert_eq!(s.point(0, 0).unwrap(), Point { x: 0, y: 0 });
        assert_eq!(s.point(1279, 799).unwrap(), Point { x: 1279, y: 799 });
        let e = s.point(1280, 5).unwrap_err().to_string();
        assert!(e.contains("x must be 0 to 1279"), "{e}");
        assert!(s.point(-1, 0).is_err());
        assert_eq!(s.to_model(Point { x: 7, y: 9 }), (7, 9));
    }

    #[test]
    fn a_grid_spans_the_screen() {
        let s = Space::grid(SCREEN, 1000);
        assert_eq!(s.point(500, 500).unwrap(), Point { x: 640, y: 400 });
        assert_eq!(s.point(999, 999).unwrap(), Point { x: 1279, y: 799 });
        // 1000 is the far edge: the last pixel.
        assert_eq!(s.point(1000, 1000).unwrap(), Point { x: 1279, y: 799 });
        assert!(s.point(1001, 0).is_err());
        assert_eq!(s.to_model(Point { x: 640, y: 400 }), (500, 500));
        assert_eq!(s.to_model(Point { x: 1279, y: 799 }), (999, 999));
    }

    #[test]
    fn a_scaled_image_maps_back() {
        let screen = Size {
            width: 3840,
            height: 2160,
        };
        let s = Space::within(screen, ANTHROPIC_LIMIT);
        assert!(s.is_scaled());
        let image = s.image_size();
        assert!(ANTHROPIC_LIMIT.admits(image));
        assert!(!ANTHROPIC_LIMIT.admits(screen));
        // The same proportions, within a pixel.
        let ratio = f64::from(image.width) / f64::from(image.height);
        assert!((ratio - 16.0 / 9.0).abs() < 0.01, "{image:?}");
        // A point and its way back.
        let p = s.point(100, 50).unwrap();
        let back = s.to_model(p);
        assert!(back.0.abs_diff(100) <= 1 && back.1.abs_diff(50) <= 1);
        let e = s.point(i64::from(image.width), 0).unwrap_err().to_string();
        assert!(e.contains("scaled"), "{e}");
    }

    #[test]
    fn screens_within_the_limit_stay_unscaled() {
        for (w, h) in [(1280, 800), (1920, 1080), (2560, 1440), (1024, 768)] {
            let s = Space::within(
                Size {
                    width: w,
                    height: h,
                },
                ANTHROPIC_LIMIT,
            );
            assert!(!s.is_scaled(), "{w}x{h}");
        }
    }

    #[test]
    fn a_declared_display_scales() {
        let s = Space::image(
            SCREEN,
            Size {
                width: 1024,
                height: 640,
            },
        )
        .unwrap();
        assert_eq!(s.point(512, 320).unwrap(), Point { x: 640, y: 400 });
        assert!(Space::image(
            SCREEN,
            Size {
                width: 2000,
                height: 800
            }
        )
        .is_err());
        assert!(Space::image(
            SCREEN,
            Size {
                width: 0,
                height: 800
            }
        )
        .is_err());
        assert!(!Space::image(SCREEN, SCREEN).unwrap().is_scaled());
    }

    #[test]
    fn regions_map_their_edges() {
        let s = Space::pixels(SCREEN);
        assert_eq!(
            s.region(10, 20, 110, 70).unwrap(),
            Rect {
                x: 10,
                y: 20,
                width: 100,
                height: 50
            }
        );
        assert_eq!(s.region(0, 0, 1280, 800).unwrap(), Rect::full(SCREEN));
        assert!(s.region(10, 20, 10, 70).is_err());
        assert!(s.region(10, 20, 1281, 70).is_err());
        let g = Space::grid(SCREEN, 1000);
        assert_eq!(
            g.region(0, 0, 500, 500).unwrap(),
            Rect {
                x: 0,
                y: 0,
                width: 640,
                height: 400
            }
        );
    }
}
