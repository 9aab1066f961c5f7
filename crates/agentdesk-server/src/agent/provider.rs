//! Requests to a model's provider: its base URL, its key in the header it expects, retries
//! when it is busy, a bound on time and size.

use std::time::Duration;

use agentdesk_agent::{Provider, Request};
use http_body_util::BodyExt as _;
use hyper::body::Bytes;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use super::Secret;
use crate::client::Target;

/// How long one model call may take (a model that thinks before it acts may take minutes).
const CALL_TIMEOUT: Duration = Duration::from_secs(300);
/// The largest reply read (a reply of 4096 tokens is tens of kilobytes).
const MAX_REPLY_BYTES: usize = 4 * 1024 * 1024;
/// The largest request sent: the conversation, with at most three screenshots, is a few
/// megabytes at most; past this it has grown out of bounds and the task ends.
const MAX_REQUEST_BYTES: usize = 32 * 1024 * 1024;
/// Tries of a call the provider answered "busy" (429, 5xx, Anthropic's 529).
const TRIES: u32 = 4;
/// The longest wait between tries, whatever `retry-after` says.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// Why a call gave no reply, and whether the provider may bill it anyway (it had the request:
/// the call was cancelled or timed out while the model worked), so that the caps count it.
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) message: String,
    pub(crate) billable: bool,
}

impl Failure {
    fn new(message: String) -> Failure {
        Failure {
            message,
            billable: false,
        }
    }

    fn billable(message: String) -> Failure {
        Failure {
            message,
            billable: true,
        }
    }
}

/// Where a task's model calls go.
#[derive(Debug, Clone)]
pub(crate) struct Endpoint {
    provider: Provider,
    target: Target,
    key: Option<Secret>,
}

impl Endpoint {
    pub(crate) fn new(
        provider: Provider,
        base_url: &str,
        key: Option<Secret>,
    ) -> anyhow::Result<Endpoint> {
        Ok(Endpoint {
            provider,
            target: Target::parse(base_url, None)?,
            key,
        })
    }

    /// Sends `request`; the reply's JSON, or why there is none, for the task's outcome (the
    /// provider's own message, never the key).
    pub(crate) async fn call(
        &self,
        request: &Request,
        cancel: &CancellationToken,
    ) -> Result<Value, Failure> {
        let body = Bytes::from(
            serde_json::to_vec(&request.body).map_err(|e| Failure::new(e.to_string()))?,
        );
        if body.len() > MAX_REQUEST_BYTES {
            return Err(Failure::new(format!(
                "the conversation has grown to {} MiB, past the {} MiB a request may carry",
                body.len() >> 20,
                MAX_REQUEST_BYTES >> 20
            )));
        }
        let key = self
            .key
            .as_ref()
            .map(|k| agentdesk_agent::key_header(self.provider, k.expose()));
        let mut headers: Vec<(&str, &str)> = vec![("accept", "application/json")];
        if let Some((name, value)) = &key {
            headers.push((name, value.as_str()));
        }
        for (name, value) in &request.headers {
            headers.push((name, value.as_str()));
        }
        let mut last = String::new();
        for attempt in 1..=TRIES {
            let once = tokio::time::timeout(
                CALL_TIMEOUT,
                self.once(request.path, &headers, body.clone()),
            );
            let answer = tokio::select! {
                _ = cancel.cancelled() => return Err(Failure::billable("cancelled".into())),
                answer = once => answer,
            };
            let (status, retry_after, reply) = match answer {
                Err(_) => {
                    return Err(Failure::billable(format!(
                        "the model's API at {} did not answer within {} s",
                        self.target.origin(),
                        CALL_TIMEOUT.as_secs()
                    )))
                }
                // Cut off after it was sent: the provider may have worked on it.
                Ok(Err(e)) => return Err(Failure::billable(self.scrub(&format!("{e:#}")))),
                Ok(Ok(answer)) => answer,
            };
            if (200..300).contains(&status) {
                return serde_json::from_slice(&reply).map_err(|e| {
                    Failure::billable(format!(
                        "the model's API at {} answered {status} with a body that is not JSON: {e}",
                        self.target.origin()
                    ))
                });
            }
            let json: Value = serde_json::from_slice(&reply).unwrap_or(Value::Null);
            let message = agentdesk_agent::error_message(&json)
                .map(str::to_owned)
                .unwrap_or_else(|| {
                    String::from_utf8_lossy(&reply[..reply.len().min(300)])
                        .trim()
                        .to_owned()
                });
            last = format!(
                "the model's API at {} answered {status}: {}",
                self.target.origin(),
                crate::audit::cut(&self.scrub(&message))
            );
            let busy = matches!(status, 408 | 409 | 429 | 500 | 502 | 503 | 504 | 529);
            if !busy || attempt == TRIES {
                break;
            }
            let wait = retry_after
                .unwrap_or(Duration::from_secs(2u64.pow(attempt)))
                .min(MAX_BACKOFF);
            tracing::info!(
                status,
                attempt,
                wait_ms = wait.as_millis() as u64,
                "the model's API is busy; trying again"
            );
            tokio::select! {
                _ = cancel.cancelled() => return Err(Failure::new("cancelled".into())),
                _ = tokio::time::sleep(wait) => {}
            }
        }
        Err(Failure::new(last))
    }

    /// `text` without the key or any eight characters of it in a row (a provider may echo a
    /// key it refused, whole or in part), for messages others read.
    fn scrub(&self, text: &str) -> String {
        let Some(key) = &self.key else {
            return text.to_owned();
        };
        let key: Vec<char> = key.expose().chars().collect();
        let mut out = text.to_owned();
        if key.len() >= 8 {
            for window in key.windows(8) {
                let piece: String = window.iter().collect();
                if out.contains(&piece) {
                    out = out.replace(&piece, "…");
                }
            }
        } else if !key.is_empty() {
            out = out.replace(&key.iter().collect::<String>(), "…");
        }
        out
    }

    async fn once(
        &self,
        path: &str,
        headers: &[(&str, &str)],
        body: Bytes,
    ) -> anyhow::Result<(u16, Option<Duration>, Bytes)> {
        let response = self
            .target
            .send(http::Method::POST, path, headers, Some(body))
            .await?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(http::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let body = http_body_util::Limited::new(response.into_body(), MAX_REPLY_BYTES)
            .collect()
            .await
            .map_err(|e| anyhow::anyhow!("the model's reply was cut off or too large: {e}"))?
            .to_bytes();
        Ok((status, retry_after, body))
    }
}
