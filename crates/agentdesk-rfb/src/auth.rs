//! VncAuth (RFC 6143 §7.2.2): the server sends 16 random bytes; the client returns them
//! DES-encrypted (ECB, two blocks) with the password, truncated or zero-padded to 8 bytes, as
//! the key. VNC's DES reads each key byte's bits in reverse order, hence the bit reversal.

use des::cipher::{BlockEncrypt, KeyInit};

/// The response to `challenge` for `password`.
pub fn vnc_auth_response(password: &[u8], challenge: &[u8; 16]) -> [u8; 16] {
    let mut key = [0u8; 8];
    for (k, p) in key.iter_mut().zip(password) {
        *k = p.reverse_bits();
    }
    let cipher = des::Des::new(&key.into());
    let mut out = *challenge;
    for half in out.chunks_exact_mut(8) {
        let mut block = des::cipher::generic_array::GenericArray::clone_from_slice(half);
        cipher.encrypt_block(&mut block);
        half.copy_from_slice(&block);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_fixed_key_obfuscation_of_vncpasswd() {
        // vncpasswd's file format is the password DES-encrypted with the fixed key
        // {23,82,107,6,35,78,88,7}; encrypting the same 8 bytes with that "password" through
        // this function must give the same bytes `vncpasswd -f` writes for "secret12"
        // (agentdesk-display's vncpass test vector), twice over for the two halves.
        let fixed_key = [23u8, 82, 107, 6, 35, 78, 88, 7];
        let mut challenge = [0u8; 16];
        challenge[..8].copy_from_slice(b"secret12");
        challenge[8..].copy_from_slice(b"secret12");
        let out = vnc_auth_response(&fixed_key, &challenge);
        let hex: String = out[..8].iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, "24b5ae4ce15503c6");
        assert_eq!(out[..8], out[8..]);
    }

    #[test]
    fn only_the_first_eight_password_bytes_count() {
        let c = [7u8; 16];
        assert_eq!(
            vnc_auth_response(b"secret12", &c),
            vnc_auth_response(b"secret12-and", &c)
        );
        assert_ne!(
            vnc_auth_response(b"secret12", &c),
            vnc_auth_response(b"secret13", &c)
        );
    }
}
