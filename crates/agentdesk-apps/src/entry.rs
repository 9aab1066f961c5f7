//! Pure parsing of one `.desktop` file (freedesktop Desktop Entry spec): which launchable
//! application it describes, and what its `Exec` line runs.
//!
//! Nothing here touches the file system; [`crate::catalog`] feeds file contents in.

use std::path::Path;

/// The launchable application described by one `.desktop` file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DesktopEntry {
    /// The unlocalized `Name` key.
    pub name: String,
    /// The basename of the program `Exec` runs (after any `env VAR=value` wrapper): what
    /// GhostDesk shows in `app_list` and what `app_launch` accepts.
    pub exec: String,
    /// The `Exec` command line split into argv, field codes removed, `%%` turned into `%`.
    pub argv: Vec<String>,
    /// What the `Exec` line's file or URL field code (`%f`, `%F`, `%u`, `%U`) says the app
    /// takes, and where; `None` when it has none, or only inside a word (`--file=%f`).
    pub params: Option<Params>,
    /// The `TryExec` key, if present and non-empty: a program that must exist for the entry
    /// to be shown.
    pub try_exec: Option<String>,
    /// `Terminal=true`: launchers ("open with", `xdg-open`) run it inside a terminal emulator.
    pub terminal: bool,
}

/// Parses the text of a `.desktop` file.
///
/// Returns `None` unless the `[Desktop Entry]` group describes an application a menu would
/// show: `Type=Application`, a `Name`, not `NoDisplay=true`, not `Hidden=true`, and an `Exec`
/// line that names a program. Only the `[Desktop Entry]` group is read, so the `Exec` lines
/// of `[Desktop Action ...]` groups never leak in. Malformed lines are ignored, never fatal.
pub fn parse_entry(text: &str) -> Option<DesktopEntry> {
    let keys = desktop_entry_keys(text);
    if keys.get("Type")? != "Application" || is_true(keys.get("NoDisplay")) {
        return None;
    }
    if is_true(keys.get("Hidden")) {
        return None;
    }
    let name = unescape_string(keys.get("Name")?);
    if name.trim().is_empty() {
        return None;
    }
    let (argv, params) = split_exec(&unescape_string(keys.get("Exec")?))?;
    let program = &argv[program_index(&argv)?];
    let exec = basename(program)?.to_owned();
    let try_exec = keys
        .get("TryExec")
        .map(unescape_string)
        .filter(|v| !v.is_empty());
    Some(DesktopEntry {
        name,
        exec,
        argv,
        params,
        try_exec,
        terminal: is_true(keys.get("Terminal")),
    })
}

/// The values an app takes after its own `Exec` argv, from the spec's field codes: `%f` one
/// file, `%F` several, `%u` one URL (or file), `%U` several.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldCode {
    /// `%f`: a single file name.
    File,
    /// `%F`: a list of files.
    Files,
    /// `%u`: a single URL (local files may be given as paths too).
    Url,
    /// `%U`: a list of URLs.
    Urls,
}

impl FieldCode {
    fn from_letter(letter: char) -> Option<FieldCode> {
        match letter {
            'f' => Some(FieldCode::File),
            'F' => Some(FieldCode::Files),
            'u' => Some(FieldCode::Url),
            'U' => Some(FieldCode::Urls),
            _ => None,
        }
    }

    /// Whether the code stands for more than one value.
    pub fn many(self) -> bool {
        matches!(self, FieldCode::Files | FieldCode::Urls)
    }

    /// Whether the values are URLs (which may also be local paths), rather than files only.
    pub fn urls(self) -> bool {
        matches!(self, FieldCode::Url | FieldCode::Urls)
    }

    /// What the code accepts, as an agent reads it: "one URL or file", "files".
    pub fn describe(self) -> &'static str {
        match self {
            FieldCode::File => "one file",
            FieldCode::Files => "file names",
            FieldCode::Url => "one URL or file",
            FieldCode::Urls => "URLs or files",
        }
    }
}

/// Where an app's `Exec` line takes values, and which.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Params {
    /// Which field code the `Exec` line has (the spec allows one of them per line).
    pub code: FieldCode,
    /// The index in the app's argv where the values go (the code's own position).
    pub at: usize,
}

/// The keys of the first `[Desktop Entry]` group, raw (not yet unescaped).
///
/// The first occurrence of a key wins: the spec makes duplicates invalid, and taking the first
/// keeps us from being steered by a later line appended to an otherwise sane file.
fn desktop_entry_keys(text: &str) -> Keys<'_> {
    let mut keys = Keys::default();
    // False before any group header too: the spec allows only comments there.
    let mut in_entry_group = false;
    let mut seen_entry_group = false;
    // A UTF-8 byte order mark would otherwise hide the first group header.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(group) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            // A repeated [Desktop Entry] group is invalid; only the first one counts.
            in_entry_group = group == "Desktop Entry" && !seen_entry_group;
            seen_entry_group |= in_entry_group;
            continue;
        }
        if !in_entry_group {
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            continue; // garbage line: tolerated, as GLib does for unknown content
        };
        // Localized keys (`Name[de]`) contain '[' and are simply different keys here.
        keys.insert(key.trim_end(), value.trim_start());
    }
    keys
}

/// A tiny ordered map: a `.desktop` group has a handful of keys we care about.
#[derive(Default)]
struct Keys<'a>(Vec<(&'a str, &'a str)>);

impl<'a> Keys<'a> {
    fn insert(&mut self, key: &'a str, value: &'a str) {
        if self.get(key).is_none() {
            self.0.push((key, value));
        }
    }

    fn get(&self, key: &str) -> Option<&'a str> {
        self.0.iter().find(|(k, _)| *k == key).map(|(_, v)| *v)
    }
}

/// The spec's boolean: `true`; `1` is the legacy spelling GLib still accepts.
fn is_true(value: Option<&str>) -> bool {
    matches!(value, Some("true" | "1"))
}

/// Undoes the spec's string escapes (`\s`, `\n`, `\t`, `\r`, `\\`).
///
/// Unknown escapes such as `\"` or `\$` are kept as written: in `Exec` they belong to the
/// second, quoting level of escaping, which [`split_exec`] handles.
fn unescape_string(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('s') => out.push(' '),
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some('\\') => out.push('\\'),
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    out
}

/// Splits an (already string-unescaped) `Exec` value into argv and removes field codes.
///
/// The spec's quoting (double quotes, with `\"`, `` \` ``, `\$` and `\\` escapes inside) is a
/// subset of POSIX shell quoting, so `shlex` parses it; like GLib we also tolerate single quotes
/// and backslashes outside quotes, which real-world files use. Returns `None` for unbalanced
/// quotes or an `Exec` with no words left.
///
/// Also returns where the first word that is exactly `%f`, `%F`, `%u` or `%U` stood: the spec
/// allows one of them per line, and a launch with files or URLs puts them there. A code
/// inside a word (`--file=%f`) takes no values here: under a launch policy such an app takes no
/// arguments at all, which is the safe reading.
fn split_exec(exec: &str) -> Option<(Vec<String>, Option<Params>)> {
    let words = shlex::split(exec)?;
    let mut argv = Vec::with_capacity(words.len());
    let mut params = None;
    for word in &words {
        let code = match word.as_bytes() {
            [b'%', letter] => FieldCode::from_letter(char::from(*letter)),
            _ => None,
        };
        if let Some(code) = code {
            params.get_or_insert(Params {
                code,
                at: argv.len(),
            });
        }
        if let Some(kept) = strip_field_codes(word) {
            argv.push(kept);
        }
    }
    (!argv.is_empty()).then_some((argv, params))
}

/// Removes field codes from one word; `None` when the word consisted only of field codes.
///
/// We never expand codes: `app_launch` passes the agent's own arguments instead, and a menu
/// launch without files expands `%f`/`%u`/... to nothing. `%i`, `%c` and `%k` (icon, name,
/// file location) are likewise dropped, as are the deprecated codes. Unknown codes are kept
/// literally, since guessing would change the command.
fn strip_field_codes(word: &str) -> Option<String> {
    if !word.contains('%') {
        return Some(word.to_owned());
    }
    let mut out = String::with_capacity(word.len());
    let mut removed_any = false;
    let mut chars = word.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.peek().copied() {
            Some('%') => {
                chars.next();
                out.push('%');
            }
            Some('f' | 'F' | 'u' | 'U' | 'd' | 'D' | 'n' | 'N' | 'i' | 'c' | 'k' | 'v' | 'm') => {
                chars.next();
                removed_any = true;
            }
            _ => out.push('%'),
        }
    }
    // `--file=%f` keeps its `--file=`; a bare `%U` disappears entirely.
    (!(removed_any && out.is_empty())).then_some(out)
}

/// The index in `argv` of the program actually run: past a leading `env` and its
/// `VAR=value` assignments and simple options. `None` if nothing is left to run.
pub(crate) fn program_index(argv: &[String]) -> Option<usize> {
    let first = argv.first()?;
    if basename(first) != Some("env") {
        return Some(0);
    }
    let mut i = 1;
    while let Some(word) = argv.get(i) {
        match word.as_str() {
            "-i" | "--ignore-environment" | "-" | "--" => i += 1,
            // Options that take the variable name as a separate word.
            "-u" | "--unset" => i += 2,
            w if w.starts_with("--unset=") || (w.starts_with("-u") && w.len() > 2) => i += 1,
            w if is_assignment(w) => i += 1,
            _ => return Some(i),
        }
    }
    None
}

/// `NAME=value` as `env` understands it: a non-empty name before the first `=`, no `/`.
fn is_assignment(word: &str) -> bool {
    match word.split_once('=') {
        Some((name, _)) => !name.is_empty() && !name.starts_with('-') && !name.contains('/'),
        None => false,
    }
}

/// The last path component of a program word, or `None` if it has none (`""`, `/`, `..`).
pub(crate) fn basename(program: &str) -> Option<&str> {
    // A trailing slash names a directory, never a program.
    if program.ends_with('/') {
        return None;
    }
    Path::new(program).file_name()?.to_str()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(exec_line: &str) -> Option<DesktopEntry> {
        parse_entry(&format!(
            "[Desktop Entry]\nType=Application\nName=Test\n{exec_line}\n"
        ))
    }

    fn strings(words: &[&str]) -> Vec<String> {
        words.iter().map(|w| (*w).to_owned()).collect()
    }

    #[test]
    fn firefox_field_code_dropped() {
        let e = entry("Exec=firefox-esr %u").unwrap();
        assert_eq!(e.exec, "firefox-esr");
        assert_eq!(e.argv, strings(&["firefox-esr"]));
        assert_eq!(e.name, "Test");
        assert_eq!(e.try_exec, None);
    }

    #[test]
    fn env_wrapper_skipped_for_exec_but_kept_in_argv() {
        let e = entry("Exec=env GDK_BACKEND=x11 /usr/bin/mousepad %F").unwrap();
        assert_eq!(e.exec, "mousepad");
        assert_eq!(
            e.argv,
            strings(&["env", "GDK_BACKEND=x11", "/usr/bin/mousepad"])
        );
    }

    #[test]
    fn env_options_skipped() {
        let e = entry("Exec=/usr/bin/env -u SESSION_MANAGER A=1 B= app --x").unwrap();
        assert_eq!(e.exec, "app");
        assert_eq!(
            e.argv,
            strings(&[
                "/usr/bin/env",
                "-u",
                "SESSION_MANAGER",
                "A=1",
                "B=",
                "app",
                "--x"
            ])
        );
    }

    #[test]
    fn env_without_program_rejected() {
        assert_eq!(entry("Exec=env A=1 %U"), None);
    }

    #[test]
    fn quoted_program_path_with_space() {
        let e = entry(r#"Exec="/opt/My App/run" --flag %U"#).unwrap();
        assert_eq!(e.exec, "run");
        assert_eq!(e.argv, strings(&["/opt/My App/run", "--flag"]));
    }

    #[test]
    fn quoting_escapes_inside_double_quotes() {
        // In the file `\\\\` is two string-level escapes giving `\\`, then one quoting-level
        // escape giving a single backslash (spec example).
        let e = entry(r#"Exec=prog "a \"b\" \$HOME \\\\ c""#).unwrap();
        assert_eq!(e.argv, strings(&["prog", r#"a "b" $HOME \ c"#]));
    }

    #[test]
    fn string_escape_s_is_a_space() {
        let e = entry(r"Exec=prog\sarg").unwrap();
        assert_eq!(e.argv, strings(&["prog", "arg"]));
    }

    #[test]
    fn field_codes_and_double_percent() {
        let e =
            entry("Exec=app %f %F %u %U %d %D %n %N %i %c %k %v %m 100%% --file=%f %z").unwrap();
        assert_eq!(e.exec, "app");
        assert_eq!(e.argv, strings(&["app", "100%", "--file=", "%z"]));
    }

    #[test]
    fn the_first_file_or_url_code_says_what_the_app_takes_and_where() {
        let at = |exec_line: &str| entry(exec_line).unwrap().params;
        assert_eq!(
            at("Exec=firefox-esr %u"),
            Some(Params {
                code: FieldCode::Url,
                at: 1
            })
        );
        assert_eq!(
            at("Exec=env A=1 mousepad %F --x %U"),
            Some(Params {
                code: FieldCode::Files,
                at: 3
            })
        );
        assert_eq!(at("Exec=viewer %i %U").unwrap().at, 1);
        // None, or only inside a word: nothing is taken.
        assert_eq!(at("Exec=galculator"), None);
        assert_eq!(at("Exec=app --file=%f"), None);
        assert_eq!(at("Exec=app %k %c"), None);
    }

    #[test]
    fn lone_double_percent_is_kept_as_percent() {
        let e = entry("Exec=app %%").unwrap();
        assert_eq!(e.argv, strings(&["app", "%"]));
    }

    #[test]
    fn exec_only_field_codes_is_rejected() {
        assert_eq!(entry("Exec=%U"), None);
        assert_eq!(entry("Exec="), None);
        assert_eq!(entry("Exec=   "), None);
    }

    #[test]
    fn unbalanced_exec_quotes_rejected() {
        assert_eq!(entry(r#"Exec="/opt/app --x"#), None);
    }

    #[test]
    fn missing_exec_rejected() {
        assert_eq!(
            parse_entry("[Desktop Entry]\nType=Application\nName=X\n"),
            None
        );
    }

    #[test]
    fn no_display_hidden_and_link_filtered() {
        let base = "[Desktop Entry]\nName=X\nExec=x\n";
        assert!(parse_entry(&format!("{base}Type=Application\n")).is_some());
        assert_eq!(
            parse_entry(&format!("{base}Type=Application\nNoDisplay=true\n")),
            None
        );
        assert_eq!(
            parse_entry(&format!("{base}Type=Application\nHidden=true\n")),
            None
        );
        assert_eq!(
            parse_entry(&format!("{base}Type=Link\nURL=https://x\n")),
            None
        );
        assert_eq!(parse_entry(&format!("{base}Type=Directory\n")), None);
        assert_eq!(parse_entry(base), None, "Type is required");
        // Explicit false keeps the entry.
        assert!(parse_entry(&format!("{base}Type=Application\nNoDisplay=false\n")).is_some());
    }

    #[test]
    fn desktop_action_exec_not_used() {
        let text = "\
[Desktop Action new-window]
Exec=evil --new-window
Name=New Window

[Desktop Entry]
Type=Application
Name=Firefox ESR
Exec=firefox-esr %u
Actions=new-window;

[Desktop Action private]
Name=Private
Exec=firefox-esr --private-window %u
NoDisplay=true
";
        let e = parse_entry(text).unwrap();
        assert_eq!(e.exec, "firefox-esr");
        assert_eq!(e.argv, strings(&["firefox-esr"]));
        assert_eq!(e.name, "Firefox ESR");
    }

    #[test]
    fn action_without_main_exec_is_rejected() {
        let text = "[Desktop Entry]\nType=Application\nName=A\n[Desktop Action x]\nExec=x\n";
        assert_eq!(parse_entry(text), None);
    }

    #[test]
    fn localized_name_ignored() {
        let text = "[Desktop Entry]\nName[de]=Rechner\nName=Calculator\nName[fr]=Calculatrice\nType=Application\nExec=galculator\n";
        let e = parse_entry(text).unwrap();
        assert_eq!(e.name, "Calculator");
        assert_eq!(e.exec, "galculator");
    }

    #[test]
    fn only_localized_name_rejected() {
        let text = "[Desktop Entry]\nName[de]=Rechner\nType=Application\nExec=galculator\n";
        assert_eq!(parse_entry(text), None);
    }

    #[test]
    fn comments_blank_lines_spaces_and_garbage_tolerated() {
        let text = "\u{feff}garbage before group\n# comment\n\n[Desktop Entry]\n  # indented comment\nthis line has no equals sign\n=value without key\nType = Application\nName =  Terminal \nExec= xterm \nTryExec=xterm\n[broken group\n\u{0}\u{1}binary=junk\n";
        let e = parse_entry(text).unwrap();
        assert_eq!(e.name, "Terminal");
        assert_eq!(e.exec, "xterm");
        assert_eq!(e.argv, strings(&["xterm"]));
        assert_eq!(e.try_exec.as_deref(), Some("xterm"));
    }

    #[test]
    fn byte_order_mark_tolerated() {
        let text = "\u{feff}[Desktop Entry]\nType=Application\nName=X\nExec=x\n";
        assert_eq!(parse_entry(text).unwrap().exec, "x");
    }

    #[test]
    fn crlf_line_endings() {
        let text = "[Desktop Entry]\r\nType=Application\r\nName=X\r\nExec=xterm -e top\r\n";
        let e = parse_entry(text).unwrap();
        assert_eq!(e.argv, strings(&["xterm", "-e", "top"]));
    }

    #[test]
    fn first_key_and_first_group_win() {
        let text =
            "[Desktop Entry]\nType=Application\nName=A\nExec=a\nExec=b\n[Desktop Entry]\nExec=c\n";
        assert_eq!(parse_entry(text).unwrap().exec, "a");
    }

    #[test]
    fn empty_try_exec_is_absent() {
        assert_eq!(entry("Exec=x\nTryExec=").unwrap().try_exec, None);
    }

    #[test]
    fn arbitrary_input_never_panics() {
        let samples = [
            "",
            "[",
            "]",
            "[]",
            "[Desktop Entry]",
            "[Desktop Entry]\nExec=\\",
            "[Desktop Entry]\nType=Application\nName=\\\nExec=\"\\",
            "[Desktop Entry]\nType=Application\nName=x\nExec=/",
            "[Desktop Entry]\nType=Application\nName=x\nExec=..",
            "[Desktop Entry]\nType=Application\nName=x\nExec=%",
            "[Desktop Entry]\nType=Application\nName=x\nExec=é%é %ü",
        ];
        for s in samples {
            let _ = parse_entry(s);
        }
        assert_eq!(parse_entry(samples[7]), None, "\"/\" names no program");
        assert_eq!(parse_entry(samples[8]), None, "\"..\" names no program");
        assert_eq!(parse_entry(samples[9]).unwrap().exec, "%");
    }
}
