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

use crate::catalog::{App, Catalog};

/// Allow and deny lists, as the operator configured them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AppPolicy {
    /// If not empty, only these applications.
    pub allow: Vec<String>,
    /// Never these applications.
    pub deny: Vec<String>,
}

impl AppPolicy {
    /// Whether the policy restricts anything.
    pub fn is_open(&self) -> bool {
        self.allow.is_empty() && self.deny.is_empty()
    }

    fn names(entry: &str, app: &App) -> bool {
        let entry = entry.trim();
        let file_id = app
            .source
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default();
        entry == app.exec || entry == file_id || entry.eq_ignore_ascii_case(&app.name)
    }

    /// Whether `app` may be listed and launched.
    pub fn allows(&self, app: &App) -> bool {
        let allowed = self.allow.is_empty() || self.allow.iter().any(|e| Self::names(e, app));
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
}
