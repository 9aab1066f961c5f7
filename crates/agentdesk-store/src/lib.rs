//! The fleet's records on disk: one [`DesktopRecord`] per desktop and one [`SnapshotRecord`]
//! per snapshot, in a redb database (`<data-dir>/fleet.redb`).
//!
//! Why redb: it is pure Rust (no C toolchain, a fast build), one file, and every write is a
//! transaction that is either wholly on disk or not at all (copy-on-write pages, a checksummed
//! commit slot, fsync before `commit` returns), so a server killed at any moment finds the
//! desktops it had, never half a record. It also locks the file, so two servers cannot share
//! a data directory by mistake. SQLite would do as well but brings C code and a slower build,
//! for queries we do not need: the fleet is a few hundred records read whole at start.
//!
//! Records are stored as JSON, keyed by desktop id: fields added later get defaults when an
//! older file is read, and an operator can read a record with any redb tool.

use std::path::{Path, PathBuf};

use redb::{ReadableDatabase as _, ReadableTable as _, TableDefinition};
use serde::{Deserialize, Serialize};

/// Desktop id → JSON of its [`DesktopRecord`].
const DESKTOPS: TableDefinition<'static, &str, &[u8]> = TableDefinition::new("desktops");

/// Snapshot id → JSON of its [`SnapshotRecord`].
const SNAPSHOTS: TableDefinition<'static, &str, &[u8]> = TableDefinition::new("snapshots");

/// What is remembered of a snapshot of a desktop's home (its files are in the snapshot store,
/// `agentdesk-snapshot`). Written once the snapshot is whole on disk: a record means a snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotRecord {
    /// `[a-z0-9-]{1,40}`.
    pub id: String,
    /// The token name that made it.
    pub owner: String,
    /// The desktop it was taken of (which may since have been destroyed).
    pub desktop: String,
    /// The caller's name for it, if any.
    #[serde(default)]
    pub label: Option<String>,
    /// Unix seconds.
    pub created: u64,
    /// BLAKE3 of its manifest, in hex: a manifest that changed on disk is found out.
    pub manifest: String,
    /// Regular files in it.
    pub files: u64,
    /// The files' bytes.
    pub bytes: u64,
    /// What it added to the store when made (new chunks, compressed).
    pub added: u64,
    /// Entries of the home left out (sockets, FIFOs, unreadable, too deep, gone meanwhile).
    #[serde(default)]
    pub skipped: u64,
}

/// What is remembered of a desktop across restarts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DesktopRecord {
    /// `[a-z0-9-]{1,40}`.
    pub id: String,
    /// The token name that created it; `None` for a shared desktop (created at start, by an
    /// admin token, or on an open listener).
    pub owner: Option<String>,
    /// Screen width in pixels.
    pub width: u32,
    /// Screen height in pixels.
    pub height: u32,
    /// Whether its apps may use the network.
    pub network: bool,
    /// The apps it offers (an allow list within the operator's policy); empty means all.
    #[serde(default)]
    pub apps: Vec<String>,
    /// Unix seconds.
    pub created: u64,
    /// Unix seconds of the last call or view (written now and then, not on every call).
    pub last_used: u64,
    /// Who holds it and until when, if leased.
    #[serde(default)]
    pub lease: Option<Lease>,
}

/// A lease on a desktop.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    /// The token name holding it.
    pub holder: String,
    /// Unix seconds at which it lapses unless renewed.
    pub expires: u64,
    /// How long each heartbeat extends it by, in seconds.
    pub seconds: u64,
}

/// Why the store failed. Every message names the file.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The file could not be opened or created.
    #[error("error opening the desktop store {path}: {source}{hint}")]
    Open {
        /// The database file.
        path: PathBuf,
        /// What redb said.
        source: redb::DatabaseError,
        /// What to do about it, if we know.
        hint: &'static str,
    },
    /// A read or write failed.
    #[error("error using the desktop store {path}: {message}")]
    Io {
        /// The database file.
        path: PathBuf,
        /// What failed.
        message: String,
    },
}

/// The open store. Writes are serialized by redb; each method is one transaction.
#[derive(Debug)]
pub struct Store {
    db: redb::Database,
    path: PathBuf,
}

impl Store {
    /// Opens the store at `path`, creating it if missing.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        let db = redb::Database::create(path).map_err(|source| StoreError::Open {
            path: path.to_path_buf(),
            hint: if matches!(source, redb::DatabaseError::DatabaseAlreadyOpen) {
                " (another agentdesk is using this data directory; --data-dir chooses another)"
            } else {
                ""
            },
            source,
        })?;
        let store = Store {
            db,
            path: path.to_path_buf(),
        };
        // Make the table exist, so that reading an empty store is not an error.
        store.write(|_| Ok(()))?;
        Ok(store)
    }

    fn fail(&self, e: impl std::fmt::Display) -> StoreError {
        StoreError::Io {
            path: self.path.clone(),
            message: e.to_string(),
        }
    }

    fn write(
        &self,
        f: impl FnOnce(&mut redb::Table<'_, &str, &[u8]>) -> Result<(), redb::StorageError>,
    ) -> Result<(), StoreError> {
        self.write_in(DESKTOPS, f)
    }

    fn write_in(
        &self,
        table: TableDefinition<'static, &str, &[u8]>,
        f: impl FnOnce(&mut redb::Table<'_, &str, &[u8]>) -> Result<(), redb::StorageError>,
    ) -> Result<(), StoreError> {
        let txn = self.db.begin_write().map_err(|e| self.fail(e))?;
        {
            let mut table = txn.open_table(table).map_err(|e| self.fail(e))?;
            f(&mut table).map_err(|e| self.fail(e))?;
        }
        txn.commit().map_err(|e| self.fail(e))
    }

    /// Every snapshot record, in id order; unreadable ones skipped with their ids in the
    /// second list, never deleted (as [`Store::all`]).
    pub fn snapshots(&self) -> Result<(Vec<SnapshotRecord>, Vec<String>), StoreError> {
        let txn = self.db.begin_read().map_err(|e| self.fail(e))?;
        let table = match txn.open_table(SNAPSHOTS) {
            Ok(table) => table,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok((vec![], vec![])),
            Err(e) => return Err(self.fail(e)),
        };
        let mut records = Vec::new();
        let mut unreadable = Vec::new();
        for row in table.iter().map_err(|e| self.fail(e))? {
            let (key, value) = row.map_err(|e| self.fail(e))?;
            match serde_json::from_slice::<SnapshotRecord>(value.value()) {
                Ok(record) if record.id == key.value() => records.push(record),
                _ => unreadable.push(key.value().to_string()),
            }
        }
        Ok((records, unreadable))
    }

    /// Adds or replaces a snapshot record.
    pub fn put_snapshot(&self, record: &SnapshotRecord) -> Result<(), StoreError> {
        let json = serde_json::to_vec(record).map_err(|e| self.fail(e))?;
        self.write_in(SNAPSHOTS, |table| {
            table.insert(record.id.as_str(), json.as_slice()).map(drop)
        })
    }

    /// Removes snapshot records, in one transaction.
    pub fn remove_snapshots(&self, ids: &[String]) -> Result<(), StoreError> {
        self.write_in(SNAPSHOTS, |table| {
            for id in ids {
                table.remove(id.as_str())?;
            }
            Ok(())
        })
    }

    /// Every record, in id order. A record that cannot be read (written by a newer agentdesk
    /// in a shape this one does not know) is skipped with its id in the second list, never
    /// deleted.
    pub fn all(&self) -> Result<(Vec<DesktopRecord>, Vec<String>), StoreError> {
        let txn = self.db.begin_read().map_err(|e| self.fail(e))?;
        let table = txn.open_table(DESKTOPS).map_err(|e| self.fail(e))?;
        let mut records = Vec::new();
        let mut unreadable = Vec::new();
        for row in table.iter().map_err(|e| self.fail(e))? {
            let (key, value) = row.map_err(|e| self.fail(e))?;
            match serde_json::from_slice::<DesktopRecord>(value.value()) {
                Ok(record) if record.id == key.value() => records.push(record),
                _ => unreadable.push(key.value().to_string()),
            }
        }
        Ok((records, unreadable))
    }

    /// Adds or replaces `record`.
    pub fn put(&self, record: &DesktopRecord) -> Result<(), StoreError> {
        let json = serde_json::to_vec(record).map_err(|e| self.fail(e))?;
        self.write(|table| table.insert(record.id.as_str(), json.as_slice()).map(drop))
    }

    /// Adds or replaces several records in one transaction.
    pub fn put_all(&self, records: &[DesktopRecord]) -> Result<(), StoreError> {
        let rows: Vec<(String, Vec<u8>)> = records
            .iter()
            .map(|r| serde_json::to_vec(r).map(|json| (r.id.clone(), json)))
            .collect::<Result<_, _>>()
            .map_err(|e| self.fail(e))?;
        self.write(|table| {
            for (id, json) in &rows {
                table.insert(id.as_str(), json.as_slice())?;
            }
            Ok(())
        })
    }

    /// Removes the record of `id`; whether there was one.
    pub fn remove(&self, id: &str) -> Result<bool, StoreError> {
        let mut removed = false;
        self.write(|table| {
            removed = table.remove(id)?.is_some();
            Ok(())
        })?;
        Ok(removed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: &str) -> DesktopRecord {
        DesktopRecord {
            id: id.into(),
            owner: Some("alice".into()),
            width: 1280,
            height: 800,
            network: true,
            apps: vec![],
            created: 1,
            last_used: 2,
            lease: None,
        }
    }

    #[test]
    fn records_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("fleet.redb");
        {
            let store = Store::open(&path).unwrap();
            assert_eq!(store.all().unwrap().0, vec![]);
            store.put(&record("b")).unwrap();
            let mut a = record("a");
            a.lease = Some(Lease {
                holder: "bob".into(),
                expires: 99,
                seconds: 60,
            });
            store.put_all(&[a, record("c")]).unwrap();
            assert!(store.remove("c").unwrap());
            assert!(!store.remove("c").unwrap());
        }
        let store = Store::open(&path).unwrap();
        let (records, unreadable) = store.all().unwrap();
        assert_eq!(
            records.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
            ["a", "b"]
        );
        assert_eq!(records[0].lease.as_ref().unwrap().holder, "bob");
        assert!(unreadable.is_empty());
    }

    #[test]
    fn snapshot_records_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("fleet.redb");
        let snapshot = |id: &str| SnapshotRecord {
            id: id.into(),
            owner: "alice".into(),
            desktop: "d".into(),
            label: Some("logged in".into()),
            created: 5,
            manifest: "ab".repeat(32),
            files: 3,
            bytes: 100,
            added: 40,
            skipped: 0,
        };
        {
            let store = Store::open(&path).unwrap();
            assert_eq!(store.snapshots().unwrap().0, vec![]);
            store.put_snapshot(&snapshot("s1")).unwrap();
            store.put_snapshot(&snapshot("s2")).unwrap();
            store.put_snapshot(&snapshot("s3")).unwrap();
            store
                .remove_snapshots(&["s2".into(), "gone".into()])
                .unwrap();
        }
        let store = Store::open(&path).unwrap();
        let (records, unreadable) = store.snapshots().unwrap();
        assert_eq!(records, vec![snapshot("s1"), snapshot("s3")]);
        assert!(unreadable.is_empty());
        assert_eq!(
            store.all().unwrap().0,
            vec![],
            "desktops are a table of their own"
        );
    }

    #[test]
    fn a_second_opener_is_told_what_to_do() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("fleet.redb");
        let _first = Store::open(&path).unwrap();
        let err = Store::open(&path).unwrap_err().to_string();
        assert!(err.contains("another agentdesk"), "{err}");
    }

    #[test]
    fn unreadable_records_are_reported_not_lost() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("fleet.redb");
        let store = Store::open(&path).unwrap();
        store
            .write(|t| t.insert("future", b"{\"id\":3}".as_slice()).map(drop))
            .unwrap();
        store.put(&record("a")).unwrap();
        let (records, unreadable) = store.all().unwrap();
        assert_eq!(records.len(), 1);
        assert_eq!(unreadable, ["future"]);
    }
}
