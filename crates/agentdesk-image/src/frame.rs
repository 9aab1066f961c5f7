//! A captured screen image in the X server's native pixel layout, and cropping it.
//!
//! Owns [`Frame`]. We keep the bytes exactly as the X server hands them over (32-bit
//! BGRX, possibly with row padding) so capture does no per-pixel work; conversion to
//! packed RGB happens only for the region actually being encoded.

use crate::error::Error;
use crate::geom::{Point, Rect, Size};

/// Bytes per pixel in the X server's 32-bit ZPixmap layout.
const BPP: usize = 4;

/// A captured image in the X server's 32-bit BGRX layout (byte order B, G, R, X per
/// pixel; X is padding with no meaning), rows `stride` bytes apart.
#[derive(Debug, Clone)]
pub struct Frame {
    /// Image size in pixels.
    pub size: Size,
    /// Bytes from the start of one row to the start of the next; at least `width * 4`
    /// (X may pad rows).
    pub stride: usize,
    /// The pixels. May be longer than needed: the last row need not be padded to a full
    /// stride, and trailing bytes are ignored.
    pub data: Vec<u8>,
}

impl Frame {
    /// Wrap captured bytes, checking that `stride` holds a row and `data` holds every
    /// row, so that the accessors below can index without further checks.
    pub fn new(size: Size, stride: usize, data: Vec<u8>) -> Result<Frame, Error> {
        let row = row_bytes(size.width);
        if stride < row {
            return Err(Error::StrideTooSmall {
                stride,
                width: size.width,
            });
        }
        let needed = match (size.height as usize).checked_sub(1) {
            // The last row only needs its pixels, not its padding.
            Some(rows_before_last) => stride.saturating_mul(rows_before_last).saturating_add(row),
            None => 0,
        };
        if data.len() < needed {
            return Err(Error::FrameDataTooShort {
                len: data.len(),
                needed,
            });
        }
        Ok(Frame { size, stride, data })
    }

    /// `rect` of this frame enlarged `scale` times (1–8) with bilinear interpolation between
    /// pixel centres: what a model sees when it zooms in on small text. The result is a
    /// packed frame (`stride = width * 4`).
    pub fn enlarged(&self, rect: Rect, scale: u32) -> Result<Frame, Error> {
        if !rect.is_within(self.size) || rect.width == 0 || rect.height == 0 {
            return Err(Error::RectOutsideFrame {
                rect,
                frame: self.size,
            });
        }
        let s = scale.clamp(1, 8) as usize;
        let (xs, ys) = (
            crate::scale::taps(rect.width as usize, s),
            crate::scale::taps(rect.height as usize, s),
        );
        let (ow, oh) = (xs.len(), ys.len());
        let mut data = vec![0u8; ow * oh * BPP];
        let at = |x: usize, y: usize, c: usize| -> u8 {
            self.data[(rect.y as usize + y) * self.stride + (rect.x as usize + x) * BPP + c]
        };
        for (row, y) in data.chunks_exact_mut(ow * BPP).zip(&ys) {
            for (px, x) in row.chunks_exact_mut(BPP).zip(&xs) {
                for (c, out) in px[..3].iter_mut().enumerate() {
                    *out = crate::scale::blend(
                        at(x.lo, y.lo, c),
                        at(x.hi, y.lo, c),
                        at(x.lo, y.hi, c),
                        at(x.hi, y.hi, c),
                        x.weight,
                        y.weight,
                    );
                }
            }
        }
        Frame::new(
            Size {
                width: ow as u32,
                height: oh as u32,
            },
            ow * BPP,
            data,
        )
    }

    /// This frame shrunk to `size` (no larger on either axis), each new pixel the average of
    /// the source pixels it covers: for a model whose image limit is smaller than the screen.
    /// The result is a packed frame (`stride = width * 4`).
    pub fn shrunk(&self, size: Size) -> Result<Frame, Error> {
        if size.width == 0
            || size.height == 0
            || size.width > self.size.width
            || size.height > self.size.height
        {
            return Err(Error::RectOutsideFrame {
                rect: Rect::full(size),
                frame: self.size,
            });
        }
        let (sw, sh) = (self.size.width as usize, self.size.height as usize);
        let (ow, oh) = (size.width as usize, size.height as usize);
        let mut data = vec![0u8; ow * oh * BPP];
        // Source columns of each output column, computed once.
        let spans: Vec<(usize, usize)> = (0..ow)
            .map(|x| (x * sw / ow, ((x + 1) * sw / ow).max(x * sw / ow + 1)))
            .collect();
        let mut sums = vec![[0u32; 3]; ow];
        for y in 0..oh {
            let (y0, y1) = (y * sh / oh, ((y + 1) * sh / oh).max(y * sh / oh + 1));
            sums.iter_mut().for_each(|s| *s = [0; 3]);
            for sy in y0..y1 {
                let row = &self.data[sy * self.stride..];
                for (sum, &(x0, x1)) in sums.iter_mut().zip(&spans) {
                    for px in row[x0 * BPP..x1 * BPP].chunks_exact(BPP) {
                        sum[0] += u32::from(px[0]);
                        sum[1] += u32::from(px[1]);
                        sum[2] += u32::from(px[2]);
                    }
                }
            }
            let out = &mut data[y * ow * BPP..(y + 1) * ow * BPP];
            for ((px, sum), &(x0, x1)) in out.chunks_exact_mut(BPP).zip(&sums).zip(&spans) {
                let n = ((x1 - x0) * (y1 - y0)) as u32;
                for c in 0..3 {
                    px[c] = ((sum[c] + n / 2) / n) as u8;
                }
            }
        }
        Frame::new(size, ow * BPP, data)
    }

    /// The RGB colour of pixel `p`.
    ///
    /// # Panics
    ///
    /// If `p` is outside the frame (or the public fields were changed so that the
    /// buffer no longer covers the frame).
    pub fn pixel(&self, p: Point) -> [u8; 3] {
        assert!(
            self.size.contains(p),
            "pixel ({}, {}) outside {} frame",
            p.x,
            p.y,
            self.size
        );
        let i = p.y as usize * self.stride + p.x as usize * BPP;
        [self.data[i + 2], self.data[i + 1], self.data[i]]
    }

    /// The BGRX bytes of pixels `x..x + width` of row `y`, without padding. Callers have
    /// checked the bounds.
    pub(crate) fn row_span(&self, y: u32, x: u32, width: u32) -> &[u8] {
        let start = y as usize * self.stride + x as usize * BPP;
        &self.data[start..start + row_bytes(width)]
    }

    /// Copy the pixels of `rect` (which must lie within the frame) as tightly packed RGB,
    /// 3 bytes per pixel, row after row, into `out`. `out` is cleared first but its
    /// allocation is reused: a fresh 4 MB `Vec` per frame cost about 8 ms in
    /// measurements (page faults on first touch), so callers keep one buffer around.
    pub fn rgb_into(&self, rect: Rect, out: &mut Vec<u8>) -> Result<(), Error> {
        if !rect.is_within(self.size) {
            return Err(Error::RectOutsideFrame {
                rect,
                frame: self.size,
            });
        }
        let dst_row = rect.width as usize * 3;
        out.clear();
        // Filling with zeros first is one memset; it lets the loop below write through
        // `chunks_exact_mut`, which the compiler vectorises, instead of pushing bytes.
        out.resize(dst_row * rect.height as usize, 0);
        if dst_row == 0 {
            return Ok(());
        }
        for (row, dst) in (rect.y..rect.bottom()).zip(out.chunks_exact_mut(dst_row)) {
            let src = self.row_span(row, rect.x, rect.width);
            for (d, s) in dst.chunks_exact_mut(3).zip(src.chunks_exact(BPP)) {
                d[0] = s[2];
                d[1] = s[1];
                d[2] = s[0];
            }
        }
        Ok(())
    }
}

/// Bytes of one unpadded row of `width` BGRX pixels.
fn row_bytes(width: u32) -> usize {
    width as usize * BPP
}

#[cfg(test)]
pub(crate) mod tests {
    use proptest::prelude::*;

    use super::*;

    /// A 3x2 frame with a stride of 16 (4 bytes of row padding) and distinct colours;
    /// padding bytes and X bytes are 0xEE so any leak into the output shows.
    fn frame_3x2() -> Frame {
        #[rustfmt::skip]
        let data = vec![
            // B  G  R  X
            1, 2, 3, 0xEE,    4, 5, 6, 0xEE,    7, 8, 9, 0xEE,    0xEE, 0xEE, 0xEE, 0xEE,
            10, 11, 12, 0xEE, 13, 14, 15, 0xEE, 16, 17, 18, 0xEE,
        ];
        Frame::new(
            Size {
                width: 3,
                height: 2,
            },
            16,
            data,
        )
        .unwrap()
    }

    #[test]
    fn shrinking_averages_what_each_pixel_covers() {
        let f = frame_3x2();
        let one = f
            .shrunk(Size {
                width: 1,
                height: 1,
            })
            .unwrap();
        // The six pixels' mean, channel by channel (B 8.5 -> 9 rounding half up, ...).
        assert_eq!(&one.data[..3], &[9, 10, 11]);
        let same = f.shrunk(f.size).unwrap();
        assert_eq!(
            same.pixel(Point { x: 2, y: 1 }),
            f.pixel(Point { x: 2, y: 1 })
        );
        assert!(f
            .shrunk(Size {
                width: 4,
                height: 1
            })
            .is_err());
        assert!(f
            .shrunk(Size {
                width: 0,
                height: 1
            })
            .is_err());
        let big = pattern_frame(
            Size {
                width: 3840,
                height: 2160,
            },
            8,
        );
        let small = big
            .shrunk(Size {
                width: 2555,
                height: 1437,
            })
            .unwrap();
        assert_eq!(
            small.size,
            Size {
                width: 2555,
                height: 1437
            }
        );
        assert_eq!(small.data.len(), 2555 * 1437 * 4);
    }

    /// A frame of `size` whose pixel (x, y) has RGB = (x, y, x ^ y) truncated to bytes,
    /// with `pad` bytes of row padding; shared with the encode and diff tests.
    pub(crate) fn pattern_frame(size: Size, pad: usize) -> Frame {
        let stride = size.width as usize * 4 + pad;
        let mut data = vec![0xAA; stride * size.height as usize];
        for y in 0..size.height {
            for x in 0..size.width {
                let i = y as usize * stride + x as usize * 4;
                data[i..i + 4].copy_from_slice(&[(x ^ y) as u8, y as u8, x as u8, 0x55]);
            }
        }
        Frame::new(size, stride, data).unwrap()
    }

    #[test]
    fn pixel_reads_rgb_from_bgrx() {
        let f = frame_3x2();
        assert_eq!(f.pixel(Point { x: 0, y: 0 }), [3, 2, 1]);
        assert_eq!(f.pixel(Point { x: 2, y: 1 }), [18, 17, 16]);
    }

    #[test]
    fn rgb_into_full_frame_drops_padding() {
        let f = frame_3x2();
        let mut out = vec![0xFF; 100];
        f.rgb_into(Rect::full(f.size), &mut out).unwrap();
        assert_eq!(
            out,
            [3, 2, 1, 6, 5, 4, 9, 8, 7, 12, 11, 10, 15, 14, 13, 18, 17, 16]
        );
    }

    #[test]
    fn rgb_into_crops() {
        let f = frame_3x2();
        let mut out = Vec::new();
        let rect = Rect {
            x: 1,
            y: 0,
            width: 2,
            height: 2,
        };
        f.rgb_into(rect, &mut out).unwrap();
        assert_eq!(out, [6, 5, 4, 9, 8, 7, 15, 14, 13, 18, 17, 16]);

        let rect = Rect {
            x: 2,
            y: 1,
            width: 1,
            height: 1,
        };
        f.rgb_into(rect, &mut out).unwrap();
        assert_eq!(out, [18, 17, 16]);

        let empty = Rect {
            x: 1,
            y: 1,
            width: 0,
            height: 1,
        };
        f.rgb_into(empty, &mut out).unwrap();
        assert!(out.is_empty());
    }

    #[test]
    fn rgb_into_rejects_rect_outside() {
        let f = frame_3x2();
        let rect = Rect {
            x: 2,
            y: 0,
            width: 2,
            height: 1,
        };
        let err = f.rgb_into(rect, &mut Vec::new()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "region x=2 y=0 width=2 height=1 is outside the 3x2 pixel image; \
             x+width must be <= 3 and y+height <= 2"
        );
    }

    #[test]
    fn rgb_into_reuses_the_allocation() {
        let f = pattern_frame(
            Size {
                width: 64,
                height: 64,
            },
            0,
        );
        let mut out = Vec::with_capacity(64 * 64 * 3);
        let ptr = out.as_ptr();
        f.rgb_into(Rect::full(f.size), &mut out).unwrap();
        f.rgb_into(Rect::full(f.size), &mut out).unwrap();
        assert_eq!(out.as_ptr(), ptr);
    }

    #[test]
    fn new_validates_stride_and_length() {
        let size = Size {
            width: 3,
            height: 2,
        };
        assert_eq!(
            Frame::new(size, 11, vec![0; 100]).unwrap_err(),
            Error::StrideTooSmall {
                stride: 11,
                width: 3
            }
        );
        // Last row needs only 12 bytes, not a full 16-byte stride.
        assert!(Frame::new(size, 16, vec![0; 28]).is_ok());
        assert_eq!(
            Frame::new(size, 16, vec![0; 27]).unwrap_err(),
            Error::FrameDataTooShort {
                len: 27,
                needed: 28
            }
        );
        let empty = Size {
            width: 0,
            height: 0,
        };
        assert!(Frame::new(empty, 0, Vec::new()).is_ok());
    }

    proptest! {
        #[test]
        fn rgb_into_matches_pixel(
            (width, height, pad, data, rect) in (1u32..12, 1u32..12, 0usize..9)
                .prop_flat_map(|(w, h, pad)| {
                    let len = (w as usize * 4 + pad) * h as usize;
                    let rect = (0..w, 0..h).prop_flat_map(move |(x, y)| {
                        (Just(x), Just(y), 0..=w - x, 0..=h - y)
                    });
                    (Just(w), Just(h), Just(pad), prop::collection::vec(any::<u8>(), len), rect)
                })
        ) {
            let size = Size { width, height };
            let frame = Frame::new(size, width as usize * 4 + pad, data).unwrap();
            let (x, y, w, h) = rect;
            let rect = Rect { x, y, width: w, height: h };
            let mut out = Vec::new();
            frame.rgb_into(rect, &mut out).unwrap();
            prop_assert_eq!(out.len(), (w * h * 3) as usize);
            let mut expected = Vec::new();
            for py in y..y + h {
                for px in x..x + w {
                    expected.extend_from_slice(&frame.pixel(Point { x: px, y: py }));
                }
            }
            prop_assert_eq!(out, expected);
        }
    }

    #[test]
    fn enlarging_keeps_corners_and_blends_between() {
        let size = Size {
            width: 2,
            height: 1,
        };
        let f = Frame::new(size, 8, vec![0, 0, 0, 0, 200, 100, 40, 0]).unwrap();
        let z = f.enlarged(Rect::full(size), 2).unwrap();
        assert_eq!(
            z.size,
            Size {
                width: 4,
                height: 2
            }
        );
        assert_eq!(z.pixel(Point { x: 0, y: 0 }), [0, 0, 0]);
        assert_eq!(z.pixel(Point { x: 3, y: 1 }), [40, 100, 200]);
        let mid = z.pixel(Point { x: 1, y: 0 });
        assert!(mid[2] > 0 && mid[2] < 200, "{mid:?}");
        assert!(f
            .enlarged(
                Rect {
                    x: 1,
                    y: 0,
                    width: 2,
                    height: 1
                },
                2
            )
            .is_err());
    }
}
