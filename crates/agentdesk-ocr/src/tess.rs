//! Tesseract's C API, loaded with `dlopen` the first time text is read, and [`Engine`]: one
//! initialized `TessBaseAPI`, used by one thread at a time.
//!
//! Loaded rather than linked so that agentdesk builds without Tesseract's headers and runs
//! without the library: only the text tools need it, and they say how to install it. The
//! entry points used are Tesseract 5's `capi.h`, stable since 4.0.
//!
//! Tesseract parallelizes with OpenMP, which on a small machine costs more than it gains
//! (a whole screen took 4.8 s with its default threads and about 2 s with one, measured on
//! two cores); agentdesk runs its own engines in parallel instead, so each engine's thread
//! is told to use one OpenMP thread.

#![allow(unsafe_code)] // A C library: every call is unsafe by signature; each carries a SAFETY note.

use std::ffi::{c_char, c_float, c_int, c_void, CStr, CString};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

use agentdesk_image::Rect;

use crate::error::Error;

type Api = c_void;
type ResultIter = c_void;
type PageIter = c_void;
type Monitor = c_void;
type CancelFn = extern "C" fn(*mut c_void, c_int) -> bool;

/// `TessPageIteratorLevel`.
const RIL_TEXTLINE: c_int = 2;
const RIL_WORD: c_int = 3;

/// How Tesseract is to take an image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// One line of text (`PSM_SINGLE_LINE`).
    Line,
    /// A uniform block of text (`PSM_SINGLE_BLOCK`).
    Block,
    /// Text anywhere, in no particular order (`PSM_SPARSE_TEXT`).
    Sparse,
}

impl Mode {
    fn psm(self) -> c_int {
        match self {
            Mode::Line => 7,
            Mode::Block => 6,
            Mode::Sparse => 11,
        }
    }
}

/// The entry points, resolved once per process.
struct Lib {
    create: unsafe extern "C" fn() -> *mut Api,
    delete: unsafe extern "C" fn(*mut Api),
    init3: unsafe extern "C" fn(*mut Api, *const c_char, *const c_char) -> c_int,
    set_psm: unsafe extern "C" fn(*mut Api, c_int),
    set_variable: unsafe extern "C" fn(*mut Api, *const c_char, *const c_char) -> c_int,
    set_image: unsafe extern "C" fn(*mut Api, *const u8, c_int, c_int, c_int, c_int),
    set_resolution: unsafe extern "C" fn(*mut Api, c_int),
    recognize: unsafe extern "C" fn(*mut Api, *mut Monitor) -> c_int,
    clear: unsafe extern "C" fn(*mut Api),
    iterator: unsafe extern "C" fn(*mut Api) -> *mut ResultIter,
    iter_delete: unsafe extern "C" fn(*mut ResultIter),
    iter_next: unsafe extern "C" fn(*mut ResultIter, c_int) -> c_int,
    iter_text: unsafe extern "C" fn(*const ResultIter, c_int) -> *mut c_char,
    iter_confidence: unsafe extern "C" fn(*const ResultIter, c_int) -> c_float,
    iter_page: unsafe extern "C" fn(*const ResultIter) -> *const PageIter,
    page_begins: unsafe extern "C" fn(*const PageIter, c_int) -> c_int,
    page_box: unsafe extern "C" fn(
        *const PageIter,
        c_int,
        *mut c_int,
        *mut c_int,
        *mut c_int,
        *mut c_int,
    ) -> c_int,
    delete_text: unsafe extern "C" fn(*const c_char),
    monitor_create: unsafe extern "C" fn() -> *mut Monitor,
    monitor_delete: unsafe extern "C" fn(*mut Monitor),
    monitor_cancel_fn: unsafe extern "C" fn(*mut Monitor, CancelFn),
    monitor_cancel_this: unsafe extern "C" fn(*mut Monitor, *mut c_void),
    monitor_deadline: unsafe extern "C" fn(*mut Monitor, c_int),
    /// OpenMP's `omp_set_max_active_levels`, from the libgomp Tesseract brings.
    omp_max_active_levels: Option<unsafe extern "C" fn(c_int)>,
    /// Kept loaded for as long as the process lives: the pointers above point into it.
    _library: libloading::Library,
}

/// The names the library is known by: Debian 12's (Tesseract 5), then the development link.
const LIBRARY_NAMES: [&str; 2] = ["libtesseract.so.5", "libtesseract.so"];

/// Where the English model is looked for, first to last; the first holding `eng.traineddata`
/// is used. `TESSDATA_PREFIX` (Tesseract's own variable) comes first.
const TESSDATA_DIRS: [&str; 3] = [
    "/usr/share/tesseract-ocr/5/tessdata",
    "/usr/share/tesseract-ocr/4.00/tessdata",
    "/usr/share/tessdata",
];

fn lib() -> Result<&'static Lib, Error> {
    static LIB: OnceLock<Result<Lib, String>> = OnceLock::new();
    LIB.get_or_init(load)
        .as_ref()
        .map_err(|e| Error::Unavailable(e.clone()))
}

fn load() -> Result<Lib, String> {
    let mut last = String::new();
    for name in LIBRARY_NAMES {
        // SAFETY: loading Tesseract runs its (and its dependencies') initializers, which
        // only set up their own globals.
        match unsafe { libloading::Library::new(name) } {
            Ok(library) => return resolve(library).map_err(|e| format!("{name}: {e}")),
            Err(e) => last = e.to_string(),
        }
    }
    Err(format!("Tesseract's library was not found ({last})"))
}

fn resolve(library: libloading::Library) -> Result<Lib, libloading::Error> {
    macro_rules! sym {
        ($name:literal) => {
            // SAFETY: each name is declared in capi.h with the signature of the field it
            // fills (checked against Tesseract 5.3's header).
            *unsafe { library.get($name)? }
        };
    }
    let omp_max_active_levels = {
        // SAFETY: libgomp is already loaded as Tesseract's dependency; this only finds it.
        let gomp = unsafe { libloading::Library::new("libgomp.so.1") }.ok();
        gomp.and_then(|gomp| {
            // SAFETY: `void omp_set_max_active_levels(int)`, OpenMP 3.0.
            let f =
                unsafe { gomp.get::<unsafe extern "C" fn(c_int)>(b"omp_set_max_active_levels") }
                    .ok()
                    .map(|s| *s);
            // Stays loaded with Tesseract, which needs it anyway.
            std::mem::forget(gomp);
            f
        })
    };
    Ok(Lib {
        create: sym!(b"TessBaseAPICreate"),
        delete: sym!(b"TessBaseAPIDelete"),
        init3: sym!(b"TessBaseAPIInit3"),
        set_psm: sym!(b"TessBaseAPISetPageSegMode"),
        set_variable: sym!(b"TessBaseAPISetVariable"),
        set_image: sym!(b"TessBaseAPISetImage"),
        set_resolution: sym!(b"TessBaseAPISetSourceResolution"),
        recognize: sym!(b"TessBaseAPIRecognize"),
        clear: sym!(b"TessBaseAPIClear"),
        iterator: sym!(b"TessBaseAPIGetIterator"),
        iter_delete: sym!(b"TessResultIteratorDelete"),
        iter_next: sym!(b"TessResultIteratorNext"),
        iter_text: sym!(b"TessResultIteratorGetUTF8Text"),
        iter_confidence: sym!(b"TessResultIteratorConfidence"),
        iter_page: sym!(b"TessResultIteratorGetPageIteratorConst"),
        page_begins: sym!(b"TessPageIteratorIsAtBeginningOf"),
        page_box: sym!(b"TessPageIteratorBoundingBox"),
        delete_text: sym!(b"TessDeleteText"),
        monitor_create: sym!(b"TessMonitorCreate"),
        monitor_delete: sym!(b"TessMonitorDelete"),
        monitor_cancel_fn: sym!(b"TessMonitorSetCancelFunc"),
        monitor_cancel_this: sym!(b"TessMonitorSetCancelThis"),
        monitor_deadline: sym!(b"TessMonitorSetDeadlineMSecs"),
        omp_max_active_levels,
        _library: library,
    })
}

fn tessdata() -> Result<CString, Error> {
    let from_env = std::env::var_os("TESSDATA_PREFIX").map(std::path::PathBuf::from);
    let dirs = from_env
        .into_iter()
        .chain(TESSDATA_DIRS.iter().map(std::path::PathBuf::from));
    for dir in dirs {
        if dir.join("eng.traineddata").is_file() {
            return CString::new(dir.into_os_string().into_encoded_bytes())
                .map_err(|_| Error::Unavailable("TESSDATA_PREFIX holds a NUL byte".into()));
        }
    }
    Err(Error::Unavailable(
        "the English model (eng.traineddata) was not found".into(),
    ))
}

/// A word Tesseract read, in the pixels of the image it was given.
#[derive(Debug, Clone, PartialEq)]
pub struct RawWord {
    /// The word's text, as Tesseract read it.
    pub text: String,
    /// Its box.
    pub rect: Rect,
    /// Tesseract's confidence, 0–100.
    pub confidence: f32,
    /// Which line of the image it is on (counting from 0 in Tesseract's order).
    pub line: u32,
}

/// A grayscale image, one byte a pixel, rows `stride` bytes apart.
#[derive(Debug, Clone, Copy)]
pub struct Gray<'a> {
    /// The pixels.
    pub data: &'a [u8],
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Bytes from one row to the next.
    pub stride: usize,
}

/// One initialized Tesseract, English. Not shared between threads: a
/// `TessBaseAPI` may move between threads but must not be used by two at once, which
/// `&mut self` on [`Engine::read`] ensures.
pub struct Engine {
    lib: &'static Lib,
    api: *mut Api,
}

// SAFETY: a TessBaseAPI has no thread affinity; `Engine` hands out no aliases of it, and
// every use is through `&mut self`.
unsafe impl Send for Engine {}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Engine")
    }
}

impl Engine {
    /// Loads the library (once per process) and the English model (about 100 ms, 20 MB).
    pub fn new() -> Result<Engine, Error> {
        let lib = lib()?;
        let data = tessdata()?;
        // SAFETY: create has no preconditions; a null result is checked.
        let api = unsafe { (lib.create)() };
        if api.is_null() {
            return Err(Error::Unavailable("Tesseract could not be created".into()));
        }
        let engine = Engine { lib, api };
        // SAFETY: `api` is live; both strings are NUL-terminated and outlive the call.
        let failed = unsafe { (lib.init3)(api, data.as_ptr(), c"eng".as_ptr()) } != 0;
        if failed {
            return Err(Error::Unavailable(
                "Tesseract could not load its English model".into(),
            ));
        }
        // SAFETY: `api` is live and initialized.
        unsafe {
            // No dictionary bias towards English words: screens hold names, paths, numbers.
            (lib.set_variable)(api, c"load_system_dawg".as_ptr(), c"0".as_ptr());
            (lib.set_variable)(api, c"load_freq_dawg".as_ptr(), c"0".as_ptr());
            // Text comes dark on light (prep::darken_text): no second, inverted reading.
            (lib.set_variable)(api, c"tessedit_do_invert".as_ptr(), c"0".as_ptr());
            // No debug output files, no "Invalid resolution" warnings on stderr.
            (lib.set_variable)(api, c"debug_file".as_ptr(), c"/dev/null".as_ptr());
        }
        Ok(engine)
    }

    /// Tells OpenMP to run this process's parallel regions on their caller's thread alone.
    /// Process-wide; called by each engine thread before its first read.
    pub fn single_threaded() {
        if let Ok(lib) = lib() {
            if let Some(f) = lib.omp_max_active_levels {
                // SAFETY: takes a plain integer; 0 makes every parallel region inactive.
                unsafe { f(0) };
            }
        }
    }

    /// Reads the words of `image`, or stops when `cancel` is set or `deadline_ms` passes.
    pub fn read(
        &mut self,
        image: Gray<'_>,
        mode: Mode,
        ppi: u32,
        cancel: &AtomicBool,
        deadline_ms: u32,
    ) -> Result<Vec<RawWord>, Error> {
        let lib = self.lib;
        let fits = |v: u32| c_int::try_from(v).ok();
        let (Some(width), Some(height), Some(stride)) = (
            fits(image.width),
            fits(image.height),
            c_int::try_from(image.stride).ok(),
        ) else {
            return Err(Error::Failed {
                width: image.width,
                height: image.height,
            });
        };
        let needed =
            image.stride * (image.height as usize).saturating_sub(1) + image.width as usize;
        if image.width == 0 || image.height == 0 || image.data.len() < needed {
            return Ok(Vec::new());
        }
        extern "C" fn stop(flag: *mut c_void, _words: c_int) -> bool {
            // SAFETY: `flag` is the `&AtomicBool` given below, alive for the whole call.
            unsafe { &*(flag as *const AtomicBool) }.load(Ordering::Relaxed)
        }
        // SAFETY: `api` is live; the image is a valid buffer of `needed` bytes that outlives
        // recognition (Tesseract copies it into its own Pix in SetImage); the monitor lives
        // until after Recognize returns, and so does `cancel`, which it points to.
        let status = unsafe {
            (lib.set_psm)(self.api, mode.psm());
            (lib.set_image)(self.api, image.data.as_ptr(), width, height, 1, stride);
            (lib.set_resolution)(self.api, c_int::try_from(ppi).unwrap_or(96));
            let monitor = (lib.monitor_create)();
            if monitor.is_null() {
                (lib.recognize)(self.api, std::ptr::null_mut())
            } else {
                (lib.monitor_cancel_fn)(monitor, stop);
                (lib.monitor_cancel_this)(monitor, cancel as *const AtomicBool as *mut c_void);
                (lib.monitor_deadline)(monitor, c_int::try_from(deadline_ms).unwrap_or(c_int::MAX));
                let status = (lib.recognize)(self.api, monitor);
                (lib.monitor_delete)(monitor);
                status
            }
        };
        if cancel.load(Ordering::Relaxed) {
            // SAFETY: `api` is live.
            unsafe { (lib.clear)(self.api) };
            return Err(Error::Cancelled);
        }
        if status != 0 {
            // SAFETY: `api` is live.
            unsafe { (lib.clear)(self.api) };
            return Err(Error::Failed {
                width: image.width,
                height: image.height,
            });
        }
        let words = self.words();
        // SAFETY: `api` is live; this frees the results and the image copy.
        unsafe { (lib.clear)(self.api) };
        Ok(words)
    }

    /// Walks the recognized words.
    fn words(&mut self) -> Vec<RawWord> {
        let lib = self.lib;
        // SAFETY: `api` is live and has recognized; a null iterator means no text.
        let iter = unsafe { (lib.iterator)(self.api) };
        if iter.is_null() {
            return Vec::new();
        }
        let mut words = Vec::new();
        let mut line = 0u32;
        let mut first = true;
        loop {
            // SAFETY: `iter` is live until deleted below; the page iterator is a view of it;
            // the text is Tesseract's allocation, copied and then freed with its own free.
            unsafe {
                let page = (lib.iter_page)(iter);
                if !first && (lib.page_begins)(page, RIL_TEXTLINE) != 0 {
                    line += 1;
                }
                first = false;
                let (mut l, mut t, mut r, mut b) = (0, 0, 0, 0);
                let boxed = (lib.page_box)(page, RIL_WORD, &mut l, &mut t, &mut r, &mut b) != 0;
                let text = (lib.iter_text)(iter, RIL_WORD);
                if !text.is_null() {
                    let s = CStr::from_ptr(text).to_string_lossy().trim().to_owned();
                    (lib.delete_text)(text);
                    if boxed && !s.is_empty() && r > l && b > t && l >= 0 && t >= 0 {
                        words.push(RawWord {
                            text: s,
                            rect: Rect {
                                x: l as u32,
                                y: t as u32,
                                width: (r - l) as u32,
                                height: (b - t) as u32,
                            },
                            confidence: (lib.iter_confidence)(iter, RIL_WORD),
                            line,
                        });
                    }
                }
                if (lib.iter_next)(iter, RIL_WORD) == 0 {
                    break;
                }
            }
        }
        // SAFETY: `iter` is live and deleted once.
        unsafe { (lib.iter_delete)(iter) };
        words
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        // SAFETY: `api` is live and deleted once.
        unsafe { (self.lib.delete)(self.api) };
    }
}
