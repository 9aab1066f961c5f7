//! The snapshot store against real directories: byte-identical round trips, deduplication,
//! damage found and named, paths that would leave the home refused.

use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use agentdesk_snapshot::{open_beneath, Keyspace, Progress, Repo, SnapshotError, Watch};

fn alice() -> Keyspace {
    Keyspace::of("alice")
}

fn quiet() -> (impl Fn(Progress) + Sync, AtomicBool) {
    (|_: Progress| {}, AtomicBool::new(false))
}

macro_rules! watch {
    ($w:expr) => {
        Watch {
            progress: &$w.0,
            cancel: &$w.1,
        }
    };
}

/// Pseudo-random bytes that do not compress (a seeded xorshift).
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// A home with what a real one holds: nested directories, modes, an empty file, a large
/// file, text, relative and absolute links (even one to a file outside), a FIFO, a name that is
/// not UTF-8 and a read-only directory.
fn sample_home(root: &Path) -> PathBuf {
    let home = root.join("home");
    std::fs::create_dir_all(home.join(".mozilla/firefox/agentdesk")).unwrap();
    std::fs::write(
        home.join(".mozilla/firefox/agentdesk/cookies.sqlite"),
        noise(300_000, 1),
    )
    .unwrap();
    std::fs::write(home.join("notes.txt"), "hello\n".repeat(1000)).unwrap();
    std::fs::write(home.join("empty"), b"").unwrap();
    std::fs::write(home.join("big.bin"), noise(5_000_000, 2)).unwrap();
    let script = home.join("run.sh");
    std::fs::write(&script, "#!/bin/sh\n").unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o750)).unwrap();
    std::os::unix::fs::symlink("notes.txt", home.join("link-in")).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", home.join("link-out")).unwrap();
    std::fs::write(
        home.join(std::ffi::OsStr::from_bytes_compat(b"caf\xe9")),
        b"latin-1 name",
    )
    .unwrap();
    rustix::fs::mknodat(
        rustix::fs::CWD,
        home.join("fifo"),
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o600),
        0,
    )
    .unwrap();
    let ro = home.join("readonly");
    std::fs::create_dir(&ro).unwrap();
    std::fs::write(ro.join("inside"), b"x").unwrap();
    std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o500)).unwrap();
    home
}

trait FromBytesCompat {
    fn from_bytes_compat(bytes: &[u8]) -> &Self;
}

impl FromBytesCompat for std::ffi::OsStr {
    fn from_bytes_compat(bytes: &[u8]) -> &Self {
        std::os::unix::ffi::OsStrExt::from_bytes(bytes)
    }
}

/// Everything about a tree that a restore must reproduce, sorted by path.
fn describe(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let meta = std::fs::symlink_metadata(&path).unwrap();
            let rel = path
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            let what = if meta.file_type().is_symlink() {
                format!("link -> {}", std::fs::read_link(&path).unwrap().display())
            } else if meta.is_dir() {
                stack.push(path.clone());
                format!("dir {:o} {}", meta.mode() & 0o7777, meta.mtime())
            } else if meta.is_file() {
                let bytes = std::fs::read(&path).unwrap();
                format!(
                    "file {:o} {}.{} {} {}",
                    meta.mode() & 0o7777,
                    meta.mtime(),
                    meta.mtime_nsec(),
                    bytes.len(),
                    blake3::hash(&bytes)
                )
            } else {
                continue;
            };
            out.push(format!("{rel}: {what}"));
        }
    }
    out.sort();
    out
}

#[test]
fn a_restore_is_byte_for_byte_the_home_that_was_saved() {
    let tmp = tempfile::tempdir().unwrap();
    let home = sample_home(tmp.path());
    let repo = Repo::open(&tmp.path().join("snapshots")).unwrap();
    let seen = std::sync::Mutex::new(Vec::new());
    let progress = |p: Progress| seen.lock().unwrap().push(p);
    let cancel = AtomicBool::new(false);
    let watch = Watch {
        progress: &progress,
        cancel: &cancel,
    };
    let saved = repo.save(&home, "s1", alice(), watch).unwrap();
    assert_eq!(saved.skipped, 1, "the FIFO is skipped");
    assert_eq!(saved.totals.links, 2);
    let last = *seen.lock().unwrap().last().unwrap();
    assert_eq!(last.done, last.total);
    assert_eq!(last.total, saved.totals.bytes);

    let into = tmp.path().join("restored");
    let totals = repo
        .restore("s1", &saved.manifest, alice(), &into, watch)
        .unwrap();
    assert_eq!(totals, saved.totals);
    let mut want = describe(&home);
    want.retain(|line| !line.starts_with("fifo"));
    assert_eq!(describe(&into), want);
    // The root itself: a new private directory.
    assert_eq!(std::fs::metadata(&into).unwrap().mode() & 0o777, 0o700);
    // A second restore into the same place is refused: restores never merge.
    let again = repo
        .restore("s1", &saved.manifest, alice(), &into, watch)
        .unwrap_err();
    assert!(matches!(again, SnapshotError::Store { .. }), "{again}");
    make_writable(tmp.path());
}

#[test]
fn a_second_snapshot_after_a_small_change_stores_only_the_change() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    std::fs::create_dir(&home).unwrap();
    for i in 0..20 {
        std::fs::write(home.join(format!("file{i}")), noise(1_000_000, i + 10)).unwrap();
    }
    let repo = Repo::open(&tmp.path().join("snapshots")).unwrap();
    let q = quiet();
    let first = repo.save(&home, "a", alice(), watch!(q)).unwrap();
    assert!(first.added > 19_000_000, "{first:?}");
    std::fs::write(home.join("file3"), noise(1_000_000, 99)).unwrap();
    let second = repo.save(&home, "b", alice(), watch!(q)).unwrap();
    assert!(
        second.added < 2_000_000,
        "a 1 MB change added {} bytes",
        second.added
    );
    // Deleting the first keeps every chunk the second needs.
    let collected = repo.collect(&[("b".into(), second.manifest)]).unwrap();
    assert_eq!(collected.manifests, 1);
    assert!(collected.chunks >= 1, "{collected:?}");
    let out = tmp.path().join("out");
    repo.restore("b", &second.manifest, alice(), &out, watch!(q))
        .unwrap();
    assert_eq!(describe(&out), describe(&home));
}

#[test]
fn damage_is_found_and_names_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    std::fs::create_dir_all(home.join("docs")).unwrap();
    std::fs::write(home.join("docs/report.txt"), noise(100_000, 5)).unwrap();
    std::fs::write(home.join("fine.txt"), b"fine").unwrap();
    let root = tmp.path().join("snapshots");
    let repo = Repo::open(&root).unwrap();
    let q = quiet();
    let saved = repo.save(&home, "s", alice(), watch!(q)).unwrap();
    assert!(repo
        .verify("s", &saved.manifest, alice(), watch!(q))
        .unwrap()
        .damaged
        .is_empty());

    // Flip one byte of the report's chunk.
    let chunk = find_chunk_of(&root, &noise(100_000, 5));
    let mut bytes = std::fs::read(&chunk).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x40;
    std::fs::write(&chunk, bytes).unwrap();
    let into = tmp.path().join("restored");
    let err = repo
        .restore("s", &saved.manifest, alice(), &into, watch!(q))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("docs/report.txt") && err.contains("damaged"),
        "{err}"
    );
    assert!(!into.exists(), "a failed restore leaves nothing behind");
    let verified = repo
        .verify("s", &saved.manifest, alice(), watch!(q))
        .unwrap();
    assert_eq!(verified.damaged, ["docs/report.txt"]);

    // The check removed the damaged chunk: now it is missing.
    assert!(!chunk.exists());
    let err = repo
        .restore("s", &saved.manifest, alice(), &into, watch!(q))
        .unwrap_err()
        .to_string();
    assert!(err.contains("report.txt (a chunk is missing)"), "{err}");
    let mut wrong = saved.manifest;
    wrong[0] ^= 1;
    let err = repo
        .restore("s", &wrong, alice(), &into, watch!(q))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("manifest") && err.contains("not what was saved"),
        "{err}"
    );
}

/// The chunk file holding `data` (one chunk: small enough), of alice's.
fn find_chunk_of(root: &Path, data: &[u8]) -> PathBuf {
    let key = blake3::derive_key("agentdesk 2026-12 snapshot chunks of one owner", b"alice");
    let name = blake3::keyed_hash(&key, data).to_hex().to_string();
    root.join("chunks").join(&name[..2]).join(name)
}

#[test]
fn owners_never_share_chunks() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    std::fs::create_dir(&home).unwrap();
    std::fs::write(home.join("f"), noise(500_000, 3)).unwrap();
    let repo = Repo::open(&tmp.path().join("snapshots")).unwrap();
    let q = quiet();
    let first = repo.save(&home, "a", alice(), watch!(q)).unwrap();
    let again = repo.save(&home, "b", alice(), watch!(q)).unwrap();
    let other = repo
        .save(&home, "c", Keyspace::of("bob"), watch!(q))
        .unwrap();
    assert!(again.added < 10_000, "{again:?}");
    assert!(
        other.added > 400_000,
        "bob's save found alice's chunks: {other:?}"
    );
    // A snapshot read in another owner's keyspace does not check out.
    let into = tmp.path().join("into");
    assert!(repo
        .restore("c", &other.manifest, alice(), &into, watch!(q))
        .is_err());
    assert!(repo
        .restore("a", &first.manifest, alice(), &into, watch!(q))
        .is_ok());
}

#[test]
fn cancelling_leaves_nothing_behind() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    std::fs::create_dir(&home).unwrap();
    std::fs::write(home.join("f"), noise(3_000_000, 7)).unwrap();
    let repo = Repo::open(&tmp.path().join("snapshots")).unwrap();
    let q = quiet();
    let saved = repo.save(&home, "s", alice(), watch!(q)).unwrap();
    let cancel = AtomicBool::new(true);
    let cancelled = Watch {
        progress: &|_| {},
        cancel: &cancel,
    };
    let into = tmp.path().join("into");
    assert!(matches!(
        repo.restore("s", &saved.manifest, alice(), &into, cancelled),
        Err(SnapshotError::Cancelled)
    ));
    assert!(!into.exists());
    assert!(matches!(
        repo.save(&home, "t", alice(), cancelled),
        Err(SnapshotError::Cancelled)
    ));
}

#[test]
fn opening_beneath_refuses_every_way_out() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    std::fs::create_dir_all(home.join("sub")).unwrap();
    std::fs::write(tmp.path().join("secret"), b"s").unwrap();
    std::fs::write(home.join("sub/ok"), b"ok").unwrap();
    std::os::unix::fs::symlink("../../secret", home.join("sub/up")).unwrap();
    std::os::unix::fs::symlink(tmp.path(), home.join("abs")).unwrap();
    std::os::unix::fs::symlink("sub", home.join("inside")).unwrap();
    let root = rustix::fs::open(
        &home,
        rustix::fs::OFlags::DIRECTORY,
        rustix::fs::Mode::empty(),
    )
    .unwrap();
    let open = |p: &str| {
        open_beneath(
            &root,
            p.as_bytes(),
            rustix::fs::OFlags::RDONLY,
            rustix::fs::Mode::empty(),
        )
    };
    assert!(open("sub/ok").is_ok());
    for bad in [
        "sub/up",
        "abs/secret",
        "inside/ok",
        "../secret",
        "/etc/passwd",
        "sub/../sub/ok",
        "",
    ] {
        if bad.is_empty() {
            continue;
        }
        assert!(open(bad).is_err(), "{bad} was opened");
    }
}

fn make_writable(dir: &Path) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let meta = std::fs::symlink_metadata(entry.path()).unwrap();
        if meta.is_dir() {
            std::fs::set_permissions(entry.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
            make_writable(&entry.path());
        }
    }
}

#[test]
fn sparse_files_come_back_sparse_and_deep_or_unfinished_entries_are_skipped() {
    use std::os::unix::fs::MetadataExt as _;
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    std::fs::create_dir(&home).unwrap();
    // 256 MB of holes with a little data in the middle.
    let sparse = std::fs::File::create(home.join("disk.img")).unwrap();
    sparse.set_len(256 << 20).unwrap();
    {
        use std::io::{Seek as _, Write as _};
        let mut f = &sparse;
        f.seek(std::io::SeekFrom::Start(100 << 20)).unwrap();
        f.write_all(b"data in the middle").unwrap();
    }
    // Deeper than a restore could write by path, and an upload's unfinished file.
    let mut deep = home.clone();
    for _ in 0..1100 {
        deep.push("abcd");
    }
    std::fs::create_dir_all(&deep).unwrap_or_else(|_| {
        // Too long for one call: make it part by part.
        let mut dir = std::fs::File::open(&home).unwrap();
        for _ in 0..1100 {
            let d = rustix::fs::openat(
                &dir,
                "abcd",
                rustix::fs::OFlags::DIRECTORY,
                rustix::fs::Mode::empty(),
            )
            .or_else(|_| {
                rustix::fs::mkdirat(&dir, "abcd", rustix::fs::Mode::from_raw_mode(0o700))?;
                rustix::fs::openat(
                    &dir,
                    "abcd",
                    rustix::fs::OFlags::DIRECTORY,
                    rustix::fs::Mode::empty(),
                )
            })
            .unwrap();
            dir = std::fs::File::from(d);
        }
    });
    std::fs::write(home.join(".agentdesk-upload-0123456789abcdef"), b"half").unwrap();
    let repo = Repo::open(&tmp.path().join("snapshots")).unwrap();
    let q = quiet();
    let saved = repo.save(&home, "s", alice(), watch!(q)).unwrap();
    assert!(saved.added < 1_000_000, "{saved:?}");
    assert!(saved.skipped >= 2, "{saved:?}");
    let into = tmp.path().join("into");
    repo.restore("s", &saved.manifest, alice(), &into, watch!(q))
        .unwrap();
    let meta = std::fs::metadata(into.join("disk.img")).unwrap();
    assert_eq!(meta.len(), 256 << 20);
    assert!(
        meta.blocks() * 512 < 16 << 20,
        "{} bytes on disk",
        meta.blocks() * 512
    );
    let bytes = std::fs::read(into.join("disk.img")).unwrap();
    assert_eq!(&bytes[100 << 20..(100 << 20) + 18], b"data in the middle");
    assert!(!into.join(".agentdesk-upload-0123456789abcdef").exists());
    assert!(into.join("abcd/abcd").is_dir());
}

#[test]
fn a_check_removes_a_damaged_chunk_so_the_next_save_stores_it_again() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    std::fs::create_dir(&home).unwrap();
    let data = noise(50_000, 11);
    std::fs::write(home.join("doc.bin"), &data).unwrap();
    let root = tmp.path().join("snapshots");
    let repo = Repo::open(&root).unwrap();
    let q = quiet();
    let first = repo.save(&home, "a", alice(), watch!(q)).unwrap();
    std::fs::write(find_chunk_of(&root, &data), b"garbage").unwrap();
    let checked = repo
        .verify("a", &first.manifest, alice(), watch!(q))
        .unwrap();
    assert_eq!(checked.damaged, ["doc.bin"]);
    let second = repo.save(&home, "b", alice(), watch!(q)).unwrap();
    assert!(second.added > 40_000, "{second:?}");
    assert!(repo
        .verify("b", &second.manifest, alice(), watch!(q))
        .unwrap()
        .damaged
        .is_empty());
}

#[test]
fn a_file_with_many_names_comes_back_as_one_file_with_those_names() {
    use std::os::unix::fs::MetadataExt as _;
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    std::fs::create_dir_all(home.join("d")).unwrap();
    std::fs::write(home.join("original"), noise(2_000_000, 21)).unwrap();
    for i in 0..50 {
        std::fs::hard_link(home.join("original"), home.join(format!("d/name{i}"))).unwrap();
    }
    let repo = Repo::open(&tmp.path().join("snapshots")).unwrap();
    let q = quiet();
    let saved = repo.save(&home, "s", alice(), watch!(q)).unwrap();
    assert_eq!(saved.totals.files, 1, "{saved:?}");
    let into = tmp.path().join("into");
    repo.restore("s", &saved.manifest, alice(), &into, watch!(q))
        .unwrap();
    let first = std::fs::metadata(into.join("original")).unwrap();
    assert_eq!(first.nlink(), 51);
    for i in 0..50 {
        assert_eq!(
            std::fs::metadata(into.join(format!("d/name{i}")))
                .unwrap()
                .ino(),
            first.ino()
        );
    }
    assert_eq!(
        std::fs::read(into.join("d/name7")).unwrap(),
        noise(2_000_000, 21)
    );
}
