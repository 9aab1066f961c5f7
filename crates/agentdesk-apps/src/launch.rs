//! Validation of an agent's `app_launch` command: only executables listed by `app_list` may
//! run, as a plain argv (no shell), and the program that runs is always the catalog's own.
//!
//! This module decides *what* to run; starting the process belongs to another crate.

use std::path::{Component, Path};

use serde::Serialize;

use crate::catalog::{App, Catalog};
use crate::entry::{basename, FieldCode};
use crate::error::Error;
use crate::policy::ArgumentRule;

/// The longest `app_launch` command accepted, in bytes. Real launches are a program name and
/// a few arguments; the bound keeps a confused agent from pushing megabytes into argv.
pub const MAX_COMMAND_BYTES: usize = 4096;

/// How many executables an error message lists before summarising the rest.
const MAX_LISTED_EXECUTABLES: usize = 40;

/// What to run for an accepted `app_launch` command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LaunchPlan {
    /// The argv to execute directly (never through a shell); `argv[0]` is the program as the
    /// catalog's `.desktop` file names it, possibly an absolute path or an `env` wrapper.
    pub argv: Vec<String>,
}

impl Catalog {
    /// Checks an agent's `app_launch` command and turns it into the argv to run.
    ///
    /// The command is split with POSIX shell quoting (nothing is expanded, no shell runs). Its
    /// first word may be an app's exec (`firefox-esr`) or any path ending in it
    /// (`/usr/bin/firefox-esr`), but never a path with `..`; whatever path the agent wrote,
    /// the program that runs is the catalog's. The app's own `Exec` argv runs, exactly as a
    /// menu click would (including `env VAR=x` wrappers and fixed flags), followed by the
    /// agent's arguments. Appending rather than replacing matters for apps whose `Exec` runs
    /// an interpreter on a script (`python3 /usr/share/tool/main.py`): the agent's arguments
    /// reach the script, so `app_launch("python3 -c ...")` can never run arbitrary code.
    ///
    /// When several apps share the exec, the one with the shortest `Exec` argv is used, so a
    /// variant such as `firefox --private-window` never replaces the plain launcher.
    ///
    /// Under a launch policy ([`Catalog::restrict`]), the arguments must be what the app's
    /// `Exec` field code accepts, placed where the code stands: `%u`/`%U` URLs or files, `%f`/
    /// `%F` files, one value or several, never an option (a leading `-`); file names are passed
    /// as `./name` unless absolute, so no program reads them as options or commands (`+cmd`).
    /// An app without a field code takes none, unless the operator freed its arguments.
    pub fn resolve_launch(&self, command: &str) -> Result<LaunchPlan, Error> {
        // Checked before anything else touches the string, so the error names the real size.
        if command.len() > MAX_COMMAND_BYTES {
            return Err(Error::CommandTooLong {
                len: command.len(),
                max: MAX_COMMAND_BYTES,
            });
        }
        // NUL cannot be passed through execve at all, and newlines or escapes in argv are
        // never what an agent meant; tab is harmless whitespace.
        if let Some((offset, c)) = command
            .char_indices()
            .find(|(_, c)| c.is_control() && *c != '\t')
        {
            return Err(Error::ControlCharacter {
                code: u32::from(c),
                offset,
            });
        }
        let words = shlex::split(command).ok_or(Error::UnbalancedQuotes)?;
        let Some((program, args)) = words.split_first() else {
            return Err(Error::EmptyCommand);
        };
        if Path::new(program)
            .components()
            .any(|c| c == Component::ParentDir)
        {
            return Err(Error::ParentDirInPath {
                program: program.clone(),
            });
        }
        let app = basename(program)
            .and_then(|name| self.app_for_exec(name))
            .ok_or_else(|| self.not_an_application(program))?;
        let free = match &self.arguments {
            ArgumentRule::Any => true,
            ArgumentRule::FieldCodes { free } => free.contains(&app.exec),
        };
        let argv = if free {
            app.argv.iter().chain(args).cloned().collect()
        } else {
            field_code_argv(app, args)?
        };
        Ok(LaunchPlan { argv })
    }

    /// The app to launch for an exec name: the shortest `Exec` argv, then catalog order.
    fn app_for_exec(&self, exec: &str) -> Option<&App> {
        // min_by_key returns the first of equal minimums, so ties follow the sorted catalog.
        self.apps()
            .iter()
            .filter(|a| a.exec == exec)
            .min_by_key(|a| a.argv.len())
    }

    /// The refusal for a program outside the catalog, listing what the agent may launch.
    fn not_an_application(&self, program: &str) -> Error {
        if let Some(exec) = basename(program).filter(|e| self.is_withheld(e)) {
            return Error::Withheld {
                program: exec.to_owned(),
            };
        }
        let executables = self.executables();
        if executables.is_empty() {
            return Error::NoApplications {
                program: program.to_owned(),
            };
        }
        let mut allowed = executables
            .iter()
            .take(MAX_LISTED_EXECUTABLES)
            .copied()
            .collect::<Vec<_>>()
            .join(", ");
        if executables.len() > MAX_LISTED_EXECUTABLES {
            let more = executables.len() - MAX_LISTED_EXECUTABLES;
            allowed.push_str(&format!(" and {more} more (call app_list for all)"));
        }
        Error::NotAnApplication {
            program: program.to_owned(),
            allowed,
        }
    }
}

/// `app`'s argv with `values` where its field code stands, each checked against the code.
fn field_code_argv(app: &App, values: &[String]) -> Result<Vec<String>, Error> {
    let refuse = |accepts: &str, problem: String| Error::Arguments {
        program: app.exec.clone(),
        accepts: accepts.to_owned(),
        problem,
    };
    let Some(params) = app.params else {
        return match values.first() {
            None => Ok(app.argv.clone()),
            Some(first) => Err(refuse(
                "no arguments",
                format!("got {first:?}; its .desktop Exec line has no %f, %F, %u or %U"),
            )),
        };
    };
    let accepts = params.code.describe();
    let mut placed = Vec::with_capacity(values.len());
    for value in values {
        placed.push(checked_value(params.code, value).map_err(|p| refuse(accepts, p))?);
    }
    if values.len() > 1 && !params.code.many() {
        return Err(refuse(accepts, format!("got {} values", values.len())));
    }
    let at = params.at.min(app.argv.len());
    let mut argv = app.argv[..at].to_vec();
    argv.extend(placed);
    argv.extend_from_slice(&app.argv[at..]);
    Ok(argv)
}

/// One value for a field code, as passed to the app; or why it is refused.
fn checked_value(code: FieldCode, value: &str) -> Result<String, String> {
    if value.is_empty() {
        return Err("an empty value is neither a file nor a URL".into());
    }
    if value.starts_with('-') {
        return Err(format!(
            "{value:?} starts with '-', and options are not passed"
        ));
    }
    if code.urls() && has_url_scheme(value) {
        return Ok(value.to_owned());
    }
    if !code.urls() && value.contains("://") {
        return Err(format!("{value:?} is a URL; it takes file names, not URLs"));
    }
    // A relative file name, made unmistakable: `./+cmd` is a file to every program.
    Ok(if value.starts_with('/') {
        value.to_owned()
    } else {
        format!("./{value}")
    })
}

/// Whether `value` starts with a URL scheme (RFC 3986: a letter, then letters, digits, `+`,
/// `-` or `.`, then `:`), as `https://x`, `about:blank` or `mailto:a@b` do.
fn has_url_scheme(value: &str) -> bool {
    let Some((scheme, _)) = value.split_once(':') else {
        return false;
    };
    let mut chars = scheme.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::catalog::test_app;

    fn app(name: &str, exec_line: &str) -> App {
        test_app(name, name, exec_line)
    }

    fn catalog() -> Catalog {
        Catalog::from_apps(vec![
            app("Firefox ESR", "firefox-esr %u"),
            app("Firefox ESR (private)", "firefox-esr --private-window %u"),
            app("galculator", "galculator"),
            app("Mousepad", "env GDK_BACKEND=x11 /usr/bin/mousepad %F"),
            app("XTerm", "xterm"),
        ])
    }

    fn argv(command: &str) -> Vec<String> {
        catalog()
            .resolve_launch(command)
            .unwrap_or_else(|e| panic!("{command:?} refused: {e}"))
            .argv
    }

    #[test]
    fn bare_names_run_the_desktop_exec() {
        assert_eq!(argv("firefox-esr"), vec!["firefox-esr"]);
        assert_eq!(argv("  xterm\t"), vec!["xterm"]);
        // The env wrapper of the .desktop file is kept, as the menu would run it.
        assert_eq!(
            argv("mousepad"),
            vec!["env", "GDK_BACKEND=x11", "/usr/bin/mousepad"]
        );
        assert_eq!(
            argv("/usr/bin/mousepad"),
            vec!["env", "GDK_BACKEND=x11", "/usr/bin/mousepad"]
        );
    }

    #[test]
    fn paths_ending_in_an_exec_run_the_catalog_program() {
        assert_eq!(argv("/usr/bin/firefox-esr"), vec!["firefox-esr"]);
        assert_eq!(argv("/usr/bin/xterm -e top"), vec!["xterm", "-e", "top"]);
        // Whatever directory the agent names, the catalog's program runs, not that file.
        assert_eq!(argv("/tmp/evil/xterm"), vec!["xterm"]);
        assert_eq!(argv("./xterm -hold"), vec!["xterm", "-hold"]);
    }

    #[test]
    fn arguments_are_appended_to_the_catalog_program() {
        assert_eq!(
            argv("firefox-esr https://example.org"),
            vec!["firefox-esr", "https://example.org"]
        );
        // The whole Exec line runs, env wrapper included, then the agent's arguments.
        assert_eq!(
            argv("mousepad notes.txt"),
            vec!["env", "GDK_BACKEND=x11", "/usr/bin/mousepad", "notes.txt"]
        );
        // Quoting is POSIX, and nothing is expanded: no shell runs.
        assert_eq!(
            argv(r#"xterm -T 'my term' -e "echo \"\$HOME; rm -rf /\"""#),
            vec!["xterm", "-T", "my term", "-e", r#"echo "$HOME; rm -rf /""#]
        );
    }

    #[test]
    fn an_interpreter_exec_never_runs_the_agents_code() {
        let c = Catalog::from_apps(vec![app("Tool", "python3 /usr/share/tool/main.py %F")]);
        assert_eq!(
            c.resolve_launch("python3 -c 'import os'").unwrap().argv,
            vec!["python3", "/usr/share/tool/main.py", "-c", "import os"]
        );
    }

    #[test]
    fn shared_exec_prefers_the_plain_launcher() {
        let c = catalog();
        assert_eq!(
            c.resolve_launch("firefox-esr").unwrap().argv,
            vec!["firefox-esr"]
        );
        assert_eq!(c.apps()[1].name, "Firefox ESR (private)");
    }

    fn refused(command: &str) -> Error {
        match catalog().resolve_launch(command) {
            Ok(plan) => panic!("{command:?} accepted as {:?}", plan.argv),
            Err(e) => e,
        }
    }

    #[test]
    fn programs_outside_the_catalog_are_refused() {
        let e = refused("bash");
        assert_eq!(
            e.to_string(),
            "\"bash\" is not an application from app_list; \
             launch one of: firefox-esr, galculator, mousepad, xterm"
        );
        assert!(
            matches!(refused("bash -c id"), Error::NotAnApplication { program, .. } if program == "bash")
        );
        assert!(matches!(refused("sh"), Error::NotAnApplication { .. }));
        assert!(matches!(
            refused("/bin/sh -c xterm"),
            Error::NotAnApplication { .. }
        ));
        // `env` itself is never an app, even though mousepad's Exec starts with it.
        assert!(matches!(
            refused("env GDK_BACKEND=x11 xterm"),
            Error::NotAnApplication { .. }
        ));
        assert!(matches!(
            refused("'' xterm"),
            Error::NotAnApplication { .. }
        ));
        assert!(matches!(
            refused("/usr/bin/"),
            Error::NotAnApplication { .. }
        ));
        // Case matters: exec names are file names.
        assert!(matches!(refused("XTerm"), Error::NotAnApplication { .. }));
    }

    #[test]
    fn parent_dir_paths_are_refused() {
        for command in [
            "../xterm",
            "../../bin/sh",
            "/usr/bin/../bin/xterm",
            "a/../xterm -e top",
        ] {
            assert!(
                matches!(refused(command), Error::ParentDirInPath { .. }),
                "{command:?}"
            );
        }
        assert_eq!(
            refused("../xterm").to_string(),
            "\"../xterm\" contains a \"..\" path component; \
             pass the bare program name from app_list instead"
        );
    }

    #[test]
    fn empty_commands_are_refused() {
        for command in ["", "   ", "\t", "# just a comment"] {
            assert_eq!(refused(command), Error::EmptyCommand, "{command:?}");
        }
    }

    #[test]
    fn unbalanced_quotes_are_refused() {
        for command in ["xterm -T 'oops", "xterm \"oops", "xterm oops\\"] {
            assert_eq!(refused(command), Error::UnbalancedQuotes, "{command:?}");
        }
    }

    #[test]
    fn control_characters_are_refused() {
        assert_eq!(
            refused("xterm\0"),
            Error::ControlCharacter { code: 0, offset: 5 }
        );
        assert_eq!(
            refused("xterm\n-e top"),
            Error::ControlCharacter {
                code: 10,
                offset: 5
            }
        );
        assert!(matches!(
            refused("xterm \u{1b}[31m"),
            Error::ControlCharacter { code: 0x1b, .. }
        ));
        assert!(matches!(
            refused("xterm \u{85}"),
            Error::ControlCharacter { code: 0x85, .. }
        ));
        assert!(refused("x\0").to_string().contains("U+0000"));
        // Tab is whitespace, not a control character to refuse.
        assert_eq!(argv("xterm\t-e\ttop"), vec!["xterm", "-e", "top"]);
    }

    #[test]
    fn overlong_commands_are_refused() {
        let command = format!("xterm {}", "a".repeat(5000 - 6));
        assert_eq!(command.len(), 5000);
        let e = refused(&command);
        assert_eq!(
            e,
            Error::CommandTooLong {
                len: 5000,
                max: MAX_COMMAND_BYTES
            }
        );
        assert!(e.to_string().contains("4096"), "{e}");
        // Exactly at the bound is fine.
        let command = format!("xterm {}", "a".repeat(MAX_COMMAND_BYTES - 6));
        assert_eq!(argv(&command).len(), 2);
    }

    #[test]
    fn empty_catalog_says_so() {
        let e = Catalog::default().resolve_launch("xterm").unwrap_err();
        assert!(matches!(e, Error::NoApplications { .. }));
        assert!(e.to_string().contains("app_list is empty"), "{e}");
    }

    #[test]
    fn long_allowed_lists_are_capped() {
        let apps = (0..50)
            .map(|i| app(&format!("App {i:02}"), &format!("app{i:02}")))
            .collect();
        let e = Catalog::from_apps(apps).resolve_launch("bash").unwrap_err();
        let message = e.to_string();
        assert!(message.contains("app00, app01"), "{message}");
        assert!(
            message.contains("app39 and 10 more (call app_list for all)"),
            "{message}"
        );
        assert!(!message.contains("app40"), "{message}");
    }
}
