//! Files in and out of a desktop's home, for the file tools and the REST API: paths are
//! relative to the home and never leave it.
//!
//! The home is written by the desktop's apps, so anything in it may be a symbolic link an
//! agent (or a web page it opened) planted to lead somewhere else. Every path is therefore
//! opened beneath the home without following any link (`agentdesk_snapshot::open_beneath`:
//! `openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS)`), directories made on the way are made
//! part by part with `O_NOFOLLOW`, and an upload is written to a new temporary file beside
//! its target and renamed over it, so that it replaces a link rather than writing through it.

use std::ffi::{CString, OsStr};
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt as _;
use std::path::Path;

use rustix::fs::{AtFlags, FileType, Mode, OFlags};
use rustix::io::Errno;

use crate::fleet::FleetError;

/// The most entries a listing returns.
pub const MAX_LISTED: usize = 1000;

/// One entry of a directory listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileInfo {
    /// Its name (not UTF-8 bytes shown as U+FFFD).
    pub name: String,
    /// `file`, `dir`, `link` or `other` (a socket, a FIFO, a device).
    pub kind: &'static str,
    /// Its size in bytes (a link's: its target's length).
    pub size: u64,
    /// Permission bits.
    pub mode: u32,
    /// Modification time, Unix seconds.
    pub modified: i64,
    /// Where a link points (never followed).
    pub target: Option<String>,
}

/// A path relative to the home, checked: parts that are neither empty, `.` nor `..`. A
/// trailing `/` is dropped; `""` and `"."` mean the home itself.
pub fn relative_path(path: &str) -> Result<Vec<u8>, FleetError> {
    let trimmed = path.trim_end_matches('/');
    if path.starts_with('/') {
        return Err(FleetError::BadRequest(format!(
            "{path:?} is an absolute path; paths are relative to the desktop's home (write \
             Downloads/report.pdf, not /home/...)"
        )));
    }
    if trimmed.is_empty() || trimmed == "." {
        return Ok(Vec::new());
    }
    if trimmed.len() > 4096 {
        return Err(FleetError::BadRequest(
            "a path is at most 4096 bytes".into(),
        ));
    }
    agentdesk_snapshot::check_relative(trimmed.as_bytes()).map_err(|why| {
        FleetError::BadRequest(format!(
            "{path:?} is not a path inside the desktop's home: {why}; name files relative to \
             the home, without . or .. parts"
        ))
    })?;
    Ok(trimmed.as_bytes().to_vec())
}

fn shown(path: &[u8]) -> String {
    if path.is_empty() {
        ".".into()
    } else {
        String::from_utf8_lossy(path).into_owned()
    }
}

/// An error opening `path` beneath the home, in words an agent can act on.
fn open_error(path: &[u8], e: std::io::Error) -> FleetError {
    let shown = shown(path);
    match Errno::from_io_error(&e) {
        Some(Errno::NOENT) => FleetError::NoSuchFile { path: shown },
        Some(Errno::LOOP | Errno::XDEV) => FleetError::BadRequest(format!(
            "{shown:?} is or passes through a symbolic link; the file tools never follow links \
             (so that none leads out of the home): name the file the link points to"
        )),
        Some(Errno::NOTDIR) => {
            FleetError::BadRequest(format!("a part of {shown:?} is a file, not a directory"))
        }
        Some(Errno::ISDIR) => {
            FleetError::BadRequest(format!("{shown:?} is a directory; file_list lists it"))
        }
        Some(Errno::ACCESS | Errno::PERM) => FleetError::BadRequest(format!(
            "{shown:?} may not be read or written (permissions)"
        )),
        _ => FleetError::BadRequest(format!("error with {shown:?} in the home: {e}")),
    }
}

fn open_home(home: &Path) -> Result<OwnedFd, FleetError> {
    rustix::fs::open(
        home,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| match e {
        Errno::NOENT => FleetError::BadRequest(
            "the desktop has no home yet (it never started); use it once first".into(),
        ),
        e => FleetError::BadRequest(format!("error opening the desktop's home: {e}")),
    })
}

/// Lists the directory `path` of the home: at most [`MAX_LISTED`] entries by name, and
/// whether there were more.
pub fn list(home: &Path, path: &str) -> Result<(Vec<FileInfo>, bool), FleetError> {
    let rel = relative_path(path)?;
    let root = open_home(home)?;
    let dir = agentdesk_snapshot::open_beneath(
        &root,
        &rel,
        OFlags::RDONLY | OFlags::DIRECTORY,
        Mode::empty(),
    )
    .map_err(|e| match Errno::from_io_error(&e) {
        Some(Errno::NOTDIR) => FleetError::BadRequest(format!(
            "{:?} is a file, not a directory; file_download fetches it",
            shown(&rel)
        )),
        _ => open_error(&rel, e),
    })?;
    list_open(&dir, &rel)
}

/// Lists the open directory `dir` (`rel` in the home).
fn list_open(dir: &OwnedFd, rel: &[u8]) -> Result<(Vec<FileInfo>, bool), FleetError> {
    // The first names in order, kept as they are read (a directory may hold millions: memory
    // and time stay bounded by what is returned).
    let mut first: std::collections::BinaryHeap<Vec<u8>> = Default::default();
    let mut truncated = false;
    let mut reader = rustix::fs::Dir::read_from(dir).map_err(|e| open_error(rel, e.into()))?;
    while let Some(dirent) = reader.read() {
        let dirent = dirent.map_err(|e| open_error(rel, e.into()))?;
        let name = dirent.file_name().to_bytes();
        if name == b"." || name == b".." {
            continue;
        }
        if first.len() < MAX_LISTED {
            first.push(name.to_vec());
        } else {
            truncated = true;
            if first.peek().is_some_and(|last| name < last.as_slice()) {
                first.pop();
                first.push(name.to_vec());
            }
        }
    }
    let names = first.into_sorted_vec();
    let mut entries = Vec::new();
    for name in names {
        let cname = CString::new(name.clone()).expect("no NUL in a file name");
        let Ok(stat) = rustix::fs::statat(dir, &cname, AtFlags::SYMLINK_NOFOLLOW) else {
            continue;
        };
        let kind = match FileType::from_raw_mode(stat.st_mode) {
            FileType::RegularFile => "file",
            FileType::Directory => "dir",
            FileType::Symlink => "link",
            _ => "other",
        };
        let target = (kind == "link")
            .then(|| rustix::fs::readlinkat(dir, &cname, Vec::new()).ok())
            .flatten()
            .map(|t| String::from_utf8_lossy(t.as_bytes()).into_owned());
        entries.push(FileInfo {
            name: String::from_utf8_lossy(&name).into_owned(),
            kind,
            size: stat.st_size as u64,
            mode: stat.st_mode & 0o7777,
            modified: stat.st_mtime,
            target,
        });
    }
    Ok((entries, truncated))
}

/// What a path of the home is, opened.
#[derive(Debug)]
pub enum Found {
    /// A regular file, open for reading, and its size.
    File(std::fs::File, u64),
    /// A directory's listing (as [`list`]).
    Dir(Vec<FileInfo>, bool),
}

/// Opens `path` of the home: a regular file for reading, or a directory listed.
pub fn open_any(home: &Path, path: &str) -> Result<Found, FleetError> {
    let rel = relative_path(path)?;
    let root = open_home(home)?;
    // O_NONBLOCK: a FIFO an app left must not hang the call (it is refused just below).
    let fd = agentdesk_snapshot::open_beneath(
        &root,
        &rel,
        OFlags::RDONLY | OFlags::NONBLOCK,
        Mode::empty(),
    )
    .map_err(|e| open_error(&rel, e))?;
    let stat = rustix::fs::fstat(&fd).map_err(|e| open_error(&rel, e.into()))?;
    match FileType::from_raw_mode(stat.st_mode) {
        FileType::RegularFile => {}
        FileType::Directory => {
            let (entries, truncated) = list_open(&fd, &rel)?;
            return Ok(Found::Dir(entries, truncated));
        }
        _ => {
            return Err(FleetError::BadRequest(format!(
                "{:?} is not a regular file (a socket, FIFO or device)",
                shown(&rel)
            )))
        }
    }
    // Reads block normally from here on (a regular file never waits anyway).
    let flags = rustix::fs::fcntl_getfl(&fd).map_err(|e| open_error(&rel, e.into()))?;
    rustix::fs::fcntl_setfl(&fd, flags - OFlags::NONBLOCK)
        .map_err(|e| open_error(&rel, e.into()))?;
    Ok(Found::File(std::fs::File::from(fd), stat.st_size as u64))
}

/// Opens the regular file `path` of the home for reading; with its size.
pub fn open_read(home: &Path, path: &str) -> Result<(std::fs::File, u64), FleetError> {
    match open_any(home, path)? {
        Found::File(file, size) => Ok((file, size)),
        Found::Dir(..) => Err(FleetError::BadRequest(format!(
            "{:?} is a directory; file_list lists it",
            if path.is_empty() { "." } else { path }
        ))),
    }
}

/// A file being uploaded: written to a temporary file beside its target, which
/// [`Upload::commit`] renames into place; dropped uncommitted, it is removed.
#[derive(Debug)]
pub struct Upload {
    dir: OwnedFd,
    temp: CString,
    name: CString,
    file: Option<std::fs::File>,
    mode: u32,
    path: String,
}

impl Upload {
    /// The file to write the contents to.
    pub fn file(&mut self) -> &mut std::fs::File {
        self.file.as_mut().expect("present until committed")
    }

    /// Gives the file its mode and puts it in place (replacing a file, or a link, by that
    /// name; never writing through one); its size.
    pub fn commit(mut self) -> Result<u64, FleetError> {
        let file = self.file.take().expect("present until committed");
        let failed =
            |e: Errno| FleetError::BadRequest(format!("error writing {:?}: {e}", self.path));
        rustix::fs::fchmod(&file, Mode::from_raw_mode(self.mode)).map_err(failed)?;
        let size = rustix::fs::fstat(&file).map_err(failed)?.st_size as u64;
        drop(file);
        rustix::fs::renameat(
            &self.dir,
            self.temp.as_c_str(),
            &self.dir,
            self.name.as_c_str(),
        )
        .map_err(|e| match e {
            Errno::ISDIR | Errno::NOTEMPTY | Errno::EXIST => FleetError::BadRequest(format!(
                "{:?} is a directory; choose another name",
                self.path
            )),
            e => failed(e),
        })?;
        self.temp = CString::default();
        Ok(size)
    }
}

impl Drop for Upload {
    fn drop(&mut self) {
        if !self.temp.is_empty() {
            let _ = rustix::fs::unlinkat(&self.dir, self.temp.as_c_str(), AtFlags::empty());
        }
    }
}

/// Starts an upload to `path` in the home with permission bits `mode` (0644 when `None`),
/// making missing directories on the way (0700).
pub fn upload(home: &Path, path: &str, mode: Option<u32>) -> Result<Upload, FleetError> {
    let rel = relative_path(path)?;
    let mode = mode.unwrap_or(0o644);
    if mode > 0o777 {
        return Err(FleetError::BadRequest(format!(
            "mode {mode:o} is not a permission mode: give 0 to 777 in octal (setuid, setgid and \
             sticky are not set by upload)"
        )));
    }
    let Some(slash_split) =
        (!rel.is_empty()).then(|| rel.rsplitn(2, |&b| b == b'/').collect::<Vec<_>>())
    else {
        return Err(FleetError::BadRequest("name a file to write".into()));
    };
    let name = slash_split[0];
    let parents: Vec<&[u8]> = match slash_split.get(1) {
        Some(parent) => parent.split(|&b| b == b'/').collect(),
        None => Vec::new(),
    };
    let mut dir = open_home(home)?;
    for (i, part) in parents.iter().enumerate() {
        let so_far =
            || rel[..parents[..=i].iter().map(|p| p.len() + 1).sum::<usize>() - 1].to_vec();
        let part = OsStr::from_bytes(part);
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let next = match rustix::fs::openat(&dir, part, flags, Mode::empty()) {
            Err(Errno::NOENT) => {
                match rustix::fs::mkdirat(&dir, part, Mode::from_raw_mode(0o700)) {
                    Ok(()) | Err(Errno::EXIST) => {}
                    Err(e) => return Err(open_error(&so_far(), e.into())),
                }
                rustix::fs::openat(&dir, part, flags, Mode::empty())
            }
            other => other,
        }
        .map_err(|e| {
            // O_DIRECTORY | O_NOFOLLOW on a link says "not a directory": say what it is.
            let is_link = e == Errno::NOTDIR
                && rustix::fs::statat(&dir, part, AtFlags::SYMLINK_NOFOLLOW)
                    .is_ok_and(|s| FileType::from_raw_mode(s.st_mode) == FileType::Symlink);
            open_error(&so_far(), if is_link { Errno::LOOP } else { e }.into())
        })?;
        dir = next;
    }
    let name = CString::new(name).expect("checked: no NUL");
    let temp =
        CString::new(format!(".agentdesk-upload-{:016x}", rand::random::<u64>())).expect("no NUL");
    let fd = rustix::fs::openat(
        &dir,
        temp.as_c_str(),
        OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::from_raw_mode(0o600),
    )
    .map_err(|e| open_error(&rel, e.into()))?;
    Ok(Upload {
        dir,
        temp,
        name,
        file: Some(std::fs::File::from(fd)),
        mode,
        path: shown(&rel),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read as _, Write as _};

    #[test]
    fn paths_are_relative_and_plain() {
        assert_eq!(relative_path("a/b.txt").unwrap(), b"a/b.txt");
        assert_eq!(relative_path("dir/").unwrap(), b"dir");
        assert!(relative_path(".").unwrap().is_empty());
        assert!(relative_path("").unwrap().is_empty());
        for bad in ["/etc/passwd", "../x", "a/../../b", "a//b", "./a", "a/./b"] {
            let err = relative_path(bad).unwrap_err().to_string();
            assert!(err.contains("home"), "{bad}: {err}");
        }
    }

    #[test]
    fn uploads_replace_links_instead_of_writing_through_them() {
        let tmp = tempfile::tempdir().unwrap();
        let home = tmp.path().join("home");
        std::fs::create_dir(&home).unwrap();
        let outside = tmp.path().join("outside");
        std::fs::write(&outside, b"keep").unwrap();
        std::os::unix::fs::symlink(&outside, home.join("trap")).unwrap();
        std::os::unix::fs::symlink(tmp.path(), home.join("dirtrap")).unwrap();

        let mut up = upload(&home, "trap", Some(0o600)).unwrap();
        up.file().write_all(b"new").unwrap();
        assert_eq!(up.commit().unwrap(), 3);
        assert_eq!(std::fs::read(&outside).unwrap(), b"keep");
        assert_eq!(std::fs::read(home.join("trap")).unwrap(), b"new");
        assert!(!std::fs::symlink_metadata(home.join("trap"))
            .unwrap()
            .is_symlink());

        // Through a linked directory: refused, nothing written outside.
        let err = upload(&home, "dirtrap/outside", None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("symbolic link"), "{err}");
        assert!(open_read(&home, "dirtrap/outside").is_err());
        assert_eq!(std::fs::read(&outside).unwrap(), b"keep");

        // Missing directories are made; an upload dropped half-way leaves nothing.
        let mut up = upload(&home, "new/deep/file.txt", None).unwrap();
        up.file().write_all(b"x").unwrap();
        drop(up);
        let (listed, _) = list(&home, "new/deep").unwrap();
        assert!(listed.is_empty(), "{listed:?}");
        let mut up = upload(&home, "new/deep/file.txt", None).unwrap();
        up.file().write_all(b"hello").unwrap();
        up.commit().unwrap();
        let (mut file, size) = open_read(&home, "new/deep/file.txt").unwrap();
        let mut text = String::new();
        file.read_to_string(&mut text).unwrap();
        assert_eq!((text.as_str(), size), ("hello", 5));
        let (listed, truncated) = list(&home, "").unwrap();
        assert!(!truncated);
        let names: Vec<(&str, &str)> = listed.iter().map(|f| (f.name.as_str(), f.kind)).collect();
        assert_eq!(
            names,
            [("dirtrap", "link"), ("new", "dir"), ("trap", "file")]
        );
        assert!(matches!(
            open_read(&home, "nope"),
            Err(FleetError::NoSuchFile { .. })
        ));
        assert!(upload(&home, "x", Some(0o4755)).is_err());
    }
}
