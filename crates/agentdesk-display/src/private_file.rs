//! Writing the files agentdesk gives its children: the secret the X server reads (its
//! Xauthority cookie), created with mode 0600 so that only agentdesk's user can read it; and
//! configuration the desktop's apps must not change (the bus's, the window manager's), left
//! read-only (0400), so that an app running as agentdesk's user cannot save over it without
//! first changing its mode, which no editor or browser does. (Root ignores modes: see
//! SECURITY.md.)

use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::Path;

use crate::{Error, Result};

/// Writes `bytes` to `path` (created or truncated, mode 0600); errors name `what` and the path.
pub(crate) fn write_private(path: &Path, bytes: &[u8], what: &str) -> Result<()> {
    write_mode(path, bytes, what, 0o600)
}

/// Makes `dir` hold exactly `files` (name, contents), each read-only (0400), and leaves `dir`
/// read-only too (0500), so that no file can be added, replaced or removed there without first
/// changing a mode. Whatever `dir` held before is removed first (never followed if it is a
/// symlink). `what` names it in errors.
pub fn write_read_only_dir(dir: &Path, files: &[(&str, &[u8])], what: &str) -> Result<()> {
    use std::os::unix::fs::{DirBuilderExt as _, PermissionsExt as _};
    let context = |p: &Path| format!("{what} {}", p.display());
    match std::fs::symlink_metadata(dir) {
        Ok(meta) if meta.is_dir() => {
            // Ours to change back: the owner may always chmod.
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
                .and_then(|()| std::fs::remove_dir_all(dir))
                .map_err(|e| Error::io(context(dir), e))?;
        }
        Ok(_) => std::fs::remove_file(dir).map_err(|e| Error::io(context(dir), e))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(Error::io(context(dir), e)),
    }
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(dir)
        .map_err(|e| Error::io(context(dir), e))?;
    for (name, bytes) in files {
        write_mode(&dir.join(name), bytes, what, 0o400)?;
    }
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o500))
        .map_err(|e| Error::io(context(dir), e))
}

fn write_mode(path: &Path, bytes: &[u8], what: &str, mode: u32) -> Result<()> {
    let context = || format!("{what} {}", path.display());
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
        .open(path)
        .map_err(|e| Error::io(context(), e))?;
    file.write_all(bytes).map_err(|e| Error::io(context(), e))
}
