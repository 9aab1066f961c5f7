//! The X server's access control: an MIT-MAGIC-COOKIE-1 in an Xauthority file.
//!
//! Without `-auth`, an X server lets every local user connect to its socket, and any client of
//! a display can read the screen, inject input and read the clipboard — bypassing the tokens
//! that guard MCP. With it, only processes that hold the cookie get in: agentdesk itself and
//! the desktop's own apps (their XAUTHORITY names the file, in the runtime directory, 0700).
//!
//! The file has one entry of family FamilyWild (matches any host) with an empty display
//! number (matches any display), because the display number is only known once the server has
//! started (`-displayfd`). The server itself ignores family and address when it loads the
//! file. Layout per entry (libXau's format): u16 family, then four u16-length-prefixed byte
//! strings (address, display number, auth name, auth data), all big-endian.

use std::path::Path;

use crate::Result;

/// The authorization protocol name.
pub const COOKIE_NAME: &str = "MIT-MAGIC-COOKIE-1";
/// libXau's FamilyWild.
const FAMILY_WILD: u16 = 0xffff;

fn entry(cookie: &[u8; 16]) -> Vec<u8> {
    let mut out = FAMILY_WILD.to_be_bytes().to_vec();
    for field in [&b""[..], &b""[..], COOKIE_NAME.as_bytes(), &cookie[..]] {
        // Every field here is at most 18 bytes.
        out.extend_from_slice(&(field.len() as u16).to_be_bytes());
        out.extend_from_slice(field);
    }
    out
}

/// Writes an Xauthority file holding `cookie`, readable only by us.
pub fn write_xauthority(path: &Path, cookie: &[u8; 16]) -> Result<()> {
    crate::private_file::write_private(path, &entry(cookie), "the Xauthority file")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_wildcard_entry_in_libxau_layout() {
        let cookie = [0xab; 16];
        let bytes = entry(&cookie);
        let mut expected = vec![0xff, 0xff, 0, 0, 0, 0, 0, 18];
        expected.extend_from_slice(b"MIT-MAGIC-COOKIE-1");
        expected.extend_from_slice(&[0, 16]);
        expected.extend_from_slice(&cookie);
        assert_eq!(bytes, expected);
    }
}
