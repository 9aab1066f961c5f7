//! Everything about pixels that needs no I/O: screen geometry and the agent's
//! coordinate space ([`ModelSpace`]), captured frames in the X server's BGRX layout
//! ([`Frame`]), cropping, encoding to WebP/PNG/JPEG ([`encode`]) and frame diffing
//! ([`diff`]).
//!
//! No X11, no async, no files: this crate takes bytes and returns bytes, so all of it
//! is unit-testable and the capture path elsewhere stays thin.

mod diff;
mod encode;
mod error;
mod frame;
mod geom;
pub mod scale;

pub use diff::{diff, Change};
pub use encode::{encode, encode_within_budget, Format, IMAGE_BUDGET};
pub use error::Error;
pub use frame::Frame;
pub use geom::*;

/// `Result` with this crate's [`Error`] as the default error type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
