//! The chunk store: one file per distinct chunk, `chunks/<first two hex digits>/<BLAKE3 hex>`,
//! holding the chunk as one zstd frame. A chunk is written once, to a temporary name that is
//! then renamed into place, so a name in the store is always a whole file; the same bytes
//! saved again (another snapshot, another desktop, another file) are not written again.

use std::path::{Path, PathBuf};

use crate::{hex, ChunkRef, Keyspace, SnapshotError};

/// zstd's level for chunks: level 1 compresses a home's mix (a browser profile's databases,
/// text, already-compressed downloads) at several hundred MB/s on one core, and higher levels
/// cost more time than the space they save is worth here.
const LEVEL: i32 = 1;

/// Why a chunk could not be read back.
#[derive(Debug)]
pub(crate) enum Fault {
    /// No file for it.
    Missing,
    /// Its file does not decompress to bytes with its hash and length.
    Corrupt,
    /// Reading failed.
    Io(std::io::Error),
}

impl std::fmt::Display for Fault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Fault::Missing => f.write_str("is missing"),
            Fault::Corrupt => f.write_str("does not match its hash"),
            Fault::Io(e) => write!(f, "could not be read ({e})"),
        }
    }
}

#[derive(Debug)]
pub(crate) struct Chunks {
    dir: PathBuf,
    tmp: PathBuf,
}

impl Chunks {
    pub(crate) fn new(dir: PathBuf, tmp: PathBuf) -> Chunks {
        Chunks { dir, tmp }
    }

    /// Where files are written before they are renamed into place.
    pub(crate) fn tmp(&self) -> &Path {
        &self.tmp
    }

    pub(crate) fn path(&self, hash: &[u8; 32]) -> PathBuf {
        let name = hex(hash);
        self.dir.join(&name[..2]).join(name)
    }

    /// Stores `data` under `hash` unless it is there; the bytes written (0 when it was).
    pub(crate) fn put(&self, hash: &[u8; 32], data: &[u8]) -> Result<u64, SnapshotError> {
        let path = self.path(hash);
        if path.exists() {
            return Ok(0);
        }
        let frame = zstd::bulk::compress(data, LEVEL).map_err(SnapshotError::store(&path))?;
        let parent = path.parent().expect("under the chunk directory");
        match std::fs::create_dir(parent) {
            Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => {
                return Err(SnapshotError::store(parent)(e));
            }
            _ => {}
        }
        write_new(&self.tmp, &path, &frame)?;
        Ok(frame.len() as u64)
    }

    /// The bytes of `chunk`, checked against its hash (in `keys`) and length.
    pub(crate) fn get(&self, chunk: &ChunkRef, keys: Keyspace) -> Result<Vec<u8>, Fault> {
        let frame = match std::fs::read(self.path(&chunk.hash)) {
            Ok(frame) => frame,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(Fault::Missing),
            Err(e) => return Err(Fault::Io(e)),
        };
        // The length bounds what a damaged frame could make us allocate.
        let data =
            zstd::bulk::decompress(&frame, chunk.len as usize).map_err(|_| Fault::Corrupt)?;
        if data.len() != chunk.len as usize || keys.hash(&data) != chunk.hash {
            return Err(Fault::Corrupt);
        }
        Ok(data)
    }

    /// Every chunk file: its hash and size on disk. Files whose names are not hashes are
    /// skipped (never removed: they are not ours).
    pub(crate) fn all(&self) -> Result<Vec<([u8; 32], u64)>, SnapshotError> {
        let mut found = Vec::new();
        let fanout = match std::fs::read_dir(&self.dir) {
            Ok(dirs) => dirs,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(found),
            Err(e) => return Err(SnapshotError::store(&self.dir)(e)),
        };
        for dir in fanout {
            let dir = dir.map_err(SnapshotError::store(&self.dir))?.path();
            let Ok(files) = std::fs::read_dir(&dir) else {
                continue;
            };
            for file in files.flatten() {
                let Some(hash) = file.file_name().to_str().and_then(crate::parse_hex) else {
                    continue;
                };
                let size = file.metadata().map_or(0, |m| m.len());
                found.push((hash, size));
            }
        }
        Ok(found)
    }

    pub(crate) fn remove(&self, hash: &[u8; 32]) -> std::io::Result<()> {
        std::fs::remove_file(self.path(hash))
    }
}

/// Writes `bytes` to a new file at `path`, whole or not at all: to a temporary file in `tmp`
/// (same file system) first, renamed into place. Durability is the caller's: it syncs the
/// file system once before it records what refers to the file.
pub(crate) fn write_new(tmp: &Path, path: &Path, bytes: &[u8]) -> Result<(), SnapshotError> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let temp = tmp.join(format!("{:016x}", rand::random::<u64>()));
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&temp)
        .and_then(|mut f| f.write_all(bytes));
    if let Err(e) = written.and_then(|()| std::fs::rename(&temp, path)) {
        let _ = std::fs::remove_file(&temp);
        return Err(SnapshotError::store(path)(e));
    }
    Ok(())
}
