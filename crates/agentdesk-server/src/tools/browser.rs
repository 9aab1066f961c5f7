//! browser_page_map and browser_navigate: a browser's page through its accessibility tree
//! (Firefox and Chromium describe the page's elements there, with their places on screen:
//! no debugging port is opened, so nothing else on the machine can drive the browser), and
//! navigation through the address bar, as a user would.

use std::time::{Duration, Instant};

use agentdesk_desktop::{DesktopError, PageMap};
use agentdesk_proto::{NavigateArgs, PageElement, PageMapArgs, PageMapResult};

use super::grounding::{coordinates, deadline, on_screen};
use super::{json_text, Call, Outcome};

pub(crate) const PAGE_MAP: &str = "\
Map the web page in the browser (the topmost Firefox or Chromium window, or the one whose \
title contains `window`): its url, title and the visible links, buttons, fields, check \
boxes, selects and headings, each numbered with its role, label, box and centre (click \
there) in the same coordinates as clicks, and an id for ui_action (set_text fills a field). \
Only what is in view: scroll and map again for more. `loading` true: the page was still \
loading, so map it again in a moment for the rest.";
pub(crate) const NAVIGATE: &str = "\
Open `url` in the browser (the topmost browser window, or the one whose title contains \
`window`), through its address bar, and return the new page's map once it has loaded (or \
after 10 s, whatever shows then; `loading` says whether it still was).";

/// How long browser_navigate waits for the new page.
const LOAD_WAIT: Duration = Duration::from_secs(10);

fn result(map: PageMap, call: &Call) -> PageMapResult {
    let screen = call.desktop.screen_size();
    let elements = map
        .elements
        .iter()
        .filter_map(|n| {
            let (x, y, w, h) = n.rect?;
            let spot = on_screen(
                call.space,
                (i64::from(x), i64::from(y), i64::from(w), i64::from(h)),
                screen,
            )?;
            Some((n, spot))
        })
        .enumerate()
        .map(|(i, (n, spot))| PageElement {
            i,
            id: n.id.to_string(),
            role: n.role.clone(),
            label: n.name.clone(),
            spot,
            states: n.state.words().replace("disabled", "").trim().to_string(),
        })
        .collect();
    PageMapResult {
        url: map.url,
        title: map.title,
        elements,
        truncated: map.truncated,
        loading: map.loading,
        coordinates: coordinates(call.space, screen),
    }
}

pub(crate) async fn page_map(args: Result<PageMapArgs, DesktopError>, call: &Call) -> Outcome {
    let args = args?;
    let map = call.desktop.page_map(args.window, deadline(call)).await?;
    Ok(json_text(&result(map, call)))
}

pub(crate) async fn navigate(args: Result<NavigateArgs, DesktopError>, call: &Call) -> Outcome {
    let args = args?;
    // browser_go checks the URL before anything is typed.
    let url = args.url.trim().to_string();
    let browser = call.desktop.browser_window(args.window.as_deref()).await?;
    let before = call
        .desktop
        .page_map(Some(browser.title.clone()), deadline(call))
        .await
        .map(|m| m.url)
        .unwrap_or_default();
    call.desktop.browser_go(browser.id, &url).await?;
    // The new page: its document's URL changes (to `url` or wherever it redirected), it has
    // finished loading, and two maps in a row agree. Firefox gives the new document its URL
    // before its title and content, without saying it is loading: a page mapped then reads
    // as empty (seen under load, once in some ten navigations).
    let until = (Instant::now() + LOAD_WAIT).min(deadline(call));
    let mut last = Err(DesktopError::Failed("the page did not load".into()));
    // The same address again (a reload) has no new URL to wait for.
    let again = same_address(&before, &url);
    let mut previous = None;
    while Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(100)).await;
        // Each map within the wait too: a page that never shows must not hold it longer.
        last = call.desktop.page_map(None, until).await;
        if let Ok(map) = &last {
            let arrived = !map.url.is_empty() && (map.url != before || again) && !map.loading;
            let seen = (map.url.clone(), map.title.clone(), map.elements.len());
            if arrived && previous.as_ref() == Some(&seen) {
                break;
            }
            previous = arrived.then_some(seen);
        }
    }
    let map = last?;
    if !again && !before.is_empty() && map.url == before {
        return Err(DesktopError::Failed(format!(
            "the browser still shows {before} after {} s: the address was typed into the \
             address bar, but no new page came (a dialog of the page, or the page holding on?); \
             take a screenshot to see",
            LOAD_WAIT.as_secs()
        )));
    }
    Ok(json_text(&result(map, call)))
}

/// Whether two addresses name the same page as far as a browser shows them: the scheme and a
/// trailing slash aside ("example.org" is shown as "https://example.org/").
fn same_address(shown: &str, asked: &str) -> bool {
    fn bare(a: &str) -> &str {
        let a = a.trim();
        let a = a
            .strip_prefix("https://")
            .or_else(|| a.strip_prefix("http://"))
            .unwrap_or(a);
        a.strip_suffix('/').unwrap_or(a)
    }
    !shown.is_empty() && bare(shown) == bare(asked)
}

#[cfg(test)]
mod tests {
    use super::same_address;

    #[test]
    fn an_address_is_the_same_page_without_its_scheme_or_last_slash() {
        assert!(same_address("https://example.org/", "example.org"));
        assert!(same_address(
            "http://127.0.0.1:8080/form",
            "http://127.0.0.1:8080/form"
        ));
        assert!(!same_address(
            "http://127.0.0.1:8080/links",
            "http://127.0.0.1:8080/form"
        ));
        assert!(!same_address("", ""));
    }
}
