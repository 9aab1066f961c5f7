//! GhostDesk's two resources, under its URIs so prompts that name them work unchanged:
//! `ghostdesk://apps` (what app_list returns, as JSON) and `ghostdesk://clipboard` (the
//! clipboard's text).

use agentdesk_desktop::Desktop;
use rmcp::model::{ReadResourceResult, Resource, ResourceContents};
use rmcp::ErrorData;

const APPS: &str = "ghostdesk://apps";
const CLIPBOARD: &str = "ghostdesk://clipboard";

/// Every resource, in a fixed order.
pub(crate) fn list() -> Vec<Resource> {
    vec![
        Resource::new(APPS, "apps")
            .with_description("The applications app_launch accepts, as app_list returns them")
            .with_mime_type("application/json"),
        Resource::new(CLIPBOARD, "clipboard")
            .with_description("The clipboard's text, as clipboard_get returns it")
            .with_mime_type("text/plain"),
    ]
}

/// Reads one resource of `desktop`.
pub(crate) async fn read(uri: &str, desktop: &Desktop) -> Result<ReadResourceResult, ErrorData> {
    let contents = match uri {
        APPS => {
            let apps = crate::tools::app_entries(desktop);
            let json = serde_json::to_string(&apps)
                .map_err(|e| ErrorData::internal_error(e.to_string(), None))?;
            ResourceContents::text(json, uri).with_mime_type("application/json")
        }
        CLIPBOARD => {
            let text = desktop
                .clipboard_get()
                .await
                .map_err(|e| ErrorData::internal_error(e.to_string(), None))?;
            ResourceContents::text(text, uri)
        }
        // 2026-07-28 reports an unknown resource as invalid params (-32602).
        _ => {
            return Err(ErrorData::invalid_params(
                format!(
                    "unknown resource {uri:?}; resources/list names the resources ({APPS}, {CLIPBOARD})"
                ),
                Some(serde_json::json!({ "uri": uri })),
            ))
        }
    };
    Ok(ReadResourceResult::new(vec![contents]))
}
