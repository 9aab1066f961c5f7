//! Getting a piece of the screen ready for Tesseract: gray, and enlarged.
//!
//! Tesseract's models were trained on text whose capital letters are 20–40 pixels tall; a
//! screen's 12–14 px fonts have capitals of 8–10 px, at which it misreads or skips words.
//! Enlarging by [`SCALE`] with bilinear interpolation brings them into range (measured:
//! docs/performance.md). Luminance uses integer Rec. 601 weights.

use agentdesk_image::{Frame, Rect};

/// How much a piece of the screen is enlarged before it is read.
pub const SCALE: u32 = 2;

/// The gray pixels of `rect` of `frame`, enlarged `scale` times; `None` if `rect` is not
/// inside the frame or is empty. Rows are `rect.width * scale` bytes, with no padding.
pub fn gray_scaled(frame: &Frame, rect: Rect, scale: u32) -> Option<Vec<u8>> {
    let gray = gray(frame, rect)?;
    if scale == 1 {
        return Some(gray);
    }
    Some(agentdesk_image::scale::enlarge_gray(
        &gray,
        rect.width as usize,
        rect.height as usize,
        scale as usize,
    ))
}

/// `rect` of `frame` in gray, text made dark on light; rows `rect.width` bytes.
pub fn gray(frame: &Frame, rect: Rect) -> Option<Vec<u8>> {
    if rect.width == 0 || rect.height == 0 || !rect.is_within(frame.size) {
        return None;
    }
    let (w, h) = (rect.width as usize, rect.height as usize);
    let mut gray = vec![0u8; w * h];
    for row in 0..h {
        let start = (rect.y as usize + row) * frame.stride + rect.x as usize * 4;
        let src = frame.data.get(start..start + w * 4)?;
        for (out, px) in gray[row * w..(row + 1) * w]
            .iter_mut()
            .zip(src.chunks_exact(4))
        {
            // BGRX: 0.299 R + 0.587 G + 0.114 B, in 1/1024ths.
            let l = 306 * u32::from(px[2]) + 601 * u32::from(px[1]) + 117 * u32::from(px[0]);
            *out = (l >> 10) as u8;
        }
    }
    darken_text(&mut gray, w, h);
    Some(gray)
}

/// Each pixel's lightest neighbour within `r` pixels along both axes (a separable maximum
/// filter: a row pass, then a column pass).
fn lightest_around(gray: &[u8], w: usize, h: usize, r: usize) -> Vec<u8> {
    let mut rows = vec![0u8; w * h];
    for y in 0..h {
        let src = &gray[y * w..(y + 1) * w];
        let out = &mut rows[y * w..(y + 1) * w];
        for (x, o) in out.iter_mut().enumerate() {
            *o = src[x.saturating_sub(r)..(x + r + 1).min(w)]
                .iter()
                .copied()
                .max()
                .unwrap_or(0);
        }
    }
    let mut out = vec![0u8; w * h];
    let mut column = vec![0u8; h];
    for x in 0..w {
        for (y, c) in column.iter_mut().enumerate() {
            *c = rows[y * w + x];
        }
        for y in 0..h {
            out[y * w + x] = column[y.saturating_sub(r)..(y + r + 1).min(h)]
                .iter()
                .copied()
                .max()
                .unwrap_or(0);
        }
    }
    out
}

/// Lines of text that touch (a descender reaching the next line's capitals, as in a terminal's
/// tight font) are one run of ink; a run taller than this is cut into lines where its rows
/// hold little ink.
const TALL: usize = 26;

/// The bands of rows (first, last) of a run of ink that are lines of text: the whole run if
/// it is short, else split at rows holding under a tenth of the fullest row's pixels.
fn bands(rows: &[(usize, usize, usize)]) -> Vec<(usize, usize)> {
    if rows.is_empty() {
        return Vec::new();
    }
    if rows.len() <= TALL {
        return vec![(0, rows.len() - 1)];
    }
    let full = rows.iter().map(|r| r.2).max().unwrap_or(0);
    let mut out = Vec::new();
    let mut first = None;
    for (i, r) in rows.iter().enumerate() {
        let thin = r.2 * 10 < full;
        match (thin, first) {
            (false, None) => first = Some(i),
            (true, Some(f)) => {
                out.push((f, i - 1));
                first = None;
            }
            _ => {}
        }
    }
    if let Some(f) = first {
        out.push((f, rows.len() - 1));
    }
    // A thin row at a line's own top or bottom (a lone accent or descender) was cut off with
    // it; give each band one row more on each side, within the run.
    out.into_iter()
        .map(|(a, b)| (a.saturating_sub(1), (b + 1).min(rows.len() - 1)))
        .collect()
}

/// Crops `rect` out of a gray image `w` pixels wide and enlarges it `scale` times.
pub fn crop_scaled(gray: &[u8], w: usize, rect: Rect, scale: u32) -> Vec<u8> {
    let (cw, ch) = (rect.width as usize, rect.height as usize);
    let mut out = Vec::with_capacity(cw * ch);
    for y in rect.y as usize..rect.y as usize + ch {
        out.extend_from_slice(&gray[y * w + rect.x as usize..y * w + rect.x as usize + cw]);
    }
    if scale <= 1 {
        return out;
    }
    agentdesk_image::scale::enlarge_gray(&out, cw, ch, scale as usize)
}

/// Ink is at least this much darker than the background around it (after [`darken_text`]).
/// Measured against the local background rather than a fixed level, so that grey text on a
/// light button (a dialog in its backdrop state) is found, and a flat grey toolbar is not
/// taken for ink.
const INK: u8 = 48;
/// How far around a pixel its background is looked for (the lightest pixel within this many
/// pixels): more than half the thickest stroke of screen text.
const REACH: usize = 5;
/// Ink closer than this along a row belongs to one run of text: wider than the space between
/// letters and words of screen fonts, narrower than the gap between a label and the next.
const SMEAR: usize = 8;

/// Where the text is: boxes of runs of ink that could be text on one line, found without
/// Tesseract. Each is read on its own, as one line, which is faster than Tesseract's own
/// layout analysis of a whole screen (2.5 s for 1280×800, measured) and makes the box the
/// unit of what is cached.
pub fn text_boxes(gray: &[u8], w: usize, h: usize) -> Vec<Rect> {
    // Ink, without vertical rules (window borders, scroll bars, table lines): a column of ink
    // taller than two lines is not text, and would join every line beside it into one.
    let background = lightest_around(gray, w, h, REACH);
    let mut ink: Vec<u8> = gray
        .iter()
        .zip(&background)
        .map(|(&v, &bg)| u8::from(bg.saturating_sub(v) >= INK))
        .collect();
    for x in 0..w {
        let mut y = 0;
        while y < h {
            if ink[y * w + x] == 0 {
                y += 1;
                continue;
            }
            let run = (y..h).take_while(|&r| ink[r * w + x] != 0).count();
            if run > 2 * TALL {
                for r in y..y + run {
                    ink[r * w + x] = 0;
                }
            }
            y += run;
        }
    }
    // Ink, smeared along rows so the letters and words of a line join.
    let mut mask = vec![false; w * h];
    for y in 0..h {
        let row = &ink[y * w..(y + 1) * w];
        let out = &mut mask[y * w..(y + 1) * w];
        let mut last: Option<usize> = None;
        for (x, &v) in row.iter().enumerate() {
            if v != 0 {
                if let Some(l) = last {
                    if x - l <= SMEAR {
                        out[l..x].fill(true);
                    }
                }
                out[x] = true;
                last = Some(x);
            }
        }
    }
    let mut boxes = Vec::new();
    let mut stack = Vec::new();
    // Per row of the component being filled: its leftmost and rightmost pixel and how many.
    let mut rows: Vec<(usize, usize, usize)> = Vec::new();
    for start in 0..w * h {
        if !mask[start] {
            continue;
        }
        // `start` is the component's topmost pixel (the scan is row by row), so its rows
        // are counted from there down.
        let top = start / w;
        rows.clear();
        mask[start] = false;
        flood(
            w,
            h,
            start,
            &mut stack,
            |j| std::mem::replace(&mut mask[j], false),
            |i| {
                let (x, r) = (i % w, i / w - top);
                if rows.len() <= r {
                    rows.resize(r + 1, (usize::MAX, 0, 0));
                }
                let row = &mut rows[r];
                *row = (row.0.min(x), row.1.max(x), row.2 + 1);
            },
        );
        for (first, last) in bands(&rows) {
            let (x0, x1) = rows[first..=last]
                .iter()
                .fold((usize::MAX, 0), |(a, b), r| (a.min(r.0), b.max(r.1)));
            let (bw, bh) = ((x1 + 1 - x0) as u32, (last + 1 - first) as u32);
            // A dot, a rule or a thin line is not text.
            if bh < 5 || bw < 3 {
                continue;
            }
            boxes.push(Rect {
                x: x0 as u32,
                y: (top + first) as u32,
                width: bw,
                height: bh,
            });
        }
    }
    boxes
}

/// Dark regions smaller than this (in pixels) are ink, not background: a glyph, an icon, a
/// word with its underline.
const MIN_BACKGROUND: u32 = 400;
/// Light marks at most this tall on a dark background are its text.
const MAX_GLYPH: u32 = 48;

/// What the labelling found of one connected region of pixels of one polarity.
#[derive(Clone, Copy)]
struct Region {
    dark: bool,
    area: u32,
    x0: u32,
    y0: u32,
    x1: u32,
    y1: u32,
    /// For a light region: it touches a dark background.
    on_dark: bool,
}

/// Makes all text dark on light, so Tesseract reads every word the same way and need not try
/// each line both ways (its `tessedit_do_invert`, which cost about a third more time and
/// still missed most light-on-dark words: measured). A dark region big and solid enough to be
/// a background (a dark button, a selected row, a terminal, a dark theme, the desktop behind
/// the windows) is made light, and the light marks on it no taller than a glyph (its text)
/// are made dark. Light regions that are not marks (a window over a dark desktop) stay as
/// they are.
fn darken_text(gray: &mut [u8], w: usize, h: usize) {
    let dark = |v: u8| v < 128;
    let mut label = vec![u32::MAX; w * h];
    let mut regions: Vec<Region> = Vec::new();
    let mut stack = Vec::new();
    for start in 0..w * h {
        if label[start] != u32::MAX {
            continue;
        }
        let id = regions.len() as u32;
        let polarity = dark(gray[start]);
        let mut r = Region {
            dark: polarity,
            area: 0,
            x0: u32::MAX,
            y0: u32::MAX,
            x1: 0,
            y1: 0,
            on_dark: false,
        };
        label[start] = id;
        flood(
            w,
            h,
            start,
            &mut stack,
            |j| {
                let same = label[j] == u32::MAX && dark(gray[j]) == polarity;
                if same {
                    label[j] = id;
                }
                same
            },
            |i| {
                let (x, y) = ((i % w) as u32, (i / w) as u32);
                r.area += 1;
                (r.x0, r.y0) = (r.x0.min(x), r.y0.min(y));
                (r.x1, r.y1) = (r.x1.max(x), r.y1.max(y));
            },
        );
        regions.push(r);
    }
    // A background: big, and at least half of its box (text, even bold or underlined, is
    // far sparser than that).
    let background = |r: &Region| {
        let boxed = u64::from(r.x1 - r.x0 + 1) * u64::from(r.y1 - r.y0 + 1);
        r.dark && r.area >= MIN_BACKGROUND && u64::from(r.area) * 2 >= boxed
    };
    let is_bg: Vec<bool> = regions.iter().map(background).collect();
    if !is_bg.iter().any(|&b| b) {
        return;
    }
    // Light regions touching a background.
    each_border(&label, w, h, |a, b| {
        if is_bg[a] && !regions[b].dark {
            regions[b].on_dark = true;
        } else if is_bg[b] && !regions[a].dark {
            regions[a].on_dark = true;
        }
    });
    let mut flip: Vec<bool> = regions
        .iter()
        .zip(&is_bg)
        .map(|(r, &bg)| bg || (!r.dark && r.on_dark && r.y1 - r.y0 < MAX_GLYPH))
        .collect();
    // The counters of those marks (the hole of an "o", dark, enclosed by its flipped ring)
    // flip with them, or every "o" would become a blot: a dark region that is not a
    // background and touches nothing but flipped marks.
    let mut touches_other = vec![false; regions.len()];
    let mut touches_flipped = vec![false; regions.len()];
    each_border(&label, w, h, |a, b| {
        for (hole, other) in [(a, b), (b, a)] {
            if regions[hole].dark && !is_bg[hole] && !regions[other].dark {
                if flip[other] {
                    touches_flipped[hole] = true;
                } else {
                    touches_other[hole] = true;
                }
            }
        }
    });
    for (i, f) in flip.iter_mut().enumerate() {
        if touches_flipped[i] && !touches_other[i] && !is_bg[i] && regions[i].dark {
            // A region on the image's edge is not enclosed.
            let r = &regions[i];
            let inside = r.x0 > 0 && r.y0 > 0 && (r.x1 as usize) + 1 < w && (r.y1 as usize) + 1 < h;
            *f = inside;
        }
    }
    for (v, &l) in gray.iter_mut().zip(&label) {
        if flip[l as usize] {
            *v = 255 - *v;
        }
    }
}

/// Fills the 4-connected region around `start` (already claimed by the caller): `take(j)`
/// claims a neighbouring pixel if it belongs (and marks it, so it is taken once); `each(i)` is
/// called for every pixel of the region. `stack` is scratch space, empty on return.
fn flood(
    w: usize,
    h: usize,
    start: usize,
    stack: &mut Vec<usize>,
    mut take: impl FnMut(usize) -> bool,
    mut each: impl FnMut(usize),
) {
    stack.push(start);
    while let Some(i) = stack.pop() {
        each(i);
        let (x, y) = (i % w, i / w);
        let neighbours = [
            (x > 0).then(|| i - 1),
            (x + 1 < w).then(|| i + 1),
            (y > 0).then(|| i - w),
            (y + 1 < h).then(|| i + w),
        ];
        for j in neighbours.into_iter().flatten() {
            if take(j) {
                stack.push(j);
            }
        }
    }
}

/// Calls `f(a, b)` for the two labels on either side of every edge between pixels of
/// different labels (each pixel against its right and lower neighbour).
fn each_border(label: &[u32], w: usize, h: usize, mut f: impl FnMut(usize, usize)) {
    for y in 0..h {
        for x in 0..w {
            let a = label[y * w + x] as usize;
            let neighbours = [
                (x + 1 < w).then(|| y * w + x + 1),
                (y + 1 < h).then(|| (y + 1) * w + x),
            ];
            for j in neighbours.into_iter().flatten() {
                let b = label[j] as usize;
                if a != b {
                    f(a, b);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use agentdesk_image::Size;

    fn frame(w: u32, h: u32, f: impl Fn(u32, u32) -> [u8; 3]) -> Frame {
        let mut data = Vec::new();
        for y in 0..h {
            for x in 0..w {
                let [r, g, b] = f(x, y);
                data.extend_from_slice(&[b, g, r, 0]);
            }
        }
        Frame::new(
            Size {
                width: w,
                height: h,
            },
            w as usize * 4,
            data,
        )
        .unwrap()
    }

    /// A 40×30 frame of `bg` with a 1-pixel `fg` stroke down column 20, rows 5 to 24.
    fn stroke(fg: u8, bg: u8) -> Frame {
        frame(40, 30, |x, y| {
            if x == 20 && (5..25).contains(&y) {
                [fg; 3]
            } else {
                [bg; 3]
            }
        })
    }

    #[test]
    fn dark_text_on_light_stays_as_it_is() {
        let g = gray(
            &stroke(0, 255),
            Rect {
                x: 0,
                y: 0,
                width: 40,
                height: 30,
            },
        )
        .unwrap();
        assert_eq!((g[400 + 19], g[400 + 20], g[400 + 21]), (255, 0, 255));
    }

    #[test]
    fn light_text_on_a_dark_background_becomes_dark_on_light() {
        let g = gray(
            &stroke(255, 30),
            Rect {
                x: 0,
                y: 0,
                width: 40,
                height: 30,
            },
        )
        .unwrap();
        assert_eq!((g[400 + 19], g[400 + 20], g[400 + 21]), (225, 0, 225));
    }

    #[test]
    fn small_dark_marks_are_ink_not_background() {
        let f = frame(40, 30, |x, y| {
            if (10..14).contains(&x) && (10..14).contains(&y) {
                [0; 3]
            } else {
                [255; 3]
            }
        });
        let g = gray(
            &f,
            Rect {
                x: 0,
                y: 0,
                width: 40,
                height: 30,
            },
        )
        .unwrap();
        assert_eq!(g[10 * 40 + 10], 0);
    }

    #[test]
    fn enlarging_keeps_flat_areas_and_size() {
        let g = crop_scaled(
            &[100; 15],
            5,
            Rect {
                x: 1,
                y: 1,
                width: 3,
                height: 2,
            },
            2,
        );
        assert_eq!(g.len(), 6 * 4);
        assert!(g.iter().all(|&v| v == 100), "{g:?}");
    }

    #[test]
    fn enlarging_an_edge_blends_only_next_to_it() {
        let g = crop_scaled(
            &[255, 255, 0, 0],
            4,
            Rect {
                x: 0,
                y: 0,
                width: 4,
                height: 1,
            },
            2,
        );
        assert_eq!(g.len(), 16);
        assert_eq!(&g[..3], &[255, 255, 255]);
        assert_eq!(&g[5..8], &[0, 0, 0]);
        assert!(g[3] > 128 && g[4] < 128, "{g:?}");
    }

    #[test]
    fn boxes_are_found_around_lines_and_touching_lines_are_cut_apart() {
        // Two "lines" of ink 8 rows tall, joined by a single column (a descender meeting
        // an ascender), beside a tall rule that must not join them.
        let (w, h) = (60usize, 40usize);
        let mut g = vec![255u8; w * h];
        for y in (2..10).chain(12..20) {
            for x in (10..40).step_by(3) {
                g[y * w + x] = 0;
            }
        }
        g[10 * w + 10] = 0;
        g[11 * w + 10] = 0;
        for y in 0..h {
            g[y * w + 45] = 0;
        }
        let boxes = text_boxes(&g, w, h);
        assert_eq!(boxes.len(), 2, "{boxes:?}");
        assert!(
            boxes.iter().all(|b| b.x == 10 && b.height <= 10),
            "{boxes:?}"
        );
    }

    #[test]
    fn outside_or_empty_is_none() {
        let f = frame(4, 4, |_, _| [0; 3]);
        assert!(gray_scaled(
            &f,
            Rect {
                x: 3,
                y: 0,
                width: 2,
                height: 1
            },
            1
        )
        .is_none());
        assert!(gray_scaled(
            &f,
            Rect {
                x: 0,
                y: 0,
                width: 0,
                height: 1
            },
            1
        )
        .is_none());
    }
}
