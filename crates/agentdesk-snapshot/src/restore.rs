//! Reading a snapshot back: its manifest (checked against the recorded hash), a restore into
//! a new directory (every chunk checked as it is written), and a check of every chunk.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::io::{Read as _, Write as _};
use std::os::unix::ffi::OsStrExt as _;
use std::os::unix::fs::DirBuilderExt as _;
use std::path::Path;

use rustix::fs::{AtFlags, Mode, OFlags, Timestamps};

use crate::chunks::Chunks;
use crate::{Entry, Keyspace, Kind, Manifest, Progress, SnapshotError, Totals, Verified, Watch};

pub(crate) fn read_manifest(path: &Path, hash: &[u8; 32]) -> Result<Manifest, SnapshotError> {
    let frame = match std::fs::read(path) {
        Ok(frame) => frame,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(SnapshotError::Damaged("its manifest is missing".into()))
        }
        Err(e) => return Err(SnapshotError::store(path)(e)),
    };
    let mut json = Vec::new();
    let read = zstd::stream::read::Decoder::new(frame.as_slice()).and_then(|d| {
        d.take(crate::manifest::MAX_MANIFEST_BYTES as u64 + 1)
            .read_to_end(&mut json)
    });
    if read.is_err() || blake3::hash(&json).as_bytes() != hash {
        return Err(SnapshotError::Damaged(
            "its manifest is not what was saved".into(),
        ));
    }
    Manifest::parse(&json)
}

/// The bytes a restore of `manifest` writes to disk: its files' chunks but those of zeros
/// (restored as holes) and its hard links (restored as links).
fn bytes_to_write(manifest: &Manifest, keys: Keyspace) -> u64 {
    let mut zeros: HashMap<u32, [u8; 32]> = HashMap::new();
    let mut total = 0;
    for entry in &manifest.entries {
        let Kind::File { chunks, .. } = &entry.kind else {
            continue;
        };
        for chunk in chunks {
            let zero = *zeros
                .entry(chunk.len)
                .or_insert_with(|| keys.hash(&vec![0; chunk.len as usize]));
            if chunk.hash != zero {
                total += u64::from(chunk.len);
            }
        }
    }
    total
}

pub(crate) fn restore(
    chunks: &Chunks,
    manifest: &Manifest,
    keys: Keyspace,
    into: &Path,
    watch: Watch<'_>,
) -> Result<Totals, SnapshotError> {
    // A snapshot can be far smaller than what it restores (dedup): refuse one the disk cannot
    // take, rather than filling it for every other desktop.
    let needed = bytes_to_write(manifest, keys);
    let parent = into.parent().unwrap_or(into);
    if let Ok(fs) = rustix::fs::statvfs(parent) {
        let free = fs.f_bavail.saturating_mul(fs.f_frsize);
        // Room for what is written, and a little to spare for everyone else.
        if needed.saturating_add(needed / 20).saturating_add(64 << 20) > free {
            return Err(SnapshotError::Store {
                path: parent.to_path_buf(),
                source: std::io::Error::other(format!(
                    "not enough disk space to restore this snapshot: it writes {} MB, and {} MB \
                     are free",
                    needed / 1_000_000,
                    free / 1_000_000
                )),
            });
        }
    }
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(into)
        .map_err(SnapshotError::store(into))?;
    let written = write_tree(chunks, manifest, keys, into, watch);
    if written.is_err() {
        // Every directory is still 0700 here (modes are set last), so this removes it all.
        let _ = std::fs::remove_dir_all(into);
    }
    written
}

fn write_tree(
    chunks: &Chunks,
    manifest: &Manifest,
    keys: Keyspace,
    into: &Path,
    watch: Watch<'_>,
) -> Result<Totals, SnapshotError> {
    use std::io::{Seek as _, SeekFrom};
    // Everything is made relative to the new directory, never through a long absolute path:
    // a path the save kept (at most 4000 bytes) always fits the kernel's limit this way.
    let root = rustix::fs::open(
        into,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| SnapshotError::store(into)(e.into()))?;
    let totals = manifest.totals();
    let mut done = 0;
    for entry in &manifest.entries {
        watch.check()?;
        let rel = OsStr::from_bytes(&entry.path.0);
        let failed = |e: rustix::io::Errno| SnapshotError::home(&entry.path.0)(e.into());
        match &entry.kind {
            Kind::Dir => {
                rustix::fs::mkdirat(&root, rel, Mode::from_raw_mode(0o700)).map_err(failed)?
            }
            Kind::File { chunks: refs, size } => {
                let fd = rustix::fs::openat(
                    &root,
                    rel,
                    OFlags::WRONLY
                        | OFlags::CREATE
                        | OFlags::EXCL
                        | OFlags::NOFOLLOW
                        | OFlags::CLOEXEC,
                    Mode::from_raw_mode(0o600),
                )
                .map_err(failed)?;
                let mut file = std::fs::File::from(fd);
                for chunk in refs {
                    watch.check()?;
                    let data = chunks.get(chunk, keys).map_err(|fault| {
                        SnapshotError::Damaged(format!(
                            "the contents of {} (a chunk {fault})",
                            entry.path
                        ))
                    })?;
                    // Zeros become a hole, as they most likely were (a sparse file): a tiny
                    // snapshot of a large sparse file must not fill the disk when restored.
                    if data.iter().all(|&b| b == 0) {
                        file.seek(SeekFrom::Current(data.len() as i64))
                            .map_err(SnapshotError::home(&entry.path.0))?;
                    } else {
                        file.write_all(&data)
                            .map_err(SnapshotError::home(&entry.path.0))?;
                    }
                    done += u64::from(chunk.len);
                    (watch.progress)(Progress {
                        done,
                        total: totals.bytes,
                    });
                }
                file.set_len(*size)
                    .map_err(SnapshotError::home(&entry.path.0))?;
                rustix::fs::fchmod(&file, Mode::from_raw_mode(entry.mode & 0o777))
                    .and_then(|()| rustix::fs::futimens(&file, &times(entry)))
                    .map_err(failed)?;
            }
            Kind::Hardlink { target } => rustix::fs::linkat(
                &root,
                OsStr::from_bytes(&target.0),
                &root,
                rel,
                AtFlags::empty(),
            )
            .map_err(failed)?,
            Kind::Symlink { target } => {
                rustix::fs::symlinkat(OsStr::from_bytes(&target.0), &root, rel).map_err(failed)?;
                rustix::fs::utimensat(&root, rel, &times(entry), AtFlags::SYMLINK_NOFOLLOW)
                    .map_err(failed)?;
            }
        }
    }
    // Directories last, deepest first: a read-only one must not stop what goes in it.
    for entry in manifest
        .entries
        .iter()
        .rev()
        .filter(|e| matches!(e.kind, Kind::Dir))
    {
        let rel = OsStr::from_bytes(&entry.path.0);
        rustix::fs::chmodat(
            &root,
            rel,
            Mode::from_raw_mode(entry.mode & 0o777),
            AtFlags::empty(),
        )
        .and_then(|()| rustix::fs::utimensat(&root, rel, &times(entry), AtFlags::empty()))
        .map_err(|e| SnapshotError::home(&entry.path.0)(e.into()))?;
    }
    crate::sync_fs(into)?;
    Ok(totals)
}

fn times(entry: &Entry) -> Timestamps {
    let (sec, nsec) = entry.mtime;
    let at = rustix::fs::Timespec {
        tv_sec: sec,
        tv_nsec: i64::from(nsec.min(999_999_999)),
    };
    Timestamps {
        last_access: at,
        last_modification: at,
    }
}

pub(crate) fn verify(
    chunks: &Chunks,
    manifest: &Manifest,
    keys: Keyspace,
    watch: Watch<'_>,
) -> Result<Verified, SnapshotError> {
    let totals = manifest.totals();
    let mut checked: HashMap<[u8; 32], bool> = HashMap::new();
    let mut damaged = Vec::new();
    let mut damaged_files = 0usize;
    let mut done = 0;
    for entry in &manifest.entries {
        let Kind::File { chunks: refs, .. } = &entry.kind else {
            continue;
        };
        let mut whole = true;
        for chunk in refs {
            watch.check()?;
            let good = *checked.entry(chunk.hash).or_insert_with(|| {
                match chunks.get(chunk, keys) {
                    Ok(_) => true,
                    Err(crate::chunks::Fault::Corrupt) => {
                        // Removed, so that the next save of these bytes stores them anew
                        // rather than counting on a broken copy.
                        let _ = chunks.remove(&chunk.hash);
                        false
                    }
                    Err(_) => false,
                }
            });
            whole &= good;
            done += u64::from(chunk.len);
            (watch.progress)(Progress {
                done,
                total: totals.bytes,
            });
        }
        if !whole {
            damaged_files += 1;
            if damaged.len() < 100 {
                damaged.push(entry.path.to_string());
            }
        }
    }
    if damaged_files > damaged.len() {
        damaged.push(format!("… and {} more", damaged_files - damaged.len()));
    }
    Ok(Verified { totals, damaged })
}
