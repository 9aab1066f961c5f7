//! The fleet operations as every surface offers them — MCP tools on `/mcp`, the REST API under
//! `/api/desktops`, and through it the CLI: one [`Op`] per operation, run against the desktop
//! manager for a caller, answered with the same JSON, and failures turned into each surface's
//! words ([`agent_message`] for tools; `rest.rs` picks HTTP statuses).

use std::time::{Duration, UNIX_EPOCH};

use agentdesk_desktop::{
    Caller, CreateRequest, DesktopId, DesktopInfo, DesktopManager, FleetError, Job, Network, Size,
    SnapshotRecord,
};
use agentdesk_proto::{DesktopCreateArgs, NetworkArg};
use serde_json::{json, Value};

use crate::audit::{self, Audit, Outcome};

/// One fleet operation.
#[derive(Debug, Clone)]
pub(crate) enum Op {
    Create(CreateRequest),
    List,
    Status(String),
    Destroy {
        id: String,
        keep_home: bool,
    },
    Pause(String),
    Resume(String),
    Acquire {
        id: Option<String>,
        seconds: Option<u64>,
    },
    Release(String),
    Heartbeat(String),
    SnapshotSave {
        desktop: Option<String>,
        label: Option<String>,
    },
    SnapshotList {
        desktop: Option<String>,
    },
    SnapshotStatus(String),
    SnapshotRestore {
        desktop: Option<String>,
        snapshot: String,
    },
    SnapshotDelete {
        snapshot: String,
        force: bool,
    },
    SnapshotVerify(String),
}

impl Op {
    /// The tool's name (the audit log uses it for REST calls too).
    pub(crate) fn name(&self) -> &'static str {
        match self {
            Op::Create(_) => "desktop_create",
            Op::List => "desktop_list",
            Op::Status(_) => "desktop_status",
            Op::Destroy { .. } => "desktop_destroy",
            Op::Pause(_) => "desktop_pause",
            Op::Resume(_) => "desktop_resume",
            Op::Acquire { .. } => "desktop_acquire",
            Op::Release(_) => "desktop_release",
            Op::Heartbeat(_) => "desktop_heartbeat",
            Op::SnapshotSave { .. } => "snapshot_save",
            Op::SnapshotList { .. } => "snapshot_list",
            Op::SnapshotStatus(_) => "snapshot_status",
            Op::SnapshotRestore { .. } => "snapshot_restore",
            Op::SnapshotDelete { .. } => "snapshot_delete",
            Op::SnapshotVerify(_) => "snapshot_verify",
        }
    }

    /// The desktop it names, for the audit log.
    pub(crate) fn target(&self) -> Option<&str> {
        match self {
            Op::Create(r) => r.id.as_deref(),
            Op::List => None,
            Op::Acquire { id, .. } => id.as_deref(),
            Op::Status(id)
            | Op::Destroy { id, .. }
            | Op::Pause(id)
            | Op::Resume(id)
            | Op::Release(id)
            | Op::Heartbeat(id) => Some(id),
            Op::SnapshotSave { desktop, .. }
            | Op::SnapshotList { desktop }
            | Op::SnapshotRestore { desktop, .. } => desktop.as_deref(),
            Op::SnapshotStatus(_) | Op::SnapshotDelete { .. } | Op::SnapshotVerify(_) => None,
        }
    }

    /// Whether it may take long enough to report progress (it reads or writes a home).
    pub(crate) fn is_long(&self) -> bool {
        matches!(
            self,
            Op::Create(_)
                | Op::SnapshotSave { .. }
                | Op::SnapshotRestore { .. }
                | Op::SnapshotVerify(_)
        )
    }
}

/// A create request from its wire arguments.
pub(crate) fn create_request(args: DesktopCreateArgs) -> Result<CreateRequest, FleetError> {
    let screen = match args.screen.as_deref() {
        None => None,
        Some(text) => {
            let (width, height) =
                agentdesk_proto::parse_screen(text).map_err(FleetError::BadRequest)?;
            Some(Size { width, height })
        }
    };
    Ok(CreateRequest {
        id: args.id,
        screen,
        network: args.network.map(|n| match n {
            NetworkArg::On => Network::On,
            NetworkArg::Off => Network::Off,
        }),
        apps: args.apps,
        from_snapshot: args.from_snapshot,
    })
}

/// A lease length from the wire.
pub(crate) fn lease_seconds(value: Option<i64>) -> Result<Option<u64>, FleetError> {
    match value {
        None => Ok(None),
        Some(n) if n > 0 => Ok(Some(n as u64)),
        Some(n) => Err(FleetError::BadRequest(format!(
            "lease_seconds must be {} to {} (got {n})",
            agentdesk_desktop::LEASE_SECONDS.start(),
            agentdesk_desktop::LEASE_SECONDS.end()
        ))),
    }
}

fn id(text: &str) -> Result<DesktopId, FleetError> {
    DesktopId::parse(text)
}

/// The desktop named, or else the default desktop.
pub(crate) fn desktop_or_default(
    manager: &DesktopManager,
    named: Option<&str>,
) -> Result<DesktopId, FleetError> {
    match named {
        Some(text) => id(text),
        None => manager.default_id().cloned().ok_or_else(|| {
            FleetError::BadRequest(
                "this server has no default desktop; name one with desktop (desktop_list \
                 shows yours)"
                    .into(),
            )
        }),
    }
}

/// Runs `op` for `caller`; the JSON answer is the same on every surface.
pub(crate) async fn run(
    op: Op,
    manager: &DesktopManager,
    audit: &Audit,
    caller: &Caller,
    job: Job,
) -> Result<Value, FleetError> {
    Ok(match op {
        Op::Create(request) => info_json(&manager.create(request, caller, job).await?),
        Op::List => {
            let desktops: Vec<Value> = manager.list(caller).iter().map(info_json).collect();
            json!({
                "desktops": desktops,
                "max_desktops": manager.max_desktops(),
            })
        }
        Op::Status(text) => info_json(&manager.status(&id(&text)?, caller)?),
        Op::Destroy {
            id: text,
            keep_home,
        } => {
            let desktop = id(&text)?;
            let destroyed = manager.destroy(&desktop, caller, keep_home).await?;
            audit.forget(&manager.data_dir().join("desktops").join(desktop.as_str()));
            json!({
                "destroyed": desktop.as_str(),
                "kept_home": destroyed.kept_home.map(|p| p.display().to_string()),
            })
        }
        Op::Pause(text) => info_json(&manager.pause(&id(&text)?, caller).await?),
        Op::Resume(text) => info_json(&manager.resume(&id(&text)?, caller).await?),
        Op::Acquire { id, seconds } => {
            info_json(&manager.acquire(id.as_deref(), seconds, caller).await?)
        }
        Op::Release(text) => info_json(&manager.release(&id(&text)?, caller)?),
        Op::Heartbeat(text) => info_json(&manager.heartbeat(&id(&text)?, caller)?),
        Op::SnapshotSave { desktop, label } => {
            let desktop = desktop_or_default(manager, desktop.as_deref())?;
            snapshot_json(&manager.snapshot_save(&desktop, label, caller, job).await?)
        }
        Op::SnapshotList { desktop } => {
            let list = manager.snapshot_list(desktop.as_deref(), caller);
            json!({ "snapshots": list.iter().map(snapshot_json).collect::<Vec<_>>() })
        }
        Op::SnapshotStatus(snapshot) => snapshot_json(&manager.snapshot_status(&snapshot, caller)?),
        Op::SnapshotRestore { desktop, snapshot } => {
            let desktop = desktop_or_default(manager, desktop.as_deref())?;
            let (record, info) = manager
                .snapshot_restore(&desktop, &snapshot, caller, job)
                .await?;
            json!({ "restored": snapshot_json(&record), "desktop": info_json(&info) })
        }
        Op::SnapshotDelete { snapshot, force } => {
            let record = manager.snapshot_delete(&snapshot, force, caller).await?;
            json!({ "deleted": record.id })
        }
        Op::SnapshotVerify(snapshot) => {
            let (record, verified) = manager.snapshot_verify(&snapshot, caller, job).await?;
            json!({
                "snapshot": snapshot_json(&record),
                "ok": verified.damaged.is_empty(),
                "damaged_files": verified.damaged,
            })
        }
    })
}

/// A snapshot as JSON: what the snapshot tools and the REST API answer.
pub(crate) fn snapshot_json(record: &SnapshotRecord) -> Value {
    json!({
        "id": record.id,
        "label": record.label,
        "desktop": record.desktop,
        "owner": record.owner,
        "created": time(record.created),
        "files": record.files,
        "bytes": record.bytes,
        "added_bytes": record.added,
        "skipped": record.skipped,
    })
}

/// How long a fleet operation asked to stop is awaited for its outcome.
const WIND_DOWN: Duration = Duration::from_secs(10);

/// Why a fleet operation run by [`run_to_an_end`] gave no value.
#[derive(Debug)]
pub(crate) enum Stopped {
    /// It failed on its own.
    Failed(FleetError),
    /// It was asked to stop (why) and did, changing nothing; whether it had got its turn
    /// (rather than waiting behind other snapshot operations all along).
    Cancelled(String, bool),
    /// It was asked to stop (why) and is still running.
    StillRunning(String),
}

impl Stopped {
    /// The failure to answer with; `limit` names the option that bounded it.
    pub(crate) fn into_error(self, name: &str, limit: &str) -> FleetError {
        let what = match self {
            Stopped::Failed(e) => return e,
            Stopped::Cancelled(why, false) => format!(
                "{name} {why} while it waited for its turn behind other snapshot operations, \
                 and was cancelled; nothing was changed. Try again in a moment"
            ),
            Stopped::Cancelled(why, true) if why.starts_with("did not") => format!(
                "{name} {why} and was cancelled; nothing was changed. A home this large needs \
                 a longer {limit} (ask the operator)"
            ),
            Stopped::Cancelled(why, true) => format!("{name} {why}; nothing was changed"),
            Stopped::StillRunning(why) => format!(
                "{name} {why}; it goes on in the background: desktop_status and snapshot_list \
                 say where it got to"
            ),
        };
        FleetError::Unfinished { what }
    }
}

/// Asks a job to stop when dropped, unless disarmed: a caller that goes away stops its
/// operation.
struct StopOnDrop(Option<Job>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        if let Some(job) = self.0.take() {
            job.cancel();
        }
    }
}

/// Runs a fleet operation in a task of its own, so that it always ends as a whole: when
/// `limit` passes, `client_gone` resolves or this future is dropped, the operation is asked to
/// stop (snapshots and clones stop at their next chunk and remove what they made) and, unless
/// dropped, awaited a little longer for its true outcome, rather than abandoned halfway.
pub(crate) async fn run_to_an_end(
    manager: std::sync::Arc<DesktopManager>,
    audit: std::sync::Arc<Audit>,
    op: Op,
    caller: Caller,
    job: Job,
    limit: Duration,
    client_gone: impl std::future::Future<Output = ()>,
) -> Result<Value, Stopped> {
    let mut guard = StopOnDrop(Some(job.clone()));
    let stop = job.clone();
    let mut task = tokio::spawn(async move { run(op, &manager, &audit, &caller, job).await });
    let failed = |e: tokio::task::JoinError| {
        Stopped::Failed(FleetError::BadRequest(format!("the operation failed: {e}")))
    };
    let why = tokio::select! {
        done = tokio::time::timeout(limit, &mut task) => match done {
            Ok(done) => {
                guard.0 = None;
                return done.map_err(failed)?.map_err(Stopped::Failed);
            }
            Err(_) => format!("did not finish within {} s", limit.as_secs()),
        },
        () = client_gone => "was stopped by its client".to_string(),
    };
    stop.cancel();
    guard.0 = None;
    match tokio::time::timeout(WIND_DOWN, task).await {
        // Done after all (it had passed the point where it could stop): its own answer.
        Ok(Ok(Ok(value))) => Ok(value),
        Ok(Ok(Err(FleetError::Snapshot(agentdesk_desktop::SnapshotError::Cancelled)))) => {
            Err(Stopped::Cancelled(why, stop.started()))
        }
        Ok(Ok(Err(e))) => Err(Stopped::Failed(e)),
        Ok(Err(e)) => Err(failed(e)),
        Err(_) => Err(Stopped::StillRunning(why)),
    }
}

/// How a fleet operation ended, for the audit log: refused as asked, or failed inside.
pub(crate) fn outcome<T>(result: &Result<T, FleetError>) -> Outcome {
    match result {
        Ok(_) => Outcome::Ok,
        Err(e) if e.is_rejection() => Outcome::Rejected,
        Err(_) => Outcome::Error,
    }
}

/// A fleet operation (`tool`, as MCP or REST named it) to record in the server's audit log,
/// under the desktop it named, once it has ended.
pub(crate) struct Audited<'a> {
    pub(crate) manager: &'a DesktopManager,
    pub(crate) token: &'a str,
    pub(crate) tool: &'a str,
    pub(crate) target: Option<&'a str>,
    pub(crate) arguments: audit::Recorded,
    pub(crate) started: std::time::Instant,
}

impl Audited<'_> {
    pub(crate) fn record(self, audit: &Audit, outcome: Outcome, error: Option<&str>) {
        audit.call_at(
            self.manager.data_dir(),
            self.target.unwrap_or("-"),
            audit::Call {
                token: self.token,
                tool: self.tool,
                arguments: self.arguments,
                outcome,
                elapsed: self.started.elapsed(),
                error,
                screen: None,
            },
        );
    }
}

fn time(unix: u64) -> String {
    humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(unix)).to_string()
}

/// A desktop as JSON: what `desktop_status` and the REST API answer.
pub(crate) fn info_json(info: &DesktopInfo) -> Value {
    let now = std::time::SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let id = info.id.as_str();
    json!({
        "id": id,
        "owner": info.owner,
        "shared": info.owner.is_none(),
        "default": info.is_default,
        "state": info.state,
        "screen": {"width": info.screen.width, "height": info.screen.height},
        "network": match info.network { Network::On => "on", Network::Off => "off" },
        "apps": info.apps,
        "created": time(info.created),
        "last_used": time(info.last_used),
        "lease": info.lease.as_ref().map(|l| json!({
            "holder": l.holder,
            "expires": time(l.expires),
            "expires_in_seconds": l.expires.saturating_sub(now),
            "lease_seconds": l.seconds,
        })),
        "viewers": info.viewers,
        "mcp_path": format!("/desktops/{id}/mcp"),
        "view_path": format!("/desktops/{id}/view"),
    })
}

/// A failure as a tool error's text: what happened and what to do.
pub(crate) fn agent_message(e: &FleetError) -> String {
    match e {
        FleetError::NotFound { id } => format!(
            "no desktop named {id:?} that you can use; desktop_list shows yours, desktop_create \
             makes one"
        ),
        FleetError::Full { max } => format!(
            "this server already holds its limit of {max} desktops; desktop_destroy one you no \
             longer need, or ask the operator to raise --max-desktops"
        ),
        FleetError::Leased { id, holder, secs } => format!(
            "desktop {id:?} is leased by {holder:?} for {secs} more seconds; desktop_acquire \
             without an id gets a free one"
        ),
        FleetError::NotLeased { id } => format!(
            "you hold no lease on desktop {id:?} (it may have expired: a lease lapses unless \
             desktop_heartbeat renews it); desktop_acquire takes one"
        ),
        FleetError::Start { .. } | FleetError::Store(_) => {
            format!("{e}; try again, and tell the operator if it keeps failing")
        }
        FleetError::SnapshotNotFound { snapshot } => {
            format!("no snapshot named {snapshot:?} that you can use; snapshot_list shows yours")
        }
        FleetError::Snapshot(agentdesk_desktop::SnapshotError::Cancelled) => {
            "the snapshot operation was cancelled before it finished (it did not finish within \
             the per-call limit, --call-timeout, or the server is stopping); nothing was \
             changed"
                .into()
        }
        other => other.to_string(),
    }
}
