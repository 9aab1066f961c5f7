//! The audit log: one JSON line per tool call, per desktop, in `<desktop data dir>/audit.jsonl`.
//!
//! Each line records when, who (the token's name), what (tool and arguments), how it ended and
//! how long it took. It is the operator's record of what agents did, so arguments are kept,
//! with three exceptions: text sent with `secret: true` is replaced by `"[secret]"`, long strings
//! are cut (a hostile 10 MB argument must not become a 10 MB log line), and results are never
//! written (screenshots, clipboard contents). Files rotate by size: `audit.jsonl` becomes
//! `audit.jsonl.1` and so on, [`KEEP`] old files at most.
//!
//! Writing never fails a tool call: an unwritable audit log is reported in the server log,
//! once per desktop until it works again.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use serde::Serialize;
use serde_json::{Map, Value};

/// The file name inside a desktop's data directory.
pub(crate) const FILE_NAME: &str = "audit.jsonl";
/// Rotated files kept beside the current one.
pub(crate) const KEEP: usize = 3;
/// Default size of one file before it rotates.
pub const DEFAULT_MAX_BYTES: u64 = 16 * 1024 * 1024;
/// Strings in recorded arguments are cut to this many characters.
const MAX_STRING_CHARS: usize = 512;
/// Recorded arguments keep at most this many keys (unknown keys are already a tool error).
const MAX_KEYS: usize = 32;
/// A line longer than this (after the cuts above) drops its arguments: one call must never be
/// able to rotate the history out of the log.
const MAX_LINE_BYTES: usize = 64 * 1024;

/// How a call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Outcome {
    /// The tool succeeded.
    Ok,
    /// The tool returned an error result.
    Error,
    /// The call exceeded the per-call timeout.
    Timeout,
    /// The call was refused by the rate limit before reaching the tool.
    RateLimited,
    /// No such tool.
    UnknownTool,
}

/// One line of the audit log.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Entry<'a> {
    /// RFC 3339, UTC, milliseconds.
    pub(crate) time: String,
    pub(crate) desktop: &'a str,
    /// The token's name; "anonymous" on an open loopback listener, "stdio" for stdio.
    pub(crate) token: &'a str,
    pub(crate) tool: String,
    pub(crate) arguments: Value,
    pub(crate) outcome: Outcome,
    /// The tool error's text (never a result).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) error: Option<String>,
    pub(crate) ms: u64,
}

impl<'a> Entry<'a> {
    /// An entry for `tool` called with `arguments` (redacted here) at `started`.
    pub(crate) fn new(
        desktop: &'a str,
        token: &'a str,
        tool: &'a str,
        arguments: &Map<String, Value>,
        outcome: Outcome,
        elapsed: Duration,
    ) -> Entry<'a> {
        Entry {
            time: humantime::format_rfc3339_millis(SystemTime::now()).to_string(),
            desktop,
            token,
            tool: cut(tool),
            arguments: redact(arguments),
            outcome,
            error: None,
            ms: u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX),
        }
    }
}

/// What [`Audit::call`] records.
pub(crate) struct Call<'a> {
    /// The token's name.
    pub(crate) token: &'a str,
    /// The tool, resource read or live-view event.
    pub(crate) tool: &'a str,
    /// Its arguments (redacted when recorded).
    pub(crate) arguments: &'a Map<String, Value>,
    pub(crate) outcome: Outcome,
    pub(crate) elapsed: Duration,
    /// The error's text, if it failed.
    pub(crate) error: Option<&'a str>,
}

/// Whether a call's arguments ask for secrecy. Anything but an explicit false counts: when
/// in doubt (`"secret": "yes"`, which the tool itself rejects), the text stays out.
pub(crate) fn is_secret(arguments: &Map<String, Value>) -> bool {
    match arguments.get("secret") {
        None | Some(Value::Null) | Some(Value::Bool(false)) => false,
        Some(Value::String(s)) => !matches!(s.trim(), "" | "false" | "0"),
        Some(Value::Number(n)) => n.as_f64() != Some(0.0),
        Some(_) => true,
    }
}

/// The arguments as recorded: secret text replaced, strings cut, keys bounded.
pub(crate) fn redact(arguments: &Map<String, Value>) -> Value {
    let secret = is_secret(arguments);
    let mut out = Map::new();
    for (key, value) in arguments.iter().take(MAX_KEYS) {
        let value = if secret && key == "text" {
            Value::String("[secret]".into())
        } else {
            bound(value, 0)
        };
        out.insert(cut(key), value);
    }
    if arguments.len() > MAX_KEYS {
        out.insert(
            "…".into(),
            Value::String(format!("{} more keys", arguments.len() - MAX_KEYS)),
        );
    }
    Value::Object(out)
}

pub(crate) fn cut(s: &str) -> String {
    let mut chars = s.char_indices();
    match chars.nth(MAX_STRING_CHARS) {
        None => s.to_owned(),
        Some((at, _)) => {
            let rest = s[at..].chars().count();
            format!("{}…[{rest} more characters]", &s[..at])
        }
    }
}

fn bound(value: &Value, depth: usize) -> Value {
    match value {
        Value::String(s) => Value::String(cut(s)),
        _ if depth >= 3 => Value::String("[nested too deep]".into()),
        Value::Array(items) => Value::Array(
            items
                .iter()
                .take(MAX_KEYS)
                .map(|v| bound(v, depth + 1))
                .collect(),
        ),
        Value::Object(map) => Value::Object(
            map.iter()
                .take(MAX_KEYS)
                .map(|(k, v)| (cut(k), bound(v, depth + 1)))
                .collect(),
        ),
        other => other.clone(),
    }
}

struct Open {
    file: File,
    len: u64,
}

/// The audit logs of all desktops.
#[derive(Default)]
pub struct Audit {
    max_bytes: u64,
    files: Mutex<HashMap<PathBuf, Result<Open, ()>>>,
}

impl std::fmt::Debug for Audit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Audit")
            .field("max_bytes", &self.max_bytes)
            .finish()
    }
}

impl Audit {
    /// Audit logs rotating at `max_bytes`.
    pub fn new(max_bytes: u64) -> Audit {
        Audit {
            max_bytes: max_bytes.max(4096),
            files: Mutex::new(HashMap::new()),
        }
    }

    /// Records one call on `desktop`: the one way every surface writes the log (tool calls,
    /// resource reads, calls the rate limit refused, the live view's control and answers).
    pub(crate) fn call(&self, desktop: &agentdesk_desktop::Desktop, call: Call<'_>) {
        let mut entry = Entry::new(
            &desktop.id().0,
            call.token,
            call.tool,
            call.arguments,
            call.outcome,
            call.elapsed,
        );
        entry.error = call.error.map(cut);
        self.record(desktop.data_dir(), &entry);
    }

    /// Appends `entry` to the log in `desktop_dir`.
    fn record(&self, desktop_dir: &Path, entry: &Entry<'_>) {
        let mut line = match serde_json::to_vec(entry) {
            Ok(line) => line,
            Err(e) => {
                tracing::error!(%e, "audit entry could not be serialized");
                return;
            }
        };
        if line.len() > MAX_LINE_BYTES {
            let mut smaller = entry.clone();
            smaller.arguments =
                serde_json::json!({"…": format!("{} bytes of arguments omitted", line.len())});
            line = serde_json::to_vec(&smaller).unwrap_or_default();
        }
        line.push(b'\n');
        let path = desktop_dir.join(FILE_NAME);
        let mut files = crate::lock(&self.files);
        let slot = files.entry(path.clone());
        let open = slot.or_insert_with(|| open(&path));
        if open.is_err() {
            // Retry each time (the directory may have been fixed); report only the first failure.
            *open = open_quietly(&path);
        }
        let Ok(current) = open else {
            return;
        };
        if current.len > 0 && current.len + line.len() as u64 > self.max_bytes {
            match rotate(&path) {
                Ok(file) => *current = Open { file, len: 0 },
                Err(e) => tracing::warn!(path = %path.display(), %e, "audit log rotation failed"),
            }
        }
        match current.file.write_all(&line) {
            Ok(()) => current.len += line.len() as u64,
            Err(e) => tracing::warn!(path = %path.display(), %e, "error writing the audit log"),
        }
    }
}

fn open_file(path: &Path) -> std::io::Result<Open> {
    use std::os::unix::fs::OpenOptionsExt as _;
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)?;
    let len = file.metadata()?.len();
    Ok(Open { file, len })
}

fn open(path: &Path) -> Result<Open, ()> {
    open_file(path).map_err(|e| {
        tracing::warn!(path = %path.display(), %e, "cannot open the audit log; tool calls continue unaudited until it can be written");
    })
}

fn open_quietly(path: &Path) -> Result<Open, ()> {
    open_file(path).map_err(|_| ())
}

/// `audit.jsonl.(KEEP-1)` → `.KEEP`, …, `audit.jsonl` → `.1`; then a fresh file.
fn rotate(path: &Path) -> std::io::Result<File> {
    let numbered = |n: usize| PathBuf::from(format!("{}.{n}", path.display()));
    for n in (1..KEEP).rev() {
        let from = numbered(n);
        if from.exists() {
            std::fs::rename(&from, numbered(n + 1))?;
        }
    }
    std::fs::rename(path, numbered(1))?;
    open_file(path).map(|o| o.file)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(v: Value) -> Map<String, Value> {
        crate::tools::object(v)
    }

    #[test]
    fn secret_text_is_replaced_and_anything_but_false_is_secret() {
        for secret in [
            json!(true),
            json!("true"),
            json!(1),
            json!("yes"),
            json!({}),
        ] {
            let args = map(json!({"text": "hunter2", "secret": secret}));
            assert!(is_secret(&args));
            assert_eq!(redact(&args)["text"], "[secret]");
        }
        for secret in [json!(false), json!("false"), json!(0), Value::Null] {
            let args = map(json!({"text": "hello", "secret": secret}));
            assert_eq!(redact(&args)["text"], "hello");
        }
        assert_eq!(redact(&map(json!({"text": "hi"})))["text"], "hi");
    }

    #[test]
    fn long_and_deep_arguments_are_bounded() {
        let long = "é".repeat(10_000);
        let args = map(json!({"text": long, "region": {"a": [[[["deep"]]]]}}));
        let out = redact(&args);
        let text = out["text"].as_str().unwrap();
        assert!(
            text.ends_with("…[9488 more characters]"),
            "{}",
            &text[text.len() - 40..]
        );
        assert_eq!(out["region"]["a"][0][0], "[nested too deep]");
        let many: Map<String, Value> = (0..100).map(|i| (format!("k{i}"), json!(i))).collect();
        let out = redact(&many);
        assert_eq!(out.as_object().unwrap().len(), MAX_KEYS + 1);
    }

    #[test]
    fn one_call_cannot_write_a_huge_line() {
        let dir = tempfile::tempdir().unwrap();
        let audit = Audit::new(DEFAULT_MAX_BYTES);
        let huge = "n".repeat(7 << 20);
        let many: Map<String, Value> = (0..32)
            .map(|i| (format!("k{i}"), json!(vec!["x".repeat(4000); 32])))
            .collect();
        let mut entry = Entry::new("d", "a", &huge, &many, Outcome::Error, Duration::ZERO);
        entry.error = Some(cut(&huge));
        audit.record(dir.path(), &entry);
        let text = std::fs::read_to_string(dir.path().join(FILE_NAME)).unwrap();
        assert!(text.len() < MAX_LINE_BYTES, "{}", text.len());
        let line: Value = serde_json::from_str(text.trim()).unwrap();
        assert!(line["arguments"]["…"]
            .as_str()
            .unwrap()
            .ends_with("omitted"));
        assert!(line["tool"].as_str().unwrap().len() < 1024);
    }

    #[test]
    fn lines_are_appended_and_files_rotate() {
        let dir = tempfile::tempdir().unwrap();
        let audit = Audit::new(4096);
        let args = map(json!({"text": "x".repeat(400)}));
        for _ in 0..40 {
            let entry = Entry::new(
                "d",
                "alice",
                "key_type",
                &args,
                Outcome::Ok,
                Duration::from_millis(3),
            );
            audit.record(dir.path(), &entry);
        }
        let current = std::fs::read_to_string(dir.path().join(FILE_NAME)).unwrap();
        let first: Value = serde_json::from_str(current.lines().next().unwrap()).unwrap();
        assert_eq!(first["token"], "alice");
        assert_eq!(first["tool"], "key_type");
        assert_eq!(first["outcome"], "ok");
        assert_eq!(first["ms"], 3);
        assert!(first["time"].as_str().unwrap().ends_with('Z'));
        for n in 1..=KEEP {
            let rotated = dir.path().join(format!("{FILE_NAME}.{n}"));
            let len = std::fs::metadata(&rotated).unwrap().len();
            assert!(len <= 4096, "{n}: {len}");
        }
        assert!(!dir
            .path()
            .join(format!("{FILE_NAME}.{}", KEEP + 1))
            .exists());
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(dir.path().join(FILE_NAME))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
