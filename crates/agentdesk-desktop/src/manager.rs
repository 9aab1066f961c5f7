//! [`DesktopManager`]: the desktops of one agentdesk process — creating, finding, pausing and
//! destroying them, their owners and leases, and their records in the store, so that they come
//! back after a restart.
//!
//! A desktop's record is written (one transaction) before its processes start and removed
//! after they stop, so a server killed at any moment comes back with every desktop it had
//! promised; one whose start was cut short simply starts on first use. Desktops found in the
//! store at start are started lazily, on their first call or view (the default desktop at
//! once). A background task pauses idle desktops and lapses expired leases.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use agentdesk_image::Size;
use agentdesk_store::{DesktopRecord, Store};
use tokio_util::sync::CancellationToken;

use crate::fleet::{self, Caller, CreateRequest, DesktopInfo, FleetError, Network};
use crate::{lock, Desktop, DesktopConfig, DesktopId};

/// The fleet's settings.
#[derive(Debug, Clone)]
pub struct FleetConfig {
    /// What every desktop is built from; `id`, `size`, `data_dir` and `runtime_dir` are set per
    /// desktop, and `app_policy` narrowed by its `apps`.
    pub template: DesktopConfig,
    /// The server's data directory: desktops live in `desktops/<id>`, the store is
    /// `fleet.redb`.
    pub data_dir: PathBuf,
    /// The server's runtime directory: a desktop's sockets are in `<id>`.
    pub runtime_dir: PathBuf,
    /// Create (or bring back) and start the default desktop at start.
    pub default_desktop: bool,
    /// The most desktops (records, started or not).
    pub max_desktops: usize,
    /// Pause a desktop nobody has used for this long (no calls, no viewer); `None`: never.
    pub idle_pause: Option<Duration>,
    /// A lease's length when the caller names none, in seconds.
    pub lease_seconds: u64,
    /// The most desktops one (non-admin) token may own; `None`: only `max_desktops` applies.
    pub max_per_token: Option<usize>,
    /// How many snapshots each token keeps of each desktop (the oldest go first).
    pub snapshot_keep: usize,
    /// How many snapshots one (non-admin) token may hold in all; `None`: no limit of its own.
    pub max_snapshots_per_token: Option<usize>,
}

/// The largest screen a desktop created at run time may have, in pixels (3840x2400): each
/// pixel costs the X server 4 bytes and a screenshot several times that.
pub const MAX_CREATED_PIXELS: u64 = 3840 * 2400;

/// What a destroy did with the home.
#[derive(Debug, Clone)]
pub struct Destroyed {
    /// Where the home was moved, when asked to keep it (for the operator; no agent reaches it).
    pub kept_home: Option<PathBuf>,
}

#[derive(Debug)]
pub(crate) struct Slot {
    pub(crate) record: DesktopRecord,
    pub(crate) desktop: Option<Desktop>,
    /// Held while the desktop's processes start, so two first calls start it once.
    starting: Arc<tokio::sync::Mutex<()>>,
    /// Which desktop of this id it is: a desktop destroyed and created again under the same id
    /// is another one (see [`Manager::incarnation_of`]).
    incarnation: u64,
}

/// The last incarnation given to a slot.
static INCARNATIONS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

impl Slot {
    /// A desktop known by its record, not started.
    fn new(record: DesktopRecord) -> Slot {
        Slot {
            record,
            desktop: None,
            starting: Default::default(),
            incarnation: INCARNATIONS.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1,
        }
    }
}

/// Owns every desktop of the process.
#[derive(Debug)]
pub struct DesktopManager {
    config: FleetConfig,
    pub(crate) store: Store,
    pub(crate) slots: Mutex<BTreeMap<DesktopId, Slot>>,
    pub(crate) snapshots: crate::snapshots::Snapshots,
    /// Serializes creations, so the limit and the id check hold.
    creating: tokio::sync::Mutex<()>,
    /// Ids being destroyed: gone for every caller, but not free to create again until their
    /// directory and record are gone.
    destroying: Mutex<std::collections::BTreeSet<DesktopId>>,
    default: Option<DesktopId>,
    stop: CancellationToken,
}

impl DesktopManager {
    /// Opens the store, brings back the desktops it records, and starts the default desktop
    /// (creating it the first time) unless told not to.
    pub async fn start(config: FleetConfig) -> anyhow::Result<Arc<DesktopManager>> {
        use anyhow::Context as _;
        crate::desktop::private_dir(&config.data_dir)?;
        crate::desktop::private_dir(&config.data_dir.join("desktops"))?;
        let store = Store::open(&config.data_dir.join("fleet.redb"))?;
        let (records, unreadable) = store.all()?;
        for id in unreadable {
            tracing::warn!(%id, "a desktop record in the store could not be read (written by a newer agentdesk?); it is kept but not served");
        }
        let snapshots = crate::snapshots::Snapshots::open(
            &config.data_dir,
            &store,
            config.snapshot_keep,
            config.max_snapshots_per_token,
        )?;
        let mut slots = BTreeMap::new();
        for record in records {
            let Ok(id) = DesktopId::parse(&record.id) else {
                continue;
            };
            crate::snapshots::clean_restores(&config.data_dir.join("desktops").join(id.as_str()));
            slots.insert(id, Slot::new(record));
        }
        if !slots.is_empty() {
            tracing::info!(
                desktops = slots.len(),
                "desktops from the last run are back (each starts on first use)"
            );
        }
        let default = config.default_desktop.then(DesktopId::default_id);
        if let Some(id) = &default {
            let size = config.template.size;
            let slot = slots
                .entry(id.clone())
                .or_insert_with(|| Slot::new(new_record(id, None, size, Network::On, vec![])));
            // The default desktop follows the command line's screen size.
            slot.record.width = size.width;
            slot.record.height = size.height;
            store.put(&slot.record)?;
        }
        let manager = Arc::new(DesktopManager {
            config,
            store,
            slots: Mutex::new(slots),
            snapshots,
            creating: Default::default(),
            destroying: Default::default(),
            default,
            stop: CancellationToken::new(),
        });
        if let Some(id) = manager.default.clone() {
            manager
                .running(&id)
                .await
                .map_err(anyhow::Error::from)
                .context("error starting the default desktop")?;
        }
        tokio::spawn(sweep(Arc::downgrade(&manager), manager.stop.clone()));
        Ok(manager)
    }

    /// The desktop `/mcp` drives, if there is one.
    pub fn default_id(&self) -> Option<&DesktopId> {
        self.default.as_ref()
    }

    /// The server's data directory.
    pub fn data_dir(&self) -> &std::path::Path {
        &self.config.data_dir
    }

    /// The most desktops this server holds.
    pub fn max_desktops(&self) -> usize {
        self.config.max_desktops
    }

    /// The default desktop if it runs now (never starts one: for health checks and logs).
    pub fn default_desktop(&self) -> Option<Desktop> {
        let id = self.default.as_ref()?;
        lock(&self.slots).get(id)?.desktop.clone()
    }

    /// A desktop's data directory (its audit log is there), if `caller` may see it; started
    /// or not.
    pub fn data_dir_of(&self, id: &DesktopId, caller: &Caller) -> Option<PathBuf> {
        let slots = lock(&self.slots);
        let slot = slots.get(id)?;
        caller
            .sees(slot.record.owner.as_deref())
            .then(|| self.desktop_dir(id))
    }

    /// Which desktop of id `id` this is, for `caller`: a number that changes when the desktop
    /// is destroyed and another created under its id (for work that must not go on on the
    /// new one); `None` if there is none the caller sees.
    pub fn incarnation_of(&self, id: &DesktopId, caller: &Caller) -> Option<u64> {
        let slots = lock(&self.slots);
        let slot = slots.get(id)?;
        caller
            .sees(slot.record.owner.as_deref())
            .then_some(slot.incarnation)
    }

    pub(crate) fn desktop_dir(&self, id: &DesktopId) -> PathBuf {
        self.config.data_dir.join("desktops").join(id.as_str())
    }

    /// The home of desktop `id`, for `caller`'s file operations (started or not; a lease by
    /// another token keeps them out, as it keeps out tool calls).
    pub fn home_for_files(&self, id: &DesktopId, caller: &Caller) -> Result<PathBuf, FleetError> {
        self.visible(id, caller)?;
        self.check_lease(id, caller)?;
        Ok(self.desktop_dir(id).join("home"))
    }

    /// The desktop `id` for `caller`, started if it was not (after a restart). Not found if
    /// `caller` may not see it, exactly as if it did not exist.
    pub async fn desktop(&self, id: &DesktopId, caller: &Caller) -> Result<Desktop, FleetError> {
        self.visible(id, caller)?;
        self.running(id).await
    }

    /// The lock a desktop's start holds: held, the desktop is kept from starting.
    pub(crate) fn slot_starting(
        &self,
        id: &DesktopId,
    ) -> Result<Arc<tokio::sync::Mutex<()>>, FleetError> {
        lock(&self.slots)
            .get(id)
            .map(|s| s.starting.clone())
            .ok_or_else(|| not_found(id))
    }

    pub(crate) fn visible(&self, id: &DesktopId, caller: &Caller) -> Result<(), FleetError> {
        let slots = lock(&self.slots);
        match slots.get(id) {
            Some(slot) if caller.sees(slot.record.owner.as_deref()) => Ok(()),
            _ => Err(not_found(id)),
        }
    }

    pub(crate) async fn running(&self, id: &DesktopId) -> Result<Desktop, FleetError> {
        let starting = {
            let slots = lock(&self.slots);
            let slot = slots.get(id).ok_or_else(|| not_found(id))?;
            if let Some(desktop) = &slot.desktop {
                return Ok(desktop.clone());
            }
            slot.starting.clone()
        };
        let _starting = starting.lock().await;
        let config = {
            let slots = lock(&self.slots);
            let slot = slots.get(id).ok_or_else(|| not_found(id))?;
            if let Some(desktop) = &slot.desktop {
                return Ok(desktop.clone());
            }
            self.desktop_config(id, &slot.record)
        };
        let started = std::time::Instant::now();
        let desktop = Desktop::start(config)
            .await
            .map_err(|e| FleetError::Start {
                id: id.to_string(),
                message: format!("{e:#}"),
            })?;
        tracing::info!(desktop = %id, ms = started.elapsed().as_millis() as u64, "desktop started");
        let kept = match lock(&self.slots).get_mut(id) {
            Some(slot) => {
                slot.desktop = Some(desktop.clone());
                true
            }
            None => false,
        };
        if !kept {
            // Destroyed while it started.
            desktop.stop().await;
            return Err(not_found(id));
        }
        Ok(desktop)
    }

    fn desktop_config(&self, id: &DesktopId, record: &DesktopRecord) -> DesktopConfig {
        let mut config = self.config.template.clone();
        config.id = id.clone();
        config.size = Size {
            width: record.width,
            height: record.height,
        };
        config.data_dir = self.desktop_dir(id);
        config.runtime_dir = self.config.runtime_dir.join(id.as_str());
        config.app_policy.only = record.apps.clone();
        config.network = record.network;
        config
    }

    /// The desktops `caller` may see, in id order.
    pub fn list(&self, caller: &Caller) -> Vec<DesktopInfo> {
        let now = fleet::now();
        lock(&self.slots)
            .iter()
            .filter(|(_, s)| caller.sees(s.record.owner.as_deref()))
            .map(|(id, s)| self.info(id, s, now))
            .collect()
    }

    /// One desktop, as `caller` may see it.
    pub fn status(&self, id: &DesktopId, caller: &Caller) -> Result<DesktopInfo, FleetError> {
        let slots = lock(&self.slots);
        match slots.get(id) {
            Some(slot) if caller.sees(slot.record.owner.as_deref()) => {
                Ok(self.info(id, slot, fleet::now()))
            }
            _ => Err(not_found(id)),
        }
    }

    fn info(&self, id: &DesktopId, slot: &Slot, now: u64) -> DesktopInfo {
        let r = &slot.record;
        let last_used = match &slot.desktop {
            Some(d) => used_at(d).max(r.last_used),
            None => r.last_used,
        };
        DesktopInfo {
            id: id.clone(),
            owner: r.owner.clone(),
            state: slot.desktop.as_ref().map_or("stopped", Desktop::state_name),
            screen: Size {
                width: r.width,
                height: r.height,
            },
            network: if r.network { Network::On } else { Network::Off },
            apps: r.apps.clone(),
            created: r.created,
            last_used,
            lease: fleet::live_lease(r, now).cloned(),
            is_default: self.default.as_ref() == Some(id),
            viewers: slot.desktop.as_ref().map_or(0, Desktop::viewers),
        }
    }

    /// Creates a desktop for `caller` and starts it. Its record is in the store before any
    /// process starts; if the start fails, the record goes again.
    pub async fn create(
        &self,
        request: CreateRequest,
        caller: &Caller,
        job: crate::Job,
    ) -> Result<DesktopInfo, FleetError> {
        let network = request.network.unwrap_or(Network::On);
        if network == Network::Off && self.config.template.sandbox.is_none() {
            return Err(FleetError::BadRequest(
                "network off needs the desktop sandbox, which this server runs without \
                 (--no-sandbox); create the desktop with network on"
                    .into(),
            ));
        }
        let screen = request.screen.unwrap_or(self.config.template.size);
        if !(64..=8192).contains(&screen.width) || !(64..=8192).contains(&screen.height) {
            return Err(FleetError::BadRequest(format!(
                "screen {screen} is out of range; each side must be 64 to 8192 pixels"
            )));
        }
        if u64::from(screen.width) * u64::from(screen.height) > MAX_CREATED_PIXELS {
            return Err(FleetError::BadRequest(format!(
                "screen {screen} is larger than a desktop made at run time may be: at most \
                 {MAX_CREATED_PIXELS} pixels (3840x2400, say)"
            )));
        }
        if request.apps.len() > 64 || request.apps.iter().any(|a| a.is_empty() || a.len() > 256) {
            return Err(FleetError::BadRequest(
                "apps takes at most 64 names of 1 to 256 characters".into(),
            ));
        }
        let id = match &request.id {
            Some(id) => DesktopId::parse(id)?,
            None => DesktopId::generate(),
        };
        // Checked before anything is made.
        let snapshot = match &request.from_snapshot {
            Some(reference) => Some(self.snapshots.find(reference, caller)?),
            None => None,
        };
        let record = {
            let _creating = self.creating.lock().await;
            let record = new_record(&id, caller.owner_of_new(), screen, network, request.apps);
            {
                let mut slots = lock(&self.slots);
                if slots.contains_key(&id) || lock(&self.destroying).contains(&id) {
                    return Err(FleetError::Taken { id: id.to_string() });
                }
                if slots.len() >= self.config.max_desktops {
                    return Err(FleetError::Full {
                        max: self.config.max_desktops,
                    });
                }
                if let (Some(limit), Some(owner)) = (self.config.max_per_token, &record.owner) {
                    let owned = slots
                        .values()
                        .filter(|s| s.record.owner.as_ref() == Some(owner))
                        .count();
                    if owned >= limit {
                        return Err(FleetError::Forbidden {
                            what: format!(
                                "your token already owns {owned} desktops, the most one token \
                                 may (--max-desktops-per-token); destroy one first"
                            ),
                        });
                    }
                }
                slots.insert(id.clone(), Slot::new(record.clone()));
            }
            // A new desktop starts with nothing: a directory left under its id (a crash
            // between a destroy's steps) is moved aside for the operator, never adopted.
            let dir = self.desktop_dir(&id);
            if std::fs::symlink_metadata(&dir).is_ok() {
                let aside = self.config.data_dir.join("orphaned").join(format!(
                    "{id}-{}-{}",
                    fleet::now(),
                    fleet::random_tail()
                ));
                let moved = aside
                    .parent()
                    .map_or(Ok(()), crate::desktop::private_dir)
                    .map_err(std::io::Error::other)
                    .and_then(|()| std::fs::rename(&dir, &aside));
                if let Err(e) = moved {
                    lock(&self.slots).remove(&id);
                    return Err(FleetError::BadRequest(format!(
                        "a directory of an earlier desktop {id} is in the way and could not be \
                         moved aside ({e}); choose another id"
                    )));
                }
                tracing::warn!(desktop = %id, aside = %aside.display(), "moved an earlier desktop's directory aside");
            }
            if let Err(e) = self.store.put(&record) {
                lock(&self.slots).remove(&id);
                return Err(e.into());
            }
            record
        };
        tracing::info!(desktop = %id, owner = record.owner.as_deref().unwrap_or("shared"), "desktop created");
        let cloned = match &snapshot {
            Some(snapshot) => {
                // Held through the clone and, if it fails, the slot's removal: a call that
                // comes meanwhile waits, then finds the desktop whole, or gone.
                let starting = self.slot_starting(&id)?;
                let _starting = starting.lock().await;
                let cloned = self.clone_home(&id, snapshot, caller, job).await;
                if cloned.is_err() {
                    lock(&self.slots).remove(&id);
                }
                cloned
            }
            None => Ok(()),
        };
        if let Err(e) = match cloned {
            Ok(()) => self.running(&id).await.map(drop),
            Err(e) => Err(e),
        } {
            // Nothing of it is left: no record, no directory, no process.
            let slot = lock(&self.slots).remove(&id);
            if let Some(desktop) = slot.and_then(|s| s.desktop) {
                desktop.stop().await;
            }
            let _ = self.store.remove(id.as_str());
            let _ = agentdesk_display::remove_tree(&self.desktop_dir(&id));
            return Err(e);
        }
        self.status(&id, caller)
    }

    /// Stops a desktop and everything on it, forgets it, and deletes its directory — or, with
    /// `keep_home`, moves its home to `<data-dir>/kept/<id>-<unix time>` for the operator.
    pub async fn destroy(
        &self,
        id: &DesktopId,
        caller: &Caller,
        keep_home: bool,
    ) -> Result<Destroyed, FleetError> {
        let slot = {
            let mut slots = lock(&self.slots);
            let slot = match slots.get(id) {
                Some(slot) if caller.sees(slot.record.owner.as_deref()) => slot,
                _ => return Err(not_found(id)),
            };
            if !caller.manages(slot.record.owner.as_deref()) {
                return Err(FleetError::Forbidden {
                    what: format!(
                        "desktop \"{id}\" is shared; only an admin token destroys shared desktops"
                    ),
                });
            }
            // Gone for every caller from here on; its id is not free until the end.
            lock(&self.destroying).insert(id.clone());
            slots.remove(id).expect("checked above")
        };
        let result = self.dismantle(id, &slot, keep_home).await;
        if result.is_err() {
            // Nothing was lost: the desktop is back, stopped, as it was.
            let incarnation = slot.incarnation;
            lock(&self.slots).insert(
                id.clone(),
                Slot {
                    incarnation,
                    ..Slot::new(slot.record)
                },
            );
        }
        lock(&self.destroying).remove(id);
        result
    }

    /// Stops a desktop taken out of the fleet, keeps its home if asked, and removes its record
    /// and directories. An error before the record goes leaves the home in place.
    async fn dismantle(
        &self,
        id: &DesktopId,
        slot: &Slot,
        keep_home: bool,
    ) -> Result<Destroyed, FleetError> {
        if let Some(desktop) = &slot.desktop {
            desktop.stop().await;
        }
        // A start in flight ends before the directory goes.
        let _starting = slot.starting.lock().await;
        let dir = self.desktop_dir(id);
        let mut kept_home = None;
        if keep_home && dir.join("home").is_dir() {
            let kept = self.config.data_dir.join("kept");
            crate::desktop::private_dir(&kept)
                .map_err(|e| FleetError::BadRequest(e.to_string()))?;
            // Unique, so that a second keep of the same id never collides with the first.
            let target = kept.join(format!("{id}-{}-{}", fleet::now(), fleet::random_tail()));
            std::fs::rename(dir.join("home"), &target).map_err(|e| {
                FleetError::BadRequest(format!("error keeping the home of {id}: {e}"))
            })?;
            kept_home = Some(target);
        }
        // The record first: if that fails, nothing is lost. A directory that then fails to go
        // is moved aside by the next create of this id.
        self.store.remove(id.as_str())?;
        if let Err(e) = agentdesk_display::remove_tree(&dir) {
            if e.kind() != std::io::ErrorKind::NotFound {
                tracing::warn!(desktop = %id, %e, "error removing the desktop's directory");
            }
        }
        let runtime = self.config.runtime_dir.join(id.as_str());
        let _ = agentdesk_display::remove_tree(&runtime.with_extension("conf"));
        let _ = agentdesk_display::remove_tree(&runtime);
        tracing::info!(desktop = %id, kept_home = kept_home.is_some(), "desktop destroyed");
        Ok(Destroyed { kept_home })
    }

    /// Refuses `caller` a desktop another token leases (an admin passes): a lease reserves the
    /// desktop's use for its holder, whoever else could see it.
    pub fn check_lease(&self, id: &DesktopId, caller: &Caller) -> Result<(), FleetError> {
        if caller.admin {
            return Ok(());
        }
        let now = fleet::now();
        let slots = lock(&self.slots);
        match slots
            .get(id)
            .and_then(|s| fleet::live_lease(&s.record, now))
        {
            Some(lease) if lease.holder != caller.name => Err(FleetError::Leased {
                id: id.to_string(),
                holder: lease.holder.clone(),
                secs: lease.expires - now,
            }),
            _ => Ok(()),
        }
    }

    /// Pauses a desktop (see [`Desktop::pause`]); one not started is left as it is.
    pub async fn pause(&self, id: &DesktopId, caller: &Caller) -> Result<DesktopInfo, FleetError> {
        self.visible(id, caller)?;
        self.check_lease(id, caller)?;
        let desktop = lock(&self.slots).get(id).and_then(|s| s.desktop.clone());
        if let Some(desktop) = desktop {
            desktop
                .pause()
                .await
                .map_err(|e| FleetError::BadRequest(e.to_string()))?;
        }
        self.status(id, caller)
    }

    /// Resumes a paused desktop, or starts one that is not running.
    pub async fn resume(&self, id: &DesktopId, caller: &Caller) -> Result<DesktopInfo, FleetError> {
        self.visible(id, caller)?;
        self.check_lease(id, caller)?;
        let desktop = self.desktop(id, caller).await?;
        let _ = desktop.resume().await;
        self.status(id, caller)
    }

    /// Leases a desktop to `caller` for `seconds` (the default when `None`): `id`, or else a
    /// free one it may see (its own first, then shared; never the default desktop), or else a
    /// new one. The desktop is started.
    pub async fn acquire(
        &self,
        id: Option<&str>,
        seconds: Option<u64>,
        caller: &Caller,
    ) -> Result<DesktopInfo, FleetError> {
        let seconds = seconds.unwrap_or(self.config.lease_seconds);
        if !fleet::LEASE_SECONDS.contains(&seconds) {
            return Err(FleetError::BadRequest(format!(
                "lease_seconds must be {} to {} (got {seconds})",
                fleet::LEASE_SECONDS.start(),
                fleet::LEASE_SECONDS.end()
            )));
        }
        let id = match id {
            Some(id) => DesktopId::parse(id)?,
            None => match self.free_desktop(caller, seconds)? {
                Some(id) => id,
                None => {
                    let info = self
                        .create(CreateRequest::default(), caller, crate::Job::quiet())
                        .await?;
                    info.id
                }
            },
        };
        self.update(&id, caller, |record, now| {
            fleet::take_lease(record, caller, seconds, now)
        })?;
        self.desktop(&id, caller).await?;
        self.status(&id, caller)
    }

    /// Takes a lease on the first free desktop `caller` sees, if any, and says which.
    fn free_desktop(&self, caller: &Caller, seconds: u64) -> Result<Option<DesktopId>, FleetError> {
        let now = fleet::now();
        let mut slots = lock(&self.slots);
        let mut candidates: Vec<(&DesktopId, &mut Slot)> = slots
            .iter_mut()
            .filter(|(id, s)| {
                Some(*id) != self.default.as_ref()
                    && caller.sees(s.record.owner.as_deref())
                    && fleet::live_lease(&s.record, now).is_none()
            })
            .collect();
        // Its own desktops first, then shared ones.
        candidates.sort_by_key(|(_, s)| s.record.owner.is_none());
        let Some((id, slot)) = candidates.into_iter().next() else {
            return Ok(None);
        };
        let mut record = slot.record.clone();
        fleet::take_lease(&mut record, caller, seconds, now)?;
        self.store.put(&record)?;
        slot.record = record;
        Ok(Some(id.clone()))
    }

    /// Gives up `caller`'s lease on `id` (an admin may end anyone's). The desktop stays.
    pub fn release(&self, id: &DesktopId, caller: &Caller) -> Result<DesktopInfo, FleetError> {
        self.update(id, caller, |record, now| {
            fleet::end_or_renew_lease(record, caller, false, now)
        })?;
        self.status(id, caller)
    }

    /// Extends `caller`'s lease on `id` by its length from now.
    pub fn heartbeat(&self, id: &DesktopId, caller: &Caller) -> Result<DesktopInfo, FleetError> {
        self.update(id, caller, |record, now| {
            fleet::end_or_renew_lease(record, caller, true, now)
        })?;
        self.status(id, caller)
    }

    /// Changes a record the caller sees, in memory and in the store (or neither).
    fn update(
        &self,
        id: &DesktopId,
        caller: &Caller,
        change: impl FnOnce(&mut DesktopRecord, u64) -> Result<(), FleetError>,
    ) -> Result<(), FleetError> {
        let mut slots = lock(&self.slots);
        let slot = match slots.get_mut(id) {
            Some(slot) if caller.sees(slot.record.owner.as_deref()) => slot,
            _ => return Err(not_found(id)),
        };
        let mut record = slot.record.clone();
        change(&mut record, fleet::now())?;
        self.store.put(&record)?;
        slot.record = record;
        Ok(())
    }

    /// Pauses desktops idle for longer than `--idle-pause` with no viewer, gives back idle
    /// desktops' screenshot memory, lapses expired leases, and records when each desktop was
    /// last used.
    async fn sweep_once(&self) {
        let mut to_pause = Vec::new();
        let mut to_trim = Vec::new();
        for desktop in lock(&self.slots).values().filter_map(|s| s.desktop.clone()) {
            let idle = desktop.idle_for();
            let pause_due = self.config.idle_pause.is_some_and(|limit| idle >= limit);
            if pause_due && !desktop.is_paused() && desktop.viewers() == 0 {
                to_pause.push(desktop.clone());
            }
            if idle >= TRIM_AFTER {
                to_trim.push(desktop);
            }
        }
        self.persist(fleet::now());
        for desktop in to_trim {
            desktop.trim().await;
        }
        for desktop in to_pause {
            if let Err(e) = desktop.pause().await {
                tracing::debug!(desktop = %desktop.id(), "not paused: {e}");
            }
        }
    }

    /// Lapses expired leases and records last use (moved by a minute or more), in the store.
    fn persist(&self, now: u64) {
        let mut changed = Vec::new();
        for slot in lock(&self.slots).values_mut() {
            let mut record = slot.record.clone();
            if record.lease.as_ref().is_some_and(|l| l.expires <= now) {
                tracing::info!(desktop = %record.id, "lease expired; the desktop is free again");
                record.lease = None;
            }
            if let Some(desktop) = &slot.desktop {
                // Written when it moved by a minute or more, not on every call.
                let used = used_at(desktop);
                if used >= record.last_used + 60 {
                    record.last_used = used;
                }
            }
            if record != slot.record {
                slot.record = record.clone();
                changed.push(record);
            }
        }
        if !changed.is_empty() {
            if let Err(e) = self.store.put_all(&changed) {
                tracing::warn!("{e}");
            }
        }
    }

    /// Stops every desktop and everything running on it; their records stay, so they come
    /// back at the next start.
    pub async fn shutdown(&self) {
        self.stop.cancel();
        self.persist(fleet::now());
        let desktops: Vec<Desktop> = lock(&self.slots)
            .values_mut()
            .filter_map(|s| s.desktop.take())
            .collect();
        // In parallel: each waits seconds for its apps to close.
        let mut stopping = tokio::task::JoinSet::new();
        for desktop in desktops {
            stopping.spawn(async move { desktop.stop().await });
        }
        while stopping.join_next().await.is_some() {}
    }
}

/// How often the sweeper looks.
const SWEEP_EVERY: Duration = Duration::from_secs(1);

/// A desktop unused this long gives back its screenshot memory ([`Desktop::trim`]): with
/// a hundred desktops, their frame buffers would otherwise be most of the server's memory.
const TRIM_AFTER: Duration = Duration::from_secs(5);

async fn sweep(manager: Weak<DesktopManager>, stop: CancellationToken) {
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(SWEEP_EVERY) => {}
        }
        let Some(manager) = manager.upgrade() else {
            return;
        };
        manager.sweep_once().await;
    }
}

/// Unix seconds of a running desktop's last use.
fn used_at(desktop: &Desktop) -> u64 {
    std::time::SystemTime::now()
        .checked_sub(desktop.idle_for())
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_secs())
}

fn not_found(id: &DesktopId) -> FleetError {
    FleetError::NotFound { id: id.to_string() }
}

fn new_record(
    id: &DesktopId,
    owner: Option<String>,
    size: Size,
    network: Network,
    apps: Vec<String>,
) -> DesktopRecord {
    let now = fleet::now();
    DesktopRecord {
        id: id.to_string(),
        owner,
        width: size.width,
        height: size.height,
        network: network == Network::On,
        apps,
        created: now,
        last_used: now,
        lease: None,
    }
}
