//! Opening a path under a directory without ever leaving it: for the snapshot walk and for
//! the file tools, where the home is written by the desktop's apps and the path by an agent.
//!
//! `openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS)` resolves the path inside the directory
//! in one step, refusing `..` past it, absolute paths, any symbolic link (inside the home or
//! out of it) and magic links, with no window for an app to swap a directory for a link
//! between steps. On a kernel without `openat2` (before 5.6) each part is opened in turn with
//! `O_NOFOLLOW` from the one before, which refuses the same.

use std::ffi::OsStr;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt as _;

use rustix::fs::{Mode, OFlags, ResolveFlags};
use rustix::io::Errno;

/// Opens `rel` (a relative path of plain parts: see [`crate::check_relative`]; empty means
/// `root` itself) under `root` with `flags` (`O_CLOEXEC` and `O_NOFOLLOW` are added).
/// A symbolic link anywhere on the path is `ELOOP` (or `EXDEV` for an escape).
pub fn open_beneath(
    root: impl AsFd,
    rel: &[u8],
    flags: OFlags,
    mode: Mode,
) -> std::io::Result<OwnedFd> {
    let flags = flags | OFlags::CLOEXEC | OFlags::NOFOLLOW;
    if rel.is_empty() {
        return Ok(rustix::fs::openat(root, c".", flags, mode)?);
    }
    crate::check_relative(rel)
        .map_err(|why| std::io::Error::new(std::io::ErrorKind::InvalidInput, why))?;
    let rel = OsStr::from_bytes(rel);
    match rustix::fs::openat2(
        root.as_fd(),
        rel,
        flags,
        mode,
        ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS,
    ) {
        Err(Errno::NOSYS) => {}
        other => return Ok(other?),
    }
    // Part by part, each opened from the last with O_NOFOLLOW.
    let parts: Vec<&[u8]> = rel.as_bytes().split(|&b| b == b'/').collect();
    let (last, dirs) = parts.split_last().expect("checked: not empty");
    let mut dir: Option<OwnedFd> = None;
    for part in dirs {
        let at = dir.as_ref().map_or(root.as_fd(), |d| d.as_fd());
        let next = rustix::fs::openat(
            at,
            OsStr::from_bytes(part),
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        dir = Some(next);
    }
    let at = dir.as_ref().map_or(root.as_fd(), |d| d.as_fd());
    Ok(rustix::fs::openat(
        at,
        OsStr::from_bytes(last),
        flags,
        mode,
    )?)
}
