//! The built-in agent loop (`POST /api/tasks`) against a fake model inside the bench that
//! answers at once: what a step costs beyond the model — the loop's own work (the
//! conversation, the request, the executor's turn with its closing screenshot, the transcript,
//! the stream) — and how soon a subscriber of the task's stream sees each step.
//!
//! The fake speaks just enough of Anthropic's Messages API: every request gets a
//! `cursor_position` call (an action that costs the desktop almost nothing) until the last,
//! which ends the task. A step's loop time is the time between two requests reaching the
//! fake; a stream event's delay is its arrival at the subscriber less the step's
//! `finished_at` (milliseconds, the server's clock, which is this machine's).

use std::sync::Arc;
use std::time::SystemTime;

use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::{TcpListener, TcpStream};

use super::*;

/// Answers the fake gives before the one that ends the task.
const ACTS: usize = 40;
const ACTS_QUICK: usize = 12;

/// The fake model: a listener, and the instant each request arrived.
struct FakeModel {
    addr: std::net::SocketAddr,
    arrivals: Arc<std::sync::Mutex<Vec<Instant>>>,
    task: tokio::task::JoinHandle<()>,
}

impl FakeModel {
    async fn start(acts: usize) -> anyhow::Result<FakeModel> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let arrivals = Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen = arrivals.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let seen = seen.clone();
                tokio::spawn(async move {
                    let _ = answer(stream, seen, acts).await;
                });
            }
        });
        Ok(FakeModel {
            addr,
            arrivals,
            task,
        })
    }
}

impl Drop for FakeModel {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Reads one request and answers it (the server sends one request per connection).
async fn answer(
    stream: TcpStream,
    seen: Arc<std::sync::Mutex<Vec<Instant>>>,
    acts: usize,
) -> anyhow::Result<()> {
    let mut reader = BufReader::new(stream);
    let mut length = 0usize;
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let header = line.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse()?;
            }
        }
    }
    let arrived = Instant::now();
    let mut body = vec![0; length];
    reader.read_exact(&mut body).await?;
    let n = {
        let mut seen = seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        seen.push(arrived);
        seen.len()
    };
    let content = if n <= acts {
        json!([{"type": "tool_use", "id": format!("toolu_{n}"), "name": "cursor_position",
                "toolset_name": "computer", "input": {}}])
    } else {
        json!([{"type": "text", "text": "Done."}])
    };
    let reply = json!({
        "id": format!("msg_{n}"), "type": "message", "role": "assistant", "model": "bench",
        "content": content, "stop_reason": if n <= acts { "tool_use" } else { "end_turn" },
        "usage": {"input_tokens": 1000, "output_tokens": 20},
    })
    .to_string();
    let response = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
         connection: close\r\n\r\n{reply}",
        reply.len()
    );
    reader.get_mut().write_all(response.as_bytes()).await?;
    Ok(())
}

/// The milliseconds since midnight UTC of an RFC 3339 time ("...T07:23:01.123Z").
fn day_ms(rfc3339: &str) -> Option<f64> {
    let time = rfc3339.get(11..23)?;
    let h: f64 = time.get(0..2)?.parse().ok()?;
    let m: f64 = time.get(3..5)?.parse().ok()?;
    let s: f64 = time.get(6..12)?.parse().ok()?;
    Some(((h * 60.0 + m) * 60.0 + s) * 1000.0)
}

fn now_day_ms() -> f64 {
    let since = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    (since.as_millis() % 86_400_000) as f64
}

impl Bench {
    pub(crate) async fn agent_loop(&mut self) -> anyhow::Result<()> {
        self.progress.step("agent loop: steps against a fake model");
        let acts = if self.quick { ACTS_QUICK } else { ACTS };
        let fake = FakeModel::start(acts).await?;
        let body = json!({
            "desktop": "default",
            "goal": "Say where the pointer is, again and again.",
            "model": "anthropic:claude-bench",
            "api_key": "bench",
            "base_url": format!("http://{}", fake.addr),
            "max_steps": acts + 1,
        });
        let (status, task) = self
            .client
            .rest("POST", "/api/tasks", Some(body.clone()))
            .await?;
        if status != 201 {
            bail!("POST /api/tasks answered {status}: {task}");
        }
        let id = task["id"].as_str().context("no task id")?.to_owned();
        // The stream, read as it comes: each step event's delay after the step's end.
        let mut stream = TcpStream::connect(self.addr).await?;
        stream.set_nodelay(true)?;
        stream
            .write_all(
                format!(
                    "GET /api/tasks/{id}/stream HTTP/1.1\r\nhost: {}\r\naccept: \
                     text/event-stream\r\n\r\n",
                    self.addr
                )
                .as_bytes(),
            )
            .await?;
        let mut reader = BufReader::new(stream);
        let mut delays = Sampler::default();
        let mut step_events = 0;
        let mut ended = None;
        let mut line = String::new();
        let read = tokio::time::timeout(Duration::from_secs(300), async {
            loop {
                line.clear();
                if reader.read_line(&mut line).await? == 0 {
                    return anyhow::Ok(());
                }
                let received = now_day_ms();
                // Chunked encoding puts size lines between events; they are not JSON.
                let Some(data) = line.trim_end().strip_prefix("data: ") else {
                    continue;
                };
                let Ok(event) = serde_json::from_str::<Value>(data) else {
                    continue;
                };
                if event.get("outcome").is_some() {
                    ended = Some(event);
                    return Ok(());
                }
                if let Some(finished) = event["finished_at"].as_str().and_then(day_ms) {
                    step_events += 1;
                    // Out of range only across midnight UTC: counted as missing.
                    let delay = received - finished;
                    if (0.0..60_000.0).contains(&delay) {
                        delays.ms.push(delay);
                    }
                }
            }
        })
        .await;
        match read {
            Ok(Ok(())) => {}
            Ok(Err(e)) => delays.errors.push(format!("the stream failed: {e:#}")),
            Err(_) => delays
                .errors
                .push("the task did not end within 300 s".into()),
        }
        let mut steps = Sampler::default();
        match &ended {
            Some(end) if end["state"] == "completed" => {}
            Some(end) => steps.errors.push(format!("the task ended {end}")),
            None => steps.errors.push("no end event".into()),
        }
        let arrivals = fake
            .arrivals
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        for pair in arrivals.windows(2) {
            steps.ms.push(ms(pair[1] - pair[0]));
        }
        let iterations = arrivals.len().saturating_sub(1);
        let row = steps.row(
            "agent_step",
            "agent loop: one step beyond the model (cursor_position + screenshot)",
            "POST /api/tasks",
            body.clone(),
            iterations,
            None,
        );
        self.report.operations.push(row);
        let row = delays.row(
            "agent_sse",
            "agent loop: a step's event reaching a stream subscriber",
            "GET /api/tasks/{id}/stream",
            json!({}),
            step_events,
            None,
        );
        self.report.operations.push(row);
        Ok(())
    }
}
