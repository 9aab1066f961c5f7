//! Apps an agent launched on one desktop: starting them (only what the catalog offers, as argv,
//! never through a shell), keeping their output in bounded logs, and reporting on them.
//!
//! Apps are tracked per desktop: a pid launched on one desktop is unknown to another.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use agentdesk_apps::{AppPolicy, BoundedLog, Catalog};
use agentdesk_display::{Child, Cmd, Io, MenuItem};
use anyhow::Context as _;
use tokio::io::AsyncReadExt;

use crate::{lock, DesktopError, Result};

/// A desktop entry that deletes the one of the same id further down `XDG_DATA_DIRS`.
const HIDDEN_ENTRY: &str =
    "[Desktop Entry]\nType=Application\nName=Withheld by the launch policy\nHidden=true\n";

/// What a session's launchers offer (see [`Apps::launchers`]).
#[derive(Debug, Clone)]
pub(crate) struct Launchers {
    pub(crate) menu: Vec<MenuItem>,
    /// Under a policy, the apps' `XDG_DATA_HOME`: a read-only directory whose `applications/`
    /// holds a `Hidden=true` entry for each id of `Catalog::ids_hidden_from_apps`. GIO and
    /// `xdg-open` ("open with", a browser opening a download) look for desktop entries there
    /// first, so the withheld ones (and terminal apps, which they would start in a terminal
    /// emulator) are deleted for them, and a `.desktop` file an app saves (there, or in the
    /// home's `.local/share/applications`) adds nothing. A hurdle, not a wall: an app with a
    /// file chooser can rename the directory and make another (SECURITY.md).
    pub(crate) data_home: Option<PathBuf>,
}

/// Each app's log keeps at most this much of its newest output.
const LOG_BYTES: u64 = 1024 * 1024;
/// app_status reads at most this much of a log.
const TAIL_BYTES: usize = 256 * 1024;
/// Exited apps are forgotten beyond this many tracked apps.
const MAX_TRACKED: usize = 256;

#[derive(Debug)]
struct Launched {
    child: Child,
    log: PathBuf,
}

#[derive(Debug)]
pub(crate) struct Apps {
    log_dir: PathBuf,
    policy: AppPolicy,
    launched: Arc<Mutex<BTreeMap<u32, Launched>>>,
}

impl Apps {
    pub(crate) fn new(log_dir: PathBuf, policy: AppPolicy) -> anyhow::Result<Apps> {
        // Logs of an earlier run describe processes that are gone, and their pids will be
        // reused: start empty.
        if log_dir.exists() {
            std::fs::remove_dir_all(&log_dir)
                .with_context(|| format!("error clearing {}", log_dir.display()))?;
        }
        crate::desktop::private_dir(&log_dir)?;
        Ok(Apps {
            log_dir,
            policy,
            launched: Arc::new(Mutex::new(BTreeMap::new())),
        })
    }

    /// What this desktop offers: the installed applications the operator's policy allows.
    ///
    /// Under a policy, entries in the desktop's own home are not read: the agent can write
    /// there (with any editor on the desktop), and a `.desktop` file of its own making would
    /// carry an allowed Name or file id with an `Exec` of its choosing.
    fn catalog(&self, home: &Path) -> Catalog {
        let user_entries = self.policy.is_open().then_some(home);
        let data_dirs = Catalog::data_dirs_from_env(
            None,
            std::env::var_os("XDG_DATA_DIRS").as_deref(),
            user_entries,
        );
        // The same PATH the apps will run with, so TryExec is checked where exec will look.
        let path = crate::supervisor::desktop_path();
        let path_dirs = Catalog::path_dirs_from_env(Some(std::ffi::OsStr::new(&path)));
        // The home's entries are the apps' to write: read without following their links.
        let untrusted = user_entries.map(|h| h.join(".local/share"));
        Catalog::load_untrusting(&data_dirs, &path_dirs, untrusted.as_deref())
            .restrict(&self.policy)
    }

    /// What the desktop's own launchers offer for a session starting now: the start menu, one
    /// item per app of [`Apps::catalog`]; and, under a launch policy, a data directory that
    /// hides every other desktop entry from the apps' own launchers (see [`Launchers`]).
    pub(crate) fn launchers(&self, home: &Path, conf_dir: &Path) -> anyhow::Result<Launchers> {
        let catalog = self.catalog(home);
        let menu = catalog
            .apps()
            .iter()
            .map(|a| MenuItem {
                name: a.name.clone(),
                argv: a.argv.clone(),
            })
            .collect();
        if self.policy.is_open() {
            return Ok(Launchers {
                menu,
                data_home: None,
            });
        }
        let data_home = conf_dir.join("policy-data");
        let hidden: Vec<(&str, &[u8])> = catalog
            .ids_hidden_from_apps()
            .into_iter()
            // Ids come from file names in the data directories; be sure all the same.
            .filter(|id| !id.contains('/') && !id.starts_with('.'))
            .map(|id| (id, HIDDEN_ENTRY.as_bytes()))
            .collect();
        // Writable while it is rewritten (after a restart it is read-only), then not.
        crate::desktop::private_dir(&data_home)?;
        agentdesk_display::write_read_only_dir(
            &data_home.join("applications"),
            &hidden,
            "hidden entries",
        )?;
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&data_home, std::fs::Permissions::from_mode(0o500))
            .with_context(|| format!("error protecting {}", data_home.display()))?;
        Ok(Launchers {
            menu,
            data_home: Some(data_home),
        })
    }

    pub(crate) fn list(&self, home: &Path) -> Vec<(String, String)> {
        self.catalog(home)
            .apps()
            .iter()
            .map(|a| (a.name.clone(), a.exec.clone()))
            .collect()
    }

    pub(crate) async fn launch(
        &self,
        launcher: &agentdesk_display::Launcher,
        command: &str,
        home: &Path,
        env: &[(String, String)],
    ) -> Result<(u32, PathBuf)> {
        let plan = self
            .catalog(home)
            .resolve_launch(command)
            .map_err(|e| DesktopError::Refused(e.to_string()))?;
        let Some((program, args)) = plan.argv.split_first() else {
            return Err(DesktopError::Refused("empty command".into()));
        };
        let mut cmd = Cmd::new(program);
        cmd.args(args)
            .envs(env.iter().map(|(k, v)| (k, v)))
            .current_dir(home)
            .stdout(Io::Pipe)
            .stderr(Io::Pipe);
        let name = Path::new(program)
            .file_name()
            .map_or(program.clone(), |n| n.to_string_lossy().into_owned());
        let mut child = launcher
            .spawn(cmd, format!("app {name}"))
            .await
            .map_err(|e| DesktopError::Failed(e.to_string()))?;
        let pid = child.id();
        let log_path = self.log_dir.join(format!("{pid}.log"));
        let log = BoundedLog::create(&log_path, LOG_BYTES).map_err(|e| {
            DesktopError::Internal(format!("error creating {}: {e}", log_path.display()))
        })?;
        let log = Arc::new(Mutex::new(log));
        for fd in [child.take_stdout(), child.take_stderr()]
            .into_iter()
            .flatten()
        {
            copy_to_log(fd, log.clone());
        }
        tracing::info!(pid, app = %name, "app launched");
        let mut launched = lock(&self.launched);
        if launched.len() >= MAX_TRACKED {
            // Forget apps that are entirely gone. An app whose launcher exited may live on in
            // processes it started (same process group): those stay tracked, because
            // forgetting means dropping the handle, which kills the group.
            launched.retain(|_, app| {
                let gone = app.child.try_status().is_some() && !app.child.group_alive();
                if gone {
                    let _ = std::fs::remove_file(&app.log);
                }
                !gone
            });
        }
        // Reaped as soon as it exits, so no zombie waits for the next launch to be noticed.
        let exited = child.exited();
        let apps = Arc::downgrade(&self.launched);
        tokio::spawn(async move {
            exited.await;
            if let Some(apps) = apps.upgrade() {
                if let Some(app) = lock(&apps).get_mut(&pid) {
                    app.child.try_status();
                }
            }
        });
        launched.insert(
            pid,
            Launched {
                child,
                log: log_path.clone(),
            },
        );
        Ok((pid, log_path))
    }

    pub(crate) fn status(&self, pid: i64, lines: usize) -> Result<(u32, bool, PathBuf, String)> {
        let mut launched = lock(&self.launched);
        let found = u32::try_from(pid)
            .ok()
            .and_then(|p| launched.get_mut(&p).map(|app| (p, app)));
        let Some((pid, app)) = found else {
            return Err(DesktopError::Refused(format!(
                "PID {pid} was not launched on this desktop; app_status only knows pids \
                 returned by app_launch"
            )));
        };
        // A launcher that forked its app and exited still counts as running while the app does.
        let running = app.child.try_status().is_none() || app.child.group_alive();
        let tail = agentdesk_apps::tail_lines(&app.log, lines, TAIL_BYTES).unwrap_or_default();
        Ok((pid, running, app.log.clone(), tail))
    }

    /// Whether any app launched here still runs (reaping those that have exited).
    pub(crate) fn any_running(&self) -> bool {
        lock(&self.launched)
            .values_mut()
            .any(|app| app.child.try_status().is_none())
    }

    /// Stops every app, all at once: each gets SIGTERM, then SIGKILL after a grace period
    /// (enough for Firefox, which takes SIGTERM as "quit", to write its session).
    pub(crate) async fn stop_all(&self) {
        let apps = std::mem::take(&mut *lock(&self.launched));
        let mut stopping = tokio::task::JoinSet::new();
        for (_, mut app) in apps {
            stopping.spawn(async move { app.child.stop(Duration::from_millis(1500)).await });
        }
        while stopping.join_next().await.is_some() {}
    }
}

/// Copies a child's output into its bounded log until the pipe closes.
fn copy_to_log(fd: std::os::fd::OwnedFd, log: Arc<Mutex<BoundedLog>>) {
    let Ok(mut pipe) = tokio::net::unix::pipe::Receiver::from_owned_fd(fd) else {
        return;
    };
    tokio::spawn(async move {
        let mut buf = vec![0u8; 16 * 1024];
        while let Ok(n) = pipe.read(&mut buf).await {
            if n == 0 {
                break;
            }
            if let Err(e) = lock(&log).append(&buf[..n]) {
                tracing::debug!("error writing an app log: {e}");
                break;
            }
        }
    });
}
