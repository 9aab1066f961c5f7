//! The live view's login: `GET /login` shows a form, `POST /login` trades a token for a
//! session cookie (HttpOnly, SameSite=Strict, `Secure` over HTTPS), `POST /logout` ends it.
//! These three are outside the gate (a visitor has no credential yet) and do their own checks:
//! Origin and Host (a foreign page must not log a browser in or out), a small body, and a
//! per-address limit on attempts. Tokens stay in the request body: never in a URL, never logged.
//!
//! In the open loopback posture there is nothing to log in to; the page sends the browser on.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use agentdesk_security::{cookie_values, SESSION_TTL};
use axum::extract::{ConnectInfo, Query, State};
use axum::response::{IntoResponse as _, Response};
use axum::Form;
use http::{header, HeaderMap, StatusCode};

use crate::auth::{Current, Identity};
use crate::guard::Peer;
use crate::state::AppState;
use crate::web::{escape, html};

/// The largest login form accepted (a token is at most a few hundred bytes).
pub(crate) const MAX_FORM_BYTES: usize = 8 * 1024;

/// Where to go after logging in: a local path (never another site), else the default view.
fn next_path(next: Option<&str>) -> String {
    match next {
        Some(p)
            if p.starts_with('/')
                && !p.starts_with("//")
                && p.len() <= 512
                && p.bytes().all(|b| b.is_ascii_graphic() && b != b'\\') =>
        {
            p.to_string()
        }
        _ => "/".to_string(),
    }
}

fn see_other(location: &str) -> Response {
    (
        StatusCode::SEE_OTHER,
        [(header::LOCATION, location.to_string())],
    )
        .into_response()
}

fn page(status: StatusCode, next: &str, error: Option<&str>) -> Response {
    let error = error
        .map(|e| format!("<p class=\"error\" role=\"alert\">{}</p>", escape(e)))
        .unwrap_or_default();
    html(
        status,
        include_str!("../assets/login.html")
            .replace("{{error}}", &error)
            .replace("{{next}}", &escape(next)),
    )
}

/// The query of `GET /login`.
#[derive(Debug, serde::Deserialize)]
pub(crate) struct NextQuery {
    next: Option<String>,
    /// Refused if present: a link with the token in it would leave it in histories and logs.
    token: Option<String>,
}

/// `GET /login`.
pub(crate) async fn form(
    State(app): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(query): Query<NextQuery>,
) -> Response {
    let next = next_path(query.next.as_deref());
    if query.token.is_some() {
        return page(
            StatusCode::BAD_REQUEST,
            &next,
            Some("Tokens are never accepted in URLs (they end up in histories and logs): paste it here instead, and treat the one in that link as exposed."),
        );
    }
    // Nothing to log in to, or already logged in: go on.
    if matches!(app.gate.identify_browser(&headers).0, Identity::Known(..)) {
        return see_other(&next);
    }
    page(StatusCode::OK, &next, None)
}

/// The login form's fields.
#[derive(serde::Deserialize)]
pub(crate) struct LoginForm {
    token: String,
    next: Option<String>,
}

/// `POST /login`.
pub(crate) async fn login(
    State(app): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<Peer>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    if let Some(refusal) = app.gate.foreign_page(&headers) {
        return refusal.into_response();
    }
    let next = next_path(form.next.as_deref());
    let set = match app.gate.tokens.current() {
        Current::Open => return see_other(&next),
        Current::Set(set) => set,
        Current::Unavailable => {
            return page(
                StatusCode::SERVICE_UNAVAILABLE,
                &next,
                Some("The server's token file is broken, so nobody can log in; its operator must fix it."),
            )
        }
    };
    let ip: IpAddr = peer.0.ip();
    if crate::lock(&app.login_limiter)
        .check(&ip.to_string(), Instant::now())
        .is_err()
    {
        tracing::warn!(%peer, "login attempts over the limit refused");
        return page(
            StatusCode::TOO_MANY_REQUESTS,
            &next,
            Some("Too many attempts from this address; wait a few seconds and try again."),
        );
    }
    let opened = crate::lock(&app.gate.sessions).open(
        &set,
        form.token.trim(),
        rand::random(),
        Instant::now(),
    );
    let Some((name, cookie)) = opened else {
        tracing::warn!(%peer, "a live-view login with an invalid token was refused");
        return page(
            StatusCode::UNAUTHORIZED,
            &next,
            Some(
                "That token is not valid (wrong, or revoked). Ask the operator for a current one.",
            ),
        );
    };
    tracing::info!(%peer, token = %name, "live-view session opened");
    // Secure over our own TLS, and behind a TLS proxy (the page's origin is https).
    let https_page = headers
        .get(header::ORIGIN)
        .and_then(|o| o.to_str().ok())
        .is_some_and(|o| o.starts_with("https://"));
    let secure = if app.secure_cookies || https_page {
        "; Secure"
    } else {
        ""
    };
    let mut response = see_other(&next);
    if let Ok(value) = format!(
        "{}={cookie}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{secure}",
        app.gate.cookie_name,
        SESSION_TTL.as_secs()
    )
    .parse()
    {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

/// `POST /logout`: ends the session and clears the cookie.
pub(crate) async fn logout(State(app): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    if let Some(refusal) = app.gate.foreign_page(&headers) {
        return refusal.into_response();
    }
    for header in headers.get_all(header::COOKIE) {
        let Ok(header) = header.to_str() else {
            continue;
        };
        for cookie in cookie_values(header, &app.gate.cookie_name) {
            crate::lock(&app.gate.sessions).close(cookie);
        }
    }
    let secure = if app.secure_cookies { "; Secure" } else { "" };
    let mut response = see_other("/login");
    if let Ok(value) = format!(
        "{}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{secure}",
        app.gate.cookie_name
    )
    .parse()
    {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_paths_are_followed_after_login() {
        assert_eq!(
            next_path(Some("/desktops/default/view")),
            "/desktops/default/view"
        );
        for bad in [
            "https://evil.example/",
            "//evil.example/x",
            "/\\evil.example",
            "javascript:alert(1)",
            "/a b",
            "",
        ] {
            assert_eq!(next_path(Some(bad)), "/", "{bad:?}");
        }
        assert_eq!(next_path(None), "/");
    }
}
