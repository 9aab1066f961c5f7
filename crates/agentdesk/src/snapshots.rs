//! `agentdesk snapshots ...`: save, list, restore, delete and check snapshots of desktops'
//! homes, through a running server's REST API; long ones show a progress line on a terminal.

use http::Method;
use serde_json::{json, Value};

use crate::cli::{Snapshots, SnapshotsCommand};
use crate::desktops::{client, encode, printable, succeeded, table, with_progress};

pub(crate) async fn run(args: Snapshots) -> anyhow::Result<()> {
    let client = client(&args.remote)?;
    let snapshot = |s: &str, tail: &str| format!("/api/snapshots/{}{tail}", encode(s));
    let desktop = |d: &str, tail: &str| format!("/api/desktops/{}{tail}", encode(d));
    let answer = match &args.command {
        SnapshotsCommand::Save { desktop: d, label } => {
            let url = desktop(d, "/snapshots");
            let body = Some(json!({ "label": label }));
            with_progress(&client, Method::POST, &url, body, "saving").await?
        }
        SnapshotsCommand::List { desktop: d } => {
            let url = match d {
                Some(d) => format!("/api/snapshots?desktop={}", encode(d)),
                None => "/api/snapshots".into(),
            };
            client.request(Method::GET, &url, None).await?
        }
        SnapshotsCommand::Status { snapshot: s } => {
            client.request(Method::GET, &snapshot(s, ""), None).await?
        }
        SnapshotsCommand::Restore {
            desktop: d,
            snapshot: s,
        } => {
            let url = desktop(d, "/restore");
            let body = Some(json!({ "snapshot": s }));
            with_progress(&client, Method::POST, &url, body, "restoring").await?
        }
        SnapshotsCommand::Delete { snapshot: s, force } => {
            let url = snapshot(s, if *force { "?force=true" } else { "" });
            client.request(Method::DELETE, &url, None).await?
        }
        SnapshotsCommand::Verify { snapshot: s } => {
            let url = snapshot(s, "/verify");
            with_progress(&client, Method::POST, &url, None, "checking").await?
        }
    };
    let body = succeeded(answer)?;
    if args.remote.json {
        println!("{}", serde_json::to_string_pretty(&body)?);
        return Ok(());
    }
    match &args.command {
        SnapshotsCommand::List { .. } => {
            let list = body["snapshots"].as_array().cloned().unwrap_or_default();
            print_snapshots(&list);
        }
        SnapshotsCommand::Delete { .. } => {
            println!("deleted {}", body["deleted"].as_str().unwrap_or("?"));
        }
        SnapshotsCommand::Restore { desktop, .. } => {
            println!(
                "restored {} into desktop {desktop}",
                body["restored"]["id"].as_str().unwrap_or("?")
            );
        }
        SnapshotsCommand::Verify { .. } => {
            let files = body["damaged_files"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            if files.is_empty() {
                println!(
                    "{} is whole: every byte matches what was saved",
                    body["snapshot"]["id"].as_str().unwrap_or("?")
                );
            } else {
                println!("damaged files:");
                for file in files {
                    println!("  {}", printable(file.as_str().unwrap_or("?")));
                }
                anyhow::bail!("the snapshot is damaged; restore another one");
            }
        }
        _ => print_snapshots(std::slice::from_ref(&body)),
    }
    Ok(())
}

fn print_snapshots(list: &[Value]) {
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|s| {
            vec![
                s["id"].as_str().unwrap_or("?").to_string(),
                s["label"].as_str().unwrap_or("-").to_string(),
                s["desktop"].as_str().unwrap_or("?").to_string(),
                s["created"].as_str().unwrap_or("?").to_string(),
                s["files"].to_string(),
                megabytes(s["bytes"].as_u64().unwrap_or(0)),
                megabytes(s["added_bytes"].as_u64().unwrap_or(0)),
            ]
        })
        .collect();
    table(
        &[
            "ID", "LABEL", "DESKTOP", "CREATED", "FILES", "SIZE", "STORED",
        ],
        &rows,
    );
}

fn megabytes(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}
