//! The grounding tools: screen_find_text, screen_read_text, window_list, window_action and
//! screen_zoom. Coordinates go both ways through the caller's model space, and every result
//! names the space it uses.

use std::time::Instant;

use agentdesk_desktop::{DesktopError, Format, ModelSpace, Rect, Size, WindowAction, WindowInfo};
use agentdesk_proto::{
    FindTextArgs, FindTextResult, ImageFormat, ReadTextArgs, ReadTextResult, Spot, TextLine,
    TextMatch, WindowActionArgs, WindowActionName, WindowActionResult, WindowEntry, WindowListArgs,
    WindowListResult, ZoomArgs,
};
use base64::Engine as _;
use rmcp::model::{CallToolResult, ContentBlock};

use super::{json_text, Call, Outcome};

pub(crate) const FIND_TEXT: &str = "\
Find text on the screen and get where to click it: use this before guessing coordinates from \
a screenshot. `text` is a word or phrase of one line (case and spaces do not matter unless \
exact: true; one misread letter in five is forgiven). Returns matches with their box and \
centre (center_x, center_y: click there), in the same coordinates as clicks, most confident \
first. The text is read from the pixels (a terminal's font matched exactly, OCR for the \
rest), in the app's own words where its accessibility tree agrees; each match says its \
`source`. A screen that did not change since the last call answers at once. `region` limits \
the search (faster). Nothing found: scroll, or check the spelling on a screenshot.";
pub(crate) const READ_TEXT: &str = "\
Read the text on the screen (or `region`) as lines in reading order, each with its box: a \
cheap way to read a page, a dialog or a terminal without a screenshot. Each line says its \
`source`: accessibility (the app's words, where OCR agreed) and font (a terminal's) are \
exact; ocr may \
misread small or stylized text: screen_zoom shows it enlarged.";
pub(crate) const WINDOW_LIST: &str = "\
List the apps' windows, topmost first: id, title, app, pid, place and size, and whether each \
is focused, minimized, maximized or fullscreen. Filter with `title` (contains) or `app`.";
pub(crate) const WINDOW_ACTION: &str = "\
Act on a window through the window manager: focus (bring to front, give it the keyboard; \
use this instead of alt+tab or clicking a title bar), close, minimize, maximize, restore, \
move (x, y), resize (width, height), fullscreen. Name the window by `window` (an id from \
window_list) or by `title` (contains) / `app`: the topmost match is used. Returns the \
window's state afterwards and whether the screen changed.";
pub(crate) const ZOOM: &str = "\
Show part of the screen enlarged (`scale` 1-8, default 2) to read small text or see small \
icons without a full screenshot. `region` uses the coordinates of clicks; the image's own \
pixels are not click coordinates.";

/// The most matches and lines one call returns.
const MAX_MATCHES: i64 = 100;
const MAX_LINES: i64 = 1000;

/// How the caller's space is named in results.
pub(crate) fn coordinates(space: ModelSpace, screen: Size) -> String {
    match space.size() {
        Some(n) => format!("model space 0-{n} on each axis (as sent in GhostDesk-Model-Space)"),
        None => format!("screen pixels ({screen})"),
    }
}

/// A pixel rectangle as the caller sees it, with its centre.
fn spot(space: ModelSpace, rect: Rect, screen: Size) -> Spot {
    let (x, y, width, height) = space.rect_from_pixels(rect, screen);
    let (center_x, center_y) = space.point_from_pixel(rect.center(), screen);
    Spot {
        x: x.into(),
        y: y.into(),
        width: width.into(),
        height: height.into(),
        center_x: center_x.into(),
        center_y: center_y.into(),
    }
}

fn region(
    call: &Call,
    region: Option<agentdesk_proto::Region>,
) -> Result<Option<Rect>, DesktopError> {
    let screen = call.desktop.screen_size();
    Ok(match region {
        Some(r) => Some(call.space.region(r.x, r.y, r.width, r.height, screen)?),
        None => None,
    })
}

/// What a reading may take: the call's time, less a margin to answer in.
pub(crate) fn deadline(call: &Call) -> Instant {
    let margin = std::time::Duration::from_millis(500);
    Instant::now() + call.timeout.saturating_sub(margin)
}

fn source(s: agentdesk_proto::TextSource) -> agentdesk_desktop::TextSource {
    use agentdesk_desktop::TextSource as D;
    use agentdesk_proto::TextSource as P;
    match s {
        P::Auto => D::Auto,
        P::Ocr => D::Ocr,
        P::Accessibility => D::Accessibility,
    }
}

fn confidence(c: f32) -> u32 {
    c.clamp(0.0, 100.0).round() as u32
}

pub(crate) async fn find_text(args: Result<FindTextArgs, DesktopError>, call: &Call) -> Outcome {
    let args = args?;
    let chars = args.text.chars().count();
    if args.text.trim().is_empty() || chars > agentdesk_desktop::MAX_PHRASE {
        return Err(DesktopError::BadRequest(format!(
            "text must be 1 to {} characters of a line on screen (got {chars})",
            agentdesk_desktop::MAX_PHRASE
        )));
    }
    if !(1..=MAX_MATCHES).contains(&args.limit) {
        return Err(DesktopError::BadRequest(format!(
            "limit must be 1 to {MAX_MATCHES} (got {})",
            args.limit
        )));
    }
    let rect = region(call, args.region)?;
    let reading = call
        .desktop
        .read_text(rect, source(args.source), deadline(call))
        .await?;
    let mut found = agentdesk_desktop::find_text(&reading.lines, &args.text, args.exact);
    let total = found.len();
    // Most confident first; equally confident ones stay in reading order.
    found.sort_by(|a, b| b.confidence.total_cmp(&a.confidence));
    found.truncate(args.limit as usize);
    let screen = call.desktop.screen_size();
    let hint = (total == 0).then(|| {
        let lines = reading.lines.len();
        format!(
            "no match among {lines} lines of text read{}; the text may be scrolled out of \
             view, in an image, or spelled differently (screen_read_text shows what was \
             read)",
            if rect.is_some() { " in the region" } else { "" }
        )
    });
    Ok(json_text(&FindTextResult {
        matches: found
            .into_iter()
            .map(|m| TextMatch {
                text: m.text,
                spot: spot(call.space, m.rect, screen),
                confidence: confidence(m.confidence),
                source: m.source.as_str(),
            })
            .collect(),
        total,
        coordinates: coordinates(call.space, screen),
        complete: reading.complete,
        hint,
    }))
}

pub(crate) async fn read_text(args: Result<ReadTextArgs, DesktopError>, call: &Call) -> Outcome {
    let args = args?;
    if !(1..=MAX_LINES).contains(&args.max_lines) {
        return Err(DesktopError::BadRequest(format!(
            "max_lines must be 1 to {MAX_LINES} (got {})",
            args.max_lines
        )));
    }
    let rect = region(call, args.region)?;
    let reading = call
        .desktop
        .read_text(rect, source(args.source), deadline(call))
        .await?;
    let screen = call.desktop.screen_size();
    let keep = reading.lines.len().min(args.max_lines as usize);
    Ok(json_text(&ReadTextResult {
        lines: reading.lines[..keep]
            .iter()
            .map(|l| TextLine {
                text: l.text(),
                spot: spot(call.space, l.rect, screen),
                confidence: confidence(l.confidence()),
                source: l.source.as_str(),
            })
            .collect(),
        more_lines: reading.lines.len() - keep,
        coordinates: coordinates(call.space, screen),
        complete: reading.complete,
    }))
}

/// A rectangle that may reach off screen (windows, accessible nodes) as the caller sees it:
/// cut to the screen; `None` if nothing of it is on screen.
pub(crate) fn on_screen(
    space: ModelSpace,
    (x, y, w, h): (i64, i64, i64, i64),
    screen: Size,
) -> Option<Spot> {
    Rect::clipped((x, y, w, h), screen).map(|rect| spot(space, rect, screen))
}

/// A window as the caller sees it; parts off screen are cut to the screen.
fn entry(space: ModelSpace, w: &WindowInfo, screen: Size) -> WindowEntry {
    let rect = (
        i64::from(w.x),
        i64::from(w.y),
        i64::from(w.width),
        i64::from(w.height),
    );
    WindowEntry {
        id: w.id,
        title: w.title.clone(),
        app: w.app.clone(),
        pid: w.pid,
        spot: on_screen(space, rect, screen).unwrap_or(Spot {
            x: 0,
            y: 0,
            width: 0,
            height: 0,
            center_x: 0,
            center_y: 0,
        }),
        focused: w.focused,
        minimized: w.minimized,
        maximized: w.maximized,
        fullscreen: w.fullscreen,
    }
}

fn matches(w: &WindowInfo, title: Option<&str>, app: Option<&str>) -> bool {
    let contains = |hay: &str, needle: &str| hay.to_lowercase().contains(&needle.to_lowercase());
    title.is_none_or(|t| contains(&w.title, t)) && app.is_none_or(|a| w.app.eq_ignore_ascii_case(a))
}

pub(crate) async fn window_list(
    args: Result<WindowListArgs, DesktopError>,
    call: &Call,
) -> Outcome {
    let args = args?;
    let windows = call.desktop.windows().await?;
    let screen = call.desktop.screen_size();
    Ok(json_text(&WindowListResult {
        windows: windows
            .iter()
            .filter(|w| matches(w, args.title.as_deref(), args.app.as_deref()))
            .map(|w| entry(call.space, w, screen))
            .collect(),
        coordinates: coordinates(call.space, screen),
    }))
}

pub(crate) async fn window_action(
    args: Result<WindowActionArgs, DesktopError>,
    call: &Call,
) -> Outcome {
    let args = args?;
    let screen = call.desktop.screen_size();
    let id = match (args.window, args.title.as_deref(), args.app.as_deref()) {
        (Some(id), None, None) => u32::try_from(id).map_err(|_| {
            DesktopError::BadRequest(format!(
                "there is no window {id}; window_list shows the windows there are now"
            ))
        })?,
        (None, None, None) => {
            return Err(DesktopError::BadRequest(
                "name the window: `window` (an id from window_list), or `title` and/or `app`"
                    .into(),
            ))
        }
        (Some(_), _, _) => {
            return Err(DesktopError::BadRequest(
                "name the window either by `window` or by `title`/`app`, not both".into(),
            ))
        }
        (None, title, app) => {
            let windows = call.desktop.windows().await?;
            let Some(w) = windows.iter().find(|w| matches(w, title, app)) else {
                let names: Vec<String> = windows
                    .iter()
                    .take(20)
                    .map(|w| format!("{:?} ({})", w.title, w.app))
                    .collect();
                return Err(DesktopError::BadRequest(format!(
                    "no window matches{}{}; the windows are: {}",
                    title.map(|t| format!(" title {t:?}")).unwrap_or_default(),
                    app.map(|a| format!(" app {a:?}")).unwrap_or_default(),
                    if names.is_empty() {
                        "none".into()
                    } else {
                        names.join(", ")
                    }
                )));
            };
            w.id
        }
    };
    let need = |v: Option<i64>, name: &str| {
        v.ok_or_else(|| {
            DesktopError::BadRequest(format!(
                "{} needs `{name}`",
                match name {
                    "x" | "y" => "move",
                    _ => "resize",
                }
            ))
        })
    };
    let action = match args.action {
        WindowActionName::Focus => WindowAction::Focus,
        WindowActionName::Close => WindowAction::Close,
        WindowActionName::Minimize => WindowAction::Minimize,
        WindowActionName::Maximize => WindowAction::Maximize,
        WindowActionName::Restore => WindowAction::Restore,
        WindowActionName::Fullscreen => WindowAction::Fullscreen,
        WindowActionName::Move => {
            let p = call
                .space
                .point(need(args.x, "x")?, need(args.y, "y")?, screen)?;
            WindowAction::Move {
                x: p.x as i32,
                y: p.y as i32,
            }
        }
        WindowActionName::Resize => {
            let (width, height) = (need(args.width, "width")?, need(args.height, "height")?);
            if width < 1 || height < 1 {
                return Err(DesktopError::BadRequest(format!(
                    "resize needs a width and height of at least 1 (got {width}x{height})"
                )));
            }
            let r = call.space.region(0, 0, width, height, screen)?;
            WindowAction::Resize {
                width: r.width,
                height: r.height,
            }
        }
    };
    let (reaction, after) = call.desktop.window_action(id, action).await?;
    let verb = match args.action {
        WindowActionName::Focus => "Focused",
        WindowActionName::Close => "Asked to close",
        WindowActionName::Minimize => "Minimized",
        WindowActionName::Maximize => "Maximized",
        WindowActionName::Restore => "Restored",
        WindowActionName::Move => "Moved",
        WindowActionName::Resize => "Resized",
        WindowActionName::Fullscreen => "Made fullscreen",
    };
    Ok(json_text(&WindowActionResult {
        action: format!("{verb} window {id}"),
        screen_changed: reaction.changed,
        reaction_time_ms: reaction.reaction_ms,
        window: after.as_ref().map(|w| entry(call.space, w, screen)),
        coordinates: coordinates(call.space, screen),
    }))
}

pub(crate) async fn zoom(args: Result<ZoomArgs, DesktopError>, call: &Call) -> Outcome {
    let args = args?;
    if !(1..=8).contains(&args.scale) {
        return Err(DesktopError::BadRequest(format!(
            "scale must be 1 to 8 (got {})",
            args.scale
        )));
    }
    let screen = call.desktop.screen_size();
    let r = args.region;
    let rect = call.space.region(r.x, r.y, r.width, r.height, screen)?;
    let scale = args.scale as u32;
    let (max_w, max_h) = (
        agentdesk_desktop::MAX_ZOOM_WIDTH,
        agentdesk_desktop::MAX_ZOOM_HEIGHT,
    );
    if rect.width * scale > max_w || rect.height * scale > max_h {
        // The largest region at this scale, said in the caller's own coordinates.
        let (_, _, w, h) = call.space.rect_from_pixels(
            Rect {
                x: 0,
                y: 0,
                width: (max_w / scale).min(screen.width),
                height: (max_h / scale).min(screen.height),
            },
            screen,
        );
        return Err(DesktopError::BadRequest(format!(
            "that region enlarged {scale} times would be {}x{} pixels, past the {max_w}x{max_h} \
             a zoom may be: pass a region of at most {w}x{h} (in your coordinates), or a \
             smaller scale",
            rect.width * scale,
            rect.height * scale
        )));
    }
    let format = match args.format {
        ImageFormat::Webp => Format::Webp,
        ImageFormat::Png => Format::Png,
        ImageFormat::Jpeg => Format::Jpeg { quality: 80 },
    };
    let shot = call.desktop.zoom(rect, args.scale as u32, format).await?;
    let data = base64::engine::general_purpose::STANDARD.encode(&shot.bytes);
    Ok(CallToolResult::success(vec![
        ContentBlock::image(data, shot.mime_type),
        ContentBlock::text(format!(
            "the region at ({}, {}), {}x{} in your coordinates ({}x{} screen pixels), enlarged \
             {} times to {}; this image's pixels are not click coordinates",
            r.x, r.y, r.width, r.height, rect.width, rect.height, args.scale, shot.size
        )),
    ]))
}
