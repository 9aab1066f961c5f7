//! The operator's launch policy: which installed applications an agent may see and launch.
//!
//! An allow list, when not empty, keeps only the applications it names; a deny list removes
//! applications whatever the allow list says. An entry names an application by its
//! executable (`xterm`), its desktop-file name without `.desktop` (`org.gnome.Calculator`),
//! or its `Name` (`XTerm`, compared without case). Matching the executable too means that a
//! `.desktop` file the agent writes into its own home cannot bring back a denied program
//! under another name; and under any policy, entries in the desktop's home are not read at all
//! (`agentdesk-desktop`'s `Apps::catalog`), since the agent controls their Name, file id and
//! `Exec` alike.
//!
//! A policy also governs arguments: under one, an agent's arguments must be what the app's own
//! `Exec` field code accepts (URLs or files, as values, never options), because options turn
//! allowed programs into shells (`chromium --renderer-cmd-prefix=...`, `vim -c '!...'`).
//! `allow_args` names the apps the operator trusts with any arguments.

use std::collections::BTreeSet;

use crate::catalog::{App, Catalog};

/// Allow and deny lists, as the operator configured them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AppPolicy {
    /// If not empty, only these applications.
    pub allow: Vec<String>,
    /// Never these applications.
    pub deny: Vec<String>,
    /// Under a policy, these applications take any arguments (same forms as `allow`); the
    /// others take only what their `Exec` field code accepts.
    pub allow_args: Vec<String>,
    /// If not empty, only these applications as well: the narrower list a desktop's creator
    /// asked for, applied within the operator's `allow` and `deny` (it can never add an app).
    pub only: Vec<String>,
}

/// Which arguments `app_launch` passes on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) enum ArgumentRule {
    /// Any arguments, appended to the app's `Exec` argv (no policy: GhostDesk's behaviour).
    #[default]
    Any,
    /// Only what each app's field code accepts, except for these executables, which take any.
    FieldCodes { free: BTreeSet<String> },
}

impl AppPolicy {
    /// Whether the policy restricts anything.
    pub fn is_open(&self) -> bool {
        self.allow.is_empty() && self.deny.is_empty() && self.only.is_empty()
    }

    fn names(entry: &str, app: &App) -> bool {
        let entry = entry.trim();
        entry == app.exec || entry == app.file_id() || entry.eq_ignore_ascii_case(&app.name)
    }

    /// Whether `app` may be listed and launched.
    pub fn allows(&self, app: &App) -> bool {
        let allowed = self.allow.is_empty() || self.allow.iter().any(|e| Self::names(e, app));
        let wanted = self.only.is_empty() || self.only.iter().any(|e| Self::names(e, app));
        let allowed = allowed && wanted;
        let denied = self.deny.iter().any(|e| Self::names(e, app));
        allowed && !denied
    }
}

impl Catalog {
    /// The applications `policy` allows; refusals of the others say the policy withholds them.
    pub fn restrict(self, policy: &AppPolicy) -> Catalog {
        if policy.is_open() {
            return self;
        }
        let (kept, removed): (Vec<App>, Vec<App>) =
            self.apps().iter().cloned().partition(|a| policy.allows(a));
        let mut catalog = Catalog::from_apps(kept);
        catalog.entry_ids = self.entry_ids.clone();
        let still_allowed = catalog
            .executables()
            .into_iter()
            .map(str::to_owned)
            .collect::<Vec<_>>();
        let withheld = removed
            .into_iter()
            .map(|a| a.exec)
            .filter(|e| !still_allowed.contains(e));
        catalog.withhold(withheld);
        let free = catalog
            .apps()
            .iter()
            .filter(|a| policy.allow_args.iter().any(|e| AppPolicy::names(e, a)))
            .map(|a| a.exec.clone())
            .collect();
        catalog.set_argument_rule(ArgumentRule::FieldCodes { free });
        catalog
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::test_app as app;
    use crate::Error;

    fn catalog() -> Catalog {
        Catalog::from_apps(vec![
            app("firefox-esr", "Firefox ESR", "firefox-esr %u"),
            app("debian-xterm", "XTerm", "xterm"),
            app("mine", "My Terminal", "xterm -fa Mono"),
            app("org.xfce.mousepad", "Mousepad", "mousepad %F"),
        ])
    }

    fn execs(c: &Catalog) -> Vec<&str> {
        c.executables().into_iter().collect()
    }

    #[test]
    fn an_open_policy_keeps_everything() {
        assert_eq!(catalog().restrict(&AppPolicy::default()), catalog());
    }

    #[test]
    fn deny_by_exec_catches_every_entry_of_that_program() {
        let policy = AppPolicy {
            deny: vec!["xterm".into()],
            ..AppPolicy::default()
        };
        let c = catalog().restrict(&policy);
        assert_eq!(execs(&c), ["firefox-esr", "mousepad"]);
        let e = c.resolve_launch("xterm -e sh").unwrap_err();
        assert!(
            matches!(e, Error::Withheld { ref program } if program == "xterm"),
            "{e}"
        );
        assert!(e.to_string().contains("launch policy"), "{e}");
        // Something never installed is still "not an application".
        assert!(matches!(
            c.resolve_launch("bash").unwrap_err(),
            Error::NotAnApplication { .. }
        ));
    }

    #[test]
    fn allow_by_name_or_file_id_then_deny_wins() {
        let policy = AppPolicy {
            allow: vec!["firefox esr".into(), "org.xfce.mousepad".into()],
            deny: vec!["Mousepad".into()],
            ..AppPolicy::default()
        };
        let c = catalog().restrict(&policy);
        assert_eq!(execs(&c), ["firefox-esr"]);
        assert!(c.resolve_launch("firefox-esr https://example.org").is_ok());
        assert!(matches!(
            c.resolve_launch("mousepad").unwrap_err(),
            Error::Withheld { .. }
        ));
    }

    #[test]
    fn an_allowed_entry_keeps_its_exec_launchable() {
        // Allowing one entry of xterm by file id keeps `xterm` launchable (its own Exec runs).
        let policy = AppPolicy {
            allow: vec!["mine".into()],
            ..AppPolicy::default()
        };
        let c = catalog().restrict(&policy);
        assert_eq!(
            c.resolve_launch("xterm").unwrap().argv,
            ["xterm", "-fa", "Mono"]
        );
    }

    fn launch(c: &Catalog, command: &str) -> Result<Vec<String>, Error> {
        c.resolve_launch(command).map(|plan| plan.argv)
    }

    #[test]
    fn under_a_policy_arguments_are_the_field_codes_values() {
        let policy = AppPolicy {
            deny: vec!["xterm".into()],
            ..AppPolicy::default()
        };
        let c = catalog().restrict(&policy);
        assert_eq!(
            launch(&c, "firefox-esr https://example.org").unwrap(),
            ["firefox-esr", "https://example.org"]
        );
        // A file for a URL code, made impossible to read as an option or command.
        assert_eq!(
            launch(&c, "firefox-esr notes.html").unwrap(),
            ["firefox-esr", "./notes.html"]
        );
        assert_eq!(
            launch(&c, "mousepad a.txt /tmp/b.txt +c").unwrap(),
            ["mousepad", "./a.txt", "/tmp/b.txt", "./+c"]
        );
        for (command, says) in [
            (
                "firefox-esr --headless=new https://x",
                "\"--headless=new\" starts with '-'",
            ),
            ("firefox-esr https://a https://b", "got 2"),
            ("mousepad -- notes", "\"--\" starts with '-'"),
            ("mousepad https://example.org/x", "not URLs"),
        ] {
            let e = launch(&c, command).unwrap_err();
            assert!(matches!(e, Error::Arguments { .. }), "{command}: {e}");
            let message = e.to_string();
            assert!(message.contains(says), "{command}: {message}");
            assert!(message.contains("--allow-app-args"), "{message}");
        }
        // Without arguments every app starts as its menu entry would.
        assert_eq!(launch(&c, "mousepad").unwrap(), ["mousepad"]);
    }

    #[test]
    fn an_app_without_a_field_code_takes_no_arguments_under_a_policy() {
        let c = Catalog::from_apps(vec![
            app("galculator", "galculator", "galculator"),
            app("vim", "Vim", "vim %F"),
        ])
        .restrict(&AppPolicy {
            deny: vec!["xterm".into()],
            ..AppPolicy::default()
        });
        let e = launch(&c, "galculator --help").unwrap_err();
        assert!(e.to_string().contains("takes no arguments"), "{e}");
        assert!(matches!(
            launch(&c, "vim -E -s -c '!id > f' -c qa!"),
            Err(Error::Arguments { .. })
        ));
        // vim's `+cmd` is a file name here, never a command.
        assert_eq!(launch(&c, "vim '+!id'").unwrap(), ["vim", "./+!id"]);
    }

    #[test]
    fn the_operator_can_free_an_apps_arguments() {
        let policy = AppPolicy {
            allow: vec!["firefox-esr".into(), "XTerm".into()],
            allow_args: vec!["debian-xterm".into()],
            ..AppPolicy::default()
        };
        let c = catalog().restrict(&policy);
        assert_eq!(launch(&c, "xterm -e top").unwrap(), ["xterm", "-e", "top"]);
        assert!(launch(&c, "firefox-esr --headless").is_err());
    }

    #[test]
    fn without_a_policy_arguments_are_ghostdesks() {
        let c = catalog().restrict(&AppPolicy::default());
        assert_eq!(
            launch(&c, "firefox-esr --headless https://x").unwrap(),
            ["firefox-esr", "--headless", "https://x"]
        );
    }

    #[test]
    fn values_go_where_the_field_code_stands() {
        let c = Catalog::from_apps(vec![app("v", "Viewer", "viewer %U --fullscreen")]).restrict(
            &AppPolicy {
                deny: vec!["xterm".into()],
                ..AppPolicy::default()
            },
        );
        assert_eq!(
            launch(&c, "viewer a.png https://x/b.png").unwrap(),
            ["viewer", "./a.png", "https://x/b.png", "--fullscreen"]
        );
    }
}
