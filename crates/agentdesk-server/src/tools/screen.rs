//! `screen_shot`.

use agentdesk_desktop::{DesktopError, Format};
use agentdesk_proto::{ImageFormat, ScreenShotArgs};
use base64::Engine as _;
use rmcp::model::{CallToolResult, ContentBlock};

use super::{Call, Outcome};

pub(crate) const DESCRIPTION: &str = "\
Capture the screen as an image: your only view of the desktop. Coordinates for every other \
tool are pixels of this image, from its top-left corner, and become stale as soon as anything \
changes. Cheap: take one before and after acting. `region` {x, y, width, height} crops to part \
of the screen at full resolution; omitting it is almost always right. `format` is \"webp\" \
(default, lossless; a photo-heavy screen that would exceed 1 MiB comes back as JPEG, as its \
mimeType says), \"png\" (for clients that cannot decode WebP, e.g. llama.cpp) or \"jpeg\". \
`stabilize` (default true) waits up to 2.5 s for the screen to stop changing first.";

pub(crate) async fn screen_shot(
    args: Result<ScreenShotArgs, DesktopError>,
    call: &Call,
) -> Outcome {
    let args = args?;
    let screen = call.desktop.screen_size();
    let rect = match args.region {
        Some(r) => Some(call.space.region(r.x, r.y, r.width, r.height, screen)?),
        None => None,
    };
    let format = match args.format {
        ImageFormat::Webp => Format::Webp,
        ImageFormat::Png => Format::Png,
        ImageFormat::Jpeg => Format::Jpeg { quality: 80 },
    };
    let shot = call
        .desktop
        .screenshot(rect, format, args.stabilize)
        .await?;
    let data = base64::engine::general_purpose::STANDARD.encode(&shot.bytes);
    Ok(CallToolResult::success(vec![ContentBlock::image(
        data,
        shot.mime_type,
    )]))
}
