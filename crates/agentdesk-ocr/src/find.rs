//! Finding a phrase among the lines of a [`Reading`](crate::Reading), as an agent means it.
//!
//! By default case and spaces do not matter (OCR often joins or splits words: "Save As" may
//! come back as "SaveAs"), a phrase matches across the words of one line, and when nothing
//! matches so, one misread letter in every five is forgiven (with a lower confidence).
//! `exact` asks for the words as written, whole. The box of a match inside a word is cut to
//! the matched letters' share of it, so its centre lands on them.

use agentdesk_image::Rect;

use crate::screen::{Line, Source};

/// A match: where the phrase is and how sure that is.
#[derive(Debug, Clone, PartialEq)]
pub struct Match {
    /// The text matched, as read.
    pub text: String,
    /// Where it is, in screen pixels.
    pub rect: Rect,
    /// 0–100: the words' confidence, lowered for a match that forgave misread letters.
    pub confidence: f32,
    /// Where the line's text came from.
    pub source: Source,
}

/// Phrases longer than this (in characters) are refused by the callers: no label is longer,
/// and the fuzzy search's cost grows with it.
pub const MAX_PHRASE: usize = 200;

/// Every match of `phrase` in `lines`, in reading order.
pub fn find(lines: &[Line], phrase: &str, exact: bool) -> Vec<Match> {
    if exact {
        return lines.iter().flat_map(|l| exact_in(l, phrase)).collect();
    }
    let needle: Vec<char> = fold(phrase);
    if needle.is_empty() {
        return Vec::new();
    }
    let found: Vec<Match> = lines.iter().flat_map(|l| loose_in(l, &needle, 0)).collect();
    if !found.is_empty() || needle.len() < 4 {
        return found;
    }
    let allowed = needle.len().div_ceil(5);
    lines
        .iter()
        .flat_map(|l| loose_in(l, &needle, allowed))
        .collect()
}

/// Lower case, no white space.
fn fold(s: &str) -> Vec<char> {
    s.chars()
        .filter(|c| !c.is_whitespace())
        .flat_map(char::to_lowercase)
        .collect()
}

/// Whole words, as written, consecutive in the line.
fn exact_in(line: &Line, phrase: &str) -> Vec<Match> {
    let want: Vec<&str> = phrase.split_whitespace().collect();
    if want.is_empty() || want.len() > line.words.len() {
        return Vec::new();
    }
    let mut out = Vec::new();
    for start in 0..=line.words.len() - want.len() {
        let words = &line.words[start..start + want.len()];
        if words.iter().zip(&want).all(|(w, t)| w.text == *t) {
            out.push(Match {
                text: want.join(" "),
                rect: words
                    .iter()
                    .map(|w| w.rect)
                    .reduce(|a, b| a.union(b))
                    .unwrap_or(words[0].rect),
                confidence: words.iter().map(|w| w.confidence).fold(100.0, f32::min),
                source: line.source,
            });
        }
    }
    out
}

/// Matches of `needle` (folded) in the line's folded letters with at most `allowed` edits.
fn loose_in(line: &Line, needle: &[char], allowed: usize) -> Vec<Match> {
    // The line's letters, each with the word it belongs to and its place in that word.
    let mut letters: Vec<char> = Vec::new();
    let mut owner: Vec<(usize, usize, usize)> = Vec::new(); // (word, index, word's length)
    for (wi, word) in line.words.iter().enumerate() {
        let folded = fold(&word.text);
        let n = folded.len();
        for (ci, c) in folded.into_iter().enumerate() {
            letters.push(c);
            owner.push((wi, ci, n));
        }
    }
    let spans = if allowed == 0 {
        exact_spans(&letters, needle)
    } else {
        fuzzy_spans(&letters, needle, allowed)
    };
    spans
        .into_iter()
        .map(|(start, end, edits)| {
            let (first, first_at, first_len) = owner[start];
            let (last, last_at, last_len) = owner[end - 1];
            let words = &line.words[first..=last];
            let confidence = words.iter().map(|w| w.confidence).fold(100.0, f32::min);
            let penalty = 1.0 - edits as f32 / needle.len() as f32;
            Match {
                text: words
                    .iter()
                    .map(|w| w.text.as_str())
                    .collect::<Vec<_>>()
                    .join(" "),
                rect: cut(
                    words[0].rect,
                    words[words.len() - 1].rect,
                    (first_at, first_len),
                    (last_at + 1, last_len),
                ),
                confidence: confidence * penalty,
                source: line.source,
            }
        })
        .collect()
}

/// The box from letter `from.0` of the first word (of `from.1` letters) to letter `to.0`
/// of the last word, each word's letters taken as equally wide.
fn cut(first: Rect, last: Rect, from: (usize, usize), to: (usize, usize)) -> Rect {
    let share = |r: Rect, at: usize, of: usize| -> u32 {
        if of == 0 {
            return r.x;
        }
        r.x + (u64::from(r.width) * at as u64 / of as u64) as u32
    };
    let x0 = share(first, from.0, from.1);
    let x1 = share(last, to.0, to.1).max(x0 + 1);
    let y0 = first.y.min(last.y);
    let y1 = first.bottom().max(last.bottom());
    Rect {
        x: x0,
        y: y0,
        width: x1 - x0,
        height: y1 - y0,
    }
}

/// Where `needle` occurs in `hay`, without overlaps: (start, end, 0).
fn exact_spans(hay: &[char], needle: &[char]) -> Vec<(usize, usize, usize)> {
    let mut out = Vec::new();
    let mut i = 0;
    while i + needle.len() <= hay.len() {
        if hay[i..i + needle.len()] == *needle {
            out.push((i, i + needle.len(), 0));
            i += needle.len();
        } else {
            i += 1;
        }
    }
    out
}

/// Where `needle` occurs in `hay` with at most `allowed` edits (Sellers' dynamic
/// programming: the best end of each match, then its start by tracing back), the best of
/// overlapping ones only: (start, end, edits).
fn fuzzy_spans(hay: &[char], needle: &[char], allowed: usize) -> Vec<(usize, usize, usize)> {
    let (n, m) = (hay.len(), needle.len());
    if n == 0 {
        return Vec::new();
    }
    // d[i][j]: edits to match needle[..i] ending at hay[..j]; start[i][j]: where it began.
    let mut d = vec![vec![0usize; n + 1]; m + 1];
    let mut start = vec![vec![0usize; n + 1]; m + 1];
    for (j, s) in start[0].iter_mut().enumerate() {
        *s = j;
    }
    for i in 1..=m {
        d[i][0] = i;
        for j in 1..=n {
            let sub = d[i - 1][j - 1] + usize::from(needle[i - 1] != hay[j - 1]);
            let del = d[i - 1][j] + 1;
            let ins = d[i][j - 1] + 1;
            let best = sub.min(del).min(ins);
            d[i][j] = best;
            start[i][j] = if best == sub {
                start[i - 1][j - 1]
            } else if best == del {
                start[i - 1][j]
            } else {
                start[i][j - 1]
            };
        }
    }
    let mut out: Vec<(usize, usize, usize)> = Vec::new();
    for j in 1..=n {
        let edits = d[m][j];
        if edits > allowed {
            continue;
        }
        let s = start[m][j];
        if s >= j {
            continue;
        }
        match out.last_mut() {
            // Overlapping the previous: keep the better.
            Some(prev) if s < prev.1 => {
                if edits < prev.2 {
                    *prev = (s, j, edits);
                }
            }
            _ => out.push((s, j, edits)),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::screen::Word;

    fn line(words: &[(&str, u32, u32)]) -> Line {
        let words: Vec<Word> = words
            .iter()
            .map(|&(t, x, w)| Word {
                text: t.into(),
                rect: Rect {
                    x,
                    y: 10,
                    width: w,
                    height: 12,
                },
                confidence: 90.0,
            })
            .collect();
        let rect = words
            .iter()
            .map(|w| w.rect)
            .reduce(|a, b| a.union(b))
            .unwrap();
        Line {
            words,
            rect,
            source: Source::Ocr,
        }
    }

    #[test]
    fn a_phrase_matches_across_words_whatever_the_case() {
        let l = line(&[("Open", 0, 40), ("Quarterly", 50, 80), ("Report", 140, 60)]);
        let m = find(&[l], "quarterly  report", false);
        assert_eq!(m.len(), 1);
        assert_eq!(
            m[0].rect,
            Rect {
                x: 50,
                y: 10,
                width: 150,
                height: 12
            }
        );
        assert_eq!(m[0].text, "Quarterly Report");
    }

    #[test]
    fn words_the_ocr_joined_still_match_and_the_box_is_cut_to_the_letters() {
        let l = line(&[("SaveAs", 0, 60)]);
        let m = find(&[l], "as", false);
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].rect.x, 40);
        assert_eq!(m[0].rect.width, 20);
    }

    #[test]
    fn exact_wants_whole_words_as_written() {
        let l = line(&[("Save", 0, 40), ("As", 50, 20)]);
        assert_eq!(find(std::slice::from_ref(&l), "Save As", true).len(), 1);
        assert!(find(std::slice::from_ref(&l), "save as", true).is_empty());
        assert!(find(&[l], "Sav", true).is_empty());
    }

    #[test]
    fn one_misread_letter_is_forgiven_with_less_confidence() {
        let l = line(&[("Quarterlv", 0, 90)]);
        let m = find(&[l], "quarterly", false);
        assert_eq!(m.len(), 1);
        assert!(m[0].confidence < 90.0);
        // But not in short words, where one letter is the difference.
        let l = line(&[("Cat", 0, 30)]);
        assert!(find(&[l], "car", false).is_empty());
    }

    #[test]
    fn every_occurrence_is_found() {
        let l = line(&[("ok", 0, 20), ("ok", 30, 20), ("ok", 60, 20)]);
        assert_eq!(find(&[l], "OK", false).len(), 3);
    }

    #[test]
    fn empty_and_blank_phrases_match_nothing() {
        let l = line(&[("ok", 0, 20)]);
        assert!(find(std::slice::from_ref(&l), "", false).is_empty());
        assert!(find(&[l], "   ", true).is_empty());
    }
}
