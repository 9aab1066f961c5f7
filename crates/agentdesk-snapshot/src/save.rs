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
    let failed: Mutex<Option<SnapshotError>> = Mutex::new(None);
    let stop = AtomicBool::new(false);
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get().min(4));
    let (tx, rx) = std::sync::mpsc::sync_channel::<([u8; 32], Vec<u8>)>(workers * 2);
    let rx = Mutex::new(rx);
    let read = std::thread::scope(|scope| {
        let rx = &rx;
        let (stop, added, failed) = (&stop, &added, &failed);
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
    let mut skipped = skipped;
    if let Some(e) = failed.into_inner().unwrap_or_else(|p| p.into_inner()) {
        return Err(e);
    }
    let vanished = read?;
    if !vanished.is_empty() {
        // Gone between the walk and the read (an app, an upload): not in the snapshot.
        skipped += vanished.len() as u64;
        let mut index = 0;
        entries.retain(|_| {
            index += 1;
            !vanished.contains(&(index - 1))
        });
    }
    let manifest = Manifest {
        format: crate::manifest::FORMAT,
        entries,
    };
    let json =
        serde_json::to_vec(&manifest).map_err(|e| SnapshotError::BadManifest(e.to_string()))?;
    let frame = zstd::bulk::compress(&json, 3).map_err(SnapshotError::store(manifest_path))?;
    write_new(chunks.tmp(), manifest_path, &frame)?;
    crate::sync_fs(manifest_path.parent().unwrap_or(manifest_path))?;
    Ok(Saved {
        manifest: *blake3::hash(&json).as_bytes(),
        totals: manifest.totals(),
        skipped,
        added: added.into_inner() + frame.len() as u64,
    })
}

/// Every directory, file and link under `root`, directories breadth first, names sorted;
/// files with no chunks yet. Also the count of other entries (sockets, FIFOs, devices).
fn walk(root: &OwnedFd, watch: Watch<'_>) -> Result<(Vec<Entry>, u64), SnapshotError> {
    let mut entries = Vec::new();
    let mut skipped = 0;
    let mut queue = VecDeque::from([Vec::<u8>::new()]);
    while let Some(dir_path) = queue.pop_front() {
        watch.check()?;
        let dir = open_beneath(
            root,
            &dir_path,
            OFlags::RDONLY | OFlags::DIRECTORY,
            Mode::empty(),
        )
        .map_err(SnapshotError::home(&dir_path))?;
        let mut names = Vec::new();
        let mut reader = rustix::fs::Dir::read_from(&dir)
            .map_err(|e| SnapshotError::home(&dir_path)(e.into()))?;
        while let Some(dirent) = reader.read() {
            let dirent = dirent.map_err(|e| SnapshotError::home(&dir_path)(e.into()))?;
            let name = dirent.file_name().to_bytes();
            if name != b"." && name != b".." {
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
                mode: if matches!(kind, Kind::Symlink { .. }) {
                    0
                } else {
                    stat.st_mode & 0o7777
                },
                mtime: (stat.st_mtime, stat.st_mtime_nsec as u32),
                kind,
            });
            if entries.len() > MAX_ENTRIES {
                return Err(SnapshotError::Home {
                    path: ".".into(),
                    source: std::io::Error::other(format!(
                        "the home holds more than {MAX_ENTRIES} files, directories and links, \
                         more than a snapshot takes; delete what is not needed"
                    )),
                });
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
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
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
