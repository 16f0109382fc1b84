//! Key schedule (`docs/FORMAT.md` §6): the data key, the keys derived from it with HKDF-SHA-256, the
//! header MAC, `body_digest`, `stanza_context` and key identifiers.
//!
//! Guarantees: the DEK and every derived key live in zeroizing memory and never print; the DEK is
//! only ever HKDF input; the header MAC is full-length HMAC-SHA-256 compared in constant time.

use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::format::{DEK_LEN, MAC_LEN, NONCE_PREFIX_LEN, SALT_LEN};

/// The 256-bit data encryption key of one encryption of a model (§6.1). No `Clone`, no printing.
pub struct DataKey(Zeroizing<[u8; DEK_LEN]>);

impl DataKey {
    /// Wraps 32 bytes (from the CSPRNG, or from an unwrap).
    pub fn from_bytes(bytes: [u8; DEK_LEN]) -> DataKey {
        DataKey(Zeroizing::new(bytes))
    }

    /// Takes an unwrapped key of any length; `None` unless it is exactly 32 bytes (§8.1).
    pub fn from_slice(bytes: &[u8]) -> Option<DataKey> {
        let mut k = Zeroizing::new([0u8; DEK_LEN]);
        if bytes.len() != DEK_LEN {
            return None;
        }
        k.copy_from_slice(bytes);
        Some(DataKey(k))
    }

    /// The raw key, for a key wrapper to wrap. Never log or store it.
    pub fn expose(&self) -> &[u8; DEK_LEN] {
        &self.0
    }

    /// `K_mac` (§6.2).
    pub(crate) fn mac_key(&self) -> Zeroizing<[u8; 32]> {
        let mut out = Zeroizing::new([0u8; 32]);
        expand(
            None,
            self.expose(),
            &[&lp(b"modelseal/v1/header-mac")],
            &mut out[..],
        );
        out
    }

    /// `K_file[p]` and `NP[p]` (§6.2) for the file at `path` with `salt`.
    pub fn file_keys(&self, path: &str, salt: &[u8; SALT_LEN]) -> FileKeys {
        let hk = Hkdf::<Sha256>::new(Some(salt), self.expose());
        let mut key = Zeroizing::new([0u8; 32]);
        let mut nonce_prefix = [0u8; NONCE_PREFIX_LEN];
        let p = lp(path.as_bytes());
        // Expanding 32 and 7 bytes from HKDF-SHA-256 cannot exceed its 8160-byte bound.
        let _ = hk.expand_multi_info(&[&lp(b"modelseal/v1/file-key"), &p], &mut key[..]);
        let _ = hk.expand_multi_info(&[&lp(b"modelseal/v1/file-nonce"), &p], &mut nonce_prefix);
        FileKeys { key, nonce_prefix }
    }

    /// `header_mac` over `prefix ‖ header_bytes` (§6.3).
    pub fn header_mac(&self, prefix_and_header: &[u8]) -> [u8; MAC_LEN] {
        self.mac(prefix_and_header).finalize().into_bytes().into()
    }

    /// Verifies `header_mac` in constant time (§6.3, §10 step 8).
    pub fn verify_header_mac(&self, prefix_and_header: &[u8], mac: &[u8]) -> bool {
        self.mac(prefix_and_header).verify_slice(mac).is_ok()
    }

    fn mac(&self, msg: &[u8]) -> Hmac<Sha256> {
        let key = self.mac_key();
        // HMAC accepts keys of any length.
        let mut m = <Hmac<Sha256> as Mac>::new_from_slice(&key[..])
            .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
        m.update(msg);
        m
    }
}

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DataKey(<redacted>)")
    }
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

/// `lp(x) = u32be(len(x)) ‖ x` (§1).
pub fn lp(x: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + x.len());
    // Every item passed here is bounded far below 4 GiB by §3.
    out.extend_from_slice(&(x.len() as u32).to_be_bytes());
    out.extend_from_slice(x);
    out
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

/// `stanza_context(type, key_id)` over `body_digest` (§6.4).
pub fn stanza_context(stanza_type: &str, key_id: &str, body_digest: &[u8; 32]) -> Vec<u8> {
    [
        lp(b"modelseal/v1/stanza"),
        lp(stanza_type.as_bytes()),
        lp(key_id.as_bytes()),
        lp(body_digest),
    ]
    .concat()
}

/// A hash-based key identifier (§6.5): `hex(SHA-256(lp("modelseal/v1/key-id/" ‖ type) ‖ material)[0..16])`.
pub fn key_id(stanza_type: &str, material: &[u8]) -> String {
    let label = format!("modelseal/v1/key-id/{stanza_type}");
    let mut h = Sha256::new();
    h.update(lp(label.as_bytes()));
    h.update(material);
    hex::encode(&h.finalize()[..16])
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

    #[test]
    fn unwrap_length_must_be_32() {
        assert!(DataKey::from_slice(&[0; 31]).is_none());
        assert!(DataKey::from_slice(&[0; 33]).is_none());
        assert!(DataKey::from_slice(&[0; 32]).is_some());
    }

    #[test]
    fn lp_prefixes_length() {
        assert_eq!(lp(b"modelseal/v1/file-key")[..4], [0, 0, 0, 0x15]);
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
        assert_eq!(key_id("aes256-kek", &[0x22; 32]), PY_KEY_ID);
    }
    const PY_FILE_KEY: &str = "bc5d3c51d2bdb87b0d5000e63c74408906c4e478c63642bcebfc2b6c603eb9da";
    const PY_NP: &str = "27e3c128f9a53f";
    const PY_MAC: &str = "1c4a74ceeca439e3153b6b165a7679bad54ad96da6259a1c779488d56ac992e2";
    const PY_KEY_ID: &str = "725f8144b1bca72d29f412046133a709";
}
