//! The sandbox's init: the first program bwrap runs inside a desktop's namespaces. It starts
//! the desktop's processes there on agentdesk's behalf (`spawn` messages), answers with each
//! one's pidfd, and reports each one's exit. It ends when agentdesk's end of the socket
//! closes; bwrap then ends the PID namespace, and the kernel kills everything left in it.
//!
//! Single-threaded and synchronous: `poll` on the socket and on the children's pidfds.

use std::collections::HashMap;
use std::ffi::OsString;
use std::os::fd::{AsFd as _, AsRawFd as _, FromRawFd as _, OwnedFd};
use std::os::unix::ffi::OsStringExt as _;
use std::os::unix::process::{CommandExt as _, ExitStatusExt as _};
use std::process::{Child, Command, Stdio};

use rustix::event::{poll, PollFd, PollFlags};

use super::wire;

/// Runs the init on the socket `control` (a descriptor inherited from bwrap). Returns the
/// process's exit code.
pub fn init_main(control: i32) -> i32 {
    // SAFETY: the descriptor was handed to this process for exactly this use, by its number
    // on the command line; nothing else in it owns that number.
    #[allow(unsafe_code)]
    let control = unsafe { OwnedFd::from_raw_fd(control) };
    // Not dumpable: the desktop's apps run as the same user, and could otherwise ptrace this
    // process or take its socket (pidfd_getfd) and speak to agentdesk in its name. Each app
    // it starts is dumpable again once it execs; that is theirs to decide.
    if let Err(e) =
        rustix::process::set_dumpable_behavior(rustix::process::DumpableBehavior::NotDumpable)
    {
        eprintln!("agentdesk sandbox init: cannot make itself undumpable ({e}); refusing to run");
        return 1;
    }
    let mut children: HashMap<u32, (Child, OwnedFd)> = HashMap::new();
    // A child is reaped only once agentdesk has acknowledged it: until then it stays a zombie
    // if it exits, so that its pid (which agentdesk reads from the pidfd) names it still.
    let mut acknowledged: std::collections::HashSet<u32> = std::collections::HashSet::new();
    loop {
        let pids: Vec<u32> = children
            .keys()
            .copied()
            .filter(|pid| acknowledged.contains(pid))
            .collect();
        let mut fds = vec![PollFd::new(&control, PollFlags::IN)];
        fds.extend(
            pids.iter()
                .map(|pid| PollFd::new(&children[pid].1, PollFlags::IN)),
        );
        match poll(&mut fds, None) {
            Ok(_) => {}
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => {
                eprintln!("agentdesk sandbox init: poll failed: {e}");
                return 1;
            }
        }
        let control_ready = !fds[0].revents().is_empty();
        let exited: Vec<u32> = pids
            .iter()
            .zip(&fds[1..])
            .filter(|(_, fd)| !fd.revents().is_empty())
            .map(|(pid, _)| *pid)
            .collect();
        drop(fds);
        for pid in exited {
            let Some((child, _)) = children.get_mut(&pid) else {
                continue;
            };
            if let Ok(Some(status)) = child.try_wait() {
                children.remove(&pid);
                acknowledged.remove(&pid);
                let raw = status.into_raw().to_string();
                let pid = pid.to_string();
                let _ = wire::send(
                    control.as_fd(),
                    &wire::encode(&[b"exit", pid.as_bytes(), raw.as_bytes()]),
                    &[],
                );
            }
        }
        if control_ready {
            match wire::receive(control.as_fd()) {
                Ok(Some((message, _))) if message.starts_with(ACK) => {
                    let pid = wire::decode(&message)
                        .and_then(|f| f.get(1).cloned())
                        .and_then(|p| String::from_utf8(p).ok())
                        .and_then(|p| p.parse::<u32>().ok());
                    if let Some(pid) = pid.filter(|p| children.contains_key(p)) {
                        acknowledged.insert(pid);
                    }
                }
                Ok(Some((message, fds))) => {
                    let reply = match spawn(&message, fds) {
                        Ok((child, pidfd)) => {
                            let pid = child.id();
                            let answer = wire::encode(&[b"ok", pid.to_string().as_bytes()]);
                            let sent = wire::send(control.as_fd(), &answer, &[pidfd.as_fd()]);
                            children.insert(pid, (child, pidfd));
                            sent
                        }
                        Err(e) => {
                            wire::send(control.as_fd(), &wire::encode(&[b"err", e.as_bytes()]), &[])
                        }
                    };
                    if reply.is_err() {
                        return 0;
                    }
                }
                // agentdesk closed its end (it stopped the desktop, or died): end the sandbox.
                Ok(None) => return 0,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    eprintln!("agentdesk sandbox init: {e}");
                    return 1;
                }
            }
        }
    }
}

/// How an `ack` message starts (its first field, length-prefixed).
const ACK: &[u8] = b"\x03\0\0\0ack";

/// Starts the child a `spawn` message describes, with the descriptors that came with it
/// (stdin, stdout, stderr, then the kept one if any).
fn spawn(message: &[u8], fds: Vec<OwnedFd>) -> Result<(Child, OwnedFd), String> {
    let fields = wire::decode(message).ok_or("a malformed request")?;
    let [kind, program, cwd, argc, rest @ ..] = fields.as_slice() else {
        return Err("a malformed request".into());
    };
    if kind != b"spawn" {
        return Err("an unknown request".into());
    }
    let argc: usize = std::str::from_utf8(argc)
        .ok()
        .and_then(|n| n.parse().ok())
        .filter(|n| *n <= rest.len())
        .ok_or("a malformed argument count")?;
    let (args, env) = rest.split_at(argc);
    let mut fds = fds.into_iter();
    let (Some(stdin), Some(stdout), Some(stderr)) = (fds.next(), fds.next(), fds.next()) else {
        return Err("a request without its standard streams".into());
    };
    let kept = fds.next();
    let mut cmd = Command::new(OsString::from_vec(program.clone()));
    cmd.args(args.iter().map(|a| OsString::from_vec(a.clone())))
        .env_clear()
        .stdin(Stdio::from(stdin))
        .stdout(Stdio::from(stdout))
        .stderr(Stdio::from(stderr))
        .process_group(0);
    for var in env {
        let Some(at) = var.iter().position(|&b| b == b'=') else {
            continue;
        };
        cmd.env(
            OsString::from_vec(var[..at].to_vec()),
            OsString::from_vec(var[at + 1..].to_vec()),
        );
    }
    if !cwd.is_empty() {
        cmd.current_dir(OsString::from_vec(cwd.clone()));
    }
    let kept_raw = kept.as_ref().map(|fd| fd.as_raw_fd());
    // SAFETY: runs between fork and exec in a single-threaded process; umask, prctl and dup2
    // are async-signal-safe system calls that touch no memory shared with the parent.
    #[allow(unsafe_code)]
    unsafe {
        cmd.pre_exec(move || {
            rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o077));
            rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::KILL))?;
            if let Some(raw) = kept_raw {
                crate::cmd::place_fd(raw, crate::cmd::KEPT_FD)?;
            }
            Ok(())
        });
    }
    let child = cmd
        .spawn()
        .map_err(|e| format!("error spawning {:?}: {e}", String::from_utf8_lossy(program)))?;
    drop(kept);
    let pidfd = rustix::process::Pid::from_raw(child.id() as i32)
        .ok_or("the child has no pid")
        .and_then(|pid| {
            rustix::process::pidfd_open(pid, rustix::process::PidfdFlags::empty())
                .map_err(|_| "pidfd_open failed")
        })?;
    Ok((child, pidfd))
}
