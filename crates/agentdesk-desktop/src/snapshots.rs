//! Snapshots of desktops' homes, for the [`DesktopManager`]: saving one (the desktop frozen
//! meanwhile), listing, restoring (into a new directory, then swapped in with one atomic
//! rename), cloning into a new desktop, checking and deleting them; who sees which; how many
//! each token keeps, and how many run at once.
//!
//! Consistency: a save freezes every process of the desktop (its sandbox's freezer, or
//! SIGSTOP) for the copy, so the home holds still, as at a power cut: databases that survive a
//! crash (Firefox's cookies, history and logins are SQLite with a write-ahead log) come back
//! whole, and the apps go on afterwards as if nothing happened. A restored desktop starts
//! with no app open; Firefox then starts as after a crash, which agentdesk's profile makes
//! a clean start (no "restore session?" page), so its open tabs are not brought back.
//!
//! Crash safety: the home is replaced by exchanging it with the restored directory
//! (`renameat2(RENAME_EXCHANGE)`), so at every moment `home` is either the old home or the
//! new one, whole. A `home.restore-*` beside it is a restore that did not finish (or the old
//! home not yet removed), and is removed at the next start.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use agentdesk_snapshot::{Keyspace, Progress, Repo, Verified, Watch};
use agentdesk_store::SnapshotRecord;

use crate::fleet::{self, Caller, DesktopInfo, FleetError};
use crate::{lock, DesktopId, DesktopManager};

/// A long operation's link to its caller: where it reports how far it is (bytes done and in
/// all; called often, from a blocking thread), and a flag the caller sets to stop it. A
/// stopped operation ends with `SnapshotError::Cancelled` at its next check, having removed
/// what it made; one past the point of no return (a restore swapping homes) finishes first.
#[derive(Clone)]
pub struct Job {
    progress: Arc<dyn Fn(Progress) + Send + Sync>,
    /// Checked between chunks, on a blocking thread.
    cancel: Arc<AtomicBool>,
    /// Awaited where the operation waits for its turn.
    cancelled: tokio_util::sync::CancellationToken,
    /// Set when the operation got its turn (it was not only waiting).
    started: Arc<AtomicBool>,
}

impl Job {
    /// A job reporting to `progress`.
    pub fn new(progress: impl Fn(Progress) + Send + Sync + 'static) -> Job {
        Job {
            progress: Arc::new(progress),
            cancel: Default::default(),
            cancelled: Default::default(),
            started: Default::default(),
        }
    }

    /// A job whose progress nobody watches.
    pub fn quiet() -> Job {
        Job::new(|_| {})
    }

    /// Whether a snapshot operation got its turn, rather than waiting behind others all along.
    pub fn started(&self) -> bool {
        self.started.load(Ordering::Relaxed)
    }

    /// Asks the operation to stop.
    pub fn cancel(&self) {
        self.cancel.store(true, Ordering::Relaxed);
        self.cancelled.cancel();
    }
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Job")
            .field("cancelled", &self.cancel.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

/// The most characters a snapshot's label may have.
pub const MAX_LABEL_CHARS: usize = 100;

/// The fleet's snapshots: the store of their files and their records.
#[derive(Debug)]
pub(crate) struct Snapshots {
    repo: Arc<Repo>,
    records: Mutex<BTreeMap<String, SnapshotRecord>>,
    /// Saves and restores hold it shared; removing files (a delete's collection) alone, so
    /// that no chunk a save just counted on is removed under it.
    files: tokio::sync::RwLock<()>,
    /// How many snapshots each token keeps of each desktop (`--snapshot-keep`).
    keep: usize,
    /// How many snapshots a (non-admin) token may hold in all (`--max-snapshots-per-token`).
    max_per_token: Option<usize>,
    /// Saves, restores, checks and clones running at once, server-wide: each reads or writes
    /// a whole home, and holds a manifest in memory.
    jobs: tokio::sync::Semaphore,
    /// Those of each token, running or waiting for their turn.
    running: Mutex<std::collections::HashMap<String, usize>>,
}

/// Snapshot operations running at once, server-wide (the others wait their turn).
const JOBS_AT_ONCE: usize = 4;

/// Snapshot operations one token may have running or waiting at once: one, so that no token
/// holds more than one of the server's turns, and an owner's chunks are written by one save
/// at a time (a save that fails removes the chunks it wrote).
const JOBS_PER_TOKEN: usize = 1;

/// A snapshot operation's turn: while it lives, it counts against its token and holds one of
/// the server's [`JOBS_AT_ONCE`].
struct Turn<'a> {
    snapshots: &'a Snapshots,
    token: String,
    _permit: Option<tokio::sync::SemaphorePermit<'a>>,
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        let mut running = lock(&self.snapshots.running);
        if let Some(n) = running.get_mut(&self.token) {
            *n -= 1;
            if *n == 0 {
                running.remove(&self.token);
            }
        }
    }
}

impl Snapshots {
    /// Opens the snapshot store in `<data-dir>/snapshots`, with the records `store` holds,
    /// and removes what no record refers to (a save cut short by a crash).
    pub(crate) fn open(
        data_dir: &Path,
        store: &agentdesk_store::Store,
        keep: usize,
        max_per_token: Option<usize>,
    ) -> anyhow::Result<Snapshots> {
        let repo = Repo::open(&data_dir.join("snapshots"))?;
        let (records, unreadable) = store.snapshots()?;
        let collected = if unreadable.is_empty() {
            let keep: Vec<(String, [u8; 32])> = records
                .iter()
                .filter_map(|r| Some((r.id.clone(), agentdesk_snapshot::parse_hex(&r.manifest)?)))
                .collect();
            repo.collect(&keep)?
        } else {
            tracing::warn!(?unreadable, "snapshot records in the store could not be read (written by a newer agentdesk?); they are kept, and no snapshot file is removed");
            Default::default()
        };
        if collected.chunks + collected.manifests > 0 {
            tracing::info!(
                manifests = collected.manifests,
                chunks = collected.chunks,
                bytes = collected.bytes,
                "removed snapshot files nothing refers to"
            );
        }
        Ok(Snapshots {
            repo: Arc::new(repo),
            records: Mutex::new(records.into_iter().map(|r| (r.id.clone(), r)).collect()),
            files: Default::default(),
            keep: keep.max(1),
            max_per_token,
            jobs: tokio::sync::Semaphore::new(JOBS_AT_ONCE),
            running: Default::default(),
        })
    }

    /// Waits for a snapshot operation's turn: at most [`JOBS_PER_TOKEN`] per token (more is
    /// refused at once), [`JOBS_AT_ONCE`] running server-wide (the rest wait, or stop waiting
    /// when their job is cancelled).
    async fn turn(&self, caller: &Caller, job: &Job) -> Result<Turn<'_>, FleetError> {
        {
            let mut running = lock(&self.running);
            let n = running.entry(caller.name.clone()).or_default();
            if *n >= JOBS_PER_TOKEN {
                return Err(FleetError::Busy {
                    what: format!(
                        "you already have {n} snapshot operation (a save, restore, check or \
                         clone) running; wait for it to end"
                    ),
                });
            }
            *n += 1;
        }
        let mut turn = Turn {
            snapshots: self,
            token: caller.name.clone(),
            _permit: None,
        };
        tokio::select! {
            permit = self.jobs.acquire() => {
                turn._permit = Some(permit.expect("the semaphore is never closed"));
                job.started.store(true, Ordering::Relaxed);
                Ok(turn)
            }
            () = job.cancelled.cancelled() => {
                Err(FleetError::Snapshot(agentdesk_snapshot::SnapshotError::Cancelled))
            }
        }
    }

    /// The snapshot `reference` names for `caller`: its id, or else a label only one of its
    /// snapshots has.
    pub(crate) fn find(
        &self,
        reference: &str,
        caller: &Caller,
    ) -> Result<SnapshotRecord, FleetError> {
        let records = lock(&self.records);
        if let Some(record) = records.get(reference).filter(|r| sees(caller, r)) {
            return Ok(record.clone());
        }
        let labelled: Vec<&SnapshotRecord> = records
            .values()
            .filter(|r| sees(caller, r) && r.label.as_deref() == Some(reference))
            .collect();
        match labelled.as_slice() {
            [one] => Ok((*one).clone()),
            [] => Err(FleetError::SnapshotNotFound {
                snapshot: reference.chars().take(120).collect(),
            }),
            several => Err(FleetError::BadRequest(format!(
                "{} of your snapshots are labelled {reference:?} ({}); name one by its id",
                several.len(),
                several
                    .iter()
                    .map(|r| r.id.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))),
        }
    }
}

/// Snapshots belong to the token that made them; admins see all.
fn sees(caller: &Caller, record: &SnapshotRecord) -> bool {
    caller.admin || record.owner == caller.name
}

/// A new snapshot id: `snap-` and ten letters or digits.
fn new_id() -> String {
    format!("snap-{}", fleet::random_tail())
}

/// The manifest hash a record holds.
fn manifest_of(record: &SnapshotRecord) -> Result<[u8; 32], FleetError> {
    agentdesk_snapshot::parse_hex(&record.manifest).ok_or_else(|| {
        FleetError::Snapshot(agentdesk_snapshot::SnapshotError::BadManifest(format!(
            "the record of {} holds no manifest hash",
            record.id
        )))
    })
}

/// Sets its job's flag when dropped: the caller stopped waiting (a timeout, a closed
/// connection), so the work on a blocking thread stops at its next check and cleans up.
struct CancelOnDrop(Job);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.cancel();
    }
}

/// Runs `work` with a [`Watch`] on `job`, cancelled if the caller stops waiting; on a blocking
/// thread, or with the desktop frozen when one is given.
async fn run<T: Send + 'static>(
    job: Job,
    frozen: Option<crate::Desktop>,
    work: impl FnOnce(Watch<'_>) -> Result<T, agentdesk_snapshot::SnapshotError> + Send + 'static,
) -> Result<T, FleetError> {
    let _guard = CancelOnDrop(job.clone());
    let work = move || {
        let progress = |p: Progress| (job.progress)(p);
        work(Watch {
            progress: &progress,
            cancel: &job.cancel,
        })
    };
    let done = match frozen {
        Some(desktop) => desktop
            .frozen(work)
            .await
            .map_err(|e| FleetError::BadRequest(e.to_string()))?,
        None => tokio::task::spawn_blocking(work)
            .await
            .map_err(|e| FleetError::BadRequest(format!("the work failed: {e}")))?,
    };
    Ok(done?)
}

impl DesktopManager {
    /// Saves desktop `id`'s home as a new snapshot owned by `caller`, with the desktop frozen
    /// during the copy; then drops the desktop's oldest snapshots beyond `--snapshot-keep`.
    pub async fn snapshot_save(
        &self,
        id: &DesktopId,
        label: Option<String>,
        caller: &Caller,
        job: Job,
    ) -> Result<SnapshotRecord, FleetError> {
        self.visible(id, caller)?;
        self.check_lease(id, caller)?;
        let label = check_label(label)?;
        let home = self.desktop_dir(id).join("home");
        if !home.is_dir() {
            return Err(FleetError::BadRequest(format!(
                "desktop \"{id}\" has no home yet (it never started); use it once, then save"
            )));
        }
        let _turn = self.snapshots.turn(caller, &job).await?;
        if let Some(max) = self.snapshots.max_per_token.filter(|_| !caller.admin) {
            // Counted after the save's own rotation: a save that replaces this desktop's
            // oldest snapshot adds none.
            let (held, of_desktop) = {
                let records = lock(&self.snapshots.records);
                let mine: Vec<&SnapshotRecord> = records
                    .values()
                    .filter(|r| r.owner == caller.name)
                    .collect();
                let of_desktop = mine.iter().filter(|r| r.desktop == id.as_str()).count();
                (mine.len(), of_desktop)
            };
            let after = held + 1 - usize::from(of_desktop >= self.snapshots.keep);
            if after > max {
                return Err(FleetError::Forbidden {
                    what: format!(
                        "your token already holds {held} snapshots, the most one token may \
                         (--max-snapshots-per-token); snapshot_delete one first"
                    ),
                });
            }
        }
        let snapshot = new_id();
        // Held until the snapshot is recorded: a delete's collection, which removes what no
        // record needs, must not run between the save's new chunks and its record.
        let _files = self.snapshots.files.read().await;
        let saved = {
            // A desktop that is not running is kept from starting meanwhile.
            let starting = self.slot_starting(id)?;
            let _starting = starting.lock().await;
            let desktop = lock(&self.slots).get(id).and_then(|s| s.desktop.clone());
            let repo = self.snapshots.repo.clone();
            let name = snapshot.clone();
            let keys = Keyspace::of(&caller.name);
            run(job, desktop, move |watch| {
                repo.save(&home, &name, keys, watch)
            })
            .await?
        };
        let record = SnapshotRecord {
            id: snapshot.clone(),
            owner: caller.name.clone(),
            desktop: id.to_string(),
            label,
            created: fleet::now(),
            manifest: agentdesk_snapshot::hex(&saved.manifest),
            files: saved.totals.files,
            bytes: saved.totals.bytes,
            added: saved.added,
            skipped: saved.skipped,
        };
        // The record is the commit: before it, the files are removed at the next start.
        if let Err(e) = self.store.put_snapshot(&record) {
            let _ = self.snapshots.repo.remove(&snapshot);
            return Err(e.into());
        }
        lock(&self.snapshots.records).insert(snapshot.clone(), record.clone());
        drop(_files);
        tracing::info!(
            desktop = %id,
            snapshot = %snapshot,
            files = saved.totals.files,
            bytes = saved.totals.bytes,
            added = saved.added,
            skipped = saved.skipped,
            "snapshot saved"
        );
        self.keep_newest(id, &caller.name).await;
        Ok(record)
    }

    /// Deletes `owner`'s oldest snapshots of the desktop beyond `--snapshot-keep` (another
    /// token's saves never push out this token's).
    async fn keep_newest(&self, id: &DesktopId, owner: &str) {
        let old: Vec<String> = {
            let records = lock(&self.snapshots.records);
            let mut of_desktop: Vec<&SnapshotRecord> = records
                .values()
                .filter(|r| r.desktop == id.as_str() && r.owner == owner)
                .collect();
            of_desktop.sort_by_key(|r| std::cmp::Reverse((r.created, r.id.clone())));
            of_desktop
                .iter()
                .skip(self.snapshots.keep)
                .map(|r| r.id.clone())
                .collect()
        };
        if old.is_empty() {
            return;
        }
        tracing::info!(desktop = %id, snapshots = ?old, "deleting the oldest snapshots (--snapshot-keep)");
        if let Err(e) = self.forget_snapshots(&old).await {
            tracing::warn!("{e}");
        }
    }

    /// Removes snapshot records, then the files only they needed.
    async fn forget_snapshots(&self, ids: &[String]) -> Result<(), FleetError> {
        self.store.remove_snapshots(ids)?;
        {
            let mut records = lock(&self.snapshots.records);
            for id in ids {
                records.remove(id);
            }
        }
        // What to keep is read once no save is between its chunks and its record.
        let _files = self.snapshots.files.write().await;
        let keep: Vec<(String, [u8; 32])> = lock(&self.snapshots.records)
            .values()
            .filter_map(|r| Some((r.id.clone(), agentdesk_snapshot::parse_hex(&r.manifest)?)))
            .collect();
        let repo = self.snapshots.repo.clone();
        let collected = tokio::task::spawn_blocking(move || repo.collect(&keep))
            .await
            .map_err(|e| FleetError::BadRequest(format!("the work failed: {e}")))??;
        tracing::debug!(
            chunks = collected.chunks,
            bytes = collected.bytes,
            "snapshot files removed"
        );
        Ok(())
    }

    /// The snapshots `caller` sees (of `desktop` only, if named), oldest first.
    pub fn snapshot_list(&self, desktop: Option<&str>, caller: &Caller) -> Vec<SnapshotRecord> {
        let mut list: Vec<SnapshotRecord> = lock(&self.snapshots.records)
            .values()
            .filter(|r| sees(caller, r) && desktop.is_none_or(|d| r.desktop == d))
            .cloned()
            .collect();
        list.sort_by_key(|r| (r.created, r.id.clone()));
        list
    }

    /// One snapshot `caller` sees, by id or label.
    pub fn snapshot_status(
        &self,
        snapshot: &str,
        caller: &Caller,
    ) -> Result<SnapshotRecord, FleetError> {
        self.snapshots.find(snapshot, caller)
    }

    /// Reads every chunk of a snapshot and checks it.
    pub async fn snapshot_verify(
        &self,
        snapshot: &str,
        caller: &Caller,
        job: Job,
    ) -> Result<(SnapshotRecord, Verified), FleetError> {
        let record = self.snapshots.find(snapshot, caller)?;
        let hash = manifest_of(&record)?;
        let _turn = self.snapshots.turn(caller, &job).await?;
        let _files = self.snapshots.files.read().await;
        let repo = self.snapshots.repo.clone();
        let id = record.id.clone();
        let keys = Keyspace::of(&record.owner);
        let verified = run(job, None, move |watch| repo.verify(&id, &hash, keys, watch)).await?;
        Ok((record, verified))
    }

    /// Deletes a snapshot `caller` owns (an admin: any). Its owner's newest snapshot of its
    /// desktop (the only one, or the one a restore would most likely want) needs `force`.
    pub async fn snapshot_delete(
        &self,
        snapshot: &str,
        force: bool,
        caller: &Caller,
    ) -> Result<SnapshotRecord, FleetError> {
        let record = self.snapshots.find(snapshot, caller)?;
        if !force {
            let records = lock(&self.snapshots.records);
            let of_desktop: Vec<&SnapshotRecord> = records
                .values()
                .filter(|r| r.desktop == record.desktop && r.owner == record.owner)
                .collect();
            let newest = of_desktop.iter().max_by_key(|r| (r.created, r.id.clone()));
            if newest.is_some_and(|n| n.id == record.id) {
                return Err(FleetError::NeedsForce {
                    what: format!(
                        "{} is its owner's {} snapshot of desktop {:?}; deleting it needs force: true",
                        record.id,
                        if of_desktop.len() == 1 {
                            "only"
                        } else {
                            "most recent"
                        },
                        record.desktop
                    ),
                });
            }
        }
        self.forget_snapshots(std::slice::from_ref(&record.id))
            .await?;
        tracing::info!(snapshot = %record.id, "snapshot deleted");
        Ok(record)
    }

    /// Replaces desktop `id`'s home with a snapshot's: restored beside it and checked, then
    /// the desktop is stopped, the two exchanged, and the desktop started again if it ran.
    pub async fn snapshot_restore(
        &self,
        id: &DesktopId,
        snapshot: &str,
        caller: &Caller,
        job: Job,
    ) -> Result<(SnapshotRecord, DesktopInfo), FleetError> {
        let owner = {
            let slots = lock(&self.slots);
            match slots.get(id) {
                Some(slot) if caller.sees(slot.record.owner.as_deref()) => {
                    slot.record.owner.clone()
                }
                _ => return Err(FleetError::NotFound { id: id.to_string() }),
            }
        };
        if !caller.manages(owner.as_deref()) {
            return Err(FleetError::Forbidden {
                what: format!(
                    "desktop \"{id}\" is shared; only an admin token replaces a shared desktop's \
                     home"
                ),
            });
        }
        self.check_lease(id, caller)?;
        let record = self.snapshots.find(snapshot, caller)?;
        let dir = self.desktop_dir(id);
        let restored = restore_dir(&dir);
        {
            let _turn = self.snapshots.turn(caller, &job).await?;
            let _files = self.snapshots.files.read().await;
            self.restore_files(&record, &restored, job).await?;
        }
        // Cancelling from here on is harmless: a desktop stopped but not started again starts
        // on its next use, the swap runs to its end on its blocking thread, and what is left
        // beside the home is removed at the next start.
        let starting = match self.slot_starting(id) {
            Ok(starting) => starting,
            Err(e) => {
                // Destroyed meanwhile.
                let _ = agentdesk_display::remove_tree(&restored);
                return Err(e);
            }
        };
        let swap = async {
            let _starting = starting.lock().await;
            let desktop = lock(&self.slots).get_mut(id).and_then(|s| s.desktop.take());
            let was_running = desktop.is_some();
            if let Some(desktop) = desktop {
                desktop.stop_now().await;
            }
            tokio::task::spawn_blocking(move || swap_in(&dir, &restored))
                .await
                .map_err(|e| FleetError::BadRequest(format!("the work failed: {e}")))??;
            Ok::<_, FleetError>(was_running)
        };
        let was_running = swap.await?;
        tracing::info!(desktop = %id, snapshot = %record.id, "snapshot restored");
        if was_running {
            self.running(id).await.map_err(|e| FleetError::Start {
                id: id.to_string(),
                message: format!(
                    "the home was restored from {}, but the desktop did not start again: {e}",
                    record.id
                ),
            })?;
        }
        Ok((record, self.status(id, caller)?))
    }

    /// Restores a snapshot's files into `into` (which must not exist), checking every chunk.
    pub(crate) async fn restore_files(
        &self,
        record: &SnapshotRecord,
        into: &Path,
        job: Job,
    ) -> Result<(), FleetError> {
        let hash = manifest_of(record)?;
        let repo = self.snapshots.repo.clone();
        let (name, into) = (record.id.clone(), into.to_path_buf());
        let keys = Keyspace::of(&record.owner);
        let target = into.clone();
        let restored = run(job, None, move |watch| {
            repo.restore(&name, &hash, keys, &into, watch)
        })
        .await;
        if restored.is_err() && std::fs::symlink_metadata(&target).is_ok() {
            // What the restore could not remove itself (a tree deeper than its removal goes).
            let _ = agentdesk_display::remove_tree(&target);
        }
        restored.map(drop)
    }

    /// Fills a new desktop's home from a snapshot, before its first start.
    /// The caller holds the desktop's start lock: nothing starts it meanwhile.
    pub(crate) async fn clone_home(
        &self,
        id: &DesktopId,
        snapshot: &SnapshotRecord,
        caller: &Caller,
        job: Job,
    ) -> Result<(), FleetError> {
        let dir = self.desktop_dir(id);
        crate::desktop::private_dir(&dir).map_err(|e| FleetError::BadRequest(format!("{e:#}")))?;
        let restored = restore_dir(&dir);
        let _turn = self.snapshots.turn(caller, &job).await?;
        let _files = self.snapshots.files.read().await;
        self.restore_files(snapshot, &restored, job).await?;
        std::fs::rename(&restored, dir.join("home")).map_err(|e| {
            let _ = agentdesk_display::remove_tree(&restored);
            FleetError::BadRequest(format!("error putting the restored home in place: {e}"))
        })?;
        tracing::info!(desktop = %id, snapshot = %snapshot.id, "home restored from a snapshot");
        Ok(())
    }
}

/// A new name beside the home for a restore to write into.
pub(crate) fn restore_dir(desktop_dir: &Path) -> PathBuf {
    desktop_dir.join(format!("home.restore-{}", fleet::random_tail()))
}

/// Puts `restored` in place as `dir/home` in one step, and removes what was there.
fn swap_in(dir: &Path, restored: &Path) -> Result<(), FleetError> {
    let home = dir.join("home");
    let failed = |e: std::io::Error| {
        FleetError::BadRequest(format!("error putting the restored home in place: {e}"))
    };
    let swapped = if std::fs::symlink_metadata(&home).is_err() {
        std::fs::rename(restored, &home)
    } else {
        rustix::fs::renameat_with(
            rustix::fs::CWD,
            restored,
            rustix::fs::CWD,
            &home,
            rustix::fs::RenameFlags::EXCHANGE,
        )
        .map_err(Into::into)
    };
    if let Err(e) = swapped {
        // The old home is as it was; the restored copy goes.
        let _ = agentdesk_display::remove_tree(restored);
        return Err(failed(e));
    }
    if std::fs::symlink_metadata(restored).is_err() {
        // Renamed into place: there was no home before.
        return Ok(());
    }
    // `restored` now names the old home.
    if let Err(e) = agentdesk_display::remove_tree(restored) {
        tracing::warn!(path = %restored.display(), %e, "error removing the replaced home; it goes at the next start");
    }
    Ok(())
}

/// Removes restores that never finished (and homes replaced but not yet removed) from a
/// desktop's directory: what a server killed mid-restore left.
pub(crate) fn clean_restores(desktop_dir: &Path) {
    let Ok(entries) = std::fs::read_dir(desktop_dir) else {
        return;
    };
    for entry in entries.flatten() {
        if entry
            .file_name()
            .to_string_lossy()
            .starts_with("home.restore-")
        {
            tracing::info!(path = %entry.path().display(), "removing what an unfinished restore left");
            let _ = agentdesk_display::remove_tree(&entry.path());
        }
    }
}

/// Control characters, and the format characters that reorder text on a screen (a label is
/// shown to other people: an admin's listing must read as it is).
fn unprintable(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

fn check_label(label: Option<String>) -> Result<Option<String>, FleetError> {
    let Some(label) = label else { return Ok(None) };
    let label = label.trim().to_string();
    if label.is_empty() {
        return Ok(None);
    }
    if label.chars().count() > MAX_LABEL_CHARS || label.chars().any(unprintable) {
        return Err(FleetError::BadRequest(format!(
            "a snapshot label is at most {MAX_LABEL_CHARS} characters, without control or \
             text-direction characters"
        )));
    }
    Ok(Some(label))
}
