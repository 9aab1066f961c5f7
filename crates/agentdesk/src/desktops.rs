//! `agentdesk desktops ...`: the fleet commands, sent to a running server's REST API, printed
//! as a table (or the server's JSON with `--json`).

use agentdesk_server::ApiClient;
use anyhow::bail;
use http::Method;
use serde_json::{json, Value};

use crate::cli::{Desktops, DesktopsCommand};

pub(crate) async fn run(args: Desktops) -> anyhow::Result<()> {
    let token = ["AGENTDESK_TOKEN", "AGENTDESK_AUTH_TOKEN"]
        .iter()
        .find_map(|k| std::env::var(k).ok().filter(|t| !t.is_empty()));
    let client = ApiClient::new(&args.server, token, args.ca_cert.as_deref())?;
    let path = |id: &str, tail: &str| format!("/api/desktops/{}{tail}", encode(id));
    let (method, url, body) = match &args.command {
        DesktopsCommand::Create {
            id,
            screen,
            network,
            apps,
        } => (
            Method::POST,
            "/api/desktops".to_string(),
            Some(json!({"id": id, "screen": screen, "network": network, "apps": apps})),
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
    let answer = client.request(method, &url, body).await?;
    if !(200..300).contains(&answer.status) {
        let message = answer.body["error"]
            .as_str()
            .map_or_else(|| answer.body.to_string(), str::to_owned);
        bail!("{message} (HTTP {})", answer.status);
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&answer.body)?);
        return Ok(());
    }
    let server = args.server.trim_end_matches('/');
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
fn encode(id: &str) -> String {
    id.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn print_table(desktops: &[Value]) {
    let rows: Vec<[String; 6]> = desktops
        .iter()
        .map(|d| {
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
        })
        .collect();
    let header = ["ID", "STATE", "SCREEN", "OWNER", "LEASE", "LAST USED"];
    let mut widths = header.map(str::len);
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: &[String]| {
        cells
            .iter()
            .zip(widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_string()
    };
    println!("{}", line(&header.map(String::from)));
    for row in &rows {
        println!("{}", line(row));
    }
}
