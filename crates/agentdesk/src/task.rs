//! `agentdesk run`: starts a task of the built-in agent loop on a running server and follows
//! its step stream, printing each step; a question from the model is asked on the terminal;
//! Ctrl-C cancels the task. Exits 0 when the model reached the goal, 1 otherwise.

use std::io::IsTerminal as _;

use agentdesk_server::ApiClient;
use anyhow::{bail, Context as _};
use http::Method;
use serde_json::{json, Value};

use crate::cli::Run;
use crate::desktops::{client, printable, succeeded};

pub(crate) async fn run(args: Run) -> anyhow::Result<()> {
    let client = client(&args.remote)?;
    let provider = args.model.split_once(':').map_or("", |(p, _)| p);
    let (key_var, url_var) = match provider {
        "anthropic" => ("ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL"),
        _ => ("OPENAI_API_KEY", "OPENAI_BASE_URL"),
    };
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    let mut body = json!({
        "goal": args.goal,
        "model": args.model,
        "max_steps": args.max_steps,
    });
    if let Some(desktop) = &args.desktop {
        body["desktop"] = json!(desktop);
    }
    if let Some(usd) = args.max_usd {
        body["max_usd"] = json!(usd);
    }
    if let Some([input, output]) = args.price.as_deref() {
        body["price"] = json!({"input_per_mtok": input, "output_per_mtok": output});
    }
    if let Some(key) = args.api_key.clone().or_else(|| env(key_var)) {
        // Over plain HTTP only on this machine: a key must not cross a network in clear.
        if !safe_for_secrets(&args.remote.server) {
            bail!(
                "refusing to send the model's key to {} over plain HTTP; use https://, or leave \
                 the key to the server (unset {key_var}; the server uses its own)",
                args.remote.server
            );
        }
        body["api_key"] = json!(key);
    }
    if let Some(url) = args.base_url.clone().or_else(|| env(url_var)) {
        body["base_url"] = json!(url);
    }
    let task = succeeded(
        client
            .request(Method::POST, "/api/tasks", Some(body))
            .await?,
    )?;
    let id = task["id"]
        .as_str()
        .context("the server answered no task id")?
        .to_owned();
    if args.remote.json && args.detach {
        println!("{task}");
        return Ok(());
    }
    eprintln!(
        "task {id} on desktop {} with {}; watch it at {}{}",
        printable(task["desktop"].as_str().unwrap_or("?")),
        printable(task["model"].as_str().unwrap_or("?")),
        args.remote.server.trim_end_matches('/'),
        printable(task["view"].as_str().unwrap_or(""))
    );
    if args.detach {
        println!("{id}");
        return Ok(());
    }
    let follow = follow(&client, &id, args.remote.json);
    let end = tokio::select! {
        end = follow => end?,
        _ = tokio::signal::ctrl_c() => {
            eprintln!("cancelling task {id} ...");
            let answer = client
                .request(Method::POST, &format!("/api/tasks/{id}/cancel"), None)
                .await?;
            succeeded(answer)?;
            bail!("cancelled task {id}");
        }
    };
    let outcome = &end["outcome"];
    let text = printable(outcome["text"].as_str().unwrap_or(""));
    if end["state"] == "completed" {
        println!("{text}");
        Ok(())
    } else {
        bail!(
            "task {id} ended {} ({}): {text}",
            end["state"].as_str().unwrap_or("?"),
            outcome["reason"].as_str().unwrap_or("?")
        )
    }
}

/// Whether `server` is HTTPS or on this machine (loopback).
fn safe_for_secrets(server: &str) -> bool {
    let Ok(uri) = server.parse::<http::Uri>() else {
        return false;
    };
    if uri.scheme_str() == Some("https") {
        return true;
    }
    let host = uri
        .host()
        .unwrap_or("")
        .trim_start_matches('[')
        .trim_end_matches(']');
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Prints the stream's events until the end event, which it returns. Reconnects (replaying
/// what it missed) if the connection drops.
async fn follow(client: &ApiClient, id: &str, json: bool) -> anyhow::Result<Value> {
    let path = format!("/api/tasks/{id}/stream");
    let mut last = 0;
    let mut end = None;
    let mut failures = 0;
    while failures < 5 {
        let mut questions = Vec::new();
        let result = client
            .follow_events(&path, last, |event_id, kind, data| {
                last = event_id;
                if json {
                    println!("{}", json!({"id": event_id, "event": kind, "data": data}));
                } else {
                    show(kind, &data);
                }
                if kind == "state" && data["state"] == "input_required" {
                    questions.push(data["question"].as_str().unwrap_or("").to_owned());
                }
                if kind == "end" {
                    end = Some(data);
                    return false;
                }
                // Stop reading to ask the question; the stream resumes after the answer.
                questions.is_empty()
            })
            .await;
        if let Some(end) = end.take() {
            return Ok(end);
        }
        if !questions.is_empty() {
            answer(client, id).await?;
            continue;
        }
        failures += 1;
        if let Err(e) = result {
            eprintln!("the stream broke ({e:#}); reconnecting ...");
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        }
    }
    bail!("lost the stream of task {id}; GET /api/tasks/{id} shows where it stands")
}

/// Asks the model's question on the terminal and sends the answer (off a terminal the answer
/// comes from the live view or `POST /api/tasks/{id}/answer`).
async fn answer(client: &ApiClient, id: &str) -> anyhow::Result<()> {
    if !std::io::stdin().is_terminal() {
        eprintln!("(answer in the live view, or POST /api/tasks/{id}/answer {{\"reply\": ...}})");
        return Ok(());
    }
    eprint!("your answer (Enter alone: done) > ");
    let line = tokio::task::spawn_blocking(|| {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line).map(|_| line)
    })
    .await??;
    let answer = client
        .request(
            Method::POST,
            &format!("/api/tasks/{id}/answer"),
            Some(json!({"reply": line.trim()})),
        )
        .await?;
    // Someone may have answered in the live view first: not an error.
    if let Err(e) = succeeded(answer) {
        eprintln!("{e:#}");
    }
    Ok(())
}

fn show(kind: &str, data: &Value) {
    match kind {
        "step" => {
            let actions: Vec<String> = data["actions"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|a| {
                    let name = a["call"].as_str().unwrap_or("?");
                    let mut args = a.clone();
                    if let Some(map) = args.as_object_mut() {
                        map.remove("call");
                    }
                    if args.as_object().is_some_and(|m| m.is_empty()) {
                        name.to_owned()
                    } else {
                        format!("{name} {args}")
                    }
                })
                .collect();
            let failed = data["results"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|r| r["ok"] == false)
                .and_then(|r| r["text"].as_str());
            println!(
                "step {:>2}  ${:.4}  {}",
                data["step"],
                data["cost_usd"].as_f64().unwrap_or(0.0),
                printable(data["narration"].as_str().unwrap_or(""))
            );
            for action in actions {
                println!("         → {}", printable(&action));
            }
            if let Some(failed) = failed {
                println!("         ✗ {}", printable(failed));
            }
            if let Some(help) = data.get("help") {
                println!(
                    "         ? {} — {}",
                    printable(help["question"].as_str().unwrap_or("")),
                    printable(help["answer"].as_str().unwrap_or(""))
                );
            }
        }
        "state" => match data["state"].as_str() {
            Some("input_required") => println!(
                "the model asks: {}",
                printable(data["question"].as_str().unwrap_or(""))
            ),
            Some("paused") => println!("paused: a person has control of the desktop"),
            Some(state) => println!("{state}"),
            None => {}
        },
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn keys_go_only_over_https_or_loopback() {
        for ok in [
            "https://desk.example.com",
            "http://127.0.0.1:3000",
            "http://[::1]:3000",
            "http://localhost:3000",
        ] {
            assert!(super::safe_for_secrets(ok), "{ok}");
        }
        for bad in [
            "http://192.0.2.2:3000",
            "http://desk.example.com",
            "nonsense",
        ] {
            assert!(!super::safe_for_secrets(bad), "{bad}");
        }
    }
}
