//! Measures every screenshot encoder on real frames: time and bytes, to choose defaults by
//! measurement (docs/performance.md). Frames are PNG screenshots, e.g. saved from
//! `screen_shot(format="png")`.
//!
//! `cargo run --release -p agentdesk-image --example encoders -- ui.png photo.png`

use std::time::Instant;

use agentdesk_image::{encode, Format, Frame, Rect, Size};

fn load(path: &str) -> Frame {
    let decoder = png::Decoder::new(std::io::BufReader::new(
        std::fs::File::open(path).unwrap_or_else(|e| panic!("{path}: {e}")),
    ));
    let mut reader = decoder.read_info().expect("a PNG file");
    let mut rgb = vec![0; reader.output_buffer_size().expect("a sane PNG")];
    let info = reader.next_frame(&mut rgb).expect("PNG pixels");
    let channels = info.color_type.samples();
    let size = Size {
        width: info.width,
        height: info.height,
    };
    // Frames come from X as BGRX; rebuild that layout so the encoders see what they see live.
    let mut bgrx = Vec::with_capacity(size.width as usize * size.height as usize * 4);
    for px in rgb[..info.buffer_size()].chunks(channels) {
        bgrx.extend_from_slice(&[px[2], px[1], px[0], 0]);
    }
    Frame::new(size, size.width as usize * 4, bgrx).expect("a whole frame")
}

fn main() {
    let formats = [
        ("webp (lossless)", Format::Webp),
        ("png (fast)", Format::Png),
        ("jpeg q80", Format::Jpeg { quality: 80 }),
        ("jpeg q90", Format::Jpeg { quality: 90 }),
    ];
    println!(
        "{:<14} {:<16} {:>9} {:>11} {:>13}",
        "frame", "encoder", "p50 ms", "bytes", "base64 bytes"
    );
    for path in std::env::args().skip(1) {
        let frame = load(&path);
        let name = std::path::Path::new(&path)
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let (mut scratch, mut out) = (Vec::new(), Vec::new());
        for (label, format) in formats {
            let mut times = Vec::new();
            for _ in 0..15 {
                let start = Instant::now();
                encode(
                    &frame,
                    Rect::full(frame.size),
                    format,
                    &mut scratch,
                    &mut out,
                )
                .unwrap();
                times.push(start.elapsed().as_secs_f64() * 1000.0);
            }
            times.sort_by(|a, b| a.total_cmp(b));
            let base64 = out.len().div_ceil(3) * 4;
            println!(
                "{name:<14} {label:<16} {:>9.1} {:>11} {:>13}",
                times[times.len() / 2],
                out.len(),
                base64
            );
        }
    }
}
