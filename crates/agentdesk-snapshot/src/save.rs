//! Saving a home: walk it (directories breadth first, names sorted, nothing followed), then cut
//! each file into chunks and store the new ones, compressing on worker threads while this one
//! reads and hashes.

use std::collections::{HashSet, VecDeque};
use std::os::fd::OwnedFd;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;

use rustix::fs::{AtFlags, FileType, Mode, OFlags};

use crate::chunks::{write_new, Chunks};
use crate::{
    open_beneath, ChunkRef, Entry, Keyspace, Kind, Manifest, Name, Progress, Saved, SnapshotError,
    Watch,
};

/// FastCDC's bounds: chunks of 64 KiB to 1 MiB, 256 KiB on average. Smaller chunks find more
/// shared bytes in files that changed in place (databases), larger ones mean fewer files; a
/// home's large files are mostly written whole (downloads), where this size costs nothing.
const MIN_CHUNK: u32 = 64 * 1024;
const AVG_CHUNK: u32 = 256 * 1024;
const MAX_CHUNK: u32 = 1024 * 1024;

/// The most entries a home may have to be saved: a bound on the manifest's size in memory
/// (about 100 MB for this many).
pub(crate) const MAX_ENTRIES: usize = 250_000;

/// The longest path (relative to the home) saved; deeper entries are skipped. A restore then
/// never meets a path the kernel refuses (4096 bytes, relative to the restore's directory).
pub(crate) const MAX_PATH_BYTES: usize = 4000;

/// What an upload in progress writes to before it renames the file into place
/// (`agentdesk_desktop::files`): never whole, so never saved.
const UPLOAD_PREFIX: &[u8] = b".agentdesk-upload-";

pub(crate) fn save(
    chunks: &Chunks,
    home: &Path,
    manifest_path: &Path,
    keys: Keyspace,
    watch: Watch<'_>,
) -> Result<Saved, SnapshotError> {
    let root = rustix::fs::open(
        home,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| SnapshotError::home(b"")(e.into()))?;
    let (mut entries, skipped) = walk(&root, watch)?;
    let total = entries
        .iter()
        .map(|e| match e.kind {
            Kind::File { size, .. } => size,
            _ => 0,
        })
        .sum();
    let added = AtomicU64::new(0);
    // The chunks this save wrote: removed again if it does not finish (the caller runs one
    // operation per owner at a time, and owners never share chunks, so nothing else counts
    // on a chunk written here before the save is recorded).
    let written: Mutex<Vec<[u8; 32]>> = Mutex::new(Vec::new());
    let failed: Mutex<Option<SnapshotError>> = Mutex::new(None);
    let stop = AtomicBool::new(false);
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get().min(4));
    let (tx, rx) = std::sync::mpsc::sync_channel::<([u8; 32], Vec<u8>)>(workers * 2);
    let rx = Mutex::new(rx);
    let read = std::thread::scope(|scope| {
        let rx = &rx;
        let (stop, added, failed, written) = (&stop, &added, &failed, &written);
        for _ in 0..workers {
            scope.spawn(move || loop {
                let job = rx.lock().unwrap_or_else(|p| p.into_inner()).recv();
                let Ok((hash, data)) = job else { return };
                if stop.load(Ordering::Relaxed) {
                    continue;
                }
                match chunks.put(&hash, &data) {
                    Ok(bytes) => {
                        added.fetch_add(bytes, Ordering::Relaxed);
                        if bytes > 0 {
                            written.lock().unwrap_or_else(|p| p.into_inner()).push(hash);
                        }
                    }
                    Err(e) => {
                        failed
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .get_or_insert(e);
                        stop.store(true, Ordering::Relaxed);
                    }
                }
            });
        }
        let read = contents(&root, &mut entries, total, keys, &tx, stop, watch);
        drop(tx);
        read
    });
    let finished = finish(
        chunks,
        manifest_path,
        entries,
        skipped,
        read,
        failed.into_inner().unwrap_or_else(|p| p.into_inner()),
    );
    match finished {
        Ok((manifest, totals, skipped, stored)) => Ok(Saved {
            manifest,
            totals,
            skipped,
            added: added.into_inner() + stored,
        }),
        Err(e) => {
            for hash in written.into_inner().unwrap_or_else(|p| p.into_inner()) {
                let _ = chunks.remove(&hash);
            }
            Err(e)
        }
    }
}

/// What a save that read everything does next: drop the files that vanished, write the
/// manifest (refused past [`crate::manifest::MAX_MANIFEST_BYTES`]) and sync. The manifest's
/// hash, the totals, what was skipped, and the manifest's bytes on disk.
fn finish(
    chunks: &Chunks,
    manifest_path: &Path,
    mut entries: Vec<Entry>,
    mut skipped: u64,
    read: Result<HashSet<usize>, SnapshotError>,
    failed: Option<SnapshotError>,
) -> Result<([u8; 32], crate::Totals, u64, u64), SnapshotError> {
    if let Some(e) = failed {
        return Err(e);
    }
    let vanished = read?;
    if !vanished.is_empty() {
        // Gone between the walk and the read (an app, an upload): not in the snapshot, nor
        // are other names of it.
        let gone: HashSet<Vec<u8>> = vanished
            .iter()
            .map(|&i| entries[i].path.0.clone())
            .collect();
        let before = entries.len();
        let mut index = 0;
        entries.retain(|entry| {
            index += 1;
            let linked_to_gone =
                matches!(&entry.kind, Kind::Hardlink { target } if gone.contains(&target.0));
            !vanished.contains(&(index - 1)) && !linked_to_gone
        });
        skipped += (before - entries.len()) as u64;
    }
    let manifest = Manifest {
        format: crate::manifest::FORMAT,
        entries,
    };
    let mut json = Limited(Vec::new());
    if serde_json::to_writer(&mut json, &manifest).is_err() {
        return Err(SnapshotError::Home {
            path: ".".into(),
            source: std::io::Error::other(format!(
                "the home's list of files is too large for a snapshot (over {} MB written \
                 out: too many files, or very long or unusual names); delete what is not needed",
                crate::manifest::MAX_MANIFEST_BYTES / 1_000_000
            )),
        });
    }
    let json = json.0;
    let frame = zstd::bulk::compress(&json, 3).map_err(SnapshotError::store(manifest_path))?;
    write_new(chunks.tmp(), manifest_path, &frame)?;
    if let Err(e) = crate::sync_fs(manifest_path.parent().unwrap_or(manifest_path)) {
        let _ = std::fs::remove_file(manifest_path);
        return Err(e);
    }
    Ok((
        *blake3::hash(&json).as_bytes(),
        manifest.totals(),
        skipped,
        frame.len() as u64,
    ))
}

fn too_many() -> SnapshotError {
    SnapshotError::Home {
        path: ".".into(),
        source: std::io::Error::other(format!(
            "the home holds more than {MAX_ENTRIES} files, directories and links, more than a \
             snapshot takes; delete what is not needed"
        )),
    }
}

/// A buffer that refuses to grow past [`crate::manifest::MAX_MANIFEST_BYTES`].
struct Limited(Vec<u8>);

impl std::io::Write for Limited {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.0.len() + buf.len() > crate::manifest::MAX_MANIFEST_BYTES {
            return Err(std::io::Error::other("too large"));
        }
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Every directory, file and link under `root`, directories breadth first, names sorted;
/// files with no chunks yet. Also the count of other entries (sockets, FIFOs, devices).
fn walk(root: &OwnedFd, watch: Watch<'_>) -> Result<(Vec<Entry>, u64), SnapshotError> {
    let mut entries = Vec::new();
    let mut skipped = 0;
    let mut queue = VecDeque::from([Vec::<u8>::new()]);
    // Files with more than one name: the first path seen of each (device, inode).
    let mut linked: std::collections::HashMap<(u64, u64), Vec<u8>> = Default::default();
    while let Some(dir_path) = queue.pop_front() {
        watch.check()?;
        let dir = match open_beneath(
            root,
            &dir_path,
            OFlags::RDONLY | OFlags::DIRECTORY,
            Mode::empty(),
        ) {
            Ok(dir) => dir,
            // One its own app made unreadable: left out, as the app asked.
            Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied && !dir_path.is_empty() => {
                skipped += 1;
                continue;
            }
            Err(e) => return Err(SnapshotError::home(&dir_path)(e)),
        };
        let mut names = Vec::new();
        let mut reader = rustix::fs::Dir::read_from(&dir)
            .map_err(|e| SnapshotError::home(&dir_path)(e.into()))?;
        while let Some(dirent) = reader.read() {
            let dirent = dirent.map_err(|e| SnapshotError::home(&dir_path)(e.into()))?;
            let name = dirent.file_name().to_bytes();
            if name != b"." && name != b".." {
                if entries.len() + names.len() >= MAX_ENTRIES {
                    return Err(too_many());
                }
                names.push(name.to_vec());
            }
        }
        names.sort();
        for name in names {
            let mut path = dir_path.clone();
            if !path.is_empty() {
                path.push(b'/');
            }
            path.extend_from_slice(&name);
            if path.len() > MAX_PATH_BYTES || name.starts_with(UPLOAD_PREFIX) {
                skipped += 1;
                continue;
            }
            let name = std::ffi::CString::new(name).expect("no NUL in a file name");
            let stat = match rustix::fs::statat(&dir, &name, AtFlags::SYMLINK_NOFOLLOW) {
                Ok(stat) => stat,
                // Gone since the listing: it is not in the snapshot.
                Err(rustix::io::Errno::NOENT) => continue,
                Err(e) => return Err(SnapshotError::home(&path)(e.into())),
            };
            let kind = match FileType::from_raw_mode(stat.st_mode) {
                FileType::Directory => Kind::Dir,
                FileType::RegularFile if stat.st_nlink > 1 => {
                    match linked.entry((stat.st_dev, stat.st_ino)) {
                        std::collections::hash_map::Entry::Occupied(first) => Kind::Hardlink {
                            target: Name(first.get().clone()),
                        },
                        std::collections::hash_map::Entry::Vacant(slot) => {
                            slot.insert(path.clone());
                            Kind::File {
                                size: stat.st_size as u64,
                                chunks: Vec::new(),
                            }
                        }
                    }
                }
                FileType::RegularFile => Kind::File {
                    size: stat.st_size as u64,
                    chunks: Vec::new(),
                },
                FileType::Symlink => Kind::Symlink {
                    target: Name(
                        rustix::fs::readlinkat(&dir, &name, Vec::new())
                            .map_err(|e| SnapshotError::home(&path)(e.into()))?
                            .into_bytes(),
                    ),
                },
                _ => {
                    skipped += 1;
                    continue;
                }
            };
            if matches!(kind, Kind::Dir) {
                queue.push_back(path.clone());
            }
            entries.push(Entry {
                path: Name(path),
                mode: if matches!(kind, Kind::Symlink { .. } | Kind::Hardlink { .. }) {
                    0
                } else {
                    stat.st_mode & 0o7777
                },
                mtime: (stat.st_mtime, stat.st_mtime_nsec as u32),
                kind,
            });
            if entries.len() > MAX_ENTRIES {
                return Err(too_many());
            }
        }
    }
    Ok((entries, skipped))
}

/// Reads every file, cuts and hashes it here, and sends each chunk the store has not seen in
/// this save to the workers. Returns the indices of files gone since the walk.
fn contents(
    root: &OwnedFd,
    entries: &mut [Entry],
    total: u64,
    keys: Keyspace,
    tx: &std::sync::mpsc::SyncSender<([u8; 32], Vec<u8>)>,
    stop: &AtomicBool,
    watch: Watch<'_>,
) -> Result<HashSet<usize>, SnapshotError> {
    let mut sent = HashSet::new();
    let mut vanished = HashSet::new();
    let mut done = 0;
    for (index, entry) in entries.iter_mut().enumerate() {
        let Kind::File { size, chunks } = &mut entry.kind else {
            continue;
        };
        let path = &entry.path.0;
        let fd = match open_beneath(root, path, OFlags::RDONLY | OFlags::NONBLOCK, Mode::empty()) {
            Ok(fd) => fd,
            // Gone since the walk, or made unreadable by its app: left out.
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::NotFound | std::io::ErrorKind::PermissionDenied
                ) =>
            {
                vanished.insert(index);
                continue;
            }
            Err(e) => return Err(SnapshotError::home(path)(e)),
        };
        let stat = rustix::fs::fstat(&fd).map_err(|e| SnapshotError::home(path)(e.into()))?;
        if FileType::from_raw_mode(stat.st_mode) != FileType::RegularFile {
            return Err(SnapshotError::Home {
                path: entry.path.to_string(),
                source: std::io::Error::other("it changed while the snapshot was made"),
            });
        }
        let mut length = 0u64;
        let cdc = fastcdc::v2020::StreamCDC::new(
            std::fs::File::from(fd),
            MIN_CHUNK as usize,
            AVG_CHUNK as usize,
            MAX_CHUNK as usize,
        );
        for chunk in cdc {
            watch.check()?;
            if stop.load(Ordering::Relaxed) {
                // A worker failed; its error is the one reported.
                return Ok(vanished);
            }
            let chunk = chunk.map_err(|e| SnapshotError::Home {
                path: entry.path.to_string(),
                source: match e {
                    fastcdc::v2020::Error::IoError(e) => e,
                    other => std::io::Error::other(other.to_string()),
                },
            })?;
            let hash = keys.hash(&chunk.data);
            let len = chunk.data.len() as u32;
            chunks.push(ChunkRef { hash, len });
            length += u64::from(len);
            done += u64::from(len);
            if sent.insert(hash) && tx.send((hash, chunk.data)).is_err() {
                return Ok(vanished);
            }
            (watch.progress)(Progress {
                done,
                total: total.max(done),
            });
        }
        *size = length;
    }
    Ok(vanished)
}
