//! A bitmap font of the X server drawn into memory a glyph at a time, so that text drawn in it
//! on screen can be read by matching cells rather than by OCR (agentdesk-ocr's `Glyphs`).
//! Drawn off screen, into a pixmap: nothing on screen changes and DAMAGE sees nothing.

use x11rb::connection::Connection as _;
use x11rb::protocol::xproto::{self, ConnectionExt as _};

use crate::worker::Worker;
use crate::Result;

/// The glyphs of a monospaced font: each printable ASCII character's cell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FontCells {
    /// A cell's width in pixels.
    pub width: u32,
    /// A cell's height: the font's ascent and descent.
    pub height: u32,
    /// Each character with its cell's pixels, row by row: true where it has ink.
    pub glyphs: Vec<(char, Vec<bool>)>,
}

/// Cells larger than this are not drawn (matching keeps a cell's bits in 128).
const MAX_BITS: u32 = 128;

impl Worker {
    /// The cells of font `name` (an X core font name or alias, e.g. "fixed"); `None` if the
    /// server has no such font, or it is not monospaced with every glyph inside its cell.
    pub(crate) fn font_cells(&mut self, name: &str) -> Result<Option<FontCells>> {
        let conn = &self.conn;
        let font = conn.generate_id()?;
        if conn.open_font(font, name.as_bytes())?.check().is_err() {
            return Ok(None);
        }
        let cells = self.draw_cells(font);
        conn.close_font(font)?;
        cells
    }

    fn draw_cells(&self, font: xproto::Font) -> Result<Option<FontCells>> {
        let conn = &self.conn;
        let info = conn.query_font(font)?.reply()?;
        let (min, max) = (info.min_bounds, info.max_bounds);
        let width = i32::from(max.character_width);
        let height = i32::from(info.font_ascent) + i32::from(info.font_descent);
        let inside = min.left_side_bearing >= 0 && i32::from(max.right_side_bearing) <= width;
        if min.character_width != max.character_width
            || width <= 0
            || height <= 0
            || !inside
            || (width * height) as u32 > MAX_BITS
        {
            return Ok(None);
        }
        let (width, height) = (width as u32, height as u32);
        let text: Vec<u8> = (0x21u8..=0x7e).collect();
        let n = text.len() as u32;
        let depth = conn
            .setup()
            .roots
            .iter()
            .find(|s| s.root == self.root)
            .map_or(24, |s| s.root_depth);
        let pixmap = conn.generate_id()?;
        conn.create_pixmap(depth, pixmap, self.root, (width * n) as u16, height as u16)?;
        let gc = conn.generate_id()?;
        conn.create_gc(
            gc,
            pixmap,
            &xproto::CreateGCAux::new()
                .foreground(0x00ff_ffff)
                .background(0)
                .font(font),
        )?;
        // ImageText fills each cell's background too: every pixel is drawn.
        conn.image_text8(pixmap, gc, 0, info.font_ascent, &text)?;
        let image = conn
            .get_image(
                xproto::ImageFormat::Z_PIXMAP,
                pixmap,
                0,
                0,
                (width * n) as u16,
                height as u16,
                !0,
            )?
            .reply();
        conn.free_gc(gc)?;
        conn.free_pixmap(pixmap)?;
        let image = image?;
        let row = (width * n) as usize;
        let px = image.data.len() / (row * height as usize).max(1);
        if px == 0 {
            return Ok(None);
        }
        let glyphs = text
            .iter()
            .enumerate()
            .map(|(i, &c)| {
                let mut bits = Vec::with_capacity((width * height) as usize);
                for y in 0..height as usize {
                    for x in 0..width as usize {
                        let at = (y * row + i * width as usize + x) * px;
                        bits.push(image.data[at..at + px].iter().any(|&b| b != 0));
                    }
                }
                (char::from(c), bits)
            })
            .collect();
        Ok(Some(FontCells {
            width,
            height,
            glyphs,
        }))
    }
}
