//! Writing the secret the X server reads (its Xauthority cookie): a file created with mode 0600,
//! so that only agentdesk's user can read it.

use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::Path;

use crate::{Error, Result};

/// Writes `bytes` to `path` (created or truncated, mode 0600); errors name `what` and the path.
pub(crate) fn write_private(path: &Path, bytes: &[u8], what: &str) -> Result<()> {
    let context = || format!("{what} {}", path.display());
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| Error::io(context(), e))?;
    file.write_all(bytes).map_err(|e| Error::io(context(), e))
}
