//! Arguments of the snapshot tools (`snapshot_save` ... `snapshot_verify`) and the file tools
//! (`file_upload`, `file_download`, `file_list`); the snapshot ones are also the REST API's
//! request bodies.

use schemars::JsonSchema;
use serde::Deserialize;

use crate::lenient;

/// `snapshot_save` arguments.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SnapshotSaveArgs {
    /// The desktop whose home to save (default: the default desktop).
    #[serde(default)]
    pub desktop: Option<String>,
    /// A name for it, to restore it by (up to 100 characters), e.g. "logged-into-crm".
    #[serde(default)]
    pub label: Option<String>,
}

/// `snapshot_list` arguments.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SnapshotListArgs {
    /// Only the snapshots of this desktop (default: all of yours).
    #[serde(default)]
    pub desktop: Option<String>,
}

/// `snapshot_restore` arguments.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SnapshotRestoreArgs {
    /// The desktop whose home to replace (default: the default desktop).
    #[serde(default)]
    pub desktop: Option<String>,
    /// The snapshot: its id, or a label only one of your snapshots has.
    pub snapshot: String,
}

/// Arguments naming one snapshot (`snapshot_verify`).
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SnapshotArgs {
    /// The snapshot: its id, or a label only one of your snapshots has.
    pub snapshot: String,
}

/// `snapshot_delete` arguments.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SnapshotDeleteArgs {
    /// The snapshot: its id, or a label only one of your snapshots has.
    pub snapshot: String,
    /// Needed to delete your most recent (or only) snapshot of a desktop.
    #[serde(default, deserialize_with = "lenient::boolean")]
    pub force: bool,
}

/// `file_upload` arguments.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FileUploadArgs {
    /// The desktop (default: the default desktop).
    #[serde(default)]
    pub desktop: Option<String>,
    /// Where to write, relative to the desktop's home (e.g. "Documents/data.csv"); missing
    /// directories are made. An existing file is replaced.
    pub path: String,
    /// The contents as text (UTF-8). Give this or content_base64.
    #[serde(default)]
    pub text: Option<String>,
    /// The contents as base64. Give this or text.
    #[serde(default)]
    pub content_base64: Option<String>,
    /// Permission bits in octal, e.g. "644" (default) or "755".
    #[serde(default)]
    pub mode: Option<String>,
}

/// `file_download` and `file_list` arguments.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FilePathArgs {
    /// The desktop (default: the default desktop).
    #[serde(default)]
    pub desktop: Option<String>,
    /// A path relative to the desktop's home ("" or "." for the home itself).
    #[serde(default)]
    pub path: String,
}

/// Parses an octal permission mode ("644", "0755", "0o600").
pub fn parse_mode(text: &str) -> Result<u32, String> {
    let digits = text.trim();
    let digits = digits.strip_prefix("0o").unwrap_or(digits);
    match u32::from_str_radix(digits, 8) {
        Ok(mode) if mode <= 0o777 && !digits.is_empty() => Ok(mode),
        _ => Err(format!(
            "mode {text:?} is not a permission mode: give 3 octal digits such as \"644\" or \
             \"755\""
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_are_octal_permissions_only() {
        assert_eq!(parse_mode("644"), Ok(0o644));
        assert_eq!(parse_mode("0755"), Ok(0o755));
        assert_eq!(parse_mode("0o600"), Ok(0o600));
        for bad in ["", "4755", "9", "rwx", "-1"] {
            assert!(parse_mode(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn force_is_lenient_and_unknown_arguments_are_refused() {
        let d: SnapshotDeleteArgs =
            serde_json::from_value(serde_json::json!({"snapshot": "s", "force": "true"})).unwrap();
        assert!(d.force);
        assert!(serde_json::from_value::<SnapshotArgs>(
            serde_json::json!({"snapshot": "s", "x": 1})
        )
        .is_err());
    }
}
