//! Reading real screen text with the real Tesseract (installed by scripts/setup.sh): a
//! screenshot of a page of 91 known words in three fonts, 12 to 20 px, on light and dark
//! backgrounds.

use std::path::Path;
use std::time::{Duration, Instant};

use agentdesk_image::{Frame, Rect, Size};
use agentdesk_ocr::{find, Given, Line, Readers, ScreenText, Source};

const WORDS: &str = "harbor velvet quantum meadow cobalt lantern ripple saffron glacier orbit \
tundra pepper nimbus falcon marble cactus violet ember canyon willow beacon crimson lagoon summit \
thistle copper raven prairie zephyr maple delta onyx sparrow cedar jasmine orchid tempest granite \
pebble walnut amber coral dune ferry garnet hazel indigo jungle kettle lotus mango nectar opal \
parsec quartz rustic sable topaz umber vortex wombat xenon yonder zinnia anchor bramble cinder \
drizzle ermine fjord gossamer hemlock iris juniper kelp lilac mistral nougat osprey plume quill \
rosette sorrel trellis ubiquity vellum wisteria yarrow zodiac acorn bison comet";

/// The fixture as a BGRX frame, like a capture.
fn fixture() -> Frame {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/fixtures/words.png");
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(path).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    let samples = info.color_type.samples();
    let mut bgrx = Vec::new();
    for px in buf[..info.buffer_size()].chunks_exact(samples) {
        bgrx.extend_from_slice(&[px[2], px[1], px[0], 0]);
    }
    let size = Size {
        width: info.width,
        height: info.height,
    };
    Frame::new(size, info.width as usize * 4, bgrx).unwrap()
}

/// The frame moved up by `rows` (as if scrolled), the bottom filled with white.
fn scrolled(frame: &Frame, rows: usize) -> Frame {
    let mut data = frame.data[rows * frame.stride..].to_vec();
    data.resize(frame.data.len(), 255);
    Frame::new(frame.size, frame.stride, data).unwrap()
}

fn soon() -> Instant {
    Instant::now() + Duration::from_secs(120)
}

#[tokio::test]
async fn known_words_are_read_where_they_are_and_found_again_for_free() {
    let frame = fixture();
    let whole = Rect::full(frame.size);
    let mut text = ScreenText::default();
    let reading = text
        .read(frame.clone(), whole, None, 1, Readers::shared(), soon())
        .await
        .0
        .unwrap();
    assert!(reading.complete);
    let read: Vec<String> = reading
        .lines
        .iter()
        .flat_map(|l| l.words.iter().map(|w| w.text.to_lowercase()))
        .collect();
    let missed: Vec<&str> = WORDS
        .split_whitespace()
        .filter(|w| !read.iter().any(|r| r == w))
        .collect();
    // ≥ 97% of the words, as the bench's accuracy target asks.
    assert!(missed.len() <= 2, "missed {missed:?}");

    // Where a word is: "quartz", a small word on a dark button.
    let quartz = find(&reading.lines, "QUARTZ", false);
    assert_eq!(quartz.len(), 1, "{quartz:?}");
    let c = quartz[0].rect.center();
    assert!(
        (445..=495).contains(&c.x) && (322..=342).contains(&c.y),
        "{quartz:?}"
    );

    // Reading order: the first row's labels (far apart: each a line) left to right.
    let first: Vec<String> = reading.lines[..3].iter().map(|l| l.text()).collect();
    assert_eq!(first, ["harbor", "velvet", "quantum"], "{first:?}");

    // The same screen again: nothing is read (the boxes are known by their pixels).
    let again = text
        .read(frame.clone(), whole, None, 2, Readers::shared(), soon())
        .await
        .0
        .unwrap();
    assert_eq!(again.read, 0);
    assert_eq!(again.lines, reading.lines);

    // Scrolled by 45 rows: the lines that moved are known too; only those cut by the edge
    // (or whose surroundings changed) are read.
    let moved = text
        .read(
            scrolled(&frame, 45),
            whole,
            None,
            3,
            Readers::shared(),
            soon(),
        )
        .await
        .0
        .unwrap();
    assert!(
        moved.read * 5 <= moved.boxes,
        "{} of {} read",
        moved.read,
        moved.boxes
    );
    let q = find(&moved.lines, "quartz", false);
    assert_eq!(q[0].rect.y + 45, quartz[0].rect.y);

    // A region: only what is in it.
    let region = Rect {
        x: 0,
        y: 300,
        width: 640,
        height: 60,
    };
    let part = text
        .read(frame.clone(), region, None, 4, Readers::shared(), soon())
        .await
        .0
        .unwrap();
    let words: Vec<&str> = part
        .lines
        .iter()
        .flat_map(|l| l.words.iter().map(|w| w.text.as_str()))
        .collect();
    assert!(
        words.contains(&"quartz") && !words.contains(&"harbor"),
        "{words:?}"
    );
}

/// `s` with its last letter made a "Z".
fn respelled(s: &str) -> String {
    let mut s = s.to_string();
    s.pop();
    s.push('Z');
    s
}

#[tokio::test]
async fn an_apps_words_correct_what_ocr_read_only_where_the_pixels_agree() {
    let frame = fixture();
    let whole = Rect::full(frame.size);
    let ocr = ScreenText::default()
        .read(frame.clone(), whole, None, 1, Readers::shared(), soon())
        .await
        .0
        .unwrap();
    // What an app's tree would say of the first row: the words OCR read, a letter apart (as
    // when OCR misreads one)...
    let top = ocr.lines[0].rect.y + ocr.lines[0].rect.height;
    let mut said: Vec<Line> = ocr
        .lines
        .iter()
        .filter(|l| l.rect.y < top)
        .map(|l| Line::given(&respelled(&l.text()), l.rect, Source::Accessibility))
        .collect();
    let first_row = said.len();
    assert!(first_row >= 3);
    // ...then a word that is not drawn where OCR read another, and one where nothing is.
    let second = &ocr.lines[first_row];
    said.push(Line::given(
        "Cancel payment",
        second.rect,
        Source::Accessibility,
    ));
    let nowhere = Rect {
        x: 0,
        y: frame.size.height - 20,
        width: 200,
        height: 16,
    };
    said.push(Line::given("PHANTOM", nowhere, Source::Accessibility));
    let mut text = ScreenText::default();
    let mixed = text
        .read(
            frame.clone(),
            whole,
            Some(Given {
                lines: said,
                complete: true,
            }),
            1,
            Readers::shared(),
            soon(),
        )
        .await
        .0
        .unwrap();
    assert_eq!(
        mixed.lines.len(),
        ocr.lines.len(),
        "nothing added, nothing hidden"
    );
    for (m, o) in mixed.lines.iter().zip(&ocr.lines).take(first_row) {
        assert_eq!(m.source, Source::Accessibility);
        assert_eq!(m.text(), respelled(&o.text()));
        assert_eq!(m.rect, o.rect, "the pixels' boxes");
    }
    assert_eq!(mixed.lines[first_row], ocr.lines[first_row]);
    assert!(!mixed.lines.iter().any(|l| l.text().contains("PHANTOM")));
    // Asked again the same way with nothing drawn: the same answer; asked for OCR alone, not.
    assert!(text.unchanged(whole, frame.size, 1, true).is_some());
    assert!(text.unchanged(whole, frame.size, 1, false).is_none());
}

#[tokio::test]
async fn a_reading_that_runs_out_of_time_keeps_what_it_read() {
    let frame = scrolled(&fixture(), 7);
    let whole = Rect::full(frame.size);
    let mut text = ScreenText::default();
    let cut_short = text
        .read(
            frame.clone(),
            whole,
            None,
            1,
            Readers::shared(),
            Instant::now(),
        )
        .await
        .0;
    match cut_short {
        Ok(r) => assert!(!r.complete),
        Err(agentdesk_ocr::Error::Cancelled) => {}
        Err(e) => panic!("{e}"),
    }
    let finished = text
        .read(frame.clone(), whole, None, 2, Readers::shared(), soon())
        .await
        .0
        .unwrap();
    assert!(finished.complete);
    assert!(!finished.lines.is_empty());
}

#[test]
fn nothing_to_read_is_no_text() {
    let size = Size {
        width: 64,
        height: 32,
    };
    let frame = Frame::new(size, 256, vec![255; 256 * 32]).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let reading = rt
        .block_on(ScreenText::default().read(
            frame,
            Rect::full(size),
            None,
            1,
            Readers::shared(),
            soon(),
        ))
        .0
        .unwrap();
    assert!(reading.complete && reading.lines.is_empty() && reading.boxes == 0);
}
