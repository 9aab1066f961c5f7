//! Enlarging an image by a whole factor with bilinear interpolation between pixel centres (so
//! the result is not shifted by half a source pixel; edges clamp): for the agents' zoom and for
//! making small text big enough to read. Pure.

/// One output pixel's two source pixels along an axis, and the second's weight in 1/256ths.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tap {
    /// The nearer source pixel at or before the output pixel's centre.
    pub lo: usize,
    /// The next one (or `lo` at the edge).
    pub hi: usize,
    /// How much of `hi` goes in, 0–255.
    pub weight: u32,
}

/// The taps of the `n * scale` output pixels along an axis of `n` source pixels.
pub fn taps(n: usize, scale: usize) -> Vec<Tap> {
    let s = scale.max(1);
    (0..n * s)
        .map(|o| {
            // The output pixel's centre in source pixels, in 1/(2s) units: (2o + 1 - s) / 2s.
            let num = (2 * o + 1) as i64 - s as i64;
            let den = 2 * s as i64;
            let i = if num <= 0 { 0 } else { (num / den) as usize };
            if num <= 0 || i + 1 >= n {
                let edge = if num <= 0 { 0 } else { n.saturating_sub(1) };
                return Tap {
                    lo: edge,
                    hi: edge,
                    weight: 0,
                };
            }
            Tap {
                lo: i,
                hi: i + 1,
                weight: ((num % den) * 256 / den) as u32,
            }
        })
        .collect()
}

/// The blend of four samples: `tl`, `tr` on the upper row, `bl`, `br` on the lower, with the
/// right and lower weights `fx`, `fy` (1/256ths).
pub fn blend(tl: u8, tr: u8, bl: u8, br: u8, fx: u32, fy: u32) -> u8 {
    let top = u32::from(tl) * (256 - fx) + u32::from(tr) * fx;
    let bottom = u32::from(bl) * (256 - fx) + u32::from(br) * fx;
    ((top * (256 - fy) + bottom * fy + (1 << 15)) >> 16) as u8
}

/// A gray image (one byte a pixel, rows `w` bytes, `h` rows) enlarged `scale` times.
pub fn enlarge_gray(src: &[u8], w: usize, h: usize, scale: usize) -> Vec<u8> {
    let (xs, ys) = (taps(w, scale), taps(h, scale));
    let ow = xs.len();
    let mut out = vec![0u8; ow * ys.len()];
    for (line, y) in out.chunks_exact_mut(ow.max(1)).zip(&ys) {
        let (r0, r1) = (
            &src[y.lo * w..(y.lo + 1) * w],
            &src[y.hi * w..(y.hi + 1) * w],
        );
        for (o, x) in line.iter_mut().zip(&xs) {
            *o = blend(r0[x.lo], r0[x.hi], r1[x.lo], r1[x.hi], x.weight, y.weight);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flat_stays_flat_and_edges_blend_only_next_to_them() {
        assert!(enlarge_gray(&[100; 6], 3, 2, 2).iter().all(|&v| v == 100));
        let g = enlarge_gray(&[255, 255, 0, 0], 4, 1, 2);
        assert_eq!(g.len(), 16);
        assert_eq!(&g[..3], &[255, 255, 255]);
        assert_eq!(&g[5..8], &[0, 0, 0]);
        assert!(g[3] > 128 && g[4] < 128, "{g:?}");
    }

    #[test]
    fn taps_stay_inside_the_source() {
        for n in 1..6 {
            for s in 1..5 {
                assert!(taps(n, s)
                    .iter()
                    .all(|t| t.lo < n && t.hi < n && t.weight < 256));
            }
        }
    }
}
