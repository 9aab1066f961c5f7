//! Arguments of the fleet tools (`desktop_create` ... `desktop_heartbeat`), which are also the
//! bodies of the REST API's requests.

use schemars::JsonSchema;
use serde::Deserialize;

use crate::lenient;

/// Whether a desktop's apps reach the network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum NetworkArg {
    /// As the server does.
    #[default]
    On,
    /// Loopback only.
    Off,
}

crate::lenient::string_enum!(NetworkArg { "on" => On, "off" => Off });

/// `desktop_create` arguments.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DesktopCreateArgs {
    /// Its id: 1 to 40 of a-z, 0-9 and '-', starting with a letter or digit. Omit to get a new
    /// random one.
    #[serde(default)]
    pub id: Option<String>,
    /// Screen size, "WIDTHxHEIGHT" (default: the server's).
    #[serde(default)]
    pub screen: Option<String>,
    /// "on" (default) or "off" (loopback only).
    #[serde(default)]
    pub network: Option<NetworkArg>,
    /// Only these apps (names as app_list shows them, or executables); default: all.
    #[serde(default)]
    pub apps: Vec<String>,
    /// Start with the home of this snapshot (its id, or a label only one of your snapshots
    /// has): a clone of the desktop it was taken of.
    #[serde(default)]
    pub from_snapshot: Option<String>,
}

/// Arguments naming one desktop.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DesktopIdArgs {
    /// The desktop's id (desktop_list shows them).
    pub id: String,
}

/// `desktop_destroy` arguments.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DesktopDestroyArgs {
    /// The desktop's id.
    pub id: String,
    /// Keep its home directory for the operator (moved aside on the server) instead of
    /// deleting it.
    #[serde(default, deserialize_with = "lenient::boolean")]
    pub keep_home: bool,
}

/// `desktop_acquire` arguments.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DesktopAcquireArgs {
    /// A desktop to lease; omit to get a free one (or a new one).
    #[serde(default)]
    pub id: Option<String>,
    /// How long the lease lasts unless renewed with desktop_heartbeat (default: the server's
    /// lease TTL, 600 s).
    #[serde(default, deserialize_with = "lenient::opt_int")]
    pub lease_seconds: Option<i64>,
}

/// Parses "WIDTHxHEIGHT" into (width, height), each 64 to 8192.
pub fn parse_screen(text: &str) -> Result<(u32, u32), String> {
    let (w, h) = text
        .split_once(['x', 'X'])
        .ok_or_else(|| format!("expected WIDTHxHEIGHT such as 1280x800, got {text:?}"))?;
    let parse = |v: &str| {
        v.trim()
            .parse::<u32>()
            .map_err(|_| format!("{v:?} is not a number of pixels"))
    };
    let (width, height) = (parse(w)?, parse(h)?);
    if !(64..=8192).contains(&width) || !(64..=8192).contains(&height) {
        return Err(format!(
            "{width}x{height} is out of range; each side must be 64 to 8192"
        ));
    }
    Ok((width, height))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn screens_parse_and_bad_ones_say_why() {
        assert_eq!(parse_screen("1280x800"), Ok((1280, 800)));
        assert_eq!(parse_screen("1024X768"), Ok((1024, 768)));
        assert!(parse_screen("1280").unwrap_err().contains("WIDTHxHEIGHT"));
        assert!(parse_screen("10x10").unwrap_err().contains("64 to 8192"));
        assert!(parse_screen("axb").unwrap_err().contains("not a number"));
    }

    #[test]
    fn arguments_are_lenient_like_the_other_tools() {
        let a: DesktopAcquireArgs =
            serde_json::from_value(serde_json::json!({"lease_seconds": "60"})).unwrap();
        assert_eq!(a.lease_seconds, Some(60));
        let d: DesktopDestroyArgs =
            serde_json::from_value(serde_json::json!({"id": "x", "keep_home": "true"})).unwrap();
        assert!(d.keep_home);
        let c: DesktopCreateArgs =
            serde_json::from_value(serde_json::json!({"network": "off"})).unwrap();
        assert_eq!(c.network, Some(NetworkArg::Off));
        assert!(
            serde_json::from_value::<DesktopIdArgs>(serde_json::json!({"id": "x", "y": 1}))
                .is_err()
        );
    }
}
