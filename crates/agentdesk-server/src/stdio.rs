//! MCP over stdin/stdout, with a line filter in front of rmcp.
//!
//! rmcp's stdio transport drops a line it cannot parse without a word, so a client waiting for
//! that request's answer waits forever. Here every line from stdin is checked first, as the
//! HTTP gate checks a body ([`crate::envelope`]): invalid JSON gets a -32700 Parse error with
//! id null, a line over [`MAX_LINE_BYTES`] a -32600, and only well-formed messages reach rmcp.
//! rmcp's own output and these errors are written to stdout whole line by whole line, by one
//! task, so they never interleave.

use std::sync::Arc;

use agentdesk_desktop::DesktopManager;
use rmcp::ServiceExt as _;
use serde_json::Value;
use tokio::io::{
    AsyncBufRead, AsyncBufReadExt as _, AsyncRead, AsyncReadExt as _, AsyncWrite,
    AsyncWriteExt as _,
};
use tokio::sync::mpsc;

use crate::envelope;
use crate::mcp::{AgentDesk, ServiceConfig, Transport};

/// The longest line passed on. Larger than HTTP's body limit: stdio's client is the operator's
/// own process, and the tools' own bounds (which answer with tool errors) come first.
pub(crate) const MAX_LINE_BYTES: usize = 16 * 1024 * 1024;
/// Buffer between the filter and rmcp, each way.
const PIPE_BYTES: usize = 1024 * 1024;

/// Serves MCP over stdin/stdout until stdin closes.
pub async fn serve_stdio(
    manager: Arc<DesktopManager>,
    config: ServiceConfig,
) -> anyhow::Result<()> {
    serve_lines(manager, config, tokio::io::stdin(), tokio::io::stdout()).await
}

async fn serve_lines(
    manager: Arc<DesktopManager>,
    config: ServiceConfig,
    input: impl AsyncRead + Unpin + Send + 'static,
    output: impl AsyncWrite + Unpin + Send + 'static,
) -> anyhow::Result<()> {
    let _flusher = crate::audit::RefusalFlusher::start(config.audit.clone());
    let (to_rmcp, rmcp_in) = tokio::io::duplex(PIPE_BYTES);
    let (rmcp_out, from_rmcp) = tokio::io::duplex(PIPE_BYTES);
    let (errors_tx, errors_rx) = mpsc::channel::<Vec<u8>>(64);
    let refusals = (manager.clone(), config.audit.clone());
    let reader = tokio::spawn(filter_input(input, to_rmcp, errors_tx, refusals));
    let writer = tokio::spawn(write_output(from_rmcp, errors_rx, output));
    let service = AgentDesk::new(manager, config, Transport::Stdio)
        .serve((rmcp_in, rmcp_out))
        .await
        .map_err(|e| anyhow::anyhow!("error starting the stdio MCP server: {e}"))?;
    let served = service
        .waiting()
        .await
        .map_err(|e| anyhow::anyhow!("stdio MCP server failed: {e}"));
    reader.abort();
    // rmcp's end of the output pipe is closed now: the writer drains what is left and stops.
    let _ = writer.await;
    served.map(|_| ())
}

fn line_of(message: &Value) -> Vec<u8> {
    let mut line = serde_json::to_vec(message).unwrap_or_default();
    line.push(b'\n');
    line
}

/// Reads stdin line by line; passes good lines to rmcp and answers bad ones itself (a tool call
/// refused here is counted in the audit log, as over HTTP).
async fn filter_input(
    input: impl AsyncRead + Unpin,
    mut to_rmcp: tokio::io::DuplexStream,
    errors: mpsc::Sender<Vec<u8>>,
    (manager, audit): (Arc<DesktopManager>, Arc<crate::Audit>),
) {
    let mut input = tokio::io::BufReader::new(input);
    let mut line = Vec::new();
    loop {
        line.clear();
        let limit = (MAX_LINE_BYTES + 1) as u64;
        match (&mut input).take(limit).read_until(b'\n', &mut line).await {
            Ok(0) | Err(_) => return, // EOF: dropping `to_rmcp` ends the session.
            Ok(_) => {}
        }
        if line.len() > MAX_LINE_BYTES && line.last() != Some(&b'\n') {
            if !skip_line(&mut input).await {
                return;
            }
            let message = format!("a message over {} MiB; send less", MAX_LINE_BYTES >> 20);
            let reply = envelope::error_message(&Value::Null, -32600, &message);
            let _ = errors.send(line_of(&reply)).await;
            continue;
        }
        let text = line.trim_ascii();
        if text.is_empty() {
            continue;
        }
        if let Err(refusal) = envelope::check(text, false) {
            if let envelope::RefusalKind::Tool { name } = &refusal.kind {
                let outcome = crate::audit::Outcome::Rejected;
                let operator = agentdesk_desktop::Caller {
                    name: "stdio".into(),
                    admin: true,
                };
                let place = crate::audit::Place::of(&manager, manager.default_id(), &operator);
                audit.refuse(&place, "stdio", name, outcome, &refusal.message);
            }
            let _ = errors.send(line_of(&refusal.answer())).await;
            continue;
        }
        if to_rmcp.write_all(text).await.is_err() || to_rmcp.write_all(b"\n").await.is_err() {
            return;
        }
    }
}

/// Discards input up to and including the next newline, a buffer at a time (an oversized line
/// must not be held in memory to be skipped). `false` at EOF or on an error.
async fn skip_line(input: &mut (impl AsyncBufRead + Unpin)) -> bool {
    loop {
        let (done, used) = match input.fill_buf().await {
            Ok([]) | Err(_) => return false,
            Ok(buf) => match buf.iter().position(|&b| b == b'\n') {
                Some(at) => (true, at + 1),
                None => (false, buf.len()),
            },
        };
        input.consume(used);
        if done {
            return true;
        }
    }
}

/// Writes rmcp's lines and the filter's error lines to stdout, each line whole.
async fn write_output(
    from_rmcp: tokio::io::DuplexStream,
    mut errors: mpsc::Receiver<Vec<u8>>,
    mut output: impl AsyncWrite + Unpin,
) {
    let mut lines = tokio::io::BufReader::new(from_rmcp);
    let mut line = Vec::new();
    let mut rmcp_open = true;
    loop {
        tokio::select! {
            // Errors first: each was queued before any later line reached rmcp, so answers
            // keep the order of the requests.
            biased;
            error = errors.recv() => match error {
                Some(error) => {
                    if output.write_all(&error).await.is_err() {
                        return;
                    }
                }
                None if !rmcp_open => break,
                None => {
                    // The filter has stopped; keep forwarding rmcp's answers.
                    while let Ok(n) = lines.read_until(b'\n', &mut line).await {
                        if n == 0 || output.write_all(&line).await.is_err() {
                            break;
                        }
                        line.clear();
                    }
                    break;
                }
            },
            read = lines.read_until(b'\n', &mut line), if rmcp_open => {
                match read {
                    Ok(0) | Err(_) => rmcp_open = false,
                    Ok(_) => {
                        if output.write_all(&line).await.is_err() {
                            return;
                        }
                        line.clear();
                    }
                }
            }
        }
        if output.flush().await.is_err() {
            return;
        }
        if !rmcp_open && errors.is_closed() && errors.is_empty() {
            break;
        }
    }
    let _ = output.flush().await;
}
