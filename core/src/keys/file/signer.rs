//! The file backend of [`Signer`]: a private key read from a PEM file, optionally with the
//! certificate chain that the certificate method embeds in the bundle.
//!
//! Guarantees: the key stays in memory only inside [`FileSigner`] (zeroized on drop), whose `Debug`
//! shows the path and algorithm, never key material; a leaf certificate is attached only if its
//! public key is the signing key's.

use super::load::{self, KeyMaterial};
use super::secret::PrivateKey;
use crate::keys::error::KeyError;
use crate::keys::keyref::KeyOptions;
use crate::keys::public::PublicKey;
use crate::keys::read::parse_err;
use crate::keys::signing::Signer;
use std::path::{Path, PathBuf};

/// A signer backed by a private key file.
pub(crate) struct FileSigner {
    path: PathBuf,
    key: PrivateKey,
    public: PublicKey,
    /// DER certificates, leaf first; empty for the key method.
    chain: Vec<Vec<u8>>,
}

impl std::fmt::Debug for FileSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileSigner")
            .field("path", &self.path)
            .field("algorithm", &self.public.algorithm().name())
            .field("certificates", &self.chain.len())
            .finish_non_exhaustive()
    }
}

impl FileSigner {
    /// Opens the private key in `path`.
    pub(crate) fn open(path: &Path, options: &KeyOptions) -> Result<FileSigner, KeyError> {
        let key = match load::load(path, options, true)? {
            KeyMaterial::Private(key) => key,
            KeyMaterial::Public(_) => {
                return Err(parse_err(
                    path,
                    "holds a public key or certificate; signing needs the private key",
                ))
            }
        };
        let public = key.public_key()?;
        Ok(FileSigner {
            path: path.to_path_buf(),
            key,
            public,
            chain: Vec::new(),
        })
    }

    /// Attaches the leaf certificate in `leaf` (exactly one certificate, whose public key must be
    /// this signer's) and the certificates of every file in `chain` (one or more each), in order.
    pub(crate) fn with_certificates(
        mut self,
        leaf: &Path,
        chain: &[PathBuf],
    ) -> Result<FileSigner, KeyError> {
        let key = self.path.display().to_string();
        self.chain =
            crate::keys::certificate::certificate_chain_for(&self.public, &key, leaf, chain)?;
        Ok(self)
    }
}

impl Signer for FileSigner {
    fn public_key(&self) -> &PublicKey {
        &self.public
    }
    fn certificate_chain(&self) -> &[Vec<u8>] {
        &self.chain
    }
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, KeyError> {
        self.key.sign(message)
    }
    fn key_id(&self) -> String {
        format!("file:{}", self.path.display())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_shows_path_and_algorithm_only() {
        let scalar = [0x5au8; 32];
        let key = PrivateKey::P256(p256::ecdsa::SigningKey::from_slice(&scalar).unwrap());
        let public = key.public_key().unwrap();
        let signer = FileSigner {
            path: "k.pem".into(),
            key,
            public,
            chain: vec![vec![1, 2, 3]],
        };
        let debug = format!("{signer:?}");
        assert_eq!(
            debug,
            r#"FileSigner { path: "k.pem", algorithm: "ec-p256", certificates: 1, .. }"#
        );
        assert!(!debug.contains(&hex::encode(scalar)));
        let boxed: Box<dyn Signer> = Box::new(signer);
        assert_eq!(format!("{boxed:?}"), "Signer(file:k.pem, ec-p256)");
    }
}
