//! [`ScreenText`]: what one desktop's screen says, kept between calls.
//!
//! A reading finds the boxes of text on the screen without Tesseract (`prep::text_boxes`,
//! ~10 ms), then reads only the boxes it has not seen before: a box is known by a hash of
//! its pixels, so an unchanged line costs a hash, and a line that moved (a scrolled page, a
//! dragged window) is not read again either. When the X server reported no change (DAMAGE)
//! since the last reading of the same region, the last answer is given as it is; when it did
//! but the pixels are the same (a clock redrawn each second), the same, for a hash.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Instant;

use agentdesk_image::{Frame, Point, Rect, Size};

use crate::glyphs::Glyphs;
use crate::pool::{Page, Readers, PAD};
use crate::prep;
use crate::tess::RawWord;
use crate::Error;

/// A word on screen, in screen pixels.
#[derive(Debug, Clone, PartialEq)]
pub struct Word {
    /// What it says.
    pub text: String,
    /// Where.
    pub rect: Rect,
    /// Tesseract's confidence, 0–100.
    pub confidence: f32,
}

/// Lines of text an app says it shows (its accessibility tree), to correct OCR's reading.
#[derive(Debug, Clone, Default)]
pub struct Given {
    /// The lines.
    pub lines: Vec<Line>,
    /// Whether they are all there are; if not (an app had not laid out its text yet), the
    /// next reading asks for them again even if nothing was drawn.
    pub complete: bool,
}

/// Where a line's text came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Source {
    /// Read from the pixels by OCR.
    #[default]
    Ocr,
    /// Read from the pixels by matching a bitmap font's glyphs (a terminal's): exact.
    Font,
    /// Read by OCR, and in the app's own words (its accessibility tree) where they agree.
    Accessibility,
}

impl Source {
    /// How agents see it written.
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Ocr => "ocr",
            Source::Font => "font",
            Source::Accessibility => "accessibility",
        }
    }
}

/// A line of text on screen: words read together, left to right.
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    /// Its words.
    pub words: Vec<Word>,
    /// The box around them.
    pub rect: Rect,
    /// Where its text came from.
    pub source: Source,
}

impl Line {
    /// The words joined by spaces.
    pub fn text(&self) -> String {
        let words: Vec<&str> = self.words.iter().map(|w| w.text.as_str()).collect();
        words.join(" ")
    }

    /// The mean of the words' confidences.
    pub fn confidence(&self) -> f32 {
        if self.words.is_empty() {
            return 0.0;
        }
        self.words.iter().map(|w| w.confidence).sum::<f32>() / self.words.len() as f32
    }
}

/// The text of a region, in reading order.
#[derive(Debug, Clone, Default)]
pub struct Reading {
    /// Lines, top to bottom; lines side by side (a row of labels, two windows) left to
    /// right.
    pub lines: Vec<Line>,
    /// Whether every box of text was read (else the time ran out; what was read is kept, so
    /// asking again goes on where this stopped).
    pub complete: bool,
    /// Boxes of text found, and how many of them had to be read (the rest were known).
    pub boxes: usize,
    /// See `boxes`.
    pub read: usize,
}

/// Past this many known boxes, those not seen in the latest reading are forgotten.
const MAX_KNOWN: usize = 8192;
/// Words of lower confidence are noise (an icon, a photo, a border read as letters).
const MIN_CONFIDENCE: f32 = 30.0;

struct Known {
    /// Words relative to the box's corner.
    words: Vec<RawWord>,
    /// How they were read: OCR, or matching a font.
    source: Source,
    seen: u64,
}

/// What a desktop's screen says, kept between readings.
#[derive(Default)]
pub struct ScreenText {
    known: HashMap<u64, Known>,
    /// A bitmap font whose text is read by matching cells, before OCR; `None` inside if
    /// there is none (set once: see [`ScreenText::set_glyphs`]).
    glyphs: Option<Option<Arc<Glyphs>>>,
    generation: u64,
    last: Option<Last>,
}

struct Last {
    damage: u64,
    /// A hash of the lines given from elsewhere, if any were (see [`ScreenText::read`]).
    given: Option<u64>,
    /// They were not all there were (an app had not laid out its text yet): the next reading
    /// asks for them again, even if nothing was drawn.
    partial: bool,
    /// A hash of the whole frame read.
    pixels: u64,
    region: Rect,
    size: Size,
    reading: Arc<Reading>,
}

impl std::fmt::Debug for ScreenText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScreenText")
            .field("known", &self.known.len())
            .finish()
    }
}

impl ScreenText {
    /// Reads text drawn in `glyphs`' font by matching its cells (exact, and at no cost
    /// beside OCR), from the next reading on.
    pub fn set_glyphs(&mut self, glyphs: Option<Glyphs>) {
        self.glyphs = Some(glyphs.map(Arc::new));
    }

    /// Whether [`ScreenText::set_glyphs`] was called.
    pub fn glyphs_set(&self) -> bool {
        self.glyphs.is_some()
    }

    /// The last reading of `region` on a screen of `size`, if nothing was drawn since
    /// (`damage`: the X server's count of changes) and it was made the same way (`given`:
    /// with lines given from elsewhere, or from the pixels alone).
    pub fn unchanged(
        &self,
        region: Rect,
        size: Size,
        damage: u64,
        given: bool,
    ) -> Option<Arc<Reading>> {
        let last = self.last.as_ref()?;
        (last.damage == damage
            && last.given.is_some() == given
            && !last.partial
            && last.region == region
            && last.size == size
            && last.reading.complete)
            .then(|| again(&last.reading))
    }

    /// Reads the text in `region` of `frame`, a capture of the whole screen taken when the X
    /// server had counted `damage` changes. The text boxes are always found on the whole
    /// screen, so that a region cuts no line and a box is known by the same key whatever
    /// region is asked for; only the boxes that reach into the region are read, and only
    /// the words whose centre is in it are kept.
    ///
    /// `given`: lines an app says it shows (its accessibility tree). Where OCR read a line in
    /// their place that says nearly the same, the app's exact words are taken (see
    /// `corrected`); they add nothing OCR did not see and hide nothing it did.
    ///
    /// The frame is given back with the answer, for its buffer to be used again. Finding the
    /// boxes (tens of milliseconds of CPU) runs on a blocking thread, not the caller's task.
    pub async fn read(
        &mut self,
        frame: Frame,
        region: Rect,
        given: Option<Given>,
        damage: u64,
        readers: &Readers,
        deadline: Instant,
    ) -> (Result<Arc<Reading>, Error>, Frame) {
        let glyphs = self.glyphs.clone().flatten();
        let done = tokio::task::spawn_blocking(move || {
            let prepared = prepare(&frame, region, glyphs.as_deref());
            (frame, prepared)
        })
        .await;
        // The blocking task panicked (a bug): the frame went with it.
        let Ok((frame, prepared)) = done else {
            let empty = Frame {
                size: Size {
                    width: 0,
                    height: 0,
                },
                stride: 0,
                data: Vec::new(),
            };
            return (Err(Error::Closed), empty);
        };
        let result = self
            .read_prepared(prepared, region, given, damage, readers, deadline)
            .await;
        (result, frame)
    }

    async fn read_prepared(
        &mut self,
        prepared: Prepared,
        region: Rect,
        given: Option<Given>,
        damage: u64,
        readers: &Readers,
        deadline: Instant,
    ) -> Result<Arc<Reading>, Error> {
        let Prepared {
            pixels,
            size,
            gray,
            boxes,
            cuts,
            keys,
            mut matched,
        } = prepared;
        let partial = given.as_ref().is_some_and(|g| !g.complete);
        let given_key = given.as_ref().map(|g| lines_key(&g.lines));
        // The same pixels as last time (a clock or a cursor redrawn as it was): the same
        // answer, for the cost of a hash.
        if let Some(last) = self.last.as_mut() {
            if last.pixels == pixels
                && last.region == region
                && last.given == given_key
                && !partial
                && last.reading.complete
            {
                last.damage = damage;
                last.reading = again(&last.reading);
                return Ok(Arc::clone(&last.reading));
            }
        }
        self.generation += 1;
        let generation = self.generation;
        let Some(gray) = gray else {
            return Ok(Arc::new(Reading {
                complete: true,
                ..Reading::default()
            }));
        };
        let given = given.map(|g| g.lines).unwrap_or_default();
        let mut unknown = Vec::new();
        let mut read = 0;
        for (i, k) in keys.iter().enumerate() {
            match (self.known.get_mut(k), matched[i].take()) {
                (Some(known), _) => known.seen = generation,
                // Known glyphs, read already.
                (None, Some(words)) => {
                    read += 1;
                    self.known.insert(
                        *k,
                        Known {
                            words: relative(words, cuts[i]),
                            source: Source::Font,
                            seen: generation,
                        },
                    );
                }
                (None, None) => unknown.push(i),
            }
        }
        let mut complete = true;
        let mut first_error = None;
        if !unknown.is_empty() {
            let page = Arc::new(Page {
                gray,
                width: size.width,
                height: size.height,
            });
            let rects: Vec<Rect> = unknown.iter().map(|&i| boxes[i]).collect();
            let cancel = Arc::new(AtomicBool::new(false));
            let results = readers.read(page, &rects, cancel, deadline).await;
            for (&i, result) in unknown.iter().zip(results) {
                match result {
                    Ok(words) => {
                        self.known.insert(
                            keys[i],
                            Known {
                                words: relative(words, cuts[i]),
                                source: Source::Ocr,
                                seen: generation,
                            },
                        );
                    }
                    Err(Error::Cancelled) => complete = false,
                    Err(e) => {
                        complete = false;
                        first_error.get_or_insert(e);
                    }
                }
            }
        }
        // Nothing could be read at all: say why (Tesseract missing), rather than "no text".
        if let Some(e) = first_error {
            if unknown.len() == boxes.len() {
                return Err(e);
            }
        }
        if self.known.len() > MAX_KNOWN {
            self.known.retain(|_, k| k.seen == generation);
        }
        let mut lines = Vec::new();
        for (b, k) in cuts.iter().zip(&keys) {
            let Some(known) = self.known.get(k) else {
                continue;
            };
            let mut current: Option<(u32, Vec<Word>)> = None;
            for raw in &known.words {
                if raw.confidence < MIN_CONFIDENCE {
                    continue;
                }
                let centre = Point {
                    x: b.x + raw.rect.x + raw.rect.width / 2,
                    y: b.y + raw.rect.y + raw.rect.height / 2,
                };
                if !region.contains(centre) {
                    continue;
                }
                let word = Word {
                    text: raw.text.clone(),
                    rect: Rect {
                        x: b.x + raw.rect.x,
                        y: b.y + raw.rect.y,
                        ..raw.rect
                    },
                    confidence: raw.confidence,
                };
                match &mut current {
                    Some((line, words)) if *line == raw.line => words.push(word),
                    _ => {
                        if let Some((_, words)) = current.take() {
                            lines.push(line_of(words, known.source));
                        }
                        current = Some((raw.line, vec![word]));
                    }
                }
            }
            if let Some((_, words)) = current {
                lines.push(line_of(words, known.source));
            }
        }
        let lines: Vec<Line> = join_lines(lines)
            .into_iter()
            .map(|l| corrected(l, &given))
            .collect();
        let reading = Arc::new(Reading {
            lines: reading_order(without_twins(lines)),
            complete,
            boxes: boxes.len(),
            read: read + unknown.len(),
        });
        self.last = Some(Last {
            damage,
            given: given_key,
            partial,
            pixels,
            region,
            size,
            reading: Arc::clone(&reading),
        });
        Ok(reading)
    }
}

/// Words in screen pixels made relative to the corner of `cut` (the box they were read in).
fn relative(words: Vec<RawWord>, cut: Rect) -> Vec<RawWord> {
    words
        .into_iter()
        .map(|w| RawWord {
            rect: Rect {
                x: w.rect.x.saturating_sub(cut.x),
                y: w.rect.y.saturating_sub(cut.y),
                ..w.rect
            },
            ..w
        })
        .collect()
}

/// `line` (read by OCR) in the exact words of the lines given in its place, if they say
/// nearly what OCR read (at most one letter in five differs, spaces aside) in as many words:
/// each word keeps the box OCR found for it in the pixels. Otherwise `line` as read: what an
/// app says it shows is taken only where the pixels agree, so a page cannot put words on
/// screen that are not drawn, nor hide words that are.
fn corrected(line: Line, given: &[Line]) -> Line {
    if line.source != Source::Ocr || given.is_empty() {
        return line;
    }
    let zone = line.rect.grown(
        4,
        Size {
            width: u32::MAX,
            height: u32::MAX,
        },
    );
    let mut there: Vec<&Line> = given
        .iter()
        .filter(|g| zone.contains(g.rect.center()))
        .collect();
    if there.is_empty() {
        return line;
    }
    there.sort_by_key(|g| g.rect.x);
    let words: Vec<&str> = there
        .iter()
        .flat_map(|g| g.words.iter().map(|w| w.text.as_str()))
        .collect();
    if words.len() != line.words.len() {
        return line;
    }
    let letters = |s: &mut dyn Iterator<Item = char>| -> Vec<char> {
        s.filter(|c| !c.is_whitespace()).collect()
    };
    let said = letters(&mut words.iter().flat_map(|w| w.chars()));
    let read = letters(&mut line.words.iter().flat_map(|w| w.text.chars()));
    if said.is_empty() || said.len() > MAX_COMPARED || read.len() > MAX_COMPARED {
        return line;
    }
    if distance(&said, &read) * 5 > said.len() {
        return line;
    }
    let words = line
        .words
        .into_iter()
        .zip(words)
        .map(|(w, text)| Word {
            text: text.to_string(),
            confidence: 100.0,
            ..w
        })
        .collect();
    Line {
        words,
        source: Source::Accessibility,
        ..line
    }
}

/// Lines longer than this (in letters) are not compared: no screen line is.
const MAX_COMPARED: usize = 500;

/// The edit distance between two strings of letters (Levenshtein, one row at a time).
fn distance(a: &[char], b: &[char]) -> usize {
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let next = (diagonal + usize::from(ca != cb))
                .min(row[j] + 1)
                .min(row[j + 1] + 1);
            diagonal = row[j + 1];
            row[j + 1] = next;
        }
    }
    row[b.len()]
}

/// A hash of lines: their text and places.
fn lines_key(lines: &[Line]) -> u64 {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    for l in lines {
        l.text().hash(&mut hasher);
        (l.rect.x, l.rect.y, l.rect.width, l.rect.height).hash(&mut hasher);
    }
    hasher.finish()
}

impl Line {
    /// A line whose text and box are known (from an app's accessibility tree), split into
    /// words at white space, each word's box its share of the line's by letters.
    pub fn given(text: &str, rect: Rect, source: Source) -> Line {
        let total = text.chars().count().max(1) as u64;
        let mut words = Vec::new();
        let mut at = 0u64; // letters before the current one
        let mut current: Option<(u64, String)> = None;
        let close = |start: u64, end: u64, word: String, words: &mut Vec<Word>| {
            let x0 = u64::from(rect.width) * start / total;
            let x1 = (u64::from(rect.width) * end / total).max(x0 + 1);
            words.push(Word {
                text: word,
                rect: Rect {
                    x: rect.x + x0 as u32,
                    width: (x1 - x0) as u32,
                    ..rect
                },
                confidence: 100.0,
            });
        };
        for c in text.chars() {
            if c.is_whitespace() {
                if let Some((start, word)) = current.take() {
                    close(start, at, word, &mut words);
                }
            } else {
                current.get_or_insert_with(|| (at, String::new())).1.push(c);
            }
            at += 1;
        }
        if let Some((start, word)) = current.take() {
            close(start, at, word, &mut words);
        }
        Line {
            words,
            rect,
            source,
        }
    }

    /// This line with only its words whose centre is in `region`; `None` if none is.
    pub fn within(mut self, region: Rect) -> Option<Line> {
        self.words.retain(|w| region.contains(w.rect.center()));
        let rect = self
            .words
            .iter()
            .map(|w| w.rect)
            .reduce(|a, b| a.union(b))?;
        Some(Line { rect, ..self })
    }
}

fn line_of(mut words: Vec<Word>, source: Source) -> Line {
    words.sort_by_key(|w| w.rect.x);
    let rect = words
        .iter()
        .map(|w| w.rect)
        .reduce(|a, b| a.union(b))
        .unwrap_or(Rect {
            x: 0,
            y: 0,
            width: 0,
            height: 0,
        });
    Line {
        words,
        rect,
        source,
    }
}

/// What a reading needs from the pixels, found off the caller's task.
struct Prepared {
    /// A hash of the whole frame.
    pixels: u64,
    size: Size,
    /// The gray image, text dark on light; `None` for an empty frame.
    gray: Option<Vec<u8>>,
    /// The boxes of text that reach into the region, the cuts they are read with, and their
    /// keys.
    boxes: Vec<Rect>,
    cuts: Vec<Rect>,
    keys: Vec<u64>,
    /// Per box, its words if it is text in the known bitmap font.
    matched: Vec<Option<Vec<RawWord>>>,
}

fn prepare(frame: &Frame, region: Rect, glyphs: Option<&Glyphs>) -> Prepared {
    let pixels = frame_key(frame);
    let size = frame.size;
    let Some(gray) = prep::gray(frame, Rect::full(size)) else {
        return Prepared {
            pixels,
            size,
            gray: None,
            boxes: Vec::new(),
            cuts: Vec::new(),
            keys: Vec::new(),
            matched: Vec::new(),
        };
    };
    let (w, h) = (size.width as usize, size.height as usize);
    let boxes: Vec<Rect> = prep::text_boxes(&gray, w, h)
        .into_iter()
        .filter(|b| b.intersection(region).is_some())
        .collect();
    let cuts: Vec<Rect> = boxes.iter().map(|b| b.grown(PAD, size)).collect();
    let keys: Vec<u64> = cuts.iter().map(|c| key(&gray, w, *c)).collect();
    let matched = boxes
        .iter()
        .map(|b| glyphs.and_then(|g| g.read(&gray, w, h, *b)))
        .collect();
    Prepared {
        pixels,
        size,
        gray: Some(gray),
        boxes,
        cuts,
        keys,
        matched,
    }
}

/// The same reading, given again: nothing had to be read for it.
fn again(reading: &Arc<Reading>) -> Arc<Reading> {
    if reading.read == 0 {
        return Arc::clone(reading);
    }
    Arc::new(Reading {
        read: 0,
        ..(**reading).clone()
    })
}

/// A frame's identity: its size and pixels (row padding left out).
fn frame_key(frame: &Frame) -> u64 {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    (frame.size.width, frame.size.height).hash(&mut hasher);
    let row = frame.size.width as usize * 4;
    for y in 0..frame.size.height as usize {
        if let Some(bytes) = frame.data.get(y * frame.stride..y * frame.stride + row) {
            hasher.write(bytes);
        }
    }
    hasher.finish()
}

/// A box's identity: its size and gray pixels, with the margin it is read with (what
/// Tesseract finds depends on both).
fn key(gray: &[u8], w: usize, b: Rect) -> u64 {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    (b.width, b.height).hash(&mut hasher);
    for y in b.y as usize..(b.y + b.height) as usize {
        let start = y * w + b.x as usize;
        hasher.write(&gray[start..start + b.width as usize]);
    }
    hasher.finish()
}

/// Joins the pieces of one line of text that were read apart (text boxes end where the gap
/// between words is wide, as in a monospaced font): pieces read the same way, side by side,
/// overlapping in height by at least half, with a gap under one and a half times their
/// height.
pub fn join_lines(mut lines: Vec<Line>) -> Vec<Line> {
    lines.sort_by_key(|l| (l.rect.x, l.rect.y));
    let mut out: Vec<Line> = Vec::with_capacity(lines.len());
    for line in lines {
        let r = line.rect;
        let joins = out.iter().rposition(|o| {
            let q = o.rect;
            let overlap = q.bottom().min(r.bottom()).saturating_sub(q.y.max(r.y));
            let height = q.height.min(r.height).max(1);
            let gap = i64::from(r.x) - i64::from(q.right());
            // Text read by matching a font and text read by OCR are not one line: they are
            // in different fonts, so different windows.
            o.source == line.source
                && overlap * 2 >= height
                && gap >= -2
                && gap <= i64::from(q.height.max(r.height)) * 3 / 2
        });
        match joins {
            Some(i) => {
                let o = &mut out[i];
                o.rect = o.rect.union(r);
                o.words.extend(line.words);
            }
            None => out.push(line),
        }
    }
    out
}

/// Drops a line read twice (two boxes that overlap, each read whole): the same text over
/// mostly the same pixels.
fn without_twins(lines: Vec<Line>) -> Vec<Line> {
    let mut out: Vec<Line> = Vec::with_capacity(lines.len());
    for line in lines {
        let twin = out.iter().any(|o| {
            o.rect
                .intersection(line.rect)
                .is_some_and(|common| common.area() * 2 >= line.rect.area().min(o.rect.area()))
                && o.text() == line.text()
        });
        if !twin {
            out.push(line);
        }
    }
    out
}

/// Sorts lines top to bottom; lines on one visual row (each one's middle within the first's
/// height) left to right.
pub fn reading_order(mut lines: Vec<Line>) -> Vec<Line> {
    lines.sort_by_key(|l| (l.rect.y, l.rect.x));
    let mut out = Vec::with_capacity(lines.len());
    let mut row: Vec<Line> = Vec::new();
    for line in lines {
        let joins = row.first().is_some_and(|first| {
            let middle = line.rect.y + line.rect.height / 2;
            middle < first.rect.bottom()
        });
        if !joins {
            row.sort_by_key(|l| l.rect.x);
            out.append(&mut row);
        }
        row.push(line);
    }
    row.sort_by_key(|l| l.rect.x);
    out.append(&mut row);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(text: &str, x: u32, y: u32, w: u32, h: u32) -> Line {
        let rect = Rect {
            x,
            y,
            width: w,
            height: h,
        };
        Line {
            words: vec![Word {
                text: text.into(),
                rect,
                confidence: 90.0,
            }],
            rect,
            source: Source::Ocr,
        }
    }

    #[test]
    fn pieces_of_one_line_are_joined_and_others_are_not() {
        let lines = vec![
            line("report", 80, 21, 50, 12),
            line("Quarterly", 0, 20, 70, 14),
            line("2026", 140, 20, 35, 13),
            line("below", 0, 40, 40, 13),
            line("far", 600, 20, 30, 13),
        ];
        let joined = reading_order(join_lines(lines));
        let texts: Vec<String> = joined.iter().map(Line::text).collect();
        assert_eq!(texts, ["Quarterly report 2026", "far", "below"]);
        assert_eq!(
            joined[0].rect,
            Rect {
                x: 0,
                y: 20,
                width: 175,
                height: 14
            }
        );
    }

    #[test]
    fn a_line_read_twice_is_kept_once() {
        let lines = vec![
            line("Mousepad", 10, 10, 80, 14),
            line("Mousepad", 11, 10, 80, 14),
        ];
        assert_eq!(without_twins(lines).len(), 1);
        let apart = vec![line("ok", 10, 10, 20, 14), line("ok", 60, 10, 20, 14)];
        assert_eq!(without_twins(apart).len(), 2);
    }

    #[test]
    fn a_given_line_is_split_into_words_by_their_share_of_letters() {
        let rect = Rect {
            x: 100,
            y: 10,
            width: 120,
            height: 16,
        };
        let l = Line::given("Open  the report", rect, Source::Accessibility);
        let words: Vec<(&str, u32, u32)> = l
            .words
            .iter()
            .map(|w| (w.text.as_str(), w.rect.x, w.rect.width))
            .collect();
        // 16 letters over 120 px: 7.5 px each.
        assert_eq!(
            words,
            [("Open", 100, 30), ("the", 145, 22), ("report", 175, 45)]
        );
        assert_eq!(l.text(), "Open the report");
        assert!(l
            .words
            .iter()
            .all(|w| w.confidence == 100.0 && w.rect.height == 16));
        // Only its words whose centre is in a region.
        let left = Rect {
            x: 0,
            y: 0,
            width: 160,
            height: 100,
        };
        let cut = l.clone().within(left).unwrap();
        assert_eq!(cut.text(), "Open the");
        assert_eq!(cut.rect.right(), 167);
        assert!(l.within(Rect { y: 50, ..left }).is_none());
        assert!(Line::given("", rect, Source::Accessibility)
            .words
            .is_empty());
    }

    #[test]
    fn an_app_s_words_are_taken_only_where_ocr_read_nearly_the_same() {
        let read = Line {
            words: vec![
                Word {
                    text: "Seria1".into(),
                    rect: Rect {
                        x: 10,
                        y: 10,
                        width: 40,
                        height: 14,
                    },
                    confidence: 70.0,
                },
                Word {
                    text: "rnumber".into(),
                    rect: Rect {
                        x: 60,
                        y: 10,
                        width: 50,
                        height: 14,
                    },
                    confidence: 80.0,
                },
            ],
            rect: Rect {
                x: 10,
                y: 10,
                width: 100,
                height: 14,
            },
            source: Source::Ocr,
        };
        let said = |text: &str, x| {
            Line::given(
                text,
                Rect {
                    x,
                    y: 9,
                    width: 102,
                    height: 16,
                },
                Source::Accessibility,
            )
        };
        // Two letters in thirteen differ: the app's words, in OCR's boxes.
        let fixed = corrected(read.clone(), &[said("Serial number", 9)]);
        assert_eq!(fixed.source, Source::Accessibility);
        assert_eq!(fixed.text(), "Serial number");
        assert_eq!(fixed.words[1].rect, read.words[1].rect);
        assert!(fixed.words.iter().all(|w| w.confidence == 100.0));
        // Words that are not what the pixels show, in as many words or not: OCR's reading.
        for other in ["Cancel payment", "Serial number 1000000", "Sarah jumper"] {
            assert_eq!(corrected(read.clone(), &[said(other, 9)]), read, "{other}");
        }
        // Nothing given there.
        assert_eq!(corrected(read.clone(), &[said("Serial number", 400)]), read);
        assert_eq!(distance(&['a', 'b'], &['b']), 1);
        assert_eq!(distance(&[], &['x', 'y']), 2);
    }

    #[test]
    fn lines_side_by_side_read_left_to_right_then_down() {
        let lines = vec![
            line("b", 300, 11, 10, 12),
            line("a", 0, 10, 10, 12),
            line("c", 0, 30, 10, 12),
        ];
        let texts: Vec<String> = reading_order(lines).iter().map(Line::text).collect();
        assert_eq!(texts, ["a", "b", "c"]);
    }
}
