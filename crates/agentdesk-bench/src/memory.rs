//! The process tree under the server, read from `/proc`: which processes make up the desktop
//! (server, X server, window manager, bus, apps and their children) and how much memory they
//! hold.
//!
//! RSS counts shared pages (libraries, fonts) once per process that maps them; USS
//! (`Private_Clean + Private_Dirty` of `smaps_rollup`) counts only what each process alone
//! holds, i.e. what stopping it would give back. The memory target is in USS; GhostDesk
//! was measured in RSS and PSS, which are reported too.

use std::collections::BTreeMap;

use serde::Serialize;

/// One process as `/proc/PID/stat` describes it. (pid, start time) identifies it even if the
/// pid is reused later.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Proc {
    pub(crate) pid: u32,
    pub(crate) ppid: u32,
    pub(crate) comm: String,
    pub(crate) state: char,
    /// Start time in clock ticks since boot.
    pub(crate) start: u64,
}

/// Parses a `/proc/PID/stat` line. The command name is in parentheses and may itself contain
/// spaces and parentheses, so fields are counted from the *last* `)`.
pub(crate) fn parse_stat(line: &str) -> Option<Proc> {
    let open = line.find('(')?;
    let close = line.rfind(')')?;
    let pid = line[..open].trim().parse().ok()?;
    let comm = line.get(open + 1..close)?.to_string();
    let fields: Vec<&str> = line.get(close + 1..)?.split_whitespace().collect();
    // After the name: state (field 3), ppid (4), ... starttime (22).
    Some(Proc {
        pid,
        ppid: fields.get(1)?.parse().ok()?,
        comm,
        state: fields.first()?.chars().next()?,
        start: fields.get(19)?.parse().ok()?,
    })
}

/// Every process visible in `/proc`.
pub(crate) fn all_processes() -> Vec<Proc> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .bytes()
                .all(|b| b.is_ascii_digit())
        })
        .filter_map(|e| std::fs::read_to_string(e.path().join("stat")).ok())
        .filter_map(|line| parse_stat(&line))
        .collect()
}

/// `root` and all its descendants, parents before children. Zombies are left out: they hold
/// no memory and are already gone for every purpose but their parent's.
pub(crate) fn tree(all: &[Proc], root: u32) -> Vec<Proc> {
    let mut out: Vec<Proc> = all
        .iter()
        .filter(|p| p.pid == root && p.state != 'Z')
        .cloned()
        .collect();
    let mut i = 0;
    while i < out.len() {
        let parent = out[i].pid;
        out.extend(
            all.iter()
                .filter(|p| p.ppid == parent && p.pid != parent && p.state != 'Z')
                .cloned(),
        );
        i += 1;
    }
    out
}

/// Whether a process recorded earlier is still running (same pid, same start, not a zombie).
pub(crate) fn still_running(p: &Proc) -> bool {
    std::fs::read_to_string(format!("/proc/{}/stat", p.pid))
        .ok()
        .and_then(|line| parse_stat(&line))
        .is_some_and(|now| now.start == p.start && now.state != 'Z')
}

/// Memory of one process, in KiB.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub(crate) struct Usage {
    pub(crate) rss_kib: u64,
    pub(crate) pss_kib: u64,
    pub(crate) uss_kib: u64,
}

/// Parses `/proc/PID/smaps_rollup`.
pub(crate) fn parse_smaps_rollup(text: &str) -> Usage {
    let mut usage = Usage::default();
    for line in text.lines() {
        let mut parts = line.split_whitespace();
        let (Some(key), Some(value)) = (parts.next(), parts.next()) else {
            continue;
        };
        let Ok(kib) = value.parse::<u64>() else {
            continue;
        };
        match key {
            "Rss:" => usage.rss_kib = kib,
            "Pss:" => usage.pss_kib = kib,
            "Private_Clean:" | "Private_Dirty:" => usage.uss_kib += kib,
            _ => {}
        }
    }
    usage
}

/// The memory of a process tree at one moment.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Snapshot {
    pub(crate) processes: usize,
    pub(crate) total: Usage,
    /// Per process name (e.g. "Xvnc", "firefox-esr"), largest USS first.
    pub(crate) by_name: Vec<NamedUsage>,
}

/// The processes of one name, summed.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct NamedUsage {
    pub(crate) name: String,
    pub(crate) count: usize,
    #[serde(flatten)]
    pub(crate) usage: Usage,
}

/// Measures `root` and its descendants now. Processes that exit while being read are skipped.
pub(crate) fn snapshot(root: u32) -> Snapshot {
    let procs = tree(&all_processes(), root);
    let measured: Vec<(String, Usage)> = procs
        .iter()
        .filter_map(|p| {
            let text = std::fs::read_to_string(format!("/proc/{}/smaps_rollup", p.pid)).ok()?;
            Some((p.comm.clone(), parse_smaps_rollup(&text)))
        })
        .collect();
    summarize(&measured)
}

/// Sums per-process usage into totals and per-name groups.
pub(crate) fn summarize(measured: &[(String, Usage)]) -> Snapshot {
    let mut total = Usage::default();
    let mut names: BTreeMap<&str, (usize, Usage)> = BTreeMap::new();
    for (name, u) in measured {
        total.rss_kib += u.rss_kib;
        total.pss_kib += u.pss_kib;
        total.uss_kib += u.uss_kib;
        let entry = names.entry(name).or_default();
        entry.0 += 1;
        entry.1.rss_kib += u.rss_kib;
        entry.1.pss_kib += u.pss_kib;
        entry.1.uss_kib += u.uss_kib;
    }
    let mut by_name: Vec<NamedUsage> = names
        .into_iter()
        .map(|(name, (count, usage))| NamedUsage {
            name: name.to_string(),
            count,
            usage,
        })
        .collect();
    by_name.sort_by_key(|n| std::cmp::Reverse(n.usage.uss_kib));
    Snapshot {
        processes: measured.len(),
        total,
        by_name,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_lines_with_awkward_names() {
        let line = "4242 (Web Content (x)) S 4200 4242 4242 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 \
                    1 0 987654 1000 100";
        let p = parse_stat(line).unwrap();
        assert_eq!(
            p,
            Proc {
                pid: 4242,
                ppid: 4200,
                comm: "Web Content (x)".into(),
                state: 'S',
                start: 987654
            }
        );
        assert!(parse_stat("garbage").is_none());
    }

    #[test]
    fn trees_include_grandchildren_but_not_zombies_or_strangers() {
        let p = |pid, ppid, state| Proc {
            pid,
            ppid,
            comm: format!("p{pid}"),
            state,
            start: 1,
        };
        let all = [
            p(1, 0, 'S'),
            p(10, 1, 'S'),
            p(11, 10, 'S'),
            p(12, 10, 'Z'),
            p(13, 11, 'R'),
            p(20, 1, 'S'),
        ];
        let pids: Vec<u32> = tree(&all, 10).iter().map(|p| p.pid).collect();
        assert_eq!(pids, [10, 11, 13]);
        assert!(tree(&all, 99).is_empty());
    }

    #[test]
    fn smaps_rollup_gives_rss_pss_and_uss() {
        let text = "55d0-7ffd ---p 00000000 00:00 0  [rollup]\n\
                    Rss:               20480 kB\nPss:               10240 kB\n\
                    Shared_Clean:       8192 kB\nPrivate_Clean:      1024 kB\n\
                    Private_Dirty:      4096 kB\nSwap:                  0 kB\n";
        assert_eq!(
            parse_smaps_rollup(text),
            Usage {
                rss_kib: 20480,
                pss_kib: 10240,
                uss_kib: 5120
            }
        );
        let snap = summarize(&[
            (
                "Xvnc".into(),
                Usage {
                    rss_kib: 30,
                    pss_kib: 20,
                    uss_kib: 10,
                },
            ),
            (
                "xterm".into(),
                Usage {
                    rss_kib: 5,
                    pss_kib: 3,
                    uss_kib: 1,
                },
            ),
            (
                "xterm".into(),
                Usage {
                    rss_kib: 5,
                    pss_kib: 3,
                    uss_kib: 2,
                },
            ),
        ]);
        assert_eq!(snap.processes, 3);
        assert_eq!(
            snap.total,
            Usage {
                rss_kib: 40,
                pss_kib: 26,
                uss_kib: 13
            }
        );
        assert_eq!(snap.by_name[0].name, "Xvnc");
        assert_eq!(
            (snap.by_name[1].name.as_str(), snap.by_name[1].count),
            ("xterm", 2)
        );
        assert_eq!(snap.by_name[1].usage.uss_kib, 3);
    }
}
