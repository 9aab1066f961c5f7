//! What a snapshot holds: every directory, file and symbolic link of the home, in walk order
//! (a directory before what is in it), with its mode, modification time, and for a file its
//! chunks. Pure: parsing and checking, no I/O.
//!
//! Names are bytes on Linux; one that is not UTF-8 is kept as base64 rather than lost.

use base64::Engine as _;
use serde::{Deserialize, Serialize};

use crate::SnapshotError;

/// The manifest format this agentdesk writes and reads.
pub(crate) const FORMAT: u32 = 1;

/// The largest manifest, as JSON: a save that would write more is refused, so that every
/// saved manifest can be read back (names full of bytes JSON escapes grow six times).
pub(crate) const MAX_MANIFEST_BYTES: usize = 256 * 1024 * 1024;

/// A snapshot's list of entries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// [`FORMAT`].
    pub format: u32,
    /// Directories, files and links, each directory before its contents.
    pub entries: Vec<Entry>,
}

/// One directory, file or symbolic link.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// Its path relative to the home, `/`-separated.
    pub path: Name,
    /// Permission bits (`0o7777` at most; links have none).
    #[serde(default)]
    pub mode: u32,
    /// Modification time: seconds and nanoseconds since the epoch.
    #[serde(default)]
    pub mtime: (i64, u32),
    /// What it is.
    #[serde(flatten)]
    pub kind: Kind,
}

/// What an entry is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Kind {
    /// A directory.
    Dir,
    /// A regular file: its length and its chunks, in order.
    File {
        /// Its length in bytes (the sum of its chunks').
        size: u64,
        /// Its contents.
        chunks: Vec<ChunkRef>,
    },
    /// A symbolic link, kept as a link (never followed).
    Symlink {
        /// What it points to.
        target: Name,
    },
    /// Another name of a regular file listed before it (a hard link): restored as a link, so
    /// a file with many names takes its space once.
    Hardlink {
        /// The path of the file listed before.
        target: Name,
    },
}

/// One chunk of a file: its BLAKE3 hash (of the uncompressed bytes) and length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ChunkRef {
    /// BLAKE3 of its bytes.
    #[serde(with = "hex32")]
    pub hash: [u8; 32],
    /// Its length in bytes.
    pub len: u32,
}

/// A name as bytes: a string when it is UTF-8 (nearly always), base64 otherwise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Name(pub Vec<u8>);

#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum NameRepr {
    Text(String),
    Bytes { b64: String },
}

impl Serialize for Name {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match std::str::from_utf8(&self.0) {
            Ok(text) => NameRepr::Text(text.to_owned()),
            Err(_) => NameRepr::Bytes {
                b64: base64::engine::general_purpose::STANDARD.encode(&self.0),
            },
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for Name {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Name(match NameRepr::deserialize(d)? {
            NameRepr::Text(text) => text.into_bytes(),
            NameRepr::Bytes { b64 } => base64::engine::general_purpose::STANDARD
                .decode(b64)
                .map_err(serde::de::Error::custom)?,
        }))
    }
}

impl std::fmt::Display for Name {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&String::from_utf8_lossy(&self.0))
    }
}

impl Manifest {
    /// Parses and checks a manifest: every path relative, without `.` or `..` or empty parts,
    /// each under a directory listed before it, none twice; every file's size the sum of its
    /// chunks'. A manifest that fails is refused whole, so a restore never writes outside its
    /// target or half a tree from a bad list.
    pub fn parse(json: &[u8]) -> Result<Manifest, SnapshotError> {
        let manifest: Manifest =
            serde_json::from_slice(json).map_err(|e| SnapshotError::BadManifest(e.to_string()))?;
        if manifest.format != FORMAT {
            return Err(SnapshotError::BadManifest(format!(
                "format {} (this agentdesk reads format {FORMAT}; was it written by a newer one?)",
                manifest.format
            )));
        }
        let mut dirs = std::collections::HashSet::new();
        let mut files = std::collections::HashSet::new();
        let mut seen = std::collections::HashSet::new();
        for entry in &manifest.entries {
            let path = &entry.path.0;
            check_relative(path)
                .map_err(|why| SnapshotError::BadManifest(format!("{}: {why}", entry.path)))?;
            if let Some(slash) = path.iter().rposition(|&b| b == b'/') {
                if !dirs.contains(&path[..slash]) {
                    return Err(SnapshotError::BadManifest(format!(
                        "{}: its directory is not listed before it",
                        entry.path
                    )));
                }
            }
            if !seen.insert(path.as_slice()) {
                return Err(SnapshotError::BadManifest(format!(
                    "{}: listed twice",
                    entry.path
                )));
            }
            match &entry.kind {
                Kind::Dir => {
                    dirs.insert(path.as_slice());
                }
                Kind::Hardlink { target } => {
                    if !files.contains(target.0.as_slice()) {
                        return Err(SnapshotError::BadManifest(format!(
                            "{}: a hard link to a file not listed before it",
                            entry.path
                        )));
                    }
                }
                Kind::File { size, chunks } => {
                    files.insert(path.as_slice());
                    let sum: u64 = chunks.iter().map(|c| u64::from(c.len)).sum();
                    if sum != *size {
                        return Err(SnapshotError::BadManifest(format!(
                            "{}: its chunks hold {sum} bytes, not {size}",
                            entry.path
                        )));
                    }
                }
                Kind::Symlink { target } => {
                    if target.0.is_empty() || target.0.contains(&0) {
                        return Err(SnapshotError::BadManifest(format!(
                            "{}: bad link target",
                            entry.path
                        )));
                    }
                }
            }
        }
        Ok(manifest)
    }

    /// Files, directories and links, and the bytes of the files.
    pub fn totals(&self) -> Totals {
        let mut totals = Totals::default();
        for entry in &self.entries {
            match &entry.kind {
                Kind::Dir => totals.dirs += 1,
                Kind::File { size, .. } => {
                    totals.files += 1;
                    totals.bytes += size;
                }
                Kind::Symlink { .. } | Kind::Hardlink { .. } => totals.links += 1,
            }
        }
        totals
    }
}

/// Counts over a manifest.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Totals {
    /// Regular files.
    pub files: u64,
    /// Directories (the home itself not counted).
    pub dirs: u64,
    /// Symbolic and hard links.
    pub links: u64,
    /// The files' bytes.
    pub bytes: u64,
}

/// Whether `path` is a plain relative path: `/`-separated parts that are neither empty, `.`
/// nor `..`, with no NUL.
pub fn check_relative(path: &[u8]) -> Result<(), &'static str> {
    if path.is_empty() {
        return Err("empty path");
    }
    if path.contains(&0) {
        return Err("a NUL byte in the path");
    }
    if path[0] == b'/' {
        return Err("an absolute path");
    }
    for part in path.split(|&b| b == b'/') {
        match part {
            b"" => return Err("an empty part (// or a trailing /)"),
            b"." | b".." => return Err("a . or .. part"),
            _ => {}
        }
    }
    Ok(())
}

/// Lower-case hex of a hash (chunk file names, manifest hashes).
pub fn hex(hash: &[u8; 32]) -> String {
    blake3::Hash::from_bytes(*hash).to_hex().to_string()
}

/// The hash `text` spells in lower-case hex, if it does.
pub fn parse_hex(text: &str) -> Option<[u8; 32]> {
    if text.len() != 64 || !text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return None;
    }
    let mut hash = [0; 32];
    for (i, byte) in hash.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(hash)
}

mod hex32 {
    pub(super) fn serialize<S: serde::Serializer>(
        hash: &[u8; 32],
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::hex(hash))
    }

    pub(super) fn deserialize<'de, D: serde::Deserializer<'de>>(
        d: D,
    ) -> Result<[u8; 32], D::Error> {
        let text = <std::borrow::Cow<'de, str> as serde::Deserialize>::deserialize(d)?;
        super::parse_hex(&text).ok_or_else(|| serde::de::Error::custom("not a BLAKE3 hash in hex"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(path: &str, kind: Kind) -> Entry {
        Entry {
            path: Name(path.into()),
            mode: 0o644,
            mtime: (1, 2),
            kind,
        }
    }

    fn json(entries: Vec<Entry>) -> Vec<u8> {
        serde_json::to_vec(&Manifest {
            format: FORMAT,
            entries,
        })
        .unwrap()
    }

    #[test]
    fn a_manifest_reads_back_whole_with_names_that_are_not_utf8() {
        let manifest = Manifest {
            format: FORMAT,
            entries: vec![
                entry("d", Kind::Dir),
                Entry {
                    path: Name(b"d/\xff\xfe".to_vec()),
                    ..entry(
                        "",
                        Kind::File {
                            size: 3,
                            chunks: vec![ChunkRef {
                                hash: [7; 32],
                                len: 3,
                            }],
                        },
                    )
                },
                entry(
                    "l",
                    Kind::Symlink {
                        target: Name(b"../\x80".to_vec()),
                    },
                ),
            ],
        };
        let json = serde_json::to_vec(&manifest).unwrap();
        assert_eq!(Manifest::parse(&json).unwrap(), manifest);
        let totals = manifest.totals();
        assert_eq!(
            (totals.files, totals.dirs, totals.links, totals.bytes),
            (1, 1, 1, 3)
        );
    }

    #[test]
    fn paths_that_could_leave_the_target_are_refused() {
        for bad in [
            "/etc/passwd",
            "../x",
            "a/../../x",
            "a//b",
            "a/",
            ".",
            "",
            "a/./b",
        ] {
            let err = Manifest::parse(&json(vec![entry(bad, Kind::Dir)])).unwrap_err();
            assert!(matches!(err, SnapshotError::BadManifest(_)), "{bad}: {err}");
        }
        // A file under a directory not listed first, a path twice, sizes that do not add up.
        for entries in [
            vec![entry("a/b", Kind::Dir)],
            vec![entry("a", Kind::Dir), entry("a", Kind::Dir)],
            vec![entry(
                "f",
                Kind::File {
                    size: 9,
                    chunks: vec![],
                },
            )],
        ] {
            assert!(Manifest::parse(&json(entries)).is_err());
        }
        let future = br#"{"format":2,"entries":[]}"#;
        assert!(Manifest::parse(future)
            .unwrap_err()
            .to_string()
            .contains("newer"));
    }

    #[test]
    fn hex_round_trips_and_refuses_what_is_not_a_hash() {
        let hash = *blake3::hash(b"x").as_bytes();
        assert_eq!(parse_hex(&hex(&hash)), Some(hash));
        assert_eq!(parse_hex("../../etc"), None);
        assert_eq!(parse_hex(&hex(&hash).to_uppercase()), None);
    }
}
