//! The audit log: one JSON line per tool call, per desktop, in `<desktop data dir>/audit.jsonl`.
//!
//! Each line records when, who (the token's name), what (tool and arguments), how it ended and
//! how long it took. It is the operator's record of what agents did, so arguments are kept,
//! with three exceptions: text sent with `secret: true` is replaced by `"[secret]"`, long strings
//! are cut (a hostile 10 MB argument must not become a 10 MB log line), and results are never
//! written (screenshots, clipboard contents). Files rotate by size: `audit.jsonl` becomes
//! `audit.jsonl.1` and so on, [`KEEP`] old files at most.
//!
//! Calls turned away before they did anything (over the rate limit, invalid arguments, outside
//! the launch policy, unknown tools) are not written one by one: an agent could make them as
//! fast as it likes, and their lines would rotate the record of what it really did out of the
//! log. They are counted per token and per second, and each second that had any becomes one
//! line of `audit-refused.jsonl` (its own file, rotated on its own): how many, which tools,
//! which refusals, and the first rejected call's arguments, tightly cut (typed or clipboard
//! text only as its length). So nothing refused can push an accepted call out of `audit.jsonl`.
//!
//! Writing never fails a tool call: an unwritable audit log is reported in the server log,
//! once per desktop until it works again.
//!
//! With `--evidence-dir DIR`, every line is also appended to `DIR/<desktop>/calls.jsonl`
//! (fleet operations not about one desktop to `DIR/_server/calls.jsonl`), never rotated: a QA
//! run's trail, kept where the operator chose. With `--record-screens`, the screen after each
//! desktop tool call is saved as `DIR/<desktop>/screens/<time>-<n>-<tool>.png`, and the call's
//! line names it (`"screen"`). Files are 0600 in 0700 directories.

use std::collections::{BTreeMap, HashMap};
use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;
use serde_json::{Map, Value};

/// The file name inside a desktop's data directory.
pub(crate) const FILE_NAME: &str = "audit.jsonl";
/// The file of refused calls, counted per token and second, beside it.
pub(crate) const REFUSED_FILE_NAME: &str = "audit-refused.jsonl";
/// Rotated files kept beside the current one.
pub(crate) const KEEP: usize = 3;
/// Default size of one file before it rotates.
pub const DEFAULT_MAX_BYTES: u64 = 16 * 1024 * 1024;
/// Strings in recorded arguments are cut to this many characters.
const MAX_STRING_CHARS: usize = 512;
/// Recorded arguments keep at most this many keys (unknown keys are already a tool error).
const MAX_KEYS: usize = 32;
/// Most of a batch's actions recorded one by one: all of them (`batch` runs at most 50, an
/// executor turn at most 100 calls).
pub(crate) const MAX_ACTIONS: usize = 100;
/// A line longer than this (after the cuts above) drops its arguments: one call must never be
/// able to rotate the history out of the log.
const MAX_LINE_BYTES: usize = 64 * 1024;
/// A refused call's arguments keep at most this many keys, strings cut to this many characters.
const SAMPLE_KEYS: usize = 8;
const SAMPLE_CHARS: usize = 64;
/// A line of refusals names at most this many tools; the others are counted under "…".
const TALLY_TOOLS: usize = 16;

/// How a call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
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
    /// The tool turned the call away before doing anything: invalid arguments, outside the
    /// launch policy, a human in control.
    Rejected,
    /// No such tool.
    UnknownTool,
}

impl Outcome {
    /// Refused before anything happened: counted in `audit-refused.jsonl`, not written alone.
    fn is_refusal(self) -> bool {
        matches!(
            self,
            Outcome::RateLimited | Outcome::Rejected | Outcome::UnknownTool
        )
    }
}

/// The evidence subdirectory of a line written into the log in `log_dir` about `desktop`: the
/// desktop's own when the line is in that desktop's log (a call on a desktop that exists),
/// `_server` for everything else. The name a fleet operation gave may be anything a caller
/// sent (a filter, a desktop that does not exist, another token's): it never names a
/// directory, so a caller can neither make directories nor write into another's trail.
fn evidence_name<'a>(log_dir: &Path, desktop: &'a str) -> &'a str {
    let own = log_dir.file_name().is_some_and(|name| name == desktop)
        && log_dir
            .parent()
            .and_then(Path::file_name)
            .is_some_and(|name| name == "desktops")
        && agentdesk_desktop::DesktopId::parse(desktop).is_ok();
    if own {
        desktop
    } else {
        "_server"
    }
}

/// Creates `dir` and its missing parents with mode 0700.
fn private_dirs(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt as _;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
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
    /// The screen after the call, in the evidence directory (`--record-screens`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) screen: Option<&'a str>,
}

impl<'a> Entry<'a> {
    /// An entry for `tool` called with `arguments` (already redacted: [`Recorded`]).
    pub(crate) fn new(
        desktop: &'a str,
        token: &'a str,
        tool: &'a str,
        arguments: Value,
        outcome: Outcome,
        elapsed: Duration,
    ) -> Entry<'a> {
        Entry {
            time: humantime::format_rfc3339_millis(SystemTime::now()).to_string(),
            desktop,
            token,
            tool: cut(tool),
            arguments,
            outcome,
            error: None,
            ms: u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX),
            screen: None,
        }
    }
}

/// What [`Audit::call`] records.
pub(crate) struct Call<'a> {
    /// The token's name.
    pub(crate) token: &'a str,
    /// The tool, resource read or live-view event.
    pub(crate) tool: &'a str,
    /// Its arguments, as they may be recorded.
    pub(crate) arguments: Recorded,
    pub(crate) outcome: Outcome,
    pub(crate) elapsed: Duration,
    /// The error's text, if it failed.
    pub(crate) error: Option<&'a str>,
    /// The screen saved after it, relative to the desktop's evidence directory.
    pub(crate) screen: Option<&'a str>,
}

/// A call's arguments in the two forms the log may record, made from the arguments before the
/// call consumes them (so the log never needs a copy of a 2 MiB clipboard text): redacted for
/// a line of its own, sampled for a refusal's count.
#[derive(Debug, Clone)]
pub(crate) struct Recorded {
    redacted: Value,
    sample: Value,
}

impl Recorded {
    pub(crate) fn of(arguments: &Map<String, Value>) -> Recorded {
        Recorded {
            redacted: redact(arguments),
            sample: sample(arguments),
        }
    }

    /// A file upload's arguments: as [`Recorded::of`], with the file's contents (`text`,
    /// `content_base64`) recorded only as their length, whatever the tool would do with them.
    pub(crate) fn without_contents(arguments: &Map<String, Value>) -> Recorded {
        let shown: Map<String, Value> = arguments
            .iter()
            .map(|(key, value)| match (key.as_str(), value) {
                (key, Value::String(s)) if is_contents(key) => (key.to_owned(), length(s)),
                _ => (key.clone(), value.clone()),
            })
            .collect();
        Recorded::of(&shown)
    }

    /// No arguments recorded (the rate limit refuses calls unread).
    pub(crate) fn none() -> Recorded {
        Recorded::of(&Map::new())
    }
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
        let value = match value {
            _ if secret && key == "text" => Value::String("[secret]".into()),
            // A batch's actions (or a turn's calls): each redacted as the tool it names would
            // be, every one of them.
            Value::Array(items) if key == "actions" => {
                let mut shown: Vec<Value> = items
                    .iter()
                    .take(MAX_ACTIONS)
                    .map(|item| match item {
                        Value::Object(action) => redact(action),
                        other => bound(other, 1),
                    })
                    .collect();
                if items.len() > MAX_ACTIONS {
                    shown.push(Value::String(format!(
                        "… {} more",
                        items.len() - MAX_ACTIONS
                    )));
                }
                Value::Array(shown)
            }
            _ => bound(value, 0),
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
    cut_at(s, MAX_STRING_CHARS)
}

/// `s` cut after `max_chars` characters, saying how many more there were.
pub(crate) fn cut_at(s: &str, max_chars: usize) -> String {
    let mut chars = s.char_indices();
    match chars.nth(max_chars) {
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

/// Whether an argument named `key` carries text or file contents, which some records keep only
/// as a length.
fn is_contents(key: &str) -> bool {
    matches!(key, "text" | "content_base64")
}

/// `text` recorded as its length.
fn length(text: &str) -> Value {
    Value::String(format!("[{} characters]", text.chars().count()))
}

/// A refused call's arguments as recorded: a few keys, short strings, no nesting, and text
/// (what `key_type` would have typed, what `clipboard_set` would have copied) only as its
/// length, whatever `secret` said or however it was spelled.
fn sample(arguments: &Map<String, Value>) -> Value {
    let value = |key: &str, v: &Value| match v {
        Value::String(s) if is_contents(key) => length(s),
        Value::String(s) => Value::String(cut_at(s, SAMPLE_CHARS)),
        Value::Array(items) => Value::String(format!("[{} items]", items.len())),
        Value::Object(map) => Value::String(format!("[{} keys]", map.len())),
        other => other.clone(),
    };
    let mut out: Map<String, Value> = arguments
        .iter()
        .take(SAMPLE_KEYS)
        .map(|(k, v)| (cut_at(k, SAMPLE_CHARS), value(k, v)))
        .collect();
    if arguments.len() > SAMPLE_KEYS {
        out.insert(
            "…".into(),
            Value::String(format!("{} more keys", arguments.len() - SAMPLE_KEYS)),
        );
    }
    Value::Object(out)
}

/// The refused calls of one token on one desktop within one second.
struct Tally {
    desktop: String,
    token: String,
    /// Seconds since the Unix epoch.
    second: u64,
    count: u64,
    outcomes: BTreeMap<Outcome, u64>,
    tools: BTreeMap<String, u64>,
    /// The first rejected call with arguments: tool, sampled arguments, error.
    first: Option<Value>,
}

impl Tally {
    fn add(&mut self, call: &Call<'_>) {
        self.count += 1;
        *self.outcomes.entry(call.outcome).or_default() += 1;
        let tool = cut_at(call.tool, SAMPLE_CHARS);
        if self.first.is_none() && call.outcome != Outcome::RateLimited {
            self.first = Some(serde_json::json!({
                "tool": tool,
                "arguments": call.arguments.sample,
                "error": call.error.map(|e| cut_at(e, 4 * SAMPLE_CHARS)),
            }));
        }
        if self.tools.contains_key(&tool) || self.tools.len() < TALLY_TOOLS {
            *self.tools.entry(tool).or_default() += 1;
        } else {
            *self.tools.entry("…".into()).or_default() += 1;
        }
    }

    fn line(&self) -> Value {
        let time = UNIX_EPOCH + Duration::from_secs(self.second);
        serde_json::json!({
            "time": humantime::format_rfc3339_seconds(time).to_string(),
            "desktop": self.desktop,
            "token": self.token,
            "outcome": "refused",
            "count": self.count,
            "outcomes": self.outcomes,
            "tools": self.tools,
            "first": self.first,
        })
    }
}

fn unix_second() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Which log a request's refusal goes to: the desktop it named (if the caller may see it),
/// else the default desktop for `/mcp`, else the server's own log.
#[derive(Debug, Clone)]
pub(crate) struct Place {
    /// The directory holding the log.
    pub(crate) dir: PathBuf,
    /// The desktop named in its entries (`-` for none).
    pub(crate) desktop: String,
}

impl Place {
    /// The log of the desktop `id` in `manager`, if `caller` sees it; else the server's.
    pub(crate) fn of(
        manager: &agentdesk_desktop::DesktopManager,
        id: Option<&agentdesk_desktop::DesktopId>,
        caller: &agentdesk_desktop::Caller,
    ) -> Place {
        if let Some(id) = id {
            if let Some(dir) = manager.data_dir_of(id, caller) {
                return Place {
                    dir,
                    desktop: id.to_string(),
                };
            }
        }
        Place::server(manager)
    }

    /// The server's own log, in its data directory.
    pub(crate) fn server(manager: &agentdesk_desktop::DesktopManager) -> Place {
        Place {
            dir: manager.data_dir().to_path_buf(),
            desktop: "-".into(),
        }
    }
}

/// Where the evidence trail goes (`--evidence-dir`), and whether it has screens.
#[derive(Debug, Clone)]
pub struct EvidenceConfig {
    /// The directory: one subdirectory per desktop.
    pub dir: PathBuf,
    /// Save the screen after each desktop tool call (`--record-screens`).
    pub record_screens: bool,
}

/// The audit logs of all desktops.
#[derive(Default)]
pub struct Audit {
    max_bytes: u64,
    evidence: Option<EvidenceConfig>,
    /// Numbers the screens saved by this process, so that two in the same millisecond differ.
    screens: std::sync::atomic::AtomicU64,
    files: Mutex<HashMap<PathBuf, Result<Open, ()>>>,
    /// Refusals being counted, per (desktop directory, token).
    tallies: Mutex<HashMap<(PathBuf, String), Tally>>,
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
            evidence: None,
            screens: Default::default(),
            files: Mutex::new(HashMap::new()),
            tallies: Mutex::new(HashMap::new()),
        }
    }

    /// Keeps an evidence trail too (see the module's documentation).
    pub fn with_evidence(mut self, evidence: EvidenceConfig) -> Audit {
        self.evidence = Some(evidence);
        self
    }

    /// Whether the screen after each desktop tool call is to be saved.
    pub(crate) fn records_screens(&self) -> bool {
        self.evidence.as_ref().is_some_and(|e| e.record_screens)
    }

    /// The evidence directory of `desktop` (a valid desktop id), if there is an evidence trail.
    pub(crate) fn evidence_dir(&self, desktop: &str) -> Option<std::path::PathBuf> {
        let evidence = self.evidence.as_ref()?;
        agentdesk_desktop::DesktopId::parse(desktop).ok()?;
        Some(evidence.dir.join(desktop))
    }

    /// Saves a screen (PNG bytes) taken after `tool` on `desktop` into its evidence
    /// directory; its name there, or `None` if it could not be written (reported in the log).
    pub(crate) fn save_screen(&self, desktop: &str, tool: &str, png: &[u8]) -> Option<String> {
        let evidence = self.evidence.as_ref()?;
        agentdesk_desktop::DesktopId::parse(desktop).ok()?;
        let n = self
            .screens
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let time = humantime::format_rfc3339_millis(SystemTime::now())
            .to_string()
            .replace([':', '-'], "");
        let tool: String = tool
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
            .take(40)
            .collect();
        let name = format!("screens/{time}-{n}-{tool}.png");
        let dir = evidence.dir.join(desktop);
        let written = private_dirs(&dir.join("screens")).and_then(|()| {
            use std::os::unix::fs::OpenOptionsExt as _;
            OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(dir.join(&name))?
                .write_all(png)
        });
        match written {
            Ok(()) => Some(name),
            Err(e) => {
                tracing::warn!(%e, dir = %dir.display(), "error saving a screen to the evidence directory");
                None
            }
        }
    }

    /// Records one call on `desktop`: the one way every surface writes the log (tool calls,
    /// resource reads, calls the rate limit refused, the live view's control and answers).
    /// Refusals are counted, not written one by one (see the module's documentation).
    pub(crate) fn call(&self, desktop: &agentdesk_desktop::Desktop, call: Call<'_>) {
        self.call_at(desktop.data_dir(), desktop.id().as_str(), call);
    }

    /// [`Audit::call`] into the log in `dir`, naming `desktop`: the server's own log (in the
    /// data directory) holds the fleet operations and what was refused before a desktop was
    /// known.
    pub(crate) fn call_at(&self, dir: &Path, desktop: &str, call: Call<'_>) {
        if call.outcome.is_refusal() {
            self.count_refusal(dir, desktop, &call);
            return;
        }
        let mut entry = Entry::new(
            desktop,
            call.token,
            call.tool,
            call.arguments.redacted,
            call.outcome,
            call.elapsed,
        );
        entry.error = call.error.map(cut);
        entry.screen = call.screen;
        self.record(dir, &entry);
    }

    /// Records a call turned away before it reached a tool (by the HTTP gate or the stdio
    /// filter), in the log of `place` (see [`Place`]): counted with the other refusals, no
    /// arguments kept.
    pub(crate) fn refuse(
        &self,
        place: &Place,
        token: &str,
        tool: &str,
        outcome: Outcome,
        error: &str,
    ) {
        self.call_at(
            &place.dir,
            &place.desktop,
            Call {
                token,
                tool,
                arguments: Recorded::none(),
                outcome,
                elapsed: Duration::ZERO,
                error: Some(error),
                screen: None,
            },
        );
    }

    /// Closes the files kept open under `dir` (a destroyed desktop's): a new desktop of the
    /// same id must not write into the old, deleted file.
    pub(crate) fn forget(&self, dir: &Path) {
        let evidence = self.evidence.as_ref().and_then(|e| {
            let id = dir.file_name()?.to_str()?;
            Some(e.dir.join(evidence_name(dir, id)))
        });
        crate::lock(&self.files).retain(|path, _| {
            !path.starts_with(dir) && evidence.as_ref().is_none_or(|e| !path.starts_with(e))
        });
    }

    fn count_refusal(&self, desktop_dir: &Path, desktop: &str, call: &Call<'_>) {
        let second = unix_second();
        let finished = {
            let mut tallies = crate::lock(&self.tallies);
            let key = (desktop_dir.to_path_buf(), call.token.to_owned());
            let finished = match tallies.get(&key) {
                Some(tally) if tally.second != second => tallies.remove(&key),
                _ => None,
            };
            tallies
                .entry(key)
                .or_insert_with(|| Tally {
                    desktop: desktop.to_owned(),
                    token: call.token.to_owned(),
                    second,
                    count: 0,
                    outcomes: BTreeMap::new(),
                    tools: BTreeMap::new(),
                    first: None,
                })
                .add(call);
            finished
        };
        if let Some(tally) = finished {
            self.write_tally(desktop_dir, &tally);
        }
    }

    fn write_tally(&self, desktop_dir: &Path, tally: &Tally) {
        // The server log's record of refusals: one line per token and second, like the file.
        tracing::info!(
            token = %tally.token,
            desktop = %tally.desktop,
            refused = tally.count,
            rate_limited = tally.outcomes.get(&Outcome::RateLimited).copied().unwrap_or(0),
            "calls refused in one second"
        );
        match serde_json::to_vec(&tally.line()) {
            Ok(line) => self.append(
                &desktop_dir.join(REFUSED_FILE_NAME),
                line,
                self.max_bytes / 4,
            ),
            Err(e) => tracing::error!(%e, "audit tally could not be serialized"),
        }
    }

    /// Writes the counts of refusals from seconds that are over (or all of them, `all`): a
    /// [`RefusalFlusher`] calls this every second, and once more as the server stops.
    fn flush_refusals(&self, all: bool) {
        let second = unix_second();
        let finished: Vec<((PathBuf, String), Tally)> = {
            let mut tallies = crate::lock(&self.tallies);
            let keys: Vec<_> = tallies
                .iter()
                .filter(|(_, t)| all || t.second < second)
                .map(|(k, _)| k.clone())
                .collect();
            keys.into_iter()
                .filter_map(|k| tallies.remove_entry(&k))
                .collect()
        };
        for ((dir, _), tally) in finished {
            self.write_tally(&dir, &tally);
        }
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
        if let Some(evidence) = &self.evidence {
            let dir = evidence.dir.join(evidence_name(desktop_dir, entry.desktop));
            match private_dirs(&dir) {
                // Never rotated: the trail is the operator's to keep or clear.
                Ok(()) => self.append(&dir.join("calls.jsonl"), line.clone(), u64::MAX),
                Err(e) => {
                    tracing::warn!(%e, dir = %dir.display(), "error creating an evidence directory")
                }
            }
        }
        self.append(&desktop_dir.join(FILE_NAME), line, self.max_bytes);
    }

    /// Appends one line to the file at `path`, rotating it first if it would pass `max_bytes`.
    fn append(&self, path: &Path, mut line: Vec<u8>, max_bytes: u64) {
        line.push(b'\n');
        let path = path.to_path_buf();
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
        if current.len > 0 && current.len + line.len() as u64 > max_bytes {
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

/// Writes the counts of refusals as their seconds end, while it lives, and all that are left
/// when dropped (the server holds one while it serves).
pub(crate) struct RefusalFlusher {
    audit: std::sync::Arc<Audit>,
    task: tokio::task::JoinHandle<()>,
}

impl RefusalFlusher {
    pub(crate) fn start(audit: std::sync::Arc<Audit>) -> RefusalFlusher {
        let ticking = audit.clone();
        let task = tokio::spawn(async move {
            // Four times a second: a second's count is written at most 250 ms after it ends.
            let mut every = tokio::time::interval(Duration::from_millis(250));
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                every.tick().await;
                ticking.flush_refusals(false);
            }
        });
        RefusalFlusher { audit, task }
    }
}

impl Drop for RefusalFlusher {
    fn drop(&mut self) {
        self.task.abort();
        self.audit.flush_refusals(true);
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
    fn the_evidence_trail_stays_in_its_directory_whatever_a_call_named() {
        let tmp = tempfile::tempdir().unwrap();
        let evidence = tmp.path().join("evidence");
        let audit = Audit::new(DEFAULT_MAX_BYTES).with_evidence(EvidenceConfig {
            dir: evidence.clone(),
            record_screens: true,
        });
        let desktop_dir = tmp.path().join("desktops/default");
        std::fs::create_dir_all(&desktop_dir).unwrap();
        for (dir, desktop) in [
            (tmp.path(), "../../escaped"),
            (desktop_dir.as_path(), "default"),
            (tmp.path(), "/etc"),
            (tmp.path(), "-"),
            // A fleet operation naming a desktop (maybe another token's): the server's trail.
            (tmp.path(), "default"),
        ] {
            audit.call_at(
                dir,
                desktop,
                Call {
                    token: "alice",
                    tool: "snapshot_list",
                    arguments: Recorded::of(&map(json!({"desktop": desktop}))),
                    outcome: Outcome::Ok,
                    elapsed: Duration::ZERO,
                    error: None,
                    screen: None,
                },
            );
        }
        assert_eq!(lines(&evidence.join("_server/calls.jsonl")).len(), 4);
        assert_eq!(lines(&evidence.join("default/calls.jsonl")).len(), 1);
        // A destroyed desktop's trail is closed with its log.
        audit.forget(&desktop_dir);
        assert!(crate::lock(&audit.files)
            .keys()
            .all(|p| !p.starts_with(evidence.join("default"))));
        assert!(!tmp.path().join("escaped").exists());
        assert_eq!(audit.save_screen("../up", "screen_shot", b"png"), None);
        let saved = audit.save_screen("default", "../../x", b"png").unwrap();
        assert!(
            saved.starts_with("screens/") && saved.ends_with("-x.png"),
            "{saved}"
        );
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
        let mut entry = Entry::new(
            "d",
            "a",
            &huge,
            redact(&many),
            Outcome::Error,
            Duration::ZERO,
        );
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

    fn refuse(audit: &Audit, dir: &Path, tool: &str, args: &Map<String, Value>, outcome: Outcome) {
        let call = Call {
            token: "mallory",
            tool,
            arguments: Recorded::of(args),
            outcome,
            elapsed: Duration::ZERO,
            error: Some("invalid arguments for key_type: unknown field `Secret`"),
            screen: None,
        };
        audit.count_refusal(dir, "default", &call);
    }

    fn lines(path: &Path) -> Vec<Value> {
        std::fs::read_to_string(path)
            .unwrap_or_default()
            .split('\n')
            .filter(|l| !l.is_empty())
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    #[test]
    fn a_flood_of_refusals_cannot_rotate_accepted_calls_away() {
        let dir = tempfile::tempdir().unwrap();
        // Small files, so that even a few refused lines would rotate them.
        let audit = Audit::new(64 * 1024);
        let launch = map(json!({"command": "mousepad notes.txt"}));
        let entry = Entry::new(
            "d",
            "mallory",
            "app_launch",
            redact(&launch),
            Outcome::Ok,
            Duration::ZERO,
        );
        audit.record(dir.path(), &entry);
        let huge = map(json!({"text": "x".repeat(50_000), "padding": vec!["y".repeat(1000); 50]}));
        for i in 0..1400 {
            let outcome = if i % 7 == 0 {
                Outcome::Rejected
            } else {
                Outcome::RateLimited
            };
            refuse(&audit, dir.path(), "key_type", &huge, outcome);
        }
        audit.flush_refusals(true);
        let accepted = lines(&dir.path().join(FILE_NAME));
        assert_eq!(accepted.len(), 1, "{accepted:?}");
        assert_eq!(accepted[0]["arguments"]["command"], "mousepad notes.txt");
        let refused = lines(&dir.path().join(REFUSED_FILE_NAME));
        let total: u64 = refused.iter().map(|l| l["count"].as_u64().unwrap()).sum();
        assert_eq!(total, 1400);
        for line in &refused {
            assert_eq!(line["token"], "mallory");
            assert_eq!(line["outcome"], "refused");
            assert!(line.to_string().len() < 2048, "{line}");
            assert!(!line.to_string().contains("xxxxxxxx"), "{line}");
        }
        // The flood may straddle a second: one line per second it lasted.
        let sum = |f: &dyn Fn(&Value) -> &Value| -> u64 {
            refused.iter().map(|l| f(l).as_u64().unwrap_or(0)).sum()
        };
        assert_eq!(sum(&|l| &l["outcomes"]["rejected"]), 200);
        assert_eq!(sum(&|l| &l["outcomes"]["rate_limited"]), 1200);
        assert_eq!(sum(&|l| &l["tools"]["key_type"]), 1400);
        assert_eq!(
            refused[0]["first"]["arguments"]["text"],
            "[50000 characters]"
        );
        assert_eq!(refused[0]["first"]["arguments"]["padding"], "[50 items]");
    }

    #[test]
    fn a_rejected_calls_text_is_only_its_length_however_secret_is_spelled() {
        let dir = tempfile::tempdir().unwrap();
        let audit = Audit::new(DEFAULT_MAX_BYTES);
        for args in [
            json!({"text": "hunter2", "Secret": true}),
            json!({"text": "hunter2", "secret": "yes please"}),
            json!({"text": "hunter2"}),
        ] {
            refuse(
                &audit,
                dir.path(),
                "clipboard_set",
                &map(args),
                Outcome::Rejected,
            );
            audit.flush_refusals(true);
        }
        let text = std::fs::read_to_string(dir.path().join(REFUSED_FILE_NAME)).unwrap();
        assert!(!text.contains("hunter2"), "{text}");
        assert_eq!(text.matches("[7 characters]").count(), 3, "{text}");
    }

    #[test]
    fn refusals_name_a_bounded_number_of_tools() {
        let dir = tempfile::tempdir().unwrap();
        let audit = Audit::new(DEFAULT_MAX_BYTES);
        for i in 0..100 {
            let tool = format!("tool_{i}_{}", "n".repeat(1000));
            refuse(&audit, dir.path(), &tool, &Map::new(), Outcome::UnknownTool);
        }
        audit.flush_refusals(true);
        let refused = lines(&dir.path().join(REFUSED_FILE_NAME));
        let tools = refused[0]["tools"].as_object().unwrap();
        assert_eq!(tools.len(), TALLY_TOOLS + 1);
        assert_eq!(tools["…"], 100 - TALLY_TOOLS as u64);
        assert!(refused[0].to_string().len() < 4096);
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
                redact(&args),
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
