//! The application catalog behind `app_list`: discovery of `.desktop` files along the XDG data
//! directories, with the spec's desktop-file-id precedence and `TryExec` filtering.
//!
//! This is the only module that reads the file system for the catalog. It never fails: an
//! unreadable directory or file is skipped (and logged at debug level), because one broken
//! package must not hide every other application from the agent.

use std::collections::{BTreeSet, HashSet};
use std::ffi::OsStr;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::entry::{basename, parse_entry, program_index, DesktopEntry, Params};
use crate::policy::ArgumentRule;

/// How many levels of subdirectories under `applications/` are scanned. The spec allows any
/// depth and real systems use one (`kde4/`); the bound keeps symlink loops harmless.
const MAX_SUBDIR_DEPTH: usize = 3;

/// A `.desktop` file larger than this is not a desktop entry; skipping it bounds memory.
const MAX_DESKTOP_FILE_BYTES: u64 = 1024 * 1024;

/// One launchable application, as listed by `app_list`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct App {
    /// The unlocalized `Name` of the application, e.g. `"Firefox ESR"`.
    pub name: String,
    /// Basename of the program its `Exec` line runs, e.g. `"firefox-esr"`: what an agent
    /// passes to `app_launch`.
    pub exec: String,
    /// The `Exec` command line as argv, field codes removed: what a menu click would run.
    pub argv: Vec<String>,
    /// The files or URLs its `Exec` line takes (its field code), if any.
    pub params: Option<Params>,
    /// Its desktop-file id: the path below `applications/` with `/` as `-`, e.g.
    /// `org.xfce.mousepad.desktop`.
    pub id: String,
    /// Whether other launchers run it in a terminal emulator (`Terminal=true`).
    pub terminal: bool,
    /// The `.desktop` file it came from.
    pub source: PathBuf,
}

impl App {
    /// The app a parsed `.desktop` file describes: its desktop-file id, and where it is.
    pub fn from_entry(entry: DesktopEntry, id: String, source: PathBuf) -> App {
        App {
            name: entry.name,
            exec: entry.exec,
            argv: entry.argv,
            params: entry.params,
            id,
            terminal: entry.terminal,
            source,
        }
    }

    /// The desktop-file id without `.desktop` (`org.xfce.mousepad`), one of the names a
    /// launch policy may use.
    pub fn file_id(&self) -> &str {
        self.id.strip_suffix(".desktop").unwrap_or(&self.id)
    }

    /// The word of [`argv`](Self::argv) that names the program run (after any `env`
    /// wrapper), exactly as the `.desktop` file wrote it, e.g. `"/usr/bin/mousepad"`.
    pub fn program(&self) -> &str {
        // Every App is built from a parsed entry, for which a program index exists; the
        // fallback only guards hand-built values inside this crate.
        program_index(&self.argv)
            .and_then(|i| self.argv.get(i))
            .map_or(self.exec.as_str(), String::as_str)
    }
}

/// The applications installed on the desktop, sorted by name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Catalog {
    apps: Vec<App>,
    /// Executables removed by [`Catalog::restrict`], so that a refusal can say why.
    withheld: BTreeSet<String>,
    /// Every desktop-file id found along the data directories, applications or not (entries
    /// hidden from menus still open files for other apps).
    pub(crate) entry_ids: BTreeSet<String>,
    /// Which arguments `app_launch` passes on (set by [`Catalog::restrict`]).
    pub(crate) arguments: ArgumentRule,
}

impl Catalog {
    /// Scans `<dir>/applications/` (and its subdirectories) of every data directory, in order.
    ///
    /// Per the XDG menu spec, the first directory that has a given desktop-file id (the path
    /// below `applications/` with `/` turned into `-`) wins, even when that file hides the
    /// application (`Hidden=true`): that is how a user deletes a system entry. An entry whose
    /// `TryExec` program is neither an existing absolute path nor an executable file in one of
    /// `path_dirs` is skipped. Entries with the same name and exec are listed once; the same
    /// exec under different names is kept, as GhostDesk does.
    ///
    /// The result is sorted by lower-cased name, then exec.
    pub fn load(data_dirs: &[PathBuf], path_dirs: &[PathBuf]) -> Catalog {
        Catalog::load_untrusting(data_dirs, path_dirs, None)
    }

    /// [`Catalog::load`], reading the data directory `untrusted` (one the desktop's apps can
    /// write: its home's) without following symbolic links, which could lead to any file of the
    /// host, another desktop's home included.
    pub fn load_untrusting(
        data_dirs: &[PathBuf],
        path_dirs: &[PathBuf],
        untrusted: Option<&Path>,
    ) -> Catalog {
        let mut seen_ids = HashSet::new();
        let mut seen_apps = HashSet::new();
        let mut apps = Vec::new();
        let mut entry_ids = BTreeSet::new();
        for data_dir in data_dirs {
            let follow = Some(data_dir.as_path()) != untrusted;
            let mut files = Vec::new();
            scan_applications_dir(&data_dir.join("applications"), "", 0, follow, &mut files);
            for (id, path) in files {
                entry_ids.insert(id.clone());
                if seen_ids.contains(&id) {
                    tracing::debug!(?path, %id, "desktop file id already defined earlier; ignored");
                    continue;
                }
                let text = match read_small_file(&path, follow) {
                    Ok(text) => text,
                    Err(err) => {
                        tracing::debug!(?path, %err, "unreadable desktop file skipped");
                        continue;
                    }
                };
                seen_ids.insert(id.clone());
                let Some(entry) = parse_entry(&text) else {
                    continue;
                };
                if let Some(try_exec) = &entry.try_exec {
                    if !program_exists(try_exec, path_dirs) {
                        tracing::debug!(?path, %try_exec, "TryExec program not installed; skipped");
                        continue;
                    }
                }
                if !seen_apps.insert((entry.name.clone(), entry.exec.clone())) {
                    continue;
                }
                apps.push(App::from_entry(entry, id, path));
            }
        }
        let mut catalog = Catalog::from_apps(apps);
        catalog.entry_ids = entry_ids;
        catalog
    }

    /// Builds a catalog from already-parsed apps, sorting them. Public so that callers (the
    /// fuzz targets) can check `resolve_launch` against a catalog without the file system.
    pub fn from_apps(mut apps: Vec<App>) -> Catalog {
        // Source path last, so that the order is deterministic whatever read_dir returned.
        apps.sort_by_cached_key(|a| (a.name.to_lowercase(), a.exec.clone(), a.source.clone()));
        let entry_ids = apps.iter().map(|a| a.id.clone()).collect();
        Catalog {
            apps,
            withheld: BTreeSet::new(),
            entry_ids,
            arguments: ArgumentRule::Any,
        }
    }

    /// The data directories to scan, most important first, from the XDG base directory
    /// variables: `$XDG_DATA_HOME` (default `$HOME/.local/share`), then each entry of
    /// `$XDG_DATA_DIRS` (default `/usr/local/share:/usr/share`).
    ///
    /// Empty and relative entries are ignored, since the spec calls relative paths invalid;
    /// if none remain, the default applies. Duplicates are listed once.
    pub fn data_dirs_from_env(
        xdg_data_home: Option<&OsStr>,
        xdg_data_dirs: Option<&OsStr>,
        home: Option<&Path>,
    ) -> Vec<PathBuf> {
        let data_home = xdg_data_home
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
            .or_else(|| {
                home.filter(|h| h.is_absolute())
                    .map(|h| h.join(".local/share"))
            });
        let mut system = absolute_paths(xdg_data_dirs);
        if system.is_empty() {
            system = vec![
                PathBuf::from("/usr/local/share"),
                PathBuf::from("/usr/share"),
            ];
        }
        let mut dirs: Vec<PathBuf> = Vec::new();
        for dir in data_home.into_iter().chain(system) {
            if !dirs.contains(&dir) {
                dirs.push(dir);
            }
        }
        dirs
    }

    /// The directories of a `$PATH` value, for [`load`](Self::load)'s `TryExec` check.
    ///
    /// Empty and relative entries (which would mean "the current directory") are dropped: the
    /// server's working directory says nothing about what is installed.
    pub fn path_dirs_from_env(path: Option<&OsStr>) -> Vec<PathBuf> {
        absolute_paths(path)
    }

    /// The applications, sorted by lower-cased name, then exec.
    pub fn apps(&self) -> &[App] {
        &self.apps
    }

    /// The distinct executables `app_launch` accepts, sorted.
    pub fn executables(&self) -> BTreeSet<&str> {
        self.apps.iter().map(|a| a.exec.as_str()).collect()
    }

    /// Records executables removed by a launch policy.
    pub(crate) fn withhold(&mut self, execs: impl IntoIterator<Item = String>) {
        self.withheld.extend(execs);
    }

    pub(crate) fn set_argument_rule(&mut self, rule: ArgumentRule) {
        self.arguments = rule;
    }

    /// Whether `exec` was removed by the launch policy (and no allowed app has it).
    pub(crate) fn is_withheld(&self, exec: &str) -> bool {
        self.withheld.contains(exec)
    }

    /// The desktop-file ids that apps' own launchers (file associations, "open with", a
    /// browser opening a download) must not use: every id found along the data directories
    /// that this catalog does not offer (after [`Catalog::restrict`], what the policy
    /// withholds, menu-less `NoDisplay` entries included), and the terminal apps it offers
    /// (those launchers start them inside a terminal emulator, which may be withheld). A
    /// desktop under a policy shadows each with a `Hidden=true` entry of the same id.
    pub fn ids_hidden_from_apps(&self) -> Vec<&str> {
        let offered: BTreeSet<&str> = self
            .apps
            .iter()
            .filter(|a| !a.terminal)
            .map(|a| a.id.as_str())
            .collect();
        self.entry_ids
            .iter()
            .map(String::as_str)
            .filter(|id| !offered.contains(id))
            .collect()
    }

    /// Whether no application was found.
    pub fn is_empty(&self) -> bool {
        self.apps.is_empty()
    }
}

/// The absolute entries of a colon-separated path list.
fn absolute_paths(list: Option<&OsStr>) -> Vec<PathBuf> {
    list.map(|v| {
        std::env::split_paths(v)
            .filter(|p| p.is_absolute())
            .collect()
    })
    .unwrap_or_default()
}

/// Collects `(desktop-file id, path)` of the `.desktop` files below `dir`, sorted by name so
/// that the result does not depend on directory order.
fn scan_applications_dir(
    dir: &Path,
    id_prefix: &str,
    depth: usize,
    follow: bool,
    out: &mut Vec<(String, PathBuf)>,
) {
    let read_dir = match fs::read_dir(dir) {
        Ok(read_dir) => read_dir,
        Err(err) => {
            // A missing directory is the normal case for most data dirs; not worth more.
            tracing::debug!(?dir, %err, "applications directory not readable; skipped");
            return;
        }
    };
    let mut names: Vec<String> = read_dir
        .filter_map(|e| e.ok())
        // Non-UTF-8 names cannot form a desktop-file id we could show; skip them.
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    names.sort();
    for name in names {
        let path = dir.join(&name);
        // fs::metadata follows symlinks: distributions symlink desktop files around (but not
        // in a directory the desktop's apps can write).
        let meta = if follow {
            fs::metadata(&path)
        } else {
            fs::symlink_metadata(&path)
        };
        let Ok(meta) = meta else {
            tracing::debug!(?path, "dangling or unreadable entry skipped");
            continue;
        };
        if meta.is_dir() {
            if depth < MAX_SUBDIR_DEPTH {
                let prefix = format!("{id_prefix}{name}-");
                scan_applications_dir(&path, &prefix, depth + 1, follow, out);
            }
        } else if meta.is_file() && name.ends_with(".desktop") && name.len() > ".desktop".len() {
            out.push((format!("{id_prefix}{name}"), path));
        }
    }
}

/// Reads a `.desktop` file, refusing absurdly large ones, anything but a regular file (opening
/// a FIFO would wait for a writer), and with `follow` false a symbolic link; invalid UTF-8 is
/// replaced.
fn read_small_file(path: &Path, follow: bool) -> std::io::Result<String> {
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut flags = rustix::fs::OFlags::NONBLOCK;
    if !follow {
        flags |= rustix::fs::OFlags::NOFOLLOW;
    }
    let file = fs::OpenOptions::new()
        .read(true)
        .custom_flags(flags.bits() as i32)
        .open(path)?;
    if !file.metadata()?.is_file() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "not a regular file",
        ));
    }
    let mut bytes = Vec::new();
    file.take(MAX_DESKTOP_FILE_BYTES + 1)
        .read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_DESKTOP_FILE_BYTES {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "larger than 1 MiB",
        ));
    }
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// The spec's `TryExec` test: an absolute path that is an executable file, or a bare name
/// found as an executable file in one of `path_dirs`. Relative paths with `/` never match.
fn program_exists(program: &str, path_dirs: &[PathBuf]) -> bool {
    if program.contains('/') {
        let path = Path::new(program);
        return path.is_absolute() && is_executable_file(path);
    }
    basename(program).is_some()
        && path_dirs
            .iter()
            .any(|d| is_executable_file(&d.join(program)))
}

#[cfg(unix)]
fn is_executable_file(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(not(unix))]
fn is_executable_file(path: &Path) -> bool {
    fs::metadata(path).is_ok_and(|m| m.is_file())
}

/// An app as a `.desktop` file `{file}.desktop` with `Name` and `Exec` would give, for tests of
/// the catalog's users (launch validation, the policy).
#[cfg(test)]
pub(crate) fn test_app(file: &str, name: &str, exec_line: &str) -> App {
    let text = format!("[Desktop Entry]\nType=Application\nName={name}\nExec={exec_line}\n");
    let e = parse_entry(&text).expect("valid test entry");
    App::from_entry(
        e,
        format!("{file}.desktop"),
        PathBuf::from(format!("/usr/share/applications/{file}.desktop")),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    use tempfile::TempDir;

    fn write(dir: &Path, rel: &str, text: &str) -> PathBuf {
        let path = dir.join(rel);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, text).unwrap();
        path
    }

    fn app_file(name: &str, exec: &str) -> String {
        format!("[Desktop Entry]\nType=Application\nName={name}\nExec={exec}\n")
    }

    fn names(catalog: &Catalog) -> Vec<(&str, &str)> {
        catalog
            .apps()
            .iter()
            .map(|a| (a.name.as_str(), a.exec.as_str()))
            .collect()
    }

    #[test]
    fn an_untrusted_dir_s_links_and_fifos_are_not_read() {
        let dir = tempfile::tempdir().unwrap();
        let apps = dir.path().join("home/applications");
        fs::create_dir_all(&apps).unwrap();
        let outside = dir.path().join("outside.desktop");
        fs::write(
            &outside,
            "[Desktop Entry]\nType=Application\nName=Outside\nExec=sh\n",
        )
        .unwrap();
        std::os::unix::fs::symlink(&outside, apps.join("linked.desktop")).unwrap();
        rustix::fs::mknodat(
            rustix::fs::CWD,
            apps.join("fifo.desktop"),
            rustix::fs::FileType::Fifo,
            rustix::fs::Mode::from_raw_mode(0o600),
            0,
        )
        .unwrap();
        let home = dir.path().join("home");
        let (tx, rx) = std::sync::mpsc::channel();
        let data = vec![home.clone()];
        std::thread::spawn(move || {
            let untrusted = Catalog::load_untrusting(&data, &[], Some(&home));
            let trusted = Catalog::load(&data, &[]);
            let _ = tx.send((untrusted.apps().len(), trusted.apps().len()));
        });
        let (untrusted, trusted) = rx
            .recv_timeout(std::time::Duration::from_secs(5))
            .expect("a FIFO must not block the catalog");
        assert_eq!(
            untrusted, 0,
            "no link is followed out of an untrusted directory"
        );
        assert_eq!(trusted, 1, "system directories keep following their links");
    }

    #[test]
    fn loads_sorts_and_filters() {
        let data = TempDir::new().unwrap();
        let d = data.path();
        write(
            d,
            "applications/xterm.desktop",
            &(app_file("XTerm", "xterm") + "Terminal=true\n"),
        );
        write(
            d,
            "applications/galculator.desktop",
            &app_file("galculator", "galculator"),
        );
        write(
            d,
            "applications/firefox-esr.desktop",
            &app_file("Firefox ESR", "firefox-esr %u"),
        );
        write(d, "applications/Zed.desktop", &app_file("zed", "zed"));
        write(
            d,
            "applications/hidden.desktop",
            &(app_file("Hidden", "hid") + "Hidden=true\n"),
        );
        write(
            d,
            "applications/nodisp.desktop",
            &(app_file("NoDisp", "nod") + "NoDisplay=true\n"),
        );
        write(
            d,
            "applications/link.desktop",
            "[Desktop Entry]\nType=Link\nName=L\nURL=x\n",
        );
        write(
            d,
            "applications/readme.txt",
            &app_file("Not desktop", "nope"),
        );
        write(d, "applications/.desktop", &app_file("Empty stem", "nope"));
        write(
            d,
            "applications/kde4/konsole.desktop",
            &app_file("Konsole", "/usr/bin/konsole"),
        );

        let catalog = Catalog::load(&[d.to_path_buf()], &[]);
        assert_eq!(
            names(&catalog),
            vec![
                ("Firefox ESR", "firefox-esr"),
                ("galculator", "galculator"),
                ("Konsole", "konsole"),
                ("XTerm", "xterm"),
                ("zed", "zed"),
            ]
        );
        let konsole = &catalog.apps()[2];
        assert_eq!(konsole.source, d.join("applications/kde4/konsole.desktop"));
        assert_eq!(konsole.id, "kde4-konsole.desktop");
        assert_eq!(konsole.file_id(), "kde4-konsole");
        // What a menu does not offer still opens files for other apps: every id is known.
        assert_eq!(
            catalog.ids_hidden_from_apps(),
            [
                "hidden.desktop",
                "link.desktop",
                "nodisp.desktop",
                "xterm.desktop"
            ]
        );
        let policy = crate::AppPolicy {
            allow: vec!["galculator".into()],
            ..crate::AppPolicy::default()
        };
        assert_eq!(
            catalog.clone().restrict(&policy).ids_hidden_from_apps(),
            [
                "Zed.desktop",
                "firefox-esr.desktop",
                "hidden.desktop",
                "kde4-konsole.desktop",
                "link.desktop",
                "nodisp.desktop",
                "xterm.desktop"
            ]
        );
        assert_eq!(konsole.argv, vec!["/usr/bin/konsole".to_owned()]);
        assert_eq!(konsole.program(), "/usr/bin/konsole");
        assert_eq!(
            catalog.executables().into_iter().collect::<Vec<_>>(),
            vec!["firefox-esr", "galculator", "konsole", "xterm", "zed"]
        );
    }

    #[test]
    fn sort_ties_broken_by_exec_and_same_exec_different_names_kept() {
        let data = TempDir::new().unwrap();
        let d = data.path();
        write(d, "applications/b.desktop", &app_file("Editor", "zzz"));
        write(d, "applications/a.desktop", &app_file("editor", "aaa"));
        write(d, "applications/c.desktop", &app_file("Text Editor", "aaa"));
        // Same name and exec as a.desktop under another id: listed once.
        write(
            d,
            "applications/d.desktop",
            &app_file("editor", "/usr/bin/aaa --new"),
        );
        let catalog = Catalog::load(&[d.to_path_buf()], &[]);
        assert_eq!(
            names(&catalog),
            vec![("editor", "aaa"), ("Editor", "zzz"), ("Text Editor", "aaa")]
        );
        // The first file in precedence order is the one kept.
        assert_eq!(catalog.apps()[0].source, d.join("applications/a.desktop"));
        assert_eq!(catalog.executables().len(), 2);
    }

    #[test]
    fn first_data_dir_wins_for_a_desktop_file_id() {
        let user = TempDir::new().unwrap();
        let system = TempDir::new().unwrap();
        // Same id "mousepad.desktop": the user's copy overrides the system one.
        write(
            user.path(),
            "applications/mousepad.desktop",
            &app_file("My Pad", "mousepad --x"),
        );
        write(
            system.path(),
            "applications/mousepad.desktop",
            &app_file("Mousepad", "mousepad %F"),
        );
        // Same id "kde4-konsole.desktop" spelled as a subdirectory in one dir and a dash in
        // the other: the user's hiding entry deletes the system application.
        write(
            user.path(),
            "applications/kde4-konsole.desktop",
            &(app_file("Konsole", "konsole") + "Hidden=true\n"),
        );
        write(
            system.path(),
            "applications/kde4/konsole.desktop",
            &app_file("Konsole", "konsole"),
        );
        write(
            system.path(),
            "applications/xterm.desktop",
            &app_file("XTerm", "xterm"),
        );

        let dirs = [user.path().to_path_buf(), system.path().to_path_buf()];
        let catalog = Catalog::load(&dirs, &[]);
        assert_eq!(
            names(&catalog),
            vec![("My Pad", "mousepad"), ("XTerm", "xterm")]
        );
        assert_eq!(catalog.apps()[0].argv, vec!["mousepad", "--x"]);
        assert_eq!(
            catalog.apps()[0].source,
            user.path().join("applications/mousepad.desktop")
        );

        // Reversed precedence, reversed winner.
        let dirs = [system.path().to_path_buf(), user.path().to_path_buf()];
        let catalog = Catalog::load(&dirs, &[]);
        assert_eq!(
            names(&catalog),
            vec![
                ("Konsole", "konsole"),
                ("Mousepad", "mousepad"),
                ("XTerm", "xterm")
            ]
        );
    }

    #[cfg(unix)]
    #[test]
    fn try_exec_missing_skips_entry() {
        use std::os::unix::fs::PermissionsExt;

        let data = TempDir::new().unwrap();
        let bin = TempDir::new().unwrap();
        let tool = write(bin.path(), "present-tool", "#!/bin/sh\n");
        fs::set_permissions(&tool, fs::Permissions::from_mode(0o755)).unwrap();
        let not_exec = write(bin.path(), "not-executable", "data");
        fs::set_permissions(&not_exec, fs::Permissions::from_mode(0o644)).unwrap();
        let d = data.path();
        let with_try =
            |name: &str, try_exec: &str| app_file(name, "prog") + &format!("TryExec={try_exec}\n");
        write(
            d,
            "applications/a.desktop",
            &with_try("Bare present", "present-tool"),
        );
        write(
            d,
            "applications/b.desktop",
            &with_try("Bare missing", "missing-tool"),
        );
        write(
            d,
            "applications/c.desktop",
            &with_try("Absolute present", tool.to_str().unwrap()),
        );
        write(
            d,
            "applications/d.desktop",
            &with_try("Absolute missing", "/nonexistent/tool"),
        );
        write(
            d,
            "applications/e.desktop",
            &with_try("Not executable", "not-executable"),
        );
        write(
            d,
            "applications/f.desktop",
            &with_try("Relative path", "bin/present-tool"),
        );

        let catalog = Catalog::load(&[d.to_path_buf()], &[bin.path().to_path_buf()]);
        let listed: Vec<&str> = catalog.apps().iter().map(|a| a.name.as_str()).collect();
        assert_eq!(listed, vec!["Absolute present", "Bare present"]);

        // Without PATH directories, a bare TryExec name can never be found.
        let catalog = Catalog::load(&[d.to_path_buf()], &[]);
        let listed: Vec<&str> = catalog.apps().iter().map(|a| a.name.as_str()).collect();
        assert_eq!(listed, vec!["Absolute present"]);
    }

    #[test]
    fn missing_and_unreadable_dirs_are_skipped() {
        let data = TempDir::new().unwrap();
        write(
            data.path(),
            "applications/xterm.desktop",
            &app_file("XTerm", "xterm"),
        );
        // A dangling symlink and a non-UTF-8 file are skipped without failing the load.
        #[cfg(unix)]
        std::os::unix::fs::symlink(
            data.path().join("nowhere"),
            data.path().join("applications/dangling.desktop"),
        )
        .unwrap();
        fs::write(
            data.path().join("applications/binary.desktop"),
            [0xff, 0xfe, 0x00],
        )
        .unwrap();
        let dirs = [
            PathBuf::from("/nonexistent/agentdesk"),
            data.path().to_path_buf(),
        ];
        let catalog = Catalog::load(&dirs, &[]);
        assert_eq!(names(&catalog), vec![("XTerm", "xterm")]);
        assert!(!catalog.is_empty());
        assert!(Catalog::load(&[], &[]).is_empty());
    }

    #[test]
    fn data_dirs_defaults() {
        let dirs = Catalog::data_dirs_from_env(None, None, Some(Path::new("/home/agent")));
        assert_eq!(
            dirs,
            vec![
                PathBuf::from("/home/agent/.local/share"),
                PathBuf::from("/usr/local/share"),
                PathBuf::from("/usr/share"),
            ]
        );
        // No HOME: only the system directories.
        let dirs = Catalog::data_dirs_from_env(None, None, None);
        assert_eq!(
            dirs,
            vec![
                PathBuf::from("/usr/local/share"),
                PathBuf::from("/usr/share")
            ]
        );
    }

    #[test]
    fn data_dirs_from_variables() {
        let dirs = Catalog::data_dirs_from_env(
            Some(OsStr::new("/data/home")),
            Some(OsStr::new(
                "/opt/share::relative/share:/usr/share:/opt/share",
            )),
            Some(Path::new("/home/agent")),
        );
        assert_eq!(
            dirs,
            vec![
                PathBuf::from("/data/home"),
                PathBuf::from("/opt/share"),
                PathBuf::from("/usr/share"),
            ]
        );
    }

    #[test]
    fn data_dirs_invalid_values_fall_back_to_defaults() {
        let dirs = Catalog::data_dirs_from_env(
            Some(OsStr::new("relative/home")),
            Some(OsStr::new("")),
            Some(Path::new("/home/agent")),
        );
        assert_eq!(
            dirs,
            vec![
                PathBuf::from("/home/agent/.local/share"),
                PathBuf::from("/usr/local/share"),
                PathBuf::from("/usr/share"),
            ]
        );
        let dirs =
            Catalog::data_dirs_from_env(Some(OsStr::new("")), Some(OsStr::new(":rel:")), None);
        assert_eq!(
            dirs,
            vec![
                PathBuf::from("/usr/local/share"),
                PathBuf::from("/usr/share")
            ]
        );
    }

    #[test]
    fn path_dirs_drop_empty_and_relative() {
        let dirs = Catalog::path_dirs_from_env(Some(OsStr::new("/usr/bin::bin:/bin")));
        assert_eq!(dirs, vec![PathBuf::from("/usr/bin"), PathBuf::from("/bin")]);
        assert!(Catalog::path_dirs_from_env(None).is_empty());
    }
}
