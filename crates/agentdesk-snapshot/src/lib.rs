//! Snapshots of a desktop's home: saved, checked, restored and deleted, deduplicated across
//! every snapshot of the server.
//!
//! # Layout (`<data-dir>/snapshots/`)
//!
//! - `chunks/ab/ab12…` — one file per distinct chunk of one owner, named by the BLAKE3 hash of
//!   its bytes keyed for that owner ([`Keyspace`]), holding them as one zstd frame
//!   (`chunks.rs`).
//! - `manifests/<snapshot id>.json.zst` — the snapshot's [`Manifest`]: every directory, file
//!   and symbolic link with its mode and time, each file as a list of chunks. Its BLAKE3 (of
//!   the JSON) is kept by whoever records the snapshot (the server keeps it in its store), so
//!   a manifest that changed on disk is found out.
//! - `tmp/` — files being written, renamed into place when whole; emptied at open.
//!
//! Files are cut into chunks at content-defined boundaries (FastCDC, 64 KiB to 1 MiB, 256 KiB
//! on average), so a file that changed in one place, or moved, shares every other chunk with
//! the last snapshot; a snapshot adds only chunks the store has not seen.
//!
//! # Why this format and these crates
//!
//! The parts are well-kept crates: `blake3` (the reference implementation), `zstd` (bindings
//! to the reference library), `fastcdc` (the published algorithm). What joins them is a chunk
//! file per hash and a JSON list, simple enough to read with `zstd -d` and `jq`. A complete
//! backup format (restic's, through `rustic_core`) would bring encryption, packing and an
//! index we do not need for a home on the same disk, and a much larger dependency tree.
//!
//! # Guarantees
//!
//! - A save writes chunks and the manifest, then syncs the file system; what refers to a
//!   snapshot is recorded after that, so a recorded snapshot is whole on disk. Files left by
//!   a save that never finished are removed by [`Repo::collect`].
//! - A restore writes into a new directory that must not exist, checks every chunk's hash as
//!   it goes, and syncs; on any error (a damaged chunk names its file) the directory is
//!   removed. Putting it in place is the caller's single rename.
//! - Nothing is ever followed out of the home: symbolic links are saved as links, and the
//!   walk opens each directory and file beneath the home without following links.
//! - Kept: regular files (contents, permission bits but setuid, setgid and sticky, times;
//!   runs of zeros come back as holes), directories (permissions, times), symbolic links
//!   (targets). Not kept: owners (everything restored belongs to the server's user), hard
//!   links (saved as separate files, stored once by dedup), sockets, FIFOs and devices, paths
//!   longer than 4000 bytes, an upload's unfinished file, files gone between the walk and
//!   their read (all counted as skipped). A home of more than 250 000 entries is refused.
//! - A check ([`Repo::verify`]) removes each damaged chunk it finds, so that the next save of
//!   those bytes stores them again instead of counting on the broken copy.

mod beneath;
mod chunks;
mod error;
mod manifest;
mod restore;
mod save;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

pub use beneath::open_beneath;
pub use error::SnapshotError;
pub use manifest::{check_relative, hex, parse_hex, ChunkRef, Entry, Kind, Manifest, Name, Totals};

use chunks::Chunks;

/// Whose chunks: each owner's chunks are named by a BLAKE3 hash keyed for that owner, so the
/// same bytes saved by two owners are two chunks. Deduplication then never crosses owners,
/// and a save's "bytes added" cannot tell one owner whether another holds some content.
/// The key needs no secrecy: a caller never chooses whose keyspace its save uses.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Keyspace([u8; 32]);

impl Keyspace {
    /// The keyspace of `owner` (a token's name).
    pub fn of(owner: &str) -> Keyspace {
        Keyspace(blake3::derive_key(
            "agentdesk 2026-12 snapshot chunks of one owner",
            owner.as_bytes(),
        ))
    }

    /// The name of `data` in this keyspace.
    pub(crate) fn hash(&self, data: &[u8]) -> [u8; 32] {
        *blake3::keyed_hash(&self.0, data).as_bytes()
    }
}

impl std::fmt::Debug for Keyspace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Keyspace(..)")
    }
}

/// How far a long operation is, in bytes of file contents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Bytes done.
    pub done: u64,
    /// Bytes in all.
    pub total: u64,
}

/// What a long operation is told and checks as it goes: a progress callback (called often;
/// throttle in it) and a cancel flag (checked between chunks).
#[derive(Clone, Copy)]
pub struct Watch<'a> {
    /// Called with the bytes done so far.
    pub progress: &'a (dyn Fn(Progress) + Sync),
    /// Set to stop: the operation ends with [`SnapshotError::Cancelled`] and cleans up.
    pub cancel: &'a AtomicBool,
}

impl std::fmt::Debug for Watch<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watch").finish_non_exhaustive()
    }
}

impl Watch<'_> {
    fn check(&self) -> Result<(), SnapshotError> {
        if self.cancel.load(Ordering::Relaxed) {
            return Err(SnapshotError::Cancelled);
        }
        Ok(())
    }
}

/// What a save made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Saved {
    /// BLAKE3 of the manifest's JSON: record it with the snapshot, and pass it to restore.
    pub manifest: [u8; 32],
    /// What the snapshot holds.
    pub totals: Totals,
    /// Entries that are neither files, directories nor links (sockets, FIFOs, devices).
    pub skipped: u64,
    /// Bytes this save added to the store (new chunks, compressed, and the manifest).
    pub added: u64,
}

/// What a check found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// What the snapshot holds.
    pub totals: Totals,
    /// Files whose contents are damaged or missing (at most 100 named).
    pub damaged: Vec<String>,
}

/// What a collection removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Collected {
    /// Manifests of snapshots nobody records.
    pub manifests: u64,
    /// Chunks no manifest refers to.
    pub chunks: u64,
    /// Bytes freed.
    pub bytes: u64,
}

/// The snapshot store of one server.
#[derive(Debug)]
pub struct Repo {
    root: PathBuf,
    chunks: Chunks,
}

impl Repo {
    /// Opens (creating, mode 0700) the store at `root`, and empties its `tmp/`.
    pub fn open(root: &Path) -> Result<Repo, SnapshotError> {
        for dir in [
            root.to_path_buf(),
            root.join("chunks"),
            root.join("manifests"),
        ] {
            private_dir(&dir)?;
        }
        let tmp = root.join("tmp");
        match std::fs::remove_dir_all(&tmp) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(SnapshotError::store(&tmp)(e))
            }
            _ => {}
        }
        private_dir(&tmp)?;
        Ok(Repo {
            root: root.to_path_buf(),
            chunks: Chunks::new(root.join("chunks"), tmp),
        })
    }

    /// Where the store is.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn manifest_path(&self, id: &str) -> Result<PathBuf, SnapshotError> {
        let ok = !id.is_empty()
            && id.len() <= 64
            && id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !ok {
            return Err(SnapshotError::BadManifest(format!(
                "bad snapshot id {id:?}"
            )));
        }
        Ok(self.root.join("manifests").join(format!("{id}.json.zst")))
    }

    /// Saves the home at `home` as snapshot `id` (`[a-z0-9-]{1,64}`, new). The home should
    /// not change meanwhile (the caller freezes its desktop).
    pub fn save(
        &self,
        home: &Path,
        id: &str,
        keys: Keyspace,
        watch: Watch<'_>,
    ) -> Result<Saved, SnapshotError> {
        let path = self.manifest_path(id)?;
        save::save(&self.chunks, home, &path, keys, watch)
    }

    /// Reads and checks snapshot `id`'s manifest against the hash recorded for it.
    pub fn manifest(&self, id: &str, hash: &[u8; 32]) -> Result<Manifest, SnapshotError> {
        restore::read_manifest(&self.manifest_path(id)?, hash)
    }

    /// Restores snapshot `id` into `into`, a directory that must not exist yet (its parent
    /// must). On error `into` is removed.
    pub fn restore(
        &self,
        id: &str,
        hash: &[u8; 32],
        keys: Keyspace,
        into: &Path,
        watch: Watch<'_>,
    ) -> Result<Totals, SnapshotError> {
        let manifest = self.manifest(id, hash)?;
        restore::restore(&self.chunks, &manifest, keys, into, watch)
    }

    /// Reads every chunk of snapshot `id` and checks it against its hash.
    pub fn verify(
        &self,
        id: &str,
        hash: &[u8; 32],
        keys: Keyspace,
        watch: Watch<'_>,
    ) -> Result<Verified, SnapshotError> {
        let manifest = self.manifest(id, hash)?;
        restore::verify(&self.chunks, &manifest, keys, watch)
    }

    /// Removes snapshot `id`'s manifest; its chunks go at the next [`Repo::collect`].
    pub fn remove(&self, id: &str) -> Result<(), SnapshotError> {
        let path = self.manifest_path(id)?;
        match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(SnapshotError::store(path)(e))
            }
            _ => Ok(()),
        }
    }

    /// Removes every manifest but those of `keep` (snapshot id and manifest hash: the ones
    /// recorded), and every chunk none of them refers to. No save may run meanwhile (its new
    /// chunks are referred to by nothing yet). A kept manifest that cannot be read for now (an
    /// I/O error) keeps every chunk: no chunk is removed on a guess; one that is damaged or
    /// invalid keeps none (its snapshot can never be restored anyway).
    pub fn collect(&self, keep: &[(String, [u8; 32])]) -> Result<Collected, SnapshotError> {
        let mut collected = Collected::default();
        let mut live = std::collections::HashSet::new();
        // A kept manifest that cannot be read keeps every chunk (it may need any of them);
        // the manifests of snapshots nobody records still go.
        let mut every_chunk_kept = false;
        for (id, hash) in keep {
            match self.manifest(id, hash) {
                Ok(manifest) => {
                    for entry in &manifest.entries {
                        if let Kind::File { chunks, .. } = &entry.kind {
                            live.extend(chunks.iter().map(|c| c.hash));
                        }
                    }
                }
                // Damaged or invalid: it can never be restored, and must not keep every
                // other snapshot's garbage for ever. Unreadable for now (an I/O error): keep.
                Err(SnapshotError::Damaged(_) | SnapshotError::BadManifest(_)) => {}
                Err(_) => every_chunk_kept = true,
            }
        }
        let dir = self.root.join("manifests");
        let kept: std::collections::HashSet<String> = keep
            .iter()
            .map(|(id, _)| format!("{id}.json.zst"))
            .collect();
        for file in std::fs::read_dir(&dir)
            .map_err(SnapshotError::store(&dir))?
            .flatten()
        {
            let name = file.file_name();
            if !kept.contains(&*name.to_string_lossy()) {
                let size = file.metadata().map_or(0, |m| m.len());
                if std::fs::remove_file(file.path()).is_ok() {
                    collected.manifests += 1;
                    collected.bytes += size;
                }
            }
        }
        if every_chunk_kept {
            return Ok(collected);
        }
        for (hash, size) in self.chunks.all()? {
            if !live.contains(&hash) && self.chunks.remove(&hash).is_ok() {
                collected.chunks += 1;
                collected.bytes += size;
            }
        }
        Ok(collected)
    }

    /// The bytes the store's files take.
    pub fn stored_bytes(&self) -> u64 {
        let chunks: u64 = self
            .chunks
            .all()
            .map_or(0, |all| all.iter().map(|(_, s)| s).sum());
        let manifests = std::fs::read_dir(self.root.join("manifests"))
            .map(|d| {
                d.flatten()
                    .filter_map(|f| f.metadata().ok())
                    .map(|m| m.len())
                    .sum()
            })
            .unwrap_or(0);
        chunks + manifests
    }
}

/// Creates `dir` with mode 0700 if missing (an existing one is left as it is).
fn private_dir(dir: &Path) -> Result<(), SnapshotError> {
    use std::os::unix::fs::DirBuilderExt as _;
    match std::fs::DirBuilder::new().mode(0o700).create(dir) {
        Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => {
            Err(SnapshotError::store(dir)(e))
        }
        _ => Ok(()),
    }
}

/// Syncs the file system holding `dir`: one call makes everything written before it durable.
fn sync_fs(dir: &Path) -> Result<(), SnapshotError> {
    let fd = rustix::fs::open(
        dir,
        rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::DIRECTORY | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )
    .map_err(|e| SnapshotError::store(dir)(e.into()))?;
    rustix::fs::syncfs(&fd).map_err(|e| SnapshotError::store(dir)(e.into()))
}
