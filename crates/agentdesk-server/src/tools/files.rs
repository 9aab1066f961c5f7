//! The file tools on `/mcp`: `file_upload`, `file_download`, `file_list`, on a desktop's home
//! (`agentdesk_desktop::files` keeps every path inside it). Contents travel in the call, so
//! they are bounded: larger files go over the REST API (`crate::files`), streamed.

use agentdesk_desktop::files::{self, FileInfo};
use agentdesk_desktop::{Caller, DesktopManager, FleetError};
use agentdesk_proto::{FilePathArgs, FileUploadArgs};
use base64::Engine as _;
use rmcp::model::{CallToolResult, ContentBlock, ResourceContents, Tool};
use serde_json::{json, Map, Value};
use std::io::{Read as _, Write as _};

use super::{acting, read_only, tool};

/// The largest file `file_download` returns in the call (base64 makes it a third larger).
pub(crate) const MAX_INLINE_BYTES: u64 = 4 * 1024 * 1024;

const UPLOAD: &str = "Write a file into a desktop's home (its apps see it at once): path \
relative to the home, contents as text or content_base64 (up to about 3 MB; larger files go \
over the REST API: PUT /api/desktops/{id}/files/{path}). Missing directories are made; an \
existing file is replaced.";
const DOWNLOAD: &str = "Read a file from a desktop's home (path relative to it): text comes \
back as text, other files as base64. Up to 4 MB; larger files over the REST API: GET \
/api/desktops/{id}/files/{path}.";
const LIST: &str = "List a directory of a desktop's home (path relative to it; \"\" for the \
home): names, types, sizes, modes, times. Links are shown, never followed.";

const NAMES: [&str; 3] = ["file_upload", "file_download", "file_list"];

/// The file tools, in a fixed order.
pub(crate) fn list() -> Vec<Tool> {
    let [upload, download, list] = NAMES;
    vec![
        tool::<FileUploadArgs>(upload, UPLOAD, acting()),
        tool::<FilePathArgs>(download, DOWNLOAD, read_only()),
        tool::<FilePathArgs>(list, LIST, read_only()),
    ]
}

/// Whether `name` is a file tool.
pub(crate) fn is_file_tool(name: &str) -> bool {
    NAMES.contains(&name)
}

/// Runs file tool `name` for `caller`; the desktop it named, for the audit log, comes back
/// with the result.
pub(crate) async fn call(
    manager: &DesktopManager,
    caller: &Caller,
    name: &str,
    args: Map<String, Value>,
) -> Result<CallToolResult, FleetError> {
    let bad = |e: agentdesk_desktop::DesktopError| FleetError::BadRequest(e.to_string());
    if name == "file_upload" {
        let a = super::parse::<FileUploadArgs>(name, args).map_err(bad)?;
        let desktop = crate::fleet::desktop_or_default(manager, a.desktop.as_deref())?;
        let mode = a
            .mode
            .as_deref()
            .map(agentdesk_proto::parse_mode)
            .transpose()
            .map_err(FleetError::BadRequest)?;
        let bytes = match (a.text, a.content_base64) {
            (Some(text), None) => text.into_bytes(),
            (None, Some(b64)) => base64::engine::general_purpose::STANDARD
                .decode(b64.trim())
                .map_err(|e| {
                    FleetError::BadRequest(format!("content_base64 is not valid base64: {e}"))
                })?,
            _ => {
                return Err(FleetError::BadRequest(
                    "give the contents as exactly one of text and content_base64".into(),
                ))
            }
        };
        let home = manager.home_for_files(&desktop, caller)?;
        let path = a.path;
        let size = blocking(move || {
            let mut upload = files::upload(&home, &path, mode)?;
            upload
                .file()
                .write_all(&bytes)
                .map_err(|e| FleetError::BadRequest(format!("error writing {path:?}: {e}")))?;
            upload.commit().map(|size| (path, size))
        })
        .await?;
        return Ok(CallToolResult::structured(json!({
            "desktop": desktop.as_str(),
            "path": size.0,
            "size": size.1,
        })));
    }
    let a = super::parse::<FilePathArgs>(name, args).map_err(bad)?;
    let desktop = crate::fleet::desktop_or_default(manager, a.desktop.as_deref())?;
    let home = manager.home_for_files(&desktop, caller)?;
    let path = a.path;
    if name == "file_list" {
        let (entries, truncated) = {
            let path = path.clone();
            blocking(move || files::list(&home, &path)).await?
        };
        return Ok(CallToolResult::structured(json!({
            "desktop": desktop.as_str(),
            "path": if path.is_empty() { "." } else { path.as_str() },
            "entries": entries.iter().map(entry_json).collect::<Vec<_>>(),
            "truncated": truncated,
        })));
    }
    let (shown, bytes) = blocking(move || {
        let (file, size) = files::open_read(&home, &path)?;
        if size > MAX_INLINE_BYTES {
            return Err(FleetError::BadRequest(format!(
                "{path:?} is {size} bytes, more than file_download returns ({MAX_INLINE_BYTES}); \
                 fetch it over the REST API: GET /api/desktops/{{id}}/files/{path}"
            )));
        }
        let mut bytes = Vec::with_capacity(size as usize);
        file.take(MAX_INLINE_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| FleetError::BadRequest(format!("error reading {path:?}: {e}")))?;
        Ok((path, bytes))
    })
    .await?;
    let uri = format!("agentdesk://desktops/{}/files/{shown}", desktop.as_str());
    let size = bytes.len();
    let (kind, contents) = match String::from_utf8(bytes) {
        Ok(text) if !text.contains('\0') => ("text", ResourceContents::text(text, uri)),
        Ok(text) => ("base64", blob(text.into_bytes(), uri)),
        Err(e) => ("base64", blob(e.into_bytes(), uri)),
    };
    Ok(CallToolResult::success(vec![
        ContentBlock::text(format!("{shown}: {size} bytes ({kind})")),
        ContentBlock::resource(contents),
    ]))
}

fn blob(bytes: Vec<u8>, uri: String) -> ResourceContents {
    ResourceContents::blob(base64::engine::general_purpose::STANDARD.encode(bytes), uri)
        .with_mime_type("application/octet-stream")
}

/// A listing entry as JSON (the REST API's listing too).
pub(crate) fn entry_json(f: &FileInfo) -> Value {
    json!({
        "name": f.name,
        "type": f.kind,
        "size": f.size,
        "mode": format!("{:03o}", f.mode),
        "modified": f.modified,
        "target": f.target,
    })
}

/// Runs file I/O off the async threads.
pub(crate) async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, FleetError> + Send + 'static,
) -> Result<T, FleetError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| FleetError::BadRequest(format!("the file operation failed: {e}")))?
}
