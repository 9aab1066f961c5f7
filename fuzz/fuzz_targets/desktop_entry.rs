//! Fuzz target: `.desktop` file parsing (`agentdesk_apps::parse_entry`). Any package, or
//! anything that can write to `~/.local/share/applications`, controls this text.
//!
//! Beyond "never panics": an entry always names a program that is a word of its argv, a
//! `[Desktop Action]` group appended later cannot change the entry, and writing the entry back
//! out as a `.desktop` file (with the spec's escaping and quoting) parses to the same entry.
#![no_main]

use agentdesk_apps::{parse_entry, DesktopEntry, FieldCode};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    let entry = parse_entry(text);
    // Only the first [Desktop Entry] group counts: later groups must not leak in.
    let appended = format!("{text}\n[Desktop Action evil]\nExec=evil\nName=evil\n");
    assert_eq!(parse_entry(&appended), entry);
    let Some(entry) = entry else {
        return;
    };
    assert!(!entry.name.trim().is_empty(), "{entry:?}");
    assert!(
        !entry.exec.is_empty() && !entry.exec.contains('/'),
        "{entry:?}"
    );
    assert!(
        entry.argv.iter().any(|w| w.ends_with(&entry.exec)),
        "{entry:?}"
    );
    assert_ne!(entry.try_exec.as_deref(), Some(""));
    let rendered = render(&entry);
    let reparsed = parse_entry(&rendered);
    assert_eq!(reparsed.as_ref(), Some(&entry), "{rendered:?}");
});

/// Writes `entry` as a `.desktop` file: the inverse of the parser, per the spec's two levels
/// of escaping (quoting inside `Exec`, then string escapes for every value).
fn render(entry: &DesktopEntry) -> String {
    let mut exec: Vec<String> = entry.argv.iter().map(|w| quote(w)).collect();
    // The field code where it stood: what the app takes is part of the entry.
    if let Some(params) = entry.params {
        let code = match params.code {
            FieldCode::File => "%f",
            FieldCode::Files => "%F",
            FieldCode::Url => "%u",
            FieldCode::Urls => "%U",
        };
        exec.insert(params.at.min(exec.len()), code.to_string());
    }
    let mut text = format!(
        "[Desktop Entry]\nType=Application\nName={}\nExec={}\n",
        escape_string(&entry.name),
        escape_string(&exec.join(" ")),
    );
    if let Some(try_exec) = &entry.try_exec {
        text.push_str(&format!("TryExec={}\n", escape_string(try_exec)));
    }
    if entry.terminal {
        text.push_str("Terminal=true\n");
    }
    text
}

/// One argv word as a double-quoted `Exec` argument, `%` doubled so it is no field code.
fn quote(word: &str) -> String {
    let mut out = String::from("\"");
    for c in word.chars() {
        match c {
            '"' | '`' | '$' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            '%' => out.push_str("%%"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The spec's string escapes; every space is `\s` so no surrounding whitespace gets trimmed.
fn escape_string(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            ' ' => out.push_str("\\s"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
    out
}
