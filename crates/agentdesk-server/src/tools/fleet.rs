//! The fleet tools on `/mcp`: `desktop_create` ... `desktop_heartbeat` and the snapshot tools
//! `snapshot_save` ... `snapshot_verify` (`crate::fleet` runs them; here are their names,
//! descriptions and argument parsing).

use agentdesk_desktop::FleetError;
use agentdesk_proto::{
    DesktopAcquireArgs, DesktopCreateArgs, DesktopDestroyArgs, DesktopIdArgs, NoArgs, SnapshotArgs,
    SnapshotDeleteArgs, SnapshotListArgs, SnapshotRestoreArgs, SnapshotSaveArgs,
};
use rmcp::model::{CallToolResult, Tool};
use serde_json::{Map, Value};

use super::{acting, harmless, read_only, tool};
use crate::fleet::{self, Op};

const CREATE: &str = "Create a new desktop (its own X server, window manager and home) and \
start it; from_snapshot starts it with a snapshot's home (a clone). Returns its id and its own \
MCP endpoint path (/desktops/{id}/mcp); the desktop tools here also take desktop: id to act on \
it.";
const LIST: &str = "List the desktops you can use, with their state (running, paused, stopped), \
lease and endpoint.";
const STATUS: &str = "One desktop's state, screen, lease and endpoint.";
const DESTROY: &str = "Stop a desktop and everything on it, and delete its home (keep_home: true \
keeps the home for the operator).";
const PAUSE: &str = "Freeze a desktop's processes (0% CPU). The next call or view resumes it \
transparently.";
const RESUME: &str = "Resume a paused desktop (or start a stopped one).";
const ACQUIRE: &str = "Lease a desktop for yourself: the one named, or a free one, or a new one. \
The lease lapses after lease_seconds unless desktop_heartbeat renews it; a lapsed lease frees \
the desktop, it does not destroy it.";
const RELEASE: &str = "Give up your lease on a desktop (the desktop stays).";
const HEARTBEAT: &str = "Renew your lease on a desktop for another lease_seconds.";
const SNAPSHOT_SAVE: &str = "Save a desktop's home (browser profile with cookies and logins, \
app settings, files) as a snapshot, to restore later or clone into new desktops \
(desktop_create from_snapshot). The desktop is frozen for the copy and goes on after; open \
windows and tabs are not part of it.";
const SNAPSHOT_LIST: &str = "List your snapshots (of one desktop, if named), oldest first.";
const SNAPSHOT_RESTORE: &str = "Replace a desktop's home with a snapshot's. The desktop's apps \
are closed and it starts again with the snapshot's files; what was saved since is lost.";
const SNAPSHOT_DELETE: &str = "Delete a snapshot. Your most recent snapshot of a desktop \
needs force: true.";
const SNAPSHOT_VERIFY: &str = "Read every byte of a snapshot and check it against what was \
saved; names damaged files.";

/// The fleet tools, in a fixed order.
pub(crate) fn list() -> Vec<Tool> {
    let [create, list, status, destroy, pause, resume, acquire, release, heartbeat, save, snapshots, restore, delete, verify] =
        NAMES;
    vec![
        tool::<DesktopCreateArgs>(create, CREATE, acting().idempotent(false)),
        tool::<NoArgs>(list, LIST, read_only()),
        tool::<DesktopIdArgs>(status, STATUS, read_only()),
        tool::<DesktopDestroyArgs>(destroy, DESTROY, acting()),
        tool::<DesktopIdArgs>(pause, PAUSE, harmless().idempotent(true)),
        tool::<DesktopIdArgs>(resume, RESUME, harmless().idempotent(true)),
        tool::<DesktopAcquireArgs>(acquire, ACQUIRE, harmless()),
        tool::<DesktopIdArgs>(release, RELEASE, harmless().idempotent(true)),
        tool::<DesktopIdArgs>(heartbeat, HEARTBEAT, harmless().idempotent(true)),
        tool::<SnapshotSaveArgs>(save, SNAPSHOT_SAVE, harmless()),
        tool::<SnapshotListArgs>(snapshots, SNAPSHOT_LIST, read_only()),
        tool::<SnapshotRestoreArgs>(restore, SNAPSHOT_RESTORE, acting()),
        tool::<SnapshotDeleteArgs>(delete, SNAPSHOT_DELETE, acting()),
        tool::<SnapshotArgs>(verify, SNAPSHOT_VERIFY, read_only()),
    ]
}

/// The fleet tools' names, in [`list`]'s order.
const NAMES: [&str; 14] = [
    "desktop_create",
    "desktop_list",
    "desktop_status",
    "desktop_destroy",
    "desktop_pause",
    "desktop_resume",
    "desktop_acquire",
    "desktop_release",
    "desktop_heartbeat",
    "snapshot_save",
    "snapshot_list",
    "snapshot_restore",
    "snapshot_delete",
    "snapshot_verify",
];

/// Whether `name` is a fleet tool.
pub(crate) fn is_fleet_tool(name: &str) -> bool {
    NAMES.contains(&name)
}

/// The operation a fleet tool call asks for.
pub(crate) fn op(name: &str, args: Map<String, Value>) -> Result<Op, FleetError> {
    let bad = |e: agentdesk_desktop::DesktopError| FleetError::BadRequest(e.to_string());
    Ok(match name {
        "desktop_create" => Op::Create(fleet::create_request(
            super::parse::<DesktopCreateArgs>(name, args).map_err(bad)?,
        )?),
        "desktop_list" => {
            super::parse::<NoArgs>(name, args).map_err(bad)?;
            Op::List
        }
        "desktop_destroy" => {
            let a = super::parse::<DesktopDestroyArgs>(name, args).map_err(bad)?;
            Op::Destroy {
                id: a.id,
                keep_home: a.keep_home,
            }
        }
        "snapshot_save" => {
            let a = super::parse::<SnapshotSaveArgs>(name, args).map_err(bad)?;
            Op::SnapshotSave {
                desktop: a.desktop,
                label: a.label,
            }
        }
        "snapshot_list" => Op::SnapshotList {
            desktop: super::parse::<SnapshotListArgs>(name, args)
                .map_err(bad)?
                .desktop,
        },
        "snapshot_restore" => {
            let a = super::parse::<SnapshotRestoreArgs>(name, args).map_err(bad)?;
            Op::SnapshotRestore {
                desktop: a.desktop,
                snapshot: a.snapshot,
            }
        }
        "snapshot_delete" => {
            let a = super::parse::<SnapshotDeleteArgs>(name, args).map_err(bad)?;
            Op::SnapshotDelete {
                snapshot: a.snapshot,
                force: a.force,
            }
        }
        "snapshot_verify" => Op::SnapshotVerify(
            super::parse::<SnapshotArgs>(name, args)
                .map_err(bad)?
                .snapshot,
        ),
        "desktop_acquire" => {
            let a = super::parse::<DesktopAcquireArgs>(name, args).map_err(bad)?;
            Op::Acquire {
                id: a.id,
                seconds: fleet::lease_seconds(a.lease_seconds)?,
            }
        }
        _ => {
            let id = super::parse::<DesktopIdArgs>(name, args).map_err(bad)?.id;
            match name {
                "desktop_status" => Op::Status(id),
                "desktop_pause" => Op::Pause(id),
                "desktop_resume" => Op::Resume(id),
                "desktop_release" => Op::Release(id),
                _ => Op::Heartbeat(id),
            }
        }
    })
}

/// A fleet tool's answer: the JSON as text and as structured content.
pub(crate) fn result(value: Value) -> CallToolResult {
    CallToolResult::structured(value)
}
