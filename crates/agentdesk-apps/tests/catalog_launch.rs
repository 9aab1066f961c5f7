//! End-to-end use of the public API, as the server uses it: load a catalog from XDG data
//! directories on disk, list it, validate launches against it, and keep an app's log.

use std::fs;
use std::path::{Path, PathBuf};

use agentdesk_apps::{tail_lines, BoundedLog, Catalog, Error};
use tempfile::TempDir;

fn write(dir: &Path, rel: &str, text: &str) {
    let path = dir.join(rel);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, text).unwrap();
}

/// A user data dir overriding a system one, like `$XDG_DATA_HOME` over `/usr/share`.
fn desktop() -> (TempDir, TempDir, Catalog) {
    let home = TempDir::new().unwrap();
    let system = TempDir::new().unwrap();
    write(
        system.path(),
        "applications/firefox-esr.desktop",
        "[Desktop Entry]\nType=Application\nName=Firefox ESR\nName[de]=Firefox ESR (de)\n\
         Exec=/usr/lib/firefox-esr/firefox-esr %u\nActions=new-window;\n\n\
         [Desktop Action new-window]\nName=New Window\nExec=/bin/sh -c evil\n",
    );
    write(
        system.path(),
        "applications/org.xfce.mousepad.desktop",
        "[Desktop Entry]\nType=Application\nName=Mousepad\n\
         Exec=env GDK_BACKEND=x11 /usr/bin/mousepad %F\n",
    );
    write(
        system.path(),
        "applications/xterm.desktop",
        "[Desktop Entry]\nType=Application\nName=XTerm\nExec=xterm\n",
    );
    write(
        system.path(),
        "applications/galculator.desktop",
        "[Desktop Entry]\nType=Application\nName=Galculator\nExec=galculator\n",
    );
    write(
        system.path(),
        "applications/debian-uxterm.desktop",
        "[Desktop Entry]\nType=Application\nName=UXTerm\nExec=uxterm\nTryExec=uxterm-not-installed\n",
    );
    // The user hides the system galculator and adds a shell-script launcher of their own.
    write(
        home.path(),
        "applications/galculator.desktop",
        "[Desktop Entry]\nType=Application\nName=Galculator\nExec=galculator\nHidden=true\n",
    );
    write(
        home.path(),
        "applications/tools/notes.desktop",
        "[Desktop Entry]\nType=Application\nName=notes\nExec=\"/home/agent/My Tools/notes\" --new %f\n",
    );
    let dirs: Vec<PathBuf> = vec![home.path().to_path_buf(), system.path().to_path_buf()];
    let catalog = Catalog::load(&dirs, &[]);
    (home, system, catalog)
}

#[test]
fn app_list_and_app_launch() {
    let (_home, _system, catalog) = desktop();
    let listed: Vec<(&str, &str)> = catalog
        .apps()
        .iter()
        .map(|a| (a.name.as_str(), a.exec.as_str()))
        .collect();
    assert_eq!(
        listed,
        vec![
            ("Firefox ESR", "firefox-esr"),
            ("Mousepad", "mousepad"),
            ("notes", "notes"),
            ("XTerm", "xterm"),
        ]
    );

    let argv = |command: &str| catalog.resolve_launch(command).unwrap().argv;
    assert_eq!(
        argv("firefox-esr"),
        vec!["/usr/lib/firefox-esr/firefox-esr"]
    );
    assert_eq!(
        argv("firefox-esr https://example.org"),
        vec!["/usr/lib/firefox-esr/firefox-esr", "https://example.org"]
    );
    assert_eq!(
        argv("mousepad"),
        vec!["env", "GDK_BACKEND=x11", "/usr/bin/mousepad"]
    );
    assert_eq!(argv("/usr/bin/xterm -e top"), vec!["xterm", "-e", "top"]);
    assert_eq!(argv("notes"), vec!["/home/agent/My Tools/notes", "--new"]);

    let refused = catalog.resolve_launch("bash -c id").unwrap_err();
    assert_eq!(
        refused.to_string(),
        "\"bash\" is not an application from app_list; \
         launch one of: firefox-esr, mousepad, notes, xterm"
    );
    for command in ["galculator", "uxterm", "sh", "evil"] {
        assert!(
            matches!(
                catalog.resolve_launch(command),
                Err(Error::NotAnApplication { .. })
            ),
            "{command:?}"
        );
    }
    assert!(matches!(
        catalog.resolve_launch("../../bin/sh"),
        Err(Error::ParentDirInPath { .. })
    ));
}

#[test]
fn app_log_round_trip() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("xterm.log");
    let mut log = BoundedLog::create(&path, 4096).unwrap();
    for i in 0..1000 {
        log.append(format!("xterm: message {i}\n").as_bytes())
            .unwrap();
    }
    assert!(fs::metadata(&path).unwrap().len() <= 4096);
    assert_eq!(
        tail_lines(&path, 3, 64 * 1024).unwrap(),
        "xterm: message 997\nxterm: message 998\nxterm: message 999"
    );
}
