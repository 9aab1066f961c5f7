//! `agentdesk desktops ...`: the fleet commands, sent to a running server's REST API, printed
//! as a table (or the server's JSON with `--json`).

use agentdesk_server::ApiClient;
use anyhow::bail;
use http::Method;
use serde_json::{json, Value};

use crate::cli::{Desktops, DesktopsCommand, Remote};

/// A client of the server `remote` names, with the token from the environment.
pub(crate) fn client(remote: &Remote) -> anyhow::Result<ApiClient> {
    let token = ["AGENTDESK_TOKEN", "AGENTDESK_AUTH_TOKEN"]
        .iter()
        .find_map(|k| std::env::var(k).ok().filter(|t| !t.is_empty()));
    ApiClient::new(&remote.server, token, remote.ca_cert.as_deref())
}

/// The answer's JSON if it succeeded, else its error as the command's.
pub(crate) fn succeeded(answer: agentdesk_server::ApiAnswer) -> anyhow::Result<Value> {
    if !(200..300).contains(&answer.status) {
        let message = answer.body["error"]
            .as_str()
            .map_or_else(|| answer.body.to_string(), str::to_owned);
        bail!("{} (HTTP {})", printable(&message), answer.status);
    }
    Ok(answer.body)
}

/// `text` safe to print on a terminal: what a server's answer carries can come from a desktop's
/// files (a file name in an error), and control characters there would drive the terminal.
pub(crate) fn printable(text: &str) -> String {
    let reorders = |c: char| matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}');
    text.chars()
        .map(|c| {
            if c.is_control() || reorders(c) {
                '\u{fffd}'
            } else {
                c
            }
        })
        .collect()
}

/// Sends a long operation, showing its progress on a terminal as one line that is rewritten.
pub(crate) async fn with_progress(
    client: &ApiClient,
    method: Method,
    url: &str,
    body: Option<Value>,
    doing: &str,
) -> anyhow::Result<agentdesk_server::ApiAnswer> {
    use std::io::{IsTerminal as _, Write as _};
    let terminal = std::io::stderr().is_terminal();
    let mut shown = false;
    let answer = client
        .request_with_progress(method, url, body, |done, total| {
            if terminal && total > 0 {
                let percent = done * 100 / total;
                eprint!(
                    "\r{doing}: {percent:3}% ({} of {} MB)",
                    done / 1_000_000,
                    total.div_ceil(1_000_000)
                );
                let _ = std::io::stderr().flush();
                shown = true;
            }
        })
        .await;
    if shown {
        eprintln!();
    }
    answer
}

pub(crate) async fn run(args: Desktops) -> anyhow::Result<()> {
    let client = client(&args.remote)?;
    let path = |id: &str, tail: &str| format!("/api/desktops/{}{tail}", encode(id));
    let (method, url, body) = match &args.command {
        DesktopsCommand::Create {
            id,
            screen,
            network,
            apps,
            from_snapshot,
        } => (
            Method::POST,
            "/api/desktops".to_string(),
            Some(json!({
                "id": id, "screen": screen, "network": network, "apps": apps,
                "from_snapshot": from_snapshot,
            })),
        ),
        DesktopsCommand::List => (Method::GET, "/api/desktops".to_string(), None),
        DesktopsCommand::Status { id } => (Method::GET, path(id, ""), None),
        DesktopsCommand::Destroy { id, keep_home } => (
            Method::DELETE,
            path(id, if *keep_home { "?keep_home=true" } else { "" }),
            None,
        ),
        DesktopsCommand::Pause { id } => (Method::POST, path(id, "/pause"), None),
        DesktopsCommand::Resume { id } => (Method::POST, path(id, "/resume"), None),
        DesktopsCommand::Acquire { id, lease_seconds } => (
            Method::POST,
            "/api/desktops/acquire".to_string(),
            Some(json!({"id": id, "lease_seconds": lease_seconds})),
        ),
        DesktopsCommand::Release { id } => (Method::POST, path(id, "/release"), None),
        DesktopsCommand::Heartbeat { id } => (Method::POST, path(id, "/heartbeat"), None),
    };
    let answer = match &args.command {
        DesktopsCommand::Create {
            from_snapshot: Some(_),
            ..
        } => with_progress(&client, method, &url, body, "restoring the snapshot").await?,
        _ => client.request(method, &url, body).await?,
    };
    let body = succeeded(answer)?;
    if args.remote.json {
        println!("{}", serde_json::to_string_pretty(&body)?);
        return Ok(());
    }
    let answer = agentdesk_server::ApiAnswer { status: 200, body };
    let server = args.remote.server.trim_end_matches('/');
    match &args.command {
        DesktopsCommand::List => {
            let desktops = answer.body["desktops"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            print_table(&desktops);
            println!(
                "{} of at most {} desktops",
                desktops.len(),
                answer.body["max_desktops"]
            );
        }
        DesktopsCommand::Destroy { .. } => {
            println!(
                "destroyed {}",
                answer.body["destroyed"].as_str().unwrap_or("?")
            );
            if let Some(kept) = answer.body["kept_home"].as_str() {
                println!("its home is kept on the server at {kept}");
            }
        }
        _ => {
            print_table(std::slice::from_ref(&answer.body));
            if let Some(mcp) = answer.body["mcp_path"].as_str() {
                println!("MCP endpoint: {server}{mcp}");
            }
            if let Some(view) = answer.body["view_path"].as_str() {
                println!("live view:    {server}{view}");
            }
        }
    }
    Ok(())
}

/// A desktop id in a URL path (ids are [a-z0-9-], but what a user typed is sent as typed, for
/// the server to refuse with a clear message).
pub(crate) fn encode(id: &str) -> String {
    id.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn print_table(desktops: &[Value]) {
    let rows: Vec<Vec<String>> = desktops.iter().map(|d| desktop_row(d).to_vec()).collect();
    table(
        &["ID", "STATE", "SCREEN", "OWNER", "LEASE", "LAST USED"],
        &rows,
    );
}

fn desktop_row(d: &Value) -> [String; 6] {
    let lease = match &d["lease"] {
        Value::Object(l) => format!(
            "{} ({} s left)",
            l.get("holder").and_then(Value::as_str).unwrap_or("?"),
            l.get("expires_in_seconds")
                .and_then(Value::as_u64)
                .unwrap_or(0)
        ),
        _ => "-".into(),
    };
    let owner = match d["owner"].as_str() {
        Some(owner) => owner.to_string(),
        None => "shared".into(),
    };
    let id = format!(
        "{}{}",
        d["id"].as_str().unwrap_or("?"),
        if d["default"] == true {
            " (default)"
        } else {
            ""
        }
    );
    [
        id,
        d["state"].as_str().unwrap_or("?").to_string(),
        format!("{}x{}", d["screen"]["width"], d["screen"]["height"]),
        owner,
        lease,
        d["last_used"].as_str().unwrap_or("?").to_string(),
    ]
}

/// Prints rows under a header, in columns.
pub(crate) fn table(header: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: &[String]| {
        cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{:<w$}", printable(c)))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_string()
    };
    println!(
        "{}",
        line(&header.iter().map(|h| h.to_string()).collect::<Vec<_>>())
    );
    for row in rows {
        println!("{}", line(row));
    }
}
