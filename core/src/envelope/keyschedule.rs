//! Key schedule (`docs/FORMAT.md` §6): the keys derived from the data key with HKDF-SHA-256, the
//! header MAC and `body_digest`. The data key itself, `stanza_context` and key identifiers belong
//! to the key seam (`keys::wrapping`), which both the format and the keys use.
//!
//! Guarantees: the DEK and every derived key live in zeroizing memory and never print; the DEK is
//! only ever HKDF input; the header MAC is full-length HMAC-SHA-256 compared in constant time.

use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::format::{MAC_LEN, NONCE_PREFIX_LEN, SALT_LEN};
use crate::keys::wrapping::{lp, DataKey};

/// The key schedule of §6 on a [`DataKey`]: `K_mac`, `K_file[p]`/`NP[p]` and the header MAC. An
/// extension trait so that the data key's type stays with the key seam (`keys::wrapping`) while
/// its derivations stay with the format.
pub trait KeySchedule {
    /// `K_file[p]` and `NP[p]` (§6.2) for the file at `path` with `salt`.
    fn file_keys(&self, path: &str, salt: &[u8; SALT_LEN]) -> FileKeys;
    /// `header_mac` over `prefix ‖ header_bytes` (§6.3).
    fn header_mac(&self, prefix_and_header: &[u8]) -> [u8; MAC_LEN];
    /// Verifies `header_mac` in constant time (§6.3, §10 step 8).
    fn verify_header_mac(&self, prefix_and_header: &[u8], mac: &[u8]) -> bool;
}

impl KeySchedule for DataKey {
    fn file_keys(&self, path: &str, salt: &[u8; SALT_LEN]) -> FileKeys {
        let hk = Hkdf::<Sha256>::new(Some(salt), self.expose());
        let mut key = Zeroizing::new([0u8; 32]);
        let mut nonce_prefix = [0u8; NONCE_PREFIX_LEN];
        let p = lp(path.as_bytes());
        // Expanding 32 and 7 bytes from HKDF-SHA-256 cannot exceed its 8160-byte bound.
        let _ = hk.expand_multi_info(&[&lp(b"modelseal/v1/file-key"), &p], &mut key[..]);
        let _ = hk.expand_multi_info(&[&lp(b"modelseal/v1/file-nonce"), &p], &mut nonce_prefix);
        FileKeys { key, nonce_prefix }
    }

    fn header_mac(&self, prefix_and_header: &[u8]) -> [u8; MAC_LEN] {
        mac(self, prefix_and_header).finalize().into_bytes().into()
    }

    fn verify_header_mac(&self, prefix_and_header: &[u8], mac_bytes: &[u8]) -> bool {
        mac(self, prefix_and_header).verify_slice(mac_bytes).is_ok()
    }
}

/// `K_mac` (§6.2).
pub(crate) fn mac_key(dek: &DataKey) -> Zeroizing<[u8; 32]> {
    let mut out = Zeroizing::new([0u8; 32]);
    expand(
        None,
        dek.expose(),
        &[&lp(b"modelseal/v1/header-mac")],
        &mut out[..],
    );
    out
}

fn mac(dek: &DataKey, msg: &[u8]) -> Hmac<Sha256> {
    let key = mac_key(dek);
    // HMAC accepts keys of any length.
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(&key[..])
        .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
    m.update(msg);
    m
}

/// The per-file key and nonce prefix (§6.2).
pub struct FileKeys {
    /// `K_file[p]`.
    pub key: Zeroizing<[u8; 32]>,
    /// `NP[p]`.
    pub nonce_prefix: [u8; NONCE_PREFIX_LEN],
}

impl std::fmt::Debug for FileKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FileKeys(<redacted>)")
    }
}

fn expand(salt: Option<&[u8]>, ikm: &[u8], info: &[&[u8]], out: &mut [u8]) {
    let hk = Hkdf::<Sha256>::new(salt, ikm);
    // Output lengths used here (≤ 32) are far below HKDF-SHA-256's bound.
    let _ = hk.expand_multi_info(info, out);
}

/// `body_digest = SHA-256(body_bytes)` (§6.4).
pub fn body_digest(body_bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(body_bytes).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_is_redacted() {
        let k = DataKey::from_bytes([0x42; 32]);
        assert_eq!(format!("{k:?}"), "DataKey(<redacted>)");
        let fk = k.file_keys(".", &[0; 32]);
        assert_eq!(format!("{fk:?}"), "FileKeys(<redacted>)");
    }

    // Expected values computed independently with Python `cryptography` 50 (HKDF, HMAC) and
    // hashlib, from the definitions of FORMAT.md §6 — see the test body for the inputs.
    #[test]
    fn derivations_match_python_cryptography() {
        let k = DataKey::from_bytes(core::array::from_fn(|i| i as u8));
        let fk = k.file_keys("a/b", &[0x11; 32]);
        assert_eq!(hex::encode(*fk.key), PY_FILE_KEY);
        assert_eq!(hex::encode(fk.nonce_prefix), PY_NP);
        assert_eq!(hex::encode(k.header_mac(b"hello")), PY_MAC);
        assert!(k.verify_header_mac(b"hello", &k.header_mac(b"hello")));
        assert!(!k.verify_header_mac(b"hellp", &k.header_mac(b"hello")));
        assert!(!k.verify_header_mac(b"hello", &k.header_mac(b"hello")[..31]));
        assert_eq!(
            crate::keys::wrapping::key_id("aes256-kek", &[0x22; 32]),
            PY_KEY_ID
        );
    }
    const PY_FILE_KEY: &str = "bc5d3c51d2bdb87b0d5000e63c74408906c4e478c63642bcebfc2b6c603eb9da";
    const PY_NP: &str = "27e3c128f9a53f";
    const PY_MAC: &str = "1c4a74ceeca439e3153b6b165a7679bad54ad96da6259a1c779488d56ac992e2";
    const PY_KEY_ID: &str = "725f8144b1bca72d29f412046133a709";
}
