//! What the desktop's home holds so that its apps start clean, every time: no first-run pages,
//! no "restore the previous session?" dialog after a stop or a crash, no prompts an agent
//! would type into by mistake.
//!
//! - Firefox ESR: a profile of ours (`~/.mozilla/firefox/agentdesk`, made the default in
//!   `profiles.ini` when there is none) with a `user.js` written at every start, so its
//!   preferences win over what was changed during the last run. With it, the first start, a
//!   start after a clean quit and a start after SIGKILL each show one window with one blank
//!   tab (measured on Firefox ESR 153: without it, the first start shows the onboarding page and
//!   a privacy-notice tab that fails to load offline; repeated crashes add "Restore Session"
//!   and "Open Firefox in Troubleshoot Mode?"). It also keeps Firefox from calling home
//!   (telemetry, studies, updates, safe browsing, sponsored content), which on a closed
//!   network only adds failing connections.
//! - Mousepad: session restore and autosave off, in GSettings' keyfile
//!   (`~/.config/glib-2.0/settings/keyfile`; the desktop's processes run with
//!   `GSETTINGS_BACKEND=keyfile`, see `supervisor::base_env`), else a Mousepad killed with
//!   unsaved text greets the next start with a dialog that takes the agent's typing.
//! - galculator and xterm need nothing.
//!
//! The environment that goes with these (`MOZ_LEGACY_PROFILES`, so that Firefox uses the
//! `profiles.ini` default rather than making a profile per installation, and
//! `MOZ_CRASHREPORTER_DISABLE`) is set for every desktop process in `supervisor::base_env`.

use std::path::{Path, PathBuf};

use anyhow::Context as _;

/// Firefox preferences, one reason each.
const FIREFOX_USER_JS: &str = r#"// Written by agentdesk at every start of the desktop; changes here are replaced.
// A clean start: one window, one blank tab, no prompt.
user_pref("browser.startup.page", 0);                              // start on a blank page
user_pref("browser.startup.homepage", "about:blank");              // home button, new windows
user_pref("browser.newtabpage.enabled", false);                    // new tabs are blank too
user_pref("browser.startup.homepage_override.mstone", "ignore");   // no welcome or what's-new page
user_pref("startup.homepage_welcome_url", "");
user_pref("startup.homepage_welcome_url.additional", "");
user_pref("datareporting.policy.firstRunURL", "");                 // no privacy-notice tab
user_pref("datareporting.policy.dataSubmissionPolicyBypassNotification", true);
user_pref("browser.shell.checkDefaultBrowser", false);             // no "make Firefox default?"
user_pref("browser.sessionstore.resume_from_crash", false);        // no "Restore Session" page
user_pref("toolkit.startup.max_resumed_crashes", -1);              // no "Troubleshoot Mode?" dialog
user_pref("browser.warnOnQuit", false);                            // no quit or close-tabs prompt
user_pref("browser.warnOnQuitShortcut", false);
user_pref("browser.tabs.warnOnClose", false);
user_pref("termsofuse.bypassNotification", true);
// No calling home: telemetry, studies, updates, safe browsing, sponsored content, DoH.
user_pref("datareporting.policy.dataSubmissionEnabled", false);
user_pref("datareporting.healthreport.uploadEnabled", false);
user_pref("datareporting.usage.uploadEnabled", false);
user_pref("toolkit.telemetry.enabled", false);
user_pref("app.normandy.enabled", false);
user_pref("app.shield.optoutstudies.enabled", false);
user_pref("messaging-system.rsexperimentloader.enabled", false);
user_pref("nimbus.rollouts.enabled", false);
user_pref("extensions.update.enabled", false);
user_pref("extensions.systemAddon.update.enabled", false);
user_pref("extensions.getAddons.cache.enabled", false);
user_pref("media.gmp-manager.updateEnabled", false);
user_pref("browser.safebrowsing.malware.enabled", false);
user_pref("browser.safebrowsing.phishing.enabled", false);
user_pref("browser.safebrowsing.downloads.enabled", false);
user_pref("browser.safebrowsing.downloads.remote.enabled", false);
user_pref("browser.safebrowsing.blockedURIs.enabled", false);
user_pref("browser.region.update.enabled", false);
user_pref("browser.region.network.url", "");
user_pref("network.captive-portal-service.enabled", false);
user_pref("network.connectivity-service.enabled", false);
user_pref("dom.push.connection.enabled", false);
user_pref("network.trr.mode", 5);
user_pref("browser.topsites.contile.enabled", false);
user_pref("browser.newtabpage.activity-stream.showSponsored", false);
user_pref("browser.newtabpage.activity-stream.showSponsoredTopSites", false);
user_pref("browser.newtabpage.activity-stream.feeds.section.topstories", false);
user_pref("browser.newtabpage.activity-stream.feeds.topsites", false);
"#;

/// The profile we make when the home has none.
const PROFILES_INI: &str = "\
[General]
StartWithLastProfile=1
Version=2

[Profile0]
Name=agentdesk
IsRelative=1
Path=agentdesk
Default=1
";

/// GSettings keys, per keyfile group, that keep Mousepad from restoring sessions.
const GSETTINGS: &[(&str, &[(&str, &str)])] = &[(
    "org/xfce/mousepad/preferences/file",
    &[("session-restore", "'never'"), ("autosave-timer", "0")],
)];

/// Prepares `home` (which exists) for the desktop's apps: see the module documentation.
///
/// The home is the agent's to change, so nothing here follows a symlink: a directory or file on
/// the way that is one (or is not what it should be) leaves that app unprepared, with a
/// warning, rather than have agentdesk write wherever it points. Nothing here stops the
/// desktop from starting: an app left unprepared only starts less cleanly.
pub(crate) fn prepare(home: &Path) {
    if let Err(e) = prepare_apps(home) {
        tracing::warn!("the desktop's apps may not start clean: {e:#}");
    }
}

fn prepare_apps(home: &Path) -> anyhow::Result<()> {
    if let Some(firefox) = dir_in(home, ".mozilla/firefox")? {
        let ini = firefox.join("profiles.ini");
        if std::fs::symlink_metadata(&ini).is_err() {
            write(&ini, PROFILES_INI)?;
        }
        let text = read(&ini).unwrap_or_default();
        let profile = default_profile(&firefox, &text)
            .and_then(|p| p.strip_prefix(&firefox).ok().map(Path::to_path_buf))
            .unwrap_or_else(|| PathBuf::from("agentdesk"));
        if let Some(profile) = dir_in(&firefox, &profile)? {
            // A session starts with no Firefox of this desktop running, so a lock in the
            // profile is stale (the last session was killed). In a new PID namespace its pid
            // may name a live process, which Firefox would take for itself still running
            // ("Firefox is already running, but is not responding").
            for name in ["lock", ".parentlock"] {
                let lock = profile.join(name);
                if std::fs::symlink_metadata(&lock).is_ok_and(|m| !m.is_dir()) {
                    let _ = std::fs::remove_file(&lock);
                }
            }
            // Each app on its own: one that cannot be prepared leaves the others prepared.
            if let Err(e) = write(&profile.join("user.js"), FIREFOX_USER_JS) {
                tracing::warn!("Firefox may not start clean: {e:#}");
            }
        }
    }
    if let Some(settings) = dir_in(home, ".config/glib-2.0/settings")? {
        let keyfile = settings.join("keyfile");
        let old = read(&keyfile).unwrap_or_default();
        let mut new = old.clone();
        for (group, keys) in GSETTINGS {
            new = set_keys(&new, group, keys);
        }
        if new != old {
            write(&keyfile, &new)?;
        }
    }
    Ok(())
}

/// `base/relative`, its missing directories created (0700), if no part of it is a symlink or
/// something else than a directory; `None` (logged) if one is.
fn dir_in(base: &Path, relative: impl AsRef<Path>) -> anyhow::Result<Option<PathBuf>> {
    use std::os::unix::fs::DirBuilderExt as _;
    let mut dir = base.to_path_buf();
    for part in relative.as_ref().components() {
        let std::path::Component::Normal(part) = part else {
            return Ok(None);
        };
        dir.push(part);
        match std::fs::symlink_metadata(&dir) {
            Ok(meta) if meta.is_dir() => {}
            Ok(_) => {
                tracing::warn!(path = %dir.display(), "not a directory (a symlink?); app left unprepared");
                return Ok(None);
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                std::fs::DirBuilder::new()
                    .mode(0o700)
                    .create(&dir)
                    .with_context(|| format!("error creating {}", dir.display()))?;
            }
            Err(e) => return Err(e).with_context(|| format!("error reading {}", dir.display())),
        }
    }
    Ok(Some(dir))
}

/// A file's text, unless it is a symlink (or missing, or unreadable).
fn read(path: &Path) -> Option<String> {
    use std::io::Read as _;
    let mut bytes = Vec::new();
    // What the desktop's apps wrote; agentdesk's own files are a few KiB.
    open_no_follow(path, false)
        .ok()?
        .take(MAX_READ)
        .read_to_end(&mut bytes)
        .ok()?;
    String::from_utf8(bytes).ok()
}

/// The most of a file in the home that agentdesk reads back.
const MAX_READ: u64 = 256 * 1024;

/// Writes `text` to `path` (0600), never through a symlink.
fn write(path: &Path, text: &str) -> anyhow::Result<()> {
    use std::io::Write as _;
    open_no_follow(path, true)
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .with_context(|| format!("error writing {}", path.display()))
}

/// Opens a regular file of the home, never through a symlink, and never blocking: the apps can
/// put a FIFO where agentdesk expects a file, and opening one would wait for its other end.
fn open_no_follow(path: &Path, write: bool) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt as _;
    let flags = rustix::fs::OFlags::NOFOLLOW | rustix::fs::OFlags::NONBLOCK;
    let file = std::fs::OpenOptions::new()
        .read(!write)
        .write(write)
        .create(write)
        .mode(0o600)
        .custom_flags(flags.bits() as i32)
        .open(path)?;
    if !file.metadata()?.is_file() {
        return Err(std::io::Error::other("not a regular file"));
    }
    if write {
        file.set_len(0)?;
    }
    Ok(file)
}

/// The directory of the default profile a `profiles.ini` names (`Default=1`), if any and if it
/// stays inside `firefox`'s directory.
fn default_profile(firefox: &Path, ini: &str) -> Option<PathBuf> {
    let mut section: Vec<(&str, &str)> = Vec::new();
    let mut found = None;
    let mut consider = |section: &[(&str, &str)]| {
        let get = |k: &str| section.iter().find(|(key, _)| *key == k).map(|(_, v)| *v);
        if found.is_none() && get("Default") == Some("1") {
            let path = get("Path")?;
            let relative = get("IsRelative") != Some("0");
            found = Some(if relative {
                firefox.join(path)
            } else {
                PathBuf::from(path)
            });
        }
        Some(())
    };
    for line in ini.lines().map(str::trim) {
        if line.starts_with('[') {
            consider(&section);
            section.clear();
        } else if let Some((k, v)) = line.split_once('=') {
            section.push((k.trim(), v.trim()));
        }
    }
    consider(&section);
    // A profile elsewhere (an absolute path, `..`) is not ours to write into.
    found.filter(|p| {
        p.starts_with(firefox) && !p.components().any(|c| c == std::path::Component::ParentDir)
    })
}

/// `text` (a GLib keyfile) with `keys` set in `[group]`: existing lines of those keys replaced,
/// missing ones added after the group's header, the group added at the end if absent;
/// everything else kept as it was.
fn set_keys(text: &str, group: &str, keys: &[(&str, &str)]) -> String {
    let header = format!("[{group}]");
    let mut out: Vec<String> = Vec::new();
    let mut in_group = false;
    let mut seen_group = false;
    let mut written: Vec<&str> = Vec::new();
    let flush_missing = |out: &mut Vec<String>, written: &[&str]| {
        for (k, v) in keys {
            if !written.contains(k) {
                out.push(format!("{k}={v}"));
            }
        }
    };
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('[') {
            if in_group {
                flush_missing(&mut out, &written);
            }
            in_group = trimmed == header;
            seen_group |= in_group;
            out.push(line.to_string());
            continue;
        }
        if in_group {
            let key = trimmed.split_once('=').map(|(k, _)| k.trim());
            if let Some((k, v)) = keys.iter().find(|(k, _)| Some(*k) == key) {
                if !written.contains(k) {
                    out.push(format!("{k}={v}"));
                    written.push(k);
                }
                continue;
            }
        }
        out.push(line.to_string());
    }
    if in_group {
        flush_missing(&mut out, &written);
    }
    if !seen_group {
        if out.last().is_some_and(|l| !l.is_empty()) {
            out.push(String::new());
        }
        out.push(header);
        flush_missing(&mut out, &[]);
    }
    let mut joined = out.join("\n");
    joined.push('\n');
    joined
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEYS: &[(&str, &str)] = &[("session-restore", "'never'"), ("autosave-timer", "0")];

    #[test]
    fn fifos_and_links_an_app_left_in_the_home_neither_block_nor_lead_out() {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("home");
        let outside = dir.path().join("outside");
        std::fs::write(&outside, "untouched").unwrap();
        let profile = home.join(".mozilla/firefox/agentdesk");
        std::fs::create_dir_all(&profile).unwrap();
        let fifo = |path: &Path| {
            rustix::fs::mknodat(
                rustix::fs::CWD,
                path,
                rustix::fs::FileType::Fifo,
                rustix::fs::Mode::from_raw_mode(0o600),
                0,
            )
            .unwrap()
        };
        fifo(&home.join(".mozilla/firefox/profiles.ini"));
        fifo(&profile.join("user.js"));
        std::os::unix::fs::symlink(&outside, profile.join("lock")).unwrap();
        std::fs::create_dir_all(home.join(".config/glib-2.0/settings")).unwrap();
        std::os::unix::fs::symlink(&outside, home.join(".config/glib-2.0/settings/keyfile"))
            .unwrap();
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        let target = home.clone();
        std::thread::spawn(move || {
            prepare(&target);
            let _ = done_tx.send(());
        });
        done_rx
            .recv_timeout(std::time::Duration::from_secs(5))
            .expect("preparing a home with FIFOs in it must not block");
        assert_eq!(std::fs::read_to_string(&outside).unwrap(), "untouched");
        assert!(
            std::fs::symlink_metadata(profile.join("lock")).is_err(),
            "a stale lock goes"
        );
    }
    const GROUP: &str = "org/xfce/mousepad/preferences/file";

    #[test]
    fn keys_are_set_whatever_the_keyfile_held() {
        assert_eq!(
            set_keys("", GROUP, KEYS),
            "[org/xfce/mousepad/preferences/file]\nsession-restore='never'\nautosave-timer=0\n"
        );
        let existing = "[org/xfce/mousepad/state/window]\nwidth=800\n\n\
                        [org/xfce/mousepad/preferences/file]\nsession-restore='always'\n\
                        session-restore='always'\nother=1\n[x]\ny=2\n";
        assert_eq!(
            set_keys(existing, GROUP, KEYS),
            "[org/xfce/mousepad/state/window]\nwidth=800\n\n\
             [org/xfce/mousepad/preferences/file]\nsession-restore='never'\nother=1\n\
             autosave-timer=0\n[x]\ny=2\n"
        );
        // Already right: unchanged, so the file is not rewritten.
        let right = set_keys(existing, GROUP, KEYS);
        assert_eq!(set_keys(&right, GROUP, KEYS), right);
    }

    #[test]
    fn the_default_profile_is_found_and_must_stay_in_the_firefox_directory() {
        let firefox = Path::new("/home/a/.mozilla/firefox");
        let ini = "[General]\nStartWithLastProfile=1\n\n[Profile1]\nName=x\nIsRelative=1\n\
                   Path=x.other\n\n[Profile0]\nName=mine\nIsRelative=1\nPath=abc.default\n\
                   Default=1\n";
        assert_eq!(
            default_profile(firefox, ini),
            Some(firefox.join("abc.default"))
        );
        assert_eq!(default_profile(firefox, "[Profile0]\nPath=p\n"), None);
        for escape in ["Path=../../etc\nIsRelative=1", "Path=/etc\nIsRelative=0"] {
            let ini = format!("[Profile0]\n{escape}\nDefault=1\n");
            assert_eq!(default_profile(firefox, &ini), None, "{escape}");
        }
    }

    #[test]
    fn symlinks_in_the_home_are_never_followed() {
        let home = tempfile::tempdir().unwrap();
        let elsewhere = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(elsewhere.path(), home.path().join(".mozilla")).unwrap();
        std::fs::create_dir_all(home.path().join(".config/glib-2.0/settings")).unwrap();
        let target = elsewhere.path().join("passwd");
        std::fs::write(&target, "precious").unwrap();
        std::os::unix::fs::symlink(
            &target,
            home.path().join(".config/glib-2.0/settings/keyfile"),
        )
        .unwrap();
        prepare(home.path());
        assert_eq!(std::fs::read_dir(elsewhere.path()).unwrap().count(), 1);
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "precious");
    }

    #[test]
    fn a_fresh_home_gets_a_profile_and_settings_and_a_used_one_keeps_its_own() {
        let home = tempfile::tempdir().unwrap();
        prepare(home.path());
        let firefox = home.path().join(".mozilla/firefox");
        assert_eq!(
            std::fs::read_to_string(firefox.join("profiles.ini")).unwrap(),
            PROFILES_INI
        );
        let user_js = std::fs::read_to_string(firefox.join("agentdesk/user.js")).unwrap();
        assert!(user_js.contains("browser.sessionstore.resume_from_crash\", false"));
        let keyfile = home.path().join(".config/glib-2.0/settings/keyfile");
        assert!(std::fs::read_to_string(&keyfile)
            .unwrap()
            .contains("session-restore='never'"));
        // A home whose Firefox profile is another: that profile gets the preferences.
        std::fs::write(
            firefox.join("profiles.ini"),
            "[Profile0]\nPath=theirs\nIsRelative=1\nDefault=1\n",
        )
        .unwrap();
        prepare(home.path());
        assert!(firefox.join("theirs/user.js").exists());
    }
}
