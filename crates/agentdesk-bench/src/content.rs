//! The realistic screen the benchmark measures on, with no network: a local HTML page (text, a
//! table, photo-like images generated here) in Firefox ESR beside an xterm full of text; where
//! the windows go; and how to tell from a screenshot that both have drawn.
//!
//! Firefox gets a profile of our own (first-run pages off, a window size in `xulstore.json`) so
//! it opens beside the terminal instead of maximized over it: clicks can then switch between
//! two visible windows, a change every agent step makes.

use std::io::Cursor;
use std::path::{Path, PathBuf};

use agentdesk_image::Size;
use anyhow::Context as _;

/// The page's background: a colour nothing else on the desktop uses, so a screenshot shows
/// whether the page has been drawn.
pub(crate) const PAGE_BG: [u8; 3] = [0xf1, 0xec, 0xdf];
/// The terminal's background, for the same reason.
pub(crate) const TERM_BG: [u8; 3] = [0x1d, 0x2b, 0x36];
/// xterm's default font ("fixed", 6×13 pixels) decides how wide 100 columns are.
const CELL: (u32, u32) = (6, 13);

/// Where the windows go on a screen of a given size: the terminal on the right, Firefox on the
/// left, side by side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Layout {
    pub(crate) screen: Size,
    pub(crate) firefox_width: u32,
    pub(crate) firefox_height: u32,
    pub(crate) term_cols: u32,
    pub(crate) term_rows: u32,
}

impl Layout {
    pub(crate) fn new(screen: Size) -> Layout {
        let term_cols = (screen.width / 2 / CELL.0).clamp(40, 100);
        // Inner border and window-manager frame around the character cells.
        let term_px = term_cols * CELL.0 + 20;
        // Room for the window manager's title bar and taskbar.
        let term_rows = (screen.height.saturating_sub(60) / CELL.1).clamp(10, 60);
        Layout {
            screen,
            firefox_width: screen.width.saturating_sub(term_px).max(300),
            firefox_height: screen.height.saturating_sub(50).max(200),
            term_cols,
            term_rows,
        }
    }

    /// A point on the page, away from the terminal.
    pub(crate) fn firefox_point(&self) -> (u32, u32) {
        (self.firefox_width / 2, self.screen.height * 2 / 3)
    }

    /// A point in the terminal.
    pub(crate) fn term_point(&self) -> (u32, u32) {
        let term_px = self.term_cols * CELL.0 + 20;
        (self.screen.width - term_px / 2, self.screen.height / 2)
    }

    /// A 640×400 region in the middle of the screen (smaller on a smaller screen).
    pub(crate) fn region(&self) -> (u32, u32, u32, u32) {
        let (w, h) = (self.screen.width.min(640), self.screen.height.min(400));
        (
            (self.screen.width - w) / 2,
            (self.screen.height - h) / 2,
            w,
            h,
        )
    }

    /// The `app_launch` command of the terminal: a few hundred lines of real output, then a
    /// `cat` that swallows what is typed (the terminal echoes it, so typing shows).
    pub(crate) fn terminal_command(&self) -> String {
        let [r, g, b] = TERM_BG;
        format!(
            "xterm -geometry {}x{}-0+0 -bg '#{r:02x}{g:02x}{b:02x}' -fg '#d8dee9' -title bench-terminal \
             -e sh -c 'ls -la /usr/bin | head -n 300; uname -a; exec cat >/dev/null'",
            self.term_cols, self.term_rows
        )
    }
}

/// Files the benchmark's desktop shows, in a directory of their own.
#[derive(Debug)]
pub(crate) struct Content {
    pub(crate) page: PathBuf,
    pub(crate) profile: PathBuf,
}

impl Content {
    /// Writes the page, its images and a Firefox profile under `dir`.
    pub(crate) fn write(dir: &Path, layout: &Layout) -> anyhow::Result<Content> {
        let site = dir.join("site");
        let profile = dir.join("firefox-profile");
        std::fs::create_dir_all(&site).context("error creating the page's directory")?;
        std::fs::create_dir_all(&profile).context("error creating the Firefox profile")?;
        std::fs::write(site.join("landscape.png"), photo_png(960, 420, 1)?)?;
        std::fs::write(site.join("portrait.png"), photo_png(280, 360, 7)?)?;
        let page = site.join("page.html");
        std::fs::write(&page, page_html())?;
        std::fs::write(profile.join("user.js"), USER_JS)?;
        std::fs::write(
            profile.join("xulstore.json"),
            format!(
                r#"{{"chrome://browser/content/browser.xhtml":{{"main-window":{{"screenX":"0","screenY":"0","width":"{}","height":"{}","sizemode":"normal"}}}}}}"#,
                layout.firefox_width, layout.firefox_height
            ),
        )?;
        Ok(Content { page, profile })
    }

    /// The `app_launch` command that opens the page in Firefox ESR with our profile.
    pub(crate) fn firefox_command(&self) -> String {
        format!(
            "firefox-esr -profile '{}' 'file://{}'",
            self.profile.display(),
            self.page.display()
        )
    }
}

/// Preferences for a quiet, offline Firefox: no first-run or privacy tabs, no update or
/// safe-browsing traffic, no translation offers, no session restore after we stop it.
const USER_JS: &str = r#"user_pref("browser.shell.checkDefaultBrowser", false);
user_pref("browser.startup.homepage_override.mstone", "ignore");
user_pref("startup.homepage_welcome_url", "");
user_pref("startup.homepage_welcome_url.additional", "");
user_pref("browser.aboutwelcome.enabled", false);
user_pref("datareporting.policy.dataSubmissionEnabled", false);
user_pref("datareporting.policy.firstRunURL", "");
user_pref("toolkit.telemetry.reportingpolicy.firstRun", false);
user_pref("app.update.enabled", false);
user_pref("app.normandy.enabled", false);
user_pref("browser.safebrowsing.malware.enabled", false);
user_pref("browser.safebrowsing.phishing.enabled", false);
user_pref("browser.safebrowsing.downloads.enabled", false);
user_pref("network.captive-portal-service.enabled", false);
user_pref("network.connectivity-service.enabled", false);
user_pref("extensions.update.enabled", false);
user_pref("browser.translations.enable", false);
user_pref("browser.sessionstore.resume_from_crash", false);
user_pref("browser.newtabpage.enabled", false);
"#;

fn page_html() -> String {
    let [r, g, b] = PAGE_BG;
    let paragraphs = [
        "The regional network carried more passengers this quarter than in any quarter since the \
         line opened. Weekday ridership rose by eleven percent, driven by the new express \
         service between the harbour and the university, while weekend travel stayed flat.",
        "Maintenance crews replaced four kilometres of track and two signalling cabinets ahead of \
         schedule. The old cabinets, installed in 1987, accounted for a third of all delays last \
         winter; since the replacement, signal faults have fallen to two a month.",
        "Next quarter the operator plans to extend evening service to midnight on Fridays and to \
         publish live occupancy for every carriage. The board will review fares in March, after \
         the survey of four thousand riders closes.",
    ];
    let rows = [
        ("Harbour – University", "41 200", "+14 %", "97.1 %", "2.4"),
        ("Old Town – Airport", "28 950", "+6 %", "95.8 %", "3.1"),
        ("Riverside loop", "12 400", "+2 %", "98.6 %", "1.2"),
        ("North Hills – Centre", "19 730", "+9 %", "94.2 %", "4.0"),
        ("Night bus N1", "3 120", "+21 %", "92.5 %", "5.6"),
        ("Stadium shuttle", "6 880", "−3 %", "99.0 %", "0.8"),
    ];
    let mut html = format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>Quarterly ridership report</title><style>\
         body {{ background: #{r:02x}{g:02x}{b:02x}; margin: 12px 16px; font: 15px/1.45 serif; }}\
         img {{ max-width: 100%; display: block; }} figure {{ margin: 8px 0; }}\
         table {{ border-collapse: collapse; margin: 8px 0; font: 13px sans-serif; }}\
         th, td {{ border: 1px solid #8a8270; padding: 2px 6px; }} th {{ background: #ddd4bd; }}\
         .side {{ float: right; width: 38%; margin: 0 0 6px 12px; }}\
         </style></head><body>\n<h1>Quarterly ridership report</h1>\n\
         <figure><img src=\"landscape.png\" alt=\"The harbour line at dusk\"></figure>\n"
    );
    html.push_str(&format!("<p>{}</p>\n", paragraphs[0]));
    html.push_str(
        "<table><tr><th>Line</th><th>Riders/day</th><th>Change</th><th>On time</th>\
         <th>Delay min</th></tr>\n",
    );
    for (line, riders, change, on_time, delay) in rows {
        html.push_str(&format!(
            "<tr><td>{line}</td><td>{riders}</td><td>{change}</td><td>{on_time}</td><td>{delay}</td></tr>\n"
        ));
    }
    html.push_str("</table>\n");
    html.push_str(
        "<figure class=\"side\"><img src=\"portrait.png\" alt=\"A platform\">\
         <figcaption>Platform 3 after the refit.</figcaption></figure>\n",
    );
    for p in &paragraphs[1..] {
        html.push_str(&format!("<p>{p}</p>\n"));
    }
    html.push_str("</body></html>\n");
    html
}

/// A photo-like RGB image: smooth gradients (sky, sun, hills, water) with sensor-like noise,
/// which is what makes photos expensive to compress losslessly.
pub(crate) fn photo_png(width: u32, height: u32, seed: u64) -> anyhow::Result<Vec<u8>> {
    let mut rgb = Vec::with_capacity((width * height * 3) as usize);
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let (w, h) = (f64::from(width), f64::from(height));
    let phase = seed as f64;
    for y in 0..height {
        for x in 0..width {
            let (fx, fy) = (f64::from(x), f64::from(y));
            let horizon =
                h * (0.55 + 0.07 * (fx / w * 7.0 + phase).sin()) + h * 0.03 * (fx / w * 23.0).sin();
            let water = h * 0.82;
            let t = fy / h;
            let mut c = if fy < horizon {
                // Sky: blue at the top to warm near the horizon, with a sun glow.
                let d = ((fx - w * 0.72).powi(2) + (fy - h * 0.3).powi(2)).sqrt() / w;
                let glow = (1.0 - d * 3.0).max(0.0).powi(2);
                [
                    60.0 + 170.0 * t + 80.0 * glow,
                    110.0 + 80.0 * t + 60.0 * glow,
                    190.0 - 40.0 * t + 10.0 * glow,
                ]
            } else if fy < water {
                // Hills: darker with depth, striped by light.
                let shade = 0.6 + 0.4 * (fx / w * 40.0 + fy / h * 9.0).sin().abs();
                [40.0 * shade + 30.0 * t, 95.0 * shade, 45.0 * shade]
            } else {
                // Water: the sky's colours, rippled.
                let ripple = (fy * 0.9 + (fx * 0.05).sin() * 4.0).sin();
                [
                    70.0 + 30.0 * ripple,
                    110.0 + 25.0 * ripple,
                    160.0 + 20.0 * ripple,
                ]
            };
            for channel in &mut c {
                // xorshift64: cheap, deterministic noise of ±10.
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                *channel += (state % 21) as f64 - 10.0;
            }
            rgb.extend(c.iter().map(|v| v.clamp(0.0, 255.0) as u8));
        }
    }
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, width, height);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header()?;
    writer.write_image_data(&rgb)?;
    writer.finish()?;
    Ok(out)
}

/// How many pixels of each marker colour ([`PAGE_BG`], [`TERM_BG`]) a PNG screenshot shows.
pub(crate) fn marker_pixels(png_bytes: &[u8]) -> anyhow::Result<(usize, usize)> {
    let decoder = png::Decoder::new(Cursor::new(png_bytes));
    let mut reader = decoder.read_info()?;
    let mut buf = vec![0; reader.output_buffer_size().context("PNG too large")?];
    let info = reader.next_frame(&mut buf)?;
    let channels = match info.color_type {
        png::ColorType::Rgb => 3,
        png::ColorType::Rgba => 4,
        other => anyhow::bail!("unexpected PNG colour type {other:?}"),
    };
    let pixels = &buf[..info.buffer_size()];
    Ok((
        count_near(pixels, channels, PAGE_BG),
        count_near(pixels, channels, TERM_BG),
    ))
}

/// Pixels within ±2 of `color` on each channel (room for any rounding on the way).
pub(crate) fn count_near(pixels: &[u8], channels: usize, color: [u8; 3]) -> usize {
    pixels
        .chunks_exact(channels)
        .filter(|p| (0..3).all(|i| p[i].abs_diff(color[i]) <= 2))
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_sit_side_by_side_on_the_default_screen() {
        let layout = Layout::new(Size {
            width: 1280,
            height: 800,
        });
        assert_eq!((layout.term_cols, layout.term_rows), (100, 56));
        assert_eq!(layout.firefox_width, 660);
        let (fx, _) = layout.firefox_point();
        let (tx, _) = layout.term_point();
        assert!(fx < layout.firefox_width && tx > layout.firefox_width);
        assert_eq!(layout.region(), (320, 200, 640, 400));
        assert!(layout
            .terminal_command()
            .starts_with("xterm -geometry 100x56-0+0 "));
        // Small screens still get a valid region and sane windows.
        let small = Layout::new(Size {
            width: 320,
            height: 240,
        });
        assert_eq!(small.region(), (0, 0, 320, 240));
        assert!(small.term_rows >= 10 && small.firefox_width >= 300);
    }

    #[test]
    fn photos_are_valid_pngs_that_resist_compression() {
        let png = photo_png(120, 80, 3).unwrap();
        // Noise keeps lossless compression honest: well over a byte per pixel.
        assert!(png.len() > 120 * 80, "{} bytes", png.len());
        let (page, term) = marker_pixels(&png).unwrap();
        assert!(page < 10 && term < 10);
    }

    #[test]
    fn marker_colours_are_counted_with_a_small_tolerance() {
        let [r, g, b] = PAGE_BG;
        let pixels = [r, g, b, 255, r + 2, g - 1, b, 255, r + 3, g, b, 255];
        assert_eq!(count_near(&pixels, 4, PAGE_BG), 2);
        let rgb = [r, g, b, r + 2, g - 1, b, 0, 0, 0];
        assert_eq!(count_near(&rgb, 3, PAGE_BG), 2);
    }
}
