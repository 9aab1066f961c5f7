//! The one error type of this crate.
//!
//! Most of these errors end up in front of an AI agent as a tool result, so every
//! message starts lowercase, has no trailing period, states what was wrong with the
//! concrete numbers involved, and says what a valid value would be. The agent cannot
//! read our source code; the message is all it gets to correct its next call.

use crate::geom::{Axis, Rect, Size};

/// Everything that can go wrong in this crate.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// One coordinate of a point lies outside the screen (pass-through) or outside the
    /// model space the agent declared.
    #[error("{}", out_of_screen(*axis, *value, *extent, *screen, *model_space))]
    OutOfScreen {
        /// Which coordinate was wrong.
        axis: Axis,
        /// The value the agent sent, in its own coordinate space.
        value: i64,
        /// Pixels on this axis of the screen.
        extent: u32,
        /// The whole screen size, when known. [`ModelSpace::to_pixel`](crate::ModelSpace::to_pixel)
        /// sees only one axis and leaves this `None`; [`ModelSpace::point`](crate::ModelSpace::point)
        /// fills it in so the agent sees both dimensions.
        screen: Option<Size>,
        /// The model space in force (`None` = pixels, pass-through).
        model_space: Option<u32>,
    },

    /// A region (x, y, width, height in agent space) does not fit the screen or the
    /// model space.
    #[error("{}", region_out_of_screen(*x, *y, *width, *height, *screen, *model_space))]
    RegionOutOfScreen {
        /// Left edge as sent by the agent.
        x: i64,
        /// Top edge as sent by the agent.
        y: i64,
        /// Width as sent by the agent.
        width: i64,
        /// Height as sent by the agent.
        height: i64,
        /// The screen size in pixels.
        screen: Size,
        /// The model space in force (`None` = pixels, pass-through).
        model_space: Option<u32>,
    },

    /// A region has no pixels: its width or height is below 1, or (in model space) it
    /// is so small that it covers no whole screen pixel.
    #[error("{}", empty_region(*width, *height, *screen, *model_space))]
    EmptyRegion {
        /// Width as sent by the agent.
        width: i64,
        /// Height as sent by the agent.
        height: i64,
        /// The screen size in pixels.
        screen: Size,
        /// The model space in force (`None` = pixels, pass-through).
        model_space: Option<u32>,
    },

    /// A frame's stride cannot hold one row of pixels.
    #[error("frame stride of {stride} bytes is smaller than a row of {width} BGRX pixels ({} bytes)", u64::from(*width) * 4)]
    StrideTooSmall {
        /// Bytes between row starts, as given.
        stride: usize,
        /// Frame width in pixels.
        width: u32,
    },

    /// A frame's buffer is shorter than its size and stride require.
    #[error("frame data is {len} bytes but its size and stride need at least {needed} bytes")]
    FrameDataTooShort {
        /// Bytes supplied.
        len: usize,
        /// Bytes required.
        needed: usize,
    },

    /// A pixel rectangle does not lie within the frame it was applied to.
    #[error(
        "region x={} y={} width={} height={} is outside the {frame} pixel image; x+width must be <= {} and y+height <= {}",
        rect.x, rect.y, rect.width, rect.height, frame.width, frame.height
    )]
    RectOutsideFrame {
        /// The requested rectangle, in pixels.
        rect: Rect,
        /// The frame size.
        frame: Size,
    },

    /// An image encoder refused the input or failed.
    #[error("could not encode the image as {format}: {detail}")]
    Encode {
        /// Format name: `webp`, `png` or `jpeg`.
        format: &'static str,
        /// What the encoder reported, or which limit was exceeded.
        detail: String,
    },
}

/// Message for [`Error::OutOfScreen`]; a function because the wording depends on
/// whether a model space is in force and whether the full screen size is known.
fn out_of_screen(
    axis: Axis,
    value: i64,
    extent: u32,
    screen: Option<Size>,
    model_space: Option<u32>,
) -> String {
    if let Some(n) = model_space {
        return format!(
            "{axis}={value} is outside the model space 0..={n} set by GhostDesk-Model-Space"
        );
    }
    let screen = match (screen, axis) {
        (Some(size), _) => format!("{size} pixels"),
        (None, Axis::X) => format!("{extent} pixels wide"),
        (None, Axis::Y) => format!("{extent} pixels high"),
    };
    match extent.checked_sub(1) {
        Some(last) => {
            format!("{axis}={value} is outside the screen ({screen}; {axis} must be 0..={last})")
        }
        None => {
            format!("{axis}={value} is outside the screen ({screen}; the screen has no pixels)")
        }
    }
}

/// Message for [`Error::RegionOutOfScreen`].
fn region_out_of_screen(
    x: i64,
    y: i64,
    width: i64,
    height: i64,
    screen: Size,
    model_space: Option<u32>,
) -> String {
    match model_space {
        Some(n) => format!(
            "region x={x} y={y} width={width} height={height} extends past the model space 0..={n} set by GhostDesk-Model-Space; \
             x and y must be 0 or more, x+width <= {n} and y+height <= {n}"
        ),
        None => format!(
            "region x={x} y={y} width={width} height={height} does not fit the screen ({screen} pixels); \
             x and y must be 0 or more, x+width <= {} and y+height <= {}",
            screen.width, screen.height
        ),
    }
}

/// Message for [`Error::EmptyRegion`].
fn empty_region(width: i64, height: i64, screen: Size, model_space: Option<u32>) -> String {
    match model_space {
        Some(n) if width >= 1 && height >= 1 => format!(
            "region width={width} height={height} in the model space 0..={n} covers no whole pixel of the {screen} pixel screen; make it larger"
        ),
        _ => format!("region width={width} height={height} is empty; width and height must be at least 1"),
    }
}
