//! [`SnapshotError`]: why saving, restoring or checking a snapshot failed.

use std::path::PathBuf;

/// Why a snapshot operation failed. Messages name the file (in the home, or in the store)
/// and, where there is one, what to do.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// A file or directory of the home could not be read (or, restoring, written).
    #[error("error with {path} in the home: {source}")]
    Home {
        /// Its path relative to the home.
        path: String,
        /// What the system said.
        source: std::io::Error,
    },
    /// The snapshot store's own files could not be read or written. (The message leaves the
    /// path out: it reaches agents, who have no business with the server's directories.)
    #[error("error with the snapshot store: {source}")]
    Store {
        /// The file or directory in the store.
        path: PathBuf,
        /// What the system said.
        source: std::io::Error,
    },
    /// A manifest that does not parse or fails its checks.
    #[error("the snapshot's manifest is not valid: {0}")]
    BadManifest(String),
    /// Stored data that does not match what was saved: named by the files it belongs to.
    #[error("the snapshot is damaged: {0}; restore another snapshot, and delete this one")]
    Damaged(String),
    /// The caller gave up (a timeout, a server stopping); whatever was half made is removed.
    #[error("cancelled before it finished; nothing was changed")]
    Cancelled,
}

impl SnapshotError {
    pub(crate) fn store(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> SnapshotError {
        let path = path.into();
        move |source| SnapshotError::Store { path, source }
    }

    pub(crate) fn home(path: &[u8]) -> impl FnOnce(std::io::Error) -> SnapshotError + '_ {
        move |source| SnapshotError::Home {
            path: if path.is_empty() {
                ".".into()
            } else {
                String::from_utf8_lossy(path).into_owned()
            },
            source,
        }
    }
}
