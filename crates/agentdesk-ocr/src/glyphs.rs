//! Text drawn in a bitmap font whose glyphs are known, read exactly and at once by matching
//! character cells, before any OCR: a terminal's text (xterm's default font is the X server's
//! "fixed", 6×13 pixels, drawn without smoothing) is most of what OCR would otherwise spend
//! its time on, and the letters it misreads most ("rwx" as "rux", "l" as "1").
//!
//! The glyphs come from the X server that draws the screen (the caller renders them), so
//! they are exactly the pixels apps get. A box of text is read this way only when every
//! cell of it, at one placement of the character grid, is a known glyph or blank: a cursor,
//! a bold or coloured letter, another font, and the box goes to OCR as before.

use std::collections::HashMap;

use agentdesk_image::Rect;

use crate::tess::RawWord;

/// How far a pixel may be from the ink's or the background's level and still be either.
const TWO_TONES: u8 = 16;
/// Cells at most this wide and tall are matched (bits of a cell must fit in a `u128`).
const MAX_CELL: u32 = 16;

/// The glyphs of one monospaced bitmap font, by their cell's bits.
#[derive(Debug, Clone)]
pub struct Glyphs {
    width: u32,
    height: u32,
    by_bits: HashMap<u128, char>,
}

impl Glyphs {
    /// A font whose cells are `width` × `height` pixels, from each character's cell (ink
    /// pixels true, row by row). Characters drawn alike (none in a sane font) are left out,
    /// and so are blank ones. `None` if the cell does not fit or no glyph is left.
    pub fn new(width: u32, height: u32, glyphs: &[(char, Vec<bool>)]) -> Option<Glyphs> {
        if width == 0 || height == 0 || width * height > 128 || width > MAX_CELL {
            return None;
        }
        let cell = (width * height) as usize;
        let mut by_bits: HashMap<u128, Option<char>> = HashMap::new();
        for (c, bits) in glyphs {
            if bits.len() != cell {
                continue;
            }
            let key = bits
                .iter()
                .enumerate()
                .filter(|(_, &b)| b)
                .fold(0u128, |k, (i, _)| k | (1 << i));
            if key == 0 {
                continue;
            }
            by_bits
                .entry(key)
                .and_modify(|seen| *seen = None)
                .or_insert(Some(*c));
        }
        let by_bits: HashMap<u128, char> = by_bits
            .into_iter()
            .filter_map(|(k, c)| Some((k, c?)))
            .collect();
        (!by_bits.is_empty()).then_some(Glyphs {
            width,
            height,
            by_bits,
        })
    }

    /// The words of box `b` (the bounds of a run of ink, in `gray`: `w` × `h`, text dark on
    /// light) if it is one line of this font's known glyphs; `None` otherwise.
    pub fn read(&self, gray: &[u8], w: usize, h: usize, b: Rect) -> Option<Vec<RawWord>> {
        let (cw, ch) = (self.width, self.height);
        if b.height > ch || b.width == 0 || b.right() as usize > w || b.bottom() as usize > h {
            return None;
        }
        // The grid: any placement whose cells hold all of the box's ink. Exactly one must
        // read (a glyph shifted by a pixel could be another glyph: then neither is trusted).
        let mut read: Option<Vec<RawWord>> = None;
        for top in b.bottom().saturating_sub(ch)..=b.y {
            if top as usize + ch as usize > h {
                continue;
            }
            for dx in 0..cw {
                let Some(left) = b.x.checked_sub(dx) else {
                    continue;
                };
                if let Some(words) = self.read_at(gray, w, b, left, top) {
                    if read.is_some() {
                        return None;
                    }
                    read = Some(words);
                }
            }
        }
        read
    }

    /// The words of `b` with the grid's first cell at (`left`, `top`), if every cell is known.
    fn read_at(&self, gray: &[u8], w: usize, b: Rect, left: u32, top: u32) -> Option<Vec<RawWord>> {
        let (cw, ch) = (self.width, self.height);
        let cells = (b.right() - left).div_ceil(cw);
        let right = left + cells * cw;
        if right as usize > w {
            return None;
        }
        // Ink is darker than halfway between the darkest and lightest pixel of the cells.
        let (mut lo, mut hi) = (u8::MAX, u8::MIN);
        for y in top..top + ch {
            let row = &gray[y as usize * w + left as usize..y as usize * w + right as usize];
            for &v in row {
                lo = lo.min(v);
                hi = hi.max(v);
            }
        }
        if hi.saturating_sub(lo) < 48 {
            return None;
        }
        // A bitmap font is drawn in two colours, ink and background: a third (a word in
        // another colour, a smoothed font) would read as blank cells, so the box is OCR's.
        let two = (top..top + ch).all(|y| {
            gray[y as usize * w + left as usize..y as usize * w + right as usize]
                .iter()
                .all(|&v| v.abs_diff(lo) <= TWO_TONES || v.abs_diff(hi) <= TWO_TONES)
        });
        if !two {
            return None;
        }
        let mid = (u16::from(lo) + u16::from(hi)) / 2;
        let mut words = Vec::new();
        let mut word: Option<(u32, String)> = None; // (first cell, letters)
        for cell in 0..cells {
            let x0 = left + cell * cw;
            let mut key = 0u128;
            for y in 0..ch {
                let at = (top + y) as usize * w + x0 as usize;
                for x in 0..cw {
                    if u16::from(gray[at + x as usize]) < mid {
                        key |= 1 << (y * cw + x);
                    }
                }
            }
            if key == 0 {
                if let Some((first, text)) = word.take() {
                    words.push(self.word(text, left, top, first, cell));
                }
                continue;
            }
            let c = *self.by_bits.get(&key)?;
            word.get_or_insert_with(|| (cell, String::new())).1.push(c);
        }
        if let Some((first, text)) = word.take() {
            words.push(self.word(text, left, top, first, cells));
        }
        Some(words)
    }

    fn word(&self, text: String, left: u32, top: u32, first: u32, end: u32) -> RawWord {
        RawWord {
            text,
            rect: Rect {
                x: left + first * self.width,
                y: top,
                width: (end - first) * self.width,
                height: self.height,
            },
            confidence: 100.0,
            line: 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 3×3 font: "-" (middle row), "|" (middle column), "o" (a ring), and "+" and "x"
    /// drawn alike.
    fn font() -> Glyphs {
        let g = |rows: [&str; 3]| -> Vec<bool> {
            rows.iter()
                .flat_map(|r| r.chars().map(|c| c == '#'))
                .collect()
        };
        Glyphs::new(
            3,
            3,
            &[
                ('-', g(["...", "###", "..."])),
                ('|', g([".#.", ".#.", ".#."])),
                ('o', g(["###", "#.#", "###"])),
                // Drawn alike: both are left out.
                ('+', g([".#.", "###", ".#."])),
                ('x', g([".#.", "###", ".#."])),
            ],
        )
        .unwrap()
    }

    /// Draws `text` in the test font at (x, y) on a light `w` × `h` image.
    fn draw(text: &str, x: usize, y: usize, w: usize, h: usize) -> Vec<u8> {
        let mut img = vec![230u8; w * h];
        let f = font();
        for (i, c) in text.chars().enumerate() {
            let Some((&bits, _)) = f.by_bits.iter().find(|(_, &g)| g == c) else {
                continue;
            };
            for r in 0..3 {
                for col in 0..3 {
                    if bits & (1 << (r * 3 + col)) != 0 {
                        img[(y + r) * w + x + i * 3 + col] = 20;
                    }
                }
            }
        }
        img
    }

    fn ink(img: &[u8], w: usize) -> Rect {
        let (mut x0, mut y0, mut x1, mut y1) = (usize::MAX, usize::MAX, 0, 0);
        for (i, &v) in img.iter().enumerate() {
            if v < 128 {
                (x0, y0) = (x0.min(i % w), y0.min(i / w));
                (x1, y1) = (x1.max(i % w), y1.max(i / w));
            }
        }
        Rect {
            x: x0 as u32,
            y: y0 as u32,
            width: (x1 + 1 - x0) as u32,
            height: (y1 + 1 - y0) as u32,
        }
    }

    #[test]
    fn cells_of_known_glyphs_are_read_exactly_with_their_words() {
        let (w, h) = (40, 10);
        let img = draw("o| o-", 5, 4, w, h);
        let words = font().read(&img, w, h, ink(&img, w)).unwrap();
        let texts: Vec<&str> = words.iter().map(|w| w.text.as_str()).collect();
        assert_eq!(texts, ["o|", "o-"]);
        assert_eq!(
            words[1].rect,
            Rect {
                x: 14,
                y: 4,
                width: 6,
                height: 3
            }
        );
    }

    #[test]
    fn a_word_in_a_third_colour_leaves_the_box_to_ocr() {
        let (w, h) = (40, 10);
        let mut img = draw("o| o-", 5, 4, w, h);
        // The second word in a lighter ink, as a coloured word in a terminal.
        for y in 4..7 {
            for x in 14..20 {
                if img[y * w + x] < 128 {
                    img[y * w + x] = 150;
                }
            }
        }
        // The box of both words (their ink stands out from the background alike).
        let both = Rect {
            x: 5,
            y: 4,
            width: 15,
            height: 3,
        };
        assert!(font().read(&img, w, h, both).is_none());
    }

    #[test]
    fn an_unknown_or_ambiguous_cell_leaves_the_box_to_ocr() {
        let (w, h) = (40, 10);
        let mut img = draw("o|o", 5, 4, w, h);
        img[4 * w + 6] = 230; // a ring with a gap: no glyph
        assert!(font().read(&img, w, h, ink(&img, w)).is_none());
        // "+" is drawn as "x" is: either, so neither.
        let mut img = draw("o", 5, 4, w, h);
        for (x, y) in [(9, 4), (8, 5), (9, 5), (10, 5), (9, 6)] {
            img[y * w + x] = 20;
        }
        assert!(font().read(&img, w, h, ink(&img, w)).is_none());
        // A box taller than a cell is several lines.
        let img = draw("o", 5, 4, w, h);
        let tall = Rect {
            height: 5,
            ..ink(&img, w)
        };
        assert!(font().read(&img, w, h, tall).is_none());
        // A flat box has no ink.
        assert!(font().read(&vec![200; w * h], w, h, tall).is_none());
    }
}
