//! The threads that read text: [`Readers`], a few threads each owning one [`Engine`], taking
//! boxes of a gray image from one queue, so that one request's boxes are read in parallel
//! and requests of several desktops share the threads fairly (first come, first read).
//!
//! Engines are made on a thread's first job (loading the model takes ~100 ms and 20 MB), so
//! a server whose agents never read text never loads Tesseract.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex, OnceLock};
use std::time::Instant;

use agentdesk_image::Rect;
use tokio::sync::oneshot;

use crate::prep;
use crate::tess::{Engine, Gray, Mode, RawWord};
use crate::Error;

/// A box whose text is at most this tall is enlarged one step more: a terminal's 6×13 font
/// is misread at twice its size.
const SMALL: u32 = 10;
/// Text at least this tall is several lines that touch, read as a block.
const BLOCK: u32 = 30;
/// Pixels of margin around a box when it is cut out: Tesseract misreads glyphs that touch
/// the image's edge.
pub(crate) const PAD: u32 = 3;

/// An image being read: its gray pixels, shared by the jobs of its boxes.
#[derive(Debug)]
pub struct Page {
    /// Gray pixels, text dark on light, rows `width` bytes.
    pub gray: Vec<u8>,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
}

struct Job {
    page: Arc<Page>,
    rect: Rect,
    cancel: Arc<AtomicBool>,
    deadline: Instant,
    reply: oneshot::Sender<Result<Vec<RawWord>, Error>>,
}

/// The text-reading threads of the process.
#[derive(Debug)]
pub struct Readers {
    tx: Mutex<mpsc::Sender<Job>>,
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Job").field("rect", &self.rect).finish()
    }
}

impl Readers {
    /// The process's readers: as many threads as there are cores, at most four (started on
    /// first use).
    pub fn shared() -> &'static Readers {
        static READERS: OnceLock<Readers> = OnceLock::new();
        READERS.get_or_init(|| {
            let threads = std::thread::available_parallelism().map_or(2, |n| n.get().min(4));
            Readers::start(threads)
        })
    }

    fn start(threads: usize) -> Readers {
        let (tx, rx) = mpsc::channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        for n in 0..threads {
            let rx = Arc::clone(&rx);
            let spawned = std::thread::Builder::new()
                .name(format!("agentdesk-ocr{n}"))
                .spawn(move || reader(&rx));
            if let Err(e) = spawned {
                tracing::warn!("could not start a text-reading thread: {e}");
            }
        }
        Readers { tx: Mutex::new(tx) }
    }

    /// Reads the text in each of `boxes` (in `page`'s pixels); answers, per box, its words
    /// in `page`'s pixels, or why not. Stops early when `cancel` is set or at `deadline`
    /// (the boxes not read then answer [`Error::Cancelled`]).
    pub async fn read(
        &self,
        page: Arc<Page>,
        boxes: &[Rect],
        cancel: Arc<AtomicBool>,
        deadline: Instant,
    ) -> Vec<Result<Vec<RawWord>, Error>> {
        let mut replies = Vec::with_capacity(boxes.len());
        {
            let Ok(tx) = self.tx.lock() else {
                return boxes.iter().map(|_| Err(Error::Closed)).collect();
            };
            for &rect in boxes {
                let (reply, rx) = oneshot::channel();
                let job = Job {
                    page: Arc::clone(&page),
                    rect,
                    cancel: Arc::clone(&cancel),
                    deadline,
                    reply,
                };
                if tx.send(job).is_err() {
                    return boxes.iter().map(|_| Err(Error::Closed)).collect();
                }
                replies.push(rx);
            }
        }
        // If this future is dropped (the call timed out, the client left), the jobs still
        // queued see `cancel` and are skipped.
        let guard = CancelOnDrop(&cancel);
        let mut out = Vec::with_capacity(replies.len());
        for rx in replies {
            out.push(rx.await.unwrap_or(Err(Error::Closed)));
        }
        std::mem::forget(guard);
        out
    }
}

struct CancelOnDrop<'a>(&'a AtomicBool);

impl Drop for CancelOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

fn reader(rx: &Mutex<mpsc::Receiver<Job>>) {
    let mut engine: Option<Engine> = None;
    loop {
        let job = {
            let Ok(rx) = rx.lock() else { return };
            match rx.recv() {
                Ok(job) => job,
                Err(_) => return,
            }
        };
        let now = Instant::now();
        if job.cancel.load(Ordering::Relaxed) || now >= job.deadline {
            let _ = job.reply.send(Err(Error::Cancelled));
            continue;
        }
        if engine.is_none() {
            match Engine::new() {
                Ok(e) => {
                    Engine::single_threaded();
                    engine = Some(e);
                }
                Err(e) => {
                    let _ = job.reply.send(Err(e));
                    continue;
                }
            }
        }
        let Some(engine) = engine.as_mut() else {
            continue;
        };
        let left = job.deadline.saturating_duration_since(now);
        let result = read_box(engine, &job.page, job.rect, &job.cancel, left.as_millis());
        let _ = job.reply.send(result);
    }
}

/// Reads one box: cut out with a margin, enlarged, one line (or a block when tall).
fn read_box(
    engine: &mut Engine,
    page: &Page,
    rect: Rect,
    cancel: &AtomicBool,
    left_ms: u128,
) -> Result<Vec<RawWord>, Error> {
    let size = agentdesk_image::Size {
        width: page.width,
        height: page.height,
    };
    let cut = rect.grown(PAD, size);
    if cut.width == 0 || cut.height == 0 || !cut.is_within(size) {
        return Ok(Vec::new());
    }
    let scale = if rect.height <= SMALL {
        prep::SCALE + 1
    } else {
        prep::SCALE
    };
    let mode = if rect.height >= BLOCK {
        Mode::Block
    } else {
        Mode::Line
    };
    let image = prep::crop_scaled(&page.gray, page.width as usize, cut, scale);
    let gray = Gray {
        data: &image,
        width: cut.width * scale,
        height: cut.height * scale,
        stride: (cut.width * scale) as usize,
    };
    let deadline = u32::try_from(left_ms).unwrap_or(u32::MAX).max(1);
    let words = engine.read(gray, mode, 96 * scale, cancel, deadline)?;
    // Back to the page's pixels: shrink, then offset by the cut's corner.
    Ok(words
        .into_iter()
        .map(|w| RawWord {
            rect: Rect {
                x: cut.x + w.rect.x / scale,
                y: cut.y + w.rect.y / scale,
                width: w.rect.width.div_ceil(scale),
                height: w.rect.height.div_ceil(scale),
            },
            ..w
        })
        .collect())
}
