//! The bounded log file that keeps a launched app's stdout/stderr, and reading its tail back.
//!
//! An app left running for days must not fill the disk, yet the newest output is what an
//! agent needs when a launch fails. So the file holds at most `max_bytes`: when it would
//! overflow, it is rewritten with only its newest half, behind a marker line.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// The first line of a log whose older output was dropped.
const DROPPED_MARKER: &[u8] = b"[... older output dropped ...]\n";

/// An append-only log file that never grows beyond a byte bound.
#[derive(Debug)]
pub struct BoundedLog {
    path: PathBuf,
    file: File,
    /// Bytes currently in the file, as written by us.
    len: u64,
    max_bytes: u64,
}

impl BoundedLog {
    /// Creates (or truncates) the log file at `path`, to hold at most `max_bytes` bytes.
    pub fn create(path: &Path, max_bytes: u64) -> io::Result<BoundedLog> {
        let file = open_for_append(path, true)?;
        Ok(BoundedLog {
            path: path.to_path_buf(),
            file,
            len: 0,
            max_bytes,
        })
    }

    /// The file this log writes.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// How many bytes the file holds now; never more than the bound given to
    /// [`create`](Self::create).
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether nothing has been written (or kept) yet.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Appends `bytes`. If the file would exceed its bound, it is replaced by the marker line
    /// `[... older output dropped ...]` followed by the newest bytes (about half the bound),
    /// starting after a newline when the kept part contains one, so no line is cut in half.
    pub fn append(&mut self, bytes: &[u8]) -> io::Result<()> {
        if bytes.is_empty() {
            return Ok(());
        }
        let new_len = self.len.saturating_add(bytes.len() as u64);
        if new_len <= self.max_bytes {
            self.file.write_all(bytes)?;
            self.len = new_len;
            return Ok(());
        }
        self.rewrite_with_tail(bytes)
    }

    /// Replaces the file by marker + newest bytes of (current content ++ `bytes`).
    fn rewrite_with_tail(&mut self, bytes: &[u8]) -> io::Result<()> {
        let max = usize::try_from(self.max_bytes).unwrap_or(usize::MAX);
        // A bound too small for the marker keeps raw bytes only: the bound wins.
        let marker: &[u8] = if max >= 2 * DROPPED_MARKER.len() {
            DROPPED_MARKER
        } else {
            b""
        };
        let keep = (max / 2).min(max - marker.len());

        // The newest `keep` bytes: from the new chunk alone if it is big enough, else the
        // tail of the file followed by the whole chunk. Only that much of the file is read.
        let mut tail = Vec::with_capacity(keep);
        if bytes.len() < keep {
            let from_file = (keep - bytes.len()) as u64;
            let from_file = from_file.min(self.len);
            self.file.seek(SeekFrom::Start(self.len - from_file))?;
            (&mut self.file).take(from_file).read_to_end(&mut tail)?;
            tail.extend_from_slice(bytes);
        } else {
            tail.extend_from_slice(&bytes[bytes.len() - keep..]);
        }
        // Start at a line boundary, unless that would drop everything we kept.
        if let Some(newline) = tail.iter().position(|&b| b == b'\n') {
            if newline + 1 < tail.len() {
                tail.drain(..=newline);
            }
        }

        // Write the new content beside the log and rename it over: a concurrent reader
        // (`tail_lines`) sees either the old or the new file, never a half-written one.
        let tmp_path = sibling_tmp_path(&self.path);
        let mut tmp = open_for_append(&tmp_path, true)?;
        let written = tmp
            .write_all(marker)
            .and_then(|()| tmp.write_all(&tail))
            .and_then(|()| fs::rename(&tmp_path, &self.path));
        if let Err(err) = written {
            let _ = fs::remove_file(&tmp_path);
            return Err(err);
        }
        // The renamed file is the log now; our old handle points at the unlinked inode.
        self.file = tmp;
        self.len = (marker.len() + tail.len()) as u64;
        Ok(())
    }
}

/// Opens `path` for appending (and reading back its tail), creating it with mode 0600: logs
/// hold what apps print (pages visited, file names), which is agentdesk's user's alone.
fn open_for_append(path: &Path, truncate: bool) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt as _;
    let file = OpenOptions::new()
        .read(true)
        .append(true)
        .create(true)
        .mode(0o600)
        .open(path)?;
    if truncate {
        // O_APPEND and O_TRUNC cannot be combined through OpenOptions; truncate explicitly.
        file.set_len(0)?;
    }
    Ok(file)
}

/// `<name>.tmp` next to `path`, on the same file system so that rename is atomic.
fn sibling_tmp_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".tmp");
    path.with_file_name(name)
}

/// The last `lines` lines of the file at `path`, joined with `\n`, reading at most its last
/// `max_bytes` bytes.
///
/// A final newline does not count as an empty last line, `\r\n` endings are accepted, and
/// invalid UTF-8 is replaced. When the read starts mid-file, the first (probably partial)
/// line is dropped if a complete one follows. `lines == 0` gives an empty string.
pub fn tail_lines(path: &Path, lines: usize, max_bytes: usize) -> io::Result<String> {
    if lines == 0 {
        return Ok(String::new());
    }
    let mut file = File::open(path)?;
    let len = file.metadata()?.len();
    let start = len.saturating_sub(max_bytes as u64);
    file.seek(SeekFrom::Start(start))?;
    let mut bytes = Vec::new();
    // `take` guards against the file growing between metadata() and the read.
    file.take(max_bytes as u64).read_to_end(&mut bytes)?;

    let mut text: &[u8] = &bytes;
    if start > 0 {
        if let Some(newline) = text.iter().position(|&b| b == b'\n') {
            if newline + 1 < text.len() {
                text = &text[newline + 1..];
            }
        }
    }
    let text = String::from_utf8_lossy(text);
    let text = text.strip_suffix('\n').unwrap_or(&text);
    if text.is_empty() {
        return Ok(String::new());
    }
    let all: Vec<&str> = text
        .split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .collect();
    Ok(all[all.len().saturating_sub(lines)..].join("\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    use tempfile::TempDir;

    fn read(path: &Path) -> String {
        String::from_utf8(fs::read(path).unwrap()).unwrap()
    }

    #[test]
    fn small_appends_are_kept_verbatim() {
        let dir = TempDir::new().unwrap();
        let path = dir.path().join("app.log");
        let mut log = BoundedLog::create(&path, 1000).unwrap();
        assert!(log.is_empty());
        log.append(b"hello\n").unwrap();
        log.append(b"").unwrap();
        log.append(b"world\n").unwrap();
        assert_eq!(read(&path), "hello\nworld\n");
        assert_eq!(log.len(), 12);
        assert_eq!(log.path(), path);
    }

    #[test]
    fn logs_are_private() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = TempDir::new().unwrap();
        let path = dir.path().join("app.log");
        let mut log = BoundedLog::create(&path, 64).unwrap();
        log.append(&[b'x'; 100]).unwrap(); // rewritten through a temporary file
        let mode = fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn create_truncates_an_old_log() {
        let dir = TempDir::new().unwrap();
        let path = dir.path().join("app.log");
        fs::write(&path, "old run\n").unwrap();
        let mut log = BoundedLog::create(&path, 100).unwrap();
        log.append(b"new\n").unwrap();
        assert_eq!(read(&path), "new\n");
    }

    #[test]
    fn never_exceeds_bound_and_keeps_newest_lines() {
        let dir = TempDir::new().unwrap();
        let path = dir.path().join("app.log");
        let max = 1024;
        let mut log = BoundedLog::create(&path, max).unwrap();
        let mut rotated = false;
        for i in 0..2000 {
            log.append(format!("line {i}\n").as_bytes()).unwrap();
            let size = fs::metadata(&path).unwrap().len();
            assert!(size <= max, "size {size} after line {i}");
            assert_eq!(size, log.len());
            rotated |= read(&path).starts_with("[... older output dropped ...]\n");
        }
        assert!(rotated);
        let content = read(&path);
        assert!(
            content.starts_with("[... older output dropped ...]\nline "),
            "{content}"
        );
        assert!(content.ends_with("line 1999\n"), "{content}");
        // Whole lines only, consecutive up to the newest.
        let numbers: Vec<u32> = content
            .lines()
            .skip(1)
            .map(|l| l.strip_prefix("line ").unwrap().parse().unwrap())
            .collect();
        assert!(numbers.windows(2).all(|w| w[1] == w[0] + 1), "{numbers:?}");
        assert!(!dir.path().join("app.log.tmp").exists());
    }

    #[test]
    fn huge_chunk_keeps_its_own_tail() {
        let dir = TempDir::new().unwrap();
        let path = dir.path().join("app.log");
        let mut log = BoundedLog::create(&path, 200).unwrap();
        log.append(b"before\n").unwrap();
        let chunk: String = (0..100).map(|i| format!("{i:03}\n")).collect();
        log.append(chunk.as_bytes()).unwrap();
        let content = read(&path);
        assert!(content.len() <= 200);
        assert!(!content.contains("before"));
        assert!(content.ends_with("098\n099\n"), "{content}");
        let body = content
            .strip_prefix("[... older output dropped ...]\n")
            .unwrap();
        assert!(body.starts_with(|c: char| c.is_ascii_digit()), "{body}");
        assert_eq!(body.len() % 4, 0, "cut at a line boundary: {body:?}");
    }

    #[test]
    fn output_without_newlines_is_still_bounded() {
        let dir = TempDir::new().unwrap();
        let path = dir.path().join("app.log");
        let mut log = BoundedLog::create(&path, 100).unwrap();
        for _ in 0..50 {
            log.append(b"0123456789").unwrap();
            assert!(fs::metadata(&path).unwrap().len() <= 100);
        }
        let content = read(&path);
        assert!(content.starts_with("[... older output dropped ...]\n"));
        assert!(content.ends_with("0123456789"));
    }

    #[test]
    fn tiny_bounds_are_respected() {
        let dir = TempDir::new().unwrap();
        let path = dir.path().join("app.log");
        for max in [0, 1, 5, 40, 70] {
            let mut log = BoundedLog::create(&path, max).unwrap();
            for i in 0..20 {
                log.append(format!("chunk {i}\n").as_bytes()).unwrap();
                assert!(fs::metadata(&path).unwrap().len() <= max, "max {max}");
            }
        }
    }

    #[test]
    fn tail_lines_returns_last_lines() {
        let dir = TempDir::new().unwrap();
        let path = dir.path().join("app.log");
        fs::write(&path, "one\ntwo\nthree\nfour\n").unwrap();
        assert_eq!(tail_lines(&path, 2, 1000).unwrap(), "three\nfour");
        assert_eq!(
            tail_lines(&path, 10, 1000).unwrap(),
            "one\ntwo\nthree\nfour"
        );
        assert_eq!(tail_lines(&path, 0, 1000).unwrap(), "");
        // No trailing newline: the last line is still whole.
        fs::write(&path, "one\r\ntwo\r\nthree").unwrap();
        assert_eq!(tail_lines(&path, 2, 1000).unwrap(), "two\nthree");
        // Blank lines inside the output are lines too.
        fs::write(&path, "a\n\nb\n").unwrap();
        assert_eq!(tail_lines(&path, 2, 1000).unwrap(), "\nb");
    }

    #[test]
    fn tail_lines_reads_a_bounded_window() {
        let dir = TempDir::new().unwrap();
        let path = dir.path().join("app.log");
        fs::write(&path, "first line\nsecond\nthird\n").unwrap();
        // The last 10 bytes are "ond\nthird\n": the partial "ond" is dropped.
        assert_eq!(tail_lines(&path, 5, 10).unwrap(), "third");
        // A window without any complete line still returns what it has.
        assert_eq!(tail_lines(&path, 5, 4).unwrap(), "ird");
    }

    #[test]
    fn tail_lines_of_empty_and_missing_files() {
        let dir = TempDir::new().unwrap();
        let path = dir.path().join("app.log");
        fs::write(&path, "").unwrap();
        assert_eq!(tail_lines(&path, 3, 100).unwrap(), "");
        fs::write(&path, "\n").unwrap();
        assert_eq!(tail_lines(&path, 3, 100).unwrap(), "");
        let missing = dir.path().join("missing.log");
        assert_eq!(
            tail_lines(&missing, 3, 100).unwrap_err().kind(),
            io::ErrorKind::NotFound
        );
    }

    #[test]
    fn tail_lines_replaces_invalid_utf8() {
        let dir = TempDir::new().unwrap();
        let path = dir.path().join("app.log");
        fs::write(&path, b"ok\nbad \xff byte\n").unwrap();
        assert_eq!(tail_lines(&path, 1, 100).unwrap(), "bad \u{fffd} byte");
    }
}
