//! The gate every request passes before it reaches MCP (and every surface added later):
//! no tokens in URLs, a valid bearer token when tokens are configured, a bounded body, and
//! the per-token rate limit on tool calls.
//!
//! Answers follow RFC 6750 for authentication (401 with `WWW-Authenticate: Bearer`; no OAuth
//! metadata, since there is no authorization server: the MCP specification lets servers use
//! their own authentication). Refusals of a
//! JSON-RPC request that was read (413, 429) carry a JSON-RPC error body with the request's
//! id, so clients that show the body show a message an agent can act on.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use agentdesk_desktop::{Caller, DesktopId};
use agentdesk_security::{RateLimit, RateLimiter, Sessions};
use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse as _, Response};
use http::{header, HeaderValue, StatusCode};
use serde_json::Value;

use crate::audit::{Outcome, Place};
use crate::auth::{Identity, Tokens};
use crate::envelope::{self, CallKind, Envelope, RefusalKind};
use crate::state::AppState;

/// A request body must arrive within this; a client trickling bytes holds a connection, not
/// the server.
const BODY_TIMEOUT: Duration = Duration::from_secs(30);

/// Query parameters that look like credentials. Tokens in URLs end up in proxy logs, shell
/// history and browser history, so such requests are refused rather than silently ignored.
const TOKEN_QUERY_NAMES: &[&str] = &[
    "token",
    "access_token",
    "auth",
    "auth_token",
    "authorization",
    "api_key",
    "apikey",
    "bearer",
];

/// The remote address of a connection, plain or TLS (axum has `Connected` impls for a bare
/// `TcpListener` only). A router served otherwise (in tests) needs it as a `ConnectInfo`
/// extension of each request.
#[derive(Debug, Clone, Copy)]
pub struct Peer(pub SocketAddr);

impl std::fmt::Display for Peer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl
    axum::extract::connect_info::Connected<axum::serve::IncomingStream<'_, tokio::net::TcpListener>>
    for Peer
{
    fn connect_info(stream: axum::serve::IncomingStream<'_, tokio::net::TcpListener>) -> Peer {
        Peer(*stream.remote_addr())
    }
}

impl
    axum::extract::connect_info::Connected<axum::serve::IncomingStream<'_, crate::tls::TlsListener>>
    for Peer
{
    fn connect_info(stream: axum::serve::IncomingStream<'_, crate::tls::TlsListener>) -> Peer {
        Peer(*stream.remote_addr())
    }
}

/// The caller of a request, as the gate identified it; handlers read it from the request's
/// extensions (rmcp passes them on in `http::request::Parts`).
#[derive(Debug, Clone)]
pub(crate) struct Principal {
    /// The token's name ([`crate::auth::ANONYMOUS`] on an open listener).
    pub(crate) name: Arc<str>,
    /// Whether it sees and manages every desktop.
    pub(crate) admin: bool,
}

impl Principal {
    /// The caller as the desktop manager's ownership rules know it.
    pub(crate) fn caller(&self) -> Caller {
        Caller {
            name: self.name.to_string(),
            admin: self.admin,
        }
    }
}

/// What a request's path addresses, as far as the gate cares.
#[derive(Debug, Clone, Default)]
pub(crate) struct Route {
    /// MCP (`/mcp`, `/desktops/{id}/mcp`): JSON-RPC, checked and rate-limited per call.
    pub(crate) mcp: bool,
    /// For agents and their tools only (MCP and the REST API): a bearer token, never the live
    /// view's cookie (a page must not act through a person's browser session).
    pub(crate) agent: bool,
    /// The desktop a `/desktops/{id}/...` path names (`Err` if the id is not one).
    pub(crate) desktop: Option<Result<DesktopId, ()>>,
    /// A computer-use executor endpoint: rate-limited with the token's tool calls.
    pub(crate) computer: bool,
}

impl Route {
    pub(crate) fn of(path: &str) -> Route {
        if path == "/mcp" || path.starts_with("/mcp/") {
            return Route {
                mcp: true,
                agent: true,
                ..Route::default()
            };
        }
        if path == "/api" || path.starts_with("/api/") {
            return Route {
                agent: true,
                ..Route::default()
            };
        }
        if let Some(rest) = path.strip_prefix("/desktops/") {
            let (id, tail) = rest.split_once('/').unwrap_or((rest, ""));
            let mcp = tail == "mcp";
            // The executor endpoints act like tools: a bearer token only.
            let computer = tail == "computer" || tail.starts_with("computer/");
            return Route {
                mcp,
                agent: mcp || computer,
                desktop: Some(DesktopId::parse(id).map_err(drop)),
                computer,
            };
        }
        Route::default()
    }
}

/// What the gate accepted a request on, kept in its extensions so that a long-lived connection
/// (the live view's WebSocket) can ask again, later, whether it still holds: a revoked token or
/// a closed session ends the connection, not only the next request.
#[derive(Clone)]
pub(crate) enum Credential {
    /// No token configured (loopback, open).
    Open,
    /// An `Authorization` header value.
    Bearer(Arc<str>),
    /// A live-view session cookie's value.
    Session(Arc<str>),
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the secret itself.
        f.write_str(match self {
            Credential::Open => "Open",
            Credential::Bearer(_) => "Bearer(..)",
            Credential::Session(_) => "Session(..)",
        })
    }
}

/// The gate's configuration and state: who may call (tokens, browser sessions), from where
/// (Origin, Host), how much (body size, rates).
#[derive(Debug)]
pub(crate) struct Gate {
    pub(crate) tokens: Tokens,
    pub(crate) limit: Option<RateLimit>,
    pub(crate) limiter: Mutex<Option<RateLimiter>>,
    /// The same rate for the live view's actions and the REST API's changes, in buckets of
    /// their own per token and kind of credential: an agent calling tools (or pressing the
    /// page's buttons with its bearer token) must never leave a person unable to take control.
    pub(crate) live_limiter: Mutex<Option<RateLimiter>>,
    pub(crate) max_body_bytes: usize,
    /// Browser origins allowed to call (MCP's check is rmcp's; the live view's is ours).
    pub(crate) allowed_origins: Vec<String>,
    /// Host names accepted, without ports (likewise).
    pub(crate) allowed_hosts: Vec<String>,
    /// The live view's browser sessions (opened on the login page).
    pub(crate) sessions: Mutex<Sessions>,
    /// The session cookie's name (`agentdesk_session_<port>`, with `__Host-` over HTTPS).
    pub(crate) cookie_name: String,
}

impl Gate {
    /// The caller's identity from a request's `Authorization` header.
    pub(crate) fn identify(&self, headers: &http::HeaderMap) -> Identity {
        let authorization = headers
            .get(header::AUTHORIZATION)
            .map(|v| v.to_str().unwrap_or("\u{0}"));
        self.tokens.identify(authorization)
    }

    /// The caller's identity for the live view, and what it rests on: a bearer token if one is
    /// sent, else the session cookie the login page set (any of its values that is valid: a
    /// page on another port of this host may have set others). MCP never takes the cookie: an
    /// agent's client carries its token, and a browser page must not drive MCP on its own.
    pub(crate) fn identify_browser(&self, headers: &http::HeaderMap) -> (Identity, Credential) {
        if let Some(value) = headers.get(header::AUTHORIZATION) {
            let value = value.to_str().unwrap_or("\u{0}");
            return (
                self.tokens.identify(Some(value)),
                Credential::Bearer(Arc::from(value)),
            );
        }
        let mut refused = None;
        for header in headers.get_all(header::COOKIE) {
            let Ok(header) = header.to_str() else {
                continue;
            };
            for value in agentdesk_security::cookie_values(header, &self.cookie_name) {
                match self.tokens.identify_session(&self.sessions, value) {
                    known @ Identity::Known(..) => {
                        return (known, Credential::Session(Arc::from(value)))
                    }
                    other => refused = Some(other),
                }
            }
        }
        match refused {
            Some(identity) => (identity, Credential::Open),
            None => (self.identify(headers), Credential::Open),
        }
    }

    /// Whether what a request was accepted on still holds.
    pub(crate) fn still_valid(&self, credential: &Credential) -> bool {
        let identity = match credential {
            Credential::Open => self.tokens.identify(None),
            Credential::Bearer(value) => self.tokens.identify(Some(value)),
            Credential::Session(value) => self.tokens.identify_session(&self.sessions, value),
        };
        matches!(identity, Identity::Known(..))
    }

    /// `Some(403)` for a request a page from another site made (Origin) or that reached us under
    /// another name (Host, DNS rebinding): such a page must neither call tools, nor watch, nor
    /// take control. The gate asks this before it reads a body or counts a call against a
    /// token's rate (on an open listener, a page's requests would otherwise use up the local
    /// agent's); rmcp checks MCP's again after.
    pub(crate) fn foreign_page(&self, headers: &http::HeaderMap) -> Option<Refusal> {
        let host = headers
            .get(http::header::HOST)
            .and_then(|h| h.to_str().ok());
        let origin_ok = headers.get(http::header::ORIGIN).is_none_or(|o| {
            o.to_str().is_ok_and(|o| {
                self.allowed_origins.iter().any(|a| a == o)
                    || host.is_some_and(|host| same_authority(o, host))
            })
        });
        let host_ok = headers.get(http::header::HOST).is_none_or(|h| {
            h.to_str().is_ok_and(|h| {
                let name = match h.rsplit_once(':') {
                    Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
                    _ => h,
                };
                let name = name.trim_start_matches('[').trim_end_matches(']');
                self.allowed_hosts.iter().any(|a| a == name)
            })
        });
        (!(origin_ok && host_ok)).then(|| {
            Refusal(
                StatusCode::FORBIDDEN,
                "forbidden: the request's Origin or Host is not this server's (a page of another \
                 site, or a name this server does not answer to; see --allowed-origin and \
                 --allowed-host)"
                    .into(),
            )
        })
    }
}

/// A refused live-view request: a status and a line saying why (small, so handlers can use `?`).
#[derive(Debug)]
pub(crate) struct Refusal(pub(crate) StatusCode, pub(crate) String);

impl axum::response::IntoResponse for Refusal {
    fn into_response(self) -> Response {
        text(self.0, &self.1)
    }
}

/// Whether an `Origin` names the `Host` a request was sent to (whatever the scheme: behind a
/// TLS proxy the page is https and we are http), default ports aside. The Host itself is
/// checked against the allowed names, so a page from elsewhere never matches: this is how the
/// live view works at a public name or address without listing it in `--allowed-origin`.
fn same_authority(origin: &str, host: &str) -> bool {
    let Some((scheme, authority)) = origin.split_once("://") else {
        return false;
    };
    let default_port = match scheme {
        "http" => ":80",
        "https" => ":443",
        _ => return false,
    };
    let strip = |a: &str| {
        a.strip_suffix(default_port)
            .unwrap_or(a)
            .to_ascii_lowercase()
    };
    strip(authority) == strip(host)
}

/// Whether a request is a browser loading a page (not a script, a WebSocket or an agent):
/// such a request without credentials is sent to the login page rather than refused.
fn is_page_load(request: &Request) -> bool {
    request.method() == http::Method::GET
        && !request.headers().contains_key(header::UPGRADE)
        && request
            .headers()
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|accept| accept.contains("text/html"))
}

/// 303 to the login page, which comes back to `path` after.
fn to_login(path: &str) -> Response {
    let next: String = path
        .bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'/' | b'-' | b'_' | b'.' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect();
    (
        StatusCode::SEE_OTHER,
        [(header::LOCATION, format!("/login?next={next}"))],
    )
        .into_response()
}

fn text(status: StatusCode, message: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        format!("{message}\n"),
    )
        .into_response()
}

fn jsonrpc_error(status: StatusCode, id: Value, code: i64, message: &str) -> Response {
    let body = envelope::error_message(&id, code, message);
    (status, axum::Json(body)).into_response()
}

fn unauthorized(error: Option<&str>) -> Response {
    let (challenge, message) = match error {
        None => (
            "Bearer realm=\"agentdesk\"".to_string(),
            "this agentdesk requires a token: send the header Authorization: Bearer <token>",
        ),
        Some(description) => (
            format!("Bearer realm=\"agentdesk\", error=\"invalid_token\", error_description=\"{description}\""),
            "the bearer token is not valid (wrong or revoked); ask the operator for a current one",
        ),
    };
    let mut response = text(StatusCode::UNAUTHORIZED, message);
    if let Ok(value) = HeaderValue::from_str(&challenge) {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, value);
    }
    response
}

/// The middleware (axum `from_fn_with_state`).
pub(crate) async fn gate(
    State(app): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<Peer>,
    request: Request,
    next: Next,
) -> Response {
    if request.uri().authority().is_some() {
        // Absolute-form targets ("POST http://host/mcp") are for proxies; the Host check would
        // look at a Host header that such a request's target overrides (RFC 9112 §3.2.2).
        return text(
            StatusCode::BAD_REQUEST,
            "a full URL in the request line is for proxies; request the path /mcp",
        );
    }
    if let Some(query) = request.uri().query() {
        let has_token = query.split('&').any(|pair| {
            let name = pair.split('=').next().unwrap_or("");
            TOKEN_QUERY_NAMES
                .iter()
                .any(|t| name.eq_ignore_ascii_case(t))
        });
        if has_token {
            tracing::warn!(%peer, "refused a request with a credential in its URL");
            return text(
                StatusCode::BAD_REQUEST,
                "tokens are never accepted in URLs (they end up in logs and histories); send the \
                 header Authorization: Bearer <token> and remove the token from the URL",
            );
        }
    }
    let route = Route::of(request.uri().path());
    let (identity, credential) = if route.agent {
        // Never the cookie; the bearer token is kept for what outlives the request (an agent
        // loop's task asks at every step whether its creator's token still holds).
        let credential = match request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
        {
            Some(value) => Credential::Bearer(Arc::from(value)),
            None => Credential::Open,
        };
        (app.gate.identify(request.headers()), credential)
    } else {
        app.gate.identify_browser(request.headers())
    };
    if matches!(identity, Identity::Missing | Identity::Invalid)
        && !route.agent
        && is_page_load(&request)
    {
        return to_login(request.uri().path());
    }
    let (principal, admin): (Arc<str>, bool) = match identity {
        Identity::Known(name, admin) => (name, admin),
        Identity::Missing => {
            tracing::info!(%peer, "refused a request without a token");
            return unauthorized(None);
        }
        Identity::Invalid => {
            tracing::warn!(%peer, "refused a request with an invalid or revoked token");
            return unauthorized(Some("unknown or revoked token"));
        }
        Identity::Unavailable => {
            return text(
                StatusCode::SERVICE_UNAVAILABLE,
                "the server's token file is missing or invalid, so no token can be checked; the \
                 operator must fix it (the server log names the problem)",
            );
        }
    };
    let (mut parts, body) = request.into_parts();
    if let Some(refusal) = app.gate.foreign_page(&parts.headers) {
        return refusal.into_response();
    }
    let principal = Principal {
        admin,
        name: principal,
    };
    let caller = principal.caller();
    // A desktop the caller may not see does not exist, on every surface under its path (its
    // MCP endpoint, view, WebSocket, control): the answer is the same as for an unknown id.
    let named = match &route.desktop {
        Some(Ok(id)) => match app.manager.data_dir_of(id, &caller) {
            Some(dir) => Some(Place {
                dir,
                desktop: id.to_string(),
            }),
            None => return text(StatusCode::NOT_FOUND, "no such desktop here"),
        },
        Some(Err(())) => return text(StatusCode::NOT_FOUND, "no such desktop here"),
        None => None,
    };
    let principal_name = principal.name.clone();
    parts.extensions.insert(principal);
    parts.extensions.insert(credential);
    // Reads, and whatever else MCP's transport answers itself (it refuses GET and DELETE).
    let changes = !matches!(parts.method, http::Method::GET | http::Method::HEAD);
    if !changes || (route.mcp && parts.method != http::Method::POST) {
        return next.run(Request::from_parts(parts, body)).await;
    }
    // Where a refusal of this request is counted.
    let place = match named {
        Some(place) => place,
        None if route.mcp => Place::of(&app.manager, app.manager.default_id(), &caller),
        None => Place::server(&app.manager),
    };
    let principal = principal_name;
    // The live view's POSTs (take control, answer help) and the REST API's changes write the
    // audit log: they count against a rate of their own, per token and kind of credential.
    // They carry no JSON-RPC to check.
    if !route.mcp {
        let kind = match parts.extensions.get::<Credential>() {
            Some(Credential::Bearer(_)) if route.agent => "api",
            Some(Credential::Bearer(_)) => "bearer",
            Some(Credential::Session(_)) => "session",
            _ if route.agent => "api",
            _ => "open",
        };
        // An executor request is an agent's tool use: it draws on the same bucket as the
        // token's MCP tool calls, not on a second budget of its own.
        let wait = if route.computer {
            over(&app.gate.limiter, &principal)
        } else {
            over(&app.gate.live_limiter, &format!("{principal}/{kind}"))
        };
        if let Some(wait) = wait {
            app.audit.refuse(
                &place,
                &principal,
                if route.agent { "api" } else { "live_view" },
                Outcome::RateLimited,
                "rate limited",
            );
            let mut response = text(
                StatusCode::TOO_MANY_REQUESTS,
                &format!("rate limited: retry in {} ms", wait.as_millis().max(1)),
            );
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after(wait)));
            return response;
        }
        return next.run(Request::from_parts(parts, body)).await;
    }
    let bytes = match read_body(&app.gate, &parts.headers, body).await {
        Ok(bytes) => bytes,
        Err(refusal) => return refusal,
    };
    // Protocol versions are dates: from 2026-07-28 on, the modern era.
    let modern = parts
        .headers
        .get("mcp-protocol-version")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim() >= "2026-07-28");
    let envelope = match envelope::check(&bytes, modern) {
        Ok(envelope) => envelope,
        Err(refusal) => {
            if let RefusalKind::Tool { name } = &refusal.kind {
                app.audit.refuse(
                    &place,
                    &principal,
                    name,
                    Outcome::Rejected,
                    &refusal.message,
                );
            }
            let status = if refusal.bad_request() {
                StatusCode::BAD_REQUEST
            } else {
                StatusCode::OK
            };
            return (status, axum::Json(refusal.answer())).into_response();
        }
    };
    if let Some(refusal) = rate_limit(&app, &place, &principal, envelope) {
        return refusal;
    }
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

/// Reads a request body: at most `max_body_bytes`, within [`BODY_TIMEOUT`].
async fn read_body(
    gate: &Gate,
    headers: &http::HeaderMap,
    body: Body,
) -> Result<axum::body::Bytes, Response> {
    let too_large = || {
        let mib = gate.max_body_bytes / (1024 * 1024);
        jsonrpc_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            Value::Null,
            -32600,
            &format!(
                "request body over the {mib} MiB limit; send less (key_type takes at most {} \
                 characters, clipboard_set {} bytes)",
                agentdesk_desktop::MAX_TYPED_CHARS,
                agentdesk_desktop::MAX_CLIPBOARD_BYTES
            ),
        )
    };
    // Refused before reading anything: no need to wait for a body that will not be accepted.
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|len| len > gate.max_body_bytes as u64) {
        return Err(too_large());
    }
    match tokio::time::timeout(
        BODY_TIMEOUT,
        axum::body::to_bytes(body, gate.max_body_bytes),
    )
    .await
    {
        Ok(Ok(bytes)) => Ok(bytes),
        Ok(Err(e)) if is_length_limit(&e) => Err(too_large()),
        Ok(Err(_)) => Err(text(
            StatusCode::BAD_REQUEST,
            "the request body could not be read (broken chunked encoding, or the connection \
             ended before Content-Length bytes arrived); send it again",
        )),
        Err(_) => Err(text(
            StatusCode::REQUEST_TIMEOUT,
            "the request body did not arrive within 30 s; send it again",
        )),
    }
}

/// Whether reading a body failed because it exceeded the limit (not because it was broken).
fn is_length_limit(e: &axum::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = source {
        if err.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        source = err.source();
    }
    false
}

/// The answer to a tool call or resource read over the caller's rate, if it is.
///
/// A tool call is answered as a tool error (a result with `isError`) that says how long to
/// wait: the model reads it and retries. A resource read, which has no such result, gets a
/// JSON-RPC error. Both come with HTTP 200 and `Retry-After`: an HTTP 429 makes the official
/// Python SDK (1.x) raise inside its transport and end the whole session, whatever the request.
fn rate_limit(
    app: &AppState,
    place: &Place,
    principal: &str,
    envelope: Envelope,
) -> Option<Response> {
    let limit = app.gate.limit?;
    let call = envelope.call?;
    let wait = over_rate(&app.gate, principal)?;
    let message = format!(
        "rate limited: retry in {} ms (at most {} calls per second per token, in bursts of {})",
        wait.as_millis().max(1),
        limit.per_second,
        limit.burst,
    );
    app.audit.refuse(
        place,
        principal,
        call.name(),
        Outcome::RateLimited,
        &message,
    );
    let id = envelope.id.unwrap_or(Value::Null);
    let body = match call {
        CallKind::Tool(_) => envelope::tool_error_message(&id, &message, envelope.modern),
        CallKind::Resource => envelope::error_message(&id, -32000, &message),
    };
    let mut response = (StatusCode::OK, axum::Json(body)).into_response();
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(retry_after(wait)));
    Some(response)
}

/// How long the caller must wait, if a call now would be over its rate (and takes a token
/// from its bucket if not). Refusals are logged by the audit log's count, once a second.
fn over_rate(gate: &Gate, principal: &str) -> Option<Duration> {
    over(&gate.limiter, principal)
}

/// [`over_rate`] for any of the gate's limiters and bucket names.
fn over(limiter: &Mutex<Option<RateLimiter>>, bucket: &str) -> Option<Duration> {
    crate::lock(limiter)
        .as_mut()?
        .check(bucket, Instant::now())
        .err()
}

/// `Retry-After`'s whole seconds for a wait.
fn retry_after(wait: Duration) -> u64 {
    wait.as_secs_f64().ceil().max(1.0) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_origin_matches_its_own_host_only() {
        for (origin, host, same) in [
            ("https://desk.example.com", "desk.example.com", true),
            ("https://desk.example.com", "desk.example.com:443", true),
            ("http://10.0.0.5:3000", "10.0.0.5:3000", true),
            (
                "https://Desk.Example.com:8443",
                "desk.example.com:8443",
                true,
            ),
            ("http://[::1]:3000", "[::1]:3000", true),
            ("http://10.0.0.5:3001", "10.0.0.5:3000", false),
            ("https://evil.example.com", "desk.example.com", false),
            (
                "https://desk.example.com.evil.com",
                "desk.example.com",
                false,
            ),
            ("null", "desk.example.com", false),
            ("file://desk.example.com", "desk.example.com", false),
            ("http://desk.example.com:443", "desk.example.com", false),
        ] {
            assert_eq!(same_authority(origin, host), same, "{origin} vs {host}");
        }
    }
}
