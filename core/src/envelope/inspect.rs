//! What an encrypted model says about itself without a key (`docs/FORMAT.md` §13): format
//! version, layout, model name, chunk size, files and sizes, body digest, and each recipient's
//! type and `key_id`.
//!
//! Guarantees: runs §10 steps 1–5 only (parse with every limit, no key), so everything it returns
//! is **unauthenticated**; it never returns a wrapped key, nonce, `enc` or any secret.

use std::io::Read;
use std::path::{Path, PathBuf};

use super::authenticate::read_envelope;
use super::format::{Layout, ParamValue, ENVELOPE_NAME, MAGIC, VERSION};
use super::keyschedule::body_digest;
use super::SealError;

/// One recipient stanza as `inspect` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecipientInfo {
    /// Stanza type, e.g. `x25519-hpke`.
    pub stanza_type: String,
    /// The key identifier (§6.5): what `rewrap --remove-recipient` takes.
    pub key_id: String,
    /// The stanza's text parameters (the OAEP hash, a KMS or PKCS#11 algorithm); never byte
    /// strings such as nonces or ephemeral keys.
    pub params: Vec<String>,
}

/// The unauthenticated description of an encrypted model.
#[derive(Debug, Clone)]
pub struct EncryptedSummary {
    /// The file holding the envelope (`E/modelseal.envelope`, or the single file).
    pub envelope_path: PathBuf,
    /// Format version (1).
    pub version: u16,
    /// Directory or single-file layout.
    pub layout: Layout,
    /// The body's model name.
    pub model_name: String,
    /// Plaintext bytes per chunk.
    pub chunk_size: u32,
    /// `SHA-256(body_bytes)`.
    pub body_digest: [u8; 32],
    /// `(path, plaintext size)` of every file, in body order (`"."` for a single file).
    pub files: Vec<(String, u64)>,
    /// The recipients, in header order.
    pub recipients: Vec<RecipientInfo>,
}

impl EncryptedSummary {
    /// Total plaintext bytes.
    pub fn total_bytes(&self) -> u64 {
        self.files.iter().map(|f| f.1).sum()
    }
}

/// Whether `path` looks like an encrypted model: a directory holding `modelseal.envelope`, or a
/// file that starts with the format's magic bytes (§3). Cheap; proves nothing.
pub fn is_encrypted(path: &Path) -> bool {
    #[cfg(feature = "storage")]
    if let Some(url) = crate::location::Location::object(path) {
        return super::remote::is_encrypted(&url);
    }
    let Ok(meta) = path.symlink_metadata() else {
        return false;
    };
    if meta.is_dir() {
        return path.join(ENVELOPE_NAME).symlink_metadata().is_ok();
    }
    if !meta.is_file() {
        return false;
    }
    let mut head = [0u8; MAGIC.len()];
    crate::fs::open_nofollow(path)
        .and_then(|mut f| f.read_exact(&mut head))
        .map(|_| head == MAGIC)
        .unwrap_or(false)
}

/// Parses the envelope of `encrypted` under every limit and describes it (§13).
pub fn inspect_encrypted(encrypted: &Path) -> Result<EncryptedSummary, SealError> {
    let raw = read_envelope(encrypted)?;
    let body = &raw.header.body;
    Ok(EncryptedSummary {
        envelope_path: raw.envelope_path.clone(),
        version: VERSION,
        layout: body.layout,
        model_name: body.model_name.clone(),
        chunk_size: body.chunk_size,
        body_digest: body_digest(&raw.header.body_bytes),
        files: body
            .files
            .iter()
            .map(|f| (f.path.clone(), f.size))
            .collect(),
        recipients: raw
            .header
            .stanzas
            .iter()
            .map(|s| RecipientInfo {
                stanza_type: s.stanza_type.clone(),
                key_id: s.key_id.clone(),
                params: s
                    .params
                    .values()
                    .filter_map(|v| match v {
                        ParamValue::Text(t) => Some(t.clone()),
                        _ => None,
                    })
                    .collect(),
            })
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::envelope::{encrypt, plaintext_from_path, EncryptOptions};
    use crate::keys::file::kek::KekWrapper;
    use crate::keys::StanzaKey;

    #[test]
    fn describes_without_secrets() {
        let dir = tempfile::tempdir().unwrap();
        let model = dir.path().join("m");
        std::fs::create_dir_all(model.join("sub")).unwrap();
        std::fs::write(model.join("a.bin"), vec![1u8; 5000]).unwrap();
        std::fs::write(model.join("sub/b.txt"), b"hi").unwrap();
        let kek = KekWrapper::from_bytes([3; 32]);
        let enc = dir.path().join("enc");
        let opts = EncryptOptions {
            chunk_size: 4096,
            ..EncryptOptions::default()
        };
        encrypt(&plaintext_from_path(&model).unwrap(), &[&kek], &enc, &opts).unwrap();
        assert!(is_encrypted(&enc));
        assert!(!is_encrypted(&model));
        assert!(!is_encrypted(&model.join("a.bin")));
        let s = inspect_encrypted(&enc).unwrap();
        assert_eq!(s.layout, Layout::Directory);
        assert_eq!(s.model_name, "m");
        assert_eq!(s.chunk_size, 4096);
        assert_eq!(
            s.files,
            vec![("a.bin".to_string(), 5000), ("sub/b.txt".to_string(), 2)]
        );
        assert_eq!(s.total_bytes(), 5002);
        assert_eq!(s.recipients.len(), 1);
        assert_eq!(s.recipients[0].stanza_type, "aes256-kek");
        assert_eq!(s.recipients[0].key_id, kek.key_id());
        assert!(s.recipients[0].params.is_empty(), "the nonce is not shown");
    }
}
