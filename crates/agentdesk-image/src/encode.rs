//! Turning a region of a [`Frame`] into WebP, PNG or JPEG bytes.
//!
//! Owns [`Format`] and [`encode`]. All three encoders are pure Rust. Buffers are passed
//! in by the caller and reused across screenshots, because allocating (and faulting in)
//! megabytes per frame costs as much as a fast encode does.

use crate::error::Error;
use crate::frame::Frame;
use crate::geom::Rect;

/// An output image format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Lossless WebP. The default choice for screenshots: UI content (flat colours,
    /// sharp text) compresses far smaller losslessly than with lossy WebP, and the
    /// pure-Rust encoder measured about 6 ms for 1280x1024.
    Webp,
    /// PNG, 8-bit RGB, fast deflate. For clients that cannot read WebP.
    Png,
    /// Baseline JPEG with 4:2:0 chroma subsampling. Smallest for photos and video, but
    /// smears text. `quality` is clamped to 1..=100.
    Jpeg {
        /// 1 (smallest, worst) to 100 (largest, best).
        quality: u8,
    },
}

impl Format {
    /// The MIME type, e.g. for an MCP image content block.
    pub fn mime_type(&self) -> &'static str {
        match self {
            Format::Webp => "image/webp",
            Format::Png => "image/png",
            Format::Jpeg { .. } => "image/jpeg",
        }
    }

    /// Short lowercase name used in error messages.
    fn name(&self) -> &'static str {
        match self {
            Format::Webp => "webp",
            Format::Png => "png",
            Format::Jpeg { .. } => "jpeg",
        }
    }
}

/// Largest side the lossless WebP bitstream can express (14-bit dimensions).
const WEBP_MAX_SIDE: u32 = 16_384;

/// Encode `rect` of `frame` in `format`. `scratch` is a reused RGB buffer (contents
/// irrelevant, overwritten); the encoded image is written to `out`, which is cleared
/// first. Both keep their allocations between calls.
pub fn encode(
    frame: &Frame,
    rect: Rect,
    format: Format,
    scratch: &mut Vec<u8>,
    out: &mut Vec<u8>,
) -> Result<(), Error> {
    out.clear();
    let fail = |detail: String| Error::Encode {
        format: format.name(),
        detail,
    };
    if !rect.is_within(frame.size) {
        return Err(Error::RectOutsideFrame {
            rect,
            frame: frame.size,
        });
    }
    if rect.width == 0 || rect.height == 0 {
        return Err(fail(format!(
            "the region is empty ({}x{} pixels); it needs at least one pixel",
            rect.width, rect.height
        )));
    }
    match format {
        Format::Webp => {
            // Check here: the encoder would only say "Invalid dimensions".
            if rect.width > WEBP_MAX_SIDE || rect.height > WEBP_MAX_SIDE {
                return Err(fail(format!(
                    "{}x{} pixels exceeds the webp limit of {WEBP_MAX_SIDE} pixels per side; use png or a smaller region",
                    rect.width, rect.height
                )));
            }
            frame.rgb_into(rect, scratch)?;
            image_webp::WebPEncoder::new(&mut *out)
                .encode(
                    scratch,
                    rect.width,
                    rect.height,
                    image_webp::ColorType::Rgb8,
                )
                .map_err(|e| fail(e.to_string()))
        }
        Format::Png => {
            frame.rgb_into(rect, scratch)?;
            let mut encoder = png::Encoder::new(&mut *out, rect.width, rect.height);
            encoder.set_color(png::ColorType::Rgb);
            encoder.set_depth(png::BitDepth::Eight);
            // Fast = fdeflate with adaptive filtering: measured 4.4 ms at 1280x1024, and
            // the slower levels buy little on UI content.
            encoder.set_compression(png::Compression::Fast);
            let mut writer = encoder.write_header().map_err(|e| fail(e.to_string()))?;
            writer
                .write_image_data(scratch)
                .map_err(|e| fail(e.to_string()))?;
            writer.finish().map_err(|e| fail(e.to_string()))
        }
        Format::Jpeg { quality } => {
            let too_big = || {
                fail(format!(
                    "{}x{} pixels exceeds the jpeg limit of 65535 pixels per side; use png or a smaller region",
                    rect.width, rect.height
                ))
            };
            let width = u16::try_from(rect.width).map_err(|_| too_big())?;
            let height = u16::try_from(rect.height).map_err(|_| too_big())?;
            let encoder = jpeg_encoder::Encoder::new(&mut *out, quality.clamp(1, 100));
            // jpeg-encoder reads BGRA itself (ignoring the 4th byte, our padding), so when
            // the rect's rows are contiguous in the frame — full width, no row padding,
            // the usual full-screen case — skip the RGB conversion entirely.
            let row = rect.width as usize * 4;
            let (data, color) = if row == frame.stride {
                let start = rect.y as usize * frame.stride;
                let bytes = &frame.data[start..start + row * rect.height as usize];
                (bytes, jpeg_encoder::ColorType::Bgra)
            } else {
                frame.rgb_into(rect, scratch)?;
                (scratch.as_slice(), jpeg_encoder::ColorType::Rgb)
            };
            encoder
                .encode(data, width, height, color)
                .map_err(|e| fail(e.to_string()))
        }
    }
}

/// The largest encoded screenshot we send as lossless WebP: 768 KiB, i.e. 1 MiB of base64 —
/// the Python MCP client's SSE event cap and Claude Desktop's tool-result limit.
pub const IMAGE_BUDGET: usize = 768 * 1024;

/// The JPEG quality used when a WebP screenshot would exceed [`IMAGE_BUDGET`].
const FALLBACK_JPEG_QUALITY: u8 = 80;

/// Like [`encode`], but keeps WebP within [`IMAGE_BUDGET`]: lossless WebP is the smallest and
/// fastest for UI (measured: 99 KB in 3 ms on a terminal-and-editor screen, half of PNG) but
/// grows on photos (698 KB on a photo-filled 1280x800 screen, where JPEG q80 is 113 KB in
/// 8 ms). A WebP result over budget is re-encoded as JPEG. Returns the format actually used;
/// PNG and JPEG are always what was asked for.
pub fn encode_within_budget(
    frame: &Frame,
    rect: Rect,
    format: Format,
    scratch: &mut Vec<u8>,
    out: &mut Vec<u8>,
) -> Result<Format, Error> {
    encode(frame, rect, format, scratch, out)?;
    if format == Format::Webp && out.len() > IMAGE_BUDGET {
        let fallback = Format::Jpeg {
            quality: FALLBACK_JPEG_QUALITY,
        };
        encode(frame, rect, fallback, scratch, out)?;
        return Ok(fallback);
    }
    Ok(format)
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;
    use std::time::Instant;

    use super::*;
    use crate::frame::tests::pattern_frame;
    use crate::geom::Size;

    fn decode_png(bytes: &[u8]) -> (u32, u32, Vec<u8>) {
        let decoder = png::Decoder::new(Cursor::new(bytes));
        let mut reader = decoder.read_info().unwrap();
        let mut buf = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut buf).unwrap();
        assert_eq!(info.color_type, png::ColorType::Rgb);
        assert_eq!(info.bit_depth, png::BitDepth::Eight);
        buf.truncate(info.buffer_size());
        (info.width, info.height, buf)
    }

    fn decode_webp(bytes: &[u8]) -> (u32, u32, Vec<u8>) {
        let mut decoder = image_webp::WebPDecoder::new(Cursor::new(bytes)).unwrap();
        assert!(
            !decoder.has_alpha(),
            "RGB input must not grow an alpha channel"
        );
        let (w, h) = decoder.dimensions();
        let mut buf = vec![0; decoder.output_buffer_size().unwrap()];
        decoder.read_image(&mut buf).unwrap();
        (w, h, buf)
    }

    /// (width, height) from the first baseline SOF0 segment of a JPEG.
    fn jpeg_dimensions(bytes: &[u8]) -> (u16, u16) {
        let mut i = 2;
        while i + 4 <= bytes.len() {
            assert_eq!(bytes[i], 0xFF, "expected a marker at {i}");
            let marker = bytes[i + 1];
            let len = usize::from(u16::from_be_bytes([bytes[i + 2], bytes[i + 3]]));
            if marker == 0xC0 {
                let s = &bytes[i + 4..];
                return (
                    u16::from_be_bytes([s[3], s[4]]),
                    u16::from_be_bytes([s[1], s[2]]),
                );
            }
            i += 2 + len;
        }
        panic!("no SOF0 segment");
    }

    fn size(width: u32, height: u32) -> Size {
        Size { width, height }
    }

    #[test]
    fn mime_types() {
        assert_eq!(Format::Webp.mime_type(), "image/webp");
        assert_eq!(Format::Png.mime_type(), "image/png");
        assert_eq!(Format::Jpeg { quality: 80 }.mime_type(), "image/jpeg");
    }

    #[test]
    fn png_round_trips_exactly() {
        let frame = pattern_frame(size(37, 23), 8);
        let rect = Rect::full(frame.size);
        let (mut scratch, mut out) = (Vec::new(), vec![1, 2, 3]);
        encode(&frame, rect, Format::Png, &mut scratch, &mut out).unwrap();
        let mut expected = Vec::new();
        frame.rgb_into(rect, &mut expected).unwrap();
        assert_eq!(decode_png(&out), (37, 23, expected));
    }

    #[test]
    fn webp_round_trips_exactly() {
        let frame = pattern_frame(size(37, 23), 8);
        let rect = Rect::full(frame.size);
        let (mut scratch, mut out) = (Vec::new(), vec![1, 2, 3]);
        encode(&frame, rect, Format::Webp, &mut scratch, &mut out).unwrap();
        assert_eq!(&out[..4], b"RIFF");
        let mut expected = Vec::new();
        frame.rgb_into(rect, &mut expected).unwrap();
        assert_eq!(decode_webp(&out), (37, 23, expected));
    }

    #[test]
    fn webp_and_png_of_a_region_have_its_size_and_pixels() {
        let frame = pattern_frame(size(50, 40), 4);
        let rect = Rect {
            x: 7,
            y: 11,
            width: 20,
            height: 9,
        };
        let mut expected = Vec::new();
        frame.rgb_into(rect, &mut expected).unwrap();
        let (mut scratch, mut out) = (Vec::new(), Vec::new());

        encode(&frame, rect, Format::Webp, &mut scratch, &mut out).unwrap();
        assert_eq!(decode_webp(&out), (20, 9, expected.clone()));

        encode(&frame, rect, Format::Png, &mut scratch, &mut out).unwrap();
        assert_eq!(decode_png(&out), (20, 9, expected));
    }

    #[test]
    fn jpeg_has_markers_and_rect_dimensions() {
        // Padded stride: goes through the RGB conversion.
        let frame = pattern_frame(size(50, 40), 4);
        let rect = Rect {
            x: 3,
            y: 5,
            width: 33,
            height: 17,
        };
        let (mut scratch, mut out) = (Vec::new(), Vec::new());
        encode(
            &frame,
            rect,
            Format::Jpeg { quality: 0 },
            &mut scratch,
            &mut out,
        )
        .unwrap();
        assert!(out.len() > 4);
        assert_eq!(&out[..2], [0xFF, 0xD8], "SOI");
        assert_eq!(&out[out.len() - 2..], [0xFF, 0xD9], "EOI");
        assert_eq!(jpeg_dimensions(&out), (33, 17));

        // Unpadded full-width rows: fed to the encoder as BGRA directly.
        let frame = pattern_frame(size(50, 40), 0);
        let rect = Rect {
            x: 0,
            y: 10,
            width: 50,
            height: 30,
        };
        encode(
            &frame,
            rect,
            Format::Jpeg { quality: 255 },
            &mut scratch,
            &mut out,
        )
        .unwrap();
        assert_eq!(&out[..2], [0xFF, 0xD8]);
        assert_eq!(&out[out.len() - 2..], [0xFF, 0xD9]);
        assert_eq!(jpeg_dimensions(&out), (50, 30));
    }

    #[test]
    fn jpeg_direct_bgra_path_matches_rgb_path() {
        // Same pixels, once with row padding (RGB conversion) and once without (direct
        // BGRX): the encoder must see the same image, so the bytes must be identical.
        let unpadded = pattern_frame(size(24, 16), 0);
        let padded = pattern_frame(size(24, 16), 12);
        let rect = Rect::full(unpadded.size);
        let format = Format::Jpeg { quality: 90 };
        let (mut scratch, mut a, mut b) = (Vec::new(), Vec::new(), Vec::new());
        encode(&unpadded, rect, format, &mut scratch, &mut a).unwrap();
        encode(&padded, rect, format, &mut scratch, &mut b).unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn rejects_bad_rects() {
        let frame = pattern_frame(size(10, 10), 0);
        let (mut scratch, mut out) = (Vec::new(), Vec::new());
        let outside = Rect {
            x: 5,
            y: 0,
            width: 6,
            height: 1,
        };
        let empty = Rect {
            x: 5,
            y: 0,
            width: 0,
            height: 1,
        };
        for format in [Format::Webp, Format::Png, Format::Jpeg { quality: 80 }] {
            let err = encode(&frame, outside, format, &mut scratch, &mut out).unwrap_err();
            assert!(matches!(err, Error::RectOutsideFrame { .. }), "{err}");
            let err = encode(&frame, empty, format, &mut scratch, &mut out).unwrap_err();
            assert_eq!(
                err.to_string(),
                format!(
                    "could not encode the image as {}: the region is empty (0x1 pixels); \
                     it needs at least one pixel",
                    format.mime_type().trim_start_matches("image/")
                )
            );
        }
    }

    /// A 1280x800 frame that looks like a desktop: flat panels, a title bar, lines of
    /// "text" (short dark runs), and a gradient image.
    fn ui_frame() -> Frame {
        let (w, h) = (1280u32, 800u32);
        let stride = w as usize * 4;
        let mut data = vec![0; stride * h as usize];
        for y in 0..h {
            for x in 0..w {
                let bgr: [u8; 3] = if y < 32 {
                    [60, 50, 40] // title bar
                } else if x < 220 {
                    [235, 235, 235] // sidebar
                } else if (600..760).contains(&y) && (300..1200).contains(&x) {
                    [(x / 4) as u8, (y / 3) as u8, ((x + y) / 5) as u8] // picture
                } else if y % 20 < 12 && (x * 7 + y * 3) % 11 < 6 && x < 1100 {
                    [30, 30, 30] // glyph strokes
                } else {
                    [255, 255, 255]
                };
                let i = y as usize * stride + x as usize * 4;
                data[i..i + 3].copy_from_slice(&bgr);
            }
        }
        Frame::new(size(w, h), stride, data).unwrap()
    }

    /// Timing report; run with
    /// `cargo test --release -p agentdesk-image encode_timings -- --ignored --nocapture`.
    #[test]
    #[ignore = "timing report, not a check"]
    fn encode_timings() {
        let frame = ui_frame();
        let rect = Rect::full(frame.size);
        let (mut scratch, mut out) = (Vec::new(), Vec::new());
        for format in [Format::Webp, Format::Png, Format::Jpeg { quality: 80 }] {
            // One warm-up so the buffers are allocated, as in steady state.
            encode(&frame, rect, format, &mut scratch, &mut out).unwrap();
            let runs = 20;
            let start = Instant::now();
            for _ in 0..runs {
                encode(&frame, rect, format, &mut scratch, &mut out).unwrap();
            }
            let per = start.elapsed() / runs;
            println!(
                "{format:?}: {per:?} per 1280x800 frame, {} bytes",
                out.len()
            );
        }
        let start = Instant::now();
        for _ in 0..20 {
            frame.rgb_into(rect, &mut scratch).unwrap();
        }
        println!("rgb_into: {:?} per 1280x800 frame", start.elapsed() / 20);
    }

    /// A frame of pseudo-random noise: the worst case for lossless compression.
    fn noise_frame(size: Size) -> Frame {
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let data = (0..size.width as usize * size.height as usize * 4)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                (state >> 32) as u8
            })
            .collect();
        Frame::new(size, size.width as usize * 4, data).unwrap()
    }

    #[test]
    fn webp_over_budget_falls_back_to_jpeg_and_says_so() {
        let frame = noise_frame(Size {
            width: 1280,
            height: 800,
        });
        let (mut scratch, mut out) = (Vec::new(), Vec::new());
        let used = encode_within_budget(
            &frame,
            Rect::full(frame.size),
            Format::Webp,
            &mut scratch,
            &mut out,
        )
        .unwrap();
        assert_eq!(used, Format::Jpeg { quality: 80 });
        assert_eq!(&out[..2], &[0xff, 0xd8], "a JPEG");
        assert!(out.len() <= IMAGE_BUDGET * 2, "{} bytes", out.len());
    }

    #[test]
    fn webp_within_budget_and_other_formats_are_kept() {
        let frame = pattern_frame(
            Size {
                width: 320,
                height: 200,
            },
            320 * 4,
        );
        let (mut scratch, mut out) = (Vec::new(), Vec::new());
        let rect = Rect::full(frame.size);
        assert_eq!(
            encode_within_budget(&frame, rect, Format::Webp, &mut scratch, &mut out).unwrap(),
            Format::Webp
        );
        assert_eq!(&out[..4], b"RIFF");
        // PNG is what the agent asked for even when large: it may be the only format its
        // client decodes.
        let noise = noise_frame(Size {
            width: 1280,
            height: 800,
        });
        let full = Rect::full(noise.size);
        assert_eq!(
            encode_within_budget(&noise, full, Format::Png, &mut scratch, &mut out).unwrap(),
            Format::Png
        );
        assert!(out.len() > IMAGE_BUDGET);
    }
}
