//! The VncAuth password file Xvnc reads (`-PasswordFile`), written without `vncpasswd`.
//!
//! The format is fixed by VNC history: the password, truncated or zero-padded to 8 bytes,
//! DES-encrypted with a well-known key. It is obfuscation, not protection; the file's
//! permissions (0600, in a private runtime directory) are what keep it secret.

use std::path::Path;

use des::cipher::{BlockEncrypt, KeyInit};

use crate::Result;

/// VNC's fixed obfuscation key {23,82,107,6,35,78,88,7}, with each byte's bits reversed because
/// VNC's DES implementation reads key bits in the opposite order to standard DES.
const VNC_FIXED_KEY: [u8; 8] = [0xe8, 0x4a, 0xd6, 0x60, 0xc4, 0x72, 0x1a, 0xe0];

/// The 8 bytes Xvnc expects in a password file for `password`.
pub(crate) fn obfuscate(password: &str) -> [u8; 8] {
    let mut block = [0u8; 8];
    for (dst, src) in block.iter_mut().zip(password.bytes()) {
        *dst = src;
    }
    let cipher = des::Des::new(&VNC_FIXED_KEY.into());
    let mut b = block.into();
    cipher.encrypt_block(&mut b);
    b.into()
}

/// Writes a password file readable only by us. Only the first 8 bytes of a password matter to
/// VncAuth.
pub fn write_vnc_password_file(path: &Path, password: &str) -> Result<()> {
    crate::private_file::write_private(path, &obfuscate(password), "the RFB password file")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_what_vncpasswd_writes() {
        // `printf 'secret12\n' | vncpasswd -f | xxd -p` with TigerVNC 1.12.
        assert_eq!(hex(&obfuscate("secret12")), VNCPASSWD_SECRET12);
    }

    #[test]
    fn only_the_first_eight_bytes_count() {
        assert_eq!(obfuscate("secret12"), obfuscate("secret12-and-more"));
    }

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    const VNCPASSWD_SECRET12: &str = "24b5ae4ce15503c6";
}
