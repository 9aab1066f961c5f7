//! Fuzz target: the `app_launch` allow-list (`Catalog::resolve_launch`), with both sides
//! fuzzed: the `.desktop` files that make up the catalog, and the agent's command.
//!
//! Input: `.desktop` texts and then the command, separated by U+001E (record separator). A
//! command containing it is refused as a control character anyway, so nothing is lost.
//!
//! Beyond "never panics": an accepted command always runs the whole `Exec` argv of the plainest
//! catalog app with that executable (never the agent's path), followed by the agent's arguments
//! untouched; and under a launch policy, the app's argv with values in place of its field code,
//! none of which a program could read as an option.
#![no_main]

use std::path::{Component, Path, PathBuf};

use agentdesk_apps::{parse_entry, App, AppPolicy, Catalog, MAX_COMMAND_BYTES};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &str| {
    let mut parts: Vec<&str> = input.split('\u{1e}').collect();
    let command = parts.pop().unwrap_or_default();
    let apps = parts
        .iter()
        .enumerate()
        .filter_map(|(i, text)| {
            let e = parse_entry(text)?;
            Some(App::from_entry(
                e,
                format!("{i}.desktop"),
                PathBuf::from(format!("/fuzz/{i}.desktop")),
            ))
        })
        .collect();
    let catalog = Catalog::from_apps(apps);
    check_under_a_policy(&catalog, command);
    let plan = match catalog.resolve_launch(command) {
        Ok(plan) => plan,
        Err(e) => {
            assert!(!e.to_string().is_empty());
            return;
        }
    };
    assert!(command.len() <= MAX_COMMAND_BYTES);
    assert!(
        !command.chars().any(|c| c.is_control() && c != '\t'),
        "{command:?}"
    );
    let words = shlex::split(command).expect("accepted commands are well quoted");
    let (program, args) = words
        .split_first()
        .expect("accepted commands name a program");
    assert!(!program.ends_with('/'), "{program:?} names a directory");
    assert!(!Path::new(program)
        .components()
        .any(|c| c == Component::ParentDir));
    let exec = Path::new(program).file_name().and_then(|n| n.to_str());
    let exec = exec.expect("accepted programs have a file name");
    let candidates: Vec<&App> = catalog.apps().iter().filter(|a| a.exec == exec).collect();
    assert!(!candidates.is_empty(), "{exec:?} is not in the catalog");
    // The menu's own command line, of the plainest app with that exec, then exactly the
    // agent's arguments.
    let shortest = candidates.iter().map(|a| a.argv.len()).min().unwrap();
    let (own, appended) = plan.argv.split_at(shortest);
    assert!(
        candidates
            .iter()
            .any(|a| a.argv == own && a.argv.len() == shortest),
        "{plan:?}"
    );
    assert_eq!(appended, args);
});

/// Under a policy (one that withholds nothing here), an accepted plan is an app's own argv with
/// at most its field code's values spliced in where the code stood, each absolute, `./`-prefixed
/// or a URL: never an option.
fn check_under_a_policy(catalog: &Catalog, command: &str) {
    let policy = AppPolicy {
        deny: vec!["\u{0}".into()],
        ..AppPolicy::default()
    };
    let restricted = catalog.clone().restrict(&policy);
    let Ok(plan) = restricted.resolve_launch(command) else {
        return;
    };
    let fits = restricted.apps().iter().any(|app| {
        let extra = plan.argv.len().saturating_sub(app.argv.len());
        let at = app.params.map_or(app.argv.len(), |p| p.at.min(app.argv.len()));
        plan.argv.len() >= app.argv.len()
            && plan.argv[..at] == app.argv[..at]
            && plan.argv[at + extra..] == app.argv[at..]
            && (extra == 0 || app.params.is_some_and(|p| extra == 1 || p.code.many()))
            && plan.argv[at..at + extra]
                .iter()
                .all(|v| v.starts_with('/') || v.starts_with("./") || v.contains(':'))
            && plan.argv[at..at + extra].iter().all(|v| !v.starts_with('-'))
    });
    assert!(fits, "{command:?} -> {:?}", plan.argv);
}
