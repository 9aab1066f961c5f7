//! The live view's pages and files: `/` (the desktops the visitor may watch),
//! `/desktops/{id}/view` (the page), `/assets/*` (its own script and style, built into the
//! binary) and `/novnc/*` (noVNC's ES modules, served unmodified from where the setup installed
//! them: npm's `@novnc/novnc` or Debian's `novnc`; agentdesk does not vendor it).
//!
//! Every page is sent with a Content-Security-Policy allowing only this origin (no inline
//! script, no framing: the Take control button must not be clickjacked) and `no-store`.

use std::path::{Path as FsPath, PathBuf};
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::response::{IntoResponse as _, Response};
use axum::Extension;
use http::{header, HeaderValue, StatusCode};

use crate::guard::Principal;
use crate::state::AppState;

/// What the live view's pages need from the configuration.
#[derive(Debug, Clone, Default)]
pub struct WebConfig {
    /// noVNC's package directory (holding `core/rfb.js`); `None` when it is not installed.
    pub novnc_dir: Option<PathBuf>,
}

/// Where noVNC is looked for when `--novnc-dir` is not given: Debian's package.
const SYSTEM_NOVNC: &str = "/usr/share/novnc";

/// The noVNC directory to use: `configured` if given (it must hold `core/rfb.js`), else
/// Debian's if installed, else `None` (the page then says how to install it).
pub fn find_novnc(configured: Option<PathBuf>) -> anyhow::Result<Option<PathBuf>> {
    let has_rfb = |dir: &FsPath| dir.join("core/rfb.js").is_file();
    match configured {
        Some(dir) if has_rfb(&dir) => Ok(Some(dir)),
        Some(dir) => anyhow::bail!(
            "--novnc-dir {}: no core/rfb.js there; point it at noVNC's package directory (npm's \
             node_modules/@novnc/novnc, 1.7 or later, whose core/ holds ES modules, or Debian's /usr/share/novnc)",
            dir.display()
        ),
        None => Ok(Some(PathBuf::from(SYSTEM_NOVNC)).filter(|d| has_rfb(d))),
    }
}

/// The page's Content-Security-Policy: this origin only.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
    img-src 'self' data: blob:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; \
    form-action 'self'; object-src 'none'";

/// An HTML page with the headers every page gets.
pub(crate) fn html(status: StatusCode, body: String) -> Response {
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    let set = |h: &mut http::HeaderMap, name, value: &'static str| {
        h.insert(name, HeaderValue::from_static(value));
    };
    set(headers, header::CONTENT_TYPE, "text/html; charset=utf-8");
    set(headers, header::CONTENT_SECURITY_POLICY, CSP);
    set(headers, header::X_FRAME_OPTIONS, "DENY");
    // Not "no-referrer": a form POST would then carry `Origin: null`, which the login refuses.
    set(headers, header::REFERRER_POLICY, "same-origin");
    set(headers, header::CACHE_CONTROL, "no-store");
    set(headers, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    response
}

/// Text for HTML: `<`, `>`, `&` and quotes escaped.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A short page saying what is wrong and what to do.
fn problem(status: StatusCode, title: &str, what: &str) -> Response {
    html(
        status,
        format!(
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{t}</title>\
             <link rel=\"stylesheet\" href=\"/assets/agentdesk.css\"></head><body class=\"login\">\
             <form><h1>{t}</h1><p>{w}</p></form></body></html>",
            t = escape(title),
            w = escape(what)
        ),
    )
}

/// `GET /`: the desktops the visitor may watch, each with a link to its view; with only one,
/// straight to its view.
pub(crate) async fn index(
    State(app): State<Arc<AppState>>,
    Extension(principal): Extension<Principal>,
) -> Response {
    let desktops = app.manager.list(&principal.caller());
    if let [only] = desktops.as_slice() {
        return (
            StatusCode::SEE_OTHER,
            [(header::LOCATION, format!("/desktops/{}/view", only.id))],
        )
            .into_response();
    }
    let rows: String = desktops
        .iter()
        .map(|d| {
            format!(
                "<li><a href=\"/desktops/{id}/view\">{id}</a> <span class=\"meta\">{state}, \
                 {w}x{h}{default}{owner}</span></li>",
                id = escape(d.id.as_str()),
                state = d.state,
                w = d.screen.width,
                h = d.screen.height,
                default = if d.is_default { ", default" } else { "" },
                owner = d
                    .owner
                    .as_deref()
                    .map(|o| format!(", owned by {}", escape(o)))
                    .unwrap_or_default(),
            )
        })
        .collect();
    let body = if rows.is_empty() {
        "<p>No desktops yet. An agent creates one with the desktop_create tool, or: \
         <code>agentdesk desktops create</code>.</p>"
            .to_string()
    } else {
        format!("<ul class=\"desktops\">{rows}</ul>")
    };
    html(
        StatusCode::OK,
        format!(
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
             <title>agentdesk: desktops</title><link rel=\"stylesheet\" \
             href=\"/assets/agentdesk.css\"></head><body class=\"login\"><form>\
             <h1>Desktops</h1>{body}</form></body></html>"
        ),
    )
}

/// `GET /desktops/{id}/view`: the live view page (the gate has checked that the desktop exists
/// and the visitor may see it).
pub(crate) async fn view(State(app): State<Arc<AppState>>) -> Response {
    if app.web.novnc_dir.is_none() {
        return problem(
            StatusCode::SERVICE_UNAVAILABLE,
            "noVNC is not installed",
            "The live view needs noVNC. Run scripts/setup.sh (it installs npm's @novnc/novnc \
             into web/node_modules), or `apt install novnc`, or start agentdesk with \
             --novnc-dir pointing at a noVNC directory holding core/rfb.js as an ES module (npm 1.7 or later).",
        );
    }
    html(
        StatusCode::OK,
        include_str!("../assets/view.html").to_string(),
    )
}

/// `GET /assets/{name}`: the page's own files, built into the binary.
pub(crate) async fn asset(Path(name): Path<String>) -> Response {
    let (body, kind) = match name.as_str() {
        "view.js" => (include_str!("../assets/view.js"), "text/javascript"),
        "login.js" => (include_str!("../assets/login.js"), "text/javascript"),
        "agentdesk.css" => (include_str!("../assets/agentdesk.css"), "text/css"),
        _ => return (StatusCode::NOT_FOUND, "no such asset\n").into_response(),
    };
    static_file(body.as_bytes().to_vec(), kind)
}

fn static_file(body: Vec<u8>, kind: &str) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&format!("{kind}; charset=utf-8")) {
        headers.insert(header::CONTENT_TYPE, value);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

/// A noVNC file's path as given, if it is a plain relative path to a script: no `..`, no
/// hidden names, nothing but `.js` (all the page loads).
fn novnc_path(path: &str) -> Option<&str> {
    let plain = path.split('/').all(|part| {
        !part.is_empty()
            && !part.starts_with('.')
            && part
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
    });
    (plain && path.ends_with(".js") && path.len() <= 200).then_some(path)
}

/// The file of noVNC's package that `path` names, if it is a plain script path that stays
/// inside the package once resolved (a symbolic link in it cannot lead out).
fn resolve_novnc(dir: &FsPath, path: &str) -> Option<PathBuf> {
    let path = novnc_path(path)?;
    let root = dir.canonicalize().ok()?;
    let file = dir.join(path).canonicalize().ok()?;
    file.starts_with(&root).then_some(file)
}

/// `GET /novnc/{*path}`: noVNC's modules.
pub(crate) async fn novnc(State(app): State<Arc<AppState>>, Path(path): Path<String>) -> Response {
    let file = app
        .web
        .novnc_dir
        .as_deref()
        .and_then(|dir| resolve_novnc(dir, &path));
    match file {
        Some(file) => match tokio::fs::read(&file).await {
            Ok(bytes) => static_file(bytes, "text/javascript"),
            Err(_) => (StatusCode::NOT_FOUND, "no such file\n").into_response(),
        },
        None => (StatusCode::NOT_FOUND, "no such file\n").into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_script_paths_are_served() {
        assert_eq!(novnc_path("core/rfb.js"), Some("core/rfb.js"));
        assert_eq!(
            novnc_path("vendor/pako/lib/zlib/inflate.js"),
            Some("vendor/pako/lib/zlib/inflate.js")
        );
        for bad in [
            "../core/rfb.js",
            "core/../../etc/passwd.js",
            "/etc/x.js",
            "core//rfb.js",
            ".hidden/x.js",
            "core/rfb.js/",
            "package.json",
            "core/rfb.js\0",
            "core\\rfb.js",
            "core/r%2e.js",
            "",
        ] {
            assert_eq!(novnc_path(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn a_link_out_of_the_package_is_not_followed() {
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret.js"), "secret").unwrap();
        let package = tempfile::tempdir().unwrap();
        std::fs::create_dir(package.path().join("core")).unwrap();
        std::fs::write(package.path().join("core/rfb.js"), "export default 1;").unwrap();
        std::os::unix::fs::symlink(outside.path(), package.path().join("core/out")).unwrap();
        std::os::unix::fs::symlink(
            package.path().join("core/rfb.js"),
            package.path().join("core/alias.js"),
        )
        .unwrap();
        assert!(resolve_novnc(package.path(), "core/rfb.js").is_some());
        assert!(resolve_novnc(package.path(), "core/alias.js").is_some());
        assert_eq!(resolve_novnc(package.path(), "core/out/secret.js"), None);
        assert_eq!(resolve_novnc(package.path(), "core/missing.js"), None);
    }

    #[test]
    fn html_is_escaped() {
        assert_eq!(
            escape("<a href=\"x\">'&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }

    #[test]
    fn a_configured_novnc_must_hold_rfb_js() {
        let dir = tempfile::tempdir().unwrap();
        let e = find_novnc(Some(dir.path().to_path_buf())).unwrap_err();
        assert!(e.to_string().contains("no core/rfb.js"), "{e}");
        std::fs::create_dir(dir.path().join("core")).unwrap();
        std::fs::write(dir.path().join("core/rfb.js"), "export default 1;").unwrap();
        assert_eq!(
            find_novnc(Some(dir.path().to_path_buf())).unwrap(),
            Some(dir.path().to_path_buf())
        );
    }
}
