//! Text on screen for agents: Tesseract loaded at run time ([`tess`]), the screen made ready
//! for it and its text found ([`prep`]), the threads that read ([`pool`]), what a desktop's
//! screen says kept between calls ([`screen`]), and finding a phrase in it ([`find`]).
//!
//! Pure but for `tess` and `pool`: everything else is tested without Tesseract.

mod error;
pub mod find;
pub mod glyphs;
pub mod pool;
pub mod prep;
pub mod screen;
pub mod tess;

pub use error::Error;
pub use find::{find, Match, MAX_PHRASE};
pub use glyphs::Glyphs;
pub use pool::Readers;
pub use screen::{Given, Line, Reading, ScreenText, Source, Word};
pub use tess::{Engine, Gray, Mode, RawWord};
