//! A minimal MCP client over Streamable HTTP, for the benchmark: JSON-RPC requests POSTed to
//! `/mcp` on one kept-alive HTTP/1.1 connection, answered with JSON bodies.
//!
//! Hand-written on a tokio `TcpStream` rather than a general HTTP client: the server under test
//! is ours (stateless, JSON responses, Content-Length bodies), so a few dozen lines cover it and
//! nothing between the clock and the socket is hidden. It does what a real MCP client does per
//! call (serialize the request, send it, read the whole response, parse the JSON) and no more.

use std::net::SocketAddr;

use anyhow::{bail, Context as _};
use base64::Engine as _;
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::TcpStream;

/// The protocol version sent in `mcp-protocol-version` (the era most clients speak today).
const PROTOCOL_VERSION: &str = "2025-11-25";

/// No call takes this long unless the server is stuck (stabilize waits at most 2.5 s, a
/// restarting desktop answers at once); the bench then reports the call as failed.
const CALL_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// Responses larger than this are refused (a full-screen PNG is a few MiB of base64).
const MAX_BODY: usize = 64 << 20;

/// One MCP client with its own connection. Not shared: concurrent clients each make one.
#[derive(Debug)]
pub(crate) struct Client {
    addr: SocketAddr,
    /// The MCP endpoint: `/mcp`, or a desktop's own `/desktops/{id}/mcp`.
    path: String,
    conn: Option<BufReader<TcpStream>>,
    next_id: u64,
}

/// A `tools/call` result that came back as a JSON-RPC result (it may still be `isError`).
#[derive(Debug, Clone)]
pub(crate) struct ToolResult {
    pub(crate) is_error: bool,
    /// The whole `result` object.
    pub(crate) result: Value,
}

/// An input tool's feedback: `{"action", "screen_changed", "reaction_time_ms"}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Feedback {
    pub(crate) screen_changed: bool,
    pub(crate) reaction_time_ms: u64,
}

impl ToolResult {
    /// The first text content, if any.
    pub(crate) fn text(&self) -> Option<&str> {
        self.result["content"]
            .as_array()?
            .iter()
            .find(|c| c["type"] == "text")?["text"]
            .as_str()
    }

    /// The first image content, decoded from base64.
    pub(crate) fn image(&self) -> anyhow::Result<Vec<u8>> {
        let data = self.result["content"]
            .as_array()
            .and_then(|c| c.iter().find(|c| c["type"] == "image"))
            .and_then(|c| c["data"].as_str())
            .context("the result holds no image")?;
        base64::engine::general_purpose::STANDARD
            .decode(data)
            .context("the image is not valid base64")
    }

    /// The first image content's MIME type.
    pub(crate) fn mime_type(&self) -> Option<&str> {
        self.result["content"]
            .as_array()?
            .iter()
            .find(|c| c["type"] == "image")?["mimeType"]
            .as_str()
    }

    /// The feedback JSON of an input tool.
    pub(crate) fn feedback(&self) -> anyhow::Result<Feedback> {
        let text = self.text().context("the result holds no text")?;
        let value: Value = serde_json::from_str(text).context("the feedback is not JSON")?;
        Ok(Feedback {
            screen_changed: value["screen_changed"]
                .as_bool()
                .context("the feedback has no screen_changed")?,
            reaction_time_ms: value["reaction_time_ms"].as_u64().unwrap_or(0),
        })
    }

    /// What an error result says, for reports.
    pub(crate) fn error_text(&self) -> String {
        self.text()
            .unwrap_or("(no text)")
            .chars()
            .take(300)
            .collect()
    }
}

impl Client {
    /// A client for the server at `addr`; it connects on first use.
    pub(crate) fn new(addr: SocketAddr) -> Client {
        Client::at(addr, "/mcp")
    }

    /// A client of the MCP endpoint at `path` (a desktop's own, say).
    pub(crate) fn at(addr: SocketAddr, path: &str) -> Client {
        Client {
            addr,
            path: path.to_string(),
            conn: None,
            next_id: 1,
        }
    }

    /// One REST call (`/api/...`): the HTTP status and the JSON answer.
    pub(crate) async fn rest(
        &mut self,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<(u16, Value)> {
        let bytes = match &body {
            Some(body) => serde_json::to_vec(body)?,
            None => Vec::new(),
        };
        let (status, answer) = self.http(method, path, &bytes).await?;
        let value = serde_json::from_slice(&answer).with_context(|| {
            format!(
                "{method} {path}: HTTP {status}, not JSON: {}",
                String::from_utf8_lossy(&answer[..answer.len().min(300)])
            )
        })?;
        Ok((status, value))
    }

    /// Calls a tool. Transport and JSON-RPC errors are `Err`; a tool error is `Ok` with
    /// `is_error` set.
    pub(crate) async fn call_tool(
        &mut self,
        name: &str,
        arguments: Value,
    ) -> anyhow::Result<ToolResult> {
        let result = self
            .request("tools/call", json!({"name": name, "arguments": arguments}))
            .await?;
        Ok(ToolResult {
            is_error: result["isError"].as_bool().unwrap_or(false),
            result,
        })
    }

    /// Sends one JSON-RPC request and returns its `result`.
    pub(crate) async fn request(&mut self, method: &str, params: Value) -> anyhow::Result<Value> {
        let id = self.next_id;
        self.next_id += 1;
        let body = serde_json::to_vec(&json!({
            "jsonrpc": "2.0", "id": id, "method": method, "params": params,
        }))?;
        let path = self.path.clone();
        let (status, body) = self.http("POST", &path, &body).await?;
        let mut response: Value = serde_json::from_slice(&body).with_context(|| {
            format!(
                "HTTP {status}: the response to {method} is not JSON: {}",
                String::from_utf8_lossy(&body[..body.len().min(300)])
            )
        })?;
        if let Some(error) = response.get("error") {
            bail!("{method}: JSON-RPC error {error}");
        }
        if status != 200 {
            bail!("{method}: HTTP {status}");
        }
        match response.get_mut("result") {
            Some(result) => Ok(result.take()),
            None => bail!("{method}: the response has neither result nor error"),
        }
    }

    /// One HTTP exchange with a raw body: the status and the raw answer.
    pub(crate) async fn raw(
        &mut self,
        method: &str,
        path: &str,
        body: &[u8],
    ) -> anyhow::Result<(u16, Vec<u8>)> {
        self.http(method, path, body).await
    }

    /// GETs a JSON document, such as `/healthz`.
    pub(crate) async fn get_json(&mut self, path: &str) -> anyhow::Result<Value> {
        let (status, body) = self.http("GET", path, &[]).await?;
        if status != 200 {
            bail!("GET {path}: HTTP {status}");
        }
        serde_json::from_slice(&body).with_context(|| format!("GET {path}: not JSON"))
    }

    /// One HTTP exchange, within [`CALL_TIMEOUT`].
    async fn http(
        &mut self,
        method: &str,
        path: &str,
        body: &[u8],
    ) -> anyhow::Result<(u16, Vec<u8>)> {
        let exchanged = tokio::time::timeout(CALL_TIMEOUT, self.retrying(method, path, body)).await;
        exchanged.unwrap_or_else(|_| {
            // The connection is somewhere in the middle of an exchange: never reuse it.
            self.conn = None;
            bail!("{method} {path}: no response within {CALL_TIMEOUT:?}")
        })
    }

    /// A kept-alive connection the server has closed in the meantime fails before any response
    /// byte arrives; that case, and only on a reused connection, is retried once on a new one.
    /// Any other failure is the call's.
    async fn retrying(
        &mut self,
        method: &str,
        path: &str,
        body: &[u8],
    ) -> anyhow::Result<(u16, Vec<u8>)> {
        let reused = self.conn.is_some();
        match self.exchange(method, path, body).await {
            Ok(answer) => Ok(answer),
            Err(Exchange::BeforeResponse(_)) if reused => {
                self.conn = None;
                self.exchange(method, path, body)
                    .await
                    .map_err(Exchange::into_error)
            }
            Err(e) => {
                self.conn = None;
                Err(e.into_error())
            }
        }
    }

    async fn exchange(
        &mut self,
        method: &str,
        path: &str,
        body: &[u8],
    ) -> Result<(u16, Vec<u8>), Exchange> {
        if self.conn.is_none() {
            let stream = TcpStream::connect(self.addr)
                .await
                .map_err(|e| Exchange::Connect(e.into()))?;
            // Requests are written in one piece; without this, Nagle's algorithm and delayed
            // ACKs can add tens of milliseconds to a small exchange.
            stream
                .set_nodelay(true)
                .map_err(|e| Exchange::Connect(e.into()))?;
            self.conn = Some(BufReader::new(stream));
        }
        let conn = self.conn.as_mut().expect("connected above");
        let mut request = format!(
            "{method} {path} HTTP/1.1\r\nhost: {}\r\ncontent-type: application/json\r\n\
             accept: application/json, text/event-stream\r\n\
             mcp-protocol-version: {PROTOCOL_VERSION}\r\ncontent-length: {}\r\n\r\n",
            self.addr,
            body.len()
        )
        .into_bytes();
        request.extend_from_slice(body);
        conn.get_mut()
            .write_all(&request)
            .await
            .map_err(|e| Exchange::BeforeResponse(e.into()))?;
        let mut line = String::new();
        match conn.read_line(&mut line).await {
            Ok(0) => {
                return Err(Exchange::BeforeResponse(anyhow::anyhow!(
                    "connection closed"
                )))
            }
            Ok(_) => {}
            Err(e) => return Err(Exchange::BeforeResponse(e.into())),
        }
        let answer = read_response(conn, &line).await.map_err(Exchange::During)?;
        if answer.close {
            self.conn = None;
        }
        Ok((answer.status, answer.body))
    }
}

/// Where an exchange failed, which decides whether it may be retried.
enum Exchange {
    Connect(anyhow::Error),
    BeforeResponse(anyhow::Error),
    During(anyhow::Error),
}

impl Exchange {
    fn into_error(self) -> anyhow::Error {
        match self {
            Exchange::Connect(e) => e.context("error connecting to the server"),
            Exchange::BeforeResponse(e) => e.context("the server closed the connection"),
            Exchange::During(e) => e.context("error reading the response"),
        }
    }
}

struct Response {
    status: u16,
    body: Vec<u8>,
    close: bool,
}

/// Reads the rest of a response whose status line is `status_line`.
async fn read_response(
    conn: &mut BufReader<TcpStream>,
    status_line: &str,
) -> anyhow::Result<Response> {
    let status = parse_status_line(status_line)?;
    let mut length = None;
    let mut chunked = false;
    let mut close = false;
    let mut line = String::new();
    loop {
        line.clear();
        if conn.read_line(&mut line).await? == 0 {
            bail!("connection closed in the headers");
        }
        let header = line.trim_end();
        if header.is_empty() {
            break;
        }
        let Some((name, value)) = header.split_once(':') else {
            bail!("malformed header {header:?}");
        };
        let value = value.trim();
        match name.trim().to_ascii_lowercase().as_str() {
            "content-length" => length = Some(value.parse::<usize>()?),
            "transfer-encoding" => chunked = value.eq_ignore_ascii_case("chunked"),
            "connection" => close = value.eq_ignore_ascii_case("close"),
            _ => {}
        }
    }
    let body = if chunked {
        read_chunked(conn).await?
    } else if let Some(length) = length {
        if length > MAX_BODY {
            bail!("response of {length} bytes is too large");
        }
        let mut body = vec![0; length];
        conn.read_exact(&mut body).await?;
        body
    } else {
        close = true;
        let mut body = Vec::new();
        conn.read_to_end(&mut body).await?;
        body
    };
    Ok(Response {
        status,
        body,
        close,
    })
}

async fn read_chunked(conn: &mut BufReader<TcpStream>) -> anyhow::Result<Vec<u8>> {
    let mut body = Vec::new();
    let mut line = String::new();
    loop {
        line.clear();
        conn.read_line(&mut line).await?;
        let size = line.trim_end().split(';').next().unwrap_or("");
        let size = usize::from_str_radix(size.trim(), 16)
            .with_context(|| format!("bad chunk size {line:?}"))?;
        if size == 0 {
            // Trailers, then the blank line that ends the body.
            loop {
                line.clear();
                if conn.read_line(&mut line).await? == 0 || line.trim_end().is_empty() {
                    return Ok(body);
                }
            }
        }
        if body.len() + size > MAX_BODY {
            bail!("response is too large");
        }
        let start = body.len();
        body.resize(start + size, 0);
        conn.read_exact(&mut body[start..]).await?;
        let mut crlf = [0; 2];
        conn.read_exact(&mut crlf).await?;
    }
}

/// The status code of an HTTP/1.x status line.
fn parse_status_line(line: &str) -> anyhow::Result<u16> {
    let mut parts = line.split_whitespace();
    match (parts.next(), parts.next().map(str::parse::<u16>)) {
        (Some(v), Some(Ok(code))) if v.starts_with("HTTP/1.") => Ok(code),
        _ => bail!("not an HTTP/1.x status line: {:?}", line.trim_end()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lines() {
        assert_eq!(parse_status_line("HTTP/1.1 200 OK\r\n").unwrap(), 200);
        assert_eq!(
            parse_status_line("HTTP/1.0 421 Misdirected\r\n").unwrap(),
            421
        );
        assert!(parse_status_line("SSH-2.0-OpenSSH\r\n").is_err());
    }

    #[test]
    fn results_are_read_as_mcp_shapes_them() {
        let feedback = ToolResult {
            is_error: false,
            result: json!({"content": [{"type": "text", "text":
                "{\n  \"action\": \"Typed 5 characters\",\n  \"screen_changed\": true,\n  \"reaction_time_ms\": 4\n}"}]}),
        };
        assert_eq!(
            feedback.feedback().unwrap(),
            Feedback {
                screen_changed: true,
                reaction_time_ms: 4
            }
        );
        let image = ToolResult {
            is_error: false,
            result: json!({"content": [{"type": "image", "data": "aGVsbG8=", "mimeType": "image/png"}]}),
        };
        assert_eq!(image.image().unwrap(), b"hello");
        assert_eq!(image.mime_type(), Some("image/png"));
        assert!(image.feedback().is_err());
    }

    /// A server that answers one kept-alive response, then closes: the next request is retried
    /// on a new connection; a chunked body is read whole.
    #[tokio::test]
    async fn keep_alive_and_chunked_bodies() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            for answer in [
                "HTTP/1.1 200 OK\r\ncontent-length: 41\r\n\r\n{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"a\":1}}",
                "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n\
                 14\r\n{\"jsonrpc\":\"2.0\",\"id\r\n15\r\n\":2,\"result\":{\"b\":2}}\r\n0\r\n\r\n",
            ] {
                let (mut stream, _) = listener.accept().await.unwrap();
                let mut buf = vec![0; 4096];
                let _ = stream.read(&mut buf).await.unwrap();
                stream.write_all(answer.as_bytes()).await.unwrap();
                // Closing after one answer makes the client's kept-alive connection stale.
            }
        });
        let mut client = Client::new(addr);
        assert_eq!(
            client.request("x", json!({})).await.unwrap(),
            json!({"a": 1})
        );
        assert_eq!(
            client.request("y", json!({})).await.unwrap(),
            json!({"b": 2})
        );
        server.await.unwrap();
    }
}
